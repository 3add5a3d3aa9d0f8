//! `stat`: the metadata of exactly the object judged.

use std::path::Path;

use nix::sys::stat::fstat;

use super::{Context, Ops, Outcome, prepare};
use crate::metadata::FileStat;
use crate::policy::{Access, Judge};
use crate::resolve::FollowSymlinks;

impl Ops {
    /// stat(2) ([`FollowSymlinks::Yes`]) or lstat(2) ([`FollowSymlinks::No`])
    /// of `path` for the requester `ctx`; needs the `stat` right. The answer
    /// is fstat(2) of the `O_PATH` descriptor that was judged.
    ///
    /// One difference from lstat(2): `/proc/self` itself is the requester's
    /// `/proc/<pid>` directory, not the symlink.
    pub fn stat(
        &self,
        judge: &dyn Judge,
        ctx: &Context,
        path: &Path,
        follow: FollowSymlinks,
    ) -> Outcome<FileStat> {
        let judge = &super::Hard(judge);
        let access = Access::STAT;
        let target = match prepare(path, ctx.pid) {
            Ok(t) => t,
            Err(errno) => return Outcome::refused(errno, access),
        };
        let stat = |fd: std::os::fd::BorrowedFd<'_>, _| fstat(fd).map(|st| FileStat::from(&st));
        self.acting(ctx, &target, access, |acting| {
            if let Some(out) = self.act_plain(judge, acting, &target, follow, access, stat) {
                return out;
            }
            let reached = match self.reach(judge, ctx, acting, &target, follow, access) {
                Ok(r) => r,
                Err(out) => return out,
            };
            let r = self.act(ctx, &reached, &target, follow, stat);
            self.finish(judge, reached, access, r)
        })
    }
}
