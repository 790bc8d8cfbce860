//! Kernel against the in-memory virtual card: one full transaction per
//! profile, completion paths, and a property test that no sequence of card
//! answers makes the kernel panic.

use super::*;
use tillpoint_payment::emv::apdu::ApduError;
use tillpoint_payment::emv::cvn::{Cvn, Scheme};
use tillpoint_payment::emv::kernel::{
    has_bit, tsi, tvr, CryptogramType, CvmPerformed, Decision, HostResponse, Kernel, KernelError,
    Outcome, PinEntry,
};
use tillpoint_payment::emv::select::SelectError;
use tillpoint_payment::emv::tlv;
use tillpoint_payment::emv::TerminalConfig;

fn card(name: &str) -> VirtualCard {
    VirtualCard::from_profile_name(name).unwrap()
}

fn run_first(
    card: &mut VirtualCard,
    amount: u64,
    ch: &mut ScriptedCardholder,
) -> Result<Outcome, KernelError> {
    let cfg = TerminalConfig::default();
    let mut k = Kernel::new(card, &cfg);
    k.start(&sample_purchase(amount), ch)
}

/// Runs start and, if the card goes online, completes with `host` built
/// from the first outcome.
fn run_full(
    card: &mut VirtualCard,
    amount: u64,
    ch: &mut ScriptedCardholder,
    host: impl FnOnce(&mut Outcome) -> HostResponse,
) -> (Outcome, Option<Outcome>) {
    let cfg = TerminalConfig::default();
    let mut k = Kernel::new(card, &cfg);
    let mut first = k.start(&sample_purchase(amount), ch).unwrap();
    if first.decision != Decision::GoOnline {
        return (first, None);
    }
    let h = host(&mut first);
    let second = k.complete(h).unwrap();
    (first, Some(second))
}

fn approve(profile: &'static str) -> impl FnOnce(&mut Outcome) -> HostResponse {
    move |o: &mut Outcome| {
        let s = o.take_card_secrets().unwrap();
        let f55 = o.online.as_ref().unwrap().field55.clone();
        issuer_approval(profile, &s.pan, s.pan_sequence.as_deref(), &f55).unwrap()
    }
}

#[test]
fn visa_online_pin_approved_with_dda() {
    let mut c = card("visa-online-pin");
    let mut ch = ScriptedCardholder::default();
    let (first, second) = run_full(&mut c, 25_00, &mut ch, approve("visa-online-pin"));
    assert_eq!(first.decision, Decision::GoOnline);
    assert_eq!(ch.pin_requests, 1);
    let r = &first.receipt;
    assert_eq!(r.masked_pan, "476173******0010");
    assert_eq!(r.aid, hex::decode("A0000000031010").unwrap());
    assert_eq!(r.app_label, "VISA CREDIT");
    assert_eq!(r.cvm, CvmPerformed::OnlinePin);
    assert_eq!(r.cvm_results, [0x42, 0x03, 0x00]);
    assert!(has_bit(&r.tsi, tsi::ODA), "DDA performed");
    assert!(
        !has_bit(&r.tvr, tvr::DDA_FAILED),
        "DDA must pass: TVR {:02X?}",
        r.tvr
    );
    assert!(!has_bit(&r.tvr, tvr::ODA_NOT_PERFORMED));
    assert!(has_bit(&r.tvr, tvr::ONLINE_PIN_ENTERED));
    let online = first.online.as_ref().unwrap();
    assert!(online.pin_entered);
    // Field 55 carries the ARQC and the data the host needs to verify it.
    let f55 = tillpoint_payment::emv::tlv::parse_all(&online.field55).unwrap();
    assert_eq!(
        tillpoint_payment::emv::tlv::find_bytes(&f55, 0x9F26).unwrap(),
        online.arqc
    );
    assert!(
        tillpoint_payment::emv::tlv::find_bytes(&f55, 0x5A).is_none(),
        "no PAN in field 55"
    );
    // The host can recompute the ARQC from field 55 with the issuer key,
    // by the version the IAD names (Visa CVN 18: the whole IAD is covered).
    let p = profile::by_name("visa-online-pin").unwrap();
    let input = CryptogramInput::from_tlv(&f55).unwrap();
    let cvn = Cvn::from_iad(Scheme::Visa, &input.iad).unwrap();
    assert_eq!(cvn, Cvn::Visa18);
    let mk = cvn
        .icc_master_key(&p.apps[0].issuer_master_key, "4761739001010010", Some("01"))
        .unwrap();
    assert_eq!(input.atc, r.atc.to_be_bytes());
    assert_eq!(cvn.cryptogram(&mk, &input).unwrap(), online.arqc);

    let second = second.unwrap();
    assert_eq!(second.decision, Decision::ApprovedOnline);
    assert_eq!(second.receipt.cryptogram_type, CryptogramType::Tc);
    assert!(has_bit(&second.receipt.tsi, tsi::ISSUER_AUTH));
    assert!(!has_bit(&second.receipt.tvr, tvr::ISSUER_AUTH_FAILED));
    assert_eq!(second.receipt.auth_code.as_deref(), Some("123456"));
}

