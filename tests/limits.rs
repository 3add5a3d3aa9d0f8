//! `fdbroker run`'s resource limits against hostile programs
//! (`tests/limits/hostile.c`, compiled here with gcc): a memory balloon, a
//! CPU spin, sleepers (one deaf to SIGTERM and SIGHUP), a fork bomb, a file
//! bomb, a descriptor flood. Each is run without the limit first (it does
//! exceed the bound), then with it, from the command line and from a
//! policy's `[limits]`, in both ways fdbroker runs: as root with the program
//! as nobody (cgroups, where this machine has them) and as an ordinary user
//! (rlimits), with the bound each mechanism guarantees checked.
//!
//! `harness = false`, like tests/run.rs: main() runs every case in turn.
//! Under `FDBROKER_REQUIRE_KERNEL=1` a missing kernel feature fails, and
//! root must get cgroups for memory, processes and CPU time.

#[macro_use]
mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Case, Out, finish};
use serde_json::Value;

const FDBROKER: &str = env!("CARGO_BIN_EXE_fdbroker");
const NOBODY: u32 = 65534;
const ROLE_ENV: &str = "FDBROKER_LIMITS_TEST_ROLE";

/// What every case shares: the hostile program and a copy of fdbroker
/// where the unprivileged user can execute both.
struct Bin {
    _dir: tempfile::TempDir,
    hostile: String,
    fdbroker: String,
    /// This test binary, for its roles.
    me: String,
    /// Whether root's runs get cgroups (memory, pids, cpu).
    root_cgroups: bool,
    /// Whether the unprivileged user's do (a delegated cgroup v2 subtree).
    user_cgroups: bool,
}

/// How fdbroker is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// As the test runs (root in CI: the program then runs as nobody).
    Root,
    /// As nobody, when the test runs as root; else as the test's own user.
    User,
}

/// Where the limits come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Cli,
    Policy,
}

/// Each case's scratch tree: `out/` writable by anyone, a policy.
struct Fixture<'a> {
    bin: &'a Bin,
    _dir: tempfile::TempDir,
    root: PathBuf,
}

type R = Result<(), String>;

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

impl Bin {
    fn new() -> Bin {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
        let hostile = dir.path().join("hostile");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/limits/hostile.c");
        let gcc = Command::new("/usr/bin/gcc")
            .args(["-O1", "-Wall", "-Werror", "-o"])
            .arg(&hostile)
            .arg(&src)
            .status()
            .expect("run gcc");
        assert!(gcc.success(), "gcc failed on {}", src.display());
        // fdbroker's own build directory may not be reachable by nobody.
        let fdbroker = dir.path().join("fdbroker");
        fs::copy(FDBROKER, &fdbroker).expect("copy fdbroker");
        fs::set_permissions(&fdbroker, fs::Permissions::from_mode(0o755)).expect("chmod");
        let me = dir.path().join("limits-test");
        fs::copy(std::env::current_exe().expect("current_exe"), &me).expect("copy test");
        fs::set_permissions(&me, fs::Permissions::from_mode(0o755)).expect("chmod");
        let mut bin = Bin {
            hostile: hostile.display().to_string(),
            fdbroker: fdbroker.display().to_string(),
            me: me.display().to_string(),
            _dir: dir,
            root_cgroups: false,
            user_cgroups: false,
        };
        let f = Fixture::new(&bin);
        let cgroups = |who| {
            let line = verbose_line(&f, who, &[]);
            [
                "--memory 64M: cgroup",
                "--max-processes 8: cgroup",
                "--cpu-time 1s: cgroup",
            ]
            .iter()
            .all(|m| line.contains(m))
        };
        let (root, user) = (cgroups(Who::Root), cgroups(Who::User));
        bin.root_cgroups = root;
        bin.user_cgroups = user;
        bin
    }

    /// Whether `who`'s runs get cgroups.
    fn cgroups(&self, who: Who) -> bool {
        match who {
            Who::Root => self.root_cgroups,
            Who::User => self.user_cgroups,
        }
    }
}

impl Fixture<'_> {
    fn new(bin: &Bin) -> Fixture<'_> {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = fs::canonicalize(dir.path()).expect("canonical tempdir");
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).expect("chmod");
        fs::create_dir(root.join("out")).expect("mkdir");
        fs::set_permissions(root.join("out"), fs::Permissions::from_mode(0o777)).expect("chmod");
        Fixture {
            bin,
            _dir: dir,
            root,
        }
    }

    fn out(&self, name: &str) -> String {
        self.root.join("out").join(name).display().to_string()
    }

    /// A policy for the hostile programs, with `limits` as its `[limits]`
    /// lines.
    fn policy(&self, limits: &str) -> String {
        let text = format!(
            "version = 1\nprofiles = [\"runtime\"]\n\n[[allow]]\npaths = [\"{out}\", \"{out}/**\"]\n\
             access = [\"read\", \"write\", \"create\"]\n\n[limits]\n{limits}\n",
            out = self.root.join("out").display()
        );
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = self.root.join(format!("policy-{n}.toml"));
        fs::write(&path, text).expect("write policy");
        path.display().to_string()
    }

    fn hostile(&self) -> &str {
        &self.bin.hostile
    }
}

