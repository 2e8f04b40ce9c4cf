//! The import rule of docs/architecture.md, checked on the source: the
//! three edges never import each other, shared web code imports no edge,
//! nothing imports the wiring, a `mod.rs` only declares, and the core
//! crate's manifest names no web framework.

use std::fs;
use std::path::{Path, PathBuf};

const EDGES: &[&str] = &["oauth_api", "browser", "admin_api"];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).expect("readable source dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// Lines of code (comments dropped) that mention `needle`.
fn mentions(path: &Path, needle: &str) -> Vec<String> {
    fs::read_to_string(path)
        .expect("readable source")
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .filter(|l| l.contains(needle))
        .map(|l| format!("{}: {}", path.display(), l.trim()))
        .collect()
}

fn violations(dir: &Path, needles: &[String]) -> Vec<String> {
    rust_files(dir)
        .iter()
        .flat_map(|f| needles.iter().flat_map(move |n| mentions(f, n)))
        .collect()
}

#[test]
fn edges_never_import_each_other() {
    let web = workspace().join("dataplane/src/web");
    for edge in EDGES {
        let others: Vec<String> = EDGES
            .iter()
            .filter(|o| *o != edge)
            .map(|o| format!("web::{o}"))
            .collect();
        let found = violations(&web.join(edge), &others);
        assert!(
            found.is_empty(),
            "{edge} imports another edge:\n{}",
            found.join("\n")
        );
    }
}

#[test]
fn shared_web_code_imports_no_edge_and_nothing_imports_the_wiring() {
    let web = workspace().join("dataplane/src/web");
    let edges: Vec<String> = EDGES.iter().map(|e| format!("web::{e}")).collect();
    let shared: Vec<String> = fs::read_dir(&web)
        .expect("web dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .flat_map(|p| {
            edges
                .iter()
                .flat_map(move |n| mentions(&p, n))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        shared.is_empty(),
        "shared web code imports an edge:\n{}",
        shared.join("\n")
    );
    let wiring = violations(&web, &["crate::app".to_string()]);
    assert!(wiring.is_empty(), "web imports app:\n{}", wiring.join("\n"));
}

#[test]
fn a_mod_rs_only_declares_and_re_exports() {
    let root = workspace();
    let items = ["fn ", "struct ", "enum ", "impl ", "impl<", "trait "];
    let mut found = Vec::new();
    for dir in ["core/src", "dataplane/src"] {
        for file in rust_files(&root.join(dir)) {
            let is_mod = file
                .file_name()
                .is_some_and(|n| n == "mod.rs" || n == "lib.rs");
            if !is_mod {
                continue;
            }
            for line in fs::read_to_string(&file).expect("readable").lines() {
                let code = line.trim_start().trim_start_matches("pub ");
                if items.iter().any(|i| code.starts_with(i)) {
                    found.push(format!("{}: {}", file.display(), line.trim()));
                }
            }
        }
    }
    assert!(found.is_empty(), "logic in a mod.rs:\n{}", found.join("\n"));
}

#[test]
fn the_core_crate_has_no_web_framework() {
    let manifest = fs::read_to_string(workspace().join("core/Cargo.toml")).expect("core manifest");
    for framework in ["axum", "askama", "tower-http", "tower_http"] {
        assert!(
            !manifest
                .lines()
                .any(|l| l.trim_start().starts_with(framework)),
            "core/Cargo.toml names {framework}"
        );
    }
}
