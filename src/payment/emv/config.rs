//! Terminal configuration for the EMV kernel: the values a terminal
//! manager would download (AIDs, action codes, floor limits, CA keys,
//! capabilities). It lives in the till's TOML file; every field has a
//! default, and an invalid value falls back to its default with a warning,
//! so a bad edit or an upgrade never stops the till from taking cards.
//!
//! The defaults are the *simulator's* test values: the CA keys belong to the
//! project's test CA (see `sim::card`), never to a real scheme.

use serde::{Deserialize, Serialize};

/// Modulus of the project's test certification authority (1152 bits,
/// exponent 3). Public on purpose; the matching private key sits with the
/// virtual card, which plays issuer and CA in tests.
pub const TEST_CA_MODULUS: &str = "96C1E1FD02FFF96090CFF423C1E5CA10686B3E525E93FE7421F1EC0F6B3E07D48D99AEFFD1DDEC1ACF60911F16976B234668F195F36991692EB277C867FF51AFCE3D77222DFDA44ED50B3C2B40B29F7A4037FD0644A98090A2C9D06C9371604D730B549F3A8F3DE15D04C930E7ED54F69DE8B787ABCE62D131504DE58B72CA99B1DEA5F99A7CF6B8E070E434C40CCF4D";

/// Index under which the test CA key is published for every test RID.
pub const TEST_CA_INDEX: u8 = 0xF1;

/// Terminal-wide settings (EMV Book 4, terminal data elements).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TerminalConfig {
    /// Terminal type 9F35: 22 = attended, offline with online capability.
    pub terminal_type: u8,
    /// Terminal capabilities 9F33 (3 bytes): IC reader; online PIN,
    /// signature, no CVM; SDA, DDA and CDA. No offline PIN: a PC/SC reader has no
    /// secure path for it.
    #[serde(with = "hex_bytes")]
    pub capabilities: Vec<u8>,
    /// Additional terminal capabilities 9F40 (5 bytes).
    #[serde(with = "hex_bytes")]
    pub additional_capabilities: Vec<u8>,
    /// Terminal country code 9F1A, ISO 3166 numeric.
    pub country_code: u16,
    /// Currency the floor limits are expressed in, ISO 4217 numeric.
    pub currency_code: u16,
    /// Merchant category code 9F15.
    pub merchant_category_code: u16,
    /// Terminal identification 9F1C (8 characters).
    pub terminal_id: String,
    /// Merchant identifier 9F16 (15 characters).
    pub merchant_id: String,
    /// Merchant name and location 9F4E.
    pub merchant_name_location: String,
    /// IFD serial number 9F1E (8 characters).
    pub ifd_serial: String,
    /// Try the PSE (1PAY.SYS.DDF01) before the AID list.
    pub pse_enabled: bool,
    /// The terminal can show candidates and let the cardholder choose or
    /// confirm; without it, apps that require confirmation are dropped.
    pub cardholder_confirmation: bool,
    /// Default DDOL used when the card has none (must contain 9F37).
    #[serde(with = "hex_bytes")]
    pub default_ddol: Vec<u8>,
    /// Terminal transaction qualifiers 9F66 (4 bytes) the contactless
    /// reader starts from before the per-transaction bits (EMV Book A,
    /// 5.7; Visa and UnionPay cards read them): qVSDC, EMV contact chip,
    /// online PIN, signature and consumer-device CVM supported.
    #[serde(with = "hex_bytes")]
    pub ttq: Vec<u8>,
    /// Applications the terminal accepts, in the terminal's preference order.
    pub applications: Vec<ApplicationConfig>,
    /// Certification authority public keys for offline data authentication.
    pub ca_keys: Vec<CaPublicKey>,
}

