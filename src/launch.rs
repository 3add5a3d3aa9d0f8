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

/// The environment variable that tells a child its socket's descriptor number.
pub const FD_ENV: &str = "FDBROKER_FD";

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
