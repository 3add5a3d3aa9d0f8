//! How a learned policy writes a path: below the learning run's `HOME`,
//! `TMPDIR` or working directory as `${HOME}/...`, `${TMPDIR}/...`,
//! `${CWD}/...`, and the random part of a name the program made as a glob
//! (`/var/tmp/magick-*`), so that the policy fits the next run.

use std::path::{Component, Path, PathBuf};

use super::tempname::generalise_name;
use crate::policy::{Access, PolicyVars, escape_into, literal_pattern};

/// Directories a variable never stands for, nor for anything beneath them:
/// a run started in `/usr/src` does not make `/usr/src/...` `${CWD}/...`.
const SYSTEM: &[&str] = &[
    "/usr",
    "/etc",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/opt",
    "/proc",
    "/sys",
    "/dev",
    "/boot",
    "/var/lib",
    "/var/cache",
    "/snap",
];

/// Writes paths as patterns, with the learning run's variables.
#[derive(Debug, Clone, Default)]
pub(crate) struct Namer {
    /// The variables that may stand for a prefix, longest value first
    /// (`${CWD}` below `${HOME}` is written `${CWD}/...`).
    vars: Vec<(&'static str, PathBuf)>,
}

impl Namer {
    /// A namer for the run whose variables are `vars`. A variable whose
    /// value is `/`, a system directory or not a usable path is not used.
    pub(crate) fn new(vars: &PolicyVars) -> Namer {
        let mut usable: Vec<(&'static str, PathBuf)> = vars
            .iter()
            .filter(|(_, v)| usable(v))
            .map(|(n, v)| (n, v.to_path_buf()))
            .collect();
        // Longest first; equal values keep VARIABLES' order (HOME, TMPDIR,
        // CWD), TMPDIR moved first: a private directory serving as both
        // holds temporary files.
        usable.sort_by_key(|(n, v)| (std::cmp::Reverse(v.as_os_str().len()), *n != "TMPDIR"));
        Namer { vars: usable }
    }

    /// The variables used by `patterns`, with their values in the
    /// learning run, in the order of [`crate::policy::VARIABLES`].
    pub(crate) fn used<'a>(
        &'a self,
        patterns: impl Iterator<Item = &'a str> + Clone,
    ) -> Vec<(&'static str, &'a Path)> {
        let mut out: Vec<(&'static str, &Path)> = self
            .vars
            .iter()
            .filter(|(n, _)| {
                let prefix = format!("${{{n}}}");
                patterns.clone().any(|p| p.starts_with(&prefix))
            })
            .map(|(n, v)| (*n, v.as_path()))
            .collect();
        out.sort_by_key(|(n, _)| crate::policy::VARIABLES.iter().position(|v| v == n));
        out
    }

    /// `path` as a pattern matching exactly it (wildcards escaped), below
    /// a variable when one stands for a prefix. `path` is one that
    /// [`literal_pattern`] accepts.
    pub(crate) fn literal(&self, path: &Path) -> String {
        self.write(path, escape)
    }

    /// `path` as a pattern with the random parts of the names the program
    /// made as globs: each component that `created` says the program
    /// created (the path up to it). `None` when none of them looks random,
    /// or for something executed (a glob would widen `exec`).
    pub(crate) fn temporary(
        &self,
        path: &Path,
        access: Access,
        created: &dyn Fn(&Path) -> bool,
    ) -> Option<String> {
        if access.contains(Access::EXEC) {
            return None;
        }
        let mut changed = false;
        let mut upto = PathBuf::from("/");
        let text = self.write(path, |c| {
            let dir = upto.clone();
            upto.push(c);
            // Never a whole name in a top directory: not `/tmp/*`.
            let glob = created(&upto)
                .then(|| generalise_name(c))
                .flatten()
                .filter(|g| g != "*" || super::writer::globbable_dir(&dir));
            match glob {
                Some(g) => {
                    changed = true;
                    g
                }
                None => escape(c),
            }
        });
        changed.then_some(text)
    }

    /// `path` as `${VAR}` and then, or else `/` and, each component as
    /// `component(name)` writes it; `component` is called for every
    /// component in order, also for those the variable stands for.
    fn write(&self, path: &Path, mut component: impl FnMut(&str) -> String) -> String {
        let var = self.vars.iter().find(|(_, v)| path.starts_with(v));
        let (mut out, skip) = match var {
            Some((n, v)) => (format!("${{{n}}}"), v.components().count()),
            None => (String::new(), 1),
        };
        for (depth, c) in path.components().enumerate() {
            if let Component::Normal(name) = c {
                let written = component(&name.to_string_lossy());
                if depth >= skip {
                    out.push('/');
                    out.push_str(&written);
                }
            }
        }
        if out.is_empty() {
            out.push('/');
        }
        out
    }
}

/// Whether a variable may stand for `value`: an absolute, normalised UTF-8
/// path other than `/`, outside the system directories.
fn usable(value: &Path) -> bool {
    literal_pattern(value).is_some()
        && value != Path::new("/")
        && !SYSTEM.iter().any(|s| value.starts_with(s))
}

/// One component as a literal pattern, its wildcards escaped.
fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    escape_into(&mut out, name);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn namer() -> Namer {
        Namer::new(
            &PolicyVars::none()
                .home("/root")
                .tmpdir("/tmp")
                .cwd("/root/work"),
        )
    }

