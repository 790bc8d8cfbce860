//! Message framing on the acquirer link: a 2-byte big-endian length header
//! followed by the packed message.
//!
//! Reads are bounded twice: by a deadline for the whole frame (a host that
//! trickles bytes cannot hold the till forever) and by a maximum length
//! checked before any allocation.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Framing failures, split so the session can tell "no answer" from "bad answer".
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("no answer within the read timeout")]
    Timeout,
    #[error("peer stopped sending in the middle of a frame ({got} of {expected} bytes)")]
    Stalled { got: usize, expected: usize },
    #[error("peer closed the connection before a frame started")]
    Closed,
    #[error("peer closed the connection in the middle of a frame ({got} of {expected} bytes)")]
    Truncated { got: usize, expected: usize },
    #[error("frame length {len} exceeds the limit {max}")]
    TooLong { len: usize, max: usize },
    #[error("empty frame")]
    Empty,
    #[error("link I/O error: {0}")]
    Io(#[from] io::Error),
}

/// A byte stream whose reads can be given a timeout. Implemented for
/// `TcpStream`; a TLS stream wrapper implements it by delegating to its socket.
pub trait TimedRead: Read {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()>;
}

impl TimedRead for TcpStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
}

/// Writes one frame. The header limits a frame to 65535 bytes.
pub fn write_frame<W: Write + ?Sized>(w: &mut W, payload: &[u8]) -> Result<(), FrameError> {
    let len = u16::try_from(payload.len()).map_err(|_| FrameError::TooLong {
        len: payload.len(),
        max: usize::from(u16::MAX),
    })?;
    if len == 0 {
        return Err(FrameError::Empty);
    }
    let mut buf = Vec::with_capacity(payload.len() + 2);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(payload);
    w.write_all(&buf)?;
    w.flush()?;
    Ok(())
}

/// Reads one frame, giving up when `timeout` has passed since the call began.
pub fn read_frame<R: TimedRead + ?Sized>(
    r: &mut R,
    max_len: usize,
    timeout: Duration,
) -> Result<Vec<u8>, FrameError> {
    let deadline = Instant::now() + timeout;
    let mut header = [0u8; 2];
    let got = match read_full(r, &mut header, deadline) {
        Err((FrameError::Timeout, 0)) => return Err(FrameError::Timeout),
        Err((FrameError::Timeout, got)) => return Err(FrameError::Stalled { got, expected: 2 }),
        Err((e, _)) => return Err(e),
        Ok(n) => n,
    };
    match got {
        0 => return Err(FrameError::Closed),
        2 => {}
        n => {
            return Err(FrameError::Truncated {
                got: n,
                expected: 2,
            })
        }
    }
    let len = usize::from(u16::from_be_bytes(header));
    if len == 0 {
        return Err(FrameError::Empty);
    }
    if len > max_len {
        return Err(FrameError::TooLong { len, max: max_len });
    }
    let mut body = vec![0u8; len];
    let got = match read_full(r, &mut body, deadline) {
        Err((FrameError::Timeout, got)) => return Err(FrameError::Stalled { got, expected: len }),
        Err((e, _)) => return Err(e),
        Ok(n) => n,
    };
    if got != len {
        return Err(FrameError::Truncated { got, expected: len });
    }
    Ok(body)
}

/// Fills `buf` unless EOF comes first; returns how many bytes were read, or
/// the error together with the bytes read before it.
fn read_full<R: TimedRead + ?Sized>(
    r: &mut R,
    buf: &mut [u8],
    deadline: Instant,
) -> Result<usize, (FrameError, usize)> {
    let mut filled = 0;
    while filled < buf.len() {
        let Some(left) = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        else {
            return Err((FrameError::Timeout, filled));
        };
        r.set_read_timeout(Some(left))
            .map_err(|e| (FrameError::Io(e), filled))?;
        let Some(rest) = buf.get_mut(filled..) else {
            break;
        };
        match r.read(rest) {
            Ok(0) => return Ok(filled),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err((FrameError::Timeout, filled))
            }
            Err(e) => return Err((FrameError::Io(e), filled)),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Shutdown, TcpListener};
    use std::thread;

    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (b, _) = l.accept().unwrap();
        (a, b)
    }

    #[test]
    fn frame_round_trip_and_header_bytes() {
        let (mut a, mut b) = pair();
        write_frame(&mut a, b"0800hello").unwrap();
        let mut raw = [0u8; 2];
        b.read_exact(&mut raw).unwrap();
        assert_eq!(raw, [0x00, 0x09]);
        write_frame(&mut a, &vec![7u8; 300]).unwrap();
        // Skip the first body by hand, then read the second frame normally.
        let mut skip = [0u8; 9];
        b.read_exact(&mut skip).unwrap();
        let body = read_frame(&mut b, 4096, Duration::from_secs(2)).unwrap();
        assert_eq!(body, vec![7u8; 300]);
    }

    #[test]
    fn split_writes_are_reassembled() {
        let (mut a, mut b) = pair();
        let t = thread::spawn(move || {
            a.write_all(&[0x00]).unwrap();
            thread::sleep(Duration::from_millis(30));
            a.write_all(&[0x03, b'a']).unwrap();
            thread::sleep(Duration::from_millis(30));
            a.write_all(b"bc").unwrap();
            a
        });
        assert_eq!(
            read_frame(&mut b, 16, Duration::from_secs(2)).unwrap(),
            b"abc"
        );
        t.join().unwrap();
    }

    #[test]
    fn timeout_when_peer_is_silent_or_trickles() {
        let (mut a, mut b) = pair();
        let start = Instant::now();
        assert!(matches!(
            read_frame(&mut b, 16, Duration::from_millis(100)),
            Err(FrameError::Timeout)
        ));
        assert!(start.elapsed() < Duration::from_secs(1));
        // Header promises 5 bytes, only 2 arrive: the stream is out of step.
        a.write_all(&[0, 5, 1, 2]).unwrap();
        assert!(matches!(
            read_frame(&mut b, 16, Duration::from_millis(100)),
            Err(FrameError::Stalled {
                got: 2,
                expected: 5
            })
        ));
    }

    #[test]
    fn length_limits_and_closed_peer() {
        let (mut a, mut b) = pair();
        a.write_all(&[0x10, 0x01]).unwrap();
        assert!(matches!(
            read_frame(&mut b, 4096, Duration::from_secs(1)),
            Err(FrameError::TooLong {
                len: 4097,
                max: 4096
            })
        ));
        let (mut a, mut b) = pair();
        a.write_all(&[0x00, 0x00]).unwrap();
        assert!(matches!(
            read_frame(&mut b, 4096, Duration::from_secs(1)),
            Err(FrameError::Empty)
        ));
        let (mut a, mut b) = pair();
        a.write_all(&[0x00, 0x04, b'x']).unwrap();
        a.shutdown(Shutdown::Write).unwrap();
        assert!(matches!(
            read_frame(&mut b, 4096, Duration::from_secs(1)),
            Err(FrameError::Truncated {
                got: 1,
                expected: 4
            })
        ));
        let (a, mut b) = pair();
        drop(a);
        assert!(matches!(
            read_frame(&mut b, 4096, Duration::from_secs(1)),
            Err(FrameError::Closed)
        ));
        let mut sink = Vec::new();
        assert!(matches!(
            write_frame(&mut sink, &[]),
            Err(FrameError::Empty)
        ));
        assert!(matches!(
            write_frame(&mut sink, &vec![0; 70_000]),
            Err(FrameError::TooLong { .. })
        ));
    }
}
