//! Magnetic stripe tracks as a keyboard-wedge reader types them
//! (ISO/IEC 7813): track 1 `%B<PAN>^<NAME>^<YYMM><SSS><discretionary>?`
//! and track 2 `;<PAN>=<YYMM><SSS><discretionary>?`, each optionally
//! followed by its longitudinal redundancy check character.
//!
//! Only track 2 is kept: it is what the acquirer's field 35 carries, and
//! the PAN, expiry and service code are all in it. Track 1 (the
//! cardholder's name) is checked for shape and dropped. The data lives in
//! wiped memory for the one online request; `Debug` shows the masked PAN.

use std::fmt;
use zeroize::Zeroizing;

/// Longest track 2 the card holds: 37 characters of data, the sentinels
/// and the LRC (ISO/IEC 7813 §10).
pub const TRACK2_MAX: usize = 40;
/// Longest track 1: 76 characters of data, the sentinels and the LRC.
pub const TRACK1_MAX: usize = 79;

/// Why a swipe cannot be used; the cashier asks for another swipe.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StripeError {
    #[error("track 2 was not read: swipe again")]
    NoTrack2,
    #[error("track {0} has no start or end sentinel: swipe again")]
    Sentinel(u8),
    #[error("track {0} holds a character a card never has: swipe again")]
    Character(u8),
    #[error("track {0} is longer than a card's track")]
    TooLong(u8),
    #[error("track {0} failed its check character (LRC): swipe again")]
    Lrc(u8),
    #[error("the card number is not a card number")]
    Pan,
    #[error("the card number fails its check digit")]
    Luhn,
    #[error("the expiry date is not a date")]
    Expiry,
    #[error("the service code is missing")]
    ServiceCode,
    #[error("track 1 and track 2 name different cards")]
    Mismatch,
}

/// How the PIN is asked for, by the service code's third digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinRule {
    /// 0, 3, 5: the PIN is required.
    Required,
    /// 6, 7: asked for when there is a PIN pad (there always is here).
    IfPinPad,
    /// 1, 2, 4: no PIN.
    None,
}

/// The three digits after the expiry (ISO/IEC 7813 §8.2): where the card
/// may be used (1st), how it is authorized (2nd), which services and PIN
/// rules apply (3rd).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceCode(pub [u8; 3]);

impl ServiceCode {
    /// 2 (international) or 6 (national) first: the card has a chip, which
    /// must be used where the terminal reads chips.
    pub fn has_chip(self) -> bool {
        matches!(self.0[0], 2 | 6)
    }

    /// 2 or 4 second: authorized by the issuer (online) only.
    pub fn online_only(self) -> bool {
        matches!(self.0[1], 2 | 4)
    }

    pub fn pin(self) -> PinRule {
        match self.0[2] {
            0 | 3 | 5 => PinRule::Required,
            6 | 7 => PinRule::IfPinPad,
            _ => PinRule::None,
        }
    }

    /// 3 (ATM only) and 4 (cash only) third: not for goods at a till.
    pub fn usable_for_goods(self) -> bool {
        !matches!(self.0[2], 3 | 4)
    }
}

impl fmt::Display for ServiceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.0[0], self.0[1], self.0[2])
    }
}

/// A swiped card: track 2 and what it says. Wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct StripeCard {
    track2: Zeroizing<String>,
    pan_len: usize,
    expiry: String,
    service: ServiceCode,
    /// Whether a check character came with each track and matched.
    pub lrc_checked: bool,
}

impl StripeCard {
    pub fn pan(&self) -> &str {
        &self.track2[..self.pan_len]
    }

    /// `YYMM`.
    pub fn expiry(&self) -> &str {
        &self.expiry
    }

    pub fn service_code(&self) -> ServiceCode {
        self.service
    }

    /// Track 2 without its sentinels and check character (`PAN=YYMM…`), as
    /// field 35 carries it.
    pub fn track2(&self) -> &str {
        &self.track2
    }

    pub fn masked_pan(&self) -> String {
        tillpoint_core::tender::mask_pan(self.pan())
    }

    /// Whether the card expired before `now_yymm` (the card is good to
    /// the end of its expiry month).
    pub fn expired(&self, now_yymm: &str) -> bool {
        self.expiry.as_str() < now_yymm
    }
}

impl fmt::Debug for StripeCard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeCard")
            .field("pan", &self.masked_pan())
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

/// Reads what a keyboard-wedge reader typed for one swipe: track 1 and/or
/// track 2 with their sentinels (and check characters, where the reader
/// sends them). Whitespace and line ends between the tracks are ignored.
pub fn read_swipe(typed: &str) -> Result<StripeCard, StripeError> {
    let typed: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    let typed = Zeroizing::new(typed);
    let t2_start = typed.find(';').ok_or(StripeError::NoTrack2)?;
    let (t1, t2) = typed.split_at(t2_start);
    let card = track2(t2)?;
    if !t1.is_empty() {
        let pan1 = track1_pan(t1)?;
        if pan1.as_str() != card.pan() {
            return Err(StripeError::Mismatch);
        }
    }
    Ok(card)
}

