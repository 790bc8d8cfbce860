//! One module per screen. Each owns its state and its `Msg`, and tells the
//! application what it wants done through an `Event`; none touches the
//! store or a device.

pub mod cash;
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
