//! Simulated peers for the demo and the tests. Each speaks the real
//! protocol on a real transport, so the code under test cannot tell.

pub mod acquirer;
pub mod card;
pub mod demo_devices;
pub mod link;
pub mod pinpad;
pub mod pole;
pub mod printer;
pub mod qr;
pub mod scale;
