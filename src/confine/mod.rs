//! Self-confinement: what a child calls before it touches untrusted input.
//!
//! [`confine_self`] applies, in this order:
//!
//! 1. `PR_SET_NO_NEW_PRIVS` ([`set_no_new_privs`]);
//! 2. drops every capability — bounding, ambient, inheritable, permitted,
//!    effective — and checks `/proc/thread-self/status` shows them empty
//!    ([`drop_capabilities`]; the bounding set only with `CAP_SETPCAP`,
//!    which an ordinary user lacks);
//! 3. Landlock handling every filesystem right of the kernel's ABI with no
//!    rules, plus the abstract-UNIX-socket and signal scopes
//!    ([`LandlockBuilder`]); anything short of fully enforced is an error;
//! 4. one seccomp filter, [`deny_filter`]: i386 and x32 calls kill the
//!    process (as [`foreign_abi_filter`] does); the open family fails with
//!    `EACCES`; `io_uring_*`, `ptrace`, `process_vm_*`, `pidfd_getfd`, new
//!    seccomp listeners, `TIOCSTI`/`TIOCLINUX`, terminal changes that would
//!    outlive the child (line discipline, controlling terminal, size, ...)
//!    and metadata changes with `EPERM`.
//!
//! Afterwards the only way to a file is a descriptor someone else opened —
//! the broker. Descriptors already open keep working. `docs/confinement.md`
//! lists exactly what is applied, why, and what is left open.
//!
//! The pieces are public so `fdbroker run` can compose its own confinement
//! (exec rules, a user-notification filter stacked before the deny filter,
//! the extra deny list of [`run_deny`]). [`kernel_support`] probes what the
//! kernel offers; [`Missing`] names what it lacks, for `confine_self` and for
//! `fdbroker run` alike.
//! Everything here acts on the calling thread only: call it while the process
//! is single-threaded ([`confine_self`] checks). If it fails part-way the
//! process is partly confined: treat any error as fatal and exit.

mod caps;
mod deny;
mod kernel;
mod landlock;
pub mod run_deny;
mod seccomp;

use std::io;
use std::path::PathBuf;

use nix::errno::Errno;

pub use self::caps::{
    CapSets, CapabilityReport, ProcStatus, cap_last_cap, drop_capabilities,
    drop_capabilities_through, no_new_privs, set_no_new_privs,
};
pub use self::deny::{DenyOptions, DenyRule, SeccompCmpOp, SeccompCondition, Sockets, deny_rules};
pub(crate) use self::kernel::check_for_run;
use self::kernel::landlock_probe;
pub use self::kernel::{KernelSupport, Missing, kernel_support};
pub use self::landlock::{LandlockBuilder, LandlockReport, PreparedLandlock, SCOPES_ABI};
pub use self::seccomp::{chain, deny_filter, foreign_abi_filter, install, install_with_listener};
pub use crate::bpf::{
    AUDIT_ARCH_AARCH64, AUDIT_ARCH_I386, AUDIT_ARCH_RISCV64, AUDIT_ARCH_X86_64, BpfProgram,
    X32_SYSCALL_BIT, native_audit_arch, sock_filter,
};

