//! [`NotifyServer`]: what each brokered call is answered with, from the
//! notification received to the answer sent.

mod changes;

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::errno::Errno;

use super::caller::{Caller, Target};
use super::memory::CallerMemory;
use super::pool::Pool;
use super::{
    AccessCall, Dirfd, LookupCall, NotifyError, OpenCall, Openat2Call, ReadlinkCall, StatCall,
    StatxCall, Syscall, decode, encode_kernel_stat, encode_statx,
};
use super::{memfd, pidns};
use crate::bpf::AUDIT_ARCH_X86_64;
use crate::event::{Event, Observer, Op, Source};
use crate::ops::{Context, Ops, Outcome, ProgramIds};
use crate::policy::Judge;
use crate::resolve::FollowSymlinks;
use crate::sys;
use crate::sys::notify::Notif;

/// Answers the notifications of one seccomp listener.
///
/// ```no_run
/// # fn get_listener() -> std::os::fd::OwnedFd { unimplemented!() }
/// use std::sync::Arc;
/// use fdbroker::notify::NotifyServer;
/// use fdbroker::ops::Ops;
/// use fdbroker::policy::Policy;
///
/// let policy = Arc::new(Policy::from_file("policy.toml".as_ref())?);
/// let server = NotifyServer::new(get_listener(), policy, Arc::new(Ops::new()?))?;
/// server.spawn()?; // threads answer until the last filtered process exits
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct NotifyServer {
    pub(super) listener: OwnedFd,
    judge: Arc<dyn Judge>,
    ops: Arc<Ops>,
    observer: Option<Observer>,
    memory: CallerMemory,
    program: Option<ProgramIds>,
    /// What Landlock lets the program execute (files, or every file beneath
    /// a directory): visible to `execve` whatever the judge says.
    exec_grants: Arc<[PathBuf]>,
    /// Whether the listener wakes its receiver synchronously (the error
    /// from the kernel that cannot).
    sync_wake_up: Result<(), Errno>,
    /// Receivers keep the program's credentials between calls.
    keep_credentials: bool,
}

impl std::fmt::Debug for NotifyServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifyServer")
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

/// What to answer a notification with.
enum Answer {
    /// The call returns this value.
    Value(i64),
    /// The call fails with this errno.
    Error(Errno),
    /// Install the descriptor in the caller and return its number.
    Fd(OwnedFd, bool),
    /// Let the kernel run the call (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`).
    Continue,
}

/// The call an [`Event`] reports: what the caller asked, before the outcome.
struct Called<'a> {
    syscall: &'static str,
    op: Op,
    path: &'a Path,
    flags: Option<i64>,
    mode: Option<u32>,
}

impl<'a> Called<'a> {
    /// A call with no flags or mode worth reporting.
    fn plain(syscall: &'static str, op: Op, path: &'a Path) -> Called<'a> {
        Called {
            syscall,
            op,
            path,
            flags: None,
            mode: None,
        }
    }
}

/// Which struct a stat call fills in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum StatLayout {
    /// `struct stat`.
    Stat,
    /// `struct statx`.
    Statx,
}

impl NotifyServer {
    /// A server for `listener` judging with `judge` and acting with `ops`.
    /// Fails when the kernel's notification structures are larger than the
    /// ones this build passes to it.
    pub fn new(
        listener: OwnedFd,
        judge: Arc<dyn Judge>,
        ops: Arc<Ops>,
    ) -> Result<NotifyServer, NotifyError> {
        if !sys::notify::struct_sizes_ok().map_err(NotifyError::Sizes)? {
            return Err(NotifyError::StructSize);
        }
        // The caller and its receiver then meet on one CPU, not two: each
        // notification is one wake-up of an idle CPU fewer.
        let sync_wake_up = sys::notify::set_sync_wake_up(listener.as_fd());
        Ok(NotifyServer {
            listener,
            judge,
            ops,
            observer: None,
            memory: CallerMemory::Direct,
            program: None,
            exec_grants: Arc::from([]),
            sync_wake_up,
            keep_credentials: false,
        })
    }

    /// `Ok` when the kernel wakes the receiver of each notification on the
    /// calling thread's CPU (`SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP`, Linux
    /// 6.6); else the kernel's answer to the request (`EINVAL`, `ENOTTY`),
    /// and notifications are served all the same.
    pub fn sync_wake_up(&self) -> Result<(), Errno> {
        self.sync_wake_up
    }

    /// Reports every judged request to `observer` (the audit log).
    pub fn with_observer(mut self, observer: Observer) -> NotifyServer {
        self.observer = Some(observer);
        self
    }

