//! Receipt layout: the core receipt model ([`Receipt`]) → a [`PrintDocument`] for a 58 mm
//! (32 columns) or 80 mm (48 columns) roll, in English or Chinese.
//!
//! Every word comes from the Fluent files (`i18n/*/receipt.ftl`) and every amount from
//! [`tillpoint_i18n::money`], so the printed receipt says exactly what the GUI's preview says.
//! Column arithmetic is done by the document layer ([`super::doc`]), which counts a CJK
//! character as two columns, so Chinese and Latin text align the same way.
//!
//! The layout never prints more card data than the receipt model holds (masked PAN, AID,
//! TVR/TSI, auth code and the like) and re-masks a PAN that shows more than ten digits, so a
//! bug upstream cannot put a full card number on paper.

use super::doc::{
    display_width, Align, BarcodeKind, Block, PaperWidth, PrintDocument, QrLevel, RasterImage,
    TextStyle,
};
use tillpoint_core::catalog::{Qty, Unit};
use tillpoint_core::money::Money;
use tillpoint_core::receipt::{Copy, Receipt};
use tillpoint_core::sale::{RecordLine, SaleRecord};
use tillpoint_core::tender::{mask_pan, CardEntry, CardRef, Cvm, Tender, TenderKind};
use tillpoint_i18n::{self as i18n, I18n, Lang};

/// How a receipt is laid out on paper: chosen per printer (width, logo) and per till
/// (language, time zone), never per receipt, so a reprint looks like the original.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutOptions {
    /// Paper roll the printer holds.
    pub width: PaperWidth,
    /// Language of the printed words.
    pub lang: Lang,
    /// The shop's offset from UTC in seconds, for the printed date and time.
    pub utc_offset_secs: i32,
    /// Optional 1-bit logo printed centred above the shop's name.
    pub logo: Option<RasterImage>,
}

impl LayoutOptions {
    /// Options without a logo, at UTC; set the other fields as needed.
    pub fn new(width: PaperWidth, lang: Lang) -> Self {
        Self {
            width,
            lang,
            utc_offset_secs: 0,
            logo: None,
        }
    }
}

/// Lays out one receipt (one copy) as a whole print document, ending with a cut.
pub fn receipt_document(receipt: &Receipt, i18n: &I18n, opts: &LayoutOptions) -> PrintDocument {
    let mut doc = PrintDocument::new(opts.width);
    append_receipt(&mut doc, receipt, i18n, opts);
    doc
}

/// Appends one receipt, ending with a cut, to `doc` (several copies can share a print job).
pub fn append_receipt(
    doc: &mut PrintDocument,
    receipt: &Receipt,
    i18n: &I18n,
    opts: &LayoutOptions,
) {
    let mut l = Layout {
        doc,
        i18n,
        lang: opts.lang,
        cols: opts.width.columns(),
        dots: opts.width.dots(),
    };
    l.header(receipt, opts);
    l.lines(&receipt.record);
    l.totals(&receipt.record);
    l.tenders(&receipt.record);
    l.tax(&receipt.record);
    l.card_slips(receipt);
    l.footer(receipt);
}

/// The printed text of a document, line by line as the printer prints it (barcodes, QR
/// codes and images as bracketed placeholders): for tests, logs of layout problems and a
/// plain-text preview.
pub fn document_text(doc: &PrintDocument) -> String {
    let mut out = String::new();
    for b in &doc.blocks {
        match super::doc::block_lines(b, doc.width) {
            Some(lines) => {
                for line in lines {
                    out.push_str(line.trim_end());
                    out.push('\n');
                }
            }
            None => {
                let tag = match b {
                    Block::Barcode { data, .. } => format!("[barcode {data}]"),
                    Block::Qr { data, .. } => format!("[qr {data}]"),
                    Block::Raster(img) => format!("[image {}x{}]", img.width(), img.height()),
                    Block::Feed(n) => format!("[feed {n}]"),
                    Block::Cut { .. } => "[cut]".to_string(),
                    Block::Drawer(_) => "[drawer]".to_string(),
                    Block::Text { .. } | Block::Columns { .. } | Block::Separator(_) => {
                        String::new()
                    }
                };
                out.push_str(&tag);
                out.push('\n');
            }
        }
    }
    out
}

