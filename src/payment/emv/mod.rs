//! EMV chip payments, contact and contactless: codecs (BER-TLV, DOLs, APDUs), the terminal
//! kernel, its configuration, and the symmetric cryptography card and host
//! simulators share.
//!
//! Everything here is pure protocol logic over the [`apdu::CardChannel`]
//! trait; the PC/SC adapter lives in `devices::reader` and the virtual card
//! in `sim::card`.

pub mod apdu;
pub mod config;
pub mod crypto;
pub mod cvn;
pub mod dol;
pub mod entry;
pub mod kernel;
pub mod select;
pub mod tags;
pub mod tlv;

pub use apdu::{CardChannel, ChannelError};
pub use config::TerminalConfig;
pub use kernel::{
    Cardholder, Decision, HostResponse, Kernel, KernelError, Outcome, TransactionInput, TxnDate,
};
