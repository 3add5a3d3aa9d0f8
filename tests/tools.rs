//! Real parsers confined out of the box: each of thirteen Debian tools
//! (and `tar -x`), on two different inputs, run natively and then as
//!
//! ```text
//! fdbroker run --profile FAMILY --read IN --write OUT -- TOOL ARGS
//! ```
//!
//! must give the same standard output, exit status and output tree (names,
//! kinds, bytes, modes; times too for extracted archives). A policy learned
//! on the first input with the same grants must pass `fdbroker check
//! --strict` and give the native result on the second input. No run may
//! leave anything in fdbroker's `$TMPDIR` or, of the program's user, in
//! `/tmp`.
//!
//! The inputs are the small files of `tests/fixtures/tools/`. The tools are
//! Debian's, by absolute path; one that is not installed is skipped with
//! the package to install, unless `FDBROKER_REQUIRE_KERNEL=1` (as in CI),
//! which makes that a failure.
//!
//! `harness = false`: main() runs every case in turn and prints
//! `N passed, M failed, K skipped`.

#[macro_use]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Out, output};

const FDBROKER: &str = env!("CARGO_BIN_EXE_fdbroker");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tools");

type R = Result<(), String>;

/// One tool and how it is run. In `args`, `{in}` and `{out}` stand for the
/// run's input and output directories and `{file}` for the input's main
/// fixture.
struct Tool {
    name: &'static str,
    /// The built-in profile its family uses.
    family: &'static str,
    program: &'static str,
    /// The Debian package that installs it.
    package: &'static str,
    args: &'static [&'static str],
    /// The main fixture of each of the two inputs.
    inputs: [&'static str; 2],
    /// Further fixtures every input holds (a script).
    extra: &'static [&'static str],
    /// Whether the output tree's modification times must match too.
    times: bool,
    /// What the standard output must say, natively and confined alike.
    says: &'static [&'static str],
}

