//! Policies that are easy to write: learn mode, helpful denials, audit
//! summaries (`docs/learn.md`).
//!
//! - [`Learner`]: the [`Judge`] of `fdbroker run --learn`. It allows what
//!   the base policy allows, keeps the base policy's deny rules, refuses a
//!   few things it never learns (another process's `/proc`, raw memory and
//!   block devices, writes outside `--learn-writable`), and allows the rest;
//!   [`Learner::observe`] records every allowed request (canonical path,
//!   rights, operation, requester), and the programs executed.
//! - [`PolicyWriter`]: turns what was recorded into a small commented policy.
//! - [`Denials`]: the one-line explanation on stderr the first time each
//!   path and right is denied.
//! - [`AuditSummary`]: `fdbroker explain --audit-log`.

mod budget;
mod denials;
mod naming;
mod summary;
mod tempname;
mod writer;

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use nix::fcntl::OFlag;

pub use denials::{DENIALS_BUDGET, Denials, denial_line};
pub use summary::{AuditSummary, DeniedGroup, Malformed};
pub use tempname::generalise_name;
pub use writer::{
    GLOB_THRESHOLD, Learned, LearnedRule, PACKAGE_THRESHOLD, PolicyWriter, Requester, Usage,
    toml_string,
};

use self::budget::{Budget, Charge, entry_cost, human};
use crate::binfmt::{BINPRM_BUF_SIZE, elf_interpreter, shebang};
use crate::event::{Event, Op};
use crate::ops::flags::{Object, OpenFlags};
use crate::policy::{Access, Decision, Judge, Policy, PolicyError, RuleKind, RuleRef};
use crate::procfs;
use crate::resolve::{FollowSymlinks, Resolver};

/// The most memory learn mode's record may take: the paths used, their
/// usage, and the programs seen (about 5,000 typical paths). Past it, one
/// notice says so, what is new is no longer recorded, and
/// [`Learner::incomplete`] turns true: a program cannot make fdbroker's
/// memory grow without bound, and the learned policy says it is incomplete.
pub const LEARN_BUDGET: usize = 3 << 20;

/// What a [`Usage`] costs beyond its path and program: its maps' nodes and
/// the names in them.
const USAGE_EXTRA: usize = 448;

/// The file name of the pseudo-rule behind learn-mode decisions: the audit
/// log shows `<learn>:0` for a request allowed only because of learn mode,
/// and for one learn mode refused.
pub const LEARN_RULE_FILE: &str = "<learn>";

/// Why a [`Learner`] could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LearnError {
    /// The base policy is invalid or unreadable.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// A `--learn-writable` directory cannot be resolved.
    #[error("--learn-writable {}: {source}", path.display())]
    Writable {
        /// As given.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The resolver used to read scripts could not be set up.
    #[error(transparent)]
    Resolve(#[from] crate::resolve::ResolveError),
}

/// A request learn mode refuses rather than learns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// `/proc/<pid>` of another process (fdbroker's own included).
    OtherProcess,
    /// Raw memory, I/O ports, kernel memory or a block device.
    Device,
    /// Writing or creating outside every `--learn-writable` directory.
    NotWritable,
}

impl Refusal {
    /// The line explaining it (without the `fdbroker: ` prefix).
    pub fn message(self, path: &Path, access: Access) -> String {
        let p = writer::clean(&path.to_string_lossy());
        match self {
            Refusal::OtherProcess => format!(
                "not learning {access} access to {p}: another process's /proc entry (a program reaches only its own, as /proc/self)"
            ),
            Refusal::Device => format!(
                "not learning {access} access to {p}: raw memory, kernel memory and block devices are never learned"
            ),
            Refusal::NotWritable => format!(
                "not learning write access to {p}: outside --learn-writable (use --learn-writable DIR)"
            ),
        }
    }
}

