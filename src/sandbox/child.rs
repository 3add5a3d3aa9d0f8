//! The child's side of `fdbroker run`, after fork(2): confine itself, hand
//! the notification listener to the parent, execve(2) the program.
//!
//! Everything is prepared before the fork ([`ChildPlan`]). The child then,
//! one [`Stage`] after the other:
//!
//! 1. sets `PR_SET_NO_NEW_PRIVS`;
//! 2. when fdbroker runs as root, switches to an unprivileged user
//!    ([`Sandbox::user`](super::Sandbox::user), default `nobody`):
//!    `setgroups([])`, `setresgid`, `setresuid`, so that owner and group
//!    permission bits grant it nothing;
//! 3. drops every capability ([`crate::confine::drop_capabilities`]): the
//!    effective, permitted, inheritable and ambient sets end up empty, and
//!    the bounding set too when fdbroker has `CAP_SETPCAP` (as root);
//! 4. sets `PR_SET_PDEATHSIG(SIGKILL)` (after the uid change, which would
//!    clear it) and checks that its parent is still the broker;
//! 5. applies Landlock: every filesystem right handled, only `Execute` and
//!    `ReadFile` granted, on the program, its interpreters and what the
//!    policy grants `exec` (see [`exec_grants`](super::exec_grants)); plus
//!    the abstract-UNIX-socket and signal scopes when the kernel has them;
//!    with `--no-tty` ([`Sandbox::no_tty`](super::Sandbox::no_tty)), it
//!    then starts a session of its own and puts `/dev/null` and pipes in
//!    place of the standard descriptors that are terminals;
//! 6. leaves only 0, 1, 2 and its end of the socketpair (whose number is in
//!    `FDBROKER_FD`) open across execve: every other descriptor is
//!    close-on-exec;
//! 7. installs the user-notification filter ([`crate::notify::notify_filter`]),
//!    sends the listener to the parent over a second, close-on-exec
//!    socketpair (dumpable again when its user changed, as the program will
//!    be) and waits while the parent checks that it can reach its memory;
//!    then the deny filter
//!    ([`deny_options`](crate::confine::run_deny::deny_options)), which also
//!    kills the process on foreign system-call ABIs;
//! 8. restores the signal mask and `SIGPIPE` and calls execve(2).
//!
//! With resource limits ([`crate::limits`]) the child also joins the
//! sandbox's cgroups and, where `--max-processes` needs one, enters a user
//! namespace of its own, both right after step 2; it sets its rlimits just
//! before the deny filter of step 7. Core dumps are off in any case.
//!
//! The child is created in the sandbox's namespaces where the kernel allows
//! ([`super::namespaces`]): it then first maps its user namespace's ids
//! (when fdbroker is not root), and after step 7 it stays as the sandbox's
//! init and forks the program's process ([`super::init`]), which joins the
//! cgroups and goes on with step 8.
//!
//! The first stage that fails reports itself and its errno to the parent
//! ([`SetupMsg::Failed`]); the child then exits with 125, or 126/127 when
//! execve failed. The environment is the one `env` made, plus
//! `FDBROKER_FD`.

use std::cell::Cell;
use std::error::Error;
use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::unistd::Pid;

use super::init;
use super::namespaces::{self, Namespaces};
use super::no_tty::NoTty;
use super::setup::{MEMORY_REACHED, SetupMsg, Stage};
use super::user::Ids;
use super::{EXIT_CANNOT_EXECUTE, EXIT_NOT_FOUND, EXIT_SETUP, SandboxError, sys_err};
use crate::confine::{self, ConfineError, PreparedLandlock, sock_filter};
use crate::launch::FD_ENV;
use crate::limits::ChildLimits;
use crate::sys;
use crate::sys::child::Forked;

// A panicking child exits as any failed setup does.
const _: () = assert!(sys::child::PANIC_EXIT == EXIT_SETUP);

/// The program's execve(2) arguments, as C strings.
pub(super) struct ExecArgs {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
}

impl ExecArgs {
    /// `exec_path` with argv `[program, args...]` and environment `vars`
    /// (see `env`), plus [`FD_ENV`] naming `proto` (the child's end of the
    /// socketpair).
    pub(super) fn new(
        exec_path: &Path,
        program: &OsStr,
        args: &[OsString],
        vars: &[(OsString, OsString)],
        proto: BorrowedFd<'_>,
    ) -> Result<ExecArgs, SandboxError> {
        let mut argv = vec![cstring(program)?];
        for a in args {
            argv.push(cstring(a)?);
        }
        let mut envp = Vec::new();
        for (k, v) in vars.iter().filter(|(k, _)| k != FD_ENV) {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            envp.push(CString::new(kv).map_err(|_| sys_err("environment")(Errno::EINVAL))?);
        }
        envp.push(cstring(OsStr::new(&format!(
            "{FD_ENV}={}",
            proto.as_raw_fd()
        )))?);
        Ok(ExecArgs {
            path: cstring(exec_path.as_os_str())?,
            argv,
            envp,
        })
    }
}

