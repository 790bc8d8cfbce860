//! A virtual EMV contact card: an application that answers command APDUs
//! like a chip would, built from a [`profile::Profile`]. It works in memory
//! as a [`CardChannel`] (unit tests, benchmarks, the demo) and behind the
//! real pcscd through vsmartcard's vpcd socket ([`vpcd`]).
//!
//! The card computes real cryptograms by the published cryptogram version
//! its profile names (`emv::cvn`): the ICC master keys are derived from the
//! issuer master keys in its profile, each AC, the ARPC check and the
//! issuer script MACs follow that version, and the IAD says which it is, so
//! the acquirer simulator (or any issuer host) can verify and answer.

pub mod bench;
pub mod keys;
pub mod profile;
mod quick;
pub mod vpcd;

use std::collections::BTreeMap;

use tillpoint_payment::emv::apdu::{CardChannel, ChannelError, Command};
use tillpoint_payment::emv::crypto::{CryptogramInput, DesKey};
use tillpoint_payment::emv::cvn::{Cvn, IssuerAuth, Scheme};
use tillpoint_payment::emv::dol;
use tillpoint_payment::emv::entry::PPSE;
use tillpoint_payment::emv::select::PSE;
use tillpoint_payment::emv::tlv::{self, Tlv};

use keys::TestKey;
use profile::{AppProfile, CardPolicy, Fault, Oda, Profile};

pub use bench::{
    bench_kernel, bench_tap, issuer_approval, sample_purchase, BenchReport, ScriptedCardholder,
};
pub use vpcd::{run_card_sim, run_card_sim_with, SimError, SimOptions, SimSummary};

/// Status words the card answers with.
const SW_OK: [u8; 2] = [0x90, 0x00];
const SW_WRONG_LENGTH: [u8; 2] = [0x67, 0x00];
const SW_CONDITIONS: [u8; 2] = [0x69, 0x85];
const SW_NOT_FOUND: [u8; 2] = [0x6A, 0x82];
const SW_RECORD_NOT_FOUND: [u8; 2] = [0x6A, 0x83];
const SW_REF_DATA: [u8; 2] = [0x6A, 0x88];
const SW_P1P2: [u8; 2] = [0x6A, 0x86];
const SW_INS: [u8; 2] = [0x6D, 0x00];
const SW_CLA: [u8; 2] = [0x6E, 0x00];
const SW_AUTH_FAILED: [u8; 2] = [0x63, 0x00];
const SW_SM_WRONG: [u8; 2] = [0x69, 0x88];
const SW_BLOCKED: [u8; 2] = [0x62, 0x83];
const SW_NO_DIAGNOSIS: [u8; 2] = [0x6F, 0x00];

/// An application's personalised data, built once per card.
#[derive(Clone)]
struct AppImage {
    p: AppProfile,
    fci: Vec<u8>,
    records: BTreeMap<(u8, u8), Vec<u8>>,
    afl: Vec<u8>,
    aip: [u8; 2],
    icc_mk: DesKey,
    icc_mk_smi: DesKey,
    cdol1: Vec<dol::DolEntry>,
    cdol2: Vec<dol::DolEntry>,
    pdol_len: usize,
}

/// Where the card is in a transaction.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Selected,
    Processing,
    FirstAc {
        arqc: [u8; 8],
        un: [u8; 4],
        online: bool,
    },
    Done,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Current {
    Nothing,
    Pse,
    App(usize),
}

/// The virtual card. Clone it to get a fresh card in the same state.
#[derive(Clone)]
pub struct VirtualCard {
    name: &'static str,
    atr: Vec<u8>,
    pse: bool,
    t0: bool,
    fault: Fault,
    contactless: bool,
    collision: bool,
    /// The card leaves the field this many APDUs after each power-on.
    removed_after: Option<u32>,
    /// A phone wallet whose owner has unlocked it (after a "see phone").
    unlocked: bool,
    apps: Vec<AppImage>,
    atc: Vec<u16>,
    last_online: Vec<u16>,
    blocked: Vec<bool>,
    current: Current,
    phase: Phase,
    cursor: Option<(Vec<u8>, usize)>,
    issuer_auth_failed: bool,
    /// ATC and ARQC of this transaction's first GENERATE AC: what issuer
    /// script MACs are computed over.
    script_context: Option<([u8; 2], [u8; 8])>,
    /// What EXTERNAL AUTHENTICATE's issuer data said, for the second AC.
    external_auth: Option<bool>,
    /// PDOL values of this transaction's GPO and the CDOL1 data of its
    /// first GENERATE AC, which a CDA signature's data hash covers.
    cda_covered: Vec<u8>,
    /// Values written by issuer scripts (PUT DATA), readable by GET DATA.
    put_data: BTreeMap<u32, Vec<u8>>,
    pending: Vec<u8>,
    remove_after: Option<u32>,
    apdus: u32,
    amount: u64,
}

