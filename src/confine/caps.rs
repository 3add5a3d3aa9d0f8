//! `no_new_privs`, capability dropping and the check that every set is
//! empty afterwards, and the `/proc/<tid>/status` reader with which
//! [`confine_self`](super::confine_self) verifies the end state once more.

use std::fs::File;
use std::io::Read;
use std::num::ParseIntError;
use std::os::unix::fs::FileExt;
use std::str::FromStr;

use caps::CapSet;

use super::ConfineError;
use crate::sys;

/// Where the kernel publishes the highest capability number it knows.
const CAP_LAST_CAP: &str = "/proc/sys/kernel/cap_last_cap";

/// Status file of the calling thread (capabilities are per thread).
const THREAD_STATUS: &str = "/proc/thread-self/status";

/// Sets `PR_SET_NO_NEW_PRIVS` on the calling thread (inherited by children and
/// kept across `execve`): set-user-ID bits and file capabilities are ignored
/// from now on, and seccomp filters may be installed without
/// `CAP_SYS_ADMIN`. See prctl(2). It cannot be unset.
///
/// ```
/// fdbroker::confine::set_no_new_privs().unwrap();
/// assert!(fdbroker::confine::no_new_privs().unwrap());
/// ```
pub fn set_no_new_privs() -> Result<(), ConfineError> {
    nix::sys::prctl::set_no_new_privs().map_err(ConfineError::NoNewPrivs)
}

/// Whether `no_new_privs` is set on the calling thread (`PR_GET_NO_NEW_PRIVS`).
pub fn no_new_privs() -> Result<bool, ConfineError> {
    nix::sys::prctl::get_no_new_privs().map_err(ConfineError::NoNewPrivs)
}

/// What [`drop_capabilities`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CapabilityReport {
    /// Highest capability number the kernel knows (`cap_last_cap`); every
    /// number up to it was dropped from the bounding set when
    /// `bounding_cleared` is true.
    pub cap_last_cap: u32,
    /// Whether the bounding set is empty now. False only when the caller did
    /// not have `CAP_SETPCAP` permitted (an unprivileged process): the kernel
    /// refuses to shrink the bounding set then, and it grants nothing anyway
    /// because `no_new_privs` keeps `execve` from adding to the (empty)
    /// permitted set.
    pub bounding_cleared: bool,
    /// The thread's capability sets read back from `/proc/thread-self/status`
    /// after dropping.
    pub after: CapSets,
}

/// The five capability sets of a thread, as 64-bit masks (bit N = capability N).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CapSets {
    /// `CapInh`.
    pub inheritable: u64,
    /// `CapPrm`.
    pub permitted: u64,
    /// `CapEff`.
    pub effective: u64,
    /// `CapBnd`.
    pub bounding: u64,
    /// `CapAmb`.
    pub ambient: u64,
}

impl CapSets {
    /// The calling thread's five sets, read with system calls rather than
    /// from `/proc` (usable under Landlock, and cheaper): `capget(2)` for
    /// effective, permitted and inheritable (all 64 bits),
    /// `PR_CAPBSET_READ` and `PR_CAP_AMBIENT_IS_SET` for every number up to
    /// `last`, the kernel's `cap_last_cap` (see prctl(2)).
    ///
    /// ```
    /// use fdbroker::confine::{cap_last_cap, CapSets, ProcStatus};
    /// let last = cap_last_cap().unwrap();
    /// assert_eq!(CapSets::current(last).unwrap(), ProcStatus::read().unwrap().caps);
    /// ```
    ///
    /// A `last` that is not the kernel's is an error: a smaller one would
    /// leave the capabilities above it unchecked.
    pub fn current(last: u32) -> Result<CapSets, ConfineError> {
        check_last(last)?;
        let masks = sys::prctl::capget().map_err(|e| caps_io("capget", e))?;
        let mut sets = CapSets {
            inheritable: masks.inheritable,
            permitted: masks.permitted,
            effective: masks.effective,
            bounding: 0,
            ambient: 0,
        };
        for cap in 0..=last.min(63) {
            let bit = 1u64 << cap;
            if sys::prctl::capbset_read(cap).map_err(|e| caps_io("PR_CAPBSET_READ", e))? {
                sets.bounding |= bit;
            }
            if sys::prctl::ambient_is_set(cap).map_err(|e| caps_io("PR_CAP_AMBIENT_IS_SET", e))? {
                sets.ambient |= bit;
            }
        }
        Ok(sets)
    }

