//! The layout ARCHITECTURE.md promises, checked from the source text: the library's
//! top-level modules, and the binary's `cmd` modules, import each other without a circle.

use crate::util::root;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The identifiers that follow `prefix::` in `text`, also inside `prefix::{a, b::c}`.
fn referenced(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let marker = format!("{prefix}::");
    for (at, _) in text.match_indices(&marker) {
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &text[at + marker.len()..];
        let list = match rest.strip_prefix('{') {
            Some(inner) => inner[..inner.find('}').unwrap_or(inner.len())].to_string(),
            None => rest.to_string(),
        };
        for item in list.split(',') {
            let name: String = item
                .trim()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name != "self" {
                found.insert(name);
            }
            if rest.starts_with('{') {
                continue;
            }
            break;
        }
    }
    found
}

/// The source text of `path` without its `//` comments.
fn code(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// A circle in `graph`, if there is one.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            return Some(path[at..].to_vec());
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn modules_import_each_other_without_a_circle() {
    let src = root().join("src");
    let module_of = |p: &Path| -> String {
        let rel = p.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        first.trim_end_matches(".rs").to_string()
    };
    let library: BTreeSet<String> = rust_files(&src)
        .iter()
        .map(|p| module_of(p))
        .filter(|m| !["lib", "main", "cmd"].contains(&m.as_str()))
        .collect();
    let commands: BTreeSet<String> = rust_files(&src.join("cmd"))
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .filter(|m| m != "mod")
        .collect();
    let (mut lib_graph, mut cmd_graph) = (BTreeMap::new(), BTreeMap::new());
    for file in rust_files(&src) {
        let text = code(&file);
        let module = module_of(&file);
        if module == "cmd" {
            let node = file.file_stem().unwrap().to_string_lossy().into_owned();
            let uses: BTreeSet<String> = referenced(&text, "super")
                .into_iter()
                .filter(|m| commands.contains(m) && *m != node)
                .collect();
            cmd_graph
                .entry(node)
                .or_insert_with(BTreeSet::new)
                .extend(uses);
        } else if library.contains(&module) {
            let uses: BTreeSet<String> = referenced(&text, "crate")
                .into_iter()
                .filter(|m| library.contains(m) && *m != module)
                .collect();
            lib_graph
                .entry(module)
                .or_insert_with(BTreeSet::new)
                .extend(uses);
        }
    }
    assert!(
        lib_graph.len() > 15 && cmd_graph.len() > 5,
        "the modules were found"
    );
    assert!(
        lib_graph["theory"].contains("backend") && cmd_graph["compare"].contains("plan"),
        "imports are seen"
    );
    assert_eq!(
        circle(&lib_graph),
        None,
        "the library's modules: {lib_graph:?}"
    );
    assert_eq!(
        circle(&cmd_graph),
        None,
        "the binary's commands: {cmd_graph:?}"
    );
}
