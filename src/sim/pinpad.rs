//! Abecs PIN pad simulator: the pad's side of the protocol on a serial port,
//! for the demo and for tests over a real pseudo-terminal pair.
//!
//! It answers OPN, CLO, GIN, DSP, DEX, GPN (TDES DUKPT / format 0, and the
//! tillpoint AES DUKPT / format 4 extension, announced in GIN) and GKY, honours
//! CAN during blocking commands, retransmits on NAK and NAKs damaged packets.
//!
//! * **Keys.** It holds a TDES IPEK and an AES-128 initial key derived from the
//!   published test BDKs ([`TEST_TDES_BDK`], [`TEST_AES_BDK`]), so the acquirer
//!   simulator recovers PINs with the same BDKs. A real pad erases its initial
//!   key and keeps future keys; the simulator derives each transaction key from
//!   the initial key, which gives the same key.
//! * **KSN counters** live in a small TOML state file, advanced and written
//!   (temp file, fsync, rename) *before* a counter is used, so a restart never
//!   reuses a KSN. Counters follow the standards' rules (at most 10 / 16 one bits).
//! * **PIN input** comes from a script (one entry per GPN or GKY), from stdin, or
//!   from a channel of key presses (the GUI's on-screen pad). The simulator never
//!   prints, logs or stores a PIN.
//! * **Faults on demand** ([`Fault`], queued in a [`FaultQueue`]): noise bytes,
//!   bad CRC, a missing ACK, a NAKed command, slow or split answers, disconnect.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, BufRead, Write as _};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use tillpoint_payment::abecs::command::{
    Capabilities, DeviceInfo, GetPin, Key, PinBlockData, PinMethod, Request, RequestError,
    Response, Status,
};
use tillpoint_payment::abecs::frame::{self, Control, Event, FrameDecoder};
use tillpoint_payment::abecs::link::{PortLine, SerialLine};
use tillpoint_payment::pin::master_session;
use tillpoint_payment::pin::{dukpt_aes, dukpt_tdes, CancelToken};

/// ANSI X9.24-1 test BDK (0123456789ABCDEFFEDCBA9876543210).
pub const TEST_TDES_BDK: [u8; 16] = [
    0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10,
];
/// ANSI X9.24-1 test KSN with counter 0 (FFFF9876543210E00000).
pub const TEST_TDES_KSN: [u8; 10] = [0xFF, 0xFF, 0x98, 0x76, 0x54, 0x32, 0x10, 0xE0, 0x00, 0x00];
/// ANSI X9.24-3 test AES-128 BDK (FEDCBA9876543210F1F1F1F1F1F1F1F1).
pub const TEST_AES_BDK: [u8; 16] = [
    0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10, 0xF1, 0xF1, 0xF1, 0xF1, 0xF1, 0xF1, 0xF1, 0xF1,
];
/// ANSI X9.24-3 test initial key ID (1234567890123456).
pub const TEST_AES_IKID: [u8; 8] = [0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56];

/// A key on the simulated pad's keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PadKey {
    /// A digit 0 to 9.
    Digit(u8),
    /// OK / Enter.
    Enter,
    /// Clear.
    Clear,
    /// Cancel.
    Cancel,
    /// F1 to F4.
    Function(u8),
}

/// Where the simulated cardholder's key presses come from.
pub enum PinSource {
    /// One entry per GPN or GKY, in order: a PIN ("1234", typed then Enter),
    /// "CANCEL", "CLEAR", "ENTER" / "OK", "F1".."F4", or "TIMEOUT" (no input,
    /// the pad times out). When the script runs out, nobody types.
    Script(Vec<String>),
    /// Lines typed on stdin: digits then Enter, an empty line for Enter, "c" for
    /// Cancel, "clear", "f1".."f4".
    Stdin,
    /// Key presses sent by the GUI's on-screen pad.
    Channel(Receiver<PadKey>),
}

impl fmt::Debug for PinSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PinSource::Script(s) => write!(f, "Script({} entries)", s.len()),
            PinSource::Stdin => f.write_str("Stdin"),
            PinSource::Channel(_) => f.write_str("Channel"),
        }
    }
}

fn keys_for(entry: &str) -> Vec<PadKey> {
    let e = entry.trim();
    match e.to_ascii_uppercase().as_str() {
        "" | "ENTER" | "OK" => vec![PadKey::Enter],
        "C" | "CANCEL" => vec![PadKey::Cancel],
        "CLEAR" => vec![PadKey::Clear],
        "TIMEOUT" => vec![],
        "F1" => vec![PadKey::Function(1)],
        "F2" => vec![PadKey::Function(2)],
        "F3" => vec![PadKey::Function(3)],
        "F4" => vec![PadKey::Function(4)],
        _ if e.bytes().all(|b| b.is_ascii_digit()) => {
            let mut keys: Vec<PadKey> = e.bytes().map(|b| PadKey::Digit(b - b'0')).collect();
            keys.push(PadKey::Enter);
            keys
        }
        _ => vec![],
    }
}

