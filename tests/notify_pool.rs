//! The threads answering `fdbroker run`'s notifications (`src/notify/pool.rs`,
//! `Pool`): normally a single receiver answers every call itself, so these
//! cases check what that design must still guarantee:
//!
//! - a call that blocks in the broker (opening a FIFO nobody writes to) does
//!   not stall the sandbox's other calls: a second receiver takes over;
//! - many processes and threads calling at once all get their answers, none
//!   lost and none failed;
//! - a program that sleeps or computes costs the broker no wake-up, and one
//!   that makes a call now and then a few wake-ups per call, not a timer's;
//! - a program calling alone wakes one receiver per call, and several
//!   processes calling at once get four receivers per CPU.
//!
//! `harness = false`: prints `N passed, M failed`. Cases skip (with the
//! reason) on a kernel without Landlock or seccomp user notification, unless
//! `FDBROKER_REQUIRE_KERNEL=1`.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{Case, Out};

const FDBROKER: &str = env!("CARGO_BIN_EXE_fdbroker");

/// `fdbroker run --policy POLICY -- python3 -c SCRIPT ARGS...`, killed after
/// [`common::GUARD`].
fn run_python(policy: &Path, script: &str, args: &[&str]) -> Out {
    common::output(
        Command::new(FDBROKER)
            .args(["run", "--quiet", "--policy"])
            .arg(policy)
            .args(["--", "/usr/bin/python3", "-c", script])
            .args(args)
            .current_dir("/")
            .env_remove("LD_LIBRARY_PATH"),
    )
}

/// A directory the sandboxed user may traverse, with `plain.txt`, and a
/// policy for python3 reading and writing in it.
type Dir = common::Scratch;

fn dir() -> Dir {
    let d = Dir::new(|root| {
        format!(
            "version = 1\ninclude = [\"{}/policies/examples/include/python3.toml\"]\n\n\
             [[allow]]\npaths = [\"{root}/**\"]\naccess = [\"read\", \"write\"]\n",
            env!("CARGO_MANIFEST_DIR"),
            root = root.display()
        )
    });
    fs::write(d.root.join("plain.txt"), "plain\n").expect("write");
    d
}

type R = Result<(), String>;

/// Thread 1 opens a FIFO for reading: the broker's open blocks until a
/// writer comes. Meanwhile thread 2 opens a plain file 50 times, then opens
/// the FIFO for writing, which releases thread 1. With a single receiver
/// stuck in the first open, thread 2 would wait forever.
fn a_blocked_open_does_not_stall_other_calls(d: &Dir) -> R {
    let fifo = d.root.join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o666))
        .map_err(|e| format!("mkfifo: {e}"))?;
    let script = r#"
import os, sys, threading, time
fifo, plain = sys.argv[1], sys.argv[2]
got = {}
def reader():
    fd = os.open(fifo, os.O_RDONLY)  # blocks in the broker: no writer yet
    got["data"] = os.read(fd, 16)
    os.close(fd)
t = threading.Thread(target=reader)
t.start()
time.sleep(0.3)  # let the reader's open reach the broker and block there
for _ in range(50):
    os.close(os.open(plain, os.O_RDONLY))
print("plain opens done", flush=True)
w = os.open(fifo, os.O_WRONLY)
os.write(w, b"through")
os.close(w)
t.join()
print("reader got", got.get("data"), flush=True)
"#;
    let o = run_python(&d.policy, script, &[&d.p("fifo"), &d.p("plain.txt")]);
    if o.code != Some(0)
        || !o.stdout.contains("plain opens done")
        || !o.stdout.contains("reader got b'through'")
    {
        return Err(format!("{o:?}"));
    }
    Ok(())
}

/// 8 processes of 4 threads each open and stat a file 300 times each, all
/// at once: every call is answered, correctly.
fn concurrent_callers_are_all_answered(d: &Dir) -> R {
    let script = r#"
import os, sys, threading
plain = sys.argv[1]
def work(errors):
    for _ in range(300):
        try:
            fd = os.open(plain, os.O_RDONLY)
            if os.read(fd, 5) != b"plain":
                errors.append("bad content")
            os.close(fd)
            os.stat(plain)
        except OSError as e:
            errors.append(str(e))
pids = []
for _ in range(8):
    pid = os.fork()
    if pid == 0:
        errors = []
        ts = [threading.Thread(target=work, args=(errors,)) for _ in range(4)]
        for t in ts: t.start()
        for t in ts: t.join()
        os._exit(1 if errors else 0)
    pids.append(pid)
failed = sum(1 for p in pids if os.waitpid(p, 0)[1] != 0)
print("failed processes:", failed, flush=True)
sys.exit(1 if failed else 0)
"#;
    let o = run_python(&d.policy, script, &[&d.p("plain.txt")]);
    if o.code != Some(0) || !o.stdout.contains("failed processes: 0") {
        return Err(format!("{o:?}"));
    }
    Ok(())
}

