//! `fdbroker run`: run an unmodified program with every path it touches
//! brokered.
//!
//! [`Sandbox::run`] forks while the process is still single-threaded. The
//! child, before it executes the program:
//!
//! 1. sets `PR_SET_NO_NEW_PRIVS`;
//! 2. when fdbroker runs as root, switches to an unprivileged user
//!    ([`Sandbox::user`], default `nobody`): `setgroups([])`, `setresgid`,
//!    `setresuid`, so that owner and group permission bits grant it nothing;
//! 3. drops every capability ([`crate::confine::drop_capabilities`]), the
//!    bounding set included;
//! 4. sets `PR_SET_PDEATHSIG(SIGKILL)` (after the uid change, which would
//!    clear it) and checks that its parent is still the broker;
//! 5. applies Landlock: every filesystem right handled, only `Execute` and
//!    `ReadFile` granted, on the program, its interpreters and what the
//!    policy grants `exec` (see [`exec_grants`]); plus the abstract-UNIX-socket
//!    and signal scopes when the kernel has them;
//! 6. closes every descriptor but 0, 1, 2 and its end of the socketpair,
//!    whose number it finds in `FDBROKER_FD`;
//! 7. installs the user-notification filter ([`crate::notify::notify_filter`])
//!    and sends the listener to the broker over a second, close-on-exec
//!    socketpair; then the deny filter ([`deny_options`]), which also kills
//!    the process on foreign system-call ABIs;
//! 8. restores the signal mask and `SIGPIPE` and calls execve(2). A failed
//!    execve is reported over the same socketpair.
//!
//! With resource limits ([`Sandbox::limits`], [`crate::limits`]) the child
//! also joins the sandbox's cgroups (or its own user namespace) right after
//! step 2, and sets its rlimits just before the deny filter of step 7; core
//! dumps are off in any case.
//!
//! The environment passes through unchanged, plus `FDBROKER_FD`.
//!
//! The parent serves the listener ([`crate::notify::NotifyServer`]) and the
//! socketpair protocol ([`crate::broker::Broker`]) with one policy and one
//! [`Ops`] engine, forwards `SIGINT`, `SIGTERM` and `SIGHUP` to the child
//! (unless the kernel sent them, e.g. from the terminal: the child got its
//! own copy then), and returns the child's status. It is a child subreaper:
//! when the program exits, whatever it left running is killed.

use std::ffi::{CString, OsStr, OsString};
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Gid, Pid, Uid};

use crate::audit::{AuditLog, Event, Source};
use crate::broker::Broker;
use crate::confine::{
    self, DenyOptions, DenyRule, LandlockBuilder, Missing, PreparedLandlock, SeccompCmpOp, Sockets,
    sock_filter,
};
use crate::limits::{ChildLimits, Enforcer, LimitError};
use crate::notify::{NotifyServer, Observer, notify_filter};
use crate::ops::Ops;
use crate::policy::{Access, Judge, Policy, RuleKind, literal_prefix};
use crate::sys;
use crate::sys::child::Forked;

/// Exit status for fdbroker's own errors (as env(1), timeout(1)).
pub const EXIT_SETUP: u8 = 125;
/// Exit status when the program exists but cannot be executed.
pub const EXIT_CANNOT_EXECUTE: u8 = 126;
/// Exit status when the program is not found.
pub const EXIT_NOT_FOUND: u8 = 127;

/// The user the program runs as when fdbroker is root and none is given.
pub const DEFAULT_USER: &str = "nobody";

/// How a glob `exec` grant may be enumerated file by file before giving up.
const ENUMERATE_BUDGET: usize = 20_000;

/// Why `fdbroker run` could not run the program, or how it failed to.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// The kernel lacks what confinement needs; nothing was run.
    #[error("refusing to run unconfined: this kernel lacks {}", list(.0))]
    Kernel(Vec<String>),
    /// PROGRAM was not found (in `PATH`, or at the path given).
    #[error("{}: command not found", .0.to_string_lossy())]
    NotFound(OsString),
    /// PROGRAM exists but cannot be executed.
    #[error("{}: cannot execute: {reason}", path.display())]
    NotExecutable {
        /// What was found.
        path: PathBuf,
        /// Why it cannot run.
        reason: String,
    },
    /// execve(2) failed in the confined child.
    #[error("{}: cannot execute: {errno}{hint}", path.display(), hint = exec_hint(*.errno))]
    Exec {
        /// The program.
        path: PathBuf,
        /// execve's error.
        errno: Errno,
    },
    /// `--user` names no usable account.
    #[error("--user {0}")]
    User(String),
    /// The policy's `exec` grants cannot be expressed for Landlock.
    #[error("{0}")]
    ExecGrant(String),
    /// A confinement step failed in the parent.
    #[error("confinement setup: {0}")]
    Confine(#[from] confine::ConfineError),
    /// A confinement step failed in the child.
    #[error("confining the child failed at {stage}: {message}")]
    Child {
        /// The step.
        stage: &'static str,
        /// What went wrong.
        message: String,
    },
    /// A system call in the parent failed.
    #[error("{what}: {errno}")]
    Sys {
        /// What we were doing.
        what: &'static str,
        /// The error.
        errno: Errno,
    },
    /// The broker could not start.
    #[error("starting the broker: {0}")]
    Broker(String),
    /// The resource limits cannot be enforced.
    #[error("{0}")]
    Limits(#[from] LimitError),
}

fn list(items: &[String]) -> String {
    items.join("; ")
}

fn exec_hint(e: Errno) -> &'static str {
    match e {
        Errno::EACCES => {
            " (the sandboxed user may lack permission, or Landlock: is its interpreter granted `exec`?)"
        }
        _ => "",
    }
}

impl SandboxError {
    /// The exit status `fdbroker run` uses for this error: 127 not found,
    /// 126 cannot execute, 125 anything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            SandboxError::NotFound(_) => EXIT_NOT_FOUND,
            SandboxError::Exec {
                errno: Errno::ENOENT,
                ..
            } => EXIT_NOT_FOUND,
            SandboxError::NotExecutable { .. } | SandboxError::Exec { .. } => EXIT_CANNOT_EXECUTE,
            _ => EXIT_SETUP,
        }
    }
}

