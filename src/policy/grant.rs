//! Per-run grants: `--read PATH` and `--write PATH` of `fdbroker run`, a
//! path made absolute and canonical once, when the run starts, and the
//! rights it gives to it and everything beneath it.

use std::io;
use std::path::{Path, PathBuf};

use super::Access;

/// The rights `--write PATH` gives on PATH and everything beneath it:
/// `read`, `write`, `create` and `remove`.
pub const WRITE_RIGHTS: Access = Access::READ
    .union(Access::WRITE)
    .union(Access::CREATE)
    .union(Access::REMOVE);

/// The rights `--read PATH` gives on PATH and everything beneath it.
pub const READ_RIGHTS: Access = Access::READ;

/// Which option a [`Grant`] comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GrantKind {
    /// `--read PATH`: [`READ_RIGHTS`].
    Read,
    /// `--write PATH`: [`WRITE_RIGHTS`].
    Write,
}

impl GrantKind {
    /// The option, as written on the command line.
    pub fn option(self) -> &'static str {
        match self {
            GrantKind::Read => "--read",
            GrantKind::Write => "--write",
        }
    }

    /// The rights it gives.
    pub fn access(self) -> Access {
        match self {
            GrantKind::Read => READ_RIGHTS,
            GrantKind::Write => WRITE_RIGHTS,
        }
    }
}

/// Why a path cannot be granted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GrantError {
    /// A `--read` path that cannot be resolved (missing, unreadable parent...).
    #[error("--read {}: {source}", path.display())]
    Read {
        /// As given.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A `--write` path that neither exists nor has a directory to be
    /// created in.
    #[error("--write {}: {reason}", path.display())]
    Write {
        /// As given.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The canonical path cannot be written in a policy (not UTF-8).
    #[error("{option} {}: a path that is not valid UTF-8 cannot be granted", path.display())]
    NotUtf8 {
        /// `--read` or `--write`.
        option: &'static str,
        /// The canonical path.
        path: PathBuf,
    },
}

/// One per-run grant: a canonical path and the rights on it and beneath it.
///
/// ```
/// use std::path::Path;
/// use fdbroker::policy::{Access, Grant};
///
/// let g = Grant::read(Path::new("/"))?;
/// assert_eq!(g.path(), Path::new("/"));
/// assert_eq!(g.pattern(), "/**");
/// assert_eq!(g.to_string(), "--read /");
/// assert_eq!(g.access(), Access::READ);
/// // A `--write` path may not exist yet: its parent must.
/// let g = Grant::write(Path::new("/proc/no-such-dir"))?;
/// assert_eq!(g.pattern(), "/proc/no-such-dir/**");
/// assert!(Grant::write(Path::new("/no-such-dir/out")).is_err());
/// assert!(Grant::read(Path::new("/no-such-file")).is_err());
/// # Ok::<(), fdbroker::policy::GrantError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Grant {
    kind: GrantKind,
    path: PathBuf,
    pattern: String,
}

impl Grant {
    /// `--read PATH`: PATH must exist; relative to the working directory.
    ///
    /// # Errors
    ///
    /// [`GrantError::Read`] when PATH cannot be resolved,
    /// [`GrantError::NotUtf8`] when its canonical path is not UTF-8.
    pub fn read(path: &Path) -> Result<Grant, GrantError> {
        let canonical = std::fs::canonicalize(path).map_err(|source| GrantError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Grant::new(GrantKind::Read, canonical)
    }

    /// `--write PATH`: PATH itself if it exists, else the canonical path of
    /// its parent directory (which must exist) and its name; relative to
    /// the working directory.
    ///
    /// # Errors
    ///
    /// [`GrantError::Write`] when neither PATH nor its parent can be
    /// resolved, [`GrantError::NotUtf8`] when the path is not UTF-8.
    pub fn write(path: &Path) -> Result<Grant, GrantError> {
        let fail = |reason: String| GrantError::Write {
            path: path.to_path_buf(),
            reason,
        };
        let canonical = match std::fs::canonicalize(path) {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let name = path
                    .file_name()
                    .ok_or_else(|| fail("names no file or directory".to_string()))?;
                let parent = match path.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p,
                    _ => Path::new("."),
                };
                let dir = std::fs::canonicalize(parent).map_err(|e| {
                    fail(format!(
                        "it does not exist, nor does its directory {}: {e}",
                        parent.display()
                    ))
                })?;
                if !dir.is_dir() {
                    return Err(fail(format!("{} is not a directory", parent.display())));
                }
                dir.join(name)
            }
            Err(e) => return Err(fail(e.to_string())),
        };
        Grant::new(GrantKind::Write, canonical)
    }

    /// A grant of `kind` on `canonical`, an absolute canonical path
    /// (what fdbroker made itself: the run's private temporary directory).
    ///
    /// # Errors
    ///
    /// [`GrantError::NotUtf8`] when the path cannot be written in a policy
    /// (not UTF-8, not absolute or not normalised).
    pub fn canonical(kind: GrantKind, canonical: PathBuf) -> Result<Grant, GrantError> {
        Grant::new(kind, canonical)
    }

    fn new(kind: GrantKind, path: PathBuf) -> Result<Grant, GrantError> {
        let not_utf8 = || GrantError::NotUtf8 {
            option: kind.option(),
            path: path.clone(),
        };
        let literal = super::literal_pattern(&path).ok_or_else(not_utf8)?;
        // `DIR/**` matches DIR itself too.
        let pattern = if literal == "/" {
            "/**".to_string()
        } else {
            format!("{literal}/**")
        };
        Ok(Grant {
            kind,
            path,
            pattern,
        })
    }

    /// `--read` or `--write`.
    pub fn kind(&self) -> GrantKind {
        self.kind
    }

    /// The canonical path granted.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The rights given on it and beneath it.
    pub fn access(&self) -> Access {
        self.kind.access()
    }

    /// The policy pattern of the rule: the path, escaped, and `/**`.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }
}

/// `--read PATH` / `--write PATH`: how decisions made by the grant name it.
impl std::fmt::Display for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind.option(), self.path.display())
    }
}
