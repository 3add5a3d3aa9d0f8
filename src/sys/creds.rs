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
//!
//! [`act_as`] goes further, for the files the broker opens *for* the
//! program (its `/proc` files, and what only a built-in profile grants):
//! the calling thread takes on everything the kernel's permission checks
//! look at — the fsuid and fsgid, the supplementary groups (none, for a
//! program run as another user), and an empty effective capability set
//! (setfsuid(2) takes out only the file-system capabilities, not
//! `CAP_SYS_ADMIN` or `CAP_SYS_PTRACE`, which `/proc/<pid>/pagemap` and
//! `/proc/<pid>/stack` look at) — so that what it opens gives no more than
//! the program's own credentials would: a file opened this way keeps them
//! as its `f_cred`. Capabilities and groups are per thread too, and are set
//! with raw capset(2) and setgroups(2) calls for the same reason as the ids.
//! Everything changed is restored and read back afterwards, also when the
//! switch fails half-way or the operation unwinds; a thread that cannot be
//! restored aborts the process.

use std::ffi::CStr;
use std::fs::{File, OpenOptions};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::stat::FileStat;

use super::prctl::{self, CapMasks};

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

/// Whom [`act_as`] acts as: the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Identity {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    /// The program has no supplementary groups (it runs as another user);
    /// otherwise it has the broker's own.
    pub(crate) no_groups: bool,
}

/// The largest number of supplementary groups (`NGROUPS_MAX`).
const NGROUPS_MAX: usize = 65536;

