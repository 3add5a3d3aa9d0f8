//! The sandbox's init: pid 1 of the sandbox's PID namespace
//! ([`super::namespaces`]), a small process of fdbroker's between fdbroker
//! and the program.
//!
//! The child fdbroker creates in the namespaces confines itself completely
//! (the same Landlock domain and filters as the program, which inherits
//! them), then forks the program's process ([`start_program`]): the
//! program is not pid 1, so signals mean to it what they always do (the
//! kernel drops the signals an init has no handler for). The init hands
//! fdbroker a pidfd of the program's process, closes every other
//! descriptor, and reaps: orphans of the sandbox are re-parented to it.
//! When the program's process ends, it writes how ([`ExitReport`]) on a
//! pipe to fdbroker and exits, and the kernel kills every process left in
//! the namespace before its parent, fdbroker, sees it exit. If fdbroker
//! dies, the init's parent-death signal kills it, and with it the whole
//! namespace. Processes in the namespace cannot signal the init (it has no
//! handlers), nor leave the namespace.
//!
//! To stop the sandbox (a limit, the grace after `SIGTERM`), fdbroker sends
//! the init `SIGTERM` ([`crate::limits::Enforcer`]), and the init kills every other
//! process of the namespace with `kill(-1, SIGKILL)`: race-free, since a
//! process with a fatal signal pending can no longer fork. It then reaps
//! them as usual, so their CPU time still reaches fdbroker's `--stats`
//! (killing the init itself would lose it: a dying init's children are
//! reaped without accounting).
//!
//! [`Sandboxed`] is fdbroker's side: the program's pidfd (signals go to the
//! program's process itself, race-free) and its status.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::Status;
use super::setup::{SetupMsg, Stage};
use crate::sys;
use crate::sys::child::Forked;

/// How the program's process ended, as the init reports it: a kind byte
/// (0 exited, 1 killed by a signal) and the code or signal number (`i32`,
/// little-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ExitReport(pub(super) Status);

const EXITED: u8 = 0;
const SIGNALED: u8 = 1;
const REPORT_LEN: usize = 5;

impl ExitReport {
    fn encode(self) -> [u8; REPORT_LEN] {
        let (kind, n) = match self.0 {
            Status::Exited(c) => (EXITED, c),
            Status::Signaled(s) => (SIGNALED, s),
        };
        let b = n.to_le_bytes();
        [kind, b[0], b[1], b[2], b[3]]
    }

