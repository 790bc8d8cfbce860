//! The contactless entry point (EMV Contactless Book B): pre-processing of
//! the reader's limits per AID, combination selection from the PPSE
//! (2PAY.SYS.DDF01) and the final SELECT, up to the point where a kernel
//! (the Visa kind, UnionPay's, the Mastercard kind) takes over.
//!
//! Everything that ends a tap without a card decision is a [`TapOutcome`]:
//! each asks the customer for something different (insert the card, present
//! one card, look at the phone), so the till translates by variant.

use thiserror::Error;

use super::apdu::{Apdu, CardChannel, Command, StatusWord};
use super::config::{ApplicationConfig, TerminalConfig};
use super::select::{self, Candidate, Selected};
use super::tags;
use super::tlv::{self, Tlv};

/// Name of the proximity payment system environment.
pub const PPSE: &[u8] = b"2PAY.SYS.DDF01";

/// The ATR the virtual contactless reader shows when two cards are in its
/// field: the PC/SC contactless form (3B 8n 80 01, historical bytes, TCK)
/// with the historical bytes "TWOCARDS". A real reader's firmware resolves
/// (or reports in its own way) a collision; this is the simulator's
/// documented stand-in, which the till's reader source turns into
/// [`ChannelError::Collision`](super::apdu::ChannelError::Collision).
pub const SIMULATED_COLLISION_ATR: &[u8] = &[
    0x3B, 0x88, 0x80, 0x01, b'T', b'W', b'O', b'C', b'A', b'R', b'D', b'S', 0x02,
];

/// Whether an ATR is the one a PC/SC contactless reader makes up for an
/// ISO 14443-4 card (PC/SC Part 3, 3.1.3.2.3: TS 3B, T0 8n, TD1 80, TD2
/// 01, then the historical bytes and TCK): a contact card's ATR comes from
/// the card itself and does not take this form.
pub fn is_contactless_atr(atr: &[u8]) -> bool {
    matches!(atr, [0x3B, t0, 0x80, 0x01, ..] if t0 & 0xF0 == 0x80 && atr.len() == 5 + usize::from(t0 & 0x0F))
}

/// Directory entries read from the PPSE at most; real cards list 1-4.
const MAX_ENTRIES: usize = 16;

/// The contactless kernels this till has (Book B, 3.3.2.5 kernel IDs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelKind {
    /// Kernel 2, the Mastercard kind: records, one GENERATE AC with CDA.
    Mastercard,
    /// Kernel 3, the Visa kind (qVSDC): the cryptogram in the GPO answer,
    /// fDDA for an offline approval.
    Visa,
    /// Kernel 7, UnionPay QuickPass (qPBOC): the same shape as qVSDC.
    UnionPay,
}

impl KernelKind {
    /// The kernel a kernel identifier names, if this till has it.
    pub fn from_id(id: u8) -> Option<KernelKind> {
        match id {
            2 => Some(KernelKind::Mastercard),
            3 => Some(KernelKind::Visa),
            7 => Some(KernelKind::UnionPay),
            _ => None,
        }
    }

    /// Book B, 3.3.2.5: without a kernel identifier on the card, the RID
    /// decides.
    pub fn default_for(aid: &[u8]) -> Option<KernelKind> {
        match aid.get(..5)? {
            [0xA0, 0, 0, 0, 0x04] => Some(KernelKind::Mastercard),
            [0xA0, 0, 0, 0, 0x03] => Some(KernelKind::Visa),
            [0xA0, 0, 0, 0x03, 0x33] => Some(KernelKind::UnionPay),
            _ => None,
        }
    }

    /// Kernel identifier.
    pub fn id(self) -> u8 {
        match self {
            KernelKind::Mastercard => 2,
            KernelKind::Visa => 3,
            KernelKind::UnionPay => 7,
        }
    }

    /// Whether this kernel reads the cryptogram from the GPO answer.
    pub fn is_quick(self) -> bool {
        matches!(self, KernelKind::Visa | KernelKind::UnionPay)
    }
}

/// Why the customer is asked to use the chip or the stripe instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwitchReason {
    /// The amount is above the reader's contactless transaction limit.
    OverLimit,
    /// The card has no contactless application the till accepts.
    NoApplication,
    /// The card asked for it (GPO 6984, or its CTQ after a failed check).
    CardAsked,
}

