//! Integration test for `fdbroker::confine` (harness = false).
//!
//! The parent re-executes this binary once per case with
//! `FDBROKER_TEST_ROLE=<case>`; the child confines itself, tries the
//! forbidden thing and reports through its exit status (0 = the expectation
//! held, 1 = it did not, with the reason on stdout); x32/i386 cases expect
//! the child to die from SIGSYS. Cases needing kernel features the kernel
//! lacks are skipped with a reason, or fail under FDBROKER_REQUIRE_KERNEL=1.
//!
//! Raw system calls need `unsafe`; each block says why it is sound.

use std::ffi::CString;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{SocketAddr, UnixListener};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};

use fdbroker::confine::{
    self, ConfineError, ConfineOptions, DenyOptions, LandlockBuilder, ProcStatus, Sockets,
};
use nix::errno::Errno;
use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, UnixAddr};

const ROLE: &str = "FDBROKER_TEST_ROLE";
const ENV_DIR: &str = "FDBROKER_TEST_DIR";
const ENV_PARENT: &str = "FDBROKER_TEST_PARENT";
const ENV_ABSTRACT: &str = "FDBROKER_TEST_ABSTRACT";
const SECRET: &str = "secret.txt";
const READABLE: &str = "readable.txt";

type Check = Result<(), String>;

// ---------------------------------------------------------------- child side

fn main() {
    match std::env::var(ROLE) {
        Ok(role) => {
            let code = match child(&role) {
                Ok(()) => 0,
                Err(e) => {
                    println!("child {role}: {e}");
                    1
                }
            };
            let _ = std::io::stdout().flush();
            std::process::exit(code);
        }
        Err(_) => parent(),
    }
}

fn env_path(name: &str) -> PathBuf {
    PathBuf::from(std::env::var_os(name).unwrap_or_default())
}

fn confine() -> Result<confine::Confinement, String> {
    confine::confine_self().map_err(|e| format!("confine_self failed: {e}"))
}

fn errno_of(r: libc::c_long) -> Result<libc::c_long, Errno> {
    if r < 0 { Err(Errno::last()) } else { Ok(r) }
}

/// `what` must fail with exactly `want`.
fn expect_err<T: std::fmt::Debug>(what: &str, got: Result<T, Errno>, want: Errno) -> Check {
    match got {
        Err(e) if e == want => Ok(()),
        other => Err(format!("{what}: expected {want}, got {other:?}")),
    }
}

fn io_errno<T>(r: std::io::Result<T>) -> Result<T, Errno> {
    r.map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))
}

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_encoded_bytes()).unwrap_or_default()
}