fn tlv_p(tag: u32, v: impl Into<Vec<u8>>) -> Tlv {
    Tlv::primitive(tag, v)
}

/// What the card's cryptogram covers: the terminal's DOL data as the
/// command sent it, and the card's own AIP, ATC and IAD.
fn cryptogram_input(
    fields: &[(tlv::Tag, &[u8])],
    aip: &[u8],
    atc: u16,
    iad: &[u8],
) -> Option<CryptogramInput> {
    let mut list: Vec<Tlv> = fields.iter().map(|(t, v)| tlv_p(t.0, v.to_vec())).collect();
    list.push(tlv_p(0x82, aip.to_vec()));
    list.push(tlv_p(0x9F36, atc.to_be_bytes().to_vec()));
    list.push(tlv_p(0x9F10, iad.to_vec()));
    CryptogramInput::from_tlv(&list).ok()
}

fn bcd(v: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    let mut v = v;
    for b in out.iter_mut().rev() {
        let lo = (v % 10) as u8;
        v /= 10;
        let hi = (v % 10) as u8;
        v /= 10;
        *b = (hi << 4) | lo;
    }
    out
}

fn bcd_to_u64(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |acc, x| {
        acc.saturating_mul(100)
            .saturating_add(u64::from(x >> 4) * 10 + u64::from(x & 0x0F))
    })
}

/// PAN digits as BCD, padded with F to `len` bytes when given.
fn pan_bcd(pan: &str, len: Option<usize>) -> Vec<u8> {
    let mut nibbles: Vec<u8> = pan.bytes().map(|b| b.wrapping_sub(b'0') & 0x0F).collect();
    let target = len.map_or(nibbles.len().div_ceil(2) * 2, |l| l * 2);
    nibbles.resize(target.max(nibbles.len()), 0x0F);
    nibbles
        .chunks(2)
        .map(|c| match c {
            [a, b] => (a << 4) | b,
            [a] => (a << 4) | 0x0F,
            _ => 0xFF,
        })
        .collect()
}

fn record(children: Vec<Tlv>) -> Vec<u8> {
    Tlv::constructed(0x70, children).to_bytes()
}

