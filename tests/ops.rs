//! The operations engine: judge the object reached, act on exactly it, leak
//! nothing. Every trick runs against both resolution strategies.
//!
//! In-process (no fork). Tests are serialised by a lock so that descriptor
//! counts in `/proc/self/fd` are meaningful.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use fdbroker::ops::{Context, Ops, Outcome};
use fdbroker::policy::{Access, Decision, Judge};
use fdbroker::resolve::{FollowSymlinks, Resolver};

use common::tree::{Tree, fd_count, resolvers, serial, swapper};
use nix::errno::Errno;

fn engines() -> Vec<Ops> {
    resolvers().into_iter().map(Ops::with_resolver).collect()
}

/// A tiny judge: a path is allowed `access` when a rule's prefix (whole
/// components) covers it and grants it; any grant implies `stat`. Every call
/// is recorded, to show what was judged.
struct Prefixes {
    rules: Vec<(PathBuf, Access)>,
    seen: Mutex<Vec<(PathBuf, Access)>>,
}

impl Prefixes {
    fn new(rules: &[(&Path, Access)]) -> Prefixes {
        Prefixes {
            rules: rules.iter().map(|(p, a)| (p.to_path_buf(), *a)).collect(),
            seen: Mutex::new(Vec::new()),
        }
    }

    fn judged(&self) -> Vec<(PathBuf, Access)> {
        self.seen.lock().unwrap().clone()
    }
}

impl Judge for Prefixes {
    fn decide(&self, path: &Path, access: Access) -> Decision {
        self.seen.lock().unwrap().push((path.to_path_buf(), access));
        let allowed = self
            .rules
            .iter()
            .any(|(p, a)| path.starts_with(p) && a.granted().contains(access));
        Decision {
            allowed,
            rule: None,
        }
    }
}

/// The ops tests' judge over the shared tree.
trait Judged {
    fn judge(&self, out: Access) -> Prefixes;
}

impl Judged for Tree {
    /// `allowed/` readable, `out/` as given, nothing else.
    fn judge(&self, out: Access) -> Prefixes {
        let a = self.p("allowed");
        let o = self.p("out");
        Prefixes::new(&[(&a, Access::READ), (&o, out)])
    }
}

const ME: Context = Context {
    pid: None,
    program: None,
};

fn me() -> Context {
    Context {
        pid: Some(std::process::id()),
        program: None,
    }
}

fn read(fd: OwnedFd) -> String {
    let mut s = String::new();
    fs::File::from(fd).read_to_string(&mut s).unwrap();
    s
}

/// What a path the requester may not even stat answers, existing or not.
const HIDDEN: Errno = Errno::ENOENT;

fn errno<T>(o: &Outcome<T>) -> Option<Errno> {
    o.result.as_ref().err().copied()
}

#[test]
fn allowed_opens_read_the_right_data() {
    let _g = serial();
    let t = Tree::new();
    let j = t.judge(Access::empty());
    for ops in engines() {
        let before = fd_count();
        for (req, canon, data) in [
            ("allowed/file", "allowed/file", "allowed data"),
            ("allowed/dir/f", "allowed/dir/f", "allowed f"),
            ("allowed/chain1", "allowed/file", "allowed data"),
            ("allowed/dir/../file", "allowed/file", "allowed data"),
        ] {
            let o = ops.open(&j, &ME, &t.p(req), libc::O_RDONLY, 0);
            assert_eq!(o.resolved.as_deref(), Some(t.p(canon).as_path()), "{req}");
            assert_eq!(o.access, Access::READ);
            assert!(o.decision.as_ref().unwrap().allowed);
            assert_eq!(read(o.result.unwrap()), data, "{req}");
        }
        // A directory opens for listing.
        let o = ops.open(
            &j,
            &ME,
            &t.p("allowed/dir"),
            libc::O_RDONLY | libc::O_DIRECTORY,
            0,
        );
        drop(o.result.unwrap());
        // The broker's copy is close-on-exec whatever was asked.
        let o = ops.open(&j, &ME, &t.p("allowed/file"), libc::O_RDONLY, 0);
        let fd = o.result.unwrap();
        let fl = nix::fcntl::fcntl(&fd, nix::fcntl::F_GETFD).unwrap();
        assert_ne!(fl & libc::FD_CLOEXEC, 0);
        drop(fd);
        assert_eq!(before, fd_count(), "descriptor leak");
    }
}

/// What a request for the secret answers: it is hidden, but `/proc/self`
/// without a pid is refused before anything is resolved.
fn refused(ctx: &Context, req: &Path) -> Errno {
    let via_self = req.starts_with("/proc/self") || req.starts_with("/proc/thread-self");
    if via_self && ctx.pid.is_none() {
        Errno::EACCES
    } else {
        HIDDEN
    }
}

