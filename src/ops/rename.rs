//! `rename`: a name moved between two held parents, never widening what the
//! object may be used for, and never a directory.
//!
//! The rights are judged on the two canonical paths (the held parents joined
//! with the names): `remove` at the source, `create` at the destination, and
//! `remove` there too when something is replaced. No widening: every right
//! the policy grants at the destination must be granted at the source, so a
//! file cannot gain a right by moving (as Landlock's `refer` right keeps).
//! A directory is never moved (`EXDEV`, callers copy instead): its subtree
//! would need the same comparison for every path beneath it.
//!
//! The destination is probed after `create` has been judged there (which
//! implies `stat`), so its existence never leaks; a destination that did not
//! exist is renamed onto with `RENAME_NOREPLACE`, so that one made in the
//! meantime is never replaced without the `remove` right (a filesystem
//! without that flag gets a plain rename).

use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, RenameFlags, renameat2};
use nix::sys::stat::fstatat;

use super::entry::{Entry, names_lock};
use super::program::OwnFirst;
use super::{CREATE_TRIES, Context, Ops, Outcome, prepare};
use crate::policy::{Access, Decision, Judge};

/// The outcome of an operation on two paths (`rename`, `link`): one
/// [`Outcome`] per path, for the audit log, and the answer.
#[derive(Debug)]
pub struct Pair {
    /// The answer for the requester.
    pub result: Result<(), Errno>,
    /// What was judged at the source.
    pub from: Outcome<()>,
    /// What was judged at the destination; `None` when the request ended
    /// before.
    pub to: Option<Outcome<()>>,
}

impl Pair {
    /// Ended at the source.
    pub(super) fn at_source(from: Outcome<()>) -> Pair {
        Pair {
            result: from.result,
            from,
            to: None,
        }
    }

    /// Both judged; `result` is the answer, which each side reports unless
    /// it failed on its own.
    pub(super) fn both(mut from: Outcome<()>, mut to: Outcome<()>) -> Pair {
        let result = from.result.and(to.result);
        for side in [&mut from, &mut to] {
            if side.result.is_ok() {
                side.result = result;
            }
        }
        Pair {
            result,
            from,
            to: Some(to),
        }
    }
}

/// The flags of renameat2(2) the broker honours; `RENAME_EXCHANGE` and
/// `RENAME_WHITEOUT` are refused (`EINVAL`).
const NOREPLACE: u32 = libc::RENAME_NOREPLACE;

/// The rights compared by the no-widening rule (`stat` is implied by all).
const COMPARED: [Access; 5] = [
    Access::READ,
    Access::WRITE,
    Access::CREATE,
    Access::REMOVE,
    Access::EXEC,
];

impl Ops {
    /// renameat2(2) of `from` to `to` with `flags` (0 or
    /// `RENAME_NOREPLACE`) for the requester `ctx`; see the [module
    /// documentation](self) for the rights. A final `.`, `..` or `/` on
    /// either side is `EBUSY`, as the kernel answers.
    pub fn rename(
        &self,
        judge: &dyn Judge,
        ctx: &Context,
        from: &Path,
        to: &Path,
        flags: u32,
    ) -> Pair {
        let judge = &super::Hard(judge);
        let refused = |errno| Pair::at_source(Outcome::refused(errno, Access::REMOVE));
        if flags & !NOREPLACE != 0 {
            return refused(Errno::EINVAL);
        }
        let (source, target) = match (prepare(from, ctx.pid), prepare(to, ctx.pid)) {
            (Ok(s), Ok(t)) => (s, t),
            (Err(e), _) | (_, Err(e)) => return refused(e),
        };
        let out = self.acting(ctx, &source, Access::REMOVE, OwnFirst::Settle, |acting| {
            let pair = self.rename_entries(judge, ctx, acting, &source, &target, flags);
            carried(pair, Access::REMOVE)
        });
        uncarried(out)
    }

