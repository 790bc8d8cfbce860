//! Customer-presented QR payment codes as the till's scanner reads them.
//!
//! A payment code (Alipay's and WeChat Pay's "auth code", UnionPay's C2B
//! code) is a one-time bearer token: it is checked for shape before it is
//! sent, and shown or logged only masked.

/// Shortest code any provider issues (Alipay and WeChat Pay codes are 18
/// digits; UnionPay's 19; some wallets' are longer and alphanumeric).
pub const MIN_LEN: usize = 8;
/// Longest code the host's field 62 carries.
pub const MAX_LEN: usize = 512;

/// The scanned text trimmed of the scanner's whitespace, or why it cannot be
/// a payment code.
pub fn check_code(scanned: &str) -> Result<&str, &'static str> {
    let code = scanned.trim();
    if code.len() < MIN_LEN {
        return Err("shorter than 8 characters");
    }
    if code.len() > MAX_LEN {
        return Err("longer than 512 characters");
    }
    if !code.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err("contains characters a payment code never has");
    }
    Ok(code)
}

/// First four and last four characters of a payment code, the rest starred:
/// enough to tell two payments apart on a receipt, not enough to pay.
pub fn mask_code(code: &str) -> String {
    let n = code.chars().count();
    code.chars()
        .enumerate()
        .map(|(i, c)| if i < 4 || i + 4 >= n { c } else { '*' })
        .collect()
}

/// The wallet a customer's payment code belongs to, told by its first two
/// digits as the providers publish them: WeChat Pay 10–15 (18 digits),
/// Alipay 25–30 (16 to 24 digits), UnionPay QR 62 (19 digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QrScheme {
    WechatPay,
    Alipay,
    UnionPay,
}

impl QrScheme {
    /// The scheme key the reports and receipts use.
    pub fn key(self) -> &'static str {
        match self {
            QrScheme::WechatPay => "wechat",
            QrScheme::Alipay => "alipay",
            QrScheme::UnionPay => "unionpay",
        }
    }
}

/// The wallet of a scanned payment code; `None` for a code no listed
/// wallet issues (the gateway may still know it).
pub fn scheme_of(code: &str) -> Option<QrScheme> {
    let code = code.trim();
    if !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let prefix: u8 = code.get(..2)?.parse().ok()?;
    match (prefix, code.len()) {
        (10..=15, 18) => Some(QrScheme::WechatPay),
        (25..=30, 16..=24) => Some(QrScheme::Alipay),
        (62, 19) => Some(QrScheme::UnionPay),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wallet_is_told_by_the_first_two_digits() {
        assert_eq!(scheme_of("134567890123456789"), Some(QrScheme::WechatPay));
        assert_eq!(scheme_of("104567890123456789"), Some(QrScheme::WechatPay));
        assert_eq!(scheme_of("284500001234567890"), Some(QrScheme::Alipay));
        assert_eq!(scheme_of("2545000012345678"), Some(QrScheme::Alipay));
        assert_eq!(scheme_of("6212345678901234567"), Some(QrScheme::UnionPay));
        assert_eq!(scheme_of("164567890123456789"), None, "16 is no wallet's");
        assert_eq!(
            scheme_of("1345678901234567"),
            None,
            "WeChat codes are 18 digits"
        );
        assert_eq!(scheme_of("31450000123456789"), None);
        assert_eq!(scheme_of("28450000123456789a"), None);
        assert_eq!(scheme_of(""), None);
        assert_eq!(QrScheme::Alipay.key(), "alipay");
    }

    #[test]
    fn masks_all_but_the_ends() {
        assert_eq!(mask_code("284500001234567890"), "2845**********7890");
        assert_eq!(mask_code("12345678"), "12345678");
    }

    #[test]
    fn refuses_what_is_not_a_code() {
        assert_eq!(
            check_code("  284500001234567890\r\n"),
            Ok("284500001234567890")
        );
        assert!(check_code("1234567").is_err());
        assert!(check_code(&"9".repeat(513)).is_err());
        assert!(check_code("2845000012345678\u{7f}9").is_err());
        assert!(check_code("28450000支付码12345").is_err());
    }
}
