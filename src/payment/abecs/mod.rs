//! The Abecs PIN pad protocol (v2.12), host side, and the codecs the PIN pad
//! simulator shares with it.
//!
//! Layers, bottom up:
//!
//! * [`frame`]: packets `SYN body ETB crc`, DC3 escaping, CRC-16 (1021h, init 0)
//!   and the single control bytes ACK, NAK, EOT, CAN.
//! * [`command`]: command and response bodies (OPN, CLO, GIN, DSP, DEX, GPN,
//!   GKY), status codes, and the tillpoint extensions in commands of their
//!   own (`TXI` capabilities, `TXP` AES-DUKPT PIN), so that the standard
//!   commands stay exactly the specification's; `tests/abecs_strict_host.rs`
//!   drives the simulator as a host written from the specification would.
//! * [`link`]: the till's half of the conversation over a [`link::SerialLine`]:
//!   send, wait for ACK (2 s) and retransmit on NAK or silence (three attempts
//!   in all), wait for the response within the command's timeout, NAK damaged
//!   responses (three at most), pass on notifications, abort with CAN/EOT.
//!
//! Where the specification is silent or contradicts itself, the module docs of
//! each layer say which choice was made and which implementations it follows.

pub mod command;
pub mod frame;
pub mod link;

use std::time::Duration;

pub use command::{
    Capabilities, DeviceInfo, GetPin, Key, PinBlockData, PinMethod, Request, Response, Status,
};
pub use frame::{FrameDecoder, FrameError};
pub use link::{Link, LinkConfig, SerialLine};

/// Everything that can go wrong talking Abecs to a pad.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AbecsError {
    /// The serial line failed or the device went away (unplugged, port closed).
    #[error("serial line lost: {0}")]
    Disconnected(String),
    /// Another I/O failure on the serial line.
    #[error("serial I/O error: {0}")]
    Io(String),
    /// The pad never acknowledged the command.
    #[error("no ACK from the PIN pad after {attempts} attempts")]
    NoAck {
        /// Attempts made.
        attempts: u32,
    },
    /// The pad answered NAK to every attempt.
    #[error("the PIN pad rejected the command (NAK) {attempts} times")]
    Rejected {
        /// Attempts made.
        attempts: u32,
    },
    /// No response within the command's time limit.
    #[error("no response to {command} within {waited:?}")]
    ResponseTimeout {
        /// Command ID.
        command: String,
        /// Time waited.
        waited: Duration,
    },
    /// Every copy of the response arrived damaged.
    #[error("response damaged {attempts} times")]
    CorruptResponse {
        /// Damaged copies received.
        attempts: u32,
    },
    /// The till cancelled the command (CAN answered by EOT).
    #[error("cancelled")]
    Cancelled,
    /// CAN was sent but the pad never answered EOT.
    #[error("the PIN pad did not confirm the cancel")]
    CancelUnconfirmed,
    /// A packet could not be built.
    #[error("frame error: {0}")]
    Frame(#[from] FrameError),
    /// A response with an intact CRC but a body that does not parse.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// A response to another command than the one sent.
    #[error("expected a {expected} response, got {got}")]
    UnexpectedResponse {
        /// Command sent.
        expected: String,
        /// Response ID received.
        got: String,
    },
    /// The pad answered with an error status.
    #[error("{command} failed with status {status}")]
    Status {
        /// Command ID.
        command: String,
        /// Status returned.
        status: Status,
    },
    /// The request cannot be encoded (text too long, bad PAN, ...).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl AbecsError {
    /// Whether the serial port itself is gone and must be reopened.
    pub fn is_disconnect(&self) -> bool {
        matches!(self, AbecsError::Disconnected(_))
    }

    pub(crate) fn from_io(e: &std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        match e.kind() {
            K::BrokenPipe
            | K::NotConnected
            | K::ConnectionAborted
            | K::ConnectionReset
            | K::NotFound
            | K::UnexpectedEof => AbecsError::Disconnected(e.to_string()),
            // A vanished USB-serial adapter reports EIO (raw OS error 5).
            _ if e.raw_os_error() == Some(5) => AbecsError::Disconnected(e.to_string()),
            _ if {
                let text = e.to_string().to_lowercase();
                text.contains("i/o error") || text.contains("input/output error")
            } =>
            {
                AbecsError::Disconnected(e.to_string())
            }
            _ => AbecsError::Io(e.to_string()),
        }
    }
}
