//! fdbroker's benchmarks (issue 6): the cost of a brokered open against the
//! kernel's own round trip, start-up against `/bin/true` and bubblewrap,
//! scale with many children, and policy decision cost with 10 and 10,000
//! rules. What the figures mean: `docs/performance.md`.
//!
//! One command runs everything (as root, ~5 minutes): `benches/run.sh`, or
//! `cargo bench --bench fdbench [-- SECTION...]` with sections `latency`,
//! `startup`, `tools` (real tools against bubblewrap), `scale`, `policy`. Environment: `FDBENCH_REPEAT` (runs per
//! figure, default 7), `FDBENCH_OPS` (opens per latency run, default 30000),
//! `FDBENCH_SCALE_MS` (length of a scale run, default 2000),
//! `FDBENCH_STARTUP` (start-ups per command, default 200), `FDBENCH_PLACES`
//! (latency placements to measure: `unpinned`, `same`, `cross`,
//! comma-separated; default all), `FDBENCH_QUICK=1` (a fast smoke run with
//! small counts).
//!
//! The workload and the hand-written baselines are C (`benches/fdbench.c`,
//! compiled here with `cc -O2`), so that the very same loop is timed natively,
//! under `fdbroker run`, against fdbroker's socketpair broker and against the
//! minimal supervisors. Every figure is the median of several runs taken in
//! rotation, and every ratio is computed within one rotation, so that a noisy
//! machine moves both sides of a ratio alike.

mod policy;
mod roles;
mod scale;
mod stats;
mod tools;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fdbroker::policy::{Access, Policy};
use fdbroker::procfs;
use nix::sched::{CpuSet, sched_setaffinity};
use nix::unistd::Pid;

use stats::{Outcome, Samples};

/// Untimed iterations before each timed loop (fdbench.c uses the same).
const WARMUP: u64 = 2000;
/// Longest any single benchmark process may take before it counts as hung.
const TIMEOUT: Duration = Duration::from_secs(120);

fn main() {
    if roles::run_role() {
        return;
    }
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let all = ["latency", "startup", "tools", "scale", "policy"];
    let sections: Vec<&str> = if args.is_empty() {
        all.to_vec()
    } else {
        all.iter()
            .copied()
            .filter(|s| args.iter().any(|a| a == s))
            .collect()
    };
    if !nix::unistd::geteuid().is_root() {
        eprintln!("fdbench: run as root (fdbroker run switches to `nobody`)");
        std::process::exit(2);
    }
    let env = Env::setup();
    println!("# fdbroker benchmarks\n");
    println!("{}", env.machine());
    let t0 = Instant::now();
    for s in sections {
        match s {
            "latency" => latency(&env),
            "startup" => startup(&env),
            "tools" => tools::tools(&env),
            "scale" => scale::scale(&env),
            "policy" => policy::policy(&env),
            _ => unreachable!(),
        }
    }
    println!(
        "\nTotal time {:.0} s; load average at the end: {}",
        t0.elapsed().as_secs_f64(),
        loadavg()
    );
    let _ = std::fs::remove_dir_all(&env.dir);
}

/// Where everything lives, and the knobs.
struct Env {
    dir: PathBuf,
    /// The compiled fdbench.c.
    helper: PathBuf,
    fdbroker: PathBuf,
    /// The file every loop opens.
    file: PathBuf,
    /// runtime profile + the bench directory.
    policy: PathBuf,
    /// The same plus 10,000 generated rules.
    policy_10k: PathBuf,
    /// A static-pie build of fdbroker (`FDBENCH_STATIC_FDBROKER`, built by
    /// `benches/run.sh`).
    static_fdbroker: Option<PathBuf>,
    /// `benches/launch-floor.c`, linked statically; `Err`: why not.
    launch_floor: Result<PathBuf, String>,
    cpus: usize,
    repeat: usize,
    ops: u64,
    scale_ms: u64,
    startups: usize,
}

fn knob(name: &str, default: u64, quick: u64) -> u64 {
    let quick_mode = std::env::var_os("FDBENCH_QUICK").is_some();
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick_mode { quick } else { default })
}