/// `fdbroker run` as `who`, with `limits` given `via` the command line or
/// the policy (`--memory 64M` becomes `memory = "64M"`), then `extra`
/// options, then the program. Also how long it took.
fn run(
    f: &Fixture<'_>,
    who: Who,
    via: Via,
    limits: &[(&str, &str)],
    extra: &[&str],
    program: &[&str],
) -> (Out, Duration) {
    let mut cmd = Command::new(&f.bin.fdbroker);
    cmd.arg("run");
    match via {
        Via::Cli => {
            cmd.args(["--policy", &f.policy("")]);
            for (option, value) in limits {
                cmd.args([format!("--{}", option.replace('_', "-")).as_str(), value]);
            }
        }
        Via::Policy => {
            let lines: Vec<String> = limits
                .iter()
                .map(|(k, v)| format!("{} = \"{v}\"", k.replace('-', "_")))
                .collect();
            cmd.args(["--policy", &f.policy(&lines.join("\n"))]);
        }
    }
    cmd.args(extra).arg("--").args(program);
    cmd.current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("LD_LIBRARY_PATH");
    if who == Who::User && is_root() {
        cmd.uid(NOBODY).gid(NOBODY);
    }
    let start = Instant::now();
    let out = finish(cmd.spawn().expect("spawn fdbroker"));
    (out, start.elapsed())
}

/// fdbroker's `--verbose` line for the limits every case uses.
fn verbose_line(f: &Fixture<'_>, who: Who, extra: &[&str]) -> String {
    let (o, _) = run(
        f,
        who,
        Via::Cli,
        &[
            ("memory", "64M"),
            ("max-processes", "8"),
            ("cpu-time", "1"),
            ("timeout", "30"),
            ("max-file-size", "1M"),
            ("max-open-files", "16"),
        ],
        &[&["--verbose"], extra].concat(),
        &["/bin/true"],
    );
    o.stderr
        .lines()
        .find(|l| l.starts_with("fdbroker: limits:"))
        .unwrap_or_default()
        .to_string()
}

/// The `--stats` object written to `path`.
fn stats(path: &str) -> Result<Value, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{path}: {e}: {text}"))
}

/// The numbers after `prefix` on stdout's lines (`touched 12 MiB`: 12).
fn numbers(o: &Out, prefix: &str) -> Vec<u64> {
    o.stdout
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(prefix)?;
            let end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            rest[..end].parse().ok()
        })
        .collect()
}

/// Fails if a process a hostile program printed as `child PID` is alive.
fn none_survived(o: &Out) -> R {
    for pid in numbers(o, "child ") {
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        ensure!(
            !String::from_utf8_lossy(&cmdline).contains("hostile"),
            "process {pid} survived the sandbox: {o:?}"
        );
    }
    Ok(())
}

fn hit_line(f: &Fixture<'_>, option: &str, value: &str) -> String {
    format!(
        "fdbroker: {} exceeded {option} {value}; killed",
        f.hostile()
    )
}

/// The ways every limit is tried.
const WAYS: [(Who, Via); 3] = [
    (Who::Root, Via::Cli),
    (Who::User, Via::Cli),
    (Who::Root, Via::Policy),
];

// ---------------------------------------------------------------- cases

fn memory_balloon_stops_below_the_limit(f: &Fixture<'_>) -> R {
    let control = run(
        f,
        Who::Root,
        Via::Cli,
        &[],
        &[],
        &[f.hostile(), "balloon", "96"],
    )
    .0;
    ensure!(
        control.code == Some(0) && numbers(&control, "touched ").last() == Some(&96),
        "without a limit the balloon reaches 96 MiB: {control:?}"
    );
    for (who, via) in WAYS {
        let st = f.out(&format!("stats-{who:?}-{via:?}"));
        let (o, _) = run(
            f,
            who,
            via,
            &[("memory", "64M")],
            &["--stats", &st],
            &[f.hostile(), "balloon", "96"],
        );
        let ctx = format!("{who:?} {via:?}: {o:?}");
        let touched = numbers(&o, "touched ").last().copied().unwrap_or(0);
        ensure!((16..=64).contains(&touched), "touched {touched} MiB; {ctx}");
        let s = stats(&st)?;
        let peak = s["peak_memory_bytes"].as_u64().unwrap_or(0);
        // A small slack above the limit: ru_maxrss counts pages, the cgroup
        // rounds to pages.
        ensure!(
            ((16 << 20)..=(65 << 20)).contains(&peak),
            "peak {peak}; {ctx}"
        );
        if f.bin.cgroups(who) {
            ensure!(o.code == Some(137), "{ctx}");
            ensure!(o.stderr.contains(&hit_line(f, "--memory", "64M")), "{ctx}");
            ensure!(
                s["limit"] == "memory" && s["exit_status"] == 137,
                "{s}; {ctx}"
            );
        } else {
            // RLIMIT_AS: the allocation fails; the program goes on.
            ensure!(
                o.code == Some(3) && o.stdout.contains("malloc failed"),
                "{ctx}"
            );
            ensure!(s["limit"].is_null() && s["exit_status"] == 3, "{s}; {ctx}");
        }
    }
    Ok(())
}

