//! The directory and attribute calls the server answers (`mkdir`,
//! `unlink`/`rmdir`, `rename`, `link`, `symlink`, `chmod`, `utimensat` and
//! their forms): each path read once from the caller, made absolute,
//! handed to the engine, and one event reported per path judged.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use super::{Answer, Called, NotifyServer};
use crate::event::Op;
use crate::notify::caller::{Caller, Target};
use crate::notify::{
    ChmodCall, Dirfd, LinkCall, MkdirCall, RenameCall, SymlinkCall, UnlinkCall, UtimesCall, pidns,
};
use crate::ops::{Pair, Times};
use crate::procfs::PATH_MAX;
use crate::sys::notify::Notif;

impl NotifyServer {
    pub(super) fn mkdir(
        &self,
        caller: &Caller,
        n: &Notif,
        name: &'static str,
        call: MkdirCall,
    ) -> Result<Answer, Errno> {
        let (requested, absolute) = self.read_path(caller, n, call.dirfd, call.path_addr)?;
        let ctx = self.context(caller, &absolute)?;
        self.valid(n)?;
        let out = self.ops.mkdir(&*self.judge, &ctx, &absolute, call.mode);
        let called = Called {
            mode: Some(call.mode),
            ..Called::plain(name, Op::Mkdir, &requested)
        };
        self.observe(n, called, &out);
        out.result.map(|()| Answer::Value(0))
    }

    pub(super) fn unlink(
        &self,
        caller: &Caller,
        n: &Notif,
        name: &'static str,
        call: UnlinkCall,
    ) -> Result<Answer, Errno> {
        call.check()?;
        let (requested, absolute) = self.read_path(caller, n, call.dirfd, call.path_addr)?;
        let ctx = self.context(caller, &absolute)?;
        self.valid(n)?;
        let (op, out) = if call.removes_dir() {
            (Op::Rmdir, self.ops.rmdir(&*self.judge, &ctx, &absolute))
        } else {
            (Op::Unlink, self.ops.unlink(&*self.judge, &ctx, &absolute))
        };
        self.observe(n, Called::plain(name, op, &requested), &out);
        out.result.map(|()| Answer::Value(0))
    }

    pub(super) fn rename(
        &self,
        caller: &Caller,
        n: &Notif,
        name: &'static str,
        call: RenameCall,
    ) -> Result<Answer, Errno> {
        call.check()?;
        if call.flags & (libc::RENAME_EXCHANGE | libc::RENAME_WHITEOUT) != 0 {
            // Neither is brokered: an exchange would need both sides judged
            // both ways, a whiteout is for overlay filesystems.
            return Err(Errno::EINVAL);
        }
        let (from_req, from) = self.read_path(caller, n, call.old_dirfd, call.old_addr)?;
        let (to_req, to) = self.read_path(caller, n, call.new_dirfd, call.new_addr)?;
        let ctx = self.context(caller, &from)?;
        self.valid(n)?;
        let pair = self.ops.rename(&*self.judge, &ctx, &from, &to, call.flags);
        self.observe_pair(n, name, Op::Rename, (&from_req, &to_req), &pair);
        pair.result.map(|()| Answer::Value(0))
    }

    pub(super) fn link(
        &self,
        caller: &Caller,
        n: &Notif,
        name: &'static str,
        call: LinkCall,
    ) -> Result<Answer, Errno> {
        call.check()?;
        // AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH, which the program lacks:
        // an empty path is ENOENT, as the kernel answers it.
        let (from_req, from) = self.read_path(caller, n, call.old_dirfd, call.old_addr)?;
        let (to_req, to) = self.read_path(caller, n, call.new_dirfd, call.new_addr)?;
        let ctx = self.context(caller, &to)?;
        self.valid(n)?;
        let pair = self.ops.link(&*self.judge, &ctx, &from, call.follow(), &to);
        self.observe_pair(n, name, Op::Link, (&from_req, &to_req), &pair);
        pair.result.map(|()| Answer::Value(0))
    }

