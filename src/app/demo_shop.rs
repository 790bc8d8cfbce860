//! Demo mode: a convenience-store catalog, demo cashiers and a few sample
//! sales, so a new user sees a working till without any setup.

use crate::till::Till;
use tillpoint_core::cashier::{Action, Cashier, Role, Target};
use tillpoint_core::catalog::Qty;
use tillpoint_core::money::Money;
use tillpoint_core::sale::Sale;
use tillpoint_core::tender::{mask_pan, CardEntry, CardRef, Cvm, TenderKind};
use tillpoint_store::cashiers::Login;
use tillpoint_store::{Store, StoreError};

/// The demo catalog shipped in assets/ (210 products, 12 categories, 4 tax rates, 20 weighed).
pub const CATALOG_CSV: &str = include_str!("../../assets/demo/catalog.csv");

/// Demo config: a Chinese convenience store with tax-inclusive prices.
pub const CONFIG_TOML: &str = r#"
[shop]
name = "Corner Store 街角便利店"
address = ["88 Nanjing Road, Shanghai", "上海市南京路88号"]
tax_id = "91310000MA1FL0000X"
footer = ["Thank you! 谢谢惠顾", "Returns within 7 days with receipt"]

[till]
id = "T01"
currency = "CNY"
locale = "en-US"
opening_float = "500.00"

# The demo's supervisor and manager PINs are four digits, so that the login
# screen can show them; a shop's need six (the default).
[policy]
supervisor_pin_min = 4

# The demo's acquirer is simulated (no host here). Like a Chinese acquirer it
# speaks the cups profile: TPDU and header, BCD fields, a sign-on that sends
# the PIN and MAC keys under the terminal master key, a MAC on every
# message ("generic" is the other profile).
[acquirer]
profile = "cups"

# The merchant fee rates the X and Z reports estimate, per card scheme.
[acquirer.fees]
default = "0.6%"
unionpay = "0.38%"
visa = "1.2%"
mastercard = "1.2%"
qr = "0.38%"
"#;

/// Demo cashiers and their PINs; shown on the login screen in demo mode only.
pub fn cashiers() -> Vec<(Cashier, &'static str)> {
    vec![
        (
            Cashier {
                number: 1001,
                name: "Ann Li 李安".into(),
                role: Role::Cashier,
            },
            "1234",
        ),
        (
            Cashier {
                number: 2001,
                name: "Sue Wang 王苏".into(),
                role: Role::Supervisor,
            },
            "2468",
        ),
        (
            Cashier {
                number: 9001,
                name: "Max Chen 陈明".into(),
                role: Role::Manager,
            },
            "9999",
        ),
    ]
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Import(#[from] tillpoint_store::catalog::ImportError),
    #[error("demo product {0} is missing from the catalog")]
    Missing(String),
    #[error("{0} holds a till that is not a demo's; the demo never opens a shop's data (give it an empty or new --data-dir)")]
    NotADemo(std::path::PathBuf),
    #[error("cannot mark {0} as the demo's: {1}")]
    Marker(std::path::PathBuf, std::io::Error),
}

/// The file that marks a data directory as the demo's own.
pub const DEMO_MARKER: &str = ".tillpoint-demo";

/// Makes sure `dir` is the demo's to use: a directory the demo made (it
/// holds the marker), or an empty or new one, which is then marked. A
/// directory with anything else in it (a shop's till, its keys) is refused,
/// so the demo's sample sales never land in a shop's books.
pub fn claim_data_dir(dir: &std::path::Path) -> Result<(), DemoError> {
    let marker = dir.join(DEMO_MARKER);
    if marker.is_file() {
        return Ok(());
    }
    let empty = match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => return Err(DemoError::Marker(dir.to_path_buf(), e)),
    };
    if !empty {
        return Err(DemoError::NotADemo(dir.to_path_buf()));
    }
    tillpoint_config::private::create_dir(dir)
        .and_then(|()| tillpoint_config::private::write(&marker, b"a tillpoint demo\n"))
        .map_err(|e| DemoError::Marker(dir.to_path_buf(), e))
}

/// Sets up the demo shop in the till's store when it is empty; whether it
/// did.
pub fn seed_till(till: &mut Till) -> Result<bool, DemoError> {
    let classes = till.config.tax_classes();
    seed(&mut till.store, &classes)
}

/// Loads the demo catalog and cashiers into an empty store (no-op otherwise).
pub fn seed(store: &mut Store, tax_classes: &[String]) -> Result<bool, DemoError> {
    if store.product_count()? > 0 {
        return Ok(false);
    }
    store.import_catalog(CATALOG_CSV.as_bytes(), tax_classes)?;
    let now = crate::till::Clock::fixed(0).now_ms();
    store.seed_cashiers(&cashiers(), now)?;
    Ok(true)
}