#[test]
fn unionpay_online_pin_t0_sda_arpc_in_cdol2() {
    let mut c = card("unionpay-online-pin");
    let mut ch = ScriptedCardholder::default();
    let (first, second) = run_full(&mut c, 88_00, &mut ch, approve("unionpay-online-pin"));
    assert_eq!(first.decision, Decision::GoOnline);
    assert_eq!(first.receipt.app_label, "UnionPay Debit");
    assert!(has_bit(&first.receipt.tvr, tvr::SDA_SELECTED));
    assert!(
        !has_bit(&first.receipt.tvr, tvr::SDA_FAILED),
        "TVR {:02X?}",
        first.receipt.tvr
    );
    let second = second.unwrap();
    assert_eq!(second.decision, Decision::ApprovedOnline);
}

#[test]
fn wrong_arpc_makes_the_card_decline_after_host_approval() {
    let mut c = card("visa-online-pin");
    let mut ch = ScriptedCardholder::default();
    let (_, second) = run_full(&mut c, 25_00, &mut ch, |_o| HostResponse::Answered {
        arc: *b"00",
        auth_code: Some("999999".into()),
        issuer_auth_data: Some(hex::decode("00112233445566773030").unwrap()),
        scripts: Vec::new(),
    });
    let second = second.unwrap();
    assert_eq!(second.decision, Decision::DeclinedByCardAfterApproval);
    assert!(second.decision.reversal_required());
    assert!(has_bit(&second.receipt.tvr, tvr::ISSUER_AUTH_FAILED));
    // Same for the CDOL2 (tag 91) path.
    let mut c = card("unionpay-online-pin");
    let (_, second) = run_full(&mut c, 25_00, &mut ScriptedCardholder::default(), |_o| {
        HostResponse::Answered {
            arc: *b"00",
            auth_code: None,
            issuer_auth_data: Some(vec![0xAB; 10]),
            scripts: Vec::new(),
        }
    });
    assert_eq!(
        second.unwrap().decision,
        Decision::DeclinedByCardAfterApproval
    );
}

#[test]
fn host_decline_and_unable_to_go_online() {
    let mut c = card("visa-online-pin");
    let (_, second) = run_full(&mut c, 25_00, &mut ScriptedCardholder::default(), |_o| {
        HostResponse::Answered {
            arc: *b"05",
            auth_code: None,
            issuer_auth_data: None,
            scripts: Vec::new(),
        }
    });
    let s = second.unwrap();
    assert_eq!(s.decision, Decision::DeclinedByIssuer);
    assert_eq!(s.receipt.cryptogram_type, CryptogramType::Aac);
    // Unable to go online: the TAC/IAC default codes allow a TC, but this
    // card refuses to approve without its issuer (AAC), so Z3.
    let mut c = card("visa-online-pin");
    let (_, second) = run_full(&mut c, 25_00, &mut ScriptedCardholder::default(), |_| {
        HostResponse::Unavailable
    });
    let s = second.unwrap();
    assert_eq!(s.decision, Decision::DeclinedUnableToGoOnline);
    assert_eq!(s.receipt.arc, *b"Z3");
}