/// A fault to inject into the next exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Send this many noise bytes before the next response.
    Noise(usize),
    /// Send the next response with a wrong CRC (a NAK gets the good copy).
    BadCrc,
    /// Ignore the next command: no ACK, no execution.
    DropAck,
    /// Answer the next command with NAK as if it arrived damaged.
    NakCommand,
    /// Delay the next response.
    Slow(Duration),
    /// Write the next response in small pieces with pauses.
    Split,
    /// Drop the line when the next command arrives and stay away this long.
    Disconnect(Duration),
}

impl Fault {
    fn on_command(&self) -> bool {
        matches!(
            self,
            Fault::DropAck | Fault::NakCommand | Fault::Disconnect(_)
        )
    }
}

impl FromStr for Fault {
    type Err = String;

    /// `noise[:N]`, `bad-crc`, `drop-ack`, `nak`, `slow:MS`, `split`,
    /// `disconnect[:MS]`: the spelling of the `--fault` option.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, arg) = s.split_once(':').map_or((s, None), |(n, a)| (n, Some(a)));
        let number = |default: u64| -> Result<u64, String> {
            arg.map_or(Ok(default), |a| {
                a.parse().map_err(|_| format!("bad number in fault {s:?}"))
            })
        };
        Ok(match name {
            "noise" => Fault::Noise(number(16)? as usize),
            "bad-crc" => Fault::BadCrc,
            "drop-ack" => Fault::DropAck,
            "nak" => Fault::NakCommand,
            "slow" => Fault::Slow(Duration::from_millis(number(3000)?)),
            "split" => Fault::Split,
            "disconnect" => Fault::Disconnect(Duration::from_millis(number(1000)?)),
            _ => return Err(format!("unknown fault {s:?}")),
        })
    }
}

/// Faults waiting to be injected; clone it to push faults while the simulator runs.
#[derive(Debug, Clone, Default)]
pub struct FaultQueue(Arc<Mutex<VecDeque<Fault>>>);

impl FaultQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues a fault for the next matching exchange.
    pub fn push(&self, fault: Fault) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(fault);
    }

    /// Faults not yet used.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether every queued fault has been used.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn take(&self, on_command: bool) -> Option<Fault> {
        let mut q = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let pos = q.iter().position(|f| f.on_command() == on_command)?;
        q.remove(pos)
    }
}

/// How a PIN entry ended (never carries the PIN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinOutcome {
    /// A PIN was entered and an encrypted block returned.
    Entered,
    /// The cardholder pressed Cancel.
    Cancelled,
    /// Nobody typed in time.
    TimedOut,
    /// The till aborted with CAN.
    Aborted,
    /// The pad failed (state file, key).
    Failed,
}

/// What the simulated pad shows, for the GUI's on-screen pad and for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimEvent {
    /// Text now on the display.
    Display(String),
    /// PIN entry started with this prompt and length limits.
    PinEntryStarted {
        /// Prompt.
        message: String,
        /// Minimum digits.
        min_len: u8,
        /// Maximum digits.
        max_len: u8,
    },
    /// Number of digits typed so far (for the asterisks).
    PinDigits(usize),
    /// PIN entry ended.
    PinEntryEnded(PinOutcome),
    /// GKY is waiting for a key.
    WaitingForKey,
}

/// Keys held by the simulated pad. Wiped on drop.
pub struct SimKeys {
    /// TDES IPEK and the KSN with counter 0.
    pub tdes: Option<(Zeroizing<[u8; 16]>, [u8; 10])>,
    /// AES-128 initial key and its initial key ID.
    pub aes: Option<(Zeroizing<[u8; 16]>, [u8; 8])>,
    /// Master key for GPN method 1 (MK/WK TDES), in the same slot: the
    /// terminal master key the acquirer's working keys come under.
    pub master: Option<Zeroizing<[u8; 16]>>,
}

impl SimKeys {
    /// Keys derived from the published test BDKs.
    pub fn test_keys() -> Self {
        Self {
            tdes: Some((
                dukpt_tdes::derive_ipek(&TEST_TDES_BDK, &TEST_TDES_KSN),
                TEST_TDES_KSN,
            )),
            aes: Some((
                dukpt_aes::derive_initial_key(&TEST_AES_BDK, &TEST_AES_IKID),
                TEST_AES_IKID,
            )),
            master: Some(Zeroizing::new(crate::acquirer::host_keys::DEMO_TMK)),
        }
    }
}

impl fmt::Debug for SimKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimKeys")
            .field(
                "tdes_ksn",
                &self.tdes.as_ref().map(|(_, k)| hex::encode_upper(k)),
            )
            .field(
                "aes_ikid",
                &self.aes.as_ref().map(|(_, i)| hex::encode_upper(i)),
            )
            .finish()
    }
}

