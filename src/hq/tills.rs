//! Shops and tills at head office: the one-time enrolment code, the
//! credential a till authenticates with, and its revocation. Codes and
//! credentials are random, shown once, and kept only as SHA-256 hashes, so
//! a copy of the database lets nobody pose as a till.

use rand::RngCore;
use sha2::{Digest, Sha256};
use tillpoint_core::headoffice::Enrolment;
use tillpoint_core::journal::GENESIS;
use tokio_postgres::Client;

use crate::db::HqError;

/// How long an enrolment code stays good.
pub const CODE_HOURS: i32 = 24;

/// A till as head office authenticated it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TillId {
    pub shop: String,
    pub till: String,
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// Names a shop and till (making them if new) and hands out a fresh
/// one-time enrolment code for the till, good for [`CODE_HOURS`]. A till
/// enrolled before is enrolled again by the new code (a replaced machine),
/// keeping its journal; its old credential stops working when it enrols.
pub async fn add_till(client: &mut Client, shop: &str, till: &str) -> Result<String, HqError> {
    if shop.trim().is_empty() || till.trim().is_empty() {
        return Err(HqError::Refused("a shop and a till need names".into()));
    }
    // Grouped in fours for reading aloud over the phone.
    let raw = random_hex(10).to_uppercase();
    let code = raw
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-");
    let tx = client.transaction().await?;
    tx.execute(
        "INSERT INTO shops (id) VALUES ($1) ON CONFLICT DO NOTHING",
        &[&shop],
    )
    .await?;
    tx.execute(
        "INSERT INTO tills (shop_id, till_id, last_hash) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        &[&shop, &till, &GENESIS],
    )
    .await?;
    tx.execute(
        "INSERT INTO enrolment_codes (code_sha256, shop_id, till_id, expires_at)
         VALUES ($1, $2, $3, now() + make_interval(hours => $4))",
        &[&sha256_hex(&normalise(&code)), &shop, &till, &CODE_HOURS],
    )
    .await?;
    tx.commit().await?;
    Ok(code)
}

/// Codes are read back by people: case and separators do not matter.
fn normalise(code: &str) -> String {
    code.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Trades a good code for the till's credential, once.
pub async fn enrol(client: &mut Client, code: &str) -> Result<Enrolment, HqError> {
    let tx = client.transaction().await?;
    let row = tx
        .query_opt(
            "UPDATE enrolment_codes SET used_at = now()
             WHERE code_sha256 = $1 AND used_at IS NULL AND expires_at > now()
             RETURNING shop_id, till_id",
            &[&sha256_hex(&normalise(code))],
        )
        .await?;
    let Some(row) = row else {
        return Err(HqError::Refused(
            "this enrolment code is unknown, already used or expired: ask head office for a new one"
                .into(),
        ));
    };
    let (shop, till): (String, String) = (row.get(0), row.get(1));
    let credential = random_hex(32);
    tx.execute(
        "UPDATE tills SET credential_sha256 = $3, enrolled_at = now(), revoked_at = NULL
         WHERE shop_id = $1 AND till_id = $2",
        &[&shop, &till, &sha256_hex(&credential)],
    )
    .await?;
    tx.commit().await?;
    tracing::info!(%shop, %till, "till enrolled");
    Ok(Enrolment {
        shop,
        till,
        credential,
    })
}

/// Revokes a till's credential: it is refused from now on until it enrols
/// again with a new code. Whether there was such a till.
pub async fn revoke(client: &Client, shop: &str, till: &str) -> Result<bool, HqError> {
    let n = client
        .execute(
            "UPDATE tills SET revoked_at = now() WHERE shop_id = $1 AND till_id = $2",
            &[&shop, &till],
        )
        .await?;
    Ok(n == 1)
}

/// The till a credential belongs to, unless it is unknown or revoked.
pub async fn authenticate(client: &Client, credential: &str) -> Result<Option<TillId>, HqError> {
    let row = client
        .query_opt(
            "SELECT shop_id, till_id FROM tills
             WHERE credential_sha256 = $1 AND revoked_at IS NULL",
            &[&sha256_hex(credential.trim())],
        )
        .await?;
    Ok(row.map(|r| TillId {
        shop: r.get(0),
        till: r.get(1),
    }))
}
