//! The sandbox's cgroups: created before the fork, nested under the cgroups
//! fdbroker itself is in (never anywhere else), joined by the child, read
//! while the program runs, emptied and removed when the run ends.
//!
//! Both cgroup versions stand behind [`Cgroup`]: with v1 the sandbox gets a
//! directory in each hierarchy that holds a controller it needs (`memory`,
//! `pids`, `cpuacct`, and `freezer` to kill without racing forks); with v2
//! one directory, after enabling `memory` and `pids` in fdbroker's own
//! cgroup (moving fdbroker into a leaf of its own first when it is the only
//! process there, as the "no internal processes" rule requires). A hybrid
//! system mixes both, controller by controller. `--cpus` gets a v1 `cpuset`
//! directory of its own ([`create_cpuset`]) where there is that hierarchy.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// A cgroup version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    V1,
    V2,
}

impl Version {
    pub(crate) fn number(self) -> u8 {
        match self {
            Version::V1 => 1,
            Version::V2 => 2,
        }
    }
}

/// What the sandbox may need a cgroup for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Controller {
    Memory,
    Pids,
    /// CPU time used (v1 `cpuacct`; v2 `cpu.stat`, in every cgroup).
    Cpu,
    /// Stopping every process at once before killing (v1 only; v2 has
    /// `cgroup.kill`).
    Freezer,
    /// The CPUs of `--cpus` (v1 only).
    Cpuset,
}

impl Controller {
    fn v1_name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Pids => "pids",
            Controller::Cpu => "cpuacct",
            Controller::Freezer => "freezer",
            Controller::Cpuset => "cpuset",
        }
    }

    /// The name to enable in v2's `cgroup.subtree_control`; `None` when
    /// what fdbroker uses of it is in every v2 cgroup.
    fn v2_name(self) -> Option<&'static str> {
        match self {
            Controller::Memory => Some("memory"),
            Controller::Pids => Some("pids"),
            Controller::Cpu | Controller::Freezer | Controller::Cpuset => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Controller::Cpu => "cpu",
            c => c.v1_name(),
        }
    }
}

/// A cgroup filesystem, from a line of `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mount {
    /// The directory of the hierarchy mounted there (`/` for all of it).
    root: String,
    point: PathBuf,
    version: Version,
    /// Super options: the controllers of a v1 hierarchy.
    options: Vec<String>,
}

fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let mut right = right.split(' ');
            let version = match right.next()? {
                "cgroup" => Version::V1,
                "cgroup2" => Version::V2,
                _ => return None,
            };
            let _source = right.next()?;
            let options = right.next().unwrap_or("").split(',').map(String::from);
            Some(Mount {
                root: unescape(left.get(3)?),
                point: PathBuf::from(unescape(left.get(4)?)),
                version,
                options: options.collect(),
            })
        })
        .collect()
}

/// mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)))
            .map(|d| d.iter().fold(0u32, |n, b| n * 8 + u32::from(b - b'0')));
        match octal.and_then(|n| u8::try_from(n).ok()) {
            Some(b) => {
                out.push(b);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `/proc/self/cgroup`: for each hierarchy, its controllers (empty for v2)
/// and our path in it.
fn parse_proc_cgroup(text: &str) -> Vec<(Vec<String>, String)> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let _id = parts.next()?;
            let controllers = parts.next()?;
            let path = parts.next()?;
            let controllers = controllers
                .split(',')
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect();
            Some((controllers, path.to_string()))
        })
        .collect()
}

/// Our cgroup's directory in mount `m`, where `path` is our place in its
/// hierarchy; `None` when the mount does not show it.
fn own_dir(m: &Mount, path: &str) -> Option<PathBuf> {
    let rel = if m.root == "/" {
        path
    } else {
        let rest = path.strip_prefix(m.root.as_str())?;
        if !rest.is_empty() && !rest.starts_with('/') {
            return None;
        }
        rest
    };
    let rel = rel.trim_start_matches('/');
    Some(if rel.is_empty() {
        m.point.clone()
    } else {
        m.point.join(rel)
    })
}

/// Where this process's cgroups are.
struct Layout {
    mounts: Vec<Mount>,
    member: Vec<(Vec<String>, String)>,
}

impl Layout {
    fn read() -> io::Result<Layout> {
        Ok(Layout {
            mounts: parse_mountinfo(&fs::read_to_string("/proc/self/mountinfo")?),
            member: parse_proc_cgroup(&fs::read_to_string("/proc/self/cgroup")?),
        })
    }

