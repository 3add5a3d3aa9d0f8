//! seccomp filters: the deny list built with `seccompiler`, the hand-written
//! foreign-ABI filter, chaining, and installation.
//!
//! Filters stack: the kernel runs every installed filter on each system call
//! and takes the most severe result, in the order `KILL_PROCESS`,
//! `KILL_THREAD`, `TRAP`, `ERRNO`, `USER_NOTIF`, `TRACE`, `LOG`, `ALLOW`
//! (see seccomp(2)). So a syscall that a user-notification filter should broker must not be in the
//! deny filter (its `ERRNO` would win): see [`DenyOptions::open_family`].

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;

use nix::errno::Errno;
use seccompiler::{SeccompAction, SeccompCmpArgLen, SeccompFilter, SeccompRule};

pub use seccompiler::{BpfProgram, SeccompCmpOp, SeccompCondition, sock_filter};

use super::ConfineError;
use crate::sys;

/// `AUDIT_ARCH_X86_64` (`EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE`),
/// the `arch` of native x86-64 and of x32 system calls.
pub const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
/// `AUDIT_ARCH_I386` (`EM_386 | __AUDIT_ARCH_LE`), the `arch` of `int 0x80`
/// and 32-bit `syscall`/`sysenter` entries.
pub const AUDIT_ARCH_I386: u32 = 3 | 0x4000_0000;
/// `AUDIT_ARCH_AARCH64`.
pub const AUDIT_ARCH_AARCH64: u32 = 183 | 0x8000_0000 | 0x4000_0000;
/// `AUDIT_ARCH_RISCV64`.
pub const AUDIT_ARCH_RISCV64: u32 = 243 | 0x8000_0000 | 0x4000_0000;
/// `__X32_SYSCALL_BIT`: x32 system calls arrive with `arch ==
/// AUDIT_ARCH_X86_64` and this bit set in the number.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

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
const ATTRIBUTE_IOCTLS: [u32; 8] = [
    0x4008_6602,
    0x4004_6602,
    0x401c_5820,
    0x4008_7602,
    0x4004_7602,
    0x4008_6604,
    0x4080_6685,
    0x800c_6613,
];

// Classic BPF opcodes (linux/bpf_common.h): class | size | mode / op | src.
const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JMP_JA: u16 = 0x05; // BPF_JMP | BPF_JA
const JMP_JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JMP_JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const JMP_JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const RET_K: u16 = 0x06;
// Offsets in `struct seccomp_data`.
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;

const RET_ALLOW: u32 = 0x7fff_0000;
const RET_KILL_PROCESS: u32 = 0x8000_0000;

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
/// injection) is always in.
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

