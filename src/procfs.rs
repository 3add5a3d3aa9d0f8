//! The `/proc` vocabulary (proc(5)), in one place: pure, no I/O.
//!
//! - which paths lie in `/proc`, and the pid that heads `/proc/<pid>/...`;
//! - the two links that mean "the caller", `/proc/self` and
//!   `/proc/thread-self` ([`SelfLink`], [`ViaSelf`]), and the way back from
//!   the canonical `/proc/<pid>/...` and `/proc/<pid>/task/<tid>/...` of a
//!   requester to `/proc/self/...`, which is how policies name it
//!   ([`to_self`]);
//! - the ` (deleted)` the kernel appends to the `/proc/<pid>/fd/N` (or
//!   `exe`, `cwd`) link of an unlinked object ([`maybe_deleted`]);
//! - `PATH_MAX`;
//! - the lines of `/proc/<pid>/status` ([`status_value`], [`status_tgid`],
//!   [`status_ppid`]) and the fields of `/proc/<pid>/stat` ([`stat_fields`],
//!   [`stat_ppid`]).
//!
//! The broker, `explain`, learn mode and the policy lint all read `/proc`
//! paths through these functions, so that they agree on what a path means.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Components, Path, PathBuf};

/// Longest path the kernel accepts, terminating NUL included (`PATH_MAX`).
pub const PATH_MAX: usize = 4096;

/// Suffix the kernel appends to the `/proc/<pid>/fd/N` link of an unlinked
/// object.
pub const DELETED_SUFFIX: &[u8] = b" (deleted)";

/// Whether the text of a `/proc/<pid>/fd/N`, `exe` or `cwd` link may name an
/// unlinked object: it ends in [`DELETED_SUFFIX`]. A file really named so
/// ends the same way; only a look at the object itself can tell them apart.
///
/// ```
/// use fdbroker::procfs::maybe_deleted;
/// assert!(maybe_deleted(b"/tmp/x (deleted)"));
/// assert!(!maybe_deleted(b"/tmp/x"));
/// ```
pub fn maybe_deleted(link: &[u8]) -> bool {
    link.ends_with(DELETED_SUFFIX)
}

/// Whether `path` is `/proc` or lies below it, as written (no resolution).
///
/// ```
/// use std::path::Path;
/// use fdbroker::procfs::in_proc;
/// assert!(in_proc(Path::new("/proc")));
/// assert!(in_proc(Path::new("/proc/self/status")));
/// assert!(!in_proc(Path::new("/procfs")));
/// ```
pub fn in_proc(path: &Path) -> bool {
    let b = path.as_os_str().as_bytes();
    b == b"/proc" || b.starts_with(b"/proc/")
}

/// `/proc/<digits>` or a path below it, split into the digits and the rest
/// (empty, or starting with `/`); `None` for any other path. The digits are
/// as written: [`names_pid`] says whether they are a given pid.
///
/// ```
/// use std::path::Path;
/// use fdbroker::procfs::split_pid;
/// assert_eq!(split_pid(Path::new("/proc/42/fd/3")), Some((&b"42"[..], &b"/fd/3"[..])));
/// assert_eq!(split_pid(Path::new("/proc/42")), Some((&b"42"[..], &b""[..])));
/// assert_eq!(split_pid(Path::new("/proc/self/fd")), None);
/// assert_eq!(split_pid(Path::new("/proc/42x")), None);
/// ```
pub fn split_pid(path: &Path) -> Option<(&[u8], &[u8])> {
    let in_proc = path.as_os_str().as_bytes().strip_prefix(b"/proc/")?;
    let digits = in_proc.iter().take_while(|c| c.is_ascii_digit()).count();
    let (pid, rest) = in_proc.split_at(digits);
    (digits > 0 && (rest.is_empty() || rest.starts_with(b"/"))).then_some((pid, rest))
}

