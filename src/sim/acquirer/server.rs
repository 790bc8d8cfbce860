//! The simulator's TCP server and request processing.
//!
//! One thread per connection, each with its own ledger connection; every
//! read is bounded by an idle timeout and the profile's maximum frame
//! length. Each request is processed and its answer stored in one ledger
//! transaction, so repeats are answered from the ledger.

use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use time::OffsetDateTime;

use super::{bcd12, find_tag, Fault, Faults, IssuerVerifier};
use crate::acquirer::ledger::{
    HostLedger, LedgerError, LedgerTotals, LedgerTx, MessageKey, NewTxn, TxnSource, TxnStatus,
    UploadRow,
};
use tillpoint_core::tender::mask_pan;
use tillpoint_payment::acquirer::wire::{encode_cups, CupsFrame, HostProfile};
use tillpoint_payment::emv::tlv::Tlv;
use tillpoint_payment::iso8583::codec::{pack, unpack, Message};
use tillpoint_payment::iso8583::cups::{self, Header, Requirement, Tpdu};
use tillpoint_payment::iso8583::framing::{read_frame, write_frame, FrameError};
use tillpoint_payment::iso8583::messages::{
    get_totals, set_totals, EntryMode, OriginalData, Totals,
};
use tillpoint_payment::iso8583::profile::{field, network, processing, response};
use tillpoint_payment::iso8583::{Mti, HOST_PROFILE};

use super::host_keys::HostKeys;
use crate::link::{LinkSwitch, SwitchedListener};

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("simulator I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("invalid simulator configuration: {0}")]
    Config(&'static str),
    #[error("session error during benchmark: {0}")]
    Session(tillpoint_payment::acquirer::SessionError),
    #[error("benchmark failed: {0}")]
    Bench(String),
}

/// Simulator settings.
#[derive(Clone)]
pub struct SimConfig {
    pub listen: SocketAddr,
    pub db: PathBuf,
    pub verifier: Arc<dyn IssuerVerifier>,
    pub faults: Arc<Faults>,
    /// A connection idle this long is closed.
    pub idle_timeout: Duration,
    /// Connections beyond this are closed at once.
    pub max_connections: usize,
    /// Largest amount approved, in minor units (test-card rule 4).
    pub amount_limit: u64,
    /// Serve TLS with this configuration instead of plain TCP (`None`, the
    /// default), so the till's TLS link can be tested against a real host;
    /// build it with [`tillpoint_payment::acquirer::tls::server_config`].
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The host profile this host speaks (the till's must match).
    pub profile: HostProfile,
    /// Terminal keys (cups: the TMK and the working keys of each sign-on).
    pub keys: Arc<HostKeys>,
    /// The network between the till and this host (the demo's switch).
    pub link: LinkSwitch,
}

impl SimConfig {
    pub fn new(listen: SocketAddr, db: PathBuf, verifier: Arc<dyn IssuerVerifier>) -> Self {
        SimConfig {
            listen,
            db,
            verifier,
            faults: Arc::new(Faults::default()),
            idle_timeout: Duration::from_secs(120),
            max_connections: 64,
            amount_limit: 500_000,
            tls: None,
            profile: HostProfile::Generic,
            keys: Arc::new(HostKeys::default()),
            link: LinkSwitch::new(),
        }
    }
}

/// A running simulator.
pub struct SimHandle {
    addr: SocketAddr,
    db: PathBuf,
    faults: Arc<Faults>,
    keys: Arc<HostKeys>,
    link: LinkSwitch,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.addr)
            .finish()
    }
}

impl SimHandle {
    /// The bound address (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// The network between the till and this host: down, the host
    /// refuses connects and closes the ones it has.
    pub fn link(&self) -> &LinkSwitch {
        &self.link
    }

    /// The host's terminal keys (cups), for tests that make it forget them.
    pub fn keys(&self) -> &HostKeys {
        &self.keys
    }

    /// A separate connection to the ledger, for inspection.
    pub fn ledger(&self) -> Result<HostLedger, SimError> {
        Ok(HostLedger::open(&self.db)?)
    }

    /// Serves until the process is stopped (the `acquirer-sim` command,
    /// after it has printed the bound address).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Stops accepting; open connections end at their next read.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Binds and starts the simulator in the background.
pub fn start_acquirer_sim(cfg: SimConfig) -> Result<SimHandle, SimError> {
    // Create the schema once before serving.
    HostLedger::open(&cfg.db)?;
    let listener = SwitchedListener::new(TcpListener::bind(cfg.listen)?, cfg.link.clone())?;
    let addr = listener.addr();
    let stop = Arc::new(AtomicBool::new(false));
    let faults = cfg.faults.clone();
    let keys = cfg.keys.clone();
    let link = cfg.link.clone();
    let db = cfg.db.clone();
    let thread = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("acquirer-sim".into())
            .spawn(move || accept_loop(listener, cfg, stop))?
    };
    tracing::info!(%addr, "acquirer simulator listening");
    Ok(SimHandle {
        addr,
        db,
        faults,
        keys,
        link,
        stop,
        thread: Some(thread),
    })
}

/// Runs the simulator in the foreground (the `acquirer-sim` command) until
/// the process is stopped.
pub fn run_acquirer_sim(
    listen: SocketAddr,
    db: &Path,
    verifier: Arc<dyn IssuerVerifier>,
    faults: Arc<Faults>,
) -> Result<(), SimError> {
    let mut cfg = SimConfig::new(listen, db.to_path_buf(), verifier);
    cfg.faults = faults;
    let mut handle = start_acquirer_sim(cfg)?;
    if let Some(t) = handle.thread.take() {
        let _ = t.join();
    }
    Ok(())
}

