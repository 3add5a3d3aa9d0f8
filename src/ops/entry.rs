//! The directory entry a name operation acts on (`mkdir`, `unlink`,
//! `rmdir`, `rename`, `link`, `symlink`): its parent directory reached
//! race-free and held, the final name as requested, and the canonical path
//! judged, the held parent's canonical path joined with that name. The
//! operation then acts with the `*at` system call on the held parent, so a
//! symlink swapped in for a directory on the way after the judgement
//! changes nothing.
//!
//! Directories do not move while a program runs under the broker (it
//! refuses to rename them, `EXDEV`, and Landlock refuses the program its
//! own renames), so the held parent keeps the canonical path judged.
//!
//! What a name operation creates (a directory, a symlink, a file by
//! `O_CREAT`) is made with the program's filesystem ids, so that it belongs
//! to the program's user and group from the start (`sys::creds::create_as`).

use std::ffi::{CString, OsStr};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use nix::errno::Errno;

use super::program::{Acting, Via};
use super::{Context, Ops, Outcome, is_broker_proc};
use crate::policy::{Access, Decision, Judge};
use crate::procfs::to_self;
use crate::resolve::FollowSymlinks;
use crate::sys::creds::{self, FsIds};

/// A final component that names no entry of its own, as the kernel sorts
/// them (`LAST_ROOT`, `LAST_DOT`, `LAST_DOTDOT`): operations answer these
/// with fixed errors and never act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Last {
    /// The path is `/` (only slashes).
    Root,
    /// It ends in `.`.
    Dot,
    /// It ends in `..`.
    DotDot,
}

/// A directory entry reached through its held parent.
pub(super) struct Entry {
    /// `O_PATH` descriptor of the parent directory.
    pub(super) dir: OwnedFd,
    /// The final component as requested, trailing slashes kept (the kernel
    /// then checks that it is a directory, as it would).
    pub(super) name: CString,
    /// The canonical path judged: the parent's canonical path and the name,
    /// the requester's `/proc/<pid>` written `/proc/self`.
    pub(super) judged: PathBuf,
}

/// An absolute path split at its final component.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Split<'a> {
    /// Everything before the final component.
    pub(super) parent: &'a [u8],
    /// The final component as requested, with trailing slashes.
    pub(super) name: &'a [u8],
    /// The final component without them.
    pub(super) plain: &'a [u8],
}

/// Splits an absolute path at its final component.
pub(super) fn split(path: &[u8]) -> Result<Split<'_>, Last> {
    let end = path.iter().rposition(|&b| b != b'/').ok_or(Last::Root)? + 1;
    let start = path[..end]
        .iter()
        .rposition(|&b| b == b'/')
        .map_or(0, |i| i + 1);
    let plain = &path[start..end];
    match plain {
        b"." => return Err(Last::Dot),
        b".." => return Err(Last::DotDot),
        _ => {}
    }
    let parent = if start <= 1 {
        &b"/"[..]
    } else {
        &path[..start - 1]
    };
    Ok(Split {
        parent,
        name: &path[start..],
        plain,
    })
}

/// Serialises the operations whose checks a concurrent change of a name
/// could undo: a rename looks at whether its source is a directory, and
/// only a `mkdir` could put a directory there meanwhile.
pub(super) fn names_lock() -> MutexGuard<'static, ()> {
    static NAMES: Mutex<()> = Mutex::new(());
    NAMES.lock().unwrap_or_else(|p| p.into_inner())
}

impl Ops {
    /// Reaches the parent of `target` (prepared) and names its entry, not
    /// judged yet. A final `.`, `..` or `/` gets `special`'s errno (what the
    /// kernel answers the operation), revealed as any error is.
    pub(super) fn entry<T>(
        &self,
        judge: &dyn Judge,
        ctx: &Context,
        target: &Path,
        access: Access,
        special: fn(Last) -> Errno,
    ) -> Result<Entry, Outcome<T>> {
        let Split {
            parent,
            name,
            plain,
        } = match split(target.as_os_str().as_bytes()) {
            Ok(parts) => parts,
            Err(last) => return Err(self.fail_whole(judge, ctx, target, special(last), access)),
        };
        let dir = match self
            .resolver
            .resolve(Path::new(OsStr::from_bytes(parent)), FollowSymlinks::Yes)
        {
            Ok(d) => d,
            Err(errno) => {
                return Err(self.fail_unresolved(
                    judge,
                    ctx,
                    errno,
                    target,
                    FollowSymlinks::No,
                    access,
                ));
            }
        };
        let judged = dir.path.join(OsStr::from_bytes(plain));
        if is_broker_proc(&judged, ctx.pid) {
            return Err(Outcome::refused_at(judged, access));
        }
        let name = CString::new(name).map_err(|_| Outcome::refused(Errno::EINVAL, access))?;
        Ok(Entry {
            dir: dir.fd,
            name,
            judged: to_self(judged, ctx.pid),
        })
    }

