//! The one host profile tillpoint speaks: the field table plus the codes that
//! give its fields meaning. PROFILE.md beside this file documents it field by
//! field; a test keeps the two from drifting apart.

use super::spec::{BitmapEncoding, Charset, Digits, FieldSpec, Prefix, Spec};

/// Field numbers of the profile, named so that builders read like the spec.
pub mod field {
    pub const PAN: u8 = 2;
    pub const PROCESSING_CODE: u8 = 3;
    pub const AMOUNT: u8 = 4;
    pub const TRANSMISSION: u8 = 7;
    pub const STAN: u8 = 11;
    pub const LOCAL_TIME: u8 = 12;
    pub const LOCAL_DATE: u8 = 13;
    pub const EXPIRY: u8 = 14;
    pub const ENTRY_MODE: u8 = 22;
    pub const CARD_SEQUENCE: u8 = 23;
    pub const CONDITION_CODE: u8 = 25;
    pub const TRACK2: u8 = 35;
    pub const RRN: u8 = 37;
    pub const AUTH_CODE: u8 = 38;
    pub const RESPONSE_CODE: u8 = 39;
    pub const TID: u8 = 41;
    pub const MID: u8 = 42;
    pub const CURRENCY: u8 = 49;
    pub const PIN_BLOCK: u8 = 52;
    pub const SECURITY_INFO: u8 = 53;
    pub const ADDITIONAL_AMOUNTS: u8 = 54;
    pub const ICC: u8 = 55;
    pub const BATCH: u8 = 60;
    pub const REVERSAL_REASON: u8 = 61;
    pub const QR_CODE: u8 = 62;
    pub const NETWORK_CODE: u8 = 70;
    pub const CREDITS_COUNT: u8 = 74;
    pub const DEBITS_COUNT: u8 = 76;
    pub const CREDITS_AMOUNT: u8 = 86;
    pub const DEBITS_AMOUNT: u8 = 88;
    pub const ORIGINAL_DATA: u8 = 90;
}

use Charset::{Binary, Numeric, Text, Track2};

static FIELDS: [FieldSpec; 31] = [
    FieldSpec::llvar(2, "primary account number", 19, Numeric),
    FieldSpec::fixed(3, "processing code", 6, Numeric),
    FieldSpec::fixed(4, "amount, transaction", 12, Numeric),
    FieldSpec::fixed(7, "transmission date and time", 10, Numeric),
    FieldSpec::fixed(11, "system trace audit number", 6, Numeric),
    FieldSpec::fixed(12, "time, local transaction", 6, Numeric),
    FieldSpec::fixed(13, "date, local transaction", 4, Numeric),
    FieldSpec::fixed(14, "date, expiration", 4, Numeric),
    FieldSpec::fixed(22, "POS entry mode", 3, Numeric),
    FieldSpec::fixed(23, "card sequence number", 3, Numeric),
    FieldSpec::fixed(25, "POS condition code", 2, Numeric),
    FieldSpec::llvar(35, "track 2 data", 37, Track2),
    FieldSpec::fixed(37, "retrieval reference number", 12, Text),
    FieldSpec::fixed(38, "authorization identification response", 6, Text),
    FieldSpec::fixed(39, "response code", 2, Text),
    FieldSpec::fixed(41, "card acceptor terminal id", 8, Text),
    FieldSpec::fixed(42, "card acceptor id code", 15, Text),
    FieldSpec::fixed(49, "currency code, transaction", 3, Numeric),
    FieldSpec::fixed(52, "PIN data", 8, Binary),
    FieldSpec::llvar(53, "security related control information (KSN)", 48, Binary),
    FieldSpec::lllvar(54, "additional amounts", 120, Text),
    FieldSpec::lllvar(55, "ICC system related data", 255, Binary),
    FieldSpec::lllvar(60, "private: batch number", 6, Numeric),
    FieldSpec::lllvar(61, "private: reversal reason", 2, Numeric),
    FieldSpec::lllvar(62, "private: QR payment code", 512, Text),
    FieldSpec::fixed(70, "network management information code", 3, Numeric),
    FieldSpec::fixed(74, "credits, number", 10, Numeric),
    FieldSpec::fixed(76, "debits, number", 10, Numeric),
    FieldSpec::fixed(86, "credits, amount", 16, Numeric),
    FieldSpec::fixed(88, "debits, amount", 16, Numeric),
    FieldSpec::fixed(90, "original data elements", 42, Numeric),
];

/// The host profile: ISO 8583:1987, ASCII numerics, binary bitmaps.
pub static HOST_PROFILE: Spec = Spec {
    name: "tillpoint host profile v1",
    bitmap: BitmapEncoding::Binary,
    digits: Digits::Ascii,
    prefix: Prefix::Ascii,
    fields: &FIELDS,
    max_message_len: MAX_MESSAGE_LEN,
};

/// Upper bound on one packed message of this profile. Every field is bounded,
/// so this is a hard ceiling the framing layer enforces before allocating.
pub const MAX_MESSAGE_LEN: usize = 4096;

/// Processing codes (field 3) used by this profile.
pub mod processing {
    /// What settlement counts: purchases are debits, refunds credits (the
    /// till's store adds captures up by these).
    pub const SETTLEMENT_KINDS: tillpoint_store::acquirer::SettlementKinds<'static> =
        tillpoint_store::acquirer::SettlementKinds {
            debit: PURCHASE,
            credit: REFUND,
        };

    pub const PURCHASE: &str = "000000";
    pub const VOID_PURCHASE: &str = "020000";
    pub const REFUND: &str = "200000";
    pub const SETTLEMENT: &str = "920000";
    pub const SETTLEMENT_AFTER_UPLOAD: &str = "960000";
}

