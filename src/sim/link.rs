//! The shop's network as the demo can switch it: one switch for every
//! simulated host (the acquirer, the QR provider), so taking "the link"
//! down takes the till's whole outside world away at once, as a cut cable
//! or a dead router does.
//!
//! While the link is down a host has no listening socket (a till's connect
//! is refused, so it knows nothing was sent) and the connections it had
//! are closed between requests; when the link is back the host listens on
//! the same address again.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Up or down, shared by the hosts it governs and whoever flips it.
#[derive(Debug, Clone, Default)]
pub struct LinkSwitch {
    down: Arc<AtomicBool>,
    /// Hosts on this link not listening yet (each picks the switch up on
    /// its next poll).
    closed: Arc<AtomicUsize>,
}

impl LinkSwitch {
    /// A switch with the link up.
    pub fn new() -> LinkSwitch {
        LinkSwitch::default()
    }

    pub fn set_up(&self, up: bool) {
        self.down.store(!up, Ordering::SeqCst);
        tracing::info!(up, "simulated network link switched");
    }

    pub fn is_up(&self) -> bool {
        !self.down.load(Ordering::SeqCst)
    }

    /// Waits (up to `within`) until every host on the link listens again
    /// after [`LinkSwitch::set_up`], so a connect made next is not refused
    /// by a host that has not yet noticed; whether they all do.
    pub fn wait_until_listening(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while self.closed.load(Ordering::SeqCst) > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        true
    }
}

/// A non-blocking listener on a fixed address that exists only while its
/// link is up.
pub(crate) struct SwitchedListener {
    addr: SocketAddr,
    listener: Option<TcpListener>,
    link: LinkSwitch,
}

impl SwitchedListener {
    /// Takes over a bound listener (its address is kept for rebinding).
    pub(crate) fn new(listener: TcpListener, link: LinkSwitch) -> std::io::Result<Self> {
        listener.set_nonblocking(true)?;
        Ok(SwitchedListener {
            addr: listener.local_addr()?,
            listener: Some(listener),
            link,
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The next waiting connection, if any: `Ok(None)` when none waits or
    /// the link is down (the socket is closed then, so connects are
    /// refused). Never blocks.
    pub(crate) fn accept(&mut self) -> std::io::Result<Option<(TcpStream, SocketAddr)>> {
        if !self.link.is_up() {
            if self.listener.take().is_some() {
                self.link.closed.fetch_add(1, Ordering::SeqCst);
                tracing::info!(addr = %self.addr, "simulated host stops listening (link down)");
            }
            return Ok(None);
        }
        let listener = match &self.listener {
            Some(l) => l,
            None => {
                let l = TcpListener::bind(self.addr)?;
                l.set_nonblocking(true)?;
                tracing::info!(addr = %self.addr, "simulated host listens again (link up)");
                self.link.closed.fetch_sub(1, Ordering::SeqCst);
                self.listener.insert(l)
            }
        };
        match listener.accept() {
            Ok(c) => Ok(Some(c)),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl Drop for SwitchedListener {
    fn drop(&mut self) {
        // A stopped host is not waited for.
        if self.listener.is_none() {
            self.link.closed.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn accept_soon(l: &mut SwitchedListener) -> bool {
        for _ in 0..100 {
            if l.accept().unwrap().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    #[test]
    fn a_down_link_refuses_connects_and_comes_back_on_the_same_address() {
        let link = LinkSwitch::new();
        let bound = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let addr = bound.local_addr().unwrap();
        let mut l = SwitchedListener::new(bound, link.clone()).unwrap();
        let _c = TcpStream::connect(addr).unwrap();
        assert!(accept_soon(&mut l));

        link.set_up(false);
        assert!(!link.is_up());
        assert!(l.accept().unwrap().is_none());
        let refused = TcpStream::connect(addr).unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);

        link.set_up(true);
        assert!(!link.wait_until_listening(Duration::from_millis(20)));
        assert!(l.accept().unwrap().is_none(), "listening again");
        assert!(link.wait_until_listening(Duration::ZERO));
        let _c = TcpStream::connect(addr).unwrap();
        assert!(accept_soon(&mut l));
    }
}
