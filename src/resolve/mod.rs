//! Race-free resolution of an absolute path to the object it names.
//!
//! The broker must judge the object an open would reach, not the string it was
//! given: a symlink, a `..`, a `/proc` magic link or a concurrent rename can make
//! a string that looks harmless reach something else (path_resolution(7)). The
//! [`Resolver`] therefore
//!
//! 1. reaches the object once, holding it as an `O_PATH|O_CLOEXEC` descriptor,
//!    with one of two [`Strategy`]s:
//!    - [`Strategy::Openat2`]: one openat2(2) call with `RESOLVE_NO_MAGICLINKS`
//!      (and `O_NOFOLLOW` when the final symlink must not be followed);
//!    - [`Strategy::Walk`]: a component-by-component walk from `/` holding a
//!      descriptor for every directory on the way (openat(2) with
//!      `O_PATH|O_NOFOLLOW`), splicing symlink targets itself (at most 40, then
//!      `ELOOP`), handling `..` on the held chain (never above `/`), and refusing
//!      procfs magic links with `ELOOP`;
//! 2. names the object by reading the `/proc/self/fd/N` link of that descriptor
//!    (proc(5)): the kernel's own canonical path of what is held;
//! 3. acts on that very descriptor afterwards ([`Resolver::reopen`],
//!    [`Resolver::access`], [`Resolver::read_link`]): the string is never
//!    resolved a second time.
//!
//! Paths are judged by the mount they were reached through: a bind mount makes
//! the same object reachable under two names, and the name used is the one
//! judged. Mounts are the administrator's business; a confined child cannot
//! make them.
//!
//! A `Resolver` holds descriptors for `/` and this process's `/proc/<pid>/fd`,
//! checked once at construction (procfs by fstatfs(2) `PROC_SUPER_MAGIC`,
//! `/proc/self` naming this process). It is `Send + Sync`; it must
//! not be used in a process forked from the one that built it (every call that
//! goes through `/proc/<pid>/fd` checks this and fails with `EIO`).

mod openat2;
mod walk;

use std::ffi::{CStr, OsStr};
use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{Mode, fstat};
use nix::sys::statfs::{PROC_SUPER_MAGIC, fstatfs};
use nix::unistd::{AccessFlags, faccessat};

use crate::procfs::{PATH_MAX, maybe_deleted, names_pid};
use crate::sys::readlink::readlinkat_into;

/// Symlinks followed in one resolution before `ELOOP`, as the kernel does
/// (`MAXSYMLINKS`, path_resolution(7)).
pub const MAX_SYMLINKS: u32 = 40;

/// Inode number of the root directory of every procfs mount (`PROC_ROOT_INO`).
const PROC_ROOT_INO: u64 = 1;

/// How a [`Resolver`] reaches an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// One openat2(2) call with `RESOLVE_NO_MAGICLINKS` (Linux 5.6+).
    Openat2,
    /// A component-by-component `O_PATH|O_NOFOLLOW` walk holding descriptors.
    ///
    /// Used where openat2(2) answers `ENOSYS`. It follows procfs symlinks only
    /// when they sit in the procfs root (`/proc/self`, `/proc/thread-self`,
    /// `/proc/mounts`, `/proc/net`) and have relative targets; every other
    /// procfs symlink is treated as a magic link (`ELOOP`). That is stricter
    /// than the kernel for a few plain procfs symlinks deeper down, never laxer.
    Walk,
}

/// Whether a symlink in the final component of a path is followed.
///
/// Symlinks in the other components are always followed (and procfs magic
/// links never, see [`Resolver::resolve`]). [`FollowSymlinks::No`] is what
/// `O_NOFOLLOW` asks of open(2) and `AT_SYMLINK_NOFOLLOW` of fstatat(2):
/// the symlink itself is reached.
///
/// ```
/// use fdbroker::FollowSymlinks;
/// assert_eq!(FollowSymlinks::from(true), FollowSymlinks::Yes);
/// let flags = libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH;
/// assert_eq!(FollowSymlinks::from_at_flags(flags), FollowSymlinks::No);
/// assert_eq!(FollowSymlinks::No.at_flags(), libc::AT_SYMLINK_NOFOLLOW);
/// assert_eq!(FollowSymlinks::Yes.at_flags(), 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FollowSymlinks {
    /// A final symlink is followed to what it points at, as stat(2) does.
    Yes,
    /// A final symlink is reached itself, as lstat(2) does.
    No,
}

