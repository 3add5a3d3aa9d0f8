//! Denials that explain themselves: the first time each path and right is
//! denied, one line on fdbroker's standard error (which is the program's
//! too, hence the `fdbroker: ` prefix). What was reported is remembered
//! within [`DENIALS_BUDGET`] bytes.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::Learner;
use super::budget::{Budget, Charge, entry_cost, human};
use super::writer::{clean, toml_string};
use crate::event::Event;
use crate::policy::{Access, Decision, literal_pattern};

/// The most memory the denials already reported may take. Past it, one
/// notice says so and denials not reported yet are no longer reported: a
/// program cannot make fdbroker's memory, nor its standard error, grow
/// without bound. (The audit log keeps recording every decision.)
pub const DENIALS_BUDGET: usize = 1 << 20;

/// Reports each denied `(path, rights)` once. Share it with an `Arc` and
/// call [`Denials::observe`] for every decision.
///
/// ```
/// use std::path::Path;
/// use fdbroker::event::{Event, Op, Source};
/// use fdbroker::learn::Denials;
/// use fdbroker::policy::{Access, Decision};
///
/// let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
/// struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
/// impl std::io::Write for Sink {
///     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { self.0.lock().unwrap().write(b) }
///     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
/// }
/// let denials = Denials::new(Box::new(Sink(out.clone())));
/// let decision = Decision::default_deny();
/// let event = Event {
///     pid: Some(7), source: Source::Seccomp, syscall: Some("openat"), op: Op::Open,
///     path: Path::new("/etc/passwd"), resolved: Some(Path::new("/etc/passwd")),
///     flags: Some(0), mode: None, access: Access::READ, decision: Some(&decision),
///     errno: Some(nix::errno::Errno::EACCES), absent: false,
/// };
/// denials.observe(&event);
/// denials.observe(&event); // once only
/// let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
/// assert_eq!(text.lines().count(), 1);
/// assert!(text.starts_with("fdbroker: denied read of /etc/passwd: no rule allows it"));
/// ```
pub struct Denials {
    seen: Mutex<Seen>,
    out: Mutex<Box<dyn Write + Send>>,
    learner: Option<Arc<Learner>>,
}

/// The denials reported so far, within their budget.
struct Seen {
    set: HashSet<(PathBuf, Access)>,
    budget: Budget,
}

impl std::fmt::Debug for Denials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Denials").finish_non_exhaustive()
    }
}

impl Denials {
    /// Writes lines to `out`.
    pub fn new(out: Box<dyn Write + Send>) -> Denials {
        Denials::with_budget(out, DENIALS_BUDGET)
    }

    /// Writes lines to `out`, remembering at most `budget` bytes of them.
    fn with_budget(out: Box<dyn Write + Send>, budget: usize) -> Denials {
        Denials {
            seen: Mutex::new(Seen {
                set: HashSet::new(),
                budget: Budget::new(budget),
            }),
            out: Mutex::new(out),
            learner: None,
        }
    }

    /// Writes lines to standard error.
    pub fn to_stderr() -> Denials {
        Denials::new(Box::new(std::io::stderr()))
    }

    /// Explain learn mode's refusals with `learner`'s reasons.
    pub fn with_learner(mut self, learner: Arc<Learner>) -> Denials {
        self.learner = Some(learner);
        self
    }

    /// Reports `e` if it is a policy's denial of a path that exists
    /// ([`Event::is_denial`]: `EACCES`, or `ENOENT` for a path the program
    /// may not see; never a probe of a missing path) with rights not
    /// reported before.
    pub fn observe(&self, e: &Event<'_>) {
        let (Some(resolved), Some(decision)) = (e.resolved, e.decision) else {
            return;
        };
        if !e.is_denial() {
            return;
        }
        {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            let key = (resolved.to_path_buf(), e.access);
            if seen.set.contains(&key) {
                return;
            }
            match seen.budget.charge(entry_cost(resolved, 0)) {
                Charge::Taken => {
                    seen.set.insert(key);
                }
                Charge::Full { first } => {
                    let limit = seen.budget.limit();
                    drop(seen);
                    if first {
                        self.write(&format!(
                            "fdbroker: notice: {} of distinct denials reported; further ones are not \
                             (--audit-log records every decision)\n",
                            human(limit)
                        ));
                    }
                    return;
                }
            }
        }
        let refusal = self
            .learner
            .as_ref()
            .filter(|_| is_learn_rule(decision))
            .and_then(|l| l.refusal(resolved, e.access));
        let line = match refusal {
            Some(r) => format!("fdbroker: {}\n", r.message(resolved, e.access)),
            None => {
                let requested = (e.path != resolved).then_some(e.path);
                format!("{}\n", denial_line(resolved, requested, e.access, decision))
            }
        };
        self.write(&line);
    }

    /// Writes one line: lines from concurrent requests never mix.
    fn write(&self, line: &str) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }
}

fn is_learn_rule(d: &Decision) -> bool {
    d.rule
        .as_ref()
        .is_some_and(|r| r.file.as_ref() == Path::new(super::LEARN_RULE_FILE))
}

