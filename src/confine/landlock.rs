//! Landlock: handle every filesystem right the kernel knows, grant only the
//! rules asked for, and scope abstract UNIX sockets and signals to the sandbox.

use std::path::PathBuf;

use landlock::{
    ABI, Access, AccessFs, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd, RulesetAttr,
    RulesetCreated, RulesetCreatedAttr, RulesetStatus, Scope,
};

use super::{ConfineError, Missing};

/// First Landlock ABI with the abstract-UNIX-socket and signal scopes.
pub const SCOPES_ABI: u8 = 6;

/// Builds and applies a Landlock domain that handles every filesystem access
/// right of the best ABI both the kernel and the `landlock` crate know, so
/// anything no rule grants is denied — with no rules, no file can be opened,
/// created, removed, renamed, linked, truncated or executed by path. Rules
/// are added explicitly, and a path that cannot be opened is an error (never
/// silently skipped).
///
/// Landlock applies to the calling thread and its future children; see
/// landlock(7).
///
/// ```no_run
/// use fdbroker::confine::LandlockBuilder;
/// // Allow executing one program (and its loader), nothing else.
/// let report = LandlockBuilder::new()
///     .allow_exec("/usr/bin/file")
///     .allow_exec("/lib64/ld-linux-x86-64.so.2")
///     .prepare()?
///     .restrict_self()?;
/// assert!(report.fully_enforced);
/// # Ok::<(), fdbroker::confine::ConfineError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct LandlockBuilder {
    rules: Vec<(PathBuf, BitFlags<AccessFs>)>,
    scopes: bool,
    allow_partial: bool,
}

impl Default for LandlockBuilder {
    fn default() -> Self {
        LandlockBuilder::new()
    }
}

impl LandlockBuilder {
    /// All filesystem rights handled, no rules, both scopes required, partial
    /// enforcement refused.
    pub fn new() -> LandlockBuilder {
        LandlockBuilder {
            rules: Vec::new(),
            scopes: true,
            allow_partial: false,
        }
    }

    /// Allows `execve` of `path` (a file) or of any file beneath it (a
    /// directory): `Execute | ReadFile`, because the kernel opens the program
    /// and its ELF interpreter for reading as well as executing. Remember the
    /// interpreter (`/lib64/ld-linux-x86-64.so.2`) for dynamic programs.
    pub fn allow_exec(self, path: impl Into<PathBuf>) -> LandlockBuilder {
        self.allow(path, AccessFs::Execute | AccessFs::ReadFile)
    }

    /// Allows `access` beneath `path`. Rights the kernel's ABI does not
    /// handle make [`prepare`](Self::prepare) fail.
    pub fn allow(
        mut self,
        path: impl Into<PathBuf>,
        access: BitFlags<AccessFs>,
    ) -> LandlockBuilder {
        self.rules.push((path.into(), access));
        self
    }

    /// Whether to apply the abstract-UNIX-socket and signal scopes (default
    /// true). When true and the kernel's ABI is older than 6, `prepare`
    /// fails unless partial enforcement is allowed.
    pub fn scopes(mut self, yes: bool) -> LandlockBuilder {
        self.scopes = yes;
        self
    }

    /// Accept a kernel that lacks part of what was asked (the scopes, or
    /// rights a rule names) instead of failing. Landlock itself is still
    /// required. Default false.
    pub fn allow_partial(mut self, yes: bool) -> LandlockBuilder {
        self.allow_partial = yes;
        self
    }