impl Env {
    fn setup() -> Env {
        // Under /tmp, world-readable: `fdbroker run` executes the helper as nobody.
        let dir = PathBuf::from(format!("/tmp/fdbench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("in/a")).expect("bench dir");
        for d in [&dir, &dir.join("in"), &dir.join("in/a")] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        let file = dir.join("in/a/file.txt");
        std::fs::write(&file, "fdbroker benchmark\n").expect("bench file");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let helper = dir.join("fdbench");
        let source = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/fdbench.c");
        let cc = Command::new("cc")
            .args(["-O2", "-Wall", "-pthread", "-o"])
            .arg(&helper)
            .arg(source)
            .status()
            .expect("run cc (install gcc)");
        assert!(cc.success(), "compiling {source} failed");
        let launch_floor = static_helper(&dir, "launch-floor");
        let base = format!(
            "version = 1\nprofiles = [\"runtime\"]\n\n[[allow]]\npaths = [\"{}/in/**\"]\naccess = [\"read\"]\n",
            dir.display()
        );
        let policy = dir.join("policy.toml");
        std::fs::write(&policy, &base).expect("policy");
        let policy_10k = dir.join("policy-10k.toml");
        std::fs::write(
            &policy_10k,
            format!("{base}\n{}", policy::generated_rules(10_000)),
        )
        .expect("policy");
        Env {
            dir,
            helper,
            fdbroker: PathBuf::from(env!("CARGO_BIN_EXE_fdbroker")),
            file,
            policy,
            policy_10k,
            static_fdbroker: std::env::var_os("FDBENCH_STATIC_FDBROKER").map(|p| {
                let p = PathBuf::from(p);
                assert!(
                    p.is_file(),
                    "FDBENCH_STATIC_FDBROKER={}: no such file",
                    p.display()
                );
                p
            }),
            launch_floor,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            repeat: knob("FDBENCH_REPEAT", 7, 1) as usize,
            ops: knob("FDBENCH_OPS", 30_000, 5_000),
            scale_ms: knob("FDBENCH_SCALE_MS", 2000, 300),
            startups: knob("FDBENCH_STARTUP", 200, 10) as usize,
        }
    }

    fn machine(&self) -> String {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
            .unwrap_or_default();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Machine: {} CPUs ({model}), Linux {}, load average {}.",
            self.cpus,
            kernel.trim(),
            loadavg()
        );
        let _ = writeln!(
            s,
            "Runs per figure: {}; opens per latency run: {}; scale runs of {} ms; {} start-ups per command.",
            self.repeat, self.ops, self.scale_ms, self.startups
        );
        s
    }

    fn file(&self) -> String {
        self.file.display().to_string()
    }
}

/// Compiles `benches/NAME.c` statically into `dir`; `Err` says why not
/// (e.g. no static C library installed).
fn static_helper(dir: &Path, name: &str) -> Result<PathBuf, String> {
    let out = dir.join(name);
    let source = format!("{}/benches/{name}.c", env!("CARGO_MANIFEST_DIR"));
    let cc = Command::new("cc")
        .args(["-O2", "-Wall", "-static", "-o"])
        .arg(&out)
        .arg(&source)
        .output()
        .map_err(|e| format!("cc: {e}"))?;
    if !cc.status.success() {
        return Err(format!(
            "`cc -static {source}` failed: {}",
            String::from_utf8_lossy(&cc.stderr).trim()
        ));
    }
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    Ok(out)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split(' ')
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Pins the calling thread (and what it starts) to `cpu`; -1 leaves it free.
pub(crate) fn pin(cpu: i32) {
    if cpu < 0 {
        return;
    }
    let mut set = CpuSet::new();
    set.set(cpu as usize).expect("cpu number");
    sched_setaffinity(Pid::from_raw(0), &set).expect("sched_setaffinity");
}

/// `VmHWM` (peak resident set) of `/proc/<pid>`, in KiB.
pub(crate) fn vm_hwm_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read(format!("/proc/{pid}/status")).ok()?;
    procfs::status_value(&status, "VmHWM")?
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// User + system CPU time of all threads of `pid` so far, in microseconds
/// (proc(5): `utime` and `stime` of /proc/<pid>/stat, in clock ticks).
fn proc_cpu_us(pid: u32) -> Option<u64> {
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = procfs::stat_fields(&stat)?;
    // utime and stime: fields 14 and 15, the 12th and 13th after (comm).
    let ticks: u64 = fields.nth(11)?.parse::<u64>().ok()? + fields.next()?.parse::<u64>().ok()?;
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as u64;
    Some(ticks * 1_000_000 / hz)
}

/// CLOCK_MONOTONIC now, in nanoseconds (read by the helper: the clock the
/// C workers compare against).
pub(crate) fn monotonic_ns(helper: &Path) -> u64 {
    let out = Command::new(helper)
        .arg("now")
        .output()
        .expect("fdbench now");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("now")
}

/// Reads `child`'s stdout lines on a thread; kills it after [`TIMEOUT`].
struct Watched {
    child: Child,
    lines: mpsc::Receiver<String>,
    deadline: Instant,
}

impl Watched {
    fn spawn(cmd: &mut Command) -> Watched {
        let mut child = cmd
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watched {
            child,
            lines,
            deadline: Instant::now() + TIMEOUT,
        }
    }

    /// The next line, or `None` at end of output or timeout (then the child is killed).
    fn line(&mut self) -> Option<String> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(l) => Some(l),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                eprintln!("fdbench: a benchmark process hung; killed");
                let _ = self.child.kill();
                None
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Waits for exit; true on success.
    fn finish(mut self) -> bool {
        while self.line().is_some() {}
        self.child.wait().map(|s| s.success()).unwrap_or(false)
    }
}

/// Runs `cmd` to completion; its merged `RESULT` lines, if it succeeded and
/// no open failed.
fn run_result(cmd: &mut Command) -> Option<Outcome> {
    let mut w = Watched::spawn(cmd);
    let mut total: Option<Outcome> = None;
    while let Some(line) = w.line() {
        if let Some(o) = Outcome::parse(&line) {
            total.get_or_insert_with(Outcome::default).merge(&o);
        }
    }
    let ok = w.finish();
    match total {
        Some(o) if ok && o.errors == 0 && o.ops > 0 => Some(o),
        _ => {
            eprintln!("fdbench: {cmd:?} failed");
            None
        }
    }
}

// ---------------------------------------------------------------- latency

/// Where the client and the broker run: free, both on CPU 0, or client on
/// CPU 0 and broker on CPU 1.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Placement {
    Free,
    Same,
    Cross,
}

impl Placement {
    fn cpus(self) -> (i32, i32) {
        match self {
            Placement::Free => (-1, -1),
            Placement::Same => (0, 0),
            Placement::Cross => (0, 1),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Placement::Free => "unpinned",
            Placement::Same => "same CPU",
            Placement::Cross => "cross-CPU",
        }
    }
}

/// The open-latency variants, in table order.
const VARIANTS: [(&str, &str); 10] = [
    ("native", "native `openat` + `close`"),
    (
        "sock-floor",
        "socketpair: IPC floor (descriptor opened once)",
    ),
    ("sock-base", "socketpair: **minimal baseline**"),
    ("sock-secure", "socketpair: race-free minimal"),
    ("sock-fdb-c", "socketpair: **fdbroker** broker (C client)"),
    (
        "sock-fdb-rust",
        "socketpair: fdbroker broker + Rust `Client`",
    ),
    (
        "unotify-floor",
        "seccomp: notification floor (descriptor opened once)",
    ),
    ("unotify-base", "seccomp: **minimal baseline**"),
    ("unotify-secure", "seccomp: race-free minimal"),
    ("run", "seccomp: **`fdbroker run`**"),
];

fn latency_cmd(env: &Env, variant: &str, place: Placement, ops: u64) -> Command {
    let (c, s) = place.cpus();
    let file = env.file();
    let n = ops.to_string();
    let pinned = |cmd: &mut Command| {
        if c >= 0 {
            cmd.args(["--cpu", &c.to_string()]);
        }
        if s >= 0 {
            cmd.args(["--server-cpu", &s.to_string()]);
        }
    };
    let helper = |mode: &str| {
        let mut cmd = command(&env.helper);
        cmd.args([mode, &file, &n]);
        pinned(&mut cmd);
        cmd
    };
    let broker = |child: Vec<String>| {
        let mut cmd = command(std::env::current_exe().expect("current_exe"));
        cmd.env(roles::ROLE, "broker")
            .env(roles::POLICY, &env.policy)
            .env(roles::CPU, s.to_string())
            .env(roles::CHILDREN, "1")
            .env(roles::CMD, child.join("\n"));
        cmd
    };
    match variant {
        "native" => helper("native"),
        "sock-floor" => helper("sockfloor"),
        "sock-base" => helper("sockbase"),
        "sock-secure" => helper("socksecure"),
        "unotify-floor" => helper("unotifyfloor"),
        "unotify-base" => helper("unotifybase"),
        "unotify-secure" => helper("unotifysecure"),
        "sock-fdb-c" => broker(vec![
            env.helper.display().to_string(),
            "proto".into(),
            file.clone(),
            n.clone(),
            "--cpu".into(),
            c.to_string(),
        ]),
        "sock-fdb-rust" => broker(vec![
            "/usr/bin/env".into(),
            format!("{}=rclient", roles::ROLE),
            std::env::current_exe()
                .expect("current_exe")
                .display()
                .to_string(),
            file.clone(),
            n.clone(),
            c.to_string(),
        ]),
        "run" => run_cmd(env, &env.policy, s, |cmd| {
            cmd.arg(&env.helper).args(["native", &file, &n]);
            if c >= 0 {
                cmd.args(["--cpu", &c.to_string()]);
            }
        }),
        _ => unreachable!("{variant}"),
    }
}

/// A command without cargo's `LD_LIBRARY_PATH` (the toolchain's library
/// directory), which would make every dynamically linked program probe extra
/// directories at start-up — extra brokered opens under `fdbroker run`.
fn command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_remove("LD_LIBRARY_PATH");
    cmd
}

