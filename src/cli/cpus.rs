//! `fdbroker run --cpus LIST`: the CPUs the program and fdbroker's own
//! threads run on. fdbroker sets its affinity before it starts the sandbox,
//! so every thread it starts and every process of the sandbox inherits the
//! set; where it can make a cpuset cgroup for the sandbox
//! ([`fdbroker::limits::Enforcer::cpuset`]) that holds the program to the
//! set, otherwise the program may set its own affinity (`sched_setaffinity`
//! on itself is allowed) to any CPU of its cpuset (docs/run.md, "CPUs").

use fdbroker::limits::CpuPlacement;
use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::unistd::Pid;

/// A parsed `--cpus` list: CPU numbers, ascending, without repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuList(Vec<usize>);

/// Parses `0`, `0-3`, `1,3`, `0-1,6-7`: what `taskset -c` and the kernel's
/// `cpus_allowed_list` accept (without strides).
pub fn parse_cpus(text: &str) -> Result<CpuList, String> {
    let limit = CpuSet::count();
    let number = |s: &str| -> Result<usize, String> {
        let s = s.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "{text:?}: expected CPU numbers and ranges, as in 0, 0-3 or 1,3"
            ));
        }
        match s.parse::<usize>() {
            Ok(n) if n < limit => Ok(n),
            _ => Err(format!(
                "{text:?}: CPU {s} is out of range (0-{})",
                limit - 1
            )),
        }
    };
    let mut cpus = Vec::new();
    for part in text.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (number(a)?, number(b)?);
                if a > b {
                    return Err(format!("{text:?}: the range {a}-{b} is backwards"));
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(number(part)?),
        }
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(CpuList(cpus))
}

impl std::fmt::Display for CpuList {
    /// The list in the kernel's form: `0-3,6`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        let mut i = 0;
        while i < self.0.len() {
            let start = self.0[i];
            let mut end = start;
            while i + 1 < self.0.len() && self.0[i + 1] == end + 1 {
                i += 1;
                end += 1;
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if start == end {
                write!(f, "{start}")?;
            } else {
                write!(f, "{start}-{end}")?;
            }
            i += 1;
        }
        Ok(())
    }
}

impl CpuList {
    /// Confines the calling thread — fdbroker's main thread, before it starts
    /// any other or the sandbox — to these CPUs, or says why it cannot.
    pub fn apply(&self) -> Result<(), String> {
        let mut set = CpuSet::new();
        for &cpu in &self.0 {
            set.set(cpu).map_err(|e| format!("--cpus {self}: {e}"))?;
        }
        sched_setaffinity(Pid::from_raw(0), &set).map_err(|e| {
            let available = sched_getaffinity(Pid::from_raw(0))
                .map(|now| {
                    let list: Vec<usize> = (0..CpuSet::count())
                        .filter(|&c| now.is_set(c).unwrap_or(false))
                        .collect();
                    format!("; fdbroker may use CPUs {}", CpuList(list))
                })
                .unwrap_or_default();
            match e {
                nix::errno::Errno::EINVAL => {
                    format!("--cpus {self}: none of these CPUs is available{available}")
                }
                e => format!("--cpus {self}: sched_setaffinity: {e}"),
            }
        })
    }

    /// The `--verbose` line, for the way the sandbox is held to the CPUs.
    pub fn describe(&self, placement: &CpuPlacement) -> String {
        match placement {
            CpuPlacement::Cgroup { version } => format!(
                "cpus {self}: sched_setaffinity of fdbroker and the program, and a cgroup \
                 v{version} cpuset (a limit: the program cannot leave these CPUs)"
            ),
            CpuPlacement::Affinity { reason } => format!(
                "cpus {self}: sched_setaffinity of fdbroker and the program (a placement: \
                 the program may move itself to other CPUs of its cpuset; no cpuset cgroup: \
                 {reason})"
            ),
            other => format!("cpus {self}: {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_and_print_in_the_kernel_form() {
        for (text, cpus, shown) in [
            ("0", vec![0], "0"),
            ("0-3", vec![0, 1, 2, 3], "0-3"),
            ("1,3", vec![1, 3], "1,3"),
            ("3,1,1-2", vec![1, 2, 3], "1-3"),
            ("0-1,6-7", vec![0, 1, 6, 7], "0-1,6-7"),
        ] {
            let list = parse_cpus(text).unwrap();
            assert_eq!(list, CpuList(cpus), "{text}");
            assert_eq!(list.to_string(), shown, "{text}");
        }
    }

    #[test]
    fn bad_lists_are_refused_with_the_reason() {
        for (text, says) in [
            ("", "expected CPU numbers"),
            ("a", "expected CPU numbers"),
            ("1,", "expected CPU numbers"),
            ("-1", "expected CPU numbers"),
            ("1-", "expected CPU numbers"),
            ("+1", "expected CPU numbers"),
            ("3-1", "backwards"),
            ("99999", "out of range"),
            ("0-99999999999999999999", "out of range"),
        ] {
            let e = parse_cpus(text).unwrap_err();
            assert!(e.contains(says), "{text:?}: {e}");
        }
    }
}