/// The data between the sentinels, checking the LRC when one follows.
/// `value` maps a character to its code (4 bits on track 2, 6 on track 1).
fn framed(
    track: &str,
    no: u8,
    start: char,
    max: usize,
    value: fn(u8) -> Option<u8>,
) -> Result<(&str, bool), StripeError> {
    if track.len() > max {
        return Err(StripeError::TooLong(no));
    }
    let body = track.strip_prefix(start).ok_or(StripeError::Sentinel(no))?;
    let end = body.find('?').ok_or(StripeError::Sentinel(no))?;
    let (data, after) = (&body[..end], &body[end + 1..]);
    let mut lrc = value(start as u8).ok_or(StripeError::Character(no))?;
    for b in data.bytes() {
        lrc ^= value(b).ok_or(StripeError::Character(no))?;
    }
    lrc ^= value(b'?').ok_or(StripeError::Character(no))?;
    match after.as_bytes() {
        [] => Ok((data, false)),
        [c] if value(*c) == Some(lrc) => Ok((data, true)),
        [_] => Err(StripeError::Lrc(no)),
        _ => Err(StripeError::Character(no)),
    }
}

/// Track 2 characters: `0x30..=0x3F`, four data bits each.
fn t2_value(b: u8) -> Option<u8> {
    (0x30..=0x3F).contains(&b).then(|| b - 0x30)
}

/// Track 1 characters: `0x20..=0x5F`, six data bits each.
fn t1_value(b: u8) -> Option<u8> {
    (0x20..=0x5F).contains(&b).then(|| b - 0x20)
}

fn track2(track: &str) -> Result<StripeCard, StripeError> {
    let (data, lrc_checked) = framed(track, 2, ';', TRACK2_MAX, t2_value)?;
    // Only digits and the one field separator carry data.
    let sep = data.find('=').ok_or(StripeError::Pan)?;
    let (pan, rest) = (&data[..sep], &data[sep + 1..]);
    if !data.bytes().all(|b| b.is_ascii_digit() || b == b'=') || rest.contains('=') {
        return Err(StripeError::Character(2));
    }
    check_pan(pan)?;
    let expiry = rest.get(..4).ok_or(StripeError::Expiry)?;
    let month: u8 = expiry[2..].parse().map_err(|_| StripeError::Expiry)?;
    if !(1..=12).contains(&month) {
        return Err(StripeError::Expiry);
    }
    let sc = rest.get(4..7).ok_or(StripeError::ServiceCode)?.as_bytes();
    let service = ServiceCode([sc[0] - b'0', sc[1] - b'0', sc[2] - b'0']);
    Ok(StripeCard {
        track2: Zeroizing::new(data.to_owned()),
        pan_len: pan.len(),
        expiry: expiry.to_owned(),
        service,
        lrc_checked,
    })
}

/// Track 1's PAN, after checking the track's shape (format code B, the
/// name between separators, the same expiry layout as track 2).
fn track1_pan(track: &str) -> Result<Zeroizing<String>, StripeError> {
    let (data, _) = framed(track, 1, '%', TRACK1_MAX, t1_value)?;
    let data = data.strip_prefix('B').ok_or(StripeError::Character(1))?;
    let mut fields = data.splitn(3, '^');
    let pan = fields.next().unwrap_or_default();
    let name = fields.next().ok_or(StripeError::Character(1))?;
    let rest = fields.next().ok_or(StripeError::Character(1))?;
    if !(2..=26).contains(&name.len()) || rest.len() < 7 {
        return Err(StripeError::Character(1));
    }
    check_pan(pan)?;
    Ok(Zeroizing::new(pan.to_owned()))
}

fn check_pan(pan: &str) -> Result<(), StripeError> {
    if !(12..=19).contains(&pan.len()) || !pan.bytes().all(|b| b.is_ascii_digit()) {
        return Err(StripeError::Pan);
    }
    if !luhn(pan) {
        return Err(StripeError::Luhn);
    }
    Ok(())
}

