//! The head-office API's messages (version 1), shared by the till that
//! sends them and the head office that answers, so both sides read the
//! same definition. JSON over HTTP; every path starts with `/api/v1/`.
//!
//! | method and path | auth | body | answer |
//! |---|---|---|---|
//! | `POST /api/v1/enrol` | none | [`EnrolRequest`] | [`Enrolment`], 403 for a code that is unknown, used or expired |
//! | `GET /api/v1/journal/head` | till | | [`JournalHead`]: what head office holds of this till |
//! | `POST /api/v1/journal` | till | [`JournalBatch`] | [`IngestReport`]; 409 when an entry was refused (the report says which and why) |
//!
//! "till" auth: `Authorization: Bearer <credential>`, the credential the
//! enrolment gave; 401 when it is missing, unknown or revoked. Errors carry
//! [`ApiError`].

use serde::{Deserialize, Serialize};

use crate::journal::Entry;

/// The API version in every path.
pub const API_VERSION: &str = "v1";

/// How many journal entries one batch may carry.
pub const MAX_BATCH: usize = 500;

/// A till's one-time enrolment code, as head office handed it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolRequest {
    pub code: String,
}

/// What enrolment gives the till: who it is at head office and the
/// credential it authenticates with from now on (kept sealed).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolment {
    pub shop: String,
    pub till: String,
    pub credential: String,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrolment")
            .field("shop", &self.shop)
            .field("till", &self.till)
            .field("credential", &"<redacted>")
            .finish()
    }
}

/// The last entry head office holds of a till's journal (0 and the
/// genesis hash when none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalHead {
    pub last_seq: i64,
    pub last_hash: String,
}

/// Journal entries in order, from the one after what head office holds
/// (repeats of entries it holds are harmless).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalBatch {
    pub entries: Vec<Entry>,
}

/// Why head office refused an entry: the till's chain as sent does not
/// continue what head office holds, or differs from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refused {
    pub seq: i64,
    pub problem: String,
}

/// What became of a batch: entries stored, entries head office already
/// held unchanged, where it now stands, and the first refusal if any
/// (entries before it are stored, none after it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestReport {
    pub accepted: u32,
    pub duplicates: u32,
    pub last_seq: i64,
    pub refused: Option<Refused>,
}

/// An error in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub error: String,
}
