//! `fdbroker check --strict`: rules that allow more than they look like
//! they do, or nothing at all.
//!
//! Only rules of policy files are examined (the built-in profiles are
//! vetted once, in `policies/profiles/`), but every rule, profiles
//! included, counts as the other side of a check: a deny rule anywhere
//! shadows, an `exec` grant anywhere makes a writable tree dangerous.
//!
//! Looks at the file system (what exists, what is a symbolic link), so the
//! answer is about this machine.

use std::fmt;
use std::io::ErrorKind;
use std::path::Path;

use globset::{GlobSet, GlobSetBuilder};

use super::glob::{Pattern, literal_prefix};
use super::{Access, Policy, Rule, RuleKind, RuleRef};
use crate::procfs::ViaSelf;

/// What a [`Warning`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WarningKind {
    /// `/**`, or a pattern starting with `/**/`: the whole system.
    Everything,
    /// `write`/`create` where the policy also lets programs be executed.
    ExecWrite,
    /// Every path the rule allows is denied by deny rules.
    Shadowed,
    /// The pattern cannot match anything on this machine.
    MatchesNothing,
    /// A `/proc` pattern reaching other processes than `/proc/self`.
    OtherProcesses,
    /// `write`/`create` under `/etc` or `/usr`.
    SystemWrite,
}

/// One finding, located at the rule's `[[allow]]` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// What kind of finding.
    pub kind: WarningKind,
    /// The rule.
    pub rule: RuleRef,
    /// The pattern concerned, as written (`None` when it is the whole rule).
    pub pattern: Option<String>,
    /// The explanation.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: warning: {}", self.rule, self.message)
    }
}

/// The findings for `policy`, in rule order.
///
/// ```
/// use std::path::Path;
/// use fdbroker::policy::{Policy, WarningKind, lint};
///
/// let p = Policy::parse(
///     "version = 1\n[[allow]]\npaths = [\"/**\"]\naccess = [\"read\"]\n",
///     Path::new("wide.toml"),
/// )?;
/// let w = lint(&p);
/// assert_eq!(w[0].kind, WarningKind::Everything);
/// assert!(w[0].to_string().starts_with("wide.toml:2: warning: "));
/// # Ok::<(), fdbroker::policy::PolicyError>(())
/// ```
pub fn lint(policy: &Policy) -> Vec<Warning> {
    let rules: Vec<&Rule> = policy.rules().collect();
    let mut out = Vec::new();
    for rule in rules.iter().filter(|r| !is_profile(r)) {
        if rule.kind() != RuleKind::Allow {
            continue;
        }
        let warn = |out: &mut Vec<Warning>, kind, pattern: Option<&str>, message: String| {
            out.push(Warning {
                kind,
                rule: rule.origin().clone(),
                pattern: pattern.map(str::to_string),
                message,
            });
        };
        let access = rule.access();
        let writes = access.intersects(Access::WRITE | Access::CREATE | Access::REMOVE);
        for (i, p) in rule.patterns().iter().enumerate() {
            // Messages show the pattern as written (`${TMPDIR}/...`).
            let shown = rule.written(i).unwrap_or(p);
            let (prefix, exact) = literal_prefix(p);
            if p == "/**" || p.starts_with("/**/") {
                warn(
                    &mut out,
                    WarningKind::Everything,
                    Some(shown),
                    format!(
                        "`{shown}` grants {access} on {} of the whole system",
                        if p == "/**" {
                            "every path"
                        } else {
                            "matching names in every directory"
                        }
                    ),
                );
            }
            if writes && (prefix.starts_with("/etc") || prefix.starts_with("/usr")) {
                warn(
                    &mut out,
                    WarningKind::SystemWrite,
                    Some(shown),
                    format!(
                        "`{shown}` grants {} under {}: system configuration and programs",
                        access & (Access::WRITE | Access::CREATE | Access::REMOVE),
                        if prefix.starts_with("/etc") {
                            "/etc"
                        } else {
                            "/usr"
                        }
                    ),
                );
            }
            if p.starts_with("/proc/") && other_process_match(p) {
                warn(
                    &mut out,
                    WarningKind::OtherProcesses,
                    Some(shown),
                    format!(
                        "`{shown}` reaches other processes' /proc entries (environment, memory maps, \
                         command lines), fdbroker's too; a process's own entry is /proc/self"
                    ),
                );
            }
            // A variable's value depends on the run: `${TMPDIR}/x` of a
            // private directory is expected to match nothing here.
            if !rule.uses_variable(i)
                && let Some(why) = matches_nothing(p, &prefix, exact, access)
            {
                warn(&mut out, WarningKind::MatchesNothing, Some(shown), why);
            }
            if writes {
                for (x, xrule) in exec_overlaps(policy, &rules, p, &prefix, exact) {
                    warn(
                        &mut out,
                        WarningKind::ExecWrite,
                        Some(shown),
                        format!(
                            "`{shown}` grants {} where `{x}` ({xrule}) lets programs be executed: \
                             the program could write a file and run it",
                            access & (Access::WRITE | Access::CREATE | Access::REMOVE)
                        ),
                    );
                }
            }
        }
        if let Some(msg) = shadowed(rule, &rules) {
            warn(&mut out, WarningKind::Shadowed, None, msg);
        }
    }
    out
}

