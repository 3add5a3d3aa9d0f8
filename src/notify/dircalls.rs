//! Decoding the directory and attribute calls `fdbroker run` brokers
//! (`mkdir`, `unlink`, `rmdir`, `rename`, `link`, `symlink`, `chmod`,
//! `utimensat` and their `*at`/`f*` forms): one struct per call, the
//! argument checks the kernel would make, and the times they pass. Pure:
//! pointers are not followed.

use nix::errno::Errno;

use super::decode::{Dirfd, Syscall};
use crate::ops::{Stamp, Times};
use crate::resolve::FollowSymlinks;

/// x86-64 number of fchmodat2(2), which libc 0.2 may lack.
pub(super) const SYS_FCHMODAT2: i64 = 452;

/// `mkdir`, `mkdirat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MkdirCall {
    /// Start of a relative path.
    pub dirfd: Dirfd,
    /// Address of the path.
    pub path_addr: u64,
    /// Permission bits asked for.
    pub mode: u32,
}

/// `unlink`, `unlinkat`, `rmdir` (`unlinkat` with `AT_REMOVEDIR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnlinkCall {
    /// Start of a relative path.
    pub dirfd: Dirfd,
    /// Address of the path.
    pub path_addr: u64,
    /// `AT_REMOVEDIR` or 0.
    pub flags: i32,
}

/// `rename`, `renameat`, `renameat2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenameCall {
    /// Start of a relative source path.
    pub old_dirfd: Dirfd,
    /// Address of the source path.
    pub old_addr: u64,
    /// Start of a relative destination path.
    pub new_dirfd: Dirfd,
    /// Address of the destination path.
    pub new_addr: u64,
    /// `RENAME_*` flags.
    pub flags: u32,
}

/// `link`, `linkat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkCall {
    /// Start of a relative source path.
    pub old_dirfd: Dirfd,
    /// Address of the source path.
    pub old_addr: u64,
    /// Start of a relative new path.
    pub new_dirfd: Dirfd,
    /// Address of the new path.
    pub new_addr: u64,
    /// `AT_SYMLINK_FOLLOW`, `AT_EMPTY_PATH`.
    pub flags: i32,
}

/// `symlink`, `symlinkat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SymlinkCall {
    /// Address of the link's contents.
    pub target_addr: u64,
    /// Start of a relative new path.
    pub new_dirfd: Dirfd,
    /// Address of the new path.
    pub new_addr: u64,
}

/// `chmod`, `fchmod`, `fchmodat`, `fchmodat2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChmodCall {
    /// Start of a relative path; for `fchmod`, the descriptor.
    pub dirfd: Dirfd,
    /// Address of the path; `None` for `fchmod`, which names `dirfd`.
    pub path_addr: Option<u64>,
    /// The new mode.
    pub mode: u32,
    /// `AT_SYMLINK_NOFOLLOW`, `AT_EMPTY_PATH` (`fchmodat2` only).
    pub flags: i32,
}

/// How a call passes its two times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimesLayout {
    /// `struct timespec[2]` (`utimensat`).
    Timespec,
    /// `struct timeval[2]` (`utimes`, `futimesat`).
    Timeval,
    /// `struct utimbuf` (`utime`).
    Utimbuf,
}

/// `utime`, `utimes`, `futimesat`, `utimensat` (`futimens` is `utimensat`
/// with a NULL path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtimesCall {
    /// Start of a relative path, or the descriptor when the path is NULL.
    pub dirfd: Dirfd,
    /// Address of the path; `None` for a NULL path, which names `dirfd`.
    pub path_addr: Option<u64>,
    /// Address of the times; 0 (NULL) is "now" for both.
    pub times_addr: u64,
    /// How the times are laid out.
    pub layout: TimesLayout,
    /// `AT_SYMLINK_NOFOLLOW`, `AT_EMPTY_PATH` (`utimensat` only).
    pub flags: i32,
}

