//! The deny list of `fdbroker run`: the common deny filter's options for a
//! brokered program, and the calls it denies on top of them (see
//! `docs/syscalls.md` for the reasons, one by one).

use nix::errno::Errno;

use super::{ConfineError, DenyOptions, DenyRule, SeccompCmpOp, Sockets};

/// The deny filter for `fdbroker run`: [`deny_rules`](super::deny_rules)
/// without the open family and the mode and time changes (brokered instead:
/// `ERRNO` would outrank `USER_NOTIF`), plus [`run_deny_rules`]. Non-`AF_UNIX` sockets fail unless
/// `network`; without it, `socket(2)` fails altogether (pathname sockets of
/// other services are out of reach; `socketpair(2)` still works, for streams
/// and seqpackets).
pub fn deny_options(network: bool) -> Result<DenyOptions, ConfineError> {
    let mut opts = DenyOptions::new()
        .open_family(false)
        .metadata_changes(true)
        // Brokered: the notification server judges them.
        .modes_and_times(false)
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
        // mkdir, unlink, rmdir, rename, link, symlink are brokered.
        r("mknod", SYS_mknod, Errno::EACCES),
        r("mknodat", SYS_mknodat, Errno::EACCES),
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
    rules.extend(other_processes()?);
    if !network {
        // bind(2) and connect(2) on a socketpair's end look a pathname up
        // (EADDRINUSE or ECONNREFUSED for an existing denied path, ENOENT
        // for a missing one) or claim an abstract name outside the
        // sandbox. Without the network nothing needs an address.
        rules.push(r("bind", SYS_bind, Errno::EACCES));
        rules.push(r("connect", SYS_connect, Errno::EACCES));
    }
    Ok(rules)
}

/// Scheduling and priorities of other processes: only the caller's own
/// (pid 0) may be changed. A PID namespace hides the processes outside, but
/// a process group or a user reaches across it (fdbroker shares the
/// program's process group), and without one any pid is reachable.
fn other_processes() -> Result<Vec<DenyRule>, ConfineError> {
    use libc::*;
    const IOPRIO_WHO_PROCESS: u32 = 1;
    let not = |name, nr: c_long, arg, value| {
        DenyRule::new(name, nr, Errno::EPERM).when_arg32(arg, SeccompCmpOp::Ne, value)
    };
    Ok(vec![
        not("setpriority", SYS_setpriority, 0, PRIO_PROCESS)?,
        not("setpriority", SYS_setpriority, 1, 0)?,
        not("sched_setscheduler", SYS_sched_setscheduler, 0, 0)?,
        not("sched_setparam", SYS_sched_setparam, 0, 0)?,
        not("sched_setattr", SYS_sched_setattr, 0, 0)?,
        not("sched_setaffinity", SYS_sched_setaffinity, 0, 0)?,
        not("ioprio_set", SYS_ioprio_set, 0, IOPRIO_WHO_PROCESS)?,
        not("ioprio_set", SYS_ioprio_set, 1, 0)?,
        not("migrate_pages", SYS_migrate_pages, 0, 0)?,
        not("move_pages", SYS_move_pages, 0, 0)?,
    ])
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
    fn other_processes_and_addresses_are_denied() {
        for network in [false, true] {
            let rules = run_deny_rules(network).unwrap();
            let count = |name| rules.iter().filter(|r| r.syscall == name).count();
            assert_eq!(count("setpriority"), 2);
            assert_eq!(count("ioprio_set"), 2);
            for name in [
                "sched_setscheduler",
                "sched_setparam",
                "sched_setattr",
                "sched_setaffinity",
                "migrate_pages",
                "move_pages",
            ] {
                assert_eq!(count(name), 1, "{name}");
            }
            assert!(
                rules
                    .iter()
                    .all(|r| r.syscall != "setpriority" || r.when.len() == 1)
            );
            let addressed = usize::from(!network);
            assert_eq!((count("bind"), count("connect")), (addressed, addressed));
        }
        let alone = without_namespaces(deny_options(false).unwrap());
        let ipc: Vec<_> = alone
            .extra
            .iter()
            .filter(|r| r.errno == Errno::ENOSYS)
            .map(|r| r.syscall)
            .collect();
        assert_eq!(ipc.len(), 11, "{ipc:?}");
        assert!(ipc.contains(&"shmat") && ipc.contains(&"msgrcv") && ipc.contains(&"semop"));
    }

    #[test]
    fn run_filter_behaviour() {
        use crate::bpf::vm::run;
        use crate::bpf::{AUDIT_ARCH_X86_64, RET_ALLOW, ret_errno};
        let errno = |e: Errno| ret_errno(e as i32);
        let f = crate::confine::deny_filter(&deny_options(false).unwrap()).unwrap();
        let alone =
            crate::confine::deny_filter(&without_namespaces(deny_options(false).unwrap())).unwrap();
        let call = |f: &[_], nr, args| run(f, AUDIT_ARCH_X86_64, nr, args);
        // The caller's own priority and scheduling; no one else's.
        let own_nice = [libc::PRIO_PROCESS as u64, 0, 5, 0, 0, 0];
        assert_eq!(call(&f, libc::SYS_setpriority, own_nice), RET_ALLOW);
        // Upper bits are ignored by the kernel and by the rules alike.
        let own_high = [libc::PRIO_PROCESS as u64 | 1 << 32, 1 << 32, 5, 0, 0, 0];
        assert_eq!(call(&f, libc::SYS_setpriority, own_high), RET_ALLOW);
        for args in [
            [0, 4242, 5, 0, 0, 0],
            [1, 0, 5, 0, 0, 0],
            [2, 0, 5, 0, 0, 0],
        ] {
            assert_eq!(
                call(&f, libc::SYS_setpriority, args),
                errno(Errno::EPERM),
                "{args:?}"
            );
        }
        for nr in [
            libc::SYS_sched_setaffinity,
            libc::SYS_sched_setscheduler,
            libc::SYS_sched_setparam,
            libc::SYS_sched_setattr,
            libc::SYS_prlimit64,
        ] {
            assert_eq!(call(&f, nr, [0; 6]), RET_ALLOW, "{nr}");
            assert_eq!(
                call(&f, nr, [7, 0, 0, 0, 0, 0]),
                errno(Errno::EPERM),
                "{nr}"
            );
        }
        assert_eq!(
            call(&f, libc::SYS_ioprio_set, [1, 0, 0, 0, 0, 0]),
            RET_ALLOW
        );
        for args in [[1, 7, 0, 0, 0, 0], [2, 0, 0, 0, 0, 0], [3, 0, 0, 0, 0, 0]] {
            assert_eq!(call(&f, libc::SYS_ioprio_set, args), errno(Errno::EPERM));
        }
        // No addresses without the network.
        for nr in [libc::SYS_bind, libc::SYS_connect] {
            assert_eq!(call(&f, nr, [3, 0, 0, 0, 0, 0]), errno(Errno::EACCES));
        }
        let net = crate::confine::deny_filter(&deny_options(true).unwrap()).unwrap();
        assert_eq!(call(&net, libc::SYS_connect, [3, 0, 0, 0, 0, 0]), RET_ALLOW);
        // System V IPC: the namespace's own, or none at all.
        for nr in [
            libc::SYS_shmget,
            libc::SYS_shmat,
            libc::SYS_msgrcv,
            libc::SYS_semop,
        ] {
            assert_eq!(call(&f, nr, [0; 6]), RET_ALLOW, "{nr}");
            assert_eq!(call(&alone, nr, [0; 6]), errno(Errno::ENOSYS), "{nr}");
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
