//! End-to-end: a real broker serving real, confined children.
//!
//! `harness = false`: `main` is either the parent (no `FDBROKER_TEST_ROLE`),
//! which builds a tree, spawns this binary again as children with
//! `launch::spawn` and serves them with `Broker::spawn`, or one of those
//! children (`FDBROKER_TEST_ROLE=<role>`), which confines itself first and
//! then reports each check on stdout as `ok NAME`, `fail NAME: WHY` or
//! `skip NAME: WHY`. The parent prints every result and, last,
//! `N passed, M failed`.
//!
//! Without `FDBROKER_REQUIRE_KERNEL=1`, a kernel that lacks what
//! `confine_self` needs makes the confinement checks skip (with the reason);
//! with it, they fail.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use fdbroker::FollowSymlinks;
use fdbroker::broker::{Broker, ServeSummary};
use fdbroker::client::{Client, ClientError};
use fdbroker::event::{Event, Source};
use fdbroker::launch;
use fdbroker::policy::Policy;
use fdbroker::protocol::{Op, Reply, ReplyBody};
use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg,
    sendmsg, socketpair,
};

const ROLE_ENV: &str = "FDBROKER_TEST_ROLE";
const ROOT_ENV: &str = "FDBROKER_TEST_ROOT";
const SECRET_INO_ENV: &str = "FDBROKER_TEST_SECRET_INO";

const HELLO: &str = "hello from pub\n";
const SECRET: &str = "TOP SECRET\n";
const RACE_PUBLIC: &str = "public\n";
const FIFO_DATA: &str = "through the fifo\n";
const RACE_ROUNDS: usize = 3000;
/// What a path the child may not even stat answers, existing or not.
const HIDDEN: Errno = Errno::ENOENT;

fn main() -> ExitCode {
    match std::env::var(ROLE_ENV) {
        Ok(role) => child::main(&role),
        Err(_) => parent::main(),
    }
}

