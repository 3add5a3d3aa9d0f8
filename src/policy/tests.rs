//! Decision tests, and property tests of the matcher against a reference model.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use proptest::prelude::*;

use super::*;

fn policy(text: &str) -> Policy {
    Policy::parse(text, Path::new("t.toml")).unwrap_or_else(|e| panic!("{e}"))
}

fn reason(p: &Policy, path: &str, access: Access) -> String {
    p.decide(Path::new(path), access).reason()
}

const PARSER: &str = r#"version = 1

[[allow]]
paths  = ["/srv/in/**"]
access = ["read"]

[[deny]]
paths  = ["/srv/in/private/**"]

[[allow]]
paths  = ["/srv/out/**"]
access = ["write", "create"]

[[allow]]
paths  = ["/srv/out/**", "/srv/both"]
access = ["read", "write"]

[[deny]]
paths  = ["/srv/out/log"]
access = ["write"]
"#;

#[test]
fn deny_beats_allow_and_default_is_deny() {
    let p = policy(PARSER);
    assert_eq!(reason(&p, "/srv/in/a", Access::READ), "allowed by t.toml:3");
    assert_eq!(reason(&p, "/srv/in", Access::READ), "allowed by t.toml:3");
    assert_eq!(
        reason(&p, "/srv/in/private", Access::READ),
        "denied by t.toml:7"
    );
    assert_eq!(
        reason(&p, "/srv/in/private/x/y", Access::STAT),
        "denied by t.toml:7"
    );
    assert_eq!(reason(&p, "/srv/in/a", Access::WRITE), "no rule allows it");
    assert_eq!(reason(&p, "/srv/inx", Access::READ), "no rule allows it");
    assert_eq!(reason(&p, "/etc/passwd", Access::READ), "no rule allows it");
    assert!(!p.decide(Path::new("/etc/passwd"), Access::READ).allowed);
}

#[test]
fn any_right_implies_stat() {
    let p = policy(PARSER);
    assert_eq!(reason(&p, "/srv/in/a", Access::STAT), "allowed by t.toml:3");
    assert_eq!(
        reason(&p, "/srv/out/a", Access::STAT),
        "allowed by t.toml:10"
    );
    assert_eq!(
        reason(&p, "/srv/in/a", Access::READ | Access::STAT),
        "allowed by t.toml:3"
    );
}

#[test]
fn rights_combine_across_rules_and_the_best_rule_decides() {
    let p = policy(PARSER);
    // Line 10 grants write+create, line 14 read+write: together all three.
    let all = Access::READ | Access::WRITE | Access::CREATE;
    assert_eq!(reason(&p, "/srv/out/f", all), "allowed by t.toml:10");
    // Line 14 alone grants read+write: it decides, though line 10 comes first.
    assert_eq!(
        reason(&p, "/srv/out/f", Access::READ | Access::WRITE),
        "allowed by t.toml:14"
    );
    assert_eq!(
        reason(&p, "/srv/out/f", Access::CREATE),
        "allowed by t.toml:10"
    );
    assert_eq!(reason(&p, "/srv/out/f", Access::EXEC), "no rule allows it");
    assert_eq!(
        reason(&p, "/srv/out/f", Access::READ | Access::EXEC),
        "no rule allows it"
    );
}

#[test]
fn deny_with_access_only_takes_those_rights() {
    let p = policy(PARSER);
    assert_eq!(
        reason(&p, "/srv/out/log", Access::WRITE),
        "denied by t.toml:18"
    );
    assert_eq!(
        reason(&p, "/srv/out/log", Access::READ | Access::WRITE),
        "denied by t.toml:18"
    );
    assert_eq!(
        reason(&p, "/srv/out/log", Access::READ),
        "allowed by t.toml:14"
    );
    assert_eq!(
        reason(&p, "/srv/out/log", Access::CREATE),
        "allowed by t.toml:10"
    );
}

