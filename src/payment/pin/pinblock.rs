//! ISO 9564-1 PIN blocks, formats 0 and 4.
//!
//! The PIN pad (or its simulator) builds a block from the cardholder's PIN and the
//! card's PAN; the acquirer side decodes it after decrypting with the DUKPT key.
//! Format 0 is the clear 8-byte block that TDES DUKPT encrypts; format 4 is the
//! 16-byte AES block, which by definition is enciphered twice with the PAN field
//! mixed in between, so its codec here takes the AES key.
//!
//! Every clear PIN, PIN field and clear block lives in `Zeroizing` storage so it
//! is wiped when dropped.

use aes::Aes128;
use cipher::generic_array::GenericArray;
use cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use zeroize::Zeroizing;

use super::PinError;

/// Shortest PIN that ISO 9564 allows.
pub const MIN_PIN_LEN: usize = 4;
/// Longest PIN that ISO 9564 allows (one length nibble, twelve digit nibbles).
pub const MAX_PIN_LEN: usize = 12;
/// Shortest PAN accepted (ISO/IEC 7812 allows 8 digits; shorter ones are rejected).
pub const MIN_PAN_LEN: usize = 8;
/// Longest PAN accepted (ISO/IEC 7812).
pub const MAX_PAN_LEN: usize = 19;

/// Checks that `pin` is 4 to 12 decimal digits.
pub fn validate_pin(pin: &str) -> Result<(), PinError> {
    let len = pin.len();
    if !(MIN_PIN_LEN..=MAX_PIN_LEN).contains(&len) || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PinError::InvalidPin);
    }
    Ok(())
}

/// Checks that `pan` is 8 to 19 decimal digits.
pub fn validate_pan(pan: &str) -> Result<(), PinError> {
    let len = pan.len();
    if !(MIN_PAN_LEN..=MAX_PAN_LEN).contains(&len) || !pan.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PinError::InvalidPan);
    }
    Ok(())
}

fn digit(b: u8) -> u8 {
    b.wrapping_sub(b'0') & 0x0F
}

/// Packs nibbles (each < 16) into bytes, high nibble first. `nibbles.len()` must be even.
fn pack(nibbles: &[u8], out: &mut [u8]) {
    for (byte, pair) in out.iter_mut().zip(nibbles.chunks(2)) {
        let hi = pair.first().copied().unwrap_or(0);
        let lo = pair.get(1).copied().unwrap_or(0);
        *byte = (hi << 4) | (lo & 0x0F);
    }
}

fn nibble_at(bytes: &[u8], index: usize) -> u8 {
    let byte = bytes.get(index / 2).copied().unwrap_or(0);
    if index.is_multiple_of(2) {
        byte >> 4
    } else {
        byte & 0x0F
    }
}

/// Format 0 PAN field: four zero nibbles, then the twelve rightmost PAN digits
/// excluding the check digit (left-padded with zeros for short PANs).
fn format0_pan_field(pan: &str) -> Result<[u8; 8], PinError> {
    validate_pan(pan)?;
    let (_check, without_check) = pan.as_bytes().split_last().ok_or(PinError::InvalidPan)?;
    // The twelve rightmost digits, right-aligned in the 16 nibbles.
    let mut nibbles = [0u8; 16];
    for (slot, d) in nibbles
        .iter_mut()
        .rev()
        .zip(without_check.iter().rev().take(12))
    {
        *slot = digit(*d);
    }
    let mut field = [0u8; 8];
    pack(&nibbles, &mut field);
    Ok(field)
}

/// Builds the clear ISO 9564 format 0 block (PIN field XOR PAN field). Pad side.
pub fn encode_format0(pin: &str, pan: &str) -> Result<Zeroizing<[u8; 8]>, PinError> {
    validate_pin(pin)?;
    let pan_field = format0_pan_field(pan)?;
    let mut nibbles = Zeroizing::new([0x0Fu8; 16]);
    nibbles[0] = 0;
    nibbles[1] = pin.len() as u8;
    for (slot, d) in nibbles[2..].iter_mut().zip(pin.bytes()) {
        *slot = digit(d);
    }
    let mut block = Zeroizing::new([0u8; 8]);
    pack(&nibbles[..], &mut block[..]);
    for (b, p) in block.iter_mut().zip(pan_field.iter()) {
        *b ^= p;
    }
    Ok(block)
}

