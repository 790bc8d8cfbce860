//! Headless GUI flows with iced's simulator: the same clicks and typing a
//! cashier does, against the real application state, store and service.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

use iced::keyboard::key::Named;
use iced::{Settings, Theme};
use iced_test::selector::id;
use iced_test::Simulator;
use tillpoint_app::service::Service;
use tillpoint_app::till::{Paths, Till};
use tillpoint_i18n::Lang;
use tillpoint_ui::app::{App, Message, Options, Shown};

fn app(dir: &std::path::Path, lang: Lang) -> App {
    let service = Service::new(demo_shop(dir, tillpoint_app::demo_shop::CONFIG_TOML));
    start(service, true, lang)
}

/// The demo shop's till (catalogue, cashiers) with `config` in `dir`.
fn demo_shop(dir: &std::path::Path, config: &str) -> Till {
    // The till's own directory and config, private as the till makes them.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let cfg = dir.join("tillpoint.toml");
    tillpoint_config::private::write(&cfg, config.as_bytes()).unwrap();
    let mut till = Till::open(Paths {
        config_file: cfg,
        data_dir: dir.to_path_buf(),
    })
    .unwrap();
    let classes = till.config.tax_classes();
    tillpoint_app::demo_shop::seed(&mut till.store, &classes).unwrap();
    till
}

/// The window's state on `service`, after its start-up work.
fn start(mut service: Service, demo: bool, lang: Lang) -> App {
    service.step_delay = std::time::Duration::ZERO;
    let (mut app, effects) = App::new(
        service,
        Options {
            demo,
            lang,
            dark: false,
            exit_when_ready: false,
            kiosk: false,
        },
    );
    app.perform(effects);
    app
}

fn ui(app: &App) -> Simulator<'_, Message> {
    Simulator::with_size(Settings::default(), (1280.0, 800.0), app.view())
}

/// Runs one interaction on a fresh view and feeds its messages back.
fn act(app: &mut App, f: impl FnOnce(&mut Simulator<'_, Message>)) {
    let msgs: Vec<Message> = {
        let mut sim = ui(app);
        f(&mut sim);
        sim.into_messages().collect()
    };
    for m in msgs {
        app.drive(m);
    }
}

fn type_into(app: &mut App, field: &'static str, text: &str) {
    let text = text.to_string();
    act(app, move |s| {
        s.click(id(field)).unwrap();
        let _ = s.typewrite(&text);
        let _ = s.tap_key(Named::Enter);
    });
}

fn click(app: &mut App, label: &str) {
    let label = label.to_string();
    act(app, move |s| {
        s.click(label.as_str())
            .unwrap_or_else(|e| panic!("no {label:?} to click: {e:?}"));
    });
}

/// The keyboard alone, as a cashier at the counter: Enter on the self-check,
/// number, Enter, PIN, Enter.
#[test]
fn login_by_keyboard_alone() {
    use tillpoint_ui::screen::login;
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), Lang::En);
    let fx = app.handle(Message::Key(Named::Enter));
    assert_eq!(app.shown(), Shown::Login);
    assert!(fx.iter().any(|e| e.is_focus(login::NUMBER_ID)), "{fx:?}");
    app.drive(Message::Login(login::Msg::NumberChanged("1001".into())));
    let fx = app.handle(Message::Login(login::Msg::Submit));
    assert!(fx.iter().any(|e| e.is_focus(login::PIN_ID)), "{fx:?}");
    app.drive(Message::Login(login::Msg::PinChanged("1234".into())));
    app.drive(Message::Login(login::Msg::Submit));
    assert_eq!(app.shown(), Shown::Sale);
    assert!(app.title().contains("Ann"), "{}", app.title());
}

fn login(app: &mut App, number: &str, pin: &str) {
    click(app, "Continue");
    assert_eq!(app.shown(), Shown::Login);
    type_into(app, "login-number", number);
    type_into(app, "login-pin", pin);
}

#[test]
fn login_scan_three_items_pay_cash_see_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), Lang::En);
    assert_eq!(app.shown(), Shown::Startup);
    assert!(
        app.startup().unwrap().all_ok(),
        "{:?}",
        app.startup().unwrap().lines
    );
    login(&mut app, "1001", "0000");
    assert_eq!(
        app.shown(),
        Shown::Login,
        "a wrong PIN keeps the login screen"
    );
    assert!(app.login().unwrap().error.is_some());
    type_into(&mut app, "login-pin", "1234");
    assert_eq!(app.shown(), Shown::Sale);
    assert_eq!(app.cashier.as_ref().map(|c| c.number), Some(1001));

    for code in ["6930181590837", "00010", "2300001012506"] {
        type_into(&mut app, "scan", code);
    }
    type_into(&mut app, "scan", "999999");
    assert!(
        app.notice
            .as_ref()
            .is_some_and(|(n, err)| *err && n.contains("999999")),
        "{:?}",
        app.notice
    );
    assert_eq!(app.sale.live_lines().count(), 3);
    let total = app.totals().unwrap().total;
    assert_eq!(total.minor, 585 + 818 + 1600);

    click(&mut app, "Pay  F12");
    assert_eq!(app.shown(), Shown::Tender);
    type_into(&mut app, "cash", "50");
    assert_eq!(app.shown(), Shown::Receipt);
    let rec = app.receipt().unwrap().record.clone().unwrap();
    assert_eq!(rec.receipt_no, "T01-000001");
    assert_eq!(rec.change().unwrap().minor, 5000 - total.minor);
    assert!(
        !app.receipt().unwrap().pages.is_empty(),
        "the receipt preview was rendered"
    );
    let mut sim = ui(&app);
    sim.find(
        format!(
            "Change: ¥{}",
            tillpoint_core::money::Money::new(5000 - total.minor, total.currency)
        )
        .as_str(),
    )
    .unwrap();
}

#[test]
fn refund_needs_a_supervisor() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), Lang::En);
    login(&mut app, "1001", "1234");
    type_into(&mut app, "scan", "00010");
    type_into(&mut app, "scan", "00010");
    click(&mut app, "Pay  F12");
    click(&mut app, "Exact");
    assert_eq!(app.shown(), Shown::Receipt);
    click(&mut app, "New sale");
    click(&mut app, "Refund F6");
    assert_eq!(app.shown(), Shown::Refund);
    type_into(&mut app, "refund-lookup", "T01-000001");
    assert!(app.refund().unwrap().original.is_some());
    act(&mut app, |s| {
        s.click("+").unwrap();
    });
    click(&mut app, "Refund selected  Enter");
    assert!(app.approval.is_some(), "refund asks for a supervisor");
    // The cashier's own PIN does not approve.
    type_into(&mut app, "approval-number", "1001");
    type_into(&mut app, "approval-pin", "1234");
    assert!(app.approval.as_ref().unwrap().error.is_some());
    type_into(&mut app, "approval-number", "2001");
    type_into(&mut app, "approval-pin", "2468");
    assert!(app.approval.is_none());
    assert_eq!(app.shown(), Shown::Receipt);
    let r = app.receipt().unwrap().record.clone().unwrap();
    assert_eq!(r.original_receipt.as_deref(), Some("T01-000001"));
    assert_eq!(r.total.minor, -818);
}

/// Answers that change the sale or the books arrive after the cashier may
/// have moved on (the till's lock was busy): they are applied all the same,
/// and while a paid sale is being recorded the screen cannot be left.
#[test]
fn answers_that_change_the_sale_are_never_dropped() {
    use tillpoint_ui::screen::{sale, tender};
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), Lang::En);
    login(&mut app, "1001", "1234");

    // A scan whose answer comes after F7 took the cashier to cash in/out.
    app.drive(Message::Sale(sale::Msg::Entry("00001".into())));
    let lookup = app.handle(Message::Sale(sale::Msg::Submit));
    app.drive(Message::Key(Named::F7));
    assert_eq!(app.shown(), Shown::Cash);
    app.perform(lookup);
    assert_eq!(
        app.sale.live_lines().count(),
        1,
        "the scanned item is on the sale"
    );

    // Parking answered after the cashier went to the reports.
    app.drive(Message::Key(Named::Escape));
    let park = app.handle(Message::Sale(sale::Msg::Go(sale::Nav::Park)));
    app.drive(Message::Key(Named::F8));
    assert_eq!(app.shown(), Shown::Reports);
    app.perform(park);
    assert_eq!(
        app.sale.live_lines().count(),
        0,
        "parked: the counter is clear"
    );
    assert!(app
        .notice
        .as_ref()
        .is_some_and(|(n, e)| !*e && n.contains('1')));

    // A paid sale being recorded keeps the tender screen until it is.
    app.drive(Message::Key(Named::Escape));
    type_into(&mut app, "scan", "00003");
    app.drive(Message::Key(Named::F12));
    let complete = app.handle(Message::Tender(tender::Msg::Exact));
    assert!(app.tender().unwrap().completing);
    for key in [Named::Escape, Named::F7, Named::F10] {
        app.drive(Message::Key(key));
        assert_eq!(
            app.shown(),
            Shown::Tender,
            "{key:?} left a sale being recorded"
        );
    }
    app.drive(Message::Tender(tender::Msg::Back));
    assert_eq!(app.shown(), Shown::Tender);
    app.perform(complete);
    assert_eq!(app.shown(), Shown::Receipt);
    assert_eq!(app.sale.live_lines().count(), 0);

    // Shortcuts wait while a supervisor is asked; the lock closes the ask.
    app.drive(Message::Key(Named::F7));
    click(&mut app, "Open drawer (no sale)  F3");
    assert!(app.approval.is_some());
    app.drive(Message::Key(Named::F8));
    assert_eq!(app.shown(), Shown::Cash, "F8 under the approval dialog");
    app.drive(Message::Tick(app.now_ms + app.idle_lock_ms + 1));
    assert_eq!(app.shown(), Shown::Locked);
    assert!(app.approval.is_none(), "no approval over the lock screen");
}

#[test]
fn park_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), Lang::En);
    login(&mut app, "1001", "1234");
    type_into(&mut app, "scan", "00001");
    type_into(&mut app, "scan", "00003");
    let parked = app.sale.clone();
    click(&mut app, "Park F4");
    assert_eq!(
        app.sale.live_lines().count(),
        0,
        "a fresh sale after parking"
    );
    type_into(&mut app, "scan", "00010");
    click(&mut app, "Resume F5");
    assert_eq!(app.shown(), Shown::Parked);
    click(&mut app, "Resume  Enter");
    assert!(
        app.notice.as_ref().is_some_and(|(_, e)| *e),
        "the current sale must be finished first"
    );
    app.drive(Message::Sale(tillpoint_ui::screen::sale::Msg::Void(1)));
    app.drive(Message::Key(Named::Escape));
    app.sale = tillpoint_core::sale::Sale::new(app.currency, 1001);
    click(&mut app, "Resume F5");
    click(&mut app, "Resume  Enter");
    assert_eq!(app.shown(), Shown::Sale);
    assert_eq!(app.sale.lines, parked.lines);
}

