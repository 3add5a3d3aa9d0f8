//! fdbroker's memory under a hostile request stream: a program under
//! `fdbroker run` asks for thousands of distinct paths of about 3.8 KB each
//! (far more bytes than the bound), and fdbroker's peak resident set must
//! stay under 16 MiB with denial lines on, and under 32 MiB in learn mode
//! (whose record is capped at `LEARN_BUDGET`), each table saying once that
//! it is full.
//!
//! `harness = false`, re-exec style: this binary is also the hostile
//! program (role `flood`, inside the sandbox) and the measurer (a fresh
//! process that runs one `fdbroker` and reports `getrusage(RUSAGE_CHILDREN)`
//! `ru_maxrss`: the peak of fdbroker and its program, an upper bound of
//! fdbroker's own, its learned-policy writing included). Missing kernel
//! features are skipped with the reason, or fail with
//! `FDBROKER_REQUIRE_KERNEL=1`.

#[macro_use]
mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Case, Out, finish};
use fdbroker::learn::{DENIALS_BUDGET, LEARN_BUDGET};

const FDBROKER: &str = env!("CARGO_BIN_EXE_fdbroker");
/// `flood` for the program inside the sandbox.
const ROLE_ENV: &str = "FDBROKER_MEMORY_TEST_ROLE";
/// Set for the measurer.
const MEASURE_ENV: &str = "FDBROKER_MEMORY_TEST_MEASURE";
/// The bound of `fdbroker run`, denial lines on.
const RUN_BOUND: u64 = 16 << 20;
/// The bound of `fdbroker run --learn`, writing the policy included.
const LEARN_BOUND: u64 = 32 << 20;
/// Distinct paths asked for; at ~3.8 KB each, more bytes than either bound.
const PATHS: usize = 10_000;