/// Options of [`run_pinpad_sim`] (the `tillpoint pinpad-sim` command).
#[derive(Debug)]
pub struct SimOptions {
    /// Serial port or pseudo-terminal path to answer on.
    pub port: PathBuf,
    /// Line speed (19200 8N1 by default).
    pub baud_rate: u32,
    /// File keeping the KSN counters across restarts.
    pub state_file: PathBuf,
    /// Where key presses come from.
    pub pin_source: PinSource,
    /// DUKPT key slot (GPN_KEYIDX) that holds the keys.
    pub key_index: u8,
    /// Announce the AES DUKPT / format 4 extension in GIN.
    pub announce_aes: bool,
    /// The pad's own inactivity limit during PIN entry.
    pub pin_timeout: Duration,
    /// Send an NTM notification when PIN entry starts.
    pub notify_pin_entry: bool,
    /// Faults to inject; keep a clone to add more while running.
    pub faults: FaultQueue,
    /// Receives display and PIN entry events.
    pub events: Option<Sender<SimEvent>>,
    /// Stops the simulator when cancelled.
    pub stop: CancelToken,
    /// Keys held by the pad.
    pub keys: SimKeys,
    /// Pause before reopening the port after it failed.
    pub reopen_delay: Duration,
}

impl SimOptions {
    /// Options with the defaults: test keys in slot 00, AES announced, a 60 s
    /// pad timeout, 19200 baud, no PIN script.
    pub fn new(port: impl Into<PathBuf>, state_file: impl Into<PathBuf>) -> Self {
        Self {
            port: port.into(),
            baud_rate: 19_200,
            state_file: state_file.into(),
            pin_source: PinSource::Script(Vec::new()),
            key_index: 0,
            announce_aes: true,
            pin_timeout: Duration::from_secs(60),
            notify_pin_entry: true,
            faults: FaultQueue::new(),
            events: None,
            stop: CancelToken::new(),
            keys: SimKeys::test_keys(),
            reopen_delay: Duration::from_millis(500),
        }
    }
}

/// Why the simulator stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The serial port could not be opened.
    #[error("cannot open {path}: {reason}")]
    Port {
        /// Port path.
        path: String,
        /// Reason.
        reason: String,
    },
    /// The KSN state file cannot be read or written.
    #[error("KSN state file {path}: {reason}")]
    State {
        /// File path.
        path: String,
        /// Reason.
        reason: String,
    },
}

/// How one [`PinPadSim::serve`] call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServeEnd {
    /// The stop token was cancelled.
    Stopped,
    /// A [`Fault::Disconnect`] fired: drop the line and come back after this long.
    Disconnect(Duration),
    /// The line kept failing for longer than the grace period.
    LineLost(String),
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Counters {
    tdes_counter: u32,
    aes_counter: u32,
}

/// Persistent KSN counters.
#[derive(Debug)]
struct CounterStore {
    path: PathBuf,
    counters: Counters,
}

impl CounterStore {
    fn load(path: &Path) -> Result<Self, SimError> {
        let err = |reason: String| SimError::State {
            path: path.display().to_string(),
            reason,
        };
        let counters = match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|e| err(e.to_string()))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Counters::default(),
            Err(e) => return Err(err(e.to_string())),
        };
        Ok(Self {
            path: path.to_owned(),
            counters,
        })
    }

    fn save(&self) -> io::Result<()> {
        let text = toml::to_string(&self.counters).map_err(io::Error::other)?;
        let tmp = self.path.with_extension("tmp");
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Make the rename itself durable; not every platform can open a directory.
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }

    /// Advances a counter and persists it before returning it.
    fn advance(&mut self, aes: bool) -> Result<Option<u32>, io::Error> {
        let current = if aes {
            self.counters.aes_counter
        } else {
            self.counters.tdes_counter
        };
        let next = if aes {
            dukpt_aes::next_counter(current)
        } else {
            dukpt_tdes::next_counter(current)
        };
        let Some(next) = next else { return Ok(None) };
        if aes {
            self.counters.aes_counter = next;
        } else {
            self.counters.tdes_counter = next;
        }
        self.save()?;
        Ok(Some(next))
    }
}

struct PinState {
    request: GetPin,
    /// Entries still to take after this one (GPN_ENTRIES - 1 at first).
    remaining: u8,
    body: Zeroizing<Vec<u8>>,
    digits: Zeroizing<String>,
    deadline: Instant,
}

enum Busy {
    Idle,
    Pin(Box<PinState>),
    Key(Zeroizing<Vec<u8>>),
}

/// Poll slice of the simulator's loop.
const POLL: Duration = Duration::from_millis(5);

/// The simulated pad's state; survives reconnects of the line.
pub struct PinPadSim {
    keys: SimKeys,
    key_index: u8,
    announce_aes: bool,
    pin_timeout: Duration,
    notify_pin_entry: bool,
    faults: FaultQueue,
    events: Option<Sender<SimEvent>>,
    counters: CounterStore,
    script: VecDeque<String>,
    key_rx: Option<Receiver<PadKey>>,
    stdin_prompts: bool,
    pending_keys: VecDeque<PadKey>,
    busy: Busy,
    last_response: Option<Zeroizing<Vec<u8>>>,
    decoder: FrameDecoder,
    opened: bool,
    /// How long continuous line errors are tolerated (a pty master sees a hangup
    /// while the till reopens its end).
    pub line_error_grace: Duration,
}

