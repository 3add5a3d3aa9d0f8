//! The user-notification filter: which system calls stop in the kernel and
//! wait for the broker.

use seccompiler::sock_filter;

use super::BROKERED_SYSCALLS;

/// `AUDIT_ARCH_X86_64`.
pub(super) const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
/// x32 system calls carry this bit in their number.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

// Classic BPF opcodes (linux/bpf_common.h) and seccomp return values.
const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;
const RET_ALLOW: u32 = 0x7fff_0000;
const RET_USER_NOTIF: u32 = 0x7fc0_0000;
const RET_ERRNO_ENOSYS: u32 = 0x0005_0000 | libc::ENOSYS as u32;

/// The user-notification filter: every call in [`BROKERED_SYSCALLS`] returns
/// `SECCOMP_RET_USER_NOTIF`, everything else `SECCOMP_RET_ALLOW`. Foreign
/// ABIs are refused first, before any number is compared: a call with an
/// `arch` other than x86-64 (i386 via `int 0x80`) or with the x32 bit set
/// fails with `ENOSYS` (the deny filter installed after it kills for those,
/// and the most severe action wins).
///
/// ```text
///  0: ld  [4]                  ; arch
///  1: jeq #0xc000003e, 1, 0    ; x86-64 → 3
///  2: ret #ERRNO(ENOSYS)
///  3: ld  [0]                  ; nr
///  4: jset #0x40000000, 15, 0  ; x32 → 20
///  5: jeq #2, 13, 0            ; open → 19
///  ...                         ; one jeq per brokered call
/// 17: jeq #89, 1, 0            ; readlinkat → 19
/// 18: ret #ALLOW
/// 19: ret #USER_NOTIF
/// 20: ret #ERRNO(ENOSYS)
/// ```
///
/// Install it with `SECCOMP_FILTER_FLAG_NEW_LISTENER`
/// ([`crate::confine::install_with_listener`]).
pub fn notify_filter() -> Vec<sock_filter> {
    let n = BROKERED_SYSCALLS.len();
    let stmt = |code, k| sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |code, k, jt, jf| sock_filter { code, jt, jf, k };
    let mut prog = vec![
        stmt(LD_W_ABS, 4),
        jump(JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
        stmt(RET_K, RET_ERRNO_ENOSYS),
        stmt(LD_W_ABS, 0),
        // From index 4, skip the n compares, ALLOW and USER_NOTIF.
        jump(JSET_K, X32_SYSCALL_BIT, (n + 2) as u8, 0),
    ];
    for (i, (_, nr)) in BROKERED_SYSCALLS.iter().enumerate() {
        // From compare i, skip the remaining compares and ALLOW.
        prog.push(jump(JEQ_K, *nr as u32, (n - i) as u8, 0));
    }
    prog.push(stmt(RET_K, RET_ALLOW));
    prog.push(stmt(RET_K, RET_USER_NOTIF));
    prog.push(stmt(RET_K, RET_ERRNO_ENOSYS));
    prog
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a seccomp program on (arch, nr) the way the kernel would, for
    /// the opcodes notify_filter emits.
    fn run(prog: &[sock_filter], arch: u32, nr: u32) -> u32 {
        let (mut acc, mut pc) = (0u32, 0usize);
        loop {
            let i = &prog[pc];
            pc += 1;
            let pick = |t: bool| usize::from(if t { i.jt } else { i.jf });
            match i.code {
                LD_W_ABS => acc = if i.k == 4 { arch } else { nr },
                JEQ_K => pc += pick(acc == i.k),
                JSET_K => pc += pick(acc & i.k != 0),
                RET_K => return i.k,
                c => panic!("opcode {c:#x}"),
            }
        }
    }

    #[test]
    fn filter_is_pinned() {
        let expected: Vec<(u16, u8, u8, u32)> = vec![
            (0x20, 0, 0, 4),
            (0x15, 1, 0, 0xc000_003e),
            (0x06, 0, 0, 0x0005_0026),
            (0x20, 0, 0, 0),
            (0x45, 15, 0, 0x4000_0000),
            (0x15, 13, 0, 2),   // open
            (0x15, 12, 0, 257), // openat
            (0x15, 11, 0, 437), // openat2
            (0x15, 10, 0, 85),  // creat
            (0x15, 9, 0, 4),    // stat
            (0x15, 8, 0, 6),    // lstat
            (0x15, 7, 0, 262),  // newfstatat
            (0x15, 6, 0, 332),  // statx
            (0x15, 5, 0, 21),   // access
            (0x15, 4, 0, 269),  // faccessat
            (0x15, 3, 0, 439),  // faccessat2
            (0x15, 2, 0, 89),   // readlink
            (0x15, 1, 0, 267),  // readlinkat
            (0x06, 0, 0, 0x7fff_0000),
            (0x06, 0, 0, 0x7fc0_0000),
            (0x06, 0, 0, 0x0005_0026),
        ];
        let got: Vec<_> = notify_filter()
            .iter()
            .map(|i| (i.code, i.jt, i.jf, i.k))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn filter_behaviour() {
        let f = notify_filter();
        const X86: u32 = AUDIT_ARCH_X86_64;
        for (name, nr) in BROKERED_SYSCALLS {
            assert_eq!(run(&f, X86, nr as u32), RET_USER_NOTIF, "{name}");
            // The same number through x32 or i386 never reaches a compare.
            assert_eq!(
                run(&f, X86, nr as u32 | X32_SYSCALL_BIT),
                RET_ERRNO_ENOSYS,
                "{name}"
            );
            assert_eq!(run(&f, 0x4000_0003, nr as u32), RET_ERRNO_ENOSYS, "{name}");
        }
        for nr in [
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_fstat,
            libc::SYS_execve,
            libc::SYS_close,
        ] {
            assert_eq!(run(&f, X86, nr as u32), RET_ALLOW);
        }
        // i386 open is 5 (x86-64 fstat): refused, not allowed.
        assert_eq!(run(&f, 0x4000_0003, 5), RET_ERRNO_ENOSYS);
    }
}
