//! Representative receipts for the printer tests. The real layout comes from the core
//! receipt model (lead's work); these are hand-built documents that use every block kind the
//! layout will use, in both languages.
#![allow(dead_code)]

use tillpoint_devices::printer::doc::{
    Align, BarcodeKind, Block, DrawerPulse, PaperWidth, PrintDocument, QrLevel, RasterImage,
    TextStyle,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sale {
    Cash,
    Card,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

/// A 96 x 64 logo: a ring with a bar through it.
pub fn logo() -> RasterImage {
    RasterImage::from_fn(96, 64, |x, y| {
        let (dx, dy) = (x as i32 - 48, y as i32 - 32);
        let r2 = dx * dx + dy * dy;
        (24 * 24..=30 * 30).contains(&r2) || (dy.abs() <= 3 && dx.abs() <= 40)
    })
    .unwrap()
}

pub fn receipt(sale: Sale, lang: Lang, width: PaperWidth) -> PrintDocument {
    let t = |en: &'static str, zh: &'static str| if lang == Lang::En { en } else { zh };
    let plain = TextStyle::plain();
    let centre = plain.align(Align::Center);
    let mut d = PrintDocument::new(width);
    d.push(Block::Raster(logo()));
    d.text(t("Corner Café", "街角咖啡馆"), centre.double().bold());
    d.text(
        t("12 Rue de la Paix, Paris", "上海市黄浦区南京东路12号"),
        centre,
    );
    d.text(t("VAT FR12 345 678 901", "税号 91310000123456789X"), centre);
    d.separator('-');
    d.columns(t("2 x Espresso", "2 x 浓缩咖啡"), "€5.00", plain);
    d.columns(t("Croissant au beurre", "黄油牛角面包"), "€2.40", plain);
    d.columns(
        t(
            "  0.350 kg Gruyère @ €24.00/kg",
            "  0.350 公斤 格鲁耶尔奶酪 @ €24.00/公斤",
        ),
        "€8.40",
        plain,
    );
    d.columns(t("  Discount 10%", "  折扣 10%"), "-€0.84", plain);
    d.separator('-');
    d.columns(
        t("VAT 5.5% on €14.96", "增值税 5.5% (€14.96)"),
        "€0.78",
        plain,
    );
    d.columns(t("VAT 20% on €0.00", "增值税 20% (€0.00)"), "€0.00", plain);
    d.columns(t("TOTAL", "合计"), "€14.96", plain.double().bold());
    match sale {
        Sale::Cash => {
            d.columns(t("Cash", "现金"), "€20.00", plain);
            d.columns(t("Change", "找零"), "€5.04", plain.bold());
        }
        Sale::Card => {
            d.columns(t("Card", "银行卡"), "€14.96", plain);
            d.separator('=');
            d.columns("VISA", "Visa Credit", plain.bold());
            d.columns(t("Card", "卡号"), "476173******0119", plain);
            d.columns("AID", "A0000000031010", plain);
            d.columns("TVR / TSI", "0000008000 / E800", plain);
            d.columns(t("Auth code", "授权码"), "A1B2C3", plain);
            d.columns(t("Entry", "输入方式"), t("Chip", "芯片"), plain);
            d.text(t("PIN VERIFIED", "密码已验证"), centre.bold());
            d.text(t("MERCHANT COPY", "商户存根"), centre.underline());
        }
    }
    d.separator('-');
    d.text(t("Receipt R-2024-000042", "收据号 R-2024-000042"), centre);
    d.push(Block::Barcode {
        kind: BarcodeKind::Code128,
        data: "R2024000042".into(),
        height: 60,
        module: 2,
        hri: true,
    });
    d.push(Block::Qr {
        data: "tillpoint:receipt:R-2024-000042".into(),
        size: 5,
        level: QrLevel::M,
    });
    d.text(
        t(
            "Thank you for your visit! Returns within 30 days with this receipt.",
            "谢谢惠顾！凭此收据30天内可退换。",
        ),
        centre,
    );
    d.push(Block::Feed(3));
    d.push(Block::Cut { partial: false });
    if sale == Sale::Cash {
        d.push(Block::Drawer(DrawerPulse::default()));
    }
    d
}
