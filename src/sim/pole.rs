//! A pole display emulator on the master end of a pseudo-terminal: it
//! interprets the bytes the till sends as a 2 × 20 VFD (ESC/POS
//! customer-display commands) and as the 8-digit LED price display does,
//! so a test or the demo can read what the customer would see.

use serialport::{SerialPort, TTYPort};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;
use tillpoint_devices::pole::{Lamp, CR, ESC, FF, US, WIDTH};
use tillpoint_payment::pin::CancelToken;

/// What the display shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoleScreen {
    /// The VFD's two lines.
    pub lines: [String; 2],
    /// The LED display's lamp and number.
    pub lamp: Lamp,
    pub number: String,
    /// Bytes that were no command the displays know.
    pub unknown: usize,
    cursor: (usize, usize),
    parse: Parse,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Parse {
    Ground,
    Esc,
    Us,
    MoveX,
    MoveY(u8),
    Lamp,
    Q,
    Digits(String),
}

impl Default for PoleScreen {
    fn default() -> Self {
        PoleScreen {
            lines: [" ".repeat(WIDTH), " ".repeat(WIDTH)],
            lamp: Lamp::Off,
            number: String::new(),
            unknown: 0,
            cursor: (0, 0),
            parse: Parse::Ground,
        }
    }
}

impl PoleScreen {
    fn clear(&mut self) {
        self.lines = [" ".repeat(WIDTH), " ".repeat(WIDTH)];
        self.cursor = (0, 0);
    }

    fn put(&mut self, c: char) {
        let (x, y) = self.cursor;
        if x >= WIDTH {
            return;
        }
        let mut chars: Vec<char> = self.lines[y].chars().collect();
        chars[x] = c;
        self.lines[y] = chars.into_iter().collect();
        self.cursor.0 += 1;
    }

    /// Interprets `bytes`, continuing a command split across reads.
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.parse = match std::mem::replace(&mut self.parse, Parse::Ground) {
                Parse::Ground => match b {
                    ESC => Parse::Esc,
                    US => Parse::Us,
                    FF => {
                        self.clear();
                        Parse::Ground
                    }
                    CR => {
                        self.cursor.0 = 0;
                        Parse::Ground
                    }
                    0x20..=0x7e => {
                        self.put(char::from(b));
                        Parse::Ground
                    }
                    _ => {
                        self.unknown += 1;
                        Parse::Ground
                    }
                },
                Parse::Esc => match b {
                    b'@' => {
                        *self = PoleScreen {
                            unknown: self.unknown,
                            ..PoleScreen::default()
                        };
                        Parse::Ground
                    }
                    b's' => Parse::Lamp,
                    b'Q' => Parse::Q,
                    _ => {
                        self.unknown += 1;
                        Parse::Ground
                    }
                },
                Parse::Us if b == b'$' => Parse::MoveX,
                Parse::MoveX => Parse::MoveY(b),
                Parse::MoveY(x) => {
                    let x = usize::from(x.clamp(1, WIDTH as u8)) - 1;
                    let y = usize::from(b.clamp(1, 2)) - 1;
                    self.cursor = (x, y);
                    Parse::Ground
                }
                Parse::Lamp => {
                    match Lamp::from_code(b) {
                        Some(l) => self.lamp = l,
                        None => self.unknown += 1,
                    }
                    Parse::Ground
                }
                Parse::Q if b == b'A' => Parse::Digits(String::new()),
                Parse::Digits(d) if b == CR => {
                    self.number = d;
                    Parse::Ground
                }
                Parse::Digits(mut d) if (b.is_ascii_digit() || b == b'.' || b == b'-') => {
                    if d.len() < 16 {
                        d.push(char::from(b));
                    }
                    Parse::Digits(d)
                }
                Parse::Us | Parse::Q | Parse::Digits(_) => {
                    self.unknown += 1;
                    Parse::Ground
                }
            };
        }
    }
}

/// A running emulator: its port for the till, and the screen.
pub struct PoleSim {
    pub path: PathBuf,
    pub screen: Arc<Mutex<PoleScreen>>,
    /// While set, the display sends noise back down the line (a bad cable,
    /// or another device wired to the port), which the till must ignore.
    pub chatter: Arc<AtomicBool>,
    stop: CancelToken,
    thread: Option<thread::JoinHandle<()>>,
}

impl PoleSim {
    pub fn start() -> std::io::Result<PoleSim> {
        let (master, slave) = TTYPort::pair().map_err(std::io::Error::other)?;
        let path = slave
            .name()
            .map(PathBuf::from)
            .ok_or_else(|| std::io::Error::other("the pseudo-terminal has no name"))?;
        let screen = Arc::new(Mutex::new(PoleScreen::default()));
        let stop = CancelToken::new();
        let chatter = Arc::new(AtomicBool::new(false));
        let (sc, st, ch) = (screen.clone(), stop.clone(), chatter.clone());
        let thread = thread::Builder::new()
            .name("pole-sim".into())
            .spawn(move || serve(master, slave, &sc, &st, &ch))?;
        Ok(PoleSim {
            path,
            screen,
            chatter,
            stop,
            thread: Some(thread),
        })
    }

    /// What the display shows now.
    pub fn shown(&self) -> PoleScreen {
        self.screen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Unplugs the display: both ends of the pair close.
    pub fn unplug(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for PoleSim {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Noise for the chattering line: control bytes, ESC sequences cut short,
/// high bytes, a stray weight as a scale on the wrong port would send.
const NOISE: &[u8] = b"\x1b\x00\xff\xfe\x1b@\x0cS S      1.234 kg\r\n\x1f$\x07\x80\x1b[";

fn serve(
    mut master: TTYPort,
    slave: TTYPort,
    screen: &Mutex<PoleScreen>,
    stop: &CancelToken,
    chatter: &AtomicBool,
) {
    let _keep = slave;
    let _ = master.set_timeout(Duration::from_millis(20));
    let mut buf = [0u8; 256];
    while !stop.is_cancelled() {
        if chatter.load(Ordering::Relaxed) {
            // Never read by the till: once the line's buffer is full the
            // write times out, which is the chattering device's problem.
            let _ = master.write(NOISE);
        }
        match master.read(&mut buf) {
            Ok(n) => {
                if let Ok(mut s) = screen.lock() {
                    s.feed(&buf[..n]);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => thread::sleep(Duration::from_millis(20)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tillpoint_devices::pole::{encode, init, PoleFrame, PoleKind};

    #[test]
    fn the_emulator_reads_what_the_encoder_writes_even_split_and_with_noise() {
        let f = PoleFrame {
            top: "Coca-Cola 330ml".into(),
            bottom: "TOTAL 11.70".into(),
            lamp: Lamp::Total,
            number: "11.70".into(),
        };
        let mut s = PoleScreen::default();
        let mut bytes = init();
        bytes.push(0x07);
        bytes.extend(encode(PoleKind::Vfd, &f));
        for chunk in bytes.chunks(3) {
            s.feed(chunk);
        }
        assert_eq!(s.lines[0].trim_end(), "Coca-Cola 330ml");
        assert_eq!(s.lines[1].trim_end(), "TOTAL 11.70");
        assert_eq!(s.unknown, 1, "the stray BEL");
        s.feed(&encode(PoleKind::Led8, &f));
        assert_eq!((s.lamp, s.number.as_str()), (Lamp::Total, "11.70"));
    }
}
