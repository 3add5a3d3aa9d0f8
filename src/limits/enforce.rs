//! [`Enforcer`]: how each limit is enforced on this system, applied to the
//! sandbox and never to fdbroker, and the watch over the run — the
//! deadline of `--timeout`, the cgroup counters that show a hit — that stops
//! the whole sandbox when a limit is hit.
//!
//! The mechanism for each limit, chosen in [`Enforcer::prepare`]:
//!
//! | limit | with a cgroup | without |
//! |---|---|---|
//! | memory | memory controller (all processes together) | `RLIMIT_AS` per process |
//! | cpu_time | the cgroup's CPU usage, read by fdbroker | `RLIMIT_CPU` per process (whole seconds) |
//! | timeout | fdbroker's clock | fdbroker's clock |
//! | max_file_size | `RLIMIT_FSIZE` | `RLIMIT_FSIZE` |
//! | max_processes | pids controller | `RLIMIT_NPROC` in a user namespace of the sandbox's own |
//! | max_open_files | `RLIMIT_NOFILE` per process | `RLIMIT_NOFILE` per process |

use std::fmt;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::resource::{Resource, UsageWho, getrlimit, getrusage};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::signalfd::{SfdFlags, SignalFd, siginfo};
use nix::sys::time::TimeVal;
use nix::unistd::{Gid, Pid, Uid};

use super::cgroup::{self, Cgroup, Controller, Version};
use super::rlimit::{ChildLimits, Rlim};
use super::stats::{Counts, Hit, Report, RunHandle};
use super::{Amount, Limit, Limits, procs};
use crate::audit::{AuditLog, LimitEvent};
use crate::event::Event;
use crate::event::Observer;
use crate::sandbox::Status;

/// How long the sandbox has between `SIGTERM` at `--timeout` and `SIGKILL`.
pub const TIMEOUT_GRACE: Duration = Duration::from_secs(1);
/// How often fdbroker reads the cgroup counters that show a limit hit.
const CHECK_EVERY: Duration = Duration::from_millis(50);
/// How often it looks for the sandbox's processes, for `--stats`.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// Why the limits cannot be enforced as asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
    /// No mechanism on this system enforces the limit as given.
    #[error("{option} {value} cannot be enforced: {reason}")]
    Unenforceable {
        /// The limit's option (`--cpu-time`).
        option: &'static str,
        /// Its value.
        value: String,
        /// Why not.
        reason: String,
    },
    /// Setting up the sandbox's cgroup failed once it was created.
    #[error("the sandbox's cgroup: {0}")]
    Cgroup(#[source] std::io::Error),
}

/// How `--cpus` holds the sandbox to its CPUs ([`Enforcer::cpuset`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CpuPlacement {
    /// A cpuset cgroup: the program cannot run on other CPUs.
    Cgroup {
        /// 1 or 2.
        version: u8,
    },
    /// Only the affinity the sandbox inherits, which the program may widen
    /// within its cpuset; `reason`: why no cpuset cgroup.
    Affinity {
        /// Why no cpuset cgroup was made.
        reason: String,
    },
}

/// How one limit is enforced.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mechanism {
    /// A cgroup's own limit, on all the sandbox's processes together.
    Cgroup {
        /// 1 or 2.
        version: u8,
        /// What was written (`memory.limit_in_bytes`, `pids.max`, ...).
        files: String,
    },
    /// fdbroker reads the sandbox cgroup's CPU usage and stops the sandbox
    /// when it reaches the limit: all processes together.
    CgroupCpu {
        /// 1 or 2.
        version: u8,
        /// The file read.
        file: &'static str,
    },
    /// An rlimit the child sets on itself before execve, inherited by
    /// every process it starts.
    Rlimit {
        /// `RLIMIT_AS`, ...
        name: &'static str,
        /// The value set (below the one asked when fdbroker's own hard
        /// limit is lower: that one holds anyway).
        value: u64,
        /// What it counts.
        counts: &'static str,
        /// Why no cgroup does it instead, where one would.
        why: Option<String>,
    },
    /// fdbroker's clock: `SIGTERM` to every process of the sandbox, then
    /// `SIGKILL` after [`TIMEOUT_GRACE`].
    Clock,
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mechanism::Cgroup { version, files } => {
                write!(f, "cgroup v{version} {files}, all processes together")
            }
            Mechanism::CgroupCpu { version, file } => write!(
                f,
                "cgroup v{version} {file} read by fdbroker at least every {} ms, \
                 all processes together",
                CHECK_EVERY.as_millis()
            ),
            Mechanism::Rlimit {
                name,
                value,
                counts,
                why,
            } => {
                write!(f, "{name} {value}, {counts}")?;
                match why {
                    Some(why) => write!(f, " (no cgroup: {why})"),
                    None => Ok(()),
                }
            }
            Mechanism::Clock => write!(
                f,
                "fdbroker's clock, then SIGTERM to every process and SIGKILL {} s later",
                TIMEOUT_GRACE.as_secs()
            ),
        }
    }
}

