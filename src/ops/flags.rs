//! Validation of a child's open(2) flags and the rights they need. Pure.

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::policy::Access;
use crate::resolve::FollowSymlinks;

/// The kernel's own `O_LARGEFILE` bit. glibc defines `O_LARGEFILE` as 0 on
/// 64-bit targets, but a flags word taken from a raw syscall (seccomp user
/// notification) may carry the kernel's bit; it means nothing on 64-bit.
#[cfg(any(target_arch = "x86_64", target_arch = "x86", target_arch = "riscv64"))]
const KERNEL_O_LARGEFILE: i32 = 0o100000;
#[cfg(target_arch = "aarch64")]
const KERNEL_O_LARGEFILE: i32 = 0o400000;
#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "x86",
    target_arch = "riscv64",
    target_arch = "aarch64"
)))]
const KERNEL_O_LARGEFILE: i32 = libc::O_LARGEFILE;

/// Every flag bit a request may carry.
const KNOWN: i32 = libc::O_ACCMODE
    | libc::O_CREAT
    | libc::O_EXCL
    | libc::O_TRUNC
    | libc::O_APPEND
    | libc::O_NONBLOCK
    | libc::O_DIRECTORY
    | libc::O_NOFOLLOW
    | libc::O_NOCTTY
    | libc::O_CLOEXEC
    | libc::O_LARGEFILE
    | KERNEL_O_LARGEFILE
    | libc::O_NOATIME
    | libc::O_SYNC
    | libc::O_DSYNC;

/// Flags passed on when the broker opens the object: everything the child
/// asked for that describes the open file, minus the bits that steer
/// resolution or creation and minus `O_CLOEXEC` (a property of the child's
/// descriptor, not of the broker's copy) and `O_NOCTTY` (always added).
const PASSED_ON: i32 = libc::O_ACCMODE
    | libc::O_TRUNC
    | libc::O_APPEND
    | libc::O_NONBLOCK
    | libc::O_DIRECTORY
    | libc::O_NOATIME
    | libc::O_SYNC
    | libc::O_DSYNC;

/// The object an open acts on, which decides the rights it needs
/// ([`OpenFlags::rights`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Object {
    /// An object that exists already, opened as it is.
    Existing,
    /// The file `O_CREAT` is about to create.
    New,
}

/// A validated open(2) flags word.
///
/// Accepted: the access mode, `O_CREAT`, `O_EXCL`, `O_TRUNC`, `O_APPEND`,
/// `O_NONBLOCK`, `O_DIRECTORY`, `O_NOFOLLOW`, `O_NOCTTY`, `O_CLOEXEC`,
/// `O_LARGEFILE`, `O_NOATIME`, `O_SYNC`, `O_DSYNC`. Refused with `EINVAL`:
/// `O_PATH`, `O_TMPFILE`, any other bit, access mode 3, `O_RDONLY|O_TRUNC`,
/// and `O_CREAT|O_DIRECTORY` (which Linux 6.4+ refuses too, open(2)).
///
/// ```
/// use fdbroker::ops::flags::{Object, OpenFlags};
/// use fdbroker::policy::Access;
/// let f = OpenFlags::parse(libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC).unwrap();
/// assert!(f.cloexec());
/// assert_eq!(f.rights(Object::New), Access::CREATE);
/// assert_eq!(f.rights(Object::Existing), Access::CREATE | Access::WRITE);
/// assert!(OpenFlags::parse(libc::O_PATH).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFlags(i32);

impl OpenFlags {
    /// Validates a raw flags word (see the type's documentation).
    pub fn parse(flags: i32) -> Result<OpenFlags, Errno> {
        if flags & !KNOWN != 0 {
            // O_PATH and O_TMPFILE's own bit are not in KNOWN.
            return Err(Errno::EINVAL);
        }
        let acc = flags & libc::O_ACCMODE;
        if acc == libc::O_ACCMODE {
            return Err(Errno::EINVAL);
        }
        if acc == libc::O_RDONLY && flags & libc::O_TRUNC != 0 {
            return Err(Errno::EINVAL);
        }
        if flags & libc::O_CREAT != 0 && flags & libc::O_DIRECTORY != 0 {
            return Err(Errno::EINVAL);
        }
        Ok(OpenFlags(flags))
    }