#[test]
fn deny_stat_takes_every_right() {
    let p = policy(
        "version = 1\n[[allow]]\npaths = [\"/a/**\"]\naccess = [\"read\", \"write\"]\n\
         [[deny]]\npaths = [\"/a/hidden\"]\naccess = [\"stat\"]\n\
         [[deny]]\npaths = [\"/a/nolist\"]\naccess = [\"read\"]\n",
    );
    for (_, a) in Access::NAMES {
        assert_eq!(reason(&p, "/a/hidden", a), "denied by t.toml:5", "{a}");
    }
    // Denying read leaves the stat that write implies.
    assert_eq!(reason(&p, "/a/nolist", Access::READ), "denied by t.toml:8");
    assert_eq!(reason(&p, "/a/nolist", Access::STAT), "allowed by t.toml:2");
    assert_eq!(
        reason(&p, "/a/nolist", Access::WRITE),
        "allowed by t.toml:2"
    );
}

#[test]
fn first_deny_rule_decides() {
    let p = policy(
        "version = 1\n[[deny]]\npaths = [\"/a/b\"]\naccess = [\"write\"]\n\
         [[deny]]\npaths = [\"/a/**\"]\n[[deny]]\npaths = [\"/a/b\"]\n",
    );
    assert_eq!(reason(&p, "/a/b", Access::READ), "denied by t.toml:5");
    assert_eq!(reason(&p, "/a/b", Access::WRITE), "denied by t.toml:2");
}

#[test]
fn odd_requests_are_denied() {
    let p = policy("version = 1\n[[allow]]\npaths = [\"/**\"]\naccess = [\"read\"]\n");
    assert!(p.decide(Path::new("/x"), Access::READ).allowed);
    assert!(p.decide(Path::new("/"), Access::READ).allowed);
    for bad in [
        "", "x", "x/y", "/x/", "//x", "/x/../y", "/x/./y", "/x/..", "/x//y",
    ] {
        let d = p.decide(Path::new(bad), Access::READ);
        assert_eq!(d, Decision::default_deny(), "{bad:?}");
    }
    assert_eq!(
        p.decide(Path::new("/x"), Access::empty()),
        Decision::default_deny()
    );
    let nul = Path::new(OsStr::from_bytes(b"/x\0y"));
    assert_eq!(p.decide(nul, Access::READ), Decision::default_deny());
}

#[test]
fn non_utf8_paths_are_matched_bytewise() {
    let p = policy(PARSER);
    let denied = Path::new(OsStr::from_bytes(b"/srv/in/private/\xff\xfe"));
    assert_eq!(
        p.decide(denied, Access::READ).reason(),
        "denied by t.toml:7"
    );
    let ok = Path::new(OsStr::from_bytes(b"/srv/in/\xff/x\ny"));
    assert_eq!(p.decide(ok, Access::READ).reason(), "allowed by t.toml:3");
}

#[test]
fn judge_is_decide() {
    let p = policy(PARSER);
    let j: &dyn Judge = &p;
    for path in ["/srv/in/a", "/srv/in/private/a", "/srv/out/log", "/nope"] {
        for (_, a) in Access::NAMES {
            assert_eq!(j.decide(Path::new(path), a), p.decide(Path::new(path), a));
        }
    }
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Policy>();
}

#[test]
fn rules_keep_file_order_and_contents() {
    let p = policy(PARSER);
    let lines: Vec<(RuleKind, u32)> = p.rules().map(|r| (r.kind(), r.origin().line)).collect();
    assert_eq!(
        lines,
        [
            (RuleKind::Allow, 3),
            (RuleKind::Deny, 7),
            (RuleKind::Allow, 10),
            (RuleKind::Allow, 14),
            (RuleKind::Deny, 18),
        ]
    );
    let r = p.rules().nth(3).unwrap();
    assert_eq!(r.patterns(), ["/srv/out/**", "/srv/both"]);
    assert_eq!(r.access(), Access::READ | Access::WRITE);
    assert_eq!(p.rules().nth(1).unwrap().access(), Access::all());
    assert_eq!(p.files(), [Path::new("t.toml")]);
    assert!(!p.network());
}

