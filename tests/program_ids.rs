//! The engine gives the program no more than its own credentials would get
//! (`ops::ProgramIds`): whatever lies in `/proc` and whatever only a
//! built-in profile grants is reached and opened with the program's
//! filesystem ids, groups and no effective capability; what the policy's own
//! rules grant, with the broker's. Each case runs under both resolution
//! strategies.
//!
//! In-process (no fork): the credentials are the calling thread's, taken
//! on for one operation. As root the program is `nobody`; as an ordinary
//! user the cases that need another user say so and check the rest.

mod common;

use std::fs;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fdbroker::ops::{Context, Ops, Outcome, ProgramIds};
use fdbroker::policy::{Access, Decision, Judge, RuleKind, RuleRef};
use fdbroker::resolve::FollowSymlinks;
use nix::errno::Errno;

use common::tree::resolvers;

const NOBODY: u32 = 65534;

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Allows `access` under `roots`, and says the rule is in `file`: a
/// built-in profile's (`<profile:runtime>`) or a policy's own.
struct Rules {
    roots: Vec<PathBuf>,
    access: Access,
    file: &'static str,
}

impl Judge for Rules {
    fn decide(&self, path: &Path, access: Access) -> Decision {
        if !(self.roots.iter().any(|r| path.starts_with(r))
            && self.access.granted().contains(access))
        {
            return Decision::default_deny();
        }
        Decision {
            allowed: true,
            rule: Some(RuleRef {
                kind: RuleKind::Allow,
                file: Arc::from(Path::new(self.file)),
                line: 1,
            }),
        }
    }
}

const PROFILE: &str = "<profile:runtime>";
const OWN: &str = "policy.toml";

fn engines() -> Vec<Ops> {
    resolvers().into_iter().map(Ops::with_resolver).collect()
}

fn errno<T>(o: &Outcome<T>) -> Option<Errno> {
    o.result.as_ref().err().copied()
}

fn read(fd: OwnedFd) -> String {
    let mut s = String::new();
    let _ = fs::File::from(fd).read_to_string(&mut s);
    s
}

