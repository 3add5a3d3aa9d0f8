//! The calling thread's capability sets: `prctl(2)` bounding-set and
//! ambient operations and `capget(2)`/`capset(2)`, which neither nix nor
//! `caps` offer for capability numbers above what `caps::all()` knows (it
//! stops at 40).

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

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct Header {
    version: u32,
    pid: libc::c_int,
}

/// `struct __user_cap_data_struct`: one of two (low and high 32 bits).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Data {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// `_LINUX_CAPABILITY_VERSION_3`: 64-bit sets in two [`Data`] records.
const VERSION_3: u32 = 0x2008_0522;

/// The calling thread's effective, permitted and inheritable sets, all 64
/// bits of each (`capget(2)`, `_LINUX_CAPABILITY_VERSION_3`), including
/// numbers the `caps` crate does not know.
pub(crate) fn capget() -> io::Result<CapMasks> {
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

/// Sets the calling thread's three sets to `masks` (`capset(2)` of the
/// calling thread only: as a raw system call, no C library applies it to
/// other threads). The kernel refuses (`EPERM`) an effective set outside
/// the permitted set, and any gain of permitted or inheritable
/// capabilities the thread may not make.
pub(crate) fn capset(masks: CapMasks) -> io::Result<()> {
    let mut header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let half = |m: u64, high: bool| (if high { m >> 32 } else { m }) as u32;
    let data = [false, true].map(|high| Data {
        effective: half(masks.effective, high),
        permitted: half(masks.permitted, high),
        inheritable: half(masks.inheritable, high),
    });
    // SAFETY: version 3 of capset(2) reads the header (pid 0: the calling
    // thread) and two `Data` records; both point to live memory of the
    // layout the kernel expects and outlive the call.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header as *mut Header, data.as_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// What [`capget`] returns and [`capset`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CapMasks {
    pub(crate) effective: u64,
    pub(crate) permitted: u64,
    pub(crate) inheritable: u64,
}