impl FollowSymlinks {
    /// [`FollowSymlinks::No`] when a `*at(2)` flags word has
    /// `AT_SYMLINK_NOFOLLOW`; its other bits do not matter here.
    pub fn from_at_flags(flags: i32) -> FollowSymlinks {
        if flags & libc::AT_SYMLINK_NOFOLLOW == 0 {
            FollowSymlinks::Yes
        } else {
            FollowSymlinks::No
        }
    }

    /// The `*at(2)` flag that says so: `AT_SYMLINK_NOFOLLOW`, or 0.
    pub fn at_flags(self) -> i32 {
        match self {
            FollowSymlinks::Yes => 0,
            FollowSymlinks::No => libc::AT_SYMLINK_NOFOLLOW,
        }
    }
}

impl From<bool> for FollowSymlinks {
    /// `true` is [`FollowSymlinks::Yes`].
    fn from(follow: bool) -> FollowSymlinks {
        if follow {
            FollowSymlinks::Yes
        } else {
            FollowSymlinks::No
        }
    }
}

/// An object reached by [`Resolver::resolve`].
#[derive(Debug)]
pub struct Resolved {
    /// An `O_PATH|O_CLOEXEC` descriptor for exactly the object reached.
    pub fd: OwnedFd,
    /// The kernel's canonical absolute path of that object: no symlinks, no
    /// `.`/`..`, no `//`, no trailing `/` (the name read back from
    /// `/proc/self/fd/N`, see proc(5)).
    pub path: PathBuf,
}

/// Why a [`Resolver`] could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// A descriptor the resolver needs could not be opened or checked.
    #[error("resolver setup: cannot open {what}: {errno}")]
    Setup {
        /// What was being opened.
        what: &'static str,
        /// The error.
        errno: Errno,
    },
    /// `/proc` is not the root of a procfs mount (fstatfs(2) `PROC_SUPER_MAGIC`).
    #[error("resolver setup: {what} is not procfs")]
    NotProcfs {
        /// What was checked.
        what: &'static str,
    },
    /// `/proc/self` does not name this process (a procfs of another pid namespace?).
    #[error("resolver setup: /proc/self is not this process (procfs of another pid namespace?)")]
    ForeignProc,
    /// `/proc/self/fd` does not show this process's descriptors as expected.
    #[error("resolver setup: /proc/self/fd does not name descriptors correctly")]
    ProcFdUnusable,
    /// [`Strategy::Openat2`] was asked for but the kernel lacks openat2(2).
    #[error("openat2(2) is unavailable: {0}")]
    Openat2Unavailable(Errno),
}

/// Race-free resolver of absolute paths; see the [module documentation](self).
///
/// ```
/// use std::os::fd::AsFd;
/// use std::path::Path;
/// use fdbroker::resolve::{FollowSymlinks, Resolver};
/// use nix::fcntl::OFlag;
///
/// let r = Resolver::new()?;
/// let obj = r.resolve(Path::new("/etc/../etc/./"), FollowSymlinks::Yes).expect("resolve");
/// assert_eq!(obj.path, Path::new("/etc"));
/// // Act on exactly the object reached, not on the string again.
/// let dir = r.reopen(obj.fd.as_fd(), OFlag::O_RDONLY | OFlag::O_DIRECTORY).expect("reopen");
/// # drop(dir);
/// // Magic links are never followed.
/// let e = r.resolve(Path::new("/proc/self/root/etc"), FollowSymlinks::Yes).unwrap_err();
/// assert_eq!(e, nix::errno::Errno::ELOOP);
/// # Ok::<(), fdbroker::resolve::ResolveError>(())
/// ```
pub struct Resolver {
    /// `O_PATH` descriptor of `/`: where every resolution starts.
    root: OwnedFd,
    /// `O_PATH` descriptor of `/proc/<pid>/fd` of this process.
    proc_fd: OwnedFd,
    /// The pid `proc_fd` belongs to.
    pid: u32,
    strategy: Strategy,
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("strategy", &self.strategy)
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

impl Resolver {
    /// A resolver with the best strategy the kernel offers: [`Strategy::Openat2`],
    /// or [`Strategy::Walk`] when openat2(2) answers `ENOSYS`.
    pub fn new() -> Result<Resolver, ResolveError> {
        let mut r = Self::with_strategy(Strategy::Walk)?;
        match openat2::open_path(r.root.as_fd(), Path::new("/"), FollowSymlinks::Yes) {
            Ok(_) => r.strategy = Strategy::Openat2,
            Err(Errno::ENOSYS) => {}
            Err(errno) => {
                return Err(ResolveError::Setup {
                    what: "/ with openat2(2)",
                    errno,
                });
            }
        }
        Ok(r)
    }