fn child(role: &str) -> Check {
    let dir = env_path(ENV_DIR);
    let readable = dir.join(READABLE);
    let secret = dir.join(SECRET);
    match role {
        "open_family" => {
            // Sanity: readable before confinement.
            fs::read(&readable).map_err(|e| format!("unconfined read failed: {e}"))?;
            confine()?;
            let c = cstr(&readable);
            expect_err("File::open", io_errno(File::open(&readable)), Errno::EACCES)?;
            // SAFETY: open(2) with a valid NUL-terminated path and flags.
            let r = unsafe { libc::syscall(libc::SYS_open, c.as_ptr(), libc::O_RDONLY) };
            expect_err("open", errno_of(r), Errno::EACCES)?;
            // SAFETY: as above, relative to AT_FDCWD.
            let r = unsafe {
                libc::syscall(libc::SYS_openat, libc::AT_FDCWD, c.as_ptr(), libc::O_RDONLY)
            };
            expect_err("openat", errno_of(r), Errno::EACCES)?;
            #[repr(C)]
            struct OpenHow {
                flags: u64,
                mode: u64,
                resolve: u64,
            }
            let how = OpenHow {
                flags: libc::O_RDONLY as u64,
                mode: 0,
                resolve: 0,
            };
            // SAFETY: openat2(2) reads `size` bytes of `how`, a live local.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_openat2,
                    libc::AT_FDCWD,
                    c.as_ptr(),
                    &raw const how,
                    size_of::<OpenHow>(),
                )
            };
            expect_err("openat2", errno_of(r), Errno::EACCES)?;
            let created = cstr(&dir.join("created-by-creat"));
            // SAFETY: creat(2) with a valid path.
            let r = unsafe { libc::syscall(libc::SYS_creat, created.as_ptr(), 0o600) };
            expect_err("creat", errno_of(r), Errno::EACCES)?;
            let mut handle = [0u8; 128 + 8];
            handle[..4].copy_from_slice(&128u32.to_ne_bytes());
            let mut mount_id: libc::c_int = 0;
            // SAFETY: name_to_handle_at(2) writes at most handle_bytes (128)
            // after the 8-byte header into `handle`, and one int to mount_id.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_name_to_handle_at,
                    libc::AT_FDCWD,
                    c.as_ptr(),
                    handle.as_mut_ptr(),
                    &raw mut mount_id,
                    0,
                )
            };
            expect_err("name_to_handle_at", errno_of(r), Errno::EACCES)?;
            // SAFETY: open_by_handle_at(2) reads the handle buffer above.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_open_by_handle_at,
                    libc::AT_FDCWD,
                    handle.as_ptr(),
                    libc::O_RDONLY,
                )
            };
            expect_err("open_by_handle_at", errno_of(r), Errno::EACCES)
        }
        "exec" => {
            let opened = File::open("/bin/true").map_err(|e| e.to_string())?;
            confine()?;
            let prog = CString::new("/bin/true").unwrap_or_default();
            expect_err(
                "execv /bin/true",
                nix::unistd::execv(&prog, &[&prog]),
                Errno::EACCES,
            )?;
            // A descriptor opened before confinement is still checked at exec.
            let env: [&CString; 0] = [];
            expect_err(
                "fexecve of pre-opened /bin/true",
                nix::unistd::fexecve(opened.as_fd(), &[&prog], &env),
                Errno::EACCES,
            )
        }
        "io_uring" => {
            confine()?;
            let mut params = [0u8; 120];
            // SAFETY: io_uring_setup(2) reads/writes a 120-byte io_uring_params.
            let r = unsafe { libc::syscall(libc::SYS_io_uring_setup, 4, params.as_mut_ptr()) };
            expect_err("io_uring_setup", errno_of(r), Errno::EPERM)?;
            // SAFETY: io_uring_enter(2) on fd -1 with no pointers.
            let r = unsafe { libc::syscall(libc::SYS_io_uring_enter, -1, 0, 0, 0, 0usize, 0) };
            expect_err("io_uring_enter", errno_of(r), Errno::EPERM)?;
            // SAFETY: io_uring_register(2) on fd -1 with a null argument.
            let r = unsafe { libc::syscall(libc::SYS_io_uring_register, -1, 0, 0usize, 0) };
            expect_err("io_uring_register", errno_of(r), Errno::EPERM)
        }
        "namespaces" => {
            confine()?;
            // A user namespace would give the child a full capability set
            // over its own mounts; each way to one must fail.
            for (what, flags) in [
                ("user", libc::CLONE_NEWUSER),
                ("mount", libc::CLONE_NEWNS),
                ("net", libc::CLONE_NEWNET),
                ("pid", libc::CLONE_NEWPID),
            ] {
                expect_err(
                    &format!("unshare({what})"),
                    nix::sched::unshare(nix::sched::CloneFlags::from_bits_retain(flags)),
                    Errno::EPERM,
                )?;
            }
            // SAFETY: setns(2) on fd -1 touches no memory.
            let r = unsafe { libc::syscall(libc::SYS_setns, -1, 0) };
            expect_err("setns", errno_of(r), Errno::EPERM)?;
            // clone(2) with a namespace flag, raw so no child can run on
            // success: SIGCHLD|CLONE_NEWUSER with a null stack returns in both.
            // SAFETY: clone(2) without CLONE_VM behaves like fork(2); the
            // filter must refuse it before any child exists.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_clone,
                    (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong,
                    0usize,
                    0usize,
                    0usize,
                    0usize,
                )
            };
            if r == 0 {
                // The child of a clone that should have failed.
                // SAFETY: _exit(2) ends this process at once.
                unsafe { libc::_exit(99) };
            }
            expect_err("clone(CLONE_NEWUSER)", errno_of(r), Errno::EPERM)?;
            // clone3 answers ENOSYS so libc falls back to the clone(2) above.
            // SAFETY: clone3(2) with a null argument and size 0 touches no memory.
            let r = unsafe { libc::syscall(libc::SYS_clone3, 0usize, 0usize) };
            expect_err("clone3", errno_of(r), Errno::ENOSYS)?;
            // SAFETY: mount(2) with null pointers; refused before use.
            let r =
                unsafe { libc::syscall(libc::SYS_mount, 0usize, 0usize, 0usize, 0usize, 0usize) };
            expect_err("mount", errno_of(r), Errno::EPERM)?;
            // SAFETY: bpf(2) with a null attribute; refused before use.
            let r = unsafe { libc::syscall(libc::SYS_bpf, 0, 0usize, 0) };
            expect_err("bpf", errno_of(r), Errno::EPERM)
        }
        "ptrace" => {
            let parent = nix::unistd::Pid::from_raw(
                std::env::var(ENV_PARENT)
                    .unwrap_or_default()
                    .parse()
                    .unwrap_or(0),
            );
            confine()?;
            // SAFETY: ptrace(PTRACE_TRACEME) takes no pointers.
            let r = unsafe { libc::syscall(libc::SYS_ptrace, libc::PTRACE_TRACEME, 0, 0, 0) };
            expect_err("ptrace(TRACEME)", errno_of(r), Errno::EPERM)?;
            let mut buf = [0u8; 8];
            let src = [7u8; 8];
            let remote = [nix::sys::uio::RemoteIoVec {
                base: src.as_ptr() as usize,
                len: 8,
            }];
            let mut local = [std::io::IoSliceMut::new(&mut buf)];
            // Even our own memory: the call is refused outright.
            let me = nix::unistd::getpid();
            expect_err(
                "process_vm_readv(self)",
                nix::sys::uio::process_vm_readv(me, &mut local, &remote),
                Errno::EPERM,
            )?;
            expect_err(
                "process_vm_readv(parent)",
                nix::sys::uio::process_vm_readv(parent, &mut local, &remote),
                Errno::EPERM,
            )?;
            let local_w = [std::io::IoSlice::new(&src)];
            let remote_w = [nix::sys::uio::RemoteIoVec {
                base: buf.as_ptr() as usize,
                len: 8,
            }];
            expect_err(
                "process_vm_writev(self)",
                nix::sys::uio::process_vm_writev(me, &local_w, &remote_w),
                Errno::EPERM,
            )?;
            // pidfd_open is allowed; stealing a descriptor through it is not.
            // SAFETY: pidfd_open(2) takes a pid and flags.
            let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, parent.as_raw(), 0) };
            let pidfd = errno_of(pidfd).map_err(|e| format!("pidfd_open: {e}"))?;
            // SAFETY: pidfd_getfd(2) takes integers only.
            let r = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd, 0, 0) };
            expect_err("pidfd_getfd(parent, 0)", errno_of(r), Errno::EPERM)
        }
        "seccomp_listener" => {
            confine()?;
            let allow = [libc::sock_filter {
                code: 0x06,
                jt: 0,
                jf: 0,
                k: libc::SECCOMP_RET_ALLOW,
            }];
            let prog = libc::sock_fprog {
                len: 1,
                filter: allow.as_ptr().cast_mut(),
            };
            // SAFETY: seccomp(2) copies the one-instruction program `prog` points to.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
                    &raw const prog,
                )
            };
            expect_err("seccomp(NEW_LISTENER)", errno_of(r), Errno::EPERM)?;
            // SAFETY: as above, with junk in the upper half of flags.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    libc::SECCOMP_FILTER_FLAG_NEW_LISTENER | (1 << 33),
                    &raw const prog,
                )
            };
            if r >= 0 {
                return Err("seccomp(NEW_LISTENER | high bits) succeeded".into());
            }
            // Control: stacking a plain filter is still allowed.
            // SAFETY: as above.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    0,
                    &raw const prog,
                )
            };
            errno_of(r)
                .map(drop)
                .map_err(|e| format!("plain filter refused: {e}"))
        }
        "x32" => {
            confine()?;
            println!("calling x32 getpid");
            let _ = std::io::stdout().flush();
            // SAFETY: getpid takes no arguments; with the x32 bit the kernel
            // either refuses it or runs getpid.
            let r = unsafe { libc::syscall(libc::SYS_getpid | 0x4000_0000) };
            Err(format!("x32 getpid returned {r} (errno {})", Errno::last()))
        }
        "i386_control" => {
            let r = i386_getpid();
            if r == i64::from(std::process::id()) {
                Ok(())
            } else {
                Err(format!("int 0x80 getpid returned {r}"))
            }
        }
        "i386" => {
            confine()?;
            println!("calling int 0x80 getpid");
            let _ = std::io::stdout().flush();
            let r = i386_getpid();
            Err(format!("int 0x80 getpid returned {r}"))
        }
        "state" => {
            let status = ProcStatus::open().map_err(|e| e.to_string())?;
            let before = ProcStatus::reread(&status).map_err(|e| e.to_string())?;
            // The bounding set can be emptied only with CAP_SETPCAP (root,
            // usually); without it, it must be left as it was: an ordinary
            // user's cannot shrink, and nothing can grow it.
            let setpcap = 1u64 << caps::Capability::CAP_SETPCAP.index();
            let may_shrink_bounding = before.caps.permitted & setpcap != 0;
            let report = confine()?;
            let st = ProcStatus::reread(&status).map_err(|e| e.to_string())?;
            let c = st.caps;
            let bounding_after = if may_shrink_bounding {
                0
            } else {
                before.caps.bounding
            };
            if [c.inheritable, c.permitted, c.effective, c.ambient] != [0; 4]
                || c.bounding != bounding_after
            {
                return Err(format!(
                    "capabilities left: {c:?} (bounding set expected: {bounding_after:#x})"
                ));
            }
            for set in [
                caps::CapSet::Effective,
                caps::CapSet::Permitted,
                caps::CapSet::Inheritable,
                caps::CapSet::Ambient,
            ] {
                let left = caps::read(None, set).map_err(|e| e.to_string())?;
                if !left.is_empty() {
                    return Err(format!("capget {set:?}: {left:?}"));
                }
            }
            let last = confine::cap_last_cap().unwrap_or(40);
            // SAFETY: PR_CAPBSET_READ takes an integer.
            let bnd: Vec<_> = (0..=last + 1)
                .filter(|&cap| unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) } == 1)
                .collect();
            let expected: Vec<_> = (0..=last + 1)
                .filter(|&cap| cap < 64 && bounding_after & (1u64 << cap) != 0)
                .collect();
            if bnd != expected {
                return Err(format!("bounding set has {bnd:?}, expected {expected:?}"));
            }
            if st.no_new_privs != Some(true)
                || !nix::sys::prctl::get_no_new_privs().unwrap_or(false)
            {
                return Err("no_new_privs not set".into());
            }
            if st.seccomp_mode != Some(2) || st.seccomp_filters.unwrap_or(0) < 1 {
                return Err(format!(
                    "seccomp mode {:?} filters {:?}",
                    st.seccomp_mode, st.seccomp_filters
                ));
            }
            let k = confine::kernel_support();
            let l = &report.landlock;
            if Some(l.abi) != k.landlock_abi
                || !l.fully_enforced
                || l.scopes.is_empty()
                || !l.rules.is_empty()
            {
                return Err(format!("unexpected Landlock report {l:?}"));
            }
            let names: Vec<_> = report.filters.iter().map(|f| f.name).collect();
            if names != ["deny"]
                || !report.no_new_privs
                || report.capabilities.bounding_cleared != (bounding_after == 0)
            {
                return Err(format!("unexpected report {report:?}"));
            }
            Ok(())
        }
        "preopened" => {
            let mut file = File::open(&readable).map_err(|e| e.to_string())?;
            confine()?;
            let mut from_stdin = String::new();
            std::io::stdin()
                .read_to_string(&mut from_stdin)
                .map_err(|e| format!("stdin: {e}"))?;
            let mut from_file = String::new();
            file.read_to_string(&mut from_file)
                .map_err(|e| format!("pre-opened file: {e}"))?;
            println!("stdin={from_stdin}");
            println!("file={from_file}");
            Ok(())
        }
        "signal_scope" => {
            let parent = nix::unistd::Pid::from_raw(
                std::env::var(ENV_PARENT)
                    .unwrap_or_default()
                    .parse()
                    .unwrap_or(0),
            );
            nix::sys::signal::kill(parent, None)
                .map_err(|e| format!("unconfined kill(parent, 0): {e}"))?;
            confine()?;
            nix::sys::signal::kill(nix::unistd::getpid(), None)
                .map_err(|e| format!("kill(self, 0): {e}"))?;
            expect_err(
                "kill(parent, 0)",
                nix::sys::signal::kill(parent, None),
                Errno::EPERM,
            )?;
            expect_err(
                "kill(parent, SIGTERM)",
                nix::sys::signal::kill(parent, nix::sys::signal::Signal::SIGTERM),
                Errno::EPERM,
            )
        }
        "abstract_unix" => {
            let name = std::env::var(ENV_ABSTRACT).unwrap_or_default();
            let addr = UnixAddr::new_abstract(name.as_bytes()).map_err(|e| e.to_string())?;
            let connect = || -> Result<OwnedFd, Errno> {
                let fd = socket::socket(
                    AddressFamily::Unix,
                    SockType::Stream,
                    SockFlag::SOCK_CLOEXEC,
                    None,
                )?;
                socket::connect(fd.as_raw_fd(), &addr)?;
                Ok(fd)
            };
            let _before = connect().map_err(|e| format!("unconfined connect: {e}"))?;
            confine()?;
            expect_err(
                "connect to outside abstract socket",
                connect(),
                Errno::EPERM,
            )
        }
        "fs_mutations" => {
            confine()?;
            let mode = fs::metadata(&secret).map_err(|e| e.to_string())?.mode();
            expect_err(
                "read root-owned file",
                io_errno(fs::read(&secret)),
                Errno::EACCES,
            )?;
            expect_err(
                "write root-owned file",
                io_errno(fs::write(&secret, "x")),
                Errno::EACCES,
            )?;
            expect_err(
                "chmod",
                io_errno(fs::set_permissions(
                    &secret,
                    fs::Permissions::from_mode(0o666),
                )),
                Errno::EPERM,
            )?;
            let sc = cstr(&secret);
            // SAFETY: chmod(2)/chown(2)/truncate(2) with a valid path.
            let r = unsafe { libc::syscall(libc::SYS_chmod, sc.as_ptr(), 0o666) };
            expect_err("chmod(2)", errno_of(r), Errno::EPERM)?;
            // SAFETY: as above.
            let r = unsafe { libc::syscall(libc::SYS_chown, sc.as_ptr(), 65534, 65534) };
            expect_err("chown(2)", errno_of(r), Errno::EPERM)?;
            // SAFETY: as above.
            let r = unsafe { libc::syscall(libc::SYS_truncate, sc.as_ptr(), 0) };
            expect_err("truncate(2)", errno_of(r), Errno::EACCES)?;
            expect_err("unlink", io_errno(fs::remove_file(&secret)), Errno::EACCES)?;
            expect_err(
                "rename",
                io_errno(fs::rename(&secret, dir.join("moved"))),
                Errno::EACCES,
            )?;
            expect_err(
                "link",
                io_errno(fs::hard_link(&secret, dir.join("linked"))),
                Errno::EACCES,
            )?;
            expect_err(
                "symlink",
                io_errno(std::os::unix::fs::symlink(&secret, dir.join("sym"))),
                Errno::EACCES,
            )?;
            expect_err(
                "mkdir",
                io_errno(fs::create_dir(dir.join("newdir"))),
                Errno::EACCES,
            )?;
            expect_err(
                "mkfifo",
                nix::unistd::mkfifo(
                    &dir.join("fifo"),
                    nix::sys::stat::Mode::from_bits_truncate(0o600),
                ),
                Errno::EACCES,
            )?;
            let bind_path = dir.join("sock");
            let fd = socket::socket(
                AddressFamily::Unix,
                SockType::Stream,
                SockFlag::SOCK_CLOEXEC,
                None,
            )
            .map_err(|e| format!("socket(AF_UNIX): {e}"))?;
            let addr = UnixAddr::new(&bind_path).map_err(|e| e.to_string())?;
            expect_err(
                "bind pathname socket",
                socket::bind(fd.as_raw_fd(), &addr),
                Errno::EACCES,
            )?;
            let after = fs::metadata(&secret).map_err(|e| e.to_string())?.mode();
            if after != mode {
                return Err(format!("mode changed from {mode:o} to {after:o}"));
            }
            Ok(())
        }
        "tiocsti" => {
            confine()?;
            let c: u8 = b'x';
            // SAFETY: ioctl(TIOCSTI) reads one byte from a live local.
            let r = unsafe { libc::ioctl(0, libc::TIOCSTI, &raw const c) };
            expect_err("ioctl(0, TIOCSTI)", errno_of(r.into()), Errno::EPERM)
        }
        "deny_filter_only" => {
            confine::set_no_new_privs().map_err(|e| e.to_string())?;
            let prog = confine::deny_filter(&DenyOptions::new()).map_err(|e| e.to_string())?;
            confine::install(&prog).map_err(|e| e.to_string())?;
            expect_err("File::open", io_errno(File::open(&readable)), Errno::EACCES)?;
            // Landlock is not in force: what seccomp does not cover still works.
            fs::create_dir(dir.join("made-by-deny-only")).map_err(|e| format!("mkdir: {e}"))
        }
        "landlock_only" => {
            let status = ProcStatus::open().map_err(|e| e.to_string())?;
            let report = LandlockBuilder::new()
                .prepare()
                .and_then(|p| p.restrict_self())
                .map_err(|e| e.to_string())?;
            if !report.fully_enforced {
                return Err(format!("{report:?}"));
            }
            expect_err("File::open", io_errno(File::open(&readable)), Errno::EACCES)?;
            expect_err(
                "mkdir",
                io_errno(fs::create_dir(dir.join("newdir"))),
                Errno::EACCES,
            )?;
            // Landlock alone did this: no seccomp filter is installed.
            let st = ProcStatus::reread(&status).map_err(|e| e.to_string())?;
            if st.seccomp_mode != Some(0) {
                return Err(format!("seccomp mode {:?}", st.seccomp_mode));
            }
            Ok(())
        }
        "landlock_exec" => {
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            let mut b = LandlockBuilder::new().allow_exec(&exe);
            for lib in ["/lib64", "/lib", "/usr/lib", "/usr/lib64"] {
                if Path::new(lib).exists() {
                    b = b.allow_exec(lib);
                }
            }
            b.prepare()
                .and_then(|p| p.restrict_self())
                .map_err(|e| e.to_string())?;
            let t = CString::new("/bin/true").unwrap_or_default();
            expect_err(
                "execv /bin/true",
                nix::unistd::execv(&t, &[&t]),
                Errno::EACCES,
            )?;
            let exe_c = cstr(&exe);
            let env = [CString::new(format!("{ROLE}=exec_target")).unwrap_or_default()];
            let e = nix::unistd::execve(&exe_c, &[&exe_c], &env);
            Err(format!("execve of allowed program failed: {e:?}"))
        }
        "exec_target" => {
            println!("exec_target ran");
            Ok(())
        }
        "missing_rule_path" => match LandlockBuilder::new()
            .allow_exec("/nonexistent/x")
            .prepare()
        {
            Err(ConfineError::LandlockPath { .. }) => Ok(()),
            other => Err(format!("expected LandlockPath error, got {other:?}")),
        },
        "multithreaded" => {
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let t = std::thread::spawn(move || {
                let _ = rx.recv();
            });
            let r = confine::confine_self();
            let _ = tx.send(());
            let _ = t.join();
            match r {
                Err(ConfineError::MultiThreaded { threads: 2 }) => {}
                other => return Err(format!("expected MultiThreaded, got {other:?}")),
            }
            // Nothing was applied.
            fs::read(&readable)
                .map(drop)
                .map_err(|e| format!("read after refusal: {e}"))
        }
        "unprivileged" => {
            let nobody = nix::unistd::Uid::from_raw(65534);
            let nogroup = nix::unistd::Gid::from_raw(65534);
            nix::unistd::setgroups(&[]).map_err(|e| e.to_string())?;
            nix::unistd::setresgid(nogroup, nogroup, nogroup).map_err(|e| e.to_string())?;
            nix::unistd::setresuid(nobody, nobody, nobody).map_err(|e| e.to_string())?;
            let report = confine()?;
            let c = report.status.caps;
            if report.capabilities.bounding_cleared
                || [c.inheritable, c.permitted, c.effective, c.ambient] != [0; 4]
            {
                return Err(format!("unexpected capabilities {:?}", report.capabilities));
            }
            expect_err("File::open", io_errno(File::open(&readable)), Errno::EACCES)
        }
        "sockets_unix_only" => {
            confine::confine_with(
                &ConfineOptions::new().deny(DenyOptions::new().sockets(Sockets::UnixOnly)),
            )
            .map_err(|e| e.to_string())?;
            expect_err(
                "socket(AF_INET)",
                socket::socket(
                    AddressFamily::Inet,
                    SockType::Stream,
                    SockFlag::empty(),
                    None,
                ),
                Errno::EAFNOSUPPORT,
            )?;
            expect_err(
                "socket(AF_INET6)",
                socket::socket(
                    AddressFamily::Inet6,
                    SockType::Datagram,
                    SockFlag::empty(),
                    None,
                ),
                Errno::EAFNOSUPPORT,
            )?;
            socket::socket(
                AddressFamily::Unix,
                SockType::Stream,
                SockFlag::empty(),
                None,
            )
            .map(drop)
            .map_err(|e| format!("socket(AF_UNIX): {e}"))
        }
        "sockets_pair_only" => {
            confine::confine_with(
                &ConfineOptions::new().deny(DenyOptions::new().sockets(Sockets::PairOnly)),
            )
            .map_err(|e| e.to_string())?;
            expect_err(
                "socket(AF_UNIX)",
                socket::socket(
                    AddressFamily::Unix,
                    SockType::Stream,
                    SockFlag::empty(),
                    None,
                ),
                Errno::EACCES,
            )?;
            let (a, b) = socket::socketpair(
                AddressFamily::Unix,
                SockType::SeqPacket,
                None,
                SockFlag::empty(),
            )
            .map_err(|e| format!("socketpair: {e}"))?;
            nix::unistd::write(a.as_fd(), b"ping").map_err(|e| e.to_string())?;
            let mut buf = [0u8; 4];
            nix::unistd::read(b.as_fd(), &mut buf).map_err(|e| e.to_string())?;
            if &buf == b"ping" {
                Ok(())
            } else {
                Err("socketpair data".into())
            }
        }
        "sockets_default" => {
            confine()?;
            socket::socket(
                AddressFamily::Inet,
                SockType::Stream,
                SockFlag::empty(),
                None,
            )
            .map(drop)
            .map_err(|e| format!("socket(AF_INET) with default options: {e}"))
        }
        other => Err(format!("unknown role {other}")),
    }
}