    /// Names and masks of the sets that are not empty.
    pub fn non_empty(&self) -> Vec<(&'static str, u64)> {
        [
            ("inheritable", self.inheritable),
            ("permitted", self.permitted),
            ("effective", self.effective),
            ("bounding", self.bounding),
            ("ambient", self.ambient),
        ]
        .into_iter()
        .filter(|&(_, mask)| mask != 0)
        .collect()
    }
}

/// The confinement-related fields of a `/proc/<pid>/status` file (see
/// proc_pid_status(5)).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ProcStatus {
    /// `Threads`: number of threads in the process.
    pub threads: Option<u32>,
    /// `NoNewPrivs`.
    pub no_new_privs: Option<bool>,
    /// `Seccomp`: 0 disabled, 1 strict, 2 filter.
    pub seccomp_mode: Option<u8>,
    /// `Seccomp_filters`: number of filters attached (Linux ≥ 5.9).
    pub seccomp_filters: Option<u32>,
    /// The `Cap*` lines.
    pub caps: CapSets,
}

impl ProcStatus {
    /// Parses the text of a status file. Pure; never panics. Every `Cap*`
    /// line must be present and hexadecimal, the other fields are optional.
    ///
    /// ```
    /// use fdbroker::confine::ProcStatus;
    /// let text = "Threads:\t1\nCapInh:\t0000000000000000\nCapPrm:\t0000000000000000\n\
    ///             CapEff:\t0000000000000000\nCapBnd:\t000001ffffffffff\n\
    ///             CapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n";
    /// let st = ProcStatus::parse(text).unwrap();
    /// assert_eq!(st.caps.bounding, 0x1ff_ffff_ffff);
    /// assert_eq!(st.no_new_privs, Some(true));
    /// ```
    pub fn parse(text: &str) -> Result<ProcStatus, ConfineError> {
        let mut st = ProcStatus::default();
        let mut seen = 0u8;
        for line in text.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            let mut cap = |field: &'static str, bit: u8| {
                seen |= bit;
                u64::from_str_radix(value, 16).map_err(|e| bad_line(field, Some(e)))
            };
            match key {
                "Threads" => st.threads = Some(number("Threads", value)?),
                "NoNewPrivs" => st.no_new_privs = Some(value != "0"),
                "Seccomp" => st.seccomp_mode = Some(number("Seccomp", value)?),
                "Seccomp_filters" => st.seccomp_filters = Some(number("Seccomp_filters", value)?),
                "CapInh" => st.caps.inheritable = cap("CapInh", 1)?,
                "CapPrm" => st.caps.permitted = cap("CapPrm", 2)?,
                "CapEff" => st.caps.effective = cap("CapEff", 4)?,
                "CapBnd" => st.caps.bounding = cap("CapBnd", 8)?,
                "CapAmb" => st.caps.ambient = cap("CapAmb", 16)?,
                _ => {}
            }
        }
        if seen != 31 {
            return Err(bad_line("Cap*", None));
        }
        Ok(st)
    }

    /// Reads and parses `/proc/thread-self/status`. Must run before Landlock
    /// is applied (it forbids opening the file); afterwards use
    /// [`ProcStatus::reread`] on a file opened earlier.
    pub fn read() -> Result<ProcStatus, ConfineError> {
        let mut text = String::new();
        File::open(THREAD_STATUS)
            .and_then(|mut f| f.read_to_string(&mut text))
            .map_err(|e| ConfineError::Io {
                what: THREAD_STATUS,
                source: e,
            })?;
        ProcStatus::parse(&text)
    }

    /// Opens `/proc/thread-self/status` for later [`ProcStatus::reread`].
    pub fn open() -> Result<File, ConfineError> {
        File::open(THREAD_STATUS).map_err(|e| ConfineError::Io {
            what: THREAD_STATUS,
            source: e,
        })
    }

    /// Re-reads a status file opened before confinement: procfs regenerates
    /// the text on every read from offset 0, so this sees the current state.
    pub fn reread(file: &File) -> Result<ProcStatus, ConfineError> {
        let mut buf = vec![0u8; 16 * 1024];
        let mut len = 0;
        loop {
            if len == buf.len() {
                buf.resize(buf.len() * 2, 0);
            }
            let n = file
                .read_at(&mut buf[len..], len as u64)
                .map_err(|e| ConfineError::Io {
                    what: THREAD_STATUS,
                    source: e,
                })?;
            if n == 0 {
                break;
            }
            len += n;
        }
        ProcStatus::parse(&String::from_utf8_lossy(&buf[..len]))
    }
}

