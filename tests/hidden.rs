//! Hidden paths look absent under `fdbroker run`: a path the policy does not
//! let the program even `stat` answers `ENOENT` through every call that
//! names a path (the brokered ones and `execve`, `execveat`, `chdir`),
//! whether it exists or not, and a path it may see but not use as asked
//! answers `EACCES`. Search paths then move on past hidden entries, and
//! denial lines, `--fail-on-denial` and learn mode leave probes of missing
//! paths out. Each case has an unconfined control where the oracle exists
//! natively.
//!
//! `harness = false`: main() runs every case in turn and prints
//! `N passed, M failed`; without Landlock or seccomp user notification the
//! cases are skipped with the reason, unless `FDBROKER_REQUIRE_KERNEL=1`.

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{Case, Out, Scratch, finish, output};

const FDBROKER: &str = env!("CARGO_BIN_EXE_fdbroker");
const PYTHON: &str = "/usr/bin/python3";
const PERL: &str = "/usr/bin/perl";

/// A shipped example include.
fn include(name: &str) -> String {
    format!(
        "{}/policies/examples/include/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A scratch tree: `in/` (readable), `seen` (stat only: visible, not
/// readable, executable by its mode), `hidden/` (nothing granted), and
/// Perl's and Python's own files.
fn tree() -> Scratch {
    let s = Scratch::new(|root| {
        let ancestors: Vec<String> = root
            .ancestors()
            .filter(|a| *a != Path::new("/"))
            .map(|a| format!("\"{}\"", a.display()))
            .collect();
        format!(
            r#"version = 1
profiles = ["runtime"]
include = ["{shell}", "{python}"]

[[allow]]
paths  = ["{r}/in", "{r}/in/**"]
access = ["read"]

[[allow]]
paths  = ["{r}/seen"]
access = ["stat"]

[[allow]]
paths  = [{anc}]
access = ["stat"]

# Perl's own modules, wherever Debian puts them.
[[allow]]
paths  = ["/etc/perl", "/etc/perl/**",
          "/usr/lib/x86_64-linux-gnu/perl*", "/usr/lib/x86_64-linux-gnu/perl*/**",
          "/usr/share/perl*", "/usr/share/perl*/**"]
access = ["read"]
"#,
            shell = include("shell-tools.toml"),
            python = include("python3.toml"),
            r = root.display(),
            anc = ancestors.join(", "),
        )
    });
    for d in ["in", "hidden/dir"] {
        fs::create_dir_all(s.root.join(d)).expect("mkdir");
    }
    let w = |p: &str, text: &str| fs::write(s.root.join(p), text).expect("write");
    w("in/a.txt", "alpha\n");
    w("hidden/file", "SECRET\n");
    w(
        "hidden/POSIX.pm",
        "die \"the hidden POSIX.pm was loaded\\n\";\n",
    );
    w("seen", "#!/bin/sh\necho ran\n");
    fs::set_permissions(s.root.join("seen"), fs::Permissions::from_mode(0o755)).expect("chmod");
    s
}

fn run(s: &Scratch, extra: &[&str], argv: &[&str]) -> Out {
    let mut cmd = Command::new(FDBROKER);
    cmd.arg("run").arg("--policy").arg(&s.policy).args(extra);
    cmd.arg("--").args(argv).current_dir("/");
    output(cmd.stdin(Stdio::null()))
}

fn native(argv: &[&str]) -> Out {
    output(
        Command::new(argv[0])
            .args(&argv[1..])
            .current_dir("/")
            .stdin(Stdio::null()),
    )
}

type R = Result<(), String>;

/// Every path-naming call, on each path given: one line `PATH CALL ERRNO`
/// (0 for success). `execve`/`execveat` only ever fail here: no path given
/// is a program that may run.
const PROBE: &str = r#"
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
def err(f, *a):
    try:
        r = f(*a)
        if isinstance(r, int) and r > 2 and f is os.open:
            os.close(r)
        return 0
    except OSError as e:
        return e.errno
def raw(nr, *a):
    a = [ctypes.c_long(x) if isinstance(x, int) else x for x in a]
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *a)
    if r >= 0 and nr in (437,):
        os.close(r)
    return 0 if r >= 0 else ctypes.get_errno()
def chdir(p):
    os.chdir(p)
    os.chdir("/")
argv = (ctypes.c_char_p * 2)(b"x", None)
envp = (ctypes.c_char_p * 1)(None)
statx = ctypes.create_string_buffer(256)
how = (ctypes.c_uint64 * 3)(os.O_RDONLY, 0, 0)
for p in sys.argv[1:]:
    b = p.encode()
    calls = {
        "open": err(os.open, p, os.O_RDONLY),
        "stat": err(os.stat, p),
        "lstat": err(os.lstat, p),
        "statx": raw(332, AT_FDCWD, b, 0, 0xfff, statx),
        "access": raw(21, b, 0),
        "readlink": err(os.readlink, p),
        "openat2": raw(437, AT_FDCWD, b, how, 24),
        "chdir": err(chdir, p),
        "execve": raw(59, b, argv, envp),
        "execveat": raw(322, AT_FDCWD, b, argv, envp, 0),
    }
    for call, e in calls.items():
        print(p, call, e)
"#;

/// `PROBE`'s answers: `(path, call) -> errno`.
fn probe(o: &Out) -> Result<BTreeMap<(String, String), i32>, String> {
    ensure!(o.code == Some(0), "probe: {o:?}");
    o.stdout
        .lines()
        .map(|l| {
            let mut f = l.rsplitn(3, ' ');
            let (e, call, path) = (f.next(), f.next(), f.next());
            match (e.and_then(|e| e.parse().ok()), call, path) {
                (Some(e), Some(c), Some(p)) => Ok(((p.to_string(), c.to_string()), e)),
                _ => Err(format!("bad line {l:?}")),
            }
        })
        .collect()
}

// ---------------------------------------------------------------- cases

fn hidden_and_missing_paths_answer_the_same(s: &Scratch) -> R {
    let hidden = [
        "hidden/file",
        "hidden/dir",
        "hidden/nothing",
        "hidden/dir/nothing",
    ];
    let missing = ["nowhere/at/all", "in/nothing"];
    let paths: Vec<String> = hidden.iter().chain(&missing).map(|p| s.p(p)).collect();
    let mut argv = vec![PYTHON, "-c", PROBE];
    argv.extend(paths.iter().map(String::as_str));
    let got = probe(&run(s, &[], &argv))?;
    ensure!(got.len() == paths.len() * 10, "{got:?}");
    for ((path, call), e) in &got {
        // in/nothing may be seen: its real error, also ENOENT. The rest
        // are hidden or missing: ENOENT whatever the call.
        ensure!(*e == libc::ENOENT, "{call} {path}: errno {e}, not ENOENT");
    }
    // The control: unconfined, existence shows.
    let native = probe(&native(&argv))?;
    let at = |p: &str, c: &str| native.get(&(s.p(p), c.to_string())).copied();
    ensure!(at("hidden/file", "stat") == Some(0), "{native:?}");
    ensure!(at("hidden/dir", "chdir") == Some(0), "{native:?}");
    ensure!(
        at("hidden/file", "execve") == Some(libc::EACCES),
        "{native:?}"
    );
    ensure!(
        at("hidden/nothing", "stat") == Some(libc::ENOENT),
        "{native:?}"
    );
    Ok(())
}

fn visible_but_not_allowed_is_eacces(s: &Scratch) -> R {
    let seen = s.p("seen");
    let a = s.p("in/a.txt");
    let o = run(s, &[], &[PYTHON, "-c", PROBE, &seen, &a]);
    let got = probe(&o)?;
    let at = |p: &str, c: &str| got.get(&(p.to_string(), c.to_string())).copied();
    // `seen` may be stat'ed, not read or executed: the kernel would run it
    // (mode 0755), Landlock refuses.
    for (call, e) in [
        ("stat", 0),
        ("lstat", 0),
        ("statx", 0),
        ("access", 0),
        ("open", libc::EACCES),
        ("openat2", libc::EACCES),
        ("readlink", libc::EINVAL),
        ("chdir", libc::ENOTDIR),
        ("execve", libc::EACCES),
        ("execveat", libc::EACCES),
    ] {
        ensure!(
            at(&seen, call) == Some(e),
            "{call}: {:?}: {o:?}",
            at(&seen, call)
        );
    }
    ensure!(at(&a, "open") == Some(0), "{o:?}");
    ensure!(at(&a, "execve") == Some(libc::EACCES), "{o:?}");
    Ok(())
}

fn descriptor_forms_judge_the_path_they_were_opened_at(s: &Scratch) -> R {
    // The caller hands the program a hidden file as its standard input:
    // fstat of a descriptor it holds is answered, faccessat2 with
    // AT_EMPTY_PATH is judged on the path the descriptor was opened at.
    let script = r#"
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def fa(fd):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(439), ctypes.c_long(fd), b"", ctypes.c_long(0), ctypes.c_long(0x1000))
    return 0 if r == 0 else ctypes.get_errno()
seen = os.open(os.environ["SEEN"], os.O_RDONLY)
print(os.fstat(0).st_size, fa(0), fa(seen))
"#;
    let input = fs::File::open(s.root.join("hidden/file")).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(FDBROKER);
    cmd.arg("run").arg("--policy").arg(&s.policy);
    cmd.arg(format!("--setenv=SEEN={}", s.p("in/a.txt")));
    cmd.args(["--", PYTHON, "-c", script]).current_dir("/");
    cmd.stdin(input)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let o = finish(cmd.spawn().map_err(|e| e.to_string())?);
    ensure!(o.code == Some(0) && o.stdout == "7 2 0\n", "{o:?}");
    Ok(())
}

