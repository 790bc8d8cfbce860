//! Store benchmarks: durable sale commit, barcode lookup, name search, Z report.

use super::{figure, Figure, Samples, Size};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::Path;
use tillpoint_app::till::store_settings;
use tillpoint_config::Config;
use tillpoint_core::cashier::{Action, Cashier, Role, Target};
use tillpoint_core::catalog::{gs1_check_digit, Product, Qty, Unit};
use tillpoint_core::money::Money;
use tillpoint_core::sale::Sale;
use tillpoint_core::tender::{CardRef, TenderKind};
use tillpoint_store::cashiers::Login;
use tillpoint_store::{Store, StoreError};

const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "zu", "ter", "van", "os", "pel", "dri", "nok", "sa", "ri", "bel", "tor",
    "qui", "fen", "gal", "hu",
];
const KINDS: &[&str] = &[
    "cola",
    "tea",
    "juice",
    "chips",
    "cookies",
    "noodles",
    "rice",
    "soap",
    "shampoo",
    "milk",
    "yogurt",
    "bread",
    "water",
    "coffee",
    "candy",
    "sauce",
    "oil",
    "beer",
    "batteries",
    "tissues",
];
const CJK: &[&str] = &[
    "可乐",
    "绿茶",
    "薯片",
    "饼干",
    "方便面",
    "大米",
    "香皂",
    "牛奶",
    "面包",
    "咖啡",
];

fn brand(rng: &mut StdRng) -> String {
    let n = rng.gen_range(2..=3);
    (0..n)
        .map(|_| SYLLABLES[rng.gen_range(0..SYLLABLES.len())])
        .collect()
}

/// The EAN-13 of synthetic product `i` (prefix 69, valid check digit).
pub fn synthetic_barcode(i: usize) -> String {
    let body = format!("69{:010}", i);
    let digits: Vec<u8> = body.bytes().map(|b| b - b'0').collect();
    format!("{body}{}", gs1_check_digit(&digits))
}

/// A catalog CSV of `n` synthetic products with realistic name words.
pub fn synthetic_catalog(n: usize, classes: &[String]) -> String {
    let mut rng = StdRng::seed_from_u64(42);
    let mut s = String::with_capacity(n * 90);
    s.push_str("sku,name,price,tax_class,category,unit,barcodes\n");
    for i in 0..n {
        let k = rng.gen_range(0..KINDS.len());
        let name = format!(
            "{} {} {}{} {}",
            brand(&mut rng),
            KINDS[k],
            rng.gen_range(1..20) * 50,
            if rng.gen_bool(0.5) { "ml" } else { "g" },
            CJK[k % CJK.len()]
        );
        let class = &classes[i % classes.len()];
        s.push_str(&format!(
            "B{i:07},{name},{}.{:02},{class},Cat{},piece,{}\n",
            rng.gen_range(1..200),
            rng.gen_range(0..100),
            i % 40,
            synthetic_barcode(i)
        ));
    }
    s
}

fn product(i: usize, config: &Config) -> Product {
    Product {
        sku: format!("S{i}"),
        name: format!("Item {i}"),
        barcodes: vec![],
        price: Money::new(199 + (i as i64 * 37) % 2000, config.till.currency),
        tax_class: config.tax_classes()[i % config.tax_classes().len()].clone(),
        category: "c".into(),
        unit: Unit::Piece,
    }
}

/// A paid five-line card sale, as a till rings it.
fn card_sale(i: usize, config: &Config) -> Sale {
    let rules = &config.pricing;
    let mut s = Sale::new(config.till.currency, 1);
    for l in 0..5 {
        let _ = s.add(&product(i * 5 + l, config), Qty::pieces(1 + (l as i64 % 3)));
    }
    if let Ok(b) = s.balance(rules) {
        let card = CardRef {
            masked_pan: "476173******0010".into(),
            scheme: "Visa".into(),
            auth_code: "A1B2C3".into(),
            ..CardRef::default()
        };
        let _ = s.pay_electronic(TenderKind::Card, b, card, rules);
    }
    s
}