#[cfg(target_arch = "x86_64")]
fn i386_getpid() -> i64 {
    let ret: i64;
    // SAFETY: `int 0x80` with eax = 20 is the i386 getpid: no arguments, no
    // memory access. The compat entry returns in eax and may clobber r8-r11.
    unsafe {
        std::arch::asm!(
            "int 0x80",
            inlateout("rax") 20i64 => ret,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
            options(nostack),
        );
    }
    i64::from(ret as i32)
}

#[cfg(not(target_arch = "x86_64"))]
fn i386_getpid() -> i64 {
    -1
}

// --------------------------------------------------------------- parent side

enum Expect {
    /// Exit 0.
    Success,
    /// Killed by SIGSYS (a seccomp KILL_PROCESS).
    Sigsys,
    /// Exit 0 and a check on the output.
    Output(fn(&Output) -> Check),
}

#[derive(Clone, Copy, PartialEq)]
enum Needs {
    Nothing,
    /// confine_self(): Landlock with scopes, seccomp.
    Confine,
    /// Landlock only.
    Landlock,
    Seccomp,
}

struct Fixture {
    dir: tempfile::TempDir,
    abstract_name: String,
    _listener: UnixListener,
}

fn run_child(fx: &Fixture, role: &str, stdin: Option<&[u8]>) -> std::io::Result<Output> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.env(ROLE, role)
        .env(ENV_DIR, fx.dir.path())
        .env(ENV_PARENT, std::process::id().to_string())
        .env(ENV_ABSTRACT, &fx.abstract_name)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(data)?;
    }
    child.wait_with_output()
}

