//! The bench binary re-executed in a role (`FDBENCH_ROLE`): the socketpair
//! broker (fdbroker's own `Broker`, one thread per child, as a separate
//! process so that its CPU time and peak RSS are its own), and a child using
//! fdbroker's Rust `Client`.

use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use fdbroker::broker::Broker;
use fdbroker::client::Client;
use fdbroker::launch;
use fdbroker::policy::Policy;
use nix::sys::resource::{UsageWho, getrusage};

use crate::{pin, vm_hwm_kib};

/// Environment of the broker role.
pub const ROLE: &str = "FDBENCH_ROLE";
pub const POLICY: &str = "FDBENCH_POLICY";
pub const CPU: &str = "FDBENCH_CPU";
pub const CHILDREN: &str = "FDBENCH_CHILDREN";
/// The children's command line, one argument per line.
pub const CMD: &str = "FDBENCH_CMD";
/// CLOCK_MONOTONIC ns at which the children start measuring (scale runs):
/// the broker's CPU time is counted from then.
pub const START_NS: &str = "FDBENCH_START_NS";
/// The fdbench helper, to read CLOCK_MONOTONIC.
pub const HELPER: &str = "FDBENCH_HELPER";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} not set"))
}

/// Runs the role named in `FDBENCH_ROLE`, if any; returns false when none.
pub fn run_role() -> bool {
    match std::env::var(ROLE).as_deref() {
        Ok("broker") => broker(),
        Ok("rclient") => rclient(),
        Ok(other) => panic!("unknown role {other}"),
        Err(_) => return false,
    }
    true
}

/// Serves `FDBENCH_CHILDREN` copies of `FDBENCH_CMD`, each on its own
/// socketpair, then prints `BROKER cpu_us=.. hwm_kib=..`.
fn broker() {
    pin(env(CPU).parse().expect("cpu"));
    let policy = Policy::from_file(Path::new(&env(POLICY))).expect("policy");
    let broker = Broker::new(Arc::new(policy)).expect("broker");
    let argv: Vec<String> = env(CMD).lines().map(str::to_owned).collect();
    let count: usize = env(CHILDREN).parse().expect("children");
    let mut children = Vec::new();
    let mut serving = Vec::new();
    for _ in 0..count {
        let (child, conn): (_, OwnedFd) =
            launch::spawn(Command::new(&argv[0]).args(&argv[1..])).expect("spawn child");
        serving.push(broker.spawn(conn, Some(child.id())).expect("serve"));
        children.push(child);
    }
    // Count CPU time from the start of the measured window, when there is one.
    if let Ok(start) = std::env::var(START_NS) {
        let start: u64 = start.parse().expect("start");
        let now = crate::monotonic_ns(Path::new(&env(HELPER)));
        if start > now {
            std::thread::sleep(std::time::Duration::from_nanos(start - now));
        }
    }
    let before = cpu_us();
    let user_before = user_us();
    let mut failed = 0;
    for mut c in children {
        if !c.wait().map(|s| s.success()).unwrap_or(false) {
            failed += 1;
        }
    }
    for s in serving {
        if !matches!(s.join(), Ok(Ok(_))) {
            failed += 1;
        }
    }
    let after = cpu_us();
    println!(
        "BROKER cpu_us={} user_us={} hwm_kib={} failed={failed}",
        after - before,
        user_us() - user_before,
        vm_hwm_kib("self").unwrap_or(0)
    );
}

fn us(t: nix::sys::time::TimeVal) -> u64 {
    t.tv_sec() as u64 * 1_000_000 + t.tv_usec() as u64
}

/// User + system CPU time of this process so far.
fn cpu_us() -> u64 {
    let u = getrusage(UsageWho::RUSAGE_SELF).expect("getrusage");
    us(u.user_time()) + us(u.system_time())
}

/// User CPU time of this process so far.
fn user_us() -> u64 {
    us(getrusage(UsageWho::RUSAGE_SELF)
        .expect("getrusage")
        .user_time())
}

/// fdbroker's Rust client in a loop: `RESULT` like fdbench.c's `proto` mode.
/// Arguments (in `FDBENCH_CMD` of the broker): PATH N CPU.
fn rclient() {
    let args: Vec<String> = std::env::args().collect();
    let n = args.len();
    let (path, count, cpu) = (&args[n - 3], &args[n - 2], &args[n - 1]);
    let count: u64 = count.parse().expect("count");
    pin(cpu.parse().expect("cpu"));
    let client = Client::from_env().expect("client");
    let once = || {
        client
            .open(path, libc::O_RDONLY | libc::O_CLOEXEC, 0)
            .is_ok()
    };
    for _ in 0..crate::WARMUP {
        assert!(once(), "open {path} through the broker");
    }
    let mut errors = 0;
    let t0 = Instant::now();
    for _ in 0..count {
        errors += u64::from(!once());
    }
    let ns = t0.elapsed().as_nanos();
    println!("RESULT ops={count} errors={errors} ns={ns}");
}
