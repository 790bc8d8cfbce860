//! Byte pipes to a receipt printer: USB printer device file, serial port, TCP 9100, and a
//! plain file for tests.
//!
//! Every write and every read is bounded by a timeout, because a printer that is switched
//! off, out of paper or unplugged must turn into an error the GUI can show, never into a
//! frozen till.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Time limits for one transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing a TCP connection.
    pub connect: Duration,
    /// Waiting for status answer bytes.
    pub read: Duration,
    /// Handing one job to the device (a printer that stops taking data blocks writes).
    pub write: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(3),
            read: Duration::from_secs(2),
            write: Duration::from_secs(10),
        }
    }
}

/// Why talking to the printer failed. Messages name the device, so the GUI can show them.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The device file or serial port could not be opened.
    #[error("cannot open printer {device}: {source}")]
    Open { device: String, source: io::Error },
    /// The serial port could not be opened or configured.
    #[error("cannot open serial printer {device}: {source}")]
    Serial {
        device: String,
        source: serialport::Error,
    },
    /// Nothing accepted the TCP connection.
    #[error("printer at {addr} is unreachable: {source}")]
    Unreachable { addr: SocketAddr, source: io::Error },
    /// Writing the job failed.
    #[error("writing to printer {device} failed: {source}")]
    Write { device: String, source: io::Error },
    /// Reading status failed.
    #[error("reading from printer {device} failed: {source}")]
    Read { device: String, source: io::Error },
    /// The device did not take or give data in time.
    #[error("printer {device} did not {what} within {waited:?}")]
    Timeout {
        device: String,
        what: &'static str,
        waited: Duration,
    },
    /// The other end closed the connection.
    #[error("printer {device} closed the connection")]
    Closed { device: String },
    /// This transport cannot read answers (a write-only file, a one-way cable).
    #[error("printer {device} cannot report status over this connection")]
    StatusUnsupported { device: String },
    /// The platform lacks the non-blocking device access a timeout needs.
    #[error("USB printer device files are not supported on this platform")]
    Unsupported,
}

/// A bidirectional byte pipe to one printer.
pub trait Transport: Send {
    /// A short name for messages: a path, a port or an address.
    fn device(&self) -> String;

    /// Sends all bytes or fails within the write timeout.
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), TransportError>;

    /// Fills `buf` completely or fails once `timeout` has passed.
    fn read_exact_timeout(
        &mut self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<(), TransportError>;

    /// Throws away unread input (late or unsolicited status bytes) before a new query.
    fn discard_input(&mut self) -> Result<(), TransportError>;

    /// Whether [`read_exact_timeout`](Transport::read_exact_timeout) can ever succeed.
    fn supports_status(&self) -> bool {
        true
    }
}

fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

// ---------------------------------------------------------------------------------------
// Network (TCP 9100, "raw" / JetDirect port)
// ---------------------------------------------------------------------------------------

/// A network printer on its raw port (normally 9100).
pub struct NetworkTransport {
    stream: TcpStream,
    addr: SocketAddr,
    timeouts: Timeouts,
}

impl NetworkTransport {
    /// The customary raw printing port.
    pub const DEFAULT_PORT: u16 = 9100;

    /// Connects within `timeouts.connect` and sets read/write timeouts on the socket.
    pub fn connect(addr: SocketAddr, timeouts: Timeouts) -> Result<Self, TransportError> {
        let stream = TcpStream::connect_timeout(&addr, timeouts.connect)
            .map_err(|source| TransportError::Unreachable { addr, source })?;
        let dev = addr.to_string();
        let setup = |r: io::Result<()>| {
            r.map_err(|source| TransportError::Open {
                device: dev.clone(),
                source,
            })
        };
        setup(stream.set_nodelay(true))?;
        setup(stream.set_write_timeout(Some(timeouts.write)))?;
        setup(stream.set_read_timeout(Some(timeouts.read)))?;
        Ok(Self {
            stream,
            addr,
            timeouts,
        })
    }
}

