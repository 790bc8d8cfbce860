//! The till's side of the Abecs link: one command at a time over a serial line.
//!
//! Exchange, as Abecs 2.12 describes it and ACBr implements it:
//!
//! 1. The till sends the command packet and waits up to 2 s for ACK.
//!    NAK means the pad received it damaged: retransmit. Three attempts in all.
//! 2. Silence instead of ACK: the ACK may have been lost after the pad started
//!    the command, so the till sends CAN (which aborts a blocking command; the
//!    pad answers EOT) before retransmitting. The specification does not say
//!    what to do here; this keeps a retransmitted GPN from running twice.
//! 3. The till waits for the response packet: up to 10 s for ordinary commands
//!    (ACBr's `TIMEOUT_RSP`), up to the caller's limit for blocking ones (GPN,
//!    GKY), during which `NTM` notifications are handed to a callback. The till
//!    never ACKs a response; it answers NAK to a damaged one (the pad
//!    retransmits) and gives up after three damaged copies. A packet that stops
//!    arriving mid-way for 2 s counts as damaged.
//! 4. To abort a blocking command the till sends CAN and waits 2 s for EOT,
//!    three times at most.
//!
//! Noise between packets is skipped, and anything left on the line from an
//! earlier, aborted exchange is discarded before each new command. Every read
//! is bounded: the line is polled in short slices (50 ms by default) so the
//! cancel token is honoured promptly.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use super::command::{Capabilities, DeviceInfo, GetPin, Key, PinBlockData, Request, Response};
use super::frame::{self, Control, Event, FrameDecoder, FrameError};
use super::AbecsError;
use crate::pin::CancelToken;

/// A serial line as the link needs it: write bytes, read with a timeout.
///
/// Implemented for real ports ([`PortLine`]) and for an in-memory pipe
/// ([`memory_pair`]), so the same link runs against hardware, a pseudo-terminal
/// and unit tests.
pub trait SerialLine: Send {
    /// Writes all bytes.
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()>;

    /// Reads what is available, waiting at most `timeout`; `Ok(0)` means
    /// nothing arrived in time.
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize>;

    /// Drops bytes already received but not read.
    fn discard_input(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// How long a write to a real port may block.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// A [`SerialLine`] over a `serialport` port (hardware or pseudo-terminal).
pub struct PortLine {
    port: Box<dyn serialport::SerialPort>,
    timeout: Duration,
}

impl PortLine {
    /// Wraps an open port.
    pub fn new(port: Box<dyn serialport::SerialPort>) -> Self {
        let timeout = port.timeout();
        Self { port, timeout }
    }

    /// The port's name, when it has one.
    pub fn name(&self) -> Option<String> {
        self.port.name()
    }

    fn set_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        if self.timeout != timeout {
            self.port.set_timeout(timeout).map_err(io::Error::from)?;
            self.timeout = timeout;
        }
        Ok(())
    }
}

impl SerialLine for PortLine {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.set_timeout(WRITE_TIMEOUT)?;
        io::Write::write_all(&mut self.port, bytes)
    }

    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        self.set_timeout(timeout)?;
        match io::Read::read(&mut self.port, buf) {
            Ok(n) => Ok(n),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut
                        | io::ErrorKind::WouldBlock
                        | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(0)
            }
            Err(e) => Err(e),
        }
    }

    fn discard_input(&mut self) -> io::Result<()> {
        self.port
            .clear(serialport::ClearBuffer::Input)
            .map_err(io::Error::from)
    }
}

#[derive(Default)]
struct Pipe {
    bytes: VecDeque<u8>,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    pipe: Mutex<Pipe>,
    ready: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pipe> {
        self.pipe.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }
}

/// One end of an in-memory serial line; see [`memory_pair`]. Dropping an end
/// makes the other end's reads and writes fail like an unplugged port.
pub struct MemoryLine {
    rx: Arc<Shared>,
    tx: Arc<Shared>,
}

/// Two connected in-memory serial line ends.
pub fn memory_pair() -> (MemoryLine, MemoryLine) {
    let a = Arc::new(Shared::default());
    let b = Arc::new(Shared::default());
    (
        MemoryLine {
            rx: a.clone(),
            tx: b.clone(),
        },
        MemoryLine { rx: b, tx: a },
    )
}

impl Drop for MemoryLine {
    fn drop(&mut self) {
        self.rx.close();
        self.tx.close();
    }
}

