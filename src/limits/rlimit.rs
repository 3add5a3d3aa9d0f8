//! What the child does to itself for the limits between fork(2) and
//! execve(2): join the sandbox's cgroups, enter a user namespace of its own
//! when `--max-processes` is an `RLIMIT_NPROC`, and set the rlimits (core
//! dumps are always off). Everything is prepared before the fork; the child
//! only makes system calls on it, and fdbroker's own limits never change.

use std::fmt;
use std::os::fd::OwnedFd;

use nix::errno::Errno;
use nix::sys::resource::{Resource, getrlimit, setrlimit};

use crate::sandbox::IdMaps;

/// One rlimit to set: its name (for messages), soft and hard values.
pub(crate) type Rlim = (&'static str, Resource, u64, u64);

/// What the child applies to itself, prepared before the fork.
#[derive(Debug)]
pub(crate) struct ChildLimits {
    /// `cgroup.procs` of each of the sandbox's cgroup directories.
    procs: Vec<OwnedFd>,
    /// The maps of a user namespace of its own.
    userns: Option<IdMaps>,
    rlimits: Vec<Rlim>,
}

/// A step of the child's setup that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChildError {
    step: &'static str,
    errno: Errno,
}

impl fmt::Display for ChildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.step, self.errno)
    }
}

impl ChildError {
    /// The error number the failed step returned.
    pub(crate) fn errno(&self) -> Errno {
        self.errno
    }
}

fn at(step: &'static str) -> impl Fn(Errno) -> ChildError {
    move |errno| ChildError { step, errno }
}

impl ChildLimits {
    /// `procs`: the cgroup files to join; `userns`: the child's uid and gid
    /// when it needs a user namespace; `rlimits`: besides `RLIMIT_CORE` 0.
    pub(crate) fn new(
        procs: Vec<OwnedFd>,
        userns: Option<(u32, u32)>,
        rlimits: &[Rlim],
    ) -> ChildLimits {
        let mut all = vec![("RLIMIT_CORE", Resource::RLIMIT_CORE, 0, 0)];
        all.extend_from_slice(rlimits);
        ChildLimits {
            procs,
            userns: userns.map(|(uid, gid)| IdMaps::identity(uid, gid)),
            rlimits: all,
        }
    }

    /// In the child, once it has the sandbox's user: joins the sandbox's
    /// cgroups.
    pub(crate) fn join_cgroups(&self) -> Result<(), ChildError> {
        for fd in &self.procs {
            nix::unistd::write(fd, b"0").map_err(at("joining the sandbox's cgroup"))?;
        }
        Ok(())
    }

    /// In the child, after [`ChildLimits::join_cgroups`] and before it
    /// drops its capabilities (a new user namespace brings a full set,
    /// which must be dropped with the rest): enters the sandbox's own user
    /// namespace, when `RLIMIT_NPROC` needs one and `already` says the
    /// child is not in one of the sandbox's own yet.
    pub(crate) fn enter_user_namespace(&self, already: bool) -> Result<(), ChildError> {
        if let Some(maps) = self.userns.as_ref().filter(|_| !already) {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER)
                .map_err(at("creating a user namespace (for --max-processes)"))?;
            maps.write()
                .map_err(|(step, errno)| ChildError { step, errno })?;
        }
        Ok(())
    }

    /// In the child, just before its seccomp filters and execve (after
    /// the last descriptor of its own setup is made): sets the rlimits.
    /// With `init`, the child is the sandbox's init, which stays beside
    /// the program as one more process of the user: `RLIMIT_NPROC` counts
    /// it too.
    pub(crate) fn restrict(&self, init: bool) -> Result<(), ChildError> {
        for &(name, resource, mut soft, mut hard) in &self.rlimits {
            if init && resource == Resource::RLIMIT_NPROC {
                // Never above the hard limit we have: it could not be raised.
                let (_, now) = getrlimit(resource).map_err(at(name))?;
                hard = hard.saturating_add(1).min(now.max(hard));
                soft = soft.saturating_add(1).min(hard);
            }
            setrlimit(resource, soft, hard).map_err(at(name))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_dumps_are_always_off_and_maps_prepared() {
        let c = ChildLimits::new(
            Vec::new(),
            Some((65534, 65533)),
            &[("RLIMIT_NOFILE", Resource::RLIMIT_NOFILE, 16, 16)],
        );
        assert_eq!(c.rlimits[0], ("RLIMIT_CORE", Resource::RLIMIT_CORE, 0, 0));
        assert_eq!(c.rlimits.len(), 2);
        assert_eq!(c.userns, Some(IdMaps::identity(65534, 65533)));
        let e = ChildError {
            step: "RLIMIT_AS",
            errno: Errno::EPERM,
        };
        assert_eq!(e.to_string(), "RLIMIT_AS: EPERM: Operation not permitted");
    }
}
