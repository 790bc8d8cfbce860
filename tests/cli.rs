//! The command line against real files: bad input gives a clear message and
//! a non-zero exit, never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use common::{bin, harness, write_config};
use std::path::Path;

fn run(args: &[&str], data: &Path, config: &Path) -> (i32, String, String) {
    let out = bin()
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .arg("--config")
        .arg(config)
        .env_remove("TILLPOINT_PIN")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

/// Completes `n` demo cash sales with the unshipped test till.
fn sell(n: u32, data: &Path, config: &Path) -> (i32, String, String) {
    let out = harness()
        .args(["sell-loop", "--count", &n.to_string(), "--data-dir"])
        .arg(data)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// The shipped binary has no test-till or bench-support command: a shop's
/// `tillpoint` cannot complete, refund or void sales with nobody at the keys.
#[test]
fn the_shipped_binary_has_no_harness_commands() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = dir.path().join("none.toml");
    for args in [
        &["sell-loop", "--count", "1"][..],
        &["acquirer", "crash-till"][..],
        &["bare-window"][..],
    ] {
        let (code, out, err) = run(args, &data, &cfg);
        assert_eq!(code, 2, "{args:?} ran: {out}{err}");
        assert!(err.contains("unrecognized subcommand"), "{args:?}: {err}");
    }
    assert!(
        !data.join("till.db").exists(),
        "a refused command opened the till"
    );
    let (_, help, _) = run(&["--help"], &data, &cfg);
    for word in ["sell-loop", "crash-till", "bare-window"] {
        assert!(!help.contains(word), "{word} in --help: {help}");
    }
}

#[test]
fn corrupt_config_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[till\nid = \"T01\"").unwrap();
    let (code, _, err) = run(&["check"], &dir.path().join("data"), &cfg);
    assert_ne!(code, 0);
    assert!(err.contains("is not valid TOML"), "{err}");
    assert!(err.contains("bad.toml"), "{err}");
}

#[test]
fn invalid_field_falls_back_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    write_config(&cfg, "[till]\ncurrency = \"XXX\"\n");
    let (code, out, err) = run(&["check"], &dir.path().join("data"), &cfg);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("1 warning(s)") && out.contains("currency"),
        "{out}"
    );
}

#[test]
fn unusable_data_dir_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let (code, _, err) = run(&["check"], &file, &dir.path().join("none.toml"));
    assert_ne!(code, 0);
    assert!(
        err.contains("cannot be used") && err.contains("not a directory"),
        "{err}"
    );
}

#[test]
fn tampered_journal_fails_the_check_naming_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = dir.path().join("none.toml");
    let (code, out, err) = sell(3, &data, &cfg);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = run(&["check"], &data, &cfg);
    assert_eq!(code, 0, "{out}");
    // The entry that keys the chain, the demo's three cashiers, three sales.
    assert!(out.contains("journal chain verified (7 entries)"), "{out}");
    let conn = rusqlite::Connection::open(data.join("till.db")).unwrap();
    conn.execute_batch(
        "DROP TRIGGER journal_no_update; UPDATE journal SET at_ms = at_ms + 1 WHERE seq = 2;",
    )
    .unwrap();
    drop(conn);
    let (code, out, _) = run(&["check"], &data, &cfg);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL journal") && out.contains("broken at entry 2"),
        "{out}"
    );
}