/// The tree every scenario works on, under a canonical temporary root `T`.
///
/// ```text
/// T/pub/hello.txt         read allowed
/// T/pub/ok_link   -> hello.txt
/// T/pub/link_file -> T/secret/data      (absolute, leaves the allowed tree)
/// T/pub/link_dir  -> T/secret
/// T/pub/rel_link  -> ../secret/data
/// T/pub/private/key       denied by a deny rule
/// T/pub/race/d/data       "public"; T/pub/race/l -> T/secret; swapped by the parent
/// T/pub/fifo              a FIFO
/// T/out/                  read, write, create
/// T/secret/data           nothing allowed
/// ```
struct Tree {
    root: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tree {
    fn p(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
}

mod parent {
    use super::common::raw_request;
    use super::*;

    /// Results collected by the parent.
    #[derive(Default)]
    struct Tally {
        passed: u32,
        failed: u32,
        skipped: u32,
    }

    impl Tally {
        fn pass(&mut self, name: &str) {
            println!("PASS {name}");
            self.passed += 1;
        }
        fn fail(&mut self, name: &str, why: &str) {
            println!("FAIL {name}: {why}");
            self.failed += 1;
        }
        fn skip(&mut self, name: &str, why: &str) {
            if require_kernel() {
                self.fail(name, &format!("{why} (FDBROKER_REQUIRE_KERNEL=1)"));
            } else {
                println!("SKIP {name}: {why}");
                self.skipped += 1;
            }
        }
        fn check(&mut self, name: &str, r: Result<(), String>) {
            match r {
                Ok(()) => self.pass(name),
                Err(why) => self.fail(name, &why),
            }
        }
    }

    fn require_kernel() -> bool {
        std::env::var_os("FDBROKER_REQUIRE_KERNEL").is_some_and(|v| v == "1")
    }

    pub fn main() -> ExitCode {
        let mut t = Tally::default();
        match run(&mut t) {
            Ok(()) => {}
            Err(e) => t.fail("setup", &e),
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

    fn build_tree() -> Result<Tree, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
        let root = fs::canonicalize(dir.path()).map_err(|e| format!("canonicalize: {e}"))?;
        let tree = Tree { root, _dir: dir };
        let io = |what: &str, r: std::io::Result<()>| r.map_err(|e| format!("{what}: {e}"));
        for d in [
            "pub",
            "pub/private",
            "pub/race",
            "pub/race/d",
            "out",
            "secret",
        ] {
            io(d, fs::create_dir(tree.p(d)))?;
        }
        io("hello", fs::write(tree.p("pub/hello.txt"), HELLO))?;
        io("key", fs::write(tree.p("pub/private/key"), "private key\n"))?;
        io("secret", fs::write(tree.p("secret/data"), SECRET))?;
        io(
            "race data",
            fs::write(tree.p("pub/race/d/data"), RACE_PUBLIC),
        )?;
        let link = |target: &Path, at: &str| io(at, std::os::unix::fs::symlink(target, tree.p(at)));
        link(Path::new("hello.txt"), "pub/ok_link")?;
        link(&tree.p("secret/data"), "pub/link_file")?;
        link(&tree.p("secret"), "pub/link_dir")?;
        link(Path::new("../secret/data"), "pub/rel_link")?;
        link(&tree.p("secret"), "pub/race/l")?;
        nix::unistd::mkfifo(
            &tree.p("pub/fifo"),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .map_err(|e| format!("mkfifo: {e}"))?;
        Ok(tree)
    }

    fn policy_text(tree: &Tree) -> String {
        let r = tree.root.display();
        format!(
            r#"version = 1

[[allow]]
paths  = ["{r}/pub", "{r}/pub/**"]
access = ["read"]

[[allow]]
paths  = ["{r}/out", "{r}/out/**"]
access = ["read", "write", "create"]

[[deny]]
paths  = ["{r}/pub/private/**"]
access = ["read"]
"#
        )
    }

    fn fd_count() -> Result<usize, String> {
        fs::read_dir("/proc/self/fd")
            .map(|d| d.count())
            .map_err(|e| format!("/proc/self/fd: {e}"))
    }

    fn run(t: &mut Tally) -> Result<(), String> {
        let tree = build_tree()?;
        let policy = Policy::parse(&policy_text(&tree), Path::new("test-policy.toml"))
            .map_err(|e| format!("policy: {e}"))?;
        let events = Arc::new(std::sync::Mutex::new(Vec::<Seen>::new()));
        let sink = Arc::clone(&events);
        let broker = Broker::new(Arc::new(policy))
            .map_err(|e| format!("Broker::new: {e}"))?
            .with_observer(Arc::new(move |e: &Event<'_>| {
                if let Ok(mut v) = sink.lock() {
                    v.push(Seen::from(e));
                }
            }));
        let fds_before = fd_count()?;

        basic(t, &broker, &tree);
        observer_saw_requests(t, &events, &tree);
        malformed(t, &broker, &tree);
        race(t, &broker, &tree);
        race_judged_only_allowed_paths(t, &events, &tree);
        threads(t, &broker, &tree);
        hung_open(t, &broker, &tree);
        python_client(t, &broker, &tree);
        respawn(t, &broker, &tree);

        let fds_after = fd_count()?;
        t.check(
            "broker leaks no descriptor",
            if fds_before == fds_after {
                Ok(())
            } else {
                Err(format!("{fds_before} open before, {fds_after} after"))
            },
        );
        Ok(())
    }

    /// Output of a finished child, with its exit status and serve summary.
    struct ChildRun {
        lines: Vec<String>,
        status: std::process::ExitStatus,
        summary: Result<ServeSummary, String>,
    }

    fn child_command(role: &str, tree: &Tree) -> Command {
        let mut cmd = Command::new(
            std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe")),
        );
        cmd.env(ROLE_ENV, role)
            .env(ROOT_ENV, &tree.root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Ok(md) = fs::metadata(tree.p("secret/data")) {
            cmd.env(SECRET_INO_ENV, md.ino().to_string());
        }
        cmd
    }

    fn start(role: &str, tree: &Tree) -> Result<(Child, OwnedFd), String> {
        launch::spawn(&mut child_command(role, tree)).map_err(|e| format!("launch {role}: {e}"))
    }

    fn finish(
        mut child: Child,
        serving: thread::JoinHandle<Result<ServeSummary, fdbroker::broker::BrokerError>>,
    ) -> Result<ChildRun, String> {
        let mut out = String::new();
        if let Some(mut so) = child.stdout.take() {
            so.read_to_string(&mut out)
                .map_err(|e| format!("child stdout: {e}"))?;
        }
        let status = child.wait().map_err(|e| format!("wait: {e}"))?;
        let summary = match serving.join() {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("broker thread panicked".to_string()),
        };
        Ok(ChildRun {
            lines: out.lines().map(str::to_string).collect(),
            status,
            summary,
        })
    }

    fn run_child(broker: &Broker, role: &str, tree: &Tree) -> Result<ChildRun, String> {
        let (child, conn) = start(role, tree)?;
        let serving = broker
            .spawn(conn, Some(child.id()))
            .map_err(|e| format!("Broker::spawn: {e}"))?;
        finish(child, serving)
    }

    /// Turns a child's report into results prefixed with `role`.
    fn tally_child(t: &mut Tally, role: &str, run: Result<ChildRun, String>) {
        let run = match run {
            Ok(r) => r,
            Err(e) => return t.fail(role, &e),
        };
        let mut done = false;
        for line in &run.lines {
            if let Some(name) = line.strip_prefix("ok ") {
                t.pass(&format!("{role}: {name}"));
            } else if let Some(rest) = line.strip_prefix("fail ") {
                let (name, why) = rest.split_once(": ").unwrap_or((rest, ""));
                t.fail(&format!("{role}: {name}"), why);
            } else if let Some(rest) = line.strip_prefix("skip ") {
                let (name, why) = rest.split_once(": ").unwrap_or((rest, ""));
                t.skip(&format!("{role}: {name}"), why);
            } else if line == "done" {
                done = true;
            } else {
                println!("  {role} says: {line}");
            }
        }
        t.check(
            &format!("{role}: child ran to the end"),
            if done && run.status.success() {
                Ok(())
            } else {
                Err(format!("status {}, finished: {done}", run.status))
            },
        );
        t.check(
            &format!("{role}: broker served until the child hung up"),
            run.summary.map(|s| println!("  {role}: {s:?}")),
        );
    }

    fn basic(t: &mut Tally, broker: &Broker, tree: &Tree) {
        let run = run_child(broker, "basic", tree);
        tally_child(t, "basic", run);
        // What the confined child created through the broker is really there.
        t.check(
            "basic: file created by the child has its content and no setuid bit",
            match fs::read(tree.p("out/new.txt")) {
                Ok(data) if data == b"created\n" => match fs::metadata(tree.p("out/new.txt")) {
                    Ok(md) if md.mode() & 0o7000 == 0 => Ok(()),
                    Ok(md) => Err(format!("mode {:o}", md.mode())),
                    Err(e) => Err(e.to_string()),
                },
                Ok(data) => Err(format!("content {data:?}")),
                Err(e) => Err(e.to_string()),
            },
        );
        t.check(
            "basic: no file created where create is not allowed",
            match fs::symlink_metadata(tree.p("pub/new.txt")) {
                Err(_) => Ok(()),
                Ok(_) => Err("pub/new.txt exists".to_string()),
            },
        );
    }

    /// What the observer was shown, kept past the call.
    #[derive(Clone)]
    struct Seen {
        pid: Option<u32>,
        source: Source,
        op: Op,
        path: PathBuf,
        resolved: Option<PathBuf>,
        decision: Option<fdbroker::policy::Decision>,
        errno: i32,
        absent: bool,
    }

    impl From<&Event<'_>> for Seen {
        fn from(e: &Event<'_>) -> Seen {
            Seen {
                pid: e.pid,
                source: e.source,
                op: e.op,
                path: e.path.to_path_buf(),
                resolved: e.resolved.map(Path::to_path_buf),
                decision: e.decision.cloned(),
                errno: e.errno.map_or(0, |e| e as i32),
                absent: e.absent,
            }
        }
    }

    fn observer_saw_requests(t: &mut Tally, events: &std::sync::Mutex<Vec<Seen>>, tree: &Tree) {
        let events = match events.lock() {
            Ok(v) => v.clone(),
            Err(_) => return t.fail("observer", "poisoned"),
        };
        let hello = tree.p("pub/hello.txt");
        let secret = tree.p("secret/data");
        let allowed = events.iter().any(|e| {
            e.op == Op::Open
                && e.source == Source::Socket
                && e.path == hello
                && e.errno == 0
                && e.decision.as_ref().is_some_and(|d| d.allowed)
                && e.pid.is_some()
        });
        let denied = events.iter().any(|e| {
            e.op == Op::Open
                && e.path == secret
                && e.errno == libc::ENOENT
                && !e.absent
                && e.decision.as_ref().is_some_and(|d| !d.allowed)
        });
        let via_link = events.iter().any(|e| {
            e.path == tree.p("pub/link_file")
                && e.resolved.as_deref() == Some(secret.as_path())
                && e.errno == libc::ENOENT
                && !e.absent
        });
        // The same answer for a missing hidden path, but the observer knows.
        let missing = tree.p("secret/missing");
        let probe = events
            .iter()
            .any(|e| e.path == missing && e.errno == libc::ENOENT && e.absent);
        t.check(
            "observer sees allowed and denied requests with the resolved path",
            if allowed && denied && via_link && probe {
                Ok(())
            } else {
                Err(format!(
                    "allowed {allowed}, denied {denied}, resolved link {via_link}, \
                     missing path probed {probe}"
                ))
            },
        );
    }

    // ---- malformed messages, spoken raw on an in-process connection ----

    /// Sends raw bytes (and descriptors) and returns the reply's header
    /// fields and the number of descriptors that came back.
    fn raw_exchange(sock: &OwnedFd, bytes: &[u8], fds: &[i32]) -> Result<(Reply, usize), String> {
        let iov = [std::io::IoSlice::new(bytes)];
        let cmsgs: Vec<ControlMessage<'_>> = if fds.is_empty() {
            vec![]
        } else {
            vec![ControlMessage::ScmRights(fds)]
        };
        sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsgs, MsgFlags::empty(), None)
            .map_err(|e| format!("sendmsg: {e}"))?;
        let mut buf = [0u8; 5000];
        let mut space = nix::cmsg_space!([i32; 253]);
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| format!("recvmsg: {e}"))?;
        let mut got = 0;
        for c in msg.cmsgs().map_err(|e| format!("cmsgs: {e}"))? {
            if let ControlMessageOwned::ScmRights(v) = c {
                for fd in v {
                    got += 1;
                    let _ = nix::unistd::close(fd);
                }
            }
        }
        let len = msg.bytes;
        let reply = Reply::decode(&buf[..len]).map_err(|e| format!("bad reply: {e}"))?;
        Ok((reply, got))
    }

