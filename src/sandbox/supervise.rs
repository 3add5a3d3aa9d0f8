//! The parent's side of `fdbroker run` after fork(2): receive the child's
//! listener, serve it ([`NotifyServer`]) and the socketpair protocol
//! ([`Broker`]) with one judge and one [`Ops`] engine, forward signals, reap,
//! and return the program's [`Status`].
//!
//! `SIGINT`, `SIGTERM`, `SIGHUP` and `SIGQUIT` are forwarded to the program
//! unless the kernel sent them (e.g. from the terminal: the program got its
//! own copy then, except under `--no-tty`); the sandbox is killed
//! [`TIMEOUT_GRACE`] after one that means "stop" ([`stops`]). In a PID
//! namespace the sandbox ends with its init, whose exit the kernel makes
//! kill every process left in it; without one, fdbroker is a child
//! subreaper: when the program exits, whatever it left running is killed.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::init::Sandboxed;
use super::setup::{self, SetupMsg, SetupMsgError, Stage};
use super::{SandboxError, Status, sys_err};
use crate::broker::{Broker, BrokerError};
use crate::event::Observer;
use crate::limits::{Enforcer, TIMEOUT_GRACE};
use crate::notify::{self, NotifyServer};
use crate::ops::{Ops, ProgramIds};
use crate::policy::Judge;
use crate::procfs;
use crate::sys;
use crate::sys::creds::FsIds;

/// The signals fdbroker handles itself, through a signalfd.
pub(super) struct Signals {
    /// `SIGCHLD`, `SIGINT`, `SIGTERM`, `SIGHUP`, `SIGQUIT`: blocked from now on.
    pub(super) handled: SigSet,
    /// The mask before, which the child restores.
    pub(super) old_mask: SigSet,
    /// Forward what the kernel sent too (terminal keys, hangup): the program
    /// is in a session of its own and got no copy (`--no-tty`).
    pub(super) forward_kernel_signals: bool,
}

/// Blocks the handled signals (in every thread started later too) and makes
/// this process a child subreaper.
pub(super) fn prepare() -> Result<Signals, SandboxError> {
    let mut handled = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        // Ctrl-\ would end fdbroker before the program, its terminal
        // unrestored.
        Signal::SIGQUIT,
    ] {
        handled.add(s);
    }
    let mut old_mask = SigSet::empty();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&handled), Some(&mut old_mask))
        .map_err(sys_err("sigprocmask"))?;
    nix::sys::prctl::set_child_subreaper(true).map_err(sys_err("PR_SET_CHILD_SUBREAPER"))?;
    Ok(Signals {
        handled,
        old_mask,
        forward_kernel_signals: false,
    })
}

/// Kills and reaps the program when its supervision cannot start.
pub(super) fn abandon(child: Pid) {
    let _ = kill(child, Signal::SIGKILL);
    let _ = waitpid(child, None);
    kill_descendants();
}

/// The parent's ends of the two socketpairs.
pub(super) struct Channels {
    /// The child's setup reports ([`SetupMsg`]).
    pub(super) setup: OwnedFd,
    /// The explicit protocol ([`Broker`]).
    pub(super) proto: OwnedFd,
    /// The read end of the init's exit report pipe.
    pub(super) exit: OwnedFd,
}

/// How requests are judged and reported.
pub(super) struct Judging {
    pub(super) judge: Arc<dyn Judge>,
    /// What Landlock lets the program execute: `execve` sees it.
    pub(super) executable: Vec<PathBuf>,
    pub(super) observer: Option<Observer>,
    /// The program's ids when they are not ours: its memory is reached
    /// with them where the broker's own do not suffice.
    pub(super) program_ids: Option<FsIds>,
    /// Say how notifications are served.
    pub(super) verbose: bool,
    /// Receivers may keep the program's credentials between calls
    /// ([`NotifyServer::keep_program_credentials`]).
    pub(super) keep_credentials: bool,
}

