//! The contactless kernels, as far as the schemes' specifications are
//! public (EMV Contactless Books C-2, C-3 and C-7): after the entry point
//! has selected a combination, a tap is one pass over the card with no
//! second GENERATE AC.
//!
//! - The quick-chip kind (kernel 3, Visa qVSDC; kernel 7, UnionPay qPBOC):
//!   the card answers GPO with its cryptogram (9F26/9F27/9F36/9F10) and its
//!   card transaction qualifiers (9F6C); the records give the PAN and the
//!   certificates. A TC is only accepted after fDDA (version 01: the
//!   signed dynamic data 9F4B covers the unpredictable number, the amount,
//!   the currency and the card authentication related data 9F69).
//! - The Mastercard kind (kernel 2): GPO and records as on a contact card,
//!   then one GENERATE AC with CDA asked for.
//!
//! In both the card may leave the field once it has been read
//! ([`Cardholder::card_read`]); an online PIN is collected after that, and
//! the host's answer is the decision ([`Kernel::complete`]). Simplifications
//! against the full books are listed in the README's contactless section.

use super::super::apdu::{ApduError, ChannelError};
use super::super::entry::{self, Indicators, KernelKind, Selection, SwitchReason, TapOutcome};
use super::*;

/// CVM results 9F34 (Book 3, Annex C3; Book C-2 for the consumer device).
const CVM_RESULTS_NO_CVM: [u8; 3] = [0x1F, 0x00, 0x02];
const CVM_RESULTS_ONLINE_PIN: [u8; 3] = [0x02, 0x00, 0x00];
const CVM_RESULTS_SIGNATURE: [u8; 3] = [0x1E, 0x00, 0x00];
const CVM_RESULTS_CDCVM: [u8; 3] = [0x01, 0x00, 0x02];
const CVM_RESULTS_FAILED: [u8; 3] = [0x3F, 0x00, 0x01];

/// Card transaction qualifiers (9F6C) bits the kernel reads.
mod ctq {
    use super::Bit;
    /// Online PIN required.
    pub const ONLINE_PIN: Bit = (0, 0x80);
    /// Signature required.
    pub const SIGNATURE: Bit = (0, 0x40);
    /// Switch interface if offline data authentication fails.
    pub const SWITCH_IF_ODA_FAILS: Bit = (0, 0x10);
    /// Consumer device CVM performed.
    pub const CDCVM_PERFORMED: Bit = (1, 0x80);
}

/// Terminal transaction qualifiers (9F66) bits the kernel reads.
mod ttq {
    use super::Bit;
    /// EMV contact chip supported (the reader can ask for the chip).
    pub const CONTACT_CHIP: Bit = (0, 0x10);
    /// Online PIN supported.
    pub const ONLINE_PIN: Bit = (0, 0x04);
    /// Signature supported.
    pub const SIGNATURE: Bit = (0, 0x02);
    /// Consumer device CVM supported.
    pub const CDCVM: Bit = (2, 0x40);
}

/// What the CVM step decided before the card leaves the field; the PIN
/// itself is asked for afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TapCvm {
    None,
    ConsumerDevice,
    OnlinePin,
    Signature,
    Failed,
}

