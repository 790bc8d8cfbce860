//! The till's side of head office: enrolment, and sending the journal up,
//! exactly once. Which head office and who this till is there are kept in
//! `headoffice.toml` in the data directory; the credential is kept sealed
//! by the key-encryption key (`headoffice.key`), never in the clear. The
//! sender reads the journal on its own connection and asks head office
//! where it stands before each round, so a lost answer, a restart or days
//! offline only mean sending again what head office already has (which it
//! counts as duplicates) and never a gap.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use tillpoint_core::headoffice::{
    ApiError, EnrolRequest, Enrolment, IngestReport, JournalBatch, JournalHead, Refused, MAX_BATCH,
};
use tillpoint_payment::keyfile;
use tillpoint_store::journal::JournalReader;
use zeroize::Zeroizing;

/// Where the link is described, in the data directory.
pub const LINK_FILE: &str = "headoffice.toml";
/// The sealed credential, in the data directory.
pub const KEY_FILE: &str = "headoffice.key";

/// Why the till could not talk to head office, or what it said.
#[derive(Debug, thiserror::Error)]
pub enum HqLinkError {
    #[error("head office is not reachable: {0}")]
    Unreachable(String),
    #[error("head office answered {status}: {text}")]
    Answered { status: u16, text: String },
    #[error("head office refused entry {}: {}", .0.seq, .0.problem)]
    Refused(Refused),
    #[error("head office holds {held} entries of this till's journal but the till has {has}: the till's database is older than what it sent (restored from a backup?)")]
    AheadOfTill { held: i64, has: i64 },
    #[error("entry {0} at head office is not this till's entry {0}: the journals differ")]
    Diverged(i64),
    #[error("this till is not enrolled with head office (tillpoint hq enrol URL CODE)")]
    NotEnrolled,
    #[error("{0}")]
    Local(String),
}

/// The link as `headoffice.toml` holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkInfo {
    pub url: String,
    pub shop: String,
    pub till: String,
}

/// An enrolled till's connection to head office.
pub struct HqLink {
    info: LinkInfo,
    credential: Zeroizing<String>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for HqLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HqLink")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

fn agent() -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()));
    ureq::Agent::config_builder()
        .tls_config(tls.build())
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into()
}

fn local(e: impl std::fmt::Display) -> HqLinkError {
    HqLinkError::Local(e.to_string())
}

/// One call; the answer's status and body.
fn call(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    credential: Option<&str>,
    body: Option<String>,
) -> Result<(u16, String), HqLinkError> {
    let auth = credential.map(|c| format!("Bearer {c}"));
    let sent = match (method, body) {
        ("POST", Some(b)) => {
            let mut r = agent.post(url).header("Content-Type", "application/json");
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.send(b.as_bytes())
        }
        _ => {
            let mut r = agent.get(url);
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.call()
        }
    };
    let mut answer = sent.map_err(|e| HqLinkError::Unreachable(e.to_string()))?;
    let status = answer.status().as_u16();
    let text = answer
        .body_mut()
        .read_to_string()
        .map_err(|e| HqLinkError::Unreachable(e.to_string()))?;
    Ok((status, text))
}

fn parse<T: DeserializeOwned>(status: u16, text: &str) -> Result<T, HqLinkError> {
    if status == 200 {
        return serde_json::from_str(text).map_err(|e| HqLinkError::Answered {
            status,
            text: format!("an answer the till cannot read ({e})"),
        });
    }
    let said = serde_json::from_str::<ApiError>(text)
        .map(|e| e.error)
        .unwrap_or_else(|_| text.chars().take(200).collect());
    Err(HqLinkError::Answered { status, text: said })
}

/// Enrols this till with the head office at `url` using its one-time
/// code, and keeps the link in `data_dir`.
pub fn enrol(data_dir: &Path, url: &str, code: &str) -> Result<LinkInfo, HqLinkError> {
    let url = url.trim_end_matches('/').to_owned();
    let body = serde_json::to_string(&EnrolRequest {
        code: code.to_owned(),
    })
    .map_err(local)?;
    let agent = agent();
    let (status, text) = call(
        &agent,
        "POST",
        &format!("{url}/api/v1/enrol"),
        None,
        Some(body),
    )?;
    let e: Enrolment = parse(status, &text)?;
    let raw = hex::decode(&e.credential).map_err(local)?;
    let key: [u8; 32] = raw
        .try_into()
        .map_err(|_| local("head office sent a credential of the wrong length"))?;
    keyfile::replace(data_dir, KEY_FILE, &key).map_err(local)?;
    let info = LinkInfo {
        url,
        shop: e.shop,
        till: e.till,
    };
    let text = toml::to_string(&info).map_err(local)?;
    tillpoint_config::private::write(&data_dir.join(LINK_FILE), text.as_bytes()).map_err(local)?;
    Ok(info)
}

/// What one round of sending did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Entries head office stored.
    pub sent: u32,
    /// Entries it already held.
    pub duplicates: u32,
    /// Where head office stands now.
    pub head_office_at: i64,
    /// The till's last entry.
    pub till_at: i64,
}

impl SyncReport {
    /// Entries still to reach head office.
    pub fn waiting(&self) -> i64 {
        (self.till_at - self.head_office_at).max(0)
    }
}

