//! The payment terminal of a till: one trait for a whole card or QR tender,
//! implemented by the shop's devices (PC/SC reader, serial PIN pad,
//! acquirer link: [`crate::terminal::LiveDevices`]) and by the demo's
//! simulators ([`DemoDevices`]), so the service and the window never know
//! which one takes the customer's money.

use std::sync::mpsc::Sender;
use tillpoint_payment::magstripe::StripeCard;

use tillpoint_core::money::Money;
use tillpoint_payment::acquirer::till_store::SqliteAcquirerStore;
use tillpoint_payment::session::{CardOutcome, PaymentCancel, PaymentError, PaymentSession, Stage};
use tillpoint_sim::demo_devices::DemoDevices;
use tillpoint_sim::pinpad::PadKey;

use crate::closing::SharedSession;

/// A device that takes a card or QR tender end to end.
pub trait PaymentTerminal: Send {
    /// A card payment of `amount`; `hint` names the demo's virtual card
    /// (ignored by real devices, which wait for whatever card comes).
    fn pay_card(
        &mut self,
        amount: Money,
        hint: &str,
        progress: &mut dyn FnMut(Stage),
    ) -> Result<CardOutcome, PaymentError>;

    /// A QR payment of `amount` with the customer's payment code (the demo
    /// makes one up when it is empty).
    fn pay_qr(
        &mut self,
        amount: Money,
        code: &str,
        progress: &mut dyn FnMut(Stage),
    ) -> Result<CardOutcome, PaymentError>;

    /// A payment by a swiped card: its tracks came from the keyboard-wedge
    /// reader (the till's keyboard), the PIN from the PIN pad.
    fn pay_swipe(
        &mut self,
        amount: Money,
        card: &StripeCard,
        progress: &mut dyn FnMut(Stage),
    ) -> Result<CardOutcome, PaymentError>;

    /// The payment session, to record or give back held approvals.
    fn payments(&self) -> &PaymentSession<SqliteAcquirerStore>;

    /// Stops the payment in progress (the cashier's Cancel).
    fn canceller(&self) -> PaymentCancel;

    /// The acquirer session (settlement, the status bar's link state).
    fn acquirer(&self) -> SharedSession;

    /// Whether a QR payment needs the customer's code scanned at the till.
    fn scans_codes(&self) -> bool;

    /// Whether cards can be tapped (a contactless reader is configured).
    fn takes_taps(&self) -> bool;

    /// Keys of an on-screen PIN pad, when the customer types the PIN in the
    /// window (the demo's simulated pad); `None` for a real PIN pad.
    fn pin_keys(&self) -> Option<Sender<PadKey>>;
}

impl PaymentTerminal for DemoDevices {
    fn pay_card(
        &mut self,
        amount: Money,
        hint: &str,
        progress: &mut dyn FnMut(Stage),
    ) -> Result<CardOutcome, PaymentError> {
        DemoDevices::pay_card(self, amount, hint, progress)
    }

    fn pay_qr(
        &mut self,
        amount: Money,
        code: &str,
        progress: &mut dyn FnMut(Stage),
    ) -> Result<CardOutcome, PaymentError> {
        let code = if code.is_empty() {
            demo_qr_code(amount)
        } else {
            code
        };
        DemoDevices::pay_qr(self, amount, code, progress)
    }

    fn pay_swipe(
        &mut self,
        amount: Money,
        card: &StripeCard,
        progress: &mut dyn FnMut(Stage),
    ) -> Result<CardOutcome, PaymentError> {
        DemoDevices::pay_swipe(self, card, amount, progress)
    }

    fn payments(&self) -> &PaymentSession<SqliteAcquirerStore> {
        self.payment_session()
    }

    fn canceller(&self) -> PaymentCancel {
        DemoDevices::canceller(self)
    }

    fn acquirer(&self) -> SharedSession {
        DemoDevices::acquirer(self)
    }

    fn scans_codes(&self) -> bool {
        false
    }

    fn takes_taps(&self) -> bool {
        true
    }

    fn pin_keys(&self) -> Option<Sender<PadKey>> {
        Some(DemoDevices::pin_keys(self))
    }
}

impl PaymentTerminal for crate::terminal::LiveDevices {
    fn pay_card(
        &mut self,
        amount: Money,
        _hint: &str,
        progress: &mut dyn FnMut(Stage),
    ) -> Result<CardOutcome, PaymentError> {
        crate::terminal::LiveDevices::pay_card(self, amount, progress)
    }

    fn pay_qr(
        &mut self,
        amount: Money,
        code: &str,
        progress: &mut dyn FnMut(Stage),
    ) -> Result<CardOutcome, PaymentError> {
        crate::terminal::LiveDevices::pay_qr(self, amount, code, progress)
    }

    fn pay_swipe(
        &mut self,
        amount: Money,
        card: &StripeCard,
        progress: &mut dyn FnMut(Stage),
    ) -> Result<CardOutcome, PaymentError> {
        crate::terminal::LiveDevices::pay_swipe(self, card, amount, progress)
    }

    fn payments(&self) -> &PaymentSession<SqliteAcquirerStore> {
        self.payment_session()
    }

    fn canceller(&self) -> PaymentCancel {
        crate::terminal::LiveDevices::canceller(self)
    }

    fn acquirer(&self) -> SharedSession {
        crate::terminal::LiveDevices::acquirer(self)
    }

    fn scans_codes(&self) -> bool {
        true
    }

    fn takes_taps(&self) -> bool {
        crate::terminal::LiveDevices::takes_taps(self)
    }

    fn pin_keys(&self) -> Option<Sender<PadKey>> {
        None
    }
}

/// The demo's simulated card outcome: amounts ending in .13 are declined,
/// so a demo user can see both paths (written on the help screen).
pub fn demo_declines(amount: Money) -> bool {
    amount.minor.rem_euclid(100) == 13
}

/// The customer's payment code in the demo: the acquirer simulator declines
/// codes ending in 0000, so an amount ending in .13 shows a decline here too.
fn demo_qr_code(amount: Money) -> &'static str {
    if demo_declines(amount) {
        "281234567890120000"
    } else {
        "281234567890123456"
    }
}
