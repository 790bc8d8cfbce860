//! Test RSA keys and certificate building for the virtual card, which
//! plays certification authority, issuer and chip at once (EMV Book 2,
//! sections 5 and 6, seen from the signing side).
//!
//! These keys were generated for this project's tests (exponent 3) and
//! protect nothing. The CA modulus is published in the terminal's default
//! configuration (`config::TEST_CA_MODULUS`).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use rsa::BigUint;
use sha1::{Digest, Sha1};

use tillpoint_payment::emv::config::TEST_CA_MODULUS;

const CA_D: &str = "64814153575550EB0B354D6D2BEE86B59AF2298C3F0D544D6BF69D5F9CD405385E6674AA8BE94811DF95B614B9BA476CD99B4BB94CF10B9B7476FA859AAA36753428FA16C953C2DE32BB59195EA9AE6D4099C0BE1431C4D965C59A89832925B66D857CEC11C77C7810C261A5255EDABE23EF8F3D609909D7FBC011998B2A9B9573A61D78D8CFC38452494082C6D80B93";
/// Test issuer public modulus (1024 bits).
pub const ISSUER_N: &str = "CFBC0A74F45BDE8CDFCFCFD05E8BE99846BBEC7EA6B03549AFBAEA16FAD02DDB813C7AFDDD1B2727F266289B501DEB38C6CDC2797C80D56E94FC02C9706BDF1CC9FBC366637828188FEAAB31AFD2609BFFB4D100CD8F243E920A60B90F4FDA70F505F73EC5A5EFE387C84BBF06E3651413FFDB7707EF0A9C35975A0D5B57ADCF";
const ISSUER_D: &str = "8A7D5C4DF83D3F0895353535945D4665847D48546F202386752746B9FC8AC93D00D2FCA93E121A1AA19970678ABE9CD084892C50FDAB38F46352AC864AF294BCA76E7A24A6C32A08633F5E2938DA82C3052F5AAE0DFA376BB5655F8C4F73B3BC708BB88CB7D050A1EDB02913B2B876F6EE838AB5816381B4D0555564EDBAF77B";
/// Test ICC public modulus (768 bits).
pub const ICC_N: &str = "C451CFE8C237CA068D36B28A3F5C78BD9C89D7C8ACFC5091F6F2AA2D6CE48419F200961A21CA78DF6226573AD937A67A9DC381081A641CA4470EBBE9F8B8831599286C1FC092BEF63C1A1FFC6AEE9E4672730A8A6BDAECEDC0C9C13AB45AB58D";
const ICC_D: &str = "82E13545D6CFDC045E247706D4E8507E685BE5307352E0614F4C71739DEDAD66A155B966C131A5EA416EE4D1E62519A5E70BCFFB1AE5B8592D4532693A5514C89FB1542D9EB01BDB4DD53251155E546F125A1EF964B222507ADE5193BDD66013";

/// A test private key for raw RSA signing (EMV "signature with recovery"
/// is plain m^d mod n over a formatted block).
#[derive(Clone)]
pub struct TestKey {
    n: BigUint,
    d: BigUint,
    /// Modulus length in bytes.
    pub len: usize,
}

impl TestKey {
    fn from_hex(n: &str, d: &str) -> TestKey {
        let n_bytes = hex::decode(n).unwrap_or_default();
        let d_bytes = hex::decode(d).unwrap_or_default();
        TestKey {
            len: n_bytes.len(),
            n: BigUint::from_bytes_be(&n_bytes),
            d: BigUint::from_bytes_be(&d_bytes),
        }
    }

    /// The test CA.
    pub fn ca() -> TestKey {
        TestKey::from_hex(TEST_CA_MODULUS, CA_D)
    }

    /// The test issuer.
    pub fn issuer() -> TestKey {
        TestKey::from_hex(ISSUER_N, ISSUER_D)
    }

    /// The test chip key.
    pub fn icc() -> TestKey {
        TestKey::from_hex(ICC_N, ICC_D)
    }

    /// Modulus bytes.
    pub fn modulus(&self) -> Vec<u8> {
        self.n.to_bytes_be()
    }

    /// Raw signature of a modulus-sized block. Results are memoised: the
    /// same certificate is signed for every card built from a profile, and
    /// big-number exponentiation is slow in debug builds.
    pub fn sign(&self, block: &[u8]) -> Vec<u8> {
        static CACHE: OnceLock<Mutex<HashMap<Vec<u8>, Vec<u8>>>> = OnceLock::new();
        let mut key = Sha1::digest(self.n.to_bytes_be()).to_vec();
        key.extend_from_slice(block);
        let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
        if let Ok(c) = cache.lock() {
            if let Some(s) = c.get(&key) {
                return s.clone();
            }
        }
        let s = BigUint::from_bytes_be(block)
            .modpow(&self.d, &self.n)
            .to_bytes_be();
        let mut out = vec![0u8; self.len.saturating_sub(s.len())];
        out.extend(s);
        if let Ok(mut c) = cache.lock() {
            if c.len() > 4096 {
                c.clear();
            }
            c.insert(key, out.clone());
        }
        out
    }
}

