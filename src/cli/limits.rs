//! The resource-limit options of `fdbroker run` (`--memory`, `--cpu-time`,
//! `--timeout`, `--max-file-size`, `--max-processes`, `--max-open-files`,
//! `--stats`, `--verbose`): merged over the policy's `[limits]`, handed to
//! the sandbox; and `--cpus`, applied to fdbroker itself before the sandbox
//! starts.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fdbroker::audit::AuditLog;
use fdbroker::limits::{Enforcer, Limits, parse_count, parse_seconds, parse_size};
use fdbroker::sandbox::{EXIT_SETUP, Sandbox};

use super::cpus::{CpuList, parse_cpus};
use super::ending::Ending;

/// The options, flattened into `run`'s.
#[derive(clap::Args, Debug, Default)]
pub struct LimitArgs {
    /// Memory of the whole sandbox, all its processes together (e.g. 256M, 2G).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory: Option<u64>,
    /// CPU time of the sandbox, in seconds (e.g. 10, 1.5, 2m).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub cpu_time: Option<Duration>,
    /// Wall-clock time, then the whole sandbox is killed and fdbroker exits with 124.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub timeout: Option<Duration>,
    /// The largest file the program may write (e.g. 100M).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_file_size: Option<u64>,
    /// Processes and threads of the sandbox at once.
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub max_processes: Option<u64>,
    /// Open descriptors, in each process.
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub max_open_files: Option<u64>,
    /// Run the program and fdbroker's threads on these CPUs only (e.g. 0, 0-3,
    /// 1,3); a limit where a cpuset cgroup can be made, see docs/run.md.
    #[arg(long, value_name = "LIST", value_parser = parse_cpus)]
    pub cpus: Option<CpuList>,
    /// When the run ends, write a JSON report to FILE (`-`: standard error).
    #[arg(long, value_name = "FILE|-")]
    pub stats: Option<PathBuf>,
    /// Say on standard error how each limit is enforced and how the
    /// program's calls reach the broker.
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        Limits {
            memory: self.memory,
            cpu_time: self.cpu_time,
            timeout: self.timeout,
            max_file_size: self.max_file_size,
            max_processes: self.max_processes,
            max_open_files: self.max_open_files,
        }
    }
}

/// Hands `sandbox` the limits in force — the policy's, each replaced by
/// the command line's where given — with hits recorded in `audit`.
/// `Err(status)` when they cannot be enforced (the message is printed).
pub fn apply(
    sandbox: Sandbox,
    args: &LimitArgs,
    policy: &Limits,
    audit: Option<Arc<AuditLog>>,
) -> Result<(Sandbox, Ending), u8> {
    if let Some(cpus) = &args.cpus
        && let Err(msg) = cpus.apply()
    {
        eprintln!("fdbroker: {msg}");
        return Err(EXIT_SETUP);
    }
    let limits = policy.overridden_by(args.limits());
    let mut enforcer = match Enforcer::prepare(&limits, args.stats.is_some()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("fdbroker: {e}");
            return Err(EXIT_SETUP);
        }
    };
    if let Some(cpus) = &args.cpus {
        let placement = enforcer.cpuset(&cpus.to_string());
        if args.verbose {
            eprintln!("fdbroker: {}", cpus.describe(&placement));
        }
    }
    if args.verbose {
        eprintln!("fdbroker: {}", enforcer.describe());
    }
    if let Some(log) = audit {
        enforcer = enforcer.audit(log);
    }
    let ending = Ending::new(enforcer.handle(), args.stats.clone());
    Ok((sandbox.limits(enforcer).verbose(args.verbose), ending))
}
