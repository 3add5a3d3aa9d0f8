//! The shipped examples run and do what their documentation says.
//!
//! `cargo test` builds the examples next to the test binaries; each is run as
//! a separate process (no fork in this harness). Every example exits non-zero
//! when something it should not get is handed to it, so these tests also
//! guard the claims the examples demonstrate.

use std::path::PathBuf;
use std::process::{Command, Output};

fn example(name: &str) -> PathBuf {
    // target/<profile>/deps/examples-HASH -> target/<profile>/examples/NAME
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target directory")
        .join("examples");
    dir.join(name)
}

fn run(name: &str) -> Output {
    let path = example(name);
    assert!(
        path.exists(),
        "{} was not built; `cargo test` builds examples",
        path.display()
    );
    let out = Command::new(&path).output().expect("run example");
    assert!(
        out.status.success(),
        "{name} failed: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn untrusted_parser_reads_its_input_and_nothing_else() {
    let out = run("untrusted_parser");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("acme         38.99"), "{text}");
    assert!(text.contains("globex       43.99"), "{text}");
    for refused in [
        "refused: open(2) of the input directly",
        // Outside what it may see: it looks absent.
        "private/credentials.txt: refused by the broker: ENOENT",
        "Cargo.toml: refused by the broker: ENOENT",
        "/etc/shadow: refused by the broker: ENOENT",
        // Visible, but not writable.
        "writing the input through the broker: refused by the broker: EACCES",
        "refused: running /bin/sh",
    ] {
        assert!(text.contains(refused), "missing {refused:?} in\n{text}");
    }
    assert!(!text.contains("LEAK"), "{text}");
    assert!(
        text.contains("broker: 5 requests, 1 allowed, 4 refused, 0 malformed"),
        "{text}"
    );
}

#[test]
fn pass_open_files_reaches_a_confined_reader() {
    let out = run("pass_open_files");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("orders.csv: 7 lines, 197 bytes; first line: order,customer"),
        "{text}"
    );
    assert!(text.contains("/etc/os-release:"), "{text}");
}

#[test]
fn stdout_to_helper_writes_on_the_childs_stdout() {
    let out = run("stdout_to_helper");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("written by the helper, on the child's stdout"),
        "{text}"
    );
}
