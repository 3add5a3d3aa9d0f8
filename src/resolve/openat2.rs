//! [`super::Strategy::Openat2`]: one openat2(2) call does the whole walk.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};

use super::FollowSymlinks;

/// How often an `EAGAIN` from openat2(2) is retried before it is returned.
const EAGAIN_TRIES: usize = 8;

/// Reaches `path` (absolute) as an `O_PATH|O_CLOEXEC` descriptor.
///
/// `RESOLVE_NO_MAGICLINKS` makes every procfs magic link on the way `ELOOP`
/// (openat2(2)); with [`FollowSymlinks::No`] the final component gets
/// `O_NOFOLLOW`, so a final symlink, magic or not, is returned itself.
/// `ENOSYS` means the kernel has no openat2(2): the caller falls back to the
/// walk.
pub(super) fn open_path(
    root: BorrowedFd<'_>,
    path: &Path,
    follow: FollowSymlinks,
) -> Result<OwnedFd, Errno> {
    let mut flags = OFlag::O_PATH | OFlag::O_CLOEXEC;
    if follow == FollowSymlinks::No {
        flags |= OFlag::O_NOFOLLOW;
    }
    let how = OpenHow::new()
        .flags(flags)
        .resolve(ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let mut tries = 0;
    loop {
        match nix::fcntl::openat2(root, path, how) {
            Err(Errno::EAGAIN) if tries < EAGAIN_TRIES => tries += 1,
            other => return other,
        }
    }
}

/// Opens `path` (absolute, plain: see [`super::is_plain`]) with `flags` in one
/// openat2(2) call with `RESOLVE_NO_SYMLINKS`: any symlink on the way, magic
/// or not and the final one included, is `ELOOP`. The object reached is
/// therefore the one the string names, component by component.
pub(super) fn open_plain(
    root: BorrowedFd<'_>,
    path: &Path,
    flags: OFlag,
) -> Result<OwnedFd, Errno> {
    let how = OpenHow::new()
        .flags(flags)
        .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS);
    nix::fcntl::openat2(root, path, how)
}
