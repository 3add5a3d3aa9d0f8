//! Resource limits of `fdbroker run`: how much memory, CPU time, wall-clock
//! time, file size, processes and open files the program's sandbox may use,
//! and the report of what it used.
//!
//! [`Limits`] is the set of values, from the command line or a policy's
//! `[limits]` table (includes and profiles merge with [`Limits::stricter`],
//! the command line wins with [`Limits::overridden_by`]). [`Enforcer`]
//! chooses a mechanism for each limit on this system — a cgroup nested under
//! fdbroker's own, an rlimit set in the child, fdbroker's clock — applies it
//! to the sandbox and never to fdbroker itself, stops the whole sandbox when
//! it sees a limit hit, and leaves a [`Report`] (`--stats`). See
//! `docs/run.md`, "Resource limits".
//!
//! ```
//! use std::time::Duration;
//! use fdbroker::limits::{Limit, Limits};
//!
//! let policy = Limits { memory: Some(512 << 20), timeout: Some(Duration::from_secs(60)), ..Limits::default() };
//! let include = Limits { memory: Some(256 << 20), ..Limits::default() };
//! let merged = policy.stricter(include);
//! assert_eq!(merged.memory, Some(256 << 20));
//!
//! let command_line = Limits { timeout: Some(Duration::from_secs(600)), ..Limits::default() };
//! let effective = merged.overridden_by(command_line);
//! assert_eq!(effective.to_string(), "memory 256M, timeout 600s");
//! assert_eq!(Limit::Memory.option(), "--memory");
//! ```

mod cgroup;
mod enforce;
mod procs;
mod rlimit;
mod stats;
mod value;

use std::fmt;
use std::time::Duration;

pub use enforce::{CpuPlacement, Enforcer, LimitError, Mechanism, TIMEOUT_GRACE};
pub(crate) use rlimit::ChildLimits;
pub use stats::{Hit, Report, RunHandle};
pub use value::{ValueError, format_seconds, format_size, parse_count, parse_seconds, parse_size};

/// fdbroker's exit status when `--timeout` stopped the program, as timeout(1).
pub const EXIT_TIMEOUT: u8 = 124;

/// One kind of limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Limit {
    /// `--memory`: the sandbox's memory, all its processes together.
    Memory,
    /// `--cpu-time`: CPU time.
    CpuTime,
    /// `--timeout`: wall-clock time.
    Timeout,
    /// `--max-file-size`: the largest file the program may write.
    MaxFileSize,
    /// `--max-processes`: processes and threads of the sandbox at once.
    MaxProcesses,
    /// `--max-open-files`: open descriptors.
    MaxOpenFiles,
}

/// What a limit's value measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// Bytes ([`parse_size`]).
    Size,
    /// A duration ([`parse_seconds`]).
    Seconds,
    /// A number ([`parse_count`]).
    Count,
}

impl Limit {
    /// Every limit, in the order reports list them.
    pub const ALL: [Limit; 6] = [
        Limit::Memory,
        Limit::CpuTime,
        Limit::Timeout,
        Limit::MaxFileSize,
        Limit::MaxProcesses,
        Limit::MaxOpenFiles,
    ];

