//! The shop's rules: money, catalog, tax, sales, tenders, refunds, receipts,
//! reports, cashiers and the PIN check. Pure code: no I/O, no clock, no
//! randomness; time and identifiers are passed in, so every rule is testable
//! by example.

pub mod cashier;
pub mod catalog;
pub mod credential;
pub mod headoffice;
pub mod journal;
pub mod money;
pub mod receipt;
pub mod refund;
pub mod report;
pub mod sale;
pub mod tax;
pub mod tender;

pub use money::{Currency, Money, Rounding};
