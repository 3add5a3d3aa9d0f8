//! `--no-tty`: the program gets no terminal at all.
//!
//! It runs in a session of its own, so it has no controlling terminal
//! (`/dev/tty` fails with `ENXIO`, and no signal from the caller's terminal
//! reaches it but those fdbroker forwards), and each standard descriptor
//! that is a terminal is replaced before execve(2): standard input by
//! `/dev/null`, standard output and error by a pipe whose contents fdbroker
//! copies to the terminal (one pipe when both are the same terminal, so
//! that their order is kept). Descriptors that are no terminal (a file, a
//! pipe) are left as they are. The program then holds no descriptor of any
//! terminal: it can neither read the caller's keystrokes nor change, query
//! or inject into the terminal. Nor can it get one through the broker:
//! `/dev/tty`, which the broker would open as its own controlling terminal,
//! is denied whatever the policy says ([`WithoutTty`]).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::unistd::{dup2_stderr, dup2_stdin, dup2_stdout, isatty, pipe2, setsid};

use crate::policy::{Access, Decision, Judge, RuleKind, RuleRef};
use crate::sys::child::Forked;

/// The rule named for `/dev/tty` under `--no-tty` (`<no-tty>:0`).
const NO_TTY_RULE: &str = "<no-tty>";

/// A judge for `--no-tty`: `/dev/tty` means the opener's controlling
/// terminal, and opened by the broker it would be fdbroker's, which the
/// program must not have. Anything but `stat` on it is denied; the rest is
/// `judge`'s.
pub(super) struct WithoutTty(pub(super) Arc<dyn Judge>);

impl Judge for WithoutTty {
    fn decide(&self, path: &Path, access: Access) -> Decision {
        if path == Path::new("/dev/tty") && !(access - Access::STAT).is_empty() {
            return Decision {
                allowed: false,
                rule: Some(RuleRef {
                    kind: RuleKind::Deny,
                    file: Arc::from(Path::new(NO_TTY_RULE)),
                    line: 0,
                }),
            };
        }
        self.0.decide(path, access)
    }
}

/// One pipe standing in for a terminal on descriptor 1, 2 or both.
struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    /// Our own descriptor of the terminal it is copied to.
    terminal: OwnedFd,
    stdout: bool,
    stderr: bool,
}

/// What `--no-tty` changes in the child, prepared before the fork.
pub(super) struct NoTty {
    /// `/dev/null`, when standard input is a terminal.
    null: Option<OwnedFd>,
    pipes: Vec<Pipe>,
}

/// The device number of `fd` if it is a terminal.
fn terminal_of(fd: BorrowedFd<'_>) -> Option<u64> {
    if !isatty(fd).unwrap_or(false) {
        return None;
    }
    nix::sys::stat::fstat(fd).ok().map(|st| st.st_rdev)
}

impl NoTty {
    /// Opens `/dev/null` and the pipes for the descriptors that are terminals.
    pub(super) fn prepare() -> io::Result<NoTty> {
        let null = match terminal_of(io::stdin().as_fd()) {
            Some(_) => Some(OwnedFd::from(File::options().read(true).open("/dev/null")?)),
            None => None,
        };
        let out = terminal_of(io::stdout().as_fd());
        let err = terminal_of(io::stderr().as_fd());
        let mut pipes = Vec::new();
        let mut add = |fd: BorrowedFd<'_>, stdout: bool, stderr: bool| -> io::Result<()> {
            let (read, write) = pipe2(OFlag::O_CLOEXEC)?;
            pipes.push(Pipe {
                read,
                write,
                terminal: fd.try_clone_to_owned()?,
                stdout,
                stderr,
            });
            Ok(())
        };
        match (out, err) {
            (Some(a), Some(b)) if a == b => add(io::stdout().as_fd(), true, true)?,
            _ => {
                if out.is_some() {
                    add(io::stdout().as_fd(), true, false)?;
                }
                if err.is_some() {
                    add(io::stderr().as_fd(), false, true)?;
                }
            }
        }
        Ok(NoTty { null, pipes })
    }

    /// In the child: a new session, and the replaced standard descriptors
    /// (which execve(2) keeps; our other descriptors are close-on-exec).
    pub(super) fn apply(&self, _child: &Forked) -> Result<(), Errno> {
        setsid()?;
        if let Some(null) = &self.null {
            dup2_stdin(null)?;
        }
        for p in &self.pipes {
            if p.stdout {
                dup2_stdout(&p.write)?;
            }
            if p.stderr {
                dup2_stderr(&p.write)?;
            }
        }
        Ok(())
    }

    /// In the parent, after the fork: drops our write ends (so that the
    /// pipes end when the sandbox's last holder is gone) and starts copying.
    pub(super) fn start_copying(self) -> io::Result<Copiers> {
        let (stop_read, stop_write) = pipe2(OFlag::O_CLOEXEC)?;
        let mut threads = Vec::new();
        for p in self.pipes {
            drop(p.write);
            let stop = stop_read.try_clone()?;
            threads.push(
                std::thread::Builder::new()
                    .name("fdbroker-no-tty".into())
                    .spawn(move || copy(p.read, p.terminal, stop))?,
            );
        }
        Ok(Copiers {
            threads,
            stop: stop_write,
        })
    }
}

