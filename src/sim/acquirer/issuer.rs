//! The simulator's issuer: real EMV and DUKPT cryptography with the keys of
//! the project's virtual cards and PIN pad, so the host checks exactly what
//! the card and the pad computed.
//!
//! - ARQC (tag 9F26 in field 55): the issuer reads the cryptogram version
//!   from the IAD (9F10) in the layout of the card's scheme, derives the
//!   ICC master key and the AC key as that version says (`emv::cvn`),
//!   rebuilds the cryptogram input from field 55 and compares.
//! - ARPC: by the same version (method 1: ARPC ‖ ARC; Visa CVN 18: method
//!   2, ARPC ‖ CSU), which the virtual card checks.
//! - Issuer scripts queued with [`EmvIssuer::with_script`] go back in field
//!   55 as template 72, each command carrying the MAC of that version under
//!   the card's script-integrity key.
//! - PIN: the block in field 52 is decrypted under the DUKPT key named by
//!   the KSN in field 53, from the ANSI test BDKs the PIN pad simulator is
//!   loaded with (`sim::pinpad::TEST_TDES_BDK`, `TEST_AES_BDK`), and the
//!   PIN compared with the card's PIN of record.
//!
//! Test-card rules (PROFILE.md, "issuer"): the cards with keys are those of
//! `sim::card::profile::all()`; every card's PIN of record is `1234` unless
//! set with [`EmvIssuer::with_pin`]; chip data of a card without keys, or
//! that does not verify, is refused (`05`).

use std::collections::BTreeMap;

use zeroize::Zeroizing;

use super::{IssuerError, IssuerVerifier};
use crate::card::profile;
use crate::pinpad::{TEST_AES_BDK, TEST_TDES_BDK, TEST_TDES_KSN};
use tillpoint_payment::emv::crypto::{CryptogramInput, DesKey};
use tillpoint_payment::emv::cvn::{Cvn, IssuerAuth, Scheme};
use tillpoint_payment::emv::tlv::{self, Tlv};
use tillpoint_payment::pin::{self, BaseDerivationKeys, EncryptedPin, PinBlockFormat};

/// The PIN of record of every test card unless configured otherwise.
pub const DEFAULT_PIN: &str = "1234";

/// One card the issuer knows.
#[derive(Clone)]
struct IssuerCard {
    master_key: DesKey,
    script_key: DesKey,
    scheme: Scheme,
    /// The version the card was personalised with, used when the host
    /// makes chip data itself (`icc_for`, `tc_for`).
    cvn: Cvn,
    /// Script commands (without MAC) for the card's next online answer.
    scripts: Vec<ScriptCommand>,
    /// Derivation key index written in the card's IAD.
    dki: u8,
    /// The card's PAN sequence number as two digits.
    psn: String,
    pin: Zeroizing<String>,
}

/// The issuer of the virtual cards. See the module documentation.
#[derive(Clone)]
pub struct EmvIssuer {
    cards: BTreeMap<String, IssuerCard>,
    bdks: BaseDerivationKeys,
}

