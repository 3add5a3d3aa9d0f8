//! `fdbroker run` under the conditions container runtimes impose, made
//! without a container runtime (see `docs/containers.md`):
//!
//! - root without `CAP_SYS_PTRACE` and `CAP_DAC_OVERRIDE` in any of its
//!   capability sets (every runtime's default), via `setpriv`;
//! - a seccomp filter that refuses process_vm_readv(2) with `EPERM` (the
//!   profiles of Docker 20.10 and containerd 1.6), installed with
//!   `no_new_privs` by `tests/containers/launch.c`, compiled here with gcc;
//! - both at once, and an ordinary user under the filter;
//! - root without `CAP_SETUID`/`CAP_SETGID`, and with no way at all to reach
//!   the program's memory: exit 125 before the program runs.
//!
//! Each hostile condition is shown to be in force by a control run first
//! (the capability is absent; process_vm_readv or opening `/proc/<pid>/mem`
//! of another user's child fails), then real programs (`cat`, `sh -c`,
//! `python3`) are brokered through it.
//!
//! `harness = false`: prints `ok`/`skip`/`FAIL` per case and
//! `N passed, M failed, K skipped`. Cases that need root say so and are
//! skipped without it; when the kernel lacks what `fdbroker run` needs they
//! are skipped, or fail under `FDBROKER_REQUIRE_KERNEL=1`.

#[macro_use]
mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Out, finish};
use serde_json::Value;

const FDBROKER: &str = env!("CARGO_BIN_EXE_fdbroker");
/// Capability numbers (capability.h).
const CAP_DAC_OVERRIDE: u32 = 1;
const CAP_SETGID: u32 = 6;
const CAP_SETUID: u32 = 7;
const CAP_SYS_PTRACE: u32 = 19;

const NO_PTRACE: [&str; 4] = [
    "setpriv",
    "--bounding-set=-sys_ptrace,-dac_override",
    "--inh-caps=-all",
    "--",
];
const NO_SETUID: [&str; 4] = [
    "setpriv",
    "--bounding-set=-setuid,-setgid",
    "--inh-caps=-all",
    "--",
];
/// What the seccomp profiles of Docker 20.10 and containerd 1.6 refuse.
const REFUSE: &str = "process_vm_readv";
const AS_NOBODY: [&str; 5] = [
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "--",
];

type R = Result<(), String>;

