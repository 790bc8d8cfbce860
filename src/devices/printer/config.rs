//! The `[printer]` section of the till's config and the constructor that opens the
//! configured printer.
//!
//! Read like every device section, through [`Config::section`]: a missing section means "no
//! printer", and a bad value falls back to its default with a warning (shown by `tillpoint
//! check`), so a typo in the printer settings never stops the till from selling; receipts
//! wait in the print queue until the printer is set up.
//!
//! ```toml
//! [printer]
//! transport = "tcp"              # file | tcp | serial | usb | none
//! address = "192.168.1.50:9100"  # tcp: host:port (port 9100 when left out)
//! path = "/dev/usb/lp0"          # file, serial, usb: the file or device
//! baud = 38400                   # serial
//! flow_control = "hardware"      # serial: none | software | hardware
//! paper = 80                     # roll width in mm: 58 or 80
//! code_page = "cp858"            # Western text: cp437 | cp850 | cp858 | wpc1252
//! chinese = true                 # the printer has a GB18030 Chinese font
//! copies = 1                     # customer copies of each receipt (1-3)
//! drawer = true                  # a cash drawer hangs off the printer
//! buzzer = false                 # the printer has a buzzer (ESC B n t): refusals beep
//! language = ""                  # receipt language; empty: the till's locale
//! logo = ""                      # PNG printed above the shop's name
//! ```

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::doc::{Beep, DrawerPulse, PaperWidth, RasterImage};
use super::encode::{ChineseSupport, CodePage, EncodeOptions};
use super::layout::LayoutOptions;
use super::transport::{
    FileTransport, NetworkTransport, SerialSettings, SerialTransport, Timeouts, Transport,
    TransportError, UsbDeviceTransport,
};
use super::EscPosPrinter;
use tillpoint_config::Config;
use tillpoint_core::receipt::ShopInfo;
use tillpoint_i18n::Lang;

/// How the till reaches its receipt printer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// Append the command stream to a file (tests, "print to file").
    File,
    /// A network printer's raw port (TCP 9100).
    Tcp,
    /// A serial port or USB-serial adapter.
    Serial,
    /// A USB printer-class device file such as /dev/usb/lp0.
    Usb,
    /// No printer: receipts stay queued until one is set up.
    #[default]
    None,
}

/// The `[printer]` settings, exactly as written in the config file (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PrinterConfig {
    /// Which transport to use.
    pub transport: TransportKind,
    /// File or device path (file, serial, usb).
    pub path: String,
    /// `host:port` of a network printer.
    pub address: String,
    /// Serial line speed.
    pub baud: u32,
    /// Serial flow control: "none", "software" or "hardware".
    pub flow_control: String,
    /// Roll width in millimetres: 58 or 80.
    pub paper: u16,
    /// Code page for Western text: "cp437", "cp850", "cp858" or "wpc1252".
    pub code_page: String,
    /// Whether the printer has a Chinese (GB18030) font.
    pub chinese: bool,
    /// Customer copies printed of each receipt (the merchant copy of a card slip is extra).
    pub copies: u8,
    /// Whether a cash drawer is connected to the printer's drawer port.
    pub drawer: bool,
    /// Whether the printer has a buzzer taking `ESC B n t`; without one a
    /// refusal is silent (the bytes would be garbage to the printer).
    pub buzzer: bool,
    /// Receipt language, "en-US" or "zh-CN"; empty for the till's locale.
    pub language: String,
    /// A PNG logo printed above the shop's name; empty for none.
    pub logo: String,
    /// Time limit for establishing a network connection, in milliseconds.
    pub connect_timeout_ms: u64,
    /// Time limit for a status answer, in milliseconds.
    pub status_timeout_ms: u64,
    /// Time limit for the printer to take one job, in milliseconds.
    pub write_timeout_ms: u64,
}

impl Default for PrinterConfig {
    fn default() -> Self {
        Self {
            transport: TransportKind::None,
            path: String::new(),
            address: String::new(),
            baud: SerialSettings::default().baud,
            flow_control: "hardware".into(),
            paper: 80,
            code_page: "cp858".into(),
            chinese: true,
            copies: 1,
            drawer: true,
            buzzer: false,
            language: String::new(),
            logo: String::new(),
            connect_timeout_ms: 3_000,
            status_timeout_ms: 2_000,
            write_timeout_ms: 10_000,
        }
    }
}

