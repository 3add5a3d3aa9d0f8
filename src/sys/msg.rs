//! Record-oriented `AF_UNIX` messaging with descriptor passing (`SCM_RIGHTS`).
//!
//! The receive side wraps every descriptor the kernel installed into an
//! [`OwnedFd`] before looking at anything else, so a caller can never leak one
//! by returning early; whatever the caller does not keep is closed on drop.

use std::mem;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::sys::socket::{self, AddressFamily, SockFlag, SockType};

/// `SCM_MAX_FD` in the kernel: the most descriptors one message can carry.
pub(crate) const SCM_MAX_FD: usize = 253;

/// `SCM_PIDFD` (Linux 6.5): a pidfd the kernel attaches when `SO_PASSPIDFD` is
/// set. We never set it, but if one ever shows up it is a descriptor we must close.
const SCM_PIDFD: libc::c_int = 0x04;

/// Control buffer: room for `SCM_MAX_FD` descriptors in one `SCM_RIGHTS`
/// message plus credentials and a pidfd, so the kernel never has to drop
/// installed descriptors for lack of space. Made of `u64` for `cmsghdr` alignment.
const CONTROL_WORDS: usize = 256;
const _: () = assert!(CONTROL_WORDS * 8 >= 16 * 3 + SCM_MAX_FD * 4 + 32 + 8);

/// One received record.
#[derive(Debug)]
pub(crate) struct Received {
    /// Bytes copied into the caller's buffer.
    pub len: usize,
    /// Every descriptor that came with the record, in order.
    pub fds: Vec<OwnedFd>,
    /// `MSG_TRUNC`: the record was longer than the buffer.
    pub truncated: bool,
    /// `MSG_CTRUNC`: ancillary data did not fit.
    pub ctruncated: bool,
    /// Ancillary messages other than descriptors were present.
    pub other_cmsg: bool,
}

/// A connected `AF_UNIX`, `SOCK_SEQPACKET` pair, both ends close-on-exec.
pub(crate) fn seqpacket_pair() -> Result<(OwnedFd, OwnedFd), Errno> {
    socket::socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
}

/// Sends `bytes` as one record, with `fd` attached by `SCM_RIGHTS` if given.
/// See [`send_msg_fds`].
pub(crate) fn send_msg(
    sock: BorrowedFd<'_>,
    bytes: &[u8],
    fd: Option<BorrowedFd<'_>>,
) -> Result<(), Errno> {
    match fd {
        Some(fd) => send_msg_fds(sock, bytes, &[fd]),
        None => send_msg_fds(sock, bytes, &[]),
    }
}

/// Sends `bytes` as one record with `fds` attached by `SCM_RIGHTS` (none
/// when empty; at most [`SCM_MAX_FD`]). `MSG_NOSIGNAL`: a peer that went away
/// is `EPIPE`, not a `SIGPIPE` that would kill the broker. Retries on
/// `EINTR`. See sendmsg(2), unix(7).
pub(crate) fn send_msg_fds(
    sock: BorrowedFd<'_>,
    bytes: &[u8],
    fds: &[BorrowedFd<'_>],
) -> Result<(), Errno> {
    if fds.len() > SCM_MAX_FD {
        return Err(Errno::ETOOMANYREFS);
    }
    let data_len = fds.len() * mem::size_of::<RawFd>();
    // SAFETY: CMSG_SPACE only computes a size.
    let space = if fds.is_empty() {
        0
    } else {
        unsafe { libc::CMSG_SPACE(data_len as u32) as usize }
    };
    // Only the `space` bytes used are written: this runs once per reply.
    let mut control = mem::MaybeUninit::<[u64; CONTROL_WORDS]>::uninit();
    let ctl = control.as_mut_ptr().cast::<u8>();
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr().cast_mut().cast(),
        iov_len: bytes.len(),
    };
    // SAFETY: msghdr is a plain C struct for which all-zero is a valid value
    // (null name, no iovecs, no control).
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if space > 0 {
        // SAFETY: `space` is at most CMSG_SPACE(SCM_MAX_FD * 4), which the
        // const assertion above keeps within `control`; zeroing those bytes
        // initialises them. With msg_controllen = space >= CMSG_SPACE(0),
        // CMSG_FIRSTHDR returns the (8-aligned) start of `control`, and the
        // header plus `data_len` bytes of data fit in `space`.
        unsafe {
            std::ptr::write_bytes(ctl, 0, space);
            msg.msg_control = ctl.cast();
            msg.msg_controllen = space;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(data_len as u32) as usize;
            let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
            for (i, fd) in fds.iter().enumerate() {
                data.add(i).write_unaligned(fd.as_raw_fd());
            }
        }
    }
    loop {
        // SAFETY: `msg` points at one iovec covering `bytes` and, when
        // descriptors are sent, at `space` initialised bytes of `control`;
        // all live for the call, which only reads them.
        let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
        if n < 0 {
            match Errno::last() {
                Errno::EINTR => continue,
                e => return Err(e),
            }
        }
        return if usize::try_from(n) == Ok(bytes.len()) {
            Ok(())
        } else {
            Err(Errno::EMSGSIZE)
        };
    }
}