#[test]
fn language_switches_at_run_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), Lang::En);
    login(&mut app, "1001", "1234");
    click(&mut app, "Settings F9");
    click(&mut app, "简体中文");
    assert_eq!(app.lang, Lang::Zh);
    click(&mut app, "返回");
    assert_eq!(app.shown(), Shown::Sale);
    let mut sim = ui(&app);
    sim.find("结账  F12").unwrap();
    drop(sim);
    click(&mut app, "设置 F9");
    click(&mut app, "English");
    let mut sim = ui(&app);
    sim.find("Back").unwrap();
}

#[test]
fn z_report_with_supervisor_and_lock_on_idle() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), Lang::En);
    login(&mut app, "1001", "1234");
    type_into(&mut app, "scan", "00001");
    click(&mut app, "Pay  F12");
    click(&mut app, "Exact");
    click(&mut app, "New sale");
    app.drive(Message::Key(Named::F8));
    assert_eq!(app.shown(), Shown::Reports);
    assert_eq!(
        app.reports()
            .unwrap()
            .report
            .as_ref()
            .map(|r| r.totals.sales.count),
        Some(1)
    );
    click(&mut app, "Z report (close day)  Z");
    type_into(&mut app, "approval-number", "2001");
    type_into(&mut app, "approval-pin", "2468");
    assert_eq!(
        app.reports()
            .unwrap()
            .report
            .as_ref()
            .and_then(|r| r.z_number),
        Some(1)
    );
    // Idle past the limit locks the screen; the same cashier's PIN unlocks it.
    let later = app.now_ms + app.idle_lock_ms + 1_000;
    app.drive(Message::Tick(later));
    assert_eq!(app.shown(), Shown::Locked);
    type_into(&mut app, "login-pin", "1234");
    assert_eq!(app.shown(), Shown::Reports);
}

#[test]
fn login_screen_snapshot() {
    std::env::set_var("ICED_TEST_BACKEND", "tiny-skia");
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), Lang::En);
    click(&mut app, "Continue");
    app.now_ms = 1_767_227_400_000;
    let mut sim = ui(&app);
    let snap = sim.snapshot(&Theme::Light).unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots/login-en");
    assert!(
        snap.matches_hash(path).unwrap(),
        "the login screen changed; delete {path}.sha256 to accept"
    );
}

/// The demo's devices set up as the window sets them up: approvals are
/// recorded with their sale (`CommitMode::WithSale`).
fn window_devices(dir: &std::path::Path, app: &App) -> tillpoint_sim::demo_devices::DemoDevices {
    let mut opts = tillpoint_sim::demo_devices::DemoOptions::new(app.currency);
    opts.commit = tillpoint_payment::session::CommitMode::WithSale;
    tillpoint_sim::demo_devices::DemoDevices::start_with(dir, opts).unwrap()
}

/// A logged-in cashier on the tender screen of a one-item sale, with the
/// demo's devices set up as the window sets them up.
fn paying_with_demo_devices(dir: &std::path::Path) -> App {
    let mut app = app(dir, Lang::En);
    app.service = app
        .service
        .clone()
        .with_terminal(Box::new(window_devices(dir, &app)));
    login(&mut app, "1001", "1234");
    type_into(&mut app, "scan", "00001");
    click(&mut app, "Pay  F12");
    app
}

/// Polls the demo host's ledger until `found` finds something in it (the
/// forwarder and reversals run on their own threads), for up to 20 s.
fn wait_for_host<T>(
    dir: &std::path::Path,
    found: impl Fn(&[tillpoint_sim::acquirer::ledger::TxnRow]) -> Option<T>,
) -> Option<T> {
    let host_db = tillpoint_sim::acquirer::default_db_path(dir);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let rows = tillpoint_sim::acquirer::ledger::HostLedger::open(&host_db)
            .unwrap()
            .txns("TILL0001")
            .unwrap();
        let hit = found(&rows);
        if hit.is_some() || std::time::Instant::now() > deadline {
            return hit;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// (STAN, sale id) of every capture in the till's acquirer batch.
fn capture_sales(dir: &std::path::Path) -> Vec<(i64, Option<i64>)> {
    let conn = rusqlite::Connection::open(dir.join("till.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT stan, sale_id FROM acquirer_captures ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// A card approval taken for a sale that is then given up (the cashier
/// logs out before the rest is paid) is reversed: the customer is not
/// charged for a sale that did not happen, and the till records nothing.
#[test]
fn an_approval_whose_sale_is_given_up_is_reversed() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = paying_with_demo_devices(dir.path());
    act(&mut app, |s| {
        s.click(id("tender-part")).unwrap();
        let _ = s.typewrite("5");
    });
    click(&mut app, "UnionPay, online PIN");
    click(&mut app, "Card  F3");
    assert_eq!(app.sale.tenders.len(), 1, "{:?}", app.notice);
    assert!(app.balance().minor > 0, "part paid");
    // Back to the sale screen, and the cashier logs out from there.
    app.drive(Message::Key(Named::Escape));
    assert_eq!(app.shown(), Shown::Sale);
    app.drive(Message::Sale(tillpoint_ui::screen::sale::Msg::Go(
        tillpoint_ui::screen::sale::Nav::Logout,
    )));
    assert_eq!(app.shown(), Shown::Login);
    type_into(&mut app, "login-number", "1001");
    type_into(&mut app, "login-pin", "1234");
    assert!(app.sale.tenders.is_empty());
    use tillpoint_sim::acquirer::ledger::TxnStatus;
    let reversed = wait_for_host(dir.path(), |rows| {
        rows.first()
            .filter(|r| r.status == TxnStatus::Reversed)
            .map(|r| r.amount)
    });
    assert!(reversed.is_some(), "the approval was reversed at the host");
    assert!(capture_sales(dir.path()).is_empty(), "nothing captured");
}

/// A card payment from the tender screen through the demo's real devices:
/// the virtual EMV card, the PIN pad simulator on a pseudo-terminal and the
/// acquirer simulator on loopback, then a declining card.
#[test]
fn card_payment_through_the_demo_devices() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = paying_with_demo_devices(dir.path());
    click(&mut app, "Declined by the bank");
    click(&mut app, "Card  F3");
    assert_eq!(
        app.shown(),
        Shown::Tender,
        "a declined card leaves the sale unpaid"
    );
    assert!(
        app.notice.as_ref().is_some_and(|(_, e)| *e),
        "{:?}",
        app.notice
    );
    assert!(app.sale.tenders.is_empty());
    click(&mut app, "OK");
    click(&mut app, "UnionPay, online PIN");
    click(&mut app, "Card  F3");
    assert_eq!(app.shown(), Shown::Receipt, "{:?}", app.notice);
    let rec = app.receipt().unwrap().record.clone().unwrap();
    let card = rec.tenders[0].card.clone().unwrap();
    assert_eq!(
        rec.tenders[0].kind,
        tillpoint_core::tender::TenderKind::Card
    );
    assert!(
        card.masked_pan.contains('*') && !card.auth_code.is_empty() && card.cvm == "pin",
        "{card:?}"
    );
    // The status bar's online mark comes from the link itself.
    let status = app.service.status(Lang::En);
    assert_eq!(status.online, Some(true), "{status:?}");
    // The approval was recorded in the sale's own transaction.
    assert_eq!(
        capture_sales(dir.path()),
        vec![(card.stan.parse::<i64>().unwrap(), Some(1))]
    );

    // The customer brings it back: the refund goes to the card, and the
    // demo's forwarder delivers it to the host as a referenced 0200.
    click(&mut app, "New sale");
    click(&mut app, "Refund F6");
    type_into(&mut app, "refund-lookup", &rec.receipt_no);
    act(&mut app, |s| {
        s.click("+").unwrap();
    });
    click(&mut app, "Refund selected  Enter");
    type_into(&mut app, "approval-number", "2001");
    type_into(&mut app, "approval-pin", "2468");
    assert_eq!(app.shown(), Shown::Receipt, "{:?}", app.notice);
    let refund = app.receipt().unwrap().record.clone().unwrap();
    assert_eq!(
        refund.tenders[0].kind,
        tillpoint_core::tender::TenderKind::Card
    );
    let refunded = wait_for_host(dir.path(), |rows| {
        rows.iter()
            .find(|r| r.proc_code == "200000")
            .map(|r| (r.amount, r.response_code.clone(), r.original_id.is_some()))
    });
    assert_eq!(
        refunded,
        Some((-refund.total.minor, "00".to_string(), true)),
        "the refund reached the host"
    );

    // The X report shows where the card money stands: the scheme's net
    // after the fee, nothing left waiting for the acquirer.
    click(&mut app, "New sale");
    app.drive(Message::Sale(tillpoint_ui::screen::sale::Msg::Go(
        tillpoint_ui::screen::sale::Nav::Reports,
    )));
    assert_eq!(app.shown(), Shown::Reports);
    let card = app
        .reports()
        .unwrap()
        .card
        .clone()
        .expect("card figures on the report");
    assert_eq!(card.fees.gross, 0, "sold and refunded: {card:?}");
    let st = card.settlement.expect("settlement status");
    assert_eq!((st.refunds_voids_waiting, st.refunds_voids_refused), (0, 0));
    assert_eq!(st.open_totals.credits_amount, st.open_totals.debits_amount);
    act(&mut app, |s| {
        s.find("Card and QR money").expect("card section shown");
    });

    // The Z report settles through the window's own acquirer session.
    let approval = app
        .service
        .approve(
            2001,
            "2468",
            tillpoint_core::cashier::Action::ZReport,
            tillpoint_core::cashier::Target::Till,
        )
        .unwrap();
    let z = app.service.report(Some(&approval)).unwrap();
    let (Some(card), problem) = (z.card, z.problem) else {
        panic!("no card figures")
    };
    assert_eq!(problem, None);
    let last = card.settlement.and_then(|s| s.last).expect("settled at Z");
    assert_eq!(
        last.outcome,
        tillpoint_store::acquirer::SettlementOutcomeRow::Matched
    );
}

/// A tap in the window: two cards at once is refused in words the cashier
/// sees, then the demo's Visa contactless card pays, and the sale records
/// how the card met the till.
#[test]
fn a_tap_in_the_window_pays_and_the_sale_records_contactless() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = paying_with_demo_devices(dir.path());
    act(&mut app, |s| {
        s.find("Demo: the card the customer inserts or taps (F3), or swipes (F4)")
            .expect("the demo says a card can be tapped");
    });
    click(&mut app, "Tap: two cards at once");
    click(&mut app, "Card  F3");
    assert_eq!(app.shown(), Shown::Tender);
    let (text, error) = app.notice.clone().expect("the refusal is shown");
    assert!(error && text.contains("one card"), "{text}");
    act(&mut app, |s| {
        s.find(text.as_str()).expect("the refusal is on screen");
    });
    click(&mut app, "OK");
    click(&mut app, "Tap: Visa");
    click(&mut app, "Card  F3");
    assert_eq!(app.shown(), Shown::Receipt, "{:?}", app.notice);
    let rec = app.receipt().unwrap().record.clone().unwrap();
    let card = rec.tenders[0].card.clone().unwrap();
    // The receipt printed from this record names the tap (the layout's
    // own test reads the printed words in both languages).
    assert_eq!(card.entry_mode, "contactless", "{card:?}");
    assert!(card.offline && card.cvm == "none", "{card:?}");
}

/// Every shortcut on the help screen does something on the sale screen, and
/// Esc comes back.
#[test]
fn every_listed_shortcut_works() {
    use tillpoint_ui::screen::help::SHORTCUTS;
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), Lang::En);
    login(&mut app, "1001", "1234");
    type_into(&mut app, "scan", "00001");
    for (key, _) in SHORTCUTS {
        let named = match *key {
            "F1" => Named::F1,
            "F2" => Named::F2,
            "F4" => Named::F4,
            "F5" => Named::F5,
            "F6" => Named::F6,
            "F7" => Named::F7,
            "F8" => Named::F8,
            "F9" => Named::F9,
            "F10" => Named::F10,
            "F11" => Named::F11,
            "F12" => Named::F12,
            "Esc" => Named::Escape,
            other => panic!("the help screen lists {other}, which the test does not know"),
        };
        let before = (app.shown(), app.sale.live_lines().count());
        let effects = app.handle(Message::Key(named));
        let after = (app.shown(), app.sale.live_lines().count());
        assert!(
            before != after || !effects.is_empty(),
            "{key} did nothing on {:?}",
            before.0
        );
        app.perform(effects);
        if app.shown() == Shown::Locked {
            type_into(&mut app, "login-pin", "1234");
        }
        app.drive(Message::Key(Named::Escape));
        if app.sale.live_lines().count() == 0 {
            type_into(&mut app, "scan", "00001");
        }
    }
}

