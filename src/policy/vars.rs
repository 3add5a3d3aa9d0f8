//! The variables of path patterns, `${HOME}`, `${TMPDIR}` and `${CWD}`:
//! their values ([`PolicyVars`]) and their expansion when a policy is loaded.
//!
//! A variable may only begin a pattern (`${TMPDIR}/magick-*`), followed by
//! `/` or by the end of the pattern. Its value must be an absolute,
//! normalised, UTF-8 path; it is inserted literally, its wildcard
//! characters escaped, so `${HOME}` names one directory whatever its name.
//! `\$` writes a literal `$` (so `\${X}` is the text `${X}`).

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use super::glob::{PatternError, is_normalised};

/// The names a pattern may use, as written between `${` and `}`.
pub const VARIABLES: [&str; 3] = ["HOME", "TMPDIR", "CWD"];

/// `TMPDIR` where fdbroker's environment does not set it: what programs
/// use then anyway.
const DEFAULT_TMPDIR: &str = "/tmp";

/// The values of the pattern variables for one load of a policy.
///
/// `fdbroker run` gives the program's `HOME` and `TMPDIR` and the run's
/// working directory; `fdbroker check` and `explain` (and
/// [`crate::policy::Policy::parse`]) use [`PolicyVars::from_process`].
///
/// ```
/// use std::path::Path;
/// use fdbroker::policy::{Access, Policy, PolicyVars};
///
/// let vars = PolicyVars::none().tmpdir("/run/tmp/x*y").home("/home/ann");
/// let p = Policy::parse_with(
///     "version = 1\n[[allow]]\npaths = [\"${TMPDIR}/**\", \"${HOME}/.config/app\"]\naccess = [\"read\"]\n",
///     Path::new("p.toml"),
///     &vars,
/// )?;
/// assert!(p.decide(Path::new("/run/tmp/x*y/a"), Access::READ).allowed);
/// // The value is literal: its `*` matches only itself.
/// assert!(!p.decide(Path::new("/run/tmp/xzy/a"), Access::READ).allowed);
/// assert!(p.decide(Path::new("/home/ann/.config/app"), Access::READ).allowed);
/// # Ok::<(), fdbroker::policy::PolicyError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVars {
    /// In the order of [`VARIABLES`].
    values: [Option<PathBuf>; 3],
    /// Where the values come from, for messages.
    source: Cow<'static, str>,
    /// Whether they are fdbroker's own ([`PolicyVars::from_process`]).
    process: bool,
}

impl Default for PolicyVars {
    fn default() -> Self {
        PolicyVars::none()
    }
}

impl PolicyVars {
    /// No values: a pattern using a variable is an error.
    pub fn none() -> PolicyVars {
        PolicyVars {
            values: [None, None, None],
            source: Cow::Borrowed("no value was given"),
            process: false,
        }
    }

    /// fdbroker's own: `HOME` and `TMPDIR` of its environment (`TMPDIR`
    /// `/tmp` when unset or empty, `HOME` unset when so) and its working
    /// directory.
    pub fn from_process() -> PolicyVars {
        let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        PolicyVars {
            values: [
                env("HOME").map(PathBuf::from),
                Some(env("TMPDIR").map_or_else(|| PathBuf::from(DEFAULT_TMPDIR), PathBuf::from)),
                std::env::current_dir().ok(),
            ],
            source: Cow::Borrowed("fdbroker's environment and working directory"),
            process: true,
        }
    }

    /// With `${HOME}` = `path`.
    pub fn home(self, path: impl Into<PathBuf>) -> PolicyVars {
        self.with(0, path.into())
    }

    /// With `${TMPDIR}` = `path`.
    pub fn tmpdir(self, path: impl Into<PathBuf>) -> PolicyVars {
        self.with(1, path.into())
    }

    /// With `${CWD}` = `path`.
    pub fn cwd(self, path: impl Into<PathBuf>) -> PolicyVars {
        self.with(2, path.into())
    }

    /// Says where the values come from (`"this run"`), in error messages.
    pub fn source(mut self, source: impl Into<Cow<'static, str>>) -> PolicyVars {
        self.source = source.into();
        self.process = false;
        self
    }

    fn with(mut self, index: usize, path: PathBuf) -> PolicyVars {
        if let Some(slot) = self.values.get_mut(index) {
            *slot = Some(path);
        }
        self
    }

