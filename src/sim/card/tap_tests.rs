//! The contactless kernels against the virtual contactless cards in
//! memory: each profile's ending, the reader's limits, the CVM rules, fDDA
//! and CDA, and broken answers.

use super::*;
use crate::acquirer::{EmvIssuer, IssuerVerifier};
use tillpoint_payment::emv::entry::{SwitchReason, TapOutcome};
use tillpoint_payment::emv::kernel::{
    has_bit, tsi, tvr, CryptogramType, CvmPerformed, Decision, HostResponse, Kernel, KernelError,
    Outcome, PinEntry,
};
use tillpoint_payment::emv::TerminalConfig;

fn card(name: &str) -> VirtualCard {
    VirtualCard::from_profile_name(name).unwrap()
}

/// Limits of the default terminal (the same for every AID).
fn limits() -> (u64, u64, u64) {
    let cfg = TerminalConfig::default();
    let a = &cfg.applications[0];
    (
        a.contactless_floor_limit,
        a.cvm_required_limit,
        a.contactless_limit,
    )
}

fn tap(
    c: &mut impl CardChannel,
    amount: u64,
    ch: &mut ScriptedCardholder,
) -> Result<Outcome, KernelError> {
    let cfg = TerminalConfig::default();
    let mut k = Kernel::new(c, &cfg);
    k.tap(&sample_purchase(amount), ch)
}

/// A tap that goes online: the issuer simulator verifies the ARQC and
/// answers; the kernel completes without the card.
fn tap_online(
    profile: &str,
    amount: u64,
    ch: &mut ScriptedCardholder,
    host_up: bool,
) -> (Outcome, Outcome) {
    let mut c = card(profile);
    let cfg = TerminalConfig::default();
    let mut k = Kernel::new(&mut c, &cfg);
    let mut first = k.tap(&sample_purchase(amount), ch).unwrap();
    assert_eq!(first.decision, Decision::GoOnline, "{profile}");
    let s = first.take_card_secrets().unwrap();
    let f55 = first.online.as_ref().unwrap().field55.clone();
    let psn = s.pan_sequence.as_deref();
    assert_eq!(
        EmvIssuer::test_cards().verify_arqc(&s.pan, psn, &f55),
        Ok(true),
        "{profile}: the issuer recomputes the tap's ARQC"
    );
    let host = if host_up {
        issuer_approval(profile, &s.pan, psn, &f55).unwrap()
    } else {
        HostResponse::Unavailable
    };
    let done = k.complete(host).unwrap();
    (first, done)
}

#[test]
fn a_quick_chip_card_under_the_floor_limit_approves_offline_after_fdda() {
    let (floor, _, _) = limits();
    for profile in ["tap-visa", "tap-unionpay"] {
        let mut c = card(profile);
        let mut ch = ScriptedCardholder::default();
        let out = tap(&mut c, floor - 1, &mut ch).unwrap();
        assert_eq!(out.decision, Decision::ApprovedOffline, "{profile}");
        let r = &out.receipt;
        assert!(r.contactless);
        assert_eq!(r.cryptogram_type, CryptogramType::Tc);
        assert!(has_bit(&r.tsi, tsi::ODA), "{profile}: fDDA performed");
        assert!(
            !has_bit(&r.tvr, tvr::DDA_FAILED),
            "{profile}: {:02X?}",
            r.tvr
        );
        assert_eq!(r.cvm, CvmPerformed::NoCvm);
        assert_eq!(ch.card_reads, 1);
        assert_eq!(ch.pin_requests, 0);
        let f55 = tlv::parse_all(&out.field55).unwrap();
        assert_eq!(
            tlv::find_bytes(&f55, 0x9F66),
            Some(&[0x36, 0x00, 0x40, 0x00][..]),
            "the TTQ goes to the host"
        );
        assert!(tlv::find_bytes(&f55, 0x9F6C).is_some(), "and the CTQ");
    }
}