fn sys_err(what: &'static str) -> impl Fn(Errno) -> SandboxError {
    move |errno| SandboxError::Sys { what, errno }
}

/// How the program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// It exited with this code.
    Exited(i32),
    /// A signal killed it.
    Signaled(i32),
}

impl Status {
    /// The shell convention: the exit code, or 128 + the signal number.
    ///
    /// ```
    /// use fdbroker::sandbox::Status;
    /// assert_eq!(Status::Exited(3).exit_code(), 3);
    /// assert_eq!(Status::Signaled(15).exit_code(), 143);
    /// ```
    pub fn exit_code(self) -> u8 {
        match self {
            Status::Exited(c) => (c & 0xff) as u8,
            Status::Signaled(s) => (128 + (s & 0x7f)) as u8,
        }
    }
}

/// Who the program runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ids {
    uid: Uid,
    gid: Gid,
}

/// A program to run under a policy. See the [module documentation](self).
///
/// ```no_run
/// use fdbroker::policy::Policy;
/// use fdbroker::sandbox::Sandbox;
///
/// let policy = Policy::from_file("policies/examples/cat.toml".as_ref())?;
/// let status = Sandbox::new(policy, "cat", ["/srv/in/report.txt"]).run()?;
/// std::process::exit(status.exit_code().into());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Sandbox {
    policy: Arc<Policy>,
    program: OsString,
    args: Vec<OsString>,
    user: Option<String>,
    audit: Option<Arc<AuditLog>>,
    hooks: Hooks,
    enforcer: Option<Enforcer>,
}

/// What `fdbroker run --learn` and helpful denials change (see
/// [`Sandbox::judge`], [`Sandbox::observer`], [`Sandbox::allow_exec`]).
#[derive(Default)]
struct Hooks {
    judge: Option<Arc<dyn Judge>>,
    observers: Vec<Observer>,
    exec: Vec<PathBuf>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("judge", &self.judge.is_some())
            .field("observers", &self.observers.len())
            .field("exec", &self.exec)
            .finish()
    }
}

impl Sandbox {
    /// `program` (looked up in `PATH` unless it contains `/`) with `args`.
    pub fn new<I, S>(policy: Policy, program: impl Into<OsString>, args: I) -> Sandbox
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Sandbox {
            policy: Arc::new(policy),
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            user: None,
            audit: None,
            hooks: Hooks::default(),
            enforcer: None,
        }
    }

    /// Judge brokered requests with `judge` instead of the policy (learn
    /// mode); the policy still decides the network and the `exec` grants.
    pub fn judge(mut self, judge: Arc<dyn Judge>) -> Sandbox {
        self.hooks.judge = Some(judge);
        self
    }

    /// Also report every decision (from either source) to `observer`,
    /// after the audit log.
    pub fn observer(mut self, observer: Observer) -> Sandbox {
        self.hooks.observers.push(observer);
        self
    }

    /// Also let Landlock execute `path` (a file, or every file beneath a
    /// directory), besides the program and the policy's `exec` grants.
    pub fn allow_exec(mut self, path: impl Into<PathBuf>) -> Sandbox {
        self.hooks.exec.push(path.into());
        self
    }

    /// Run as this user (name or number) when fdbroker is root. Ignored
    /// otherwise, unless it names another user than ours: then an error.
    pub fn user(mut self, user: impl Into<String>) -> Sandbox {
        self.user = Some(user.into());
        self
    }

    /// Record every decision in `log`.
    pub fn audit(mut self, log: Arc<AuditLog>) -> Sandbox {
        self.audit = Some(log);
        self
    }

    /// Enforce resource limits (see [`crate::limits`]); without, the
    /// program only gets core dumps turned off.
    pub fn limits(mut self, enforcer: Enforcer) -> Sandbox {
        if let Some(o) = enforcer.observer() {
            self.hooks.observers.push(o);
        }
        self.enforcer = Some(enforcer);
        self
    }

    /// Runs the program confined and waits for it. Must be called while the
    /// process has a single thread (it forks).
    pub fn run(mut self) -> Result<Status, SandboxError> {
        sys::child::ensure_stdio_open().map_err(sys_err("checking descriptors 0-2"))?;
        let (kernel, cap_last_cap) = check_kernel()?;
        let exe = find_program(&self.program)?;
        let ids = resolve_user(self.user.as_deref())?;

        // Everything the child needs is prepared here, before the fork.
        let mut landlock = LandlockBuilder::new();
        if !kernel.landlock_scopes() {
            landlock = landlock.scopes(false);
        }
        for path in interpreter_chain(&exe.canonical) {
            landlock = landlock.allow_exec(path);
        }
        for path in exec_grants(&self.policy)? {
            landlock = landlock.allow_exec(path);
        }
        for path in &self.hooks.exec {
            landlock = landlock.allow_exec(path.clone());
        }
        let landlock = landlock.prepare()?;
        let notify = notify_filter();
        let deny = confine::deny_filter(&deny_options(self.policy.network())?)?;

        let (proto_parent, proto_child) =
            sys::msg::seqpacket_pair().map_err(sys_err("socketpair"))?;
        let (setup_parent, setup_child) =
            sys::msg::seqpacket_pair().map_err(sys_err("socketpair"))?;
        let fd_number = std::os::fd::AsRawFd::as_raw_fd(&proto_child);
        let path_c = cstring(exe.exec_path.as_os_str())?;
        let mut argv = vec![cstring(&self.program)?];
        for a in &self.args {
            argv.push(cstring(a)?);
        }
        let mut envp = Vec::new();
        for (k, v) in std::env::vars_os() {
            if k != crate::launch::FD_ENV {
                let mut kv = k.into_vec();
                kv.push(b'=');
                kv.extend_from_slice(v.as_bytes());
                envp.push(CString::new(kv).map_err(|_| sys_err("environment")(Errno::EINVAL))?);
            }
        }
        envp.push(cstring(OsStr::new(&format!(
            "{}={fd_number}",
            crate::launch::FD_ENV
        )))?);

        // Signals we handle through a signalfd: blocked from now on, in every
        // thread started later; the child restores the original mask.
        let mut handled = SigSet::empty();
        for s in [
            Signal::SIGCHLD,
            Signal::SIGINT,
            Signal::SIGTERM,
            Signal::SIGHUP,
        ] {
            handled.add(s);
        }
        let mut old_mask = SigSet::empty();
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(&handled), Some(&mut old_mask))
            .map_err(sys_err("sigprocmask"))?;
        nix::sys::prctl::set_child_subreaper(true).map_err(sys_err("PR_SET_CHILD_SUBREAPER"))?;
        let parent = nix::unistd::getpid();
        // Limits: the child's cgroups, user namespace and rlimits, prepared
        // before the fork; the run's clock starts.
        let mut limits = self.enforcer.take().unwrap_or_default();
        let child_limits = limits.before_fork(ids.map(|i| (i.uid, i.gid)), &handled)?;

        let plan = ChildPlan {
            parent,
            cap_last_cap,
            ids,
            notify: &notify,
            deny: &deny,
            exec_path: &path_c,
            argv: &argv,
            envp: &envp,
            old_mask,
            limits: &child_limits,
        };
        let child = match sys::child::fork_single_threaded().map_err(sys_err(
            "fork (only allowed while the process has one thread)",
        ))? {
            Forked::Child => child_main(&plan, landlock, setup_child.as_fd(), proto_child.as_fd()),
            Forked::Parent(pid) => pid,
        };
        drop((proto_child, setup_child, landlock, child_limits));
        let judge: Arc<dyn Judge> = match &self.hooks.judge {
            Some(j) => Arc::clone(j),
            None => Arc::clone(&self.policy) as Arc<dyn Judge>,
        };
        let mut observers = self.hooks.observers.clone();
        if let Some(log) = self.audit.clone() {
            observers.insert(
                0,
                Arc::new(move |e: &Event<'_>| {
                    let _ = log.record(e);
                }),
            );
        }
        let observer: Option<Observer> = match observers.len() {
            0 => None,
            1 => observers.pop(),
            _ => Some(Arc::new(move |e: &Event<'_>| {
                for o in &observers {
                    o(e);
                }
            })),
        };
        let result = supervise(
            child,
            &exe.exec_path,
            setup_parent,
            proto_parent,
            &mut limits,
            judge,
            observer,
        );
        // Limits: the hits only the end shows, the report, the cgroup removed.
        limits.finish(result.as_ref().ok().copied());
        result
    }
}

