//! Processes that try to outlive fdbroker, and a program that will not
//! stop. Whenever fdbroker ends — the program exits, fdbroker gets
//! `SIGTERM`, `SIGHUP` or `SIGINT`, or it is killed itself with `SIGKILL` —
//! no process of the sandbox may run on a second later, and fdbroker
//! returns within a bounded time (SECURITY.md, "The sandbox ends with
//! fdbroker").
//!
//! The programs are `c/isolation.c`'s helpers, each run with a marker
//! argument that every process they make keeps in its command line:
//! `chain` (each process forks the next and exits at once, for 5 s; its
//! starter exits after 200 ms, or stays), `daemon` (a double-forked session
//! leader, for 30 s), `ignore-term` (ignores `SIGTERM`, `SIGINT` and
//! `SIGHUP`, as does its child, for 30 s). Unconfined, the chain waits 50 ms
//! before each fork: orphans go to the system's init, which need not reap
//! thousands a second. Each
//! case runs with fdbroker as the runner (root: the program as nobody), as
//! nobody itself, and where no namespace can be made (`c/nons.c`), where
//! only what docs/run.md promises without a PID namespace is checked (and
//! the chain is slower: what escapes there goes to the system's init). The
//! controls run the same programs unconfined and require the processes to
//! outlive their parent there.

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::runner::{Bins, PolicyKind, Tally, Tree};
use crate::{FDBROKER, NOBODY, is_root, pid_namespace_expected};

/// How long fdbroker may take to return: the program's own time, the
/// 1 s grace after `SIGTERM`, the 2 s leftover bound without a PID
/// namespace, and a loaded machine.
const RETURNS_WITHIN: Duration = Duration::from_secs(10);
/// Nothing of the sandbox may run on longer than this after fdbroker ends.
const NOTHING_LEFT_AFTER: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Way {
    /// `fdbroker run` as the runner.
    Run,
    /// `fdbroker run` started as nobody.
    AsNobody,
    /// As the runner, where no namespace can be made.
    NoNamespaces,
    /// As nobody, where no namespace can be made.
    AsNobodyNoNamespaces,
    /// No sandbox.
    Control,
}

impl Way {
    fn namespaces(self) -> bool {
        matches!(self, Way::Run | Way::AsNobody) && pid_namespace_expected()
    }
}

/// What ends the run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum End {
    /// The program exits by itself.
    ProgramExits,
    /// `SIGKILL` to fdbroker once the program has started.
    KillBroker,
    /// This signal to fdbroker, which the program ignores.
    Signal(Signal),
}

struct Started {
    child: Child,
    lines: mpsc::Receiver<String>,
}

fn start(
    way: Way,
    tree: &Tree,
    bins: &Bins,
    helper: &[&str],
    marker: &str,
) -> Result<Started, String> {
    let policy = tree.policy(PolicyKind::Normal)?;
    let mut argv: Vec<String> = Vec::new();
    if matches!(way, Way::NoNamespaces | Way::AsNobodyNoNamespaces) {
        argv.push(bins.path("nons"));
    }
    if way != Way::Control {
        let fdbroker = match way {
            Way::AsNobody | Way::AsNobodyNoNamespaces => bins.path("fdbroker"),
            _ => FDBROKER.to_string(),
        };
        argv.extend([fdbroker, "run".into(), "-q".into(), "--policy".into()]);
        argv.push(policy.display().to_string());
        argv.push("--".into());
    }
    argv.extend([bins.path("isolation"), helper[0].into(), marker.into()]);
    argv.extend(helper[1..].iter().map(|a| a.to_string()));
    // fdbroker's own TMPDIR, where the run's temporary directory is made:
    // in the tree, so that a SIGKILLed fdbroker, which cannot remove it,
    // leaves nothing in /tmp. World-writable and sticky, like /tmp, for the
    // ways that run fdbroker as nobody.
    let tmp = tree.root.join("fdbroker-tmp");
    if !tmp.exists() {
        fs::create_dir(&tmp).map_err(|e| format!("mkdir {}: {e}", tmp.display()))?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o1777))
            .map_err(|e| format!("chmod {}: {e}", tmp.display()))?;
    }
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .env("TMPDIR", &tmp)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if matches!(way, Way::AsNobody | Way::AsNobodyNoNamespaces) {
        cmd.uid(NOBODY).gid(NOBODY);
    }
    let mut child = cmd.spawn().map_err(|e| format!("spawn: {e}"))?;
    let (tx, lines) = mpsc::channel();
    let out = child.stdout.take();
    std::thread::spawn(move || {
        if let Some(out) = out {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        }
    });
    Ok(Started { child, lines })
}

