//! `open`: a descriptor for exactly the object judged, or a new file.
//!
//! An existing object is reached race-free, judged, and opened anew through
//! its `/proc/self/fd/N` link ([`Resolver::reopen`]). A plain request path
//! (no symlink, `.`, `..` or `//` on the way, outside `/proc`) that the
//! policy allows as written takes one step instead
//! ([`Resolver::open_plain`]): opened with every symlink refused, it reaches
//! the object the string names, whose canonical path the string is; when a
//! symlink is met the request takes the resolving path. A file `O_CREAT` must
//! create is made with openat(2) in the held parent directory with
//! `O_CREAT|O_EXCL|O_NOFOLLOW`, so nothing that appears at the name in the
//! meantime (a file, a hard link, a symlink) is ever opened: the broker then
//! starts over and judges it as existing. With the program's credentials
//! known, the file is created with its filesystem ids: it is the program's.
//!
//! `O_CREAT` without `O_EXCL` on a dangling symlink is refused: the broker
//! never creates through a symlink. The answer is `ELOOP` (what `O_NOFOLLOW`
//! would give) when the requester may stat the symlink, else `EACCES`.
//!
//! [`Resolver::reopen`]: crate::resolve::Resolver::reopen
//! [`Resolver::open_plain`]: crate::resolve::Resolver::open_plain

use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::openat;
use nix::sys::stat::fstat;

use super::flags::{Object, OpenFlags, create_mode};
use super::program::{Acting, OwnFirst, Via};
use super::{CREATE_TRIES, Context, Ops, Outcome, prepare};
use crate::policy::Judge;
use crate::procfs::to_self;
use crate::resolve::FollowSymlinks;

/// One attempt at an `O_CREAT` open: finished, or lost a race and must restart.
enum Attempt {
    Done(Outcome<OwnedFd>),
    Retry,
}

impl Ops {
    /// Opens `path` with open(2) `flags` (and `mode` for a created file) for
    /// the requester `ctx`, as the policy `judge` allows.
    ///
    /// Flags are checked by [`OpenFlags::parse`] (`EINVAL`, before judging);
    /// the rights needed are [`OpenFlags::rights`]. The descriptor returned is
    /// always close-on-exec in the broker; whether the child's copy should be
    /// is [`OpenFlags::cloexec`]. A created file gets `mode & 0o777`.
    pub fn open(
        &self,
        judge: &dyn Judge,
        ctx: &Context,
        path: &Path,
        flags: i32,
        mode: u32,
    ) -> Outcome<OwnedFd> {
        let judge = &super::Hard(judge);
        let f = match OpenFlags::parse(flags) {
            Ok(f) => f,
            Err(errno) => return Outcome::refused(errno, crate::policy::Access::empty()),
        };
        let target = match prepare(path, ctx.pid) {
            Ok(t) => t,
            Err(errno) => return Outcome::refused(errno, f.rights(Object::Existing)),
        };
        let target = &*target;
        // An existing object's open starts with the plain way.
        let own = if f.create() {
            OwnFirst::Settle
        } else {
            OwnFirst::InPlain
        };
        self.acting(ctx, target, f.rights(Object::Existing), own, |acting| {
            if !f.create() {
                return self.open_existing(judge, ctx, acting, target, f);
            }
            for _ in 0..CREATE_TRIES {
                if let Attempt::Done(out) = self.open_create(judge, ctx, acting, target, f, mode) {
                    return out;
                }
            }
            // The name kept appearing and disappearing under us.
            self.fail_unresolved(
                judge,
                ctx,
                Errno::EAGAIN,
                target,
                FollowSymlinks::No,
                f.rights(Object::Existing),
            )
        })
    }

