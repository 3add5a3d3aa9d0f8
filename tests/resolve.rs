//! The resolver against path tricks, with both strategies.
//!
//! In-process (no fork). Tests are serialised by a lock so that descriptor
//! counts in `/proc/self/fd` are meaningful.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use fdbroker::resolve::{FollowSymlinks, MAX_SYMLINKS, Resolver};

use common::tree::{Tree, fd_count, resolvers, serial, swapper};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::unistd::AccessFlags;

fn read_all(r: &Resolver, fd: &OwnedFd) -> String {
    let f = r.reopen(fd.as_fd(), OFlag::O_RDONLY).expect("reopen");
    let mut s = String::new();
    fs::File::from(f).read_to_string(&mut s).unwrap();
    s
}

#[test]
fn symlinks_resolve_to_their_real_target() {
    let _g = serial();
    let t = Tree::new();
    for r in resolvers() {
        let before = fd_count();
        let st = r.strategy();
        for (req, canon, data) in [
            ("allowed/file", "allowed/file", "allowed data"),
            ("allowed/link_file", "secret/file", "SECRET"),
            ("allowed/link_abs", "secret/file", "SECRET"),
            ("allowed/link_dir/f", "secret/dir/f", "SECRET f"),
            ("allowed/../secret/file", "secret/file", "SECRET"),
            ("allowed/dir/../../secret/dir/f", "secret/dir/f", "SECRET f"),
            ("allowed/chain1", "allowed/file", "allowed data"),
            ("allowed/./dir//f", "allowed/dir/f", "allowed f"),
        ] {
            let obj = r
                .resolve(&t.p(req), FollowSymlinks::Yes)
                .unwrap_or_else(|e| panic!("{st:?} {req}: {e}"));
            assert_eq!(obj.path, t.p(canon), "{st:?} {req}");
            assert_eq!(read_all(&r, &obj.fd), data, "{st:?} {req}");
        }
        // `..` never goes above `/`.
        let deep = format!("/../../..{}", t.p("allowed/file").display());
        assert_eq!(
            r.resolve(Path::new(&deep), FollowSymlinks::Yes)
                .unwrap()
                .path,
            t.p("allowed/file")
        );
        assert_eq!(
            r.resolve(Path::new("/.."), FollowSymlinks::Yes)
                .unwrap()
                .path,
            Path::new("/")
        );
        // A trailing slash follows a final symlink to a directory.
        let d = r.resolve(
            Path::new(&format!("{}/", t.p("allowed/link_dir").display())),
            FollowSymlinks::No,
        );
        assert_eq!(d.unwrap().path, t.p("secret/dir"), "{st:?}");
        assert_eq!(before, fd_count(), "{st:?}: descriptor leak");
    }
}

#[test]
fn nofollow_returns_the_symlink_itself() {
    let _g = serial();
    let t = Tree::new();
    for r in resolvers() {
        let obj = r
            .resolve(&t.p("allowed/link_file"), FollowSymlinks::No)
            .unwrap();
        assert_eq!(obj.path, t.p("allowed/link_file"));
        let st = nix::sys::stat::fstat(obj.fd.as_fd()).unwrap();
        assert_eq!(st.st_mode & libc::S_IFMT, libc::S_IFLNK);
        assert_eq!(r.read_link(obj.fd.as_fd()).unwrap(), b"../secret/file");
        // A symlink held with O_NOFOLLOW cannot be reopened into its target.
        assert_eq!(
            r.reopen(obj.fd.as_fd(), OFlag::O_RDONLY).err(),
            Some(Errno::ELOOP)
        );
        let file = r.resolve(&t.p("allowed/file"), FollowSymlinks::No).unwrap();
        assert_eq!(r.read_link(file.fd.as_fd()).err(), Some(Errno::EINVAL));
    }
}

