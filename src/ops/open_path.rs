//! `open(O_PATH)` for `fdbroker run`: a read-only stand-in for a path-only
//! descriptor.
//!
//! C libraries open `O_PATH` descriptors to emulate calls the kernel lacks:
//! fchmodat(2) with `AT_SYMLINK_NOFOLLOW` is an `O_PATH|O_NOFOLLOW` open,
//! an `fstat` of it, `EOPNOTSUPP` for a symlink, else a chmod of
//! `/proc/self/fd/N` (which the broker takes as descriptor `N`). A seccomp
//! notification cannot install an `O_PATH` descriptor in the caller
//! (`SECCOMP_IOCTL_NOTIF_ADDFD` refuses them), so the broker answers with
//! what it can install: the object opened read-only and non-blocking (so
//! that a FIFO does not wait for a writer), which needs the `read` right;
//! a symlink itself, which no other descriptor can refer to, is
//! `EOPNOTSUPP`, what those emulations answer for it. The socketpair
//! protocol refuses `O_PATH` (`EINVAL`).

use std::os::fd::OwnedFd;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::fstat;

use super::{Context, Ops, Outcome, prepare};
use crate::policy::{Access, Judge};
use crate::resolve::FollowSymlinks;

impl Ops {
    /// What `open(path, O_PATH)` gets for the requester `ctx` (see the
    /// [module documentation](self)): `follow` unless `O_NOFOLLOW`;
    /// `directory` (`O_DIRECTORY`): `ENOTDIR` for anything else. Needs
    /// `read`.
    pub fn open_path(
        &self,
        judge: &dyn Judge,
        ctx: &Context,
        path: &Path,
        follow: FollowSymlinks,
        directory: bool,
    ) -> Outcome<OwnedFd> {
        let judge = &super::Hard(judge);
        let access = Access::READ;
        let target = match prepare(path, ctx.pid) {
            Ok(t) => t,
            Err(errno) => return Outcome::refused(errno, access),
        };
        self.on_object(judge, ctx, &target, follow, access, |fd, _| {
            let kind = fstat(fd)?.st_mode & libc::S_IFMT;
            let mut flags = OFlag::O_RDONLY | OFlag::O_NONBLOCK;
            match kind {
                libc::S_IFLNK => return Err(Errno::EOPNOTSUPP),
                libc::S_IFDIR => flags |= OFlag::O_DIRECTORY,
                _ if directory => return Err(Errno::ENOTDIR),
                _ => {}
            }
            self.resolver.reopen(fd, flags)
        })
    }
}