/// Splits a modulus into the part that fits in a certificate and the
/// remainder, padding the certificate field with BB.
fn split_key(modulus: &[u8], room: usize) -> (Vec<u8>, Vec<u8>) {
    if modulus.len() <= room {
        let mut field = modulus.to_vec();
        field.resize(room, 0xBB);
        (field, Vec::new())
    } else {
        let (a, b) = modulus.split_at(room);
        (a.to_vec(), b.to_vec())
    }
}

/// Frames 6A | body | SHA-1(body | extra) | BC and signs it.
fn sign_framed(key: &TestKey, body: &[u8], extra: &[u8]) -> Vec<u8> {
    let mut hashed = body.to_vec();
    hashed.extend_from_slice(extra);
    let mut block = vec![0x6A];
    block.extend_from_slice(body);
    block.extend_from_slice(&Sha1::digest(&hashed));
    block.push(0xBC);
    key.sign(&block)
}

/// Issuer public key certificate (Book 2, 5.3, table 6) and remainder.
/// `issuer_id` is the leftmost PAN digits, F-padded to 4 bytes;
/// `expiry` is MMYY.
pub fn issuer_certificate(
    ca: &TestKey,
    issuer: &TestKey,
    exponent: &[u8],
    issuer_id: [u8; 4],
    expiry: [u8; 2],
) -> (Vec<u8>, Vec<u8>) {
    let modulus = issuer.modulus();
    let (field, remainder) = split_key(&modulus, ca.len - 36);
    let mut body = vec![0x02];
    body.extend_from_slice(&issuer_id);
    body.extend_from_slice(&expiry);
    body.extend_from_slice(&[0x00, 0x00, 0x01]); // serial number
    body.extend_from_slice(&[0x01, 0x01]); // SHA-1, RSA
    body.push(modulus.len() as u8);
    body.push(exponent.len() as u8);
    body.extend_from_slice(&field);
    let mut extra = remainder.clone();
    extra.extend_from_slice(exponent);
    (sign_framed(ca, &body, &extra), remainder)
}

/// Signed static application data (Book 2, 5.4, table 7).
pub fn signed_static_data(issuer: &TestKey, dac: [u8; 2], static_data: &[u8]) -> Vec<u8> {
    let mut body = vec![0x03, 0x01, dac[0], dac[1]];
    body.resize(issuer.len - 22, 0xBB);
    sign_framed(issuer, &body, static_data)
}

/// ICC public key certificate (Book 2, 6.4, table 14) and remainder.
/// `pan` is the PAN as 10 bytes, F-padded; `expiry` is MMYY.
pub fn icc_certificate(
    issuer: &TestKey,
    icc: &TestKey,
    exponent: &[u8],
    pan: [u8; 10],
    expiry: [u8; 2],
    static_data: &[u8],
) -> (Vec<u8>, Vec<u8>) {
    let modulus = icc.modulus();
    let (field, remainder) = split_key(&modulus, issuer.len - 42);
    let mut body = vec![0x04];
    body.extend_from_slice(&pan);
    body.extend_from_slice(&expiry);
    body.extend_from_slice(&[0x00, 0x00, 0x01]);
    body.extend_from_slice(&[0x01, 0x01]);
    body.push(modulus.len() as u8);
    body.push(exponent.len() as u8);
    body.extend_from_slice(&field);
    let mut extra = remainder.clone();
    extra.extend_from_slice(exponent);
    extra.extend_from_slice(static_data);
    (sign_framed(issuer, &body, &extra), remainder)
}

/// Signed dynamic application data for DDA (Book 2, 6.5, table 17).
pub fn signed_dynamic_data(icc: &TestKey, dynamic_number: &[u8], ddol_data: &[u8]) -> Vec<u8> {
    let mut body = vec![
        0x05,
        0x01,
        (dynamic_number.len() + 1) as u8,
        dynamic_number.len() as u8,
    ];
    body.extend_from_slice(dynamic_number);
    body.resize(icc.len - 22, 0xBB);
    sign_framed(icc, &body, ddol_data)
}

/// Signed dynamic application data for CDA (Book 2, 6.6.1, tables 17 and
/// 19): the ICC dynamic data is the dynamic number, the CID, the AC and the
/// transaction data hash code; the hash also covers the unpredictable number.
pub fn signed_cda_data(
    icc: &TestKey,
    dynamic_number: &[u8],
    cid: u8,
    ac: &[u8; 8],
    data_hash: &[u8],
    unpredictable_number: &[u8],
) -> Vec<u8> {
    let mut dynamic = vec![dynamic_number.len() as u8];
    dynamic.extend_from_slice(dynamic_number);
    dynamic.push(cid);
    dynamic.extend_from_slice(ac);
    dynamic.extend_from_slice(data_hash);
    let mut body = vec![0x05, 0x01, dynamic.len() as u8];
    body.extend_from_slice(&dynamic);
    body.resize(icc.len - 22, 0xBB);
    sign_framed(icc, &body, unpredictable_number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_consistent() {
        // m^(e*d) = m for a sample block under each test key (e = 3).
        for k in [TestKey::ca(), TestKey::issuer(), TestKey::icc()] {
            let block: Vec<u8> = (0..k.len)
                .map(|i| if i == 0 { 0x6A } else { i as u8 })
                .collect();
            let s = BigUint::from_bytes_be(&k.sign(&block));
            let back = s.modpow(&BigUint::from(3u8), &k.n).to_bytes_be();
            assert_eq!(back, block);
        }
    }
}