/// Parent after fork: serve, forward signals, reap, return the status.
/// Whatever happens, nothing the program started is left running.
pub(super) fn supervise(
    child: Pid,
    exec_path: &Path,
    channels: Channels,
    signals: &Signals,
    limits: &mut Enforcer,
    judging: Judging,
) -> Result<Status, SandboxError> {
    let result = serve_and_wait(child, exec_path, channels, signals, limits, judging);
    if result.is_err() {
        let _ = kill(child, Signal::SIGKILL);
        let _ = waitpid(child, None);
    }
    kill_descendants();
    result
}

/// What came from the child on the setup socketpair.
enum Report {
    Listener(OwnedFd),
    /// A pidfd of the program's process, from the sandbox's init.
    Program(OwnedFd),
    Failed {
        stage: Stage,
        errno: Errno,
    },
    /// End of stream: execve succeeded (the child's end was close-on-exec),
    /// or the child died.
    Closed,
}

fn recv_report(sock: BorrowedFd<'_>) -> Result<Report, SandboxError> {
    // Room for more than the longest message, so that a longer one is seen.
    let mut buf = [0u8; setup::MAX_LEN + 1];
    let r = sys::msg::recv_msg(sock, &mut buf).map_err(sys_err("receiving from the child"))?;
    let mut fds = r.fds;
    if r.len == 0 && fds.is_empty() && !r.truncated {
        return Ok(Report::Closed);
    }
    let msg = SetupMsg::decode(buf.get(..r.len).unwrap_or(&[]))?;
    if fds.len() != msg.descriptors() {
        return Err(SetupMsgError::Descriptors {
            got: fds.len(),
            want: msg.descriptors(),
        }
        .into());
    }
    Ok(match (msg, fds.pop()) {
        (SetupMsg::Listener, Some(fd)) => Report::Listener(fd),
        (SetupMsg::Program, Some(fd)) => Report::Program(fd),
        (SetupMsg::Failed { stage, errno }, _) => Report::Failed { stage, errno },
        (SetupMsg::Listener | SetupMsg::Program, None) => {
            return Err(SetupMsgError::Descriptors { got: 0, want: 1 }.into());
        }
    })
}

fn child_failed(stage: Stage, errno: Errno, exec_path: &Path) -> SandboxError {
    match stage {
        Stage::Exec => SandboxError::Exec {
            path: exec_path.to_path_buf(),
            errno,
        },
        stage => SandboxError::Child { stage, errno },
    }
}