impl PinPadSim {
    /// Builds the pad from the options (the port fields are not used here).
    pub fn new(opts: SimOptions) -> Result<Self, SimError> {
        let counters = CounterStore::load(&opts.state_file)?;
        let stdin_prompts = matches!(opts.pin_source, PinSource::Stdin);
        let (script, key_rx) = match opts.pin_source {
            PinSource::Script(s) => (s.into(), None),
            PinSource::Channel(rx) => (VecDeque::new(), Some(rx)),
            PinSource::Stdin => (VecDeque::new(), Some(spawn_stdin_reader())),
        };
        Ok(Self {
            keys: opts.keys,
            key_index: opts.key_index,
            announce_aes: opts.announce_aes,
            pin_timeout: opts.pin_timeout,
            notify_pin_entry: opts.notify_pin_entry,
            faults: opts.faults,
            events: opts.events,
            counters,
            script,
            key_rx,
            stdin_prompts,
            pending_keys: VecDeque::new(),
            busy: Busy::Idle,
            last_response: None,
            decoder: FrameDecoder::new(),
            opened: false,
            line_error_grace: Duration::from_secs(1),
        })
    }

    /// Whether the till has opened the pad (OPN) and not closed it (CLO) since.
    pub fn is_open(&self) -> bool {
        self.opened
    }

    /// Current (TDES, AES) KSN counters.
    pub fn counters(&self) -> (u32, u32) {
        (
            self.counters.counters.tdes_counter,
            self.counters.counters.aes_counter,
        )
    }

    fn emit(&self, event: SimEvent) {
        if let Some(tx) = &self.events {
            let _ = tx.send(event);
        }
    }

    /// Answers the protocol on `line` until stopped, disconnected by a fault, or
    /// the line fails for longer than [`PinPadSim::line_error_grace`].
    pub fn serve(&mut self, line: &mut dyn SerialLine, stop: &CancelToken) -> ServeEnd {
        self.decoder.reset();
        let mut buf = [0u8; 256];
        let mut failing_since: Option<Instant> = None;
        loop {
            if stop.is_cancelled() {
                self.abort_busy(PinOutcome::Aborted);
                return ServeEnd::Stopped;
            }
            self.tick(line);
            match line.read(&mut buf, POLL) {
                Ok(n) => {
                    failing_since = None;
                    let mut events = Vec::new();
                    let got = buf.get_mut(..n).unwrap_or_default();
                    self.decoder.feed(got, &mut events);
                    zeroize::Zeroize::zeroize(got);
                    for ev in events {
                        if let Some(end) = self.on_event(line, ev) {
                            return end;
                        }
                    }
                }
                Err(e) => {
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > self.line_error_grace {
                        self.abort_busy(PinOutcome::Aborted);
                        return ServeEnd::LineLost(e.to_string());
                    }
                    thread::sleep(POLL * 4);
                }
            }
        }
    }

    fn write(&mut self, line: &mut dyn SerialLine, bytes: &[u8]) {
        if let Err(e) = line.write_all(bytes) {
            tracing::debug!("PIN pad simulator: write failed: {e}");
        }
    }

    fn on_event(&mut self, line: &mut dyn SerialLine, event: Event) -> Option<ServeEnd> {
        match event {
            Event::Control(Control::Can) => {
                self.abort_busy(PinOutcome::Aborted);
                self.last_response = None;
                self.write(line, &[frame::EOT]);
            }
            Event::Control(Control::Nak) => {
                if let Some(wire) = self.last_response.clone() {
                    self.write(line, &wire);
                }
            }
            Event::Control(_) => {}
            Event::Corrupt(_) => self.write(line, &[frame::NAK]),
            Event::Frame(body) => return self.on_command(line, Zeroizing::new(body)),
        }
        None
    }

    fn on_command(
        &mut self,
        line: &mut dyn SerialLine,
        body: Zeroizing<Vec<u8>>,
    ) -> Option<ServeEnd> {
        let busy_body = match &self.busy {
            Busy::Idle => None,
            Busy::Pin(p) => Some(&p.body),
            Busy::Key(b) => Some(b),
        };
        if let Some(current) = busy_body {
            // A busy pad only listens for CAN; a retransmission of the command it
            // is running (its ACK was lost) is acknowledged again, not rerun.
            if **current == *body {
                self.write(line, &[frame::ACK]);
            }
            return None;
        }
        match self.faults.take(true) {
            Some(Fault::DropAck) => return None,
            Some(Fault::NakCommand) => {
                self.write(line, &[frame::NAK]);
                return None;
            }
            Some(Fault::Disconnect(d)) => return Some(ServeEnd::Disconnect(d)),
            _ => {}
        }
        self.write(line, &[frame::ACK]);
        self.last_response = None;
        match Request::parse(&body) {
            Err(RequestError::UnknownCommand(_)) => {
                self.respond(line, &Response::new("ERR", Status::InvalidCall, vec![]));
            }
            Err(RequestError::InvalidParameter(id, _)) => {
                self.respond(line, &Response::new(&id, Status::InvalidParameter, vec![]));
            }
            Ok(request) => self.execute(line, request, body),
        }
        None
    }