impl<'c, C: CardChannel> Kernel<'c, C> {
    /// Runs a tap: the entry point, then the kernel its combination names,
    /// up to the card's decision. A [`KernelError::Tap`] asks the customer
    /// for something else (insert the card, present one card, see phone);
    /// a transport error during the tap means the card left too early.
    pub fn tap(
        &mut self,
        txn: &TransactionInput,
        cardholder: &mut dyn Cardholder,
    ) -> Result<Outcome, KernelError> {
        if self.phase != Phase::Idle {
            return Err(KernelError::Input(
                "kernel already used for a transaction".into(),
            ));
        }
        self.phase = Phase::Done;
        self.txn = Some(txn.clone());
        let combination = match entry::select_combination(&mut self.apdu, self.cfg, txn.amount) {
            Ok(Selection::Found(c)) => c,
            Ok(Selection::Outcome(o)) => return Err(KernelError::Tap(o)),
            Err(ApduError::Channel(ChannelError::Collision)) => {
                return Err(KernelError::Tap(TapOutcome::PresentOneCard))
            }
            Err(e) => return Err(e.into()),
        };
        self.reset_data(txn, &combination.selected)?;
        let mut ind = combination.indicators;
        if txn.force_online {
            // At the till's offline caps the card must ask to go online.
            ind.online_required = true;
            ind.ttq[1] |= 0x80;
        }
        // Contactless chip (Book A, 5.4: 07) and the reader's own limits.
        self.data.set(tags::POS_ENTRY_MODE, vec![0x07]);
        self.data.set(tags::TTQ, ind.ttq.to_vec());
        if let Some(app) = self
            .cfg
            .applications
            .get(combination.selected.candidate.config_index)
        {
            let floor = u32::try_from(app.contactless_floor_limit).unwrap_or(u32::MAX);
            self.data
                .set(tags::FLOOR_LIMIT, floor.to_be_bytes().to_vec());
        }
        self.contactless = Some(combination.kernel);
        self.selected = Some(combination.selected);
        match combination.kernel {
            KernelKind::Visa | KernelKind::UnionPay => self.quick_chip(txn, &ind, cardholder),
            KernelKind::Mastercard => self.mastercard_kind(txn, &ind, cardholder),
        }
    }

    /// GET PROCESSING OPTIONS for a tap; 6984/6985/6986 end it with an
    /// outcome.
    fn tap_gpo(&mut self) -> Result<Vec<u8>, KernelError> {
        let pdol_bytes = self
            .selected
            .as_ref()
            .map(|s| s.pdol.clone())
            .unwrap_or_default();
        let pdol = dol::parse(&pdol_bytes)?;
        let pdol_data = dol::build(&pdol, &self.data);
        self.pdol_data = pdol_data.clone();
        let resp = self
            .apdu
            .exchange(&Command::get_processing_options(&pdol_data))?;
        if let Some(outcome) = entry::gpo_outcome(resp.sw) {
            return Err(KernelError::Tap(outcome));
        }
        expect_ok(resp, "GET PROCESSING OPTIONS")
    }

    // -- the quick-chip kind (qVSDC, qPBOC) -------------------------------------

    fn quick_chip(
        &mut self,
        txn: &TransactionInput,
        ind: &Indicators,
        cardholder: &mut dyn Cardholder,
    ) -> Result<Outcome, KernelError> {
        // The TVR the card's cryptogram covers is the one in the PDOL: it is
        // the one the host gets, whatever the reader notes afterwards.
        let sent_tvr = self.tvr;
        let gpo = self.tap_gpo()?;
        let t = tlv::parse_one(&gpo)?;
        if t.tag.0 != tags::RESPONSE_FORMAT_2 {
            return Err(KernelError::CardData(
                "a quick-chip GPO answer must be template 77".into(),
            ));
        }
        let mut r = quick_cryptogram(&t)?;
        let afl = self.parse_gpo(&gpo)?;
        self.read_records(&afl)?;
        cardholder.card_read();
        for tag in [tags::PAN, tags::EXPIRY_DATE] {
            if !self.data.has(tag) {
                return Err(missing(tag));
            }
        }
        self.record_cryptogram(&r);
        self.set_tsi(tsi::CARD_RISK);
        let ctq: [u8; 2] = arr(self.data.get(tags::CTQ)).unwrap_or([0; 2]);
        let expired = self.tap_expired(txn)?;
        if r.kind == CryptogramType::Tc && ind.online_required {
            // Book C-3: an offline approval the reader did not allow.
            tracing::info!("card approved offline above the contactless floor limit; declined");
            r.kind = CryptogramType::Aac;
        }
        let cvm = if r.kind == CryptogramType::Aac {
            TapCvm::None
        } else {
            self.quick_cvm(ind, ctq, r.kind)
        };
        if r.kind == CryptogramType::Tc {
            if expired {
                r.kind = CryptogramType::Aac;
            } else if let Err(reason) = self.fdda() {
                tracing::info!(%reason, "fDDA failed");
                self.set_tvr(tvr::DDA_FAILED);
                if reason.missing_data {
                    self.set_tvr(tvr::ICC_DATA_MISSING);
                }
                if has_bit(&ctq, ctq::SWITCH_IF_ODA_FAILS) && has_bit(&ind.ttq, ttq::CONTACT_CHIP) {
                    return Err(KernelError::Tap(TapOutcome::TryAnotherInterface(
                        SwitchReason::CardAsked,
                    )));
                }
                r.kind = CryptogramType::Aac;
            } else {
                self.set_tsi(tsi::ODA);
            }
        }
        self.tap_decision(txn, r, cvm, cardholder, Some(sent_tvr))
    }

