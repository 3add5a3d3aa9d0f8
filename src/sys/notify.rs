//! seccomp user notification (seccomp_unotify(2)): the listener ioctls
//! `SECCOMP_IOCTL_NOTIF_RECV`/`SEND`/`ID_VALID`/`ADDFD`/`SET_FLAGS`,
//! `SECCOMP_GET_NOTIF_SIZES`, and reading a string out of the notifying process with process_vm_readv(2).
//!
//! Installing the filter itself is [`super::seccomp::set_mode_filter`].

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::sys::uio::{RemoteIoVec, process_vm_readv};
use nix::unistd::Pid;

/// One notification, as `SECCOMP_IOCTL_NOTIF_RECV` reports it (`struct
/// seccomp_notif` with its `struct seccomp_data`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Notif {
    /// Cookie naming this notification in every later ioctl.
    pub id: u64,
    /// Thread id of the caller, in the listener's pid namespace.
    pub pid: u32,
    /// System call number.
    pub nr: i32,
    /// `AUDIT_ARCH_*` of the call.
    pub arch: u32,
    /// The six raw arguments.
    pub args: [u64; 6],
}

/// `SECCOMP_GET_NOTIF_SIZES`: the sizes of `struct seccomp_notif`,
/// `struct seccomp_notif_resp` and `struct seccomp_data` the kernel uses.
pub(crate) fn notif_sizes() -> Result<(u16, u16, u16), Errno> {
    let mut sizes = libc::seccomp_notif_sizes {
        seccomp_notif: 0,
        seccomp_notif_resp: 0,
        seccomp_data: 0,
    };
    // SAFETY: the kernel writes one `struct seccomp_notif_sizes` through the
    // pointer, which points to a live, writable local of exactly that type.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_NOTIF_SIZES,
            0 as libc::c_uint,
            &raw mut sizes,
        )
    };
    if rc < 0 {
        return Err(Errno::last());
    }
    Ok((
        sizes.seccomp_notif,
        sizes.seccomp_notif_resp,
        sizes.seccomp_data,
    ))
}

/// Whether our `struct seccomp_notif`/`seccomp_notif_resp` are at least as
/// large as the kernel's, so `RECV` never writes past our buffer.
pub(crate) fn struct_sizes_ok() -> Result<bool, Errno> {
    let (notif, resp, _) = notif_sizes()?;
    Ok(usize::from(notif) <= size_of::<libc::seccomp_notif>()
        && usize::from(resp) <= size_of::<libc::seccomp_notif_resp>())
}

/// `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP` (Linux 6.6), a listener flag.
const FD_SYNC_WAKE_UP: u64 = 1;

/// Sets `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP` on `listener`
/// (`SECCOMP_IOCTL_NOTIF_SET_FLAGS`, Linux 6.6): the kernel then wakes the
/// receiver of each notification synchronously, on the notifying thread's
/// CPU, rather than wherever the scheduler finds room. Kernels without it
/// answer `EINVAL` (unknown flag) or `ENOTTY` (unknown ioctl); the listener
/// works the same either way, only slower across CPUs.
pub(crate) fn set_sync_wake_up(listener: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: SET_FLAGS takes the flags by value in the argument (the kernel
    // reads no memory); an unknown flag or ioctl only fails.
    let rc = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS,
            FD_SYNC_WAKE_UP,
        )
    };
    if rc < 0 { Err(Errno::last()) } else { Ok(()) }
}

/// `SECCOMP_IOCTL_NOTIF_RECV`: blocks until a filtered thread makes a call the
/// filter sends to this listener. `ENOENT`: the caller went away before we
/// got it; `EINTR`: a signal. Callers check [`struct_sizes_ok`] once first.
pub(crate) fn recv(listener: BorrowedFd<'_>) -> Result<Notif, Errno> {
    let mut n = libc::seccomp_notif {
        id: 0,
        pid: 0,
        flags: 0,
        data: libc::seccomp_data {
            nr: 0,
            arch: 0,
            instruction_pointer: 0,
            args: [0; 6],
        },
    };
    // SAFETY: RECV writes one `struct seccomp_notif` through the pointer; `n`
    // is a live, writable, zeroed (the kernel insists) value of that type,
    // and `struct_sizes_ok` guarantees the kernel's struct is no larger.
    let rc = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_RECV,
            &raw mut n,
        )
    };
    if rc < 0 {
        return Err(Errno::last());
    }
    Ok(Notif {
        id: n.id,
        pid: n.pid,
        nr: n.data.nr,
        arch: n.data.arch,
        args: n.data.args,
    })
}

