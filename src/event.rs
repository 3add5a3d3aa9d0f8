//! One decision of the broker, as every consumer sees it: the socketpair
//! [`crate::broker`], the seccomp [`crate::notify`] server, the audit log,
//! denial lines and learn mode all take the same [`Event`].
//!
//! An event borrows from the request being served and lives only for the
//! [`Observer`] call; an observer that keeps anything copies what it needs.

use std::path::Path;
use std::sync::Arc;

use nix::errno::Errno;

pub use crate::ops::Op;
use crate::policy::{Access, Decision};

/// Where a request reached the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// A system call intercepted with seccomp user notification.
    Seccomp,
    /// A request over the socketpair protocol (`FDBROKER_FD`).
    Socket,
}

impl Source {
    /// `"seccomp"` or `"socket"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Seccomp => "seccomp",
            Source::Socket => "socket",
        }
    }
}

/// One request the broker handled, with its verdict and result.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    /// Requesting thread (seccomp) or process (socket), when known.
    pub pid: Option<u32>,
    /// How the request arrived.
    pub source: Source,
    /// The intercepted system call, for [`Source::Seccomp`].
    pub syscall: Option<&'a str>,
    /// The operation.
    pub op: Op,
    /// The path as requested.
    pub path: &'a Path,
    /// The absolute path judged, if the request got that far.
    pub resolved: Option<&'a Path>,
    /// `open(2)` flags, the `access(2)` mode, or the `*at` flags of a stat,
    /// as given; `None` when the call has none.
    pub flags: Option<i64>,
    /// Permission bits of an `open` that may create.
    pub mode: Option<u32>,
    /// The rights the request needed.
    pub access: Access,
    /// The decision, if the request was judged; `None` when it was refused
    /// before (bad flags, unresolvable path).
    pub decision: Option<&'a Decision>,
    /// The error returned to the requester, `None` on success.
    pub errno: Option<Errno>,
    /// The object was not found: a probe of a missing path (see
    /// [`crate::ops::Outcome::absent`]). Denial lines, learn mode and
    /// `--fail-on-denial` leave such requests out; the audit log says
    /// `"absent":true`.
    pub absent: bool,
}

impl Event<'_> {
    /// Whether fdbroker refused the request, by a decision that did not
    /// allow it (a policy's denial) or by a hard rule, on an object that
    /// exists (or was to be created), whatever errno the requester got
    /// (`EACCES`, or `ENOENT` for a path it may not see). Probes of missing
    /// paths ([`Event::absent`]), errors the policy let through (`ENOENT` on
    /// an allowed path) and requests refused as malformed (`EINVAL`, or
    /// before any judging) are not denials. This is what
    /// `fdbroker run --fail-on-denial` counts and what denial lines report;
    /// the audit log records such an event with `"decision":"deny"`.
    pub fn is_denial(&self) -> bool {
        if self.absent || self.errno.is_none() {
            return false;
        }
        match (self.decision, self.errno) {
            (Some(d), _) => !d.allowed,
            // A hard rule's refusal: `ENOENT` at a path reached (it looks
            // absent), or `EACCES`. A malformed request is neither.
            (None, Some(Errno::EACCES)) => true,
            (None, Some(Errno::ENOENT)) => self.resolved.is_some(),
            (None, _) => false,
        }
    }
}

/// Called once per handled request, on the thread that served it, after
/// the operation and before the answer is sent. It must be quick and must
/// not panic.
pub type Observer = Arc<dyn Fn(&Event<'_>) + Send + Sync>;

/// One observer that calls each of `observers` in turn; `None` for none.
pub fn fan_out(mut observers: Vec<Observer>) -> Option<Observer> {
    match observers.len() {
        0 => None,
        1 => observers.pop(),
        _ => Some(Arc::new(move |e: &Event<'_>| {
            for o in &observers {
                o(e);
            }
        })),
    }
}