/// The judge and recorder of `fdbroker run --learn`. See the
/// [module documentation](self) and `docs/learn.md`.
///
/// ```
/// use std::path::{Path, PathBuf};
/// use fdbroker::learn::{Learner, Refusal};
/// use fdbroker::policy::{Access, Judge};
///
/// let learner = Learner::new(None, &[PathBuf::from("/tmp")], Vec::new())?;
/// // Reads are learned, writes only under --learn-writable directories.
/// assert!(learner.decide(Path::new("/srv/in/a.txt"), Access::READ).allowed);
/// assert!(learner.decide(Path::new("/tmp/out.txt"), Access::CREATE).allowed);
/// assert!(!learner.decide(Path::new("/srv/in/a.txt"), Access::WRITE).allowed);
/// assert_eq!(
///     learner.refusal(Path::new("/srv/in/a.txt"), Access::WRITE),
///     Some(Refusal::NotWritable)
/// );
/// // Another process's /proc, fdbroker's own included, is never handed out.
/// let own = format!("/proc/{}/environ", std::process::id());
/// assert!(!learner.decide(Path::new(&own), Access::READ).allowed);
/// # Ok::<(), fdbroker::learn::LearnError>(())
/// ```
pub struct Learner {
    base: Policy,
    writable: Vec<PathBuf>,
    implicit: Vec<PathBuf>,
    resolver: Resolver,
    state: Mutex<State>,
    notices: Option<Mutex<Box<dyn Write + Send>>>,
}

impl std::fmt::Debug for Learner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Learner")
            .field("writable", &self.writable)
            .field("implicit", &self.implicit)
            .finish_non_exhaustive()
    }
}

struct State {
    usage: BTreeMap<PathBuf, Usage>,
    /// `(pid, program)` pairs already looked at for executions.
    programs: HashSet<(u32, PathBuf)>,
    requests: u64,
    refused: u64,
    /// What `usage` and `programs` may still take.
    budget: Budget,
}

impl State {
    fn new(budget: usize) -> State {
        State {
            usage: BTreeMap::new(),
            programs: HashSet::new(),
            requests: 0,
            refused: 0,
            budget: Budget::new(budget),
        }
    }
}

impl Learner {
    /// A learner whose base is the `runtime` profile plus, when given, the
    /// policy file `base`; writes are learned only under `writable`
    /// (resolved to canonical paths here); `implicit` are the programs that
    /// may always run (PROGRAM and its interpreters), not recorded as
    /// executed. Pattern variables in `base` are fdbroker's own
    /// ([`Policy::from_file`]); [`Learner::with_base`] takes a policy read
    /// with the run's.
    ///
    /// # Errors
    ///
    /// An invalid `base`, a `writable` path that cannot be resolved.
    pub fn new(
        base: Option<&Path>,
        writable: &[PathBuf],
        implicit: Vec<PathBuf>,
    ) -> Result<Learner, LearnError> {
        let mut text = String::from("version = 1\nprofiles = [\"runtime\"]\n");
        if let Some(b) = base {
            // Report errors under the name the user gave.
            Policy::from_file(b)?;
            let abs = std::fs::canonicalize(b).map_err(|source| PolicyError::Read {
                path: b.to_path_buf(),
                source,
            })?;
            text.push_str(&format!(
                "include = [{}]\n",
                toml_string(&abs.to_string_lossy())
            ));
        }
        let base = Policy::parse(&text, Path::new(LEARN_RULE_FILE))?;
        Learner::with_base(base, writable, implicit)
    }

