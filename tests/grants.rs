//! `fdbroker run`'s per-run grants (`--read`, `--write`, `--profile`,
//! several `--policy` files or none) and the run's private temporary
//! directory (its `TMPDIR` and `HOME`: mode 0700, the program's, removed
//! however the run ends), with `sh` and its built-ins. Runs the built
//! binary, as a user would; fdbroker's own `TMPDIR` is a directory of each
//! case's tree, so that what a run leaves behind shows.
//!
//! `harness = false`: main() runs every case in turn and prints
//! `N passed, M failed`; the cases that need Landlock and seccomp user
//! notification are skipped with the reason when the kernel lacks them,
//! unless `FDBROKER_REQUIRE_KERNEL=1`, which makes that a failure.

#[macro_use]
mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Case, GUARD, Out, finish};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const FDBROKER: &str = env!("CARGO_BIN_EXE_fdbroker");

type R = Result<(), String>;

/// A scratch tree: `in/` and `in/sub/` (to be granted `--read`), `out/`
/// (`--write`), `elsewhere/` (never granted), `tmp/` (fdbroker's `TMPDIR`),
/// and `sleep.toml`, a policy that lets the program execute `sleep`,
/// `mkdir`, `rm` and `chmod`.
struct Tree {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Tree {
    fn new() -> Tree {
        let (dir, root) = common::scratch_dir();
        for d in ["in/sub", "out", "elsewhere", "tmp"] {
            fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        let w = |p: &str, s: &str| fs::write(root.join(p), s).expect("write");
        w("in/a.txt", "alpha\n");
        w("in/sub/b.txt", "beta\n");
        w("elsewhere/c.txt", "gamma\n");
        w(
            "sleep.toml",
            "version = 1\n[[allow]]\n\
             paths = [\"/usr/bin/sleep\", \"/usr/bin/mkdir\", \"/usr/bin/rm\", \"/usr/bin/chmod\"]\n\
             access = [\"read\", \"exec\"]\n",
        );
        Tree { _dir: dir, root }
    }

    fn p(&self, rel: &str) -> String {
        self.root.join(rel).display().to_string()
    }

    /// `fdbroker ARGS...` in `cwd` (default the tree), its `TMPDIR` the
    /// tree's `tmp/`.
    fn cmd(&self, args: &[&str], cwd: Option<&Path>) -> Command {
        let mut cmd = Command::new(FDBROKER);
        cmd.args(args)
            .env("TMPDIR", self.root.join("tmp"))
            .current_dir(cwd.unwrap_or(&self.root))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn run(&self, args: &[&str]) -> Out {
        finish(self.spawn(args))
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(args, None).spawn().expect("spawn fdbroker")
    }

    /// What is left in fdbroker's `TMPDIR`.
    fn leftovers(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.root.join("tmp"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.root.join(rel)).unwrap_or_default()
    }
}

/// Waits until `path` holds a whole line, and returns it without its newline.
fn wait_for_line(path: &Path) -> Result<String, String> {
    let start = Instant::now();
    while start.elapsed() < GUARD {
        if let Ok(s) = fs::read_to_string(path)
            && let Some(line) = s.strip_suffix('\n')
        {
            return Ok(line.to_string());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(format!("{} never written", path.display()))
}

/// The uid the program runs as: `nobody` under root, else ours.
fn program_uid() -> u32 {
    let me = nix::unistd::geteuid();
    if me.is_root() { 65534 } else { me.as_raw() }
}

// ---------------------------------------------------------------- cases

fn grants_give_exactly_what_they_say(t: &Tree) -> R {
    let script = format!(
        "read l < {a} && echo \"read $l\"; \
         read l < {b} && echo \"sub $l\"; \
         (echo x > {inp}/new) 2>/dev/null || echo 'in: not writable'; \
         (read l < {c}) 2>/dev/null || echo 'elsewhere: denied'; \
         echo made > {out}/made.txt && echo more >> {out}/made.txt && echo 'out: written'",
        a = t.p("in/a.txt"),
        b = t.p("in/sub/b.txt"),
        inp = t.p("in"),
        c = t.p("elsewhere/c.txt"),
        out = t.p("out"),
    );
    let audit = t.p("audit.jsonl");
    let o = t.run(&[
        "run",
        "--audit-log",
        &audit,
        "--profile",
        "runtime",
        "--read",
        &t.p("in"),
        "--write",
        &t.p("out"),
        "--",
        "/bin/sh",
        "-c",
        &script,
    ]);
    ensure!(
        o.code == Some(0)
            && o.stdout
                == "read alpha\nsub beta\nin: not writable\nelsewhere: denied\nout: written\n",
        "{o:?}"
    );
    ensure!(t.read("out/made.txt") == "made\nmore\n", "{o:?}");
    ensure!(!t.root.join("in/new").exists(), "wrote into --read");
    // Decisions name the grant that made them.
    let log = t.read("audit.jsonl");
    let rule_of = |resolved: &str| -> Option<String> {
        log.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["resolved"] == resolved && v["decision"] == "allow")
            .and_then(|v| v["rule"].as_str().map(String::from))
    };
    let want_in = format!("--read {}", t.p("in"));
    let want_out = format!("--write {}", t.p("out"));
    ensure!(
        rule_of(&t.p("in/sub/b.txt")).as_deref() == Some(want_in.as_str()),
        "{log}"
    );
    ensure!(
        rule_of(&t.p("out/made.txt")).as_deref() == Some(want_out.as_str()),
        "{log}"
    );
    // A denial line says no rule allows it.
    ensure!(
        o.stderr.contains(&format!(
            "fdbroker: denied read of {}: no rule allows it",
            t.p("elsewhere/c.txt")
        )),
        "{o:?}"
    );

    // A file granted alone: not its neighbours.
    let o = t.run(&[
        "run",
        "--profile",
        "runtime",
        "--read",
        &t.p("in/a.txt"),
        "--",
        "/bin/sh",
        "-c",
        &format!(
            "read l < {} && echo \"$l\"; (read l < {}) 2>/dev/null || echo denied",
            t.p("in/a.txt"),
            t.p("in/sub/b.txt")
        ),
    ]);
    ensure!(o.code == Some(0) && o.stdout == "alpha\ndenied\n", "{o:?}");

    // Relative paths are resolved against the working directory, and a
    // --write path may be new: it is created.
    let o = finish(
        t.cmd(
            &[
                "run",
                "--profile",
                "runtime",
                "--read",
                "in/sub",
                "--write",
                "out/new.txt",
                "--",
                "/bin/sh",
                "-c",
                "read l < in/sub/b.txt && echo \"$l\" > out/new.txt; \
                 (echo x > out/other.txt) 2>/dev/null || echo 'other: denied'",
            ],
            Some(&t.root),
        )
        .spawn()
        .expect("spawn"),
    );
    ensure!(o.code == Some(0) && o.stdout == "other: denied\n", "{o:?}");
    ensure!(t.read("out/new.txt") == "beta\n", "{o:?}");
    ensure!(!t.root.join("out/other.txt").exists(), "{o:?}");
    ensure!(t.leftovers().is_empty(), "{:?}", t.leftovers());
    Ok(())
}

fn policies_combine_and_are_optional(t: &Tree) -> R {
    fs::write(
        t.root.join("env.toml"),
        "version = 1\nprofiles = [\"runtime\"]\n[env]\nset = { FROM_POLICY = \"yes\" }\n",
    )
    .map_err(|e| e.to_string())?;
    // Two policies: one lets the program run sleep, the other sets a
    // variable; grants on top.
    let o = t.run(&[
        "run",
        "--policy",
        &t.p("env.toml"),
        "--policy",
        &t.p("sleep.toml"),
        "--write",
        &t.p("out"),
        "--",
        "/bin/sh",
        "-c",
        &format!(
            "/usr/bin/sleep 0 && echo \"slept $FROM_POLICY\" > {}/s.txt",
            t.p("out")
        ),
    ]);
    ensure!(o.code == Some(0), "{o:?}");
    ensure!(t.read("out/s.txt") == "slept yes\n", "{o:?}");
    // --write lets the program make and remove directories and files;
    // --read does not.
    let o = t.run(&[
        "run",
        "--policy",
        &t.p("sleep.toml"),
        "--profile",
        "runtime",
        "--read",
        &t.p("in"),
        "--write",
        &t.p("out"),
        "--",
        "/bin/sh",
        "-c",
        &format!(
            "/usr/bin/mkdir {out}/d && echo x > {out}/d/f && /usr/bin/rm {out}/s.txt && \
             /usr/bin/rm -r {out}/d && echo removed; \
             /usr/bin/rm -f {a} 2>/dev/null || echo 'in: kept'",
            out = t.p("out"),
            a = t.p("in/a.txt"),
        ),
    ]);
    ensure!(
        o.code == Some(0) && o.stdout == "removed\nin: kept\n",
        "{o:?}"
    );
    ensure!(
        !t.root.join("out/d").exists() && !t.root.join("out/s.txt").exists(),
        "{o:?}"
    );
    ensure!(t.read("in/a.txt") == "alpha\n", "{o:?}");
    // No policy file at all: a profile alone.
    let o = t.run(&[
        "run",
        "--profile",
        "runtime",
        "--",
        "/bin/sh",
        "-c",
        "echo alone",
    ]);
    ensure!(o.code == Some(0) && o.stdout == "alone\n", "{o:?}");
    Ok(())
}

fn bad_grants_are_errors(t: &Tree) -> R {
    let sh = ["--", "/bin/sh", "-c", "echo ran"];
    let with = |opts: &[&str]| {
        let mut args = vec!["run"];
        args.extend_from_slice(opts);
        args.extend_from_slice(&sh);
        t.run(&args)
    };
    // Nothing to run under: a usage error naming what to pass.
    let o = with(&[]);
    ensure!(o.code == Some(2) && o.stdout.is_empty(), "{o:?}");
    for option in ["--policy", "--profile", "--read", "--write", "--learn"] {
        ensure!(o.stderr.contains(option), "{option}: {o:?}");
    }
    let missing = t.p("in/missing.txt");
    let o = with(&["--read", &missing]);
    ensure!(
        o.code == Some(125)
            && o.stdout.is_empty()
            && o.stderr.starts_with(&format!(
                "fdbroker: --read {missing}: No such file or directory"
            )),
        "{o:?}"
    );
    let o = with(&["--read", "in/missing.txt"]);
    ensure!(
        o.code == Some(125) && o.stderr.starts_with("fdbroker: --read in/missing.txt: "),
        "{o:?}"
    );
    let deep = t.p("nowhere/out");
    let o = with(&["--write", &deep]);
    ensure!(
        o.code == Some(125)
            && o.stdout.is_empty()
            && o.stderr.starts_with(&format!(
                "fdbroker: --write {deep}: it does not exist, nor does its directory {}",
                t.p("nowhere")
            )),
        "{o:?}"
    );
    let o = with(&["--write", &format!("{}/x", t.p("in/a.txt"))]);
    ensure!(
        o.code == Some(125) && o.stderr.contains("Not a directory"),
        "{o:?}"
    );
    let o = with(&["--profile", "no-such-profile"]);
    ensure!(
        o.code == Some(125)
            && o.stdout.is_empty()
            && o.stderr.contains(
                "fdbroker: --profile no-such-profile: unknown profile; built-in profiles: runtime"
            ),
        "{o:?}"
    );
    ensure!(t.leftovers().is_empty(), "{:?}", t.leftovers());
    Ok(())
}

fn the_private_tmp_is_home_and_tmpdir(t: &Tree) -> R {
    // Each run says where its directory is, leaves a file in it, and
    // sleeps until it is ended.
    let start = |name: &str| {
        let script = format!(
            "echo x > \"$TMPDIR/left\" && echo y > \"$HOME/also\" && \
             echo \"$TMPDIR $HOME\" > {out}/{name} && exec /usr/bin/sleep 1000",
            out = t.p("out"),
        );
        t.spawn(&[
            "run",
            "--policy",
            &t.p("sleep.toml"),
            "--profile",
            "runtime",
            "--write",
            &t.p("out"),
            "--",
            "/bin/sh",
            "-c",
            &script,
        ])
    };
    let a = start("a");
    let b = start("b");
    let dir_of = |name: &str| -> Result<PathBuf, String> {
        let line = wait_for_line(&t.root.join("out").join(name))?;
        let (tmpdir, home) = line.split_once(' ').ok_or(line.clone())?;
        ensure!(tmpdir == home, "TMPDIR and HOME differ: {line}");
        Ok(PathBuf::from(tmpdir))
    };
    let (da, db) = (dir_of("a"), dir_of("b"));
    let stop = |child: Child, signal: Signal| -> Out {
        let _ = kill(Pid::from_raw(child.id() as i32), signal);
        finish(child)
    };
    let (da, db) = match (da, db) {
        (Ok(da), Ok(db)) => (da, db),
        (da, db) => {
            let oa = stop(a, Signal::SIGKILL);
            let ob = stop(b, Signal::SIGKILL);
            return Err(format!("{da:?} {db:?}\n{oa:?}\n{ob:?}"));
        }
    };
    let check = |dir: &Path| -> R {
        ensure!(
            dir.parent() == Some(&t.root.join("tmp")),
            "{}",
            dir.display()
        );
        let name = dir.file_name().unwrap_or_default().to_string_lossy();
        ensure!(
            name.starts_with("fdbroker-run.") && name.len() == "fdbroker-run.XXXXXX".len(),
            "{name}"
        );
        let meta = fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        ensure!(
            meta.is_dir() && meta.mode() & 0o7777 == 0o700,
            "mode {:o}",
            meta.mode()
        );
        ensure!(meta.uid() == program_uid(), "owner {}", meta.uid());
        ensure!(
            fs::read_to_string(dir.join("left")).ok().as_deref() == Some("x\n")
                && dir.join("also").exists(),
            "{}",
            dir.display()
        );
        Ok(())
    };
    let checked = check(&da).and_then(|()| check(&db));
    let differ = da != db;
    // fdbroker ended by SIGTERM, then by SIGINT: each directory goes with its run.
    let oa = stop(a, Signal::SIGTERM);
    let a_gone = !da.exists() && db.exists();
    let ob = stop(b, Signal::SIGINT);
    checked?;
    ensure!(differ, "two runs, one directory: {}", da.display());
    ensure!(oa.code == Some(143), "{oa:?}");
    ensure!(a_gone, "after SIGTERM: {:?}", t.leftovers());
    ensure!(ob.code == Some(130), "{ob:?}");
    ensure!(
        t.leftovers().is_empty(),
        "after SIGINT: {:?}",
        t.leftovers()
    );
    Ok(())
}

fn the_private_tmp_is_removed_however_the_run_ends(t: &Tree) -> R {
    let sleep = t.p("sleep.toml");
    let run = |extra: &[&str], script: &str| {
        let mut args = vec!["run", "--policy", &sleep, "--profile", "runtime"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "/bin/sh", "-c", script]);
        t.run(&args)
    };
    // Files, a directory tree, and a directory its owner cannot write.
    let leave = "echo x > \"$TMPDIR/f\" && echo y > \"$TMPDIR/.hidden\" && \
                 /usr/bin/mkdir -p \"$TMPDIR/d/e\" && echo z > \"$TMPDIR/d/e/g\" && \
                 /usr/bin/chmod 500 \"$TMPDIR/d/e\" \"$TMPDIR/d\"";
    let cases: [(&str, &[&str], String, i32); 4] = [
        ("normal end", &[], format!("{leave}; echo ok"), 0),
        ("failure", &[], format!("{leave}; exit 3"), 3),
        (
            "program killed",
            &[],
            format!("{leave}; kill -KILL $$"),
            137,
        ),
        (
            "limit hit",
            &["--timeout", "1s"],
            format!("{leave}; exec /usr/bin/sleep 100"),
            124,
        ),
    ];
    for (what, extra, script, code) in cases {
        let o = run(extra, &script);
        ensure!(o.code == Some(code), "{what}: {o:?}");
        ensure!(t.leftovers().is_empty(), "{what}: {:?}", t.leftovers());
    }
    // fdbroker fails to start the program.
    for (program, code) in [("no-such-program-anywhere", 127), ("/etc/hostname", 126)] {
        let o = t.run(&["run", "--profile", "runtime", "--", program]);
        ensure!(o.code == Some(code), "{program}: {o:?}");
        ensure!(t.leftovers().is_empty(), "{program}: {:?}", t.leftovers());
    }
    // --setenv (or the policy's [env]) names another HOME: TMPDIR stays.
    let o = run(
        &["--setenv", "HOME=/nonexistent"],
        "echo \"$HOME\"; echo \"$TMPDIR\"",
    );
    let lines: Vec<&str> = o.stdout.lines().collect();
    ensure!(
        o.code == Some(0)
            && lines.len() == 2
            && lines[0] == "/nonexistent"
            && lines[1].starts_with(&t.p("tmp/fdbroker-run.")),
        "{o:?}"
    );
    ensure!(t.leftovers().is_empty(), "{:?}", t.leftovers());
    Ok(())
}

fn learn_with_grants_leaves_them_out(t: &Tree) -> R {
    let learned = t.p("learned.toml");
    let script = format!(
        "read l < {a} && echo \"$l\" > {out}/copy.txt && echo t > \"$TMPDIR/t\" && \
         read m < {c} && echo \"$TMPDIR $m\"",
        a = t.p("in/a.txt"),
        out = t.p("out"),
        c = t.p("elsewhere/c.txt"),
    );
    let grants = ["--read", &t.p("in"), "--write", &t.p("out")];
    let mut args = vec!["run", "--learn", &learned];
    args.extend_from_slice(&grants);
    args.extend_from_slice(&["--", "/bin/sh", "-c", &script]);
    let o = t.run(&args);
    ensure!(o.code == Some(0), "{o:?}");
    ensure!(
        o.stdout.starts_with(&t.p("tmp/fdbroker-run.")) && o.stdout.ends_with(" gamma\n"),
        "learn mode gets a private TMPDIR too: {o:?}"
    );
    ensure!(t.read("out/copy.txt") == "alpha\n", "{o:?}");
    ensure!(t.leftovers().is_empty(), "{:?}", t.leftovers());
    let text = t.read("learned.toml");
    ensure!(text.contains(&t.p("elsewhere/c.txt")), "{text}");
    for covered in [t.p("in"), t.p("out"), t.p("tmp")] {
        ensure!(
            !text.contains(&format!("\"{covered}")),
            "{covered} is granted, yet learned:\n{text}"
        );
    }
    // The learned policy with the same kind of grants runs the program again.
    let mut args = vec!["run", "--policy", &learned];
    args.extend_from_slice(&grants);
    args.extend_from_slice(&["--", "/bin/sh", "-c", &script]);
    let o = t.run(&args);
    ensure!(
        o.code == Some(0) && !o.stderr.contains("fdbroker: denied"),
        "{text}\n{o:?}"
    );
    ensure!(t.leftovers().is_empty(), "{:?}", t.leftovers());
    Ok(())
}

fn kernel_ready(t: &Tree) -> Result<(), String> {
    let o = t.run(&["run", "--profile", "runtime", "--", "/bin/true"]);
    if o.code == Some(125) && o.stderr.contains("refusing to run unconfined") {
        return Err(o.stderr.trim().to_string());
    }
    Ok(())
}

fn main() {
    let cases: &[Case<Tree>] = &[
        (
            "grants_give_exactly_what_they_say",
            grants_give_exactly_what_they_say,
            true,
        ),
        (
            "policies_combine_and_are_optional",
            policies_combine_and_are_optional,
            true,
        ),
        ("bad_grants_are_errors", bad_grants_are_errors, false),
        (
            "the_private_tmp_is_home_and_tmpdir",
            the_private_tmp_is_home_and_tmpdir,
            true,
        ),
        (
            "the_private_tmp_is_removed_however_the_run_ends",
            the_private_tmp_is_removed_however_the_run_ends,
            true,
        ),
        (
            "learn_with_grants_leaves_them_out",
            learn_with_grants_leaves_them_out,
            true,
        ),
        (
            "grants_keep_their_meaning_between_profile_calls",
            grants_keep_their_meaning_between_profile_calls,
            true,
        ),
    ];
    common::run_cases(cases, kernel_ready(&Tree::new()), Tree::new);
}

/// As root, the broker's receivers keep the program's credentials between
/// the calls a built-in profile answers (`sys::creds`). A grant in a
/// directory only root may search must still be read with fdbroker's own,
/// before and after a run of profile calls (Python's start-up, then
/// imports), and a program that makes itself non-dumpable (its `/proc`
/// files become root's) is still answered. The control: the program's own
/// user cannot read the granted file. As an ordinary user nothing is held,
/// and a non-dumpable program cannot be reached at all (docs/containers.md):
/// the grant is checked without that step.
fn grants_keep_their_meaning_between_profile_calls(t: &Tree) -> R {
    let root = nix::unistd::geteuid().is_root();
    use std::os::unix::fs::PermissionsExt;
    let secret = t.root.join("secret");
    fs::create_dir(&secret).map_err(|e| e.to_string())?;
    fs::write(secret.join("s.txt"), "classified\n").map_err(|e| e.to_string())?;
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o700)).map_err(|e| e.to_string())?;
    let script = t.root.join("held.py");
    fs::write(
        &script,
        "import ctypes, sys\n\
         out = [open(sys.argv[1]).read().strip()]\n\
         if sys.argv[2] == 'nondumpable':\n\
         \x20   libc = ctypes.CDLL(None)\n\
         \x20   out.append(str(libc.prctl(4, 0, 0, 0, 0)))  # PR_SET_DUMPABLE 0\n\
         \x20   out.append(str(libc.prctl(3, 0, 0, 0, 0)))  # PR_GET_DUMPABLE\n\
         import decimal, fractions, statistics\n\
         out.append(str(statistics.median([1, 2, 3])))\n\
         out.append(open(sys.argv[1]).read().strip())\n\
         print(' '.join(out))\n",
    )
    .map_err(|e| e.to_string())?;
    let file = secret.join("s.txt").display().to_string();
    let o = t.run(&[
        "run",
        "-q",
        "--profile",
        "python",
        "--read",
        &t.p("secret"),
        "--read",
        &t.p("held.py"),
        "--",
        "/usr/bin/python3",
        &t.p("held.py"),
        &file,
        if root { "nondumpable" } else { "dumpable" },
    ]);
    let want = if root {
        "classified 0 0 2 classified\n"
    } else {
        "classified 2 classified\n"
    };
    ensure!(o.code == Some(0) && o.stdout == want, "{o:?}");
    if !root {
        println!("    (control skipped: the program runs as fdbroker's own user)");
        return Ok(());
    }
    let control = Command::new("/usr/bin/setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/bin/cat",
            &file,
        ])
        .output()
        .map_err(|e| e.to_string())?;
    ensure!(
        !control.status.success() && control.stdout.is_empty(),
        "the program's user reads the file without fdbroker: {control:?}"
    );
    Ok(())
}
