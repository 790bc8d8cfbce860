//! The `[acquirer]` section of the till's config, and the card figures of
//! the closing note (Z report): merchant fees per scheme, settlement status.
//!
//! Read tolerantly, like every section owned by a module ([`Config::section`]):
//! a missing section means "no acquirer link", and each bad value falls back
//! to its default with a warning (shown by `tillpoint check`), so a typo in
//! the acquirer settings never stops the till from selling.
//!
//! ```toml
//! [acquirer]
//! host = "127.0.0.1:5000"        # host:port of the acquirer; empty: no link
//! tid = "TILL0001"               # terminal id (field 41), up to 8 characters
//! mid = "SHOP00000000001"        # merchant id (field 42), up to 15 characters
//! connect_timeout_ms = 5000
//! read_timeout_ms = 30000
//! settle_on_z = true             # settle the batch when a Z report is taken
//! offline_max_count = 200        # caps on offline (store-and-forward) sales
//! offline_max_amount = "5000.00"
//! offline_max_age_hours = 72
//! advice_track2 = false          # keep track 2 for offline advices: only if the host asks
//! tls_ca = "/etc/tillpoint/acquirer-ca.pem"   # TLS to the host; empty: plain TCP
//! tls_server_name = "acquirer.example"        # default: the host part of `host`
//! tls_client_cert = ""                        # mutual TLS, when the host asks
//! tls_client_key = ""
//! plaintext = false      # plain TCP to a host off this machine: only with true (a private line)
//! profile = "generic"    # or "cups": the binary CUPS-style profile (PROFILE.md)
//! nii = 1                # cups: the host's network international identifier (TPDU)
//! source_nii = 0         # cups: the till's
//! mac = "ecb"            # cups: field 64 by the UnionPay ECB algorithm, or "x9.19"
//!
//! [acquirer.fees]                # merchant fee rates, per scheme ("1.5%" or "0.015")
//! visa = "1.5%"
//! mastercard = "1.5%"
//! unionpay = "0.6%"
//! qr = "0.38%"
//! default = "1%"                 # schemes not listed
//! ```

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use rust_decimal::Decimal;

use super::client::{AcquirerClient, ClientConfig};
use super::crypto::DataKey;
use super::mac::MacAlgorithm;
use super::session::{Session, SessionConfig, SystemClock};
use super::till_store::SqliteAcquirerStore;
use super::wire::{CupsSettings, HostProfile, Wire};
use super::OfflineLimits;
use crate::iso8583::messages::TerminalIds;
use tillpoint_config::Config;
use tillpoint_core::money::{Currency, Money};
use tillpoint_core::report::FeeRates;

/// The config file's section name.
const SECTION: &str = "acquirer";

const KNOWN_KEYS: &[&str] = &[
    "host",
    "tid",
    "mid",
    "connect_timeout_ms",
    "read_timeout_ms",
    "settle_on_z",
    "offline_max_count",
    "offline_max_amount",
    "offline_max_age_hours",
    "advice_track2",
    "fees",
    "tls_ca",
    "tls_server_name",
    "tls_client_cert",
    "tls_client_key",
    "plaintext",
    "profile",
    "nii",
    "source_nii",
    "mac",
];

/// The acquirer settings (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcquirerConfig {
    /// `host:port`; empty when the till has no acquirer link.
    pub host: String,
    pub tid: String,
    pub mid: String,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub settle_on_z: bool,
    pub limits: OfflineLimits,
    pub fees: FeeRates,
    /// Whether `[acquirer.fees]` named any rate (else every fee is 0 and the
    /// closing note says the rates are not configured).
    pub fees_configured: bool,
    /// TLS to the host: the acquirer's CA certificate (PEM); empty = plain TCP.
    pub tls_ca: String,
    /// The name in the host's certificate (default: the host part of `host`).
    pub tls_server_name: String,
    /// Client certificate and key (PEM) when the host asks for mutual TLS.
    pub tls_client_cert: String,
    pub tls_client_key: String,
    /// Plain TCP to a host off this machine, allowed only when set (a
    /// private line); without it such a host needs `tls_ca`.
    pub plaintext: bool,
    /// Which host profile the acquirer speaks (`profile`, with `nii`,
    /// `source_nii` and `mac` for cups).
    pub profile: HostProfile,
}

