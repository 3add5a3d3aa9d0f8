//! The broker: serves children's requests over their socketpairs.
//!
//! A [`Broker`] answers every record a child sends with one reply (see
//! [`crate::protocol`] and `docs/protocol.md`): it decodes the request, lets
//! [`crate::ops::Ops`] resolve the path race-free, judge the object reached
//! and act on exactly that object, and sends the result back, with the opened
//! descriptor attached by `SCM_RIGHTS`.
//!
//! Each connection is served by its own thread ([`Broker::spawn`]), so a slow
//! or hung operation (an `open` of a FIFO with no writer, a stalled network
//! filesystem) stalls only the child that asked. A malformed request gets an
//! error reply and the connection goes on; descriptors a child attaches are
//! closed unread. Nothing a child sends can panic the broker or leak a
//! descriptor.
//!
//! ```
//! use std::path::Path;
//! use std::sync::Arc;
//! use fdbroker::broker::Broker;
//! use fdbroker::client::Client;
//! use fdbroker::policy::Policy;
//! use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
//!
//! let policy = Policy::parse(
//!     "version = 1\n[[allow]]\npaths = [\"/dev/null\"]\naccess = [\"read\"]\n",
//!     Path::new("example.toml"),
//! )?;
//! let broker = Broker::new(Arc::new(policy))?;
//!
//! // Normally launch::spawn makes the pair and the child holds one end.
//! let (ours, theirs) =
//!     socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)?;
//! let serving = broker.spawn(ours, None)?;
//!
//! let client = Client::from_fd(theirs)?;
//! let _null = client.open("/dev/null", libc::O_RDONLY, 0)?;
//! // Visible but not writable: denied.
//! let denied = client.open("/dev/null", libc::O_WRONLY, 0).unwrap_err();
//! assert!(denied.is_denied());
//! // Not even visible: it looks absent.
//! let hidden = client.open("/etc/shadow", libc::O_RDONLY, 0).unwrap_err();
//! assert_eq!(hidden.errno(), nix::errno::Errno::ENOENT);
//!
//! drop(client); // the child's end closes: the broker's thread returns
//! let summary = serving.join().expect("broker thread")?;
//! assert_eq!((summary.requests, summary.succeeded, summary.refused), (3, 1, 2));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::os::fd::{AsFd, OwnedFd};
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use nix::errno::Errno;
use thiserror::Error;

use crate::event::{Event, Observer, Source};
use crate::ops::{Context, Ops, Outcome, ProgramIds};
use crate::policy::{Access, Decision, Judge};
use crate::protocol::{
    Call, MAX_REPLY_DATA, MAX_REQUEST, Op, ProtocolError, Rejected, Reply, ReplyBody, Request,
};
use crate::resolve::ResolveError;
use crate::sys::msg::{self, Received};

/// What one connection amounted to, returned when the child hangs up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServeSummary {
    /// Records received (each got one reply).
    pub requests: u64,
    /// Requests that succeeded.
    pub succeeded: u64,
    /// Valid requests refused or failed (any errno, denials included).
    pub refused: u64,
    /// Malformed records (answered with `EPROTO` or `EINVAL`).
    pub malformed: u64,
    /// Descriptors sent.
    pub fds_sent: u64,
}

