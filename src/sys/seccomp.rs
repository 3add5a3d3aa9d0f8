//! `seccomp(2)`, which nix lacks: install a classic-BPF filter (optionally
//! asking for a user-notification listener) and probe which actions the
//! kernel supports.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use seccompiler::sock_filter;

// seccompiler's instruction type is handed to the kernel as `struct
// sock_filter`: make sure the two layouts agree.
const _: () = {
    assert!(size_of::<sock_filter>() == size_of::<libc::sock_filter>());
    assert!(align_of::<sock_filter>() == align_of::<libc::sock_filter>());
};

/// Largest program the kernel accepts (`BPF_MAXINSNS`).
pub(crate) const MAX_INSNS: usize = 4096;

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, prog)`.
///
/// Returns the listener descriptor when `flags` contains
/// `SECCOMP_FILTER_FLAG_NEW_LISTENER`, else `None`. The caller must have set
/// `no_new_privs` (or hold `CAP_SYS_ADMIN`).
pub(crate) fn set_mode_filter(
    program: &[sock_filter],
    flags: libc::c_ulong,
) -> io::Result<Option<OwnedFd>> {
    if program.is_empty() || program.len() > MAX_INSNS {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let len =
        u16::try_from(program.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let prog = libc::sock_fprog {
        len,
        // The kernel only reads through this pointer (copy_from_user).
        filter: program.as_ptr().cast::<libc::sock_filter>().cast_mut(),
    };
    // SAFETY: `prog` points to `len` initialised instructions whose layout
    // matches `struct sock_filter` (checked above); both outlive the call, and
    // the kernel copies the program and keeps no pointer into our memory.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &raw const prog,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 {
        let fd = i32::try_from(rc).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
        // SAFETY: with NEW_LISTENER a successful call returns a new descriptor
        // that nothing else in the process owns yet.
        return Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }));
    }
    if rc > 0 {
        // With SECCOMP_FILTER_FLAG_TSYNC a positive value is the id of the
        // thread that could not be synchronised.
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
    }
    Ok(None)
}

/// `seccomp(SECCOMP_GET_ACTION_AVAIL, 0, &action)`: `Ok(true)` when the
/// kernel supports filter return value `action`, `Ok(false)` when it answers
/// `EOPNOTSUPP`; other errors (e.g. `ENOSYS`, `EINVAL` for no seccomp at all)
/// are returned.
pub(crate) fn action_available(action: u32) -> io::Result<bool> {
    // SAFETY: the kernel reads one u32 through the pointer, which points to a
    // live local for the duration of the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_ACTION_AVAIL,
            0 as libc::c_uint,
            &raw const action,
        )
    };
    if rc == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EOPNOTSUPP) {
        Ok(false)
    } else {
        Err(err)
    }
}