#[test]
fn reports_cashiers_and_export() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = dir.path().join("none.toml");
    sell(4, &data, &cfg);
    let (code, out, _) = run(&["report", "x"], &data, &cfg);
    assert_eq!(code, 0);
    assert!(
        out.contains("X REPORT") && out.contains("Sales                        4"),
        "{out}"
    );
    // Z needs a supervisor and the right PIN.
    let (code, _, err) = run(&["report", "z"], &data, &cfg);
    assert_ne!(code, 0);
    assert!(err.contains("--supervisor"), "{err}");
    let z = |pin: &str| {
        bin()
            .args(["report", "z", "--supervisor", "2001", "--data-dir"])
            .arg(&data)
            .arg("--config")
            .arg(&cfg)
            .env("TILLPOINT_PIN", pin)
            .output()
            .unwrap()
    };
    let bad = z("0000");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("wrong supervisor"));
    let good = z("2468");
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    assert!(String::from_utf8_lossy(&good.stdout).contains("Z REPORT #1"));
    assert!(String::from_utf8_lossy(&good.stdout).contains("approved by 2001"));
    let again = z("2468");
    assert!(!again.status.success(), "a Z cannot be repeated");
    let (code, out, _) = run(&["report", "z", "--reprint", "1"], &data, &cfg);
    assert_eq!(code, 0);
    assert!(out.contains("Z REPORT #1 (COPY)"));
    // A cashier may not take a Z report.
    let z_by_cashier = bin()
        .args(["report", "z", "--supervisor", "1001", "--data-dir"])
        .arg(&data)
        .arg("--config")
        .arg(&cfg)
        .env("TILLPOINT_PIN", "1234")
        .output()
        .unwrap();
    assert!(!z_by_cashier.status.success());
    assert!(String::from_utf8_lossy(&z_by_cashier.stderr).contains("may not z_report"));

    let csv_path = dir.path().join("sales.csv");
    let (code, _, err) = run(
        &[
            "export",
            "sales",
            "--from",
            "2000-01-01",
            "--to",
            "2100-01-01",
            "--out",
            csv_path.to_str().unwrap(),
        ],
        &data,
        &cfg,
    );
    assert_eq!(code, 0, "{err}");
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    assert!(csv.starts_with("receipt_no,kind,completed_at"));
    let (code, _, err) = run(
        &["export", "sales", "--from", "soon", "--to", "2100-01-01"],
        &data,
        &cfg,
    );
    assert_ne!(code, 0);
    assert!(err.contains("not a date"), "{err}");

    let add = |manager: Option<&str>, manager_pin: &str| {
        let mut cmd = bin();
        cmd.args([
            "cashier",
            "add",
            "--number",
            "77",
            "--name",
            "Zoe",
            "--role",
            "supervisor",
        ]);
        if let Some(m) = manager {
            cmd.args(["--manager", m]);
        }
        cmd.arg("--data-dir")
            .arg(&data)
            .arg("--config")
            .arg(&cfg)
            .env("TILLPOINT_PIN", manager_pin)
            .env("TILLPOINT_NEW_PIN", "777777")
            .output()
            .unwrap()
    };
    // A till with cashiers adds one only with a manager's approval.
    let alone = add(None, "777777");
    assert!(!alone.status.success());
    assert!(
        String::from_utf8_lossy(&alone.stderr).contains("manager's approval"),
        "{}",
        String::from_utf8_lossy(&alone.stderr)
    );
    let by_supervisor = add(Some("2001"), "2468");
    assert!(!by_supervisor.status.success(), "a supervisor may not");
    let add = add(Some("9001"), "9999");
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    let (_, out, _) = run(&["cashier", "list"], &data, &cfg);
    assert!(out.contains("Zoe") && out.contains("supervisor"), "{out}");
}

#[test]
fn an_empty_till_starts_with_one_unapproved_manager() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = dir.path().join("none.toml");
    let first = |number: &str, role: &str| {
        bin()
            .args([
                "cashier", "add", "--number", number, "--name", "Boss", "--role", role,
            ])
            .arg("--data-dir")
            .arg(&data)
            .arg("--config")
            .arg(&cfg)
            .env("TILLPOINT_PIN", "135790")
            .output()
            .unwrap()
    };
    assert!(
        !first("1", "cashier").status.success(),
        "not a cashier first"
    );
    let boss = first("9", "manager");
    assert!(
        boss.status.success(),
        "{}",
        String::from_utf8_lossy(&boss.stderr)
    );
    assert!(!first("8", "manager").status.success(), "only once");
    let (_, out, _) = run(&["cashier", "list"], &data, &cfg);
    assert!(
        out.contains("Boss") && out.contains("manager") && !out.contains("    8 "),
        "{out}"
    );
}

