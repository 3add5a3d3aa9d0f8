//! Serving seccomp user notifications: the broker side of `fdbroker run`.
//!
//! The confined program never learns it is confined: its `open`, `stat`,
//! `access` and `readlink` system calls (and their `*at`, `openat2`, `creat`,
//! `lstat`, `newfstatat`, `statx`, `faccessat2` forms) stop in the kernel and
//! are delivered to the broker through a seccomp listener (seccomp_unotify(2)).
//! The broker
//!
//! 1. reads the path from the caller's memory once (process_vm_readv(2), at
//!    most `PATH_MAX` bytes, never trusting it to stay the same afterwards);
//! 2. makes it absolute: a relative path is joined to the caller's working
//!    directory (`/proc/<tid>/cwd`) or to the directory its `dirfd` refers to
//!    (`/proc/<tid>/fd/<n>`);
//! 3. checks `SECCOMP_IOCTL_NOTIF_ID_VALID`, so everything read so far is
//!    known to be about the thread that is still waiting;
//! 4. runs the same engine as the socketpair protocol ([`Ops`]: race-free
//!    resolution, judging the canonical path, acting on exactly what was
//!    judged), with `/proc/self` meaning the caller's process;
//! 5. answers: a descriptor is installed in the caller with
//!    `SECCOMP_IOCTL_NOTIF_ADDFD` + `SECCOMP_ADDFD_FLAG_SEND` (honouring
//!    `O_CLOEXEC`); metadata is written into the caller's buffer through
//!    `/proc/<tid>/mem`, opened *before* the `ID_VALID` check so it cannot
//!    belong to a process that reused the pid; errors are returned as errno.
//!
//! A path system call is never answered with `SECCOMP_USER_NOTIF_FLAG_CONTINUE`:
//! letting the kernel run the call would make it re-read a path the caller
//! can change after we judged it.
//!
//! `fstat(fd)` (glibc implements it as `newfstatat(fd, "", buf,
//! AT_EMPTY_PATH)`) and `statx(fd, "", AT_EMPTY_PATH)` arrive here too: they
//! name no path, only a descriptor the caller already holds, so they are
//! answered without judging, from `/proc/<tid>/fd/<n>`.
//!
//! Notifications are received and answered by one thread, with no hand-off
//! between threads on the way; a monitor adds threads within a few
//! milliseconds when calls block (a slow open — a FIFO, a hung NFS server —
//! stalls the other processes of the sandbox for at most that long).

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use nix::errno::Errno;
use seccompiler::sock_filter;

use crate::audit::{Event, Source};
use crate::metadata::FileStat;
use crate::ops::{Context, Ops, Outcome};
use crate::policy::Judge;
use crate::sys;

/// `AUDIT_ARCH_X86_64`.
const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
/// x32 system calls carry this bit in their number.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// `PATH_MAX`, including the terminating NUL.
const PATH_MAX: usize = 4096;

/// The system calls the notification filter sends to the broker, by name and
/// x86-64 number.
pub const BROKERED_SYSCALLS: [(&str, i64); 13] = [
    ("open", libc::SYS_open),
    ("openat", libc::SYS_openat),
    ("openat2", libc::SYS_openat2),
    ("creat", libc::SYS_creat),
    ("stat", libc::SYS_stat),
    ("lstat", libc::SYS_lstat),
    ("newfstatat", libc::SYS_newfstatat),
    ("statx", libc::SYS_statx),
    ("access", libc::SYS_access),
    ("faccessat", libc::SYS_faccessat),
    ("faccessat2", libc::SYS_faccessat2),
    ("readlink", libc::SYS_readlink),
    ("readlinkat", libc::SYS_readlinkat),
];

// Classic BPF opcodes (linux/bpf_common.h) and seccomp return values.
const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;
const RET_ALLOW: u32 = 0x7fff_0000;
const RET_USER_NOTIF: u32 = 0x7fc0_0000;
const RET_ERRNO_ENOSYS: u32 = 0x0005_0000 | libc::ENOSYS as u32;

/// The user-notification filter: every call in [`BROKERED_SYSCALLS`] returns
/// `SECCOMP_RET_USER_NOTIF`, everything else `SECCOMP_RET_ALLOW`. Foreign
/// ABIs are refused first, before any number is compared: a call with an
/// `arch` other than x86-64 (i386 via `int 0x80`) or with the x32 bit set
/// fails with `ENOSYS` (the deny filter installed after it kills for those,
/// and the most severe action wins).
///
/// ```text
///  0: ld  [4]                  ; arch
///  1: jeq #0xc000003e, 1, 0    ; x86-64 → 3
///  2: ret #ERRNO(ENOSYS)
///  3: ld  [0]                  ; nr
///  4: jset #0x40000000, 15, 0  ; x32 → 20
///  5: jeq #2, 13, 0            ; open → 19
///  ...                         ; one jeq per brokered call
/// 17: jeq #89, 1, 0            ; readlinkat → 19
/// 18: ret #ALLOW
/// 19: ret #USER_NOTIF
/// 20: ret #ERRNO(ENOSYS)
/// ```
///
/// Install it with `SECCOMP_FILTER_FLAG_NEW_LISTENER`
/// ([`crate::confine::install_with_listener`]).
pub fn notify_filter() -> Vec<sock_filter> {
    let n = BROKERED_SYSCALLS.len();
    let stmt = |code, k| sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |code, k, jt, jf| sock_filter { code, jt, jf, k };
    let mut prog = vec![
        stmt(LD_W_ABS, 4),
        jump(JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
        stmt(RET_K, RET_ERRNO_ENOSYS),
        stmt(LD_W_ABS, 0),
        // From index 4, skip the n compares, ALLOW and USER_NOTIF.
        jump(JSET_K, X32_SYSCALL_BIT, (n + 2) as u8, 0),
    ];
    for (i, (_, nr)) in BROKERED_SYSCALLS.iter().enumerate() {
        // From compare i, skip the remaining compares and ALLOW.
        prog.push(jump(JEQ_K, *nr as u32, (n - i) as u8, 0));
    }
    prog.push(stmt(RET_K, RET_ALLOW));
    prog.push(stmt(RET_K, RET_USER_NOTIF));
    prog.push(stmt(RET_K, RET_ERRNO_ENOSYS));
    prog
}

/// Where a relative path starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dirfd {
    /// `AT_FDCWD`, or a call without a `dirfd` argument: the working directory.
    Cwd,
    /// A descriptor number in the caller.
    Fd(i32),
}

impl Dirfd {
    fn from_arg(arg: u64) -> Dirfd {
        // The kernel reads dirfd as an int: only the low 32 bits count.
        match arg as u32 as i32 {
            libc::AT_FDCWD => Dirfd::Cwd,
            fd => Dirfd::Fd(fd),
        }
    }
}

