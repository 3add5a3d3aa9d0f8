//! `fdbroker completions SHELL`: a completion script for SHELL, generated
//! from the command-line definitions by `clap_complete`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap_complete::Shell;

/// Print a completion script for SHELL on standard output.
#[derive(clap::Args)]
#[command(after_help = "\
Install the script where the shell looks for completions, for example:

  fdbroker completions bash > ~/.local/share/bash-completion/completions/fdbroker
  fdbroker completions zsh > ~/.zfunc/_fdbroker   # fpath+=(~/.zfunc) before compinit
  fdbroker completions fish > ~/.config/fish/completions/fdbroker.fish

Exit status: 0; 2 when SHELL is unknown or standard output cannot be written.")]
pub struct Args {
    /// The shell to complete for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: Shell,
}

/// Writes the script for `command` (the whole `fdbroker` command line).
pub fn run(args: &Args, mut command: clap::Command) -> anyhow::Result<ExitCode> {
    let name = command.get_name().to_string();
    // Generated into memory first: the generator cannot report a failed
    // write (a closed pipe) other than by panicking.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, name, &mut script);
    std::io::stdout()
        .lock()
        .write_all(&script)
        .context("writing the completion script")?;
    Ok(ExitCode::SUCCESS)
}