/// The Luhn check digit (ISO/IEC 7812-1 Annex B).
pub fn luhn(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, b) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Track data of the published test cards (Visa's 4761 7390 0101 0119
    // and the ISO/IEC 7813 layout), as a wedge reader types it.
    const T1: &str = "%B4761739001010119^VISA ACQUIRER TEST/CARD 01^2512201000000000000000000?";
    const T2: &str = ";4761739001010119=25122011143804489?";

    #[test]
    fn both_tracks_give_the_card() {
        let c = read_swipe(&format!("{T1}{T2}\n")).unwrap();
        assert_eq!(c.pan(), "4761739001010119");
        assert_eq!(c.expiry(), "2512");
        assert_eq!(c.service_code(), ServiceCode([2, 0, 1]));
        assert_eq!(c.track2(), "4761739001010119=25122011143804489");
        assert!(c.service_code().has_chip());
        assert_eq!(c.service_code().pin(), PinRule::None);
        assert!(!c.lrc_checked);
        assert_eq!(
            format!("{c:?}"),
            "StripeCard { pan: \"476173******0119\", service: ServiceCode([2, 0, 1]), .. }"
        );
        assert!(!format!("{c:?}").contains("4761739001010119"));
        assert!(c.expired("2601") && !c.expired("2512"));
    }

    /// The check characters by the rule of ISO/IEC 7811-2: the XOR of
    /// every character's data bits, sentinels included (worked by hand and
    /// checked with an independent one-line Python XOR).
    /// Track 2 `;4761739001010119=25122011143804489?`: the XOR of
    /// 0xB, the digits, 0xD and 0xF is 0, so its LRC is `0`.
    /// Track 1 `%B1234567890123445^PUBLIC/JOHN Q^9901120000000000?` (the
    /// layout of ISO/IEC 7813's example): the XOR of each character less
    /// 0x20 is 0x02, so its LRC is `"`.
    #[test]
    fn lrc_is_checked_when_the_reader_sends_it() {
        let c = read_swipe(&format!("{T2}0")).unwrap();
        assert!(c.lrc_checked);
        assert_eq!(read_swipe(&format!("{T2}1")), Err(StripeError::Lrc(2)));
        let t1 = "%B1234567890123445^PUBLIC/JOHN Q^9901120000000000?";
        let t2 = ";1234567890123445=99011200000000000000?";
        let c = read_swipe(&format!("{t1}\"{t2}")).unwrap();
        assert_eq!(c.pan(), "1234567890123445");
        assert_eq!(read_swipe(&format!("{t1}#{t2}")), Err(StripeError::Lrc(1)));
    }

    #[test]
    fn the_service_code_rules() {
        let sc = |s: [u8; 3]| ServiceCode(s);
        assert!(sc([6, 0, 1]).has_chip() && !sc([1, 0, 1]).has_chip());
        assert!(sc([1, 2, 0]).online_only() && !sc([1, 0, 0]).online_only());
        assert_eq!(sc([1, 0, 0]).pin(), PinRule::Required);
        assert_eq!(sc([1, 0, 6]).pin(), PinRule::IfPinPad);
        assert_eq!(sc([1, 0, 2]).pin(), PinRule::None);
        assert!(!sc([1, 0, 3]).usable_for_goods() && sc([1, 0, 5]).usable_for_goods());
    }

    #[test]
    fn bad_swipes_say_what_is_wrong() {
        let cases: &[(&str, StripeError)] = &[
            (T1, StripeError::NoTrack2),
            (";4761739001010119=2512201", StripeError::Sentinel(2)),
            ("4761739001010119=2512201?", StripeError::NoTrack2),
            (";4761739001010118=2512201?", StripeError::Luhn),
            (";47617390=2512201?", StripeError::Pan),
            (";4761739001010119=2513201?", StripeError::Expiry),
            (";4761739001010119=2512?", StripeError::ServiceCode),
            (";4761739001010119=25A2201?", StripeError::Character(2)),
            (";4761739001010119=2512201=1?", StripeError::Character(2)),
            (
                ";4761739001010119=251220111438044891234567890?",
                StripeError::TooLong(2),
            ),
            (
                "%B4111111111111111^TEST/CARD^2512201?;4761739001010119=2512201?",
                StripeError::Mismatch,
            ),
            (
                "%4761739001010119^X^2512201?;4761739001010119=2512201?",
                StripeError::Character(1),
            ),
        ];
        for (typed, want) in cases {
            assert_eq!(read_swipe(typed).as_ref().err(), Some(want), "{typed}");
        }
    }

    #[test]
    fn luhn_matches_the_published_test_numbers() {
        for pan in ["4111111111111111", "5555555555554444", "6212345678901232"] {
            assert!(luhn(pan), "{pan}");
        }
        assert!(!luhn("4111111111111112"));
    }

    proptest::proptest! {
        /// What the fuzz target checks, on every test run: anything a
        /// reader could type (the tracks' alphabets, sentinels and
        /// separators in any order) is read or refused without a panic, and
        /// an accepted swipe is a well-formed card whose Debug hides it.
        #[test]
        fn anything_typed_is_read_or_refused_never_mangled(
            typed in "[%;B^=?0-9A-Z/ ]{0,90}",
            pan in "[0-9]{12,19}",
            rest in "[0-9]{0,20}",
        ) {
            for input in [typed, format!(";{pan}={rest}?")] {
                if let Ok(card) = read_swipe(&input) {
                    let p = card.pan();
                    proptest::prop_assert!((12..=19).contains(&p.len()) && luhn(p));
                    let t2 = card.track2();
                    proptest::prop_assert!(t2.starts_with(p) && t2.len() <= TRACK2_MAX - 3);
                    proptest::prop_assert_eq!(t2.matches('=').count(), 1);
                    let month: u8 = card.expiry()[2..].parse().unwrap_or(0);
                    proptest::prop_assert!((1..=12).contains(&month));
                    let shown = format!("{:?}", card);
                    proptest::prop_assert!(!shown.contains(p));
                }
            }
        }
    }
}
