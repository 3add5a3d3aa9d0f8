//! The thread that made a brokered call ([`Caller`]), seen through its
//! memory and `/proc/<tid>`: its path arguments (read from its memory once),
//! its working directory and descriptors, its process, and writes into its
//! memory, each reached the way chosen for the run ([`CallerMemory`]).

use std::cell::{Cell, OnceCell};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use nix::errno::Errno;

use super::memory::CallerMemory;
use super::{Dirfd, Syscall};
use crate::event::{Event, Op, Source};
use crate::metadata::FileStat;
use crate::ops::Context;
use crate::policy::Access;
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

/// One brokered call's view of the thread that made it: its memory and its
/// `/proc/<tid>` files, reached the way chosen for the run
/// ([`CallerMemory`]). Remembers an internal failure to reach them (not the
/// caller's bad address, nor its exit), which the server reports.
pub(super) struct Caller {
    tid: u32,
    way: CallerMemory,
    /// `/proc/<tid>/mem`, opened at most once per call.
    mem: OnceCell<File>,
    /// `mem` was opened for reading too.
    mem_reads: Cell<bool>,
    failure: Cell<Option<Errno>>,
}

impl Caller {
    /// Thread `tid`, reached `way`.
    pub(super) fn new(tid: u32, way: CallerMemory) -> Caller {
        Caller {
            tid,
            way,
            mem: OnceCell::new(),
            mem_reads: Cell::new(false),
            failure: Cell::new(None),
        }
    }

    /// The error with which reaching the thread failed for a reason of
    /// fdbroker's (a permission, a resource), if it did.
    pub(super) fn failure(&self) -> Option<Errno> {
        self.failure.get()
    }

    /// `e`, remembered when it is fdbroker's failure rather than the
    /// caller's (a bad address) or its going away.
    fn note(&self, e: Errno) -> Errno {
        if matches!(
            e,
            Errno::EPERM
                | Errno::EACCES
                | Errno::ENOMEM
                | Errno::EMFILE
                | Errno::ENFILE
                | Errno::ENOSYS
                | Errno::EROFS
        ) && self.failure.get().is_none()
        {
            self.failure.set(Some(e));
        }
        e
    }