/// `T/bin/flood` (this binary, executable by the sandbox's user), `T/denied`
/// (nothing granted) and `T/open` (readable), each with an empty chain of
/// long directory names ([`chain`]).
struct Tree {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Tree {
    fn new() -> Tree {
        let (dir, root) = common::scratch();
        for d in ["bin", "denied", "open"] {
            fs::create_dir(root.join(d)).expect("mkdir");
            fs::set_permissions(root.join(d), fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        for d in ["denied", "open"] {
            fs::create_dir_all(root.join(d).join(chain())).expect("mkdir chain");
        }
        let exe = std::env::current_exe().expect("current_exe");
        fs::copy(exe, root.join("bin/flood")).expect("copy");
        fs::set_permissions(root.join("bin/flood"), fs::Permissions::from_mode(0o755))
            .expect("chmod");
        Tree { _dir: dir, root }
    }

    fn p(&self, rel: &str) -> String {
        self.root.join(rel).display().to_string()
    }

    /// The policy: the runtime profile, the program, `stat` on the tree's
    /// ancestors; `T/open` readable when `open`.
    fn policy(&self, open: bool) -> String {
        let anc: Vec<String> = self
            .root
            .ancestors()
            .filter(|a| *a != Path::new("/"))
            .map(|a| format!("\"{}\"", a.display()))
            .collect();
        let mut text = format!(
            "version = 1\nprofiles = [\"runtime\"]\n\n[[allow]]\npaths = [\"{}\"]\naccess = [\"read\", \"exec\"]\n\n[[allow]]\npaths = [{}]\naccess = [\"stat\"]\n",
            self.p("bin/flood"),
            anc.join(", ")
        );
        if open {
            text.push_str(&format!(
                "\n[[allow]]\npaths = [\"{}\", \"{}/**\"]\naccess = [\"read\"]\n",
                self.p("open"),
                self.p("open")
            ));
        }
        let path = self
            .root
            .join(if open { "open.toml" } else { "denied.toml" });
        fs::write(&path, text).expect("write policy");
        path.display().to_string()
    }
}

/// 14 directory names of 250 bytes, one beneath the other.
fn chain() -> String {
    vec!["y".repeat(250); 14].join("/")
}

/// Role `flood`: `PATHS` distinct paths of about 3.8 KB, the files in
/// `dir`'s [`chain`] (none exists): stats each (`stat`), or creates it
/// (`create`: a denial where creating is not allowed, which a probe of a
/// missing path is not); then says how many bytes it asked for.
fn flood(dir: &str, how: &str) -> i32 {
    let mut total = 0usize;
    let chain = chain();
    for i in 0..PATHS {
        let p = format!("{dir}/{chain}/{i:06}{}", "x".repeat(243));
        total += p.len();
        if how == "create" {
            let _ = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(&p);
        } else {
            let _ = fs::symlink_metadata(&p);
        }
    }
    println!("requested {total} bytes in {PATHS} paths");
    0
}

/// The measurer: runs `fdbroker ARGS...` with the role passed to the
/// program, then prints the peak resident set of it and its descendants.
fn measure(args: &[String]) -> i32 {
    let status = Command::new(FDBROKER)
        .args(args)
        .env_remove(MEASURE_ENV)
        .env(ROLE_ENV, "flood")
        .stdin(Stdio::null())
        .status();
    let code = match status {
        Ok(s) => s.code().unwrap_or(-1),
        Err(e) => {
            eprintln!("measure: {e}");
            return 2;
        }
    };
    match nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN) {
        Ok(u) => println!("status {code} maxrss {} KiB", u.max_rss()),
        Err(e) => {
            eprintln!("measure: getrusage: {e}");
            return 2;
        }
    }
    0
}

/// Runs `fdbroker ARGS...` under a fresh measurer.
fn measured(args: &[&str]) -> Result<(Out, u64), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .env(MEASURE_ENV, "1")
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = finish(cmd.spawn().map_err(|e| e.to_string())?);
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("status "))
        .ok_or_else(|| format!("no measurement: {out:?}"))?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.get(1) != Some(&"0") {
        return Err(format!("fdbroker failed: {line}\n{}", tail(&out.stderr)));
    }
    let kib: u64 = fields
        .get(3)
        .and_then(|k| k.parse().ok())
        .ok_or_else(|| format!("bad measurement: {line}"))?;
    Ok((out, kib * 1024))
}

/// The last lines of `text`, for messages.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..]
        .iter()
        .map(|l| l.chars().take(300).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The program's own report: the bytes it asked for.
fn requested(out: &Out) -> Result<u64, String> {
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix("requested "))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("the program did not report: {out:?}"))
}

type R = Result<(), String>;

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

/// Runs `fdbroker run OPTIONS... -- flood DIR HOW` measured; checks that
/// the program asked for more than `bound` (the control: without a cap,
/// keeping what it asked for would exceed the bound) and that the peak
/// stayed under `bound`. Returns the output and a summary for the `ok` line.
fn flood_under(
    t: &Tree,
    options: &[&str],
    (dir, how): (&str, &str),
    bound: u64,
) -> Result<(Out, String), String> {
    let keep = format!("--keep-env={ROLE_ENV}");
    let flood = t.p("bin/flood");
    let dir = t.p(dir);
    let mut args = vec!["run"];
    args.extend_from_slice(options);
    args.extend([keep.as_str(), "--", &flood, &dir, how]);
    let (out, peak) = measured(&args)?;
    let asked = requested(&out)?;
    ensure!(asked > bound, "only {} requested", mib(asked));
    ensure!(
        peak < bound,
        "peak {} (bound {}) after {} requested",
        mib(peak),
        mib(bound),
        mib(asked)
    );
    Ok((
        out,
        format!("peak {} for {} requested", mib(peak), mib(asked)),
    ))
}

/// `notice` is on standard error exactly once.
fn notice_once(out: &Out, notice: &str) -> R {
    ensure!(
        out.stderr.matches(notice).count() == 1,
        "one `{notice}` expected: {}",
        tail(&out.stderr)
    );
    Ok(())
}