    /// Creates the ruleset and adds the rules, opening every rule path
    /// (`O_PATH`) now. Nothing is enforced yet.
    pub fn prepare(self) -> Result<PreparedLandlock, ConfineError> {
        let (abi, disabled) = super::landlock_probe();
        let kernel_abi = match abi {
            Some(abi) => abi,
            None => {
                return Err(ConfineError::Unsupported(if disabled {
                    Missing::LandlockDisabled
                } else {
                    Missing::Landlock
                }));
            }
        };
        let abi = ABI::from(i32::from(kernel_abi));
        let want_scopes = self.scopes && kernel_abi >= SCOPES_ABI;
        if self.scopes && !want_scopes && !self.allow_partial {
            return Err(ConfineError::Unsupported(Missing::LandlockAbi {
                have: kernel_abi,
                need: SCOPES_ABI,
                feature: "abstract-unix-socket and signal scopes",
            }));
        }
        let level = if self.allow_partial {
            CompatLevel::BestEffort
        } else {
            CompatLevel::HardRequirement
        };
        let fs_access = AccessFs::from_all(abi);
        let scopes = if want_scopes {
            Scope::from_all(abi)
        } else {
            BitFlags::EMPTY
        };
        let mut ruleset = landlock::Ruleset::default()
            .set_compatibility(level)
            .handle_access(fs_access)?;
        if !scopes.is_empty() {
            ruleset = ruleset.scope(scopes)?;
        }
        let mut created = ruleset.create()?;
        let mut rules = Vec::with_capacity(self.rules.len());
        for (path, access) in self.rules {
            let fd = PathFd::new(&path).map_err(|source| ConfineError::LandlockPath {
                path: path.clone(),
                source,
            })?;
            created = created.add_rule(PathBeneath::new(fd, access))?;
            rules.push((path, access));
        }
        Ok(PreparedLandlock {
            created,
            report: LandlockReport {
                abi: kernel_abi,
                fs_access,
                scopes,
                rules,
                fully_enforced: false,
            },
            allow_partial: self.allow_partial,
        })
    }
}

/// A ruleset ready to be enforced with [`PreparedLandlock::restrict_self`].
#[derive(Debug)]
#[must_use]
pub struct PreparedLandlock {
    created: RulesetCreated,
    report: LandlockReport,
    allow_partial: bool,
}

impl PreparedLandlock {
    /// What will be enforced.
    pub fn report(&self) -> &LandlockReport {
        &self.report
    }

    /// Enforces the ruleset on the calling thread (`landlock_restrict_self`,
    /// which also sets `no_new_privs`). Anything short of
    /// `FullyEnforced` is an error unless partial enforcement was allowed; not
    /// enforced at all is always an error.
    pub fn restrict_self(self) -> Result<LandlockReport, ConfineError> {
        let status = self.created.restrict_self()?;
        let mut report = self.report;
        match status.ruleset {
            RulesetStatus::FullyEnforced => report.fully_enforced = true,
            RulesetStatus::PartiallyEnforced if self.allow_partial => {}
            other => {
                return Err(ConfineError::LandlockNotEnforced { status: other });
            }
        }
        Ok(report)
    }
}

/// What a Landlock domain handles and grants.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LandlockReport {
    /// The kernel's Landlock ABI version.
    pub abi: u8,
    /// Filesystem rights handled (denied unless a rule grants them).
    pub fs_access: BitFlags<AccessFs>,
    /// Scopes applied (empty below ABI 6).
    pub scopes: BitFlags<Scope>,
    /// The rules granted: path and rights beneath it.
    pub rules: Vec<(PathBuf, BitFlags<AccessFs>)>,
    /// Whether `restrict_self` reported `FullyEnforced`.
    pub fully_enforced: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    // These only prepare rulesets; nothing is enforced on the test process.

    #[test]
    fn missing_rule_path_is_an_error() {
        if super::super::landlock_probe().0.is_none() {
            eprintln!("skipped: no Landlock");
            return;
        }
        let err = LandlockBuilder::new()
            .allow_exec("/nonexistent/fdbroker-test")
            .prepare()
            .unwrap_err();
        assert!(
            matches!(&err, ConfineError::LandlockPath { path, .. }
                if path.as_os_str() == "/nonexistent/fdbroker-test"),
            "{err:?}"
        );
    }

    #[test]
    fn handles_every_right_of_the_kernel_abi() {
        let Some(abi) = super::super::landlock_probe().0 else {
            eprintln!("skipped: no Landlock");
            return;
        };
        let p = LandlockBuilder::new()
            .allow_exec("/bin/sh")
            .prepare()
            .unwrap();
        let r = p.report();
        assert_eq!(r.abi, abi);
        assert_eq!(r.fs_access, AccessFs::from_all(ABI::from(i32::from(abi))));
        assert!(
            r.fs_access
                .contains(AccessFs::Execute | AccessFs::ReadFile | AccessFs::WriteFile)
        );
        if abi >= SCOPES_ABI {
            assert_eq!(r.scopes, Scope::AbstractUnixSocket | Scope::Signal);
        }
        assert_eq!(r.rules.len(), 1);
        assert!(!r.fully_enforced);
    }
}