#[test]
fn offline_card_approves_under_floor_limit_and_goes_online_above() {
    let mut c = card("offline-approve");
    let mut ch = ScriptedCardholder::default();
    let out = run_first(&mut c, 20_00, &mut ch).unwrap();
    assert_eq!(out.decision, Decision::ApprovedOffline);
    assert_eq!(out.receipt.arc, *b"Y1");
    assert_eq!(out.receipt.cvm, CvmPerformed::Signature);
    assert!(out.receipt.signature_required);
    assert_eq!(ch.pin_requests, 0);
    assert!(has_bit(&out.receipt.tsi, tsi::TERMINAL_RISK));
    assert_eq!(
        out.receipt.tvr,
        [0x02, 0, 0, 0, 0],
        "only 'SDA selected' expected"
    );
    // Above the floor limit (50.00) the terminal asks for an ARQC.
    let mut c = card("offline-approve");
    let out = run_first(&mut c, 60_00, &mut ScriptedCardholder::default()).unwrap();
    assert_eq!(out.decision, Decision::GoOnline);
    assert!(has_bit(&out.receipt.tvr, tvr::FLOOR_LIMIT));
    // Unable to go online above the floor limit: TAC default holds
    // "exceeds floor limit", so the terminal declines (Z3).
    let mut c = card("offline-approve");
    let (_, s) = run_full(&mut c, 60_00, &mut ScriptedCardholder::default(), |_| {
        HostResponse::Unavailable
    });
    assert_eq!(s.unwrap().decision, Decision::DeclinedUnableToGoOnline);
}

#[test]
fn randomly_selected_then_unable_to_go_online_is_approved_offline() {
    // Random selection is not in TAC default: without a host the card's
    // own limit (100.00) lets it approve (Y3).
    let cfg = TerminalConfig::default();
    let mut c = card("offline-approve");
    let mut txn = sample_purchase(20_00);
    txn.random_selection = 1;
    let mut k = Kernel::new(&mut c, &cfg);
    let first = k.start(&txn, &mut ScriptedCardholder::default()).unwrap();
    assert_eq!(first.decision, Decision::GoOnline);
    let done = k.complete(HostResponse::Unavailable).unwrap();
    assert_eq!(done.decision, Decision::ApprovedUnableToGoOnline);
    assert_eq!(done.receipt.arc, *b"Y3");
    assert_eq!(done.receipt.cryptogram_type, CryptogramType::Tc);
}

#[test]
fn random_selection_sends_a_small_transaction_online() {
    let cfg = TerminalConfig::default();
    let mut c = card("offline-approve");
    let mut txn = sample_purchase(5_00);
    txn.random_selection = 3; // below the 10 % target
    let out = Kernel::new(&mut c, &cfg)
        .start(&txn, &mut ScriptedCardholder::default())
        .unwrap();
    assert!(has_bit(&out.receipt.tvr, tvr::RANDOM_SELECTED));
    assert_eq!(out.decision, Decision::GoOnline);
}

#[test]
fn velocity_check_uses_get_data() {
    // Last online ATC 0x0F, LCOL 3. GPO raises the ATC to 0x11, then 0x12:
    // 2 and 3 offline transactions, within the limit.
    let mut c = card("offline-approve");
    for _ in 0..2 {
        let out = run_first(&mut c, 20_00, &mut ScriptedCardholder::default()).unwrap();
        assert_eq!(out.decision, Decision::ApprovedOffline);
    }
    // Next one: ATC 0x13 - 0x0F = 4 > LCOL 3.
    let out = run_first(&mut c, 20_00, &mut ScriptedCardholder::default()).unwrap();
    assert!(
        has_bit(&out.receipt.tvr, tvr::LCOL_EXCEEDED),
        "TVR {:02X?}",
        out.receipt.tvr
    );
    assert_eq!(out.decision, Decision::GoOnline);
}