impl AcquirerConfig {
    /// Defaults for a till whose `[till] id` is `till_id`: no host, the till
    /// id as terminal id, no fees.
    pub fn defaults(till_id: &str) -> AcquirerConfig {
        let tid: String = till_id
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(8)
            .collect::<String>()
            .to_ascii_uppercase();
        AcquirerConfig {
            host: String::new(),
            tid: if tid.is_empty() {
                "TILL0001".into()
            } else {
                tid
            },
            mid: "TILLPOINT".into(),
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(30),
            settle_on_z: true,
            limits: OfflineLimits::default(),
            fees: FeeRates::default(),
            fees_configured: false,
            tls_ca: String::new(),
            tls_server_name: String::new(),
            tls_client_cert: String::new(),
            tls_client_key: String::new(),
            plaintext: false,
            profile: HostProfile::Generic,
        }
    }

    /// Reads `[acquirer]`, replacing each bad value with its default and
    /// saying so in `warnings`.
    pub fn load(config: &Config, warnings: &mut Vec<String>) -> AcquirerConfig {
        let mut c = AcquirerConfig::defaults(&config.till.id);
        let table: toml::Table = config.section(SECTION, warnings);
        for k in table.keys() {
            if !KNOWN_KEYS.contains(&k.as_str()) {
                warnings.push(format!("[{SECTION}] {k}: unknown setting, ignored"));
            }
        }
        let mut warn = |key: &str, why: String| {
            warnings.push(format!("[{SECTION}] {key}: {why}; using the default"));
        };
        if let Some(v) = table.get("host") {
            match v.as_str() {
                Some(h) if h.is_empty() || h.contains(':') => c.host = h.trim().to_owned(),
                _ => warn("host", "must be \"host:port\"".into()),
            }
        }
        let text_field = |key: &str, max: usize, warn: &mut dyn FnMut(&str, String)| {
            let v = table.get(key)?;
            match v.as_str() {
                Some(s)
                    if !s.is_empty()
                        && s.len() <= max
                        && s.bytes().all(|b| (0x20..0x7f).contains(&b)) =>
                {
                    Some(s.to_owned())
                }
                _ => {
                    warn(
                        key,
                        format!("must be 1 to {max} printable ASCII characters"),
                    );
                    None
                }
            }
        };
        if let Some(t) = text_field("tid", 8, &mut warn) {
            c.tid = t;
        }
        if let Some(m) = text_field("mid", 15, &mut warn) {
            c.mid = m;
        }
        let mut int = |key: &str, range: std::ops::RangeInclusive<i64>| -> Option<i64> {
            let v = table.get(key)?;
            match v.as_integer() {
                Some(n) if range.contains(&n) => Some(n),
                _ => {
                    warn(
                        key,
                        format!(
                            "must be a whole number from {} to {}",
                            range.start(),
                            range.end()
                        ),
                    );
                    None
                }
            }
        };
        let ms = |n: i64| Duration::from_millis(u64::try_from(n).unwrap_or(0));
        if let Some(n) = int("connect_timeout_ms", 100..=120_000) {
            c.connect_timeout = ms(n);
        }
        if let Some(n) = int("read_timeout_ms", 100..=300_000) {
            c.read_timeout = ms(n);
        }
        if let Some(n) = int("offline_max_count", 0..=100_000) {
            c.limits.max_count = u64::try_from(n).unwrap_or(0);
        }
        if let Some(n) = int("offline_max_age_hours", 1..=24 * 30) {
            c.limits.max_age = Duration::from_secs(u64::try_from(n).unwrap_or(1) * 3600);
        }
        if let Some(v) = table.get("advice_track2") {
            match v.as_bool() {
                Some(b) => c.limits.keep_track2 = b,
                None => warnings.push(format!(
                    "[{SECTION}] advice_track2: must be true or false; using the default"
                )),
            }
        }
        if let Some(v) = table.get("plaintext") {
            match v.as_bool() {
                Some(b) => c.plaintext = b,
                None => warnings.push(format!(
                    "[{SECTION}] plaintext: must be true or false; using the default"
                )),
            }
        }
        if let Some(v) = table.get("settle_on_z") {
            match v.as_bool() {
                Some(b) => c.settle_on_z = b,
                None => warnings.push(format!(
                    "[{SECTION}] settle_on_z: must be true or false; using the default"
                )),
            }
        }
        if let Some(v) = table.get("offline_max_amount") {
            match v
                .as_str()
                .map(|s| Money::parse(s, config.till.currency))
                .and_then(Result::ok)
                .and_then(|m| u64::try_from(m.minor).ok())
            {
                Some(minor) => c.limits.max_amount = minor,
                None => warnings.push(format!(
                    "[{SECTION}] offline_max_amount: must be an amount like \"5000.00\"; using the default"
                )),
            }
        }
        for (key, slot) in [
            ("tls_ca", &mut c.tls_ca),
            ("tls_server_name", &mut c.tls_server_name),
            ("tls_client_cert", &mut c.tls_client_cert),
            ("tls_client_key", &mut c.tls_client_key),
        ] {
            if let Some(v) = table.get(key) {
                match v.as_str() {
                    Some(s) => *slot = s.trim().to_owned(),
                    None => warnings.push(format!(
                        "[{SECTION}] {key}: must be text; using the default"
                    )),
                }
            }
        }
        if c.plaintext && c.tls_ca.is_empty() && !c.host.is_empty() && !c.host_is_local() {
            warnings.push(format!(
                "[{SECTION}] plaintext = true: card data goes to {} unencrypted; use it only on a private line",
                c.host
            ));
        }
        c.profile = load_profile(&table, warnings);
        match table.get("fees") {
            None => {}
            Some(toml::Value::Table(fees)) => {
                for (scheme, v) in fees {
                    match parse_rate(v) {
                        Some(rate) => {
                            c.fees_configured = true;
                            if scheme.eq_ignore_ascii_case("default") {
                                c.fees.default = rate;
                            } else {
                                c.fees.by_scheme.insert(scheme.to_lowercase(), rate);
                            }
                        }
                        None => warnings.push(format!(
                            "[{SECTION}.fees] {scheme}: must be a rate like \"1.5%\" or \"0.015\" (0 to under 100 %); ignored"
                        )),
                    }
                }
            }
            Some(_) => warnings.push(format!(
                "[{SECTION}] fees: must be a table of rates per scheme; no fees applied"
            )),
        }
        c
    }

