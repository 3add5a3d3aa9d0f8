//! The audit log of `fdbroker run --audit-log FILE`: one JSON object per line
//! for every decision the broker takes, whether the request came through a
//! seccomp notification or the socketpair protocol.
//!
//! Each line has these keys (see `docs/run.md`):
//!
//! | key | value |
//! |---|---|
//! | `time` | UTC, RFC 3339 with microseconds: `2025-01-31T12:00:00.000123Z` |
//! | `pid` | the requesting thread (seccomp) or process (socket) |
//! | `source` | `"seccomp"` or `"socket"` |
//! | `syscall` | the intercepted system call (`"openat"`, ...), or `null` for the socket protocol |
//! | `op` | `"open"`, `"stat"`, `"access"` or `"readlink"` |
//! | `path` | the path as requested (relative paths as written); see `path_lossy` |
//! | `resolved` | the absolute path that was judged, or `null` when the request was refused before (bad flags, unreadable path) |
//! | `flags` | for `open`: `O_*` names (`"O_WRONLY\|O_CREAT\|O_TRUNC"`); for `access`: `"R_OK\|W_OK"`; else `null` |
//! | `access` | the rights the request needed (`"read,write"`; `"none"` when refused before judging) |
//! | `decision` | `"allow"` or `"deny"` |
//! | `rule` | the deciding rule as `file:line`, `"default"` when no rule allows it, `null` when nothing was judged |
//! | `errno` | `0` on success, else the error number returned to the program |
//! | `error` | `null` on success, else the error's name (`"EACCES"`) |
//! | `absent` | present and `true` only when the object was not found (a probe of a missing path: resolution failed with `ENOENT` or `ENOTDIR`, or `EACCES` on a directory that may not be searched); such a request is not counted by `--fail-on-denial`, reported by denial lines or learned |
//! | `path_lossy` | present and `true` only when `path`/`resolved` were not UTF-8 and had bytes replaced by U+FFFD |
//!
//! A resource limit that stopped the sandbox is one more line, with
//! `"event": "limit"` and no decision ([`limit_line`]).
//!
//! ```
//! use std::path::Path;
//! use fdbroker::audit::json_line;
//! use fdbroker::event::{Event, Op, Source};
//! use fdbroker::policy::{Access, Decision};
//!
//! let decision = Decision::default_deny();
//! let event = Event {
//!     pid: Some(42),
//!     source: Source::Seccomp,
//!     syscall: Some("openat"),
//!     op: Op::Open,
//!     path: Path::new("secret.txt"),
//!     resolved: Some(Path::new("/home/me/secret.txt")),
//!     flags: Some(0),
//!     mode: Some(0),
//!     access: Access::READ,
//!     decision: Some(&decision),
//!     errno: Some(nix::errno::Errno::EACCES),
//!     absent: false,
//! };
//! let line = json_line(&event, std::time::UNIX_EPOCH);
//! let v: serde_json::Value = serde_json::from_str(&line).unwrap();
//! assert_eq!(v["decision"], "deny");
//! assert_eq!(v["rule"], "default");
//! assert_eq!(v["errno"], 13);
//! assert_eq!(v["time"], "1970-01-01T00:00:00.000000Z");
//! assert!(v.get("absent").is_none(), "the file exists");
//! ```

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use serde_json::{Map, Value};

use crate::event::{Event, Op};
use crate::policy::Decision;

/// A sink for [`Event`]s, one JSON line each. Safe to share between threads
/// (`Arc<AuditLog>`); every line is written with a single `write` so lines
/// from concurrent requests never interleave.
pub struct AuditLog {
    out: Mutex<Box<dyn Write + Send>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Opens `path` for appending (created with mode 0600 if missing), or
    /// standard error when `path` is `-`.
    pub fn open(path: &Path) -> io::Result<AuditLog> {
        if path.as_os_str() == "-" {
            return Ok(AuditLog::to_writer(Box::new(io::stderr())));
        }
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOCTTY)
            .open(path)?;
        Ok(AuditLog::to_writer(Box::new(file)))
    }

    /// Writes lines to `out` (unbuffered: wrap it yourself if you want).
    pub fn to_writer(out: Box<dyn Write + Send>) -> AuditLog {
        AuditLog {
            out: Mutex::new(out),
        }
    }

    /// Appends one line for `event`, stamped with the current time.
    pub fn record(&self, event: &Event<'_>) -> io::Result<()> {
        self.write_line(json_line(event, SystemTime::now()))
    }

    /// Appends one line for a resource limit that stopped the sandbox,
    /// hit at `time`.
    pub fn record_limit(&self, event: &LimitEvent<'_>, time: SystemTime) -> io::Result<()> {
        self.write_line(limit_line(event, time))
    }

    fn write_line(&self, mut line: String) -> io::Result<()> {
        line.push('\n');
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        out.write_all(line.as_bytes())?;
        out.flush()
    }
}

