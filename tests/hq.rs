//! Head office on a real PostgreSQL (a cluster made for the test) and real
//! HTTP on loopback: the `tillpoint hq serve` process, tills enrolled with
//! one-time codes from `tillpoint hq till add`, and each till's journal sent
//! up by `tillpoint hq sync` from its real SQLite file. Exactly once: a
//! repeat changes nothing, a gap or a changed entry is refused and
//! flagged, a till whose head office was away catches up, a revoked till
//! is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;
#[path = "hq/harness.rs"]
mod harness;
#[path = "hq/office.rs"]
mod office;
#[path = "hq/upload.rs"]
mod upload;