/// `fdbroker run --policy POLICY -- python3 -c SCRIPT plain.txt`, its
/// standard output piped and standard input `stdin`.
fn spawn_python(d: &Dir, script: &str, stdin: Stdio) -> Result<std::process::Child, String> {
    Command::new(FDBROKER)
        .args(["run", "--quiet", "--policy"])
        .arg(&d.policy)
        .args(["--", "/usr/bin/python3", "-c", script])
        .arg(d.p("plain.txt"))
        .current_dir("/")
        .env_remove("LD_LIBRARY_PATH")
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| e.to_string())
}

/// [`spawn_python`] with its standard input and output piped to the test,
/// which tells the script when to go on.
fn spawn_talking(
    d: &Dir,
    script: &str,
) -> Result<
    (
        std::process::Child,
        std::process::ChildStdin,
        std::process::ChildStdout,
    ),
    String,
> {
    let mut child = spawn_python(d, script, Stdio::piped())?;
    match (child.stdin.take(), child.stdout.take()) {
        (Some(stdin), Some(stdout)) => Ok((child, stdin, stdout)),
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            Err("no stdin or stdout".into())
        }
    }
}

/// The voluntary context switches of every thread of process `pid` so far:
/// how often its threads blocked, i.e. were woken again.
fn wake_ups(pid: u32) -> Result<u64, String> {
    let mut total = 0;
    let tasks = fs::read_dir(format!("/proc/{pid}/task")).map_err(|e| format!("task: {e}"))?;
    for task in tasks {
        let status = fs::read_to_string(task.map_err(|e| e.to_string())?.path().join("status"))
            .unwrap_or_default();
        total += status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    Ok(total)
}

/// After a burst of calls the program sleeps 1.5 s, then computes for 1 s:
/// over 2.2 s of that the broker's threads wake (almost) never. Then it
/// makes one call every 100 ms: a few wake-ups per call (the receiver, the
/// monitor watching the call), not a tick every few milliseconds.
fn a_quiet_program_costs_no_wake_ups(d: &Dir) -> R {
    use std::io::BufRead;
    let script = r#"
import os, sys, time
plain = sys.argv[1]
for _ in range(200):
    os.stat(plain)
print("quiet", flush=True)
time.sleep(1.5)
end = time.time() + 1.0
while time.time() < end:
    pass
print("calls", flush=True)
for _ in range(10):
    os.stat(plain)
    time.sleep(0.1)
print("done", flush=True)
time.sleep(0.2)
"#;
    let mut child = spawn_python(d, script, Stdio::null())?;
    let broker = child.id();
    let Some(stdout) = child.stdout.take() else {
        return Err("no stdout".into());
    };
    let mut lines = std::io::BufReader::new(stdout).lines();
    let mut wait_for = |want: &str| -> R {
        match lines.next() {
            Some(Ok(line)) if line == want => Ok(()),
            other => Err(format!("expected {want:?}, got {other:?}")),
        }
    };
    let measured = (|| -> Result<(u64, u64), String> {
        wait_for("quiet")?;
        let start = wake_ups(broker)?;
        std::thread::sleep(std::time::Duration::from_millis(2200));
        let quiet = wake_ups(broker)? - start;
        wait_for("calls")?;
        let start = wake_ups(broker)?;
        wait_for("done")?;
        Ok((quiet, wake_ups(broker)? - start))
    })();
    if measured.is_err() {
        let _ = child.kill();
    }
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().map_err(|e| e.to_string())?;
    let (quiet, calls) = measured.map_err(|e| format!("{e}; then {rest:?}, {status}"))?;
    if !status.success() {
        return Err(format!("{status}; output {rest:?}"));
    }
    // A 2 ms tick would be about 1100 and 500.
    if quiet > 5 || calls > 70 {
        return Err(format!(
            "broker wake-ups: {quiet} in 2.2 s without calls (at most 5), \
             {calls} for 10 calls 100 ms apart (at most 70)"
        ));
    }
    Ok(())
}

/// A burst of 2000 calls from one program wakes the broker's threads at
/// most about once per call: its calls are answered by one receiver, not by
/// several each woken for every call (the kernel wakes every thread blocked
/// in RECV: with two receivers there, 3660 wake-ups here).
fn a_call_wakes_one_receiver(d: &Dir) -> R {
    use std::io::{BufRead, Write};
    let script = r#"
import os, sys
plain = sys.argv[1]
print("ready", flush=True)
sys.stdin.readline()
for _ in range(2000):
    os.stat(plain)
print("done", flush=True)
sys.stdin.readline()
"#;
    let (mut child, mut stdin, stdout) = spawn_talking(d, script)?;
    let broker = child.id();
    let mut lines = std::io::BufReader::new(stdout).lines();
    let mut step = |want: &str| -> R {
        match lines.next() {
            Some(Ok(line)) if line == want => Ok(()),
            other => Err(format!("expected {want:?}, got {other:?}")),
        }
    };
    let measured = (|| -> Result<u64, String> {
        step("ready")?;
        let start = wake_ups(broker)?;
        writeln!(stdin).map_err(|e| e.to_string())?;
        step("done")?;
        let woken = wake_ups(broker)? - start;
        writeln!(stdin).map_err(|e| e.to_string())?;
        Ok(woken)
    })();
    if measured.is_err() {
        let _ = child.kill();
    }
    drop(stdin);
    let status = child.wait().map_err(|e| e.to_string())?;
    let woken = measured?;
    if !status.success() {
        return Err(format!("{status}"));
    }
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    println!("    {woken} broker wake-ups for 2000 calls ({cpus} CPUs)");
    // Measured on 2 CPUs: 30-70 (one receiver); 1600-1950 with a receiver
    // per CPU waiting with EPOLLEXCLUSIVE; 3660 with two blocked in RECV.
    if woken > 2800 {
        return Err(format!(
            "{woken} broker wake-ups for 2000 calls: more than 1.4 per call"
        ));
    }
    Ok(())
}

/// The broker's receiver threads, parked ones included: its threads named
/// `fdbroker-notify-N`, less the monitor (`fdbroker-notify-monitor`); the
/// kernel keeps 15 bytes of a name, `fdbroker-notify` for all of them.
fn receiver_threads(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/task"))
        .map(|tasks| {
            tasks
                .filter_map(Result::ok)
                .filter_map(|t| fs::read_to_string(t.path().join("comm")).ok())
                .filter(|name| name.trim() == "fdbroker-notify")
                .count()
                .saturating_sub(1)
        })
        .unwrap_or(0)
}

/// Four processes calling at once: the broker spreads its receivers over
/// the CPUs (four per CPU, at most 16: a receiver waiting for its caller
/// then does not hold up the next call); with a single receiver it would
/// serve them one call at a time. On one CPU there is nothing to spread
/// over.
/// (The wake-ups are printed, not bounded: on two busy CPUs receivers
/// blocked in RECV, all woken for every call, measured the same as the
/// exclusive waits, as the receivers are rarely idle.)
fn interleaved_callers_spread_over_the_cpus(d: &Dir) -> R {
    use std::io::{BufRead, Write};
    let script = r#"
import os, sys
plain = sys.argv[1]
print("ready", flush=True)
sys.stdin.readline()
kids = []
for _ in range(4):
    pid = os.fork()
    if pid == 0:
        for _ in range(3000):
            os.stat(plain)
        os._exit(0)
    kids.append(pid)
for pid in kids:
    os.waitpid(pid, 0)
print("done", flush=True)
sys.stdin.readline()
"#;
    let (mut child, mut stdin, stdout) = spawn_talking(d, script)?;
    let broker = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next = |want: &str| -> R {
        match rx.recv_timeout(common::GUARD) {
            Ok(line) if line == want => Ok(()),
            other => Err(format!("expected {want:?}, got {other:?}")),
        }
    };
    let measured = (|| -> Result<(u64, usize), String> {
        next("ready")?;
        let start = wake_ups(broker)?;
        writeln!(stdin).map_err(|e| e.to_string())?;
        let mut most = 0;
        loop {
            most = most.max(receiver_threads(broker));
            match rx.recv_timeout(std::time::Duration::from_millis(5)) {
                Ok(line) if line == "done" => break,
                Ok(line) => return Err(format!("unexpected {line:?}")),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        let woken = wake_ups(broker)? - start;
        writeln!(stdin).map_err(|e| e.to_string())?;
        Ok((woken, most))
    })();
    if measured.is_err() {
        let _ = child.kill();
    }
    drop(stdin);
    let status = child.wait().map_err(|e| e.to_string())?;
    let _ = reader.join();
    let (woken, most) = measured?;
    if !status.success() {
        return Err(format!("{status}"));
    }
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    println!("    {most} receivers at most, {woken} broker wake-ups for 12000 calls ({cpus} CPUs)");
    let spread = (cpus * 4).min(16);
    if cpus > 1 && most < spread {
        return Err(format!(
            "{most} receiver(s) for four processes calling at once on {cpus} CPUs \
             (want {spread})"
        ));
    }
    Ok(())
}

/// `Err(reason)` when this kernel cannot run `fdbroker run`.
fn kernel_ready(d: &Dir) -> Result<(), String> {
    let o = run_python(&d.policy, "pass", &[]);
    if o.code == Some(125) && o.stderr.contains("refusing to run unconfined") {
        return Err(o.stderr.trim().to_string());
    }
    Ok(())
}

/// The role this binary plays when re-executed: a sandbox whose judge has a
/// bug (it panics on one path), serving `/bin/sh` asking for that path.
const ROLE: &str = "FDBROKER_NOTIFY_POOL_ROLE";
const PANIC_PATH: &str = "/panic/here";

/// Allows what `policy` allows, but panics on [`PANIC_PATH`].
struct Buggy(fdbroker::policy::Policy);

impl fdbroker::policy::Judge for Buggy {
    fn decide(&self, path: &Path, access: fdbroker::policy::Access) -> fdbroker::policy::Decision {
        assert!(path != Path::new(PANIC_PATH), "a bug in the judge");
        self.0.decide(path, access)
    }
}

/// Runs in a fresh process (single-threaded at the fork `Sandbox::run` makes).
fn buggy_sandbox_role(policy: &Path) -> i32 {
    let policy = match fdbroker::policy::Policy::from_file(policy) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("policy: {e}");
            return 125;
        }
    };
    let judge = std::sync::Arc::new(Buggy(policy.clone()));
    let script = format!("cat {PANIC_PATH}; echo \"cat said $?\"");
    let sandbox =
        fdbroker::sandbox::Sandbox::new(policy, "/bin/sh", ["-c", script.as_str()]).judge(judge);
    match sandbox.run() {
        Ok(status) => i32::from(status.exit_code()),
        Err(e) => {
            eprintln!("sandbox: {e}");
            i32::from(e.exit_code())
        }
    }
}

/// A panic while answering one call answers it with `EIO`: the program goes
/// on instead of waiting forever for an answer nobody will send.
fn a_panicking_handler_answers_eio(d: &Dir) -> R {
    let policy = d.root.join("shell.toml");
    fs::write(
        &policy,
        format!(
            "version = 1\ninclude = [\"{}/policies/examples/include/shell-tools.toml\"]\n",
            env!("CARGO_MANIFEST_DIR")
        ),
    )
    .map_err(|e| e.to_string())?;
    let child = Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
        .env(ROLE, &policy)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let o = common::finish(child);
    if o.code.is_none() {
        return Err(format!(
            "hung or killed: the panicking call was never answered\n{o:?}"
        ));
    }
    if o.code != Some(0)
        || !o.stdout.contains("cat said 1")
        || !o.stderr.contains("Input/output error")
    {
        return Err(format!("{o:?}"));
    }
    Ok(())
}

fn main() {
    if let Some(policy) = std::env::var_os(ROLE) {
        std::process::exit(buggy_sandbox_role(Path::new(&policy)));
    }
    let cases: &[Case<Dir>] = &[
        (
            "a_panicking_handler_answers_eio",
            a_panicking_handler_answers_eio,
            true,
        ),
        (
            "a_blocked_open_does_not_stall_other_calls",
            a_blocked_open_does_not_stall_other_calls,
            true,
        ),
        (
            "concurrent_callers_are_all_answered",
            concurrent_callers_are_all_answered,
            true,
        ),
        (
            "a_quiet_program_costs_no_wake_ups",
            a_quiet_program_costs_no_wake_ups,
            true,
        ),
        ("a_call_wakes_one_receiver", a_call_wakes_one_receiver, true),
        (
            "interleaved_callers_spread_over_the_cpus",
            interleaved_callers_spread_over_the_cpus,
            true,
        ),
    ];
    let ready = kernel_ready(&dir());
    common::run_cases(cases, ready, dir);
}
