//! `fdbroker run`: run an unmodified program with every path it touches
//! brokered.
//!
//! [`Sandbox`] describes the run; [`Sandbox::run`] checks that the kernel
//! has everything confinement needs
//! ([`KernelSupport::missing_for_run`](crate::confine::KernelSupport::missing_for_run)),
//! finds the program (`program`: `PATH` lookup, interpreters), resolves who
//! it runs as (`user`), turns the policy's `exec` grants into Landlock rules
//! (`exec_grants`), makes the program's minimal environment (`env`) and
//! prepares the filters (the run's deny list is
//! [`crate::confine::run_deny`]). Then, while the process is still
//! single-threaded, it creates the child in the sandbox's namespaces
//! (`namespaces`; a plain fork where the kernel refuses them): the child
//! confines itself and executes the program (`child`), reporting each
//! failed step to the parent (`setup`); in the namespaces it stays as their
//! init and forks the program's process (`init`). The parent serves the
//! program's requests, forwards signals, reaps, and returns its [`Status`]
//! (`supervise`). `docs/run.md` tells the whole
//! story; `docs/syscalls.md` lists what happens to each system call.

mod child;
mod env;
mod exec_grants;
mod init;
mod namespaces;
mod no_tty;
mod program;
mod setup;
mod supervise;
mod terminal;
mod tmpdir;
mod user;

use std::ffi::OsString;
use std::fmt;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::Arc;

use nix::errno::Errno;
use nix::sys::signal::Signal;

pub use self::env::{DEFAULT_HOME, DEFAULT_KEEP, DEFAULT_TMPDIR, parse_setenv};
pub use self::exec_grants::{ExecGrantError, exec_grants};
pub(crate) use self::namespaces::IdMaps;
pub use self::program::{Unusable, program_and_interpreters};
pub use self::setup::{SetupMsgError, Stage};
pub use self::tmpdir::{PrivateTmp, PrivateTmpError};
pub use self::user::{DEFAULT_USER, UserError};
pub use crate::confine::run_deny::{deny_options, run_deny_rules};

use self::child::{ChildPlan, ExecArgs};
use self::supervise::{Channels, Judging};
use crate::audit::AuditLog;
use crate::broker::BrokerError;
use crate::confine::{self, ConfineError, LandlockBuilder, Missing};
use crate::event::{self, Event, Observer};
use crate::limits::{Enforcer, LimitError};
use crate::notify::{MemoryError, NotifyError, notify_filter};
use crate::policy::{EnvError, Judge, NamePattern, Policy};
use crate::sys;

/// Exit status for fdbroker's own errors (as env(1), timeout(1)).
pub const EXIT_SETUP: u8 = 125;
/// Exit status when the program exists but cannot be executed.
pub const EXIT_CANNOT_EXECUTE: u8 = 126;
/// Exit status when the program is not found.
pub const EXIT_NOT_FOUND: u8 = 127;