/// Decodes one of the calls of this module; `None` for any other number.
pub(super) fn decode_dir(nr: i64, args: [u64; 6]) -> Option<Syscall> {
    let int = |a: u64| a as u32 as i32;
    let at = Dirfd::from_arg;
    let path = |a: u64| (a != 0).then_some(a);
    Some(match nr {
        libc::SYS_mkdir => Syscall::Mkdir(MkdirCall {
            dirfd: Dirfd::Cwd,
            path_addr: args[0],
            mode: args[1] as u32,
        }),
        libc::SYS_mkdirat => Syscall::Mkdir(MkdirCall {
            dirfd: at(args[0]),
            path_addr: args[1],
            mode: args[2] as u32,
        }),
        libc::SYS_unlink | libc::SYS_rmdir => Syscall::Unlink(UnlinkCall {
            dirfd: Dirfd::Cwd,
            path_addr: args[0],
            flags: if nr == libc::SYS_rmdir {
                libc::AT_REMOVEDIR
            } else {
                0
            },
        }),
        libc::SYS_unlinkat => Syscall::Unlink(UnlinkCall {
            dirfd: at(args[0]),
            path_addr: args[1],
            flags: int(args[2]),
        }),
        libc::SYS_rename => Syscall::Rename(RenameCall {
            old_dirfd: Dirfd::Cwd,
            old_addr: args[0],
            new_dirfd: Dirfd::Cwd,
            new_addr: args[1],
            flags: 0,
        }),
        libc::SYS_renameat | libc::SYS_renameat2 => Syscall::Rename(RenameCall {
            old_dirfd: at(args[0]),
            old_addr: args[1],
            new_dirfd: at(args[2]),
            new_addr: args[3],
            flags: if nr == libc::SYS_renameat2 {
                args[4] as u32
            } else {
                0
            },
        }),
        libc::SYS_link => Syscall::Link(LinkCall {
            old_dirfd: Dirfd::Cwd,
            old_addr: args[0],
            new_dirfd: Dirfd::Cwd,
            new_addr: args[1],
            flags: 0,
        }),
        libc::SYS_linkat => Syscall::Link(LinkCall {
            old_dirfd: at(args[0]),
            old_addr: args[1],
            new_dirfd: at(args[2]),
            new_addr: args[3],
            flags: int(args[4]),
        }),
        libc::SYS_symlink => Syscall::Symlink(SymlinkCall {
            target_addr: args[0],
            new_dirfd: Dirfd::Cwd,
            new_addr: args[1],
        }),
        libc::SYS_symlinkat => Syscall::Symlink(SymlinkCall {
            target_addr: args[0],
            new_dirfd: at(args[1]),
            new_addr: args[2],
        }),
        libc::SYS_chmod => Syscall::Chmod(ChmodCall {
            dirfd: Dirfd::Cwd,
            path_addr: Some(args[0]),
            mode: args[1] as u32,
            flags: 0,
        }),
        // A descriptor, never the working directory: fchmod(AT_FDCWD) is
        // EBADF, as no descriptor has that number.
        libc::SYS_fchmod => Syscall::Chmod(ChmodCall {
            dirfd: Dirfd::Fd(int(args[0])),
            path_addr: None,
            mode: args[1] as u32,
            flags: 0,
        }),
        libc::SYS_fchmodat | SYS_FCHMODAT2 => Syscall::Chmod(ChmodCall {
            dirfd: at(args[0]),
            path_addr: Some(args[1]),
            mode: args[2] as u32,
            flags: if nr == SYS_FCHMODAT2 { int(args[3]) } else { 0 },
        }),
        libc::SYS_utime | libc::SYS_utimes => Syscall::Utimes(UtimesCall {
            dirfd: Dirfd::Cwd,
            path_addr: Some(args[0]),
            times_addr: args[1],
            layout: if nr == libc::SYS_utime {
                TimesLayout::Utimbuf
            } else {
                TimesLayout::Timeval
            },
            flags: 0,
        }),
        libc::SYS_futimesat => Syscall::Utimes(UtimesCall {
            dirfd: at(args[0]),
            path_addr: path(args[1]),
            times_addr: args[2],
            layout: TimesLayout::Timeval,
            flags: 0,
        }),
        libc::SYS_utimensat => Syscall::Utimes(UtimesCall {
            dirfd: at(args[0]),
            path_addr: path(args[1]),
            times_addr: args[2],
            layout: TimesLayout::Timespec,
            flags: int(args[3]),
        }),
        _ => return None,
    })
}

