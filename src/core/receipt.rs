//! The receipt model: everything a printed or previewed receipt shows, built
//! from a completed sale and the shop's details, independent of any printer.

use super::sale::{SaleKind, SaleRecord};
use super::tender::TenderKind;
use serde::{Deserialize, Serialize};

/// The shop's details printed at the top and bottom of every receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ShopInfo {
    pub name: String,
    pub address: Vec<String>,
    pub tax_id: String,
    pub footer: Vec<String>,
}

/// Which copy of a card receipt: the merchant keeps one (signature line when
/// the CVM was a signature), the customer gets the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Copy {
    Customer,
    Merchant,
}

/// One receipt to print or show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub shop: ShopInfo,
    pub till_id: String,
    pub record: SaleRecord,
    pub copy: Copy,
    /// A reprint says so, so it cannot pass for a second purchase.
    pub reprint: bool,
}

impl Receipt {
    /// The copies a completed sale prints: a merchant copy first when a card
    /// or QR tender needs the slip kept, then the customer's.
    pub fn copies_for(record: &SaleRecord) -> Vec<Copy> {
        if record.tenders.iter().any(|t| t.kind == TenderKind::Card) {
            vec![Copy::Merchant, Copy::Customer]
        } else {
            vec![Copy::Customer]
        }
    }

    /// The text encoded in the receipt's barcode and QR code, which the refund
    /// screen scans to find the original sale.
    pub fn lookup_code(&self) -> String {
        self.record.receipt_no.clone()
    }

    pub fn is_refund(&self) -> bool {
        self.record.kind == SaleKind::Refund
    }

    /// True when a signature line must be printed (merchant copy, card paid
    /// with signature as the cardholder verification method).
    pub fn needs_signature(&self) -> bool {
        self.copy == Copy::Merchant
            && self
                .record
                .tenders
                .iter()
                .filter_map(|t| t.card.as_ref())
                .any(|c| c.verified_by() == Some(crate::tender::Cvm::Signature))
    }
}
