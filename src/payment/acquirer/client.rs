//! Blocking TCP client for the acquirer host: one request, one matching
//! response, every step under a timeout.
//!
//! The transport is behind [`Connector`] so TLS can be added without touching
//! the session: a rustls connector would wrap the `TcpStream` in a
//! `rustls::StreamOwned` and implement [`LinkStream`] by delegating the read
//! timeout to the socket. Only [`PlainTcp`] exists today.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::iso8583::codec::Message;
use crate::iso8583::framing::{write_frame, FrameError, TimedRead};

use super::wire::{HostProfile, Wire, WireError};
use crate::iso8583::messages::answers;

/// A connected byte stream to the host.
pub trait LinkStream: TimedRead + Write + Send {
    /// Whether the peer has already closed the connection (checked before
    /// reusing an idle connection, so a request is not written into a socket
    /// that can no longer answer).
    fn peer_closed(&mut self) -> bool {
        false
    }
}

impl LinkStream for TcpStream {
    fn peer_closed(&mut self) -> bool {
        let mut probe = [0u8; 1];
        if self.set_nonblocking(true).is_err() {
            return true;
        }
        let closed = match self.peek(&mut probe) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() != io::ErrorKind::WouldBlock,
        };
        if self.set_nonblocking(false).is_err() {
            return true;
        }
        closed
    }
}

/// Opens transport connections; the seam for TLS.
pub trait Connector: Send {
    fn connect(&self, addr: SocketAddr, timeout: Duration) -> io::Result<Box<dyn LinkStream>>;
}

/// Plain TCP with `TCP_NODELAY` and read/write timeouts.
#[derive(Clone, Copy, Debug, Default)]
pub struct PlainTcp;

impl Connector for PlainTcp {
    fn connect(&self, addr: SocketAddr, timeout: Duration) -> io::Result<Box<dyn LinkStream>> {
        let s = TcpStream::connect_timeout(&addr, timeout)?;
        s.set_nodelay(true)?;
        s.set_write_timeout(Some(timeout))?;
        s.set_read_timeout(Some(timeout))?;
        Ok(Box::new(s))
    }
}

#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub addr: SocketAddr,
    pub connect_timeout: Duration,
    /// How long to wait for the matching answer after the request is written.
    pub read_timeout: Duration,
    /// The host's profile: each acquirer speaks its own, so the link is
    /// told which (the keys a cups link needs come with [`AcquirerClient::set_wire`]).
    pub profile: HostProfile,
}

impl ClientConfig {
    pub fn new(addr: SocketAddr) -> Self {
        ClientConfig {
            addr,
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(30),
            profile: HostProfile::Generic,
        }
    }
}

/// Why an exchange failed, split by whether the request may have reached the
/// host — which decides whether a reversal is owed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("could not connect to the acquirer: {0}")]
    Connect(io::Error),
    #[error("request could not be packed: {0}")]
    Pack(#[from] WireError),
    #[error("sending the request failed: {0}")]
    Send(FrameError),
    #[error("no answer from the acquirer: {0}")]
    NoAnswer(FrameError),
    #[error("the acquirer's answer is malformed: {0}")]
    Malformed(String),
    /// The request was held back: the link needs a sign-on first and it
    /// failed (cups profile).
    #[error("sign-on to the acquirer failed: {0}")]
    SignOn(String),
}

impl LinkError {
    /// `false` only when the request certainly never left the till.
    pub fn request_may_have_arrived(&self) -> bool {
        !matches!(
            self,
            LinkError::Connect(_) | LinkError::Pack(_) | LinkError::SignOn(_)
        )
    }
}

/// Most frames skipped while waiting for the matching answer; a host that
/// floods unrelated frames is treated as malformed.
const MAX_STRAY_FRAMES: usize = 16;

pub struct AcquirerClient {
    cfg: ClientConfig,
    wire: Wire,
    connector: Box<dyn Connector>,
    stream: Option<Box<dyn LinkStream>>,
    late: Vec<Message>,
    /// Bytes read from the stream and not yet taken as frames: answers to a
    /// pipelined window arrive together and are read in one call.
    rbuf: Vec<u8>,
}

impl std::fmt::Debug for AcquirerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcquirerClient")
            .field("addr", &self.cfg.addr)
            .field("connected", &self.stream.is_some())
            .finish()
    }
}

impl AcquirerClient {
    pub fn new(cfg: ClientConfig) -> Self {
        Self::with_connector(cfg, Box::new(PlainTcp))
    }

