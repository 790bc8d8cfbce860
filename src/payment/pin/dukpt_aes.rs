//! ANSI X9.24-3-2017 AES DUKPT, AES-128 keys: initial key and PIN working key.
//!
//! The KSN is 12 bytes: the 8-byte initial key ID (4-byte BDK ID, 4-byte
//! derivation ID) and a 32-bit transaction counter. Keys are derived with the
//! standard's counter-mode KDF: one AES-ECB encryption of a 16-byte derivation
//! data block per 128 bits of output. This module derives the initial key from a
//! BDK, the PIN encryption working key for a KSN (walking the counter's set bits
//! from the most significant down, as the host algorithm of the standard does),
//! and builds or recovers ISO 9564 format 4 blocks with it.
//!
//! Keys are returned in `Zeroizing` storage; the `aes` cipher state is zeroized
//! on drop (crate feature `zeroize`).

use aes::Aes128;
use cipher::generic_array::GenericArray;
use cipher::{BlockEncrypt, KeyInit};
use zeroize::Zeroizing;

use super::{pinblock, PinError};

/// Length of an AES DUKPT key serial number.
pub const KSN_LEN: usize = 12;
/// Length of the initial key ID at the start of the KSN.
pub const IKID_LEN: usize = 8;
/// A transaction counter may have at most this many one bits (X9.24-3, 6.1).
const MAX_COUNTER_BITS: u32 = 16;

/// Key usage indicators of the derivation data (X9.24-3, table 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum KeyUsage {
    /// PIN encryption working key.
    PinEncryption = 0x1000,
    /// MAC generation working key.
    MacGeneration = 0x2000,
    /// Data encryption, encrypt direction.
    DataEncryptionEncrypt = 0x3000,
    /// Intermediate derivation key.
    KeyDerivation = 0x8000,
    /// Initial key derivation from the BDK.
    InitialKey = 0x8001,
}

/// Algorithm indicator for AES-128 and its length in bits.
const AES128_ALGORITHM: u16 = 0x0002;
const AES128_BITS: u16 = 0x0080;

/// The 32-bit transaction counter of a KSN.
pub fn counter(ksn: &[u8; KSN_LEN]) -> u32 {
    u32::from_be_bytes([ksn[8], ksn[9], ksn[10], ksn[11]])
}

/// The initial key ID of a KSN.
pub fn initial_key_id(ksn: &[u8; KSN_LEN]) -> [u8; IKID_LEN] {
    let mut id = [0u8; IKID_LEN];
    id.copy_from_slice(&ksn[..IKID_LEN]);
    id
}

/// Builds a KSN from an initial key ID and a counter.
pub fn make_ksn(ikid: &[u8; IKID_LEN], counter: u32) -> [u8; KSN_LEN] {
    let mut ksn = [0u8; KSN_LEN];
    ksn[..IKID_LEN].copy_from_slice(ikid);
    ksn[IKID_LEN..].copy_from_slice(&counter.to_be_bytes());
    ksn
}

/// Whether a PIN pad may use this counter: non-zero with at most 16 one bits.
pub fn is_valid_counter(counter: u32) -> bool {
    counter != 0 && counter.count_ones() <= MAX_COUNTER_BITS
}

/// The next counter a PIN pad uses after `counter`, or `None` when exhausted.
pub fn next_counter(counter: u32) -> Option<u32> {
    let mut next = counter.checked_add(1)?;
    while next.count_ones() > MAX_COUNTER_BITS {
        next = next.checked_add(next & next.wrapping_neg())?;
    }
    Some(next)
}

fn derivation_data(usage: KeyUsage, ikid: &[u8; IKID_LEN], counter: u32) -> [u8; 16] {
    let mut data = [0u8; 16];
    data[0] = 0x01; // version
    data[1] = 0x01; // key block counter: one block for a 128-bit key
    data[2..4].copy_from_slice(&(usage as u16).to_be_bytes());
    data[4..6].copy_from_slice(&AES128_ALGORITHM.to_be_bytes());
    data[6..8].copy_from_slice(&AES128_BITS.to_be_bytes());
    if usage == KeyUsage::InitialKey {
        data[8..].copy_from_slice(ikid);
    } else {
        data[8..12].copy_from_slice(&ikid[4..]);
        data[12..].copy_from_slice(&counter.to_be_bytes());
    }
    data
}

