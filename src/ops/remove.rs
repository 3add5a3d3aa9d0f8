//! `unlink` and `rmdir`: a name removed from exactly the parent judged.

use std::path::Path;

use nix::errno::Errno;
use nix::unistd::{UnlinkatFlags, unlinkat};

use super::entry::Last;
use super::program::OwnFirst;
use super::{Context, Ops, Outcome, prepare};
use crate::policy::{Access, Judge};

impl Ops {
    /// unlink(2) of `path` for the requester `ctx`: needs `remove` on the
    /// canonical parent joined with the name; unlinkat(2) in the held
    /// parent. A directory is `EISDIR`; a final `.`, `..` or `/` too, as
    /// the kernel answers.
    pub fn unlink(&self, judge: &dyn Judge, ctx: &Context, path: &Path) -> Outcome<()> {
        self.remove(judge, ctx, path, false)
    }

    /// rmdir(2) of `path` for the requester `ctx`: needs `remove` on the
    /// canonical parent joined with the name; unlinkat(2) with
    /// `AT_REMOVEDIR` in the held parent. A final `.` is `EINVAL`, `..`
    /// `ENOTEMPTY` and `/` `EBUSY`, as the kernel answers.
    pub fn rmdir(&self, judge: &dyn Judge, ctx: &Context, path: &Path) -> Outcome<()> {
        self.remove(judge, ctx, path, true)
    }

    fn remove(&self, judge: &dyn Judge, ctx: &Context, path: &Path, dir: bool) -> Outcome<()> {
        let judge = &super::Hard(judge);
        let access = Access::REMOVE;
        let target = match prepare(path, ctx.pid) {
            Ok(t) => t,
            Err(errno) => return Outcome::refused(errno, access),
        };
        let special = if dir {
            rmdir_special
        } else {
            |_| Errno::EISDIR
        };
        let how = if dir {
            UnlinkatFlags::RemoveDir
        } else {
            UnlinkatFlags::NoRemoveDir
        };
        self.acting(ctx, &target, access, OwnFirst::Settle, |acting| {
            let entry = match self.entry(judge, ctx, &target, access, special) {
                Ok(e) => e,
                Err(out) => return out,
            };
            let decision = match self.allowed(judge, &entry, access) {
                Ok(d) => d,
                Err(out) => return out,
            };
            let r = self.act_in(ctx, acting, &entry, &decision, false, |d| {
                unlinkat(d, entry.name.as_c_str(), how)
            });
            self.settle(judge, entry, access, decision, r)
        })
    }
}

/// What rmdir(2) answers for a final component that names no entry.
fn rmdir_special(last: Last) -> Errno {
    match last {
        Last::Root => Errno::EBUSY,
        Last::Dot => Errno::EINVAL,
        Last::DotDot => Errno::ENOTEMPTY,
    }
}
