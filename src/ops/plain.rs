//! The one-call way to the object a plain path names, for the metadata
//! operations ([`Ops::act_plain`]): judged as written, reached refusing
//! every symlink.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use nix::errno::Errno;

use super::program::{Acting, Via};
use super::{Ops, Outcome, is_absence};
use crate::policy::{Access, Judge};
use crate::procfs::in_proc;
use crate::resolve::{FollowSymlinks, is_plain};

impl Ops {
    /// Acts with `f` on the object a plain `target` names (no symlink, `.`,
    /// `..` or `//`; outside `/proc`, whose names depend on who asks),
    /// reached in one openat2(2) call that refuses every symlink
    /// ([`crate::resolve::Resolver::open_plain_path`]). With no symlink
    /// followed the string is the object's canonical path, so it is judged
    /// before the object is reached, and the resolving path's read-back of
    /// `/proc/self/fd/N` is not needed (as [`Ops::open`] does for plain
    /// opens). `f` gets the descriptor and whether it runs with the
    /// program's credentials, as in [`Ops::act`].
    ///
    /// `None` when the resolving path must decide instead: the path is not
    /// plain or lies in `/proc`, the policy does not allow the string itself
    /// (a symlink on the way might still lead somewhere it allows), or a
    /// symlink was met (`ELOOP`).
    pub(super) fn act_plain<T>(
        &self,
        judge: &dyn Judge,
        acting: Acting,
        target: &Path,
        follow: FollowSymlinks,
        access: Access,
        f: impl FnOnce(BorrowedFd<'_>, bool) -> Result<T, Errno>,
    ) -> Option<Outcome<T>> {
        if in_proc(target) || !is_plain(target) {
            return None;
        }
        let decision = judge.decide(target, access);
        if !decision.allowed {
            return None;
        }
        // Outer: reaching the object; inner: acting on it.
        let reach_and_act = |as_program: bool| -> Result<Result<T, Errno>, Errno> {
            let fd = self.resolver.open_plain_path(target, follow)?;
            Ok(f(fd.as_fd(), as_program))
        };
        let done = match Via::choose(acting, target, &decision) {
            Via::Broker => reach_and_act(false),
            Via::Program => reach_and_act(true),
            Via::Switch(program) => self.as_program(program, || reach_and_act(true)),
        };
        let judged = target.to_path_buf();
        Some(match done {
            Ok(Ok(v)) => Outcome::allowed(v, access, judged, decision),
            Ok(Err(errno)) => self.fail_at(judge, errno, judged, access, Some(decision)),
            Err(Errno::ELOOP | Errno::ENOSYS | Errno::EINVAL) => return None,
            // Met at the very path judged: no symlink was followed, so the
            // string is also the best guess the resolving path would make,
            // and an O_PATH open fails only in resolution (unlike an open's
            // O_DIRECTORY or the object's mode).
            Err(errno) => Outcome {
                absent: is_absence(errno),
                ..self.fail_at(judge, errno, judged, access, Some(decision))
            },
        })
    }
}