impl UnlinkCall {
    /// `EINVAL` for flags unlinkat(2) does not know.
    pub fn check(&self) -> Result<(), Errno> {
        if self.flags & !libc::AT_REMOVEDIR != 0 {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    /// Whether a directory is removed (`rmdir`).
    pub fn removes_dir(&self) -> bool {
        self.flags & libc::AT_REMOVEDIR != 0
    }
}

impl RenameCall {
    /// `EINVAL` for flags renameat2(2) does not know, and for
    /// `RENAME_EXCHANGE` with `RENAME_NOREPLACE` (the kernel's answers; the
    /// broker refuses `RENAME_EXCHANGE` and `RENAME_WHITEOUT` itself).
    pub fn check(&self) -> Result<(), Errno> {
        let known = libc::RENAME_NOREPLACE | libc::RENAME_EXCHANGE | libc::RENAME_WHITEOUT;
        let both = libc::RENAME_NOREPLACE | libc::RENAME_EXCHANGE;
        if self.flags & !known != 0 || self.flags & both == both {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }
}

impl LinkCall {
    /// `EINVAL` for flags linkat(2) does not know.
    pub fn check(&self) -> Result<(), Errno> {
        if self.flags & !(libc::AT_SYMLINK_FOLLOW | libc::AT_EMPTY_PATH) != 0 {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    /// Whether a final symlink of the source is followed (`AT_SYMLINK_FOLLOW`;
    /// link(2) does not follow).
    pub fn follow(&self) -> FollowSymlinks {
        FollowSymlinks::from(self.flags & libc::AT_SYMLINK_FOLLOW != 0)
    }
}

impl ChmodCall {
    /// `EINVAL` for flags fchmodat2(2) does not know.
    pub fn check(&self) -> Result<(), Errno> {
        if self.flags & !(libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
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

impl UtimesCall {
    /// `EINVAL` for flags utimensat(2) does not know, or for any flag with a
    /// NULL path; `EFAULT` for a NULL path without a descriptor (the
    /// kernel's answers).
    pub fn check(&self) -> Result<(), Errno> {
        if self.flags & !(libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
            return Err(Errno::EINVAL);
        }
        if self.path_addr.is_none() {
            if self.flags != 0 {
                return Err(Errno::EINVAL);
            }
            if self.dirfd == Dirfd::Cwd {
                return Err(Errno::EFAULT);
            }
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

impl TimesLayout {
    /// How many bytes hold the two times.
    pub fn size(self) -> usize {
        match self {
            TimesLayout::Timespec | TimesLayout::Timeval => 32,
            TimesLayout::Utimbuf => 16,
        }
    }

    /// The times in `raw` ([`TimesLayout::size`] bytes), or `EINVAL` for a
    /// nanosecond or microsecond field out of range (the kernel's answer).
    pub fn times(self, raw: &[u8]) -> Result<Times, Errno> {
        if raw.len() != self.size() {
            return Err(Errno::EINVAL);
        }
        let word = |i: usize| {
            let bytes: [u8; 8] = raw[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]);
            i64::from_ne_bytes(bytes)
        };
        let stamps = match self {
            TimesLayout::Utimbuf => [0, 1].map(|i| {
                Ok(Stamp::At {
                    sec: word(i),
                    nsec: 0,
                })
            }),
            TimesLayout::Timeval => [0, 2].map(|i| match u32::try_from(word(i + 1)) {
                Ok(usec) if usec < 1_000_000 => Ok(Stamp::At {
                    sec: word(i),
                    nsec: usec * 1000,
                }),
                _ => Err(Errno::EINVAL),
            }),
            TimesLayout::Timespec => [0, 2].map(|i| match word(i + 1) {
                libc::UTIME_NOW => Ok(Stamp::Now),
                libc::UTIME_OMIT => Ok(Stamp::Omit),
                nsec => match u32::try_from(nsec) {
                    Ok(nsec) if nsec < 1_000_000_000 => Ok(Stamp::At { sec: word(i), nsec }),
                    _ => Err(Errno::EINVAL),
                },
            }),
        };
        let [atime, mtime] = stamps;
        Ok(Times {
            atime: atime?,
            mtime: mtime?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(words: &[i64]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_ne_bytes()).collect()
    }

    #[test]
    fn decoding() {
        let at = |fd: i32| fd as u32 as u64;
        assert_eq!(
            decode_dir(libc::SYS_rmdir, [0x10, 0, 0, 0, 0, 0]),
            Some(Syscall::Unlink(UnlinkCall {
                dirfd: Dirfd::Cwd,
                path_addr: 0x10,
                flags: libc::AT_REMOVEDIR
            }))
        );
        assert_eq!(
            decode_dir(libc::SYS_renameat2, [at(3), 1, at(libc::AT_FDCWD), 2, 1, 0]),
            Some(Syscall::Rename(RenameCall {
                old_dirfd: Dirfd::Fd(3),
                old_addr: 1,
                new_dirfd: Dirfd::Cwd,
                new_addr: 2,
                flags: libc::RENAME_NOREPLACE
            }))
        );
        assert_eq!(
            decode_dir(libc::SYS_symlinkat, [1, at(4), 2, 0, 0, 0]),
            Some(Syscall::Symlink(SymlinkCall {
                target_addr: 1,
                new_dirfd: Dirfd::Fd(4),
                new_addr: 2
            }))
        );
        // fchmod(AT_FDCWD) names no descriptor, not the working directory.
        assert_eq!(
            decode_dir(libc::SYS_fchmod, [at(libc::AT_FDCWD), 0o644, 0, 0, 0, 0]),
            Some(Syscall::Chmod(ChmodCall {
                dirfd: Dirfd::Fd(libc::AT_FDCWD),
                path_addr: None,
                mode: 0o644,
                flags: 0
            }))
        );
        // futimens(fd, times) is utimensat(fd, NULL, times, 0).
        assert_eq!(
            decode_dir(libc::SYS_utimensat, [at(5), 0, 0x20, 0, 0, 0]),
            Some(Syscall::Utimes(UtimesCall {
                dirfd: Dirfd::Fd(5),
                path_addr: None,
                times_addr: 0x20,
                layout: TimesLayout::Timespec,
                flags: 0
            }))
        );
        assert_eq!(decode_dir(libc::SYS_mknod, [0; 6]), None);
        assert_eq!(decode_dir(libc::SYS_truncate, [0; 6]), None);
        assert_eq!(decode_dir(libc::SYS_fchownat, [0; 6]), None);
    }

    #[test]
    fn flags_the_kernel_refuses() {
        let unlink = |flags| UnlinkCall {
            dirfd: Dirfd::Cwd,
            path_addr: 1,
            flags,
        };
        assert_eq!(unlink(libc::AT_REMOVEDIR).check(), Ok(()));
        assert!(unlink(libc::AT_REMOVEDIR).removes_dir());
        assert_eq!(unlink(0x1).check(), Err(Errno::EINVAL));
        let rename = |flags| RenameCall {
            old_dirfd: Dirfd::Cwd,
            old_addr: 1,
            new_dirfd: Dirfd::Cwd,
            new_addr: 2,
            flags,
        };
        assert_eq!(rename(libc::RENAME_EXCHANGE).check(), Ok(()));
        assert_eq!(
            rename(libc::RENAME_EXCHANGE | libc::RENAME_NOREPLACE).check(),
            Err(Errno::EINVAL)
        );
        assert_eq!(rename(0x100).check(), Err(Errno::EINVAL));
        let link = |flags| LinkCall {
            old_dirfd: Dirfd::Cwd,
            old_addr: 1,
            new_dirfd: Dirfd::Cwd,
            new_addr: 2,
            flags,
        };
        assert_eq!(link(libc::AT_SYMLINK_FOLLOW).follow(), FollowSymlinks::Yes);
        assert_eq!(link(0).follow(), FollowSymlinks::No);
        assert_eq!(link(libc::AT_SYMLINK_NOFOLLOW).check(), Err(Errno::EINVAL));
        let chmod = |flags| ChmodCall {
            dirfd: Dirfd::Cwd,
            path_addr: Some(1),
            mode: 0o644,
            flags,
        };
        assert_eq!(
            chmod(libc::AT_SYMLINK_NOFOLLOW).follow(),
            FollowSymlinks::No
        );
        assert_eq!(chmod(libc::AT_REMOVEDIR).check(), Err(Errno::EINVAL));
        let utimes = |dirfd, path_addr, flags| UtimesCall {
            dirfd,
            path_addr,
            times_addr: 0,
            layout: TimesLayout::Timespec,
            flags,
        };
        assert_eq!(utimes(Dirfd::Fd(3), None, 0).check(), Ok(()));
        assert_eq!(utimes(Dirfd::Cwd, None, 0).check(), Err(Errno::EFAULT));
        assert_eq!(
            utimes(Dirfd::Fd(3), None, libc::AT_SYMLINK_NOFOLLOW).check(),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            utimes(Dirfd::Cwd, Some(1), libc::AT_SYMLINK_NOFOLLOW).follow(),
            FollowSymlinks::No
        );
    }

    #[test]
    fn times_as_each_layout_passes_them() {
        let at = |sec, nsec| Stamp::At { sec, nsec };
        assert_eq!(
            TimesLayout::Timespec.times(&raw(&[1, 2, 3, 999_999_999])),
            Ok(Times {
                atime: at(1, 2),
                mtime: at(3, 999_999_999)
            })
        );
        assert_eq!(
            TimesLayout::Timespec.times(&raw(&[7, libc::UTIME_NOW, 7, libc::UTIME_OMIT])),
            Ok(Times {
                atime: Stamp::Now,
                mtime: Stamp::Omit
            })
        );
        for bad in [1_000_000_000, -1] {
            assert_eq!(
                TimesLayout::Timespec.times(&raw(&[1, bad, 1, 0])),
                Err(Errno::EINVAL)
            );
        }
        assert_eq!(
            TimesLayout::Timeval.times(&raw(&[-5, 999_999, 6, 1])),
            Ok(Times {
                atime: at(-5, 999_999_000),
                mtime: at(6, 1000)
            })
        );
        assert_eq!(
            TimesLayout::Timeval.times(&raw(&[1, 1_000_000, 1, 0])),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            TimesLayout::Utimbuf.times(&raw(&[10, 20])),
            Ok(Times {
                atime: at(10, 0),
                mtime: at(20, 0)
            })
        );
        assert_eq!(TimesLayout::Utimbuf.times(&raw(&[10])), Err(Errno::EINVAL));
    }
}