/// Whether the `/proc` name `name` is `pid` as procfs writes it (decimal,
/// no leading zero).
///
/// ```
/// use fdbroker::procfs::names_pid;
/// assert!(names_pid(b"42", 42));
/// assert!(!names_pid(b"042", 42));
/// assert!(!names_pid(b"421", 42));
/// ```
pub fn names_pid(name: &[u8], pid: u32) -> bool {
    let mut buf = [0u8; 10];
    name == decimal(pid, &mut buf)
}

/// One of the two procfs links that name the process looking at them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SelfLink {
    /// `/proc/self`: the caller's process (thread group), `/proc/<pid>`.
    Process,
    /// `/proc/thread-self`: the calling thread, `/proc/<pid>/task/<tid>`.
    Thread,
}

impl SelfLink {
    /// The link's own path.
    pub fn path(self) -> &'static Path {
        Path::new(match self {
            SelfLink::Process => "/proc/self",
            SelfLink::Thread => "/proc/thread-self",
        })
    }

    /// What the link reads as for the process `pid`, taken as its own main
    /// thread (whose tid is the pid): `<pid>` or `<pid>/task/<pid>`, relative
    /// to `/proc`.
    ///
    /// ```
    /// use fdbroker::procfs::SelfLink;
    /// assert_eq!(SelfLink::Process.target(42), "42");
    /// assert_eq!(SelfLink::Thread.target(42), "42/task/42");
    /// ```
    pub fn target(self, pid: u32) -> String {
        match self {
            SelfLink::Process => pid.to_string(),
            SelfLink::Thread => format!("{pid}/task/{pid}"),
        }
    }
}

/// A path that starts with `/proc/self` or `/proc/thread-self`, read by
/// components (so `//proc/./self` counts; `/proc/selfish` does not).
///
/// ```
/// use std::path::{Path, PathBuf};
/// use fdbroker::procfs::{SelfLink, ViaSelf};
/// let v = ViaSelf::parse(Path::new("/proc/thread-self/fd/")).unwrap();
/// assert_eq!(v.link(), SelfLink::Thread);
/// assert_eq!(v.for_pid(42), PathBuf::from("/proc/42/task/42/fd/"));
/// assert!(ViaSelf::parse(Path::new("/proc/1/fd")).is_none());
/// ```
#[derive(Debug, Clone)]
pub struct ViaSelf<'a> {
    link: SelfLink,
    /// The components after the link.
    rest: Components<'a>,
    /// The path ends in `/`, which components do not show.
    trailing_slash: bool,
}

