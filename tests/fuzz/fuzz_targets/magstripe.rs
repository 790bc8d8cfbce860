//! Fuzz target for the magnetic stripe tracks a keyboard-wedge reader
//! types: whatever arrives goes through the track parser.
//!
//! Properties: nothing panics; an accepted swipe's PAN passes the Luhn
//! check and is 12 to 19 digits; its track 2 starts with the PAN and the
//! field separator and holds only digits and that one separator, within a
//! card's length; its expiry month is a month; `Debug` never shows the PAN.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tillpoint_payment::magstripe::{luhn, read_swipe, TRACK2_MAX};

fuzz_target!(|data: &[u8]| {
    let Ok(typed) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(card) = read_swipe(typed) else {
        return;
    };
    let pan = card.pan();
    assert!((12..=19).contains(&pan.len()) && luhn(pan));
    let t2 = card.track2();
    assert!(t2.len() <= TRACK2_MAX - 3);
    assert!(t2.starts_with(pan) && t2.as_bytes()[pan.len()] == b'=');
    assert_eq!(t2.matches('=').count(), 1);
    assert!(t2.bytes().all(|b| b.is_ascii_digit() || b == b'='));
    let month: u8 = card.expiry()[2..].parse().expect("a checked expiry");
    assert!((1..=12).contains(&month));
    assert!(!format!("{card:?}").contains(pan));
});