#[test]
fn above_the_floor_limit_a_tap_goes_online_and_the_host_decides() {
    let (floor, cvm, _) = limits();
    for profile in ["tap-visa", "tap-unionpay", "tap-mastercard"] {
        let mut ch = ScriptedCardholder::default();
        let (first, done) = tap_online(profile, floor + 100, &mut ch, true);
        assert!(first.receipt.contactless);
        assert_eq!(first.receipt.cvm, CvmPerformed::NoCvm, "{profile}");
        assert!(floor + 100 < cvm);
        assert_eq!(ch.pin_requests, 0);
        assert_eq!(done.decision, Decision::ApprovedOnline, "{profile}");
        assert_eq!(done.receipt.arc, *b"00");
        assert_eq!(done.receipt.auth_code.as_deref(), Some("123456"));
    }
}

#[test]
fn the_mastercard_kind_signs_its_cryptogram_with_cda() {
    let mut ch = ScriptedCardholder::default();
    let (first, _) = tap_online("tap-mastercard", 1_000, &mut ch, true);
    let r = &first.receipt;
    assert!(has_bit(&r.tsi, tsi::ODA));
    assert!(!has_bit(&r.tvr, tvr::CDA_FAILED), "TVR {:02X?}", r.tvr);
    assert_ne!(r.cryptogram, [0; 8], "the AC recovered from the signature");
    assert_eq!(ch.card_reads, 1);
}

#[test]
fn above_the_cvm_limit_a_card_asks_for_online_pin_after_it_has_left() {
    let (_, cvm, _) = limits();
    for profile in ["tap-visa", "tap-unionpay", "tap-mastercard"] {
        let mut ch = ScriptedCardholder::default();
        let (first, done) = tap_online(profile, cvm + 1, &mut ch, true);
        assert_eq!(first.receipt.cvm, CvmPerformed::OnlinePin, "{profile}");
        assert!(first.online.as_ref().unwrap().pin_entered);
        assert_eq!(ch.pin_requests, 1);
        assert_eq!(ch.pins_before_read, 0, "{profile}: PIN only after the read");
        assert_eq!(done.decision, Decision::ApprovedOnline);
    }
}

#[test]
fn a_bypassed_pin_above_the_cvm_limit_declines_without_the_host() {
    let (_, cvm, _) = limits();
    let mut c = card("tap-visa");
    let mut ch = ScriptedCardholder {
        pin: PinEntry::Bypassed,
        ..ScriptedCardholder::default()
    };
    let out = tap(&mut c, cvm + 1, &mut ch).unwrap();
    assert_eq!(out.decision, Decision::DeclinedOffline);
    assert!(out.online.is_none());
}

#[test]
fn with_no_host_an_online_tap_is_declined() {
    let mut ch = ScriptedCardholder::default();
    let (_, done) = tap_online("tap-visa", 20_000, &mut ch, false);
    assert_eq!(done.decision, Decision::DeclinedUnableToGoOnline);
    assert_eq!(done.receipt.arc, *b"Z3");
}

#[test]
fn above_the_contactless_limit_the_reader_asks_for_the_chip() {
    let (_, _, limit) = limits();
    let mut c = card("tap-visa");
    let err = tap(&mut c, limit + 1, &mut ScriptedCardholder::default()).unwrap_err();
    assert_eq!(
        err,
        KernelError::Tap(TapOutcome::TryAnotherInterface(SwitchReason::OverLimit))
    );
}

#[test]
fn a_card_with_its_allowance_used_up_asks_for_the_chip() {
    let mut c = card("tap-over-limit");
    let err = tap(&mut c, 1_000, &mut ScriptedCardholder::default()).unwrap_err();
    assert_eq!(
        err,
        KernelError::Tap(TapOutcome::TryAnotherInterface(SwitchReason::CardAsked))
    );
}

