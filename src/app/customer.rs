//! What the customer sees of the sale: one view, made by the window from
//! the sale on the counter and shown on every customer-facing device (the
//! pole display here). Each device turns the same view into its own
//! output, so they never disagree.

use tillpoint_core::money::Money;
use tillpoint_devices::pole::{two_sided, Lamp, PoleFrame};

/// Where a card payment stands, as the customer is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardPrompt {
    InsertOrTap,
    EnterPin,
    Processing,
    Approved,
    Declined,
    /// A QR payment: the customer shows or scans a code.
    Qr,
}

/// The customer's view of the counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerView {
    /// No sale: a welcome with the shop's name.
    Idle { shop: String },
    /// Lines are being scanned: the last one and the running total.
    Sale {
        last: Option<(String, Money)>,
        total: Money,
    },
    /// Payment is being taken: what is left to pay.
    Paying { total: Money, due: Money },
    /// A card or QR payment in progress.
    Card { prompt: CardPrompt, amount: Money },
    /// The sale is paid.
    Done {
        total: Money,
        paid: Money,
        change: Money,
    },
}

impl CustomerView {
    /// The pole display's frame. Its font is ASCII only, so the words are
    /// fixed English ones and product names keep their Latin part.
    pub fn pole_frame(&self) -> PoleFrame {
        let frame = |top: String, bottom: String, lamp: Lamp, number: Money| PoleFrame {
            top,
            bottom,
            lamp,
            number: number.to_string(),
        };
        match self {
            CustomerView::Idle { shop } => PoleFrame {
                top: "WELCOME".into(),
                bottom: shop.clone(),
                lamp: Lamp::Off,
                number: String::new(),
            },
            CustomerView::Sale {
                last: Some((name, price)),
                total,
            } => frame(
                two_sided(name, &price.to_string()),
                two_sided("TOTAL", &total.to_string()),
                Lamp::Price,
                *price,
            ),
            CustomerView::Sale { last: None, total } => frame(
                String::new(),
                two_sided("TOTAL", &total.to_string()),
                Lamp::Total,
                *total,
            ),
            CustomerView::Paying { total, due } => frame(
                two_sided("TOTAL", &total.to_string()),
                two_sided("TO PAY", &due.to_string()),
                Lamp::Total,
                *due,
            ),
            CustomerView::Card { prompt, amount } => {
                let words = match prompt {
                    CardPrompt::InsertOrTap => "INSERT OR TAP CARD",
                    CardPrompt::EnterPin => "ENTER PIN ON PAD",
                    CardPrompt::Processing => "PLEASE WAIT",
                    CardPrompt::Approved => "APPROVED",
                    CardPrompt::Declined => "DECLINED",
                    CardPrompt::Qr => "SCAN TO PAY",
                };
                frame(
                    words.into(),
                    two_sided("AMOUNT", &amount.to_string()),
                    Lamp::Total,
                    *amount,
                )
            }
            CustomerView::Done { paid, change, .. } => frame(
                two_sided("PAID", &paid.to_string()),
                two_sided("CHANGE", &change.to_string()),
                Lamp::Change,
                *change,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tillpoint_core::money::Currency;

    #[test]
    fn each_view_has_a_pole_frame() {
        let m = |minor| Money::new(minor, Currency::CNY);
        let f = CustomerView::Sale {
            last: Some(("可口可乐 Coca-Cola 330ml".into(), m(585))),
            total: m(1170),
        }
        .pole_frame();
        assert_eq!(f.top, "Coca-Cola 330ml 5.85");
        assert_eq!(f.bottom, "TOTAL          11.70");
        assert_eq!((f.lamp, f.number.as_str()), (Lamp::Price, "5.85"));
        let f = CustomerView::Done {
            total: m(1170),
            paid: m(2000),
            change: m(830),
        }
        .pole_frame();
        assert_eq!((f.lamp, f.number.as_str()), (Lamp::Change, "8.30"));
        assert_eq!(f.bottom, "CHANGE          8.30");
    }
}
