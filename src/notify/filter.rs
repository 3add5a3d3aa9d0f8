//! The user-notification filter: which system calls stop in the kernel and
//! wait for the broker.

use crate::bpf::{
    AUDIT_ARCH_X86_64, DATA_NR, JMP_JEQ_K, JMP_JSET_K, LD_W_ABS, RET_ALLOW, RET_K, RET_USER_NOTIF,
    X32_SYSCALL_BIT, arch_check, jump, ret_errno, sock_filter, stmt,
};

use super::BROKERED_SYSCALLS;

/// What a call of a foreign ABI gets from the notification filter.
const RET_ERRNO_ENOSYS: u32 = ret_errno(libc::ENOSYS);

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
///  4: jset #0x40000000, 36, 0  ; x32 → 41
///  5: jeq #2, 34, 0            ; open → 40
///  ...                         ; one jeq per brokered call
/// 38: jeq #280, 1, 0           ; utimensat → 40
/// 39: ret #ALLOW
/// 40: ret #USER_NOTIF
/// 41: ret #ERRNO(ENOSYS)
/// ```
///
/// Install it with `SECCOMP_FILTER_FLAG_NEW_LISTENER`
/// ([`crate::confine::install_with_listener`]).
pub fn notify_filter() -> Vec<sock_filter> {
    let n = BROKERED_SYSCALLS.len();
    let mut prog = arch_check(AUDIT_ARCH_X86_64, RET_ERRNO_ENOSYS).to_vec();
    prog.extend([
        stmt(LD_W_ABS, DATA_NR),
        // From index 4, skip the n compares, ALLOW and USER_NOTIF.
        jump(JMP_JSET_K, X32_SYSCALL_BIT, (n + 2) as u8, 0),
    ]);
    for (i, (_, nr)) in BROKERED_SYSCALLS.iter().enumerate() {
        // From compare i, skip the remaining compares and ALLOW.
        prog.push(jump(JMP_JEQ_K, *nr as u32, (n - i) as u8, 0));
    }
    prog.push(stmt(RET_K, RET_ALLOW));
    prog.push(stmt(RET_K, RET_USER_NOTIF));
    prog.push(stmt(RET_K, RET_ERRNO_ENOSYS));
    prog
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf::AUDIT_ARCH_I386;
    use crate::bpf::vm::run;

    #[test]
    fn filter_is_pinned() {
        let expected: Vec<(u16, u8, u8, u32)> = vec![
            (0x20, 0, 0, 4),
            (0x15, 1, 0, 0xc000_003e),
            (0x06, 0, 0, 0x0005_0026),
            (0x20, 0, 0, 0),
            (0x45, 36, 0, 0x4000_0000),
            (0x15, 34, 0, 2),   // open
            (0x15, 33, 0, 257), // openat
            (0x15, 32, 0, 437), // openat2
            (0x15, 31, 0, 85),  // creat
            (0x15, 30, 0, 4),   // stat
            (0x15, 29, 0, 6),   // lstat
            (0x15, 28, 0, 262), // newfstatat
            (0x15, 27, 0, 332), // statx
            (0x15, 26, 0, 21),  // access
            (0x15, 25, 0, 269), // faccessat
            (0x15, 24, 0, 439), // faccessat2
            (0x15, 23, 0, 89),  // readlink
            (0x15, 22, 0, 267), // readlinkat
            (0x15, 21, 0, 319), // memfd_create
            (0x15, 20, 0, 83),  // mkdir
            (0x15, 19, 0, 258), // mkdirat
            (0x15, 18, 0, 87),  // unlink
            (0x15, 17, 0, 263), // unlinkat
            (0x15, 16, 0, 84),  // rmdir
            (0x15, 15, 0, 82),  // rename
            (0x15, 14, 0, 264), // renameat
            (0x15, 13, 0, 316), // renameat2
            (0x15, 12, 0, 86),  // link
            (0x15, 11, 0, 265), // linkat
            (0x15, 10, 0, 88),  // symlink
            (0x15, 9, 0, 266),  // symlinkat
            (0x15, 8, 0, 90),   // chmod
            (0x15, 7, 0, 91),   // fchmod
            (0x15, 6, 0, 268),  // fchmodat
            (0x15, 5, 0, 452),  // fchmodat2
            (0x15, 4, 0, 132),  // utime
            (0x15, 3, 0, 235),  // utimes
            (0x15, 2, 0, 261),  // futimesat
            (0x15, 1, 0, 280),  // utimensat
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
        let x32 = i64::from(X32_SYSCALL_BIT);
        for (name, nr) in BROKERED_SYSCALLS {
            assert_eq!(run(&f, X86, nr, [0; 6]), RET_USER_NOTIF, "{name}");
            // The same number through x32 or i386 never reaches a compare.
            assert_eq!(run(&f, X86, nr | x32, [0; 6]), RET_ERRNO_ENOSYS, "{name}");
            assert_eq!(
                run(&f, AUDIT_ARCH_I386, nr, [0; 6]),
                RET_ERRNO_ENOSYS,
                "{name}"
            );
        }
        for nr in [
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_fstat,
            libc::SYS_execve,
            libc::SYS_close,
        ] {
            assert_eq!(run(&f, X86, nr, [0; 6]), RET_ALLOW);
        }
        // i386 open is 5 (x86-64 fstat): refused, not allowed.
        assert_eq!(run(&f, AUDIT_ARCH_I386, 5, [0; 6]), RET_ERRNO_ENOSYS);
    }
}
