//! The child's side of the broker protocol.
//!
//! A confined child cannot open files itself; it asks the broker through a
//! [`Client`] and receives the descriptor. One `Client` may be shared by many
//! threads (`&Client` is enough): each request and its reply form one
//! exchange under a lock, and every reply is checked against the request it
//! answers.
//!
//! Paths must be absolute: a confined child has no meaningful working
//! directory to resolve against, so a relative path fails with `EINVAL`
//! here, before anything is sent.
//!
//! ```
//! use std::io::Read;
//! use std::os::fd::OwnedFd;
//! use fdbroker::client::Client;
//!
//! // Only succeeds inside a child started by `launch::spawn`.
//! if let Ok(client) = Client::from_env() {
//!     let fd: OwnedFd = client.open("/etc/hostname", libc::O_RDONLY, 0)?;
//!     let mut text = String::new();
//!     std::fs::File::from(fd).read_to_string(&mut text)?;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::errno::Errno;
use thiserror::Error;

use crate::launch::{self, InheritError};
use crate::metadata::FileStat;
use crate::protocol::{Call, MAX_REPLY, ProtocolError, Reply, ReplyBody, Request};
use crate::resolve::FollowSymlinks;
use crate::sys;

/// Why a client call failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The broker answered with this errno: `EACCES` is a policy denial of
    /// a path the child may see; `ENOENT` is a path that does not exist or
    /// that the child may not even stat (the two look the same); anything
    /// else is what the operation itself would have returned. Arguments
    /// refused before sending (a relative path, say) are reported the same
    /// way.
    #[error("refused by the broker: {0}")]
    Refused(Errno),
    /// The broker's reply broke the protocol (wrong id, op, size, descriptor
    /// count, truncation). The client refuses further requests afterwards:
    /// replies can no longer be matched to requests.
    #[error("protocol error: {0}")]
    Protocol(ProtocolError),
    /// The broker closed the connection.
    #[error("the broker closed the connection")]
    Disconnected,
    /// sendmsg(2)/recvmsg(2) on the socket failed.
    #[error("broker socket I/O failed: {0}")]
    Io(Errno),
    /// `FDBROKER_FD` does not name a usable broker socket.
    #[error("no broker socket: {0}")]
    Inherit(#[from] InheritError),
    /// The descriptor is not an `AF_UNIX` `SOCK_SEQPACKET` socket.
    #[error("descriptor is not an AF_UNIX SOCK_SEQPACKET socket: {0}")]
    NotSeqpacket(Errno),
}

impl ClientError {
    /// The errno to report to a caller emulating libc: the broker's answer for
    /// [`ClientError::Refused`], `EPROTO` for a protocol error,
    /// `ECONNRESET` when disconnected, the socket error for I/O, `EBADF` for
    /// a missing or unusable `FDBROKER_FD`.
    ///
    /// ```
    /// use fdbroker::client::ClientError;
    /// use nix::errno::Errno;
    /// assert_eq!(ClientError::Refused(Errno::EACCES).errno(), Errno::EACCES);
    /// assert_eq!(ClientError::Disconnected.errno(), Errno::ECONNRESET);
    /// ```
    pub fn errno(&self) -> Errno {
        match self {
            ClientError::Refused(e) | ClientError::Io(e) => *e,
            ClientError::Protocol(_) => Errno::EPROTO,
            ClientError::Disconnected => Errno::ECONNRESET,
            ClientError::Inherit(_) | ClientError::NotSeqpacket(_) => Errno::EBADF,
        }
    }

    /// True for a policy denial of a path the child may see (`EACCES` from
    /// the broker). A path it may not see answers `ENOENT`, as a missing
    /// one does: that is no denial the child can tell.
    pub fn is_denied(&self) -> bool {
        matches!(self, ClientError::Refused(Errno::EACCES))
    }
}

/// Per-connection state, guarded by the exchange lock.
#[derive(Debug)]
struct State {
    next_id: u32,
    /// A reply could not be matched; the stream is out of step for good.
    broken: bool,
}

/// A connection to the broker. `Send + Sync`: share it between threads.
#[derive(Debug)]
pub struct Client {
    sock: OwnedFd,
    state: Mutex<State>,
}

impl Client {
    /// Adopts the socket whose number is in `FDBROKER_FD`, after checking it
    /// is an `AF_UNIX` `SOCK_SEQPACKET` socket (getsockopt(2) `SO_DOMAIN`,
    /// `SO_TYPE`), and marks it close-on-exec so programs this child runs do
    /// not inherit the broker. Succeeds at most once per process; a failed
    /// check leaves the descriptor open and untouched.
    pub fn from_env() -> Result<Client, ClientError> {
        Ok(Client::new(launch::take_inherited()?))
    }

    /// Uses `fd`, which must be an `AF_UNIX` `SOCK_SEQPACKET` socket
    /// connected to a broker.
    ///
    /// ```
    /// use fdbroker::client::Client;
    /// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    /// assert!(Client::from_fd(a.into()).is_err()); // a stream, not seqpacket
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_fd(fd: OwnedFd) -> Result<Client, ClientError> {
        match sys::msg::socket_domain_and_type(fd.as_fd()).map_err(ClientError::NotSeqpacket)? {
            (libc::AF_UNIX, libc::SOCK_SEQPACKET) => Ok(Client::new(fd)),
            _ => Err(ClientError::NotSeqpacket(Errno::EPROTOTYPE)),
        }
    }

