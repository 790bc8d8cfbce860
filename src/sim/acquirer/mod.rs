//! Acquirer host simulator: a real TCP server speaking the host profile
//! (`payment/iso8583/PROFILE.md`, which also lists its test-card rules),
//! with its own SQLite ledger and fault knobs for tests and the demo.
//!
//! Card cryptography is behind [`IssuerVerifier`]; [`EmvIssuer`] implements
//! it with the EMV crypto (ARQC, ARPC method 1) and the virtual cards'
//! issuer master keys, and recovers PINs with DUKPT from the PIN pad
//! simulator's test BDKs.

pub mod host_keys;
pub mod issuer;
pub mod ledger;
pub mod server;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

pub use issuer::{test_pin_block, EmvIssuer, ScriptCommand};
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
    #[error("chip data: {0}")]
    Cryptogram(tillpoint_payment::emv::cvn::CvnError),
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
    /// Issuer script templates (71/72, TLV-encoded) to send back in field
    /// 55 with the answer to this ARQC; none by default.
    fn scripts(&self, _pan: &str, _psn: Option<&str>, _icc: &[u8]) -> Result<Vec<u8>, IssuerError> {
        Ok(Vec::new())
    }
    /// The clear PIN from an ISO 9564 PIN block encrypted under the DUKPT
    /// key named by `ksn`.
    fn recover_pin(
        &self,
        pan: &str,
        pin_block: &[u8],
        ksn: &[u8],
    ) -> Result<Zeroizing<String>, IssuerError>;
    /// The clear PIN from a format 0 block under a session PIN key (the
    /// cups profile: the host issued the key at sign-on).
    fn recover_session_pin(
        &self,
        pan: &str,
        pin_block: &[u8; 8],
        pin_key: &[u8; 16],
    ) -> Result<Zeroizing<String>, IssuerError> {
        tillpoint_payment::pin::master_session::decrypt_pin(pin_key, pin_block, pan)
            .map_err(|_| IssuerError::BadPinBlock("does not decrypt to a PIN block for this PAN"))
    }
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
    /// Time per advice of each pipelined window (window time ÷ its advices).
    pub forward_samples: Vec<Duration>,
    /// Each bare request/response round trip.
    pub bare_samples: Vec<Duration>,
}

