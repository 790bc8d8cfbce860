//! The printer emulator's TCP server: a stand-in for a network receipt printer on port 9100.
//! It parses what it receives, writes one PNG per receipt (at each cut), answers `DLE EOT`
//! status requests at once, and can be told to report paper out or cover open through a
//! shared [`SimControl`] handle or a control file, so tests and demos can exercise the
//! till's error handling without a real printer.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use super::parse::{Item, Parser};
use super::render::{prints, render, Fonts, Paper, RenderError};

/// How long a client may stay silent before the emulator drops it.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Concurrent connections served; a real printer serves one.
const MAX_CLIENTS: usize = 4;

/// Simulated faults the printer reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Faults {
    /// No paper: status says so and printable data is thrown away.
    pub paper_out: bool,
    /// Cover open: same effect as paper out.
    pub cover_open: bool,
    /// Paper low: reported, printing continues.
    pub paper_near_end: bool,
}

impl Faults {
    /// Reads a control file: whitespace-separated words `paper-out`, `cover-open`,
    /// `near-end` (anything else, e.g. `ok`, clears nothing and adds nothing).
    pub fn from_control_text(text: &str) -> Self {
        let mut f = Faults::default();
        for w in text.split_whitespace() {
            match w {
                "paper-out" => f.paper_out = true,
                "cover-open" => f.cover_open = true,
                "near-end" => f.paper_near_end = true,
                _ => {}
            }
        }
        f
    }

    fn union(self, o: Faults) -> Faults {
        Faults {
            paper_out: self.paper_out || o.paper_out,
            cover_open: self.cover_open || o.cover_open,
            paper_near_end: self.paper_near_end || o.paper_near_end,
        }
    }

    /// Whether printable data would come out.
    pub fn can_print(&self) -> bool {
        !self.paper_out && !self.cover_open
    }

    /// The status byte answering `DLE EOT n` (Epson bit layout: fixed bits 0x12; n = 1 bit 3
    /// offline; n = 2 bit 2 cover, bit 5 paper-end stop; n = 4 bits 2-3 near end, bits 5-6
    /// paper end). `None` for other `n`.
    pub fn status_byte(&self, n: u8) -> Option<u8> {
        let on = |b: bool, m: u8| if b { m } else { 0 };
        Some(
            0x12 | match n {
                1 => on(!self.can_print(), 0x08),
                2 => on(self.cover_open, 0x04) | on(self.paper_out, 0x20),
                3 => 0,
                4 => on(self.paper_near_end || self.paper_out, 0x0C) | on(self.paper_out, 0x60),
                _ => return None,
            },
        )
    }
}

/// What the emulator has done, for tests and the demo's log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SimStats {
    /// PNG files written, in order.
    pub receipts: Vec<PathBuf>,
    /// Status requests answered.
    pub status_queries: usize,
    /// Drawer pulses received.
    pub drawer_pulses: usize,
    /// Beeps sounded (each `ESC B` counts its beeps).
    pub beeps: usize,
    /// Printable items discarded because of paper out / cover open.
    pub discarded_items: usize,
    /// Parse or render errors, one message each.
    pub errors: Vec<String>,
}

#[derive(Debug, Default)]
struct Shared {
    faults: Faults,
    stats: SimStats,
    next_receipt: u64,
    /// Printable items left before the roll runs out, if a test asked for that.
    paper_left: Option<usize>,
}

/// A cloneable handle to the emulator's faults and statistics.
#[derive(Debug, Clone, Default)]
pub struct SimControl {
    inner: Arc<Mutex<Shared>>,
}

impl SimControl {
    /// A healthy printer.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A panic in another connection thread must not take the emulator down.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets or clears paper out.
    pub fn set_paper_out(&self, on: bool) {
        self.lock().faults.paper_out = on;
    }

    /// Sets or clears cover open.
    pub fn set_cover_open(&self, on: bool) {
        self.lock().faults.cover_open = on;
    }

    /// Sets or clears paper near end.
    pub fn set_paper_near_end(&self, on: bool) {
        self.lock().faults.paper_near_end = on;
    }

    /// Lets `items` more printable items (lines, codes, images, feeds) through, then
    /// reports paper out: a roll ending in the middle of a receipt.
    pub fn set_paper_out_after(&self, items: usize) {
        self.lock().paper_left = Some(items);
    }

    /// Current faults set through this handle.
    pub fn faults(&self) -> Faults {
        self.lock().faults
    }

    /// A snapshot of the statistics.
    pub fn stats(&self) -> SimStats {
        self.lock().stats.clone()
    }
}