    /// The flags word as given.
    pub fn bits(self) -> i32 {
        self.0
    }

    fn has(self, bit: i32) -> bool {
        self.0 & bit != 0
    }

    /// `O_CLOEXEC` was asked for: whoever installs the descriptor in the child
    /// (e.g. seccomp `ADDFD`) must set close-on-exec on the child's copy.
    pub fn cloexec(self) -> bool {
        self.has(libc::O_CLOEXEC)
    }

    /// `O_CREAT`.
    pub fn create(self) -> bool {
        self.has(libc::O_CREAT)
    }

    /// `O_EXCL` (meaningful with `O_CREAT`).
    pub fn exclusive(self) -> bool {
        self.has(libc::O_EXCL)
    }

    /// `O_NOFOLLOW`: a final symlink is not followed.
    pub fn nofollow(self) -> bool {
        self.has(libc::O_NOFOLLOW)
    }

    /// Whether resolution follows a final symlink: [`FollowSymlinks::No`]
    /// with `O_NOFOLLOW`.
    pub fn follow(self) -> FollowSymlinks {
        if self.nofollow() {
            FollowSymlinks::No
        } else {
            FollowSymlinks::Yes
        }
    }

    /// The rights the open needs from the policy.
    ///
    /// On an [`Object::Existing`]: `O_RDONLY` needs `read`;
    /// `O_WRONLY`, `O_TRUNC` and `O_APPEND` need `write`; `O_RDWR` needs
    /// `read` and `write`; `O_CREAT` adds `create` and `write`.
    ///
    /// On an [`Object::New`] (which `O_CREAT` is about to create): `create` only.
    /// A new file holds nothing to read or overwrite, and this keeps `create`
    /// and `write` apart: `create` alone lets a child add files without
    /// touching existing ones, `write` alone lets it change existing files
    /// without adding any.
    pub fn rights(self, object: Object) -> Access {
        if self.create() && object == Object::New {
            return Access::CREATE;
        }
        let mut a = match self.0 & libc::O_ACCMODE {
            libc::O_RDONLY => Access::READ,
            libc::O_WRONLY => Access::WRITE,
            _ => Access::READ | Access::WRITE,
        };
        if self.has(libc::O_TRUNC) || self.has(libc::O_APPEND) {
            a |= Access::WRITE;
        }
        if self.create() {
            a |= Access::CREATE | Access::WRITE;
        }
        a
    }

    /// Flags for opening an existing object anew through its `O_PATH`
    /// descriptor: the child's flags without `O_CREAT`, `O_EXCL`,
    /// `O_NOFOLLOW` (resolution already happened), `O_CLOEXEC` and
    /// `O_NOCTTY` (the resolver always sets both on its own copies).
    pub fn reopen_flags(self) -> OFlag {
        OFlag::from_bits_retain(self.0 & PASSED_ON)
    }

    /// Flags for creating a new file with openat(2) in a held directory:
    /// [`Self::reopen_flags`] plus `O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC|O_NOCTTY`,
    /// so that nothing already there, symlink or not, is ever opened.
    pub fn create_flags(self) -> OFlag {
        self.reopen_flags()
            | OFlag::O_CREAT
            | OFlag::O_EXCL
            | OFlag::O_NOFOLLOW
            | OFlag::O_CLOEXEC
            | OFlag::O_NOCTTY
    }
}