const TOOLS: &[Tool] = &[
    Tool {
        name: "pdftotext",
        family: "poppler",
        program: "/usr/bin/pdftotext",
        package: "poppler-utils",
        args: &["-layout", "{in}/{file}", "{out}/text.txt"],
        inputs: ["a.pdf", "b.pdf"],
        extra: &[],
        times: false,
        says: &[],
    },
    Tool {
        name: "pdftoppm",
        family: "poppler",
        program: "/usr/bin/pdftoppm",
        package: "poppler-utils",
        args: &["-png", "-r", "24", "{in}/{file}", "{out}/page"],
        inputs: ["a.pdf", "b.pdf"],
        extra: &[],
        times: false,
        says: &[],
    },
    Tool {
        name: "convert",
        family: "imagemagick",
        program: "/usr/bin/convert",
        package: "imagemagick",
        args: &[
            "{in}/{file}",
            "-resize",
            "50%",
            "-rotate",
            "90",
            "{out}/small.ppm",
        ],
        inputs: ["a.png", "b.jpg"],
        extra: &[],
        times: false,
        says: &[],
    },
    Tool {
        name: "identify",
        family: "imagemagick",
        program: "/usr/bin/identify",
        package: "imagemagick",
        args: &["-format", "%m %w %h %z %[colorspace] %k\\n", "{in}/{file}"],
        inputs: ["a.png", "b.jpg"],
        extra: &[],
        times: false,
        says: &[],
    },
    Tool {
        name: "gs",
        family: "ghostscript",
        program: "/usr/bin/gs",
        package: "ghostscript",
        args: &[
            "-q",
            "-dSAFER",
            "-dBATCH",
            "-dNOPAUSE",
            "-sDEVICE=png16m",
            "-r24",
            "-o",
            "{out}/p%d.png",
            "{in}/{file}",
        ],
        inputs: ["a.pdf", "b.pdf"],
        extra: &[],
        times: false,
        says: &[],
    },
    Tool {
        name: "exiftool",
        family: "perl",
        program: "/usr/bin/exiftool",
        package: "libimage-exiftool-perl",
        // Without the System group: file times and permissions.
        args: &["-a", "-G1", "-s", "--System:all", "{in}/{file}"],
        inputs: ["a.png", "b.jpg"],
        extra: &[],
        times: false,
        // Its GPS output comes from a module it loads on demand.
        says: &["[GPS]", "GPSLatitude", "GPSPosition"],
    },
    Tool {
        name: "python3",
        family: "python",
        program: "/usr/bin/python3",
        package: "python3",
        args: &["{in}/summarize.py", "{in}/{file}", "{out}/summary.json"],
        inputs: ["a.json", "b.json"],
        extra: &["summarize.py"],
        times: false,
        says: &[],
    },
    Tool {
        name: "jq",
        family: "runtime",
        program: "/usr/bin/jq",
        package: "jq",
        args: &[
            "-S",
            "[paths | map(tostring) | join(\".\")], .",
            "{in}/{file}",
        ],
        inputs: ["a.json", "b.json"],
        extra: &[],
        times: false,
        says: &[],
    },
    Tool {
        name: "xmllint",
        family: "runtime",
        program: "/usr/bin/xmllint",
        package: "libxml2-utils",
        args: &[
            "--noent",
            "--format",
            "--output",
            "{out}/formatted.xml",
            "{in}/{file}",
        ],
        inputs: ["a.xml", "b.xml"],
        extra: &[],
        times: false,
        says: &[],
    },
    Tool {
        name: "sqlite3",
        family: "runtime",
        program: "/usr/bin/sqlite3",
        package: "sqlite3",
        args: &["-readonly", "{in}/{file}", ".dump"],
        inputs: ["a.sqlite", "b.sqlite"],
        extra: &[],
        times: false,
        says: &["CREATE TABLE"],
    },
    Tool {
        name: "unzip-l",
        family: "runtime",
        program: "/usr/bin/unzip",
        package: "unzip",
        args: &["-l", "{in}/{file}"],
        inputs: ["a.zip", "b.zip"],
        extra: &[],
        times: false,
        says: &[],
    },
    Tool {
        name: "unzip-d",
        family: "runtime",
        program: "/usr/bin/unzip",
        package: "unzip",
        args: &["-q", "{in}/{file}", "-d", "{out}/extracted"],
        inputs: ["a.zip", "b.zip"],
        extra: &[],
        times: true,
        says: &[],
    },
    Tool {
        name: "file",
        family: "file",
        program: "/usr/bin/file",
        package: "file",
        args: &["{in}/{file}", "{in}/summarize.py"],
        inputs: ["a.sqlite", "b.pdf"],
        extra: &["summarize.py"],
        times: false,
        says: &[],
    },
    Tool {
        name: "tar-x",
        family: "runtime",
        program: "/usr/bin/tar",
        package: "tar",
        args: &["-xf", "{in}/{file}", "-C", "{out}"],
        inputs: ["a.tar", "b.tar"],
        extra: &[],
        times: true,
        says: &[],
    },
];

/// The directories of one tool's case, in a scratch directory every user
/// may traverse: `in1`, `in2` (the inputs), `out1`, `out2`, `tmp` (fdbroker's
/// own `$TMPDIR`) and the learned policy.
struct Dirs {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Dirs {
    fn new(tool: &Tool) -> Result<Dirs, String> {
        let (tmp, root) = common::scratch_dir();
        let d = Dirs { _tmp: tmp, root };
        for (k, main) in tool.inputs.iter().enumerate() {
            let dir = d.input(k);
            mkdir(&dir)?;
            for name in std::iter::once(main).chain(tool.extra) {
                let to = dir.join(name);
                fs::copy(Path::new(FIXTURES).join(name), &to)
                    .map_err(|e| format!("copy fixture {name}: {e}"))?;
                fs::set_permissions(&to, fs::Permissions::from_mode(0o644))
                    .map_err(|e| format!("chmod {}: {e}", to.display()))?;
            }
            mkdir(&d.output(k))?;
        }
        mkdir(&d.tmpdir())?;
        Ok(d)
    }

    fn input(&self, k: usize) -> PathBuf {
        self.root.join(format!("in{}", k + 1))
    }

