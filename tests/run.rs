//! `fdbroker run` with real programs (cat, sh, python3, grep, file) under
//! policies built from the shipped `policies/examples/include/*.toml` plus
//! rules for a temporary tree. Runs the built binary, as a user would.
//!
//! `harness = false`: main() runs every case in turn and prints
//! `N passed, M failed`. When this kernel lacks Landlock or seccomp user
//! notification the cases that need them are skipped with the reason, unless
//! `FDBROKER_REQUIRE_KERNEL=1`, which makes that a failure.

#[macro_use]
mod common;

use std::fs;

use common::{Case, GUARD, Out, finish};
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const FDBROKER: &str = env!("CARGO_BIN_EXE_fdbroker");
const ROLE_ENV: &str = "FDBROKER_RUN_TEST_ROLE";
const PYTHON: &str = "/usr/bin/python3";

fn include(name: &str) -> String {
    format!(
        "{}/policies/examples/include/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A scratch tree: `in/` (readable, with a denied `in/private/`), `out/`
/// (writable), `elsewhere/` (nothing granted).
struct Tree {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Tree {
    fn new() -> Tree {
        let (dir, root) = common::scratch_dir();
        for d in ["in/sub", "in/private", "out", "elsewhere"] {
            fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        let w = |p: &str, s: &[u8]| fs::write(root.join(p), s).expect("write");
        w("in/a.txt", b"alpha needle\n");
        w("in/sub/b.txt", b"beta needle\n");
        w("in/private/key.txt", b"SECRET needle\n");
        w("elsewhere/c.txt", b"gamma needle\n");
        w("in/script.sh", b"echo script says hi\ncat \"$1\"\nexit 3\n");
        // A 1x1 PNG header: enough for file(1).
        let mut png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
        png.extend_from_slice(&[
            0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0, 0x90, 0x77, 0x53, 0xde,
        ]);
        w("in/picture.bin", &png);
        Tree { _dir: dir, root }
    }

    fn p(&self, rel: &str) -> String {
        self.root.join(rel).display().to_string()
    }

    /// A policy including `includes` (shipped files) and granting this tree.
    fn policy(&self, includes: &[&str], extra: &str) -> String {
        let incs: Vec<String> = includes
            .iter()
            .map(|i| format!("\"{}\"", include(i)))
            .collect();
        let mut ancestors: Vec<String> = self
            .root
            .ancestors()
            .map(|a| format!("\"{}\"", a.display()))
            .collect();
        ancestors.retain(|a| a != "\"/\"");
        let text = format!(
            r#"version = 1
profiles = ["runtime"]
include = [{incs}]

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
{extra}"#,
            incs = incs.join(", "),
            r = self.root.display(),
            anc = ancestors.join(", "),
        );
        let path = self.root.join("policy.toml");
        fs::write(&path, text).expect("write policy");
        path.display().to_string()
    }
}

fn spawn(cmd: &mut Command) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().expect("spawn fdbroker")
}

fn fdbroker_run(policy: &str, audit: Option<&Path>, cwd: Option<&Path>, argv: &[&str]) -> Out {
    finish(spawn(&mut run_cmd(policy, audit, cwd, argv)))
}

fn run_cmd(policy: &str, audit: Option<&Path>, cwd: Option<&Path>, argv: &[&str]) -> Command {
    let mut cmd = Command::new(FDBROKER);
    cmd.args(["run", "--policy", policy]);
    if let Some(a) = audit {
        cmd.arg("--audit-log").arg(a);
    }
    // Options of fdbroker's own may come first, ended by their own `--`.
    if !argv.contains(&"--") {
        cmd.arg("--");
    }
    cmd.args(argv);
    cmd.current_dir(cwd.unwrap_or(Path::new("/")));
    cmd
}

type R = Result<(), String>;

fn shell_policy(t: &Tree) -> String {
    t.policy(&["shell-tools.toml"], "")
}

// ---------------------------------------------------------------- cases

fn cat_reads_an_allowed_file(t: &Tree) -> R {
    let o = fdbroker_run(&shell_policy(t), None, None, &["cat", &t.p("in/a.txt")]);
    ensure!(o.code == Some(0) && o.stdout == "alpha needle\n", "{o:?}");
    Ok(())
}

fn cat_of_a_hidden_file_is_enoent_like_a_missing_one(t: &Tree) -> R {
    let pol = shell_policy(t);
    for f in ["in/private/key.txt", "elsewhere/c.txt"] {
        let o = fdbroker_run(&pol, None, None, &["cat", &t.p(f)]);
        ensure!(o.code == Some(1), "{f}: {o:?}");
        ensure!(o.stderr.contains("No such file"), "{f}: {o:?}");
        ensure!(!o.stdout.contains("needle"), "{f} leaked: {o:?}");
    }
    // A file that does not exist in a hidden place answers the same, so
    // existence does not show.
    let o = fdbroker_run(&pol, None, None, &["cat", &t.p("elsewhere/nothing-here")]);
    ensure!(
        o.code == Some(1) && o.stderr.contains("No such file"),
        "{o:?}"
    );
    // ... as in an allowed place, where the error is real.
    let o = fdbroker_run(&pol, None, None, &["cat", &t.p("in/nothing-here")]);
    ensure!(
        o.code == Some(1) && o.stderr.contains("No such file"),
        "{o:?}"
    );
    // A file the program may see but not read: refused.
    let extra = format!(
        "[[allow]]\npaths = [\"{}\"]\naccess = [\"stat\"]\n",
        t.p("elsewhere/c.txt")
    );
    let pol = t.policy(&["shell-tools.toml"], &extra);
    let o = fdbroker_run(&pol, None, None, &["cat", &t.p("elsewhere/c.txt")]);
    ensure!(
        o.code == Some(1) && o.stderr.contains("Permission denied"),
        "visible, not readable: {o:?}"
    );
    ensure!(!o.stdout.contains("needle"), "leaked: {o:?}");
    Ok(())
}

fn sh_runs_a_script_and_its_exit_status_passes(t: &Tree) -> R {
    let o = fdbroker_run(
        &shell_policy(t),
        None,
        None,
        &["sh", &t.p("in/script.sh"), &t.p("in/sub/b.txt")],
    );
    ensure!(o.code == Some(3), "{o:?}");
    ensure!(o.stdout == "script says hi\nbeta needle\n", "{o:?}");
    Ok(())
}

fn shell_redirections_to_dev_null_work(t: &Tree) -> R {
    // `>` opens with O_WRONLY|O_CREAT|O_TRUNC: the runtime profile must
    // grant what that asks of /dev/null, and nothing is created.
    let o = fdbroker_run(
        &shell_policy(t),
        None,
        None,
        &[
            "sh",
            "-c",
            "echo hidden > /dev/null && echo shown 2>/dev/null",
        ],
    );
    ensure!(o.code == Some(0), "{o:?}");
    ensure!(o.stdout == "shown\n", "{o:?}");
    Ok(())
}

fn python_reads_and_writes_only_where_allowed(t: &Tree) -> R {
    let pol = t.policy(&["python3.toml"], "");
    let script = format!(
        r#"
data = open("{a}").read()
open("{out}/result.txt", "w").write(data.upper())
for p in ["{elsewhere}/new.txt", "{input}/new.txt"]:
    try:
        open(p, "w").write("x")
        print("WROTE", p)
    except OSError as e:
        print("denied", e.errno)
"#,
        a = t.p("in/a.txt"),
        out = t.p("out"),
        elsewhere = t.p("elsewhere"),
        input = t.p("in"),
    );
    let o = fdbroker_run(&pol, None, None, &[PYTHON, "-c", &script]);
    ensure!(o.code == Some(0), "{o:?}");
    // Hidden place: ENOENT; a visible read-only one: EACCES.
    ensure!(o.stdout == "denied 2\ndenied 13\n", "{o:?}");
    let written = fs::read_to_string(t.root.join("out/result.txt")).map_err(|e| e.to_string())?;
    ensure!(written == "ALPHA NEEDLE\n", "result: {written:?}");
    ensure!(
        !t.root.join("elsewhere/new.txt").exists(),
        "wrote outside the policy"
    );
    ensure!(
        !t.root.join("in/new.txt").exists(),
        "wrote into the read-only input"
    );
    Ok(())
}

fn grep_r_walks_only_the_allowed_tree(t: &Tree) -> R {
    let o = fdbroker_run(
        &shell_policy(t),
        None,
        None,
        &["grep", "-r", "needle", &t.p("in")],
    );
    ensure!(
        o.stdout.contains("alpha needle") && o.stdout.contains("beta needle"),
        "{o:?}"
    );
    ensure!(!o.stdout.contains("SECRET"), "{o:?}");
    // The hidden file is listed by its visible directory, but not there.
    ensure!(o.stderr.contains("No such file"), "{o:?}");
    // grep's status for "matches found, but an error happened".
    ensure!(o.code == Some(2), "{o:?}");
    Ok(())
}

fn file_identifies_input_it_never_saw(t: &Tree) -> R {
    let pol = t.policy(&["file.toml"], "");
    let o = fdbroker_run(
        &pol,
        None,
        None,
        &["file", &t.p("in/picture.bin"), &t.p("in/a.txt")],
    );
    ensure!(o.code == Some(0), "{o:?}");
    ensure!(o.stdout.contains("PNG image data, 1 x 1"), "{o:?}");
    ensure!(o.stdout.contains("ASCII text"), "{o:?}");
    let o = fdbroker_run(&pol, None, None, &["file", &t.p("in/private/key.txt")]);
    ensure!(o.stdout.contains("No such file"), "{o:?}");
    Ok(())
}

fn signals_pass_through(t: &Tree) -> R {
    let pol = shell_policy(t);
    let o = fdbroker_run(&pol, None, None, &["sh", "-c", "kill -TERM $$"]);
    ensure!(o.code == Some(143), "kill -TERM self: {o:?}");
    let o = fdbroker_run(&pol, None, None, &["sh", "-c", "kill -KILL $$"]);
    ensure!(o.code == Some(137), "kill -KILL self: {o:?}");
    Ok(())
}

fn sigterm_to_fdbroker_is_forwarded(t: &Tree) -> R {
    let ready = t.root.join("out/ready");
    let script = format!(": > {}; exec sleep 1000", ready.display());
    let child = spawn(&mut run_cmd(
        &shell_policy(t),
        None,
        None,
        &["sh", "-c", &script],
    ));
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let start = Instant::now();
    while !ready.exists() && start.elapsed() < GUARD {
        std::thread::sleep(Duration::from_millis(10));
    }
    let sent = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let o = finish(child);
    sent.map_err(|e| e.to_string())?;
    ensure!(o.code == Some(143), "{o:?}");
    Ok(())
}

fn exit_codes_126_and_127(t: &Tree) -> R {
    let pol = shell_policy(t);
    // Searched for on a PATH every user may search: a directory on PATH
    // that cannot be searched makes it 126, as with env(1) and execvp(3).
    let mut cmd = run_cmd(&pol, None, None, &["no-such-program-anywhere"]);
    let o = finish(spawn(cmd.env("PATH", "/usr/local/bin:/usr/bin:/bin")));
    ensure!(
        o.code == Some(127) && o.stderr.contains("not found"),
        "{o:?}"
    );
    let o = fdbroker_run(&pol, None, None, &[&t.p("in/a.txt")]);
    ensure!(o.code == Some(126), "not executable: {o:?}");
    let o = fdbroker_run(&pol, None, None, &[&t.p("in")]);
    ensure!(o.code == Some(126), "directory: {o:?}");
    // Bad policy: fdbroker's own error.
    let bad = t.root.join("bad.toml");
    fs::write(
        &bad,
        "version = 1\n[[allow]]\npaths = [\"relative\"]\naccess = [\"read\"]\n",
    )
    .map_err(|e| e.to_string())?;
    let o = fdbroker_run(bad.to_str().unwrap_or_default(), None, None, &["true"]);
    ensure!(
        o.code == Some(125) && o.stderr.contains("bad.toml:3"),
        "{o:?}"
    );
    Ok(())
}

fn exec_outside_the_policy_is_refused(t: &Tree) -> R {
    // tac is not among the shell tools: the program may not even see it,
    // so it is not found, as if it were not installed.
    let script = "/usr/bin/tac /dev/null; echo status $?";
    let o = fdbroker_run(&shell_policy(t), None, None, &["sh", "-c", script]);
    ensure!(o.stdout.contains("status 127"), "{o:?}");
    ensure!(o.stderr.contains("not found"), "{o:?}");
    // Visible but not granted `exec`: Landlock refuses to execute it.
    let pol = t.policy(
        &["shell-tools.toml"],
        "[[allow]]\npaths = [\"/usr/bin/tac\"]\naccess = [\"read\"]\n",
    );
    let o = fdbroker_run(&pol, None, None, &["sh", "-c", script]);
    ensure!(o.stdout.contains("status 126"), "{o:?}");
    ensure!(o.stderr.contains("Permission denied"), "{o:?}");
    Ok(())
}

fn exec_deny_rules_hold_inside_granted_directories(t: &Tree) -> R {
    // A glob grants /usr/bin; the deny rule on wc makes fdbroker grant the
    // directory file by file instead, leaving wc out.
    let extra = "[[allow]]\npaths = [\"/usr/bin/*\"]\naccess = [\"read\", \"exec\"]\n\n\
                 [[deny]]\npaths = [\"/usr/bin/wc\"]\naccess = [\"exec\"]\n";
    let pol = t.policy(&["shell-tools.toml"], extra);
    let o = fdbroker_run(
        &pol,
        None,
        None,
        &[
            "sh",
            "-c",
            "/usr/bin/wc -c </dev/null; echo wc $?; /usr/bin/tac /dev/null; echo tac $?",
        ],
    );
    ensure!(o.stdout == "wc 126\ntac 0\n", "{o:?}");
    Ok(())
}

fn foreign_syscall_abis_are_killed(t: &Tree) -> R {
    let pol = t.policy(&["python3.toml"], "");
    // getpid through i386's int 0x80, and through the x32 ABI.
    for (abi, code) in [
        ("i386", r"\xb8\x14\x00\x00\x00\xcd\x80\xc3"),
        ("x32", r"\xb8\x27\x00\x00\x40\x0f\x05\xc3"),
    ] {
        let script = format!(
            r#"
import ctypes, mmap
buf = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
buf.write(b"{code}")
f = ctypes.CFUNCTYPE(ctypes.c_long)(ctypes.addressof(ctypes.c_char.from_buffer(buf)))
print("returned", f(), flush=True)
"#
        );
        let o = fdbroker_run(&pol, None, None, &[PYTHON, "-c", &script]);
        // SIGSYS is 31: killed by the filter, never returned.
        ensure!(o.code == Some(128 + 31), "{abi}: {o:?}");
        ensure!(!o.stdout.contains("returned"), "{abi}: {o:?}");
    }
    Ok(())
}

fn forked_and_executed_programs_are_brokered(t: &Tree) -> R {
    let script = format!(
        "cat {secret}; cat {a}; sh -c 'cat {elsewhere}; cat {b}'",
        secret = t.p("in/private/key.txt"),
        a = t.p("in/a.txt"),
        elsewhere = t.p("elsewhere/c.txt"),
        b = t.p("in/sub/b.txt"),
    );
    let o = fdbroker_run(&shell_policy(t), None, None, &["sh", "-c", &script]);
    ensure!(o.stdout == "alpha needle\nbeta needle\n", "{o:?}");
    ensure!(o.stderr.matches("No such file").count() == 2, "{o:?}");
    Ok(())
}

fn relative_paths_resolve_against_the_working_directory(t: &Tree) -> R {
    let input = t.root.join("in");
    let o = fdbroker_run(
        &shell_policy(t),
        None,
        Some(&input),
        &[
            "sh",
            "-c",
            "cat a.txt; cat ../elsewhere/c.txt; cd sub && cat b.txt",
        ],
    );
    ensure!(o.stdout == "alpha needle\nbeta needle\n", "{o:?}");
    ensure!(o.stderr.matches("No such file").count() == 1, "{o:?}");
    Ok(())
}

fn audit_log_records_each_decision(t: &Tree) -> R {
    let pol = shell_policy(t);
    let log = t.root.join("audit.jsonl");
    let o = fdbroker_run(
        &pol,
        Some(&log),
        None,
        &[
            "sh",
            "-c",
            &format!(
                "cat {}; cat {}; cat {}",
                t.p("in/a.txt"),
                t.p("elsewhere/c.txt"),
                t.p("elsewhere/missing.txt")
            ),
        ],
    );
    ensure!(o.code == Some(1), "{o:?}");
    let text = fs::read_to_string(&log).map_err(|e| e.to_string())?;
    let events: Vec<Value> = text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("bad JSON line: {e}"))?;
    ensure!(events.len() > 5, "{text}");
    for e in &events {
        for key in [
            "time", "pid", "op", "path", "resolved", "flags", "access", "decision", "rule", "errno",
        ] {
            ensure!(e.get(key).is_some(), "missing {key} in {e}");
        }
    }
    let find = |path: &str, op: &str| {
        events
            .iter()
            .find(|e| e["path"] == path && e["op"] == op)
            .cloned()
    };
    let a = find(&t.p("in/a.txt"), "open").ok_or("no event for the allowed open")?;
    ensure!(a["decision"] == "allow" && a["errno"] == 0, "{a}");
    ensure!(a["source"] == "seccomp" && a["syscall"] == "openat", "{a}");
    let rule = a["rule"].as_str().unwrap_or_default();
    ensure!(
        rule.starts_with(&format!("{}:", t.root.join("policy.toml").display())),
        "rule {rule}"
    );
    ensure!(
        a["flags"]
            .as_str()
            .is_some_and(|f| f.starts_with("O_RDONLY")),
        "{a}"
    );
    let c = find(&t.p("elsewhere/c.txt"), "open").ok_or("no event for the denied open")?;
    ensure!(c["decision"] == "deny" && c["rule"] == "default", "{c}");
    // Hidden: the program saw ENOENT; the log knows the file exists.
    ensure!(c["errno"] == 2 && c["error"] == "ENOENT", "{c}");
    ensure!(c.get("absent").is_none(), "{c}");
    let m = find(&t.p("elsewhere/missing.txt"), "open").ok_or("no event for the missing file")?;
    ensure!(m["decision"] == "deny" && m["errno"] == 2, "{m}");
    ensure!(m["absent"] == true, "{m}");
    // The loader's own opens (before main) are brokered and recorded too.
    ensure!(
        events
            .iter()
            .any(|e| e["path"] == "/etc/ld.so.cache" && e["decision"] == "allow"),
        "{text}"
    );
    // Two programs ran (sh, then cat): two different pids asked.
    let pids: std::collections::BTreeSet<String> =
        events.iter().map(|e| e["pid"].to_string()).collect();
    ensure!(pids.len() >= 2, "{pids:?}");
    Ok(())
}

fn metadata_is_brokered_without_leaking_existence(t: &Tree) -> R {
    let pol = t.policy(&["python3.toml"], "");
    let script = format!(
        r#"
import os
def err(f, *a):
    try:
        f(*a); return 0
    except OSError as e:
        return e.errno
print(os.stat("{a}").st_size)
print(err(os.stat, "{c}"), err(os.stat, "{nothing}"), err(os.lstat, "{c}"))
print(err(os.access, "{c}", os.F_OK) or os.access("{c}", os.F_OK), os.access("{nothing}", os.F_OK))
print(os.access("{a}", os.R_OK), os.access("{a}", os.W_OK))
print(err(os.readlink, "{c}"))
print(os.readlink("/proc/self/exe"))
"#,
        a = t.p("in/a.txt"),
        c = t.p("elsewhere/c.txt"),
        nothing = t.p("elsewhere/nothing"),
    );
    let o = fdbroker_run(&pol, None, None, &[PYTHON, "-c", &script]);
    ensure!(o.code == Some(0), "{o:?}");
    let lines: Vec<&str> = o.stdout.lines().collect();
    ensure!(lines.first() == Some(&"13"), "size: {o:?}");
    ensure!(
        lines.get(1) == Some(&"2 2 2"),
        "stat of hidden paths, existing or not: {o:?}"
    );
    ensure!(
        lines.get(2) == Some(&"False False"),
        "access of denied paths: {o:?}"
    );
    ensure!(
        lines.get(3) == Some(&"True False"),
        "access of an allowed path: {o:?}"
    );
    ensure!(
        lines.get(4) == Some(&"2"),
        "readlink of a hidden path: {o:?}"
    );
    ensure!(
        lines
            .get(5)
            .is_some_and(|l| l.starts_with("/usr/bin/python3")),
        "/proc/self/exe: {o:?}"
    );
    Ok(())
}

fn calls_not_allowed_fail(t: &Tree) -> R {
    let pol = t.policy(&["python3.toml"], "");
    let script = format!(
        r#"
import os, socket
def err(f, *a):
    try:
        f(*a); return "ok"
    except OSError as e:
        return e.errno
out = "{out}"
print("mkdir", err(os.mkdir, out + "/d"))
print("rmdir", err(os.rmdir, out + "/d"))
print("symlink", err(os.symlink, "/etc/passwd", out + "/l"))
print("unlink", err(os.unlink, out + "/l"))
print("link", err(os.link, "{a}", out + "/h"))
print("rename", err(os.rename, "{a}", out + "/r"))
print("unlink", err(os.unlink, "{a}"))
print("chmod", err(os.chmod, "{a}", 0o777))
print("truncate", err(os.truncate, "{a}", 0))
print("statvfs", err(os.statvfs, "{a}"))
print("listxattr", err(os.listxattr, "{a}"))
print("inet", err(socket.socket, socket.AF_INET, socket.SOCK_STREAM))
print("unix", err(socket.socket, socket.AF_UNIX, socket.SOCK_STREAM))
print("pair", err(socket.socketpair))
print("unshare", err(os.unshare, os.CLONE_NEWUSER) if hasattr(os, "unshare") else 1)
"#,
        out = t.p("out"),
        a = t.p("in/a.txt"),
    );
    let o = fdbroker_run(&pol, None, None, &[PYTHON, "-c", &script]);
    ensure!(o.code == Some(0), "{o:?}");
    // Brokered and allowed by `create` in out/: mkdir and symlink; without
    // `remove` nothing is removed; the input tree is read-only (a hard link
    // to it in out/ would widen it); truncate by path is not brokered.
    let expect = "mkdir ok\nrmdir 13\nsymlink ok\nunlink 13\nlink 13\nrename 13\nunlink 13\n\
                  chmod 13\ntruncate 13\nstatvfs 13\nlistxattr 95\ninet 13\nunix 13\npair ok\n\
                  unshare 1\n";
    ensure!(o.stdout == expect, "{o:?}");
    ensure!(
        fs::read_to_string(t.root.join("in/a.txt")).is_ok_and(|s| s == "alpha needle\n"),
        "input changed"
    );
    Ok(())
}

fn network_true_allows_inet_sockets(t: &Tree) -> R {
    let pol = t.policy(&["python3.toml"], "network = true\n");
    // `network` is a top-level key: put it before any table.
    let text = fs::read_to_string(&pol).map_err(|e| e.to_string())?;
    let text = text.replace("network = true\n", "").replacen(
        "version = 1\n",
        "version = 1\nnetwork = true\n",
        1,
    );
    fs::write(&pol, text).map_err(|e| e.to_string())?;
    let o = fdbroker_run(
        &pol,
        None,
        None,
        &[
            PYTHON,
            "-c",
            "import socket; socket.socket(socket.AF_INET); print('ok')",
        ],
    );
    ensure!(o.code == Some(0) && o.stdout == "ok\n", "{o:?}");
    Ok(())
}

fn runs_unprivileged_without_capabilities(t: &Tree) -> R {
    let pol = t.policy(&["python3.toml"], "");
    let script = r#"
import os
status = dict(l.split(":\t", 1) for l in open("/proc/self/status").read().splitlines() if ":\t" in l)
print(os.getuid(), os.geteuid(), os.getgid(), os.getgroups())
print(" ".join(k + "=" + status[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapAmb", "CapBnd", "NoNewPrivs")))
print(sorted(int(f) for f in os.listdir("/proc/self/fd")))
"#;
    let o = fdbroker_run(&pol, None, None, &[PYTHON, "-c", script]);
    ensure!(o.code == Some(0), "{o:?}");
    let mut lines = o.stdout.lines();
    let ids = lines.next().unwrap_or_default();
    if nix::unistd::geteuid().is_root() {
        ensure!(ids == "65534 65534 65534 []", "{o:?}");
    } else {
        // Not root: it keeps fdbroker's user.
        let (uid, gid) = (nix::unistd::getuid(), nix::unistd::getgid());
        ensure!(ids.starts_with(&format!("{uid} {uid} {gid} ")), "{o:?}");
    }
    // It cannot gain privileges: no_new_privs and no capability. The
    // bounding set is emptied only when fdbroker has CAP_SETPCAP, or in the
    // sandbox's own user namespace (an ordinary user's, where the child
    // holds every capability until it drops them); else it is the one
    // fdbroker was started with.
    let bounding = if fdbroker_has_setpcap() || common::pid_namespace_expected() {
        "0000000000000000".to_string()
    } else {
        own_status_field("CapBnd")?
    };
    let zero = "0000000000000000";
    ensure!(
        lines.next()
            == Some(&format!(
                "CapInh={zero} CapPrm={zero} CapEff={zero} CapAmb={zero} CapBnd={bounding} NoNewPrivs=1"
            )),
        "capabilities or no_new_privs: {o:?}"
    );
    // Only stdio, the broker socket and the directory python is listing.
    let fds = lines.next().unwrap_or_default();
    ensure!(fds.split(',').count() <= 5, "inherited descriptors: {o:?}");
    Ok(())
}

/// Whether fdbroker, started by this process, has `CAP_SETPCAP` permitted:
/// as root when the bounding set holds it, otherwise only as an ambient
/// capability (see capabilities(7), "Transformation of capabilities during
/// execve()").
fn fdbroker_has_setpcap() -> bool {
    let set = if nix::unistd::geteuid().is_root() {
        caps::CapSet::Bounding
    } else {
        caps::CapSet::Ambient
    };
    caps::has_cap(None, set, caps::Capability::CAP_SETPCAP).unwrap_or(false)
}

/// A field of this process's `/proc/self/status`, as written there.
fn own_status_field(name: &str) -> Result<String, String> {
    let text = fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(":\t"))
        .map(|v| v.trim().to_string())
        .ok_or_else(|| format!("no {name} in /proc/self/status"))
}

fn cloexec_is_honoured(t: &Tree) -> R {
    let pol = t.policy(&["python3.toml"], "");
    let script = format!(
        r#"
import ctypes, fcntl, os
libc = ctypes.CDLL(None, use_errno=True)
a = b"{a}"
plain = libc.open(a, os.O_RDONLY)
cloexec = libc.open(a, os.O_RDONLY | os.O_CLOEXEC)
print(fcntl.fcntl(plain, fcntl.F_GETFD), fcntl.fcntl(cloexec, fcntl.F_GETFD))
print(os.read(plain, 5))
"#,
        a = t.p("in/a.txt")
    );
    let o = fdbroker_run(&pol, None, None, &[PYTHON, "-c", &script]);
    ensure!(o.code == Some(0) && o.stdout == "0 1\nb'alpha'\n", "{o:?}");
    Ok(())
}

fn threads_are_brokered(t: &Tree) -> R {
    let pol = t.policy(&["python3.toml"], "");
    let script = format!(
        r#"
import threading, os
res = []
def work():
    res.append((open("{a}").read(), open("/proc/self/status").read().count("Tgid"), open("/proc/%d/status" % os.getpid()).read().count("Tgid")))
    try:
        open("{c}")
    except FileNotFoundError:
        res.append("denied")
ts = [threading.Thread(target=work) for _ in range(4)]
for t in ts: t.start()
for t in ts: t.join()
for r in sorted(map(str, res)):
    print(r)
"#,
        a = t.p("in/a.txt"),
        c = t.p("elsewhere/c.txt"),
    );
    let o = fdbroker_run(&pol, None, None, &[PYTHON, "-c", &script]);
    ensure!(o.code == Some(0), "{o:?}");
    // Each thread read the file and its process's /proc/self (== /proc/<pid>).
    let one = "('alpha needle\\n', 1, 1)\n";
    ensure!(
        o.stdout == format!("{}{}", one.repeat(4), "denied\n".repeat(4)),
        "{o:?}"
    );
    Ok(())
}

fn socketpair_protocol_is_served_too(t: &Tree) -> R {
    // This test binary, copied where the unprivileged user can execute it,
    // runs in the sandbox as a client of FDBROKER_FD.
    let bin_dir = t.root.join("bin");
    fs::create_dir_all(&bin_dir).map_err(|e| e.to_string())?;
    let exe = bin_dir.join("client");
    fs::copy(std::env::current_exe().map_err(|e| e.to_string())?, &exe)
        .map_err(|e| e.to_string())?;
    fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
    let extra = format!(
        "[[allow]]\npaths = [\"{}\"]\naccess = [\"read\", \"exec\"]\n",
        exe.display()
    );
    let pol = t.policy(&[], &extra);
    // The role reaches the program only because it is passed explicitly:
    // the program does not get fdbroker's environment.
    let mut cmd = run_cmd(
        &pol,
        None,
        None,
        &[
            &format!("--keep-env={ROLE_ENV}"),
            "--",
            exe.to_str().unwrap_or_default(),
            &t.p("in/a.txt"),
            &t.p("elsewhere/c.txt"),
        ],
    );
    cmd.env(ROLE_ENV, "client");
    let o = finish(spawn(&mut cmd));
    ensure!(o.code == Some(0), "{o:?}");
    ensure!(
        o.stdout == "protocol: alpha needle\nprotocol: hidden\n",
        "{o:?}"
    );
    Ok(())
}

fn the_environment_is_minimal_unless_extended(t: &Tree) -> R {
    let pol = t.policy(
        &["shell-tools.toml"],
        "[env]\nkeep = [\"FROM_POLICY_*\"]\nset = { SET_BY_POLICY = \"p\", OVERRIDDEN = \"policy\" }\n",
    );
    let outer = [
        ("AWS_SECRET_ACCESS_KEY", "aws-secret"),
        ("SSH_AUTH_SOCK", "/run/agent.sock"),
        ("HOME", "/home/someone"),
        ("KEPT_A", "a"),
        ("KEPT_B", "b"),
        ("FROM_POLICY_X", "x"),
        ("OVERRIDDEN", "outer"),
        ("PATH", "/usr/bin:/bin"),
        ("LC_TIME", "C"),
        ("FDBROKER_FD", "99"),
    ];
    let env_of = |extra: &[&str]| -> Result<Vec<String>, String> {
        let mut argv = extra.to_vec();
        argv.extend(["--", "sh", "-c", "export -p"]);
        let mut cmd = run_cmd(&pol, None, None, &argv);
        cmd.env_clear().envs(outer);
        let o = finish(spawn(&mut cmd));
        if o.code != Some(0) {
            return Err(format!("{o:?}"));
        }
        // dash exports PWD itself.
        Ok(o.stdout
            .lines()
            .filter(|l| !l.starts_with("export PWD="))
            .map(|l| l.trim_start_matches("export ").replace('\'', ""))
            .collect())
    };
    let mut want = vec![
        "FDBROKER_FD=FD",
        "FROM_POLICY_X=x",
        "HOME=PRIVATE",
        "LC_TIME=C",
        "OVERRIDDEN=policy",
        "PATH=/usr/bin:/bin",
        "SET_BY_POLICY=p",
        "TMPDIR=PRIVATE",
    ];
    // fdbroker's TMPDIR is unset: the run's private directory is in /tmp,
    // one directory, both HOME and TMPDIR.
    let fd = |vars: Vec<String>| -> Vec<String> {
        let private = vars
            .iter()
            .find_map(|v| v.strip_prefix("TMPDIR=/tmp/fdbroker-run."))
            .map(|name| format!("/tmp/fdbroker-run.{name}"));
        vars.into_iter()
            .map(|v| {
                let value = v.split_once('=').map(|(_, value)| value);
                if v.starts_with("FDBROKER_FD=") && v != "FDBROKER_FD=99" {
                    "FDBROKER_FD=FD".to_string()
                } else if (v.starts_with("HOME=") || v.starts_with("TMPDIR="))
                    && value.is_some()
                    && value == private.as_deref()
                {
                    format!("{}=PRIVATE", v.split_once('=').map_or("", |(n, _)| n))
                } else {
                    v
                }
            })
            .collect()
    };
    let got = fd(env_of(&[])?);
    ensure!(got == want, "default: {got:?}");
    // The command line adds to it and wins over the policy.
    let got = fd(env_of(&[
        "--keep-env",
        "KEPT_*",
        "--keep-env=HOME",
        "--setenv",
        "OVERRIDDEN=cli=1",
    ])?);
    want[2] = "HOME=/home/someone";
    want[4] = "OVERRIDDEN=cli=1";
    want.extend(["KEPT_A=a", "KEPT_B=b"]);
    want.sort_unstable();
    ensure!(got == want, "extended: {got:?}");
    // Bad settings are usage errors; nothing runs.
    for bad in [
        &["--setenv", "FDBROKER_FD=3"][..],
        &["--setenv", "NO_VALUE"],
        &["--keep-env", "A-B"],
    ] {
        let mut argv = bad.to_vec();
        argv.extend(["--", "sh", "-c", "echo ran"]);
        let o = finish(spawn(&mut run_cmd(&pol, None, None, &argv)));
        ensure!(o.code == Some(2) && o.stdout.is_empty(), "{bad:?}: {o:?}");
    }
    Ok(())
}

/// `fdbroker ARGS...` as the foreground job of a session whose controlling
/// terminal is a new pseudo-terminal (`setsid --ctty`), as from a shell on a
/// real terminal: what the terminal showed, and the exit status. `keys` are
/// typed once the terminal shows `ready`.
fn on_a_terminal(args: &[&str], keys: &[u8]) -> Result<(String, Option<i32>), String> {
    use std::io::{Read, Write};
    let pty = nix::pty::openpty(None, None).map_err(|e| format!("openpty: {e}"))?;
    let end = || -> Result<Stdio, String> {
        Ok(Stdio::from(
            pty.slave.try_clone().map_err(|e| e.to_string())?,
        ))
    };
    let mut child = Command::new("setsid")
        .args(["--ctty", "--wait", FDBROKER])
        .args(args)
        .current_dir("/")
        .stdin(end()?)
        .stdout(end()?)
        .stderr(end()?)
        .spawn()
        .map_err(|e| format!("setsid: {e}"))?;
    drop(pty.slave);
    let mut master = fs::File::from(pty.master);
    let mut typing = master.try_clone().map_err(|e| e.to_string())?;
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        // EIO once no one holds the terminal any more.
        while let Ok(n @ 1..) = master.read(&mut buf) {
            all.extend_from_slice(&buf[..n]);
            let _ = tx.send(String::from_utf8_lossy(&all).into_owned());
        }
        String::from_utf8_lossy(&all).into_owned()
    });
    let start = Instant::now();
    if !keys.is_empty() {
        while let Ok(text) = rx.recv_timeout(GUARD) {
            if text.contains("ready") {
                typing.write_all(keys).map_err(|e| e.to_string())?;
                break;
            }
        }
    }
    let status = loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            break st;
        }
        if start.elapsed() > GUARD {
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let text = reader.join().unwrap_or_default();
    Ok((text, status.code()))
}

fn no_tty_gives_the_program_no_terminal(t: &Tree) -> R {
    // Even a policy granting /dev/tty: opened by the broker it would be
    // fdbroker's own terminal.
    let pol = t.policy(
        &["shell-tools.toml"],
        "[[allow]]\npaths = [\"/dev/tty\"]\naccess = [\"read\", \"write\"]\n",
    );
    let probe = "for f in 0 1 2; do [ -t $f ] && echo is-a-tty-$f; done; \
                 (: </dev/tty) && echo has-dev-tty; echo out; echo err >&2";
    // Control: on the terminal without --no-tty, the program has it.
    let (text, code) = on_a_terminal(
        &["run", "-q", "--policy", &pol, "--", "sh", "-c", probe],
        b"",
    )?;
    ensure!(code == Some(0), "{code:?}: {text}");
    for want in [
        "is-a-tty-0",
        "is-a-tty-1",
        "is-a-tty-2",
        "has-dev-tty",
        "out",
        "err",
    ] {
        ensure!(text.contains(want), "control: no {want}: {text}");
    }
    let script = format!("{probe}; read line || echo stdin-at-eof");
    let (text, code) = on_a_terminal(
        &[
            "run", "--no-tty", "--policy", &pol, "--", "sh", "-c", &script,
        ],
        b"",
    )?;
    ensure!(code == Some(0), "{code:?}: {text}");
    for want in [
        "stdin-at-eof",
        "out",
        "err",
        "denied read of /dev/tty: denied by <no-tty>:0",
    ] {
        ensure!(text.contains(want), "--no-tty: no {want}: {text}");
    }
    for unwanted in ["is-a-tty-", "has-dev-tty"] {
        ensure!(!text.contains(unwanted), "--no-tty: {unwanted}: {text}");
    }
    // Ctrl-C on the terminal reaches the program through fdbroker.
    let (text, code) = on_a_terminal(
        &[
            "run",
            "-q",
            "--no-tty",
            "--policy",
            &pol,
            "--",
            "sh",
            "-c",
            "echo ready; exec sleep 60",
        ],
        b"\x03",
    )?;
    ensure!(code == Some(130), "Ctrl-C: {code:?}: {text}");
    Ok(())
}

fn the_program_cannot_touch_the_broker(t: &Tree) -> R {
    let pol = t.policy(&["python3.toml"], "");
    // The broker's pid comes on standard input: in a PID namespace of its
    // own, the program's parent is the sandbox's init, and the broker has
    // no pid there at all.
    let script = r#"
import ctypes, os
def err(f, *a):
    try:
        f(*a); return "ok"
    except OSError as e:
        return e.errno
broker = int(input())
print("pid", 2 if os.getpid() == 2 else "other")
print("signal", err(os.kill, broker, 0))
libc = ctypes.CDLL(None, use_errno=True)
PTRACE_ATTACH = 16
r = libc.ptrace(PTRACE_ATTACH, broker, None, None)
print("ptrace", r, ctypes.get_errno())
"#;
    let mut cmd = run_cmd(&pol, None, None, &[PYTHON, "-c", script]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    let broker = child.id();
    if let Some(mut stdin) = child.stdin.take() {
        writeln!(stdin, "{broker}").map_err(|e| e.to_string())?;
    }
    let o = finish(child);
    ensure!(o.code == Some(0), "{o:?}");
    // Without a PID namespace Landlock's signal scope refuses (EPERM); in
    // one, the broker does not exist for the program (ESRCH). ptrace is
    // refused by the deny filter first.
    let expected = if o.stdout.starts_with("pid 2\n") {
        "pid 2\nsignal 3\nptrace -1 1\n"
    } else {
        "pid other\nsignal 1\nptrace -1 1\n"
    };
    ensure!(o.stdout == expected, "{o:?}");
    ensure!(
        !common::pid_namespace_expected() || o.stdout.starts_with("pid 2\n"),
        "no PID namespace: {o:?}"
    );
    Ok(())
}

fn leftover_processes_are_killed(t: &Tree) -> R {
    // A duration no other process uses, to find the sleep by: in a PID
    // namespace `$!` is not the pid this side sees.
    let marker = format!(
        "{}.{}",
        1000 + std::process::id() % 1000,
        t.root.display().to_string().len()
    );
    let o = fdbroker_run(
        &shell_policy(t),
        None,
        None,
        &["sh", "-c", &format!("sleep {marker} & echo $!")],
    );
    ensure!(o.code == Some(0), "{o:?}");
    let _: u32 = o.stdout.trim().parse().map_err(|e| format!("{e}: {o:?}"))?;
    // fdbroker has exited: the background sleep must be gone with it.
    let survivors = common::processes_with_arg(&marker);
    ensure!(
        survivors.is_empty(),
        "sleep {survivors:?} survived the sandbox"
    );
    Ok(())
}

/// Role "client": inside the sandbox, use the socketpair protocol.
fn client_role() -> i32 {
    use std::io::Read as _;
    let args: Vec<String> = std::env::args().collect();
    let client = match fdbroker::client::Client::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("client: {e}");
            return 1;
        }
    };
    match client.open(&args[1], libc::O_RDONLY, 0) {
        Ok(fd) => {
            let mut s = String::new();
            let _ = fs::File::from(fd).read_to_string(&mut s);
            print!("protocol: {s}");
        }
        Err(e) => println!("protocol: open failed: {e}"),
    }
    match client.open(&args[2], libc::O_RDONLY, 0) {
        Err(e) if e.errno() == nix::errno::Errno::ENOENT => println!("protocol: hidden"),
        other => println!("protocol: unexpected {other:?}"),
    }
    0
}

/// Role "no-landlock" / "no-user-notif": make this process look like a kernel
/// without the feature (the probing system call fails as it would there),
/// then exec `fdbroker run`.
fn missing_kernel_role(role: &str) -> i32 {
    use seccompiler::{
        SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    };
    let (nr, rules, errno) = match role {
        "no-landlock" => (libc::SYS_landlock_create_ruleset, vec![], libc::ENOSYS),
        _ => (
            libc::SYS_seccomp,
            vec![
                SeccompRule::new(vec![
                    SeccompCondition::new(
                        0,
                        SeccompCmpArgLen::Dword,
                        SeccompCmpOp::Eq,
                        u64::from(libc::SECCOMP_GET_ACTION_AVAIL),
                    )
                    .expect("condition"),
                ])
                .expect("rule"),
            ],
            libc::EOPNOTSUPP,
        ),
    };
    let filter = SeccompFilter::new(
        [(nr, rules)].into_iter().collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(errno as u32),
        std::env::consts::ARCH.try_into().expect("arch"),
    )
    .expect("filter");
    let prog: seccompiler::BpfProgram = filter.try_into().expect("compile");
    seccompiler::apply_filter(&prog).expect("apply");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let err = Command::new(FDBROKER).args(&args).exec();
    eprintln!("exec fdbroker: {err}");
    1
}

fn missing_kernel_features_refuse_to_run(t: &Tree) -> R {
    let pol = shell_policy(t);
    for (role, needle) in [
        ("no-landlock", "Landlock"),
        ("no-user-notif", "user notification"),
    ] {
        let mut cmd = Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
        cmd.env(ROLE_ENV, role).args([
            "run",
            "--policy",
            &pol,
            "--",
            "sh",
            "-c",
            "echo RAN UNCONFINED",
        ]);
        let o = finish(spawn(&mut cmd));
        ensure!(o.code == Some(125), "{role}: {o:?}");
        ensure!(
            o.stderr.contains("refusing to run unconfined") && o.stderr.contains(needle),
            "{role}: {o:?}"
        );
        ensure!(!o.stdout.contains("RAN"), "{role}: the program ran: {o:?}");
    }
    Ok(())
}

fn shipped_example_policies_are_valid(_t: &Tree) -> R {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/examples");
    let mut files = vec![];
    for sub in [dir.clone(), dir.join("include")] {
        for e in fs::read_dir(&sub).map_err(|e| e.to_string())?.flatten() {
            if e.path().extension().is_some_and(|x| x == "toml") {
                files.push(e.path());
            }
        }
    }
    ensure!(files.len() >= 6, "{files:?}");
    let o = finish(spawn(Command::new(FDBROKER).arg("check").args(&files)));
    ensure!(o.code == Some(0), "{o:?}");
    Ok(())
}

/// Whether `fdbroker run` can work here: `Err(reason)` when the kernel
/// lacks something it needs.
fn kernel_ready(t: &Tree) -> Result<(), String> {
    let o = fdbroker_run(&shell_policy(t), None, None, &["true"]);
    if o.code == Some(125) && o.stderr.contains("refusing to run unconfined") {
        return Err(o.stderr.trim().to_string());
    }
    Ok(())
}

fn main() {
    if let Ok(role) = std::env::var(ROLE_ENV) {
        let code = match role.as_str() {
            "client" => client_role(),
            r => missing_kernel_role(r),
        };
        std::process::exit(code);
    }
    let cases: &[Case<Tree>] = &[
        (
            "shipped_example_policies_are_valid",
            shipped_example_policies_are_valid,
            false,
        ),
        (
            "missing_kernel_features_refuse_to_run",
            missing_kernel_features_refuse_to_run,
            false,
        ),
        ("cat_reads_an_allowed_file", cat_reads_an_allowed_file, true),
        (
            "cat_of_a_hidden_file_is_enoent_like_a_missing_one",
            cat_of_a_hidden_file_is_enoent_like_a_missing_one,
            true,
        ),
        (
            "sh_runs_a_script_and_its_exit_status_passes",
            sh_runs_a_script_and_its_exit_status_passes,
            true,
        ),
        (
            "python_reads_and_writes_only_where_allowed",
            python_reads_and_writes_only_where_allowed,
            true,
        ),
        (
            "grep_r_walks_only_the_allowed_tree",
            grep_r_walks_only_the_allowed_tree,
            true,
        ),
        (
            "shell_redirections_to_dev_null_work",
            shell_redirections_to_dev_null_work,
            true,
        ),
        (
            "file_identifies_input_it_never_saw",
            file_identifies_input_it_never_saw,
            true,
        ),
        ("signals_pass_through", signals_pass_through, true),
        (
            "sigterm_to_fdbroker_is_forwarded",
            sigterm_to_fdbroker_is_forwarded,
            true,
        ),
        ("exit_codes_126_and_127", exit_codes_126_and_127, true),
        (
            "exec_outside_the_policy_is_refused",
            exec_outside_the_policy_is_refused,
            true,
        ),
        (
            "exec_deny_rules_hold_inside_granted_directories",
            exec_deny_rules_hold_inside_granted_directories,
            true,
        ),
        (
            "foreign_syscall_abis_are_killed",
            foreign_syscall_abis_are_killed,
            true,
        ),
        (
            "forked_and_executed_programs_are_brokered",
            forked_and_executed_programs_are_brokered,
            true,
        ),
        (
            "relative_paths_resolve_against_the_working_directory",
            relative_paths_resolve_against_the_working_directory,
            true,
        ),
        (
            "audit_log_records_each_decision",
            audit_log_records_each_decision,
            true,
        ),
        (
            "metadata_is_brokered_without_leaking_existence",
            metadata_is_brokered_without_leaking_existence,
            true,
        ),
        ("calls_not_allowed_fail", calls_not_allowed_fail, true),
        (
            "network_true_allows_inet_sockets",
            network_true_allows_inet_sockets,
            true,
        ),
        (
            "runs_unprivileged_without_capabilities",
            runs_unprivileged_without_capabilities,
            true,
        ),
        ("cloexec_is_honoured", cloexec_is_honoured, true),
        ("threads_are_brokered", threads_are_brokered, true),
        (
            "socketpair_protocol_is_served_too",
            socketpair_protocol_is_served_too,
            true,
        ),
        (
            "the_environment_is_minimal_unless_extended",
            the_environment_is_minimal_unless_extended,
            true,
        ),
        (
            "no_tty_gives_the_program_no_terminal",
            no_tty_gives_the_program_no_terminal,
            true,
        ),
        (
            "the_program_cannot_touch_the_broker",
            the_program_cannot_touch_the_broker,
            true,
        ),
        (
            "leftover_processes_are_killed",
            leftover_processes_are_killed,
            true,
        ),
    ];
    common::run_cases(cases, kernel_ready(&Tree::new()), Tree::new);
}
