//! Whose credentials the engine opens with: the program's, wherever the
//! broker's own would give the program more than it could get itself.
//!
//! The broker usually runs with more privilege than the program (as root,
//! for a program run as `nobody`), and a file keeps the credentials it was
//! opened with: `/proc/<pid>/pagemap` shows physical frame numbers only to
//! an opener with `CAP_SYS_ADMIN`, `/proc/<pid>/stack` reads only for one,
//! and a root-only file opened by root reads for whoever holds the
//! descriptor. When the requester's [`ProgramIds`] are known
//! ([`super::Context::program`]), the engine therefore reaches and acts on
//!
//! - every path under `/proc` (as asked or as resolved), and
//! - every object that only a built-in profile grants
//!   ([`crate::policy::RuleRef::is_builtin_profile`]: the policy's own rules
//!   do not grant the rights asked without it),
//!
//! with the program's filesystem ids, supplementary groups and no effective
//! capability, taken on by the calling thread for that one operation
//! (`sys::creds::act_as`). The object judged is reached again with those
//! credentials (so that the program's own search permissions apply on the
//! way) and must have the same canonical path, or the request is `EACCES`.
//! What the policy's own rules grant is opened with the broker's
//! credentials, as always: an explicit grant keeps its meaning. A request
//! for a path in `/proc` is made with the program's credentials from the
//! start, the judge's decision included (a [`crate::policy::Judge`] that
//! does I/O of its own does it with them there).
//!
//! Without program ids (a library [`crate::broker::Broker`] that was not
//! given any, [`super::Context`] with `program: None`) everything is done
//! with the broker's credentials, as before.

use std::os::fd::BorrowedFd;
use std::path::Path;

use nix::errno::Errno;

use super::{Context, Ops, Outcome, Reached};
use crate::policy::{Access, Decision};
use crate::procfs::{in_proc, to_self};
use crate::resolve::FollowSymlinks;
use crate::sys::creds::{self, Identity};

/// The credentials of the program requests come from, which the broker takes
/// on where its own would give more (see the [module documentation](self)).
///
/// ```
/// use fdbroker::ops::ProgramIds;
/// let nobody = ProgramIds::other_user(65534, 65534);
/// assert_eq!((nobody.uid(), nobody.gid()), (65534, 65534));
/// assert!(!nobody.keeps_groups());
/// let me = ProgramIds::same_user();
/// assert_eq!(me.uid(), nix::unistd::geteuid().as_raw());
/// assert!(me.keeps_groups());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProgramIds {
    uid: u32,
    gid: u32,
    keeps_groups: bool,
}

impl ProgramIds {
    /// A program running as another user, `uid` and `gid`, with no
    /// supplementary groups: what `fdbroker run` as root starts.
    pub fn other_user(uid: u32, gid: u32) -> ProgramIds {
        ProgramIds {
            uid,
            gid,
            keeps_groups: false,
        }
    }

    /// A program running as this process's own user (its effective ids and
    /// supplementary groups) without capabilities: what `fdbroker run`
    /// started by an ordinary user runs.
    pub fn same_user() -> ProgramIds {
        ProgramIds {
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
            keeps_groups: true,
        }
    }

    /// The program's user id.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// The program's group id.
    pub fn gid(&self) -> u32 {
        self.gid
    }

    /// Whether the program has this process's supplementary groups
    /// ([`ProgramIds::same_user`]); otherwise it has none.
    pub fn keeps_groups(&self) -> bool {
        self.keeps_groups
    }

    fn identity(self) -> Identity {
        Identity {
            uid: self.uid,
            gid: self.gid,
            no_groups: !self.keeps_groups,
        }
    }
}

/// Whose credentials an operation's steps use.
#[derive(Debug, Clone, Copy)]
pub(super) enum Acting {
    /// The broker's own; the program's (when known) are taken on for the
    /// objects that need them ([`needs_program`]).
    Broker(Option<ProgramIds>),
    /// The program's, taken on for the whole operation: a request for a
    /// path in `/proc`.
    Program,
}

/// How the object an operation reached is acted on.
#[derive(Debug, Clone, Copy)]
pub(super) enum Via {
    /// With the broker's credentials.
    Broker,
    /// Reached again and acted on with these program credentials.
    Switch(ProgramIds),
    /// With the program's credentials, which the operation already has.
    Program,
}

impl Via {
    /// How to act on `judged`, allowed by `decision`, for an operation
    /// `acting` so.
    pub(super) fn choose(acting: Acting, judged: &Path, decision: &Decision) -> Via {
        match acting {
            Acting::Program => Via::Program,
            Acting::Broker(Some(program)) if needs_program(judged, decision) => {
                Via::Switch(program)
            }
            Acting::Broker(_) => Via::Broker,
        }
    }
}

