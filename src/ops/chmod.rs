//! `chmod`: the permission bits of exactly the object judged; never setuid,
//! setgid or sticky.

use std::path::Path;

use nix::errno::Errno;
use nix::sys::stat::{Mode, fstat};

use super::{Context, Ops, Outcome, prepare};
use crate::policy::{Access, Judge};
use crate::resolve::FollowSymlinks;

/// The mode bits chmod(2) looks at.
const MODE_BITS: u32 = 0o7777;

impl Ops {
    /// chmod(2) of `path` to `mode` for the requester `ctx` (`follow`: a
    /// final symlink followed, as chmod(2); not, as fchmodat(2) with
    /// `AT_SYMLINK_NOFOLLOW`, which answers `EOPNOTSUPP` for a symlink as
    /// Linux has no modes for them). Needs `write`. A setuid, setgid or
    /// sticky bit is `EPERM`, before anything is judged.
    pub fn chmod(
        &self,
        judge: &dyn Judge,
        ctx: &Context,
        path: &Path,
        mode: u32,
        follow: FollowSymlinks,
    ) -> Outcome<()> {
        let judge = &super::Hard(judge);
        let access = Access::WRITE;
        if mode & MODE_BITS & !0o777 != 0 {
            return Outcome::refused(Errno::EPERM, access);
        }
        let target = match prepare(path, ctx.pid) {
            Ok(t) => t,
            Err(errno) => return Outcome::refused(errno, access),
        };
        let mode = Mode::from_bits_truncate(mode & 0o777);
        self.on_object(judge, ctx, &target, follow, access, |fd, _| {
            if fstat(fd)?.st_mode & libc::S_IFMT == libc::S_IFLNK {
                return Err(Errno::EOPNOTSUPP);
            }
            self.resolver.chmod(fd, mode)
        })
    }
}
