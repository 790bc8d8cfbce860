//! Connects the virtual card to the real pcscd through vsmartcard's vpcd
//! driver. vpcd listens on TCP (35963 for "Virtual PCD 00 00"); the card is
//! the client. Every message is a 2-byte big-endian length and a payload: a
//! 1-byte payload is a control code (00 power off, 01 power on, 02 reset,
//! 04 get ATR, answered with the framed ATR), anything longer is a command
//! APDU answered with the framed response APDU.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use socket2::SockRef;
use thiserror::Error;

use super::VirtualCard;
use tillpoint_payment::emv::apdu::{masked_command_hex, masked_hex};

/// Default vpcd address for the first virtual reader.
pub const VPCD_DEFAULT: &str = "127.0.0.1:35963";
/// vpcd address of the second virtual reader ("Virtual PCD 00 01"), which
/// the demo setup and the tests use as the contactless reader.
pub const VPCD_CONTACTLESS: &str = "127.0.0.1:35964";

/// How long one socket read may block before the stop flag is checked.
const POLL: Duration = Duration::from_millis(100);
/// Largest frame accepted: a short APDU is at most 261 bytes.
const MAX_FRAME: usize = 4096;

/// Why the simulator stopped with an error.
#[derive(Debug, Error)]
pub enum SimError {
    /// No profile with that name.
    #[error("unknown card profile {0:?}; known profiles: {1}")]
    UnknownProfile(String, String),
    /// vpcd (pcscd) could not be reached before the deadline.
    #[error("could not connect to vpcd at {0} (is pcscd with vsmartcard-vpcd running?)")]
    ConnectTimeout(SocketAddr),
    /// vpcd sent a frame larger than any APDU.
    #[error("vpcd sent a frame of {0} bytes")]
    FrameTooLong(usize),
    /// Socket failure.
    #[error("vpcd socket: {0}")]
    Io(#[from] io::Error),
}

/// Knobs for tests and the command line.
#[derive(Debug, Clone, Default)]
pub struct SimOptions {
    /// Close the connection (the card is "pulled") after this many APDUs.
    pub remove_after_apdus: Option<u32>,
    /// After vpcd closes the connection, connect again (a card that stays
    /// in the reader across pcscd restarts).
    pub reconnect: bool,
    /// Give up connecting after this long (`None`: keep trying until stop).
    pub connect_deadline: Option<Duration>,
    /// Log every APDU (responses masked) at info level.
    pub trace: bool,
}

/// What happened while the card was inserted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimSummary {
    /// Command APDUs answered (or left unanswered by a silent card).
    pub apdus: u32,
    /// Connections made to vpcd.
    pub sessions: u32,
    /// The simulated removal happened.
    pub removed: bool,
}

/// Runs the named profile against vpcd at `addr` until `stop` is set (or,
/// without `reconnect`, until vpcd hangs up). This is what
/// `tillpoint card-sim --profile NAME` calls.
pub fn run_card_sim(
    profile: &str,
    addr: SocketAddr,
    stop: &AtomicBool,
) -> Result<SimSummary, SimError> {
    let card = VirtualCard::from_profile_name(profile).ok_or_else(|| {
        SimError::UnknownProfile(profile.to_string(), super::profile::names().join(", "))
    })?;
    let remove_after_apdus = card.leaves_after();
    run_card_sim_with(
        card,
        addr,
        stop,
        SimOptions {
            remove_after_apdus,
            reconnect: true,
            trace: true,
            ..SimOptions::default()
        },
    )
}

