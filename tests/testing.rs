//! fdbroker for security test suites (docs/testing.md): `run
//! --fail-on-denial` and the corpus suite of `examples/corpus-suite/`, run
//! as a user would.
//!
//! `harness = false`: prints `N passed, M failed`. Cases skip (with the
//! reason) on a kernel without Landlock or seccomp user notification, unless
//! `FDBROKER_REQUIRE_KERNEL=1`.

#[macro_use]
mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::{Case, Out};

const FDBROKER: &str = env!("CARGO_BIN_EXE_fdbroker");
/// `run --fail-on-denial`'s documented status.
const EXIT_DENIED: i32 = 118;
/// The only variable fdbroker and the programs get: a PATH without the
/// invoking user's own directories, so that a shell's command lookup is the
/// same for everyone and asks for nothing denied (nor does a loader told
/// where to look by `LD_LIBRARY_PATH`, or a shell checking `PWD`).
const PATH: &str = "/usr/bin:/bin";

/// A tree the sandboxed user may traverse: `in/a.txt` (allowed),
/// `secret.txt` (not), `/proc/**` readable by policy; and the policy.
type Tree = common::Scratch;

fn tree() -> Tree {
    let t = Tree::new(|root| {
        format!(
            "version = 1\ninclude = [\"{}/policies/examples/include/shell-tools.toml\"]\n\n\
             [[allow]]\npaths = [\"{r}/in/**\", \"/proc/**\"]\naccess = [\"read\"]\n",
            env!("CARGO_MANIFEST_DIR"),
            r = root.display()
        )
    });
    fs::create_dir(t.root.join("in")).expect("mkdir");
    fs::write(t.root.join("in/a.txt"), "alpha\n").expect("write");
    fs::write(t.root.join("secret.txt"), "secret\n").expect("write");
    t
}

/// `fdbroker run [OPTIONS] --policy POLICY -- /bin/sh -c SCRIPT` from `/`.
fn sh(t: &Tree, options: &[&str], script: &str) -> Out {
    common::output(
        Command::new(FDBROKER)
            .arg("run")
            .args(options)
            .arg("--policy")
            .arg(&t.policy)
            .args(["--", "/bin/sh", "-c", script])
            .current_dir("/")
            .env_clear()
            .env("PATH", PATH),
    )
}

type R = Result<(), String>;

/// The line `--fail-on-denial` prints when it changes the status.
fn denied_line(n: u32, program_status: u8) -> String {
    format!(
        "fdbroker: {n} request{} denied: exit status 118 (--fail-on-denial); the program's was {program_status}\n",
        if n == 1 { "" } else { "s" }
    )
}

fn a_denial_turns_success_into_118(t: &Tree) -> R {
    let script = format!("cat {}; exit 0", t.p("secret.txt"));
    let o = sh(t, &[], &script);
    ensure!(o.code == Some(0), "without the option: {o:?}");
    let o = sh(t, &["--fail-on-denial"], &script);
    ensure!(o.code == Some(EXIT_DENIED), "{o:?}");
    ensure!(o.stderr.ends_with(&denied_line(1, 0)), "{o:?}");
    ensure!(o.stderr.contains("fdbroker: denied read of"), "{o:?}");
    // --quiet silences the lines, not the status.
    let o = sh(t, &["--fail-on-denial", "--quiet"], &script);
    ensure!(o.code == Some(EXIT_DENIED), "quiet: {o:?}");
    ensure!(!o.stderr.contains("fdbroker:"), "quiet: {o:?}");
    Ok(())
}

fn a_run_without_denials_keeps_its_status(t: &Tree) -> R {
    let o = sh(
        t,
        &["--fail-on-denial"],
        &format!("cat {}", t.p("in/a.txt")),
    );
    ensure!(o.code == Some(0) && o.stdout == "alpha\n", "{o:?}");
    ensure!(o.stderr.is_empty(), "{o:?}");
    // An error the policy lets the program see is no denial.
    let o = sh(t, &["--fail-on-denial"], &format!("cat {}", t.p("in/none")));
    ensure!(
        o.code == Some(1) && o.stderr.contains("No such file"),
        "{o:?}"
    );
    ensure!(!o.stderr.contains("fdbroker:"), "{o:?}");
    let o = sh(t, &["--fail-on-denial"], "exit 7");
    ensure!(o.code == Some(7), "{o:?}");
    Ok(())
}

