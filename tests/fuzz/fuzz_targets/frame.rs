//! Fuzz target for the Abecs frame decoder and the body parsers behind it.
//!
//! Run with `cargo +nightly fuzz run frame` from the crate root. The first
//! input byte chooses how the rest is cut into reads, so split packets are
//! explored too. Properties checked:
//! * the decoder never panics and never yields a body over the limit;
//! * every body it yields re-encodes to a packet that decodes to the same body;
//! * command and response parsers never panic on what the decoder yields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tillpoint_payment::abecs::command::{Request, Response};
use tillpoint_payment::abecs::frame::{self, Event, FrameDecoder, MAX_PAYLOAD};

fuzz_target!(|data: &[u8]| {
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
            let wire = frame::encode(&body).expect("a decoded body re-encodes");
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
});
