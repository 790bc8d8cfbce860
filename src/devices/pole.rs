//! The pole display on a serial port: what the customer reads while the
//! cashier scans. Two kinds are common at Chinese counters:
//!
//! - **VFD, 2 × 20 characters**, with the ESC/POS customer-display command
//!   set that Epson's DM-D and the CD5220 family take: `ESC @` initialise,
//!   `FF` clear, `US $ x y` move the cursor to column x, row y (from 1),
//!   then the characters.
//! - **The 8-digit LED price display** with the 单价 / 合计 / 收款 / 找零
//!   lamps (price, total, paid, change): `ESC s n` lights lamp n (`0` all
//!   off, `1` price, `2` total, `3` paid, `4` change), `ESC Q A digits CR`
//!   shows a number of up to 8 digits and a decimal point.
//!
//! Both are write-only: nothing the display sends back is read.

use crate::serial::{self, Line};
use serde::Deserialize;

pub const ESC: u8 = 0x1B;
pub const FF: u8 = 0x0C;
pub const US: u8 = 0x1F;
pub const CR: u8 = 0x0D;
/// Characters per VFD line.
pub const WIDTH: usize = 20;

/// `[display]` in tillpoint.toml.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoleConfig {
    /// The serial device; empty: no pole display.
    pub port: String,
    pub baud: u32,
    pub kind: PoleKind,
}

impl Default for PoleConfig {
    fn default() -> Self {
        PoleConfig {
            port: String::new(),
            baud: 9600,
            kind: PoleKind::Vfd,
        }
    }
}

impl PoleConfig {
    pub fn from_till_config(config: &tillpoint_config::Config, warnings: &mut Vec<String>) -> Self {
        config.section("display", warnings)
    }

    pub fn is_configured(&self) -> bool {
        !self.port.trim().is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PoleKind {
    /// 2 × 20 characters, ESC/POS customer-display commands.
    Vfd,
    /// 8 digits and the four lamps.
    Led8,
}

/// The LED display's lamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lamp {
    Off,
    /// 单价
    Price,
    /// 合计
    Total,
    /// 收款
    Paid,
    /// 找零
    Change,
}

impl Lamp {
    pub fn code(self) -> u8 {
        match self {
            Lamp::Off => b'0',
            Lamp::Price => b'1',
            Lamp::Total => b'2',
            Lamp::Paid => b'3',
            Lamp::Change => b'4',
        }
    }

    pub fn from_code(c: u8) -> Option<Lamp> {
        Some(match c {
            b'0' => Lamp::Off,
            b'1' => Lamp::Price,
            b'2' => Lamp::Total,
            b'3' => Lamp::Paid,
            b'4' => Lamp::Change,
            _ => return None,
        })
    }
}

/// One thing for the customer to read, in both kinds' terms: two text
/// lines for the VFD, a lamp and a number for the LED display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoleFrame {
    pub top: String,
    pub bottom: String,
    pub lamp: Lamp,
    /// The number for the LED display ("12.50"; empty shows nothing).
    pub number: String,
}

/// Initialise the display (after it is opened).
pub fn init() -> Vec<u8> {
    vec![ESC, b'@']
}

/// Text a VFD shows: printable ASCII only (its font has no Chinese), runs
/// of spaces and anything else squeezed to one space, cut or padded to the
/// line width.
pub fn vfd_text(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let c = if c.is_ascii_graphic() { c } else { ' ' };
        if c == ' ' && (out.is_empty() || out.ends_with(' ')) {
            continue;
        }
        out.push(c);
    }
    let out: String = out.trim_end().chars().take(WIDTH).collect();
    format!("{out:<WIDTH$}")
}

/// A whole VFD line as sent: characters the font lacks are dropped, the
/// spacing the line was laid out with stays, and it is cut or padded to
/// the width.
pub fn fit(s: &str) -> String {
    let kept: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .collect();
    let line: String = kept.trim_start().chars().take(WIDTH).collect();
    format!("{line:<WIDTH$}")
}

/// A line with `label` on the left and `value` on the right.
pub fn two_sided(label: &str, value: &str) -> String {
    let value: String = vfd_text(value).trim_end().to_string();
    let room = WIDTH.saturating_sub(value.len() + 1);
    let label: String = vfd_text(label).trim_end().chars().take(room).collect();
    format!("{label:<w$}{value}", w = WIDTH - value.len())
}

