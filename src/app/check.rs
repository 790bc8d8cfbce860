//! The power-on self-check: one line per check, so a cashier or a support
//! line can read what is wrong and what to do.

use crate::till::Till;
use std::time::Duration;

/// Result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckLine {
    /// Stable identifier, e.g. "journal".
    pub id: &'static str,
    pub ok: bool,
    /// What was found, in words.
    pub detail: String,
    /// What to do about a failure (empty when ok).
    pub action: String,
}

impl CheckLine {
    pub(crate) fn pass(id: &'static str, detail: impl Into<String>) -> CheckLine {
        CheckLine {
            id,
            ok: true,
            detail: detail.into(),
            action: String::new(),
        }
    }

    pub(crate) fn fail(
        id: &'static str,
        detail: impl Into<String>,
        action: impl Into<String>,
    ) -> CheckLine {
        CheckLine {
            id,
            ok: false,
            detail: detail.into(),
            action: action.into(),
        }
    }
}

/// The checks of the till's own records: a failure of any of them means the
/// books may have been altered, and selling stops until a manager says so.
pub const RECORD_CHECKS: [&str; 5] = ["database", "journal", "sales", "index", "totals"];

/// What the record checks among `lines` found wrong, in words.
pub fn record_failures(lines: &[CheckLine]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| !l.ok && RECORD_CHECKS.contains(&l.id))
        .map(|l| format!("{}: {}", l.id, l.detail))
        .collect()
}

/// Runs every check: the store's, then the configured devices'.
pub fn run(till: &Till) -> Vec<CheckLine> {
    let mut out = store_checks(till);
    out.extend(devices(&till.config));
    out
}

/// The devices' checks (printer status, reader, PIN pad, acquirer link):
/// they wait on hardware and the network, so they take only the config and
/// run without the till's lock.
pub fn devices(config: &tillpoint_config::Config) -> Vec<CheckLine> {
    let mut out = vec![printer_check(config)];
    out.extend(device_checks(config));
    out
}

/// Whether the journal still holds a Z report's printed anchor with that
/// Z right after it (see `Store::verify_anchor`).
pub fn anchor_line(till: &Till, anchor: &str) -> CheckLine {
    use tillpoint_store::journal::AnchorCheck;
    match till.store.verify_anchor(anchor) {
        Ok(AnchorCheck::Held { z_seq }) => CheckLine::pass(
            "anchor",
            format!("the journal holds anchor {anchor} and the Z report after it (entry {z_seq})"),
        ),
        Ok(AnchorCheck::Missing) => CheckLine::fail(
            "anchor",
            format!("no journal entry has anchor {anchor}: this is not the journal that Z report was printed from (an older backup, or a rewritten chain)"),
            "do not sell; keep the database and the printed Z report, and call support",
        ),
        Ok(AnchorCheck::Cut { seq }) => CheckLine::fail(
            "anchor",
            format!("anchor {anchor} is entry {seq}, but the Z report that printed it is gone: the journal was cut back"),
            "do not sell; keep the database and the printed Z report, and call support",
        ),
        Err(e) => CheckLine::fail("anchor", e.to_string(), "call support"),
    }
}

/// Whether the data directory, the files in it (database, WAL, keys), the
/// logs and the config are private to the till's account.
fn file_modes(paths: &crate::till::Paths) -> CheckLine {
    let mut open =
        tillpoint_config::private::open_to_others(&[paths.data_dir.clone(), paths.logs()]);
    // A system install may give the config to the till's group (0640,
    // root-owned); readable by everyone, or writable by the group, it is not
    // the shop's own.
    let listed = open.iter().any(|(p, _)| *p == paths.config_file);
    if let Some(mode) = tillpoint_config::private::too_open(&paths.config_file)
        .filter(|m| m & 0o027 != 0 && !listed)
    {
        open.push((paths.config_file.clone(), mode));
    }
    if open.is_empty() {
        return CheckLine::pass(
            "files",
            "the data directory, database, keys, logs and config are private to this account",
        );
    }
    let list: Vec<String> = open
        .iter()
        .map(|(p, mode)| format!("{} is {mode:o}", p.display()))
        .collect();
    CheckLine::fail(
        "files",
        format!("open to other accounts: {}", list.join(", ")),
        format!(
            "chmod {:o} the directories and {:o} the files named",
            tillpoint_config::private::DIR_MODE,
            tillpoint_config::private::FILE_MODE
        ),
    )
}

