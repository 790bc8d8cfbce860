//! Acquirer host simulator: a real TCP server speaking the host profile
//! (`payment/iso8583/PROFILE.md`, which also lists its test-card rules),
//! with its own SQLite ledger and fault knobs for tests and the demo.
//!
//! Card cryptography is behind [`IssuerVerifier`]: the till wires it to the
//! EMV (ARQC/ARPC) and DUKPT (PIN) modules; [`TestIssuer`] is a stand-in
//! with deterministic, documented rules.

pub mod server;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub use server::{run_acquirer_sim, start_acquirer_sim, SimConfig, SimError, SimHandle};

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum IssuerError {
    #[error("chip data lacks {0}")]
    MissingTag(&'static str),
    #[error("chip data is not valid BER-TLV")]
    BadTlv,
    #[error("PIN block could not be recovered: {0}")]
    BadPinBlock(&'static str),
    #[error("no issuer keys for this card")]
    UnknownCard,
}

/// The issuer side of card verification, as the host needs it.
pub trait IssuerVerifier: Send + Sync {
    /// Checks the ARQC (tag 9F26) in the request's field 55 for this card.
    fn verify_arqc(&self, pan: &str, psn: Option<&str>, icc: &[u8]) -> Result<bool, IssuerError>;
    /// Issuer authentication data (the value of tag 91) answering the ARQC
    /// in `icc` with authorization response code `arc`.
    fn make_arpc(
        &self,
        pan: &str,
        psn: Option<&str>,
        icc: &[u8],
        arc: [u8; 2],
    ) -> Result<Vec<u8>, IssuerError>;
    /// The clear PIN from an ISO 9564 PIN block encrypted under the DUKPT
    /// key named by `ksn`.
    fn recover_pin(
        &self,
        pan: &str,
        pin_block: &[u8],
        ksn: &[u8],
    ) -> Result<Zeroizing<String>, IssuerError>;
    /// Whether `pin` is this card's PIN of record.
    fn pin_matches(&self, pan: &str, pin: &str) -> bool;
}

/// Finds a primitive tag's value in BER-TLV data (bounded walk, no panics).
/// Constructed templates (e.g. 77, 70) are descended into.
pub fn find_tag(data: &[u8], wanted: u16) -> Result<Option<&[u8]>, IssuerError> {
    let mut rest = data;
    while let Some((&first, after)) = rest.split_first() {
        if first == 0x00 || first == 0xff {
            rest = after;
            continue;
        }
        let (tag, after) = if first & 0x1f == 0x1f {
            let (&second, after) = after.split_first().ok_or(IssuerError::BadTlv)?;
            if second & 0x80 != 0 {
                return Err(IssuerError::BadTlv);
            }
            ((u16::from(first) << 8) | u16::from(second), after)
        } else {
            (u16::from(first), after)
        };
        let (&l0, after) = after.split_first().ok_or(IssuerError::BadTlv)?;
        let (len, after) = match l0 {
            0x00..=0x7f => (usize::from(l0), after),
            0x81 => {
                let (&l, a) = after.split_first().ok_or(IssuerError::BadTlv)?;
                (usize::from(l), a)
            }
            0x82 => {
                let hi = *after.first().ok_or(IssuerError::BadTlv)?;
                let lo = *after.get(1).ok_or(IssuerError::BadTlv)?;
                (
                    usize::from(u16::from_be_bytes([hi, lo])),
                    after.get(2..).ok_or(IssuerError::BadTlv)?,
                )
            }
            _ => return Err(IssuerError::BadTlv),
        };
        let value = after.get(..len).ok_or(IssuerError::BadTlv)?;
        if tag == wanted {
            return Ok(Some(value));
        }
        let constructed = (tag >> if tag > 0xff { 8 } else { 0 }) & 0x20 != 0;
        if constructed {
            if let Some(v) = find_tag(value, wanted)? {
                return Ok(Some(v));
            }
        }
        rest = after.get(len..).ok_or(IssuerError::BadTlv)?;
    }
    Ok(None)
}

/// A deterministic stand-in issuer for tests and the demo until the EMV and
/// DUKPT modules are wired in. Not EMV cryptography:
///
/// - ARQC = first 8 bytes of SHA-256("arqc" ‖ secret ‖ PAN ‖ 9F02 ‖ 9F36);
/// - ARPC = first 8 bytes of SHA-256("arpc" ‖ secret ‖ PAN ‖ ARQC ‖ ARC),
///   returned followed by the ARC (ARPC method 1 layout, 10 bytes);
/// - PIN block = ISO 9564 format 0 block XOR SHA-256("pin" ‖ secret ‖ KSN)[..8];
/// - every card's PIN is `1234` unless set with [`TestIssuer::with_pin`].
#[derive(Clone)]
pub struct TestIssuer {
    secret: [u8; 32],
    pins: HashMap<String, String>,
}

impl std::fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestIssuer")
    }
}