/// A resource limit (`fdbroker run --memory ...`) that stopped the
/// sandbox. Its line has `"event": "limit"` and no `decision`.
#[derive(Debug, Clone, Copy)]
pub struct LimitEvent<'a> {
    /// The limit's policy key (`memory`).
    pub limit: &'a str,
    /// Its option (`--memory`).
    pub option: &'a str,
    /// Its value (`256M`).
    pub value: &'a str,
    /// How it was enforced.
    pub mechanism: &'a str,
}

/// The JSON object (without newline) recorded for a limit hit at `time`.
///
/// ```
/// use fdbroker::audit::{LimitEvent, limit_line};
/// let e = LimitEvent { limit: "memory", option: "--memory", value: "64M", mechanism: "cgroup v1" };
/// let v: serde_json::Value = serde_json::from_str(&limit_line(&e, std::time::UNIX_EPOCH)).unwrap();
/// assert_eq!(v["event"], "limit");
/// assert_eq!(v["value"], "64M");
/// ```
pub fn limit_line(event: &LimitEvent<'_>, time: SystemTime) -> String {
    let mut m = Map::new();
    m.insert("time".into(), Value::from(rfc3339(time)));
    m.insert("event".into(), Value::from("limit"));
    m.insert("limit".into(), Value::from(event.limit));
    m.insert("option".into(), Value::from(event.option));
    m.insert("value".into(), Value::from(event.value));
    m.insert("mechanism".into(), Value::from(event.mechanism));
    m.insert("action".into(), Value::from("killed"));
    Value::Object(m).to_string()
}

/// The JSON object (without newline) recorded for `event` at `time`.
pub fn json_line(event: &Event<'_>, time: SystemTime) -> String {
    let mut lossy = false;
    let mut path_value = |p: &Path| -> Value {
        let bytes = p.as_os_str().as_bytes();
        match std::str::from_utf8(bytes) {
            Ok(s) => Value::from(s),
            Err(_) => {
                lossy = true;
                Value::from(String::from_utf8_lossy(bytes).into_owned())
            }
        }
    };
    let mut m = Map::new();
    m.insert("time".into(), Value::from(rfc3339(time)));
    m.insert("pid".into(), Value::from(event.pid.unwrap_or(0)));
    m.insert("source".into(), Value::from(event.source.as_str()));
    m.insert(
        "syscall".into(),
        event.syscall.map_or(Value::Null, Value::from),
    );
    m.insert("op".into(), Value::from(event.op.name()));
    m.insert("path".into(), path_value(event.path));
    m.insert(
        "resolved".into(),
        event.resolved.map_or(Value::Null, &mut path_value),
    );
    let flags = match (event.op, event.flags) {
        (Op::Open, Some(f)) => Value::from(open_flags_text(f as i32)),
        (Op::Access, Some(f)) => Value::from(access_mode_text(f as i32)),
        _ => Value::Null,
    };
    m.insert("flags".into(), flags);
    m.insert("access".into(), Value::from(event.access.to_string()));
    let allowed = event.decision.is_some_and(|d| d.allowed);
    m.insert(
        "decision".into(),
        Value::from(if allowed { "allow" } else { "deny" }),
    );
    let rule = match event.decision {
        Some(Decision { rule: Some(r), .. }) => Value::from(r.to_string()),
        Some(Decision { rule: None, .. }) => Value::from("default"),
        None => Value::Null,
    };
    m.insert("rule".into(), rule);
    m.insert(
        "errno".into(),
        Value::from(event.errno.map_or(0, |e| e as i32)),
    );
    m.insert(
        "error".into(),
        event
            .errno
            .map_or(Value::Null, |e| Value::from(errno_name(e))),
    );
    if event.absent {
        m.insert("absent".into(), Value::from(true));
    }
    if lossy {
        m.insert("path_lossy".into(), Value::from(true));
    }
    Value::Object(m).to_string()
}

/// The symbolic name of `e` (`"EACCES"`), or its number when nix has none.
fn errno_name(e: Errno) -> String {
    let s = format!("{e:?}");
    if s.starts_with('E') {
        s
    } else {
        (e as i32).to_string()
    }
}

