//! Operations the broker performs for a child, one file per operation.
//!
//! Each operation validates the request, reaches the object race-free with the
//! [`Resolver`], judges the object's canonical path, and then acts on exactly
//! the object judged (the held `O_PATH` descriptor), never on the string again.
//!
//! Rules every operation keeps:
//! - Paths are absolute (`EINVAL` otherwise, and for NUL bytes); `PATH_MAX`
//!   bytes or more is `ENAMETOOLONG`.
//! - `/proc/self/...` in a request means the requester: it becomes
//!   `/proc/<pid>/...` and `/proc/thread-self/...` becomes
//!   `/proc/<pid>/task/<pid>/...` before resolution; without a
//!   [`Context::pid`] such a request is `EACCES`. A canonical
//!   `/proc/<pid>/...` or `/proc/<pid>/task/<tid>/...` of the requester is
//!   judged as `/proc/self/...` (proc(5); the mapping is [`crate::procfs`]'s).
//! - With the program's credentials known ([`Context::program`]), whatever
//!   lies in `/proc` and whatever only a built-in profile grants is reached
//!   and opened with them, never with the broker's ([`program`]).
//! - What the requester may not even `stat` does not exist for it: every
//!   operation on a path whose canonical path (or, when it does not
//!   resolve, the best canonical guess of it, [`Resolver::best_guess`]) the
//!   judge does not allow `stat` on answers `ENOENT`, whether the object
//!   exists or not and whatever went wrong, so that existence does not
//!   leak and search paths (`@INC`, `sys.path`, `ld.so`'s) move on as they
//!   would on a machine without the file. Where `stat` is allowed, a policy
//!   denial is `EACCES` and any other error (`ENOENT`, `ENOTDIR`, `ELOOP`,
//!   `EEXIST`, `EISDIR`...) is revealed as it is.
//! - A hard rule no policy lifts (the broker's own `/proc/<pid>`, see
//!   [`Hard`]) refuses as the judge does: it allows no `stat` there, so the
//!   broker's `/proc` entries look absent (`ENOENT`), exactly like a pid
//!   that does not exist. Only a `/proc/self` request without a
//!   [`Context::pid`] stays `EACCES` (the requester's own entry always
//!   exists, so nothing leaks). What the kernel refuses the program's own
//!   credentials (another user's `/proc/<pid>` files, a 0600 file a
//!   profile grants) is `EACCES` where the path may be seen, as any error
//!   there: the policy already shows that it exists.
//! - [`Outcome::absent`] tells observers (never the requester) that the
//!   object was not found: resolution failed with `ENOENT` or `ENOTDIR` on
//!   a component of the path, or `EACCES` on a directory that may not be
//!   searched. Denial lines, learn mode and `--fail-on-denial` leave such
//!   probes out.

pub mod flags;

mod access;

pub use access::access_rights;
mod chmod;
mod entry;
mod link;
mod mkdir;
mod open;
mod open_path;
mod plain;
mod program;
mod readlink;
mod remove;
mod rename;
mod stat;
mod utimes;

pub use program::ProgramIds;
pub use rename::Pair;
pub use utimes::{Stamp, Times};

use std::borrow::Cow;
use std::ffi::OsStr;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::policy::{Access, Decision, Judge};
use crate::procfs::{self, ViaSelf, to_self};
use crate::resolve::{FollowSymlinks, ResolveError, Resolver, check_path};
use program::{Acting, OwnFirst, Via};

/// An operation of the engine. The discriminants are the operation numbers
/// of the socketpair protocol (see [`crate::protocol`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Op {
    /// `open(2)`: the answer is a descriptor.
    Open = 1,
    /// `stat(2)`/`lstat(2)`: the answer is a [`crate::metadata::FileStat`].
    Stat = 2,
    /// `access(2)`: the answer is only the status.
    Access = 3,
    /// `readlink(2)`: the answer is the link's target.
    Readlink = 4,
    /// `mkdir(2)`. This and the operations below are not in the socketpair
    /// protocol: only `fdbroker run` brokers them.
    Mkdir = 5,
    /// `unlink(2)`.
    Unlink = 6,
    /// `rmdir(2)`.
    Rmdir = 7,
    /// `rename(2)`: one event for each of its two paths.
    Rename = 8,
    /// `link(2)`: one event for each of its two paths.
    Link = 9,
    /// `symlink(2)`.
    Symlink = 10,
    /// `chmod(2)`.
    Chmod = 11,
    /// `utimensat(2)`.
    Utimes = 12,
}