    /// The policy key and `--stats` name: `memory`, `cpu_time`, ...
    pub fn key(self) -> &'static str {
        match self {
            Limit::Memory => "memory",
            Limit::CpuTime => "cpu_time",
            Limit::Timeout => "timeout",
            Limit::MaxFileSize => "max_file_size",
            Limit::MaxProcesses => "max_processes",
            Limit::MaxOpenFiles => "max_open_files",
        }
    }

    /// The command-line option: `--memory`, `--cpu-time`, ...
    pub fn option(self) -> &'static str {
        match self {
            Limit::Memory => "--memory",
            Limit::CpuTime => "--cpu-time",
            Limit::Timeout => "--timeout",
            Limit::MaxFileSize => "--max-file-size",
            Limit::MaxProcesses => "--max-processes",
            Limit::MaxOpenFiles => "--max-open-files",
        }
    }

    /// The limit whose policy key is `key`.
    pub fn from_key(key: &str) -> Option<Limit> {
        Limit::ALL.into_iter().find(|l| l.key() == key)
    }

    /// What its value measures.
    pub fn kind(self) -> Kind {
        match self {
            Limit::Memory | Limit::MaxFileSize => Kind::Size,
            Limit::CpuTime | Limit::Timeout => Kind::Seconds,
            Limit::MaxProcesses | Limit::MaxOpenFiles => Kind::Count,
        }
    }

    /// Parses `text` as this limit's value.
    pub fn parse(self, text: &str) -> Result<Amount, ValueError> {
        Ok(match self.kind() {
            Kind::Size => Amount::Bytes(parse_size(text)?),
            Kind::Seconds => Amount::Time(parse_seconds(text)?),
            Kind::Count => Amount::Count(parse_count(text)?),
        })
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// A limit's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Amount {
    /// A size in bytes.
    Bytes(u64),
    /// A duration.
    Time(Duration),
    /// A number of processes or descriptors.
    Count(u64),
}

impl Amount {
    /// The number in it: bytes, a count, or whole seconds of a duration.
    pub(crate) fn number(self) -> u64 {
        match self {
            Amount::Bytes(n) | Amount::Count(n) => n,
            Amount::Time(d) => d.as_secs(),
        }
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Amount::Bytes(n) => f.write_str(&format_size(*n)),
            Amount::Time(d) => f.write_str(&format_seconds(*d)),
            Amount::Count(n) => write!(f, "{n}"),
        }
    }
}

/// The limits of one run; `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of memory, all the sandbox's processes together.
    pub memory: Option<u64>,
    /// CPU time.
    pub cpu_time: Option<Duration>,
    /// Wall-clock time.
    pub timeout: Option<Duration>,
    /// The largest file the program may write, in bytes.
    pub max_file_size: Option<u64>,
    /// Processes and threads at once.
    pub max_processes: Option<u64>,
    /// Open descriptors.
    pub max_open_files: Option<u64>,
}

impl Limits {
    /// The value of `limit`, if set.
    pub fn get(&self, limit: Limit) -> Option<Amount> {
        match limit {
            Limit::Memory => self.memory.map(Amount::Bytes),
            Limit::CpuTime => self.cpu_time.map(Amount::Time),
            Limit::Timeout => self.timeout.map(Amount::Time),
            Limit::MaxFileSize => self.max_file_size.map(Amount::Bytes),
            Limit::MaxProcesses => self.max_processes.map(Amount::Count),
            Limit::MaxOpenFiles => self.max_open_files.map(Amount::Count),
        }
    }

    /// Sets `limit` to `amount`; an amount of another kind than the
    /// limit's ([`Limit::parse`] never gives one) leaves it unchanged.
    pub fn set(&mut self, limit: Limit, amount: Amount) {
        match (limit, amount) {
            (Limit::Memory, Amount::Bytes(n)) => self.memory = Some(n),
            (Limit::CpuTime, Amount::Time(d)) => self.cpu_time = Some(d),
            (Limit::Timeout, Amount::Time(d)) => self.timeout = Some(d),
            (Limit::MaxFileSize, Amount::Bytes(n)) => self.max_file_size = Some(n),
            (Limit::MaxProcesses, Amount::Count(n)) => self.max_processes = Some(n),
            (Limit::MaxOpenFiles, Amount::Count(n)) => self.max_open_files = Some(n),
            _ => {}
        }
    }