#[test]
fn declining_and_expired_cards() {
    let mut c = card("declining");
    let out = run_first(&mut c, 10_00, &mut ScriptedCardholder::default()).unwrap();
    assert_eq!(out.decision, Decision::DeclinedOffline);
    assert_eq!(out.receipt.cryptogram_type, CryptogramType::Aac);
    let mut c = card("expired");
    let out = run_first(&mut c, 10_00, &mut ScriptedCardholder::default()).unwrap();
    assert_eq!(out.decision, Decision::DeclinedOffline);
    assert!(has_bit(&out.receipt.tvr, tvr::EXPIRED));
}

#[test]
fn two_apps_ask_the_cardholder() {
    let mut c = card("two-apps");
    let mut ch = ScriptedCardholder {
        choice: 1,
        ..ScriptedCardholder::default()
    };
    let out = run_first(&mut c, 20_00, &mut ch).unwrap();
    assert_eq!(
        ch.shown,
        vec![vec!["VISA CREDIT".to_string(), "VISA ELECTRON".to_string()]]
    );
    assert_eq!(out.receipt.app_label, "VISA ELECTRON");
    assert_eq!(out.decision, Decision::ApprovedOffline);
}

#[test]
fn pin_bypass_and_cancel() {
    let mut c = card("visa-online-pin");
    let mut ch = ScriptedCardholder {
        pin: PinEntry::Bypassed,
        ..ScriptedCardholder::default()
    };
    let out = run_first(&mut c, 25_00, &mut ch).unwrap();
    assert!(has_bit(&out.receipt.tvr, tvr::PIN_NOT_ENTERED));
    assert_eq!(out.receipt.cvm, CvmPerformed::Signature);
    let mut c = card("visa-online-pin");
    let mut ch = ScriptedCardholder {
        pin: PinEntry::Cancelled,
        ..ScriptedCardholder::default()
    };
    assert_eq!(
        run_first(&mut c, 25_00, &mut ch).unwrap_err(),
        KernelError::Cancelled
    );
}

#[test]
fn broken_cards_end_with_clear_errors() {
    let e = run_first(
        &mut card("broken-length"),
        10_00,
        &mut ScriptedCardholder::default(),
    )
    .unwrap_err();
    assert!(
        matches!(e, KernelError::CardData(ref m) if m.contains("AFL")),
        "{e}"
    );
    let e = run_first(
        &mut card("broken-tlv"),
        10_00,
        &mut ScriptedCardholder::default(),
    )
    .unwrap_err();
    assert!(
        matches!(e, KernelError::CardData(ref m) if m.contains("truncated")),
        "{e}"
    );
    let e = run_first(
        &mut card("broken-status"),
        10_00,
        &mut ScriptedCardholder::default(),
    )
    .unwrap_err();
    assert!(
        matches!(e, KernelError::CardStatus { sw, .. } if sw.0 == 0x6F00),
        "{e}"
    );
    let e = run_first(
        &mut card("silent"),
        10_00,
        &mut ScriptedCardholder::default(),
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            KernelError::Apdu(ApduError::Channel(ChannelError::Timeout(_)))
        ),
        "{e}"
    );
}

#[test]
fn card_removed_mid_transaction() {
    let mut c = card("visa-online-pin");
    c.remove_after(5);
    let e = run_first(&mut c, 10_00, &mut ScriptedCardholder::default()).unwrap_err();
    assert!(e.is_card_removed(), "{e}");
    let mut c = card("visa-online-pin");
    c.remove_after(1);
    let e = run_first(&mut c, 10_00, &mut ScriptedCardholder::default()).unwrap_err();
    assert!(
        matches!(e, KernelError::Select(SelectError::Apdu(_))),
        "{e}"
    );
    assert!(e.is_card_removed());
}

