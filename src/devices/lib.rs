//! Real hardware adapters: each implements a small trait from `payment`
//! or `devices` so the demo's simulators and the shop's hardware are
//! interchangeable.

pub mod pinpad;
pub mod pole;
pub mod printer;
pub mod reader;
pub mod scale;
pub mod serial;
