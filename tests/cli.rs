//! The `fdbroker check` and `fdbroker explain` commands, run as a user would.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use fdbroker::FollowSymlinks;
use fdbroker::ops::{Context, Ops};
use fdbroker::policy::{Access, Decision, Judge};

fn fdbroker(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fdbroker"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run fdbroker")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited normally")
}

#[test]
fn check_accepts_the_shipped_policies() {
    let o = fdbroker(&[
        "check",
        "policies/untrusted-parser.toml",
        "policies/output-dir.toml",
        "policies/include/fetcher.toml",
        "policies/profiles/runtime.toml",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(
        lines[0].starts_with("OK: policies/untrusted-parser.toml ("),
        "{out}"
    );
    assert!(lines[0].ends_with(" rules, network: off)"), "{out}");
    assert!(
        lines[1].starts_with("OK: policies/output-dir.toml ("),
        "{out}"
    );
    // A policy that enables the network says so, and where.
    assert!(
        lines[2].ends_with("network: on, enabled at policies/include/fetcher.toml:6:11)"),
        "{out}"
    );
    assert!(stderr(&o).is_empty());
}

#[test]
fn check_reports_every_bad_file_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let bad1 = dir.path().join("bad1.toml");
    let bad2 = dir.path().join("bad2.toml");
    let good = dir.path().join("good.toml");
    fs::write(
        &bad1,
        "version = 1\n[[allow]]\npaths = [\"/srv/../etc\"]\naccess = [\"read\"]\n",
    )
    .unwrap();
    fs::write(
        &bad2,
        "version = 1\n[[allow]]\npaths = [\"/srv\"]\naccess = [\"raed\"]\n",
    )
    .unwrap();
    fs::write(
        &good,
        "version = 1\n[[allow]]\npaths = [\"/srv\"]\naccess = [\"read\"]\n",
    )
    .unwrap();
    let (b1, b2, g) = (
        bad1.to_str().unwrap(),
        bad2.to_str().unwrap(),
        good.to_str().unwrap(),
    );
    let o = fdbroker(&["check", b1, g, b2]);
    assert_eq!(code(&o), 1);
    assert_eq!(stdout(&o), format!("OK: {g} (1 rule, network: off)\n"));
    assert_eq!(
        stderr(&o),
        format!(
            "{b1}:3:16: bad pattern `/srv/../etc`: `.` and `..` components are not allowed: write the normalised path\n\
             {b2}:4:11: unknown right `raed`; expected one of: read, write, create, remove, exec, stat\n"
        )
    );
    let missing = dir.path().join("missing.toml");
    let o = fdbroker(&["check", missing.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("cannot read policy file: No such file or directory"));
}

#[test]
fn check_without_files_is_a_usage_error() {
    let o = fdbroker(&["check"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("POLICY"), "{}", stderr(&o));
}

/// A tree with `in/` (allowed), `in/private/` (denied), `secret` (outside),
/// and a symlink `in/link` -> `secret`, plus its policy.
struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    policy: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(dir.path()).unwrap();
    fs::create_dir_all(root.join("in/private")).unwrap();
    fs::write(root.join("in/a.txt"), "a").unwrap();
    fs::write(root.join("in/private/key"), "k").unwrap();
    fs::write(root.join("secret"), "s").unwrap();
    symlink(root.join("secret"), root.join("in/link")).unwrap();
    let r = root.display();
    let policy = root.join("policy.toml");
    fs::write(
        &policy,
        format!(
            "version = 1\nprofiles = [\"runtime\"]\n\n\
             [[allow]]\npaths = [\"{r}/in/**\"]\naccess = [\"read\"]\n\n\
             [[deny]]\npaths = [\"{r}/in/private/**\"]\n"
        ),
    )
    .unwrap();
    Fixture {
        _dir: dir,
        root,
        policy,
    }
}

#[test]
fn explain_allows_and_names_the_rule() {
    let f = fixture();
    let (p, r) = (f.policy.display().to_string(), f.root.display());
    let a = format!("{r}/in/a.txt");
    let o = fdbroker(&["explain", "--policy", &p, &a]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), format!("allow {a} [read]: allowed by {p}:4\n"));
}

#[test]
fn explain_denies_with_the_rule_or_the_default() {
    let f = fixture();
    let (p, r) = (f.policy.display().to_string(), f.root.display());
    let key = format!("{r}/in/private/key");
    let secret = format!("{r}/secret");
    let o = fdbroker(&["explain", "-p", &p, &key, &secret, "/etc/shadow"]);
    assert_eq!(code(&o), 1);
    assert_eq!(
        stdout(&o),
        format!(
            "deny  {key} [read]: denied by {p}:8\n\
             deny  {secret} [read]: no rule allows it\n\
             deny  /etc/shadow [read]: no rule allows it\n"
        )
    );
    // One denied path is enough to fail.
    let a = format!("{r}/in/a.txt");
    let o = fdbroker(&["explain", "-p", &p, &a, &secret]);
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).starts_with("allow "));
}

