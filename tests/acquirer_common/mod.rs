//! Shared rig for the acquirer-link integration tests: a real simulator on a
//! loopback port with its own SQLite ledger in a temp dir, an optional TCP
//! fault proxy in between, and a session over the till's store.
//!
//! The store is the till's SQLite database (`SqliteAcquirerStore` on a real
//! file) unless a test runs under [`with_store`]`(StoreKind::Memory, ..)`:
//! each test file runs its tests on both (see `on_both_stores!`). The
//! in-memory runs speak the cups profile (TPDU, BCD, sign-on keys, MACs)
//! and the SQLite runs the generic one, so every test runs under both
//! host profiles and both stores without running four times.
#![allow(dead_code)]

pub mod proxy;

use std::cell::Cell;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;

use tillpoint_payment::acquirer::till_store::SqliteAcquirerStore;
use tillpoint_payment::acquirer::wire::{CupsSettings, HostProfile, Wire};
use tillpoint_payment::acquirer::{
    AcquirerClient, AcquirerStore, BatchItem, ClientConfig, DataKey, MemoryStore, OfflineLimits,
    OfflineSale, PendingAdvice, Session, SessionConfig, TimeSource,
};
use tillpoint_payment::iso8583::messages::{CardInput, EntryMode, PinData, TerminalIds, TxnKind};
use tillpoint_payment::pin::master_session;
use tillpoint_sim::acquirer::host_keys::HostKeys;
use tillpoint_sim::acquirer::ledger::{TxnRow, TxnStatus};
use tillpoint_sim::acquirer::{
    start_acquirer_sim, test_pin_block, EmvIssuer, SimConfig, SimHandle,
};

pub const TID: &str = "TILL0001";
/// The visa-online-pin virtual card (issuer keys in the simulator).
pub const PAN: &str = "4761739001010010";
/// The offline-approve virtual card.
pub const OFFLINE_PAN: &str = "4761739001010119";

/// Which acquirer store a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    /// The till's SQLite database on a real file.
    Sqlite,
    /// The in-memory store.
    Memory,
}

thread_local! {
    static KIND: Cell<StoreKind> = const { Cell::new(StoreKind::Sqlite) };
    static CUPS: Cell<bool> = const { Cell::new(false) };
}

/// The terminal master key of the test till and host: the published
/// UnionPay terminal example's (see `pin::master_session`'s tests).
pub const TEST_TMK: [u8; 16] = [
    0x70, 0xf2, 0xa8, 0x4c, 0xcb, 0xc2, 0xae, 0x86, 0x25, 0xcb, 0xb0, 0xf2, 0xc2, 0x2a, 0xb9, 0x23,
];

/// Runs `test` with rigs on the given store (each test has its own thread);
/// the in-memory store's runs speak the cups profile.
pub fn with_store(kind: StoreKind, test: fn()) {
    KIND.with(|k| k.set(kind));
    CUPS.with(|c| c.set(kind == StoreKind::Memory));
    test();
}

/// Runs `test` under the cups profile on the SQLite store (for tests that
/// need the till's database beside the session).
pub fn with_cups(test: fn()) {
    CUPS.with(|c| c.set(true));
    test();
}

fn store_kind() -> StoreKind {
    KIND.with(Cell::get)
}

/// The host profile of this test's run.
pub fn profile() -> HostProfile {
    if CUPS.with(Cell::get) {
        HostProfile::Cups(CupsSettings::default())
    } else {
        HostProfile::Generic
    }
}

pub fn is_cups() -> bool {
    matches!(profile(), HostProfile::Cups(_))
}

/// A simulator configuration in this run's profile, keyed with [`TEST_TMK`].
pub fn sim_config(db: std::path::PathBuf, issuer: &EmvIssuer) -> SimConfig {
    let mut cfg = SimConfig::new("127.0.0.1:0".parse().unwrap(), db, Arc::new(issuer.clone()));
    cfg.profile = profile();
    cfg.keys = Arc::new(HostKeys::new(TEST_TMK));
    cfg
}