impl SerialLine for MemoryLine {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut pipe = self.tx.lock();
        if pipe.closed {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "memory line closed",
            ));
        }
        pipe.bytes.extend(bytes);
        drop(pipe);
        self.tx.ready.notify_all();
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        let deadline = Instant::now() + timeout;
        let mut pipe = self.rx.lock();
        loop {
            if !pipe.bytes.is_empty() {
                let n = buf.len().min(pipe.bytes.len());
                for (slot, b) in buf.iter_mut().zip(pipe.bytes.drain(..n)) {
                    *slot = b;
                }
                return Ok(n);
            }
            if pipe.closed {
                return Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "memory line closed",
                ));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(0);
            }
            pipe = self
                .rx
                .ready
                .wait_timeout(pipe, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    fn discard_input(&mut self) -> io::Result<()> {
        self.rx.lock().bytes.clear();
        Ok(())
    }
}

/// Link timing. The defaults are the specification's; tests shorten them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkConfig {
    /// Wait for ACK after sending a command (spec: 2 s).
    pub ack_timeout: Duration,
    /// Attempts to send a command, and damaged responses tolerated (spec: 3).
    pub max_attempts: u32,
    /// Wait for the response of a non-blocking command (10 s, as ACBr).
    pub response_timeout: Duration,
    /// Longest pause between two bytes of one packet (2 s).
    pub inter_byte_timeout: Duration,
    /// Wait for EOT after CAN (2 s).
    pub eot_timeout: Duration,
    /// Slice in which the line is polled, bounding cancel latency.
    pub poll_interval: Duration,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            ack_timeout: Duration::from_secs(2),
            max_attempts: 3,
            response_timeout: Duration::from_secs(10),
            inter_byte_timeout: Duration::from_secs(2),
            eot_timeout: Duration::from_secs(2),
            poll_interval: Duration::from_millis(50),
        }
    }
}

/// Counters of link-level recovery, for diagnostics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Commands sent again after NAK or silence.
    pub retransmissions: u64,
    /// NAKs sent for damaged responses.
    pub naks_sent: u64,
    /// CAN bytes sent.
    pub cans_sent: u64,
    /// Bytes skipped as noise.
    pub noise_bytes: u64,
}

/// The till's side of an Abecs link over `L`.
pub struct Link<L: SerialLine> {
    line: L,
    config: LinkConfig,
    decoder: FrameDecoder,
    pending: VecDeque<Event>,
    last_byte: Instant,
    stats: LinkStats,
}

impl<L: SerialLine> Link<L> {
    /// A link over `line` with `config`.
    pub fn new(line: L, config: LinkConfig) -> Self {
        Self {
            line,
            config,
            decoder: FrameDecoder::new(),
            pending: VecDeque::new(),
            last_byte: Instant::now(),
            stats: LinkStats::default(),
        }
    }

    /// The link's timing.
    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// Recovery counters so far.
    pub fn stats(&self) -> LinkStats {
        LinkStats {
            noise_bytes: self.decoder.noise_bytes(),
            ..self.stats
        }
    }

    /// The underlying line.
    pub fn line_mut(&mut self) -> &mut L {
        &mut self.line
    }

    /// Gives the line back.
    pub fn into_line(self) -> L {
        self.line
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), AbecsError> {
        self.line
            .write_all(bytes)
            .map_err(|e| AbecsError::from_io(&e))
    }