fn cstring(s: &OsStr) -> Result<CString, SandboxError> {
    CString::new(s.as_bytes()).map_err(|_| SandboxError::Sys {
        what: "argument with a NUL byte",
        errno: Errno::EINVAL,
    })
}

/// What the kernel must offer; anything missing is an error, never a
/// weaker sandbox. Also returns the kernel's `cap_last_cap`.
fn check_kernel() -> Result<(confine::KernelSupport, u32), SandboxError> {
    let k = confine::kernel_support();
    let mut missing: Vec<String> = Vec::new();
    match k.landlock_abi {
        None if k.landlock_disabled => missing.push(Missing::LandlockDisabled.to_string()),
        None => missing.push(Missing::Landlock.to_string()),
        Some(_) => {}
    }
    if !k.seccomp_filter {
        missing.push(Missing::SeccompFilter.to_string());
    }
    if !k.seccomp_kill_process {
        missing.push(Missing::SeccompKillProcess.to_string());
    }
    if !k.user_notif {
        missing.push(Missing::UserNotif.to_string());
    } else {
        match kernel_release() {
            Some(v) if v < (5, 14) => missing.push(
                "SECCOMP_ADDFD_FLAG_SEND for seccomp user notification (Linux 5.14 or later)"
                    .into(),
            ),
            _ => {}
        }
        if !sys::notify::struct_sizes_ok().unwrap_or(false) {
            missing.push("seccomp notification structures this build understands".into());
        }
    }
    match k.cap_last_cap {
        Some(last) if missing.is_empty() => Ok((k, last)),
        Some(_) => Err(SandboxError::Kernel(missing)),
        None => {
            missing.push("a readable /proc/sys/kernel/cap_last_cap".into());
            Err(SandboxError::Kernel(missing))
        }
    }
}

/// `(major, minor)` of the running kernel, from `/proc/sys/kernel/osrelease`.
fn kernel_release() -> Option<(u32, u32)> {
    let text = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    parse_release(&text)
}

