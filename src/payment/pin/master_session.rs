//! Master/session keys (MK/WK): a double-length TDES terminal master key
//! (TMK) loaded once into the till and its PIN pad, and working keys (PIN
//! key, MAC key) that the host sends at every sign-on encrypted under it,
//! each with a check value. This is how the cups profile keys a terminal
//! (and Abecs GPN method 1 encrypts a PIN); DUKPT is the other way.
//!
//! Everything here works on wiped storage. Working keys travel and rest
//! only encrypted: under the TMK on the wire and in the pad's request, and
//! sealed by the key-encryption key on disk (see `acquirer::terminal_keys`).

use cipher::generic_array::GenericArray;
use cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use des::TdesEde2;
use zeroize::Zeroizing;

use super::{pinblock, PinError};

/// A double-length TDES key (K1 ‖ K2; K1 = K2 is single DES).
pub type Key16 = Zeroizing<[u8; 16]>;

/// Length of a key check value as the cups sign-on carries it.
pub const KCV_LEN: usize = 4;

/// Why a working key was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("the {0} key's check value does not match: wrong master key or a damaged download")]
    CheckValue(&'static str),
    #[error(
        "a working-key download is {0} bytes, not 40 (PIN key, check value, MAC key, check value)"
    )]
    Length(usize),
}

fn cipher(key: &[u8; 16]) -> TdesEde2 {
    TdesEde2::new(GenericArray::from_slice(key))
}

/// TDES-ECB encryption of one block.
pub fn encrypt_block(key: &[u8; 16], block: &[u8; 8]) -> [u8; 8] {
    let mut out = *block;
    cipher(key).encrypt_block(GenericArray::from_mut_slice(&mut out));
    out
}

/// TDES-ECB decryption of one block.
pub fn decrypt_block(key: &[u8; 16], block: &[u8; 8]) -> [u8; 8] {
    let mut out = *block;
    cipher(key).decrypt_block(GenericArray::from_mut_slice(&mut out));
    out
}

/// `key` encrypted under `kek`, two ECB blocks.
pub fn wrap(kek: &[u8; 16], key: &[u8; 16]) -> [u8; 16] {
    let c = cipher(kek);
    let mut out = *key;
    for half in out.chunks_exact_mut(8) {
        c.encrypt_block(GenericArray::from_mut_slice(half));
    }
    out
}

/// The clear key of `wrapped` (encrypted under `kek`).
pub fn unwrap(kek: &[u8; 16], wrapped: &[u8; 16]) -> Key16 {
    let c = cipher(kek);
    let mut out = Zeroizing::new(*wrapped);
    for half in out.chunks_exact_mut(8) {
        c.decrypt_block(GenericArray::from_mut_slice(half));
    }
    out
}

/// The check value: the first bytes of eight zero bytes encrypted under the key.
pub fn check_value(key: &[u8; 16]) -> [u8; KCV_LEN] {
    let block = encrypt_block(key, &[0; 8]);
    [block[0], block[1], block[2], block[3]]
}

/// The PIN key and MAC key of a sign-on answer, both under the TMK.
#[derive(Clone, PartialEq, Eq)]
pub struct WorkingKeys {
    /// The PIN key as the pad needs it: still under the TMK.
    pub pin_key_under_tmk: [u8; 16],
    /// The MAC key in clear: the till computes the MAC itself.
    pub mac_key: Key16,
}

impl std::fmt::Debug for WorkingKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "WorkingKeys(MAC key check value {})",
            hex::encode_upper(check_value(&self.mac_key))
        )
    }
}

impl WorkingKeys {
    /// Reads the 40-byte download (PIN key ‖ its check value ‖ MAC key ‖ its
    /// check value, keys under `tmk`), refusing it when a check value is wrong.
    pub fn from_download(tmk: &[u8; 16], bytes: &[u8]) -> Result<WorkingKeys, KeyError> {
        let arr = |r: std::ops::Range<usize>| -> Result<[u8; 16], KeyError> {
            bytes
                .get(r)
                .and_then(|s| <[u8; 16]>::try_from(s).ok())
                .ok_or(KeyError::Length(bytes.len()))
        };
        if bytes.len() != 40 {
            return Err(KeyError::Length(bytes.len()));
        }
        let pik = arr(0..16)?;
        let mak = arr(20..36)?;
        if check_value(&unwrap(tmk, &pik)) != bytes[16..20] {
            return Err(KeyError::CheckValue("PIN"));
        }
        let mac_key = unwrap(tmk, &mak);
        if check_value(&mac_key) != bytes[36..40] {
            return Err(KeyError::CheckValue("MAC"));
        }
        Ok(WorkingKeys {
            pin_key_under_tmk: pik,
            mac_key,
        })
    }

