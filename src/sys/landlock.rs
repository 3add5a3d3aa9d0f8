//! Landlock ABI probe: `landlock_create_ruleset(NULL, 0,
//! LANDLOCK_CREATE_RULESET_VERSION)` (the `landlock` crate keeps its own
//! probe private).

use std::io;

/// `LANDLOCK_CREATE_RULESET_VERSION` from `<linux/landlock.h>`.
const CREATE_RULESET_VERSION: libc::c_uint = 1;

/// The kernel's Landlock ABI version. `ENOSYS`: not built in;
/// `EOPNOTSUPP`: built in but disabled at boot.
pub(crate) fn abi_version() -> io::Result<i32> {
    // SAFETY: with the VERSION flag the kernel requires a NULL attribute
    // pointer and size 0 and reads no memory.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0 as libc::size_t,
            CREATE_RULESET_VERSION,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    i32::try_from(rc).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}
