//! `/proc/<pid>` as the caller means it. In the sandbox's PID namespace
//! (`sandbox::namespaces`) the program's pids are not fdbroker's: its
//! getpid(2) is 2 where fdbroker's `/proc` numbers it 31337, and the
//! notification names the caller in fdbroker's numbering (the PID
//! namespace of the thread that receives it, seccomp_unotify(2)). So a
//! path the program writes as `/proc/<pid>/...` is translated into
//! fdbroker's numbering before it is judged ([`translate`]): `/proc/2` is
//! the program's own entry again (judged as `/proc/self`), and a number no
//! process of its namespace has becomes `/proc/0`, which exists nowhere,
//! whatever process outside has that number. `readlink("/proc/self")`
//! answers in the caller's numbering ([`self_link`]).
//!
//! Only what the caller wrote is translated: the working directory or
//! descriptor a relative path starts from comes from the kernel, already in
//! fdbroker's numbering.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::procfs::{self, SelfLink, ViaSelf};

/// A task's ids in every PID namespace from fdbroker's down to its own (the
/// `NStgid:` and `NSpid:` lines of its status).
struct Ids {
    tgid: Vec<u32>,
    tid: Vec<u32>,
}

impl Ids {
    fn of(task: &str) -> Option<Ids> {
        let status = std::fs::read(format!("/proc/{task}/status")).ok()?;
        let list = |key| -> Option<Vec<u32>> {
            procfs::status_value(&status, key)?
                .split_ascii_whitespace()
                .map(|n| n.parse().ok())
                .collect()
        };
        Some(Ids {
            tgid: list("NStgid")?,
            tid: list("NSpid")?,
        })
    }

    /// Whether the task is in a PID namespace below fdbroker's.
    fn nested(&self) -> bool {
        self.tgid.len() > 1
    }
}

/// `absolute` (the path `requested` by thread `tid`, made absolute) with a
/// leading `/proc/<pid>` read in the caller's PID namespace and written in
/// fdbroker's. Unchanged when the caller shares fdbroker's namespace, or
/// did not write `/proc/<pid>` itself.
pub(super) fn translate(tid: u32, requested: &Path, absolute: PathBuf) -> PathBuf {
    if !requested.as_os_str().as_bytes().starts_with(b"/") {
        return absolute;
    }
    let Some((digits, rest)) = procfs::split_pid(&absolute) else {
        return absolute;
    };
    let Some(n) = std::str::from_utf8(digits)
        .ok()
        .and_then(|d| d.parse::<u32>().ok())
        .filter(|n| procfs::names_pid(digits, *n))
    else {
        // Not as procfs writes a pid (a leading zero): names nothing there
        // either.
        return absolute;
    };
    // Other processes' /proc files, with the broker's own credentials (a
    // receiver may still hold the program's).
    crate::sys::creds::settle();
    let Some(me) = Ids::of(&tid.to_string()).filter(Ids::nested) else {
        return absolute;
    };
    let ours = find(tid, &me, n).unwrap_or(0);
    let mut out = format!("/proc/{ours}").into_bytes();
    out.extend_from_slice(rest);
    PathBuf::from(OsString::from_vec(out))
}

/// fdbroker's number of the task the caller (`tid`, with ids `me`) calls
/// `n`: itself, its thread, or another task of its PID namespace.
fn find(tid: u32, me: &Ids, n: u32) -> Option<u32> {
    let own = |ids: &[u32]| {
        (ids.last() == Some(&n))
            .then(|| ids.first().copied())
            .flatten()
    };
    if let Some(found) = own(&me.tgid).or_else(|| own(&me.tid)) {
        return Some(found);
    }
    let ns = std::fs::read_link(format!("/proc/{tid}/ns/pid")).ok()?;
    let depth = me.tgid.len();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        if std::fs::read_link(format!("/proc/{pid}/ns/pid"))
            .ok()
            .as_ref()
            != Some(&ns)
        {
            continue;
        }
        let Some(ids) = Ids::of(pid).filter(|i| i.tgid.len() == depth) else {
            continue;
        };
        if let Some(found) = own(&ids.tgid) {
            return Some(found);
        }
        // A thread other than the leader: reachable by number, not listed.
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let t = task.file_name();
            if let Some(found) = t
                .to_str()
                .and_then(|t| Ids::of(&format!("{pid}/task/{t}")))
                .and_then(|ids| own(&ids.tid))
            {
                return Some(found);
            }
        }
    }
    None
}

/// What `readlink(requested)` answers when `requested` is `/proc/self` or
/// `/proc/thread-self` itself and the caller `tid` is in a PID namespace
/// below fdbroker's: its pid there, or `<pid>/task/<tid>`. `None`
/// otherwise (the broker's answer stands).
pub(super) fn self_link(tid: u32, requested: &Path) -> Option<Vec<u8>> {
    let link = ViaSelf::parse(requested)
        .filter(ViaSelf::is_link_itself)?
        .link();
    let me = Ids::of(&tid.to_string()).filter(Ids::nested)?;
    let (pid, tid) = (*me.tgid.last()?, *me.tid.last()?);
    Some(
        match link {
            SelfLink::Process => pid.to_string(),
            SelfLink::Thread => format!("{pid}/task/{tid}"),
        }
        .into_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_a_nested_namespace_nothing_changes() {
        // The test runs in fdbroker's own namespace (as the broker does).
        let me = std::process::id();
        let p = PathBuf::from(format!("/proc/{me}/status"));
        assert_eq!(translate(me, &p, p.clone()), p);
        assert_eq!(self_link(me, Path::new("/proc/self")), None);
        let ids = Ids::of(&me.to_string()).unwrap();
        assert_eq!(ids.tgid.first(), Some(&me));
        assert_eq!(ids.tid.first(), Some(&me));
        assert!(!ids.nested());
        // Relative requests keep the kernel's numbering.
        let rel = PathBuf::from("/proc/1/status");
        assert_eq!(translate(me, Path::new("status"), rel.clone()), rel);
    }
}