impl Default for TestIssuer {
    fn default() -> Self {
        TestIssuer::new([0x42; 32])
    }
}

fn digest8(parts: &[&[u8]]) -> [u8; 8] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    let d = h.finalize();
    let mut out = [0u8; 8];
    out.copy_from_slice(&d[..8]);
    out
}

impl TestIssuer {
    pub fn new(secret: [u8; 32]) -> Self {
        TestIssuer {
            secret,
            pins: HashMap::new(),
        }
    }

    pub fn with_pin(mut self, pan: &str, pin: &str) -> Self {
        self.pins.insert(pan.to_owned(), pin.to_owned());
        self
    }

    /// The ARQC this issuer expects for the given amount (9F02) and ATC (9F36).
    pub fn arqc(&self, pan: &str, amount_9f02: &[u8], atc_9f36: &[u8]) -> [u8; 8] {
        digest8(&[b"arqc", &self.secret, pan.as_bytes(), amount_9f02, atc_9f36])
    }

    /// Builds a field 55 with a valid ARQC, as the virtual card would.
    pub fn icc_for(&self, pan: &str, amount: u64, atc: u16) -> Vec<u8> {
        let amount_bcd = bcd12(amount);
        let atc = atc.to_be_bytes();
        let arqc = self.arqc(pan, &amount_bcd, &atc);
        let mut out = vec![0x9f, 0x02, 0x06];
        out.extend_from_slice(&amount_bcd);
        out.extend_from_slice(&[0x9f, 0x36, 0x02]);
        out.extend_from_slice(&atc);
        out.extend_from_slice(&[0x9f, 0x26, 0x08]);
        out.extend_from_slice(&arqc);
        out.extend_from_slice(&[0x9f, 0x27, 0x01, 0x80]);
        out
    }

    fn pin_mask(&self, ksn: &[u8]) -> [u8; 8] {
        digest8(&[b"pin", &self.secret, ksn])
    }

    /// An encrypted PIN block as the PIN pad simulator would produce it.
    pub fn pin_block(&self, pin: &str, pan: &str, ksn: &[u8]) -> Option<[u8; 8]> {
        let clear = iso9564_format0(pin, pan)?;
        let mask = self.pin_mask(ksn);
        let mut out = [0u8; 8];
        for (o, (c, m)) in out.iter_mut().zip(clear.iter().zip(mask.iter())) {
            *o = c ^ m;
        }
        Some(out)
    }
}

/// Amount as 6-byte BCD (tag 9F02 layout).
pub(crate) fn bcd12(amount: u64) -> [u8; 6] {
    let digits = format!("{:012}", amount % 1_000_000_000_000);
    let mut out = [0u8; 6];
    for (i, pair) in digits.as_bytes().chunks(2).enumerate() {
        if let (Some(slot), [hi, lo]) = (out.get_mut(i), pair) {
            *slot = ((hi - b'0') << 4) | (lo - b'0');
        }
    }
    out
}

/// The 12 PAN digits a format 0 block uses: rightmost 12 excluding the check digit.
fn pan12(pan: &str) -> Option<&str> {
    if pan.len() < 13 || !pan.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pan.get(pan.len() - 13..pan.len() - 1)
}

/// Clear ISO 9564-1 format 0 PIN block.
pub fn iso9564_format0(pin: &str, pan: &str) -> Option<[u8; 8]> {
    if !(4..=12).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let pin_field = format!("0{:X}{:F<14}", pin.len(), pin);
    let pan_field = format!("0000{}", pan12(pan)?);
    let a = hex::decode(pin_field).ok()?;
    let b = hex::decode(pan_field).ok()?;
    let mut out = [0u8; 8];
    for (o, (x, y)) in out.iter_mut().zip(a.iter().zip(b.iter())) {
        *o = x ^ y;
    }
    Some(out)
}