    /// Opens an object that must already exist.
    fn open_existing(
        &self,
        judge: &dyn Judge,
        ctx: &Context,
        acting: Acting,
        target: &Path,
        f: OpenFlags,
    ) -> Outcome<OwnedFd> {
        let access = f.rights(Object::Existing);
        // Only ENOENT says the object is missing: ENOTDIR and EACCES may be
        // about the object itself (O_DIRECTORY, its mode).
        let missing = |errno| errno == Errno::ENOENT;
        let open = |_| self.resolver.open_plain(target, f.reopen_flags()).map(Ok);
        if let Some(out) = self.plain(judge, acting, target, access, missing, open) {
            return out;
        }
        let reopen = |fd: std::os::fd::BorrowedFd<'_>, _| {
            self.refuse_symlink(fd, f)
                .and_then(|()| self.resolver.reopen(fd, f.reopen_flags()))
        };
        let first = self.program_first(judge, ctx, target, f.follow(), access, reopen);
        if let Some(out) = first {
            return out;
        }
        let reached = match self.reach(judge, ctx, acting, target, f.follow(), access) {
            Ok(r) => r,
            Err(out) => return out,
        };
        let r = self.act(ctx, &reached, target, f.follow(), reopen);
        self.finish(judge, reached, access, r)
    }

    /// A symlink held because of `O_NOFOLLOW` is `ELOOP`, as open(2) says;
    /// checked here rather than left to the reopen.
    fn refuse_symlink(&self, fd: std::os::fd::BorrowedFd<'_>, f: OpenFlags) -> Result<(), Errno> {
        if f.nofollow() && fstat(fd)?.st_mode & libc::S_IFMT == libc::S_IFLNK {
            return Err(Errno::ELOOP);
        }
        Ok(())
    }

    /// One attempt at an `O_CREAT` open.
    fn open_create(
        &self,
        judge: &dyn Judge,
        ctx: &Context,
        acting: Acting,
        target: &Path,
        f: OpenFlags,
        mode: u32,
    ) -> Attempt {
        let follow = create_follow(f);
        match self.resolver.resolve(target, follow) {
            Ok(obj) => {
                let judged = to_self(obj.path, ctx.pid);
                if f.exclusive() {
                    return Attempt::Done(self.fail_at(
                        judge,
                        Errno::EEXIST,
                        judged,
                        f.rights(Object::Existing),
                        None,
                    ));
                }
                let access = f.rights(Object::Existing);
                let decision = judge.decide(&judged, access);
                if !decision.allowed {
                    return Attempt::Done(Outcome::denied(judge, judged, access, decision));
                }
                let reached = super::Reached {
                    via: Via::choose(acting, &judged, &decision),
                    fd: obj.fd,
                    judged,
                    decision,
                };
                let r = self.act(ctx, &reached, target, follow, |fd, _| {
                    self.refuse_symlink(fd, f)?;
                    match fstat(fd)?.st_mode & libc::S_IFMT {
                        // open(2): O_CREAT on a directory is EISDIR.
                        libc::S_IFDIR => Err(Errno::EISDIR),
                        _ => self.resolver.reopen(fd, f.reopen_flags()),
                    }
                });
                Attempt::Done(self.finish(judge, reached, access, r))
            }
            Err(Errno::ENOENT) => self.create_new(judge, ctx, acting, target, f, mode),
            Err(errno) => Attempt::Done(self.fail_unresolved(
                judge,
                ctx,
                errno,
                target,
                follow,
                f.rights(Object::Existing),
            )),
        }
    }

    /// Creates the final component of `target`, which did not resolve.
    fn create_new(
        &self,
        judge: &dyn Judge,
        ctx: &Context,
        acting: Acting,
        target: &Path,
        f: OpenFlags,
        mode: u32,
    ) -> Attempt {
        let follow = create_follow(f);
        let enoent = |ops: &Ops| {
            Attempt::Done(ops.fail_unresolved(
                judge,
                ctx,
                Errno::ENOENT,
                target,
                follow,
                f.rights(Object::New),
            ))
        };
        if follow == FollowSymlinks::Yes {
            // A dangling final symlink: never create through it.
            if let Ok(link) = self.resolver.resolve(target, FollowSymlinks::No) {
                let is_link =
                    fstat(link.fd.as_fd()).is_ok_and(|s| s.st_mode & libc::S_IFMT == libc::S_IFLNK);
                match self.resolver.resolve(target, FollowSymlinks::Yes) {
                    Err(Errno::ENOENT) if is_link => {
                        let judged = to_self(link.path, ctx.pid);
                        return Attempt::Done(self.fail_at(
                            judge,
                            Errno::ELOOP,
                            judged,
                            f.rights(Object::New),
                            None,
                        ));
                    }
                    // Something appeared at the name since: judge it as existing.
                    _ => return Attempt::Retry,
                }
            }
        }
        let bytes = target.as_os_str().as_bytes();
        let Some(slash) = bytes.iter().rposition(|&b| b == b'/') else {
            return enoent(self);
        };
        let name = &bytes[slash + 1..];
        if matches!(name, b"" | b"." | b"..") {
            // Not about a missing final name: something above it is missing.
            return enoent(self);
        }
        let parent = Path::new(OsStr::from_bytes(if slash == 0 {
            b"/"
        } else {
            &bytes[..slash]
        }));
        let dir = match self.resolver.resolve(parent, FollowSymlinks::Yes) {
            Ok(d) => d,
            Err(errno) => {
                return Attempt::Done(self.fail_unresolved(
                    judge,
                    ctx,
                    errno,
                    target,
                    follow,
                    f.rights(Object::New),
                ));
            }
        };
        let judged = to_self(dir.path.join(OsStr::from_bytes(name)), ctx.pid);
        let access = f.rights(Object::New);
        let decision = judge.decide(&judged, access);
        if !decision.allowed {
            return Attempt::Done(Outcome::denied(judge, judged, access, decision));
        }
        let create = |dir: &OwnedFd| openat(dir, name, f.create_flags(), create_mode(mode));
        let created = match Via::choose(acting, &judged, &decision) {
            Via::Switch(program) => self.as_program(program, || {
                // The parent reached again with the program's credentials,
                // its own search and write permissions applying.
                let again = self.resolver.resolve(parent, FollowSymlinks::Yes)?;
                if to_self(again.path.join(OsStr::from_bytes(name)), ctx.pid) != judged {
                    return Err(Errno::EACCES);
                }
                create(&again.fd)
            }),
            Via::Program => create(&dir.fd),
            // The new file is the program's from the start.
            Via::Broker => match ctx.program {
                Some(program) => super::entry::owned_by(program, || create(&dir.fd)),
                None => create(&dir.fd),
            },
        };
        match created {
            Ok(fd) => Attempt::Done(Outcome::allowed(fd, access, judged, decision)),
            Err(Errno::EEXIST) if !f.exclusive() => Attempt::Retry,
            Err(errno) => Attempt::Done(self.fail_at(judge, errno, judged, access, Some(decision))),
        }
    }
}

/// Whether an `O_CREAT` open follows a final symlink: with `O_EXCL` a final
/// symlink counts as existing (open(2)).
fn create_follow(f: OpenFlags) -> FollowSymlinks {
    if f.exclusive() {
        FollowSymlinks::No
    } else {
        f.follow()
    }
}
