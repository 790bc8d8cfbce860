//! Crash consistency of the acquirer link, with real processes and real
//! files on both sides: the host simulator runs as its own process
//! (`tillpoint acquirer-sim`, SQLite ledger) on loopback, and a till process
//! (`tillpoint-harness crash-till`) rings offline and online card sales
//! into its SQLite database and then forwards its outbox. The till is killed
//! with SIGKILL at a random moment, mostly while it syncs, 200 times: 100
//! times speaking the generic host profile and 100 times the cups profile
//! (where a kill can also land in a sign-on, and a till that restarts with
//! keys the host has replaced meets an A0 and signs on again).
//!
//! After every kill the till's books and the host ledger must agree as far
//! as a crash allows: every card sale has its capture and (offline) its
//! advice, nothing the host captured is unknown to the till, nothing the
//! till marked delivered is missing at the host, nothing reversed at the
//! host is in the till's books. Every other round the till restarts (a new
//! session on the same file) and syncs to the end; then the two sides must
//! hold exactly the same captures: no advice lost, none captured twice. At
//! the end the batch settles on the first 0500, without a batch upload.
//!
//! Each round also refunds or post-voids a few earlier card sales before it
//! syncs, so kills land while referenced refunds and voids are in flight:
//! each must reach the host exactly once (a void voids, a refund credits),
//! never be refused, and its effect on the till's batch must be recorded
//! together with its acknowledgement.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{bin, harness};
use rand::{Rng, SeedableRng};
use tillpoint_app::till::store_settings;
use tillpoint_config::Config;
use tillpoint_core::sale::SaleKind;
use tillpoint_core::tender::TenderKind;
use tillpoint_payment::acquirer::terminal_keys;
use tillpoint_payment::acquirer::till_store::SqliteAcquirerStore;
use tillpoint_payment::acquirer::wire::{CupsSettings, HostProfile, Wire};
use tillpoint_payment::acquirer::{
    AcquirerClient, AcquirerStore, ClientConfig, DataKey, OfflineLimits, OutboxState, Session,
    SessionConfig, SystemClock,
};
use tillpoint_payment::iso8583::messages::{TerminalIds, TxnKind};
use tillpoint_sim::acquirer::host_keys::DEMO_TMK;
use tillpoint_sim::acquirer::ledger::{HostLedger, TxnStatus};
use tillpoint_store::Store;

/// Kills per host profile (200 in all).
const ROUNDS: usize = 100;
const TID: &str = "CRASHT01";

/// The simulator process, killed when the test ends however it ends.
struct SimProcess(Child);

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_sim(db: &Path, profile: &str) -> (SimProcess, SocketAddr) {
    let mut child = bin()
        .args([
            "acquirer-sim",
            "--profile",
            profile,
            "--listen",
            "127.0.0.1:0",
            "--db",
        ])
        .arg(db)
        .env("TILLPOINT_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    out.read_line(&mut first).unwrap();
    // Keep reading what it says, so it never writes into a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let addr = first
        .trim()
        .strip_prefix("listening on ")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("simulator said {first:?}"));
    (SimProcess(child), addr)
}

/// What the till and the host hold, read from their files.
struct Sides {
    /// (STAN, amount, offline, post-voided) of each card tender of the
    /// till's sales.
    sales: Vec<(String, i64, bool, bool)>,
    /// Amounts of the card tenders of the till's refunds.
    refunds: Vec<i64>,
    /// (STAN, MMDD, amount) of each purchase and refund capture not voided.
    captures: Vec<(String, String, i64)>,
    /// (STAN, amount, voided) of each purchase capture.
    purchases: Vec<(String, i64, bool)>,
    /// Amounts of the refund captures.
    credits: Vec<i64>,
    /// STAN → state of each advice in the outbox.
    advices: BTreeMap<String, OutboxState>,
    /// Advices sent (attempt recorded) and not yet acknowledged.
    in_flight: usize,
    /// (kind, state) of each refund or void the till owes the host.
    instructions: Vec<(String, String)>,
    /// STANs of the originals with a reversal owed.
    reversals: BTreeSet<String>,
    /// (STAN, MMDD, amount, source) of the purchases and refunds the host
    /// captured.
    host_approved: Vec<(String, String, i64, String)>,
    /// (STAN, MMDD of the void, STAN, MMDD of the voided original) of the
    /// voids the host approved.
    host_voids: Vec<(String, String, String, String)>,
    /// (STAN, MMDD) the host reversed.
    host_reversed: BTreeSet<(String, String)>,
    /// STANs of the advices the host has (captured, or voided since).
    host_advices: BTreeSet<String>,
}