fn accept_loop(mut listener: SwitchedListener, cfg: SimConfig, stop: Arc<AtomicBool>) {
    let active = Arc::new(AtomicUsize::new(0));
    let cfg = Arc::new(cfg);
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok(Some((stream, peer))) => {
                if active.load(Ordering::Relaxed) >= cfg.max_connections {
                    tracing::warn!(%peer, "too many connections; closing");
                    continue;
                }
                active.fetch_add(1, Ordering::Relaxed);
                let (cfg, stop, counter) = (cfg.clone(), stop.clone(), active.clone());
                let spawned = std::thread::Builder::new()
                    .name("acquirer-sim-conn".into())
                    .spawn(move || {
                        let served = match cfg.tls.clone() {
                            Some(tls) => serve_tls(stream, tls, &cfg, &stop),
                            None => serve(stream, &cfg, &stop),
                        };
                        if let Err(e) = served {
                            tracing::warn!(%peer, error = %e, "simulator connection ended");
                        }
                        counter.fetch_sub(1, Ordering::Relaxed);
                    });
                if spawned.is_err() {
                    active.fetch_sub(1, Ordering::Relaxed);
                }
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Waiting for a request is sliced so a stopped simulator notices within this time.
const POLL: Duration = Duration::from_millis(200);
/// Once a request has begun, the rest of its frame must arrive within this.
const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

fn serve(mut stream: TcpStream, cfg: &SimConfig, stop: &AtomicBool) -> Result<(), SimError> {
    stream.set_nonblocking(false)?;
    stream.set_nodelay(true)?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut ledger = HostLedger::open(&cfg.db)?;
    let mut idle = Duration::ZERO;
    loop {
        // A link taken down ends the connection between requests.
        if stop.load(Ordering::Relaxed) || !cfg.link.is_up() {
            return Ok(());
        }
        // Wait for the next request in short slices (so a stop is noticed),
        // then give the whole frame its own bound.
        stream.set_read_timeout(Some(POLL))?;
        let mut probe = [0u8; 1];
        match stream.peek(&mut probe) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                idle += POLL;
                if idle >= cfg.idle_timeout {
                    return Ok(());
                }
                continue;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return Ok(()),
        }
        // A request that arrives as the link goes down is lost with it.
        if !cfg.link.is_up() {
            return Ok(());
        }
        let frame = match read_frame(&mut stream, cfg.profile.max_frame_len(), FRAME_TIMEOUT) {
            Ok(f) => f,
            Err(FrameError::Closed) => return Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "bad frame from till; closing");
                return Ok(());
            }
        };
        idle = Duration::ZERO;
        // Requests already waiting whole in the socket (a pipelining till)
        // are answered with the first, in one ledger transaction.
        let mut frames = vec![frame];
        while frames.len() < MAX_BATCH {
            match buffered_frame(&mut stream, cfg.profile.max_frame_len()) {
                Some(f) => frames.push(f),
                None => break,
            }
        }
        let (answers, close) = process_batch(&mut ledger, cfg, &frames, OffsetDateTime::now_utc())?;
        // Answers go out together in one write (the till reads them as they
        // come); a delay or a fault flushes what is ready first.
        let mut ready = Vec::new();
        for (answer, delay, fault) in answers {
            if !delay.is_zero() {
                flush_answers(&mut stream, &mut ready)?;
                std::thread::sleep(delay);
            }
            let Some(answer) = answer else {
                flush_answers(&mut stream, &mut ready)?;
                tracing::warn!("undecodable request; closing");
                return Ok(());
            };
            match fault {
                Some(Fault::NoAnswer) => continue,
                Some(Fault::Garble) => {
                    let mut bad = answer;
                    // Mangle the MTI and the bytes after the bitmap so the
                    // answer is neither decodable nor matchable.
                    for (i, b) in bad.iter_mut().enumerate() {
                        if i < 4 || i % 3 == 0 {
                            *b ^= 0x5a;
                        }
                    }
                    write_frame(&mut ready, &bad).map_err(frame_io)?;
                }
                Some(Fault::Truncate) => {
                    flush_answers(&mut stream, &mut ready)?;
                    let len = u16::try_from(answer.len()).unwrap_or(u16::MAX);
                    let half = answer.get(..answer.len() / 2).unwrap_or(&[]);
                    stream.write_all(&len.to_be_bytes())?;
                    stream.write_all(half)?;
                    stream.flush()?;
                    return Ok(());
                }
                _ => write_frame(&mut ready, &answer).map_err(frame_io)?,
            }
        }
        flush_answers(&mut stream, &mut ready)?;
        if close {
            return Ok(());
        }
    }
}

/// Writes the answers collected so far in one go.
fn flush_answers(stream: &mut TcpStream, ready: &mut Vec<u8>) -> Result<(), SimError> {
    if !ready.is_empty() {
        stream.write_all(ready)?;
        stream.flush()?;
        ready.clear();
    }
    Ok(())
}

/// [`serve`] over TLS: the handshake and the wait for each request are
/// done in [`POLL`] slices on the socket (so a stop or the idle timeout is
/// noticed), then the frame is read through rustls under [`FRAME_TIMEOUT`].
/// A peer that does not speak TLS gets an alert and is closed.
fn serve_tls(
    stream: TcpStream,
    tls: Arc<rustls::ServerConfig>,
    cfg: &SimConfig,
    stop: &AtomicBool,
) -> Result<(), SimError> {
    stream.set_nonblocking(false)?;
    stream.set_nodelay(true)?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let conn =
        rustls::ServerConnection::new(tls).map_err(|e| SimError::Io(std::io::Error::other(e)))?;
    let mut tls = rustls::StreamOwned::new(conn, stream);
    let mut ledger = HostLedger::open(&cfg.db)?;
    let mut idle = Duration::ZERO;
    loop {
        // A link taken down ends the connection between requests.
        if stop.load(Ordering::Relaxed) || !cfg.link.is_up() {
            return Ok(());
        }
        // Handshake flights, alerts and session tickets go out first.
        while tls.conn.wants_write() {
            tls.conn.write_tls(&mut tls.sock)?;
        }
        let state = match tls.conn.process_new_packets() {
            Ok(state) => state,
            Err(e) => {
                tracing::warn!(error = %e, "TLS failure with till; closing");
                while tls.conn.wants_write() {
                    if tls.conn.write_tls(&mut tls.sock).is_err() {
                        break;
                    }
                }
                return Ok(());
            }
        };
        if state.plaintext_bytes_to_read() == 0 {
            if state.peer_has_closed() {
                return Ok(());
            }
            tls.sock.set_read_timeout(Some(POLL))?;
            match tls.conn.read_tls(&mut tls.sock) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    idle += POLL;
                    if idle >= cfg.idle_timeout {
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Ok(()),
            }
            continue;
        }
        let frame = match read_frame(&mut tls, cfg.profile.max_frame_len(), FRAME_TIMEOUT) {
            Ok(f) => f,
            Err(FrameError::Closed) => return Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "bad frame from till over TLS; closing");
                return Ok(());
            }
        };
        idle = Duration::ZERO;
        let (answers, close) =
            process_batch(&mut ledger, cfg, &[frame], OffsetDateTime::now_utc())?;
        if !send_tls_answers(&mut tls, answers)? || close {
            return Ok(());
        }
    }
}

/// Writes a batch's answers over TLS with their faults applied (as
/// [`serve`] does); `false` when the connection must be closed
/// (undecodable request, truncation fault).
fn send_tls_answers<W: Write>(
    stream: &mut W,
    answers: Vec<(Option<Vec<u8>>, Duration, Option<Fault>)>,
) -> Result<bool, SimError> {
    for (answer, delay, fault) in answers {
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        let Some(answer) = answer else {
            tracing::warn!("undecodable request; closing");
            return Ok(false);
        };
        match fault {
            Some(Fault::NoAnswer) => continue,
            Some(Fault::Garble) => {
                let mut bad = answer;
                for (i, b) in bad.iter_mut().enumerate() {
                    if i < 4 || i % 3 == 0 {
                        *b ^= 0x5a;
                    }
                }
                write_frame(stream, &bad).map_err(frame_io)?;
            }
            Some(Fault::Truncate) => {
                let len = u16::try_from(answer.len()).unwrap_or(u16::MAX);
                let half = answer.get(..answer.len() / 2).unwrap_or(&[]);
                stream.write_all(&len.to_be_bytes())?;
                stream.write_all(half)?;
                stream.flush()?;
                return Ok(false);
            }
            _ => write_frame(stream, &answer).map_err(frame_io)?,
        }
    }
    Ok(true)
}