    fn output(&self, k: usize) -> PathBuf {
        self.root.join(format!("out{}", k + 1))
    }

    /// fdbroker's `$TMPDIR`, where it makes each run's private directory.
    fn tmpdir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn learned(&self) -> PathBuf {
        self.root.join("learned.toml")
    }

    /// The tool's arguments for input `k`.
    fn args(&self, tool: &Tool, k: usize) -> Vec<String> {
        let (i, o) = (self.input(k), self.output(k));
        tool.args
            .iter()
            .map(|a| {
                a.replace("{in}", &i.display().to_string())
                    .replace("{out}", &o.display().to_string())
                    .replace("{file}", tool.inputs[k])
            })
            .collect()
    }
}

fn mkdir(p: &Path) -> R {
    fs::create_dir(p).map_err(|e| format!("mkdir {}: {e}", p.display()))?;
    fs::set_permissions(p, fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("chmod {}: {e}", p.display()))
}

/// Empties `dir` for the next run.
fn clear(dir: &Path) -> R {
    fs::remove_dir_all(dir).map_err(|e| format!("clear {}: {e}", dir.display()))?;
    mkdir(dir)
}

/// One entry of an output tree, as compared: kind, mode, content (or link
/// target), and the modification time when times matter and the entry's is
/// not the run's own (a directory an extraction creates to hold the
/// archive's entries is as new as the run).
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    kind: &'static str,
    mode: u32,
    content: Vec<u8>,
    mtime: Option<(i64, i64)>,
}

/// When this test started, in seconds since the epoch: modification times
/// from then on are the runs' own, not restored ones.
fn started() -> i64 {
    static STARTED: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *STARTED.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    })
}

/// The tree under `dir`, by path relative to it.
fn snapshot(dir: &Path, times: bool) -> Result<BTreeMap<String, Entry>, String> {
    let mut tree = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let entries = fs::read_dir(&d).map_err(|e| format!("list {}: {e}", d.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| e.to_string())?.path();
            let md = fs::symlink_metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let (kind, content) = if md.is_dir() {
                todo.push(path.clone());
                ("dir", Vec::new())
            } else if md.file_type().is_symlink() {
                let target = fs::read_link(&path).map_err(|e| e.to_string())?;
                ("symlink", target.into_os_string().into_encoded_bytes())
            } else if md.is_file() {
                let bytes = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                ("file", bytes)
            } else {
                ("other", Vec::new())
            };
            let rel = path.strip_prefix(dir).map_err(|e| e.to_string())?;
            tree.insert(
                rel.display().to_string(),
                Entry {
                    kind,
                    mode: md.mode() & 0o7777,
                    content,
                    mtime: (times && md.mtime() < started()).then(|| (md.mtime(), md.mtime_nsec())),
                },
            );
        }
    }
    Ok(tree)
}

/// What a run produced: its output, and the tree it left in `out`.
struct Ran {
    out: Out,
    tree: BTreeMap<String, Entry>,
}

fn run(cmd: &mut Command, out_dir: &Path, times: bool) -> Result<Ran, String> {
    let out = output(cmd);
    let tree = snapshot(out_dir, times)?;
    clear(out_dir)?;
    Ok(Ran { out, tree })
}

/// The differences between a native and a confined run, or Ok.
fn same(what: &str, native: &Ran, confined: &Ran) -> R {
    let (n, c) = (&native.out, &confined.out);
    ensure!(
        n.code == c.code && n.signal == c.signal,
        "{what}: exit status {:?}/{:?} natively, {:?}/{:?} confined\n{c:?}",
        n.code,
        n.signal,
        c.code,
        c.signal
    );
    ensure!(
        n.stdout == c.stdout,
        "{what}: standard output differs\n--- native\n{}\n--- confined\n{c:?}",
        n.stdout
    );
    let names = |t: &BTreeMap<String, Entry>| t.keys().cloned().collect::<Vec<_>>();
    ensure!(
        names(&native.tree) == names(&confined.tree),
        "{what}: output files {:?} natively, {:?} confined\n{c:?}",
        names(&native.tree),
        names(&confined.tree)
    );
    for (path, ne) in &native.tree {
        let ce = &confined.tree[path];
        ensure!(
            ne.kind == ce.kind && ne.mode == ce.mode && ne.mtime == ce.mtime,
            "{what}: {path} is {} {:o} {:?} natively, {} {:o} {:?} confined\n{c:?}",
            ne.kind,
            ne.mode,
            ne.mtime,
            ce.kind,
            ce.mode,
            ce.mtime
        );
        ensure!(
            ne.content == ce.content,
            "{what}: {path} has other bytes confined ({} natively, {} confined)\n{c:?}",
            ne.content.len(),
            ce.content.len()
        );
    }
    Ok(())
}

