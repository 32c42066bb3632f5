//! The workspace's shape: no two files of a crate import each other, directly or around a
//! circle, so every crate reads top to bottom. A file's imports are its `crate::` and
//! `super::` paths outside comments and its `#[cfg(test)]` module; a path names the longest
//! module it starts with.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_owned()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a readable source folder") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `a/b.rs` and `a/b/mod.rs` are module `a::b`; `lib.rs` and `main.rs` the root.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let relative = file
        .strip_prefix(src)
        .expect("inside src")
        .with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code of `text` that is not a comment or the test module.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The module paths written after `prefix` (`crate::`, `super::`) in `code`.
fn paths_after<'a>(code: &'a str, prefix: &str) -> Vec<Vec<&'a str>> {
    code.match_indices(prefix)
        .filter(|(at, _)| {
            // Not the tail of a longer name (`my_crate::`).
            !code[..*at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
        .map(|(at, _)| {
            let rest = &code[at + prefix.len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            rest[..end].split("::").filter(|s| !s.is_empty()).collect()
        })
        .collect()
}

/// Each module's imports of the crate's other modules.
fn imports(src: &Path) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeMap<Vec<String>, PathBuf> = files
        .into_iter()
        .map(|file| (module_of(src, &file), file))
        .collect();
    let longest = |path: Vec<String>| {
        (1..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|prefix| modules.contains_key(prefix))
    };
    modules
        .iter()
        .map(|(module, file)| {
            let code = code(&std::fs::read_to_string(file).expect("a readable file"));
            let mut targets = BTreeSet::new();
            for path in paths_after(&code, "crate::") {
                targets.extend(longest(path.iter().map(|s| (*s).to_owned()).collect()));
            }
            let parent = &module[..module.len().saturating_sub(1)];
            for path in paths_after(&code, "super::") {
                let mut full = parent.to_vec();
                full.extend(path.iter().map(|s| (*s).to_owned()));
                targets.extend(longest(full));
            }
            // A module may use its own children and its ancestors' items freely.
            targets.retain(|t| t != module && !module.starts_with(t) && !t.starts_with(module));
            (module.clone(), targets)
        })
        .collect()
}

/// Every circle of imports, as its modules.
fn circles(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<String>> {
    let reaches = |from: &Vec<String>, to: &Vec<String>| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.clone()];
        while let Some(module) = stack.pop() {
            for next in graph.get(&module).into_iter().flatten() {
                if next == to {
                    return true;
                }
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        false
    };
    let mut found: Vec<Vec<String>> = Vec::new();
    for module in graph.keys() {
        if found.iter().any(|c| c.contains(&module.join("::"))) || !reaches(module, module) {
            continue;
        }
        let circle: Vec<String> = graph
            .keys()
            .filter(|other| reaches(module, other) && reaches(other, module))
            .map(|m| m.join("::"))
            .collect();
        found.push(circle);
    }
    found
}

#[test]
fn no_crate_has_an_import_circle() {
    let root = workspace();
    let mut crates: Vec<PathBuf> = ["examples", "."]
        .iter()
        .flat_map(|dir| std::fs::read_dir(root.join(dir)).expect("the workspace"))
        .map(|entry| entry.expect("an entry").path().join("src"))
        .filter(|src| src.is_dir())
        .collect();
    crates.sort();
    assert!(crates.len() >= 10, "found only {crates:?}");
    let mut report = Vec::new();
    for src in &crates {
        for circle in circles(&imports(src)) {
            report.push(format!("{}: {}", src.display(), circle.join(" <-> ")));
        }
    }
    assert!(report.is_empty(), "import circles:\n{}", report.join("\n"));
}

#[test]
fn the_check_finds_a_circle() {
    let dir = std::env::temp_dir().join(format!("contracts-layout-{}", std::process::id()));
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("lib.rs"), "mod a;\nmod b;\nmod c;\n").unwrap();
    std::fs::write(
        src.join("a.rs"),
        "use crate::b::B;\n// crate::c in a comment\n",
    )
    .unwrap();
    std::fs::write(
        src.join("b.rs"),
        "pub struct B;\nfn f() { crate::a::g() }\n",
    )
    .unwrap();
    std::fs::write(src.join("c.rs"), "use super::a;\n").unwrap();
    let found = circles(&imports(&src));
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(found, [vec!["a".to_owned(), "b".to_owned()]]);
}

/// contracts-core's contract half (`contract`, `validate`) imports nothing of its runtime
/// half: only itself and the naming functions of `wire::topology`. A tool that reads and
/// checks contracts never pulls a client, server or broker in.
#[test]
fn the_contract_half_uses_no_runtime() {
    let graph = imports(&workspace().join("contracts-core/src"));
    let half = |module: &[String]| {
        matches!(
            module.first().map(String::as_str),
            Some("contract" | "validate")
        )
    };
    let mut checked = 0;
    let mut report = Vec::new();
    for (module, targets) in graph.iter().filter(|(module, _)| half(module)) {
        checked += 1;
        for target in targets {
            if !half(target) && target.as_slice() != ["wire", "topology"] {
                report.push(format!(
                    "{} imports {}",
                    module.join("::"),
                    target.join("::")
                ));
            }
        }
    }
    assert!(
        checked >= 8,
        "found only {checked} modules of the contract half"
    );
    assert!(
        report.is_empty(),
        "the contract half uses the runtime:\n{}",
        report.join("\n")
    );
}