/// Most requests answered in one ledger transaction.
const MAX_BATCH: usize = 64;

/// The next request if it is already entirely in the socket's buffer
/// (checked without blocking and without consuming anything otherwise).
fn buffered_frame(stream: &mut TcpStream, max_len: usize) -> Option<Vec<u8>> {
    if stream.set_nonblocking(true).is_err() {
        return None;
    }
    let mut header = [0u8; 2];
    let whole = match stream.peek(&mut header) {
        Ok(2) => {
            let len = usize::from(u16::from_be_bytes(header));
            if len == 0 || len > max_len {
                None
            } else {
                let mut probe = vec![0u8; len + 2];
                matches!(stream.peek(&mut probe), Ok(n) if n == len + 2).then_some(len)
            }
        }
        _ => None,
    };
    if stream.set_nonblocking(false).is_err() {
        return None;
    }
    let len = whole?;
    let mut buf = vec![0u8; len + 2];
    std::io::Read::read_exact(stream, &mut buf).ok()?;
    Some(buf.split_off(2))
}

fn frame_io(e: FrameError) -> SimError {
    match e {
        FrameError::Io(io) => SimError::Io(io),
        other => SimError::Io(std::io::Error::other(other.to_string())),
    }
}

/// Copies identity and context fields from the request into an answer.
fn answer_to(req: &Message, code: &str) -> Message {
    let mut m = Message::new(req.mti.response());
    for f in [
        field::PROCESSING_CODE,
        field::AMOUNT,
        field::TRANSMISSION,
        field::STAN,
        field::LOCAL_TIME,
        field::LOCAL_DATE,
        field::TID,
        field::MID,
        field::CURRENCY,
        field::BATCH,
        field::NETWORK_CODE,
    ] {
        if let Some(v) = req.get(f) {
            let _ = m.set(f, v.to_vec());
        }
    }
    let _ = m.set_str(field::RESPONSE_CODE, code);
    m
}

fn text(m: &Message, f: u8) -> Option<String> {
    m.get_str(f).map(|s| s.trim_end().to_owned())
}

fn luhn_ok(pan: &str) -> bool {
    if !(12..=19).contains(&pan.len()) || !pan.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = pan
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// PAN and expiry from field 2/14 or, failing that, track 2.
fn card_of(m: &Message) -> (Option<String>, Option<String>) {
    let track2 = m.get_str(field::TRACK2).unwrap_or("");
    let (t2_pan, t2_rest) = match track2.find(['=', 'D']) {
        Some(i) => (track2.get(..i), track2.get(i + 1..)),
        None => (None, None),
    };
    let pan = text(m, field::PAN).or_else(|| t2_pan.map(str::to_owned));
    let expiry =
        text(m, field::EXPIRY).or_else(|| t2_rest.and_then(|r| r.get(..4)).map(str::to_owned));
    (pan, expiry)
}

fn key_of(m: &Message) -> Option<MessageKey> {
    let tid = text(m, field::TID)?;
    let stan = m.get_str(field::STAN)?.to_owned();
    let tdate = m.get_str(field::TRANSMISSION)?.get(..4)?.to_owned();
    Some(MessageKey { tid, stan, tdate })
}

fn original_key(m: &Message, tid: &str) -> Option<MessageKey> {
    let o = OriginalData::decode(m.get_str(field::ORIGINAL_DATA)?)?;
    Some(MessageKey {
        tid: tid.to_owned(),
        stan: o.stan.to_string(),
        tdate: o.transmitted.mmdd(),
    })
}

fn to_totals(t: LedgerTotals) -> Totals {
    Totals {
        debits_count: t.debits_count,
        debits_amount: t.debits_amount,
        credits_count: t.credits_count,
        credits_amount: t.credits_amount,
    }
}

/// A decoded request: the message in the generic layout and, under cups,
/// where the answer goes and whether the MAC verified.
struct Incoming {
    msg: Message,
    tpdu: Option<Tpdu>,
    mac_ok: bool,
}

/// A decoded request frame: `None` when it cannot be answered at all.
fn decode(cfg: &SimConfig, frame: &[u8]) -> Option<Incoming> {
    let decoded = match cfg.profile {
        HostProfile::Generic => unpack(&HOST_PROFILE, frame)
            .map(|msg| Incoming {
                msg,
                tpdu: None,
                mac_ok: true,
            })
            .map_err(|e| e.to_string()),
        HostProfile::Cups(s) => CupsFrame::parse(frame)
            .and_then(|f| {
                let key = f.tid().and_then(|tid| cfg.keys.mac_key(tid));
                let mac_ok = match &key {
                    Some(k) => f.check_mac(s.mac, k).is_ok(),
                    None => !tillpoint_payment::acquirer::wire::carries_mac(f.wire.mti),
                };
                Ok(Incoming {
                    msg: f.to_generic()?,
                    tpdu: Some(f.tpdu),
                    mac_ok,
                })
            })
            .map_err(|e| e.to_string()),
    };
    match decoded {
        Ok(inc) if !inc.msg.mti.is_response() => Some(inc),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(error = %e, "undecodable request");
            None
        }
    }
}

/// The answer's bytes in the host's profile (cups: TPDU back to the till,
/// the header, and a MAC under the terminal's key; an A0 carries none).
fn encode(cfg: &SimConfig, inc: &Incoming, answer: &Message) -> Option<Vec<u8>> {
    match cfg.profile {
        HostProfile::Generic => pack(&HOST_PROFILE, answer).ok(),
        HostProfile::Cups(s) => {
            let tpdu = inc.tpdu.unwrap_or(s.tpdu).reversed();
            let mut header = Header::till();
            if cfg.keys.sign_on_asked() {
                header.requirement = Requirement::SignOn;
            }
            let tid = text(answer, field::TID).unwrap_or_default();
            let key = cfg.keys.mac_key(&tid);
            let mac = if answer.get_str(field::RESPONSE_CODE) == Some(response::MAC_ERROR) {
                None
            } else {
                key.as_ref().map(|k| (s.mac, &**k))
            };
            encode_cups(answer, tpdu, header, mac)
                .map_err(|e| tracing::warn!(error = %e, "answer does not encode"))
                .ok()
        }
    }
}

/// A stored answer for a repeat, encoded again under the terminal's
/// current MAC key (it may have signed on since).
fn re_encode(cfg: &SimConfig, inc: &Incoming, stored: Vec<u8>) -> Option<Vec<u8>> {
    match cfg.profile {
        HostProfile::Generic => Some(stored),
        HostProfile::Cups(_) => {
            let answer = CupsFrame::parse(&stored).ok()?.to_generic().ok()?;
            encode(cfg, inc, &answer)
        }
    }
}

