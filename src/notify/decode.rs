//! Decoding the intercepted system calls: which numbers are brokered, what
//! their raw arguments mean, and which argument values the kernel itself
//! would refuse. Pure: pointers are not followed.

use super::dircalls::{
    ChmodCall, LinkCall, MkdirCall, RenameCall, SYS_FCHMODAT2, SymlinkCall, UnlinkCall, UtimesCall,
    decode_dir,
};
use crate::resolve::FollowSymlinks;
use nix::errno::Errno;

/// The system calls the notification filter sends to the broker, by name and
/// x86-64 number.
pub const BROKERED_SYSCALLS: [(&str, i64); 34] = [
    ("open", libc::SYS_open),
    ("openat", libc::SYS_openat),
    ("openat2", libc::SYS_openat2),
    ("creat", libc::SYS_creat),
    ("stat", libc::SYS_stat),
    ("lstat", libc::SYS_lstat),
    ("newfstatat", libc::SYS_newfstatat),
    ("statx", libc::SYS_statx),
    ("access", libc::SYS_access),
    ("faccessat", libc::SYS_faccessat),
    ("faccessat2", libc::SYS_faccessat2),
    ("readlink", libc::SYS_readlink),
    ("readlinkat", libc::SYS_readlinkat),
    ("memfd_create", libc::SYS_memfd_create),
    ("mkdir", libc::SYS_mkdir),
    ("mkdirat", libc::SYS_mkdirat),
    ("unlink", libc::SYS_unlink),
    ("unlinkat", libc::SYS_unlinkat),
    ("rmdir", libc::SYS_rmdir),
    ("rename", libc::SYS_rename),
    ("renameat", libc::SYS_renameat),
    ("renameat2", libc::SYS_renameat2),
    ("link", libc::SYS_link),
    ("linkat", libc::SYS_linkat),
    ("symlink", libc::SYS_symlink),
    ("symlinkat", libc::SYS_symlinkat),
    ("chmod", libc::SYS_chmod),
    ("fchmod", libc::SYS_fchmod),
    ("fchmodat", libc::SYS_fchmodat),
    ("fchmodat2", SYS_FCHMODAT2),
    ("utime", libc::SYS_utime),
    ("utimes", libc::SYS_utimes),
    ("futimesat", libc::SYS_futimesat),
    ("utimensat", libc::SYS_utimensat),
];

/// Where a relative path starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dirfd {
    /// `AT_FDCWD`, or a call without a `dirfd` argument: the working directory.
    Cwd,
    /// A descriptor number in the caller.
    Fd(i32),
}

impl Dirfd {
    pub(super) fn from_arg(arg: u64) -> Dirfd {
        // The kernel reads dirfd as an int: only the low 32 bits count.
        match arg as u32 as i32 {
            libc::AT_FDCWD => Dirfd::Cwd,
            fd => Dirfd::Fd(fd),
        }
    }
}

/// `open`, `openat`, `creat` (and `openat2` once its `struct open_how` is
/// read, [`Openat2Call::open_call`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenCall {
    /// Start of a relative path.
    pub dirfd: Dirfd,
    /// Address of the path.
    pub path_addr: u64,
    /// open(2) flags.
    pub flags: i32,
    /// Mode for a created file.
    pub mode: u32,
}

/// `openat2`: flags, mode and resolve flags are in a `struct open_how`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Openat2Call {
    /// Start of a relative path.
    pub dirfd: Dirfd,
    /// Address of the path.
    pub path_addr: u64,
    /// Address of the `struct open_how`.
    pub how_addr: u64,
    /// Its size as passed.
    pub how_size: u64,
}

/// `stat`, `lstat`, `newfstatat`: a `struct stat` is written to `buf_addr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatCall {
    /// Start of a relative path.
    pub dirfd: Dirfd,
    /// Address of the path.
    pub path_addr: u64,
    /// Address of the caller's `struct stat`.
    pub buf_addr: u64,
    /// `AT_*` flags (`lstat` is `AT_SYMLINK_NOFOLLOW`).
    pub flags: i32,
}

/// `statx`: a `struct statx` is written to `buf_addr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatxCall {
    /// Start of a relative path.
    pub dirfd: Dirfd,
    /// Address of the path (NULL allowed with `AT_EMPTY_PATH`).
    pub path_addr: u64,
    /// `AT_*` flags.
    pub flags: i32,
    /// `STATX_*` mask asked for.
    pub mask: u32,
    /// Address of the caller's `struct statx`.
    pub buf_addr: u64,
}