/// How a tap ended without a decision by the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TapOutcome {
    /// Insert (or swipe) the card instead.
    #[error("try another interface: insert the card ({0:?})")]
    TryAnotherInterface(SwitchReason),
    /// Two cards are in the field: present one card only.
    #[error("more than one card presented")]
    PresentOneCard,
    /// The phone wants its owner to unlock it; tap again afterwards.
    #[error("see phone for instructions, then tap again")]
    SeePhone,
}

/// Pre-processing indicators for one AID (Book B, 3.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Indicators {
    /// Above the contactless transaction limit: the combination is not
    /// allowed.
    pub not_allowed: bool,
    /// At or above the CVM required limit.
    pub cvm_required: bool,
    /// Above the contactless floor limit (or a zero amount): the card must
    /// ask to go online.
    pub online_required: bool,
    /// The TTQ with this transaction's bits set.
    pub ttq: [u8; 4],
}

/// Book B, 3.1.1.2-3.1.1.6 for one configured AID and amount.
pub fn preprocess(cfg: &TerminalConfig, app: &ApplicationConfig, amount: u64) -> Indicators {
    let mut ttq = [0u8; 4];
    for (d, s) in ttq.iter_mut().zip(&cfg.ttq) {
        *d = *s;
    }
    // Reset the per-transaction bits (byte 2 bits 8-7).
    ttq[1] &= 0x3F;
    let not_allowed = amount > app.contactless_limit;
    let online_required = amount > app.contactless_floor_limit || amount == 0;
    let cvm_required = amount >= app.cvm_required_limit;
    if online_required {
        ttq[1] |= 0x80;
    }
    if cvm_required {
        ttq[1] |= 0x40;
    }
    if !cfg.online_capable() {
        // An offline-only reader says so (byte 1 bit 4).
        ttq[0] |= 0x08;
    }
    Indicators {
        not_allowed,
        cvm_required,
        online_required,
        ttq,
    }
}

/// An AID, its kernel and its indicators, after the final SELECT.
#[derive(Debug, Clone)]
pub struct Combination {
    /// The application selected.
    pub selected: Selected,
    /// The kernel that runs it.
    pub kernel: KernelKind,
    /// This transaction's indicators for it.
    pub indicators: Indicators,
}

/// What a tap's selection ended with.
#[derive(Debug)]
pub enum Selection {
    /// An application to run.
    Found(Combination),
    /// Nothing to run: tell the customer.
    Outcome(TapOutcome),
}

struct Entry {
    candidate: Candidate,
    kernel: KernelKind,
    indicators: Indicators,
}

/// Reads the PPSE, builds the candidate list in priority order (Book B,
/// 3.3) and selects the first candidate whose final SELECT succeeds.
/// Transport failures (a card pulled away) are returned as errors.
pub fn select_combination<C: CardChannel>(
    apdu: &mut Apdu<C>,
    cfg: &TerminalConfig,
    amount: u64,
) -> Result<Selection, super::apdu::ApduError> {
    let resp = apdu.exchange(&Command::select(PPSE, false))?;
    let switch = |r| Ok(Selection::Outcome(TapOutcome::TryAnotherInterface(r)));
    if !resp.sw.is_ok() {
        return switch(SwitchReason::NoApplication);
    }
    let Ok(fci) = tlv::parse_one(&resp.data) else {
        return switch(SwitchReason::NoApplication);
    };
    let directory = fci
        .find(tags::FCI_ISSUER_DISCRETIONARY)
        .map(Tlv::children)
        .unwrap_or_default();
    let mut entries: Vec<Entry> = Vec::new();
    let mut over_limit = false;
    for dir in directory
        .iter()
        .filter(|e| e.tag.0 == tags::DIR_ENTRY)
        .take(MAX_ENTRIES)
    {
        let Some(aid) = dir.find(tags::AID_CARD).and_then(Tlv::bytes) else {
            continue;
        };
        if !(5..=16).contains(&aid.len()) {
            continue;
        }
        let Some(index) = select::match_config(cfg, aid) else {
            continue;
        };
        let Some(app) = cfg.applications.get(index) else {
            continue;
        };
        let Some(kernel) = kernel_for(dir, app, aid) else {
            continue;
        };
        let indicators = preprocess(cfg, app, amount);
        if indicators.not_allowed {
            over_limit = true;
            continue;
        }
        if entries.iter().any(|e| e.candidate.aid == aid) {
            continue;
        }
        entries.push(Entry {
            candidate: select::candidate_from(dir, cfg, aid, index),
            kernel,
            indicators,
        });
    }
    if entries.is_empty() {
        return switch(if over_limit {
            SwitchReason::OverLimit
        } else {
            SwitchReason::NoApplication
        });
    }
    entries.sort_by_key(|e| (e.candidate.priority.unwrap_or(16), e.candidate.config_index));
    for entry in entries {
        if let Some(selected) = select::final_select(apdu, entry.candidate)? {
            return Ok(Selection::Found(Combination {
                selected,
                kernel: entry.kernel,
                indicators: entry.indicators,
            }));
        }
    }
    switch(SwitchReason::NoApplication)
}

