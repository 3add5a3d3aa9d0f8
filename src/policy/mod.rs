//! The policy file: what a child may reach, and why.
//!
//! A policy is a TOML file (format: `docs/policy.md`) of `[[allow]]` and
//! `[[deny]]` rules. Each rule names absolute path patterns and rights
//! ([`Access`]). A request is allowed when no deny rule for any of the
//! requested rights matches the path, and the allow rules that match grant
//! every requested right; anything else is denied.
//!
//! ```
//! use std::path::Path;
//! use fdbroker::policy::{Access, Policy};
//!
//! let policy = Policy::parse(
//!     r#"
//! version = 1
//!
//! [[allow]]
//! paths  = ["/srv/in/**"]
//! access = ["read"]
//!
//! [[deny]]
//! paths  = ["/srv/in/private/**"]
//! "#,
//!     Path::new("parser.toml"),
//! )?;
//!
//! let ok = policy.decide(Path::new("/srv/in/a/b.txt"), Access::READ);
//! assert!(ok.allowed);
//! assert_eq!(ok.reason(), "allowed by parser.toml:4");
//!
//! // Deny beats allow.
//! let private = policy.decide(Path::new("/srv/in/private/key"), Access::READ);
//! assert_eq!(private.reason(), "denied by parser.toml:8");
//!
//! // Whatever no rule allows is denied, including rights not granted.
//! let write = policy.decide(Path::new("/srv/in/a/b.txt"), Access::WRITE);
//! assert_eq!(write.reason(), "no rule allows it");
//! # Ok::<(), fdbroker::policy::PolicyError>(())
//! ```
//!
//! Errors carry the place they concern:
//!
//! ```
//! use std::path::Path;
//! use fdbroker::policy::Policy;
//!
//! let err = Policy::parse(
//!     "version = 1\n[[allow]]\npaths = [\"/srv/../etc\"]\naccess = [\"read\"]\n",
//!     Path::new("bad.toml"),
//! )
//! .unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "bad.toml:3:16: bad pattern `/srv/../etc`: \
//!      `.` and `..` components are not allowed: write the normalised path"
//! );
//! ```

mod access;
mod decision;
mod env;
mod error;
mod glob;
mod grant;
mod limits;
mod lint;
mod load;
mod matcher;
mod profiles;
mod sources;
mod vars;

use std::path::{Path, PathBuf};

use std::os::unix::ffi::OsStrExt;

pub use access::Access;
pub use decision::{Decision, Judge, RuleKind, RuleRef};
pub use env::{EnvError, EnvTable, NamePattern, check_env_name};
pub use error::{Location, PolicyError};
pub use glob::{literal_pattern, literal_prefix};
pub use grant::{Grant, GrantError, GrantKind, READ_RIGHTS, WRITE_RIGHTS};
pub use lint::{Warning, WarningKind, lint};
pub use sources::Sources;
pub(crate) use vars::escape_into;
pub use vars::{PolicyVars, VARIABLES};

/// Buffers a decision matches into, kept per thread so that deciding
/// allocates nothing once they have grown.
#[derive(Default)]
struct Scratch {
    hits: Vec<usize>,
    rules: Vec<u32>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

/// One `[[allow]]` or `[[deny]]` rule, as loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    origin: RuleRef,
    /// As matched: variables expanded.
    patterns: Vec<String>,
    /// The patterns written with a variable: index in `patterns`, text.
    written: Vec<(usize, String)>,
    access: Access,
}

impl Rule {
    /// Allow or deny.
    pub fn kind(&self) -> RuleKind {
        self.origin.kind
    }

    /// Where the rule was written.
    pub fn origin(&self) -> &RuleRef {
        &self.origin
    }

    /// The path patterns, as matched: as written, with `${HOME}`,
    /// `${TMPDIR}` and `${CWD}` replaced by their values.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// The path pattern at `index` of [`Rule::patterns`], as written
    /// (`${TMPDIR}/x`); `None` past the end.
    pub fn written(&self, index: usize) -> Option<&str> {
        let own = self.written.iter().find(|(i, _)| *i == index);
        own.map(|(_, w)| w.as_str())
            .or_else(|| self.patterns.get(index).map(String::as_str))
    }

    /// Whether the pattern at `index` of [`Rule::patterns`] begins with a
    /// variable: what it names depends on where the policy is used.
    pub fn uses_variable(&self, index: usize) -> bool {
        self.written.iter().any(|(i, _)| *i == index)
    }

    /// The rights named by the rule, as written: for an allow rule, what it
    /// grants is [`Access::granted`] of this; a deny rule without `access`
    /// has every right.
    pub fn access(&self) -> Access {
        self.access
    }

