//! Fuzz target for the cups profile: the frame (TPDU, header), the BCD
//! codec, the MAC check and the translation to the generic layout.
//!
//! Properties: arbitrary bytes never panic anywhere on the way in (split,
//! unpack, MAC check, translation, the till's wire with a master key and no
//! working keys); whatever unpacks packs again to bytes that unpack to the
//! same message; whatever translates to the generic layout translates back
//! without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tillpoint_payment::acquirer::mac::MacAlgorithm;
use tillpoint_payment::acquirer::wire::{CupsFrame, CupsSettings, HostProfile, Wire};
use tillpoint_payment::iso8583::cups::{self, CUPS_PROFILE};
use tillpoint_payment::iso8583::{pack, unpack};
use tillpoint_payment::pin::master_session::Key16;

fuzz_target!(|data: &[u8]| {
    if let Ok((_, _, body)) = cups::split(data) {
        if let Ok(msg) = unpack(&CUPS_PROFILE, body) {
            let packed = pack(&CUPS_PROFILE, &msg).expect("a decoded message must pack");
            let again = unpack(&CUPS_PROFILE, &packed).expect("packed bytes must decode");
            assert_eq!(again, msg);
        }
    }
    if let Ok(frame) = CupsFrame::parse(data) {
        let _ = frame.check_mac(MacAlgorithm::UnionPayEcb, &[0x11; 16]);
        let _ = frame.check_mac(MacAlgorithm::X919, &[0x11; 16]);
        if let Ok(generic) = frame.to_generic() {
            let _ = cups::to_wire(&generic);
        }
    }
    let mut wire = Wire::with_tmk(
        HostProfile::Cups(CupsSettings::default()),
        Key16::new([0x22; 16]),
    );
    let _ = wire.decode(data);
});
