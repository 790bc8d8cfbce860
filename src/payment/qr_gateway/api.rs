//! The gateway's JSON messages, modelled on the public merchant APIs of
//! WeChat Pay (v3: amounts in integer minor units, `trade_state`, the
//! `out_trade_no` the merchant chooses) and Alipay (`trade.pay` for a
//! scanned code, `trade.precreate` for the shop's code, `trade.cancel`
//! that closes an unpaid order or refunds a paid one). PROTOCOL: every
//! call is `POST` with a JSON body; a refusal is a non-200 status with
//! `{"code": …, "message": …}`.

use serde::{Deserialize, Serialize};

pub const PAY: &str = "/v1/trade/pay";
pub const PRECREATE: &str = "/v1/trade/precreate";
pub const QUERY: &str = "/v1/trade/query";
pub const CANCEL: &str = "/v1/trade/cancel";
pub const CLOSE: &str = "/v1/trade/close";
pub const REFUND: &str = "/v1/trade/refund";

/// Longest `out_trade_no` the providers take (WeChat Pay: 32).
pub const MAX_ORDER_ID: usize = 32;

/// A payment code scanned from the customer's phone (Alipay `trade.pay`,
/// WeChat Pay `micropay`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayRequest {
    pub out_trade_no: String,
    /// Minor units (fen).
    pub total: i64,
    pub currency: String,
    pub auth_code: String,
    pub description: String,
}

/// A dynamic code for the customer to scan (Alipay `trade.precreate`,
/// WeChat Pay Native).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrecreateRequest {
    pub out_trade_no: String,
    pub total: i64,
    pub currency: String,
    pub description: String,
    /// After this the provider closes the order itself.
    pub expire_seconds: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrecreateAnswer {
    pub out_trade_no: String,
    /// The text of the QR code to show.
    pub code_url: String,
}

/// Query, cancel and close name the order only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    pub out_trade_no: String,
}

/// Where an order stands at the provider (WeChat Pay's `trade_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TradeState {
    /// Paid.
    Success,
    /// The customer is confirming on the phone (a password, a large amount).
    Userpaying,
    /// Not paid (yet).
    Notpay,
    /// Closed unpaid.
    Closed,
    /// Cancelled after payment: the money went back.
    Revoked,
    /// Refunded (in part or whole).
    Refund,
    /// The payment failed (the customer's balance, a risk check).
    Payerror,
}

impl TradeState {
    /// No further change comes without the till asking.
    pub fn is_final(self) -> bool {
        !matches!(self, TradeState::Userpaying | TradeState::Notpay)
    }
}

/// The provider's view of an order: the answer to pay, query, cancel and
/// close.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeAnswer {
    pub out_trade_no: String,
    pub trade_state: TradeState,
    /// The provider's transaction number, once paid.
    #[serde(default)]
    pub transaction_id: String,
    pub total: i64,
    pub currency: String,
    /// Which wallet paid ("wechat", "alipay", "unionpay"), once paid.
    #[serde(default)]
    pub scheme: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    pub out_trade_no: String,
    /// The till's own number for this refund: a repeat is the same refund.
    pub out_refund_no: String,
    pub refund: i64,
    pub total: i64,
    pub currency: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefundStatus {
    Success,
    Processing,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundAnswer {
    pub out_refund_no: String,
    pub refund_id: String,
    pub status: RefundStatus,
}

/// A refusal's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorAnswer {
    pub code: String,
    pub message: String,
}

/// Error codes the simulator and the client agree on (the providers' own
/// names where they have one).
pub mod codes {
    pub const ORDER_NOT_EXIST: &str = "ORDER_NOT_EXIST";
    pub const ORDER_PAID: &str = "ORDER_PAID";
    pub const ORDER_CLOSED: &str = "ORDER_CLOSED";
    pub const AUTH_CODE_INVALID: &str = "AUTH_CODE_INVALID";
    pub const NOT_ENOUGH: &str = "NOT_ENOUGH";
    pub const SIGN_ERROR: &str = "SIGN_ERROR";
    pub const PARAM_ERROR: &str = "PARAM_ERROR";
    pub const REFUND_EXCEEDED: &str = "REFUND_EXCEEDED";
    pub const SYSTEM_ERROR: &str = "SYSTEM_ERROR";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_as_the_providers_write_them() {
        let a: TradeAnswer = serde_json::from_str(
            r#"{"out_trade_no":"T01-1","trade_state":"USERPAYING","total":1250,"currency":"CNY"}"#,
        )
        .unwrap();
        assert_eq!(a.trade_state, TradeState::Userpaying);
        assert!(!a.trade_state.is_final() && a.transaction_id.is_empty());
        let r = serde_json::to_string(&PayRequest {
            out_trade_no: "T01-1".into(),
            total: 1250,
            currency: "CNY".into(),
            auth_code: "134567890123456789".into(),
            description: "tillpoint".into(),
        })
        .unwrap();
        assert!(r.contains("\"total\":1250") && r.contains("\"auth_code\""));
        assert!(serde_json::from_str::<TradeAnswer>(r#"{"trade_state":"PAID"}"#).is_err());
        assert!(
            serde_json::from_str::<PayRequest>(
                r#"{"out_trade_no":"a","total":1,"currency":"CNY","auth_code":"1","description":"","x":1}"#
            )
            .is_err(),
            "unknown fields in a request are refused"
        );
    }
}
