//! Which file `fdbroker run` executes: `PROGRAM` looked up like execvp(3),
//! and the interpreters the kernel opens to run it (`#!` lines and ELF
//! `PT_INTERP`, parsed by [`crate::binfmt`]), which Landlock must let it
//! execute too.

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::SandboxError;
use crate::binfmt::{elf_interpreter, shebang_interpreter};

/// Why a program that exists cannot be executed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Unusable {
    /// It is a directory.
    #[error("is a directory")]
    Directory,
    /// It is not a regular file with an execute permission bit.
    #[error("Permission denied")]
    NotExecutable,
    /// It could not be examined.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The program to execute: the path given to execve and its canonical path.
#[derive(Debug)]
pub(super) struct Program {
    pub(super) exec_path: PathBuf,
    pub(super) canonical: PathBuf,
}

/// Looks `program` up like execvp(3): a name with a `/` is used as is,
/// anything else is searched in `PATH` (default `/usr/local/bin:/usr/bin:/bin`).
/// The first regular file with an execute bit wins; when there is none, but
/// something by that name exists, it cannot be executed (126), else it is not
/// found (127).
pub(super) fn find_program(program: &OsStr) -> Result<Program, SandboxError> {
    let candidates: Vec<PathBuf> = if program.as_bytes().contains(&b'/') {
        vec![PathBuf::from(program)]
    } else if program.is_empty() {
        vec![]
    } else {
        let path =
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
        std::env::split_paths(&path)
            .map(|dir| {
                if dir.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    dir
                }
            })
            .map(|dir| dir.join(program))
            .collect()
    };
    let mut unusable: Option<(PathBuf, Unusable)> = None;
    for c in candidates {
        match std::fs::metadata(&c) {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => {
                let canonical =
                    std::fs::canonicalize(&c).map_err(|e| SandboxError::NotExecutable {
                        path: c.clone(),
                        reason: e.into(),
                    })?;
                return Ok(Program {
                    exec_path: c,
                    canonical,
                });
            }
            Ok(m) => {
                let reason = if m.is_dir() {
                    Unusable::Directory
                } else {
                    Unusable::NotExecutable
                };
                unusable.get_or_insert((c, reason));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                unusable.get_or_insert((c, e.into()));
            }
        }
    }
    match unusable {
        Some((path, reason)) => Err(SandboxError::NotExecutable { path, reason }),
        None => Err(SandboxError::NotFound(program.to_os_string())),
    }
}

/// What `fdbroker run` always lets `program` (as given on the command
/// line, looked up in `PATH` like execvp(3)) execute: its canonical path and
/// its interpreters (`#!` lines, recursively, and the ELF `PT_INTERP`).
pub fn program_and_interpreters(program: &OsStr) -> Result<Vec<PathBuf>, SandboxError> {
    Ok(interpreter_chain(&find_program(program)?.canonical))
}

/// `program` (canonical) and, recursively, the interpreters the
/// kernel opens to run it (`#!` lines, ELF `PT_INTERP`), canonical: all of
/// them need Landlock's `Execute` and `ReadFile`.
pub(super) fn interpreter_chain(program: &Path) -> Vec<PathBuf> {
    let mut out = vec![program.to_path_buf()];
    let mut current = program.to_path_buf();
    // The kernel follows at most 4 levels of interpreters (binfmt).
    for _ in 0..5 {
        let mut head = vec![0u8; 64 * 1024];
        let Ok(mut f) = std::fs::File::open(&current) else {
            break;
        };
        let mut len = 0;
        while len < head.len() {
            match f.read(&mut head[len..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => len += n,
            }
        }
        head.truncate(len);
        let next = shebang_interpreter(&head).or_else(|| elf_interpreter(&head));
        let Some(next) = next else { break };
        let Ok(canon) = std::fs::canonicalize(Path::new(OsStr::from_bytes(next))) else {
            break;
        };
        if out.contains(&canon) {
            break;
        }
        out.push(canon.clone());
        current = canon;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpreter_chain_of_sh() {
        let sh = std::fs::canonicalize("/bin/sh").unwrap();
        let chain = interpreter_chain(&sh);
        assert_eq!(chain[0], sh);
        assert!(chain.len() == 2, "{chain:?}");
        assert!(chain[1].to_string_lossy().contains("ld-linux"), "{chain:?}");
    }

    #[test]
    fn unusable_programs_say_why() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes");
        std::fs::write(&text, "").unwrap();
        for (path, reason) in [
            (dir.path(), "is a directory"),
            (&*text, "Permission denied"),
        ] {
            let e = find_program(path.as_os_str()).unwrap_err();
            assert!(
                matches!(&e, SandboxError::NotExecutable { .. }) && e.exit_code() == 126,
                "{e:?}"
            );
            assert_eq!(
                e.to_string(),
                format!("{}: cannot execute: {reason}", path.display())
            );
        }
        let e = find_program(OsStr::new("no-such-program-of-fdbroker")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no-such-program-of-fdbroker: command not found"
        );
        assert_eq!(e.exit_code(), 127);
    }
}
