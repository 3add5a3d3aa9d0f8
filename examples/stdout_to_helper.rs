//! The second classic demo, done right: a child hands its standard output to
//! a helper, which then writes onto it.
//!
//! ```text
//! cargo run --example stdout_to_helper
//! ```
//!
//! The helper is the parent here. It starts the child with its stdout on a
//! pipe it keeps reading, and one end of a `SOCK_SEQPACKET` socketpair in
//! `FDBROKER_FD`. The child confines itself (it needs no file of its own),
//! sends descriptor 1 to the helper and exits. The helper writes its message
//! onto the received descriptor directly — it does not `dup2` it over its
//! own stdout, which would silently close its own — and then shows that the
//! message came out of the child's stdout.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context, bail};
use fdbroker::{confine, fdpass, launch};

const ROLE: &str = "FDBROKER_EXAMPLE_ROLE";
const MESSAGE: &str = "written by the helper, on the child's stdout";

fn main() -> ExitCode {
    let result = match std::env::var(ROLE).as_deref() {
        Ok("child") => child(),
        _ => helper(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stdout_to_helper: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn helper() -> anyhow::Result<()> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.env(ROLE, "child").stdout(Stdio::piped());
    let (mut child, sock) = launch::spawn(&mut cmd)?;
    let mut child_stdout = child.stdout.take().context("child stdout")?;

    let mut buf = [0u8; 64];
    let msg = fdpass::recv(&sock, &mut buf, 1)?;
    if &buf[..msg.len] != b"stdout" {
        bail!(
            "unexpected record {:?}",
            String::from_utf8_lossy(&buf[..msg.len])
        );
    }
    let fd = msg.fds.into_iter().next().context("no descriptor came")?;
    let mut theirs = std::fs::File::from(fd);
    writeln!(theirs, "{MESSAGE}")?;
    // Our copy closes here; with the child gone too, the pipe reaches EOF.
    drop(theirs);

    let status = child.wait()?;
    let mut out = String::new();
    child_stdout.read_to_string(&mut out)?;
    print!("child's stdout carried:\n{out}");
    if !status.success() {
        bail!("child failed: {status}");
    }
    if !out.contains(MESSAGE) {
        bail!("the helper's message did not reach the child's stdout");
    }
    Ok(())
}

fn child() -> anyhow::Result<()> {
    let sock = launch::take_inherited()?;
    confine::confine_self()?;
    println!("child: sending my stdout to the helper");
    std::io::stdout().flush()?;
    let stdout = std::io::stdout();
    fdpass::send(&sock, b"stdout", &[stdout.as_fd()])?;
    Ok(())
}