/// `open(2)` flags as `O_*` names joined by `|`: the access mode first, then
/// each known flag, then any unknown bits in hex.
///
/// ```
/// assert_eq!(fdbroker::audit::open_flags_text(libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC),
///            "O_WRONLY|O_CREAT|O_TRUNC");
/// assert_eq!(fdbroker::audit::open_flags_text(libc::O_RDONLY | libc::O_CLOEXEC), "O_RDONLY|O_CLOEXEC");
/// ```
pub fn open_flags_text(flags: i32) -> String {
    const NAMES: [(i32, &str); 16] = [
        (libc::O_CREAT, "O_CREAT"),
        (libc::O_EXCL, "O_EXCL"),
        (libc::O_NOCTTY, "O_NOCTTY"),
        (libc::O_TRUNC, "O_TRUNC"),
        (libc::O_APPEND, "O_APPEND"),
        (libc::O_NONBLOCK, "O_NONBLOCK"),
        (libc::O_DSYNC, "O_DSYNC"),
        (libc::O_DIRECT, "O_DIRECT"),
        (libc::O_LARGEFILE, "O_LARGEFILE"),
        (libc::O_DIRECTORY, "O_DIRECTORY"),
        (libc::O_NOFOLLOW, "O_NOFOLLOW"),
        (libc::O_NOATIME, "O_NOATIME"),
        (libc::O_CLOEXEC, "O_CLOEXEC"),
        (libc::O_PATH, "O_PATH"),
        // O_SYNC contains O_DSYNC; O_TMPFILE contains O_DIRECTORY.
        (libc::O_SYNC & !libc::O_DSYNC, "O_SYNC"),
        (libc::O_TMPFILE & !libc::O_DIRECTORY, "O_TMPFILE"),
    ];
    let mut out = String::from(match flags & libc::O_ACCMODE {
        libc::O_RDONLY => "O_RDONLY",
        libc::O_WRONLY => "O_WRONLY",
        libc::O_RDWR => "O_RDWR",
        _ => "O_ACCMODE",
    });
    let mut rest = flags & !libc::O_ACCMODE;
    for (bit, name) in NAMES {
        if rest & bit == bit && bit != 0 {
            out.push('|');
            out.push_str(name);
            rest &= !bit;
        }
    }
    if rest != 0 {
        out.push_str(&format!("|{rest:#x}"));
    }
    out
}

/// An `access(2)` mode as `F_OK` or `R_OK|W_OK|X_OK` names.
///
/// ```
/// assert_eq!(fdbroker::audit::access_mode_text(libc::R_OK | libc::X_OK), "R_OK|X_OK");
/// assert_eq!(fdbroker::audit::access_mode_text(libc::F_OK), "F_OK");
/// ```
pub fn access_mode_text(mode: i32) -> String {
    if mode == libc::F_OK {
        return "F_OK".into();
    }
    let mut parts: Vec<String> = [
        (libc::R_OK, "R_OK"),
        (libc::W_OK, "W_OK"),
        (libc::X_OK, "X_OK"),
    ]
    .iter()
    .filter(|(bit, _)| mode & bit != 0)
    .map(|(_, name)| (*name).to_string())
    .collect();
    let rest = mode & !(libc::R_OK | libc::W_OK | libc::X_OK);
    if rest != 0 {
        parts.push(format!("{rest:#x}"));
    }
    parts.join("|")
}

/// `time` as RFC 3339 in UTC with microseconds; times before 1970 print as
/// the epoch.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let t = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
/// assert_eq!(fdbroker::audit::rfc3339(t), "2023-11-14T22:13:20.123456Z");
/// ```
pub fn rfc3339(time: SystemTime) -> String {
    let d = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, mo, da) = civil_from_days(days);
    format!(
        "{y:04}-{mo:02}-{da:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_micros()
    )
}

