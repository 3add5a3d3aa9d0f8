//! What `fdbroker run` needs around fork(2) that nix cannot offer safely:
//! [`run_forked`], a fork that refuses to run in a multithreaded process and
//! whose child never returns into the caller, [`run_cloned`], the same into
//! new namespaces, and what only that child may do before execve(2)
//! ([`Forked`]).

use std::convert::Infallible;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::panic::AssertUnwindSafe;

use nix::errno::Errno;
use nix::sched::CloneFlags;
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
        ForkResult::Child => child_side(body),
    }
}

/// [`run_forked`], but the child is made by clone(2) with `flags` (new
/// namespaces: `CLONE_NEWPID` makes it pid 1 of a new PID namespace). When
/// the kernel refuses the flags (or the process has more than one thread),
/// nothing was created and `body` comes back with the error, for a plain
/// [`run_forked`] instead.
pub(crate) fn run_cloned<F>(flags: CloneFlags, body: F) -> Result<Pid, (Errno, F)>
where
    F: FnOnce(Forked) -> Infallible,
{
    match thread_count() {
        Ok(1) => {}
        Ok(_) => return Err((Errno::EDEADLK, body)),
        Err(e) => return Err((e, body)),
    }
    let flags = libc::c_ulong::from(flags.bits().cast_unsigned())
        | libc::c_ulong::from(libc::SIGCHLD.cast_unsigned());
    // SAFETY: as for run_forked: one thread (checked above), so the child's
    // copy of the address space is consistent and every lock free. clone(2)
    // with a null stack and no CLONE_VM/CLONE_THREAD duplicates the process
    // as fork(2) does, on the same stack; the child runs `body` and ends in
    // child_side, never returning. Unlike glibc's fork(), the raw call does
    // not update the thread id cached in the child's libc thread descriptor:
    // the child makes no call that uses it (pthread_kill, raise; a fork()
    // in it sets its own children's correctly).
    let rc = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    match rc {
        0 => child_side(body),
        -1 => Err((Errno::last(), body)),
        pid => match i32::try_from(pid) {
            Ok(pid) => Ok(Pid::from_raw(pid)),
            Err(_) => Err((Errno::EOVERFLOW, body)),
        },
    }
}

/// In a new child: runs `body`, or `_exit`s with [`PANIC_EXIT`] if it panics.
fn child_side(body: impl FnOnce(Forked) -> Infallible) -> ! {
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
        for (first, last) in gaps(&[0, 1, 2], keep) {
            cloexec_range(first, last)?;
        }
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

    /// fork(2) again, from this child: `Ok(None)` in the new process,
    /// which is a child of [`run_forked`] as much as this one (one thread,
    /// never returning into the first caller), `Ok(Some(pid))` here.
    pub(crate) fn fork(&self) -> Result<Option<Pid>, Errno> {
        // SAFETY: this process is a child of run_forked or run_cloned: it
        // has the one thread the fork or clone gave it (a Forked token is
        // neither Send nor made anywhere else), so every lock is free in the
        // copy too. Both processes go on in the code that holds `self`,
        // which ends in execve(2) or exit, never returning past the fork.
        match unsafe { nix::unistd::fork() }? {
            ForkResult::Parent { child } => Ok(Some(child)),
            ForkResult::Child => Ok(None),
        }
    }

    /// Closes every descriptor but `keep`, for a child that will not
    /// execve(2) and holds on to nothing else. Whatever it borrowed or
    /// owned besides `keep` is closed: the caller uses none of it any more
    /// and ends in [`Forked::exit`], so no drop can reach a number reused
    /// since.
    pub(crate) fn close_all_except(&self, keep: &[BorrowedFd<'_>]) -> Result<(), Errno> {
        for (first, last) in gaps(&[], keep) {
            close_range(first, last)?;
        }
        Ok(())
    }
}

/// The ranges of descriptor numbers between those of `numbers` and `keep`:
/// everything else, from 0 to `u32::MAX`.
fn gaps(numbers: &[u32], keep: &[BorrowedFd<'_>]) -> Vec<(u32, u32)> {
    let mut kept: Vec<u32> = numbers.to_vec();
    kept.extend(
        keep.iter()
            .filter_map(|fd| u32::try_from(fd.as_raw_fd()).ok()),
    );
    kept.sort_unstable();
    kept.dedup();
    let mut out = Vec::new();
    let mut first = 0u32;
    for k in kept {
        if k > first {
            out.push((first, k - 1));
        }
        first = k.saturating_add(1);
    }
    out.push((first, u32::MAX));
    out
}

/// Closes every open descriptor in `[first, last]` (close_range(2), Linux
/// 5.9).
fn close_range(first: u32, last: u32) -> Result<(), Errno> {
    // SAFETY: only called from Forked::close_all_except, whose caller
    // promised to use none of the descriptors in the range again.
    let rc = unsafe { libc::close_range(first, last, 0) };
    if rc == 0 { Ok(()) } else { Err(Errno::last()) }
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
