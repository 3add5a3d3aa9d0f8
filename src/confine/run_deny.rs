//! The deny list of `fdbroker run`: the common deny filter's options for a
//! brokered program, and the calls it denies on top of them (see
//! `docs/syscalls.md` for the reasons, one by one).

use nix::errno::Errno;

use super::{ConfineError, DenyOptions, DenyRule, SeccompCmpOp, Sockets};

/// The deny filter for `fdbroker run`: [`deny_rules`](super::deny_rules)
/// without the open family (brokered instead: `ERRNO` would outrank
/// `USER_NOTIF`), plus [`run_deny_rules`]. Non-`AF_UNIX` sockets fail unless
/// `network`; without it, `socket(2)` fails altogether (pathname sockets of
/// other services are out of reach; `socketpair(2)` still works, for streams
/// and seqpackets).
pub fn deny_options(network: bool) -> Result<DenyOptions, ConfineError> {
    let mut opts = DenyOptions::new()
        .open_family(false)
        .metadata_changes(true)
        .sockets(if network {
            Sockets::Any
        } else {
            Sockets::PairOnly
        });
    for rule in run_deny_rules(network)? {
        opts = opts.deny(rule);
    }
    Ok(opts)
}

// x86-64 numbers libc 0.2 lacks.
const SYS_GETXATTRAT: i64 = 464;
const SYS_LISTXATTRAT: i64 = 465;
const SYS_FILE_GETATTR: i64 = 468;

/// What `fdbroker run` denies on top of the common deny list (see
/// `docs/syscalls.md` for the reasons, one by one).
pub fn run_deny_rules(network: bool) -> Result<Vec<DenyRule>, ConfineError> {
    use libc::*;
    let r = |name, nr: c_long, errno| DenyRule::new(name, nr, errno);
    let mut rules = vec![
        // Handle-based open: around the broker.
        r("open_by_handle_at", SYS_open_by_handle_at, Errno::EPERM),
        r(
            "name_to_handle_at",
            SYS_name_to_handle_at,
            Errno::EOPNOTSUPP,
        ),
        // Path calls that are neither brokered nor useful under Landlock
        // (which refuses them all, but only after the lookup: ENOENT versus
        // EACCES would tell which denied paths exist). One errno for all.
        r("mkdir", SYS_mkdir, Errno::EACCES),
        r("mkdirat", SYS_mkdirat, Errno::EACCES),
        r("mknod", SYS_mknod, Errno::EACCES),
        r("mknodat", SYS_mknodat, Errno::EACCES),
        r("unlink", SYS_unlink, Errno::EACCES),
        r("unlinkat", SYS_unlinkat, Errno::EACCES),
        r("rmdir", SYS_rmdir, Errno::EACCES),
        r("rename", SYS_rename, Errno::EACCES),
        r("renameat", SYS_renameat, Errno::EACCES),
        r("renameat2", SYS_renameat2, Errno::EACCES),
        r("link", SYS_link, Errno::EACCES),
        r("linkat", SYS_linkat, Errno::EACCES),
        r("symlink", SYS_symlink, Errno::EACCES),
        r("symlinkat", SYS_symlinkat, Errno::EACCES),
        r("truncate", SYS_truncate, Errno::EACCES),
        r("statfs", SYS_statfs, Errno::EACCES),
        r("inotify_add_watch", SYS_inotify_add_watch, Errno::EACCES),
        r("mq_open", SYS_mq_open, Errno::EACCES),
        r("mq_unlink", SYS_mq_unlink, Errno::EACCES),
        // Metadata reads by path that Landlock does not govern: "not
        // supported here", which programs treat as "no extended attributes".
        r("getxattr", SYS_getxattr, Errno::EOPNOTSUPP),
        r("lgetxattr", SYS_lgetxattr, Errno::EOPNOTSUPP),
        r("listxattr", SYS_listxattr, Errno::EOPNOTSUPP),
        r("llistxattr", SYS_llistxattr, Errno::EOPNOTSUPP),
        r("getxattrat", SYS_GETXATTRAT, Errno::EOPNOTSUPP),
        r("listxattrat", SYS_LISTXATTRAT, Errno::EOPNOTSUPP),
        r("file_getattr", SYS_FILE_GETATTR, Errno::EOPNOTSUPP),
        // No prlimit64(2) on other processes: as an ordinary user the
        // program could lower fdbroker's own limits, or kill it with
        // RLIMIT_CPU. Its own (pid 0) stays allowed.
        DenyRule::new("prlimit64", libc::SYS_prlimit64, Errno::EPERM).when_arg32(
            0,
            SeccompCmpOp::Ne,
            0,
        )?,
    ];
    if !network {
        // Datagram socketpairs could sendmsg(2) to any pathname socket
        // (msg_name); stream and seqpacket sockets ignore or refuse it.
        for ty in [SOCK_DGRAM, SOCK_RAW] {
            rules.push(r("socketpair", SYS_socketpair, Errno::EACCES).when_arg32(
                1,
                SeccompCmpOp::MaskedEq(0xf),
                ty as u32,
            )?);
        }
    }
    Ok(rules)
}

/// `opts` for a sandbox without its own IPC namespace (where the kernel
/// refuses one, docs/run.md): System V IPC is refused too (`ENOSYS`, as a
/// kernel built without it), so that the program can reach no segment,
/// queue or semaphore set made outside, nor leave one behind.
pub fn without_namespaces(opts: DenyOptions) -> DenyOptions {
    use libc::*;
    let mut opts = opts;
    for (name, nr) in [
        ("shmget", SYS_shmget),
        ("shmat", SYS_shmat),
        ("shmctl", SYS_shmctl),
        ("semget", SYS_semget),
        ("semop", SYS_semop),
        ("semtimedop", SYS_semtimedop),
        ("semctl", SYS_semctl),
        ("msgget", SYS_msgget),
        ("msgsnd", SYS_msgsnd),
        ("msgrcv", SYS_msgrcv),
        ("msgctl", SYS_msgctl),
    ] {
        opts = opts.deny(DenyRule::new(name, nr, Errno::ENOSYS));
    }
    opts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prlimit_of_others_is_denied() {
        for network in [false, true] {
            let rules = run_deny_rules(network).unwrap();
            let prlimit: Vec<_> = rules.iter().filter(|r| r.syscall == "prlimit64").collect();
            assert_eq!(prlimit.len(), 1);
            assert_eq!(prlimit[0].when.len(), 1);
        }
    }

    #[test]
    fn run_filter_compiles() {
        for network in [false, true] {
            let prog = crate::confine::deny_filter(&deny_options(network).unwrap()).unwrap();
            assert!(prog.len() < 4096);
        }
    }
}