/// Reads `/proc/sys/kernel/cap_last_cap`.
pub fn cap_last_cap() -> Result<u32, ConfineError> {
    let text = std::fs::read_to_string(CAP_LAST_CAP).map_err(|e| ConfineError::Io {
        what: CAP_LAST_CAP,
        source: e,
    })?;
    match text.trim().parse() {
        Ok(last) => Ok(last),
        Err(source) => Err(ConfineError::CapLastCap { text, source }),
    }
}

/// Drops every capability of the calling thread, in the order the kernel
/// allows: bounding set first (while `CAP_SETPCAP` is still effective), then
/// ambient, inheritable, permitted and effective. Every number up to the
/// kernel's `cap_last_cap` is dropped from the bounding set with
/// `prctl(PR_CAPBSET_DROP)`, including those the `caps` crate does not know.
/// Afterwards all five sets are read back ([`CapSets::current`]); any
/// capability left is an error.
///
/// See capabilities(7). Per thread: call it while single-threaded.
pub fn drop_capabilities() -> Result<CapabilityReport, ConfineError> {
    drop_capabilities_through(cap_last_cap()?)
}

/// [`drop_capabilities`] with the kernel's `cap_last_cap` already known
/// (e.g. from [`kernel_support`](super::kernel_support), read before a fork),
/// so that it opens no file.
///
/// A `last` that is not the kernel's is an error, before anything changes.
pub fn drop_capabilities_through(last: u32) -> Result<CapabilityReport, ConfineError> {
    check_last(last)?;
    let before = sys::prctl::capget().map_err(|e| caps_io("capget", e))?;
    let setpcap = 1u64 << caps::Capability::CAP_SETPCAP.index();
    // PR_CAPBSET_DROP needs CAP_SETPCAP in the effective set. A process that
    // does not even have it permitted cannot shrink its bounding set; with
    // no_new_privs and empty permitted/ambient sets that set grants nothing.
    let may_shrink_bounding = before.permitted & setpcap != 0;
    if may_shrink_bounding {
        if before.effective & setpcap == 0 {
            caps::raise(None, CapSet::Effective, caps::Capability::CAP_SETPCAP)
                .map_err(|e| caps_err("raise CAP_SETPCAP", e))?;
        }
        for cap in 0..=last {
            // Each drop replaces the thread's credentials: skip absent ones.
            let present = sys::prctl::capbset_read(cap)
                .map_err(|e| ConfineError::CapabilityDrop { cap, source: e })?;
            if present {
                sys::prctl::capbset_drop(cap)
                    .map_err(|e| ConfineError::CapabilityDrop { cap, source: e })?;
            }
        }
    }
    caps::clear(None, CapSet::Ambient).map_err(|e| caps_err("ambient", e))?;
    caps::clear(None, CapSet::Inheritable).map_err(|e| caps_err("inheritable", e))?;
    caps::clear(None, CapSet::Permitted).map_err(|e| caps_err("permitted", e))?;
    caps::clear(None, CapSet::Effective).map_err(|e| caps_err("effective", e))?;

    let after = CapSets::current(last)?;
    verify_dropped(&after, may_shrink_bounding)?;
    Ok(CapabilityReport {
        cap_last_cap: last,
        bounding_cleared: after.bounding == 0,
        after,
    })
}

/// Checks that every set is empty (the bounding set only when we could
/// shrink it).
pub(crate) fn verify_dropped(sets: &CapSets, bounding_cleared: bool) -> Result<(), ConfineError> {
    let left: Vec<_> = sets
        .non_empty()
        .into_iter()
        .filter(|&(name, _)| bounding_cleared || name != "bounding")
        .collect();
    match left.first() {
        None => Ok(()),
        Some(&(set, mask)) => Err(ConfineError::CapabilitiesRemain { set, mask }),
    }
}

