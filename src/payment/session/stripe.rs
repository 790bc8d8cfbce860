//! A swiped card (magnetic stripe, keyboard-wedge reader): online only,
//! by the rules of its service code. A chip card is told to use its chip
//! unless its chip failed on this till just before (technical fallback,
//! sent with entry mode 801 / 80x and IC condition code 2, PROFILE.md).
//! Track 2 goes to the host in field 35 and is nowhere kept.

use super::{
    lock, report_end, scheme_of_pan, AcquirerStore, CardOutcome, DeclineReason, Holder,
    PaymentError, PaymentSession, Reporter, Stage,
};
use crate::acquirer::OnlineRequest;
use crate::emv::kernel::{self, Cardholder};
use crate::iso8583::messages::{CardInput, EntryMode};
use crate::magstripe::{PinRule, StripeCard};
use std::time::{Duration, Instant};
use tillpoint_core::money::Money;
use tillpoint_core::tender::{CardEntry, CardRef, Cvm};
use zeroize::Zeroizing;

/// How long after a chip failure on this till a chip card may be swiped
/// instead: the customer tried the chip, it failed, and the stripe is the
/// next thing they do.
pub const FALLBACK_WINDOW: Duration = Duration::from_secs(120);

impl<S: AcquirerStore> PaymentSession<S> {
    /// Takes one payment of `amount` by a swiped card; blocks until it is
    /// decided, as [`PaymentSession::pay_card`] does.
    pub fn pay_swipe(
        &mut self,
        card: &StripeCard,
        amount: Money,
        mut progress: impl FnMut(Stage),
    ) -> Result<CardOutcome, PaymentError> {
        let reporter = Reporter::new(&mut progress);
        let result = self.swipe_payment(card, amount, &reporter);
        report_end(&reporter, &result);
        // A fallback is for the card whose chip just failed, once.
        self.chip_failed = None;
        result
    }

    /// Whether a chip card swiped now is a fallback (its chip failed on
    /// this till within [`FALLBACK_WINDOW`]).
    pub fn fallback_allowed(&self) -> bool {
        self.chip_failed
            .is_some_and(|at| at.elapsed() < FALLBACK_WINDOW)
    }

    fn swipe_payment(
        &mut self,
        card: &StripeCard,
        amount: Money,
        reporter: &Reporter<'_>,
    ) -> Result<CardOutcome, PaymentError> {
        let minor = self.check_amount(amount)?;
        self.cancel.reset();
        let service = card.service_code();
        let fallback = service.has_chip() && self.fallback_allowed();
        let (entry, wire_entry) = if fallback {
            (CardEntry::Fallback, EntryMode::Fallback)
        } else {
            (CardEntry::Swipe, EntryMode::MagStripe)
        };
        let base = CardRef {
            masked_pan: card.masked_pan(),
            pan_hash: self.hasher.hash(card.pan()),
            scheme: scheme_of_pan(card.pan()).into(),
            ..CardRef::new(entry, Cvm::None)
        };
        let refuse = |reason| Ok(CardOutcome::declined(amount, reason, base.clone()));
        if service.has_chip() && !fallback {
            return refuse(DeclineReason::UseChip);
        }
        if !service.usable_for_goods() {
            return refuse(DeclineReason::NotForGoods);
        }
        let now = self.clock.now();
        let yymm = format!("{:02}{:02}", now.year() % 100, u8::from(now.month()));
        if card.expired(&yymm) {
            return refuse(DeclineReason::Expired);
        }
        let (pin, masked) = match service.pin() {
            PinRule::None => (None, base.masked_pan.clone()),
            rule => {
                let amount_text = format!("{} {}", amount.currency.code(), amount);
                let keying = lock(&self.acquirer)?.pin_keying();
                let mut holder = Holder {
                    reporter,
                    pin_pad: self.pin_pad.as_deref_mut(),
                    cancel: &self.cancel,
                    pin_timeout: self.settings.pin_timeout,
                    amount_text,
                    keying,
                    pin: None,
                    masked_pan: None,
                    stopped: None,
                };
                let pan = Zeroizing::new(card.pan().to_owned());
                let request = kernel::PinRequest {
                    amount: minor,
                    currency: amount.currency.numeric(),
                    masked_pan: &base.masked_pan,
                    pan: &pan,
                };
                match holder.online_pin(&request) {
                    kernel::PinEntry::Entered => (holder.pin.take(), base.masked_pan.clone()),
                    kernel::PinEntry::PadUnavailable if rule == PinRule::IfPinPad => {
                        (None, base.masked_pan.clone())
                    }
                    kernel::PinEntry::PadUnavailable => {
                        return refuse(DeclineReason::PinUnavailable)
                    }
                    _ => {
                        let why = holder
                            .stopped
                            .take()
                            .unwrap_or(DeclineReason::CancelledByCashier);
                        return refuse(why);
                    }
                }
            }
        };
        let mut base = base;
        let signature = pin.is_none();
        base.cvm = if signature { Cvm::Signature } else { Cvm::Pin }
            .as_str()
            .into();
        tracing::info!(masked_pan = %masked, entry = entry.as_str(), "card swiped");
        reporter.emit(Stage::Processing);
        let input = CardInput {
            pan: card.pan().to_owned(),
            expiry: Some(card.expiry().to_owned()),
            sequence: None,
            track2: Some(card.track2().to_owned()),
            entry: wire_entry,
            icc: None,
            pin,
        };
        let answer = lock(&self.acquirer)?.authorize(&OnlineRequest::Purchase {
            amount: minor,
            card: input,
        });
        self.online_only(amount, base, answer, signature)
    }

    /// A chip read failed for a reason of the chip (not a cancel or a
    /// decline): the next swipe of a chip card is a fallback.
    pub(super) fn chip_failed_now(&mut self) {
        self.chip_failed = Some(Instant::now());
    }
}