#[test]
fn explain_judges_what_a_symlink_reaches() {
    let f = fixture();
    let (p, r) = (f.policy.display().to_string(), f.root.display());
    let link = format!("{r}/in/link");
    let o = fdbroker(&["explain", "-p", &p, &link]);
    assert_eq!(code(&o), 1);
    assert_eq!(
        stdout(&o),
        format!("deny  {link} (resolves to {r}/secret) [read]: no rule allows it\n")
    );
    // `..` is resolved too: the path names the secret, not something in `in`.
    let dotdot = format!("{r}/in/../secret");
    let o = fdbroker(&["explain", "-p", &p, &dotdot]);
    assert_eq!(code(&o), 1);
    assert!(
        stdout(&o).contains(&format!("(resolves to {r}/secret)")),
        "{}",
        stdout(&o)
    );
}

#[test]
fn explain_missing_files_and_rights() {
    let f = fixture();
    let (p, r) = (f.policy.display().to_string(), f.root.display());
    let new = format!("{r}/in/new.txt");
    let o = fdbroker(&["explain", "-p", &p, &new]);
    assert_eq!(code(&o), 0);
    assert_eq!(
        stdout(&o),
        format!("allow {new} (does not exist) [read]: allowed by {p}:4\n")
    );
    // A right the rule does not grant; several rights at once.
    let a = format!("{r}/in/a.txt");
    let o = fdbroker(&["explain", "-p", &p, "--access", "write", &a]);
    assert_eq!(code(&o), 1);
    assert_eq!(
        stdout(&o),
        format!("deny  {a} [write]: no rule allows it\n")
    );
    let o = fdbroker(&["explain", "-p", &p, "-a", "stat", "-a", "read", &a]);
    assert_eq!(code(&o), 0);
    assert_eq!(
        stdout(&o),
        format!("allow {a} [read,stat]: allowed by {p}:4\n")
    );
    let o = fdbroker(&["explain", "-p", &p, "-a", "read,exec", &a]);
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("[read,exec]"));
}