/// What a brokered system call asks, decoded from its raw arguments. Pure:
/// pointers are not followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Call {
    /// `open`, `openat`, `creat`.
    Open {
        /// Start of a relative path.
        dirfd: Dirfd,
        /// Address of the path.
        path: u64,
        /// open(2) flags.
        flags: i32,
        /// Mode for a created file.
        mode: u32,
    },
    /// `openat2`: flags, mode and resolve flags are in a `struct open_how`.
    Openat2 {
        /// Start of a relative path.
        dirfd: Dirfd,
        /// Address of the path.
        path: u64,
        /// Address of the `struct open_how`.
        how: u64,
        /// Its size as passed.
        size: u64,
    },
    /// `stat`, `lstat`, `newfstatat`: a `struct stat` is written to `buf`.
    Stat {
        /// Start of a relative path.
        dirfd: Dirfd,
        /// Address of the path.
        path: u64,
        /// Address of the caller's `struct stat`.
        buf: u64,
        /// `AT_*` flags (`lstat` is `AT_SYMLINK_NOFOLLOW`).
        flags: i32,
    },
    /// `statx`: a `struct statx` is written to `buf`.
    Statx {
        /// Start of a relative path.
        dirfd: Dirfd,
        /// Address of the path (NULL allowed with `AT_EMPTY_PATH`).
        path: u64,
        /// `AT_*` flags.
        flags: i32,
        /// `STATX_*` mask asked for.
        mask: u32,
        /// Address of the caller's `struct statx`.
        buf: u64,
    },
    /// `access`, `faccessat`, `faccessat2`.
    Access {
        /// Start of a relative path.
        dirfd: Dirfd,
        /// Address of the path.
        path: u64,
        /// `F_OK` or `R_OK|W_OK|X_OK`.
        mode: i32,
        /// `AT_*` flags (0 but for `faccessat2`).
        flags: i32,
    },
    /// `readlink`, `readlinkat`.
    Readlink {
        /// Start of a relative path.
        dirfd: Dirfd,
        /// Address of the path.
        path: u64,
        /// Address of the caller's buffer.
        buf: u64,
        /// Its size.
        size: i32,
    },
}

/// Decodes brokered system call `nr` with raw arguments `args` into its
/// name and [`Call`]; `None` for any other number.
///
/// ```
/// use fdbroker::notify::{decode, Call, Dirfd};
/// let (name, call) = decode(libc::SYS_openat, [libc::AT_FDCWD as u64, 0x1000, 0o2, 0, 0, 0]).unwrap();
/// assert_eq!(name, "openat");
/// assert_eq!(call, Call::Open { dirfd: Dirfd::Cwd, path: 0x1000, flags: libc::O_RDWR, mode: 0 });
/// assert!(decode(libc::SYS_read, [0; 6]).is_none());
/// ```
pub fn decode(nr: i64, args: [u64; 6]) -> Option<(&'static str, Call)> {
    let name = BROKERED_SYSCALLS.iter().find(|(_, n)| *n == nr)?.0;
    let int = |a: u64| a as u32 as i32;
    let call = match nr {
        libc::SYS_open => Call::Open {
            dirfd: Dirfd::Cwd,
            path: args[0],
            flags: int(args[1]),
            mode: args[2] as u32,
        },
        libc::SYS_creat => Call::Open {
            dirfd: Dirfd::Cwd,
            path: args[0],
            flags: libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC,
            mode: args[1] as u32,
        },
        libc::SYS_openat => Call::Open {
            dirfd: Dirfd::from_arg(args[0]),
            path: args[1],
            flags: int(args[2]),
            mode: args[3] as u32,
        },
        libc::SYS_openat2 => Call::Openat2 {
            dirfd: Dirfd::from_arg(args[0]),
            path: args[1],
            how: args[2],
            size: args[3],
        },
        libc::SYS_stat => Call::Stat {
            dirfd: Dirfd::Cwd,
            path: args[0],
            buf: args[1],
            flags: 0,
        },
        libc::SYS_lstat => Call::Stat {
            dirfd: Dirfd::Cwd,
            path: args[0],
            buf: args[1],
            flags: libc::AT_SYMLINK_NOFOLLOW,
        },
        libc::SYS_newfstatat => Call::Stat {
            dirfd: Dirfd::from_arg(args[0]),
            path: args[1],
            buf: args[2],
            flags: int(args[3]),
        },
        libc::SYS_statx => Call::Statx {
            dirfd: Dirfd::from_arg(args[0]),
            path: args[1],
            flags: int(args[2]),
            mask: args[3] as u32,
            buf: args[4],
        },
        libc::SYS_access => Call::Access {
            dirfd: Dirfd::Cwd,
            path: args[0],
            mode: int(args[1]),
            flags: 0,
        },
        libc::SYS_faccessat => Call::Access {
            dirfd: Dirfd::from_arg(args[0]),
            path: args[1],
            mode: int(args[2]),
            flags: 0,
        },
        libc::SYS_faccessat2 => Call::Access {
            dirfd: Dirfd::from_arg(args[0]),
            path: args[1],
            mode: int(args[2]),
            flags: int(args[3]),
        },
        libc::SYS_readlink => Call::Readlink {
            dirfd: Dirfd::Cwd,
            path: args[0],
            buf: args[1],
            size: int(args[2]),
        },
        libc::SYS_readlinkat => Call::Readlink {
            dirfd: Dirfd::from_arg(args[0]),
            path: args[1],
            buf: args[2],
            size: int(args[3]),
        },
        _ => return None,
    };
    Some((name, call))
}

/// Size of `struct stat` on x86-64.
pub const STAT_SIZE: usize = 144;
/// Size of `struct statx`.
pub const STATX_SIZE: usize = 256;

/// `st` as the bytes of an x86-64 `struct stat` (stat(3type)).
pub fn encode_stat(st: &FileStat) -> [u8; STAT_SIZE] {
    let mut b = [0u8; STAT_SIZE];
    let mut put = |at: usize, v: &[u8]| b[at..at + v.len()].copy_from_slice(v);
    put(0, &st.dev.to_ne_bytes());
    put(8, &st.ino.to_ne_bytes());
    put(16, &st.nlink.to_ne_bytes());
    put(24, &(st.mode as u32).to_ne_bytes());
    put(28, &(st.uid as u32).to_ne_bytes());
    put(32, &(st.gid as u32).to_ne_bytes());
    put(40, &st.rdev.to_ne_bytes());
    put(48, &st.size.to_ne_bytes());
    put(56, &st.blksize.to_ne_bytes());
    put(64, &st.blocks.to_ne_bytes());
    put(72, &st.atime.to_ne_bytes());
    put(80, &st.atime_nsec.to_ne_bytes());
    put(88, &st.mtime.to_ne_bytes());
    put(96, &st.mtime_nsec.to_ne_bytes());
    put(104, &st.ctime.to_ne_bytes());
    put(112, &st.ctime_nsec.to_ne_bytes());
    b
}