    /// Reads the path argument at `addr` and makes it absolute against
    /// `dirfd`. An empty path is `ENOENT` unless `empty_ok`.
    pub(super) fn path_arg(
        &self,
        dirfd: Dirfd,
        addr: u64,
        empty_ok: bool,
    ) -> Result<Target, Errno> {
        thread_local! {
            // Not zeroed anew for every call (this runs on every one).
            static BUF: std::cell::RefCell<Box<[u8; PATH_MAX]>> =
                std::cell::RefCell::new(Box::new([0; PATH_MAX]));
        }
        let requested =
            BUF.with_borrow_mut(|buf| self.read_c_string(addr, &mut buf[..]).map(<[u8]>::to_vec))?;
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
                self.fd_path(dirfd)?.as_os_str().as_bytes(),
                &requested,
            ))
        };
        let requested = PathBuf::from(OsString::from_vec(requested));
        Ok(Target::Path {
            absolute: absolute.unwrap_or_else(|| requested.clone()),
            requested,
        })
    }

    /// A path argument that may not be empty: what the caller wrote, and
    /// its absolute form.
    pub(super) fn path(&self, dirfd: Dirfd, addr: u64) -> Result<(PathBuf, PathBuf), Errno> {
        match self.path_arg(dirfd, addr, false)? {
            Target::Path {
                requested,
                absolute,
            } => Ok((requested, absolute)),
            // Not returned for an argument that may not be empty.
            Target::Fd(_) => Err(Errno::ENOENT),
        }
    }

    /// The requester for `path`: its process (thread group), which
    /// `/proc/self` means. Looked up only for paths under `/proc`;
    /// elsewhere the thread id serves (it matters for nothing else).
    pub(super) fn context(&self, path: &Path) -> Result<Context, Errno> {
        let tid = self.tid;
        if procfs::in_proc(path) {
            let status = std::fs::read(format!("/proc/{tid}/status")).map_err(|_| Errno::ESRCH)?;
            let tgid = procfs::status_tgid(&status).ok_or(Errno::ESRCH)?;
            return Ok(Context {
                pid: Some(tgid),
                program: None,
            });
        }
        Ok(Context {
            pid: Some(tid),
            program: None,
        })
    }

    /// Opens the thread's memory: for writing, and for reading too when
    /// reads go through it. Done before the `ID_VALID` check: the descriptor
    /// stays bound to the address space it was opened on, so once the check
    /// passes, reads and writes cannot reach another process that reused
    /// the pid. Opened once per call.
    ///
    /// Under the direct way, a receiver that still holds the program's
    /// credentials (`sys::creds::hold_between_calls`) opens it with them,
    /// for reading too: process_vm_readv(2) would need the broker's
    /// `CAP_SYS_PTRACE` back, which costs more than this open.
    pub(super) fn open_mem(&self) -> Result<&File, Errno> {
        if let Some(mem) = self.mem.get() {
            return Ok(mem);
        }
        let reads = self.way != CallerMemory::Direct || sys::creds::holding();
        let path = format!("/proc/{}/mem", self.tid);
        let mem = self
            .own(|| sys::creds::open(self.way.ids(), Path::new(&path), !reads))
            .map_err(|e| match e {
                // The thread is gone.
                Errno::ENOENT | Errno::ESRCH => Errno::ESRCH,
                e => self.note(e),
            })?;
        self.mem_reads.set(reads);
        Ok(self.mem.get_or_init(|| mem))
    }

    /// Whether reads go through `/proc/<tid>/mem` ([`Caller::open_mem`]).
    fn reads_mem(&self) -> bool {
        match (self.way, self.mem.get()) {
            (CallerMemory::ProcMem { .. }, _) => true,
            (CallerMemory::Direct, Some(_)) => self.mem_reads.get(),
            (CallerMemory::Direct, None) => sys::creds::holding(),
        }
    }

    /// Runs `step`, which reaches the caller's `/proc` files with the
    /// broker's own credentials under the direct way. A receiver still
    /// holding the program's tries with those first: they reach the files of
    /// a program that may be traced by its own user; where they are refused
    /// (a program that made itself non-dumpable), it settles and tries again.
    fn own<T>(&self, step: impl Fn() -> Result<T, Errno>) -> Result<T, Errno> {
        match step() {
            Err(Errno::EACCES | Errno::EPERM)
                if self.way == CallerMemory::Direct && sys::creds::holding() =>
            {
                sys::creds::settle();
                step()
            }
            r => r,
        }
    }

    /// Writes `bytes` at `addr` through the thread's `/proc/<tid>/mem`,
    /// which [`Caller::open_mem`] opened before the `ID_VALID` check.
    pub(super) fn write_mem(&self, addr: u64, bytes: &[u8]) -> Result<(), Errno> {
        let mem = self.open_mem()?;
        if addr == 0 {
            return Err(Errno::EFAULT);
        }
        mem.write_all_at(bytes, addr).map_err(|_| Errno::EFAULT)
    }

    /// Reads exactly `buf.len()` bytes at `addr`: `EFAULT` when any of them
    /// is unreadable.
    pub(super) fn read_exact(&self, addr: u64, buf: &mut [u8]) -> Result<(), Errno> {
        let r = if self.reads_mem() {
            read_exact_at(self.open_mem()?, addr, buf)
        } else {
            // process_vm_readv(2) with the broker's own credentials.
            sys::creds::settle();
            sys::notify::read_exact(self.tid, addr, buf)
        };
        r.map_err(|e| self.note(e))
    }

    /// The NUL-terminated string at `addr`, at most `buf.len()` bytes.
    pub(super) fn read_c_string<'b>(
        &self,
        addr: u64,
        buf: &'b mut [u8],
    ) -> Result<&'b [u8], Errno> {
        let r = if self.reads_mem() {
            read_c_string_at(self.open_mem()?, addr, buf)
        } else {
            sys::creds::settle();
            sys::notify::read_c_string(self.tid, addr, buf)
        };
        r.map_err(|e| self.note(e))
    }

    /// The absolute path the caller's descriptor `fd` (or its working
    /// directory) refers to, as `/proc/<tid>/{cwd,fd/N}` shows it. `EBADF`
    /// for a descriptor that is not open, `ENOTDIR` for one that has no path
    /// (a pipe, a socket), `ENOENT` for a directory that was removed.
    pub(super) fn fd_path(&self, fd: Dirfd) -> Result<PathBuf, Errno> {
        let link = fd_link(self.tid, fd)?;
        let ids = self.way.ids();
        let target = self.own(|| sys::creds::read_link(ids, Path::new(&link)));
        let target = target.map_err(|e| match e {
            Errno::ENOENT if matches!(fd, Dirfd::Fd(_)) => Errno::EBADF,
            e => self.note(e),
        })?;
        let bytes = target.as_os_str().as_bytes();
        if !bytes.starts_with(b"/") {
            return Err(Errno::ENOTDIR);
        }
        if procfs::maybe_deleted(bytes) {
            // Either a removed directory, or a name that really ends so.
            let st = self
                .own(|| sys::creds::stat(ids, Path::new(&link)))
                .map_err(|_| Errno::ENOENT)?;
            if st.st_nlink == 0 {
                return Err(Errno::ENOENT);
            }
        }
        Ok(target)
    }

    /// `fstat` of the caller's descriptor (or working directory): the
    /// object `/proc/<tid>/{cwd,fd/N}` refers to. Not judged: the caller
    /// holds it.
    pub(super) fn stat_of_fd(&self, fd: Dirfd) -> Result<FileStat, Errno> {
        let link = fd_link(self.tid, fd)?;
        match self.own(|| sys::creds::stat(self.way.ids(), Path::new(&link))) {
            Ok(st) => Ok(FileStat::from(&st)),
            Err(Errno::ENOENT) => Err(Errno::EBADF),
            Err(e) => Err(self.note(e)),
        }
    }
}