fn judge(expect: &Expect, out: &Output) -> Check {
    let status: ExitStatus = out.status;
    match expect {
        Expect::Success if status.success() => Ok(()),
        Expect::Sigsys if status.signal() == Some(libc::SIGSYS) => Ok(()),
        Expect::Output(check) if status.success() => check(out),
        _ => Err(format!(
            "child status {status}\n--- stdout\n{}--- stderr\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

fn setup() -> std::io::Result<Fixture> {
    let dir = tempfile::tempdir()?;
    // World-searchable so the "unprivileged" case can reach the files.
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))?;
    fs::write(dir.path().join(READABLE), "readable contents")?;
    fs::set_permissions(dir.path().join(READABLE), fs::Permissions::from_mode(0o644))?;
    fs::write(dir.path().join(SECRET), "root only")?;
    fs::set_permissions(dir.path().join(SECRET), fs::Permissions::from_mode(0o600))?;
    let abstract_name = format!("fdbroker-confine-test-{}", std::process::id());
    let listener =
        UnixListener::bind_addr(&SocketAddr::from_abstract_name(abstract_name.as_bytes())?)?;
    Ok(Fixture {
        dir,
        abstract_name,
        _listener: listener,
    })
}

fn parent() {
    let require = std::env::var_os("FDBROKER_REQUIRE_KERNEL").is_some_and(|v| v == "1");
    let fx = match setup() {
        Ok(fx) => fx,
        Err(e) => {
            println!("setup failed: {e}");
            println!("0 passed, 1 failed");
            std::process::exit(1);
        }
    };
    let k = confine::kernel_support();
    let uid0 = nix::unistd::Uid::effective().is_root();
    let missing_confine = k.missing_for_confine_self(false);
    let i386_works = run_child(&fx, "i386_control", None).is_ok_and(|o| o.status.success());

    let secret_mode = |fx: &Fixture| {
        fs::metadata(fx.dir.path().join(SECRET))
            .map(|m| m.mode() & 0o7777)
            .ok()
    };
    let cases: Vec<(&str, Needs, Expect, Option<&[u8]>)> = vec![
        ("open_family", Needs::Confine, Expect::Success, None),
        ("exec", Needs::Confine, Expect::Success, None),
        ("io_uring", Needs::Confine, Expect::Success, None),
        ("namespaces", Needs::Confine, Expect::Success, None),
        ("ptrace", Needs::Confine, Expect::Success, None),
        ("seccomp_listener", Needs::Confine, Expect::Success, None),
        ("x32", Needs::Confine, Expect::Sigsys, None),
        ("i386", Needs::Confine, Expect::Sigsys, None),
        ("state", Needs::Confine, Expect::Success, None),
        (
            "preopened",
            Needs::Confine,
            Expect::Output(|o| {
                let text = String::from_utf8_lossy(&o.stdout);
                if text.contains("stdin=data from the parent\n")
                    && text.contains("file=readable contents\n")
                {
                    Ok(())
                } else {
                    Err(format!("unexpected output {text:?}"))
                }
            }),
            Some(b"data from the parent"),
        ),
        ("signal_scope", Needs::Confine, Expect::Success, None),
        ("abstract_unix", Needs::Confine, Expect::Success, None),
        ("fs_mutations", Needs::Confine, Expect::Success, None),
        ("tiocsti", Needs::Confine, Expect::Success, None),
        ("deny_filter_only", Needs::Seccomp, Expect::Success, None),
        ("landlock_only", Needs::Landlock, Expect::Success, None),
        (
            "landlock_exec",
            Needs::Landlock,
            Expect::Output(|o| {
                if String::from_utf8_lossy(&o.stdout).contains("exec_target ran") {
                    Ok(())
                } else {
                    Err("exec target did not run".into())
                }
            }),
            None,
        ),
        ("missing_rule_path", Needs::Landlock, Expect::Success, None),
        ("multithreaded", Needs::Nothing, Expect::Success, None),
        ("unprivileged", Needs::Confine, Expect::Success, None),
        ("sockets_unix_only", Needs::Confine, Expect::Success, None),
        ("sockets_pair_only", Needs::Confine, Expect::Success, None),
        ("sockets_default", Needs::Confine, Expect::Success, None),
    ];

    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for (name, needs, expect, stdin) in &cases {
        let lacking: Option<String> = match needs {
            Needs::Nothing => None,
            Needs::Confine => missing_confine.first().map(|m| format!("kernel lacks {m}")),
            Needs::Landlock => k
                .landlock_abi
                .is_none()
                .then(|| "kernel lacks Landlock".to_string()),
            Needs::Seccomp => {
                (!k.seccomp_filter).then(|| "kernel lacks seccomp filters".to_string())
            }
        };
        if let Some(reason) = lacking {
            if require {
                println!("FAIL {name}: {reason} (FDBROKER_REQUIRE_KERNEL=1)");
                failed += 1;
            } else {
                println!("skip {name}: {reason}");
                skipped += 1;
            }
            continue;
        }
        // Not kernel features we require: nothing to attack or to prove.
        let not_applicable = if *name == "i386" && !i386_works {
            Some("no IA-32 emulation (int 0x80 does not run getpid), so no i386 ABI to refuse")
        } else if matches!(*name, "fs_mutations" | "unprivileged") && !uid0 {
            Some("needs to run as root")
        } else {
            None
        };
        if let Some(reason) = not_applicable {
            println!("skip {name}: {reason}");
            skipped += 1;
            continue;
        }
        let before_mode = secret_mode(&fx);
        let verdict = run_child(&fx, name, *stdin)
            .map_err(|e| format!("spawning child: {e}"))
            .and_then(|out| judge(expect, &out))
            .and_then(|()| {
                // Side effects the parent can see.
                let d = fx.dir.path();
                if d.join("created-by-creat").exists() {
                    return Err("creat created the file".into());
                }
                if secret_mode(&fx) != before_mode || !d.join(SECRET).exists() {
                    return Err("root-owned file was changed".into());
                }
                if *name == "deny_filter_only" && !d.join("made-by-deny-only").is_dir() {
                    return Err("mkdir without Landlock did not happen".into());
                }
                Ok(())
            });
        match verdict {
            Ok(()) => {
                println!("ok {name}");
                passed += 1;
            }
            Err(e) => {
                println!("FAIL {name}: {e}");
                failed += 1;
            }
        }
    }
    if skipped > 0 {
        println!("({skipped} skipped)");
    }
    println!("{passed} passed, {failed} failed");
    std::process::exit(if failed == 0 { 0 } else { 1 });
}