    /// The 40-byte download for clear keys `pin_key` and `mac_key` (host side).
    pub fn download(tmk: &[u8; 16], pin_key: &[u8; 16], mac_key: &[u8; 16]) -> Vec<u8> {
        let mut out = Vec::with_capacity(40);
        out.extend_from_slice(&wrap(tmk, pin_key));
        out.extend_from_slice(&check_value(pin_key));
        out.extend_from_slice(&wrap(tmk, mac_key));
        out.extend_from_slice(&check_value(mac_key));
        out
    }
}

/// An ISO 9564 format 0 PIN block under a session PIN key (pad side).
pub fn encrypt_pin(pin_key: &[u8; 16], pin: &str, pan: &str) -> Result<[u8; 8], PinError> {
    let clear = pinblock::encode_format0(pin, pan)?;
    Ok(encrypt_block(pin_key, &clear))
}

/// The PIN in a format 0 block under a session PIN key (host side).
pub fn decrypt_pin(
    pin_key: &[u8; 16],
    block: &[u8; 8],
    pan: &str,
) -> Result<Zeroizing<String>, PinError> {
    let clear = Zeroizing::new(decrypt_block(pin_key, block));
    pinblock::decode_format0(&clear, pan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h16(s: &str) -> [u8; 16] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    /// The check value everyone quotes for the test key 0123…3210.
    #[test]
    fn check_value_of_the_published_test_key() {
        let k = h16("0123456789ABCDEFFEDCBA9876543210");
        assert_eq!(hex::encode_upper(&check_value(&k)[..3]), "08D7B4");
    }

    /// A published UnionPay terminal example: a MAC key C24A8FB57AA20123
    /// (single length) that travels as 96D605EA176B7E9E under the TMK
    /// 70F2A84CCBC2AE8625CBB0F2C22AB923.
    #[test]
    fn unwraps_the_published_terminal_example() {
        let tmk = h16("70F2A84CCBC2AE8625CBB0F2C22AB923");
        let block: [u8; 8] = hex::decode("96D605EA176B7E9E").unwrap().try_into().unwrap();
        assert_eq!(
            hex::encode_upper(decrypt_block(&tmk, &block)),
            "C24A8FB57AA20123"
        );
    }

    #[test]
    fn download_round_trips_and_a_wrong_master_key_is_refused() {
        let tmk = h16("70F2A84CCBC2AE8625CBB0F2C22AB923");
        let pik = h16("11111111111111112222222222222222");
        let mak = h16("33333333333333334444444444444444");
        let d = WorkingKeys::download(&tmk, &pik, &mak);
        let w = WorkingKeys::from_download(&tmk, &d).unwrap();
        assert_eq!(*w.mac_key, mak);
        assert_eq!(*unwrap(&tmk, &w.pin_key_under_tmk), pik);
        let other = h16("0123456789ABCDEFFEDCBA9876543210");
        assert_eq!(
            WorkingKeys::from_download(&other, &d),
            Err(KeyError::CheckValue("PIN"))
        );
        let mut bad = d.clone();
        bad[39] ^= 1;
        assert_eq!(
            WorkingKeys::from_download(&tmk, &bad),
            Err(KeyError::CheckValue("MAC"))
        );
        assert_eq!(
            WorkingKeys::from_download(&tmk, &d[..39]),
            Err(KeyError::Length(39))
        );
        assert!(!format!("{w:?}").contains("3333"));
    }

    #[test]
    fn pin_round_trips_under_a_session_key() {
        let pik = h16("11111111111111112222222222222222");
        let block = encrypt_pin(&pik, "1234", "4761739001010010").unwrap();
        assert_eq!(
            decrypt_pin(&pik, &block, "4761739001010010")
                .unwrap()
                .as_str(),
            "1234"
        );
    }
}
