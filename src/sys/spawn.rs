//! Handing one descriptor to one spawned child across `execve(2)`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;

/// A descriptor numbered 3 or above, close-on-exec: `fd` itself when it is
/// already, else a duplicate (and `fd` is closed). Keeps a socket off the
/// numbers 0–2 that `Command`'s stdio setup overwrites in the child.
/// See fcntl(2) `F_DUPFD_CLOEXEC`.
pub(crate) fn above_stdio(fd: OwnedFd) -> Result<OwnedFd, Errno> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // SAFETY: F_DUPFD_CLOEXEC on a descriptor we own (borrowed for the call)
    // returns a new descriptor or -1; it touches no memory.
    let raw = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if raw < 0 {
        return Err(Errno::last());
    }
    // SAFETY: `raw` was just created by fcntl and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Arms `cmd` so that the next child it spawns inherits `fd` under the same
/// number across `execve`, and no other process does.
///
/// `fd` stays close-on-exec in the parent, so children spawned concurrently by
/// other threads never see it; only in the forked child, between `fork` and
/// `execve`, is `FD_CLOEXEC` cleared. The returned guard must be disarmed
/// (dropped) once `Command::spawn` has returned: after that the number may be
/// reused for something else, and a second `spawn` of the same `Command`
/// then fails with `EBADF` instead of leaking whatever now has that number.
pub(crate) fn inherit_once(cmd: &mut Command, fd: BorrowedFd<'_>) -> InheritGuard {
    let slot = Arc::new(AtomicI32::new(fd.as_raw_fd()));
    let in_child = Arc::clone(&slot);
    let hook = move || -> io::Result<()> { clear_cloexec(in_child.load(Ordering::Relaxed)) };
    // SAFETY: pre_exec runs `hook` in the forked child before execve, where
    // only async-signal-safe operations are allowed. `hook` does an atomic
    // load from memory the fork copied (no lock, no allocation) and two
    // fcntl(2) calls, which are async-signal-safe; on failure it builds an
    // io::Error from a raw errno, which does not allocate.
    unsafe {
        cmd.pre_exec(hook);
    }
    InheritGuard { slot }
}

/// Clears `FD_CLOEXEC` on `raw`. Async-signal-safe.
fn clear_cloexec(raw: RawFd) -> io::Result<()> {
    if raw < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: fcntl F_GETFD/F_SETFD on a number only read and write the
    // descriptor flags; an invalid number fails with EBADF.
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFD) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(raw, libc::F_SETFD, flags & !libc::FD_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Disarms the hook installed by [`inherit_once`] when dropped.
#[derive(Debug)]
pub(crate) struct InheritGuard {
    slot: Arc<AtomicI32>,
}

impl Drop for InheritGuard {
    fn drop(&mut self) {
        self.slot.store(-1, Ordering::Relaxed);
    }
}
