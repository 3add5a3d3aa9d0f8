//! The sandbox's namespaces: a PID namespace, so that the whole sandbox
//! dies at once and no process outside it is visible from it, and an IPC
//! namespace, so that it reaches no System V IPC object made outside and
//! leaves none behind. When fdbroker is not root, a user namespace of the
//! sandbox's own makes both possible: it maps the program's uid and gid to
//! themselves, and every capability it brings is dropped before the
//! program runs, as any other.
//!
//! The child is created in them (clone(2) with the namespace flags), so it
//! is pid 1 of the new PID namespace: the sandbox's init ([`super::init`]).
//! Where the kernel refuses (user namespaces disabled and fdbroker not
//! root, a container without the privilege), the child is forked as
//! before, the deny filter refuses System V IPC instead, and the sandbox is
//! killed by its cgroup or by walking fdbroker's descendants: docs/run.md,
//! "Signals and processes", says what then remains.

use std::ffi::CStr;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;

/// The namespaces to create the child in.
#[derive(Debug)]
pub(super) struct Namespaces {
    flags: CloneFlags,
    /// The maps of a user namespace of the sandbox's own, when one is
    /// created with the others.
    ids: Option<IdMaps>,
}

impl Namespaces {
    /// A PID and an IPC namespace; when this process is not root (has no
    /// `CAP_SYS_ADMIN` to create them), inside a new user namespace that
    /// maps our effective uid and gid to themselves.
    pub(super) fn plan() -> Namespaces {
        let flags = CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWIPC;
        if nix::unistd::geteuid().is_root() {
            return Namespaces { flags, ids: None };
        }
        Namespaces {
            flags: flags | CloneFlags::CLONE_NEWUSER,
            ids: Some(IdMaps::identity(
                nix::unistd::geteuid().as_raw(),
                nix::unistd::getegid().as_raw(),
            )),
        }
    }

    /// The clone(2) flags.
    pub(super) fn flags(&self) -> CloneFlags {
        self.flags
    }

    /// Whether a user namespace is created with the others: the child is
    /// then in one already, and needs no other for `--max-processes`.
    pub(super) fn own_user_namespace(&self) -> bool {
        self.ids.is_some()
    }

    /// In the child, first of all: maps the ids of its new user namespace,
    /// if it has one. Until then it is nobody there.
    pub(super) fn map_ids(&self) -> Result<(), Errno> {
        match &self.ids {
            Some(ids) => ids.write().map_err(|(_, e)| e),
            None => Ok(()),
        }
    }
}

/// Whether clone(2) failed because the kernel refuses the namespaces
/// (rather than because no process can be made at all): then the child is
/// forked without them.
pub(super) fn refused(e: Errno) -> bool {
    matches!(
        e,
        // Not permitted (no privilege, a seccomp or LSM policy); a kind
        // the kernel lacks; a namespace limit reached.
        Errno::EPERM
            | Errno::EACCES
            | Errno::EINVAL
            | Errno::ENOSPC
            | Errno::EUSERS
            | Errno::ENOSYS
    )
}

/// The `uid_map` and `gid_map` of a user namespace that maps one uid and
/// one gid to themselves, prepared before the fork.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdMaps {
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
}

impl IdMaps {
    /// `uid` and `gid` mapped to themselves, nothing else.
    pub(crate) fn identity(uid: u32, gid: u32) -> IdMaps {
        IdMaps {
            uid_map: format!("{uid} {uid} 1").into_bytes(),
            gid_map: format!("{gid} {gid} 1").into_bytes(),
        }
    }

    /// In a process that has just created a user namespace and entered it:
    /// writes its maps (`setgroups` denied first, as the kernel requires of
    /// an unprivileged process). On failure, the file and the error.
    pub(crate) fn write(&self) -> Result<(), (&'static str, Errno)> {
        // A process that changed its uid is not dumpable, and its
        // /proc/self files then belong to root: it could not write its own
        // maps. execve(2) sets this again anyway.
        nix::sys::prctl::set_dumpable(true).map_err(|e| ("PR_SET_DUMPABLE", e))?;
        write_file(c"/proc/self/setgroups", b"deny")?;
        write_file(c"/proc/self/uid_map", &self.uid_map)?;
        write_file(c"/proc/self/gid_map", &self.gid_map)
    }
}

/// Writes `bytes` to the file at `path` in one write(2), as the kernel
/// wants for the user namespace files.
fn write_file(path: &'static CStr, bytes: &[u8]) -> Result<(), (&'static str, Errno)> {
    let name = path.to_str().unwrap_or("/proc/self");
    let fd = nix::fcntl::open(path, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| (name, e))?;
    match nix::unistd::write(&fd, bytes) {
        Ok(n) if n == bytes.len() => Ok(()),
        Ok(_) => Err((name, Errno::EIO)),
        Err(e) => Err((name, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_and_maps() {
        let m = IdMaps::identity(65534, 65533);
        assert_eq!(m.uid_map, b"65534 65534 1");
        assert_eq!(m.gid_map, b"65533 65533 1");
        let plan = Namespaces::plan();
        assert!(
            plan.flags()
                .contains(CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWIPC)
        );
        let root = nix::unistd::geteuid().is_root();
        assert_eq!(plan.own_user_namespace(), !root);
        assert_eq!(plan.flags().contains(CloneFlags::CLONE_NEWUSER), !root);
        assert!(refused(Errno::EPERM) && refused(Errno::ENOSPC));
        assert!(!refused(Errno::EAGAIN) && !refused(Errno::ENOMEM));
    }
}
