//! Up, exactly once.

use super::common;
use super::common::postgres::Postgres;
use super::harness::*;
use std::time::{Duration, Instant};
use tillpoint_core::headoffice::{IngestReport, JournalBatch};

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
