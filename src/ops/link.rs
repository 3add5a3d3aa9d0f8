//! `link` and `symlink`: a new name in exactly the parent judged.
//!
//! A hard link needs `create` at the new name and may not widen: every right
//! the policy grants at the new name must be granted at the object's
//! canonical path (see [`super::rename`]). A symbolic link needs `create`
//! at its name only: its target is a string, and whatever is later reached
//! through it is judged on the canonical path reached.

use std::ffi::{CString, OsStr};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::unistd::symlinkat;

use super::program::OwnFirst;
use super::rename::{Pair, carried, judged, uncarried, widening_paths};
use super::{Context, Ops, Outcome, is_broker_proc, prepare};
use crate::policy::{Access, Judge};
use crate::procfs::to_self;
use crate::resolve::FollowSymlinks;

impl Ops {
    /// linkat(2) of the object `from` names (its final symlink followed
    /// when `follow` says so, `AT_SYMLINK_FOLLOW`) to the new name `to`, for
    /// the requester `ctx`. The object held is linked itself (through its
    /// `/proc/self/fd/N` link), in the held parent of `to`. A directory is
    /// `EPERM`, as the kernel answers; a final `.`, `..` or `/` of `to` is
    /// `EEXIST`.
    pub fn link(
        &self,
        judge: &dyn Judge,
        ctx: &Context,
        from: &Path,
        follow: FollowSymlinks,
        to: &Path,
    ) -> Pair {
        let judge = &super::Hard(judge);
        let refused = |errno| Pair::at_source(Outcome::refused(errno, Access::STAT));
        let (source, target) = match (prepare(from, ctx.pid), prepare(to, ctx.pid)) {
            (Ok(s), Ok(t)) => (s, t),
            (Err(e), _) | (_, Err(e)) => return refused(e),
        };
        let out = self.acting(ctx, &target, Access::CREATE, OwnFirst::Settle, |acting| {
            let obj = match self.resolver.resolve(&source, follow) {
                Ok(obj) => obj,
                Err(errno) => {
                    let out =
                        self.fail_unresolved(judge, ctx, errno, &source, follow, Access::STAT);
                    return carried(Pair::at_source(out), Access::CREATE);
                }
            };
            if is_broker_proc(&obj.path, ctx.pid) {
                let out = Outcome::refused_at(obj.path, Access::STAT, false);
                return carried(Pair::at_source(out), Access::CREATE);
            }
            let source_path = to_self(obj.path, ctx.pid);
            let seen = judge.decide(&source_path, Access::STAT);
            if !seen.allowed {
                let out = Outcome::denied(judge, source_path, Access::STAT, seen);
                return carried(Pair::at_source(out), Access::CREATE);
            }
            let from_out = Outcome::allowed((), Access::STAT, source_path.clone(), seen);
            let entry = match self.entry(judge, ctx, &target, Access::CREATE, |_| Errno::EEXIST) {
                Ok(e) => e,
                Err(out) => return carried(Pair::both(from_out, out), Access::CREATE),
            };
            let decision = match self.allowed(judge, &entry, Access::CREATE) {
                Ok(d) => d,
                Err(out) => return carried(Pair::both(from_out, out), Access::CREATE),
            };
            if let Some((right, refusal)) = widening_paths(judge, &source_path, &entry.judged) {
                let out = Outcome::denied(judge, source_path, Access::STAT | right, refusal);
                let to_out = judged(&entry, Access::CREATE, &decision);
                return carried(Pair::both(out, to_out), Access::CREATE);
            }
            let r = self.act_in(ctx, acting, &entry, &decision, false, |dir| {
                self.resolver
                    .link(obj.fd.as_fd(), dir.as_fd(), entry.name.as_c_str())
            });
            let to_out = self.settle(judge, entry, Access::CREATE, decision, r);
            carried(Pair::both(from_out, to_out), Access::CREATE)
        });
        uncarried(out)
    }

    /// symlinkat(2): a symbolic link `to` with the contents `target` (not
    /// judged, see the [module documentation](self)), for the requester
    /// `ctx`; needs `create` at `to`, made in its held parent, owned by the
    /// program. A final `.`, `..` or `/` is `EEXIST`.
    pub fn symlink(
        &self,
        judge: &dyn Judge,
        ctx: &Context,
        target: &OsStr,
        to: &Path,
    ) -> Outcome<()> {
        let judge = &super::Hard(judge);
        let access = Access::CREATE;
        let Ok(contents) = CString::new(target.as_bytes()) else {
            return Outcome::refused(Errno::EINVAL, access);
        };
        let link = match prepare(to, ctx.pid) {
            Ok(t) => t,
            Err(errno) => return Outcome::refused(errno, access),
        };
        self.acting(ctx, &link, access, OwnFirst::Settle, |acting| {
            let entry = match self.entry(judge, ctx, &link, access, |_| Errno::EEXIST) {
                Ok(e) => e,
                Err(out) => return out,
            };
            let decision = match self.allowed(judge, &entry, access) {
                Ok(d) => d,
                Err(out) => return out,
            };
            let r = self.act_in(ctx, acting, &entry, &decision, true, |dir| {
                symlinkat(contents.as_c_str(), dir, entry.name.as_c_str())
            });
            self.settle(judge, entry, access, decision, r)
        })
    }
}