/// Per-application settings (one per supported AID).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApplicationConfig {
    /// AID 9F06 as configured; may be a prefix when partial selection is on.
    #[serde(with = "hex_bytes")]
    pub aid: Vec<u8>,
    /// Name shown in diagnostics when the card gives no label.
    pub label: String,
    /// Application Selection Indicator: accept card AIDs that extend this one.
    pub partial_selection: bool,
    /// Terminal application version number 9F09 (2 bytes).
    #[serde(with = "hex_bytes")]
    pub app_version: Vec<u8>,
    /// Floor limit in minor units of `TerminalConfig::currency_code`.
    pub floor_limit: u64,
    /// Random selection threshold (minor units).
    pub random_selection_threshold: u64,
    /// Target percentage for random selection (0-99).
    pub random_target_percent: u8,
    /// Maximum target percentage for biased random selection (0-99).
    pub random_max_target_percent: u8,
    /// Terminal action code - default (5 bytes).
    #[serde(with = "hex_bytes")]
    pub tac_default: Vec<u8>,
    /// Terminal action code - denial (5 bytes).
    #[serde(with = "hex_bytes")]
    pub tac_denial: Vec<u8>,
    /// Terminal action code - online (5 bytes).
    #[serde(with = "hex_bytes")]
    pub tac_online: Vec<u8>,
    /// Contactless kernel this AID runs on (EMV Book B, 3.3.2.5): 2 the
    /// Mastercard kind, 3 the Visa kind, 7 UnionPay's; 0 takes the
    /// card's kernel identifier 9F2A, or the RID's kernel without one.
    pub kernel_id: u8,
    /// Reader contactless transaction limit (minor units): a tap above it
    /// is not allowed, the card must be inserted (Book B, 3.1.1.4).
    pub contactless_limit: u64,
    /// Reader CVM required limit: from this amount on the cardholder must
    /// be verified (online PIN, or the phone's own CVM).
    pub cvm_required_limit: u64,
    /// Reader contactless floor limit: above it the card must ask for an
    /// online authorisation.
    pub contactless_floor_limit: u64,
}

/// A certification authority public key (EMV Book 2, 5.1 / 6.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CaPublicKey {
    /// Registered application provider identifier (5 bytes).
    #[serde(with = "hex_bytes")]
    pub rid: Vec<u8>,
    /// CA public key index (tag 8F on the card).
    pub index: u8,
    /// Modulus, big-endian.
    #[serde(with = "hex_bytes")]
    pub modulus: Vec<u8>,
    /// Exponent (3 or 65537), big-endian.
    #[serde(with = "hex_bytes")]
    pub exponent: Vec<u8>,
}

fn test_ca_key(rid: &str) -> CaPublicKey {
    CaPublicKey {
        rid: hex::decode(rid).unwrap_or_default(),
        index: TEST_CA_INDEX,
        modulus: hex::decode(TEST_CA_MODULUS).unwrap_or_default(),
        exponent: vec![0x03],
    }
}

impl Default for CaPublicKey {
    fn default() -> Self {
        test_ca_key("A000000003")
    }
}

impl Default for TerminalConfig {
    fn default() -> Self {
        TerminalConfig {
            terminal_type: 0x22,
            capabilities: vec![0x60, 0x68, 0xC8],
            additional_capabilities: vec![0x60, 0x00, 0xF0, 0xA0, 0x01],
            country_code: 840,
            currency_code: 840,
            merchant_category_code: 5411,
            terminal_id: "TILL0001".into(),
            merchant_id: "TILLPOINT000001".into(),
            merchant_name_location: "TILLPOINT TEST SHOP".into(),
            ifd_serial: "TP000001".into(),
            pse_enabled: true,
            cardholder_confirmation: true,
            default_ddol: vec![0x9F, 0x37, 0x04],
            ttq: vec![0x36, 0x00, 0x40, 0x00],
            applications: vec![
                ApplicationConfig::default(),
                ApplicationConfig {
                    aid: vec![0xA0, 0x00, 0x00, 0x03, 0x33],
                    label: "UnionPay".into(),
                    tac_default: vec![0xD8, 0x40, 0x00, 0xA8, 0x00],
                    tac_online: vec![0xD8, 0x40, 0x04, 0xF8, 0x00],
                    app_version: vec![0x00, 0x30],
                    ..ApplicationConfig::default()
                },
                ApplicationConfig {
                    aid: vec![0xA0, 0x00, 0x00, 0x00, 0x04, 0x10, 0x10],
                    label: "Mastercard".into(),
                    tac_default: vec![0xFC, 0x50, 0xBC, 0xA0, 0x00],
                    tac_denial: vec![0x00, 0x00, 0x00, 0x00, 0x00],
                    tac_online: vec![0xFC, 0x50, 0xBC, 0xF8, 0x00],
                    app_version: vec![0x00, 0x02],
                    ..ApplicationConfig::default()
                },
            ],
            ca_keys: vec![
                test_ca_key("A000000003"),
                test_ca_key("A000000333"),
                test_ca_key("A000000004"),
            ],
        }
    }
}