    fn rename_entries(
        &self,
        judge: &dyn Judge,
        ctx: &Context,
        acting: super::program::Acting,
        source: &Path,
        target: &Path,
        flags: u32,
    ) -> Pair {
        let busy = |_| Errno::EBUSY;
        let from = match self.entry(judge, ctx, source, Access::REMOVE, busy) {
            Ok(e) => e,
            Err(out) => return Pair::at_source(out),
        };
        let from_decision = match self.allowed(judge, &from, Access::REMOVE) {
            Ok(d) => d,
            Err(out) => return Pair::at_source(out),
        };
        let to = match self.entry(judge, ctx, target, Access::CREATE, busy) {
            Ok(e) => e,
            Err(out) => return Pair::both(judged(&from, Access::REMOVE, &from_decision), out),
        };
        let to_decision = match self.allowed(judge, &to, Access::CREATE) {
            Ok(d) => d,
            Err(out) => return Pair::both(judged(&from, Access::REMOVE, &from_decision), out),
        };
        let _names = names_lock();
        let st = match fstatat(
            &from.dir,
            from.name.as_c_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(st) => st,
            Err(errno) => {
                let out = self.fail_at(
                    judge,
                    errno,
                    from.judged,
                    Access::REMOVE,
                    Some(from_decision),
                );
                return Pair::at_source(out);
            }
        };
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            if from.judged == to.judged {
                // rename(2) of a directory onto itself does nothing.
                return Pair::both(
                    judged(&from, Access::REMOVE, &from_decision),
                    judged(&to, Access::CREATE, &to_decision),
                );
            }
            let out = self.fail_at(
                judge,
                Errno::EXDEV,
                from.judged,
                Access::REMOVE,
                Some(from_decision),
            );
            return Pair::at_source(out);
        }
        if let Some((right, decision)) = widening(judge, &from, &to) {
            let out = Outcome::denied(judge, from.judged, Access::REMOVE | right, decision);
            return Pair::both(out, judged(&to, Access::CREATE, &to_decision));
        }
        let from_out = judged(&from, Access::REMOVE, &from_decision);
        for _ in 0..CREATE_TRIES {
            let exists = fstatat(&to.dir, to.name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW).is_ok();
            let (access, decision, how) = if exists {
                if flags & NOREPLACE != 0 {
                    let out = self.fail_at(
                        judge,
                        Errno::EEXIST,
                        to.judged,
                        Access::CREATE,
                        Some(to_decision),
                    );
                    return Pair::both(from_out, out);
                }
                let access = Access::CREATE | Access::REMOVE;
                match self.allowed(judge, &to, access) {
                    Ok(d) => (access, d, RenameFlags::empty()),
                    Err(out) => return Pair::both(from_out, out),
                }
            } else {
                (
                    Access::CREATE,
                    to_decision.clone(),
                    RenameFlags::RENAME_NOREPLACE,
                )
            };
            let rename = |how| {
                self.act_in(ctx, acting, &from, &from_decision, false, |dir| {
                    renameat2(dir, from.name.as_c_str(), &to.dir, to.name.as_c_str(), how)
                })
            };
            let r = match rename(how) {
                // A filesystem without RENAME_NOREPLACE (a file is never
                // renamed into itself, the other EINVAL): a plain rename.
                Err(Errno::EINVAL) if !how.is_empty() && flags & NOREPLACE == 0 => {
                    rename(RenameFlags::empty())
                }
                r => r,
            };
            match r {
                // Made at the name since we looked: judge it as replaced.
                Err(Errno::EEXIST) if !exists && flags & NOREPLACE == 0 => continue,
                r => return Pair::both(from_out, self.settle(judge, to, access, decision, r)),
            }
        }
        let out = self.fail_at(
            judge,
            Errno::EAGAIN,
            to.judged,
            Access::CREATE,
            Some(to_decision),
        );
        Pair::both(from_out, out)
    }
}

/// A right the policy grants at `to` but not at `from`, with the decision
/// that refuses it at `from`: moving the object there would widen it.
pub(super) fn widening(judge: &dyn Judge, from: &Entry, to: &Entry) -> Option<(Access, Decision)> {
    widening_paths(judge, &from.judged, &to.judged)
}

/// [`widening`] for two canonical paths.
pub(super) fn widening_paths(
    judge: &dyn Judge,
    from: &Path,
    to: &Path,
) -> Option<(Access, Decision)> {
    COMPARED.into_iter().find_map(|right| {
        if !judge.decide(to, right).allowed {
            return None;
        }
        let d = judge.decide(from, right);
        (!d.allowed).then_some((right, d))
    })
}

/// `pair` carried as an outcome through [`Ops::acting`].
pub(super) fn carried(pair: Pair, access: Access) -> Outcome<Pair> {
    Outcome {
        result: Ok(pair),
        access,
        resolved: None,
        decision: None,
        absent: false,
    }
}

/// The pair [`carried`], or the source's refusal when the credentials for
/// acting could not be taken on.
pub(super) fn uncarried(out: Outcome<Pair>) -> Pair {
    match out.result {
        Ok(pair) => pair,
        Err(errno) => Pair::at_source(Outcome {
            result: Err(errno),
            access: out.access,
            resolved: out.resolved,
            decision: out.decision,
            absent: out.absent,
        }),
    }
}

/// The outcome of judging `access` allowed at `entry` by `decision`.
pub(super) fn judged(entry: &Entry, access: Access, decision: &Decision) -> Outcome<()> {
    Outcome::allowed((), access, entry.judged.clone(), decision.clone())
}