/// Why `fdbroker run` could not run the program, or how it failed to.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// The kernel lacks what confinement needs; nothing was run.
    #[error("refusing to run unconfined: this kernel lacks {}", list(.0))]
    Kernel(Vec<Missing>),
    /// PROGRAM was not found (in `PATH`, or at the path given).
    #[error("{}: command not found", .0.to_string_lossy())]
    NotFound(OsString),
    /// PROGRAM exists but cannot be executed.
    #[error("{}: cannot execute: {reason}", path.display())]
    NotExecutable {
        /// What was found.
        path: PathBuf,
        /// Why it cannot run.
        #[source]
        reason: Unusable,
    },
    /// execve(2) failed in the confined child.
    #[error("{}: cannot execute: {errno}{hint}", path.display(), hint = exec_hint(*.errno))]
    Exec {
        /// The program.
        path: PathBuf,
        /// execve's error.
        #[source]
        errno: Errno,
    },
    /// `--user` names no usable account.
    #[error("--user {0}")]
    User(#[from] UserError),
    /// fdbroker runs as root without what switching users needs.
    #[error(
        "running as root without {}: cannot run the program as uid {uid}; run fdbroker as a \
         non-root user instead (in a container: --user 65534, or runAsNonRoot and runAsUser in \
         Kubernetes; the program then runs as that user), or grant it CAP_SETUID and \
         CAP_SETGID (see docs/containers.md)",
        .missing.join(" and ")
    )]
    CannotSwitchUser {
        /// The capabilities missing from the effective set.
        missing: Vec<&'static str>,
        /// The user the program would run as.
        uid: u32,
    },
    /// No way to reach the program's memory works; nothing was run.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// The policy's `exec` grants cannot be expressed for Landlock.
    #[error(transparent)]
    ExecGrant(#[from] ExecGrantError),
    /// A confinement step failed in the parent.
    #[error("confinement setup: {0}")]
    Confine(#[from] ConfineError),
    /// A confinement step failed in the child.
    #[error("confining the child failed at {stage}: {errno}")]
    Child {
        /// The step.
        stage: Stage,
        /// What went wrong.
        #[source]
        errno: Errno,
    },
    /// The child ended before it reported being confined.
    #[error("confining the child failed: it ended before it was confined ({status})")]
    ChildEnded {
        /// How it ended.
        status: Status,
    },
    /// The child sent something that is no setup message.
    #[error("setup message from the child: {0}")]
    Setup(#[from] SetupMsgError),
    /// A system call in the parent failed.
    #[error("{what}: {errno}")]
    Sys {
        /// What we were doing.
        what: &'static str,
        /// The error.
        #[source]
        errno: Errno,
    },
    /// The broker of the socketpair protocol could not start.
    #[error("starting the broker: {0}")]
    Broker(#[from] BrokerError),
    /// The resource limits cannot be enforced.
    #[error("{0}")]
    Limits(#[from] LimitError),
    /// The notification server could not start.
    #[error("starting the broker: {0}")]
    Notify(#[from] NotifyError),
    /// A variable set with [`Sandbox::setenv`] cannot be set.
    #[error("--setenv: {0}")]
    Env(#[from] EnvError),
}

fn list(items: &[Missing]) -> String {
    items
        .iter()
        .map(Missing::to_string)
        .collect::<Vec<_>>()
        .join("; ")
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

fn io_err(what: &'static str) -> impl Fn(std::io::Error) -> SandboxError {
    move |e| SandboxError::Sys {
        what,
        errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    }
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

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Status::Exited(code) => write!(f, "exit status {code}"),
            Status::Signaled(signo) => match Signal::try_from(signo) {
                Ok(sig) => write!(f, "killed by {sig}"),
                Err(_) => write!(f, "killed by signal {signo}"),
            },
        }
    }
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
    env: env::EnvOptions,
    no_tty: bool,
    tmp: Option<PrivateTmp>,
    verbose: bool,
}

/// What `fdbroker run --learn` and helpful denials change (see
/// [`Sandbox::judge`], [`Sandbox::observer`], [`Sandbox::allow_exec`]).
#[derive(Default)]
struct Hooks {
    judge: Option<Arc<dyn Judge>>,
    observers: Vec<Observer>,
    exec: Vec<PathBuf>,
    /// [`Sandbox::keep_program_credentials`].
    keep_credentials: bool,
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
            env: env::EnvOptions::default(),
            no_tty: false,
            tmp: None,
            verbose: false,
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

    /// Lets the broker's notification receivers keep the program's
    /// credentials from one call to the next when fdbroker runs as root
    /// (see [`crate::notify::NotifyServer::keep_program_credentials`]):
    /// most calls then cost no credential change. Only with a judge and
    /// observers that do no file-system work needing fdbroker's own
    /// credentials: the policy, the audit log and the counters of
    /// [`Sandbox::limits`] qualify; a learning judge does not. Off by
    /// default.
    pub fn keep_program_credentials(mut self, yes: bool) -> Sandbox {
        self.hooks.keep_credentials = yes;
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

    /// Enforce resource limits (see [`crate::limits`]); without, the
    /// program only gets core dumps turned off.
    pub fn limits(mut self, enforcer: Enforcer) -> Sandbox {
        if let Some(o) = enforcer.observer() {
            self.hooks.observers.push(o);
        }
        self.enforcer = Some(enforcer);
        self
    }

    /// Say on standard error how notifications are served (whether the
    /// kernel wakes the broker on the program's CPU).
    pub fn verbose(mut self, yes: bool) -> Sandbox {
        self.verbose = yes;
        self
    }

    /// Record every decision in `log`.
    pub fn audit(mut self, log: Arc<AuditLog>) -> Sandbox {
        self.audit = Some(log);
        self
    }

    /// Also pass the variables of fdbroker's environment whose names match
    /// `pattern` (see `docs/run.md`, "What the program gets").
    pub fn keep_env(mut self, pattern: NamePattern) -> Sandbox {
        self.env.keep.push(pattern);
        self
    }

    /// Set `name` to `value` in the program's environment, over anything
    /// else. `FDBROKER_FD` and names that are not portable shell names are
    /// refused by [`Sandbox::run`] ([`SandboxError::Env`]).
    pub fn setenv(mut self, name: impl Into<String>, value: impl Into<OsString>) -> Sandbox {
        self.env.set.push((name.into(), value.into()));
        self
    }

    /// Give the program no terminal: a session of its own, standard input
    /// from `/dev/null` and its output through pipes fdbroker copies to the
    /// terminal, in place of each standard descriptor that is a terminal.
    pub fn no_tty(mut self, yes: bool) -> Sandbox {
        self.no_tty = yes;
        self
    }

    /// Give the program `tmp`, the run's private temporary directory, as
    /// `TMPDIR` and `HOME` (unless the policy's `[env]` or
    /// [`Sandbox::setenv`] set them), owned by the program's user; it is
    /// removed when the run ends. The policy should grant it (see
    /// [`crate::policy::Sources::private_tmp`]).
    pub fn private_tmp(mut self, tmp: PrivateTmp) -> Sandbox {
        self.tmp = Some(tmp);
        self
    }

    /// The run's private temporary directory, if it has one.
    pub fn tmpdir(&self) -> Option<&std::path::Path> {
        self.tmp.as_ref().map(PrivateTmp::path)
    }

    /// Runs the program confined and waits for it. Must be called while the
    /// process has a single thread (it forks).
    pub fn run(mut self) -> Result<Status, SandboxError> {
        sys::child::ensure_stdio_open().map_err(sys_err("checking descriptors 0-2"))?;
        let (kernel, cap_last_cap) = confine::check_for_run().map_err(SandboxError::Kernel)?;
        let exe = program::find_program(&self.program)?;
        let ids = user::resolve_user(self.user.as_deref())?;
        if let Some(ids) = ids {
            let missing = user::missing_switch_capabilities();
            if !missing.is_empty() {
                let uid = ids.uid.as_raw();
                return Err(SandboxError::CannotSwitchUser { missing, uid });
            }
            if let Some(tmp) = &self.tmp {
                tmp.give_to(ids.uid, ids.gid).map_err(io_err(
                    "giving the temporary directory to the program's user",
                ))?;
            }
        }

        // Everything the child needs is prepared here, before the fork.
        let mut landlock = LandlockBuilder::new().scopes(kernel.landlock_scopes());
        let executable: Vec<PathBuf> = program::interpreter_chain(&exe.canonical)
            .into_iter()
            .chain(exec_grants(&self.policy)?)
            .chain(self.hooks.exec.iter().cloned())
            .collect();
        for path in &executable {
            landlock = landlock.allow_exec(path.clone());
        }
        let landlock = landlock.prepare()?;
        let notify = notify_filter();
        let deny_opts = deny_options(self.policy.network())?;
        let deny = confine::deny_filter(&deny_opts)?;
        let deny_alone = confine::deny_filter(&confine::run_deny::without_namespaces(deny_opts))?;
        let namespaces = namespaces::Namespaces::plan();
        let broker_fd = sys::pidfd::open(nix::unistd::getpid()).map_err(sys_err("pidfd_open"))?;
        let (exit_read, exit_write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
                .map_err(sys_err("pipe2"))?;

        let (proto_parent, proto_child) =
            sys::msg::seqpacket_pair().map_err(sys_err("socketpair"))?;
        let (setup_parent, setup_child) =
            sys::msg::seqpacket_pair().map_err(sys_err("socketpair"))?;
        let vars = env::program_env(
            self.policy.env(),
            &self.env,
            self.tmpdir(),
            std::env::vars_os(),
        )?;
        let exec = ExecArgs::new(
            &exe.exec_path,
            &self.program,
            &self.args,
            &vars,
            proto_child.as_fd(),
        )?;
        let no_tty = self
            .no_tty
            .then(no_tty::NoTty::prepare)
            .transpose()
            .map_err(io_err("--no-tty"))?;
        // Restored when this returns, once the sandbox is gone.
        let _terminal = terminal::save();
        let mut signals = supervise::prepare()?;
        // In a session of its own the program gets no signal from the
        // terminal: fdbroker forwards those too.
        signals.forward_kernel_signals = no_tty.is_some();
        // The child's cgroups, user namespace and rlimits, prepared before
        // the fork; the run's clock starts.
        let mut limits = self.enforcer.take().unwrap_or_default();
        let child_limits = limits.before_fork(ids.map(|i| (i.uid, i.gid)), &signals.handled)?;
        let plan = ChildPlan {
            parent: nix::unistd::getpid(),
            cap_last_cap,
            ids,
            notify: &notify,
            deny: &deny,
            deny_alone: &deny_alone,
            namespaces: &namespaces,
            broker: broker_fd.as_fd(),
            exit: exit_write.as_fd(),
            exec: &exec,
            old_mask: signals.old_mask,
            limits: &child_limits,
            no_tty: no_tty.as_ref(),
        };
        let (child, init) =
            child::start(&plan, landlock, setup_child.as_fd(), proto_child.as_fd())?;
        drop((
            proto_child,
            setup_child,
            child_limits,
            exit_write,
            broker_fd,
        ));
        if init {
            limits.sandbox_init(child);
        }
        let copiers = match no_tty.map(no_tty::NoTty::start_copying).transpose() {
            Ok(c) => c,
            Err(e) => {
                supervise::abandon(child);
                return Err(io_err("--no-tty")(e));
            }
        };
        let channels = Channels {
            setup: setup_parent,
            proto: proto_parent,
            exit: exit_read,
        };
        let mut judge = self.effective_judge();
        if self.no_tty {
            judge = Arc::new(no_tty::WithoutTty(judge));
        }
        let judging = Judging {
            judge,
            executable,
            observer: self.combined_observer(),
            program_ids: ids.map(|i| sys::creds::FsIds {
                uid: i.uid.as_raw(),
                gid: i.gid.as_raw(),
            }),
            verbose: self.verbose,
            keep_credentials: self.hooks.keep_credentials,
        };
        let result = supervise::supervise(
            child,
            &exe.exec_path,
            channels,
            &signals,
            &mut limits,
            judging,
        );
        // The hits only the end shows, the report, the cgroups removed.
        limits.finish(result.as_ref().ok().copied());
        if let Some(c) = copiers {
            c.finish();
        }
        result
    }

    /// Who judges brokered requests: the learn-mode judge, or the policy.
    fn effective_judge(&self) -> Arc<dyn Judge> {
        match &self.hooks.judge {
            Some(j) => Arc::clone(j),
            None => Arc::clone(&self.policy) as Arc<dyn Judge>,
        }
    }

    /// One observer for every decision: the audit log first, then the
    /// others in the order given.
    fn combined_observer(&self) -> Option<Observer> {
        let mut observers = self.hooks.observers.clone();
        if let Some(log) = self.audit.clone() {
            observers.insert(
                0,
                Arc::new(move |e: &Event<'_>| {
                    let _ = log.record(e);
                }),
            );
        }
        event::fan_out(observers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            SandboxError::Kernel(vec![Missing::Landlock]).exit_code(),
            125
        );
        assert_eq!(Status::Signaled(9).exit_code(), 137);
        assert_eq!(Status::Exited(256 + 3).exit_code(), 3);
    }

    #[test]
    fn messages_name_the_cause() {
        let kernel = SandboxError::Kernel(vec![Missing::LandlockDisabled, Missing::UserNotif]);
        assert_eq!(
            kernel.to_string(),
            format!(
                "refusing to run unconfined: this kernel lacks {}; {}",
                Missing::LandlockDisabled,
                Missing::UserNotif
            )
        );
        let user = SandboxError::from(UserError::NoSuchUser("ghost".into()));
        assert_eq!(user.to_string(), "--user ghost: no such user");
        assert!(std::error::Error::source(&user).is_some());
        let ended = SandboxError::ChildEnded {
            status: Status::Signaled(9),
        };
        assert_eq!(
            ended.to_string(),
            "confining the child failed: it ended before it was confined (killed by SIGKILL)"
        );
        assert_eq!(Status::Exited(125).to_string(), "exit status 125");
        assert_eq!(Status::Signaled(99).to_string(), "killed by signal 99");
        let exec = SandboxError::Exec {
            path: "/bin/x".into(),
            errno: Errno::EACCES,
        };
        assert!(
            exec.to_string()
                .starts_with("/bin/x: cannot execute: EACCES")
        );
        assert!(exec.to_string().contains("granted `exec`"));
    }
}