/// Whether answering needs the ledger (everything but network management).
fn needs_ledger(req: &Incoming) -> bool {
    req.msg.mti != Mti::NETWORK && req.mac_ok
}

/// Processes one request frame in its own ledger transaction; `None` when
/// it cannot be answered at all. (The server batches; tests use this.)
#[cfg(test)]
pub(crate) fn process(
    ledger: &mut HostLedger,
    cfg: &SimConfig,
    frame: &[u8],
    now: OffsetDateTime,
) -> Result<Option<Vec<u8>>, SimError> {
    let Some(req) = decode(cfg, frame) else {
        return Ok(None);
    };
    if !needs_ledger(&req) {
        return answer_in(None, cfg, &req, now);
    }
    let tx = ledger.begin()?;
    let answer = answer_in(Some(&tx), cfg, &req, now)?;
    tx.commit()?;
    Ok(answer)
}

/// Answers one decoded request inside the caller's transaction (`None`
/// only for network management, which leaves no trace). The request's
/// changes and its stored answer are kept together or not at all.
fn answer_in(
    tx: Option<&LedgerTx<'_>>,
    cfg: &SimConfig,
    inc: &Incoming,
    now: OffsetDateTime,
) -> Result<Option<Vec<u8>>, SimError> {
    let req = &inc.msg;
    if !inc.mac_ok {
        // Nothing of a request whose MAC fails is believed or kept.
        tracing::warn!(mti = %req.mti, "request MAC does not verify: A0");
        return Ok(encode(cfg, inc, &answer_to(req, response::MAC_ERROR)));
    }
    if req.mti == Mti::NETWORK {
        return Ok(encode(cfg, inc, &network_answer(cfg, req)));
    }
    let Some(tx) = tx else {
        return Ok(encode(
            cfg,
            inc,
            &answer_to(req, response::SYSTEM_MALFUNCTION),
        ));
    };
    let Some(key) = key_of(req) else {
        return Ok(encode(cfg, inc, &answer_to(req, response::FORMAT_ERROR)));
    };
    let unix = now.unix_timestamp();
    if let Some((mti, stored)) = tx.replay(&key)? {
        let same_kind =
            Mti::from_ascii(mti.as_bytes()).is_some_and(|m| m.response() == req.mti.response());
        if same_kind {
            return Ok(re_encode(cfg, inc, stored));
        }
        return Ok(encode(cfg, inc, &answer_to(req, response::DUPLICATE)));
    }
    tx.begin_request()?;
    let ctx = Ctx {
        tx,
        cfg,
        req,
        key: &key,
        now,
    };
    let answer = match req.mti {
        Mti::FINANCIAL_REQUEST => ctx.financial()?,
        Mti::FINANCIAL_ADVICE | Mti::FINANCIAL_ADVICE_REPEAT => ctx.advice()?,
        Mti::REVERSAL | Mti::REVERSAL_REPEAT => ctx.reversal()?,
        Mti::SETTLEMENT => ctx.settlement()?,
        Mti::BATCH_UPLOAD => ctx.upload()?,
        _ => answer_to(req, response::INVALID_TRANSACTION),
    };
    let Some(bytes) = encode(cfg, inc, &answer) else {
        tx.undo_request()?;
        return Ok(None);
    };
    tx.record_message(&key, &req.mti.to_string(), &bytes, unix)?;
    tx.end_request()?;
    Ok(Some(bytes))
}

/// Sign-on, sign-off and echo. Under cups a sign-on issues the terminal
/// new working keys (field 62 of the answer) and a sign-off forgets them.
fn network_answer(cfg: &SimConfig, req: &Message) -> Message {
    let code = req.get_str(field::NETWORK_CODE);
    let mut answer = match code {
        Some(network::SIGN_ON | network::SIGN_OFF | network::ECHO) => {
            answer_to(req, response::APPROVED)
        }
        _ => return answer_to(req, response::FORMAT_ERROR),
    };
    if let HostProfile::Cups(_) = cfg.profile {
        let tid = text(req, field::TID).unwrap_or_default();
        match code {
            Some(network::SIGN_ON) => {
                let _ = answer.set(field::QR_CODE, cfg.keys.issue(&tid));
            }
            Some(network::SIGN_OFF) => cfg.keys.forget(&tid),
            _ => {}
        }
    }
    answer
}

/// Answers a batch of requests read together, in order, in ONE ledger
/// transaction (group commit: a till that pipelines its advices does not
/// pay a commit per advice). Every answer is produced after the commit
/// that covers it; faults apply per request as in single processing. The
/// result holds each answer with its fault and delay, and whether the
/// connection must close after them.
#[allow(clippy::type_complexity)] // a private, single-use shape
fn process_batch(
    ledger: &mut HostLedger,
    cfg: &SimConfig,
    frames: &[Vec<u8>],
    now: OffsetDateTime,
) -> Result<(Vec<(Option<Vec<u8>>, Duration, Option<Fault>)>, bool), SimError> {
    let requests: Vec<Option<Incoming>> = frames.iter().map(|f| decode(cfg, f)).collect();
    let tx = if requests.iter().flatten().any(needs_ledger) {
        Some(ledger.begin()?)
    } else {
        None
    };
    let mut out = Vec::with_capacity(frames.len());
    let mut close = false;
    for req in &requests {
        let (delay, fault) = cfg.faults.take();
        if fault == Some(Fault::DropAfterRead) {
            close = true;
            break;
        }
        let answer = match req {
            Some(r) => answer_in(tx.as_ref(), cfg, r, now)?,
            None => None,
        };
        let unanswerable = answer.is_none();
        out.push((answer, delay, fault));
        if unanswerable {
            close = true;
            break;
        }
    }
    if let Some(tx) = tx {
        tx.commit()?;
    }
    Ok((out, close))
}

struct Ctx<'a, 'l> {
    tx: &'a LedgerTx<'l>,
    cfg: &'a SimConfig,
    req: &'a Message,
    key: &'a MessageKey,
    now: OffsetDateTime,
}

impl Ctx<'_, '_> {
    fn base_txn(&self, status: TxnStatus, code: &str, source: TxnSource) -> NewTxn {
        let (pan, _) = card_of(self.req);
        NewTxn {
            key: self.key.clone(),
            mid: text(self.req, field::MID).unwrap_or_default(),
            batch: text(self.req, field::BATCH).unwrap_or_default(),
            transmitted: text(self.req, field::TRANSMISSION).unwrap_or_default(),
            mti: self.req.mti.to_string(),
            proc_code: text(self.req, field::PROCESSING_CODE).unwrap_or_default(),
            amount: self.amount().map_or(0, |a| i64::try_from(a).unwrap_or(0)),
            currency: text(self.req, field::CURRENCY).unwrap_or_default(),
            pan_masked: pan.as_deref().map(mask_pan),
            entry_mode: text(self.req, field::ENTRY_MODE),
            response_code: code.to_owned(),
            rrn: None,
            auth_code: None,
            decline_reason: None,
            status,
            source,
            original_id: None,
        }
    }