/// The config file's section name.
const SECTION: &str = "printer";

/// Keys the section knows; others are reported so a typo does not go unnoticed.
const KNOWN_KEYS: &[&str] = &[
    "transport",
    "path",
    "address",
    "baud",
    "flow_control",
    "paper",
    "code_page",
    "chinese",
    "copies",
    "drawer",
    "buzzer",
    "language",
    "logo",
    "connect_timeout_ms",
    "status_timeout_ms",
    "write_timeout_ms",
];

/// Why a receipt logo could not be used (the receipt then prints without it).
#[derive(Debug, thiserror::Error)]
pub enum LogoError {
    /// The logo file could not be read or decoded.
    #[error("cannot load the receipt logo {path}: {reason}")]
    Load { path: PathBuf, reason: String },
}

impl PrinterConfig {
    /// Reads `[printer]` from the till's config and checks each value, replacing a bad one
    /// with its default and saying so in `warnings`.
    pub fn load(config: &Config, warnings: &mut Vec<String>) -> Self {
        if let Some(toml::Value::Table(t)) = config.sections.get(SECTION) {
            for k in t.keys() {
                if !KNOWN_KEYS.contains(&k.as_str()) {
                    warnings.push(format!("[printer] {k}: unknown setting, ignored"));
                }
            }
        }
        let mut c: PrinterConfig = config.section(SECTION, warnings);
        c.validate(warnings);
        c
    }

    /// Replaces invalid values with defaults, one warning each.
    pub fn validate(&mut self, warnings: &mut Vec<String>) {
        let d = PrinterConfig::default();
        if !matches!(self.paper, 58 | 80) {
            warnings.push(format!(
                "[printer] paper: {} is not 58 or 80; using {}",
                self.paper, d.paper
            ));
            self.paper = d.paper;
        }
        if parse_code_page(&self.code_page).is_none() {
            warnings.push(format!(
                "[printer] code_page: {:?} is not cp437, cp850, cp858 or wpc1252; using {}",
                self.code_page, d.code_page
            ));
            self.code_page = d.code_page.clone();
        }
        if !(1..=3).contains(&self.copies) {
            warnings.push(format!(
                "[printer] copies: {} is not 1 to 3; using {}",
                self.copies, d.copies
            ));
            self.copies = d.copies;
        }
        if !matches!(self.language.as_str(), "" | "en-US" | "zh-CN") {
            warnings.push(format!(
                "[printer] language: {:?} is not en-US or zh-CN; using the till's locale",
                self.language
            ));
            self.language.clear();
        }
        if parse_flow(&self.flow_control).is_none() {
            warnings.push(format!(
                "[printer] flow_control: {:?} is not none, software or hardware; using {}",
                self.flow_control, d.flow_control
            ));
            self.flow_control = d.flow_control.clone();
        }
        for (name, v, dv) in [
            (
                "connect_timeout_ms",
                &mut self.connect_timeout_ms,
                d.connect_timeout_ms,
            ),
            (
                "status_timeout_ms",
                &mut self.status_timeout_ms,
                d.status_timeout_ms,
            ),
            (
                "write_timeout_ms",
                &mut self.write_timeout_ms,
                d.write_timeout_ms,
            ),
        ] {
            if !(10..=120_000).contains(v) {
                warnings.push(format!(
                    "[printer] {name}: {v} is not 10 to 120000 ms; using {dv}"
                ));
                *v = dv;
            }
        }
        let needs_path = matches!(
            self.transport,
            TransportKind::File | TransportKind::Serial | TransportKind::Usb
        );
        if needs_path && self.path.trim().is_empty() {
            warnings.push("[printer] path: missing for this transport; printing is off".into());
            self.transport = TransportKind::None;
        }
        if self.transport == TransportKind::Tcp && self.address.trim().is_empty() {
            warnings.push("[printer] address: missing for tcp; printing is off".into());
            self.transport = TransportKind::None;
        }
    }

    /// The roll width.
    pub fn paper_width(&self) -> PaperWidth {
        if self.paper == 58 {
            PaperWidth::Mm58
        } else {
            PaperWidth::Mm80
        }
    }