/// Waits for `child`, at most `limit`; its status and how long it took.
fn wait_within(child: &mut Child, limit: Duration) -> (Option<ExitStatus>, Duration) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(Some(s)) = child.try_wait() {
            return (Some(s), start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    (None, start.elapsed())
}

/// The processes still running with `marker` once `within` has passed,
/// looked for every 20 ms: none as soon as three looks in a row found none
/// (a process that just forked and exited may slip between the reads of
/// one look).
fn left_after(marker: &str, within: Duration) -> Vec<u32> {
    let start = Instant::now();
    let mut empty = 0;
    loop {
        let left = alive_with(marker);
        empty = if left.is_empty() { empty + 1 } else { 0 };
        if empty == 3 || start.elapsed() >= within {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a process with `marker` is seen running within `within`.
fn seen_within(marker: &str, within: Duration) -> usize {
    let start = Instant::now();
    while start.elapsed() < within {
        let n = alive_with(marker).len();
        if n > 0 {
            return n;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    0
}

/// Live (not zombie) processes with `marker` among their arguments.
fn alive_with(marker: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = stat
                .rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'));
            !zombie && cmdline.split(|&b| b == 0).any(|a| a == marker.as_bytes())
        })
        .collect()
}

/// Kills whatever is left with `marker` (a chain ends by itself in 20 s).
fn clean_up(marker: &str) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(25) {
        let left = alive_with(marker);
        if left.is_empty() {
            return;
        }
        for pid in left {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One case: `helper` (and its arguments after the marker) under `way`,
/// ended by `end`.
fn case(t: &mut Tally, bins: &Bins, way: Way, helper: &[&str], end: End) {
    let name = format!("process_tree [{way:?}] / {}, {end:?}", helper.join(" "));
    let tree = match Tree::new() {
        Ok(t) => t,
        Err(e) => return t.fail(&name, &e),
    };
    let marker = format!("fdbroker-tree-{}", tree.token);
    let r = run_case(&tree, bins, way, helper, end, &marker);
    clean_up(&marker);
    match r {
        Ok(detail) => t.pass(&format!("{name}: {detail}")),
        Err(why) => t.fail(&name, &why),
    }
}

fn run_case(
    tree: &Tree,
    bins: &Bins,
    way: Way,
    helper: &[&str],
    end: End,
    marker: &str,
) -> Result<String, String> {
    let mut s = start(way, tree, bins, helper, marker)?;
    let started = s
        .lines
        .recv_timeout(Duration::from_secs(60))
        .map_err(|_| "the program never started".to_string())?;
    if !started.starts_with("started") {
        return Err(format!("the program said {started:?}"));
    }
    // Give what it started a moment to get going.
    std::thread::sleep(Duration::from_millis(200));
    let broker = Pid::from_raw(s.child.id() as i32);
    match end {
        End::ProgramExits => {}
        End::KillBroker => kill(broker, Signal::SIGKILL).map_err(|e| e.to_string())?,
        End::Signal(sig) => kill(broker, sig).map_err(|e| e.to_string())?,
    }
    let (status, took) = wait_within(&mut s.child, RETURNS_WITHIN);
    let Some(status) = status else {
        let _ = s.child.kill();
        let _ = s.child.wait();
        return Err(format!("fdbroker did not return within {RETURNS_WITHIN:?}"));
    };
    let ended = Instant::now();
    if way == Way::Control {
        // Unconfined, the processes outlive their parent: the case proves
        // something.
        std::thread::sleep(NOTHING_LEFT_AFTER);
        let n = seen_within(marker, NOTHING_LEFT_AFTER);
        return if n == 0 {
            Err("nothing outlived the unconfined program: the case would prove nothing".into())
        } else {
            Ok(format!("{n} processes outlive it unconfined by a second"))
        };
    }
    let left = left_after(marker, NOTHING_LEFT_AFTER);
    if let End::Signal(_) = end {
        // The program ignored the signal: killed after the grace.
        if status.code() != Some(137) {
            return Err(format!("exit status {status:?}, not 137"));
        }
    }
    if !left.is_empty() {
        // Without a PID namespace only a program that stops forking is
        // sure to be killed, and nothing kills what survives a SIGKILL of
        // fdbroker itself (docs/run.md).
        let promised = way.namespaces() || matches!(end, End::Signal(_));
        if promised {
            return Err(format!(
                "{} processes still ran {:?} after fdbroker ended: {left:?}",
                left.len(),
                ended.elapsed()
            ));
        }
        return Ok(format!(
            "returned in {took:?} ({status}); without a PID namespace {} processes outlived it, as documented",
            left.len()
        ));
    }
    let how = status.code().map_or_else(
        || format!("signal {:?}", status.signal()),
        |c| format!("status {c}"),
    );
    Ok(format!("returned in {took:?} ({how}), nothing left"))
}

/// Every case, in every way this machine allows.
pub fn run(t: &mut Tally, bins: &Bins, wanted: &dyn Fn(&str) -> bool) {
    let mut ways = vec![Way::Run, Way::NoNamespaces];
    if is_root() {
        ways.extend([Way::AsNobody, Way::AsNobodyNoNamespaces, Way::Control]);
    }
    for way in ways {
        let cases: &[(&[&str], End)] = if way == Way::Control {
            &[
                (&["chain", "50"], End::ProgramExits),
                (&["daemon"], End::KillBroker),
            ]
        } else if !way.namespaces() {
            // Nothing kills an escaped chain here: a slower one, whose
            // orphans the system's init can keep up with.
            &[
                (&["chain", "5"], End::ProgramExits),
                (&["daemon"], End::KillBroker),
                (&["ignore-term"], End::Signal(Signal::SIGTERM)),
                (&["ignore-term"], End::Signal(Signal::SIGHUP)),
                (&["ignore-term"], End::Signal(Signal::SIGINT)),
            ]
        } else {
            &[
                (&["chain", "0"], End::ProgramExits),
                (&["chain", "0", "stay"], End::KillBroker),
                (&["daemon"], End::KillBroker),
                (&["ignore-term"], End::Signal(Signal::SIGTERM)),
                (&["ignore-term"], End::Signal(Signal::SIGHUP)),
                (&["ignore-term"], End::Signal(Signal::SIGINT)),
            ]
        };
        for (helper, end) in cases {
            let name = format!("process_tree [{way:?}] / {}, {end:?}", helper.join(" "));
            if wanted(&name) {
                case(t, bins, way, helper, *end);
            }
        }
    }
}
