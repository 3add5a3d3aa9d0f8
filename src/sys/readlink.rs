//! `readlinkat(2)` into a caller's buffer.
//!
//! nix's `readlinkat` first `lstat`s the link to size a heap buffer; the
//! resolver reads links on its hot path (`/proc/self/fd/N`) and wants one
//! syscall into a stack buffer instead.

use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd};

use nix::errno::Errno;

/// Reads the target of the symbolic link `name` relative to `dirfd` into `buf`
/// and returns its length. An empty `name` reads the link `dirfd` itself refers
/// to (an `O_PATH|O_NOFOLLOW` descriptor), see readlinkat(2).
///
/// A target that fills `buf` completely may have been truncated by the kernel:
/// that is reported as `ENAMETOOLONG`, never as a short answer.
pub(crate) fn readlinkat_into(
    dirfd: impl AsFd,
    name: &CStr,
    buf: &mut [u8],
) -> Result<usize, Errno> {
    // SAFETY: `dirfd` is a live descriptor borrowed for the duration of the
    // call, `name` is NUL-terminated, and the kernel writes at most
    // `buf.len()` bytes into `buf`, which is valid and exclusively borrowed.
    let n = unsafe {
        libc::readlinkat(
            dirfd.as_fd().as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast::<libc::c_char>(),
            buf.len(),
        )
    };
    let n = usize::try_from(Errno::result(n)?).map_err(|_| Errno::EIO)?;
    if n >= buf.len() {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok(n)
}
