//! `fdbroker check POLICY...`: validate policy files.

use std::path::PathBuf;
use std::process::ExitCode;

use fdbroker::policy::Policy;

/// Validate policy files, with their includes and profiles.
#[derive(clap::Args)]
#[command(after_help = "\
Prints `OK: FILE (N rules, network: off)` for each valid file, and each
invalid file's error as `FILE:LINE:COLUMN: what is wrong` on stderr. Every
file is checked, even after an error.

Exit status: 0 when every file is valid, 1 when any is not, 2 on usage errors.")]
pub struct Args {
    /// Policy files to check.
    #[arg(required = true, value_name = "POLICY")]
    pub policies: Vec<PathBuf>,
}

/// Checks every file; the status is 1 if any is invalid.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut all_valid = true;
    for path in &args.policies {
        match Policy::from_file(path) {
            Ok(policy) => println!("OK: {} ({})", path.display(), summary(&policy)),
            Err(e) => {
                eprintln!("{e}");
                all_valid = false;
            }
        }
    }
    Ok(if all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `N rules, network: off`, or with `network: on` where it was enabled.
fn summary(policy: &Policy) -> String {
    let n = policy.rules().len();
    let rules = if n == 1 { "rule" } else { "rules" };
    if policy.network() {
        let sources: Vec<String> = policy
            .network_sources()
            .iter()
            .map(|l| l.to_string())
            .collect();
        format!(
            "{n} {rules}, network: on, enabled at {}",
            sources.join(", ")
        )
    } else {
        format!("{n} {rules}, network: off")
    }
}
