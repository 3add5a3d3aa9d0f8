//! What Landlock lets the program execute besides itself and its
//! interpreters: the policy's `exec` grants, as paths (the broker never sees
//! execve(2), so Landlock decides it).

use std::path::{Path, PathBuf};

use super::SandboxError;
use crate::policy::{Access, Policy, RuleKind, literal_prefix};

/// How many entries a glob `exec` grant may be enumerated through, file by
/// file, before giving up.
const ENUMERATE_BUDGET: usize = 20_000;

/// Why the policy's `exec` grants cannot be expressed for Landlock.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExecGrantError {
    /// A deny rule reaches into a directory too large to grant file by file.
    #[error(
        "exec grant `{pattern}`: a deny rule covers part of {}, which has too many \
         entries (over {budget}) to grant file by file; narrow the pattern",
        dir.display()
    )]
    TooManyEntries {
        /// The grant's pattern.
        pattern: String,
        /// The directory it starts with.
        dir: PathBuf,
        /// The most entries enumerated.
        budget: usize,
    },
}

/// Whether `a` and `b` are the same path or one lies beneath the other.
fn overlap(a: &Path, b: &Path) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// The paths Landlock must let the program execute, from the policy's
/// `exec` grants:
///
/// - a literal pattern: its canonical path, when the policy allows `exec`
///   there (deny rules included);
/// - a glob: the literal directory it starts with, when that is canonical
///   (a pattern under a symlinked directory never matches a canonical path,
///   so it grants nothing) — an over-approximation: every file beneath that
///   directory becomes executable, whatever the rest of the pattern says;
/// - but when a deny rule covering `exec` reaches into that directory, the
///   directory is enumerated instead and each regular file the policy allows
///   `exec` on gets its own rule, so deny rules always hold (files created
///   later in it are then not executable). More than 20,000 entries is an
///   error ([`ExecGrantError`]).
pub fn exec_grants(policy: &Policy) -> Result<Vec<PathBuf>, SandboxError> {
    let denies: Vec<PathBuf> = policy
        .rules()
        .filter(|r| {
            r.kind() == RuleKind::Deny
                && (r.access().is_empty() || r.access().contains(Access::EXEC))
        })
        .flat_map(|r| r.patterns().iter().map(|p| literal_prefix(p).0))
        .collect();
    let mut out: Vec<PathBuf> = Vec::new();
    let push = |p: PathBuf, out: &mut Vec<PathBuf>| {
        if !out.contains(&p) {
            out.push(p);
        }
    };
    for rule in policy.rules() {
        if rule.kind() != RuleKind::Allow || !rule.access().contains(Access::EXEC) {
            continue;
        }
        for pattern in rule.patterns() {
            let (prefix, exact) = literal_prefix(pattern);
            let Ok(canonical) = std::fs::canonicalize(&prefix) else {
                continue;
            };
            if exact {
                if canonical.is_file() && policy.decide(&canonical, Access::EXEC).allowed {
                    push(canonical, &mut out);
                }
                continue;
            }
            if canonical != prefix || !canonical.is_dir() {
                continue;
            }
            if denies.iter().any(|d| overlap(d, &canonical)) {
                for file in enumerate_executables(policy, &canonical, pattern)? {
                    push(file, &mut out);
                }
            } else {
                push(canonical, &mut out);
            }
        }
    }
    Ok(out)
}

/// Every regular file beneath `dir` (not following symlinks) the policy
/// allows `exec` on.
fn enumerate_executables(
    policy: &Policy,
    dir: &Path,
    pattern: &str,
) -> Result<Vec<PathBuf>, ExecGrantError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut seen = 0usize;
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > ENUMERATE_BUDGET {
                return Err(ExecGrantError::TooManyEntries {
                    pattern: pattern.to_string(),
                    dir: dir.to_path_buf(),
                    budget: ENUMERATE_BUDGET,
                });
            }
            let Ok(ft) = entry.file_type() else { continue };
            let p = entry.path();
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() && policy.decide(&p, Access::EXEC).allowed {
                out.push(p);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_prefixes() {
        assert_eq!(literal_prefix("/"), (PathBuf::from("/"), true));
        assert_eq!(literal_prefix("/**"), (PathBuf::from("/"), false));
        assert_eq!(literal_prefix("/a/b[0-9]/c"), (PathBuf::from("/a"), false));
        assert_eq!(literal_prefix("/a/?"), (PathBuf::from("/a"), false));
        assert_eq!(
            literal_prefix("/a\\[x]/y"),
            (PathBuf::from("/a[x]/y"), true)
        );
    }

    #[test]
    fn exec_grants_follow_the_policy() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let bin = root.join("bin");
        std::fs::create_dir(&bin).unwrap();
        for f in ["a", "b", "secret"] {
            std::fs::write(bin.join(f), "").unwrap();
        }
        let text = |extra: &str| {
            format!(
                "version = 1\n[[allow]]\npaths = [\"{b}/*\", \"{b}/a\", \"/nonexistent/x\"]\naccess = [\"exec\", \"read\"]\n{extra}",
                b = bin.display()
            )
        };
        let p = Policy::parse(&text(""), Path::new("t.toml")).unwrap();
        assert_eq!(exec_grants(&p).unwrap(), vec![bin.clone(), bin.join("a")]);
        // A deny rule inside the directory: enumerated, and the denied file left out.
        let deny = format!(
            "[[deny]]\npaths = [\"{}/secret\"]\naccess = [\"exec\"]\n",
            bin.display()
        );
        let p = Policy::parse(&text(&deny), Path::new("t.toml")).unwrap();
        let mut got = exec_grants(&p).unwrap();
        got.sort();
        assert_eq!(got, vec![bin.join("a"), bin.join("b")]);
        // A deny of other rights does not matter for exec.
        let deny_read = format!(
            "[[deny]]\npaths = [\"{}/secret\"]\naccess = [\"write\"]\n",
            bin.display()
        );
        let p = Policy::parse(&text(&deny_read), Path::new("t.toml")).unwrap();
        assert_eq!(exec_grants(&p).unwrap(), vec![bin.clone(), bin.join("a")]);
    }

    #[test]
    fn too_large_a_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let bin = std::fs::canonicalize(dir.path()).unwrap();
        for i in 0..=ENUMERATE_BUDGET {
            std::fs::File::create(bin.join(i.to_string())).unwrap();
        }
        let text = format!(
            "version = 1\n[[allow]]\npaths = [\"{b}/*\"]\naccess = [\"exec\"]\n\
             [[deny]]\npaths = [\"{b}/0\"]\naccess = [\"exec\"]\n",
            b = bin.display()
        );
        let p = Policy::parse(&text, Path::new("t.toml")).unwrap();
        let e = exec_grants(&p).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "exec grant `{}/*`: a deny rule covers part of {}, which has too many \
                 entries (over 20000) to grant file by file; narrow the pattern",
                bin.display(),
                bin.display()
            )
        );
        assert_eq!(e.exit_code(), 125);
    }
}