impl Caller {
    /// Reports an internal failure to reach the thread, which made its
    /// `syscall` (operation `op`) fail with `errno`: a line on standard
    /// error (the first [`MAX_REPORTED`] times) and an event for the audit
    /// log, with nothing judged and the errno the call got.
    pub(super) fn report(
        &self,
        observer: Option<&(dyn Fn(&Event<'_>) + Send + Sync)>,
        syscall: &'static str,
        op: Op,
        errno: Errno,
    ) {
        let n = REPORTED.fetch_add(1, Ordering::Relaxed);
        if n < MAX_REPORTED {
            eprintln!(
                "fdbroker: error: cannot reach the memory or /proc files of thread {tid} to \
                 answer its {syscall}: {errno}; the call fails with {name}{more}",
                tid = self.tid,
                name = errno_name(errno),
                more = if n + 1 == MAX_REPORTED {
                    " (further such errors are only in the audit log)"
                } else {
                    ""
                },
            );
        }
        if let Some(observer) = observer {
            observer(&Event {
                pid: Some(self.tid),
                source: Source::Seccomp,
                syscall: Some(syscall),
                op,
                path: Path::new(""),
                resolved: None,
                flags: None,
                mode: None,
                access: Access::empty(),
                decision: None,
                errno: Some(errno),
                absent: false,
            });
        }
    }
}

/// Internal failures shown on standard error per process; all are audited.
const MAX_REPORTED: u32 = 20;
static REPORTED: AtomicU32 = AtomicU32::new(0);

/// `EACCES` rather than nix's `EACCES: Permission denied`.
fn errno_name(e: Errno) -> String {
    let text = e.to_string();
    text.split(':').next().unwrap_or_default().to_string()
}

/// The operation a call performs, as the audit log names it.
pub(super) fn op(call: &Syscall) -> Op {
    match call {
        // A memfd is a descriptor made for the caller, as an open is.
        Syscall::Open(_) | Syscall::Openat2(_) | Syscall::MemfdCreate(_) => Op::Open,
        // Checked as whether the program may see the path.
        Syscall::Stat(_) | Syscall::Statx(_) | Syscall::Lookup(_) => Op::Stat,
        Syscall::Access(_) => Op::Access,
        Syscall::Readlink(_) => Op::Readlink,
        Syscall::Mkdir(_) => Op::Mkdir,
        Syscall::Unlink(c) if c.removes_dir() => Op::Rmdir,
        Syscall::Unlink(_) => Op::Unlink,
        Syscall::Rename(_) => Op::Rename,
        Syscall::Link(_) => Op::Link,
        Syscall::Symlink(_) => Op::Symlink,
        Syscall::Chmod(_) => Op::Chmod,
        Syscall::Utimes(_) => Op::Utimes,
    }
}

/// Reads exactly `buf.len()` bytes at `addr` through `mem`.
fn read_exact_at(mem: &File, addr: u64, buf: &mut [u8]) -> Result<(), Errno> {
    if addr == 0 {
        return Err(Errno::EFAULT);
    }
    let mut done = 0;
    while done < buf.len() {
        let at = addr.checked_add(done as u64).ok_or(Errno::EFAULT)?;
        match read_at(mem, at, &mut buf[done..])? {
            0 => return Err(Errno::EFAULT),
            n => done += n,
        }
    }
    Ok(())
}

/// The NUL-terminated string at `addr` read through `mem`, without the NUL:
/// `EFAULT` when it is unreadable (or `addr` is NULL), `ENAMETOOLONG` when
/// no NUL is found within `buf.len()` bytes. A read stops short at the first
/// page it cannot read, so a string that ends just before one is read
/// whole. As with process_vm_readv, most paths are short: the first read
/// asks for at most 256 bytes. Unlike process_vm_readv (and the kernel's
/// own copy of a path), `mem` also reads pages the caller mapped but made
/// inaccessible (`PROT_NONE`): memory the caller could read anyway.
fn read_c_string_at<'b>(mem: &File, addr: u64, buf: &'b mut [u8]) -> Result<&'b [u8], Errno> {
    const PROBE: usize = 256;
    if addr == 0 {
        return Err(Errno::EFAULT);
    }
    let mut done = 0usize;
    while done < buf.len() {
        let at = addr.checked_add(done as u64).ok_or(Errno::EFAULT)?;
        let want = if done == 0 {
            PROBE.min(buf.len())
        } else {
            buf.len()
        };
        let got = read_at(mem, at, &mut buf[done..want])?;
        if let Some(end) = buf[done..done + got].iter().position(|&b| b == 0) {
            return Ok(&buf[..done + end]);
        }
        if got == 0 {
            return Err(Errno::EFAULT);
        }
        done += got;
    }
    Err(Errno::ENAMETOOLONG)
}