/// Runs the store figures in a fresh database under `dir`.
pub fn run(dir: &Path, size: Size, progress: &dyn Fn(&str)) -> Result<Vec<Figure>, StoreError> {
    let config = Config::default();
    let rules = config.pricing.clone();
    let mut out = Vec::new();

    // 1. Durable sale commit vs bare INSERT+COMMIT.
    progress("durable sale commit");
    let mut store = Store::open(&dir.join("commit.db"), store_settings(&config))?;
    let (mut commit, mut bare) = (Samples::default(), Samples::default());
    for i in 0..size.commits {
        let sale = card_sale(i, &config);
        // The baseline writes the same bytes the sale's journal entry holds, as one bare row.
        let payload = serde_json::to_vec(&sale).unwrap_or_default();
        // Interleave the two so machine noise hits both alike.
        bare.time(|| store.bench_bare_commit(&payload))?;
        commit.time(|| store.complete_sale(&sale, &rules, 1_700_000_000_000, 12, &[]))?;
    }
    out.push(figure(
        "sale_commit_5_line_card",
        &commit,
        Some(&bare),
        "ratio <= 1.3",
        |_, _, r| r.is_some_and(|r| r <= 1.3),
    ));
    drop(store);

    // 2. Catalog import, barcode lookup and search.
    progress(&format!("importing {} products", size.products));
    let mut store = Store::open(&dir.join("catalog.db"), store_settings(&config))?;
    let csv = synthetic_catalog(size.products, &config.tax_classes());
    let mut import = Samples::default();
    import
        .time(|| store.import_catalog(csv.as_bytes(), &config.tax_classes()))
        .map_err(|e| StoreError::Rejected(e.to_string()))?;
    drop(csv);
    out.push(Figure {
        name: format!("catalog_import_{}", size.products),
        unit: "ms".into(),
        p50: import.quantile_ms(0.5),
        p99: import.quantile_ms(0.5),
        baseline: None,
        ratio: None,
        goal: "one run, for the record".into(),
        met: None,
    });
    progress("barcode lookups");
    let mut rng = StdRng::seed_from_u64(7);
    let (mut look, mut probe) = (Samples::default(), Samples::default());
    for _ in 0..size.lookups {
        let code = synthetic_barcode(rng.gen_range(0..size.products));
        probe.time(|| store.bench_bare_barcode_probe(&code))?;
        let hit = look.time(|| store.resolve_code(&code, &config.embedded_prefixes))?;
        if hit.is_none() {
            return Err(StoreError::Rejected(format!(
                "bench: barcode {code} not found"
            )));
        }
    }
    out.push(figure(
        &format!("barcode_lookup_{}", size.products),
        &look,
        Some(&probe),
        "p99 <= 1 ms",
        |_, p99, _| p99 <= 1.0,
    ));
    progress("name searches");
    let (mut search, mut bare_fts) = (Samples::default(), Samples::default());
    for _ in 0..size.searches {
        let q = format!(
            "{} {}",
            &brand(&mut rng)[..2],
            KINDS[rng.gen_range(0..KINDS.len())]
        );
        let fq = tillpoint_store::catalog::fts_query(&q).unwrap_or_default();
        bare_fts.time(|| store.bench_bare_fts(&fq, 20))?;
        search.time(|| store.search_products(&q, 20))?;
    }
    out.push(figure(
        &format!("name_search_{}", size.products),
        &search,
        Some(&bare_fts),
        "p99 <= 20 ms",
        |_, p99, _| p99 <= 20.0,
    ));
    drop(store);

    // 3. Z report over many sales vs one aggregate scan of them.
    progress(&format!("recording {} sales", size.sales));
    let mut store = Store::open(&dir.join("z.db"), store_settings(&config))?;
    let batch = 5_000;
    let mut i = 0;
    while i < size.sales {
        let n = batch.min(size.sales - i);
        let sales: Vec<Sale> = (i..i + n).map(|k| card_sale(k, &config)).collect();
        store.complete_sales_batch(&sales, &rules, 1_700_000_000_000 + i as i64, (i % 24) as u8)?;
        i += n;
    }
    progress("Z report");
    let sup = Cashier {
        number: 2,
        name: "bench".into(),
        role: Role::Supervisor,
    };
    store.seed_cashiers(&[(sup, "246801")], 1_800_000_000_000)?;
    let approval = match store.login(2, "246801", 1_800_000_000_000)? {
        Login::Welcome(v) => v.approve(Action::ZReport, Target::Till)?,
        _ => return Err(StoreError::Rejected("bench: the supervisor's PIN".into())),
    };
    let (mut z, mut scan) = (Samples::default(), Samples::default());
    scan.time(|| store.bench_sales_scan())?;
    let report = z.time(|| store.z_report(&approval, 1_800_000_000_000))?;
    if report.totals.sales.count != size.sales as i64 {
        return Err(StoreError::Rejected(format!(
            "bench: Z counted {} sales, expected {}",
            report.totals.sales.count, size.sales
        )));
    }
    out.push(figure(
        &format!("z_report_{}_sales", size.sales),
        &z,
        Some(&scan),
        "<= 200 ms",
        |p50, _, _| p50 <= 200.0,
    ));
    Ok(out)
}