    pub fn with_connector(cfg: ClientConfig, connector: Box<dyn Connector>) -> Self {
        AcquirerClient {
            wire: Wire::new(cfg.profile),
            cfg,
            connector,
            stream: None,
            late: Vec::new(),
            rbuf: Vec::new(),
        }
    }

    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// Replaces the wire (a cups link with its keys); its profile becomes
    /// the client's.
    pub fn set_wire(&mut self, wire: Wire) {
        self.cfg.profile = wire.profile();
        self.wire = wire;
    }

    pub fn wire(&self) -> &Wire {
        &self.wire
    }

    /// The working keys are no longer good (after a sign-off).
    pub fn expire_keys(&mut self) {
        self.wire.expire();
    }

    pub fn set_read_timeout(&mut self, timeout: Duration) {
        self.cfg.read_timeout = timeout;
    }

    pub fn is_connected(&self) -> bool {
        self.stream.is_some()
    }

    /// Drops the connection; the next exchange reconnects.
    pub fn disconnect(&mut self) {
        self.drop_stream();
    }

    /// Closes the connection. Whole answers already read are kept as late
    /// replies (they answer requests sent on it); partial bytes go.
    fn drop_stream(&mut self) {
        self.stream = None;
        let max_len = self.cfg.profile.max_frame_len();
        while let Ok(Some(frame)) = take_frame(&mut self.rbuf, max_len) {
            if let Ok(m) = self.wire.decode(&frame) {
                if self.late.len() >= MAX_STRAY_FRAMES {
                    self.late.remove(0);
                }
                self.late.push(m);
            }
        }
        self.rbuf.clear();
    }

    /// Well-formed answers that arrived for earlier requests (after their
    /// timeout), for the session to note as late responses.
    pub fn take_late_replies(&mut self) -> Vec<Message> {
        std::mem::take(&mut self.late)
    }

    /// Makes sure a connection is open, so callers can tell "host
    /// unreachable" apart before they record an attempt.
    pub fn connect(&mut self) -> Result<(), LinkError> {
        self.stream().map(|_| ())
    }

    fn stream(&mut self) -> Result<&mut Box<dyn LinkStream>, LinkError> {
        if let Some(s) = self.stream.as_mut() {
            if s.peer_closed() {
                self.drop_stream();
            }
        }
        if self.stream.is_none() {
            let s = self
                .connector
                .connect(self.cfg.addr, self.cfg.connect_timeout)
                .map_err(LinkError::Connect)?;
            self.stream = Some(s);
        }
        self.stream
            .as_mut()
            .ok_or_else(|| LinkError::Connect(io::Error::other("no stream")))
    }

    /// Sends `request` and returns its matching answer (response MTI, same
    /// STAN and terminal id). Frames answering other requests are set aside
    /// as late replies. On any failure after sending, the connection is
    /// dropped unless it is known to be in step (a clean timeout).
    pub fn exchange(&mut self, request: &Message) -> Result<Message, LinkError> {
        self.send(request)?;
        self.receive_for(request)
    }

    /// Writes one request without waiting for its answer, so several can be
    /// in flight on the connection (the forwarder pipelines advices).
    pub fn send(&mut self, request: &Message) -> Result<(), LinkError> {
        let bytes = self.wire.encode(request)?;
        let stream = self.stream()?;
        if let Err(e) = write_frame(stream.as_mut(), &bytes) {
            self.drop_stream();
            return Err(LinkError::Send(e));
        }
        Ok(())
    }