    /// The value of variable `name` (`"HOME"`, `"TMPDIR"`, `"CWD"`), if set.
    pub fn get(&self, name: &str) -> Option<&Path> {
        let i = VARIABLES.iter().position(|v| *v == name)?;
        self.values.get(i)?.as_deref()
    }

    /// Every variable that has a value, in the order of [`VARIABLES`].
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Path)> {
        VARIABLES
            .iter()
            .zip(&self.values)
            .filter_map(|(n, v)| Some((*n, v.as_deref()?)))
    }

    /// `text` with its variable replaced by its value.
    pub(crate) fn expand<'t>(&self, text: &'t str) -> Result<Expanded<'t>, PatternError> {
        let Some((name, rest)) = split_variable(text)? else {
            return Ok(Expanded {
                text: Cow::Borrowed(text),
                written: 0,
                inserted: 0,
            });
        };
        let written = text.len() - rest.len();
        let Some(value) = self.get(name) else {
            return Err(PatternError {
                offset: 0,
                reason: format!("`${{{name}}}` has no value: {}", self.unset(name)),
            });
        };
        let bad = |why: &str| PatternError {
            offset: 0,
            reason: format!(
                "`${{{name}}}` is `{}` ({}), {why}",
                value.display(),
                self.source
            ),
        };
        let Some(v) = value.to_str() else {
            return Err(bad("not UTF-8: a pattern cannot name it"));
        };
        if !is_normalised(v.as_bytes()) {
            return Err(bad("not an absolute, normalised path"));
        }
        // `/` followed by `/rest` is `/rest`.
        let v = if v == "/" && !rest.is_empty() { "" } else { v };
        let mut out = String::with_capacity(v.len() + rest.len() + 4);
        escape_into(&mut out, v);
        let inserted = out.len();
        out.push_str(rest);
        Ok(Expanded {
            text: Cow::Owned(out),
            written,
            inserted,
        })
    }

    /// Why `name` has no value, for messages.
    fn unset(&self, name: &str) -> String {
        if self.process {
            match name {
                "CWD" => "fdbroker's working directory cannot be read".to_string(),
                _ => format!("{name} is not set in fdbroker's environment"),
            }
        } else {
            self.source.to_string()
        }
    }
}

/// A pattern with its variable expanded.
#[derive(Debug)]
pub(crate) struct Expanded<'t> {
    /// The pattern to parse.
    pub(crate) text: Cow<'t, str>,
    /// How many bytes of the written pattern the variable took (`${HOME}`: 7),
    /// 0 without one.
    pub(crate) written: usize,
    /// How many bytes of `text` its value took.
    pub(crate) inserted: usize,
}

impl Expanded<'_> {
    /// Whether the pattern used a variable.
    pub(crate) fn has_variable(&self) -> bool {
        self.written > 0
    }

    /// The offset in the written pattern of byte `offset` of `text`: a
    /// place in the value is the variable's start.
    pub(crate) fn written_offset(&self, offset: usize) -> usize {
        if !self.has_variable() {
            offset
        } else if offset < self.inserted {
            0
        } else {
            offset - self.inserted + self.written
        }
    }
}

/// The variable `text` begins with and what follows it; `None` when it has
/// none. Errors for `${` anywhere else, an unterminated or unknown
/// variable, and a variable not followed by `/` or the end.
fn split_variable(text: &str) -> Result<Option<(&str, &str)>, PatternError> {
    let err = |offset: usize, reason: String| PatternError { offset, reason };
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'$' if i > 0 && bytes.get(i + 1) == Some(&b'{') => {
                return Err(err(
                    i,
                    "a variable can only begin a pattern (`${HOME}/...`); write `\\$` for a literal `$`"
                        .to_string(),
                ));
            }
            _ => {}
        }
        i += 1;
    }
    let Some(after) = text.strip_prefix("${") else {
        return Ok(None);
    };
    let len = after
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    let (name, tail) = after.split_at(len);
    let Some(rest) = tail.strip_prefix('}') else {
        return Err(err(
            0,
            format!("unterminated variable `${{{name}`: write {}", known_list()),
        ));
    };
    if !VARIABLES.contains(&name) {
        return Err(err(
            0,
            format!(
                "unknown variable `${{{name}}}`; patterns know {}",
                known_list()
            ),
        ));
    }
    if !(rest.is_empty() || rest.starts_with('/')) {
        return Err(err(
            2 + len + 1,
            format!("`${{{name}}}` must be followed by `/` or end the pattern"),
        ));
    }
    Ok(Some((name, rest)))
}