    fn malformed(t: &mut Tally, broker: &Broker, tree: &Tree) {
        let (ours, theirs) = match socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        ) {
            Ok(p) => p,
            Err(e) => return t.fail("malformed: socketpair", &e.to_string()),
        };
        let serving = match broker.spawn(ours, None) {
            Ok(h) => h,
            Err(e) => return t.fail("malformed: spawn", &e.to_string()),
        };
        let client = match theirs
            .try_clone()
            .map_err(|e| e.to_string())
            .and_then(|fd| Client::from_fd(fd).map_err(|e| e.to_string()))
        {
            Ok(c) => c,
            Err(e) => return t.fail("malformed: client", &e),
        };
        let hello = tree.p("pub/hello.txt");
        let hello_b = hello.as_os_str().as_encoded_bytes().to_vec();
        let valid = |id: u32| {
            raw_request(
                1,
                1,
                id,
                libc::O_RDONLY,
                0,
                hello_b.len() as u32,
                0,
                &hello_b,
            )
        };
        let mut garbage = vec![0xA5u8; 100];
        garbage[0] = 0xde;
        let mut oversized = raw_request(1, 1, 77, 0, 0, 5000, 0, &[b'a'; 5000]);
        oversized[24] = b'/';
        let mut fds: Vec<OwnedFd> = Vec::new();
        for _ in 0..200 {
            match fs::File::open("/dev/null") {
                Ok(f) => fds.push(f.into()),
                Err(e) => return t.fail("malformed: /dev/null", &e.to_string()),
            }
        }
        let raw_fds: Vec<i32> = fds.iter().map(|f| f.as_raw_fd()).collect();

