//! ANSI X9.24-1:2009 TDES DUKPT ("DUKPT 2000"): key derivation for PIN encryption.
//!
//! The pad side holds an initial PIN encryption key (IPEK) and a 10-byte key
//! serial number (KSN) whose rightmost 21 bits count transactions; the host side
//! holds the base derivation key (BDK) and recomputes, from the KSN that travels
//! with the PIN block, the same IPEK and transaction key. This module gives both
//! sides: IPEK from BDK and KSN, the PIN encryption key for a KSN, and PIN
//! encryption and recovery with ISO 9564 format 0 blocks.
//!
//! A real PIN pad keeps 21 "future key" registers and erases its IPEK; deriving
//! every transaction key from the IPEK, as done here, gives the same key and is
//! what the host (and the simulator) need. All keys are returned in `Zeroizing`
//! storage and the `des` cipher state is zeroized on drop (crate feature
//! `zeroize`).

use cipher::generic_array::GenericArray;
use cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use des::{Des, TdesEde2};
use zeroize::Zeroizing;

use super::{pinblock, PinError};

/// Length of a TDES DUKPT key serial number.
pub const KSN_LEN: usize = 10;
/// Mask of the 21-bit transaction counter within the KSN's last three bytes.
const COUNTER_MASK: u32 = 0x1F_FFFF;
/// A transaction counter may have at most this many one bits (X9.24-1, A.2).
const MAX_COUNTER_BITS: u32 = 10;
/// Key mask used for the right half of the IPEK and in the key generation process.
const KEY_MASK: [u8; 16] = [
    0xC0, 0xC0, 0xC0, 0xC0, 0x00, 0x00, 0x00, 0x00, 0xC0, 0xC0, 0xC0, 0xC0, 0x00, 0x00, 0x00, 0x00,
];
/// PIN encryption variant applied to the transaction key (X9.24-1, A.4).
const PIN_VARIANT: [u8; 16] = [0, 0, 0, 0, 0, 0, 0, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0xFF];

/// The 21-bit transaction counter of a KSN.
pub fn counter(ksn: &[u8; KSN_LEN]) -> u32 {
    (u32::from(ksn[7]) << 16 | u32::from(ksn[8]) << 8 | u32::from(ksn[9])) & COUNTER_MASK
}

/// `ksn` with its transaction counter replaced by `counter` (masked to 21 bits).
pub fn with_counter(ksn: &[u8; KSN_LEN], counter: u32) -> [u8; KSN_LEN] {
    let mut out = *ksn;
    let c = counter & COUNTER_MASK;
    out[7] = (ksn[7] & 0xE0) | ((c >> 16) as u8 & 0x1F);
    out[8] = (c >> 8) as u8;
    out[9] = c as u8;
    out
}

/// Whether a PIN pad may use this counter: non-zero, within 21 bits and with at
/// most ten one bits (counters with more are skipped by the device).
pub fn is_valid_counter(counter: u32) -> bool {
    counter != 0 && counter <= COUNTER_MASK && counter.count_ones() <= MAX_COUNTER_BITS
}

/// The next counter a PIN pad uses after `counter`, or `None` when the key is
/// exhausted (after 0x1FF800 no valid counter is left; the pad must be re-keyed).
pub fn next_counter(counter: u32) -> Option<u32> {
    let mut next = counter.checked_add(1)?;
    while next <= COUNTER_MASK && next.count_ones() > MAX_COUNTER_BITS {
        // Adding the lowest set bit clears the low run of ones: the standard skip.
        next += next & next.wrapping_neg();
    }
    (next <= COUNTER_MASK).then_some(next)
}

/// Encrypts `block` with a double-length TDES key into `out` (no stack copy of
/// the result is left behind: callers pass wiped storage).
fn tdes_encrypt_into(key: &[u8; 16], block: &[u8; 8], out: &mut [u8]) {
    let cipher = TdesEde2::new(GenericArray::from_slice(key));
    out.copy_from_slice(block);
    cipher.encrypt_block(GenericArray::from_mut_slice(out));
}