/// A PAN as it may be printed: a value showing more than ten digits (first six and last
/// four are all a receipt may show) is masked again rather than trusted.
pub fn printable_pan(pan: &str) -> String {
    let digits = pan.chars().filter(char::is_ascii_digit).count();
    if digits > 10 {
        mask_pan(pan)
    } else {
        pan.to_string()
    }
}

/// Narrow bar width in dots for a CODE128 symbol of `data` on `dots` of paper, or `None`
/// when even the narrowest allowed bars (2 dots) would not fit. Width estimate: code set B,
/// 11 modules per symbol (start, data, check) plus a 13-module stop and 10-module quiet
/// zones on both sides.
fn code128_module(data: &str, dots: u32) -> Option<u8> {
    let modules = (data.len() as u32 + 2) * 11 + 13 + 20;
    [3u8, 2]
        .into_iter()
        .find(|m| modules * u32::from(*m) <= dots)
}

struct Layout<'a> {
    doc: &'a mut PrintDocument,
    i18n: &'a I18n,
    lang: Lang,
    cols: usize,
    dots: u32,
}

impl Layout<'_> {
    fn money(&self, m: Money) -> String {
        i18n::money(self.lang, m)
    }

    fn centre(&mut self, text: impl Into<String>, style: TextStyle) {
        self.doc.text(text, style.align(Align::Center));
    }

    /// Double size when the text fits on one line at double width, else bold: a long shop
    /// name or a Chinese heading must not break in the middle of a word.
    fn heading(&mut self, text: &str) {
        let style = if display_width(text) <= self.cols / 2 {
            TextStyle::plain().double().bold()
        } else {
            TextStyle::plain().bold()
        };
        self.centre(text, style);
    }

    fn header(&mut self, receipt: &Receipt, opts: &LayoutOptions) {
        let lang = self.lang;
        let shop = &receipt.shop;
        if let Some(logo) = &opts.logo {
            self.doc.push(Block::Raster(logo.clone()));
        }
        if !shop.name.trim().is_empty() {
            self.heading(shop.name.trim());
        }
        for a in shop.address.iter().filter(|a| !a.trim().is_empty()) {
            self.centre(a.trim(), TextStyle::plain());
        }
        if !shop.tax_id.trim().is_empty() {
            let args = [("id", shop.tax_id.trim().to_string())];
            let t = self.i18n.tr_args(lang, "receipt-tax-id", &args);
            self.centre(t, TextStyle::plain());
        }
        self.doc.separator('=');
        if receipt.reprint {
            let t = self.i18n.tr(lang, "receipt-reprint");
            self.heading(&t);
        }
        if Receipt::copies_for(&receipt.record).len() > 1 || receipt.copy == Copy::Merchant {
            let t = match receipt.copy {
                Copy::Merchant => self.i18n.tr(lang, "receipt-copy-merchant"),
                Copy::Customer => self.i18n.tr(lang, "receipt-copy-customer"),
            };
            self.centre(t, TextStyle::plain().bold());
        }
        let r = &receipt.record;
        if receipt.is_refund() {
            let t = self.i18n.tr(lang, "receipt-refund");
            self.heading(&t);
            if let Some(orig) = &r.original_receipt {
                let t = self
                    .i18n
                    .tr_args(lang, "receipt-original", &[("number", orig.clone())]);
                self.centre(t, TextStyle::plain());
            }
        }
        let number = self
            .i18n
            .tr_args(lang, "receipt-number", &[("number", r.receipt_no.clone())]);
        self.doc.text(number, TextStyle::plain().bold());
        let when = i18n::datetime(lang, r.completed_at_ms, opts.utc_offset_secs);
        let args = [("number", r.cashier.to_string())];
        let cashier = self.i18n.tr_args(lang, "receipt-cashier", &args);
        self.doc.columns(when, cashier, TextStyle::plain());
        if let Some(by) = r.approved_by {
            let t = self
                .i18n
                .tr_args(lang, "receipt-approved-by", &[("number", by.to_string())]);
            self.doc.text(t, TextStyle::plain());
        }
        self.doc.separator('-');
    }

    fn lines(&mut self, r: &SaleRecord) {
        for l in &r.lines {
            self.line(l);
        }
        self.doc.separator('-');
    }

    fn line(&mut self, l: &RecordLine) {
        let lang = self.lang;
        let plain = TextStyle::plain();
        if l.voided {
            let void = self.i18n.tr(lang, "receipt-voided-line");
            self.doc.columns(l.name.clone(), void, plain);
            return;
        }
        let amount = format!("{} {}", self.money(l.before_discount), l.tax_class);
        let price = self.money(l.unit_price);
        if l.unit == Unit::Piece && l.qty == Qty::ONE {
            self.doc.columns(l.name.clone(), amount, plain);
        } else {
            self.doc.text(l.name.clone(), plain);
            let detail = match l.unit {
                Unit::Kg => {
                    let args = [("qty", kilograms(l.qty)), ("price", price)];
                    self.i18n.tr_args(lang, "receipt-weight", &args)
                }
                Unit::Piece => {
                    let args = [("qty", l.qty.to_string()), ("price", price)];
                    self.i18n.tr_args(lang, "receipt-qty", &args)
                }
            };
            self.doc.columns(format!("  {detail}"), amount, plain);
        }
        if let Some(by) = l.override_by {
            let args = [("number", by.to_string())];
            let changed = self.i18n.tr_args(lang, "receipt-price-override", &args);
            let args = [("price", self.money(l.list_price))];
            let was = self.i18n.tr_args(lang, "receipt-price-was", &args);
            self.doc.columns(format!("  {changed}"), was, plain);
        }
        if !l.discount.is_zero() {
            let d = self.i18n.tr(lang, "receipt-discount");
            self.doc
                .columns(format!("  {d}"), self.money(-l.discount), plain);
        }
    }

    fn totals(&mut self, r: &SaleRecord) {
        let lang = self.lang;
        let plain = TextStyle::plain();
        // Tax added at the till (exclusive pricing) shows as the gap between the lines'
        // net amounts and the total.
        // Saturating: a receipt prints whatever a record holds, and the
        // record's sums were checked when it was made.
        let net = Money::new(
            r.subtotal.minor.saturating_sub(r.discount.minor),
            r.currency,
        );
        let tax_added = Money::new(r.total.minor.saturating_sub(net.minor), r.currency);
        if !r.discount.is_zero() || !tax_added.is_zero() {
            let t = self.i18n.tr(lang, "receipt-subtotal");
            self.doc.columns(t, self.money(r.subtotal), plain);
        }
        if !r.discount.is_zero() {
            let t = self.i18n.tr(lang, "receipt-discount");
            self.doc.columns(t, self.money(-r.discount), plain);
        }
        if !tax_added.is_zero() {
            let t = self.i18n.tr(lang, "receipt-tax-header");
            self.doc.columns(t, self.money(tax_added), plain);
        }
        let t = self.i18n.tr(lang, "receipt-total");
        self.doc
            .columns(t, self.money(r.total), plain.double().bold());
        if !r.rounding.is_zero() {
            let t = self.i18n.tr(lang, "receipt-rounding");
            self.doc.columns(t, self.money(r.rounding), plain);
        }
    }

    fn tenders(&mut self, r: &SaleRecord) {
        let lang = self.lang;
        let plain = TextStyle::plain();
        for t in &r.tenders {
            let name = match t.kind {
                TenderKind::Cash => self.i18n.tr(lang, "receipt-tender-cash"),
                TenderKind::Card => self.i18n.tr(lang, "receipt-tender-card"),
                TenderKind::Qr => self.i18n.tr(lang, "receipt-tender-qr"),
            };
            self.doc.columns(name, self.money(t.amount), plain);
            if let Some(given) = t.given.filter(|g| *g != t.amount) {
                let label = self.i18n.tr(lang, "receipt-given");
                self.doc
                    .columns(format!("  {label}"), self.money(given), plain);
            }
            if !t.change.is_zero() {
                let label = self.i18n.tr(lang, "receipt-change");
                self.doc.columns(label, self.money(t.change), plain.bold());
            }
        }
    }

    fn tax(&mut self, r: &SaleRecord) {
        if r.tax.is_empty() {
            return;
        }
        let lang = self.lang;
        let plain = TextStyle::plain();
        self.doc.separator('-');
        let inclusive = r.total.minor == r.subtotal.minor.saturating_sub(r.discount.minor);
        let head = if inclusive {
            self.i18n.tr(lang, "receipt-tax-included")
        } else {
            self.i18n.tr(lang, "receipt-tax-header")
        };
        self.doc.text(head, plain);
        for t in &r.tax {
            let args = [("name", t.name.clone()), ("net", self.money(t.net))];
            let label = self.i18n.tr_args(lang, "receipt-tax-line", &args);
            self.doc
                .columns(format!("{} {label}", t.class), self.money(t.tax), plain);
        }
    }

    fn card_slips(&mut self, receipt: &Receipt) {
        for t in &receipt.record.tenders {
            if let Some(card) = &t.card {
                self.card_slip(t, card, receipt);
            }
        }
    }

    fn card_slip(&mut self, tender: &Tender, card: &CardRef, receipt: &Receipt) {
        let lang = self.lang;
        let plain = TextStyle::plain();
        self.doc.separator('-');
        if !card.scheme.is_empty() || !card.app_label.is_empty() {
            let label = if card.app_label.is_empty() {
                String::new()
            } else {
                let args = [("label", card.app_label.clone())];
                self.i18n.tr_args(lang, "receipt-card-app", &args)
            };
            self.doc.columns(card.scheme.clone(), label, plain.bold());
        }
        // A QR payment keeps the customer's payment code, masked, where a
        // card keeps its PAN: on paper it is called a code, not a card.
        let qr = card.entry() == Some(CardEntry::Qr);
        if !card.masked_pan.is_empty() {
            let args = [("pan", printable_pan(&card.masked_pan))];
            let id = if qr {
                "receipt-qr-code"
            } else {
                "receipt-card-pan"
            };
            let t = self.i18n.tr_args(lang, id, &args);
            self.doc.text(t, plain);
        }
        if !card.aid.is_empty() {
            let t = self
                .i18n
                .tr_args(lang, "receipt-card-aid", &[("aid", card.aid.clone())]);
            self.doc.text(t, plain);
        }
        if !card.tvr.is_empty() || !card.tsi.is_empty() {
            let args = [("tvr", card.tvr.clone()), ("tsi", card.tsi.clone())];
            let t = self.i18n.tr_args(lang, "receipt-card-tvr", &args);
            self.doc.text(t, plain);
        }
        if !card.auth_code.is_empty() {
            let args = [("code", card.auth_code.clone())];
            let t = self.i18n.tr_args(lang, "receipt-card-auth", &args);
            self.doc.text(t, plain);
        }
        if !card.rrn.is_empty() {
            let t = self
                .i18n
                .tr_args(lang, "receipt-card-rrn", &[("rrn", card.rrn.clone())]);
            self.doc.text(t, plain);
        }
        if !card.stan.is_empty() {
            let t = self
                .i18n
                .tr_args(lang, "receipt-card-stan", &[("stan", card.stan.clone())]);
            self.doc.text(t, plain);
        }
        if !card.entry_mode.is_empty() {
            let mode = match card.entry() {
                Some(CardEntry::Chip) => self.i18n.tr(lang, "receipt-entry-chip"),
                Some(CardEntry::Contactless) => self.i18n.tr(lang, "receipt-entry-contactless"),
                Some(CardEntry::Qr) => self.i18n.tr(lang, "receipt-entry-qr"),
                Some(CardEntry::Manual) => self.i18n.tr(lang, "receipt-entry-manual"),
                Some(CardEntry::Swipe) => self.i18n.tr(lang, "receipt-entry-swipe"),
                Some(CardEntry::Fallback) => self.i18n.tr(lang, "receipt-entry-fallback"),
                None => card.entry_mode.clone(),
            };
            let t = self
                .i18n
                .tr_args(lang, "receipt-card-entry", &[("mode", mode)]);
            self.doc.text(t, plain);
        }
        if card.offline {
            let t = self.i18n.tr(lang, "receipt-card-offline");
            self.doc.text(t, plain);
        }
        // The cardholder verification only matters on a card payment, not
        // on money given back, nor on a QR payment (the wallet verified).
        if tender.amount.is_negative() || qr {
            return;
        }
        match card.verified_by() {
            Some(Cvm::Pin) => {
                let t = self.i18n.tr(lang, "receipt-card-pin");
                self.centre(t, plain.bold());
            }
            Some(Cvm::Signature) if receipt.copy == Copy::Merchant => {
                self.doc.push(Block::Feed(3));
                let line = format!("X{}", "_".repeat(self.cols.saturating_sub(1)));
                self.doc.text(line, plain);
                let t = self.i18n.tr(lang, "receipt-card-signature");
                self.centre(t, plain);
            }
            Some(Cvm::None) => {
                let t = self.i18n.tr(lang, "receipt-cvm-none");
                self.centre(t, plain);
            }
            Some(Cvm::ConsumerDevice) => {
                let t = self.i18n.tr(lang, "receipt-cvm-device");
                self.centre(t, plain);
            }
            _ => {}
        }
    }

    fn footer(&mut self, receipt: &Receipt) {
        let lang = self.lang;
        self.doc.separator('-');
        if receipt.reprint {
            let t = self.i18n.tr(lang, "receipt-reprint");
            self.heading(&t);
        }
        let code = receipt.lookup_code();
        if let Some(module) = code128_module(&code, self.dots) {
            self.doc.push(Block::Barcode {
                kind: BarcodeKind::Code128,
                data: code.clone(),
                height: 60,
                module,
                hri: true,
            });
        }
        let size = match self.dots {
            d if d >= PaperWidth::Mm80.dots() => 6,
            _ => 5,
        };
        self.doc.push(Block::Qr {
            data: code,
            size,
            level: QrLevel::M,
        });
        let footer: Vec<&String> = receipt
            .shop
            .footer
            .iter()
            .filter(|f| !f.trim().is_empty())
            .collect();
        if footer.is_empty() {
            let t = self.i18n.tr(lang, "receipt-thanks");
            self.centre(t, TextStyle::plain());
        } else {
            for f in footer {
                self.centre(f.trim(), TextStyle::plain());
            }
        }
        self.doc.push(Block::Feed(2));
        self.doc.push(Block::Cut { partial: false });
    }
}