        // (name, bytes, attached descriptors, expected errno, expected id)
        type Case<'a> = (&'a str, Vec<u8>, &'a [i32], i32, u32);
        let cases: Vec<Case<'_>> = vec![
            ("garbage", garbage, &[], libc::EPROTO, 0),
            (
                "truncated header",
                valid(5)[..10].to_vec(),
                &[],
                libc::EPROTO,
                0,
            ),
            ("empty record", vec![], &[], libc::EPROTO, 0),
            ("oversized record", oversized, &[], libc::EPROTO, 77),
            (
                "path_len too large",
                raw_request(1, 1, 6, 0, 0, 50, 0, b"/x"),
                &[],
                libc::EPROTO,
                6,
            ),
            (
                "path_len too small",
                raw_request(1, 1, 7, 0, 0, 1, 0, b"/xyz"),
                &[],
                libc::EPROTO,
                7,
            ),
            (
                "200 attached descriptors",
                valid(8),
                &raw_fds,
                libc::EPROTO,
                8,
            ),
            (
                "bad version",
                raw_request(2, 1, 9, 0, 0, 2, 0, b"/x"),
                &[],
                libc::EPROTO,
                0,
            ),
            (
                "unknown op",
                raw_request(1, 9, 10, 0, 0, 2, 0, b"/x"),
                &[],
                libc::EINVAL,
                10,
            ),
            (
                "reserved not zero",
                raw_request(1, 1, 11, 0, 0, 2, 3, b"/x"),
                &[],
                libc::EPROTO,
                11,
            ),
            (
                "relative path",
                raw_request(1, 1, 12, 0, 0, 3, 0, b"a/b"),
                &[],
                libc::EINVAL,
                12,
            ),
            (
                "NUL in path",
                raw_request(1, 1, 13, 0, 0, 4, 0, b"/a\0b"),
                &[],
                libc::EINVAL,
                13,
            ),
            (
                "bad stat flags",
                raw_request(1, 2, 14, 0x1000, 0, 2, 0, b"/x"),
                &[],
                libc::EINVAL,
                14,
            ),
        ];
        let n_cases = cases.len() as u64;
        for (name, bytes, attached, errno, id) in cases {
            let name = format!("malformed: {name} answered, then a valid request works");
            let r = raw_exchange(&theirs, &bytes, attached).and_then(|(reply, nfds)| {
                if reply.errno() != errno || reply.id != id || nfds != 0 {
                    return Err(format!(
                        "reply {reply:?} with {nfds} fds, wanted errno {errno} id {id}"
                    ));
                }
                let fd = client
                    .open(&hello, libc::O_RDONLY, 0)
                    .map_err(|e| format!("valid open: {e}"))?;
                let mut s = String::new();
                fs::File::from(fd)
                    .read_to_string(&mut s)
                    .map_err(|e| e.to_string())?;
                if s == HELLO {
                    Ok(())
                } else {
                    Err(format!("read {s:?}"))
                }
            });
            t.check(&name, r);
        }
        drop(fds);
        // A valid raw request gets its descriptor, as documented.
        t.check(
            "malformed: raw valid request gets one descriptor",
            raw_exchange(&theirs, &valid(99), &[]).and_then(|(reply, nfds)| {
                if reply.body == ReplyBody::Opened && reply.id == 99 && nfds == 1 {
                    Ok(())
                } else {
                    Err(format!("{reply:?} with {nfds} fds"))
                }
            }),
        );
        drop(client);
        drop(theirs);
        t.check(
            "malformed: connection served to the end with every record counted",
            match serving.join() {
                Ok(Ok(s))
                    if s.malformed == n_cases
                        && s.succeeded == n_cases + 1
                        && s.fds_sent == n_cases + 1 =>
                {
                    Ok(())
                }
                Ok(Ok(s)) => Err(format!("{s:?}")),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("broker thread panicked".into()),
            },
        );
    }

    // ---- a directory swapped for a symlink while the child asks ----

    fn race(t: &mut Tally, broker: &Broker, tree: &Tree) {
        let (child, conn) = match start("race", tree) {
            Ok(x) => x,
            Err(e) => return t.fail("race", &e),
        };
        let serving = match broker.spawn(conn, Some(child.id())) {
            Ok(h) => h,
            Err(e) => return t.fail("race", &e.to_string()),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let swaps = Arc::new(AtomicU64::new(0));
        let swapper = {
            let (stop, swaps) = (Arc::clone(&stop), Arc::clone(&swaps));
            let (d, l) = (tree.p("pub/race/d"), tree.p("pub/race/l"));
            thread::spawn(move || -> Result<(), String> {
                while !stop.load(Ordering::Relaxed) {
                    nix::fcntl::renameat2(
                        nix::fcntl::AT_FDCWD,
                        &d,
                        nix::fcntl::AT_FDCWD,
                        &l,
                        nix::fcntl::RenameFlags::RENAME_EXCHANGE,
                    )
                    .map_err(|e| format!("renameat2: {e}"))?;
                    swaps.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            })
        };
        let run = finish(child, serving);
        stop.store(true, Ordering::Relaxed);
        let swapped = swapper.join();
        tally_child(t, "race", run);
        t.check(
            "race: the parent really swapped while the child asked",
            match swapped {
                Ok(Ok(())) if swaps.load(Ordering::Relaxed) > 0 => {
                    println!("  race: {} swaps", swaps.load(Ordering::Relaxed));
                    Ok(())
                }
                Ok(Ok(())) => Err("no swap happened".into()),
                Ok(Err(e)) => Err(e),
                Err(_) => Err("swapper panicked".into()),
            },
        );
    }

    /// Whatever the race made the broker reach, what it allowed was judged
    /// on a path inside the allowed tree (the observer's view).
    fn race_judged_only_allowed_paths(
        t: &mut Tally,
        events: &std::sync::Mutex<Vec<Seen>>,
        tree: &Tree,
    ) {
        let Ok(events) = events.lock() else {
            return t.fail("race: observer", "poisoned");
        };
        let race = tree.p("pub/race");
        let mut judged = BTreeMap::new();
        for e in events.iter().filter(|e| e.path.starts_with(&race)) {
            let key = (e.resolved.clone(), e.errno);
            *judged.entry(key).or_insert(0u32) += 1;
        }
        let bad: Vec<_> = judged
            .iter()
            .filter(|((resolved, errno), _)| {
                *errno == 0 && !resolved.as_ref().is_some_and(|r| r.starts_with(&race))
            })
            .collect();
        t.check(
            "race: every request allowed was judged on a path in the allowed tree",
            if bad.is_empty() && !judged.is_empty() {
                Ok(())
            } else {
                Err(format!("allowed: {bad:?}; all: {judged:?}"))
            },
        );
    }

    fn threads(t: &mut Tally, broker: &Broker, tree: &Tree) {
        let run = run_child(broker, "threads", tree);
        tally_child(t, "threads", run);
    }

    // ---- a hung open stalls only its own child ----

    /// Whether thread `tid` of this process sleeps in the kernel's FIFO open
    /// (waiting for a writer); `None` when that cannot be observed here.
    fn blocked_in_fifo_open(tid: i32) -> Option<bool> {
        let wchan = fs::read_to_string(format!("/proc/self/task/{tid}/wchan"));
        let stack = fs::read_to_string(format!("/proc/self/task/{tid}/stack"));
        if wchan.is_err() && stack.is_err() {
            return None;
        }
        let wchan = wchan.unwrap_or_default();
        let stack = stack.unwrap_or_default();
        Some(
            wchan.contains("wait_for_partner")
                || wchan.contains("fifo_open")
                || stack.contains("fifo_open"),
        )
    }

    fn hung_open(t: &mut Tally, broker: &Broker, tree: &Tree) {
        let (child_a, conn_a) = match start("fifo", tree) {
            Ok(x) => x,
            Err(e) => return t.fail("hung open", &e),
        };
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let serving_a = {
            let broker = broker.clone();
            let pid = child_a.id();
            thread::spawn(move || {
                let _ = tid_tx.send(nix::unistd::gettid().as_raw());
                broker.serve(conn_a, Some(pid))
            })
        };
        let tid = tid_rx.recv().unwrap_or(0);
        // Wait (no deadline: the machine may be slow) until the thread serving
        // A is blocked opening the FIFO, or has finished without blocking.
        let mut blocked = Some(false);
        while !serving_a.is_finished() {
            blocked = blocked_in_fifo_open(tid);
            if blocked != Some(false) {
                break;
            }
            thread::sleep(Duration::from_millis(5));
        }
        match blocked {
            Some(true) => {
                // While A's open hangs, B is served completely.
                let run_b = run_child(broker, "quick", tree);
                let still_blocked = blocked_in_fifo_open(tid) == Some(true);
                tally_child(t, "quick (while another child's open hangs)", run_b);
                t.check(
                    "hung open: the other child's open was still hanging meanwhile",
                    if still_blocked {
                        Ok(())
                    } else {
                        Err("it was not".into())
                    },
                );
            }
            Some(false) => t.fail(
                "hung open",
                "the broker's open of a FIFO without a writer did not block",
            ),
            None => println!("SKIP hung open: /proc/self/task/*/{{wchan,stack}} unreadable"),
        }
        // Unblock A, whatever state it is in: O_RDWR never blocks on a FIFO
        // (fifo(7)) and counts as a writer; held until A is done.
        let unblock = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(tree.p("pub/fifo"))
            .and_then(|mut f| f.write_all(FIFO_DATA.as_bytes()).map(|()| f));
        if let Err(e) = &unblock {
            t.fail("hung open: open the FIFO", &e.to_string());
        }
        let run_a = {
            let mut child = child_a;
            let mut out = String::new();
            let _ = child
                .stdout
                .take()
                .map(|mut so| so.read_to_string(&mut out));
            let status = child.wait();
            let summary = match serving_a.join() {
                Ok(Ok(s)) => Ok(s),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("panicked".to_string()),
            };
            status
                .map(|status| ChildRun {
                    lines: out.lines().map(str::to_string).collect(),
                    status,
                    summary,
                })
                .map_err(|e| e.to_string())
        };
        drop(unblock);
        tally_child(t, "fifo", run_a);
    }

    /// A `Command` armed by `launch::spawn` hands its child the descriptor
    /// once; spawning it again fails rather than pass whatever now has that
    /// number.
    fn respawn(t: &mut Tally, broker: &Broker, tree: &Tree) {
        let mut cmd = child_command("quick", tree);
        let first = launch::spawn(&mut cmd)
            .map_err(|e| e.to_string())
            .and_then(|(child, conn)| {
                let h = broker
                    .spawn(conn, Some(child.id()))
                    .map_err(|e| e.to_string())?;
                finish(child, h)
            });
        tally_child(t, "quick (first spawn of a Command)", first);
        let again = cmd.spawn();
        t.check(
            "launch: spawning the same Command again fails with EBADF",
            match again {
                Err(e) if e.raw_os_error() == Some(libc::EBADF) => Ok(()),
                Err(e) => Err(format!("failed with {e}")),
                Ok(mut child) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    Err("it started".into())
                }
            },
        );
    }

    // ---- the Python client of docs/protocol.md ----

    fn python_client(t: &mut Tally, broker: &Broker, tree: &Tree) {
        let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/protocol.md");
        let text = match fs::read_to_string(&doc) {
            Ok(s) => s,
            Err(e) => return t.fail("python client", &format!("{}: {e}", doc.display())),
        };
        let snippet = text
            .split_once("<!-- python-client:begin -->")
            .and_then(|(_, rest)| rest.split_once("<!-- python-client:end -->"))
            .and_then(|(block, _)| block.split_once("```python\n"))
            .and_then(|(_, code)| code.rsplit_once("```"))
            .map(|(code, _)| code.to_string());
        let Some(snippet) = snippet else {
            return t.fail(
                "python client",
                "snippet markers not found in docs/protocol.md",
            );
        };
        let python = Command::new("python3").arg("-c").arg("pass").status();
        if !python.is_ok_and(|s| s.success()) {
            return t.skip("python client", "python3 is not installed");
        }
        let r = tree.root.display();
        let script = format!(
            r#"{snippet}
import stat as st
fd = broker_open("{r}/pub/hello.txt")
with os.fdopen(fd) as f:
    assert f.read() == {HELLO:?}
for p in ["{r}/secret/data", "{r}/pub/link_file", "{r}/secret/missing"]:
    try:
        broker_open(p)
        raise SystemExit("opened " + p)
    except FileNotFoundError:
        pass
try:
    broker_open("{r}/pub/private/key")
    raise SystemExit("opened the visible private key")
except PermissionError:
    pass
assert st.S_ISREG(broker_stat("{r}/pub/hello.txt")[2])
assert broker_stat("{r}/pub/hello.txt")[7] == {len}
assert st.S_ISLNK(broker_stat("{r}/pub/rel_link", follow=False)[2])
broker_access("{r}/pub/hello.txt")
assert broker_readlink("{r}/pub/rel_link") == "../secret/data"
try:
    broker_stat("{r}/pub/missing")
    raise SystemExit("stat of a missing file succeeded")
except FileNotFoundError:
    pass
print("python ok")
"#,
            len = HELLO.len()
        );
        let mut cmd = Command::new("python3");
        cmd.arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        let run = launch::spawn(&mut cmd)
            .map_err(|e| e.to_string())
            .and_then(|(child, conn)| {
                let h = broker
                    .spawn(conn, Some(child.id()))
                    .map_err(|e| e.to_string())?;
                finish(child, h)
            });
        t.check(
            "python client from docs/protocol.md works against the broker",
            run.and_then(|r| {
                if r.status.success() && r.lines.iter().any(|l| l == "python ok") {
                    Ok(())
                } else {
                    Err(format!("status {}, output {:?}", r.status, r.lines))
                }
            }),
        );
    }
}