    /// `errno` about the whole of `target` (a final `.`, `..` or `/`),
    /// revealed only where what it names may be stat'ed.
    fn fail_whole<T>(
        &self,
        judge: &dyn Judge,
        ctx: &Context,
        target: &Path,
        errno: Errno,
        access: Access,
    ) -> Outcome<T> {
        match self.resolver.resolve(target, FollowSymlinks::Yes) {
            Ok(obj) if is_broker_proc(&obj.path, ctx.pid) => Outcome::refused_at(obj.path, access),
            Ok(obj) => self.fail_at(judge, errno, to_self(obj.path, ctx.pid), access, None),
            Err(e) => self.fail_unresolved(judge, ctx, e, target, FollowSymlinks::Yes, access),
        }
    }

    /// The decision on `access` at `entry`; a denial is the finished outcome.
    pub(super) fn allowed<T>(
        &self,
        judge: &dyn Judge,
        entry: &Entry,
        access: Access,
    ) -> Result<Decision, Outcome<T>> {
        let decision = judge.decide(&entry.judged, access);
        if decision.allowed {
            Ok(decision)
        } else {
            Err(Outcome::denied(entry.judged.clone(), access, decision))
        }
    }

    /// Runs `call` on `entry`'s held parent with the credentials chosen for
    /// it; `creates`: what `call` makes is the program's (see the module
    /// documentation).
    pub(super) fn act_in<T>(
        &self,
        ctx: &Context,
        acting: Acting,
        entry: &Entry,
        decision: &Decision,
        creates: bool,
        call: impl FnOnce(&OwnedFd) -> Result<T, Errno>,
    ) -> Result<T, Errno> {
        match Via::choose(acting, &entry.judged, decision) {
            Via::Program => call(&entry.dir),
            Via::Switch(program) => self.as_program(program, || call(&entry.dir)),
            Via::Broker => match ctx.program {
                Some(program) if creates => owned_by(program, || call(&entry.dir)),
                _ => call(&entry.dir),
            },
        }
    }

    /// The outcome of acting on `entry`, allowed by `decision`.
    pub(super) fn settle<T>(
        &self,
        judge: &dyn Judge,
        entry: Entry,
        access: Access,
        decision: Decision,
        r: Result<T, Errno>,
    ) -> Outcome<T> {
        match r {
            Ok(v) => Outcome {
                result: Ok(v),
                access,
                resolved: Some(entry.judged),
                decision: Some(decision),
            },
            Err(errno) => self.fail_at(judge, errno, entry.judged, access, Some(decision)),
        }
    }
}

/// Runs `create` (one creation) with `program`'s filesystem ids and the
/// broker's capabilities: what it makes belongs to the program.
pub(super) fn owned_by<T>(
    program: super::ProgramIds,
    create: impl FnOnce() -> Result<T, Errno>,
) -> Result<T, Errno> {
    let ids = FsIds {
        uid: program.uid(),
        gid: program.gid(),
    };
    creds::create_as(ids, create).and_then(|r| r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_components() {
        let s = |p: &str| {
            split(p.as_bytes()).map(|s| {
                let t = |x: &[u8]| String::from_utf8(x.to_vec()).unwrap();
                (t(s.parent), t(s.name), t(s.plain))
            })
        };
        let ok = |a: &str, b: &str, c: &str| Ok((a.to_string(), b.to_string(), c.to_string()));
        assert_eq!(s("/a/b"), ok("/a", "b", "b"));
        assert_eq!(s("/a/b/"), ok("/a", "b/", "b"));
        assert_eq!(s("/a//b//"), ok("/a/", "b//", "b"));
        assert_eq!(s("/b"), ok("/", "b", "b"));
        assert_eq!(s("//b"), ok("/", "b", "b"));
        assert_eq!(s("/a/.x"), ok("/a", ".x", ".x"));
        assert_eq!(s("/"), Err(Last::Root));
        assert_eq!(s("///"), Err(Last::Root));
        assert_eq!(s("/a/."), Err(Last::Dot));
        assert_eq!(s("/a/./"), Err(Last::Dot));
        assert_eq!(s("/a/.."), Err(Last::DotDot));
        assert_eq!(s("/.."), Err(Last::DotDot));
    }
}
