//! `tillpoint keys rotate`: a new outbox key, with every advice that waits
//! re-sealed under it, and no advice lost if the till stops half-way.
//!
//! The steps, each durable before the next: the new key is written beside
//! the current one (`outbox.key.next`, sealed by the key-encryption key);
//! every waiting blob is opened (with the key it names) and sealed again
//! under the new key, all in one transaction; the new key replaces
//! `outbox.key`; `outbox.key.next` goes. A till that stops between two
//! steps loads both keys (`DataKey::load_or_create`), and as every blob names
//! the key that sealed it, each opens; running the rotation again finishes
//! it.

use std::path::Path;

use super::crypto::{CryptoError, DataKey, KEY_FILE, NEXT_KEY_FILE};
use super::forwarder::{open_card, seal_card, Binding};
use super::session::SessionError;
use super::AcquirerStore;

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    /// Advices whose card data was sealed again.
    pub resealed: usize,
    pub old_id: String,
    pub new_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error(transparent)]
    Key(#[from] CryptoError),
    #[error("advice {id}: {source}")]
    Advice { id: u64, source: SessionError },
    #[error(transparent)]
    Store(#[from] super::AcquirerStoreError),
    #[error("the new outbox key could not replace the old one: {0}")]
    Swap(String),
}

/// The key a rotation moves to: `outbox.key.next`, made (sealed by the
/// key-encryption key) if no rotation has begun. The rotation's first step,
/// on its own for tests of a rotation stopped after it.
pub fn next_key(data_dir: &Path) -> Result<DataKey, CryptoError> {
    DataKey::load_file(data_dir, NEXT_KEY_FILE)
}

/// Rotates the outbox key of the till in `data_dir` whose terminal id is
/// `tid` (the advices' sealed data is bound to it). Run with the till
/// stopped: the caller holds the acquirer store's exclusive lock.
pub fn rotate_outbox_key<S: AcquirerStore>(
    store: &S,
    data_dir: &Path,
    tid: &str,
) -> Result<Rotated, RotateError> {
    let current = DataKey::load_file(data_dir, KEY_FILE)?;
    let next = next_key(data_dir)?;
    let either = current.with_next(&next);
    let mut blobs = Vec::new();
    for item in store.outbox_pending(usize::MAX)? {
        if item.sealed_card.is_empty() {
            continue;
        }
        let binding = Binding {
            tid,
            stan: item.stan,
            transmitted: item.transmitted,
            kind: item.kind,
            amount: item.amount,
            auth_code: &item.auth_code,
        };
        let advice = |source| RotateError::Advice {
            id: item.id,
            source,
        };
        let card = open_card(&either, &binding, &item.sealed_card).map_err(advice)?;
        blobs.push((item.id, seal_card(&next, &binding, &card).map_err(advice)?));
    }
    store.outbox_reseal(&blobs)?;
    crate::keyfile::replace(data_dir, KEY_FILE, next.bytes())
        .map_err(|e| RotateError::Swap(e.to_string()))?;
    std::fs::remove_file(data_dir.join(NEXT_KEY_FILE))
        .map_err(|e| RotateError::Swap(e.to_string()))?;
    Ok(Rotated {
        resealed: blobs.len(),
        old_id: current.id(),
        new_id: next.id(),
    })
}