impl<'a> ViaSelf<'a> {
    /// `Some` when `path` (absolute) goes through `/proc/self` or
    /// `/proc/thread-self`.
    pub fn parse(path: &'a Path) -> Option<ViaSelf<'a>> {
        let mut comps = path.components();
        if comps.next() != Some(Component::RootDir)
            || comps.next() != Some(Component::Normal(OsStr::new("proc")))
        {
            return None;
        }
        let link = match comps.next() {
            Some(Component::Normal(c)) if c == "self" => SelfLink::Process,
            Some(Component::Normal(c)) if c == "thread-self" => SelfLink::Thread,
            _ => return None,
        };
        Some(ViaSelf {
            link,
            rest: comps,
            trailing_slash: path.as_os_str().as_bytes().ends_with(b"/"),
        })
    }

    /// Which link the path goes through.
    pub fn link(&self) -> SelfLink {
        self.link
    }

    /// Whether the path is the link itself: nothing after it, not even a
    /// `/` (which would follow it).
    pub fn is_link_itself(&self) -> bool {
        !self.trailing_slash && self.rest.clone().next().is_none()
    }

    /// The descriptor number `N` when the path is the requester's own
    /// `fd/N` link (`/proc/self/fd/N`, `/proc/thread-self/fd/N`).
    ///
    /// ```
    /// use std::path::Path;
    /// use fdbroker::procfs::ViaSelf;
    /// let fd = |p: &str| ViaSelf::parse(Path::new(p)).and_then(|v| v.own_fd());
    /// assert_eq!(fd("/proc/self/fd/3"), Some(3));
    /// assert_eq!(fd("/proc/thread-self/fd/12"), Some(12));
    /// assert_eq!(fd("/proc/self/fd/3/"), None);
    /// assert_eq!(fd("/proc/self/fd/x"), None);
    /// assert_eq!(fd("/proc/self/fdinfo/3"), None);
    /// ```
    pub fn own_fd(&self) -> Option<i32> {
        let mut rest = self.rest.clone();
        let (Some(Component::Normal(dir)), Some(Component::Normal(n)), None) =
            (rest.next(), rest.next(), rest.next())
        else {
            return None;
        };
        let n = n.to_str()?;
        if dir != "fd" || self.trailing_slash || !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        n.parse().ok()
    }

    /// The same path through the process `pid`'s own entry: `/proc/<pid>`
    /// for `/proc/self`, `/proc/<pid>/task/<pid>` for `/proc/thread-self`
    /// (the main thread: the requester's calling thread is not known). The
    /// rest is joined by single `/`s, `.` dropped, `..` kept; a trailing `/`
    /// stays.
    pub fn for_pid(self, pid: u32) -> PathBuf {
        let mut out = b"/proc/".to_vec();
        out.extend_from_slice(self.link.target(pid).as_bytes());
        for c in self.rest {
            out.push(b'/');
            out.extend_from_slice(c.as_os_str().as_bytes());
        }
        if self.trailing_slash {
            out.push(b'/');
        }
        PathBuf::from(OsString::from_vec(out))
    }
}

/// Writes the canonical `/proc/<pid>` and `/proc/<pid>/task/<tid>` of the
/// requester `pid` as `/proc/self`, as policies name them; every other path,
/// and every path when the requester is not known, is returned as it is.
///
/// ```
/// use std::path::{Path, PathBuf};
/// use fdbroker::procfs::to_self;
/// assert_eq!(to_self(PathBuf::from("/proc/42/task/43/fd"), Some(42)), Path::new("/proc/self/fd"));
/// assert_eq!(to_self(PathBuf::from("/proc/43/fd"), Some(42)), Path::new("/proc/43/fd"));
/// ```
pub fn to_self(path: PathBuf, pid: Option<u32>) -> PathBuf {
    let Some(pid) = pid else {
        return path;
    };
    let mut rest = match split_pid(&path) {
        Some((digits, rest)) if names_pid(digits, pid) => rest,
        _ => return path,
    };
    if let Some(t) = rest.strip_prefix(b"/task/") {
        let digits = t.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits > 0 && (t.len() == digits || t[digits] == b'/') {
            rest = &t[digits..];
        }
    }
    let mut out = Vec::with_capacity(10 + rest.len());
    out.extend_from_slice(b"/proc/self");
    out.extend_from_slice(rest);
    PathBuf::from(OsString::from_vec(out))
}

/// The `Tgid:` of a `/proc/<tid>/status` text: the process the thread
/// belongs to.
///
/// ```
/// use fdbroker::procfs::status_tgid;
/// assert_eq!(status_tgid(b"Name:\tx\nTgid:\t1234\nPid:\t1240\n"), Some(1234));
/// ```
pub fn status_tgid(status: &[u8]) -> Option<u32> {
    status_value(status, "Tgid")?.parse().ok()
}

/// The `PPid:` of a `/proc/<pid>/status` text: the parent process.
///
/// ```
/// use fdbroker::procfs::status_ppid;
/// assert_eq!(status_ppid(b"Tgid:\t1234\nPPid:\t1\n"), Some(1));
/// ```
pub fn status_ppid(status: &[u8]) -> Option<u32> {
    status_value(status, "PPid")?.parse().ok()
}

/// The value of the first `key:` line of a `/proc/<pid>/status` text,
/// trimmed.
///
/// ```
/// use fdbroker::procfs::status_value;
/// assert_eq!(status_value(b"Name:\tx\nVmHWM:\t  1234 kB\n", "VmHWM"), Some("1234 kB"));
/// ```
pub fn status_value<'a>(status: &'a [u8], key: &str) -> Option<&'a str> {
    let value = status
        .split(|&c| c == b'\n')
        .find_map(|line| line.strip_prefix(key.as_bytes())?.strip_prefix(b":"))?;
    std::str::from_utf8(value).ok().map(str::trim)
}