/// Whether acting on `judged` needs the program's credentials: a `/proc`
/// file, or a grant only a built-in profile makes.
pub(super) fn needs_program(judged: &Path, decision: &Decision) -> bool {
    in_proc(judged) || by_profile(decision)
}

/// Whether `decision` allows by a built-in profile's rule (the policy's own
/// rules do not grant it all; see [`crate::policy::Policy::decide`]).
pub(super) fn by_profile(decision: &Decision) -> bool {
    decision
        .rule
        .as_ref()
        .is_some_and(crate::policy::RuleRef::is_builtin_profile)
}

impl Ops {
    /// Runs operation `op` with the credentials it must use for `target`
    /// (already prepared): for a path in `/proc` with known program ids,
    /// the program's throughout (including resolution, so that its own
    /// search permissions and errors apply); otherwise the broker's.
    pub(super) fn acting<T>(
        &self,
        ctx: &Context,
        target: &Path,
        access: Access,
        op: impl FnOnce(Acting) -> Outcome<T>,
    ) -> Outcome<T> {
        match ctx.program {
            Some(program) if in_proc(target) => {
                creds::act_as(program.identity(), || op(Acting::Program))
                    .unwrap_or_else(|errno| Outcome::refused(errno, access))
            }
            program => op(Acting::Broker(program)),
        }
    }

    /// Runs `call` (one operation's system calls) as `program`; `EPERM`
    /// when the credentials cannot be taken on.
    pub(super) fn as_program<T>(
        &self,
        program: ProgramIds,
        call: impl FnOnce() -> Result<T, Errno>,
    ) -> Result<T, Errno> {
        creds::act_as(program.identity(), call).and_then(|r| r)
    }

    /// Acts on the object `reached` (reached from `target`) with `f`, with
    /// the credentials chosen for it: `f` gets the descriptor and whether
    /// it runs with the program's credentials. Under [`Via::Switch`] the
    /// object is reached again with them, and must have the canonical path
    /// judged (else `EACCES`: it was renamed meanwhile).
    pub(super) fn act<T>(
        &self,
        ctx: &Context,
        reached: &Reached,
        target: &Path,
        follow: FollowSymlinks,
        f: impl FnOnce(BorrowedFd<'_>, bool) -> Result<T, Errno>,
    ) -> Result<T, Errno> {
        use std::os::fd::AsFd;
        match reached.via {
            Via::Broker => f(reached.fd.as_fd(), false),
            Via::Program => f(reached.fd.as_fd(), true),
            Via::Switch(program) => self.as_program(program, || {
                let again = self.resolver.resolve(target, follow)?;
                if to_self(again.path, ctx.pid) != reached.judged {
                    return Err(Errno::EACCES);
                }
                f(again.fd.as_fd(), true)
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{RuleKind, RuleRef};
    use std::sync::Arc;

    fn decided_by(file: &str) -> Decision {
        Decision {
            allowed: true,
            rule: Some(RuleRef {
                kind: RuleKind::Allow,
                file: Arc::from(Path::new(file)),
                line: 1,
            }),
        }
    }

    #[test]
    fn proc_and_profile_grants_need_the_program() {
        let own = decided_by("/etc/fdbroker/p.toml");
        let profile = decided_by("<profile:runtime>");
        assert!(needs_program(Path::new("/proc/self/status"), &own));
        assert!(needs_program(Path::new("/proc/1/environ"), &own));
        assert!(needs_program(Path::new("/usr/lib/x/libc.so.6"), &profile));
        assert!(!needs_program(Path::new("/usr/lib/x/libc.so.6"), &own));
        assert!(!needs_program(Path::new("/procfoo"), &own));
        assert!(!needs_program(
            Path::new("/srv/in/a"),
            &decided_by("<profile:no-such-profile>")
        ));
        let nobody = ProgramIds::other_user(65534, 65534);
        let via = |acting, path: &str, d: &Decision| Via::choose(acting, Path::new(path), d);
        assert!(matches!(
            via(Acting::Broker(Some(nobody)), "/usr/lib/a", &profile),
            Via::Switch(p) if p == nobody
        ));
        assert!(matches!(
            via(Acting::Broker(Some(nobody)), "/usr/lib/a", &own),
            Via::Broker
        ));
        assert!(matches!(
            via(Acting::Broker(None), "/proc/self/stack", &own),
            Via::Broker
        ));
        assert!(matches!(via(Acting::Program, "/srv/a", &own), Via::Program));
    }
}
