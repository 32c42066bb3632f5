//! `contracts man`: manual pages, one per command, made from the same parser.

use std::path::PathBuf;

use clap::{Args, CommandFactory};

use super::{Cli, Usage, Verdict};

/// Write the manual pages: `contracts.1` and one `contracts-<command>.1` per command.
#[derive(Args)]
#[command(after_help = "Examples:
  contracts man --out /usr/local/share/man/man1
  man -l target/man/contracts-check.1

Exit codes: 0 written, 2 usage or I/O error.")]
pub(super) struct Man {
    /// The directory to write the pages to (made if missing).
    #[arg(long, default_value = "man")]
    out: PathBuf,
}

impl Man {
    pub(super) fn run(self) -> Result<Verdict, Usage> {
        let failed = |e: std::io::Error| Usage(format!("{}: {e}", self.out.display()));
        std::fs::create_dir_all(&self.out).map_err(failed)?;
        clap_mangen::generate_to(Cli::command(), &self.out).map_err(failed)?;
        println!("wrote the manual pages to {}", self.out.display());
        Ok(Verdict::Clean)
    }
}
