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

/// The modules of a crate's source tree by path (`oauth::grants::refresh`),
/// each with the modules its code (tests and comments left out) names.
fn import_graph(src: &Path) -> std::collections::BTreeMap<String, Vec<String>> {
    let module_of = |file: &Path| {
        let rel = file
            .strip_prefix(src)
            .expect("inside src")
            .with_extension("");
        let name = rel.to_string_lossy().replace('/', "::");
        let name = name.trim_end_matches("::mod").to_string();
        if name == "lib" {
            String::new()
        } else {
            name
        }
    };
    let files: Vec<(String, PathBuf)> = rust_files(src)
        .into_iter()
        .map(|f| (module_of(&f), f))
        .collect();
    let modules: std::collections::BTreeSet<String> =
        files.iter().map(|(m, _)| m.clone()).collect();
    // The longest module a `crate::a::b::c` path falls in.
    let resolve = |path: &str| {
        let parts: Vec<&str> = path.split("::").collect();
        (1..=parts.len())
            .rev()
            .map(|n| parts[..n].join("::"))
            .find(|m| modules.contains(m))
    };
    let mut graph = std::collections::BTreeMap::new();
    for (module, file) in &files {
        let text = fs::read_to_string(file).expect("readable");
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let mut named = std::collections::BTreeSet::new();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (i, _) in line.match_indices("crate::") {
                let rest = &line[i + "crate::".len()..];
                let path: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                let path = path.trim_end_matches(':');
                if let Some(target) = resolve(path) {
                    if &target != module {
                        named.insert(target);
                    }
                }
                // `crate::a::{b, c}` names a::b and a::c.
                let after = &rest[path.len()..];
                if let Some(group) = after.strip_prefix("::{").and_then(|g| g.split('}').next()) {
                    for item in group
                        .split(',')
                        .map(|s| s.trim().split(' ').next().unwrap_or(""))
                    {
                        if let Some(target) = resolve(&format!("{path}::{item}")) {
                            if &target != module {
                                named.insert(target);
                            }
                        }
                    }
                }
            }
        }
        graph.insert(module.clone(), named.into_iter().collect());
    }
    graph
}

/// Groups of modules that import each other in a circle (Tarjan's strongly
/// connected components with more than one member).
fn circles(graph: &std::collections::BTreeMap<String, Vec<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        graph: &'a std::collections::BTreeMap<String, Vec<String>>,
        index: std::collections::HashMap<&'a str, usize>,
        low: std::collections::HashMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(w: &mut Walk<'a>, v: &'a str) {
        let n = w.index.len();
        w.index.insert(v, n);
        w.low.insert(v, n);
        w.stack.push(v);
        for next in &w.graph[v] {
            let next = next.as_str();
            if !w.index.contains_key(next) {
                visit(w, next);
                let l = w.low[next].min(w.low[v]);
                w.low.insert(v, l);
            } else if w.stack.contains(&next) {
                let l = w.index[next].min(w.low[v]);
                w.low.insert(v, l);
            }
        }
        if w.low[v] == w.index[v] {
            let mut group = Vec::new();
            while let Some(m) = w.stack.pop() {
                group.push(m.to_string());
                if m == v {
                    break;
                }
            }
            if group.len() > 1 {
                w.found.push(group);
            }
        }
    }
    let mut w = Walk {
        graph,
        index: Default::default(),
        low: Default::default(),
        stack: vec![],
        found: vec![],
    };
    for v in graph.keys() {
        if !w.index.contains_key(v.as_str()) {
            visit(&mut w, v);
        }
    }
    w.found
}

#[test]
fn no_import_circle_spans_more_than_a_module_and_its_children() {
    for src in ["core/src", "dataplane/src"] {
        let graph = import_graph(&workspace().join(src));
        for group in circles(&graph) {
            // A circle inside one module and its own children is allowed.
            let parent = group.iter().min_by_key(|m| m.len()).expect("non-empty");
            let inside = group
                .iter()
                .all(|m| m == parent || m.starts_with(&format!("{parent}::")));
            assert!(
                inside,
                "{src}: modules importing each other in a circle: {group:?}"
            );
        }
    }
}

#[test]
fn the_circle_check_sees_a_circle() {
    let graph = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
    .collect();
    let found = circles(&graph);
    assert_eq!(found.len(), 1);
    let mut group = found[0].clone();
    group.sort();
    assert_eq!(group, ["a", "b", "c"]);
}
