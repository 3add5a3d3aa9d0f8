//! The run report (`fdbroker run --stats`): time, CPU, peak memory, the
//! processes seen, the brokered requests allowed and denied, the limit
//! that stopped the program, and the exit status, as one JSON object.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::{Amount, EXIT_TIMEOUT, Limit, procs};
use crate::event::Event;
use crate::sandbox::Status;

/// A limit the sandbox hit, which stopped it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Hit {
    /// Which limit.
    pub limit: Limit,
    /// Its value.
    pub value: Amount,
    /// When fdbroker saw it.
    pub time: SystemTime,
}

impl Hit {
    /// The line fdbroker prints: `PROGRAM exceeded --memory 256M; killed`.
    pub fn message(&self, program: &str) -> String {
        format!(
            "{program} exceeded {} {}; killed",
            self.limit.option(),
            self.value
        )
    }
}

/// What a run used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// From the fork to the end of the run.
    pub wall: Duration,
    /// User CPU time of every process of the sandbox, together.
    pub cpu_user: Duration,
    /// System CPU time of every process of the sandbox, together.
    pub cpu_sys: Duration,
    /// The sandbox's peak memory: its memory cgroup's peak where it has
    /// one, else the largest peak resident set of a single process.
    pub peak_memory: u64,
    /// Processes of the sandbox fdbroker saw (see `docs/run.md`).
    pub processes: u64,
    /// Brokered requests allowed.
    pub allowed: u64,
    /// Brokered requests denied.
    pub denied: u64,
    /// The limit that stopped the program, if one did.
    pub hit: Option<Hit>,
}

impl Report {
    /// fdbroker's exit status for a program that ended with `status`: 124
    /// when `--timeout` stopped it, else the program's own.
    pub fn exit_code(report: Option<&Report>, status: Status) -> u8 {
        match report.and_then(|r| r.hit) {
            Some(Hit {
                limit: Limit::Timeout,
                ..
            }) => EXIT_TIMEOUT,
            _ => status.exit_code(),
        }
    }

    /// The `--stats` object for a run that ended with fdbroker's exit
    /// status `exit_status`; zeros when the program never started.
    ///
    /// ```
    /// let v: serde_json::Value = serde_json::from_str(&fdbroker::limits::Report::json(None, 127)).unwrap();
    /// assert_eq!(v["exit_status"], 127);
    /// assert_eq!(v["limit"], serde_json::Value::Null);
    /// ```
    pub fn json(report: Option<&Report>, exit_status: u8) -> String {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let r = report.cloned().unwrap_or(Report {
            wall: Duration::ZERO,
            cpu_user: Duration::ZERO,
            cpu_sys: Duration::ZERO,
            peak_memory: 0,
            processes: 0,
            allowed: 0,
            denied: 0,
            hit: None,
        });
        json!({
            "wall_ms": ms(r.wall),
            "cpu_user_ms": ms(r.cpu_user),
            "cpu_sys_ms": ms(r.cpu_sys),
            "peak_memory_bytes": r.peak_memory,
            "processes": r.processes,
            "allowed": r.allowed,
            "denied": r.denied,
            "limit": r.hit.map_or(Value::Null, |h| Value::from(h.limit.key())),
            "exit_status": exit_status,
        })
        .to_string()
    }
}

/// Where a run's [`Report`] appears once the run has ended; clone it
/// before handing the [`super::Enforcer`] to the sandbox.
#[derive(Debug, Clone, Default)]
pub struct RunHandle(Arc<Mutex<Option<Report>>>);

impl RunHandle {
    /// The report, once the run has ended.
    pub fn report(&self) -> Option<Report> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn set(&self, report: Report) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(report);
    }
}

/// Counters kept while the program runs, for the report.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    allowed: AtomicU64,
    denied: AtomicU64,
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    /// Threads that asked the broker something.
    threads: HashSet<u32>,
    /// Processes (thread groups) seen.
    processes: HashSet<u32>,
}