/// Everything the emulator needs besides its address and output directory.
#[derive(Debug, Clone)]
pub struct SimState {
    /// Faults and statistics, shared with whoever started the emulator.
    pub control: SimControl,
    /// Paper width of the emulated printer.
    pub paper: Paper,
    /// Optional control file whose words (see [`Faults::from_control_text`]) add faults;
    /// read on every status request and every receipt.
    pub control_file: Option<PathBuf>,
    /// Fonts for rendering.
    pub fonts: Fonts,
}

impl SimState {
    /// A healthy printer of the given width with fonts from `assets` (its `*.ttf`/`*.ttc`
    /// files, see [`Fonts::discover`]) or the system, and no control file.
    pub fn new(paper: Paper, assets: Option<&Path>) -> Result<Self, SimError> {
        Ok(Self {
            control: SimControl::new(),
            paper,
            control_file: None,
            fonts: Fonts::discover(assets)?,
        })
    }

    fn faults(&self) -> Faults {
        let from_file = self
            .control_file
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .map(|t| Faults::from_control_text(&t))
            .unwrap_or_default();
        self.control.faults().union(from_file)
    }
}

/// Why the emulator could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listen address is taken or not allowed.
    #[error("printer emulator cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    /// The output directory cannot be created.
    #[error("printer emulator cannot use output directory {dir}: {source}")]
    OutDir { dir: PathBuf, source: io::Error },
    /// Accepting connections failed.
    #[error("printer emulator stopped accepting connections: {0}")]
    Accept(io::Error),
    /// Fonts could not be loaded.
    #[error(transparent)]
    Render(#[from] RenderError),
}

/// A bound emulator, before or while serving.
pub struct PrinterSim {
    listener: TcpListener,
    out_dir: PathBuf,
    state: SimState,
    stop: Arc<AtomicBool>,
}

