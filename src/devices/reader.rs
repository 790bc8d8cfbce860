//! PC/SC card reader adapter (pcsc-lite through the `pcsc` crate): list
//! readers, wait for a card to be inserted or removed (cancellable),
//! connect with T=0 or T=1, and a [`CardChannel`] whose every exchange is
//! bounded by a timeout.
//!
//! pcsc-lite's `SCardTransmit` has no timeout of its own and a dead card
//! (or a virtual one that stops answering) can block it for good, so each
//! card gets one worker thread that owns the handle; the caller waits for
//! the worker's answer with a deadline. After a timeout the channel refuses
//! further use: the stuck call may still complete and its answer must never
//! be taken for the next command's.

use std::ffi::CString;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pcsc::{Context, Disposition, Protocols, ReaderState, Scope, ShareMode, State};
use thiserror::Error;

use tillpoint_payment::emv::apdu::{CardChannel, ChannelError};

/// Default bound on one APDU exchange. DDA and GENERATE AC on slow chips
/// take up to ~1-2 s; 5 s leaves margin without hanging the till.
pub const DEFAULT_APDU_TIMEOUT: Duration = Duration::from_secs(5);

/// Reader-level failures, worded for the cashier's screen and the log.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReaderError {
    /// pcscd is not running or not reachable.
    #[error("the smart card service (pcscd) is not running")]
    NoService,
    /// No reader is connected at all.
    #[error("no card reader is connected")]
    NoReader,
    /// The named reader is not (or no longer) connected.
    #[error("card reader {0:?} is not connected")]
    ReaderNotFound(String),
    /// The reader holds no card.
    #[error("no card in the reader")]
    NoCard,
    /// The card was removed.
    #[error("card removed")]
    CardRemoved,
    /// The card does not answer to reset.
    #[error("the card does not respond (inserted the wrong way round?)")]
    Unresponsive,
    /// Waiting timed out.
    #[error("timed out waiting for the card reader")]
    Timeout,
    /// The wait was cancelled through a [`Canceller`].
    #[error("cancelled")]
    Cancelled,
    /// Anything else pcsc-lite reports.
    #[error("PC/SC error: {0}")]
    Pcsc(String),
}

impl ReaderError {
    fn from_pcsc(e: pcsc::Error, reader: &str) -> ReaderError {
        use pcsc::Error as E;
        match e {
            E::NoService | E::ServiceStopped => ReaderError::NoService,
            E::NoReadersAvailable => ReaderError::NoReader,
            E::UnknownReader | E::ReaderUnavailable => {
                ReaderError::ReaderNotFound(reader.to_string())
            }
            E::NoSmartcard => ReaderError::NoCard,
            E::RemovedCard => ReaderError::CardRemoved,
            E::UnresponsiveCard | E::UnpoweredCard => ReaderError::Unresponsive,
            E::Timeout => ReaderError::Timeout,
            E::Cancelled | E::SystemCancelled => ReaderError::Cancelled,
            other => ReaderError::Pcsc(other.to_string()),
        }
    }
}

fn channel_error(e: pcsc::Error) -> ChannelError {
    use pcsc::Error as E;
    match e {
        E::RemovedCard | E::NoSmartcard => ChannelError::CardRemoved,
        E::ResetCard => ChannelError::CardReset,
        E::ReaderUnavailable
        | E::UnknownReader
        | E::NoReadersAvailable
        | E::NoService
        | E::ServiceStopped => ChannelError::NoReader,
        E::Timeout => ChannelError::Timeout(0),
        E::Cancelled => ChannelError::Cancelled,
        other => ChannelError::Transport(other.to_string()),
    }
}

fn establish() -> Result<Context, ReaderError> {
    Context::establish(Scope::User).map_err(|e| ReaderError::from_pcsc(e, ""))
}

/// Names of the connected readers (empty when pcscd runs but none is
/// plugged in). Used by `tillpoint readers`.
pub fn list_readers() -> Result<Vec<String>, ReaderError> {
    let ctx = establish()?;
    match ctx.list_readers_owned() {
        Ok(names) => Ok(names
            .into_iter()
            .map(|n| n.to_string_lossy().into_owned())
            .collect()),
        Err(pcsc::Error::NoReadersAvailable) => Ok(Vec::new()),
        Err(e) => Err(ReaderError::from_pcsc(e, "")),
    }
}

/// Cancels a blocking wait on a [`Reader`] from another thread (the GUI's
/// "cancel" button while the till waits for a card).
#[derive(Clone)]
pub struct Canceller(Context);

impl Canceller {
    /// Wakes up the waiting thread with [`ReaderError::Cancelled`].
    pub fn cancel(&self) -> Result<(), ReaderError> {
        self.0.cancel().map_err(|e| ReaderError::from_pcsc(e, ""))
    }
}

/// The `[reader]` section: which PC/SC reader takes inserted cards (part
/// of its name is enough; empty: the first one) and which one takes taps
/// (part of its name; empty: no contactless reader).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct ReaderConfig {
    pub name: String,
    pub contactless: String,
}