    /// A resolver that uses `strategy`; [`Strategy::Openat2`] fails with
    /// [`ResolveError::Openat2Unavailable`] on kernels without openat2(2).
    pub fn with_strategy(strategy: Strategy) -> Result<Resolver, ResolveError> {
        let setup = |what| move |errno| ResolveError::Setup { what, errno };
        let pflags = OFlag::O_PATH | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
        let root = nix::fcntl::open("/", pflags | OFlag::O_DIRECTORY, Mode::empty())
            .map_err(setup("/"))?;
        let proc_root = openat(&root, "proc", pflags | OFlag::O_DIRECTORY, Mode::empty())
            .map_err(setup("/proc"))?;
        let is_proc =
            |fd: &OwnedFd| fstatfs(fd).is_ok_and(|s| s.filesystem_type() == PROC_SUPER_MAGIC);
        if !is_proc(&proc_root) || fstat(&proc_root).map(|s| s.st_ino).ok() != Some(PROC_ROOT_INO) {
            return Err(ResolveError::NotProcfs { what: "/proc" });
        }
        let pid = std::process::id();
        let mut buf = [0u8; 32];
        let n = readlinkat_into(&proc_root, c"self", &mut buf).map_err(setup("/proc/self"))?;
        if !names_pid(&buf[..n], pid) {
            return Err(ResolveError::ForeignProc);
        }
        let pid_dir = openat(
            &proc_root,
            pid.to_string().as_str(),
            pflags | OFlag::O_DIRECTORY,
            Mode::empty(),
        )
        .map_err(setup("/proc/<pid>"))?;
        let proc_fd = openat(&pid_dir, "fd", pflags | OFlag::O_DIRECTORY, Mode::empty())
            .map_err(setup("/proc/<pid>/fd"))?;
        if !is_proc(&proc_fd) {
            return Err(ResolveError::NotProcfs {
                what: "/proc/<pid>/fd",
            });
        }
        let r = Resolver {
            root,
            proc_fd,
            pid,
            strategy,
        };
        // The link of our own root descriptor must read back as "/".
        if r.fd_path(r.root.as_fd()).ok().as_deref() != Some(Path::new("/")) {
            return Err(ResolveError::ProcFdUnusable);
        }
        if strategy == Strategy::Openat2 {
            openat2::open_path(r.root.as_fd(), Path::new("/"), FollowSymlinks::Yes)
                .map_err(ResolveError::Openat2Unavailable)?;
        }
        Ok(r)
    }

    /// The strategy in use.
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// Reaches the object `path` names and returns it with its canonical path.
    ///
    /// `follow` says whether a symlink in the final component is followed
    /// ([`FollowSymlinks::No`] is `O_NOFOLLOW`: the symlink itself is
    /// returned). Symlinks in other components are always followed; magic
    /// links never (`ELOOP`).
    ///
    /// Errors: `EINVAL` for a relative path or one containing NUL,
    /// `ENAMETOOLONG` for one of `PATH_MAX` bytes or more, else what
    /// path_resolution(7) gives (`ENOENT`, `ENOTDIR`, `ELOOP`, `EACCES`...),
    /// and `EACCES` when the kernel's name of the object is not a plain
    /// absolute path (e.g. `(unreachable)`: outside this process's root).
    pub fn resolve(&self, path: &Path, follow: FollowSymlinks) -> Result<Resolved, Errno> {
        let fd = self.open_path(path, follow)?;
        let path = self.fd_path(fd.as_fd())?;
        Ok(Resolved { fd, path })
    }