/// Why a broker could not start or stopped serving a connection.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The resolver could not be set up (see [`crate::resolve`]).
    #[error("cannot set up the resolver: {0}")]
    Setup(#[from] ResolveError),
    /// recvmsg(2) on the connection failed.
    #[error("receiving a request: {0}")]
    Recv(#[source] Errno),
    /// sendmsg(2) on the connection failed (other than the child being gone).
    #[error("sending a reply: {0}")]
    Send(#[source] Errno),
    /// The connection's thread could not be started.
    #[error("cannot start a connection thread: {0}")]
    Thread(#[source] std::io::Error),
}

struct Inner {
    ops: Arc<Ops>,
    judge: Arc<dyn Judge>,
    observer: Option<Observer>,
    program: Option<ProgramIds>,
}

/// Serves children; cheap to clone (all clones share the same engine,
/// judge and observer).
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("observer", &self.inner.observer.is_some())
            .finish_non_exhaustive()
    }
}

impl Broker {
    /// A broker judging with `judge` (usually a [`crate::policy::Policy`]),
    /// with its own [`Ops`] engine.
    pub fn new(judge: Arc<dyn Judge>) -> Result<Broker, BrokerError> {
        Ok(Broker::with_ops(judge, Arc::new(Ops::new()?)))
    }

    /// A broker sharing an existing engine, e.g. with a seccomp-notification
    /// supervisor.
    pub fn with_ops(judge: Arc<dyn Judge>, ops: Arc<Ops>) -> Broker {
        Broker {
            inner: Arc::new(Inner {
                ops,
                judge,
                observer: None,
                program: None,
            }),
        }
    }

    /// This broker, calling `observer` for every decoded request (see [`Observer`]).
    pub fn with_observer(self, observer: Observer) -> Broker {
        Broker {
            inner: Arc::new(Inner {
                ops: Arc::clone(&self.inner.ops),
                judge: Arc::clone(&self.inner.judge),
                observer: Some(observer),
                program: self.inner.program,
            }),
        }
    }

    /// This broker, serving children that run with `program`'s credentials:
    /// what lies in `/proc` and what only a built-in profile grants is then
    /// opened with those, never with the broker's own (see
    /// [`ProgramIds`]; `fdbroker run` does this). Without it, every request
    /// is served with the broker's credentials, as the policy alone says.
    pub fn with_program(self, program: ProgramIds) -> Broker {
        Broker {
            inner: Arc::new(Inner {
                ops: Arc::clone(&self.inner.ops),
                judge: Arc::clone(&self.inner.judge),
                observer: self.inner.observer.clone(),
                program: Some(program),
            }),
        }
    }

    /// Serves the connection `conn` on a new thread named after the child;
    /// see [`Broker::serve`].
    pub fn spawn(
        &self,
        conn: OwnedFd,
        peer_pid: Option<u32>,
    ) -> Result<JoinHandle<Result<ServeSummary, BrokerError>>, BrokerError> {
        let broker = self.clone();
        let name = match peer_pid {
            Some(pid) => format!("fdbroker-{pid}"),
            None => "fdbroker-conn".to_string(),
        };
        std::thread::Builder::new()
            .name(name)
            .spawn(move || broker.serve(conn, peer_pid))
            .map_err(BrokerError::Thread)
    }

    /// Serves the connection `conn` until the child closes its end (or
    /// shuts it down for writing), then closes it and returns the counts.
    ///
    /// `peer_pid` is the child's pid: `/proc/self` in its requests means that
    /// process. Without it, `/proc/self` paths are refused. (`SO_PEERCRED`
    /// cannot tell it: on a socketpair it names the process that created the
    /// pair, the broker.)
    ///
    /// Returns an error only when the socket itself fails; a child that goes
    /// away mid-exchange is a normal end.
    pub fn serve(&self, conn: OwnedFd, peer_pid: Option<u32>) -> Result<ServeSummary, BrokerError> {
        let ctx = Context {
            pid: peer_pid,
            program: self.inner.program,
        };
        let mut summary = ServeSummary::default();
        let mut buf = vec![0u8; MAX_REQUEST];
        loop {
            let received = match msg::recv_msg(conn.as_fd(), &mut buf) {
                Ok(r) => r,
                Err(Errno::ECONNRESET) => break,
                Err(e) => return Err(BrokerError::Recv(e)),
            };
            let Received {
                len,
                fds,
                truncated,
                ctruncated,
                other_cmsg,
            } = received;
            // A request never carries descriptors: close any, unread.
            let attached = fds.len();
            drop(fds);
            let bytes = buf.get(..len).unwrap_or_default();
            let anomaly = if ctruncated {
                Some(ProtocolError::ControlTruncated)
            } else if attached > 0 || other_cmsg {
                Some(ProtocolError::UnexpectedFds)
            } else if truncated {
                Some(ProtocolError::TooLong {
                    len: MAX_REQUEST + 1,
                    max: MAX_REQUEST,
                })
            } else {
                None
            };
            // recvmsg returns 0 both at end of stream and for an empty record.
            if len == 0 && anomaly.is_none() && msg::peer_shut_down(conn.as_fd()) {
                break;
            }
            summary.requests += 1;
            let decoded = match anomaly {
                Some(e) => Err(Rejected::for_message(bytes, e)),
                None => Request::decode(bytes),
            };
            let (reply, fd) = match decoded {
                Ok(request) => {
                    // A bug must fail safe: an EIO answer, not a child left
                    // waiting for a reply from a thread that died.
                    let ran = panic::catch_unwind(AssertUnwindSafe(|| self.run(&ctx, &request)));
                    let (reply, fd) = ran.unwrap_or_else(|_| {
                        tracing::error!(pid = ?peer_pid, id = request.id, "request handler panicked");
                        (
                            Reply::error(request.id, Some(request.call.op()), libc::EIO),
                            None,
                        )
                    });
                    match reply.body {
                        ReplyBody::Error(_) => summary.refused += 1,
                        _ => summary.succeeded += 1,
                    }
                    (reply, fd)
                }
                Err(rejected) => {
                    tracing::debug!(pid = ?peer_pid, id = rejected.id, error = %rejected.error, "malformed request");
                    summary.malformed += 1;
                    (rejected.reply(), None)
                }
            };
            let (bytes, fd) = match reply.encode() {
                Ok(bytes) => (bytes, fd),
                // Cannot happen: run() only builds valid replies. Should it,
                // answer EIO without the descriptor (which is closed here).
                Err(_) => match Reply::error(reply.id, reply.op, libc::EIO).encode() {
                    Ok(bytes) => (bytes, None),
                    // Without a reply the child would wait forever: hang up.
                    Err(_) => break,
                },
            };
            match msg::send_msg(conn.as_fd(), &bytes, fd.as_ref().map(|f| f.as_fd())) {
                Ok(()) => summary.fds_sent += u64::from(fd.is_some()),
                Err(Errno::EPIPE | Errno::ECONNRESET) => break,
                Err(e) => return Err(BrokerError::Send(e)),
            }
            // `fd`, our copy of a descriptor just sent, is closed here.
        }
        Ok(summary)
    }

    /// Runs one valid request; returns the reply and the descriptor it carries.
    fn run(&self, ctx: &Context, request: &Request) -> (Reply, Option<OwnedFd>) {
        let ops = &self.inner.ops;
        let judge: &dyn Judge = &*self.inner.judge;
        let path = request.path();
        let op = request.call.op();
        let (flags, mode, done) = match request.call {
            Call::Open { flags, mode } => (
                flags,
                mode,
                finish(ops.open(judge, ctx, path, flags, mode), |fd| {
                    Ok((ReplyBody::Opened, Some(fd)))
                }),
            ),
            Call::Stat { follow } => (
                follow.at_flags(),
                0,
                finish(ops.stat(judge, ctx, path, follow), |st| {
                    Ok((ReplyBody::Stat(st), None))
                }),
            ),
            Call::Access { amode } => (
                amode,
                0,
                finish(ops.access(judge, ctx, path, amode), |()| {
                    Ok((ReplyBody::Access, None))
                }),
            ),
            Call::Readlink => (
                0,
                0,
                finish(ops.readlink(judge, ctx, path), |target| {
                    // A Linux symlink target is 1..=4095 bytes; anything else
                    // cannot be expressed on the wire.
                    if target.is_empty() {
                        Err(Errno::EIO)
                    } else if target.len() > MAX_REPLY_DATA {
                        Err(Errno::ENAMETOOLONG)
                    } else {
                        Ok((ReplyBody::Readlink(target), None))
                    }
                }),
            ),
        };
        let Finished {
            result,
            access,
            resolved,
            decision,
            absent,
        } = done;
        let errno = match &result {
            Ok(_) => 0,
            Err(e) => positive_errno(*e),
        };
        if let Some(observer) = &self.inner.observer {
            observer(&Event {
                pid: ctx.pid,
                source: Source::Socket,
                syscall: None,
                op,
                path,
                resolved: resolved.as_deref(),
                flags: Some(i64::from(flags)),
                mode: (op == Op::Open).then_some(mode),
                access,
                decision: decision.as_ref(),
                errno: (errno != 0).then(|| Errno::from_raw(errno)),
                absent,
            });
        }
        match result {
            Ok((body, fd)) => (
                Reply {
                    id: request.id,
                    op: Some(op),
                    body,
                },
                fd,
            ),
            Err(_) => (Reply::error(request.id, Some(op), errno), None),
        }
    }
}

/// An [`Outcome`] turned into a reply body (and descriptor).
struct Finished {
    result: Result<(ReplyBody, Option<OwnedFd>), Errno>,
    access: Access,
    resolved: Option<PathBuf>,
    decision: Option<Decision>,
    absent: bool,
}

fn finish<T>(
    outcome: Outcome<T>,
    body: impl FnOnce(T) -> Result<(ReplyBody, Option<OwnedFd>), Errno>,
) -> Finished {
    Finished {
        result: outcome.result.and_then(body),
        access: outcome.access,
        resolved: outcome.resolved,
        decision: outcome.decision,
        absent: outcome.absent,
    }
}

/// `e` as a positive errno for the wire; `EIO` if it is somehow not one.
fn positive_errno(e: Errno) -> i32 {
    match e as i32 {
        n if n > 0 => n,
        _ => libc::EIO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Client;
    use crate::policy::Decision;
    use std::path::Path;

    /// Allows everything but panics on one path: stands in for a bug.
    struct Buggy;

    impl Judge for Buggy {
        fn decide(&self, path: &Path, _access: Access) -> Decision {
            assert!(path != Path::new("/dev/zero"), "a bug in the judge");
            Decision {
                allowed: true,
                rule: None,
            }
        }
    }

    #[test]
    fn a_panicking_request_answers_eio_and_serving_goes_on() {
        let broker = Broker::new(Arc::new(Buggy)).unwrap();
        let (ours, theirs) = msg::seqpacket_pair().unwrap();
        let serving = broker.spawn(ours, None).unwrap();
        let client = Client::from_fd(theirs).unwrap();
        let err = client.open("/dev/zero", libc::O_RDONLY, 0).unwrap_err();
        assert_eq!(err.errno(), Errno::EIO);
        assert!(client.open("/dev/null", libc::O_RDONLY, 0).is_ok());
        drop(client);
        let summary = serving.join().expect("serving thread").unwrap();
        assert_eq!((summary.requests, summary.refused), (2, 1));
    }
}
