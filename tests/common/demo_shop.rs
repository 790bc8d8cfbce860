//! The demo shop on real parts, as the payment tests use it: the demo's
//! config and catalog in a temporary directory, the demo devices (PIN pad
//! on a pseudo-terminal, acquirer simulator on 127.0.0.1 with its SQLite
//! ledger) behind the till's service.

use std::path::Path;
use std::time::{Duration, Instant};

use tillpoint_app::service::Service;
use tillpoint_app::till::{Paths, Till};
use tillpoint_core::catalog::Qty;
use tillpoint_core::money::{Currency, Money};
use tillpoint_core::sale::Sale;
use tillpoint_payment::acquirer::wire::HostProfile;
use tillpoint_sim::acquirer::ledger::{HostLedger, TxnRow};
use tillpoint_sim::demo_devices::{DemoDevices, DemoOptions};
use tillpoint_sim::link::LinkSwitch;

pub fn shop(dir: &Path) -> (Service, LinkSwitch) {
    shop_on(dir, HostProfile::Generic)
}

pub fn shop_on(dir: &Path, profile: HostProfile) -> (Service, LinkSwitch) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let cfg = dir.join("tillpoint.toml");
    super::write_config(&cfg, tillpoint_app::demo_shop::CONFIG_TOML);
    let mut till = Till::open(Paths {
        config_file: cfg,
        data_dir: dir.to_path_buf(),
    })
    .unwrap();
    let classes = till.config.tax_classes();
    tillpoint_app::demo_shop::seed(&mut till.store, &classes).unwrap();
    let mut opts = DemoOptions::new(Currency::CNY);
    opts.commit = tillpoint_payment::session::CommitMode::WithSale;
    let link = LinkSwitch::new();
    opts.link = link.clone();
    opts.host_profile = profile;
    let devices = DemoDevices::start_with(dir, opts).unwrap();
    (Service::new(till).with_terminal(Box::new(devices)), link)
}

pub fn host_rows(dir: &Path) -> Vec<TxnRow> {
    let db = tillpoint_sim::acquirer::default_db_path(dir);
    HostLedger::open(&db).unwrap().txns("TILL0001").unwrap()
}

pub fn wait_for_host(dir: &Path, found: impl Fn(&[TxnRow]) -> bool) -> Vec<TxnRow> {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let rows = host_rows(dir);
        if found(&rows) || Instant::now() > until {
            return rows;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn cola_sale(s: &Service) -> (Sale, Money) {
    let hit = s.resolve("6930181590837").unwrap().unwrap();
    let mut sale = Sale::new(Currency::CNY, 1001);
    sale.add(&hit.product, Qty::ONE).unwrap();
    let rules = s.with_till(|t| t.config.pricing.clone());
    let due = sale.balance(&rules).unwrap();
    (sale, due)
}
