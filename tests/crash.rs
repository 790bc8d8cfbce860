//! Crash consistency: a child process completes sales in a loop and is
//! killed with SIGKILL at a random moment, 200 times. After every kill the
//! database passes integrity_check, the journal chain verifies, and every
//! sale the child reported as completed is present exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use common::harness;
use rand::{Rng, SeedableRng};
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;
use tillpoint_app::till::store_settings;
use tillpoint_config::Config;
use tillpoint_store::Store;

const ROUNDS: usize = 200;

#[test]
fn sigkill_mid_sale_loses_nothing_reported() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = dir.path().join("none.toml");
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261121);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut reported: Vec<String> = Vec::new();
    // The first run seeds the demo catalog (slow Argon2 hashes); let it finish.
    let status = harness()
        .args(["sell-loop", "--count", "1", "--data-dir"])
        .arg(&data)
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    for line in String::from_utf8_lossy(&status.stdout).lines() {
        reported.push(line.trim_start_matches("completed ").to_string());
    }
    let (config, _) = Config::parse("").unwrap();
    for round in 0..ROUNDS {
        let mut child = harness()
            .args(["sell-loop", "--data-dir"])
            .arg(&data)
            .arg("--config")
            .arg(&cfg)
            .env("TILLPOINT_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| l.strip_prefix("completed ").map(str::to_string))
                .collect::<Vec<_>>()
        });
        std::thread::sleep(Duration::from_micros(rng.gen_range(0..60_000)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let fresh = reader.join().unwrap();

        let store = Store::open(&data.join("till.db"), store_settings(&config)).unwrap();
        assert_eq!(store.integrity_check().unwrap(), Ok(()), "round {round}");
        assert!(
            store.verify_journal().unwrap().is_ok(),
            "round {round}: chain broken"
        );
        // The full replays grow with the database; run them every tenth round and at the end.
        if round % 10 == 9 {
            assert_eq!(
                store.verify_sales_against_journal().unwrap(),
                None,
                "round {round}"
            );
            assert_eq!(store.verify_period_totals().unwrap(), None, "round {round}");
        }
        let check = if round == ROUNDS - 1 {
            reported.iter().chain(fresh.iter()).collect::<Vec<_>>()
        } else {
            fresh.iter().collect()
        };
        for r in check {
            let n: i64 = store
                .raw_connection()
                .query_row(
                    "SELECT COUNT(*) FROM sales WHERE receipt_no = ?1",
                    [r],
                    |row| row.get(0),
                )
                .unwrap();
            assert_eq!(n, 1, "round {round}: reported sale {r} present {n} times");
        }
        reported.extend(fresh);
    }
    let unique: HashSet<&String> = reported.iter().collect();
    assert_eq!(
        unique.len(),
        reported.len(),
        "a receipt number was reported twice"
    );
    eprintln!(
        "crash test: {ROUNDS} kills, {} sales reported and all present (seed {seed})",
        reported.len()
    );
    assert!(
        reported.len() > ROUNDS / 2,
        "too few sales completed to mean anything: {}",
        reported.len()
    );
}