impl AppImage {
    fn build(p: &AppProfile, fault: Fault) -> AppImage {
        let aip0 = 0x10
            | 0x08
            | 0x04
            | match p.oda {
                Oda::None => 0,
                Oda::Sda => 0x40,
                Oda::Dda => 0x20,
                Oda::Cda => 0x21,
            };
        // A contactless card of the Mastercard kind says "EMV mode" (AIP
        // byte 2 bit 8, Book C-2); a phone says it verifies on the device
        // (byte 1 bit 2).
        let tap = p.contactless.as_ref();
        let aip0 = aip0
            | if tap.is_some_and(|c| c.phone) {
                0x02
            } else {
                0
            };
        let aip1 = if tap.is_some() { 0x80 } else { 0x00 };
        let aip = [aip0, aip1];
        let mut a5 = vec![tlv_p(0x50, p.label.as_bytes().to_vec())];
        if let Some(prio) = p.priority {
            a5.push(tlv_p(0x87, vec![prio]));
        }
        if !p.pdol.is_empty() {
            a5.push(tlv_p(0x9F38, p.pdol.clone()));
        }
        a5.push(tlv_p(0x5F2D, p.language.as_bytes().to_vec()));
        let fci = Tlv::constructed(
            0x6F,
            vec![tlv_p(0x84, p.aid.clone()), Tlv::constructed(0xA5, a5)],
        )
        .to_bytes();

        // Track 2: PAN D YYMM 201 discretionary, F-padded.
        let mut t2 = p.pan.clone();
        t2.push('D');
        t2.push_str(&hex::encode(&p.expiry[..2]));
        t2.push_str("2010000000000");
        let t2_nibbles: Vec<u8> = t2
            .chars()
            .map(|c| c.to_digit(16).unwrap_or(0) as u8)
            .collect();
        let track2: Vec<u8> = t2_nibbles
            .chunks(2)
            .map(|c| match c {
                [a, b] => (a << 4) | b,
                [a] => (a << 4) | 0x0F,
                _ => 0xFF,
            })
            .collect();
        let rec_1_1 = record(vec![
            tlv_p(0x57, track2),
            tlv_p(0x5F20, p.cardholder.as_bytes().to_vec()),
        ]);
        let mut r2 = vec![
            tlv_p(0x5A, pan_bcd(&p.pan, None)),
            tlv_p(0x5F24, p.expiry.to_vec()),
            tlv_p(0x5F25, p.effective.to_vec()),
            tlv_p(0x5F28, bcd(u64::from(p.issuer_country), 2)),
            tlv_p(0x5F34, vec![p.psn]),
            tlv_p(0x9F07, p.auc.to_vec()),
            tlv_p(0x8E, p.cvm_list.clone()),
            tlv_p(0x9F0D, p.iac[0].to_vec()),
            tlv_p(0x9F0E, p.iac[1].to_vec()),
            tlv_p(0x9F0F, p.iac[2].to_vec()),
            tlv_p(0x8C, p.cdol1.clone()),
            tlv_p(0x8D, p.cdol2.clone()),
            tlv_p(0x9F08, p.app_version.to_vec()),
            tlv_p(0x9F42, bcd(u64::from(p.currency), 2)),
        ];
        if let Some((l, u)) = p.offline_limits {
            r2.push(tlv_p(0x9F14, vec![l]));
            r2.push(tlv_p(0x9F23, vec![u]));
        }
        if p.oda != Oda::None {
            r2.push(tlv_p(0x9F4A, vec![0x82]));
        }
        if matches!(p.oda, Oda::Dda | Oda::Cda) {
            r2.push(tlv_p(0x9F49, vec![0x9F, 0x37, 0x04]));
        }
        let rec_2_1 = record(r2);
        let mut records = BTreeMap::new();
        let mut afl = vec![0x08, 1, 1, 1, 0x10, 1, 1, 1];
        // Static data to authenticate: the values inside the 70 templates of
        // the records flagged in the AFL, then the AIP (tag list 9F4A).
        let mut static_data = Vec::new();
        for r in [&rec_1_1, &rec_2_1] {
            if let Ok(t) = tlv::parse_one(r) {
                static_data.extend(t.value_bytes());
            }
        }
        static_data.extend_from_slice(&aip);
        if p.oda != Oda::None {
            let ca = TestKey::ca();
            let issuer = TestKey::issuer();
            let exp = vec![0x03];
            let id = pan_bcd(p.pan.get(..6).unwrap_or(""), Some(4));
            let issuer_id: [u8; 4] = id.try_into().unwrap_or([0xFF; 4]);
            let (cert, rem) = keys::issuer_certificate(&ca, &issuer, &exp, issuer_id, [0x12, 0x49]);
            let mut r31 = vec![
                tlv_p(0x8F, vec![tillpoint_payment::emv::config::TEST_CA_INDEX]),
                tlv_p(0x90, cert),
                tlv_p(0x9F32, exp.clone()),
            ];
            if !rem.is_empty() {
                r31.push(tlv_p(0x92, rem));
            }
            records.insert((3, 1), record(r31));
            let r32 = if p.oda == Oda::Sda {
                vec![tlv_p(
                    0x93,
                    keys::signed_static_data(&issuer, [0xDA, 0xC1], &static_data),
                )]
            } else {
                let icc = TestKey::icc();
                let pan10: [u8; 10] = pan_bcd(&p.pan, Some(10)).try_into().unwrap_or([0xFF; 10]);
                let (cert, rem) =
                    keys::icc_certificate(&issuer, &icc, &exp, pan10, [0x12, 0x49], &static_data);
                let mut v = vec![tlv_p(0x9F46, cert), tlv_p(0x9F47, exp)];
                if !rem.is_empty() {
                    v.push(tlv_p(0x9F48, rem));
                }
                v
            };
            records.insert((3, 2), record(r32));
            afl.extend_from_slice(&[0x18, 1, 2, 0]);
        }
        let mut rec_2_1 = rec_2_1;
        if fault == Fault::BadTlv {
            // Keep the header, lose the tail: the 70 length now lies.
            let keep = rec_2_1.len().saturating_sub(7);
            rec_2_1.truncate(keep);
        }
        if fault == Fault::WrongLength {
            afl.pop();
        }
        records.insert((1, 1), rec_1_1);
        records.insert((2, 1), rec_2_1);
        let psn = format!("{:02X}", p.psn);
        let derive = |imk: &DesKey| {
            p.cvn
                .icc_master_key(imk, &p.pan, Some(&psn))
                .unwrap_or_else(|_| DesKey::new([0; 16]))
        };
        let icc_mk = derive(&p.issuer_master_key);
        let icc_mk_smi = derive(&p.issuer_script_key);
        let pdol = dol::parse(&p.pdol).unwrap_or_default();
        AppImage {
            fci,
            records,
            afl,
            aip,
            icc_mk,
            icc_mk_smi,
            cdol1: dol::parse(&p.cdol1).unwrap_or_default(),
            cdol2: dol::parse(&p.cdol2).unwrap_or_default(),
            pdol_len: pdol.iter().map(|e| e.len).sum(),
            p: p.clone(),
        }
    }
}