/// What each rlimit counts, for reports.
fn counts(resource: Resource) -> &'static str {
    match resource {
        Resource::RLIMIT_AS => "the address space of each process, not the sandbox's total",
        Resource::RLIMIT_CPU => {
            "CPU seconds of each process (SIGXCPU, then SIGKILL a second later), \
             not the sandbox's total"
        }
        Resource::RLIMIT_FSIZE => "the size of each file any process writes (SIGXFSZ, EFBIG)",
        Resource::RLIMIT_NPROC => {
            "processes and threads of the sandbox at once, counted in a user \
             namespace of its own"
        }
        Resource::RLIMIT_NOFILE => "descriptors of each process (EMFILE)",
        _ => "",
    }
}

/// Enforces [`Limits`] on one run of [`crate::sandbox::Sandbox`] (hand it
/// over with `Sandbox::limits`). Creating it creates the sandbox's cgroup
/// where one is used; dropping it removes the cgroup.
///
/// ```no_run
/// use std::time::Duration;
/// use fdbroker::limits::{Enforcer, Limits};
///
/// let limits = Limits { memory: Some(256 << 20), timeout: Some(Duration::from_secs(30)), ..Limits::default() };
/// let enforcer = Enforcer::prepare(&limits, true)?;
/// eprintln!("{}", enforcer.describe());
/// let report = enforcer.handle();
/// // sandbox.limits(enforcer).run()?; then report.report()
/// # Ok::<(), fdbroker::limits::LimitError>(())
/// ```
#[derive(Debug, Default)]
pub struct Enforcer {
    limits: Limits,
    plan: Vec<(Limit, Mechanism)>,
    cgroup: Option<Cgroup>,
    /// The sandbox's cpuset cgroup ([`Enforcer::cpuset`]).
    cpuset: Option<Cgroup>,
    /// Whether a cgroup counter can show a hit (and is read while running).
    watch_cgroup: bool,
    rlimits: Vec<Rlim>,
    userns: bool,
    counts: Option<Arc<Counts>>,
    handle: RunHandle,
    audit: Option<Arc<AuditLog>>,
    run: Option<Run>,
    /// The sandbox's init, when it has a PID namespace: killing it kills
    /// the whole sandbox.
    init: Option<Pid>,
}

/// The state of a run, from the fork on.
#[derive(Debug)]
struct Run {
    start: Instant,
    /// `RUSAGE_CHILDREN` at the fork, to count this run's only.
    usage_before: (Duration, Duration),
    signals: SigSet,
    signalfd: Option<SignalFd>,
    /// When `--timeout` expires (until it has).
    term_at: Option<Instant>,
    /// When the grace after `SIGTERM` ends.
    kill_at: Option<Instant>,
    killed: bool,
    /// When the sandbox's init, asked to kill the sandbox, is killed itself
    /// if it has not ended by then.
    init_kill_at: Option<Instant>,
    next_check: Option<Instant>,
    next_sample: Option<Instant>,
    hit: Option<Hit>,
}

