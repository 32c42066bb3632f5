//! `--against`: the baseline to compare with, a directory or a git revision.

use std::path::{Path, PathBuf};
use std::process::Command;

use contracts_core::contract::schema_files::SchemaFilesError;

use crate::catalog::Catalog;

/// Why the baseline could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BaselineError {
    /// `git` could not be started.
    #[error("cannot run git")]
    Git(#[source] std::io::Error),
    /// A `git` command failed.
    #[error("`git {command}` failed: {stderr}")]
    GitFailed {
        /// Its arguments.
        command: String,
        /// What it said.
        stderr: String,
    },
    /// The baseline names neither a directory nor a revision.
    #[error("`{against}` is neither a directory nor a git revision")]
    NoSuchBaseline {
        /// What `--against` said.
        against: String,
        /// Why git could not read it as a revision.
        #[source]
        source: Box<BaselineError>,
    },
    /// The schemas directory is not where it was said to be.
    #[error("{}", path.display())]
    Schemas {
        /// The directory.
        path: PathBuf,
        /// Why it cannot be found.
        #[source]
        source: std::io::Error,
    },
    /// The schemas directory is not inside the git repository that holds it.
    #[error("{} is not inside {root}", path.display())]
    Outside {
        /// The schemas directory.
        path: PathBuf,
        /// The repository's root.
        root: String,
    },
    /// The baseline's files could not be copied out of git.
    #[error("cannot write the baseline's copy {}", path.display())]
    Copy {
        /// Where it was copied to.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The baseline's schema files cannot be read.
    #[error(transparent)]
    Read(#[from] SchemaFilesError),
}

fn git(args: &[&str], dir: &Path) -> Result<Vec<u8>, BaselineError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(BaselineError::Git)?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(BaselineError::GitFailed {
            command: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// Load the baseline: `against` is a schemas directory if one exists by that name, else a git
/// revision (`origin/main`, a tag, a commit) whose copy of `schemas` is read from the
/// repository `schemas` lives in.
pub fn load(schemas: &Path, against: &str) -> Result<Catalog, BaselineError> {
    let as_dir = Path::new(against);
    if as_dir.is_dir() {
        return Ok(Catalog::load(as_dir)?);
    }
    let schemas = schemas
        .canonicalize()
        .map_err(|source| BaselineError::Schemas {
            path: schemas.to_owned(),
            source,
        })?;
    let root = String::from_utf8_lossy(&git(&["rev-parse", "--show-toplevel"], &schemas)?)
        .trim()
        .to_owned();
    let relative = schemas
        .strip_prefix(&root)
        .map_err(|_| BaselineError::Outside {
            path: schemas.clone(),
            root: root.clone(),
        })?
        .to_string_lossy()
        .into_owned();
    let listing = git(
        &["ls-tree", "-r", "--name-only", against, "--", &relative],
        Path::new(&root),
    )
    .map_err(|source| BaselineError::NoSuchBaseline {
        against: against.to_owned(),
        source: Box::new(source),
    })?;
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
            let copied = |source| BaselineError::Copy {
                path: target.clone(),
                source,
            };
            std::fs::create_dir_all(target.parent().expect("a file has a parent"))
                .map_err(copied)?;
            std::fs::write(&target, content).map_err(copied)?;
        }
        let dir = scratch.join(&relative);
        if !dir.is_dir() {
            return Ok(Catalog::default());
        }
        Ok(Catalog::load(&dir)?)
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    result
}