impl PrinterSim {
    /// Binds the listening socket and prepares the output directory. Use port 0 to get a
    /// free port (see [`local_addr`](Self::local_addr)).
    pub fn bind(listen: SocketAddr, out_dir: &Path, state: SimState) -> Result<Self, SimError> {
        std::fs::create_dir_all(out_dir).map_err(|source| SimError::OutDir {
            dir: out_dir.to_path_buf(),
            source,
        })?;
        let listener = TcpListener::bind(listen).map_err(|source| SimError::Bind {
            addr: listen,
            source,
        })?;
        Ok(Self {
            listener,
            out_dir: out_dir.to_path_buf(),
            state,
            stop: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> Result<SocketAddr, SimError> {
        self.listener.local_addr().map_err(SimError::Accept)
    }

    /// Serves until [`SimHandle::stop`] is called (or forever).
    pub fn run(self) -> Result<(), SimError> {
        let active = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut workers: Vec<JoinHandle<()>> = Vec::new();
        for conn in self.listener.incoming() {
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            let stream = match conn {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(SimError::Accept(e)),
            };
            workers.retain(|w| !w.is_finished());
            if active.load(Ordering::SeqCst) >= MAX_CLIENTS {
                tracing::warn!("printer emulator busy; refusing a connection");
                continue;
            }
            let state = self.state.clone();
            let out_dir = self.out_dir.clone();
            let active = Arc::clone(&active);
            active.fetch_add(1, Ordering::SeqCst);
            workers.push(std::thread::spawn(move || {
                if let Err(e) = serve(stream, &out_dir, &state) {
                    tracing::warn!(error = %e, "printer emulator connection ended with an error");
                }
                active.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        for w in workers {
            let _ = w.join();
        }
        Ok(())
    }

    /// Serves on a background thread.
    pub fn spawn(self) -> Result<SimHandle, SimError> {
        let addr = self.local_addr()?;
        let stop = Arc::clone(&self.stop);
        let control = self.state.control.clone();
        let thread = std::thread::spawn(move || self.run());
        Ok(SimHandle {
            addr,
            stop,
            control,
            thread: Some(thread),
        })
    }
}

/// A running emulator; stops when dropped.
pub struct SimHandle {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its faults and statistics.
    pub control: SimControl,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), SimError>>>,
}

impl SimHandle {
    /// Stops accepting, waits for open connections to finish (they time out when idle).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept with a throwaway connection.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs the emulator in the foreground: what `tillpoint printer-sim --listen ADDR --out DIR`
/// calls.
pub fn run_printer_sim(
    listen: SocketAddr,
    out_dir: &Path,
    state: SimState,
) -> Result<(), SimError> {
    let sim = PrinterSim::bind(listen, out_dir, state)?;
    tracing::info!(addr = %sim.local_addr()?, out = %out_dir.display(), "printer emulator listening");
    sim.run()
}

/// Serves one connection: parse, answer status, render receipts.
fn serve(mut stream: TcpStream, out_dir: &Path, state: &SimState) -> io::Result<()> {
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    stream.set_nodelay(true)?;
    let mut parser = Parser::new();
    let mut receipt: Vec<Item> = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                break
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let items = match parser.push(buf.get(..n).unwrap_or(&[])) {
            Ok(items) => items,
            Err(e) => {
                record_error(state, format!("{e}"));
                // Print what came before the garbage, like a printer would have.
                for item in parser.take_parsed() {
                    handle_item(item, &mut stream, &mut receipt, out_dir, state)?;
                }
                finish_receipt(&mut receipt, out_dir, state, false);
                return Ok(());
            }
        };
        for item in items {
            handle_item(item, &mut stream, &mut receipt, out_dir, state)?;
        }
    }
    match parser.finish() {
        Ok(items) => {
            for item in items {
                handle_item(item, &mut stream, &mut receipt, out_dir, state)?;
            }
        }
        Err(e) => record_error(state, format!("{e}")),
    }
    finish_receipt(&mut receipt, out_dir, state, false);
    Ok(())
}

fn handle_item(
    item: Item,
    stream: &mut TcpStream,
    receipt: &mut Vec<Item>,
    out_dir: &Path,
    state: &SimState,
) -> io::Result<()> {
    match item {
        Item::StatusRequest(n) => {
            let faults = state.faults();
            if let Some(b) = faults.status_byte(n) {
                stream.write_all(&[b])?;
                stream.flush()?;
            }
            state.control.lock().stats.status_queries += 1;
        }
        Item::DrawerPulse { .. } => state.control.lock().stats.drawer_pulses += 1,
        Item::Beep { times, .. } => state.control.lock().stats.beeps += usize::from(times),
        Item::Cut { .. } => {
            if state.faults().can_print() {
                receipt.push(item);
                finish_receipt(receipt, out_dir, state, true);
            } else {
                state.control.lock().stats.discarded_items += 1;
                receipt.clear();
            }
        }
        other if prints(&other) => {
            let roll_ended = {
                let mut sh = state.control.lock();
                match sh.paper_left {
                    Some(0) => {
                        sh.paper_left = None;
                        sh.faults.paper_out = true;
                        true
                    }
                    Some(n) => {
                        sh.paper_left = Some(n - 1);
                        false
                    }
                    None => false,
                }
            };
            if roll_ended {
                tracing::info!("printer emulator: paper ran out mid-receipt");
            }
            if state.faults().can_print() {
                receipt.push(other);
            } else {
                // The part already printed is torn off and lost, like on a real printer
                // whose roll ends: the till must print the whole receipt again.
                state.control.lock().stats.discarded_items += 1;
                receipt.clear();
            }
        }
        _ => {}
    }
    Ok(())
}

fn record_error(state: &SimState, msg: String) {
    tracing::warn!(error = %msg, "printer emulator rejected input");
    state.control.lock().stats.errors.push(msg);
}

/// Renders and writes the pending receipt, if it prints anything.
fn finish_receipt(receipt: &mut Vec<Item>, out_dir: &Path, state: &SimState, cut: bool) {
    let items = std::mem::take(receipt);
    if !items.iter().any(prints) {
        return;
    }
    let path = {
        let mut sh = state.control.lock();
        loop {
            sh.next_receipt += 1;
            let name = if cut {
                format!("receipt-{:05}.png", sh.next_receipt)
            } else {
                format!("receipt-{:05}-uncut.png", sh.next_receipt)
            };
            let p = out_dir.join(name);
            if !p.exists() {
                break p;
            }
        }
    };
    let result = render(&items, state.paper, &state.fonts).and_then(|r| {
        for w in &r.warnings {
            tracing::warn!(warning = %w, "printer emulator render");
        }
        r.save_png(&path)
    });
    match result {
        Ok(()) => state.control.lock().stats.receipts.push(path),
        Err(e) => record_error(state, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_bytes_follow_the_epson_layout() {
        let ok = Faults::default();
        assert_eq!([1, 2, 3, 4].map(|n| ok.status_byte(n)), [Some(0x12); 4]);
        let out = Faults {
            paper_out: true,
            ..Faults::default()
        };
        assert_eq!(out.status_byte(1), Some(0x1A));
        assert_eq!(out.status_byte(2), Some(0x32));
        assert_eq!(out.status_byte(4), Some(0x7E));
        let cover = Faults {
            cover_open: true,
            ..Faults::default()
        };
        assert_eq!(cover.status_byte(2), Some(0x16));
        assert_eq!(ok.status_byte(5), None);
    }

    #[test]
    fn control_file_words() {
        let f = Faults::from_control_text("paper-out\nnear-end\n");
        assert!(f.paper_out && f.paper_near_end && !f.cover_open);
        assert_eq!(Faults::from_control_text("ok"), Faults::default());
    }
}