/// Recovers the PIN from a clear ISO 9564 format 0 block. Host side.
///
/// Rejects a wrong control nibble, a length outside 4..=12, non-decimal PIN
/// digits and fill nibbles other than `F`: any of these means a wrong key, a wrong
/// PAN or a tampered block.
pub fn decode_format0(block: &[u8; 8], pan: &str) -> Result<Zeroizing<String>, PinError> {
    let pan_field = format0_pan_field(pan)?;
    let mut field = Zeroizing::new(*block);
    for (b, p) in field.iter_mut().zip(pan_field.iter()) {
        *b ^= p;
    }
    decode_pin_field(&field[..], 0, 0x0F, 16)
}

/// Reads control nibble, length, digits and fill from a PIN field; fill nibbles
/// from after the PIN up to `fill_end` must equal `fill`.
fn decode_pin_field(
    field: &[u8],
    control: u8,
    fill: u8,
    fill_end: usize,
) -> Result<Zeroizing<String>, PinError> {
    if nibble_at(field, 0) != control {
        return Err(PinError::MalformedBlock("wrong control nibble"));
    }
    let len = usize::from(nibble_at(field, 1));
    if !(MIN_PIN_LEN..=MAX_PIN_LEN).contains(&len) {
        return Err(PinError::MalformedBlock("PIN length out of range"));
    }
    let mut pin = Zeroizing::new(String::with_capacity(len));
    for i in 0..len {
        let n = nibble_at(field, 2 + i);
        if n > 9 {
            return Err(PinError::MalformedBlock("non-decimal PIN digit"));
        }
        pin.push(char::from(b'0' + n));
    }
    if (2 + len..fill_end).any(|i| nibble_at(field, i) != fill) {
        return Err(PinError::MalformedBlock("bad fill nibble"));
    }
    Ok(pin)
}

/// Format 4 plain-text PIN field: `4`, length, PIN digits, `A` fill to 16
/// nibbles, then eight random bytes (ISO 9564-1:2017, 9.4.2).
pub fn format4_pin_field(pin: &str, random: &[u8; 8]) -> Result<Zeroizing<[u8; 16]>, PinError> {
    validate_pin(pin)?;
    let mut nibbles = Zeroizing::new([0x0Au8; 16]);
    nibbles[0] = 4;
    nibbles[1] = pin.len() as u8;
    for (slot, d) in nibbles[2..].iter_mut().zip(pin.bytes()) {
        *slot = digit(d);
    }
    let mut field = Zeroizing::new([0u8; 16]);
    pack(&nibbles[..], &mut field[..8]);
    field[8..].copy_from_slice(random);
    Ok(field)
}

/// Format 4 plain-text PAN field: `M` (PAN length minus 12, 0 for shorter PANs),
/// the PAN (left-padded with zeros to 12 digits when shorter), zero fill to 32
/// nibbles (ISO 9564-1:2017, 9.4.3).
pub fn format4_pan_field(pan: &str) -> Result<[u8; 16], PinError> {
    validate_pan(pan)?;
    let mut nibbles = [0u8; 32];
    let len = pan.len();
    // Shorter PANs are left-padded with zeros to 12 digits (M stays 0).
    nibbles[0] = len.saturating_sub(12) as u8;
    let start = 1 + 12usize.saturating_sub(len);
    for (slot, d) in nibbles.iter_mut().skip(start).zip(pan.bytes()) {
        *slot = digit(d);
    }
    let mut field = [0u8; 16];
    pack(&nibbles, &mut field);
    Ok(field)
}