/// The threads copying the program's output to the terminal.
pub(super) struct Copiers {
    threads: Vec<JoinHandle<()>>,
    /// Closed by [`Copiers::finish`]: the threads copy what is left and end.
    stop: OwnedFd,
}

impl Copiers {
    /// Once the sandbox is gone: copies what its output pipes still hold,
    /// and waits for the threads. A process that escaped the killing and
    /// still holds a pipe cannot keep fdbroker waiting.
    pub(super) fn finish(self) {
        drop(self.stop);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Copies `from` to `to` until end of file, or until `stop` is closed and
/// `from` has nothing more right now. A write error (the terminal hung up)
/// ends the copy: the program's next write then fails as it would have.
fn copy(from: OwnedFd, to: OwnedFd, stop: OwnedFd) {
    let mut from = File::from(from);
    let mut to = File::from(to);
    let mut buf = vec![0u8; 16 * 1024];
    let mut stopping = false;
    loop {
        let ready = {
            let mut fds = [
                PollFd::new(from.as_fd(), PollFlags::POLLIN),
                PollFd::new(stop.as_fd(), PollFlags::POLLIN),
            ];
            let timeout = if stopping {
                PollTimeout::ZERO
            } else {
                PollTimeout::NONE
            };
            match poll(&mut fds, timeout) {
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(_) => return,
            }
            stopping |= fds[1].any().unwrap_or(true);
            fds[0].any().unwrap_or(true)
        };
        if !ready {
            if stopping {
                return;
            }
            continue;
        }
        match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    #[test]
    fn dev_tty_is_denied_whatever_the_policy() {
        let policy = Policy::parse(
            "version = 1\n[[allow]]\npaths = [\"/dev/tty\", \"/srv/in\"]\naccess = [\"read\", \"write\"]\n",
            Path::new("p.toml"),
        )
        .unwrap();
        let judge = WithoutTty(Arc::new(policy));
        let tty = Path::new("/dev/tty");
        for access in [Access::READ, Access::WRITE, Access::READ | Access::STAT] {
            let d = judge.decide(tty, access);
            assert!(!d.allowed);
            assert_eq!(d.reason(), "denied by <no-tty>:0");
        }
        assert!(judge.decide(tty, Access::STAT).allowed);
        assert!(judge.decide(Path::new("/srv/in"), Access::READ).allowed);
        assert!(!judge.decide(Path::new("/srv/other"), Access::READ).allowed);
    }

    #[test]
    fn copies_until_the_end_or_until_stopped() {
        let (to_read, to_write) = pipe2(OFlag::O_CLOEXEC).unwrap();
        // Ended by end of file.
        let (from_read, from_write) = pipe2(OFlag::O_CLOEXEC).unwrap();
        let (stop_read, stop_write) = pipe2(OFlag::O_CLOEXEC).unwrap();
        let t = std::thread::spawn(move || copy(from_read, to_write, stop_read));
        let mut w = File::from(from_write);
        w.write_all(b"first ").unwrap();
        drop(w);
        t.join().unwrap();
        drop(stop_write);
        // Ended by the stop, with what is left copied, though a writer of
        // the pipe is still alive.
        let (to_read2, to_write2) = pipe2(OFlag::O_CLOEXEC).unwrap();
        let (from_read, from_write) = pipe2(OFlag::O_CLOEXEC).unwrap();
        let (stop_read, stop_write) = pipe2(OFlag::O_CLOEXEC).unwrap();
        let mut w = File::from(from_write);
        w.write_all(b"left over").unwrap();
        let t = std::thread::spawn(move || copy(from_read, to_write2, stop_read));
        drop(stop_write);
        t.join().unwrap();
        let mut out = String::new();
        File::from(to_read).read_to_string(&mut out).unwrap();
        assert_eq!(out, "first ");
        out.clear();
        File::from(to_read2).read_to_string(&mut out).unwrap();
        assert_eq!(out, "left over");
        drop(w);
    }
}