fn read_sides(data: &Path, host_db: &Path) -> Sides {
    let (config, _) = Config::parse("").unwrap();
    let store = Store::open(&data.join("till.db"), store_settings(&config)).unwrap();
    assert_eq!(store.integrity_check().unwrap(), Ok(()));
    assert!(
        store.verify_journal().unwrap().is_ok(),
        "journal chain broken"
    );
    let mut sales = Vec::new();
    let mut refunds = Vec::new();
    for (record, voided) in store.sales_between(0, i64::MAX).unwrap() {
        for t in record.tenders.iter().filter(|t| t.kind == TenderKind::Card) {
            let card = t.card.as_ref().unwrap();
            match record.kind {
                SaleKind::Sale => {
                    sales.push((card.stan.clone(), t.amount.minor, card.offline, voided))
                }
                SaleKind::Refund => refunds.push(-t.amount.minor),
            }
        }
    }
    let acq = SqliteAcquirerStore::open(&data.join("till.db")).unwrap();
    let all = acq.captures_all().unwrap();
    let captures = all
        .iter()
        .filter(|c| !c.voided)
        .map(|c| {
            (
                c.original.stan.to_string(),
                c.original.transmitted.mmdd(),
                c.amount as i64,
            )
        })
        .collect();
    let purchases = all
        .iter()
        .filter(|c| c.kind == TxnKind::Purchase)
        .map(|c| (c.original.stan.to_string(), c.amount as i64, c.voided))
        .collect();
    let credits = all
        .iter()
        .filter(|c| c.kind == TxnKind::Refund)
        .map(|c| c.amount as i64)
        .collect();
    let mut advices = BTreeMap::new();
    let mut in_flight = 0;
    for a in acq.outbox_all().unwrap() {
        if a.state == OutboxState::Pending && a.attempts > 0 {
            in_flight += 1;
        }
        assert!(
            advices.insert(a.stan.to_string(), a.state).is_none(),
            "two advices with STAN {}",
            a.stan
        );
        if a.state != OutboxState::Pending {
            assert!(a.sealed_card.is_empty(), "card data kept after the answer");
        }
    }
    let conn = rusqlite::Connection::open(data.join("till.db")).unwrap();
    let instructions = conn
        .prepare("SELECT kind, state FROM outbox WHERE kind IN ('refund', 'void') ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let reversals = acq
        .pending_reversals()
        .unwrap()
        .into_iter()
        .map(|r| r.original.stan.to_string())
        .collect();
    let rows = HostLedger::open(host_db).unwrap().txns(TID).unwrap();
    let host_approved = rows
        .iter()
        .filter(|r| {
            r.status == TxnStatus::Approved && (r.proc_code == "000000" || r.proc_code == "200000")
        })
        .map(|r| (r.stan.clone(), r.tdate.clone(), r.amount, r.source.clone()))
        .collect();
    let host_voids = rows
        .iter()
        .filter(|r| r.status == TxnStatus::Approved && r.proc_code == "020000")
        .map(|r| {
            let o = rows.iter().find(|o| Some(o.id) == r.original_id).unwrap();
            (
                r.stan.clone(),
                r.tdate.clone(),
                o.stan.clone(),
                o.tdate.clone(),
            )
        })
        .collect();
    let host_reversed = rows
        .iter()
        .filter(|r| r.status == TxnStatus::Reversed)
        .map(|r| (r.stan.clone(), r.tdate.clone()))
        .collect();
    let host_advices = rows
        .iter()
        .filter(|r| r.source == "advice" && r.status != TxnStatus::Declined)
        .map(|r| r.stan.clone())
        .collect();
    Sides {
        host_advices,
        sales,
        refunds,
        captures,
        purchases,
        credits,
        advices,
        in_flight,
        instructions,
        reversals,
        host_approved,
        host_voids,
        host_reversed,
    }
}

fn sorted<T: Ord + Clone>(v: &[T]) -> Vec<T> {
    let mut v = v.to_vec();
    v.sort();
    v
}

/// What must hold at any instant, however the till died.
fn check_after_kill(s: &Sides, round: usize) {
    // The sale and its acquirer effects were one transaction.
    let sold: Vec<(String, i64)> = s.sales.iter().map(|x| (x.0.clone(), x.1)).collect();
    let captured: Vec<(String, i64)> = s.purchases.iter().map(|x| (x.0.clone(), x.1)).collect();
    assert_eq!(
        sorted(&sold),
        sorted(&captured),
        "round {round}: sales and captures differ"
    );
    let offline: BTreeSet<&String> = s.sales.iter().filter(|x| x.2).map(|x| &x.0).collect();
    let advised: BTreeSet<&String> = s.advices.keys().collect();
    assert_eq!(
        offline, advised,
        "round {round}: offline sales and advices differ"
    );
    // A refund's or void's effect on the batch and its "done" were one
    // transaction; none is ever refused (every original is known).
    let done = |kind: &str| {
        s.instructions
            .iter()
            .filter(|(k, st)| k == kind && st == "done")
            .count()
    };
    assert!(
        s.instructions.iter().all(|(_, st)| st != "failed"),
        "round {round}: a refund or void was refused: {:?}",
        s.instructions
    );
    assert_eq!(
        s.purchases.iter().filter(|p| p.2).count(),
        done("void"),
        "round {round}: voided captures and delivered voids differ"
    );
    assert_eq!(
        s.credits.len(),
        done("refund"),
        "round {round}: refund captures and delivered refunds differ"
    );
    let till_keys: BTreeSet<(&String, &String)> = s.captures.iter().map(|c| (&c.0, &c.1)).collect();
    // Nothing the host captured is unknown to the till: either it is in the
    // till's books, or the till owes its reversal.
    for (stan, tdate, amount, source) in &s.host_approved {
        assert!(
            till_keys.contains(&(stan, tdate)) || s.reversals.contains(stan),
            "round {round}: host captured {source} {stan}/{tdate} ({amount}) the till does not know"
        );
    }
    // A void the host approved has voided the till's capture, or the till
    // owes its reversal.
    for (stan, tdate, ostan, otdate) in &s.host_voids {
        assert!(
            !till_keys.contains(&(ostan, otdate)) || s.reversals.contains(stan),
            "round {round}: host voided {ostan}/{otdate} (void {stan}/{tdate}), the till still counts it"
        );
    }
    // Nothing the till marked delivered is missing at the host.
    for (stan, state) in &s.advices {
        if *state == OutboxState::Done {
            assert!(
                s.host_advices.contains(stan),
                "round {round}: advice {stan} marked done but not at the host"
            );
        }
        assert_ne!(
            *state,
            OutboxState::Refused,
            "round {round}: advice {stan} refused"
        );
    }
    // Nothing the host reversed is in the till's books.
    for (stan, tdate) in &s.host_reversed {
        assert!(
            !till_keys.contains(&(stan, tdate)),
            "round {round}: {stan}/{tdate} reversed at the host but kept by the till"
        );
    }
}

/// After a restart has synced to the end: the same captures on both sides.
fn check_exact(s: &Sides, round: usize) {
    assert!(
        s.reversals.is_empty(),
        "round {round}: reversals still owed"
    );
    assert!(
        s.advices.values().all(|st| *st == OutboxState::Done),
        "round {round}: advices still waiting"
    );
    assert!(
        s.instructions.iter().all(|(_, st)| st == "done"),
        "round {round}: refunds or voids still waiting: {:?}",
        s.instructions
    );
    let host: Vec<(String, String, i64)> = s
        .host_approved
        .iter()
        .map(|(st, d, a, _)| (st.clone(), d.clone(), *a))
        .collect();
    assert_eq!(
        sorted(&s.captures),
        sorted(&host),
        "round {round}: till and host captures differ"
    );
    // Every post-void and every refund rung up reached the host once.
    let voided_sales: Vec<&String> = s.sales.iter().filter(|x| x.3).map(|x| &x.0).collect();
    let voided_captures: Vec<&String> = s.purchases.iter().filter(|x| x.2).map(|x| &x.0).collect();
    assert_eq!(
        sorted(&voided_sales),
        sorted(&voided_captures),
        "round {round}"
    );
    assert_eq!(sorted(&s.refunds), sorted(&s.credits), "round {round}");
}

/// A till restart: a new session on the same database that delivers what
/// is owed, as the till's forwarder does when it starts.
fn host_profile(name: &str) -> HostProfile {
    match name {
        "cups" => HostProfile::Cups(CupsSettings::default()),
        _ => HostProfile::Generic,
    }
}

fn recover(data: &Path, addr: SocketAddr, profile: &str) {
    let mut cfg = ClientConfig::new(addr);
    cfg.read_timeout = Duration::from_secs(5);
    let mut client = AcquirerClient::new(cfg);
    client.set_wire(Wire::with_keys_in(host_profile(profile), data.to_path_buf()).unwrap());
    let mut session = Session::new(
        SqliteAcquirerStore::open(&data.join("till.db")).unwrap(),
        client,
        SessionConfig {
            ids: TerminalIds {
                tid: TID.into(),
                mid: "TILLPOINT".into(),
                currency: 156,
            },
            limits: OfflineLimits::default(),
        },
        Box::new(SystemClock),
        DataKey::load_or_create(data).unwrap(),
    )
    .unwrap();
    // The host process may still be busy with what the killed till sent
    // (its ledger is locked while it commits): keep trying for a while, as
    // the till's worker would.
    let mut last = None;
    for _ in 0..100 {
        let report = session.forward_pending(usize::MAX).unwrap();
        let reversals = session.store().pending_reversals().unwrap();
        if report.remaining == 0 && reversals.is_empty() {
            return;
        }
        last = Some((report, reversals));
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the restarted till could not deliver what it owes: {last:?}");
}

#[test]
fn sigkill_during_sync_loses_no_advice_and_captures_none_twice() {
    crash_rounds("generic", 20_261_122);
}

#[test]
fn sigkill_during_sync_under_the_cups_profile() {
    crash_rounds("cups", 20_261_203);
}

fn crash_rounds(profile: &str, default_seed: u64) {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A kill can land before the till has made its data directory; the
    // checks after it must still find (an empty) database to read.
    std::fs::create_dir_all(&data).unwrap();
    let host_db = dir.path().join("host.db");
    let (_sim, addr) = start_sim(&host_db, profile);
    if profile == "cups" {
        terminal_keys::store_tmk(&data, &DEMO_TMK).unwrap();
    }
    let config = dir.path().join("till.toml");
    std::fs::write(
        &config,
        format!(
            "[acquirer]\nhost = \"{addr}\"\ntid = \"{TID}\"\nconnect_timeout_ms = 1000\nread_timeout_ms = 3000\n\
             profile = \"{profile}\"\n[acquirer.fees]\nvisa = \"1.5%\"\n"
        ),
    )
    .unwrap();
    let seed: u64 = std::env::var("ACQ_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_seed);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    // Microseconds a sync takes, learnt from the runs that got to the end.
    let mut sync_us: f64 = 20_000.0;
    let (mut before_sync, mut in_sync, mut after_sync) = (0, 0, 0);
    let mut sold = 0;
    let mut returned = 0;
    // Rounds whose kill left advices sent but unacknowledged.
    let mut cut_mid_flight = 0;
    for round in 0..ROUNDS {
        let mut child = harness()
            .args(["crash-till", "--offline"])
            .arg(rng.gen_range(1..=6u32).to_string())
            .arg("--online")
            .arg(rng.gen_range(0..=2u32).to_string())
            .arg("--returns")
            .arg(rng.gen_range(0..=2u32).to_string())
            .arg("--data-dir")
            .arg(&data)
            .arg("--config")
            .arg(&config)
            .env("TILLPOINT_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut lines = Vec::new();
        if rng.gen_bool(0.8) {
            // Wait until it syncs, then kill it somewhere in the sync.
            let deadline = Instant::now() + Duration::from_secs(20);
            while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                let is_sync = line == "sync";
                lines.push(line);
                if is_sync {
                    break;
                }
            }
            let us = rng.gen_range(0.0..sync_us * 1.2) as u64;
            std::thread::sleep(Duration::from_micros(us));
        } else {
            // Anywhere: starting up, ringing a sale, talking to the host.
            std::thread::sleep(Duration::from_micros(rng.gen_range(0..120_000)));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        lines.extend(rx.try_iter());
        sold += lines.iter().filter(|l| l.starts_with("sold ")).count();
        returned += lines.iter().filter(|l| l.starts_with("returned ")).count();
        if let Some(done) = lines.iter().find_map(|l| l.strip_prefix("synced ")) {
            after_sync += 1;
            if let Some(us) = done.split(' ').nth(2).and_then(|u| u.parse::<f64>().ok()) {
                sync_us = 0.8 * sync_us + 0.2 * us.max(1_000.0);
            }
        } else if lines.iter().any(|l| l == "sync") {
            in_sync += 1;
        } else {
            before_sync += 1;
        }

        let sides = read_sides(&data, &host_db);
        check_after_kill(&sides, round);
        if sides.in_flight > 0 {
            cut_mid_flight += 1;
        }
        if round % 2 == 1 || round == ROUNDS - 1 {
            recover(&data, addr, profile);
            check_exact(&read_sides(&data, &host_db), round);
        }
    }

    // End of day: the batch settles on the first 0500, no upload needed.
    let out = bin()
        .args(["acquirer", "settle", "--data-dir"])
        .arg(&data)
        .arg("--config")
        .arg(&config)
        .env("TILLPOINT_LOG", "error")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("settled, totals match"), "{text}");
    assert!(HostLedger::open(&host_db)
        .unwrap()
        .is_settled(TID, "000001")
        .unwrap());

    let sides = read_sides(&data, &host_db);
    eprintln!(
        "acquirer crash test ({profile}): {ROUNDS} kills ({before_sync} before the sync, {in_sync} during it, \
         {after_sync} after it; {cut_mid_flight} left advices sent but unanswered), \
                  {sold} card sales and {returned} refunds/post-voids reported, {} captures and {} voids on both \
         sides, sync ≈ {:.1} ms, {:.1} s (seed {seed})",
        sides.captures.len(),
        sides.purchases.iter().filter(|p| p.2).count(),
        sync_us / 1000.0,
        started.elapsed().as_secs_f64()
    );
    assert!(
        in_sync >= ROUNDS / 3,
        "too few kills landed during a sync: {in_sync}"
    );
    assert!(
        cut_mid_flight >= 3,
        "too few kills cut a window of advices in flight: {cut_mid_flight}"
    );
    assert!(
        sides.captures.len() >= ROUNDS,
        "too few sales to mean anything"
    );
    assert!(
        returned >= ROUNDS / 4 && !sides.credits.is_empty() && sides.purchases.iter().any(|p| p.2),
        "too few refunds and voids to mean anything: {returned}"
    );
}

/// Runs the real binary on `data` and `config` (with `stdin` piped in when
/// given): exit code, standard output, standard error.
fn cli(
    data: &Path,
    config: &Path,
    args: &[&str],
    stdin: Option<&str>,
) -> (Option<i32>, String, String) {
    use std::io::Write as _;
    let mut child = bin()
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .arg("--config")
        .arg(config)
        .env("TILLPOINT_LOG", "warn")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `tillpoint acquirer echo|status|sync` run through the till's service
/// against the simulator on loopback, and say so plainly when the host is
/// gone.
#[test]
fn acquirer_commands_answer_and_fail_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (sim, addr) = start_sim(&dir.path().join("host.db"), "generic");
    let config = dir.path().join("till.toml");
    std::fs::write(
        &config,
        format!(
            "[acquirer]\nhost = \"{addr}\"\ntid = \"{TID}\"\nconnect_timeout_ms = 5000\nread_timeout_ms = 10000\n"
        ),
    )
    .unwrap();
    let run = |args: &[&str]| cli(&data, &config, args, None);
    let logs = || {
        std::fs::read_dir(data.join("logs"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect::<String>()
    };
    let (code, out, err) = run(&["acquirer", "echo"]);
    assert_eq!(code, Some(0), "{out}{err}{}", logs());
    assert!(out.contains(&format!("{addr} answered in")), "{out}");
    let (code, out, err) = run(&["acquirer", "status"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains(&format!("acquirer {addr} as terminal {TID}")),
        "{out}"
    );
    let (code, out, _) = run(&["acquirer", "status", "--json"]);
    assert_eq!(code, Some(0));
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(json.is_object(), "{out}");
    let (code, out, err) = run(&["acquirer", "sync"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.starts_with("0 advice(s)"), "{out}");
    drop(sim);
    let (code, out, err) = run(&["acquirer", "echo"]);
    assert_ne!(code, Some(0), "an echo to a stopped host succeeded: {out}");
    assert!(
        format!("{out}{err}").contains(&addr.to_string()),
        "the failure names the host: {out}{err}"
    );
}

/// The cups key ceremony on the command line: `acquirer load-tmk` refuses a
/// key whose check value differs and stores nothing, seals a matching one
/// (the key's bytes never appear in the file), and the till then signs on
/// by itself and settles under MACs; before it, what needs a MAC fails
/// saying the master key is missing.
#[test]
fn load_tmk_then_settle_under_cups() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (_sim, addr) = start_sim(&dir.path().join("host.db"), "cups");
    let config = dir.path().join("till.toml");
    std::fs::write(
        &config,
        format!(
            "[acquirer]\nhost = \"{addr}\"\ntid = \"{TID}\"\nprofile = \"cups\"\nconnect_timeout_ms = 5000\nread_timeout_ms = 10000\n"
        ),
    )
    .unwrap();
    let run = |args: &[&str], stdin: &str| {
        let (code, out, err) = cli(&data, &config, args, Some(stdin));
        (code == Some(0), out + &err)
    };
    let tmk = "0123456789ABCDEFFEDCBA9876543210\n";
    let (ok, text) = run(&["check"], "");
    assert!(!ok && text.contains("no terminal master key"), "{text}");
    let (ok, text) = run(&["acquirer", "settle"], "");
    assert!(!ok, "{text}");
    assert!(text.contains("terminal master key"), "{text}");

    let (ok, text) = run(&["acquirer", "load-tmk", "--kcv", "123456"], tmk);
    assert!(!ok);
    assert!(text.contains("08D7B4"), "{text}");
    assert!(!data.join(terminal_keys::TMK_FILE).exists());
    let (ok, text) = run(&["acquirer", "load-tmk", "--kcv", "08d7b4"], "not hex\n");
    assert!(!ok && text.contains("32 hex digits"), "{text}");

    let (ok, text) = run(&["acquirer", "load-tmk", "--kcv", "08D7B4"], tmk);
    assert!(ok, "{text}");
    let sealed = std::fs::read(data.join(terminal_keys::TMK_FILE)).unwrap();
    assert!(!sealed
        .windows(8)
        .any(|w| w == [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]));

    let (_, text) = run(&["check"], "");
    assert!(
        text.contains("check value 08D7B4); not signed on yet"),
        "{text}"
    );
    let (ok, text) = run(&["acquirer", "settle"], "");
    assert!(ok, "{text}");
    assert!(data.join(terminal_keys::WORKING_FILE).exists());
    let (_, text) = run(&["check"], "");
    assert!(
        text.contains("working keys of the last sign-on present"),
        "{text}"
    );
    let (ok, text) = run(&["acquirer", "echo"], "");
    assert!(ok, "{text}");
}