fn parse_release(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.trim().split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The program to execute: the path given to execve and its canonical path.
#[derive(Debug)]
struct Program {
    exec_path: PathBuf,
    canonical: PathBuf,
}

/// Looks `program` up like execvp(3): a name with a `/` is used as is,
/// anything else is searched in `PATH` (default `/usr/local/bin:/usr/bin:/bin`).
/// The first regular file with an execute bit wins; when there is none, but
/// something by that name exists, it cannot be executed (126), else it is not
/// found (127).
fn find_program(program: &OsStr) -> Result<Program, SandboxError> {
    let candidates: Vec<PathBuf> = if program.as_bytes().contains(&b'/') {
        vec![PathBuf::from(program)]
    } else if program.is_empty() {
        vec![]
    } else {
        let path =
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
        std::env::split_paths(&path)
            .map(|dir| {
                if dir.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    dir
                }
            })
            .map(|dir| dir.join(program))
            .collect()
    };
    let mut unusable: Option<(PathBuf, String)> = None;
    for c in candidates {
        match std::fs::metadata(&c) {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => {
                let canonical =
                    std::fs::canonicalize(&c).map_err(|e| SandboxError::NotExecutable {
                        path: c.clone(),
                        reason: e.to_string(),
                    })?;
                return Ok(Program {
                    exec_path: c,
                    canonical,
                });
            }
            Ok(m) => {
                let reason = if m.is_dir() {
                    "is a directory"
                } else {
                    "Permission denied"
                };
                unusable.get_or_insert((c, reason.to_string()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                unusable.get_or_insert((c, e.to_string()));
            }
        }
    }
    match unusable {
        Some((path, reason)) => Err(SandboxError::NotExecutable { path, reason }),
        None => Err(SandboxError::NotFound(program.to_os_string())),
    }
}

/// The ids to switch to, or `None` to stay who we are.
fn resolve_user(spec: Option<&str>) -> Result<Option<Ids>, SandboxError> {
    let me = nix::unistd::geteuid();
    let lookup = |spec: &str| -> Result<Ids, SandboxError> {
        if let Ok(n) = spec.parse::<u32>() {
            let uid = Uid::from_raw(n);
            return Ok(match nix::unistd::User::from_uid(uid).ok().flatten() {
                Some(u) => Ids { uid, gid: u.gid },
                None => Ids {
                    uid,
                    gid: Gid::from_raw(n),
                },
            });
        }
        match nix::unistd::User::from_name(spec) {
            Ok(Some(u)) => Ok(Ids {
                uid: u.uid,
                gid: u.gid,
            }),
            _ if spec == DEFAULT_USER => Ok(Ids {
                uid: Uid::from_raw(65534),
                gid: Gid::from_raw(65534),
            }),
            _ => Err(SandboxError::User(format!("{spec}: no such user"))),
        }
    };
    if !me.is_root() {
        return match spec {
            None => Ok(None),
            Some(s) => {
                let ids = lookup(s)?;
                if ids.uid == me {
                    Ok(None)
                } else {
                    Err(SandboxError::User(format!(
                        "{s}: only root can run the program as another user"
                    )))
                }
            }
        };
    }
    let ids = lookup(spec.unwrap_or(DEFAULT_USER))?;
    if ids.uid.is_root() || ids.gid.as_raw() == 0 {
        return Err(SandboxError::User(format!(
            "{}: refusing to run the program as root (uid or gid 0): owner permission bits would apply",
            spec.unwrap_or(DEFAULT_USER)
        )));
    }
    Ok(Some(ids))
}

/// What `fdbroker run` always lets `program` (as given on the command
/// line, looked up in `PATH` like execvp(3)) execute: its canonical path and
/// its interpreters (`#!` lines, recursively, and the ELF `PT_INTERP`).
pub fn program_and_interpreters(program: &OsStr) -> Result<Vec<PathBuf>, SandboxError> {
    Ok(interpreter_chain(&find_program(program)?.canonical))
}

/// `program` (canonical) and, recursively, the interpreters the
/// kernel opens to run it (`#!` lines, ELF `PT_INTERP`), canonical: all of
/// them need Landlock's `Execute` and `ReadFile`.
fn interpreter_chain(program: &Path) -> Vec<PathBuf> {
    let mut out = vec![program.to_path_buf()];
    let mut current = program.to_path_buf();
    // The kernel follows at most 4 levels of interpreters (binfmt).
    for _ in 0..5 {
        let mut head = vec![0u8; 64 * 1024];
        let Ok(mut f) = std::fs::File::open(&current) else {
            break;
        };
        let mut len = 0;
        while len < head.len() {
            match f.read(&mut head[len..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => len += n,
            }
        }
        head.truncate(len);
        let next = shebang_interpreter(&head).or_else(|| elf_interpreter(&head));
        let Some(next) = next else { break };
        let Ok(canon) = std::fs::canonicalize(Path::new(OsStr::from_bytes(next))) else {
            break;
        };
        if out.contains(&canon) {
            break;
        }
        out.push(canon.clone());
        current = canon;
    }
    out
}

/// The interpreter named by a `#!` line (the first word after `#!`).
///
/// ```
/// use fdbroker::sandbox::shebang_interpreter;
/// assert_eq!(shebang_interpreter(b"#! /bin/sh -e\necho"), Some(&b"/bin/sh"[..]));
/// assert_eq!(shebang_interpreter(b"\x7fELF"), None);
/// ```
pub fn shebang_interpreter(head: &[u8]) -> Option<&[u8]> {
    let line = head.strip_prefix(b"#!")?;
    // The kernel reads at most 256 bytes of the line (BINPRM_BUF_SIZE).
    let line = &line[..line.len().min(254)];
    let line = line.split(|&c| c == b'\n').next()?;
    let start = line.iter().position(|&c| c != b' ' && c != b'\t')?;
    let rest = &line[start..];
    let end = rest
        .iter()
        .position(|&c| c == b' ' || c == b'\t')
        .unwrap_or(rest.len());
    Some(&rest[..end]).filter(|s| !s.is_empty())
}

/// The `PT_INTERP` path of a 64-bit little-endian ELF file, from its first
/// bytes (`head`); `None` for anything else or when it lies beyond `head`.
pub fn elf_interpreter(head: &[u8]) -> Option<&[u8]> {
    const PT_INTERP: u32 = 3;
    if head.len() < 64 || &head[..4] != b"\x7fELF" || head[4] != 2 || head[5] != 1 {
        return None;
    }
    let u16_at = |o: usize| head.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| {
        head.get(o..o + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
    };
    let u64_at = |o: usize| {
        head.get(o..o + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    if phentsize < 56 {
        return None;
    }
    for i in 0..phnum {
        let ph = phoff.checked_add(i.checked_mul(phentsize)?)?;
        if u32_at(ph)? == PT_INTERP {
            let off = usize::try_from(u64_at(ph.checked_add(8)?)?).ok()?;
            let size = usize::try_from(u64_at(ph.checked_add(32)?)?).ok()?;
            let raw = head.get(off..off.checked_add(size)?)?;
            let end = raw.iter().position(|&c| c == 0).unwrap_or(raw.len());
            return Some(&raw[..end]).filter(|s| !s.is_empty());
        }
    }
    None
}

/// Whether `a` and `b` are the same path or one lies beneath the other.
fn overlap(a: &Path, b: &Path) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// The paths Landlock must let the program execute, from the policy's
/// `exec` grants (the broker never sees execve(2), so Landlock decides it):
///
/// - a literal pattern: its canonical path, when the policy allows `exec`
///   there (deny rules included);
/// - a glob: the literal directory it starts with, when that is canonical
///   (a pattern under a symlinked directory never matches a canonical path,
///   so it grants nothing) — an over-approximation: every file beneath that
///   directory becomes executable, whatever the rest of the pattern says;
/// - but when a deny rule covering `exec` reaches into that directory, the
///   directory is enumerated instead and each regular file the policy allows
///   `exec` on gets its own rule, so deny rules always hold (files created
///   later in it are then not executable). More than
///   `ENUMERATE_BUDGET` entries is an error.
pub fn exec_grants(policy: &Policy) -> Result<Vec<PathBuf>, SandboxError> {
    let denies: Vec<PathBuf> = policy
        .rules()
        .filter(|r| {
            r.kind() == RuleKind::Deny
                && (r.access().is_empty() || r.access().contains(Access::EXEC))
        })
        .flat_map(|r| r.patterns().iter().map(|p| literal_prefix(p).0))
        .collect();
    let mut out: Vec<PathBuf> = Vec::new();
    let push = |p: PathBuf, out: &mut Vec<PathBuf>| {
        if !out.contains(&p) {
            out.push(p);
        }
    };
    for rule in policy.rules() {
        if rule.kind() != RuleKind::Allow || !rule.access().contains(Access::EXEC) {
            continue;
        }
        for pattern in rule.patterns() {
            let (prefix, exact) = literal_prefix(pattern);
            let Ok(canonical) = std::fs::canonicalize(&prefix) else {
                continue;
            };
            if exact {
                if canonical.is_file() && policy.decide(&canonical, Access::EXEC).allowed {
                    push(canonical, &mut out);
                }
                continue;
            }
            if canonical != prefix || !canonical.is_dir() {
                continue;
            }
            if denies.iter().any(|d| overlap(d, &canonical)) {
                for file in enumerate_executables(policy, &canonical, pattern)? {
                    push(file, &mut out);
                }
            } else {
                push(canonical, &mut out);
            }
        }
    }
    Ok(out)
}

/// Every regular file beneath `dir` (not following symlinks) the policy
/// allows `exec` on.
fn enumerate_executables(
    policy: &Policy,
    dir: &Path,
    pattern: &str,
) -> Result<Vec<PathBuf>, SandboxError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut seen = 0usize;
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > ENUMERATE_BUDGET {
                return Err(SandboxError::ExecGrant(format!(
                    "exec grant `{pattern}`: a deny rule covers part of {}, which has too many \
                     entries (over {ENUMERATE_BUDGET}) to grant file by file; narrow the pattern",
                    dir.display()
                )));
            }
            let Ok(ft) = entry.file_type() else { continue };
            let p = entry.path();
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() && policy.decide(&p, Access::EXEC).allowed {
                out.push(p);
            }
        }
    }
    Ok(out)
}

/// The deny filter for `fdbroker run`: [`confine::deny_rules`] without the
/// open family (brokered instead: `ERRNO` would outrank `USER_NOTIF`), plus
/// [`run_deny_rules`]. Non-`AF_UNIX` sockets fail unless `network`; without
/// it, `socket(2)` fails altogether (pathname sockets of other services are
/// out of reach; `socketpair(2)` still works, for streams and seqpackets).
pub fn deny_options(network: bool) -> Result<DenyOptions, SandboxError> {
    let mut opts = DenyOptions::new()
        .open_family(false)
        .metadata_changes(true)
        .sockets(if network {
            Sockets::Any
        } else {
            Sockets::PairOnly
        });
    for rule in run_deny_rules(network)? {
        opts = opts.deny(rule);
    }
    Ok(opts)
}

// x86-64 numbers libc 0.2 lacks.
const SYS_GETXATTRAT: i64 = 464;
const SYS_LISTXATTRAT: i64 = 465;
const SYS_FILE_GETATTR: i64 = 468;

/// What `fdbroker run` denies on top of the common deny list (see
/// `docs/syscalls.md` for the reasons, one by one).
pub fn run_deny_rules(network: bool) -> Result<Vec<DenyRule>, SandboxError> {
    use libc::*;
    let r = |name, nr: c_long, errno| DenyRule::new(name, nr, errno);
    let mut rules = vec![
        // Handle-based open: around the broker.
        r("open_by_handle_at", SYS_open_by_handle_at, Errno::EPERM),
        r(
            "name_to_handle_at",
            SYS_name_to_handle_at,
            Errno::EOPNOTSUPP,
        ),
        // Path calls that are neither brokered nor useful under Landlock
        // (which refuses them all, but only after the lookup: ENOENT versus
        // EACCES would tell which denied paths exist). One errno for all.
        r("mkdir", SYS_mkdir, Errno::EACCES),
        r("mkdirat", SYS_mkdirat, Errno::EACCES),
        r("mknod", SYS_mknod, Errno::EACCES),
        r("mknodat", SYS_mknodat, Errno::EACCES),
        r("unlink", SYS_unlink, Errno::EACCES),
        r("unlinkat", SYS_unlinkat, Errno::EACCES),
        r("rmdir", SYS_rmdir, Errno::EACCES),
        r("rename", SYS_rename, Errno::EACCES),
        r("renameat", SYS_renameat, Errno::EACCES),
        r("renameat2", SYS_renameat2, Errno::EACCES),
        r("link", SYS_link, Errno::EACCES),
        r("linkat", SYS_linkat, Errno::EACCES),
        r("symlink", SYS_symlink, Errno::EACCES),
        r("symlinkat", SYS_symlinkat, Errno::EACCES),
        r("truncate", SYS_truncate, Errno::EACCES),
        r("statfs", SYS_statfs, Errno::EACCES),
        r("inotify_add_watch", SYS_inotify_add_watch, Errno::EACCES),
        r("mq_open", SYS_mq_open, Errno::EACCES),
        r("mq_unlink", SYS_mq_unlink, Errno::EACCES),
        // Metadata reads by path that Landlock does not govern: "not
        // supported here", which programs treat as "no extended attributes".
        r("getxattr", SYS_getxattr, Errno::EOPNOTSUPP),
        r("lgetxattr", SYS_lgetxattr, Errno::EOPNOTSUPP),
        r("listxattr", SYS_listxattr, Errno::EOPNOTSUPP),
        r("llistxattr", SYS_llistxattr, Errno::EOPNOTSUPP),
        r("getxattrat", SYS_GETXATTRAT, Errno::EOPNOTSUPP),
        r("listxattrat", SYS_LISTXATTRAT, Errno::EOPNOTSUPP),
        r("file_getattr", SYS_FILE_GETATTR, Errno::EOPNOTSUPP),
    ];
    // Limits: no prlimit64(2) on other processes (fdbroker's included).
    rules.extend(crate::limits::deny_rules()?);
    if !network {
        // Datagram socketpairs could sendmsg(2) to any pathname socket
        // (msg_name); stream and seqpacket sockets ignore or refuse it.
        for ty in [SOCK_DGRAM, SOCK_RAW] {
            rules.push(r("socketpair", SYS_socketpair, Errno::EACCES).when_arg32(
                1,
                SeccompCmpOp::MaskedEq(0xf),
                ty as u32,
            )?);
        }
    }
    Ok(rules)
}

/// Everything the child needs, prepared before the fork.
struct ChildPlan<'a> {
    parent: Pid,
    /// The kernel's `cap_last_cap`, read before the fork.
    cap_last_cap: u32,
    ids: Option<Ids>,
    notify: &'a [sock_filter],
    deny: &'a [sock_filter],
    exec_path: &'a CString,
    argv: &'a [CString],
    envp: &'a [CString],
    old_mask: SigSet,
    limits: &'a ChildLimits,
}

// Setup messages, child to parent, on the close-on-exec socketpair.
const MSG_LISTENER: u8 = 1;
const MSG_FAILED: u8 = 2;

/// Steps of the child's setup, for error reports.
const STAGES: [&str; 13] = [
    "no_new_privs",
    "switching user",
    "dropping capabilities",
    "parent-death signal",
    "Landlock",
    "closing descriptors",
    "notification filter",
    "sending the listener",
    "deny filters",
    "signal mask",
    "execve",
    "joining the sandbox's cgroups or user namespace (limits)",
    "resource limits",
];
const STAGE_EXEC: u8 = 10;

/// The child after fork: confine, hand over the listener, execve. Never
/// returns; on any failure it reports the step and exits with 125 (126/127
/// for execve).
fn child_main(
    plan: &ChildPlan<'_>,
    landlock: PreparedLandlock,
    setup: BorrowedFd<'_>,
    proto: BorrowedFd<'_>,
) -> ! {
    let fail = |stage: u8, message: String| -> ! {
        let mut msg = vec![MSG_FAILED, stage];
        msg.extend_from_slice(message.as_bytes().get(..900).unwrap_or(message.as_bytes()));
        let _ = sys::msg::send_msg(setup, &msg, None);
        sys::child::exit_now(EXIT_SETUP)
    };
    if let Err(e) = confine::set_no_new_privs() {
        fail(0, e.to_string());
    }
    if let Some(ids) = plan.ids {
        // Keep the permitted set across the uid change so that the next
        // step can still empty the bounding set (it needs CAP_SETPCAP).
        let r = nix::sys::prctl::set_keepcaps(true)
            .and_then(|()| nix::unistd::setgroups(&[]))
            .and_then(|()| nix::unistd::setresgid(ids.gid, ids.gid, ids.gid))
            .and_then(|()| nix::unistd::setresuid(ids.uid, ids.uid, ids.uid))
            .and_then(|()| nix::sys::prctl::set_keepcaps(false));
        if let Err(e) = r {
            fail(1, e.to_string());
        }
    }
    // Limits: join the sandbox's cgroups; enter its user namespace (before
    // the capabilities go: a new namespace brings a full set).
    if let Err(e) = plan.limits.enter() {
        fail(11, e.to_string());
    }
    if let Err(e) = confine::drop_capabilities_through(plan.cap_last_cap) {
        fail(2, e.to_string());
    }
    if let Err(e) = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL) {
        fail(3, e.to_string());
    }
    if nix::unistd::getppid() != plan.parent {
        fail(3, "the broker exited".into());
    }
    if let Err(e) = landlock.restrict_self() {
        fail(4, e.to_string());
    }
    if let Err(e) = sys::child::close_all_except(&[setup, proto])
        .and_then(|()| sys::child::clear_cloexec(proto))
    {
        fail(5, e.to_string());
    }
    let listener = match confine::install_with_listener(plan.notify) {
        Ok(l) => l,
        Err(e) => fail(6, e.to_string()),
    };
    if let Err(e) = sys::msg::send_msg(setup, &[MSG_LISTENER], Some(listener.as_fd())) {
        fail(7, e.to_string());
    }
    drop(listener);
    // Limits: the rlimits, after the last descriptor of the setup is made.
    if let Err(e) = plan.limits.restrict() {
        fail(12, e.to_string());
    }
    if let Err(e) = confine::install(plan.deny) {
        fail(8, e.to_string());
    }
    if let Err(e) = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&plan.old_mask), None)
        .and_then(|()| sys::child::reset_sigpipe())
    {
        fail(9, e.to_string());
    }
    let errno = match nix::unistd::execve(plan.exec_path, plan.argv, plan.envp) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let mut msg = vec![MSG_FAILED, STAGE_EXEC];
    msg.extend_from_slice(&(errno as i32).to_le_bytes());
    let _ = sys::msg::send_msg(setup, &msg, None);
    sys::child::exit_now(if errno == Errno::ENOENT {
        EXIT_NOT_FOUND
    } else {
        EXIT_CANNOT_EXECUTE
    })
}