#[test]
fn tricks_never_reach_the_secret() {
    let _g = serial();
    let t = Tree::new();
    let j = t.judge(Access::empty());
    let held = fs::File::open(t.p("secret/file")).unwrap();
    let pid = std::process::id();
    let secret = t.p("secret/file");
    for ops in engines() {
        let st = ops.resolver().strategy();
        let before = fd_count();
        for req in [
            t.p("secret/file"),
            t.p("allowed/link_file"),
            t.p("allowed/link_dir/f"),
            t.p("allowed/../secret/file"),
            t.p("allowed/dir/../../secret/dir/f"),
            PathBuf::from(format!("/proc/self/root{}", secret.display())),
            PathBuf::from(format!("/proc/thread-self/root{}", secret.display())),
            PathBuf::from(format!("/proc/{pid}/root{}", secret.display())),
            PathBuf::from(format!("/proc/self/fd/{}", held.as_raw_fd())),
            PathBuf::from(format!("/proc/{pid}/cwd/Cargo.toml")),
            PathBuf::from(format!(
                "{}{}",
                t.p("allowed/to_root_magic").display(),
                secret.display()
            )),
        ] {
            for ctx in [ME, me()] {
                for flags in [
                    libc::O_RDONLY,
                    libc::O_RDWR,
                    libc::O_RDONLY | libc::O_NOFOLLOW,
                ] {
                    let o = ops.open(&j, &ctx, &req, flags, 0);
                    // With O_NOFOLLOW a final symlink in allowed/ is itself
                    // allowed, and opening it is ELOOP.
                    let e = errno(&o);
                    let nofollow_link = flags & libc::O_NOFOLLOW != 0 && e == Some(Errno::ELOOP);
                    assert!(
                        e == Some(refused(&ctx, &req)) || nofollow_link,
                        "{st:?} {req:?} {ctx:?} {flags:#o}: {e:?}"
                    );
                }
                let s = ops.stat(&j, &ctx, &req, FollowSymlinks::Yes);
                assert_eq!(errno(&s), Some(refused(&ctx, &req)), "{st:?} {req:?}");
            }
        }
        // Even a policy that opens all of the requester's /proc cannot follow
        // a magic link: ELOOP, never the object.
        let proc_ok = Prefixes::new(&[(Path::new("/proc/self"), Access::READ)]);
        for req in [
            format!("/proc/self/fd/{}", held.as_raw_fd()),
            format!("/proc/self/root{}", secret.display()),
            "/proc/self/cwd".to_string(),
        ] {
            let o = ops.open(&proc_ok, &me(), Path::new(&req), libc::O_RDONLY, 0);
            assert_eq!(errno(&o), Some(Errno::ELOOP), "{st:?} {req}");
        }
        // ... and without a pid, /proc/self is nobody's: refused before judging.
        let o = ops.open(
            &proc_ok,
            &ME,
            Path::new("/proc/self/status"),
            libc::O_RDONLY,
            0,
        );
        assert_eq!(errno(&o), Some(Errno::EACCES));
        assert!(o.decision.is_none());
        assert_eq!(before, fd_count(), "{st:?}: descriptor leak");
    }
}

#[test]
fn proc_self_means_the_requester() {
    let _g = serial();
    let j = Prefixes::new(&[(Path::new("/proc/self"), Access::READ)]);
    let pid = std::process::id();
    for ops in engines() {
        for req in [
            "/proc/self/status".to_string(),
            "/proc/thread-self/status".to_string(),
            format!("/proc/{pid}/status"),
        ] {
            let o = ops.open(&j, &me(), Path::new(&req), libc::O_RDONLY, 0);
            assert_eq!(
                o.resolved.as_deref(),
                Some(Path::new("/proc/self/status")),
                "{req}"
            );
            let status = read(o.result.unwrap());
            assert!(status.contains(&format!("\nTgid:\t{pid}\n")), "{req}");
        }
        // Another pid is not /proc/self, and the requester's own is not
        // matched when it is not the requester.
        let o = ops.open(&j, &me(), Path::new("/proc/1/status"), libc::O_RDONLY, 0);
        assert_eq!(errno(&o), Some(HIDDEN));
        assert_eq!(o.resolved.as_deref(), Some(Path::new("/proc/1/status")));
        let other = Context {
            pid: Some(1),
            program: None,
        };
        let o = ops.open(
            &j,
            &other,
            Path::new(&format!("/proc/{pid}/status")),
            libc::O_RDONLY,
            0,
        );
        assert_eq!(errno(&o), Some(HIDDEN));
        // readlink of /proc/self itself answers the requester's pid.
        let o = ops.readlink(&j, &me(), Path::new("/proc/self"));
        assert_eq!(o.result.unwrap(), pid.to_string().into_bytes());
        let o = ops.readlink(&j, &ME, Path::new("/proc/self"));
        assert_eq!(errno(&o), Some(Errno::EACCES));
    }
}