#[test]
fn catalog_import_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = dir.path().join("none.toml");
    let csv = dir.path().join("c.csv");
    std::fs::write(&csv, "sku,name,price,tax_class,category,unit,barcodes\nA1,Tea,3.50,A,Drinks,piece,\nA2,Bad,x,A,Drinks,piece,\n").unwrap();
    let (code, _, err) = run(&["catalog", "import", csv.to_str().unwrap()], &data, &cfg);
    assert_ne!(code, 0);
    assert!(
        err.contains("line 3") && err.contains("nothing imported"),
        "{err}"
    );
    std::fs::write(
        &csv,
        "sku,name,price,tax_class,category,unit,barcodes\nA1,Tea,3.50,A,Drinks,piece,\n",
    )
    .unwrap();
    let (code, out, _) = run(&["catalog", "import", csv.to_str().unwrap()], &data, &cfg);
    assert_eq!(code, 0);
    assert!(out.contains("1 added"));
    let (_, out, _) = run(&["catalog", "search", "tea"], &data, &cfg);
    assert!(out.contains("A1"), "{out}");
}

#[test]
fn device_checks_fail_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("devices.toml");
    // A port that does not exist and a loopback port nobody listens on.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    drop(silent);
    write_config(
        &cfg,
        format!(
            "[pinpad]\nport = \"/dev/tillpoint-no-such-port\"\n[acquirer]\nhost = \"{addr}\"\n"
        ),
    );
    let (code, out, _) = run(&["check"], &dir.path().join("data"), &cfg);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL pinpad") && out.contains("tillpoint-no-such-port"),
        "{out}"
    );
    assert!(
        out.contains("FAIL acquirer") && out.contains("check the network"),
        "{out}"
    );
}

#[test]
fn device_section_warnings_show_in_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("w.toml");
    write_config(
        &cfg,
        "[emv]\ncountry_code = \"not a number\"\n[acquirer]\nhost = \"nocolon\"\n",
    );
    let (code, out, _) = run(&["check"], &dir.path().join("data"), &cfg);
    assert_eq!(code, 0, "warnings are not failures: {out}");
    assert!(out.contains("[acquirer] host"), "{out}");
    assert!(out.contains("[emv]"), "{out}");
}

/// The till's files are private to its account, and the check names any
/// that someone opened up.
#[cfg(unix)]
#[test]
fn the_tills_files_are_private_and_the_check_finds_one_opened_up() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = data.join("tillpoint.toml");
    let out = bin()
        .args(["demo", "--text", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains("ok   files"), "{text}");
    assert_eq!(mode(&data), 0o700);
    for f in ["till.db", "till.db-wal", "tillpoint.toml", "outbox.key"] {
        let p = data.join(f);
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{f}");
        } else {
            assert!(f.ends_with("-wal") || f.ends_with(".key"), "{f} missing");
        }
    }
    assert_eq!(mode(&data.join("logs")), 0o700);
    let logs: Vec<_> = std::fs::read_dir(data.join("logs"))
        .unwrap()
        .flatten()
        .collect();
    assert!(!logs.is_empty(), "the demo wrote no log");
    for l in logs {
        assert_eq!(mode(&l.path()), 0o600, "{}", l.path().display());
    }
    let db = data.join("till.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, out, _) = run(&["check"], &data, &cfg);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL files") && out.contains(&format!("{} is 644", db.display())),
        "{out}"
    );
}