mod child {
    use super::*;

    fn report(name: &str, r: Result<(), String>) {
        match r {
            Ok(()) => println!("ok {name}"),
            Err(why) => println!("fail {name}: {why}"),
        }
    }

    fn expect_err<T: std::fmt::Debug>(
        r: Result<T, ClientError>,
        want: Errno,
    ) -> Result<(), String> {
        match r {
            Err(e) if e.errno() == want => Ok(()),
            Err(e) => Err(format!("got {e} ({}), wanted {want}", e.errno())),
            Ok(v) => Err(format!("succeeded ({v:?}), wanted {want}")),
        }
    }

    fn read_all(fd: OwnedFd) -> Result<String, String> {
        let mut s = String::new();
        fs::File::from(fd)
            .read_to_string(&mut s)
            .map_err(|e| format!("read: {e}"))?;
        Ok(s)
    }

    fn read_eq(r: Result<OwnedFd, ClientError>, want: &str) -> Result<(), String> {
        let got = read_all(r.map_err(|e| format!("open: {e}"))?)?;
        if got == want {
            Ok(())
        } else {
            Err(format!("read {got:?}, wanted {want:?}"))
        }
    }

    /// Never returns secret data: Ok only for a refusal.
    fn refused(r: Result<OwnedFd, ClientError>) -> Result<(), String> {
        match r {
            Err(_) => Ok(()),
            Ok(fd) => Err(format!("opened; content {:?}", read_all(fd))),
        }
    }