impl Default for ApplicationConfig {
    fn default() -> Self {
        ApplicationConfig {
            aid: vec![0xA0, 0x00, 0x00, 0x00, 0x03],
            label: "Visa".into(),
            partial_selection: true,
            app_version: vec![0x00, 0x8C],
            floor_limit: 5_000,
            random_selection_threshold: 1_000,
            random_target_percent: 10,
            random_max_target_percent: 30,
            tac_default: vec![0xDC, 0x40, 0x00, 0xA8, 0x00],
            tac_denial: vec![0x00, 0x10, 0x00, 0x00, 0x00],
            tac_online: vec![0xDC, 0x40, 0x04, 0xF8, 0x00],
            kernel_id: 0,
            contactless_limit: 100_000,
            cvm_required_limit: 30_000,
            contactless_floor_limit: 5_000,
        }
    }
}

fn fix_len(field: &mut Vec<u8>, len: usize, default: &[u8], what: &str, out: &mut Vec<String>) {
    if field.len() != len {
        out.push(format!(
            "{what}: expected {len} bytes, got {}; using the default {}",
            field.len(),
            hex::encode_upper(default)
        ));
        *field = default.to_vec();
    }
}

impl TerminalConfig {
    /// Replaces every invalid value with its default and returns one warning
    /// per replacement, for the caller to log. Never fails: a till with a
    /// half-broken config still takes cards with safe values.
    pub fn sanitize(&mut self) -> Vec<String> {
        let d = TerminalConfig::default();
        let mut w = Vec::new();
        fix_len(
            &mut self.capabilities,
            3,
            &d.capabilities,
            "capabilities",
            &mut w,
        );
        fix_len(
            &mut self.additional_capabilities,
            5,
            &d.additional_capabilities,
            "additional_capabilities",
            &mut w,
        );
        fix_len(&mut self.ttq, 4, &d.ttq, "ttq", &mut w);
        if !self.default_ddol.windows(2).any(|p| p == [0x9F, 0x37]) {
            w.push("default_ddol must request the unpredictable number 9F37; using 9F3704".into());
            self.default_ddol = d.default_ddol.clone();
        }
        if !matches!(self.terminal_type, 0x11..=0x16 | 0x21..=0x26 | 0x34..=0x36) {
            w.push(format!(
                "terminal_type {:02X} is not an EMV terminal type; using 22",
                self.terminal_type
            ));
            self.terminal_type = d.terminal_type;
        }
        let da = ApplicationConfig::default();
        for (i, a) in self.applications.iter_mut().enumerate() {
            let p = format!("applications[{i}]");
            if !(5..=16).contains(&a.aid.len()) {
                w.push(format!("{p}.aid must be 5-16 bytes; application dropped"));
                a.aid.clear();
                continue;
            }
            fix_len(
                &mut a.app_version,
                2,
                &da.app_version,
                &format!("{p}.app_version"),
                &mut w,
            );
            fix_len(
                &mut a.tac_default,
                5,
                &da.tac_default,
                &format!("{p}.tac_default"),
                &mut w,
            );
            fix_len(
                &mut a.tac_denial,
                5,
                &da.tac_denial,
                &format!("{p}.tac_denial"),
                &mut w,
            );
            fix_len(
                &mut a.tac_online,
                5,
                &da.tac_online,
                &format!("{p}.tac_online"),
                &mut w,
            );
            if a.random_target_percent > 99 || a.random_max_target_percent > 99 {
                w.push(format!(
                    "{p}: random selection percentages must be 0-99; using 0"
                ));
                a.random_target_percent = 0;
                a.random_max_target_percent = 0;
            }
            if !matches!(a.kernel_id, 0 | 2 | 3 | 7) {
                w.push(format!(
                    "{p}.kernel_id {} is not a kernel this till has (2, 3, 7); using the card's",
                    a.kernel_id
                ));
                a.kernel_id = 0;
            }
            if a.random_max_target_percent < a.random_target_percent {
                a.random_max_target_percent = a.random_target_percent;
            }
        }
        self.applications.retain(|a| !a.aid.is_empty());
        self.ca_keys.retain(|k| {
            let ok = k.rid.len() == 5 && k.modulus.len() >= 64 && !k.exponent.is_empty();
            if !ok {
                w.push(format!(
                    "CA key {}/{:02X} is incomplete; ignored",
                    hex::encode_upper(&k.rid),
                    k.index
                ));
            }
            ok
        });
        w
    }