#[test]
fn cash_in_out_no_sale_and_reprint() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), Lang::En);
    login(&mut app, "1001", "1234");
    click(&mut app, "Cash in/out F7");
    assert_eq!(app.shown(), Shown::Cash);
    type_into(&mut app, "cash-amount", "100"); // Enter records it
    assert_eq!(app.shown(), Shown::Sale, "{:?}", app.notice);
    click(&mut app, "Cash in/out F7");
    click(&mut app, "Open drawer (no sale)  F3");
    assert!(app.approval.is_some(), "a no-sale needs a supervisor");
    type_into(&mut app, "approval-number", "2001");
    type_into(&mut app, "approval-pin", "2468");
    assert_eq!(app.shown(), Shown::Sale, "{:?}", app.notice);
    let r = app.service.report(None).unwrap().report;
    assert_eq!(r.totals.cash_in.amount, 10_000);
    assert_eq!(r.totals.no_sales, 1);
    // Sell, then reprint from the receipt screen: a second print job is queued.
    type_into(&mut app, "scan", "00001");
    click(&mut app, "Pay  F12");
    click(&mut app, "Exact");
    click(&mut app, "Reprint");
    assert!(
        app.notice
            .as_ref()
            .is_some_and(|(n, e)| !*e && n.contains("Reprint")),
        "{:?}",
        app.notice
    );
    let queued = app
        .service
        .with_till(|t| t.store.queued_print_jobs().unwrap().len());
    assert_eq!(
        queued, 2,
        "no printer is configured: the sale's and the reprint's jobs wait"
    );
}

/// The customer types the PIN on the window's simulated PIN pad; only the
/// pad sees the digits, the host recovers them from the DUKPT block.
#[test]
fn pin_typed_on_the_on_screen_pad() {
    use tillpoint_ui::screen::tender;
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), Lang::En);
    let mut opts = tillpoint_sim::demo_devices::DemoOptions::new(app.currency);
    opts.pin = tillpoint_sim::demo_devices::DemoPin::OnScreen;
    let devices = tillpoint_sim::demo_devices::DemoDevices::start_with(dir.path(), opts).unwrap();
    app.service = app.service.clone().with_terminal(Box::new(devices));
    login(&mut app, "1001", "1234");
    type_into(&mut app, "scan", "00003");
    click(&mut app, "Pay  F12");
    // Keys typed just before the pad asks are kept for it.
    for k in ['1', '2', '3', '4', 'E'] {
        app.drive(Message::Tender(tender::Msg::Pad(k)));
    }
    assert_eq!(app.tender().unwrap().pin_len, 4);
    click(&mut app, "Card  F3");
    assert_eq!(app.shown(), Shown::Receipt, "{:?}", app.notice);
    let card = first_card(&app);
    assert_eq!(card.cvm, "pin");
}

/// A till outside the demo, configured with `extra` on top of the demo
/// shop's config (without the demo's simulated acquirer, which `extra`
/// replaces with the shop's own).
fn shop_app(dir: &std::path::Path, extra: &str) -> App {
    let shop = tillpoint_app::demo_shop::CONFIG_TOML
        .split("# The demo's acquirer")
        .next()
        .unwrap_or_default();
    let till = demo_shop(dir, &format!("{shop}\n{extra}"));
    let live = tillpoint_app::terminal::LiveDevices::start(&till).unwrap();
    let mut service = Service::new(till);
    if let Some(d) = live {
        service = service.with_terminal(Box::new(d));
    }
    start(service, false, Lang::En)
}

/// A real till without an acquirer link never pretends to take a card.
#[test]
fn without_an_acquirer_link_card_and_qr_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = shop_app(dir.path(), "");
    login(&mut app, "1001", "1234");
    type_into(&mut app, "scan", "00001");
    click(&mut app, "Pay  F12");
    for method in ["Card  F3", "QR  F2"] {
        click(&mut app, method);
        assert_eq!(app.shown(), Shown::Tender);
        assert!(app.sale.tenders.is_empty(), "{method}: nothing was paid");
        assert!(
            app.notice
                .as_ref()
                .is_some_and(|(n, e)| *e && n.contains("[acquirer] host")),
            "{:?}",
            app.notice
        );
        assert!(app.tender().unwrap().progress.is_none());
    }
}

/// Outside the demo, a QR payment waits for the customer's code from the
/// scanner and sends exactly that code to the acquirer (the simulator on
/// loopback, configured like a real host in `[acquirer]`).
#[test]
fn qr_payment_on_the_shops_devices_sends_the_scanned_code() {
    let dir = tempfile::tempdir().unwrap();
    let host =
        tillpoint_sim::acquirer::start_acquirer_sim(tillpoint_sim::acquirer::SimConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            dir.path().join("host.db"),
            std::sync::Arc::new(tillpoint_sim::acquirer::EmvIssuer::test_cards()),
        ))
        .unwrap();
    let mut app = shop_app(
        dir.path(),
        &format!(
            "[acquirer]\nhost = \"{}\"\ntid = \"SHOPT001\"\nread_timeout_ms = 5000\n",
            host.addr()
        ),
    );
    login(&mut app, "1001", "1234");
    type_into(&mut app, "scan", "00001");
    click(&mut app, "Pay  F12");

    // Cancel before scanning: nothing goes out.
    click(&mut app, "QR  F2");
    assert!(app.tender().unwrap().progress.is_some());
    click(&mut app, "Cancel");
    assert!(app.tender().unwrap().progress.is_none());
    assert!(host.ledger().unwrap().txns("SHOPT001").unwrap().is_empty());

    click(&mut app, "QR  F2");
    // For people to look at: the screen waiting for the code.
    {
        let shots = concat!(env!("CARGO_MANIFEST_DIR"), "/target/screenshots");
        std::fs::create_dir_all(shots).unwrap();
        let path = format!("{shots}/gui-qr-scan-en");
        let _ = std::fs::remove_file(format!("{path}-tiny-skia.png"));
        let mut sim = ui(&app);
        let snap = sim.snapshot(&Theme::Light).unwrap();
        // Written afresh (the file was removed), so nothing to compare.
        let _ = snap.matches_image(&path);
    }
    type_into(
        &mut app,
        tillpoint_ui::screen::tender::CODE_ID,
        "289876543210123456",
    );
    assert_eq!(app.shown(), Shown::Receipt, "{:?}", app.notice);
    let rec = app.receipt().unwrap().record.clone().unwrap();
    assert_eq!(rec.tenders[0].kind, tillpoint_core::tender::TenderKind::Qr);
    let card = rec.tenders[0].card.clone().unwrap();
    assert_eq!(card.rrn.len(), 12, "{card:?}");
    let rows = host.ledger().unwrap().txns("SHOPT001").unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].amount, rec.total.minor);
    assert_eq!(rows[0].rrn.as_deref(), Some(card.rrn.as_str()));
}

/// A worker that dies (a bug) still answers: the cashier is told to try
/// again, and a login waiting for it can be tried again.
#[test]
fn a_dying_worker_is_said_and_does_not_leave_the_screen_waiting() {
    use tillpoint_ui::effect::Effect;
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), Lang::En);
    let work: Effect<Message> = Effect::run(|_| panic!("a bug in a worker"));
    let mut answers = tillpoint_ui::app::spawn(app.service.clone(), work);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let answer = loop {
        match answers.try_recv() {
            Ok(m) => break m,
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            Err(_) => panic!("no answer from the worker"),
        }
    };
    assert!(matches!(answer, Message::WorkerFailed), "{answer:?}");
    app.drive(answer);
    assert!(
        app.notice
            .as_ref()
            .is_some_and(|(n, e)| *e && n.contains("try again")),
        "{:?}",
        app.notice
    );
}

