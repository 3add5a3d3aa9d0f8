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
//!    seccomp listeners, `TIOCSTI`/`TIOCLINUX` and metadata changes with
//!    `EPERM`.
//!
//! Afterwards the only way to a file is a descriptor someone else opened —
//! the broker. Descriptors already open keep working. `docs/confinement.md`
//! lists exactly what is applied, why, and what is left open.
//!
//! The pieces are public so `fdbroker run` can compose its own confinement
//! (exec rules, a user-notification filter stacked before the deny filter).
//! Everything here acts on the calling thread only: call it while the process
//! is single-threaded ([`confine_self`] checks). If it fails part-way the
//! process is partly confined: treat any error as fatal and exit.

mod caps;
mod landlock;
mod seccomp;

use std::fmt;
use std::io;
use std::path::PathBuf;

use nix::errno::Errno;

pub use self::caps::{
    CapSets, CapabilityReport, ProcStatus, cap_last_cap, drop_capabilities,
    drop_capabilities_through, no_new_privs, set_no_new_privs,
};
pub use self::landlock::{LandlockBuilder, LandlockReport, PreparedLandlock, SCOPES_ABI};
pub use self::seccomp::{
    AUDIT_ARCH_AARCH64, AUDIT_ARCH_I386, AUDIT_ARCH_RISCV64, AUDIT_ARCH_X86_64, BpfProgram,
    DenyOptions, DenyRule, SeccompCmpOp, SeccompCondition, Sockets, X32_SYSCALL_BIT, chain,
    deny_filter, deny_rules, foreign_abi_filter, install, install_with_listener, native_audit_arch,
    sock_filter,
};

use crate::sys;

/// A kernel feature confinement needs and the running kernel lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Missing {
    /// Landlock is not built into the kernel (`ENOSYS`).
    Landlock,
    /// Landlock is built in but not enabled (`EOPNOTSUPP`).
    LandlockDisabled,
    /// The Landlock ABI is too old for `feature`.
    LandlockAbi {
        /// The kernel's ABI.
        have: u8,
        /// The ABI `feature` needs.
        need: u8,
        /// What needs it.
        feature: &'static str,
    },
    /// No seccomp filter mode (`CONFIG_SECCOMP_FILTER`).
    SeccompFilter,
    /// No `SECCOMP_RET_KILL_PROCESS` (Linux < 4.14).
    SeccompKillProcess,
    /// No `SECCOMP_RET_USER_NOTIF` (Linux < 5.0), needed by `fdbroker run`.
    UserNotif,
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Missing::Landlock => {
                f.write_str("Landlock (not built into this kernel: CONFIG_SECURITY_LANDLOCK)")
            }
            Missing::LandlockDisabled => f.write_str(
                "Landlock (built in but disabled: add \"landlock\" to the lsm= boot parameter)",
            ),
            Missing::LandlockAbi {
                have,
                need,
                feature,
            } => {
                write!(
                    f,
                    "Landlock ABI {need} for {feature} (kernel has ABI {have})"
                )
            }
            Missing::SeccompFilter => f.write_str("seccomp filters (CONFIG_SECCOMP_FILTER)"),
            Missing::SeccompKillProcess => {
                f.write_str("SECCOMP_RET_KILL_PROCESS (Linux 4.14 or later)")
            }
            Missing::UserNotif => f.write_str(
                "seccomp user notification, SECCOMP_RET_USER_NOTIF (Linux 5.0 or later)",
            ),
        }
    }
}

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
    #[error("dropping capabilities ({step}): {message}")]
    Capabilities {
        /// Which step.
        step: &'static str,
        /// The `caps` error.
        message: String,
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
    /// `/proc/.../status` or `cap_last_cap` could not be parsed.
    #[error("proc status: {0}")]
    ProcStatus(String),
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
    #[error("Landlock ruleset is {status}, not fully enforced")]
    LandlockNotEnforced {
        /// The status reported.
        status: String,
    },
    /// A seccomp filter could not be compiled.
    #[error("compiling seccomp filter: {0}")]
    SeccompCompile(String),
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

/// What the running kernel offers. Probing changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KernelSupport {
    /// Landlock ABI version, `None` without Landlock.
    pub landlock_abi: Option<u8>,
    /// Landlock is built in but disabled at boot.
    pub landlock_disabled: bool,
    /// seccomp filter mode is available.
    pub seccomp_filter: bool,
    /// `SECCOMP_RET_KILL_PROCESS` is available.
    pub seccomp_kill_process: bool,
    /// `SECCOMP_RET_USER_NOTIF` is available.
    pub user_notif: bool,
    /// `/proc/sys/kernel/cap_last_cap`, if readable.
    pub cap_last_cap: Option<u32>,
}