/// Network management information codes (field 70).
pub mod network {
    pub const SIGN_ON: &str = "001";
    pub const SIGN_OFF: &str = "002";
    pub const ECHO: &str = "301";
}

/// Response codes (field 39) the host profile uses, with what the till does.
pub mod response {
    pub const APPROVED: &str = "00";
    pub const DO_NOT_HONOUR: &str = "05";
    pub const INVALID_TRANSACTION: &str = "12";
    pub const INVALID_AMOUNT: &str = "13";
    pub const INVALID_CARD: &str = "14";
    pub const ORIGINAL_NOT_FOUND: &str = "25";
    pub const FORMAT_ERROR: &str = "30";
    pub const INSUFFICIENT_FUNDS: &str = "51";
    pub const EXPIRED_CARD: &str = "54";
    pub const INCORRECT_PIN: &str = "55";
    pub const EXCEEDS_LIMIT: &str = "61";
    pub const RESTRICTED_CARD: &str = "62";
    pub const ISSUER_UNAVAILABLE: &str = "91";
    pub const DUPLICATE: &str = "94";
    pub const RECONCILE_ERROR: &str = "95";
    pub const SYSTEM_MALFUNCTION: &str = "96";
    /// The request's MAC did not verify (cups profile): sign on again.
    pub const MAC_ERROR: &str = "A0";

    /// A short English description for logs and the closing note (the GUI
    /// translates by code through Fluent).
    pub fn describe(code: &str) -> &'static str {
        match code {
            APPROVED => "approved",
            DO_NOT_HONOUR => "do not honour",
            INVALID_TRANSACTION => "invalid transaction",
            INVALID_AMOUNT => "invalid amount",
            INVALID_CARD => "invalid card number",
            ORIGINAL_NOT_FOUND => "original transaction not found",
            FORMAT_ERROR => "format error",
            INSUFFICIENT_FUNDS => "insufficient funds",
            EXPIRED_CARD => "expired card",
            INCORRECT_PIN => "incorrect PIN",
            EXCEEDS_LIMIT => "exceeds amount limit",
            RESTRICTED_CARD => "restricted card",
            ISSUER_UNAVAILABLE => "issuer unavailable",
            DUPLICATE => "duplicate transmission",
            RECONCILE_ERROR => "reconcile error",
            SYSTEM_MALFUNCTION => "system malfunction",
            MAC_ERROR => "MAC error",
            _ => "unknown response code",
        }
    }
}

/// Why a reversal is sent; carried in private field 61 as two digits so the
/// host can tell a technical reversal from a cashier's cancel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReversalReason {
    /// No answer within the read timeout.
    Timeout,
    /// An answer arrived after the till had given up on it.
    LateResponse,
    /// The answer could not be decoded or did not match the request.
    MalformedResponse,
    /// The host approved but the card declined at the second GENERATE AC.
    CardDeclined,
    /// The cashier cancelled after the request went out.
    CashierCancel,
    /// The till stopped (crash, power loss) while the request was in flight;
    /// found on restart as an unconfirmed pending reversal.
    PowerLoss,
}

impl ReversalReason {
    pub const ALL: [ReversalReason; 6] = [
        ReversalReason::Timeout,
        ReversalReason::LateResponse,
        ReversalReason::MalformedResponse,
        ReversalReason::CardDeclined,
        ReversalReason::CashierCancel,
        ReversalReason::PowerLoss,
    ];

    pub fn code(self) -> &'static str {
        match self {
            ReversalReason::Timeout => "01",
            ReversalReason::LateResponse => "02",
            ReversalReason::MalformedResponse => "03",
            ReversalReason::CardDeclined => "04",
            ReversalReason::CashierCancel => "05",
            ReversalReason::PowerLoss => "06",
        }
    }

    pub fn from_code(code: &str) -> Option<ReversalReason> {
        ReversalReason::ALL.into_iter().find(|r| r.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iso8583::spec::Length;

    #[test]
    fn table_is_well_formed() {
        HOST_PROFILE.check().unwrap();
    }

    #[test]
    fn reversal_reasons_round_trip() {
        for r in ReversalReason::ALL {
            assert_eq!(ReversalReason::from_code(r.code()), Some(r));
        }
        assert_eq!(ReversalReason::from_code("99"), None);
    }

    #[test]
    fn worst_case_message_fits_max_len() {
        // MTI + two bitmaps + every field at maximum length with its prefix.
        let total: usize = 4
            + 16
            + FIELDS
                .iter()
                .map(|f| f.length.max() + f.length.prefix_digits())
                .sum::<usize>();
        assert!(total <= MAX_MESSAGE_LEN, "worst case {total}");
    }

    /// PROFILE.md must list every field of the table, with its number and
    /// format, so the documentation cannot silently fall behind the code.
    #[test]
    fn profile_doc_lists_every_field() {
        let doc = include_str!("PROFILE.md");
        for f in &FIELDS {
            let cs = match f.charset {
                Charset::Numeric => "n",
                Charset::Text => "ans",
                Charset::Track2 => "z",
                Charset::Binary => "b",
            };
            let fmt = match f.length {
                Length::Fixed(n) => format!("{cs} {n}"),
                Length::LlVar(n) => format!("{cs} ..{n} LLVAR"),
                Length::LllVar(n) => format!("{cs} ..{n} LLLVAR"),
            };
            let row = format!("| {} | {} |", f.number, fmt);
            assert!(doc.contains(&row), "PROFILE.md lacks row start `{row}`");
        }
        for r in ReversalReason::ALL {
            assert!(doc.contains(&format!("| {} |", r.code())));
        }
    }
}
