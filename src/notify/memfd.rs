//! `memfd_create(2)` for the program, done by the broker so that no memfd
//! can ever be executed. Landlock does not govern objects on the kernel's
//! internal mounts: a memfd made executable could run code no `exec` rule
//! grants (`execveat(fd, "", AT_EMPTY_PATH)`, `fexecve`, `execve` of
//! `/proc/self/fd/N`, a `#!` script in one). The broker creates it with
//! `MFD_NOEXEC_SEAL` (Linux 6.3: no execute bit, sealed against adding one)
//! and installs it in the caller as it does opened files; an older kernel
//! gets a memfd whose mode has no execute bit, which the program cannot
//! change (the deny filter refuses every mode change). `MFD_EXEC` is
//! refused (`EACCES`), as the kernel does where `vm.memfd_noexec` is 2.
//!
//! The memfd belongs to the broker's user (its `fstat` shows so); its pages
//! are charged to whoever fills them, the program.

use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::stat::{Mode, fchmod};

use super::caller::Caller;
use super::decode::MFD_NOEXEC_SEAL;
use super::{MFD_NAME_MAX, MemfdCall};

/// The memfd `caller` asks for, if `valid` (the notification's `ID_VALID`
/// check, after the name is read) passes. The name is read the way the run
/// reaches callers' memory (`process_vm_readv` or `/proc/<tid>/mem`).
pub(super) fn create(
    caller: &Caller,
    call: MemfdCall,
    valid: impl FnOnce() -> Result<(), Errno>,
) -> Result<OwnedFd, Errno> {
    let flags = call.noexec_flags()?;
    let mut buf = [0u8; MFD_NAME_MAX + 1];
    let name = match caller.read_c_string(call.name_addr, &mut buf) {
        Ok(name) => name.to_vec(),
        Err(Errno::ENAMETOOLONG) => return Err(Errno::EINVAL),
        Err(e) => return Err(e),
    };
    valid()?;
    // No NUL inside: read_c_string stopped at the first.
    let name = CString::new(name).map_err(|_| Errno::EINVAL)?;
    // Ours is close-on-exec whatever the caller asked: the answer says.
    let cloexec = libc::MFD_CLOEXEC;
    match memfd_create(name.as_c_str(), MFdFlags::from_bits_retain(flags | cloexec)) {
        Err(Errno::EINVAL) => {
            // Before Linux 6.3 (no MFD_NOEXEC_SEAL): no execute bit then.
            let plain = (flags & !MFD_NOEXEC_SEAL) | cloexec;
            let fd = memfd_create(name.as_c_str(), MFdFlags::from_bits_retain(plain))?;
            fchmod(fd.as_fd(), Mode::from_bits_truncate(0o666))?;
            Ok(fd)
        }
        other => other,
    }
}
