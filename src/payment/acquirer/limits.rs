//! The caps on offline (store-and-forward) acceptance, and why a sale
//! over them is refused: the session checks them before it queues an
//! advice, the forwarder drains what they let through.

use std::time::Duration;

/// Caps on offline acceptance; reaching any of them refuses the next
/// offline sale until the outbox drains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OfflineLimits {
    pub max_count: u64,
    /// In minor units of the till's currency.
    pub max_amount: u64,
    pub max_age: Duration,
    /// Whether an offline advice keeps the card's track 2 equivalent data
    /// (`[acquirer] advice_track2`): only for a host profile that asks for
    /// field 35 in its advices. Without it the advice carries the PAN, the
    /// expiry and the chip data, and no track data waits on disk.
    pub keep_track2: bool,
}

impl Default for OfflineLimits {
    fn default() -> Self {
        OfflineLimits {
            max_count: 200,
            max_amount: 500_000,
            max_age: Duration::from_secs(72 * 3600),
            keep_track2: false,
        }
    }
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum OfflineRefusal {
    #[error("{limit} offline transactions already wait to be forwarded")]
    Count { limit: u64 },
    #[error("offline total would exceed {limit} minor units")]
    Amount { limit: u64 },
    #[error("the oldest offline transaction is older than {hours} hours")]
    Age { hours: u64 },
}