impl VirtualCard {
    /// Personalises a card from a profile (certificates are signed here).
    pub fn new(profile: &Profile) -> VirtualCard {
        let apps: Vec<AppImage> = profile
            .apps
            .iter()
            .map(|a| AppImage::build(a, profile.fault))
            .collect();
        VirtualCard {
            name: profile.name,
            atr: profile.atr.clone(),
            pse: profile.pse,
            t0: profile.t0,
            fault: profile.fault,
            contactless: profile.contactless,
            collision: profile.collision,
            removed_after: profile.removed_after,
            unlocked: false,
            atc: apps.iter().map(|a| a.p.atc).collect(),
            last_online: apps.iter().map(|a| a.p.last_online_atc).collect(),
            blocked: vec![false; apps.len()],
            apps,
            current: Current::Nothing,
            phase: Phase::Done,
            cursor: None,
            issuer_auth_failed: false,
            script_context: None,
            external_auth: None,
            cda_covered: Vec::new(),
            put_data: BTreeMap::new(),
            pending: Vec::new(),
            remove_after: profile.removed_after,
            apdus: 0,
            amount: 0,
        }
    }

    /// Card for a named profile.
    pub fn from_profile_name(name: &str) -> Option<VirtualCard> {
        profile::by_name(name).map(|p| VirtualCard::new(&p))
    }

    /// Whether the card is tapped (it has a PPSE), not inserted.
    pub fn is_contactless(&self) -> bool {
        self.contactless
    }

    /// After how many APDUs of a session the profile's card leaves the
    /// field (a tap taken away too early), if it does.
    pub fn leaves_after(&self) -> Option<u32> {
        self.removed_after
    }

    /// Profile name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Answer-to-reset bytes.
    pub fn atr(&self) -> &[u8] {
        &self.atr
    }

    /// Simulates the card being pulled after `n` more APDUs.
    pub fn remove_after(&mut self, n: u32) {
        self.remove_after = Some(self.apdus.saturating_add(n));
    }

    /// Whether the simulated removal has happened.
    pub fn removed(&self) -> bool {
        self.remove_after.is_some_and(|n| self.apdus >= n)
    }

    /// One directory entry per application (ADF name, label, priority),
    /// as the PSE record or the PPSE FCI lists them; a contactless
    /// directory also names each application's kernel when the profile does.
    fn directory_entries(&self, with_kernel: bool) -> Vec<Tlv> {
        self.apps
            .iter()
            .map(|a| {
                let mut v = vec![
                    tlv_p(0x4F, a.p.aid.clone()),
                    tlv_p(0x50, a.p.label.as_bytes().to_vec()),
                ];
                if let Some(p) = a.p.priority {
                    v.push(tlv_p(0x87, vec![p]));
                }
                let kernel = a.p.contactless.as_ref().and_then(|c| c.kernel_id);
                if let Some(k) = kernel.filter(|_| with_kernel) {
                    v.push(tlv_p(0x9F2A, vec![k]));
                }
                Tlv::constructed(0x61, v)
            })
            .collect()
    }

    /// Current ATC of application `i` (for tests and the host simulator).
    pub fn atc(&self, i: usize) -> Option<u16> {
        self.atc.get(i).copied()
    }

    /// Power-on / warm reset: volatile state is lost, counters stay.
    pub fn reset(&mut self) {
        self.current = Current::Nothing;
        self.phase = Phase::Done;
        self.cursor = None;
        self.pending.clear();
        self.issuer_auth_failed = false;
        self.script_context = None;
        // A card that is always pulled away too early is so on every tap.
        if let Some(n) = self.removed_after {
            self.remove_after = Some(self.apdus.saturating_add(n));
        }
    }

    /// Processes one command APDU. `None` means the card stays silent.
    pub fn process(&mut self, apdu: &[u8]) -> Option<Vec<u8>> {
        self.apdus = self.apdus.saturating_add(1);
        let Some(cmd) = Command::parse(apdu) else {
            return Some(SW_WRONG_LENGTH.to_vec());
        };
        if cmd.cla == 0x00 && cmd.ins == 0xC0 {
            return Some(self.get_response(&cmd));
        }
        if self.fault == Fault::Silence && cmd.ins == 0xAE {
            return None;
        }
        self.pending.clear();
        let (data, sw) = self.dispatch(&cmd);
        Some(self.t0_wrap(&cmd, data, sw))
    }

    /// T=0 case-4 behaviour: data is fetched with GET RESPONSE; READ RECORD
    /// with the wrong Le gets 6Cxx.
    fn t0_wrap(&mut self, cmd: &Command, data: Vec<u8>, sw: [u8; 2]) -> Vec<u8> {
        if !self.t0 || data.is_empty() || sw != SW_OK {
            let mut out = data;
            out.extend_from_slice(&sw);
            return out;
        }
        if cmd.ins == 0xB2 {
            let le = cmd
                .le
                .map_or(256, |l| if l == 0 { 256 } else { usize::from(l) });
            if le != data.len() {
                return vec![0x6C, data.len() as u8];
            }
            let mut out = data;
            out.extend_from_slice(&sw);
            return out;
        }
        let len = data.len();
        self.pending = data;
        vec![0x61, if len >= 256 { 0 } else { len as u8 }]
    }

