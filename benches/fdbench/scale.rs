//! The `scale` section: many children of one sandbox (or of one socketpair
//! broker) opening at once; throughput, latency and the broker's memory.

use super::*;

#[derive(Clone, Copy)]
enum Mode {
    Run,
    Socket,
}

struct ScaleResult {
    outcome: Outcome,
    broker_cpu_us: u64,
    broker_hwm_kib: u64,
    ok: bool,
}

/// One scale run; `pinned`: the broker and the children all on CPU 0.
fn scale_once(env: &Env, mode: Mode, procs: usize, threads: usize, pinned: bool) -> ScaleResult {
    let margin = 500_000_000 + 10_000_000 * procs as u64;
    let start = monotonic_ns(&env.helper) + margin;
    let end = start + env.scale_ms * 1_000_000;
    let file = env.file();
    let (s, e) = (start.to_string(), end.to_string());
    let (p, t) = (procs.to_string(), threads.to_string());
    let cpu = if pinned { "0" } else { "-1" };
    match mode {
        Mode::Run => {
            let mut cmd = run_cmd(env, &env.policy, if pinned { 0 } else { -1 }, |c| {
                c.arg(&env.helper).args([
                    "scale",
                    &file,
                    "--procs",
                    &p,
                    "--threads",
                    &t,
                    "--start-ns",
                    &s,
                    "--end-ns",
                    &e,
                    "--hold",
                ]);
            });
            cmd.stdin(Stdio::piped());
            let mut w = Watched::spawn(&mut cmd);
            let pid = w.child.id();
            let mut before = None;
            let mut outcome = None;
            let mut after = (0, 0);
            while let Some(line) = w.line() {
                if line == "READY" {
                    before = proc_cpu_us(pid);
                } else if let Some(o) = Outcome::parse(&line) {
                    after = (
                        proc_cpu_us(pid).unwrap_or(0),
                        vm_hwm_kib(&pid.to_string()).unwrap_or(0),
                    );
                    outcome = Some(o);
                    drop(w.child.stdin.take()); // lets the helper exit
                }
            }
            let ok = w.finish();
            let outcome = outcome.unwrap_or_default();
            ScaleResult {
                ok: ok && outcome.errors == 0 && outcome.workers_failed == 0 && outcome.ops > 0,
                broker_cpu_us: after.0.saturating_sub(before.unwrap_or(after.0)),
                broker_hwm_kib: after.1,
                outcome,
            }
        }
        Mode::Socket => {
            let out = env.dir.join(format!("scale-{start}"));
            std::fs::create_dir_all(&out).expect("out dir");
            let child = [
                env.helper.display().to_string(),
                "scale".into(),
                file,
                "--via".into(),
                "proto".into(),
                "--procs".into(),
                "1".into(),
                "--threads".into(),
                t,
                "--start-ns".into(),
                s.clone(),
                "--end-ns".into(),
                e,
                "--out".into(),
                out.display().to_string(),
            ];
            let mut cmd = command(std::env::current_exe().expect("current_exe"));
            cmd.env(roles::ROLE, "broker")
                .env(roles::POLICY, &env.policy)
                .env(roles::CPU, cpu)
                .env(roles::CHILDREN, p)
                .env(roles::CMD, child.join("\n"))
                .env(roles::START_NS, s)
                .env(roles::HELPER, &env.helper);
            let mut w = Watched::spawn(&mut cmd);
            let mut broker = (0, 0, 1);
            while let Some(line) = w.line() {
                if let Some(rest) = line.strip_prefix("BROKER ") {
                    let field = |k: &str| {
                        rest.split(' ')
                            .find_map(|f| f.strip_prefix(k))
                            .and_then(|v| v.parse::<u64>().ok())
                            .unwrap_or(0)
                    };
                    broker = (field("cpu_us="), field("hwm_kib="), field("failed="));
                }
            }
            let ok = w.finish();
            let mut outcome = Outcome::default();
            let mut files = 0;
            for f in std::fs::read_dir(&out).into_iter().flatten().flatten() {
                let text = std::fs::read_to_string(f.path()).unwrap_or_default();
                if let Some(o) = text.lines().find_map(Outcome::parse) {
                    outcome.merge(&o);
                    files += 1;
                }
            }
            let _ = std::fs::remove_dir_all(&out);
            outcome.workers_failed += (procs - files.min(procs)) as u64 + broker.2;
            ScaleResult {
                ok: ok && outcome.errors == 0 && outcome.workers_failed == 0 && outcome.ops > 0,
                broker_cpu_us: broker.0,
                broker_hwm_kib: broker.1,
                outcome,
            }
        }
    }
}