    /// Writes several requests back to back in one write (the forwarder's
    /// pipelined window), so a window costs one system call rather than one
    /// per advice. Nothing is written if any request fails to pack; after a
    /// write error any of them may have arrived.
    pub fn send_all<'m>(
        &mut self,
        requests: impl IntoIterator<Item = &'m Message>,
    ) -> Result<(), LinkError> {
        let mut buf = Vec::new();
        for request in requests {
            let bytes = self.wire.encode(request)?;
            write_frame(&mut buf, &bytes).map_err(LinkError::Send)?;
        }
        if buf.is_empty() {
            return Ok(());
        }
        let stream = self.stream()?;
        let written = stream.write_all(&buf).and_then(|()| stream.flush());
        if let Err(e) = written {
            self.drop_stream();
            return Err(LinkError::Send(FrameError::Io(e)));
        }
        Ok(())
    }

    /// Waits up to the read timeout for the answer to `request`, taking it
    /// from answers already set aside if it came early.
    pub fn receive_for(&mut self, request: &Message) -> Result<Message, LinkError> {
        if let Some(i) = self.late.iter().position(|m| answers(request, m)) {
            return Ok(self.late.remove(i));
        }
        let deadline = Instant::now() + self.cfg.read_timeout;
        for _ in 0..MAX_STRAY_FRAMES {
            let Some(stream) = self.stream.as_mut() else {
                return Err(LinkError::NoAnswer(FrameError::Closed));
            };
            let max_len = self.cfg.profile.max_frame_len();
            let frame = match read_buffered(stream.as_mut(), &mut self.rbuf, deadline, max_len) {
                Ok(f) => f,
                Err(FrameError::Timeout) => return Err(LinkError::NoAnswer(FrameError::Timeout)),
                Err(FrameError::TooLong { len, max }) => {
                    self.drop_stream();
                    return Err(LinkError::Malformed(format!(
                        "frame of {len} bytes exceeds {max}"
                    )));
                }
                Err(e @ (FrameError::Truncated { .. } | FrameError::Empty)) => {
                    self.drop_stream();
                    return Err(LinkError::Malformed(e.to_string()));
                }
                Err(e) => {
                    self.drop_stream();
                    return Err(LinkError::NoAnswer(e));
                }
            };
            let reply = match self.wire.decode(&frame) {
                Ok(m) => m,
                Err(e) => {
                    self.drop_stream();
                    return Err(LinkError::Malformed(e.to_string()));
                }
            };
            if answers(request, &reply) {
                return Ok(reply);
            }
            if self.late.len() >= MAX_STRAY_FRAMES {
                self.late.remove(0);
            }
            self.late.push(reply);
        }
        self.drop_stream();
        Err(LinkError::Malformed(
            "no matching answer among the frames received".into(),
        ))
    }
}

/// Takes one whole frame off the front of `buf`: `Ok(None)` when it does not
/// hold one yet, an error for a length the profile refuses.
fn take_frame(buf: &mut Vec<u8>, max_len: usize) -> Result<Option<Vec<u8>>, FrameError> {
    let (Some(&hi), Some(&lo)) = (buf.first(), buf.get(1)) else {
        return Ok(None);
    };
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    if len == 0 {
        return Err(FrameError::Empty);
    }
    if len > max_len {
        return Err(FrameError::TooLong { len, max: max_len });
    }
    if buf.len() < len + 2 {
        return Ok(None);
    }
    let frame = buf.get(2..len + 2).map(<[u8]>::to_vec).unwrap_or_default();
    buf.drain(..len + 2);
    Ok(Some(frame))
}

