//! Helpers shared by the integration tests: a till on a real SQLite file in
//! a temporary directory, with the demo catalog and cashiers.
#![allow(dead_code)]

pub mod demo_shop;
pub mod postgres;

use tillpoint_app::till::store_settings;
use tillpoint_config::Config;
use tillpoint_core::cashier::{Action, Approval, Cashier, Role, Target};
use tillpoint_store::cashiers::Login;
use tillpoint_store::Store;

pub fn demo_store(dir: &std::path::Path) -> (Store, Config) {
    let (config, _) = Config::parse(tillpoint_app::demo_shop::CONFIG_TOML).unwrap();
    let mut store = Store::open(&dir.join("till.db"), store_settings(&config)).unwrap();
    tillpoint_app::demo_shop::seed(&mut store, &config.tax_classes()).unwrap();
    (store, config)
}

/// Sue's (supervisor 2001) approval of `action` on `target`, made as the
/// till makes every approval: by her PIN matching, here on a till of her
/// own (an approval names its approver, not a till).
pub fn supervisor(action: Action, target: Target) -> Approval {
    static SUE: std::sync::OnceLock<std::sync::Mutex<(tempfile::TempDir, Store)>> =
        std::sync::OnceLock::new();
    let cell = SUE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let (config, _) = Config::parse("").unwrap();
        let mut store = Store::open(&dir.path().join("till.db"), store_settings(&config)).unwrap();
        let sue = Cashier {
            number: 2001,
            name: "Sue".into(),
            role: Role::Supervisor,
        };
        store.seed_cashiers(&[(sue, "2468")], 0).unwrap();
        std::sync::Mutex::new((dir, store))
    });
    let mut guard = cell.lock().unwrap();
    match guard.1.login(2001, "2468", 0).unwrap() {
        Login::Welcome(v) => v.approve(action, target).unwrap(),
        other => panic!("Sue's PIN: {other:?}"),
    }
}

/// What an approval of refunding `picks` of `receipt` names.
pub fn refund_of(receipt: &str, picks: &[(u32, tillpoint_core::catalog::Qty)]) -> Target {
    Target::Refund {
        receipt: receipt.to_owned(),
        picks: picks.iter().map(|(l, q)| (*l, q.milli())).collect(),
    }
}

pub fn bin() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_tillpoint"))
}

/// The unshipped test tills (`sell-loop`, `crash-till`).
pub fn harness() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_tillpoint-harness"))
}

/// Writes a config file as the till would (private to this account), so a
/// check run on it finds no file open to others.
pub fn write_config(path: &std::path::Path, text: impl AsRef<str>) {
    tillpoint_config::private::write(path, text.as_ref().as_bytes()).unwrap();
}

/// `[qr]` for the demo gateway's published keys at `url`, polling every
/// second and waiting `wait` seconds for the customer.
pub fn qr_gateway_section(url: &str, wait: u64) -> String {
    let asset = |name: &str| {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("assets/demo/qr")
            .join(name)
            .display()
            .to_string()
    };
    format!(
        "[qr]\nchannel = \"gateway\"\nurl = {url:?}\nmchid = \"1900000109\"\nserial_no = \"5157F09EFDC096DE15EBE81A47057A72\"\nmerchant_key = {:?}\nplatform_key = {:?}\nca = {:?}\ntimeout_ms = 1500\npoll_seconds = 1\nwait_seconds = {wait}\n",
        asset("merchant.key.pem"),
        asset("platform.pub.pem"),
        asset("ca.pem"),
    )
}
