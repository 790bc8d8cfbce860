//! Fuzz target for the ISO 8583 decoder of the host profile.
//!
//! Properties: decoding arbitrary bytes never panics; whatever decodes packs
//! again, and the packed bytes decode to the same message (the codec is a
//! bijection on valid input); the reply and field-90 parsers never panic on
//! decoded messages.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tillpoint_payment::iso8583::messages::{parse_reply, OriginalData};
use tillpoint_payment::iso8583::{pack, unpack, HOST_PROFILE};

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = unpack(&HOST_PROFILE, data) else {
        return;
    };
    let packed = pack(&HOST_PROFILE, &msg).expect("a decoded message must pack");
    let again = unpack(&HOST_PROFILE, &packed).expect("packed bytes must decode");
    assert_eq!(again, msg);
    let _ = parse_reply(&msg);
    if let Some(f90) = msg.get_str(90) {
        let _ = OriginalData::decode(f90);
    }
    if let Some(icc) = msg.get(55) {
        let _ = tillpoint_sim::acquirer::find_tag(icc, 0x9f26);
    }
});
