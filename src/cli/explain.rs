//! `fdbroker explain --policy POLICY [--access RIGHT]... PATH...`.

use std::io;
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use fdbroker::policy::{Access, Policy};

/// Show whether a policy allows access to paths, and the rule that decides.
#[derive(clap::Args)]
#[command(after_help = "\
For each PATH prints `allow` or `deny`, the rights asked, and the deciding
rule as FILE:LINE, or `no rule allows it`. A PATH that exists is judged as
the broker would judge it: by its canonical path, with symbolic links
resolved (shown as `(resolves to X)`); a PATH that does not exist is judged
by its resolved parent directory plus its name.

Exit status: 0 when every PATH is allowed, 1 when any is denied, 2 on errors
(unreadable or invalid policy, relative PATH, unknown right).")]
pub struct Args {
    /// The policy file.
    #[arg(long, short = 'p', value_name = "POLICY")]
    pub policy: PathBuf,
    /// A right to ask for: read, write, create, exec or stat. Repeat it, or
    /// separate rights with commas, to ask for several at once [default: read].
    #[arg(long, short = 'a', value_name = "RIGHT", value_delimiter = ',', value_parser = parse_right)]
    pub access: Vec<Access>,
    /// Absolute paths to judge.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

fn parse_right(name: &str) -> Result<Access, String> {
    Access::from_right_name(name).ok_or_else(|| {
        format!("unknown right `{name}`; expected one of: read, write, create, exec, stat")
    })
}

/// Judges every path; the status is 1 if any is denied.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if let Some(rel) = args.paths.iter().find(|p| !p.is_absolute()) {
        bail!("{}: a path to explain must be absolute", rel.display());
    }
    let policy = Policy::from_file(&args.policy)?;
    let access = args.access.iter().fold(Access::empty(), |acc, &a| acc | a);
    let access = if access.is_empty() {
        Access::READ
    } else {
        access
    };

    let mut all_allowed = true;
    for path in &args.paths {
        let judged =
            judged_path(path).with_context(|| format!("{}: cannot resolve", path.display()))?;
        let decision = policy.decide(&judged.path, access);
        all_allowed &= decision.allowed;
        let mut notes = String::new();
        if judged.path != *path {
            notes.push_str(&format!(" (resolves to {})", judged.path.display()));
        }
        if !judged.exists {
            notes.push_str(" (does not exist)");
        }
        println!(
            "{} {}{} [{}]: {}",
            if decision.allowed { "allow" } else { "deny " },
            path.display(),
            notes,
            access,
            decision.reason()
        );
    }
    Ok(if all_allowed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

struct Judged {
    path: PathBuf,
    exists: bool,
}

/// The path the broker would judge for `path`: the canonical path when it
/// exists; for a missing file in an existing directory, the directory's
/// canonical path plus the name (what creating it would judge); else the
/// path as given.
fn judged_path(path: &Path) -> io::Result<Judged> {
    match std::fs::canonicalize(path) {
        Ok(c) => {
            return Ok(Judged {
                path: proc_self(c),
                exists: true,
            });
        }
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    let last_is_name = matches!(path.components().next_back(), Some(Component::Normal(_)));
    if let (true, Some(parent), Some(name)) = (last_is_name, path.parent(), path.file_name()) {
        match std::fs::canonicalize(parent) {
            Ok(dir) => {
                return Ok(Judged {
                    path: proc_self(dir.join(name)),
                    exists: false,
                });
            }
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            Err(_) => {}
        }
    }
    Ok(Judged {
        path: path.to_path_buf(),
        exists: false,
    })
}

/// Writes our own `/proc/<pid>` as `/proc/self`, as the broker does for the
/// requesting process.
fn proc_self(path: PathBuf) -> PathBuf {
    let own = Path::new("/proc").join(std::process::id().to_string());
    match path.strip_prefix(&own) {
        Ok(rest) if rest.as_os_str().is_empty() => PathBuf::from("/proc/self"),
        Ok(rest) => Path::new("/proc/self").join(rest),
        Err(_) => path,
    }
}
