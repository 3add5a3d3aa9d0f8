//! `fdbroker run [--policy POLICY]... [--profile NAME]... [--read PATH]...
//! [--write PATH]... [--audit-log FILE] [--user NAME|UID] [--quiet]
//! [--keep-env NAME]... [--setenv NAME=VALUE]... [--no-tty] [LIMITS] -- PROGRAM [ARGS...]`:
//! run an unmodified program with every path it touches brokered, in a
//! private temporary directory of its own (its `TMPDIR` and `HOME`); with
//! `--learn OUT.toml`, record what it uses and write a policy for it. The
//! resource limits (LIMITS) and `--stats` are in [`super::limits`]; how the
//! run's status is decided (limit hits, `--fail-on-denial`) in
//! [`super::ending`].

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use fdbroker::audit::AuditLog;
use fdbroker::event::Event;
use fdbroker::learn::{Denials, LEARN_BUDGET, Learner, PolicyWriter, include_entry};
use fdbroker::limits::Limits;
use fdbroker::policy::{NamePattern, Policy, PolicyVars, Sources};
use fdbroker::sandbox::{EXIT_SETUP, PrivateTmp, Sandbox, Status, parse_setenv};

use super::ending::Ending;
use super::grants::GrantArgs;
use super::limits::LimitArgs;

