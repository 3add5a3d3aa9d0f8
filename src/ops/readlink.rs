//! `readlink`: the target of exactly the symlink judged.

use std::path::Path;

use super::{Context, Ops, Outcome, prepare};
use crate::policy::{Access, Judge};
use crate::procfs::ViaSelf;
use crate::resolve::FollowSymlinks;

impl Ops {
    /// readlink(2) of `path` for the requester `ctx`: the final component is
    /// not followed, the `stat` right is needed, and a non-symlink is
    /// `EINVAL` (revealed only when it may be stat'ed, which it may by then).
    ///
    /// `/proc/self` and `/proc/thread-self` themselves read as the
    /// requester's pid and `<pid>/task/<pid>`.
    pub fn readlink(&self, judge: &dyn Judge, ctx: &Context, path: &Path) -> Outcome<Vec<u8>> {
        let judge = &super::Hard(judge);
        let access = Access::STAT;
        let target = match prepare(path, ctx.pid) {
            Ok(t) => t,
            Err(errno) => return Outcome::refused(errno, access),
        };
        let link_itself = ViaSelf::parse(path).filter(ViaSelf::is_link_itself);
        if let (Some(pid), Some(via_self)) = (ctx.pid, link_itself) {
            let link = via_self.link();
            let judged = link.path();
            let decision = judge.decide(judged, access);
            let value = link.target(pid);
            if !decision.allowed {
                return Outcome::denied(judge, judged.to_path_buf(), access, decision);
            }
            return Outcome::allowed(value.into_bytes(), access, judged.to_path_buf(), decision);
        }
        let follow = FollowSymlinks::No;
        // EINVAL for anything but a symlink (Resolver::read_link).
        self.on_object(judge, ctx, &target, follow, access, |fd, _| {
            self.resolver.read_link(fd)
        })
    }
}
