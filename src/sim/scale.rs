//! A weighing scale emulator speaking MT-SICS level 0 on the master end of
//! a pseudo-terminal: the demo's scale and the tests' real serial peer.
//! What lies on the pan (and whether it is still moving, too heavy, or the
//! line garbled or silent) is set through a [`ScaleControl`].

use serialport::{SerialPort, TTYPort};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;
use tillpoint_payment::pin::CancelToken;

/// What the pan shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pan {
    /// A weight at rest, in grams.
    Stable(i64),
    /// A weight still moving: `SI` says it as dynamic, `S` answers `S I`.
    Moving(i64),
    /// Over the scale's capacity.
    Overload,
    /// Below zero (taken off after a tare).
    Underload,
    /// Answers bytes that are no MT-SICS line.
    Garbage,
    /// Answers nothing.
    Silent,
}

/// The emulator's pan, shared with whoever sets it. In the demo an item
/// settles: each `S`/`SI` while it moves counts down, then it is at rest.
#[derive(Debug, Clone)]
pub struct ScaleControl(Arc<Mutex<(Pan, u32)>>);

impl ScaleControl {
    pub fn set(&self, pan: Pan) {
        self.set_settling(pan, 0);
    }

    /// `pan`, which after `reads` more requests comes to rest (a moving
    /// weight becomes stable).
    pub fn set_settling(&self, pan: Pan, reads: u32) {
        if let Ok(mut p) = self.0.lock() {
            *p = (pan, reads);
        }
    }

    pub fn pan(&self) -> Pan {
        self.0.lock().map(|p| p.0).unwrap_or(Pan::Silent)
    }

    /// The pan for one request, counting a moving weight down to rest.
    fn next(&self) -> Pan {
        let Ok(mut p) = self.0.lock() else {
            return Pan::Silent;
        };
        let now = p.0;
        if let Pan::Moving(g) = now {
            if p.1 == 0 {
                p.0 = Pan::Stable(g);
                return p.0;
            }
            p.1 -= 1;
        }
        now
    }
}

/// The answer line for one request (without CR LF), or `None` for none.
pub fn answer(request: &str, pan: Pan) -> Option<String> {
    let weight = |g: i64| format!("{:>10.3} kg", g as f64 / 1000.0);
    let cmd = request.trim();
    if !matches!(cmd, "S" | "SI") {
        return Some("ES".into());
    }
    Some(match pan {
        Pan::Stable(g) => format!("S S {}", weight(g)),
        Pan::Moving(g) if cmd == "SI" => format!("S D {}", weight(g)),
        Pan::Moving(_) => "S I".into(),
        Pan::Overload => "S +".into(),
        Pan::Underload => "S -".into(),
        Pan::Garbage => "\u{7f}S?S 1,2#".into(),
        Pan::Silent => return None,
    })
}

/// A running emulator: its port for the till, and the pan.
pub struct ScaleSim {
    pub path: PathBuf,
    pub control: ScaleControl,
    stop: CancelToken,
    thread: Option<thread::JoinHandle<()>>,
}

impl ScaleSim {
    /// Starts the emulator on a fresh pseudo-terminal pair; the till opens
    /// [`ScaleSim::path`].
    pub fn start(pan: Pan) -> std::io::Result<ScaleSim> {
        let (master, slave) = TTYPort::pair().map_err(std::io::Error::other)?;
        let path = slave
            .name()
            .map(PathBuf::from)
            .ok_or_else(|| std::io::Error::other("the pseudo-terminal has no name"))?;
        let control = ScaleControl(Arc::new(Mutex::new((pan, 0))));
        let stop = CancelToken::new();
        let (c, s) = (control.clone(), stop.clone());
        let thread = thread::Builder::new()
            .name("scale-sim".into())
            .spawn(move || serve(master, slave, &c, &s))?;
        Ok(ScaleSim {
            path,
            control,
            stop,
            thread: Some(thread),
        })
    }

    /// Unplugs the scale: the emulator closes its end, and the till's
    /// port fails.
    pub fn unplug(mut self) {
        self.stop.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ScaleSim {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads requests line by line and answers each. The slave end is held
/// open too, so the pair stays usable between the till's opens.
fn serve(mut master: TTYPort, slave: TTYPort, control: &ScaleControl, stop: &CancelToken) {
    let _keep = slave;
    let _ = master.set_timeout(Duration::from_millis(20));
    let mut line = Vec::new();
    let mut buf = [0u8; 64];
    while !stop.is_cancelled() {
        let n = match master.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
            Err(_) => {
                thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        for &b in &buf[..n] {
            if b != b'\n' {
                if line.len() < 64 {
                    line.push(b);
                }
                continue;
            }
            let request = String::from_utf8_lossy(&line).into_owned();
            line.clear();
            if let Some(a) = answer(&request, control.next()) {
                let _ = master.write_all(format!("{a}\r\n").as_bytes());
                let _ = master.flush();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_follow_the_pan() {
        assert_eq!(
            answer("S\r", Pan::Stable(1250)).as_deref(),
            Some("S S      1.250 kg")
        );
        assert_eq!(
            answer("SI", Pan::Moving(735)).as_deref(),
            Some("S D      0.735 kg")
        );
        assert_eq!(answer("S", Pan::Moving(735)).as_deref(), Some("S I"));
        assert_eq!(answer("S", Pan::Overload).as_deref(), Some("S +"));
        assert_eq!(answer("S", Pan::Underload).as_deref(), Some("S -"));
        assert_eq!(answer("Z", Pan::Stable(1)).as_deref(), Some("ES"));
        assert_eq!(answer("S", Pan::Silent), None);
        let c = ScaleControl(Arc::new(Mutex::new((Pan::Stable(0), 0))));
        c.set_settling(Pan::Moving(500), 2);
        assert_eq!(c.next(), Pan::Moving(500));
        assert_eq!(c.next(), Pan::Moving(500));
        assert_eq!(c.next(), Pan::Stable(500), "settles after two reads");
    }
}