/// `st` as the bytes of a `struct statx` (statx(2)). [`FileStat`] carries
/// the basic fields only, so `stx_mask` is `STATX_BASIC_STATS`: no birth
/// time, mount id or attributes are reported.
pub fn encode_statx(st: &FileStat) -> [u8; STATX_SIZE] {
    let mut b = [0u8; STATX_SIZE];
    let mut put = |at: usize, v: &[u8]| b[at..at + v.len()].copy_from_slice(v);
    put(0, &libc::STATX_BASIC_STATS.to_ne_bytes());
    put(4, &(st.blksize as u32).to_ne_bytes());
    put(16, &(st.nlink as u32).to_ne_bytes());
    put(20, &(st.uid as u32).to_ne_bytes());
    put(24, &(st.gid as u32).to_ne_bytes());
    put(28, &(st.mode as u16).to_ne_bytes());
    put(32, &st.ino.to_ne_bytes());
    put(40, &(st.size as u64).to_ne_bytes());
    put(48, &(st.blocks as u64).to_ne_bytes());
    for (at, sec, nsec) in [
        (64, st.atime, st.atime_nsec),
        (96, st.ctime, st.ctime_nsec),
        (112, st.mtime, st.mtime_nsec),
    ] {
        put(at, &sec.to_ne_bytes());
        put(at + 8, &(nsec as u32).to_ne_bytes());
    }
    put(128, &libc::major(st.rdev).to_ne_bytes());
    put(132, &libc::minor(st.rdev).to_ne_bytes());
    put(136, &libc::major(st.dev).to_ne_bytes());
    put(140, &libc::minor(st.dev).to_ne_bytes());
    b
}

/// The `Tgid:` of a `/proc/<tid>/status` text.
fn parse_tgid(status: &[u8]) -> Option<u32> {
    status
        .split(|&c| c == b'\n')
        .find_map(|line| line.strip_prefix(b"Tgid:"))
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.trim().parse().ok())
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

/// Errors setting up a [`NotifyServer`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// The kernel's notification structures are larger than ours.
    #[error(
        "the kernel's seccomp notification structures are larger than this build knows; refusing to serve them"
    )]
    StructSize,
    /// `SECCOMP_GET_NOTIF_SIZES` failed.
    #[error("seccomp(SECCOMP_GET_NOTIF_SIZES): {0}")]
    Sizes(#[source] Errno),
    /// A worker thread could not be started.
    #[error("starting a notification thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// Receives [`Event`]s for the audit log.
pub type Observer = Arc<dyn Fn(&Event<'_>) + Send + Sync>;

/// Answers the notifications of one seccomp listener.
///
/// ```no_run
/// # fn get_listener() -> std::os::fd::OwnedFd { unimplemented!() }
/// use std::sync::Arc;
/// use fdbroker::notify::NotifyServer;
/// use fdbroker::ops::Ops;
/// use fdbroker::policy::Policy;
///
/// let policy = Arc::new(Policy::from_file("policy.toml".as_ref())?);
/// let server = NotifyServer::new(get_listener(), policy, Arc::new(Ops::new()?))?;
/// server.spawn()?; // threads answer until the last filtered process exits
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct NotifyServer {
    listener: OwnedFd,
    judge: Arc<dyn Judge>,
    ops: Arc<Ops>,
    observer: Option<Observer>,
    max_workers: usize,
}

impl std::fmt::Debug for NotifyServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifyServer")
            .field("listener", &self.listener)
            .field("max_workers", &self.max_workers)
            .finish_non_exhaustive()
    }
}

/// What to answer a notification with.
enum Reply {
    /// The call returns this value.
    Value(i64),
    /// The call fails with this errno.
    Error(Errno),
    /// Install the descriptor in the caller and return its number.
    Fd(OwnedFd, bool),
}

impl From<Errno> for Reply {
    fn from(e: Errno) -> Reply {
        Reply::Error(e)
    }
}

/// A path argument after reading and joining.
enum Target {
    /// An absolute path to judge; `requested` is what the caller wrote.
    Path {
        requested: PathBuf,
        absolute: PathBuf,
    },
    /// An empty path with `AT_EMPTY_PATH`: the descriptor (or cwd) itself.
    Fd(Dirfd),
}

impl NotifyServer {
    /// A server for `listener` judging with `judge` and acting with `ops`.
    /// Fails when the kernel's notification structures are larger than the
    /// ones this build passes to it.
    pub fn new(
        listener: OwnedFd,
        judge: Arc<dyn Judge>,
        ops: Arc<Ops>,
    ) -> Result<NotifyServer, NotifyError> {
        if !sys::notify::struct_sizes_ok().map_err(NotifyError::Sizes)? {
            return Err(NotifyError::StructSize);
        }
        Ok(NotifyServer {
            listener,
            judge,
            ops,
            observer: None,
            max_workers: 64,
        })
    }

    /// Reports every judged request to `observer` (the audit log).
    pub fn with_observer(mut self, observer: Observer) -> NotifyServer {
        self.observer = Some(observer);
        self
    }

    /// At most `n` (at least 1) threads answer at the same time (default 64).
    pub fn max_workers(mut self, n: usize) -> NotifyServer {
        self.max_workers = n.max(1);
        self
    }

    /// Starts answering on background threads, which run until no process
    /// uses the filter any more. One thread receives and answers
    /// notifications itself; when calls block (a FIFO, a hung network
    /// filesystem), more are added within a few milliseconds, up to the
    /// maximum, so one slow call never stalls the others for longer.
    pub fn spawn(self) -> Result<(), NotifyError> {
        Pool::start(self)
    }

    /// Waits for one notification and answers it (for single-threaded use
    /// and tests). `ENOENT`: it was withdrawn before we got it.
    pub fn serve_one(&self) -> Result<(), Errno> {
        let n = sys::notify::recv(self.listener.as_fd())?;
        self.answer(&n);
        Ok(())
    }