/// Reads one frame through `buf` (what a previous read brought beyond the
/// frame it needed stays there), with the same errors as `read_frame`:
/// `Timeout` when no byte of the frame came before `deadline`, `Stalled`
/// when part of it did, `Closed`/`Truncated` at end of stream.
fn read_buffered(
    stream: &mut dyn LinkStream,
    buf: &mut Vec<u8>,
    deadline: Instant,
    max_len: usize,
) -> Result<Vec<u8>, FrameError> {
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(frame) = take_frame(buf, max_len)? {
            return Ok(frame);
        }
        let expected = match (buf.first(), buf.get(1)) {
            (Some(&hi), Some(&lo)) => usize::from(u16::from_be_bytes([hi, lo])) + 2,
            _ => 2,
        };
        let partial = |got: usize| FrameError::Stalled { got, expected };
        let Some(left) = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        else {
            return Err(if buf.is_empty() {
                FrameError::Timeout
            } else {
                partial(buf.len())
            });
        };
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut chunk) {
            Ok(0) => {
                return Err(if buf.is_empty() {
                    FrameError::Closed
                } else {
                    FrameError::Truncated {
                        got: buf.len(),
                        expected,
                    }
                })
            }
            Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or(&[])),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(if buf.is_empty() {
                    FrameError::Timeout
                } else {
                    partial(buf.len())
                })
            }
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iso8583::framing::read_frame;
    use crate::iso8583::messages::{
        network_request, NetworkRequest, Stamp, Stan, TerminalIds, Timestamp,
    };
    use crate::iso8583::Mti;
    use crate::iso8583::{pack, unpack, HOST_PROFILE};
    use std::net::TcpListener;
    use std::thread;

    fn echo(stan: u32) -> Message {
        let ids = TerminalIds {
            tid: "TILL0001".into(),
            mid: "M".into(),
            currency: 978,
        };
        let t = Timestamp::new(1, 1, 0, 0, 0).unwrap();
        network_request(
            &ids,
            &Stamp {
                stan: Stan::new(stan).unwrap(),
                transmitted: t,
                local: t,
                batch: 1,
            },
            NetworkRequest::Echo,
        )
        .unwrap()
    }

    fn answer(req: &Message) -> Message {
        let mut m = Message::new(req.mti.response());
        for f in [7, 11, 41, 70] {
            m.set(f, req.get(f).unwrap().to_vec()).unwrap();
        }
        m.set_str(39, "00").unwrap();
        m
    }

    /// A host that answers each request with `script(request)`.
    fn host(script: fn(&Message) -> Vec<Vec<u8>>) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        thread::spawn(move || {
            if let Ok((mut s, _)) = l.accept() {
                while let Ok(f) = read_frame(&mut s, 4096, Duration::from_secs(5)) {
                    let req = unpack(&HOST_PROFILE, &f).unwrap();
                    for raw in script(&req) {
                        if s.write_all(&raw).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        addr
    }

    fn framed(m: &Message) -> Vec<u8> {
        let mut out = Vec::new();
        write_frame(&mut out, &pack(&HOST_PROFILE, m).unwrap()).unwrap();
        out
    }

    fn client(addr: SocketAddr) -> AcquirerClient {
        let mut cfg = ClientConfig::new(addr);
        cfg.read_timeout = Duration::from_millis(300);
        cfg.connect_timeout = Duration::from_millis(300);
        AcquirerClient::new(cfg)
    }

    #[test]
    fn matching_answer_is_returned_and_stray_frames_set_aside() {
        let addr = host(|req| {
            let mut stale = answer(req);
            stale.set_str(11, "999999").unwrap();
            vec![framed(&stale), framed(&answer(req))]
        });
        let mut c = client(addr);
        let reply = c.exchange(&echo(5)).unwrap();
        assert_eq!(reply.mti, Mti::NETWORK_RESPONSE);
        assert_eq!(reply.get_str(11), Some("000005"));
        let late = c.take_late_replies();
        assert_eq!(late.len(), 1);
        assert_eq!(late[0].get_str(11), Some("999999"));
        // Connection is reused.
        c.exchange(&echo(6)).unwrap();
    }

    #[test]
    fn silent_host_is_a_timeout_and_connection_is_kept() {
        let addr = host(|_| vec![]);
        let mut c = client(addr);
        let err = c.exchange(&echo(1)).unwrap_err();
        assert!(matches!(err, LinkError::NoAnswer(FrameError::Timeout)));
        assert!(err.request_may_have_arrived());
        assert!(c.is_connected());
    }

    #[test]
    fn garbage_answer_is_malformed_and_drops_connection() {
        let addr = host(|_| vec![vec![0, 6, b'0', b'8', b'1', b'0', 0xff, 0xff]]);
        let mut c = client(addr);
        assert!(matches!(c.exchange(&echo(1)), Err(LinkError::Malformed(_))));
        assert!(!c.is_connected());
    }

    #[test]
    fn buffered_frames_are_taken_whole_and_in_order() {
        let mut buf = vec![0, 2, b'a', b'b', 0, 3, b'c', b'd'];
        assert_eq!(take_frame(&mut buf, 10).unwrap(), Some(b"ab".to_vec()));
        assert_eq!(take_frame(&mut buf, 10).unwrap(), None, "second is partial");
        buf.push(b'e');
        assert_eq!(take_frame(&mut buf, 10).unwrap(), Some(b"cde".to_vec()));
        assert!(buf.is_empty());
        assert!(matches!(
            take_frame(&mut vec![0, 0], 10),
            Err(FrameError::Empty)
        ));
        assert!(matches!(
            take_frame(&mut vec![0, 11], 10),
            Err(FrameError::TooLong { len: 11, max: 10 })
        ));
    }

    /// Two answers in one segment: what the first read brought beyond the
    /// first frame is kept and answers the next request.
    #[test]
    fn answers_arriving_together_are_both_used() {
        let addr = host(|req| {
            let mut second = answer(req);
            second.set_str(11, "000002").unwrap();
            let mut both = framed(&answer(req));
            both.extend(framed(&second));
            vec![both]
        });
        let mut c = client(addr);
        let first = echo(1);
        let second = echo(2);
        c.send_all([&first, &second]).unwrap();
        assert_eq!(c.receive_for(&first).unwrap().get_str(11), Some("000001"));
        assert_eq!(c.receive_for(&second).unwrap().get_str(11), Some("000002"));
    }

    #[test]
    fn refused_connection_means_not_sent() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let err = client(addr).exchange(&echo(1)).unwrap_err();
        assert!(matches!(err, LinkError::Connect(_)));
        assert!(!err.request_may_have_arrived());
    }
}
