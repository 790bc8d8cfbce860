//! Fuzz target for the catalog CSV import, through SQLite: any bytes are
//! imported whole or refused whole with the bad lines named; never a panic,
//! and a refused file leaves the catalog as it was.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::Mutex;
use tillpoint_store::{Store, StoreSettings};

static STORE: Mutex<Option<(tempfile::TempDir, Store)>> = Mutex::new(None);

fuzz_target!(|data: &[u8]| {
    let mut guard = STORE.lock().unwrap_or_else(|p| p.into_inner());
    if guard.is_none() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let settings = StoreSettings {
            currency: tillpoint_core::money::Currency::CNY,
            opening_float: 0,
            till_id: "T01".into(),
            policy: Default::default(),
            journal_key: None,
        };
        let store = Store::open(&dir.path().join("fuzz.db"), settings).expect("a store");
        *guard = Some((dir, store));
    }
    let Some((_, store)) = guard.as_mut() else {
        return;
    };
    let classes = ["A".to_string(), "B".to_string()];
    let before = store.product_count().expect("a count");
    if store.import_catalog(data, &classes).is_err() {
        assert_eq!(store.product_count().expect("a count"), before, "a refused import changed the catalog");
    }
});
