//! The caller's terminal: its state before the program runs, put back when
//! fdbroker ends.
//!
//! The program shares fdbroker's terminal: standard descriptors that are
//! one, and the controlling terminal. The deny filter refuses the changes
//! that would outlive the program ([`crate::confine::run_deny`]: line
//! discipline, controlling terminal, window size, exclusive mode). What a
//! program may legitimately change — the modes (termios: echo, canonical
//! input, ...), stopped output (`tcflow`), the foreground process group (a
//! shell's job control) — is saved by [`save`] before the program starts
//! and restored when the returned [`Saved`] is dropped: after every process
//! of the sandbox was killed, whether the program exited, was killed by a
//! signal, or setup failed. Not when fdbroker itself is killed (`SIGKILL`).
//!
//! The foreground process group is given back when the group holding the
//! terminal has no process left (the sandbox made its own and is gone): a
//! live group got it from someone else (the shell, after `bg`). The modes
//! are restored when fdbroker's process group is then the foreground one:
//! in the background the terminal belongs to whoever has it.

use std::fs::OpenOptions;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, killpg, pthread_sigmask};
use nix::sys::termios::{FlowArg, SetArg, Termios, tcflow, tcgetattr, tcsetattr};
use nix::unistd::{Pid, getpgrp, isatty, tcgetpgrp, tcsetpgrp};

/// One terminal as it was.
struct Terminal {
    /// Our own descriptor of it (close-on-exec, never the program's).
    fd: OwnedFd,
    /// Its device number, to save each terminal once.
    rdev: u64,
    modes: Termios,
    /// Its foreground process group, when it is our controlling terminal.
    foreground: Option<Pid>,
}

/// The terminals of fdbroker's standard descriptors and its controlling
/// terminal, as they were; restored on drop.
pub(super) struct Saved {
    terminals: Vec<Terminal>,
}

/// Saves the state of every terminal among descriptors 0, 1, 2 and
/// `/dev/tty`. A descriptor that is no terminal, or whose state cannot be
/// read, is skipped: there is nothing of it to restore.
pub(super) fn save() -> Saved {
    let mut terminals: Vec<Terminal> = Vec::new();
    let std_fds = [
        std::io::stdin().as_fd().try_clone_to_owned(),
        std::io::stdout().as_fd().try_clone_to_owned(),
        std::io::stderr().as_fd().try_clone_to_owned(),
    ];
    let controlling = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open("/dev/tty")
        .map(OwnedFd::from);
    for fd in std_fds.into_iter().chain([controlling]).flatten() {
        if !isatty(&fd).unwrap_or(false) {
            continue;
        }
        let (Ok(st), Ok(modes)) = (nix::sys::stat::fstat(&fd), tcgetattr(&fd)) else {
            continue;
        };
        if terminals.iter().any(|t| t.rdev == st.st_rdev) {
            continue;
        }
        terminals.push(Terminal {
            foreground: tcgetpgrp(&fd).ok(),
            fd,
            rdev: st.st_rdev,
            modes,
        });
    }
    Saved { terminals }
}

impl Saved {
    /// Puts back what the program changed; errors (a terminal hung up
    /// meanwhile) leave that terminal as it is.
    fn restore(&self) {
        // A background process changing its terminal gets SIGTTOU, unless
        // the calling thread blocks it (tty_check_change).
        let mut ttou = SigSet::empty();
        ttou.add(Signal::SIGTTOU);
        let mut old = SigSet::empty();
        let blocked = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&ttou), Some(&mut old)).is_ok();
        for t in &self.terminals {
            t.restore();
        }
        if blocked {
            let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
        }
    }
}

impl Terminal {
    fn restore(&self) {
        let fd = self.fd.as_fd();
        let mut ours = true;
        if let Some(saved) = self.foreground {
            let now = tcgetpgrp(fd).ok();
            if now != Some(saved) && now.is_none_or(group_is_gone) {
                let _ = tcsetpgrp(fd, saved);
            }
            ours = tcgetpgrp(fd).ok() == Some(getpgrp());
        }
        if !ours {
            return;
        }
        // Output the program stopped (tcflow(TCOOFF)) would stay stopped;
        // restarting output that runs changes nothing.
        let _ = tcflow(fd, FlowArg::TCOON);
        if tcgetattr(fd).ok().as_ref() != Some(&self.modes) {
            let _ = tcsetattr(fd, SetArg::TCSANOW, &self.modes);
        }
    }
}

/// Whether process group `pgrp` has no process left.
fn group_is_gone(pgrp: Pid) -> bool {
    killpg(pgrp, None) == Err(Errno::ESRCH)
}

impl Drop for Saved {
    fn drop(&mut self) {
        self.restore();
    }
}