/// One pread(2) of `mem` at `addr`: 0 when nothing there is readable (the
/// kernel's `EIO`, or an address space that is gone).
fn read_at(mem: &File, addr: u64, buf: &mut [u8]) -> Result<usize, Errno> {
    match mem.read_at(buf, addr) {
        Ok(n) => Ok(n),
        Err(e) => match e.raw_os_error() {
            Some(libc::EIO) | Some(libc::EFAULT) | Some(libc::EINVAL) | Some(libc::EOVERFLOW) => {
                Ok(0)
            }
            Some(code) => Err(Errno::from_raw(code)),
            None => Err(Errno::EIO),
        },
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

    /// The `/proc/<tid>/mem` readers, on our own memory.
    #[test]
    fn mem_readers_read_strings_and_refuse_bad_addresses() {
        let mem = File::open("/proc/self/mem").unwrap();
        let mut buf = [0u8; 4096];
        for len in [0usize, 1, 255, 256, 257, 4000, 4095] {
            let mut text = vec![b'a'; len];
            text.push(0);
            let got = read_c_string_at(&mem, text.as_ptr() as u64, &mut buf);
            assert_eq!(got.map(<[u8]>::len), Ok(len), "{len}");
        }
        let long = vec![b'a'; 5000];
        assert_eq!(
            read_c_string_at(&mem, long.as_ptr() as u64, &mut buf),
            Err(Errno::ENAMETOOLONG)
        );
        let mut four = [0u8; 4];
        assert_eq!(read_exact_at(&mem, long.as_ptr() as u64, &mut four), Ok(()));
        assert_eq!(&four, b"aaaa");
        for addr in [0, u64::MAX, u64::MAX - 1, u64::MAX - 4095, 1 << 63] {
            assert_eq!(
                read_c_string_at(&mem, addr, &mut buf),
                Err(Errno::EFAULT),
                "{addr:#x}"
            );
            assert_eq!(
                read_exact_at(&mem, addr, &mut four),
                Err(Errno::EFAULT),
                "{addr:#x}"
            );
        }
    }
}
