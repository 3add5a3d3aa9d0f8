//! The seccomp BPF backend: compiles the deny list ([`super::deny`]) into
//! one program with a binary-search dispatch, chains programs, builds the
//! foreign-ABI filter, and installs filters.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;

use seccompiler::{SeccompAction, SeccompFilter, SeccompRule};

use super::ConfineError;
use super::deny::{DenyOptions, deny_rules};
use crate::bpf::{
    BpfProgram, DATA_NR, JMP_JA, JMP_JEQ_K, JMP_JGE_K, LD_W_ABS, RET_ALLOW, RET_K,
    RET_KILL_PROCESS, X32_SYSCALL_BIT, foreign_abi_prologue, jump, ret_errno, sock_filter, stmt,
};
use crate::sys;

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
    let mut out = foreign_abi_prologue(RET_KILL_PROCESS);
    if !cfg!(target_arch = "x86_64") {
        // The prologue loads the number only where it checks the x32 bit.
        out.push(stmt(LD_W_ABS, DATA_NR));
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
    let mut prog = foreign_abi_prologue(RET_KILL_PROCESS);
    prog.push(stmt(RET_K, RET_ALLOW));
    prog
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf::vm::{const_result, const_steps, run};
    use crate::bpf::{AUDIT_ARCH_AARCH64, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, JMP_JEQ_K};
    use crate::confine::deny::{
        ATTRIBUTE_IOCTLS, DenyRule, SeccompCmpOp, Sockets, TERMINAL_IOCTLS,
    };
    use nix::errno::Errno;

    fn errno(e: Errno) -> u32 {
        ret_errno(e as i32)
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
        for cmd in TERMINAL_IOCTLS {
            assert_eq!(ioctl(u64::from(cmd)), errno(Errno::EPERM), "{cmd:#x}");
            assert_eq!(ioctl(u64::from(cmd) | (3 << 33)), errno(Errno::EPERM));
        }
        // What fdbroker run restores, and reading the terminal's state, pass.
        for cmd in [
            libc::FIONREAD,
            libc::TCGETS,
            libc::TCSETS,
            libc::TCSETSW,
            libc::TIOCGPGRP,
            libc::TIOCSPGRP,
            libc::TIOCGWINSZ,
            libc::TIOCGETD,
            libc::TCXONC,
            libc::TCSBRK,
        ] {
            assert_eq!(ioctl(cmd), RET_ALLOW, "{cmd:#x}");
        }
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
