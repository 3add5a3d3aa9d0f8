//! `fdbroker`: the command-line front end. Each subcommand lives in
//! `src/cli/<name>.rs` with its `Args` and `run`; add one there and one
//! variant to [`Command`].
#![deny(unsafe_code)]

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

mod cli;

/// A privilege-separation sandbox helper: a broker opens files for a
/// sandboxed child, as a policy allows.
#[derive(Parser)]
#[command(name = "fdbroker", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate policy files and report located errors.
    Check(cli::check::Args),
    /// Show whether a policy allows access to paths, and the deciding rule.
    Explain(cli::explain::Args),
    /// Run a program confined, brokering every path it touches.
    Run(Box<cli::run::Args>),
    /// List the built-in profiles, or print one.
    Profiles(cli::profiles::Args),
    /// Print a shell completion script (bash, zsh, fish, ...).
    Completions(cli::completions::Args),
    /// Print or write the manual pages, generated from these definitions.
    Man(cli::man::Args),
}

fn main() -> ExitCode {
    // clap prints usage errors itself and exits with status 2.
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => cli::check::run(&args),
        Command::Explain(args) => cli::explain::run(&args),
        Command::Run(args) => cli::run::run(&args),
        Command::Profiles(args) => cli::profiles::run(&args),
        Command::Completions(args) => cli::completions::run(&args, Cli::command()),
        Command::Man(args) => cli::man::run(&args, Cli::command()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fdbroker: error: {e:#}");
            ExitCode::from(cli::EXIT_ERROR)
        }
    }
}