impl Counts {
    /// Counts a brokered request, and its requester as a process.
    pub(crate) fn observe(&self, e: &Event<'_>) {
        let counter = if e.decision.is_some_and(|d| d.allowed) {
            &self.allowed
        } else {
            &self.denied
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let Some(pid) = e.pid.filter(|&p| p != 0) else {
            return;
        };
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        // The requester is waiting for the answer, so its thread is there
        // to be looked up.
        if seen.threads.insert(pid) {
            let process = procs::tgid_of(pid).unwrap_or(pid);
            seen.processes.insert(process);
        }
    }

    /// Counts processes found in the sandbox.
    pub(crate) fn saw(&self, pids: impl IntoIterator<Item = u32>) {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .processes
            .extend(pids);
    }

    /// Requests allowed, denied, and processes seen.
    pub(crate) fn totals(&self) -> (u64, u64, u64) {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        (
            self.allowed.load(Ordering::Relaxed),
            self.denied.load(Ordering::Relaxed),
            seen.processes.len() as u64,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Op, Source};
    use crate::policy::{Access, Decision};
    use std::path::Path;

    #[test]
    fn the_object_has_exactly_the_documented_keys() {
        let r = Report {
            wall: Duration::from_millis(1234),
            cpu_user: Duration::from_micros(500_900),
            cpu_sys: Duration::from_millis(3),
            peak_memory: 64 << 20,
            processes: 3,
            allowed: 10,
            denied: 2,
            hit: Some(Hit {
                limit: Limit::MaxProcesses,
                value: Amount::Count(8),
                time: SystemTime::UNIX_EPOCH,
            }),
        };
        let v: Value = serde_json::from_str(&Report::json(Some(&r), 137)).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "allowed",
                "cpu_sys_ms",
                "cpu_user_ms",
                "denied",
                "exit_status",
                "limit",
                "peak_memory_bytes",
                "processes",
                "wall_ms"
            ]
        );
        assert_eq!(v["wall_ms"], 1234);
        assert_eq!(v["cpu_user_ms"], 500);
        assert_eq!(v["peak_memory_bytes"], 64 << 20);
        assert_eq!(v["limit"], "max_processes");
        assert_eq!(v["exit_status"], 137);
        assert_eq!(
            r.hit.unwrap().message("bomb"),
            "bomb exceeded --max-processes 8; killed"
        );
    }

    #[test]
    fn timeout_exits_124() {
        let mut r = Report {
            wall: Duration::ZERO,
            cpu_user: Duration::ZERO,
            cpu_sys: Duration::ZERO,
            peak_memory: 0,
            processes: 1,
            allowed: 0,
            denied: 0,
            hit: None,
        };
        assert_eq!(Report::exit_code(Some(&r), Status::Signaled(15)), 143);
        assert_eq!(Report::exit_code(None, Status::Exited(3)), 3);
        r.hit = Some(Hit {
            limit: Limit::Timeout,
            value: Amount::Time(Duration::from_secs(1)),
            time: SystemTime::UNIX_EPOCH,
        });
        assert_eq!(Report::exit_code(Some(&r), Status::Signaled(9)), 124);
        assert_eq!(Report::exit_code(Some(&r), Status::Exited(0)), 124);
    }

    #[test]
    fn requests_and_requesters_are_counted() {
        let c = Counts::default();
        let allow = Decision {
            allowed: true,
            rule: None,
        };
        let deny = Decision::default_deny();
        let me = std::process::id();
        for (pid, d) in [(me, Some(&allow)), (me, Some(&deny)), (0, None)] {
            c.observe(&Event {
                pid: Some(pid),
                source: Source::Seccomp,
                syscall: Some("openat"),
                op: Op::Open,
                path: Path::new("/x"),
                resolved: None,
                flags: None,
                mode: None,
                access: Access::READ,
                decision: d,
                errno: None,
                absent: false,
            });
        }
        assert_eq!(c.totals(), (1, 2, 1));
        c.saw([me, 1]);
        assert_eq!(c.totals(), (1, 2, 2));
    }
}