/// The denial status wins over the program's own failure, and a signal;
/// the program's status is named.
fn the_denial_status_wins_over_the_programs(t: &Tree) -> R {
    let secret = t.p("secret.txt");
    let o = sh(
        t,
        &["--fail-on-denial"],
        &format!("cat {secret}; cat {secret}; exit 3"),
    );
    ensure!(o.code == Some(EXIT_DENIED), "{o:?}");
    ensure!(o.stderr.ends_with(&denied_line(2, 3)), "{o:?}");
    let o = sh(
        t,
        &["--fail-on-denial"],
        &format!("cat {secret}; kill -9 $$"),
    );
    ensure!(o.code == Some(EXIT_DENIED), "{o:?}");
    ensure!(o.stderr.ends_with(&denied_line(1, 137)), "{o:?}");
    Ok(())
}

/// A limit hit decides the status before a denial does, and `--stats`
/// reports the status fdbroker exits with.
fn a_limit_hit_wins_over_denials(t: &Tree) -> R {
    let stats = t.root.join("stats.json");
    let script = format!("cat {}; while :; do :; done", t.p("secret.txt"));
    let stats_arg = stats.to_string_lossy().into_owned();
    let o = sh(
        t,
        &["--fail-on-denial", "--timeout", "1", "--stats", &stats_arg],
        &script,
    );
    ensure!(o.code == Some(124), "{o:?}");
    ensure!(o.stderr.contains("exceeded --timeout 1s"), "{o:?}");
    ensure!(!o.stderr.contains("(--fail-on-denial)"), "{o:?}");
    let report: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(&stats).map_err(|e| format!("{}: {e}", stats.display()))?,
    )
    .map_err(|e| e.to_string())?;
    ensure!(report["exit_status"] == 124, "{report}");
    ensure!(report["limit"] == "timeout", "{report}");
    ensure!(report["denied"].as_u64() >= Some(1), "{report}");
    Ok(())
}

/// Refusals by a hard rule count too: the policy allows `/proc/**`, but
/// nothing of fdbroker's own `/proc/<pid>`.
fn hard_rule_refusals_count(t: &Tree) -> R {
    let o = sh(t, &["--fail-on-denial"], "cat /proc/$PPID/status; exit 0");
    ensure!(o.code == Some(EXIT_DENIED), "{o:?}");
    ensure!(o.stderr.ends_with(&denied_line(1, 0)), "{o:?}");
    Ok(())
}

/// fdbroker's own failures and a program that did not run keep their
/// statuses: no denial can have happened.
fn setup_failures_keep_their_status(t: &Tree) -> R {
    let o = common::output(
        Command::new(FDBROKER)
            .args(["run", "--fail-on-denial", "--policy"])
            .arg(&t.policy)
            .args(["--", "no-such-program-anywhere"])
            .env_clear()
            .env("PATH", PATH),
    );
    ensure!(o.code == Some(127), "{o:?}");
    let bad = t.root.join("bad.toml");
    fs::write(&bad, "version = 1\n[[allow]]\n").map_err(|e| e.to_string())?;
    let o = common::output(
        Command::new(FDBROKER)
            .args(["run", "--fail-on-denial", "--policy"])
            .arg(&bad)
            .args(["--", "/bin/true"]),
    );
    ensure!(o.code == Some(125), "{o:?}");
    Ok(())
}

/// The denials `--fail-on-denial` counts are the audit log's denials of
/// paths that exist (whatever errno the program saw), and
/// `explain --audit-log --format json` reports them; probes of missing
/// paths are neither.
fn the_audit_log_agrees(t: &Tree) -> R {
    let log = t.root.join("audit.jsonl");
    let secret = t.p("secret.txt");
    let o = sh(
        t,
        &[
            "--fail-on-denial",
            "--audit-log",
            log.to_str().unwrap_or_default(),
        ],
        &format!(
            "cat {secret} {secret} {} {}; exit 0",
            t.p("in/a.txt"),
            t.p("no-such-file.txt")
        ),
    );
    ensure!(o.code == Some(EXIT_DENIED), "{o:?}");
    ensure!(o.stderr.ends_with(&denied_line(2, 0)), "{o:?}");
    let out = Command::new(FDBROKER)
        .args(["explain", "--format", "json", "--audit-log"])
        .arg(&log)
        .output()
        .map_err(|e| e.to_string())?;
    ensure!(out.status.code() == Some(1), "explain: {out:?}");
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("{e}: {out:?}"))?;
    ensure!(v["version"] == 1 && v["denied"] == 2, "{v}");
    ensure!(v["missing"].as_u64().is_some_and(|m| m >= 1), "{v}");
    ensure!(
        v["denials"][0]["path"] == secret.as_str()
            && v["denials"][0]["count"] == 2
            && v["denials"][0]["access"] == "read",
        "{v}"
    );
    ensure!(v["suggested"][0]["paths"][0] == secret.as_str(), "{v}");
    Ok(())
}