    pub fn main(role: &str) -> ExitCode {
        // Confinement comes before anything else the child does.
        let confined = match fdbroker::confine::confine_self() {
            Ok(_) => {
                println!("ok confine_self");
                true
            }
            Err(fdbroker::confine::ConfineError::Unsupported(missing)) => {
                println!("skip confine_self: the kernel lacks {missing}");
                false
            }
            Err(e) => {
                println!("fail confine_self: {e}");
                false
            }
        };
        let root = PathBuf::from(std::env::var_os(ROOT_ENV).unwrap_or_default());
        let client = match Client::from_env() {
            Ok(c) => c,
            Err(e) => {
                println!("fail Client::from_env: {e}");
                return ExitCode::FAILURE;
            }
        };
        report(
            "a second Client::from_env is refused",
            expect_err(Client::from_env(), Errno::EBADF),
        );
        match role {
            "basic" => basic(&client, &root, confined),
            "race" => race(&client, &root),
            "threads" => threads(client, &root),
            "fifo" => report(
                "open of a FIFO completes once a writer comes",
                client
                    .open(root.join("pub/fifo"), libc::O_RDONLY, 0)
                    .map_err(|e| format!("open: {e}"))
                    .and_then(|fd| {
                        // Exactly the bytes written: the writer stays open
                        // until this child is done, so there is no EOF.
                        let mut buf = vec![0u8; FIFO_DATA.len()];
                        fs::File::from(fd)
                            .read_exact(&mut buf)
                            .map_err(|e| format!("read: {e}"))?;
                        if buf == FIFO_DATA.as_bytes() {
                            Ok(())
                        } else {
                            Err(format!("read {buf:?}"))
                        }
                    }),
            ),
            "quick" => report(
                "open works",
                read_eq(
                    client.open(root.join("pub/hello.txt"), libc::O_RDONLY, 0),
                    HELLO,
                ),
            ),
            other => println!("fail role: unknown role {other}"),
        }
        println!("done");
        ExitCode::SUCCESS
    }

