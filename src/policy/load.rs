//! Reading policy files: TOML with spans, includes, built-in profiles.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use super::glob::Pattern;
use super::limits::RawLimits;
use super::matcher::MatcherBuilder;
use super::{
    Access, EnvTable, Grant, Location, PolicyError, PolicyVars, Rule, RuleKind, RuleRef, env,
    profiles,
};
use crate::limits::Limits;

/// The largest policy file we read; anything bigger is a mistake.
const MAX_POLICY_BYTES: u64 = 16 << 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    version: Option<Spanned<i64>>,
    #[serde(default)]
    profiles: Vec<Spanned<String>>,
    #[serde(default)]
    include: Vec<Spanned<String>>,
    network: Option<Spanned<bool>>,
    #[serde(default)]
    allow: Vec<Spanned<RawRule>>,
    #[serde(default)]
    deny: Vec<Spanned<RawRule>>,
    limits: Option<RawLimits>,
    env: Option<env::RawEnv>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    paths: Spanned<Vec<Spanned<String>>>,
    access: Option<Spanned<Vec<Spanned<String>>>>,
}

/// What a policy file and everything it pulls in amount to.
#[derive(Default)]
pub(crate) struct Loaded {
    pub(crate) rules: Vec<Rule>,
    /// Every pattern, with the index of its rule in `rules`.
    pub(crate) matcher: MatcherBuilder,
    pub(crate) files: Vec<PathBuf>,
    pub(crate) profiles: Vec<&'static str>,
    pub(crate) network: Vec<Location>,
    /// The stricter of each limit set by any file or profile.
    pub(crate) limits: Limits,
    pub(crate) env: EnvTable,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Source {
    /// A file, by canonical path (so that two spellings are one file).
    File(PathBuf),
    Profile(&'static str),
}

#[derive(Default)]
pub(crate) struct Loader {
    /// The values of `${HOME}`, `${TMPDIR}` and `${CWD}`.
    vars: PolicyVars,
    out: Loaded,
    done: HashSet<Source>,
    /// The chain of files being loaded, for cycle detection and messages.
    stack: Vec<(Source, Arc<Path>)>,
}

/// Reads a policy file: a regular file of at most [`MAX_POLICY_BYTES`].
///
/// `O_NONBLOCK` keeps a FIFO from blocking the open; the type is then
/// checked on the descriptor itself.
pub(crate) fn read_policy_file(path: &Path) -> io::Result<Vec<u8>> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut buf = Vec::new();
    file.take(MAX_POLICY_BYTES + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_POLICY_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {MAX_POLICY_BYTES} bytes"),
        ));
    }
    Ok(buf)
}

/// Decodes a policy file's bytes, locating the first invalid UTF-8 byte.
pub(crate) fn decode(bytes: &[u8], name: &Arc<Path>) -> Result<String, PolicyError> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_string()),
        Err(e) => {
            // The prefix up to `valid_up_to` is valid by definition.
            let valid = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or("");
            Err(PolicyError::Syntax {
                at: Location::at(name, valid, valid.len()),
                message: "not valid UTF-8".to_string(),
            })
        }
    }
}

impl Loader {
    /// A loader expanding pattern variables with `vars`.
    pub(crate) fn new(vars: PolicyVars) -> Loader {
        Loader {
            vars,
            ..Loader::default()
        }
    }

    /// Loads the top-level policy `text`, read from (or named) `origin`.
    pub(crate) fn load_root(mut self, text: &str, origin: &Path) -> Result<Loaded, PolicyError> {
        let key = Source::File(fs::canonicalize(origin).unwrap_or_else(|_| origin.to_path_buf()));
        self.out.files.push(origin.to_path_buf());
        self.load(key, Arc::from(origin), text, Some(parent_dir(origin)))?;
        Ok(self.out)
    }

    /// Loads the policy file at `path` (one of several top-level files),
    /// unless it was loaded already.
    pub(crate) fn load_file(&mut self, path: &Path) -> Result<(), PolicyError> {
        let bytes = read_policy_file(path).map_err(|source| PolicyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let key = Source::File(fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()));
        if self.done.contains(&key) {
            return Ok(());
        }
        let name: Arc<Path> = Arc::from(path);
        let text = decode(&bytes, &name)?;
        self.out.files.push(path.to_path_buf());
        self.load(key, name, &text, Some(parent_dir(path)))
    }