/// What the child said on the setup socketpair.
enum SetupMsg {
    Listener(OwnedFd),
    Failed {
        stage: u8,
        detail: Vec<u8>,
    },
    /// End of stream: execve succeeded (the child's end was close-on-exec),
    /// or the child died.
    Closed,
}

fn recv_setup(sock: BorrowedFd<'_>) -> Result<SetupMsg, SandboxError> {
    let mut buf = [0u8; 1024];
    let r = sys::msg::recv_msg(sock, &mut buf).map_err(sys_err("receiving from the child"))?;
    let mut fds = r.fds.into_iter();
    match buf.get(..r.len) {
        Some([]) => Ok(SetupMsg::Closed),
        Some([MSG_LISTENER]) => match (fds.next(), fds.next()) {
            (Some(fd), None) => Ok(SetupMsg::Listener(fd)),
            _ => Err(sys_err("listener message")(Errno::EPROTO)),
        },
        Some([MSG_FAILED, stage, detail @ ..]) => Ok(SetupMsg::Failed {
            stage: *stage,
            detail: detail.to_vec(),
        }),
        _ => Err(sys_err("setup message")(Errno::EPROTO)),
    }
}

/// Parent after fork: serve, forward signals, reap, return the status.
fn supervise(
    child: Pid,
    exec_path: &Path,
    setup: OwnedFd,
    proto: OwnedFd,
    limits: &mut Enforcer,
    judge: Arc<dyn Judge>,
    observer: Option<Observer>,
) -> Result<Status, SandboxError> {
    let result = serve_and_wait(child, exec_path, setup, proto, limits, judge, observer);
    if result.is_err() {
        let _ = kill(child, Signal::SIGKILL);
        let _ = waitpid(child, None);
    }
    kill_descendants();
    result
}

