//! Properties of `fdbroker run`'s pure system-call decoder
//! (`fdbroker::notify::decode`), which turns a trapped call's raw number and
//! six 64-bit arguments into what the broker acts on.
//!
//! The kernel reads `int` arguments (descriptors, flags, modes) as 32 bits and
//! drops the upper half, so a child can set junk there; the broker must read
//! them the same way, or a `dirfd` of `AT_FDCWD | junk` would name another
//! starting point for the broker than for the kernel (see SECURITY.md).

use fdbroker::notify::{
    AccessCall, BROKERED_SYSCALLS, ChmodCall, Dirfd, LinkCall, MkdirCall, OpenCall, Openat2Call,
    ReadlinkCall, RenameCall, StatCall, StatxCall, SymlinkCall, Syscall, UnlinkCall, UtimesCall,
    decode,
};
use proptest::prelude::*;

/// The argument positions each call reads as a C `int`.
fn int_args(nr: i64) -> &'static [usize] {
    match nr {
        libc::SYS_open => &[1, 2],
        libc::SYS_creat => &[1],
        libc::SYS_openat => &[0, 2, 3],
        libc::SYS_openat2 => &[0],
        libc::SYS_newfstatat => &[0, 3],
        libc::SYS_statx => &[0, 2, 3],
        libc::SYS_access => &[1],
        libc::SYS_faccessat => &[0, 2],
        libc::SYS_faccessat2 => &[0, 2, 3],
        libc::SYS_readlink => &[2],
        libc::SYS_readlinkat => &[0, 3],
        libc::SYS_memfd_create => &[1],
        libc::SYS_mkdirat => &[0],
        libc::SYS_unlinkat => &[0, 2],
        libc::SYS_renameat | libc::SYS_renameat2 => &[0, 2],
        libc::SYS_linkat => &[0, 2, 4],
        libc::SYS_symlinkat => &[1],
        libc::SYS_fchmod => &[0],
        libc::SYS_fchmodat => &[0],
        452 => &[0, 3],
        libc::SYS_futimesat => &[0],
        libc::SYS_utimensat => &[0, 3],
        _ => &[],
    }
}

fn dirfd_of(c: &Syscall) -> Option<Dirfd> {
    match *c {
        Syscall::Open(OpenCall { dirfd, .. })
        | Syscall::Openat2(Openat2Call { dirfd, .. })
        | Syscall::Stat(StatCall { dirfd, .. })
        | Syscall::Statx(StatxCall { dirfd, .. })
        | Syscall::Access(AccessCall { dirfd, .. })
        | Syscall::Readlink(ReadlinkCall { dirfd, .. })
        | Syscall::Mkdir(MkdirCall { dirfd, .. })
        | Syscall::Unlink(UnlinkCall { dirfd, .. })
        | Syscall::Rename(RenameCall {
            old_dirfd: dirfd, ..
        })
        | Syscall::Link(LinkCall {
            old_dirfd: dirfd, ..
        })
        | Syscall::Chmod(ChmodCall {
            dirfd,
            path_addr: Some(_),
            ..
        })
        | Syscall::Utimes(UtimesCall { dirfd, .. })
        | Syscall::Symlink(SymlinkCall {
            new_dirfd: dirfd, ..
        }) => Some(dirfd),
        // fchmod names a descriptor, never the working directory.
        Syscall::Chmod(ChmodCall {
            dirfd: Dirfd::Fd(fd),
            path_addr: None,
            ..
        }) => Some(if fd == libc::AT_FDCWD {
            Dirfd::Cwd
        } else {
            Dirfd::Fd(fd)
        }),
        _ => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Junk in the upper half of an int argument changes nothing.
    #[test]
    fn upper_halves_of_int_arguments_are_ignored(
        which in 0..BROKERED_SYSCALLS.len(),
        args in any::<[u64; 6]>(),
        junk in any::<[u32; 6]>(),
    ) {
        let (name, nr) = BROKERED_SYSCALLS[which];
        let mut dirty = args;
        for &i in int_args(nr) {
            dirty[i] = (args[i] & 0xffff_ffff) | (u64::from(junk[i]) << 32);
        }
        let clean = decode(nr, args);
        prop_assert!(clean.is_some(), "{name} must decode");
        prop_assert_eq!(clean, decode(nr, dirty));
    }

    /// AT_FDCWD, however spelt in the upper bits, is the working directory;
    /// every other value is that descriptor number.
    #[test]
    fn dirfd_is_read_as_the_kernel_reads_it(which in 0..BROKERED_SYSCALLS.len(), high in any::<u32>(), low in any::<i32>()) {
        let (_, nr) = BROKERED_SYSCALLS[which];
        // Calls with a dirfd have it first (symlinkat: second, after the
        // link's contents); the others always use the cwd.
        let at = usize::from(nr == libc::SYS_symlinkat);
        let has_dirfd = int_args(nr).first() == Some(&at);
        let mut args = [0u64; 6];
        args[at] = (u64::from(high) << 32) | u64::from(low as u32);
        let (_, call) = decode(nr, args).expect("brokered");
        let want = if !has_dirfd || low == libc::AT_FDCWD { Dirfd::Cwd } else { Dirfd::Fd(low) };
        // memfd_create takes no path at all.
        let want = (nr != libc::SYS_memfd_create).then_some(want);
        prop_assert_eq!(dirfd_of(&call), want);
    }

    /// Only the brokered numbers decode, and nothing panics.
    #[test]
    fn other_numbers_do_not_decode(nr in any::<i64>(), args in any::<[u64; 6]>()) {
        let brokered = BROKERED_SYSCALLS.iter().any(|(_, n)| *n == nr);
        prop_assert_eq!(decode(nr, args).is_some(), brokered);
    }
}
