//! The attack suite: real native programs, playing a fully compromised
//! child, try to get at a secret file, a protected file or a protected
//! process through both ways into the broker — `fdbroker run`'s brokered
//! system calls and the socketpair protocol on `FDBROKER_FD` — and through
//! everything around them. See SECURITY.md for what each class proves.
//!
//! The attackers are C programs in `tests/attacks/c/`, compiled at test time
//! with the machine's gcc. Each reports on stdout, one line per attempt
//! (`blocked`, `SUCCEEDED`, `skip`, `error`, ...; see `c/common.h`). This
//! runner builds a fresh tree and policy for every run, starts the program
//! (under the built `fdbroker run`, or under this binary re-executed as a
//! library broker serving several connections), and fails the test when
//!
//! - an attempt reports `SUCCEEDED`, or an expected attack was not attempted;
//! - the secret's random token appears anywhere in the program's output;
//! - a protected file or directory changed on disk;
//! - the broker died, or has more open descriptors after the attack than
//!   before (`/proc/<broker>/fd`);
//! - another process of the sandbox (the bystander) stopped being served;
//! - an unrelated process was killed or traced, or a listener outside the
//!   sandbox got a connection.
//!
//! Control runs execute the system-call attacks unconfined and require them
//! to work there: an attack that cannot succeed anywhere proves nothing.
//!
//! `harness = false`: prints one line per check and `N passed, M failed`.
//! Missing kernel features are skipped with the reason, or fail when
//! `FDBROKER_REQUIRE_KERNEL=1`. Loops are bounded in count and time; nothing
//! asserts on durations (the guards only stop a hung run).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::{SocketAddr, UnixDatagram, UnixListener};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const FDBROKER: &str = env!("CARGO_BIN_EXE_fdbroker");
const ROLE_ENV: &str = "FDBROKER_ATTACK_ROLE";
/// Stops a hung run; never an assertion on how long anything takes.
const GUARD: Duration = Duration::from_secs(300);
const NOBODY: u32 = 65534;
const PROGRAMS: [&str; 8] = [
    "path_tricks",
    "races",
    "bypass",
    "proto_abuse",
    "tty_wrap",
    "proc_creds",
    "isolation",
    "nons",
];

mod processes;