fn child_failed(stage: u8, detail: &[u8], exec_path: &Path) -> SandboxError {
    if stage == STAGE_EXEC {
        let errno = detail
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .map(i32::from_le_bytes)
            .map_or(Errno::EIO, Errno::from_raw);
        return SandboxError::Exec {
            path: exec_path.to_path_buf(),
            errno,
        };
    }
    SandboxError::Child {
        stage: STAGES.get(usize::from(stage)).copied().unwrap_or("setup"),
        message: String::from_utf8_lossy(detail).into_owned(),
    }
}

#[allow(clippy::too_many_arguments)]
fn serve_and_wait(
    child: Pid,
    exec_path: &Path,
    setup: OwnedFd,
    proto: OwnedFd,
    limits: &mut Enforcer,
    judge: Arc<dyn Judge>,
    observer: Option<Observer>,
) -> Result<Status, SandboxError> {
    let ops = Arc::new(Ops::new().map_err(|e| SandboxError::Broker(e.to_string()))?);
    let listener = match recv_setup(setup.as_fd())? {
        SetupMsg::Listener(fd) => fd,
        SetupMsg::Failed { stage, detail } => {
            let _ = waitpid(child, None);
            return Err(child_failed(stage, &detail, exec_path));
        }
        SetupMsg::Closed => {
            let status = wait_for(child)?;
            return Err(SandboxError::Child {
                stage: "setup",
                message: format!("the child ended before it was confined ({status:?})"),
            });
        }
    };
    let mut server = NotifyServer::new(listener, Arc::clone(&judge), Arc::clone(&ops))
        .map_err(|e| SandboxError::Broker(e.to_string()))?;
    let mut broker = Broker::with_ops(Arc::clone(&judge), Arc::clone(&ops));
    if let Some(observer) = observer {
        server = server.with_observer(Arc::clone(&observer));
        broker = broker.with_observer(Arc::new(move |e: &crate::broker::Event| {
            observer(&Event {
                pid: e.pid.unwrap_or(0),
                source: Source::Socket,
                syscall: None,
                op: e.op.name(),
                path: &e.path,
                resolved: e.resolved.as_deref(),
                flags: Some(i64::from(e.flags)),
                access: e.access,
                decision: e.decision.as_ref(),
                errno: (e.errno != 0).then(|| Errno::from_raw(e.errno)),
            });
        }));
    }
    server
        .spawn()
        .map_err(|e| SandboxError::Broker(e.to_string()))?;
    broker
        .spawn(proto, u32::try_from(child.as_raw()).ok())
        .map_err(|e| SandboxError::Broker(e.to_string()))?;
    match recv_setup(setup.as_fd())? {
        SetupMsg::Closed => {}
        SetupMsg::Failed { stage, detail } => {
            let _ = waitpid(child, None);
            return Err(child_failed(stage, &detail, exec_path));
        }
        SetupMsg::Listener(_) => return Err(sys_err("setup message")(Errno::EPROTO)),
    }
    drop(setup);

    loop {
        if let Some(status) = reap(child)? {
            return Ok(status);
        }
        // Limits: waits for a signal or the next check of the limits (the
        // timeout, a hit), which may stop the sandbox; `None` after a check.
        let info = match limits.next_signal() {
            Ok(Some(info)) => info,
            Ok(None) | Err(Errno::EINTR) => continue,
            Err(e) => return Err(sys_err("reading signals")(e)),
        };
        let signo = i32::try_from(info.ssi_signo).unwrap_or(0);
        if signo == libc::SIGCHLD {
            continue;
        }
        // A signal from the kernel (terminal keys, hangup) reached the
        // child's process group too; forward only what someone sent us.
        if info.ssi_code != libc::SI_KERNEL
            && let Ok(sig) = Signal::try_from(signo)
        {
            let _ = kill(child, sig);
        }
    }
}