#[test]
fn magic_links_are_refused() {
    let _g = serial();
    let t = Tree::new();
    let secret = t.p("secret/file");
    let held = fs::File::open(&secret).unwrap();
    let pid = std::process::id();
    for r in resolvers() {
        let before = fd_count();
        let st = r.strategy();
        for req in [
            format!("/proc/self/root{}", secret.display()),
            format!("/proc/{pid}/root{}", secret.display()),
            format!("/proc/thread-self/root{}", secret.display()),
            format!("/proc/self/fd/{}", held.as_raw_fd()),
            format!("/proc/{pid}/task/{pid}/fd/{}", held.as_raw_fd()),
            format!("/proc/{pid}/cwd/Cargo.toml"),
            format!("/proc/{pid}/cwd"),
            format!("/proc/{pid}/exe"),
            format!("/proc/{pid}/ns/net"),
            format!("{}", t.p("allowed/to_magic").display()),
            format!("{}/etc/hostname", t.p("allowed/to_root_magic").display()),
        ] {
            let got = r.resolve(Path::new(&req), FollowSymlinks::Yes);
            assert_eq!(got.err(), Some(Errno::ELOOP), "{st:?} {req}");
        }
        // Without following, the final magic link is held as the link itself.
        let fdpath = format!("/proc/self/fd/{}", held.as_raw_fd());
        let link = r.resolve(Path::new(&fdpath), FollowSymlinks::No).unwrap();
        assert_eq!(
            link.path,
            PathBuf::from(format!("/proc/{pid}/fd/{}", held.as_raw_fd()))
        );
        assert_eq!(
            r.reopen(link.fd.as_fd(), OFlag::O_RDONLY).err(),
            Some(Errno::ELOOP),
            "{st:?}"
        );
        assert_eq!(
            r.read_link(link.fd.as_fd()).unwrap(),
            secret.as_os_str().as_bytes()
        );
        drop(link);
        // Plain procfs symlinks still work.
        assert_eq!(
            r.resolve(Path::new("/proc/self"), FollowSymlinks::Yes)
                .unwrap()
                .path,
            PathBuf::from(format!("/proc/{pid}"))
        );
        let ts = r
            .resolve(Path::new("/proc/thread-self/status"), FollowSymlinks::Yes)
            .unwrap()
            .path;
        assert!(
            ts.starts_with(format!("/proc/{pid}/task/")),
            "{st:?} {ts:?}"
        );
        assert_eq!(
            r.resolve(Path::new("/proc/mounts"), FollowSymlinks::Yes)
                .unwrap()
                .path,
            PathBuf::from(format!("/proc/{pid}/mounts"))
        );
        assert_eq!(before, fd_count(), "{st:?}: descriptor leak");
    }
}

#[test]
fn errors_match_the_kernel() {
    let _g = serial();
    let t = Tree::new();
    // A chain of exactly MAX_SYMLINKS links resolves; one more is ELOOP.
    let chain = t.p("chain");
    fs::create_dir(&chain).unwrap();
    for i in 0..=MAX_SYMLINKS {
        symlink(format!("l{}", i + 1), chain.join(format!("l{i}"))).unwrap();
    }
    let n = MAX_SYMLINKS + 1;
    fs::write(chain.join(format!("l{n}")), "end").unwrap();
    assert_eq!(fs::read_to_string(chain.join("l1")).unwrap(), "end");
    assert_eq!(
        fs::read_to_string(chain.join("l0"))
            .unwrap_err()
            .raw_os_error(),
        Some(libc::ELOOP)
    );
    for r in resolvers() {
        let st = r.strategy();
        let e = |p: &Path, follow| r.resolve(p, follow).err();
        assert_eq!(
            e(&t.p("allowed/loop1"), FollowSymlinks::Yes),
            Some(Errno::ELOOP),
            "{st:?}"
        );
        assert_eq!(
            e(&t.p("allowed/loop1/x"), FollowSymlinks::No),
            Some(Errno::ELOOP),
            "{st:?}"
        );
        assert!(
            r.resolve(&t.p("allowed/loop1"), FollowSymlinks::No).is_ok(),
            "{st:?}"
        );
        assert!(
            r.resolve(&chain.join("l1"), FollowSymlinks::Yes).is_ok(),
            "{st:?}"
        );
        assert_eq!(
            e(&chain.join("l0"), FollowSymlinks::Yes),
            Some(Errno::ELOOP),
            "{st:?}"
        );
        assert_eq!(
            e(&t.p("allowed/missing"), FollowSymlinks::Yes),
            Some(Errno::ENOENT),
            "{st:?}"
        );
        assert_eq!(
            e(&t.p("allowed/dangling"), FollowSymlinks::Yes),
            Some(Errno::ENOENT),
            "{st:?}"
        );
        assert!(
            r.resolve(&t.p("allowed/dangling"), FollowSymlinks::No)
                .is_ok(),
            "{st:?}"
        );
        assert_eq!(
            e(&t.p("allowed/file/x"), FollowSymlinks::Yes),
            Some(Errno::ENOTDIR),
            "{st:?}"
        );
        assert_eq!(
            e(
                Path::new(&format!("{}/", t.p("allowed/file").display())),
                FollowSymlinks::Yes
            ),
            Some(Errno::ENOTDIR)
        );
        assert_eq!(
            e(&t.p("allowed/file/."), FollowSymlinks::Yes),
            Some(Errno::ENOTDIR),
            "{st:?}"
        );
        assert_eq!(
            e(Path::new("relative"), FollowSymlinks::Yes),
            Some(Errno::EINVAL),
            "{st:?}"
        );
        assert_eq!(
            e(Path::new(""), FollowSymlinks::Yes),
            Some(Errno::EINVAL),
            "{st:?}"
        );
        assert_eq!(
            e(
                Path::new(OsStr::from_bytes(b"/etc\0/passwd")),
                FollowSymlinks::Yes
            ),
            Some(Errno::EINVAL)
        );
        let long = format!("/{}", "a/".repeat(2100));
        assert_eq!(
            e(Path::new(&long), FollowSymlinks::Yes),
            Some(Errno::ENAMETOOLONG),
            "{st:?}"
        );
        let long_name = t.p(&"n".repeat(300));
        assert_eq!(
            e(&long_name, FollowSymlinks::Yes),
            Some(Errno::ENAMETOOLONG),
            "{st:?}"
        );
    }
}

