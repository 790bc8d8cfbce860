//! The serial PIN pad: an Abecs pad on RS-232 or USB-serial, behind the
//! [`PinEntry`] trait.
//!
//! * Port: a fixed path (`/dev/ttyUSB0`, `COM3`, a udev symlink) or discovery
//!   of USB-serial devices by vendor/product ID; 19200 baud 8N1 by default.
//! * Opening: OPN, then GIN to learn the model and whether the pad supports
//!   the tillpoint AES DUKPT / ISO 9564 format 4 extension.
//! * Errors name the problem: the port does not exist, is held by another
//!   program, or is not accessible.
//! * Reconnect: when the line fails (pad unplugged, adapter re-enumerated) the
//!   port is dropped; the next call reopens it, re-running discovery and waiting
//!   up to [`PinPadConfig::reconnect_timeout`] for the device to come back. A
//!   display command interrupted by the failure is retried once on the new
//!   connection; a PIN entry is not (the cardholder may have typed already), the
//!   session sees `Unavailable` and asks again.

use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::thread;
use std::time::{Duration, Instant};

use tillpoint_payment::abecs::command::{DeviceInfo, GetPin, PinMethod, Status};
use tillpoint_payment::abecs::link::{Link, LinkConfig, PortLine};
use tillpoint_payment::abecs::AbecsError;
use tillpoint_payment::pin::{
    CancelToken, EncryptedPin, FormatPreference, PinBlockFormat, PinEntry, PinEntryError,
    PinRequest, Prompt,
};

/// A USB vendor ID, optionally narrowed to one product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsbMatch {
    /// USB vendor ID.
    pub vid: u16,
    /// USB product ID; `None` matches every product of the vendor.
    pub pid: Option<u16>,
}

/// Vendors of common Abecs PIN pads with a USB-serial interface: Ingenico
/// (0B00) and Verifone (11CA). Configure others by ID.
pub const KNOWN_PINPAD_VENDORS: &[UsbMatch] = &[
    UsbMatch {
        vid: 0x0B00,
        pid: None,
    },
    UsbMatch {
        vid: 0x11CA,
        pid: None,
    },
];

/// Which port the pad is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSelector {
    /// A fixed device path.
    Path(PathBuf),
    /// The first USB-serial port matching one of these IDs.
    Usb(Vec<UsbMatch>),
}

/// The `[pinpad]` section as written.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default)]
struct PinPadSection {
    /// Device path of the serial port; empty: no PIN pad.
    port: String,
    baud: u32,
}

impl Default for PinPadSection {
    fn default() -> Self {
        PinPadSection {
            port: String::new(),
            baud: 19_200,
        }
    }
}

/// PIN pad settings.
#[derive(Debug, Clone)]
pub struct PinPadConfig {
    /// The port.
    pub port: PortSelector,
    /// Line speed; data bits, parity and stop bits are fixed at 8N1.
    pub baud_rate: u32,
    /// Abecs link timing (the specification's defaults).
    pub link: LinkConfig,
    /// DUKPT key slot on the pad (GPN_KEYIDX).
    pub key_index: u8,
    /// Whether this till accepts AES DUKPT / format 4 blocks at all.
    pub allow_aes: bool,
    /// How long a reconnect waits for the port to come back.
    pub reconnect_timeout: Duration,
}

impl PinPadConfig {
    /// The `[pinpad]` section of the till's config (`port`, `baud`), read
    /// like every section (a bad field falls back alone, with a warning);
    /// `None` when the till has no PIN pad configured.
    pub fn from_till_config(
        config: &tillpoint_config::Config,
        warnings: &mut Vec<String>,
    ) -> Option<PinPadConfig> {
        config.sections.get("pinpad")?;
        let section: PinPadSection = config.section("pinpad", warnings);
        let port = section.port.trim();
        if port.is_empty() {
            return None;
        }
        let mut pc = PinPadConfig::at_path(port);
        pc.baud_rate = section.baud;
        Some(pc)
    }