    fn get_response(&mut self, cmd: &Command) -> Vec<u8> {
        if self.pending.is_empty() {
            return SW_CONDITIONS.to_vec();
        }
        let le = cmd
            .le
            .map_or(256, |l| if l == 0 { 256 } else { usize::from(l) });
        if le > self.pending.len() {
            return vec![0x6C, self.pending.len() as u8];
        }
        let mut out: Vec<u8> = self.pending.drain(..le).collect();
        if self.pending.is_empty() {
            out.extend_from_slice(&SW_OK);
        } else {
            let rest = self.pending.len();
            out.extend_from_slice(&[0x61, if rest >= 256 { 0 } else { rest as u8 }]);
        }
        out
    }

    fn dispatch(&mut self, cmd: &Command) -> (Vec<u8>, [u8; 2]) {
        match (cmd.cla, cmd.ins) {
            (0x00, 0xA4) => self.select(cmd),
            (0x00, 0xB2) => self.read_record(cmd),
            (0x80, 0xA8) => self.gpo(cmd),
            (0x80, 0xCA) => self.get_data(cmd),
            (0x00, 0x88) => self.internal_authenticate(cmd),
            (0x80, 0xAE) => self.generate_ac(cmd),
            (0x00, 0x82) => self.external_authenticate(cmd),
            (0x84, 0x1E | 0x18 | 0xDA | 0x24 | 0x16) => self.script_command(cmd),
            (0x00 | 0x80 | 0x84, _) => (Vec::new(), SW_INS),
            _ => (Vec::new(), SW_CLA),
        }
    }

    fn app(&self) -> Option<(usize, &AppImage)> {
        match self.current {
            Current::App(i) => self.apps.get(i).map(|a| (i, a)),
            _ => None,
        }
    }

    fn select(&mut self, cmd: &Command) -> (Vec<u8>, [u8; 2]) {
        if cmd.p1 != 0x04 {
            return (Vec::new(), SW_P1P2);
        }
        self.phase = Phase::Done;
        if self.contactless && cmd.data == PPSE {
            self.current = Current::Pse;
            return (self.ppse_fci(), SW_OK);
        }
        if cmd.data == PSE || cmd.data == PPSE {
            if !self.pse || cmd.data == PPSE {
                return (Vec::new(), SW_NOT_FOUND);
            }
            self.current = Current::Pse;
            let fci = Tlv::constructed(
                0x6F,
                vec![
                    tlv_p(0x84, PSE.to_vec()),
                    Tlv::constructed(
                        0xA5,
                        vec![tlv_p(0x88, vec![0x01]), tlv_p(0x5F2D, b"en".to_vec())],
                    ),
                ],
            );
            return (fci.to_bytes(), SW_OK);
        }
        let start = match (&self.cursor, cmd.p2 & 0x03) {
            (Some((name, i)), 0x02) if *name == cmd.data => i + 1,
            (_, 0x00) => 0,
            _ => return (Vec::new(), SW_NOT_FOUND),
        };
        let found = self
            .apps
            .iter()
            .enumerate()
            .skip(start)
            .find(|(_, a)| !cmd.data.is_empty() && a.p.aid.starts_with(&cmd.data));
        let Some((i, app)) = found else {
            self.current = Current::Nothing;
            return (Vec::new(), SW_NOT_FOUND);
        };
        let fci = app.fci.clone();
        self.cursor = Some((cmd.data.clone(), i));
        self.current = Current::App(i);
        self.phase = Phase::Selected;
        if self.blocked.get(i).copied().unwrap_or(false) {
            return (fci, SW_BLOCKED);
        }
        (fci, SW_OK)
    }

    fn read_record(&mut self, cmd: &Command) -> (Vec<u8>, [u8; 2]) {
        if cmd.p2 & 0x07 != 0x04 || cmd.p1 == 0 {
            return (Vec::new(), SW_P1P2);
        }
        let sfi = cmd.p2 >> 3;
        match self.current {
            Current::Pse => {
                if sfi != 1 || cmd.p1 != 1 {
                    return (Vec::new(), SW_RECORD_NOT_FOUND);
                }
                let entries = self.directory_entries(false);
                (record(entries), SW_OK)
            }
            Current::App(_) => {
                if self.fault == Fault::UnexpectedStatus && sfi == 2 {
                    return (Vec::new(), SW_NO_DIAGNOSIS);
                }
                match self.app().and_then(|(_, a)| a.records.get(&(sfi, cmd.p1))) {
                    Some(r) => (r.clone(), SW_OK),
                    None => (Vec::new(), SW_RECORD_NOT_FOUND),
                }
            }
            Current::Nothing => (Vec::new(), SW_CONDITIONS),
        }
    }