#[test]
fn builtin_runtime_profile_loads_and_grants_what_programs_need() {
    let p = policy("version = 1\nprofiles = [\"runtime\"]\n");
    assert_eq!(p.profiles(), ["runtime"]);
    assert!(!p.network());
    let allowed = |path: &str, a: Access| p.decide(Path::new(path), a).allowed;
    assert!(allowed("/etc/ld.so.cache", Access::READ));
    assert!(allowed("/usr/lib/x86_64-linux-gnu/libc.so.6", Access::READ));
    assert!(allowed(
        "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        Access::EXEC
    ));
    assert!(!allowed(
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        Access::EXEC
    ));
    assert!(allowed("/usr/lib/locale/C.utf8/LC_CTYPE", Access::READ));
    assert!(allowed("/usr/share/zoneinfo/Etc/UTC", Access::READ));
    assert!(allowed("/dev/null", Access::WRITE));
    assert!(!allowed("/dev/urandom", Access::WRITE));
    assert!(allowed("/proc/self/maps", Access::READ));
    assert!(!allowed("/proc/self/mem", Access::WRITE));
    assert!(!allowed("/proc/1/maps", Access::READ));
    assert!(allowed("/usr", Access::STAT));
    assert!(!allowed("/usr", Access::READ));
    assert!(!allowed("/etc/passwd", Access::READ));
    assert!(!allowed("/etc/shadow", Access::STAT));
    assert!(!allowed("/usr/lib/x", Access::WRITE));
    let d = p.decide(Path::new("/dev/null"), Access::READ);
    assert_eq!(
        d.rule.unwrap().file.as_ref(),
        Path::new("<profile:runtime>")
    );
    // Host-wide views under /proc/self are not the program's own.
    for host_wide in [
        "/proc/self/net/unix",
        "/proc/self/net/tcp",
        "/proc/self/mountinfo",
        "/proc/self/mounts",
        "/proc/self/mountstats",
        "/proc/self/cgroup",
        "/proc/self/ns/net",
        "/proc/self/uid_map",
        "/proc/self/pagemap",
        "/proc/self/stack",
        "/proc/self/mem",
        "/proc/self/environ",
        "/proc/self/root",
    ] {
        assert!(!allowed(host_wide, Access::READ), "{host_wide}");
    }
    for own in [
        "/proc/self",
        "/proc/self/status",
        "/proc/self/stat",
        "/proc/self/statm",
        "/proc/self/smaps_rollup",
        "/proc/self/cmdline",
        "/proc/self/comm",
        "/proc/self/auxv",
        "/proc/self/limits",
        "/proc/self/exe",
        "/proc/self/cwd",
        "/proc/self/fd",
        "/proc/self/fd/3",
        "/proc/self/fdinfo/3",
        "/proc/self/attr/current",
        "/proc/self/task",
    ] {
        assert!(allowed(own, Access::READ), "{own}");
    }
}