/// The calling thread's supplementary groups, in the kernel's order.
fn get_groups() -> Result<Vec<u32>, Errno> {
    loop {
        let n = group_count()?;
        let mut groups = vec![0u32; n];
        let size = libc::c_int::try_from(n).map_err(|_| Errno::EINVAL)?;
        // SAFETY: getgroups(2) writes at most `size` gid_t (u32) values into
        // `groups`, which holds exactly that many and is exclusively borrowed.
        let got = unsafe { libc::syscall(libc::SYS_getgroups, size, groups.as_mut_ptr()) };
        match Errno::result(got) {
            Ok(got) if usize::try_from(got) == Ok(n) => return Ok(groups),
            // The list changed between the two calls: ask again.
            Ok(_) | Err(Errno::EINVAL) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// How many supplementary groups the calling thread has.
fn group_count() -> Result<usize, Errno> {
    // SAFETY: with a size of 0, getgroups(2) only returns the count and
    // writes nothing; the null pointer is never dereferenced.
    let n = Errno::result(unsafe {
        libc::syscall(libc::SYS_getgroups, 0, std::ptr::null_mut::<u32>())
    })?;
    usize::try_from(n).map_err(|_| Errno::EINVAL)
}

/// Sets the calling thread's supplementary groups (raw setgroups(2): this
/// thread only, unlike the C library's, which changes every thread).
fn set_groups(groups: &[u32]) -> Result<(), Errno> {
    if groups.len() > NGROUPS_MAX {
        return Err(Errno::EINVAL);
    }
    // SAFETY: setgroups(2) reads `groups.len()` gid_t (u32) values from
    // `groups`, which is live and holds that many.
    let r = unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) };
    Errno::result(r).map(drop)
}

/// What [`act_as`] changed on the calling thread, as it was: put back when
/// dropped (also when the operation unwinds), read back, and the process
/// aborted when that fails.
struct Saved {
    fsuid: u32,
    fsgid: u32,
    caps: CapMasks,
    /// The supplementary groups, when they were changed.
    groups: Option<Vec<u32>>,
}

impl Saved {
    fn intact(&self) -> bool {
        setfsuid(QUERY) == self.fsuid
            && setfsgid(QUERY) == self.fsgid
            && prctl::capget().is_ok_and(|c| c == self.caps)
            && self
                .groups
                .as_ref()
                .is_none_or(|g| get_groups().is_ok_and(|now| now == *g))
    }
}

impl Drop for Saved {
    fn drop(&mut self) {
        // The effective set first: setgroups needs CAP_SETGID back.
        let _ = prctl::capset(self.caps);
        if let Some(groups) = &self.groups {
            let _ = set_groups(groups);
        }
        setfsuid(self.fsuid);
        setfsgid(self.fsgid);
        // An fsuid back to 0 made the kernel raise the file-system
        // capabilities from the permitted set: put exactly the saved ones.
        if prctl::capget().map_or(true, |c| c != self.caps) {
            let _ = prctl::capset(self.caps);
        }
        if !self.intact() {
            eprintln!("fdbroker: cannot restore a thread's credentials; aborting");
            std::process::abort();
        }
    }
}

/// Makes `call` (one operation: its system calls and nothing that outlives
/// it) on the calling thread as `who`: fsuid and fsgid set to the
/// program's, its supplementary groups, and no effective capability; the
/// real, effective and saved ids and the permitted set stay. Everything is
/// restored afterwards, or the process aborts (see the module
/// documentation).
///
/// Nothing is switched when the thread already is `who` with no effective
/// capability (fdbroker run by the program's own user, without
/// capabilities): then this costs three cheap system calls.
///
/// Errors: `EPERM` when the switch cannot be made (no `CAP_SETUID`,
/// `CAP_SETGID`), or what reading the current credentials failed with;
/// `call` is not made then.
pub(crate) fn act_as<T>(who: Identity, call: impl FnOnce() -> T) -> Result<T, Errno> {
    let caps = prctl::capget().map_err(|e| errno(&e))?;
    let (fsuid, fsgid) = (setfsuid(QUERY), setfsgid(QUERY));
    let extra_groups = who.no_groups && group_count()? > 0;
    if !extra_groups && caps.effective == 0 && (fsuid, fsgid) == (who.uid, who.gid) {
        return Ok(call());
    }
    let mut saved = Saved {
        fsuid,
        fsgid,
        caps,
        groups: None,
    };
    if extra_groups {
        saved.groups = Some(get_groups()?);
        set_groups(&[])?;
    }
    setfsgid(who.gid);
    setfsuid(who.uid);
    if caps.effective != 0 {
        prctl::capset(CapMasks {
            effective: 0,
            ..caps
        })
        .map_err(|e| errno(&e))?;
    }
    let switched = setfsuid(QUERY) == who.uid
        && setfsgid(QUERY) == who.gid
        && prctl::capget().is_ok_and(|c| c.effective == 0)
        && (!who.no_groups || group_count() == Ok(0));
    if !switched {
        // Not permitted (no CAP_SETUID/CAP_SETGID) or out of memory.
        return Err(Errno::EPERM);
    }
    let out = call();
    drop(saved);
    Ok(out)
}

/// Makes `call` (one creation: its system calls and nothing that outlives
/// it) on the calling thread with fsuid and fsgid set to `ids`, keeping
/// every effective capability: what it creates belongs to `ids` from the
/// start (no chown after the fact, which a swap of the name could misdirect),
/// while the broker's own permission to write the directory still applies.
/// The kernel takes the file-system capabilities out of the effective set
/// when the fsuid leaves 0; they are put back from the permitted set here,
/// for the call only. Restored afterwards as [`act_as`] does, or the process
/// aborts.
///
/// Nothing is switched when the fsuid and fsgid already are `ids`.
///
/// Errors: `EPERM` when the switch cannot be made; `call` is not made then.
pub(crate) fn create_as<T>(ids: FsIds, call: impl FnOnce() -> T) -> Result<T, Errno> {
    let (fsuid, fsgid) = (setfsuid(QUERY), setfsgid(QUERY));
    if (fsuid, fsgid) == (ids.uid, ids.gid) {
        return Ok(call());
    }
    let caps = prctl::capget().map_err(|e| errno(&e))?;
    let saved = Saved {
        fsuid,
        fsgid,
        caps,
        groups: None,
    };
    setfsgid(ids.gid);
    setfsuid(ids.uid);
    if prctl::capget().map_or(true, |c| c != caps) {
        prctl::capset(caps).map_err(|e| errno(&e))?;
    }
    let switched = setfsuid(QUERY) == ids.uid
        && setfsgid(QUERY) == ids.gid
        && prctl::capget().is_ok_and(|c| c == caps);
    if !switched {
        return Err(Errno::EPERM);
    }
    let out = call();
    drop(saved);
    Ok(out)
}

/// faccessat2(2) with `AT_EACCESS` of `name` relative to `dir`: `amode`
/// checked for the calling thread's filesystem ids, groups and effective
/// capabilities (what [`act_as`] set), where access(2) would use the real
/// ids. A raw system call: a C library may fall back to the real ids on
/// kernels without faccessat2(2) (before 5.8), which answer `ENOSYS` here.
pub(crate) fn access_effective(dir: BorrowedFd<'_>, name: &CStr, amode: i32) -> Result<(), Errno> {
    // SAFETY: `dir` is a live descriptor borrowed for the call, `name` is
    // NUL-terminated and outlives it; the other arguments are integers.
    let r = unsafe {
        libc::syscall(
            libc::SYS_faccessat2,
            dir.as_raw_fd(),
            name.as_ptr(),
            amode,
            libc::AT_EACCESS,
        )
    };
    Errno::result(r).map(drop)
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

    /// The lines of this thread's `/proc/thread-self/status` that say who
    /// it is: ids, groups, capability sets.
    fn creds() -> Vec<String> {
        let text = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        let wanted = [
            "Uid:", "Gid:", "Groups:", "CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:",
        ];
        text.lines()
            .filter(|l| wanted.iter().any(|w| l.starts_with(w)))
            .map(str::to_string)
            .collect()
    }

    fn line<'a>(lines: &'a [String], key: &str) -> &'a str {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(key))
            .map_or("", str::trim)
    }

    #[test]
    fn acting_as_the_program_changes_one_thread_and_is_restored() {
        let before = creds();
        let (uid, gid) = (setfsuid(QUERY), setfsgid(QUERY));
        let me = Identity {
            uid,
            gid,
            no_groups: false,
        };
        let seen = act_as(me, creds).unwrap();
        assert_eq!(line(&seen, "CapEff:"), "0000000000000000");
        assert_eq!(line(&seen, "Uid:"), line(&before, "Uid:"));
        assert_eq!(creds(), before);
        if uid != 0 {
            // Another user's ids need CAP_SETUID and CAP_SETGID.
            let other = Identity {
                uid: uid.wrapping_add(1),
                gid,
                no_groups: false,
            };
            assert_eq!(act_as(other, || ()), Err(Errno::EPERM));
            assert_eq!(creds(), before);
            return;
        }
        // On a thread of its own, with supplementary groups to take away.
        std::thread::spawn(as_root_with_groups).join().unwrap();
    }

    /// `acting_as_the_program_changes_one_thread_and_is_restored` as root,
    /// on a thread with supplementary groups.
    fn as_root_with_groups() {
        use std::os::unix::fs::PermissionsExt;
        set_groups(&[4242, 4243]).unwrap();
        let before = creds();
        assert_eq!(line(&before, "Groups:"), "4242 4243");
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "root only").unwrap();
        std::fs::set_permissions(&secret, PermissionsExt::from_mode(0o600)).unwrap();
        // Readable only through group 4242.
        let group = dir.path().join("group");
        std::fs::write(&group, "group 4242").unwrap();
        std::os::unix::fs::chown(&group, None, Some(4242)).unwrap();
        std::fs::set_permissions(&group, PermissionsExt::from_mode(0o040)).unwrap();
        let (ask, asked) = mpsc::channel::<()>();
        let (tell, told) = mpsc::channel();
        let bystander = std::thread::spawn(move || {
            while asked.recv().is_ok() {
                let _ = tell.send(creds());
            }
        });
        let theirs_before = {
            ask.send(()).unwrap();
            told.recv().unwrap()
        };
        let nobody = Identity {
            uid: 65534,
            gid: 65534,
            no_groups: true,
        };
        let open = |p: &Path| File::open(p).map(drop).map_err(|e| e.raw_os_error());
        let (inside, secret_opened, group_opened, theirs) = act_as(nobody, || {
            ask.send(()).unwrap();
            let theirs = told.recv().unwrap();
            (creds(), open(&secret), open(&group), theirs)
        })
        .unwrap();
        assert_eq!(line(&inside, "Uid:"), "0\t0\t0\t65534");
        assert_eq!(line(&inside, "Gid:"), "0\t0\t0\t65534");
        assert_eq!(line(&inside, "Groups:"), "");
        assert_eq!(line(&inside, "CapEff:"), "0000000000000000");
        assert_eq!(line(&inside, "CapPrm:"), line(&before, "CapPrm:"));
        assert_eq!(secret_opened, Err(Some(libc::EACCES)));
        assert_eq!(group_opened, Err(Some(libc::EACCES)));
        assert_eq!(
            theirs, theirs_before,
            "another thread keeps its credentials"
        );
        assert_eq!(creds(), before, "restored");
        // A program of the broker's own groups keeps them.
        let with_groups = Identity {
            no_groups: false,
            ..nobody
        };
        assert_eq!(act_as(with_groups, || open(&group)), Ok(Ok(())));
        assert_eq!(creds(), before, "restored");
        // Restored when the operation unwinds, too.
        let unwound = std::panic::catch_unwind(|| act_as(nobody, || panic!("unwinding")));
        assert!(unwound.is_err());
        assert_eq!(creds(), before, "restored after unwinding");
        drop(ask);
        bystander.join().unwrap();
    }
}
