//! The policy parser and matcher (`Policy::parse`, `Policy::decide`).
//!
//! Input: policy text, optionally followed by a NUL byte and a path to judge.
//! Properties: parsing and deciding never panic; a path that is not absolute
//! and normalised is never allowed; and once a `[[deny]] paths = ["/**"]`
//! rule is appended, nothing at all is allowed (a decision never allows a
//! path that a deny rule matches).
//!
//! Run it from a scratch directory: `include = [...]` entries are read
//! relative to the working directory.
#![no_main]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use fdbroker::policy::{Access, Policy};
use libfuzzer_sys::fuzz_target;

const PATHS: &[&str] = &[
    "/",
    "/srv/in/a.txt",
    "/srv/in/private/k",
    "/etc/shadow",
    "/proc/self/maps",
    "/usr/lib/x86_64-linux-gnu/libc.so.6",
];

fn rights() -> [Access; 7] {
    [
        Access::READ,
        Access::WRITE,
        Access::CREATE,
        Access::EXEC,
        Access::STAT,
        Access::READ | Access::WRITE,
        Access::all(),
    ]
}

fuzz_target!(|data: &[u8]| {
    let (text, path) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"/srv/in/x"[..]),
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let fuzzed = Path::new(OsStr::from_bytes(path));
    let normalised = path.starts_with(b"/")
        && (path == b"/"
            || (!path.ends_with(b"/")
                && path[1..]
                    .split(|&c| c == b'/')
                    .all(|c| !c.is_empty() && c != b"." && c != b"..")));
    if let Ok(policy) = Policy::parse(text, Path::new("fuzz.toml")) {
        for a in rights() {
            let d = policy.decide(fuzzed, a);
            if !normalised {
                assert!(
                    !d.allowed,
                    "allowed a path that is not normalised: {fuzzed:?}"
                );
            }
            for p in PATHS {
                let _ = policy.decide(Path::new(p), a);
            }
        }
        let _ = policy.network();
        let _ = policy.rules().count();
    }
    let denied_all = format!("{text}\n[[deny]]\npaths = [\"/**\"]\n");
    if let Ok(policy) = Policy::parse(&denied_all, Path::new("fuzz.toml")) {
        for a in rights() {
            assert!(
                !policy.decide(fuzzed, a).allowed,
                "deny /** ignored for {fuzzed:?}"
            );
            for p in PATHS {
                assert!(
                    !policy.decide(Path::new(p), a).allowed,
                    "deny /** ignored for {p}"
                );
            }
        }
    }
});
