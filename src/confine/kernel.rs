//! What the running kernel offers for confinement, and the one list of
//! what it lacks ([`Missing`]) for [`confine_self`](super::confine_self) and
//! for `fdbroker run`. Probing changes nothing.

use std::fmt;

use super::SCOPES_ABI;
use super::caps::cap_last_cap;
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
    /// No `SECCOMP_ADDFD_FLAG_SEND` (Linux < 5.14), needed by `fdbroker run`.
    AddfdSend,
    /// The kernel's seccomp notification structures are larger than this
    /// build's, so `fdbroker run` cannot receive them safely.
    NotifSizes,
    /// `/proc/sys/kernel/cap_last_cap` cannot be read: `fdbroker run` needs
    /// it to drop every capability in the child.
    CapLastCap,
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
            Missing::AddfdSend => f.write_str(
                "SECCOMP_ADDFD_FLAG_SEND for seccomp user notification (Linux 5.14 or later)",
            ),
            Missing::NotifSizes => {
                f.write_str("seccomp notification structures this build understands")
            }
            Missing::CapLastCap => f.write_str("a readable /proc/sys/kernel/cap_last_cap"),
        }
    }
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
    /// `(major, minor)` from `/proc/sys/kernel/osrelease`, if readable.
    pub release: Option<(u32, u32)>,
    /// The kernel's seccomp notification structures are no larger than this
    /// build's (`SECCOMP_GET_NOTIF_SIZES`).
    pub notif_sizes_ok: bool,
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
        release: kernel_release(),
        notif_sizes_ok: sys::notify::struct_sizes_ok().unwrap_or(false),
    }
}

/// Landlock ABI (if any) and whether it is built in but disabled.
pub(super) fn landlock_probe() -> (Option<u8>, bool) {
    match sys::landlock::abi_version() {
        Ok(v) => (u8::try_from(v).ok().filter(|&v| v > 0), false),
        Err(e) => (None, e.raw_os_error() == Some(libc::EOPNOTSUPP)),
    }
}

/// `(major, minor)` of the running kernel, from `/proc/sys/kernel/osrelease`.
fn kernel_release() -> Option<(u32, u32)> {
    let text = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    parse_release(&text)
}

fn parse_release(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.trim().split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

impl KernelSupport {
    /// Whether the Landlock scopes (abstract UNIX sockets, signals) exist.
    pub fn landlock_scopes(&self) -> bool {
        self.landlock_abi.is_some_and(|abi| abi >= SCOPES_ABI)
    }

    /// What [`confine_self`](super::confine_self) needs and the kernel
    /// lacks; with `allow_partial_landlock`, an ABI without scopes is
    /// accepted.
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

    /// What `fdbroker run` needs and the kernel lacks: what
    /// [`missing_for_confine_self`](Self::missing_for_confine_self) needs
    /// with any Landlock ABI (the scopes are applied where the kernel has
    /// them), plus user notification with `SECCOMP_ADDFD_FLAG_SEND` and
    /// structures this build understands, and a readable `cap_last_cap`.
    /// Anything missing is an error, never a weaker sandbox.
    pub fn missing_for_run(&self) -> Vec<Missing> {
        let mut missing = self.missing_for_confine_self(true);
        if !self.user_notif {
            missing.push(Missing::UserNotif);
        } else {
            // An unreadable release is given the benefit of the doubt.
            if self.release.is_some_and(|v| v < (5, 14)) {
                missing.push(Missing::AddfdSend);
            }
            if !self.notif_sizes_ok {
                missing.push(Missing::NotifSizes);
            }
        }
        if self.cap_last_cap.is_none() {
            missing.push(Missing::CapLastCap);
        }
        missing
    }
}

/// Probes the kernel for `fdbroker run`: what it offers and its
/// `cap_last_cap`, or everything it lacks
/// ([`KernelSupport::missing_for_run`]).
pub(crate) fn check_for_run() -> Result<(KernelSupport, u32), Vec<Missing>> {
    let k = kernel_support();
    let missing = k.missing_for_run();
    match k.cap_last_cap {
        Some(last) if missing.is_empty() => Ok((k, last)),
        _ => Err(missing),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::confine::ConfineError;

    fn complete() -> KernelSupport {
        KernelSupport {
            landlock_abi: Some(7),
            landlock_disabled: false,
            seccomp_filter: true,
            seccomp_kill_process: true,
            user_notif: true,
            cap_last_cap: Some(40),
            release: Some((6, 18)),
            notif_sizes_ok: true,
        }
    }

    #[test]
    fn missing_features_are_named() {
        let mut k = complete();
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
    fn missing_for_run_is_what_run_checks() {
        let mut k = complete();
        // Any Landlock ABI: the scopes are applied where they exist.
        k.landlock_abi = Some(1);
        assert!(k.missing_for_run().is_empty());
        k.release = Some((5, 13));
        k.notif_sizes_ok = false;
        k.cap_last_cap = None;
        assert_eq!(
            k.missing_for_run(),
            vec![Missing::AddfdSend, Missing::NotifSizes, Missing::CapLastCap]
        );
        // Without user notification, its refinements are not listed.
        k.user_notif = false;
        k.seccomp_kill_process = false;
        assert_eq!(
            k.missing_for_run(),
            vec![
                Missing::SeccompKillProcess,
                Missing::UserNotif,
                Missing::CapLastCap
            ]
        );
        k.release = None;
        k.user_notif = true;
        k.notif_sizes_ok = true;
        assert_eq!(
            k.missing_for_run(),
            vec![Missing::SeccompKillProcess, Missing::CapLastCap]
        );
        let text = Missing::AddfdSend.to_string();
        assert!(text.contains("Linux 5.14"), "{text}");
    }

    #[test]
    fn releases() {
        assert_eq!(parse_release("6.18.44-fc-v657\n"), Some((6, 18)));
        assert_eq!(parse_release("5.4.0"), Some((5, 4)));
        assert_eq!(parse_release("junk"), None);
    }

    #[test]
    fn probe_is_consistent() {
        let k = kernel_support();
        assert_eq!(k.landlock_scopes(), k.landlock_abi.is_some_and(|a| a >= 6));
        assert!(!(k.landlock_abi.is_some() && k.landlock_disabled));
        if std::env::var_os("FDBROKER_REQUIRE_KERNEL").is_some_and(|v| v == "1") {
            assert!(k.missing_for_run().is_empty(), "{:?}", k.missing_for_run());
            assert!(
                k.missing_for_confine_self(false).is_empty(),
                "{:?}",
                k.missing_for_confine_self(false)
            );
        }
    }
}
