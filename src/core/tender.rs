//! How a sale is paid: cash, card, QR, and the card slip data kept with it.

use super::money::Money;
use serde::{Deserialize, Serialize};

/// The payment means a till accepts. Order matters: refunds go back to
/// electronic tenders first (see [`super::refund`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenderKind {
    Cash,
    Card,
    Qr,
}

impl TenderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TenderKind::Cash => "cash",
            TenderKind::Card => "card",
            TenderKind::Qr => "qr",
        }
    }

    pub fn parse(s: &str) -> Option<TenderKind> {
        match s {
            "cash" => Some(TenderKind::Cash),
            "card" => Some(TenderKind::Card),
            "qr" => Some(TenderKind::Qr),
            _ => None,
        }
    }

    /// Electronic tenders go through the acquirer and leave an outbox row.
    pub fn is_electronic(self) -> bool {
        !matches!(self, TenderKind::Cash)
    }
}

/// How the card (or the customer's phone) met the till.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardEntry {
    Chip,
    Contactless,
    Qr,
    Manual,
    /// The magnetic stripe of a card without a chip.
    Swipe,
    /// The magnetic stripe of a chip card whose chip just failed.
    Fallback,
}

impl CardEntry {
    /// The word kept in the record ([`CardRef::entry_mode`]).
    pub fn as_str(self) -> &'static str {
        match self {
            CardEntry::Chip => "chip",
            CardEntry::Contactless => "contactless",
            CardEntry::Qr => "qr",
            CardEntry::Manual => "manual",
            CardEntry::Swipe => "swipe",
            CardEntry::Fallback => "fallback",
        }
    }

    pub fn parse(word: &str) -> Option<CardEntry> {
        [
            Self::Chip,
            Self::Contactless,
            Self::Qr,
            Self::Manual,
            Self::Swipe,
            Self::Fallback,
        ]
        .into_iter()
        .find(|m| m.as_str() == word)
    }
}

/// How the cardholder was verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cvm {
    /// Online PIN, entered on the PIN pad.
    Pin,
    Signature,
    /// The phone verified its owner (consumer device CVM) before the tap.
    ConsumerDevice,
    /// No verification (offline approval below the limit, a QR payment).
    None,
}

impl Cvm {
    /// The word kept in the record ([`CardRef::cvm`]).
    pub fn as_str(self) -> &'static str {
        match self {
            Cvm::Pin => "pin",
            Cvm::Signature => "signature",
            Cvm::ConsumerDevice => "device",
            Cvm::None => "none",
        }
    }

    pub fn parse(word: &str) -> Option<Cvm> {
        [Self::Pin, Self::Signature, Self::ConsumerDevice, Self::None]
            .into_iter()
            .find(|m| m.as_str() == word)
    }
}

/// What the receipt and the books need of an electronic payment. Holds no
/// full PAN, track data, PIN block or CVV: only what may be printed or kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CardRef {
    /// First six and last four digits, the rest masked.
    pub masked_pan: String,
    /// Keyed hash of the PAN, so a refund can find the card without storing it.
    pub pan_hash: String,
    pub scheme: String,
    pub app_label: String,
    pub aid: String,
    pub tvr: String,
    pub tsi: String,
    pub auth_code: String,
    pub rrn: String,
    pub stan: String,
    /// "chip", "contactless", "qr", "manual".
    pub entry_mode: String,
    /// "pin", "signature", "none".
    pub cvm: String,
    /// True when the card approved offline (TC) and an advice waits in the outbox.
    pub offline: bool,
    /// The QR gateway's order (`out_trade_no`) this payment was made as: how
    /// a refund, and a till restarted mid-payment, find it at the provider.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub order_id: String,
}

impl CardRef {
    /// A payment's card data as it starts: how the card met the till and
    /// how its holder was verified, the rest filled in as it is learnt.
    /// (The record keeps the words, so sales stored before stay readable.)
    pub fn new(entry: CardEntry, cvm: Cvm) -> CardRef {
        CardRef {
            entry_mode: entry.as_str().into(),
            cvm: cvm.as_str().into(),
            ..CardRef::default()
        }
    }

    /// How the card met the till; `None` for a word this till does not know.
    pub fn entry(&self) -> Option<CardEntry> {
        CardEntry::parse(&self.entry_mode)
    }

    /// How the holder was verified; `None` for a word this till does not know.
    pub fn verified_by(&self) -> Option<Cvm> {
        Cvm::parse(&self.cvm)
    }
}

/// One payment applied to a sale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tender {
    pub kind: TenderKind,
    /// The part of the sale this tender settles (negative on a refund).
    pub amount: Money,
    /// Cash handed over by the customer, when more than `amount`.
    pub given: Option<Money>,
    /// Cash handed back.
    pub change: Money,
    pub card: Option<CardRef>,
    /// On a refund: index of the original sale's tender this gives back to.
    #[serde(default)]
    pub refund_of: Option<u32>,
}

impl Tender {
    pub fn electronic(kind: TenderKind, amount: Money, card: CardRef) -> Tender {
        Tender {
            kind,
            amount,
            given: None,
            change: Money::zero(amount.currency),
            card: Some(card),
            refund_of: None,
        }
    }
}

/// Masks a PAN for the receipt, the logs, traces and the host's messages:
/// the one masking rule of the till (see [`pan_digit_shown`]). Anything
/// but digits is dropped.
pub fn mask_pan(pan: &str) -> String {
    let digits: Vec<char> = pan.chars().filter(char::is_ascii_digit).collect();
    let n = digits.len();
    digits
        .iter()
        .enumerate()
        .map(|(i, c)| if pan_digit_shown(i, n) { *c } else { '*' })
        .collect()
}

/// Whether digit `i` of a PAN of `len` digits may be shown: the first six
/// and the last four (the PCI DSS display rule), and none at all below 13
/// digits, where six and four would leave too little hidden.
pub fn pan_digit_shown(i: usize, len: usize) -> bool {
    len >= 13 && (i < 6 || i + 4 >= len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_modes_and_cvms_keep_their_words() {
        let c = CardRef::new(CardEntry::Contactless, Cvm::Signature);
        assert_eq!(
            (c.entry_mode.as_str(), c.cvm.as_str()),
            ("contactless", "signature")
        );
        assert_eq!(
            (c.entry(), c.verified_by()),
            (Some(CardEntry::Contactless), Some(Cvm::Signature))
        );
        for m in [
            CardEntry::Chip,
            CardEntry::Contactless,
            CardEntry::Qr,
            CardEntry::Manual,
        ] {
            assert_eq!(CardEntry::parse(m.as_str()), Some(m));
        }
        for v in [Cvm::Pin, Cvm::Signature, Cvm::None] {
            assert_eq!(Cvm::parse(v.as_str()), Some(v));
        }
        assert_eq!(CardRef::default().verified_by(), None);
    }

    #[test]
    fn short_pans_are_fully_masked() {
        assert_eq!(mask_pan("123456789012"), "************");
        assert_eq!(mask_pan("1234567890123"), "123456***0123");
        assert_eq!(mask_pan("6212 3456 7890 1234 567"), "621234*********4567");
        assert!(!(0..12).any(|i| pan_digit_shown(i, 12)));
        assert_eq!((0..19).filter(|i| pan_digit_shown(*i, 19)).count(), 10);
    }

    #[test]
    fn pan_masking_keeps_six_and_four() {
        assert_eq!(mask_pan("4761739001010010"), "476173******0010");
        assert_eq!(mask_pan("6212345678901234567"), "621234*********4567");
        assert_eq!(mask_pan("1234"), "****");
    }
}