    /// Callers run with `program`'s credentials: what lies in `/proc` and
    /// what only a built-in profile grants is opened with those (see
    /// [`ProgramIds`]); without it, with the server's own.
    pub fn with_program(mut self, program: ProgramIds) -> NotifyServer {
        self.program = Some(program);
        self
    }

    /// Landlock lets the program execute `paths` (files, or everything
    /// beneath directories): `execve` of what lies there is left to the
    /// kernel even where the judge does not let the program `stat` it.
    pub fn with_exec_grants(mut self, paths: Vec<PathBuf>) -> NotifyServer {
        self.exec_grants = paths.into();
        self
    }

    /// Lets each receiver thread keep the program's credentials (see
    /// [`NotifyServer::with_program`]) from one call to the next, instead of
    /// taking them on and putting its own back around every operation that
    /// needs them: as root, most calls then make no credential change at
    /// all (three commits each way otherwise). The receiver puts its own
    /// back before anything the policy's own rules grant and before it
    /// reaches the caller's files in a way only they allow.
    ///
    /// The judge and the observer then run with either credentials: only
    /// for a judge and an observer that do no file-system work needing the
    /// server's own (the policy's judge, an audit log, counters). Off by
    /// default.
    pub fn keep_program_credentials(mut self) -> NotifyServer {
        self.keep_credentials = true;
        self
    }

    /// Whether receivers keep the program's credentials between calls.
    pub(super) fn keeps_credentials(&self) -> bool {
        self.keep_credentials
    }

    /// Reach callers' memory `way` (default: [`CallerMemory::Direct`]).
    pub(crate) fn caller_memory(mut self, way: CallerMemory) -> NotifyServer {
        self.memory = way;
        self
    }

    /// Starts answering on background threads, which run until no process
    /// uses the filter any more. One thread per CPU the broker may use
    /// receives and answers notifications itself; when calls block (a FIFO,
    /// a hung network filesystem), more are added within a few
    /// milliseconds, up to the maximum, so one slow call never stalls the
    /// others for longer.
    pub fn spawn(self) -> Result<(), NotifyError> {
        Pool::start(self)
    }