/// Inverse of [`iso9564_format0`].
pub fn iso9564_format0_decode(block: &[u8], pan: &str) -> Result<Zeroizing<String>, IssuerError> {
    if block.len() != 8 {
        return Err(IssuerError::BadPinBlock("length is not 8"));
    }
    let pan_field = hex::decode(format!(
        "0000{}",
        pan12(pan).ok_or(IssuerError::BadPinBlock("PAN too short"))?
    ))
    .map_err(|_| IssuerError::BadPinBlock("PAN not numeric"))?;
    let mut clear = Zeroizing::new([0u8; 8]);
    for (c, (x, y)) in clear.iter_mut().zip(block.iter().zip(pan_field.iter())) {
        *c = x ^ y;
    }
    let nibbles = Zeroizing::new(hex::encode_upper(&clear[..]));
    let bytes = nibbles.as_bytes();
    if bytes.first() != Some(&b'0') {
        return Err(IssuerError::BadPinBlock("not format 0"));
    }
    let len = bytes
        .get(1)
        .and_then(|c| char::from(*c).to_digit(16))
        .map(|n| n as usize)
        .filter(|n| (4..=12).contains(n))
        .ok_or(IssuerError::BadPinBlock("PIN length out of range"))?;
    let pin = nibbles
        .get(2..2 + len)
        .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
        .ok_or(IssuerError::BadPinBlock("PIN digits invalid"))?;
    if !nibbles
        .get(2 + len..)
        .is_some_and(|pad| pad.bytes().all(|b| b == b'F'))
    {
        return Err(IssuerError::BadPinBlock("padding is not F"));
    }
    Ok(Zeroizing::new(pin.to_owned()))
}

impl IssuerVerifier for TestIssuer {
    fn verify_arqc(&self, pan: &str, _psn: Option<&str>, icc: &[u8]) -> Result<bool, IssuerError> {
        let arqc = find_tag(icc, 0x9f26)?.ok_or(IssuerError::MissingTag("9F26 (ARQC)"))?;
        let amount = find_tag(icc, 0x9f02)?.ok_or(IssuerError::MissingTag("9F02 (amount)"))?;
        let atc = find_tag(icc, 0x9f36)?.ok_or(IssuerError::MissingTag("9F36 (ATC)"))?;
        Ok(arqc == self.arqc(pan, amount, atc))
    }

    fn make_arpc(
        &self,
        pan: &str,
        _psn: Option<&str>,
        icc: &[u8],
        arc: [u8; 2],
    ) -> Result<Vec<u8>, IssuerError> {
        let arqc = find_tag(icc, 0x9f26)?.ok_or(IssuerError::MissingTag("9F26 (ARQC)"))?;
        let mut out = digest8(&[b"arpc", &self.secret, pan.as_bytes(), arqc, &arc]).to_vec();
        out.extend_from_slice(&arc);
        Ok(out)
    }

    fn recover_pin(
        &self,
        pan: &str,
        pin_block: &[u8],
        ksn: &[u8],
    ) -> Result<Zeroizing<String>, IssuerError> {
        if pin_block.len() != 8 {
            return Err(IssuerError::BadPinBlock("length is not 8"));
        }
        let mask = self.pin_mask(ksn);
        let mut clear = Zeroizing::new([0u8; 8]);
        for (c, (x, m)) in clear.iter_mut().zip(pin_block.iter().zip(mask.iter())) {
            *c = x ^ m;
        }
        iso9564_format0_decode(&clear[..], pan)
    }

