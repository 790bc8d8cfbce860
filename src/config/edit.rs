//! Writing settings back to the config file from the GUI, keeping the
//! owner's comments and layout (toml_edit), atomically (temp file + rename),
//! so a crash mid-save leaves the old file, never half a file.

use std::path::Path;

/// One setting to write: section, key, value (empty removes the key).
pub type Setting = (String, String, String);

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    #[error("{0} is not valid TOML: {1}")]
    Parse(String, String),
    #[error("cannot write {0}: {1}")]
    Write(String, std::io::Error),
}

/// Sets `values` in the TOML file at `path` (created if missing). Numbers
/// and booleans are written as such, text with line breaks as a list of
/// lines, everything else as strings.
pub fn save(path: &Path, values: &[Setting]) -> Result<(), EditError> {
    let shown = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(EditError::Read(shown, e)),
    };
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| EditError::Parse(shown.clone(), e.to_string()))?;
    for (section, key, value) in values {
        if !doc.contains_key(section) {
            doc[section.as_str()] = toml_edit::table();
        }
        let table = &mut doc[section.as_str()];
        if value.trim().is_empty() {
            if let Some(t) = table.as_table_like_mut() {
                t.remove(key);
            }
            continue;
        }
        let v = value.trim();
        table[key.as_str()] = if v.contains('\n') {
            let mut arr = toml_edit::Array::new();
            for line in v.lines().map(str::trim).filter(|l| !l.is_empty()) {
                arr.push(line);
            }
            toml_edit::value(arr)
        } else if let Ok(i) = v.parse::<i64>() {
            toml_edit::value(i)
        } else if let Ok(b) = v.parse::<bool>() {
            toml_edit::value(b)
        } else {
            toml_edit::value(v)
        };
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::private::create_dir(dir).map_err(|e| EditError::Write(shown.clone(), e))?;
    }
    crate::private::write(path, doc.to_string().as_bytes()).map_err(|e| EditError::Write(shown, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_comments_and_types() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.toml");
        std::fs::write(&p, "# my till\n[shop]\nname = \"Old\" # shop name\n").unwrap();
        save(
            &p,
            &[
                ("shop".into(), "name".into(), "New".into()),
                ("printer".into(), "paper".into(), "58".into()),
                ("printer".into(), "chinese".into(), "true".into()),
            ],
        )
        .unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.contains("# my till") && text.contains("name = \"New\""),
            "{text}"
        );
        assert!(
            text.contains("paper = 58") && text.contains("chinese = true"),
            "{text}"
        );
        let (cfg, w) = crate::Config::parse(&text).unwrap();
        assert_eq!(cfg.shop.name, "New");
        assert!(w.is_empty(), "{w:?}");
        save(&p, &[("shop".into(), "name".into(), String::new())]).unwrap();
        assert!(!std::fs::read_to_string(&p).unwrap().contains("New"));
        std::fs::write(&p, "[broken").unwrap();
        assert!(matches!(save(&p, &[]), Err(EditError::Parse(..))));
    }
}
