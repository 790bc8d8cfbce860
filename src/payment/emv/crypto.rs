//! Symmetric EMV cryptography shared by the virtual card and the acquirer
//! simulator: ICC master key derivation (Option A), the common session key
//! derivation, application cryptograms as an ISO 9797-1 MAC (algorithm 3,
//! single DES with a triple-DES final step) and ARPC method 1.
//! References: EMV 4.4 Book 2, Annex A1.2-A1.4 and section 8.
//!
//! The terminal kernel itself never computes cryptograms; this lives here
//! so card and host use one implementation checked against public vectors.

use cipher::generic_array::GenericArray;
use cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use des::{Des, TdesEde2};
use thiserror::Error;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::tlv::{self, Tlv};

/// Bad input to a key derivation.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CryptoError {
    /// PAN or PSN contain something other than decimal digits.
    #[error("PAN and PAN sequence number must be decimal digits")]
    NotDigits,
    /// PAN outside the 12-19 digits ISO/IEC 7812 allows.
    #[error("PAN must have 12 to 19 digits, got {0}")]
    PanLength(usize),
    /// A field needed for the cryptogram input is missing or of wrong size.
    #[error("cryptogram input field {0:X} missing or of wrong length")]
    MissingField(u32),
}

/// A double-length DES key (16 bytes), wiped on drop.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct DesKey([u8; 16]);

impl std::fmt::Debug for DesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Only the check value: enough to compare keys, useless to an attacker.
        write!(f, "DesKey(kcv={})", hex::encode_upper(self.check_value()))
    }
}

impl DesKey {
    /// Wraps raw key bytes.
    pub fn new(bytes: [u8; 16]) -> DesKey {
        DesKey(bytes)
    }

    /// Key from a 32-character hex string (test configuration only).
    pub fn from_hex(s: &str) -> Option<DesKey> {
        let v = hex::decode(s).ok()?;
        let arr: [u8; 16] = v.as_slice().try_into().ok()?;
        Some(DesKey(arr))
    }

    /// Key check value: the first 3 bytes of the key encrypting zeros, the
    /// usual way to compare keys without showing them.
    pub fn check_value(&self) -> [u8; 3] {
        let e = self.encrypt_block([0u8; 8]);
        [e[0], e[1], e[2]]
    }

    /// Triple-DES (EDE, two keys) of one block.
    pub fn encrypt_block(&self, block: [u8; 8]) -> [u8; 8] {
        let cipher = TdesEde2::new(GenericArray::from_slice(&self.0));
        let mut b = GenericArray::clone_from_slice(&block);
        cipher.encrypt_block(&mut b);
        let mut out = [0u8; 8];
        out.copy_from_slice(&b);
        out
    }

    fn left(&self) -> &[u8] {
        &self.0[..8]
    }

    fn right(&self) -> &[u8] {
        &self.0[8..]
    }
}

/// Sets odd parity on every byte, as derived DES keys must have.
fn adjust_parity(key: &mut [u8]) {
    for b in key.iter_mut() {
        let ones = (*b & 0xFE).count_ones();
        *b = (*b & 0xFE) | u8::from(ones % 2 == 0);
    }
}

/// ICC master key derivation, Option A (EMV Book 2, A1.4.1): the rightmost
/// 16 digits of PAN || PSN (PSN "00" when the card has none), packed as BCD,
/// encrypted under the issuer master key, and again inverted.
pub fn derive_icc_master_key_a(
    issuer_mk: &DesKey,
    pan: &str,
    psn: Option<&str>,
) -> Result<DesKey, CryptoError> {
    let psn = psn.unwrap_or("00");
    if !pan.bytes().all(|b| b.is_ascii_digit()) || !psn.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CryptoError::NotDigits);
    }
    if !(12..=19).contains(&pan.len()) {
        return Err(CryptoError::PanLength(pan.len()));
    }
    let mut digits: Vec<u8> = pan.bytes().chain(psn.bytes()).map(|b| b - b'0').collect();
    if digits.len() < 16 {
        let mut padded = vec![0u8; 16 - digits.len()];
        padded.extend_from_slice(&digits);
        digits = padded;
    }
    let tail = &digits[digits.len() - 16..];
    let mut y = [0u8; 8];
    for (i, pair) in tail.chunks(2).enumerate() {
        if let (Some(slot), [hi, lo]) = (y.get_mut(i), pair) {
            *slot = (hi << 4) | lo;
        }
    }
    let zl = issuer_mk.encrypt_block(y);
    let zr = issuer_mk.encrypt_block(y.map(|b| b ^ 0xFF));
    let mut mk = [0u8; 16];
    mk[..8].copy_from_slice(&zl);
    mk[8..].copy_from_slice(&zr);
    adjust_parity(&mut mk);
    digits.zeroize();
    Ok(DesKey(mk))
}