impl ReaderConfig {
    /// Read like every section (a bad field falls back alone, with a
    /// warning); `None` when the till has no `[reader]`, so no card reader.
    pub fn load(
        config: &tillpoint_config::Config,
        warnings: &mut Vec<String>,
    ) -> Option<ReaderConfig> {
        config.sections.get("reader")?;
        Some(config.section("reader", warnings))
    }
}

/// One card reader.
pub struct Reader {
    ctx: Context,
    name: CString,
}

impl Reader {
    /// Opens the named reader, or the first one when `name` is `None`.
    pub fn open(name: Option<&str>) -> Result<Reader, ReaderError> {
        let ctx = establish()?;
        let names = match ctx.list_readers_owned() {
            Ok(n) => n,
            Err(pcsc::Error::NoReadersAvailable) => Vec::new(),
            Err(e) => return Err(ReaderError::from_pcsc(e, "")),
        };
        let found = match name {
            Some(wanted) => names.into_iter().find(|n| n.to_string_lossy() == wanted),
            None => names.into_iter().next(),
        };
        match (found, name) {
            (Some(n), _) => Ok(Reader { ctx, name: n }),
            (None, Some(wanted)) => Err(ReaderError::ReaderNotFound(wanted.to_string())),
            (None, None) => Err(ReaderError::NoReader),
        }
    }

    /// The reader's name as pcscd reports it.
    pub fn name(&self) -> String {
        self.name.to_string_lossy().into_owned()
    }

    /// A handle that cancels this reader's waits from another thread.
    pub fn canceller(&self) -> Canceller {
        Canceller(self.ctx.clone())
    }

