//! The run's private temporary directory: made when a run starts
//! (`fdbroker-run.XXXXXX` in fdbroker's own temporary directory, mode
//! 0700), given to the program's user, granted like `--write` and named by
//! the program's `TMPDIR` and `HOME`; removed with everything in it when
//! the run ends, however it ends (dropping [`PrivateTmp`]).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::dir::{Dir, Type};
use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, fstat};
use nix::unistd::{Gid, Uid};

use crate::resolve::Resolver;

/// The name of a private temporary directory, before `mkdtemp` fills in
/// the `X`s.
const TEMPLATE: &str = "fdbroker-run.XXXXXX";

/// Why the private temporary directory could not be made.
#[derive(Debug, thiserror::Error)]
#[error("creating the run's temporary directory in {}: {source}", dir.display())]
pub struct PrivateTmpError {
    /// Where it was to be made.
    pub dir: PathBuf,
    /// Why not.
    #[source]
    pub source: io::Error,
}

/// A run's private temporary directory: `fdbroker-run.XXXXXX`, mode 0700,
/// given to the program's user by [`super::Sandbox::private_tmp`], and
/// removed with its contents when dropped.
///
/// ```no_run
/// use fdbroker::sandbox::PrivateTmp;
/// let tmp = PrivateTmp::create()?;
/// let path = tmp.path().to_path_buf();
/// std::fs::write(path.join("left-over"), "x")?;
/// drop(tmp);
/// assert!(!path.exists());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct PrivateTmp {
    path: PathBuf,
}

impl PrivateTmp {
    /// Makes one in fdbroker's own temporary directory (`$TMPDIR`, else
    /// `/tmp`), mode 0700; its path is canonical.
    ///
    /// # Errors
    ///
    /// When that directory cannot be resolved or written.
    pub fn create() -> Result<PrivateTmp, PrivateTmpError> {
        PrivateTmp::create_in(&std::env::temp_dir())
    }

    /// Makes one in `dir`.
    ///
    /// # Errors
    ///
    /// When `dir` cannot be resolved or written.
    pub fn create_in(dir: &Path) -> Result<PrivateTmp, PrivateTmpError> {
        let fail = |source| PrivateTmpError {
            dir: dir.to_path_buf(),
            source,
        };
        let base = std::fs::canonicalize(dir).map_err(fail)?;
        let path = nix::unistd::mkdtemp(&base.join(TEMPLATE))
            .map_err(|e| fail(io::Error::from_raw_os_error(e as i32)))?;
        Ok(PrivateTmp { path })
    }

    /// Its canonical path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Gives it to the program's user (when fdbroker is root).
    pub(super) fn give_to(&self, uid: Uid, gid: Gid) -> io::Result<()> {
        std::os::unix::fs::lchown(&self.path, Some(uid.as_raw()), Some(gid.as_raw()))
    }
}

impl Drop for PrivateTmp {
    /// Removes it and what the program left in it. `remove_dir_all` never
    /// follows a symbolic link; a directory the program made unwritable
    /// (which stops an ordinary user's removal) is made writable again first.
    fn drop(&mut self) {
        if std::fs::remove_dir_all(&self.path).is_ok() {
            return;
        }
        open_up(&self.path);
        if let Err(e) = std::fs::remove_dir_all(&self.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            eprintln!(
                "fdbroker: cannot remove the run's temporary directory {}: {e}",
                self.path.display()
            );
        }
    }
}

/// Makes `dir` and every directory beneath it readable, writable and
/// searchable by its owner. Race-free: other processes of the program's user
/// may still be running and swap a directory for a symbolic link, so each
/// directory is held with `O_PATH|O_NOFOLLOW` from its held parent and
/// changed through that descriptor ([`Resolver::chmod`]); a link is never
/// followed, by fdbroker as root least of all.
fn open_up(dir: &Path) {
    let Ok(resolver) = Resolver::new() else {
        return;
    };
    if let Ok(held) = nix::fcntl::open(dir, HOLD, Mode::empty()) {
        open_up_held(&resolver, held, MAX_DEPTH);
    }
}

/// How a directory is held: never through a symbolic link.
const HOLD: OFlag = OFlag::O_PATH
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

/// How deep [`open_up`] goes; deeper directories are left to the error
/// message `remove_dir_all` gives.
const MAX_DEPTH: usize = 256;

fn open_up_held(resolver: &Resolver, held: OwnedFd, depth: usize) {
    let Ok(st) = fstat(&held) else {
        return;
    };
    if st.st_mode & 0o700 != 0o700 {
        let mode = Mode::from_bits_truncate((st.st_mode | 0o700) & 0o7777);
        let _ = resolver.chmod(held.as_fd(), mode);
    }
    let Some(depth) = depth.checked_sub(1) else {
        return;
    };
    let list = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let Ok(mut entries) = Dir::openat(&held, ".", list, Mode::empty()) else {
        return;
    };
    let names: Vec<CString> = entries
        .iter()
        .flatten()
        .filter(|e| !matches!(e.file_name().to_bytes(), b"." | b".."))
        .filter(|e| matches!(e.file_type(), Some(Type::Directory) | None))
        .map(|e| e.file_name().to_owned())
        .collect();
    for name in names {
        if let Ok(child) = nix::fcntl::openat(&held, name.as_c_str(), HOLD, Mode::empty()) {
            open_up_held(resolver, child, depth);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn made_private_and_removed_with_its_contents() {
        let outer = tempfile::tempdir().unwrap();
        let tmp = PrivateTmp::create_in(outer.path()).unwrap();
        let path = tmp.path().to_path_buf();
        assert!(path.starts_with(std::fs::canonicalize(outer.path()).unwrap()));
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with("fdbroker-run.") && name.len() == TEMPLATE.len(),
            "{name}"
        );
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o700);
        // Contents, a link out and a directory closed to its owner.
        std::fs::create_dir_all(path.join("a/b")).unwrap();
        std::fs::write(path.join("a/b/f"), "x").unwrap();
        std::fs::write(outer.path().join("keep"), "x").unwrap();
        std::os::unix::fs::symlink(outer.path(), path.join("out")).unwrap();
        std::fs::set_permissions(path.join("a"), std::fs::Permissions::from_mode(0o500)).unwrap();
        let other = PrivateTmp::create_in(outer.path()).unwrap();
        assert_ne!(other.path(), path);
        drop(tmp);
        assert!(!path.exists());
        assert!(outer.path().join("keep").exists());
        assert!(other.path().exists());
    }

    #[test]
    fn opened_up_through_held_directories_never_a_link() {
        let outer = tempfile::tempdir().unwrap();
        let set = |p: &Path, mode| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
        };
        let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777;
        let top = outer.path().join("top");
        let elsewhere = outer.path().join("elsewhere");
        std::fs::create_dir_all(top.join("a/b")).unwrap();
        std::fs::create_dir(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, top.join("a/link")).unwrap();
        set(&elsewhere, 0o500);
        set(&top.join("a/b"), 0o000);
        set(&top.join("a"), 0o500);
        open_up(&top);
        assert_eq!(mode(&top.join("a")), 0o700);
        assert_eq!(mode(&top.join("a/b")), 0o700);
        assert_eq!(mode(&elsewhere), 0o500, "a link is never followed");
        set(&elsewhere, 0o700);
    }

    #[test]
    fn a_missing_place_is_an_error() {
        let e = PrivateTmp::create_in(Path::new("/no/such/dir")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("creating the run's temporary directory in /no/such/dir: "),
            "{e}"
        );
    }
}
