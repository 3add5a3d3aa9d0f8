//! `utimensat`: the access and modification times of exactly the object
//! judged.

use std::path::Path;

use nix::errno::Errno;

use super::{Context, Ops, Outcome, prepare};
use crate::policy::{Access, Judge};
use crate::resolve::FollowSymlinks;

/// One timestamp to set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    /// The current time (`UTIME_NOW`).
    Now,
    /// Left as it is (`UTIME_OMIT`).
    Omit,
    /// Seconds and nanoseconds since the epoch (`nsec` below 10⁹).
    At {
        /// Seconds.
        sec: i64,
        /// Nanoseconds.
        nsec: u32,
    },
}

/// The times utimensat(2) sets: access, then modification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Times {
    /// The access time.
    pub atime: Stamp,
    /// The modification time.
    pub mtime: Stamp,
}

impl Times {
    /// Both set to the current time: what a NULL `times` asks.
    pub const NOW: Times = Times {
        atime: Stamp::Now,
        mtime: Stamp::Now,
    };

    fn timespecs(self) -> [libc::timespec; 2] {
        [self.atime, self.mtime].map(|s| match s {
            Stamp::Now => libc::timespec {
                tv_sec: 0,
                tv_nsec: libc::UTIME_NOW,
            },
            Stamp::Omit => libc::timespec {
                tv_sec: 0,
                tv_nsec: libc::UTIME_OMIT,
            },
            Stamp::At { sec, nsec } => libc::timespec {
                tv_sec: sec,
                tv_nsec: i64::from(nsec),
            },
        })
    }
}

impl Ops {
    /// utimensat(2) of `path` with `times` for the requester `ctx` (`follow`:
    /// whether a final symlink is followed; not, with `AT_SYMLINK_NOFOLLOW`,
    /// sets the symlink's own times). Needs `write`. Acts on the held
    /// descriptor (`AT_EMPTY_PATH`).
    pub fn utimes(
        &self,
        judge: &dyn Judge,
        ctx: &Context,
        path: &Path,
        times: Times,
        follow: FollowSymlinks,
    ) -> Outcome<()> {
        let judge = &super::Hard(judge);
        let access = Access::WRITE;
        if [times.atime, times.mtime]
            .iter()
            .any(|s| matches!(s, Stamp::At { nsec, .. } if *nsec >= 1_000_000_000))
        {
            return Outcome::refused(Errno::EINVAL, access);
        }
        let target = match prepare(path, ctx.pid) {
            Ok(t) => t,
            Err(errno) => return Outcome::refused(errno, access),
        };
        let spec = times.timespecs();
        self.on_object(judge, ctx, &target, follow, access, |fd, _| {
            crate::sys::times::set_times(fd, &spec)
        })
    }
}