fn cpu_spin_stops_at_its_cpu_limit(f: &Fixture<'_>) -> R {
    let st = f.out("control");
    let (control, _) = run(
        f,
        Who::Root,
        Via::Cli,
        &[],
        &["--stats", &st],
        &[f.hostile(), "spin", "1.5"],
    );
    let s = stats(&st)?;
    let cpu =
        |s: &Value| s["cpu_user_ms"].as_u64().unwrap_or(0) + s["cpu_sys_ms"].as_u64().unwrap_or(0);
    ensure!(
        control.code == Some(0) && control.stdout.contains("spun") && cpu(&s) >= 1400,
        "without a limit the spin uses 1.5 s: {s} {control:?}"
    );
    for (who, via) in WAYS {
        let st = f.out(&format!("stats-{who:?}-{via:?}"));
        let (o, _) = run(
            f,
            who,
            via,
            &[("cpu_time", "1")],
            &["--stats", &st],
            &[f.hostile(), "spin", "30"],
        );
        let s = stats(&st)?;
        let ctx = format!("{who:?} {via:?}: {s} {o:?}");
        ensure!(!o.stdout.contains("spun"), "{ctx}");
        // rusage's split of CPU time is sampled at ticks: a few % off.
        ensure!((850..=1600).contains(&cpu(&s)), "CPU time; {ctx}");
        ensure!(s["limit"] == "cpu_time", "{ctx}");
        ensure!(o.stderr.contains(&hit_line(f, "--cpu-time", "1s")), "{ctx}");
        // The cgroup's usage is read by fdbroker, which kills; RLIMIT_CPU's
        // SIGXCPU kills the process itself.
        let status = if f.bin.cgroups(who) { 137 } else { 128 + 24 };
        ensure!(o.code == Some(status), "{ctx}");
    }
    Ok(())
}

fn sleepers_end_at_the_timeout_with_124(f: &Fixture<'_>) -> R {
    let grace = Duration::from_secs(1);
    // Start-up and the kill itself, on a loaded machine.
    let slack = Duration::from_secs(3);
    // A sleeper that SIGTERM ends.
    let (o, took) = run(
        f,
        Who::Root,
        Via::Cli,
        &[("timeout", "1")],
        &[],
        &["/bin/sleep", "30"],
    );
    ensure!(o.code == Some(124), "{o:?}");
    ensure!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(1) + slack,
        "took {took:?}: {o:?}"
    );
    ensure!(
        o.stderr
            .contains("fdbroker: /bin/sleep exceeded --timeout 1s; killed"),
        "{o:?}"
    );
    // Deaf to SIGTERM and SIGHUP, with a child: SIGKILL after the grace.
    for (who, via) in WAYS {
        let st = f.out(&format!("stats-{who:?}-{via:?}"));
        let (o, took) = run(
            f,
            who,
            via,
            &[("timeout", "1")],
            &["--stats", &st],
            &[f.hostile(), "sleeper"],
        );
        let ctx = format!("{who:?} {via:?}, took {took:?}: {o:?}");
        ensure!(o.code == Some(124), "{ctx}");
        ensure!(
            took >= Duration::from_secs(1) + grace && took < Duration::from_secs(1) + grace + slack,
            "{ctx}"
        );
        ensure!(o.stdout.contains("sleeping"), "{ctx}");
        ensure!(o.stderr.contains(&hit_line(f, "--timeout", "1s")), "{ctx}");
        let s = stats(&st)?;
        ensure!(
            s["limit"] == "timeout" && s["exit_status"] == 124,
            "{s}; {ctx}"
        );
        ensure!(s["processes"].as_u64() >= Some(2), "{s}; {ctx}");
        none_survived(&o)?;
    }
    Ok(())
}

