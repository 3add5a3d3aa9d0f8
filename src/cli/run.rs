//! `fdbroker run --policy POLICY [--audit-log FILE] [--user NAME|UID] -- PROGRAM [ARGS...]`:
//! run an unmodified program with every path it touches brokered.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use fdbroker::audit::AuditLog;
use fdbroker::policy::Policy;
use fdbroker::sandbox::{EXIT_SETUP, Sandbox};

/// Run PROGRAM confined: every open, stat, access and readlink it (or any
/// process it starts) makes is judged by the policy and carried out by
/// fdbroker.
#[derive(clap::Args)]
#[command(after_help = "\
The program cannot open, stat, access or read the link of any path itself:
its calls stop in the kernel (seccomp user notification) and fdbroker does
them on its behalf when the policy allows, so a denied file fails with
EACCES (\"Permission denied\"). Landlock lets it execute only the program,
its interpreter and what the policy grants `exec`. When fdbroker runs as
root the program runs as --user (default: nobody). The environment is passed
through, plus FDBROKER_FD (the socketpair for the explicit protocol).
See docs/run.md and docs/syscalls.md.

Exit status: the program's, or 128+N when signal N killed it; 125 when
fdbroker itself fails (bad policy, missing kernel feature, setup error);
126 when PROGRAM cannot be executed; 127 when it is not found.")]
pub struct Args {
    /// The policy file.
    #[arg(long, value_name = "POLICY")]
    pub policy: PathBuf,
    /// Append one JSON line per decision to FILE (`-` for standard error).
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// When run as root, the user to run PROGRAM as (name or uid; default `nobody`).
    #[arg(long, value_name = "NAME|UID")]
    pub user: Option<String>,
    /// The program and its arguments (after `--`).
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "PROGRAM"
    )]
    pub command: Vec<OsString>,
}

/// Runs the program; the status is its exit status (see the command's help).
/// Errors are printed here and become status 125, 126 or 127, never the
/// generic error status of other subcommands.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let fail = |msg: String, code: u8| {
        eprintln!("fdbroker: {msg}");
        Ok(ExitCode::from(code))
    };
    let policy = match Policy::from_file(&args.policy) {
        Ok(p) => p,
        Err(e) => return fail(e.to_string(), EXIT_SETUP),
    };
    let Some((program, rest)) = args.command.split_first() else {
        return fail("no PROGRAM given".into(), EXIT_SETUP);
    };
    let mut sandbox = Sandbox::new(policy, program.clone(), rest.iter().cloned());
    if let Some(user) = &args.user {
        sandbox = sandbox.user(user.clone());
    }
    if let Some(path) = &args.audit_log {
        match AuditLog::open(path) {
            Ok(log) => sandbox = sandbox.audit(Arc::new(log)),
            Err(e) => return fail(format!("--audit-log {}: {e}", path.display()), EXIT_SETUP),
        }
    }
    match sandbox.run() {
        Ok(status) => Ok(ExitCode::from(status.exit_code())),
        Err(e) => fail(e.to_string(), e.exit_code()),
    }
}