    fn basic(c: &Client, root: &Path, confined: bool) {
        let p = |rel: &str| root.join(rel);
        let hello = p("pub/hello.txt");
        let secret = p("secret/data");

        report(
            "allowed open returns the right data",
            read_eq(c.open(&hello, libc::O_RDONLY, 0), HELLO),
        );
        report(
            "received descriptor is close-on-exec",
            c.open(&hello, libc::O_RDONLY, 0)
                .map_err(|e| e.to_string())
                .and_then(|fd| {
                    match nix::fcntl::fcntl(fd.as_fd(), nix::fcntl::FcntlArg::F_GETFD) {
                        Ok(f) if f & libc::FD_CLOEXEC != 0 => Ok(()),
                        other => Err(format!("{other:?}")),
                    }
                }),
        );
        report(
            "symlink inside the allowed tree is followed",
            read_eq(c.open(p("pub/ok_link"), libc::O_RDONLY, 0), HELLO),
        );
        report(
            "open of a hidden file is ENOENT",
            expect_err(c.open(&secret, libc::O_RDONLY, 0), HIDDEN),
        );
        report(
            "deny rule beats allow",
            expect_err(
                c.open(p("pub/private/key"), libc::O_RDONLY, 0),
                Errno::EACCES,
            ),
        );
        report(
            "write without the right is EACCES",
            expect_err(c.open(&hello, libc::O_WRONLY, 0), Errno::EACCES),
        );
        report(
            "O_PATH is EINVAL",
            expect_err(c.open(&hello, libc::O_PATH, 0), Errno::EINVAL),
        );
        report(
            "relative path is EINVAL",
            expect_err(c.open("pub/hello.txt", libc::O_RDONLY, 0), Errno::EINVAL),
        );

        if confined {
            report(
                "direct open() in the confined child fails",
                match fs::File::open(&hello) {
                    Err(_) => Ok(()),
                    Ok(_) => Err("opened it".into()),
                },
            );
            report(
                "direct open() of /etc/passwd fails",
                match fs::File::open("/etc/passwd") {
                    Err(_) => Ok(()),
                    Ok(_) => Err("opened it".into()),
                },
            );
        } else {
            println!("skip direct open() fails: not confined");
        }

        // Resolution tricks: judged on the object reached, never the string.
        report(
            "symlink to a file outside is refused",
            expect_err(c.open(p("pub/link_file"), libc::O_RDONLY, 0), HIDDEN),
        );
        report(
            "relative symlink leaving the tree is refused",
            expect_err(c.open(p("pub/rel_link"), libc::O_RDONLY, 0), HIDDEN),
        );
        report(
            "symlink to a directory outside is refused",
            refused(c.open(p("pub/link_dir/data"), libc::O_RDONLY, 0)),
        );
        report(
            "`..` out of the allowed tree is refused",
            refused(c.open(root.join("pub/../secret/data"), libc::O_RDONLY, 0)),
        );
        report(
            "`..` through a symlinked dir is refused",
            refused(c.open(root.join("pub/link_dir/../secret/data"), libc::O_RDONLY, 0)),
        );
        let via_root = PathBuf::from(format!("/proc/self/root{}", secret.display()));
        report(
            "/proc/self/root/... is refused",
            refused(c.open(&via_root, libc::O_RDONLY, 0)),
        );
        let via_parent = PathBuf::from(format!(
            "/proc/{}/root{}",
            std::os::unix::process::parent_id(),
            secret.display()
        ));
        report(
            "/proc/<broker>/root/... is refused",
            refused(c.open(&via_parent, libc::O_RDONLY, 0)),
        );
        report(
            "/proc/self/cwd/... is refused",
            refused(c.open("/proc/self/cwd/secret/data", libc::O_RDONLY, 0)),
        );

        // Metadata.
        report(
            "stat of an allowed file",
            match c.stat(&hello, FollowSymlinks::Yes) {
                Ok(st)
                    if st.size == HELLO.len() as i64
                        && st.mode & libc::S_IFMT as u64 == libc::S_IFREG as u64 =>
                {
                    Ok(())
                }
                other => Err(format!("{other:?}")),
            },
        );
        report(
            "lstat of a link to outside shows the link",
            match c.stat(p("pub/link_file"), FollowSymlinks::No) {
                Ok(st) if st.mode & libc::S_IFMT as u64 == libc::S_IFLNK as u64 => Ok(()),
                other => Err(format!("{other:?}")),
            },
        );
        report(
            "stat through a link to outside is ENOENT",
            expect_err(c.stat(p("pub/link_file"), FollowSymlinks::Yes), HIDDEN),
        );
        report(
            "stat of a missing allowed path is ENOENT",
            expect_err(c.stat(p("pub/missing"), FollowSymlinks::Yes), Errno::ENOENT),
        );
        report(
            "stat of a hidden existing file is ENOENT",
            expect_err(c.stat(&secret, FollowSymlinks::Yes), HIDDEN),
        );
        report(
            "stat of a hidden missing file is ENOENT, as of an existing one",
            expect_err(c.stat(p("secret/missing"), FollowSymlinks::Yes), HIDDEN),
        );
        report(
            "stat under a missing hidden dir is ENOENT",
            expect_err(c.stat(p("nodir/x"), FollowSymlinks::Yes), HIDDEN),
        );
        report(
            "open of a hidden missing file is ENOENT, as of an existing one",
            expect_err(c.open(p("secret/missing"), libc::O_RDONLY, 0), HIDDEN),
        );
        report(
            "open of a visible file without the right is EACCES",
            expect_err(c.open(&hello, libc::O_RDWR, 0), Errno::EACCES),
        );
        report(
            "access R_OK of an allowed file",
            c.access(&hello, libc::R_OK).map_err(|e| e.to_string()),
        );
        report(
            "access F_OK of a hidden file is ENOENT",
            expect_err(c.access(&secret, libc::F_OK), HIDDEN),
        );
        report(
            "access F_OK of a hidden missing file is ENOENT",
            expect_err(c.access(p("secret/missing"), libc::F_OK), HIDDEN),
        );
        report(
            "access W_OK of a visible read-only file is EACCES",
            expect_err(c.access(&hello, libc::W_OK), Errno::EACCES),
        );
        report(
            "readlink of an allowed link",
            match c.readlink(p("pub/rel_link")) {
                Ok(t) if t == Path::new("../secret/data") => Ok(()),
                other => Err(format!("{other:?}")),
            },
        );
        report(
            "readlink of a hidden path is ENOENT",
            expect_err(c.readlink(&secret), HIDDEN),
        );
        report(
            "readlink of a hidden missing path is ENOENT",
            expect_err(c.readlink(p("secret/missing")), HIDDEN),
        );

        // Creation: lands only where allowed, without setuid bits.
        let new = p("out/new.txt");
        report(
            "create in the allowed directory",
            c.open(&new, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL, 0o4755)
                .map_err(|e| e.to_string())
                .and_then(|fd| {
                    fs::File::from(fd)
                        .write_all(b"created\n")
                        .map_err(|e| e.to_string())
                }),
        );
        report(
            "created file has no setuid bit",
            match c.stat(&new, FollowSymlinks::Yes) {
                Ok(st) if st.mode & 0o7000 == 0 => Ok(()),
                other => Err(format!("{other:?}")),
            },
        );
        report(
            "O_CREAT|O_EXCL of an existing allowed file is EEXIST",
            expect_err(
                c.open(&new, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL, 0o644),
                Errno::EEXIST,
            ),
        );
        report(
            "create where not allowed is EACCES",
            expect_err(
                c.open(p("pub/new.txt"), libc::O_WRONLY | libc::O_CREAT, 0o644),
                Errno::EACCES,
            ),
        );
    }