    /// Text encoding settings for the encoder.
    pub fn encode_options(&self) -> EncodeOptions {
        EncodeOptions {
            code_page: parse_code_page(&self.code_page).unwrap_or_default(),
            chinese: if self.chinese {
                ChineseSupport::Gb18030
            } else {
                ChineseSupport::None
            },
        }
    }

    /// The receipt language: this section's, else the till's locale.
    pub fn lang(&self, till_locale: &str) -> Lang {
        if self.language.is_empty() {
            Lang::from_code(till_locale)
        } else {
            Lang::from_code(&self.language)
        }
    }

    /// The drawer pulse to send, or `None` when no drawer is connected.
    pub fn drawer_pulse(&self) -> Option<DrawerPulse> {
        self.drawer.then(DrawerPulse::default)
    }

    /// The beep a refusal sounds, or `None` when the printer has no buzzer.
    pub fn refusal_beep(&self) -> Option<Beep> {
        self.buzzer.then_some(Beep::REFUSAL)
    }

    /// Transport time limits.
    pub fn timeouts(&self) -> Timeouts {
        Timeouts {
            connect: Duration::from_millis(self.connect_timeout_ms),
            read: Duration::from_millis(self.status_timeout_ms),
            write: Duration::from_millis(self.write_timeout_ms),
        }
    }

    /// A short name of the configured printer for messages ("tcp 127.0.0.1:9100").
    pub fn describe(&self) -> String {
        match self.transport {
            TransportKind::None => "none".into(),
            TransportKind::Tcp => format!("tcp {}", self.address.trim()),
            TransportKind::File => format!("file {}", self.path.trim()),
            TransportKind::Serial => format!("serial {}", self.path.trim()),
            TransportKind::Usb => format!("usb {}", self.path.trim()),
        }
    }

    /// Everything the receipt layout and the print queue need, from this section and the
    /// till's config. A logo that cannot be loaded is left out with a warning: a missing
    /// picture is no reason to stop printing receipts.
    pub fn receipt_settings(
        &self,
        config: &Config,
        utc_offset_secs: i32,
        warnings: &mut Vec<String>,
    ) -> ReceiptSettings {
        let width = self.paper_width();
        let logo = if self.logo.trim().is_empty() {
            None
        } else {
            match load_logo(Path::new(self.logo.trim()), width.dots()) {
                Ok(img) => Some(img),
                Err(e) => {
                    warnings.push(format!("[printer] logo: {e}; printing without it"));
                    None
                }
            }
        };
        ReceiptSettings {
            shop: config.shop.clone(),
            till_id: config.till.id.clone(),
            layout: LayoutOptions {
                width,
                lang: self.lang(&config.till.locale),
                utc_offset_secs,
                logo,
            },
            customer_copies: self.copies.max(1),
        }
    }

    /// Opens the configured printer, `Ok(None)` when the transport is "none". Network
    /// printers are connected here, so open one per batch of jobs rather than keeping a
    /// connection that the printer may have dropped while idle.
    pub fn open(&self) -> Result<Option<EscPosPrinter<AnyTransport>>, TransportError> {
        let timeouts = self.timeouts();
        let path = self.path.trim();
        let transport = match self.transport {
            TransportKind::None => return Ok(None),
            TransportKind::File => AnyTransport::File(FileTransport::create(Path::new(path))?),
            TransportKind::Tcp => {
                let addr = resolve(self.address.trim())?;
                AnyTransport::Tcp(NetworkTransport::connect(addr, timeouts)?)
            }
            TransportKind::Serial => {
                let settings = SerialSettings {
                    baud: self.baud,
                    flow: parse_flow(&self.flow_control).unwrap_or(SerialSettings::default().flow),
                };
                AnyTransport::Serial(SerialTransport::open(path, settings, timeouts)?)
            }
            TransportKind::Usb => {
                AnyTransport::Usb(UsbDeviceTransport::open(Path::new(path), timeouts)?)
            }
        };
        Ok(Some(EscPosPrinter::new(
            transport,
            self.encode_options(),
            timeouts.read,
        )))
    }
}

/// What the layout and the print queue need besides the sale itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptSettings {
    /// Shop name, address, tax number and footer.
    pub shop: ShopInfo,
    /// The till's id.
    pub till_id: String,
    /// Paper, language, time zone and logo.
    pub layout: LayoutOptions,
    /// Customer copies of each receipt (at least one).
    pub customer_copies: u8,
}