    #[test]
    fn variables_stand_for_their_directories() {
        let n = namer();
        assert_eq!(n.literal(Path::new("/root/.config/a")), "${HOME}/.config/a");
        assert_eq!(
            n.literal(Path::new("/root/work/in*.txt")),
            "${CWD}/in\\*.txt"
        );
        assert_eq!(n.literal(Path::new("/root/work")), "${CWD}");
        assert_eq!(n.literal(Path::new("/tmp/x")), "${TMPDIR}/x");
        assert_eq!(n.literal(Path::new("/tmpx")), "/tmpx");
        assert_eq!(n.literal(Path::new("/srv/$x")), "/srv/$x");
        assert_eq!(n.literal(Path::new("/srv/${x}")), "/srv/\\${x}");
        assert_eq!(n.literal(Path::new("/")), "/");
        // Not for `/` or system directories; the same value: TMPDIR.
        let n = Namer::new(
            &PolicyVars::none()
                .home("/srv/run.1")
                .tmpdir("/srv/run.1")
                .cwd("/"),
        );
        assert_eq!(n.literal(Path::new("/srv/run.1/a")), "${TMPDIR}/a");
        assert_eq!(n.literal(Path::new("/etc/passwd")), "/etc/passwd");
        let n = Namer::new(&PolicyVars::none().cwd("/usr/src/app"));
        assert_eq!(n.literal(Path::new("/usr/src/app/x")), "/usr/src/app/x");
        let n = namer();
        let used = n.used(["${HOME}/a", "${CWD}", "/x"].into_iter());
        assert_eq!(
            used,
            [
                ("HOME", Path::new("/root")),
                ("CWD", Path::new("/root/work"))
            ]
        );
    }

    #[test]
    fn temporary_names_become_globs() {
        let n = namer();
        let rw = Access::READ | Access::WRITE | Access::CREATE;
        let made = [
            "/tmp/magick-7CjO9H2Jabc",
            "/var/tmp/tmpk3j4h5g6",
            "/srv/a1B2c3/out.aB3dE9",
            "/tmp/7CjO9H2Jabc",
            "/var/tmp/7CjO9H2Jabc",
            "/tmp/output.txt",
        ];
        let created = |p: &Path| made.iter().any(|m| Path::new(m) == p);
        let t = |p: &str, a: Access| n.temporary(Path::new(p), a, &created);
        assert_eq!(
            t("/tmp/magick-7CjO9H2Jabc", rw).as_deref(),
            Some("${TMPDIR}/magick-*")
        );
        // In a directory it made.
        assert_eq!(
            t("/var/tmp/tmpk3j4h5g6/out.txt", Access::READ).as_deref(),
            Some("/var/tmp/tmp*/out.txt")
        );
        // Only what it made: not a random directory made by someone else.
        assert_eq!(
            t("/srv/a1B2c3/out.aB3dE9", rw).as_deref(),
            Some("/srv/a1B2c3/out.*")
        );
        assert_eq!(t("/srv/a1B2c3/other.aB3dE9", Access::READ), None);
        // Nothing random; executed; a whole name in a top directory.
        assert_eq!(t("/tmp/output.txt", rw), None);
        assert_eq!(t("/tmp/magick-7CjO9H2Jabc", Access::EXEC), None);
        assert_eq!(t("/tmp/7CjO9H2Jabc", rw), None);
        assert_eq!(t("/var/tmp/7CjO9H2Jabc", rw).as_deref(), Some("/var/tmp/*"));
    }
}
