// TEMPORARY probe, deleted after measuring.
use std::sync::Arc;
use std::time::{Duration, Instant};
use tillpoint::payment::acquirer::forwarder::FORWARD_WINDOW;
use tillpoint::payment::acquirer::sqlite::{advice_row, capture_row, SqliteAcquirerStore};
use tillpoint::payment::acquirer::*;
use tillpoint::payment::iso8583::messages::*;
use tillpoint::sim::acquirer::*;

fn main() {
    let n = 10_000usize;
    let dir = tempfile::tempdir().unwrap();
    let sim = start_acquirer_sim(SimConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        dir.path().join("host.db"),
        Arc::new(EmvIssuer::test_cards()),
    ))
    .unwrap();
    let ids = TerminalIds {
        tid: "BENCH001".into(),
        mid: "M".into(),
        currency: 978,
    };
    let cfg = SessionConfig {
        ids: ids.clone(),
        limits: OfflineLimits {
            max_count: n as u64 + 1,
            max_amount: u64::MAX,
            max_age: Duration::from_secs(86400),
        },
    };
    let key = DataKey::generate();
    let client = || {
        let mut c = ClientConfig::new(sim.addr());
        c.read_timeout = Duration::from_secs(10);
        AcquirerClient::new(c)
    };
    let issuer = EmvIssuer::test_cards();
    let pan = "4761739001010119";
    let mem = Arc::new(MemoryStore::new());
    let mut prep = Session::new(
        mem.clone(),
        client(),
        cfg.clone(),
        Box::new(SystemClock),
        key.clone(),
    )
    .unwrap();
    let mut rows = Vec::new();
    let mut items = Vec::new();
    for i in 0..n {
        let amount = 100 + (i as u64 % 50);
        let (item, capture) = prep
            .prepare_offline(&OfflineSale {
                kind: TxnKind::Purchase,
                amount,
                card: CardInput {
                    pan: pan.into(),
                    expiry: Some("3012".into()),
                    sequence: Some("001".into()),
                    track2: None,
                    entry: EntryMode::Chip,
                    icc: issuer.tc_for(pan, amount, (i % 65535) as u16 + 1),
                    pin: None,
                },
                auth_code: "Y1".into(),
            })
            .unwrap();
        rows.push((advice_row(&item).unwrap(), capture_row(&capture).unwrap()));
        items.push((item, capture));
    }
    // memory store forwarding (first half of the stans), then sqlite with the second half? Use two separate TIDs instead: simpler—run memory on all n, then reset host db? Just run memory first with these items.
    for (item, capture) in &items {
        mem.enqueue_offline(item, capture).unwrap();
    }
    prep.echo().unwrap();
    let t = Instant::now();
    let r = prep.forward_pending(n).unwrap();
    println!(
        "memory store: {} delivered in {:?} => {:.1} us/advice",
        r.delivered,
        t.elapsed(),
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    // Repeat forwarding = all duplicates answered from ledger replay
    let store = SqliteAcquirerStore::open(&dir.path().join("till.db")).unwrap();
    store.db().enqueue_advices(&rows).unwrap();
    let mut s = Session::new(store, client(), cfg, Box::new(SystemClock), key).unwrap();
    s.echo().unwrap();
    let t = Instant::now();
    let r = s.forward_pending(n).unwrap();
    println!(
        "sqlite store, host replays: {} delivered in {:?} => {:.1} us/advice",
        r.delivered,
        t.elapsed(),
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    // raw commit cost
    let db = tillpoint::store::acquirer::AcquirerDb::open(&dir.path().join("x.db")).unwrap();
    let t = Instant::now();
    for _ in 0..200 {
        db.next_stan().unwrap();
    }
    println!(
        "FULL commit: {:.1} us",
        t.elapsed().as_secs_f64() * 1e6 / 200.0
    );
}