#[test]
fn issuer_scripts_before_and_after() {
    let mut c = card("visa-online-pin");
    let smi = c.apps[0].icc_mk_smi.clone();
    let (_, second) = run_full(&mut c, 25_00, &mut ScriptedCardholder::default(), |o| {
        let atc = o.receipt.atc.to_be_bytes();
        let arqc = o.online.as_ref().unwrap().arqc;
        let header = [0x84, 0xDA, 0x9F, 0x58, 0x0D];
        let mac = Cvn::Visa18.script_mac(&smi, atc, &arqc, header, &[0; 5]);
        let mut put_data = header.to_vec();
        put_data.extend_from_slice(&[0; 5]);
        put_data.extend_from_slice(&mac);
        let HostResponse::Answered {
            arc,
            auth_code,
            issuer_auth_data,
            ..
        } = approve("visa-online-pin")(o)
        else {
            unreachable!()
        };
        // 71: PUT DATA with its CVN 18 MAC (accepted). 72: an unknown
        // instruction (refused).
        let s71 = Tlv::constructed(
            0x71,
            vec![tlv_p(0x9F18, vec![0, 0, 0, 1]), tlv_p(0x86, put_data)],
        );
        let s72 = Tlv::constructed(
            0x72,
            vec![
                tlv_p(0x9F18, vec![0, 0, 0, 2]),
                tlv_p(0x86, hex::decode("84EE000000").unwrap()),
            ],
        );
        let mut scripts = s71.to_bytes();
        scripts.extend(s72.to_bytes());
        HostResponse::Answered {
            arc,
            auth_code,
            issuer_auth_data,
            scripts,
        }
    });
    let s = second.unwrap();
    assert_eq!(s.decision, Decision::ApprovedOnline);
    assert_eq!(hex::encode_upper(&s.script_results), "20000000011100000002");
    assert!(has_bit(&s.receipt.tsi, tsi::SCRIPT));
    assert!(has_bit(&s.receipt.tvr, tvr::SCRIPT_FAILED_AFTER));
    assert!(!has_bit(&s.receipt.tvr, tvr::SCRIPT_FAILED_BEFORE));
}

#[test]
fn card_secrets_are_separate_and_redacted() {
    let mut c = card("visa-online-pin");
    let mut out = run_first(&mut c, 25_00, &mut ScriptedCardholder::default()).unwrap();
    let dbg = format!("{out:?}");
    assert!(!dbg.contains("4761739001010010"), "PAN leaked in Debug");
    let s = out.take_card_secrets().unwrap();
    assert_eq!(s.pan, "4761739001010010");
    assert_eq!(s.pan_sequence.as_deref(), Some("01"));
    assert_eq!(format!("{s:?}"), "CardSecrets(<redacted>)");
    assert!(out.take_card_secrets().is_none());
}

/// Commands the kernel sends, with their answers.
struct Logged<'a> {
    card: &'a mut VirtualCard,
    log: Vec<(Vec<u8>, Vec<u8>)>,
}

impl CardChannel for Logged<'_> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ChannelError> {
        let r = self.card.transmit(apdu)?;
        self.log.push((apdu.to_vec(), r.clone()));
        Ok(r)
    }
}