    fn pin_matches(&self, pan: &str, pin: &str) -> bool {
        let expected = self.pins.get(pan).map(String::as_str).unwrap_or("1234");
        // Constant-time enough for a simulator: compare every byte.
        expected.len() == pin.len()
            && expected
                .bytes()
                .zip(pin.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

/// Faults the simulator can inject, each for a number of upcoming requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Process the request (ledger updated) but never answer.
    NoAnswer,
    /// Close the connection right after reading the request, unprocessed.
    DropAfterRead,
    /// Process, then answer with corrupted bytes (MTI and STAN mangled).
    Garble,
    /// Process, then send a header promising the whole answer but only half
    /// of it, and close.
    Truncate,
}

/// Live-adjustable fault settings shared by all connection threads.
#[derive(Debug, Default)]
pub struct Faults {
    state: Mutex<FaultState>,
}

#[derive(Debug, Default)]
struct FaultState {
    delay: Duration,
    fault: Option<(Fault, u32)>,
}

impl Faults {
    /// Delay every answer by `d` (after processing).
    pub fn set_delay(&self, d: Duration) {
        if let Ok(mut s) = self.state.lock() {
            s.delay = d;
        }
    }

    /// Apply `fault` to the next `times` requests (`u32::MAX`: until cleared).
    pub fn set_fault(&self, fault: Fault, times: u32) {
        if let Ok(mut s) = self.state.lock() {
            s.fault = Some((fault, times));
        }
    }

    pub fn clear(&self) {
        if let Ok(mut s) = self.state.lock() {
            *s = FaultState::default();
        }
    }

    /// The delay and the fault (if any) for the request just read.
    pub(crate) fn take(&self) -> (Duration, Option<Fault>) {
        let Ok(mut s) = self.state.lock() else {
            return (Duration::ZERO, None);
        };
        let fault = match s.fault {
            Some((f, n)) if n > 0 => {
                s.fault = if n == u32::MAX || n > 1 {
                    Some((f, if n == u32::MAX { n } else { n - 1 }))
                } else {
                    None
                };
                Some(f)
            }
            _ => None,
        };
        (s.delay, fault)
    }
}

/// Result of [`bench_forwarding`].
#[derive(Clone, Debug, PartialEq)]
pub struct ForwardingBench {
    pub advices: usize,
    pub forward_time: Duration,
    pub bare_time: Duration,
    pub forward_per_sec: f64,
    pub bare_per_sec: f64,
    /// forward rate / bare rate; the goal is ≥ 0.5.
    pub ratio: f64,
}

/// Forwards `n` queued offline advices to a fresh simulator on loopback and
/// compares the rate with a bare 0800 request/response loop over the same
/// connection.
pub fn bench_forwarding(n: usize) -> Result<ForwardingBench, SimError> {
    use crate::payment::acquirer::{
        AcquirerClient, ClientConfig, DataKey, MemoryStore, OfflineLimits, OfflineSale, Session,
        SessionConfig, SystemClock,
    };
    use crate::payment::iso8583::messages::{
        network_request, CardInput, EntryMode, NetworkRequest, Stamp, Stan, TerminalIds, Timestamp,
        TxnKind,
    };

    let n = n.max(1);
    let dir = std::env::temp_dir().join(format!(
        "tillpoint-acq-bench-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos() ^ u128::from(rand::random::<u64>())
    ));
    std::fs::create_dir_all(&dir).map_err(SimError::Io)?;
    let result = (|| {
        let sim = start_acquirer_sim(SimConfig::new(
            "127.0.0.1:0"
                .parse()
                .map_err(|_| SimError::Config("address"))?,
            dir.join("host.db"),
            Arc::new(TestIssuer::default()),
        ))?;
        let ids = TerminalIds {
            tid: "BENCH001".into(),
            mid: "BENCHMERCHANT01".into(),
            currency: 978,
        };
        let store = Arc::new(MemoryStore::new());
        let mut cfg = ClientConfig::new(sim.addr());
        cfg.read_timeout = Duration::from_secs(10);
        let mut session = Session::new(
            store,
            AcquirerClient::new(cfg),
            SessionConfig {
                ids: ids.clone(),
                limits: OfflineLimits {
                    max_count: n as u64 + 1,
                    max_amount: u64::MAX,
                    max_age: Duration::from_secs(86_400),
                },
            },
            Box::new(SystemClock),
            DataKey::generate(),
        )
        .map_err(SimError::Session)?;
        let issuer = TestIssuer::default();
        let pan = "4761739001010010";
        for i in 0..n {
            let amount = 100 + (i as u64 % 50);
            session
                .queue_offline(&OfflineSale {
                    kind: TxnKind::Purchase,
                    amount,
                    card: CardInput {
                        pan: pan.into(),
                        expiry: Some("3012".into()),
                        sequence: Some("001".into()),
                        track2: None,
                        entry: EntryMode::Chip,
                        icc: Some(issuer.icc_for(pan, amount, i as u16)),
                        pin: None,
                    },
                    auth_code: "Y1".into(),
                })
                .map_err(SimError::Session)?;
        }
        // Connect first so both loops measure the same warm connection.
        session.echo().map_err(SimError::Session)?;

        let start = Instant::now();
        let report = session.forward_pending(n).map_err(SimError::Session)?;
        let forward_time = start.elapsed();
        if report.delivered != n {
            return Err(SimError::Bench(format!(
                "delivered {} of {n} advices ({:?})",
                report.delivered, report.stopped
            )));
        }

        let t = Timestamp::from_datetime(time::OffsetDateTime::now_utc());
        let echo = network_request(
            &ids,
            &Stamp {
                stan: Stan::FIRST,
                transmitted: t,
                local: t,
                batch: 1,
            },
            NetworkRequest::Echo,
        )
        .map_err(|e| SimError::Bench(e.to_string()))?;
        let start = Instant::now();
        for _ in 0..n {
            session
                .client_mut()
                .exchange(&echo)
                .map_err(|e| SimError::Bench(e.to_string()))?;
        }
        let bare_time = start.elapsed();
        sim.stop();

        let rate = |d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
        let forward_per_sec = rate(forward_time);
        let bare_per_sec = rate(bare_time);
        Ok(ForwardingBench {
            advices: n,
            forward_time,
            bare_time,
            forward_per_sec,
            bare_per_sec,
            ratio: forward_per_sec / bare_per_sec,
        })
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Where a simulator keeps its ledger by default.
pub fn default_db_path(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("acquirer-sim.db")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ISO 9564-1 format 0, the worked example used throughout the
    /// literature (e.g. EFTlab, "PIN Block Formats"): PIN 1234 with PAN
    /// 4111111111111111 gives the clear block 041225EEEEEEEEEE.
    #[test]
    fn format0_published_example() {
        let block = iso9564_format0("1234", "4111111111111111").unwrap();
        assert_eq!(hex::encode_upper(block), "041225EEEEEEEEEE");
        assert_eq!(
            &*iso9564_format0_decode(&block, "4111111111111111").unwrap(),
            "1234"
        );
        let mut bad = block;
        bad[7] ^= 0x01;
        assert!(iso9564_format0_decode(&bad, "4111111111111111").is_err());
        assert!(iso9564_format0("12", "4111111111111111").is_none());
    }

    #[test]
    fn test_issuer_arqc_arpc_and_pin() {
        let issuer = TestIssuer::default().with_pin("5413330089010434", "9876");
        let pan = "4761739001010010";
        let icc = issuer.icc_for(pan, 1234, 7);
        assert!(issuer.verify_arqc(pan, None, &icc).unwrap());
        assert!(!issuer.verify_arqc("4761739001010028", None, &icc).unwrap());
        let mut tampered = icc.clone();
        tampered[4] ^= 1; // amount byte
        assert!(!issuer.verify_arqc(pan, None, &tampered).unwrap());
        assert!(issuer
            .verify_arqc(pan, None, &[0x9f, 0x27, 0x01, 0x80])
            .is_err());
        let arpc = issuer.make_arpc(pan, None, &icc, *b"00").unwrap();
        assert_eq!(arpc.len(), 10);
        assert_eq!(&arpc[8..], b"00");
        assert_ne!(arpc, issuer.make_arpc(pan, None, &icc, *b"05").unwrap());

        let ksn = [0xff, 0xff, 0x98, 0x76, 0x54, 0x32, 0x10, 0xe0, 0, 1];
        let block = issuer.pin_block("1234", pan, &ksn).unwrap();
        assert_ne!(
            block,
            iso9564_format0("1234", pan).unwrap(),
            "block is encrypted"
        );
        let pin = issuer.recover_pin(pan, &block, &ksn).unwrap();
        assert!(issuer.pin_matches(pan, &pin));
        assert!(!issuer.pin_matches("5413330089010434", &pin));
        assert!(issuer.pin_matches("5413330089010434", "9876"));
        let other_ksn = [0u8; 10];
        assert!(issuer
            .recover_pin(pan, &block, &other_ksn)
            .map(|p| !issuer.pin_matches(pan, &p))
            .unwrap_or(true));
    }

    #[test]
    fn tlv_walker_is_bounded() {
        let data = [0x77, 0x06, 0x9f, 0x27, 0x01, 0x80, 0x95, 0x00];
        assert_eq!(find_tag(&data, 0x9f27).unwrap(), Some(&[0x80][..]));
        assert_eq!(find_tag(&data, 0x9f26).unwrap(), None);
        assert!(find_tag(&[0x9f, 0x26, 0x08, 1], 0x9f26).is_err());
        assert!(find_tag(&[0x9f], 0x9f26).is_err());
        assert!(find_tag(&[0x9f, 0x26, 0x83, 0, 0, 1], 0x9f26).is_err());
        assert_eq!(find_tag(&[], 0x9f26).unwrap(), None);
    }

    #[test]
    fn faults_count_down() {
        let f = Faults::default();
        f.set_fault(Fault::Garble, 2);
        f.set_delay(Duration::from_millis(5));
        assert_eq!(f.take(), (Duration::from_millis(5), Some(Fault::Garble)));
        assert_eq!(f.take().1, Some(Fault::Garble));
        assert_eq!(f.take().1, None);
        f.set_fault(Fault::NoAnswer, u32::MAX);
        for _ in 0..5 {
            assert_eq!(f.take().1, Some(Fault::NoAnswer));
        }
        f.clear();
        assert_eq!(f.take(), (Duration::ZERO, None));
    }

    #[test]
    fn bcd_amount() {
        assert_eq!(bcd12(1234), [0, 0, 0, 0, 0x12, 0x34]);
    }
}