/// A scratch tree that `nobody` can reach: `in/` (readable, `in/private/`
/// denied), `out/` (writable), copies of fdbroker and the launcher, a policy.
struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Fixture {
    fn new(launch: &Path) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = fs::canonicalize(dir.path()).expect("canonical tempdir");
        for d in ["in/sub", "in/private", "out", "bin"] {
            fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        let w = |p: &str, s: &str| fs::write(root.join(p), s).expect("write");
        w("in/a.txt", "alpha\n");
        w("in/sub/b.txt", "beta\n");
        w("in/private/key.txt", "SECRET\n");
        std::os::unix::fs::symlink("sub/b.txt", root.join("in/link")).expect("symlink");
        fs::copy(FDBROKER, root.join("bin/fdbroker")).expect("copy fdbroker");
        fs::copy(launch, root.join("bin/launch")).expect("copy launcher");
        let f = Fixture { _dir: dir, root };
        f.write_policy();
        f.open_up();
        f
    }

    fn p(&self, rel: &str) -> String {
        self.root.join(rel).display().to_string()
    }

    fn write_policy(&self) {
        let inc = |name: &str| {
            format!(
                "\"{}/policies/examples/include/{name}\"",
                env!("CARGO_MANIFEST_DIR")
            )
        };
        let ancestors: Vec<String> = self
            .root
            .ancestors()
            .filter(|a| *a != Path::new("/"))
            .map(|a| format!("\"{}\"", a.display()))
            .collect();
        let text = format!(
            r#"version = 1
profiles = ["runtime"]
include = [{shell}, {python}]

[[allow]]
paths  = ["{r}/in", "{r}/in/**"]
access = ["read"]

[[deny]]
paths  = ["{r}/in/private/**"]

[[allow]]
paths  = ["{r}/out", "{r}/out/**"]
access = ["read", "write", "create"]

[[allow]]
paths  = [{anc}]
access = ["stat"]
"#,
            shell = inc("shell-tools.toml"),
            python = inc("python3.toml"),
            r = self.root.display(),
            anc = ancestors.join(", "),
        );
        fs::write(self.root.join("policy.toml"), text).expect("write policy");
    }

    /// Everything readable and the programs executable by anyone; `out/`
    /// writable by anyone, as fdbroker creates the program's files and its
    /// audit log there as root without `CAP_DAC_OVERRIDE` or as nobody.
    fn open_up(&self) {
        let mode = |p: &Path, m: u32| {
            fs::set_permissions(p, fs::Permissions::from_mode(m)).expect("chmod")
        };
        for d in ["", "in", "in/sub", "in/private", "bin"] {
            mode(&self.root.join(d), 0o755);
        }
        mode(&self.root.join("out"), 0o777);
        for f in ["bin/fdbroker", "bin/launch"] {
            mode(&self.root.join(f), 0o755);
        }
    }

    /// `wrap... fdbroker run --policy P --audit-log out/audit.log -- argv`,
    /// with fdbroker's copy in `bin/` and `in/` as working directory.
    fn run(&self, wrap: &[&str], argv: &[&str]) -> Out {
        let mut cmd = command(wrap, &self.p("bin/fdbroker"));
        cmd.args(["run", "--policy", &self.p("policy.toml"), "--audit-log"])
            .arg(self.p("out/audit.log"))
            .arg("--")
            .args(argv)
            .current_dir(self.root.join("in"));
        spawn(&mut cmd)
    }

    /// The audit log's records.
    fn audit(&self) -> Vec<Value> {
        fs::read_to_string(self.root.join("out/audit.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Control: the launcher, started under `wrap` and refusing `refused`
    /// system calls, reports `want` on whether process_vm_readv and
    /// `/proc/<pid>/mem` reach another user's child (or, not as root, its
    /// own).
    fn probe_shows(&self, wrap: &[&str], refused: Option<&str>, want: &str) -> R {
        let mut cmd = command(wrap, &self.p("bin/launch"));
        if let Some(calls) = refused {
            cmd.args(["--refuse", calls]);
        }
        let o = spawn(cmd.arg("--probe"));
        ensure!(o.stdout == want, "control: wanted {want:?}: {o:?}");
        Ok(())
    }
}

fn root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// `wrap[0] wrap[1..] program`, or `program` when `wrap` is empty.
fn command(wrap: &[&str], program: &str) -> Command {
    match wrap.split_first() {
        Some((first, rest)) => {
            let mut cmd = Command::new(first);
            cmd.args(rest).arg(program);
            cmd
        }
        None => Command::new(program),
    }
}

fn spawn(cmd: &mut Command) -> Out {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    finish(cmd.spawn().expect("spawn"))
}

/// The five capability sets a program started under `wrap` has.
fn capability_sets(wrap: &[&str]) -> Result<Vec<(String, u64)>, String> {
    let o = spawn(command(wrap, "/bin/cat").arg("/proc/self/status"));
    ensure!(o.code == Some(0), "{o:?}");
    let sets: Vec<(String, u64)> = o
        .stdout
        .lines()
        .filter(|l| l.starts_with("Cap"))
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.to_string(), u64::from_str_radix(v.trim(), 16).ok()?))
        })
        .collect();
    ensure!(sets.len() == 5, "{o:?}");
    Ok(sets)
}

/// Control: none of `caps` is in any set of a program started under `wrap`.
fn caps_absent(wrap: &[&str], caps: &[u32]) -> R {
    for (set, mask) in capability_sets(wrap)? {
        for cap in caps {
            ensure!(mask & (1 << cap) == 0, "capability {cap} still in {set}");
        }
    }
    Ok(())
}