/// Proleptic Gregorian date of `days` after 1970-01-01 (H. Hinnant's
/// `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Source;
    use crate::policy::{Access, RuleKind, RuleRef};
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(59), (1970, 3, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(19_783), (2024, 3, 1));
        let t = UNIX_EPOCH + Duration::new(951_782_400 + 86_399, 999_999_000);
        assert_eq!(rfc3339(t), "2000-02-29T23:59:59.999999Z");
    }

    fn event<'a>(decision: Option<&'a Decision>, errno: Option<Errno>) -> Event<'a> {
        Event {
            pid: Some(7),
            source: Source::Socket,
            syscall: None,
            op: Op::Open,
            path: Path::new("/srv/in/a"),
            resolved: Some(Path::new("/srv/in/a")),
            flags: Some(i64::from(libc::O_RDONLY)),
            mode: None,
            access: Access::READ,
            decision,
            errno,
            absent: false,
        }
    }

    #[test]
    fn allowed_line_names_rule() {
        let d = Decision {
            allowed: true,
            rule: Some(RuleRef {
                kind: RuleKind::Allow,
                file: Arc::from(Path::new("/etc/p.toml")),
                line: 4,
            }),
        };
        let v: Value =
            serde_json::from_str(&json_line(&event(Some(&d), None), UNIX_EPOCH)).unwrap();
        assert_eq!(v["decision"], "allow");
        assert_eq!(v["rule"], "/etc/p.toml:4");
        assert_eq!(v["errno"], 0);
        assert_eq!(v["error"], Value::Null);
        assert_eq!(v["source"], "socket");
        assert_eq!(v["syscall"], Value::Null);
        assert_eq!(v["flags"], "O_RDONLY");
        assert_eq!(v["access"], "read");
        assert_eq!(v["pid"], 7);
        assert!(v.get("path_lossy").is_none());
    }

    #[test]
    fn denials_are_refusals_of_existing_paths() {
        let allow = Decision {
            allowed: true,
            rule: None,
        };
        let deny = Decision::default_deny();
        assert!(event(Some(&deny), Some(Errno::EACCES)).is_denial());
        // A hard rule refuses without a policy decision.
        assert!(event(None, Some(Errno::EACCES)).is_denial());
        assert!(!event(Some(&allow), None).is_denial());
        assert!(!event(Some(&allow), Some(Errno::ENOENT)).is_denial());
        assert!(!event(None, Some(Errno::EINVAL)).is_denial());
        // A path the program may not see: ENOENT, still a denial.
        assert!(event(Some(&deny), Some(Errno::ENOENT)).is_denial());
        // A hard rule's refusal of a path reached answers ENOENT too.
        assert!(event(None, Some(Errno::ENOENT)).is_denial());
        // Probes of missing paths, hidden or not, are no denials.
        for d in [Some(&deny), Some(&allow), None] {
            let e = Event {
                absent: true,
                ..event(d, Some(Errno::ENOENT))
            };
            assert!(!e.is_denial());
            let v: Value = serde_json::from_str(&json_line(&e, UNIX_EPOCH)).unwrap();
            assert_eq!(v["absent"], true);
        }
    }

    #[test]
    fn refused_before_judging() {
        let v: Value =
            serde_json::from_str(&json_line(&event(None, Some(Errno::EINVAL)), UNIX_EPOCH))
                .unwrap();
        assert_eq!(v["decision"], "deny");
        assert_eq!(v["rule"], Value::Null);
        assert_eq!(v["error"], "EINVAL");
        assert_eq!(v["errno"], 22);
    }

    #[test]
    fn non_utf8_paths_are_marked() {
        use std::ffi::OsStr;
        let p = Path::new(OsStr::from_bytes(b"/tmp/\xff\"x"));
        let mut e = event(None, Some(Errno::EACCES));
        e.path = p;
        let line = json_line(&e, UNIX_EPOCH);
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["path"], "/tmp/\u{fffd}\"x");
        assert_eq!(v["path_lossy"], true);
    }

    #[test]
    fn lines_are_written_whole() {
        #[derive(Clone, Default)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl Write for Sink {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let log = AuditLog::to_writer(Box::new(sink.clone()));
        log.record(&event(None, Some(Errno::EACCES))).unwrap();
        log.record(&event(None, Some(Errno::ENOENT))).unwrap();
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        for l in lines {
            let v: Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["op"], "open");
        }
    }

    #[test]
    fn flag_texts() {
        assert_eq!(
            open_flags_text(libc::O_RDWR | libc::O_APPEND),
            "O_RDWR|O_APPEND"
        );
        assert_eq!(
            open_flags_text(libc::O_RDONLY | libc::O_SYNC),
            "O_RDONLY|O_DSYNC|O_SYNC"
        );
        assert_eq!(
            open_flags_text(libc::O_WRONLY | libc::O_TMPFILE),
            "O_WRONLY|O_DIRECTORY|O_TMPFILE"
        );
        assert_eq!(
            open_flags_text(libc::O_RDONLY | 0x4000_0000),
            "O_RDONLY|0x40000000"
        );
        assert_eq!(access_mode_text(libc::W_OK | 0x10), "W_OK|0x10");
    }
}