/// A weight in kilograms with three decimals ("1.250", "-0.350"): scales weigh to the gram.
fn kilograms(q: Qty) -> String {
    let g = q.milli();
    let sign = if g < 0 { "-" } else { "" };
    format!("{sign}{}.{:03}", g.abs() / 1000, g.abs() % 1000)
}

#[cfg(test)]
mod tests {
    use super::super::doc::block_lines;
    use super::*;
    use rust_decimal::Decimal;
    use tillpoint_core::money::Currency;
    use tillpoint_core::receipt::ShopInfo;
    use tillpoint_core::sale::SaleKind;
    use tillpoint_core::tax::TaxLine;

    fn cny(minor: i64) -> Money {
        Money::new(minor, Currency::CNY)
    }

    fn line(no: u32, name: &str, unit: Unit, qty: Qty, price: i64) -> RecordLine {
        let amount = price * qty.milli() / 1000;
        RecordLine {
            line_no: no,
            sku: format!("{no:05}"),
            name: name.into(),
            tax_class: "A".into(),
            unit,
            qty,
            unit_price: cny(price),
            list_price: cny(price),
            override_by: None,
            voided: false,
            before_discount: cny(amount),
            discount: cny(0),
            tax: cny(0),
            gross: cny(amount),
            refund_of: None,
        }
    }