/// `host:port`, or just `host` for the usual port 9100.
fn resolve(address: &str) -> Result<SocketAddr, TransportError> {
    let bad = |reason: String| TransportError::Open {
        device: address.to_string(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, reason),
    };
    let with_port = if address.parse::<SocketAddr>().is_ok() || address.contains(':') {
        address.to_string()
    } else {
        format!("{address}:{}", NetworkTransport::DEFAULT_PORT)
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| bad(format!("not a printer address (host:port): {e}")))?
        .next()
        .ok_or_else(|| bad("the name resolves to no address".into()))
}

fn parse_code_page(s: &str) -> Option<CodePage> {
    match s.trim().to_ascii_lowercase().as_str() {
        "cp437" | "pc437" => Some(CodePage::Pc437),
        "cp850" | "pc850" => Some(CodePage::Pc850),
        "cp858" | "pc858" => Some(CodePage::Pc858),
        "wpc1252" | "cp1252" | "windows-1252" => Some(CodePage::Wpc1252),
        _ => None,
    }
}

fn parse_flow(s: &str) -> Option<serialport::FlowControl> {
    match s.trim() {
        "none" => Some(serialport::FlowControl::None),
        "software" => Some(serialport::FlowControl::Software),
        "hardware" => Some(serialport::FlowControl::Hardware),
        _ => None,
    }
}

/// Loads a PNG logo as a 1-bit image no wider than `max_width` dots: scaled down when
/// wider, dark pixels (luma below half, after flattening transparency onto white) black.
pub fn load_logo(path: &Path, max_width: u32) -> Result<RasterImage, LogoError> {
    let err = |reason: String| LogoError::Load {
        path: path.to_path_buf(),
        reason,
    };
    let img = image::open(path)
        .map_err(|e| err(e.to_string()))?
        .to_rgba8();
    let (w, h) = img.dimensions();
    if w == 0 || h == 0 {
        return Err(err("the image is empty".into()));
    }
    let img = if w > max_width {
        let nh = (u64::from(h) * u64::from(max_width) / u64::from(w)).max(1) as u32;
        image::imageops::resize(&img, max_width, nh, image::imageops::FilterType::Triangle)
    } else {
        img
    };
    let (w, h) = img.dimensions();
    if h > 1024 {
        return Err(err(format!("{w}x{h} is too tall for a receipt logo")));
    }
    RasterImage::from_fn(w, h, |x, y| {
        let p = img.get_pixel(x, y).0;
        let a = u32::from(p[3]);
        // Composite onto white, then Rec. 601 luma.
        let c = |v: u8| (u32::from(v) * a + 255 * (255 - a)) / 255;
        let luma = (299 * c(p[0]) + 587 * c(p[1]) + 114 * c(p[2])) / 1000;
        luma < 128
    })
    .map_err(|e| err(e.to_string()))
}

/// Any of the real transports, chosen at run time from the config.
pub enum AnyTransport {
    /// Print to file.
    File(FileTransport),
    /// TCP 9100.
    Tcp(NetworkTransport),
    /// Serial port.
    Serial(SerialTransport),
    /// USB printer device file.
    Usb(UsbDeviceTransport),
}

impl AnyTransport {
    fn inner(&mut self) -> &mut dyn Transport {
        match self {
            AnyTransport::File(t) => t,
            AnyTransport::Tcp(t) => t,
            AnyTransport::Serial(t) => t,
            AnyTransport::Usb(t) => t,
        }
    }

    fn inner_ref(&self) -> &dyn Transport {
        match self {
            AnyTransport::File(t) => t,
            AnyTransport::Tcp(t) => t,
            AnyTransport::Serial(t) => t,
            AnyTransport::Usb(t) => t,
        }
    }
}

impl Transport for AnyTransport {
    fn device(&self) -> String {
        self.inner_ref().device()
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        self.inner().write_all(bytes)
    }