/// Enciphers a format 4 block under an AES key: `E(E(pin_field) XOR pan_field)`.
/// Pad side; `random` is the eight-byte random fill (fresh for every block).
pub fn encrypt_format4(
    key: &[u8; 16],
    pin: &str,
    pan: &str,
    random: &[u8; 8],
) -> Result<[u8; 16], PinError> {
    let pin_field = format4_pin_field(pin, random)?;
    let pan_field = format4_pan_field(pan)?;
    let cipher = Aes128::new(GenericArray::from_slice(key));
    let mut block = Zeroizing::new(*pin_field);
    cipher.encrypt_block(GenericArray::from_mut_slice(&mut block[..]));
    for (b, p) in block.iter_mut().zip(pan_field.iter()) {
        *b ^= p;
    }
    cipher.encrypt_block(GenericArray::from_mut_slice(&mut block[..]));
    Ok(*block)
}

/// Deciphers a format 4 block and recovers the PIN. Host side.
pub fn decrypt_format4(
    key: &[u8; 16],
    block: &[u8; 16],
    pan: &str,
) -> Result<Zeroizing<String>, PinError> {
    let pan_field = format4_pan_field(pan)?;
    let cipher = Aes128::new(GenericArray::from_slice(key));
    let mut work = Zeroizing::new(*block);
    cipher.decrypt_block(GenericArray::from_mut_slice(&mut work[..]));
    for (b, p) in work.iter_mut().zip(pan_field.iter()) {
        *b ^= p;
    }
    cipher.decrypt_block(GenericArray::from_mut_slice(&mut work[..]));
    decode_pin_field(&work[..8], 4, 0x0A, 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex<const N: usize>(s: &str) -> [u8; N] {
        let v = hex::decode(s).unwrap();
        v.try_into().unwrap()
    }

    // Format 0 clear block for PIN 1234 / PAN 4012345678909: the input block of
    // the ANSI X9.24-1:2009 Annex A.4 DUKPT test sequence (041274EDCBA9876F).
    #[test]
    fn format0_x9_24_annex_a_block() {
        let block = encode_format0("1234", "4012345678909").unwrap();
        assert_eq!(hex::encode_upper(&block[..]), "041274EDCBA9876F");
        let pin = decode_format0(&block, "4012345678909").unwrap();
        assert_eq!(pin.as_str(), "1234");
    }

    // ISO 9564-1 format 0 worked examples as published in CyberChef's payment
    // operation tests (PAN 5432101234567890 → PAN field 0000210123456789).
    #[test]
    fn format0_published_examples() {
        let cases = [
            ("1234", "5432101234567890", "041215FEDCBA9876"),
            ("123456", "5432101234567890", "06121557DCBA9876"),
            ("1234", "0000001234567890", "041234FEDCBA9876"),
            ("1234", "123456789012", "041235DCBA9876FE"),
        ];
        for (pin, pan, expected) in cases {
            let block = encode_format0(pin, pan).unwrap();
            assert_eq!(hex::encode_upper(&block[..]), expected, "{pin} {pan}");
            assert_eq!(decode_format0(&block, pan).unwrap().as_str(), pin);
        }
    }

    #[test]
    fn format0_rejects_bad_input() {
        assert_eq!(
            encode_format0("123", "4012345678909"),
            Err(PinError::InvalidPin)
        );
        assert_eq!(
            encode_format0("1234567890123", "4012345678909"),
            Err(PinError::InvalidPin)
        );
        assert_eq!(
            encode_format0("12a4", "4012345678909"),
            Err(PinError::InvalidPin)
        );
        assert_eq!(encode_format0("1234", "40123"), Err(PinError::InvalidPan));
        // A block decoded with the wrong PAN has the wrong fill and is refused.
        let block = encode_format0("1234", "4012345678909").unwrap();
        assert!(decode_format0(&block, "5432101234567890").is_err());
        // Control nibble 1 is format 1, not format 0.
        let mut other = *block;
        other[0] ^= 0x10;
        assert!(matches!(
            decode_format0(&other, "4012345678909"),
            Err(PinError::MalformedBlock(_))
        ));
    }

    // X9.24-3-2017 supplement, format 4 worked example (PIN 1234, PAN
    // 4111111111111111, random fill 2F69ADDE2E9E7ACE), as reproduced in the
    // paycrypt and joinforage test suites.
    #[test]
    fn format4_fields_x9_24_3_example() {
        let random = unhex::<8>("2F69ADDE2E9E7ACE");
        let pin_field = format4_pin_field("1234", &random).unwrap();
        assert_eq!(
            hex::encode_upper(&pin_field[..]),
            "441234AAAAAAAAAA2F69ADDE2E9E7ACE"
        );
        let pan_field = format4_pan_field("4111111111111111").unwrap();
        assert_eq!(
            hex::encode_upper(pan_field),
            "44111111111111111000000000000000"
        );
    }

    #[test]
    fn format4_encipher_x9_24_3_example() {
        let random = unhex::<8>("2F69ADDE2E9E7ACE");
        // Transaction 1 and 2 PIN keys of the X9.24-3 AES-128 test sequence.
        let cases = [
            (
                "AF8CB133A78F8DC2D1359F18527593FB",
                "A912150391AB65A67E52883D81CE2D15",
            ),
            (
                "D30BDC73EC9714B000BEC66BDB7B6D09",
                "52A00503BD34BA1383F6A7EE9FE2547F",
            ),
        ];
        for (key, expected) in cases {
            let key = unhex::<16>(key);
            let block = encrypt_format4(&key, "1234", "4111111111111111", &random).unwrap();
            assert_eq!(hex::encode_upper(block), expected);
            let pin = decrypt_format4(&key, &block, "4111111111111111").unwrap();
            assert_eq!(pin.as_str(), "1234");
        }
    }

    // psec (knovichikhin/psec) decipher vector, as reproduced in paycrypt's tests.
    #[test]
    fn format4_decipher_psec_vector() {
        let key = unhex::<16>("00112233445566778899AABBCCDDEEFF");
        let block = unhex::<16>("E4BE5B623AF7E006AC319E5B93544564");
        let pin = decrypt_format4(&key, &block, "1234567890123456").unwrap();
        assert_eq!(pin.as_str(), "1234");
    }

    #[test]
    fn format4_short_and_long_pan_fields() {
        // 19-digit PAN: M = 7 and all digits kept.
        let f = format4_pan_field("1234567890123456789").unwrap();
        assert_eq!(hex::encode_upper(f), "71234567890123456789000000000000");
        // 10-digit PAN: M = 0, left-padded to 12 digits.
        let f = format4_pan_field("1234567890").unwrap();
        assert_eq!(hex::encode_upper(f), "00012345678900000000000000000000");
    }

    #[test]
    fn format4_wrong_pan_or_key_is_refused() {
        let key = unhex::<16>("AF8CB133A78F8DC2D1359F18527593FB");
        let block = encrypt_format4(&key, "98765", "4111111111111111", &[7; 8]).unwrap();
        assert!(decrypt_format4(&key, &block, "4111111111111112").is_err());
        let wrong = unhex::<16>("AF8CB133A78F8DC2D1359F18527593FC");
        assert!(decrypt_format4(&wrong, &block, "4111111111111111").is_err());
    }

    proptest::proptest! {
        #[test]
        fn format0_round_trip(pin in "[0-9]{4,12}", pan in "[0-9]{8,19}") {
            let block = encode_format0(&pin, &pan).unwrap();
            let back = decode_format0(&block, &pan).unwrap();
            proptest::prop_assert_eq!(back.as_str(), pin.as_str());
        }

        #[test]
        fn format4_round_trip(pin in "[0-9]{4,12}", pan in "[0-9]{8,19}",
                              key in proptest::array::uniform16(0u8..),
                              random in proptest::array::uniform8(0u8..)) {
            let block = encrypt_format4(&key, &pin, &pan, &random).unwrap();
            let back = decrypt_format4(&key, &block, &pan).unwrap();
            proptest::prop_assert_eq!(back.as_str(), pin.as_str());
        }

        #[test]
        fn decode_never_panics(block in proptest::array::uniform8(0u8..), pan in "[0-9]{0,22}") {
            let _ = decode_format0(&block, &pan);
        }
    }
}