#[test]
fn cda_card_signs_both_cryptograms_and_is_approved_online() {
    let mut c = card("mastercard-cda");
    let mut logged = Logged {
        card: &mut c,
        log: Vec::new(),
    };
    let cfg = TerminalConfig::default();
    let mut k = Kernel::new(&mut logged, &cfg);
    let mut first = k
        .start(&sample_purchase(25_00), &mut ScriptedCardholder::default())
        .unwrap();
    assert_eq!(first.decision, Decision::GoOnline);
    assert!(has_bit(&first.receipt.tsi, tsi::ODA));
    assert!(
        !has_bit(&first.receipt.tvr, tvr::CDA_FAILED),
        "{:02X?}",
        first.receipt.tvr
    );
    assert!(!has_bit(&first.receipt.tvr, tvr::ODA_NOT_PERFORMED));
    // The AC came out of the signature and is what the issuer verifies.
    let host = approve("mastercard-cda")(&mut first);
    let done = k.complete(host).unwrap();
    assert_eq!(done.decision, Decision::ApprovedOnline);
    assert!(!has_bit(&done.receipt.tvr, tvr::CDA_FAILED));
    drop(k);
    let genacs: Vec<_> = logged.log.iter().filter(|(c, _)| c[1] == 0xAE).collect();
    assert_eq!(genacs.len(), 2);
    // P1: ARQC + CDA, then TC + CDA; both answers carry 9F4B and no 9F26.
    assert_eq!(genacs[0].0[2], 0x90);
    assert_eq!(genacs[1].0[2], 0x50);
    for (_, resp) in genacs {
        let t = tlv::parse_one(&resp[..resp.len() - 2]).unwrap();
        assert!(t.find(0x9F4B).is_some());
        assert!(t.find(0x9F26).is_none());
    }
    // No INTERNAL AUTHENTICATE: CDA replaces DDA.
    assert!(!logged.log.iter().any(|(c, _)| c[1] == 0x88));
}

#[test]
fn failed_cda_sets_the_tvr_and_declines() {
    for name in ["cda-bad-signature", "cda-wrong-hash"] {
        let mut c = card(name);
        let out = run_first(&mut c, 25_00, &mut ScriptedCardholder::default()).unwrap();
        assert!(
            has_bit(&out.receipt.tvr, tvr::CDA_FAILED),
            "{name}: {:02X?}",
            out.receipt.tvr
        );
        assert_eq!(out.decision, Decision::DeclinedOffline, "{name}");
        assert!(out.online.is_none(), "{name}: never sent online");
    }
    // A terminal without CDA (9F33 byte 3 bit 4) uses the card's DDA.
    let mut c = card("cda-bad-signature");
    let cfg = TerminalConfig {
        capabilities: vec![0x60, 0x68, 0xC0],
        ..TerminalConfig::default()
    };
    let out = Kernel::new(&mut c, &cfg)
        .start(&sample_purchase(25_00), &mut ScriptedCardholder::default())
        .unwrap();
    assert!(!has_bit(&out.receipt.tvr, tvr::CDA_FAILED));
    assert!(!has_bit(&out.receipt.tvr, tvr::DDA_FAILED));
    assert_eq!(out.decision, Decision::GoOnline);
}

#[test]
fn cda_failure_at_the_second_generate_ac_declines_after_approval() {
    // Approve online, then the card's TC signature is spoiled on its way.
    let mut c = card("mastercard-cda");
    struct SpoilSecond<'a> {
        card: &'a mut VirtualCard,
        genacs: u32,
    }
    impl CardChannel for SpoilSecond<'_> {
        fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ChannelError> {
            let mut r = self.card.transmit(apdu)?;
            if apdu.get(1) == Some(&0xAE) {
                self.genacs += 1;
                if self.genacs == 2 {
                    let n = r.len();
                    r[n - 20] ^= 0x01; // inside the IAD, covered by the hash
                }
            }
            Ok(r)
        }
    }
    let mut ch = SpoilSecond {
        card: &mut c,
        genacs: 0,
    };
    let cfg = TerminalConfig::default();
    let mut k = Kernel::new(&mut ch, &cfg);
    let mut first = k
        .start(&sample_purchase(25_00), &mut ScriptedCardholder::default())
        .unwrap();
    let done = k.complete(approve("mastercard-cda")(&mut first)).unwrap();
    assert!(has_bit(&done.receipt.tvr, tvr::CDA_FAILED));
    assert_eq!(done.decision, Decision::DeclinedByCardAfterApproval);
    assert!(done.decision.reversal_required());
}

