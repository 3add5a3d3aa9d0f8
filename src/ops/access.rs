//! `access`: the policy and the permission bits, both (for the broker's real
//! ids, or the program's credentials where those act).

use std::path::Path;

use nix::errno::Errno;
use nix::unistd::AccessFlags;

use super::{Context, Ops, Outcome, prepare};
use crate::policy::{Access, Judge};
use crate::resolve::FollowSymlinks;

/// The rights an access(2) `amode` needs: `R_OK` → read, `W_OK` → write,
/// `X_OK` → exec, `F_OK` (0) → stat. Any other bit is `EINVAL`.
///
/// ```
/// use fdbroker::ops::access_rights;
/// use fdbroker::policy::Access;
/// assert_eq!(access_rights(libc::F_OK), Ok(Access::STAT));
/// assert_eq!(access_rights(libc::R_OK | libc::X_OK), Ok(Access::READ | Access::EXEC));
/// assert!(access_rights(8).is_err());
/// ```
pub fn access_rights(amode: i32) -> Result<Access, Errno> {
    if amode & !(libc::R_OK | libc::W_OK | libc::X_OK) != 0 {
        return Err(Errno::EINVAL);
    }
    if amode == libc::F_OK {
        return Ok(Access::STAT);
    }
    let mut a = Access::empty();
    for (bit, right) in [
        (libc::R_OK, Access::READ),
        (libc::W_OK, Access::WRITE),
        (libc::X_OK, Access::EXEC),
    ] {
        if amode & bit != 0 {
            a |= right;
        }
    }
    Ok(a)
}

impl Ops {
    /// access(2) of `path` with `amode` for the requester `ctx`: allowed only
    /// when the policy grants the rights ([`access_rights`]) *and* the object
    /// itself passes faccessat(2) (on the judged descriptor, through
    /// `/proc/self/fd/N`) for the broker's real ids, or, where the object is
    /// acted on with the program's credentials (see [`Context::program`]),
    /// for those. Symlinks are followed.
    pub fn access(&self, judge: &dyn Judge, ctx: &Context, path: &Path, amode: i32) -> Outcome<()> {
        let judge = &super::Hard(judge);
        let access = match access_rights(amode) {
            Ok(a) => a,
            Err(errno) => return Outcome::refused(errno, Access::empty()),
        };
        let target = match prepare(path, ctx.pid) {
            Ok(t) => t,
            Err(errno) => return Outcome::refused(errno, access),
        };
        let follow = FollowSymlinks::Yes;
        let amode = AccessFlags::from_bits_truncate(amode);
        let check = |fd: std::os::fd::BorrowedFd<'_>, as_program: bool| {
            if as_program {
                // Without faccessat2(2) the answer could only be the
                // broker's: refuse instead.
                match self.resolver.access_effective(fd, amode) {
                    Err(Errno::ENOSYS) => Err(Errno::EACCES),
                    r => r,
                }
            } else {
                self.resolver.access(fd, amode)
            }
        };
        self.acting(ctx, &target, access, |acting| {
            if let Some(out) = self.act_plain(judge, acting, &target, follow, access, check) {
                return out;
            }
            let reached = match self.reach(judge, ctx, acting, &target, follow, access) {
                Ok(r) => r,
                Err(out) => return out,
            };
            let r = self.act(ctx, &reached, &target, follow, check);
            self.finish(judge, reached, access, r)
        })
    }
}
