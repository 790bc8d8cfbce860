//! The virtual card's contactless side: the PPSE directory and the GPO of
//! a tapped application. A quick-chip application (qVSDC, qPBOC) decides
//! in its GPO answer: it reads the TTQ, computes its cryptogram by its
//! CVN, sets its card transaction qualifiers and, for an offline approval,
//! signs fDDA version 01 dynamic data. A Mastercard-kind application
//! answers GPO as a contact card does and decides at GENERATE AC.

use tillpoint_payment::emv::dol;
use tillpoint_payment::emv::entry::PPSE;
use tillpoint_payment::emv::tlv::{self, Tlv};

use super::keys::{self, TestKey};
use super::profile::{CardPolicy, TapKind};
use super::Phase;
use super::{bcd_to_u64, tlv_p, VirtualCard, SW_OK, SW_WRONG_LENGTH};

/// GPO "try another interface" (Book C-3).
const SW_TRY_ANOTHER_INTERFACE: [u8; 2] = [0x69, 0x84];
/// GPO "see phone" (conditions of use not satisfied).
const SW_SEE_PHONE: [u8; 2] = [0x69, 0x86];

impl VirtualCard {
    /// The PPSE FCI: one directory entry per application (ADF name,
    /// label, priority, kernel identifier when the profile names one).
    pub(super) fn ppse_fci(&self) -> Vec<u8> {
        let entries = self.directory_entries(true);
        Tlv::constructed(
            0x6F,
            vec![
                tlv_p(0x84, PPSE.to_vec()),
                Tlv::constructed(0xA5, vec![Tlv::constructed(0xBF0C, entries)]),
            ],
        )
        .to_bytes()
    }

    /// GPO of a tapped application; `None` lets a Mastercard-kind
    /// application answer as a contact card does.
    pub(super) fn tap_gpo(
        &mut self,
        i: usize,
        cmd: &tillpoint_payment::emv::apdu::Command,
    ) -> Option<(Vec<u8>, [u8; 2])> {
        let app = self.apps.get(i)?.clone();
        let tap = app.p.contactless.clone()?;
        let pdol = dol::parse(&app.p.pdol).unwrap_or_default();
        let data = tlv::parse_one(&cmd.data)
            .ok()
            .filter(|t| t.tag.0 == 0x83)
            .and_then(|t| t.bytes().map(<[u8]>::to_vec));
        let Some(data) = data.filter(|d| d.len() == app.pdol_len) else {
            return Some((Vec::new(), SW_WRONG_LENGTH));
        };
        let fields = dol::split(&pdol, &data).unwrap_or_default();
        let value = |tag: u32| {
            fields
                .iter()
                .find(|(t, _)| t.0 == tag)
                .map(|(_, v)| v.to_vec())
        };
        // Without a PDOL TTQ (the Mastercard kind) the reader's CVM limit
        // shows in the CVM list processing instead.
        let ttq = value(0x9F66).unwrap_or_default();
        let ttq_bit = |byte: usize, mask: u8| ttq.get(byte).is_some_and(|b| b & mask != 0);
        let cvm_required = ttq_bit(1, 0x40);
        if tap.exhausted {
            return Some((Vec::new(), SW_TRY_ANOTHER_INTERFACE));
        }
        if tap.phone && cvm_required && !self.unlocked {
            // The owner is asked to unlock the phone, which verifies them.
            self.unlocked = true;
            return Some((Vec::new(), SW_SEE_PHONE));
        }
        if tap.kind == TapKind::Mastercard {
            return None;
        }
        let amount = value(0x9F02).map(|v| bcd_to_u64(&v)).unwrap_or(0);
        self.amount = amount;
        let online_required = ttq_bit(1, 0x80);
        let cdcvm = tap.phone && self.unlocked && cvm_required && ttq_bit(2, 0x40);
        // Card transaction qualifiers: the CVM the card wants.
        let mut ctq = [0u8, 0u8];
        if cdcvm {
            ctq[1] |= 0x80;
        } else if cvm_required && ttq_bit(0, 0x04) {
            ctq[0] |= 0x80;
        } else if cvm_required {
            ctq[0] |= 0x40;
        }
        let kind = match app.p.policy {
            CardPolicy::Decline => 0x00,
            _ if online_required || ctq[0] & 0x80 != 0 => 0x80,
            CardPolicy::OfflineUpTo(limit) if amount <= limit => 0x40,
            _ => 0x80,
        };
        if let Some(atc) = self.atc.get_mut(i) {
            *atc = atc.wrapping_add(1);
        }
        let atc = self.atc.get(i).copied().unwrap_or(0);
        let type_bits = match kind {
            0x40 => 1,
            0x80 => 2,
            _ => 0,
        };
        let cvn = app.p.cvn;
        let iad = cvn.iad(app.p.dki, &self.cvr(cvn, type_bits, 0b10));
        let Some(input) = super::cryptogram_input(&fields, &app.aip, atc, &iad) else {
            return Some((Vec::new(), SW_WRONG_LENGTH));
        };
        let Ok(ac) = cvn.cryptogram(&app.icc_mk, &input) else {
            return Some((Vec::new(), SW_WRONG_LENGTH));
        };
        let mut body = vec![
            tlv_p(0x82, app.aip.to_vec()),
            tlv_p(0x94, app.afl.clone()),
            tlv_p(0x9F27, vec![kind]),
            tlv_p(0x9F36, atc.to_be_bytes().to_vec()),
            tlv_p(0x9F26, ac.to_vec()),
            tlv_p(0x9F10, iad),
            tlv_p(0x9F6C, ctq.to_vec()),
        ];
        if tap.phone {
            // Form factor indicator: a mobile phone, consumer device CVM.
            body.push(tlv_p(0x9F6E, vec![0x23, 0x80, 0x00, 0x00]));
        }
        if kind == 0x40 {
            body.extend(self.fdda(atc, &input.unpredictable_number, &fields, ctq));
        }
        self.phase = Phase::Done;
        self.script_context = Some((atc.to_be_bytes(), ac));
        Some((Tlv::constructed(0x77, body).to_bytes(), SW_OK))
    }

    /// fDDA version 01: card authentication related data 9F69 (version,
    /// card unpredictable number, CTQ) and the SDAD over the ICC dynamic
    /// number and the terminal's UN, amount, currency and the 9F69 value.
    fn fdda(&self, atc: u16, un: &[u8; 4], fields: &[(tlv::Tag, &[u8])], ctq: [u8; 2]) -> Vec<Tlv> {
        let value = |tag: u32| {
            fields
                .iter()
                .find(|(t, _)| t.0 == tag)
                .map(|(_, v)| v.to_vec())
                .unwrap_or_default()
        };
        let card_un: Vec<u8> = atc
            .to_be_bytes()
            .iter()
            .chain(un.iter())
            .take(4)
            .map(|b| b ^ 0x3C)
            .collect();
        let mut auth = vec![0x01];
        auth.extend_from_slice(&card_un);
        auth.extend_from_slice(&ctq);
        let mut terminal = un.to_vec();
        terminal.extend(value(0x9F02));
        terminal.extend(value(0x5F2A));
        terminal.extend_from_slice(&auth);
        let mut dynamic = atc.to_be_bytes().to_vec();
        dynamic.extend_from_slice(&card_un);
        let sdad = keys::signed_dynamic_data(&TestKey::icc(), &dynamic, &terminal);
        vec![tlv_p(0x9F69, auth), tlv_p(0x9F4B, sdad)]
    }
}