    fn execute(&mut self, line: &mut dyn SerialLine, request: Request, body: Zeroizing<Vec<u8>>) {
        let ok = |id: &str| Response::new(id, Status::Ok, vec![]);
        match request {
            Request::Open => {
                self.opened = true;
                self.respond(line, &ok("OPN"));
            }
            Request::Close { message } => {
                self.opened = false;
                self.emit(SimEvent::Display(message.unwrap_or_default()));
                self.respond(line, &ok("CLO"));
            }
            Request::GetInfo { index: 0 } => {
                let info = DeviceInfo {
                    manufacturer: "TILLPOINT".into(),
                    model: "SIMPAD;1MB".into(),
                    contactless: false,
                    os_version: "TILLPOINT SIM 1.0".into(),
                    spec_version: "2.12".into(),
                    manager_version: "001.00 250101".into(),
                    serial: "SIM00000001".into(),
                    capabilities: Capabilities::default(),
                };
                self.respond(line, &Response::new("GIN", Status::Ok, info.to_blocks()));
            }
            Request::GetInfo { .. } => {
                self.respond(
                    line,
                    &Response::new("GIN", Status::InvalidParameter, vec![]),
                );
            }
            Request::Display { text } | Request::DisplayEx { text } => {
                let id = if body.starts_with(b"DSP") {
                    "DSP"
                } else {
                    "DEX"
                };
                self.emit(SimEvent::Display(text));
                self.respond(line, &ok(id));
            }
            // The extensions exist only on a pad configured to announce
            // them; otherwise it is a strict Abecs pad, for which they are
            // unknown commands.
            Request::ExtensionInfo
            | Request::GetPin(GetPin {
                method: PinMethod::DukptAes,
                ..
            }) if !self.announce_aes => {
                self.respond(line, &Response::new("ERR", Status::InvalidCall, vec![]));
            }
            Request::ExtensionInfo => {
                let caps = Capabilities {
                    aes_dukpt_pin: self.keys.aes.is_some(),
                };
                self.respond(
                    line,
                    &Response::new("TXI", Status::Ok, vec![caps.to_block()]),
                );
            }
            Request::GetPin(request) => self.start_pin(line, request, body),
            Request::GetKey => {
                self.load_input("press a key");
                self.busy = Busy::Key(body);
                self.emit(SimEvent::WaitingForKey);
            }
        }
    }

    fn start_pin(&mut self, line: &mut dyn SerialLine, request: GetPin, body: Zeroizing<Vec<u8>>) {
        let supported = match request.method {
            PinMethod::DukptTdes => self.keys.tdes.is_some(),
            PinMethod::DukptAes => self.keys.aes.is_some(),
            PinMethod::MkWkTdes => {
                self.keys.master.is_some() && request.working_key.is_some_and(|k| k != [0; 16])
            }
            PinMethod::MkWkDes | PinMethod::DukptDes => false,
        };
        if !supported || request.key_index != self.key_index {
            self.respond(
                line,
                &Response::new(request.method.command(), Status::KeyMissing, vec![]),
            );
            return;
        }
        if self.notify_pin_entry {
            self.send_plain(line, &Response::notify("PIN ENTRY\nON PIN PAD"));
        }
        self.emit(SimEvent::PinEntryStarted {
            message: request.message.clone(),
            min_len: request.min_len,
            max_len: request.max_len,
        });
        self.load_input("enter the PIN");
        self.busy = Busy::Pin(Box::new(PinState {
            remaining: request.entries.saturating_sub(1),
            request,
            body,
            // Room for the longest PIN up front: growing would leave copies behind.
            digits: Zeroizing::new(String::with_capacity(12)),
            deadline: Instant::now() + self.pin_timeout,
        }));
    }

    /// Prepares the key presses for a new blocking command.
    fn load_input(&mut self, what: &str) {
        self.pending_keys.clear();
        if self.stdin_prompts {
            eprintln!("PIN pad: {what} (digits then Enter; empty line = OK, c = cancel)");
        }
        if let Some(rx) = &self.key_rx {
            // Keys pressed while nothing was asked are stale.
            while rx.try_recv().is_ok() {}
        } else if let Some(entry) = self.script.pop_front() {
            let entry = Zeroizing::new(entry);
            self.pending_keys.extend(keys_for(&entry));
        }
    }

