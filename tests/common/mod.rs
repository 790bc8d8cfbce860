//! Helpers shared by the integration tests: a till on a real SQLite file in
//! a temporary directory, with the demo catalog and cashiers.
#![allow(dead_code)]

use tillpoint_app::till::store_settings;
use tillpoint_config::Config;
use tillpoint_core::cashier::{authorize, Action, Approval, Cashier, Role};
use tillpoint_store::Store;

pub fn demo_store(dir: &std::path::Path) -> (Store, Config) {
    let (config, _) = Config::parse(tillpoint_app::demo_shop::CONFIG_TOML).unwrap();
    let mut store = Store::open(&dir.join("till.db"), store_settings(&config)).unwrap();
    tillpoint_app::demo_shop::seed(&mut store, &config.tax_classes()).unwrap();
    (store, config)
}

pub fn supervisor(action: Action) -> Approval {
    authorize(
        &Cashier {
            number: 2001,
            name: "Sue".into(),
            role: Role::Supervisor,
        },
        action,
    )
    .unwrap()
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