    /// Whether an acquirer host is configured.
    pub fn enabled(&self) -> bool {
        !self.host.is_empty()
    }

    /// The host's address (resolved now; a name is looked up once).
    pub fn address(&self) -> Result<SocketAddr, String> {
        if !self.enabled() {
            return Err("no acquirer host is configured ([acquirer] host)".into());
        }
        self.host
            .to_socket_addrs()
            .map_err(|e| format!("[acquirer] host {:?}: {e}", self.host))?
            .next()
            .ok_or_else(|| format!("[acquirer] host {:?} has no address", self.host))
    }

    /// The terminal identity for messages in `currency`.
    pub fn terminal_ids(&self, currency: Currency) -> TerminalIds {
        TerminalIds {
            tid: self.tid.clone(),
            mid: self.mid.clone(),
            currency: currency.numeric(),
        }
    }

    /// A client for the configured host with the configured timeouts, over
    /// TLS when `tls_ca` is set.
    pub fn client(&self) -> Result<AcquirerClient, String> {
        let mut cfg = ClientConfig::new(self.address()?);
        cfg.profile = self.profile;
        cfg.connect_timeout = self.connect_timeout;
        cfg.read_timeout = self.read_timeout;
        if self.tls_ca.is_empty() {
            if !self.host_is_local() && !self.plaintext {
                return Err(format!(
                    "[acquirer] host {} is not on this machine and no tls_ca is set: card data would cross the network unencrypted; set tls_ca to the acquirer's CA certificate (or plaintext = true for a private line)",
                    self.host
                ));
            }
            return Ok(AcquirerClient::new(cfg));
        }
        let name = if self.tls_server_name.is_empty() {
            self.host
                .rsplit_once(':')
                .map_or(self.host.as_str(), |(h, _)| h)
                .to_owned()
        } else {
            self.tls_server_name.clone()
        };
        let client_auth = (!self.tls_client_cert.is_empty() && !self.tls_client_key.is_empty())
            .then(|| {
                (
                    Path::new(&self.tls_client_cert),
                    Path::new(&self.tls_client_key),
                )
            });
        let tls = super::tls::TlsConnector::new(Path::new(&self.tls_ca), &name, client_auth)
            .map_err(|e| format!("[acquirer] TLS: {e}"))?;
        Ok(AcquirerClient::with_connector(cfg, Box::new(tls)))
    }

