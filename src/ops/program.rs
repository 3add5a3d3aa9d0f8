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
use crate::policy::{Access, Decision, Judge};
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

/// When an operation as the broker puts back a receiver's own credentials
/// (`sys::creds::settle`), if the thread still holds the program's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OwnFirst {
    /// Before the operation starts.
    Settle,
    /// The operation starts with [`Ops::plain`] and [`Ops::program_first`],
    /// which settle unless they act as the program.
    InPlain,
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
    ///
    /// A receiver thread may still hold the program's credentials from its
    /// last call (`sys::creds::hold_between_calls`): they are put back
    /// before the operation's first step as the broker, at once
    /// ([`OwnFirst::Settle`]) or on its way to the object
    /// ([`OwnFirst::InPlain`]).
    pub(super) fn acting<T>(
        &self,
        ctx: &Context,
        target: &Path,
        access: Access,
        own: OwnFirst,
        op: impl FnOnce(Acting) -> Outcome<T>,
    ) -> Outcome<T> {
        match ctx.program {
            Some(program) if in_proc(target) => {
                creds::act_as(program.identity(), || op(Acting::Program))
                    .unwrap_or_else(|errno| Outcome::refused(errno, access))
            }
            program => {
                if own == OwnFirst::Settle {
                    creds::settle();
                }
                op(Acting::Broker(program))
            }
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

    /// [`Ops::as_program`] for an operation's last step: a receiver thread
    /// keeps the program's credentials afterwards
    /// (`sys::creds::act_as_and_keep`).
    pub(super) fn as_program_last<T>(
        &self,
        program: ProgramIds,
        call: impl FnOnce() -> Result<T, Errno>,
    ) -> Result<T, Errno> {
        creds::act_as_and_keep(program.identity(), call).and_then(|r| r)
    }

    /// The resolving way of an operation on one existing object, tried
    /// with the program's credentials first by a receiver that still holds
    /// them (`sys::creds::hold_between_calls`): `target` is reached as the
    /// program, and when a built-in profile (or `/proc`) decides on its
    /// canonical path, `f` acts on exactly that object, with no switch and
    /// no second resolution. The answer is the broker's way's: resolution
    /// succeeds for the broker wherever it does for the program, with the
    /// same canonical path, and the broker's way would act on it as the
    /// program too. Resolution failing for lack of an object (`ENOENT`,
    /// `ENOTDIR`, `ELOOP`) fails alike for the broker, on the same guess.
    ///
    /// `None`, with the broker's own credentials back, otherwise: the
    /// thread holds none, resolution was refused (`EACCES` and the like,
    /// which the broker's credentials may pass), or the policy's own rules
    /// decide (acted on as the broker) or refuse; the broker's way follows.
    /// Also `None`, changing nothing, for a path in `/proc` (the whole
    /// operation runs as the program, [`Ops::acting`]).
    pub(super) fn program_first<T>(
        &self,
        judge: &dyn Judge,
        ctx: &Context,
        target: &Path,
        follow: FollowSymlinks,
        access: Access,
        f: impl FnOnce(BorrowedFd<'_>, bool) -> Result<T, Errno>,
    ) -> Option<Outcome<T>> {
        use std::os::fd::AsFd;
        let program = match ctx.program {
            // The whole operation acts as the program ([`Ops::acting`]).
            Some(_) if in_proc(target) => return None,
            Some(program) => program,
            // Nothing is ever held without the program's ids.
            None => return None,
        };
        let out = if creds::holding() {
            self.as_program_last(program, || {
                let obj = match self.resolver.resolve(target, follow) {
                    Ok(obj) => obj,
                    Err(e @ (Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP)) => {
                        return Ok(Some(
                            self.fail_unresolved(judge, ctx, e, target, follow, access),
                        ));
                    }
                    Err(e) => return Err(e),
                };
                if super::is_broker_proc(&obj.path, ctx.pid) {
                    return Ok(None);
                }
                let judged = to_self(obj.path, ctx.pid);
                let decision = judge.decide(&judged, access);
                if !(decision.allowed && needs_program(&judged, &decision)) {
                    return Ok(None);
                }
                let r = f(obj.fd.as_fd(), true);
                Ok(Some(match r {
                    Ok(v) => Outcome::allowed(v, access, judged, decision),
                    Err(errno) => self.fail_at(judge, errno, judged, access, Some(decision)),
                }))
            })
            .ok()
            .flatten()
        } else {
            None
        };
        if out.is_none() {
            creds::settle();
        }
        out
    }

    /// Acts on the object `reached` (reached from `target`) with `f`, with
    /// the credentials chosen for it: `f` gets the descriptor and whether
    /// it runs with the program's credentials. Under [`Via::Switch`] the
    /// object is reached again with them, and must have the canonical path
    /// judged (else `EACCES`: it was renamed meanwhile). The last step of
    /// every operation that calls it: a receiver keeps the program's
    /// credentials afterwards ([`Ops::as_program_last`]).
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
            // The operation's last step: nothing follows as the broker.
            Via::Switch(program) => self.as_program_last(program, || {
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
    use crate::resolve::FollowSymlinks;
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

    /// Allows read and stat where a built-in profile would (`d/public`,
    /// `d/locked`, `d/ln`, `d/missing`), read where the policy's own rules
    /// would (`d/closed`), and creation in `d/out` by the policy's own.
    struct Split(std::path::PathBuf);

    impl Judge for Split {
        fn decide(&self, path: &Path, access: Access) -> Decision {
            let d = self.0.join("d");
            let read = Access::READ.granted().contains(access);
            let under = |rel: &str| path.starts_with(d.join(rel));
            let by = if read
                && ["public", "locked", "ln", "missing"]
                    .iter()
                    .any(|r| under(r))
            {
                "<profile:runtime>"
            } else if (read && under("closed")) || under("out") {
                "/etc/fdbroker/p.toml"
            } else {
                return Decision::default_deny();
            };
            decided_by(by)
        }
    }

    /// Each answer of a run of operations that goes back and forth between
    /// what a profile grants (plain paths and paths through the symlink
    /// `dlink`) and what the policy's own rules grant: its errno, or what
    /// it gave. `seen_held`: the program's credentials were held after one.
    fn answers(ops: &Ops, root: &Path, ctx: &Context, seen_held: &mut bool) -> Vec<String> {
        let judge = Split(root.to_path_buf());
        let p = |rel: &str| root.join(rel);
        let show = |r: Result<String, Errno>| r.unwrap_or_else(|e| format!("{e:?}"));
        let mut out = Vec::new();
        let mut note = |answer: String| {
            *seen_held |= creds::holding();
            out.push(answer);
        };
        let open = |rel: &str, flags: i32| {
            let o = ops.open(&judge, ctx, &p(rel), flags | libc::O_CLOEXEC, 0o644);
            show(o.result.map(|_| "open".into()))
        };
        note(open("d/public", libc::O_RDONLY));
        note(open("d/closed/inner", libc::O_RDONLY));
        note(open("d/locked", libc::O_RDONLY));
        note(open("dlink/public", libc::O_RDONLY));
        note(open("dlink/closed/inner", libc::O_RDONLY));
        note(open("d/public", libc::O_RDONLY));
        let st = ops.stat(&judge, ctx, &p("dlink/missing"), FollowSymlinks::Yes);
        note(show(st.result.map(|_| "stat".into())));
        let made = open("d/out/new", libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL);
        let owner = std::fs::metadata(p("d/out/new")).map_or(0, |m| {
            use std::os::unix::fs::MetadataExt;
            m.uid()
        });
        let _ = std::fs::remove_file(p("d/out/new"));
        note(format!("{made} {owner}"));
        let a = ops.access(&judge, ctx, &p("dlink/public"), libc::R_OK);
        note(show(a.result.map(|()| "access".into())));
        let l = ops.readlink(&judge, ctx, &p("d/ln"));
        note(show(
            l.result.map(|t| String::from_utf8_lossy(&t).into_owned()),
        ));
        out
    }

    #[test]
    fn a_receiver_holding_the_programs_credentials_answers_alike() {
        use std::os::unix::fs::{PermissionsExt, symlink};
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let mode = |rel: &str, m: u32| {
            std::fs::set_permissions(root.join(rel), std::fs::Permissions::from_mode(m)).unwrap();
        };
        for d in ["d/closed", "d/out"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        for (f, text) in [
            ("d/public", "p"),
            ("d/locked", "l"),
            ("d/closed/inner", "i"),
        ] {
            std::fs::write(root.join(f), text).unwrap();
        }
        symlink("public", root.join("d/ln")).unwrap();
        symlink("d", root.join("dlink")).unwrap();
        mode("", 0o755);
        mode("d", 0o755);
        mode("d/out", 0o755);
        mode("d/public", 0o644);
        mode("d/closed", 0o700);
        mode("d/locked", 0o600);
        let root_run = nix::unistd::geteuid().is_root();
        let program = if root_run {
            ProgramIds::other_user(65534, 65534)
        } else {
            ProgramIds::same_user()
        };
        let ctx = Context {
            pid: None,
            program: Some(program),
        };
        let ops = Ops::new().unwrap();
        let run = |hold: bool| {
            let (ops, root) = (&ops, &root);
            std::thread::scope(|s| {
                s.spawn(move || {
                    if hold {
                        creds::hold_between_calls();
                    }
                    let mut held = false;
                    let out = answers(ops, root, &ctx, &mut held);
                    creds::settle();
                    (out, held)
                })
                .join()
                .unwrap()
            })
        };
        let (each_restored, held_before) = run(false);
        let (held_between, held) = run(true);
        assert!(!held_before);
        assert_eq!(held_between, each_restored);
        if !root_run {
            // The program is fdbroker's own user: nothing is switched.
            assert!(!held);
            return;
        }
        // The control: credentials were held between these operations.
        assert!(held);
        let want = [
            "open",
            "open",
            "EACCES",
            "open",
            "open",
            "open",
            "ENOENT",
            "open 65534",
            "access",
            "public",
        ];
        assert_eq!(held_between, want);
    }
}