pub(crate) fn scale(env: &Env) {
    // (mode, label, children, threads, all on one CPU)
    let configs: [(Mode, &str, usize, usize, bool); 10] = [
        (Mode::Run, "`fdbroker run`", 1, 1, true),
        (Mode::Run, "`fdbroker run`", 1, 1, false),
        (Mode::Run, "`fdbroker run`", 8, 1, false),
        (Mode::Run, "`fdbroker run`", 64, 1, false),
        (Mode::Run, "`fdbroker run`", 1, 8, false),
        (Mode::Socket, "socketpair", 1, 1, true),
        (Mode::Socket, "socketpair", 1, 1, false),
        (Mode::Socket, "socketpair", 8, 1, false),
        (Mode::Socket, "socketpair", 64, 1, false),
        (Mode::Socket, "socketpair", 1, 8, false),
    ];
    let rounds = env.repeat.min(3);
    let mut results: Vec<Vec<ScaleResult>> = configs.iter().map(|_| Vec::new()).collect();
    for _ in 0..rounds {
        for (i, &(mode, _, procs, threads, pinned)) in configs.iter().enumerate() {
            results[i].push(scale_once(env, mode, procs, threads, pinned));
        }
    }
    println!("\n## Scale\n");
    println!(
        "One broker, children opening `{}` in a loop for {} ms; the run with the median throughput of {rounds}. \
         \"one CPU\": the broker and the child pinned to CPU 0 together, the throughput of one core. \
         Latency is per open + close, seen by the child. Broker CPU is user + system time of the broker process \
         during the run, per open.\n",
        env.file(),
        env.scale_ms
    );
    println!(
        "| mode | children × threads | opens/s | p50 µs | p99 µs | failed | broker CPU µs/open | broker peak RSS MiB |\n\
         |---|---|---:|---:|---:|---:|---:|---:|"
    );
    let mut medians: Vec<Option<(f64, &ScaleResult)>> = Vec::new();
    for (i, &(_, label, procs, threads, pinned)) in configs.iter().enumerate() {
        let mut runs: Vec<&ScaleResult> = results[i].iter().collect();
        runs.sort_by(|a, b| throughput(a).total_cmp(&throughput(b)));
        let all_ok = runs.iter().all(|r| r.ok);
        let Some(r) = runs.get(runs.len() / 2).copied() else {
            medians.push(None);
            continue;
        };
        let o = &r.outcome;
        let failed = runs
            .iter()
            .map(|r| r.outcome.errors + r.outcome.workers_failed)
            .sum::<u64>();
        println!(
            "| {label} | {procs} × {threads}{} | {:.0} | {:.1} | {:.1} | {}{} | {:.2} | {:.1} |",
            if pinned { ", one CPU" } else { "" },
            throughput(r),
            o.quantile(0.5) / 1000.0,
            o.quantile(0.99) / 1000.0,
            failed,
            if all_ok { "" } else { " (run failed)" },
            r.broker_cpu_us as f64 / o.ops.max(1) as f64,
            r.broker_hwm_kib as f64 / 1024.0
        );
        medians.push(Some((throughput(r), r)));
    }
    let cores = env.cpus as f64;
    for (one_cpu, one, many, label) in [(0, 1, 3, "`fdbroker run`"), (5, 6, 8, "socketpair")] {
        if let (Some((core, _)), Some((t1, _)), Some((t64, r64))) =
            (&medians[one_cpu], &medians[one], &medians[many])
        {
            println!(
                "\n- {label}, 64 children: {:.2} × (one child on one CPU × {cores} cores) (target ≥ 0.80); \
                 {:.2} × (one unpinned child × {cores}); failed or lost requests: {}; broker peak RSS {:.1} MiB (target < 16)",
                t64 / (core * cores),
                t64 / (t1 * cores),
                r64.outcome.errors + r64.outcome.workers_failed,
                r64.broker_hwm_kib as f64 / 1024.0
            );
        }
        // The later target: N children on C cores get at least half of one
        // pinned child's throughput per core they can use, and never less
        // than one child alone.
        for (index, children) in [(many - 1, 8.0_f64), (many, 64.0)] {
            if let (Some((core, _)), Some((t1, _)), Some((tn, _))) =
                (&medians[one_cpu], &medians[one], &medians[index])
            {
                let want = 0.5 * core * children.min(cores);
                println!(
                    "- {label}, {children} children: {:.2} of 0.5 × one child on one CPU × min({children}, {cores}) \
                     (target ≥ 1.0); {:.2} × one unpinned child (target ≥ 1.0)",
                    tn / want,
                    tn / t1
                );
            }
        }
    }
}

fn throughput(r: &ScaleResult) -> f64 {
    r.outcome.ops as f64 / (r.outcome.ns.max(1) as f64 / 1e9)
}
