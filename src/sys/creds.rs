//! `/proc` files of another user's thread reached with that user's
//! filesystem ids, borrowed by the calling thread for one system call.
//!
//! A broker running as root without `CAP_SYS_PTRACE` and `CAP_DAC_OVERRIDE`
//! (any container) may not open `/proc/<tid>/mem` or read the
//! `/proc/<tid>/{cwd,fd/N}` links of a program running as `nobody`: those
//! checks (`PTRACE_MODE_FSCREDS` and the file's permission bits) compare the
//! caller's *filesystem* uid and gid with the target's ids. With its fsuid and
//! fsgid set to the program's they pass, and nothing else changes:
//!
//! - credentials are per thread in the kernel; `setfsuid(2)` and
//!   `setfsgid(2)` are made as raw system calls here (a C library may apply
//!   other id changes to every thread of the process), so only the calling
//!   thread is affected, and only between the switch and the restore around
//!   one operation (an open, a readlink, a stat) — no other code runs in
//!   between, so no thread can be started with the borrowed ids;
//! - the real, effective and saved ids stay as they are (nobody can signal
//!   or trace the broker because of the switch), and with them every
//!   capability: the kernel takes the file-system capabilities out of the
//!   effective set while the fsuid is not 0 and puts them back from the
//!   permitted set when it is 0 again;
//! - the switch succeeded only if the ids read back are the borrowed ones
//!   (`EPERM` otherwise, before the call is made); the restore is read back
//!   too, and a thread whose ids cannot be restored aborts the process
//!   rather than go on with the wrong ones.
//!
//! A descriptor opened this way keeps the access it was opened with after
//! the restore. Changing the fsuid also makes the broker process
//! non-dumpable (`/proc/sys/fs/suid_dumpable`), as the kernel does for any
//! credential change: nothing can trace it or read its memory then.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::stat::FileStat;

/// The filesystem ids to borrow: the program's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FsIds {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

/// `(uid_t)-1`: no id; `setfsuid(2)` then changes nothing and returns the
/// current one.
const QUERY: u32 = u32::MAX;

fn setfsuid(uid: u32) -> u32 {
    // SAFETY: setfsuid takes one integer and no pointers; as a raw system
    // call it changes the calling thread only. It returns the previous fsuid.
    let prev = unsafe { libc::syscall(libc::SYS_setfsuid, libc::c_ulong::from(uid)) };
    prev as u32
}

fn setfsgid(gid: u32) -> u32 {
    // SAFETY: as setfsuid above, for the fsgid.
    let prev = unsafe { libc::syscall(libc::SYS_setfsgid, libc::c_ulong::from(gid)) };
    prev as u32
}

/// Restores the ids it was made with when dropped (also when `call`
/// unwinds), and aborts when they cannot be.
struct Restore {
    uid: u32,
    gid: u32,
}

impl Drop for Restore {
    fn drop(&mut self) {
        setfsuid(self.uid);
        setfsgid(self.gid);
        if setfsuid(QUERY) != self.uid || setfsgid(QUERY) != self.gid {
            eprintln!("fdbroker: cannot restore a thread's filesystem ids; aborting");
            std::process::abort();
        }
    }
}

/// Makes `call` (one operation) with the calling thread's fsuid and fsgid
/// set to `ids`, or with its own when `ids` is `None`.
fn as_ids<T>(ids: Option<FsIds>, call: impl FnOnce() -> Result<T, Errno>) -> Result<T, Errno> {
    let Some(ids) = ids else {
        return call();
    };
    let _restore = Restore {
        gid: setfsgid(ids.gid),
        uid: setfsuid(ids.uid),
    };
    if setfsuid(QUERY) != ids.uid || setfsgid(QUERY) != ids.gid {
        // Not permitted (no CAP_SETUID/CAP_SETGID) or out of memory.
        return Err(Errno::EPERM);
    }
    call()
}

fn errno(e: &std::io::Error) -> Errno {
    e.raw_os_error().map_or(Errno::EIO, Errno::from_raw)
}

/// Opens `path` close-on-exec, read-write or (`write_only`) write-only, as
/// `ids`.
pub(crate) fn open(ids: Option<FsIds>, path: &Path, write_only: bool) -> Result<File, Errno> {
    as_ids(ids, || {
        OpenOptions::new()
            .read(!write_only)
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| errno(&e))
    })
}

/// The target of the symbolic link `path`, read as `ids`.
pub(crate) fn read_link(ids: Option<FsIds>, path: &Path) -> Result<PathBuf, Errno> {
    as_ids(ids, || std::fs::read_link(path).map_err(|e| errno(&e)))
}

/// stat(2) of `path`, following symbolic links, as `ids`.
pub(crate) fn stat(ids: Option<FsIds>, path: &Path) -> Result<FileStat, Errno> {
    as_ids(ids, || nix::sys::stat::stat(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn ids_are_borrowed_by_one_thread_and_restored() {
        let (uid, gid) = (setfsuid(QUERY), setfsgid(QUERY));
        let me = Some(FsIds { uid, gid });
        assert!(stat(me, Path::new("/proc/self/status")).is_ok());
        assert!(read_link(me, Path::new("/proc/self/cwd")).is_ok());
        assert_eq!((setfsuid(QUERY), setfsgid(QUERY)), (uid, gid));
        if uid != 0 {
            // Borrowing another user's ids needs CAP_SETUID and CAP_SETGID.
            let other = Some(FsIds {
                uid: uid.wrapping_add(1),
                gid,
            });
            assert_eq!(stat(other, Path::new("/")).err(), Some(Errno::EPERM));
            assert_eq!((setfsuid(QUERY), setfsgid(QUERY)), (uid, gid));
            return;
        }
        // A thread that exists during the switch keeps its own ids.
        let (ask, asked) = mpsc::channel::<()>();
        let (tell, told) = mpsc::channel();
        let bystander = std::thread::spawn(move || {
            while asked.recv().is_ok() {
                let _ = tell.send((setfsuid(QUERY), setfsgid(QUERY)));
            }
        });
        let nobody = Some(FsIds {
            uid: 65534,
            gid: 65534,
        });
        let seen = as_ids(nobody, || {
            ask.send(()).map_err(|_| Errno::EIO)?;
            let theirs = told.recv().map_err(|_| Errno::EIO)?;
            Ok(((setfsuid(QUERY), setfsgid(QUERY)), theirs))
        });
        assert_eq!(seen, Ok(((65534, 65534), (uid, gid))));
        assert_eq!((setfsuid(QUERY), setfsgid(QUERY)), (uid, gid));
        drop(ask);
        bystander.join().unwrap();
    }
}
