//! Passing open descriptors between processes, done carefully.
//!
//! The building block under the broker, public for programs that hand
//! descriptors around themselves (the two classic demos in `examples/`).
//! Compared with the usual `sendmsg`/`recvmsg` snippet, every receive here:
//!
//! - uses `MSG_CMSG_CLOEXEC`, so a received descriptor never leaks into a
//!   program the receiver later executes;
//! - sizes its control buffer for the most descriptors one message can carry
//!   (`SCM_MAX_FD`), so the kernel never drops installed ones for lack of room;
//! - owns every descriptor as an [`OwnedFd`] before anything else is checked,
//!   so no error path leaks one;
//! - treats a truncated payload (`MSG_TRUNC`), truncated control data
//!   (`MSG_CTRUNC`), foreign control messages and more descriptors than the
//!   caller accepts as errors — closing whatever arrived.
//!
//! Records travel on a `SOCK_SEQPACKET` socketpair (no path in `/tmp` that
//! anyone could race to bind first). See unix(7), cmsg(3), sendmsg(2),
//! recvmsg(2).
//!
//! ```
//! use std::io::{Read, Seek, Write};
//! use std::os::fd::AsFd;
//!
//! let (a, b) = fdbroker::fdpass::pair()?;
//! let mut file = tempfile::tempfile()?;
//! file.write_all(b"hello")?;
//! fdbroker::fdpass::send(&a, b"one file", &[file.as_fd()])?;
//!
//! let mut buf = [0u8; 64];
//! let msg = fdbroker::fdpass::recv(&b, &mut buf, 1)?;
//! assert_eq!(&buf[..msg.len], b"one file");
//! let mut got = std::fs::File::from(msg.fds.into_iter().next().unwrap());
//! got.rewind()?;
//! let mut text = String::new();
//! got.read_to_string(&mut text)?;
//! assert_eq!(text, "hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;

use crate::sys::msg;

/// The most descriptors one message can carry (the kernel's `SCM_MAX_FD`).
pub const MAX_FDS: usize = msg::SCM_MAX_FD;

/// Why a send or receive failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum FdPassError {
    /// The system call failed.
    #[error("{call}: {errno}")]
    Os {
        /// `socketpair`, `sendmsg` or `recvmsg`.
        call: &'static str,
        /// What it returned.
        errno: Errno,
    },
    /// The peer closed its end: no more records will come.
    #[error("peer closed the connection")]
    Closed,
    /// The record was longer than the buffer; its tail is lost.
    #[error("message truncated: longer than the {0}-byte buffer")]
    Truncated(usize),
    /// Control data did not fit (`MSG_CTRUNC`); descriptors may be lost.
    #[error("control data truncated (MSG_CTRUNC)")]
    ControlTruncated,
    /// A control message other than `SCM_RIGHTS` arrived.
    #[error("unexpected control message")]
    UnexpectedControl,
    /// More descriptors arrived than the caller accepts; all were closed.
    #[error("{got} descriptors attached, at most {max} accepted; all closed")]
    TooManyFds {
        /// How many arrived.
        got: usize,
        /// How many the caller accepts.
        max: usize,
    },
    /// More descriptors than one message can carry were to be sent.
    #[error("{0} descriptors: at most {MAX_FDS} fit in one message")]
    TooManyToSend(usize),
}

/// One record received: its length in the caller's buffer and its descriptors.
#[derive(Debug)]
#[non_exhaustive]
pub struct Message {
    /// Bytes of payload written to the buffer.
    pub len: usize,
    /// The descriptors attached, owned.
    pub fds: Vec<OwnedFd>,
}

/// A connected `AF_UNIX` `SOCK_SEQPACKET` pair, both ends close-on-exec.
/// See socketpair(2).
///
/// ```
/// let (a, b) = fdbroker::fdpass::pair()?;
/// fdbroker::fdpass::send(&a, b"ping", &[])?;
/// let mut buf = [0u8; 4];
/// assert_eq!(fdbroker::fdpass::recv(&b, &mut buf, 0)?.len, 4);
/// # Ok::<(), fdbroker::fdpass::FdPassError>(())
/// ```
pub fn pair() -> Result<(OwnedFd, OwnedFd), FdPassError> {
    msg::seqpacket_pair().map_err(|errno| FdPassError::Os {
        call: "socketpair",
        errno,
    })
}