/// Every PIN the command line takes counts: five wrong supervisor PINs for
/// a Z lock the number, the right one is then refused with the reason, and
/// a manager's unlock lets it in again.
#[test]
fn wrong_supervisor_pins_lock_the_number_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = dir.path().join("none.toml");
    let (code, out, err) = sell(1, &data, &cfg);
    assert_eq!(code, 0, "{out}{err}");
    let z = |pin: &str| {
        let out = bin()
            .args(["report", "z", "--supervisor", "2001", "--data-dir"])
            .arg(&data)
            .arg("--config")
            .arg(&cfg)
            .env("TILLPOINT_PIN", pin)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    for _ in 0..4 {
        let (code, err) = z("0000");
        assert_ne!(code, 0);
        assert!(err.contains("wrong supervisor number or PIN"), "{err}");
    }
    let (code, err) = z("0000");
    assert_ne!(code, 0);
    assert!(err.contains("locked after too many wrong PINs"), "{err}");
    let (code, err) = z("2468");
    assert_ne!(code, 0, "a locked number took a Z");
    assert!(err.contains("locked"), "{err}");
    let unlock = bin()
        .args([
            "cashier",
            "unlock",
            "--number",
            "2001",
            "--manager",
            "9001",
            "--data-dir",
        ])
        .arg(&data)
        .arg("--config")
        .arg(&cfg)
        .env("TILLPOINT_PIN", "9999")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&unlock.stdout);
    assert!(
        unlock.status.success() && said.contains("2001 unlocked"),
        "{said}"
    );
    let (code, err) = z("2468");
    assert_eq!(code, 0, "{err}");
}

/// A Z report prints its journal anchor (and `--json` gives it as
/// `chain_head`); `check --anchor` proves the journal still holds it and
/// fails on one it does not hold.
#[test]
fn a_z_reports_anchor_is_proved_by_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = dir.path().join("none.toml");
    let (code, out, err) = sell(2, &data, &cfg);
    assert_eq!(code, 0, "{out}{err}");
    let z = bin()
        .args([
            "report",
            "z",
            "--supervisor",
            "2001",
            "--json",
            "--data-dir",
        ])
        .arg(&data)
        .arg("--config")
        .arg(&cfg)
        .env("TILLPOINT_PIN", "2468")
        .output()
        .unwrap();
    assert!(z.status.success(), "{}", String::from_utf8_lossy(&z.stderr));
    let json: serde_json::Value = serde_json::from_slice(&z.stdout).unwrap();
    let anchor = json["chain_head"].as_str().unwrap().to_string();
    assert_eq!(anchor.len(), 16, "{anchor}");
    assert_eq!(json["approved_by"], 2001, "the approver is on the Z");
    let (code, out, _) = run(&["report", "z", "--reprint", "1"], &data, &cfg);
    assert_eq!(code, 0);
    assert!(out.contains("approved by 2001"), "and on its copy: {out}");
    assert!(out.contains(&format!("journal anchor {anchor}")), "{out}");
    let (code, out, _) = run(&["check", "--anchor", &anchor], &data, &cfg);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok   anchor"), "{out}");
    let (code, out, _) = run(&["check", "--anchor", "0123456789abcdef"], &data, &cfg);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL anchor"), "{out}");
}

/// The demo never opens a shop's till: a data directory that holds
/// anything but the demo's own is refused, before anything in it is read.
#[test]
fn the_demo_refuses_a_tills_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let shop = dir.path().join("shop");
    let cfg = dir.path().join("none.toml");
    let (code, out, err) = sell(1, &shop, &cfg);
    assert_eq!(code, 0, "{out}{err}");
    let before = std::fs::read(shop.join("till.db")).unwrap();
    let out = bin()
        .args(["demo", "--text", "--data-dir"])
        .arg(&shop)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("not a demo's"), "{err}");
    assert_eq!(std::fs::read(shop.join("till.db")).unwrap(), before);
    // The demo's own directory is used again and again.
    let demo = dir.path().join("demo");
    for _ in 0..2 {
        let out = bin()
            .args(["demo", "--text", "--data-dir"])
            .arg(&demo)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(demo.join(".tillpoint-demo").is_file());
}
