//! The acquirer link's back-office use cases: where the card money stands,
//! forwarding what waits, settling, and an echo. Each runs through the
//! till's running acquirer session when it has one (never a second
//! session beside it), else through a session of its own, and never under
//! the till's lock while it talks to the host.

use std::time::{Duration, Instant};

use super::{lock, words, Refusal, Service};
use crate::closing::acquirer_config;
use tillpoint_payment::acquirer::forwarder::ForwardReport;
use tillpoint_payment::acquirer::rotate::{rotate_outbox_key, Rotated};
use tillpoint_payment::acquirer::settlement::settle_and_record;
use tillpoint_payment::acquirer::till_store::SqliteAcquirerStore;
use tillpoint_payment::acquirer::Session;
use tillpoint_payment::iso8583::profile::processing::SETTLEMENT_KINDS;
use tillpoint_store::acquirer::{SettlementRow, SettlementStatus};

/// Where the card money stands with the acquirer.
#[derive(Debug, Clone)]
pub struct LinkStatus {
    /// The host and terminal id, when a link is configured.
    pub host: Option<(String, String)>,
    pub settlement: SettlementStatus,
    /// Refunds and voids the host refused (the customer's money did not
    /// move): when, and why.
    pub refused: Vec<(i64, String)>,
}

/// What a forwarding run delivered, and the reversals still owed.
#[derive(Debug, Clone)]
pub struct Forwarded {
    pub report: ForwardReport,
    pub reversals_owed: usize,
}

impl Service {
    /// Runs `f` on the acquirer session: the running one, or one opened
    /// from the config for this call.
    fn with_session<T>(
        &self,
        f: impl FnOnce(&mut Session<SqliteAcquirerStore>) -> Result<T, Refusal>,
    ) -> Result<T, Refusal> {
        if let Some(shared) = &self.link {
            return f(&mut lock(shared));
        }
        let (cfg, db, data_dir, currency) = {
            let till = lock(&self.till);
            (
                acquirer_config(&till),
                till.paths.database(),
                till.data_dir().to_path_buf(),
                till.config.till.currency,
            )
        };
        let mut session = cfg.open_session(&db, &data_dir, currency).map_err(words)?;
        f(&mut session)
    }

    /// Seals every waiting advice under a new outbox key (`tillpoint keys
    /// rotate`). Refused while this process runs the till's link; another
    /// till process holding it makes the store's lock refuse.
    pub fn rotate_outbox_key(&self) -> Result<Rotated, Refusal> {
        if self.link.is_some() {
            return Err("stop the till before rotating its keys".into());
        }
        let (tid, db, data_dir) = {
            let till = lock(&self.till);
            (
                acquirer_config(&till).tid,
                till.paths.database(),
                till.data_dir().to_path_buf(),
            )
        };
        let store = SqliteAcquirerStore::open_exclusive(&db, &data_dir.join("acquirer.lock"))
            .map_err(words)?;
        rotate_outbox_key(&store, &data_dir, &tid).map_err(words)
    }

    /// The open batch, what waits, the last settlement and refused
    /// refunds/voids.
    pub fn link_status(&self) -> Result<LinkStatus, Refusal> {
        let mut till = lock(&self.till);
        let cfg = acquirer_config(&till);
        let settlement = till
            .store
            .settlement_status(SETTLEMENT_KINDS)
            .map_err(words)?;
        let refused = if settlement.refunds_voids_refused > 0 {
            tillpoint_store::acquirer::AcquirerDb::open(&till.paths.database())
                .and_then(|db| db.refused_instructions())
                .map_err(words)?
        } else {
            Vec::new()
        };
        Ok(LinkStatus {
            host: cfg.enabled().then(|| (cfg.host.clone(), cfg.tid.clone())),
            settlement,
            refused,
        })
    }

    /// Forwards every advice, refund and void that waits.
    pub fn forward_now(&self) -> Result<Forwarded, Refusal> {
        self.with_session(|session| {
            let report = session.forward_pending(usize::MAX).map_err(words)?;
            let reversals_owed = session
                .store()
                .db()
                .pending_reversals()
                .map(|r| r.len())
                .unwrap_or(0);
            Ok(Forwarded {
                report,
                reversals_owed,
            })
        })
    }

    /// Settles the open batch with the host now and records the outcome.
    pub fn settle_now(&self) -> Result<SettlementRow, Refusal> {
        let now = lock(&self.till).clock.now_ms();
        self.with_session(|session| Ok(settle_and_record(session, now)))
    }

    /// An echo test: how long the host took to answer, or `None` when it
    /// did not.
    pub fn echo(&self) -> Result<Option<Duration>, Refusal> {
        self.with_session(|session| {
            let t = Instant::now();
            Ok(session.echo().map_err(words)?.then(|| t.elapsed()))
        })
    }
}

impl Service {
    /// The demo's network switch: takes the simulated acquirer and QR
    /// provider away (`up = false`) or brings them back, then tries the
    /// acquirer at once (an echo), so the status bar says so without
    /// waiting for the forwarder's next try; once back, the forwarder sends
    /// what waits by itself. Refused outside the demo: a shop's network is
    /// not the till's to switch.
    pub fn set_demo_link(&self, up: bool) -> Result<(), Refusal> {
        let Some(link) = &self.demo_link else {
            return Err("only the demo's simulated network can be switched".into());
        };
        link.set_up(up);
        if up && !link.wait_until_listening(Duration::from_secs(2)) {
            tracing::warn!("a simulated host is not listening again yet");
        }
        if self.link.is_some() {
            // The answer is the session's link state, which the status reads.
            let _ = self.echo();
        }
        Ok(())
    }
}