/// Runs a prepared card against vpcd.
pub fn run_card_sim_with(
    mut card: VirtualCard,
    addr: SocketAddr,
    stop: &AtomicBool,
    opts: SimOptions,
) -> Result<SimSummary, SimError> {
    let mut summary = SimSummary::default();
    let started = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let stream = match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
            Ok(s) => s,
            Err(e) => {
                // pcscd/vpcd not up yet: retry, bounded by the deadline.
                if opts.connect_deadline.is_some_and(|d| started.elapsed() > d) {
                    tracing::warn!(error = %e, "vpcd not reachable");
                    return Err(SimError::ConnectTimeout(addr));
                }
                std::thread::sleep(POLL);
                continue;
            }
        };
        summary.sessions += 1;
        tracing::info!(profile = card.name(), %addr, "virtual card inserted");
        card.reset();
        let ended = serve(&mut card, stream, stop, &opts, &mut summary)?;
        if ended == Ended::Removed {
            summary.removed = true;
            return Ok(summary);
        }
        if !opts.reconnect {
            break;
        }
    }
    Ok(summary)
}

#[derive(Debug, PartialEq, Eq)]
enum Ended {
    Stopped,
    HungUp,
    Removed,
}

fn configure(stream: &TcpStream) -> io::Result<()> {
    // Without these, delayed ACKs cost ~40 ms per APDU on loopback.
    stream.set_nodelay(true)?;
    let _ = SockRef::from(stream).set_quickack(true);
    stream.set_read_timeout(Some(POLL))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    Ok(())
}

fn send_frame(stream: &mut TcpStream, payload: &[u8]) -> io::Result<()> {
    let len = u16::try_from(payload.len()).map_err(|_| io::Error::other("frame too long"))?;
    let mut frame = len.to_be_bytes().to_vec();
    frame.extend_from_slice(payload);
    // One write: length and payload in the same segment.
    stream.write_all(&frame)?;
    let _ = SockRef::from(&*stream).set_quickack(true);
    Ok(())
}

fn serve(
    card: &mut VirtualCard,
    mut stream: TcpStream,
    stop: &AtomicBool,
    opts: &SimOptions,
    summary: &mut SimSummary,
) -> Result<Ended, SimError> {
    configure(&stream)?;
    let mut buf: Vec<u8> = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        // Complete frames first.
        if let Some(len) = buf
            .get(..2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        {
            if len > MAX_FRAME {
                return Err(SimError::FrameTooLong(len));
            }
            if buf.len() >= 2 + len {
                let payload: Vec<u8> = buf.drain(..2 + len).skip(2).collect();
                if let Some(end) = handle(card, &mut stream, &payload, opts, summary)? {
                    return Ok(end);
                }
                continue;
            }
        }
        if stop.load(Ordering::Relaxed) {
            return Ok(Ended::Stopped);
        }
        match stream.read(&mut chunk) {
            Ok(0) => {
                tracing::info!("vpcd closed the connection");
                return Ok(Ended::HungUp);
            }
            Ok(n) => {
                let _ = SockRef::from(&stream).set_quickack(true);
                buf.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
                ) =>
            {
                return Ok(Ended::HungUp);
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn handle(
    card: &mut VirtualCard,
    stream: &mut TcpStream,
    payload: &[u8],
    opts: &SimOptions,
    summary: &mut SimSummary,
) -> Result<Option<Ended>, SimError> {
    match payload {
        [0x00] | [0x01] | [0x02] => card.reset(),
        [0x04] => send_frame(stream, card.atr())?,
        [_] | [] => {}
        apdu => {
            if opts.remove_after_apdus.is_some_and(|n| summary.apdus >= n) {
                tracing::info!("virtual card pulled out");
                let _ = stream.shutdown(std::net::Shutdown::Both);
                return Ok(Some(Ended::Removed));
            }
            summary.apdus += 1;
            match card.process(apdu) {
                Some(resp) => {
                    if opts.trace {
                        tracing::info!(command = %masked_command_hex(apdu), response = %masked_hex(&resp), "apdu");
                    }
                    send_frame(stream, &resp)?;
                }
                None => tracing::info!(command = %hex::encode_upper(apdu), "card stays silent"),
            }
        }
    }
    Ok(None)
}
