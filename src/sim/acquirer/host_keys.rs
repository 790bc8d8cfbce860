//! The host's side of cups keying: every terminal shares the simulator's
//! terminal master key (the demo's, or a test's), and each sign-on issues
//! that terminal fresh random working keys, kept in memory (a restarted
//! simulator has forgotten them and answers A0 until the till signs on
//! again, as a real host that lost its key table would).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use rand::RngCore;
use zeroize::Zeroizing;

use tillpoint_payment::pin::master_session::{Key16, WorkingKeys};

/// The demo's terminal master key: the well-known test key
/// 0123456789ABCDEF FEDCBA9876543210, never a production key.
pub const DEMO_TMK: [u8; 16] = [
    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
];

struct Issued {
    pin_key: Key16,
    mac_key: Key16,
}

/// Terminal keys the simulated host holds.
pub struct HostKeys {
    tmk: Key16,
    issued: Mutex<HashMap<String, Issued>>,
    /// Set by a test: the next answers ask the terminal to sign on again
    /// (header processing requirement 3).
    ask_sign_on: AtomicBool,
}

impl std::fmt::Debug for HostKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HostKeys(<redacted>)")
    }
}

impl Default for HostKeys {
    fn default() -> Self {
        HostKeys::new(DEMO_TMK)
    }
}

impl HostKeys {
    pub fn new(tmk: [u8; 16]) -> HostKeys {
        HostKeys {
            tmk: Zeroizing::new(tmk),
            issued: Mutex::new(HashMap::new()),
            ask_sign_on: AtomicBool::new(false),
        }
    }

    /// New working keys for `tid`: the 40-byte download for field 62.
    pub fn issue(&self, tid: &str) -> Vec<u8> {
        let mut pin_key = Zeroizing::new([0u8; 16]);
        let mut mac_key = Zeroizing::new([0u8; 16]);
        rand::rngs::OsRng.fill_bytes(&mut pin_key[..]);
        rand::rngs::OsRng.fill_bytes(&mut mac_key[..]);
        let download = WorkingKeys::download(&self.tmk, &pin_key, &mac_key);
        if let Ok(mut map) = self.issued.lock() {
            map.insert(tid.to_owned(), Issued { pin_key, mac_key });
        }
        self.ask_sign_on.store(false, Ordering::Relaxed);
        download
    }

    pub fn mac_key(&self, tid: &str) -> Option<Key16> {
        let map = self.issued.lock().ok()?;
        map.get(tid).map(|i| i.mac_key.clone())
    }

    pub fn pin_key(&self, tid: &str) -> Option<Key16> {
        let map = self.issued.lock().ok()?;
        map.get(tid).map(|i| i.pin_key.clone())
    }

    /// Forgets `tid`'s working keys (it signed off).
    pub fn forget(&self, tid: &str) {
        if let Ok(mut map) = self.issued.lock() {
            map.remove(tid);
        }
    }

    /// Forgets every terminal's working keys (a host that lost its table).
    pub fn forget_all(&self) {
        if let Ok(mut map) = self.issued.lock() {
            map.clear();
        }
    }

    /// Makes the answers ask for a new sign-on until the terminal does it.
    pub fn ask_sign_on(&self) {
        self.ask_sign_on.store(true, Ordering::Relaxed);
    }

    pub fn sign_on_asked(&self) -> bool {
        self.ask_sign_on.load(Ordering::Relaxed)
    }
}
