//! What goes inside one frame of the acquirer link, per host profile
//! (`[acquirer] profile`): the generic profile packs the message as it is;
//! the cups profile moves it to its own fields, packs it in BCD, adds the
//! MAC in field 64 and puts the TPDU and header in front.
//!
//! Both ends use this: the till's client through [`Wire`], which keeps the
//! terminal's keys and knows when it must sign on again; the host simulator
//! through [`encode_cups`] and [`CupsFrame`], choosing the MAC key by the
//! terminal id.

use std::path::PathBuf;

use crate::iso8583::codec::{pack, unpack, CodecError, Message};
use crate::iso8583::cups::{
    self, cups_field, CupsError, Header, Requirement, Tpdu, CUPS_PROFILE, MAX_FRAME_LEN,
};
use crate::iso8583::profile::{field, response, HOST_PROFILE, MAX_MESSAGE_LEN};
use crate::iso8583::Mti;
use crate::pin::master_session::{Key16, KeyError, WorkingKeys};

use super::mac::MacAlgorithm;
use super::terminal_keys::{self, TerminalKeyError};

/// The cups profile's link settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CupsSettings {
    /// The till's TPDU (destination NII of the host, source NII of the till).
    pub tpdu: Tpdu,
    pub mac: MacAlgorithm,
}

impl Default for CupsSettings {
    fn default() -> Self {
        CupsSettings {
            tpdu: Tpdu {
                destination: 1,
                source: 0,
            },
            mac: MacAlgorithm::UnionPayEcb,
        }
    }
}

/// Which host profile the link speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostProfile {
    /// ASCII ISO 8583:1987 with binary bitmaps (PROFILE.md, first part).
    Generic,
    /// The binary CUPS-style POS profile (PROFILE.md, "The cups profile").
    Cups(CupsSettings),
}

impl HostProfile {
    /// `generic` or `cups` (the TOML spelling).
    pub fn name(self) -> &'static str {
        match self {
            HostProfile::Generic => "generic",
            HostProfile::Cups(_) => "cups",
        }
    }

    /// The largest frame this profile accepts, checked before allocating.
    pub fn max_frame_len(self) -> usize {
        match self {
            HostProfile::Generic => MAX_MESSAGE_LEN,
            HostProfile::Cups(_) => MAX_FRAME_LEN,
        }
    }
}

/// Why a message could not be put on the wire or read from it.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error(transparent)]
    Cups(#[from] CupsError),
    #[error("the till is not signed on to the host (no working keys)")]
    NotSignedOn,
    #[error("no terminal master key is loaded (tillpoint acquirer load-tmk)")]
    NoMasterKey,
    #[error("the message's MAC does not verify")]
    BadMac,
    #[error("the message carries no MAC")]
    MissingMac,
    #[error("sign-on keys refused: {0}")]
    Keys(#[from] KeyError),
    #[error("terminal keys: {0}")]
    Store(#[from] TerminalKeyError),
}

/// Whether a cups message carries a MAC: everything but network
/// management (sign-on, sign-off, echo), which is how keys arrive.
pub fn carries_mac(wire_mti: Mti) -> bool {
    wire_mti.class() != 8
}

/// Encodes a generic message as a cups frame (TPDU, header, message, MAC).
/// `mac` is the algorithm and key, needed unless the message is network
/// management.
pub fn encode_cups(
    msg: &Message,
    tpdu: Tpdu,
    header: Header,
    mac: Option<(MacAlgorithm, &[u8; 16])>,
) -> Result<Vec<u8>, WireError> {
    let mut w = cups::to_wire(msg)?;
    let with_mac = carries_mac(w.mti) && mac.is_some();
    if carries_mac(w.mti)
        && mac.is_none()
        && msg.get_str(field::RESPONSE_CODE) != Some(response::MAC_ERROR)
    {
        return Err(WireError::NotSignedOn);
    }
    if with_mac {
        w.set(cups_field::MAC, vec![0u8; 8])?;
    }
    let mut bytes = pack(&CUPS_PROFILE, &w)?;
    if let (true, Some((alg, key))) = (with_mac, mac) {
        let mab_len = bytes.len() - 8;
        let code = alg.compute(key, &bytes[..mab_len]);
        bytes[mab_len..].copy_from_slice(&code);
    }
    Ok(cups::frame(tpdu, header, &bytes))
}

/// A cups frame read off the link, before its MAC is checked.
#[derive(Debug)]
pub struct CupsFrame {
    pub tpdu: Tpdu,
    pub header: Header,
    /// The message in the cups layout.
    pub wire: Message,
    /// The MAC element block: the packed message without field 64.
    mab: Vec<u8>,
}

impl CupsFrame {
    pub fn parse(frame: &[u8]) -> Result<CupsFrame, WireError> {
        let (tpdu, header, body) = cups::split(frame)?;
        let wire = unpack(&CUPS_PROFILE, body)?;
        let mab_len = body.len() - if wire.has(cups_field::MAC) { 8 } else { 0 };
        Ok(CupsFrame {
            tpdu,
            header,
            mab: body.get(..mab_len).unwrap_or_default().to_vec(),
            wire,
        })
    }

    /// The terminal id (field 41), by which a host picks the MAC key.
    pub fn tid(&self) -> Option<&str> {
        self.wire.get_str(field::TID).map(str::trim_end)
    }

    /// Checks field 64 under `key`. A message without a MAC passes only
    /// when it needs none.
    pub fn check_mac(&self, alg: MacAlgorithm, key: &[u8; 16]) -> Result<(), WireError> {
        match self.wire.get(cups_field::MAC) {
            Some(mac) if alg.verify(key, &self.mab, mac) => Ok(()),
            Some(_) => Err(WireError::BadMac),
            None if carries_mac(self.wire.mti) => Err(WireError::MissingMac),
            None => Ok(()),
        }
    }

    /// The message in the generic layout.
    pub fn to_generic(&self) -> Result<Message, WireError> {
        Ok(cups::from_wire(&self.wire)?)
    }
}

/// The terminal's keys as the link holds them.
struct Keys {
    tmk: Option<Key16>,
    working: Option<WorkingKeys>,
    /// Where they are sealed (the data directory); `None` keeps them in
    /// memory only (tests that give keys directly).
    dir: Option<PathBuf>,
    /// The host asked for a new sign-on (header requirement 3, or an A0).
    stale: bool,
}

/// The till's side of the wire: the profile and, under cups, the keys.
pub struct Wire {
    profile: HostProfile,
    keys: Keys,
}

impl std::fmt::Debug for Wire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wire")
            .field("profile", &self.profile.name())
            .field("signed_on", &self.keys.working.is_some())
            .finish()
    }
}