    /// Loads the built-in profile `wanted` (named on the command line),
    /// unless it was loaded already.
    pub(crate) fn load_profile(&mut self, wanted: &str) -> Result<(), PolicyError> {
        let Some(&(name, text)) = profiles::BUILTIN.iter().find(|(n, _)| *n == wanted) else {
            return Err(PolicyError::UnknownProfile {
                name: wanted.to_string(),
                known: profiles::names().join(", "),
            });
        };
        let key = Source::Profile(name);
        if self.done.contains(&key) {
            return Ok(());
        }
        self.out.profiles.push(name);
        let display = PathBuf::from(format!("<profile:{name}>"));
        self.load(key, Arc::from(display.as_path()), text, None)
    }

    /// Adds the rule of a per-run grant.
    pub(crate) fn add_grant(&mut self, grant: &Grant) -> Result<(), PolicyError> {
        let located = || Location {
            file: Arc::from(Path::new(&grant.to_string())),
            line: 0,
            column: 0,
        };
        let index = u32::try_from(self.out.rules.len()).map_err(|_| PolicyError::Syntax {
            at: located(),
            message: "too many rules".to_string(),
        })?;
        let bad = |reason: String| PolicyError::Pattern {
            at: located(),
            pattern: grant.pattern().to_string(),
            reason,
        };
        let pattern = Pattern::parse(grant.pattern()).map_err(|e| bad(e.reason))?;
        self.out
            .matcher
            .add(&pattern, index)
            .map_err(|e| bad(e.to_string()))?;
        self.out.rules.push(Rule {
            origin: RuleRef::grant(grant),
            patterns: vec![grant.pattern().to_string()],
            written: Vec::new(),
            access: grant.access(),
        });
        Ok(())
    }

    /// What was loaded.
    pub(crate) fn finish(self) -> Loaded {
        self.out
    }

    fn load(
        &mut self,
        key: Source,
        name: Arc<Path>,
        text: &str,
        base: Option<&Path>,
    ) -> Result<(), PolicyError> {
        self.done.insert(key.clone());
        self.stack.push((key, Arc::clone(&name)));
        let at = |offset: usize| Location::at(&name, text, offset);

        let raw: RawPolicy = toml::from_str(text).map_err(|e| PolicyError::Syntax {
            at: at(e.span().map_or(0, |s| s.start)),
            message: e.message().to_string(),
        })?;

        match &raw.version {
            None => {
                return Err(PolicyError::Version {
                    at: at(0),
                    message: "missing `version = 1` (the policy format version)".to_string(),
                });
            }
            Some(v) if *v.get_ref() != 1 => {
                return Err(PolicyError::Version {
                    at: at(v.span().start),
                    message: format!(
                        "unsupported policy version {}; this fdbroker reads version 1",
                        v.get_ref()
                    ),
                });
            }
            Some(_) => {}
        }
        if let Some(n) = &raw.network
            && *n.get_ref()
        {
            self.out.network.push(at(n.span().start));
        }
        if let Some(limits) = &raw.limits {
            self.out.limits = self.out.limits.stricter(limits.parse(&at)?);
        }
        if let Some(table) = &raw.env {
            env::merge(&mut self.out.env, table, &at)?;
        }

        // Rules in the order they appear in the file, allow and deny interleaved.
        let mut rules: Vec<(RuleKind, &Spanned<RawRule>)> = raw
            .allow
            .iter()
            .map(|r| (RuleKind::Allow, r))
            .chain(raw.deny.iter().map(|r| (RuleKind::Deny, r)))
            .collect();
        rules.sort_by_key(|(_, r)| r.span().start);
        // Where each line starts: rule headers are located by binary search,
        // so that loading stays linear in the size of the file.
        let line_starts: Vec<usize> = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        for (kind, rule) in rules {
            let line = line_starts.partition_point(|&s| s <= rule.span().start);
            self.add_rule(kind, rule, &name, text, line)?;
        }

        for entry in &raw.include {
            self.include(entry, &at(entry.span().start), base)?;
        }
        for entry in &raw.profiles {
            self.profile(entry, &at(entry.span().start))?;
        }
        self.stack.pop();
        Ok(())
    }

