//! Starting a child with its end of a broker socketpair.
//!
//! [`spawn`] creates an `AF_UNIX`/`SOCK_SEQPACKET` socketpair, lets the child
//! inherit one end across `execve(2)` under the number it announces in
//! [`FD_ENV`], and returns the other end for a [`crate::broker::Broker`] to
//! serve. No other process inherits the child's end: it stays close-on-exec
//! in the parent and is made inheritable only inside the forked child.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::process::{Child, Command};

use nix::errno::Errno;
use thiserror::Error;

use crate::sys;
use crate::sys::msg::AdoptError;

/// The environment variable that tells a child its socket's descriptor number.
pub const FD_ENV: &str = "FDBROKER_FD";

/// Why the child's side could not take its inherited socket.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum InheritError {
    /// The environment does not name a socket.
    #[error("{FD_ENV} is not set")]
    NoEnv,
    /// The environment variable is not a descriptor number.
    #[error("{FD_ENV}={0:?} is not a descriptor number")]
    BadEnv(String),
    /// The descriptor is not an open `AF_UNIX` `SOCK_SEQPACKET` socket.
    #[error("descriptor is not an AF_UNIX SOCK_SEQPACKET socket: {0}")]
    NotSeqpacket(Errno),
    /// [`take_inherited`] already succeeded in this process.
    #[error("the {FD_ENV} descriptor is already owned")]
    AlreadyTaken,
}

/// The child's side of [`spawn`]: takes ownership of the socket whose number
/// is in [`FD_ENV`], after checking it is an `AF_UNIX` `SOCK_SEQPACKET`
/// socket (getsockopt(2) `SO_DOMAIN`, `SO_TYPE`), and marks it close-on-exec
/// so programs this child runs do not inherit it. Succeeds at most once per
/// process; a failed check leaves the descriptor open and untouched.
/// [`crate::client::Client::from_env`] uses it; call it directly to pass
/// descriptors yourself with [`crate::fdpass`].
///
/// ```
/// use fdbroker::launch::{take_inherited, InheritError, FD_ENV};
/// // Outside a child started by `spawn` there is nothing to take.
/// if std::env::var_os(FD_ENV).is_none() {
///     assert!(matches!(take_inherited(), Err(InheritError::NoEnv)));
/// }
/// ```
pub fn take_inherited() -> Result<OwnedFd, InheritError> {
    let value = std::env::var_os(FD_ENV).ok_or(InheritError::NoEnv)?;
    let text = value.to_string_lossy();
    let raw: i32 = text
        .parse()
        .map_err(|_| InheritError::BadEnv(text.clone().into_owned()))?;
    let fd = sys::msg::adopt_inherited_seqpacket(raw).map_err(|e| match e {
        AdoptError::AlreadyAdopted => InheritError::AlreadyTaken,
        AdoptError::Check(Errno::EBADF) => InheritError::BadEnv(text.into_owned()),
        AdoptError::Check(e) => InheritError::NotSeqpacket(e),
    })?;
    // F_SETFD on a descriptor just checked to be open cannot fail; if it did,
    // `fd` (now ours) is closed and stays adopted.
    nix::fcntl::fcntl(
        fd.as_fd(),
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )
    .map_err(InheritError::NotSeqpacket)?;
    Ok(fd)
}

/// Why a child could not be launched.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LaunchError {
    /// socketpair(2) or moving the child's end above stdio failed.
    #[error("cannot create the broker socketpair: {0}")]
    Socket(#[source] Errno),
    /// `Command::spawn` failed (program not found, not executable, ...).
    #[error("cannot start the child: {0}")]
    Spawn(#[source] std::io::Error),
}

/// Spawns `cmd` with one end of a new socketpair in [`FD_ENV`]; returns the
/// child and the broker's end.
///
/// Everything else about `cmd` (arguments, environment, stdio, other
/// `pre_exec` hooks) is the caller's. The child's end is closed in the parent
/// before this returns. Spawning the same `cmd` a second time fails (the
/// descriptor it named is gone), rather than handing the child a stray one.
///
/// ```no_run
/// use std::process::Command;
/// use fdbroker::launch;
///
/// let (mut child, conn) = launch::spawn(&mut Command::new("/usr/local/bin/parser"))?;
/// // serve `conn` with a Broker, then:
/// # drop(conn);
/// child.wait()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn spawn(cmd: &mut Command) -> Result<(Child, OwnedFd), LaunchError> {
    let (ours, theirs) = sys::msg::seqpacket_pair().map_err(LaunchError::Socket)?;
    let theirs = sys::spawn::above_stdio(theirs).map_err(LaunchError::Socket)?;
    cmd.env(FD_ENV, theirs.as_raw_fd().to_string());
    let guard = sys::spawn::inherit_once(cmd, theirs.as_fd());
    let spawned = cmd.spawn();
    // Disarm before `theirs` is closed and its number can be reused.
    drop(guard);
    drop(theirs);
    let child = spawned.map_err(LaunchError::Spawn)?;
    Ok((child, ours))
}
