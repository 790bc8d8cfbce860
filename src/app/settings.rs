//! What the window may change in the till's config, and who may: a
//! manager, for an allow-list of keys only. Anything else (TLS files, keys,
//! limits, fees) is changed in the file by whoever administers the machine.

use tillpoint_config::Config;

/// The `(section, key)` pairs the settings screen may write.
pub const EDITABLE: &[(&str, &str)] = &[
    ("shop", "name"),
    ("shop", "address"),
    ("shop", "tax_id"),
    ("printer", "transport"),
    ("printer", "address"),
    ("printer", "path"),
    ("printer", "paper"),
    ("reader", "name"),
    ("pinpad", "port"),
    ("acquirer", "host"),
];

/// A key's value as the config holds it now, in the settings screen's form
/// (lists as lines).
pub fn current(config: &Config, section: &str, key: &str) -> String {
    match (section, key) {
        ("shop", "name") => config.shop.name.clone(),
        ("shop", "address") => config.shop.address.join("\n"),
        ("shop", "tax_id") => config.shop.tax_id.clone(),
        _ => config
            .sections
            .get(section)
            .and_then(|s| s.get(key))
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
            .unwrap_or_default(),
    }
}

/// The changes `values` make to `config`, each `(section, key, old, new)`;
/// a key off the allow-list is refused, naming it.
pub fn changes(
    config: &Config,
    values: &[tillpoint_config::edit::Setting],
) -> Result<Vec<(String, String, String, String)>, String> {
    let mut out = Vec::new();
    for (section, key, value) in values {
        if !EDITABLE.contains(&(section.as_str(), key.as_str())) {
            return Err(format!(
                "[{section}] {key} cannot be changed from the till; edit the config file"
            ));
        }
        let old = current(config, section, key);
        if old.trim() != value.trim() {
            out.push((section.clone(), key.clone(), old, value.trim().to_string()));
        }
    }
    Ok(out)
}