/// Real programs brokered through whatever `wrap` does to fdbroker: cat of
/// allowed and hidden files, a shell in a relative working directory
/// (`/proc/<tid>/cwd`), Python reading, `fstat`ing, `readlink`ing (both
/// write into its memory), creating and being refused; and the audit log.
fn brokers_correctly(f: &Fixture, wrap: &[&str]) -> R {
    let o = f.run(wrap, &["cat", &f.p("in/a.txt"), &f.p("in/private/key.txt")]);
    ensure!(o.code == Some(1), "cat: {o:?}");
    ensure!(o.stdout == "alpha\n", "cat: {o:?}");
    // Hidden by a deny rule: it looks absent.
    ensure!(o.stderr.contains("No such file"), "cat: {o:?}");

    let o = f.run(
        wrap,
        &["sh", "-c", "cat a.txt && cd sub && cat b.txt ../link"],
    );
    ensure!(
        o.code == Some(0) && o.stdout == "alpha\nbeta\nbeta\n",
        "sh: {o:?}"
    );

    let script = format!(
        r#"
import os
print(open("a.txt").read().strip())
with open("{a}") as f:
    print(os.fstat(f.fileno()).st_size, os.stat("sub/b.txt").st_size)
print(os.readlink("link"))
open("{out}/result.txt", "w").write("written")
try:
    open("{a}", "w")
except PermissionError as e:
    print("denied", e.errno)
# memfd_create is brokered too: its name is read from the program's memory.
m = os.memfd_create("scratch")
os.write(m, b"memfd")
print(os.pread(m, 5, 0).decode())
"#,
        a = f.p("in/a.txt"),
        out = f.p("out"),
    );
    let o = f.run(wrap, &["/usr/bin/python3", "-c", &script]);
    ensure!(o.code == Some(0), "python3: {o:?}");
    ensure!(
        o.stdout == "alpha\n6 5\nsub/b.txt\ndenied 13\nmemfd\n",
        "python3: {o:?}"
    );
    let written = fs::read_to_string(f.root.join("out/result.txt")).unwrap_or_default();
    ensure!(written == "written", "result.txt: {written:?}");
    ensure!(!o.stderr.contains("fdbroker: error"), "python3: {o:?}");

    let audit = f.audit();
    let a = f.p("in/a.txt");
    ensure!(
        audit
            .iter()
            .any(|r| r["resolved"] == a.as_str() && r["decision"] == "allow" && r["errno"] == 0),
        "no allowed read of a.txt in the audit log: {audit:?}"
    );
    ensure!(
        audit
            .iter()
            .any(|r| r["decision"] == "deny" && r["errno"] == 13),
        "no denial in the audit log: {audit:?}"
    );
    ensure!(
        !audit
            .iter()
            .any(|r| r["resolved"].is_null() && r["op"] == "open"),
        "an internal failure was audited: {audit:?}"
    );
    Ok(())
}

// ---------------------------------------------------------------- cases

fn root_without_ptrace_and_dac_override(f: &Fixture) -> R {
    caps_absent(&NO_PTRACE, &[CAP_SYS_PTRACE, CAP_DAC_OVERRIDE])?;
    f.probe_shows(
        &NO_PTRACE,
        None,
        "process_vm_readv: EPERM\nproc_mem: EACCES\n",
    )?;
    brokers_correctly(f, &NO_PTRACE)
}

fn root_under_a_filter_refusing_process_vm_readv(f: &Fixture) -> R {
    let launch = f.p("bin/launch");
    f.probe_shows(&[], Some(REFUSE), "process_vm_readv: EPERM\nproc_mem: ok\n")?;
    brokers_correctly(f, &[&launch, "--refuse", REFUSE])
}