/// The mode a created file gets: the permission bits of `mode`, never
/// setuid, setgid or sticky (the broker's umask still applies, open(2)).
///
/// ```
/// use fdbroker::ops::flags::create_mode;
/// assert_eq!(create_mode(0o4777).bits(), 0o777);
/// assert_eq!(create_mode(0o640).bits(), 0o640);
/// ```
pub fn create_mode(mode: u32) -> Mode {
    Mode::from_bits_truncate(mode & 0o777)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted() {
        for f in [
            libc::O_RDONLY,
            libc::O_WRONLY,
            libc::O_RDWR,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_TRUNC,
            libc::O_RDWR | libc::O_APPEND | libc::O_NONBLOCK | libc::O_NOCTTY,
            libc::O_RDONLY | libc::O_NOATIME | libc::O_LARGEFILE | KERNEL_O_LARGEFILE,
            libc::O_WRONLY | libc::O_SYNC | libc::O_DSYNC,
        ] {
            assert_eq!(OpenFlags::parse(f).map(OpenFlags::bits), Ok(f), "{f:#o}");
        }
    }

    #[test]
    fn refused() {
        for f in [
            libc::O_PATH,
            libc::O_PATH | libc::O_NOFOLLOW,
            libc::O_TMPFILE | libc::O_RDWR,
            libc::O_RDWR | (libc::O_TMPFILE & !libc::O_DIRECTORY),
            libc::O_ACCMODE,
            libc::O_RDONLY | libc::O_TRUNC,
            libc::O_RDONLY | libc::O_CREAT | libc::O_TRUNC,
            libc::O_CREAT | libc::O_DIRECTORY,
            libc::O_RDONLY | libc::O_ASYNC,
            libc::O_RDONLY | libc::O_DIRECT,
            libc::O_RDONLY | (1 << 30),
            i32::MIN,
            -1,
        ] {
            assert_eq!(OpenFlags::parse(f), Err(Errno::EINVAL), "{f:#o}");
        }
    }

    #[test]
    fn rights() {
        use Object::{Existing, New};
        let r = |f: i32, object| OpenFlags::parse(f).unwrap().rights(object);
        assert_eq!(r(libc::O_RDONLY, Existing), Access::READ);
        assert_eq!(r(libc::O_WRONLY, Existing), Access::WRITE);
        assert_eq!(r(libc::O_RDWR, Existing), Access::READ | Access::WRITE);
        assert_eq!(r(libc::O_WRONLY | libc::O_TRUNC, Existing), Access::WRITE);
        assert_eq!(
            r(libc::O_RDWR | libc::O_APPEND, Existing),
            Access::READ | Access::WRITE
        );
        assert_eq!(
            r(libc::O_RDONLY | libc::O_CREAT, Existing),
            Access::READ | Access::WRITE | Access::CREATE
        );
        assert_eq!(r(libc::O_RDWR | libc::O_CREAT, New), Access::CREATE);
        assert_eq!(
            r(libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL, New),
            Access::CREATE
        );
    }

    #[test]
    fn passed_on() {
        let f = OpenFlags::parse(
            libc::O_WRONLY
                | libc::O_CREAT
                | libc::O_EXCL
                | libc::O_NOFOLLOW
                | libc::O_CLOEXEC
                | libc::O_APPEND
                | libc::O_NOCTTY,
        )
        .unwrap();
        assert!(f.cloexec() && f.create() && f.exclusive() && f.nofollow());
        assert_eq!(f.follow(), FollowSymlinks::No);
        assert_eq!(f.reopen_flags(), OFlag::O_WRONLY | OFlag::O_APPEND);
        assert_eq!(
            f.create_flags(),
            OFlag::O_WRONLY
                | OFlag::O_APPEND
                | OFlag::O_CREAT
                | OFlag::O_EXCL
                | OFlag::O_NOFOLLOW
                | OFlag::O_CLOEXEC
                | OFlag::O_NOCTTY
        );
        let plain = OpenFlags::parse(libc::O_RDONLY).unwrap();
        assert!(!plain.cloexec());
        assert_eq!(plain.follow(), FollowSymlinks::Yes);
        assert_eq!(plain.reopen_flags(), OFlag::O_RDONLY);
    }

    #[test]
    fn modes() {
        assert_eq!(create_mode(0o7777).bits(), 0o777);
        assert_eq!(create_mode(0o2755).bits(), 0o755);
        assert_eq!(create_mode(0o1000).bits(), 0);
        assert_eq!(create_mode(u32::MAX).bits(), 0o777);
    }
}