impl Transport for NetworkTransport {
    fn device(&self) -> String {
        self.addr.to_string()
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        self.stream.write_all(bytes).map_err(|source| {
            if timed_out(&source) {
                TransportError::Timeout {
                    device: self.device(),
                    what: "accept the data",
                    waited: self.timeouts.write,
                }
            } else {
                TransportError::Write {
                    device: self.device(),
                    source,
                }
            }
        })
    }

    fn read_exact_timeout(
        &mut self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<(), TransportError> {
        let deadline = Instant::now() + timeout;
        let mut got = 0;
        while got < buf.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(TransportError::Timeout {
                    device: self.device(),
                    what: "answer",
                    waited: timeout,
                });
            }
            let read_err = |source| TransportError::Read {
                device: self.addr.to_string(),
                source,
            };
            self.stream.set_read_timeout(Some(left)).map_err(read_err)?;
            let Some(rest) = buf.get_mut(got..) else {
                break;
            };
            match self.stream.read(rest) {
                Ok(0) => {
                    return Err(TransportError::Closed {
                        device: self.device(),
                    })
                }
                Ok(n) => got += n,
                Err(e) if timed_out(&e) || e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(TransportError::Read {
                        device: self.device(),
                        source,
                    })
                }
            }
        }
        Ok(())
    }

    fn discard_input(&mut self) -> Result<(), TransportError> {
        let dev = self.device();
        let err = |source| TransportError::Read {
            device: dev.clone(),
            source,
        };
        self.stream.set_nonblocking(true).map_err(err)?;
        let mut scratch = [0u8; 256];
        let result = loop {
            match self.stream.read(&mut scratch) {
                Ok(0) => {
                    break Err(TransportError::Closed {
                        device: self.device(),
                    })
                }
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => break Err(err(source)),
            }
        };
        self.stream.set_nonblocking(false).map_err(err)?;
        result
    }
}

// ---------------------------------------------------------------------------------------
// Serial
// ---------------------------------------------------------------------------------------

/// Serial line settings; receipt printers mostly use 8N1 at 9600–115200 baud and either
/// RTS/CTS or XON/XOFF so their small buffer does not overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SerialSettings {
    /// Line speed.
    pub baud: u32,
    /// Flow control the printer is set to (DIP switches).
    pub flow: serialport::FlowControl,
}

impl Default for SerialSettings {
    fn default() -> Self {
        Self {
            baud: 38_400,
            flow: serialport::FlowControl::Hardware,
        }
    }
}

/// A printer on a serial port (or a USB-serial adapter).
pub struct SerialTransport {
    port: Box<dyn serialport::SerialPort>,
    path: String,
    timeouts: Timeouts,
}

impl SerialTransport {
    /// Opens the port 8N1 with the given speed and flow control.
    pub fn open(
        path: &str,
        settings: SerialSettings,
        timeouts: Timeouts,
    ) -> Result<Self, TransportError> {
        let port = serialport::new(path, settings.baud)
            .data_bits(serialport::DataBits::Eight)
            .parity(serialport::Parity::None)
            .stop_bits(serialport::StopBits::One)
            .flow_control(settings.flow)
            .timeout(timeouts.write)
            .open()
            .map_err(|source| TransportError::Serial {
                device: path.to_string(),
                source,
            })?;
        Ok(Self {
            port,
            path: path.to_string(),
            timeouts,
        })
    }
}

impl Transport for SerialTransport {
    fn device(&self) -> String {
        self.path.clone()
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        let dev = self.device();
        self.port
            .set_timeout(self.timeouts.write)
            .map_err(|e| TransportError::Write {
                device: dev.clone(),
                source: e.into(),
            })?;
        self.port.write_all(bytes).map_err(|source| {
            if timed_out(&source) {
                TransportError::Timeout {
                    device: dev,
                    what: "accept the data",
                    waited: self.timeouts.write,
                }
            } else {
                TransportError::Write {
                    device: dev,
                    source,
                }
            }
        })?;
        self.port.flush().map_err(|source| TransportError::Write {
            device: self.device(),
            source,
        })
    }