fn root_without_ptrace_under_the_filter(f: &Fixture) -> R {
    let launch = f.p("bin/launch");
    let mut wrap = NO_PTRACE.to_vec();
    wrap.extend([launch.as_str(), "--refuse", REFUSE]);
    caps_absent(&wrap, &[CAP_SYS_PTRACE, CAP_DAC_OVERRIDE])?;
    f.probe_shows(
        &NO_PTRACE,
        Some(REFUSE),
        "process_vm_readv: EPERM\nproc_mem: EACCES\n",
    )?;
    brokers_correctly(f, &wrap)
}

fn ordinary_user_under_the_filter(f: &Fixture) -> R {
    let launch = f.p("bin/launch");
    let as_user: &[&str] = if root() { &AS_NOBODY } else { &[] };
    let o = spawn(command(as_user, "/usr/bin/id").arg("-u"));
    ensure!(
        o.code == Some(0) && o.stdout.trim() != "0",
        "control: not an ordinary user: {o:?}"
    );
    f.probe_shows(
        as_user,
        Some(REFUSE),
        "process_vm_readv: EPERM\nproc_mem: ok\n",
    )?;
    let mut wrap = as_user.to_vec();
    wrap.extend([launch.as_str(), "--refuse", REFUSE]);
    brokers_correctly(f, &wrap)
}

fn missing_cap_setuid_exits_125_before_running(f: &Fixture) -> R {
    caps_absent(&NO_SETUID, &[CAP_SETUID, CAP_SETGID])?;
    let o = f.run(&NO_SETUID, &["sh", "-c", "echo RAN"]);
    ensure!(o.code == Some(125), "{o:?}");
    ensure!(
        o.stderr.contains("without CAP_SETUID and CAP_SETGID")
            && o.stderr.contains("non-root user"),
        "{o:?}"
    );
    ensure!(!o.stdout.contains("RAN"), "the program ran: {o:?}");
    Ok(())
}

fn no_way_to_the_memory_exits_125_before_running(f: &Fixture) -> R {
    let launch = f.p("bin/launch");
    let all = "process_vm_readv,setfsuid,setfsgid";
    let mut wrap = NO_PTRACE.to_vec();
    wrap.extend([launch.as_str(), "--refuse", all]);
    f.probe_shows(
        &NO_PTRACE,
        Some(all),
        "process_vm_readv: EPERM\nproc_mem: EACCES\n",
    )?;
    let o = f.run(&wrap, &["sh", "-c", "echo RAN"]);
    ensure!(o.code == Some(125), "{o:?}");
    ensure!(
        o.stderr.contains("cannot reach the program's memory")
            && o.stderr.contains("process_vm_readv(2): EPERM")
            && o.stderr.contains("CAP_SYS_PTRACE"),
        "{o:?}"
    );
    ensure!(!o.stdout.contains("RAN"), "the program ran: {o:?}");
    Ok(())
}

fn unreachable_memory_is_reported_and_audited(f: &Fixture) -> R {
    // A program that makes itself non-dumpable cannot be reached without
    // CAP_SYS_PTRACE: as root the capability is dropped, as an ordinary user
    // there is none.
    let wrap: &[&str] = if root() { &NO_PTRACE } else { &[] };
    let script = r#"
import ctypes
print(open("a.txt").read().strip())
ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE
try:
    open("a.txt")
    print("opened")
except OSError as e:
    print("error", e.errno)
"#;
    let o = f.run(wrap, &["/usr/bin/python3", "-c", script]);
    ensure!(o.code == Some(0), "{o:?}");
    ensure!(o.stdout.starts_with("alpha\nerror "), "{o:?}");
    let line = o
        .stderr
        .lines()
        .find(|l| l.starts_with("fdbroker: error: cannot reach the memory"));
    ensure!(
        line.is_some_and(|l| l.contains("openat")),
        "no error line: {o:?}"
    );
    let audit = f.audit();
    let record = audit
        .iter()
        .find(|r| r["resolved"].is_null() && r["op"] == "open" && r["syscall"] == "openat");
    ensure!(
        record.is_some_and(|r| r["errno"].as_i64().unwrap_or(0) > 0 && r["rule"].is_null()),
        "no audit record of the failure: {audit:?}"
    );
    Ok(())
}

