//! Head office on a real PostgreSQL (a cluster made for the test) and real
//! HTTP on loopback: the `tillpoint hq serve` process, tills enrolled with
//! one-time codes from `tillpoint hq till add`, and each till's journal sent
//! up by `tillpoint hq sync` from its real SQLite file. Exactly once: a
//! repeat changes nothing, a gap or a changed entry is refused and
//! flagged, a till whose head office was away catches up, a revoked till
//! is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use common::postgres::Postgres;
use tillpoint_core::catalog::Qty;
use tillpoint_core::headoffice::{IngestReport, JournalBatch};
use tillpoint_core::journal::Entry;
use tillpoint_core::money::Money;
use tillpoint_core::sale::Sale;
use tillpoint_store::Store;

const T: i64 = 1_763_700_000_000;

/// The head-office server process.
struct Hq {
    child: Child,
    addr: SocketAddr,
    database: String,
}

impl Hq {
    fn start(database: &str) -> Hq {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Hq::start_at(([127, 0, 0, 1], port).into(), database)
    }

    /// Head office at the address the tills know it by.
    fn start_at(addr: SocketAddr, database: &str) -> Hq {
        let child = common::bin()
            .args([
                "hq",
                "serve",
                "--listen",
                &addr.to_string(),
                "--database",
                database,
            ])
            .env("TILLPOINT_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let until = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < until, "head office did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Hq {
            child,
            addr,
            database: database.to_owned(),
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The process dies at once (SIGKILL), as a power cut would take it.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn add_till(&self, shop: &str, till: &str) -> String {
        let out = common::bin()
            .args(["hq", "till", "add", "--database", &self.database])
            .args(["--shop", shop, "--till", till])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }
}

impl Drop for Hq {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A till: its data directory (with the demo catalog) and its own KEK.
struct Till {
    dir: tempfile::TempDir,
    store: Store,
    rules: tillpoint_core::sale::PricingRules,
}

impl Till {
    fn new() -> Till {
        let dir = tempfile::tempdir().unwrap();
        let (store, config) = common::demo_store(dir.path());
        Till {
            dir,
            store,
            rules: config.pricing,
        }
    }

    fn data(&self) -> &Path {
        self.dir.path()
    }

    fn kek(&self) -> PathBuf {
        kek_of(self.data())
    }

    fn cmd(&self, args: &[&str]) -> Output {
        cmd_in(self.data(), args)
    }

    fn enrol(&self, hq: &Hq, code: &str) -> Output {
        self.cmd(&["hq", "enrol", &hq.url(), code])
    }

    fn sync(&self) -> Output {
        self.cmd(&["hq", "sync"])
    }

    fn sell(&mut self, n: usize) {
        for i in 0..n {
            let p = self.store.product_by_sku("00001").unwrap().unwrap();
            let mut s = Sale::new(self.store.settings().currency, 1001);
            s.add(&p, Qty::pieces(1 + (i % 3) as i64)).unwrap();
            s.pay_cash(Money::new(100_000, self.rules.currency), &self.rules)
                .unwrap();
            self.store
                .complete_sale(&s, &self.rules, T + i as i64, 9, &[])
                .unwrap();
        }
    }

    fn entries(&self) -> Vec<Entry> {
        let r = tillpoint_store::journal::JournalReader::open(self.store.path()).unwrap();
        r.after(0, usize::MAX).unwrap()
    }
}

/// Each till's key-encryption key sits beside (never inside) its data
/// directory.
fn kek_of(data: &Path) -> PathBuf {
    data.with_extension("kek")
}

/// `tillpoint ARGS --data-dir DATA` as the till at `data`.
fn cmd_in(data: &Path, args: &[&str]) -> Output {
    common::bin()
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env("TILLPOINT_KEK", kek_of(data))
        .env("TILLPOINT_LOG", "error")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Head office's copy of a till's journal, straight from PostgreSQL.
/// Runs `f` to completion on a runtime of its own (the tests are sync).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// One query on a fresh connection to `url`.
fn query(
    url: &str,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Vec<tokio_postgres::Row> {
    block_on(async {
        let client = tillpoint_hq::connect(url).await.unwrap();
        client.query(sql, params).await.unwrap()
    })
}

fn held(pg: &Postgres, db: &str, shop: &str, till: &str) -> Vec<(i64, String)> {
    query(
        &pg.url(db),
        "SELECT seq, hash FROM journal WHERE shop_id = $1 AND till_id = $2 ORDER BY seq",
        &[&shop, &till],
    )
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

fn flags(pg: &Postgres, db: &str) -> Vec<(String, i64, String)> {
    query(
        &pg.url(db),
        "SELECT till_id, seq, problem FROM till_flags ORDER BY id",
        &[],
    )
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

/// A database of its own for a test, on the test's cluster.
fn database(pg: &Postgres, name: &str) -> String {
    query(&pg.url("postgres"), &format!("CREATE DATABASE {name}"), &[]);
    pg.url(name)
}

/// Runs `f` in this process as `till` (its KEK): the tests of this file
/// run in parallel and the KEK is found through the environment.
fn as_till<T>(till: &Till, f: impl FnOnce() -> T) -> T {
    static ENV: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _g = ENV.lock().unwrap_or_else(|e| e.into_inner());
    std::env::set_var("TILLPOINT_KEK", till.kek());
    f()
}

/// Posts a batch as a till would, with its credential read from its
/// sealed key file (the test plays a till that sends what it likes).
fn post_batch(till: &Till, hq: &Hq, entries: Vec<Entry>) -> (u16, String) {
    let key = as_till(till, || {
        tillpoint_payment::keyfile::load_existing(till.data(), tillpoint_app::headoffice::KEY_FILE)
            .unwrap()
            .unwrap()
    });
    let body = serde_json::to_string(&JournalBatch { entries }).unwrap();
    post(hq, Some(&hex::encode(&key[..])), &body)
}

/// One raw HTTP/1.1 POST of `body` to the journal: status and body.
fn post(hq: &Hq, credential: Option<&str>, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let auth = credential
        .map(|c| format!("Authorization: Bearer {c}\r\n"))
        .unwrap_or_default();
    let mut stream = std::net::TcpStream::connect(hq.addr).unwrap();
    write!(
        stream,
        "POST /api/v1/journal HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        hq.addr,
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

#[test]
fn bad_requests_get_a_clear_answer_and_store_nothing() {
    let Some(pg) = Postgres::start() else { return };
    let db = database(&pg, "hq_bad");
    let hq = Hq::start(&db);
    let mut t = Till::new();
    let code = hq.add_till("shop5", "T01");
    assert!(t.enrol(&hq, &code).status.success());
    t.sell(1);
    let (status, body) = post(&hq, None, "{\"entries\":[]}");
    assert_eq!(status, 401, "{body}");
    let (status, body) = post(&hq, Some(&"ab".repeat(32)), "{\"entries\":[]}");
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("unknown or revoked"), "{body}");
    let key = as_till(&t, || {
        tillpoint_payment::keyfile::load_existing(t.data(), tillpoint_app::headoffice::KEY_FILE)
            .unwrap()
            .unwrap()
    });
    let cred = hex::encode(&key[..]);
    for garbage in ["{\"entries\":[{\"seq\":1", "not json", "{\"entries\":7}"] {
        let (status, body) = post(&hq, Some(&cred), garbage);
        assert!((400..500).contains(&status), "{garbage}: {status} {body}");
    }
    let one = t.entries()[0].clone();
    let too_many = vec![one; tillpoint_core::headoffice::MAX_BATCH + 1];
    let body = serde_json::to_string(&JournalBatch { entries: too_many }).unwrap();
    let (status, _) = post(&hq, Some(&cred), &body);
    assert_eq!(status, 413);
    assert!(held(&pg, "hq_bad", "shop5", "T01").is_empty());
    assert!(t.sync().status.success(), "a good till still gets through");
    assert_eq!(held(&pg, "hq_bad", "shop5", "T01").len(), t.entries().len());
}

#[test]
fn tills_enrol_once_and_send_their_journals_exactly_once() {
    let Some(pg) = Postgres::start() else { return };
    let db = database(&pg, "hq_once");
    let mut hq = Hq::start(&db);
    let mut a = Till::new();
    let mut b = Till::new();
    let code_a = hq.add_till("shop1", "T01");
    let code_b = hq.add_till("shop1", "T02");
    assert!(a.enrol(&hq, &code_a).status.success());
    // A code is good once.
    let again = b.enrol(&hq, &code_a);
    assert!(!again.status.success());
    assert!(text(&again).contains("already used"), "{}", text(&again));
    // Codes read back by people: case and dashes do not matter.
    assert!(b
        .enrol(&hq, &code_b.to_lowercase().replace('-', ""))
        .status
        .success());
    // The credential is sealed in the data directory, not in the clear.
    let sealed = std::fs::read(a.data().join(tillpoint_app::headoffice::KEY_FILE)).unwrap();
    assert!(sealed.starts_with(b"TPKW1"), "sealed by the KEK");

    a.sell(30);
    b.sell(5);
    for t in [&a, &b] {
        let out = t.sync();
        assert!(out.status.success(), "{}", text(&out));
    }
    let want = |t: &Till| -> Vec<(i64, String)> {
        t.entries().into_iter().map(|e| (e.seq, e.hash)).collect()
    };
    assert_eq!(held(&pg, "hq_once", "shop1", "T01"), want(&a));
    assert_eq!(held(&pg, "hq_once", "shop1", "T02"), want(&b));

    // Sending again sends nothing new.
    let out = a.sync();
    assert!(text(&out).contains("sent 0 entries"), "{}", text(&out));
    // A till that resends what head office holds only makes duplicates.
    let (status, body) = post_batch(&a, &hq, a.entries());
    assert_eq!(status, 200, "{body}");
    let r: IngestReport = serde_json::from_str(&body).unwrap();
    assert_eq!((r.accepted, r.refused), (0, None));
    assert_eq!(r.duplicates as usize, a.entries().len());

    // Head office goes away: the till sells on, says head office is not
    // reachable, and catches up when it is back.
    hq.kill();
    a.sell(600);
    let out = a.sync();
    assert!(!out.status.success());
    assert!(text(&out).contains("not reachable"), "{}", text(&out));
    let hq = Hq::start_at(hq.addr, &db);
    let out = a.sync();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(held(&pg, "hq_once", "shop1", "T01"), want(&a));
    assert!(flags(&pg, "hq_once").is_empty());
    drop(hq);
}

#[test]
fn a_gap_a_changed_entry_and_a_revoked_till_are_refused() {
    let Some(pg) = Postgres::start() else { return };
    let db = database(&pg, "hq_refused");
    let hq = Hq::start(&db);
    let mut t = Till::new();
    let code = hq.add_till("shop2", "T01");
    assert!(t.enrol(&hq, &code).status.success());
    t.sell(6);
    let all = t.entries();
    let n = all.len();
    // The first half arrives; the next batch skips an entry.
    let (status, _) = post_batch(&t, &hq, all[..n / 2].to_vec());
    assert_eq!(status, 200);
    let (status, body) = post_batch(&t, &hq, all[n / 2 + 1..].to_vec());
    assert_eq!(status, 409, "{body}");
    let r: IngestReport = serde_json::from_str(&body).unwrap();
    assert_eq!(r.accepted, 0);
    assert!(r.refused.unwrap().problem.contains("does not follow"));
    // An entry changed after the till sent it (its hash recomputed, so
    // the chain of the copy looks whole) is refused as differing.
    let mut changed = all[1].clone();
    changed.payload.push(' ');
    changed.hash = changed.computed_hash();
    let (status, body) = post_batch(&t, &hq, vec![changed]);
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("differs"), "{body}");
    // A next entry that does not link to the one held is refused too.
    let mut forged = all[n / 2].clone();
    forged.prev_hash = tillpoint_core::journal::GENESIS.into();
    forged.hash = forged.computed_hash();
    let (status, body) = post_batch(&t, &hq, vec![forged]);
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("does not link"), "{body}");
    let f = flags(&pg, "hq_refused");
    assert_eq!(f.len(), 3, "each refusal is flagged for the owner: {f:?}");
    // The till's own sync sends the rest, in order.
    let out = t.sync();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(held(&pg, "hq_refused", "shop2", "T01").len(), n);

    // Revoked: the till is refused until it enrols again.
    let out = common::bin()
        .args([
            "hq",
            "till",
            "revoke",
            "--database",
            &db,
            "--shop",
            "shop2",
            "--till",
            "T01",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    t.sell(1);
    let out = t.sync();
    assert!(!out.status.success());
    assert!(text(&out).contains("revoked"), "{}", text(&out));
    let code = hq.add_till("shop2", "T01");
    assert!(t.enrol(&hq, &code).status.success());
    let out = t.sync();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(held(&pg, "hq_refused", "shop2", "T01").len(), n + 1);
    // Migrations ran once, and running them again changes nothing.
    block_on(async {
        let mut c = tillpoint_hq::connect(&db).await.unwrap();
        assert!(tillpoint_hq::migrate(&mut c).await.unwrap().is_empty());
    });
}

#[test]
fn a_till_restored_from_an_old_backup_is_told_so() {
    let Some(pg) = Postgres::start() else { return };
    let db = database(&pg, "hq_backup");
    let hq = Hq::start(&db);
    let mut t = Till::new();
    let code = hq.add_till("shop3", "T01");
    assert!(t.enrol(&hq, &code).status.success());
    let backup = t.data().join("backup.db");
    t.store
        .raw_connection()
        .execute("VACUUM INTO ?1", [backup.to_str().unwrap()])
        .unwrap();
    t.sell(3);
    assert!(t.sync().status.success());
    // The database goes back to the copy made before those sales.
    let Till { dir, store, .. } = t;
    drop(store);
    for f in ["till.db-wal", "till.db-shm"] {
        let _ = std::fs::remove_file(dir.path().join(f));
    }
    std::fs::rename(&backup, dir.path().join("till.db")).unwrap();
    let out = cmd_in(dir.path(), &["hq", "sync"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("restored from a backup"),
        "{}",
        text(&out)
    );
}

/// The till's own worker sends in the background: the status bar's
/// figure goes to nothing waiting, shows what waits (and why) while head
/// office is away, and goes back to nothing when it returns.
#[test]
fn an_enrolled_tills_worker_sends_in_the_background_and_says_what_waits() {
    use tillpoint_app::headoffice::{HeadOfficeStatus, SyncWorker};
    let Some(pg) = Postgres::start() else { return };
    let db = database(&pg, "hq_worker");
    let mut hq = Hq::start(&db);
    let mut t = Till::new();
    let code = hq.add_till("shop4", "T01");
    assert!(t.enrol(&hq, &code).status.success());
    t.sell(4);
    let worker = as_till(&t, || {
        SyncWorker::start(t.data(), t.store.path(), Duration::from_millis(200))
            .unwrap()
            .expect("the till is enrolled")
    });
    let settled = |want: &dyn Fn(&HeadOfficeStatus) -> bool| {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let s = worker.status();
            if want(&s) || Instant::now() > until {
                return s;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let n = t.entries().len();
    let s = settled(&|_| held(&pg, "hq_worker", "shop4", "T01").len() == n);
    assert_eq!(held(&pg, "hq_worker", "shop4", "T01").len(), n, "{s:?}");
    hq.kill();
    t.sell(3);
    let s = settled(&|s| s.problem.is_some() && s.waiting > 0);
    assert!(
        s.problem
            .as_deref()
            .is_some_and(|p| p.contains("not reachable")),
        "{s:?}"
    );
    assert_eq!(s.waiting as usize, t.entries().len() - n, "{s:?}");
    let _hq = Hq::start_at(hq.addr, &db);
    let s = settled(&|s| s.problem.is_none() && s.waiting == 0);
    assert_eq!((s.waiting, s.problem.as_deref()), (0, None));
    assert_eq!(
        held(&pg, "hq_worker", "shop4", "T01").len(),
        t.entries().len()
    );
}

/// `tillpoint hq bench` runs on a small size and prints its figure with
/// its baseline (the speed itself is the bench's to judge, not a test's).
#[test]
fn the_ingest_bench_runs_against_its_baseline() {
    let Some(pg) = Postgres::start() else { return };
    let db = database(&pg, "hq_bench");
    let out = common::bin()
        .args([
            "hq",
            "bench",
            "--database",
            &db,
            "--entries",
            "2000",
            "--tills",
            "4",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("hq_ingest_2000_entries_4_tills"), "{t}");
    let rows = query(
        &db,
        "SELECT count(*) FILTER (WHERE shop_id LIKE 'bench-%'), count(*) FILTER (WHERE shop_id LIKE 'bare-%') FROM journal",
        &[],
    );
    let (ingested, bare): (i64, i64) = (rows[0].get(0), rows[0].get(1));
    assert_eq!((ingested, bare), (2000, 2000), "both sides wrote every row");
}