/// Sends `bytes` as one record with `fds` attached (`SCM_RIGHTS`). The
/// descriptors stay open here; the receiver gets its own copies.
///
/// ```
/// use std::os::fd::AsFd;
/// let (a, b) = fdbroker::fdpass::pair()?;
/// let out = std::io::stdout();
/// fdbroker::fdpass::send(&a, b"my stdout", &[out.as_fd()])?;
/// let mut buf = [0u8; 16];
/// assert_eq!(fdbroker::fdpass::recv(&b, &mut buf, 1)?.fds.len(), 1);
/// # Ok::<(), fdbroker::fdpass::FdPassError>(())
/// ```
pub fn send(sock: impl AsFd, bytes: &[u8], fds: &[BorrowedFd<'_>]) -> Result<(), FdPassError> {
    if fds.len() > MAX_FDS {
        return Err(FdPassError::TooManyToSend(fds.len()));
    }
    msg::send_msg_fds(sock.as_fd(), bytes, fds).map_err(|errno| FdPassError::Os {
        call: "sendmsg",
        errno,
    })
}

/// Receives one record into `buf`, accepting at most `max_fds` descriptors.
///
/// Any violation — truncation, foreign control data, too many descriptors —
/// is an error, and every descriptor that came with the record is closed.
/// An empty record without descriptors from a peer that has gone is
/// [`FdPassError::Closed`].
///
/// ```
/// use std::os::fd::AsFd;
/// use fdbroker::fdpass::{pair, recv, send, FdPassError};
/// let (a, b) = pair()?;
/// let out = std::io::stdout();
/// send(&a, b"two", &[out.as_fd(), out.as_fd()])?;
/// let mut buf = [0u8; 8];
/// // The receiver asked for at most one: both are closed, none leaks.
/// assert_eq!(recv(&b, &mut buf, 1).unwrap_err(), FdPassError::TooManyFds { got: 2, max: 1 });
/// # Ok::<(), FdPassError>(())
/// ```
pub fn recv(sock: impl AsFd, buf: &mut [u8], max_fds: usize) -> Result<Message, FdPassError> {
    let sock = sock.as_fd();
    let got = msg::recv_msg(sock, buf).map_err(|errno| FdPassError::Os {
        call: "recvmsg",
        errno,
    })?;
    // `got.fds` is owned: every early return below closes them.
    if got.ctruncated {
        return Err(FdPassError::ControlTruncated);
    }
    if got.truncated {
        return Err(FdPassError::Truncated(buf.len()));
    }
    if got.other_cmsg {
        return Err(FdPassError::UnexpectedControl);
    }
    if got.fds.len() > max_fds {
        return Err(FdPassError::TooManyFds {
            got: got.fds.len(),
            max: max_fds,
        });
    }
    if got.len == 0 && got.fds.is_empty() && msg::peer_shut_down(sock) {
        return Err(FdPassError::Closed);
    }
    Ok(Message {
        len: got.len,
        fds: got.fds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    fn open_fds() -> usize {
        std::fs::read_dir("/proc/self/fd").unwrap().count()
    }

    #[test]
    fn truncated_and_oversupplied_records_close_what_came() {
        let (a, b) = pair().unwrap();
        let f = tempfile::tempfile().unwrap();
        let before = open_fds();
        let many: Vec<_> = (0..10).map(|_| f.as_fd()).collect();
        send(&a, b"0123456789", &many).unwrap();
        let mut small = [0u8; 4];
        assert_eq!(
            recv(&b, &mut small, 10).unwrap_err(),
            FdPassError::Truncated(4)
        );
        assert_eq!(open_fds(), before);
        send(&a, b"x", &many).unwrap();
        let mut buf = [0u8; 4];
        assert_eq!(
            recv(&b, &mut buf, 3).unwrap_err(),
            FdPassError::TooManyFds { got: 10, max: 3 }
        );
        assert_eq!(open_fds(), before);
        let too_many: Vec<_> = (0..MAX_FDS + 1).map(|_| f.as_fd()).collect();
        assert_eq!(
            send(&a, b"x", &too_many).unwrap_err(),
            FdPassError::TooManyToSend(MAX_FDS + 1)
        );
    }

    #[test]
    fn received_descriptors_are_close_on_exec() {
        let (a, b) = pair().unwrap();
        let f = tempfile::tempfile().unwrap();
        send(&a, b"f", &[f.as_fd()]).unwrap();
        let mut buf = [0u8; 1];
        let m = recv(&b, &mut buf, 1).unwrap();
        let flags = nix::fcntl::fcntl(&m.fds[0], nix::fcntl::FcntlArg::F_GETFD).unwrap();
        assert_ne!(flags & libc::FD_CLOEXEC, 0);
    }

    #[test]
    fn a_closed_peer_is_reported() {
        let (a, b) = pair().unwrap();
        drop(a);
        let mut buf = [0u8; 1];
        assert_eq!(recv(&b, &mut buf, 0).unwrap_err(), FdPassError::Closed);
    }
}