impl std::fmt::Debug for EmvIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Card numbers masked; keys and PINs never shown.
        f.debug_struct("EmvIssuer")
            .field(
                "cards",
                &self
                    .cards
                    .keys()
                    .map(|p| tillpoint_core::tender::mask_pan(p))
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Default for EmvIssuer {
    fn default() -> Self {
        EmvIssuer::test_cards()
    }
}

fn parse_icc(icc: &[u8]) -> Result<Vec<Tlv>, IssuerError> {
    let list = tlv::parse_all(icc).map_err(|_| IssuerError::BadTlv)?;
    // Field 55 is flat in this profile; a template (77) is looked into too.
    let mut flat = Vec::with_capacity(list.len());
    for t in list {
        if t.tag.is_constructed() {
            flat.extend(t.children().iter().cloned());
        } else {
            flat.push(t);
        }
    }
    Ok(flat)
}

fn fixed<const N: usize>(
    list: &[Tlv],
    tag: u32,
    name: &'static str,
) -> Result<[u8; N], IssuerError> {
    tlv::find_bytes(list, tag)
        .and_then(|v| v.try_into().ok())
        .ok_or(IssuerError::MissingTag(name))
}

impl EmvIssuer {
    /// An issuer for every application of every virtual card profile, with
    /// PIN of record [`DEFAULT_PIN`], and the ANSI test BDKs.
    pub fn test_cards() -> EmvIssuer {
        let mut cards = BTreeMap::new();
        for p in profile::all() {
            for app in p.apps {
                cards.entry(app.pan.clone()).or_insert_with(|| IssuerCard {
                    master_key: app.issuer_master_key.clone(),
                    script_key: app.issuer_script_key.clone(),
                    scheme: Scheme::from_aid(&app.aid).unwrap_or(Scheme::Visa),
                    cvn: app.cvn,
                    scripts: Vec::new(),
                    dki: app.dki,
                    psn: format!("{:02X}", app.psn),
                    pin: Zeroizing::new(DEFAULT_PIN.to_owned()),
                });
            }
        }
        EmvIssuer {
            cards,
            bdks: BaseDerivationKeys {
                tdes: Some(Zeroizing::new(TEST_TDES_BDK)),
                aes: Some(Zeroizing::new(TEST_AES_BDK)),
            },
        }
    }

    /// Sets a card's PIN of record.
    pub fn with_pin(mut self, pan: &str, pin: &str) -> Self {
        if let Some(c) = self.cards.get_mut(pan) {
            c.pin = Zeroizing::new(pin.to_owned());
        }
        self
    }

    /// Whether the issuer holds keys for this card.
    pub fn knows(&self, pan: &str) -> bool {
        self.cards.contains_key(pan)
    }

    fn card(&self, pan: &str) -> Result<&IssuerCard, IssuerError> {
        self.cards.get(pan).ok_or(IssuerError::UnknownCard)
    }

    /// The AC session key for this card and ATC. The PSN comes from tag 5F34
    /// when field 55 has it, else from field 23, else the card's own.
    /// Queues an issuer script command for the card's next online answer
    /// (sent as template 72, after the second GENERATE AC).
    pub fn with_script(mut self, pan: &str, command: ScriptCommand) -> Self {
        if let Some(c) = self.cards.get_mut(pan) {
            c.scripts.push(command);
        }
        self
    }

    /// The card's version (from its IAD), its ICC master key for AC and the
    /// cryptogram input rebuilt from field 55.
    fn crypto_context(
        &self,
        pan: &str,
        psn: Option<&str>,
        list: &[Tlv],
    ) -> Result<(Cvn, DesKey, CryptogramInput), IssuerError> {
        let card = self.card(pan)?;
        let input = CryptogramInput::from_tlv(list)
            .map_err(|_| IssuerError::MissingTag("cryptogram input (Book 2 table 26)"))?;
        let cvn = Cvn::from_iad(card.scheme, &input.iad).map_err(IssuerError::Cryptogram)?;
        let psn = card_psn(card, psn, list);
        let mk = cvn
            .icc_master_key(&card.master_key, pan, Some(&psn))
            .map_err(|_| IssuerError::UnknownCard)?;
        Ok((cvn, mk, input))
    }

    pub fn icc_for(&self, pan: &str, amount: u64, atc: u16) -> Option<Vec<u8>> {
        self.chip_data(pan, amount, atc, 0x80)
    }

    /// Field 55 of an offline (TC) approval, as carried by an advice.
    pub fn tc_for(&self, pan: &str, amount: u64, atc: u16) -> Option<Vec<u8>> {
        self.chip_data(pan, amount, atc, 0x40)
    }

    fn chip_data(&self, pan: &str, amount: u64, atc: u16, cid: u8) -> Option<Vec<u8>> {
        let card = self.cards.get(pan)?;
        let psn = u8::from_str_radix(&card.psn, 16).ok()?;
        let cvn = card.cvn;
        let cvr: &[u8] = match cvn.scheme() {
            Scheme::Mastercard => &[0xA0, 0, 0, 0, 0, 0],
            _ => &[0x03, 0xA0, 0x00, 0x00],
        };
        let input = CryptogramInput {
            amount_authorised: super::bcd12(amount),
            amount_other: [0; 6],
            terminal_country: [0x01, 0x56],
            tvr: [0; 5],
            currency: [0x01, 0x56],
            date: [0x26, 0x11, 0x21],
            txn_type: 0,
            unpredictable_number: [
                (atc >> 8) as u8 ^ 0x5A,
                atc as u8,
                0x3C,
                (amount % 251) as u8,
            ],
            aip: [0x39, 0x00],
            atc: atc.to_be_bytes(),
            iad: cvn.iad(card.dki, cvr),
        };
        let mk = cvn
            .icc_master_key(&card.master_key, pan, Some(&card.psn))
            .ok()?;
        let ac = cvn.cryptogram(&mk, &input).ok()?;
        let list = vec![
            Tlv::primitive(0x9F26, ac.to_vec()),
            Tlv::primitive(0x9F27, vec![cid]),
            Tlv::primitive(0x9F10, input.iad.clone()),
            Tlv::primitive(0x9F37, input.unpredictable_number.to_vec()),
            Tlv::primitive(0x9F36, input.atc.to_vec()),
            Tlv::primitive(0x95, input.tvr.to_vec()),
            Tlv::primitive(0x9A, input.date.to_vec()),
            Tlv::primitive(0x9C, vec![input.txn_type]),
            Tlv::primitive(0x9F02, input.amount_authorised.to_vec()),
            Tlv::primitive(0x5F2A, input.currency.to_vec()),
            Tlv::primitive(0x82, input.aip.to_vec()),
            Tlv::primitive(0x9F1A, input.terminal_country.to_vec()),
            Tlv::primitive(0x9F03, input.amount_other.to_vec()),
            Tlv::primitive(0x5F34, vec![psn]),
        ];
        Some(tlv::encode_all(&list))
    }
}

/// A PIN block as the PIN pad simulator makes it: ISO 9564 format 0 under
/// the TDES DUKPT key of the test BDK's initial KSN with `counter` (1 for the
/// pad's first PIN). Returns the block and the 10-byte KSN; `None` for a bad
/// PIN, PAN or counter. For tests and the benchmark.
/// The PSN the cryptogram was made with: tag 5F34 in field 55, else field
/// 23 (three digits, the last two count), else the card's record.
fn card_psn(card: &IssuerCard, psn: Option<&str>, list: &[Tlv]) -> String {
    match tlv::find_bytes(list, 0x5F34) {
        Some([b]) => format!("{b:02X}"),
        _ => psn
            .and_then(|p| p.get(p.len().saturating_sub(2)..))
            .map_or_else(|| card.psn.clone(), str::to_owned),
    }
}

/// An issuer script command before its MAC: secure messaging class 84.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptCommand {
    /// Instruction: 1E APPLICATION BLOCK, 18 APPLICATION UNBLOCK, DA PUT
    /// DATA, 24 PIN CHANGE/UNBLOCK.
    pub ins: u8,
    /// Parameters (for PUT DATA, the tag).
    pub p1p2: [u8; 2],
    /// Command data before the MAC.
    pub data: Vec<u8>,
}