    fn amount(&self) -> Option<u64> {
        self.req.get_str(field::AMOUNT)?.parse().ok()
    }

    fn references(&self) -> Result<(String, String), SimError> {
        let id = self.tx.next_txn_id()?;
        let rrn = format!("{:012}", id);
        let auth = format!("{:06}", (id * 7919 + 104_729) % 1_000_000);
        Ok((rrn, auth))
    }

    /// Test-card rules 1-9 of PROFILE.md; `Ok(None)` means approve.
    fn decide(&self, is_purchase: bool) -> (Option<&'static str>, Option<&'static str>) {
        let req = self.req;
        let qr = req.get_str(field::QR_CODE);
        let (pan, expiry) = card_of(req);
        if (pan.is_none() && qr.is_none())
            || (req.has(field::PIN_BLOCK) && !req.has(field::SECURITY_INFO))
        {
            return (Some(response::FORMAT_ERROR), Some("format"));
        }
        let Some(amount) = self.amount() else {
            return (Some(response::FORMAT_ERROR), Some("format"));
        };
        if let Some(code) = qr {
            if code.ends_with("0000") {
                return (Some(response::INVALID_CARD), Some("qr code"));
            }
        } else if let Some(pan) = &pan {
            if !luhn_ok(pan) {
                return (Some(response::INVALID_CARD), Some("luhn"));
            }
            let current = format!(
                "{:02}{:02}",
                self.now.year() % 100,
                u8::from(self.now.month())
            );
            if let Some(e) = expiry.filter(|e| e.len() == 4) {
                if e < current {
                    return (Some(response::EXPIRED_CARD), Some("expired"));
                }
            }
        }
        if amount == 0 {
            return (Some(response::INVALID_AMOUNT), Some("amount"));
        }
        if amount > self.cfg.amount_limit {
            return (Some(response::EXCEEDS_LIMIT), Some("limit"));
        }
        if !is_purchase {
            return (None, None);
        }
        if let (Some(pan), Some(icc)) = (&pan, req.get(field::ICC)) {
            // The cryptogram covers 9F02, so it must be the amount asked for.
            let amount_matches = match find_tag(icc, 0x9f02) {
                Ok(Some(v)) => v == bcd12(amount),
                Ok(None) => true,
                Err(_) => false,
            };
            let psn = req.get_str(field::CARD_SEQUENCE);
            if !amount_matches || !matches!(self.cfg.verifier.verify_arqc(pan, psn, icc), Ok(true))
            {
                return (Some(response::DO_NOT_HONOUR), Some("arqc"));
            }
        }
        if let (Some(pan), Some(block), Some(ksn)) = (
            &pan,
            req.get(field::PIN_BLOCK),
            req.get(field::SECURITY_INFO),
        ) {
            let ok = if ksn == cups::SECURITY_CONTROL_PIN.as_bytes() {
                self.session_key_pin(pan, block)
            } else {
                self.cfg
                    .verifier
                    .recover_pin(pan, block, ksn)
                    .map(|pin| self.cfg.verifier.pin_matches(pan, &pin))
                    .unwrap_or(false)
            };
            if !ok {
                return (Some(response::INCORRECT_PIN), Some("pin"));
            }
        }
        match amount % 100 {
            51 => (Some(response::INSUFFICIENT_FUNDS), Some("funds")),
            5 => (Some(response::DO_NOT_HONOUR), Some("do not honour")),
            91 => (Some(response::ISSUER_UNAVAILABLE), Some("issuer")),
            _ => (None, None),
        }
    }

    /// A cups PIN block: format 0 under the terminal's session PIN key.
    fn session_key_pin(&self, pan: &str, block: &[u8]) -> bool {
        let tid = text(self.req, field::TID).unwrap_or_default();
        let (Some(key), Ok(block)) = (self.cfg.keys.pin_key(&tid), <[u8; 8]>::try_from(block))
        else {
            return false;
        };
        self.cfg
            .verifier
            .recover_session_pin(pan, &block, &key)
            .map(|pin| self.cfg.verifier.pin_matches(pan, &pin))
            .unwrap_or(false)
    }

    fn financial(&self) -> Result<Message, SimError> {
        let proc_code = self.req.get_str(field::PROCESSING_CODE).unwrap_or("");
        match proc_code {
            processing::REFUND if self.is_referenced() => return self.referenced_refund(),
            processing::PURCHASE | processing::REFUND => {}
            processing::VOID_PURCHASE => return self.void(),
            _ => return Ok(answer_to(self.req, response::INVALID_TRANSACTION)),
        }
        let (decline, reason) = self.decide(proc_code == processing::PURCHASE);
        let code = decline.unwrap_or(response::APPROVED);
        let mut answer = answer_to(self.req, code);
        let (rrn, auth) = self.references()?;
        let mut t = self.base_txn(
            if decline.is_some() {
                TxnStatus::Declined
            } else {
                TxnStatus::Approved
            },
            code,
            TxnSource::Online,
        );
        t.rrn = Some(rrn.clone());
        t.decline_reason = reason.map(str::to_owned);
        answer.set_str(field::RRN, &rrn).ok();
        if decline.is_none() {
            t.auth_code = Some(auth.clone());
            answer.set_str(field::AUTH_CODE, &auth).ok();
        }
        // Answer the card's ARQC with an ARPC whenever the ARQC verified.
        if let (Some(pan), Some(icc)) = (card_of(self.req).0, self.req.get(field::ICC)) {
            if reason != Some("arqc") && reason != Some("format") {
                let psn = self.req.get_str(field::CARD_SEQUENCE);
                let arc = [
                    code.as_bytes().first().copied().unwrap_or(b'0'),
                    code.as_bytes().get(1).copied().unwrap_or(b'0'),
                ];
                if let Ok(arpc) = self.cfg.verifier.make_arpc(&pan, psn, icc, arc) {
                    let mut tlv = Tlv::primitive(0x91, arpc).to_bytes();
                    if decline.is_none() {
                        tlv.extend(
                            self.cfg
                                .verifier
                                .scripts(&pan, psn, icc)
                                .unwrap_or_default(),
                        );
                    }
                    answer.set(field::ICC, tlv).ok();
                }
            }
        }
        let id = self.tx.insert_txn(&t, self.now.unix_timestamp())?;
        self.apply_orphan_reversal(id)?;
        Ok(answer)
    }

    /// If this request's reversal arrived first, reverse it now.
    fn apply_orphan_reversal(&self, id: i64) -> Result<(), SimError> {
        if let Some(reason) = self.tx.take_orphan_reversal(self.key)? {
            if let Some(row) = self.tx.get_txn(id)? {
                if row.status == TxnStatus::Approved {
                    self.reverse_row(&row, &reason)?;
                }
            }
        }
        Ok(())
    }

    fn reverse_row(
        &self,
        row: &crate::acquirer::ledger::TxnRow,
        reason: &str,
    ) -> Result<(), SimError> {
        self.tx.mark_reversed(row.id, reason)?;
        if row.proc_code == processing::VOID_PURCHASE {
            if let Some(voided) = row.original_id {
                self.tx.set_status(voided, TxnStatus::Approved)?;
            }
        }
        Ok(())
    }