/// One block of the X9.24-3 KDF: `AES(key, derivation data)`, computed in place
/// in wiped storage.
fn derive(key: &[u8; 16], data: &[u8; 16]) -> Zeroizing<[u8; 16]> {
    let cipher = Aes128::new(GenericArray::from_slice(key));
    let mut out = Zeroizing::new(*data);
    cipher.encrypt_block(GenericArray::from_mut_slice(&mut out[..]));
    out
}

/// Derives the AES-128 initial key from an AES-128 BDK and the initial key ID.
pub fn derive_initial_key(bdk: &[u8; 16], ikid: &[u8; IKID_LEN]) -> Zeroizing<[u8; 16]> {
    derive(bdk, &derivation_data(KeyUsage::InitialKey, ikid, 0))
}

/// Derives the AES-128 working key of `usage` for `ksn` from the initial key.
pub fn derive_working_key(
    initial_key: &[u8; 16],
    ksn: &[u8; KSN_LEN],
    usage: KeyUsage,
) -> Zeroizing<[u8; 16]> {
    let ikid = initial_key_id(ksn);
    let counter = counter(ksn);
    let mut key = Zeroizing::new(*initial_key);
    let mut working = 0u32;
    let mut bit = 1u32 << 31;
    while bit != 0 {
        if counter & bit != 0 {
            working |= bit;
            key = derive(
                &key,
                &derivation_data(KeyUsage::KeyDerivation, &ikid, working),
            );
        }
        bit >>= 1;
    }
    derive(&key, &derivation_data(usage, &ikid, counter))
}

/// The PIN encryption key for `ksn`, from the initial key (pad side).
pub fn pin_key(initial_key: &[u8; 16], ksn: &[u8; KSN_LEN]) -> Zeroizing<[u8; 16]> {
    derive_working_key(initial_key, ksn, KeyUsage::PinEncryption)
}

/// The PIN encryption key for `ksn`, from the BDK (acquirer side).
pub fn pin_key_from_bdk(bdk: &[u8; 16], ksn: &[u8; KSN_LEN]) -> Zeroizing<[u8; 16]> {
    let ik = derive_initial_key(bdk, &initial_key_id(ksn));
    pin_key(&ik, ksn)
}

/// Encrypts a PIN as an ISO 9564 format 4 block under the PIN key for `ksn`.
/// Pad side; `random` is the block's random fill.
pub fn encrypt_pin(
    initial_key: &[u8; 16],
    ksn: &[u8; KSN_LEN],
    pin: &str,
    pan: &str,
    random: &[u8; 8],
) -> Result<[u8; 16], PinError> {
    if !is_valid_counter(counter(ksn)) {
        return Err(PinError::InvalidCounter);
    }
    let key = pin_key(initial_key, ksn);
    pinblock::encrypt_format4(&key, pin, pan, random)
}