/// The kernel for a directory entry: the card's kernel identifier 9F2A
/// (a first byte with bit 8 clear names an international kernel), else the
/// RID's; the terminal's configured kernel must agree.
fn kernel_for(dir: &Tlv, app: &ApplicationConfig, aid: &[u8]) -> Option<KernelKind> {
    let requested = match dir.find(tags::KERNEL_ID).and_then(Tlv::bytes) {
        Some([first, ..]) if first & 0x80 == 0 => KernelKind::from_id(first & 0x3F)?,
        Some(_) => return None,
        None => KernelKind::default_for(aid)?,
    };
    match app.kernel_id {
        0 => Some(requested),
        id if id == requested.id() => Some(requested),
        _ => None,
    }
}

/// Whether a status word to GPO ends the tap with an outcome (Book C-3
/// and C-7: 6984 try another interface, 6986 see phone).
pub fn gpo_outcome(sw: StatusWord) -> Option<TapOutcome> {
    match sw.0 {
        0x6984 | 0x6985 => Some(TapOutcome::TryAnotherInterface(SwitchReason::CardAsked)),
        0x6986 => Some(TapOutcome::SeePhone),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contactless_atrs_follow_pc_sc_part_3() {
        assert!(is_contactless_atr(&[0x3B, 0x80, 0x80, 0x01, 0x01]));
        assert!(is_contactless_atr(SIMULATED_COLLISION_ATR));
        // A contact card's ATR (T=0 with interface bytes), a short one, and
        // one whose length disagrees with its historical byte count.
        assert!(!is_contactless_atr(
            &hex::decode("3B6800000073C84013009000").unwrap()
        ));
        assert!(!is_contactless_atr(&[0x3B, 0x80, 0x80]));
        assert!(!is_contactless_atr(&[0x3B, 0x82, 0x80, 0x01, 0x01]));
    }
    use crate::emv::apdu::ChannelError;

    /// A card that answers SELECT PPSE with `ppse` and every AID select
    /// with an FCI naming that AID.
    struct Card {
        ppse: Vec<u8>,
        selects: Vec<Vec<u8>>,
    }

    impl CardChannel for Card {
        fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ChannelError> {
            let data = apdu
                .get(5..5 + usize::from(apdu[4]))
                .unwrap_or(&[])
                .to_vec();
            if data == PPSE {
                return Ok(self.ppse.clone());
            }
            self.selects.push(data.clone());
            let fci = Tlv::constructed(
                0x6F,
                vec![
                    Tlv::primitive(0x84, data),
                    Tlv::constructed(0xA5, vec![Tlv::primitive(0x50, b"CARD".to_vec())]),
                ],
            );
            let mut out = fci.to_bytes();
            out.extend_from_slice(&[0x90, 0x00]);
            Ok(out)
        }
    }

    fn ppse(entries: Vec<Vec<Tlv>>) -> Vec<u8> {
        let dir = entries
            .into_iter()
            .map(|e| Tlv::constructed(0x61, e))
            .collect();
        let fci = Tlv::constructed(
            0x6F,
            vec![
                Tlv::primitive(0x84, PPSE.to_vec()),
                Tlv::constructed(0xA5, vec![Tlv::constructed(0xBF0C, dir)]),
            ],
        );
        let mut out = fci.to_bytes();
        out.extend_from_slice(&[0x90, 0x00]);
        out
    }

    fn entry(aid: &str, prio: u8, kernel: Option<u8>) -> Vec<Tlv> {
        let mut v = vec![
            Tlv::primitive(0x4F, hex::decode(aid).unwrap_or_default()),
            Tlv::primitive(0x87, vec![prio]),
        ];
        if let Some(k) = kernel {
            v.push(Tlv::primitive(0x9F2A, vec![k]));
        }
        v
    }

    fn run(card: Card, amount: u64) -> (Selection, Vec<Vec<u8>>) {
        let cfg = TerminalConfig::default();
        let mut apdu = Apdu::new(card);
        let s = select_combination(&mut apdu, &cfg, amount).unwrap_or_else(|e| panic!("{e}"));
        (s, apdu.into_inner().selects)
    }

    #[test]
    fn the_highest_priority_combination_is_selected_with_its_kernel() {
        let card = Card {
            ppse: ppse(vec![
                entry("A0000000041010", 2, Some(2)),
                entry("A000000333010101", 1, None),
            ]),
            selects: Vec::new(),
        };
        let (s, selects) = run(card, 1_000);
        let Selection::Found(c) = s else {
            panic!("no combination: {s:?}")
        };
        assert_eq!(c.kernel, KernelKind::UnionPay, "RID default without 9F2A");
        assert_eq!(hex::encode_upper(&selects[0]), "A000000333010101");
        assert!(!c.indicators.cvm_required && !c.indicators.online_required);
        assert_eq!(c.indicators.ttq, [0x36, 0x00, 0x40, 0x00]);
    }

    #[test]
    fn limits_set_the_ttq_and_an_amount_above_every_limit_asks_for_the_chip() {
        let cfg = TerminalConfig::default();
        let app = &cfg.applications[0];
        let i = preprocess(&cfg, app, app.cvm_required_limit);
        assert!(i.cvm_required && i.online_required);
        assert_eq!(i.ttq[1], 0xC0, "online cryptogram and CVM required");
        let i = preprocess(&cfg, app, app.contactless_floor_limit);
        assert_eq!(i.ttq[1], 0x00, "at the floor limit no online is required");
        let card = Card {
            ppse: ppse(vec![entry("A0000000031010", 1, Some(3))]),
            selects: Vec::new(),
        };
        let (s, selects) = run(card, app.contactless_limit + 1);
        assert!(matches!(
            s,
            Selection::Outcome(TapOutcome::TryAnotherInterface(SwitchReason::OverLimit))
        ));
        assert!(selects.is_empty(), "nothing selected above the limit");
    }

    #[test]
    fn unknown_kernels_and_aids_and_a_missing_ppse_leave_no_combination() {
        let card = Card {
            ppse: ppse(vec![
                entry("A0000000031010", 1, Some(0x2B)),
                entry("A0000001523010", 1, None),
                entry("A0000000031010", 1, Some(0x80)),
            ]),
            selects: Vec::new(),
        };
        let (s, _) = run(card, 100);
        assert!(matches!(
            s,
            Selection::Outcome(TapOutcome::TryAnotherInterface(SwitchReason::NoApplication))
        ));
        let card = Card {
            ppse: vec![0x6A, 0x82],
            selects: Vec::new(),
        };
        let (s, _) = run(card, 100);
        assert!(matches!(s, Selection::Outcome(_)));
        let card = Card {
            ppse: vec![0x6F, 0x10, 0x84, 0x01, 0x90, 0x00],
            selects: Vec::new(),
        };
        let (s, _) = run(card, 100);
        assert!(matches!(s, Selection::Outcome(_)), "garbled PPSE");
    }

    #[test]
    fn gpo_status_words_map_to_outcomes() {
        assert_eq!(gpo_outcome(StatusWord(0x6986)), Some(TapOutcome::SeePhone));
        assert_eq!(
            gpo_outcome(StatusWord(0x6984)),
            Some(TapOutcome::TryAnotherInterface(SwitchReason::CardAsked))
        );
        assert_eq!(gpo_outcome(StatusWord(0x9000)), None);
    }
}