    /// Reaches the object `path` names, without naming it.
    fn open_path(&self, path: &Path, follow: FollowSymlinks) -> Result<OwnedFd, Errno> {
        check_path(path)?;
        if self.strategy == Strategy::Openat2 {
            match openat2::open_path(self.root.as_fd(), path, follow) {
                Err(Errno::ENOSYS) => {}
                other => return other,
            }
        }
        walk::walk(self, path.as_os_str().as_bytes(), follow).map_err(|stuck| stuck.errno)
    }

    /// Opens the object a [plain](is_plain) `path` names with `flags` in one
    /// step, refusing every symlink on the way (openat2(2)
    /// `RESOLVE_NO_SYMLINKS`). `O_CLOEXEC` and `O_NOCTTY` are always added.
    ///
    /// Without a symlink, `.`, `..` or `//` to follow, the object a walk
    /// reaches is the one the string names, so `path` is its canonical path
    /// and can be judged before the open, and the open can be the only system
    /// call. The caller falls back to [`Self::resolve`] on `ELOOP` (a symlink
    /// was met) and on `ENOSYS` (no openat2(2), or [`Strategy::Walk`] in use).
    /// `EINVAL` for a path that is not plain.
    ///
    /// ```
    /// use std::path::Path;
    /// use fdbroker::resolve::Resolver;
    /// use nix::{errno::Errno, fcntl::OFlag};
    ///
    /// let r = Resolver::new()?;
    /// assert!(r.open_plain(Path::new("/etc"), OFlag::O_RDONLY | OFlag::O_DIRECTORY).is_ok());
    /// // /proc/self is a symlink: the caller must take the resolving path.
    /// assert_eq!(r.open_plain(Path::new("/proc/self/status"), OFlag::O_RDONLY).unwrap_err(), Errno::ELOOP);
    /// assert_eq!(r.open_plain(Path::new("/etc/../etc"), OFlag::O_RDONLY).unwrap_err(), Errno::EINVAL);
    /// # Ok::<(), fdbroker::resolve::ResolveError>(())
    /// ```
    pub fn open_plain(&self, path: &Path, flags: OFlag) -> Result<OwnedFd, Errno> {
        if !is_plain(path) {
            return Err(Errno::EINVAL);
        }
        if self.strategy != Strategy::Openat2 {
            return Err(Errno::ENOSYS);
        }
        let flags = flags | OFlag::O_CLOEXEC | OFlag::O_NOCTTY;
        if flags.contains(OFlag::O_PATH) {
            return Err(Errno::EINVAL);
        }
        openat2::open_plain(self.root.as_fd(), path, flags)
    }

    /// [`Self::open_plain`] for an `O_PATH` descriptor of the object a plain
    /// `path` names, for metadata: with [`FollowSymlinks::No`] a symlink at
    /// the end is held itself (openat2(2): `O_PATH|O_NOFOLLOW` with
    /// `RESOLVE_NO_SYMLINKS`), with [`FollowSymlinks::Yes`] it is `ELOOP`.
    /// The same errors and fallbacks as [`Self::open_plain`].
    ///
    /// ```
    /// use std::path::Path;
    /// use fdbroker::resolve::{FollowSymlinks, Resolver};
    /// use nix::errno::Errno;
    ///
    /// let r = Resolver::new()?;
    /// assert!(r.open_plain_path(Path::new("/etc"), FollowSymlinks::Yes).is_ok());
    /// assert_eq!(r.open_plain_path(Path::new("/proc/self"), FollowSymlinks::Yes).unwrap_err(), Errno::ELOOP);
    /// assert!(r.open_plain_path(Path::new("/proc/self"), FollowSymlinks::No).is_ok());
    /// # Ok::<(), fdbroker::resolve::ResolveError>(())
    /// ```
    pub fn open_plain_path(&self, path: &Path, follow: FollowSymlinks) -> Result<OwnedFd, Errno> {
        if !is_plain(path) {
            return Err(Errno::EINVAL);
        }
        if self.strategy != Strategy::Openat2 {
            return Err(Errno::ENOSYS);
        }
        let mut flags = OFlag::O_PATH | OFlag::O_CLOEXEC;
        if follow == FollowSymlinks::No {
            flags |= OFlag::O_NOFOLLOW;
        }
        openat2::open_plain(self.root.as_fd(), path, flags)
    }

