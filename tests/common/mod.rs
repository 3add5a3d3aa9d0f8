//! Helpers shared by the integration tests. Each test crate uses a part of
//! them, so the rest is dead code (and an unused macro) there.
#![allow(dead_code, unused_macros)]

/// `ensure!(cond, "format", args...)`: returns `Err(message)` from the
/// enclosing case when `cond` is false.
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

pub mod tree;

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::Child;
use std::time::{Duration, Instant};

/// A fresh temporary directory, by its canonical path (as the broker
/// judges it), that every user may traverse: as root, `fdbroker run` runs
/// the program as `nobody`, and only the policy should decide what it
/// reaches.
pub fn scratch_dir() -> (tempfile::TempDir, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = std::fs::canonicalize(dir.path()).expect("canonical tempdir");
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (dir, root)
}

/// A [`scratch_dir`] with a policy file in it, `policy.toml`.
pub struct Scratch {
    _tmp: tempfile::TempDir,
    /// The directory, by its canonical path.
    pub root: std::path::PathBuf,
    /// `root/policy.toml`.
    pub policy: std::path::PathBuf,
}

impl Scratch {
    /// A new one, its policy the text `policy` makes for its root.
    pub fn new(policy: impl FnOnce(&std::path::Path) -> String) -> Scratch {
        let (tmp, root) = scratch_dir();
        let path = root.join("policy.toml");
        std::fs::write(&path, policy(&root)).expect("policy");
        Scratch {
            _tmp: tmp,
            root,
            policy: path,
        }
    }

    /// The absolute path of `rel` in it, as a string.
    pub fn p(&self, rel: &str) -> String {
        self.root.join(rel).display().to_string()
    }
}

/// Only a guard against a hung run: a stalled broker would hang forever.
pub const GUARD: Duration = Duration::from_secs(300);

/// What a run produced.
pub struct Out {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "status {:?}/signal {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.signal, self.stdout, self.stderr
        )
    }
}

/// Waits for `child` (spawned with piped stdout and stderr), collecting its
/// output; kills it if it outlives [`GUARD`].
pub fn finish(mut child: Child) -> Out {
    let mut so = child.stdout.take().expect("stdout");
    let mut se = child.stderr.take().expect("stderr");
    let t1 = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = so.read_to_end(&mut s);
        s
    });
    let t2 = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = se.read_to_end(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if start.elapsed() > GUARD {
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Out {
        code: status.code(),
        signal: status.signal(),
        stdout: String::from_utf8_lossy(&t1.join().unwrap_or_default()).into_owned(),
        stderr: String::from_utf8_lossy(&t2.join().unwrap_or_default()).into_owned(),
    }
}

/// Runs `cmd` with standard input on `/dev/null` and collects its output
/// ([`finish`]).
pub fn output(cmd: &mut std::process::Command) -> Out {
    use std::process::Stdio;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    finish(cmd.spawn().expect("spawn"))
}

/// A fresh scratch directory, by its canonical path, that the
/// unprivileged user a sandboxed program runs as can traverse.
pub fn scratch() -> (tempfile::TempDir, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = std::fs::canonicalize(dir.path()).expect("canonical tempdir");
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (dir, root)
}

/// One case of a `harness = false` suite: its name, the case, and whether it
/// needs the kernel features `fdbroker run` needs.
pub type Case<T> = (&'static str, fn(&T) -> Result<(), String>, bool);

/// Runs `cases`, each on a fresh `fixture()`, printing `ok`/`skip`/`FAIL`
/// lines and `N passed, M failed`; exits 1 when any failed. Arguments not
/// starting with `-` select cases by name. A case that needs the kernel is
/// skipped with `ready`'s reason, but fails under `FDBROKER_REQUIRE_KERNEL=1`.
pub fn run_cases<T>(cases: &[Case<T>], ready: Result<(), String>, fixture: impl Fn() -> T) {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let require = std::env::var("FDBROKER_REQUIRE_KERNEL").as_deref() == Ok("1");
    let (mut passed, mut failed) = (0, 0);
    for (name, case, needs_kernel) in cases {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        if *needs_kernel && let Err(reason) = &ready {
            if require {
                println!(
                    "FAIL {name}: kernel lacks a feature and FDBROKER_REQUIRE_KERNEL=1: {reason}"
                );
                failed += 1;
            } else {
                println!("skip {name}: {reason}");
            }
            continue;
        }
        match case(&fixture()) {
            Ok(()) => {
                println!("ok   {name}");
                passed += 1;
            }
            Err(e) => {
                println!("FAIL {name}: {e}");
                failed += 1;
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}

/// Whether `fdbroker run` can give the sandbox a PID namespace here: as
/// root always, otherwise where unprivileged user namespaces are allowed.
pub fn pid_namespace_expected() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    let is = |p: &str, v: &str| std::fs::read_to_string(p).is_ok_and(|s| s.trim() == v);
    !(is("/proc/sys/user/max_user_namespaces", "0")
        || is("/proc/sys/kernel/unprivileged_userns_clone", "0")
        || is(
            "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
            "1",
        ))
}

/// Pids of the processes one of whose arguments is `arg`.
pub fn processes_with_arg(arg: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .unwrap_or_default()
                .split(|&b| b == 0)
                .any(|a| a == arg.as_bytes())
        })
        .collect()
}

/// A request as the socketpair protocol puts it on the wire: the header
/// fields in wire order, then `path`. Written out here, not taken from
/// `fdbroker::protocol`, so that the tests check the broker against the
/// documented format (docs/protocol.md) rather than against itself.
#[allow(clippy::too_many_arguments)] // one argument per header field, in wire order
pub fn raw_request(
    version: u16,
    op: u16,
    id: u32,
    flags: i32,
    mode: u32,
    path_len: u32,
    reserved: u32,
    path: &[u8],
) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&version.to_ne_bytes());
    v.extend_from_slice(&op.to_ne_bytes());
    v.extend_from_slice(&id.to_ne_bytes());
    v.extend_from_slice(&flags.to_ne_bytes());
    v.extend_from_slice(&mode.to_ne_bytes());
    v.extend_from_slice(&path_len.to_ne_bytes());
    v.extend_from_slice(&reserved.to_ne_bytes());
    v.extend_from_slice(path);
    v
}