    /// Handles notification `n` and sends the answer.
    pub(super) fn answer(&self, n: &Notif) {
        let listener = self.listener.as_fd();
        // A bug must fail safe: the caller gets EIO rather than waiting
        // forever on a notification nobody will answer.
        let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.handle(n)))
            .unwrap_or_else(|_| {
                tracing::error!(id = n.id, pid = n.pid, "notification handler panicked");
                Answer::Error(Errno::EIO)
            });
        let sent = match answer {
            Answer::Value(v) => sys::notify::respond(listener, n.id, v, 0),
            Answer::Error(e) => sys::notify::respond(listener, n.id, 0, e as i32),
            Answer::Continue => sys::notify::respond_continue(listener, n.id),
            Answer::Fd(fd, cloexec) => {
                match sys::notify::add_fd_and_send(listener, n.id, fd.as_fd(), cloexec) {
                    Ok(_) => Ok(()),
                    // E.g. EMFILE in the caller: the call is still waiting.
                    Err(e) if e != Errno::ENOENT => {
                        sys::notify::respond(listener, n.id, 0, e as i32)
                    }
                    Err(e) => Err(e),
                }
            }
        };
        if let Err(e) = sent
            && e != Errno::ENOENT
        {
            tracing::warn!(
                id = n.id,
                pid = n.pid,
                "answering a notification failed: {e}"
            );
        }
    }

    /// Decides what to answer notification `n`.
    fn handle(&self, n: &Notif) -> Answer {
        if n.arch != AUDIT_ARCH_X86_64 {
            return Answer::Error(Errno::ENOSYS);
        }
        let Some((name, call)) = decode(i64::from(n.nr), n.args) else {
            // Not a call the filter sends us: refuse rather than run it.
            return Answer::Error(Errno::ENOSYS);
        };
        let caller = Caller::new(n.pid, self.memory);
        let op = super::caller::op(&call);
        let r = match call {
            Syscall::Open(call) => self.open(&caller, n, name, call),
            Syscall::Openat2(call) => self.openat2(&caller, n, name, call),
            Syscall::Stat(call) => self.stat(&caller, n, name, call),
            Syscall::Statx(call) => self.statx(&caller, n, name, call),
            Syscall::Access(call) => self.access(&caller, n, name, call),
            Syscall::Readlink(call) => self.readlink(&caller, n, name, call),
            Syscall::MemfdCreate(call) => memfd::create(&caller, call, || self.valid(n))
                .map(|fd| Answer::Fd(fd, call.cloexec())),
            Syscall::Mkdir(call) => self.mkdir(&caller, n, name, call),
            Syscall::Unlink(call) => self.unlink(&caller, n, name, call),
            Syscall::Rename(call) => self.rename(&caller, n, name, call),
            Syscall::Link(call) => self.link(&caller, n, name, call),
            Syscall::Symlink(call) => self.symlink(&caller, n, name, call),
            Syscall::Chmod(call) => self.chmod(&caller, n, name, call),
            Syscall::Utimes(call) => self.utimes(&caller, n, name, call),
            Syscall::Lookup(call) => self.lookup(&caller, n, call),
        };
        if let Some(errno) = caller.failure() {
            caller.report(self.observer.as_deref(), name, op, errno);
        }
        r.unwrap_or_else(Answer::Error)
    }

    fn open(
        &self,
        caller: &Caller,
        n: &Notif,
        name: &'static str,
        call: OpenCall,
    ) -> Result<Answer, Errno> {
        let (requested, absolute) = caller.path(call.dirfd, call.path_addr)?;
        let absolute = pidns::translate(n.pid, &requested, absolute);
        let ctx = self.context(caller, &absolute)?;
        self.valid(n)?;
        let out = if call.flags & libc::O_PATH != 0 {
            // The kernel ignores every other flag but these with O_PATH.
            let follow = FollowSymlinks::from(call.flags & libc::O_NOFOLLOW == 0);
            let directory = call.flags & libc::O_DIRECTORY != 0;
            self.ops
                .open_path(&*self.judge, &ctx, &absolute, follow, directory)
        } else {
            self.ops
                .open(&*self.judge, &ctx, &absolute, call.flags, call.mode)
        };
        let called = Called {
            syscall: name,
            op: Op::Open,
            path: &requested,
            flags: Some(i64::from(call.flags)),
            mode: Some(call.mode),
        };
        self.observe(n, called, &out);
        Ok(match out.result {
            Ok(fd) => Answer::Fd(fd, call.flags & libc::O_CLOEXEC != 0),
            Err(e) => Answer::Error(e),
        })
    }

    fn openat2(
        &self,
        caller: &Caller,
        n: &Notif,
        name: &'static str,
        call: Openat2Call,
    ) -> Result<Answer, Errno> {
        let mut raw = [0u8; super::OPEN_HOW_SIZE_MAX];
        let raw = &mut raw[..call.how_len()?];
        caller.read_exact(call.how_addr, raw)?;
        self.open(caller, n, name, call.open_call(raw)?)
    }

    fn stat(
        &self,
        caller: &Caller,
        n: &Notif,
        name: &'static str,
        call: StatCall,
    ) -> Result<Answer, Errno> {
        call.check()?;
        self.write_stat(caller, n, name, call, StatLayout::Stat)
    }

    fn statx(
        &self,
        caller: &Caller,
        n: &Notif,
        name: &'static str,
        call: StatxCall,
    ) -> Result<Answer, Errno> {
        call.check()?;
        self.write_stat(caller, n, name, call.stat_call(), StatLayout::Statx)
    }

    /// Writes the metadata `call` asks for into its buffer, in `layout`.
    fn write_stat(
        &self,
        caller: &Caller,
        n: &Notif,
        name: &'static str,
        call: StatCall,
        layout: StatLayout,
    ) -> Result<Answer, Errno> {
        let empty_ok = call.empty_path();
        // statx(2) accepts a NULL path with AT_EMPTY_PATH (Linux 6.11).
        let target = if layout == StatLayout::Statx && empty_ok && call.path_addr == 0 {
            Target::Fd(call.dirfd)
        } else {
            caller.path_arg(call.dirfd, call.path_addr, empty_ok)?
        };
        // The working directory is no descriptor the broker handed out:
        // chdir(2) is not brokered and may lead anywhere. Judged like a path.
        let target = match target {
            Target::Fd(Dirfd::Cwd) => Target::Path {
                requested: PathBuf::new(),
                absolute: caller.fd_path(Dirfd::Cwd)?,
            },
            other => other,
        };
        caller.open_mem()?;
        let st = match target {
            Target::Fd(fd) => {
                let st = caller.stat_of_fd(fd)?;
                self.valid(n)?;
                st
            }
            Target::Path {
                requested,
                absolute,
            } => {
                let absolute = pidns::translate(n.pid, &requested, absolute);
                let ctx = self.context(caller, &absolute)?;
                self.valid(n)?;
                let out = self.ops.stat(&*self.judge, &ctx, &absolute, call.follow());
                let called = Called::plain(name, Op::Stat, &requested);
                self.observe(n, called, &out);
                out.result?
            }
        };
        let written = match layout {
            StatLayout::Statx => caller.write_mem(call.buf_addr, &encode_statx(&st)),
            StatLayout::Stat => caller.write_mem(call.buf_addr, &encode_kernel_stat(&st)),
        };
        written.map(|()| Answer::Value(0))
    }

    fn access(
        &self,
        caller: &Caller,
        n: &Notif,
        name: &'static str,
        call: AccessCall,
    ) -> Result<Answer, Errno> {
        call.check()?;
        let target = caller.path_arg(call.dirfd, call.path_addr, call.empty_path())?;
        let (requested, absolute) = match target {
            Target::Path {
                requested,
                absolute,
            } => {
                let absolute = pidns::translate(n.pid, &requested, absolute);
                (requested, absolute)
            }
            // access(2) on a descriptor: judge the path it was opened at.
            Target::Fd(fd) => {
                let p = caller.fd_path(fd)?;
                (PathBuf::new(), p)
            }
        };
        let ctx = self.context(caller, &absolute)?;
        self.valid(n)?;
        let out = self.ops.access(&*self.judge, &ctx, &absolute, call.mode);
        let called = Called {
            flags: Some(i64::from(call.mode)),
            ..Called::plain(name, Op::Access, &requested)
        };
        self.observe(n, called, &out);
        out.result.map(|()| Answer::Value(0))
    }

    fn readlink(
        &self,
        caller: &Caller,
        n: &Notif,
        name: &'static str,
        call: ReadlinkCall,
    ) -> Result<Answer, Errno> {
        call.check()?;
        let (requested, absolute) = caller.path(call.dirfd, call.path_addr)?;
        let absolute = pidns::translate(n.pid, &requested, absolute);
        let ctx = self.context(caller, &absolute)?;
        caller.open_mem()?;
        self.valid(n)?;
        let out = self.ops.readlink(&*self.judge, &ctx, &absolute);
        self.observe(n, Called::plain(name, Op::Readlink, &requested), &out);
        let target = out.result?;
        let target = pidns::self_link(n.pid, &requested).unwrap_or(target);
        let len = target.len().min(call.buf_size as usize);
        caller.write_mem(call.buf_addr, &target[..len])?;
        Ok(Answer::Value(len as i64))
    }

    /// `chdir`, `execve`, `execveat`: `ENOENT` for a path the program may
    /// not see (the judge does not let it `stat` the path, and for `execve`
    /// it lies outside what Landlock lets it execute), as every brokered
    /// call answers; otherwise the kernel runs the call, Landlock and the
    /// permission bits deciding. Not reported to the observer: the kernel,
    /// not the broker, decides these calls. A descriptor (`AT_EMPTY_PATH`)
    /// is the caller's own: never checked.
    fn lookup(&self, caller: &Caller, n: &Notif, call: LookupCall) -> Result<Answer, Errno> {
        let (requested, absolute) =
            match caller.path_arg(call.dirfd, call.path_addr, call.empty_path())? {
                Target::Path {
                    requested,
                    absolute,
                } => (requested, absolute),
                Target::Fd(_) => return Ok(Answer::Continue),
            };
        let absolute = pidns::translate(n.pid, &requested, absolute);
        let ctx = self.context(caller, &absolute)?;
        self.valid(n)?;
        let out = self.ops.stat(&*self.judge, &ctx, &absolute, call.follow());
        let granted = || {
            call.exec
                && out
                    .resolved
                    .as_deref()
                    .is_some_and(|p| self.exec_grants.iter().any(|g| p.starts_with(g)))
        };
        Ok(match out.result {
            Err(Errno::ENOENT) if !granted() => Answer::Error(Errno::ENOENT),
            _ => Answer::Continue,
        })
    }

    /// The requester of `path` ([`Caller::context`]) with the program's
    /// credentials.
    fn context(&self, caller: &Caller, path: &Path) -> Result<Context, Errno> {
        let ctx = caller.context(path)?;
        Ok(Context {
            program: self.program,
            ..ctx
        })
    }

    /// `SECCOMP_IOCTL_NOTIF_ID_VALID`: is the caller still the one waiting?
    fn valid(&self, n: &Notif) -> Result<(), Errno> {
        sys::notify::id_valid(self.listener.as_fd(), n.id).map_err(|_| Errno::ESRCH)
    }

    fn observe<T>(&self, n: &Notif, called: Called<'_>, out: &Outcome<T>) {
        let Some(observer) = &self.observer else {
            return;
        };
        observer(&Event {
            pid: Some(n.pid),
            source: Source::Seccomp,
            syscall: Some(called.syscall),
            op: called.op,
            path: called.path,
            resolved: out.resolved.as_deref(),
            flags: called.flags,
            mode: called.mode,
            access: out.access,
            decision: out.decision.as_ref(),
            errno: out.result.as_ref().err().copied(),
            absent: out.absent,
        });
    }
}