impl Op {
    /// A lower-case name (`"open"`, `"stat"`, ...), for logs.
    pub fn name(self) -> &'static str {
        match self {
            Op::Open => "open",
            Op::Stat => "stat",
            Op::Access => "access",
            Op::Readlink => "readlink",
            Op::Mkdir => "mkdir",
            Op::Unlink => "unlink",
            Op::Rmdir => "rmdir",
            Op::Rename => "rename",
            Op::Link => "link",
            Op::Symlink => "symlink",
            Op::Chmod => "chmod",
            Op::Utimes => "utimes",
        }
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The engine the broker calls: `open`, `stat`, `access` and `readlink` on
/// behalf of a child. `Send + Sync`; share one across threads.
///
/// ```
/// use std::path::Path;
/// use fdbroker::FollowSymlinks;
/// use fdbroker::ops::{Context, Ops};
/// use fdbroker::policy::{Access, Decision, Judge};
/// use nix::errno::Errno;
///
/// /// Reads anything under /etc, nothing else.
/// struct EtcReader;
/// impl Judge for EtcReader {
///     fn decide(&self, path: &Path, access: Access) -> Decision {
///         let allowed = path.starts_with("/etc") && Access::READ.granted().contains(access);
///         Decision { allowed, rule: None }
///     }
/// }
///
/// let ops = Ops::new()?;
/// let ctx = Context { pid: None, program: None };
/// let dir = ops.open(&EtcReader, &ctx, Path::new("/etc/."), libc::O_RDONLY | libc::O_DIRECTORY, 0);
/// assert!(dir.result.is_ok());
/// assert_eq!(dir.resolved.as_deref(), Some(Path::new("/etc")));
/// // Hidden (no `stat` right): absent, whether it exists or not.
/// let hidden = ops.open(&EtcReader, &ctx, Path::new("/etc/../root"), libc::O_RDONLY, 0);
/// assert_eq!(hidden.result.err(), Some(Errno::ENOENT));
/// assert!(!hidden.absent, "the audit log knows it exists");
/// let missing = ops.stat(&EtcReader, &ctx, Path::new("/no/such/file"), FollowSymlinks::Yes);
/// assert_eq!(missing.result.err(), Some(Errno::ENOENT), "existence does not leak");
/// assert!(missing.absent);
/// // Visible but not writable: refused.
/// let out = ops.open(&EtcReader, &ctx, Path::new("/etc/passwd"), libc::O_WRONLY, 0);
/// assert_eq!(out.result.err(), Some(Errno::EACCES));
/// # Ok::<(), fdbroker::resolve::ResolveError>(())
/// ```
#[derive(Debug)]
pub struct Ops {
    resolver: Resolver,
}

/// Who is asking.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Context {
    /// The requester's pid (thread-group id), which `/proc/self` stands for;
    /// `None` when unknown, and then `/proc/self` is refused.
    pub pid: Option<u32>,
    /// The requester's credentials, with which `/proc` files and what only
    /// a built-in profile grants are reached and opened ([`ProgramIds`]);
    /// `None`: everything with the broker's own, as a library broker
    /// without them does.
    pub program: Option<ProgramIds>,
}

/// The result of one operation, with what was judged for the audit log.
#[derive(Debug)]
pub struct Outcome<T> {
    /// The answer: a value, or the errno for the child.
    pub result: Result<T, Errno>,
    /// The rights the request needed.
    pub access: Access,
    /// The canonical path judged (as matched: the requester's `/proc/<pid>`
    /// written as `/proc/self`); for an error, the guess the `stat` check was
    /// made on. `None` when refused before judging.
    pub resolved: Option<PathBuf>,
    /// The decision behind `result`; for an error the `stat` decision that
    /// let it through or hid it. `None` when refused before judging (bad
    /// flags or path, `/proc/self` without a pid) and for a hard rule's
    /// refusal.
    pub decision: Option<Decision>,
    /// The object was not found: resolving the path failed with `ENOENT`
    /// or `ENOTDIR` on one of its components (a probe of a missing path),
    /// or with `EACCES` on a directory on the way that may not be searched.
    /// For observers only; the requester's answer never depends on it
    /// beyond what `stat` lets it see.
    pub absent: bool,
}

impl<T> Outcome<T> {
    /// Refused before anything was judged.
    fn refused(errno: Errno, access: Access) -> Outcome<T> {
        Outcome {
            result: Err(errno),
            access,
            resolved: None,
            decision: None,
            absent: false,
        }
    }

    /// Allowed by `decision`, which was made on `path`: `value`.
    fn allowed(value: T, access: Access, path: PathBuf, decision: Decision) -> Outcome<T> {
        Outcome {
            result: Ok(value),
            access,
            resolved: Some(path),
            decision: Some(decision),
            absent: false,
        }
    }