/// Recovers the PIN from a format 4 block with the BDK. Host side.
pub fn recover_pin(
    bdk: &[u8; 16],
    ksn: &[u8; KSN_LEN],
    block: &[u8; 16],
    pan: &str,
) -> Result<Zeroizing<String>, PinError> {
    let key = pin_key_from_bdk(bdk, ksn);
    pinblock::decrypt_format4(&key, block, pan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex<const N: usize>(s: &str) -> [u8; N] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    // ANSI X9.24-3-2017 test vectors (AES-128 BDK, x9.org supplement), as
    // reproduced in CyberChef's payment operation tests and the paycrypt crate:
    // BDK FEDCBA9876543210F1F1F1F1F1F1F1F1, initial key ID 1234567890123456.
    const BDK: &str = "FEDCBA9876543210F1F1F1F1F1F1F1F1";
    const IKID: &str = "1234567890123456";

    #[test]
    fn initial_key_from_bdk() {
        let ik = derive_initial_key(&unhex(BDK), &unhex(IKID));
        assert_eq!(
            hex::encode_upper(&ik[..]),
            "1273671EA26AC29AFA4D1084127652A1"
        );
        // Derivation data of X9.24-3 Annex B for this key.
        let data = derivation_data(KeyUsage::InitialKey, &unhex(IKID), 0);
        assert_eq!(hex::encode_upper(data), "01018001000200801234567890123456");
    }

    #[test]
    fn pin_working_keys_including_high_counters() {
        let bdk = unhex::<16>(BDK);
        let ik = derive_initial_key(&bdk, &unhex(IKID));
        let cases = [
            (
                "123456789012345600000001",
                "AF8CB133A78F8DC2D1359F18527593FB",
            ),
            (
                "123456789012345600000008",
                "4D9DF3FBEE3448FC3E676D04320A90F5",
            ),
            (
                "123456789012345600020000",
                "AB828BE7B58C7EC5D5ED0D5D320A0C9D",
            ),
            (
                "123456789012345600845FED",
                "D1DDA386AA4A556AF0119FDCB5D132C6",
            ),
        ];
        for (ksn, expected) in cases {
            let ksn = unhex::<12>(ksn);
            assert_eq!(hex::encode_upper(&pin_key(&ik, &ksn)[..]), expected);
            assert_eq!(
                hex::encode_upper(&pin_key_from_bdk(&bdk, &ksn)[..]),
                expected
            );
        }
    }

    #[test]
    fn other_working_keys_counter_1() {
        let ik = unhex::<16>("1273671EA26AC29AFA4D1084127652A1");
        let ksn = unhex::<12>("123456789012345600000001");
        let mac = derive_working_key(&ik, &ksn, KeyUsage::MacGeneration);
        assert_eq!(
            hex::encode_upper(&mac[..]),
            "A2DC23DE6FDE0824A2BC321E08E4B8B7"
        );
        let data = derive_working_key(&ik, &ksn, KeyUsage::DataEncryptionEncrypt);
        assert_eq!(
            hex::encode_upper(&data[..]),
            "A35C412EFD41FDB98B69797C02DCD08F"
        );
    }

    #[test]
    fn format4_block_under_counter_1_key() {
        // X9.24-3 supplement format 4 example: transaction 1 PIN key, PIN 1234,
        // PAN 4111111111111111, random fill 2F69ADDE2E9E7ACE.
        let ik = derive_initial_key(&unhex(BDK), &unhex(IKID));
        let ksn = unhex::<12>("123456789012345600000001");
        let block = encrypt_pin(
            &ik,
            &ksn,
            "1234",
            "4111111111111111",
            &unhex("2F69ADDE2E9E7ACE"),
        )
        .unwrap();
        assert_eq!(hex::encode_upper(block), "A912150391AB65A67E52883D81CE2D15");
        let pin = recover_pin(&unhex(BDK), &ksn, &block, "4111111111111111").unwrap();
        assert_eq!(pin.as_str(), "1234");
    }

    #[test]
    fn counters() {
        let ksn = make_ksn(&unhex(IKID), 0x845FED);
        assert_eq!(hex::encode_upper(ksn), "123456789012345600845FED");
        assert_eq!(counter(&ksn), 0x845FED);
        assert!(is_valid_counter(0x845FED));
        assert!(!is_valid_counter(0x1FFFF)); // seventeen one bits
        assert_eq!(next_counter(0xFFFF), Some(0x10000));
        assert_eq!(next_counter(0x1FFFE), Some(0x20000));
        assert_eq!(next_counter(0xFFFF_0000), None);
    }

    #[test]
    fn pad_and_host_agree_over_many_counters() {
        let bdk = unhex::<16>(BDK);
        let ik = derive_initial_key(&bdk, &unhex(IKID));
        let mut c = 0xFFF0;
        for _ in 0..40 {
            c = next_counter(c).unwrap();
            let ksn = make_ksn(&unhex(IKID), c);
            let block = encrypt_pin(&ik, &ksn, "8642", "5413330089600010", &[c as u8; 8]).unwrap();
            let pin = recover_pin(&bdk, &ksn, &block, "5413330089600010").unwrap();
            assert_eq!(pin.as_str(), "8642");
        }
    }
}
