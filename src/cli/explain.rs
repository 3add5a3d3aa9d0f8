//! `fdbroker explain [--policy POLICY] [--profile NAME]... [--read PATH]...
//! [--write PATH]... [--access RIGHT]... PATH...`, and
//! `fdbroker explain --audit-log FILE [--format text|json]`.

use std::io;
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use fdbroker::learn::{AuditSummary, DeniedGroup, Learned, PolicyWriter};
use fdbroker::policy::{Access, Policy, Sources};
use fdbroker::procfs;
use serde_json::{Value, json};

use super::grants::GrantArgs;

/// Show whether a policy allows access to paths, and the rule that decides.
#[derive(clap::Args)]
#[command(after_help = "\
For each PATH prints `allow` or `deny`, the rights asked, and the deciding
rule as FILE:LINE, or `no rule allows it`. A PATH that exists is judged as
the broker would judge it: by its canonical path, with symbolic links
resolved (shown as `(resolves to X)`); a PATH that does not exist is judged
by its resolved parent directory plus its name. --profile, --read and
--write add to the policy as they do for `fdbroker run` (a grant's rule
shows as `--write PATH`); at least one of them or --policy is needed.

With --audit-log FILE (a log written by `fdbroker run --audit-log`; `-`
reads standard input) it summarises the log instead: how many decisions
allowed and denied, the denials grouped by path and rights with counts and
the deciding rule, and [[allow]] rules that would allow what no rule
allowed (many siblings become one glob, as in learn mode). Lines that are
not audit records are reported on stderr with their line numbers, counted
and skipped. --format json prints the same summary as one JSON object
(docs/learn.md, \"The JSON summary\").

Exit status: 0 when every PATH is allowed, 1 when any is denied, 2 on errors
(unreadable or invalid policy, relative PATH, unknown right). With
--audit-log: 0 when the log holds no denial, 1 when it does, 2 when it
cannot be read.")]
pub struct Args {
    /// The policy file.
    #[arg(
        long,
        short = 'p',
        value_name = "POLICY",
        required_unless_present_any = ["audit_log", "profile", "read", "write"]
    )]
    pub policy: Option<PathBuf>,
    /// `--profile`, `--read` and `--write`, as for `fdbroker run`.
    #[command(flatten)]
    pub grants: GrantArgs,
    /// Summarise this audit log instead of judging paths.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["policy", "profile", "read", "write", "paths", "access"]
    )]
    pub audit_log: Option<PathBuf>,
    /// A right to ask for: read, write, create, exec or stat. Repeat it, or
    /// separate rights with commas, to ask for several at once [default: read].
    #[arg(long, short = 'a', value_name = "RIGHT", value_delimiter = ',', value_parser = parse_right)]
    pub access: Vec<Access>,
    /// Absolute paths to judge.
    #[arg(required_unless_present = "audit_log", value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// With --audit-log: the summary's format [default: text].
    #[arg(long, value_enum, requires = "audit_log", conflicts_with_all = ["policy", "paths", "access"])]
    pub format: Option<Format>,
}

/// How `explain --audit-log` prints its summary.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Lines for people.
    Text,
    /// One JSON object (version 1; see docs/learn.md).
    Json,
}

fn parse_right(name: &str) -> Result<Access, String> {
    Access::from_right_name(name).ok_or_else(|| {
        format!("unknown right `{name}`; expected one of: read, write, create, remove, exec, stat")
    })
}

/// Judges every path; the status is 1 if any is denied.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if let Some(log) = &args.audit_log {
        return summarise(log, args.format.unwrap_or(Format::Text));
    }
    if let Some(rel) = args.paths.iter().find(|p| !p.is_absolute()) {
        bail!("{}: a path to explain must be absolute", rel.display());
    }
    let policy = compose(args)?;
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

