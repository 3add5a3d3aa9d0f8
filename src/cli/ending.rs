//! How `fdbroker run` ends: the program's status, turned into fdbroker's
//! exit status by a limit hit (124 after `--timeout`) or, with
//! `--fail-on-denial`, by a denial ([`EXIT_DENIED`]); the line naming the
//! limit hit, and the `--stats` report.

use std::ffi::OsStr;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use fdbroker::event::Event;
use fdbroker::limits::{Report, RunHandle};
use fdbroker::sandbox::{Sandbox, Status};

/// `run --fail-on-denial`'s exit status when any request was denied. Not
/// 124-127 (timeout(1), env(1) and fdbroker's own failures) nor 128+N
/// (signals), nor 77 and 99 (test harnesses' "skipped" and "hard error").
pub const EXIT_DENIED: u8 = 118;

/// What the end of the run needs.
pub struct Ending {
    handle: RunHandle,
    stats: Option<PathBuf>,
    denials: Option<Arc<AtomicU64>>,
    quiet: bool,
}

impl Ending {
    /// The run behind `handle`, with `--stats` going to `stats`.
    pub fn new(handle: RunHandle, stats: Option<PathBuf>) -> Ending {
        Ending {
            handle,
            stats,
            denials: None,
            quiet: false,
        }
    }

    /// `--fail-on-denial`: counts the denials of `sandbox` (see
    /// [`Event::is_denial`]); each is counted before the program gets its
    /// answer, so all of them are in when the program has exited. `quiet`
    /// leaves out the line that says the status was changed.
    pub fn fail_on_denial(mut self, sandbox: Sandbox, quiet: bool) -> (Sandbox, Ending) {
        let count = Arc::new(AtomicU64::new(0));
        let c = Arc::clone(&count);
        let sandbox = sandbox.observer(Arc::new(move |e: &Event<'_>| {
            if e.is_denial() {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }));
        self.denials = Some(count);
        self.quiet = quiet;
        (sandbox, self)
    }

    /// After the run of `program`, which ended with `outcome` (its status,
    /// or the status of fdbroker's error, already printed): prints the
    /// line of a limit hit, writes `--stats`, and returns fdbroker's exit
    /// status. A limit hit decides it first (124 after `--timeout`), then a
    /// denial under `--fail-on-denial` ([`EXIT_DENIED`]), then the program.
    pub fn finish(self, program: &OsStr, outcome: Result<Status, u8>) -> u8 {
        let report = self.handle.report();
        let hit = report.as_ref().and_then(|r| r.hit);
        let code = match outcome {
            Ok(status) if hit.is_none() => self.denied_or(status.exit_code()),
            Ok(status) => Report::exit_code(report.as_ref(), status),
            Err(code) => code,
        };
        if let Some(hit) = hit {
            eprintln!("fdbroker: {}", hit.message(&program.to_string_lossy()));
        }
        if let Some(path) = &self.stats {
            let mut line = Report::json(report.as_ref(), code);
            line.push('\n');
            let written = if path.as_os_str() == "-" {
                std::io::stderr().write_all(line.as_bytes())
            } else {
                std::fs::write(path, line)
            };
            if let Err(e) = written {
                eprintln!("fdbroker: --stats {}: {e}", path.display());
            }
        }
        code
    }

    /// [`EXIT_DENIED`] when a denial was counted (said on stderr unless
    /// quiet), else `code`, the program's own.
    fn denied_or(&self, code: u8) -> u8 {
        let n = self
            .denials
            .as_ref()
            .map_or(0, |d| d.load(Ordering::Relaxed));
        if n == 0 {
            return code;
        }
        if !self.quiet {
            eprintln!(
                "fdbroker: {n} request{} denied: exit status {EXIT_DENIED} (--fail-on-denial); the program's was {code}",
                if n == 1 { "" } else { "s" },
            );
        }
        EXIT_DENIED
    }
}