    fn decode(bytes: &[u8]) -> Option<ExitReport> {
        match bytes {
            [kind, a, b, c, d] => {
                let n = i32::from_le_bytes([*a, *b, *c, *d]);
                match *kind {
                    EXITED => Some(ExitReport(Status::Exited(n))),
                    SIGNALED => Some(ExitReport(Status::Signaled(n))),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

/// In the child created in the namespaces, once it is confined: forks the
/// program's process and returns in it (to execute the program). In the
/// init it never returns. `setup` is the socketpair to fdbroker, `exit`
/// the pipe for the [`ExitReport`]. An error before the fork is returned;
/// after it, the init reports it as [`Stage::Init`] and exits.
pub(super) fn start_program(
    forked: &Forked,
    setup: BorrowedFd<'_>,
    exit: BorrowedFd<'_>,
) -> Result<(), Errno> {
    let Some(program) = forked.fork()? else {
        return Ok(());
    };
    let handed = sys::pidfd::open(program).and_then(|fd| {
        sys::msg::send_msg(setup, &SetupMsg::Program.encode(), Some(fd.as_fd())).map(|_| ())
    });
    if let Err(errno) = handed {
        let _ = kill(program, Signal::SIGKILL);
        let failed = SetupMsg::Failed {
            stage: Stage::Init,
            errno,
        };
        let _ = sys::msg::send_msg(setup, &failed.encode(), None);
        forked.exit(super::EXIT_SETUP);
    }
    // Nothing of the setup stays open here: fdbroker sees the end of the
    // setup stream when the program's process executes the program.
    if forked.close_all_except(&[exit]).is_err() {
        let _ = kill(program, Signal::SIGKILL);
        forked.exit(super::EXIT_SETUP);
    }
    let status = reap_until(program);
    if let Some(status) = status {
        let _ = nix::unistd::write(exit, &ExitReport(status).encode());
    }
    forked.exit(0)
}

/// Reaps every child (orphans of the sandbox come to the init) until
/// `program` has ended, killing them all when fdbroker asks; how the
/// program ended, or `None` if waiting failed.
fn reap_until(program: Pid) -> Option<Status> {
    let mut wanted = SigSet::empty();
    wanted.add(Signal::SIGCHLD);
    wanted.add(Signal::SIGTERM);
    // Both are blocked (fdbroker blocked them before the fork): they are
    // read here, never delivered.
    let sfd = SignalFd::with_flags(&wanted, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).ok();
    loop {
        match waitpid(
            Pid::from_raw(-1),
            Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL),
        ) {
            Ok(WaitStatus::Exited(pid, code)) if pid == program => {
                return Some(Status::Exited(code));
            }
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == program => {
                return Some(Status::Signaled(sig as i32));
            }
            Ok(WaitStatus::StillAlive) => wait_for_signals(sfd.as_ref()),
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return None,
        }
    }
}

/// Waits until a child changes state (once a second anyway, for children
/// whose exit signal is not `SIGCHLD`), and kills every other process of
/// the namespace when fdbroker sent `SIGTERM`. A `SIGTERM` from inside the
/// namespace has the sender's pid; one from fdbroker, outside it, has 0.
fn wait_for_signals(sfd: Option<&SignalFd>) {
    let Some(fd) = sfd else {
        std::thread::sleep(std::time::Duration::from_millis(10));
        return;
    };
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    let _ = poll(&mut fds, PollTimeout::from(1000u16));
    while let Ok(Some(info)) = fd.read_signal() {
        let from_outside = info.ssi_pid == 0 && info.ssi_code == libc::SI_USER;
        if from_outside && info.ssi_signo == Signal::SIGTERM as u32 {
            let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
        }
    }
}

/// fdbroker's side of the sandbox's processes once the setup is done: the
/// child it created (the init, or the program itself without a PID
/// namespace) and, with an init, the program's process.
#[derive(Debug)]
pub(super) struct Sandboxed {
    child: Pid,
    /// A pidfd of the program's process, when an init started it.
    program: Option<OwnedFd>,
    /// The program's pid as fdbroker sees it.
    program_pid: Option<u32>,
    /// The read end of the init's [`ExitReport`] pipe (non-blocking).
    exit: OwnedFd,
}

impl Sandboxed {
    /// `child`, the process fdbroker created; `program`, the pidfd the
    /// init sent, if any; `exit`, the report pipe's read end.
    pub(super) fn new(child: Pid, program: Option<OwnedFd>, exit: OwnedFd) -> Sandboxed {
        let program_pid = match &program {
            Some(fd) => sys::pidfd::pid_of(fd.as_fd()),
            None => u32::try_from(child.as_raw()).ok(),
        };
        Sandboxed {
            child,
            program,
            program_pid,
            exit,
        }
    }

    /// The program's pid as fdbroker's `/proc` shows it: what `/proc/self`
    /// means in its socketpair requests.
    pub(super) fn program_pid(&self) -> Option<u32> {
        self.program_pid
    }

    /// Sends `signal` to the program's process.
    pub(super) fn signal(&self, signal: Signal) {
        match &self.program {
            Some(fd) => {
                let _ = sys::pidfd::send_signal(fd.as_fd(), signal);
            }
            None => {
                let _ = kill(self.child, signal);
            }
        }
    }

    /// How the program ended, now that the child ended with `child`: the
    /// init's report, or `child` itself (the program's own status without
    /// an init; the init's when it was killed before it could report).
    pub(super) fn program_status(&self, child: Status) -> Status {
        let mut buf = [0u8; REPORT_LEN + 1];
        match nix::unistd::read(&self.exit, &mut buf) {
            Ok(REPORT_LEN) => ExitReport::decode(&buf[..REPORT_LEN]).map_or(child, |r| r.0),
            _ => child,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip() {
        for s in [
            Status::Exited(0),
            Status::Exited(255),
            Status::Signaled(9),
            Status::Signaled(64),
        ] {
            let bytes = ExitReport(s).encode();
            assert_eq!(ExitReport::decode(&bytes), Some(ExitReport(s)));
        }
        assert_eq!(ExitReport::decode(&[2, 0, 0, 0, 0]), None);
        assert_eq!(ExitReport::decode(&[0, 0, 0, 0]), None);
        assert_eq!(ExitReport::decode(&[0; 6]), None);
    }

    #[test]
    fn without_an_init_the_child_is_the_program() {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK).unwrap();
        let s = Sandboxed::new(Pid::from_raw(42), None, r);
        assert_eq!(s.program_pid(), Some(42));
        // Nothing reported: the child's own status.
        assert_eq!(s.program_status(Status::Signaled(9)), Status::Signaled(9));
        nix::unistd::write(&w, &ExitReport(Status::Exited(3)).encode()).unwrap();
        assert_eq!(s.program_status(Status::Exited(0)), Status::Exited(3));
    }
}
