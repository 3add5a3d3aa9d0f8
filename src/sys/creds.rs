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
//!
//! A thread that answers nothing but one program's calls (a notification
//! receiver, [`hold_between_calls`]) may instead keep what
//! [`act_as_and_keep`] took on until it needs its own credentials again
//! ([`settle`]): a program's calls mostly ask for what a profile grants,
//! and each switch and restore is three credential changes. Such a thread
//! then rests with *less* than its own credentials (the program's
//! filesystem ids and groups, no effective capability; its real, effective
//! and saved ids unchanged, so nothing more may signal or trace it), and
//! every operation that needs the broker's own credentials settles first:
//! [`create_as`] does, and so do the engine's ways to objects the policy's
//! own rules grant.

use std::cell::{Cell, RefCell};
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

/// The capabilities the kernel takes out of the effective set when the
/// fsuid leaves 0, and raises from the permitted set when it comes back
/// (`CAP_FS_MASK`: chown, dac_override, dac_read_search, fowner, fsetid,
/// linux_immutable, mknod, mac_override).
const FS_CAPS: u64 = 1 << 0 | 1 << 1 | 1 << 2 | 1 << 3 | 1 << 4 | 1 << 9 | 1 << 27 | 1 << 32;

/// Sets the fsgid, then the fsuid, to `to`, leaving out a change to what
/// `known` (the current ids, when read already) says they are: a no-op
/// change still makes the kernel copy the credentials. Returns the ids as
/// they were.
fn borrow_ids(to: FsIds, known: Option<FsIds>) -> FsIds {
    let gid = match known {
        Some(k) if k.gid == to.gid => k.gid,
        _ => setfsgid(to.gid),
    };
    let uid = match known {
        Some(k) if k.uid == to.uid => k.uid,
        _ => setfsuid(to.uid),
    };
    FsIds { uid, gid }
}

/// Whether the calling thread's fsuid and fsgid are `ids` (two queries
/// that copy nothing).
fn has_ids(ids: FsIds) -> bool {
    setfsuid(QUERY) == ids.uid && setfsgid(QUERY) == ids.gid
}

/// Gives the calling thread the capability sets `want` and reads them
/// back: whether they are. `changed` says they certainly differ now, so
/// that the one capget(2) after the capset(2) both sets and verifies;
/// otherwise they are read first and set only when they differ (each
/// capset(2) copies and replaces the credentials).
fn set_caps(want: CapMasks, changed: bool) -> bool {
    if !changed && prctl::capget().is_ok_and(|c| c == want) {
        return true;
    }
    prctl::capset(want).is_ok() && prctl::capget().is_ok_and(|c| c == want)
}

/// What [`act_as`] or [`create_as`] changed on the calling thread, as it
/// was: put back when dropped (also when the operation unwinds), read
/// back, and the process aborted when that fails.
struct Saved {
    ids: FsIds,
    caps: CapMasks,
    /// The supplementary groups, when they were changed.
    groups: Option<Vec<u32>>,
    /// The ids borrowed: an id that is the saved one needs no change back.
    borrowed: FsIds,
    /// The saved capabilities certainly differ from the thread's once its
    /// ids are back: set them without reading them first.
    caps_changed: bool,
}

impl Saved {
    /// Puts everything back with as few credential changes as the kernel
    /// allows, each read back once: whether all is as it was.
    fn restore(&self) -> bool {
        // The ids first: an fsuid back to 0 makes the kernel raise the
        // file-system capabilities from the permitted set, which the one
        // capset after overrides with exactly the saved ones. The real,
        // effective or saved ids permit going back to fs ids that follow
        // them without any capability.
        borrow_ids(self.ids, Some(self.borrowed));
        let mut ids = has_ids(self.ids);
        let mut caps_changed = self.caps_changed;
        if !ids {
            // Other fs ids need CAP_SETUID and CAP_SETGID, which the saved
            // effective set may lack (such a thread may take on its real
            // uid as fsuid, but not go back): every permitted capability is
            // made effective for the change, the saved set put back after.
            let all = CapMasks {
                effective: self.caps.permitted,
                ..self.caps
            };
            caps_changed |= prctl::capset(all).is_ok();
            setfsgid(self.ids.gid);
            setfsuid(self.ids.uid);
            ids = has_ids(self.ids);
        }
        let caps = set_caps(self.caps, caps_changed);
        // After the capabilities: setgroups needs CAP_SETGID.
        let groups = self
            .groups
            .as_ref()
            .is_none_or(|g| set_groups(g).is_ok() && get_groups().is_ok_and(|now| now == *g));
        ids && caps && groups
    }
}