#[test]
fn odd_names_and_deleted_objects() {
    let _g = serial();
    let t = Tree::new();
    let odd = t.root.join(OsStr::from_bytes(b"allowed/na\xffme\nx"));
    fs::write(&odd, "odd").unwrap();
    let literal = t.p("allowed/x (deleted)");
    fs::write(&literal, "literal").unwrap();
    for r in resolvers() {
        let st = r.strategy();
        let obj = r.resolve(&odd, FollowSymlinks::Yes).unwrap();
        assert_eq!(obj.path, odd, "{st:?}");
        assert_eq!(read_all(&r, &obj.fd), "odd");
        // A file really named "... (deleted)" keeps its name.
        let obj = r.resolve(&literal, FollowSymlinks::Yes).unwrap();
        assert_eq!(obj.path, literal, "{st:?}");
        // An object unlinked after being reached has no name any more.
        let gone = t.p("allowed/gone");
        fs::write(&gone, "gone").unwrap();
        let obj = r.resolve(&gone, FollowSymlinks::Yes).unwrap();
        fs::remove_file(&gone).unwrap();
        assert_eq!(
            r.fd_path(obj.fd.as_fd()).err(),
            Some(Errno::ENOENT),
            "{st:?}"
        );
        // ... even if a file named like the kernel's marker appears.
        fs::write(t.p("allowed/gone (deleted)"), "decoy").unwrap();
        assert_eq!(
            r.fd_path(obj.fd.as_fd()).err(),
            Some(Errno::ENOENT),
            "{st:?}"
        );
        fs::remove_file(t.p("allowed/gone (deleted)")).unwrap();
    }
}

#[test]
fn best_guess_follows_what_exists() {
    let _g = serial();
    let t = Tree::new();
    for r in resolvers() {
        let st = r.strategy();
        let g = |p: &str| r.best_guess(&t.p(p), FollowSymlinks::Yes);
        assert_eq!(g("allowed/missing/x"), t.p("allowed/missing/x"), "{st:?}");
        assert_eq!(
            g("allowed/link_dir/missing"),
            t.p("secret/dir/missing"),
            "{st:?}"
        );
        assert_eq!(g("allowed/dangling"), t.p("allowed/missing"), "{st:?}");
        assert_eq!(
            g("allowed/missing/../../secret/x"),
            t.p("secret/x"),
            "{st:?}"
        );
        assert_eq!(g("allowed/loop1"), t.p("allowed/loop1"), "{st:?}");
        assert_eq!(g("allowed/file"), t.p("allowed/file"), "{st:?}");
        assert_eq!(g("allowed/file/x"), t.p("allowed/file/x"), "{st:?}");
        assert_eq!(
            r.best_guess(&t.p("allowed/dangling"), FollowSymlinks::No),
            t.p("allowed/dangling")
        );
        let pid = std::process::id();
        assert_eq!(
            r.best_guess(Path::new("/proc/self/root/etc/passwd"), FollowSymlinks::Yes),
            PathBuf::from(format!("/proc/{pid}/root/etc/passwd"))
        );
    }
}