/// `access`, `faccessat`, `faccessat2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessCall {
    /// Start of a relative path.
    pub dirfd: Dirfd,
    /// Address of the path.
    pub path_addr: u64,
    /// `F_OK` or `R_OK|W_OK|X_OK`.
    pub mode: i32,
    /// `AT_*` flags (0 but for `faccessat2`).
    pub flags: i32,
}

/// `readlink`, `readlinkat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadlinkCall {
    /// Start of a relative path.
    pub dirfd: Dirfd,
    /// Address of the path.
    pub path_addr: u64,
    /// Address of the caller's buffer.
    pub buf_addr: u64,
    /// Its size.
    pub buf_size: i32,
}

/// `memfd_create`: the broker makes the memfd, never executable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemfdCall {
    /// Address of the name.
    pub name_addr: u64,
    /// `MFD_*` flags.
    pub flags: u32,
}

/// What a brokered system call asks, decoded from its raw arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Syscall {
    /// `open`, `openat`, `creat`.
    Open(OpenCall),
    /// `openat2`.
    Openat2(Openat2Call),
    /// `stat`, `lstat`, `newfstatat`.
    Stat(StatCall),
    /// `statx`.
    Statx(StatxCall),
    /// `access`, `faccessat`, `faccessat2`.
    Access(AccessCall),
    /// `readlink`, `readlinkat`.
    Readlink(ReadlinkCall),
    /// `memfd_create`.
    MemfdCreate(MemfdCall),
    /// `mkdir`, `mkdirat`.
    Mkdir(MkdirCall),
    /// `unlink`, `unlinkat`, `rmdir`.
    Unlink(UnlinkCall),
    /// `rename`, `renameat`, `renameat2`.
    Rename(RenameCall),
    /// `link`, `linkat`.
    Link(LinkCall),
    /// `symlink`, `symlinkat`.
    Symlink(SymlinkCall),
    /// `chmod`, `fchmod`, `fchmodat`, `fchmodat2`.
    Chmod(ChmodCall),
    /// `utime`, `utimes`, `futimesat`, `utimensat`.
    Utimes(UtimesCall),
}

