//! The one-call way to the object a plain path names ([`Ops::plain`]):
//! judged as written, reached refusing every symlink. Opens take it with
//! their own flags ([`Ops::open`]), the operations on one object with an
//! `O_PATH` descriptor ([`Ops::act_plain`]).

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use nix::errno::Errno;

use super::program::{Acting, Via};
use super::{Ops, Outcome, is_absence};
use crate::policy::{Access, Judge};
use crate::procfs::in_proc;
use crate::resolve::{FollowSymlinks, is_plain};
use crate::sys::creds;

impl Ops {
    /// The one-call way for a plain `target` (no symlink, `.`, `..` or `//`;
    /// outside `/proc`, whose names depend on who asks): with no symlink
    /// followed the string is the object's canonical path, so it is judged
    /// as written, before `reach` reaches it refusing every symlink — no
    /// read-back of `/proc/self/fd/N`. `reach` gets whether it runs with the
    /// program's credentials (chosen as [`Ops::act`] does) and answers the
    /// error of reaching the object (outer; `absent` says which of those
    /// mean it is missing) or the result of acting on it (inner).
    ///
    /// `None` when the resolving path must decide instead: the path is not
    /// plain or lies in `/proc`, the policy does not allow the string itself
    /// (a symlink on the way might still lead somewhere it allows), or a
    /// symlink was met (`ELOOP`; `ENOSYS`/`EINVAL` without openat2(2)).
    /// The thread's credentials are then as they were, or the program's:
    /// [`Ops::program_first`] comes next, and puts the broker's back.
    pub(super) fn plain<T>(
        &self,
        judge: &dyn Judge,
        acting: Acting,
        target: &Path,
        access: Access,
        absent: impl Fn(Errno) -> bool,
        reach: impl FnOnce(bool) -> Result<Result<T, Errno>, Errno>,
    ) -> Option<Outcome<T>> {
        if in_proc(target) || !is_plain(target) {
            return None;
        }
        let decision = judge.decide(target, access);
        if !decision.allowed {
            return None;
        }
        let done = match Via::choose(acting, target, &decision) {
            Via::Broker => {
                // A receiver may still hold the program's credentials.
                creds::settle();
                reach(false)
            }
            Via::Program => reach(true),
            // The last step when it succeeds: nothing follows as the broker.
            Via::Switch(program) => self.as_program_last(program, || reach(true)),
        };
        let judged = target.to_path_buf();
        Some(match done {
            Ok(Ok(v)) => Outcome::allowed(v, access, judged, decision),
            Ok(Err(errno)) => self.fail_at(judge, errno, judged, access, Some(decision)),
            Err(Errno::ELOOP | Errno::ENOSYS | Errno::EINVAL) => return None,
            // Met at the very path judged: no symlink was followed, so the
            // string is also the best guess the resolving path would make.
            Err(errno) => Outcome {
                absent: absent(errno),
                ..self.fail_at(judge, errno, judged, access, Some(decision))
            },
        })
    }

    /// Acts with `f` on the object a plain `target` names, held with an
    /// `O_PATH` descriptor ([`crate::resolve::Resolver::open_plain_path`]);
    /// `f` gets the descriptor and whether it runs with the program's
    /// credentials, as in [`Ops::act`]. `None` as [`Ops::plain`].
    pub(super) fn act_plain<T>(
        &self,
        judge: &dyn Judge,
        acting: Acting,
        target: &Path,
        follow: FollowSymlinks,
        access: Access,
        f: impl FnOnce(BorrowedFd<'_>, bool) -> Result<T, Errno>,
    ) -> Option<Outcome<T>> {
        // An O_PATH open fails only in resolution, never on the object's
        // mode: every absence error says it is missing.
        self.plain(judge, acting, target, access, is_absence, |as_program| {
            let fd = self.resolver.open_plain_path(target, follow)?;
            Ok(f(fd.as_fd(), as_program))
        })
    }
}