    /// Denied by the policy: `decision` refused `access` on `path`, an
    /// object that exists (or one to be created). `EACCES` when `judge`
    /// lets the requester see it, else `ENOENT`.
    fn denied(judge: &dyn Judge, path: PathBuf, access: Access, decision: Decision) -> Outcome<T> {
        Outcome {
            result: Err(hidden_or(judge, &path, access, Errno::EACCES)),
            access,
            resolved: Some(path),
            decision: Some(decision),
            absent: false,
        }
    }

    /// Refused by a hard rule no policy can lift, at `path` (which resolution
    /// reached, or its best guess when `absent`): the rule allows no `stat`
    /// there either, so the path looks absent.
    fn refused_at(path: PathBuf, access: Access, absent: bool) -> Outcome<T> {
        Outcome {
            result: Err(Errno::ENOENT),
            access,
            resolved: Some(path),
            decision: None,
            absent,
        }
    }
}

/// `errno`, or `ENOENT` when `judge` does not let the requester `stat`
/// `path` (nothing is visible there). `access` was already judged and
/// refused on `path`: when it is `stat` alone, the answer is known.
fn hidden_or(judge: &dyn Judge, path: &Path, access: Access, errno: Errno) -> Errno {
    if access == Access::STAT || !judge.decide(path, Access::STAT).allowed {
        Errno::ENOENT
    } else {
        errno
    }
}

/// Whether resolution failing with `errno` means the object was not found:
/// a component of the path is missing or no directory, or a directory on
/// the way may not be searched (resolution needs no more than that, so
/// neither the broker nor the program can find anything there).
fn is_absence(errno: Errno) -> bool {
    matches!(errno, Errno::ENOENT | Errno::ENOTDIR | Errno::EACCES)
}

/// An object reached and judged allowed.
struct Reached {
    fd: OwnedFd,
    judged: PathBuf,
    decision: Decision,
    /// Whose credentials act on it.
    via: Via,
}

/// How many times an `O_CREAT` restarts after losing a race against a
/// concurrent creation of the same name.
const CREATE_TRIES: usize = 3;

impl Ops {
    /// An engine with the best resolution strategy the kernel offers
    /// ([`Resolver::new`]).
    pub fn new() -> Result<Ops, ResolveError> {
        Ok(Ops {
            resolver: Resolver::new()?,
        })
    }

    /// An engine using `resolver` (e.g. one forced to a [`crate::resolve::Strategy`]).
    pub fn with_resolver(resolver: Resolver) -> Ops {
        Ops { resolver }
    }

    /// The resolver in use.
    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    /// Resolves `target` (already prepared), judges `access` on the canonical
    /// path, and returns the object when allowed, with whose credentials to
    /// act on it; else the finished outcome.
    fn reach<T>(
        &self,
        judge: &dyn Judge,
        ctx: &Context,
        acting: Acting,
        target: &Path,
        follow: FollowSymlinks,
        access: Access,
    ) -> Result<Reached, Outcome<T>> {
        let obj = match self.resolver.resolve(target, follow) {
            Ok(obj) => obj,
            Err(errno) => {
                return Err(self.fail_unresolved(judge, ctx, errno, target, follow, access));
            }
        };
        if is_broker_proc(&obj.path, ctx.pid) {
            return Err(Outcome::refused_at(obj.path, access, false));
        }
        let judged = to_self(obj.path, ctx.pid);
        let decision = judge.decide(&judged, access);
        if !decision.allowed {
            return Err(Outcome::denied(judge, judged, access, decision));
        }
        Ok(Reached {
            via: Via::choose(acting, &judged, &decision),
            fd: obj.fd,
            judged,
            decision,
        })
    }

    /// The outcome for `errno` met while resolving `target`: revealed only if
    /// the best guess of what `target` names may be stat'ed, else `ENOENT`.
    fn fail_unresolved<T>(
        &self,
        judge: &dyn Judge,
        ctx: &Context,
        errno: Errno,
        target: &Path,
        follow: FollowSymlinks,
        access: Access,
    ) -> Outcome<T> {
        let guess = self.resolver.best_guess(target, follow);
        let absent = is_absence(errno);
        if is_broker_proc(&guess, ctx.pid) {
            return Outcome::refused_at(guess, access, absent);
        }
        let guess = to_self(guess, ctx.pid);
        Outcome {
            absent,
            ..self.fail_at(judge, errno, guess, access, None)
        }
    }