impl HqLink {
    /// The link kept in `data_dir`, when this till is enrolled.
    pub fn load(data_dir: &Path) -> Result<Option<HqLink>, HqLinkError> {
        let path = data_dir.join(LINK_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(local(format!("{}: {e}", path.display()))),
        };
        let info: LinkInfo =
            toml::from_str(&text).map_err(|e| local(format!("{}: {e}", path.display())))?;
        let key = keyfile::load_existing(data_dir, KEY_FILE)
            .map_err(local)?
            .ok_or(HqLinkError::NotEnrolled)?;
        Ok(Some(HqLink {
            info,
            credential: Zeroizing::new(hex::encode(&key[..])),
            agent: agent(),
        }))
    }

    pub fn info(&self) -> &LinkInfo {
        &self.info
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1/{path}", self.info.url)
    }

    /// What head office holds of this till's journal.
    pub fn head(&self) -> Result<JournalHead, HqLinkError> {
        let (status, text) = call(
            &self.agent,
            "GET",
            &self.url("journal/head"),
            Some(&self.credential),
            None,
        )?;
        parse(status, &text)
    }

    /// Sends every entry head office does not hold yet, in batches, until
    /// it holds them all (or refuses one).
    pub fn sync(&self, database: &Path) -> Result<SyncReport, HqLinkError> {
        let journal = JournalReader::open(database).map_err(local)?;
        let head = self.head()?;
        let (till_at, _) = journal.head().map_err(local)?;
        if head.last_seq > till_at {
            return Err(HqLinkError::AheadOfTill {
                held: head.last_seq,
                has: till_at,
            });
        }
        if head.last_seq > 0
            && journal.hash_of(head.last_seq).map_err(local)?.as_deref()
                != Some(head.last_hash.as_str())
        {
            return Err(HqLinkError::Diverged(head.last_seq));
        }
        let mut report = SyncReport {
            head_office_at: head.last_seq,
            till_at,
            ..SyncReport::default()
        };
        loop {
            let entries = journal
                .after(report.head_office_at, MAX_BATCH)
                .map_err(local)?;
            if entries.is_empty() {
                return Ok(report);
            }
            let body = serde_json::to_string(&JournalBatch { entries }).map_err(local)?;
            let (status, text) = call(
                &self.agent,
                "POST",
                &self.url("journal"),
                Some(&self.credential),
                Some(body),
            )?;
            let r: IngestReport = if status == 409 {
                let r: IngestReport = serde_json::from_str(&text).map_err(local)?;
                match r.refused {
                    Some(refused) => return Err(HqLinkError::Refused(refused)),
                    None => r,
                }
            } else {
                parse(status, &text)?
            };
            report.sent += r.accepted;
            report.duplicates += r.duplicates;
            if r.last_seq <= report.head_office_at {
                // Nothing moved: do not spin.
                return Ok(report);
            }
            report.head_office_at = r.last_seq;
            report.till_at = report.till_at.max(journal.head().map_err(local)?.0);
        }
    }
}

/// How the till stands with head office, for the status bar.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeadOfficeStatus {
    /// Journal entries head office does not hold yet (as of the last round).
    pub waiting: i64,
    /// Why the last round did not get through, in words.
    pub problem: Option<String>,
}

/// Sends the journal to head office in the background, every `every`
/// and at once on start, on its own thread and its own database
/// connection: a sale never waits on head office, and head office being
/// away only means entries wait. Stops when dropped.
pub struct SyncWorker {
    status: Arc<std::sync::Mutex<HeadOfficeStatus>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for SyncWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncWorker")
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl SyncWorker {
    /// The worker for the till in `data_dir`, when it is enrolled.
    pub fn start(
        data_dir: &Path,
        database: &Path,
        every: Duration,
    ) -> Result<Option<SyncWorker>, HqLinkError> {
        let Some(link) = HqLink::load(data_dir)? else {
            return Ok(None);
        };
        let status = Arc::new(std::sync::Mutex::new(HeadOfficeStatus::default()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (st, sp, db) = (status.clone(), stop.clone(), database.to_path_buf());
        let handle = std::thread::Builder::new()
            .name("head-office".into())
            .spawn(move || {
                use std::sync::atomic::Ordering;
                // What head office was last known to hold: while it is
                // away, everything after it waits.
                let mut known = 0;
                while !sp.load(Ordering::Relaxed) {
                    let now = match link.sync(&db) {
                        Ok(r) => {
                            known = r.head_office_at;
                            HeadOfficeStatus {
                                waiting: r.waiting(),
                                problem: None,
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "head office");
                            let till_at = JournalReader::open(&db)
                                .and_then(|j| j.head())
                                .map_or(known, |(n, _)| n);
                            HeadOfficeStatus {
                                waiting: (till_at - known).max(0),
                                problem: Some(e.to_string()),
                            }
                        }
                    };
                    if let Ok(mut s) = st.lock() {
                        *s = now;
                    }
                    let until = std::time::Instant::now() + every;
                    while !sp.load(Ordering::Relaxed) && std::time::Instant::now() < until {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            })
            .map_err(local)?;
        Ok(Some(SyncWorker {
            status,
            stop,
            handle: Some(handle),
        }))
    }

    pub fn status(&self) -> HeadOfficeStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for SyncWorker {
    /// Asks the thread to stop and leaves it to finish its round: a round
    /// can wait on the network, and closing the till must not.
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        drop(self.handle.take());
    }
}