    fn add_rule(
        &mut self,
        kind: RuleKind,
        rule: &Spanned<RawRule>,
        name: &Arc<Path>,
        text: &str,
        line: usize,
    ) -> Result<(), PolicyError> {
        let at = |offset: usize| Location::at(name, text, offset);
        let header = || at(rule.span().start);
        let raw = rule.get_ref();

        let access = match (&raw.access, kind) {
            (None, RuleKind::Allow) => return Err(PolicyError::MissingAccess { at: header() }),
            (None, RuleKind::Deny) => Access::all(),
            (Some(list), _) => {
                if list.get_ref().is_empty() {
                    return Err(PolicyError::EmptyList {
                        at: at(list.span().start),
                        key: "access",
                    });
                }
                let mut access = Access::empty();
                for right in list.get_ref() {
                    access |= Access::from_right_name(right.get_ref()).ok_or_else(|| {
                        PolicyError::UnknownRight {
                            at: at(right.span().start),
                            name: right.get_ref().clone(),
                        }
                    })?;
                }
                access
            }
        };

        if raw.paths.get_ref().is_empty() {
            return Err(PolicyError::EmptyList {
                at: at(raw.paths.span().start),
                key: "paths",
            });
        }
        let index = u32::try_from(self.out.rules.len()).map_err(|_| PolicyError::Syntax {
            at: header(),
            message: "too many rules".to_string(),
        })?;
        let mut patterns = Vec::with_capacity(raw.paths.get_ref().len());
        let mut written = Vec::new();
        for p in raw.paths.get_ref() {
            let span = p.span();
            let value = p.get_ref();
            let located = |offset: usize| {
                // Point at the offending character when the string is written
                // without escapes (its source text is its value); else at the string.
                let source = text.get(span.start + 1..span.end.saturating_sub(1));
                if source == Some(value.as_str()) {
                    at(span.start + 1 + offset)
                } else {
                    at(span.start)
                }
            };
            let bad = |e: super::glob::PatternError| PolicyError::Pattern {
                at: located(e.offset),
                pattern: value.clone(),
                reason: e.reason,
            };
            let expanded = self.vars.expand(value).map_err(bad)?;
            let pattern = Pattern::parse(&expanded.text).map_err(|mut e| {
                e.offset = expanded.written_offset(e.offset);
                bad(e)
            })?;
            self.out
                .matcher
                .add(&pattern, index)
                .map_err(|e| PolicyError::Pattern {
                    at: located(0),
                    pattern: value.clone(),
                    reason: e.to_string(),
                })?;
            if expanded.has_variable() {
                written.push((patterns.len(), value.clone()));
            }
            patterns.push(expanded.text.into_owned());
        }
        self.out.rules.push(Rule {
            origin: RuleRef {
                kind,
                file: Arc::clone(name),
                line: u32::try_from(line).unwrap_or(u32::MAX),
            },
            patterns,
            written,
            access,
        });
        Ok(())
    }

    fn include(
        &mut self,
        entry: &Spanned<String>,
        at: &Location,
        base: Option<&Path>,
    ) -> Result<(), PolicyError> {
        let Some(base) = base else {
            return Err(PolicyError::Profile {
                at: at.clone(),
                message: "a built-in profile cannot include files".to_string(),
            });
        };
        let rel = entry.get_ref();
        let path = base.join(rel);
        let fail = |source: io::Error| PolicyError::Include {
            at: at.clone(),
            path: path.clone(),
            source,
        };
        if rel.is_empty() {
            return Err(fail(io::Error::new(
                io::ErrorKind::InvalidInput,
                "empty file name",
            )));
        }
        let key = Source::File(fs::canonicalize(&path).map_err(fail)?);
        self.check_cycle(&key, &path, at)?;
        if self.done.contains(&key) {
            // Already loaded through another include: its rules are in.
            return Ok(());
        }
        let name: Arc<Path> = Arc::from(path.as_path());
        let text = decode(&read_policy_file(&path).map_err(fail)?, &name)?;
        self.out.files.push(path.clone());
        self.load(key, name, &text, Some(parent_dir(&path)))
    }

    fn profile(&mut self, entry: &Spanned<String>, at: &Location) -> Result<(), PolicyError> {
        let wanted = entry.get_ref();
        let Some(&(name, text)) = profiles::BUILTIN.iter().find(|(n, _)| n == wanted) else {
            return Err(PolicyError::Profile {
                at: at.clone(),
                message: format!(
                    "unknown profile `{wanted}`; built-in profiles: {}",
                    profiles::names().join(", ")
                ),
            });
        };
        let key = Source::Profile(name);
        let display = PathBuf::from(format!("<profile:{name}>"));
        self.check_cycle(&key, &display, at)?;
        if self.done.contains(&key) {
            return Ok(());
        }
        self.out.profiles.push(name);
        self.load(key, Arc::from(display.as_path()), text, None)
    }

    fn check_cycle(&self, key: &Source, shown: &Path, at: &Location) -> Result<(), PolicyError> {
        if let Some(pos) = self.stack.iter().position(|(k, _)| k == key) {
            let mut chain: Vec<String> = self.stack[pos..]
                .iter()
                .map(|(_, n)| n.display().to_string())
                .collect();
            chain.push(shown.display().to_string());
            return Err(PolicyError::IncludeCycle {
                at: at.clone(),
                chain: chain.join(" -> "),
            });
        }
        Ok(())
    }
}

/// The directory includes are relative to: the file's own directory.
fn parent_dir(file: &Path) -> &Path {
    file.parent().unwrap_or(Path::new(""))
}
