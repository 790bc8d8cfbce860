//! QR payments through the gateway, never one-sided: each order is written
//! to the till's database before its first request, and ends recorded with
//! its sale, closed unpaid, or reversed (cancelled after payment) at the
//! provider. Waiting and polling happen here, off the till's lock; only
//! the short writes of an order's state take it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::till::Till;
use serde::Deserialize;
use tillpoint_core::money::Money;
use tillpoint_core::tender::{CardEntry, CardRef, Cvm};
use tillpoint_payment::qr::{check_code, mask_code, scheme_of};
use tillpoint_payment::qr_gateway::api::{
    PayRequest, PrecreateRequest, RefundRequest, TradeAnswer, TradeState,
};
use tillpoint_payment::qr_gateway::{GatewayClient, GatewayConfig, GatewayError};
use tillpoint_store::qr_orders::{QrOrder, QrOrderState};

/// `[qr]` in tillpoint.toml.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QrConfig {
    /// "gateway": the provider's HTTPS API (both directions); "acquirer":
    /// customer-presented codes in ISO 8583 through the acquirer.
    pub channel: String,
    pub url: String,
    pub mchid: String,
    pub serial_no: String,
    pub merchant_key: String,
    pub platform_key: String,
    pub ca: String,
    pub timeout_ms: u64,
    /// How often an open order is asked about.
    pub poll_seconds: u64,
    /// How long the till waits for the customer before closing the order.
    pub wait_seconds: u64,
}

impl Default for QrConfig {
    fn default() -> Self {
        QrConfig {
            channel: "acquirer".into(),
            url: String::new(),
            mchid: String::new(),
            serial_no: String::new(),
            merchant_key: String::new(),
            platform_key: String::new(),
            ca: String::new(),
            timeout_ms: 10_000,
            poll_seconds: 2,
            wait_seconds: 60,
        }
    }
}

impl QrConfig {
    pub fn load(config: &tillpoint_config::Config, warnings: &mut Vec<String>) -> QrConfig {
        config.section("qr", warnings)
    }

    pub fn uses_gateway(&self) -> bool {
        self.channel == "gateway"
    }
}

/// How a QR payment did not pay, in words for the cashier (message id)
/// and for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrRefusal {
    pub id: &'static str,
    pub detail: String,
}

fn refusal(id: &'static str, detail: impl std::fmt::Display) -> QrRefusal {
    QrRefusal {
        id,
        detail: detail.to_string(),
    }
}

/// The wallet a scanned code belongs to ("alipay", "wechat", "unionpay"),
/// for the cashier to see before it is sent.
pub fn wallet_of(code: &str) -> Option<&'static str> {
    scheme_of(code).map(|s| s.key())
}

/// A shown code waiting for the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownCode {
    pub order: String,
    /// The text to draw as a QR code.
    pub code_url: String,
    pub amount: Money,
}

