//! The classic demo, done right: a parent passes files it has already opened
//! to a confined reader over a socketpair.
//!
//! ```text
//! cargo run --example pass_open_files [-- FILE...]
//! ```
//!
//! The reader is this program started again with one end of a
//! `SOCK_SEQPACKET` socketpair (no socket path in `/tmp` that anyone could
//! bind first). It confines itself before it receives anything, so the
//! descriptors the parent sends are its only way to any file. Every
//! descriptor is owned from the moment it arrives and closed when done;
//! truncated records or stray descriptors are errors, not silent losses.

use std::io::Read;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use fdbroker::{confine, fdpass, launch};

const ROLE: &str = "FDBROKER_EXAMPLE_ROLE";
/// Each record names one file and carries its descriptor.
const MAX_NAME: usize = 4096;

fn main() -> ExitCode {
    let result = match std::env::var(ROLE).as_deref() {
        Ok("reader") => reader(),
        _ => parent(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pass_open_files: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn parent() -> anyhow::Result<()> {
    let mut files: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if files.is_empty() {
        let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/data");
        files = vec![data.join("orders.csv"), PathBuf::from("/etc/os-release")];
    }
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.env(ROLE, "reader");
    let (mut child, sock) = launch::spawn(&mut cmd)?;
    for path in &files {
        let file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
        let name = path.as_os_str().as_encoded_bytes();
        if name.len() > MAX_NAME {
            bail!("{}: name too long to send", path.display());
        }
        fdpass::send(&sock, name, &[file.as_fd()])?;
        // `file` closes here: the reader holds its own copy.
    }
    // Closing our end tells the reader there is nothing more.
    drop(sock);
    let status = child.wait()?;
    if !status.success() {
        bail!("reader failed: {status}");
    }
    Ok(())
}

fn reader() -> anyhow::Result<()> {
    let sock = launch::take_inherited()?;
    confine::confine_self()?;
    // From here on this process can open nothing: prove it.
    if std::fs::File::open("/etc/os-release").is_ok() {
        bail!("confinement failed: the reader opened a file itself");
    }
    let mut buf = [0u8; MAX_NAME];
    loop {
        let msg = match fdpass::recv(&sock, &mut buf, 1) {
            Ok(m) => m,
            Err(fdpass::FdPassError::Closed) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let name = String::from_utf8_lossy(&buf[..msg.len]).into_owned();
        let Some(fd) = msg.fds.into_iter().next() else {
            bail!("record for {name} carried no descriptor");
        };
        let mut text = String::new();
        std::fs::File::from(fd).read_to_string(&mut text)?;
        let first = text.lines().next().unwrap_or("");
        println!(
            "reader: {name}: {} lines, {} bytes; first line: {first}",
            text.lines().count(),
            text.len()
        );
    }
}
