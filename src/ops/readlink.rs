//! `readlink`: the target of exactly the symlink judged.

use std::os::fd::AsFd;
use std::path::Path;

use nix::errno::Errno;
use nix::sys::stat::fstat;

use super::{Context, Ops, Outcome, prepare};
use crate::policy::{Access, Judge};
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
        if let (Some(pid), Some(thread)) = (ctx.pid, proc_self_link(path)) {
            let judged = Path::new(if thread {
                "/proc/thread-self"
            } else {
                "/proc/self"
            });
            let decision = judge.decide(judged, access);
            let value = if thread {
                format!("{pid}/task/{pid}")
            } else {
                pid.to_string()
            };
            return Outcome {
                result: if decision.allowed {
                    Ok(value.into_bytes())
                } else {
                    Err(Errno::EACCES)
                },
                access,
                resolved: Some(judged.to_path_buf()),
                decision: Some(decision),
            };
        }
        let reached = match self.reach(judge, ctx, &target, FollowSymlinks::No, access) {
            Ok(r) => r,
            Err(out) => return out,
        };
        let fd = reached.fd.as_fd();
        let r = fstat(fd).and_then(|st| {
            if st.st_mode & libc::S_IFMT != libc::S_IFLNK {
                return Err(Errno::EINVAL);
            }
            self.resolver.read_link(fd)
        });
        self.finish(judge, reached, access, r)
    }
}

/// `Some(false)` for exactly `/proc/self`, `Some(true)` for exactly
/// `/proc/thread-self` (no trailing `/`, which would follow the link).
fn proc_self_link(path: &Path) -> Option<bool> {
    use std::os::unix::ffi::OsStrExt;
    if path.as_os_str().as_bytes().ends_with(b"/") {
        return None;
    }
    let mut c = path.components().skip(1);
    let proc = c.next()?;
    let name = c.next()?;
    if proc.as_os_str() != "proc" || c.next().is_some() {
        return None;
    }
    match name.as_os_str().to_str()? {
        "self" => Some(false),
        "thread-self" => Some(true),
        _ => None,
    }
}