impl ScriptCommand {
    /// PUT DATA of one primitive data object (for example 9F23, the upper
    /// consecutive offline limit).
    pub fn put_data(tag: u16, value: Vec<u8>) -> ScriptCommand {
        ScriptCommand {
            ins: 0xDA,
            p1p2: tag.to_be_bytes(),
            data: value,
        }
    }

    /// The APDU with its 8-byte MAC: `mac(header, data)`, the header's Lc
    /// counting the MAC.
    fn with_mac(&self, mac: impl Fn([u8; 5], &[u8]) -> [u8; 8]) -> Vec<u8> {
        let lc = (self.data.len() + 8).min(255) as u8;
        let header = [0x84, self.ins, self.p1p2[0], self.p1p2[1], lc];
        let mut apdu = header.to_vec();
        apdu.extend_from_slice(&self.data);
        apdu.extend_from_slice(&mac(header, &self.data));
        apdu
    }
}

pub fn test_pin_block(pin: &str, pan: &str, counter: u32) -> Option<([u8; 8], Vec<u8>)> {
    use tillpoint_payment::pin::dukpt_tdes;
    let ipek = dukpt_tdes::derive_ipek(&TEST_TDES_BDK, &TEST_TDES_KSN);
    let ksn = dukpt_tdes::with_counter(&TEST_TDES_KSN, counter);
    let block = dukpt_tdes::encrypt_pin(&ipek, &ksn, pin, pan).ok()?;
    Some((block, ksn.to_vec()))
}