impl Enforcer {
    /// Chooses how to enforce `limits` here and sets up what that needs:
    /// the sandbox's cgroup, the rlimits for the child. With `report`, also
    /// keeps what the run's [`Report`] needs.
    ///
    /// # Errors
    ///
    /// [`LimitError::Unenforceable`] when a limit cannot be enforced at all
    /// as given (e.g. `--cpu-time 1.5` where only `RLIMIT_CPU`, which counts
    /// whole seconds, can); [`LimitError::Cgroup`] when the cgroup was made
    /// but could not be set up.
    pub fn prepare(limits: &Limits, report: bool) -> Result<Enforcer, LimitError> {
        let created = cgroup::create(cgroup::Want {
            memory: limits.memory.is_some() || report,
            pids: limits.max_processes.is_some(),
            cpu: limits.cpu_time.is_some(),
        });
        let mut e = Enforcer {
            limits: *limits,
            counts: report.then(Arc::default),
            ..Enforcer::default()
        };
        let cg = created.cgroup;
        let version = |c: Controller| cg.as_ref().and_then(|g| g.version(c));
        let why = |c: Controller| {
            created
                .missing
                .iter()
                .find(|(m, _)| *m == c)
                .map(|(_, w)| w.clone())
        };
        for (limit, amount) in limits.iter() {
            let n = amount.number();
            let mechanism = match limit {
                Limit::Memory => match (&cg, version(Controller::Memory)) {
                    (Some(g), Some(v)) => Mechanism::Cgroup {
                        version: v.number(),
                        files: g.limit_memory(n).map_err(LimitError::Cgroup)?,
                    },
                    _ => e.rlimit(limit, Resource::RLIMIT_AS, n, n, why(Controller::Memory))?,
                },
                Limit::CpuTime => match version(Controller::Cpu) {
                    Some(v) => Mechanism::CgroupCpu {
                        version: v.number(),
                        file: match v {
                            Version::V1 => "cpuacct.usage",
                            Version::V2 => "cpu.stat usage_usec",
                        },
                    },
                    None => {
                        let why = why(Controller::Cpu);
                        if matches!(amount, Amount::Time(d) if d.subsec_nanos() != 0) {
                            return Err(unenforceable(
                                limits,
                                limit,
                                format!(
                                    "RLIMIT_CPU counts whole seconds, and no cgroup counts CPU \
                                     time here ({}); give whole seconds",
                                    why.as_deref().unwrap_or("none")
                                ),
                            ));
                        }
                        e.rlimit(limit, Resource::RLIMIT_CPU, n, n.saturating_add(1), why)?
                    }
                },
                Limit::Timeout => Mechanism::Clock,
                Limit::MaxFileSize => e.rlimit(limit, Resource::RLIMIT_FSIZE, n, n, None)?,
                Limit::MaxProcesses => match (&cg, version(Controller::Pids)) {
                    (Some(g), Some(v)) => {
                        g.limit_pids(n).map_err(LimitError::Cgroup)?;
                        Mechanism::Cgroup {
                            version: v.number(),
                            files: "pids.max".into(),
                        }
                    }
                    _ => {
                        let why = why(Controller::Pids);
                        user_namespaces_allowed().map_err(|reason| {
                            unenforceable(
                                limits,
                                limit,
                                format!(
                                    "no pids cgroup ({}), and RLIMIT_NPROC needs a user \
                                     namespace, but {reason}",
                                    why.as_deref().unwrap_or("none")
                                ),
                            )
                        })?;
                        e.userns = true;
                        e.rlimit(limit, Resource::RLIMIT_NPROC, n, n, why)?
                    }
                },
                Limit::MaxOpenFiles => e.rlimit(limit, Resource::RLIMIT_NOFILE, n, n, None)?,
            };
            e.watch_cgroup |= matches!(
                mechanism,
                Mechanism::Cgroup { .. } | Mechanism::CgroupCpu { .. }
            );
            e.plan.push((limit, mechanism));
        }
        e.cgroup = cg;
        Ok(e)
    }

    /// Adds an rlimit for the child: `soft` and `hard`, but no higher than
    /// fdbroker's own hard limit, which the child could not raise (that one
    /// then holds, and is stricter).
    fn rlimit(
        &mut self,
        limit: Limit,
        resource: Resource,
        soft: u64,
        hard: u64,
        why: Option<String>,
    ) -> Result<Mechanism, LimitError> {
        let name = match resource {
            Resource::RLIMIT_AS => "RLIMIT_AS",
            Resource::RLIMIT_CPU => "RLIMIT_CPU",
            Resource::RLIMIT_FSIZE => "RLIMIT_FSIZE",
            Resource::RLIMIT_NPROC => "RLIMIT_NPROC",
            _ => "RLIMIT_NOFILE",
        };
        let (_, own_hard) = getrlimit(resource)
            .map_err(|e| unenforceable(&self.limits, limit, format!("getrlimit({name}): {e}")))?;
        let (soft, hard) = (soft.min(own_hard), hard.min(own_hard));
        self.rlimits.push((name, resource, soft, hard));
        Ok(Mechanism::Rlimit {
            name,
            value: soft,
            counts: counts(resource),
            why,
        })
    }