/// Checks that `last` is the kernel's `cap_last_cap`: the bounding set knows
/// `last` and not `last + 1` (`PR_CAPBSET_READ` fails with `EINVAL` for a
/// number the kernel does not know).
fn check_last(last: u32) -> Result<(), ConfineError> {
    let known = |cap: u32| match sys::prctl::capbset_read(cap) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(false),
        Err(e) => Err(caps_io("PR_CAPBSET_READ", e)),
    };
    if last < 63 && known(last)? && !known(last + 1)? {
        Ok(())
    } else {
        Err(ConfineError::NotCapLastCap { last })
    }
}

/// A status line `field` that is missing or does not parse.
fn bad_line(field: &'static str, source: Option<ParseIntError>) -> ConfineError {
    ConfineError::ProcStatus { field, source }
}

/// The decimal value of status line `field`.
fn number<T: FromStr<Err = ParseIntError>>(
    field: &'static str,
    value: &str,
) -> Result<T, ConfineError> {
    value.parse().map_err(|e| bad_line(field, Some(e)))
}

fn caps_io(step: &'static str, source: std::io::Error) -> ConfineError {
    ConfineError::CapabilityRead { step, source }
}

fn caps_err(step: &'static str, source: caps::errors::CapsError) -> ConfineError {
    ConfineError::Capabilities { step, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Name:\tcat\nUmask:\t0022\nState:\tR (running)\nThreads:\t3\n\
        CapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n\
        CapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\nNoNewPrivs:\t0\n\
        Seccomp:\t0\nSeccomp_filters:\t0\nSpeculation_Store_Bypass:\tthread vulnerable\n";

    #[test]
    fn parses_status() {
        let st = ProcStatus::parse(SAMPLE).unwrap();
        assert_eq!(st.threads, Some(3));
        assert_eq!(st.no_new_privs, Some(false));
        assert_eq!(st.seccomp_mode, Some(0));
        assert_eq!(st.seccomp_filters, Some(0));
        assert_eq!(st.caps.permitted, 0x1ff_ffff_ffff);
        assert_eq!(st.caps.inheritable, 0);
        assert_eq!(
            st.caps.non_empty(),
            vec![
                ("permitted", 0x1ff_ffff_ffff),
                ("effective", 0x1ff_ffff_ffff),
                ("bounding", 0x1ff_ffff_ffff)
            ]
        );
    }

    #[test]
    fn missing_or_bad_cap_line_is_an_error() {
        let without = SAMPLE.replace("CapAmb:\t0000000000000000\n", "");
        assert!(ProcStatus::parse(&without).is_err());
        let bad = SAMPLE.replace("CapInh:\t0000000000000000", "CapInh:\tzz");
        assert!(ProcStatus::parse(&bad).is_err());
        assert!(ProcStatus::parse("").is_err());
        assert!(ProcStatus::parse("\u{0}:\u{ffff}\n:::\nThreads").is_err());
    }

    #[test]
    fn verify_rejects_any_leftover() {
        let mut sets = CapSets::default();
        assert!(verify_dropped(&sets, true).is_ok());
        sets.bounding = 1 << 41;
        assert!(matches!(
            verify_dropped(&sets, true),
            Err(ConfineError::CapabilitiesRemain { set: "bounding", mask }) if mask == 1 << 41
        ));
        // An unprivileged caller cannot shrink the bounding set; the others
        // must still be empty.
        assert!(verify_dropped(&sets, false).is_ok());
        sets.ambient = 1;
        assert!(verify_dropped(&sets, false).is_err());
    }

    #[test]
    fn a_wrong_cap_last_cap_is_refused() {
        let last = cap_last_cap().unwrap();
        assert!(CapSets::current(last).is_ok());
        for wrong in [0, last - 1, last + 1, 63, u32::MAX] {
            assert!(
                matches!(
                    CapSets::current(wrong),
                    Err(ConfineError::NotCapLastCap { last }) if last == wrong
                ),
                "{wrong}"
            );
            // Refused before anything is dropped.
            assert!(drop_capabilities_through(wrong).is_err(), "{wrong}");
        }
        assert_eq!(
            CapSets::current(last).unwrap(),
            ProcStatus::read().unwrap().caps
        );
    }

    #[test]
    fn reads_own_status() {
        let st = ProcStatus::read().unwrap();
        assert!(st.threads.unwrap_or(0) >= 1);
        let f = ProcStatus::open().unwrap();
        assert_eq!(ProcStatus::reread(&f).unwrap().caps, st.caps);
    }
}