    fn gpo(&mut self, cmd: &Command) -> (Vec<u8>, [u8; 2]) {
        let Some((i, app)) = self.app() else {
            return (Vec::new(), SW_CONDITIONS);
        };
        if self.phase != Phase::Selected {
            return (Vec::new(), SW_CONDITIONS);
        }
        let tapped = app.p.contactless.is_some();
        if tapped {
            if let Some(answer) = self.tap_gpo(i, cmd) {
                return answer;
            }
        }
        let Some((i, app)) = self.app() else {
            return (Vec::new(), SW_CONDITIONS);
        };
        let ok_len = matches!(tlv::parse_one(&cmd.data), Ok(t) if t.tag.0 == 0x83 && t.bytes().map(<[u8]>::len) == Some(app.pdol_len));
        if !ok_len {
            return (Vec::new(), SW_WRONG_LENGTH);
        }
        let body = if app.p.gpo_format2 {
            Tlv::constructed(
                0x77,
                vec![tlv_p(0x82, app.aip.to_vec()), tlv_p(0x94, app.afl.clone())],
            )
            .to_bytes()
        } else {
            let mut v = app.aip.to_vec();
            v.extend_from_slice(&app.afl);
            tlv_p(0x80, v).to_bytes()
        };
        if let Some(atc) = self.atc.get_mut(i) {
            *atc = atc.wrapping_add(1);
        }
        self.phase = Phase::Processing;
        self.issuer_auth_failed = false;
        self.script_context = None;
        self.cda_covered = tlv::parse_one(&cmd.data)
            .ok()
            .and_then(|t| t.bytes().map(<[u8]>::to_vec))
            .unwrap_or_default();
        (body, SW_OK)
    }

    fn get_data(&mut self, cmd: &Command) -> (Vec<u8>, [u8; 2]) {
        let Some((i, _)) = self.app() else {
            return (Vec::new(), SW_CONDITIONS);
        };
        let tag = u32::from(u16::from_be_bytes([cmd.p1, cmd.p2]));
        let value = match tag {
            0x9F36 => self.atc.get(i).map(|v| v.to_be_bytes().to_vec()),
            0x9F13 => self.last_online.get(i).map(|v| v.to_be_bytes().to_vec()),
            0x9F17 => Some(vec![0x03]),
            _ => self.put_data.get(&tag).cloned(),
        };
        match value {
            Some(v) => (tlv_p(tag, v).to_bytes(), SW_OK),
            None => (Vec::new(), SW_REF_DATA),
        }
    }

    fn internal_authenticate(&mut self, cmd: &Command) -> (Vec<u8>, [u8; 2]) {
        let Some((i, app)) = self.app() else {
            return (Vec::new(), SW_CONDITIONS);
        };
        if !matches!(app.p.oda, Oda::Dda | Oda::Cda) || self.phase != Phase::Processing {
            return (Vec::new(), SW_CONDITIONS);
        }
        if cmd.data.len() != 4 {
            return (Vec::new(), SW_WRONG_LENGTH);
        }
        // ICC dynamic number: ATC and the terminal's number mixed, 8 bytes.
        let atc = self.atc.get(i).copied().unwrap_or(0).to_be_bytes();
        let mut dynamic = [0u8; 8];
        dynamic[..2].copy_from_slice(&atc);
        for (d, s) in dynamic[2..].iter_mut().zip(cmd.data.iter().cycle()) {
            *d = s ^ 0x5A;
        }
        let sdad = keys::signed_dynamic_data(&TestKey::icc(), &dynamic, &cmd.data);
        (tlv_p(0x80, sdad).to_bytes(), SW_OK)
    }

    /// Card verification results for the IAD, in the scheme's layout:
    /// the cryptogram types of both GENERATE ACs (00 AAC, 01 TC, 10 ARQC or
    /// "second AC not requested") and whether issuer authentication failed.
    /// Visa and UICS: `03` length byte, then byte 2 bits 8-7 / 6-5 and bit 4;
    /// Mastercard: byte 1 bits 8-7 / 6-5, byte 2 bit 3 (our reading of
    /// M/Chip; the other bits are left zero).
    fn cvr(&self, cvn: Cvn, first: u8, second: u8) -> Vec<u8> {
        let types = (second << 6) | (first << 4);
        let failed = self.issuer_auth_failed;
        match cvn.scheme() {
            Scheme::Mastercard => vec![types, if failed { 0x04 } else { 0 }, 0, 0, 0, 0],
            Scheme::Visa | Scheme::UnionPay => {
                vec![0x03, types | if failed { 0x08 } else { 0 }, 0x00, 0x00]
            }
        }
    }