/// The entries of `/tmp` that belong to the program's user. Other runs'
/// private directories (`fdbroker-run.*`) are not counted: this test's runs
/// make theirs in a `TMPDIR` of its own, checked on its own, and other
/// `fdbroker run`s on the machine may come and go meanwhile.
fn tmp_of(uid: u32) -> BTreeSet<PathBuf> {
    let Ok(dir) = fs::read_dir("/tmp") else {
        return BTreeSet::new();
    };
    dir.flatten()
        .filter(|e| {
            !e.file_name()
                .as_encoded_bytes()
                .starts_with(b"fdbroker-run.")
        })
        .filter(|e| e.metadata().is_ok_and(|m| m.uid() == uid))
        .map(|e| e.path())
        .collect()
}

/// The user a confined program runs as: `nobody` when fdbroker is root,
/// else fdbroker's own.
fn program_uid() -> u32 {
    if nix::unistd::geteuid().is_root() {
        nix::unistd::User::from_name("nobody")
            .ok()
            .flatten()
            .map_or(65534, |u| u.uid.as_raw())
    } else {
        nix::unistd::geteuid().as_raw()
    }
}

/// Runs `cmd` (an `fdbroker` command) and checks that it left nothing in
/// fdbroker's `$TMPDIR`, nor of the program's user in `/tmp`.
fn confined(d: &Dirs, what: &str, cmd: &mut Command, k: usize, times: bool) -> Result<Ran, String> {
    let uid = program_uid();
    let before = tmp_of(uid);
    cmd.env("TMPDIR", d.tmpdir()).current_dir(&d.root);
    let r = run(cmd, &d.output(k), times)?;
    let left: Vec<_> = tmp_of(uid).difference(&before).cloned().collect();
    ensure!(
        left.is_empty(),
        "{what}: left in /tmp: {left:?}\n{:?}",
        r.out
    );
    let own: Vec<_> = fs::read_dir(d.tmpdir())
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .collect();
    ensure!(
        own.is_empty(),
        "{what}: left in fdbroker's TMPDIR: {own:?}\n{:?}",
        r.out
    );
    Ok(r)
}

fn native(d: &Dirs, tool: &Tool, k: usize) -> Result<Ran, String> {
    let mut cmd = Command::new(tool.program);
    cmd.args(d.args(tool, k)).current_dir(&d.root);
    let r = run(&mut cmd, &d.output(k), tool.times)?;
    let o = &r.out;
    ensure!(
        o.code == Some(0),
        "{} natively on input {}: {o:?}",
        tool.name,
        k + 1
    );
    for s in tool.says {
        ensure!(
            o.stdout.contains(s),
            "{} natively on input {} does not say {s:?}: {o:?}",
            tool.name,
            k + 1
        );
    }
    Ok(r)
}

/// `fdbroker run` with `options` before the program and this input's grants.
fn fdbroker(d: &Dirs, tool: &Tool, k: usize, options: &[&str]) -> Command {
    let mut cmd = Command::new(FDBROKER);
    cmd.arg("run")
        .args(options)
        .arg("--read")
        .arg(d.input(k))
        .arg("--write")
        .arg(d.output(k))
        .arg("--")
        .arg(tool.program)
        .args(d.args(tool, k));
    cmd
}

