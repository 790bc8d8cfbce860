//! The fuzz target's properties (fuzz/fuzz_targets/frame.rs), run on proptest
//! inputs so they are checked on every `cargo test`, not only under cargo-fuzz.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

use proptest::prelude::*;
use tillpoint_payment::abecs::command::{Request, Response};
use tillpoint_payment::abecs::frame::{self, Event, FrameDecoder, MAX_PAYLOAD, SYN};

fn check(data: &[u8]) {
    let Some((&chunk, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut decoder = FrameDecoder::new();
    let mut events = Vec::new();
    for piece in rest.chunks(chunk) {
        decoder.feed(piece, &mut events);
    }
    for event in events {
        if let Event::Frame(body) = event {
            assert!(!body.is_empty() && body.len() <= MAX_PAYLOAD);
            let wire = frame::encode(&body).unwrap();
            let mut again = FrameDecoder::new();
            let mut out = Vec::new();
            again.feed(&wire, &mut out);
            assert_eq!(out, vec![Event::Frame(body.clone())]);
            let _ = Request::parse(&body);
            if let Ok(response) = Response::parse(&body) {
                let _ = response.notification();
                let _ = response.encode();
            }
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        check(&data);
    }

    #[test]
    fn bytes_rich_in_framing(data in proptest::collection::vec(
        prop_oneof![Just(SYN), Just(0x17u8), Just(0x13u8), Just(0x33u8), any::<u8>()], 0..512)) {
        check(&data);
    }

    #[test]
    fn valid_packets_with_noise(bodies in proptest::collection::vec(
        proptest::collection::vec(any::<u8>(), 1..64), 1..5), split in 1u8..32) {
        let mut data = vec![split];
        for b in &bodies {
            data.extend_from_slice(&[0x00, 0xFF]);
            data.extend(frame::encode(b).unwrap());
        }
        check(&data);
    }
}