    fn new(sock: OwnedFd) -> Client {
        Client {
            sock,
            state: Mutex::new(State {
                next_id: 1,
                broken: false,
            }),
        }
    }

    /// Asks the broker to `open(2)` `path` with `flags` and, when creating,
    /// `mode`. The descriptor returned is always close-on-exec (it arrives
    /// with `MSG_CMSG_CLOEXEC`), whether or not `O_CLOEXEC` was asked for.
    pub fn open(
        &self,
        path: impl AsRef<Path>,
        flags: i32,
        mode: u32,
    ) -> Result<OwnedFd, ClientError> {
        let (_, fd) = self.exchange(Call::Open { flags, mode }, path.as_ref())?;
        // exchange() checked that a successful open carries exactly one.
        fd.ok_or(ClientError::Protocol(ProtocolError::BadReply(
            "open reply without a descriptor",
        )))
    }

    /// `stat(2)` ([`FollowSymlinks::Yes`]) or `lstat(2)`
    /// ([`FollowSymlinks::No`]) of `path`.
    pub fn stat(
        &self,
        path: impl AsRef<Path>,
        follow: FollowSymlinks,
    ) -> Result<FileStat, ClientError> {
        match self.exchange(Call::Stat { follow }, path.as_ref())? {
            (ReplyBody::Stat(st), _) => Ok(st),
            _ => Err(ClientError::Protocol(ProtocolError::BadReply(
                "not a stat reply",
            ))),
        }
    }

    /// `access(2)` of `path` with `amode`: `F_OK` or any of `R_OK | W_OK | X_OK`.
    pub fn access(&self, path: impl AsRef<Path>, amode: i32) -> Result<(), ClientError> {
        self.exchange(Call::Access { amode }, path.as_ref())
            .map(|_| ())
    }

    /// `readlink(2)` of `path`.
    pub fn readlink(&self, path: impl AsRef<Path>) -> Result<PathBuf, ClientError> {
        match self.exchange(Call::Readlink, path.as_ref())? {
            (ReplyBody::Readlink(t), _) => Ok(PathBuf::from(OsString::from_vec(t))),
            _ => Err(ClientError::Protocol(ProtocolError::BadReply(
                "not a readlink reply",
            ))),
        }
    }

    /// Sends one request and receives and checks its reply. Returns the body
    /// of a successful reply and its descriptor (only for `open`).
    fn exchange(
        &self,
        call: Call,
        path: &Path,
    ) -> Result<(ReplyBody, Option<OwnedFd>), ClientError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.broken {
            return Err(ClientError::Protocol(ProtocolError::BadReply(
                "connection out of step",
            )));
        }
        let id = state.next_id;
        state.next_id = match state.next_id.wrapping_add(1) {
            0 => 1,
            n => n,
        };
        let request = Request::new(id, call, path);
        let bytes = request
            .encode()
            .map_err(|e| ClientError::Refused(Errno::from_raw(e.errno())))?;
        sys::msg::send_msg(self.sock.as_fd(), &bytes, None).map_err(send_error)?;

        let mut buf = [0u8; MAX_REPLY];
        let mut received = match sys::msg::recv_msg(self.sock.as_fd(), &mut buf) {
            Ok(r) => r,
            Err(e) => {
                // The reply may still come later: the stream is out of step.
                state.broken = true;
                return Err(ClientError::Io(e));
            }
        };
        // The descriptors are owned: any we do not return are closed on drop.
        let mut fds = std::mem::take(&mut received.fds);
        if received.len == 0 && fds.is_empty() && !received.truncated {
            state.broken = true;
            return Err(ClientError::Disconnected);
        }
        let reply = match check_reply(&buf[..received.len], &received, &request, fds.len()) {
            Ok(r) => r,
            Err(e) => {
                state.broken = true;
                return Err(ClientError::Protocol(e));
            }
        };
        drop(state);
        match reply.body {
            ReplyBody::Error(e) => Err(ClientError::Refused(Errno::from_raw(e))),
            body => Ok((body, fds.pop())),
        }
    }
}

/// Checks a reply record against the request it must answer.
fn check_reply(
    bytes: &[u8],
    flags: &sys::msg::Received,
    request: &Request,
    nfds: usize,
) -> Result<Reply, ProtocolError> {
    if flags.truncated {
        return Err(ProtocolError::TooLong {
            len: bytes.len(),
            max: MAX_REPLY,
        });
    }
    if flags.ctruncated {
        return Err(ProtocolError::ControlTruncated);
    }
    if flags.other_cmsg {
        return Err(ProtocolError::BadReply("unexpected ancillary data"));
    }
    let reply = Reply::decode(bytes)?;
    if reply.id != request.id {
        return Err(ProtocolError::BadReply(
            "reply id does not match the request",
        ));
    }
    if reply.op != Some(request.call.op()) {
        return Err(ProtocolError::BadReply(
            "reply op does not match the request",
        ));
    }
    if nfds != usize::from(reply.nfds()) {
        return Err(ProtocolError::UnexpectedFds);
    }
    Ok(reply)
}

fn send_error(e: Errno) -> ClientError {
    match e {
        Errno::EPIPE | Errno::ECONNRESET => ClientError::Disconnected,
        e => ClientError::Io(e),
    }
}
