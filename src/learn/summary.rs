//! `fdbroker explain --audit-log FILE`: what an audit log (JSON lines, as
//! `crate::audit` writes them) amounts to.
//!
//! Pure: lines in, a summary out. A line that is not an audit record is
//! counted and reported with its number, never fatal.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::PathBuf;

use serde_json::Value;

use super::writer::{Learned, PolicyWriter, Usage};
use crate::policy::Access;

/// How many malformed lines are kept with their reason (all are counted).
const MAX_MALFORMED_KEPT: usize = 20;

/// A line that is not an audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// 1-based line number.
    pub line: u64,
    /// What is wrong with it.
    pub reason: String,
}

/// The denials of one path and set of rights.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeniedGroup {
    /// How many requests.
    pub count: u64,
    /// The deciding rule as logged (`FILE:LINE`), `None` when no rule
    /// allowed it (`"default"`).
    pub rule: Option<String>,
    /// Operations, counted.
    pub ops: BTreeMap<String, u64>,
    /// Line of the first of them.
    pub first_line: u64,
}

/// The summary of an audit log.
///
/// ```
/// use fdbroker::learn::AuditSummary;
///
/// let log = r#"{"decision":"allow","op":"open","path":"/a","resolved":"/a","access":"read","rule":"p.toml:3"}
/// {"decision":"deny","op":"open","path":"b","resolved":"/srv/b","access":"read","rule":"default"}
/// not json
/// {"decision":"deny","op":"stat","path":"/srv/b","resolved":"/srv/b","access":"read","rule":"default"}
/// {"decision":"deny","op":"stat","path":"/srv/c","resolved":"/srv/c","access":"stat","rule":"default","absent":true}
/// "#;
/// let s = AuditSummary::read(log.as_bytes())?;
/// assert_eq!((s.allowed, s.denied, s.missing, s.malformed_count), (1, 2, 1, 1));
/// assert_eq!(s.malformed[0].line, 3);
/// assert_eq!(s.denials.len(), 1, "no rule is suggested for a missing path");
/// assert_eq!(s.denials[&("/srv/b".to_string(), "read".to_string())].count, 2);
/// assert_eq!(s.suggested().rules[0].pattern, "/srv/b");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditSummary {
    /// Lines read (blank ones included).
    pub lines: u64,
    /// Allowed decisions.
    pub allowed: u64,
    /// Denied decisions (of paths that exist).
    pub denied: u64,
    /// Denied probes of paths that did not exist (`"absent": true`): left
    /// out of [`AuditSummary::denied`] and [`AuditSummary::denials`], since
    /// no rule is needed for them.
    pub missing: u64,
    /// Malformed lines.
    pub malformed_count: u64,
    /// The first malformed lines, with reasons.
    pub malformed: Vec<Malformed>,
    /// Denials by `(path, rights)`: the resolved path (or the path as
    /// requested when nothing was resolved) and the rights as logged.
    pub denials: BTreeMap<(String, String), DeniedGroup>,
    /// Resource limits that stopped a run (`"event": "limit"` lines), by
    /// limit (`memory`), counted.
    pub limits: BTreeMap<String, u64>,
}

impl AuditSummary {
    /// Reads a log from `input` to the end.
    ///
    /// # Errors
    ///
    /// Only read errors of `input`; bad lines are counted as malformed.
    pub fn read(mut input: impl BufRead) -> std::io::Result<AuditSummary> {
        let mut s = AuditSummary::default();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            if input.read_until(b'\n', &mut buf)? == 0 {
                break;
            }
            s.lines += 1;
            if let Err(reason) = s.add_line(&buf) {
                s.malformed_count += 1;
                if s.malformed.len() < MAX_MALFORMED_KEPT {
                    s.malformed.push(Malformed {
                        line: s.lines,
                        reason,
                    });
                }
            }
        }
        Ok(s)
    }

    fn add_line(&mut self, raw: &[u8]) -> Result<(), String> {
        let text = std::str::from_utf8(raw).map_err(|_| "not UTF-8".to_string())?;
        if text.trim().is_empty() {
            return Ok(());
        }
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let obj = v
            .as_object()
            .ok_or_else(|| "not a JSON object".to_string())?;
        let field = |k: &str| obj.get(k).and_then(Value::as_str);
        if field("event") == Some("limit") {
            let limit = field("limit").ok_or("a limit event without `limit`")?;
            *self.limits.entry(limit.to_string()).or_default() += 1;
            return Ok(());
        }
        let decision = field("decision").ok_or("no `decision` string")?;
        match decision {
            "allow" => {
                self.allowed += 1;
                Ok(())
            }
            "deny" if obj.get("absent").and_then(Value::as_bool) == Some(true) => {
                self.missing += 1;
                Ok(())
            }
            "deny" => {
                let path = field("resolved")
                    .or_else(|| field("path"))
                    .ok_or("a denial without `resolved` or `path`")?;
                let access = field("access").ok_or("a denial without `access`")?;
                parse_access(access).ok_or_else(|| format!("unknown rights `{access}`"))?;
                let rule = match field("rule") {
                    None | Some("default") => None,
                    Some(r) => Some(r.to_string()),
                };
                let op = field("op").unwrap_or("?");
                self.denied += 1;
                let line = self.lines;
                let g = self
                    .denials
                    .entry((path.to_string(), access.to_string()))
                    .or_insert_with(|| DeniedGroup {
                        first_line: line,
                        ..DeniedGroup::default()
                    });
                g.count += 1;
                if g.rule.is_none() {
                    g.rule = rule;
                }
                *g.ops.entry(op.to_string()).or_default() += 1;
                Ok(())
            }
            other => Err(format!("unknown decision `{other}`")),
        }
    }

    /// Rules that would allow what no rule allowed (denials by a deny rule
    /// are left out: no allow rule overrides those). Made by the learn-mode
    /// writer, so many siblings become one glob; relative paths (requests
    /// that were never resolved) are left out.
    pub fn suggested(&self) -> Learned {
        let mut usage: BTreeMap<PathBuf, Usage> = BTreeMap::new();
        for ((path, access), g) in &self.denials {
            if g.rule.is_some() || !path.starts_with('/') {
                continue;
            }
            let Some(a) = parse_access(access) else {
                continue;
            };
            let u = usage.entry(PathBuf::from(path)).or_default();
            if u.first.is_none() {
                u.order = g.first_line;
            }
            u.access |= a;
            for (op, n) in &g.ops {
                *u.ops.entry(op.clone()).or_default() += n;
            }
        }
        PolicyWriter::new().rules(&usage, &|_, _| false)
    }
}