/// Forwards `n` queued offline advices from a real SQLite till database to a
/// fresh simulator on loopback, and compares the rate with a bare 0800
/// request/response loop over the same connection. Runs in a temporary
/// directory that is removed afterwards.
pub fn bench_forwarding(n: usize) -> Result<ForwardingBench, SimError> {
    let dir = std::env::temp_dir().join(format!(
        "tillpoint-acq-bench-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).map_err(SimError::Io)?;
    let result = bench_forwarding_in(&dir, n);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// [`bench_forwarding`] with its files (till and host databases, outbox key)
/// in `dir`.
///
/// The advices are prepared by a session over an in-memory store (STANs,
/// sealed card data, valid TCs from [`EmvIssuer`]) and copied into the till
/// database in one transaction, so setting up 10,000 of them does not cost
/// 20,000 synchronous commits; what is timed is the till's real forwarding
/// path: a session over the SQLite store, pipelined windows, attempts and
/// acknowledgements written durably.
pub fn bench_forwarding_in(dir: &Path, n: usize) -> Result<ForwardingBench, SimError> {
    use tillpoint_payment::acquirer::forwarder::FORWARD_WINDOW;
    use tillpoint_payment::acquirer::till_store::{advice_row, capture_row, SqliteAcquirerStore};
    use tillpoint_payment::acquirer::{
        AcquirerClient, ClientConfig, DataKey, ForwardOutcome, MemoryStore, OfflineLimits,
        OfflineSale, Session, SessionConfig, SystemClock,
    };
    use tillpoint_payment::iso8583::messages::{
        network_request, CardInput, EntryMode, NetworkRequest, Stamp, Stan, TerminalIds, Timestamp,
        TxnKind,
    };

    let n = n.max(1);
    let bench = |e: &dyn std::fmt::Display| SimError::Bench(e.to_string());
    let sim = start_acquirer_sim(SimConfig::new(
        "127.0.0.1:0"
            .parse()
            .map_err(|_| SimError::Config("address"))?,
        dir.join("host.db"),
        Arc::new(EmvIssuer::test_cards()),
    ))?;
    let ids = TerminalIds {
        tid: "BENCH001".into(),
        mid: "BENCHMERCHANT01".into(),
        currency: 978,
    };
    let cfg = SessionConfig {
        ids: ids.clone(),
        limits: OfflineLimits {
            max_count: n as u64 + 1,
            max_amount: u64::MAX,
            max_age: Duration::from_secs(86_400),
            keep_track2: false,
        },
    };
    let key = DataKey::generate();
    let client = || {
        let mut c = ClientConfig::new(sim.addr());
        c.read_timeout = Duration::from_secs(10);
        AcquirerClient::new(c)
    };

    // Prepare the advices in memory, then store them in one transaction.
    let issuer = EmvIssuer::test_cards();
    let pan = "4761739001010119"; // the offline-approve card
    let mut prep = Session::new(
        Arc::new(MemoryStore::new()),
        client(),
        cfg.clone(),
        Box::new(SystemClock),
        key.clone(),
    )
    .map_err(SimError::Session)?;
    let mut rows = Vec::with_capacity(n);
    for i in 0..n {
        let amount = 100 + (i as u64 % 50);
        let (item, capture) = prep
            .prepare_offline(&OfflineSale {
                kind: TxnKind::Purchase,
                amount,
                card: CardInput {
                    pan: pan.into(),
                    expiry: Some("3012".into()),
                    sequence: Some("001".into()),
                    track2: None,
                    entry: EntryMode::Chip,
                    icc: issuer.tc_for(pan, amount, (i % 65_535) as u16 + 1),
                    pin: None,
                },
                auth_code: "Y1".into(),
            })
            .map_err(SimError::Session)?;
        rows.push((
            advice_row(&item).map_err(|e| bench(&e))?,
            capture_row(&capture).map_err(|e| bench(&e))?,
        ));
    }
    drop(prep);
    let store = SqliteAcquirerStore::open(&dir.join("till.db")).map_err(|e| bench(&e))?;
    store.db().enqueue_advices(&rows).map_err(|e| bench(&e))?;
    drop(rows);
    let mut session = Session::new(store, client(), cfg, Box::new(SystemClock), key)
        .map_err(SimError::Session)?;
    // Connect first so both loops measure the same warm connection.
    session.echo().map_err(SimError::Session)?;

    let mut forward_samples = Vec::with_capacity(n / FORWARD_WINDOW + 1);
    let mut forward_time = Duration::ZERO;
    let mut delivered = 0usize;
    while delivered < n {
        let start = Instant::now();
        let outcomes = session
            .forward_window(FORWARD_WINDOW)
            .map_err(SimError::Session)?;
        let took = start.elapsed();
        let done = outcomes
            .iter()
            .filter(|o| matches!(o, ForwardOutcome::Delivered { .. }))
            .count();
        if done == 0 {
            return Err(SimError::Bench(format!(
                "forwarding stopped after {delivered} of {n} advices: {:?}",
                outcomes.last()
            )));
        }
        delivered += done;
        forward_time += took;
        forward_samples.push(took / u32::try_from(done).unwrap_or(u32::MAX));
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
    .map_err(|e| bench(&e))?;
    let mut bare_samples = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        session
            .client_mut()
            .exchange(&echo)
            .map_err(|e| bench(&e))?;
        bare_samples.push(start.elapsed());
    }
    let bare_time = bare_samples.iter().sum();
    drop(session);
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
        forward_samples,
        bare_samples,
    })
}

/// Where a simulator keeps its ledger by default.
pub fn default_db_path(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("acquirer-sim.db")
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn forwarding_bench_runs_small() {
        let b = bench_forwarding(40).unwrap();
        assert_eq!(b.advices, 40);
        assert_eq!(b.bare_samples.len(), 40);
        assert_eq!(b.forward_samples.len(), 2, "two pipelined windows");
        assert!(b.ratio > 0.0);
    }
}