    /// The kernel's canonical path of the object `fd` refers to, read from its
    /// `/proc/self/fd/N` link (proc(5)).
    ///
    /// Anything but a plain canonical absolute path is an error (`EACCES`),
    /// never a guess. A name ending in ` (deleted)` is accepted only when that
    /// very name still leads to the same object (a file really named so);
    /// otherwise the object was unlinked and the answer is `ENOENT`.
    pub fn fd_path(&self, fd: BorrowedFd<'_>) -> Result<PathBuf, Errno> {
        let name = self.fd_name(fd)?;
        let mut buf = [0u8; PATH_MAX + 1];
        let n = readlinkat_into(&self.proc_fd, name.as_cstr(), &mut buf)?;
        let link = &buf[..n];
        let maybe_deleted = check_fd_link(link)?;
        let path = PathBuf::from(OsStr::from_bytes(link));
        if maybe_deleted {
            let again = self
                .open_path(&path, FollowSymlinks::No)
                .map_err(|_| Errno::ENOENT)?;
            let (a, b) = (fstat(fd)?, fstat(&again)?);
            if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino) {
                return Err(Errno::ENOENT);
            }
        }
        Ok(path)
    }

    /// Opens the object `fd` refers to anew with `flags`, through its
    /// `/proc/self/fd/N` link: exactly that object, whatever its path now
    /// names. `O_CLOEXEC` and `O_NOCTTY` are always added (the broker's
    /// copies never leak into its children or become its terminal).
    ///
    /// `flags` must not contain `O_CREAT`, `O_EXCL`, `O_NOFOLLOW`, `O_PATH` or
    /// `O_TMPFILE` (`EINVAL`). A symlink held with `O_NOFOLLOW` cannot be
    /// reopened (`ELOOP`).
    pub fn reopen(&self, fd: BorrowedFd<'_>, flags: OFlag) -> Result<OwnedFd, Errno> {
        let refused = OFlag::O_CREAT
            | OFlag::O_EXCL
            | OFlag::O_NOFOLLOW
            | OFlag::O_PATH
            | OFlag::from_bits_retain(libc::O_TMPFILE & !libc::O_DIRECTORY);
        if flags.intersects(refused) {
            return Err(Errno::EINVAL);
        }
        let name = self.fd_name(fd)?;
        openat(
            &self.proc_fd,
            name.as_cstr(),
            flags | OFlag::O_CLOEXEC | OFlag::O_NOCTTY,
            Mode::empty(),
        )
    }

    /// Checks the real permission `amode` on the object `fd` refers to, as
    /// faccessat(2) does for this process's real ids, through its
    /// `/proc/self/fd/N` link.
    pub fn access(&self, fd: BorrowedFd<'_>, amode: AccessFlags) -> Result<(), Errno> {
        let name = self.fd_name(fd)?;
        faccessat(&self.proc_fd, name.as_cstr(), amode, AtFlags::empty())
    }

    /// Checks the permission `amode` on the object `fd` refers to for the
    /// calling thread's filesystem ids, groups and effective capabilities
    /// (faccessat2(2) with `AT_EACCESS`), through its `/proc/self/fd/N`
    /// link: what the credentials an operation took on allow
    /// ([`crate::ops::ProgramIds`]). `ENOSYS` before Linux 5.8.
    pub fn access_effective(&self, fd: BorrowedFd<'_>, amode: AccessFlags) -> Result<(), Errno> {
        let name = self.fd_name(fd)?;
        crate::sys::creds::access_effective(self.proc_fd.as_fd(), name.as_cstr(), amode.bits())
    }

    /// Sets the permission bits of the object `fd` refers to (never a
    /// symlink: Linux has no modes for them) to `mode`, through its
    /// `/proc/self/fd/N` link: exactly that object.
    pub fn chmod(&self, fd: BorrowedFd<'_>, mode: Mode) -> Result<(), Errno> {
        let name = self.fd_name(fd)?;
        nix::sys::stat::fchmodat(
            &self.proc_fd,
            name.as_cstr(),
            mode,
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )
    }

    /// Makes a new hard link `name` in the directory `dir` to exactly the
    /// object `fd` refers to (a symlink held with `O_NOFOLLOW` is linked
    /// itself), through its `/proc/self/fd/N` link, which needs no
    /// capability where linkat(2) with `AT_EMPTY_PATH` would.
    pub fn link(&self, fd: BorrowedFd<'_>, dir: BorrowedFd<'_>, name: &CStr) -> Result<(), Errno> {
        let src = self.fd_name(fd)?;
        nix::unistd::linkat(
            &self.proc_fd,
            src.as_cstr(),
            dir,
            name,
            AtFlags::AT_SYMLINK_FOLLOW,
        )
    }

