//! The QR gateway's use cases on the service: a shown code and the wait
//! for it, the gateway orders a sale's completion records, and the
//! background worker that settles missed orders and sends QR refunds.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use super::{lock, PayRefusal, Service};
use crate::qr_desk::{QrConfig, QrDesk, QrRefusal, ShownCode};
use crate::till::Till;
use tillpoint_core::money::Money;
use tillpoint_core::sale::SaleRecord;
use tillpoint_core::tender::CardRef;

/// How often the worker sends waiting QR refunds.
const REFUND_EVERY: Duration = Duration::from_secs(10);

/// The gateway of `[qr]`, when it names one.
pub(super) fn qr_gateway(till: &Till) -> Option<QrDesk> {
    let mut warnings = Vec::new();
    let c = QrConfig::load(&till.config, &mut warnings);
    for w in warnings {
        tracing::warn!("{w}");
    }
    if !c.uses_gateway() {
        return None;
    }
    match QrDesk::from_config(&c, till.data_dir()) {
        Ok(d) => Some(d),
        Err(e) => {
            tracing::error!("the QR gateway is not usable ({e}); QR payments are off");
            None
        }
    }
}

pub(super) fn qr_refusal(r: QrRefusal) -> PayRefusal {
    PayRefusal {
        id: r.id,
        args: vec![("why", r.detail.clone())],
        text: r.detail,
    }
}

/// Settles the orders a stopped till left, then sends QR refunds every
/// few seconds, for as long as the till is open.
fn qr_worker(desk: QrDesk, till: Weak<Mutex<Till>>, started_ms: i64) {
    let Some(t) = till.upgrade() else { return };
    for line in desk.recover(&t, started_ms) {
        tracing::warn!("QR order after a restart: {line}");
    }
    drop(t);
    loop {
        let Some(t) = till.upgrade() else { return };
        desk.send_refunds(&t);
        drop(t);
        let mut slept = Duration::ZERO;
        while slept < REFUND_EVERY {
            std::thread::sleep(Duration::from_millis(200));
            slept += Duration::from_millis(200);
            if till.strong_count() == 0 {
                return;
            }
        }
    }
}

/// Writes the demo's published keys where a shop keeps its own, so the
/// demo's gateway is configured exactly as a shop's is.
fn demo_key_files(dir: &std::path::Path) -> std::io::Result<QrConfig> {
    use tillpoint_sim::qr::demo_keys as k;
    let qr = dir.join("qr-demo");
    std::fs::create_dir_all(&qr)?;
    for (name, pem) in [
        ("merchant.key.pem", k::MERCHANT_KEY),
        ("platform.pub.pem", k::PLATFORM_PUB),
        ("ca.pem", k::CA),
    ] {
        tillpoint_config::private::write(&qr.join(name), pem.as_bytes())?;
    }
    Ok(QrConfig {
        channel: "gateway".into(),
        mchid: k::MCHID.into(),
        serial_no: k::SERIAL.into(),
        merchant_key: qr.join("merchant.key.pem").display().to_string(),
        platform_key: qr.join("platform.pub.pem").display().to_string(),
        ca: qr.join("ca.pem").display().to_string(),
        poll_seconds: 1,
        ..QrConfig::default()
    })
}

impl Service {
    /// Runs the demo's QR provider (`qr-sim` on 127.0.0.1, its customer
    /// paying a shown code a few seconds after it appears) and takes QR
    /// payments through it, as a shop's till does through its provider.
    pub fn with_demo_qr(mut self) -> Service {
        use tillpoint_sim::qr::{start_qr_sim, QrSimConfig};
        let link = self
            .demo_link
            .get_or_insert_with(tillpoint_sim::link::LinkSwitch::new)
            .clone();
        let started =
            QrSimConfig::demo(std::net::SocketAddr::from(([127, 0, 0, 1], 0))).and_then(|mut c| {
                c.link = link;
                start_qr_sim(c)
            });
        let sim = match started {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("the demo QR provider did not start ({e}); QR goes to the acquirer");
                return self;
            }
        };
        sim.ledger().auto_scan_after = Some(3);
        let dir = lock(&self.till).data_dir().to_path_buf();
        let desk = demo_key_files(&dir)
            .map_err(|e| e.to_string())
            .and_then(|mut c| {
                c.url = sim.url();
                QrDesk::from_config(&c, &dir).map_err(|e| e.to_string())
            });
        match desk {
            Ok(d) => {
                self.qr = Some(d);
                self.demo_qr = Some(Arc::new(sim));
                self.with_qr_worker()
            }
            Err(e) => {
                tracing::warn!("the demo QR gateway is not usable ({e})");
                self
            }
        }
    }

    pub(super) fn with_qr_worker(self) -> Service {
        if let Some(desk) = self.qr.clone() {
            let started_ms = lock(&self.till).clock.now_ms();
            let till = Arc::downgrade(&self.till);
            let started = std::thread::Builder::new()
                .name("qr-gateway".into())
                .spawn(move || qr_worker(desk, till, started_ms));
            if let Err(e) = started {
                tracing::error!("the QR gateway worker did not start: {e}");
            }
        }
        self
    }

    /// Whether QR payments go through the gateway (both directions).
    pub fn has_qr_gateway(&self) -> bool {
        self.qr.is_some()
    }

    /// A code for the customer to scan, for `amount` of this sale.
    pub fn show_qr(&self, amount: Money) -> Result<ShownCode, PayRefusal> {
        let q = self
            .qr
            .as_ref()
            .ok_or_else(|| PayRefusal::failed("no QR gateway"))?;
        q.show_code(&self.till, amount).map_err(qr_refusal)
    }

    /// Waits for the customer to pay a shown code (the cashier's Cancel
    /// ends the wait and closes the order).
    pub fn wait_qr(&self, shown: &ShownCode) -> Result<CardRef, PayRefusal> {
        let q = self
            .qr
            .as_ref()
            .ok_or_else(|| PayRefusal::failed("no QR gateway"))?;
        let card = q.wait_shown(&self.till, shown).map_err(qr_refusal)?;
        lock(&self.qr_pending).push(card.order_id.clone());
        Ok(card)
    }

    /// One paid order cannot go on the sale after all: its money goes
    /// back now, on a worker thread.
    pub fn abandon_qr(&self, order: &str) {
        let Some(q) = self.qr.clone() else { return };
        if order.is_empty() {
            return;
        }
        lock(&self.qr_pending).retain(|o| o != order);
        let (till, order) = (self.till.clone(), order.to_owned());
        std::thread::spawn(move || q.give_back(&till, &order));
    }

    /// The gateway orders of a recorded sale are done.
    pub(super) fn qr_recorded(&self, record: &SaleRecord) {
        let Some(q) = &self.qr else { return };
        for t in &record.tenders {
            if let Some(c) = t.card.as_ref().filter(|c| !c.order_id.is_empty()) {
                lock(&self.qr_pending).retain(|o| *o != c.order_id);
                q.recorded(&self.till, &c.order_id);
            }
        }
    }

    /// Settles missed orders now (the worker does it at start); what it
    /// did. Only while no QR payment is in progress on this till.
    pub fn recover_qr_orders(&self) -> Vec<String> {
        let now = lock(&self.till).clock.now_ms().saturating_add(1);
        self.qr
            .as_ref()
            .map_or_else(Vec::new, |q| q.recover(&self.till, now))
    }

    /// Sends waiting QR refunds now; how many were refunded.
    pub fn send_qr_refunds(&self) -> usize {
        self.qr.as_ref().map_or(0, |q| q.send_refunds(&self.till))
    }
}
