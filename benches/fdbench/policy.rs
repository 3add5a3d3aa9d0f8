//! The `policy` section: the cost of one decision with 10 and with 10,000
//! rules.

use super::*;

/// `n` generated rules: exact files (40%), recursive directories (30%),
/// globs in a literal directory (20%), and deny rules carving a directory out
/// of a recursive one (10%). Rule i of a small policy is rule i of a big one.
pub(crate) fn generated_rules(n: usize) -> String {
    let mut t = String::new();
    for i in 0..n {
        let (kind, path) = match i % 10 {
            0..=3 => ("allow", format!("/srv/fdbench/exact/d{}/f{i}.txt", i / 100)),
            4..=6 => ("allow", format!("/srv/fdbench/tree{i}/**")),
            7 | 8 => ("allow", format!("/srv/fdbench/logs{i}/*.log")),
            _ => ("deny", format!("/srv/fdbench/tree{}/secret/**", i - 5)),
        };
        let access = if kind == "allow" {
            "access = [\"read\"]\n"
        } else {
            ""
        };
        let _ = write!(t, "[[{kind}]]\npaths = [\"{path}\"]\n{access}\n");
    }
    t
}

pub(crate) fn policy(env: &Env) {
    // Paths every generated policy decides the same way.
    let probes: [(&str, &str, bool); 5] = [
        ("exact file", "/srv/fdbench/exact/d0/f0.txt", true),
        ("recursive directory", "/srv/fdbench/tree4/a/b/c.txt", true),
        ("glob in a directory", "/srv/fdbench/logs7/x.log", true),
        ("deny rule", "/srv/fdbench/tree4/secret/key", false),
        (
            "no rule (default deny)",
            "/srv/fdbench/other/file.txt",
            false,
        ),
    ];
    let sizes = [10usize, 10_000];
    let mut compiled = Vec::new();
    for &n in &sizes {
        let text = format!("version = 1\n\n{}", generated_rules(n));
        let t = Instant::now();
        let policy = Policy::parse(&text, Path::new("generated.toml")).expect("generated policy");
        let ms = t.elapsed().as_secs_f64() * 1e3;
        for (_, path, allowed) in probes {
            assert_eq!(
                policy.decide(Path::new(path), Access::READ).allowed,
                allowed,
                "{path}"
            );
        }
        compiled.push((policy, ms));
    }
    let iters = (env.ops * 4).max(20_000);
    let mut ns: BTreeMap<(usize, usize), Samples> = BTreeMap::new();
    for _ in 0..env.repeat {
        for (si, (policy, _)) in compiled.iter().enumerate() {
            for (pi, (_, path, _)) in probes.iter().enumerate() {
                let path = Path::new(path);
                let t = Instant::now();
                for _ in 0..iters {
                    std::hint::black_box(policy.decide(std::hint::black_box(path), Access::READ));
                }
                ns.entry((si, pi))
                    .or_default()
                    .push(t.elapsed().as_nanos() as f64 / iters as f64);
            }
        }
    }
    println!("\n## Policy decision\n");
    println!(
        "`Policy::decide` in process, nanoseconds per decision (median of {} × {iters}). \
         Compiling the policy took {:.1} ms (10 rules) and {:.0} ms (10,000 rules).\n",
        env.repeat, compiled[0].1, compiled[1].1
    );
    println!(
        "| path decided by | 10 rules | 10,000 rules | ratio (target ≤ 2) |\n|---|---:|---:|---:|"
    );
    let mut worst: f64 = 0.0;
    for (pi, (label, _, _)) in probes.iter().enumerate() {
        let small = ns[&(0, pi)].median();
        let big = ns[&(1, pi)].median();
        worst = worst.max(big / small);
        println!("| {label} | {small:.0} | {big:.0} | {:.2} |", big / small);
    }
    println!("\nWorst ratio: {worst:.2}.");

    // The same through the whole stack.
    let mut end_to_end: BTreeMap<(&str, usize), Samples> = BTreeMap::new();
    let n = (env.ops / 2).to_string();
    let file = env.file();
    for _ in 0..env.repeat {
        for (pi, policy) in [&env.policy, &env.policy_10k].into_iter().enumerate() {
            let mut run = run_cmd(env, policy, -1, |c| {
                c.arg(&env.helper).args(["native", &file, &n]);
            });
            if let Some(o) = run_result(&mut run) {
                end_to_end
                    .entry(("`fdbroker run`", pi))
                    .or_default()
                    .push(o.ns_per_op());
            }
            let mut sock = command(std::env::current_exe().expect("current_exe"));
            sock.env(roles::ROLE, "broker")
                .env(roles::POLICY, policy)
                .env(roles::CPU, "-1")
                .env(roles::CHILDREN, "1")
                .env(
                    roles::CMD,
                    [
                        env.helper.display().to_string(),
                        "proto".into(),
                        file.clone(),
                        n.clone(),
                    ]
                    .join("\n"),
                );
            if let Some(o) = run_result(&mut sock) {
                end_to_end
                    .entry(("socketpair", pi))
                    .or_default()
                    .push(o.ns_per_op());
            }
        }
    }
    println!(
        "\nWhole round trip with the bench policy (runtime profile + 1 rule) and with 10,000 more rules, ns per open:\n"
    );
    println!("| mode | small policy | + 10,000 rules | ratio |\n|---|---:|---:|---:|");
    for mode in ["`fdbroker run`", "socketpair"] {
        if let (Some(a), Some(b)) = (end_to_end.get(&(mode, 0)), end_to_end.get(&(mode, 1))) {
            println!(
                "| {mode} | {:.0} | {:.0} | {:.2} |",
                a.median(),
                b.median(),
                b.median() / a.median()
            );
        }
    }
    let _ = std::io::stdout().flush();
}