/// The rules [`deny_filter`] compiles for `opts`, in order.
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
        #[cfg(target_arch = "x86_64")]
        rules.extend([
            r("chmod", SYS_chmod, Errno::EPERM),
            r("chown", SYS_chown, Errno::EPERM),
            r("lchown", SYS_lchown, Errno::EPERM),
            r("utime", SYS_utime, Errno::EPERM),
            r("utimes", SYS_utimes, Errno::EPERM),
            r("futimesat", SYS_futimesat, Errno::EPERM),
        ]);
        rules.extend([
            r("fchmod", SYS_fchmod, Errno::EPERM),
            r("fchmodat", SYS_fchmodat, Errno::EPERM),
            r("fchmodat2", SYS_fchmodat2, Errno::EPERM),
            r("fchown", SYS_fchown, Errno::EPERM),
            r("fchownat", SYS_fchownat, Errno::EPERM),
            r("utimensat", SYS_utimensat, Errno::EPERM),
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

/// Compiles the deny list for `opts` into one program: a system call in the
/// list fails with its errno, every other native call is allowed, and
/// foreign system-call ABIs kill the process exactly as
/// [`foreign_abi_filter`] does (another `arch`; on x86-64 any number with
/// [`X32_SYSCALL_BIT`]), so no second filter is needed.
///
/// The program is a binary search over the numbers the list has rules for;
/// each leaf leads straight to that call's own code: a
/// constant `ret ERRNO` when a rule for it has no conditions, otherwise
/// seccompiler's compilation of its argument conditions (one program per
/// errno, in ascending errno order, joined with [`chain`]). A call thus runs
/// a few comparisons plus its own conditions, never the rest of the list,
/// and installing the filter is cheap: the kernel works out which calls are
/// always allowed by running the program for every number.
///
/// ```
/// use fdbroker::confine::{deny_filter, DenyOptions, Sockets};
/// let prog = deny_filter(&DenyOptions::new().sockets(Sockets::UnixOnly)).unwrap();
/// assert!(prog.len() < 1024);
/// ```
pub fn deny_filter(opts: &DenyOptions) -> Result<BpfProgram, ConfineError> {
    dispatch(&deny_blocks(opts)?)
}

/// `SECCOMP_RET_ERRNO` with `errno`, as seccompiler's `SeccompAction::Errno`.
fn ret_errno(errno: i32) -> u32 {
    0x0005_0000 | (errno as u32 & 0xffff)
}

/// The deny list grouped by system call: number → errno → its rules
/// (`None`: one of them has no conditions, so the call always fails).
type Grouped = BTreeMap<u32, BTreeMap<i32, Option<Vec<SeccompRule>>>>;

fn group(opts: &DenyOptions) -> Result<Grouped, ConfineError> {
    let mut groups = Grouped::new();
    for rule in deny_rules(opts)? {
        let nr = u32::try_from(rule.nr)
            .ok()
            .filter(|nr| nr & X32_SYSCALL_BIT == 0)
            .ok_or(ConfineError::SyscallNumber {
                syscall: rule.syscall,
                nr: rule.nr,
            })?;
        let slot = groups
            .entry(nr)
            .or_default()
            .entry(rule.errno as i32)
            .or_insert(Some(Vec::new()));
        if rule.when.is_empty() {
            *slot = None;
        } else if let Some(rules) = slot {
            rules.push(SeccompRule::new(rule.when)?);
        }
    }
    Ok(groups)
}

/// Each ruled system call's own code: what a call with that number runs
/// once [`dispatch`] has found it (errnos in ascending order, as a chain of
/// one program per errno would; a `ret` with no conditions ends it).
fn deny_blocks(opts: &DenyOptions) -> Result<BTreeMap<u32, BpfProgram>, ConfineError> {
    let arch = std::env::consts::ARCH.try_into()?;
    let mut blocks = BTreeMap::new();
    for (nr, by_errno) in group(opts)? {
        let mut parts = Vec::new();
        for (errno, rules) in by_errno {
            let Some(rules) = rules else {
                parts.push(vec![stmt(RET_K, ret_errno(errno))]);
                break;
            };
            let filter = SeccompFilter::new(
                std::iter::once((i64::from(nr), rules)).collect(),
                SeccompAction::Allow,
                SeccompAction::Errno(errno as u32),
                arch,
            )?;
            parts.push(filter.try_into()?);
        }
        blocks.insert(nr, chain(&parts)?);
    }
    Ok(blocks)
}

/// Most numbers one leaf of [`dispatch`]'s search tree compares with.
const LEAF: usize = 3;

/// Builds the whole deny program from each ruled number's block: the
/// foreign-ABI refusal, a binary search over the numbers, then the blocks.
/// A number not in `blocks` is allowed after a handful of comparisons.
///
/// The refusal and the search use only loads of `nr`/`arch`, `jeq`, `jge`,
/// `jset`, `ja` and constant returns, so the kernel can still prove that a
/// call is always allowed and skip the filters for it (its per-filter action
/// cache, Linux 5.11+); and for a ruled number that proof stops at its
/// block's first argument load or `ret`, a few instructions in.
fn dispatch(blocks: &BTreeMap<u32, BpfProgram>) -> Result<BpfProgram, ConfineError> {
    let kill = stmt(RET_K, RET_KILL_PROCESS);
    let mut out = vec![
        stmt(LD_W_ABS, DATA_ARCH),
        jump(JMP_JEQ_K, native_audit_arch(), 1, 0),
        kill.clone(),
        stmt(LD_W_ABS, DATA_NR),
    ];
    if cfg!(target_arch = "x86_64") {
        out.extend([jump(JMP_JSET_K, X32_SYSCALL_BIT, 0, 1), kill]);
    }
    let nrs: Vec<u32> = blocks.keys().copied().collect();
    // `ja`s to fix up once the blocks are placed: (position, number).
    let mut to_block = Vec::new();
    search(&nrs, blocks, &mut out, &mut to_block)?;
    let mut starts = BTreeMap::new();
    for (&nr, block) in blocks {
        if block.len() > 1 {
            starts.insert(nr, out.len());
            out.extend_from_slice(block);
        }
    }
    for (at, nr) in to_block {
        let start = *starts.get(&nr).ok_or(ConfineError::SeccompNoBlock { nr })?;
        out[at].k =
            u32::try_from(start - at - 1).map_err(|_| ConfineError::FilterTooLong(start))?;
    }
    if out.len() > sys::seccomp::MAX_INSNS {
        return Err(ConfineError::FilterTooLong(out.len()));
    }
    Ok(out)
}

/// Emits a binary search of the accumulator (a system call number) over the
/// sorted `nrs`: not found, `ret ALLOW`; found, one slot per number, either
/// its block when that is a single `ret` or a `ja` to it, recorded in
/// `to_block`. Conditional jumps stay within one subtree (their offsets are
/// 8 bits); the far jumps are `ja`s, whose offsets are 32 bits.
fn search(
    nrs: &[u32],
    blocks: &BTreeMap<u32, BpfProgram>,
    out: &mut Vec<sock_filter>,
    to_block: &mut Vec<(usize, u32)>,
) -> Result<(), ConfineError> {
    if nrs.len() <= LEAF {
        // Comparison i jumps over the rest, the `ret` and the slots before
        // its own: always `nrs.len()` instructions.
        let jt = u8::try_from(nrs.len()).map_err(|_| ConfineError::FilterTooLong(nrs.len()))?;
        for &nr in nrs {
            out.push(jump(JMP_JEQ_K, nr, jt, 0));
        }
        out.push(stmt(RET_K, RET_ALLOW));
        for nr in nrs {
            match blocks.get(nr).map(Vec::as_slice) {
                Some([ret]) if ret.code == RET_K => out.push(ret.clone()),
                _ => {
                    to_block.push((out.len(), *nr));
                    out.push(stmt(JMP_JA, 0));
                }
            }
        }
        return Ok(());
    }
    let mid = nrs.len() / 2;
    let at = out.len();
    out.push(jump(JMP_JGE_K, nrs[mid], 0, 0));
    search(&nrs[..mid], blocks, out, to_block)?;
    let skip = out.len() - at - 1;
    out[at].jt = u8::try_from(skip).map_err(|_| ConfineError::FilterTooLong(skip))?;
    search(&nrs[mid..], blocks, out, to_block)
}

/// Joins programs into one that runs them in order: wherever a program would
/// return `SECCOMP_RET_ALLOW` it jumps to the start of the next one instead;
/// any other result ends the run. The last program is kept as is. An empty
/// list gives a program that allows everything.
pub fn chain(programs: &[BpfProgram]) -> Result<BpfProgram, ConfineError> {
    let mut out = Vec::new();
    for (i, prog) in programs.iter().enumerate() {
        let last = i + 1 == programs.len();
        for (at, insn) in prog.iter().enumerate() {
            if !last && insn.code == RET_K && insn.k == RET_ALLOW {
                // Jump to the instruction after this program.
                let skip = u32::try_from(prog.len() - at - 1)
                    .map_err(|_| ConfineError::FilterTooLong(prog.len()))?;
                out.push(stmt(JMP_JA, skip));
            } else {
                out.push(insn.clone());
            }
        }
    }
    if out.is_empty() {
        out.push(stmt(RET_K, RET_ALLOW));
    }
    if out.len() > sys::seccomp::MAX_INSNS {
        return Err(ConfineError::FilterTooLong(out.len()));
    }
    Ok(out)
}

/// The hand-written filter that refuses foreign system-call ABIs by killing
/// the process (`SECCOMP_RET_KILL_PROCESS`, the same action seccompiler's own
/// architecture check takes): any `arch` but the native one (on x86-64 that
/// refuses i386 calls through `int 0x80`, `AUDIT_ARCH_I386`), and on x86-64
/// every number with [`X32_SYSCALL_BIT`] set (x32 calls, which share
/// `AUDIT_ARCH_X86_64` and would slip past filters keyed on native numbers).
///
/// On x86-64 the program is:
///
/// ```text
/// 0: ld  [4]                       ; seccomp_data.arch
/// 1: jeq #0xc000003e, 1, 0         ; AUDIT_ARCH_X86_64 → 3
/// 2: ret #0x80000000               ; KILL_PROCESS
/// 3: ld  [0]                       ; seccomp_data.nr
/// 4: jset #0x40000000, 0, 1        ; x32 bit → 5, else → 6
/// 5: ret #0x80000000               ; KILL_PROCESS
/// 6: ret #0x7fff0000               ; ALLOW
/// ```
pub fn foreign_abi_filter() -> BpfProgram {
    let kill = stmt(RET_K, RET_KILL_PROCESS);
    let mut prog = vec![
        stmt(LD_W_ABS, DATA_ARCH),
        jump(JMP_JEQ_K, native_audit_arch(), 1, 0),
        kill.clone(),
    ];
    if cfg!(target_arch = "x86_64") {
        prog.extend([
            stmt(LD_W_ABS, DATA_NR),
            jump(JMP_JSET_K, X32_SYSCALL_BIT, 0, 1),
            kill,
        ]);
    }
    prog.push(stmt(RET_K, RET_ALLOW));
    prog
}

/// The `AUDIT_ARCH_*` value of native system calls on this target.
pub const fn native_audit_arch() -> u32 {
    if cfg!(target_arch = "x86_64") {
        AUDIT_ARCH_X86_64
    } else if cfg!(target_arch = "aarch64") {
        AUDIT_ARCH_AARCH64
    } else if cfg!(target_arch = "riscv64") {
        AUDIT_ARCH_RISCV64
    } else {
        // Unknown target: matches no arch, so the filter kills every call
        // rather than letting foreign ones through.
        0
    }
}

/// Installs `program` on the calling thread (`seccomp(SECCOMP_SET_MODE_FILTER)`),
/// on top of any filters already there. Needs `no_new_privs` (see
/// [`set_no_new_privs`](super::set_no_new_privs)) or `CAP_SYS_ADMIN`. The
/// filter is inherited by children and kept across `execve`.
pub fn install(program: &[sock_filter]) -> Result<(), ConfineError> {
    sys::seccomp::set_mode_filter(program, 0)
        .map(drop)
        .map_err(|e| ConfineError::Seccomp {
            what: "install filter",
            source: e,
        })
}

/// Like [`install`], with `SECCOMP_FILTER_FLAG_NEW_LISTENER`: returns the
/// notification listener for a program that returns `SECCOMP_RET_USER_NOTIF`
/// (seccomp_unotify(2)). Install it before the deny filter, which refuses
/// new listeners.
pub fn install_with_listener(program: &[sock_filter]) -> Result<OwnedFd, ConfineError> {
    let fd = sys::seccomp::set_mode_filter(program, libc::SECCOMP_FILTER_FLAG_NEW_LISTENER)
        .map_err(|e| ConfineError::Seccomp {
            what: "install filter with listener",
            source: e,
        })?;
    fd.ok_or(ConfineError::Seccomp {
        what: "install filter with listener",
        source: std::io::Error::from_raw_os_error(libc::EBADF),
    })
}

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a classic-BPF seccomp program on `(arch, nr, args)` the way the
    /// kernel would, for the opcodes seccompiler and we emit.
    fn run(prog: &[sock_filter], arch: u32, nr: i64, args: [u64; 6]) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&(nr as i32).to_ne_bytes());
        data[4..8].copy_from_slice(&arch.to_ne_bytes());
        for (i, a) in args.iter().enumerate() {
            data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
        }
        let (mut acc, mut pc) = (0u32, 0usize);
        loop {
            let insn = &prog[pc];
            pc += 1;
            let k = insn.k;
            let cond = |taken: bool| {
                if taken {
                    insn.jt as usize
                } else {
                    insn.jf as usize
                }
            };
            match insn.code {
                0x20 => {
                    let o = k as usize;
                    acc = u32::from_ne_bytes(data[o..o + 4].try_into().unwrap());
                }
                0x54 => acc &= k,
                0x05 => pc += k as usize,
                0x15 => pc += cond(acc == k),
                0x25 => pc += cond(acc > k),
                0x35 => pc += cond(acc >= k),
                0x45 => pc += cond(acc & k != 0),
                0x06 => return k,
                other => panic!("opcode {other:#x} not emulated"),
            }
        }
    }

    fn errno(e: Errno) -> u32 {
        0x0005_0000 | e as u32
    }

    const X86: u32 = AUDIT_ARCH_X86_64;

    #[test]
    fn foreign_abi_filter_is_pinned() {
        let expected = [
            (0x20, 0, 0, 4),
            (0x15, 1, 0, 0xc000_003e),
            (0x06, 0, 0, 0x8000_0000),
            (0x20, 0, 0, 0),
            (0x45, 0, 1, 0x4000_0000),
            (0x06, 0, 0, 0x8000_0000),
            (0x06, 0, 0, 0x7fff_0000),
        ];
        let got: Vec<_> = foreign_abi_filter()
            .iter()
            .map(|i| (i.code, i.jt, i.jf, i.k))
            .collect();
        assert_eq!(got, expected);
        assert_eq!(AUDIT_ARCH_I386, 0x4000_0003);
    }

    #[test]
    fn foreign_abi_filter_behaviour() {
        let f = foreign_abi_filter();
        assert_eq!(run(&f, X86, libc::SYS_getpid, [0; 6]), RET_ALLOW);
        assert_eq!(
            run(&f, X86, libc::SYS_getpid | 0x4000_0000, [0; 6]),
            RET_KILL_PROCESS
        );
        assert_eq!(run(&f, X86, 0x4000_0000 + 2, [0; 6]), RET_KILL_PROCESS);
        // i386 getpid (20) through int 0x80.
        assert_eq!(run(&f, AUDIT_ARCH_I386, 20, [0; 6]), RET_KILL_PROCESS);
        assert_eq!(run(&f, AUDIT_ARCH_AARCH64, 172, [0; 6]), RET_KILL_PROCESS);
    }

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
        assert_eq!(without_open.len(), 54);
    }

    #[test]
    fn deny_filter_behaviour() {
        let f = deny_filter(&DenyOptions::new()).unwrap();
        let call = |nr: i64, args: [u64; 6]| run(&f, X86, nr, args);
        for nr in [
            libc::SYS_open,
            libc::SYS_openat,
            libc::SYS_openat2,
            libc::SYS_creat,
        ] {
            assert_eq!(call(nr, [0; 6]), errno(Errno::EACCES), "nr {nr}");
        }
        for nr in [libc::SYS_open_by_handle_at, libc::SYS_name_to_handle_at] {
            assert_eq!(call(nr, [0; 6]), errno(Errno::EACCES), "nr {nr}");
        }
        for nr in [
            libc::SYS_io_uring_setup,
            libc::SYS_io_uring_enter,
            libc::SYS_io_uring_register,
            libc::SYS_ptrace,
            libc::SYS_process_vm_readv,
            libc::SYS_process_vm_writev,
            libc::SYS_pidfd_getfd,
            libc::SYS_fchmodat,
            libc::SYS_fchown,
            libc::SYS_utimensat,
            libc::SYS_fsetxattr,
        ] {
            assert_eq!(call(nr, [0; 6]), errno(Errno::EPERM), "nr {nr}");
        }
        // seccomp: only with the listener flag, whatever the upper bits.
        let listener = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
        let seccomp = |op: u64, flags: u64| call(libc::SYS_seccomp, [op, flags, 0, 0, 0, 0]);
        assert_eq!(seccomp(1, listener), errno(Errno::EPERM));
        assert_eq!(seccomp(1, listener | 1 | (1 << 40)), errno(Errno::EPERM));
        assert_eq!(seccomp(1, 0), RET_ALLOW);
        assert_eq!(seccomp(1, libc::SECCOMP_FILTER_FLAG_TSYNC), RET_ALLOW);
        assert_eq!(seccomp(2, 0), RET_ALLOW);
        // ioctl: TIOCSTI (also with junk upper bits, which the kernel drops).
        let ioctl = |cmd: u64| call(libc::SYS_ioctl, [0, cmd, 0, 0, 0, 0]);
        assert_eq!(ioctl(libc::TIOCSTI), errno(Errno::EPERM));
        assert_eq!(ioctl(libc::TIOCSTI | (7 << 32)), errno(Errno::EPERM));
        assert_eq!(ioctl(libc::TIOCLINUX), errno(Errno::EPERM));
        assert_eq!(ioctl(libc::FIONREAD), RET_ALLOW);
        // Attribute changes through ioctl (chattr and friends).
        for cmd in ATTRIBUTE_IOCTLS {
            assert_eq!(ioctl(u64::from(cmd)), errno(Errno::EPERM), "{cmd:#x}");
            assert_eq!(ioctl(u64::from(cmd) | (1 << 40)), errno(Errno::EPERM));
        }
        assert_eq!(ioctl(libc::FS_IOC_GETFLAGS), RET_ALLOW);
        for nr in [
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_execve,
            libc::SYS_socket,
            libc::SYS_fstat,
        ] {
            assert_eq!(call(nr, [0; 6]), RET_ALLOW, "nr {nr}");
        }
        // Foreign arch: seccompiler's own check kills.
        assert_eq!(run(&f, AUDIT_ARCH_I386, 5, [0; 6]), RET_KILL_PROCESS);
    }

    /// Runs `prog` as the kernel does when it decides whether a call can be
    /// cached as always allowed: `arch` and `nr` known, nothing else; `None`
    /// when the program loads an argument or uses another opcode.
    fn const_result(prog: &[sock_filter], arch: u32, nr: u32) -> Option<u32> {
        let (mut acc, mut pc) = (0u32, 0usize);
        loop {
            let insn = &prog[pc];
            pc += 1;
            let k = insn.k;
            let cond = |taken: bool| usize::from(if taken { insn.jt } else { insn.jf });
            match insn.code {
                LD_W_ABS if k == DATA_NR => acc = nr,
                LD_W_ABS if k == DATA_ARCH => acc = arch,
                0x54 => acc &= k,
                JMP_JA => pc += k as usize,
                JMP_JEQ_K => pc += cond(acc == k),
                0x25 => pc += cond(acc > k),
                JMP_JGE_K => pc += cond(acc >= k),
                JMP_JSET_K => pc += cond(acc & k != 0),
                RET_K => return Some(k),
                _ => return None,
            }
        }
    }

    /// The deny list as one seccompiler program per errno, chained: the
    /// straightforward compilation, which [`deny_filter`] must agree with.
    fn reference(opts: &DenyOptions) -> BpfProgram {
        let arch = std::env::consts::ARCH.try_into().unwrap();
        let mut by_errno: BTreeMap<i32, BTreeMap<i64, Option<Vec<SeccompRule>>>> = BTreeMap::new();
        for rule in deny_rules(opts).unwrap() {
            let slot = by_errno
                .entry(rule.errno as i32)
                .or_default()
                .entry(rule.nr)
                .or_insert(Some(Vec::new()));
            if rule.when.is_empty() {
                *slot = None;
            } else if let Some(rules) = slot {
                rules.push(SeccompRule::new(rule.when).unwrap());
            }
        }
        let mut programs = vec![foreign_abi_filter()];
        for (errno, syscalls) in by_errno {
            let rules = syscalls
                .into_iter()
                .map(|(nr, rules)| (nr, rules.unwrap_or_default()))
                .collect();
            let filter = SeccompFilter::new(
                rules,
                SeccompAction::Allow,
                SeccompAction::Errno(errno as u32),
                arch,
            )
            .unwrap();
            programs.push(filter.try_into().unwrap());
        }
        chain(&programs).unwrap()
    }

    #[test]
    fn dispatch_is_pinned() {
        let cond = vec![
            jump(JMP_JEQ_K, 1, 0, 1),
            stmt(RET_K, 0x0005_0001),
            stmt(RET_K, RET_ALLOW),
        ];
        let blocks: BTreeMap<u32, BpfProgram> = [
            (2, vec![stmt(RET_K, 0x0005_000d)]),
            (5, cond.clone()),
            (9, vec![stmt(RET_K, 0x0005_0001)]),
            (40, cond),
        ]
        .into_iter()
        .collect();
        let got: Vec<_> = dispatch(&blocks)
            .unwrap()
            .iter()
            .map(|i| (i.code, i.jt, i.jf, i.k))
            .collect();
        let expected = [
            (0x20, 0, 0, 4),           //  0: ld arch
            (0x15, 1, 0, 0xc000_003e), //  1: native → 3
            (0x06, 0, 0, 0x8000_0000), //  2: ret KILL_PROCESS
            (0x20, 0, 0, 0),           //  3: ld nr
            (0x45, 0, 1, 0x4000_0000), //  4: x32 → 5, else → 6
            (0x06, 0, 0, 0x8000_0000), //  5: ret KILL_PROCESS
            (0x35, 5, 0, 9),           //  6: nr >= 9 → 12
            (0x15, 2, 0, 2),           //  7: nr == 2 → 10
            (0x15, 2, 0, 5),           //  8: nr == 5 → 11
            (0x06, 0, 0, 0x7fff_0000), //  9: ret ALLOW
            (0x06, 0, 0, 0x0005_000d), // 10: nr 2: ret ERRNO(EACCES)
            (0x05, 0, 0, 5),           // 11: nr 5: ja 17
            (0x15, 2, 0, 9),           // 12: nr == 9 → 15
            (0x15, 2, 0, 40),          // 13: nr == 40 → 16
            (0x06, 0, 0, 0x7fff_0000), // 14: ret ALLOW
            (0x06, 0, 0, 0x0005_0001), // 15: nr 9: ret ERRNO(EPERM)
            (0x05, 0, 0, 3),           // 16: nr 40: ja 20
            (0x15, 0, 1, 1),           // 17: nr 5's conditions
            (0x06, 0, 0, 0x0005_0001), // 18
            (0x06, 0, 0, 0x7fff_0000), // 19
            (0x15, 0, 1, 1),           // 20: nr 40's conditions
            (0x06, 0, 0, 0x0005_0001), // 21
            (0x06, 0, 0, 0x7fff_0000), // 22
        ];
        assert_eq!(got, expected);
    }

    /// Steps the kernel's cache check runs before it gives up or answers.
    fn const_steps(prog: &[sock_filter], arch: u32, nr: u32) -> usize {
        let (mut acc, mut pc, mut steps) = (0u32, 0usize, 0);
        loop {
            let insn = &prog[pc];
            pc += 1;
            steps += 1;
            let cond = |taken: bool| usize::from(if taken { insn.jt } else { insn.jf });
            match insn.code {
                LD_W_ABS if insn.k == DATA_NR => acc = nr,
                LD_W_ABS if insn.k == DATA_ARCH => acc = arch,
                JMP_JA => pc += insn.k as usize,
                JMP_JEQ_K => pc += cond(acc == insn.k),
                JMP_JGE_K => pc += cond(acc >= insn.k),
                JMP_JSET_K => pc += cond(acc & insn.k != 0),
                _ => return steps,
            }
        }
    }

    /// The compiled filter gives every call what the straightforward chain
    /// of seccompiler programs (behind the foreign-ABI filter) gives: every
    /// number, native or x32, several argument sets, both architectures.
    /// Every call not in the list is allowed without looking at its
    /// arguments, so the kernel may cache it; and the kernel's check of a
    /// ruled call stops within a few instructions, which keeps installing
    /// the filter cheap.
    #[test]
    fn deny_filter_agrees_with_the_plain_chain() {
        let options = [
            DenyOptions::new(),
            DenyOptions::new().open_family(false),
            DenyOptions::new().sockets(Sockets::UnixOnly),
            DenyOptions::new()
                .open_family(false)
                .metadata_changes(false)
                .sockets(Sockets::PairOnly),
            DenyOptions::new().open_family(false).deny(
                DenyRule::new("socketpair", libc::SYS_socketpair, Errno::EACCES)
                    .when_arg32(1, SeccompCmpOp::MaskedEq(0xf), libc::SOCK_DGRAM as u32)
                    .unwrap(),
            ),
        ];
        let argsets: [[u64; 6]; 6] = [
            [0; 6],
            [u64::MAX; 6],
            [libc::AF_INET as u64, libc::TIOCSTI, 1, 0, 0, 0],
            [libc::AF_UNIX as u64, libc::SOCK_DGRAM as u64, 0, 0, 0, 0],
            [1, libc::SECCOMP_FILTER_FLAG_NEW_LISTENER, 0, 0, 0, 0],
            [libc::CLONE_NEWUSER as u64, 0x4008_6602, 0, 0, 0, 0],
        ];
        for opts in options {
            let plain = reference(&opts);
            let full = deny_filter(&opts).unwrap();
            let ruled: Vec<u32> = deny_rules(&opts)
                .unwrap()
                .iter()
                .map(|r| r.nr as u32)
                .collect();
            assert!(
                full.len() < plain.len(),
                "{} >= {}",
                full.len(),
                plain.len()
            );
            for arch in [X86, AUDIT_ARCH_I386, AUDIT_ARCH_AARCH64] {
                for nr in (0..1100).chain((0..600).map(|n| n | 0x4000_0000)) {
                    for args in argsets {
                        assert_eq!(
                            run(&full, arch, nr, args),
                            run(&plain, arch, nr, args),
                            "arch {arch:#x} nr {nr} args {args:?}"
                        );
                    }
                    if arch == X86 && nr < 0x4000_0000 && !ruled.contains(&(nr as u32)) {
                        assert_eq!(const_result(&full, arch, nr as u32), Some(RET_ALLOW));
                    }
                    assert!(const_steps(&full, arch, nr as u32) <= 24, "nr {nr}");
                }
            }
            // What the list has rules for is not cached as allowed.
            for &nr in &ruled {
                assert_ne!(const_result(&full, X86, nr), Some(RET_ALLOW), "nr {nr}");
            }
        }
    }

    #[test]
    fn socket_options() {
        let unix_only = deny_filter(&DenyOptions::new().sockets(Sockets::UnixOnly)).unwrap();
        let sock =
            |f: &[sock_filter], nr: i64, domain: u64| run(f, X86, nr, [domain, 1, 0, 0, 0, 0]);
        let (unix, inet) = (libc::AF_UNIX as u64, libc::AF_INET as u64);
        assert_eq!(sock(&unix_only, libc::SYS_socket, unix), RET_ALLOW);
        assert_eq!(
            sock(&unix_only, libc::SYS_socket, unix | (1 << 32)),
            RET_ALLOW
        );
        assert_eq!(
            sock(&unix_only, libc::SYS_socket, inet),
            errno(Errno::EAFNOSUPPORT)
        );
        assert_eq!(
            sock(&unix_only, libc::SYS_socketpair, inet),
            errno(Errno::EAFNOSUPPORT)
        );
        assert_eq!(
            sock(&unix_only, libc::SYS_socket, libc::AF_NETLINK as u64),
            errno(Errno::EAFNOSUPPORT)
        );
        let pair_only = deny_filter(&DenyOptions::new().sockets(Sockets::PairOnly)).unwrap();
        assert_eq!(
            sock(&pair_only, libc::SYS_socket, unix),
            errno(Errno::EACCES)
        );
        assert_eq!(sock(&pair_only, libc::SYS_socketpair, unix), RET_ALLOW);
        let any = deny_filter(&DenyOptions::new()).unwrap();
        assert_eq!(sock(&any, libc::SYS_socket, inet), RET_ALLOW);
    }

    #[test]
    fn chain_runs_programs_in_order() {
        let a = deny_filter(
            &DenyOptions::new()
                .open_family(false)
                .metadata_changes(false),
        )
        .unwrap();
        let b = foreign_abi_filter();
        let both = chain(&[b.clone(), a.clone()]).unwrap();
        assert_eq!(both.len(), a.len() + b.len());
        assert_eq!(
            run(&both, X86, libc::SYS_ptrace, [0; 6]),
            errno(Errno::EPERM)
        );
        assert_eq!(
            run(&both, X86, libc::SYS_getpid | 0x4000_0000, [0; 6]),
            RET_KILL_PROCESS
        );
        assert_eq!(run(&both, X86, libc::SYS_getpid, [0; 6]), RET_ALLOW);
        assert_eq!(chain(&[]).unwrap(), vec![stmt(RET_K, RET_ALLOW)]);
        let too_long: Vec<BpfProgram> = vec![a; 4096 / 8 + 1];
        assert!(matches!(
            chain(&too_long),
            Err(ConfineError::FilterTooLong(_))
        ));
    }

    #[test]
    fn extra_rules_share_a_syscall_across_errnos() {
        let opts = DenyOptions::new()
            .open_family(false)
            .deny(
                DenyRule::new("kill", libc::SYS_kill, Errno::ESRCH)
                    .when_arg32(1, SeccompCmpOp::Eq, 9)
                    .unwrap(),
            )
            .deny(
                DenyRule::new("kill", libc::SYS_kill, Errno::EPERM)
                    .when_arg32(1, SeccompCmpOp::Eq, 15)
                    .unwrap(),
            );
        let f = deny_filter(&opts).unwrap();
        assert_eq!(
            run(&f, X86, libc::SYS_kill, [1, 9, 0, 0, 0, 0]),
            errno(Errno::ESRCH)
        );
        assert_eq!(
            run(&f, X86, libc::SYS_kill, [1, 15, 0, 0, 0, 0]),
            errno(Errno::EPERM)
        );
        assert_eq!(run(&f, X86, libc::SYS_kill, [1, 0, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(run(&f, X86, libc::SYS_openat, [0; 6]), RET_ALLOW);
    }
}
