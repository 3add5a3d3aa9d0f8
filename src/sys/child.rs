//! What `fdbroker run` needs around fork(2) that nix cannot offer safely:
//! a fork that refuses to run in a multithreaded process, and close_range(2).

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::unistd::{ForkResult, Pid};

/// Which side of [`fork_single_threaded`] we are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Forked {
    /// The original process; the child's pid.
    Parent(Pid),
    /// The new process.
    Child,
}

/// Number of threads in this process, from `/proc/self/task`.
pub(crate) fn thread_count() -> Result<usize, Errno> {
    let dir = std::fs::read_dir("/proc/self/task")
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    Ok(dir.count())
}

/// fork(2), but only when this process has exactly one thread (else
/// `EDEADLK`). With a single thread nothing can hold a lock (allocator, stdio)
/// at the moment of the fork, so the child may run ordinary Rust code —
/// allocate, format — until it calls execve(2) or `_exit(2)`.
///
/// The child must end with execve or `_exit`, never by returning into code
/// that would drop resources it shares with the parent.
pub(crate) fn fork_single_threaded() -> Result<Forked, Errno> {
    if thread_count()? != 1 {
        return Err(Errno::EDEADLK);
    }
    // SAFETY: the process has one thread (checked just above; no other code in
    // this crate starts threads concurrently with `fdbroker run`'s setup), so
    // the child's copy of the address space is consistent and every lock in it
    // is free: the child may use the allocator and other non-async-signal-safe
    // functions.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Parent { child } => Ok(Forked::Parent(child)),
        ForkResult::Child => Ok(Forked::Child),
    }
}

/// Closes every descriptor of this process except 0, 1, 2 and `keep`, with
/// close_range(2) over the gaps (or plain close(2) when close_range is
/// missing).
///
/// Only for a freshly forked child about to execve: any `OwnedFd` the child
/// still holds for a closed number must never be dropped (its close would hit
/// a number that may be reused). Callers therefore never return from the
/// child's setup except through execve or `_exit`.
pub(crate) fn close_all_except(keep: &[BorrowedFd<'_>]) -> Result<(), Errno> {
    let mut keep_raw: Vec<u32> = vec![0, 1, 2];
    keep_raw.extend(
        keep.iter()
            .filter_map(|fd| u32::try_from(fd.as_raw_fd()).ok()),
    );
    keep_raw.sort_unstable();
    keep_raw.dedup();
    let mut first = 0u32;
    for k in keep_raw {
        if k > first {
            close_range(first, k - 1)?;
        }
        first = k.saturating_add(1);
    }
    close_range(first, u32::MAX)
}

fn close_range(first: u32, last: u32) -> Result<(), Errno> {
    // SAFETY: close_range only closes descriptors in [first, last]; the
    // caller (close_all_except) excludes every number it keeps, and documents
    // that the numbers closed must not be used or closed again afterwards.
    let rc = unsafe { libc::close_range(first, last, 0) };
    if rc == 0 {
        return Ok(());
    }
    match Errno::last() {
        // Before Linux 5.9: close one by one up to the descriptor limit.
        Errno::ENOSYS => {
            let max = nix::unistd::sysconf(nix::unistd::SysconfVar::OPEN_MAX)
                .ok()
                .flatten()
                .and_then(|m| u32::try_from(m).ok())
                .unwrap_or(1 << 20);
            for fd in first..=last.min(max) {
                // SAFETY: as above; EBADF for numbers not open is ignored.
                unsafe { libc::close(fd as libc::c_int) };
            }
            Ok(())
        }
        e => Err(e),
    }
}

/// Clears `FD_CLOEXEC` on `fd`, so it survives execve(2).
pub(crate) fn clear_cloexec(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    let flags = FdFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFD)?);
    fcntl(fd, FcntlArg::F_SETFD(flags - FdFlag::FD_CLOEXEC))?;
    Ok(())
}

/// Makes sure descriptors 0, 1 and 2 are open (on `/dev/null` when they are
/// not), so that no descriptor we create later lands on a standard number
/// and is mistaken for stdin/stdout/stderr by the program we run.
pub(crate) fn ensure_stdio_open() -> Result<(), Errno> {
    for fd in 0..3 {
        // SAFETY: F_GETFD on a bare number only reads descriptor flags; a
        // number that is not open fails with EBADF. Nothing is borrowed.
        let rc = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        match if rc < 0 { Err(Errno::last()) } else { Ok(rc) } {
            Ok(_) => {}
            Err(Errno::EBADF) => {
                // open(2) returns the lowest free number: this one.
                let file = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open("/dev/null")
                    .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
                if file.as_raw_fd() != fd {
                    return Err(Errno::EBADF);
                }
                // Deliberately leaked: it now *is* descriptor `fd` for good.
                let _ = std::os::fd::IntoRawFd::into_raw_fd(file);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Restores the default action of `SIGPIPE`, which the Rust runtime ignores
/// and which execve(2) would otherwise pass on ignored to the program.
pub(crate) fn reset_sigpipe() -> Result<(), Errno> {
    // SAFETY: installing SIG_DFL sets no handler, so no code of ours can run
    // in signal context as a result.
    let prev = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    if prev == libc::SIG_ERR {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// _exit(2): ends the process at once, without running atexit handlers or
/// flushing buffers the parent also holds copies of.
pub(crate) fn exit_now(code: u8) -> ! {
    // SAFETY: _exit takes an integer and never returns; it touches no memory
    // of ours.
    unsafe { libc::_exit(i32::from(code)) }
}