/// What only a built-in profile grants is decided by the profile's rule
/// (the broker then opens it with the program's credentials); what the
/// policy's own rules grant by themselves, by theirs.
#[test]
fn profile_rules_decide_what_only_they_grant() {
    let p = Policy::parse(
        "version = 1\nprofiles = [\"runtime\"]\n\
         [[allow]]\npaths = [\"/usr/lib/own/**\"]\naccess = [\"read\"]\n\
         [[allow]]\npaths = [\"/usr/lib/w/**\"]\naccess = [\"write\"]\n",
        Path::new("p.toml"),
    )
    .unwrap();
    let by_profile = |path: &str, a: Access| {
        let d = p.decide(Path::new(path), a);
        assert!(d.allowed, "{path}");
        d.rule.unwrap().is_builtin_profile()
    };
    assert!(by_profile("/usr/lib/x/libc.so.6", Access::READ));
    assert!(!by_profile("/usr/lib/own/a", Access::READ));
    assert!(!by_profile("/usr/lib/w/a", Access::WRITE));
    // Read needs the profile even though the file's own rule grants write.
    assert!(by_profile("/usr/lib/w/a", Access::READ | Access::WRITE));
    assert!(by_profile("/usr/lib/w/a", Access::READ));
    let own = p.decide(Path::new("/usr/lib/own/a"), Access::READ);
    assert_eq!(own.rule.unwrap().file.as_ref(), Path::new("p.toml"));
    // Only the name of a profile compiled in marks a rule as one.
    let named = Policy::parse(
        "version = 1\n[[allow]]\npaths = [\"/a\"]\naccess = [\"read\"]\n",
        Path::new("<profile:not-built-in>"),
    )
    .unwrap();
    let d = named.decide(Path::new("/a"), Access::READ);
    assert!(!d.rule.unwrap().is_builtin_profile());
}

