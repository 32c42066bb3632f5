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

/// A fenced block: the line it opens on, its info string, its text, and the paragraph just
/// before it (what introduces it).
struct Block {
    line: usize,
    info: String,
    text: String,
    intro: String,
}

fn blocks(markdown: &str) -> Vec<Block> {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut found = Vec::new();
    let mut n = 0;
    while n < lines.len() {
        let Some(info) = lines[n].trim_start().strip_prefix("```") else {
            n += 1;
            continue;
        };
        let end = (n + 1..lines.len())
            .find(|&e| lines[e].trim_start().starts_with("```"))
            .unwrap_or_else(|| panic!("the block opened on line {} is never closed", n + 1));
        let mut intro: Vec<&str> = lines[..n]
            .iter()
            .rev()
            .skip_while(|l| l.trim().is_empty())
            .take_while(|l| !l.trim().is_empty())
            .copied()
            .collect();
        intro.reverse();
        found.push(Block {
            line: n + 1,
            info: info.trim().to_string(),
            text: lines[n + 1..end].iter().map(|l| format!("{l}\n")).collect(),
            intro: intro.join(" "),
        });
        n = end + 1;
    }
    found
}

/// The README, BENCHMARKS.md and every chapter.
fn documents() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = ["README.md", "BENCHMARKS.md"]
        .iter()
        .map(|f| root().join(f))
        .collect();
    files.extend(chapters().iter().map(|c| root().join("book/src").join(c)));
    files
}

#[test]
fn every_code_block_names_its_language_and_no_rust_block_escapes_the_build() {
    let mut wrong = Vec::new();
    let mut rust_blocks = 0;
    for file in documents() {
        for Block { line, info, .. } in blocks(&read(&file)) {
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

/// A block introduced by naming a file of its own kind (a YAML block after `config.yaml`, say)
/// shows what that file holds, word for word. (Rust blocks are doc tests instead.)
#[test]
fn a_block_that_names_its_file_shows_what_the_file_holds() {
    let kinds = [
        ("yaml", ".yaml"),
        ("toml", ".toml"),
        ("python", ".py"),
        ("json", ".json"),
    ];
    let mut wrong = Vec::new();
    let mut checked = 0;
    for file in documents() {
        for block in blocks(&read(&file)) {
            let lang = block.info.split(',').next().unwrap_or("");
            let Some(&(_, ext)) = kinds.iter().find(|(l, _)| *l == lang) else {
                continue;
            };
            let named = block
                .intro
                .split('`')
                .skip(1)
                .step_by(2)
                .filter(|p| p.ends_with(ext) && root().join(p).is_file());
            for path in named {
                checked += 1;
                if !read(&root().join(path)).contains(&block.text) {
                    wrong.push(format!(
                        "{}:{}: the block is not what {path} holds",
                        file.display(),
                        block.line
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(
        checked >= 1,
        "no block names its file: the check checks nothing"
    );
}