/// Errors from confinement.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfineError {
    /// The kernel lacks a feature.
    #[error("the kernel lacks {0}")]
    Unsupported(Missing),
    /// More than one thread: the others would stay unconfined.
    #[error(
        "process has {threads} threads; confinement applies to the calling thread only, so confine while single-threaded"
    )]
    MultiThreaded {
        /// Threads in the process.
        threads: u32,
    },
    /// `prctl(PR_SET_NO_NEW_PRIVS)` or `PR_GET_NO_NEW_PRIVS` failed.
    #[error("no_new_privs: {0}")]
    NoNewPrivs(#[source] Errno),
    /// `no_new_privs` is not set after confinement.
    #[error("no_new_privs is not set after confinement")]
    NoNewPrivsNotSet,
    /// A `caps` call failed.
    #[error("dropping capabilities ({step}): {source}")]
    Capabilities {
        /// Which step.
        step: &'static str,
        /// The `caps` error.
        #[source]
        source: ::caps::errors::CapsError,
    },
    /// Reading the capability sets (`capget`, `PR_CAPBSET_READ`,
    /// `PR_CAP_AMBIENT_IS_SET`) failed.
    #[error("reading capabilities ({step}): {source}")]
    CapabilityRead {
        /// Which call.
        step: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The number given as `cap_last_cap` is not the kernel's.
    #[error(
        "dropping capabilities (cap_last_cap): {last} is not the kernel's highest capability number"
    )]
    NotCapLastCap {
        /// The number given.
        last: u32,
    },
    /// `PR_CAPBSET_READ`/`PR_CAPBSET_DROP` failed for a capability number.
    #[error("dropping capability {cap} from the bounding set: {source}")]
    CapabilityDrop {
        /// Capability number.
        cap: u32,
        /// The error.
        source: io::Error,
    },
    /// A capability set is not empty after dropping.
    #[error("capability set {set} is not empty after dropping: {mask:#x}")]
    CapabilitiesRemain {
        /// Set name.
        set: &'static str,
        /// What is left.
        mask: u64,
    },
    /// A line of `/proc/.../status` is missing or could not be parsed.
    #[error("proc status: bad or missing {field} line")]
    ProcStatus {
        /// The field (`Cap*` for any of the capability lines).
        field: &'static str,
        /// Why its value did not parse, when it is there.
        #[source]
        source: Option<std::num::ParseIntError>,
    },
    /// `/proc/sys/kernel/cap_last_cap` is not a number.
    #[error("proc status: /proc/sys/kernel/cap_last_cap: not a number: {text:?}")]
    CapLastCap {
        /// What the file holds.
        text: String,
        /// The parse error.
        #[source]
        source: std::num::ParseIntError,
    },
    /// Reading a `/proc` file failed.
    #[error("{what}: {source}")]
    Io {
        /// The file.
        what: &'static str,
        /// The error.
        source: io::Error,
    },
    /// Building or enforcing the Landlock ruleset failed.
    #[error("Landlock: {0}")]
    Landlock(#[from] ::landlock::RulesetError),
    /// A Landlock rule path could not be opened.
    #[error("Landlock rule for {path:?}: {source}")]
    LandlockPath {
        /// The path.
        path: PathBuf,
        /// The error.
        source: ::landlock::PathFdError,
    },
    /// `restrict_self` did not report full enforcement.
    #[error("Landlock ruleset is {status:?}, not fully enforced")]
    LandlockNotEnforced {
        /// The status reported.
        status: ::landlock::RulesetStatus,
    },
    /// seccompiler could not compile a rule or filter.
    #[error("compiling seccomp filter: {0}")]
    SeccompCompile(#[from] seccompiler::BackendError),
    /// A deny rule's system call number is not a native one.
    #[error("compiling seccomp filter: {syscall}: bad system call number {nr}")]
    SyscallNumber {
        /// The rule's system call name.
        syscall: &'static str,
        /// Its number.
        nr: i64,
    },
    /// The deny filter's dispatch has no code to jump to for a system call.
    #[error("compiling seccomp filter: no code for system call {nr}")]
    SeccompNoBlock {
        /// The system call number.
        nr: u32,
    },
    /// A seccomp program is longer than the kernel accepts.
    #[error("seccomp program has {0} instructions (at most 4096)")]
    FilterTooLong(usize),
    /// `seccomp(2)` failed.
    #[error("seccomp: {what}: {source}")]
    Seccomp {
        /// The operation.
        what: &'static str,
        /// The error.
        source: io::Error,
    },
    /// The filters do not show up in `/proc/thread-self/status`.
    #[error("seccomp filters not active after installation (mode {mode:?}, filters {filters:?})")]
    SeccompNotActive {
        /// `Seccomp:` line.
        mode: Option<u8>,
        /// `Seccomp_filters:` line.
        filters: Option<u32>,
    },
}

/// Options for [`confine_with`]. The default is what [`confine_self`] does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfineOptions {
    /// Accept a kernel without the Landlock scopes (ABI < 6) instead of
    /// failing. Default false.
    pub allow_partial_landlock: bool,
    /// The deny filter's contents.
    pub deny: DenyOptions,
}