fn cstring(s: &OsStr) -> Result<CString, SandboxError> {
    CString::new(s.as_bytes()).map_err(|_| SandboxError::Sys {
        what: "argument with a NUL byte",
        errno: Errno::EINVAL,
    })
}

/// Everything the child needs, prepared before the fork.
pub(super) struct ChildPlan<'a> {
    /// The broker, which the child checks is still its parent.
    pub(super) parent: Pid,
    /// The kernel's `cap_last_cap`, read before the fork.
    pub(super) cap_last_cap: u32,
    pub(super) ids: Option<Ids>,
    pub(super) notify: &'a [sock_filter],
    /// The deny filter in the sandbox's namespaces.
    pub(super) deny: &'a [sock_filter],
    /// The deny filter without them (System V IPC refused too).
    pub(super) deny_alone: &'a [sock_filter],
    /// The namespaces to create the child in.
    pub(super) namespaces: &'a Namespaces,
    /// A pidfd of the broker, which the child checks is still alive.
    pub(super) broker: BorrowedFd<'a>,
    /// The write end of the init's exit report pipe.
    pub(super) exit: BorrowedFd<'a>,
    pub(super) exec: &'a ExecArgs,
    /// The signal mask to restore before execve.
    pub(super) old_mask: SigSet,
    /// Cgroups to join, a user namespace to enter, rlimits to set.
    pub(super) limits: &'a ChildLimits,
    /// `--no-tty`: a new session and no terminal on 0, 1, 2.
    pub(super) no_tty: Option<&'a NoTty>,
}

/// Creates the child in the sandbox's namespaces, or forks it without
/// when the kernel refuses them (the process must still have a single
/// thread), and runs the child setup in the new process; returns the
/// child's pid and whether it is the init of the namespaces.
pub(super) fn start(
    plan: &ChildPlan<'_>,
    landlock: PreparedLandlock,
    setup: BorrowedFd<'_>,
    proto: BorrowedFd<'_>,
) -> Result<(Pid, bool), SandboxError> {
    let in_namespaces = Cell::new(true);
    let body =
        |forked: Forked| child_main(&forked, plan, landlock, setup, proto, in_namespaces.get());
    let err = sys_err("fork (only allowed while the process has one thread)");
    let pid = match sys::child::run_cloned(plan.namespaces.flags(), body) {
        Ok(pid) => pid,
        Err((e, body)) if namespaces::refused(e) => {
            in_namespaces.set(false);
            sys::child::run_forked(body).map_err(err)?
        }
        Err((e, _)) => return Err(err(e)),
    };
    Ok((pid, in_namespaces.get()))
}