fn xor16(a: &[u8; 16], b: &[u8; 16]) -> Zeroizing<[u8; 16]> {
    let mut out = Zeroizing::new([0u8; 16]);
    for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
        *o = x ^ y;
    }
    out
}

/// Derives the initial PIN encryption key (IPEK) from the BDK and any KSN of the
/// device (its counter is ignored).
pub fn derive_ipek(bdk: &[u8; 16], ksn: &[u8; KSN_LEN]) -> Zeroizing<[u8; 16]> {
    let base = with_counter(ksn, 0);
    let mut reg = [0u8; 8];
    reg.copy_from_slice(&base[..8]);
    let mut ipek = Zeroizing::new([0u8; 16]);
    let (left, right) = ipek.split_at_mut(8);
    tdes_encrypt_into(bdk, &reg, left);
    let masked = xor16(bdk, &KEY_MASK);
    tdes_encrypt_into(&masked, &reg, right);
    ipek
}

/// The non-reversible key generation process of X9.24-1 (A.2): a new key from
/// the current key and the crypto register, computed in wiped storage.
fn non_reversible(key: &[u8; 16], reg: &[u8; 8]) -> Zeroizing<[u8; 16]> {
    /// One half: `DES(key_left, reg XOR key_right) XOR key_right`, into `out`.
    fn half(key: &[u8; 16], reg: &[u8; 8], out: &mut [u8]) {
        for ((o, r), k) in out.iter_mut().zip(reg).zip(&key[8..]) {
            *o = r ^ k;
        }
        let cipher = Des::new(GenericArray::from_slice(&key[..8]));
        cipher.encrypt_block(GenericArray::from_mut_slice(out));
        for (o, k) in out.iter_mut().zip(&key[8..]) {
            *o ^= k;
        }
    }
    let mut out = Zeroizing::new([0u8; 16]);
    let (left, right) = out.split_at_mut(8);
    half(key, reg, right);
    let masked = xor16(key, &KEY_MASK);
    half(&masked, reg, left);
    out
}

/// The transaction key (before any variant) for `ksn`, from the IPEK.
pub fn derive_transaction_key(ipek: &[u8; 16], ksn: &[u8; KSN_LEN]) -> Zeroizing<[u8; 16]> {
    let counter = counter(ksn);
    let base = with_counter(ksn, 0);
    let mut reg = [0u8; 8];
    reg.copy_from_slice(&base[2..]);
    let mut key = Zeroizing::new(*ipek);
    let mut bit = 1u32 << 20;
    while bit != 0 {
        if counter & bit != 0 {
            reg[5] |= (bit >> 16) as u8;
            reg[6] |= (bit >> 8) as u8;
            reg[7] |= bit as u8;
            key = non_reversible(&key, &reg);
        }
        bit >>= 1;
    }
    key
}

/// The PIN encryption key for `ksn`: the transaction key with the PIN variant.
pub fn pin_key(ipek: &[u8; 16], ksn: &[u8; KSN_LEN]) -> Zeroizing<[u8; 16]> {
    let key = derive_transaction_key(ipek, ksn);
    xor16(&key, &PIN_VARIANT)
}

/// The PIN encryption key for `ksn`, computed from the BDK (acquirer side).
pub fn pin_key_from_bdk(bdk: &[u8; 16], ksn: &[u8; KSN_LEN]) -> Zeroizing<[u8; 16]> {
    let ipek = derive_ipek(bdk, ksn);
    pin_key(&ipek, ksn)
}

/// Encrypts a PIN as an ISO 9564 format 0 block under the PIN key for `ksn`.
/// Pad side. Refuses counters a real pad would never use.
pub fn encrypt_pin(
    ipek: &[u8; 16],
    ksn: &[u8; KSN_LEN],
    pin: &str,
    pan: &str,
) -> Result<[u8; 8], PinError> {
    if !is_valid_counter(counter(ksn)) {
        return Err(PinError::InvalidCounter);
    }
    let clear = pinblock::encode_format0(pin, pan)?;
    let key = pin_key(ipek, ksn);
    let mut block = [0u8; 8];
    tdes_encrypt_into(&key, &clear, &mut block);
    Ok(block)
}