    /// A short name of the port, for messages.
    pub fn port_label(&self) -> String {
        match &self.port {
            PortSelector::Path(p) => p.display().to_string(),
            PortSelector::Usb(_) => "USB".into(),
        }
    }

    /// Defaults for a pad on `path`: 19200 baud, key slot 00, AES allowed.
    pub fn at_path(path: impl Into<PathBuf>) -> Self {
        Self {
            port: PortSelector::Path(path.into()),
            baud_rate: 19_200,
            link: LinkConfig::default(),
            key_index: 0,
            allow_aes: true,
            reconnect_timeout: Duration::from_secs(5),
        }
    }
}

/// Why the PIN pad's port cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinPadError {
    /// The port does not exist (not plugged in, wrong name).
    #[error("PIN pad port {0} does not exist; is the PIN pad plugged in?")]
    PortMissing(String),
    /// Another program holds the port.
    #[error("PIN pad port {0} is in use by another program")]
    PortBusy(String),
    /// The user may not open the port.
    #[error("no permission to open PIN pad port {0} (check the dialout group or udev rules)")]
    PermissionDenied(String),
    /// No USB-serial device with a configured ID is present.
    #[error("no PIN pad found among the USB serial ports")]
    NotFound,
    /// Opening failed for another reason.
    #[error("cannot open PIN pad port {port}: {reason}")]
    Open {
        /// Port.
        port: String,
        /// Reason.
        reason: String,
    },
    /// The port opened but the pad does not answer properly.
    #[error("PIN pad does not answer: {0}")]
    Protocol(AbecsError),
}

/// A USB-serial port found by discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredPort {
    /// Device path.
    pub path: String,
    /// USB vendor ID.
    pub vid: u16,
    /// USB product ID.
    pub pid: u16,
    /// USB serial number.
    pub serial_number: Option<String>,
    /// USB product string.
    pub product: Option<String>,
}

/// USB-serial ports whose IDs match, in the system's order.
pub fn discover(matches: &[UsbMatch]) -> Result<Vec<DiscoveredPort>, PinPadError> {
    let ports = serialport::available_ports().map_err(|e| PinPadError::Open {
        port: "(enumeration)".into(),
        reason: e.to_string(),
    })?;
    Ok(ports
        .into_iter()
        .filter_map(|p| match p.port_type {
            serialport::SerialPortType::UsbPort(usb) => Some(DiscoveredPort {
                path: p.port_name,
                vid: usb.vid,
                pid: usb.pid,
                serial_number: usb.serial_number,
                product: usb.product,
            }),
            _ => None,
        })
        .filter(|d| {
            matches
                .iter()
                .any(|m| m.vid == d.vid && m.pid.is_none_or(|pid| pid == d.pid))
        })
        .collect())
}

/// Opens a port at 8N1 without flow control, mapping failures to clear errors.
pub fn open_port(path: &str, baud_rate: u32) -> Result<PortLine, PinPadError> {
    serialport::new(path, baud_rate)
        .data_bits(serialport::DataBits::Eight)
        .parity(serialport::Parity::None)
        .stop_bits(serialport::StopBits::One)
        .flow_control(serialport::FlowControl::None)
        .timeout(Duration::from_millis(50))
        .open()
        .map(PortLine::new)
        .map_err(|e| classify_open_error(path, &e))
}

fn classify_open_error(path: &str, e: &serialport::Error) -> PinPadError {
    use serialport::ErrorKind as K;
    match e.kind() {
        K::Io(std::io::ErrorKind::NotFound) => PinPadError::PortMissing(path.into()),
        K::Io(std::io::ErrorKind::PermissionDenied) => PinPadError::PermissionDenied(path.into()),
        // serialport reports EBUSY and a held exclusive lock as NoDevice.
        K::NoDevice if Path::new(path).exists() || !cfg!(unix) => {
            PinPadError::PortBusy(path.into())
        }
        K::NoDevice => PinPadError::PortMissing(path.into()),
        _ => PinPadError::Open {
            port: path.into(),
            reason: e.to_string(),
        },
    }
}