#[test]
fn broker_proc_is_never_handed_out() {
    let _g = serial();
    // Even a judge that allows everything under / may not reach the broker's
    // own /proc/<pid>: not by name, not through /proc/self met mid-resolution
    // (/etc/mtab -> ../proc/self/mounts), not through /dev/fd.
    let j = Prefixes::new(&[(Path::new("/"), Access::READ)]);
    let pid = std::process::id();
    let other = Context {
        pid: Some(1),
        program: None,
    };
    for ops in engines() {
        let mut paths = vec![
            format!("/proc/{pid}/status"),
            format!("/proc/{pid}/environ"),
            format!("/proc/{pid}"),
            "/dev/fd".to_string(),
        ];
        if fs::symlink_metadata("/etc/mtab").is_ok_and(|m| m.file_type().is_symlink()) {
            paths.push("/etc/mtab".to_string());
        }
        for req in &paths {
            // The broker's /proc looks absent, as a pid that does not exist.
            let o = ops.open(&j, &other, Path::new(req), libc::O_RDONLY, 0);
            assert_eq!(errno(&o), Some(HIDDEN), "{req}");
            assert!(o.decision.is_none(), "{req}: refused by the hard rule");
            assert!(!o.absent, "{req}");
            let o = ops.stat(&j, &other, Path::new(req), FollowSymlinks::Yes);
            assert_eq!(errno(&o), Some(HIDDEN), "{req}");
            // A missing name there answers the same.
            let missing = format!("{req}/no-such-entry");
            let o = ops.stat(&j, &other, Path::new(&missing), FollowSymlinks::Yes);
            assert_eq!(errno(&o), Some(HIDDEN), "{missing}");
        }
        // O_CREAT takes another road to a decision; it is guarded too.
        let everything = Prefixes::new(&[(Path::new("/"), Access::all())]);
        let req = format!("/proc/{pid}/environ");
        let o = ops.open(
            &everything,
            &other,
            Path::new(&req),
            libc::O_RDONLY | libc::O_CREAT,
            0o600,
        );
        assert_eq!(errno(&o), Some(HIDDEN), "O_CREAT {req}");
        let o = ops.readlink(&everything, &other, Path::new(&format!("/proc/{pid}/exe")));
        assert_eq!(errno(&o), Some(HIDDEN), "readlink exe");
        // The same judge still lets the requester read its own /proc/self.
        let o = ops.open(&j, &other, Path::new("/proc/1/status"), libc::O_RDONLY, 0);
        assert!(o.result.is_ok());
    }
}

#[test]
fn existence_does_not_leak() {
    let _g = serial();
    let t = Tree::new();
    let j = t.judge(Access::empty());
    for ops in engines() {
        let st = ops.resolver().strategy();
        let inside = [
            ("allowed/missing", Errno::ENOENT),
            ("allowed/missing/deeper", Errno::ENOENT),
            ("allowed/file/x", Errno::ENOTDIR),
            ("allowed/loop1", Errno::ELOOP),
        ];
        for (req, e) in inside {
            let o = ops.stat(&j, &ME, &t.p(req), FollowSymlinks::Yes);
            assert_eq!(errno(&o), Some(e), "{st:?} {req}");
            let o = ops.open(&j, &ME, &t.p(req), libc::O_RDONLY, 0);
            assert_eq!(errno(&o), Some(e), "{st:?} {req}");
            let o = ops.access(&j, &ME, &t.p(req), libc::F_OK);
            assert_eq!(errno(&o), Some(e), "{st:?} {req}");
        }
        // Outside the policy every one of these is ENOENT, whether or not
        // the object exists and whatever the real error: it looks absent.
        // Only the observers learn which of them are really missing.
        for (req, absent) in [
            ("secret/missing", true),
            ("secret/file", false),
            ("secret/file/x", true),
            ("secret/loop1", false),
            ("allowed/link_dir/missing", true),
            ("allowed/link_dir/f", false),
            ("allowed/missing/../../secret/missing", true),
            ("nowhere/at/all", true),
        ] {
            let o = ops.stat(&j, &ME, &t.p(req), FollowSymlinks::Yes);
            assert_eq!(errno(&o), Some(HIDDEN), "{st:?} {req}");
            assert_eq!(o.absent, absent, "{st:?} {req}");
            let o = ops.open(&j, &ME, &t.p(req), libc::O_RDONLY, 0);
            assert_eq!(errno(&o), Some(HIDDEN), "{st:?} {req}");
            assert_eq!(o.absent, absent, "{st:?} {req}");
            let o = ops.access(&j, &ME, &t.p(req), libc::F_OK);
            assert_eq!(errno(&o), Some(HIDDEN), "{st:?} {req}");
            let o = ops.readlink(&j, &ME, &t.p(req));
            assert_eq!(errno(&o), Some(HIDDEN), "{st:?} {req}");
        }
        // Missing paths that may be seen are absent too; an object that
        // exists but fails otherwise is not.
        for (req, absent) in [
            ("allowed/missing", true),
            ("allowed/file/x", true),
            ("allowed/loop1", false),
            ("allowed/file", false),
        ] {
            let o = ops.stat(&j, &ME, &t.p(req), FollowSymlinks::Yes);
            assert_eq!(o.absent, absent, "{st:?} {req}");
        }
        // Visible but not allowed as asked: refused, not hidden.
        let o = ops.open(&j, &ME, &t.p("allowed/file"), libc::O_WRONLY, 0);
        assert_eq!(errno(&o), Some(Errno::EACCES), "{st:?}");
        // The stat check was made on the canonical guess, not the string.
        let o = ops.stat(
            &j,
            &ME,
            &t.p("allowed/link_dir/missing"),
            FollowSymlinks::Yes,
        );
        assert_eq!(
            o.resolved.as_deref(),
            Some(t.p("secret/dir/missing").as_path())
        );
    }
}