    /// Whether the terminal can go online at all (terminal type x1/x2/x4/x5).
    pub fn online_capable(&self) -> bool {
        !matches!(self.terminal_type & 0x0F, 0x03 | 0x06)
    }

    /// CA key by RID and index.
    pub fn ca_key(&self, rid: &[u8], index: u8) -> Option<&CaPublicKey> {
        self.ca_keys
            .iter()
            .find(|k| k.rid == rid && k.index == index)
    }
}

/// Hex strings in TOML for byte fields. Invalid hex decodes to an empty
/// value that `sanitize` then replaces with the default, instead of
/// rejecting the whole file.
mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode_upper(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        let cleaned: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        Ok(hex::decode(cleaned).unwrap_or_default())
    }
}

impl TerminalConfig {
    /// The till's `[emv]` section (hex strings, see the field docs), with
    /// each invalid value replaced by its default and a warning, like every
    /// section of the config file.
    pub fn from_till_config(
        config: &tillpoint_config::Config,
        warnings: &mut Vec<String>,
    ) -> TerminalConfig {
        let mut t: TerminalConfig = config.section("emv", warnings);
        warnings.extend(t.sanitize().into_iter().map(|w| format!("[emv] {w}")));
        // The card is charged in the till's currency (5F2A and field 49
        // must agree); the country defaults to that currency's home.
        let currency = config.till.currency;
        let set = |key: &str| {
            config
                .sections
                .get("emv")
                .is_some_and(|s| s.get(key).is_some())
        };
        if set("currency_code") && t.currency_code != currency.numeric() {
            warnings.push(format!(
                "[emv] currency_code {} is not the till's currency {} ({}); using {}",
                t.currency_code,
                currency.code(),
                currency.numeric(),
                currency.numeric()
            ));
        }
        t.currency_code = currency.numeric();
        if !set("country_code") {
            t.country_code = currency.home_country();
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_through_toml() {
        let c = TerminalConfig::default();
        let text = toml::to_string(&c).unwrap();
        assert!(text.contains("tac_online = \"DC4004F800\""));
        let back: TerminalConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn the_readers_contactless_limits_and_ttq_come_from_the_config() {
        let text = r#"
            ttq = "26000000"
            [[applications]]
            aid = "A000000333010101"
            kernel_id = 7
            contactless_limit = 50000
            cvm_required_limit = 10000
            contactless_floor_limit = 0
        "#;
        let mut c: TerminalConfig = toml::from_str(text).unwrap();
        assert!(c.sanitize().is_empty());
        assert_eq!(c.ttq, vec![0x26, 0, 0, 0]);
        let app = &c.applications[0];
        assert_eq!(
            (
                app.kernel_id,
                app.contactless_limit,
                app.cvm_required_limit,
                app.contactless_floor_limit
            ),
            (7, 50_000, 10_000, 0)
        );
        // A TTQ of the wrong length falls back to the default, said.
        let mut c: TerminalConfig = toml::from_str("ttq = \"3600\"").unwrap();
        let w = c.sanitize();
        assert_eq!(c.ttq, TerminalConfig::default().ttq);
        assert!(w.iter().any(|w| w.contains("ttq")), "{w:?}");
    }

    #[test]
    fn missing_and_invalid_fields_fall_back() {
        let text = r#"
            country_code = 156
            capabilities = "zz"
            [[applications]]
            aid = "A000000333010101"
            tac_online = "D84004"
            floor_limit = 0
        "#;
        let mut c: TerminalConfig = toml::from_str(text).unwrap();
        let warnings = c.sanitize();
        assert_eq!(c.country_code, 156);
        assert_eq!(c.capabilities, vec![0x60, 0x68, 0xC8]);
        assert_eq!(c.applications.len(), 1);
        assert_eq!(
            c.applications[0].tac_online,
            ApplicationConfig::default().tac_online
        );
        assert_eq!(c.applications[0].floor_limit, 0);
        assert_eq!(c.applications[0].random_target_percent, 10);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(!c.ca_keys.is_empty());
    }

    #[test]
    fn test_ca_key_is_present_for_test_rids() {
        let c = TerminalConfig::default();
        let k = c.ca_key(&[0xA0, 0, 0, 0, 0x03], TEST_CA_INDEX).unwrap();
        assert_eq!(k.modulus.len(), 144);
        assert!(c.online_capable());
    }
}

#[cfg(test)]
mod till_config_tests {
    use super::*;

    #[test]
    fn emv_section_from_the_till_config_falls_back_with_a_warning() {
        let (c, _) =
            tillpoint_config::Config::parse("[emv]\ncountry_code = \"not a number\"\n").unwrap();
        let mut w = Vec::new();
        let t = TerminalConfig::from_till_config(&c, &mut w);
        let expected = TerminalConfig {
            currency_code: c.till.currency.numeric(),
            ..TerminalConfig::default()
        };
        assert_eq!(t, expected);
        assert!(w.iter().any(|x| x.contains("[emv]")), "{w:?}");
        let (c, _) = tillpoint_config::Config::parse("[emv]\ncountry_code = 156\n").unwrap();
        let mut w = Vec::new();
        assert_eq!(
            TerminalConfig::from_till_config(&c, &mut w).country_code,
            156
        );
        assert!(w.is_empty(), "{w:?}");
    }

    /// The card is charged in the till's currency; the country follows it
    /// unless `[emv]` names one.
    #[test]
    fn currency_follows_the_till_and_country_its_home() {
        let (c, _) = tillpoint_config::Config::parse("[till]\ncurrency = \"EUR\"\n").unwrap();
        let mut w = Vec::new();
        let t = TerminalConfig::from_till_config(&c, &mut w);
        assert_eq!((t.currency_code, t.country_code), (978, 276));
        assert!(w.is_empty(), "{w:?}");
        let (c, _) = tillpoint_config::Config::parse(
            "[till]\ncurrency = \"CNY\"\n[emv]\ncurrency_code = 840\ncountry_code = 344\n",
        )
        .unwrap();
        let t = TerminalConfig::from_till_config(&c, &mut w);
        assert_eq!((t.currency_code, t.country_code), (156, 344));
        assert!(
            w.iter().any(|x| x.contains("not the till's currency")),
            "{w:?}"
        );
    }
}
