//! The thread that made a brokered call, seen through `/proc/<tid>`: its
//! path arguments (read from its memory once), its working directory and
//! descriptors, its process, and writes into its memory.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use super::Dirfd;
use crate::metadata::FileStat;
use crate::ops::Context;
use crate::procfs::{self, PATH_MAX};
use crate::sys;

/// A path argument after reading and joining.
pub(super) enum Target {
    /// An absolute path to judge; `requested` is what the caller wrote.
    Path {
        requested: PathBuf,
        absolute: PathBuf,
    },
    /// An empty path with `AT_EMPTY_PATH`: the descriptor (or cwd) itself.
    Fd(Dirfd),
}

/// Reads the path argument at `addr` of thread `tid` and makes it absolute
/// against `dirfd`. An empty path is `ENOENT` unless `empty_ok`.
pub(super) fn path_arg(tid: u32, dirfd: Dirfd, addr: u64, empty_ok: bool) -> Result<Target, Errno> {
    thread_local! {
        // Not zeroed anew for every call (this runs on every one).
        static BUF: std::cell::RefCell<Box<[u8; PATH_MAX]>> =
            std::cell::RefCell::new(Box::new([0; PATH_MAX]));
    }
    let requested = BUF.with_borrow_mut(|buf| {
        sys::notify::read_c_string(tid, addr, &mut buf[..]).map(<[u8]>::to_vec)
    })?;
    if requested.is_empty() {
        return if empty_ok {
            Ok(Target::Fd(dirfd))
        } else {
            Err(Errno::ENOENT)
        };
    }
    let absolute = if requested.starts_with(b"/") {
        None
    } else {
        Some(join(
            fd_path(tid, dirfd)?.as_os_str().as_bytes(),
            &requested,
        ))
    };
    let requested = PathBuf::from(OsString::from_vec(requested));
    Ok(Target::Path {
        absolute: absolute.unwrap_or_else(|| requested.clone()),
        requested,
    })
}

/// A path argument that may not be empty: what the caller wrote, and its
/// absolute form.
pub(super) fn path(tid: u32, dirfd: Dirfd, addr: u64) -> Result<(PathBuf, PathBuf), Errno> {
    match path_arg(tid, dirfd, addr, false)? {
        Target::Path {
            requested,
            absolute,
        } => Ok((requested, absolute)),
        // Not returned for an argument that may not be empty.
        Target::Fd(_) => Err(Errno::ENOENT),
    }
}

/// The requester for `path`: its process (thread group), which
/// `/proc/self` means. Looked up only for paths under `/proc`; elsewhere
/// the thread id serves (it matters for nothing else).
pub(super) fn context(tid: u32, path: &Path) -> Result<Context, Errno> {
    if procfs::in_proc(path) {
        let status = std::fs::read(format!("/proc/{tid}/status")).map_err(|_| Errno::ESRCH)?;
        let tgid = procfs::status_tgid(&status).ok_or(Errno::ESRCH)?;
        return Ok(Context { pid: Some(tgid) });
    }
    Ok(Context { pid: Some(tid) })
}

/// Opens the memory of thread `tid` for writing. Done before the `ID_VALID`
/// check: the descriptor stays bound to the address space it was opened
/// on, so once the check passes the writes cannot reach another process
/// that reused the pid.
pub(super) fn open_mem(tid: u32) -> Result<File, Errno> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/{tid}/mem"))
        .map_err(|_| Errno::ESRCH)
}

/// Writes `bytes` at `addr` through the caller's `/proc/<tid>/mem`.
pub(super) fn write_mem(mem: &File, addr: u64, bytes: &[u8]) -> Result<(), Errno> {
    if addr == 0 {
        return Err(Errno::EFAULT);
    }
    mem.write_all_at(bytes, addr).map_err(|_| Errno::EFAULT)
}

/// The absolute path the caller's descriptor `fd` (or its working
/// directory) refers to, as `/proc/<tid>/{cwd,fd/N}` shows it. `EBADF` for a
/// descriptor that is not open, `ENOTDIR` for one that has no path (a pipe,
/// a socket), `ENOENT` for a directory that was removed.
pub(super) fn fd_path(tid: u32, fd: Dirfd) -> Result<PathBuf, Errno> {
    let link = fd_link(tid, fd)?;
    let target = std::fs::read_link(&link).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOENT) if matches!(fd, Dirfd::Fd(_)) => Errno::EBADF,
        Some(code) => Errno::from_raw(code),
        None => Errno::EIO,
    })?;
    let bytes = target.as_os_str().as_bytes();
    if !bytes.starts_with(b"/") {
        return Err(Errno::ENOTDIR);
    }
    if procfs::maybe_deleted(bytes) {
        // Either a removed directory, or a name that really ends so.
        let st = nix::sys::stat::stat(Path::new(&link)).map_err(|_| Errno::ENOENT)?;
        if st.st_nlink == 0 {
            return Err(Errno::ENOENT);
        }
    }
    Ok(target)
}

/// `fstat` of the caller's descriptor (or working directory): the object
/// `/proc/<tid>/{cwd,fd/N}` refers to. Not judged: the caller holds it.
pub(super) fn stat_of_fd(tid: u32, fd: Dirfd) -> Result<FileStat, Errno> {
    let link = fd_link(tid, fd)?;
    match nix::sys::stat::stat(Path::new(&link)) {
        Ok(st) => Ok(FileStat::from(&st)),
        Err(Errno::ENOENT) => Err(Errno::EBADF),
        Err(e) => Err(e),
    }
}

/// `/proc/<tid>/cwd` or `/proc/<tid>/fd/<n>`; `EBADF` for a negative `n`.
fn fd_link(tid: u32, fd: Dirfd) -> Result<String, Errno> {
    match fd {
        Dirfd::Cwd => Ok(format!("/proc/{tid}/cwd")),
        Dirfd::Fd(n) if n < 0 => Err(Errno::EBADF),
        Dirfd::Fd(n) => Ok(format!("/proc/{tid}/fd/{n}")),
    }
}

/// `base/rel`, as bytes.
fn join(base: &[u8], rel: &[u8]) -> PathBuf {
    let mut out = Vec::with_capacity(base.len() + 1 + rel.len());
    out.extend_from_slice(base);
    if !base.ends_with(b"/") {
        out.push(b'/');
    }
    out.extend_from_slice(rel);
    PathBuf::from(OsStr::from_bytes(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tgid_and_join() {
        assert_eq!(
            procfs::status_tgid(b"Name:\tx\nTgid:\t1234\nPid:\t1240\n"),
            Some(1234)
        );
        assert_eq!(procfs::status_tgid(b"Name:\tx\n"), None);
        assert_eq!(procfs::status_tgid(b"Tgid:\tzz\n"), None);
        assert_eq!(fd_link(7, Dirfd::Fd(-1)), Err(Errno::EBADF));
        assert_eq!(fd_link(7, Dirfd::Cwd).as_deref(), Ok("/proc/7/cwd"));
        assert_eq!(fd_link(7, Dirfd::Fd(3)).as_deref(), Ok("/proc/7/fd/3"));
        assert_eq!(join(b"/a/b", b"c/../d"), PathBuf::from("/a/b/c/../d"));
        assert_eq!(join(b"/", b"etc"), PathBuf::from("/etc"));
    }
}