fn to_entry_error(e: AbecsError) -> PinEntryError {
    match e {
        AbecsError::Cancelled => PinEntryError::CancelledByCashier,
        AbecsError::ResponseTimeout { .. } => PinEntryError::Timeout,
        AbecsError::Status { status, .. } => match status {
            Status::Cancel => PinEntryError::CancelledByCardholder,
            Status::Timeout => PinEntryError::Timeout,
            Status::KeyMissing => PinEntryError::KeyMissing,
            Status::PinBusy => PinEntryError::PinPadBusy,
            other => PinEntryError::Device(format!("PIN pad answered {other}")),
        },
        AbecsError::Disconnected(reason) => PinEntryError::Unavailable(reason),
        AbecsError::InvalidRequest(reason) => PinEntryError::InvalidRequest(reason),
        other => PinEntryError::Device(other.to_string()),
    }
}

/// The serial Abecs PIN pad; see the module documentation.
pub struct SerialPinPad {
    config: PinPadConfig,
    link: Option<Link<PortLine>>,
    info: Option<DeviceInfo>,
    port_name: Option<String>,
    cancel: CancelToken,
    notices: Option<Sender<String>>,
}

impl SerialPinPad {
    /// A pad with `config`; the port is opened on first use (or [`Self::connect`]).
    pub fn new(config: PinPadConfig) -> Self {
        Self {
            config,
            link: None,
            info: None,
            port_name: None,
            cancel: CancelToken::new(),
            notices: None,
        }
    }

    /// Sends the pad's notifications (texts for the till's screen) to `sink`.
    pub fn set_notice_sink(&mut self, sink: Sender<String>) {
        self.notices = Some(sink);
    }

    /// What GIN reported at the last connect.
    pub fn device_info(&self) -> Option<&DeviceInfo> {
        self.info.as_ref()
    }

    /// The port in use, once connected.
    pub fn port_name(&self) -> Option<&str> {
        self.port_name.as_deref()
    }

    /// Whether a port is currently open.
    pub fn is_connected(&self) -> bool {
        self.link.is_some()
    }

    fn resolve_port(&self) -> Result<String, PinPadError> {
        match &self.config.port {
            PortSelector::Path(p) => Ok(p.to_string_lossy().into_owned()),
            PortSelector::Usb(ids) => discover(ids)?
                .into_iter()
                .next()
                .map(|d| d.path)
                .ok_or(PinPadError::NotFound),
        }
    }

    fn try_connect(&mut self) -> Result<(), PinPadError> {
        let path = self.resolve_port()?;
        let line = open_port(&path, self.config.baud_rate)?;
        let mut link = Link::new(line, self.config.link.clone());
        link.open().map_err(PinPadError::Protocol)?;
        let info = link.device_info().map_err(PinPadError::Protocol)?;
        tracing::info!(
            "PIN pad on {path}: {} {} (Abecs {}), AES DUKPT: {}",
            info.manufacturer,
            info.model,
            info.spec_version,
            info.capabilities.aes_dukpt_pin
        );
        self.info = Some(info);
        self.port_name = Some(path);
        self.link = Some(link);
        Ok(())
    }