    /// Book C-3 / C-7 CVM by the card's qualifiers: the phone's own check
    /// first, then online PIN (online only), then signature.
    fn quick_cvm(&mut self, ind: &Indicators, ctq: [u8; 2], kind: CryptogramType) -> TapCvm {
        let ttq = ind.ttq;
        let online = kind == CryptogramType::Arqc;
        if has_bit(&ctq, ctq::CDCVM_PERFORMED) && has_bit(&ttq, ttq::CDCVM) {
            return TapCvm::ConsumerDevice;
        }
        let pin_possible = online && has_bit(&ttq, ttq::ONLINE_PIN);
        if has_bit(&ctq, ctq::ONLINE_PIN) && pin_possible {
            return TapCvm::OnlinePin;
        }
        if !ind.cvm_required {
            return TapCvm::None;
        }
        if has_bit(&ctq, ctq::SIGNATURE) && has_bit(&ttq, ttq::SIGNATURE) {
            return TapCvm::Signature;
        }
        if pin_possible {
            return TapCvm::OnlinePin;
        }
        TapCvm::Failed
    }

    /// fDDA version 01 (VCPS, qPBOC): the SDAD from the GPO answer under
    /// the ICC key, its hash over the ICC dynamic data and the terminal's
    /// unpredictable number, amount and currency and the card's 9F69.
    fn fdda(&mut self) -> Result<(), OdaFailure> {
        if self.aip[0] & 0x20 == 0 {
            return Err(OdaFailure::new("card does not support fDDA"));
        }
        let icc = self.icc_public_key(self.today()?)?;
        let sdad = self
            .data
            .get(tags::SDAD)
            .ok_or(OdaFailure::missing("signed dynamic data 9F4B"))?;
        let auth = self
            .data
            .get(tags::CARD_AUTH_DATA)
            .ok_or(OdaFailure::missing("card authentication related data 9F69"))?;
        if auth.first() != Some(&0x01) {
            return Err(OdaFailure::new("fDDA version is not 01"));
        }
        let x = icc
            .recover(sdad)
            .ok_or(OdaFailure::new("SDAD length/RSA"))?;
        let n = x.len();
        check_frame(&x, 0x05)?;
        if x.get(2) != Some(&0x01) {
            return Err(OdaFailure::new("unknown hash algorithm"));
        }
        let mut hashed = x.get(1..n - 21).unwrap_or(&[]).to_vec();
        for tag in [
            tags::UNPREDICTABLE_NUMBER,
            tags::AMOUNT_AUTHORISED,
            tags::TXN_CURRENCY,
        ] {
            hashed.extend_from_slice(self.data.get(tag).unwrap_or(&[]));
        }
        hashed.extend_from_slice(auth);
        check_hash(&x, &hashed)?;
        let ldd = usize::from(*x.get(3).unwrap_or(&0));
        if let Some((len, rest)) = x.get(4..4 + ldd).and_then(<[u8]>::split_first) {
            if let Some(num) = rest.get(..usize::from(*len)) {
                self.data.set(tags::ICC_DYNAMIC_NUMBER, num.to_vec());
            }
        }
        Ok(())
    }

    // -- the Mastercard kind ----------------------------------------------------

    fn mastercard_kind(
        &mut self,
        txn: &TransactionInput,
        ind: &Indicators,
        cardholder: &mut dyn Cardholder,
    ) -> Result<Outcome, KernelError> {
        let gpo = self.tap_gpo()?;
        let afl = self.parse_gpo(&gpo)?;
        self.read_records(&afl)?;
        for tag in [tags::EXPIRY_DATE, tags::PAN, tags::CDOL1] {
            if !self.data.has(tag) {
                return Err(missing(tag));
            }
        }
        self.offline_data_authentication()?;
        self.processing_restrictions(txn)?;
        let cvm = self.mastercard_cvm(txn, ind);
        if ind.online_required {
            self.set_tvr(tvr::FLOOR_LIMIT);
        }
        if txn.force_online {
            self.set_tvr(tvr::MERCHANT_FORCED);
        }
        self.set_tsi(tsi::TERMINAL_RISK);
        let wanted = self.terminal_action_analysis();
        self.set_tsi(tsi::CARD_RISK);
        let mut r = self.generate_ac(wanted, tags::CDOL1)?;
        cardholder.card_read();
        if r.cda_failed {
            r.kind = CryptogramType::Aac;
        }
        self.tap_decision(txn, r, cvm, cardholder, None)
    }

