//! QR payments never stay one-sided when the till process dies: a real
//! till process (`tillpoint-harness qr-till`) takes QR payments in both
//! directions through the gateway (`qr-sim` on 127.0.0.1 over HTTPS) into
//! its SQLite file and is killed with SIGKILL at random moments: just
//! after a code is shown, while it polls, between the money being taken
//! and the sale being recorded, and after the sale. Each restart's QR
//! worker settles what the killed run left while the new run sells.
//!
//! At the end every order is settled, and the till and the provider agree
//! order by order: money the provider took is in exactly one recorded
//! sale or was given back (reversed), nothing paid is unknown to the till,
//! and the QR takings in the till's books equal what the provider holds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::harness;
use rand::{Rng, SeedableRng};
use tillpoint_app::till::{Paths, Till};
use tillpoint_core::tender::TenderKind;
use tillpoint_payment::qr_gateway::api::TradeState;
use tillpoint_sim::qr::{start_qr_sim, QrSimConfig};
use tillpoint_store::qr_orders::QrOrderState;

/// Kills in all; each round lasts a few seconds at most.
const ROUNDS: usize = 16;

fn config(dir: &Path, url: &str) -> PathBuf {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let cfg = dir.join("tillpoint.toml");
    let qr = common::qr_gateway_section(url, 20);
    let shop = tillpoint_app::demo_shop::CONFIG_TOML;
    common::write_config(&cfg, format!("{shop}\n{qr}"));
    cfg
}

/// The till process; killed when the test ends however it ends.
struct TillProcess(Child);

impl Drop for TillProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_till(cfg: &Path, dir: &Path, args: &[&str]) -> (TillProcess, mpsc::Receiver<String>) {
    let mut child = harness()
        .arg("--config")
        .arg(cfg)
        .arg("--data-dir")
        .arg(dir)
        .arg("qr-till")
        .args(args)
        .env("TILLPOINT_LOG", "error")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (TillProcess(child), rx)
}

/// Where in a sale the kill lands.
#[derive(Debug, Clone, Copy)]
enum Moment {
    /// Some time after a code is shown (while it polls).
    Shown,
    /// Soon after the money is taken, before the sale is recorded.
    Paid,
    /// Just after a sale is recorded.
    Recorded,
    /// Anywhere.
    Any,
}

/// What the killed runs said they had done.
#[derive(Default)]
struct Said {
    paid: BTreeSet<String>,
    recorded: BTreeSet<String>,
}

impl Said {
    fn note(&mut self, line: &str) {
        let mut w = line.split_whitespace();
        match (w.next(), w.next()) {
            (Some("paid"), Some(no)) => {
                self.paid.insert(no.to_owned());
            }
            (Some("recorded"), Some(no)) => {
                self.recorded.insert(no.to_owned());
            }
            _ => {}
        }
    }
}

/// Runs the till until `moment` (plus a random delay) and kills it.
fn round(
    i: usize,
    cfg: &Path,
    dir: &Path,
    rng: &mut rand::rngs::StdRng,
    said: &mut Said,
) -> Moment {
    let moment = match i % 4 {
        0 => Moment::Shown,
        1 => Moment::Paid,
        2 => Moment::Recorded,
        _ => Moment::Any,
    };
    // Longer than the kill's delay after "paid", so those kills land
    // between the money and the sale.
    let hold = rng.gen_range(300..800u64).to_string();
    let (mut till, lines) = start_till(cfg, dir, &["--hold-ms", &hold]);
    let deadline = Instant::now() + Duration::from_secs(15);
    let any_after = Duration::from_millis(rng.gen_range(300..4000));
    let started = Instant::now();
    let mut armed: Option<Instant> = None;
    while Instant::now() < deadline {
        if armed.is_some_and(|t| Instant::now() >= t)
            || matches!(moment, Moment::Any) && started.elapsed() >= any_after
        {
            break;
        }
        let Ok(line) = lines.recv_timeout(Duration::from_millis(20)) else {
            continue;
        };
        assert!(!line.starts_with("refused"), "a healthy provider: {line}");
        said.note(&line);
        let hit = matches!(
            (moment, line.split_whitespace().next()),
            (Moment::Shown, Some("shown"))
                | (Moment::Paid, Some("paid"))
                | (Moment::Recorded, Some("recorded"))
        );
        if hit && armed.is_none() {
            let after = match moment {
                Moment::Shown => rng.gen_range(0..2500),
                Moment::Paid => rng.gen_range(0..250),
                _ => 0,
            };
            armed = Some(Instant::now() + Duration::from_millis(after));
        }
    }
    till.0.kill().unwrap();
    till.0.wait().unwrap();
    // What it printed before it died.
    while let Ok(line) = lines.try_recv() {
        said.note(&line);
    }
    moment
}