    /// A refund or void that names its original instead of carrying a card
    /// (PROFILE.md, "Referenced refunds and voids").
    fn is_referenced(&self) -> bool {
        self.req.get_str(field::ENTRY_MODE) == Some(EntryMode::Referenced.code())
            && !self.req.has(field::PAN)
            && !self.req.has(field::QR_CODE)
    }

    /// Rule 10 of PROFILE.md: a referenced refund is approved when its
    /// original is an approved (not voided, not reversed) purchase of this
    /// terminal and all approved refunds against it, this one included, do
    /// not exceed it. The money goes back to the original's account.
    fn referenced_refund(&self) -> Result<Message, SimError> {
        let (Some(orig_key), Some(amount)) = (
            original_key(self.req, &self.key.tid),
            self.amount().and_then(|a| i64::try_from(a).ok()),
        ) else {
            return Ok(answer_to(self.req, response::FORMAT_ERROR));
        };
        let original = self.tx.find_txn(&orig_key)?;
        let (code, reason) = match &original {
            None => (response::ORIGINAL_NOT_FOUND, Some("original")),
            Some(o) if o.status != TxnStatus::Approved || o.proc_code != processing::PURCHASE => (
                response::INVALID_TRANSACTION,
                Some("original not refundable"),
            ),
            Some(_) if amount == 0 => (response::INVALID_AMOUNT, Some("amount")),
            Some(o) if self.tx.refunded_against(o.id)?.saturating_add(amount) > o.amount => {
                (response::INVALID_AMOUNT, Some("exceeds original"))
            }
            Some(_) => (response::APPROVED, None),
        };
        self.record_referenced(original.as_ref(), code, reason)
    }

    /// Records and answers a referenced refund or void.
    fn record_referenced(
        &self,
        original: Option<&crate::acquirer::ledger::TxnRow>,
        code: &str,
        reason: Option<&str>,
    ) -> Result<Message, SimError> {
        let approved = code == response::APPROVED;
        let mut answer = answer_to(self.req, code);
        let (rrn, auth) = self.references()?;
        let mut t = self.base_txn(
            if approved {
                TxnStatus::Approved
            } else {
                TxnStatus::Declined
            },
            code,
            TxnSource::Online,
        );
        t.rrn = Some(rrn.clone());
        t.decline_reason = reason.map(str::to_owned);
        t.original_id = original.map(|o| o.id);
        if t.pan_masked.is_none() {
            if let Some(o) = original {
                t.pan_masked = self.tx.masked_pan_of(o.id)?;
            }
        }
        answer.set_str(field::RRN, &rrn).ok();
        if approved {
            if let Some(o) = original.filter(|o| o.proc_code == processing::PURCHASE) {
                if self.req.get_str(field::PROCESSING_CODE) == Some(processing::VOID_PURCHASE) {
                    self.tx.set_status(o.id, TxnStatus::Voided)?;
                }
            }
            t.auth_code = Some(auth.clone());
            answer.set_str(field::AUTH_CODE, &auth).ok();
        }
        let id = self.tx.insert_txn(&t, self.now.unix_timestamp())?;
        self.apply_orphan_reversal(id)?;
        Ok(answer)
    }

    fn void(&self) -> Result<Message, SimError> {
        let Some(orig_key) = original_key(self.req, &self.key.tid) else {
            return Ok(answer_to(self.req, response::FORMAT_ERROR));
        };
        let original = self.tx.find_txn(&orig_key)?;
        let batch = text(self.req, field::BATCH).unwrap_or_default();
        let code = match &original {
            None => response::ORIGINAL_NOT_FOUND,
            Some(o)
                if o.status == TxnStatus::Approved
                    && o.proc_code == processing::PURCHASE
                    && o.batch == batch
                    && Some(o.amount) == self.amount().and_then(|a| i64::try_from(a).ok())
                    && self.tx.refunded_against(o.id)? == 0 =>
            {
                response::APPROVED
            }
            Some(_) => response::INVALID_TRANSACTION,
        };
        self.record_referenced(original.as_ref(), code, None)
    }

    fn advice(&self) -> Result<Message, SimError> {
        let proc_code = self.req.get_str(field::PROCESSING_CODE).unwrap_or("");
        let (pan, _) = card_of(self.req);
        if pan.is_none() || self.amount().is_none() {
            return Ok(answer_to(self.req, response::FORMAT_ERROR));
        }
        if proc_code != processing::PURCHASE && proc_code != processing::REFUND {
            return Ok(answer_to(self.req, response::INVALID_TRANSACTION));
        }
        let (rrn, _) = self.references()?;
        let mut t = self.base_txn(TxnStatus::Approved, response::APPROVED, TxnSource::Advice);
        t.rrn = Some(rrn.clone());
        t.auth_code = text(self.req, field::AUTH_CODE);
        self.tx.insert_txn(&t, self.now.unix_timestamp())?;
        let mut answer = answer_to(self.req, response::APPROVED);
        answer.set_str(field::RRN, &rrn).ok();
        Ok(answer)
    }

    fn reversal(&self) -> Result<Message, SimError> {
        let Some(orig_key) = original_key(self.req, &self.key.tid) else {
            return Ok(answer_to(self.req, response::FORMAT_ERROR));
        };
        let reason = text(self.req, field::REVERSAL_REASON).unwrap_or_default();
        let Some(original) = self.tx.find_txn(&orig_key)? else {
            // The original may still be on its way over another connection.
            self.tx.record_orphan_reversal(&orig_key, &reason)?;
            return Ok(answer_to(self.req, response::ORIGINAL_NOT_FOUND));
        };
        if original.status == TxnStatus::Approved {
            self.reverse_row(&original, &reason)?;
        }
        Ok(answer_to(self.req, response::APPROVED))
    }

    fn settlement(&self) -> Result<Message, SimError> {
        let tid = &self.key.tid;
        let batch = text(self.req, field::BATCH).unwrap_or_default();
        let Some(till) = get_totals(self.req) else {
            return Ok(answer_to(self.req, response::FORMAT_ERROR));
        };
        let after_upload =
            self.req.get_str(field::PROCESSING_CODE) == Some(processing::SETTLEMENT_AFTER_UPLOAD);
        let host = match self.tx.settled_totals(tid, &batch)? {
            Some(closed) => closed,
            None => {
                if after_upload {
                    let mid = text(self.req, field::MID).unwrap_or_default();
                    let currency = text(self.req, field::CURRENCY).unwrap_or_default();
                    let (dropped, added) = self.tx.apply_uploads(
                        tid,
                        &batch,
                        &mid,
                        &currency,
                        self.now.unix_timestamp(),
                    )?;
                    tracing::info!(dropped, added, "batch upload applied");
                }
                let host = self.tx.totals(tid, &batch)?;
                if to_totals(host) == till {
                    self.tx.close_batch(
                        tid,
                        &batch,
                        &host,
                        after_upload,
                        self.now.unix_timestamp(),
                    )?;
                }
                host
            }
        };
        let code = if to_totals(host) == till {
            response::APPROVED
        } else {
            response::RECONCILE_ERROR
        };
        let mut answer = answer_to(self.req, code);
        if set_totals(&mut answer, &to_totals(host)).is_err() {
            return Ok(answer_to(self.req, response::SYSTEM_MALFUNCTION));
        }
        Ok(answer)
    }