/// `SECCOMP_IOCTL_NOTIF_ID_VALID`: `Ok(())` while the notifying thread is
/// still blocked in the call `id` names, so `pid` still refers to it and
/// anything read about it since the notification arrived is about it.
/// `ENOENT` otherwise.
pub(crate) fn id_valid(listener: BorrowedFd<'_>, id: u64) -> Result<(), Errno> {
    // SAFETY: ID_VALID reads one u64 through the pointer, a live local.
    let rc = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_ID_VALID,
            &raw const id,
        )
    };
    if rc < 0 { Err(Errno::last()) } else { Ok(()) }
}

/// `SECCOMP_IOCTL_NOTIF_SEND`: the call returns `val` when `error` is 0,
/// else fails with `error` (a positive errno). Never sets
/// `SECCOMP_USER_NOTIF_FLAG_CONTINUE`: the broker answers itself (see
/// [`respond_continue`] for the calls it only checks).
pub(crate) fn respond(
    listener: BorrowedFd<'_>,
    id: u64,
    val: i64,
    error: i32,
) -> Result<(), Errno> {
    send(
        listener,
        libc::seccomp_notif_resp {
            id,
            val,
            error: error.checked_neg().unwrap_or(-libc::EINVAL),
            flags: 0,
        },
    )
}

/// `SECCOMP_IOCTL_NOTIF_SEND` with `SECCOMP_USER_NOTIF_FLAG_CONTINUE`: the
/// kernel runs call `id` itself, reading its arguments anew. Only for calls
/// whose every effect the kernel still checks (Landlock, permissions).
pub(crate) fn respond_continue(listener: BorrowedFd<'_>, id: u64) -> Result<(), Errno> {
    send(
        listener,
        libc::seccomp_notif_resp {
            id,
            val: 0,
            error: 0,
            flags: libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
        },
    )
}

/// Sends `resp`.
fn send(listener: BorrowedFd<'_>, resp: libc::seccomp_notif_resp) -> Result<(), Errno> {
    // SAFETY: SEND reads one `struct seccomp_notif_resp` through the pointer,
    // a live local of that type (no larger on the kernel side: struct_sizes_ok).
    let rc = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SEND,
            &raw const resp,
        )
    };
    if rc < 0 { Err(Errno::last()) } else { Ok(()) }
}

/// `SECCOMP_IOCTL_NOTIF_ADDFD` with `SECCOMP_ADDFD_FLAG_SEND` (Linux 5.14):
/// installs a duplicate of `fd` in the notifying process at the lowest free
/// number and, atomically, answers the call with that number. `cloexec` sets
/// `O_CLOEXEC` on the new descriptor. Our `fd` stays ours (the caller closes
/// it). On failure the call is not answered yet.
pub(crate) fn add_fd_and_send(
    listener: BorrowedFd<'_>,
    id: u64,
    fd: BorrowedFd<'_>,
    cloexec: bool,
) -> Result<i32, Errno> {
    let srcfd = u32::try_from(fd.as_raw_fd()).map_err(|_| Errno::EBADF)?;
    let addfd = libc::seccomp_notif_addfd {
        id,
        flags: libc::SECCOMP_ADDFD_FLAG_SEND as u32,
        srcfd,
        newfd: 0,
        newfd_flags: if cloexec { libc::O_CLOEXEC as u32 } else { 0 },
    };
    // SAFETY: ADDFD reads one `struct seccomp_notif_addfd` through the
    // pointer, a live local of that type; `srcfd` is a descriptor we hold open
    // for the duration of the call (borrowed). The kernel duplicates it into
    // the other process; no descriptor is created in ours.
    let rc = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_ADDFD,
            &raw const addfd,
        )
    };
    if rc < 0 { Err(Errno::last()) } else { Ok(rc) }
}

/// What poll(2) says about a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ListenerState {
    /// A notification is waiting to be received (`POLLIN`).
    pub pending: bool,
    /// No process uses the filter any more (`POLLHUP`): nothing will arrive.
    pub hung_up: bool,
}

