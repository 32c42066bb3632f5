//! The README and the guide (`book/`) show only code that is built: every fenced block names
//! its language, every Rust block is compiled as a doc test of `src/guide.rs` (none is
//! `ignore`d), and every chapter is both in the book's `SUMMARY.md` and in `src/guide.rs`.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The chapters: every markdown file of `book/src` but the summary.
fn chapters() -> Vec<String> {
    let mut chapters: Vec<String> = std::fs::read_dir(root().join("book/src"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".md") && name != "SUMMARY.md")
        .collect();
    chapters.sort();
    chapters
}

/// Each fenced block's info string, with the line it opens on.
fn fences(text: &str) -> Vec<(usize, String)> {
    let mut open = false;
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            if !open {
                found.push((n + 1, info.trim().to_string()));
            }
            open = !open;
        }
    }
    assert!(!open, "a fenced block is never closed");
    found
}

#[test]
fn every_code_block_names_its_language_and_no_rust_block_escapes_the_build() {
    let mut files: Vec<PathBuf> = ["README.md", "BENCHMARKS.md"]
        .iter()
        .map(|f| root().join(f))
        .collect();
    files.extend(chapters().iter().map(|c| root().join("book/src").join(c)));
    let mut wrong = Vec::new();
    let mut rust_blocks = 0;
    for file in &files {
        for (line, info) in fences(&read(file)) {
            let place = format!("{}:{line}", file.display());
            let lang = info.split(',').next().unwrap_or("");
            if lang.is_empty() {
                // rustdoc would take an unmarked block for Rust, mdBook for nothing.
                wrong.push(format!("{place}: a block without a language"));
            } else if lang == "rust" {
                rust_blocks += 1;
                if info
                    .split(',')
                    .any(|a| a == "ignore" || a == "compile_fail")
                {
                    wrong.push(format!("{place}: `{info}` is not built; make it compile"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(rust_blocks >= 10, "only {rust_blocks} Rust blocks found");
}

#[test]
fn every_chapter_is_in_the_summary_and_built_as_doc_tests() {
    let summary = read(&root().join("book/src/SUMMARY.md"));
    let guide = read(&root().join("examples/seed-services/src/guide.rs"));
    for chapter in chapters() {
        assert!(
            summary.contains(&format!("]({chapter})")),
            "book/src/{chapter} is not in book/src/SUMMARY.md"
        );
        // benchmarks.md includes BENCHMARKS.md, which guide.rs builds.
        if chapter != "benchmarks.md" {
            assert!(
                guide.contains(&format!("include_str!(\"../../../book/src/{chapter}\")")),
                "book/src/{chapter} is not built by examples/seed-services/src/guide.rs"
            );
        }
    }
    assert!(guide.contains("include_str!(\"../../../README.md\")"));
    assert_eq!(
        read(&root().join("book/src/benchmarks.md")).trim(),
        "{{#include ../../BENCHMARKS.md}}"
    );
}