/// Receives one record into `buf` with `MSG_CMSG_CLOEXEC`, retrying on
/// `EINTR`. A return with `len == 0` and no descriptors may be end of stream.
/// See recvmsg(2), unix(7), cmsg(3).
pub(crate) fn recv_msg(sock: BorrowedFd<'_>, buf: &mut [u8]) -> Result<Received, Errno> {
    // Left uninitialised: the kernel reports in msg_controllen how much it
    // wrote, and only that much is read back (CMSG_FIRSTHDR/NXTHDR stop there).
    let mut control = mem::MaybeUninit::<[u64; CONTROL_WORDS]>::uninit();
    loop {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: msghdr is a plain C struct for which all-zero is a valid value
        // (null name, no iovecs, no control).
        let mut msg: libc::msghdr = unsafe { mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = mem::size_of::<[u64; CONTROL_WORDS]>();
        // SAFETY: `msg` points at one iovec covering `buf` and at `control`,
        // both live and writable for the whole call and of the lengths given;
        // the kernel writes no further than those lengths.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n < 0 {
            match Errno::last() {
                Errno::EINTR => continue,
                e => return Err(e),
            }
        }
        // Take ownership of every installed descriptor before any other check.
        let (fds, other_cmsg) = take_fds(&msg);
        return Ok(Received {
            len: usize::try_from(n).unwrap_or(0).min(buf.len()),
            fds,
            truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
            ctruncated: msg.msg_flags & libc::MSG_CTRUNC != 0,
            other_cmsg,
        });
    }
}