/// The child after fork: confine, hand over the listener, execve. Never
/// returns; on any failure it reports the stage and exits.
fn child_main(
    forked: &Forked,
    plan: &ChildPlan<'_>,
    landlock: PreparedLandlock,
    setup: BorrowedFd<'_>,
    proto: BorrowedFd<'_>,
    init: bool,
) -> ! {
    let fail = |stage: Stage, errno: Errno| -> ! {
        let _ = sys::msg::send_msg(setup, &SetupMsg::Failed { stage, errno }.encode(), None);
        forked.exit(EXIT_SETUP)
    };
    if init && let Err(e) = plan.namespaces.map_ids() {
        fail(Stage::Namespaces, e);
    }
    if let Err(e) = confine::set_no_new_privs() {
        fail(Stage::NoNewPrivs, confine_errno(&e));
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
            fail(Stage::SwitchUser, e);
        }
    }
    // The init stays out of the cgroups: the program's process joins them.
    if !init && let Err(e) = plan.limits.join_cgroups() {
        fail(Stage::JoinCgroups, e.errno());
    }
    // Before the capabilities go: a new user namespace brings a full set.
    let in_user_namespace = init && plan.namespaces.own_user_namespace();
    if let Err(e) = plan.limits.enter_user_namespace(in_user_namespace) {
        fail(Stage::UserNamespace, e.errno());
    }
    if let Err(e) = confine::drop_capabilities_through(plan.cap_last_cap) {
        fail(Stage::DropCapabilities, confine_errno(&e));
    }
    if let Err(e) = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL) {
        fail(Stage::ParentDeathSignal, e);
    }
    // The broker exited before the signal was set. (In a PID namespace
    // the parent has no pid: the broker's pidfd tells.)
    if sys::pidfd::has_exited(plan.broker) || (!init && nix::unistd::getppid() != plan.parent) {
        fail(Stage::ParentDeathSignal, Errno::ESRCH);
    }
    if let Err(e) = landlock.restrict_self() {
        fail(Stage::Landlock, confine_errno(&e));
    }
    if let Some(no_tty) = plan.no_tty
        && let Err(e) = no_tty.apply(forked)
    {
        fail(Stage::NoTerminal, e);
    }
    if let Err(e) = forked.keep_only_across_exec(&[proto]) {
        fail(Stage::CloseDescriptors, e);
    }
    let listener = match confine::install_with_listener(plan.notify) {
        Ok(l) => l,
        Err(e) => fail(Stage::NotifyFilter, confine_errno(&e)),
    };
    // The uid change made the child non-dumpable, which only execve would
    // undo: the broker checks now, with the program's credentials, that it
    // can reach its memory, and where it lacks CAP_SYS_PTRACE that needs a
    // dumpable child, as the program will be.
    if plan.ids.is_some()
        && let Err(e) = nix::sys::prctl::set_dumpable(true)
    {
        fail(Stage::SendListener, e);
    }
    if let Err(e) = sys::msg::send_msg(setup, &SetupMsg::Listener.encode(), Some(listener.as_fd()))
    {
        fail(Stage::SendListener, e);
    }
    drop(listener);
    let mut go = [0u8; 1];
    match sys::msg::recv_msg(setup, &mut go) {
        Ok(r) if r.len == 1 && go[0] == MEMORY_REACHED && r.fds.is_empty() => {}
        Ok(_) => fail(Stage::SendListener, Errno::EPROTO),
        Err(e) => fail(Stage::SendListener, e),
    }
    // After the last descriptor of the setup is made.
    if let Err(e) = plan.limits.restrict(init) {
        fail(Stage::Rlimits, e.errno());
    }
    let deny = if init { plan.deny } else { plan.deny_alone };
    if let Err(e) = confine::install(deny) {
        fail(Stage::DenyFilter, confine_errno(&e));
    }
    if init {
        // Returns in the program's process only.
        if let Err(e) = init::start_program(forked, setup, plan.exit) {
            fail(Stage::Init, e);
        }
        if let Err(e) = plan.limits.join_cgroups() {
            fail(Stage::JoinCgroups, e.errno());
        }
    }
    if let Err(e) = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&plan.old_mask), None)
        .and_then(|()| forked.reset_sigpipe())
    {
        fail(Stage::SignalMask, e);
    }
    let exec = plan.exec;
    let errno = match nix::unistd::execve(&exec.path, &exec.argv, &exec.envp) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let msg = SetupMsg::Failed {
        stage: Stage::Exec,
        errno,
    };
    let _ = sys::msg::send_msg(setup, &msg.encode(), None);
    forked.exit(if errno == Errno::ENOENT {
        EXIT_NOT_FOUND
    } else {
        EXIT_CANNOT_EXECUTE
    })
}

/// The errno behind a confinement error: the first system error among its
/// sources; `EPERM` for a check that found a step not in effect.
fn confine_errno(e: &ConfineError) -> Errno {
    errno_of(e)
}

fn errno_of(e: &(dyn Error + 'static)) -> Errno {
    let mut cause = Some(e);
    while let Some(err) = cause {
        if let Some(errno) = err.downcast_ref::<Errno>() {
            return *errno;
        }
        if let Some(raw) = err
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::raw_os_error)
        {
            return Errno::from_raw(raw);
        }
        cause = err.source();
    }
    Errno::EPERM
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Step {
        #[error("errno: {0}")]
        Errno(#[source] Errno),
        #[error("io: {0}")]
        Io(#[source] std::io::Error),
        #[error("nested: {0}")]
        Nested(#[source] Box<Step>),
        #[error("not in effect")]
        Unverified,
    }

    #[test]
    fn errors_carry_their_errno() {
        assert_eq!(errno_of(&Step::Errno(Errno::EINVAL)), Errno::EINVAL);
        let io = std::io::Error::from_raw_os_error(libc::EACCES);
        assert_eq!(errno_of(&Step::Io(io)), Errno::EACCES);
        let nested = Step::Nested(Box::new(Step::Errno(Errno::ENOMEM)));
        assert_eq!(errno_of(&nested), Errno::ENOMEM);
        // No system error anywhere in the chain.
        assert_eq!(errno_of(&Step::Unverified), Errno::EPERM);
        let custom = std::io::Error::other("no errno");
        assert_eq!(errno_of(&Step::Io(custom)), Errno::EPERM);
    }
}
