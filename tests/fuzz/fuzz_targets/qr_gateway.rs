//! Fuzz target for the QR gateway's untrusted text: the provider's JSON
//! answers (as the till reads them), the `Authorization` header and the
//! JSON requests (as `qr-sim` reads them, through its ledger), and a
//! signature check of arbitrary bytes.
//!
//! Properties: nothing panics; an answer that parses serialises to JSON
//! that parses to the same answer; a header that parses writes back to one
//! that parses the same; the ledger answers every request that parses with
//! a result, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tillpoint_payment::qr_gateway::api::{
    ErrorAnswer, OrderRequest, PayRequest, PrecreateAnswer, PrecreateRequest, RefundAnswer,
    RefundRequest, TradeAnswer,
};
use tillpoint_payment::qr_gateway::sign::{self, Authorization};
use tillpoint_sim::qr::ledger::Ledger;

fn round_trip<T>(text: &str)
where
    T: serde::de::DeserializeOwned + serde::Serialize + PartialEq + std::fmt::Debug,
{
    if let Ok(v) = serde_json::from_str::<T>(text) {
        let again: T = serde_json::from_str(&serde_json::to_string(&v).expect("serialises"))
            .expect("what we write we read");
        assert_eq!(again, v);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    round_trip::<TradeAnswer>(text);
    round_trip::<PrecreateAnswer>(text);
    round_trip::<RefundAnswer>(text);
    round_trip::<ErrorAnswer>(text);
    if let Ok(a) = Authorization::parse(text) {
        if !a.nonce.contains('"') && !a.mchid.contains('"') && !a.serial_no.contains('"')
            && !a.signature.contains('"') && !a.mchid.contains(',') && !a.nonce.contains(',')
            && !a.serial_no.contains(',') && !a.signature.contains(',')
        {
            assert_eq!(Authorization::parse(&a.header()), Ok(a));
        }
    }
    let mut ledger = Ledger::default();
    ledger.userpaying_polls = u32::from(data.first().copied().unwrap_or(0) % 3);
    if let Ok(r) = serde_json::from_str::<PayRequest>(text) {
        let _ = ledger.pay(&r);
        let _ = ledger.query(&r.out_trade_no);
        let _ = ledger.cancel(&r.out_trade_no);
    }
    if let Ok(r) = serde_json::from_str::<PrecreateRequest>(text) {
        let _ = ledger.precreate(&r);
        let _ = ledger.close(&r.out_trade_no);
    }
    if let Ok(r) = serde_json::from_str::<RefundRequest>(text) {
        let _ = ledger.refund(&r);
    }
    if let Ok(r) = serde_json::from_str::<OrderRequest>(text) {
        let _ = ledger.query(&r.out_trade_no);
    }
    static KEY: std::sync::OnceLock<rsa::RsaPublicKey> = std::sync::OnceLock::new();
    let key = KEY.get_or_init(|| {
        sign::public_key(tillpoint_sim::qr::demo_keys::PLATFORM_PUB).expect("the demo key")
    });
    let _ = sign::verify(key, text, text);
});