/// The gateway and how long to wait on it.
#[derive(Clone)]
pub struct QrDesk {
    client: GatewayClient,
    poll: Duration,
    wait: Duration,
    cancel: Arc<AtomicBool>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl QrDesk {
    /// The desk for `[qr]`, with key and CA paths relative to `data_dir`.
    pub fn from_config(c: &QrConfig, data_dir: &std::path::Path) -> Result<QrDesk, GatewayError> {
        let path = |p: &str| -> PathBuf {
            let p = PathBuf::from(p);
            if p.is_absolute() {
                p
            } else {
                data_dir.join(p)
            }
        };
        let client = GatewayClient::new(GatewayConfig {
            url: c.url.clone(),
            mchid: c.mchid.clone(),
            serial_no: c.serial_no.clone(),
            merchant_key: path(&c.merchant_key),
            platform_key: path(&c.platform_key),
            ca: (!c.ca.is_empty()).then(|| path(&c.ca)),
            timeout: Duration::from_millis(c.timeout_ms.max(500)),
        })?;
        Ok(QrDesk::new(
            client,
            Duration::from_secs(c.poll_seconds.max(1)),
            Duration::from_secs(c.wait_seconds.max(1)),
        ))
    }

    pub fn new(client: GatewayClient, poll: Duration, wait: Duration) -> QrDesk {
        QrDesk {
            client,
            poll,
            wait,
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The cashier's Cancel for the QR payment in progress.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
    }

    fn set(
        &self,
        till: &Mutex<Till>,
        no: &str,
        state: QrOrderState,
        a: Option<&TradeAnswer>,
        note: &str,
    ) {
        let mut t = lock(till);
        let now = t.clock.now_ms();
        let (txn, scheme) = a.map_or(("", ""), |a| (a.transaction_id.as_str(), a.scheme.as_str()));
        if let Err(e) = t.store.set_qr_order(no, state, txn, scheme, note, now) {
            tracing::error!(order = no, "the QR order's state could not be written: {e}");
        }
    }

    fn open(
        &self,
        till: &Mutex<Till>,
        origin: &str,
        amount: Money,
        scheme: &str,
    ) -> Result<String, QrRefusal> {
        let mut t = lock(till);
        let now = t.clock.now_ms();
        let no = t
            .store
            .next_qr_order_no()
            .map_err(|e| refusal("qr-failed", e))?;
        t.store
            .open_qr_order(
                &QrOrder {
                    out_trade_no: no.clone(),
                    origin: origin.into(),
                    amount: amount.minor,
                    currency: amount.currency.code().into(),
                    scheme: scheme.into(),
                    state: QrOrderState::Open,
                    transaction_id: String::new(),
                    created_at_ms: now,
                },
                now,
            )
            .map_err(|e| refusal("qr-failed", e))?;
        Ok(no)
    }

    /// Pays `amount` with a code scanned from the customer's phone. A
    /// customer still confirming is asked about until paid, the wait is
    /// over, or the cashier cancels; an answer that never came is asked
    /// about, and an order that will not be paid is cancelled at the
    /// provider before this returns.
    pub fn pay_code(
        &self,
        till: &Mutex<Till>,
        amount: Money,
        code: &str,
    ) -> Result<CardRef, QrRefusal> {
        self.cancel.store(false, Ordering::SeqCst);
        let code = check_code(code).map_err(|why| refusal("qr-bad-code", why))?;
        let scheme = scheme_of(code).map_or("qr", |s| s.key());
        let no = self.open(till, "code", amount, scheme)?;
        let first = self.client.pay(&PayRequest {
            out_trade_no: no.clone(),
            total: amount.minor,
            currency: amount.currency.code().into(),
            auth_code: code.into(),
            description: "tillpoint".into(),
        });
        let answer = match first {
            Ok(a) => Ok(a),
            Err(GatewayError::Unreachable(e)) => {
                // Nothing reached the provider: the order never existed there.
                self.set(till, &no, QrOrderState::Closed, None, "gateway unreachable");
                return Err(refusal("qr-unreachable", e));
            }
            Err(e) if e.outcome_unknown() => self.client.query(&no),
            Err(e) => Err(e),
        };
        let mut card = self.settle(till, &no, answer)?;
        card.masked_pan = mask_code(code);
        Ok(card)
    }

    /// Waits on an order until it is paid, the wait is over or the cashier
    /// cancels; anything but paid ends with the order cancelled.
    fn settle(
        &self,
        till: &Mutex<Till>,
        no: &str,
        answer: Result<TradeAnswer, GatewayError>,
    ) -> Result<CardRef, QrRefusal> {
        let deadline = Instant::now() + self.wait;
        let mut answer = answer;
        loop {
            match &answer {
                Ok(a) if a.trade_state == TradeState::Success => {
                    self.set(till, no, QrOrderState::Paid, Some(a), "");
                    return Ok(card_ref(no, a));
                }
                Ok(a) if a.trade_state.is_final() => {
                    let why = format!("{:?}", a.trade_state);
                    self.end(till, no, "declined");
                    return Err(refusal("qr-declined", why));
                }
                Err(e) if !e.outcome_unknown() && !matches!(e, GatewayError::Unreachable(_)) => {
                    let why = e.to_string();
                    self.end(till, no, "refused");
                    return Err(refusal("qr-declined", why));
                }
                // Still paying, not paid yet, or no answer this time.
                _ => {}
            }
            if self.cancel.load(Ordering::SeqCst) {
                self.end(till, no, "cancelled by the cashier");
                return Err(refusal("qr-cancelled", "cancelled by the cashier"));
            }
            if Instant::now() >= deadline {
                self.end(till, no, "timed out");
                return Err(refusal(
                    "qr-timed-out",
                    format!("no payment within {} s", self.wait.as_secs()),
                ));
            }
            self.sleep_unless_cancelled(deadline);
            answer = self.client.query(no);
        }
    }

    fn sleep_unless_cancelled(&self, deadline: Instant) {
        let until = (Instant::now() + self.poll).min(deadline);
        while Instant::now() < until && !self.cancel.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Cancels an order that must not be paid (or must give its money
    /// back): closed when unpaid, reversed when paid. If the provider cannot
    /// be reached the order stays open and is settled at the next start.
    fn end(&self, till: &Mutex<Till>, no: &str, note: &str) {
        match self.client.cancel(no) {
            Ok(a) => {
                let state = match a.trade_state {
                    TradeState::Revoked | TradeState::Refund => QrOrderState::Reversed,
                    _ => QrOrderState::Closed,
                };
                self.set(till, no, state, Some(&a), note);
            }
            Err(e) if e.is_refusal("ORDER_NOT_EXIST") => {
                self.set(till, no, QrOrderState::Closed, None, note);
            }
            Err(e) => tracing::warn!(order = no, "QR order left open, to settle later: {e}"),
        }
    }

    /// Asks for a code to show the customer for `amount`.
    pub fn show_code(&self, till: &Mutex<Till>, amount: Money) -> Result<ShownCode, QrRefusal> {
        self.cancel.store(false, Ordering::SeqCst);
        let no = self.open(till, "shown", amount, "")?;
        let made = self.client.precreate(&PrecreateRequest {
            out_trade_no: no.clone(),
            total: amount.minor,
            currency: amount.currency.code().into(),
            description: "tillpoint".into(),
            expire_seconds: u32::try_from(self.wait.as_secs()).unwrap_or(u32::MAX),
        });
        match made {
            Ok(a) => Ok(ShownCode {
                order: no,
                code_url: a.code_url,
                amount,
            }),
            Err(GatewayError::Unreachable(e)) => {
                self.set(till, &no, QrOrderState::Closed, None, "gateway unreachable");
                Err(refusal("qr-unreachable", e))
            }
            Err(e) => {
                self.end(till, &no, "precreate failed");
                Err(refusal("qr-declined", e))
            }
        }
    }

    /// Waits for the customer to pay a shown code.
    pub fn wait_shown(&self, till: &Mutex<Till>, shown: &ShownCode) -> Result<CardRef, QrRefusal> {
        let first = self.client.query(&shown.order);
        self.settle(till, &shown.order, first)
    }

    /// The sale with this order's payment is recorded.
    pub fn recorded(&self, till: &Mutex<Till>, no: &str) {
        self.set(till, no, QrOrderState::Recorded, None, "");
    }

    /// The sale with this order's payment was given up: the money goes back.
    pub fn give_back(&self, till: &Mutex<Till>, no: &str) {
        self.end(till, no, "sale given up");
    }

    /// Sends the refunds and post-voids of gateway payments that wait in
    /// the outbox; each request names its own refund number, so one sent
    /// twice (an answer lost) is refunded once. Returns how many were
    /// refunded; one the provider refuses for good is set aside with its
    /// reason, one that cannot be sent now waits for the next run.
    pub fn send_refunds(&self, till: &Mutex<Till>) -> usize {
        let pending = match lock(till).store.qr_instructions_pending() {
            Ok(p) => p,
            Err(e) => {
                tracing::error!("QR refunds could not be read: {e}");
                return 0;
            }
        };
        let mut sent = 0;
        for i in pending {
            let answer = self.client.refund(&RefundRequest {
                out_trade_no: i.order_id.clone(),
                out_refund_no: i.refund_no.clone(),
                refund: i.amount,
                total: i.order_total,
                currency: i.currency.clone(),
            });
            let mut t = lock(till);
            let now = t.clock.now_ms();
            let written = match answer {
                Ok(a) => {
                    sent += 1;
                    t.store.qr_instruction_done(i.id, &a.refund_id, now)
                }
                Err(e @ GatewayError::Refused { status, .. }) if status < 500 => t
                    .store
                    .qr_instruction_failed(i.id, &format!("refund {}: {e}", i.refund_no), now),
                Err(e) => {
                    tracing::warn!(refund = %i.refund_no, "QR refund waits: {e}");
                    break;
                }
            };
            if let Err(e) = written {
                tracing::error!(refund = %i.refund_no, "QR refund state not written: {e}");
            }
        }
        sent
    }

    /// Settles every order whose end the till missed (it was stopped while
    /// waiting): paid with its sale recorded → recorded; paid without a
    /// sale → reversed at once; unpaid → closed. Returns what it did, one
    /// line per order; orders the provider cannot be asked about now stay
    /// for the next run. Only orders made before `before_ms` are touched:
    /// a payment this till is taking now is not someone's missed one.
    pub fn recover(&self, till: &Mutex<Till>, before_ms: i64) -> Vec<String> {
        let orders = match lock(till).store.unfinished_qr_orders() {
            Ok(o) => o,
            Err(e) => return vec![format!("QR orders could not be read: {e}")],
        };
        let orders = orders.into_iter().filter(|o| o.created_at_ms < before_ms);
        let mut done = Vec::new();
        for o in orders {
            let no = o.out_trade_no.as_str();
            let answer = match self.client.query(no) {
                Ok(a) => a,
                Err(e) if e.is_refusal("ORDER_NOT_EXIST") => {
                    self.set(
                        till,
                        no,
                        QrOrderState::Closed,
                        None,
                        "never reached the provider",
                    );
                    done.push(format!("{no}: never reached the provider, closed"));
                    continue;
                }
                Err(e) => {
                    done.push(format!("{no}: left open ({e})"));
                    continue;
                }
            };
            let in_sale = lock(till)
                .store
                .sale_paid_by_qr_order(no, o.created_at_ms)
                .unwrap_or(false);
            match answer.trade_state {
                TradeState::Success | TradeState::Refund if in_sale => {
                    self.set(till, no, QrOrderState::Recorded, Some(&answer), "recovered");
                    done.push(format!("{no}: paid, its sale is recorded"));
                }
                TradeState::Revoked => {
                    self.set(till, no, QrOrderState::Reversed, Some(&answer), "recovered");
                    done.push(format!("{no}: already reversed"));
                }
                TradeState::Closed | TradeState::Payerror => {
                    self.set(till, no, QrOrderState::Closed, Some(&answer), "recovered");
                    done.push(format!("{no}: not paid, closed"));
                }
                _ => {
                    self.end(till, no, "recovered after a restart");
                    done.push(format!(
                        "{no}: {:?} without a sale, cancelled at the provider",
                        answer.trade_state
                    ));
                }
            }
        }
        done
    }
}

/// The tender's card data for a paid order.
fn card_ref(no: &str, a: &TradeAnswer) -> CardRef {
    CardRef {
        scheme: if a.scheme.is_empty() {
            "QR".into()
        } else {
            a.scheme.clone()
        },
        auth_code: a
            .transaction_id
            .chars()
            .rev()
            .take(6)
            .collect::<String>()
            .chars()
            .rev()
            .collect(),
        rrn: a.transaction_id.clone(),
        order_id: no.into(),
        ..CardRef::new(CardEntry::Qr, Cvm::None)
    }
}