/// The whole check for one tool.
fn tool_case(tool: &Tool) -> R {
    let d = Dirs::new(tool)?;
    let profile = ["--profile", tool.family];
    let mut natives = Vec::new();
    for k in 0..2 {
        let n = native(&d, tool, k)?;
        ensure!(
            !tool.times || n.tree.values().any(|e| e.mtime.is_some()),
            "{} natively on input {} restored no time to compare: {:?}",
            tool.name,
            k + 1,
            n.tree.keys()
        );
        let what = format!("--profile {} on input {}", tool.family, k + 1);
        let c = confined(
            &d,
            &what,
            &mut fdbroker(&d, tool, k, &profile),
            k,
            tool.times,
        )?;
        same(&what, &n, &c)?;
        natives.push(n);
    }

    // Learn on the first input, with the same grants.
    let learned = d.learned();
    let learned_s = learned.display().to_string();
    let mut options = vec!["--learn", &learned_s];
    options.extend(profile);
    let l = confined(
        &d,
        "learning",
        &mut fdbroker(&d, tool, 0, &options),
        0,
        tool.times,
    )?;
    same("learning on input 1", &natives[0], &l)?;
    let text = fs::read_to_string(&learned).map_err(|e| format!("learned policy: {e}"))?;
    // Its comments say what ran; its rules must not name this run's files.
    let rules: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    for k in 0..2 {
        for granted in [d.input(k), d.output(k)] {
            let g = granted.display().to_string();
            ensure!(
                !rules.contains(&g),
                "the learned policy names {g}, which the run grants:\n{text}"
            );
        }
    }
    let check = output(
        Command::new(FDBROKER)
            .args(["check", "--strict"])
            .arg(&learned),
    );
    ensure!(
        check.code == Some(0) && check.stdout.starts_with("OK:"),
        "check --strict of the learned policy: {check:?}\n{text}"
    );

    // The learned policy on the second input.
    let mut cmd = fdbroker(&d, tool, 1, &["--policy", &learned_s]);
    let c = confined(&d, "the learned policy on input 2", &mut cmd, 1, tool.times)?;
    same("the learned policy on input 2", &natives[1], &c).map_err(|e| format!("{e}\n{text}"))
}

/// Whether `fdbroker run` can work here: `Err(reason)` when the kernel
/// lacks something it needs.
fn kernel_ready() -> R {
    let (_tmp, root) = common::scratch_dir();
    let policy = root.join("policy.toml");
    fs::write(&policy, "version = 1\nprofiles = [\"runtime\"]\n").map_err(|e| e.to_string())?;
    let o = output(
        Command::new(FDBROKER)
            .args(["run", "--quiet", "--policy"])
            .arg(&policy)
            .args(["--", "/bin/true"]),
    );
    if o.code == Some(125) && o.stderr.contains("refusing to run unconfined") {
        return Err(o.stderr.trim().to_string());
    }
    Ok(())
}

fn main() {
    // Output modes must not depend on the caller's umask: native and
    // confined runs inherit this one.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    started();
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let require = std::env::var("FDBROKER_REQUIRE_KERNEL").as_deref() == Ok("1");
    let ready = kernel_ready();
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for tool in TOOLS {
        if !filter.is_empty() && !filter.iter().any(|f| tool.name.contains(f.as_str())) {
            continue;
        }
        let missing = if !Path::new(tool.program).is_file() {
            Some(format!(
                "{} is not installed (Debian package {})",
                tool.program, tool.package
            ))
        } else {
            ready.clone().err()
        };
        if let Some(reason) = missing {
            if require {
                println!(
                    "FAIL {}: {reason}, and FDBROKER_REQUIRE_KERNEL=1",
                    tool.name
                );
                failed += 1;
            } else {
                println!("skip {}: {reason}", tool.name);
                skipped += 1;
            }
            continue;
        }
        match tool_case(tool) {
            Ok(()) => {
                println!("ok   {}", tool.name);
                passed += 1;
            }
            Err(e) => {
                println!("FAIL {}: {e}", tool.name);
                failed += 1;
            }
        }
    }
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    if failed > 0 {
        std::process::exit(1);
    }
}