/// The database, journal, totals and configuration checks (local work).
pub fn store_checks(till: &Till) -> Vec<CheckLine> {
    let mut out = Vec::new();
    let s = &till.store;
    out.push(match s.integrity_check() {
        Ok(Ok(())) => CheckLine::pass(
            "database",
            format!("database {} is consistent", s.path().display()),
        ),
        Ok(Err(problems)) => CheckLine::fail(
            "database",
            format!("database damaged: {problems}"),
            "stop selling; restore the last backup and call support",
        ),
        Err(e) => CheckLine::fail("database", e.to_string(), "call support"),
    });
    out.push(match s.verify_journal() {
        Ok(Ok(n)) => CheckLine::pass("journal", format!("journal chain verified ({n} entries)")),
        Ok(Err(b)) => CheckLine::fail(
            "journal",
            format!("journal chain broken at entry {}: {}", b.seq, b.reason),
            "the sales record was altered; do not sell, keep the database and call support",
        ),
        Err(e) => CheckLine::fail("journal", e.to_string(), "call support"),
    });
    out.push(match s.verify_sales_against_journal() {
        Ok(None) => CheckLine::pass("sales", "every sale matches its journal entry"),
        Ok(Some(r)) => CheckLine::fail(
            "sales",
            format!("sale {r} differs from its journal entry"),
            "the sales record was altered; keep the database and call support",
        ),
        Err(e) => CheckLine::fail("sales", e.to_string(), "call support"),
    });
    out.push(match s.verify_index(5) {
        Ok(found) if found.is_empty() => CheckLine::pass(
            "index",
            "every sale, refund, void and cash movement matches the journal, both ways",
        ),
        Ok(found) => CheckLine::fail(
            "index",
            found.join("; "),
            "the sales record was altered; do not sell, keep the database and call support",
        ),
        Err(e) => CheckLine::fail("index", e.to_string(), "call support"),
    });
    out.push(match s.verify_period_totals() {
        Ok(None) => CheckLine::pass("totals", "report totals match the sales"),
        Ok(Some(p)) => CheckLine::fail(
            "totals",
            format!("report totals of period {p} do not match its sales"),
            "do not take a Z report; call support",
        ),
        Err(e) => CheckLine::fail("totals", e.to_string(), "call support"),
    });
    out.push(file_modes(&till.paths));
    match s.refused_refunds_and_voids() {
        Ok(0) => {}
        Ok(n) => out.push(CheckLine::fail(
            "card-returns",
            format!("{n} card or QR refund(s)/void(s) refused by the acquirer: the customers' money did not move"),
            "see `tillpoint acquirer status` and call the acquirer",
        )),
        Err(e) => out.push(CheckLine::fail("card-returns", e.to_string(), "call support")),
    }
    let mut section_warnings = till.warnings.clone();
    let _ = tillpoint_payment::emv::TerminalConfig::from_till_config(
        &till.config,
        &mut section_warnings,
    );
    let acquirer = tillpoint_payment::acquirer::config::AcquirerConfig::load(
        &till.config,
        &mut section_warnings,
    );
    if acquirer.enabled() {
        if let Some(line) = cups_keys(&acquirer, till.data_dir()) {
            out.push(line);
        }
    }
    let _ = tillpoint_config::policy::Policy::load(&till.config, &mut section_warnings);
    let _ = tillpoint_devices::printer::config::PrinterConfig::load(
        &till.config,
        &mut section_warnings,
    );
    let _ = tillpoint_devices::pinpad::PinPadConfig::from_till_config(
        &till.config,
        &mut section_warnings,
    );
    let _ = tillpoint_devices::reader::ReaderConfig::load(&till.config, &mut section_warnings);
    let till_warnings = &section_warnings;
    out.push(if till_warnings.is_empty() {
        CheckLine::pass(
            "config",
            format!("config {} read", till.paths.config_file.display()),
        )
    } else {
        // Warnings are not failures: the till runs on defaults.
        CheckLine::pass(
            "config",
            format!(
                "config read with {} warning(s): {}",
                till_warnings.len(),
                till_warnings.join("; ")
            ),
        )
    });
    out
}

/// The receipt printer's status: opens the printer configured in `[printer]` and asks it
/// (bounded by the configured time limits). No printer configured passes: receipts wait
/// in the queue. A printer that is unreachable, out of paper or open fails, with what to do.
pub fn printer_check(config: &tillpoint_config::Config) -> CheckLine {
    let c = crate::print_queue::check_printer(config);
    if c.ok {
        CheckLine::pass("printer", c.detail)
    } else {
        CheckLine::fail("printer", c.detail, c.action)
    }
}

/// Renders check lines as text, one per line.
pub fn render(lines: &[CheckLine]) -> String {
    let mut s = String::new();
    for l in lines {
        let mark = if l.ok { "ok  " } else { "FAIL" };
        s.push_str(&format!("{mark} {:<9} {}", l.id, l.detail));
        if !l.ok && !l.action.is_empty() {
            s.push_str(&format!(" -> {}", l.action));
        }
        s.push('\n');
    }
    s
}