/// `[taskset -c CPU] fdbroker run --policy POLICY -- ...`.
fn run_cmd(env: &Env, policy: &Path, cpu: i32, program: impl FnOnce(&mut Command)) -> Command {
    let mut cmd = if cpu >= 0 {
        let mut t = command("taskset");
        t.args(["-c", &cpu.to_string()]).arg(&env.fdbroker);
        t
    } else {
        command(&env.fdbroker)
    };
    cmd.arg("run").arg("--policy").arg(policy).arg("--");
    program(&mut cmd);
    cmd
}

fn latency(env: &Env) {
    let mut places = vec![Placement::Free, Placement::Same];
    if env.cpus >= 2 {
        places.push(Placement::Cross);
    }
    // FDBENCH_PLACES=same (or free, cross, comma-separated) measures only those.
    if let Ok(only) = std::env::var("FDBENCH_PLACES") {
        let only: Vec<&str> = only.split(',').map(str::trim).collect();
        places.retain(|p| only.iter().any(|o| p.name().starts_with(o)));
    }
    // ns per open, and ratios computed within each rotation.
    let mut ns: BTreeMap<(Placement, &str), Samples> = BTreeMap::new();
    let mut ratios: BTreeMap<(Placement, &str), Samples> = BTreeMap::new();
    for _ in 0..env.repeat {
        for &place in &places {
            // A cross-CPU wake-up can cost 10x more here: fewer opens keep the run short.
            let ops = if place == Placement::Cross {
                env.ops / 4
            } else {
                env.ops
            };
            let mut this: BTreeMap<&str, f64> = BTreeMap::new();
            for (v, _) in VARIANTS {
                if let Some(o) = run_result(&mut latency_cmd(env, v, place, ops)) {
                    this.insert(v, o.ns_per_op());
                    ns.entry((place, v)).or_default().push(o.ns_per_op());
                }
            }
            for (name, a, b) in RATIOS {
                if let (Some(x), Some(y)) = (this.get(a), this.get(b)) {
                    ratios.entry((place, name)).or_default().push(x / y);
                }
            }
        }
    }
    println!("\n## Open latency\n");
    println!(
        "Nanoseconds per `open` + `close` of `{}`, median of {} runs (spread max-min in % of the median).\n",
        env.file(),
        env.repeat
    );
    let mut head = String::from("| variant |");
    let mut rule = String::from("|---|");
    for p in &places {
        let _ = write!(head, " {} |", p.name());
        rule.push_str("---:|");
    }
    println!("{head}\n{rule}");
    for (v, label) in VARIANTS {
        let mut row = format!("| {label} |");
        for &p in &places {
            match ns.get(&(p, v)) {
                Some(s) => {
                    let _ = write!(row, " {:.0} ({:.0}%) |", s.median(), s.spread_pct());
                }
                None => row.push_str(" failed |"),
            }
        }
        println!("{row}");
    }
    println!("\nRatios (median of the per-rotation ratios; target ≤ 1.15 for the first two):\n");
    println!("{head}\n{rule}");
    for (name, _, _) in RATIOS {
        let mut row = format!("| {name} |");
        for &p in &places {
            match ratios.get(&(p, name)) {
                Some(s) => {
                    let _ = write!(row, " {:.2} |", s.median());
                }
                None => row.push_str(" – |"),
            }
        }
        println!("{row}");
    }
}