    /// Opens the port, sends OPN and reads GIN. Waits up to the reconnect
    /// timeout while the port is missing or busy.
    pub fn connect(&mut self) -> Result<&DeviceInfo, PinPadError> {
        self.link = None;
        let deadline = Instant::now() + self.config.reconnect_timeout;
        loop {
            match self.try_connect() {
                Ok(()) => break,
                Err(
                    e @ (PinPadError::PortMissing(_)
                    | PinPadError::PortBusy(_)
                    | PinPadError::NotFound),
                ) if Instant::now() < deadline => {
                    tracing::debug!("{e}; waiting for the PIN pad");
                    thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(e),
            }
        }
        self.info.as_ref().ok_or(PinPadError::NotFound)
    }

    /// Sends CLO with `message` and closes the port.
    pub fn disconnect(&mut self, message: Option<&str>) {
        if let Some(mut link) = self.link.take() {
            if let Err(e) = link.close(message) {
                tracing::debug!("CLO failed while closing the PIN pad: {e}");
            }
        }
    }

    fn link(&mut self) -> Result<&mut Link<PortLine>, PinEntryError> {
        if self.link.is_none() {
            self.connect()
                .map_err(|e| PinEntryError::Unavailable(e.to_string()))?;
        }
        self.link
            .as_mut()
            .ok_or_else(|| PinEntryError::Unavailable("PIN pad not connected".into()))
    }

    /// Runs `op`; after a disconnect, reconnects and runs it once more.
    fn with_retry<T>(
        &mut self,
        op: impl Fn(&mut Link<PortLine>) -> Result<T, AbecsError>,
    ) -> Result<T, PinEntryError> {
        let first = op(self.link()?);
        match first {
            Err(e) if e.is_disconnect() => {
                tracing::warn!("PIN pad connection lost ({e}); reconnecting");
                self.link = None;
                let second = op(self.link()?);
                if matches!(&second, Err(e) if e.is_disconnect()) {
                    self.link = None;
                }
                second.map_err(to_entry_error)
            }
            other => other.map_err(to_entry_error),
        }
    }

    /// GKY: waits up to `wait` for a key on the pad (e.g. to confirm an amount).
    pub fn wait_for_key(
        &mut self,
        wait: Duration,
    ) -> Result<tillpoint_payment::abecs::Key, PinEntryError> {
        let cancel = self.cancel.clone();
        let result = self.link()?.get_key(wait, &cancel);
        self.cancel.reset();
        self.after(result)
    }

    fn online_pin(&mut self, request: &PinRequest) -> Result<EncryptedPin, PinEntryError> {
        request.validate()?;
        self.link()?;
        let pad_aes = self
            .info
            .as_ref()
            .is_some_and(|i| i.capabilities.aes_dukpt_pin);
        let aes =
            self.config.allow_aes && pad_aes && request.formats == FormatPreference::AesIfSupported;
        let (method, format, working_key) = match request.formats {
            FormatPreference::SessionKey(key) => (
                PinMethod::MkWkTdes,
                PinBlockFormat::Iso0TdesSession,
                Some(key),
            ),
            _ if aes => (PinMethod::DukptAes, PinBlockFormat::Iso4AesDukpt, None),
            _ => (PinMethod::DukptTdes, PinBlockFormat::Iso0TdesDukpt, None),
        };
        let gpn = GetPin {
            method,
            key_index: self.config.key_index,
            pan: request.pan.clone(),
            min_len: request.min_len,
            max_len: request.max_len,
            message: display_text(request.amount.as_deref(), &request.message),
            entries: 1,
            working_key,
        };
        let cancel = self.cancel.clone();
        let notices = self.notices.clone();
        let mut notify = |m: &str| {
            if let Some(tx) = &notices {
                let _ = tx.send(m.to_owned());
            }
        };
        let link = self
            .link
            .as_mut()
            .ok_or_else(|| PinEntryError::Unavailable("PIN pad not connected".into()))?;
        let data = link.get_pin(&gpn, request.timeout, &cancel, &mut notify);
        let data = self.after(data)?;
        EncryptedPin::new(data.block.to_vec(), data.ksn, format)
            .map_err(|e| PinEntryError::Device(format!("PIN pad returned {e}")))
    }

    fn after<T>(&mut self, result: Result<T, AbecsError>) -> Result<T, PinEntryError> {
        if matches!(&result, Err(e) if e.is_disconnect()) {
            self.link = None;
        }
        result.map_err(to_entry_error)
    }
}

/// Two display lines: the amount over the message, or a long message wrapped
/// after 16 characters.
fn display_text(amount: Option<&str>, message: &str) -> String {
    match amount {
        Some(a) if !a.is_empty() => format!("{a}\n{message}"),
        _ if message.contains('\n') => message.to_owned(),
        _ => {
            let first: String = message.chars().take(16).collect();
            let rest: String = message.chars().skip(16).collect();
            if rest.is_empty() {
                first
            } else {
                format!("{first}\n{rest}")
            }
        }
    }
}

impl PinEntry for SerialPinPad {
    fn show(&mut self, prompt: &Prompt) -> Result<(), PinEntryError> {
        let text = display_text(prompt.amount.as_deref(), &prompt.message);
        self.with_retry(|link| link.display(&text))
    }