    pub(super) fn symlink(
        &self,
        caller: &Caller,
        n: &Notif,
        name: &'static str,
        call: SymlinkCall,
    ) -> Result<Answer, Errno> {
        let mut buf = vec![0u8; PATH_MAX];
        let target = caller.read_c_string(call.target_addr, &mut buf)?;
        if target.is_empty() {
            return Err(Errno::ENOENT);
        }
        let target = OsStr::from_bytes(target).to_os_string();
        let (requested, absolute) = self.read_path(caller, n, call.new_dirfd, call.new_addr)?;
        let ctx = self.context(caller, &absolute)?;
        self.valid(n)?;
        let out = self.ops.symlink(&*self.judge, &ctx, &target, &absolute);
        self.observe(n, Called::plain(name, Op::Symlink, &requested), &out);
        out.result.map(|()| Answer::Value(0))
    }

    pub(super) fn chmod(
        &self,
        caller: &Caller,
        n: &Notif,
        name: &'static str,
        call: ChmodCall,
    ) -> Result<Answer, Errno> {
        call.check()?;
        let (requested, absolute) =
            self.read_target(caller, n, call.dirfd, call.path_addr, call.empty_path())?;
        let ctx = self.context(caller, &absolute)?;
        self.valid(n)?;
        let out = self
            .ops
            .chmod(&*self.judge, &ctx, &absolute, call.mode, call.follow());
        let called = Called {
            mode: Some(call.mode),
            ..Called::plain(name, Op::Chmod, &requested)
        };
        self.observe(n, called, &out);
        out.result.map(|()| Answer::Value(0))
    }

    pub(super) fn utimes(
        &self,
        caller: &Caller,
        n: &Notif,
        name: &'static str,
        call: UtimesCall,
    ) -> Result<Answer, Errno> {
        call.check()?;
        let times = if call.times_addr == 0 {
            Times::NOW
        } else {
            let mut raw = [0u8; 32];
            let raw = &mut raw[..call.layout.size()];
            caller.read_exact(call.times_addr, raw)?;
            call.layout.times(raw)?
        };
        let (requested, absolute) =
            self.read_target(caller, n, call.dirfd, call.path_addr, call.empty_path())?;
        let ctx = self.context(caller, &absolute)?;
        self.valid(n)?;
        let out = self
            .ops
            .utimes(&*self.judge, &ctx, &absolute, times, call.follow());
        self.observe(n, Called::plain(name, Op::Utimes, &requested), &out);
        out.result.map(|()| Answer::Value(0))
    }

    /// A path argument that may not be empty, absolute and translated into
    /// the broker's PID namespace: what the caller wrote, and that.
    fn read_path(
        &self,
        caller: &Caller,
        n: &Notif,
        dirfd: Dirfd,
        addr: u64,
    ) -> Result<(PathBuf, PathBuf), Errno> {
        let (requested, absolute) = caller.path(dirfd, addr)?;
        let absolute = pidns::translate(n.pid, &requested, absolute);
        Ok((requested, absolute))
    }

    /// The object a call on a path or a descriptor names: a path as
    /// [`Self::read_path`] (empty with `empty_ok`: `dirfd` itself), or, for
    /// a descriptor, the path it refers to (judged as that path, as `fstat`
    /// and `access` on a descriptor are).
    fn read_target(
        &self,
        caller: &Caller,
        n: &Notif,
        dirfd: Dirfd,
        addr: Option<u64>,
        empty_ok: bool,
    ) -> Result<(PathBuf, PathBuf), Errno> {
        let target = match addr {
            Some(addr) => caller.path_arg(dirfd, addr, empty_ok)?,
            None => Target::Fd(dirfd),
        };
        match target {
            Target::Path {
                requested,
                absolute,
            } => Ok((
                requested.clone(),
                pidns::translate(n.pid, &requested, absolute),
            )),
            Target::Fd(fd) => Ok((PathBuf::new(), caller.fd_path(fd)?)),
        }
    }

    /// One event per path of a two-path call.
    fn observe_pair(
        &self,
        n: &Notif,
        name: &'static str,
        op: Op,
        (from, to): (&Path, &Path),
        pair: &Pair,
    ) {
        self.observe(n, Called::plain(name, op, from), &pair.from);
        if let Some(out) = &pair.to {
            self.observe(n, Called::plain(name, op, to), out);
        }
    }
}