/// The code this run's profile gives a reversal reason on the host (the
/// generic profile keeps the till's two digits, cups its field 39 code).
pub fn host_reversal_code(generic: &str) -> &'static str {
    use tillpoint_payment::iso8583::cups::reversal_code;
    match (is_cups(), generic) {
        (false, "01") => "01",
        (false, "02") => "02",
        (false, "03") => "03",
        (false, "04") => "04",
        (false, "05") => "05",
        (false, "06") => "06",
        (true, "01" | "02") => reversal_code::NO_ANSWER,
        (true, "03") => reversal_code::UNUSABLE_ANSWER,
        (true, _) => reversal_code::OTHER,
        _ => "??",
    }
}

/// Generates, for each named test, a copy that runs on the in-memory store
/// (the originals run on SQLite).
///
/// The copies speak the cups profile (see the module documentation).
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod on_memory_store {
            $(
                #[test]
                fn $name() {
                    $crate::acquirer_common::with_store(
                        $crate::acquirer_common::StoreKind::Memory,
                        super::$name,
                    );
                }
            )*
        }
    };
}

/// Generates, for each named test, a copy that runs under the cups profile
/// (on the SQLite store; the originals run under the generic profile).
#[macro_export]
macro_rules! on_cups_profile {
    ($($name:ident),* $(,)?) => {
        mod on_cups_profile {
            $(
                #[test]
                fn $name() {
                    $crate::acquirer_common::with_cups(super::$name);
                }
            )*
        }
    };
}

/// What the tests need of a store beyond the trait.
pub trait RigStore: AcquirerStore + Sync {
    fn outbox_all(&self) -> Vec<PendingAdvice>;
    fn captures_all(&self) -> Vec<BatchItem>;
}

impl RigStore for MemoryStore {
    fn outbox_all(&self) -> Vec<PendingAdvice> {
        MemoryStore::outbox_all(self)
    }
    fn captures_all(&self) -> Vec<BatchItem> {
        MemoryStore::captures_all(self)
    }
}

impl RigStore for SqliteAcquirerStore {
    fn outbox_all(&self) -> Vec<PendingAdvice> {
        SqliteAcquirerStore::outbox_all(self).unwrap()
    }
    fn captures_all(&self) -> Vec<BatchItem> {
        SqliteAcquirerStore::captures_all(self).unwrap()
    }
}

pub type SharedStore = Arc<dyn RigStore>;

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

impl TimeSource for ManualClock {
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
    pub kind: StoreKind,
    pub store: SharedStore,
    pub session: Session<SharedStore>,
    pub issuer: EmvIssuer,
    pub clock: ManualClock,
    pub key: DataKey,
    atc: u16,
    pin_counter: u32,
}

pub fn client_to(addr: SocketAddr, read_ms: u64) -> AcquirerClient {
    let mut cfg = ClientConfig::new(addr);
    cfg.read_timeout = Duration::from_millis(read_ms);
    cfg.connect_timeout = Duration::from_millis(500);
    let mut client = AcquirerClient::new(cfg);
    client.set_wire(Wire::with_tmk(profile(), zeroize::Zeroizing::new(TEST_TMK)));
    client
}

/// Signs `client` on under cups (a no-op under the generic profile), for
/// tests that talk to the host beside the session.
pub fn sign_on_raw(client: &mut AcquirerClient) {
    use tillpoint_payment::iso8583::messages::{
        network_request, NetworkRequest, Stamp, Stan, Timestamp,
    };
    if !is_cups() {
        return;
    }
    let now = Timestamp::from_datetime(OffsetDateTime::now_utc());
    let stamp = Stamp {
        stan: Stan::new(999_000).unwrap(),
        transmitted: now,
        local: now,
        batch: 1,
    };
    let req = network_request(&ids(), &stamp, NetworkRequest::SignOn).unwrap();
    assert_eq!(client.exchange(&req).unwrap().get_str(39), Some("00"));
    assert!(!client.wire().needs_sign_on());
}

fn open_store(kind: StoreKind, db: &Path) -> SharedStore {
    match kind {
        StoreKind::Sqlite => Arc::new(SqliteAcquirerStore::open(db).unwrap()),
        StoreKind::Memory => Arc::new(MemoryStore::new()),
    }
}

