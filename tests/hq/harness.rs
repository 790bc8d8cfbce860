//! The head-office tests' parts: the server process, tills on real SQLite
//! files with their own KEKs, and PostgreSQL queries.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use super::common;
use super::common::postgres::Postgres;
use tillpoint_core::catalog::Qty;
use tillpoint_core::headoffice::JournalBatch;
use tillpoint_core::journal::Entry;
use tillpoint_core::money::Money;
use tillpoint_core::sale::Sale;
use tillpoint_store::Store;

pub const T: i64 = 1_763_700_000_000;

/// The head-office server process.
pub struct Hq {
    child: Child,
    pub addr: SocketAddr,
    pub database: String,
}

impl Hq {
    pub fn start(database: &str) -> Hq {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Hq::start_at(([127, 0, 0, 1], port).into(), database)
    }

    /// Head office at the address the tills know it by.
    pub fn start_at(addr: SocketAddr, database: &str) -> Hq {
        let child = common::bin()
            .args([
                "hq",
                "serve",
                "--listen",
                &addr.to_string(),
                "--database",
                database,
            ])
            // Errors (a projector that cannot book) show in the test's output.
            .env("TILLPOINT_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
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

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The process dies at once (SIGKILL), as a power cut would take it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn add_till(&self, shop: &str, till: &str) -> String {
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
pub struct Till {
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub rules: tillpoint_core::sale::PricingRules,
}

impl Till {
    pub fn new() -> Till {
        let dir = tempfile::tempdir().unwrap();
        let (store, config) = common::demo_store(dir.path());
        Till {
            dir,
            store,
            rules: config.pricing,
        }
    }

    pub fn data(&self) -> &Path {
        self.dir.path()
    }

    pub fn kek(&self) -> PathBuf {
        kek_of(self.data())
    }

    pub fn cmd(&self, args: &[&str]) -> Output {
        cmd_in(self.data(), args)
    }

    pub fn enrol(&self, hq: &Hq, code: &str) -> Output {
        self.cmd(&["hq", "enrol", &hq.url(), code])
    }

    pub fn sync(&self) -> Output {
        self.cmd(&["hq", "sync"])
    }

    pub fn sell(&mut self, n: usize) {
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

    pub fn entries(&self) -> Vec<Entry> {
        let r = tillpoint_store::journal::JournalReader::open(self.store.path()).unwrap();
        r.after(0, usize::MAX).unwrap()
    }
}

/// Each till's key-encryption key sits beside (never inside) its data
/// directory.
pub fn kek_of(data: &Path) -> PathBuf {
    data.with_extension("kek")
}

/// `tillpoint ARGS --data-dir DATA` as the till at `data`.
pub fn cmd_in(data: &Path, args: &[&str]) -> Output {
    common::bin()
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env("TILLPOINT_KEK", kek_of(data))
        .env("TILLPOINT_LOG", "error")
        .output()
        .unwrap()
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Head office's copy of a till's journal, straight from PostgreSQL.
/// Runs `f` to completion on a runtime of its own (the tests are sync).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// One query on a fresh connection to `url`.
pub fn query(
    url: &str,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Vec<tokio_postgres::Row> {
    block_on(async {
        let client = tillpoint_hq::connect(url).await.unwrap();
        client.query(sql, params).await.unwrap()
    })
}

pub fn held(pg: &Postgres, db: &str, shop: &str, till: &str) -> Vec<(i64, String)> {
    query(
        &pg.url(db),
        "SELECT seq, hash FROM journal WHERE shop_id = $1 AND till_id = $2 ORDER BY seq",
        &[&shop, &till],
    )
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

pub fn flags(pg: &Postgres, db: &str) -> Vec<(String, i64, String)> {
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
pub fn database(pg: &Postgres, name: &str) -> String {
    query(&pg.url("postgres"), &format!("CREATE DATABASE {name}"), &[]);
    pg.url(name)
}

/// Runs `f` in this process as `till` (its KEK): the tests of this file
/// run in parallel and the KEK is found through the environment.
pub fn as_till<T>(till: &Till, f: impl FnOnce() -> T) -> T {
    static ENV: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _g = ENV.lock().unwrap_or_else(|e| e.into_inner());
    std::env::set_var("TILLPOINT_KEK", till.kek());
    f()
}

/// Posts a batch as a till would, with its credential read from its
/// sealed key file (the test plays a till that sends what it likes).
pub fn post_batch(till: &Till, hq: &Hq, entries: Vec<Entry>) -> (u16, String) {
    let key = as_till(till, || {
        tillpoint_payment::keyfile::load_existing(till.data(), tillpoint_app::headoffice::KEY_FILE)
            .unwrap()
            .unwrap()
    });
    let body = serde_json::to_string(&JournalBatch { entries }).unwrap();
    post(hq, Some(&hex::encode(&key[..])), &body)
}

/// One raw HTTP/1.1 POST of `body` to the journal: status and body.
pub fn post(hq: &Hq, credential: Option<&str>, body: &str) -> (u16, String) {
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
