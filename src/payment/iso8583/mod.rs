//! ISO 8583:1987 for the acquirer link: field specs, a table-driven codec,
//! the host profile (documented in PROFILE.md), message builders and framing.

pub mod codec;
pub mod cups;
pub mod framing;
pub mod messages;
pub mod profile;
pub mod spec;

pub use codec::{pack, unpack, CodecError, Message};
pub use framing::{read_frame, write_frame, FrameError, TimedRead};
pub use profile::{ReversalReason, HOST_PROFILE, MAX_MESSAGE_LEN};
pub use spec::{Mti, Spec};