fn fork_bomb_never_has_more_than_n_processes(f: &Fixture<'_>) -> R {
    let (control, _) = run(
        f,
        Who::Root,
        Via::Cli,
        &[],
        &[],
        &[f.hostile(), "forkbomb", "30"],
    );
    ensure!(
        control.code == Some(0) && numbers(&control, "child ").len() == 30,
        "without a limit the bomb makes 30 processes: {control:?}"
    );
    none_survived(&control)?;
    for (who, via) in WAYS {
        let st = f.out(&format!("stats-{who:?}-{via:?}"));
        let (o, _) = run(
            f,
            who,
            via,
            &[("max_processes", "8")],
            &["--stats", &st],
            &[f.hostile(), "forkbomb", "1000"],
        );
        let ctx = format!("{who:?} {via:?}: {o:?}");
        // No process ever exits in the bomb, so every one made is there at
        // once: the bomb and 7 more at most.
        let children = numbers(&o, "child ").len();
        ensure!((1..=7).contains(&children), "{children} children; {ctx}");
        none_survived(&o)?;
        let s = stats(&st)?;
        if f.bin.cgroups(who) {
            ensure!(o.code == Some(137), "{ctx}");
            ensure!(
                o.stderr.contains(&hit_line(f, "--max-processes", "8")),
                "{ctx}"
            );
            ensure!(s["limit"] == "max_processes", "{s}; {ctx}");
        } else {
            // RLIMIT_NPROC: fork fails with EAGAIN; the bomb gives up.
            ensure!(
                o.code == Some(3) && o.stdout.contains("fork failed: 11"),
                "{ctx}"
            );
            ensure!(s["limit"].is_null(), "{s}; {ctx}");
        }
        ensure!(s["processes"].as_u64() >= Some(2), "{s}; {ctx}");
    }
    Ok(())
}

fn file_bomb_never_exceeds_the_size_limit(f: &Fixture<'_>) -> R {
    let big = f.out("control.bin");
    let (control, _) = run(
        f,
        Who::Root,
        Via::Cli,
        &[],
        &[],
        &[f.hostile(), "filebomb", &big, "4"],
    );
    let size = fs::metadata(&big).map(|m| m.len()).unwrap_or(0);
    ensure!(
        control.code == Some(0) && size == 4 << 20,
        "{size}: {control:?}"
    );
    for (who, via) in WAYS {
        let big = f.out(&format!("{who:?}-{via:?}.bin"));
        let st = f.out(&format!("stats-{who:?}-{via:?}"));
        let (o, _) = run(
            f,
            who,
            via,
            &[("max_file_size", "1M")],
            &["--stats", &st],
            &[f.hostile(), "filebomb", &big, "4"],
        );
        let ctx = format!("{who:?} {via:?}: {o:?}");
        let size = fs::metadata(&big).map(|m| m.len()).unwrap_or(u64::MAX);
        ensure!(size == 1 << 20, "size {size}; {ctx}");
        // SIGXFSZ (25) killed the writer.
        ensure!(o.code == Some(128 + 25), "{ctx}");
        ensure!(
            o.stderr.contains(&hit_line(f, "--max-file-size", "1M")),
            "{ctx}"
        );
        ensure!(stats(&st)?["limit"] == "max_file_size", "{ctx}");
    }
    Ok(())
}

fn fd_flood_stops_at_n(f: &Fixture<'_>) -> R {
    let (control, _) = run(
        f,
        Who::Root,
        Via::Cli,
        &[],
        &[],
        &[f.hostile(), "fdflood", "/dev/null", "64"],
    );
    ensure!(control.stdout == "opened 64\n", "{control:?}");
    for (who, via) in WAYS {
        let (o, _) = run(
            f,
            who,
            via,
            &[("max_open_files", "16")],
            &[],
            &[f.hostile(), "fdflood", "/dev/null", "64"],
        );
        let ctx = format!("{who:?} {via:?}: {o:?}");
        // 0, 1, 2 and FDBROKER_FD are open already.
        let opened = numbers(&o, "opened ");
        ensure!(opened == [12], "{ctx}");
        ensure!(
            o.stdout.contains("then errno 24") && o.code == Some(5),
            "{ctx}"
        );
    }
    Ok(())
}

fn the_broker_keeps_serving_while_a_process_is_at_a_limit(f: &Fixture<'_>) -> R {
    for who in [Who::Root, Who::User] {
        let (o, _) = run(
            f,
            who,
            Via::Cli,
            &[
                ("max_open_files", "16"),
                ("max_processes", "8"),
                ("memory", "64M"),
            ],
            &[],
            &[f.hostile(), "hold", "/dev/null", "300"],
        );
        let ctx = format!("{who:?}: {o:?}");
        ensure!(
            o.stdout.contains("child at the limit after") && o.stdout.contains("errno 24"),
            "{ctx}"
        );
        ensure!(
            o.stdout.contains("served 300 of 300") && o.code == Some(0),
            "{ctx}"
        );
    }
    Ok(())
}

