//! The sandbox's processes as `/proc` shows them, where no cgroup lists
//! them: fdbroker is a child subreaper, so every process of the sandbox is
//! one of its descendants.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// A numeric field (`Tgid`, `PPid`) of a `/proc/<pid>/status` text.
pub(crate) fn status_field(status: &str, name: &str) -> Option<u32> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(name)?.strip_prefix(':')?;
        value.trim().parse().ok()
    })
}

/// Whether a `/proc/<pid>/status` text is a zombie's (`State: Z`).
fn is_zombie(status: &str) -> bool {
    status.lines().any(|l| {
        l.strip_prefix("State:")
            .is_some_and(|s| s.trim_start().starts_with('Z'))
    })
}

/// The process (thread group) thread `tid` belongs to.
pub(crate) fn tgid_of(tid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    status_field(&status, "Tgid")
}

/// Every live (not yet exited) process below `root`, parents before
/// children. A process that forks while this runs may be missed: callers
/// that kill ask again until nothing is left.
pub(crate) fn live_descendants(root: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut children: HashMap<u32, Vec<(u32, bool)>> = HashMap::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        if let Some(ppid) = status_field(&status, "PPid") {
            children
                .entry(ppid)
                .or_default()
                .push((pid, is_zombie(&status)));
        }
    }
    let mut out = Vec::new();
    let mut queue = vec![root];
    while let Some(p) = queue.pop() {
        for &(child, zombie) in children.get(&p).map(Vec::as_slice).unwrap_or(&[]) {
            if !zombie {
                out.push(child);
            }
            queue.push(child);
        }
    }
    out
}

/// Sends `SIGKILL` to every process `list` gives, again and again until
/// it gives none (a fork can race a round), for half a second at most —
/// but always to what the first look found, however long that took (a
/// system with many processes, a loaded machine).
pub(crate) fn kill_until_gone(list: impl Fn() -> Vec<u32>) {
    let start = Instant::now();
    loop {
        let left = list();
        if left.is_empty() {
            return;
        }
        for pid in left {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
        if start.elapsed() > Duration::from_millis(500) {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields() {
        let text = "Name:\tsh\nState:\tZ (zombie)\nTgid:\t42\nNgid:\t0\nPid:\t43\nPPid:\t7\n";
        assert_eq!(status_field(text, "Tgid"), Some(42));
        assert_eq!(status_field(text, "PPid"), Some(7));
        assert_eq!(status_field(text, "Pid"), Some(43));
        assert_eq!(status_field(text, "TracerPid"), None);
        assert!(is_zombie(text));
        assert!(!is_zombie("State:\tS (sleeping)\n"));
        assert_eq!(tgid_of(std::process::id()), Some(std::process::id()));
    }
}
