//! `contracts completions`: the shell's completion script, made from the same parser.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::{Cli, Usage, Verdict};

/// Print the completion script for a shell.
#[derive(Args)]
#[command(after_help = "Examples:
  contracts completions bash > /etc/bash_completion.d/contracts
  contracts completions zsh > \"${fpath[1]}/_contracts\"
  contracts completions fish > ~/.config/fish/completions/contracts.fish

Exit codes: 0 printed, 2 usage error.")]
pub(super) struct Completions {
    /// The shell.
    shell: Shell,
}

impl Completions {
    pub(super) fn run(self) -> Result<Verdict, Usage> {
        let mut command = Cli::command();
        let name = command.get_name().to_owned();
        clap_complete::generate(self.shell, &mut command, name, &mut std::io::stdout());
        Ok(Verdict::Clean)
    }
}
