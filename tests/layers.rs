//! The layer order of DESIGN.md, checked on the real workspace: every
//! dependency between the project's crates must point down the list (its
//! "may use" column). The compiler already refuses a cycle; this refuses an
//! upward edge, such as the window reaching past the application layer
//! into the simulators, or the store importing a payment type.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Each crate of the workspace and the crates of the project it may use.
/// The binary (`tillpoint`) may use every one and is not listed.
const MAY_USE: &[(&str, &[&str])] = &[
    ("tillpoint-core", &[]),
    ("tillpoint-i18n", &["tillpoint-core"]),
    ("tillpoint-config", &["tillpoint-core"]),
    ("tillpoint-store", &["tillpoint-config", "tillpoint-core"]),
    (
        "tillpoint-payment",
        &["tillpoint-store", "tillpoint-config", "tillpoint-core"],
    ),
    (
        "tillpoint-devices",
        &[
            "tillpoint-payment",
            "tillpoint-config",
            "tillpoint-i18n",
            "tillpoint-core",
        ],
    ),
    (
        "tillpoint-sim",
        &[
            "tillpoint-devices",
            "tillpoint-payment",
            "tillpoint-store",
            "tillpoint-config",
            "tillpoint-i18n",
            "tillpoint-core",
        ],
    ),
    (
        "tillpoint-app",
        &[
            "tillpoint-sim",
            "tillpoint-devices",
            "tillpoint-payment",
            "tillpoint-store",
            "tillpoint-config",
            "tillpoint-i18n",
            "tillpoint-core",
        ],
    ),
    // Head office is its own program: it shares the shop's rules only.
    ("tillpoint-hq", &["tillpoint-core"]),
    // The window sees the till only through the application layer.
    (
        "tillpoint-ui",
        &[
            "tillpoint-app",
            "tillpoint-config",
            "tillpoint-i18n",
            "tillpoint-core",
        ],
    ),
];

/// The binary: it starts everything, so it may use every crate.
const TOP: &str = "tillpoint";

/// One dependency between two of the project's crates.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Edge {
    from: String,
    to: String,
    /// "normal", "dev" or "build".
    kind: String,
}

/// Every edge that the table does not allow, in words; a crate missing from
/// the table is an error too, so a new crate must be given its place.
fn violations(edges: &[Edge], table: &[(&str, &[&str])]) -> Vec<String> {
    let allowed: BTreeMap<&str, &[&str]> = table.iter().copied().collect();
    let mut out = Vec::new();
    for e in edges {
        if e.from == TOP {
            continue;
        }
        if e.to == TOP {
            out.push(format!("{} uses the binary {} ({})", e.from, e.to, e.kind));
            continue;
        }
        match allowed.get(e.from.as_str()) {
            None => out.push(format!("{} has no place in the layer table", e.from)),
            Some(may) if !may.contains(&e.to.as_str()) => out.push(format!(
                "{} uses {} ({} dependency), which is not below it",
                e.from, e.to, e.kind
            )),
            Some(_) => {}
        }
    }
    out
}

/// The project's crates and their dependencies on each other, from
/// `cargo metadata` (as the compiler will resolve them).
fn workspace_edges() -> (Vec<Edge>, Vec<(String, String)>) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages = meta["packages"].as_array().unwrap();
    let names: Vec<String> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    let mut edges = Vec::new();
    let mut manifests = Vec::new();
    for p in packages {
        let from = p["name"].as_str().unwrap().to_string();
        manifests.push((
            from.clone(),
            p["manifest_path"].as_str().unwrap().to_string(),
        ));
        for d in p["dependencies"].as_array().unwrap() {
            let to = d["name"].as_str().unwrap().to_string();
            if names.contains(&to) {
                edges.push(Edge {
                    from: from.clone(),
                    to,
                    kind: d["kind"].as_str().unwrap_or("normal").to_string(),
                });
            }
        }
    }
    (edges, manifests)
}