    /// The target of the symlink `fd` refers to (an `O_PATH|O_NOFOLLOW`
    /// descriptor), see readlinkat(2) with an empty path. `EINVAL` when `fd` is
    /// not a symlink.
    pub fn read_link(&self, fd: BorrowedFd<'_>) -> Result<Vec<u8>, Errno> {
        let mut buf = [0u8; PATH_MAX + 1];
        match readlinkat_into(fd, c"", &mut buf) {
            Ok(n) => Ok(buf[..n].to_vec()),
            // The kernel answers ENOENT for an empty path on a non-symlink.
            Err(Errno::ENOENT) if fstat(fd)?.st_mode & libc::S_IFMT != libc::S_IFLNK => {
                Err(Errno::EINVAL)
            }
            Err(e) => Err(e),
        }
    }

    /// The best canonical guess of what `path` names, for deciding whether an
    /// error about it may be revealed: the deepest object a race-free walk
    /// reaches (following symlinks as far as they resolve) plus the remaining
    /// components, normalised lexically (`.` dropped, `..` removes one
    /// component, never above `/`).
    ///
    /// Never fails: when even that cannot be named, the lexical normalisation
    /// of `path` itself is returned.
    pub fn best_guess(&self, path: &Path, follow: FollowSymlinks) -> PathBuf {
        let bytes = path.as_os_str().as_bytes();
        let lexical = || normalize(b"/", bytes.split(|&b| b == b'/'));
        if check_path(path).is_err() {
            return lexical();
        }
        match walk::walk(self, bytes, follow) {
            Ok(fd) => self.fd_path(fd.as_fd()).unwrap_or_else(|_| lexical()),
            Err(stuck) => {
                let base = match &stuck.at {
                    Some(fd) => match self.fd_path(fd.as_fd()) {
                        Ok(p) => p,
                        Err(_) => return lexical(),
                    },
                    None => PathBuf::from("/"),
                };
                normalize(
                    base.as_os_str().as_bytes(),
                    stuck.rest.iter().map(Vec::as_slice),
                )
            }
        }
    }

    /// The name of `fd` inside `/proc/<pid>/fd`, after checking that this is
    /// still the process whose `/proc/<pid>/fd` is held.
    fn fd_name(&self, fd: BorrowedFd<'_>) -> Result<FdName, Errno> {
        if std::process::id() != self.pid {
            return Err(Errno::EIO);
        }
        FdName::new(fd)
    }
}

/// The decimal name of a descriptor in `/proc/self/fd`, NUL-terminated, on the
/// stack.
struct FdName {
    buf: [u8; 12],
    start: usize,
}