/// `examples/corpus-suite/run.sh` on its shipped corpus: the two files that
/// make the parser read outside the corpus fail, the rest pass.
fn the_corpus_suite_fails_on_hostile_includes(_t: &Tree) -> R {
    let o = corpus_suite(None, &[]);
    ensure!(o.code == Some(1), "{o:?}");
    for line in [
        "absolute.conf: FAIL: denied access outside its policy\n",
        "traversal.conf: FAIL: denied access outside its policy\n",
        "well-formed.conf: ok: accepted\n",
        "malformed.conf: ok: rejected\n",
        "binary.conf: ok: rejected\n",
        "self-include.conf: ok: rejected\n",
        "4 passed, 2 failed\n",
    ] {
        ensure!(o.stdout.contains(line), "missing {line:?}: {o:?}");
    }
    // The denial lines say what was touched.
    let repo = fs::canonicalize(env!("CARGO_MANIFEST_DIR")).map_err(|e| e.to_string())?;
    let cargo_toml = format!(
        "fdbroker: denied read of {}/Cargo.toml (asked as ",
        repo.display()
    );
    for denied in [
        "fdbroker: denied read of /etc/shadow: no rule allows it",
        &cargo_toml,
    ] {
        ensure!(o.stdout.contains(denied), "missing {denied:?}: {o:?}");
    }
    // FDBROKER_OPTS reaches every case's `fdbroker run`.
    let o = corpus_suite(None, &[("FDBROKER_OPTS", "--quiet")]);
    ensure!(
        o.code == Some(1) && !o.stdout.contains("fdbroker: denied"),
        "{o:?}"
    );
    Ok(())
}

/// A corpus of harmless files passes.
fn the_corpus_suite_passes_a_clean_corpus(t: &Tree) -> R {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/corpus-suite/corpus");
    let corpus = t.root.join("corpus");
    fs::create_dir_all(corpus.join("include")).map_err(|e| e.to_string())?;
    for name in ["well-formed.conf", "malformed.conf", "include/common.conf"] {
        fs::copy(shipped.join(name), corpus.join(name)).map_err(|e| e.to_string())?;
    }
    let o = corpus_suite(Some(&corpus), &[]);
    ensure!(o.code == Some(0), "{o:?}");
    ensure!(o.stdout.ends_with("2 passed, 0 failed\n"), "{o:?}");
    Ok(())
}

fn corpus_suite(corpus: Option<&Path>, env: &[(&str, &str)]) -> Out {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/corpus-suite/run.sh");
    common::output(
        Command::new(script)
            .args(corpus)
            .env_clear()
            .env("PATH", PATH)
            .envs(env.iter().copied())
            .env("FDBROKER", FDBROKER)
            .current_dir("/"),
    )
}

/// `Err(reason)` when this kernel cannot run `fdbroker run`.
fn kernel_ready(t: &Tree) -> Result<(), String> {
    let o = sh(t, &[], "exit 0");
    if o.code == Some(125) && o.stderr.contains("refusing to run unconfined") {
        return Err(o.stderr.trim().to_string());
    }
    Ok(())
}

fn main() {
    let cases: &[Case<Tree>] = &[
        (
            "a_denial_turns_success_into_118",
            a_denial_turns_success_into_118,
            true,
        ),
        (
            "a_run_without_denials_keeps_its_status",
            a_run_without_denials_keeps_its_status,
            true,
        ),
        (
            "the_denial_status_wins_over_the_programs",
            the_denial_status_wins_over_the_programs,
            true,
        ),
        (
            "a_limit_hit_wins_over_denials",
            a_limit_hit_wins_over_denials,
            true,
        ),
        ("hard_rule_refusals_count", hard_rule_refusals_count, true),
        (
            "setup_failures_keep_their_status",
            setup_failures_keep_their_status,
            true,
        ),
        ("the_audit_log_agrees", the_audit_log_agrees, true),
        (
            "the_corpus_suite_fails_on_hostile_includes",
            the_corpus_suite_fails_on_hostile_includes,
            true,
        ),
        (
            "the_corpus_suite_passes_a_clean_corpus",
            the_corpus_suite_passes_a_clean_corpus,
            true,
        ),
    ];
    common::run_cases(cases, kernel_ready(&tree()), tree);
}