    fn generate_ac(&mut self, cmd: &Command) -> (Vec<u8>, [u8; 2]) {
        let Some((i, app)) = self.app() else {
            return (Vec::new(), SW_CONDITIONS);
        };
        let app = app.clone();
        let requested = cmd.p1 & 0xC0;
        if requested == 0xC0 {
            return (Vec::new(), SW_P1P2);
        }
        let atc = self.atc.get(i).copied().unwrap_or(0);
        let (first, fields) = match self.phase {
            Phase::Processing => (true, dol::split(&app.cdol1, &cmd.data)),
            Phase::FirstAc { .. } => (false, dol::split(&app.cdol2, &cmd.data)),
            _ => return (Vec::new(), SW_CONDITIONS),
        };
        let Some(fields) = fields else {
            return (Vec::new(), SW_WRONG_LENGTH);
        };
        let value = |tag: u32| fields.iter().find(|(t, _)| t.0 == tag).map(|(_, v)| *v);
        let kind = if first {
            self.amount = value(0x9F02).map(bcd_to_u64).unwrap_or(0);
            match (requested, app.p.policy) {
                (0x00, _) | (_, CardPolicy::Decline) => 0x00,
                (0x40, CardPolicy::OfflineUpTo(limit)) if self.amount <= limit => 0x40,
                _ => 0x80,
            }
        } else {
            let Phase::FirstAc {
                arqc,
                un,
                mut online,
            } = self.phase
            else {
                return (Vec::new(), SW_CONDITIONS);
            };
            let arc = value(0x8A).unwrap_or(&[]);
            let mut issuer_declined = false;
            // Issuer data carried in CDOL2 (tag 91) is checked here; a valid
            // ARPC counts as the online step.
            if let Some(iad) = value(0x91).filter(|v| v.iter().any(|b| *b != 0)) {
                match self.check_arpc(&app, atc, un, &arqc, iad) {
                    Some(auth) => {
                        online = true;
                        issuer_declined = !auth.approved;
                    }
                    None => self.issuer_auth_failed = true,
                }
            } else if let Some(auth) = self.external_auth {
                issuer_declined = !auth;
            }
            let approved = matches!(arc, b"00" | b"08" | b"10" | b"11") && !issuer_declined;
            let unable = arc == b"Z3";
            match requested {
                0x40 if approved && online && !self.issuer_auth_failed => {
                    if let Some(l) = self.last_online.get_mut(i) {
                        *l = atc;
                    }
                    0x40
                }
                0x40 if unable => match app.p.policy {
                    CardPolicy::OfflineUpTo(limit) if self.amount <= limit => 0x40,
                    _ => 0x00,
                },
                _ => 0x00,
            }
        };
        let type_bits = |k: u8| match k {
            0x40 => 1,
            0x80 => 2,
            _ => 0,
        };
        let cvn = app.p.cvn;
        let cvr = if first {
            self.cvr(cvn, type_bits(kind), 0b10)
        } else {
            self.cvr(cvn, 0b10, type_bits(kind))
        };
        let iad = cvn.iad(app.p.dki, &cvr);
        let Some(input) = cryptogram_input(&fields, &app.aip, atc, &iad) else {
            return (Vec::new(), SW_WRONG_LENGTH);
        };
        let Ok(ac) = cvn.cryptogram(&app.icc_mk, &input) else {
            return (Vec::new(), SW_WRONG_LENGTH);
        };
        if first {
            self.script_context = Some((atc.to_be_bytes(), ac));
            self.external_auth = None;
        }
        self.phase = if first && kind == 0x80 {
            Phase::FirstAc {
                arqc: ac,
                un: input.unpredictable_number,
                online: false,
            }
        } else {
            Phase::Done
        };
        let cda = cmd.p1 & 0x10 != 0 && app.p.oda == Oda::Cda && kind != 0x00;
        if first {
            if self.fault == Fault::CdaWrongHash {
                // This card's hash leaves the PDOL values out.
                self.cda_covered.clear();
            }
            self.cda_covered.extend_from_slice(&cmd.data);
        }
        if cda {
            let mut covered = self.cda_covered.clone();
            if !first {
                covered.extend_from_slice(&cmd.data);
            }
            let un = value(0x9F37).unwrap_or(&[]).to_vec();
            return (self.cda_answer(kind, atc, &ac, iad, &covered, &un), SW_OK);
        }
        let body = if app.p.gpo_format2 {
            Tlv::constructed(
                0x77,
                vec![
                    tlv_p(0x9F27, vec![kind]),
                    tlv_p(0x9F36, atc.to_be_bytes().to_vec()),
                    tlv_p(0x9F26, ac.to_vec()),
                    tlv_p(0x9F10, iad),
                ],
            )
            .to_bytes()
        } else {
            let mut v = vec![kind];
            v.extend_from_slice(&atc.to_be_bytes());
            v.extend_from_slice(&ac);
            v.extend_from_slice(&iad);
            tlv_p(0x80, v).to_bytes()
        };
        (body, SW_OK)
    }

