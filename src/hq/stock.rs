//! Stock per shop at head office: each movement is a row in `stock_moves`
//! and the level is kept beside it in the same transaction. Sales, refunds
//! and voids come from the projector; goods received and adjustments
//! (a count, breakage) are entered at head office.

use tokio_postgres::GenericClient;

use crate::db::HqError;

/// Books one movement of `qty_milli` thousandths (negative takes stock
/// out) and moves the shop's level by it.
pub async fn book(
    db: &impl GenericClient,
    shop: &str,
    sku: &str,
    qty_milli: i64,
    reason: &str,
    source: &str,
) -> Result<(), HqError> {
    db.execute(
        "INSERT INTO stock_moves (shop_id, sku, qty_milli, reason, source) VALUES ($1, $2, $3, $4, $5)",
        &[&shop, &sku, &qty_milli, &reason, &source],
    )
    .await?;
    db.execute(
        "INSERT INTO stock (shop_id, sku, qty_milli) VALUES ($1, $2, $3)
         ON CONFLICT (shop_id, sku) DO UPDATE SET qty_milli = stock.qty_milli + EXCLUDED.qty_milli",
        &[&shop, &sku, &qty_milli],
    )
    .await?;
    Ok(())
}

/// What head office enters by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entered {
    /// Goods delivered: adds to the level.
    Received,
    /// A correction (a count, breakage, theft): adds, or takes away when
    /// negative.
    Adjusted,
}

/// Records goods received or an adjustment for `shop`, with a note saying
/// what it was (a delivery note, "count 2026-12-01").
pub async fn enter(
    db: &mut tokio_postgres::Client,
    shop: &str,
    sku: &str,
    qty_milli: i64,
    what: Entered,
    note: &str,
) -> Result<(), HqError> {
    if what == Entered::Received && qty_milli <= 0 {
        return Err(HqError::Refused(
            "goods received must be a positive quantity".into(),
        ));
    }
    if qty_milli == 0 {
        return Err(HqError::Refused(
            "an adjustment of nothing changes nothing".into(),
        ));
    }
    let known = db
        .query_opt("SELECT 1 FROM shops WHERE id = $1", &[&shop])
        .await?
        .is_some();
    if !known {
        return Err(HqError::Refused(format!("head office has no shop {shop}")));
    }
    let reason = match what {
        Entered::Received => "received",
        Entered::Adjusted => "adjusted",
    };
    let tx = db.transaction().await?;
    book(&tx, shop, sku, qty_milli, reason, note).await?;
    tx.commit().await?;
    Ok(())
}

/// One product's level in one shop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Level {
    pub shop: String,
    pub sku: String,
    pub qty_milli: i64,
    pub reorder_at_milli: i64,
}

impl Level {
    pub fn is_low(&self) -> bool {
        self.qty_milli <= self.reorder_at_milli
    }
}

/// Every level (of `shop`, or of all shops), by shop and SKU.
pub async fn levels(db: &impl GenericClient, shop: Option<&str>) -> Result<Vec<Level>, HqError> {
    Ok(db
        .query(
            "SELECT shop_id, sku, qty_milli, reorder_at_milli FROM stock
             WHERE $1::text IS NULL OR shop_id = $1 ORDER BY shop_id, sku",
            &[&shop],
        )
        .await?
        .iter()
        .map(|r| Level {
            shop: r.get(0),
            sku: r.get(1),
            qty_milli: r.get(2),
            reorder_at_milli: r.get(3),
        })
        .collect())
}

/// The low-stock report: levels at or below their reorder point.
pub async fn low(db: &impl GenericClient, shop: Option<&str>) -> Result<Vec<Level>, HqError> {
    Ok(levels(db, shop)
        .await?
        .into_iter()
        .filter(Level::is_low)
        .collect())
}

/// Sets the level at which a product counts as low in a shop.
pub async fn set_reorder(
    db: &impl GenericClient,
    shop: &str,
    sku: &str,
    at_milli: i64,
) -> Result<(), HqError> {
    db.execute(
        "INSERT INTO stock (shop_id, sku, reorder_at_milli) VALUES ($1, $2, $3)
         ON CONFLICT (shop_id, sku) DO UPDATE SET reorder_at_milli = EXCLUDED.reorder_at_milli",
        &[&shop, &sku, &at_milli],
    )
    .await?;
    Ok(())
}
