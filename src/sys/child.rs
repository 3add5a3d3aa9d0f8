//! What `fdbroker run` needs around fork(2) that nix cannot offer safely:
//! [`run_forked`], a fork that refuses to run in a multithreaded process and
//! whose child never returns into the caller, and what only that child may
//! do before execve(2) ([`Forked`]).

use std::convert::Infallible;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::panic::AssertUnwindSafe;

use nix::errno::Errno;
use nix::unistd::{ForkResult, Pid};

/// The status a child of [`run_forked`] exits with when its code panics.
pub(crate) const PANIC_EXIT: u8 = 125;

/// Number of threads in this process, from `/proc/self/task`.
fn thread_count() -> Result<usize, Errno> {
    let dir = std::fs::read_dir("/proc/self/task")
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    Ok(dir.count())
}

/// fork(2), but only when this process has exactly one thread (else
/// `EDEADLK`); runs `body` in the child and returns the child's pid in the
/// parent.
///
/// With a single thread nothing can hold a lock (allocator, stdio) at the
/// moment of the fork, so `body` may run ordinary Rust code — allocate,
/// format. It never returns into the caller's stack, whose values belong to
/// the parent: `body` cannot return (no value of its return type exists: it
/// ends in execve(2) or [`Forked::exit`]), and if it panics, the unwinding
/// stops here and the child `_exit`s with [`PANIC_EXIT`].
pub(crate) fn run_forked(body: impl FnOnce(Forked) -> Infallible) -> Result<Pid, Errno> {
    if thread_count()? != 1 {
        return Err(Errno::EDEADLK);
    }
    // SAFETY: the process has one thread (checked just above; no other code in
    // this crate starts threads concurrently with `fdbroker run`'s setup), so
    // the child's copy of the address space is consistent and every lock in it
    // is free: the child may use the allocator and other non-async-signal-safe
    // functions. The child runs `body` and ends below, never returning.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Parent { child } => Ok(child),
        ForkResult::Child => {
            let token = Forked {
                _single_thread: PhantomData,
            };
            match std::panic::catch_unwind(AssertUnwindSafe(move || body(token))) {
                Ok(never) => match never {},
                // Leaked, not dropped: a payload's drop could panic again.
                Err(payload) => std::mem::forget(payload),
            }
            exit_now(PANIC_EXIT)
        }
    }
}

/// Proof of being the child of [`run_forked`]: what only a freshly forked
/// child about to execve(2) may do. Neither `Send` nor constructible
/// elsewhere.
#[derive(Debug)]
pub(crate) struct Forked {
    _single_thread: PhantomData<*const ()>,
}

impl Forked {
    /// Arranges for execve(2) to leave exactly descriptors 0, 1, 2 and
    /// `keep` open: every other descriptor becomes close-on-exec, and `keep`
    /// loses the flag.
    ///
    /// Nothing is closed now, so every `OwnedFd` this process holds (the
    /// parent's copies included) stays valid until execve closes it: no
    /// drop can ever hit a number reused since.
    pub(crate) fn keep_only_across_exec(&self, keep: &[BorrowedFd<'_>]) -> Result<(), Errno> {
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
                cloexec_range(first, k - 1)?;
            }
            first = k.saturating_add(1);
        }
        cloexec_range(first, u32::MAX)?;
        for fd in keep {
            clear_cloexec(*fd)?;
        }
        Ok(())
    }

    /// Restores the default action of `SIGPIPE`, which the Rust runtime
    /// ignores and which execve(2) would otherwise pass on ignored to the
    /// program.
    pub(crate) fn reset_sigpipe(&self) -> Result<(), Errno> {
        // SAFETY: installing SIG_DFL sets no handler, so no code of ours can
        // run in signal context as a result.
        let prev = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        if prev == libc::SIG_ERR {
            Err(Errno::last())
        } else {
            Ok(())
        }
    }

    /// _exit(2): ends the child at once, without running atexit handlers or
    /// flushing buffers the parent also holds copies of.
    pub(crate) fn exit(&self, code: u8) -> ! {
        exit_now(code)
    }
}

/// Sets `FD_CLOEXEC` on every open descriptor in `[first, last]`, with
/// close_range(2)'s `CLOSE_RANGE_CLOEXEC` (Linux 5.11), else one by one up
/// to the descriptor limit.
fn cloexec_range(first: u32, last: u32) -> Result<(), Errno> {
    // SAFETY: with CLOSE_RANGE_CLOEXEC, close_range closes nothing: it only
    // sets a flag on the open descriptors in [first, last], which changes no
    // descriptor's number or owner.
    let rc = unsafe { libc::close_range(first, last, libc::CLOSE_RANGE_CLOEXEC as libc::c_int) };
    if rc == 0 {
        return Ok(());
    }
    match Errno::last() {
        // Before Linux 5.9 (ENOSYS) or 5.11 (EINVAL: the flag is unknown).
        Errno::ENOSYS | Errno::EINVAL => {
            let max = nix::unistd::sysconf(nix::unistd::SysconfVar::OPEN_MAX)
                .ok()
                .flatten()
                .and_then(|m| u32::try_from(m).ok())
                .unwrap_or(1 << 20);
            for fd in first..=last.min(max) {
                let Ok(fd) = libc::c_int::try_from(fd) else {
                    break;
                };
                // SAFETY: F_GETFD and F_SETFD only read and set the flags of
                // descriptor `fd`; a number that is not open fails with EBADF,
                // which is ignored. Nothing is closed or borrowed.
                unsafe {
                    let flags = libc::fcntl(fd, libc::F_GETFD);
                    if flags >= 0 {
                        libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
                    }
                }
            }
            Ok(())
        }
        e => Err(e),
    }
}

/// Clears `FD_CLOEXEC` on `fd`, so it survives execve(2).
fn clear_cloexec(fd: BorrowedFd<'_>) -> Result<(), Errno> {
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

fn exit_now(code: u8) -> ! {
    // SAFETY: _exit takes an integer and never returns; it touches no memory
    // of ours.
    unsafe { libc::_exit(i32::from(code)) }
}