fn till_orders(dir: &Path) -> BTreeMap<String, (QrOrderState, i64)> {
    let db = rusqlite::Connection::open(dir.join("till.db")).unwrap();
    let mut st = db
        .prepare("SELECT out_trade_no, state, amount FROM qr_orders")
        .unwrap();
    st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })
    .unwrap()
    .map(|r| {
        let (no, state, amount) = r.unwrap();
        let state = match state.as_str() {
            "recorded" => QrOrderState::Recorded,
            "closed" => QrOrderState::Closed,
            "reversed" => QrOrderState::Reversed,
            "paid" => QrOrderState::Paid,
            "open" => QrOrderState::Open,
            other => panic!("order {no} in state {other}"),
        };
        (no, (state, amount))
    })
    .collect()
}

/// Each QR order id in the till's recorded sales, with how many sales
/// name it and the amount they took by it.
fn qr_takings(cfg: &Path, dir: &Path) -> BTreeMap<String, (usize, i64)> {
    let till = Till::open(Paths {
        config_file: cfg.to_path_buf(),
        data_dir: dir.to_path_buf(),
    })
    .unwrap();
    let mut by_order: BTreeMap<String, (usize, i64)> = BTreeMap::new();
    for (sale, _) in till.store.sales_between(0, i64::MAX).unwrap() {
        for t in sale.tenders.iter().filter(|t| t.kind == TenderKind::Qr) {
            let c = t.card.as_ref().expect("a QR tender names its order");
            let e = by_order.entry(c.order_id.clone()).or_default();
            e.0 += 1;
            e.1 += t.amount.minor;
        }
    }
    by_order
}

#[test]
fn a_till_killed_while_it_takes_qr_payments_leaves_no_order_one_sided() {
    let seed: u64 = std::env::var("QR_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("QR_KILL_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let sim = start_qr_sim(QrSimConfig::demo("127.0.0.1:0".parse().unwrap()).unwrap()).unwrap();
    {
        let mut l = sim.ledger();
        // The customer scans a shown code at the first poll; a phone's code
        // asks its owner to confirm once, so both directions poll.
        l.auto_scan_after = Some(1);
        l.userpaying_polls = 1;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &sim.url());
    let mut said = Said::default();
    let mut moments = Vec::new();
    for i in 0..ROUNDS {
        moments.push(round(i, &cfg, dir.path(), &mut rng, &mut said));
    }
    // A last start settles what the last kill left.
    let (mut last, lines) = start_till(&cfg, dir.path(), &["--count", "0"]);
    let status = last.0.wait().unwrap();
    let out: Vec<String> = lines.try_iter().collect();
    assert!(status.success(), "orders left open: {out:?}");

    let mine = till_orders(dir.path());
    let takings = qr_takings(&cfg, dir.path());
    let theirs = sim.ledger().orders.clone();
    assert!(
        said.recorded.len() >= ROUNDS / 2,
        "the kills left too few sales to judge ({moments:?})"
    );
    let mut reversed = 0;
    for (no, o) in &theirs {
        let (state, amount) = mine
            .get(no)
            .unwrap_or_else(|| panic!("the provider has order {no} the till never wrote"));
        assert_eq!(o.total, *amount, "order {no}");
        let in_sales = takings.get(no).copied();
        match o.state {
            TradeState::Success => {
                assert_eq!(*state, QrOrderState::Recorded, "order {no}");
                assert_eq!(in_sales, Some((1, o.total)), "order {no} in one sale");
            }
            TradeState::Revoked => {
                reversed += 1;
                assert_eq!(*state, QrOrderState::Reversed, "order {no}");
                assert_eq!(in_sales, None, "reversed order {no} is in a sale");
            }
            TradeState::Closed | TradeState::Notpay | TradeState::Payerror => {
                assert_eq!(*state, QrOrderState::Closed, "order {no}");
                assert_eq!(in_sales, None, "unpaid order {no} is in a sale");
            }
            other => panic!("order {no} left {other:?} at the provider"),
        }
    }
    for (no, (state, _)) in &mine {
        assert!(
            theirs.contains_key(no) || *state == QrOrderState::Closed,
            "order {no} {state:?} at the till is unknown to the provider"
        );
    }
    for no in &said.recorded {
        assert_eq!(mine[no].0, QrOrderState::Recorded, "said recorded: {no}");
    }
    let given_back: Vec<&String> = said.paid.difference(&said.recorded).collect();
    assert!(
        !given_back.is_empty(),
        "no kill landed between a payment and its sale"
    );
    for no in &said.paid {
        assert!(
            matches!(mine[no].0, QrOrderState::Recorded | QrOrderState::Reversed),
            "paid order {no} ended {:?}",
            mine[no].0
        );
    }
    let held: i64 = theirs
        .values()
        .filter(|o| o.state == TradeState::Success)
        .map(|o| o.total)
        .sum();
    let booked: i64 = takings.values().map(|t| t.1).sum();
    assert_eq!(booked, held, "the till's QR takings against the provider's");
    eprintln!(
        "{} orders, {} recorded, {reversed} reversed ({} were paid when a kill cut their sale short); kills at {moments:?}",
        theirs.len(),
        said.recorded.len(),
        given_back.len()
    );
}