    /// Book C-2 CVM: nothing below the CVM required limit; above it the
    /// phone's own check when the card offers it (AIP byte 1 bit 2), else
    /// the CVM list, whose online PIN is collected after the card is read.
    fn mastercard_cvm(&mut self, txn: &TransactionInput, ind: &Indicators) -> TapCvm {
        self.set_tsi(tsi::CVM);
        if !ind.cvm_required {
            return TapCvm::None;
        }
        if self.aip[0] & 0x02 != 0 && has_bit(&ind.ttq, ttq::CDCVM) {
            return TapCvm::ConsumerDevice;
        }
        let list = self.data.get(tags::CVM_LIST).and_then(CvmList::parse);
        let Some(list) = list else {
            self.set_tvr(tvr::ICC_DATA_MISSING);
            return TapCvm::Failed;
        };
        let ctx = CvmContext {
            amount: txn.amount,
            txn_currency: txn.currency,
            app_currency: self.data.get(tags::APP_CURRENCY).and_then(bcd_value),
            txn_type: txn.txn_type,
            capabilities: arr(Some(&self.cfg.capabilities)).unwrap_or([0; 3]),
            unattended: is_unattended(self.cfg.terminal_type),
        };
        // Online PIN counts as possible here; it is asked for once the
        // card has left the field.
        let result = evaluate_cvm(&list, &ctx, &mut |method| match method {
            CvmMethod::Fail => CvmAttempt::Failed,
            _ => CvmAttempt::Succeeded,
        });
        for bit in &result.tvr_bits {
            self.set_tvr(*bit);
        }
        match result.performed {
            CvmPerformed::OnlinePin => TapCvm::OnlinePin,
            CvmPerformed::Signature => TapCvm::Signature,
            CvmPerformed::NoCvm => TapCvm::None,
            _ => TapCvm::Failed,
        }
    }

    // -- shared ending ------------------------------------------------------------

    /// Expiry for a tap (Book C-3: an expired card is not approved
    /// offline); sets the TVR bit.
    fn tap_expired(&mut self, txn: &TransactionInput) -> Result<bool, KernelError> {
        let exp = self
            .data
            .get(tags::EXPIRY_DATE)
            .ok_or_else(|| missing(tags::EXPIRY_DATE))?;
        let exp = TxnDate::from_bcd(exp)
            .ok_or_else(|| KernelError::CardData("invalid expiry date".into()))?;
        let expired = txn.date > exp;
        if expired {
            self.set_tvr(tvr::EXPIRED);
        }
        Ok(expired)
    }

    fn record_cryptogram(&mut self, r: &GenAcResponse) {
        self.data.set(tags::CID, vec![r.cid]);
        self.data.set(tags::ATC, r.atc.to_be_bytes().to_vec());
        self.data.set(tags::AC, r.ac.to_vec());
        if let Some(iad) = &r.iad {
            self.data.set(tags::IAD, iad.clone());
        }
    }