    fn race(c: &Client, root: &Path) {
        let target = root.join("pub/race/d/data");
        let secret_ino: u64 = std::env::var(SECRET_INO_ENV)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let (mut opened, mut refused_n, mut leaks) = (0u32, 0u32, Vec::new());
        for _ in 0..RACE_ROUNDS {
            match c.open(&target, libc::O_RDONLY, 0) {
                Ok(fd) => match read_all(fd) {
                    Ok(s) if s == RACE_PUBLIC => opened += 1,
                    other => leaks.push(format!("open read {other:?}")),
                },
                Err(_) => refused_n += 1,
            }
            if let Ok(st) = c.stat(&target, FollowSymlinks::Yes)
                && st.ino == secret_ino
            {
                leaks.push("stat reached the secret file".to_string());
            }
        }
        println!("race: {opened} opened, {refused_n} refused");
        report(
            "directory swapped for a symlink never yields the secret",
            if leaks.is_empty() {
                Ok(())
            } else {
                Err(format!("{} leaks, first: {}", leaks.len(), leaks[0]))
            },
        );
    }

    fn threads(c: Client, root: &Path) {
        let c = Arc::new(c);
        let hello = root.join("pub/hello.txt");
        let secret = root.join("secret/data");
        let link = root.join("pub/rel_link");
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let (c, hello, secret, link) =
                    (Arc::clone(&c), hello.clone(), secret.clone(), link.clone());
                thread::spawn(move || -> Result<u32, String> {
                    let mut n = 0;
                    for _ in 0..100 {
                        read_eq(c.open(&hello, libc::O_RDONLY, 0), HELLO)?;
                        expect_err(c.open(&secret, libc::O_RDONLY, 0), HIDDEN)?;
                        match c.stat(&hello, FollowSymlinks::Yes) {
                            Ok(st) if st.size == HELLO.len() as i64 => {}
                            other => return Err(format!("stat {other:?}")),
                        }
                        match c.readlink(&link) {
                            Ok(t) if t.as_os_str() == "../secret/data" => {}
                            other => return Err(format!("readlink {other:?}")),
                        }
                        n += 4;
                    }
                    Ok(n)
                })
            })
            .collect();
        let mut results = BTreeMap::new();
        for (i, w) in workers.into_iter().enumerate() {
            results.insert(
                i,
                w.join()
                    .map_err(|_| "thread panicked".to_string())
                    .and_then(|r| r),
            );
        }
        let failures: Vec<String> = results
            .iter()
            .filter_map(|(i, r)| r.as_ref().err().map(|e| format!("thread {i}: {e}")))
            .collect();
        report(
            "8 threads share one Client, every reply matches its request",
            if failures.is_empty() {
                Ok(())
            } else {
                Err(failures.join("; "))
            },
        );
    }
}