#[test]
fn explain_maps_its_own_proc_entry_to_proc_self() {
    let f = fixture();
    let p = f.policy.display().to_string();
    let o = fdbroker(&["explain", "-p", &p, "/proc/self/status"]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(
        stdout(&o).starts_with("allow /proc/self/status [read]: allowed by <profile:runtime>:"),
        "{}",
        stdout(&o)
    );
    // Another process's entry is not /proc/self.
    let o = fdbroker(&["explain", "-p", &p, "/proc/1/status"]);
    assert_eq!(code(&o), 1);
}

/// `explain` and the broker judge a path through the requester's own
/// `/proc` entry alike: `/proc/<pid>/...` and `/proc/<pid>/task/<tid>/...`
/// are both `/proc/self/...` (`fdbroker::procfs::to_self`).
#[test]
fn explain_judges_own_proc_paths_as_the_broker_does() {
    struct AllowAll;
    impl Judge for AllowAll {
        fn decide(&self, _: &Path, _: Access) -> Decision {
            Decision {
                allowed: true,
                rule: None,
            }
        }
    }
    let f = fixture();
    let p = f.policy.display().to_string();
    let ops = Ops::new().unwrap();
    let me = Context {
        pid: Some(std::process::id()),
        program: None,
    };
    for req in [
        "/proc/self",
        "/proc/self/status",
        "/proc/self/task",
        "/proc/thread-self",
        "/proc/thread-self/status",
    ] {
        let o = fdbroker(&["explain", "-p", &p, req]);
        let out = stdout(&o);
        assert_eq!(code(&o), 0, "{req}: {out}{}", stderr(&o));
        let explained = match out.split_once(" (resolves to ") {
            Some((_, rest)) => rest.split_once(')').map(|(judged, _)| judged),
            None => Some(req),
        };
        let brokered = ops.stat(&AllowAll, &me, Path::new(req), FollowSymlinks::Yes);
        assert_eq!(
            explained.map(Path::new),
            brokered.resolved.as_deref(),
            "{req}: {out}"
        );
    }
    // The calling thread's entry is the process's own, not a task below it.
    let o = fdbroker(&["explain", "-p", &p, "/proc/thread-self/status"]);
    assert!(
        stdout(&o).starts_with(
            "allow /proc/thread-self/status (resolves to /proc/self/status) [read]: allowed by <profile:runtime>:"
        ),
        "{}",
        stdout(&o)
    );
}

#[test]
fn explain_errors_exit_2() {
    let f = fixture();
    let p = f.policy.display().to_string();
    let o = fdbroker(&["explain", "-p", &p, "relative/path"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("relative/path: a path to explain must be absolute"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).is_empty());

    let o = fdbroker(&["explain", "-p", &p, "-a", "delete", "/x"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("unknown right `delete`"),
        "{}",
        stderr(&o)
    );

    let bad = f.root.join("bad.toml");
    fs::write(&bad, "version = 3\n").unwrap();
    let o = fdbroker(&["explain", "-p", bad.to_str().unwrap(), "/x"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains(&format!(
            "{}:1:11: unsupported policy version 3",
            bad.display()
        )),
        "{}",
        stderr(&o)
    );

    let o = fdbroker(&["explain", "/x"]);
    assert_eq!(code(&o), 2, "--policy is required");
}

#[test]
fn help_documents_exit_status() {
    let o = fdbroker(&["explain", "--help"]);
    assert_eq!(code(&o), 0);
    assert!(
        stdout(&o).contains(
            "Exit status: 0 when every PATH is allowed, 1 when any is denied, 2 on errors"
        )
    );
    let o = fdbroker(&["check", "--help"]);
    assert!(stdout(&o).contains("Exit status: 0 when every file is valid, 1 when any is not"));
}

/// `explain --audit-log FILE --format json`: the documented shape, whole
/// (docs/learn.md); status and stderr as with text.
#[test]
fn explain_audit_log_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let line = |decision: &str, op: &str, path: &str, access: &str, rule: &str| {
        format!(
            "{{\"decision\":\"{decision}\",\"op\":\"{op}\",\"path\":\"{path}\",\"resolved\":\"{path}\",\"access\":\"{access}\",\"rule\":\"{rule}\"}}\n"
        )
    };
    let text = [
        line("allow", "open", "/srv/in/a", "read", "p.toml:3"),
        line("deny", "open", "/srv/other/x", "read", "default"),
        "not json\n".to_string(),
        line("deny", "stat", "/srv/other/x", "read", "default"),
        line("deny", "open", "/srv/in/key", "read", "p.toml:7"),
    ]
    .concat();
    fs::write(&log, text).unwrap();
    let l = log.to_str().unwrap();
    let o = fdbroker(&["explain", "--audit-log", l, "--format", "json"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        format!("{l}:3: malformed line skipped: not JSON: expected ident at line 1 column 2\n")
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "version": 1,
            "log": l,
            "decisions": 4,
            "allowed": 1,
            "denied": 3,
            "malformed": 1,
            "malformed_lines": [
                {"line": 3, "reason": "not JSON: expected ident at line 1 column 2"}
            ],
            "denials": [
                {"path": "/srv/other/x", "access": "read", "count": 2, "rule": null,
                 "ops": {"open": 1, "stat": 1}, "first_line": 2},
                {"path": "/srv/in/key", "access": "read", "count": 1, "rule": "p.toml:7",
                 "ops": {"open": 1}, "first_line": 5}
            ],
            "suggested": [
                {"paths": ["/srv/other/x"], "access": ["read"], "comment": "open 1x, stat 1x"}
            ]
        })
    );
    assert_eq!(stdout(&o).lines().count(), 1, "one line");

    // No denials: status 0, empty lists.
    fs::write(&log, line("allow", "open", "/srv/in/a", "read", "p.toml:3")).unwrap();
    let o = fdbroker(&["explain", "--audit-log", l, "--format", "json"]);
    assert_eq!(code(&o), 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        (v["denied"].as_u64(), v["denials"].as_array().map(Vec::len)),
        (Some(0), Some(0))
    );
    // Text stays the default; --format belongs to --audit-log.
    let o = fdbroker(&["explain", "--audit-log", l]);
    assert!(stdout(&o).starts_with(&format!("{l}: 1 decision: 1 allowed, 0 denied")));
    let o = fdbroker(&["explain", "--format", "json", "-p", "p.toml", "/x"]);
    assert_eq!(code(&o), 2);
    let o = fdbroker(&["explain", "--audit-log", l, "--format", "yaml"]);
    assert_eq!(code(&o), 2);
}

/// Every long option `fdbroker COMMAND --help` lists.
fn long_options(command: &[&str]) -> Vec<String> {
    let mut args = command.to_vec();
    args.push("--help");
    let o = fdbroker(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let help = stdout(&o);
    // The "Options:" section: indented lines, up to the text after it.
    let (_, section) = help.split_once("\nOptions:\n").expect("an Options section");
    let options: Vec<String> = section
        .lines()
        .take_while(|l| l.is_empty() || l.starts_with(' '))
        .filter_map(|l| {
            let l = l.trim_start();
            let l = l
                .strip_prefix("-")
                .filter(|_| l.contains("--"))
                .map(|_| l)?;
            let long = &l[l.find("--")? + 2..];
            let end = long
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .unwrap_or(long.len());
            Some(long[..end].to_string())
        })
        .collect();
    assert!(options.contains(&"help".to_string()), "{options:?}");
    options
}

const SUBCOMMANDS: [&str; 6] = ["check", "explain", "run", "profiles", "completions", "man"];

/// Subcommands of subcommands, with a page each (`fdbroker-profiles-show.1`).
const NESTED: [&str; 1] = ["profiles-show"];

#[test]
fn man_pages_are_roff_with_every_option() {
    for sub in SUBCOMMANDS {
        let o = fdbroker(&["man", sub]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let page = stdout(&o);
        assert!(
            page.contains(&format!("\n.TH fdbroker-{sub} 1 ")),
            "{sub}: no .TH title line:\n{page}"
        );
        for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS"] {
            assert!(page.contains(section), "{sub}: no {section}:\n{page}");
        }
        for long in long_options(&[sub]) {
            // roff escapes the dashes: \-\-policy
            let roff = format!("\\fB\\-\\-{}\\fR", long.replace('-', "\\-"));
            assert!(page.contains(&roff), "{sub}: --{long} missing:\n{page}");
        }
    }
    // The overview names every subcommand and the version.
    let o = fdbroker(&["man"]);
    let page = stdout(&o);
    assert!(page.contains("\n.TH fdbroker 1 "), "{page}");
    for sub in SUBCOMMANDS {
        assert!(
            page.contains(&format!("fdbroker\\-{sub}(1)")),
            "{sub}: {page}"
        );
    }
    assert!(page.contains(env!("CARGO_PKG_VERSION")), "{page}");
    let o = fdbroker(&["man", "no-such-command"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("no subcommand `no-such-command`"));
}

/// `man --out DIR` writes one page per command; groff, where installed,
/// reads each without a warning.
#[test]
fn man_out_writes_every_page() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    let o = fdbroker(&["man", "--out", out.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let mut written: Vec<String> = stdout(&o).lines().map(String::from).collect();
    written.sort();
    let mut expected: Vec<String> = std::iter::once("fdbroker.1".to_string())
        .chain(
            SUBCOMMANDS
                .iter()
                .chain(&NESTED)
                .map(|s| format!("fdbroker-{s}.1")),
        )
        .map(|n| out.join(n).display().to_string())
        .collect();
    expected.sort();
    assert_eq!(written, expected);
    for page in &written {
        let printed = match Path::new(page).file_stem().and_then(|s| s.to_str()) {
            Some("fdbroker") => fdbroker(&["man"]),
            Some(name) => fdbroker(&["man", name.trim_start_matches("fdbroker-")]),
            None => panic!("{page}"),
        };
        assert_eq!(
            fs::read_to_string(page).unwrap(),
            stdout(&printed),
            "{page}"
        );
        if Path::new("/usr/bin/groff").exists() {
            let g = Command::new("/usr/bin/groff")
                .args(["-man", "-Tutf8", "-ww", "-z", page])
                .output()
                .unwrap();
            assert!(g.status.success() && g.stderr.is_empty(), "{page}: {g:?}");
        }
    }
}

#[test]
fn completions_name_every_command_and_option() {
    for shell in ["bash", "zsh", "fish"] {
        let o = fdbroker(&["completions", shell]);
        assert_eq!(code(&o), 0, "{shell}: {}", stderr(&o));
        let script = stdout(&o);
        for sub in SUBCOMMANDS {
            assert!(script.contains(sub), "{shell}: {sub} missing");
        }
        let run = long_options(&["run"]);
        assert!(
            ["policy", "learn", "audit-log", "user"]
                .iter()
                .all(|o| run.iter().any(|r| r == o)),
            "{run:?}"
        );
        for long in run {
            assert!(script.contains(&long), "{shell}: run --{long} missing");
        }
    }
    let o = fdbroker(&["completions", "tcsh"]);
    assert_eq!(code(&o), 2);
}

/// bash reads the script and completes with it: subcommands, then `run`'s
/// options.
#[test]
fn bash_completion_completes() {
    let script = stdout(&fdbroker(&["completions", "bash"]));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fdbroker.bash");
    fs::write(&file, script).unwrap();
    let complete = |words: &str| {
        let o = Command::new("bash")
            .args(["--norc", "--noprofile", "-c"])
            .arg(format!(
                "set -e; source \"$1\"; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
                 _fdbroker fdbroker \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
                 printf '%s\\n' \"${{COMPREPLY[@]}}\""
            ))
            .arg("bash")
            .arg(&file)
            .output()
            .unwrap();
        assert!(o.status.success(), "{words}: {o:?}");
        stdout(&o)
    };
    let subs = complete("fdbroker ''");
    for sub in SUBCOMMANDS {
        assert!(subs.lines().any(|l| l == sub), "{sub}: {subs}");
    }
    let opts = complete("fdbroker run --aud");
    assert_eq!(opts, "--audit-log\n");
}

#[test]
fn help_documents_the_denial_status() {
    let o = fdbroker(&["run", "--help"]);
    assert!(
        stdout(&o).contains("With --fail-on-denial: 118 when fdbroker denied any request"),
        "{}",
        stdout(&o)
    );
}

/// `fdbroker profiles` lists every built-in profile with the description on
/// its first line; `profiles show NAME` prints its text; an unknown NAME is
/// an error naming the known ones.
#[test]
fn profiles_lists_and_shows_the_builtin_profiles() {
    let o = fdbroker(&["profiles"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let list = stdout(&o);
    let profiles: Vec<(&str, &str)> = fdbroker::policy::builtin_profiles().collect();
    assert_eq!(list.lines().count(), profiles.len(), "{list}");
    for ((name, text), line) in profiles.iter().zip(list.lines()) {
        let first = text.lines().next().unwrap();
        let about = first.strip_prefix(&format!("# {name}: ")).unwrap();
        let (listed, rest) = line.split_once("  ").unwrap();
        assert_eq!((listed, rest.trim_start()), (*name, about), "{list}");
        let o = fdbroker(&["profiles", "show", name]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert_eq!(stdout(&o), *text);
    }
    let o = fdbroker(&["profiles", "show", "no-such-profile"]);
    assert_eq!(code(&o), 2);
    let names: Vec<&str> = profiles.iter().map(|(n, _)| *n).collect();
    assert!(
        stderr(&o).contains(&format!(
            "no built-in profile `no-such-profile`; built-in profiles: {}",
            names.join(", ")
        )),
        "{}",
        stderr(&o)
    );
}

/// `explain --profile/--read/--write` judges as `fdbroker run` would with
/// those options, naming the grants.
#[test]
fn explain_takes_profiles_and_grants() {
    let dir = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(dir.path()).unwrap();
    fs::create_dir(root.join("out")).unwrap();
    fs::write(root.join("in.txt"), "x").unwrap();
    let p = |rel: &str| root.join(rel).display().to_string();
    let o = fdbroker(&[
        "explain",
        "--profile",
        "runtime",
        "--read",
        &p("in.txt"),
        "--write",
        &p("out"),
        "-a",
        "read",
        &p("in.txt"),
        &p("out/new.txt"),
        "/etc/ld.so.cache",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "allow {} [read]: allowed by --read {}",
            p("in.txt"),
            p("in.txt")
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("[read]: allowed by --write {}", p("out"))),
        "{out}"
    );
    assert!(
        out.contains("allow /etc/ld.so.cache [read]: allowed by <profile:runtime>:"),
        "{out}"
    );
    let o = fdbroker(&[
        "explain",
        "--read",
        &p("in.txt"),
        "-a",
        "write",
        &p("in.txt"),
    ]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let o = fdbroker(&["explain", "--read", &p("missing"), "/x"]);
    assert_eq!(code(&o), 2);
    assert_eq!(
        stderr(&o).lines().next().unwrap_or_default(),
        format!(
            "fdbroker: error: --read {}: No such file or directory (os error 2)",
            p("missing")
        )
    );
}
