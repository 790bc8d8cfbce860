//! The printer's side of the till: its desk (a database connection and a
//! lock of its own), what printing needs from the till, the preview drawn
//! from the printer's own bytes, and the test page.

use tillpoint_core::money::Currency;
use tillpoint_core::sale::SaleRecord;
use tillpoint_devices::printer::config::{PrinterConfig, ReceiptSettings};
use tillpoint_store::{Store, StoreError, StoreSettings};

use crate::till::Till;

/// A receipt page as the printer would print it: width, height, RGBA.
pub type Page = (u32, u32, Vec<u8>);

/// The printer's desk: a connection of its own to the till's database and
/// a lock of its own, so a printer that is slow, out of paper or unplugged
/// holds only this while it prints the queue, kicks the drawer or prints a
/// test page; lookups and sales go on under the till's lock meanwhile.
pub(crate) struct PrintDesk {
    db: std::path::PathBuf,
    settings: StoreSettings,
    store: Option<Store>,
}

impl PrintDesk {
    pub(crate) fn for_till(till: &Till) -> PrintDesk {
        PrintDesk {
            db: till.paths.database(),
            settings: till.store_settings(),
            store: None,
        }
    }

    /// The desk's connection, opened on first use and again when the
    /// till's settings (currency, till id) changed since.
    pub(crate) fn store(&mut self, settings: &StoreSettings) -> Result<&mut Store, StoreError> {
        if self.settings != *settings {
            self.settings = settings.clone();
            self.store = None;
        }
        let store = match self.store.take() {
            Some(s) => s,
            None => Store::open(&self.db, self.settings.clone())?,
        };
        Ok(self.store.insert(store))
    }
}

/// What printing needs from the till, copied out under its lock.
pub(crate) struct PrintSetup {
    pub printer: PrinterConfig,
    pub receipts: ReceiptSettings,
    pub now: i64,
    pub currency: Currency,
    pub store: StoreSettings,
}

impl PrintSetup {
    /// Prints what waits in the queue of `store` (the printer desk's
    /// connection) on the configured printer.
    pub(crate) fn drain(
        &self,
        store: &mut Store,
        i18n: &tillpoint_i18n::I18n,
    ) -> Result<crate::print_queue::DrainReport, String> {
        crate::print_queue::drain_configured(store, &self.printer, i18n, &self.receipts, self.now)
            .map_err(|e| e.to_string())
    }
}

/// Lays the receipt out, encodes it to ESC/POS and renders those bytes with
/// the printer emulator: the preview shows exactly what the printer gets.
pub(crate) fn preview(setup: &PrintSetup, record: &SaleRecord) -> anyhow::Result<Vec<Page>> {
    use tillpoint_core::receipt::Receipt;
    use tillpoint_devices::printer::encode::encode;
    use tillpoint_devices::printer::layout::receipt_document;
    use tillpoint_sim::printer::{render_stream, Fonts, Paper};
    let (pc, settings) = (&setup.printer, &setup.receipts);
    let i18n = tillpoint_i18n::I18n::load();
    let fonts = Fonts::discover(Some(&assets_dir()))?;
    let paper = match settings.layout.width {
        tillpoint_devices::printer::doc::PaperWidth::Mm58 => Paper::Mm58,
        tillpoint_devices::printer::doc::PaperWidth::Mm80 => Paper::Mm80,
    };
    let mut pages = Vec::new();
    for copy in Receipt::copies_for(record) {
        let receipt = Receipt {
            shop: settings.shop.clone(),
            till_id: settings.till_id.clone(),
            record: record.clone(),
            copy,
            reprint: false,
        };
        let doc = receipt_document(&receipt, &i18n, &settings.layout);
        let bytes = encode(&doc, &pc.encode_options())?.bytes;
        for r in render_stream(&bytes, paper, &fonts)? {
            let (w, h) = r.image.dimensions();
            let rgba: Vec<u8> = r
                .image
                .pixels()
                .flat_map(|p| [p.0[0], p.0[0], p.0[0], 255])
                .collect();
            pages.push((w, h, rgba));
        }
    }
    Ok(pages)
}

/// The assets directory: next to the executable in an installed package,
/// else the source tree's (for `cargo run` and tests).
pub fn assets_dir() -> std::path::PathBuf {
    let installed = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("../share/tillpoint/assets")))
        .filter(|p| p.is_dir());
    installed.unwrap_or_else(|| {
        std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets"))
    })
}

pub(crate) fn test_print(pc: &PrinterConfig, when: &str) -> Result<String, String> {
    use tillpoint_devices::printer::doc::{PrintDocument, TextStyle};
    use tillpoint_devices::printer::ReceiptPrinter;
    let mut doc = PrintDocument::new(pc.paper_width());
    doc.text("tillpoint", TextStyle::plain().bold().double());
    doc.text("Printer test / 打印测试", TextStyle::plain());
    doc.text(when, TextStyle::plain());
    doc.push(tillpoint_devices::printer::doc::Block::Cut { partial: false });
    match pc.open() {
        Ok(None) => Ok("no printer is configured ([printer] transport = \"none\")".into()),
        Ok(Some(mut p)) => match p.print(&doc) {
            Ok(_) => Ok(format!("test page printed on {}", pc.describe())),
            Err(e) => Err(format!("printer: {e}")),
        },
        Err(e) => Err(format!("printer: {e}")),
    }
}

pub(crate) fn printer_setup(till: &Till) -> (PrinterConfig, ReceiptSettings) {
    let mut warnings = Vec::new();
    let pc = PrinterConfig::load(&till.config, &mut warnings);
    let settings = pc.receipt_settings(&till.config, till.clock.offset_secs(), &mut warnings);
    (pc, settings)
}