impl Rig {
    /// Simulator plus a session talking to it directly.
    pub fn new() -> Rig {
        Rig::with(None, OfflineLimits::default())
    }

    /// Simulator plus a session talking to `via(sim_addr)` (e.g. a proxy).
    pub fn with(via: Option<SocketAddr>, limits: OfflineLimits) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let issuer = EmvIssuer::test_cards();
        let sim = start_acquirer_sim(sim_config(dir.path().join("host.db"), &issuer)).unwrap();
        let kind = store_kind();
        let store = open_store(kind, &dir.path().join("till.db"));
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
        let mut rig = Rig {
            dir,
            sim,
            kind,
            store,
            session,
            issuer,
            clock,
            key,
            atc: 0,
            pin_counter: 0,
        };
        rig.sign_on_if_cups();
        rig
    }

    /// Under cups a till signs on when it starts; the rig does it at once so
    /// fault knobs a test sets afterwards meet the test's own requests (a
    /// session would sign on by itself before its first one). A host that
    /// cannot be reached now is signed on to later, by the session.
    pub fn sign_on_if_cups(&mut self) {
        if is_cups() {
            let _ = self.session.sign_on();
        }
    }

    /// A new session (a till restart), talking to `addr`. On SQLite the
    /// database is reopened from its file, so only what was committed
    /// survives.
    pub fn restart(&mut self, addr: SocketAddr) {
        if self.kind == StoreKind::Sqlite {
            self.store = open_store(self.kind, &self.dir.path().join("till.db"));
        }
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
        self.sign_on_if_cups();
    }

    /// Chip card with a valid ARQC for `amount` (as the virtual card would
    /// compute it) and, optionally, an online PIN block from the PIN pad's
    /// DUKPT keys.
    pub fn card(&mut self, amount: u64, pin: Option<&str>) -> CardInput {
        self.atc += 1;
        CardInput {
            pan: PAN.into(),
            expiry: Some("3012".into()),
            sequence: Some("001".into()),
            track2: Some(format!("{PAN}D30122011143878089")),
            entry: EntryMode::Chip,
            icc: self.issuer.icc_for(PAN, amount, self.atc),
            pin: pin.map(|p| self.pin_block(p, PAN)),
        }
    }

    /// What the PIN pad returns for `pin`: generic, a TDES DUKPT block and
    /// its KSN; cups, a format 0 block under the session PIN key, which the
    /// pad unwraps with the TMK from the key the till hands it.
    pub fn pin_block(&mut self, pin: &str, pan: &str) -> PinData {
        if is_cups() {
            let under_tmk = self
                .session
                .client_mut()
                .wire()
                .pin_key_under_tmk()
                .expect("signed on");
            let pik = master_session::unwrap(&TEST_TMK, &under_tmk);
            let block = master_session::encrypt_pin(&pik, pin, pan).unwrap();
            return PinData {
                block,
                ksn: Vec::new(),
            };
        }
        self.pin_counter += 1;
        let (block, ksn) = test_pin_block(pin, pan, self.pin_counter).unwrap();
        PinData { block, ksn }
    }

    /// An online chip purchase of `amount` (with an online PIN when given).
    pub fn purchase(
        &mut self,
        amount: u64,
        pin: Option<&str>,
    ) -> Result<tillpoint_payment::acquirer::Authorization, tillpoint_payment::acquirer::SessionError>
    {
        let card = self.card(amount, pin);
        self.session
            .authorize(&tillpoint_payment::acquirer::OnlineRequest::Purchase { amount, card })
    }

    pub fn offline_sale(&mut self, kind: TxnKind, amount: u64) -> OfflineSale {
        self.atc += 1;
        let card = CardInput {
            pan: OFFLINE_PAN.into(),
            expiry: Some("3012".into()),
            sequence: Some("001".into()),
            track2: Some(format!("{OFFLINE_PAN}D30122011143878089")),
            entry: EntryMode::Chip,
            icc: self.issuer.tc_for(OFFLINE_PAN, amount, self.atc),
            pin: None,
        };
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
