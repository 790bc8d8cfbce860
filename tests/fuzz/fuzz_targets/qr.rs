//! Fuzz target for customer-presented QR payment codes: whatever the scanner
//! types goes through the shape check, and a code that passes is masked and
//! carried in a 0200 to the host.
//!
//! Properties: nothing panics; a masked code never shows more than its first
//! and last four characters; a code given a wallet is that wallet's shape; an accepted code packs into an ISO 8583
//! message that decodes with the same code in field 62.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tillpoint_payment::iso8583::messages::{qr_purchase, Stamp, Stan, TerminalIds, Timestamp};
use tillpoint_payment::iso8583::{pack, unpack, HOST_PROFILE};
use tillpoint_payment::qr::{check_code, mask_code, scheme_of};

fuzz_target!(|data: &[u8]| {
    let Ok(scanned) = std::str::from_utf8(data) else {
        return;
    };
    let masked: Vec<char> = mask_code(scanned).chars().collect();
    let n = scanned.chars().count();
    assert_eq!(masked.len(), n);
    assert!((4..n.saturating_sub(4)).all(|i| masked[i] == '*'));
    // A recognised wallet's code is all digits of its wallet's length.
    if scheme_of(scanned).is_some() {
        let t = scanned.trim();
        assert!(t.bytes().all(|b| b.is_ascii_digit()) && (16..=24).contains(&t.len()));
    }
    let Ok(code) = check_code(scanned) else {
        return;
    };
    let ids = TerminalIds {
        tid: "TILL0001".into(),
        mid: "SHOP00000000001".into(),
        currency: 156,
    };
    let ts = Timestamp::new(3, 14, 15, 9, 26).expect("a valid time");
    let stamp = Stamp {
        stan: Stan::FIRST,
        transmitted: ts,
        local: ts,
        batch: 1,
    };
    let msg = qr_purchase(&ids, &stamp, 1_00, code).expect("a checked code builds a 0200");
    let bytes = pack(&HOST_PROFILE, &msg).expect("a built 0200 packs");
    let back = unpack(&HOST_PROFILE, &bytes).expect("a packed 0200 decodes");
    assert_eq!(back.get_str(62), Some(code));
});
