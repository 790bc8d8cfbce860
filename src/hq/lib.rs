//! Head office: the tills of a chain of shops report to it over HTTP, and it
//! keeps what they report in PostgreSQL. Each till stays the source of
//! truth for its own sales and sells on when head office is away; head
//! office stores each till's journal exactly once, keyed by (shop, till,
//! sequence), and verifies the till's hash chain as it ingests, so a repeat
//! is harmless and a gap or a changed entry is refused and flagged.
//!
//! Uses `tillpoint-core` only (the journal's hash rule and the API's
//! messages), never the till's crates.

pub mod api;
pub mod bench;
pub mod db;
pub mod ingest;
pub mod project;
pub mod stock;
pub mod tills;

pub use api::{router, serve, HqState};
pub use db::{connect, migrate, HqError};
