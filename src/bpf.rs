//! Classic BPF for seccomp filters: the opcodes, `struct seccomp_data`
//! offsets, return values and `AUDIT_ARCH_*` numbers, the instruction
//! builders and the foreign-ABI prologue that fdbroker's hand-built programs
//! (the user-notification filter, the deny filter's dispatch) are made of.
//!
//! Everything here emits or names instructions; nothing installs them
//! (that is [`crate::confine::install`]).

pub use seccompiler::{BpfProgram, sock_filter};

// Opcodes (linux/bpf_common.h): class | size | mode, or class | op | source.
/// `BPF_LD | BPF_W | BPF_ABS`: load a 32-bit word of `struct seccomp_data`.
pub(crate) const LD_W_ABS: u16 = 0x20;
/// `BPF_JMP | BPF_JA`: jump forward by `k`.
pub(crate) const JMP_JA: u16 = 0x05;
/// `BPF_JMP | BPF_JEQ | BPF_K`.
pub(crate) const JMP_JEQ_K: u16 = 0x15;
/// `BPF_JMP | BPF_JGE | BPF_K`.
pub(crate) const JMP_JGE_K: u16 = 0x35;
/// `BPF_JMP | BPF_JSET | BPF_K`: jump if `A & k` is not zero.
pub(crate) const JMP_JSET_K: u16 = 0x45;
/// `BPF_RET | BPF_K`.
pub(crate) const RET_K: u16 = 0x06;

/// Offset of `nr` in `struct seccomp_data`.
pub(crate) const DATA_NR: u32 = 0;
/// Offset of `arch` in `struct seccomp_data`.
pub(crate) const DATA_ARCH: u32 = 4;

/// `SECCOMP_RET_ALLOW`.
pub(crate) const RET_ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
/// `SECCOMP_RET_KILL_PROCESS`.
pub(crate) const RET_KILL_PROCESS: u32 = libc::SECCOMP_RET_KILL_PROCESS;
/// `SECCOMP_RET_USER_NOTIF`.
pub(crate) const RET_USER_NOTIF: u32 = libc::SECCOMP_RET_USER_NOTIF;

/// `SECCOMP_RET_ERRNO` with `errno`, as seccompiler's `SeccompAction::Errno`.
pub(crate) const fn ret_errno(errno: i32) -> u32 {
    libc::SECCOMP_RET_ERRNO | (errno as u32 & libc::SECCOMP_RET_DATA)
}

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

/// An instruction without jump offsets.
pub(crate) const fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

/// A conditional jump: `jt` instructions forward when taken, `jf` when not.
pub(crate) const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// Returns `refuse` for a call whose `arch` is not `arch`:
///
/// ```text
/// 0: ld  [4]              ; seccomp_data.arch
/// 1: jeq #arch, 1, 0      ; → 3
/// 2: ret #refuse
/// ```
pub(crate) const fn arch_check(arch: u32, refuse: u32) -> [sock_filter; 3] {
    [
        stmt(LD_W_ABS, DATA_ARCH),
        jump(JMP_JEQ_K, arch, 1, 0),
        stmt(RET_K, refuse),
    ]
}

/// The prologue of a filter that refuses foreign system-call ABIs: any
/// `arch` but the native one returns `refuse`, and on x86-64 so does every
/// number with [`X32_SYSCALL_BIT`] set (x32 calls share `AUDIT_ARCH_X86_64`
/// and would slip past rules keyed on native numbers). On x86-64 the
/// accumulator holds the system call number afterwards:
///
/// ```text
/// 0: ld  [4]                ; seccomp_data.arch
/// 1: jeq #native, 1, 0      ; → 3
/// 2: ret #refuse
/// 3: ld  [0]                ; seccomp_data.nr (x86-64 only, as 4 and 5)
/// 4: jset #0x40000000, 0, 1 ; x32 bit → 5, else → 6
/// 5: ret #refuse
/// ```
pub(crate) fn foreign_abi_prologue(refuse: u32) -> Vec<sock_filter> {
    let mut prog = arch_check(native_audit_arch(), refuse).to_vec();
    if cfg!(target_arch = "x86_64") {
        prog.extend([
            stmt(LD_W_ABS, DATA_NR),
            jump(JMP_JSET_K, X32_SYSCALL_BIT, 0, 1),
            stmt(RET_K, refuse),
        ]);
    }
    prog
}

/// A classic-BPF interpreter for the opcodes fdbroker and seccompiler emit,
/// running a program as the kernel does.
#[cfg(test)]
pub(crate) mod vm {
    use super::*;

    /// `BPF_JMP | BPF_JGT | BPF_K` (seccompiler's argument comparisons).
    const JMP_JGT_K: u16 = 0x25;
    /// `BPF_ALU | BPF_AND | BPF_K` (seccompiler's masked comparisons).
    const ALU_AND_K: u16 = 0x54;
    /// Offset of `args[0]` in `struct seccomp_data`.
    const DATA_ARGS: usize = 16;

    /// Where a run ended: the value returned, if it got that far, and the
    /// instructions executed.
    struct Run {
        ret: Option<u32>,
        steps: usize,
    }

