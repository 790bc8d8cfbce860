//! Payment protocols as codecs and state machines, free of hardware code:
//! the EMV kernel, PIN blocks and DUKPT, the Abecs PIN pad protocol, ISO 8583
//! and the acquirer session with its store-and-forward.

pub mod abecs;
pub mod acquirer;
pub mod emv;
pub mod iso8583;
pub mod keyfile;
pub mod magstripe;
pub mod pin;
pub mod qr;
pub mod qr_gateway;
pub mod session;
