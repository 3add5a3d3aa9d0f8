//! The trick tree shared by the resolver and ops tests, helpers for running
//! them under both resolution strategies, and the directory swapper of
//! their race tests.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use fdbroker::resolve::{Resolver, Strategy};
use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};

static LOCK: Mutex<()> = Mutex::new(());

/// Tests that count descriptors or race threads run one at a time.
pub fn serial() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Open descriptors of this process.
pub fn fd_count() -> usize {
    fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Both strategies; openat2 is skipped (with a reason) on kernels without it,
/// unless FDBROKER_REQUIRE_KERNEL=1.
pub fn resolvers() -> Vec<Resolver> {
    let mut v = vec![Resolver::with_strategy(Strategy::Walk).expect("walk resolver")];
    match Resolver::with_strategy(Strategy::Openat2) {
        Ok(r) => v.push(r),
        Err(e) => {
            if std::env::var("FDBROKER_REQUIRE_KERNEL").as_deref() == Ok("1") {
                panic!("openat2 required: {e}");
            }
            eprintln!("SKIP openat2 strategy: {e}");
        }
    }
    v
}

/// `allowed/` (with links out of it in every way we know), `secret/`, `out/`.
pub struct Tree {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
}

impl Tree {
    pub fn new() -> Tree {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        let a = root.join("allowed");
        let s = root.join("secret");
        fs::create_dir_all(a.join("dir")).unwrap();
        fs::create_dir_all(s.join("dir")).unwrap();
        fs::create_dir_all(root.join("out")).unwrap();
        fs::write(a.join("file"), "allowed data").unwrap();
        fs::write(a.join("dir/f"), "allowed f").unwrap();
        fs::write(s.join("file"), "SECRET").unwrap();
        fs::write(s.join("dir/f"), "SECRET f").unwrap();
        symlink("../secret/file", a.join("link_file")).unwrap();
        symlink(s.join("file"), a.join("link_abs")).unwrap();
        symlink(s.join("dir"), a.join("link_dir")).unwrap();
        symlink(a.join("chain2"), a.join("chain1")).unwrap();
        symlink(a.join("chain3"), a.join("chain2")).unwrap();
        symlink(a.join("file"), a.join("chain3")).unwrap();
        symlink("loop2", a.join("loop1")).unwrap();
        symlink("loop1", a.join("loop2")).unwrap();
        symlink("loop2", s.join("loop1")).unwrap();
        symlink("loop1", s.join("loop2")).unwrap();
        symlink("missing", a.join("dangling")).unwrap();
        symlink("/proc/self/cwd", a.join("to_magic")).unwrap();
        symlink("/proc/self/root", a.join("to_root_magic")).unwrap();
        Tree { _dir: dir, root }
    }

    pub fn p(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
}

/// Swaps `allowed/d` (a real directory) with a symlink to the secret
/// directory, atomically and endlessly, while the resolver runs.
pub fn swapper(t: &Tree, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    let a = t.p("allowed");
    fs::create_dir(a.join("d")).unwrap();
    fs::write(a.join("d/f"), "allowed f").unwrap();
    symlink(t.p("secret/dir"), a.join("d_link")).unwrap();
    std::thread::spawn(move || {
        let mut swaps = 0u64;
        while !stop.load(Ordering::Relaxed) {
            renameat2(
                AT_FDCWD,
                &a.join("d"),
                AT_FDCWD,
                &a.join("d_link"),
                RenameFlags::RENAME_EXCHANGE,
            )
            .unwrap();
            swaps += 1;
        }
        swaps
    })
}
