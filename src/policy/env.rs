//! The `[env]` table of a policy: which variables of fdbroker's own
//! environment `fdbroker run` passes on to the program (`keep`, names or
//! globs), and which it sets (`set`). The vocabulary is shared with the
//! command line (`--keep-env`, `--setenv`): [`NamePattern`],
//! [`check_env_name`], [`EnvError`].
//!
//! ```toml
//! [env]
//! keep = ["PYTHON*", "LC_ALL"]
//! set  = { TMPDIR = "/srv/work/tmp", MPLBACKEND = "Agg" }
//! ```
//!
//! Names are portable shell names: ASCII letters, digits and `_`, not
//! starting with a digit. A pattern may also hold `*` (any run of
//! characters) and `?` (one character). `FDBROKER_FD` cannot be set: it
//! always names the program's end of the broker's socketpair.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::Location;
use crate::launch::FD_ENV;

/// What is wrong with an environment variable name, pattern or value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// An empty name or pattern.
    #[error("an empty variable name")]
    Empty,
    /// A character no variable name may hold (or a leading digit).
    #[error(
        "`{name}`: not a variable name (character {}): use ASCII letters, digits and `_`, not starting with a digit{}",
        .offset + 1,
        if *.pattern { ", and the wildcards `*` and `?`" } else { "" }
    )]
    BadName {
        /// The name or pattern as given.
        name: String,
        /// The byte offset of the offending character.
        offset: usize,
        /// Whether wildcards were allowed (a `keep` pattern).
        pattern: bool,
    },
    /// `FDBROKER_FD`, which fdbroker always sets itself.
    #[error("`{0}` is set by fdbroker itself (the broker's socket)")]
    Reserved(String),
    /// A value with a NUL byte, which no environment can carry.
    #[error("the value of `{0}` contains a NUL byte")]
    NulInValue(String),
}

/// Checks that `name` may be set: a portable name, and not `FDBROKER_FD`.
///
/// ```
/// use fdbroker::policy::{EnvError, check_env_name};
/// assert!(check_env_name("TMPDIR").is_ok());
/// assert!(matches!(check_env_name("9LIVES"), Err(EnvError::BadName { offset: 0, .. })));
/// assert!(matches!(check_env_name("FDBROKER_FD"), Err(EnvError::Reserved(_))));
/// ```
pub fn check_env_name(name: &str) -> Result<(), EnvError> {
    check_chars(name, false)?;
    if name == FD_ENV {
        return Err(EnvError::Reserved(name.to_string()));
    }
    Ok(())
}

/// Checks the characters of a name, or of a pattern when `pattern`.
fn check_chars(text: &str, pattern: bool) -> Result<(), EnvError> {
    if text.is_empty() {
        return Err(EnvError::Empty);
    }
    let bad = text.bytes().enumerate().find(|&(i, b)| {
        let wild = pattern && (b == b'*' || b == b'?');
        !(b.is_ascii_alphabetic() || b == b'_' || wild || (i > 0 && b.is_ascii_digit()))
    });
    match bad {
        Some((offset, _)) => Err(EnvError::BadName {
            name: text.to_string(),
            offset,
            pattern,
        }),
        None => Ok(()),
    }
}

/// A variable name or a glob of names: `*` matches any run of characters,
/// `?` exactly one.
///
/// ```
/// use fdbroker::policy::NamePattern;
/// let p = NamePattern::parse("LC_*")?;
/// assert!(p.matches(b"LC_ALL") && p.matches(b"LC_") && !p.matches(b"LANG"));
/// assert!(NamePattern::parse("*")?.matches(b"odd.name"));
/// assert!(NamePattern::parse("A-B").is_err());
/// # Ok::<(), fdbroker::policy::EnvError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePattern(String);

impl NamePattern {
    /// Parses a name or glob of names.
    pub fn parse(text: &str) -> Result<NamePattern, EnvError> {
        check_chars(text, true)?;
        Ok(NamePattern(text.to_string()))
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the variable name `name` (any bytes) matches.
    pub fn matches(&self, name: &[u8]) -> bool {
        glob_match(self.0.as_bytes(), name)
    }
}

/// `*` and `?` matching, iterative with one backtrack point (linear enough
/// for names: no pattern has more than a handful of stars).
fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == b'?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == b'*')
}

