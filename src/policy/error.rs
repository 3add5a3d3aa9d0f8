//! Located policy errors: every message starts with `file:line:column:`.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A place in a policy file: 1-based line, 1-based column counted in characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// The policy file (`<profile:NAME>` for built-in profiles).
    pub file: Arc<Path>,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters (not bytes).
    pub column: u32,
}

impl Location {
    /// The location of byte `offset` of `text`, read from `file`.
    ///
    /// Offsets past the end, or inside a UTF-8 sequence, are moved back to
    /// the nearest character boundary instead of failing.
    pub(crate) fn at(file: &Arc<Path>, text: &str, offset: usize) -> Location {
        let mut end = offset.min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let before = &text[..end];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
        let column = before[line_start..].chars().count() + 1;
        Location {
            file: Arc::clone(file),
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column).unwrap_or(u32::MAX),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// Why a policy could not be loaded.
///
/// Every variant but [`PolicyError::Read`] and [`PolicyError::Compile`]
/// carries a [`Location`], and its `Display` reads `file:line:column: what is wrong`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The top-level policy file could not be read (missing, not a regular file, too large).
    #[error("{}: cannot read policy file: {source}", path.display())]
    Read {
        /// The file as given.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Not valid TOML, not UTF-8, an unknown key, a value of the wrong type,
    /// a missing required key or a duplicate key.
    #[error("{at}: {message}")]
    Syntax {
        /// Where.
        at: Location,
        /// What is wrong.
        message: String,
    },
    /// `version` is missing or is not 1.
    #[error("{at}: {message}")]
    Version {
        /// Where.
        at: Location,
        /// What is wrong.
        message: String,
    },
    /// A name in an `access` list that is not a right.
    #[error(
        "{at}: unknown right `{name}`; expected one of: read, write, create, remove, exec, stat"
    )]
    UnknownRight {
        /// Where.
        at: Location,
        /// The name found.
        name: String,
    },
    /// An `[[allow]]` rule without `access`.
    #[error("{at}: this [[allow]] rule has no `access` list; name the rights it grants")]
    MissingAccess {
        /// The rule's header.
        at: Location,
    },
    /// A `paths` or `access` list with nothing in it.
    #[error("{at}: `{key}` must not be empty")]
    EmptyList {
        /// Where.
        at: Location,
        /// `paths` or `access`.
        key: &'static str,
    },
    /// A path pattern that is relative, not normalised or not a valid glob.
    #[error("{at}: bad pattern `{pattern}`: {reason}")]
    Pattern {
        /// Where (the offending character when it can be pinned down).
        at: Location,
        /// The pattern as written.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An include or profile that (indirectly) includes itself.
    #[error("{at}: include cycle: {chain}")]
    IncludeCycle {
        /// The entry that closes the cycle.
        at: Location,
        /// `a.toml -> b.toml -> a.toml`.
        chain: String,
    },
    /// An include that is missing, unreadable or not a regular file.
    #[error("{at}: cannot read include `{}`: {source}", path.display())]
    Include {
        /// The `include` entry.
        at: Location,
        /// The file it names, joined to the including file's directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A `profiles` entry that names no built-in profile, or an `include`
    /// inside a built-in profile.
    #[error("{at}: {message}")]
    Profile {
        /// Where.
        at: Location,
        /// What is wrong.
        message: String,
    },
    /// A profile named on the command line (`--profile NAME`) that is no
    /// built-in profile.
    #[error("--profile {name}: unknown profile; built-in profiles: {known}")]
    UnknownProfile {
        /// The name given.
        name: String,
        /// The built-in profiles, comma-separated.
        known: String,
    },
    /// A value in `[limits]` that is not a valid limit.
    #[error("{at}: bad `{key}` in [limits]: {reason}")]
    Limit {
        /// The value.
        at: Location,
        /// The limit's key (`memory`).
        key: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A bad name, pattern or value in an `[env]` table.
    #[error("{at}: {source}")]
    Env {
        /// The name, pattern or value.
        at: Location,
        /// What is wrong with it.
        #[source]
        source: super::EnvError,
    },
    /// The patterns were valid one by one but could not be compiled together
    /// (the matcher's size limit).
    #[error("{}: cannot compile the policy's patterns: {message}", file.display())]
    Compile {
        /// The top-level policy file.
        file: Arc<Path>,
        /// What the glob compiler said.
        message: String,
    },
}

impl PolicyError {
    /// Where the error is, when it has a place in a file.
    pub fn location(&self) -> Option<&Location> {
        match self {
            PolicyError::Syntax { at, .. }
            | PolicyError::Version { at, .. }
            | PolicyError::UnknownRight { at, .. }
            | PolicyError::MissingAccess { at }
            | PolicyError::EmptyList { at, .. }
            | PolicyError::Pattern { at, .. }
            | PolicyError::IncludeCycle { at, .. }
            | PolicyError::Include { at, .. }
            | PolicyError::Profile { at, .. }
            | PolicyError::Limit { at, .. } => Some(at),
            PolicyError::Env { at, .. } => Some(at),
            PolicyError::Read { .. }
            | PolicyError::Compile { .. }
            | PolicyError::UnknownProfile { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_counts_lines_and_characters() {
        let f: Arc<Path> = Arc::from(Path::new("p.toml"));
        let text = "ab\né€x\n";
        let l = |o| {
            let l = Location::at(&f, text, o);
            (l.line, l.column)
        };
        assert_eq!(l(0), (1, 1));
        assert_eq!(l(2), (1, 3));
        assert_eq!(l(3), (2, 1));
        // 'x' follows two multi-byte characters: column 3.
        assert_eq!(l(3 + 2 + 3), (2, 3));
        // Inside a multi-byte character: moved back, no panic.
        assert_eq!(l(4), (2, 1));
        assert_eq!(l(usize::MAX), (3, 1));
        assert_eq!(Location::at(&f, text, 3).to_string(), "p.toml:2:1");
    }
}