    /// The outcome for `errno` about the canonical path `judged`: revealed
    /// only if `judged` may be stat'ed, else `ENOENT`. `allowed` is the
    /// decision that already allowed `access` there, if any; it stands when
    /// it covers `stat`. Not [`Outcome::absent`]: the caller says so.
    fn fail_at<T>(
        &self,
        judge: &dyn Judge,
        errno: Errno,
        judged: PathBuf,
        access: Access,
        allowed: Option<Decision>,
    ) -> Outcome<T> {
        let decision = match allowed {
            Some(d) if access == Access::STAT => d,
            _ => judge.decide(&judged, Access::STAT),
        };
        let result = if decision.allowed {
            Err(errno)
        } else {
            Err(Errno::ENOENT)
        };
        Outcome {
            result,
            access,
            resolved: Some(judged),
            decision: Some(decision),
            absent: false,
        }
    }

    /// The way of every operation on one existing object: reaches `target`
    /// (prepared) with the credentials chosen for it, judges `access` on its
    /// canonical path, and runs `f` on exactly the object judged (`true`:
    /// with the program's credentials). A plain path takes the one-call way
    /// ([`Ops::act_plain`]), anything else the resolving one.
    fn on_object<T>(
        &self,
        judge: &dyn Judge,
        ctx: &Context,
        target: &Path,
        follow: FollowSymlinks,
        access: Access,
        f: impl FnOnce(BorrowedFd<'_>, bool) -> Result<T, Errno> + Copy,
    ) -> Outcome<T> {
        self.acting(ctx, target, access, OwnFirst::InPlain, |acting| {
            if let Some(out) = self.act_plain(judge, acting, target, follow, access, f) {
                return out;
            }
            if let Some(out) = self.program_first(judge, ctx, target, follow, access, f) {
                return out;
            }
            let reached = match self.reach(judge, ctx, acting, target, follow, access) {
                Ok(r) => r,
                Err(out) => return out,
            };
            let r = self.act(ctx, &reached, target, follow, f);
            self.finish(judge, reached, access, r)
        })
    }

    /// The outcome of acting on an object judged allowed.
    fn finish<T>(
        &self,
        judge: &dyn Judge,
        reached: Reached,
        access: Access,
        r: Result<T, Errno>,
    ) -> Outcome<T> {
        match r {
            Ok(v) => Outcome::allowed(v, access, reached.judged, reached.decision),
            Err(errno) => {
                self.fail_at(judge, errno, reached.judged, access, Some(reached.decision))
            }
        }
    }
}

/// Checks a request path and writes the requester's `/proc/self` and
/// `/proc/thread-self` as `/proc/<pid>` and `/proc/<pid>/task/<pid>`
/// ([`ViaSelf::for_pid`]).
///
/// Errors: `EINVAL`/`ENAMETOOLONG` as [`check_path`]; `EACCES` for a
/// `/proc/self` request without a pid.
fn prepare(path: &Path, pid: Option<u32>) -> Result<Cow<'_, Path>, Errno> {
    check_path(path)?;
    let Some(via_self) = ViaSelf::parse(path) else {
        return Ok(Cow::Borrowed(path));
    };
    let Some(pid) = pid else {
        return Err(Errno::EACCES);
    };
    let out = via_self.for_pid(pid);
    check_path(&out)?;
    Ok(Cow::Owned(out))
}

/// The caller's judge under the hard rules no policy can lift: whatever the
/// policy says, nothing in the broker's own `/proc/<pid>` is allowed. Every
/// public operation judges through this, so no path to a decision skips it.
pub(crate) struct Hard<'a>(pub(crate) &'a dyn Judge);

impl Judge for Hard<'_> {
    fn decide(&self, path: &Path, access: Access) -> Decision {
        // The requester's own /proc/<pid> reaches here written as /proc/self,
        // so a /proc/<our pid> still in `path` is never the requester's.
        if is_broker_proc(path, None) {
            return Decision::default_deny();
        }
        self.0.decide(path, access)
    }
}