    /// Our directory in the v1 hierarchy holding `c`.
    fn v1_dir(&self, c: Controller) -> Option<PathBuf> {
        let name = c.v1_name();
        let path = self
            .member
            .iter()
            .find(|(cs, _)| cs.iter().any(|x| x == name))
            .map(|(_, p)| p)?;
        self.mounts
            .iter()
            .filter(|m| m.version == Version::V1 && m.options.iter().any(|o| o == name))
            .find_map(|m| own_dir(m, path))
    }

    /// Our directory in the v2 hierarchy.
    fn v2_dir(&self) -> Option<PathBuf> {
        let path = self
            .member
            .iter()
            .find(|(cs, _)| cs.is_empty())
            .map(|(_, p)| p)?;
        self.mounts
            .iter()
            .filter(|m| m.version == Version::V2)
            .find_map(|m| own_dir(m, path))
    }
}

/// Which controllers the sandbox needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Want {
    pub(crate) memory: bool,
    pub(crate) pids: bool,
    pub(crate) cpu: bool,
}

/// What [`create`] could do: the cgroup (if any directory was made) and,
/// for each controller wanted but not had, why.
pub(crate) struct Created {
    pub(crate) cgroup: Option<Cgroup>,
    pub(crate) missing: Vec<(Controller, String)>,
}

/// One directory of the sandbox's cgroup.
#[derive(Debug)]
struct Dir {
    path: PathBuf,
    version: Version,
    controllers: Vec<Controller>,
}

/// fdbroker moved itself into `leaf` (a child of `parent`) to enable
/// `enabled` in `parent`: undone when the sandbox's cgroup is removed.
#[derive(Debug)]
struct Moved {
    parent: PathBuf,
    leaf: PathBuf,
    enabled: Vec<&'static str>,
}

/// The sandbox's cgroup. Dropping it kills whatever is still in it and
/// removes its directories.
#[derive(Debug)]
pub(crate) struct Cgroup {
    dirs: Vec<Dir>,
    moved: Option<Moved>,
}

/// Creates the sandbox's cgroup for `want` beneath this process's own.
pub(crate) fn create(want: Want) -> Created {
    let wanted: Vec<Controller> = [
        (want.memory, Controller::Memory),
        (want.pids, Controller::Pids),
        (want.cpu, Controller::Cpu),
    ]
    .into_iter()
    .filter_map(|(w, c)| w.then_some(c))
    .collect();
    let mut missing = Vec::new();
    if wanted.is_empty() {
        return Created {
            cgroup: None,
            missing,
        };
    }
    let layout = match Layout::read() {
        Ok(l) => l,
        Err(e) => {
            let why = format!("cannot read this process's cgroups: {e}");
            missing = wanted.iter().map(|c| (*c, why.clone())).collect();
            return Created {
                cgroup: None,
                missing,
            };
        }
    };
    // Group the controllers by the directory they need: v1 first.
    let mut v1: Vec<(PathBuf, Vec<Controller>)> = Vec::new();
    let mut v2: Vec<Controller> = Vec::new();
    let v2_dir = layout.v2_dir();
    for c in wanted {
        if let Some(parent) = layout.v1_dir(c) {
            match v1.iter_mut().find(|(p, _)| *p == parent) {
                Some((_, cs)) => cs.push(c),
                None => v1.push((parent, vec![c])),
            }
        } else if v2_dir.is_some() {
            v2.push(c);
        } else {
            missing.push((
                c,
                format!("no cgroup hierarchy here has the {} controller", c.name()),
            ));
        }
    }
    let mut cgroup = Cgroup {
        dirs: Vec::new(),
        moved: None,
    };
    for (parent, controllers) in v1 {
        match make_dir(&parent, "") {
            Ok(path) => cgroup.dirs.push(Dir {
                path,
                version: Version::V1,
                controllers,
            }),
            Err(e) => missing.extend(controllers.into_iter().map(|c| {
                (
                    c,
                    format!("cannot create a cgroup in {}: {e}", parent.display()),
                )
            })),
        }
    }
    if let (Some(parent), false) = (v2_dir, v2.is_empty()) {
        match create_v2(&parent, &v2) {
            Ok((path, moved)) => {
                cgroup.dirs.push(Dir {
                    path,
                    version: Version::V2,
                    controllers: v2,
                });
                cgroup.moved = moved;
            }
            Err(why) => missing.extend(v2.into_iter().map(|c| (c, why.clone()))),
        }
    }
    // The v1 freezer, where there is one, lets kill_all stop every
    // process before killing, so that no fork slips through; optional.
    if cgroup.dirs.iter().any(|d| d.version == Version::V1)
        && let Some(parent) = layout.v1_dir(Controller::Freezer)
    {
        if let Some(d) = cgroup
            .dirs
            .iter_mut()
            .find(|d| d.path.parent() == Some(parent.as_path()))
        {
            d.controllers.push(Controller::Freezer);
        } else if let Ok(path) = make_dir(&parent, "") {
            cgroup.dirs.push(Dir {
                path,
                version: Version::V1,
                controllers: vec![Controller::Freezer],
            });
        }
    }
    Created {
        cgroup: (!cgroup.dirs.is_empty()).then_some(cgroup),
        missing,
    }
}