    /// A learner whose base is `base` (for `fdbroker run --learn`: the
    /// `runtime` profile, the `--policy` files, `--profile`s and the run's
    /// grants, [`crate::policy::Policy::compose`]d): what it allows is
    /// allowed and not learned. Otherwise as [`Learner::new`].
    ///
    /// # Errors
    ///
    /// A `writable` path that cannot be resolved.
    pub fn with_base(
        base: Policy,
        writable: &[PathBuf],
        implicit: Vec<PathBuf>,
    ) -> Result<Learner, LearnError> {
        let writable = writable
            .iter()
            .map(|w| {
                std::fs::canonicalize(w).map_err(|source| LearnError::Writable {
                    path: w.clone(),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Learner {
            base,
            writable,
            implicit,
            resolver: Resolver::new()?,
            state: Mutex::new(State::new(LEARN_BUDGET)),
            notices: None,
        })
    }

    /// Writes the notice that the record is full (once) to `out`.
    pub fn notices(mut self, out: Box<dyn Write + Send>) -> Learner {
        self.notices = Some(Mutex::new(out));
        self
    }

    /// Whether the record reached [`LEARN_BUDGET`], so that some of what
    /// the program used was not recorded.
    pub fn incomplete(&self) -> bool {
        self.lock().budget.is_full()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Says once that the record is full, when `charge` is the first refusal.
    fn notice_if_full(&self, charge: Charge) {
        if charge != (Charge::Full { first: true }) {
            return;
        }
        if let Some(out) = &self.notices {
            let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
            let _ = writeln!(
                out,
                "fdbroker: notice: learn mode's record reached {}; what the program uses from now on is not learned, and the policy will say it is incomplete",
                human(LEARN_BUDGET)
            );
            let _ = out.flush();
        }
    }

    /// The base policy: the `runtime` profile and the included base file.
    /// `fdbroker run --learn` takes the network setting and `exec` grants
    /// from it.
    pub fn base(&self) -> &Policy {
        &self.base
    }

    /// The `--learn-writable` directories, canonical.
    pub fn writable(&self) -> &[PathBuf] {
        &self.writable
    }

    /// Why learn mode refuses `access` on `path` instead of learning it, if
    /// it does (whatever the base policy says, except that the base may
    /// allow writes and devices).
    pub fn refusal(&self, path: &Path, access: Access) -> Option<Refusal> {
        if other_process(path) {
            return Some(Refusal::OtherProcess);
        }
        if access != Access::STAT && dangerous_device(path) {
            return Some(Refusal::Device);
        }
        if access.intersects(Access::WRITE | Access::CREATE | Access::REMOVE)
            && !self.writable.iter().any(|w| path.starts_with(w))
            && !self.base_writes_existing(path, access)
        {
            return Some(Refusal::NotWritable);
        }
        None
    }

    /// `O_CREAT` on a file that exists, which the base already lets the
    /// program write (`> /dev/null` in a shell): nothing new is created, so
    /// learning the `create` right there grants no new write access.
    fn base_writes_existing(&self, path: &Path, access: Access) -> bool {
        access.contains(Access::CREATE)
            && self.base.decide(path, access - Access::CREATE).allowed
            && std::fs::symlink_metadata(path).is_ok()
    }

    /// Records one decision reported by the broker (the observer of
    /// `fdbroker run --learn`). Allowed requests are recorded with the rights
    /// they needed; a request on an object that exists that failed with
    /// another error than a denial (`ELOOP`, `EISDIR`...) is recorded as
    /// `stat`, which is what lets the program see that error again. Denials
    /// are not recorded, nor are probes of paths that do not exist
    /// ([`Event::absent`]): under the learned policy such a path is hidden,
    /// which answers the same `ENOENT`.
    pub fn observe(&self, e: &Event<'_>) {
        let (Some(resolved), Some(decision)) = (e.resolved, e.decision) else {
            return;
        };
        let pid = e.pid.unwrap_or(0);
        let program = exe_of(pid);
        let mut state = self.lock();
        state.requests += 1;
        if !decision.allowed {
            state.refused += 1;
            return;
        }
        if e.absent {
            return;
        }
        let (access, error) = match e.errno {
            None => (rights_needed(e), None),
            Some(errno) => (Access::STAT, Some(format!("{errno:?}"))),
        };
        let who = Requester {
            program: program.clone(),
            pid,
        };
        let recorded = record(
            &mut state,
            resolved,
            access,
            e.op.name(),
            error.as_deref(),
            &who,
        );
        // A program not looked at yet in this process.
        let mut new_program = None;
        let mut program_charge = Charge::Taken;
        if let Some(exe) = program
            && !state.programs.contains(&(pid, exe.clone()))
        {
            program_charge = state.budget.charge(entry_cost(&exe, 8));
            if program_charge == Charge::Taken {
                state.programs.insert((pid, exe.clone()));
                new_program = Some(exe);
            }
        }
        drop(state);
        self.notice_if_full(recorded);
        self.notice_if_full(program_charge);
        if let Some(exe) = new_program {
            self.learn_execution(pid, &exe, &who);
        }
    }

    /// Records `exe` (newly seen running as `pid`), its ELF interpreter and
    /// the `#!` script it runs, if any, as executed.
    fn learn_execution(&self, pid: u32, exe: &Path, who: &Requester) {
        let mut executed = vec![exe.to_path_buf()];
        // The ELF interpreter the kernel loaded with it.
        if let Some((_, head)) = self.read_head(exe, 64 * 1024)
            && let Some(interp) = elf_interpreter(&head)
            && let Some((canonical, _)) = self.read_head(Path::new(OsStr::from_bytes(interp)), 0)
        {
            executed.push(canonical);
        }
        if let Some(script) = self.script_of(pid) {
            executed.push(script);
        }
        let mut state = self.lock();
        let mut charges = Vec::new();
        for path in executed {
            if !self.implicit.contains(&path) {
                charges.push(record(&mut state, &path, Access::EXEC, "exec", None, who));
            }
        }
        drop(state);
        for charge in charges {
            self.notice_if_full(charge);
        }
    }

    /// The `#!` script process `pid` runs, if its command line is what the
    /// kernel makes of one: `[INTERP, SCRIPT, ...]` or `[INTERP, ARG,
    /// SCRIPT, ...]`, where SCRIPT's first line is `#!INTERP [ARG]`.
    fn script_of(&self, pid: u32) -> Option<PathBuf> {
        let mut cmdline = Vec::new();
        std::fs::File::open(format!("/proc/{pid}/cmdline"))
            .ok()?
            .take(64 * 1024)
            .read_to_end(&mut cmdline)
            .ok()?;
        let argv: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        for index in 1..=2 {
            let Some(arg) = argv.get(index).filter(|a| !a.is_empty()) else {
                continue;
            };
            let mut path = PathBuf::from(OsStr::from_bytes(arg));
            if !path.is_absolute() {
                let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok()?;
                path = cwd.join(path);
            }
            let Some((canonical, head)) = self.read_head(&path, BINPRM_BUF_SIZE as u64) else {
                continue;
            };
            let Some(line) = shebang(&head) else {
                continue;
            };
            let matches = argv.first() == Some(&line.interpreter)
                && match line.argument {
                    None => index == 1,
                    Some(o) => index == 2 && argv.get(1) == Some(&o),
                };
            if matches {
                return Some(canonical);
            }
        }
        None
    }

    /// The canonical path and first `limit` bytes of the regular file
    /// `path`, reached race-free (never opening a device or a FIFO).
    fn read_head(&self, path: &Path, limit: u64) -> Option<(PathBuf, Vec<u8>)> {
        let obj = self.resolver.resolve(path, FollowSymlinks::Yes).ok()?;
        let st = nix::sys::stat::fstat(&obj.fd).ok()?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return None;
        }
        let fd = self
            .resolver
            .reopen(obj.fd.as_fd(), OFlag::O_RDONLY | OFlag::O_NONBLOCK)
            .ok()?;
        let mut head = Vec::new();
        std::fs::File::from(fd)
            .take(limit)
            .read_to_end(&mut head)
            .ok()?;
        Some((obj.path, head))
    }

    /// What was recorded so far, per canonical path.
    pub fn usage(&self) -> BTreeMap<PathBuf, Usage> {
        self.lock().usage.clone()
    }

    /// Drops what was recorded (the counts and [`Learner::incomplete`]
    /// stay), giving its memory back once the rules are made.
    pub fn forget(&self) {
        let mut state = self.lock();
        state.usage = BTreeMap::new();
        state.programs = HashSet::new();
    }

    /// Decisions observed, and how many of them were denials.
    pub fn counts(&self) -> (u64, u64) {
        let s = self.lock();
        (s.requests, s.refused)
    }

    /// The rules `writer` makes of what was recorded, leaving out what the
    /// base policy allows. (Made from the record in place: no copy of it.)
    pub fn learned(&self, writer: &PolicyWriter) -> Learned {
        let state = self.lock();
        writer.rules(&state.usage, &|p, a| self.base.decide(p, a).allowed)
    }
}

impl Judge for Learner {
    /// Another process's `/proc`: refused. Allowed by the base policy:
    /// allowed. Denied by a deny rule of the base: denied. Then the refusals
    /// of [`Learner::refusal`]; anything else is allowed (`<learn>:0`).
    fn decide(&self, path: &Path, access: Access) -> Decision {
        if other_process(path) {
            return learn_decision(false);
        }
        let d = self.base.decide(path, access);
        if d.allowed || d.rule.is_some() {
            return d;
        }
        if access.is_empty() || self.refusal(path, access).is_some() {
            return learn_decision(false);
        }
        learn_decision(true)
    }
}

fn learn_decision(allowed: bool) -> Decision {
    Decision {
        allowed,
        rule: Some(RuleRef {
            kind: if allowed {
                RuleKind::Allow
            } else {
                RuleKind::Deny
            },
            file: Arc::from(Path::new(LEARN_RULE_FILE)),
            line: 0,
        }),
    }
}

/// Adds one request to the usage of `path`; a path not recorded yet is
/// left out (`Charge::Full`) once the record is full.
fn record(
    state: &mut State,
    path: &Path,
    access: Access,
    op: &str,
    error: Option<&str>,
    who: &Requester,
) -> Charge {
    if let Some(u) = state.usage.get_mut(path) {
        u.add(access, op, error);
        return Charge::Taken;
    }
    let program = who.program.as_ref().map_or(0, |p| p.as_os_str().len());
    let charge = state.budget.charge(entry_cost(path, program + USAGE_EXTRA));
    if charge == Charge::Taken {
        let mut u = Usage {
            first: Some(who.clone()),
            order: state.usage.len() as u64,
            ..Usage::default()
        };
        u.add(access, op, error);
        state.usage.insert(path.to_path_buf(), u);
    }
    charge
}

/// The rights a successful request needs on every later run: an `open`
/// with `O_CREAT` needs `create` when the file is missing and `write` (and
/// what else its mode asks) once it exists, so both.
fn rights_needed(e: &Event<'_>) -> Access {
    if e.op == Op::Open
        && let Some(flags) = e.flags.and_then(|f| i32::try_from(f).ok())
        && let Ok(f) = OpenFlags::parse(flags)
        && f.create()
    {
        return f.rights(Object::Existing) | f.rights(Object::New);
    }
    e.access
}

/// `/proc/<digits>...`: another process's entry (the requester's own is
/// judged as `/proc/self`).
fn other_process(path: &Path) -> bool {
    procfs::split_pid(path).is_some()
}

/// Raw memory and ports, kernel memory, and block devices.
fn dangerous_device(path: &Path) -> bool {
    const NEVER: &[&str] = &[
        "/dev/mem",
        "/dev/kmem",
        "/dev/port",
        "/proc/kcore",
        "/proc/kmsg",
    ];
    if NEVER.iter().any(|n| path == Path::new(n)) {
        return true;
    }
    path.starts_with("/dev")
        && std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_block_device())
}

/// The program a thread runs, from `/proc/<tid>/exe`; `None` when it has
/// exited or its program was deleted.
fn exe_of(pid: u32) -> Option<PathBuf> {
    let p = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    if procfs::maybe_deleted(p.as_os_str().as_bytes()) {
        return None;
    }
    Some(p)
}

/// How a learned policy names its base policy: the file name when both are
/// in the same directory, else the base's absolute path.
///
/// ```
/// use std::path::Path;
/// use fdbroker::learn::include_entry;
/// assert_eq!(include_entry(Path::new("/nonexistent/a/base.toml"), Path::new("/nonexistent/a/out.toml")), "base.toml");
/// assert_eq!(include_entry(Path::new("/nonexistent/b/base.toml"), Path::new("/nonexistent/a/out.toml")), "/nonexistent/b/base.toml");
/// ```
pub fn include_entry(base: &Path, out: &Path) -> String {
    let abs = |p: &Path| -> PathBuf {
        let p = if p.is_absolute() {
            p.to_path_buf()
        } else {
            std::env::current_dir().unwrap_or_default().join(p)
        };
        match (p.parent(), p.file_name()) {
            (Some(dir), Some(name)) => std::fs::canonicalize(dir)
                .unwrap_or_else(|_| dir.to_path_buf())
                .join(name),
            _ => p,
        }
    };
    let (b, o) = (abs(base), abs(out));
    match (b.parent(), o.parent(), b.file_name()) {
        (Some(bd), Some(od), Some(name)) if bd == od => name.to_string_lossy().into_owned(),
        _ => b.to_string_lossy().into_owned(),
    }
}

/// What the tests of learn's notices write to.
#[cfg(test)]
pub(crate) mod testing {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    /// A writer whose bytes a test reads back.
    #[derive(Clone, Default)]
    pub(crate) struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().write(b)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        /// Everything written so far.
        pub(crate) fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::Sink;
    use super::*;
    use nix::errno::Errno;

    #[test]
    fn other_processes() {
        assert!(other_process(Path::new("/proc/1")));
        assert!(other_process(Path::new("/proc/1/environ")));
        assert!(!other_process(Path::new("/proc/self/environ")));
        assert!(!other_process(Path::new("/proc/1x")));
        assert!(!other_process(Path::new("/proc/sys/kernel")));
        assert!(!other_process(Path::new("/srv/proc/1")));
    }

    #[test]
    fn the_record_stays_within_its_budget() {
        let sink = Sink::default();
        let l = Learner::new(None, &[], Vec::new())
            .unwrap()
            .notices(Box::new(sink.clone()));
        *l.lock() = State::new(4000);
        let allow = Decision {
            allowed: true,
            rule: None,
        };
        let paths: Vec<PathBuf> = (0..20)
            .map(|i| PathBuf::from(format!("/srv/{i:0>500}")))
            .collect();
        for p in paths.iter().chain(&paths) {
            l.observe(&Event {
                pid: Some(std::process::id()),
                source: crate::event::Source::Seccomp,
                syscall: Some("openat"),
                op: Op::Open,
                path: p,
                resolved: Some(p),
                flags: Some(0),
                mode: None,
                access: Access::READ,
                decision: Some(&allow),
                errno: None,
                absent: false,
            });
        }
        let usage = l.usage();
        assert!(l.incomplete());
        // Some were recorded, in order, each once; then nothing new.
        assert!((1..20).contains(&usage.len()), "{}", usage.len());
        assert!(usage.contains_key(&paths[0]));
        assert!(!usage.contains_key(&paths[19]));
        assert_eq!(usage[&paths[0]].ops["open"], 2);
        let text = sink.text();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.starts_with("fdbroker: notice: learn mode's record reached 3 MiB"));
        assert_eq!(l.counts(), (40, 0));
        l.forget();
        assert!(l.usage().is_empty() && l.incomplete());
    }

    #[test]
    fn probes_of_missing_paths_are_not_learned() {
        let l = Learner::new(None, &[], Vec::new()).unwrap();
        let allow = Decision {
            allowed: true,
            rule: None,
        };
        // No process: only the paths are recorded.
        let event = |path: &'static str, errno, absent| Event {
            pid: None,
            source: crate::event::Source::Seccomp,
            syscall: Some("newfstatat"),
            op: Op::Stat,
            path: Path::new(path),
            resolved: Some(Path::new(path)),
            flags: Some(0),
            mode: None,
            access: Access::STAT,
            decision: Some(&allow),
            errno,
            absent,
        };
        l.observe(&event("/srv/lib/Missing.pm", Some(Errno::ENOENT), true));
        l.observe(&event("/srv/lib/a/b", Some(Errno::ENOTDIR), true));
        l.observe(&event("/srv/lib/link", Some(Errno::ELOOP), false));
        l.observe(&event("/srv/lib/Found.pm", None, false));
        let usage = l.usage();
        let learned: Vec<&Path> = usage.keys().map(PathBuf::as_path).collect();
        assert_eq!(
            learned,
            [Path::new("/srv/lib/Found.pm"), Path::new("/srv/lib/link")]
        );
        assert_eq!(l.counts(), (4, 0));
    }