/// `d/` (0755): `public` (0644), `locked` (0600, root's as root, else
/// 0000), `closed/` (0700) with `inner` (0644) and `link -> inner`,
/// `out/` (0777).
struct Files {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Files {
    fn new() -> Files {
        let (dir, root) = common::scratch_dir();
        let mode = |p: &Path, m| fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
        fs::write(root.join("public"), "public data").unwrap();
        mode(&root.join("public"), 0o644);
        fs::write(root.join("locked"), "locked data").unwrap();
        mode(&root.join("locked"), if is_root() { 0o600 } else { 0o000 });
        fs::create_dir(root.join("closed")).unwrap();
        fs::write(root.join("closed/inner"), "inner data").unwrap();
        mode(&root.join("closed/inner"), 0o644);
        symlink("inner", root.join("closed/link")).unwrap();
        mode(&root.join("closed"), 0o700);
        fs::create_dir(root.join("out")).unwrap();
        mode(&root.join("out"), 0o777);
        Files { _dir: dir, root }
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn rules(&self, file: &'static str) -> Rules {
        Rules {
            roots: vec![self.root.clone()],
            access: Access::READ | Access::WRITE | Access::CREATE,
            file,
        }
    }
}

/// The program: `nobody` as root, ourselves (without capabilities) otherwise.
fn program() -> ProgramIds {
    if is_root() {
        ProgramIds::other_user(NOBODY, NOBODY)
    } else {
        ProgramIds::same_user()
    }
}

fn ctx(program: Option<ProgramIds>) -> Context {
    Context {
        pid: Some(std::process::id()),
        program,
    }
}

#[test]
fn profile_grants_are_opened_with_the_programs_credentials() {
    let f = Files::new();
    let as_program = ctx(Some(program()));
    let profile = f.rules(PROFILE);
    let rdonly = libc::O_RDONLY;
    for ops in engines() {
        let open = |judge: &Rules, c: &Context, rel: &str| ops.open(judge, c, &f.p(rel), rdonly, 0);
        // Readable by the program: as before.
        let o = open(&profile, &as_program, "public");
        assert_eq!(read(o.result.unwrap()), "public data");
        assert!(
            ops.access(&profile, &as_program, &f.p("public"), libc::R_OK)
                .result
                .is_ok()
        );
        // Not readable by the program: refused as the kernel refuses it.
        let o = open(&profile, &as_program, "locked");
        assert_eq!(errno(&o), Some(Errno::EACCES));
        assert!(
            o.decision.is_some_and(|d| d.allowed),
            "allowed, then refused by the kernel"
        );
        let o = ops.access(&profile, &as_program, &f.p("locked"), libc::R_OK);
        assert_eq!(errno(&o), Some(Errno::EACCES));
        let o = ops.stat(&profile, &as_program, &f.p("locked"), FollowSymlinks::Yes);
        assert!(o.result.is_ok(), "its directory is searchable: {o:?}");
        if !is_root() {
            // An ordinary user's broker cannot read them either: the rest
            // needs another user.
            println!("SKIP profile grants for another user: not root");
            continue;
        }
        // Behind a directory the program may not search.
        for rel in ["closed/inner", "closed/link"] {
            let o = open(&profile, &as_program, rel);
            assert_eq!(errno(&o), Some(Errno::EACCES), "{rel}");
            let o = ops.stat(&profile, &as_program, &f.p(rel), FollowSymlinks::No);
            assert_eq!(errno(&o), Some(Errno::EACCES), "{rel}");
        }
        let o = ops.readlink(&profile, &as_program, &f.p("closed/link"));
        assert_eq!(errno(&o), Some(Errno::EACCES));
        // Created as the program: its file, in a directory it may write.
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL;
        let o = ops.open(&profile, &as_program, &f.p("out/by-profile"), flags, 0o644);
        assert!(o.result.is_ok(), "{o:?}");
        assert_eq!(fs::metadata(f.p("out/by-profile")).unwrap().uid(), NOBODY);
        let o = ops.open(&profile, &as_program, &f.p("closed/new"), flags, 0o644);
        assert_eq!(errno(&o), Some(Errno::EACCES));
        fs::remove_file(f.p("out/by-profile")).unwrap();

        // The policy's own rules keep their meaning: the broker opens.
        let own = f.rules(OWN);
        assert_eq!(
            read(open(&own, &as_program, "locked").result.unwrap()),
            "locked data"
        );
        assert_eq!(
            read(open(&own, &as_program, "closed/inner").result.unwrap()),
            "inner data"
        );
        let o = ops.readlink(&own, &as_program, &f.p("closed/link"));
        assert_eq!(o.result.unwrap(), b"inner");
        // What it creates is still the program's (created with its
        // filesystem ids and the broker's capabilities).
        let o = ops.open(&own, &as_program, &f.p("out/by-own"), flags, 0o644);
        assert!(o.result.is_ok(), "{o:?}");
        let made = fs::metadata(f.p("out/by-own")).unwrap();
        assert_eq!((made.uid(), made.gid()), (NOBODY, NOBODY));
        fs::remove_file(f.p("out/by-own")).unwrap();
        // So does a broker told nothing of the program (a library broker).
        let o = open(&profile, &ctx(None), "locked");
        assert_eq!(read(o.result.unwrap()), "locked data");
    }
}

/// The frame number of the page at `addr` in this process's pagemap
/// (pagemap.rst: bits 0-54, zero when the opener lacks `CAP_SYS_ADMIN`).
fn pfn(pagemap: &fs::File, addr: usize) -> u64 {
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .unwrap()
        .unwrap() as usize;
    let mut entry = [0u8; 8];
    pagemap
        .read_exact_at(&mut entry, (addr / page * 8) as u64)
        .unwrap();
    u64::from_ne_bytes(entry) & ((1 << 55) - 1)
}

#[test]
fn proc_files_are_opened_with_the_programs_credentials() {
    let proc_all = Rules {
        roots: vec![PathBuf::from("/proc")],
        access: Access::READ,
        file: OWN,
    };
    let page = vec![1u8; 1 << 16];
    let addr = page.as_ptr() as usize + (1 << 15);
    // Ourselves without capabilities: what a program of our own user gets.
    let programs = [
        (None, "no program ids"),
        (
            Some(ProgramIds::same_user()),
            "ourselves without capabilities",
        ),
    ];
    for ops in engines() {
        for (program, who) in programs {
            let c = ctx(program);
            let o = ops.open(
                &proc_all,
                &c,
                Path::new("/proc/self/pagemap"),
                libc::O_RDONLY,
                0,
            );
            let pagemap = fs::File::from(o.result.unwrap());
            let frame = pfn(&pagemap, addr);
            let stack = ops.open(
                &proc_all,
                &c,
                Path::new("/proc/self/stack"),
                libc::O_RDONLY,
                0,
            );
            let stack_read = stack.result.map(|fd| {
                let mut s = String::new();
                fs::File::from(fd).read_to_string(&mut s).map(|_| s)
            });
            match (program, is_root()) {
                // The control: the check that hides frames works.
                (None, true) => {
                    assert_ne!(frame, 0, "{who}: root sees frame numbers");
                    assert!(matches!(stack_read, Ok(Ok(_))), "{who}: {stack_read:?}");
                }
                _ => {
                    assert_eq!(frame, 0, "{who}: no frame numbers");
                    let refused = match &stack_read {
                        Err(e) => *e == Errno::EACCES,
                        Ok(Err(e)) => e.raw_os_error() == Some(libc::EACCES),
                        Ok(Ok(_)) => false,
                    };
                    assert!(refused, "{who}: /proc/self/stack: {stack_read:?}");
                }
            }
        }
        if !is_root() {
            println!("SKIP another process's /proc as another user: not root");
            continue;
        }
        // Another user cannot read a root process's environment, whatever
        // the policy.
        let mut other = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        let environ = PathBuf::from(format!("/proc/{}/environ", other.id()));
        let as_program = ctx(Some(program()));
        let o = ops.open(&proc_all, &as_program, &environ, libc::O_RDONLY, 0);
        assert_eq!(errno(&o), Some(Errno::EACCES));
        let o = ops.access(&proc_all, &as_program, &environ, libc::R_OK);
        assert_eq!(errno(&o), Some(Errno::EACCES));
        let o = ops.open(&proc_all, &ctx(None), &environ, libc::O_RDONLY, 0);
        assert!(o.result.is_ok(), "{o:?}");
        // Nor through a path that is in /proc only once resolved.
        let (_dir, links) = common::scratch_dir();
        symlink(&environ, links.join("environ")).unwrap();
        let judge = Rules {
            roots: vec![PathBuf::from("/proc"), links.clone()],
            access: Access::READ,
            file: OWN,
        };
        let o = ops.open(
            &judge,
            &as_program,
            &links.join("environ"),
            libc::O_RDONLY,
            0,
        );
        assert_eq!(errno(&o), Some(Errno::EACCES));
        let o = ops.open(
            &judge,
            &ctx(None),
            &links.join("environ"),
            libc::O_RDONLY,
            0,
        );
        assert!(o.result.is_ok(), "{o:?}");
        let _ = other.kill();
        let _ = other.wait();
    }
    drop(page);
}