#[test]
fn request_validation() {
    let _g = serial();
    let t = Tree::new();
    let j = t.judge(Access::all());
    for ops in engines() {
        let f = t.p("allowed/file");
        for bad in [
            libc::O_PATH,
            libc::O_TMPFILE | libc::O_RDWR,
            libc::O_ACCMODE,
            libc::O_RDONLY | libc::O_TRUNC,
            libc::O_RDONLY | libc::O_ASYNC,
            libc::O_RDONLY | 0x4000_0000,
        ] {
            let o = ops.open(&j, &ME, &f, bad, 0);
            assert_eq!(errno(&o), Some(Errno::EINVAL), "{bad:#o}");
            assert!(
                o.decision.is_none() && o.resolved.is_none(),
                "refused before judging"
            );
        }
        assert!(j.judged().is_empty(), "nothing judged for bad flags");
        assert_eq!(
            errno(&ops.open(&j, &ME, Path::new("allowed/file"), 0, 0)),
            Some(Errno::EINVAL)
        );
        assert_eq!(
            errno(&ops.stat(&j, &ME, Path::new("a\0b"), FollowSymlinks::Yes)),
            Some(Errno::EINVAL)
        );
        let long = PathBuf::from(format!("/{}", "x".repeat(5000)));
        assert_eq!(
            errno(&ops.stat(&j, &ME, &long, FollowSymlinks::Yes)),
            Some(Errno::ENAMETOOLONG)
        );
        assert_eq!(errno(&ops.access(&j, &ME, &f, 8)), Some(Errno::EINVAL));
    }
}

#[test]
fn rights_follow_the_flags() {
    let _g = serial();
    let t = Tree::new();
    let read_only = t.judge(Access::empty());
    let a = t.p("allowed");
    let rw = Prefixes::new(&[(&a, Access::READ | Access::WRITE)]);
    for ops in engines() {
        let f = t.p("allowed/file");
        for flags in [
            libc::O_WRONLY,
            libc::O_RDWR,
            libc::O_WRONLY | libc::O_TRUNC,
            libc::O_WRONLY | libc::O_APPEND,
            libc::O_RDONLY | libc::O_APPEND,
        ] {
            let o = ops.open(&read_only, &ME, &f, flags, 0);
            assert_eq!(errno(&o), Some(Errno::EACCES), "{flags:#o}");
            assert!(o.access.contains(Access::WRITE));
        }
        let o = ops.open(&rw, &ME, &f, libc::O_WRONLY | libc::O_APPEND, 0);
        fs::File::from(o.result.unwrap()).write_all(b"+").unwrap();
        assert_eq!(fs::read_to_string(&f).unwrap(), "allowed data+");
        // Real errors on an allowed object come through.
        let o = ops.open(&rw, &ME, &t.p("allowed/dir"), libc::O_WRONLY, 0);
        assert_eq!(errno(&o), Some(Errno::EISDIR));
        let o = ops.open(&rw, &ME, &f, libc::O_RDONLY | libc::O_DIRECTORY, 0);
        assert_eq!(errno(&o), Some(Errno::ENOTDIR));
        // O_NOFOLLOW on a symlink is ELOOP, as open(2) says.
        let o = ops.open(
            &rw,
            &ME,
            &t.p("allowed/chain1"),
            libc::O_RDONLY | libc::O_NOFOLLOW,
            0,
        );
        assert_eq!(errno(&o), Some(Errno::ELOOP));
        fs::write(&f, "allowed data").unwrap();
    }
}