/// Ratios reported: (label, numerator variant, denominator variant).
const RATIOS: [(&str, &str, &str); 6] = [
    (
        "fdbroker socketpair / minimal baseline",
        "sock-fdb-c",
        "sock-base",
    ),
    ("`fdbroker run` / minimal baseline", "run", "unotify-base"),
    (
        "fdbroker socketpair / race-free minimal",
        "sock-fdb-c",
        "sock-secure",
    ),
    (
        "`fdbroker run` / race-free minimal",
        "run",
        "unotify-secure",
    ),
    (
        "race-free minimal / minimal (socketpair)",
        "sock-secure",
        "sock-base",
    ),
    (
        "race-free minimal / minimal (seccomp)",
        "unotify-secure",
        "unotify-base",
    ),
];

// ---------------------------------------------------------------- start-up

fn startup(env: &Env) {
    let bwrap = which("bwrap");
    let bwrap_works = bwrap.as_ref().map(|b| {
        command(b)
            .args(["--ro-bind", "/", "/", "/bin/true"])
            .stdin(Stdio::null())
            .output()
    });
    let bwrap_note = match &bwrap_works {
        None => Some("bubblewrap is not installed (benches/run.sh installs it)".to_string()),
        Some(Ok(o)) if o.status.success() => None,
        Some(Ok(o)) => Some(format!(
            "bwrap cannot run here: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Some(Err(e)) => Some(format!("bwrap cannot run here: {e}")),
    };
    let run_true = |fdbroker: &Path| {
        let mut c = command(fdbroker);
        c.arg("run")
            .arg("--policy")
            .arg(&env.policy)
            .arg("--")
            .arg("/bin/true");
        c
    };
    // (key, label, command); the keys name rows for the ratios below.
    let mut cmds: Vec<(&str, &str, Command)> = vec![
        ("true", "`/bin/true`", command("/bin/true")),
        (
            "run",
            "`fdbroker run --policy P -- /bin/true`",
            run_true(&env.fdbroker),
        ),
    ];
    // The start-up target's command: a built-in profile, no policy file.
    let mut profile_true = command(&env.fdbroker);
    profile_true.args(["run", "--profile", "runtime", "--", "/bin/true"]);
    cmds.push((
        "run-profile",
        "`fdbroker run --profile runtime -- /bin/true`",
        profile_true,
    ));
    if let Some(s) = &env.static_fdbroker {
        cmds.push((
            "run-static",
            "`fdbroker run --policy P -- /bin/true`, static-pie build",
            run_true(s),
        ));
    }
    if let (Some(b), None) = (&bwrap, &bwrap_note) {
        let mut c = command(b);
        c.args(["--ro-bind", "/", "/", "/bin/true"]);
        cmds.push(("bwrap", "`bwrap --ro-bind / / /bin/true`", c));
    }
    if let Ok(floor) = &env.launch_floor {
        let mut c = command(floor);
        c.arg("/bin/true");
        cmds.push((
            "floor",
            "floor: static fork + exec + wait of `/bin/true` (`benches/launch-floor.c`)",
            c,
        ));
    }
    let mut version = command(&env.fdbroker);
    version.arg("--version");
    cmds.push(("version", "`fdbroker --version` (for reference)", version));
    let mut times: Vec<Samples> = vec![Samples::default(); cmds.len()];
    for round in 0..env.startups + 5 {
        for (i, (_, _, cmd)) in cmds.iter_mut().enumerate() {
            let t = Instant::now();
            let ok = cmd
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            let us = t.elapsed().as_secs_f64() * 1e6;
            assert!(ok, "{:?} failed", cmd);
            if round >= 5 {
                times[i].push(us);
            }
        }
    }
    println!("\n## Start-up\n");
    println!(
        "Wall time from spawn to exit status, microseconds, over {} start-ups each (in rotation).\n",
        env.startups
    );
    println!("| command | median | min | max |\n|---|---:|---:|---:|");
    for ((_, label, _), t) in cmds.iter().zip(&times) {
        println!(
            "| {label} | {:.0} | {:.0} | {:.0} |",
            t.median(),
            t.min(),
            t.max()
        );
    }
    let median = |key: &str| {
        cmds.iter()
            .position(|(k, _, _)| *k == key)
            .map(|i| times[i].median())
    };
    let truth = median("true").unwrap_or(f64::NAN);
    println!();
    for (key, what) in [
        ("run", "`fdbroker run --policy P`"),
        ("run-profile", "`fdbroker run --profile runtime`"),
        ("run-static", "`fdbroker run --policy P` (static-pie)"),
        ("floor", "floor"),
    ] {
        let Some(t) = median(key) else { continue };
        let vs_bwrap = median("bwrap")
            .map(|b| format!(", / bubblewrap: {:.2} (target ≤ 1.0)", t / b))
            .unwrap_or_default();
        println!("- {what} / `/bin/true`: {:.2}{vs_bwrap}", t / truth);
    }
    if env.static_fdbroker.is_none() {
        println!("- static-pie build: not measured (benches/run.sh builds it)");
    }
    if let Some(note) = bwrap_note {
        println!("- bubblewrap: {note}");
    }
    if let Err(why) = &env.launch_floor {
        println!("- floor: not measured: {why}");
    }
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_string_lossy()
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}