    fn record(card: Option<CardRef>) -> SaleRecord {
        let mut lines = vec![
            line(
                1,
                "Oolong tea 乌龙茶 500ml",
                Unit::Piece,
                Qty::pieces(2),
                450,
            ),
            line(2, "Apples 苹果", Unit::Kg, Qty(1250), 1299),
            line(3, "Chewing gum", Unit::Piece, Qty::ONE, 350),
        ];
        lines[2].voided = true;
        lines[2].before_discount = cny(0);
        lines[2].gross = cny(0);
        lines[1].discount = cny(162);
        lines[1].gross = cny(1624 - 162);
        let total = 900 + 1462;
        let tenders = match card {
            Some(c) => vec![Tender::electronic(TenderKind::Card, cny(total), c)],
            None => vec![Tender {
                kind: TenderKind::Cash,
                amount: cny(total),
                given: Some(cny(5000)),
                change: cny(5000 - total),
                card: None,
                refund_of: None,
            }],
        };
        SaleRecord {
            receipt_no: "T01-000042".into(),
            kind: SaleKind::Sale,
            cashier: 1001,
            currency: Currency::CNY,
            completed_at_ms: 1_767_227_400_000,
            local_hour: 8,
            lines,
            tenders,
            tax: vec![TaxLine {
                class: "A".into(),
                name: "VAT 13%".into(),
                rate: Decimal::new(13, 2),
                net: cny(2090),
                tax: cny(272),
                gross: cny(total),
            }],
            subtotal: cny(900 + 1624),
            discount: cny(162),
            total: cny(total),
            rounding: cny(0),
            original_receipt: None,
            approved_by: None,
        }
    }