impl FdName {
    fn new(fd: BorrowedFd<'_>) -> Result<FdName, Errno> {
        use std::os::fd::AsRawFd;
        let mut n = u32::try_from(fd.as_raw_fd()).map_err(|_| Errno::EBADF)?;
        let mut buf = [0u8; 12];
        let mut start = buf.len() - 1; // buf[11] stays the NUL
        loop {
            start -= 1;
            buf[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        Ok(FdName { buf, start })
    }

    fn as_cstr(&self) -> &CStr {
        // The digits contain no NUL and the last byte is NUL.
        CStr::from_bytes_with_nul(&self.buf[self.start..]).unwrap_or(c"")
    }
}

/// Checks that a request path is acceptable for resolution: absolute
/// (`EINVAL`), free of NUL bytes (`EINVAL`) and shorter than `PATH_MAX`
/// (`ENAMETOOLONG`).
///
/// ```
/// use std::path::Path;
/// use fdbroker::resolve::check_path;
/// use nix::errno::Errno;
/// assert_eq!(check_path(Path::new("/etc/hostname")), Ok(()));
/// assert_eq!(check_path(Path::new("etc/hostname")), Err(Errno::EINVAL));
/// assert_eq!(check_path(Path::new("/etc\0x")), Err(Errno::EINVAL));
/// ```
pub fn check_path(path: &Path) -> Result<(), Errno> {
    let b = path.as_os_str().as_bytes();
    if b.first() != Some(&b'/') || b.contains(&0) {
        return Err(Errno::EINVAL);
    }
    if b.len() >= PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok(())
}

/// Whether `path` is plain: absolute, shorter than `PATH_MAX`, free of NUL,
/// and made only of ordinary components: no empty (`//`, trailing `/`), `.`
/// or `..` component, and not `/` itself. The string of a plain path is the
/// canonical path of what it names when no symlink lies on the way
/// ([`Resolver::open_plain`]).
///
/// ```
/// use std::path::Path;
/// use fdbroker::resolve::is_plain;
/// assert!(is_plain(Path::new("/etc/hostname")));
/// for p in ["/", "/etc/", "/etc//hostname", "/etc/./hostname", "/etc/..", "etc"] {
///     assert!(!is_plain(Path::new(p)), "{p}");
/// }
/// ```
pub fn is_plain(path: &Path) -> bool {
    check_path(path).is_ok()
        && path.as_os_str().as_bytes()[1..]
            .split(|&b| b == b'/')
            .all(|c| !(c.is_empty() || c == b"." || c == b".."))
}

/// Checks a `/proc/self/fd/N` link text: it must be a canonical absolute path
/// (leading `/`, no empty, `.` or `..` component, no trailing `/` unless it is
/// `/` itself). Returns whether it ends in ` (deleted)`, which the kernel
/// appends to unlinked objects and which a real name may also end with.
fn check_fd_link(link: &[u8]) -> Result<bool, Errno> {
    if link == b"/" {
        return Ok(false);
    }
    let Some(rest) = link.strip_prefix(b"/") else {
        return Err(Errno::EACCES);
    };
    if rest
        .split(|&b| b == b'/')
        .any(|c| c.is_empty() || c == b"." || c == b"..")
    {
        return Err(Errno::EACCES);
    }
    Ok(maybe_deleted(link))
}

/// `base` (a canonical absolute path) followed by `rest`, with empty and `.`
/// components dropped and each `..` removing one component, never above `/`.
fn normalize<'a>(base: &[u8], rest: impl Iterator<Item = &'a [u8]>) -> PathBuf {
    let mut out: Vec<u8> = base.to_vec();
    if out.is_empty() {
        out.push(b'/');
    }
    for c in rest {
        match c {
            b"" | b"." => {}
            b".." => {
                let cut = out.iter().rposition(|&b| b == b'/').unwrap_or(0);
                out.truncate(cut.max(1));
            }
            _ => {
                if out.last() != Some(&b'/') {
                    out.push(b'/');
                }
                out.extend_from_slice(c);
            }
        }
    }
    PathBuf::from(OsStr::from_bytes(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_links() {
        assert_eq!(check_fd_link(b"/"), Ok(false));
        assert_eq!(check_fd_link(b"/etc/passwd"), Ok(false));
        assert_eq!(check_fd_link(b"/tmp/x (deleted)"), Ok(true));
        assert_eq!(check_fd_link(b"/a/\xff\xfe"), Ok(false));
        for bad in [
            &b""[..],
            b"(unreachable)/etc",
            b"pipe:[123]",
            b"anon_inode:[eventfd]",
            b"/a//b",
            b"/a/./b",
            b"/a/../b",
            b"/a/",
            b"/..",
        ] {
            assert_eq!(check_fd_link(bad), Err(Errno::EACCES), "{bad:?}");
        }
    }

    #[test]
    fn normalizing() {
        let n = |base: &[u8], rest: &str| normalize(base, rest.as_bytes().split(|&b| b == b'/'));
        assert_eq!(n(b"/", "a/b"), Path::new("/a/b"));
        assert_eq!(n(b"/x", "a/./../b/"), Path::new("/x/b"));
        assert_eq!(n(b"/x", "../../../b"), Path::new("/b"));
        assert_eq!(n(b"/", ".."), Path::new("/"));
        assert_eq!(n(b"/x/y", ".."), Path::new("/x"));
    }

    #[test]
    fn fd_names() {
        let f = std::fs::File::open("/").unwrap();
        let name = FdName::new(f.as_fd()).unwrap();
        use std::os::fd::AsRawFd;
        assert_eq!(name.as_cstr().to_str().unwrap(), f.as_raw_fd().to_string());
    }
}
