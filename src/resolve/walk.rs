//! [`super::Strategy::Walk`]: resolution one component at a time, in userspace.
//!
//! Every step is an openat(2) with `O_PATH|O_NOFOLLOW` relative to a directory
//! descriptor already held, so the kernel never follows a symlink for us and
//! nothing can be swapped between a check and its use: symlinks are read from
//! the descriptor that was checked (readlinkat(2) with an empty path), `..`
//! pops the chain of held directories (never above `/`), and procfs magic links
//! (proc(5)) are refused with `ELOOP` instead of being followed.

use std::borrow::Cow;
use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{Mode, fstat};
use nix::sys::statfs::{PROC_SUPER_MAGIC, fstatfs};

use super::{FollowSymlinks, MAX_SYMLINKS, PROC_ROOT_INO, Resolver};
use crate::procfs::PATH_MAX;
use crate::sys::readlink::readlinkat_into;

/// Where a walk stopped, for [`Resolver::best_guess`].
pub(super) struct Stuck {
    /// Why it stopped.
    pub(super) errno: Errno,
    /// The deepest directory reached; `None` is `/`.
    pub(super) at: Option<OwnedFd>,
    /// The components not resolved, the failing one first (symlink targets
    /// already spliced in).
    pub(super) rest: Vec<Vec<u8>>,
}

/// Pushes the components of `path` onto `pending` so that they pop in order.
/// A trailing `/` becomes a final `.`: the object must be a directory, and a
/// final symlink before it is followed (path_resolution(7)).
fn push_components<'a>(pending: &mut Vec<Cow<'a, [u8]>>, path: Cow<'a, [u8]>) {
    let trailing = path.len() > 1 && path.ends_with(b"/");
    if trailing {
        pending.push(Cow::Borrowed(b"."));
    }
    match path {
        Cow::Borrowed(p) => pending.extend(
            p.split(|&b| b == b'/')
                .filter(|c| !c.is_empty())
                .rev()
                .map(Cow::Borrowed),
        ),
        Cow::Owned(p) => pending.extend(
            p.split(|&b| b == b'/')
                .filter(|c| !c.is_empty())
                .rev()
                .map(|c| Cow::Owned(c.to_vec())),
        ),
    }
}

/// Walks `path` (absolute) from the resolver's root and returns an
/// `O_PATH|O_CLOEXEC` descriptor for the object reached. With
/// [`FollowSymlinks::No`] a final symlink is returned itself.
pub(super) fn walk(r: &Resolver, path: &[u8], follow: FollowSymlinks) -> Result<OwnedFd, Stuck> {
    let mut pending: Vec<Cow<'_, [u8]>> = Vec::new();
    push_components(&mut pending, Cow::Borrowed(path));
    // Directories held below the root, deepest last.
    let mut chain: Vec<OwnedFd> = Vec::new();
    let mut links = 0u32;
    let mut target = [0u8; PATH_MAX];

    while let Some(comp) = pending.pop() {
        // The top of the chain is always a directory here: a non-directory is
        // only pushed as the very last component.
        match &*comp {
            b"." => continue,
            b".." => {
                chain.pop();
                continue;
            }
            _ => {}
        }
        let dir = chain.last().map_or(r.root.as_fd(), |d| d.as_fd());
        let step = (|| {
            let fd = openat(
                dir,
                &*comp,
                OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?;
            let st = fstat(&fd)?;
            Ok::<_, Errno>((fd, st.st_mode & libc::S_IFMT))
        })();
        let (fd, kind) = match step {
            Ok(v) => v,
            Err(errno) => return Err(stuck(errno, chain, comp, pending)),
        };
        let last = pending.is_empty();
        if kind == libc::S_IFLNK && (follow == FollowSymlinks::Yes || !last) {
            let read = (|| {
                if links >= MAX_SYMLINKS {
                    return Err(Errno::ELOOP);
                }
                let n = readlinkat_into(&fd, c"", &mut target)?;
                if n == 0 {
                    return Err(Errno::ENOENT);
                }
                if is_magic(&fd, dir, &target[..n])? {
                    return Err(Errno::ELOOP);
                }
                Ok(n)
            })();
            let n = match read {
                Ok(n) => n,
                Err(errno) => return Err(stuck(errno, chain, comp, pending)),
            };
            links += 1;
            let t = &target[..n];
            if t.starts_with(b"/") {
                chain.clear();
            }
            push_components(&mut pending, Cow::Owned(t.to_vec()));
            continue;
        }
        if !last && kind != libc::S_IFDIR {
            return Err(stuck(Errno::ENOTDIR, chain, comp, pending));
        }
        chain.push(fd);
    }
    match chain.pop() {
        Some(fd) => Ok(fd),
        None => r.root.try_clone().map_err(|e| Stuck {
            errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
            at: None,
            rest: Vec::new(),
        }),
    }
}

/// Whether the symlink `link` (found in directory `dir`, reading `target`)
/// must be treated as a procfs magic link.
///
/// Magic links exist only on procfs (`/proc/<pid>/{cwd,root,exe}`,
/// `fd/*`, `map_files/*`, `ns/*`, and the same under `task/<tid>`); their
/// st_mode does not set them apart (`cwd` is `lrwxrwxrwx` like `/proc/self`),
/// so position does: on procfs only a symlink directly in the procfs root
/// (inode 1) with a relative target is a plain symlink.
fn is_magic(
    link: &OwnedFd,
    dir: std::os::fd::BorrowedFd<'_>,
    target: &[u8],
) -> Result<bool, Errno> {
    if fstatfs(link)?.filesystem_type() != PROC_SUPER_MAGIC {
        return Ok(false);
    }
    let parent_is_proc_root =
        fstatfs(dir)?.filesystem_type() == PROC_SUPER_MAGIC && fstat(dir)?.st_ino == PROC_ROOT_INO;
    Ok(!parent_is_proc_root || target.starts_with(b"/"))
}

fn stuck(
    errno: Errno,
    mut chain: Vec<OwnedFd>,
    comp: Cow<'_, [u8]>,
    pending: Vec<Cow<'_, [u8]>>,
) -> Stuck {
    let mut rest = Vec::with_capacity(pending.len() + 1);
    rest.push(comp.into_owned());
    rest.extend(pending.into_iter().rev().map(Cow::into_owned));
    Stuck {
        errno,
        at: chain.pop(),
        rest,
    }
}