impl ConfineOptions {
    /// The defaults.
    pub fn new() -> ConfineOptions {
        ConfineOptions::default()
    }
    /// Sets [`ConfineOptions::allow_partial_landlock`].
    pub fn allow_partial_landlock(mut self, yes: bool) -> ConfineOptions {
        self.allow_partial_landlock = yes;
        self
    }
    /// Sets [`ConfineOptions::deny`].
    pub fn deny(mut self, deny: DenyOptions) -> ConfineOptions {
        self.deny = deny;
        self
    }
}

/// One seccomp filter installed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InstalledFilter {
    /// `"deny"`.
    pub name: &'static str,
    /// Program length.
    pub instructions: usize,
}

/// What [`confine_self`] applied, verified afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Confinement {
    /// `no_new_privs` is set.
    pub no_new_privs: bool,
    /// Capabilities dropped.
    pub capabilities: CapabilityReport,
    /// Landlock ABI, handled rights, scopes.
    pub landlock: LandlockReport,
    /// seccomp filters, in installation order.
    pub filters: Vec<InstalledFilter>,
    /// `/proc/thread-self/status` read after everything was applied.
    pub status: ProcStatus,
}

/// Locks the calling process down before it touches untrusted input; see
/// the [module documentation](self) for what is applied. Fails, naming what
/// is missing, when the kernel lacks Landlock, the Landlock scopes (ABI 6) or
/// seccomp filters; never falls back to weaker confinement.
///
/// ```no_run
/// let report = fdbroker::confine::confine_self()?;
/// assert!(report.landlock.fully_enforced);
/// // From here on, std::fs::File::open fails with EACCES; ask the broker.
/// assert!(std::fs::File::open("/etc/passwd").is_err());
/// # Ok::<(), fdbroker::confine::ConfineError>(())
/// ```
pub fn confine_self() -> Result<Confinement, ConfineError> {
    confine_with(&ConfineOptions::default())
}

/// [`confine_self`] with options.
pub fn confine_with(opts: &ConfineOptions) -> Result<Confinement, ConfineError> {
    // Everything fallible that changes nothing comes first.
    if let Some(&missing) = kernel_support()
        .missing_for_confine_self(opts.allow_partial_landlock)
        .first()
    {
        return Err(ConfineError::Unsupported(missing));
    }
    // Opened now so it can be re-read once Landlock forbids opening it.
    let status_file = ProcStatus::open()?;
    let before = ProcStatus::reread(&status_file)?;
    if let Some(threads) = before.threads.filter(|&n| n > 1) {
        return Err(ConfineError::MultiThreaded { threads });
    }
    let deny = deny_filter(&opts.deny)?;
    let landlock = LandlockBuilder::new()
        .allow_partial(opts.allow_partial_landlock)
        .prepare()?;

    set_no_new_privs()?;
    let capabilities = drop_capabilities()?;
    let landlock = landlock.restrict_self()?;
    install(&deny)?;
    let filters = vec![InstalledFilter {
        name: "deny",
        instructions: deny.len(),
    }];

    let status = ProcStatus::reread(&status_file)?;
    if status.no_new_privs != Some(true) {
        return Err(ConfineError::NoNewPrivsNotSet);
    }
    caps::verify_dropped(&status.caps, capabilities.bounding_cleared)?;
    let filters_ok = match (before.seccomp_filters, status.seccomp_filters) {
        (Some(b), Some(a)) => a > b,
        _ => true,
    };
    if status.seccomp_mode != Some(2) || !filters_ok {
        return Err(ConfineError::SeccompNotActive {
            mode: status.seccomp_mode,
            filters: status.seccomp_filters,
        });
    }
    Ok(Confinement {
        no_new_privs: true,
        capabilities,
        landlock,
        filters,
        status,
    })
}