    fn next_key(&mut self) -> Option<PadKey> {
        if let Some(k) = self.pending_keys.pop_front() {
            return Some(k);
        }
        let rx = self.key_rx.as_ref()?;
        match rx.try_recv() {
            Ok(k) => Some(k),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                self.key_rx = None;
                None
            }
        }
    }

    /// Advances the blocking command in progress: keys, pad timeout.
    fn tick(&mut self, line: &mut dyn SerialLine) {
        match &self.busy {
            Busy::Idle => {}
            Busy::Key(_) => {
                let key = match self.next_key() {
                    Some(PadKey::Enter) => Key::Enter,
                    Some(PadKey::Clear) => Key::Clear,
                    Some(PadKey::Cancel) => Key::Cancel,
                    Some(PadKey::Function(n)) => Key::Function(n),
                    Some(PadKey::Digit(_)) | None => return,
                };
                self.busy = Busy::Idle;
                self.respond(line, &Response::new("GKY", key.status(), vec![]));
            }
            Busy::Pin(_) => self.tick_pin(line),
        }
    }

    fn tick_pin(&mut self, line: &mut dyn SerialLine) {
        while let Some(key) = self.next_key() {
            let Busy::Pin(state) = &mut self.busy else {
                return;
            };
            match key {
                PadKey::Digit(d) => {
                    if state.digits.len() < usize::from(state.request.max_len) {
                        state.digits.push(char::from(b'0' + d.min(9)));
                    }
                    state.deadline = Instant::now() + self.pin_timeout;
                    let n = state.digits.len();
                    self.emit(SimEvent::PinDigits(n));
                }
                PadKey::Clear => {
                    zeroize::Zeroize::zeroize(&mut *state.digits);
                    self.emit(SimEvent::PinDigits(0));
                }
                PadKey::Cancel => {
                    let id = state.request.method.command();
                    self.end_pin(
                        line,
                        PinOutcome::Cancelled,
                        Response::new(id, Status::Cancel, vec![]),
                    );
                    return;
                }
                PadKey::Function(_) => {}
                PadKey::Enter => {
                    if state.digits.len() >= usize::from(state.request.min_len) {
                        if state.remaining == 0 {
                            self.finish_pin(line);
                            return;
                        }
                        // The next entry: the PIN typed again, from scratch.
                        state.remaining -= 1;
                        zeroize::Zeroize::zeroize(&mut *state.digits);
                        state.deadline = Instant::now() + self.pin_timeout;
                        let started = SimEvent::PinEntryStarted {
                            message: state.request.message.clone(),
                            min_len: state.request.min_len,
                            max_len: state.request.max_len,
                        };
                        self.emit(started);
                        self.load_input("enter the PIN again");
                        return;
                    }
                }
            }
        }
        if let Busy::Pin(state) = &self.busy {
            if Instant::now() >= state.deadline {
                let id = state.request.method.command();
                self.end_pin(
                    line,
                    PinOutcome::TimedOut,
                    Response::new(id, Status::Timeout, vec![]),
                );
            }
        }
    }

    fn end_pin(&mut self, line: &mut dyn SerialLine, outcome: PinOutcome, response: Response) {
        self.busy = Busy::Idle;
        self.emit(SimEvent::PinEntryEnded(outcome));
        self.respond(line, &response);
    }

    fn finish_pin(&mut self, line: &mut dyn SerialLine) {
        let Busy::Pin(state) = std::mem::replace(&mut self.busy, Busy::Idle) else {
            return;
        };
        let id = state.request.method.command();
        match self.encrypt(&state) {
            Ok(data) => {
                self.emit(SimEvent::PinEntryEnded(PinOutcome::Entered));
                self.respond(line, &data.to_response(state.request.method));
            }
            Err(status) => {
                self.emit(SimEvent::PinEntryEnded(PinOutcome::Failed));
                self.respond(line, &Response::new(id, status, vec![]));
            }
        }
    }

    fn encrypt(&mut self, state: &PinState) -> Result<PinBlockData, Status> {
        if state.request.method == PinMethod::MkWkTdes {
            // The working key under the master key, as GPN_WKENC carried
            // it: format 0 under the clear PIN key; no KSN (20 zeros).
            let master = self.keys.master.as_ref().ok_or(Status::KeyMissing)?;
            let wk = state.request.working_key.ok_or(Status::KeyMissing)?;
            let pin_key = master_session::unwrap(master, &wk);
            let block = master_session::encrypt_pin(&pin_key, &state.digits, &state.request.pan)
                .map_err(|_| Status::InvalidParameter)?;
            return Ok(PinBlockData {
                block: Zeroizing::new(block.to_vec()),
                ksn: vec![0; 10],
            });
        }
        let aes = state.request.method == PinMethod::DukptAes;
        let counter = match self.counters.advance(aes) {
            Ok(Some(c)) => c,
            Ok(None) => return Err(Status::KeyMissing),
            Err(e) => {
                tracing::error!("PIN pad simulator cannot save its KSN counter: {e}");
                return Err(Status::InternalError);
            }
        };
        let pin = state.digits.as_str();
        let pan = state.request.pan.as_str();
        if aes {
            let (ik, ikid) = self.keys.aes.as_ref().ok_or(Status::KeyMissing)?;
            let ksn = dukpt_aes::make_ksn(ikid, counter);
            let mut random = [0u8; 8];
            rand::thread_rng().fill_bytes(&mut random);
            let block = dukpt_aes::encrypt_pin(ik, &ksn, pin, pan, &random)
                .map_err(|_| Status::InvalidParameter)?;
            Ok(PinBlockData {
                block: Zeroizing::new(block.to_vec()),
                ksn: ksn.to_vec(),
            })
        } else {
            let (ipek, base) = self.keys.tdes.as_ref().ok_or(Status::KeyMissing)?;
            let ksn = dukpt_tdes::with_counter(base, counter);
            let block = dukpt_tdes::encrypt_pin(ipek, &ksn, pin, pan)
                .map_err(|_| Status::InvalidParameter)?;
            Ok(PinBlockData {
                block: Zeroizing::new(block.to_vec()),
                ksn: ksn.to_vec(),
            })
        }
    }

    fn abort_busy(&mut self, outcome: PinOutcome) {
        match std::mem::replace(&mut self.busy, Busy::Idle) {
            Busy::Idle => {}
            Busy::Key(_) => {}
            Busy::Pin(_) => self.emit(SimEvent::PinEntryEnded(outcome)),
        }
        self.pending_keys.clear();
    }

    /// Sends a notification: never faulted, never retransmitted.
    fn send_plain(&mut self, line: &mut dyn SerialLine, response: &Response) {
        if let Ok(Ok(wire)) = response.encode().map(|body| frame::encode(&body)) {
            self.write(line, &wire);
        }
    }

    /// Sends a response, applying at most one queued response fault.
    fn respond(&mut self, line: &mut dyn SerialLine, response: &Response) {
        let wire = match response.encode().map(|body| frame::encode(&body)) {
            Ok(Ok(w)) => Zeroizing::new(w),
            _ => {
                tracing::error!("PIN pad simulator built an oversize response");
                return;
            }
        };
        match self.faults.take(false) {
            Some(Fault::Noise(n)) => {
                let noise = noise_bytes(n);
                self.write(line, &noise);
                self.write(line, &wire);
            }
            Some(Fault::BadCrc) => {
                let mut bad = wire.clone();
                if let Some(last) = bad.last_mut() {
                    *last ^= 0x5A;
                }
                self.write(line, &bad);
            }
            Some(Fault::Slow(d)) => {
                thread::sleep(d);
                self.write(line, &wire);
            }
            Some(Fault::Split) => {
                for chunk in wire.chunks(3) {
                    self.write(line, chunk);
                    thread::sleep(Duration::from_millis(15));
                }
            }
            _ => self.write(line, &wire),
        }
        self.last_response = Some(wire);
    }
}

