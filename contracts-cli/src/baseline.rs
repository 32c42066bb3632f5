//! `--against`: the baseline to compare with, a directory or a git revision.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::catalog::Catalog;

/// Load the baseline: `against` is a schemas directory if one exists by that name, else a git
/// revision (`origin/main`, a tag, a commit) whose copy of `schemas` is read from the
/// repository `schemas` lives in.
pub fn load(schemas: &Path, against: &str) -> Result<Catalog, String> {
    let as_dir = Path::new(against);
    if as_dir.is_dir() {
        return Catalog::load(as_dir).map_err(|e| e.to_string());
    }
    let git = |args: &[&str], dir: &Path| -> Result<Vec<u8>, String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .map_err(|e| format!("cannot run git: {e}"))?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(format!(
                "`git {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    };
    let schemas = schemas
        .canonicalize()
        .map_err(|e| format!("{}: {e}", schemas.display()))?;
    let root = String::from_utf8_lossy(&git(&["rev-parse", "--show-toplevel"], &schemas)?)
        .trim()
        .to_owned();
    let relative = schemas
        .strip_prefix(&root)
        .map_err(|_| format!("{} is not inside {root}", schemas.display()))?
        .to_string_lossy()
        .into_owned();
    let listing = git(
        &["ls-tree", "-r", "--name-only", against, "--", &relative],
        Path::new(&root),
    )
    .map_err(|e| format!("`{against}` is neither a directory nor a git revision: {e}"))?;
    let scratch = std::env::temp_dir().join(format!(
        "contracts-baseline-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    ));
    let result = (|| {
        for file in String::from_utf8_lossy(&listing).lines() {
            let content = git(&["show", &format!("{against}:{file}")], Path::new(&root))?;
            let target: PathBuf = scratch.join(file);
            std::fs::create_dir_all(target.parent().expect("a file has a parent"))
                .map_err(|e| e.to_string())?;
            std::fs::write(&target, content).map_err(|e| e.to_string())?;
        }
        let dir = scratch.join(&relative);
        if !dir.is_dir() {
            return Ok(Catalog::default());
        }
        Catalog::load(&dir).map_err(|e| e.to_string())
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    result
}
