//! `fdbroker profiles` and `fdbroker profiles show NAME`: the built-in
//! profiles, listed with their one-line descriptions, or one printed whole.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use fdbroker::policy::{builtin_profiles, profile_descriptions};

/// List the built-in profiles, or print one.
#[derive(clap::Args)]
#[command(after_help = "\
A profile grants what a family of programs needs to read on this system;
use it with `fdbroker run --profile NAME` or `profiles = [\"NAME\"]` in a
policy. Without a command, prints each profile's name and description.

Exit status: 0; 2 for an unknown NAME or when standard output cannot be
written.")]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do with the profiles.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Print the policy text of the built-in profile NAME.
    Show {
        /// The profile.
        #[arg(value_name = "NAME")]
        name: String,
    },
}

/// Lists the profiles or prints one.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let text = match &args.command {
        None => list(),
        Some(Command::Show { name }) => {
            let Some((_, text)) = builtin_profiles().find(|(n, _)| n == name) else {
                let known: Vec<&str> = builtin_profiles().map(|(n, _)| n).collect();
                anyhow::bail!(
                    "no built-in profile `{name}`; built-in profiles: {}",
                    known.join(", ")
                );
            };
            text.to_string()
        }
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("writing to standard output")?;
    Ok(ExitCode::SUCCESS)
}

/// `NAME  description` per profile, the descriptions aligned.
fn list() -> String {
    let width = profile_descriptions()
        .map(|(n, _)| n.len())
        .max()
        .unwrap_or(0);
    profile_descriptions()
        .map(|(name, about)| format!("{name:width$}  {about}\n"))
        .collect()
}
