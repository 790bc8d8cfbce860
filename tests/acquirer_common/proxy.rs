//! A TCP fault proxy between the till and the host simulator: passes bytes
//! through, or drops, delays, garbles, half-closes, or goes down entirely
//! (listener closed: connections are refused).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Pass,
    /// Read the request from the till, forward nothing, close the connection.
    DropRequest,
    /// Forward the request; discard the answer and close the till's side.
    DropAnswer,
    /// Hold every answer chunk this long before passing it on.
    Delay(Duration),
    /// Flip bits in the answer payload (the 2-byte header is kept).
    Garble,
    /// Forward the request, then shut down the write side towards the till:
    /// the till reads end-of-stream while the host still works.
    HalfClose,
    /// Flip the last byte of every request (under cups: its MAC).
    FlipRequestMac,
    /// Flip the last byte of every answer (under cups: its MAC).
    FlipAnswerMac,
}

pub struct FaultProxy {
    addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    down: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

const POLL: Duration = Duration::from_millis(5);

impl FaultProxy {
    pub fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(Mutex::new(Mode::Pass));
        let down = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        {
            let (mode, down, stop) = (mode.clone(), down.clone(), stop.clone());
            thread::spawn(move || {
                let mut listener = Some(listener);
                while !stop.load(Ordering::Relaxed) {
                    if down.load(Ordering::Relaxed) {
                        if listener.take().is_some() {
                            for c in conns.lock().unwrap().drain(..) {
                                let _ = c.shutdown(Shutdown::Both);
                            }
                        }
                        thread::sleep(POLL);
                        continue;
                    }
                    if listener.is_none() {
                        match TcpListener::bind(addr) {
                            Ok(l) => listener = Some(l),
                            Err(_) => {
                                thread::sleep(POLL);
                                continue;
                            }
                        }
                    }
                    let Some(l) = listener.as_ref() else { continue };
                    l.set_nonblocking(true).unwrap();
                    match l.accept() {
                        Ok((client, _)) => {
                            client.set_nonblocking(false).unwrap();
                            let Ok(server) = TcpStream::connect(upstream) else {
                                continue;
                            };
                            conns.lock().unwrap().push(client.try_clone().unwrap());
                            pump(client, server, mode.clone(), stop.clone());
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(POLL),
                        Err(_) => thread::sleep(POLL),
                    }
                }
            });
        }
        FaultProxy {
            addr,
            mode,
            down,
            stop,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// Link down (connections refused) or back up.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::Relaxed);
        // Give the accept loop time to close or rebind.
        thread::sleep(Duration::from_millis(30));
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn pump(client: TcpStream, server: TcpStream, mode: Arc<Mutex<Mode>>, stop: Arc<AtomicBool>) {
    let timeout = Some(Duration::from_millis(50));
    client.set_read_timeout(timeout).unwrap();
    server.set_read_timeout(timeout).unwrap();
    let (mut c_in, mut c_out) = (client.try_clone().unwrap(), client);
    let (mut s_in, mut s_out) = (server.try_clone().unwrap(), server);
    let up_mode = mode.clone();
    let up_stop = stop.clone();
    // Till → host.
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            if up_stop.load(Ordering::Relaxed) {
                return;
            }
            let n = match c_in.read(&mut buf) {
                Ok(0) => {
                    let _ = s_out.shutdown(Shutdown::Write);
                    return;
                }
                Ok(n) => n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    continue
                }
                Err(_) => return,
            };
            let m = *up_mode.lock().unwrap();
            match m {
                Mode::DropRequest => {
                    let _ = c_in.shutdown(Shutdown::Both);
                    let _ = s_out.shutdown(Shutdown::Both);
                    return;
                }
                Mode::HalfClose => {
                    let _ = s_out.write_all(&buf[..n]);
                    let _ = c_in.shutdown(Shutdown::Write);
                }
                Mode::FlipRequestMac => {
                    buf[n - 1] ^= 0x01;
                    if s_out.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
                _ => {
                    if s_out.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            }
        }
    });
    // Host → till.
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let n = match s_in.read(&mut buf) {
                Ok(0) => {
                    let _ = c_out.shutdown(Shutdown::Write);
                    return;
                }
                Ok(n) => n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    continue
                }
                Err(_) => return,
            };
            let m = *mode.lock().unwrap();
            let chunk = &mut buf[..n];
            match m {
                Mode::DropAnswer => {
                    let _ = c_out.shutdown(Shutdown::Both);
                    return;
                }
                Mode::HalfClose => continue,
                Mode::Delay(d) => thread::sleep(d),
                Mode::Garble => {
                    for (i, b) in chunk.iter_mut().enumerate() {
                        if i >= 2 {
                            *b ^= 0xa5;
                        }
                    }
                }
                Mode::FlipAnswerMac => {
                    if let Some(b) = chunk.last_mut() {
                        *b ^= 0x01;
                    }
                }
                Mode::Pass | Mode::DropRequest | Mode::FlipRequestMac => {}
            }
            if c_out.write_all(chunk).is_err() {
                return;
            }
        }
    });
}