    /// Records limit hits in `log` too.
    #[must_use]
    pub fn audit(mut self, log: Arc<AuditLog>) -> Enforcer {
        self.audit = Some(log);
        self
    }

    /// The limits enforced.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Each limit and how it is enforced, in [`Limit::ALL`] order.
    pub fn plan(&self) -> &[(Limit, Mechanism)] {
        &self.plan
    }

    /// Holds the sandbox to the CPUs of `cpus` (the kernel's list form,
    /// `0-3,6`) with a cpuset cgroup of its own where one can be made here
    /// (root, a cgroup v1 `cpuset` hierarchy). Otherwise the caller's
    /// affinity, which the sandbox inherits, is all there is: the program
    /// may change its own within its cpuset.
    pub fn cpuset(&mut self, cpus: &str) -> CpuPlacement {
        match cgroup::create_cpuset(cpus) {
            Ok(g) => {
                self.cpuset = Some(g);
                CpuPlacement::Cgroup { version: 1 }
            }
            Err(reason) => CpuPlacement::Affinity { reason },
        }
    }

    /// One line for `--verbose`: each limit, its value and mechanism.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .plan
            .iter()
            .filter_map(|(l, m)| Some(format!("{} {}: {m}", l.option(), self.limits.get(*l)?)))
            .collect();
        parts.push("core dumps off (RLIMIT_CORE 0)".into());
        format!("limits: {}", parts.join("; "))
    }

    /// Where the run's report appears once it has ended.
    pub fn handle(&self) -> RunHandle {
        self.handle.clone()
    }

    /// Counts every brokered decision for the report (none is wanted
    /// without a report).
    pub(crate) fn observer(&self) -> Option<Observer> {
        let counts = Arc::clone(self.counts.as_ref()?);
        Some(Arc::new(move |e: &Event<'_>| counts.observe(e)))
    }

    /// Before the fork: what the child applies to itself (`ids`: the user
    /// it will run as, `None` for fdbroker's), and the start of the run.
    /// `signals` are the signals the supervision loop reads
    /// ([`Enforcer::next_signal`]).
    pub(crate) fn before_fork(
        &mut self,
        ids: Option<(Uid, Gid)>,
        signals: &SigSet,
    ) -> Result<ChildLimits, LimitError> {
        let mut procs: Vec<OwnedFd> = Vec::new();
        let cgroups = self.cgroup.iter().chain(self.cpuset.iter());
        for path in cgroups.flat_map(Cgroup::procs_files) {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_CLOEXEC)
                .open(&path)
                .map_err(|e| {
                    LimitError::Cgroup(std::io::Error::new(
                        e.kind(),
                        format!("{}: {e}", path.display()),
                    ))
                })?;
            procs.push(file.into());
        }
        let (uid, gid) = ids.unwrap_or_else(|| (nix::unistd::geteuid(), nix::unistd::getegid()));
        let userns = self.userns.then_some((uid.as_raw(), gid.as_raw()));
        let now = Instant::now();
        self.run = Some(Run {
            start: now,
            usage_before: children_cpu(),
            signals: *signals,
            signalfd: None,
            term_at: self.limits.timeout.map(|t| now + t),
            kill_at: None,
            killed: false,
            init_kill_at: None,
            next_check: self.watch_cgroup.then_some(now + CHECK_EVERY),
            next_sample: self
                .counts
                .is_some()
                .then_some(now + Duration::from_millis(10)),
            hit: None,
        });
        Ok(ChildLimits::new(procs, userns, &self.rlimits))
    }

    /// The supervision loop's wait: the next signal of those given to
    /// [`Enforcer::before_fork`], or `None` when a check of the limits came
    /// first (the timeout's deadline, a cgroup counter, the cgroup's CPU
    /// time, a sample for the report), which may have stopped the sandbox.
    pub(crate) fn next_signal(&mut self) -> Result<Option<siginfo>, Errno> {
        let timeout = self.until_next_check();
        let run = self.run.as_mut().ok_or(Errno::EINVAL)?;
        if run.signalfd.is_none() {
            run.signalfd = Some(SignalFd::with_flags(&run.signals, SfdFlags::SFD_CLOEXEC)?);
        }
        let ready = match &run.signalfd {
            Some(fd) => {
                let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
                match poll(&mut fds, timeout) {
                    Ok(n) => n > 0,
                    Err(Errno::EINTR) => false,
                    Err(e) => return Err(e),
                }
            }
            None => false,
        };
        self.check();
        if !ready {
            return Ok(None);
        }
        match self.run.as_ref().and_then(|r| r.signalfd.as_ref()) {
            Some(fd) => fd.read_signal(),
            None => Ok(None),
        }
    }

    /// How long the loop may wait before the next check.
    fn until_next_check(&self) -> PollTimeout {
        let Some(run) = &self.run else {
            return PollTimeout::NONE;
        };
        let kill_at = run.kill_at.filter(|_| !run.killed);
        let next = [
            run.term_at,
            kill_at,
            run.init_kill_at,
            run.next_check,
            run.next_sample,
        ]
        .into_iter()
        .flatten()
        .min();
        match next {
            None => PollTimeout::NONE,
            Some(t) => {
                // Rounded up, so that the check is due when poll returns.
                let us = t.saturating_duration_since(Instant::now()).as_micros();
                PollTimeout::try_from(us.div_ceil(1000).max(1)).unwrap_or(PollTimeout::MAX)
            }
        }
    }

    /// Does whatever is due: SIGTERM at the deadline, SIGKILL after the
    /// grace, a hit the cgroup shows, a sample of processes.
    fn check(&mut self) {
        let now = Instant::now();
        let Some(run) = self.run.as_mut() else {
            return;
        };
        let timed_out = run.term_at.is_some_and(|t| now >= t);
        if timed_out {
            run.term_at = None;
            run.kill_at = Some(now + TIMEOUT_GRACE);
        }
        let grace_over = !run.killed && run.kill_at.is_some_and(|t| now >= t);
        if run.init_kill_at.is_some_and(|t| now >= t) {
            run.init_kill_at = None;
            if let Some(init) = self.init {
                let _ = kill(init, Signal::SIGKILL);
            }
        }
        let check_due = run.next_check.is_some_and(|t| now >= t);
        let sample_due = run.next_sample.is_some_and(|t| now >= t);
        // Sampled at every check, and before any kill: the sandbox is
        // at its fullest then.
        if sample_due || check_due || timed_out || grace_over {
            self.sample();
        }
        if timed_out {
            self.record(Limit::Timeout);
            self.signal_all(Signal::SIGTERM);
        }
        if grace_over {
            self.kill_all();
        }
        if check_due && let Some(limit) = self.cgroup_hit() {
            self.record(limit);
            self.kill_all();
        }
        let interval = self.check_interval();
        if let Some(run) = self.run.as_mut() {
            if check_due {
                run.next_check = (!run.killed).then_some(now + interval);
            }
            if sample_due {
                run.next_sample = Some(now + SAMPLE_EVERY);
            }
        }
    }

    /// [`CHECK_EVERY`], or less as the CPU limit nears: the sandbox can use
    /// at most one CPU second per second and CPU.
    fn check_interval(&self) -> Duration {
        let (Some(limit), Some(g)) = (self.limits.cpu_time, &self.cgroup) else {
            return CHECK_EVERY;
        };
        let Some(used) = g
            .cpu_usage()
            .filter(|_| g.version(Controller::Cpu).is_some())
        else {
            return CHECK_EVERY;
        };
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
        (limit.saturating_sub(used) / cpus).clamp(Duration::from_millis(5), CHECK_EVERY)
    }

    /// The limit a cgroup counter shows was hit, if any.
    fn cgroup_hit(&self) -> Option<Limit> {
        let g = self.cgroup.as_ref()?;
        let by_cgroup = |l: Limit| {
            self.plan.iter().any(|(p, m)| {
                *p == l && matches!(m, Mechanism::Cgroup { .. } | Mechanism::CgroupCpu { .. })
            })
        };
        if by_cgroup(Limit::Memory) && g.oom_events() > 0 {
            return Some(Limit::Memory);
        }
        if by_cgroup(Limit::MaxProcesses) && g.pids_max_hits() > 0 {
            return Some(Limit::MaxProcesses);
        }
        if by_cgroup(Limit::CpuTime)
            && let (Some(limit), Some(used)) = (self.limits.cpu_time, g.cpu_usage())
            && used >= limit
        {
            return Some(Limit::CpuTime);
        }
        None
    }

    /// Notes the first limit hit, in the audit log too.
    fn record(&mut self, limit: Limit) {
        let Some(value) = self.limits.get(limit) else {
            return;
        };
        let Some(run) = self.run.as_mut() else {
            return;
        };
        if run.hit.is_some() {
            return;
        }
        let hit = Hit {
            limit,
            value,
            time: SystemTime::now(),
        };
        run.hit = Some(hit);
        if let Some(log) = &self.audit {
            let mechanism = self
                .plan
                .iter()
                .find(|(l, _)| *l == limit)
                .map(|(_, m)| m.to_string())
                .unwrap_or_default();
            let _ = log.record_limit(
                &LimitEvent {
                    limit: limit.key(),
                    option: limit.option(),
                    value: &value.to_string(),
                    mechanism: &mechanism,
                },
                hit.time,
            );
        }
    }

    /// Every process of the sandbox: its cgroup's, else the descendants of
    /// its init or of fdbroker (a child subreaper). The init is none of
    /// them: it is fdbroker's.
    fn processes(&self) -> Vec<u32> {
        match (&self.cgroup, self.init) {
            (Some(g), _) => g.procs(),
            (None, Some(init)) => procs::live_descendants(init.as_raw().cast_unsigned()),
            (None, None) => procs::live_descendants(std::process::id()),
        }
    }

    /// After the fork: `init` is the sandbox's init (pid 1 of its PID
    /// namespace), whose death kills every process of the sandbox.
    pub(crate) fn sandbox_init(&mut self, init: Pid) {
        self.init = Some(init);
    }

    /// Kills the whole sandbox once `grace` has passed (`SIGTERM` to
    /// fdbroker was forwarded), unless it has ended or is already to be
    /// killed sooner.
    pub(crate) fn kill_after(&mut self, grace: Duration) {
        if let Some(run) = self.run.as_mut() {
            let at = Instant::now() + grace;
            run.kill_at = Some(run.kill_at.map_or(at, |t| t.min(at)));
        }
    }

    fn signal_all(&self, signal: Signal) {
        for pid in self.processes() {
            let _ = kill(Pid::from_raw(pid as i32), signal);
        }
    }

    /// Kills every process of the sandbox, until none is left (forks can
    /// race a round).
    fn kill_all(&mut self) {
        if let Some(run) = self.run.as_mut() {
            run.killed = true;
        }
        if let Some(init) = self.init {
            // The init kills every other process of its PID namespace,
            // race-free, and reaps them (sandbox::init); killed itself if
            // it has not ended after the grace.
            let _ = kill(init, Signal::SIGTERM);
            if let Some(run) = self.run.as_mut() {
                run.init_kill_at = Some(Instant::now() + TIMEOUT_GRACE);
            }
        }
        match &self.cgroup {
            Some(g) => g.kill_all(),
            None => procs::kill_until_gone(|| self.processes()),
        }
    }

    fn sample(&self) {
        if let Some(c) = &self.counts {
            c.saw(self.processes());
        }
    }

    /// After the run (every process of the sandbox reaped), with the
    /// program's status when it ran: notes a hit only its end shows (the
    /// signal of an rlimit) or one since the last check, removes the
    /// cgroup and leaves the [`Report`] at the [`RunHandle`].
    pub(crate) fn finish(&mut self, status: Option<Status>) {
        let Some(start) = self.run.as_ref().map(|r| r.start) else {
            return;
        };
        let by_rlimit = |l: Limit| {
            self.plan
                .iter()
                .any(|(p, m)| *p == l && matches!(m, Mechanism::Rlimit { .. }))
        };
        let signaled = match status {
            Some(Status::Signaled(s)) => s,
            _ => 0,
        };
        if signaled == libc::SIGXCPU && by_rlimit(Limit::CpuTime) {
            self.record(Limit::CpuTime);
        } else if signaled == libc::SIGXFSZ && by_rlimit(Limit::MaxFileSize) {
            self.record(Limit::MaxFileSize);
        }
        if let Some(limit) = self.cgroup_hit() {
            self.record(limit);
        }
        let peak = self.cgroup.as_ref().and_then(Cgroup::peak_memory);
        // Kills anything left (nothing: the sandbox was reaped), removes
        // the directories.
        self.cgroup = None;
        self.cpuset = None;
        let (user, sys) = children_cpu();
        let usage = getrusage(UsageWho::RUSAGE_CHILDREN).ok();
        let largest_rss = usage.map_or(0, |u| u64::try_from(u.max_rss()).unwrap_or(0) * 1024);
        let (allowed, denied, seen) = self.counts.as_ref().map_or((0, 0, 0), |c| c.totals());
        let run = self.run.as_ref();
        let (user_before, sys_before) = run.map_or_else(Default::default, |r| r.usage_before);
        self.handle.set(Report {
            wall: start.elapsed(),
            cpu_user: user.saturating_sub(user_before),
            cpu_sys: sys.saturating_sub(sys_before),
            peak_memory: peak.unwrap_or(largest_rss),
            // PROGRAM itself, however short-lived.
            processes: seen.max(u64::from(status.is_some())),
            allowed,
            denied,
            hit: run.and_then(|r| r.hit),
        });
    }
}

