//! A policy's `[limits]` table: resource limits for `fdbroker run`, with
//! the same keys as its options (`memory`, `cpu_time`, `timeout`,
//! `max_file_size`, `max_processes`, `max_open_files`); a bad value is a
//! located error.

use std::time::Duration;

use serde::Deserialize;
use toml::{Spanned, Value};

use super::{Location, PolicyError};
use crate::limits::{Amount, Kind, Limit, Limits};

/// `[limits]` as written: each value with its place.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    memory: Option<Spanned<Value>>,
    cpu_time: Option<Spanned<Value>>,
    timeout: Option<Spanned<Value>>,
    max_file_size: Option<Spanned<Value>>,
    max_processes: Option<Spanned<Value>>,
    max_open_files: Option<Spanned<Value>>,
}

impl RawLimits {
    /// The limits, or the first bad value located by `at` (byte offset to
    /// place).
    pub(crate) fn parse(&self, at: &dyn Fn(usize) -> Location) -> Result<Limits, PolicyError> {
        let mut out = Limits::default();
        for (limit, raw) in [
            (Limit::Memory, &self.memory),
            (Limit::CpuTime, &self.cpu_time),
            (Limit::Timeout, &self.timeout),
            (Limit::MaxFileSize, &self.max_file_size),
            (Limit::MaxProcesses, &self.max_processes),
            (Limit::MaxOpenFiles, &self.max_open_files),
        ] {
            if let Some(v) = raw {
                let amount = amount(limit, v.get_ref()).map_err(|reason| PolicyError::Limit {
                    at: at(v.span().start),
                    key: limit.key(),
                    reason,
                })?;
                out.set(limit, amount);
            }
        }
        Ok(out)
    }
}

/// A TOML value as `limit`'s amount: a string as on the command line, or
/// a bare number (bytes, seconds, a count).
fn amount(limit: Limit, v: &Value) -> Result<Amount, String> {
    let positive = |n: i64| u64::try_from(n).ok().filter(|n| *n > 0);
    match (limit.kind(), v) {
        (_, Value::String(s)) => limit.parse(s).map_err(|e| e.to_string()),
        (Kind::Size, Value::Integer(n)) => positive(*n)
            .map(Amount::Bytes)
            .ok_or_else(|| "must be at least 1 byte".into()),
        (Kind::Count, Value::Integer(n)) => positive(*n)
            .map(Amount::Count)
            .ok_or_else(|| "must be at least 1".into()),
        (Kind::Seconds, Value::Integer(n)) => positive(*n)
            .map(|s| Amount::Time(Duration::from_secs(s)))
            .ok_or_else(|| "must be more than zero".into()),
        (Kind::Seconds, Value::Float(f)) if *f > 0.0 => Duration::try_from_secs_f64(*f)
            .ok()
            .filter(|d| !d.is_zero())
            .map(Amount::Time)
            .ok_or_else(|| "too large, or less than a nanosecond".into()),
        (Kind::Seconds, Value::Float(_)) => Err("must be more than zero".into()),
        (Kind::Size, _) => Err("expected a number of bytes or a string such as \"256M\"".into()),
        (Kind::Seconds, _) => {
            Err("expected a number of seconds or a string such as \"1.5s\"".into())
        }
        (Kind::Count, _) => Err("expected a whole number".into()),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::policy::Policy;

    use super::*;

    fn parse(text: &str) -> Result<Limits, String> {
        Policy::parse(text, Path::new("t.toml"))
            .map(|p| *p.limits())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn values_as_strings_and_numbers() {
        let l = parse(
            "version = 1\n[limits]\nmemory = \"256M\"\ncpu_time = 10\ntimeout = 1.5\n\
             max_file_size = 4096\nmax_processes = 64\nmax_open_files = \"128\"\n",
        )
        .unwrap();
        assert_eq!(l.memory, Some(256 << 20));
        assert_eq!(l.cpu_time, Some(Duration::from_secs(10)));
        assert_eq!(l.timeout, Some(Duration::from_millis(1500)));
        assert_eq!(l.max_file_size, Some(4096));
        assert_eq!(l.max_processes, Some(64));
        assert_eq!(l.max_open_files, Some(128));
        assert_eq!(parse("version = 1\n").unwrap(), Limits::default());
        assert_eq!(
            parse("version = 1\n[limits]\ntimeout = \"2m\"\nmemory = \"2G\"\n")
                .unwrap()
                .to_string(),
            "memory 2G, timeout 120s"
        );
    }

    #[test]
    fn bad_values_are_located() {
        let cases = [
            (
                "memory = \"12X\"",
                "t.toml:3:10: bad `memory` in [limits]: `12X`: unknown unit `X`",
            ),
            (
                "memory = 0",
                "t.toml:3:10: bad `memory` in [limits]: must be at least 1 byte",
            ),
            (
                "  timeout = -1",
                "t.toml:3:13: bad `timeout` in [limits]: must be more than zero",
            ),
            (
                "cpu_time = \"1.5x\"",
                "t.toml:3:12: bad `cpu_time` in [limits]: `1.5x`: unknown unit `x`",
            ),
            (
                "max_processes = 2.5",
                "t.toml:3:17: bad `max_processes` in [limits]: expected a whole number",
            ),
            (
                "max_open_files = true",
                "t.toml:3:18: bad `max_open_files` in [limits]: expected a whole number",
            ),
            (
                "max_file_size = [1]",
                "t.toml:3:17: bad `max_file_size` in [limits]: expected a number of bytes",
            ),
            ("memroy = \"1G\"", "t.toml:3:1: unknown field `memroy`"),
        ];
        for (line, want) in cases {
            let e = parse(&format!("version = 1\n[limits]\n{line}\n")).unwrap_err();
            assert!(e.starts_with(want), "{line}: {e}");
        }
    }

    #[test]
    fn includes_merge_by_the_stricter_value() {
        let dir = tempfile::tempdir().unwrap();
        let w = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        w(
            "inner.toml",
            "version = 1\n[limits]\nmemory = \"64M\"\ntimeout = 600\nmax_processes = 100\n",
        );
        w(
            "outer.toml",
            "version = 1\ninclude = [\"inner.toml\"]\n[limits]\nmemory = \"1G\"\ntimeout = 30\n",
        );
        let p = Policy::from_file(&dir.path().join("outer.toml")).unwrap();
        let l = p.limits();
        assert_eq!(l.memory, Some(64 << 20));
        assert_eq!(l.timeout, Some(Duration::from_secs(30)));
        assert_eq!(l.max_processes, Some(100));
        assert_eq!(l.cpu_time, None);
        // An error in an include is located there.
        w("inner.toml", "version = 1\n[limits]\nmax_processes = 0\n");
        let e = Policy::from_file(&dir.path().join("outer.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("inner.toml:3:17: bad `max_processes`"), "{e}");
    }
}