    /// Next decoded event before `until`, or `None` at `until`.
    fn next_event(&mut self, until: Instant) -> Result<Option<Event>, AbecsError> {
        let mut buf = [0u8; 256];
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Ok(Some(e));
            }
            let now = Instant::now();
            let mut limit = until;
            if self.decoder.in_packet() {
                let stall = self.last_byte + self.config.inter_byte_timeout;
                if now >= stall {
                    self.decoder.reset();
                    return Ok(Some(Event::Corrupt(FrameError::Truncated)));
                }
                limit = limit.min(stall);
            }
            if now >= until {
                return Ok(None);
            }
            let wait = (limit - now).min(self.config.poll_interval);
            let n = self
                .line
                .read(&mut buf, wait)
                .map_err(|e| AbecsError::from_io(&e))?;
            let got = buf.get_mut(..n).unwrap_or_default();
            if !got.is_empty() {
                self.last_byte = Instant::now();
                let mut events = Vec::new();
                self.decoder.feed(got, &mut events);
                self.pending.extend(events);
            }
            zeroize::Zeroize::zeroize(got);
        }
    }

    /// Discards whatever an earlier exchange left on the line.
    fn drain_stale(&mut self) -> Result<(), AbecsError> {
        self.pending.clear();
        self.decoder.reset();
        self.line
            .discard_input()
            .map_err(|e| AbecsError::from_io(&e))?;
        let mut buf = [0u8; 256];
        for _ in 0..64 {
            let n = self
                .line
                .read(&mut buf, Duration::ZERO)
                .map_err(|e| AbecsError::from_io(&e))?;
            if n == 0 {
                break;
            }
        }
        Ok(())
    }

    /// Sends a command body and waits for its ACK, retransmitting as needed.
    fn send(&mut self, body: &[u8]) -> Result<(), AbecsError> {
        let wire = Zeroizing::new(frame::encode(body)?);
        self.drain_stale()?;
        let mut silent = 0;
        for attempt in 1..=self.config.max_attempts {
            if attempt > 1 {
                self.stats.retransmissions += 1;
            }
            self.write(&wire)?;
            let until = Instant::now() + self.config.ack_timeout;
            loop {
                match self.next_event(until)? {
                    Some(Event::Control(Control::Ack)) => return Ok(()),
                    Some(Event::Control(Control::Nak)) => break,
                    Some(_) => continue,
                    None => {
                        silent += 1;
                        tracing::debug!("no ACK from PIN pad (attempt {attempt})");
                        // The ACK may be lost while the pad already runs the command.
                        let _ = self.abort_once();
                        self.drain_stale()?;
                        break;
                    }
                }
            }
        }
        let attempts = self.config.max_attempts;
        Err(if silent > 0 {
            AbecsError::NoAck { attempts }
        } else {
            AbecsError::Rejected { attempts }
        })
    }

    /// Sends CAN once and waits for EOT; `Ok(true)` when it came.
    fn abort_once(&mut self) -> Result<bool, AbecsError> {
        self.stats.cans_sent += 1;
        self.write(&[frame::CAN])?;
        let until = Instant::now() + self.config.eot_timeout;
        while let Some(ev) = self.next_event(until)? {
            if ev == Event::Control(Control::Eot) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Aborts the blocking command in progress: CAN, wait for EOT, up to the
    /// configured number of attempts.
    pub fn abort(&mut self) -> Result<(), AbecsError> {
        for _ in 0..self.config.max_attempts {
            if self.abort_once()? {
                self.pending.clear();
                return Ok(());
            }
        }
        Err(AbecsError::CancelUnconfirmed)
    }

    /// Sends `request` and returns the pad's response, whatever its status.
    ///
    /// `wait` bounds the wait for the response of a blocking command (the
    /// configured response timeout applies to the others). While a blocking
    /// command runs, `cancel` aborts it (CAN/EOT) and `notify` receives the
    /// pad's notifications.
    pub fn execute(
        &mut self,
        request: &Request,
        wait: Option<Duration>,
        cancel: &CancelToken,
        notify: &mut dyn FnMut(&str),
    ) -> Result<Response, AbecsError> {
        let body = request.encode()?;
        let blocking = request.is_blocking();
        let wait = match (blocking, wait) {
            (true, Some(w)) => w,
            _ => self.config.response_timeout,
        };
        if blocking && cancel.is_cancelled() {
            return Err(AbecsError::Cancelled);
        }
        self.send(&body)?;
        let expected = request.id();
        let deadline = Instant::now() + wait;
        let mut corrupt = 0;
        loop {
            if blocking && cancel.is_cancelled() {
                self.abort()?;
                return Err(AbecsError::Cancelled);
            }
            let now = Instant::now();
            if now >= deadline {
                if blocking {
                    // The pad should have given up by itself; make sure it does.
                    let _ = self.abort();
                }
                return Err(AbecsError::ResponseTimeout {
                    command: expected.to_owned(),
                    waited: wait,
                });
            }
            let until = deadline.min(now + self.config.poll_interval);
            match self.next_event(until)? {
                None | Some(Event::Control(_)) => {}
                Some(Event::Frame(body)) => {
                    let body = Zeroizing::new(body);
                    let response = Response::parse(&body)?;
                    if let Some(message) = response.notification() {
                        notify(&message);
                        continue;
                    }
                    if response.id() == expected || response.id() == "ERR" {
                        return Ok(response);
                    }
                    return Err(AbecsError::UnexpectedResponse {
                        expected: expected.to_owned(),
                        got: response.id().to_owned(),
                    });
                }
                Some(Event::Corrupt(e)) => {
                    corrupt += 1;
                    tracing::debug!("damaged response from PIN pad: {e}");
                    if corrupt >= self.config.max_attempts {
                        return Err(AbecsError::CorruptResponse { attempts: corrupt });
                    }
                    self.stats.naks_sent += 1;
                    self.write(&[frame::NAK])?;
                }
            }
        }
    }

    fn simple(&mut self, request: &Request) -> Result<Response, AbecsError> {
        let response = self.execute(request, None, &CancelToken::new(), &mut |_| {})?;
        response.check(request.id())?;
        Ok(response)
    }

    /// OPN: opens the pad for use.
    pub fn open(&mut self) -> Result<(), AbecsError> {
        self.simple(&Request::Open).map(|_| ())
    }

    /// CLO: closes the pad, leaving `message` on its display.
    pub fn close(&mut self, message: Option<&str>) -> Result<(), AbecsError> {
        let request = Request::Close {
            message: message.map(str::to_owned),
        };
        self.simple(&request).map(|_| ())
    }

    /// GIN 00 (manufacturer, model, versions, serial), then the tillpoint
    /// extensions from `TXI`. A pad that does not know `TXI` (a standard
    /// pad answers `ERR` 010) has none, and the till uses standard
    /// commands only.
    pub fn device_info(&mut self) -> Result<DeviceInfo, AbecsError> {
        let response = self.simple(&Request::GetInfo { index: 0 })?;
        let mut info = DeviceInfo::from_response(&response)?;
        info.capabilities = match self.simple(&Request::ExtensionInfo) {
            Ok(r) => Capabilities::from_response(&r).unwrap_or_default(),
            Err(AbecsError::Status { .. } | AbecsError::UnexpectedResponse { .. }) => {
                Capabilities::default()
            }
            Err(AbecsError::Malformed(_)) => Capabilities::default(),
            Err(e) => return Err(e),
        };
        Ok(info)
    }

    /// DSP: two lines of 16 characters (`\n` separates them).
    pub fn display(&mut self, text: &str) -> Result<(), AbecsError> {
        self.simple(&Request::Display {
            text: text.to_owned(),
        })
        .map(|_| ())
    }

    /// DEX: free text, lines separated by `\n`.
    pub fn display_ex(&mut self, text: &str) -> Result<(), AbecsError> {
        self.simple(&Request::DisplayEx {
            text: text.to_owned(),
        })
        .map(|_| ())
    }

    /// GPN: asks the cardholder for the PIN; returns the encrypted block and KSN.
    pub fn get_pin(
        &mut self,
        request: &GetPin,
        wait: Duration,
        cancel: &CancelToken,
        notify: &mut dyn FnMut(&str),
    ) -> Result<PinBlockData, AbecsError> {
        let method = request.method;
        let response = self.execute(
            &Request::GetPin(request.clone()),
            Some(wait),
            cancel,
            notify,
        )?;
        PinBlockData::from_response(&response, method)
    }

    /// GKY: waits for a key on the pad.
    pub fn get_key(&mut self, wait: Duration, cancel: &CancelToken) -> Result<Key, AbecsError> {
        let response = self.execute(&Request::GetKey, Some(wait), cancel, &mut |_| {})?;
        Key::from_response(&response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abecs::command::Status;
    use std::thread;

    fn fast() -> LinkConfig {
        LinkConfig {
            ack_timeout: Duration::from_millis(150),
            max_attempts: 3,
            response_timeout: Duration::from_millis(500),
            inter_byte_timeout: Duration::from_millis(100),
            eot_timeout: Duration::from_millis(100),
            poll_interval: Duration::from_millis(10),
        }
    }

    /// Reads from `line` until a full packet or control byte arrives.
    fn recv(line: &mut MemoryLine, dec: &mut FrameDecoder) -> Event {
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut buf = [0u8; 1];
        loop {
            assert!(Instant::now() < deadline, "peer sent nothing");
            if line.read(&mut buf, Duration::from_millis(20)).unwrap() == 1 {
                if let Some(e) = dec.push(buf[0]) {
                    return e;
                }
            }
        }
    }

    fn send_response(line: &mut MemoryLine, body: &[u8]) {
        line.write_all(&frame::encode(body).unwrap()).unwrap();
    }

    #[test]
    fn nak_then_ack_retransmits() {
        let (host, mut pad) = memory_pair();
        let peer = thread::spawn(move || {
            let mut dec = FrameDecoder::new();
            assert_eq!(recv(&mut pad, &mut dec), Event::Frame(b"OPN".to_vec()));
            pad.write_all(&[frame::NAK]).unwrap();
            assert_eq!(recv(&mut pad, &mut dec), Event::Frame(b"OPN".to_vec()));
            pad.write_all(&[frame::ACK]).unwrap();
            send_response(&mut pad, b"OPN000");
            pad
        });
        let mut link = Link::new(host, fast());
        link.open().unwrap();
        assert_eq!(link.stats().retransmissions, 1);
        drop(peer.join().unwrap());
    }

    #[test]
    fn three_naks_give_up() {
        let (host, mut pad) = memory_pair();
        let peer = thread::spawn(move || {
            let mut dec = FrameDecoder::new();
            for _ in 0..3 {
                assert!(matches!(recv(&mut pad, &mut dec), Event::Frame(_)));
                pad.write_all(&[frame::NAK]).unwrap();
            }
            pad
        });
        let mut link = Link::new(host, fast());
        assert_eq!(link.open(), Err(AbecsError::Rejected { attempts: 3 }));
        drop(peer.join().unwrap());
    }

    #[test]
    fn damaged_response_is_nakked_and_resent() {
        let (host, mut pad) = memory_pair();
        let peer = thread::spawn(move || {
            let mut dec = FrameDecoder::new();
            assert!(matches!(recv(&mut pad, &mut dec), Event::Frame(_)));
            pad.write_all(&[frame::ACK]).unwrap();
            let mut bad = frame::encode(b"DSP000").unwrap();
            let n = bad.len();
            bad[n - 2] ^= 0xFF;
            pad.write_all(&bad).unwrap();
            assert_eq!(recv(&mut pad, &mut dec), Event::Control(Control::Nak));
            // Noise, then the response split in two writes.
            pad.write_all(&[0x41, 0x00, 0xFE]).unwrap();
            let good = frame::encode(b"DSP000").unwrap();
            pad.write_all(&good[..3]).unwrap();
            thread::sleep(Duration::from_millis(30));
            pad.write_all(&good[3..]).unwrap();
            pad
        });
        let mut link = Link::new(host, fast());
        link.display("HELLO").unwrap();
        assert_eq!(link.stats().naks_sent, 1);
        assert!(link.stats().noise_bytes >= 3);
        drop(peer.join().unwrap());
    }

    #[test]
    fn error_status_and_unexpected_response_are_typed() {
        let (host, mut pad) = memory_pair();
        let peer = thread::spawn(move || {
            let mut dec = FrameDecoder::new();
            recv(&mut pad, &mut dec);
            pad.write_all(&[frame::ACK]).unwrap();
            send_response(&mut pad, b"ERR010");
            recv(&mut pad, &mut dec);
            pad.write_all(&[frame::ACK]).unwrap();
            send_response(&mut pad, b"XYZ000");
            pad
        });
        let mut link = Link::new(host, fast());
        assert_eq!(
            link.open(),
            Err(AbecsError::Status {
                command: "OPN".into(),
                status: Status::InvalidCall
            })
        );
        assert!(matches!(
            link.open(),
            Err(AbecsError::UnexpectedResponse { .. })
        ));
        drop(peer.join().unwrap());
    }

    #[test]
    fn silent_pad_times_out_and_disconnect_is_reported() {
        let (host, pad) = memory_pair();
        let mut link = Link::new(host, fast());
        let started = Instant::now();
        assert_eq!(link.open(), Err(AbecsError::NoAck { attempts: 3 }));
        assert!(started.elapsed() < Duration::from_secs(3));
        drop(pad);
        assert!(link.open().unwrap_err().is_disconnect());
    }

    #[test]
    fn cancel_sends_can_and_waits_for_eot() {
        let (host, mut pad) = memory_pair();
        let cancel = CancelToken::new();
        let c2 = cancel.clone();
        let peer = thread::spawn(move || {
            let mut dec = FrameDecoder::new();
            recv(&mut pad, &mut dec);
            pad.write_all(&[frame::ACK]).unwrap();
            send_response(&mut pad, &Response::notify("HELLO").encode().unwrap());
            assert_eq!(recv(&mut pad, &mut dec), Event::Control(Control::Can));
            pad.write_all(&[frame::EOT]).unwrap();
            pad
        });
        let mut link = Link::new(host, fast());
        let mut notes = Vec::new();
        // The cashier cancels as soon as the notification shows.
        let r = link.execute(
            &Request::GetKey,
            Some(Duration::from_secs(5)),
            &cancel,
            &mut |m| {
                notes.push(m.to_owned());
                c2.cancel();
            },
        );
        assert_eq!(r, Err(AbecsError::Cancelled));
        assert_eq!(notes, vec!["HELLO".to_owned()]);
        drop(peer.join().unwrap());
    }
}