/// Probes the running kernel.
///
/// ```
/// let k = fdbroker::confine::kernel_support();
/// for missing in k.missing_for_confine_self(false) {
///     println!("confine_self() would fail: the kernel lacks {missing}");
/// }
/// ```
pub fn kernel_support() -> KernelSupport {
    let (landlock_abi, landlock_disabled) = landlock_probe();
    let avail = |action| sys::seccomp::action_available(action).unwrap_or(false);
    KernelSupport {
        landlock_abi,
        landlock_disabled,
        seccomp_filter: avail(libc::SECCOMP_RET_ALLOW),
        seccomp_kill_process: avail(libc::SECCOMP_RET_KILL_PROCESS),
        user_notif: avail(libc::SECCOMP_RET_USER_NOTIF),
        cap_last_cap: cap_last_cap().ok(),
    }
}

/// Landlock ABI (if any) and whether it is built in but disabled.
fn landlock_probe() -> (Option<u8>, bool) {
    match sys::landlock::abi_version() {
        Ok(v) => (u8::try_from(v).ok().filter(|&v| v > 0), false),
        Err(e) => (None, e.raw_os_error() == Some(libc::EOPNOTSUPP)),
    }
}

impl KernelSupport {
    /// Whether the Landlock scopes (abstract UNIX sockets, signals) exist.
    pub fn landlock_scopes(&self) -> bool {
        self.landlock_abi.is_some_and(|abi| abi >= SCOPES_ABI)
    }

    /// What [`confine_self`] needs and the kernel lacks; with
    /// `allow_partial_landlock`, an ABI without scopes is accepted.
    pub fn missing_for_confine_self(&self, allow_partial_landlock: bool) -> Vec<Missing> {
        let mut missing = Vec::new();
        match self.landlock_abi {
            None if self.landlock_disabled => missing.push(Missing::LandlockDisabled),
            None => missing.push(Missing::Landlock),
            Some(have) if have < SCOPES_ABI && !allow_partial_landlock => {
                missing.push(Missing::LandlockAbi {
                    have,
                    need: SCOPES_ABI,
                    feature: "abstract-unix-socket and signal scopes",
                })
            }
            Some(_) => {}
        }
        if !self.seccomp_filter {
            missing.push(Missing::SeccompFilter);
        }
        if !self.seccomp_kill_process {
            missing.push(Missing::SeccompKillProcess);
        }
        missing
    }

    /// Like [`missing_for_confine_self`](Self::missing_for_confine_self),
    /// plus user notification, which `fdbroker run` brokers through.
    pub fn missing_for_run(&self) -> Vec<Missing> {
        let mut missing = self.missing_for_confine_self(false);
        if !self.user_notif {
            missing.push(Missing::UserNotif);
        }
        missing
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_features_are_named() {
        let mut k = KernelSupport {
            landlock_abi: Some(7),
            landlock_disabled: false,
            seccomp_filter: true,
            seccomp_kill_process: true,
            user_notif: true,
            cap_last_cap: Some(40),
        };
        assert!(k.missing_for_confine_self(false).is_empty());
        assert!(k.missing_for_run().is_empty());
        k.landlock_abi = Some(5);
        assert_eq!(
            k.missing_for_confine_self(false),
            vec![Missing::LandlockAbi {
                have: 5,
                need: 6,
                feature: "abstract-unix-socket and signal scopes"
            }]
        );
        assert!(k.missing_for_confine_self(true).is_empty());
        k.landlock_abi = None;
        k.landlock_disabled = true;
        k.user_notif = false;
        assert_eq!(
            k.missing_for_run(),
            vec![Missing::LandlockDisabled, Missing::UserNotif]
        );
        let msg = ConfineError::Unsupported(Missing::LandlockDisabled).to_string();
        assert!(msg.contains("lsm="), "{msg}");
    }

    #[test]
    fn probe_is_consistent() {
        let k = kernel_support();
        assert_eq!(k.landlock_scopes(), k.landlock_abi.is_some_and(|a| a >= 6));
        assert!(!(k.landlock_abi.is_some() && k.landlock_disabled));
        if std::env::var_os("FDBROKER_REQUIRE_KERNEL").is_some_and(|v| v == "1") {
            assert!(k.missing_for_run().is_empty(), "{:?}", k.missing_for_run());
        }
    }
}