/// Wraps the descriptors of every `SCM_RIGHTS` (and `SCM_PIDFD`) control
/// message in `msg` into `OwnedFd`s; reports whether other messages were present.
fn take_fds(msg: &libc::msghdr) -> (Vec<OwnedFd>, bool) {
    let mut fds = Vec::new();
    let mut other = false;
    // SAFETY: `msg` was filled by a successful recvmsg(2): msg_control and
    // msg_controllen describe our live control buffer, and the kernel set
    // msg_controllen to the bytes it wrote. CMSG_FIRSTHDR/CMSG_NXTHDR only
    // return headers lying entirely within that range (or null).
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(msg) };
    while !cmsg.is_null() {
        // SAFETY: non-null results of CMSG_FIRSTHDR/NXTHDR point at a complete
        // cmsghdr inside the control buffer; it may be unaligned for reading
        // only in theory (the buffer is u64-aligned), read_unaligned covers it.
        let hdr: libc::cmsghdr = unsafe { std::ptr::read_unaligned(cmsg) };
        // SAFETY: CMSG_LEN(0) is pure arithmetic.
        let header_len = unsafe { libc::CMSG_LEN(0) } as usize;
        let data_len = hdr.cmsg_len.saturating_sub(header_len);
        let carries_fds = hdr.cmsg_level == libc::SOL_SOCKET
            && (hdr.cmsg_type == libc::SCM_RIGHTS || hdr.cmsg_type == SCM_PIDFD);
        if carries_fds {
            // SAFETY: CMSG_DATA of a valid header points at its payload.
            let data = unsafe { libc::CMSG_DATA(cmsg) };
            // The kernel never reports a header longer than what it copied, and
            // under MSG_CTRUNC it shortens cmsg_len to what fit; still, clamp
            // to the buffer's end so a bogus length cannot make us read past it.
            let buf_end = msg.msg_control as usize + msg.msg_controllen;
            let avail = buf_end.saturating_sub(data as usize);
            let count = data_len.min(avail) / mem::size_of::<RawFd>();
            for i in 0..count {
                // SAFETY: `i < count` keeps the read inside the payload, which
                // lies inside the control buffer; ints in it may be unaligned.
                let raw: RawFd = unsafe { std::ptr::read_unaligned(data.cast::<RawFd>().add(i)) };
                if raw >= 0 {
                    // SAFETY: the kernel just installed `raw` in our table for
                    // this message; nothing else in the process knows the
                    // number, so this OwnedFd is its only owner.
                    fds.push(unsafe { OwnedFd::from_raw_fd(raw) });
                }
            }
        } else {
            other = true;
        }
        // SAFETY: `cmsg` is a valid header from this msghdr (see above).
        cmsg = unsafe { libc::CMSG_NXTHDR(msg, cmsg) };
    }
    (fds, other)
}

/// The `SO_DOMAIN` and `SO_TYPE` of a socket; `ENOTSOCK` for anything else.
/// See getsockopt(2), socket(7).
pub(crate) fn socket_domain_and_type(fd: BorrowedFd<'_>) -> Result<(i32, i32), Errno> {
    let get = |opt: libc::c_int| -> Result<i32, Errno> {
        let mut value: libc::c_int = 0;
        let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `value` and `len` are live locals; `len` gives the size of
        // `value`, and the kernel writes at most that many bytes.
        let rc = unsafe {
            libc::getsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        if rc < 0 {
            Err(Errno::last())
        } else {
            Ok(value)
        }
    };
    Ok((get(libc::SO_DOMAIN)?, get(libc::SO_TYPE)?))
}

/// Why [`adopt_inherited_seqpacket`] adopted nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AdoptError {
    /// An inherited socket was already adopted in this process.
    AlreadyAdopted,
    /// The number is not an open `AF_UNIX` `SOCK_SEQPACKET` socket (`EBADF`,
    /// `ENOTSOCK`, `EPROTOTYPE`), or checking it failed.
    Check(Errno),
}

/// Set once [`adopt_inherited_seqpacket`] has adopted a descriptor, so that
/// no number can be given two owners.
static ADOPTED: AtomicBool = AtomicBool::new(false);

/// Takes ownership of the inherited descriptor numbered `raw` if, and only
/// if, it is an open `AF_UNIX` `SOCK_SEQPACKET` socket and no inherited
/// socket was adopted before in this process: at most one ever is. On error
/// nothing is closed: the number may be someone else's (stdout, say), so it
/// is only borrowed for the checks, and a later call may try again.
///
/// This is how a child adopts the number it inherited in `FDBROKER_FD`.
pub(crate) fn adopt_inherited_seqpacket(raw: RawFd) -> Result<OwnedFd, AdoptError> {
    // Claimed before the checks, so that two threads cannot both pass them.
    if ADOPTED
        .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        return Err(AdoptError::AlreadyAdopted);
    }
    if let Err(e) = check_seqpacket(raw) {
        ADOPTED.store(false, Ordering::SeqCst);
        return Err(AdoptError::Check(e));
    }
    // SAFETY: `raw` is an open socket (checked above), the one this process
    // inherited. The flag above makes this the only adoption in the process,
    // and nothing else in this crate holds that number: this OwnedFd is its
    // only owner.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// `Ok` when `raw` is an open `AF_UNIX` `SOCK_SEQPACKET` socket; borrows it