    /// For a deny rule, the rights it takes away: those named, and every
    /// right when `stat` is named (each right implies `stat`).
    fn denied(&self) -> Access {
        if self.access.contains(Access::STAT) {
            Access::all()
        } else {
            self.access
        }
    }
}

/// A loaded, compiled policy. `Send + Sync`; share it with an `Arc`.
///
/// Deciding costs about the same for 10 rules as for 10,000: exact paths
/// and `/dir/**` patterns are looked up in hash tables, other wildcard
/// patterns are compiled into `globset::GlobSet`s grouped by a literal
/// component, and only the rules that match are then looked at.
#[derive(Debug, Clone)]
pub struct Policy {
    rules: Vec<Rule>,
    matcher: matcher::Matcher,
    network: Vec<Location>,
    files: Vec<PathBuf>,
    profiles: Vec<&'static str>,
    limits: crate::limits::Limits,
    env: EnvTable,
}

impl Policy {
    /// Reads and compiles the policy file at `path`, with its includes and
    /// profiles; pattern variables are fdbroker's own
    /// ([`PolicyVars::from_process`]).
    ///
    /// Includes are resolved relative to the directory of the file naming them.
    ///
    /// # Errors
    ///
    /// [`PolicyError::Read`] when `path` is missing, unreadable, not a regular
    /// file or larger than 16 MiB; otherwise as [`Policy::parse`].
    pub fn from_file(path: &Path) -> Result<Policy, PolicyError> {
        Policy::from_file_with(path, &PolicyVars::from_process())
    }

    /// [`Policy::from_file`] with the pattern variables `vars`.
    ///
    /// # Errors
    ///
    /// As [`Policy::from_file`].
    pub fn from_file_with(path: &Path, vars: &PolicyVars) -> Result<Policy, PolicyError> {
        let bytes = load::read_policy_file(path).map_err(|source| PolicyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let text = load::decode(&bytes, &std::sync::Arc::from(path))?;
        Policy::parse_with(&text, path, vars)
    }

    /// Compiles policy `text`. `origin` names it in messages and rule
    /// references, and its directory is where relative includes are looked
    /// up. Pattern variables are fdbroker's own
    /// ([`PolicyVars::from_process`]): `${HOME}` is an error when fdbroker's
    /// environment has no `HOME`.
    ///
    /// # Errors
    ///
    /// Any [`PolicyError`] with its `file:line:column`: invalid TOML, unknown
    /// keys, wrong types, a missing or unsupported `version`, unknown rights,
    /// empty lists, bad patterns (an unknown, unterminated or unset
    /// variable included), include cycles, unreadable includes, unknown
    /// profiles, bad `[env]` names and values.
    pub fn parse(text: &str, origin: &Path) -> Result<Policy, PolicyError> {
        Policy::parse_with(text, origin, &PolicyVars::from_process())
    }

    /// [`Policy::parse`] with the pattern variables `vars` (those of the
    /// run the policy is for).
    ///
    /// # Errors
    ///
    /// As [`Policy::parse`].
    pub fn parse_with(text: &str, origin: &Path, vars: &PolicyVars) -> Result<Policy, PolicyError> {
        let loaded = load::Loader::new(vars.clone()).load_root(text, origin)?;
        Policy::from_loaded(loaded, origin)
    }

    /// Compiles what was loaded; `origin` names the policy in errors.
    fn from_loaded(loaded: load::Loaded, origin: &Path) -> Result<Policy, PolicyError> {
        let matcher = loaded.matcher.build().map_err(|e| PolicyError::Compile {
            file: std::sync::Arc::from(origin),
            message: e.to_string(),
        })?;
        Ok(Policy {
            rules: loaded.rules,
            matcher,
            network: loaded.network,
            files: loaded.files,
            profiles: loaded.profiles,
            limits: loaded.limits,
            env: loaded.env,
        })
    }

    /// Judges whether `access` may be exercised on `path`.
    ///
    /// `path` must be the canonical path of the object (absolute, normalised,
    /// the requester's own `/proc/<pid>` written as `/proc/self`); any other
    /// path, and a request for no right at all, is denied with no rule.
    ///
    /// Denied when a matching deny rule takes away any requested right (the
    /// first such rule decides; a deny rule naming `stat` takes away all).
    /// Otherwise allowed when the matching allow rules together grant every
    /// requested right; the first of them that grants all of it decides,
    /// else the first that grants part of it — among the policy's own rules
    /// (file and includes) when they grant it all, else among the built-in
    /// profiles' ([`RuleRef::is_builtin_profile`]: what only a profile
    /// grants is opened with the program's credentials).
    #[must_use]
    pub fn decide(&self, path: &Path, access: Access) -> Decision {
        let bytes = path.as_os_str().as_bytes();
        if access.is_empty() || !glob::is_normalised(bytes) {
            return Decision::default_deny();
        }
        SCRATCH.with(|scratch| {
            // A decision made while another is in progress on this thread
            // (cannot happen today) would find the scratch taken: it then
            // uses fresh buffers.
            let mut fresh = Scratch::default();
            let mut guard = scratch.try_borrow_mut();
            let Scratch { hits, rules } = match guard.as_deref_mut() {
                Ok(s) => s,
                Err(_) => &mut fresh,
            };
            rules.clear();
            self.matcher.matching_rules(path, hits, rules);
            rules.sort_unstable();
            rules.dedup();
            self.decide_among(rules, access)
        })
    }

    /// Decides `access` given the numbers of the rules matching the path, in
    /// rule order.
    fn decide_among(&self, matched: &[u32], access: Access) -> Decision {
        // `get` cannot fail: the matcher only knows our rules.
        let matched = || matched.iter().filter_map(|&i| self.rules.get(i as usize));
        if let Some(deny) =
            matched().find(|r| r.kind() == RuleKind::Deny && r.denied().intersects(access))
        {
            return Decision {
                allowed: false,
                rule: Some(deny.origin.clone()),
            };
        }
        let allows = || matched().filter(|r| r.kind() == RuleKind::Allow);
        let granted = |rules: &mut dyn Iterator<Item = &Rule>| {
            rules.fold(Access::empty(), |acc, r| acc | r.access.granted())
        };
        if !granted(&mut allows()).contains(access) {
            return Decision::default_deny();
        }
        // A built-in profile's rule decides whenever the policy's own rules
        // do not grant it all: the broker then opens as the program.
        let own = || allows().filter(|r| !r.origin.is_builtin_profile());
        let deciders =
            |builtin: bool| allows().filter(move |r| r.origin.is_builtin_profile() == builtin);
        let from_profiles = !granted(&mut own()).contains(access);
        let decider = deciders(from_profiles)
            .find(|r| r.access.granted().contains(access))
            .or_else(|| deciders(from_profiles).find(|r| r.access.granted().intersects(access)));
        Decision {
            allowed: true,
            rule: decider.map(|r| r.origin.clone()),
        }
    }

    /// Whether the child may use network sockets other than `AF_UNIX`:
    /// true when the file, any include or any profile says `network = true`.
    pub fn network(&self) -> bool {
        !self.network.is_empty()
    }

    /// Every `network = true` setting that enabled the network, in load order.
    pub fn network_sources(&self) -> &[Location] {
        &self.network
    }

    /// All rules: the file's own in the order written, then each include's
    /// (depth first, in `include` order), then each profile's.
    /// The "first" rule of [`Policy::decide`] is the first in this order.
    pub fn rules(&self) -> std::slice::Iter<'_, Rule> {
        self.rules.iter()
    }