    /// A CDA answer (Book 3, 9.3, format 2): CID, ATC, the signature over
    /// the AC and the transaction data hash, and the IAD; the AC itself is
    /// only inside the signature.
    fn cda_answer(
        &self,
        kind: u8,
        atc: u16,
        ac: &[u8; 8],
        iad: Vec<u8>,
        covered: &[u8],
        un: &[u8],
    ) -> Vec<u8> {
        let cid = tlv_p(0x9F27, vec![kind]);
        let atc_tlv = tlv_p(0x9F36, atc.to_be_bytes().to_vec());
        let iad_tlv = tlv_p(0x9F10, iad);
        let mut hashed = covered.to_vec();
        for t in [&cid, &atc_tlv, &iad_tlv] {
            hashed.extend(t.to_bytes());
        }
        let data_hash = <sha1::Sha1 as sha1::Digest>::digest(&hashed);
        let mut dynamic = [0u8; 8];
        dynamic[..2].copy_from_slice(&atc.to_be_bytes());
        for (d, s) in dynamic[2..].iter_mut().zip(un.iter().cycle()) {
            *d = s ^ 0xA5;
        }
        let mut sdad = keys::signed_cda_data(&TestKey::icc(), &dynamic, kind, ac, &data_hash, un);
        if self.fault == Fault::CdaBadSignature {
            if let Some(b) = sdad.get_mut(10) {
                *b ^= 0x01;
            }
        }
        Tlv::constructed(0x77, vec![cid, atc_tlv, tlv_p(0x9F4B, sdad), iad_tlv]).to_bytes()
    }

    /// Checks issuer authentication data by the card's cryptogram version.
    fn check_arpc(
        &self,
        app: &AppImage,
        atc: u16,
        un: [u8; 4],
        arqc: &[u8; 8],
        data: &[u8],
    ) -> Option<IssuerAuth> {
        app.p
            .cvn
            .check_issuer_authentication(&app.icc_mk, atc.to_be_bytes(), un, arqc, data)
    }

    fn external_authenticate(&mut self, cmd: &Command) -> (Vec<u8>, [u8; 2]) {
        let Some((i, app)) = self.app() else {
            return (Vec::new(), SW_CONDITIONS);
        };
        let Phase::FirstAc { arqc, un, .. } = self.phase else {
            return (Vec::new(), SW_CONDITIONS);
        };
        if !(8..=16).contains(&cmd.data.len()) {
            return (Vec::new(), SW_WRONG_LENGTH);
        }
        let atc = self.atc.get(i).copied().unwrap_or(0);
        let auth = self.check_arpc(app, atc, un, &arqc, &cmd.data);
        self.phase = Phase::FirstAc {
            arqc,
            un,
            online: auth.is_some(),
        };
        match auth {
            Some(a) => {
                self.external_auth = Some(a.approved);
                (Vec::new(), SW_OK)
            }
            None => {
                self.issuer_auth_failed = true;
                (Vec::new(), SW_AUTH_FAILED)
            }
        }
    }

    /// Issuer script commands (secure messaging, CLA 84): the last 8 bytes
    /// of the data are the MAC by the card's version over the header, this
    /// transaction's ATC and ARQC and the rest of the data. A wrong or
    /// missing MAC is refused with 6988 and changes nothing.
    fn script_command(&mut self, cmd: &Command) -> (Vec<u8>, [u8; 2]) {
        let Some((i, app)) = self.app() else {
            return (Vec::new(), SW_CONDITIONS);
        };
        if matches!(self.phase, Phase::Selected | Phase::Processing) {
            return (Vec::new(), SW_CONDITIONS);
        }
        let Some((atc, arqc)) = self.script_context else {
            return (Vec::new(), SW_CONDITIONS);
        };
        let Some(split) = cmd.data.len().checked_sub(8) else {
            return (Vec::new(), SW_SM_WRONG);
        };
        let (data, mac) = cmd.data.split_at(split);
        let header = [cmd.cla, cmd.ins, cmd.p1, cmd.p2, cmd.data.len() as u8];
        let expected = app
            .p
            .cvn
            .script_mac(&app.icc_mk_smi, atc, &arqc, header, data);
        if expected.as_slice() != mac {
            return (Vec::new(), SW_SM_WRONG);
        }
        match cmd.ins {
            0x1E => {
                if let Some(b) = self.blocked.get_mut(i) {
                    *b = true;
                }
            }
            0x18 => {
                if let Some(b) = self.blocked.get_mut(i) {
                    *b = false;
                }
            }
            0xDA => {
                let tag = u32::from(u16::from_be_bytes([cmd.p1, cmd.p2]));
                self.put_data.insert(tag, data.to_vec());
            }
            _ => {}
        }
        (Vec::new(), SW_OK)
    }
}

impl CardChannel for VirtualCard {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ChannelError> {
        if self.collision {
            return Err(ChannelError::Collision);
        }
        if self.removed() {
            return Err(ChannelError::CardRemoved);
        }
        match self.process(apdu) {
            Some(r) => Ok(r),
            None => Err(ChannelError::Timeout(0)),
        }
    }
}

#[cfg(test)]
mod tap_tests;
#[cfg(test)]
mod tests;
