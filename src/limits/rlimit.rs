//! What the child does to itself for the limits between fork(2) and
//! execve(2): join the sandbox's cgroups, enter a user namespace of its own
//! when `--max-processes` is an `RLIMIT_NPROC`, and set the rlimits (core
//! dumps are always off). Everything is prepared before the fork; the child
//! only makes system calls on it, and fdbroker's own limits never change.

use std::ffi::CStr;
use std::fmt;
use std::os::fd::OwnedFd;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::resource::{Resource, setrlimit};
use nix::sys::stat::Mode;

/// One rlimit to set: its name (for messages), soft and hard values.
pub(crate) type Rlim = (&'static str, Resource, u64, u64);

/// What the child applies to itself, prepared before the fork.
#[derive(Debug)]
pub(crate) struct ChildLimits {
    /// `cgroup.procs` of each of the sandbox's cgroup directories.
    procs: Vec<OwnedFd>,
    /// `uid_map` and `gid_map` lines for a user namespace of its own.
    userns: Option<(Vec<u8>, Vec<u8>)>,
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
            userns: userns.map(|(uid, gid)| {
                (
                    format!("{uid} {uid} 1").into_bytes(),
                    format!("{gid} {gid} 1").into_bytes(),
                )
            }),
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
    /// namespace, when `RLIMIT_NPROC` needs one.
    pub(crate) fn enter_user_namespace(&self) -> Result<(), ChildError> {
        if let Some((uid_map, gid_map)) = &self.userns {
            // A process that changed its uid is not dumpable, and its
            // /proc/self files then belong to root: it could not write its
            // own maps. execve(2) sets this again anyway.
            nix::sys::prctl::set_dumpable(true).map_err(at("PR_SET_DUMPABLE"))?;
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER)
                .map_err(at("creating a user namespace (for --max-processes)"))?;
            write_file(c"/proc/self/setgroups", b"deny")?;
            write_file(c"/proc/self/uid_map", uid_map)?;
            write_file(c"/proc/self/gid_map", gid_map)?;
        }
        Ok(())
    }

    /// In the child, just before its seccomp filters and execve (after
    /// the last descriptor of its own setup is made): sets the rlimits.
    pub(crate) fn restrict(&self) -> Result<(), ChildError> {
        for &(name, resource, soft, hard) in &self.rlimits {
            setrlimit(resource, soft, hard).map_err(at(name))?;
        }
        Ok(())
    }
}

/// Writes `bytes` to the file at `path` in one write(2), as the kernel
/// wants for the user namespace files.
fn write_file(path: &'static CStr, bytes: &[u8]) -> Result<(), ChildError> {
    let step = path.to_str().unwrap_or("/proc/self");
    let fd = nix::fcntl::open(path, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(at(step))?;
    match nix::unistd::write(&fd, bytes) {
        Ok(n) if n == bytes.len() => Ok(()),
        Ok(_) => Err(at(step)(Errno::EIO)),
        Err(e) => Err(at(step)(e)),
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
        let (u, g) = c.userns.as_ref().unwrap();
        assert_eq!(u, b"65534 65534 1");
        assert_eq!(g, b"65533 65533 1");
        let e = ChildError {
            step: "RLIMIT_AS",
            errno: Errno::EPERM,
        };
        assert_eq!(e.to_string(), "RLIMIT_AS: EPERM: Operation not permitted");
    }
}