    /// Whether `host` is this machine (a loopback address or `localhost`),
    /// where plain TCP never leaves it.
    pub fn host_is_local(&self) -> bool {
        let name = self
            .host
            .rsplit_once(':')
            .map_or(self.host.as_str(), |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']');
        name.eq_ignore_ascii_case("localhost")
            || name
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// A session over the till's database in `data_dir` (outbox key there too).
    pub fn open_session(
        &self,
        database: &Path,
        data_dir: &Path,
        currency: Currency,
    ) -> Result<Session<SqliteAcquirerStore>, String> {
        let store = SqliteAcquirerStore::open_exclusive(database, &data_dir.join("acquirer.lock"))
            .map_err(|e| e.to_string())?;
        let key = DataKey::load_or_create(data_dir).map_err(|e| e.to_string())?;
        let mut client = self.client()?;
        client.set_wire(
            Wire::with_keys_in(self.profile, data_dir.to_path_buf()).map_err(|e| e.to_string())?,
        );
        Session::new(
            store,
            client,
            SessionConfig {
                ids: self.terminal_ids(currency),
                limits: self.limits,
            },
            Box::new(SystemClock),
            key,
        )
        .map_err(|e| e.to_string())
    }
}

/// `profile` and, for cups, `nii` (the host's, default 1), `source_nii`
/// (the till's, default 0) and `mac` (`ecb` or `x9.19`).
fn load_profile(table: &toml::Table, warnings: &mut Vec<String>) -> HostProfile {
    let mut warn = |key: &str, why: &str| {
        warnings.push(format!("[{SECTION}] {key}: {why}; using the default"));
    };
    let cups = match table.get("profile").map(|v| v.as_str()) {
        None | Some(Some("generic")) => false,
        Some(Some("cups")) => true,
        Some(_) => {
            warn("profile", "must be \"generic\" or \"cups\"");
            false
        }
    };
    let mut settings = CupsSettings::default();
    let mut nii = |key: &str, slot: &mut u16| {
        if let Some(v) = table.get(key) {
            match v.as_integer().and_then(|n| u16::try_from(n).ok()) {
                Some(n) if n <= 999 => *slot = n,
                _ => warn(
                    key,
                    "must be a network international identifier from 0 to 999",
                ),
            }
        }
    };
    nii("nii", &mut settings.tpdu.destination);
    nii("source_nii", &mut settings.tpdu.source);
    if let Some(v) = table.get("mac") {
        match v.as_str().and_then(MacAlgorithm::parse) {
            Some(m) => settings.mac = m,
            None => warnings.push(format!(
                "[{SECTION}] mac: must be \"ecb\" or \"x9.19\"; using the default"
            )),
        }
    }
    if cups {
        HostProfile::Cups(settings)
    } else {
        if ["nii", "source_nii", "mac"]
            .iter()
            .any(|k| table.contains_key(*k))
        {
            warnings.push(format!(
                "[{SECTION}] nii, source_nii and mac apply to profile = \"cups\" only; ignored"
            ));
        }
        HostProfile::Generic
    }
}

/// "1.5%" or "0.015" (or a TOML number), 0 ≤ rate < 1.
fn parse_rate(v: &toml::Value) -> Option<Decimal> {
    let text = match v {
        toml::Value::String(s) => s.trim().to_owned(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Integer(i) => i.to_string(),
        _ => return None,
    };
    let rate = match text.strip_suffix('%') {
        Some(p) => Decimal::from_str(p.trim()).ok()? / Decimal::ONE_HUNDRED,
        None => Decimal::from_str(&text).ok()?,
    };
    (rate >= Decimal::ZERO && rate < Decimal::ONE).then(|| rate.normalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A till has one acquirer session at a time (another process, or a
    /// second one in this process, would send the first one's armed
    /// reversals); the lock goes with the session.
    #[test]
    fn one_session_per_till() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = AcquirerConfig::defaults("T01");
        cfg.host = "127.0.0.1:9".into();
        let db = dir.path().join("till.db");
        let first = cfg.open_session(&db, dir.path(), Currency::EUR).unwrap();
        let second = cfg.open_session(&db, dir.path(), Currency::EUR);
        assert!(
            second.as_ref().is_err_and(|e| e.contains("in use")),
            "{:?}",
            second.err()
        );
        drop(first);
        assert!(cfg.open_session(&db, dir.path(), Currency::EUR).is_ok());
    }

    #[test]
    fn section_is_read_tolerantly() {
        let (config, _) = Config::parse(
            r#"
            [till]
            id = "t-01"
            currency = "EUR"
            [acquirer]
            host = "127.0.0.1:5000"
            mid = "THIS MERCHANT ID IS TOO LONG"
            read_timeout_ms = 2500
            connect_timeout_ms = "fast"
            offline_max_amount = "250.00"
            colour = "blue"
            [acquirer.fees]
            visa = "1.5%"
            UnionPay = 0.006
            qr = "-1"
            default = "1%"
            "#,
        )
        .unwrap();
        let mut w = Vec::new();
        let c = AcquirerConfig::load(&config, &mut w);
        assert_eq!(c.host, "127.0.0.1:5000");
        assert_eq!(c.tid, "T01");
        assert_eq!(c.mid, "TILLPOINT");
        assert_eq!(c.read_timeout, Duration::from_millis(2500));
        assert_eq!(c.connect_timeout, Duration::from_secs(5));
        assert_eq!(c.limits.max_amount, 25_000);
        assert_eq!(c.fees.rate_for("VISA"), Decimal::new(15, 3));
        assert_eq!(c.fees.rate_for("unionpay"), Decimal::new(6, 3));
        assert_eq!(
            c.fees.rate_for("qr"),
            Decimal::new(1, 2),
            "bad rate ignored"
        );
        assert!(c.fees_configured);
        for needle in ["mid", "connect_timeout_ms", "colour", "qr"] {
            assert!(w.iter().any(|x| x.contains(needle)), "{needle}: {w:?}");
        }
        assert_eq!(c.address().unwrap().port(), 5000);

        let (config, _) = Config::parse("").unwrap();
        let mut w = Vec::new();
        let c = AcquirerConfig::load(&config, &mut w);
        assert!(w.is_empty());
        assert!(!c.enabled());
        assert!(c.address().is_err());
        assert!(!c.fees_configured);
    }

    #[test]
    fn rates() {
        let r = |s: &str| parse_rate(&toml::Value::String(s.into()));
        assert_eq!(r("0.6%"), Some(Decimal::new(6, 3)));
        assert_eq!(r("0.015"), Some(Decimal::new(15, 3)));
        assert_eq!(r("100%"), None);
        assert_eq!(r("abc"), None);
        assert_eq!(parse_rate(&toml::Value::Boolean(true)), None);
    }
}

#[cfg(test)]
mod tls_config_tests {
    use super::*;

    #[test]
    fn tls_settings_are_read_and_a_bad_ca_is_a_clear_error() {
        let (cfg, _) = Config::parse(
            "[acquirer]\nhost = \"127.0.0.1:5000\"\ntls_ca = \"/no/such/ca.pem\"\ntls_server_name = \"acq.test\"\n",
        )
        .unwrap();
        let mut w = Vec::new();
        let a = AcquirerConfig::load(&cfg, &mut w);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(a.tls_server_name, "acq.test");
        let err = a.client().err().unwrap_or_default();
        assert!(
            err.contains("TLS") && err.contains("/no/such/ca.pem"),
            "{err}"
        );
        let (plain, _) = Config::parse("[acquirer]\nhost = \"127.0.0.1:5000\"\n").unwrap();
        assert!(AcquirerConfig::load(&plain, &mut w).client().is_ok());
    }

    /// Plain TCP is for this machine only, unless a private line is
    /// declared with `plaintext = true` (and then said).
    #[test]
    fn plain_tcp_off_this_machine_needs_plaintext_and_is_warned_about() {
        let load = |text: &str| {
            let (cfg, _) = Config::parse(text).unwrap();
            let mut w = Vec::new();
            (AcquirerConfig::load(&cfg, &mut w), w)
        };
        for local in [
            "127.0.0.1:5000",
            "localhost:5000",
            "[::1]:5000",
            "127.8.9.1:1",
        ] {
            let (a, w) = load(&format!("[acquirer]\nhost = \"{local}\"\n"));
            assert!(a.host_is_local(), "{local}");
            assert!(w.is_empty(), "{w:?}");
        }
        let (a, w) = load("[acquirer]\nhost = \"10.1.2.3:5000\"\n");
        assert!(w.is_empty(), "{w:?}");
        let err = a.client().err().unwrap_or_default();
        assert!(
            err.contains("tls_ca") && err.contains("10.1.2.3:5000"),
            "{err}"
        );
        let (a, w) = load("[acquirer]\nhost = \"10.1.2.3:5000\"\nplaintext = true\n");
        assert!(a.client().is_ok());
        assert!(
            w.iter()
                .any(|x| x.contains("unencrypted") && x.contains("10.1.2.3")),
            "{w:?}"
        );
        let (a, w) = load("[acquirer]\nhost = \"10.1.2.3:5000\"\nplaintext = \"yes\"\n");
        assert!(
            !a.plaintext && w.iter().any(|x| x.contains("plaintext")),
            "{w:?}"
        );
    }
}