    fn upload(&self) -> Result<Message, SimError> {
        let Some(orig_key) = original_key(self.req, &self.key.tid) else {
            return Ok(answer_to(self.req, response::FORMAT_ERROR));
        };
        let (Some(amount), Some(proc_code)) = (
            self.amount().and_then(|a| i64::try_from(a).ok()),
            text(self.req, field::PROCESSING_CODE),
        ) else {
            return Ok(answer_to(self.req, response::FORMAT_ERROR));
        };
        let batch = text(self.req, field::BATCH).unwrap_or_default();
        if self.tx.settled_totals(&self.key.tid, &batch)?.is_some() {
            return Ok(answer_to(self.req, response::INVALID_TRANSACTION));
        }
        self.tx.record_upload(&UploadRow {
            key: orig_key,
            batch,
            proc_code,
            amount,
            rrn: text(self.req, field::RRN),
            auth_code: text(self.req, field::AUTH_CODE),
        })?;
        let mut answer = answer_to(self.req, response::APPROVED);
        for f in [field::RRN, field::AUTH_CODE] {
            if let Some(v) = self.req.get(f) {
                answer.set(f, v.to_vec()).ok();
            }
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acquirer::{test_pin_block, EmvIssuer};
    use tillpoint_payment::iso8583::messages::{
        self, CardInput, EntryMode, PinData, Stamp, Stan, TerminalIds, Timestamp, TxnKind,
    };
    use tillpoint_payment::iso8583::ReversalReason;

    struct Fixture {
        _dir: tempfile::TempDir,
        ledger: HostLedger,
        cfg: SimConfig,
        issuer: EmvIssuer,
        stan: u32,
    }

    const PAN: &str = "4761739001010010";

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("host.db");
        let issuer = EmvIssuer::test_cards();
        let cfg = SimConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            db.clone(),
            Arc::new(issuer.clone()),
        );
        Fixture {
            ledger: HostLedger::open(&db).unwrap(),
            _dir: dir,
            cfg,
            issuer,
            stan: 0,
        }
    }

    fn ids() -> TerminalIds {
        TerminalIds {
            tid: "TILL0001".into(),
            mid: "SHOP00000000001".into(),
            currency: 978,
        }
    }

    impl Fixture {
        fn stamp(&mut self) -> Stamp {
            self.stan += 1;
            let t = Timestamp::from_datetime(OffsetDateTime::now_utc());
            Stamp {
                stan: Stan::new(self.stan).unwrap(),
                transmitted: t,
                local: t,
                batch: 1,
            }
        }

        fn send(&mut self, m: &Message) -> Message {
            let bytes = pack(&HOST_PROFILE, m).unwrap();
            let out = process(
                &mut self.ledger,
                &self.cfg,
                &bytes,
                OffsetDateTime::now_utc(),
            )
            .unwrap()
            .unwrap();
            unpack(&HOST_PROFILE, &out).unwrap()
        }

        fn card(&self, amount: u64, pin: Option<&str>) -> CardInput {
            CardInput {
                pan: PAN.into(),
                expiry: Some("3012".into()),
                sequence: Some("001".into()),
                track2: None,
                entry: EntryMode::Chip,
                icc: Some(self.issuer.icc_for(PAN, amount, 1).unwrap()),
                pin: pin.map(|p| {
                    let (block, ksn) = test_pin_block(p, PAN, 1).unwrap();
                    PinData { block, ksn }
                }),
            }
        }
    }

    #[test]
    fn test_card_rules() {
        let mut f = fixture();
        let cases: [(u64, Option<&str>, &str); 7] = [
            (1000, Some("1234"), "00"),
            (1000, Some("9999"), "55"),
            (1251, None, "51"),
            (1205, None, "05"),
            (1291, None, "91"),
            (0, None, "13"),
            (500_001, None, "61"),
        ];
        for (amount, pin, expected) in cases {
            let card = f.card(amount, pin);
            let s = f.stamp();
            let m = messages::purchase(&ids(), &s, amount, &card).unwrap();
            let a = f.send(&m);
            assert_eq!(a.get_str(39), Some(expected), "amount {amount} pin {pin:?}");
            assert_eq!(a.mti, Mti::FINANCIAL_RESPONSE);
            assert_eq!(a.get(11), m.get(11));
            if expected == "00" {
                assert_eq!(a.get_str(38).map(str::len), Some(6));
                // Visa CVN 18: ARPC method 2, 91 = ARPC(4) || CSU(4)
                // with "issuer approves" set.
                let icc = a.get(55).unwrap();
                assert_eq!(&icc[..2], &[0x91, 0x08]);
                assert_eq!(&icc[6..10], &[0, 0x80, 0, 0]);
            }
        }
        // Bad Luhn, expired card, bad ARQC.
        let mut c = f.card(100, None);
        c.pan = "4761739001010011".into();
        let s = f.stamp();
        assert_eq!(
            f.send(&messages::purchase(&ids(), &s, 100, &c).unwrap())
                .get_str(39),
            Some("14")
        );
        let mut c = f.card(100, None);
        c.expiry = Some("1901".into());
        let s = f.stamp();
        assert_eq!(
            f.send(&messages::purchase(&ids(), &s, 100, &c).unwrap())
                .get_str(39),
            Some("54")
        );
        let c = f.card(999, None); // chip data for another amount
        let s = f.stamp();
        let a = f.send(&messages::purchase(&ids(), &s, 100, &c).unwrap());
        assert_eq!(a.get_str(39), Some("05"));
        assert!(!a.has(55), "no ARPC for a failed ARQC");
        let mut c = f.card(100, None);
        if let Some(icc) = c.icc.as_mut() {
            icc[10] ^= 0x01; // last ARQC byte (9F26 08 comes first)
        }
        let s = f.stamp();
        let a = f.send(&messages::purchase(&ids(), &s, 100, &c).unwrap());
        assert_eq!(a.get_str(39), Some("05"));
        // QR rules.
        let s = f.stamp();
        assert_eq!(
            f.send(&messages::qr_purchase(&ids(), &s, 100, "284500000000").unwrap())
                .get_str(39),
            Some("14")
        );
        let s = f.stamp();
        assert_eq!(
            f.send(&messages::qr_purchase(&ids(), &s, 100, "284512345678").unwrap())
                .get_str(39),
            Some("00")
        );
        let rows = f.ledger.txns("TILL0001").unwrap();
        assert!(rows.iter().all(|r| r.rrn.is_some()));
        assert_eq!(
            rows.iter()
                .filter(|r| r.status == TxnStatus::Approved)
                .count(),
            2
        );
    }

