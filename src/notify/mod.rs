//! Serving seccomp user notifications: the broker side of `fdbroker run`.
//!
//! The confined program never learns it is confined: its `open`, `stat`,
//! `access` and `readlink` system calls (and their `*at`, `openat2`, `creat`,
//! `lstat`, `newfstatat`, `statx`, `faccessat2` forms) stop in the kernel and
//! are delivered to the broker through a seccomp listener (seccomp_unotify(2)).
//! The broker
//!
//! 1. reads the path from the caller's memory once (process_vm_readv(2), or
//!    `/proc/<tid>/mem` where that is refused: see `memory.rs`; at most
//!    `PATH_MAX` bytes, never trusting it to stay the same afterwards);
//! 2. makes it absolute: a relative path is joined to the caller's working
//!    directory (`/proc/<tid>/cwd`) or to the directory its `dirfd` refers to
//!    (`/proc/<tid>/fd/<n>`);
//! 3. checks `SECCOMP_IOCTL_NOTIF_ID_VALID`, so everything read so far is
//!    known to be about the thread that is still waiting;
//! 4. runs the same engine as the socketpair protocol
//!    ([`Ops`](crate::ops::Ops): race-free resolution, judging the canonical
//!    path, acting on exactly what was judged), with `/proc/self` meaning the
//!    caller's process;
//! 5. answers: a descriptor is installed in the caller with
//!    `SECCOMP_IOCTL_NOTIF_ADDFD` + `SECCOMP_ADDFD_FLAG_SEND` (honouring
//!    `O_CLOEXEC`); metadata is written into the caller's buffer through
//!    `/proc/<tid>/mem`, opened *before* the `ID_VALID` check so it cannot
//!    belong to a process that reused the pid; errors are returned as errno.
//!
//! A brokered path system call is never answered with
//! `SECCOMP_USER_NOTIF_FLAG_CONTINUE`: letting the kernel run the call would
//! make it re-read a path the caller can change after we judged it.
//!
//! `chdir`, `execve` and `execveat` arrive here too, but are only checked
//! ([`LookupCall`]): the kernel carries them out (Landlock decides what may
//! be executed, and a working directory grants nothing), and they would
//! tell whether a hidden path exists. A path the program may not see (no
//! `stat` right, and for `execve` outside what Landlock lets it execute)
//! answers `ENOENT`, as every brokered call does; anything else is answered
//! with `SECCOMP_USER_NOTIF_FLAG_CONTINUE`. The kernel then reads the path
//! again: a program that changes it in between can learn whether a hidden
//! path exists, never reach it.
//!
//! `fstat(fd)` (glibc implements it as `newfstatat(fd, "", buf,
//! AT_EMPTY_PATH)`) and `statx(fd, "", AT_EMPTY_PATH)` arrive here too: they
//! name no path, only a descriptor the caller already holds, so they are
//! answered without judging, from `/proc/<tid>/fd/<n>` — except for
//! `AT_FDCWD`: the working directory is no descriptor the broker handed
//! out (`chdir` is not brokered, only checked), so it is judged as its path.
//!
//! `memfd_create` arrives here too: the broker makes the memfd, never
//! executable (`memfd.rs`).
//!
//! Notifications are received and answered by one thread per CPU the
//! broker may use, each woken alone (`EPOLLEXCLUSIVE`), with no hand-off
//! between threads on the way; a monitor adds threads within a few
//! milliseconds when calls block (a slow open — a FIFO, a hung NFS server —
//! stalls the other processes of the sandbox for at most that long).
//!
//! | file | owns |
//! |---|---|
//! | `filter.rs` | [`notify_filter`], the program that sends the calls here |
//! | `decode.rs` | [`decode`]: raw number and arguments to a [`Syscall`], and the argument checks the kernel would make |
//! | `caller.rs` | the calling thread through `/proc/<tid>`: path arguments, descriptors, memory |
//! | `memory.rs` | how callers' memory is reached, chosen once per run by a probe |
//! | `memfd.rs` | memfds made by the broker, never executable |
//! | `pidns.rs` | `/proc/<pid>` in the caller's PID namespace, translated into the broker's |
//! | `server.rs` | [`NotifyServer`]: one handler per call, the answer |
//! | `pool.rs` | the threads that receive and answer |
//! | `encode.rs` | `struct stat`/`statx` bytes for the caller |

mod caller;
mod decode;
mod dircalls;
mod encode;
mod filter;
mod memfd;
mod memory;
mod pidns;
mod pool;
mod server;

use nix::errno::Errno;

pub use self::decode::{
    AccessCall, BROKERED_SYSCALLS, Dirfd, LookupCall, MFD_NAME_MAX, MemfdCall, OPEN_HOW_SIZE_MAX,
    OPEN_HOW_SIZE_VER0, OpenCall, Openat2Call, ReadlinkCall, StatCall, StatxCall, Syscall, decode,
};
pub use self::dircalls::{
    ChmodCall, LinkCall, MkdirCall, RenameCall, SymlinkCall, TimesLayout, UnlinkCall, UtimesCall,
};
pub use self::encode::{STAT_SIZE, STATX_SIZE, encode_kernel_stat, encode_statx};
pub use self::filter::notify_filter;
pub(crate) use self::memory::probe;
pub use self::memory::{Attempt, MemoryError};
pub use self::server::NotifyServer;

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
    /// The eventfd that wakes the receivers could not be made.
    #[error("eventfd(2) for the notification receivers: {0}")]
    Eventfd(#[source] Errno),
}