/// A v1 `cpuset` cgroup beneath this process's own, holding the CPUs of
/// `cpus` (the kernel's list form, `0-3,6`) and its parent's memory nodes:
/// a process in it cannot run on other CPUs, whatever affinity it asks
/// for. `Err`: why not (v2's cpuset controller is not used: enabling it
/// would change the CPUs of fdbroker's own cgroup's other members).
pub(crate) fn create_cpuset(cpus: &str) -> Result<Cgroup, String> {
    let layout = Layout::read().map_err(|e| format!("cannot read this process's cgroups: {e}"))?;
    let parent = layout
        .v1_dir(Controller::Cpuset)
        .ok_or("no cgroup v1 cpuset hierarchy here")?;
    let path = make_dir(&parent, "")
        .map_err(|e| format!("cannot create a cgroup in {}: {e}", parent.display()))?;
    // Dropped (and removed) on any error below.
    let cgroup = Cgroup {
        dirs: vec![Dir {
            path: path.clone(),
            version: Version::V1,
            controllers: vec![Controller::Cpuset],
        }],
        moved: None,
    };
    // A v1 cpuset takes no process until both are set.
    let mems = read(&parent.join("cpuset.mems"))
        .map_err(|e| format!("{}: {e}", parent.join("cpuset.mems").display()))?;
    set(&path.join("cpuset.mems"), mems.trim())
        .map_err(|e| format!("{}: {e}", path.join("cpuset.mems").display()))?;
    set(&path.join("cpuset.cpus"), cpus)
        .map_err(|e| format!("{} {cpus}: {e}", path.join("cpuset.cpus").display()))?;
    Ok(cgroup)
}

/// Makes a new directory `fdbroker-<pid>-<n>[suffix]` in `parent`.
fn make_dir(parent: &Path, suffix: &str) -> io::Result<PathBuf> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = parent.join(format!("fdbroker-{}-{n}{suffix}", std::process::id()));
        match fs::create_dir(&path) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 64 => continue,
            r => return r.map(|()| path),
        }
    }
}