fn a_working_directory_moved_out_of_sight_is_judged_where_it_is(s: &Scratch) -> R {
    // The program enters a visible directory; from outside, the directory
    // is then moved where the program may not see: `stat(".")` and fstat
    // of the working directory (statx AT_FDCWD, "", AT_EMPTY_PATH) now
    // answer as for any hidden path.
    let script = r#"
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
def fst():
    buf = ctypes.create_string_buffer(256)
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(332), ctypes.c_long(-100), b"", ctypes.c_long(0x1000), ctypes.c_long(0xfff), buf)
    return 0 if r == 0 else ctypes.get_errno()
def st(p):
    try:
        os.stat(p)
        return 0
    except OSError as e:
        return e.errno
os.chdir(sys.argv[1])
print("before", st("."), fst(), flush=True)
sys.stdin.readline()
print("after", st("."), fst(), flush=True)
"#;
    use std::io::{BufRead, BufReader, Write};
    fs::create_dir(s.root.join("in/moving")).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(FDBROKER);
    cmd.arg("run").arg("--policy").arg(&s.policy);
    cmd.args(["--", PYTHON, "-c", script, &s.p("in/moving")]);
    cmd.current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    let mut first = String::new();
    if let Some(out) = child.stdout.as_mut() {
        BufReader::new(out)
            .read_line(&mut first)
            .map_err(|e| e.to_string())?;
    }
    let moved = fs::rename(s.root.join("in/moving"), s.root.join("hidden/moved"));
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(b"go\n");
    }
    let o = finish(child);
    moved.map_err(|e| format!("rename: {e}"))?;
    ensure!(first == "before 0 0\n", "{first:?} {o:?}");
    ensure!(o.code == Some(0) && o.stdout == "after 2 2\n", "{o:?}");
    Ok(())
}