    /// Runs `prog`. With `args`, every load is served and an opcode not
    /// emulated panics. Without, the run is the kernel's check of whether a
    /// call is always allowed (its action cache): only `nr` and `arch` are
    /// known, and it stops, with no result, at anything else.
    fn exec(prog: &[sock_filter], arch: u32, nr: u32, args: Option<[u64; 6]>) -> Run {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_ne_bytes());
        data[4..8].copy_from_slice(&arch.to_ne_bytes());
        for (i, a) in args.unwrap_or_default().iter().enumerate() {
            let at = DATA_ARGS + 8 * i;
            data[at..at + 8].copy_from_slice(&a.to_ne_bytes());
        }
        let (mut acc, mut pc, mut steps) = (0u32, 0usize, 0usize);
        loop {
            let insn = &prog[pc];
            pc += 1;
            steps += 1;
            let k = insn.k;
            let cond = |taken: bool| usize::from(if taken { insn.jt } else { insn.jf });
            match insn.code {
                LD_W_ABS if args.is_some() || k == DATA_NR || k == DATA_ARCH => {
                    let o = k as usize;
                    acc = u32::from_ne_bytes(data[o..o + 4].try_into().unwrap());
                }
                ALU_AND_K => acc &= k,
                JMP_JA => pc += k as usize,
                JMP_JEQ_K => pc += cond(acc == k),
                JMP_JGT_K => pc += cond(acc > k),
                JMP_JGE_K => pc += cond(acc >= k),
                JMP_JSET_K => pc += cond(acc & k != 0),
                RET_K => {
                    return Run {
                        ret: Some(k),
                        steps,
                    };
                }
                other if args.is_some() => panic!("opcode {other:#x} not emulated"),
                _ => return Run { ret: None, steps },
            }
        }
    }

    /// Runs `prog` on `(arch, nr, args)` the way the kernel would.
    pub(crate) fn run(prog: &[sock_filter], arch: u32, nr: i64, args: [u64; 6]) -> u32 {
        let ret = exec(prog, arch, nr as i32 as u32, Some(args)).ret;
        ret.expect("a run with arguments ends in a ret")
    }

    /// Runs `prog` as the kernel does when it decides whether a call can be
    /// cached as always allowed: `arch` and `nr` known, nothing else; `None`
    /// when the program loads an argument or uses another opcode.
    pub(crate) fn const_result(prog: &[sock_filter], arch: u32, nr: u32) -> Option<u32> {
        exec(prog, arch, nr, None).ret
    }

    /// Steps the kernel's cache check runs before it gives up or answers.
    pub(crate) fn const_steps(prog: &[sock_filter], arch: u32, nr: u32) -> usize {
        exec(prog, arch, nr, None).steps
    }

    #[test]
    fn interpreter_follows_jumps_and_loads() {
        let prog = [
            stmt(LD_W_ABS, DATA_ARGS as u32),
            stmt(ALU_AND_K, 0xf),
            jump(JMP_JGT_K, 2, 0, 1),
            stmt(RET_K, ret_errno(1)),
            stmt(RET_K, RET_ALLOW),
        ];
        assert_eq!(run(&prog, 0, 0, [0x13, 0, 0, 0, 0, 0]), ret_errno(1));
        assert_eq!(run(&prog, 0, 0, [0x12, 0, 0, 0, 0, 0]), RET_ALLOW);
        // The cache check stops at the argument load, the first step.
        assert_eq!(const_result(&prog, 0, 0), None);
        assert_eq!(const_steps(&prog, 0, 0), 1);
    }
}

#[cfg(test)]
mod tests {
    use super::vm::{const_result, run};
    use super::*;

    #[test]
    fn constants_match_the_kernel_headers() {
        assert_eq!(RET_ALLOW, 0x7fff_0000);
        assert_eq!(RET_KILL_PROCESS, 0x8000_0000);
        assert_eq!(RET_USER_NOTIF, 0x7fc0_0000);
        assert_eq!(ret_errno(libc::ENOSYS), 0x0005_0026);
        assert_eq!(AUDIT_ARCH_X86_64, 0xc000_003e);
        assert_eq!(AUDIT_ARCH_I386, 0x4000_0003);
    }

    #[test]
    fn prologue_refuses_foreign_abis() {
        let mut prog = foreign_abi_prologue(RET_KILL_PROCESS);
        prog.push(stmt(RET_K, RET_ALLOW));
        let native = native_audit_arch();
        assert_eq!(run(&prog, native, 1, [0; 6]), RET_ALLOW);
        assert_eq!(run(&prog, AUDIT_ARCH_I386, 1, [0; 6]), RET_KILL_PROCESS);
        if cfg!(target_arch = "x86_64") {
            let x32 = i64::from(X32_SYSCALL_BIT) | 1;
            assert_eq!(run(&prog, native, x32, [0; 6]), RET_KILL_PROCESS);
        }
        assert_eq!(const_result(&prog, native, 1), Some(RET_ALLOW));
    }
}