/// Decrypts a format 0 block with the BDK and recovers the PIN. Host side.
pub fn recover_pin(
    bdk: &[u8; 16],
    ksn: &[u8; KSN_LEN],
    block: &[u8; 8],
    pan: &str,
) -> Result<Zeroizing<String>, PinError> {
    let key = pin_key_from_bdk(bdk, ksn);
    let cipher = TdesEde2::new(GenericArray::from_slice(&key[..]));
    let mut clear = Zeroizing::new(*block);
    cipher.decrypt_block(GenericArray::from_mut_slice(&mut clear[..]));
    pinblock::decode_format0(&clear, pan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex<const N: usize>(s: &str) -> [u8; N] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    const BDK: &str = "0123456789ABCDEFFEDCBA9876543210";

    /// ANSI X9.24-1:2009 Annex A.4 test sequence (BDK 0123456789ABCDEFFEDCBA9876543210,
    /// PIN 1234, PAN 4012345678909): KSN, PIN encryption key (variant applied) and
    /// encrypted PIN block. Reproduced verbatim in public DUKPT implementations
    /// (e.g. the "DUKPT2000" verify table of the Python DUKPT_Key reference, jPOS's
    /// DUKPT tests and moov-io/dukpt's A.4.2 sequence).
    const ANNEX_A: &[(&str, &str, &str)] = &[
        (
            "FFFF9876543210E00001",
            "042666B49184CF5C68DE9628D0397B36",
            "1B9C1845EB993A7A",
        ),
        (
            "FFFF9876543210E00002",
            "C46551CEF9FD244FAA9AD834130D3B38",
            "10A01C8D02C69107",
        ),
        (
            "FFFF9876543210E00003",
            "0DF3D9422ACA561A47676D07AD6BAD05",
            "18DC07B94797B466",
        ),
        (
            "FFFF9876543210E00004",
            "279C0F6AEED0BE9A2B2C733E1383AE6E",
            "0BC79509D5645DF7",
        ),
        (
            "FFFF9876543210E00005",
            "5F8DC6D2C845C1DA508DDC048093B8C0",
            "5BC0AF22AD87B327",
        ),
        (
            "FFFF9876543210E00006",
            "5E415CB0BAF9F0C3D0C14B63FB62FFBC",
            "A16DF70AE36158D8",
        ),
        (
            "FFFF9876543210E00007",
            "0C8F780B7C8B492FAE84A9EB2A6CE69F",
            "27711C16CB257F8E",
        ),
        (
            "FFFF9876543210E00008",
            "27F66D5244FF621EAA6F6120EDEB427F",
            "50E55547A5027551",
        ),
        (
            "FFFF9876543210E00009",
            "27E31064FDC565968900E2057F658E81",
            "536CF7F678ACFC8D",
        ),
        (
            "FFFF9876543210E0000A",
            "6CF2500A22507C83C776CEADC1E330EB",
            "EDABBA23221833FE",
        ),
        (
            "FFFF9876543210E0000B",
            "3E8260BA04B2D6DFC01482B3819A1848",
            "2328981C57B4BDBA",
        ),
        (
            "FFFF9876543210E0000C",
            "B716E1E11CF53D7F726CAEE75C3A62B0",
            "038D03CC926CF286",
        ),
        (
            "FFFF9876543210E0000D",
            "E072EDF9534053A0B6C581C58FBF25CC",
            "6C8AA97088B62C68",
        ),
        (
            "FFFF9876543210E0000E",
            "A80046087F5B8FDB5AAD95E1842908B0",
            "F17C9E1D72CD4950",
        ),
        (
            "FFFF9876543210E0000F",
            "93DD5B956C4878B82E453AAEFD32A555",
            "B170F6E7F7F2F64A",
        ),
        (
            "FFFF9876543210E00010",
            "59598DCBD9BD943F94165CE453585FA8",
            "D5D9638559EF53D6",
        ),
        (
            "FFFF9876543210E00011",
            "2B5F01F4F0CC0515639D523231BF1B5D",
            "D544F8CDD292C863",
        ),
        (
            "FFFF9876543210E00012",
            "9CF640F279C2AE1915F725EEEAC2CB50",
            "7A21BD10F36DC41D",
        ),
        (
            "FFFF9876543210E00013",
            "C3DF489FDF11534BF03DE97C27DC4CD0",
            "78649BD17D0DFA60",
        ),
        (
            "FFFF9876543210E00014",
            "658488507721B30E4737FA93F923CB2D",
            "7E7E16EA0C31AD56",
        ),
        (
            "FFFF9876543210E00015",
            "E161D1956A61F62DF37AFD7F9CC36965",
            "72105C22EBC791E6",
        ),
        (
            "FFFF9876543210E10000",
            "2F9A0C0B46ECCBA1F8287A7A071AF54B",
            "19776D96D73AF1E2",
        ),
        (
            "FFFF9876543210E20000",
            "DEFDE0EA1043B58D2FA013DE6C4B8F04",
            "83F14581B8946B2D",
        ),
        (
            "FFFF9876543210E40000",
            "9F59E8536BDB056513C856FCCF9A0981",
            "96B3ADCBF9F5219C",
        ),
        (
            "FFFF9876543210E80000",
            "87B9983D9D23047A8D199F5CA0C3DEEC",
            "1E0F453FD55FCE45",
        ),
        (
            "FFFF9876543210EFF800",
            "F9CDFEBF4F5B1D61B3EC12454527E189",
            "33365F5CC6F23C35",
        ),
        (
            "FFFF9876543210EFF801",
            "5BEE92627E9782A3911BF619DF72CAC4",
            "3A86BF003F835C9D",
        ),
        (
            "FFFF9876543210EFF802",
            "64CA2F8AB93F614F1620B00BF77C73FE",
            "3DB977D05C36DF3F",
        ),
        (
            "FFFF9876543210EFF804",
            "35A168695B3BA8CC07E871C42021DDC8",
            "BA83243305712099",
        ),
        (
            "FFFF9876543210EFF808",
            "12C380FCB72ED33D6FC6079AF63F4778",
            "B0DA04AC90A36D85",
        ),
        (
            "FFFF9876543210EFF810",
            "D8007C833A1E3CB6C6889B97A68C5400",
            "2CF02BD9C309EEDA",
        ),
        (
            "FFFF9876543210EFF820",
            "A9C9FF9B735FDDB6591F296B0BF0FD8F",
            "9D1E2F77AEEE81C6",
        ),
        (
            "FFFF9876543210EFF840",
            "0E3E221062CB5EFCA384602783A00405",
            "40870B0F8BA2011C",
        ),
        (
            "FFFF9876543210EFF880",
            "CA8225C587124D04B87F279C0BE297D8",
            "22E340D6ABB40981",
        ),
        (
            "FFFF9876543210EFF900",
            "906AAC1751D497E5144D52C76C6E1F68",
            "1A4C10AFBA03A430",
        ),
        (
            "FFFF9876543210EFFA00",
            "2B9E2CE7C27503C8E10B54D2989EA650",
            "849763B43E5F9CFF",
        ),
        (
            "FFFF9876543210EFFC00",
            "F9430DF97508246EC77BE4EF4FDB9111",
            "DEFC6F09F8927B71",
        ),
        (
            "FFFF9876543210F00000",
            "AA4D58DB653EC7B548C75F2F047DD24A",
            "73EC88AD0AC5830E",
        ),
    ];

    #[test]
    fn ipek_from_bdk() {
        // X9.24-1:2009 Annex A: IPEK for KSN FFFF9876543210E00000.
        let ipek = derive_ipek(&unhex(BDK), &unhex("FFFF9876543210E00000"));
        assert_eq!(
            hex::encode_upper(&ipek[..]),
            "6AC292FAA1315B4D858AB3A3D7D5933A"
        );
        // The counter bits must not influence the IPEK.
        let again = derive_ipek(&unhex(BDK), &unhex("FFFF9876543210EFF800"));
        assert_eq!(ipek, again);
    }

    #[test]
    fn transaction_key_counter_1() {
        // moov-io/dukpt A.4.2 sequence: current (pre-variant) key for counter 1.
        let ipek = unhex::<16>("6AC292FAA1315B4D858AB3A3D7D5933A");
        let key = derive_transaction_key(&ipek, &unhex("FFFF9876543210E00001"));
        assert_eq!(
            hex::encode_upper(&key[..]),
            "042666B49184CFA368DE9628D0397BC9"
        );
    }

    #[test]
    fn annex_a_sequence_pin_keys_and_blocks() {
        let bdk = unhex::<16>(BDK);
        let ipek = derive_ipek(&bdk, &unhex("FFFF9876543210E00000"));
        for (ksn, key_hex, block_hex) in ANNEX_A {
            let ksn = unhex::<10>(ksn);
            let key = pin_key(&ipek, &ksn);
            assert_eq!(
                hex::encode_upper(&key[..]),
                *key_hex,
                "PIN key for {}",
                hex::encode_upper(ksn)
            );
            assert_eq!(*pin_key_from_bdk(&bdk, &ksn), *key);
            let block = encrypt_pin(&ipek, &ksn, "1234", "4012345678909").unwrap();
            assert_eq!(hex::encode_upper(block), *block_hex);
            let pin = recover_pin(&bdk, &ksn, &block, "4012345678909").unwrap();
            assert_eq!(pin.as_str(), "1234");
        }
    }

    #[test]
    fn counter_helpers() {
        let ksn = unhex::<10>("FFFF9876543210EFF800");
        assert_eq!(counter(&ksn), 0x0F_F800);
        assert_eq!(counter(&unhex("FFFF9876543210F00000")), 0x10_0000);
        assert_eq!(with_counter(&ksn, 1), unhex::<10>("FFFF9876543210E00001"));
        assert!(is_valid_counter(0x1F_F800));
        assert!(!is_valid_counter(0));
        assert!(!is_valid_counter(0x7FF)); // eleven one bits
        assert_eq!(next_counter(0), Some(1));
        assert_eq!(next_counter(0x3FE), Some(0x3FF)); // ten bits: still valid
        assert_eq!(next_counter(0x3FF), Some(0x400));
        assert_eq!(next_counter(0x1F_F800), None);
        // Every counter next_counter yields is valid and strictly increasing.
        let mut c = 0;
        let mut steps = 0;
        while let Some(n) = next_counter(c) {
            assert!(n > c && is_valid_counter(n));
            c = n;
            steps += 1;
            if steps > 5000 {
                break;
            }
        }
    }

    #[test]
    fn pad_refuses_invalid_counter() {
        let ipek = unhex::<16>("6AC292FAA1315B4D858AB3A3D7D5933A");
        let err = encrypt_pin(
            &ipek,
            &unhex("FFFF9876543210E007FF"),
            "1234",
            "4012345678909",
        );
        assert_eq!(err, Err(PinError::InvalidCounter));
    }

    #[test]
    fn wrong_bdk_does_not_recover() {
        let ipek = derive_ipek(&unhex(BDK), &unhex("FFFF9876543210E00000"));
        let ksn = unhex::<10>("FFFF9876543210E00003");
        let block = encrypt_pin(&ipek, &ksn, "123456", "4012345678909").unwrap();
        let mut bad = unhex::<16>(BDK);
        bad[0] ^= 0x02;
        assert!(recover_pin(&bad, &ksn, &block, "4012345678909").is_err());
    }
}
