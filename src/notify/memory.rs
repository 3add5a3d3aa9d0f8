//! How the broker reaches the memory and the `/proc/<tid>/{cwd,fd/N}` links
//! of the threads it answers ([`CallerMemory`]), chosen once per run by
//! trying each way on the confined child before it executes the program
//! ([`probe`]), and what fdbroker says when none works ([`MemoryError`]).
//!
//! | way | reads | writes and links | works when |
//! |---|---|---|---|
//! | [`Direct`](CallerMemory::Direct) | process_vm_readv(2) | `/proc/<tid>/mem`, `/proc/<tid>/{cwd,fd/N}` with the broker's own credentials | the broker may trace the program with its own ids (the same user, or `CAP_SYS_PTRACE`, plus `CAP_DAC_OVERRIDE` to open `mem` of another user) and no seccomp profile refuses process_vm_readv |
//! | [`ProcMem`](CallerMemory::ProcMem) | `/proc/<tid>/mem` | the same descriptor; the links | the broker is the program's user, or root with `CAP_SETUID` and `CAP_SETGID`: each `/proc` access is made with the program's filesystem ids (`sys::creds`) |
//!
//! `Direct` is tried first: it is the faster (one system call reads a path;
//! `ProcMem` opens `mem` for every call, and as root switches ids around each
//! open). Both are race-free in the same way: whatever is read is used only
//! after `SECCOMP_IOCTL_NOTIF_ID_VALID`, and `mem` is opened before that
//! check, so its descriptor is bound to the address space of the thread the
//! check vouches for.

use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;

use super::Dirfd;
use super::caller::Caller;
use crate::sys::creds::FsIds;

/// The way chosen for one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallerMemory {
    /// process_vm_readv(2) and `/proc/<tid>` with the broker's credentials.
    Direct,
    /// `/proc/<tid>/mem` and the links, opened as `ids` (`None`: as the
    /// broker, the program's user).
    ProcMem { ids: Option<FsIds> },
}

impl CallerMemory {
    /// The filesystem ids `/proc/<tid>` files are opened with.
    pub(super) fn ids(self) -> Option<FsIds> {
        match self {
            CallerMemory::Direct => None,
            CallerMemory::ProcMem { ids } => ids,
        }
    }
}

/// Eight bytes at the same address in the broker and in a child forked from
/// it: what the probe reads, and writes back unchanged.
static PROBE: AtomicU64 = AtomicU64::new(u64::from_ne_bytes(*b"fdbroker"));

/// Which step of a way failed, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// What was tried.
    pub step: &'static str,
    /// Its error.
    pub errno: Errno,
}

impl std::fmt::Display for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.step, self.errno)
    }
}

/// Neither way reaches the program's memory; nothing was run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot reach the program's memory, so no call of it could be brokered: {direct}; {proc_mem}. {hint}",
    hint = hint(*.root)
)]
#[non_exhaustive]
pub struct MemoryError {
    /// The direct way (process_vm_readv).
    pub direct: Attempt,
    /// `/proc/<pid>/mem`, with the program's ids.
    pub proc_mem: Attempt,
    /// Whether fdbroker runs as root (the program as another user).
    pub root: bool,
}

fn hint(root: bool) -> &'static str {
    if root {
        "fdbroker runs as root and the program as another user: it needs CAP_SETUID and \
         CAP_SETGID to open the program's /proc files as that user, or CAP_SYS_PTRACE \
         (e.g. --cap-add=SYS_PTRACE); or run fdbroker as a non-root user \
         (see docs/containers.md)"
    } else {
        "allow process_vm_readv (refused without CAP_SYS_PTRACE by the seccomp profiles of \
         Docker 20.10 and containerd 1.6: use a newer profile, --security-opt seccomp=PROFILE \
         or --cap-add=SYS_PTRACE), or allow opening /proc/<pid>/mem of a child \
         (kernel.yama.ptrace_scope 0 or 1, no LSM rule refusing ptrace read) \
         (see docs/containers.md)"
    }
}

/// Tries each way on the child `pid` — forked from this process and stopped
/// before execve with the program's credentials, so that [`PROBE`] is at the
/// same address there — and returns the first that reads its memory, reads
/// its working directory and writes its memory. `ids`: the program's, when
/// they are not ours.
pub(crate) fn probe(pid: u32, ids: Option<FsIds>) -> Result<CallerMemory, MemoryError> {
    let direct = match attempt(pid, CallerMemory::Direct) {
        Ok(()) => return Ok(CallerMemory::Direct),
        Err(e) => e,
    };
    let proc_mem = CallerMemory::ProcMem { ids };
    match attempt(pid, proc_mem) {
        Ok(()) => Ok(proc_mem),
        Err(e) => Err(MemoryError {
            direct,
            proc_mem: e,
            root: ids.is_some(),
        }),
    }
}

fn attempt(pid: u32, way: CallerMemory) -> Result<(), Attempt> {
    let fail = |step| move |errno| Attempt { step, errno };
    let (read, open) = match way {
        CallerMemory::Direct => ("process_vm_readv(2)", "opening /proc/<pid>/mem"),
        CallerMemory::ProcMem { ids: None } => {
            ("reading /proc/<pid>/mem", "opening /proc/<pid>/mem")
        }
        CallerMemory::ProcMem { ids: Some(_) } => (
            "reading /proc/<pid>/mem",
            "opening /proc/<pid>/mem with the program's ids",
        ),
    };
    let caller = Caller::new(pid, way);
    if let CallerMemory::ProcMem { .. } = way {
        caller.open_mem().map_err(fail(open))?;
    }
    let addr = PROBE.as_ptr().addr() as u64;
    let want = PROBE.load(Ordering::Relaxed).to_ne_bytes();
    let mut got = [0u8; 8];
    caller.read_exact(addr, &mut got).map_err(fail(read))?;
    if got != want {
        return Err(fail(read)(Errno::EIO));
    }
    // A working directory that was removed is no failure to reach it.
    if let Err(e) = caller.fd_path(Dirfd::Cwd)
        && caller.failure().is_some()
    {
        return Err(fail("reading /proc/<pid>/cwd")(e));
    }
    caller.open_mem().map_err(fail(open))?;
    caller
        .write_mem(addr, &want)
        .map_err(fail("writing /proc/<pid>/mem"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_both_ways_and_what_grants_them() {
        let e = MemoryError {
            direct: Attempt {
                step: "process_vm_readv(2)",
                errno: Errno::EPERM,
            },
            proc_mem: Attempt {
                step: "opening /proc/<pid>/mem",
                errno: Errno::EACCES,
            },
            root: false,
        };
        let text = e.to_string();
        assert!(text.contains("process_vm_readv(2): EPERM"), "{text}");
        assert!(text.contains("opening /proc/<pid>/mem: EACCES"), "{text}");
        assert!(text.contains("--cap-add=SYS_PTRACE"), "{text}");
        let root = MemoryError { root: true, ..e };
        assert!(root.to_string().contains("CAP_SETUID"), "{root}");
        assert!(root.to_string().contains("non-root user"), "{root}");
    }

    #[test]
    fn our_own_memory_is_reached_directly() {
        // Our own process: the same user, dumpable.
        assert_eq!(probe(std::process::id(), None), Ok(CallerMemory::Direct));
        assert_eq!(
            attempt(std::process::id(), CallerMemory::ProcMem { ids: None }),
            Ok(())
        );
    }
}