fn denied_paths_with_denial_lines(t: &Tree) -> R {
    let pol = t.policy(false);
    let (out, summary) = flood_under(t, &["--policy", &pol], ("denied", "create"), RUN_BOUND)?;
    notice_once(
        &out,
        &format!(
            "fdbroker: notice: {} MiB of distinct denials reported; further ones are not",
            DENIALS_BUDGET >> 20
        ),
    )?;
    // Reported until the table was full, then no more.
    let lines = out.stderr.matches("fdbroker: denied create of ").count();
    ensure!(lines > 100 && lines < PATHS / 4, "{lines} denial lines");
    println!("  {summary}, {lines} denial lines");
    Ok(())
}

fn missing_allowed_paths(t: &Tree) -> R {
    let pol = t.policy(true);
    let options = ["--policy", &pol, "--audit-log", "/dev/null"];
    let (_, summary) = flood_under(t, &options, ("open", "stat"), RUN_BOUND)?;
    println!("  {summary}");
    Ok(())
}

fn learn_mode_records_within_its_budget(t: &Tree) -> R {
    let base = t.policy(false);
    let learned = t.p("learned.toml");
    // Files created: probes of missing paths are not learned.
    let writable = t.p("open");
    let options = [
        "--learn",
        &learned,
        "--policy",
        &base,
        "--learn-writable",
        &writable,
    ];
    let (out, summary) = flood_under(t, &options, ("open", "create"), LEARN_BOUND)?;
    notice_once(
        &out,
        &format!(
            "fdbroker: notice: learn mode's record reached {} MiB",
            LEARN_BUDGET >> 20
        ),
    )?;
    notice_once(&out, "INCOMPLETE: the record reached its limit")?;
    let policy = fs::read_to_string(&learned).map_err(|e| e.to_string())?;
    ensure!(
        policy.contains("# INCOMPLETE: the record of this run reached its limit"),
        "{}",
        policy.chars().take(500).collect::<String>()
    );
    // Learned up to the budget, not everything: the files created, siblings
    // in one directory, make one glob whose comment counts them.
    let paths: usize = policy
        .lines()
        .filter_map(|l| l.strip_prefix("# "))
        .filter_map(|c| c.split_once(" paths "))
        .filter_map(|(n, _)| n.parse::<usize>().ok())
        .sum();
    ensure!(
        paths > 100 && paths < PATHS / 2,
        "{paths} paths learned: {}",
        policy.chars().take(500).collect::<String>()
    );
    println!("  {summary}, {paths} paths learned");
    Ok(())
}

/// `Err(reason)` when `fdbroker run` refuses to work on this kernel.
fn kernel_ready() -> Result<(), String> {
    let t = Tree::new();
    let o = finish(
        Command::new(FDBROKER)
            .args(["run", "--policy", &t.policy(false), "--", "/bin/true"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn fdbroker"),
    );
    if o.code == Some(125) && o.stderr.contains("refusing to run unconfined") {
        return Err(o.stderr.trim().to_string());
    }
    Ok(())
}

fn main() {
    if std::env::var(ROLE_ENV).as_deref() == Ok("flood") {
        let dir = std::env::args().nth(1).unwrap_or_default();
        let how = std::env::args().nth(2).unwrap_or_default();
        std::process::exit(flood(&dir, &how));
    }
    if std::env::var_os(MEASURE_ENV).is_some() {
        let args: Vec<String> = std::env::args().skip(1).collect();
        std::process::exit(measure(&args));
    }
    let cases: &[Case<Tree>] = &[
        (
            "denied_paths_with_denial_lines",
            denied_paths_with_denial_lines,
            true,
        ),
        ("missing_allowed_paths", missing_allowed_paths, true),
        (
            "learn_mode_records_within_its_budget",
            learn_mode_records_within_its_budget,
            true,
        ),
    ];
    common::run_cases(cases, kernel_ready(), Tree::new);
}