    /// After the reader was unplugged (or pcscd restarted), finds it again
    /// by name with a fresh context, waiting up to `timeout`.
    pub fn reconnect(&mut self, timeout: Duration) -> Result<(), ReaderError> {
        let deadline = Instant::now() + timeout;
        let wanted = self.name();
        loop {
            match Reader::open(Some(&wanted)) {
                Ok(r) => {
                    *self = r;
                    return Ok(());
                }
                Err(
                    e @ (ReaderError::ReaderNotFound(_)
                    | ReaderError::NoReader
                    | ReaderError::NoService),
                ) => {
                    if Instant::now() >= deadline {
                        return Err(e);
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn wait_until(&self, timeout: Duration, want_card: bool) -> Result<Vec<u8>, ReaderError> {
        let deadline = Instant::now() + timeout;
        let mut states = [ReaderState::new(self.name.clone(), State::UNAWARE)];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            self.ctx
                .get_status_change(left, &mut states)
                .map_err(|e| ReaderError::from_pcsc(e, &self.name()))?;
            let [state] = &mut states;
            let ev = state.event_state();
            if ev.intersects(State::UNKNOWN | State::UNAVAILABLE | State::IGNORE) {
                return Err(ReaderError::ReaderNotFound(self.name()));
            }
            let present = ev.contains(State::PRESENT);
            let mute = ev.contains(State::MUTE);
            if want_card && present && !mute {
                return Ok(state.atr().to_vec());
            }
            if !want_card && !present {
                return Ok(Vec::new());
            }
            if left.is_zero() {
                return Err(if want_card && present && mute {
                    ReaderError::Unresponsive
                } else {
                    ReaderError::Timeout
                });
            }
            state.sync_current_state();
        }
    }

    /// Blocks until a card is present (returns its ATR), the timeout runs
    /// out, or a [`Canceller`] cancels.
    pub fn wait_for_card(&self, timeout: Duration) -> Result<Vec<u8>, ReaderError> {
        self.wait_until(timeout, true)
    }

    /// Blocks until the card is taken out ("please remove card").
    pub fn wait_for_removal(&self, timeout: Duration) -> Result<(), ReaderError> {
        self.wait_until(timeout, false).map(|_| ())
    }

    /// Connects to the card in the reader (shared, T=0 or T=1).
    pub fn connect(&self) -> Result<PcscCard, ReaderError> {
        let card = self
            .ctx
            .connect(&self.name, ShareMode::Shared, Protocols::ANY)
            .map_err(|e| ReaderError::from_pcsc(e, &self.name()))?;
        let status = card
            .status2_owned()
            .map_err(|e| ReaderError::from_pcsc(e, &self.name()))?;
        let atr = status.atr().to_vec();
        let protocol = match status.protocol2() {
            Some(pcsc::Protocol::T0) => "T=0",
            Some(pcsc::Protocol::T1) => "T=1",
            _ => "raw",
        };
        Ok(PcscCard::spawn(card, atr, protocol))
    }
}

enum Request {
    Transmit(Vec<u8>),
    Reset,
}

type Reply = Result<Vec<u8>, pcsc::Error>;

/// A connected card. Implements [`CardChannel`] with a timeout per APDU.
pub struct PcscCard {
    tx: Option<Sender<Request>>,
    rx: Receiver<Reply>,
    worker: Option<JoinHandle<()>>,
    atr: Vec<u8>,
    protocol: &'static str,
    timeout: Duration,
    poisoned: bool,
}

impl PcscCard {
    fn spawn(card: pcsc::Card, atr: Vec<u8>, protocol: &'static str) -> PcscCard {
        let (tx, req_rx) = mpsc::channel::<Request>();
        let (reply_tx, rx) = mpsc::channel::<Reply>();
        let worker = std::thread::Builder::new()
            .name("pcsc-card".into())
            .spawn(move || {
                let mut card = card;
                let mut buf = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
                while let Ok(req) = req_rx.recv() {
                    let reply = match req {
                        Request::Transmit(apdu) => match card.transmit(&apdu, &mut buf) {
                            Ok(r) if r.len() >= 2 => Ok(r.to_vec()),
                            // pcsc-lite reports a card that vanished during
                            // the exchange as an empty answer: ask why.
                            Ok(_) => Err(why_no_answer(&card)),
                            Err(e) => Err(e),
                        },
                        Request::Reset => card
                            .reconnect(ShareMode::Shared, Protocols::ANY, Disposition::ResetCard)
                            .map(|()| Vec::new()),
                    };
                    if reply_tx.send(reply).is_err() {
                        break;
                    }
                }
                let _ = card.disconnect(Disposition::LeaveCard);
            })
            .ok();
        PcscCard {
            tx: worker.as_ref().map(|_| tx),
            rx,
            worker,
            atr,
            protocol,
            timeout: DEFAULT_APDU_TIMEOUT,
            poisoned: false,
        }
    }

    /// The card's answer-to-reset.
    pub fn atr(&self) -> &[u8] {
        &self.atr
    }

    /// "T=0" or "T=1".
    pub fn protocol(&self) -> &'static str {
        self.protocol
    }

    /// Changes the per-APDU timeout.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    fn call(&mut self, req: Request) -> Result<Vec<u8>, ChannelError> {
        if self.poisoned {
            return Err(ChannelError::Transport(
                "card channel unusable after a timeout; reconnect the card".into(),
            ));
        }
        let tx = self
            .tx
            .as_ref()
            .ok_or_else(|| ChannelError::Transport("card worker thread could not start".into()))?;
        tx.send(req)
            .map_err(|_| ChannelError::Transport("card worker thread ended".into()))?;
        match self.rx.recv_timeout(self.timeout) {
            Ok(r) => r.map_err(channel_error),
            Err(RecvTimeoutError::Timeout) => {
                self.poisoned = true;
                Err(ChannelError::Timeout(
                    u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
                ))
            }
            Err(RecvTimeoutError::Disconnected) => {
                Err(ChannelError::Transport("card worker thread ended".into()))
            }
        }
    }

    /// Warm reset of the card (e.g. before a retry).
    pub fn reset(&mut self) -> Result<(), ChannelError> {
        self.call(Request::Reset).map(|_| ())
    }
}

/// After an empty answer: the card was removed (pcscd notices within its
/// ~0.4 s polling period, so look for up to a second) or it is mute.
fn why_no_answer(card: &pcsc::Card) -> pcsc::Error {
    for _ in 0..20 {
        match card.status2_owned() {
            Err(e) => return e,
            Ok(s) if !s.status().contains(pcsc::Status::PRESENT) => {
                return pcsc::Error::RemovedCard
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    pcsc::Error::UnresponsiveCard
}

impl CardChannel for PcscCard {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ChannelError> {
        self.call(Request::Transmit(apdu.to_vec()))
    }
}

impl Drop for PcscCard {
    fn drop(&mut self) {
        // Closing the request channel ends the worker after its current call.
        self.tx = None;
        if let Some(w) = self.worker.take() {
            if !self.poisoned {
                let _ = w.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcsc_errors_map_to_clear_reader_errors() {
        assert_eq!(
            ReaderError::from_pcsc(pcsc::Error::NoService, ""),
            ReaderError::NoService
        );
        assert_eq!(
            ReaderError::from_pcsc(pcsc::Error::NoReadersAvailable, ""),
            ReaderError::NoReader
        );
        assert_eq!(
            ReaderError::from_pcsc(pcsc::Error::UnknownReader, "X"),
            ReaderError::ReaderNotFound("X".into())
        );
        assert_eq!(
            ReaderError::from_pcsc(pcsc::Error::NoSmartcard, "X"),
            ReaderError::NoCard
        );
        assert_eq!(
            channel_error(pcsc::Error::RemovedCard),
            ChannelError::CardRemoved
        );
        assert_eq!(
            channel_error(pcsc::Error::ReaderUnavailable),
            ChannelError::NoReader
        );
        assert_eq!(
            ReaderError::NoService.to_string(),
            "the smart card service (pcscd) is not running"
        );
    }
}