    fn read_exact_timeout(
        &mut self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<(), TransportError> {
        let deadline = Instant::now() + timeout;
        let mut got = 0;
        while got < buf.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(TransportError::Timeout {
                    device: self.device(),
                    what: "answer",
                    waited: timeout,
                });
            }
            self.port
                .set_timeout(left)
                .map_err(|e| TransportError::Read {
                    device: self.path.clone(),
                    source: e.into(),
                })?;
            let Some(rest) = buf.get_mut(got..) else {
                break;
            };
            match self.port.read(rest) {
                Ok(0) => {}
                Ok(n) => got += n,
                Err(e) if timed_out(&e) || e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(TransportError::Read {
                        device: self.device(),
                        source,
                    })
                }
            }
        }
        Ok(())
    }

    fn discard_input(&mut self) -> Result<(), TransportError> {
        self.port
            .clear(serialport::ClearBuffer::Input)
            .map_err(|e| TransportError::Read {
                device: self.path.clone(),
                source: e.into(),
            })
    }
}

// ---------------------------------------------------------------------------------------
// USB printer class device file (Linux usblp: /dev/usb/lp0)
// ---------------------------------------------------------------------------------------

/// `O_NONBLOCK` on Linux for the architectures whose value is 0o4000 (x86, Arm, RISC-V,
/// PowerPC, s390x, LoongArch). Non-blocking mode is what lets reads and writes on the
/// usblp device honour a timeout without a stuck thread.
#[cfg(all(
    target_os = "linux",
    any(
        target_arch = "x86",
        target_arch = "x86_64",
        target_arch = "arm",
        target_arch = "aarch64",
        target_arch = "riscv64",
        target_arch = "powerpc64",
        target_arch = "s390x",
        target_arch = "loongarch64"
    )
))]
const O_NONBLOCK: i32 = 0o4000;

/// Poll interval while a non-blocking device has nothing to give or take.
const POLL: Duration = Duration::from_millis(5);

/// A USB printer through the kernel's printer-class driver (`/dev/usb/lp0`). The udev rule
/// in packaging/ gives the till's user access to it.
pub struct UsbDeviceTransport {
    file: File,
    path: PathBuf,
    timeouts: Timeouts,
}

impl UsbDeviceTransport {
    /// Opens the device read/write in non-blocking mode.
    #[cfg(all(
        target_os = "linux",
        any(
            target_arch = "x86",
            target_arch = "x86_64",
            target_arch = "arm",
            target_arch = "aarch64",
            target_arch = "riscv64",
            target_arch = "powerpc64",
            target_arch = "s390x",
            target_arch = "loongarch64"
        )
    ))]
    pub fn open(path: &Path, timeouts: Timeouts) -> Result<Self, TransportError> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(O_NONBLOCK)
            .open(path)
            .map_err(|source| TransportError::Open {
                device: path.display().to_string(),
                source,
            })?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
            timeouts,
        })
    }

    /// Device files need non-blocking access for timeouts, which this platform lacks here.
    #[cfg(not(all(
        target_os = "linux",
        any(
            target_arch = "x86",
            target_arch = "x86_64",
            target_arch = "arm",
            target_arch = "aarch64",
            target_arch = "riscv64",
            target_arch = "powerpc64",
            target_arch = "s390x",
            target_arch = "loongarch64"
        )
    )))]
    pub fn open(_path: &Path, _timeouts: Timeouts) -> Result<Self, TransportError> {
        Err(TransportError::Unsupported)
    }
}

impl Transport for UsbDeviceTransport {
    fn device(&self) -> String {
        self.path.display().to_string()
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        let deadline = Instant::now() + self.timeouts.write;
        let mut sent = 0;
        while sent < bytes.len() {
            let Some(rest) = bytes.get(sent..) else {
                break;
            };
            match self.file.write(rest) {
                Ok(0) => {
                    return Err(TransportError::Closed {
                        device: self.device(),
                    })
                }
                Ok(n) => sent += n,
                Err(e) if timed_out(&e) || e.kind() == io::ErrorKind::Interrupted => {
                    if Instant::now() >= deadline {
                        return Err(TransportError::Timeout {
                            device: self.device(),
                            what: "accept the data",
                            waited: self.timeouts.write,
                        });
                    }
                    std::thread::sleep(POLL);
                }
                Err(source) => {
                    return Err(TransportError::Write {
                        device: self.device(),
                        source,
                    })
                }
            }
        }
        Ok(())
    }