fn main() -> ExitCode {
    if std::env::var(ROLE_ENV).as_deref() == Ok("host") {
        return host::main();
    }
    runner::main()
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Whether Yama keeps an ordinary user from tracing (and reading the memory
/// of) processes other than its descendants: `ptrace_scope` above 0.
fn yama_restricts_ptrace() -> bool {
    fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope").is_ok_and(|s| s.trim() != "0")
}

/// Whether `fdbroker run` can give the sandbox a PID namespace here: as
/// root always, otherwise where unprivileged user namespaces are allowed.
fn pid_namespace_expected() -> bool {
    if is_root() {
        return true;
    }
    let is = |p: &str, v: &str| fs::read_to_string(p).is_ok_and(|s| s.trim() == v);
    !(is("/proc/sys/user/max_user_namespaces", "0")
        || is("/proc/sys/kernel/unprivileged_userns_clone", "0")
        || is(
            "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
            "1",
        ))
}

fn require_kernel() -> bool {
    std::env::var("FDBROKER_REQUIRE_KERNEL").is_ok_and(|v| v == "1")
}

fn fd_count(pid: &str) -> Option<usize> {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|d| d.count())
}

/// Keeps opening the tree's FIFO for writing, so that a brokered open of it
/// (which blocks until a writer comes) always finishes.
struct Releaser {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Releaser {
    fn start(fifo: PathBuf) -> Releaser {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let _ = fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_NONBLOCK)
                    .open(&fifo);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Releaser {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Releaser {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

mod runner {
    use super::*;

    /// Pass/fail/skip counts, printed as they come.
    #[derive(Default)]
    pub struct Tally {
        passed: u32,
        failed: u32,
        skipped: u32,
    }

    impl Tally {
        pub fn pass(&mut self, name: &str) {
            println!("ok   {name}");
            self.passed += 1;
        }
        pub fn fail(&mut self, name: &str, why: &str) {
            println!("FAIL {name}: {why}");
            self.failed += 1;
        }
        pub fn skip(&mut self, name: &str, why: &str) {
            if require_kernel() {
                self.fail(name, &format!("{why} (FDBROKER_REQUIRE_KERNEL=1)"));
            } else {
                println!("skip {name}: {why}");
                self.skipped += 1;
            }
        }
        pub fn skip_unprivileged(&mut self, name: &str, why: &str) {
            println!("skip {name}: {why}");
            self.skipped += 1;
        }
        fn check(&mut self, name: &str, r: Result<String, String>) {
            match r {
                Ok(detail) if detail.is_empty() => self.pass(name),
                Ok(detail) => self.pass(&format!("{name} ({detail})")),
                Err(why) => self.fail(name, &why),
            }
        }
    }

    // ------------------------------------------------------------ programs

    pub struct Bins {
        _dir: tempfile::TempDir,
        pub dir: PathBuf,
    }

    impl Bins {
        pub fn path(&self, name: &str) -> String {
            self.dir.join(name).display().to_string()
        }
    }

    /// Compiles the attack programs into a directory the unprivileged
    /// sandbox user can execute from.
    pub fn compile() -> Result<Bins, String> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/attacks/c");
        let gcc = ["/usr/bin/gcc", "/usr/bin/cc"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .ok_or("no C compiler at /usr/bin/gcc or /usr/bin/cc")?;
        let dir = tempfile::Builder::new()
            .prefix("fdbroker-attack-bin")
            .tempdir()
            .map_err(|e| format!("tempdir: {e}"))?;
        let path = fs::canonicalize(dir.path()).map_err(|e| e.to_string())?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
        for name in PROGRAMS {
            let out = Command::new(gcc)
                .args(["-O1", "-g", "-Wall", "-Wextra", "-pthread", "-o"])
                .arg(path.join(name))
                .arg(src.join(format!("{name}.c")))
                .output()
                .map_err(|e| format!("{gcc}: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "compiling {name}.c failed:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            if !out.stderr.is_empty() {
                println!(
                    "  warnings compiling {name}.c:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        // A copy of fdbroker the unprivileged user can surely execute, for
        // the runs where fdbroker itself is that user (the build directory
        // may sit under a home directory only its owner can enter).
        fs::copy(FDBROKER, path.join("fdbroker")).map_err(|e| format!("copying fdbroker: {e}"))?;
        fs::set_permissions(path.join("fdbroker"), fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;
        Ok(Bins {
            _dir: dir,
            dir: path,
        })
    }

    // ---------------------------------------------------------------- tree

    /// A fresh tree per run, under a canonical temporary root `T`:
    ///
    /// ```text
    /// T/pub/                 read       public.txt "PUBLIC-<token>", protected.txt (0666)
    /// T/pub/private/         denied     key "SECRET-<token> private"
    /// T/pub/link_file -> T/secret/data, rel_link -> ../secret/data, chain -> link_file,
    ///       link_dir -> T/secret, link_root -> /, link_private -> private/key, loop -> loop
    /// T/pub/fifo, T/pub/sub/, T/pub/emptydir/
    /// T/pub/race/            d/data, l -> T/secret, f, fl -> T/secret/data (swapped by us)
    /// T/out/                 read, write, create (0777)
    /// T/secret/              nothing (0777)  data "SECRET-<token>", "\xff\xfe"
    /// ```
    ///
    /// Permission bits grant everyone everything on the protected objects,
    /// and (as root) they belong to the sandbox's user: only the sandbox
    /// stands in the way.
    pub struct Tree {
        _dir: tempfile::TempDir,
        pub root: PathBuf,
        pub token: String,
    }

    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    pub enum PolicyKind {
        Normal,
        /// Also `read` on `/proc/**`: the broker's own entries must stay out.
        ProcAll,
        /// `network = true`.
        Network,
        /// Also `read` on the root-only file of the run's [`ProfileDir`],
        /// by a rule of the policy's own.
        OwnRuleForProfileDir,
    }

    impl Tree {
        pub fn new() -> Result<Tree, String> {
            let dir = tempfile::Builder::new()
                .prefix("fdbroker-attack")
                .tempdir()
                .map_err(|e| format!("tempdir: {e}"))?;
            let root = fs::canonicalize(dir.path()).map_err(|e| e.to_string())?;
            let mut tok = [0u8; 8];
            fs::File::open("/dev/urandom")
                .and_then(|mut f| f.read_exact(&mut tok))
                .map_err(|e| format!("urandom: {e}"))?;
            let token: String = tok.iter().map(|b| format!("{b:02x}")).collect();
            let t = Tree {
                _dir: dir,
                root,
                token,
            };
            t.build().map_err(|e| format!("building the tree: {e}"))?;
            Ok(t)
        }

        pub fn p(&self, rel: &str) -> PathBuf {
            self.root.join(rel)
        }

        /// Where this run's [`ProfileDir`] goes: under `/usr/lib`, which
        /// the runtime profile grants (named with the public token: the
        /// program may print its name).
        pub fn profile_dir(&self) -> PathBuf {
            PathBuf::from(format!("/usr/lib/fdbroker-attack-{}", self.public_token()))
        }

        /// Not the secret's token: the secrets' reversed.
        fn public_token(&self) -> String {
            self.token.chars().rev().collect()
        }

        fn build(&self) -> std::io::Result<()> {
            use std::os::unix::fs::symlink;
            let mode = |p: &Path, m: u32| fs::set_permissions(p, fs::Permissions::from_mode(m));
            mode(&self.root, 0o755)?;
            for (d, m) in [
                ("pub", 0o755),
                ("pub/private", 0o777),
                ("pub/sub", 0o755),
                ("pub/emptydir", 0o777),
                ("pub/race", 0o755),
                ("pub/race/d", 0o755),
                ("out", 0o777),
                ("secret", 0o777),
            ] {
                fs::create_dir(self.p(d))?;
                mode(&self.p(d), m)?;
            }
            let tok = &self.token;
            for (f, text, m) in [
                // Its own token: the public file may be printed freely.
                (
                    "pub/public.txt",
                    format!("PUBLIC-{}\n", self.public_token()),
                    0o644,
                ),
                (
                    "pub/protected.txt",
                    format!("PROTECTED-{}\n", self.public_token()),
                    0o666,
                ),
                ("pub/private/key", format!("SECRET-{tok} private\n"), 0o666),
                ("pub/race/d/data", "PUBLIC race dir\n".to_string(), 0o644),
                ("pub/race/f", "PUBLIC race file\n".to_string(), 0o644),
                ("secret/data", format!("SECRET-{tok}\n"), 0o666),
            ] {
                fs::write(self.p(f), text)?;
                mode(&self.p(f), m)?;
            }
            let odd = self.root.join(OsStr::from_bytes(b"secret/\xff\xfe"));
            fs::write(&odd, format!("SECRET-{tok} odd name\n"))?;
            for (target, at) in [
                (self.p("secret/data"), "pub/link_file"),
                (PathBuf::from("../secret/data"), "pub/rel_link"),
                (PathBuf::from("link_file"), "pub/chain"),
                (self.p("secret"), "pub/link_dir"),
                (PathBuf::from("/"), "pub/link_root"),
                (PathBuf::from("private/key"), "pub/link_private"),
                (PathBuf::from("loop"), "pub/loop"),
                (self.p("secret"), "pub/race/l"),
                (self.p("secret/data"), "pub/race/fl"),
            ] {
                symlink(target, self.p(at))?;
            }
            nix::unistd::mkfifo(
                &self.p("pub/fifo"),
                nix::sys::stat::Mode::from_bits_truncate(0o666),
            )?;
            mode(&self.p("pub/fifo"), 0o666)?;
            if is_root() {
                for f in ["pub/protected.txt", "secret/data", "pub/private/key"] {
                    std::os::unix::fs::chown(self.p(f), Some(NOBODY), Some(NOBODY))?;
                }
            }
            Ok(())
        }

        /// Writes the policy for this tree and returns its path.
        pub fn policy(&self, kind: PolicyKind) -> Result<PathBuf, String> {
            let r = self.root.display();
            let ancestors: Vec<String> = self
                .root
                .ancestors()
                .filter(|a| *a != Path::new("/"))
                .map(|a| format!("\"{}\"", a.display()))
                .collect();
            let network = if kind == PolicyKind::Network {
                "network = true\n"
            } else {
                ""
            };
            let proc_all = if kind == PolicyKind::ProcAll {
                "\n# Every process's /proc entries: the broker's own must stay out anyway.\n\
                 [[allow]]\npaths  = [\"/proc/**\", \"/etc/mtab\", \"/dev/fd\"]\naccess = [\"read\"]\n"
            } else {
                ""
            };
            let own_rule = if kind == PolicyKind::OwnRuleForProfileDir {
                format!(
                    "\n# A rule of the policy's own: the broker opens with its own credentials.\n\
                     [[allow]]\npaths  = [\"{}/root-only\"]\naccess = [\"read\"]\n",
                    self.profile_dir().display()
                )
            } else {
                String::new()
            };
            let text = format!(
                r#"version = 1
profiles = ["runtime"]
{network}
[[allow]]
paths  = ["{r}/pub", "{r}/pub/**"]
access = ["read"]

[[deny]]
paths  = ["{r}/pub/private", "{r}/pub/private/**"]

[[allow]]
paths  = ["{r}/out", "{r}/out/**"]
access = ["read", "write", "create"]

[[allow]]
paths  = [{anc}]
access = ["stat"]
{proc_all}{own_rule}"#,
                anc = ancestors.join(", ")
            );
            let path = self.p("policy.toml");
            fs::write(&path, text).map_err(|e| e.to_string())?;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644))
                .map_err(|e| e.to_string())?;
            Ok(path)
        }

        /// What must not change: protected files (content and metadata) and
        /// the names in the protected directories.
        fn snapshot(&self) -> BTreeMap<String, String> {
            let mut out = BTreeMap::new();
            for f in [
                "pub/protected.txt",
                "pub/public.txt",
                "pub/private/key",
                "secret/data",
                "pub/emptydir",
                "pub/fifo",
            ] {
                let v = match fs::symlink_metadata(self.p(f)) {
                    Ok(m) => format!(
                        "mode {:o} uid {} gid {} nlink {} size {} mtime {}.{} ctime {}.{} ino {} content {:?}",
                        m.mode(),
                        m.uid(),
                        m.gid(),
                        m.nlink(),
                        m.size(),
                        m.mtime(),
                        m.mtime_nsec(),
                        m.ctime(),
                        m.ctime_nsec(),
                        m.ino(),
                        if m.is_file() {
                            String::from_utf8_lossy(&fs::read(self.p(f)).unwrap_or_default())
                                .into_owned()
                        } else {
                            String::new()
                        }
                    ),
                    Err(e) => format!("missing: {e}"),
                };
                out.insert(f.to_string(), v);
            }
            for d in ["", "pub", "pub/private", "pub/sub", "secret"] {
                // The runner's own files at the top are not the program's.
                let ours = ["policy.toml", "listen.sock", "dgram.sock"];
                let mut names: Vec<String> = fs::read_dir(self.p(d))
                    .map(|it| {
                        it.flatten()
                            .map(|e| e.file_name().to_string_lossy().into_owned())
                            .filter(|n| !(d.is_empty() && ours.contains(&n.as_str())))
                            .collect()
                    })
                    .unwrap_or_default();
                names.sort();
                out.insert(format!("{d}/"), names.join(" "));
            }
            out
        }

        /// Creating is allowed in `out/`, but only plain files by `open`:
        /// no directories, links, FIFOs or devices.
        fn out_is_plain(&self) -> Result<String, String> {
            let mut n = 0;
            for e in fs::read_dir(self.p("out"))
                .map_err(|e| e.to_string())?
                .flatten()
            {
                let m = e.path().symlink_metadata().map_err(|e| e.to_string())?;
                // Symlinks may be made there (create), and lead nowhere
                // new: what is reached through them is judged as the target.
                if m.file_type().is_symlink() {
                    continue;
                }
                if !m.file_type().is_file() || m.nlink() != 1 {
                    return Err(format!(
                        "out/{} is a {:?} with {} links",
                        e.file_name().to_string_lossy(),
                        m.file_type(),
                        m.nlink()
                    ));
                }
                n += 1;
            }
            Ok(format!("{n} plain files"))
        }
    }

    // --------------------------------------------------------------- runs

    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    pub enum Mode {
        /// `fdbroker run` as ourselves (root: the program runs as nobody).
        Run,
        /// `fdbroker run` started as nobody: the program is the broker's
        /// own user, so only the sandbox keeps it off the broker.
        RunAsNobody,
        /// No sandbox: the attacks must work (control).
        Control,
    }

    pub struct Spec {
        pub name: String,
        pub prog: &'static str,
        pub args: Vec<&'static str>,
        pub policy: PolicyKind,
        pub mode: Mode,
        /// Standard input is a new controlling terminal (tty_wrap).
        pub tty: bool,
        /// Names in T/pub/race the runner keeps exchanging.
        pub swap: Option<(&'static str, &'static str)>,
        /// Keep opening T/pub/fifo for writing.
        pub fifo: bool,
        /// Victim, listeners, file handle, ... for the bypass program.
        pub bypass_env: bool,
        /// Run fdbroker where no namespace can be made (`c/nons.c`): the
        /// sandbox then has no PID or IPC namespace of its own.
        pub no_namespaces: bool,
        /// Attacks that must have been attempted (or, in a control run,
        /// must have succeeded).
        pub expect: Vec<&'static str>,
        /// Control: attacks whose success depends on the kernel's build.
        pub kernel_dependent: Vec<&'static str>,
        /// Make a [`ProfileDir`] for the run (as root; named to the
        /// program in `ATTACK_PROFILE_DIR`).
        pub profile_dir: bool,
        /// Meaningful only with the runner as root: skipped otherwise.
        pub root_only: bool,
    }

    /// Things outside the sandbox the bypass attacks aim at.
    struct Outside {
        victim: Option<Child>,
        abstract_name: String,
        abstract_l: Option<UnixListener>,
        unix_l: Option<UnixListener>,
        dgram: Option<UnixDatagram>,
        inet: Option<std::net::TcpListener>,
        handle: Option<String>,
        /// System V IPC objects of the program's user: a segment, a queue
        /// and a semaphore set at keys `ipc_key`..+2 (the program makes its
        /// own at +3); whether they could be made.
        ipc_key: i32,
        ipc_made: bool,
        /// The victim's scheduling, to see that nothing changed it.
        victim_sched: Option<String>,
        isolation: String,
    }

    /// A process's nice value, scheduling policy and allowed CPUs, from
    /// `/proc/<pid>/stat` (fields 19 and 41) and `status`.
    pub fn sched_of(pid: u32) -> Option<String> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let cpus = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap_or("")
            .trim();
        Some(format!(
            "nice {} policy {} cpus {cpus}",
            fields.get(16)?,
            fields.get(38)?
        ))
    }

    impl Outside {
        fn new(tree: &Tree, bins: &Bins) -> Outside {
            let mut victim = Command::new("sleep");
            victim
                .arg("600")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if is_root() {
                victim.uid(NOBODY).gid(NOBODY);
            }
            let abstract_name = format!("fdbroker-attack-{}", tree.token);
            let abstract_l = SocketAddr::from_abstract_name(abstract_name.as_bytes())
                .and_then(|a| UnixListener::bind_addr(&a))
                .ok();
            let unix_l = UnixListener::bind(tree.p("listen.sock")).ok();
            let dgram = UnixDatagram::bind(tree.p("dgram.sock")).ok();
            for s in ["listen.sock", "dgram.sock"] {
                let _ = fs::set_permissions(tree.p(s), fs::Permissions::from_mode(0o777));
            }
            let inet = std::net::TcpListener::bind("127.0.0.1:0").ok();
            for l in [&abstract_l, &unix_l].into_iter().flatten() {
                let _ = l.set_nonblocking(true);
            }
            if let Some(d) = &dgram {
                let _ = d.set_nonblocking(true);
            }
            if let Some(l) = &inet {
                let _ = l.set_nonblocking(true);
            }
            let handle = Command::new(bins.path("bypass"))
                .arg("handle")
                .arg(tree.p("secret/data"))
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .filter(|h| h.contains(':'));
            // Distinct for every run: from the tree's random token.
            let ipc_key =
                i32::from_str_radix(&tree.token[..7], 16).unwrap_or(0x0fdb_0000) & !3 | 0x0100_0000;
            let isolation = bins.path("isolation");
            let mut setup = Command::new(&isolation);
            setup.args(["ipc-setup", &ipc_key.to_string()]);
            if is_root() {
                setup.uid(NOBODY).gid(NOBODY);
            }
            let ipc_made = setup
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).starts_with("ipc "));
            let victim = victim.spawn().ok();
            Outside {
                victim_sched: victim.as_ref().and_then(|v| sched_of(v.id())),
                victim,
                abstract_name,
                abstract_l,
                unix_l,
                dgram,
                inet,
                handle,
                ipc_key,
                ipc_made,
                isolation,
            }
        }

        /// Removes the IPC objects; whether one the program made itself
        /// was still there (it must not outlive the run).
        fn remove_ipc(&self) -> Result<bool, String> {
            let o = Command::new(&self.isolation)
                .args(["ipc-remove", &self.ipc_key.to_string()])
                .output()
                .map_err(|e| e.to_string())?;
            let out = String::from_utf8_lossy(&o.stdout);
            let n: u32 = out
                .trim()
                .strip_prefix("removed ")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("ipc-remove: {out}"))?;
            Ok(n >= 100)
        }

        fn env(&self, cmd: &mut Command, tree: &Tree) {
            if let Some(v) = &self.victim {
                cmd.env("ATTACK_VICTIM", v.id().to_string());
            }
            cmd.env("ATTACK_ABSTRACT", &self.abstract_name)
                .env("ATTACK_UNIX_PATH", tree.p("listen.sock"))
                .env("ATTACK_DGRAM_PATH", tree.p("dgram.sock"));
            if let Some(Ok(a)) = self.inet.as_ref().map(|l| l.local_addr()) {
                cmd.env("ATTACK_INET_PORT", a.port().to_string());
            }
            if let Some(h) = &self.handle {
                cmd.env("ATTACK_HANDLE", h);
            }
            if self.ipc_made {
                cmd.env("ATTACK_IPC_KEY", self.ipc_key.to_string());
            }
        }

        /// The victim is alive, not stopped and not traced.
        fn victim_intact(&self) -> Result<String, String> {
            let Some(v) = &self.victim else {
                return Err("no victim process could be started".into());
            };
            let status = fs::read_to_string(format!("/proc/{}/status", v.id()))
                .map_err(|e| format!("victim {} is gone: {e}", v.id()))?;
            let field = |k: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(k))
                    .map(|v| v.trim().to_string())
                    .unwrap_or_default()
            };
            let state = field("State:");
            let tracer = field("TracerPid:");
            if !(state.starts_with('S') || state.starts_with('R')) || tracer != "0" {
                return Err(format!("victim state {state}, tracer {tracer}"));
            }
            let sched = sched_of(v.id());
            if sched != self.victim_sched {
                return Err(format!(
                    "victim's scheduling changed: {:?} -> {sched:?}",
                    self.victim_sched
                ));
            }
            Ok(format!("pid {} state {}", v.id(), &state[..1]))
        }

        /// No listener got a connection or a datagram. With network = true
        /// pathname and TCP connections are allowed by design: only the
        /// abstract socket is checked.
        fn untouched(&self, network: bool) -> Result<String, String> {
            let mut got = Vec::new();
            if let Some(l) = &self.abstract_l
                && l.accept().is_ok()
            {
                got.push("abstract unix socket");
            }
            if !network {
                if let Some(l) = &self.unix_l
                    && l.accept().is_ok()
                {
                    got.push("pathname unix socket");
                }
                if let Some(l) = &self.inet
                    && l.accept().is_ok()
                {
                    got.push("TCP loopback listener");
                }
                let mut b = [0u8; 64];
                if let Some(d) = &self.dgram
                    && d.recv(&mut b).is_ok()
                {
                    got.push("datagram socket");
                }
            }
            if got.is_empty() {
                Ok(String::new())
            } else {
                Err(format!("reached from the sandbox: {}", got.join(", ")))
            }
        }
    }

    impl Drop for Outside {
        fn drop(&mut self) {
            let _ = self.remove_ipc();
            if let Some(v) = &mut self.victim {
                let _ = v.kill();
                let _ = v.wait();
            }
        }
    }

    /// Files of root's in a directory a built-in profile grants (the
    /// runtime profile's `/usr/lib/**`), made by the runner as root for one
    /// run and removed afterwards:
    ///
    /// ```text
    /// /usr/lib/fdbroker-attack-<token>/   0755
    ///     public        0644  "PUBLIC-..."
    ///     root-only     0600  "SECRET-<token> root-only"
    ///     closed/       0700
    ///         inner     0644  "SECRET-<token> inner"
    /// ```
    ///
    /// The profile grants them all; only the permission bits stand in the
    /// way, and they must, for a program that is not root.
    struct ProfileDir {
        path: PathBuf,
    }

    impl ProfileDir {
        fn new(tree: &Tree) -> Result<ProfileDir, String> {
            let dir = ProfileDir {
                path: tree.profile_dir(),
            };
            dir.build(tree)
                .map_err(|e| format!("making {}: {e}", dir.path.display()))?;
            Ok(dir)
        }

        fn build(&self, tree: &Tree) -> std::io::Result<()> {
            let mode = |p: &Path, m: u32| fs::set_permissions(p, fs::Permissions::from_mode(m));
            let p = |rel: &str| self.path.join(rel);
            fs::create_dir(&self.path)?;
            mode(&self.path, 0o755)?;
            fs::create_dir(p("closed"))?;
            for (f, text, m) in [
                ("public", format!("PUBLIC-{}\n", tree.public_token()), 0o644),
                (
                    "root-only",
                    format!("SECRET-{} root-only\n", tree.token),
                    0o600,
                ),
                (
                    "closed/inner",
                    format!("SECRET-{} inner\n", tree.token),
                    0o644,
                ),
            ] {
                fs::write(p(f), text)?;
                mode(&p(f), m)?;
            }
            mode(&p("closed"), 0o700)
        }
    }

    impl Drop for ProfileDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.path);
        }
    }

    /// Keeps exchanging two names in T/pub/race (renameat2(2)
    /// `RENAME_EXCHANGE`), from outside the sandbox.
    struct Swapper {
        stop: Arc<AtomicBool>,
        thread: Option<JoinHandle<u64>>,
    }

    impl Swapper {
        fn start(dir: PathBuf, a: &'static str, b: &'static str) -> Swapper {
            let stop = Arc::new(AtomicBool::new(false));
            let flag = Arc::clone(&stop);
            let thread = std::thread::spawn(move || {
                let Ok(d) = fs::File::open(&dir) else {
                    return 0;
                };
                let mut n = 0u64;
                while !flag.load(Ordering::Relaxed) && n < 50_000_000 {
                    if nix::fcntl::renameat2(&d, a, &d, b, nix::fcntl::RenameFlags::RENAME_EXCHANGE)
                        .is_ok()
                    {
                        n += 1;
                    }
                    if n.is_multiple_of(64) {
                        std::thread::yield_now();
                    }
                }
                n
            });
            Swapper {
                stop,
                thread: Some(thread),
            }
        }

        fn finish(mut self) -> u64 {
            self.stop.store(true, Ordering::Relaxed);
            self.thread.take().and_then(|t| t.join().ok()).unwrap_or(0)
        }
    }

    impl Drop for Swapper {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Relaxed);
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    /// One line of a program's report.
    enum Line<'a> {
        /// The program is set up (it prints its parent's pid, unused).
        Ready,
        Blocked(&'a str, &'a str),
        Succeeded(&'a str, &'a str),
        Skip(&'a str, &'a str),
        Error(&'a str, &'a str),
        Ok(&'a str, &'a str),
        Fail(&'a str, &'a str),
        Control(&'a str, bool),
        Bystander(bool),
        Info(&'a str),
        Done,
        Other,
    }

    /// Records the lines that are a verdict in themselves (`error`, `ok`,
    /// `fail`, `control`, `bystander`), the same for every program.
    fn record_verdict(t: &mut Tally, name: &str, line: &str, verdict: Line<'_>) {
        match verdict {
            Line::Error(a, d) => t.fail(&format!("{name} / {a}"), &format!("error: {d}")),
            Line::Ok(a, d) => t.pass(&format!("{name} / {a}: {d}")),
            Line::Fail(a, d) => t.fail(&format!("{name} / {a}"), d),
            Line::Control(what, true) => t.pass(&format!("{name} / control {what}")),
            Line::Control(what, false) => t.fail(&format!("{name} / control"), what),
            Line::Bystander(true) => t.pass(&format!("{name} / {line}")),
            Line::Bystander(false) => t.fail(&format!("{name} / bystander"), line),
            _ => {}
        }
    }

    fn parse(line: &str) -> Line<'_> {
        let split = |rest: &'static str| {
            line.strip_prefix(rest)
                .map(|r| r.split_once(": ").unwrap_or((r, "")))
        };
        if let Some(pid) = line.strip_prefix("ready ") {
            return pid
                .trim()
                .parse::<u32>()
                .map_or(Line::Other, |_| Line::Ready);
        }
        if line == "done" {
            return Line::Done;
        }
        if let Some((a, d)) = split("blocked ") {
            return Line::Blocked(a, d);
        }
        if let Some((a, d)) = split("SUCCEEDED ") {
            return Line::Succeeded(a, d);
        }
        if let Some((a, d)) = split("skip ") {
            return Line::Skip(a, d);
        }
        if let Some((a, d)) = split("error ") {
            return Line::Error(a, d);
        }
        if let Some((a, d)) = split("ok ") {
            return Line::Ok(a, d);
        }
        if let Some((a, d)) = split("fail ") {
            return Line::Fail(a, d);
        }
        if let Some(rest) = line.strip_prefix("control ") {
            return Line::Control(rest, rest.contains(" ok"));
        }
        if let Some(rest) = line.strip_prefix("bystander ") {
            return Line::Bystander(rest.starts_with("ok"));
        }
        if let Some(rest) = line.strip_prefix("info ") {
            return Line::Info(rest);
        }
        Line::Other
    }

    /// What a run produced.
    struct Outcome {
        lines: Vec<String>,
        stderr: String,
        status: Option<std::process::ExitStatus>,
        broker: Option<u32>,
        fds_before: Option<usize>,
        fds_after: Option<usize>,
        broker_alive_at_done: Option<bool>,
        /// The broker's scheduling when the program was ready, and done.
        broker_sched: (Option<String>, Option<String>),
        swaps: u64,
        hung: bool,
    }

    /// Reads a child's stdout lines into a channel, its stderr into a string.
    fn readers(child: &mut Child) -> (mpsc::Receiver<String>, JoinHandle<String>) {
        let (tx, rx) = mpsc::channel();
        let so = child.stdout.take();
        std::thread::spawn(move || {
            if let Some(so) = so {
                for line in BufReader::new(so).split(b'\n').map_while(Result::ok) {
                    if tx
                        .send(String::from_utf8_lossy(&line).into_owned())
                        .is_err()
                    {
                        break;
                    }
                }
            }
        });
        let se = child.stderr.take();
        let err = std::thread::spawn(move || {
            let mut s = Vec::new();
            if let Some(mut se) = se {
                let _ = se.read_to_end(&mut s);
            }
            String::from_utf8_lossy(&s).into_owned()
        });
        (rx, err)
    }

    fn broker_alive(pid: u32) -> bool {
        fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .map(|(_, r)| r.trim_start().chars().next())
            })
            .flatten()
            .is_some_and(|state| state != 'Z' && state != 'X')
    }

    fn is_fdbroker(pid: u32, bins: &Bins) -> bool {
        let exe = fs::read_link(format!("/proc/{pid}/exe")).ok();
        exe.is_some()
            && (exe == fs::canonicalize(FDBROKER).ok() || exe == Some(bins.dir.join("fdbroker")))
    }

    /// The `fdbroker` process the runner started: `spawned` itself, or a
    /// descendant when a wrapper (tty_wrap, which plays a shell) started it.
    fn find_fdbroker(spawned: u32, bins: &Bins) -> Option<u32> {
        let mut level = vec![spawned];
        for _ in 0..4 {
            if let Some(&pid) = level.iter().find(|&&p| is_fdbroker(p, bins)) {
                return Some(pid);
            }
            level = level
                .iter()
                .flat_map(|p| {
                    fs::read_to_string(format!("/proc/{p}/task/{p}/children"))
                        .unwrap_or_default()
                        .split_whitespace()
                        .filter_map(|c| c.parse().ok())
                        .collect::<Vec<u32>>()
                })
                .collect();
        }
        None
    }

    fn run_program(
        spec: &Spec,
        tree: &Tree,
        bins: &Bins,
        outside: Option<&Outside>,
        profile_dir: Option<&ProfileDir>,
    ) -> Result<Outcome, String> {
        let policy = tree.policy(spec.policy)?;
        let mut argv: Vec<String> = Vec::new();
        if spec.tty {
            argv.push(bins.path("tty_wrap"));
        }
        if spec.no_namespaces {
            argv.push(bins.path("nons"));
        }
        if spec.mode != Mode::Control {
            let fdbroker = if spec.mode == Mode::RunAsNobody {
                bins.path("fdbroker")
            } else {
                FDBROKER.to_string()
            };
            argv.extend([fdbroker, "run".into(), "--policy".into()]);
            argv.push(policy.display().to_string());
            // The program gets only what it is given: the runner's settings.
            argv.extend(["--keep-env".into(), "ATTACK_*".into()]);
            argv.push("--".into());
        }
        argv.push(bins.path(spec.prog));
        argv.extend(spec.args.iter().map(|a| a.to_string()));
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .current_dir("/")
            .env("ATTACK_ROOT", &tree.root)
            .env("ATTACK_SELF", bins.path(spec.prog))
            .env_remove("FDBROKER_FD")
            // Credentials of whoever runs fdbroker: never the program's.
            .env(
                "AWS_SECRET_ACCESS_KEY",
                format!("SECRET-{}-env", tree.token),
            )
            .env("SSH_AUTH_SOCK", tree.p("agent.sock"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Ok(m) = fs::metadata(tree.p("secret/data")) {
            cmd.env("ATTACK_SECRET_INO", m.ino().to_string());
        }
        if spec.tty {
            cmd.env("ATTACK_TTY", "1");
        }
        if spec.policy == PolicyKind::Network {
            cmd.env("ATTACK_NETWORK", "1");
        }
        if spec.mode == Mode::Control {
            cmd.env("ATTACK_CONTROL", "1");
        }
        if spec.mode == Mode::RunAsNobody {
            cmd.uid(NOBODY).gid(NOBODY);
        }
        if let Some(o) = outside {
            o.env(&mut cmd, tree);
        }
        if let Some(d) = profile_dir {
            cmd.env("ATTACK_PROFILE_DIR", &d.path);
        }
        let mut child = cmd.spawn().map_err(|e| format!("spawn {}: {e}", argv[0]))?;
        let mut stdin = child.stdin.take();
        let (rx, err_reader) = readers(&mut child);
        let deadline = Instant::now() + GUARD;
        let mut out = Outcome {
            lines: Vec::new(),
            stderr: String::new(),
            status: None,
            broker: None,
            fds_before: None,
            fds_after: None,
            broker_alive_at_done: None,
            broker_sched: (None, None),
            swaps: 0,
            hung: false,
        };
        let next = |out: &mut Outcome| -> Option<String> {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(l) => {
                    out.lines.push(l.clone());
                    Some(l)
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    out.hung = true;
                    None
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => None,
            }
        };
        // Until the program is ready: then the broker is set up.
        let mut ready = false;
        while let Some(l) = next(&mut out) {
            if let Line::Ready = parse(&l) {
                if spec.mode != Mode::Control {
                    out.broker = find_fdbroker(child.id(), bins);
                }
                ready = true;
                break;
            }
        }
        let broker = out.broker.map(|p| p.to_string());
        if ready && let Some(b) = &broker {
            // Twice, a moment apart, keeping the larger: the baseline must
            // not catch the broker between two steps of its own setup.
            let a = fd_count(b);
            std::thread::sleep(Duration::from_millis(50));
            out.fds_before = a.max(fd_count(b));
        }
        out.broker_sched.0 = out.broker.and_then(sched_of);
        let _releaser = spec.fifo.then(|| Releaser::start(tree.p("pub/fifo")));
        let swapper = spec
            .swap
            .map(|(a, b)| Swapper::start(tree.p("pub/race"), a, b));
        if ready && let Some(s) = stdin.as_mut() {
            // The broker's pid: the program's parent is the sandbox's init.
            let go = match out.broker {
                Some(pid) => format!("go {pid}\n"),
                None => "go\n".to_string(),
            };
            let _ = s.write_all(go.as_bytes()).and_then(|()| s.flush());
        }
        let mut done = false;
        while ready && let Some(l) = next(&mut out) {
            if let Line::Done = parse(&l) {
                done = true;
                break;
            }
        }
        if let Some(s) = swapper {
            out.swaps = s.finish();
        }
        if done && let Some(b) = &broker {
            out.broker_alive_at_done = Some(out.broker.is_some_and(broker_alive));
            out.broker_sched.1 = out.broker.and_then(sched_of);
            // Work the attack started (a FIFO open, a dying process's
            // notification) may still be finishing: wait for it, bounded.
            let before = out.fds_before.unwrap_or(0);
            for _ in 0..50 {
                out.fds_after = fd_count(b);
                if out.fds_after.is_some_and(|n| n <= before) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        if let Some(mut s) = stdin.take() {
            let _ = s.write_all(b"end\n");
        }
        // Drain the rest and wait, within the guard.
        while next(&mut out).is_some() {}
        if out.hung {
            let _ = child.kill();
            if let Some(b) = out.broker {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(b as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        out.status = child.wait().ok();
        out.stderr = err_reader.join().unwrap_or_default();
        Ok(out)
    }

    /// Runs one spec on a fresh tree and checks everything.
    pub fn run_case(t: &mut Tally, spec: &Spec, bins: &Bins) {
        let name = &spec.name;
        let tree = match Tree::new() {
            Ok(tree) => tree,
            Err(e) => return t.fail(name, &e),
        };
        let outside = spec.bypass_env.then(|| Outside::new(&tree, bins));
        let profile_dir = match spec.profile_dir && is_root() {
            true => match ProfileDir::new(&tree) {
                Ok(d) => Some(d),
                Err(e) => return t.fail(name, &e),
            },
            false => None,
        };
        let before = tree.snapshot();
        let out = match run_program(spec, &tree, bins, outside.as_ref(), profile_dir.as_ref()) {
            Ok(o) => o,
            Err(e) => return t.fail(name, &e),
        };
        let control = spec.mode == Mode::Control;
        let failed_before = t.failed;
        let mut blocked: BTreeMap<&str, u32> = BTreeMap::new();
        let mut first_detail: BTreeMap<&str, &str> = BTreeMap::new();
        let mut succeeded: BTreeMap<&str, u32> = BTreeMap::new();
        let mut skipped: BTreeMap<&str, String> = BTreeMap::new();
        let mut no_abi: Vec<&str> = Vec::new();
        let mut done = false;
        let mut ready = false;
        for line in &out.lines {
            match parse(line) {
                Line::Ready => ready = true,
                Line::Done => done = true,
                Line::Blocked(a, d) => {
                    *blocked.entry(a).or_default() += 1;
                    first_detail.entry(a).or_insert(d);
                }
                Line::Succeeded(a, d) => {
                    *succeeded.entry(a).or_default() += 1;
                    if !control {
                        t.fail(&format!("{name} / {a}"), &format!("ATTACK SUCCEEDED: {d}"));
                    }
                }
                Line::Skip(a, d) => {
                    skipped.insert(a, d.to_string());
                }
                verdict @ (Line::Error(..)
                | Line::Ok(..)
                | Line::Fail(..)
                | Line::Control(..)
                | Line::Bystander(_)) => record_verdict(t, name, line, verdict),
                Line::Info(i) => {
                    if i.contains("does not have the ABI") {
                        no_abi.extend(i.split(':').next());
                    }
                }
                Line::Other => {}
            }
        }
        for a in &spec.expect {
            let n = format!("{name} / {a}");
            if let Some(why) = skipped.get(a) {
                t.skip(&n, why);
            } else if control {
                if succeeded.get(a).copied().unwrap_or(0) > 0 {
                    t.pass(&format!("{n} works unconfined"));
                } else if spec.kernel_dependent.contains(a) || no_abi.contains(a) {
                    println!("note {n}: does not work unconfined on this kernel either");
                } else {
                    t.fail(
                        &n,
                        "did not work unconfined: the attack would prove nothing",
                    );
                }
            } else {
                match blocked.get(a) {
                    Some(1) if !succeeded.contains_key(a) => t.pass(&format!(
                        "{n}: {}",
                        first_detail.get(a).copied().unwrap_or_default()
                    )),
                    Some(k) if !succeeded.contains_key(a) => {
                        t.pass(&format!("{n} ({k} attempts blocked)"))
                    }
                    Some(_) => {} // already failed above
                    None if succeeded.contains_key(a) => {}
                    None => t.fail(&n, "not attempted"),
                }
            }
        }
        if spec.tty {
            // tty_wrap's shell reports how the program left the terminal.
            let verdict = if control {
                "control terminal changed"
            } else {
                "terminal_restored"
            };
            if !out.lines.iter().any(|l| l.contains(verdict)) {
                t.fail(
                    &format!("{name} / terminal state after the run"),
                    "tty_wrap did not report it",
                );
            }
        }
        let finished = ready && done && !out.hung;
        let exit_ok = out.status.is_some_and(|s| s.code() == Some(0));
        if !finished || !exit_ok {
            let tail: Vec<&String> = out.lines.iter().rev().take(15).collect();
            t.fail(
                &format!("{name} / ran to the end"),
                &format!(
                    "ready {ready}, done {done}, hung {}, status {:?} (signal {:?})\n  last lines: {:?}\n  stderr: {}",
                    out.hung,
                    out.status.and_then(|s| s.code()),
                    out.status.and_then(|s| s.signal()),
                    tail,
                    out.stderr.chars().take(2000).collect::<String>()
                ),
            );
        } else {
            t.pass(&format!("{name} / ran to the end, exit status 0"));
        }
        if t.failed > failed_before {
            // What the program noted on the side, to diagnose the failure.
            for l in out.lines.iter().filter(|l| l.starts_with("info ")).take(40) {
                println!("  {l}");
            }
        }
        if let Some(o) = outside
            .as_ref()
            .filter(|_| spec.expect.contains(&"sysv_ipc"))
        {
            let n = if control {
                format!("{name} / sysv_ipc: a segment made unconfined outlives the run")
            } else {
                format!("{name} / sysv_ipc: a segment made inside did not outlive the run")
            };
            match (o.remove_ipc(), control) {
                (Ok(false), false) | (Ok(true), true) => t.pass(&n),
                (Ok(outlived), _) => t.fail(&n, &format!("outlived: {outlived}")),
                (Err(e), _) => t.fail(&n, &e),
            }
        }
        if control {
            return;
        }
        // The secret's token must not show up anywhere.
        let leaked =
            out.lines.iter().any(|l| l.contains(&tree.token)) || out.stderr.contains(&tree.token);
        t.check(
            &format!("{name} / the secret never reached the program"),
            if leaked {
                Err("the secret's token is in the program's output".into())
            } else {
                Ok(String::new())
            },
        );
        let after = tree.snapshot();
        let changed: Vec<String> = before
            .iter()
            .filter(|(k, v)| after.get(*k) != Some(v))
            .map(|(k, v)| format!("{k}: {v} -> {}", after.get(k).cloned().unwrap_or_default()))
            .collect();
        t.check(
            &format!("{name} / protected files and directories unchanged"),
            if changed.is_empty() {
                Ok(String::new())
            } else {
                Err(changed.join("; "))
            },
        );
        t.check(
            &format!("{name} / out/ holds only plain files and symlinks"),
            tree.out_is_plain(),
        );
        match (out.broker, out.fds_before, out.fds_after) {
            (Some(pid), Some(b), Some(a)) => {
                t.check(
                    &format!("{name} / broker alive after the attack"),
                    if out.broker_alive_at_done == Some(true) {
                        Ok(format!("pid {pid}"))
                    } else {
                        Err(format!("broker {pid} is gone"))
                    },
                );
                t.check(
                    &format!("{name} / broker descriptors did not grow"),
                    if a <= b {
                        Ok(format!("{b} before, {a} after"))
                    } else {
                        Err(format!("{b} before, {a} after"))
                    },
                );
            }
            _ if finished => t.fail(
                &format!("{name} / broker"),
                &format!(
                    "broker not found or its descriptors not counted (pid {:?}, before {:?}, after {:?}, alive {:?})",
                    out.broker, out.fds_before, out.fds_after, out.broker_alive_at_done
                ),
            ),
            _ => {}
        }
        if spec.swap.is_some() {
            t.check(
                &format!("{name} / the tree was really being swapped"),
                if out.swaps > 100 {
                    Ok(format!("{} exchanges", out.swaps))
                } else {
                    Err(format!("only {} exchanges", out.swaps))
                },
            );
        }
        if out.broker_sched.0.is_some() {
            t.check(
                &format!("{name} / the broker's scheduling unchanged"),
                if out.broker_sched.0 == out.broker_sched.1 {
                    Ok(out.broker_sched.0.clone().unwrap_or_default())
                } else {
                    Err(format!("{:?}", out.broker_sched))
                },
            );
        }
        if let Some(o) = &outside {
            t.check(
                &format!("{name} / unrelated process untouched"),
                o.victim_intact(),
            );
            t.check(
                &format!("{name} / no listener outside was reached"),
                o.untouched(spec.policy == PolicyKind::Network),
            );
        }
    }

    /// Protocol abuse against a library broker (`fdbroker::broker::Broker`)
    /// serving several children at once, each on its own socketpair from
    /// `fdbroker::launch::spawn`: this binary re-executed as the host.
    pub fn run_host(t: &mut Tally, name: &str, bins: &Bins) {
        let tree = match Tree::new() {
            Ok(tree) => tree,
            Err(e) => return t.fail(name, &e),
        };
        let policy = match tree.policy(PolicyKind::Normal) {
            Ok(p) => p,
            Err(e) => return t.fail(name, &e),
        };
        let exe = match std::env::current_exe() {
            Ok(e) => e,
            Err(e) => return t.fail(name, &e.to_string()),
        };
        let mut child = match Command::new(exe)
            .env(ROLE_ENV, "host")
            .env("ATTACK_ROOT", &tree.root)
            .env("ATTACK_POLICY", &policy)
            .env("ATTACK_PROG", bins.path("proto_abuse"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => return t.fail(name, &e.to_string()),
        };
        let before = tree.snapshot();
        let (rx, err) = readers(&mut child);
        let deadline = Instant::now() + GUARD;
        let mut lines = Vec::new();
        let mut hung = false;
        loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(l) => lines.push(l),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    hung = true;
                    let _ = child.kill();
                    break;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        let status = child.wait().ok();
        let stderr = err.join().unwrap_or_default();
        const EXPECT: [&str; 7] = [
            "garbage",
            "truncated",
            "oversized",
            "attached_fds",
            "flood",
            "threads",
            "dies_mid_request",
        ];
        let mut blocked: BTreeMap<String, u32> = BTreeMap::new();
        let mut done = false;
        for line in &lines {
            match parse(line) {
                Line::Blocked(a, _) => *blocked.entry(a.to_string()).or_default() += 1,
                Line::Succeeded(a, d) => {
                    t.fail(&format!("{name} / {a}"), &format!("ATTACK SUCCEEDED: {d}"))
                }
                verdict @ (Line::Error(..)
                | Line::Ok(..)
                | Line::Fail(..)
                | Line::Control(..)
                | Line::Bystander(_)) => record_verdict(t, name, line, verdict),
                Line::Done => done = true,
                _ => {}
            }
        }
        for a in EXPECT {
            match blocked.get(a) {
                Some(k) => t.pass(&format!("{name} / {a} ({k} attempts blocked)")),
                None => t.fail(&format!("{name} / {a}"), "not attempted"),
            }
        }
        let ok = done && !hung && status.is_some_and(|s| s.success());
        if ok {
            t.pass(&format!("{name} / host ran to the end"));
        } else {
            t.fail(
                &format!("{name} / host ran to the end"),
                &format!(
                    "done {done}, hung {hung}, status {status:?}\n  last lines: {:?}\n  stderr: {}",
                    lines.iter().rev().take(15).collect::<Vec<_>>(),
                    stderr.chars().take(2000).collect::<String>()
                ),
            );
        }
        let leaked = lines.iter().any(|l| l.contains(&tree.token)) || stderr.contains(&tree.token);
        t.check(
            &format!("{name} / the secret never reached a child"),
            if leaked {
                Err("token in the output".into())
            } else {
                Ok(String::new())
            },
        );
        let after = tree.snapshot();
        t.check(
            &format!("{name} / protected files unchanged"),
            if before == after {
                Ok(String::new())
            } else {
                Err("changed".into())
            },
        );
    }

    /// `Err(reason)` when `fdbroker run` refuses to work on this kernel.
    fn kernel_ready() -> Result<(), String> {
        let tree = Tree::new()?;
        let policy = tree.policy(PolicyKind::Normal)?;
        let o = Command::new(FDBROKER)
            .args(["run", "--policy"])
            .arg(&policy)
            .args(["--", "/bin/true"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        let stderr = String::from_utf8_lossy(&o.stderr);
        if o.status.code() == Some(125) && stderr.contains("refusing to run unconfined") {
            return Err(stderr.trim().to_string());
        }
        Ok(())
    }

    fn spec(
        name: &str,
        prog: &'static str,
        args: &[&'static str],
        expect: &[&'static str],
    ) -> Spec {
        Spec {
            name: name.to_string(),
            prog,
            args: args.to_vec(),
            policy: PolicyKind::Normal,
            mode: Mode::Run,
            tty: false,
            swap: None,
            fifo: false,
            bypass_env: false,
            no_namespaces: false,
            expect: expect.to_vec(),
            kernel_dependent: vec![],
            profile_dir: false,
            root_only: false,
        }
    }

    pub fn specs() -> Vec<Spec> {
        const PATH_SYS: &[&str] = &[
            "dotdot",
            "deny_rule",
            "symlink_file",
            "symlink_dir",
            "proc_self_root",
            "proc_broker_root",
            "fd_reopen",
            "o_path",
            "o_tmpfile",
            "relative_chdir",
            "relative_dirfd",
            "overlong",
            "non_utf8",
            "embedded_nul",
            "query",
            "broker_proc",
        ];
        let path_proto: Vec<&'static str> = PATH_SYS
            .iter()
            .copied()
            .filter(|a| !a.starts_with("relative_"))
            .chain(["relative_proto"])
            .collect();
        const BYPASS: &[&str] = &[
            "io_uring",
            "open_by_handle_at",
            "x32",
            "i386",
            "seccomp_listener",
            "execve",
            "namespaces",
            "ptrace",
            "process_vm",
            "signals",
            "sockets",
            "tiocsti",
            "fs_mutations",
            "metadata_by_path",
            "kernel_facilities",
            "environment",
            "terminal",
        ];
        let mut v = vec![
            spec(
                "path_tricks [run: system calls]",
                "path_tricks",
                &["sys"],
                PATH_SYS,
            ),
            spec(
                "path_tricks [run: protocol]",
                "path_tricks",
                &["proto"],
                &path_proto,
            ),
        ];
        let mut s = spec(
            "path_tricks [run: system calls, policy allows /proc/**]",
            "path_tricks",
            &["sys"],
            PATH_SYS,
        );
        s.policy = PolicyKind::ProcAll;
        v.push(s);
        let mut s = spec(
            "path_tricks [run: protocol, policy allows /proc/**]",
            "path_tricks",
            &["proto"],
            &path_proto,
        );
        s.policy = PolicyKind::ProcAll;
        v.push(s);
        // The same attacks with no sandbox must get through: otherwise they
        // would prove nothing. The "broker" is then the victim.
        let mut s = spec(
            "path_tricks [control: the same attacks unconfined]",
            "path_tricks",
            &["sys"],
            &PATH_SYS
                .iter()
                .copied()
                .filter(|a| *a != "embedded_nul")
                .collect::<Vec<_>>(),
        );
        s.mode = Mode::Control;
        s.bypass_env = true;
        v.push(s);
        for (race, swap, attack) in [
            ("buffer", None, "buffer_rewrite"),
            ("swap_dir", Some(("d", "l")), "swap_dir"),
            ("swap_file", Some(("f", "fl")), "swap_file"),
        ] {
            for way in ["sys", "proto"] {
                let label = if way == "sys" {
                    "system calls"
                } else {
                    "protocol"
                };
                let mut s = spec(
                    &format!("races {race} [run: {label}]"),
                    "races",
                    &[way, race],
                    &[attack],
                );
                s.swap = swap;
                v.push(s);
            }
        }
        let mut s = spec("syscall_bypasses [run]", "bypass", &["all"], BYPASS);
        s.tty = true;
        s.bypass_env = true;
        s.fifo = true;
        v.push(s);
        let mut s = spec(
            "syscall_bypasses [run, fdbroker itself as the program's user]",
            "bypass",
            &["all"],
            BYPASS,
        );
        s.tty = true;
        s.bypass_env = true;
        s.mode = Mode::RunAsNobody;
        v.push(s);
        let mut s = spec(
            "syscall_bypasses [run, network = true]",
            "bypass",
            &["sockets", "signals", "processes"],
            &["sockets", "signals", "ptrace", "process_vm"],
        );
        s.policy = PolicyKind::Network;
        s.bypass_env = true;
        v.push(s);
        let mut s = spec(
            "syscall_bypasses [control: the same attacks unconfined]",
            "bypass",
            &["all"],
            &[
                "io_uring",
                "open_by_handle_at",
                "x32",
                "i386",
                "seccomp_listener",
                "execve",
                "namespaces",
                "ptrace",
                "process_vm",
                "signals",
                "sockets",
                "tiocsti",
                "fs_mutations",
                "environment",
                "terminal",
            ],
        );
        s.tty = true;
        s.bypass_env = true;
        s.mode = Mode::Control;
        s.kernel_dependent = vec!["x32", "i386", "io_uring", "tiocsti"];
        if !is_root() && yama_restricts_ptrace() {
            s.kernel_dependent.extend(["ptrace", "process_vm"]);
        }
        // Isolation beyond files: memfd execution, System V IPC, other
        // processes' scheduling, oracles, other processes' existence (the
        // last only in a PID namespace of the sandbox's own).
        let in_namespaces: &[&'static str] = &[
            "memfd_exec",
            "tmpfile_exec",
            "sysv_ipc",
            "other_processes",
            "oracles",
            "residuals",
        ];
        let alone = &in_namespaces[..5];
        let isolation = |name: &str, expect: &[&'static str], mode: Mode, no_ns: bool| {
            // Only those attacks: without a PID namespace the residuals
            // are not guaranteed (SECURITY.md).
            let mut s = spec(name, "isolation", expect, expect);
            s.bypass_env = true;
            s.mode = mode;
            s.no_namespaces = no_ns;
            s
        };
        let ns_expect = if pid_namespace_expected() {
            in_namespaces
        } else {
            alone
        };
        v.push(isolation("isolation [run]", ns_expect, Mode::Run, false));
        v.push(isolation(
            "isolation [run, no namespaces to be had]",
            alone,
            Mode::Run,
            true,
        ));
        if is_root() {
            v.push(isolation(
                "isolation [run, fdbroker itself as the program's user]",
                in_namespaces,
                Mode::RunAsNobody,
                false,
            ));
            v.push(isolation(
                "isolation [run, fdbroker itself as the program's user, no namespaces]",
                alone,
                Mode::RunAsNobody,
                true,
            ));
            v.push(isolation(
                "isolation [control: the same attacks unconfined]",
                in_namespaces,
                Mode::Control,
                false,
            ));
        }
        let mut s = spec(
            "isolation [run, policy allows /proc/**]",
            "isolation",
            &["sandbox_init"],
            &["sandbox_init"],
        );
        s.policy = PolicyKind::ProcAll;
        v.push(s);
        let mut s = spec(
            "protocol_abuse [run: protocol]",
            "proto_abuse",
            &["all"],
            &[
                "garbage",
                "truncated",
                "oversized",
                "attached_fds",
                "flood",
                "threads",
                "dies_mid_request",
            ],
        );
        s.fifo = true;
        v.push(s);
        v.extend(proc_specs());
        v
    }

    /// `proc_creds`: `/proc` files and what only a built-in profile grants
    /// give the program no more than its own credentials would.
    fn proc_specs() -> Vec<Spec> {
        let mut all = vec!["pagemap_pfn", "proc_stack", "proc_net", "proc_mounts"];
        if is_root() {
            // Files of root's in a directory the profile grants need a
            // runner that can make them.
            all.extend(["profile_root_file", "profile_closed_dir"]);
        }
        let mut v = Vec::new();
        for (way, label) in [("sys", "system calls"), ("proto", "protocol")] {
            let mut s = spec(
                &format!("proc_creds [run: {label}]"),
                "proc_creds",
                &[way, "all"],
                &all,
            );
            s.profile_dir = true;
            v.push(s);
            let mut s = spec(
                &format!("proc_creds [run: {label}, policy allows /proc/**]"),
                "proc_creds",
                &[way, "proc"],
                &["pagemap_pfn", "proc_stack"],
            );
            s.policy = PolicyKind::ProcAll;
            v.push(s);
        }
        let mut s = spec(
            "proc_creds [run, fdbroker itself as the program's user]",
            "proc_creds",
            &["sys", "all"],
            &all,
        );
        s.profile_dir = true;
        s.mode = Mode::RunAsNobody;
        v.push(s);
        let mut s = spec(
            "proc_creds [run: a rule of the policy's own grants the root-only file]",
            "proc_creds",
            &["sys", "user_rule"],
            &[],
        );
        s.profile_dir = true;
        s.root_only = true;
        s.policy = PolicyKind::OwnRuleForProfileDir;
        v.push(s);
        let mut s = spec(
            "proc_creds [control: the same attacks unconfined]",
            "proc_creds",
            &["sys", "all"],
            &all,
        );
        s.profile_dir = true;
        s.mode = Mode::Control;
        if !is_root() {
            // Frame numbers and kernel stacks are root's alone.
            s.kernel_dependent = vec!["pagemap_pfn", "proc_stack"];
        }
        v.push(s);
        v
    }

    pub fn main() -> ExitCode {
        let mut t = Tally::default();
        let filter: Vec<String> = std::env::args()
            .skip(1)
            .filter(|a| !a.starts_with('-'))
            .collect();
        let wanted =
            |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
        let bins = match compile() {
            Ok(b) => Some(b),
            Err(e) => {
                t.fail("compiling the attack programs", &e);
                None
            }
        };
        let ready = kernel_ready();
        if let Some(bins) = &bins {
            for spec in specs() {
                if !wanted(&spec.name) {
                    continue;
                }
                if spec.mode != Mode::Control
                    && let Err(why) = &ready
                {
                    t.skip(&spec.name, why);
                    continue;
                }
                if spec.root_only && !is_root() {
                    t.skip_unprivileged(
                        &spec.name,
                        "needs to run as root, to make a file of root's that only the policy's \
                         own rule grants",
                    );
                    continue;
                }
                if spec.mode == Mode::RunAsNobody && !is_root() {
                    // Not a kernel feature: skipped even under
                    // FDBROKER_REQUIRE_KERNEL=1.
                    t.skip_unprivileged(
                        &spec.name,
                        "needs to run as root, to start fdbroker as nobody; \
                         not root, the cases above already run it as the program's user",
                    );
                    continue;
                }
                println!("# {}", spec.name);
                run_case(&mut t, &spec, bins);
            }
            match &ready {
                Ok(()) => processes::run(&mut t, bins, &wanted),
                Err(why) => t.skip("process_tree", why),
            }
            let host = "protocol_abuse [library broker, eight connections at once]";
            if wanted(host) {
                println!("# {host}");
                run_host(&mut t, host, bins);
            }
        }
        if t.skipped > 0 {
            println!("{} skipped", t.skipped);
        }
        println!("{} passed, {} failed", t.passed, t.failed);
        if t.failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

/// The library broker of `protocol_abuse [library broker ...]`: serves one
/// bystander and one child per abuse, each on its own connection, and
/// reports in the attack programs' line format.
mod host {
    use super::*;
    use fdbroker::broker::{Broker, BrokerError, ServeSummary};
    use fdbroker::policy::Policy;

    const ATTACKS: [&str; 7] = [
        "garbage",
        "truncated",
        "oversized",
        "fds",
        "flood",
        "threads",
        "dies",
    ];

    type Serving = JoinHandle<Result<ServeSummary, BrokerError>>;

    fn start(
        broker: &Broker,
        prog: &str,
        arg: &str,
        stdin: Stdio,
    ) -> Result<(Child, Serving, JoinHandle<Vec<String>>), String> {
        let mut cmd = Command::new(prog);
        cmd.arg(arg)
            .env("ATTACK_NOHANDSHAKE", "1")
            .env("ATTACK_HOST", "1")
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let (mut child, conn) =
            fdbroker::launch::spawn(&mut cmd).map_err(|e| format!("launch {arg}: {e}"))?;
        let serving = broker
            .spawn(conn, Some(child.id()))
            .map_err(|e| format!("Broker::spawn: {e}"))?;
        let so = child.stdout.take();
        let reader = std::thread::spawn(move || {
            so.map(|so| BufReader::new(so).lines().map_while(Result::ok).collect())
                .unwrap_or_default()
        });
        Ok((child, serving, reader))
    }

    pub fn main() -> ExitCode {
        match run() {
            Ok(()) => {
                println!("done");
                ExitCode::SUCCESS
            }
            Err(e) => {
                println!("error host: {e}");
                ExitCode::FAILURE
            }
        }
    }

    fn run() -> Result<(), String> {
        let var = |k: &str| std::env::var(k).map_err(|_| format!("{k} is not set"));
        let root = PathBuf::from(var("ATTACK_ROOT")?);
        let prog = var("ATTACK_PROG")?;
        let policy =
            Policy::from_file(Path::new(&var("ATTACK_POLICY")?)).map_err(|e| e.to_string())?;
        let broker = Broker::new(Arc::new(policy)).map_err(|e| e.to_string())?;
        let before = fd_count("self").ok_or("cannot count descriptors")?;
        let releaser = Releaser::start(root.join("pub/fifo"));

        let (mut by, by_serving, by_out) = start(&broker, &prog, "bystander", Stdio::piped())?;
        let mut kids = Vec::new();
        for a in ATTACKS {
            kids.push((a, start(&broker, &prog, a, Stdio::null())?));
        }
        let mut lines = Vec::new();
        let mut servings = Vec::new();
        for (a, (mut child, serving, out)) in kids {
            let status = child.wait().map_err(|e| e.to_string())?;
            lines.extend(out.join().unwrap_or_default());
            if status.success() {
                lines.push(format!("ok child_{a}: exited 0"));
            } else {
                lines.push(format!("fail child_{a}: {status}"));
            }
            servings.push((a, serving));
        }
        drop(by.stdin.take()); // the bystander stops after one more round
        let status = by.wait().map_err(|e| e.to_string())?;
        lines.extend(by_out.join().unwrap_or_default());
        if !status.success() {
            lines.push(format!("fail child_bystander: {status}"));
        }
        servings.push(("bystander", by_serving));
        for (a, serving) in servings {
            match serving.join() {
                Ok(Ok(s)) => lines.push(format!(
                    "ok serve_{a}: {} records, {} malformed, {} descriptors sent",
                    s.requests, s.malformed, s.fds_sent
                )),
                Ok(Err(e)) => lines.push(format!("fail serve_{a}: {e}")),
                Err(_) => lines.push(format!("fail serve_{a}: the connection's thread panicked")),
            }
        }
        drop(releaser);
        let mut after = fd_count("self").unwrap_or(usize::MAX);
        for _ in 0..50 {
            if after <= before {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
            after = fd_count("self").unwrap_or(usize::MAX);
        }
        if after <= before {
            lines.push(format!("ok broker_fds: {before} before, {after} after"));
        } else {
            lines.push(format!("fail broker_fds: {before} before, {after} after"));
        }
        for l in lines {
            if l.starts_with("ready ") || l == "done" {
                continue;
            }
            println!("{l}");
        }
        Ok(())
    }
}