    fn read_exact_timeout(
        &mut self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<(), TransportError> {
        self.inner().read_exact_timeout(buf, timeout)
    }

    fn discard_input(&mut self) -> Result<(), TransportError> {
        self.inner().discard_input()
    }

    fn supports_status(&self) -> bool {
        self.inner_ref().supports_status()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: &str) -> (PrinterConfig, Vec<String>) {
        let (config, mut w) = Config::parse(toml).unwrap();
        let c = PrinterConfig::load(&config, &mut w);
        (c, w)
    }

    #[test]
    fn no_section_means_no_printer() {
        let (c, w) = load("");
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c, PrinterConfig::default());
        assert!(c.open().unwrap().is_none());
    }

    #[test]
    fn bad_values_fall_back_one_by_one() {
        let (c, w) = load(
            "[printer]\ntransport = \"tcp\"\naddress = \"127.0.0.1:9\"\npaper = 57\ncode_page = \"ebcdic\"\ncopies = 9\nlanguage = \"fr\"\npapr = 58\n",
        );
        assert_eq!(c.transport, TransportKind::Tcp);
        assert_eq!(c.paper, 80);
        assert_eq!(c.code_page, "cp858");
        assert_eq!(c.copies, 1);
        assert_eq!(c.language, "");
        assert_eq!(w.len(), 5, "{w:?}");
        assert!(w.iter().any(|x| x.contains("papr: unknown")));
    }

    /// A field of the wrong type falls back alone: the printer stays on.
    #[test]
    fn a_wrong_type_resets_only_its_own_field() {
        let (c, w) = load(
            "[printer]\ntransport = \"file\"\npath = \"/tmp/x\"\npaper = \"58\"\ncopies = 2\n",
        );
        assert_eq!(c.transport, TransportKind::File, "{w:?}");
        assert_eq!(c.path, "/tmp/x");
        assert_eq!(c.copies, 2);
        assert_eq!(c.paper, 80, "the default roll");
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("[printer] paper"), "{w:?}");
    }

    #[test]
    fn a_wrong_type_keeps_the_till_running_on_defaults() {
        let (c, w) = load("[printer]\ntransport = \"bluetooth\"\n");
        assert_eq!(c.transport, TransportKind::None);
        assert_eq!(w.len(), 1, "{w:?}");
    }

    #[test]
    fn settings_follow_the_section() {
        let (c, w) = load(
            "[till]\nlocale = \"zh-CN\"\n[printer]\ntransport = \"file\"\npath = \"/tmp/x\"\npaper = 58\ncode_page = \"cp437\"\nchinese = false\ndrawer = false\n",
        );
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.paper_width(), PaperWidth::Mm58);
        assert_eq!(
            c.encode_options(),
            EncodeOptions {
                code_page: CodePage::Pc437,
                chinese: ChineseSupport::None
            }
        );
        assert_eq!(c.lang("zh-CN"), Lang::Zh);
        assert_eq!(c.drawer_pulse(), None);
        let (c, _) = load("[printer]\ntransport = \"file\"\n");
        assert_eq!(c.transport, TransportKind::None, "a file needs a path");
    }

    #[test]
    fn file_printer_opens_and_a_bad_address_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let c = PrinterConfig {
            transport: TransportKind::File,
            path: dir.path().join("out.bin").display().to_string(),
            ..PrinterConfig::default()
        };
        let p = c.open().unwrap().unwrap();
        assert!(!p.transport().supports_status());
        let c = PrinterConfig {
            transport: TransportKind::Tcp,
            address: "not an address".into(),
            ..PrinterConfig::default()
        };
        let e = c.open().err().unwrap();
        assert!(e.to_string().contains("not an address"), "{e}");
        assert_eq!(resolve("127.0.0.1").unwrap().port(), 9100);
    }

    #[test]
    fn logo_is_thresholded_and_scaled_to_the_paper() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("logo.png");
        let img = image::RgbaImage::from_fn(800, 100, |x, _| {
            if x < 400 {
                image::Rgba([0, 0, 0, 255])
            } else {
                image::Rgba([0, 0, 0, 0])
            }
        });
        img.save(&p).unwrap();
        let r = load_logo(&p, 384).unwrap();
        assert_eq!((r.width(), r.height()), (384, 48));
        // Left half black, transparent right half white.
        assert_eq!(r.bits()[0], 0xFF);
        assert_eq!(r.bits()[r.row_bytes() - 1], 0x00);
        assert!(load_logo(&dir.path().join("none.png"), 384).is_err());
    }
}