/// `read,write` as logged; `none` is no right.
fn parse_access(s: &str) -> Option<Access> {
    if s == "none" {
        return Some(Access::empty());
    }
    s.split(',')
        .map(|n| Access::from_right_name(n.trim()))
        .try_fold(Access::empty(), |acc, a| a.map(|a| acc | a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_lines_are_counted_never_fatal() {
        let mut log = Vec::new();
        log.extend_from_slice(b"{\"decision\":\"deny\",\"path\":\"/x\",\"resolved\":\"/x\",\"access\":\"read\",\"rule\":\"default\",\"op\":\"open\"}\n");
        log.extend_from_slice(b"\xff\xfe\n");
        log.extend_from_slice(b"[1,2]\n");
        log.extend_from_slice(b"{\"decision\":\"maybe\"}\n");
        log.extend_from_slice(b"{\"decision\":\"deny\"}\n");
        log.extend_from_slice(b"{\"decision\":\"deny\",\"path\":\"/y\",\"access\":\"delete\"}\n");
        log.extend_from_slice(b"{\"decision\":\"deny\",\"path\":\"/y\",\"access\":\"write\"}\n");
        log.extend_from_slice(b"\n   \n");
        log.extend_from_slice(b"{\"decision\":\"allow\"");
        let s = AuditSummary::read(&log[..]).unwrap();
        assert_eq!(s.lines, 10);
        assert_eq!(s.malformed_count, 6);
        let lines: Vec<u64> = s.malformed.iter().map(|m| m.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 6, 10]);
        assert_eq!(s.denied, 2);
        assert_eq!(s.allowed, 0);
        let l = s.suggested();
        let pats: Vec<&str> = l.rules.iter().map(|r| r.pattern.as_str()).collect();
        assert_eq!(pats, vec!["/x", "/y"]);
    }

    #[test]
    fn deny_rule_denials_are_not_suggested() {
        let log = "{\"decision\":\"deny\",\"path\":\"/k\",\"resolved\":\"/k\",\"access\":\"read\",\"rule\":\"p.toml:4\",\"op\":\"open\"}\n\
                   {\"decision\":\"deny\",\"path\":\"rel\",\"resolved\":null,\"access\":\"read\",\"rule\":null,\"op\":\"open\"}\n";
        let s = AuditSummary::read(log.as_bytes()).unwrap();
        assert_eq!(s.denied, 2);
        assert_eq!(
            s.denials[&("/k".to_string(), "read".to_string())]
                .rule
                .as_deref(),
            Some("p.toml:4")
        );
        assert!(s.suggested().rules.is_empty());
    }

    #[test]
    fn limit_events_are_counted_apart() {
        let log = "{\"time\":\"x\",\"event\":\"limit\",\"limit\":\"memory\",\"value\":\"64M\"}\n\
                   {\"event\":\"limit\"}\n";
        let s = AuditSummary::read(log.as_bytes()).unwrap();
        assert_eq!(s.limits.get("memory"), Some(&1));
        assert_eq!((s.allowed, s.denied, s.malformed_count), (0, 0, 1));
    }

    #[test]
    fn rights_names() {
        assert_eq!(
            parse_access("read,write"),
            Some(Access::READ | Access::WRITE)
        );
        assert_eq!(parse_access("none"), Some(Access::empty()));
        assert_eq!(parse_access("read,"), None);
    }
}