    /// Handles notification `n` and sends the answer.
    fn answer(&self, n: &sys::notify::Notif) {
        let listener = self.listener.as_fd();
        // A bug must fail safe: the caller gets EIO rather than waiting
        // forever on a notification nobody will answer.
        let reply = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.handle(n)))
            .unwrap_or_else(|_| {
                tracing::error!(id = n.id, pid = n.pid, "notification handler panicked");
                Reply::Error(Errno::EIO)
            });
        let sent = match reply {
            Reply::Value(v) => sys::notify::respond(listener, n.id, v, 0),
            Reply::Error(e) => sys::notify::respond(listener, n.id, 0, e as i32),
            Reply::Fd(fd, cloexec) => {
                match sys::notify::add_fd_and_send(listener, n.id, fd.as_fd(), cloexec) {
                    Ok(_) => Ok(()),
                    // E.g. EMFILE in the caller: the call is still waiting.
                    Err(e) if e != Errno::ENOENT => {
                        sys::notify::respond(listener, n.id, 0, e as i32)
                    }
                    Err(e) => Err(e),
                }
            }
        };
        if let Err(e) = sent
            && e != Errno::ENOENT
        {
            tracing::warn!(
                id = n.id,
                pid = n.pid,
                "answering a notification failed: {e}"
            );
        }
    }

    /// Decides what to answer notification `n`.
    fn handle(&self, n: &sys::notify::Notif) -> Reply {
        if n.arch != AUDIT_ARCH_X86_64 {
            return Reply::Error(Errno::ENOSYS);
        }
        let Some((name, call)) = decode(i64::from(n.nr), n.args) else {
            // Not a call the filter sends us: refuse rather than run it.
            return Reply::Error(Errno::ENOSYS);
        };
        let r = match call {
            Call::Open {
                dirfd,
                path,
                flags,
                mode,
            } => self.open(n, name, dirfd, path, flags, mode),
            Call::Openat2 {
                dirfd,
                path,
                how,
                size,
            } => self.openat2(n, name, dirfd, path, how, size),
            Call::Stat {
                dirfd,
                path,
                buf,
                flags,
            } => self.stat(n, name, dirfd, path, flags, buf, None),
            Call::Statx {
                dirfd,
                path,
                flags,
                mask,
                buf,
            } => self.stat(n, name, dirfd, path, flags, buf, Some(mask)),
            Call::Access {
                dirfd,
                path,
                mode,
                flags,
            } => self.access(n, name, dirfd, path, mode, flags),
            Call::Readlink {
                dirfd,
                path,
                buf,
                size,
            } => self.readlink(n, name, dirfd, path, buf, size),
        };
        r.unwrap_or_else(Reply::Error)
    }

    fn open(
        &self,
        n: &sys::notify::Notif,
        name: &'static str,
        dirfd: Dirfd,
        path: u64,
        flags: i32,
        mode: u32,
    ) -> Result<Reply, Errno> {
        let (requested, absolute) = match self.target(n, dirfd, path, false)? {
            Target::Path {
                requested,
                absolute,
            } => (requested, absolute),
            Target::Fd(_) => return Err(Errno::ENOENT),
        };
        let ctx = self.context(n, &absolute)?;
        self.valid(n)?;
        let out = self.ops.open(&*self.judge, &ctx, &absolute, flags, mode);
        self.observe(n, name, "open", &requested, Some(i64::from(flags)), &out);
        Ok(match out.result {
            Ok(fd) => Reply::Fd(fd, flags & libc::O_CLOEXEC != 0),
            Err(e) => Reply::Error(e),
        })
    }

    fn openat2(
        &self,
        n: &sys::notify::Notif,
        name: &'static str,
        dirfd: Dirfd,
        path: u64,
        how: u64,
        size: u64,
    ) -> Result<Reply, Errno> {
        // struct open_how { u64 flags; u64 mode; u64 resolve; }, extensible:
        // a larger size is fine as long as the extra bytes are zero.
        const VER0: u64 = 24;
        if size < VER0 {
            return Err(Errno::EINVAL);
        }
        if size > 4096 {
            return Err(Errno::E2BIG);
        }
        let mut raw = [0u8; 4096];
        let raw = &mut raw[..size as usize];
        sys::notify::read_exact(n.pid, how, raw)?;
        if raw[VER0 as usize..].iter().any(|&b| b != 0) {
            return Err(Errno::E2BIG);
        }
        let word =
            |i: usize| u64::from_ne_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
        let (flags, mode, resolve) = (word(0), word(1), word(2));
        let flags = i32::try_from(flags).map_err(|_| Errno::EINVAL)?;
        let mode = u32::try_from(mode).map_err(|_| Errno::EINVAL)?;
        if mode & !0o7777 != 0 || (mode != 0 && flags & (libc::O_CREAT | libc::O_TMPFILE) == 0) {
            return Err(Errno::EINVAL);
        }
        const KNOWN_RESOLVE: u64 = 0x3f;
        const NO_MAGICLINKS: u64 = 0x02;
        const CACHED: u64 = 0x20;
        if resolve & !KNOWN_RESOLVE != 0 {
            return Err(Errno::EINVAL);
        }
        if resolve & CACHED != 0 {
            // "Only from the cache": say it was not, callers retry without.
            return Err(Errno::EAGAIN);
        }
        if resolve & !NO_MAGICLINKS != 0 {
            // RESOLVE_BENEATH, IN_ROOT, NO_XDEV, NO_SYMLINKS are not
            // emulated; ENOSYS sends callers to their openat(2) fallback.
            // NO_MAGICLINKS is what the broker always does.
            return Err(Errno::ENOSYS);
        }
        self.open(n, name, dirfd, path, flags, mode)
    }

    #[allow(clippy::too_many_arguments)]
    fn stat(
        &self,
        n: &sys::notify::Notif,
        name: &'static str,
        dirfd: Dirfd,
        path: u64,
        flags: i32,
        buf: u64,
        statx_mask: Option<u32>,
    ) -> Result<Reply, Errno> {
        let mut known = libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH | libc::AT_NO_AUTOMOUNT;
        if let Some(mask) = statx_mask {
            known |= libc::AT_STATX_SYNC_TYPE;
            if flags & libc::AT_STATX_SYNC_TYPE == libc::AT_STATX_SYNC_TYPE
                || mask & libc::STATX__RESERVED as u32 != 0
            {
                return Err(Errno::EINVAL);
            }
        }
        if flags & !known != 0 {
            return Err(Errno::EINVAL);
        }
        let empty_ok = flags & libc::AT_EMPTY_PATH != 0;
        // statx(2) accepts a NULL path with AT_EMPTY_PATH (Linux 6.11).
        let target = if statx_mask.is_some() && empty_ok && path == 0 {
            Target::Fd(dirfd)
        } else {
            self.target(n, dirfd, path, empty_ok)?
        };
        let mem = self.open_mem(n)?;
        let st = match target {
            Target::Fd(fd) => {
                let st = stat_of_fd(n.pid, fd)?;
                self.valid(n)?;
                st
            }
            Target::Path {
                requested,
                absolute,
            } => {
                let ctx = self.context(n, &absolute)?;
                self.valid(n)?;
                let follow = crate::FollowSymlinks::from_at_flags(flags);
                let out = self.ops.stat(&*self.judge, &ctx, &absolute, follow);
                self.observe(n, name, "stat", &requested, None, &out);
                out.result?
            }
        };
        let written = if statx_mask.is_some() {
            write_mem(&mem, buf, &encode_statx(&st))
        } else {
            write_mem(&mem, buf, &encode_stat(&st))
        };
        written.map(|()| Reply::Value(0))
    }

    fn access(
        &self,
        n: &sys::notify::Notif,
        name: &'static str,
        dirfd: Dirfd,
        path: u64,
        mode: i32,
        flags: i32,
    ) -> Result<Reply, Errno> {
        if flags & !(libc::AT_EACCESS | libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
            return Err(Errno::EINVAL);
        }
        let (requested, absolute) =
            match self.target(n, dirfd, path, flags & libc::AT_EMPTY_PATH != 0)? {
                Target::Path {
                    requested,
                    absolute,
                } => (requested, absolute),
                // access(2) on a descriptor: judge the path it was opened at.
                Target::Fd(fd) => {
                    let p = fd_path(n.pid, fd)?;
                    (PathBuf::new(), p)
                }
            };
        let ctx = self.context(n, &absolute)?;
        self.valid(n)?;
        let out = self.ops.access(&*self.judge, &ctx, &absolute, mode);
        self.observe(n, name, "access", &requested, Some(i64::from(mode)), &out);
        out.result.map(|()| Reply::Value(0))
    }

    fn readlink(
        &self,
        n: &sys::notify::Notif,
        name: &'static str,
        dirfd: Dirfd,
        path: u64,
        buf: u64,
        size: i32,
    ) -> Result<Reply, Errno> {
        if size <= 0 {
            return Err(Errno::EINVAL);
        }
        let (requested, absolute) = match self.target(n, dirfd, path, false)? {
            Target::Path {
                requested,
                absolute,
            } => (requested, absolute),
            Target::Fd(_) => return Err(Errno::ENOENT),
        };
        let ctx = self.context(n, &absolute)?;
        let mem = self.open_mem(n)?;
        self.valid(n)?;
        let out = self.ops.readlink(&*self.judge, &ctx, &absolute);
        self.observe(n, name, "readlink", &requested, None, &out);
        let target = out.result?;
        let len = target.len().min(size as usize);
        write_mem(&mem, buf, &target[..len])?;
        Ok(Reply::Value(len as i64))
    }

    /// Reads the path argument at `addr` and makes it absolute.
    fn target(
        &self,
        n: &sys::notify::Notif,
        dirfd: Dirfd,
        addr: u64,
        empty_ok: bool,
    ) -> Result<Target, Errno> {
        thread_local! {
            // Not zeroed anew for every call (this runs on every one).
            static BUF: std::cell::RefCell<Box<[u8; PATH_MAX]>> =
                std::cell::RefCell::new(Box::new([0; PATH_MAX]));
        }
        let requested = BUF.with_borrow_mut(|buf| {
            sys::notify::read_c_string(n.pid, addr, &mut buf[..]).map(<[u8]>::to_vec)
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
                fd_path(n.pid, dirfd)?.as_os_str().as_bytes(),
                &requested,
            ))
        };
        let requested = PathBuf::from(std::ffi::OsString::from_vec(requested));
        Ok(Target::Path {
            absolute: absolute.unwrap_or_else(|| requested.clone()),
            requested,
        })
    }

    /// The requester for `path`: its process (thread group), which
    /// `/proc/self` means. Looked up only for paths under `/proc`; elsewhere
    /// the thread id serves (it matters for nothing else).
    fn context(&self, n: &sys::notify::Notif, path: &Path) -> Result<Context, Errno> {
        let bytes = path.as_os_str().as_bytes();
        if bytes == b"/proc" || bytes.starts_with(b"/proc/") {
            let status =
                std::fs::read(format!("/proc/{}/status", n.pid)).map_err(|_| Errno::ESRCH)?;
            let tgid = parse_tgid(&status).ok_or(Errno::ESRCH)?;
            return Ok(Context { pid: Some(tgid) });
        }
        Ok(Context { pid: Some(n.pid) })
    }

    /// `SECCOMP_IOCTL_NOTIF_ID_VALID`: is the caller still the one waiting?
    fn valid(&self, n: &sys::notify::Notif) -> Result<(), Errno> {
        sys::notify::id_valid(self.listener.as_fd(), n.id).map_err(|_| Errno::ESRCH)
    }

    /// Opens the caller's memory for writing. Done before the `ID_VALID`
    /// check: the descriptor stays bound to the address space it was opened
    /// on, so once the check passes the writes cannot reach another process
    /// that reused the pid.
    fn open_mem(&self, n: &sys::notify::Notif) -> Result<File, Errno> {
        std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/{}/mem", n.pid))
            .map_err(|_| Errno::ESRCH)
    }

    fn observe<T>(
        &self,
        n: &sys::notify::Notif,
        syscall: &'static str,
        op: &'static str,
        requested: &Path,
        flags: Option<i64>,
        out: &Outcome<T>,
    ) {
        let Some(observer) = &self.observer else {
            return;
        };
        observer(&Event {
            pid: n.pid,
            source: Source::Seccomp,
            syscall: Some(syscall),
            op,
            path: requested,
            resolved: out.resolved.as_deref(),
            flags,
            access: out.access,
            decision: out.decision.as_ref(),
            errno: out.result.as_ref().err().copied(),
        });
    }
}

