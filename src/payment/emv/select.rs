//! Application selection (EMV Book 1, section 12): build the candidate list
//! from the PSE directory or, failing that, by selecting each AID the
//! terminal supports (with partial-name matching), order it by the card's
//! priorities, let the cardholder choose when needed, and do the final
//! SELECT.

use thiserror::Error;

use super::apdu::{Apdu, ApduError, CardChannel, Command, StatusWord};
use super::config::TerminalConfig;
use super::tags;
use super::tlv::{self, Tlv, TlvError};

/// Name of the payment system environment directory.
pub const PSE: &[u8] = b"1PAY.SYS.DDF01";

/// Records read from a PSE directory file at most; a real PSE has 1-3.
const MAX_PSE_RECORDS: u8 = 16;
/// "Select next" rounds per terminal AID at most.
const MAX_SELECT_NEXT: usize = 16;

/// Why selection ended without an application.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SelectError {
    /// The card transport failed.
    #[error(transparent)]
    Apdu(#[from] ApduError),
    /// SELECT answered 6A81: card blocked or SELECT not supported (Book 1,
    /// 12.3.2 / 12.3.3): the transaction must be terminated.
    #[error("card is blocked or does not support SELECT (6A81)")]
    CardBlocked,
    /// No application on the card is supported by this terminal.
    #[error("no supported application on this card")]
    NoApplication,
    /// The cardholder (or cashier) cancelled the choice.
    #[error("application choice cancelled")]
    Cancelled,
    /// The final SELECT returned a malformed FCI.
    #[error("malformed FCI from the card: {0}")]
    BadFci(#[from] TlvError),
}

/// One application both card and terminal support.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The card's ADF name (full AID).
    pub aid: Vec<u8>,
    /// Application label (tag 50), or the configured label.
    pub label: String,
    /// Application preferred name (9F12), shown when the code table allows.
    pub preferred_name: Option<String>,
    /// Priority 1 (highest) to 15; `None` when the card gives none.
    pub priority: Option<u8>,
    /// The card asks for cardholder confirmation before this app is used.
    pub needs_confirmation: bool,
    /// Index of the matching entry in `TerminalConfig::applications`.
    pub config_index: usize,
}

impl Candidate {
    /// Text to show the cardholder.
    pub fn display_name(&self) -> &str {
        self.preferred_name.as_deref().unwrap_or(&self.label)
    }
}

/// The cardholder's answer when asked to choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Use the candidate at this index.
    Select(usize),
    /// Stop the transaction.
    Cancel,
}

/// How the kernel asks the person at the till. The GUI implements it; tests
/// and unattended runs use [`AutoChooser`] or their own.
pub trait ApplicationChooser {
    /// Several applications: which one? `candidates` is in priority order.
    fn choose(&mut self, candidates: &[Candidate]) -> Choice;
    /// The single application requires confirmation: go ahead with it?
    fn confirm(&mut self, candidate: &Candidate) -> bool;
}

/// Takes the first candidate in priority order and confirms everything;
/// for tests, benchmarks and the unattended demo.
#[derive(Debug, Default, Clone, Copy)]
pub struct AutoChooser;

impl ApplicationChooser for AutoChooser {
    fn choose(&mut self, _candidates: &[Candidate]) -> Choice {
        Choice::Select(0)
    }
    fn confirm(&mut self, _candidate: &Candidate) -> bool {
        true
    }
}

/// The application after the final SELECT.
#[derive(Debug, Clone)]
pub struct Selected {
    /// The candidate that was chosen.
    pub candidate: Candidate,
    /// The parsed FCI template from the final SELECT.
    pub fci: Tlv,
    /// PDOL (9F38) from the FCI, empty if the card has none.
    pub pdol: Vec<u8>,
    /// Language preference (5F2D), e.g. "zhen".
    pub language: Option<String>,
}