// ---------------------------------------------------------------- runner

/// Compiles the launcher into `dir`.
fn build_launcher(dir: &Path) -> Result<PathBuf, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/containers/launch.c");
    let out = dir.join("launch");
    let gcc = ["/usr/bin/gcc", "/usr/bin/cc"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .ok_or("no C compiler at /usr/bin/gcc or /usr/bin/cc")?;
    let o = spawn(
        Command::new(gcc)
            .args(["-O2", "-Wall", "-Werror", "-o"])
            .arg(&out)
            .arg(&src),
    );
    ensure!(o.code == Some(0), "compiling {}: {o:?}", src.display());
    Ok(out)
}

/// Whether `fdbroker run` works on this kernel at all.
fn kernel_ready(f: &Fixture) -> Result<(), String> {
    let o = f.run(&[], &["true"]);
    if o.code == Some(125) && o.stderr.contains("refusing to run unconfined") {
        return Err(o.stderr.trim().to_string());
    }
    Ok(())
}

/// What a case needs beyond what `fdbroker run` needs of the kernel.
#[derive(Clone, Copy, PartialEq)]
enum Needs {
    Nothing,
    /// It tests fdbroker running as root.
    Root,
    /// A program fdbroker cannot reach: as an ordinary user that is only so
    /// without a user namespace of the sandbox's own, which fdbroker owns
    /// (its capabilities there reach even a non-dumpable program).
    UnreachableProgram,
}

/// A case and what it needs.
type Case = (&'static str, fn(&Fixture) -> R, Needs);

fn main() {
    let cases: &[Case] = &[
        (
            "root_without_ptrace_and_dac_override",
            root_without_ptrace_and_dac_override,
            Needs::Root,
        ),
        (
            "root_under_a_filter_refusing_process_vm_readv",
            root_under_a_filter_refusing_process_vm_readv,
            Needs::Root,
        ),
        (
            "root_without_ptrace_under_the_filter",
            root_without_ptrace_under_the_filter,
            Needs::Root,
        ),
        (
            "ordinary_user_under_the_filter",
            ordinary_user_under_the_filter,
            Needs::Nothing,
        ),
        (
            "missing_cap_setuid_exits_125_before_running",
            missing_cap_setuid_exits_125_before_running,
            Needs::Root,
        ),
        (
            "no_way_to_the_memory_exits_125_before_running",
            no_way_to_the_memory_exits_125_before_running,
            Needs::Root,
        ),
        (
            "unreachable_memory_is_reported_and_audited",
            unreachable_memory_is_reported_and_audited,
            Needs::UnreachableProgram,
        ),
    ];
    let build = tempfile::tempdir().expect("tempdir");
    let launch = match build_launcher(build.path()) {
        Ok(l) => l,
        Err(e) => {
            println!("FAIL building the launcher: {e}");
            println!("0 passed, 1 failed");
            std::process::exit(1);
        }
    };
    // Every case needs what `fdbroker run` needs of the kernel.
    let mut runnable: Vec<common::Case<Fixture>> = Vec::new();
    for &(name, case, needs) in cases {
        if needs == Needs::Root && !root() {
            println!("skip {name}: needs root (it tests fdbroker running as root)");
        } else if needs == Needs::UnreachableProgram && !root() && common::pid_namespace_expected()
        {
            println!(
                "skip {name}: as an ordinary user fdbroker owns the sandbox's user namespace, \
                 so even a non-dumpable program stays reachable (the case runs as root)"
            );
        } else {
            runnable.push((name, case, true));
        }
    }
    let ready = kernel_ready(&Fixture::new(&launch));
    common::run_cases(&runnable, ready, || Fixture::new(&launch));
}