    fn card(cvm: &str) -> CardRef {
        CardRef {
            masked_pan: "621234*********4567".into(),
            scheme: "UnionPay".into(),
            app_label: "UnionPay Debit".into(),
            aid: "A000000333010101".into(),
            tvr: "0000008000".into(),
            tsi: "E800".into(),
            auth_code: "123456".into(),
            entry_mode: "chip".into(),
            cvm: cvm.into(),
            ..CardRef::default()
        }
    }

    fn receipt(record: SaleRecord, copy: Copy, reprint: bool) -> Receipt {
        Receipt {
            shop: ShopInfo {
                name: "Corner Store 街角便利店".into(),
                address: vec!["88 Nanjing Road".into()],
                tax_id: "91310000MA1FL0000X".into(),
                footer: vec![],
            },
            till_id: "T01".into(),
            record,
            copy,
            reprint,
        }
    }

    fn text(r: &Receipt, width: PaperWidth, lang: Lang) -> (PrintDocument, String) {
        let i18n = I18n::load();
        let mut o = LayoutOptions::new(width, lang);
        o.utc_offset_secs = 8 * 3600;
        let d = receipt_document(r, &i18n, &o);
        let t = document_text(&d);
        (d, t)
    }

    #[test]
    fn every_line_fits_the_paper_in_both_languages() {
        for width in [PaperWidth::Mm58, PaperWidth::Mm80] {
            for lang in Lang::ALL {
                for card in [None, Some(card("signature"))] {
                    let r = receipt(record(card), Copy::Merchant, true);
                    let (d, _) = text(&r, width, lang);
                    d.validate().unwrap();
                    for b in &d.blocks {
                        let factor = match b {
                            Block::Text { style, .. } | Block::Columns { style, .. } => {
                                style.column_factor()
                            }
                            _ => 1,
                        };
                        for l in block_lines(b, width).unwrap_or_default() {
                            assert!(
                                display_width(&l) * factor <= width.columns(),
                                "{width:?} {lang:?}: {l:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn english_cash_receipt_says_what_the_sale_was() {
        let r = receipt(record(None), Copy::Customer, false);
        let (_, t) = text(&r, PaperWidth::Mm58, Lang::En);
        for want in [
            "Receipt T01-000042",
            "01/01/2026 08:30    Cashier 1001",
            "  2 x ¥4.50",
            "  1.250 kg x ¥12.99/kg",
            "VOID",
            "  Discount",
            "-¥1.62",
            "Cash",
            "¥23.62",
            "Change",
            "¥26.38",
            "A VAT 13% on ¥20.90",
            "[barcode T01-000042]",
            "[qr T01-000042]",
            "Thank you!",
            "[cut]",
        ] {
            assert!(t.contains(want), "missing {want:?} in\n{t}");
        }
        assert!(!t.contains("COPY"), "a cash sale has only one copy\n{t}");
        assert!(!t.contains("REPRINT"));
    }

    #[test]
    fn chinese_card_receipt_has_the_slip_and_copy_marks() {
        let r = receipt(record(Some(card("pin"))), Copy::Merchant, false);
        let (_, t) = text(&r, PaperWidth::Mm80, Lang::Zh);
        for want in [
            "商户存根",
            "小票号 T01-000042",
            "2026年1月1日 08:30",
            "卡号 621234*********4567",
            "AID A000000333010101",
            "TVR 0000008000  TSI E800",
            "授权码 123456",
            "读卡方式：芯片",
            "已验证密码",
            "合计",
        ] {
            assert!(t.contains(want), "missing {want:?} in\n{t}");
        }
    }

    #[test]
    fn every_way_the_card_met_the_till_is_printed_in_both_languages() {
        let ways = [
            ("chip", "pin", "Entry: Chip", "读卡方式：芯片"),
            (
                "contactless",
                "none",
                "Entry: Contactless",
                "读卡方式：非接触",
            ),
            ("swipe", "pin", "Entry: Swiped", "读卡方式：刷卡"),
            (
                "fallback",
                "pin",
                "Entry: Swiped (chip failed)",
                "读卡方式：刷卡（芯片故障降级）",
            ),
        ];
        for (entry, cvm, en, zh) in ways {
            let mut c = card(cvm);
            c.entry_mode = entry.into();
            let r = receipt(record(Some(c)), Copy::Customer, false);
            let (_, t_en) = text(&r, PaperWidth::Mm58, Lang::En);
            let (_, t_zh) = text(&r, PaperWidth::Mm58, Lang::Zh);
            assert!(t_en.contains(en), "missing {en:?} in\n{t_en}");
            assert!(t_zh.contains(zh), "missing {zh:?} in\n{t_zh}");
        }
        // A phone that verified its owner says so instead of a PIN line.
        let mut phone = card("device");
        phone.entry_mode = "contactless".into();
        let r = receipt(record(Some(phone)), Copy::Customer, false);
        let (_, t) = text(&r, PaperWidth::Mm80, Lang::En);
        assert!(t.contains("Verified on the cardholder's device"), "{t}");
        let (_, t) = text(&r, PaperWidth::Mm80, Lang::Zh);
        assert!(t.contains("持卡人设备已验证"), "{t}");
    }

    #[test]
    fn signature_line_only_on_the_merchant_copy_and_reprints_are_marked() {
        let rec = record(Some(card("signature")));
        let (_, m) = text(
            &receipt(rec.clone(), Copy::Merchant, false),
            PaperWidth::Mm58,
            Lang::En,
        );
        assert!(m.contains(&format!("X{}", "_".repeat(31))), "{m}");
        assert!(m.contains("Signature"));
        assert!(m.contains("MERCHANT COPY"));
        let (_, c) = text(
            &receipt(rec, Copy::Customer, true),
            PaperWidth::Mm58,
            Lang::En,
        );
        assert!(!c.contains("Signature"), "{c}");
        assert!(c.contains("CUSTOMER COPY"));
        assert_eq!(c.matches("*** REPRINT ***").count(), 2, "{c}");
    }

    #[test]
    fn a_qr_payment_prints_its_code_not_a_card() {
        let qr = CardRef {
            masked_pan: "1345**********6789".into(),
            scheme: "WeChat Pay".into(),
            auth_code: "654321".into(),
            ..CardRef::new(CardEntry::Qr, Cvm::None)
        };
        let mut rec = record(None);
        rec.tenders = vec![Tender::electronic(TenderKind::Qr, rec.total, qr)];
        for (lang, code, card) in [
            (Lang::En, "Code 1345", "Card "),
            (Lang::Zh, "付款码 1345", "卡号"),
        ] {
            let (_, t) = text(
                &receipt(rec.clone(), Copy::Customer, false),
                PaperWidth::Mm58,
                lang,
            );
            assert!(t.contains(code), "{t}");
            assert!(!t.contains(card), "{t}");
            let none = I18n::load().tr(lang, "receipt-cvm-none");
            assert!(!t.contains(&none), "{t}");
        }
    }

    #[test]
    fn a_full_pan_never_reaches_paper() {
        let mut c = card("pin");
        c.masked_pan = "6212345678901234567".into();
        let (_, t) = text(
            &receipt(record(Some(c)), Copy::Customer, false),
            PaperWidth::Mm80,
            Lang::En,
        );
        assert!(!t.contains("6212345678901234567"));
        assert!(t.contains("Card 621234*********4567"), "{t}");
        assert_eq!(printable_pan("12345678901"), "***********");
        assert_eq!(printable_pan("476173******0119"), "476173******0119");
    }

    #[test]
    fn barcode_width_follows_the_paper() {
        assert_eq!(code128_module("T01-000042", 384), Some(2));
        assert_eq!(code128_module("T01-000042", 576), Some(3));
        assert_eq!(code128_module(&"X".repeat(40), 384), None);
        assert_eq!(kilograms(Qty(-350)), "-0.350");
        assert_eq!(kilograms(Qty(2000)), "2.000");
    }
}
