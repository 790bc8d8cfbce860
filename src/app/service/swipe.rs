//! Payments by a swiped card: the tracks the keyboard-wedge reader typed
//! are read here (and nowhere kept), then the terminal takes the payment
//! online by the card's service code.

use super::{PayProgress, PayRefusal, Service};
use tillpoint_core::money::Money;
use tillpoint_core::tender::{CardRef, TenderKind};
use tillpoint_payment::magstripe::read_swipe;
use zeroize::Zeroizing;

impl Service {
    /// What the demo's reader types when the customer swipes the demo card
    /// `profile` (`stripe-only`: a card without a chip).
    pub fn demo_stripe(&self, profile: &str) -> Zeroizing<String> {
        use tillpoint_sim::card::profile;
        let stripe = profile::by_name(profile).and_then(|p| p.stripe());
        Zeroizing::new(stripe.unwrap_or_else(|| profile::STRIPE_ONLY.to_owned()))
    }

    /// A card payment of `amount` by the swipe `tracks` (as the reader
    /// typed them). A swipe that cannot be read is refused with what is
    /// wrong (swipe again), before anything is sent.
    pub fn pay_swipe(
        &self,
        amount: Money,
        tracks: &Zeroizing<String>,
        progress: &mut dyn FnMut(PayProgress),
    ) -> Result<CardRef, PayRefusal> {
        let card = read_swipe(tracks).map_err(|e| PayRefusal {
            id: "swipe-unreadable",
            args: vec![("why", e.to_string())],
            text: e.to_string(),
        })?;
        self.on_terminal(TenderKind::Card, progress, |terminal, stage| {
            terminal.pay_swipe(amount, &card, stage)
        })
    }
}
