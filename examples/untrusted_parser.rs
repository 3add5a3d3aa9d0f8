//! An untrusted parser, confined: it reads its input only through the broker.
//!
//! ```text
//! cargo run --release --example untrusted_parser [-- INPUT.csv]
//! ```
//!
//! The parent writes a policy that lets the parser read the input's
//! directory (but not its `private/` subdirectory), starts itself again as
//! the parser with one end of a socketpair in `FDBROKER_FD`, and serves it.
//! The parser confines itself before it touches any input — no capabilities,
//! Landlock with no rules, no `open(2)` of its own — then asks the broker
//! for its input, parses it, and shows that everything else is out of reach.
//! It exits non-zero if anything it should not get is handed to it.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;

use anyhow::{Context, bail};
use fdbroker::broker::Broker;
use fdbroker::client::Client;
use fdbroker::policy::{Policy, literal_pattern};
use fdbroker::{confine, launch};

const ROLE: &str = "FDBROKER_EXAMPLE_ROLE";

fn main() -> ExitCode {
    let result = match std::env::var(ROLE).as_deref() {
        Ok("parser") => parser(),
        _ => parent(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("untrusted_parser: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn parent() -> anyhow::Result<()> {
    let input = match std::env::args_os().nth(1) {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/orders.csv"),
    };
    // Rules name where files really are: judge the canonical path.
    let input = input
        .canonicalize()
        .with_context(|| format!("input {}", input.display()))?;
    let dir = input.parent().context("input has no directory")?;
    let dir_pattern = literal_pattern(dir)
        .with_context(|| format!("{} cannot be named in a policy", dir.display()))?;
    let quote = |s: String| toml::Value::String(s).to_string();
    let policy_text = format!(
        "version = 1\n\n\
         # The parser may read its input tree (`/**` includes the directory)...\n\
         [[allow]]\npaths  = [{}]\naccess = [\"read\"]\n\n\
         # ...except what is private.\n\
         [[deny]]\npaths  = [{}]\n",
        quote(format!("{dir_pattern}/**")),
        quote(format!("{dir_pattern}/private/**")),
    );
    println!("policy:\n{policy_text}");
    let policy = Policy::parse(&policy_text, Path::new("<untrusted_parser policy>"))?;
    let broker = Broker::new(Arc::new(policy))?;

    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.env(ROLE, "parser").arg(&input);
    let (mut child, conn) = launch::spawn(&mut cmd)?;
    let serving = broker.spawn(conn, Some(child.id()))?;
    let status = child.wait()?;
    let summary = serving
        .join()
        .map_err(|_| anyhow::anyhow!("broker thread panicked"))??;
    println!(
        "broker: {} requests, {} allowed, {} refused, {} malformed",
        summary.requests, summary.succeeded, summary.refused, summary.malformed
    );
    if !status.success() {
        bail!("the parser failed: {status}");
    }
    Ok(())
}

fn parser() -> anyhow::Result<()> {
    let input = PathBuf::from(std::env::args_os().nth(1).context("no input given")?);
    let client = Client::from_env()?;
    let report = confine::confine_self()?;
    println!(
        "parser: confined (Landlock ABI {}, {} seccomp filters)",
        report.landlock.abi,
        report.filters.len()
    );

    // The input, through the broker.
    let fd = client.open(&input, libc::O_RDONLY, 0)?;
    let mut text = String::new();
    std::fs::File::from(fd).read_to_string(&mut text)?;
    let totals = parse_orders(&text)?;
    println!("parser: revenue by customer in {}", input.display());
    for (customer, cents) in &totals {
        println!("  {customer:<10} {:>4}.{:02}", cents / 100, cents % 100);
    }

    // Everything else is out of reach. Each of these must fail.
    let dir = input.parent().context("input has no directory")?;
    let mut leaks = 0;
    let mut expect_refused = |what: &str, r: Result<(), String>| match r {
        Ok(()) => {
            println!("  LEAK: {what} succeeded");
            leaks += 1;
        }
        Err(e) => println!("  refused: {what}: {e}"),
    };
    println!("parser: trying what the policy does not allow");
    expect_refused(
        "open(2) of the input directly",
        std::fs::File::open(&input)
            .map(drop)
            .map_err(|e| e.to_string()),
    );
    let private = dir.join("private/credentials.txt");
    expect_refused(
        &format!("broker open of {}", private.display()),
        client
            .open(&private, libc::O_RDONLY, 0)
            .map(drop)
            .map_err(|e| e.to_string()),
    );
    let escape = dir.join("../../Cargo.toml");
    expect_refused(
        &format!("broker open of {}", escape.display()),
        client
            .open(&escape, libc::O_RDONLY, 0)
            .map(drop)
            .map_err(|e| e.to_string()),
    );
    expect_refused(
        "broker open of /etc/shadow",
        client
            .open("/etc/shadow", libc::O_RDONLY, 0)
            .map(drop)
            .map_err(|e| e.to_string()),
    );
    expect_refused(
        "writing the input through the broker",
        client
            .open(&input, libc::O_WRONLY | libc::O_APPEND, 0)
            .map(drop)
            .map_err(|e| e.to_string()),
    );
    expect_refused(
        "running /bin/sh",
        Command::new("/bin/sh")
            .arg("-c")
            .arg("true")
            .status()
            .map(drop)
            .map_err(|e| e.to_string()),
    );
    if leaks > 0 {
        bail!("{leaks} operations that should have been refused succeeded");
    }
    Ok(())
}

/// Sums `quantity * unit_price` per customer, in cents. Input is untrusted:
/// every malformed line is an error with its line number, never a panic.
fn parse_orders(text: &str) -> anyhow::Result<BTreeMap<String, u64>> {
    let mut totals = BTreeMap::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [_, customer, _, quantity, price] = fields[..] else {
            bail!("line {}: expected 5 fields, got {}", n + 1, fields.len());
        };
        let quantity: u64 = quantity
            .parse()
            .with_context(|| format!("line {}: quantity {quantity:?}", n + 1))?;
        let (units, cents) = price.split_once('.').unwrap_or((price, "0"));
        let cents: u64 = match cents.len() {
            1 => cents.parse::<u64>().map(|c| c * 10),
            _ => cents.parse::<u64>(),
        }
        .with_context(|| format!("line {}: price {price:?}", n + 1))?;
        let price = units
            .parse::<u64>()
            .with_context(|| format!("line {}: price {price:?}", n + 1))?
            .checked_mul(100)
            .and_then(|u| u.checked_add(cents))
            .with_context(|| format!("line {}: price too large", n + 1))?;
        let line_total = quantity
            .checked_mul(price)
            .with_context(|| format!("line {}: total too large", n + 1))?;
        let slot = totals.entry(customer.to_string()).or_insert(0u64);
        *slot = slot
            .checked_add(line_total)
            .with_context(|| format!("line {}: total too large", n + 1))?;
    }
    Ok(totals)
}