/// Polls the listener without blocking (poll(2), timeout 0).
pub(crate) fn poll_listener(listener: BorrowedFd<'_>) -> Result<ListenerState, Errno> {
    let mut pfd = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `pfd` is one live, writable pollfd and nfds is 1; a zero
    // timeout makes the call return at once.
    let n = unsafe { libc::poll(&mut pfd, 1, 0) };
    if n < 0 {
        return Err(Errno::last());
    }
    Ok(ListenerState {
        pending: pfd.revents & libc::POLLIN != 0,
        hung_up: pfd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0,
    })
}

/// Reads the NUL-terminated string at `addr` in thread `pid` into `buf` with
/// process_vm_readv(2), and returns it without the NUL.
///
/// Reads never cross a 4 KiB boundary within one `iovec`, because the kernel
/// stops at the first `iovec` it cannot read entirely: a string that ends
/// just before an unmapped page is still read. `EFAULT` when the string is
/// unreadable (or `addr` is NULL), `ENAMETOOLONG` when no NUL is found
/// within `buf.len()` bytes. The caller must check
/// `SECCOMP_IOCTL_NOTIF_ID_VALID` afterwards: only then is it known that
/// `pid` was still the notifying thread.
pub(crate) fn read_c_string(pid: u32, addr: u64, buf: &mut [u8]) -> Result<&[u8], Errno> {
    const CHUNK: u64 = 4096;
    if addr == 0 {
        return Err(Errno::EFAULT);
    }
    let pid = Pid::from_raw(i32::try_from(pid).map_err(|_| Errno::ESRCH)?);
    // Most paths are short: the first call reads at most this much (the
    // kernel pins and copies every page asked for), a longer string costs
    // one more call.
    const PROBE: usize = 256;
    let mut done = 0usize;
    while done < buf.len() {
        let at = addr.checked_add(done as u64).ok_or(Errno::EFAULT)?;
        // Up to the next 4 KiB boundary, then at most two whole chunks per call.
        let mut first = (CHUNK - at % CHUNK).min((buf.len() - done) as u64) as usize;
        let mut second = (buf.len() - done - first).min(CHUNK as usize);
        if done == 0 {
            first = first.min(PROBE);
            second = second.min(PROBE - first);
        }
        // A child may pass any address, up to u64::MAX (tests/attacks:
        // "path at address -1"): the second part must not wrap around.
        let Some(next) = at.checked_add(first as u64) else {
            return Err(Errno::EFAULT);
        };
        let remote = [
            RemoteIoVec {
                base: at as usize,
                len: first,
            },
            RemoteIoVec {
                base: next as usize,
                len: second,
            },
        ];
        let parts = if second == 0 { 1 } else { 2 };
        let dest = &mut buf[done..done + first + second];
        let got = match process_vm_readv(pid, &mut [IoSliceMut::new(dest)], &remote[..parts]) {
            Ok(n) => n,
            // Nothing readable at `at`.
            Err(Errno::EFAULT) | Err(Errno::EIO) => 0,
            Err(e) => return Err(e),
        };
        if let Some(end) = buf[done..done + got].iter().position(|&b| b == 0) {
            return Ok(&buf[..done + end]);
        }
        if got == 0 {
            return Err(Errno::EFAULT);
        }
        done += got;
        if got < first + second {
            // Stopped at an unreadable page without finding the end.
            return Err(Errno::EFAULT);
        }
    }
    Err(Errno::ENAMETOOLONG)
}

