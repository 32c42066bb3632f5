//! `contracts codegen`: code for other languages, made from the schemas.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use contracts_cli::python;

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

/// A pip-installable Python package: Pydantic v2 models of every request, reply, declared
/// error and event, one module per service.
#[derive(Args)]
#[command(after_help = "Examples:
  contracts codegen python --out python --package orders_contracts
  pip install ./python

Exit codes: 0 written, 2 usage or I/O error.")]
struct Python {
    /// The directory to write the package into (its pyproject.toml and package folder).
    #[arg(long)]
    out: PathBuf,
    /// The package's import name.
    #[arg(long)]
    package: String,
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
        let catalog = load(schemas)?;
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