/// Run PROGRAM confined: every open, stat, access and readlink it (or any
/// process it starts) makes is judged by the policy and carried out by
/// fdbroker.
#[derive(clap::Args)]
#[command(after_help = "\
The program cannot open, stat, access or read the link of any path itself:
its calls stop in the kernel (seccomp user notification) and fdbroker does
them on its behalf when the policy allows. A path the policy does not let
it even stat looks absent: ENOENT (\"No such file or directory\"), whether
it exists or not, for execve and chdir too; a file it may see but not use
as asked fails with EACCES (\"Permission denied\"). Landlock lets it
execute only the program, its interpreter and what the policy grants
`exec`. When fdbroker runs as root the program runs as --user (default:
nobody).

Grants: --read PATH and --write PATH let the program read (--write: also
write, create and remove) PATH and everything beneath it, with fdbroker's
credentials, on top of the --policy files and --profile NAMEs (`fdbroker
profiles` lists them); decisions they make read `allowed by --write PATH`.
PATH is resolved when the run starts (relative to the working directory);
a --read PATH must exist, a --write PATH or its directory. At least one of
--policy, --profile, --read, --write or --learn is needed.

Temporary directory: every run gets a new, empty directory of its own,
fdbroker-run.XXXXXX in fdbroker's $TMPDIR (default /tmp), mode 0700, owned
by the program's user and granted like --write. It is the program's TMPDIR
and HOME, and it is removed with everything in it when the run ends, however
it ends (unless fdbroker itself is killed with SIGKILL).

Environment: the program does not get fdbroker's (credentials, tokens and
agent sockets stay out), only PATH, LANG, LANGUAGE, LC_*, TZ and TERM from
it, HOME and TMPDIR (the run's temporary directory), and FDBROKER_FD (the
socketpair for the explicit protocol). Pass more with --keep-env NAME (globs: 'PYTHON*'; '*'
passes everything), set one with --setenv NAME=VALUE, or use the policy's
[env] table; the command line wins over the policy, --setenv over all.

Terminal: the program cannot change the terminal's line discipline, size
or controlling terminal; the modes and foreground process group it changes
are put back when fdbroker ends. --no-tty gives it no terminal at all.
The first time each path and right is denied, a line starting with
`fdbroker: denied` says why and which [[allow]] entry would allow it
(--quiet: no such lines).

Learn mode (--learn OUT.toml): the program runs as confined as usual, but
every file request is allowed (except writes outside --learn-writable
directories and --write grants, another process's /proc, raw memory and
block devices, and what a deny rule of --policy BASE denies) and recorded,
and it may execute any program (still confined). OUT.toml then allows
exactly what was used beyond the runtime profile, the --profile NAMEs, the
--policy BASE files (which it includes), the --read and --write grants and
the temporary directory; run it with the same kind of grants. Review it:
see docs/learn.md.
See docs/run.md and docs/syscalls.md.

Limits (options, or the policy's [limits] table; the options win): where
fdbroker can create a cgroup beneath its own (root; a delegated cgroup v2
subtree), --memory is the cgroup's memory limit and --max-processes its
pids.max, for all the sandbox's processes together, and fdbroker stops the
sandbox when its cgroup's CPU time reaches --cpu-time. Otherwise they are
rlimits of each process: RLIMIT_AS (address space), RLIMIT_CPU (whole
seconds), RLIMIT_NPROC in a user namespace of the sandbox's own.
--max-file-size is RLIMIT_FSIZE and --max-open-files RLIMIT_NOFILE (per
process), --timeout fdbroker's clock: SIGTERM to every process, SIGKILL 1 s
later. --verbose says which mechanism enforces each limit; a limit that
cannot be enforced at all is an error (125). Limits never apply to fdbroker
itself; core dumps are always off. When fdbroker sees a limit hit it stops
the whole sandbox and prints `fdbroker: PROGRAM exceeded --memory 256M;
killed`.

CPUs: --cpus LIST (0, 0-3, 1,3) runs the program and fdbroker's threads
on those CPUs only (sched_setaffinity of fdbroker before it starts the
sandbox, inherited by all). Where fdbroker can make a cgroup v1 cpuset for
the sandbox (root) it is a limit the program cannot leave; otherwise a
placement: the program may move itself to any CPU of its cpuset.
--verbose says which. Where the kernel cannot wake fdbroker on the
calling thread's CPU (before Linux 6.6; --verbose says), --cpus N (one
CPU) is often the fastest setting on a virtual machine for a program that
makes many calls; where it can, measure before pinning (docs/run.md).

Exit status: the program's, or 128+N when signal N killed it (137 when
fdbroker killed it at a limit); 124 after --timeout; 125 when fdbroker
itself fails (bad policy, missing kernel feature, setup error, a limit that
cannot be enforced, OUT.toml not writable); 126 when PROGRAM cannot be
executed; 127 when it is not found.
With --fail-on-denial: 118 when fdbroker denied any request on a path that
exists (by the policy or a rule no policy lifts, whether the program saw
EACCES or, for a path it may not see, ENOENT: audit records with
\"decision\":\"deny\" and no \"absent\":true; probes of missing paths do
not count), whatever the program's own status was, which is then named on
stderr; a limit hit (124, 137...) and 125, 126, 127 take precedence.")]
#[command(group(
    clap::ArgGroup::new("what")
        .args(["policy", "profile", "read", "write", "learn"])
        .multiple(true)
        .required(true)
))]
pub struct Args {
    /// A policy file (with --learn: a base policy, included by the learned
    /// one). Repeat for several: their rules, limits and [env] combine.
    #[arg(long, value_name = "POLICY")]
    pub policy: Vec<PathBuf>,
    /// `--profile`, `--read` and `--write`.
    #[command(flatten)]
    pub grants: GrantArgs,
    /// Learn mode: allow and record every file request, then write a policy
    /// allowing exactly that to OUT.toml.
    #[arg(long, value_name = "OUT.toml")]
    pub learn: Option<PathBuf>,
    /// With --learn: a directory (or file) the program may write and create
    /// in, and whose writes are learned, file by file (--write grants
    /// without learning). Repeat for several.
    #[arg(long, value_name = "DIR", requires = "learn")]
    pub learn_writable: Vec<PathBuf>,
    /// Do not explain denials (or learn-mode refusals) on standard error.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Append one JSON line per decision to FILE (`-` for standard error).
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// When run as root, the user to run PROGRAM as (name or uid; default `nobody`).
    #[arg(long, value_name = "NAME|UID")]
    pub user: Option<String>,
    /// Resource limits, `--stats` and `--verbose`.
    #[command(flatten)]
    pub limits: LimitArgs,
    /// The program and its arguments (after `--`).
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "PROGRAM"
    )]
    pub command: Vec<OsString>,
    /// End with status 118 when any request was denied, even if the program
    /// succeeded (for test suites: see docs/testing.md).
    #[arg(long, conflicts_with = "learn")]
    pub fail_on_denial: bool,
    /// Pass the variables of fdbroker's environment whose names match NAME
    /// (a name, or a glob with `*` and `?`). Repeat for several.
    #[arg(long, value_name = "NAME", value_parser = parse_keep)]
    pub keep_env: Vec<NamePattern>,
    /// Set NAME to VALUE in the program's environment. Repeat for several.
    #[arg(long, value_name = "NAME=VALUE", value_parser = SetenvParser)]
    pub setenv: Vec<(String, OsString)>,
    /// Give the program no terminal: a session of its own, standard input
    /// from /dev/null and its output copied to the terminal through pipes,
    /// for each standard descriptor that is a terminal.
    #[arg(long)]
    pub no_tty: bool,
}