fn is_profile(r: &Rule) -> bool {
    r.origin().file.to_string_lossy().starts_with("<profile:")
}

fn compile(pattern: &str) -> Option<GlobSet> {
    let mut b = GlobSetBuilder::new();
    for g in Pattern::parse(pattern).ok()?.globs().ok()? {
        b.add(g);
    }
    b.build().ok()
}

fn matches(pattern: &str, path: &Path) -> bool {
    compile(pattern).is_some_and(|set| set.is_match(path))
}

/// Whether a `/proc` pattern matches entries of some other process.
fn other_process_match(pattern: &str) -> bool {
    let Some(set) = compile(pattern) else {
        return false;
    };
    [
        "/proc/1",
        "/proc/1/environ",
        "/proc/1/mem",
        "/proc/1/maps",
        "/proc/1/cmdline",
        "/proc/1/status",
        "/proc/1/fd",
        "/proc/1/task/1/status",
        "/proc/12345/environ",
    ]
    .iter()
    .any(|p| set.is_match(Path::new(p)))
}

/// Why `pattern` matches nothing on this machine, if it does not.
fn matches_nothing(pattern: &str, prefix: &Path, exact: bool, access: Access) -> Option<String> {
    // The requester's own /proc entry exists whenever there is a requester.
    if ViaSelf::parse(prefix).is_some() {
        return None;
    }
    match std::fs::symlink_metadata(prefix) {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            if exact && access.contains(Access::CREATE) {
                // A file to be created: its directory must exist.
                let parent = prefix.parent()?;
                return match std::fs::canonicalize(parent) {
                    Ok(c) if c == parent => None,
                    Ok(c) => Some(format!(
                        "`{pattern}` can never be created where it is written: {} is really {} \
                         (rules match canonical paths)",
                        parent.display(),
                        c.display()
                    )),
                    Err(_) => Some(format!(
                        "`{pattern}` matches nothing on this machine: {} does not exist",
                        parent.display()
                    )),
                };
            }
            Some(if exact {
                format!("`{pattern}` matches nothing on this machine: it does not exist")
            } else {
                format!(
                    "`{pattern}` matches nothing on this machine: {} does not exist",
                    prefix.display()
                )
            })
        }
        Err(_) => None,
        Ok(meta) => {
            // A symbolic link anywhere above: nothing is ever judged here.
            if let Some(parent) = prefix.parent()
                && let Ok(c) = std::fs::canonicalize(parent)
                && c != parent
            {
                return Some(format!(
                    "`{pattern}` never matches: {} is really {} (a symbolic link; rules match \
                     canonical paths, write the real one)",
                    parent.display(),
                    c.display()
                ));
            }
            if !meta.file_type().is_symlink() {
                return None;
            }
            let target = std::fs::canonicalize(prefix).map_or_else(
                |_| "a missing file".to_string(),
                |c| c.display().to_string(),
            );
            if !exact {
                Some(format!(
                    "`{pattern}` matches nothing beneath {}: it is a symbolic link to {target}, \
                     and paths are judged where they really are",
                    prefix.display()
                ))
            } else if access != Access::STAT {
                // lstat and readlink judge the link itself; everything else follows it.
                Some(format!(
                    "`{pattern}` is a symbolic link to {target}: only `stat` (lstat, readlink) \
                     is judged on the link itself; opening or executing it is judged as {target}"
                ))
            } else {
                None
            }
        }
    }
}

/// The `exec`-granting patterns (and their rules) whose executables a
/// write to `pattern` could replace or add: an executable file it
/// matches, or a directory Landlock lets run everything in (an `exec`
/// glob grants its whole literal directory, docs/run.md) that the written
/// paths lie in or that lies in the written tree.
fn exec_overlaps(
    policy: &Policy,
    rules: &[&Rule],
    pattern: &str,
    prefix: &Path,
    exact: bool,
) -> Vec<(String, RuleRef)> {
    let mut out = Vec::new();
    for r in rules {
        if r.kind() != RuleKind::Allow || !r.access().contains(Access::EXEC) {
            continue;
        }
        for x in r.patterns() {
            let (xprefix, xexact) = literal_prefix(x);
            let hit = if xexact {
                (xprefix == prefix || matches(pattern, &xprefix))
                    && policy.decide(&xprefix, Access::EXEC).allowed
            } else {
                prefix.starts_with(&xprefix) || (!exact && xprefix.starts_with(prefix))
            };
            if hit && !out.iter().any(|(p, _): &(String, RuleRef)| p == x) {
                out.push((x.clone(), r.origin().clone()));
            }
        }
    }
    out
}