/// The merged `[env]` tables of a policy, its includes and profiles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvTable {
    keep: Vec<(NamePattern, Location)>,
    set: BTreeMap<String, (String, Location)>,
}

impl EnvTable {
    /// The `keep` patterns, in load order, with where each was written.
    pub fn keep(&self) -> impl Iterator<Item = (&NamePattern, &Location)> {
        self.keep.iter().map(|(p, l)| (p, l))
    }

    /// The variables set, by name, with where each was written. When
    /// several files set one name, the first in load order wins (the file's
    /// own table, then its includes depth first, then profiles).
    pub fn set(&self) -> impl Iterator<Item = (&str, &str, &Location)> {
        self.set
            .iter()
            .map(|(k, (v, l))| (k.as_str(), v.as_str(), l))
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.keep.is_empty() && self.set.is_empty()
    }
}

/// `[env]` as written in one file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEnv {
    #[serde(default)]
    keep: Vec<Spanned<String>>,
    #[serde(default)]
    set: BTreeMap<Spanned<String>, Spanned<String>>,
}

/// Adds one file's `[env]` to `table`; `at` locates a byte offset of the file.
pub(super) fn merge(
    table: &mut EnvTable,
    raw: &RawEnv,
    at: &dyn Fn(usize) -> Location,
) -> Result<(), super::PolicyError> {
    let located = |span: std::ops::Range<usize>, source| super::PolicyError::Env {
        at: at(span.start),
        source,
    };
    for pattern in &raw.keep {
        let p = NamePattern::parse(pattern.get_ref()).map_err(|e| located(pattern.span(), e))?;
        table.keep.push((p, at(pattern.span().start)));
    }
    for (name, value) in &raw.set {
        check_env_name(name.get_ref()).map_err(|e| located(name.span(), e))?;
        if value.get_ref().contains('\0') {
            return Err(located(
                value.span(),
                EnvError::NulInValue(name.get_ref().clone()),
            ));
        }
        table
            .set
            .entry(name.get_ref().clone())
            .or_insert_with(|| (value.get_ref().clone(), at(name.span().start)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_patterns() {
        for ok in ["A", "_", "a_1", "LC_ALL", "PYTHONPATH"] {
            assert_eq!(check_env_name(ok), Ok(()), "{ok}");
        }
        assert_eq!(check_env_name(""), Err(EnvError::Empty));
        for (bad, offset) in [
            ("1A", 0),
            ("A-B", 1),
            ("A=B", 1),
            ("A B", 1),
            ("É", 0),
            ("A*", 1),
        ] {
            match check_env_name(bad) {
                Err(EnvError::BadName { offset: o, .. }) => assert_eq!(o, offset, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert!(NamePattern::parse("A*").is_ok());
        assert!(NamePattern::parse("*").is_ok());
        assert!(NamePattern::parse("?1").is_ok());
        assert!(NamePattern::parse("A=*").is_err());
        assert!(NamePattern::parse("").is_err());
        let e = check_env_name("A-B").unwrap_err().to_string();
        assert_eq!(
            e,
            "`A-B`: not a variable name (character 2): use ASCII letters, digits and `_`, not starting with a digit"
        );
    }

    #[test]
    fn globs_match_names() {
        let m = |p: &str, n: &str| NamePattern::parse(p).unwrap().matches(n.as_bytes());
        assert!(m("PATH", "PATH"));
        assert!(!m("PATH", "PATHS") && !m("PATH", "PAT"));
        assert!(m("LC_*", "LC_ALL") && m("LC_*", "LC_"));
        assert!(!m("LC_*", "XLC_ALL"));
        assert!(m("*_KEY", "AWS_SECRET_KEY") && !m("*_KEY", "AWS_SECRET_KEYS"));
        assert!(m("A*B*C", "AxxBxxBxC") && !m("A*B*C", "AxxBxx"));
        assert!(m("?", "X") && !m("?", "") && !m("?", "XY"));
        assert!(m("**", "") && m("*", "anything.at-all"));
        assert!(glob_match(b"A*", b"A\xff"));
    }
}