/// Common session key derivation (EMV Book 2, A1.3.1) from a master key and
/// the 8-byte diversifier R: F1 and F2 are R with its third byte set to F0
/// and 0F; SK = DES3(MK)[F1] || DES3(MK)[F2].
pub fn derive_session_key(mk: &DesKey, r: [u8; 8]) -> DesKey {
    let mut f1 = r;
    f1[2] = 0xF0;
    let mut f2 = r;
    f2[2] = 0x0F;
    let mut sk = [0u8; 16];
    sk[..8].copy_from_slice(&mk.encrypt_block(f1));
    sk[8..].copy_from_slice(&mk.encrypt_block(f2));
    adjust_parity(&mut sk);
    DesKey(sk)
}

/// Session key for application cryptograms: R = ATC || 00 00 00 00 00 00
/// (EMV Book 2, 8.1.1).
pub fn ac_session_key(mk: &DesKey, atc: [u8; 2]) -> DesKey {
    derive_session_key(mk, [atc[0], atc[1], 0, 0, 0, 0, 0, 0])
}

/// ISO/IEC 9797-1 padding method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// Method 1: zeros up to a block boundary (Visa CVN 10 style).
    Zeros,
    /// Method 2: one 0x80 byte, then zeros (EMV Book 2, A1.2.1).
    Iso2,
}

/// ISO/IEC 9797-1 MAC algorithm 3 ("retail MAC"): single-DES CBC-MAC under
/// the left key half, then decrypt with the right half and encrypt with the
/// left on the last block.
pub fn retail_mac(key: &DesKey, data: &[u8], padding: Padding) -> [u8; 8] {
    let mut msg = data.to_vec();
    match padding {
        Padding::Zeros => {
            if msg.is_empty() || !msg.len().is_multiple_of(8) {
                msg.resize(msg.len().div_ceil(8).max(1) * 8, 0);
            }
        }
        Padding::Iso2 => {
            msg.push(0x80);
            msg.resize(msg.len().div_ceil(8) * 8, 0);
        }
    }
    let kl = Des::new(GenericArray::from_slice(key.left()));
    let kr = Des::new(GenericArray::from_slice(key.right()));
    let mut state = GenericArray::clone_from_slice(&[0u8; 8]);
    for block in msg.chunks(8) {
        for (s, b) in state.iter_mut().zip(block) {
            *s ^= b;
        }
        kl.encrypt_block(&mut state);
    }
    kr.decrypt_block(&mut state);
    kl.encrypt_block(&mut state);
    msg.zeroize();
    let mut out = [0u8; 8];
    out.copy_from_slice(&state);
    out
}

/// Application cryptogram (ARQC, TC or AAC) over `data` with the AC session
/// key: EMV Book 2, 8.1.2, MAC algorithm 3 with padding method 2.
pub fn application_cryptogram(session_key: &DesKey, data: &[u8]) -> [u8; 8] {
    retail_mac(session_key, data, Padding::Iso2)
}

/// ARPC method 1 (EMV Book 2, 8.2.1): DES3(key)[ARQC xor (ARC || 00..00)].
/// `key` is the AC session key (or, for CVNs that use it, the ICC master
/// key); the caller chooses.
pub fn arpc_method1(key: &DesKey, arqc: &[u8; 8], arc: [u8; 2]) -> [u8; 8] {
    let mut x = *arqc;
    x[0] ^= arc[0];
    x[1] ^= arc[1];
    key.encrypt_block(x)
}

/// The data an application cryptogram covers in this project's cards: the
/// minimum set of EMV Book 2, 8.1.1 (Table 26) followed by the 4-byte Card
/// Verification Results carried in the Issuer Application Data.
///
/// Built from tags so that the card (from its CDOL data) and the acquirer
/// simulator (from field 55) assemble exactly the same bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptogramInput {
    /// Amount, authorised (9F02), 6 bytes BCD.
    pub amount_authorised: [u8; 6],
    /// Amount, other (9F03), 6 bytes BCD.
    pub amount_other: [u8; 6],
    /// Terminal country code (9F1A).
    pub terminal_country: [u8; 2],
    /// TVR (95).
    pub tvr: [u8; 5],
    /// Transaction currency code (5F2A).
    pub currency: [u8; 2],
    /// Transaction date YYMMDD (9A).
    pub date: [u8; 3],
    /// Transaction type (9C).
    pub txn_type: u8,
    /// Unpredictable number (9F37).
    pub unpredictable_number: [u8; 4],
    /// Application interchange profile (82).
    pub aip: [u8; 2],
    /// Application transaction counter (9F36).
    pub atc: [u8; 2],
    /// Card verification results from the IAD.
    pub cvr: [u8; 4],
}