impl IssuerVerifier for EmvIssuer {
    fn verify_arqc(&self, pan: &str, psn: Option<&str>, icc: &[u8]) -> Result<bool, IssuerError> {
        let list = parse_icc(icc)?;
        let arqc: [u8; 8] = fixed(&list, 0x9F26, "9F26 (ARQC)")?;
        let (cvn, mk, input) = self.crypto_context(pan, psn, &list)?;
        let expected = cvn
            .cryptogram(&mk, &input)
            .map_err(|_| IssuerError::MissingTag("9F10 (IAD)"))?;
        // Compare every byte regardless of where they differ.
        Ok(expected
            .iter()
            .zip(arqc.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0)
    }

    fn make_arpc(
        &self,
        pan: &str,
        psn: Option<&str>,
        icc: &[u8],
        arc: [u8; 2],
    ) -> Result<Vec<u8>, IssuerError> {
        let list = parse_icc(icc)?;
        let arqc: [u8; 8] = fixed(&list, 0x9F26, "9F26 (ARQC)")?;
        let (cvn, mk, input) = self.crypto_context(pan, psn, &list)?;
        let auth = IssuerAuth {
            arc,
            approved: matches!(&arc, b"00" | b"08" | b"10" | b"11"),
        };
        Ok(cvn.issuer_authentication_data(&mk, &input, &arqc, auth))
    }

    fn scripts(&self, pan: &str, psn: Option<&str>, icc: &[u8]) -> Result<Vec<u8>, IssuerError> {
        let card = self.card(pan)?;
        if card.scripts.is_empty() {
            return Ok(Vec::new());
        }
        let list = parse_icc(icc)?;
        let arqc: [u8; 8] = fixed(&list, 0x9F26, "9F26 (ARQC)")?;
        let (cvn, _, input) = self.crypto_context(pan, psn, &list)?;
        let smi = cvn
            .icc_master_key(&card.script_key, pan, Some(&card_psn(card, psn, &list)))
            .map_err(|_| IssuerError::UnknownCard)?;
        let commands = card
            .scripts
            .iter()
            .map(|c| {
                let apdu =
                    c.with_mac(|header, data| cvn.script_mac(&smi, input.atc, &arqc, header, data));
                Tlv::primitive(0x86, apdu)
            })
            .collect();
        Ok(Tlv::constructed(0x72, commands).to_bytes())
    }

    fn recover_pin(
        &self,
        pan: &str,
        pin_block: &[u8],
        ksn: &[u8],
    ) -> Result<Zeroizing<String>, IssuerError> {
        let format = match (pin_block.len(), ksn.len()) {
            (8, 10) => PinBlockFormat::Iso0TdesDukpt,
            (16, 12) => PinBlockFormat::Iso4AesDukpt,
            _ => return Err(IssuerError::BadPinBlock("block or KSN length")),
        };
        let encrypted = EncryptedPin::new(pin_block.to_vec(), ksn.to_vec(), format)
            .map_err(|_| IssuerError::BadPinBlock("block or KSN length"))?;
        pin::recover_pin(&self.bdks, &encrypted, pan)
            .map_err(|_| IssuerError::BadPinBlock("does not decrypt to a PIN block for this PAN"))
    }

    fn pin_matches(&self, pan: &str, pin: &str) -> bool {
        let expected = self.cards.get(pan).map_or(DEFAULT_PIN, |c| c.pin.as_str());
        expected.len() == pin.len()
            && expected
                .bytes()
                .zip(pin.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::{sample_purchase, ScriptedCardholder, VirtualCard};
    use tillpoint_payment::emv::kernel::{Decision, HostResponse, Kernel};
    use tillpoint_payment::emv::TerminalConfig;

    const VISA: &str = "4761739001010010";
    const UNIONPAY: &str = "6212345678901232";

    #[test]
    fn knows_every_virtual_card() {
        let issuer = EmvIssuer::test_cards();
        for p in profile::all() {
            for app in p.apps {
                assert!(issuer.knows(&app.pan), "{}", p.name);
            }
        }
        assert!(!issuer.knows("4111111111111111"));
        assert!(!format!("{issuer:?}").contains(VISA));
    }

    #[test]
    fn arqc_verifies_and_tampering_is_caught() {
        let issuer = EmvIssuer::test_cards();
        for pan in [VISA, UNIONPAY] {
            let icc = issuer.icc_for(pan, 2500, 17).unwrap();
            assert!(issuer.verify_arqc(pan, Some("001"), &icc).unwrap(), "{pan}");
            // Amount changed after the card signed it.
            let mut list = tlv::parse_all(&icc).unwrap();
            for t in list.iter_mut() {
                if t.tag.0 == 0x9F02 {
                    *t = Tlv::primitive(0x9F02, super::super::bcd12(2600).to_vec());
                }
            }
            assert!(!issuer
                .verify_arqc(pan, None, &tlv::encode_all(&list))
                .unwrap());
        }
        // Another card's chip data, and a card without keys.
        let icc = issuer.icc_for(VISA, 100, 1).unwrap();
        assert!(!issuer.verify_arqc("4761739001010119", None, &icc).unwrap());
        assert_eq!(
            issuer.verify_arqc("4111111111111111", None, &icc),
            Err(IssuerError::UnknownCard)
        );
        assert_eq!(
            issuer.verify_arqc(VISA, None, &[0x9F, 0x27, 0x01, 0x80]),
            Err(IssuerError::MissingTag("9F26 (ARQC)"))
        );
        assert_eq!(
            issuer.verify_arqc(VISA, None, &[0x9F, 0x26, 0x08, 1]),
            Err(IssuerError::BadTlv)
        );
    }

    /// The real kernel against the virtual card: the issuer verifies the
    /// card's own ARQC and the card accepts the issuer's ARPC.
    #[test]
    fn virtual_card_and_issuer_agree() {
        let issuer = EmvIssuer::test_cards();
        for name in ["visa-online-pin", "unionpay-online-pin"] {
            let p = profile::by_name(name).unwrap();
            let mut card = VirtualCard::new(&p);
            let cfg = TerminalConfig::default();
            let mut kernel = Kernel::new(&mut card, &cfg);
            let mut out = kernel
                .start(&sample_purchase(25_00), &mut ScriptedCardholder::default())
                .unwrap();
            assert_eq!(out.decision, Decision::GoOnline, "{name}");
            let secrets = out.take_card_secrets().unwrap();
            let online = out.online.clone().unwrap();
            let psn = secrets.pan_sequence.clone().map(|p| format!("0{p}"));
            assert!(
                issuer
                    .verify_arqc(&secrets.pan, psn.as_deref(), &online.field55)
                    .unwrap(),
                "{name}: ARQC"
            );
            let iad = issuer
                .make_arpc(&secrets.pan, psn.as_deref(), &online.field55, *b"00")
                .unwrap();
            let done = kernel
                .complete(HostResponse::Answered {
                    arc: *b"00",
                    auth_code: Some("123456".into()),
                    issuer_auth_data: Some(iad),
                    scripts: Vec::new(),
                })
                .unwrap();
            assert_eq!(done.decision, Decision::ApprovedOnline, "{name}");
        }
    }

    #[test]
    fn pin_blocks_from_the_pad_keys_are_recovered() {
        let issuer = EmvIssuer::test_cards().with_pin(UNIONPAY, "987654");
        let (block, ksn) = test_pin_block("1234", VISA, 1).unwrap();
        let pin = issuer.recover_pin(VISA, &block, &ksn).unwrap();
        assert!(issuer.pin_matches(VISA, &pin));
        assert!(!issuer.pin_matches(UNIONPAY, &pin));
        // Another PAN does not decode the block to a valid format 0 block
        // with this PIN, or gives a different one.
        assert!(issuer
            .recover_pin(UNIONPAY, &block, &ksn)
            .map(|p| !issuer.pin_matches(UNIONPAY, &p))
            .unwrap_or(true));
        let (block, ksn) = test_pin_block("987654", UNIONPAY, 7).unwrap();
        let pin = issuer.recover_pin(UNIONPAY, &block, &ksn).unwrap();
        assert!(issuer.pin_matches(UNIONPAY, &pin));
        assert!(issuer.recover_pin(VISA, &block[..7], &ksn).is_err());
        assert!(issuer.recover_pin(VISA, &block, &ksn[..9]).is_err());
    }

    /// The AES DUKPT path (ISO 9564 format 4 under the X9.24-3 test BDK),
    /// for a profile that carries 16-byte blocks.
    #[test]
    fn aes_dukpt_blocks_are_recovered() {
        use crate::pinpad::TEST_AES_IKID;
        use tillpoint_payment::pin::dukpt_aes;
        let issuer = EmvIssuer::test_cards();
        let ik = dukpt_aes::derive_initial_key(&TEST_AES_BDK, &TEST_AES_IKID);
        let ksn = dukpt_aes::make_ksn(&TEST_AES_IKID, 1);
        let block = dukpt_aes::encrypt_pin(&ik, &ksn, "1234", VISA, &[7; 8]).unwrap();
        let pin = issuer.recover_pin(VISA, &block, &ksn).unwrap();
        assert_eq!(pin.as_str(), "1234");
    }
}