#[test]
fn creating_files() {
    let _g = serial();
    let t = Tree::new();
    let create_only = t.judge(Access::CREATE);
    let create_write = t.judge(Access::CREATE | Access::WRITE | Access::READ);
    for ops in engines() {
        let st = ops.resolver().strategy();
        let before = fd_count();
        let new = t.p("out/new");
        // Mode bits: never setuid/setgid/sticky.
        let o = ops.open(
            &create_only,
            &ME,
            &new,
            libc::O_RDWR | libc::O_CREAT,
            0o7777,
        );
        assert_eq!(o.access, Access::CREATE);
        assert_eq!(o.resolved.as_deref(), Some(new.as_path()));
        let fd = o.result.unwrap();
        let mode = fs::metadata(&new).unwrap().permissions().mode();
        assert_eq!(mode & 0o7000, 0, "{st:?} mode {mode:o}");
        assert_ne!(mode & 0o700, 0, "{st:?} mode {mode:o}");
        fs::File::from(fd).write_all(b"made").unwrap();
        assert_eq!(fs::read_to_string(&new).unwrap(), "made");
        let o = ops.open(
            &create_only,
            &ME,
            &t.p("out/suid"),
            libc::O_WRONLY | libc::O_CREAT,
            0o4777,
        );
        drop(o.result.unwrap());
        assert_eq!(fs::metadata(t.p("out/suid")).unwrap().mode() & 0o4000, 0);
        // Existing: create alone is not enough; it needs write too.
        let o = ops.open(
            &create_only,
            &ME,
            &new,
            libc::O_WRONLY | libc::O_CREAT,
            0o644,
        );
        assert_eq!(errno(&o), Some(Errno::EACCES), "{st:?}");
        assert_eq!(o.access, Access::CREATE | Access::WRITE);
        let o = ops.open(
            &create_write,
            &ME,
            &new,
            libc::O_RDONLY | libc::O_CREAT,
            0o644,
        );
        assert_eq!(read(o.result.unwrap()), "made");
        // O_EXCL on an existing object: EEXIST only where stat is allowed.
        let o = ops.open(
            &create_write,
            &ME,
            &new,
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
            0o644,
        );
        assert_eq!(errno(&o), Some(Errno::EEXIST));
        let o = ops.open(
            &create_write,
            &ME,
            &t.p("secret/file"),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
            0o644,
        );
        assert_eq!(errno(&o), Some(HIDDEN));
        // Creating outside the policy, or under a missing directory.
        let o = ops.open(
            &create_write,
            &ME,
            &t.p("secret/new"),
            libc::O_WRONLY | libc::O_CREAT,
            0o644,
        );
        assert_eq!(errno(&o), Some(HIDDEN));
        assert!(!t.p("secret/new").exists());
        let o = ops.open(
            &create_write,
            &ME,
            &t.p("out/no/new"),
            libc::O_WRONLY | libc::O_CREAT,
            0o644,
        );
        assert_eq!(errno(&o), Some(Errno::ENOENT));
        let o = ops.open(
            &create_write,
            &ME,
            &t.p("secret/no/new"),
            libc::O_WRONLY | libc::O_CREAT,
            0o644,
        );
        assert_eq!(errno(&o), Some(HIDDEN));
        // O_CREAT on an existing directory is EISDIR.
        fs::create_dir(t.p("out/d")).unwrap();
        let o = ops.open(
            &create_write,
            &ME,
            &t.p("out/d"),
            libc::O_RDONLY | libc::O_CREAT,
            0o644,
        );
        assert_eq!(errno(&o), Some(Errno::EISDIR));
        // A dangling symlink is never created through: ELOOP where it may be
        // stat'ed, ENOENT (hidden) elsewhere; the target does not appear.
        symlink(t.p("secret/planted"), t.p("out/dangling")).unwrap();
        let o = ops.open(
            &create_write,
            &ME,
            &t.p("out/dangling"),
            libc::O_WRONLY | libc::O_CREAT,
            0o644,
        );
        assert_eq!(errno(&o), Some(Errno::ELOOP), "{st:?}");
        symlink(t.p("out/planted"), t.p("secret/dangling")).unwrap();
        let o = ops.open(
            &create_write,
            &ME,
            &t.p("secret/dangling"),
            libc::O_WRONLY | libc::O_CREAT,
            0o644,
        );
        assert_eq!(errno(&o), Some(HIDDEN), "{st:?}");
        assert!(!t.p("secret/planted").exists() && !t.p("out/planted").exists());
        // With O_EXCL a dangling symlink exists.
        let o = ops.open(
            &create_write,
            &ME,
            &t.p("out/dangling"),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
            0o644,
        );
        assert_eq!(errno(&o), Some(Errno::EEXIST));
        // A symlink to an allowed file is followed and judged as that file.
        symlink(&new, t.p("out/to_new")).unwrap();
        let o = ops.open(
            &create_write,
            &ME,
            &t.p("out/to_new"),
            libc::O_RDONLY | libc::O_CREAT,
            0,
        );
        assert_eq!(o.resolved.as_deref(), Some(new.as_path()));
        assert_eq!(read(o.result.unwrap()), "made");
        for n in ["new", "suid", "dangling", "to_new"] {
            fs::remove_file(t.p(&format!("out/{n}"))).unwrap();
        }
        fs::remove_dir(t.p("out/d")).unwrap();
        fs::remove_file(t.p("secret/dangling")).unwrap();
        assert_eq!(before, fd_count(), "{st:?}: descriptor leak");
    }
}