fn fdbroker_never_exits_through_a_limit_meant_for_the_program(f: &Fixture<'_>) -> R {
    // The audit log grows far beyond --max-file-size, the broker holds
    // more descriptors than --max-open-files and more threads than
    // --max-processes: none of it applies to fdbroker.
    for who in [Who::Root, Who::User] {
        let log = f.out(&format!("audit-{who:?}"));
        let st = f.out(&format!("stats-{who:?}"));
        let (o, _) = run(
            f,
            who,
            Via::Cli,
            &[
                ("max_file_size", "4K"),
                ("max_open_files", "8"),
                ("max_processes", "2"),
                ("memory", "64M"),
                ("cpu_time", "10"),
                ("timeout", "60"),
            ],
            &["--audit-log", &log, "--stats", &st],
            &[f.hostile(), "opens", "/dev/null", "300"],
        );
        let ctx = format!("{who:?}: {o:?}");
        ensure!(
            o.code == Some(0) && o.stdout == "opened 300 of 300\n",
            "{ctx}"
        );
        let size = fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
        ensure!(size > 16 << 10, "audit log of {size} bytes; {ctx}");
        let s = stats(&st)?;
        ensure!(
            s["allowed"].as_u64() >= Some(300) && s["limit"].is_null(),
            "{s}; {ctx}"
        );
        // Nor can the program change fdbroker's limits itself.
        let (o, _) = run(f, who, Via::Cli, &[], &[], &[f.hostile(), "prlimit-parent"]);
        ensure!(o.stdout == "prlimit parent: -1 errno 1\n", "{who:?}: {o:?}");
    }
    Ok(())
}

fn limit_hits_are_audited_and_reported(f: &Fixture<'_>) -> R {
    let log = f.out("audit");
    let (o, _) = run(
        f,
        Who::Root,
        Via::Cli,
        &[("max_file_size", "64K")],
        &["--audit-log", &log, "--stats", "-"],
        &[f.hostile(), "filebomb", &f.out("big"), "1"],
    );
    let text = fs::read_to_string(&log).map_err(|e| e.to_string())?;
    let last: Value = text
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .ok_or_else(|| format!("no audit line: {text}"))?;
    ensure!(
        last["event"] == "limit" && last["limit"] == "max_file_size" && last["value"] == "64K",
        "{last}"
    );
    ensure!(
        last["mechanism"]
            .as_str()
            .is_some_and(|m| m.contains("RLIMIT_FSIZE")),
        "{last}"
    );
    // --stats -: the last line of standard error, exactly the documented keys.
    let s: Value = o
        .stderr
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .ok_or_else(|| format!("no stats on stderr: {o:?}"))?;
    let mut keys: Vec<&str> = s
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    ensure!(
        keys == [
            "allowed",
            "cpu_sys_ms",
            "cpu_user_ms",
            "denied",
            "exit_status",
            "limit",
            "peak_memory_bytes",
            "processes",
            "wall_ms"
        ],
        "{s}"
    );
    ensure!(
        s["limit"] == "max_file_size" && s["exit_status"] == 153,
        "{s}"
    );
    ensure!(
        s["allowed"].as_u64() >= Some(1) && s["processes"] == 1,
        "{s}"
    );
    // A plain run: no limit, several processes, requests allowed and denied.
    let st = f.out("plain");
    let (o, _) = run(
        f,
        Who::Root,
        Via::Cli,
        &[],
        &["--stats", &st],
        &[
            "/bin/sh",
            "-c",
            "/bin/sh -c 'read x < /etc/hostname'; /bin/sh -c true; exit 1",
        ],
    );
    let s = stats(&st)?;
    ensure!(o.code == Some(1), "{o:?}");
    ensure!(s["limit"].is_null() && s["exit_status"] == 1, "{s}");
    ensure!(s["processes"].as_u64() >= Some(3), "three shells: {s}");
    ensure!(
        s["denied"].as_u64() >= Some(1) && s["allowed"].as_u64() >= Some(3),
        "{s}"
    );
    ensure!(s["wall_ms"].as_u64() < Some(10_000), "{s}");
    // A program that never started: zeros and its status.
    let (o, _) = run(
        f,
        Who::Root,
        Via::Cli,
        &[],
        &["--stats", &st],
        &["/nonexistent/x"],
    );
    let s = stats(&st)?;
    ensure!(
        o.code == Some(127) && s["exit_status"] == 127 && s["processes"] == 0,
        "{s} {o:?}"
    );
    Ok(())
}

