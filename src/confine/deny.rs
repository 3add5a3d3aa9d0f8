//! The deny list as data: which system calls the deny filter refuses, with
//! which errno and under which argument conditions ([`DenyRule`]), grouped
//! by [`DenyOptions`]. [`deny_filter`](super::deny_filter) compiles it.
//!
//! Filters stack: the kernel runs every installed filter on each system call
//! and takes the most severe result, in the order `KILL_PROCESS`,
//! `KILL_THREAD`, `TRAP`, `ERRNO`, `USER_NOTIF`, `TRACE`, `LOG`, `ALLOW`
//! (see seccomp(2)). So a syscall that a user-notification filter should broker must not be in the
//! deny filter (its `ERRNO` would win): see [`DenyOptions::open_family`].

use nix::errno::Errno;
use seccompiler::SeccompCmpArgLen;

pub use seccompiler::{SeccompCmpOp, SeccompCondition};

use super::ConfineError;

// Numbers libc 0.2 does not define yet. Since Linux 5.1 (number 424) new
// system calls have the same number on every architecture.
const SYS_STATMOUNT: i64 = 457;
const SYS_LISTMOUNT: i64 = 458;
const SYS_SETXATTRAT: i64 = 463;
const SYS_OPEN_TREE_ATTR: i64 = 467;
const SYS_REMOVEXATTRAT: i64 = 466;
const SYS_FILE_SETATTR: i64 = 469;

/// ioctl(2) requests that change a file's attributes and need no more than
/// ownership of the file, whatever the descriptor's access mode
/// (ioctl_iflags(2), ioctl_xfs_fsgetxattr(2), fsverity, fscrypt):
/// `FS_IOC_SETFLAGS` and `FS_IOC32_SETFLAGS` (chattr), `FS_IOC_FSSETXATTR`,
/// `FS_IOC_SETVERSION` and `FS_IOC32_SETVERSION`, ext4's
/// `EXT4_IOC_SETVERSION`, `FS_IOC_ENABLE_VERITY` (makes a file read-only
/// for good) and `FS_IOC_SET_ENCRYPTION_POLICY`.
pub(super) const ATTRIBUTE_IOCTLS: [u32; 8] = [
    0x4008_6602,
    0x4004_6602,
    0x401c_5820,
    0x4008_7602,
    0x4004_7602,
    0x4008_6604,
    0x4080_6685,
    0x800c_6613,
];

/// ioctl(2) requests whose effect on a terminal outlives the child, on the
/// terminal it shares with its caller (ioctl_tty(2)): `TIOCSETD` (the line
/// discipline), `TIOCSCTTY` and `TIOCNOTTY` (the controlling terminal),
/// `TIOCEXCL` (exclusive mode: further opens fail with `EBUSY`),
/// `TIOCSWINSZ` (the window size, which only the terminal emulator knows:
/// putting back an old size would undo a resize of the window), `TIOCCONS`
/// (console output), `TIOCVHANGUP` and `TIOCSLCKTRMIOS`. What the child may
/// change (termios, the foreground process group) `fdbroker run` restores.
pub(super) const TERMINAL_IOCTLS: [u32; 8] = [
    libc::TIOCSETD as u32,
    libc::TIOCSCTTY as u32,
    libc::TIOCNOTTY as u32,
    libc::TIOCEXCL as u32,
    libc::TIOCSWINSZ as u32,
    libc::TIOCCONS as u32,
    libc::TIOCVHANGUP as u32,
    libc::TIOCSLCKTRMIOS as u32,
];

/// What `socket(2)` may create under the deny filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Sockets {
    /// Any domain (the default of [`confine_self`](super::confine_self)).
    #[default]
    Any,
    /// Only `AF_UNIX`: `socket`/`socketpair` with another domain fail with
    /// `EAFNOSUPPORT` (the policy's `network = false`).
    UnixOnly,
    /// No `socket(2)` at all (`EACCES`); `socketpair(2)` with `AF_UNIX`
    /// still works. Closes the path to pathname UNIX sockets of other
    /// services, which Landlock below ABI 9 does not control.
    PairOnly,
}