/// Whether `path` lies in the broker's own `/proc/<pid>` (or is it).
///
/// A hard rule, above any policy: a symlink met mid-resolution that points
/// into `/proc/self` (`/etc/mtab`, `/dev/fd`, `/dev/stdin`) resolves in the
/// broker's context, and no policy — not even one granting `/proc/**` — may
/// hand the child the privileged broker's environment, memory maps or
/// descriptors. Exempt only when the requester is the broker process itself.
fn is_broker_proc(path: &Path, requester: Option<u32>) -> bool {
    // Only a path under /proc/<digits> can be; getpid(2) is a system call,
    // asked only then (this runs on every request).
    let Some((first, _)) = procfs::split_pid(path) else {
        return false;
    };
    let own = std::process::id();
    if requester == Some(own) {
        return false;
    }
    if procfs::names_pid(first, own) {
        return true;
    }
    // Each of our threads also has a /proc/<tid> of its own: not listed in
    // /proc, but reachable by number (tids are handed out in sequence), and
    // the same process (tests/attacks, path_tricks broker_proc). Checked
    // after the object is held: a tid that stops being ours by then no
    // longer reaches a live thread of ours.
    if Path::new("/proc/self/task")
        .join(OsStr::from_bytes(first))
        .symlink_metadata()
        .is_ok()
    {
        return true;
    }
    !requester.is_some_and(|r| procfs::names_pid(first, r)) && is_sandbox_init(first, own)
}

/// Whether `/proc/<pid>` is the init of one of our sandboxes (see
/// `sandbox::init`): our child, and pid 1 of a PID namespace below ours. It
/// is a copy of the broker made by clone(2), with the broker's memory and
/// environment as they were then: as much the broker as the broker itself.
fn is_sandbox_init(pid: &[u8], own: u32) -> bool {
    let Ok(status) = std::fs::read(
        Path::new("/proc")
            .join(OsStr::from_bytes(pid))
            .join("status"),
    ) else {
        return false;
    };
    let nested_init = procfs::status_value(&status, "NStgid").is_some_and(|ids| {
        let ids: Vec<&str> = ids.split_ascii_whitespace().collect();
        ids.len() > 1 && ids.last() == Some(&"1")
    });
    nested_init && procfs::status_ppid(&status) == Some(own)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepare_rewrites_proc_self() {
        let p = |s: &str, pid| prepare(Path::new(s), pid).map(|c| c.into_owned());
        assert_eq!(
            p("/proc/self/fd/3", Some(42)),
            Ok(PathBuf::from("/proc/42/fd/3"))
        );
        assert_eq!(p("/proc/self", Some(42)), Ok(PathBuf::from("/proc/42")));
        assert_eq!(p("/proc/self/", Some(42)), Ok(PathBuf::from("/proc/42/")));
        assert_eq!(
            p("//proc/./self//x/", Some(42)),
            Ok(PathBuf::from("/proc/42/x/"))
        );
        assert_eq!(
            p("/proc/thread-self/fd", Some(42)),
            Ok(PathBuf::from("/proc/42/task/42/fd"))
        );
        assert_eq!(
            p("/proc/self/../1/environ", Some(7)),
            Ok(PathBuf::from("/proc/7/../1/environ"))
        );
        assert_eq!(p("/proc/self/fd", None), Err(Errno::EACCES));
        assert_eq!(p("/proc/thread-self", None), Err(Errno::EACCES));
        assert_eq!(p("/proc/selfish", None), Ok(PathBuf::from("/proc/selfish")));
        assert_eq!(p("/proc/1/fd", None), Ok(PathBuf::from("/proc/1/fd")));
        assert_eq!(p("/etc/self", None), Ok(PathBuf::from("/etc/self")));
        assert_eq!(p("proc/self", Some(1)), Err(Errno::EINVAL));
        assert_eq!(p("/a\0b", Some(1)), Err(Errno::EINVAL));
        let long = format!("/proc/self/{}", "a".repeat(4090));
        assert_eq!(p(&long, Some(1)), Err(Errno::ENAMETOOLONG));
    }

    /// Regression (tests/attacks, path_tricks broker_proc): the broker's
    /// threads' /proc/<tid> entries are the broker too.
    #[test]
    fn broker_threads_proc_entries_are_the_broker() {
        let own = std::process::id();
        assert!(is_broker_proc(
            Path::new(&format!("/proc/{own}/environ")),
            None
        ));
        assert!(!is_broker_proc(
            Path::new(&format!("/proc/{own}/environ")),
            Some(own)
        ));
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            let _ = tx.send(nix::unistd::gettid().as_raw());
            let _ = done_rx.recv();
        });
        let tid = rx.recv().unwrap();
        assert!(is_broker_proc(Path::new(&format!("/proc/{tid}/mem")), None));
        assert!(is_broker_proc(Path::new(&format!("/proc/{tid}")), None));
        done_tx.send(()).unwrap();
        t.join().unwrap();
        assert!(!is_broker_proc(Path::new("/proc/1/environ"), None));
        assert!(!is_broker_proc(Path::new("/proc/self/environ"), None));
        assert!(!is_broker_proc(Path::new("/proc/sys/kernel"), None));
        assert!(!is_broker_proc(Path::new("/etc/passwd"), None));
    }
}