    fn read_exact_timeout(
        &mut self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<(), TransportError> {
        let device = self.device();
        poll_read(&mut self.file, buf, timeout, &device)
    }

    fn discard_input(&mut self) -> Result<(), TransportError> {
        let mut scratch = [0u8; 256];
        loop {
            match self.file.read(&mut scratch) {
                Ok(0) => return Ok(()),
                Ok(_) => continue,
                Err(e) if timed_out(&e) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(TransportError::Read {
                        device: self.device(),
                        source,
                    })
                }
            }
        }
    }
}

/// Reads until `buf` is full from a non-blocking reader, polling until `timeout`.
/// End of file (a device with nothing queued, or a status file not yet written) is treated
/// like "no data yet".
fn poll_read(
    r: &mut impl Read,
    buf: &mut [u8],
    timeout: Duration,
    device: &str,
) -> Result<(), TransportError> {
    let deadline = Instant::now() + timeout;
    let mut got = 0;
    while got < buf.len() {
        let Some(rest) = buf.get_mut(got..) else {
            break;
        };
        match r.read(rest) {
            Ok(n) if n > 0 => {
                got += n;
                continue;
            }
            Ok(_) => {}
            Err(e) if timed_out(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(TransportError::Read {
                    device: device.to_string(),
                    source,
                })
            }
        }
        if Instant::now() >= deadline {
            return Err(TransportError::Timeout {
                device: device.to_string(),
                what: "answer",
                waited: timeout,
            });
        }
        std::thread::sleep(POLL);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// File (tests, "print to file")
// ---------------------------------------------------------------------------------------

/// Appends the job bytes to a file. Status answers, if wanted, are read from a second file
/// that a test (or the printer emulator) fills, so the status path can be exercised without
/// hardware.
pub struct FileTransport {
    out: File,
    path: PathBuf,
    status_in: Option<File>,
}

impl FileTransport {
    /// Creates (or appends to) `path`; no status.
    pub fn create(path: &Path) -> Result<Self, TransportError> {
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| TransportError::Open {
                device: path.display().to_string(),
                source,
            })?;
        Ok(Self {
            out,
            path: path.to_path_buf(),
            status_in: None,
        })
    }

    /// Also reads status answers from `answers`, consuming them in order.
    pub fn with_status_answers(mut self, answers: &Path) -> Result<Self, TransportError> {
        let f = File::open(answers).map_err(|source| TransportError::Open {
            device: answers.display().to_string(),
            source,
        })?;
        self.status_in = Some(f);
        Ok(self)
    }
}

impl Transport for FileTransport {
    fn device(&self) -> String {
        self.path.display().to_string()
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        self.out
            .write_all(bytes)
            .and_then(|()| self.out.flush())
            .map_err(|source| TransportError::Write {
                device: self.path.display().to_string(),
                source,
            })
    }

    fn read_exact_timeout(
        &mut self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<(), TransportError> {
        let device = self.device();
        match self.status_in.as_mut() {
            Some(f) => poll_read(f, buf, timeout, &device),
            None => Err(TransportError::StatusUnsupported { device }),
        }
    }

    fn discard_input(&mut self) -> Result<(), TransportError> {
        Ok(())
    }

    fn supports_status(&self) -> bool {
        self.status_in.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn file_transport_appends_and_reads_status_answers() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("job.bin");
        let ans = dir.path().join("answers.bin");
        std::fs::write(&ans, [0x12, 0x16]).unwrap();
        let mut t = FileTransport::create(&out)
            .unwrap()
            .with_status_answers(&ans)
            .unwrap();
        t.write_all(b"abc").unwrap();
        t.write_all(b"def").unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"abcdef");
        let mut two = [0u8; 2];
        t.read_exact_timeout(&mut two, Duration::from_millis(50))
            .unwrap();
        assert_eq!(two, [0x12, 0x16]);
        let start = Instant::now();
        let e = t
            .read_exact_timeout(&mut two, Duration::from_millis(60))
            .unwrap_err();
        assert!(matches!(e, TransportError::Timeout { .. }), "{e}");
        assert!(start.elapsed() >= Duration::from_millis(60));
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn file_transport_without_answers_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = FileTransport::create(&dir.path().join("j")).unwrap();
        assert!(!t.supports_status());
        let e = t
            .read_exact_timeout(&mut [0u8; 1], Duration::from_millis(10))
            .unwrap_err();
        assert!(e.to_string().contains("cannot report status"), "{e}");
    }

    #[test]
    fn tcp_read_is_bounded_by_the_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            std::thread::sleep(Duration::from_millis(400));
            drop(s);
        });
        let mut t = NetworkTransport::connect(addr, Timeouts::default()).unwrap();
        let start = Instant::now();
        let e = t
            .read_exact_timeout(&mut [0u8; 1], Duration::from_millis(100))
            .unwrap_err();
        assert!(matches!(e, TransportError::Timeout { .. }), "{e}");
        assert!(start.elapsed() < Duration::from_millis(350));
        server.join().unwrap();
    }

    #[test]
    fn tcp_unreachable_is_a_clear_error() {
        // Bind then drop to get a loopback port nobody listens on.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let e = NetworkTransport::connect(addr, Timeouts::default())
            .err()
            .unwrap();
        assert!(matches!(e, TransportError::Unreachable { .. }));
        assert!(e
            .to_string()
            .contains(&format!("127.0.0.1:{port} is unreachable")));
    }

    #[cfg(unix)]
    #[test]
    fn serial_port_over_a_pseudo_terminal() {
        use serialport::SerialPort;
        let (mut printer_end, till_end) = serialport::TTYPort::pair().unwrap();
        let path = till_end.name().unwrap();
        let settings = SerialSettings {
            baud: 115_200,
            flow: serialport::FlowControl::None,
        };
        let mut t = SerialTransport::open(&path, settings, Timeouts::default()).unwrap();
        t.write_all(&[0x10, 0x04, 0x01]).unwrap();
        let mut got = [0u8; 3];
        printer_end.set_timeout(Duration::from_secs(2)).unwrap();
        printer_end.read_exact(&mut got).unwrap();
        assert_eq!(got, [0x10, 0x04, 0x01]);
        printer_end.write_all(&[0x12]).unwrap();
        let mut ans = [0u8; 1];
        t.read_exact_timeout(&mut ans, Duration::from_secs(2))
            .unwrap();
        assert_eq!(ans, [0x12]);
        let start = Instant::now();
        let e = t
            .read_exact_timeout(&mut ans, Duration::from_millis(80))
            .unwrap_err();
        assert!(matches!(e, TransportError::Timeout { .. }), "{e}");
        assert!(start.elapsed() < Duration::from_secs(1));
        drop(till_end);
    }

    #[test]
    fn missing_serial_port_is_a_clear_error() {
        let e = SerialTransport::open(
            "/dev/ttyNOPE9",
            SerialSettings::default(),
            Timeouts::default(),
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("/dev/ttyNOPE9"), "{e}");
    }

    #[test]
    fn missing_usb_device_is_a_clear_error() {
        let e = UsbDeviceTransport::open(Path::new("/dev/usb/lp-none"), Timeouts::default())
            .err()
            .unwrap();
        assert!(e.to_string().contains("/dev/usb/lp-none"), "{e}");
    }

    #[test]
    fn usb_device_file_round_trip_on_a_fifo_like_file() {
        // A regular file stands in for the device node: writes land, reads hit EOF and
        // time out instead of blocking.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lp0");
        std::fs::write(&p, b"").unwrap();
        let mut t = UsbDeviceTransport::open(&p, Timeouts::default()).unwrap();
        t.write_all(b"\x1b@hello").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"\x1b@hello");
        let e = t
            .read_exact_timeout(&mut [0u8; 1], Duration::from_millis(30))
            .unwrap_err();
        assert!(matches!(e, TransportError::Timeout { .. }));
    }
}