/// One entry of the deny list: system call `nr` fails with `errno` when all
/// `when` conditions hold (always, when `when` is empty).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DenyRule {
    /// System call name, for reports and documentation.
    pub syscall: &'static str,
    /// Native system call number.
    pub nr: i64,
    /// Error returned instead of running the call.
    pub errno: Errno,
    /// Conditions on the arguments, all of which must hold.
    pub when: Vec<SeccompCondition>,
}

impl DenyRule {
    /// `syscall` (number `nr`) always fails with `errno`.
    pub fn new(syscall: &'static str, nr: i64, errno: Errno) -> DenyRule {
        DenyRule {
            syscall,
            nr,
            errno,
            when: Vec::new(),
        }
    }

    /// Adds a condition: 32-bit argument `arg` (0-based) compared with `op`.
    /// 32-bit because the kernel reads these arguments as `int`/`unsigned
    /// int` and ignores the upper half, so a comparison on 64 bits could be
    /// dodged by setting upper bits.
    pub fn when_arg32(
        mut self,
        arg: u8,
        op: SeccompCmpOp,
        value: u32,
    ) -> Result<DenyRule, ConfineError> {
        let cond = SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, u64::from(value))?;
        self.when.push(cond);
        Ok(self)
    }
}

/// Which groups the deny filter contains. The "bypass" group (`io_uring_*`,
/// `ptrace`, `process_vm_*`, `pidfd_getfd`, new seccomp listeners, terminal
/// injection, terminal changes that outlive the child) is always in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DenyOptions {
    /// `open`, `openat`, `openat2`, `creat`, `open_by_handle_at`,
    /// `name_to_handle_at` fail with `EACCES` (default true). Set false when a
    /// user-notification filter brokers them instead: `ERRNO` outranks
    /// `USER_NOTIF`.
    pub open_family: bool,
    /// Mode, owner, timestamp, extended-attribute and file-attribute changes
    /// (`chmod`, `chown`, `utimensat`, `setxattr`, ... and their `f*`/`*at`
    /// forms) fail with `EPERM` (default true). A uid-0 child without
    /// capabilities still owns root's files and would otherwise pass the
    /// owner checks these calls make — by path, or on a descriptor the broker
    /// opened read-only.
    pub metadata_changes: bool,
    /// With [`DenyOptions::metadata_changes`]: the mode and time changes
    /// (`chmod`, `fchmod`, `fchmodat`, `fchmodat2`, `utime`, `utimes`,
    /// `futimesat`, `utimensat`) are among them (default true). Set false
    /// when a user-notification filter brokers them instead; owner,
    /// extended-attribute and file-attribute changes stay denied.
    pub modes_and_times: bool,
    /// What `socket(2)` may create.
    pub sockets: Sockets,
    /// More rules, e.g. from `fdbroker run`.
    pub extra: Vec<DenyRule>,
}

impl Default for DenyOptions {
    fn default() -> Self {
        DenyOptions {
            open_family: true,
            metadata_changes: true,
            modes_and_times: true,
            sockets: Sockets::Any,
            extra: Vec::new(),
        }
    }
}

impl DenyOptions {
    /// The defaults: open family and metadata changes denied, any socket.
    pub fn new() -> DenyOptions {
        DenyOptions::default()
    }
    /// Sets [`DenyOptions::open_family`].
    pub fn open_family(mut self, yes: bool) -> DenyOptions {
        self.open_family = yes;
        self
    }
    /// Sets [`DenyOptions::metadata_changes`].
    pub fn metadata_changes(mut self, yes: bool) -> DenyOptions {
        self.metadata_changes = yes;
        self
    }
    /// Sets [`DenyOptions::modes_and_times`].
    pub fn modes_and_times(mut self, yes: bool) -> DenyOptions {
        self.modes_and_times = yes;
        self
    }
    /// Sets [`DenyOptions::sockets`].
    pub fn sockets(mut self, sockets: Sockets) -> DenyOptions {
        self.sockets = sockets;
        self
    }
    /// Adds a rule.
    pub fn deny(mut self, rule: DenyRule) -> DenyOptions {
        self.extra.push(rule);
        self
    }
}