    #[test]
    fn repeats_are_answered_from_the_ledger() {
        let mut f = fixture();
        let card = f.card(700, None);
        let s = f.stamp();
        let advice =
            messages::offline_advice(&ids(), &s, TxnKind::Purchase, 700, &card, "Y1", false)
                .unwrap();
        let first = f.send(&advice);
        let repeat =
            messages::offline_advice(&ids(), &s, TxnKind::Purchase, 700, &card, "Y1", true)
                .unwrap();
        let second = f.send(&repeat);
        assert_eq!(first, second);
        assert_eq!(f.ledger.txns("TILL0001").unwrap().len(), 1);
    }

    #[test]
    fn referenced_refunds_are_held_to_the_original() {
        let mut f = fixture();
        let card = f.card(1000, None);
        let s1 = f.stamp();
        let p = f.send(&messages::purchase(&ids(), &s1, 1000, &card).unwrap());
        assert_eq!(p.get_str(39), Some("00"));
        let oref = messages::OriginalRef {
            data: OriginalData {
                mti: Mti::FINANCIAL_REQUEST,
                stan: s1.stan,
                transmitted: s1.transmitted,
            },
            rrn: p.get_str(37).unwrap().into(),
            auth_code: p.get_str(38).unwrap().into(),
        };
        let refund = |f: &mut Fixture, amount: u64, original: &messages::OriginalRef| {
            let s = f.stamp();
            let m = messages::referenced(&ids(), &s, TxnKind::Refund, amount, original).unwrap();
            f.send(&m).get_str(39).map(str::to_owned)
        };
        assert_eq!(refund(&mut f, 600, &oref).as_deref(), Some("00"));
        assert_eq!(
            refund(&mut f, 401, &oref).as_deref(),
            Some("13"),
            "above what is left"
        );
        assert_eq!(refund(&mut f, 400, &oref).as_deref(), Some("00"));
        assert_eq!(refund(&mut f, 1, &oref).as_deref(), Some("13"));
        let mut unknown = oref.clone();
        unknown.data.stan = Stan::new(999_000).unwrap();
        assert_eq!(refund(&mut f, 1, &unknown).as_deref(), Some("25"));
        let rows = f.ledger.txns("TILL0001").unwrap();
        let approved: Vec<_> = rows
            .iter()
            .filter(|r| r.proc_code == "200000" && r.status == TxnStatus::Approved)
            .collect();
        assert_eq!(approved.len(), 2);
        assert!(approved.iter().all(|r| r.original_id == Some(rows[0].id)));
        let totals = f.ledger.totals("TILL0001", "000001").unwrap();
        assert_eq!((totals.credits_count, totals.credits_amount), (2, 1000));
        // Refunded, it can no longer be voided.
        let s = f.stamp();
        let v =
            f.send(&messages::referenced(&ids(), &s, TxnKind::VoidPurchase, 1000, &oref).unwrap());
        assert_eq!(v.get_str(39), Some("12"));
    }

    #[test]
    fn reversal_void_and_reversal_of_void() {
        let mut f = fixture();
        let card = f.card(1000, None);
        let s1 = f.stamp();
        let p = f.send(&messages::purchase(&ids(), &s1, 1000, &card).unwrap());
        assert_eq!(p.get_str(39), Some("00"));
        let original = OriginalData {
            mti: Mti::FINANCIAL_REQUEST,
            stan: s1.stan,
            transmitted: s1.transmitted,
        };
        let oref = messages::OriginalRef {
            data: original,
            rrn: p.get_str(37).unwrap().into(),
            auth_code: p.get_str(38).unwrap().into(),
        };
        let s2 = f.stamp();
        let v = f.send(&messages::void_purchase(&ids(), &s2, 1000, &card, &oref).unwrap());
        assert_eq!(v.get_str(39), Some("00"));
        let totals = f.ledger.totals("TILL0001", "000001").unwrap();
        assert_eq!(totals.debits_count, 0);
        // Reverse the void: the purchase counts again.
        let s3 = f.stamp();
        let void_ref = OriginalData {
            mti: Mti::FINANCIAL_REQUEST,
            stan: s2.stan,
            transmitted: s2.transmitted,
        };
        let r = f.send(
            &messages::reversal(
                &ids(),
                &s3,
                &void_ref,
                TxnKind::VoidPurchase,
                1000,
                ReversalReason::CashierCancel,
                false,
            )
            .unwrap(),
        );
        assert_eq!(r.get_str(39), Some("00"));
        assert_eq!(
            f.ledger.totals("TILL0001", "000001").unwrap().debits_count,
            1
        );
        // Voiding again with a wrong amount is refused.
        let s4 = f.stamp();
        let bad = f.send(&messages::void_purchase(&ids(), &s4, 999, &card, &oref).unwrap());
        assert_eq!(bad.get_str(39), Some("12"));
        // Reversal of something unknown.
        let s5 = f.stamp();
        let unknown = OriginalData {
            mti: Mti::FINANCIAL_REQUEST,
            stan: Stan::new(4242).unwrap(),
            transmitted: s1.transmitted,
        };
        let r = f.send(
            &messages::reversal(
                &ids(),
                &s5,
                &unknown,
                TxnKind::Purchase,
                1,
                ReversalReason::Timeout,
                false,
            )
            .unwrap(),
        );
        assert_eq!(r.get_str(39), Some("25"));
    }

    #[test]
    fn reversal_before_its_original_still_reverses_it() {
        let mut f = fixture();
        let card = f.card(1000, None);
        let s1 = f.stamp();
        let original = OriginalData {
            mti: Mti::FINANCIAL_REQUEST,
            stan: s1.stan,
            transmitted: s1.transmitted,
        };
        let s2 = f.stamp();
        let r = f.send(
            &messages::reversal(
                &ids(),
                &s2,
                &original,
                TxnKind::Purchase,
                1000,
                ReversalReason::Timeout,
                false,
            )
            .unwrap(),
        );
        assert_eq!(r.get_str(39), Some("25"));
        let p = f.send(&messages::purchase(&ids(), &s1, 1000, &card).unwrap());
        assert_eq!(p.get_str(39), Some("00"));
        let rows = f.ledger.txns("TILL0001").unwrap();
        assert_eq!(rows[0].status, TxnStatus::Reversed);
        assert_eq!(rows[0].reversal_reason.as_deref(), Some("01"));
        assert_eq!(
            f.ledger.totals("TILL0001", "000001").unwrap().debits_count,
            0
        );
    }

    #[test]
    fn garbage_is_not_answered() {
        let mut f = fixture();
        assert_eq!(
            process(
                &mut f.ledger,
                &f.cfg,
                b"02\xff\xff",
                OffsetDateTime::now_utc()
            )
            .unwrap(),
            None
        );
        assert!(luhn_ok(PAN));
        assert!(!luhn_ok("4761739001010011"));
        assert!(!luhn_ok("47617390"));
    }
}
