//! The outcome of judging one request, and where it came from.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use super::Access;

/// Whether a rule allows or denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleKind {
    /// An `[[allow]]` rule.
    Allow,
    /// A `[[deny]]` rule.
    Deny,
}

/// Where a rule stands: the policy file and the line of its table header.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RuleRef {
    /// `[[allow]]` or `[[deny]]`.
    pub kind: RuleKind,
    /// The policy file the rule was read from (`<profile:NAME>` for built-in
    /// profiles; `--read PATH` or `--write PATH` for a per-run grant).
    pub file: Arc<Path>,
    /// 1-based line of the rule's `[[allow]]`/`[[deny]]` header; 0 for a
    /// rule of no file (a grant, learn mode's, `--no-tty`'s).
    pub line: u32,
}

impl RuleRef {
    /// Whether the rule is one of a built-in profile's (its file is
    /// `<profile:NAME>` for a profile compiled into fdbroker). What only a
    /// built-in profile grants, the broker opens with the program's own
    /// credentials (see [`crate::ops::ProgramIds`]).
    ///
    /// ```
    /// use std::path::Path;
    /// use fdbroker::policy::{Access, Policy};
    /// let p = Policy::parse("version = 1\nprofiles = [\"runtime\"]\n", Path::new("p.toml"))?;
    /// let d = p.decide(Path::new("/etc/ld.so.cache"), Access::READ);
    /// assert!(d.rule.is_some_and(|r| r.is_builtin_profile()));
    /// # Ok::<(), fdbroker::policy::PolicyError>(())
    /// ```
    pub fn is_builtin_profile(&self) -> bool {
        let file = self.file.as_os_str().as_encoded_bytes();
        file.strip_prefix(b"<profile:")
            .and_then(|rest| rest.strip_suffix(b">"))
            .is_some_and(|name| {
                super::profiles::BUILTIN
                    .iter()
                    .any(|(n, _)| n.as_bytes() == name)
            })
    }

    /// The rule of a per-run grant ([`super::Grant`]): named `--read PATH`
    /// or `--write PATH`, with no line.
    pub fn grant(grant: &super::Grant) -> RuleRef {
        RuleRef {
            kind: RuleKind::Allow,
            file: Arc::from(Path::new(&grant.to_string())),
            line: 0,
        }
    }

    /// Whether the rule is a per-run grant's ([`RuleRef::grant`]).
    ///
    /// ```
    /// use std::path::Path;
    /// use fdbroker::policy::{Access, Grant, Policy, Sources};
    /// let p = Policy::compose(&Sources::new().grant(Grant::read(Path::new("/"))?))?;
    /// let d = p.decide(Path::new("/etc/hostname"), Access::READ);
    /// assert!(d.rule.as_ref().is_some_and(|r| r.is_grant()));
    /// assert_eq!(d.reason(), "allowed by --read /");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_grant(&self) -> bool {
        let file = self.file.as_os_str().as_encoded_bytes();
        self.line == 0
            && [super::GrantKind::Read, super::GrantKind::Write]
                .iter()
                .any(|k| {
                    file.strip_prefix(k.option().as_bytes())
                        .is_some_and(|r| r.starts_with(b" /"))
                })
    }
}

impl fmt::Display for RuleRef {
    /// `FILE:LINE`, or the option of a grant (`--write /srv/out`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_grant() {
            return write!(f, "{}", self.file.display());
        }
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// The verdict on one request and the rule that decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// True when every right asked for is granted and no deny rule applies.
    pub allowed: bool,
    /// The deciding rule; `None` when nothing allowed it (the default deny).
    pub rule: Option<RuleRef>,
}

impl Decision {
    /// The default: no rule allows it.
    pub fn default_deny() -> Decision {
        Decision {
            allowed: false,
            rule: None,
        }
    }

    /// A short human-readable reason: `allowed by FILE:LINE`,
    /// `denied by FILE:LINE` or `no rule allows it`.
    pub fn reason(&self) -> String {
        match (&self.rule, self.allowed) {
            (Some(r), true) => format!("allowed by {r}"),
            (Some(r), false) => format!("denied by {r}"),
            (None, _) => "no rule allows it".to_string(),
        }
    }
}

/// Anything that can judge a request: a [`super::Policy`], or a learning
/// recorder that allows everything and writes it down.
///
/// `path` is the canonical absolute path of the object the request would reach,
/// with the requesting process's own `/proc/<pid>` already written as `/proc/self`.
pub trait Judge: Send + Sync {
    /// Decides whether `access` may be exercised on `path`.
    fn decide(&self, path: &Path, access: Access) -> Decision;
}