/// A v2 child of `parent` with `controllers` enabled.
fn create_v2(
    parent: &Path,
    controllers: &[Controller],
) -> Result<(PathBuf, Option<Moved>), String> {
    let names: Vec<&'static str> = controllers.iter().filter_map(|c| c.v2_name()).collect();
    let words = |file: &str| -> Result<Vec<String>, String> {
        let path = parent.join(file);
        read(&path)
            .map(|t| t.split_whitespace().map(String::from).collect())
            .map_err(|e| format!("{}: {e}", path.display()))
    };
    let available = words("cgroup.controllers")?;
    if let Some(n) = names.iter().find(|n| !available.iter().any(|a| a == *n)) {
        return Err(format!(
            "the {n} controller is not available in {} (not delegated)",
            parent.display()
        ));
    }
    let enabled = words("cgroup.subtree_control")?;
    let to_enable: Vec<&'static str> = names
        .into_iter()
        .filter(|n| !enabled.iter().any(|e| e == *n))
        .collect();
    let mut moved = None;
    if !to_enable.is_empty() {
        let line: Vec<String> = to_enable.iter().map(|n| format!("+{n}")).collect();
        let line = line.join(" ");
        let control = parent.join("cgroup.subtree_control");
        match write(&control, &line) {
            Ok(()) => {}
            // Our cgroup has processes, so it cannot hand controllers down
            // ("no internal processes"). If fdbroker is its only process,
            // fdbroker moves into a leaf of its own.
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                let ours = read_pids(&parent.join("cgroup.procs"));
                if ours != [std::process::id()] {
                    return Err(format!(
                        "cannot enable {line} in {}: it has other processes than fdbroker",
                        parent.display()
                    ));
                }
                let leaf = make_dir(parent, "-broker")
                    .map_err(|e| format!("cannot create a cgroup in {}: {e}", parent.display()))?;
                let m = Moved {
                    parent: parent.to_path_buf(),
                    leaf,
                    enabled: Vec::new(),
                };
                write(
                    &m.leaf.join("cgroup.procs"),
                    &std::process::id().to_string(),
                )
                .and_then(|()| write(&control, &line))
                .map_err(|e| {
                    restore(&m);
                    format!("cannot enable {line} in {}: {e}", parent.display())
                })?;
                moved = Some(Moved {
                    enabled: to_enable,
                    ..m
                });
            }
            Err(e) => {
                return Err(format!("cannot enable {line} in {}: {e}", parent.display()));
            }
        }
    }
    match make_dir(parent, "") {
        Ok(path) => Ok((path, moved)),
        Err(e) => {
            if let Some(m) = &moved {
                restore(m);
            }
            Err(format!(
                "cannot create a cgroup in {}: {e}",
                parent.display()
            ))
        }
    }
}

/// Undoes a [`Moved`]: disables what was enabled (only when no other
/// cgroup than the leaf is below the parent, which would lose it), moves
/// fdbroker back and removes the leaf. Best effort.
fn restore(m: &Moved) {
    let others = fs::read_dir(&m.parent)
        .map(|d| {
            d.flatten()
                .any(|e| e.file_type().is_ok_and(|t| t.is_dir()) && e.path() != m.leaf)
        })
        .unwrap_or(true);
    if others {
        return;
    }
    if !m.enabled.is_empty() {
        let line: Vec<String> = m.enabled.iter().map(|n| format!("-{n}")).collect();
        if write(&m.parent.join("cgroup.subtree_control"), &line.join(" ")).is_err() {
            return;
        }
    }
    if write(
        &m.parent.join("cgroup.procs"),
        &std::process::id().to_string(),
    )
    .is_ok()
    {
        let _ = fs::remove_dir(&m.leaf);
    }
}

fn read(path: &Path) -> io::Result<String> {
    fs::read_to_string(path)
}

fn write(path: &Path, value: &str) -> io::Result<()> {
    fs::OpenOptions::new()
        .write(true)
        .open(path)?
        .write_all(value.as_bytes())
}