/// A cashier may look at the settings, but saving them needs a manager's
/// number and PIN (a supervisor's is refused), and the change is journaled
/// with who approved it and the old and new value; keys off the window's
/// list are refused by the service whatever the approval.
#[test]
fn settings_are_saved_only_with_a_managers_approval_and_journaled() {
    use tillpoint_ui::screen::settings;
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), Lang::En);
    login(&mut app, "1001", "1234");
    click(&mut app, "Settings F9");
    app.drive(Message::Settings(settings::Msg::Edit(
        0,
        "Night Shop".into(),
    )));
    click(&mut app, "Save settings  Enter");
    assert!(app.approval.is_some(), "saving asks for a manager");
    type_into(&mut app, "approval-number", "2001");
    type_into(&mut app, "approval-pin", "2468");
    assert!(
        app.approval
            .as_ref()
            .and_then(|a| a.error.clone())
            .is_some(),
        "a supervisor is refused, and told"
    );
    assert_ne!(app_name(&app), "Night Shop");
    type_into(&mut app, "approval-number", "9001");
    type_into(&mut app, "approval-pin", "9999");
    assert!(app.approval.is_none());
    assert_eq!(app_name(&app), "Night Shop");
    let (kind, payload): (String, String) = app.service.with_till(|t| {
        t.store
            .raw_connection()
            .query_row(
                "SELECT kind, payload FROM journal ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
    });
    assert_eq!(kind, "settings");
    assert!(
        payload.contains("\"approved_by\":9001")
            && payload.contains("\"new\":\"Night Shop\"")
            && payload.contains("\"old\":\"Corner Store"),
        "{payload}"
    );
    // The service refuses a key the window may not change, and an approval
    // for something else.
    let manager = app
        .service
        .approve(
            9001,
            "9999",
            tillpoint_core::cashier::Action::ChangeSettings,
            tillpoint_core::cashier::Target::Till,
        )
        .unwrap();
    let tls = vec![(
        "acquirer".to_string(),
        "tls_ca".to_string(),
        "/tmp/x.pem".to_string(),
    )];
    let err = app.service.save_settings(&tls, &manager).unwrap_err();
    assert!(
        err.contains("tls_ca") && err.contains("config file"),
        "{err}"
    );
    let z = app
        .service
        .approve(
            9001,
            "9999",
            tillpoint_core::cashier::Action::ZReport,
            tillpoint_core::cashier::Target::Till,
        )
        .unwrap();
    let name_change = vec![("shop".to_string(), "name".to_string(), "X".to_string())];
    assert!(app.service.save_settings(&name_change, &z).is_err());
    assert_eq!(app_name(&app), "Night Shop");
}

fn app_name(app: &App) -> String {
    app.service.with_till(|t| t.config.shop.name.clone())
}

/// Over the shop's limits a supervisor approves, in the same dialog as a
/// refund: a 20 % sale discount (the limit is 10 %) and cash out above
/// 100.00; within them the cashier goes on alone.
#[test]
fn big_discounts_and_cash_out_ask_a_supervisor() {
    use tillpoint_ui::screen::{cash, sale};
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), Lang::En);
    login(&mut app, "1001", "1234");
    type_into(&mut app, "scan", "00010");
    app.drive(Message::Sale(sale::Msg::Amount("5%".into())));
    app.drive(Message::Sale(sale::Msg::SaleDiscount));
    assert!(app.approval.is_none(), "5 % is the cashier's to give");
    app.drive(Message::Sale(sale::Msg::Amount("20%".into())));
    app.drive(Message::Sale(sale::Msg::SaleDiscount));
    assert!(app.approval.is_some(), "20 % asks for a supervisor");
    type_into(&mut app, "approval-number", "2001");
    type_into(&mut app, "approval-pin", "2468");
    assert!(app.approval.is_none());
    assert_eq!(app.sale.discount_by, Some(2001));
    click(&mut app, "Pay  F12");
    click(&mut app, "Exact");
    assert_eq!(app.shown(), Shown::Receipt, "{:?}", app.notice);
    click(&mut app, "New sale");

    click(&mut app, "Cash in/out F7");
    app.drive(Message::Cash(cash::Msg::Kind(
        tillpoint_app::service::CashMovement::Out,
    )));
    type_into(&mut app, "cash-amount", "50");
    assert_eq!(app.shown(), Shown::Sale, "50.00 out needs nobody");
    click(&mut app, "Cash in/out F7");
    app.drive(Message::Cash(cash::Msg::Kind(
        tillpoint_app::service::CashMovement::Out,
    )));
    type_into(&mut app, "cash-amount", "500");
    assert!(app.approval.is_some(), "500.00 out asks for a supervisor");
    type_into(&mut app, "approval-number", "2001");
    type_into(&mut app, "approval-pin", "2468");
    assert_eq!(app.shown(), Shown::Sale, "{:?}", app.notice);
    let r = app.service.report(None).unwrap().report;
    assert_eq!(r.totals.cash_out.amount, 55_000);
    assert_eq!(r.totals.cash_out.count, 2);
}

/// A manager adds a cashier from the window: the form, then the manager's
/// number and PIN for that cashier number; a supervisor's do not do.
#[test]
fn a_manager_adds_a_cashier_from_the_window() {
    use tillpoint_ui::screen::cashiers;
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), Lang::En);
    login(&mut app, "1001", "1234");
    click(&mut app, "Settings F9");
    click(&mut app, "Cashiers  F5");
    assert_eq!(app.shown(), Shown::Cashiers);
    type_into(&mut app, "cashier-number", "1077");
    for m in [
        cashiers::Msg::Name("Zoe".into()),
        cashiers::Msg::Role(tillpoint_core::cashier::Role::Cashier),
        cashiers::Msg::Pin("7777".into()),
        cashiers::Msg::Save,
    ] {
        app.drive(Message::Cashiers(m));
    }
    assert!(app.approval.is_some(), "saving asks for a manager");
    type_into(&mut app, "approval-number", "2001");
    type_into(&mut app, "approval-pin", "2468");
    assert!(
        app.approval.as_ref().unwrap().error.is_some(),
        "a supervisor may not"
    );
    type_into(&mut app, "approval-number", "9001");
    type_into(&mut app, "approval-pin", "9999");
    assert!(app.approval.is_none());
    let listed = app.service.cashiers().unwrap();
    assert!(listed.iter().any(|c| c.number == 1077 && c.name == "Zoe"));
    assert!(matches!(
        app.service.login(1077, "7777").unwrap(),
        tillpoint_app::service::Login::Welcome(_)
    ));
}

/// Kiosk mode: the window manager's close request is refused, visibly, for
/// anyone but a manager; with a manager logged in the till closes. Outside
/// kiosk mode it closes at once.
#[test]
fn kiosk_closes_only_for_a_manager() {
    use tillpoint_ui::effect::Effect;
    let dir = tempfile::tempdir().unwrap();
    let mut service = Service::new(demo_shop(dir.path(), tillpoint_app::demo_shop::CONFIG_TOML));
    service.step_delay = std::time::Duration::ZERO;
    let (mut app, effects) = App::new(
        service,
        Options {
            demo: true,
            lang: Lang::En,
            dark: false,
            exit_when_ready: false,
            kiosk: true,
        },
    );
    app.perform(effects);
    let exits = |fx: &[Effect<Message>]| fx.iter().any(|e| matches!(e, Effect::Exit));
    let fx = app.handle(Message::CloseRequested);
    assert!(!exits(&fx), "nobody logged in");
    let (text, is_error) = app.notice.clone().unwrap();
    assert!(is_error && text.contains("only a manager"), "{text}");

    login(&mut app, "1001", "1234");
    assert_eq!(app.shown(), Shown::Sale);
    assert!(!exits(&app.handle(Message::CloseRequested)), "a cashier");
    app.drive(Message::Sale(tillpoint_ui::screen::sale::Msg::Go(
        tillpoint_ui::screen::sale::Nav::Logout,
    )));
    type_into(&mut app, "login-number", "9001");
    type_into(&mut app, "login-pin", "9999");
    assert_eq!(app.shown(), Shown::Sale);
    assert!(exits(&app.handle(Message::CloseRequested)), "a manager");

    let dir = tempfile::tempdir().unwrap();
    let mut plain = self::app(dir.path(), Lang::En);
    assert!(exits(&plain.handle(Message::CloseRequested)));
}

/// iced's emulator running the real window program: its tasks run, its
/// focus operations apply and keys reach whichever widget has the focus,
/// as in the shop's window.
struct Emulated<P: iced::Program + 'static> {
    program: P,
    emulator: iced_test::Emulator<P>,
    events: iced::futures::channel::mpsc::Receiver<iced_test::emulator::Event<P>>,
}

impl<P: iced::Program + 'static> Emulated<P> {
    fn new(program: P) -> Self {
        let (tx, events) = iced::futures::channel::mpsc::channel(64);
        let emulator = iced_test::Emulator::new(
            tx,
            &program,
            iced_test::emulator::Mode::Zen,
            iced::Size::new(1280.0, 800.0),
        );
        let mut e = Emulated {
            program,
            emulator,
            events,
        };
        e.settle().unwrap();
        e
    }

    /// Performs the emulator's actions until it is ready for the next
    /// instruction, or says the last one failed.
    fn settle(&mut self) -> Result<(), String> {
        use iced::futures::StreamExt;
        use iced_test::emulator::Event;
        loop {
            let next = iced::futures::executor::block_on(async {
                let timeout = async {
                    smol_timeout().await;
                    None
                };
                let next = async { self.events.next().await };
                iced::futures::pin_mut!(timeout, next);
                match iced::futures::future::select(next, timeout).await {
                    iced::futures::future::Either::Left((e, _)) => e,
                    iced::futures::future::Either::Right((e, _)) => e,
                }
            });
            match next {
                Some(Event::Action(a)) => self.emulator.perform(&self.program, a),
                Some(Event::Ready) => return Ok(()),
                Some(Event::Failed(i)) => return Err(i.to_string()),
                None => return Err("the emulator stopped answering".into()),
            }
        }
    }

    /// One instruction in iced_test's language (`type "1001"`, `type enter`).
    fn run(&mut self, line: &str) {
        let i = iced_test::Instruction::parse(line).unwrap();
        self.emulator.run(&self.program, i);
        self.settle().unwrap_or_else(|e| panic!("{line}: {e}"));
    }

    /// Waits (pumping the window's work) until `text` is on screen.
    fn expect(&mut self, text: &str) {
        let line = format!("expect {text:?}");
        let mut last = String::new();
        for _ in 0..100 {
            let i = iced_test::Instruction::parse(&line).unwrap();
            self.emulator.run(&self.program, i);
            match self.settle() {
                Ok(()) => return,
                Err(e) => last = e,
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("{text:?} never showed: {last}");
    }
}

/// A timer for the emulator's waits, on a plain thread (the test has no
/// async runtime of its own).
async fn smol_timeout() {
    let (tx, rx) = iced::futures::channel::oneshot::channel::<()>();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(20));
        let _ = tx.send(());
    });
    let _ = rx.await;
}