/// Rings a few sample sales through the real engine and store: cash with
/// change, a weighed item, a card + cash split, and a refund.
pub fn ring_samples(till: &mut Till) -> Result<Vec<String>, DemoError> {
    let rules = till.config.pricing.clone();
    let prefixes = till.config.embedded_prefixes.clone();
    let cur = rules.currency;
    let find = |store: &Store, code: &str| -> Result<_, DemoError> {
        store
            .resolve_code(code, &prefixes)?
            .ok_or_else(|| DemoError::Missing(code.to_string()))
    };
    let mut receipts = Vec::new();
    let now = till.clock.now_ms();
    let hour = till.clock.local_hour(now);

    let mut s = Sale::new(cur, 1001);
    for sku in ["00001", "00010", "00030"] {
        let hit = find(&till.store, sku)?;
        s.add(&hit.product, Qty::ONE).map_err(StoreError::from)?;
    }
    let due = s.cash_due(&rules).map_err(StoreError::from)?;
    let given = Money::new((due.minor / 10_000 + 1) * 10_000, cur);
    s.pay_cash(given, &rules).map_err(StoreError::from)?;
    receipts.push(
        till.store
            .complete_sale(&s, &rules, now, hour, &[])?
            .record
            .receipt_no,
    );

    let mut s = Sale::new(cur, 1001);
    let apples = find(&till.store, "2300001012506")?; // 1.250 kg of apples, in-store barcode
    let qty = Qty(apples.embedded.as_ref().map_or(1000, |e| e.value));
    s.add(&apples.product, qty).map_err(StoreError::from)?;
    s.add(&find(&till.store, "00050")?.product, Qty::pieces(2))
        .map_err(StoreError::from)?;
    let card_part = Money::new(s.balance(&rules).map_err(StoreError::from)?.minor / 2, cur);
    let card = CardRef {
        masked_pan: mask_pan("6212345678901234567"),
        scheme: "UnionPay".into(),
        app_label: "UnionPay Debit".into(),
        aid: "A000000333010101".into(),
        auth_code: "123456".into(),
        ..CardRef::new(CardEntry::Chip, Cvm::Pin)
    };
    s.pay_electronic(TenderKind::Card, card_part, card, &rules)
        .map_err(StoreError::from)?;
    let rest = s.cash_due(&rules).map_err(StoreError::from)?;
    s.pay_cash(rest, &rules).map_err(StoreError::from)?;
    let second = till
        .store
        .complete_sale(&s, &rules, now, hour, &[])?
        .record
        .receipt_no;
    receipts.push(second.clone());

    // The first (cash) sale's juice comes back; the demo supervisor
    // approves it with her PIN, as at the counter. (Not the split sale: its
    // card part is made up here, never went through the demo's acquirer,
    // and a refund of it could never be sent there.)
    let (sup, pin) = cashiers().remove(1);
    let picks = [(2, Qty::ONE)];
    let first = receipts[0].clone();
    let target = Target::Refund {
        receipt: first.clone(),
        picks: picks.iter().map(|(l, q)| (*l, q.milli())).collect(),
    };
    let approval = match till.store.login(sup.number, pin, now)? {
        Login::Welcome(v) => v
            .approve(Action::Refund, target)
            .map_err(StoreError::from)?,
        _ => return Err(StoreError::Rejected("the demo supervisor's PIN".into()).into()),
    };
    let refund = till
        .store
        .complete_refund(&first, &picks, &rules, 1001, &approval, now, hour)?;
    receipts.push(refund.record.receipt_no);
    Ok(receipts)
}

/// Starts the printer emulator on loopback for the demo and points the
/// till's `[printer]` at it (unless a printer is configured): receipts are
/// printed over TCP as ESC/POS and land as PNGs in `<data dir>/receipts/`.
/// Keep the handle alive while the till runs.
pub fn start_printer(
    till: &mut Till,
) -> Result<Option<tillpoint_sim::printer::SimHandle>, tillpoint_sim::printer::SimError> {
    use tillpoint_sim::printer::{Paper, PrinterSim, SimState};
    if till.config.sections.contains_key("printer") {
        return Ok(None);
    }
    let assets = crate::service::assets_dir();
    let state = SimState::new(Paper::Mm80, Some(&assets))?;
    let out = till.data_dir().join("receipts");
    let handle =
        PrinterSim::bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), &out, state)?.spawn()?;
    let mut section = toml::Table::new();
    section.insert("transport".into(), "tcp".into());
    section.insert("address".into(), handle.addr.to_string().into());
    section.insert("paper".into(), 80.into());
    section.insert("chinese".into(), true.into());
    section.insert("drawer".into(), true.into());
    // The emulator has a buzzer: the demo beeps on a refusal.
    section.insert("buzzer".into(), true.into());
    till.config
        .sections
        .insert("printer".into(), toml::Value::Table(section));
    Ok(Some(handle))
}