/// Whether deny rule pattern `d` matches every path `p` matches.
fn covers(d: &str, p: &str) -> bool {
    if d == p || d == "/**" {
        return true;
    }
    let (pprefix, pexact) = literal_prefix(p);
    if pexact {
        return matches(d, &pprefix);
    }
    // `X/**` with X literal covers every pattern whose literal part is under X.
    if let Some(dir) = d.strip_suffix("/**") {
        let (dprefix, dexact) = literal_prefix(dir);
        return dexact && pprefix.starts_with(dprefix);
    }
    false
}

/// The message when every right `rule` names is taken away on every path
/// it matches.
fn shadowed(rule: &Rule, rules: &[&Rule]) -> Option<String> {
    let named = rule.access();
    let mut deciders: Vec<String> = Vec::new();
    let mut keeps_stat = false;
    for p in rule.patterns() {
        let d = rules.iter().find(|d| {
            d.kind() == RuleKind::Deny
                && d.denied().contains(named)
                && d.patterns().iter().any(|dp| covers(dp, p))
        })?;
        if !d.denied().contains(Access::STAT) && named != Access::STAT {
            keeps_stat = true;
        }
        let at = d.origin().to_string();
        if !deciders.contains(&at) {
            deciders.push(at);
        }
    }
    Some(format!(
        "every path this rule allows is denied by {}: it has no effect{}",
        deciders.join(", "),
        if keeps_stat {
            " (but `stat`, which every right implies)"
        } else {
            ""
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(WarningKind, Option<String>)> {
        let p = Policy::parse(text, Path::new("t.toml")).unwrap();
        lint(&p).into_iter().map(|w| (w.kind, w.pattern)).collect()
    }

    fn allow(paths: &str, access: &str) -> String {
        format!("[[allow]]\npaths = [{paths}]\naccess = [{access}]\n")
    }

    #[test]
    fn clean_policy_has_no_warnings() {
        let text = format!(
            "version = 1\nprofiles = [\"runtime\"]\n{}{}",
            allow("\"/etc/passwd\", \"/usr/share/**\"", "\"read\""),
            allow("\"/tmp/**\"", "\"write\", \"create\"")
        );
        assert_eq!(kinds(&text), vec![]);
    }

    #[test]
    fn everything() {
        let k = kinds(&format!(
            "version = 1\n{}",
            allow("\"/**\", \"/**/id_rsa\"", "\"read\"")
        ));
        assert_eq!(
            k,
            vec![
                (WarningKind::Everything, Some("/**".into())),
                (WarningKind::Everything, Some("/**/id_rsa".into())),
            ]
        );
    }

    #[test]
    fn system_writes() {
        let k = kinds(&format!(
            "version = 1\n{}{}",
            allow("\"/etc/hosts\"", "\"write\""),
            allow("\"/usr/local/share/x/**\"", "\"create\"")
        ));
        assert!(
            k.contains(&(WarningKind::SystemWrite, Some("/etc/hosts".into()))),
            "{k:?}"
        );
        // Removing is changing them too.
        let removes = kinds(&format!(
            "version = 1\n{}",
            allow("\"/etc/cron.d/*\"", "\"remove\"")
        ));
        assert!(
            removes.contains(&(WarningKind::SystemWrite, Some("/etc/cron.d/*".into()))),
            "{removes:?}"
        );
        assert!(
            k.contains(&(
                WarningKind::SystemWrite,
                Some("/usr/local/share/x/**".into())
            )),
            "{k:?}"
        );
    }

    #[test]
    fn proc_wider_than_self() {
        let k = kinds(&format!(
            "version = 1\n{}",
            allow(
                "\"/proc/**\", \"/proc/*/status\", \"/proc/self/**\", \"/proc/cpuinfo\", \"/proc/sys/**\"",
                "\"read\""
            )
        ));
        let procs: Vec<_> = k
            .iter()
            .filter(|(kind, _)| *kind == WarningKind::OtherProcesses)
            .map(|(_, p)| p.clone().unwrap())
            .collect();
        assert_eq!(procs, vec!["/proc/**", "/proc/*/status"]);
    }

    #[test]
    fn matches_nothing_here() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir(root.join("real")).unwrap();
        std::os::unix::fs::symlink(root.join("real"), root.join("link")).unwrap();
        let r = root.display();
        let text = format!(
            "version = 1\n{}{}",
            allow(
                &format!(
                    "\"{r}/gone\", \"{r}/gone/**\", \"{r}/link/x\", \"{r}/link/*\", \"{r}/real\", \"{r}/real/*.txt\""
                ),
                "\"read\""
            ),
            allow(
                &format!("\"{r}/real/new.txt\", \"{r}/nodir/new.txt\""),
                "\"create\""
            )
        );
        let k: Vec<String> = kinds(&text)
            .into_iter()
            .filter(|(k, _)| *k == WarningKind::MatchesNothing)
            .map(|(_, p)| p.unwrap())
            .collect();
        assert_eq!(
            k,
            vec![
                format!("{r}/gone"),
                format!("{r}/gone/**"),
                format!("{r}/link/x"),
                format!("{r}/link/*"),
                format!("{r}/nodir/new.txt"),
            ]
        );
        // Through a variable (a per-run directory): expected, not reported;
        // other findings are, with the pattern as written.
        let vars = crate::policy::PolicyVars::none().tmpdir(root.join("gone"));
        let text = format!(
            "version = 1\n{}{}",
            allow("\"${TMPDIR}/x\", \"${TMPDIR}/*\"", "\"read\""),
            allow("\"${TMPDIR}/y\"", "\"read\", \"exec\", \"write\"")
        );
        let p = Policy::parse_with(&text, Path::new("t.toml"), &vars).unwrap();
        let w: Vec<(WarningKind, Option<String>)> =
            lint(&p).into_iter().map(|w| (w.kind, w.pattern)).collect();
        assert_eq!(
            w,
            vec![(WarningKind::ExecWrite, Some("${TMPDIR}/y".to_string()))]
        );
        // A symbolic link itself: only `stat` is judged on it.
        let text = format!(
            "version = 1\n{}{}",
            allow(&format!("\"{r}/link\""), "\"stat\""),
            allow(&format!("\"{r}/link\""), "\"read\"")
        );
        let p = Policy::parse(&text, Path::new("t.toml")).unwrap();
        let w: Vec<Warning> = lint(&p);
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(
            (w[0].kind, w[0].rule.line),
            (WarningKind::MatchesNothing, 5)
        );
    }

    #[test]
    fn shadowed_rules() {
        let text = format!(
            "version = 1\n{}{}{}[[deny]]\npaths = [\"/srv/a/**\"]\n[[deny]]\npaths = [\"/srv/c/x\"]\naccess = [\"read\"]\n",
            allow("\"/srv/a/b/*.txt\", \"/srv/a/c\"", "\"read\""),
            allow("\"/srv/a/b\", \"/srv/b\"", "\"read\""),
            allow("\"/srv/c/x\"", "\"read\"")
        );
        let p = Policy::parse(&text, Path::new("t.toml")).unwrap();
        let w: Vec<Warning> = lint(&p)
            .into_iter()
            .filter(|w| w.kind == WarningKind::Shadowed)
            .collect();
        assert_eq!(w.len(), 2, "{w:?}");
        assert_eq!(
            w[0].to_string(),
            "t.toml:2: warning: every path this rule allows is denied by t.toml:11: it has no effect"
        );
        assert_eq!(w[1].rule.line, 8);
        assert!(
            w[1].message
                .ends_with("(but `stat`, which every right implies)")
        );
    }

    #[test]
    fn exec_and_write_overlap() {
        let text = format!(
            "version = 1\n{}{}{}{}",
            allow("\"/usr/bin/python3*\"", "\"exec\""),
            allow("\"/srv/tools/run.sh\"", "\"exec\", \"read\""),
            allow("\"/srv/tools/**\"", "\"write\""),
            allow("\"/srv/out/**\"", "\"write\", \"create\"")
        );
        let w: Vec<(WarningKind, Option<String>)> = kinds(&text)
            .into_iter()
            .filter(|(k, _)| *k == WarningKind::ExecWrite)
            .collect();
        assert_eq!(
            w,
            vec![(WarningKind::ExecWrite, Some("/srv/tools/**".into()))]
        );
        // A writable file inside a directory an exec glob grants whole.
        let text = format!(
            "version = 1\n{}{}",
            allow("\"/opt/bin/*\"", "\"exec\""),
            allow("\"/opt/bin/cache.db\"", "\"write\"")
        );
        assert!(kinds(&text).contains(&(WarningKind::ExecWrite, Some("/opt/bin/cache.db".into()))));
        // An exec deny rule takes the danger away for a literal grant.
        let text = format!(
            "version = 1\n{}{}[[deny]]\npaths = [\"/srv/t/x\"]\naccess = [\"exec\"]\n",
            allow("\"/srv/t/x\"", "\"exec\""),
            allow("\"/srv/t/**\"", "\"write\"")
        );
        assert!(
            !kinds(&text)
                .iter()
                .any(|(k, _)| *k == WarningKind::ExecWrite)
        );
    }
}