fn parse_keep(s: &str) -> Result<NamePattern, String> {
    NamePattern::parse(s).map_err(|e| e.to_string())
}

/// `--setenv NAME=VALUE`, where VALUE may be any bytes.
#[derive(Clone)]
struct SetenvParser;

impl clap::builder::TypedValueParser for SetenvParser {
    type Value = (String, OsString);

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Self::Value, clap::Error> {
        parse_setenv(value).map_err(|e| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("invalid value for --setenv: {e}\n"),
            )
            .with_cmd(cmd)
        })
    }
}

fn fail(msg: String, code: u8) -> anyhow::Result<ExitCode> {
    eprintln!("fdbroker: {msg}");
    Ok(ExitCode::from(code))
}

/// Runs the program; the status is its exit status (see the command's help).
/// Errors are printed here and become status 125, 126 or 127, never the
/// generic error status of other subcommands.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let Some((program, rest)) = args.command.split_first() else {
        return fail("no PROGRAM given".into(), EXIT_SETUP);
    };
    if let Some(out) = &args.learn {
        return learn(args, out, program, rest);
    }
    let (policy, tmp, _) = match compose(args, Sources::new()) {
        Ok(p) => p,
        Err(msg) => return fail(msg, EXIT_SETUP),
    };
    let policy_limits = *policy.limits();
    // The policy judges, the observers below only write and count: the
    // receivers may keep the program's credentials between its calls.
    let mut sandbox = Sandbox::new(policy, program.clone(), rest.iter().cloned())
        .private_tmp(tmp)
        .keep_program_credentials(true);
    if !args.quiet {
        let denials = Arc::new(Denials::to_stderr());
        sandbox = sandbox.observer(Arc::new(move |e: &Event<'_>| denials.observe(e)));
    }
    let (sandbox, ending) = match common(sandbox, args, &policy_limits) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let (sandbox, ending) = if args.fail_on_denial {
        ending.fail_on_denial(sandbox, args.quiet)
    } else {
        (sandbox, ending)
    };
    let (_, code) = run_to_end(sandbox, ending, program);
    Ok(ExitCode::from(code))
}

/// The run's private temporary directory, the policy of `sources`
/// (learn mode's base) with the `--policy` files, `--profile`s, `--read` and
/// `--write` grants and that directory, and the values of its pattern
/// variables. An error is a message to print.
fn compose(args: &Args, mut sources: Sources) -> Result<(Policy, PrivateTmp, PolicyVars), String> {
    for file in &args.policy {
        sources = sources.file(file);
    }
    sources = args.grants.add_to(sources)?;
    let tmp = PrivateTmp::create().map_err(|e| e.to_string())?;
    let vars = run_vars(args, tmp.path());
    let sources = sources
        .private_tmp(tmp.path())
        .map_err(|e| e.to_string())?
        .vars(vars.clone());
    let policy = Policy::compose(&sources).map_err(|e| e.to_string())?;
    Ok((policy, tmp, vars))
}

/// `--user`, `--audit-log`, `--keep-env`, `--setenv`, `--no-tty` and the
/// limits.
fn common(
    mut sandbox: Sandbox,
    args: &Args,
    policy_limits: &Limits,
) -> Result<(Sandbox, Ending), ExitCode> {
    if let Some(user) = &args.user {
        sandbox = sandbox.user(user.clone());
    }
    for pattern in &args.keep_env {
        sandbox = sandbox.keep_env(pattern.clone());
    }
    for (name, value) in &args.setenv {
        sandbox = sandbox.setenv(name.clone(), value.clone());
    }
    sandbox = sandbox.no_tty(args.no_tty);
    let mut audit = None;
    if let Some(path) = &args.audit_log {
        match AuditLog::open(path) {
            Ok(log) => {
                let log = Arc::new(log);
                sandbox = sandbox.audit(Arc::clone(&log));
                audit = Some(log);
            }
            Err(e) => {
                eprintln!("fdbroker: --audit-log {}: {e}", path.display());
                return Err(ExitCode::from(EXIT_SETUP));
            }
        }
    }
    super::limits::apply(sandbox, &args.limits, policy_limits, audit).map_err(ExitCode::from)
}

/// Runs the sandbox; prints fdbroker's error or the line of a limit hit,
/// writes `--stats`. The program's status, and fdbroker's exit status.
fn run_to_end(sandbox: Sandbox, ending: Ending, program: &OsString) -> (Option<Status>, u8) {
    let result = sandbox.run();
    if let Err(e) = &result {
        eprintln!("fdbroker: {e}");
    }
    let status = result.as_ref().ok().copied();
    let outcome = result.map_err(|e| e.exit_code());
    (status, ending.finish(program, outcome))
}

/// The values of the policy's `${HOME}`, `${TMPDIR}` and `${CWD}` in this
/// run: the program's `HOME` and `TMPDIR` (`--setenv`, else fdbroker's own
/// when `--keep-env` passes it, else the run's private directory `tmp`)
/// and the working directory it starts in, fdbroker's. The policy's
/// `[env]` is not looked at: the variables are settled before it is read
/// (docs/policy.md).
fn run_vars(args: &Args, tmp: &Path) -> PolicyVars {
    let value = |name: &str| -> PathBuf {
        if let Some((_, v)) = args.setenv.iter().rev().find(|(n, _)| n == name) {
            return PathBuf::from(v);
        }
        if args.keep_env.iter().any(|p| p.matches(name.as_bytes()))
            && let Some(v) = std::env::var_os(name)
        {
            return PathBuf::from(v);
        }
        tmp.to_path_buf()
    };
    let mut vars = PolicyVars::none()
        .home(value("HOME"))
        .tmpdir(value("TMPDIR"));
    if let Ok(cwd) = std::env::current_dir() {
        vars = vars.cwd(cwd);
    }
    vars.source("this run's HOME, TMPDIR and working directory")
}

/// `run --learn OUT`: run with a [`Learner`] as judge, then write OUT.
fn learn(
    args: &Args,
    out: &Path,
    program: &OsString,
    rest: &[OsString],
) -> anyhow::Result<ExitCode> {
    // Refuse before running anything when OUT cannot be written.
    let out_dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !out_dir.is_dir() {
        return fail(
            format!(
                "--learn {}: no such directory {}",
                out.display(),
                out_dir.display()
            ),
            EXIT_SETUP,
        );
    }
    for base in &args.policy {
        if let (Ok(a), Ok(b)) = (std::fs::canonicalize(base), std::fs::canonicalize(out))
            && a == b
        {
            return fail(
                format!(
                    "--learn {}: would overwrite the --policy file",
                    out.display()
                ),
                EXIT_SETUP,
            );
        }
    }
    let implicit = fdbroker::sandbox::program_and_interpreters(program).unwrap_or_default();
    // What the base allows (the runtime profile, the --policy files, the
    // profiles and the grants) is allowed and not learned.
    let (base, tmp, vars) = match compose(args, Sources::new().profile("runtime")) {
        Ok(p) => p,
        Err(msg) => return fail(msg, EXIT_SETUP),
    };
    let learner = match Learner::with_base(base, &args.learn_writable, implicit) {
        Ok(l) if args.quiet => Arc::new(l),
        Ok(l) => Arc::new(l.notices(Box::new(std::io::stderr()))),
        Err(e) => return fail(e.to_string(), EXIT_SETUP),
    };
    let mut sandbox = Sandbox::new(
        learner.base().clone(),
        program.clone(),
        rest.iter().cloned(),
    )
    .private_tmp(tmp)
    .judge(Arc::clone(&learner) as Arc<dyn fdbroker::policy::Judge>)
    // Any program may run while learning (still confined: the filters,
    // Landlock and no_new_privs are inherited); the executions seen are
    // learned.
    .allow_exec("/");
    let l = Arc::clone(&learner);
    sandbox = sandbox.observer(Arc::new(move |e: &Event<'_>| l.observe(e)));
    if !args.quiet {
        let denials = Arc::new(Denials::to_stderr().with_learner(Arc::clone(&learner)));
        sandbox = sandbox.observer(Arc::new(move |e: &Event<'_>| denials.observe(e)));
    }
    let base_limits = *learner.base().limits();
    let (sandbox, ending) = match common(sandbox, args, &base_limits) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let (status, code) = run_to_end(sandbox, ending, program);
    let Some(status) = status else {
        return Ok(ExitCode::from(code));
    };

    let mut writer = PolicyWriter::new().vars(&vars).header(format!(
        "Learned by `fdbroker run --learn` from: {}",
        command_line(program, rest)
    ));
    writer = writer.header(
        "Every rule is something the program used in that run; review before use (docs/learn.md).",
    );
    let incomplete = learner.incomplete();
    if incomplete {
        writer = writer.header(format!(
            "INCOMPLETE: the record of this run reached its limit ({} MiB); what the program used after that is missing.",
            LEARN_BUDGET >> 20
        ));
    }
    for base in &args.policy {
        writer = writer.include(include_entry(base, out));
    }
    for name in &args.grants.profile {
        writer = writer.profile(name);
    }
    // The record is given back once the rules are made, the rules once the
    // text is: the memory bound of learn mode (docs/learn.md).
    let learned = learner.learned(&writer);
    learner.forget();
    let rules = learned.rules.len();
    let text = writer.render(&learned);
    drop(learned);
    if let Err(e) = write_atomically(out, &text) {
        return fail(format!("--learn {}: {e}", out.display()), EXIT_SETUP);
    }
    // The writer's output must always be a valid policy (read with this
    // run's variables: fdbroker's own need not have a HOME); say so if not.
    if let Err(e) = Policy::parse_with(&text, out, &vars) {
        return fail(
            format!("the learned policy is invalid (a bug in fdbroker): {e}"),
            EXIT_SETUP,
        );
    }
    drop(text);
    if !args.quiet {
        let (requests, refused) = learner.counts();
        let mut msg = format!(
            "fdbroker: learned {rules} rule{} from {requests} request{} into {}",
            if rules == 1 { "" } else { "s" },
            if requests == 1 { "" } else { "s" },
            out.display()
        );
        if refused > 0 {
            msg.push_str(&format!("; {refused} refused (not learned)"));
        }
        if incomplete {
            msg.push_str("; INCOMPLETE: the record reached its limit");
        }
        if status != Status::Exited(0) {
            msg.push_str(&format!(
                "; the program ended with status {}, so the policy may be incomplete",
                status.exit_code()
            ));
        }
        eprintln!("{msg}");
    }
    Ok(ExitCode::from(code))
}

/// The command line, for the learned policy's header.
fn command_line(program: &OsString, rest: &[OsString]) -> String {
    std::iter::once(program)
        .chain(rest)
        .map(|a| {
            let s = a.to_string_lossy();
            if !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/._-=+,:@%".contains(c))
            {
                s.into_owned()
            } else {
                format!("'{}'", s.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes `text` to a temporary file beside `path` and renames it over
/// `path`, so that a reader never sees half a policy.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "policy.toml".into());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