/// The line reporting a denial of `access` on the canonical `path`
/// (requested as `requested`, when that differs), without a newline:
/// what was denied, why, and the `[[allow]]` entry that would allow it —
/// or, when a deny rule decided, that no allow rule can.
///
/// ```
/// use std::path::Path;
/// use fdbroker::learn::denial_line;
/// use fdbroker::policy::{Access, Decision};
///
/// let line = denial_line(Path::new("/etc/passwd"), None, Access::READ, &Decision::default_deny());
/// assert_eq!(
///     line,
///     "fdbroker: denied read of /etc/passwd: no rule allows it; \
///      to allow it: [[allow]] paths = [\"/etc/passwd\"] access = [\"read\"]"
/// );
/// ```
pub fn denial_line(
    path: &Path,
    requested: Option<&Path>,
    access: Access,
    decision: &Decision,
) -> String {
    let shown = clean(&path.to_string_lossy());
    let asked = requested
        .map(|r| format!(" (asked as {})", clean(&r.to_string_lossy())))
        .unwrap_or_default();
    let mut line = format!(
        "fdbroker: denied {access} of {shown}{asked}: {}",
        decision.reason()
    );
    if decision.rule.is_some() {
        line.push_str(
            "; an [[allow]] rule cannot override a [[deny]] rule: narrow or remove that rule",
        );
    } else if let Some(pattern) = literal_pattern(path) {
        let rights = if access == Access::STAT {
            access
        } else {
            access - Access::STAT
        };
        let names: Vec<String> = Access::NAMES
            .iter()
            .filter(|(_, a)| rights.contains(*a))
            .map(|(n, _)| toml_string(n))
            .collect();
        line.push_str(&format!(
            "; to allow it: [[allow]] paths = [{}] access = [{}]",
            toml_string(&pattern),
            names.join(", ")
        ));
    } else {
        line.push_str("; a policy cannot name this path (not UTF-8)");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Op, Source};
    use crate::learn::testing::Sink;
    use crate::policy::{RuleKind, RuleRef};
    use nix::errno::Errno;

    fn event<'a>(
        path: &'a Path,
        resolved: &'a Path,
        access: Access,
        decision: &'a Decision,
        errno: Option<Errno>,
    ) -> Event<'a> {
        Event {
            pid: Some(1),
            source: Source::Seccomp,
            syscall: Some("openat"),
            op: Op::Open,
            path,
            resolved: Some(resolved),
            flags: Some(0),
            mode: None,
            access,
            decision: Some(decision),
            errno,
            absent: false,
        }
    }

    #[test]
    fn once_per_path_and_right() {
        let sink = Sink::default();
        let d = Denials::new(Box::new(sink.clone()));
        let deny = Decision::default_deny();
        let allow = Decision {
            allowed: true,
            rule: None,
        };
        let a = Path::new("/srv/a");
        let b = Path::new("/srv/b");
        for _ in 0..3 {
            d.observe(&event(a, a, Access::READ, &deny, Some(Errno::EACCES)));
            d.observe(&event(
                Path::new("rel/a"),
                a,
                Access::READ,
                &deny,
                Some(Errno::EACCES),
            ));
        }
        d.observe(&event(a, a, Access::WRITE, &deny, Some(Errno::EACCES)));
        // A hidden path that exists: the program saw ENOENT, still a denial.
        let h = Path::new("/srv/hidden");
        d.observe(&event(h, h, Access::READ, &deny, Some(Errno::ENOENT)));
        // Not denials: allowed, an error the policy let through, or a probe
        // of a path that does not exist, hidden or not.
        d.observe(&event(b, b, Access::READ, &allow, None));
        d.observe(&event(b, b, Access::READ, &allow, Some(Errno::ENOENT)));
        let m = Path::new("/srv/missing");
        for decision in [&deny, &allow] {
            d.observe(&Event {
                absent: true,
                ..event(m, m, Access::READ, decision, Some(Errno::ENOENT))
            });
        }
        let text = sink.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("fdbroker: denied read of /srv/a: no rule allows it"));
        assert!(lines[1].starts_with("fdbroker: denied write of /srv/a: "));
        assert!(lines[1].ends_with("access = [\"write\"]"));
        assert!(lines[2].starts_with("fdbroker: denied read of /srv/hidden: "));
    }

    #[test]
    fn remembered_within_the_budget() {
        let sink = Sink::default();
        let d = Denials::with_budget(Box::new(sink.clone()), 1000);
        let deny = Decision::default_deny();
        let paths: Vec<PathBuf> = (0..20)
            .map(|i| PathBuf::from(format!("/srv/{i:0>300}")))
            .collect();
        for _ in 0..2 {
            for p in &paths {
                d.observe(&event(p, p, Access::READ, &deny, Some(Errno::EACCES)));
            }
        }
        let text = sink.text();
        let lines: Vec<&str> = text.lines().collect();
        // Two fit in 1000 bytes, each reported once; then one notice, and
        // nothing more however many come.
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].contains(&paths[0].display().to_string()));
        assert!(lines[1].contains(&paths[1].display().to_string()));
        assert_eq!(
            lines[2],
            "fdbroker: notice: 1000 bytes of distinct denials reported; further ones are not \
             (--audit-log records every decision)"
        );
    }

    #[test]
    fn deny_rules_and_odd_paths() {
        let rule = Decision {
            allowed: false,
            rule: Some(RuleRef {
                kind: RuleKind::Deny,
                file: Arc::from(Path::new("p.toml")),
                line: 12,
            }),
        };
        let line = denial_line(
            Path::new("/srv/in/private/key"),
            Some(Path::new("private/key")),
            Access::READ | Access::WRITE,
            &rule,
        );
        assert_eq!(
            line,
            "fdbroker: denied read,write of /srv/in/private/key (asked as private/key): \
             denied by p.toml:12; an [[allow]] rule cannot override a [[deny]] rule: narrow or remove that rule"
        );
        let line = denial_line(
            Path::new("/srv/x*\ny"),
            None,
            Access::STAT,
            &Decision::default_deny(),
        );
        assert!(!line.contains('\n'), "{line}");
        assert!(
            line.ends_with("paths = [\"/srv/x\\\\*\\ny\"] access = [\"stat\"]"),
            "{line}"
        );
    }
}