/// Decodes brokered system call `nr` with raw arguments `args` into its
/// name and [`Syscall`]; `None` for any other number.
///
/// ```
/// use fdbroker::notify::{decode, Dirfd, OpenCall, Syscall};
/// let (name, call) = decode(libc::SYS_openat, [libc::AT_FDCWD as u64, 0x1000, 0o2, 0, 0, 0]).unwrap();
/// assert_eq!(name, "openat");
/// assert_eq!(
///     call,
///     Syscall::Open(OpenCall { dirfd: Dirfd::Cwd, path_addr: 0x1000, flags: libc::O_RDWR, mode: 0 })
/// );
/// assert!(decode(libc::SYS_read, [0; 6]).is_none());
/// ```
pub fn decode(nr: i64, args: [u64; 6]) -> Option<(&'static str, Syscall)> {
    let name = BROKERED_SYSCALLS.iter().find(|(_, n)| *n == nr)?.0;
    let int = |a: u64| a as u32 as i32;
    let call = match nr {
        libc::SYS_open => Syscall::Open(OpenCall {
            dirfd: Dirfd::Cwd,
            path_addr: args[0],
            flags: int(args[1]),
            mode: args[2] as u32,
        }),
        libc::SYS_creat => Syscall::Open(OpenCall {
            dirfd: Dirfd::Cwd,
            path_addr: args[0],
            flags: libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC,
            mode: args[1] as u32,
        }),
        libc::SYS_openat => Syscall::Open(OpenCall {
            dirfd: Dirfd::from_arg(args[0]),
            path_addr: args[1],
            flags: int(args[2]),
            mode: args[3] as u32,
        }),
        libc::SYS_openat2 => Syscall::Openat2(Openat2Call {
            dirfd: Dirfd::from_arg(args[0]),
            path_addr: args[1],
            how_addr: args[2],
            how_size: args[3],
        }),
        libc::SYS_stat => Syscall::Stat(StatCall {
            dirfd: Dirfd::Cwd,
            path_addr: args[0],
            buf_addr: args[1],
            flags: 0,
        }),
        libc::SYS_lstat => Syscall::Stat(StatCall {
            dirfd: Dirfd::Cwd,
            path_addr: args[0],
            buf_addr: args[1],
            flags: libc::AT_SYMLINK_NOFOLLOW,
        }),
        libc::SYS_newfstatat => Syscall::Stat(StatCall {
            dirfd: Dirfd::from_arg(args[0]),
            path_addr: args[1],
            buf_addr: args[2],
            flags: int(args[3]),
        }),
        libc::SYS_statx => Syscall::Statx(StatxCall {
            dirfd: Dirfd::from_arg(args[0]),
            path_addr: args[1],
            flags: int(args[2]),
            mask: args[3] as u32,
            buf_addr: args[4],
        }),
        libc::SYS_access => Syscall::Access(AccessCall {
            dirfd: Dirfd::Cwd,
            path_addr: args[0],
            mode: int(args[1]),
            flags: 0,
        }),
        libc::SYS_faccessat => Syscall::Access(AccessCall {
            dirfd: Dirfd::from_arg(args[0]),
            path_addr: args[1],
            mode: int(args[2]),
            flags: 0,
        }),
        libc::SYS_faccessat2 => Syscall::Access(AccessCall {
            dirfd: Dirfd::from_arg(args[0]),
            path_addr: args[1],
            mode: int(args[2]),
            flags: int(args[3]),
        }),
        libc::SYS_readlink => Syscall::Readlink(ReadlinkCall {
            dirfd: Dirfd::Cwd,
            path_addr: args[0],
            buf_addr: args[1],
            buf_size: int(args[2]),
        }),
        libc::SYS_readlinkat => Syscall::Readlink(ReadlinkCall {
            dirfd: Dirfd::from_arg(args[0]),
            path_addr: args[1],
            buf_addr: args[2],
            buf_size: int(args[3]),
        }),
        libc::SYS_memfd_create => Syscall::MemfdCreate(MemfdCall {
            name_addr: args[0],
            flags: args[1] as u32,
        }),
        _ => decode_dir(nr, args)?,
    };
    Some((name, call))
}

/// Size of the first `struct open_how`: `u64 flags, mode, resolve`.
pub const OPEN_HOW_SIZE_VER0: usize = 24;
/// The largest `struct open_how` openat2(2) accepts (a page).
pub const OPEN_HOW_SIZE_MAX: usize = 4096;

// `RESOLVE_*` (linux/openat2.h).
const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_CACHED: u64 = 0x20;
const RESOLVE_KNOWN: u64 = 0x3f;

impl Openat2Call {
    /// How many bytes of `struct open_how` to read: its size as passed.
    /// `EINVAL` below the first version, `E2BIG` above a page (the kernel's
    /// answers).
    pub fn how_len(&self) -> Result<usize, Errno> {
        // The struct is extensible: a larger size is fine as long as the
        // extra bytes are zero (checked by `open_call`).
        if self.how_size < OPEN_HOW_SIZE_VER0 as u64 {
            return Err(Errno::EINVAL);
        }
        if self.how_size > OPEN_HOW_SIZE_MAX as u64 {
            return Err(Errno::E2BIG);
        }
        Ok(self.how_size as usize)
    }