fn search_paths_move_past_hidden_directories(s: &Scratch) -> R {
    // Perl's `require` stops at the first error that is not ENOENT: a
    // hidden directory answering EACCES first in @INC would end the search.
    let script = format!(
        "use lib \"/root/hidden\", \"{}\"; use POSIX (); print \"found POSIX\\n\";",
        s.p("hidden")
    );
    let o = run(s, &[], &[PERL, "-e", &script]);
    ensure!(o.code == Some(0) && o.stdout == "found POSIX\n", "{o:?}");
    // The control: unconfined, the file there is found first (or /root
    // cannot be searched), and the search ends with it.
    let o = native(&[PERL, "-e", &script]);
    ensure!(o.code != Some(0), "control: {o:?}");
    // Python moves on past a hidden directory on sys.path too.
    let script = format!(
        "import sys; sys.path[:0] = [\"{}\", \"/root/hidden\"]; import json; print(json.dumps(1))",
        s.p("hidden/dir")
    );
    let o = run(s, &[], &[PYTHON, "-c", &script]);
    ensure!(o.code == Some(0) && o.stdout == "1\n", "python: {o:?}");
    Ok(())
}

fn denials_count_only_paths_that_exist(s: &Scratch) -> R {
    // Probes of missing paths, hidden or not: no denial line, no 118.
    let script = format!(
        "cat {} {} {} 2>/dev/null; exit 0",
        s.p("hidden/nothing"),
        s.p("hidden/dir/nothing/deeper"),
        s.p("in/nothing")
    );
    let o = run(s, &["--fail-on-denial"], &["sh", "-c", &script]);
    ensure!(o.code == Some(0), "{o:?}");
    ensure!(!o.stderr.contains("fdbroker: denied"), "{o:?}");
    // A hidden file that exists: the program saw ENOENT, but it is a denial.
    let script = format!("cat {} 2>/dev/null; exit 0", s.p("hidden/file"));
    let o = run(s, &["--fail-on-denial"], &["sh", "-c", &script]);
    ensure!(o.code == Some(118), "hidden file: {o:?}");
    let line = format!("fdbroker: denied read of {}", s.p("hidden/file"));
    ensure!(o.stderr.contains(&line), "hidden file: {o:?}");
    // A visible one refused: EACCES, a denial too.
    let script = format!("cat {} 2>/dev/null; exit 0", s.p("seen"));
    let o = run(s, &["--fail-on-denial"], &["sh", "-c", &script]);
    ensure!(o.code == Some(118), "visible file: {o:?}");
    Ok(())
}