#[test]
fn every_builtin_profile_is_valid() {
    for (name, text) in builtin_profiles() {
        let origin = format!("<profile:{name}>");
        Policy::parse(text, Path::new(&origin)).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn variables_expand_and_errors_are_located() {
    let vars = PolicyVars::none()
        .home("/home/ann")
        .tmpdir("/tmp/run.1")
        .cwd("/srv/work")
        .source("this run");
    let text = "version = 1\n[[allow]]\npaths = [\"${TMPDIR}/**\", \"/srv/a\", \"${HOME}/.cfg\", \"${CWD}/in/*\"]\naccess = [\"read\"]\n";
    let p = Policy::parse_with(text, Path::new("t.toml"), &vars).unwrap();
    let r = p.rules().next().unwrap();
    assert_eq!(
        r.patterns(),
        [
            "/tmp/run.1/**",
            "/srv/a",
            "/home/ann/.cfg",
            "/srv/work/in/*"
        ]
    );
    let written: Vec<&str> = (0..4).filter_map(|i| r.written(i)).collect();
    assert_eq!(
        written,
        ["${TMPDIR}/**", "/srv/a", "${HOME}/.cfg", "${CWD}/in/*"]
    );
    assert_eq!(
        (0..4).map(|i| r.uses_variable(i)).collect::<Vec<_>>(),
        [true, false, true, true]
    );
    assert_eq!(r.written(4), None);
    assert!(p.decide(Path::new("/tmp/run.1/x/y"), Access::READ).allowed);
    assert!(p.decide(Path::new("/srv/work/in/a"), Access::READ).allowed);
    assert!(!p.decide(Path::new("/tmp/run.2/x"), Access::READ).allowed);

    let err = |pattern: &str, vars: &PolicyVars| {
        let text =
            format!("version = 1\n[[allow]]\npaths = [\"{pattern}\"]\naccess = [\"read\"]\n");
        Policy::parse_with(&text, Path::new("t.toml"), vars)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err("${TEMP}/x", &vars),
        "t.toml:3:11: bad pattern `${TEMP}/x`: unknown variable `${TEMP}`; patterns know `${HOME}`, `${TMPDIR}` or `${CWD}`"
    );
    assert_eq!(
        err("${HOME", &vars),
        "t.toml:3:11: bad pattern `${HOME`: unterminated variable `${HOME`: write `${HOME}`, `${TMPDIR}` or `${CWD}`"
    );
    assert_eq!(
        err("/srv/${HOME}", &vars),
        "t.toml:3:16: bad pattern `/srv/${HOME}`: a variable can only begin a pattern (`${HOME}/...`); write `\\$` for a literal `$`"
    );
    // An error after the variable points into the pattern as written.
    assert_eq!(
        err("${HOME}/a//b", &vars),
        "t.toml:3:21: bad pattern `${HOME}/a//b`: a pattern must not contain `//`"
    );
    assert_eq!(
        err("${HOME}/x", &PolicyVars::none().source("HOME is not set")),
        "t.toml:3:11: bad pattern `${HOME}/x`: `${HOME}` has no value: HOME is not set"
    );
    assert_eq!(
        err(
            "${CWD}/x",
            &PolicyVars::none().cwd("srv").source("this run")
        ),
        "t.toml:3:11: bad pattern `${CWD}/x`: `${CWD}` is `srv` (this run), not an absolute, normalised path"
    );
    // Escaped, a `$` is literal.
    let p = Policy::parse_with(
        "version = 1\n[[allow]]\npaths = [\"/srv/\\\\${HOME}\"]\naccess = [\"read\"]\n",
        Path::new("t.toml"),
        &PolicyVars::none(),
    )
    .unwrap();
    assert!(p.decide(Path::new("/srv/${HOME}"), Access::READ).allowed);
}

#[test]
fn many_rules_compile() {
    let mut text = String::from("version = 1\n");
    for i in 0..2000 {
        text.push_str(&format!(
            "[[allow]]\npaths = [\"/srv/d{i}/**\", \"/srv/e{i}/*.txt\", \"/x/[ab]{i}/?\"]\naccess = [\"read\"]\n"
        ));
    }
    // Many patterns under one index key, and many with no key at all: chunked.
    for i in 0..600 {
        text.push_str(&format!(
            "[[allow]]\npaths = [\"/home/*/.cache/**/*.{i}\", \"/**/n{i}\"]\naccess = [\"stat\"]\n"
        ));
    }
    text.push_str("[[deny]]\npaths = [\"/srv/d7/secret\"]\n");
    let p = policy(&text);
    assert_eq!(p.rules().count(), 2601);
    assert_eq!(
        reason(&p, "/home/u/.cache/a/b.599", Access::STAT),
        "allowed by t.toml:7799"
    );
    assert_eq!(
        reason(&p, "/home/u/.cache/b.0", Access::STAT),
        "allowed by t.toml:6002"
    );
    assert_eq!(
        reason(&p, "/home/u/x/b.0", Access::STAT),
        "no rule allows it"
    );
    assert_eq!(
        reason(&p, "/a/b/n333", Access::STAT),
        "allowed by t.toml:7001"
    );
    assert_eq!(reason(&p, "/n0", Access::STAT), "allowed by t.toml:6002");
    assert!(p.decide(Path::new("/srv/d1999/a/b"), Access::READ).allowed);
    assert!(p.decide(Path::new("/srv/e5/a.txt"), Access::READ).allowed);
    assert!(p.decide(Path::new("/x/b17/z"), Access::READ).allowed);
    assert!(!p.decide(Path::new("/srv/d7/secret"), Access::READ).allowed);
    assert!(!p.decide(Path::new("/srv/e5/a.txt/b"), Access::READ).allowed);
}

// ---- Reference model ---------------------------------------------------------

/// A pattern element, as generated; rendered to policy syntax for the real matcher.
#[derive(Debug, Clone)]
enum PSeg {
    Lit(char),
    Star,
    Any,
    Class(bool, Vec<u8>),
}

#[derive(Debug, Clone)]
enum PComp {
    Rec,
    Segs(Vec<PSeg>),
}

fn render(pattern: &[PComp]) -> String {
    if pattern.is_empty() {
        return "/".into();
    }
    let mut s = String::new();
    for c in pattern {
        s.push('/');
        match c {
            PComp::Rec => s.push_str("**"),
            PComp::Segs(segs) => {
                for seg in segs {
                    match seg {
                        PSeg::Lit(c) if "*?[\\".contains(*c) => {
                            s.push('\\');
                            s.push(*c);
                        }
                        PSeg::Lit(c) => s.push(*c),
                        PSeg::Star => s.push('*'),
                        PSeg::Any => s.push('?'),
                        PSeg::Class(neg, set) => {
                            s.push('[');
                            if *neg {
                                s.push('!');
                            }
                            s.extend(set.iter().map(|&b| b as char));
                            s.push(']');
                        }
                    }
                }
            }
        }
    }
    s
}

fn model_segs(segs: &[PSeg], name: &[u8]) -> bool {
    match segs.split_first() {
        None => name.is_empty(),
        Some((PSeg::Lit(c), rest)) => {
            let mut buf = [0; 4];
            let lit = c.encode_utf8(&mut buf).as_bytes();
            name.starts_with(lit) && model_segs(rest, &name[lit.len()..])
        }
        Some((PSeg::Star, rest)) => (0..=name.len()).any(|k| model_segs(rest, &name[k..])),
        Some((PSeg::Any, rest)) => !name.is_empty() && model_segs(rest, &name[1..]),
        Some((PSeg::Class(neg, set), rest)) => {
            !name.is_empty() && (set.contains(&name[0]) != *neg) && model_segs(rest, &name[1..])
        }
    }
}

fn model(pattern: &[PComp], path: &[Vec<u8>]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((PComp::Rec, rest)) => (0..=path.len()).any(|k| model(rest, &path[k..])),
        Some((PComp::Segs(segs), rest)) => {
            !path.is_empty() && model_segs(segs, &path[0]) && model(rest, &path[1..])
        }
    }
}

fn path_bytes(components: &[Vec<u8>]) -> Vec<u8> {
    if components.is_empty() {
        return b"/".to_vec();
    }
    let mut out = Vec::new();
    for c in components {
        out.push(b'/');
        out.extend_from_slice(c);
    }
    out
}

fn seg() -> impl Strategy<Value = PSeg> {
    prop_oneof![
        4 => prop::sample::select(vec!['a', 'b', '.', 'é', '*', '-', '{', ',']).prop_map(PSeg::Lit),
        2 => Just(PSeg::Star),
        1 => Just(PSeg::Any),
        1 => (any::<bool>(), prop::sample::subsequence(vec![b'a', b'b', b'.', b'-'], 1..=3))
            .prop_map(|(neg, mut set)| {
                // `-` last keeps it literal (not a range).
                set.sort_by_key(|&b| b == b'-');
                PSeg::Class(neg, set)
            }),
    ]
}

fn component() -> impl Strategy<Value = PComp> {
    prop_oneof![
        1 => Just(PComp::Rec),
        4 => prop::collection::vec(seg(), 1..4).prop_map(|mut segs| {
            // `**` inside a component is not valid syntax: no adjacent stars.
            segs.dedup_by(|a, b| matches!((a, b), (PSeg::Star, PSeg::Star)));
            // `.` and `..` are not valid components.
            if segs.iter().all(|s| matches!(s, PSeg::Lit('.'))) && segs.len() <= 2 {
                segs.push(PSeg::Lit('a'));
            }
            PComp::Segs(segs)
        }),
    ]
}

fn pattern() -> impl Strategy<Value = Vec<PComp>> {
    prop::collection::vec(component(), 0..5)
}

fn path() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let byte = prop::sample::select(vec![b'a', b'b', b'.', b'-', b'*', b'\n', 0xc3, 0xa9, 0xff]);
    prop::collection::vec(
        prop::collection::vec(byte, 1..4).prop_filter("normalised", |c| c != b"." && c != b".."),
        0..6,
    )
}