/// Reaps every exited child without blocking; the program's status once it
/// has exited.
fn reap(child: Pid) -> Result<Option<Status>, SandboxError> {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == child => {
                return Ok(Some(Status::Exited(code)));
            }
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == child => {
                return Ok(Some(Status::Signaled(sig as i32)));
            }
            Ok(WaitStatus::StillAlive) => return Ok(None),
            Ok(_) => continue,
            Err(Errno::EINTR) => continue,
            Err(Errno::ECHILD) => return Err(sys_err("waiting for the program")(Errno::ECHILD)),
            Err(e) => return Err(sys_err("waitpid")(e)),
        }
    }
}

fn wait_for(child: Pid) -> Result<WaitStatus, SandboxError> {
    loop {
        match waitpid(child, None) {
            Err(Errno::EINTR) => continue,
            r => return r.map_err(sys_err("waitpid")),
        }
    }
}

/// Kills and reaps every process left in the sandbox. We are their
/// subreaper, so each one is, or becomes, our child; a killed process's
/// children are reparented to us and found on the next round.
fn kill_descendants() {
    let me = std::process::id();
    loop {
        // Orphans of the sandbox are re-parented to us (a child subreaper):
        // no child at all, not even a zombie or a clone child (__WALL), means
        // no descendant is left, and the usual case costs one waitpid instead
        // of reading every /proc/<pid>/stat (milliseconds: most of
        // `run -- /bin/true`'s exit).
        match waitpid(
            Pid::from_raw(-1),
            Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL),
        ) {
            Err(Errno::ECHILD) => return,
            Ok(WaitStatus::StillAlive) | Err(_) => {}
            Ok(_) => continue,
        }
        let children = children_of(me);
        for pid in &children {
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
        match waitpid(Pid::from_raw(-1), None) {
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(_) => {
                // ECHILD: nothing left.
                if children_of(me).is_empty() {
                    return;
                }
            }
        }
    }
}