fn learn_mode_leaves_missing_paths_out(s: &Scratch) -> R {
    let out = s.root.join("learned.toml");
    let script = format!(
        "cat {} 2>/dev/null; cat {} >/dev/null",
        s.p("in/nothing"),
        s.p("in/a.txt")
    );
    let mut cmd = Command::new(FDBROKER);
    cmd.arg("run").arg("--learn").arg(&out).arg("--quiet");
    cmd.args(["--", "sh", "-c", &script]).current_dir("/");
    let o = output(cmd.stdin(Stdio::null()));
    ensure!(o.code == Some(0), "{o:?}");
    let learned = fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    // The rules, not the comment naming the command.
    let rules: String = learned
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    ensure!(rules.contains(&s.p("in/a.txt")), "{learned}");
    ensure!(!rules.contains(&s.p("in/nothing")), "{learned}");
    Ok(())
}

fn kernel_ready(s: &Scratch) -> R {
    let o = run(s, &[], &["true"]);
    if o.code == Some(125) && o.stderr.contains("refusing to run unconfined") {
        return Err(o.stderr.trim().to_string());
    }
    Ok(())
}

fn main() {
    let cases: &[Case<Scratch>] = &[
        (
            "hidden_and_missing_paths_answer_the_same",
            hidden_and_missing_paths_answer_the_same,
            true,
        ),
        (
            "visible_but_not_allowed_is_eacces",
            visible_but_not_allowed_is_eacces,
            true,
        ),
        (
            "descriptor_forms_judge_the_path_they_were_opened_at",
            descriptor_forms_judge_the_path_they_were_opened_at,
            true,
        ),
        (
            "a_working_directory_moved_out_of_sight_is_judged_where_it_is",
            a_working_directory_moved_out_of_sight_is_judged_where_it_is,
            true,
        ),
        (
            "search_paths_move_past_hidden_directories",
            search_paths_move_past_hidden_directories,
            true,
        ),
        (
            "denials_count_only_paths_that_exist",
            denials_count_only_paths_that_exist,
            true,
        ),
        (
            "learn_mode_leaves_missing_paths_out",
            learn_mode_leaves_missing_paths_out,
            true,
        ),
    ];
    common::run_cases(cases, kernel_ready(&tree()), tree);
}