fn access() -> impl Strategy<Value = Access> {
    (1u8..64).prop_map(Access::from_bits_truncate)
}

fn rights_list(a: Access) -> String {
    let names: Vec<String> = Access::NAMES
        .iter()
        .filter(|(_, r)| a.contains(*r))
        .map(|(n, _)| format!("\"{n}\""))
        .collect();
    names.join(", ")
}

fn toml_string(s: &str) -> String {
    format!("'{s}'")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The compiled matcher agrees with a direct component-wise matcher.
    #[test]
    fn matcher_agrees_with_model(pat in pattern(), paths in prop::collection::vec(path(), 1..8)) {
        let text = format!(
            "version = 1\n[[allow]]\npaths = [{}]\naccess = [\"read\"]\n",
            toml_string(&render(&pat))
        );
        let p = Policy::parse(&text, Path::new("m.toml")).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for path in &paths {
            let bytes = path_bytes(path);
            let got = p.decide(Path::new(OsStr::from_bytes(&bytes)), Access::READ).allowed;
            prop_assert_eq!(got, model(&pat, path), "pattern {} path {:?}", render(&pat), String::from_utf8_lossy(&bytes));
        }
    }

    /// Decide matches the reference decision, and never allows what a
    /// matching deny rule for a requested right forbids.
    #[test]
    fn decide_agrees_with_model(
        rules in prop::collection::vec((any::<bool>(), prop::collection::vec(pattern(), 1..3), access()), 1..6),
        path in path(),
        asked in access(),
    ) {
        let mut text = String::from("version = 1\n");
        for (deny, pats, a) in &rules {
            let list: Vec<String> = pats.iter().map(|p| toml_string(&render(p))).collect();
            text.push_str(&format!(
                "[[{}]]\npaths = [{}]\naccess = [{}]\n",
                if *deny { "deny" } else { "allow" },
                list.join(", "),
                rights_list(*a)
            ));
        }
        let p = Policy::parse(&text, Path::new("m.toml")).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let bytes = path_bytes(&path);
        let got = p.decide(Path::new(OsStr::from_bytes(&bytes)), asked);


        let path = &path;
        let matching = |deny: bool| rules.iter().enumerate().filter(move |(_, (d, pats, _))| {
            *d == deny && pats.iter().any(|pat| model(pat, path))
        });
        let takes = |a: &Access| if a.contains(Access::STAT) { Access::all() } else { *a };
        let first_deny = matching(true).find(|(_, (_, _, a))| takes(a).intersects(asked));
        if let Some((i, _)) = first_deny {
            prop_assert!(!got.allowed, "a deny rule matches {:?}:\n{}", String::from_utf8_lossy(&bytes), text);
            prop_assert_eq!(got.rule.map(|r| r.line), Some(2 + 3 * i as u32));
        } else {
            let granted = matching(false).fold(Access::empty(), |acc, (_, (_, _, a))| acc | a.granted());
            prop_assert_eq!(got.allowed, granted.contains(asked));
            if got.allowed {
                let best = matching(false).find(|(_, (_, _, a))| a.granted().contains(asked))
                    .or_else(|| matching(false).find(|(_, (_, _, a))| a.granted().intersects(asked)));
                prop_assert_eq!(got.rule.map(|r| r.line), best.map(|(i, _)| 2 + 3 * i as u32));
            } else {
                prop_assert_eq!(got.rule, None);
            }
        }
    }

    /// No input makes parsing panic.
    #[test]
    fn parse_never_panics(text in ".{0,200}") {
        let _ = Policy::parse(&text, Path::new("fuzz.toml"));
    }

    /// Nor does a mutated valid policy.
    #[test]
    fn parse_mutations_never_panic(pos in 0usize..400, insert in "[\\[\\]=\"'*?/.\\\\!^{}a-z0-9\\n -]{0,6}") {
        let base = "version = 1\nprofiles = [\"runtime\"]\nnetwork = false\n[[allow]]\npaths = [\"/srv/in/**\", \"/etc/ssl/certs/*.pem\", \"/x/[!a-c]?\"]\naccess = [\"read\"]\n[[deny]]\npaths = [\"/srv/in/private/**\"]\n";
        let mut at = pos.min(base.len());
        while !base.is_char_boundary(at) { at -= 1; }
        let text = format!("{}{}{}", &base[..at], insert, &base[at..]);
        if let Ok(p) = Policy::parse(&text, Path::new("fuzz.toml")) {
            let _ = p.decide(Path::new("/srv/in/x"), Access::READ);
        }
    }
}