/// Writes `bytes` at `addr` through the caller's `/proc/<tid>/mem`.
fn write_mem(mem: &File, addr: u64, bytes: &[u8]) -> Result<(), Errno> {
    if addr == 0 {
        return Err(Errno::EFAULT);
    }
    mem.write_all_at(bytes, addr).map_err(|_| Errno::EFAULT)
}

/// The absolute path the caller's descriptor `fd` (or its working
/// directory) refers to, as `/proc/<tid>/{cwd,fd/N}` shows it. `EBADF` for a
/// descriptor that is not open, `ENOTDIR` for one that has no path (a pipe,
/// a socket), `ENOENT` for a directory that was removed.
fn fd_path(tid: u32, fd: Dirfd) -> Result<PathBuf, Errno> {
    let link = match fd {
        Dirfd::Cwd => format!("/proc/{tid}/cwd"),
        Dirfd::Fd(n) if n < 0 => return Err(Errno::EBADF),
        Dirfd::Fd(n) => format!("/proc/{tid}/fd/{n}"),
    };
    let target = std::fs::read_link(&link).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOENT) if matches!(fd, Dirfd::Fd(_)) => Errno::EBADF,
        Some(code) => Errno::from_raw(code),
        None => Errno::EIO,
    })?;
    let bytes = target.as_os_str().as_bytes();
    if !bytes.starts_with(b"/") {
        return Err(Errno::ENOTDIR);
    }
    if bytes.ends_with(b" (deleted)") {
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
fn stat_of_fd(tid: u32, fd: Dirfd) -> Result<FileStat, Errno> {
    let link = match fd {
        Dirfd::Cwd => format!("/proc/{tid}/cwd"),
        Dirfd::Fd(n) if n < 0 => return Err(Errno::EBADF),
        Dirfd::Fd(n) => format!("/proc/{tid}/fd/{n}"),
    };
    match nix::sys::stat::stat(Path::new(&link)) {
        Ok(st) => Ok(FileStat::from(&st)),
        Err(Errno::ENOENT) => Err(Errno::EBADF),
        Err(e) => Err(e),
    }
}

/// How often the pool's monitor looks at the receivers while the sandbox is
/// active: a slow call holds up the others for two to three ticks at most.
/// Each tick is a timer wake-up; at 1 ms they cost a brokered open about 3%
/// on a shared CPU (`docs/performance.md`).
const TICK: Duration = Duration::from_millis(2);
/// Ticks without a notification after which the monitor sleeps until the
/// next one arrives.
const IDLE_TICKS: u32 = 100;
/// Consecutive ticks a condition must hold before the monitor acts on it.
const PATIENCE: u32 = 2;
/// Consecutive ticks with several receivers waiting before surplus ones retire.
const SURPLUS_TICKS: u32 = 5;

/// The threads answering one listener.
///
/// The kernel wakes *every* thread blocked in `SECCOMP_IOCTL_NOTIF_RECV` for
/// each notification (its wait is not exclusive, seccomp_unotify(2)), so a
/// pool of idle threads all waiting there pays one needless context switch per
/// idle thread per call: with two it made a brokered open 60% slower, and with
/// a sandbox of many processes the wake-ups dominated. So normally exactly one
/// thread, the *receiver*, waits in RECV and answers what it receives itself,
/// with no hand-off between threads. A monitor thread, ticking every [`TICK`]
/// while the sandbox is active and asleep while it is idle, adds a receiver
/// (waking a parked one or starting a thread, up to `max_workers`) when for
/// [`PATIENCE`] ticks no receiver waited in RECV and none received anything:
/// they are all stuck in slow calls (a FIFO without a writer, a hung network
/// filesystem, a caller stopped before it took its descriptor), and the
/// other calls of the sandbox then wait no more than a few milliseconds. It
/// retires surplus receivers when several wait for [`SURPLUS_TICKS`].
///
/// Receivers are not added merely because calls queue up: on this design's
/// test machine (2 CPUs) a second receiver waiting in RECV cost more in
/// wake-ups than it gained in parallelism (`docs/performance.md`).
struct Pool {
    server: NotifyServer,
    /// Threads in the receiver role (promotions included).
    receivers: AtomicUsize,
    /// Receivers blocked in RECV right now.
    waiting: AtomicUsize,
    /// Notifications received so far.
    received: AtomicU64,
    /// Receivers asked to step down after their current notification.
    retire: AtomicUsize,
    /// Set by the monitor before it sleeps; the next receiver to get a
    /// notification wakes it.
    monitor_asleep: AtomicBool,
    /// The listener is gone or broken: every thread returns.
    closed: AtomicBool,
    state: Mutex<PoolState>,
    /// Parked workers wait here for a promotion.
    parked: Condvar,
    /// The sleeping monitor waits here.
    monitor: Condvar,
}

#[derive(Default)]
struct PoolState {
    /// Worker threads started.
    threads: usize,
    /// Workers parked, waiting for a promotion.
    parked: usize,
    /// Promotions not yet taken by a parked worker.
    promotions: usize,
}

impl Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn start(server: NotifyServer) -> Result<(), NotifyError> {
        let pool = Arc::new(Pool {
            server,
            receivers: AtomicUsize::new(1),
            waiting: AtomicUsize::new(0),
            received: AtomicU64::new(0),
            retire: AtomicUsize::new(0),
            monitor_asleep: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            state: Mutex::new(PoolState {
                threads: 1,
                ..PoolState::default()
            }),
            parked: Condvar::new(),
            monitor: Condvar::new(),
        });
        pool.spawn_worker(0).map_err(NotifyError::Thread)?;
        let p = Arc::clone(&pool);
        std::thread::Builder::new()
            .name("fdbroker-notify-monitor".into())
            .spawn(move || p.monitor())
            .map(drop)
            .map_err(|e| {
                // Without a monitor a slow call would stall the others forever.
                pool.close();
                NotifyError::Thread(e)
            })
    }

    fn spawn_worker(self: &Arc<Pool>, id: usize) -> std::io::Result<()> {
        let pool = Arc::clone(self);
        std::thread::Builder::new()
            .name(format!("fdbroker-notify-{id}"))
            .spawn(move || pool.worker())
            .map(drop)
    }

    /// Stops every thread; the last one to go closes the listener, which
    /// fails the sandbox's pending and future calls with `ENOSYS`.
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let _state = self.lock();
        self.parked.notify_all();
        self.monitor.notify_all();
    }

    fn worker(self: Arc<Pool>) {
        while self.receive() && self.park() {}
    }

    /// The receiver role: returns true when asked to step down, false when
    /// the pool closes.
    fn receive(&self) -> bool {
        let listener = self.server.listener.as_fd();
        loop {
            self.waiting.fetch_add(1, Ordering::SeqCst);
            let got = sys::notify::recv(listener);
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            let n = match got {
                Ok(n) => n,
                Err(Errno::EINTR) => continue,
                // The caller went away first, or no process uses the filter
                // any more (then RECV fails at once, forever).
                Err(Errno::ENOENT) => match sys::notify::poll_listener(listener) {
                    Ok(state) if !state.hung_up => continue,
                    _ => {
                        self.close();
                        return false;
                    }
                },
                Err(e) => {
                    tracing::error!("seccomp listener: {e}; no more notifications are answered");
                    self.close();
                    return false;
                }
            };
            self.received.fetch_add(1, Ordering::SeqCst);
            // Pairs with park_monitor: it sets the flag, then re-reads `received`.
            if self.monitor_asleep.load(Ordering::SeqCst) {
                self.wake_monitor();
            }
            self.server.answer(&n);
            if self.closed.load(Ordering::Relaxed) {
                return false;
            }
            let retiring = self
                .retire
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| r.checked_sub(1))
                .is_ok();
            if retiring {
                self.receivers.fetch_sub(1, Ordering::SeqCst);
                return true;
            }
        }
    }

    /// A worker without a role waits for a promotion; false when the pool closes.
    fn park(&self) -> bool {
        let mut state = self.lock();
        state.parked += 1;
        while state.promotions == 0 && !self.closed.load(Ordering::SeqCst) {
            state = self.parked.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        state.parked -= 1;
        if self.closed.load(Ordering::SeqCst) {
            return false;
        }
        state.promotions -= 1;
        true
    }

    /// Adds a receiver: a parked worker if there is one, else a new thread.
    fn promote(self: &Arc<Pool>) {
        // Growing and shrinking at once would only churn.
        self.retire.store(0, Ordering::SeqCst);
        let mut state = self.lock();
        if state.parked > state.promotions {
            state.promotions += 1;
            self.receivers.fetch_add(1, Ordering::SeqCst);
            self.parked.notify_one();
        } else if state.threads < self.server.max_workers {
            let id = state.threads;
            state.threads += 1;
            self.receivers.fetch_add(1, Ordering::SeqCst);
            if self.spawn_worker(id).is_err() {
                state.threads -= 1;
                self.receivers.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    fn monitor(self: Arc<Pool>) {
        let mut last = self.received.load(Ordering::SeqCst);
        let (mut stuck, mut surplus, mut quiet) = (0u32, 0u32, 0u32);
        while !self.closed.load(Ordering::SeqCst) {
            std::thread::sleep(TICK);
            let received = self.received.load(Ordering::SeqCst);
            let waiting = self.waiting.load(Ordering::SeqCst);
            let progressed = received != last;
            last = received;
            if waiting == 0 {
                surplus = 0;
                stuck = if progressed { 0 } else { stuck + 1 };
                if stuck >= PATIENCE {
                    self.promote();
                    stuck = 0;
                }
            } else {
                stuck = 0;
                surplus = if waiting > 1 { surplus + 1 } else { 0 };
                if surplus >= SURPLUS_TICKS {
                    self.retire.store(waiting - 1, Ordering::SeqCst);
                    surplus = 0;
                }
            }
            quiet = if progressed { 0 } else { quiet + 1 };
            if quiet >= IDLE_TICKS && waiting > 0 {
                self.sleep_monitor(last);
                quiet = 0;
                last = self.received.load(Ordering::SeqCst);
            }
        }
    }

    /// The monitor sleeps until a notification arrives after `seen` were
    /// received (or the pool closes).
    fn sleep_monitor(&self, seen: u64) {
        self.monitor_asleep.store(true, Ordering::SeqCst);
        let mut state = self.lock();
        while self.monitor_asleep.load(Ordering::SeqCst)
            && self.received.load(Ordering::SeqCst) == seen
            && !self.closed.load(Ordering::SeqCst)
        {
            state = self.monitor.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        self.monitor_asleep.store(false, Ordering::SeqCst);
    }

    fn wake_monitor(&self) {
        let _state = self.lock();
        self.monitor_asleep.store(false, Ordering::SeqCst);
        self.monitor.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    /// Runs a seccomp program on (arch, nr) the way the kernel would, for
    /// the opcodes notify_filter emits.
    fn run(prog: &[sock_filter], arch: u32, nr: u32) -> u32 {
        let (mut acc, mut pc) = (0u32, 0usize);
        loop {
            let i = &prog[pc];
            pc += 1;
            let pick = |t: bool| usize::from(if t { i.jt } else { i.jf });
            match i.code {
                LD_W_ABS => acc = if i.k == 4 { arch } else { nr },
                JEQ_K => pc += pick(acc == i.k),
                JSET_K => pc += pick(acc & i.k != 0),
                RET_K => return i.k,
                c => panic!("opcode {c:#x}"),
            }
        }
    }

    #[test]
    fn filter_is_pinned() {
        let expected: Vec<(u16, u8, u8, u32)> = vec![
            (0x20, 0, 0, 4),
            (0x15, 1, 0, 0xc000_003e),
            (0x06, 0, 0, 0x0005_0026),
            (0x20, 0, 0, 0),
            (0x45, 15, 0, 0x4000_0000),
            (0x15, 13, 0, 2),   // open
            (0x15, 12, 0, 257), // openat
            (0x15, 11, 0, 437), // openat2
            (0x15, 10, 0, 85),  // creat
            (0x15, 9, 0, 4),    // stat
            (0x15, 8, 0, 6),    // lstat
            (0x15, 7, 0, 262),  // newfstatat
            (0x15, 6, 0, 332),  // statx
            (0x15, 5, 0, 21),   // access
            (0x15, 4, 0, 269),  // faccessat
            (0x15, 3, 0, 439),  // faccessat2
            (0x15, 2, 0, 89),   // readlink
            (0x15, 1, 0, 267),  // readlinkat
            (0x06, 0, 0, 0x7fff_0000),
            (0x06, 0, 0, 0x7fc0_0000),
            (0x06, 0, 0, 0x0005_0026),
        ];
        let got: Vec<_> = notify_filter()
            .iter()
            .map(|i| (i.code, i.jt, i.jf, i.k))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn filter_behaviour() {
        let f = notify_filter();
        const X86: u32 = AUDIT_ARCH_X86_64;
        for (name, nr) in BROKERED_SYSCALLS {
            assert_eq!(run(&f, X86, nr as u32), RET_USER_NOTIF, "{name}");
            // The same number through x32 or i386 never reaches a compare.
            assert_eq!(
                run(&f, X86, nr as u32 | X32_SYSCALL_BIT),
                RET_ERRNO_ENOSYS,
                "{name}"
            );
            assert_eq!(run(&f, 0x4000_0003, nr as u32), RET_ERRNO_ENOSYS, "{name}");
        }
        for nr in [
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_fstat,
            libc::SYS_execve,
            libc::SYS_close,
        ] {
            assert_eq!(run(&f, X86, nr as u32), RET_ALLOW);
        }
        // i386 open is 5 (x86-64 fstat): refused, not allowed.
        assert_eq!(run(&f, 0x4000_0003, 5), RET_ERRNO_ENOSYS);
    }

    #[test]
    fn decoding() {
        let at = |fd: i32| fd as u32 as u64;
        assert_eq!(
            decode(libc::SYS_creat, [0x10, 0o644, 0, 0, 0, 0]),
            Some((
                "creat",
                Call::Open {
                    dirfd: Dirfd::Cwd,
                    path: 0x10,
                    flags: libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC,
                    mode: 0o644
                }
            ))
        );
        // Upper halves of int arguments are ignored, as the kernel does.
        assert_eq!(
            decode(
                libc::SYS_openat,
                [at(3) | 0xffff_0000_0000_0000, 0x10, 0x1_0000_0000, 0, 0, 0]
            ),
            Some((
                "openat",
                Call::Open {
                    dirfd: Dirfd::Fd(3),
                    path: 0x10,
                    flags: 0,
                    mode: 0
                }
            ))
        );
        assert_eq!(
            decode(libc::SYS_lstat, [1, 2, 0, 0, 0, 0]),
            Some((
                "lstat",
                Call::Stat {
                    dirfd: Dirfd::Cwd,
                    path: 1,
                    buf: 2,
                    flags: libc::AT_SYMLINK_NOFOLLOW
                }
            ))
        );
        assert_eq!(
            decode(
                libc::SYS_newfstatat,
                [at(libc::AT_FDCWD), 1, 2, libc::AT_EMPTY_PATH as u64, 0, 0]
            ),
            Some((
                "newfstatat",
                Call::Stat {
                    dirfd: Dirfd::Cwd,
                    path: 1,
                    buf: 2,
                    flags: libc::AT_EMPTY_PATH
                }
            ))
        );
        assert_eq!(
            decode(libc::SYS_statx, [at(5), 1, 0x100, 0x7ff, 9, 0]),
            Some((
                "statx",
                Call::Statx {
                    dirfd: Dirfd::Fd(5),
                    path: 1,
                    flags: 0x100,
                    mask: 0x7ff,
                    buf: 9
                }
            ))
        );
        assert_eq!(
            decode(libc::SYS_faccessat2, [at(-1), 1, 4, 0x200, 0, 0]),
            Some((
                "faccessat2",
                Call::Access {
                    dirfd: Dirfd::Fd(-1),
                    path: 1,
                    mode: 4,
                    flags: 0x200
                }
            ))
        );
        assert_eq!(
            decode(libc::SYS_readlink, [1, 2, 64, 0, 0, 0]),
            Some((
                "readlink",
                Call::Readlink {
                    dirfd: Dirfd::Cwd,
                    path: 1,
                    buf: 2,
                    size: 64
                }
            ))
        );
        assert_eq!(
            decode(libc::SYS_openat2, [at(libc::AT_FDCWD), 1, 2, 24, 0, 0]),
            Some((
                "openat2",
                Call::Openat2 {
                    dirfd: Dirfd::Cwd,
                    path: 1,
                    how: 2,
                    size: 24
                }
            ))
        );
        for (name, nr) in BROKERED_SYSCALLS {
            assert_eq!(decode(nr, [0; 6]).map(|d| d.0), Some(name));
        }
        assert_eq!(decode(libc::SYS_execve, [0; 6]), None);
        assert_eq!(decode(-1, [0; 6]), None);
    }

    #[test]
    fn stat_layout_matches_libc() {
        assert_eq!(size_of::<libc::stat>(), STAT_SIZE);
        let st = FileStat {
            dev: 1,
            ino: 2,
            mode: 0o100644,
            nlink: 3,
            uid: 4,
            gid: 5,
            rdev: 6,
            size: 7,
            blksize: 8,
            blocks: 9,
            atime: 10,
            atime_nsec: 11,
            mtime: 12,
            mtime_nsec: 13,
            ctime: 14,
            ctime_nsec: 15,
        };
        let b = encode_stat(&st);
        let u64_at = |o: usize| u64::from_ne_bytes(b[o..o + 8].try_into().unwrap());
        let u32_at = |o: usize| u32::from_ne_bytes(b[o..o + 4].try_into().unwrap());
        assert_eq!(u64_at(offset_of!(libc::stat, st_dev)), 1);
        assert_eq!(u64_at(offset_of!(libc::stat, st_ino)), 2);
        assert_eq!(u32_at(offset_of!(libc::stat, st_mode)), 0o100644);
        assert_eq!(u64_at(offset_of!(libc::stat, st_nlink)), 3);
        assert_eq!(u32_at(offset_of!(libc::stat, st_uid)), 4);
        assert_eq!(u32_at(offset_of!(libc::stat, st_gid)), 5);
        assert_eq!(u64_at(offset_of!(libc::stat, st_rdev)), 6);
        assert_eq!(u64_at(offset_of!(libc::stat, st_size)), 7);
        assert_eq!(u64_at(offset_of!(libc::stat, st_blksize)), 8);
        assert_eq!(u64_at(offset_of!(libc::stat, st_blocks)), 9);
        assert_eq!(u64_at(offset_of!(libc::stat, st_atime)), 10);
        assert_eq!(u64_at(offset_of!(libc::stat, st_atime_nsec)), 11);
        assert_eq!(u64_at(offset_of!(libc::stat, st_mtime)), 12);
        assert_eq!(u64_at(offset_of!(libc::stat, st_mtime_nsec)), 13);
        assert_eq!(u64_at(offset_of!(libc::stat, st_ctime)), 14);
        assert_eq!(u64_at(offset_of!(libc::stat, st_ctime_nsec)), 15);
    }

    #[test]
    fn statx_layout_matches_libc() {
        assert_eq!(size_of::<libc::statx>(), STATX_SIZE);
        let st = FileStat {
            dev: libc::makedev(8, 3),
            ino: 2,
            mode: 0o040755,
            nlink: 3,
            uid: 4,
            gid: 5,
            rdev: libc::makedev(259, 0x12345),
            size: 7,
            blksize: 4096,
            blocks: 9,
            atime: 10,
            atime_nsec: 11,
            mtime: 12,
            mtime_nsec: 13,
            ctime: 14,
            ctime_nsec: 15,
        };
        let b = encode_statx(&st);
        let u64_at = |o: usize| u64::from_ne_bytes(b[o..o + 8].try_into().unwrap());
        let u32_at = |o: usize| u32::from_ne_bytes(b[o..o + 4].try_into().unwrap());
        let u16_at = |o: usize| u16::from_ne_bytes(b[o..o + 2].try_into().unwrap());
        assert_eq!(
            u32_at(offset_of!(libc::statx, stx_mask)),
            libc::STATX_BASIC_STATS
        );
        assert_eq!(u32_at(offset_of!(libc::statx, stx_blksize)), 4096);
        assert_eq!(u32_at(offset_of!(libc::statx, stx_nlink)), 3);
        assert_eq!(u32_at(offset_of!(libc::statx, stx_uid)), 4);
        assert_eq!(u32_at(offset_of!(libc::statx, stx_gid)), 5);
        assert_eq!(u16_at(offset_of!(libc::statx, stx_mode)), 0o040755);
        assert_eq!(u64_at(offset_of!(libc::statx, stx_ino)), 2);
        assert_eq!(u64_at(offset_of!(libc::statx, stx_size)), 7);
        assert_eq!(u64_at(offset_of!(libc::statx, stx_blocks)), 9);
        let ts = |field: usize| (u64_at(field), u32_at(field + 8));
        assert_eq!(ts(offset_of!(libc::statx, stx_atime)), (10, 11));
        assert_eq!(ts(offset_of!(libc::statx, stx_mtime)), (12, 13));
        assert_eq!(ts(offset_of!(libc::statx, stx_ctime)), (14, 15));
        assert_eq!(ts(offset_of!(libc::statx, stx_btime)), (0, 0));
        assert_eq!(u32_at(offset_of!(libc::statx, stx_rdev_major)), 259);
        assert_eq!(u32_at(offset_of!(libc::statx, stx_rdev_minor)), 0x12345);
        assert_eq!(u32_at(offset_of!(libc::statx, stx_dev_major)), 8);
        assert_eq!(u32_at(offset_of!(libc::statx, stx_dev_minor)), 3);
    }

    #[test]
    fn tgid_and_join() {
        assert_eq!(
            parse_tgid(b"Name:\tx\nTgid:\t1234\nPid:\t1240\n"),
            Some(1234)
        );
        assert_eq!(parse_tgid(b"Name:\tx\n"), None);
        assert_eq!(parse_tgid(b"Tgid:\tzz\n"), None);
        assert_eq!(join(b"/a/b", b"c/../d"), PathBuf::from("/a/b/c/../d"));
        assert_eq!(join(b"/", b"etc"), PathBuf::from("/etc"));
    }
}