fn serve_and_wait(
    child: Pid,
    exec_path: &Path,
    channels: Channels,
    signals: &Signals,
    limits: &mut Enforcer,
    judging: Judging,
) -> Result<Status, SandboxError> {
    let Channels { setup, proto, exit } = channels;
    let Judging {
        judge,
        executable,
        observer,
        program_ids,
        verbose,
        keep_credentials,
    } = judging;
    let ops = Arc::new(Ops::new().map_err(BrokerError::from)?);
    let listener = match recv_report(setup.as_fd())? {
        Report::Listener(fd) => fd,
        Report::Failed { stage, errno } => {
            let _ = waitpid(child, None);
            return Err(child_failed(stage, errno, exec_path));
        }
        Report::Closed => {
            let status = wait_for(child)?;
            return Err(SandboxError::ChildEnded { status });
        }
        Report::Program(_) => return Err(SetupMsgError::ProgramOutOfOrder.into()),
    };
    // The child waits, with the program's credentials, until the broker
    // has found how to reach its memory; nothing runs if no way does.
    let pid = u32::try_from(child.as_raw()).map_err(|_| sys_err("child pid")(Errno::ESRCH))?;
    let memory = notify::probe(pid, program_ids)?;
    sys::msg::send_msg(setup.as_fd(), &[setup::MEMORY_REACHED], None)
        .map_err(sys_err("sending to the child"))?;
    // What the program's own credentials could not open, it is not given.
    let program = program_ids.map_or_else(ProgramIds::same_user, |i| {
        ProgramIds::other_user(i.uid, i.gid)
    });
    let mut server = NotifyServer::new(listener, Arc::clone(&judge), Arc::clone(&ops))?
        .caller_memory(memory)
        .with_program(program)
        .with_exec_grants(executable);
    if keep_credentials {
        server = server.keep_program_credentials();
    }
    if verbose {
        match server.sync_wake_up() {
            Ok(()) => eprintln!(
                "fdbroker: notifications wake the broker on the calling thread's CPU \
                 (SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP)"
            ),
            Err(e) => eprintln!(
                "fdbroker: this kernel cannot wake the broker on the calling thread's CPU \
                 (SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, Linux 6.6: {e}); notifications are \
                 served with ordinary wake-ups"
            ),
        }
    }
    let mut broker = Broker::with_ops(Arc::clone(&judge), Arc::clone(&ops)).with_program(program);
    if let Some(observer) = observer {
        server = server.with_observer(Arc::clone(&observer));
        broker = broker.with_observer(observer);
    }
    server.spawn()?;
    // An init sends the program's process before the end of the setup.
    let mut report = recv_report(setup.as_fd())?;
    let program = match report {
        Report::Program(fd) => {
            report = recv_report(setup.as_fd())?;
            Some(fd)
        }
        _ => None,
    };
    let sandboxed = Sandboxed::new(child, program, exit);
    broker.spawn(proto, sandboxed.program_pid())?;
    match report {
        Report::Closed => {}
        Report::Failed { stage, errno } => {
            let _ = waitpid(child, None);
            return Err(child_failed(stage, errno, exec_path));
        }
        Report::Listener(_) => return Err(SetupMsgError::SecondListener.into()),
        Report::Program(_) => return Err(SetupMsgError::ProgramOutOfOrder.into()),
    }
    drop(setup);

    let forward_all = signals.forward_kernel_signals;
    loop {
        if let Some(status) = reap(child)? {
            return Ok(sandboxed.program_status(status));
        }
        // A signal, or `None` after a check of the limits (the timeout, a
        // hit), which may have stopped the sandbox.
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
        // program's process group too; forward only what someone sent us
        // (or everything under --no-tty, where the program has no terminal).
        let from_kernel = info.ssi_code == libc::SI_KERNEL;
        if (!from_kernel || forward_all)
            && let Ok(sig) = Signal::try_from(signo)
        {
            sandboxed.signal(sig);
        }
        if stops(signo, from_kernel) {
            limits.kill_after(TIMEOUT_GRACE);
        }
    }
}

/// Whether signal `signo` to fdbroker means "stop": then the sandbox is
/// killed once the grace is over, if it has not ended by then. `SIGTERM`
/// and `SIGHUP` always (a hangup: the terminal is gone); `SIGINT` only
/// when a process sent it — from the terminal (Ctrl-C) it is the
/// program's to interpret, as an interactive one may go on.
fn stops(signo: i32, from_kernel: bool) -> bool {
    match signo {
        libc::SIGTERM | libc::SIGHUP => true,
        libc::SIGINT => !from_kernel,
        _ => false,
    }
}

/// The program's status, if `status` is how it ended.
fn ended(status: WaitStatus) -> Option<Status> {
    match status {
        WaitStatus::Exited(_, code) => Some(Status::Exited(code)),
        WaitStatus::Signaled(_, sig, _) => Some(Status::Signaled(sig as i32)),
        _ => None,
    }
}

/// Reaps every exited child without blocking; the program's status once it
/// has exited.
fn reap(child: Pid) -> Result<Option<Status>, SandboxError> {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => return Ok(None),
            Ok(s) if s.pid() == Some(child) => {
                if let Some(status) = ended(s) {
                    return Ok(Some(status));
                }
            }
            Ok(_) => continue,
            Err(Errno::EINTR) => continue,
            Err(Errno::ECHILD) => return Err(sys_err("waiting for the program")(Errno::ECHILD)),
            Err(e) => return Err(sys_err("waitpid")(e)),
        }
    }
}

/// Waits until `child` has ended.
fn wait_for(child: Pid) -> Result<Status, SandboxError> {
    loop {
        match waitpid(child, None) {
            Ok(s) => {
                if let Some(status) = ended(s) {
                    return Ok(status);
                }
            }
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(sys_err("waitpid")(e)),
        }
    }
}