/// iced's emulator on the window program of a fresh demo shop in `dir`
/// (no simulated devices), its work done without the demo's pauses.
fn emulated_demo(
    dir: &std::path::Path,
) -> Emulated<impl iced::Program<State = App, Message = Message> + 'static> {
    let mut service = Service::new(demo_shop(dir, tillpoint_app::demo_shop::CONFIG_TOML));
    service.step_delay = std::time::Duration::ZERO;
    let opts = Options {
        demo: true,
        lang: Lang::En,
        dark: false,
        exit_when_ready: false,
        kiosk: false,
    };
    Emulated::new(tillpoint_ui::emulated(service, opts))
}

/// Past the self-check and logged in as cashier 1001, by keys alone.
fn log_in_by_keys<P: iced::Program<State = App, Message = Message> + 'static>(e: &mut Emulated<P>) {
    e.expect("Self-check");
    e.run("type enter");
    e.run("type \"1001\"");
    e.run("type tab");
    e.run("type \"1234\"");
    e.run("type enter");
    e.expect("No items yet: scan a product.");
}

/// The keyboard alone, in iced's emulator (tasks run, focus kept): Enter
/// on the self-check, Enter with no number is refused visibly, the number,
/// Tab to the PIN, Enter; a quantity and a scan; Enter on the empty scan
/// field pays; the cash amount and Enter; Enter on the receipt starts the
/// next sale; the title names the cashier.
#[test]
fn a_sale_by_keyboard_alone_in_the_emulator() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = emulated_demo(dir.path());
    e.expect("Self-check");
    e.run("type enter");
    e.expect("Log in");
    e.run("type enter");
    e.expect("Type your cashier number first, then press Enter.");
    e.run("type \"1001\"");
    e.run("type tab");
    e.run("type \"1234\"");
    e.run("type enter");
    e.expect("No items yet: scan a product.");
    e.run("type \"2*00001\"");
    e.run("type enter");
    e.expect("2 × ¥5.85");
    e.run("type \"99999999\"");
    e.run("type enter");
    e.expect("No product for 99999999.");
    e.run("type enter");
    e.expect("Take cash");
    e.run("type \"500\"");
    e.run("type enter");
    e.expect("New sale");
    e.run("type enter");
    e.expect("No items yet: scan a product.");
    let (app, _) = e.emulator.into_state();
    assert!(app.title().contains("Ann Li"), "{}", app.title());
    let db = rusqlite::Connection::open(dir.path().join("till.db")).unwrap();
    let totals: Vec<i64> = db
        .prepare("SELECT total FROM sales")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(totals, [1170], "one cash sale of two colas was recorded");
}

/// The window's own keys are the window's even while a field has the
/// focus: F12 and Esc from inside the scan field, Tab and Shift+Tab.
#[test]
fn window_keys_pass_over_a_focused_field() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), Lang::En);
    login(&mut app, "1001", "1234");
    let msgs: Vec<Message> = {
        let mut sim = ui(&app);
        sim.click(id("scan")).unwrap();
        let _ = sim.tap_key(Named::F12);
        let _ = sim.tap_key(Named::Escape);
        let _ = sim.tap_key(Named::Tab);
        let _ = sim.simulate([iced::Event::Keyboard(iced::keyboard::Event::KeyPressed {
            key: iced::keyboard::Key::Named(Named::Tab),
            modified_key: iced::keyboard::Key::Named(Named::Tab),
            physical_key: iced::keyboard::key::Physical::Unidentified(
                iced::keyboard::key::NativeCode::Unidentified,
            ),
            location: iced::keyboard::Location::Standard,
            modifiers: iced::keyboard::Modifiers::SHIFT,
            text: None,
            repeat: false,
        })]);
        sim.into_messages().collect()
    };
    let keys: Vec<String> = msgs
        .iter()
        .filter(|m| matches!(m, Message::Key(_) | Message::BackTab))
        .map(|m| format!("{m:?}"))
        .collect();
    assert_eq!(keys, ["Key(F12)", "Key(Escape)", "Key(Tab)", "BackTab"]);
}

/// Runs `message` and the work it asks for, and the messages that work
/// answers, for at most `rounds` rounds (the weigh screen keeps reading the
/// scale while it is open, so this never runs dry by itself).
fn drive_for(app: &mut App, message: Message, rounds: usize) {
    let mut now = vec![message];
    for _ in 0..rounds {
        let mut next = Vec::new();
        for m in now {
            for e in app.handle(m) {
                let service = app.service.clone();
                e.perform(&service, &mut |m| next.push(m));
            }
        }
        if next.is_empty() {
            return;
        }
        now = next;
    }
}

fn weighing(app: &App) -> (Option<String>, Option<String>) {
    match &app.screen {
        tillpoint_ui::app::Screen::Sale(s) => (
            s.weighing.as_ref().map(|(_, w)| w.clone()),
            s.scale.as_ref().map(|r| format!("{r:?}")),
        ),
        _ => (None, None),
    }
}

/// The weigh screen reads the MT-SICS scale (the emulator on a real
/// pseudo-terminal) live: a moving weight is shown but not sold, an
/// overload is refused visibly, a steady weight is taken with Enter, and
/// when the scale is unplugged the weight is typed by hand.
#[test]
fn weighed_goods_are_sold_by_the_scale_only_when_it_is_steady() {
    use tillpoint_sim::scale::{Pan, ScaleSim};
    use tillpoint_ui::screen::sale;
    let sim = ScaleSim::start(Pan::Moving(735)).unwrap();
    sim.control.set_settling(Pan::Moving(735), 100);
    let dir = tempfile::tempdir().unwrap();
    let till = demo_shop(
        dir.path(),
        &format!(
            "{}\n[scale]\nport = {:?}\ntimeout_ms = 400\n",
            tillpoint_app::demo_shop::CONFIG_TOML,
            sim.path.display().to_string()
        ),
    );
    let mut app = start(Service::new(till), true, Lang::En);
    assert!(app.service.has_scale());
    login(&mut app, "1001", "1234");
    app.drive(Message::Sale(sale::Msg::Entry("00170".into())));
    drive_for(&mut app, Message::Sale(sale::Msg::Submit), 3);
    let (typed, scale) = weighing(&app);
    assert_eq!(
        typed.as_deref(),
        Some("0.735"),
        "the live reading fills the field"
    );
    assert!(scale.unwrap().contains("stable: false"));
    drive_for(&mut app, Message::Sale(sale::Msg::WeightOk), 1);
    assert_eq!(
        app.sale.live_lines().count(),
        0,
        "a moving weight is not sold"
    );
    assert_eq!(
        app.notice.as_ref().map(|n| n.0.as_str()),
        Some("The scale is not steady yet: wait for it to settle.")
    );

    // The screen's next reading, as its poll would bring it.
    let seq = match &app.screen {
        tillpoint_ui::app::Screen::Sale(s) => s.weigh_seq,
        _ => 0,
    };
    let read = |app: &App| Message::Sale(sale::Msg::Weighed(seq, app.service.weigh(false)));
    sim.control.set(Pan::Overload);
    let m = read(&app);
    drive_for(&mut app, m, 1);
    drive_for(&mut app, Message::Sale(sale::Msg::WeightOk), 1);
    assert_eq!(
        app.notice.as_ref().map(|n| n.0.as_str()),
        Some("The scale is overloaded: take the item off.")
    );

    sim.control.set(Pan::Stable(1250));
    let m = read(&app);
    drive_for(&mut app, m, 1);
    assert_eq!(weighing(&app).0.as_deref(), Some("1.250"));
    drive_for(&mut app, Message::Sale(sale::Msg::WeightOk), 1);
    let line = app
        .sale
        .live_lines()
        .next()
        .expect("sold by the steady weight");
    assert_eq!(line.qty.milli(), 1250);

    let scale_check = |app: &App| {
        let lines = app.service.check();
        lines.into_iter().find(|l| l.id == "scale").map(|l| l.ok)
    };
    assert_eq!(
        scale_check(&app),
        Some(true),
        "the self-check reads the scale"
    );
    // Unplugged: said, and the weight is typed instead.
    sim.unplug();
    assert_eq!(scale_check(&app), Some(false));
    app.drive(Message::Sale(sale::Msg::Entry("00170".into())));
    drive_for(&mut app, Message::Sale(sale::Msg::Submit), 3);
    assert!(
        weighing(&app).1.unwrap().contains("scale-failed"),
        "{:?}",
        weighing(&app)
    );
    app.drive(Message::Sale(sale::Msg::Weight("0.500".into())));
    drive_for(&mut app, Message::Sale(sale::Msg::WeightOk), 1);
    assert_eq!(
        app.sale
            .live_lines()
            .map(|l| l.qty.milli())
            .collect::<Vec<_>>(),
        [1250, 500]
    );
}