    /// The open this call asks for, given the bytes of its `struct
    /// open_how`, or the errno openat2(2) answers: `E2BIG` for non-zero
    /// bytes past the fields known, `EINVAL` for flags, mode or resolve flags
    /// the kernel refuses, `EAGAIN` for `RESOLVE_CACHED` (callers retry
    /// without it), `ENOSYS` for the resolve flags the broker does not
    /// emulate (callers fall back to openat(2)).
    pub fn open_call(&self, how: &[u8]) -> Result<OpenCall, Errno> {
        let (known, extra) = how
            .split_at_checked(OPEN_HOW_SIZE_VER0)
            .ok_or(Errno::EINVAL)?;
        if extra.iter().any(|&b| b != 0) {
            return Err(Errno::E2BIG);
        }
        let word =
            |i: usize| u64::from_ne_bytes(known[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
        let (flags, mode, resolve) = (word(0), word(1), word(2));
        let flags = i32::try_from(flags).map_err(|_| Errno::EINVAL)?;
        let mode = u32::try_from(mode).map_err(|_| Errno::EINVAL)?;
        if mode & !0o7777 != 0 || (mode != 0 && flags & (libc::O_CREAT | libc::O_TMPFILE) == 0) {
            return Err(Errno::EINVAL);
        }
        if resolve & !RESOLVE_KNOWN != 0 {
            return Err(Errno::EINVAL);
        }
        if resolve & RESOLVE_CACHED != 0 {
            // "Only from the cache": say it was not, callers retry without.
            return Err(Errno::EAGAIN);
        }
        if resolve & !RESOLVE_NO_MAGICLINKS != 0 {
            // RESOLVE_BENEATH, IN_ROOT, NO_XDEV, NO_SYMLINKS are not
            // emulated; ENOSYS sends callers to their openat(2) fallback.
            // NO_MAGICLINKS is what the broker always does.
            return Err(Errno::ENOSYS);
        }
        Ok(OpenCall {
            dirfd: self.dirfd,
            path_addr: self.path_addr,
            flags,
            mode,
        })
    }
}

/// The `AT_*` flags `newfstatat` accepts.
const STAT_FLAGS: i32 = libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH | libc::AT_NO_AUTOMOUNT;

impl StatCall {
    /// `EINVAL` for flags `newfstatat` does not know.
    pub fn check(&self) -> Result<(), Errno> {
        if self.flags & !STAT_FLAGS != 0 {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    /// Whether a final symbolic link is followed.
    pub fn follow(&self) -> FollowSymlinks {
        FollowSymlinks::from_at_flags(self.flags)
    }

    /// Whether an empty path names `dirfd` itself.
    pub fn empty_path(&self) -> bool {
        self.flags & libc::AT_EMPTY_PATH != 0
    }
}

impl StatxCall {
    /// `EINVAL` for flags `statx` does not know, both sync types at once,
    /// or a reserved mask bit.
    pub fn check(&self) -> Result<(), Errno> {
        let sync = libc::AT_STATX_SYNC_TYPE;
        if self.flags & sync == sync
            || self.mask & libc::STATX__RESERVED as u32 != 0
            || self.flags & !(STAT_FLAGS | sync) != 0
        {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    /// The same request in `newfstatat`'s terms (its sync flags and mask
    /// make no difference to what the broker answers).
    pub fn stat_call(&self) -> StatCall {
        StatCall {
            dirfd: self.dirfd,
            path_addr: self.path_addr,
            buf_addr: self.buf_addr,
            flags: self.flags,
        }
    }
}

impl AccessCall {
    /// `EINVAL` for flags `faccessat2` does not know.
    pub fn check(&self) -> Result<(), Errno> {
        if self.flags & !(libc::AT_EACCESS | libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    /// Whether an empty path names `dirfd` itself.
    pub fn empty_path(&self) -> bool {
        self.flags & libc::AT_EMPTY_PATH != 0
    }
}

impl ReadlinkCall {
    /// `EINVAL` for a buffer size that is not positive.
    pub fn check(&self) -> Result<(), Errno> {
        if self.buf_size <= 0 {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }
}

/// The longest memfd name, without its NUL (`NAME_MAX` less `memfd:`).
pub const MFD_NAME_MAX: usize = 249;

// `MFD_*` (linux/memfd.h), besides those libc has.
pub(super) const MFD_NOEXEC_SEAL: u32 = 0x8;
const MFD_EXEC: u32 = 0x10;
const MFD_HUGE_BITS: u32 = 0x3f << 26;

impl MemfdCall {
    /// The flags the broker creates the memfd with, or the errno
    /// memfd_create(2) answers: `EINVAL` for unknown flags (a huge page
    /// size without `MFD_HUGETLB`) and for `MFD_EXEC` with
    /// `MFD_NOEXEC_SEAL`; `EACCES` for `MFD_EXEC`, as the kernel answers
    /// where `vm.memfd_noexec` is 2. What is created is never executable:
    /// `MFD_NOEXEC_SEAL` is always added.
    pub fn noexec_flags(&self) -> Result<u32, Errno> {
        let known = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING | libc::MFD_HUGETLB;
        let known = known | MFD_NOEXEC_SEAL | MFD_EXEC;
        let allowed = if self.flags & libc::MFD_HUGETLB != 0 {
            known | MFD_HUGE_BITS
        } else {
            known
        };
        if self.flags & !allowed != 0 {
            return Err(Errno::EINVAL);
        }
        if self.flags & MFD_EXEC != 0 {
            return Err(if self.flags & MFD_NOEXEC_SEAL != 0 {
                Errno::EINVAL
            } else {
                Errno::EACCES
            });
        }
        Ok(self.flags | MFD_NOEXEC_SEAL)
    }

    /// Whether the caller asked for `MFD_CLOEXEC`.
    pub fn cloexec(&self) -> bool {
        self.flags & libc::MFD_CLOEXEC != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        let at = |fd: i32| fd as u32 as u64;
        assert_eq!(
            decode(libc::SYS_creat, [0x10, 0o644, 0, 0, 0, 0]),
            Some((
                "creat",
                Syscall::Open(OpenCall {
                    dirfd: Dirfd::Cwd,
                    path_addr: 0x10,
                    flags: libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC,
                    mode: 0o644
                })
            ))
        );
        // Upper halves of int arguments are ignored, as the kernel does.
        assert_eq!(
            decode(
                libc::SYS_openat,
                [at(3) | 0xffff_0000_0000_0000, 0x10, 0x1_0000_0000, 0, 0, 0]
            ),
            Some((
                "openat",
                Syscall::Open(OpenCall {
                    dirfd: Dirfd::Fd(3),
                    path_addr: 0x10,
                    flags: 0,
                    mode: 0
                })
            ))
        );
        assert_eq!(
            decode(libc::SYS_lstat, [1, 2, 0, 0, 0, 0]),
            Some((
                "lstat",
                Syscall::Stat(StatCall {
                    dirfd: Dirfd::Cwd,
                    path_addr: 1,
                    buf_addr: 2,
                    flags: libc::AT_SYMLINK_NOFOLLOW
                })
            ))
        );
        assert_eq!(
            decode(
                libc::SYS_newfstatat,
                [at(libc::AT_FDCWD), 1, 2, libc::AT_EMPTY_PATH as u64, 0, 0]
            ),
            Some((
                "newfstatat",
                Syscall::Stat(StatCall {
                    dirfd: Dirfd::Cwd,
                    path_addr: 1,
                    buf_addr: 2,
                    flags: libc::AT_EMPTY_PATH
                })
            ))
        );
        assert_eq!(
            decode(libc::SYS_statx, [at(5), 1, 0x100, 0x7ff, 9, 0]),
            Some((
                "statx",
                Syscall::Statx(StatxCall {
                    dirfd: Dirfd::Fd(5),
                    path_addr: 1,
                    flags: 0x100,
                    mask: 0x7ff,
                    buf_addr: 9
                })
            ))
        );
        assert_eq!(
            decode(libc::SYS_faccessat2, [at(-1), 1, 4, 0x200, 0, 0]),
            Some((
                "faccessat2",
                Syscall::Access(AccessCall {
                    dirfd: Dirfd::Fd(-1),
                    path_addr: 1,
                    mode: 4,
                    flags: 0x200
                })
            ))
        );
        assert_eq!(
            decode(libc::SYS_readlink, [1, 2, 64, 0, 0, 0]),
            Some((
                "readlink",
                Syscall::Readlink(ReadlinkCall {
                    dirfd: Dirfd::Cwd,
                    path_addr: 1,
                    buf_addr: 2,
                    buf_size: 64
                })
            ))
        );
        assert_eq!(
            decode(libc::SYS_openat2, [at(libc::AT_FDCWD), 1, 2, 24, 0, 0]),
            Some((
                "openat2",
                Syscall::Openat2(Openat2Call {
                    dirfd: Dirfd::Cwd,
                    path_addr: 1,
                    how_addr: 2,
                    how_size: 24
                })
            ))
        );
        for (name, nr) in BROKERED_SYSCALLS {
            assert_eq!(decode(nr, [0; 6]).map(|d| d.0), Some(name));
        }
        assert_eq!(decode(libc::SYS_execve, [0; 6]), None);
        assert_eq!(decode(-1, [0; 6]), None);
    }

    fn openat2(how_size: u64) -> Openat2Call {
        Openat2Call {
            dirfd: Dirfd::Fd(7),
            path_addr: 0x10,
            how_addr: 0x20,
            how_size,
        }
    }

    /// The bytes of a `struct open_how` of `size` bytes.
    fn how(flags: u64, mode: u64, resolve: u64, size: usize) -> Vec<u8> {
        let mut b = vec![0u8; size];
        for (i, w) in [flags, mode, resolve].into_iter().enumerate() {
            b[i * 8..i * 8 + 8].copy_from_slice(&w.to_ne_bytes());
        }
        b
    }

    #[test]
    fn open_how_size() {
        assert_eq!(openat2(0).how_len(), Err(Errno::EINVAL));
        assert_eq!(openat2(23).how_len(), Err(Errno::EINVAL));
        assert_eq!(openat2(24).how_len(), Ok(24));
        assert_eq!(openat2(32).how_len(), Ok(32));
        assert_eq!(openat2(4096).how_len(), Ok(4096));
        assert_eq!(openat2(4097).how_len(), Err(Errno::E2BIG));
        assert_eq!(openat2(u64::MAX).how_len(), Err(Errno::E2BIG));
    }

    #[test]
    fn open_how_fields() {
        let call = openat2(24);
        let creat = (libc::O_CREAT | libc::O_WRONLY) as u64;
        assert_eq!(
            call.open_call(&how(creat, 0o640, 0, 24)),
            Ok(OpenCall {
                dirfd: Dirfd::Fd(7),
                path_addr: 0x10,
                flags: libc::O_CREAT | libc::O_WRONLY,
                mode: 0o640
            })
        );
        let open = |flags: u64, mode: u64, resolve: u64| {
            call.open_call(&how(flags, mode, resolve, 24))
                .map(|c| (c.flags, c.mode))
        };
        // A mode only with O_CREAT or O_TMPFILE, and only permission bits.
        assert_eq!(open(0, 0o600, 0), Err(Errno::EINVAL));
        assert_eq!(
            open(libc::O_TMPFILE as u64, 0o600, 0),
            Ok((libc::O_TMPFILE, 0o600))
        );
        assert_eq!(open(creat, 0o10000, 0), Err(Errno::EINVAL));
        assert_eq!(open(creat, 1 << 32, 0), Err(Errno::EINVAL));
        // Flags beyond an int.
        assert_eq!(open(1 << 32, 0, 0), Err(Errno::EINVAL));
        // Resolve flags: NO_MAGICLINKS is what the broker does anyway.
        assert_eq!(open(0, 0, 0x02), Ok((0, 0)));
        assert_eq!(open(0, 0, 0x40), Err(Errno::EINVAL));
        assert_eq!(open(0, 0, 1 << 63), Err(Errno::EINVAL));
        assert_eq!(open(0, 0, 0x20), Err(Errno::EAGAIN));
        assert_eq!(open(0, 0, 0x20 | 0x08), Err(Errno::EAGAIN));
        for unemulated in [0x01, 0x04, 0x08, 0x10] {
            assert_eq!(
                open(0, 0, unemulated),
                Err(Errno::ENOSYS),
                "{unemulated:#x}"
            );
            assert_eq!(open(0, 0, unemulated | 0x02), Err(Errno::ENOSYS));
        }
    }

    #[test]
    fn open_how_extensions() {
        let call = openat2(64);
        // Zero bytes past the known fields are fine, anything else is E2BIG.
        assert_eq!(call.open_call(&how(0, 0, 0, 64)).map(|c| c.flags), Ok(0));
        let mut extended = how(0, 0, 0, 64);
        extended[63] = 1;
        assert_eq!(call.open_call(&extended), Err(Errno::E2BIG));
        extended[24] = 1;
        extended[63] = 0;
        assert_eq!(call.open_call(&extended), Err(Errno::E2BIG));
        // Fewer bytes than the first version never reach the fields.
        assert_eq!(call.open_call(&[0; 23]), Err(Errno::EINVAL));
        assert_eq!(call.open_call(&[]), Err(Errno::EINVAL));
    }

    #[test]
    fn stat_flags() {
        let stat = |flags: i32| StatCall {
            dirfd: Dirfd::Cwd,
            path_addr: 1,
            buf_addr: 2,
            flags,
        };
        for ok in [
            0,
            libc::AT_SYMLINK_NOFOLLOW,
            libc::AT_EMPTY_PATH | libc::AT_NO_AUTOMOUNT,
        ] {
            assert_eq!(stat(ok).check(), Ok(()), "{ok:#x}");
        }
        for bad in [libc::AT_STATX_FORCE_SYNC, libc::AT_EACCESS, 1 << 30] {
            assert_eq!(stat(bad).check(), Err(Errno::EINVAL), "{bad:#x}");
        }
        assert_eq!(stat(0).follow(), FollowSymlinks::Yes);
        assert_eq!(stat(libc::AT_SYMLINK_NOFOLLOW).follow(), FollowSymlinks::No);
        assert!(stat(libc::AT_EMPTY_PATH).empty_path() && !stat(0).empty_path());

        let statx = |flags: i32, mask: u32| StatxCall {
            dirfd: Dirfd::Fd(3),
            path_addr: 0,
            flags,
            mask,
            buf_addr: 2,
        };
        assert_eq!(statx(0, libc::STATX_BASIC_STATS).check(), Ok(()));
        assert_eq!(
            statx(
                libc::AT_STATX_FORCE_SYNC | libc::AT_EMPTY_PATH,
                u32::MAX >> 1
            )
            .check(),
            Ok(())
        );
        assert_eq!(statx(libc::AT_STATX_DONT_SYNC, 0).check(), Ok(()));
        // Both sync types at once, a reserved mask bit, an unknown flag.
        assert_eq!(
            statx(libc::AT_STATX_SYNC_TYPE, 0).check(),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            statx(0, libc::STATX__RESERVED as u32).check(),
            Err(Errno::EINVAL)
        );
        assert_eq!(statx(libc::AT_EACCESS, 0).check(), Err(Errno::EINVAL));
        assert_eq!(
            statx(libc::AT_SYMLINK_NOFOLLOW, 0x7ff).stat_call(),
            StatCall {
                dirfd: Dirfd::Fd(3),
                path_addr: 0,
                buf_addr: 2,
                flags: libc::AT_SYMLINK_NOFOLLOW
            }
        );
    }

    #[test]
    fn access_flags_and_readlink_size() {
        let access = |flags: i32| AccessCall {
            dirfd: Dirfd::Cwd,
            path_addr: 1,
            mode: libc::R_OK,
            flags,
        };
        assert_eq!(access(0).check(), Ok(()));
        assert_eq!(
            access(libc::AT_EACCESS | libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH).check(),
            Ok(())
        );
        assert_eq!(access(libc::AT_NO_AUTOMOUNT).check(), Err(Errno::EINVAL));
        assert!(access(libc::AT_EMPTY_PATH).empty_path() && !access(0).empty_path());
        let readlink = |buf_size: i32| ReadlinkCall {
            dirfd: Dirfd::Cwd,
            path_addr: 1,
            buf_addr: 2,
            buf_size,
        };
        assert_eq!(readlink(1).check(), Ok(()));
        assert_eq!(readlink(0).check(), Err(Errno::EINVAL));
        assert_eq!(readlink(-1).check(), Err(Errno::EINVAL));
    }

    #[test]
    fn memfds_are_never_executable() {
        let f = |flags| {
            MemfdCall {
                name_addr: 1,
                flags,
            }
            .noexec_flags()
        };
        assert_eq!(f(0), Ok(MFD_NOEXEC_SEAL));
        assert_eq!(
            f(libc::MFD_CLOEXEC),
            Ok(libc::MFD_CLOEXEC | MFD_NOEXEC_SEAL)
        );
        assert_eq!(f(MFD_NOEXEC_SEAL), Ok(MFD_NOEXEC_SEAL));
        assert_eq!(f(MFD_EXEC), Err(Errno::EACCES));
        assert_eq!(f(MFD_EXEC | MFD_NOEXEC_SEAL), Err(Errno::EINVAL));
        assert_eq!(f(0x40), Err(Errno::EINVAL));
        // A huge page size only with MFD_HUGETLB.
        let huge_2m = 21 << 26;
        assert_eq!(f(huge_2m), Err(Errno::EINVAL));
        let hugetlb = libc::MFD_HUGETLB | huge_2m;
        assert_eq!(f(hugetlb), Ok(hugetlb | MFD_NOEXEC_SEAL));
        let (name, call) =
            decode(libc::SYS_memfd_create, [0x1000, 3 | 7 << 32, 0, 0, 0, 0]).unwrap();
        assert_eq!(name, "memfd_create");
        assert_eq!(
            call,
            Syscall::MemfdCreate(MemfdCall {
                name_addr: 0x1000,
                flags: 3
            })
        );
        assert!(
            MemfdCall {
                name_addr: 0,
                flags: 1
            }
            .cloexec()
        );
    }
}