#[test]
fn create_race_never_yields_the_secret() {
    let _g = serial();
    let t = Tree::new();
    // out/ may only gain new files: an existing name (the planted hard link)
    // needs write as well, and a symlink leads to the secret's own path.
    let j = t.judge(Access::CREATE);
    let name = t.p("out/name");
    let stop = Arc::new(AtomicBool::new(false));
    let planter = {
        let (stop, name, secret) = (stop.clone(), name.clone(), t.p("secret/file"));
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if n.is_multiple_of(2) {
                    let _ = fs::hard_link(&secret, &name);
                } else {
                    let _ = symlink(&secret, &name);
                }
                let _ = fs::remove_file(&name);
                n += 1;
            }
            n
        })
    };
    let before = fd_count();
    let (mut made, mut refused) = (0, 0);
    for ops in engines() {
        for _ in 0..3000 {
            let o = ops.open(&j, &ME, &name, libc::O_RDWR | libc::O_CREAT, 0o600);
            match o.result {
                Ok(fd) => {
                    let st = nix::sys::stat::fstat(fd.as_fd()).unwrap();
                    let data = read(fd);
                    assert_ne!(data, "SECRET");
                    assert_eq!(st.st_size, 0, "a fresh file");
                    assert!(st.st_nlink <= 1, "our own file");
                    made += 1;
                }
                Err(e) => {
                    // EACCES: the planted hard link, a visible name without
                    // the rights asked. HIDDEN: the secret, through the
                    // planted symlink. EAGAIN: the name kept changing through
                    // every retry. ELOOP: a planted symlink was seen at the
                    // name, and the broker never creates through one.
                    assert!(
                        matches!(e, Errno::EACCES | HIDDEN | Errno::EAGAIN | Errno::ELOOP),
                        "{e}"
                    );
                    refused += 1;
                }
            }
            let _ = fs::remove_file(&name);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let plants = planter.join().unwrap();
    assert_eq!(before, fd_count(), "descriptor leak");
    assert_eq!(fs::read_to_string(t.p("secret/file")).unwrap(), "SECRET");
    eprintln!("plants {plants}, created {made}, refused {refused}");
}

#[test]
fn swapped_directory_never_yields_the_secret() {
    let _g = serial();
    let t = Tree::new();
    let j = t.judge(Access::empty());
    let a = t.p("allowed");
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = swapper(&t, stop.clone());
    let before = fd_count();
    let (mut ok, mut refused) = (0, 0);
    for ops in engines() {
        for _ in 0..3000 {
            let o = ops.open(&j, &ME, &a.join("d/f"), libc::O_RDONLY, 0);
            match o.result {
                Ok(fd) => {
                    assert_eq!(read(fd), "allowed f");
                    ok += 1;
                }
                Err(e) => {
                    assert_eq!(e, HIDDEN);
                    assert!(o.resolved.unwrap().starts_with(t.p("secret")));
                    refused += 1;
                }
            }
            let s = ops.stat(&j, &ME, &a.join("d/f"), FollowSymlinks::Yes);
            if let Ok(st) = s.result {
                assert_ne!(st.ino, fs::metadata(t.p("secret/dir/f")).unwrap().ino());
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    assert_eq!(before, fd_count(), "descriptor leak");
    eprintln!("swaps {swaps}, opened {ok}, refused {refused}");
}

#[test]
fn stat_access_readlink() {
    let _g = serial();
    let t = Tree::new();
    let j = t.judge(Access::empty());
    let x = Prefixes::new(&[(&t.p("allowed"), Access::READ | Access::EXEC)]);
    let stat_only = Prefixes::new(&[(&t.p("allowed"), Access::STAT)]);
    for ops in engines() {
        let f = t.p("allowed/file");
        let meta = fs::metadata(&f).unwrap();
        let s = ops
            .stat(&stat_only, &ME, &f, FollowSymlinks::Yes)
            .result
            .unwrap();
        assert_eq!(
            (s.ino, s.dev, s.size),
            (meta.ino(), meta.dev(), meta.len() as i64)
        );
        // Follow vs not.
        let l = t.p("allowed/chain1");
        let s = ops
            .stat(&stat_only, &ME, &l, FollowSymlinks::Yes)
            .result
            .unwrap();
        assert_eq!(s.ino, meta.ino());
        let s = ops
            .stat(&stat_only, &ME, &l, FollowSymlinks::No)
            .result
            .unwrap();
        assert_eq!(s.mode as u32 & libc::S_IFMT, libc::S_IFLNK);
        assert_eq!(s.ino, fs::symlink_metadata(&l).unwrap().ino());
        // stat of a link to the secret is judged on the secret.
        let o = ops.stat(
            &stat_only,
            &ME,
            &t.p("allowed/link_file"),
            FollowSymlinks::Yes,
        );
        assert_eq!(errno(&o), Some(HIDDEN));
        assert!(
            ops.stat(
                &stat_only,
                &ME,
                &t.p("allowed/link_file"),
                FollowSymlinks::No
            )
            .result
            .is_ok()
        );
        // access: policy and real permission bits, both.
        assert_eq!(ops.access(&j, &ME, &f, libc::R_OK).result, Ok(()));
        assert_eq!(ops.access(&stat_only, &ME, &f, libc::F_OK).result, Ok(()));
        assert_eq!(
            errno(&ops.access(&stat_only, &ME, &f, libc::R_OK)),
            Some(Errno::EACCES)
        );
        assert_eq!(
            errno(&ops.access(&j, &ME, &f, libc::W_OK)),
            Some(Errno::EACCES)
        );
        let o = ops.access(&x, &ME, &f, libc::X_OK);
        assert!(o.decision.unwrap().allowed, "policy allows exec");
        assert_eq!(o.result, Err(Errno::EACCES), "but the file has no x bit");
        assert_eq!(
            ops.access(&x, &ME, &t.p("allowed/dir"), libc::X_OK).result,
            Ok(())
        );
        assert_eq!(
            errno(&ops.access(&j, &ME, &t.p("allowed/link_file"), libc::F_OK)),
            Some(HIDDEN)
        );
        // readlink: nofollow, stat is enough, EINVAL for a non-link.
        let o = ops.readlink(&stat_only, &ME, &t.p("allowed/link_file"));
        assert_eq!(o.result.unwrap(), b"../secret/file");
        assert_eq!(o.access, Access::STAT);
        assert_eq!(
            errno(&ops.readlink(&stat_only, &ME, &f)),
            Some(Errno::EINVAL)
        );
        assert_eq!(
            errno(&ops.readlink(&j, &ME, &t.p("secret/loop1"))),
            Some(HIDDEN)
        );
        assert_eq!(
            errno(&ops.readlink(&j, &ME, &t.p("allowed/missing"))),
            Some(Errno::ENOENT)
        );
        // The requester's own magic links read as the kernel would show them.
        let proc_ok = Prefixes::new(&[(Path::new("/proc/self"), Access::STAT)]);
        let o = ops.readlink(&proc_ok, &me(), Path::new("/proc/self/exe"));
        assert_eq!(
            o.result.unwrap(),
            fs::read_link("/proc/self/exe")
                .unwrap()
                .as_os_str()
                .as_encoded_bytes()
        );
        assert_eq!(o.resolved.as_deref(), Some(Path::new("/proc/self/exe")));
    }
}

#[test]
fn one_engine_serves_many_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Ops>();
    send_sync::<Resolver>();
    let _g = serial();
    let t = Arc::new(Tree::new());
    for ops in engines() {
        let ops = Arc::new(ops);
        let before = fd_count();
        let workers: Vec<_> = (0..4)
            .map(|i| {
                let (ops, t) = (ops.clone(), t.clone());
                std::thread::spawn(move || {
                    let j = t.judge(Access::empty());
                    for _ in 0..200 {
                        let (req, data) = if i % 2 == 0 {
                            ("allowed/file", "allowed data")
                        } else {
                            ("allowed/chain1", "allowed data")
                        };
                        let o = ops.open(&j, &ME, &t.p(req), libc::O_RDONLY, 0);
                        assert_eq!(read(o.result.unwrap()), data);
                        let o = ops.open(&j, &ME, &t.p("allowed/link_file"), libc::O_RDONLY, 0);
                        assert_eq!(errno(&o), Some(HIDDEN));
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        assert_eq!(before, fd_count(), "descriptor leak");
    }
}

/// mkdir, unlink, rmdir, rename, link, symlink, chmod and utimes with both
/// resolvers: the rights each needs, the held parent, no widening, and
/// errors revealed only where `stat` is allowed.
#[test]
fn name_operations_judge_the_parent_and_the_name() {
    use fdbroker::ops::{Stamp, Times};
    let _g = serial();
    for ops in engines() {
        let t = Tree::new();
        let all = Access::READ | Access::WRITE | Access::CREATE | Access::REMOVE;
        let j = t.judge(all);
        let p = |r: &str| t.p(r);
        // out/ has every right; allowed/ only read; secret/ nothing.
        assert!(ops.mkdir(&j, &ME, &p("out/d"), 0o4755).result.is_ok());
        let st = fs::metadata(p("out/d")).unwrap();
        assert!(
            st.is_dir() && st.mode() & 0o7000 == 0,
            "no setuid/setgid/sticky"
        );
        assert_eq!(
            errno(&ops.mkdir(&j, &ME, &p("out/d"), 0o755)),
            Some(Errno::EEXIST)
        );
        assert_eq!(
            errno(&ops.mkdir(&j, &ME, &p("out/d/."), 0o755)),
            Some(Errno::EEXIST)
        );
        assert_eq!(
            errno(&ops.mkdir(&j, &ME, &p("allowed/d"), 0o755)),
            Some(Errno::EACCES)
        );
        // Existence under secret/ never shows: all of it looks absent.
        for r in [
            "secret/file",
            "secret/none",
            "secret/file/x",
            "secret/none/x",
        ] {
            assert_eq!(
                errno(&ops.mkdir(&j, &ME, &p(r), 0o755)),
                Some(Errno::ENOENT),
                "{r}"
            );
            assert_eq!(
                errno(&ops.unlink(&j, &ME, &p(r))),
                Some(Errno::ENOENT),
                "{r}"
            );
            assert_eq!(
                errno(&ops.rmdir(&j, &ME, &p(r))),
                Some(Errno::ENOENT),
                "{r}"
            );
        }
        // Through a symlink to the secret directory: judged where it leads.
        assert_eq!(
            errno(&ops.mkdir(&j, &ME, &p("allowed/link_dir/new"), 0o755)),
            Some(Errno::ENOENT)
        );
        assert!(!p("secret/dir/new").exists());
        fs::write(p("out/d/f"), "f").unwrap();
        let o = ops.rename(&j, &ME, &p("out/d/f"), &p("out/g"), 0);
        assert_eq!(o.result, Ok(()));
        assert_eq!(o.from.resolved.as_deref(), Some(p("out/d/f").as_path()));
        assert_eq!(
            o.to.unwrap().resolved.as_deref(),
            Some(p("out/g").as_path())
        );
        let o = ops.rename(&j, &ME, &p("out/d"), &p("out/e"), 0);
        assert_eq!(o.result, Err(Errno::EXDEV), "a directory never moves");
        let o = ops.rename(&j, &ME, &p("allowed/file"), &p("out/h"), 0);
        assert_eq!(o.result, Err(Errno::EACCES), "no remove in allowed/");
        fs::write(p("out/x"), "x").unwrap();
        let o = ops.rename(&j, &ME, &p("out/g"), &p("out/x"), libc::RENAME_NOREPLACE);
        assert_eq!(o.result, Err(Errno::EEXIST));
        let o = ops.rename(&j, &ME, &p("out/g"), &p("out/x"), libc::RENAME_EXCHANGE);
        assert_eq!(o.result, Err(Errno::EINVAL));
        assert_eq!(
            ops.rename(&j, &ME, &p("out/g"), &p("out/x"), 0).result,
            Ok(())
        );
        assert_eq!(fs::read_to_string(p("out/x")).unwrap(), "f");
        // A link from allowed/ (read only) into out/ would widen it.
        let o = ops.link(&j, &ME, &p("allowed/file"), FollowSymlinks::No, &p("out/l"));
        assert_eq!(o.result, Err(Errno::EACCES));
        let from = o.from.decision.unwrap();
        assert!(!from.allowed, "refused at the source");
        let o = ops.link(&j, &ME, &p("out/x"), FollowSymlinks::No, &p("out/l"));
        assert_eq!(o.result, Ok(()));
        assert_eq!(fs::metadata(p("out/x")).unwrap().nlink(), 2);
        // A symlink's contents are not judged; what it reaches is.
        let target = std::ffi::OsStr::new("../secret/file");
        assert!(ops.symlink(&j, &ME, target, &p("out/s")).result.is_ok());
        let o = ops.open(&j, &ME, &p("out/s"), libc::O_RDONLY, 0);
        assert_eq!(errno(&o), Some(Errno::ENOENT), "hidden where it leads");
        // Modes and times need write; never setuid, setgid or sticky.
        let o = ops.chmod(&j, &ME, &p("out/x"), 0o600, FollowSymlinks::Yes);
        assert!(o.result.is_ok(), "{o:?}");
        assert_eq!(fs::metadata(p("out/x")).unwrap().mode() & 0o7777, 0o600);
        let o = ops.chmod(&j, &ME, &p("out/x"), 0o2755, FollowSymlinks::Yes);
        assert_eq!(errno(&o), Some(Errno::EPERM));
        let o = ops.chmod(&j, &ME, &p("allowed/file"), 0o600, FollowSymlinks::Yes);
        assert_eq!(errno(&o), Some(Errno::EACCES));
        let o = ops.chmod(&j, &ME, &p("out/s"), 0o600, FollowSymlinks::No);
        assert_eq!(errno(&o), Some(Errno::EOPNOTSUPP));
        let when = Times {
            atime: Stamp::Omit,
            mtime: Stamp::At {
                sec: 1_000_000_000,
                nsec: 5,
            },
        };
        assert!(
            ops.utimes(&j, &ME, &p("out/x"), when, FollowSymlinks::Yes)
                .result
                .is_ok()
        );
        assert_eq!(fs::metadata(p("out/x")).unwrap().mtime(), 1_000_000_000);
        assert!(
            ops.utimes(&j, &ME, &p("out/s"), when, FollowSymlinks::No)
                .result
                .is_ok()
        );
        assert_eq!(
            fs::symlink_metadata(p("out/s")).unwrap().mtime(),
            1_000_000_000
        );
        let o = ops.utimes(&j, &ME, &p("allowed/file"), Times::NOW, FollowSymlinks::Yes);
        assert_eq!(errno(&o), Some(Errno::EACCES));
        // Removing needs remove.
        let no_remove = t.judge(Access::READ | Access::WRITE | Access::CREATE);
        assert_eq!(
            errno(&ops.unlink(&no_remove, &ME, &p("out/l"))),
            Some(Errno::EACCES)
        );
        assert_eq!(
            errno(&ops.unlink(&j, &ME, &p("out/d"))),
            Some(Errno::EISDIR)
        );
        assert!(ops.unlink(&j, &ME, &p("out/l")).result.is_ok());
        assert!(ops.rmdir(&j, &ME, &p("out/d")).result.is_ok());
        // `..` names the parent, which the kernel never removes.
        fs::create_dir(p("out/d2")).unwrap();
        assert_eq!(
            errno(&ops.rmdir(&j, &ME, &p("out/d2/.."))),
            Some(Errno::ENOTEMPTY)
        );
        assert_eq!(
            errno(&ops.rmdir(&j, &ME, &p("out/.."))),
            Some(Errno::ENOENT),
            "what it names may not be stat'ed: it looks absent"
        );
        assert_eq!(
            errno(&ops.rmdir(&j, &ME, &p("out/none"))),
            Some(Errno::ENOENT)
        );
    }
}