#[test]
fn a_locked_phone_says_see_phone_then_taps_with_its_own_verification() {
    let (_, cvm, _) = limits();
    let mut phone = card("phone-wallet");
    let mut ch = ScriptedCardholder::default();
    let err = tap(&mut phone, cvm + 500, &mut ch).unwrap_err();
    assert_eq!(err, KernelError::Tap(TapOutcome::SeePhone));
    // The owner unlocks the phone and taps again.
    phone.reset();
    let out = tap(&mut phone, cvm + 500, &mut ch).unwrap();
    assert_eq!(out.decision, Decision::GoOnline);
    assert_eq!(out.receipt.cvm, CvmPerformed::ConsumerDevice);
    assert_eq!(out.receipt.cvm_results, [0x01, 0x00, 0x02]);
    assert_eq!(ch.pin_requests, 0, "no PIN when the phone verified");
    let f55 = tlv::parse_all(&out.field55).unwrap();
    assert!(tlv::find_bytes(&f55, 0x9F6E).is_some(), "form factor sent");
    // Below the CVM limit a phone taps like a card.
    let mut phone = card("phone-wallet");
    let out = tap(&mut phone, 1_000, &mut ScriptedCardholder::default()).unwrap();
    assert_eq!(out.decision, Decision::ApprovedOffline);
}

#[test]
fn two_cards_and_a_card_pulled_away_end_the_tap_with_their_own_outcome() {
    let err = tap(
        &mut card("tap-two-cards"),
        1_000,
        &mut ScriptedCardholder::default(),
    );
    assert_eq!(
        err.unwrap_err(),
        KernelError::Tap(TapOutcome::PresentOneCard)
    );
    let mut early = card("tap-removed");
    early.reset();
    let err = tap(&mut early, 1_000, &mut ScriptedCardholder::default()).unwrap_err();
    assert!(err.is_card_removed(), "{err}");
}

/// Passes APDUs through, spoiling the GPO answer with `spoil`.
struct Spoiler<F: FnMut(&mut Vec<u8>)> {
    card: VirtualCard,
    spoil: F,
}

impl<F: FnMut(&mut Vec<u8>)> CardChannel for Spoiler<F> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ChannelError> {
        let mut r = self.card.transmit(apdu)?;
        if apdu.starts_with(&[0x80, 0xA8]) {
            (self.spoil)(&mut r);
        }
        Ok(r)
    }
}

#[test]
fn a_spoiled_fdda_signature_is_not_approved_offline() {
    let mut c = Spoiler {
        card: card("tap-visa"),
        spoil: |r: &mut Vec<u8>| {
            // The SDAD is the last element of the template: flip a byte
            // inside it.
            let n = r.len();
            if let Some(b) = r.get_mut(n - 20) {
                *b ^= 0x01;
            }
        },
    };
    let out = tap(&mut c, 1_000, &mut ScriptedCardholder::default()).unwrap();
    assert_eq!(out.decision, Decision::DeclinedOffline);
    assert!(has_bit(&out.receipt.tvr, tvr::DDA_FAILED));
}

#[test]
fn truncated_and_garbled_gpo_answers_are_card_data_errors() {
    for cut in [1usize, 5, 30, 120] {
        let mut c = Spoiler {
            card: card("tap-unionpay"),
            spoil: move |r: &mut Vec<u8>| {
                let keep = r.len().saturating_sub(cut + 2);
                r.drain(keep..r.len() - 2);
            },
        };
        let err = tap(&mut c, 1_000, &mut ScriptedCardholder::default()).unwrap_err();
        assert!(
            matches!(err, KernelError::CardData(_) | KernelError::Missing { .. }),
            "cut {cut}: {err:?}"
        );
    }
    let mut c = Spoiler {
        card: card("tap-visa"),
        spoil: |r: &mut Vec<u8>| {
            // Template 80 instead of 77.
            r[0] = 0x80;
        },
    };
    let err = tap(&mut c, 1_000, &mut ScriptedCardholder::default()).unwrap_err();
    assert!(matches!(err, KernelError::CardData(_)), "{err:?}");
}

#[test]
fn a_contact_only_card_held_to_the_reader_is_asked_to_be_inserted() {
    let mut chip = card("visa-online-pin");
    let err = tap(&mut chip, 1_000, &mut ScriptedCardholder::default()).unwrap_err();
    assert_eq!(
        err,
        KernelError::Tap(TapOutcome::TryAnotherInterface(SwitchReason::NoApplication))
    );
}