/// `${HOME}, ${TMPDIR} or ${CWD}`.
fn known_list() -> String {
    let names: Vec<String> = VARIABLES.iter().map(|n| format!("`${{{n}}}`")).collect();
    format!("{}, {} or {}", names[0], names[1], names[2])
}

/// Appends `s` with the characters a pattern gives a meaning to escaped:
/// wildcards, `\`, and a `$` before `{`.
pub(crate) fn escape_into(out: &mut String, s: &str) {
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') || (c == '$' && chars.peek() == Some(&'{')) {
            out.push('\\');
        }
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> PolicyVars {
        PolicyVars::none()
            .home("/home/ann")
            .tmpdir("/tmp/fdbroker-run.a[b]*")
            .cwd("/")
    }

    fn expanded(text: &str) -> Result<String, (usize, String)> {
        vars()
            .expand(text)
            .map(|e| e.text.into_owned())
            .map_err(|e| (e.offset, e.reason))
    }

    #[test]
    fn expansion() {
        assert_eq!(expanded("/srv/a").unwrap(), "/srv/a");
        assert_eq!(expanded("${HOME}").unwrap(), "/home/ann");
        assert_eq!(
            expanded("${HOME}/.config/*").unwrap(),
            "/home/ann/.config/*"
        );
        assert_eq!(
            expanded("${TMPDIR}/x").unwrap(),
            "/tmp/fdbroker-run.a\\[b\\]\\*/x"
        );
        // `/` as a value.
        assert_eq!(expanded("${CWD}").unwrap(), "/");
        assert_eq!(expanded("${CWD}/in").unwrap(), "/in");
        // Escaped: literal.
        assert_eq!(expanded("/a/\\${HOME}").unwrap(), "/a/\\${HOME}");
        assert_eq!(expanded("\\${HOME}").unwrap(), "\\${HOME}");
        assert_eq!(expanded("/a/$HOME/{x}").unwrap(), "/a/$HOME/{x}");
    }

    #[test]
    fn errors() {
        #[rustfmt::skip]
        let cases: &[(&str, usize, &str)] = &[
            ("${FOO}/x", 0, "unknown variable `${FOO}`; patterns know `${HOME}`, `${TMPDIR}` or `${CWD}`"),
            ("${HOME", 0, "unterminated variable `${HOME`"),
            ("${HOME/x}", 0, "unterminated"),
            ("${}", 0, "unknown variable `${}`"),
            ("${HOME}x", 7, "must be followed by `/`"),
            ("/srv/${HOME}", 5, "can only begin a pattern"),
        ];
        for &(text, offset, reason) in cases {
            let (o, r) = expanded(text).expect_err(text);
            assert_eq!(o, offset, "{text}: {r}");
            assert!(r.contains(reason), "{text}: {r}");
        }
        let none = PolicyVars::none().expand("${HOME}/x").unwrap_err();
        assert_eq!(none.reason, "`${HOME}` has no value: no value was given");
        let rel = PolicyVars::none()
            .home("rel/dir")
            .source("this run")
            .expand("${HOME}/x")
            .unwrap_err();
        assert_eq!(
            rel.reason,
            "`${HOME}` is `rel/dir` (this run), not an absolute, normalised path"
        );
        assert!(
            PolicyVars::none()
                .home("/a/../b")
                .expand("${HOME}")
                .is_err()
        );
    }

    #[test]
    fn offsets_map_back() {
        let e = vars().expand("${HOME}/a//b").unwrap();
        // Byte 11 of `/home/ann/a//b` (the first `/` of `//`) is byte 9
        // of the written text; a byte of the value is the variable.
        assert_eq!(e.text, "/home/ann/a//b");
        assert_eq!(e.written_offset(11), 9);
        assert_eq!(e.written_offset(3), 0);
        let plain = vars().expand("/a//b").unwrap();
        assert_eq!(plain.written_offset(2), 2);
    }

    #[test]
    fn process_values() {
        let v = PolicyVars::from_process();
        assert!(v.get("TMPDIR").is_some());
        assert_eq!(v.get("CWD"), std::env::current_dir().ok().as_deref());
        assert_eq!(v.get("NOPE"), None);
        let names: Vec<&str> = vars().iter().map(|(n, _)| n).collect();
        assert_eq!(names, VARIABLES);
    }
}