/// [`write`], with the file named in the error.
fn set(path: &Path, value: &str) -> io::Result<()> {
    write(path, value).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

fn read_pids(path: &Path) -> Vec<u32> {
    read(path)
        .map(|t| {
            t.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The number after `key` in a file of `key value` lines.
fn counter(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

impl Cgroup {
    fn dir(&self, c: Controller) -> Option<&Dir> {
        self.dirs.iter().find(|d| d.controllers.contains(&c))
    }

    /// The cgroup version serving `c`, if the sandbox has it.
    pub(crate) fn version(&self, c: Controller) -> Option<Version> {
        self.dir(c).map(|d| d.version)
    }

    /// The file of each directory that moves its writer into the sandbox's
    /// cgroup when `0` is written to it, for a writer with one thread (the
    /// child before it starts anything): v1's `tasks`, v2's
    /// `cgroup.procs`. Moving a whole thread group (v1's `cgroup.procs`)
    /// takes the kernel's thread-group lock for writing, which waits for an
    /// RCU grace period unless another move happened just before: 15-20 ms
    /// here for a run started after a pause. Moving the calling thread alone
    /// does not take it (cgroup_procs_write_start).
    pub(crate) fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs
            .iter()
            .map(|d| match d.version {
                Version::V1 => d.path.join("tasks"),
                Version::V2 => d.path.join("cgroup.procs"),
            })
            .collect()
    }

    fn file(&self, c: Controller, name: &str) -> Option<PathBuf> {
        self.dir(c).map(|d| d.path.join(name))
    }

    /// Limits the sandbox's memory to `bytes`; says which files did it.
    pub(crate) fn limit_memory(&self, bytes: u64) -> io::Result<String> {
        let dir = self
            .dir(Controller::Memory)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        let at = |f: &str| dir.path.join(f);
        let value = bytes.to_string();
        Ok(match dir.version {
            Version::V1 => {
                set(&at("memory.limit_in_bytes"), &value)?;
                if at("memory.memsw.limit_in_bytes").exists() {
                    set(&at("memory.memsw.limit_in_bytes"), &value)?;
                    "memory.limit_in_bytes and memory.memsw.limit_in_bytes (swap included)".into()
                } else {
                    let _ = write(&at("memory.swappiness"), "0");
                    "memory.limit_in_bytes (swap not accounted here: memory.swappiness 0)".into()
                }
            }
            Version::V2 => {
                set(&at("memory.max"), &value)?;
                // On OOM the kernel kills the whole group, not one process.
                let _ = write(&at("memory.oom.group"), "1");
                if at("memory.swap.max").exists() {
                    set(&at("memory.swap.max"), "0")?;
                    "memory.max, memory.swap.max 0".into()
                } else {
                    "memory.max (no swap controller)".into()
                }
            }
        })
    }

    /// Limits the sandbox to `n` processes and threads at once.
    pub(crate) fn limit_pids(&self, n: u64) -> io::Result<()> {
        let path = self
            .file(Controller::Pids, "pids.max")
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        set(&path, &n.to_string())
    }

    fn counter_in(&self, c: Controller, v1: (&str, &str), v2: (&str, &str)) -> u64 {
        let Some(dir) = self.dir(c) else { return 0 };
        let (file, key) = match dir.version {
            Version::V1 => v1,
            Version::V2 => v2,
        };
        read(&dir.path.join(file))
            .ok()
            .and_then(|t| counter(&t, key))
            .unwrap_or(0)
    }

    /// Processes the kernel's OOM killer killed in the sandbox; with v1,
    /// plus one while the sandbox is stuck out of memory with nothing the
    /// killer could kill (`under_oom`).
    pub(crate) fn oom_events(&self) -> u64 {
        let stuck = match self.version(Controller::Memory) {
            Some(Version::V1) => self.counter_in(
                Controller::Memory,
                ("memory.oom_control", "under_oom"),
                ("", ""),
            ),
            _ => 0,
        };
        stuck
            + self.counter_in(
                Controller::Memory,
                ("memory.oom_control", "oom_kill"),
                ("memory.events", "oom_kill"),
            )
    }

    /// Forks refused because the sandbox was at `pids.max`.
    pub(crate) fn pids_max_hits(&self) -> u64 {
        self.counter_in(
            Controller::Pids,
            ("pids.events", "max"),
            ("pids.events", "max"),
        )
    }

    /// CPU time used by the sandbox's processes, all together.
    pub(crate) fn cpu_usage(&self) -> Option<Duration> {
        let dir = self.dir(Controller::Cpu)?;
        match dir.version {
            Version::V1 => read(&dir.path.join("cpuacct.usage"))
                .ok()?
                .trim()
                .parse()
                .ok()
                .map(Duration::from_nanos),
            Version::V2 => counter(&read(&dir.path.join("cpu.stat")).ok()?, "usage_usec")
                .map(Duration::from_micros),
        }
    }

    /// The sandbox's peak memory use, when the kernel keeps it.
    pub(crate) fn peak_memory(&self) -> Option<u64> {
        let dir = self.dir(Controller::Memory)?;
        let file = match dir.version {
            Version::V1 => "memory.max_usage_in_bytes",
            Version::V2 => "memory.peak",
        };
        read(&dir.path.join(file)).ok()?.trim().parse().ok()
    }

    /// The processes in the sandbox now.
    pub(crate) fn procs(&self) -> Vec<u32> {
        let mut all: Vec<u32> = self
            .dirs
            .iter()
            .flat_map(|d| read_pids(&d.path.join("cgroup.procs")))
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    /// Sends `signal` to every process in the sandbox.
    pub(crate) fn signal_all(&self, signal: Signal) {
        for pid in self.procs() {
            let _ = kill(Pid::from_raw(pid as i32), signal);
        }
    }

    /// Kills every process in the sandbox: with v2's `cgroup.kill` at once;
    /// with v1, frozen first where a freezer is, then killed, thawed (so
    /// that they die) and killed again until none is left.
    pub(crate) fn kill_all(&self) {
        if let Some(d) = self.dirs.iter().find(|d| d.version == Version::V2)
            && write(&d.path.join("cgroup.kill"), "1").is_ok()
        {
            return;
        }
        let freezer = self.file(Controller::Freezer, "freezer.state");
        let frozen = freezer.as_deref().is_some_and(freeze);
        self.signal_all(Signal::SIGKILL);
        if let (Some(state), true) = (&freezer, frozen) {
            let _ = write(state, "THAWED");
        }
        // Without a freezer, a fork can race the first round.
        super::procs::kill_until_gone(|| self.procs());
    }
}

/// Freezes a v1 freezer cgroup and waits a moment for it to report
/// `FROZEN` (a task in an uninterruptible sleep can keep it `FREEZING`; the
/// caller kills anyway). True when it must be thawed afterwards.
fn freeze(state: &Path) -> bool {
    if write(state, "FROZEN").is_err() {
        return false;
    }
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(50) {
        if read(state).is_ok_and(|s| s.trim() == "FROZEN") {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        self.kill_all();
        for d in &self.dirs {
            // Processes killed or reaped a moment ago may still be leaving
            // (EBUSY), usually for well under a millisecond: wait 50 µs,
            // then twice as long each time, at most 5 ms, 2 s in all.
            let start = Instant::now();
            let mut pause = Duration::from_micros(50);
            while fs::remove_dir(&d.path).is_err_and(|e| e.raw_os_error() == Some(libc::EBUSY))
                && start.elapsed() < Duration::from_secs(2)
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(5));
            }
        }
        if let Some(m) = &self.moved {
            restore(m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory
39 31 0:36 /box /sys/fs/cgroup/pids\\040x rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
";
    const PROC_CGROUP: &str = "\
9:name=systemd:/
8:pids:/box/inner
4:memory:/process_api/abc
2:cpuacct:/
1:cpu:/
0::/user.slice/a:b.scope
";

    fn layout() -> Layout {
        Layout {
            mounts: parse_mountinfo(MOUNTINFO),
            member: parse_proc_cgroup(PROC_CGROUP),
        }
    }

    #[test]
    fn mountinfo_lines() {
        let m = parse_mountinfo(MOUNTINFO);
        assert_eq!(m.len(), 5, "{m:?}");
        assert_eq!(m[2].point, Path::new("/sys/fs/cgroup/memory"));
        assert_eq!(m[2].options, ["rw", "memory"]);
        assert_eq!(m[3].root, "/box");
        assert_eq!(m[3].point, Path::new("/sys/fs/cgroup/pids x"));
        assert_eq!(m[4].version, Version::V2);
        assert_eq!(unescape("a\\040b\\134c\\9"), "a b\\c\\9");
    }

    #[test]
    fn own_directories() {
        let l = layout();
        assert_eq!(
            l.v1_dir(Controller::Memory),
            Some(PathBuf::from("/sys/fs/cgroup/memory/process_api/abc"))
        );
        assert_eq!(
            l.v1_dir(Controller::Cpu),
            Some(PathBuf::from("/sys/fs/cgroup/cpuacct"))
        );
        // Mounted from /box: our /box/inner is its inner/.
        assert_eq!(
            l.v1_dir(Controller::Pids),
            Some(PathBuf::from("/sys/fs/cgroup/pids x/inner"))
        );
        assert_eq!(l.v1_dir(Controller::Freezer), None);
        assert_eq!(
            l.v2_dir(),
            Some(PathBuf::from("/sys/fs/cgroup/unified/user.slice/a:b.scope"))
        );
        // A mount of another subtree does not show our cgroup.
        let m = &l.mounts[3];
        assert_eq!(own_dir(m, "/boxer"), None);
        assert_eq!(
            own_dir(m, "/box"),
            Some(PathBuf::from("/sys/fs/cgroup/pids x"))
        );
    }

    /// A directory with the files of a cgroup, as plain files.
    fn fake(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    fn cgroup(dir: &Path, version: Version, controllers: &[Controller]) -> Cgroup {
        Cgroup {
            dirs: vec![Dir {
                path: dir.to_path_buf(),
                version,
                controllers: controllers.to_vec(),
            }],
            moved: None,
        }
    }

    #[test]
    fn one_interface_over_both_versions() {
        use Controller::{Cpu, Memory, Pids};
        let v1 = fake(&[
            ("memory.limit_in_bytes", ""),
            ("memory.memsw.limit_in_bytes", ""),
            (
                "memory.oom_control",
                "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
            ),
            ("memory.max_usage_in_bytes", "4096\n"),
            ("pids.max", ""),
            ("pids.events", "max 0\n"),
            ("cpuacct.usage", "1500000000\n"),
            ("cgroup.procs", "7\n3\n"),
        ]);
        let g = cgroup(v1.path(), Version::V1, &[Memory, Pids, Cpu]);
        assert_eq!(
            g.limit_memory(64 << 20).unwrap(),
            "memory.limit_in_bytes and memory.memsw.limit_in_bytes (swap included)"
        );
        let read = |f: &str| fs::read_to_string(v1.path().join(f)).unwrap();
        assert_eq!(read("memory.memsw.limit_in_bytes"), "67108864");
        g.limit_pids(8).unwrap();
        assert_eq!(read("pids.max"), "8");
        assert_eq!(g.oom_events(), 2);
        assert_eq!(g.pids_max_hits(), 0);
        assert_eq!(g.cpu_usage(), Some(Duration::from_millis(1500)));
        assert_eq!(g.peak_memory(), Some(4096));
        assert_eq!(g.procs(), [3, 7]);
        assert_eq!(g.procs_files(), [v1.path().join("tasks")]);
        // Dropping would kill the pids listed.
        std::mem::forget(g);

        let v2 = fake(&[
            ("memory.max", ""),
            ("memory.oom.group", "0"),
            ("memory.events", "low 0\nhigh 0\nmax 4\noom 1\noom_kill 0\n"),
            ("memory.peak", "8192\n"),
            ("pids.max", ""),
            ("pids.events", "max 3\n"),
            (
                "cpu.stat",
                "usage_usec 250000\nuser_usec 200000\nsystem_usec 50000\n",
            ),
            ("cgroup.procs", ""),
        ]);
        let g = cgroup(v2.path(), Version::V2, &[Memory, Pids, Cpu]);
        assert_eq!(
            g.limit_memory(1 << 30).unwrap(),
            "memory.max (no swap controller)"
        );
        assert_eq!(
            fs::read_to_string(v2.path().join("memory.max")).unwrap(),
            "1073741824"
        );
        assert_eq!(
            fs::read_to_string(v2.path().join("memory.oom.group")).unwrap(),
            "1"
        );
        assert_eq!(g.oom_events(), 0);
        assert_eq!(g.pids_max_hits(), 3);
        assert_eq!(g.cpu_usage(), Some(Duration::from_millis(250)));
        assert_eq!(g.peak_memory(), Some(8192));
        assert!(g.procs().is_empty());
        std::mem::forget(g);

        // A controller the sandbox has no directory for.
        let g = cgroup(v2.path(), Version::V2, &[Cpu]);
        assert!(g.limit_memory(1).is_err());
        assert_eq!(g.version(Memory), None);
        assert_eq!(g.oom_events(), 0);
        std::mem::forget(g);
    }

    #[test]
    fn v2_children_need_the_controllers_delegated() {
        let parent = fake(&[
            ("cgroup.controllers", "cpu io memory pids\n"),
            ("cgroup.subtree_control", "\n"),
        ]);
        let (path, moved) =
            create_v2(parent.path(), &[Controller::Memory, Controller::Pids]).unwrap();
        assert!(moved.is_none());
        assert!(path.starts_with(parent.path()) && path.is_dir());
        assert_eq!(
            fs::read_to_string(parent.path().join("cgroup.subtree_control")).unwrap(),
            "+memory +pids"
        );
        let e = create_v2(
            fake(&[
                ("cgroup.controllers", "cpu io\n"),
                ("cgroup.subtree_control", ""),
            ])
            .path(),
            &[Controller::Pids],
        )
        .unwrap_err();
        assert!(
            e.starts_with("the pids controller is not available in"),
            "{e}"
        );
    }

    #[test]
    fn counters() {
        let oom = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        assert_eq!(counter(oom, "oom_kill"), Some(3));
        assert_eq!(counter(oom, "oom"), None);
        assert_eq!(counter("max 12\n", "max"), Some(12));
        assert_eq!(
            counter("usage_usec 1500\nuser_usec 1000\n", "usage_usec"),
            Some(1500)
        );
        assert_eq!(counter("", "max"), None);
    }
}
