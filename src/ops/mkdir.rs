//! `mkdir`: a new directory in exactly the parent judged, owned by the
//! program.

use std::path::Path;

use nix::errno::Errno;
use nix::sys::stat::{Mode, mkdirat};

use super::entry::names_lock;
use super::program::OwnFirst;
use super::{Context, Ops, Outcome, prepare};
use crate::policy::{Access, Judge};

impl Ops {
    /// mkdir(2) of `path` for the requester `ctx`: needs `create` on the
    /// canonical parent joined with the new name. Made with mkdirat(2) in the
    /// held parent, with the program's filesystem ids when they are known
    /// (the directory is the program's), permission bits `mode & 0o777`
    /// (never sticky, setuid or setgid; the broker's umask applies, as for
    /// a created file). A final `.`, `..` or `/` is `EEXIST`, as the kernel
    /// answers.
    pub fn mkdir(&self, judge: &dyn Judge, ctx: &Context, path: &Path, mode: u32) -> Outcome<()> {
        let judge = &super::Hard(judge);
        let access = Access::CREATE;
        let target = match prepare(path, ctx.pid) {
            Ok(t) => t,
            Err(errno) => return Outcome::refused(errno, access),
        };
        self.acting(ctx, &target, access, OwnFirst::Settle, |acting| {
            let entry = match self.entry(judge, ctx, &target, access, |_| Errno::EEXIST) {
                Ok(e) => e,
                Err(out) => return out,
            };
            let decision = match self.allowed(judge, &entry, access) {
                Ok(d) => d,
                Err(out) => return out,
            };
            let mode = Mode::from_bits_truncate(mode & 0o777);
            let r = {
                let _names = names_lock();
                self.act_in(ctx, acting, &entry, &decision, true, |dir| {
                    mkdirat(dir, entry.name.as_c_str(), mode)
                })
            };
            self.settle(judge, entry, access, decision, r)
        })
    }
}
