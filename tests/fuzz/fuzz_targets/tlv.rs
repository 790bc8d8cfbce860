//! Fuzz target for the parsers that see raw card bytes: BER-TLV, DOLs,
//! response APDUs, issuer script commands, GPO/GENERATE AC/CVM parsing, and
//! a whole kernel transaction fed with the input as card answers.
//! Run with `cargo fuzz run tlv` from this directory (nightly toolchain).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tillpoint_payment::emv::apdu::{masked_hex, Apdu, CardChannel, ChannelError, Command, Response};
use tillpoint_payment::emv::kernel::{fuzz_parse_responses, HostResponse, Kernel};
use tillpoint_payment::emv::{dol, tlv, TerminalConfig};
use tillpoint_sim::card::{sample_purchase, ScriptedCardholder};

/// Splits the fuzz input into card answers at 0xFE 0xFE.
struct Answers<'a>(std::slice::Split<'a, u8, fn(&u8) -> bool>);

impl CardChannel for Answers<'_> {
    fn transmit(&mut self, _apdu: &[u8]) -> Result<Vec<u8>, ChannelError> {
        self.0.next().map(<[u8]>::to_vec).ok_or(ChannelError::CardRemoved)
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(list) = tlv::parse_all(data) {
        // Re-encoding what parsed must parse to the same tree.
        let again = tlv::parse_all(&tlv::encode_all(&list)).expect("re-encoded TLV parses");
        assert_eq!(again, list);
        let _ = tlv::flatten(&list);
    }
    let _ = tlv::parse_one(data);
    if let Ok(entries) = dol::parse(data) {
        let _ = dol::build(&entries, &dol::DataStore::new());
        let _ = dol::split(&entries, data);
    }
    let _ = Response::parse(data);
    let _ = Command::parse(data);
    let _ = masked_hex(data);
    fuzz_parse_responses(data);

    let is_sep: fn(&u8) -> bool = |b| *b == 0xFE;
    let cfg = TerminalConfig::default();
    let mut k = Kernel::new(Answers(data.split(is_sep)), &cfg);
    if k.start(&sample_purchase(10_00), &mut ScriptedCardholder::default()).is_ok() {
        let _ = k.complete(HostResponse::Unavailable);
    }
    let _ = Apdu::new(Answers(data.split(is_sep))).exchange(&Command::read_record(1, 1));
});
