//! utimensat(2) on a held descriptor with `AT_EMPTY_PATH`: the times of
//! exactly that object, an `O_PATH` descriptor of a symbolic link included
//! (nix offers only the follow/no-follow flags).

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;

/// Sets the access and modification times of the object `fd` refers to
/// (any descriptor, `O_PATH` too) to `times` (`UTIME_NOW` and `UTIME_OMIT`
/// in `tv_nsec` as utimensat(2) reads them).
pub(crate) fn set_times(fd: BorrowedFd<'_>, times: &[libc::timespec; 2]) -> Result<(), Errno> {
    // SAFETY: `fd` is a live descriptor borrowed for the call, the empty
    // path is NUL-terminated and static, and `times` points to two
    // timespec values that outlive the call and are only read.
    let r = unsafe {
        libc::utimensat(
            fd.as_raw_fd(),
            c"".as_ptr(),
            times.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Errno::result(r).map(drop)
}