impl Drop for Saved {
    fn drop(&mut self) {
        if !self.restore() {
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
/// capabilities): then this costs three or four cheap system calls.
/// Otherwise the switch makes at most four credential changes (groups,
/// fsgid, fsuid, capabilities: each only where it changes something) and
/// the restore as many, each read back once.
///
/// Errors: `EPERM` when the switch cannot be made (no `CAP_SETUID`,
/// `CAP_SETGID`), or what reading the current credentials failed with;
/// `call` is not made then.
pub(crate) fn act_as<T>(who: Identity, call: impl FnOnce() -> T) -> Result<T, Errno> {
    switch_to(who, After::Restore, call)
}

/// [`act_as`], except that on a thread that [`hold_between_calls`] the
/// program's credentials stay in place afterwards, until [`settle`]: for
/// the last step of an operation, after which nothing is done with the
/// broker's own.
pub(crate) fn act_as_and_keep<T>(who: Identity, call: impl FnOnce() -> T) -> Result<T, Errno> {
    switch_to(who, After::Keep, call)
}

/// What [`switch_to`] does after the operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// Puts back the thread's own credentials.
    Restore,
    /// Keeps the program's on a thread that holds them between calls.
    Keep,
}

fn switch_to<T>(who: Identity, after: After, call: impl FnOnce() -> T) -> Result<T, Errno> {
    match HELD.with_borrow(|h| h.as_ref().map(|h| h.who)) {
        Some(held) if held == who => {
            // Nothing but this module changes the thread's credentials.
            if !has_ids(FsIds {
                uid: who.uid,
                gid: who.gid,
            }) {
                eprintln!("fdbroker: a thread's held credentials changed; aborting");
                std::process::abort();
            }
            return Ok(within(call));
        }
        Some(_) => {
            settle();
            if holding() {
                // Inside an operation as someone else, which keeps its
                // credentials to its end: never switch from those (the
                // kernel would refuse too: they hold no CAP_SETUID).
                return Err(Errno::EPERM);
            }
        }
        None => {}
    }
    let caps = prctl::capget().map_err(|e| errno(&e))?;
    let extra_groups = who.no_groups && group_count()? > 0;
    let to = FsIds {
        uid: who.uid,
        gid: who.gid,
    };
    // With capabilities to drop the switch is certain: the ids it needs
    // come back from the changes themselves.
    let known = if caps.effective == 0 && !extra_groups {
        let now = FsIds {
            uid: setfsuid(QUERY),
            gid: setfsgid(QUERY),
        };
        if now == to {
            return Ok(within(call));
        }
        Some(now)
    } else {
        None
    };
    let groups = if extra_groups {
        Some(get_groups()?)
    } else {
        None
    };
    let saved = Saved {
        ids: borrow_ids(to, known),
        caps,
        groups,
        borrowed: to,
        // Capabilities outside the file-system ones are certainly taken
        // out below and certainly missing after the fsuid is back.
        caps_changed: caps.effective & !FS_CAPS != 0,
    };
    // setgroups needs CAP_SETGID, which a new fsuid does not take away.
    let groups_dropped =
        saved.groups.is_none() || (set_groups(&[]).is_ok() && group_count() == Ok(0));
    let none = CapMasks {
        effective: 0,
        ..caps
    };
    // The groups count was read above when they were not changed.
    let switched = groups_dropped && has_ids(to) && set_caps(none, saved.caps_changed);
    if !switched {
        // Not permitted (no CAP_SETUID/CAP_SETGID) or out of memory.
        return Err(Errno::EPERM);
    }
    let out = within(call);
    if after == After::Keep && HOLDS.get() {
        HELD.set(Some(Held { who, saved }));
    } else {
        drop(saved);
    }
    Ok(out)
}

thread_local! {
    /// This thread keeps what [`act_as_and_keep`] took on
    /// ([`hold_between_calls`]).
    static HOLDS: Cell<bool> = const { Cell::new(false) };
    /// What this thread keeps, and how to put it back ([`settle`]).
    static HELD: RefCell<Option<Held>> = const { RefCell::new(None) };
    /// How many [`act_as`] operations the thread is inside.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Runs `call` as [`act_as`]'s operation: [`settle`] does nothing inside
/// it, so whatever it calls stays with the program's credentials.
fn within<T>(call: impl FnOnce() -> T) -> T {
    struct Inside;
    impl Drop for Inside {
        fn drop(&mut self) {
            DEPTH.set(DEPTH.get() - 1);
        }
    }
    DEPTH.set(DEPTH.get() + 1);
    let _inside = Inside;
    call()
}

/// Credentials [`act_as_and_keep`] took on and left in place.
struct Held {
    who: Identity,
    /// Put back when dropped, or the process aborts.
    saved: Saved,
}

/// From now on the calling thread keeps the credentials
/// [`act_as_and_keep`] takes on after the operation, until [`settle`] (or
/// an operation as someone else) puts its own back: a run of operations as
/// the program then costs one switch. For a thread that does nothing in
/// between that needs its own credentials without settling first (see the
/// module documentation).
pub(crate) fn hold_between_calls() {
    HOLDS.set(true);
}

/// Puts back the calling thread's own credentials if [`act_as_and_keep`]
/// left the program's in place (read back; the process aborts when they
/// cannot be); nothing otherwise, and nothing inside an `act_as` operation
/// (which keeps the program's to its end). Call before anything that needs
/// them.
pub(crate) fn settle() {
    if DEPTH.get() > 0 {
        // Inside an operation as the program: it stays so to its end.
        return;
    }
    if let Some(held) = HELD.take() {
        drop(held.saved);
    }
}

/// Whether the calling thread holds the program's credentials now
/// ([`hold_between_calls`]).
pub(crate) fn holding() -> bool {
    HELD.with_borrow(Option::is_some)
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
    // The broker's own permission to write the directory applies.
    settle();
    let now = FsIds {
        uid: setfsuid(QUERY),
        gid: setfsgid(QUERY),
    };
    if now == ids {
        return Ok(call());
    }
    let caps = prctl::capget().map_err(|e| errno(&e))?;
    let saved = Saved {
        ids: borrow_ids(ids, Some(now)),
        caps,
        groups: None,
        borrowed: ids,
        caps_changed: false,
    };
    // An fsuid leaving 0 took the file-system capabilities out of the
    // effective set: put back at once, the read-back verifying it.
    let lost = now.uid == 0 && ids.uid != 0 && caps.effective & FS_CAPS != 0;
    if !(has_ids(ids) && set_caps(caps, lost)) {
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

    /// `CAP_DAC_OVERRIDE` (1), a file-system capability.
    const DAC_OVERRIDE: u64 = 1 << 1;

    #[test]
    fn every_credential_is_put_back_exactly_whatever_the_thread_had() {
        let (uid, gid) = (setfsuid(QUERY), setfsgid(QUERY));
        if uid != 0 {
            // Without root only the thread's own ids can be taken on, and
            // then nothing is switched.
            let before = creds();
            let me = FsIds { uid, gid };
            assert_eq!(create_as(me, creds), Ok(before.clone()));
            assert_eq!(creds(), before);
            return;
        }
        let nobody = Identity {
            uid: 65534,
            gid: 65534,
            no_groups: true,
        };
        let root = Identity {
            uid: 0,
            gid: 0,
            no_groups: false,
        };
        let caps = prctl::capget().unwrap();
        assert_ne!(
            caps.permitted & DAC_OVERRIDE,
            0,
            "root has CAP_DAC_OVERRIDE"
        );
        // Each case on a thread of its own, set up as the case says; inside
        // `act_as` no capability, inside `create_as` the thread's own.
        let case = |name: &'static str, setup: fn(CapMasks), who: Identity| {
            std::thread::spawn(move || {
                setup(caps);
                let before = creds();
                let inside = act_as(who, creds).unwrap();
                assert_eq!(line(&inside, "CapEff:"), "0000000000000000", "{name}");
                assert_eq!(
                    line(&inside, "Uid:").rsplit('\t').next(),
                    Some(who.uid.to_string().as_str()),
                    "{name}"
                );
                assert_eq!(creds(), before, "{name}: restored after act_as");
                let ids = FsIds {
                    uid: who.uid,
                    gid: who.gid,
                };
                let inside = create_as(ids, creds).unwrap();
                assert_eq!(line(&inside, "CapEff:"), line(&before, "CapEff:"), "{name}");
                assert_eq!(
                    line(&inside, "Gid:").rsplit('\t').next(),
                    Some(who.gid.to_string().as_str()),
                    "{name}"
                );
                assert_eq!(creds(), before, "{name}: restored after create_as");
            })
            .join()
            .unwrap();
        };
        // A file-system capability not effective though permitted: the
        // kernel raises it when the fsuid is 0 again, the restore not.
        case(
            "without CAP_DAC_OVERRIDE",
            |c| {
                let effective = c.effective & !DAC_OVERRIDE;
                prctl::capset(CapMasks { effective, ..c }).unwrap();
            },
            nobody,
        );
        // Only file-system capabilities, and the thread's own fs ids (no
        // CAP_SETUID to take on others): no id changes, only the capset.
        case(
            "file-system capabilities only",
            |c| {
                let effective = c.effective & FS_CAPS;
                prctl::capset(CapMasks { effective, ..c }).unwrap();
            },
            root,
        );
        // Fs ids that are none of the real, effective and saved ones: going
        // back to them needs CAP_SETUID and CAP_SETGID back first.
        case(
            "fs ids of their own",
            |_| {
                setfsgid(4321);
                setfsuid(4321);
                assert_eq!((setfsuid(QUERY), setfsgid(QUERY)), (4321, 4321));
            },
            nobody,
        );
        // No effective capability, another fsuid: acting as root makes the
        // kernel raise the file-system capabilities, which must go again.
        case(
            "no effective capability",
            |c| {
                setfsuid(65534);
                prctl::capset(CapMasks { effective: 0, ..c }).unwrap();
            },
            root,
        );
        // The broker's own ids: only the capabilities change.
        case(
            "the broker's own ids",
            |_| set_groups(&[4242]).unwrap(),
            Identity {
                uid: 0,
                gid: 0,
                no_groups: true,
            },
        );
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

    #[test]
    fn a_holding_thread_keeps_the_programs_credentials_until_it_settles() {
        let (uid, gid) = (setfsuid(QUERY), setfsgid(QUERY));
        if uid != 0 {
            // Without root only the thread's own ids can be taken on: nothing
            // is switched, so nothing is held.
            std::thread::spawn(move || {
                hold_between_calls();
                let before = creds();
                let me = Identity {
                    uid,
                    gid,
                    no_groups: false,
                };
                assert!(act_as_and_keep(me, || ()).is_ok());
                assert!(!holding());
                assert_eq!(creds(), before);
            })
            .join()
            .unwrap();
            return;
        }
        std::thread::spawn(|| {
            let nobody = Identity {
                uid: 65534,
                gid: 65534,
                no_groups: true,
            };
            let before = creds();
            // Without the opt-in nothing is kept.
            let inside = act_as_and_keep(nobody, creds).unwrap();
            assert!(!holding());
            assert_eq!(creds(), before);
            hold_between_calls();
            // The same credentials inside, kept afterwards (and they are not
            // the thread's own: the control).
            assert_eq!(act_as_and_keep(nobody, creds).unwrap(), inside);
            assert!(holding());
            assert_eq!(creds(), inside);
            assert_ne!(inside, before);
            // An operation while they are held runs with them, keeps them,
            // and a settle inside it changes nothing.
            assert_eq!(act_as(nobody, creds).unwrap(), inside);
            assert_eq!(act_as(nobody, || (settle(), creds()).1).unwrap(), inside);
            assert!(holding());
            // A creation settles first: the broker's capabilities are back.
            let ids = FsIds {
                uid: 65534,
                gid: 65534,
            };
            let made = create_as(ids, creds).unwrap();
            assert_eq!(line(&made, "CapEff:"), line(&before, "CapEff:"));
            assert!(!holding());
            assert_eq!(creds(), before);
            // Settling puts back exactly what the thread had.
            act_as_and_keep(nobody, || ()).unwrap();
            settle();
            assert!(!holding());
            assert_eq!(creds(), before);
            // Someone else: the held credentials go first.
            let other = Identity {
                uid: 4321,
                gid: 4321,
                no_groups: true,
            };
            act_as_and_keep(nobody, || ()).unwrap();
            // Not inside an operation as the one held, though: that keeps its
            // credentials to its end, and nothing switches from them.
            let inner = act_as(nobody, || (act_as(other, || ()), creds()));
            assert_eq!(inner, Ok((Err(Errno::EPERM), inside.clone())));
            assert!(holding());
            let theirs = act_as_and_keep(other, creds).unwrap();
            assert_eq!(line(&theirs, "Uid:"), "0\t0\t0\t4321");
            settle();
            assert_eq!(creds(), before);
        })
        .join()
        .unwrap();
    }
}