    /// Applies the CVM (asking for the PIN now that the card has gone) and
    /// turns the cryptogram into the tap's decision. `sent_tvr`: the TVR
    /// the cryptogram covers, for field 55 (the receipt shows the reader's
    /// full TVR).
    fn tap_decision(
        &mut self,
        txn: &TransactionInput,
        mut r: GenAcResponse,
        cvm: TapCvm,
        cardholder: &mut dyn Cardholder,
        sent_tvr: Option<[u8; 5]>,
    ) -> Result<Outcome, KernelError> {
        let (results, performed) = match cvm {
            TapCvm::None => (CVM_RESULTS_NO_CVM, CvmPerformed::NoCvm),
            TapCvm::ConsumerDevice => (CVM_RESULTS_CDCVM, CvmPerformed::ConsumerDevice),
            TapCvm::Signature => (CVM_RESULTS_SIGNATURE, CvmPerformed::Signature),
            TapCvm::OnlinePin => (CVM_RESULTS_ONLINE_PIN, CvmPerformed::OnlinePin),
            TapCvm::Failed => (CVM_RESULTS_FAILED, CvmPerformed::Failed),
        };
        self.cvm_results = results;
        self.cvm = performed;
        self.signature_required = cvm == TapCvm::Signature;
        self.set_tsi(tsi::CVM);
        if cvm == TapCvm::Failed {
            self.set_tvr(tvr::CV_FAILED);
            r.kind = CryptogramType::Aac;
        }
        if cvm == TapCvm::OnlinePin && r.kind == CryptogramType::Arqc {
            let pan = self.pan_digits();
            let masked = mask_pan(&pan);
            let req = PinRequest {
                amount: txn.amount,
                currency: txn.currency,
                masked_pan: &masked,
                pan: &pan,
            };
            match cardholder.online_pin(&req) {
                PinEntry::Entered => {
                    self.pin_entered = true;
                    self.set_tvr(tvr::ONLINE_PIN_ENTERED);
                }
                PinEntry::Cancelled => return Err(KernelError::Cancelled),
                PinEntry::Bypassed => {
                    self.set_tvr(tvr::PIN_NOT_ENTERED);
                    self.cvm_results = CVM_RESULTS_FAILED;
                    self.cvm = CvmPerformed::Failed;
                    r.kind = CryptogramType::Aac;
                }
                PinEntry::PadUnavailable => {
                    self.set_tvr(tvr::PIN_PAD_MISSING);
                    self.cvm_results = CVM_RESULTS_FAILED;
                    self.cvm = CvmPerformed::Failed;
                    r.kind = CryptogramType::Aac;
                }
            }
        }
        self.sync();
        if let Some(t) = sent_tvr {
            self.data.set(tags::TVR, t.to_vec());
        }
        let outcome = self.first_ac_outcome(&r);
        self.tap_ac = Some(r);
        Ok(outcome)
    }

    /// A tap's completion: no second GENERATE AC, the host decides; with no
    /// host a tap is declined (no card is there to approve it offline).
    pub(super) fn complete_tap(&mut self, host: HostResponse) -> Result<Outcome, KernelError> {
        let r = self.tap_ac.clone().ok_or(KernelError::NotAwaitingHost)?;
        let (decision, arc, auth_code) = match host {
            HostResponse::Answered { arc, auth_code, .. } => {
                if let Some(code) = &auth_code {
                    self.data.set(tags::AUTH_CODE, code.as_bytes().to_vec());
                }
                let approved = matches!(&arc, b"00" | b"08" | b"10" | b"11");
                let decision = if approved {
                    Decision::ApprovedOnline
                } else {
                    Decision::DeclinedByIssuer
                };
                (decision, arc, auth_code)
            }
            HostResponse::Unavailable => (Decision::DeclinedUnableToGoOnline, *b"Z3", None),
        };
        self.data.set(tags::ARC, arc.to_vec());
        let field55 = self.field55();
        Ok(self.outcome(decision, &r, arc, auth_code, None, field55, Vec::new()))
    }
}

/// The cryptogram a quick-chip card put in its GPO answer.
fn quick_cryptogram(t: &Tlv) -> Result<GenAcResponse, KernelError> {
    let cid =
        arr::<1>(t.find(tags::CID).and_then(Tlv::bytes)).ok_or_else(|| missing(tags::CID))?[0];
    let atc = arr::<2>(t.find(tags::ATC).and_then(Tlv::bytes)).ok_or_else(|| missing(tags::ATC))?;
    let ac = arr::<8>(t.find(tags::AC).and_then(Tlv::bytes)).ok_or_else(|| missing(tags::AC))?;
    let iad = t
        .find(tags::IAD)
        .and_then(Tlv::bytes)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| missing(tags::IAD))?;
    let kind = CryptogramType::from_cid(cid).ok_or_else(|| {
        KernelError::CardData(format!("cryptogram information data {cid:02X} is RFU"))
    })?;
    Ok(GenAcResponse {
        cid,
        kind,
        atc: u16::from_be_bytes(atc),
        ac,
        iad: Some(iad),
        sdad: None,
        unsigned: Vec::new(),
        cda_failed: false,
    })
}