/// How long fdbroker goes on killing leftovers without a PID namespace,
/// where a process that keeps forking can outrun the walk: then it gives
/// up (docs/run.md). With a PID namespace nothing is left by then.
const LEFTOVER_BOUND: std::time::Duration = std::time::Duration::from_secs(2);

/// Kills and reaps every process left in the sandbox, within
/// [`LEFTOVER_BOUND`]. We are their subreaper, so each one is, or becomes,
/// our child; a killed process's children are reparented to us and found
/// on the next round.
fn kill_descendants() {
    let me = std::process::id();
    let deadline = std::time::Instant::now() + LEFTOVER_BOUND;
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
        if std::time::Instant::now() > deadline {
            tracing::warn!(
                left = children.len(),
                "processes of the sandbox kept appearing; gave up killing them"
            );
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
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
                .and_then(|s| procfs::stat_ppid(&s))
                .is_some_and(|p| p == ppid)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines() {
        assert_eq!(procfs::stat_ppid(b"123 (a b) c) S 45 123 123 0"), Some(45));
        assert_eq!(procfs::stat_ppid(b"123 (x"), None);
        assert_eq!(procfs::stat_ppid(b""), None);
    }

    #[test]
    fn child_failures_name_the_stage() {
        let e = child_failed(Stage::Landlock, Errno::EPERM, Path::new("/bin/x"));
        assert_eq!(
            e.to_string(),
            "confining the child failed at Landlock: EPERM: Operation not permitted"
        );
        assert_eq!(e.exit_code(), 125);
        let e = child_failed(Stage::Exec, Errno::ENOENT, Path::new("/bin/x"));
        assert!(
            matches!(
                &e,
                SandboxError::Exec {
                    errno: Errno::ENOENT,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(e.exit_code(), 127);
    }

    #[test]
    fn reports_are_checked() {
        let (ours, theirs) = sys::msg::seqpacket_pair().unwrap();
        let send = |bytes: &[u8], fd: Option<BorrowedFd<'_>>| {
            sys::msg::send_msg(theirs.as_fd(), bytes, fd).unwrap()
        };
        let failed = SetupMsg::Failed {
            stage: Stage::DenyFilter,
            errno: Errno::EINVAL,
        };
        send(&failed.encode(), None);
        assert!(matches!(
            recv_report(ours.as_fd()),
            Ok(Report::Failed {
                stage: Stage::DenyFilter,
                errno: Errno::EINVAL
            })
        ));
        send(&SetupMsg::Listener.encode(), Some(theirs.as_fd()));
        assert!(matches!(recv_report(ours.as_fd()), Ok(Report::Listener(_))));
        send(&SetupMsg::Program.encode(), Some(theirs.as_fd()));
        assert!(matches!(recv_report(ours.as_fd()), Ok(Report::Program(_))));
        send(&SetupMsg::Program.encode(), None);
        assert!(matches!(
            recv_report(ours.as_fd()),
            Err(SandboxError::Setup(SetupMsgError::Descriptors {
                got: 0,
                want: 1
            }))
        ));
        // A listener message without the listener, a failure with one.
        send(&SetupMsg::Listener.encode(), None);
        assert!(matches!(
            recv_report(ours.as_fd()),
            Err(SandboxError::Setup(SetupMsgError::Descriptors {
                got: 0,
                want: 1
            }))
        ));
        send(&failed.encode(), Some(theirs.as_fd()));
        assert!(matches!(
            recv_report(ours.as_fd()),
            Err(SandboxError::Setup(SetupMsgError::Descriptors {
                got: 1,
                want: 0
            }))
        ));
        // Longer than any message; unknown.
        send(&[2; 32], None);
        assert!(matches!(
            recv_report(ours.as_fd()),
            Err(SandboxError::Setup(SetupMsgError::TooLong { .. }))
        ));
        send(&[7], None);
        assert!(matches!(
            recv_report(ours.as_fd()),
            Err(SandboxError::Setup(SetupMsgError::UnknownKind(7)))
        ));
        drop(theirs);
        assert!(matches!(recv_report(ours.as_fd()), Ok(Report::Closed)));
    }
}
