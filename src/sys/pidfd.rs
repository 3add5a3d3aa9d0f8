//! Process descriptors (pidfd_open(2), Linux 5.3): a handle on one process
//! that a reused pid cannot redirect to another.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

/// pidfd_open(2) of `pid`, close-on-exec (as every pidfd is).
pub(crate) fn open(pid: Pid) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open takes a pid and flags (0), no pointers; on success
    // it returns a new descriptor that nothing else owns, wrapped at once.
    let rc = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if rc < 0 {
        return Err(Errno::last());
    }
    let raw = i32::try_from(rc).map_err(|_| Errno::EBADF)?;
    // SAFETY: `raw` was just returned by pidfd_open and is owned by no one.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// pidfd_send_signal(2): `signal` to the process `fd` refers to; `ESRCH`
/// once it has exited, whatever process has its pid now.
pub(crate) fn send_signal(fd: BorrowedFd<'_>, signal: Signal) -> Result<(), Errno> {
    // SAFETY: the descriptor is borrowed for the call; the siginfo pointer
    // is null (the kernel fills in a kill(2)-like one), flags 0.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            signal as libc::c_int,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc < 0 { Err(Errno::last()) } else { Ok(()) }
}

/// Whether the process `fd` refers to has exited (a pidfd polls readable
/// then). Any error counts as exited.
pub(crate) fn has_exited(fd: BorrowedFd<'_>) -> bool {
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    !matches!(poll(&mut fds, PollTimeout::ZERO), Ok(0))
}

/// The pid of the process `fd` refers to, as fdbroker's `/proc` (and PID
/// namespace) numbers it: the `Pid:` line of `/proc/self/fdinfo/<fd>`.
/// `None` once it has been reaped (the kernel shows -1).
pub(crate) fn pid_of(fd: BorrowedFd<'_>) -> Option<u32> {
    let text = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn own_pidfd() {
        let me = Pid::this();
        let fd = open(me).unwrap();
        assert_eq!(pid_of(fd.as_fd()), Some(me.as_raw().cast_unsigned()));
        assert!(!has_exited(fd.as_fd()));
        // Signal 0 is not a Signal; SIGCONT to ourselves is harmless.
        send_signal(fd.as_fd(), Signal::SIGCONT).unwrap();
        assert_eq!(open(Pid::from_raw(-1)).err(), Some(Errno::EINVAL));
    }
}