/// `RUSAGE_CHILDREN` user and system time: every descendant waited for.
fn children_cpu() -> (Duration, Duration) {
    let d = |t: TimeVal| {
        Duration::new(
            u64::try_from(t.tv_sec()).unwrap_or(0),
            u32::try_from(t.tv_usec()).unwrap_or(0) * 1000,
        )
    };
    getrusage(UsageWho::RUSAGE_CHILDREN)
        .map(|u| (d(u.user_time()), d(u.system_time())))
        .unwrap_or_default()
}

fn unenforceable(limits: &Limits, limit: Limit, reason: String) -> LimitError {
    LimitError::Unenforceable {
        option: limit.option(),
        value: limits.get(limit).map(|a| a.to_string()).unwrap_or_default(),
        reason,
    }
}

/// Whether this system lets an unprivileged process create a user
/// namespace; else why not.
fn user_namespaces_allowed() -> Result<(), String> {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
    };
    if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        return Err(
            "user namespaces are disabled (/proc/sys/user/max_user_namespaces is 0)".into(),
        );
    }
    if read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        return Err(
            "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone is 0)"
                .into(),
        );
    }
    if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
        return Err("AppArmor restricts unprivileged user namespaces \
                    (kernel.apparmor_restrict_unprivileged_userns is 1)"
            .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mechanisms_say_what_they_count() {
        let m = Mechanism::Rlimit {
            name: "RLIMIT_AS",
            value: 64 << 20,
            counts: counts(Resource::RLIMIT_AS),
            why: Some("cannot create a cgroup in /x: Permission denied".into()),
        };
        assert_eq!(
            m.to_string(),
            "RLIMIT_AS 67108864, the address space of each process, not the sandbox's \
             total (no cgroup: cannot create a cgroup in /x: Permission denied)"
        );
        let c = Mechanism::Cgroup {
            version: 1,
            files: "pids.max".into(),
        };
        assert_eq!(c.to_string(), "cgroup v1 pids.max, all processes together");
        assert!(Mechanism::Clock.to_string().contains("SIGKILL 1 s later"));
    }

    #[test]
    fn no_limits_nothing_enforced_but_core_dumps() {
        let e = Enforcer::prepare(&Limits::default(), false).unwrap();
        assert!(e.plan().is_empty());
        assert!(e.cgroup.is_none());
        assert_eq!(e.describe(), "limits: core dumps off (RLIMIT_CORE 0)");
        assert!(e.observer().is_none());
        assert!(e.handle().report().is_none());
    }

    #[test]
    fn rlimits_are_capped_at_our_own_hard_limit() {
        let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        let limits = Limits {
            max_open_files: Some(u64::MAX - 1),
            max_file_size: Some(4096),
            ..Limits::default()
        };
        let e = Enforcer::prepare(&limits, false).unwrap();
        assert_eq!(
            e.rlimits,
            [
                ("RLIMIT_FSIZE", Resource::RLIMIT_FSIZE, 4096, 4096),
                ("RLIMIT_NOFILE", Resource::RLIMIT_NOFILE, hard, hard)
            ]
        );
        assert!(
            e.describe()
                .contains("--max-file-size 4K: RLIMIT_FSIZE 4096")
        );
        // Nothing here needs a cgroup.
        assert!(e.cgroup.is_none());
    }
}