/// Pids whose parent is `ppid`, from `/proc/*/stat`.
fn children_of(ppid: u32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| stat_ppid(&s))
                .is_some_and(|p| p == ppid)
        })
        .collect()
}

/// The parent pid field of a `/proc/<pid>/stat` line (after the `(comm)`,
/// which may itself contain spaces and parentheses).
fn stat_ppid(stat: &[u8]) -> Option<u32> {
    let after = stat.iter().rposition(|&c| c == b')')?;
    let rest = std::str::from_utf8(stat.get(after + 1..)?).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    let _state = fields.next()?;
    fields.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases() {
        assert_eq!(parse_release("6.18.44-fc-v657\n"), Some((6, 18)));
        assert_eq!(parse_release("5.4.0"), Some((5, 4)));
        assert_eq!(parse_release("junk"), None);
    }

    #[test]
    fn shebangs() {
        assert_eq!(
            shebang_interpreter(b"#!/usr/bin/env python3\n"),
            Some(&b"/usr/bin/env"[..])
        );
        assert_eq!(shebang_interpreter(b"#!/bin/sh"), Some(&b"/bin/sh"[..]));
        assert_eq!(
            shebang_interpreter(b"#!\t/bin/bash\t-x\n"),
            Some(&b"/bin/bash"[..])
        );
        assert_eq!(shebang_interpreter(b"#!   \n"), None);
        assert_eq!(shebang_interpreter(b"#!"), None);
        assert_eq!(shebang_interpreter(b""), None);
        assert_eq!(shebang_interpreter(b"echo hi"), None);
    }

    #[test]
    fn elf_interp_of_real_binaries() {
        let sh = std::fs::read("/bin/sh").unwrap();
        let interp = elf_interpreter(&sh).expect("dynamically linked /bin/sh");
        assert!(
            interp.starts_with(b"/lib"),
            "{:?}",
            String::from_utf8_lossy(interp)
        );
        // Truncated or foreign input never panics and gives nothing.
        for n in [0, 4, 63, 64, 100, 200] {
            let _ = elf_interpreter(&sh[..n.min(sh.len())]);
        }
        let mut bad = sh[..128].to_vec();
        bad[0x36] = 0xff; // phentsize
        bad[0x38] = 0xff; // phnum
        bad[0x37] = 0xff;
        bad[0x39] = 0xff;
        assert_eq!(elf_interpreter(&bad), None);
        assert_eq!(elf_interpreter(b"\x7fELF\x01\x01"), None);
    }

    #[test]
    fn interpreter_chain_of_sh() {
        let sh = std::fs::canonicalize("/bin/sh").unwrap();
        let chain = interpreter_chain(&sh);
        assert_eq!(chain[0], sh);
        assert!(chain.len() == 2, "{chain:?}");
        assert!(chain[1].to_string_lossy().contains("ld-linux"), "{chain:?}");
    }

    #[test]
    fn literal_prefixes() {
        assert_eq!(literal_prefix("/"), (PathBuf::from("/"), true));
        assert_eq!(literal_prefix("/**"), (PathBuf::from("/"), false));
        assert_eq!(literal_prefix("/a/b[0-9]/c"), (PathBuf::from("/a"), false));
        assert_eq!(literal_prefix("/a/?"), (PathBuf::from("/a"), false));
        assert_eq!(
            literal_prefix("/a\\[x]/y"),
            (PathBuf::from("/a[x]/y"), true)
        );
    }

    #[test]
    fn exec_grants_follow_the_policy() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let bin = root.join("bin");
        std::fs::create_dir(&bin).unwrap();
        for f in ["a", "b", "secret"] {
            std::fs::write(bin.join(f), "").unwrap();
        }
        let text = |extra: &str| {
            format!(
                "version = 1\n[[allow]]\npaths = [\"{b}/*\", \"{b}/a\", \"/nonexistent/x\"]\naccess = [\"exec\", \"read\"]\n{extra}",
                b = bin.display()
            )
        };
        let p = Policy::parse(&text(""), Path::new("t.toml")).unwrap();
        assert_eq!(exec_grants(&p).unwrap(), vec![bin.clone(), bin.join("a")]);
        // A deny rule inside the directory: enumerated, and the denied file left out.
        let deny = format!(
            "[[deny]]\npaths = [\"{}/secret\"]\naccess = [\"exec\"]\n",
            bin.display()
        );
        let p = Policy::parse(&text(&deny), Path::new("t.toml")).unwrap();
        let mut got = exec_grants(&p).unwrap();
        got.sort();
        assert_eq!(got, vec![bin.join("a"), bin.join("b")]);
        // A deny of other rights does not matter for exec.
        let deny_read = format!(
            "[[deny]]\npaths = [\"{}/secret\"]\naccess = [\"write\"]\n",
            bin.display()
        );
        let p = Policy::parse(&text(&deny_read), Path::new("t.toml")).unwrap();
        assert_eq!(exec_grants(&p).unwrap(), vec![bin.clone(), bin.join("a")]);
    }

    #[test]
    fn stat_lines() {
        assert_eq!(stat_ppid(b"123 (a b) c) S 45 123 123 0"), Some(45));
        assert_eq!(stat_ppid(b"123 (x"), None);
        assert_eq!(stat_ppid(b""), None);
    }

    #[test]
    fn run_filter_compiles() {
        for network in [false, true] {
            let prog = confine::deny_filter(&deny_options(network).unwrap()).unwrap();
            assert!(prog.len() < 4096);
        }
    }

    #[test]
    fn exit_codes() {
        assert_eq!(SandboxError::NotFound("x".into()).exit_code(), 127);
        assert_eq!(
            SandboxError::Exec {
                path: "x".into(),
                errno: Errno::ENOENT
            }
            .exit_code(),
            127
        );
        assert_eq!(
            SandboxError::Exec {
                path: "x".into(),
                errno: Errno::ENOEXEC
            }
            .exit_code(),
            126
        );
        assert_eq!(
            SandboxError::Kernel(vec!["Landlock".into()]).exit_code(),
            125
        );
        assert_eq!(Status::Signaled(9).exit_code(), 137);
        assert_eq!(Status::Exited(256 + 3).exit_code(), 3);
    }
}