    /// The cancel token is cleared when the call returns, so a cancel aimed at
    /// this entry never leaks into the next one.
    fn request_online_pin(&mut self, request: &PinRequest) -> Result<EncryptedPin, PinEntryError> {
        let result = self.online_pin(request);
        self.cancel.reset();
        result
    }

    fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[pinpad]` is read like every section: a bad field falls back alone.
    #[test]
    fn a_bad_baud_keeps_the_port() {
        let (c, _) =
            tillpoint_config::Config::parse("[pinpad]\nport = \"/dev/ttyUSB3\"\nbaud = \"fast\"\n")
                .unwrap();
        let mut w = Vec::new();
        let pc = PinPadConfig::from_till_config(&c, &mut w).expect("a PIN pad");
        assert_eq!(pc.port_label(), "/dev/ttyUSB3");
        assert_eq!(pc.baud_rate, 19_200);
        assert!(w.len() == 1 && w[0].contains("[pinpad] baud"), "{w:?}");
        let (c, _) = tillpoint_config::Config::parse("[pinpad]\nbaud = 9600\n").unwrap();
        assert!(
            PinPadConfig::from_till_config(&c, &mut w).is_none(),
            "no port, no pad"
        );
        let (c, _) = tillpoint_config::Config::parse("").unwrap();
        assert!(PinPadConfig::from_till_config(&c, &mut w).is_none());
    }

    #[test]
    fn missing_port_is_named() {
        let e = open_port("/dev/tillpoint-no-such-port", 19_200)
            .err()
            .unwrap();
        assert_eq!(
            e,
            PinPadError::PortMissing("/dev/tillpoint-no-such-port".into())
        );
        assert!(e.to_string().contains("plugged in"));
    }

    #[test]
    fn display_text_layout() {
        assert_eq!(
            display_text(Some("EUR 1.00"), "ENTER PIN"),
            "EUR 1.00\nENTER PIN"
        );
        assert_eq!(
            display_text(None, "INSERT OR TAP CARD"),
            "INSERT OR TAP CA\nRD"
        );
        assert_eq!(display_text(None, "A\nB"), "A\nB");
        assert_eq!(
            display_text(None, "ÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀ"),
            "ÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀ\nÀ"
        );
    }

    #[test]
    fn status_errors_map_to_entry_errors() {
        let st = |status| AbecsError::Status {
            command: "GPN".into(),
            status,
        };
        assert_eq!(
            to_entry_error(st(Status::Cancel)),
            PinEntryError::CancelledByCardholder
        );
        assert_eq!(to_entry_error(st(Status::Timeout)), PinEntryError::Timeout);
        assert_eq!(
            to_entry_error(st(Status::KeyMissing)),
            PinEntryError::KeyMissing
        );
        assert_eq!(
            to_entry_error(AbecsError::Cancelled),
            PinEntryError::CancelledByCashier
        );
        assert!(matches!(
            to_entry_error(AbecsError::Disconnected("x".into())),
            PinEntryError::Unavailable(_)
        ));
    }

    #[test]
    fn discovery_filters_by_id() {
        // No PIN pad is attached to a build machine: discovery must simply
        // return nothing (or fail cleanly where enumeration is unavailable).
        match discover(&[UsbMatch {
            vid: 0xFFFE,
            pid: Some(0xFFFE),
        }]) {
            Ok(found) => assert!(found.is_empty()),
            Err(e) => assert!(matches!(e, PinPadError::Open { .. })),
        }
    }
}
