//! The simulated provider's books: every order the till made, where it
//! stands, and its refunds. Pure logic, so its rules are tested without a
//! server.

use std::collections::BTreeMap;
use tillpoint_payment::qr::{mask_code, scheme_of};
use tillpoint_payment::qr_gateway::api::{
    codes, PayRequest, PrecreateAnswer, PrecreateRequest, RefundAnswer, RefundRequest,
    RefundStatus, TradeAnswer, TradeState,
};

/// A refusal: HTTP status, code, message.
pub type Refusal = (u16, &'static str, String);

/// How the order was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The customer's code was scanned at the till.
    Code,
    /// The till showed a code for the customer to scan.
    Precreate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub out_trade_no: String,
    pub origin: Origin,
    pub total: i64,
    pub currency: String,
    pub state: TradeState,
    pub transaction_id: String,
    pub scheme: String,
    /// The customer's code, masked.
    pub code: String,
    /// Queries left before a confirming customer is done (USERPAYING), or
    /// before the demo's customer scans a shown code.
    pub polls_left: u32,
    /// (out_refund_no, amount, refund_id)
    pub refunds: Vec<(String, i64, String)>,
}

impl Order {
    fn answer(&self) -> TradeAnswer {
        TradeAnswer {
            out_trade_no: self.out_trade_no.clone(),
            trade_state: self.state,
            transaction_id: self.transaction_id.clone(),
            total: self.total,
            currency: self.currency.clone(),
            scheme: self.scheme.clone(),
        }
    }

    pub fn refunded(&self) -> i64 {
        self.refunds.iter().map(|r| r.1).sum()
    }
}

/// The provider's orders and how the next ones behave.
#[derive(Debug, Default)]
pub struct Ledger {
    pub orders: BTreeMap<String, Order>,
    next_txn: u64,
    /// A paid code order first says USERPAYING for this many queries.
    pub userpaying_polls: u32,
    /// A shown code is scanned by the (simulated) customer after this many
    /// queries; `None`: only [`Ledger::customer_scans`] pays it.
    pub auto_scan_after: Option<u32>,
}

fn not_found(no: &str) -> Refusal {
    (404, codes::ORDER_NOT_EXIST, format!("no order {no}"))
}

impl Ledger {
    fn txn(&mut self) -> String {
        self.next_txn += 1;
        format!("4200{:016}", self.next_txn)
    }

