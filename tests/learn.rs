//! Learn mode, helpful denials, audit summaries and `check --strict`, with
//! the built binary run as a user would (`docs/learn.md`).
//!
//! `harness = false`: main() runs every case in turn and prints
//! `N passed, M failed`. Cases that need `fdbroker run` are skipped with the
//! reason when this kernel lacks Landlock or seccomp user notification,
//! unless `FDBROKER_REQUIRE_KERNEL=1`, which makes that a failure.

#[macro_use]
mod common;

use std::fs;

use common::{Case, Out, finish};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const FDBROKER: &str = env!("CARGO_BIN_EXE_fdbroker");
const PYTHON: &str = "/usr/bin/python3";

type R = Result<(), String>;

/// A scratch directory the unprivileged program user can traverse:
/// `in/` (read), `tree/` (walked), `out/` (written), `other/` (never used).
struct Tree {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Tree {
    fn new() -> Tree {
        let (dir, root) = common::scratch_dir();
        for d in ["in", "out", "other", "tree/a", "tree/b/c", "tree/d"] {
            fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        let t = Tree { _dir: dir, root };
        t.write("in/a.txt", "alpha needle\n");
        t.write("in/b.txt", "beta needle\n");
        t.write("other/secret.txt", "SECRET needle\n");
        for d in ["tree", "tree/a", "tree/b", "tree/b/c", "tree/d"] {
            for i in 0..3 {
                t.write(&format!("{d}/f{i}.txt"), &format!("needle in {d} {i}\n"));
            }
        }
        t
    }

    fn p(&self, rel: &str) -> String {
        self.root.join(rel).display().to_string()
    }

    fn write(&self, rel: &str, text: &str) {
        fs::write(self.root.join(rel), text).expect("write");
    }

    fn exe(&self, rel: &str, text: &str) {
        self.write(rel, text);
        fs::set_permissions(self.root.join(rel), fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.root.join(rel)).unwrap_or_default()
    }
}

/// `fdbroker ARGS...`, in `cwd` (default `/`).
fn fdbroker(args: &[&str], cwd: Option<&Path>) -> Out {
    let mut cmd = Command::new(FDBROKER);
    // cargo's test environment points the loader at target/: keep its
    // probes out of learned policies.
    cmd.args(args)
        .env_remove("LD_LIBRARY_PATH")
        .current_dir(cwd.unwrap_or(Path::new("/")))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    finish(cmd.spawn().expect("spawn fdbroker"))
}

/// `fdbroker run --learn OUT [extra...] -- argv...`.
fn learn(out: &str, extra: &[&str], argv: &[&str], cwd: Option<&Path>) -> Out {
    let mut args = vec!["run", "--learn", out];
    args.extend_from_slice(extra);
    args.push("--");
    args.extend_from_slice(argv);
    fdbroker(&args, cwd)
}

/// `fdbroker run --policy POLICY [extra...] -- argv...`.
fn run(policy: &str, extra: &[&str], argv: &[&str], cwd: Option<&Path>) -> Out {
    let mut args = vec!["run", "--policy", policy];
    args.extend_from_slice(extra);
    args.push("--");
    args.extend_from_slice(argv);
    fdbroker(&args, cwd)
}

/// The learned policy passes `fdbroker check`.
fn check_ok(policy: &str) -> R {
    let o = fdbroker(&["check", policy], None);
    ensure!(
        o.code == Some(0) && o.stdout.starts_with("OK: "),
        "check {policy}: {o:?}"
    );
    Ok(())
}

/// `fdbroker explain` says `policy` denies `access` on `path`.
fn explain_denies(policy: &str, access: &str, path: &str) -> R {
    let o = fdbroker(&["explain", "-p", policy, "-a", access, path], None);
    ensure!(
        o.code == Some(1) && o.stdout.starts_with("deny "),
        "{path} [{access}] should be denied by {policy}: {o:?}"
    );
    Ok(())
}

/// The `[[allow]]` paths of a learned policy file.
fn learned_paths(t: &Tree, rel: &str) -> Vec<String> {
    t.read(rel)
        .lines()
        .filter_map(|l| l.strip_prefix("paths  = [\""))
        .filter_map(|l| l.strip_suffix("\"]"))
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------- learn

fn learn_cat(t: &Tree) -> R {
    let pol = t.p("cat.toml");
    let o = learn(&pol, &[], &["cat", &t.p("in/a.txt")], None);
    ensure!(
        o.code == Some(0) && o.stdout == "alpha needle\n",
        "learn: {o:?}"
    );
    ensure!(o.stderr.contains("fdbroker: learned 1 rule from "), "{o:?}");
    let text = t.read("cat.toml");
    ensure!(text.contains("profiles = [\"runtime\"]"), "{text}");
    // Narrowest right, commented with what asked; no library listed.
    ensure!(
        text.contains(&format!(
            "[[allow]]\npaths  = [\"{}\"]\naccess = [\"read\"]\n",
            t.p("in/a.txt")
        )),
        "{text}"
    );
    ensure!(
        text.contains("# open 1x; first by /usr/bin/cat, pid "),
        "{text}"
    );
    ensure!(
        !text.contains("libc.so") && !text.contains("ld.so.cache"),
        "{text}"
    );
    check_ok(&pol)?;
    let o = run(&pol, &[], &["cat", &t.p("in/a.txt")], None);
    ensure!(
        o.code == Some(0) && o.stdout == "alpha needle\n",
        "rerun: {o:?}"
    );
    ensure!(o.stderr.is_empty(), "rerun: {o:?}");
    // A file it never touched, next to the one it read.
    explain_denies(&pol, "read", &t.p("in/b.txt"))?;
    let o = run(&pol, &[], &["cat", &t.p("in/b.txt")], None);
    ensure!(o.code == Some(1) && !o.stdout.contains("needle"), "{o:?}");
    Ok(())
}

fn learn_sh_script(t: &Tree) -> R {
    t.exe("in/helper.sh", "#!/bin/sh\necho helper says \"$1\"\n");
    // A #! line with an argument: the kernel runs [INTERP, ARG, SCRIPT].
    t.exe(
        "in/helper.py",
        "#!/usr/bin/python3 -S\nprint('python helper')\n",
    );
    t.write(
        "in/script.sh",
        "cd \"$(dirname \"$0\")\"\necho script says hi\ncat a.txt\n./helper.sh x\n./helper.py\nls . > /dev/null\nexit 3\n",
    );
    let pol = t.p("sh.toml");
    let argv = ["sh", &t.p("in/script.sh")];
    let want = "script says hi\nalpha needle\nhelper says x\npython helper\n";
    let o = learn(&pol, &[], &argv, None);
    ensure!(o.code == Some(3) && o.stdout == want, "learn: {o:?}");
    ensure!(
        o.stderr.contains("the program ended with status 3"),
        "{o:?}"
    );
    let paths = learned_paths(t, "sh.toml");
    // Programs it executed besides the shell: the #! scripts, their
    // interpreter, and ls.
    for p in [
        t.p("in/helper.sh"),
        t.p("in/helper.py"),
        "/usr/bin/python3.11".into(),
        "/usr/bin/ls".into(),
        t.p("in/script.sh"),
    ] {
        ensure!(paths.contains(&p), "{p} missing: {paths:?}");
    }
    let text = t.read("sh.toml");
    ensure!(
        text.contains(&format!(
            "paths  = [\"{}\"]\naccess = [\"read\", \"exec\"]",
            t.p("in/helper.sh")
        )),
        "{text}"
    );
    ensure!(
        !paths.contains(&"/usr/bin/dash".to_string()),
        "the program itself is implicit: {paths:?}"
    );
    check_ok(&pol)?;
    let o = run(&pol, &[], &argv, None);
    ensure!(o.code == Some(3) && o.stdout == want, "rerun: {o:?}");
    ensure!(!o.stderr.contains("fdbroker: denied"), "rerun: {o:?}");
    explain_denies(&pol, "read", &t.p("in/b.txt"))?;
    explain_denies(&pol, "exec", "/usr/bin/wc")?;
    Ok(())
}

fn learn_python_reads_and_writes(t: &Tree) -> R {
    t.write(
        "in/convert.py",
        "import sys\nsrc, dst = sys.argv[1], sys.argv[2]\n\
         data = open(src).read()\n\
         with open(dst, 'w') as f:\n    f.write(data.upper())\n\
         print('converted', len(data))\n",
    );
    let pol = t.p("py.toml");
    let argv = [
        PYTHON,
        &t.p("in/convert.py"),
        &t.p("in/a.txt"),
        &t.p("out/A.txt"),
    ];
    let out_dir = t.p("out");
    let o = learn(&pol, &["--learn-writable", &out_dir], &argv, None);
    ensure!(
        o.code == Some(0) && o.stdout == "converted 13\n",
        "learn: {o:?}"
    );
    ensure!(t.read("out/A.txt") == "ALPHA NEEDLE\n", "written");
    let text = t.read("py.toml");
    // The file was created: it needs create now, and write once it exists.
    ensure!(
        text.contains(&format!(
            "paths  = [\"{}\"]\naccess = [\"write\", \"create\"]",
            t.p("out/A.txt")
        )),
        "{text}"
    );
    check_ok(&pol)?;
    // Again, the output now existing.
    let o = run(&pol, &[], &argv, None);
    ensure!(
        o.code == Some(0) && o.stdout == "converted 13\n",
        "rerun: {o:?}"
    );
    ensure!(!o.stderr.contains("fdbroker: denied"), "rerun: {o:?}");
    explain_denies(&pol, "read", &t.p("in/b.txt"))?;
    explain_denies(&pol, "create", &t.p("out/B.txt"))?;
    let o = run(
        &pol,
        &[],
        &[
            PYTHON,
            &t.p("in/convert.py"),
            &t.p("in/b.txt"),
            &t.p("out/B.txt"),
        ],
        None,
    );
    ensure!(
        o.code != Some(0) && !t.root.join("out/B.txt").exists(),
        "{o:?}"
    );
    Ok(())
}

/// The script of [`learn_generalises_to_a_second_input`]: imports the
/// `debpython` modules its input names, reads `$HOME/.config/conv.cfg`,
/// leaves a temporary file in `$TMPDIR` and writes its output.
const CONV: &str = "import importlib, os, sys, tempfile\n\
    sys.path.insert(0, '/usr/share/python3')\n\
    mods = open(sys.argv[1]).read().split()\n\
    for m in mods:\n    importlib.import_module('debpython.' + m)\n\
    cfg = open(os.environ['HOME'] + '/.config/conv.cfg').read().strip()\n\
    with tempfile.NamedTemporaryFile('w', dir=os.environ['TMPDIR'], delete=False) as f:\n    f.write(cfg)\n\
    open(sys.argv[2], 'w').write(cfg + ': ' + ' '.join(mods) + '\\n')\n";

/// Learned with grants on one input, in one set of directories, the policy
/// serves another input needing other modules of the same package, run
/// from other directories: the package directory is a glob, the run's
/// `HOME`, `TMPDIR` and working directory are variables, the temporary
/// file's random name a glob, and the policy passes `check --strict`.
fn learn_generalises_to_a_second_input(t: &Tree) -> R {
    let (_second, other) = common::scratch_dir();
    // A run's directories under `root`, its input naming `modules`, and
    // the options that give them to the program.
    let dirs = |root: &Path, modules: &str| -> Vec<String> {
        for d in ["work", "home/.config", "tmp", "in", "out"] {
            fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        fs::write(root.join("work/conv.py"), CONV).expect("script");
        fs::write(root.join("home/.config/conv.cfg"), "cfg\n").expect("cfg");
        fs::write(root.join("in/list.txt"), modules).expect("input");
        let p = |rel: &str| root.join(rel).display().to_string();
        let (home, tmp) = (
            format!("HOME={}", p("home")),
            format!("TMPDIR={}", p("tmp")),
        );
        [
            "--setenv",
            &home,
            "--setenv",
            &tmp,
            "--read",
            &p("in"),
            "--write",
            &p("out"),
        ]
        .map(String::from)
        .to_vec()
    };
    let argv = [PYTHON, "conv.py", "../in/list.txt", "../out/o.txt"];
    let pol = t.p("conv.toml");
    let mut extra = dirs(&t.root, "option");
    extra.extend(["--learn-writable".to_string(), t.p("tmp")]);
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let o = learn(&pol, &extra, &argv, Some(&t.root.join("work")));
    ensure!(o.code == Some(0), "learn: {o:?}");
    ensure!(t.read("out/o.txt") == "cfg: option\n", "learn: {o:?}");
    let text = t.read("conv.toml");
    let root = t.root.display().to_string();
    for want in [
        "# ${HOME} was ",
        "paths  = [\"${CWD}/conv.py\"]\naccess = [\"read\"]",
        "paths  = [\"${HOME}/.config/conv.cfg\"]\naccess = [\"read\"]",
        "paths  = [\"${TMPDIR}/tmp*\"]\naccess = [\"read\", \"write\", \"create\"]",
        "paths  = [\"/usr/share/python3/",
    ] {
        ensure!(text.contains(want), "{want} missing:\n{text}");
    }
    let rules = text.lines().filter(|l| !l.starts_with('#'));
    ensure!(
        !rules.clone().any(|l| l.contains(&root)),
        "a path of the run is written:\n{text}"
    );
    ensure!(!text.contains("conv.py\"]\naccess = [\"stat\"]"), "{text}");
    // Checked from elsewhere: `${CWD}` is then another directory.
    let o = fdbroker(&["check", "--strict", &pol], Some(&other));
    ensure!(
        o.code == Some(0) && o.stderr.is_empty(),
        "check --strict: {o:?}"
    );

    // The other input needs `files`, not loaded in the first run.
    let extra = dirs(&other, "files");
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let o = run(&pol, &extra, &argv, Some(&other.join("work")));
    ensure!(o.code == Some(0), "rerun: {o:?}");
    ensure!(!o.stderr.contains("fdbroker: denied"), "rerun: {o:?}");
    let out = fs::read_to_string(other.join("out/o.txt")).unwrap_or_default();
    ensure!(out == "cfg: files\n", "rerun: {out:?} {o:?}");
    let left = fs::read_dir(other.join("tmp")).map_or(0, Iterator::count);
    ensure!(left == 1, "rerun: {left} temporary files");
    Ok(())
}

fn learn_refuses_writes_outside_learn_writable(t: &Tree) -> R {
    let pol = t.p("nowrite.toml");
    let target = t.p("other/new.txt");
    let code = format!("open({target:?}, 'w').write('x')");
    let o = learn(&pol, &[], &[PYTHON, "-c", &code], None);
    ensure!(
        o.code == Some(1) && o.stderr.contains("PermissionError"),
        "{o:?}"
    );
    let msg = format!(
        "fdbroker: not learning write access to {target}: outside --learn-writable (use --learn-writable DIR)"
    );
    ensure!(o.stderr.matches(&msg).count() == 1, "{o:?}");
    ensure!(!t.root.join("other/new.txt").exists(), "created anyway");
    let paths = learned_paths(t, "nowrite.toml");
    ensure!(
        !paths.iter().any(|p| p.contains("new.txt")),
        "learned anyway: {paths:?}"
    );
    // --quiet: the refusal holds, silently.
    let o = learn(&pol, &["--quiet"], &[PYTHON, "-c", &code], None);
    ensure!(
        o.code == Some(1) && !o.stderr.contains("fdbroker:"),
        "{o:?}"
    );
    Ok(())
}

fn learn_grep_r(t: &Tree) -> R {
    let pol = t.p("grep.toml");
    let argv = ["grep", "-r", "needle", &t.p("tree")];
    let o = learn(&pol, &[], &argv, None);
    ensure!(
        o.code == Some(0) && o.stdout.lines().count() == 15,
        "learn: {o:?}"
    );
    let paths = learned_paths(t, "grep.toml");
    // 20 paths of one recursive walk: one tree rule.
    ensure!(paths == vec![format!("{}/**", t.p("tree"))], "{paths:?}");
    check_ok(&pol)?;
    let o2 = run(&pol, &[], &argv, None);
    let sorted = |s: &str| {
        let mut v: Vec<String> = s.lines().map(str::to_string).collect();
        v.sort();
        v
    };
    ensure!(
        o2.code == Some(0) && sorted(&o2.stdout) == sorted(&o.stdout),
        "rerun: {o2:?}"
    );
    explain_denies(&pol, "read", &t.p("in/a.txt"))?;
    explain_denies(&pol, "write", &t.p("tree/f0.txt"))?;
    let o = run(&pol, &[], &["grep", "-r", "needle", &t.p("in")], None);
    ensure!(o.code == Some(2) && o.stdout.is_empty(), "{o:?}");
    Ok(())
}

fn learn_keeps_base_policy_denials(t: &Tree) -> R {
    t.write(
        "base.toml",
        &format!(
            "version = 1\n\n[[deny]]\npaths = [\"{}/**\"]\n",
            t.p("other")
        ),
    );
    let pol = t.p("based.toml");
    let o = learn(
        &pol,
        &["--policy", &t.p("base.toml")],
        &[
            "sh",
            "-c",
            &format!("cat {} {}", t.p("in/a.txt"), t.p("other/secret.txt")),
        ],
        None,
    );
    ensure!(o.code == Some(1) && o.stdout == "alpha needle\n", "{o:?}");
    ensure!(
        o.stderr.contains(&format!(
            "fdbroker: denied read of {}: denied by ",
            t.p("other/secret.txt")
        )) && o.stderr.contains("base.toml:3"),
        "{o:?}"
    );
    let text = t.read("based.toml");
    ensure!(text.contains("include = [\"base.toml\"]"), "{text}");
    let paths = learned_paths(t, "based.toml");
    ensure!(!paths.iter().any(|p| p.contains("secret")), "{text}");
    check_ok(&pol)?;
    explain_denies(&pol, "read", &t.p("other/secret.txt"))?;
    Ok(())
}

fn learn_never_hands_out_other_processes_proc(t: &Tree) -> R {
    let pol = t.p("proc.toml");
    // A background sleep is another process; /proc/1 is the sandbox's init
    // in its PID namespace (else the system's), and the parent's /proc is
    // the init's or fdbroker's own: never handed out.
    let o = learn(
        &pol,
        &[],
        &[
            "sh",
            "-c",
            "sleep 30 & cat /proc/$!/status; cat /proc/1/status; cat /proc/$PPID/environ; \
             cat /proc/self/status; kill $!",
        ],
        None,
    );
    ensure!(o.stdout.contains("Name:\tcat"), "own /proc/self: {o:?}");
    ensure!(
        !o.stdout.contains("Name:\tsleep")
            && !o.stdout.contains("Name:\tinit")
            && !o.stdout.contains("Name:\tsystemd")
            && !o.stdout.contains("Name:\tfdbroker")
            && !o.stdout.contains("PATH="),
        "{o:?}"
    );
    ensure!(
        o.stderr
            .contains("fdbroker: not learning read access to /proc/")
            && o.stderr.contains("/status: another process's /proc entry"),
        "{o:?}"
    );
    let paths = learned_paths(t, "proc.toml");
    ensure!(paths.iter().all(|p| !p.starts_with("/proc/")), "{paths:?}");
    Ok(())
}

// ---------------------------------------------------------------- denials

fn denials_explain_themselves_once(t: &Tree) -> R {
    let pol = t.p("deny.toml");
    t.write(
        "deny.toml",
        &format!(
            "version = 1\nprofiles = [\"runtime\"]\n\n[[allow]]\npaths = [\"{r}/in/**\", \"/usr/bin/cat\"]\naccess = [\"read\", \"exec\"]\n\n[[deny]]\npaths = [\"{r}/in/b.txt\"]\n",
            r = t.root.display()
        ),
    );
    let script = format!(
        "/usr/bin/cat {s} {s} {b} {b} {a}; /usr/bin/cat {s}; echo x > {a}; echo done",
        s = t.p("other/secret.txt"),
        b = t.p("in/b.txt"),
        a = t.p("in/a.txt"),
    );
    let o = run(&pol, &[], &["/bin/sh", "-c", &script], None);
    ensure!(o.stdout == "alpha needle\ndone\n", "{o:?}");
    let lines: Vec<&str> = o
        .stderr
        .lines()
        .filter(|l| l.starts_with("fdbroker: "))
        .collect();
    let secret = format!(
        "fdbroker: denied read of {s}: no rule allows it; to allow it: [[allow]] paths = [\"{s}\"] access = [\"read\"]",
        s = t.p("other/secret.txt")
    );
    let b = format!(
        "fdbroker: denied read of {}: denied by {pol}:8; an [[allow]] rule cannot override a [[deny]] rule",
        t.p("in/b.txt")
    );
    let a = format!(
        "fdbroker: denied write,create of {a}: no rule allows it; to allow it: [[allow]] paths = [\"{a}\"] access = [\"write\", \"create\"]",
        a = t.p("in/a.txt")
    );
    ensure!(lines.iter().filter(|l| **l == secret).count() == 1, "{o:?}");
    ensure!(
        lines.iter().filter(|l| l.starts_with(&b)).count() == 1,
        "{o:?}"
    );
    ensure!(lines.iter().filter(|l| **l == a).count() == 1, "{o:?}");
    // Each of the program's own messages is still there, every time: the
    // hidden files look absent to it, the visible one is refused.
    ensure!(o.stderr.matches("No such file").count() == 5, "{o:?}");
    ensure!(o.stderr.matches("Permission denied").count() == 1, "{o:?}");
    // The sh lookups of `cat` in PATH are allowed by nothing either; they
    // are stat denials, reported once per path like the rest.
    let mut seen = std::collections::HashSet::new();
    ensure!(
        lines.iter().all(|l| seen.insert(*l)),
        "a line repeated: {o:?}"
    );

    let o = run(&pol, &["--quiet"], &["/bin/sh", "-c", &script], None);
    ensure!(o.stdout == "alpha needle\ndone\n", "{o:?}");
    ensure!(!o.stderr.contains("fdbroker:"), "--quiet: {o:?}");
    ensure!(o.stderr.matches("No such file").count() == 5, "{o:?}");
    ensure!(o.stderr.matches("Permission denied").count() == 1, "{o:?}");
    Ok(())
}

// ---------------------------------------------------------------- audit

fn audit_log_summary(t: &Tree) -> R {
    let pol = t.p("audit-policy.toml");
    t.write(
        "audit-policy.toml",
        &format!(
            "version = 1\nprofiles = [\"runtime\"]\n\n[[allow]]\npaths = [\"{r}/in/a.txt\", \"/usr/bin/cat\"]\naccess = [\"read\", \"exec\"]\n\n[[deny]]\npaths = [\"{r}/in/b.txt\"]\n",
            r = t.root.display()
        ),
    );
    let log = t.p("audit.jsonl");
    let argv = [
        "/usr/bin/cat",
        &t.p("in/a.txt"),
        &t.p("other/secret.txt"),
        &t.p("other/secret.txt"),
        &t.p("in/b.txt"),
        // A probe of a missing path: not counted as a denial.
        &t.p("other/missing.txt"),
    ];
    let o = run(&pol, &["--quiet", "--audit-log", &log], &argv, None);
    ensure!(o.code == Some(1) && o.stdout == "alpha needle\n", "{o:?}");
    let mut text = t.read("audit.jsonl");
    let good_lines = text.lines().count();
    text.push_str("this is not json\n{\"decision\":\"perhaps\"}\n\n");
    t.write("audit.jsonl", &text);
    let o = fdbroker(&["explain", "--audit-log", &log], None);
    ensure!(o.code == Some(1), "{o:?}");
    ensure!(
        o.stderr.contains(&format!(
            "{log}:{}: malformed line skipped: not JSON",
            good_lines + 1
        )) && o.stderr.contains(&format!(
            "{log}:{}: malformed line skipped: unknown decision `perhaps`",
            good_lines + 2
        )),
        "{o:?}"
    );
    ensure!(
        o.stdout
            .lines()
            .next()
            .is_some_and(|l| l.starts_with(&format!("{log}: "))
                && l.contains(
                    " allowed, 3 denied; 1 denied probe of missing paths left out; \
                     2 malformed lines skipped"
                )),
        "{o:?}"
    );
    ensure!(
        o.stdout.contains(&format!(
            "       2  {} [read]: no rule allows it",
            t.p("other/secret.txt")
        )) && o.stdout.contains(&format!(
            "       1  {} [read]: denied by {pol}:8",
            t.p("in/b.txt")
        )),
        "{o:?}"
    );
    // Suggested: the default denial, not the deny rule's.
    let suggestion = o
        .stdout
        .split_once("suggested rules")
        .map(|(_, s)| s.to_string())
        .unwrap_or_default();
    ensure!(
        suggestion.contains(&format!(
            "[[allow]]\npaths  = [\"{}\"]\naccess = [\"read\"]",
            t.p("other/secret.txt")
        )) && !suggestion.contains("b.txt"),
        "{o:?}"
    );
    // A log without denials.
    let clean = t.p("clean.jsonl");
    let o = run(
        &pol,
        &["--audit-log", &clean],
        &["/usr/bin/cat", &t.p("in/a.txt")],
        None,
    );
    ensure!(o.code == Some(0), "{o:?}");
    let o = fdbroker(&["explain", "--audit-log", &clean], None);
    ensure!(
        o.code == Some(0) && o.stdout.contains(", 0 denied"),
        "{o:?}"
    );
    // Unreadable: status 2.
    let o = fdbroker(&["explain", "--audit-log", &t.p("missing.jsonl")], None);
    ensure!(o.code == Some(2), "{o:?}");
    Ok(())
}

// ---------------------------------------------------------------- strict

fn check_strict_warnings(t: &Tree) -> R {
    let r = t.root.display();
    t.exe("in/tool", "#!/bin/sh\n");
    // (name, rules, expected message, line of the rule warned about)
    let cases: &[(&str, String, &str, u32)] = &[
        (
            "everything",
            "[[allow]]\npaths = [\"/**\"]\naccess = [\"read\"]\n".into(),
            "`/**` grants read on every path",
            4,
        ),
        (
            "toplevel",
            "[[allow]]\npaths = [\"/**/id_rsa\"]\naccess = [\"read\"]\n".into(),
            "matching names in every directory",
            4,
        ),
        (
            "exec-write",
            format!(
                "[[allow]]\npaths = [\"{r}/in/tool\"]\naccess = [\"exec\"]\n\n[[allow]]\npaths = [\"{r}/in/**\"]\naccess = [\"write\"]\n"
            ),
            "the program could write a file and run it",
            8,
        ),
        (
            "shadowed",
            format!(
                "[[allow]]\npaths = [\"{r}/other/*.txt\"]\naccess = [\"read\"]\n\n[[deny]]\npaths = [\"{r}/other/**\"]\n"
            ),
            "every path this rule allows is denied by",
            4,
        ),
        (
            "nothing",
            format!("[[allow]]\npaths = [\"{r}/in/missing.txt\"]\naccess = [\"read\"]\n"),
            "matches nothing on this machine",
            4,
        ),
        (
            "symlink",
            "[[allow]]\npaths = [\"/bin/sh\"]\naccess = [\"read\"]\n".into(),
            "never matches: /bin is really /usr/bin",
            4,
        ),
        (
            "proc",
            "[[allow]]\npaths = [\"/proc/*/status\"]\naccess = [\"read\"]\n".into(),
            "reaches other processes' /proc entries",
            4,
        ),
        (
            "etc",
            "[[allow]]\npaths = [\"/etc/hosts\"]\naccess = [\"write\"]\n".into(),
            "grants write under /etc",
            4,
        ),
        (
            "usr",
            "[[allow]]\npaths = [\"/usr/local/share/**\"]\naccess = [\"create\"]\n".into(),
            "grants create under /usr",
            4,
        ),
    ];
    for (name, rules, needle, line) in cases {
        let file = t.p(&format!("strict-{name}.toml"));
        t.write(
            &format!("strict-{name}.toml"),
            &format!("version = 1\nprofiles = [\"runtime\"]\n\n{rules}"),
        );
        let o = fdbroker(&["check", &file], None);
        ensure!(o.code == Some(0), "{name}: plain check: {o:?}");
        let o = fdbroker(&["check", "--strict", &file], None);
        ensure!(o.code == Some(1), "{name}: {o:?}");
        ensure!(
            o.stdout.starts_with(&format!("WARN: {file} (")),
            "{name}: {o:?}"
        );
        ensure!(
            o.stderr.contains(&format!("{file}:{line}: warning: ")) && o.stderr.contains(needle),
            "{name}: {o:?}"
        );
    }
    // A tight policy passes.
    t.write(
        "strict-clean.toml",
        &format!(
            "version = 1\nprofiles = [\"runtime\"]\n\n[[allow]]\npaths = [\"{r}/in/**\"]\naccess = [\"read\"]\n\n[[allow]]\npaths = [\"{r}/out/**\"]\naccess = [\"write\", \"create\"]\n"
        ),
    );
    let o = fdbroker(&["check", "--strict", &t.p("strict-clean.toml")], None);
    ensure!(o.code == Some(0) && o.stderr.is_empty(), "{o:?}");
    Ok(())
}

// ---------------------------------------------------------------- main

/// `Err(reason)` when this kernel cannot run `fdbroker run`.
fn kernel_ready(t: &Tree) -> Result<(), String> {
    t.write("ready.toml", "version = 1\nprofiles = [\"runtime\"]\n");
    let o = run(&t.p("ready.toml"), &[], &["/usr/bin/true"], None);
    if o.code == Some(125) && o.stderr.contains("refusing to run unconfined") {
        return Err(o.stderr.trim().to_string());
    }
    Ok(())
}

fn main() {
    let cases: &[Case<Tree>] = &[
        ("check_strict_warnings", check_strict_warnings, false),
        ("learn_cat", learn_cat, true),
        ("learn_sh_script", learn_sh_script, true),
        (
            "learn_python_reads_and_writes",
            learn_python_reads_and_writes,
            true,
        ),
        (
            "learn_refuses_writes_outside_learn_writable",
            learn_refuses_writes_outside_learn_writable,
            true,
        ),
        ("learn_grep_r", learn_grep_r, true),
        (
            "learn_generalises_to_a_second_input",
            learn_generalises_to_a_second_input,
            true,
        ),
        (
            "learn_keeps_base_policy_denials",
            learn_keeps_base_policy_denials,
            true,
        ),
        (
            "learn_never_hands_out_other_processes_proc",
            learn_never_hands_out_other_processes_proc,
            true,
        ),
        (
            "denials_explain_themselves_once",
            denials_explain_themselves_once,
            true,
        ),
        ("audit_log_summary", audit_log_summary, true),
    ];
    common::run_cases(cases, kernel_ready(&Tree::new()), Tree::new);
}