impl Wire {
    /// A wire with no keys yet (cups needs [`Wire::with_keys_in`] or
    /// [`Wire::with_tmk`] before it can sign on).
    pub fn new(profile: HostProfile) -> Wire {
        Wire {
            profile,
            keys: Keys {
                tmk: None,
                working: None,
                dir: None,
                stale: false,
            },
        }
    }

    /// Keys sealed in `dir` (the data directory): the TMK and the last
    /// sign-on's working keys, which new sign-ons replace there.
    pub fn with_keys_in(profile: HostProfile, dir: PathBuf) -> Result<Wire, WireError> {
        let mut wire = Wire::new(profile);
        if let HostProfile::Cups(_) = profile {
            wire.keys.tmk = terminal_keys::load_tmk(&dir)?;
            wire.keys.working = terminal_keys::load_working(&dir)?;
        }
        wire.keys.dir = Some(dir);
        Ok(wire)
    }

    /// Keys held in memory only, starting from `tmk`.
    pub fn with_tmk(profile: HostProfile, tmk: Key16) -> Wire {
        let mut wire = Wire::new(profile);
        wire.keys.tmk = Some(tmk);
        wire
    }

    pub fn profile(&self) -> HostProfile {
        self.profile
    }

    /// Whether a sign-on must come before the next message that carries a MAC.
    pub fn needs_sign_on(&self) -> bool {
        matches!(self.profile, HostProfile::Cups(_))
            && (self.keys.working.is_none() || self.keys.stale)
    }

    /// Marks the working keys as spent: the next message signs on first.
    pub fn expire(&mut self) {
        self.keys.stale = true;
    }

    /// The PIN key under the TMK for the pad (cups: master/session PIN entry).
    pub fn pin_key_under_tmk(&self) -> Option<[u8; 16]> {
        self.keys.working.as_ref().map(|w| w.pin_key_under_tmk)
    }

    /// The bytes of one frame for `msg`.
    pub fn encode(&self, msg: &Message) -> Result<Vec<u8>, WireError> {
        match self.profile {
            HostProfile::Generic => Ok(pack(&HOST_PROFILE, msg)?),
            HostProfile::Cups(s) => {
                let mac = self.keys.working.as_ref().map(|w| (s.mac, &*w.mac_key));
                encode_cups(msg, s.tpdu, Header::till(), mac)
            }
        }
    }

    /// The message in one frame from the host. Under cups this checks the
    /// MAC, installs the working keys of a sign-on answer, and notes when
    /// the host wants a new sign-on.
    pub fn decode(&mut self, frame: &[u8]) -> Result<Message, WireError> {
        let HostProfile::Cups(s) = self.profile else {
            return Ok(unpack(&HOST_PROFILE, frame)?);
        };
        let f = CupsFrame::parse(frame)?;
        let code = f.wire.get_str(field::RESPONSE_CODE);
        if code == Some(response::MAC_ERROR) {
            // The host could not verify our MAC: its answer carries none we
            // could check, and the keys are due for a new sign-on.
            self.keys.stale = true;
        } else {
            let key = self.keys.working.as_ref().map(|w| w.mac_key.clone());
            match key {
                Some(k) => f.check_mac(s.mac, &k)?,
                None if carries_mac(f.wire.mti) => return Err(WireError::NotSignedOn),
                None => {}
            }
        }
        if f.wire.mti == Mti::NETWORK_RESPONSE && code == Some(response::APPROVED) {
            if let Some(download) = f.wire.get(cups_field::RESERVED_62) {
                self.install(download)?;
            }
        }
        if f.header.requirement == Requirement::SignOn {
            self.keys.stale = true;
        }
        f.to_generic()
    }

    fn install(&mut self, download: &[u8]) -> Result<(), WireError> {
        let tmk = self.keys.tmk.as_ref().ok_or(WireError::NoMasterKey)?;
        let keys = WorkingKeys::from_download(tmk, download)?;
        if let Some(dir) = &self.keys.dir {
            terminal_keys::store_working(dir, &keys)?;
        }
        self.keys.working = Some(keys);
        self.keys.stale = false;
        tracing::info!("signed on: new working keys installed");
        Ok(())
    }
}
