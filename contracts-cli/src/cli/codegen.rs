//! `contracts codegen`: code for other languages, made from the schemas.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use contracts_cli::{baseline, python};

use super::{Usage, Verdict, load};

/// Write code for another language from the schemas.
#[derive(Args)]
pub(super) struct Codegen {
    #[command(subcommand)]
    language: Language,
}

#[derive(Subcommand)]
enum Language {
    Python(Python),
}

/// A pip-installable Python package for Nameko: per service, Pydantic v2 models of every
/// request, reply, declared error and event, a typed client, a guard for Python
/// implementations and a typed event publisher; with them, the `contracts` runtime they share.
#[derive(Args)]
#[command(after_help = "Examples:
  contracts codegen python --out python --package orders_contracts
  pip install ./python
  contracts codegen python --out python-v1 --package orders_contracts --revision v1.0.0

Exit codes: 0 written, 2 usage or I/O error.")]
struct Python {
    /// The directory to write the package into (its pyproject.toml and package folder).
    #[arg(long)]
    out: PathBuf,
    /// The package's import name.
    #[arg(long)]
    package: String,
    /// Generate from this git revision's schemas (`origin/main`, a tag) or another schemas
    /// directory, as `check --against` reads them, instead of `--schemas`.
    #[arg(long)]
    revision: Option<String>,
}

impl Codegen {
    pub(super) fn run(self, schemas: &Path) -> Result<Verdict, Usage> {
        let Language::Python(python) = self.language;
        let valid = !python.package.is_empty()
            && !python.package.starts_with(|c: char| c.is_ascii_digit())
            && python
                .package
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(Usage(format!(
                "--package `{}`: a Python import name (letters, digits and _, not starting with a digit)",
                python.package
            )));
        }
        let catalog = match &python.revision {
            Some(revision) => baseline::load(schemas, revision).map_err(|e| Usage::of(&e))?,
            None => load(schemas)?,
        };
        for (path, text) in python::package(&catalog, &python.package) {
            let path = python.out.join(path);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Usage(format!("{}: {e}", dir.display())))?;
            }
            std::fs::write(&path, text).map_err(|e| Usage(format!("{}: {e}", path.display())))?;
            println!("wrote {}", path.display());
        }
        Ok(Verdict::Clean)
    }
}