    /// The set limits with their values, in [`Limit::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Limit, Amount)> + '_ {
        Limit::ALL
            .into_iter()
            .filter_map(|l| self.get(l).map(|a| (l, a)))
    }

    /// Whether no limit is set.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// Each limit set in either, the smaller value where both set it: how
    /// a policy's includes and profiles combine.
    #[must_use]
    pub fn stricter(self, other: Limits) -> Limits {
        fn min<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
            match (a, b) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        }
        Limits {
            memory: min(self.memory, other.memory),
            cpu_time: min(self.cpu_time, other.cpu_time),
            timeout: min(self.timeout, other.timeout),
            max_file_size: min(self.max_file_size, other.max_file_size),
            max_processes: min(self.max_processes, other.max_processes),
            max_open_files: min(self.max_open_files, other.max_open_files),
        }
    }

    /// These limits with every one `other` sets replaced by its value,
    /// stricter or not: how the command line overrides the policy.
    #[must_use]
    pub fn overridden_by(self, other: Limits) -> Limits {
        Limits {
            memory: other.memory.or(self.memory),
            cpu_time: other.cpu_time.or(self.cpu_time),
            timeout: other.timeout.or(self.timeout),
            max_file_size: other.max_file_size.or(self.max_file_size),
            max_processes: other.max_processes.or(self.max_processes),
            max_open_files: other.max_open_files.or(self.max_open_files),
        }
    }
}

impl fmt::Display for Limits {
    /// `memory 256M, timeout 30s`, or `none`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        for (i, (limit, amount)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{limit} {amount}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_options_and_kinds() {
        for l in Limit::ALL {
            assert_eq!(Limit::from_key(l.key()), Some(l));
            assert_eq!(l.option(), format!("--{}", l.key().replace('_', "-")));
        }
        assert_eq!(Limit::from_key("memory_max"), None);
        assert_eq!(Limit::Memory.parse("2G"), Ok(Amount::Bytes(2 << 30)));
        assert_eq!(
            Limit::Timeout.parse("1.5"),
            Ok(Amount::Time(Duration::from_millis(1500)))
        );
        assert_eq!(Limit::MaxProcesses.parse("8"), Ok(Amount::Count(8)));
        assert!(Limit::MaxOpenFiles.parse("8M").is_err());
    }

    #[test]
    fn merging_takes_the_stricter_value_and_the_command_line_wins() {
        let s = Duration::from_secs;
        let a = Limits {
            memory: Some(100),
            cpu_time: Some(s(5)),
            max_open_files: Some(64),
            ..Limits::default()
        };
        let b = Limits {
            memory: Some(50),
            cpu_time: Some(s(10)),
            timeout: Some(s(30)),
            ..Limits::default()
        };
        let m = a.stricter(b);
        assert_eq!(m, b.stricter(a));
        assert_eq!(m.memory, Some(50));
        assert_eq!(m.cpu_time, Some(s(5)));
        assert_eq!(m.timeout, Some(s(30)));
        assert_eq!(m.max_open_files, Some(64));
        assert_eq!(m.max_processes, None);
        assert_eq!(m.stricter(Limits::default()), m);

        let cli = Limits {
            memory: Some(1000),
            max_processes: Some(4),
            ..Limits::default()
        };
        let e = m.overridden_by(cli);
        assert_eq!(
            e.memory,
            Some(1000),
            "less strict, but the command line wins"
        );
        assert_eq!(e.max_processes, Some(4));
        assert_eq!(e.cpu_time, Some(s(5)));
        assert_eq!(m.overridden_by(Limits::default()), m);
    }

    #[test]
    fn set_get_and_display() {
        let mut l = Limits::default();
        assert!(l.is_empty());
        assert_eq!(l.to_string(), "none");
        for limit in Limit::ALL {
            let text = match limit.kind() {
                Kind::Size => "64M",
                Kind::Seconds => "2.5",
                Kind::Count => "16",
            };
            let amount = limit.parse(text).unwrap();
            l.set(limit, amount);
            assert_eq!(l.get(limit), Some(amount));
        }
        // A mismatched kind changes nothing.
        l.set(Limit::Memory, Amount::Count(1));
        assert_eq!(l.memory, Some(64 << 20));
        assert_eq!(
            l.to_string(),
            "memory 64M, cpu_time 2.5s, timeout 2.5s, max_file_size 64M, \
             max_processes 16, max_open_files 16"
        );
    }
}