/// The rules [`deny_filter`](super::deny_filter) compiles for `opts`, in order.
pub fn deny_rules(opts: &DenyOptions) -> Result<Vec<DenyRule>, ConfineError> {
    use libc::*;
    let r = |name, nr: c_long, errno| DenyRule::new(name, nr, errno);
    let mut rules = Vec::new();
    if opts.open_family {
        #[cfg(target_arch = "x86_64")]
        rules.extend([
            r("open", SYS_open, Errno::EACCES),
            r("creat", SYS_creat, Errno::EACCES),
        ]);
        rules.extend([
            r("openat", SYS_openat, Errno::EACCES),
            r("openat2", SYS_openat2, Errno::EACCES),
            r("open_by_handle_at", SYS_open_by_handle_at, Errno::EACCES),
            r("name_to_handle_at", SYS_name_to_handle_at, Errno::EACCES),
        ]);
    }
    // Ways around the broker, Landlock or the process boundary.
    rules.extend([
        r("io_uring_setup", SYS_io_uring_setup, Errno::EPERM),
        r("io_uring_enter", SYS_io_uring_enter, Errno::EPERM),
        r("io_uring_register", SYS_io_uring_register, Errno::EPERM),
        r("ptrace", SYS_ptrace, Errno::EPERM),
        r("process_vm_readv", SYS_process_vm_readv, Errno::EPERM),
        r("process_vm_writev", SYS_process_vm_writev, Errno::EPERM),
        r("pidfd_getfd", SYS_pidfd_getfd, Errno::EPERM),
        // A listener of its own would let the child answer its own
        // (or its children's) brokered calls.
        r("seccomp", SYS_seccomp, Errno::EPERM).when_arg32(
            1,
            SeccompCmpOp::MaskedEq(SECCOMP_FILTER_FLAG_NEW_LISTENER),
            SECCOMP_FILTER_FLAG_NEW_LISTENER as u32,
        )?,
        // Pushing input into a terminal the child shares with its caller.
        r("ioctl", SYS_ioctl, Errno::EPERM).when_arg32(1, SeccompCmpOp::Eq, TIOCSTI as u32)?,
        r("ioctl", SYS_ioctl, Errno::EPERM).when_arg32(1, SeccompCmpOp::Eq, TIOCLINUX as u32)?,
    ]);
    // Changing that terminal for longer than the child lives.
    for cmd in TERMINAL_IOCTLS {
        rules.push(r("ioctl", SYS_ioctl, Errno::EPERM).when_arg32(1, SeccompCmpOp::Eq, cmd)?);
    }
    // Ways out of the confinement: new namespaces (a user namespace would
    // hand the child capabilities over its own mounts), mounts, and
    // kernel-wide facilities no confined program needs.
    rules.extend([
        r("unshare", SYS_unshare, Errno::EPERM),
        r("setns", SYS_setns, Errno::EPERM),
        // clone3 passes its flags in memory a filter cannot read: ENOSYS
        // makes libc fall back to clone(2), whose flags it can.
        r("clone3", SYS_clone3, Errno::ENOSYS),
        // Mounts and the filesystem tree.
        r("mount", SYS_mount, Errno::EPERM),
        r("umount2", SYS_umount2, Errno::EPERM),
        r("pivot_root", SYS_pivot_root, Errno::EPERM),
        r("chroot", SYS_chroot, Errno::EPERM),
        r("move_mount", SYS_move_mount, Errno::EPERM),
        r("open_tree", SYS_open_tree, Errno::EPERM),
        r("open_tree_attr", SYS_OPEN_TREE_ATTR, Errno::EPERM),
        r("fsopen", SYS_fsopen, Errno::EPERM),
        r("fsconfig", SYS_fsconfig, Errno::EPERM),
        r("fsmount", SYS_fsmount, Errno::EPERM),
        r("fspick", SYS_fspick, Errno::EPERM),
        r("mount_setattr", SYS_mount_setattr, Errno::EPERM),
        r("statmount", SYS_STATMOUNT, Errno::EPERM),
        r("listmount", SYS_LISTMOUNT, Errno::EPERM),
        // Kernel-wide facilities.
        r("bpf", SYS_bpf, Errno::EPERM),
        r("perf_event_open", SYS_perf_event_open, Errno::EPERM),
        r("userfaultfd", SYS_userfaultfd, Errno::EPERM),
        r("kexec_load", SYS_kexec_load, Errno::EPERM),
        r("kexec_file_load", SYS_kexec_file_load, Errno::EPERM),
        r("add_key", SYS_add_key, Errno::EPERM),
        r("request_key", SYS_request_key, Errno::EPERM),
        r("keyctl", SYS_keyctl, Errno::EPERM),
        r("init_module", SYS_init_module, Errno::EPERM),
        r("finit_module", SYS_finit_module, Errno::EPERM),
        r("delete_module", SYS_delete_module, Errno::EPERM),
        r("acct", SYS_acct, Errno::EPERM),
        r("swapon", SYS_swapon, Errno::EPERM),
        r("swapoff", SYS_swapoff, Errno::EPERM),
        r("quotactl", SYS_quotactl, Errno::EPERM),
        r("quotactl_fd", SYS_quotactl_fd, Errno::EPERM),
        r("uselib", SYS_uselib, Errno::EPERM),
        r("lookup_dcookie", SYS_lookup_dcookie, Errno::EPERM),
        r("fanotify_init", SYS_fanotify_init, Errno::EPERM),
        r("fanotify_mark", SYS_fanotify_mark, Errno::EPERM),
    ]);
    // clone(2) with any namespace flag (one rule per bit: conditions are
    // ANDed, and "any of" needs an OR).
    for bit in [
        CLONE_NEWNS,
        CLONE_NEWCGROUP,
        CLONE_NEWUTS,
        CLONE_NEWIPC,
        CLONE_NEWUSER,
        CLONE_NEWPID,
        CLONE_NEWNET,
    ] {
        rules.push(r("clone", SYS_clone, Errno::EPERM).when_arg32(
            0,
            SeccompCmpOp::MaskedEq(bit as u64),
            bit as u32,
        )?);
    }
    if opts.metadata_changes {
        // Mode and time changes, unless brokered (kept in this order, the
        // filter's order).
        let mt = opts.modes_and_times;
        let keep = |(rule, yes): (DenyRule, bool)| yes.then_some(rule);
        #[cfg(target_arch = "x86_64")]
        rules.extend(
            [
                (r("chmod", SYS_chmod, Errno::EPERM), mt),
                (r("chown", SYS_chown, Errno::EPERM), true),
                (r("lchown", SYS_lchown, Errno::EPERM), true),
                (r("utime", SYS_utime, Errno::EPERM), mt),
                (r("utimes", SYS_utimes, Errno::EPERM), mt),
                (r("futimesat", SYS_futimesat, Errno::EPERM), mt),
            ]
            .into_iter()
            .filter_map(keep),
        );
        rules.extend(
            [
                (r("fchmod", SYS_fchmod, Errno::EPERM), mt),
                (r("fchmodat", SYS_fchmodat, Errno::EPERM), mt),
                (r("fchmodat2", SYS_fchmodat2, Errno::EPERM), mt),
                (r("fchown", SYS_fchown, Errno::EPERM), true),
                (r("fchownat", SYS_fchownat, Errno::EPERM), true),
                (r("utimensat", SYS_utimensat, Errno::EPERM), mt),
            ]
            .into_iter()
            .filter_map(keep),
        );
        rules.extend([
            r("setxattr", SYS_setxattr, Errno::EPERM),
            r("lsetxattr", SYS_lsetxattr, Errno::EPERM),
            r("fsetxattr", SYS_fsetxattr, Errno::EPERM),
            r("setxattrat", SYS_SETXATTRAT, Errno::EPERM),
            r("removexattr", SYS_removexattr, Errno::EPERM),
            r("lremovexattr", SYS_lremovexattr, Errno::EPERM),
            r("fremovexattr", SYS_fremovexattr, Errno::EPERM),
            r("removexattrat", SYS_REMOVEXATTRAT, Errno::EPERM),
            r("file_setattr", SYS_FILE_SETATTR, Errno::EPERM),
        ]);
        // The same attributes through ioctl(2) on any descriptor, even one
        // the broker opened read-only: the kernel only checks ownership
        // (found by tests/attacks, syscall_bypasses / fs_mutations).
        for cmd in ATTRIBUTE_IOCTLS {
            rules.push(r("ioctl", SYS_ioctl, Errno::EPERM).when_arg32(1, SeccompCmpOp::Eq, cmd)?);
        }
    }
    match opts.sockets {
        Sockets::Any => {}
        Sockets::UnixOnly => rules.extend([
            r("socket", SYS_socket, Errno::EAFNOSUPPORT).when_arg32(
                0,
                SeccompCmpOp::Ne,
                AF_UNIX as u32,
            )?,
            r("socketpair", SYS_socketpair, Errno::EAFNOSUPPORT).when_arg32(
                0,
                SeccompCmpOp::Ne,
                AF_UNIX as u32,
            )?,
        ]),
        Sockets::PairOnly => rules.extend([
            r("socket", SYS_socket, Errno::EACCES),
            r("socketpair", SYS_socketpair, Errno::EAFNOSUPPORT).when_arg32(
                0,
                SeccompCmpOp::Ne,
                AF_UNIX as u32,
            )?,
        ]),
    }
    rules.extend(opts.extra.iter().cloned());
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_rules_default_list() {
        let rules = deny_rules(&DenyOptions::new()).unwrap();
        let list: Vec<_> = rules
            .iter()
            .map(|r| (r.syscall, r.errno, r.when.len()))
            .collect();
        use Errno::*;
        let expected = vec![
            ("open", EACCES, 0),
            ("creat", EACCES, 0),
            ("openat", EACCES, 0),
            ("openat2", EACCES, 0),
            ("open_by_handle_at", EACCES, 0),
            ("name_to_handle_at", EACCES, 0),
            ("io_uring_setup", EPERM, 0),
            ("io_uring_enter", EPERM, 0),
            ("io_uring_register", EPERM, 0),
            ("ptrace", EPERM, 0),
            ("process_vm_readv", EPERM, 0),
            ("process_vm_writev", EPERM, 0),
            ("pidfd_getfd", EPERM, 0),
            ("seccomp", EPERM, 1),
            ("ioctl", EPERM, 1),
            ("ioctl", EPERM, 1),
            ("ioctl", EPERM, 1),
            ("ioctl", EPERM, 1),
            ("ioctl", EPERM, 1),
            ("ioctl", EPERM, 1),
            ("ioctl", EPERM, 1),
            ("ioctl", EPERM, 1),
            ("ioctl", EPERM, 1),
            ("ioctl", EPERM, 1),
            ("unshare", EPERM, 0),
            ("setns", EPERM, 0),
            ("clone3", ENOSYS, 0),
            ("mount", EPERM, 0),
            ("umount2", EPERM, 0),
            ("pivot_root", EPERM, 0),
            ("chroot", EPERM, 0),
            ("move_mount", EPERM, 0),
            ("open_tree", EPERM, 0),
            ("open_tree_attr", EPERM, 0),
            ("fsopen", EPERM, 0),
            ("fsconfig", EPERM, 0),
            ("fsmount", EPERM, 0),
            ("fspick", EPERM, 0),
            ("mount_setattr", EPERM, 0),
            ("statmount", EPERM, 0),
            ("listmount", EPERM, 0),
            ("bpf", EPERM, 0),
            ("perf_event_open", EPERM, 0),
            ("userfaultfd", EPERM, 0),
            ("kexec_load", EPERM, 0),
            ("kexec_file_load", EPERM, 0),
            ("add_key", EPERM, 0),
            ("request_key", EPERM, 0),
            ("keyctl", EPERM, 0),
            ("init_module", EPERM, 0),
            ("finit_module", EPERM, 0),
            ("delete_module", EPERM, 0),
            ("acct", EPERM, 0),
            ("swapon", EPERM, 0),
            ("swapoff", EPERM, 0),
            ("quotactl", EPERM, 0),
            ("quotactl_fd", EPERM, 0),
            ("uselib", EPERM, 0),
            ("lookup_dcookie", EPERM, 0),
            ("fanotify_init", EPERM, 0),
            ("fanotify_mark", EPERM, 0),
            ("clone", EPERM, 1),
            ("clone", EPERM, 1),
            ("clone", EPERM, 1),
            ("clone", EPERM, 1),
            ("clone", EPERM, 1),
            ("clone", EPERM, 1),
            ("clone", EPERM, 1),
            ("chmod", EPERM, 0),
            ("chown", EPERM, 0),
            ("lchown", EPERM, 0),
            ("utime", EPERM, 0),
            ("utimes", EPERM, 0),
            ("futimesat", EPERM, 0),
            ("fchmod", EPERM, 0),
            ("fchmodat", EPERM, 0),
            ("fchmodat2", EPERM, 0),
            ("fchown", EPERM, 0),
            ("fchownat", EPERM, 0),
            ("utimensat", EPERM, 0),
            ("setxattr", EPERM, 0),
            ("lsetxattr", EPERM, 0),
            ("fsetxattr", EPERM, 0),
            ("setxattrat", EPERM, 0),
            ("removexattr", EPERM, 0),
            ("lremovexattr", EPERM, 0),
            ("fremovexattr", EPERM, 0),
            ("removexattrat", EPERM, 0),
            ("file_setattr", EPERM, 0),
            ("ioctl", EPERM, 1),
            ("ioctl", EPERM, 1),
            ("ioctl", EPERM, 1),
            ("ioctl", EPERM, 1),
            ("ioctl", EPERM, 1),
            ("ioctl", EPERM, 1),
            ("ioctl", EPERM, 1),
            ("ioctl", EPERM, 1),
        ];
        assert_eq!(list, expected);
        assert_eq!(
            ATTRIBUTE_IOCTLS[..3],
            [
                libc::FS_IOC_SETFLAGS as u32,
                libc::FS_IOC32_SETFLAGS as u32,
                // _IOW('X', 32, struct fsxattr), 28 bytes.
                (1 << 30) | (28 << 16) | (u32::from(b'X') << 8) | 32
            ]
        );
        assert_eq!(ATTRIBUTE_IOCTLS[3], libc::FS_IOC_SETVERSION as u32);
        assert_eq!(ATTRIBUTE_IOCTLS[4], libc::FS_IOC32_SETVERSION as u32);
        // Numbers the kernel uses on x86-64.
        let nr = |name| rules.iter().find(|r| r.syscall == name).unwrap().nr;
        assert_eq!(
            [
                nr("open"),
                nr("openat"),
                nr("openat2"),
                nr("creat"),
                nr("open_by_handle_at")
            ],
            [2, 257, 437, 85, 304]
        );
        assert_eq!(
            [nr("setxattrat"), nr("removexattrat"), nr("file_setattr")],
            [463, 466, 469]
        );

        let without_open = deny_rules(
            &DenyOptions::new()
                .open_family(false)
                .metadata_changes(false),
        )
        .unwrap();
        // Everything but clone3 (ENOSYS, so libc falls back to clone(2)) is EPERM.
        assert!(
            without_open
                .iter()
                .all(|r| r.errno == EPERM || (r.syscall == "clone3" && r.errno == ENOSYS))
        );
        assert_eq!(without_open.len(), 62);
        // The terminal requests, as ioctl_tty(2) numbers them on x86-64.
        assert_eq!(
            TERMINAL_IOCTLS,
            [
                0x5423, 0x540E, 0x5422, 0x540C, 0x5414, 0x541D, 0x5437, 0x5457
            ]
        );
    }
}