/// Waits up to 3 s for the pole display emulator to show `want`.
fn pole_shows(
    sim: &tillpoint_sim::pole::PoleSim,
    want: impl Fn(&tillpoint_sim::pole::PoleScreen) -> bool,
) -> tillpoint_sim::pole::PoleScreen {
    let mut s = sim.shown();
    for _ in 0..150 {
        if want(&s) {
            return s;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        s = sim.shown();
    }
    s
}

/// The pole display (the emulator on a real pseudo-terminal) follows the
/// sale as the customer should see it: a welcome, each scanned price and
/// the total, the amount to pay, then paid and change; the LED kind lights
/// the matching lamp; unplugged, the self-check says so and the sale goes
/// on.
#[test]
fn the_pole_display_follows_the_sale() {
    use tillpoint_devices::pole::Lamp;
    use tillpoint_sim::pole::PoleSim;
    for kind in ["vfd", "led8"] {
        let sim = PoleSim::start().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let till = demo_shop(
            dir.path(),
            &format!(
                "{}\n[display]\nport = {:?}\nkind = {kind:?}\n",
                tillpoint_app::demo_shop::CONFIG_TOML,
                sim.path.display().to_string()
            ),
        );
        let mut app = start(Service::new(till), true, Lang::En);
        login(&mut app, "1001", "1234");
        if kind == "vfd" {
            let s = pole_shows(&sim, |s| s.lines[0].starts_with("WELCOME"));
            assert_eq!(s.lines[0].trim_end(), "WELCOME", "{s:?}");
        }
        let vfd = kind == "vfd";
        type_into(&mut app, "scan", "6930181590837");
        let s = pole_shows(&sim, |s| {
            if vfd {
                s.lines[0].starts_with("Coca")
            } else {
                s.lamp == Lamp::Price
            }
        });
        if vfd {
            assert_eq!(s.lines[0], "Coca-Cola 330ml 5.85", "{s:?}");
            assert_eq!(s.lines[1], "TOTAL           5.85");
        } else {
            assert_eq!((s.lamp, s.number.as_str()), (Lamp::Price, "5.85"));
        }
        app.drive(Message::Key(Named::F12));
        let s = pole_shows(&sim, |s| {
            if vfd {
                s.lines[1].starts_with("TO PAY")
            } else {
                s.lamp == Lamp::Total
            }
        });
        if vfd {
            assert_eq!(s.lines[1], "TO PAY          5.85", "{s:?}");
        } else {
            assert_eq!(s.number, "5.85", "{s:?}");
        }
        type_into(&mut app, "cash", "20");
        let s = pole_shows(&sim, |s| {
            if vfd {
                s.lines[0].starts_with("PAID")
            } else {
                s.lamp == Lamp::Change
            }
        });
        if !vfd {
            assert_eq!(s.number, "14.15");
        } else {
            assert_eq!(s.lines[0], "PAID           20.00");
            assert_eq!(s.lines[1], "CHANGE         14.15");
        }
        let display_ok = |app: &App| {
            app.service
                .check()
                .into_iter()
                .find(|l| l.id == "display")
                .map(|l| l.ok)
        };
        assert_eq!(display_ok(&app), Some(true));
        sim.unplug();
        click(&mut app, "New sale");
        type_into(&mut app, "scan", "6930181590837");
        let mut failed = None;
        for _ in 0..100 {
            failed = display_ok(&app);
            if failed == Some(false) {
                break;
            }
            type_into(&mut app, "scan", "6930181590837");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(failed, Some(false), "an unplugged display is said");
        assert!(app.sale.live_lines().count() >= 1, "and the sale goes on");
    }
}

/// A pole display line that chatters (noise coming back from the display
/// end, as from a bad cable or a scale wired to the wrong port) changes
/// nothing: the till never reads the port, the customer still sees each
/// price and the total, and the self-check keeps the display healthy.
#[test]
fn a_chattering_pole_display_line_is_ignored() {
    use tillpoint_sim::pole::PoleSim;
    let sim = PoleSim::start().unwrap();
    sim.chatter
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let dir = tempfile::tempdir().unwrap();
    let till = demo_shop(
        dir.path(),
        &format!(
            "{}\n[display]\nport = {:?}\n",
            tillpoint_app::demo_shop::CONFIG_TOML,
            sim.path.display().to_string()
        ),
    );
    let mut app = start(Service::new(till), true, Lang::En);
    login(&mut app, "1001", "1234");
    for (code, total) in [("6930181590837", "5.85"), ("6930181590837", "11.70")] {
        type_into(&mut app, "scan", code);
        let s = pole_shows(&sim, |s| s.lines[1].ends_with(total));
        assert_eq!(s.lines[0], "Coca-Cola 330ml 5.85", "{s:?}");
        assert_eq!(s.lines[1], format!("TOTAL{total:>15}"), "{s:?}");
    }
    let ok = app
        .service
        .check()
        .into_iter()
        .find(|l| l.id == "display")
        .map(|l| l.ok);
    assert_eq!(ok, Some(true));
    assert_eq!(app.totals().unwrap().total.minor, 1170, "both scans sold");
}

/// Both QR directions in the demo's window, through its QR provider over
/// HTTPS: the customer's code typed as the scanner types it (its wallet
/// shown first), then the shop's code shown (F2) and paid by the demo's
/// customer; both sales recorded with their gateway orders.
#[test]
fn qr_both_ways_through_the_demo_gateway() {
    use tillpoint_ui::screen::tender;
    let dir = tempfile::tempdir().unwrap();
    let mut service =
        Service::new(demo_shop(dir.path(), tillpoint_app::demo_shop::CONFIG_TOML)).with_demo_qr();
    assert!(service.has_qr_gateway());
    service.step_delay = std::time::Duration::ZERO;
    let mut app = start(service, true, Lang::En);
    login(&mut app, "1001", "1234");
    type_into(&mut app, "scan", "6930181590837");
    app.drive(Message::Key(Named::F12));
    app.drive(Message::Key(Named::F2));
    app.drive(Message::Tender(tender::Msg::Code(
        "134567890123456789".into(),
    )));
    act(&mut app, |s| {
        s.find("WeChat Pay")
            .expect("the wallet is named before the code is sent");
    });
    app.drive(Message::Tender(tender::Msg::CodeScanned));
    assert_eq!(app.shown(), Shown::Receipt, "{:?}", app.notice);

    click(&mut app, "New sale");
    type_into(&mut app, "scan", "6930181590837");
    app.drive(Message::Key(Named::F12));
    app.drive(Message::Key(Named::F2));
    assert!(customer_sees(
        &app,
        "Please show your payment code to the cashier"
    ));
    // F2 again: the shop's code is asked for, and shown to the customer
    // before the till waits for the payment.
    let mut waits = Vec::new();
    for e in app.handle(Message::Key(Named::F2)) {
        let service = app.service.clone();
        e.perform(&service, &mut |m| waits.push(m));
    }
    for m in waits {
        let service = app.service.clone();
        for e in app.handle(m) {
            assert!(customer_sees(
                &app,
                "Scan with Alipay, WeChat Pay or UnionPay"
            ));
            e.perform(&service, &mut |m| app.drive(m));
        }
    }
    assert_eq!(
        app.shown(),
        Shown::Receipt,
        "the demo customer paid the shown code: {:?}",
        app.notice
    );
    let orders: Vec<String> = app.service.with_till(|t| {
        let db = rusqlite::Connection::open(t.paths.data_dir.join("till.db")).unwrap();
        let mut st = db
            .prepare("SELECT origin || ':' || state FROM qr_orders ORDER BY out_trade_no")
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    });
    assert_eq!(orders, ["code:recorded", "shown:recorded"]);
}

/// Whether the customer display shows `text` now.
fn customer_sees(app: &App, text: &str) -> bool {
    let mut sim = Simulator::with_size(Settings::default(), (1024.0, 600.0), app.customer_window());
    sim.find(text).is_ok()
}

/// The customer display follows the sale in the customer's own language
/// (`[ui.customer] lang`), whatever the cashier reads: a welcome with the
/// shop's name, each line as it is scanned with the total, what is left to
/// pay, every card prompt, then paid, change and thanks.
#[test]
fn the_customer_display_follows_the_sale_in_the_customers_language() {
    use tillpoint_core::money::Money;
    use tillpoint_core::tender::TenderKind;
    use tillpoint_ui::app::Screen;
    use tillpoint_ui::screen::tender;
    let dir = tempfile::tempdir().unwrap();
    let till = demo_shop(
        dir.path(),
        &format!(
            "{}\n[ui.customer]\nlang = \"zh-CN\"\n",
            tillpoint_app::demo_shop::CONFIG_TOML
        ),
    );
    let mut app = start(Service::new(till), true, Lang::En);
    let title = app.customer_title();
    assert!(
        title.contains("tillpoint") && title.contains("customer"),
        "{title}"
    );
    assert!(customer_sees(&app, "欢迎光临"));
    assert!(customer_sees(&app, "Corner Store 街角便利店"));
    login(&mut app, "1001", "1234");
    type_into(&mut app, "scan", "6930181590837");
    type_into(&mut app, "scan", "00010");
    assert!(
        customer_sees(&app, "可口可乐 Coca-Cola 330ml"),
        "the first line stays"
    );
    assert!(customer_sees(&app, "苹果汁 Apple Juice 1L"));
    assert!(customer_sees(&app, "合计"));
    assert!(customer_sees(&app, "¥14.03"));
    assert!(
        !customer_sees(&app, "Total"),
        "the customer's words are Chinese"
    );

    app.drive(Message::Key(Named::F12));
    assert!(customer_sees(&app, "应付"));
    act(&mut app, |s| {
        s.find("Card  F3").expect("the cashier reads English");
    });

    // Each step of a card payment, as the payment screen holds it.
    let Screen::Tender(t) = &mut app.screen else {
        panic!("on the payment screen")
    };
    let saved = std::mem::take(t);
    for (step, approved, words) in [
        (0, None, "请插卡或挥卡"),
        (1, None, "请在密码键盘上输入密码"),
        (2, None, "请稍候…"),
        (3, Some(true), "交易成功，谢谢"),
        (3, Some(false), "交易被拒绝：请换一种方式付款"),
    ] {
        app.screen = Screen::Tender(tender::State {
            progress: Some(tender::Progress {
                kind: TenderKind::Card,
                amount: Money::new(1403, app.currency),
                step,
                approved,
                choices: vec![],
                card_read: false,
            }),
            ..tender::State::default()
        });
        assert!(
            customer_sees(&app, words),
            "step {step} {approved:?}: {words}"
        );
        assert!(customer_sees(&app, "¥14.03"));
    }
    app.screen = Screen::Tender(saved);

    type_into(&mut app, "cash", "20");
    assert_eq!(app.shown(), Shown::Receipt);
    assert!(customer_sees(&app, "找零"));
    assert!(customer_sees(&app, "¥5.97"));
    assert!(customer_sees(&app, "谢谢惠顾！"));
    click(&mut app, "New sale");
    assert!(
        customer_sees(&app, "找零"),
        "the change stays while it is picked up"
    );
    let now = app.now_ms;
    app.drive(Message::Tick(now + tillpoint_ui::app::THANKS_MS - 1_000));
    assert!(customer_sees(&app, "谢谢惠顾！"));
    app.drive(Message::Tick(now + tillpoint_ui::app::THANKS_MS));
    assert!(
        customer_sees(&app, "欢迎光临"),
        "then the next customer is welcomed"
    );
}

/// Shift+F9 as the window receives it (a key event with Shift held).
fn shift_f9(app: &mut App) {
    press_with(app, Named::F9, iced::keyboard::Modifiers::SHIFT);
}

/// `named` pressed with `held` (Shift, Ctrl), as the window receives it.
fn press_with(app: &mut App, named: Named, held: iced::keyboard::Modifiers) {
    act(app, |s| {
        let mut press = iced_test::simulator::press_key(named, None);
        if let iced::Event::Keyboard(iced::keyboard::Event::KeyPressed { modifiers, .. }) =
            &mut press
        {
            *modifiers = held;
        }
        s.simulate([press]);
    });
}

/// Refreshes the status bar until `done` holds, for up to 30 s (the
/// forwarder and the QR worker run on their own threads).
fn status_until(app: &mut App, done: impl Fn(&tillpoint_ui::status_bar::Status) -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let status = app.service.status(Lang::En);
        app.drive(Message::Status(status));
        if done(&app.status) || std::time::Instant::now() > deadline {
            return done(&app.status);
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// The demo's offline day, on the demo's own wiring: Shift+F9 takes the
/// simulated network down and the status bar says so; cash still sells, a
/// chip card under the floor limit is approved offline and waits to be
/// forwarded, one that must go online is declined, QR is refused; Shift+F9
/// brings the network back and the waiting count goes to nothing by itself.
#[test]
fn the_demo_takes_its_network_down_for_an_offline_day() {
    use tillpoint_ui::screen::tender;
    let dir = tempfile::tempdir().unwrap();
    let till = demo_shop(dir.path(), tillpoint_app::demo_shop::CONFIG_TOML);
    let mut app = start(Service::for_window(till, true, true), true, Lang::En);
    login(&mut app, "1001", "1234");
    assert!(status_until(&mut app, |s| s.online && s.demo_link == Some(true)));

    shift_f9(&mut app);
    assert_eq!(app.status.demo_link, Some(false));
    assert!(status_until(&mut app, |s| !s.online), "the link is down");
    act(&mut app, |s| {
        s.find("Offline (demo: network down, Shift+F9) · 0 waiting to sync")
            .expect("the status bar says the network is down");
    });

    // Cash sells.
    type_into(&mut app, "scan", "6930181590837");
    app.drive(Message::Key(Named::F12));
    type_into(&mut app, "cash", "10");
    assert_eq!(app.shown(), Shown::Receipt, "{:?}", app.notice);
    app.drive(Message::Receipt(
        tillpoint_ui::screen::receipt::Msg::NewSale,
    ));

    // Under the floor limit the chip card approves offline.
    type_into(&mut app, "scan", "6930181590837");
    app.drive(Message::Key(Named::F12));
    click(&mut app, "Offline approval");
    app.drive(Message::Key(Named::F3));
    assert_eq!(app.shown(), Shown::Receipt, "{:?}", app.notice);
    let rec = app.receipt().unwrap().record.clone().unwrap();
    assert!(rec.tenders[0].card.as_ref().unwrap().offline);
    assert!(status_until(&mut app, |s| s.pending_outbox == 1));
    app.drive(Message::Receipt(
        tillpoint_ui::screen::receipt::Msg::NewSale,
    ));

    // Over it the card must go online, cannot, and declines.
    type_into(&mut app, "scan", "10*6930181590837");
    app.drive(Message::Key(Named::F12));
    click(&mut app, "Offline approval");
    app.drive(Message::Key(Named::F3));
    assert_eq!(app.shown(), Shown::Tender);
    assert!(app.sale.tenders.is_empty());
    let (refusal, is_error) = app.notice.clone().expect("the decline is shown");
    assert!(
        is_error && refusal.contains("could not be reached"),
        "{refusal}"
    );
    app.drive(Message::DismissNotice);
    app.drive(Message::Key(Named::Enter));

    // QR is refused, and nothing is paid.
    app.drive(Message::Key(Named::F2));
    app.drive(Message::Tender(tender::Msg::Code(
        "134567890123456789".into(),
    )));
    app.drive(Message::Tender(tender::Msg::CodeScanned));
    assert_eq!(app.shown(), Shown::Tender, "{:?}", app.notice);
    assert!(app.sale.tenders.is_empty());
    assert!(
        app.notice.as_ref().is_some_and(|(_, e)| *e),
        "{:?}",
        app.notice
    );
    let (why, _) = app.notice.clone().unwrap();
    assert!(why.contains("QR provider cannot be reached"), "{why}");

    // Back up: the advice is forwarded by itself; the QR order that never
    // reached the provider is not left open.
    shift_f9(&mut app);
    assert_eq!(app.status.demo_link, Some(true));
    assert!(
        status_until(&mut app, |s| s.online && s.pending_outbox == 0),
        "{:?}",
        app.status
    );
    let host = wait_for_host(dir.path(), |rows| {
        rows.iter().find(|r| r.source == "advice").map(|r| r.amount)
    });
    assert_eq!(
        host,
        Some(rec.total.minor),
        "the offline sale reached the host"
    );
    let orders = |app: &App| -> Vec<String> {
        app.service.with_till(|t| {
            let db = rusqlite::Connection::open(t.paths.data_dir.join("till.db")).unwrap();
            let mut st = db
                .prepare("SELECT state FROM qr_orders ORDER BY out_trade_no")
                .unwrap();
            st.query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        })
    };
    assert_eq!(
        orders(&app),
        ["closed"],
        "the refused QR order is not left open"
    );
}

/// The keyboard focus stays in the scan field when a notice appears over
/// the sale screen from outside it (Shift+F9's, which the sale screen does
/// not raise itself): the next scan still lands.
#[test]
fn a_notice_appearing_keeps_the_focus_in_the_scan_field() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = emulated_demo(dir.path());
    log_in_by_keys(&mut e);
    // Not a key the emulator can type (Shift+F9): the message it maps to.
    // No Ready follows a bare update; `expect` pumps its work.
    e.emulator.update(&e.program, Message::DemoLink);
    e.expect("The demo's simulated network can be switched only when the demo runs its simulated acquirer.");
    e.run("type \"6930181590837\"");
    e.run("type enter");
    e.expect("1 × ¥5.85");
}

/// A refusal beeps on the printer's buzzer when it has one (`[printer]
/// buzzer`, on in the demo): a wrong PIN and an unknown barcode each sound
/// the refusal beep (two beeps); a good scan is silent, and so is a printer
/// whose config says it has no buzzer.
#[test]
fn refusals_beep_on_the_printers_buzzer() {
    let beeps_after = |buzzer: bool| {
        let dir = tempfile::tempdir().unwrap();
        let mut till = demo_shop(dir.path(), tillpoint_app::demo_shop::CONFIG_TOML);
        let printer = tillpoint_app::demo_shop::start_printer(&mut till)
            .unwrap()
            .unwrap();
        if !buzzer {
            let section = till.config.sections.get_mut("printer").unwrap();
            section
                .as_table_mut()
                .unwrap()
                .insert("buzzer".into(), false.into());
        }
        let mut app = start(Service::new(till), true, Lang::En);
        // The emulator counts what it has parsed: wait for the bytes.
        let settle = |want: usize| {
            let want = if buzzer { want } else { 0 };
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while printer.control.stats().beeps < want && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            printer.control.stats().beeps
        };
        let mut seen = vec![];
        login(&mut app, "1001", "0000");
        assert_eq!(app.shown(), Shown::Login);
        seen.push(settle(2));
        type_into(&mut app, "login-pin", "1234");
        assert_eq!(app.shown(), Shown::Sale);
        type_into(&mut app, "scan", "6930181590837");
        assert_eq!(app.sale.live_lines().count(), 1);
        seen.push(settle(2));
        type_into(&mut app, "scan", "999999");
        assert!(app.notice.as_ref().is_some_and(|(_, err)| *err));
        seen.push(settle(4));
        assert!(
            printer.control.stats().errors.is_empty(),
            "{:?}",
            printer.control.stats()
        );
        seen
    };
    assert_eq!(
        beeps_after(true),
        [2, 2, 4],
        "wrong PIN, good scan, unknown code"
    );
    assert_eq!(beeps_after(false), [0, 0, 0], "no buzzer: silent");
}

/// A line's discount and its price change by keys: ↑ selects the line
/// above the one just scanned, the
/// amount is typed, Shift+F3 discounts the line, Ctrl+F3 asks a supervisor
/// for the new price; a bad amount is refused where the cashier looks.
#[test]
fn a_line_is_discounted_and_repriced_by_keys() {
    // Typed without Enter: Enter in the amount field is a line discount too.
    let type_only = |app: &mut App, field: &'static str, text: &str| {
        let text = text.to_string();
        act(app, move |s| {
            s.click(id(field)).unwrap();
            let _ = s.typewrite(&text);
            // A typed % could start a card swipe, so the window holds it
            // until the next key that types nothing (in the window, the
            // F3 of Shift+F3 itself); each act starts a fresh window, so
            // such a key comes in the same one: → at the end of the field.
            let _ = s.tap_key(Named::ArrowRight);
        });
    };
    use iced::keyboard::Modifiers;
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), Lang::En);
    login(&mut app, "1001", "1234");
    type_into(&mut app, "scan", "00010");
    type_into(&mut app, "scan", "6930181590837");
    act(&mut app, |s| {
        let _ = s.tap_key(Named::ArrowUp);
    });
    // The first line (00010), above the cola just scanned.
    let picked = app.sale.live_lines().next().unwrap().line_no;
    let cola = app.sale.live_lines().last().unwrap().line_no;
    type_only(&mut app, "sale-amount", "10%");
    press_with(&mut app, Named::F3, Modifiers::SHIFT);
    let line = |app: &App, no: u32| {
        app.sale
            .lines
            .iter()
            .find(|l| l.line_no == no)
            .cloned()
            .unwrap()
    };
    assert!(
        line(&app, cola).discount.is_none(),
        "only the selected line"
    );
    assert!(
        line(&app, picked).discount.is_some(),
        "{:?}",
        line(&app, picked)
    );

    type_only(&mut app, "sale-amount", "abc");
    press_with(&mut app, Named::F3, Modifiers::CTRL);
    assert!(
        app.notice.as_ref().is_some_and(|(_, e)| *e),
        "{:?}",
        app.notice
    );
    assert!(app.approval.is_none());

    // The refused amount stays to be corrected: the cashier rubs it out.
    act(&mut app, |s| {
        s.click(id("sale-amount")).unwrap();
        for _ in 0..3 {
            let _ = s.tap_key(Named::Backspace);
        }
        let _ = s.typewrite("4.00");
    });
    assert_eq!(app.sale_screen().unwrap().amount, "4.00");
    press_with(&mut app, Named::F3, Modifiers::CTRL);
    assert!(app.approval.is_some(), "a new price asks a supervisor");
    type_into(&mut app, "approval-number", "2001");
    type_into(&mut app, "approval-pin", "2468");
    assert!(app.approval.is_none());
    assert_eq!(app.sale_screen().unwrap().selected, Some(picked));
    assert_eq!(line(&app, picked).unit_price.minor, 400);
    assert_eq!(line(&app, cola).unit_price.minor, 585);
}