pub(crate) fn text(bytes: Option<&[u8]>) -> Option<String> {
    bytes
        .map(|b| String::from_utf8_lossy(b).trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Matches a card AID against the configured AIDs: exact match, or prefix
/// match where the terminal entry allows partial selection.
pub(crate) fn match_config(cfg: &TerminalConfig, card_aid: &[u8]) -> Option<usize> {
    cfg.applications.iter().position(|a| {
        card_aid == a.aid.as_slice() || (a.partial_selection && card_aid.starts_with(&a.aid))
    })
}

pub(crate) fn candidate_from(
    entry: &Tlv,
    cfg: &TerminalConfig,
    aid: &[u8],
    index: usize,
) -> Candidate {
    let api = entry
        .find(tags::APP_PRIORITY)
        .and_then(Tlv::bytes)
        .and_then(|b| b.first().copied());
    let label = text(entry.find(tags::APP_LABEL).and_then(Tlv::bytes))
        .or_else(|| cfg.applications.get(index).map(|a| a.label.clone()))
        .unwrap_or_default();
    Candidate {
        aid: aid.to_vec(),
        label,
        preferred_name: text(entry.find(tags::PREFERRED_NAME).and_then(Tlv::bytes)),
        priority: api.map(|p| p & 0x0F).filter(|p| *p != 0),
        needs_confirmation: api.is_some_and(|p| p & 0x80 != 0),
        config_index: index,
    }
}

/// Builds the candidate list: PSE first if enabled, then the AID list when
/// the PSE is absent or unusable. Sorted by card priority, unprioritised
/// applications last in terminal order.
pub fn build_candidates<C: CardChannel>(
    apdu: &mut Apdu<C>,
    cfg: &TerminalConfig,
) -> Result<Vec<Candidate>, SelectError> {
    let mut list = Vec::new();
    if cfg.pse_enabled {
        list = from_pse(apdu, cfg)?.unwrap_or_default();
    }
    if list.is_empty() {
        list = from_aid_list(apdu, cfg)?;
    }
    // Stable sort keeps terminal order among equal priorities.
    list.sort_by_key(|c| (c.priority.unwrap_or(16), c.config_index));
    Ok(list)
}

/// Reads the PSE directory. `Ok(None)` means "fall back to the AID list".
fn from_pse<C: CardChannel>(
    apdu: &mut Apdu<C>,
    cfg: &TerminalConfig,
) -> Result<Option<Vec<Candidate>>, SelectError> {
    let resp = apdu.exchange(&Command::select(PSE, false))?;
    if resp.sw == StatusWord::FUNCTION_NOT_SUPPORTED {
        return Err(SelectError::CardBlocked);
    }
    if !resp.sw.is_ok() {
        return Ok(None);
    }
    let Ok(fci) = tlv::parse_one(&resp.data) else {
        return Ok(None);
    };
    let Some(sfi) = fci
        .find(tags::SFI)
        .and_then(Tlv::bytes)
        .and_then(|b| b.first().copied())
    else {
        return Ok(None);
    };
    if !(1..=10).contains(&sfi) {
        return Ok(None);
    }
    let mut out = Vec::new();
    for rec in 1..=MAX_PSE_RECORDS {
        let r = apdu.exchange(&Command::read_record(sfi, rec))?;
        if r.sw == StatusWord::RECORD_NOT_FOUND {
            break;
        }
        if !r.sw.is_ok() {
            return Ok(None);
        }
        let Ok(t) = tlv::parse_one(&r.data) else {
            return Ok(None);
        };
        if t.tag.0 != tags::RECORD_TEMPLATE {
            return Ok(None);
        }
        for entry in t.children().iter().filter(|e| e.tag.0 == tags::DIR_ENTRY) {
            let Some(aid) = entry.find(tags::AID_CARD).and_then(Tlv::bytes) else {
                continue;
            };
            if let Some(i) = match_config(cfg, aid) {
                if !out.iter().any(|c: &Candidate| c.aid == aid) {
                    out.push(candidate_from(entry, cfg, aid, i));
                }
            }
        }
    }
    Ok(Some(out))
}

/// Selects each configured AID in turn (Book 1, 12.3.3).
fn from_aid_list<C: CardChannel>(
    apdu: &mut Apdu<C>,
    cfg: &TerminalConfig,
) -> Result<Vec<Candidate>, SelectError> {
    let mut out: Vec<Candidate> = Vec::new();
    for (index, app) in cfg.applications.iter().enumerate() {
        let mut next = false;
        for _ in 0..MAX_SELECT_NEXT {
            let resp = apdu.exchange(&Command::select(&app.aid, next))?;
            if resp.sw == StatusWord::FUNCTION_NOT_SUPPORTED && !next {
                return Err(SelectError::CardBlocked);
            }
            if !resp.sw.is_ok() && resp.sw != StatusWord::BLOCKED {
                break;
            }
            let Ok(fci) = tlv::parse_one(&resp.data) else {
                break;
            };
            let Some(df) = fci.find(tags::DF_NAME).and_then(Tlv::bytes) else {
                break;
            };
            let exact = df == app.aid.as_slice();
            let partial =
                app.partial_selection && df.len() > app.aid.len() && df.starts_with(&app.aid);
            if (exact || partial) && resp.sw.is_ok() && !out.iter().any(|c| c.aid == df) {
                out.push(candidate_from(&fci, cfg, df, index));
            }
            if exact || !partial {
                break;
            }
            next = true;
        }
    }
    Ok(out)
}

/// Chooses among the candidates (asking the cardholder when there are
/// several or the only one wants confirmation) and performs the final
/// SELECT. A candidate whose final SELECT fails is removed and the choice is
/// made again, as Book 1 12.4 requires.
pub fn choose_and_select<C: CardChannel>(
    apdu: &mut Apdu<C>,
    cfg: &TerminalConfig,
    candidates: &mut Vec<Candidate>,
    chooser: &mut dyn ApplicationChooser,
) -> Result<Selected, SelectError> {
    loop {
        if !cfg.cardholder_confirmation {
            candidates.retain(|c| !c.needs_confirmation);
        }
        let index = match candidates.as_slice() {
            [] => return Err(SelectError::NoApplication),
            [only] => {
                if only.needs_confirmation && !chooser.confirm(only) {
                    return Err(SelectError::Cancelled);
                }
                0
            }
            several => {
                if cfg.cardholder_confirmation {
                    match chooser.choose(several) {
                        Choice::Select(i) if i < several.len() => i,
                        Choice::Select(_) | Choice::Cancel => return Err(SelectError::Cancelled),
                    }
                } else {
                    0
                }
            }
        };
        let candidate = candidates.remove(index);
        if let Some(selected) = final_select(apdu, candidate)? {
            return Ok(selected);
        }
    }
}

/// Final SELECT of a candidate (Book 1, 12.4): the card must answer with
/// an FCI naming that AID; its PDOL, language preference and label (which
/// may be better than the directory's) are kept. `None`: the card refused
/// or answered something else, and the next candidate is tried.
pub(crate) fn final_select<C: CardChannel>(
    apdu: &mut Apdu<C>,
    mut candidate: Candidate,
) -> Result<Option<Selected>, ApduError> {
    let resp = apdu.exchange(&Command::select(&candidate.aid, false))?;
    if !resp.sw.is_ok() {
        return Ok(None);
    }
    let Ok(fci) = tlv::parse_one(&resp.data) else {
        return Ok(None);
    };
    if fci.tag.0 != tags::FCI_TEMPLATE
        || fci.find(tags::DF_NAME).and_then(Tlv::bytes) != Some(candidate.aid.as_slice())
    {
        return Ok(None);
    }
    let pdol = fci
        .find(tags::PDOL)
        .and_then(Tlv::bytes)
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    let language = text(fci.find(tags::LANGUAGE_PREF).and_then(Tlv::bytes));
    if let Some(l) = text(fci.find(tags::APP_LABEL).and_then(Tlv::bytes)) {
        candidate.label = l;
    }
    Ok(Some(Selected {
        candidate,
        fci,
        pdol,
        language,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emv::apdu::ChannelError;
    use std::collections::HashMap;

    /// A card answering SELECT and READ RECORD from a table keyed by the
    /// command header + data.
    struct Table(HashMap<Vec<u8>, Vec<u8>>, Vec<Vec<u8>>);

    impl CardChannel for Table {
        fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ChannelError> {
            self.1.push(apdu.to_vec());
            Ok(self
                .0
                .get(apdu)
                .cloned()
                .unwrap_or_else(|| vec![0x6A, 0x82]))
        }
    }

    fn fci(aid: &str, label: &str, prio: Option<u8>) -> Vec<u8> {
        let mut a5 = vec![Tlv::primitive(0x50, label.as_bytes().to_vec())];
        if let Some(p) = prio {
            a5.push(Tlv::primitive(0x87, vec![p]));
        }
        let mut v = Tlv::constructed(
            0x6F,
            vec![
                Tlv::primitive(0x84, hex::decode(aid).unwrap()),
                Tlv::constructed(0xA5, a5),
            ],
        )
        .to_bytes();
        v.extend([0x90, 0x00]);
        v
    }

    fn sel(aid: &[u8], next: bool) -> Vec<u8> {
        Command::select(aid, next).to_bytes()
    }

    #[test]
    fn pse_directory_with_two_apps_sorted_by_priority() {
        let mut t = HashMap::new();
        let mut pse = Tlv::constructed(
            0x6F,
            vec![
                Tlv::primitive(0x84, PSE.to_vec()),
                Tlv::constructed(0xA5, vec![Tlv::primitive(0x88, vec![1])]),
            ],
        )
        .to_bytes();
        pse.extend([0x90, 0x00]);
        t.insert(sel(PSE, false), pse);
        let entry = |aid: &str, label: &str, prio: u8| {
            Tlv::constructed(
                0x61,
                vec![
                    Tlv::primitive(0x4F, hex::decode(aid).unwrap()),
                    Tlv::primitive(0x50, label.as_bytes().to_vec()),
                    Tlv::primitive(0x87, vec![prio]),
                ],
            )
        };
        let mut rec = Tlv::constructed(
            0x70,
            vec![
                entry("A0000000032010", "VISA ELECTRON", 2),
                entry("A0000000031010", "VISA CREDIT", 1),
                entry("A0000009999999", "UNKNOWN", 1),
            ],
        )
        .to_bytes();
        rec.extend([0x90, 0x00]);
        t.insert(Command::read_record(1, 1).to_bytes(), rec);
        t.insert(Command::read_record(1, 2).to_bytes(), vec![0x6A, 0x83]);
        let mut a = Apdu::new(Table(t, vec![]));
        let list = build_candidates(&mut a, &TerminalConfig::default()).unwrap();
        let labels: Vec<_> = list.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(labels, ["VISA CREDIT", "VISA ELECTRON"]);
    }

    #[test]
    fn aid_list_with_partial_matching_and_select_next() {
        let mut t = HashMap::new();
        let visa = hex::decode("A000000003").unwrap();
        t.insert(
            sel(&visa, false),
            fci("A0000000031010", "VISA CREDIT", Some(2)),
        );
        t.insert(
            sel(&visa, true),
            fci("A0000000032010", "VISA ELECTRON", Some(1)),
        );
        // third "next": not found
        let up = hex::decode("A000000333").unwrap();
        // UnionPay app is blocked: 6283 must not become a candidate.
        let mut blocked = fci("A000000333010101", "UICC", None);
        let n = blocked.len();
        blocked[n - 2..].copy_from_slice(&[0x62, 0x83]);
        t.insert(sel(&up, false), blocked);
        let mut a = Apdu::new(Table(t, vec![]));
        let list = build_candidates(&mut a, &TerminalConfig::default()).unwrap();
        let labels: Vec<_> = list.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(labels, ["VISA ELECTRON", "VISA CREDIT"]);
        // PSE tried first, then 3 selects for Visa, then UnionPay (+ next), Mastercard.
        assert_eq!(a.channel_mut().1[0], sel(PSE, false));
    }

    #[test]
    fn pse_6a81_means_card_blocked() {
        let mut t = HashMap::new();
        t.insert(sel(PSE, false), vec![0x6A, 0x81]);
        let mut a = Apdu::new(Table(t, vec![]));
        assert_eq!(
            build_candidates(&mut a, &TerminalConfig::default()),
            Err(SelectError::CardBlocked)
        );
    }

    struct Pick(Choice, bool, usize);
    impl ApplicationChooser for Pick {
        fn choose(&mut self, _c: &[Candidate]) -> Choice {
            self.2 += 1;
            self.0
        }
        fn confirm(&mut self, _c: &Candidate) -> bool {
            self.1
        }
    }

    fn cand(aid: &str, conf: bool) -> Candidate {
        Candidate {
            aid: hex::decode(aid).unwrap(),
            label: aid.into(),
            preferred_name: None,
            priority: None,
            needs_confirmation: conf,
            config_index: 0,
        }
    }

    #[test]
    fn cardholder_choice_and_retry_after_failed_final_select() {
        let mut t = HashMap::new();
        // First choice fails on final SELECT; the chooser is asked again.
        t.insert(
            sel(&hex::decode("A0000000032010").unwrap(), false),
            fci("A0000000032010", "VISA ELECTRON", None),
        );
        let mut a = Apdu::new(Table(t, vec![]));
        let mut list = vec![cand("A0000000031010", false), cand("A0000000032010", false)];
        let mut pick = Pick(Choice::Select(0), true, 0);
        let s =
            choose_and_select(&mut a, &TerminalConfig::default(), &mut list, &mut pick).unwrap();
        assert_eq!(s.candidate.label, "VISA ELECTRON");
        assert_eq!(
            pick.2, 1,
            "second round had a single candidate: no question"
        );
    }

    #[test]
    fn confirmation_refused_or_unsupported() {
        let mut a = Apdu::new(Table(HashMap::new(), vec![]));
        let mut list = vec![cand("A0000000031010", true)];
        let mut no = Pick(Choice::Cancel, false, 0);
        assert_eq!(
            choose_and_select(&mut a, &TerminalConfig::default(), &mut list, &mut no).unwrap_err(),
            SelectError::Cancelled
        );
        let cfg = TerminalConfig {
            cardholder_confirmation: false,
            ..TerminalConfig::default()
        };
        let mut list = vec![cand("A0000000031010", true)];
        assert_eq!(
            choose_and_select(&mut a, &cfg, &mut list, &mut AutoChooser).unwrap_err(),
            SelectError::NoApplication
        );
    }
}