    #[test]
    fn judge_keeps_base_denials_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base.toml");
        std::fs::write(
            &base,
            "version = 1\n[[allow]]\npaths = [\"/srv/out/**\"]\naccess = [\"write\"]\n[[deny]]\npaths = [\"/srv/secret\"]\n",
        )
        .unwrap();
        let l = Learner::new(Some(&base), &[], Vec::new()).unwrap();
        // Base allow (even a write outside --learn-writable), base deny.
        let d = l.decide(Path::new("/srv/out/x"), Access::WRITE);
        assert!(d.allowed);
        assert!(d.reason().contains("base.toml:2"), "{}", d.reason());
        let d = l.decide(Path::new("/srv/secret"), Access::STAT);
        assert!(!d.allowed);
        assert!(d.reason().contains("base.toml:5"), "{}", d.reason());
        // Learned, refused.
        assert_eq!(
            l.decide(Path::new("/srv/in"), Access::READ).reason(),
            "allowed by <learn>:0"
        );
        assert!(!l.decide(Path::new("/srv/in"), Access::WRITE).allowed);
        assert!(!l.decide(Path::new("/dev/mem"), Access::READ).allowed);
        assert!(l.decide(Path::new("/dev/mem"), Access::STAT).allowed);
        // The runtime profile's /dev/null write is in the base.
        assert!(l.decide(Path::new("/dev/null"), Access::WRITE).allowed);
        // `> /dev/null` (O_CREAT on a file the base lets it write): learned;
        // creating a new file there is not.
        let create = Access::WRITE | Access::CREATE;
        assert!(l.decide(Path::new("/dev/null"), create).allowed);
        assert!(!l.decide(Path::new("/dev/null-new"), create).allowed);
        assert!(!l.decide(Path::new("/proc/1/mem"), Access::STAT).allowed);
        assert!(Learner::new(None, &[dir.path().join("missing")], Vec::new()).is_err());
    }
}