    /// The policy files read: the top-level file (or the `origin` given to
    /// [`Policy::parse`]) first, then every include, each once.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// The built-in profiles used, directly or indirectly, each once.
    pub fn profiles(&self) -> &[&'static str] {
        &self.profiles
    }

    /// The resource limits of the `[limits]` tables: where the file, its
    /// includes and profiles set the same one, the stricter value.
    pub fn limits(&self) -> &crate::limits::Limits {
        &self.limits
    }

    /// The `[env]` tables of the file, its includes and profiles, merged:
    /// what `fdbroker run` passes to the program besides its defaults.
    pub fn env(&self) -> &EnvTable {
        &self.env
    }
}

impl Judge for Policy {
    fn decide(&self, path: &Path, access: Access) -> Decision {
        Policy::decide(self, path, access)
    }
}

/// The built-in profiles a policy can name in `profiles = [...]`: name and
/// TOML text (the files in `policies/profiles/`).
///
/// ```
/// assert!(fdbroker::policy::builtin_profiles().any(|(name, _)| name == "runtime"));
/// ```
pub fn builtin_profiles() -> impl Iterator<Item = (&'static str, &'static str)> {
    profiles::BUILTIN.iter().copied()
}

/// The one-line description of each built-in profile: name and the text
/// after `# NAME:` on the first line of its file.
///
/// ```
/// let (_, about) = fdbroker::policy::profile_descriptions()
///     .find(|(name, _)| *name == "runtime")
///     .unwrap();
/// assert!(!about.is_empty());
/// ```
pub fn profile_descriptions() -> impl Iterator<Item = (&'static str, &'static str)> {
    profiles::BUILTIN
        .iter()
        .map(|&(name, text)| (name, profiles::description(name, text)))
}

#[cfg(test)]
mod tests;
