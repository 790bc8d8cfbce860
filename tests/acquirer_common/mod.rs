//! Shared rig for the acquirer-link integration tests: a real simulator on a
//! loopback port with its own SQLite ledger in a temp dir, an optional TCP
//! fault proxy in between, and a session over an in-memory store.
#![allow(dead_code)]

pub mod proxy;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;

use tillpoint::payment::acquirer::{
    AcquirerClient, AcquirerStore, ClientConfig, Clock, DataKey, MemoryStore, OfflineLimits,
    OfflineSale, Session, SessionConfig,
};
use tillpoint::payment::iso8583::messages::{CardInput, EntryMode, PinData, TerminalIds, TxnKind};
use tillpoint::sim::acquirer::{start_acquirer_sim, SimConfig, SimHandle, TestIssuer};
use tillpoint::store::host_ledger::{TxnRow, TxnStatus};

pub const TID: &str = "TILL0001";
pub const PAN: &str = "4761739001010010";
pub const KSN: [u8; 10] = [0xff, 0xff, 0x98, 0x76, 0x54, 0x32, 0x10, 0xe0, 0x00, 0x01];

/// A clock the test moves by hand.
#[derive(Clone)]
pub struct ManualClock(pub Arc<Mutex<OffsetDateTime>>);

impl ManualClock {
    pub fn new() -> Self {
        ManualClock(Arc::new(Mutex::new(OffsetDateTime::now_utc())))
    }
    pub fn advance(&self, d: Duration) {
        let mut t = self.0.lock().unwrap();
        *t += d;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

pub fn ids() -> TerminalIds {
    TerminalIds {
        tid: TID.into(),
        mid: "SHOP00000000001".into(),
        currency: 978,
    }
}

pub struct Rig {
    pub dir: tempfile::TempDir,
    pub sim: SimHandle,
    pub store: Arc<MemoryStore>,
    pub session: Session<Arc<MemoryStore>>,
    pub issuer: TestIssuer,
    pub clock: ManualClock,
    pub key: DataKey,
    atc: u16,
}

pub fn client_to(addr: SocketAddr, read_ms: u64) -> AcquirerClient {
    let mut cfg = ClientConfig::new(addr);
    cfg.read_timeout = Duration::from_millis(read_ms);
    cfg.connect_timeout = Duration::from_millis(500);
    AcquirerClient::new(cfg)
}

impl Rig {
    /// Simulator plus a session talking to it directly.
    pub fn new() -> Rig {
        Rig::with(None, OfflineLimits::default())
    }

    /// Simulator plus a session talking to `via(sim_addr)` (e.g. a proxy).
    pub fn with(via: Option<SocketAddr>, limits: OfflineLimits) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let issuer = TestIssuer::default();
        let sim = start_acquirer_sim(SimConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            dir.path().join("host.db"),
            Arc::new(issuer.clone()),
        ))
        .unwrap();
        let store = Arc::new(MemoryStore::new());
        let clock = ManualClock::new();
        let key = DataKey::load_or_create(dir.path()).unwrap();
        let session = Session::new(
            store.clone(),
            client_to(via.unwrap_or(sim.addr()), 400),
            SessionConfig { ids: ids(), limits },
            Box::new(clock.clone()),
            key.clone(),
        )
        .unwrap();
        Rig {
            dir,
            sim,
            store,
            session,
            issuer,
            clock,
            key,
            atc: 0,
        }
    }

    /// A new session on the same store (a till restart), talking to `addr`.
    pub fn restart(&mut self, addr: SocketAddr) {
        self.session = Session::new(
            self.store.clone(),
            client_to(addr, 400),
            SessionConfig {
                ids: ids(),
                limits: OfflineLimits::default(),
            },
            Box::new(self.clock.clone()),
            self.key.clone(),
        )
        .unwrap();
    }

    /// Chip card with an ARQC for `amount` and, optionally, an online PIN.
    pub fn card(&mut self, amount: u64, pin: Option<&str>) -> CardInput {
        self.atc += 1;
        CardInput {
            pan: PAN.into(),
            expiry: Some("3012".into()),
            sequence: Some("001".into()),
            track2: Some(format!("{PAN}D30122011143878089")),
            entry: EntryMode::Chip,
            icc: Some(self.issuer.icc_for(PAN, amount, self.atc)),
            pin: pin.map(|p| PinData {
                block: self.issuer.pin_block(p, PAN, &KSN).unwrap(),
                ksn: KSN.to_vec(),
            }),
        }
    }

    pub fn offline_sale(&mut self, kind: TxnKind, amount: u64) -> OfflineSale {
        let mut card = self.card(amount, None);
        // An offline approval carries a TC; the stand-in reuses the layout.
        if let Some(icc) = card.icc.as_mut() {
            icc.extend_from_slice(&[0x9f, 0x27, 0x01, 0x40]);
        }
        OfflineSale {
            kind,
            amount,
            card,
            auth_code: "Y1".into(),
        }
    }

    pub fn host_rows(&self) -> Vec<TxnRow> {
        self.sim.ledger().unwrap().txns(TID).unwrap()
    }

    /// The till's batch and the host's captured transactions must be the same
    /// set: no transaction lost, none captured twice.
    pub fn assert_agree(&self) {
        let batch = self.store.current_batch().unwrap();
        let mut till: Vec<(String, String, i64)> = self
            .store
            .batch_items(batch)
            .unwrap()
            .into_iter()
            .filter(|i| !i.voided)
            .map(|i| {
                (
                    i.original.stan.to_string(),
                    i.original.transmitted.mmdd(),
                    i.amount as i64,
                )
            })
            .collect();
        let mut host: Vec<(String, String, i64)> = self
            .host_rows()
            .into_iter()
            .filter(|r| {
                r.batch == format!("{batch:06}")
                    && r.status == TxnStatus::Approved
                    && (r.proc_code == "000000" || r.proc_code == "200000")
            })
            .map(|r| (r.stan, r.tdate, r.amount))
            .collect();
        till.sort();
        host.sort();
        assert_eq!(till, host, "till batch and host ledger disagree");
    }
}