#[test]
fn reopen_and_access_act_on_the_held_object() {
    let _g = serial();
    let t = Tree::new();
    for r in resolvers() {
        let obj = r
            .resolve(&t.p("allowed/file"), FollowSymlinks::Yes)
            .unwrap();
        for bad in [
            OFlag::O_CREAT,
            OFlag::O_EXCL,
            OFlag::O_NOFOLLOW,
            OFlag::O_PATH,
        ] {
            assert_eq!(
                r.reopen(obj.fd.as_fd(), OFlag::O_RDONLY | bad).err(),
                Some(Errno::EINVAL)
            );
        }
        let f = r.reopen(obj.fd.as_fd(), OFlag::O_RDONLY).unwrap();
        let fdflags = nix::fcntl::fcntl(&f, nix::fcntl::F_GETFD).unwrap();
        assert_ne!(
            fdflags & libc::FD_CLOEXEC,
            0,
            "broker copies are close-on-exec"
        );
        // Rename the object away: the held descriptor still names and opens it.
        fs::rename(t.p("allowed/file"), t.p("allowed/moved")).unwrap();
        fs::write(t.p("allowed/file"), "impostor").unwrap();
        assert_eq!(read_all(&r, &obj.fd), "allowed data");
        assert_eq!(r.fd_path(obj.fd.as_fd()).unwrap(), t.p("allowed/moved"));
        fs::remove_file(t.p("allowed/file")).unwrap();
        fs::rename(t.p("allowed/moved"), t.p("allowed/file")).unwrap();
        assert_eq!(r.access(obj.fd.as_fd(), AccessFlags::R_OK), Ok(()));
        assert_eq!(
            r.access(obj.fd.as_fd(), AccessFlags::X_OK),
            Err(Errno::EACCES)
        );
    }
}

#[test]
fn swapped_directory_never_yields_the_secret_under_an_allowed_name() {
    let _g = serial();
    let t = Tree::new();
    let stop = Arc::new(AtomicBool::new(false));
    let h = swapper(&t, stop.clone());
    let req = t.p("allowed/d/f");
    let secret = t.p("secret/dir/f");
    let before = fd_count();
    let mut seen = (0, 0, 0);
    for r in resolvers() {
        for _ in 0..3000 {
            match r.resolve(&req, FollowSymlinks::Yes) {
                Ok(obj) => {
                    let data = read_all(&r, &obj.fd);
                    if obj.path == secret {
                        assert_eq!(data, "SECRET f");
                        seen.1 += 1;
                    } else {
                        // Named as allowed (possibly `allowed/d_link/f` after a swap):
                        // never the secret's content.
                        assert!(obj.path.starts_with(t.p("allowed")), "{:?}", obj.path);
                        assert_ne!(obj.path, secret);
                        assert_eq!(data, "allowed f", "{:?} -> {data}", obj.path);
                        seen.0 += 1;
                    }
                }
                Err(_) => seen.2 += 1,
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = h.join().unwrap();
    assert_eq!(before, fd_count(), "descriptor leak");
    eprintln!(
        "swaps {swaps}, allowed {}, secret {}, errors {}",
        seen.0, seen.1, seen.2
    );
}

/// `open_plain` opens only what the string names: any symlink on the way,
/// final or not, magic or not, is `ELOOP` (the caller then takes the
/// resolving path); paths that are not plain are `EINVAL`; the walk
/// strategy has no one-call open (`ENOSYS`).
#[test]
fn open_plain_refuses_every_symlink() {
    let _g = serial();
    let t = Tree::new();
    for r in resolvers() {
        let before = fd_count();
        let walk = r.strategy() == fdbroker::resolve::Strategy::Walk;
        let open = |rel: &str| r.open_plain(&t.p(rel), OFlag::O_RDONLY);
        if walk {
            assert_eq!(open("allowed/file").unwrap_err(), Errno::ENOSYS);
            continue;
        }
        let mut s = String::new();
        fs::File::from(open("allowed/dir/f").unwrap())
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "allowed f");
        for rel in [
            "allowed/link_file",
            "allowed/link_abs",
            "allowed/link_dir/f",
            "allowed/chain1",
            "allowed/to_magic",
            "allowed/to_root_magic/etc",
            "allowed/dangling",
        ] {
            assert_eq!(open(rel).unwrap_err(), Errno::ELOOP, "{rel}");
        }
        let me = std::process::id();
        for p in ["/proc/self/status", &format!("/proc/{me}/root/etc")] {
            assert_eq!(
                r.open_plain(Path::new(p), OFlag::O_RDONLY).unwrap_err(),
                Errno::ELOOP,
                "{p}"
            );
        }
        for rel in [
            "allowed/./file",
            "allowed/dir/../file",
            "allowed//file",
            "allowed/dir/",
        ] {
            assert_eq!(open(rel).unwrap_err(), Errno::EINVAL, "{rel}");
        }
        assert_eq!(
            r.open_plain(Path::new("/etc"), OFlag::O_PATH).unwrap_err(),
            Errno::EINVAL
        );
        assert_eq!(open("allowed/missing").unwrap_err(), Errno::ENOENT);
        assert_eq!(before, fd_count(), "descriptor leak ({:?})", r.strategy());
    }
}