fn the_command_line_wins_and_includes_merge_stricter(f: &Fixture<'_>) -> R {
    let inc = f.root.join("inc.toml");
    fs::write(
        &inc,
        "version = 1\n[limits]\ntimeout = 2\nmemory = \"1G\"\nmax_open_files = 32\n",
    )
    .map_err(|e| e.to_string())?;
    let pol = f.root.join("main.toml");
    fs::write(
        &pol,
        format!(
            "version = 1\nprofiles = [\"runtime\"]\ninclude = [\"{}\"]\n[limits]\ntimeout = 30\nmemory = \"64M\"\n",
            inc.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let line = |extra: &[&str]| {
        let mut cmd = Command::new(&f.bin.fdbroker);
        cmd.args(["run", "--verbose", "--policy"])
            .arg(&pol)
            .args(extra)
            .args(["--", "/bin/true"]);
        let o = finish(
            cmd.stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn"),
        );
        o.stderr.lines().next().unwrap_or_default().to_string()
    };
    let l = line(&[]);
    ensure!(
        l.contains("--memory 64M:")
            && l.contains("--timeout 2s:")
            && l.contains("--max-open-files 32:"),
        "{l}"
    );
    let l = line(&["--timeout", "5", "--memory", "2G"]);
    ensure!(
        l.contains("--memory 2G:") && l.contains("--timeout 5s:"),
        "{l}"
    );
    Ok(())
}

fn each_mechanism_is_named_and_core_dumps_are_off(f: &Fixture<'_>) -> R {
    for who in [Who::Root, Who::User] {
        let line = verbose_line(f, who, &[]);
        for part in [
            "--timeout 30s: fdbroker's clock",
            "--max-file-size 1M: RLIMIT_FSIZE 1048576",
            "--max-open-files 16: RLIMIT_NOFILE 16",
            "core dumps off (RLIMIT_CORE 0)",
        ] {
            ensure!(line.contains(part), "{who:?}: {part}: {line}");
        }
        let parts: &[&str] = if f.bin.cgroups(who) {
            &[
                "--memory 64M: cgroup v",
                "--max-processes 8: cgroup v",
                "--cpu-time 1s: cgroup v",
            ]
        } else {
            &[
                "--memory 64M: RLIMIT_AS 67108864, the address space of each process",
                "--max-processes 8: RLIMIT_NPROC 8",
                "--cpu-time 1s: RLIMIT_CPU 1",
            ]
        };
        for part in parts {
            ensure!(line.contains(part), "{who:?}: {part}: {line}");
        }
        let (o, _) = run(f, who, Via::Cli, &[], &[], &["/bin/sh", "-c", "ulimit -c"]);
        ensure!(o.stdout == "0\n", "{who:?}: {o:?}");
    }
    if is_root() && std::env::var("FDBROKER_REQUIRE_KERNEL").as_deref() == Ok("1") {
        ensure!(
            f.bin.root_cgroups,
            "as root, memory, processes and CPU time must be cgroup limits here: {}",
            verbose_line(f, Who::Root, &[])
        );
    }
    Ok(())
}

fn limits_that_cannot_be_held_are_errors(f: &Fixture<'_>) -> R {
    // RLIMIT_CPU counts whole seconds: without a cgroup, 1.5 is refused.
    let (o, _) = run(
        f,
        Who::User,
        Via::Cli,
        &[("cpu_time", "1.5")],
        &[],
        &["/bin/true"],
    );
    if f.bin.cgroups(Who::User) {
        ensure!(o.code == Some(0), "{o:?}");
    } else {
        ensure!(o.code == Some(125), "{o:?}");
        ensure!(
            o.stderr
                .contains("--cpu-time 1.5s cannot be enforced: RLIMIT_CPU counts whole seconds"),
            "{o:?}"
        );
    }
    // Bad values: a usage error on the command line, a located policy error.
    let (o, _) = run(
        f,
        Who::Root,
        Via::Cli,
        &[("memory", "12X")],
        &[],
        &["/bin/true"],
    );
    ensure!(
        o.code == Some(2) && o.stderr.contains("`12X`: unknown unit `X`"),
        "{o:?}"
    );
    let (o, _) = run(
        f,
        Who::Root,
        Via::Policy,
        &[("max_processes", "0")],
        &[],
        &["/bin/true"],
    );
    ensure!(
        o.code == Some(125)
            && o.stderr
                .contains(".toml:9:17: bad `max_processes` in [limits]"),
        "{o:?}"
    );
    Ok(())
}

/// The last CPU this test may run on (`Cpus_allowed_list` of its own).
fn last_cpu(status: &str) -> Option<u32> {
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?;
    list.trim().rsplit([',', '-']).next()?.parse().ok()
}

fn cpus_place_the_program_and_every_broker_thread(f: &Fixture<'_>) -> R {
    let own = fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    let cpu = last_cpu(&own).ok_or(format!("no Cpus_allowed_list: {own}"))?;
    let cpus = cpu.to_string();
    let with_cpus = |who, program: &[&str]| {
        run(
            f,
            who,
            Via::Cli,
            &[],
            &["--cpus", &cpus, "--verbose"],
            program,
        )
        .0
    };
    for who in [Who::Root, Who::User] {
        let o = with_cpus(
            who,
            &["/bin/grep", "Cpus_allowed_list", "/proc/self/status"],
        );
        ensure!(
            o.code == Some(0) && o.stdout == format!("Cpus_allowed_list:\t{cpu}\n"),
            "{who:?}: {o:?}"
        );
        ensure!(
            o.stderr.contains(&format!(
                "fdbroker: cpus {cpu}: sched_setaffinity of fdbroker and the program"
            )),
            "{who:?}: {o:?}"
        );
        // fdbroker's own threads, looked at while the program sleeps.
        let mut cmd = Command::new(&f.bin.fdbroker);
        cmd.args(["run", "--policy", &f.policy(""), "--cpus", &cpus])
            .args(["--", "/bin/sleep", "2"])
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if who == Who::User && is_root() {
            cmd.uid(NOBODY).gid(NOBODY);
        }
        let child = cmd.spawn().map_err(|e| e.to_string())?;
        std::thread::sleep(Duration::from_millis(700));
        let tasks = fs::read_dir(format!("/proc/{}/task", child.id()))
            .map_err(|e| e.to_string())?
            .flatten()
            .map(|t| fs::read_to_string(t.path().join("status")).unwrap_or_default())
            .collect::<Vec<_>>();
        let o = finish(child);
        ensure!(o.code == Some(0), "{who:?}: {o:?}");
        ensure!(tasks.len() >= 2, "{who:?}: {} threads", tasks.len());
        for t in &tasks {
            ensure!(
                last_cpu(t) == Some(cpu),
                "{who:?}: a thread of fdbroker: {t}"
            );
            ensure!(
                t.contains(&format!("Cpus_allowed_list:\t{cpu}\n")),
                "{who:?}: {t}"
            );
        }
    }
    // A program asking for every CPU: held to the list where fdbroker made
    // a cpuset cgroup (it says so), otherwise free within its cpuset.
    for who in [Who::Root, Who::User] {
        let o = with_cpus(who, &[f.hostile(), "widen"]);
        ensure!(
            o.code == Some(0) && o.stdout.contains("widen: 0 errno 0"),
            "{who:?}: {o:?}"
        );
        let line = o
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("cpus "))
            .ok_or(format!("{who:?}: {o:?}"))?;
        let got: Vec<u32> = line.split(',').filter_map(|c| c.parse().ok()).collect();
        if o.stderr.contains("a cgroup v1 cpuset (a limit") {
            ensure!(got == vec![cpu], "{who:?}: left --cpus {cpu}: {o:?}");
        } else {
            ensure!(
                o.stderr
                    .contains("(a placement: the program may move itself")
                    && o.stderr.contains("no cpuset cgroup: "),
                "{who:?}: {o:?}"
            );
            ensure!(got.contains(&cpu), "{who:?}: {o:?}");
        }
        let root_cpuset = who == Who::Root
            && is_root()
            && Path::new("/sys/fs/cgroup/cpuset/cgroup.procs").exists();
        if root_cpuset && std::env::var("FDBROKER_REQUIRE_KERNEL").as_deref() == Ok("1") {
            ensure!(
                o.stderr.contains("a cgroup v1 cpuset (a limit"),
                "a v1 cpuset hierarchy is mounted: root must use it: {o:?}"
            );
        }
    }
    // Errors: a usage error for a bad list, 125 for CPUs that are not there.
    for (list, says) in [
        ("1-0", "the range 1-0 is backwards"),
        ("0,x", "expected CPU numbers and ranges"),
        ("70000", "is out of range"),
    ] {
        let (o, _) = run(
            f,
            Who::Root,
            Via::Cli,
            &[],
            &["--cpus", list],
            &["/bin/true"],
        );
        ensure!(
            o.code == Some(2) && o.stderr.contains(says),
            "{list}: {o:?}"
        );
    }
    let (o, _) = run(
        f,
        Who::Root,
        Via::Cli,
        &[],
        &["--cpus", "1023"],
        &["/bin/true"],
    );
    ensure!(
        o.code == Some(125)
            && o.stderr
                .contains("--cpus 1023: none of these CPUs is available"),
        "{o:?}"
    );
    Ok(())
}

/// Role "no-userns": make user namespaces unavailable to this process and
/// its children (unshare, and clone with `CLONE_NEWUSER`, fail as where
/// they are disabled), then exec fdbroker with our arguments.
fn no_userns_role() -> i32 {
    use seccompiler::{
        SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    };
    let newuser = libc::CLONE_NEWUSER as u64;
    let clone_newuser = SeccompRule::new(vec![
        SeccompCondition::new(
            0,
            SeccompCmpArgLen::Qword,
            SeccompCmpOp::MaskedEq(newuser),
            newuser,
        )
        .expect("condition"),
    ])
    .expect("rule");
    let filter = SeccompFilter::new(
        [
            (libc::SYS_unshare, vec![]),
            (libc::SYS_clone, vec![clone_newuser]),
        ]
        .into_iter()
        .collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        std::env::consts::ARCH.try_into().expect("arch"),
    )
    .expect("filter");
    let prog: seccompiler::BpfProgram = filter.try_into().expect("compile");
    seccompiler::apply_filter(&prog).expect("apply");
    let fdbroker = std::env::var("FDBROKER_LIMITS_TEST_FDBROKER").unwrap_or_default();
    let err = Command::new(fdbroker).args(std::env::args().skip(1)).exec();
    eprintln!("exec fdbroker: {err}");
    1
}

fn max_processes_without_a_user_namespace_is_an_error(f: &Fixture<'_>) -> R {
    let mut cmd = Command::new(&f.bin.me);
    cmd.env(ROLE_ENV, "no-userns")
        .env("FDBROKER_LIMITS_TEST_FDBROKER", &f.bin.fdbroker)
        .args([
            "run",
            "--policy",
            &f.policy(""),
            "--max-processes",
            "8",
            "--",
        ])
        .args([f.hostile(), "opens", "/dev/null", "1"])
        .current_dir("/")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if is_root() {
        cmd.uid(NOBODY).gid(NOBODY);
    }
    let o = finish(cmd.spawn().map_err(|e| e.to_string())?);
    if f.bin.cgroups(Who::User) {
        // A delegated pids controller: no user namespace needed.
        ensure!(o.code == Some(0) && o.stdout == "opened 1 of 1\n", "{o:?}");
        return Ok(());
    }
    ensure!(o.code == Some(125), "{o:?}");
    ensure!(
        o.stderr
            .contains("creating a user namespace (for --max-processes): EPERM"),
        "{o:?}"
    );
    ensure!(!o.stdout.contains("opened"), "the program ran: {o:?}");
    Ok(())
}

fn cgroups_are_removed_after_the_run(f: &Fixture<'_>) -> R {
    let mut cmd = Command::new(&f.bin.fdbroker);
    cmd.args([
        "run",
        "--policy",
        &f.policy(""),
        "--memory",
        "64M",
        "--max-processes",
        "8",
        "--cpu-time",
        "5",
        "--stats",
        "-",
    ]);
    cmd.args(["--", f.hostile(), "balloon", "96"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().map_err(|e| e.to_string())?;
    let name = format!("fdbroker-{}-", child.id());
    let o = finish(child);
    ensure!(o.code.is_some(), "{o:?}");
    let mut left = Vec::new();
    let mut stack = vec![PathBuf::from("/sys/fs/cgroup")];
    while let Some(d) = stack.pop() {
        {
            for e in fs::read_dir(&d).into_iter().flatten().flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    if e.file_name().to_string_lossy().starts_with(&name) {
                        left.push(e.path());
                    }
                    stack.push(e.path());
                }
            }
        }
    }
    ensure!(left.is_empty(), "left behind: {left:?}");
    Ok(())
}

/// Whether `fdbroker run` can work here: `Err(reason)` when the kernel
/// lacks something it needs.
fn kernel_ready(bin: &Bin) -> Result<(), String> {
    let f = Fixture::new(bin);
    let o = finish(
        Command::new(FDBROKER)
            .args(["run", "--policy", &f.policy(""), "--", "/bin/true"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn"),
    );
    if o.code == Some(125) && o.stderr.contains("refusing to run unconfined") {
        return Err(o.stderr.trim().to_string());
    }
    Ok(())
}

fn main() {
    if std::env::var(ROLE_ENV).as_deref() == Ok("no-userns") {
        std::process::exit(no_userns_role());
    }
    let cases: &[Case<Fixture<'_>>] = &[
        (
            "memory_balloon_stops_below_the_limit",
            memory_balloon_stops_below_the_limit,
            true,
        ),
        (
            "cpu_spin_stops_at_its_cpu_limit",
            cpu_spin_stops_at_its_cpu_limit,
            true,
        ),
        (
            "sleepers_end_at_the_timeout_with_124",
            sleepers_end_at_the_timeout_with_124,
            true,
        ),
        (
            "fork_bomb_never_has_more_than_n_processes",
            fork_bomb_never_has_more_than_n_processes,
            true,
        ),
        (
            "file_bomb_never_exceeds_the_size_limit",
            file_bomb_never_exceeds_the_size_limit,
            true,
        ),
        ("fd_flood_stops_at_n", fd_flood_stops_at_n, true),
        (
            "the_broker_keeps_serving_while_a_process_is_at_a_limit",
            the_broker_keeps_serving_while_a_process_is_at_a_limit,
            true,
        ),
        (
            "fdbroker_never_exits_through_a_limit_meant_for_the_program",
            fdbroker_never_exits_through_a_limit_meant_for_the_program,
            true,
        ),
        (
            "limit_hits_are_audited_and_reported",
            limit_hits_are_audited_and_reported,
            true,
        ),
        (
            "the_command_line_wins_and_includes_merge_stricter",
            the_command_line_wins_and_includes_merge_stricter,
            true,
        ),
        (
            "each_mechanism_is_named_and_core_dumps_are_off",
            each_mechanism_is_named_and_core_dumps_are_off,
            true,
        ),
        (
            "limits_that_cannot_be_held_are_errors",
            limits_that_cannot_be_held_are_errors,
            true,
        ),
        (
            "max_processes_without_a_user_namespace_is_an_error",
            max_processes_without_a_user_namespace_is_an_error,
            true,
        ),
        (
            "cpus_place_the_program_and_every_broker_thread",
            cpus_place_the_program_and_every_broker_thread,
            true,
        ),
        (
            "cgroups_are_removed_after_the_run",
            cgroups_are_removed_after_the_run,
            true,
        ),
    ];
    let bin = Bin::new();
    let ready = kernel_ready(&bin);
    common::run_cases(cases, ready, || Fixture::new(&bin));
}
