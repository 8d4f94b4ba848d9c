//! No import circle between the top-level modules of unjam-core (issue 9): every
//! `crate::module` path in a module's files is an edge, and the graph has no cycle. A
//! circle fails with the modules on it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules each top-level module names through `crate::`.
fn edges(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut tops = BTreeSet::new();
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        if name != "lib" {
            tops.insert(name);
        }
    }
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(src).unwrap();
        let first = relative.components().next().unwrap();
        let top = Path::new(first.as_os_str())
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .to_string();
        if top == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or("");
            for (at, _) in code.match_indices("crate::") {
                let rest = &code[at + "crate::".len()..];
                let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
                    let group = group.split('}').next().unwrap_or("");
                    group
                        .split(',')
                        .map(|item| item.trim().split("::").next().unwrap_or("").trim())
                        .collect()
                } else {
                    vec![rest
                        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .next()
                        .unwrap_or("")]
                };
                for name in names {
                    if tops.contains(name) && name != top {
                        graph
                            .entry(top.clone())
                            .or_default()
                            .insert(name.to_string());
                    }
                }
            }
        }
    }
    graph
}

/// A path back to `start`, if one exists.
fn cycle_from(
    graph: &BTreeMap<String, BTreeSet<String>>,
    start: &str,
    at: &str,
    path: &mut Vec<String>,
    seen: &mut BTreeSet<String>,
) -> bool {
    for next in graph.get(at).into_iter().flatten() {
        if next == start {
            return true;
        }
        if seen.insert(next.clone()) {
            path.push(next.clone());
            if cycle_from(graph, start, next, path, seen) {
                return true;
            }
            path.pop();
        }
    }
    false
}

#[test]
fn the_modules_of_unjam_core_import_no_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = edges(&src);
    assert!(
        graph.get("midlayer").is_some_and(|d| d.contains("eh")),
        "the parser sees the mid-layer's imports: {graph:?}"
    );
    for start in graph.keys() {
        let mut path = vec![start.clone()];
        let mut seen = BTreeSet::new();
        assert!(
            !cycle_from(&graph, start, start, &mut path, &mut seen),
            "import circle: {} -> {start}",
            path.join(" -> ")
        );
    }
}