/// A key the window catches before any field (the F-keys, arrows the
/// fields leave alone), sent as the message the window makes of it: the
/// emulator's instructions type only characters, Enter, Tab, Esc and
/// Backspace (`window_keys_pass_over_a_focused_field` checks the window
/// makes these messages of the real key events).
fn press<P: iced::Program<State = App, Message = Message> + 'static>(
    e: &mut Emulated<P>,
    k: Named,
) {
    e.emulator.update(&e.program, Message::Key(k));
}

/// The screens besides the sale and the payment, by keys alone in iced's
/// emulator: a refund (F6, the number and Enter, + on the chosen line,
/// Enter, a supervisor's number and PIN), park and resume (F4, F5, ↓ and
/// Enter), cash in and out (F7, ↓ for out, the amount and Enter; F3 asks
/// a supervisor for a no-sale), a Z report (F8, Z, a supervisor), and
/// the language switched and back from the settings (F9, F2).
#[test]
fn refund_park_cash_and_reports_by_keyboard_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = emulated_demo(dir.path());
    log_in_by_keys(&mut e);
    for code in ["00010", "00001"] {
        e.run(&format!("type {code:?}"));
        e.run("type enter");
    }
    e.expect("¥5.85");
    e.run("type enter");
    e.expect("Take cash");
    e.run("type \"20\"");
    e.run("type enter");
    e.expect("New sale");
    e.run("type enter");

    // Refund one of the two lines.
    press(&mut e, Named::F6);
    e.expect("Scan the receipt barcode or type its number");
    e.run("type \"T01-000001\"");
    e.run("type enter");
    e.expect("Refund selected  Enter");
    e.run("type enter");
    e.expect("Choose the items to refund.");
    press(&mut e, Named::ArrowDown);
    e.run("type \"+\"");
    e.run("type enter");
    e.expect("Supervisor approval");
    e.run("type \"2001\"");
    e.run("type enter");
    e.run("type \"2468\"");
    e.run("type enter");
    e.expect("New sale");
    e.run("type enter");
    e.expect("No items yet: scan a product.");

    // Park a sale, start another, resume the parked one.
    e.run("type \"00010\"");
    e.run("type enter");
    e.expect("¥8.18");
    press(&mut e, Named::F4);
    e.expect("No items yet: scan a product.");
    press(&mut e, Named::F5);
    e.expect("Resume  Enter");
    e.run("type enter");
    e.expect("¥8.18");
    e.run("type enter");
    e.expect("Take cash");
    e.run("type \"10\"");
    e.run("type enter");
    e.expect("New sale");
    e.run("type enter");

    // Cash in, and a no-sale a cashier cannot approve.
    press(&mut e, Named::F7);
    e.expect("Cash drawer");
    e.run("type \"50\"");
    e.run("type enter");
    e.expect("Cash in recorded.");
    e.expect("No items yet: scan a product.");
    press(&mut e, Named::F7);
    e.expect("Cash drawer");
    press(&mut e, Named::ArrowDown);
    e.run("type \"5\"");
    e.run("type enter");
    e.expect("Cash out recorded.");
    press(&mut e, Named::F7);
    e.expect("Cash drawer");
    press(&mut e, Named::F3);
    e.expect("Supervisor approval");
    e.run("type escape");
    press(&mut e, Named::Escape);

    // The day closes with a supervisor's Z.
    press(&mut e, Named::F8);
    e.expect("X report: the day so far");
    e.run("type \"z\"");
    e.expect("Supervisor approval");
    e.run("type \"2001\"");
    e.run("type tab");
    e.run("type \"2468\"");
    e.run("type enter");
    e.expect("Z report #1");

    // The language, from the settings' own key.
    press(&mut e, Named::F9);
    e.expect("Language  F2");
    press(&mut e, Named::F2);
    e.expect("语言  F2");
    press(&mut e, Named::F2);
    e.expect("Language  F2");

    let (app, _) = e.emulator.into_state();
    let s = &app.service;
    let refund = s.with_till(|t| {
        t.store
            .refunds_of("T01-000001")
            .unwrap()
            .into_iter()
            .map(|r| r.total.minor)
            .collect::<Vec<_>>()
    });
    assert_eq!(refund, [-585], "the second line (one cola) was refunded");
    let db = rusqlite::Connection::open(dir.path().join("till.db")).unwrap();
    let parked: i64 = db
        .query_row("SELECT count(*) FROM parked", [], |r| r.get(0))
        .unwrap();
    assert_eq!(parked, 0, "the parked sale was resumed and sold");
}

