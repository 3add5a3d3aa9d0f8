//! `prctl(2)` capability-bounding-set operations that neither nix nor `caps`
//! offer for capability numbers above what `caps::all()` knows (it stops at 40).

use std::io;

/// `prctl(PR_CAPBSET_READ, cap)`: whether `cap` is in the calling thread's
/// bounding set. `EINVAL` means the kernel does not know `cap`.
pub(crate) fn capbset_read(cap: u32) -> io::Result<bool> {
    // SAFETY: PR_CAPBSET_READ takes an integer capability number and no
    // pointers; unused arguments are zero as prctl(2) asks.
    let rc = unsafe { libc::prctl(libc::PR_CAPBSET_READ, libc::c_ulong::from(cap), 0, 0, 0) };
    match rc {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(io::Error::last_os_error()),
    }
}

/// `prctl(PR_CAPBSET_DROP, cap)`: remove `cap` from the calling thread's
/// bounding set. Needs `CAP_SETPCAP` in the effective set.
pub(crate) fn capbset_drop(cap: u32) -> io::Result<()> {
    // SAFETY: PR_CAPBSET_DROP takes an integer capability number and no
    // pointers; unused arguments are zero as prctl(2) asks.
    let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
