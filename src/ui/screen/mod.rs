//! One module per screen. Each owns its state and its `Msg`; its `update`
//! returns the work it wants done on the till's service (whose answers come
//! back as its own `Msg`) and an `Event` for what the application must
//! change. None calls the service or a device itself.

pub mod approval;
pub mod cash;
pub mod cashiers;
pub mod customer;
pub mod help;
pub mod login;
pub mod parked;
pub mod receipt;
pub mod refund;
pub mod reports;
pub mod sale;
pub mod settings;
pub mod startup;
pub mod tender;