    fn check_new(
        &self,
        no: &str,
        total: i64,
        currency: &str,
    ) -> Result<Option<TradeAnswer>, Refusal> {
        if no.is_empty()
            || no.len() > 32
            || !no
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err((
                400,
                codes::PARAM_ERROR,
                "out_trade_no must be 1-32 letters, digits, - or _".into(),
            ));
        }
        if total <= 0 || currency.len() != 3 {
            return Err((
                400,
                codes::PARAM_ERROR,
                "the amount must be positive, in a 3-letter currency".into(),
            ));
        }
        match self.orders.get(no) {
            // A repeat of the same order (the till retrying) is the same order.
            Some(o) if o.total == total && o.currency == currency => Ok(Some(o.answer())),
            Some(_) => Err((
                400,
                codes::PARAM_ERROR,
                format!("order {no} exists with another amount"),
            )),
            None => Ok(None),
        }
    }

    /// A scanned code: paid at once, declined, or the customer still
    /// confirming on the phone. An amount ending in 13 (minor units) is
    /// declined for lack of funds, as the demo's rule says.
    pub fn pay(&mut self, r: &PayRequest) -> Result<TradeAnswer, Refusal> {
        if let Some(a) = self.check_new(&r.out_trade_no, r.total, &r.currency)? {
            return Ok(a);
        }
        let code = r.auth_code.trim();
        if !(16..=24).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err((
                400,
                codes::AUTH_CODE_INVALID,
                "the payment code is not valid".into(),
            ));
        }
        let scheme = scheme_of(code).map_or("qr", |s| s.key()).to_string();
        let declined = r.total % 100 == 13;
        let state = match (declined, self.userpaying_polls) {
            (true, _) => TradeState::Payerror,
            (false, 0) => TradeState::Success,
            (false, _) => TradeState::Userpaying,
        };
        let transaction_id = if state == TradeState::Success {
            self.txn()
        } else {
            String::new()
        };
        let o = Order {
            out_trade_no: r.out_trade_no.clone(),
            origin: Origin::Code,
            total: r.total,
            currency: r.currency.clone(),
            state,
            transaction_id,
            scheme,
            code: mask_code(code),
            polls_left: self.userpaying_polls,
            refunds: vec![],
        };
        let a = o.answer();
        self.orders.insert(o.out_trade_no.clone(), o);
        Ok(a)
    }

    pub fn precreate(&mut self, r: &PrecreateRequest) -> Result<PrecreateAnswer, Refusal> {
        self.check_new(&r.out_trade_no, r.total, &r.currency)?;
        let o = self
            .orders
            .entry(r.out_trade_no.clone())
            .or_insert_with(|| Order {
                out_trade_no: r.out_trade_no.clone(),
                origin: Origin::Precreate,
                total: r.total,
                currency: r.currency.clone(),
                state: TradeState::Notpay,
                transaction_id: String::new(),
                scheme: String::new(),
                code: String::new(),
                polls_left: 0,
                refunds: vec![],
            });
        o.polls_left = self.auto_scan_after.unwrap_or(u32::MAX);
        Ok(PrecreateAnswer {
            out_trade_no: o.out_trade_no.clone(),
            code_url: format!("https://qr.sim.tillpoint/pay/{}", o.out_trade_no),
        })
    }

    /// The customer scans the shown code and pays (a test's or the demo's
    /// customer).
    pub fn customer_scans(&mut self, no: &str) -> Result<TradeAnswer, Refusal> {
        let txn = self.txn();
        let o = self.orders.get_mut(no).ok_or_else(|| not_found(no))?;
        if o.state == TradeState::Notpay {
            o.state = TradeState::Success;
            o.transaction_id = txn;
            o.scheme = "alipay".into();
        }
        Ok(o.answer())
    }

    pub fn query(&mut self, no: &str) -> Result<TradeAnswer, Refusal> {
        let txn = self.txn();
        let o = self.orders.get_mut(no).ok_or_else(|| not_found(no))?;
        match o.state {
            TradeState::Userpaying if o.polls_left <= 1 => {
                o.state = TradeState::Success;
                o.transaction_id = txn;
            }
            TradeState::Notpay if o.origin == Origin::Precreate && o.polls_left <= 1 => {
                o.state = TradeState::Success;
                o.transaction_id = txn;
                o.scheme = "alipay".into();
            }
            TradeState::Userpaying | TradeState::Notpay => {
                o.polls_left = o.polls_left.saturating_sub(1)
            }
            _ => {}
        }
        Ok(o.answer())
    }

    /// Alipay's `trade.cancel`: an unpaid order is closed, a paid one is
    /// given back in full.
    pub fn cancel(&mut self, no: &str) -> Result<TradeAnswer, Refusal> {
        let o = self.orders.get_mut(no).ok_or_else(|| not_found(no))?;
        o.state = match o.state {
            TradeState::Success => TradeState::Revoked,
            TradeState::Userpaying | TradeState::Notpay | TradeState::Payerror => {
                TradeState::Closed
            }
            TradeState::Refund => {
                return Err((
                    400,
                    codes::ORDER_PAID,
                    "a refunded order is not cancelled".into(),
                ))
            }
            s => s,
        };
        Ok(o.answer())
    }

    /// Closes an unpaid order; a paid one is refused (it must be refunded).
    pub fn close(&mut self, no: &str) -> Result<TradeAnswer, Refusal> {
        let o = self.orders.get_mut(no).ok_or_else(|| not_found(no))?;
        match o.state {
            TradeState::Success | TradeState::Refund => {
                Err((400, codes::ORDER_PAID, format!("order {no} is paid")))
            }
            TradeState::Userpaying | TradeState::Notpay | TradeState::Payerror => {
                o.state = TradeState::Closed;
                Ok(o.answer())
            }
            _ => Ok(o.answer()),
        }
    }

    pub fn refund(&mut self, r: &RefundRequest) -> Result<RefundAnswer, Refusal> {
        let no = &r.out_trade_no;
        let next = self.next_txn + 1;
        let o = self.orders.get_mut(no).ok_or_else(|| not_found(no))?;
        if let Some(done) = o.refunds.iter().find(|x| x.0 == r.out_refund_no) {
            return Ok(RefundAnswer {
                out_refund_no: done.0.clone(),
                refund_id: done.2.clone(),
                status: RefundStatus::Success,
            });
        }
        if !matches!(o.state, TradeState::Success | TradeState::Refund) {
            return Err((400, codes::ORDER_CLOSED, format!("order {no} is not paid")));
        }
        if r.refund <= 0 || r.total != o.total || o.refunded() + r.refund > o.total {
            return Err((400, codes::REFUND_EXCEEDED, "more than was paid".into()));
        }
        let id = format!("5030{next:016}");
        o.refunds
            .push((r.out_refund_no.clone(), r.refund, id.clone()));
        o.state = TradeState::Refund;
        self.next_txn = next;
        Ok(RefundAnswer {
            out_refund_no: r.out_refund_no.clone(),
            refund_id: id,
            status: RefundStatus::Success,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pay(no: &str, total: i64) -> PayRequest {
        PayRequest {
            out_trade_no: no.into(),
            total,
            currency: "CNY".into(),
            auth_code: "134567890123456789".into(),
            description: "t".into(),
        }
    }

    #[test]
    fn the_providers_rules() {
        let mut l = Ledger::default();
        let a = l.pay(&pay("A1", 1250)).unwrap();
        assert_eq!(
            (a.trade_state, a.scheme.as_str()),
            (TradeState::Success, "wechat")
        );
        assert_eq!(
            l.pay(&pay("A1", 1250)).unwrap(),
            a,
            "a repeat is the same order"
        );
        assert!(l.pay(&pay("A1", 999)).is_err());
        assert_eq!(
            l.pay(&pay("A2", 1213)).unwrap().trade_state,
            TradeState::Payerror
        );
        l.userpaying_polls = 2;
        assert_eq!(
            l.pay(&pay("A3", 500)).unwrap().trade_state,
            TradeState::Userpaying
        );
        assert_eq!(l.query("A3").unwrap().trade_state, TradeState::Userpaying);
        assert_eq!(l.query("A3").unwrap().trade_state, TradeState::Success);
        assert_eq!(l.cancel("A3").unwrap().trade_state, TradeState::Revoked);
        assert_eq!(l.close("A1").unwrap_err().1, codes::ORDER_PAID);
        let r = RefundRequest {
            out_refund_no: "R1".into(),
            out_trade_no: "A1".into(),
            refund: 1000,
            total: 1250,
            currency: "CNY".into(),
        };
        let first = l.refund(&r).unwrap();
        assert_eq!(
            l.refund(&r).unwrap(),
            first,
            "a repeated refund is the same refund"
        );
        let more = RefundRequest {
            out_refund_no: "R2".into(),
            ..r
        };
        assert_eq!(l.refund(&more).unwrap_err().1, codes::REFUND_EXCEEDED);
        assert_eq!(l.query("NONE").unwrap_err().1, codes::ORDER_NOT_EXIST);
        let mut bad = pay("A4", 100);
        bad.auth_code = "12ab".into();
        assert_eq!(l.pay(&bad).unwrap_err().1, codes::AUTH_CODE_INVALID);
    }

    #[test]
    fn a_shown_code_is_paid_by_the_customer_or_closed() {
        let mut l = Ledger::default();
        let p = PrecreateRequest {
            out_trade_no: "P1".into(),
            total: 880,
            currency: "CNY".into(),
            description: "t".into(),
            expire_seconds: 120,
        };
        assert!(l.precreate(&p).unwrap().code_url.ends_with("/P1"));
        assert_eq!(l.query("P1").unwrap().trade_state, TradeState::Notpay);
        assert_eq!(
            l.customer_scans("P1").unwrap().trade_state,
            TradeState::Success
        );
        let p2 = PrecreateRequest {
            out_trade_no: "P2".into(),
            ..p
        };
        l.precreate(&p2).unwrap();
        assert_eq!(l.close("P2").unwrap().trade_state, TradeState::Closed);
        assert_eq!(
            l.customer_scans("P2").unwrap().trade_state,
            TradeState::Closed,
            "too late"
        );
        l.auto_scan_after = Some(2);
        let p3 = PrecreateRequest {
            out_trade_no: "P3".into(),
            ..p2
        };
        l.precreate(&p3).unwrap();
        assert_eq!(l.query("P3").unwrap().trade_state, TradeState::Notpay);
        assert_eq!(l.query("P3").unwrap().trade_state, TradeState::Success);
    }
}