/// Reads exactly `buf.len()` bytes at `addr` in thread `pid`: `EFAULT` when
/// any of them is unreadable. Same caveat as [`read_c_string`] about
/// `ID_VALID`.
pub(crate) fn read_exact(pid: u32, addr: u64, buf: &mut [u8]) -> Result<(), Errno> {
    if buf.is_empty() {
        return Ok(());
    }
    if addr == 0 {
        return Err(Errno::EFAULT);
    }
    let pid = Pid::from_raw(i32::try_from(pid).map_err(|_| Errno::ESRCH)?);
    let len = buf.len();
    let remote = [RemoteIoVec {
        base: usize::try_from(addr).map_err(|_| Errno::EFAULT)?,
        len,
    }];
    match process_vm_readv(pid, &mut [IoSliceMut::new(buf)], &remote) {
        Ok(n) if n == len => Ok(()),
        Ok(_) | Err(Errno::EIO) => Err(Errno::EFAULT),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous, mprotect, munmap};
    use std::num::NonZeroUsize;

    #[test]
    fn reads_strings_up_to_an_unmapped_page() {
        let page = 4096usize;
        // SAFETY: a fresh private anonymous mapping, not aliased by anything.
        let ptr = unsafe {
            mmap_anonymous(
                None,
                NonZeroUsize::new(2 * page).unwrap(),
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_PRIVATE,
            )
        }
        .unwrap();
        let base = ptr.as_ptr().cast::<u8>();
        let text = b"/etc/hostname\0";
        // SAFETY: the first page of our mapping is writable and `text` fits
        // in its last bytes.
        let start = unsafe {
            let start = base.add(page - text.len());
            std::ptr::copy_nonoverlapping(text.as_ptr(), start, text.len());
            start
        };
        // SAFETY: the second page belongs to our mapping; nothing references it.
        unsafe {
            mprotect(
                std::ptr::NonNull::new(base.add(page).cast()).unwrap(),
                page,
                ProtFlags::PROT_NONE,
            )
        }
        .unwrap();
        let pid = std::process::id();
        let mut buf = [0u8; 4096];
        // Ends exactly before the guard page: read whole, not EFAULT.
        assert_eq!(
            read_c_string(pid, start as u64, &mut buf),
            Ok(&b"/etc/hostname"[..])
        );
        // No NUL before the guard page: EFAULT, not garbage.
        // SAFETY: overwrite the NUL inside our writable first page.
        unsafe { *base.add(page - 1) = b'x' };
        assert_eq!(
            read_c_string(pid, start as u64, &mut buf),
            Err(Errno::EFAULT)
        );
        // A buffer too small for the string: ENAMETOOLONG.
        let mut small = [0u8; 4];
        assert_eq!(
            read_c_string(pid, start as u64, &mut small),
            Err(Errno::ENAMETOOLONG)
        );
        assert_eq!(read_c_string(pid, 0, &mut buf), Err(Errno::EFAULT));
        let mut four = [0u8; 4];
        assert_eq!(read_exact(pid, start as u64, &mut four), Ok(()));
        assert_eq!(&four, b"/etc");
        let mut across = [0u8; 16];
        assert_eq!(
            read_exact(pid, start as u64, &mut across),
            Err(Errno::EFAULT)
        );
        // SAFETY: unmapping our own mapping, no references into it remain.
        unsafe { munmap(ptr, 2 * page) }.unwrap();
    }

    /// Regression (tests/attacks, path_tricks "path at address -1"): an
    /// address at the very top used to overflow computing the second part
    /// of the read and panic the notification thread, leaving the caller
    /// hung.
    #[test]
    fn addresses_at_the_top_are_efault() {
        let pid = std::process::id();
        let mut buf = [0u8; 4096];
        for addr in [
            u64::MAX,
            u64::MAX - 1,
            u64::MAX - 4095,
            u64::MAX - 4096,
            1 << 63,
        ] {
            assert_eq!(
                read_c_string(pid, addr, &mut buf),
                Err(Errno::EFAULT),
                "{addr:#x}"
            );
            let mut eight = [0u8; 8];
            assert_eq!(
                read_exact(pid, addr, &mut eight),
                Err(Errno::EFAULT),
                "{addr:#x}"
            );
        }
    }

    #[test]
    fn reads_long_strings_past_the_first_probe() {
        for len in [0usize, 1, 255, 256, 257, 4000, 4095] {
            let mut text = vec![b'a'; len];
            text.push(0);
            let mut buf = [0u8; 4096];
            let got = read_c_string(std::process::id(), text.as_ptr() as u64, &mut buf);
            assert_eq!(got.map(<[u8]>::len), Ok(len), "{len}");
        }
        let long = vec![b'a'; 5000];
        let mut buf = [0u8; 4096];
        assert_eq!(
            read_c_string(std::process::id(), long.as_ptr() as u64, &mut buf),
            Err(Errno::ENAMETOOLONG)
        );
    }

    #[test]
    fn sizes_fit() {
        assert_eq!(struct_sizes_ok(), Ok(true));
    }
}