/// The fields of a `/proc/<pid>/stat` line after `(comm)` (which may itself
/// contain spaces and parentheses): `state`, `ppid`, ... (fields 3 and on
/// in proc(5)).
///
/// ```
/// use fdbroker::procfs::stat_fields;
/// let mut f = stat_fields(b"123 (a b) c) S 45 123").unwrap();
/// assert_eq!((f.next(), f.next()), (Some("S"), Some("45")));
/// ```
pub fn stat_fields(stat: &[u8]) -> Option<std::str::SplitAsciiWhitespace<'_>> {
    let after = stat.iter().rposition(|&c| c == b')')?;
    let rest = std::str::from_utf8(stat.get(after + 1..)?).ok()?;
    Some(rest.split_ascii_whitespace())
}

/// The parent pid field of a `/proc/<pid>/stat` line.
///
/// ```
/// use fdbroker::procfs::stat_ppid;
/// assert_eq!(stat_ppid(b"123 (a b) c) S 45 123 123 0"), Some(45));
/// ```
pub fn stat_ppid(stat: &[u8]) -> Option<u32> {
    stat_fields(stat)?.nth(1)?.parse().ok()
}

/// `n` in decimal, in `buf` (a `u32` has at most 10 digits).
fn decimal(mut n: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[start..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        let mut b = [0u8; 10];
        for n in [0, 7, 10, 42, 4_000_000, u32::MAX] {
            assert_eq!(decimal(n, &mut b), n.to_string().as_bytes());
        }
    }

    #[test]
    fn pids_in_paths() {
        fn s(p: &str) -> Option<(&[u8], &[u8])> {
            split_pid(Path::new(p))
        }
        assert_eq!(s("/proc/1"), Some((&b"1"[..], &b""[..])));
        assert_eq!(s("/proc/1/"), Some((&b"1"[..], &b"/"[..])));
        assert_eq!(s("/proc/1/environ"), Some((&b"1"[..], &b"/environ"[..])));
        for other in [
            "/proc",
            "/proc/",
            "/proc/self/environ",
            "/proc/1x",
            "/proc/sys/kernel",
            "/srv/proc/1",
        ] {
            assert_eq!(s(other), None, "{other}");
        }
        assert!(names_pid(b"0", 0));
        assert!(names_pid(b"4294967295", u32::MAX));
        assert!(!names_pid(b"", 0));
        assert!(!names_pid(b"4", 42));
    }

    #[test]
    fn through_self() {
        // The rewriting itself is pinned where requests use it (ops::prepare).
        let p = |s: &str, pid| ViaSelf::parse(Path::new(s)).map(|v| v.for_pid(pid));
        assert_eq!(
            p("/proc/thread-self", 42),
            Some(PathBuf::from("/proc/42/task/42"))
        );
        assert_eq!(
            p("//proc/./self//x/", 42),
            Some(PathBuf::from("/proc/42/x/"))
        );
        for other in [
            "/proc/selfish",
            "/proc/1/fd",
            "/etc/self",
            "proc/self",
            "/proc",
        ] {
            assert_eq!(p(other, 1), None, "{other}");
        }
        let itself = |s: &str| ViaSelf::parse(Path::new(s)).map(|v| (v.link(), v.is_link_itself()));
        assert_eq!(itself("/proc/self"), Some((SelfLink::Process, true)));
        assert_eq!(itself("/proc/thread-self"), Some((SelfLink::Thread, true)));
        assert_eq!(itself("/proc/self/"), Some((SelfLink::Process, false)));
        assert_eq!(
            itself("/proc/thread-self/fd"),
            Some((SelfLink::Thread, false))
        );
        assert_eq!(SelfLink::Thread.path(), Path::new("/proc/thread-self"));
        assert_eq!(SelfLink::Process.path(), Path::new("/proc/self"));
    }

    #[test]
    fn to_self_rewrites_own_pid_only() {
        let t = |s: &str, pid| to_self(PathBuf::from(s), pid);
        assert_eq!(t("/proc/42/fd/3", Some(42)), Path::new("/proc/self/fd/3"));
        assert_eq!(t("/proc/42", Some(42)), Path::new("/proc/self"));
        assert_eq!(
            t("/proc/42/task/43/fd", Some(42)),
            Path::new("/proc/self/fd")
        );
        assert_eq!(t("/proc/42/task/43", Some(42)), Path::new("/proc/self"));
        assert_eq!(t("/proc/42/task", Some(42)), Path::new("/proc/self/task"));
        assert_eq!(
            t("/proc/42/task/x", Some(42)),
            Path::new("/proc/self/task/x")
        );
        assert_eq!(t("/proc/421/fd", Some(42)), Path::new("/proc/421/fd"));
        assert_eq!(t("/proc/4/fd", Some(42)), Path::new("/proc/4/fd"));
        assert_eq!(t("/proc/42/fd", None), Path::new("/proc/42/fd"));
        assert_eq!(t("/tmp/proc/42", Some(42)), Path::new("/tmp/proc/42"));
    }

    /// The round trip the broker and `explain` both rely on: whatever a
    /// request names through `/proc/self` or `/proc/thread-self`, once the
    /// kernel has resolved it to `/proc/<pid>/...` or
    /// `/proc/<pid>/task/<tid>/...`, is judged as `/proc/self/...`.
    #[test]
    fn self_links_round_trip_to_proc_self() {
        for (req, judged) in [
            ("/proc/self", "/proc/self"),
            ("/proc/self/status", "/proc/self/status"),
            ("/proc/thread-self", "/proc/self"),
            ("/proc/thread-self/status", "/proc/self/status"),
            ("/proc/self/task", "/proc/self/task"),
        ] {
            let Some(v) = ViaSelf::parse(Path::new(req)) else {
                panic!("{req} goes through a self link");
            };
            assert_eq!(to_self(v.for_pid(42), Some(42)), Path::new(judged), "{req}");
        }
        // Another thread of the same process (what the kernel shows for the
        // caller's /proc/thread-self when it is not the main thread).
        assert_eq!(
            to_self(PathBuf::from("/proc/42/task/57/status"), Some(42)),
            Path::new("/proc/self/status")
        );
    }

    #[test]
    fn deleted_links() {
        assert!(maybe_deleted(b"/tmp/x (deleted)"));
        assert!(maybe_deleted(b" (deleted)"));
        assert!(!maybe_deleted(b"/tmp/x (deleted)/y"));
        assert!(!maybe_deleted(b"/tmp/x(deleted)"));
    }

    #[test]
    fn status_and_stat_fields() {
        assert_eq!(
            status_tgid(b"Name:\tx\nTgid:\t1234\nPid:\t1240\n"),
            Some(1234)
        );
        assert_eq!(status_tgid(b"Name:\tx\n"), None);
        assert_eq!(status_tgid(b"Tgid:\tzz\n"), None);
        assert_eq!(
            status_ppid(b"Name:\tx\nTgid:\t1234\nPid:\t1240\nPPid:\t1\n"),
            Some(1)
        );
        assert_eq!(status_ppid(b"Pid:\t1\n"), None);
        assert_eq!(
            status_value(b"VmHWMx:\t1\nVmHWM:\t2 kB\n", "VmHWM"),
            Some("2 kB")
        );
        assert_eq!(status_value(b"VmHWM:\t\xff\n", "VmHWM"), None);
        assert_eq!(stat_ppid(b"123 (a b) c) S 45 123 123 0"), Some(45));
        assert_eq!(stat_ppid(b"123 (x"), None);
        assert_eq!(stat_ppid(b""), None);
        let stat = b"7 (x) S 1 7 7 0 -1 4194560 100 0 0 0 25 13 0 0 20 0 1\n";
        let f: Vec<&str> = stat_fields(stat).unwrap().collect();
        assert_eq!((f[0], f[1], f[11], f[12]), ("S", "1", "25", "13"));
    }
}
