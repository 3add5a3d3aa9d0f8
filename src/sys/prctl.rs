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

/// `prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap)`: whether `cap` is in
/// the calling thread's ambient set.
pub(crate) fn ambient_is_set(cap: u32) -> io::Result<bool> {
    // SAFETY: PR_CAP_AMBIENT_IS_SET takes an integer capability number and
    // no pointers; unused arguments are zero as prctl(2) asks.
    let rc = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_IS_SET as libc::c_ulong,
            libc::c_ulong::from(cap),
            0,
            0,
        )
    };
    match rc {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(io::Error::last_os_error()),
    }
}

/// The calling thread's effective, permitted and inheritable sets, all 64
/// bits of each (`capget(2)`, `_LINUX_CAPABILITY_VERSION_3`), including
/// numbers the `caps` crate does not know.
pub(crate) fn capget() -> io::Result<CapMasks> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let mut header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: version 3 of capget(2) writes two `Data` records (low and high
    // 32 bits) and reads the header; both point to live, writable memory of
    // the layout the kernel expects (`#[repr(C)]`, three u32 per record).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut Header,
            data.as_mut_ptr(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let both = |lo: u32, hi: u32| u64::from(lo) | (u64::from(hi) << 32);
    Ok(CapMasks {
        effective: both(data[0].effective, data[1].effective),
        permitted: both(data[0].permitted, data[1].permitted),
        inheritable: both(data[0].inheritable, data[1].inheritable),
    })
}

/// What [`capget`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CapMasks {
    pub(crate) effective: u64,
    pub(crate) permitted: u64,
    pub(crate) inheritable: u64,
}