/// Card reader, PIN pad and acquirer link, as configured in `[reader]`
/// (`name`), `[pinpad]` (`port`, `baud`) and `[acquirer]` (`host`). An
/// absent section means the device is not used (or simulated in the demo)
/// and is not checked.
pub fn device_checks(config: &tillpoint_config::Config) -> Vec<CheckLine> {
    let mut out = Vec::new();

    if let Some(r) = tillpoint_devices::reader::ReaderConfig::load(config, &mut Vec::new()) {
        let wanted = r.name.as_str();
        out.push(match tillpoint_devices::reader::list_readers() {
            Ok(names) if names.is_empty() => CheckLine::fail(
                "reader",
                "no card reader is connected",
                "plug the card reader in",
            ),
            Ok(names) if !wanted.is_empty() && !names.iter().any(|n| n.contains(wanted)) => {
                CheckLine::fail(
                    "reader",
                    format!("reader {wanted:?} not found (have: {})", names.join(", ")),
                    "check the reader's cable or [reader] name in the config",
                )
            }
            Ok(names) => {
                CheckLine::pass("reader", format!("card reader ready: {}", names.join(", ")))
            }
            Err(e) => CheckLine::fail(
                "reader",
                e.to_string(),
                "start the smart card service (pcscd) or plug the reader in",
            ),
        });
    }
    if let Some(pc) =
        tillpoint_devices::pinpad::PinPadConfig::from_till_config(config, &mut Vec::new())
    {
        let port = pc.port_label();
        let mut pad = tillpoint_devices::pinpad::SerialPinPad::new(pc);
        out.push(match pad.connect() {
            Ok(info) => CheckLine::pass("pinpad", format!("PIN pad on {port}: {info:?}")),
            Err(e) => CheckLine::fail(
                "pinpad",
                format!("PIN pad on {port}: {e}"),
                "check the PIN pad's cable and power",
            ),
        });
    }
    let acquirer =
        tillpoint_payment::acquirer::config::AcquirerConfig::load(config, &mut Vec::new());
    if acquirer.enabled() {
        let host = acquirer.host.clone();
        let mut acquirer = acquirer;
        acquirer.connect_timeout = acquirer.connect_timeout.min(Duration::from_secs(3));
        let tls = if acquirer.tls_ca.is_empty() {
            ""
        } else {
            " over TLS"
        };
        out.push(match (acquirer.address(), acquirer.client()) {
            (Err(_), _) => CheckLine::fail(
                "acquirer",
                format!("[acquirer] host {host:?} is not an address:port"),
                "fix the config",
            ),
            (Ok(_), Err(e)) => CheckLine::fail("acquirer", e, "fix the config"),
            // The same connection (TLS handshake included) a payment makes.
            (Ok(addr), Ok(mut client)) => match client.connect() {
                Ok(()) => CheckLine::pass("acquirer", format!("acquirer host {addr} answers{tls}")),
                Err(e) => CheckLine::fail(
                    "acquirer",
                    format!("acquirer host {addr}: {e}"),
                    "cards work offline within limits; check the network",
                ),
            },
        });
    }
    out
}

/// Under the cups profile: whether the terminal master key is loaded (its
/// check value, for the key custodian's record) and the till has signed on.
fn cups_keys(
    acquirer: &tillpoint_payment::acquirer::config::AcquirerConfig,
    data_dir: &std::path::Path,
) -> Option<CheckLine> {
    use tillpoint_payment::acquirer::terminal_keys;
    use tillpoint_payment::acquirer::wire::HostProfile;
    if !matches!(acquirer.profile, HostProfile::Cups(_)) {
        return None;
    }
    Some(match terminal_keys::load_tmk(data_dir) {
        Ok(Some(tmk)) => {
            let kcv: String = tillpoint_payment::pin::master_session::check_value(&tmk)[..3]
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect();
            let signed_on = matches!(terminal_keys::load_working(data_dir), Ok(Some(_)));
            CheckLine::pass(
                "cups-keys",
                format!(
                    "terminal master key loaded (check value {kcv}); {}",
                    if signed_on {
                        "working keys of the last sign-on present"
                    } else {
                        "not signed on yet (the till signs on by itself)"
                    }
                ),
            )
        }
        Ok(None) => CheckLine::fail(
            "cups-keys",
            "no terminal master key: the till cannot sign on to the cups host".to_owned(),
            "load it from the acquirer's key custodian: tillpoint acquirer load-tmk --kcv CHECK",
        ),
        Err(e) => CheckLine::fail(
            "cups-keys",
            e.to_string(),
            "restore the key file from backup",
        ),
    })
}