/// Issuer Application Data layout used by the project's virtual cards:
/// length (06), derivation key index, cryptogram version number, CVR (4).
pub const IAD_CVN: u8 = 0x12;

/// Builds the 7-byte IAD from its parts.
pub fn build_iad(dki: u8, cvr: [u8; 4]) -> Vec<u8> {
    vec![0x06, dki, IAD_CVN, cvr[0], cvr[1], cvr[2], cvr[3]]
}

/// CVR from an IAD in the project's layout.
pub fn cvr_from_iad(iad: &[u8]) -> Option<[u8; 4]> {
    match iad {
        [0x06, _, IAD_CVN, a, b, c, d, ..] => Some([*a, *b, *c, *d]),
        _ => None,
    }
}

fn fixed<const N: usize>(list: &[Tlv], tag: u32) -> Result<[u8; N], CryptoError> {
    tlv::find_bytes(list, tag)
        .and_then(|v| v.try_into().ok())
        .ok_or(CryptoError::MissingField(tag))
}

impl CryptogramInput {
    /// The bytes the MAC covers, in Table 26 order.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(41);
        out.extend_from_slice(&self.amount_authorised);
        out.extend_from_slice(&self.amount_other);
        out.extend_from_slice(&self.terminal_country);
        out.extend_from_slice(&self.tvr);
        out.extend_from_slice(&self.currency);
        out.extend_from_slice(&self.date);
        out.push(self.txn_type);
        out.extend_from_slice(&self.unpredictable_number);
        out.extend_from_slice(&self.aip);
        out.extend_from_slice(&self.atc);
        out.extend_from_slice(&self.cvr);
        out
    }

    /// Collects the input from TLV data such as field 55 (host side).
    pub fn from_tlv(list: &[Tlv]) -> Result<CryptogramInput, CryptoError> {
        let iad = tlv::find_bytes(list, 0x9F10).ok_or(CryptoError::MissingField(0x9F10))?;
        Ok(CryptogramInput {
            amount_authorised: fixed(list, 0x9F02)?,
            amount_other: fixed(list, 0x9F03).unwrap_or([0; 6]),
            terminal_country: fixed(list, 0x9F1A)?,
            tvr: fixed(list, 0x95)?,
            currency: fixed(list, 0x5F2A)?,
            date: fixed(list, 0x9A)?,
            txn_type: fixed::<1>(list, 0x9C)?[0],
            unpredictable_number: fixed(list, 0x9F37)?,
            aip: fixed(list, 0x82)?,
            atc: fixed(list, 0x9F36)?,
            cvr: cvr_from_iad(iad).ok_or(CryptoError::MissingField(0x9F10))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Test vectors: knovichikhin/pyemv, tests/test_kd_hsm.py,
    // tests/test_ac_hsm.py and tests/test_mac.py (values there were
    // cross-checked against a payment HSM by that project). Issuer master
    // key 0123456789ABCDEFFEDCBA9876543210 (KCV 08D7...).
    fn imk() -> DesKey {
        DesKey::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap()
    }

    fn kcv2(k: &DesKey) -> String {
        hex::encode_upper(&k.check_value()[..2])
    }

    #[test]
    fn issuer_key_check_value() {
        assert_eq!(kcv2(&imk()), "08D7");
    }

    #[test]
    fn option_a_16_digit_pan_with_psn() {
        // test_ac_hsm.py::test_generate_ac_emv_arpc1
        let mk = derive_icc_master_key_a(&imk(), "9901234567890123", Some("45")).unwrap();
        assert_eq!(kcv2(&mk), "1DA5");
        let sk = derive_session_key(
            &mk,
            hex::decode("1234567890123456").unwrap().try_into().unwrap(),
        );
        assert_eq!(kcv2(&sk), "0995");
        let arqc = application_cryptogram(
            &sk,
            &hex::decode("0123456789ABCDEF0123456789ABCDEF").unwrap(),
        );
        assert_eq!(hex::encode_upper(arqc), "4B46013359B7A58B");
        // ARPC method 1 under the ICC master key, ARC 0000
        assert_eq!(
            hex::encode_upper(arpc_method1(&mk, &arqc, [0, 0])),
            "F8C9CECAABD55AD1"
        );
        // Padding method 1 (Visa) over 17 bytes: test_generate_ac_visa_aprc1
        let visa = retail_mac(
            &sk,
            &hex::decode("0123456789ABCDEF0123456789ABCDEF01").unwrap(),
            Padding::Zeros,
        );
        assert_eq!(hex::encode_upper(visa), "2E141C6BC4A20DA8");
    }

    #[test]
    fn option_a_17_digit_pan_and_session_key_arpc() {
        // test_kd_hsm.py::test_derive_icc_mk_a_psn and ::test_derive_common_sk
        let mk = derive_icc_master_key_a(&imk(), "12345678901234567", Some("45")).unwrap();
        assert_eq!(kcv2(&mk), "FF08");
        let sk = derive_session_key(
            &mk,
            hex::decode("1234567890123456").unwrap().try_into().unwrap(),
        );
        assert_eq!(kcv2(&sk), "DF82");
        let arqc = application_cryptogram(
            &sk,
            &hex::decode("0123456789ABCDEF0123456789ABCDEF").unwrap(),
        );
        assert_eq!(hex::encode_upper(arqc), "19C1FBC83EBDC0D5");
        assert_eq!(
            hex::encode_upper(arpc_method1(&mk, &arqc, [0, 0])),
            "78A372523FA35A03"
        );
        assert_eq!(
            hex::encode_upper(arpc_method1(&sk, &arqc, [0, 0])),
            "C3620580668E5B65"
        );
    }

    #[test]
    fn option_a_without_psn() {
        // test_kd_hsm.py::test_derive_icc_mk_a_no_psn
        let mk = derive_icc_master_key_a(&imk(), "12345678901234567", None).unwrap();
        let sk = derive_session_key(
            &mk,
            hex::decode("1234567890123456").unwrap().try_into().unwrap(),
        );
        assert_eq!(kcv2(&sk), "3F4F");
        let arqc = application_cryptogram(
            &sk,
            &hex::decode("0123456789ABCDEF0123456789ABCDEF").unwrap(),
        );
        assert_eq!(hex::encode_upper(arqc), "8698A7319324FD93");
        assert_eq!(
            hex::encode_upper(arpc_method1(&mk, &arqc, [0, 0])),
            "BEA11C8F4A47EF6F"
        );
    }

    #[test]
    fn retail_mac_vectors() {
        // test_mac.py::test_mac_iso9797_3: key AAAA.. || BBBB.., "hello world"
        let k = DesKey::from_hex("AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBB").unwrap();
        assert_eq!(
            hex::encode_upper(retail_mac(&k, b"hello world", Padding::Zeros)),
            "78DA3D3DEB48FD4D"
        );
        assert_eq!(
            hex::encode_upper(retail_mac(&k, b"hello world", Padding::Iso2)),
            "2BC2D9EDE0CF31F6"
        );
    }

    #[test]
    fn derivation_rejects_bad_input() {
        assert_eq!(
            derive_icc_master_key_a(&imk(), "12345", None),
            Err(CryptoError::PanLength(5))
        );
        assert_eq!(
            derive_icc_master_key_a(&imk(), "4761739001010010", Some("4x")),
            Err(CryptoError::NotDigits)
        );
    }

    #[test]
    fn derived_keys_have_odd_parity() {
        let mk = derive_icc_master_key_a(&imk(), "4761739001010010", Some("01")).unwrap();
        assert!(mk.0.iter().all(|b| b.count_ones() % 2 == 1));
    }

    #[test]
    fn cryptogram_input_round_trips_through_field55() {
        let input = CryptogramInput {
            amount_authorised: [0, 0, 0, 0, 0x12, 0x34],
            amount_other: [0; 6],
            terminal_country: [0x08, 0x40],
            tvr: [0, 0, 0, 0x80, 0],
            currency: [0x08, 0x40],
            date: [0x25, 0x06, 0x30],
            txn_type: 0,
            unpredictable_number: [1, 2, 3, 4],
            aip: [0x39, 0x00],
            atc: [0, 7],
            cvr: [0x03, 0xA0, 0, 0],
        };
        let list = vec![
            Tlv::primitive(0x9F02, input.amount_authorised.to_vec()),
            Tlv::primitive(0x9F1A, input.terminal_country.to_vec()),
            Tlv::primitive(0x95, input.tvr.to_vec()),
            Tlv::primitive(0x5F2A, input.currency.to_vec()),
            Tlv::primitive(0x9A, input.date.to_vec()),
            Tlv::primitive(0x9C, vec![0]),
            Tlv::primitive(0x9F37, input.unpredictable_number.to_vec()),
            Tlv::primitive(0x82, input.aip.to_vec()),
            Tlv::primitive(0x9F36, input.atc.to_vec()),
            Tlv::primitive(0x9F10, build_iad(1, input.cvr)),
        ];
        assert_eq!(CryptogramInput::from_tlv(&list).unwrap(), input);
        assert_eq!(input.to_bytes().len(), 37);
    }
}
