//! A line-oriented serial port for the counter devices that answer in text
//! lines (the scale) or only listen (the pole display): 8N1, no flow
//! control, short read timeouts so a silent device never blocks a worker.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

/// How long one read call waits before the deadline is checked again.
const POLL: Duration = Duration::from_millis(20);

/// An open serial port.
pub struct Line {
    port: Box<dyn serialport::SerialPort>,
    /// Bytes read past the end of the last line.
    pending: Vec<u8>,
}

/// Opens `path` at `baud`, 8N1, no flow control.
pub fn open(path: &str, baud: u32) -> Result<Line, String> {
    if path.trim().is_empty() {
        return Err("no port configured".into());
    }
    serialport::new(path, baud)
        .data_bits(serialport::DataBits::Eight)
        .parity(serialport::Parity::None)
        .stop_bits(serialport::StopBits::One)
        .flow_control(serialport::FlowControl::None)
        .timeout(POLL)
        .open()
        .map(|port| Line {
            port,
            pending: Vec::new(),
        })
        .map_err(|e| e.to_string())
}

impl Line {
    /// Writes all of `bytes` and flushes them.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.port.write_all(bytes)?;
        self.port.flush()
    }

    /// Drops whatever the device sent that nobody asked for.
    pub fn drain(&mut self) -> io::Result<()> {
        self.pending.clear();
        let waiting = self.port.bytes_to_read().map_err(io::Error::other)?;
        if waiting > 0 {
            self.port
                .clear(serialport::ClearBuffer::Input)
                .map_err(io::Error::other)?;
        }
        Ok(())
    }

    /// The next line (CR LF or LF ended, without the ending, lossily
    /// decoded), or `None` when none ends within `timeout`. A line longer
    /// than `max` bytes is cut there and returned, so garbage without line
    /// ends cannot grow without bound.
    pub fn read_line(&mut self, timeout: Duration, max: usize) -> io::Result<Option<String>> {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 64];
        loop {
            if let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
                let mut line: Vec<u8> = self.pending.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
            }
            if self.pending.len() >= max {
                let line: Vec<u8> = self.pending.drain(..).collect();
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            match self.port.read(&mut buf) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        "the device hung up",
                    ))
                }
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}