/// The policy of `--policy`, `--profile`, `--read` and `--write`, as
/// `fdbroker run` composes it (without a run's temporary directory).
fn compose(args: &Args) -> anyhow::Result<Policy> {
    let mut sources = Sources::new();
    if let Some(file) = &args.policy {
        sources = sources.file(file);
    }
    let sources = args.grants.add_to(sources).map_err(anyhow::Error::msg)?;
    if sources.is_empty() {
        bail!("give --policy POLICY, --profile NAME, --read PATH or --write PATH");
    }
    Ok(Policy::compose(&sources)?)
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

/// Writes our own `/proc/<pid>` and `/proc/<pid>/task/<tid>` as
/// `/proc/self`, as the broker does for the requesting process.
fn proc_self(path: PathBuf) -> PathBuf {
    procfs::to_self(path, Some(std::process::id()))
}

/// `explain --audit-log FILE`: the summary on stdout, malformed lines on
/// stderr; the status is 1 when the log holds denials.
fn summarise(log: &Path, format: Format) -> anyhow::Result<ExitCode> {
    let summary = if log.as_os_str() == "-" {
        AuditSummary::read(io::stdin().lock())
    } else {
        std::fs::File::open(log).and_then(|f| AuditSummary::read(io::BufReader::new(f)))
    }
    .with_context(|| format!("{}: cannot read audit log", log.display()))?;
    let name = log.display();
    for m in &summary.malformed {
        eprintln!("{name}:{}: malformed line skipped: {}", m.line, m.reason);
    }
    let hidden = summary.malformed_count - summary.malformed.len() as u64;
    if hidden > 0 {
        eprintln!("{name}: {hidden} more malformed lines skipped");
    }
    let status = if summary.denials.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    };
    if format == Format::Json {
        println!("{}", summary_json(&log.to_string_lossy(), &summary));
        return Ok(status);
    }
    let plural = |n: u64, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let mut head = format!(
        "{name}: {}: {} allowed, {} denied",
        plural(summary.allowed + summary.denied, "decision"),
        summary.allowed,
        summary.denied
    );
    if summary.malformed_count > 0 {
        head.push_str(&format!(
            "; {} skipped",
            plural(summary.malformed_count, "malformed line")
        ));
    }
    println!("{head}");
    for (limit, n) in &summary.limits {
        println!(
            "{name}: stopped by the {limit} limit {}",
            plural(*n, "time")
        );
    }
    if summary.denials.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    println!("\ndenied (requests, path [rights]: why):");
    for ((path, access), g) in by_count(&summary) {
        let why = match &g.rule {
            Some(r) => format!("denied by {r}"),
            None => "no rule allows it".to_string(),
        };
        println!("{:>8}  {} [{access}]: {why}", g.count, clean(path));
    }
    let suggested = summary.suggested();
    if suggested.rules.is_empty() {
        println!(
            "\nno rule to suggest: every denial was decided by a deny rule (or had no absolute path)"
        );
    } else {
        println!(
            "\nsuggested rules for what no rule allowed (review them; deny rules are never overridden):"
        );
        print!("{}", PolicyWriter::new().render_rules(&suggested));
    }
    Ok(status)
}

/// The denial groups, most requests first, then by path and rights.
fn by_count(summary: &AuditSummary) -> Vec<(&(String, String), &DeniedGroup)> {
    let mut groups: Vec<_> = summary.denials.iter().collect();
    groups.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(b.0)));
    groups
}

/// The summary as one JSON object, version 1. The keys and their meaning
/// are documented in docs/learn.md; add keys, never change or remove them.
fn summary_json(log: &str, summary: &AuditSummary) -> Value {
    let denials: Vec<_> = by_count(summary)
        .into_iter()
        .map(|((path, access), g)| {
            json!({
                "path": path,
                "access": access,
                "count": g.count,
                "rule": g.rule,
                "ops": g.ops,
                "first_line": g.first_line,
            })
        })
        .collect();
    let malformed: Vec<_> = summary
        .malformed
        .iter()
        .map(|m| json!({ "line": m.line, "reason": m.reason }))
        .collect();
    json!({
        "version": 1,
        "log": log,
        "decisions": summary.allowed + summary.denied,
        "allowed": summary.allowed,
        "denied": summary.denied,
        "malformed": summary.malformed_count,
        "malformed_lines": malformed,
        "denials": denials,
        "suggested": suggested_json(&summary.suggested()),
    })
}

/// Suggested rules as `{"paths": [..], "access": [..], "comment": ..}`, the
/// shape of a policy's `[[allow]]` entry.
fn suggested_json(learned: &Learned) -> Vec<Value> {
    learned
        .rules
        .iter()
        .map(|r| {
            let access: Vec<_> = Access::NAMES
                .iter()
                .filter(|(_, a)| r.access.contains(*a))
                .map(|(n, _)| *n)
                .collect();
            json!({ "paths": [r.pattern], "access": access, "comment": r.comment })
        })
        .collect()
}

/// `s` with control characters escaped, for one line of output.
fn clean(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}