#[test]
fn tampered_static_data_fails_sda() {
    let mut p = profile::by_name("offline-approve").unwrap();
    let mut c = VirtualCard::new(&p);
    // Change the cardholder name after signing: SDA must fail.
    if let Some(r) = c.apps[0].records.get_mut(&(1, 1)) {
        let n = r.len();
        r[n - 1] ^= 0x01;
    }
    let out = run_first(&mut c, 20_00, &mut ScriptedCardholder::default()).unwrap();
    assert!(
        has_bit(&out.receipt.tvr, tvr::SDA_FAILED),
        "TVR {:02X?}",
        out.receipt.tvr
    );
    // TAC default/online include "SDA failed": no offline approval.
    assert_eq!(out.decision, Decision::GoOnline);
    // A card whose CA key index is unknown to the terminal: SDA fails too.
    p.apps[0].pan = "4761739001010119".into();
    let cfg = TerminalConfig {
        ca_keys: Vec::new(),
        ..TerminalConfig::default()
    };
    let mut c = VirtualCard::new(&p);
    let out = Kernel::new(&mut c, &cfg)
        .start(&sample_purchase(20_00), &mut ScriptedCardholder::default())
        .unwrap();
    assert!(has_bit(&out.receipt.tvr, tvr::SDA_FAILED));
}

#[test]
fn bench_reports_kernel_and_bare_times() {
    let r = bench_kernel(2).unwrap();
    assert_eq!(r.iterations, 2);
    assert!(r.apdus_per_txn >= 10, "{r}");
    // Times are the bench's to report, not a test's to judge.
    let t = bench_tap(2).unwrap();
    assert_eq!(t.profile, "tap-visa");
    // PPSE, SELECT, GPO and the records: no GENERATE AC on a tap.
    assert!(t.apdus_per_txn >= 5, "{t}");
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    /// Answers with scripted bytes, or errors when the script runs out.
    struct Arbitrary(VecDeque<Vec<u8>>);

    impl CardChannel for Arbitrary {
        fn transmit(&mut self, _apdu: &[u8]) -> Result<Vec<u8>, ChannelError> {
            self.0.pop_front().ok_or(ChannelError::CardRemoved)
        }
    }

    /// A real card whose answers are damaged at chosen points.
    struct Mangled {
        card: VirtualCard,
        edits: Vec<(usize, u8, u8)>,
        n: usize,
    }

    impl CardChannel for Mangled {
        fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ChannelError> {
            let mut r = self.card.transmit(apdu)?;
            for (at, pos, val) in &self.edits {
                if *at == self.n && !r.is_empty() {
                    let i = usize::from(*pos) % r.len();
                    match val % 3 {
                        0 => r[i] ^= val | 1,
                        1 => r.truncate(i),
                        _ => r.insert(i, *val),
                    }
                }
            }
            self.n += 1;
            Ok(r)
        }
    }

    /// One transaction, inserted or tapped, of a small amount or one above
    /// the contactless CVM limit.
    fn drive(ch: &mut dyn CardChannel, tap: bool, big: bool) {
        let cfg = TerminalConfig::default();
        let mut k = Kernel::new(ch, &cfg);
        let txn = sample_purchase(if big { 40_000 } else { 2_500 });
        let mut holder = ScriptedCardholder::default();
        let first = if tap {
            k.tap(&txn, &mut holder)
        } else {
            k.start(&txn, &mut holder)
        };
        if let Ok(out) = first {
            if out.decision == Decision::GoOnline {
                let _ = k.complete(HostResponse::Answered {
                    arc: *b"00",
                    auth_code: None,
                    issuer_auth_data: Some(vec![1; 10]),
                    scripts: hex::decode("7109860784DA000002AABB").unwrap(),
                });
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

        #[test]
        fn arbitrary_answers_never_panic(
            answers in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..24),
            tap in any::<bool>(),
            big in any::<bool>(),
        ) {
            drive(&mut Arbitrary(answers.into()), tap, big);
        }

        #[test]
        fn mangled_real_answers_never_panic(
            profile in proptest::sample::select(profile::names()),
            edits in proptest::collection::vec((0usize..24, any::<u8>(), any::<u8>()), 1..4),
            big in any::<bool>(),
        ) {
            let card = VirtualCard::from_profile_name(profile).unwrap();
            let tap = card.is_contactless();
            drive(&mut Mangled { card, edits, n: 0 }, tap, big);
        }
    }
}