/// In the demo the emulated pole display's two lines are drawn on the
/// customer window (a demo user has no pole display on the desk): they
/// follow the emulator, read a few times a second.
#[test]
fn the_demo_draws_its_pole_display_on_the_customer_window() {
    let dir = tempfile::tempdir().unwrap();
    let till = demo_shop(dir.path(), tillpoint_app::demo_shop::CONFIG_TOML);
    let mut app = start(Service::for_window(till, true, true), true, Lang::En);
    app.windows.customer = Some(iced::window::Id::unique());
    login(&mut app, "1001", "1234");
    type_into(&mut app, "scan", "6930181590837");
    let mut seen = false;
    for _ in 0..100 {
        app.drive(Message::PollDemoPole);
        if customer_sees(&app, "Coca-Cola 330ml 5.85")
            && customer_sees(&app, "TOTAL           5.85")
        {
            seen = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(seen, "the pole's lines: {:?}", app.demo_pole);
    assert!(customer_sees(
        &app,
        "Pole display (simulated, on the counter in a shop)"
    ));
}

/// A keyboard-wedge stripe reader's swipe on the sale screen, its
/// keystrokes arriving as fast as the simulator sends them, with the scan
/// field focused: none of it lands in the field, the payment opens and the
/// card pays online (PIN on the simulated pad); the receipt says swiped.
/// On a screen that takes no payment the swipe is refused, visibly.
#[test]
fn a_card_swiped_through_the_keyboard_wedge_pays_the_sale() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), Lang::En);
    app.service = app
        .service
        .clone()
        .with_terminal(Box::new(window_devices(dir.path(), &app)));
    login(&mut app, "1001", "1234");
    type_into(&mut app, "scan", "6930181590837");
    let swipe = ";6212345678901232=30121200000000000000?";
    let msgs: Vec<Message> = {
        let mut sim = ui(&app);
        sim.click(id("scan")).unwrap();
        // As a reader types it under X: Shift goes down for the `?`.
        let _ = sim.typewrite(&swipe[..swipe.len() - 1]);
        let _ = sim.tap_key(Named::Shift);
        let _ = sim.typewrite("?");
        let _ = sim.tap_key(Named::Enter);
        sim.into_messages().collect()
    };
    use tillpoint_ui::screen::sale;
    assert!(
        !msgs
            .iter()
            .any(|m| matches!(m, Message::Sale(sale::Msg::Entry(_) | sale::Msg::Submit))),
        "the swipe reached the scan field: {msgs:?}"
    );
    assert_eq!(
        msgs.iter()
            .filter(|m| matches!(m, Message::Swiped(_)))
            .count(),
        1
    );
    assert!(!format!("{msgs:?}").contains("6212345678"), "{msgs:?}");
    for m in msgs {
        app.drive(m);
    }
    assert_eq!(app.shown(), Shown::Receipt, "{:?}", app.notice);
    let rec = app.receipt().unwrap().record.clone().unwrap();
    let card = rec.tenders[0].card.clone().unwrap();
    assert_eq!(
        (card.entry_mode.as_str(), card.cvm.as_str()),
        ("swipe", "pin")
    );

    // Elsewhere a swipe is refused and its tracks go nowhere.
    app.drive(Message::Key(Named::F8));
    act(&mut app, |s| {
        let _ = s.typewrite(swipe);
        let _ = s.tap_key(Named::Enter);
    });
    let (why, is_error) = app.notice.clone().expect("the refusal shows");
    assert!(is_error && why.contains("payment screen"), "{why}");
}

/// The demo's swipe (F4 on the payment screen) of each kind of demo card:
/// a chip card is told to use its chip; after its chip fails the swipe is
/// a fallback and pays; the stripe-only card cannot be inserted (F3) and
/// pays when swiped, with its PIN.
#[test]
fn the_demo_swipes_its_cards_by_the_schemes_rules() {
    use tillpoint_ui::screen::tender;
    let dir = tempfile::tempdir().unwrap();
    let mut app = paying_with_demo_devices(dir.path());
    app.drive(Message::Key(Named::F4));
    let (why, _) = app.notice.clone().expect("a chip card swiped is refused");
    assert!(why.contains("insert it instead of swiping"), "{why}");
    app.drive(Message::DismissNotice);
    app.drive(Message::Key(Named::Enter));

    app.drive(Message::Tender(tender::Msg::Profile("broken-tlv".into())));
    app.drive(Message::Key(Named::F3));
    assert!(app.notice.is_some(), "the chip fails");
    app.drive(Message::DismissNotice);
    app.drive(Message::Key(Named::Enter));
    app.drive(Message::Key(Named::F4));
    assert_eq!(app.shown(), Shown::Receipt, "{:?}", app.notice);
    let card = first_card(&app);
    assert_eq!(card.entry_mode, "fallback");

    app.drive(Message::Key(Named::Enter));
    type_into(&mut app, "scan", "00001");
    app.drive(Message::Key(Named::F12));
    app.drive(Message::Tender(tender::Msg::Profile("stripe-only".into())));
    app.drive(Message::Key(Named::F3));
    let (why, _) = app.notice.clone().expect("no chip to insert");
    assert!(why.contains("no chip"), "{why}");
    app.drive(Message::DismissNotice);
    app.drive(Message::Key(Named::F4));
    assert_eq!(app.shown(), Shown::Receipt, "{:?}", app.notice);
    let card = first_card(&app);
    assert_eq!(
        (card.entry_mode.as_str(), card.cvm.as_str()),
        ("swipe", "pin")
    );
}

/// The card of the first tender on the receipt showing.
fn first_card(app: &App) -> tillpoint_core::tender::CardRef {
    app.receipt().unwrap().record.clone().unwrap().tenders[0]
        .card
        .clone()
        .unwrap()
}