/// only for the checks.
fn check_seqpacket(raw: RawFd) -> Result<(), Errno> {
    if raw < 0 {
        return Err(Errno::EBADF);
    }
    // SAFETY: F_GETFD only reads the descriptor flags of `raw`.
    if unsafe { libc::fcntl(raw, libc::F_GETFD) } < 0 {
        return Err(Errno::last());
    }
    // SAFETY: `raw` is open (checked above) and the borrow does not outlive
    // this function, during which nothing in this thread closes it.
    let borrowed = unsafe { BorrowedFd::borrow_raw(raw) };
    match socket_domain_and_type(borrowed)? {
        (libc::AF_UNIX, libc::SOCK_SEQPACKET) => Ok(()),
        _ => Err(Errno::EPROTOTYPE),
    }
}

/// Whether the peer of a connected socket has closed its end or shut it down
/// for writing: poll(2) reports `POLLRDHUP` (or `POLLHUP`). Then a 0-byte
/// read was the end of the stream, not an empty record. Does not block.
/// Undeterminable (poll failing) counts as shut down, so a caller never spins
/// on a dead socket.
pub(crate) fn peer_shut_down(sock: BorrowedFd<'_>) -> bool {
    let mut pfd = libc::pollfd {
        fd: sock.as_raw_fd(),
        events: libc::POLLRDHUP,
        revents: 0,
    };
    loop {
        // SAFETY: `pfd` is one live, writable pollfd and nfds is 1; a zero
        // timeout makes the call return at once.
        let n = unsafe { libc::poll(&mut pfd, 1, 0) };
        if n >= 0 {
            return pfd.revents
                & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR | libc::POLLNVAL)
                != 0;
        }
        if Errno::last() != Errno::EINTR {
            return true;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::{AsFd, IntoRawFd};
    use std::os::unix::net::UnixStream;

    use super::*;

    #[test]
    fn an_inherited_socket_is_adopted_at_most_once() {
        // Failed checks adopt nothing and leave the next call free to try.
        assert_eq!(
            adopt_inherited_seqpacket(-1).err(),
            Some(AdoptError::Check(Errno::EBADF))
        );
        let file = std::fs::File::open("/dev/null").unwrap();
        assert_eq!(
            adopt_inherited_seqpacket(file.as_raw_fd()).err(),
            Some(AdoptError::Check(Errno::ENOTSOCK))
        );
        let (stream, _peer) = UnixStream::pair().unwrap();
        assert_eq!(
            adopt_inherited_seqpacket(stream.as_raw_fd()).err(),
            Some(AdoptError::Check(Errno::EPROTOTYPE))
        );
        let (ours, theirs) = seqpacket_pair().unwrap();
        let adopted = adopt_inherited_seqpacket(ours.into_raw_fd()).unwrap();
        send_msg(theirs.as_fd(), b"x", None).unwrap();
        let mut buf = [0u8; 4];
        assert_eq!(recv_msg(adopted.as_fd(), &mut buf).unwrap().len, 1);
        // A second adoption is refused, even of a number nobody owns.
        let (spare, _peer) = seqpacket_pair().unwrap();
        let raw = spare.into_raw_fd();
        assert_eq!(
            adopt_inherited_seqpacket(raw).err(),
            Some(AdoptError::AlreadyAdopted)
        );
        // SAFETY: `raw` was released by `into_raw_fd` above and the refused
        // adoption did not take it: this is its only owner.
        drop(unsafe { OwnedFd::from_raw_fd(raw) });
    }
}