#[test]
fn every_dependency_points_down_the_layers() {
    let (edges, manifests) = workspace_edges();
    // Sanity: the real graph is read (the window does use the app layer).
    assert!(
        edges
            .iter()
            .any(|e| e.from == "tillpoint-ui" && e.to == "tillpoint-app"),
        "{edges:?}"
    );
    for (name, _) in MAY_USE {
        assert!(
            manifests.iter().any(|(n, _)| n == name),
            "{name} is in the table but not in the workspace"
        );
    }
    let bad = violations(&edges, MAY_USE);
    assert!(bad.is_empty(), "upward dependencies:\n{}", bad.join("\n"));
}

#[test]
fn every_member_takes_the_workspace_lints() {
    let (_, manifests) = workspace_edges();
    for (name, path) in manifests {
        let text = std::fs::read_to_string(&path).unwrap();
        let doc: toml::Table = text.parse().unwrap();
        let lints = doc.get("lints").and_then(|l| l.get("workspace"));
        assert_eq!(
            lints.and_then(|w| w.as_bool()),
            Some(true),
            "{name} ({path}) lacks `[lints] workspace = true`"
        );
    }
    // The lints themselves: unsafe code is forbidden, panicking shortcuts
    // denied outside tests (clippy.toml allows them in tests).
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let doc: toml::Table = std::fs::read_to_string(root).unwrap().parse().unwrap();
    let lints = &doc["workspace"]["lints"];
    assert_eq!(lints["rust"]["unsafe_code"].as_str(), Some("forbid"));
    for lint in ["unwrap_used", "expect_used", "panic"] {
        assert_eq!(lints["clippy"][lint].as_str(), Some("deny"), "{lint}");
    }
}

fn edge(from: &str, to: &str) -> Edge {
    Edge {
        from: from.into(),
        to: to.into(),
        kind: "normal".into(),
    }
}

/// The checker itself, on a made-up graph: a downward graph passes, and
/// each kind of upward or unplaced edge is named.
#[test]
fn the_checker_finds_an_upward_edge() {
    let good = [
        edge("tillpoint-store", "tillpoint-core"),
        edge("tillpoint-ui", "tillpoint-app"),
        edge(TOP, "tillpoint-sim"),
    ];
    assert!(violations(&good, MAY_USE).is_empty());

    let upward = [
        edge("tillpoint-store", "tillpoint-core"),
        edge("tillpoint-core", "tillpoint-store"),
    ];
    let bad = violations(&upward, MAY_USE);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(
        bad[0].contains("tillpoint-core uses tillpoint-store"),
        "{bad:?}"
    );

    // The window skipping the application layer to reach a simulator.
    let skip = [edge("tillpoint-ui", "tillpoint-sim")];
    assert_eq!(violations(&skip, MAY_USE).len(), 1);

    // A test-only (dev) upward edge counts as well.
    let dev = [Edge {
        kind: "dev".into(),
        ..edge("tillpoint-payment", "tillpoint-sim")
    }];
    assert!(violations(&dev, MAY_USE)[0].contains("dev dependency"));

    // A crate nobody placed, and a member using the binary.
    let unplaced = [
        edge("tillpoint-new", "tillpoint-core"),
        edge("tillpoint-app", TOP),
    ];
    assert_eq!(violations(&unplaced, MAY_USE).len(), 2);
}

/// Where a source file reaches past the application layer into the store.
fn reaches_the_store(source: &str) -> Vec<usize> {
    source
        .lines()
        .enumerate()
        .filter(|(_, line)| {
            let code = line.split("//").next().unwrap_or("");
            code.contains("tillpoint_store") || code.contains(".store.") || code.contains(".store,")
        })
        .map(|(i, _)| i + 1)
        .collect()
}

/// The command line's use cases go through the application layer's
/// service, as the window's do, so a rule checked there (a role, an
/// approval) cannot be skipped from a terminal: no command touches the
/// store itself. (The bench measures the store against bare SQLite and
/// may.)
#[test]
fn the_command_line_goes_through_the_service() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cli");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for line in reaches_the_store(&text) {
            found.push(format!("{}:{line}", path.display()));
        }
    }
    assert!(
        found.is_empty(),
        "the command line uses the store directly: {found:?}"
    );
    // The scan itself finds what it looks for.
    assert_eq!(
        reaches_the_store("let a = 1;\nlet n = till.store.sale_count()?;\n// till.store.x\n"),
        vec![2]
    );
    assert_eq!(reaches_the_store("use tillpoint_store::Store;"), vec![1]);
}
