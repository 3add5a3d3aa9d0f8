//! `fdbroker check [--strict] POLICY...`: validate policy files, and with
//! `--strict` also warn about rules that allow more than they seem to.

use std::path::PathBuf;
use std::process::ExitCode;

use fdbroker::policy::{Policy, lint};

/// Validate policy files, with their includes and profiles.
#[derive(clap::Args)]
#[command(after_help = "\
Prints `OK: FILE (N rules, network: off)` for each valid file (with its
[limits], if any), and each invalid file's error as `FILE:LINE:COLUMN: what is wrong` on stderr. Every
file is checked, even after an error.

--strict also examines each valid file's rules (and its includes', not the
built-in profiles') and prints `FILE:LINE: warning: ...` on stderr for each
rule that allows more than it looks like it does: `/**` or a top-level
`**`; write or create where the policy also lets programs be executed;
write or create under /etc or /usr; a /proc pattern reaching other
processes than /proc/self; a rule entirely shadowed by deny rules; a
pattern that matches nothing on this machine (a missing path, or one under
a symbolic link). Such a file is reported as `WARN: FILE (...)` and counts
as failing. See docs/policy.md.

Exit status: 0 when every file is valid, 1 when any is not, 2 on usage errors.
With --strict, a file with warnings is not valid.")]
pub struct Args {
    /// Also warn about rules that allow more than they look like they do,
    /// and fail (status 1) on any warning.
    #[arg(long)]
    pub strict: bool,
    /// Policy files to check.
    #[arg(required = true, value_name = "POLICY")]
    pub policies: Vec<PathBuf>,
}

/// Checks every file; the status is 1 if any is invalid.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut all_valid = true;
    for path in &args.policies {
        match Policy::from_file(path) {
            Ok(policy) if args.strict => {
                let warnings = lint(&policy);
                for w in &warnings {
                    eprintln!("{w}");
                }
                if warnings.is_empty() {
                    println!("OK: {} ({})", path.display(), summary(&policy));
                } else {
                    let n = warnings.len();
                    println!(
                        "WARN: {} ({}, {n} warning{})",
                        path.display(),
                        summary(&policy),
                        if n == 1 { "" } else { "s" }
                    );
                    all_valid = false;
                }
            }
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

/// `N rules, network: off`, or with `network: on` where it was enabled;
/// then the limits of `[limits]`, if any.
fn summary(policy: &Policy) -> String {
    let n = policy.rules().len();
    let rules = if n == 1 { "rule" } else { "rules" };
    let limits = policy.limits();
    let limits = if limits.is_empty() {
        String::new()
    } else {
        format!(", limits: {limits}")
    };
    let network = if policy.network() {
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
    };
    network + &limits
}