/// Line noise that contains no SYN, ETB, DC3 or control byte, so it exercises
/// the decoder's skipping without forging ACKs or CANs.
fn noise_bytes(n: usize) -> Vec<u8> {
    let mut rng = rand::thread_rng();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let b = (rng.next_u32() & 0xFF) as u8;
        if !matches!(
            b,
            frame::SYN
                | frame::ETB
                | frame::DC3
                | frame::ACK
                | frame::NAK
                | frame::EOT
                | frame::CAN
        ) {
            out.push(b);
        }
    }
    out
}

fn spawn_stdin_reader() -> Receiver<PadKey> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let stdin = io::stdin();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            let line = Zeroizing::new(line);
            for key in keys_for(&line) {
                if tx.send(key).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

fn open_port(path: &Path, baud: u32) -> Result<PortLine, SimError> {
    let name = path.to_string_lossy().into_owned();
    serialport::new(name.clone(), baud)
        .data_bits(serialport::DataBits::Eight)
        .parity(serialport::Parity::None)
        .stop_bits(serialport::StopBits::One)
        .flow_control(serialport::FlowControl::None)
        .timeout(POLL)
        .open()
        .map(PortLine::new)
        .map_err(|e| SimError::Port {
            path: name,
            reason: e.to_string(),
        })
}

/// Runs the simulator on `opts.port` until `opts.stop` is cancelled: the entry
/// point of `tillpoint pinpad-sim --port PATH`.
///
/// After a [`Fault::Disconnect`] or a failing port it closes the port, waits,
/// and opens the same path again.
pub fn run_pinpad_sim(opts: SimOptions) -> Result<(), SimError> {
    let port = opts.port.clone();
    let baud = opts.baud_rate;
    let stop = opts.stop.clone();
    let reopen_delay = opts.reopen_delay;
    let mut sim = PinPadSim::new(opts)?;
    let mut line = open_port(&port, baud)?;
    tracing::info!("PIN pad simulator answering on {}", port.display());
    loop {
        let pause = match sim.serve(&mut line, &stop) {
            ServeEnd::Stopped => return Ok(()),
            ServeEnd::Disconnect(d) => d,
            ServeEnd::LineLost(reason) => {
                tracing::warn!("PIN pad simulator: port failed ({reason}), reopening");
                reopen_delay
            }
        };
        drop(line);
        let deadline = Instant::now() + pause;
        while Instant::now() < deadline {
            if stop.is_cancelled() {
                return Ok(());
            }
            thread::sleep(POLL * 4);
        }
        line = loop {
            match open_port(&port, baud) {
                Ok(l) => break l,
                Err(e) if !stop.is_cancelled() => {
                    tracing::debug!("{e}; retrying");
                    thread::sleep(reopen_delay);
                }
                Err(_) => return Ok(()),
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tillpoint_payment::abecs::link::{memory_pair, Link, LinkConfig};
    use tillpoint_payment::pin::{recover_pin, BaseDerivationKeys, EncryptedPin, PinBlockFormat};

    fn fast() -> LinkConfig {
        LinkConfig {
            ack_timeout: Duration::from_millis(300),
            max_attempts: 3,
            response_timeout: Duration::from_millis(800),
            inter_byte_timeout: Duration::from_millis(200),
            eot_timeout: Duration::from_millis(300),
            poll_interval: Duration::from_millis(10),
        }
    }

    fn start(
        opts: SimOptions,
    ) -> (
        Link<tillpoint_payment::abecs::link::MemoryLine>,
        CancelToken,
        thread::JoinHandle<PinPadSim>,
    ) {
        let (host, mut pad) = memory_pair();
        let stop = CancelToken::new();
        let s = stop.clone();
        let mut sim = PinPadSim::new(opts).unwrap();
        let handle = thread::spawn(move || {
            sim.serve(&mut pad, &s);
            sim
        });
        (Link::new(host, fast()), stop, handle)
    }

    fn keys() -> BaseDerivationKeys {
        BaseDerivationKeys {
            tdes: Some(Zeroizing::new(TEST_TDES_BDK)),
            aes: Some(Zeroizing::new(TEST_AES_BDK)),
        }
    }

    fn gpn(method: PinMethod) -> GetPin {
        GetPin {
            method,
            key_index: 0,
            pan: Zeroizing::new("4012345678909".into()),
            min_len: 4,
            max_len: 12,
            message: "EUR 1.00\nENTER PIN".into(),
            entries: 1,
            working_key: None,
        }
    }

    #[test]
    fn script_pins_both_formats_and_counters_persist() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("ksn.toml");
        let mut opts = SimOptions::new("unused", &state);
        opts.pin_source = PinSource::Script(vec!["1234".into(), "987654".into()]);
        let (mut link, stop, handle) = start(opts);
        let cancel = CancelToken::new();
        let d = link
            .get_pin(
                &gpn(PinMethod::DukptTdes),
                Duration::from_secs(2),
                &cancel,
                &mut |_| {},
            )
            .unwrap();
        assert_eq!(hex::encode_upper(&d.ksn), "FFFF9876543210E00001");
        // ANSI X9.24-1 Annex A: first block for PIN 1234 / PAN 4012345678909.
        assert_eq!(hex::encode_upper(&d.block[..]), "1B9C1845EB993A7A");
        let a = link
            .get_pin(
                &gpn(PinMethod::DukptAes),
                Duration::from_secs(2),
                &cancel,
                &mut |_| {},
            )
            .unwrap();
        assert_eq!(hex::encode_upper(&a.ksn), "123456789012345600000001");
        let e = EncryptedPin::new(
            a.block.to_vec(),
            a.ksn.clone(),
            PinBlockFormat::Iso4AesDukpt,
        )
        .unwrap();
        assert_eq!(
            recover_pin(&keys(), &e, "4012345678909").unwrap().as_str(),
            "987654"
        );
        stop.cancel();
        let sim = handle.join().unwrap();
        assert_eq!(sim.counters(), (1, 1));
        drop(sim);
        // A restarted pad continues after the persisted counters.
        let mut opts = SimOptions::new("unused", &state);
        opts.pin_source = PinSource::Script(vec!["1234".into()]);
        let (mut link, stop, handle) = start(opts);
        let d = link
            .get_pin(
                &gpn(PinMethod::DukptTdes),
                Duration::from_secs(2),
                &cancel,
                &mut |_| {},
            )
            .unwrap();
        assert_eq!(hex::encode_upper(&d.ksn), "FFFF9876543210E00002");
        assert_eq!(hex::encode_upper(&d.block[..]), "10A01C8D02C69107");
        stop.cancel();
        handle.join().unwrap();
    }

    #[test]
    fn corrupt_state_file_is_an_error_not_a_reset() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("ksn.toml");
        std::fs::write(&state, "tdes_counter = \"many\"").unwrap();
        assert!(matches!(
            PinPadSim::new(SimOptions::new("unused", &state)),
            Err(SimError::State { .. })
        ));
    }

    #[test]
    fn fault_spellings() {
        assert_eq!("noise:8".parse::<Fault>(), Ok(Fault::Noise(8)));
        assert_eq!("bad-crc".parse::<Fault>(), Ok(Fault::BadCrc));
        assert_eq!(
            "slow:250".parse::<Fault>(),
            Ok(Fault::Slow(Duration::from_millis(250)))
        );
        assert_eq!(
            "disconnect".parse::<Fault>(),
            Ok(Fault::Disconnect(Duration::from_secs(1)))
        );
        assert!("melt".parse::<Fault>().is_err());
        assert!(noise_bytes(500)
            .iter()
            .all(|b| !matches!(*b, 0x04 | 0x06 | 0x13 | 0x15..=0x18)));
    }

    #[test]
    fn script_entries_map_to_keys() {
        assert_eq!(
            keys_for("12"),
            vec![PadKey::Digit(1), PadKey::Digit(2), PadKey::Enter]
        );
        assert_eq!(keys_for("cancel"), vec![PadKey::Cancel]);
        assert_eq!(keys_for("F3"), vec![PadKey::Function(3)]);
        assert_eq!(keys_for("TIMEOUT"), vec![]);
    }
}