/// The bytes that show `frame` on a display of `kind`.
pub fn encode(kind: PoleKind, frame: &PoleFrame) -> Vec<u8> {
    match kind {
        PoleKind::Vfd => {
            let mut b = vec![FF, US, b'$', 1, 1];
            b.extend_from_slice(fit(&frame.top).as_bytes());
            b.extend_from_slice(&[US, b'$', 1, 2]);
            b.extend_from_slice(fit(&frame.bottom).as_bytes());
            b
        }
        PoleKind::Led8 => {
            let digits: String = frame
                .number
                .chars()
                .filter(|c| c.is_ascii_digit() || *c == '.' || *c == '-')
                .collect();
            let mut b = vec![FF, ESC, b's', frame.lamp.code(), ESC, b'Q', b'A'];
            b.extend_from_slice(led_digits(&digits).as_bytes());
            b.push(CR);
            b
        }
    }
}

/// At most 8 digits (the point does not count, as on the display): a
/// number too long keeps its last 8 digits, so the display never wraps.
fn led_digits(s: &str) -> String {
    let mut digits = 0;
    let mut out: Vec<char> = Vec::new();
    for c in s.chars().rev() {
        if c.is_ascii_digit() {
            if digits == 8 {
                break;
            }
            digits += 1;
        }
        out.push(c);
    }
    out.into_iter().rev().collect()
}

/// The pole display on its port, opened on first use and again after a
/// write fails (unplugged).
pub struct PoleDisplay {
    config: PoleConfig,
    line: Option<Line>,
}

impl PoleDisplay {
    pub fn new(config: PoleConfig) -> Self {
        PoleDisplay { config, line: None }
    }

    pub fn port(&self) -> &str {
        &self.config.port
    }

    /// Shows `frame`; an error says why not (the next call tries again).
    pub fn show(&mut self, frame: &PoleFrame) -> Result<(), String> {
        let port = self.config.port.clone();
        if self.line.is_none() {
            let mut line = serial::open(&port, self.config.baud)
                .map_err(|e| format!("pole display {port}: {e}"))?;
            line.send(&init())
                .map_err(|e| format!("pole display {port}: {e}"))?;
            self.line = Some(line);
        }
        let bytes = encode(self.config.kind, frame);
        let sent = match self.line.as_mut() {
            Some(line) => line.send(&bytes),
            None => return Err(format!("pole display {port}: not open")),
        };
        sent.map_err(|e| {
            self.line = None;
            format!("pole display {port}: {e}")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(top: &str, bottom: &str, lamp: Lamp, number: &str) -> PoleFrame {
        PoleFrame {
            top: top.into(),
            bottom: bottom.into(),
            lamp,
            number: number.into(),
        }
    }

    #[test]
    fn vfd_bytes_are_the_customer_display_command_set() {
        let b = encode(
            PoleKind::Vfd,
            &frame(
                "可口可乐 Coca-Cola 330ml",
                "TOTAL 11.70",
                Lamp::Total,
                "11.70",
            ),
        );
        let mut want = vec![0x0C, 0x1F, 0x24, 1, 1];
        want.extend_from_slice(b"Coca-Cola 330ml     ");
        want.extend_from_slice(&[0x1F, 0x24, 1, 2]);
        want.extend_from_slice(b"TOTAL 11.70         ");
        assert_eq!(b, want);
        assert_eq!(init(), [0x1B, 0x40]);
        assert_eq!(two_sided("TOTAL", "11.70"), "TOTAL          11.70");
        assert_eq!(
            two_sided("A very long product name", "1234.50").len(),
            WIDTH
        );
        assert_eq!(vfd_text(&"x".repeat(30)).len(), WIDTH, "cut, never wrapped");
        assert_eq!(
            fit("TOTAL          11.70"),
            "TOTAL          11.70",
            "spacing kept"
        );
    }

    #[test]
    fn led_bytes_light_one_lamp_and_show_eight_digits() {
        let b = encode(PoleKind::Led8, &frame("", "", Lamp::Change, "¥8.30"));
        assert_eq!(b, b"\x0c\x1bs4\x1bQA8.30\r");
        let b = encode(PoleKind::Led8, &frame("", "", Lamp::Total, "123456789.00"));
        assert_eq!(b, b"\x0c\x1bs2\x1bQA456789.00\r", "the last 8 digits");
        for l in [
            Lamp::Off,
            Lamp::Price,
            Lamp::Total,
            Lamp::Paid,
            Lamp::Change,
        ] {
            assert_eq!(Lamp::from_code(l.code()), Some(l));
        }
    }
}
