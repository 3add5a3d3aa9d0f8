//! A policy made of several sources: policy files, built-in profiles named
//! on the command line and per-run grants (`fdbroker run --policy FILE...
//! --profile NAME... --read PATH... --write PATH...`).

use std::path::{Path, PathBuf};

use super::load::Loader;
use super::{Grant, GrantKind, Policy, PolicyError, PolicyVars};

/// What [`Policy::compose`] builds a policy of.
///
/// Rules are in this order: each file's (with its includes and profiles,
/// as [`Policy::from_file`] loads them), then each profile's, then the
/// grants'. `network`, `[limits]` and `[env]` combine as includes do.
///
/// ```
/// use std::path::Path;
/// use fdbroker::policy::{Access, Grant, Policy, Sources};
///
/// let sources = Sources::new()
///     .profile("runtime")
///     .grant(Grant::write(Path::new("/proc/out"))?);
/// let policy = Policy::compose(&sources)?;
/// assert_eq!(policy.profiles(), &["runtime"]);
/// let d = policy.decide(Path::new("/proc/out/a.txt"), Access::CREATE);
/// assert_eq!(d.reason(), "allowed by --write /proc/out");
/// assert!(!policy.decide(Path::new("/proc/other"), Access::READ).allowed);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Sources {
    files: Vec<PathBuf>,
    profiles: Vec<String>,
    grants: Vec<Grant>,
    tmpdir: Option<PathBuf>,
    vars: Option<PolicyVars>,
}

impl Sources {
    /// Nothing yet: a policy of no rule.
    pub fn new() -> Sources {
        Sources::default()
    }

    /// Add the policy file at `path` (`--policy FILE`).
    pub fn file(mut self, path: impl Into<PathBuf>) -> Sources {
        self.files.push(path.into());
        self
    }

    /// Add the built-in profile `name` (`--profile NAME`).
    pub fn profile(mut self, name: impl Into<String>) -> Sources {
        self.profiles.push(name.into());
        self
    }

    /// Add a grant (`--read PATH`, `--write PATH`).
    pub fn grant(mut self, grant: Grant) -> Sources {
        self.grants.push(grant);
        self
    }

    /// The run's private temporary directory (absolute and canonical): it
    /// is granted like `--write`, and it is the program's `TMPDIR` and
    /// `HOME` unless the environment settings name others.
    ///
    /// # Errors
    ///
    /// [`super::GrantError::NotUtf8`] when `dir` cannot be written in a policy.
    pub fn private_tmp(mut self, dir: &Path) -> Result<Sources, super::GrantError> {
        self.grants
            .push(Grant::canonical(GrantKind::Write, dir.to_path_buf())?);
        self.tmpdir = Some(dir.to_path_buf());
        Ok(self)
    }

    /// Expand the pattern variables of the files and profiles with `vars`
    /// (the run's); without, with fdbroker's own
    /// ([`PolicyVars::from_process`]).
    pub fn vars(mut self, vars: PolicyVars) -> Sources {
        self.vars = Some(vars);
        self
    }

    /// The policy files, in order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// The profiles named, in order.
    pub fn profiles(&self) -> &[String] {
        &self.profiles
    }

    /// The grants, in order (the private temporary directory's included).
    pub fn grants(&self) -> &[Grant] {
        &self.grants
    }

    /// The run's private temporary directory, when there is one: the value
    /// of the program's `TMPDIR` (and `HOME`, unless set otherwise).
    pub fn tmpdir(&self) -> Option<&Path> {
        self.tmpdir.as_deref()
    }

    /// Whether any source is given.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.profiles.is_empty() && self.grants.is_empty()
    }
}

impl Policy {
    /// Reads and compiles a policy made of several `sources`.
    ///
    /// # Errors
    ///
    /// As [`Policy::from_file`] for each file; [`PolicyError::UnknownProfile`]
    /// for a profile name that is not built in.
    pub fn compose(sources: &Sources) -> Result<Policy, PolicyError> {
        let vars = sources
            .vars
            .clone()
            .unwrap_or_else(PolicyVars::from_process);
        let mut loader = Loader::new(vars);
        for file in &sources.files {
            loader.load_file(file)?;
        }
        for name in &sources.profiles {
            loader.load_profile(name)?;
        }
        for grant in &sources.grants {
            loader.add_grant(grant)?;
        }
        let origin = sources
            .files
            .first()
            .map_or_else(|| Path::new("<command line>"), PathBuf::as_path);
        Policy::from_loaded(loader.finish(), origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Access;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn files_profiles_and_grants_combine() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let a = write(
            &root,
            "a.toml",
            "version = 1\nnetwork = true\n[limits]\nmemory = \"1G\"\n[env]\nset = { A = \"1\" }\n\
             [[deny]]\npaths = [\"/srv/out/secret/**\"]\n",
        );
        let b = write(
            &root,
            "b.toml",
            "version = 1\n[limits]\nmemory = \"256M\"\n[env]\nset = { B = \"2\" }\n\
             [[allow]]\npaths = [\"/srv/in/**\"]\naccess = [\"read\"]\n",
        );
        std::fs::create_dir(root.join("out")).unwrap();
        let out = Grant::write(&root.join("out")).unwrap();
        let new = Grant::write(&root.join("out/new")).unwrap();
        let p = Policy::compose(
            &Sources::new()
                .file(&a)
                .file(&b)
                .file(&a)
                .profile("runtime")
                .grant(out.clone())
                .grant(new),
        )
        .unwrap();
        assert_eq!(p.files(), &[a.clone(), b.clone()]);
        assert_eq!(p.profiles(), &["runtime"]);
        assert!(p.network());
        assert_eq!(p.limits().memory, Some(256 << 20));
        let set: Vec<_> = p.env().set().map(|(n, v, _)| (n, v)).collect();
        assert_eq!(set, [("A", "1"), ("B", "2")]);
        let d = p.decide(
            &root.join("out/x/y"),
            Access::CREATE | Access::WRITE | Access::REMOVE,
        );
        assert_eq!(
            d.reason(),
            format!("allowed by --write {}", root.join("out").display())
        );
        assert!(!p.decide(&root.join("out/x"), Access::EXEC).allowed);
        assert!(!p.decide(&root.join("outside"), Access::READ).allowed);
        assert_eq!(
            p.decide(Path::new("/srv/in/f"), Access::READ).reason(),
            format!("allowed by {}:6", b.display())
        );
        assert!(
            p.decide(Path::new("/etc/ld.so.cache"), Access::READ)
                .allowed
        );
        let rule = p.rules().find(|r| r.origin().is_grant()).unwrap();
        assert_eq!(
            rule.patterns(),
            [format!("{}/**", root.join("out").display())]
        );
    }

    #[test]
    fn deny_rules_apply_to_grants() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let deny = format!(
            "version = 1\n[[deny]]\npaths = [\"{}/out/secret\"]\naccess = [\"write\"]\n",
            root.display()
        );
        let a = write(&root, "a.toml", &deny);
        std::fs::create_dir(root.join("out")).unwrap();
        let p = Policy::compose(
            &Sources::new()
                .file(&a)
                .grant(Grant::write(&root.join("out")).unwrap()),
        )
        .unwrap();
        let d = p.decide(&root.join("out/secret"), Access::WRITE);
        assert_eq!(d.reason(), format!("denied by {}:2", a.display()));
        assert!(p.decide(&root.join("out/secret"), Access::READ).allowed);
    }

    #[test]
    fn grants_escape_wildcards() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir(root.join("a*[b]")).unwrap();
        let p = Policy::compose(&Sources::new().grant(Grant::read(&root.join("a*[b]")).unwrap()))
            .unwrap();
        assert!(p.decide(&root.join("a*[b]/f"), Access::READ).allowed);
        assert!(!p.decide(&root.join("ax[b]/f"), Access::READ).allowed);
        assert!(!p.decide(&root.join("a*[b]/f"), Access::WRITE).allowed);
    }

    #[test]
    fn bad_sources_are_errors() {
        let e = Policy::compose(&Sources::new().profile("nope")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("--profile nope: unknown profile; built-in profiles: runtime"),
            "{e}"
        );
        let e = Policy::compose(&Sources::new().file("/no/such.toml")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/no/such.toml: cannot read policy file"),
            "{e}"
        );
        let e = Grant::read(Path::new("/no/such/in.pdf")).unwrap_err();
        assert!(e.to_string().starts_with("--read /no/such/in.pdf: "), "{e}");
        let e = Grant::write(Path::new("/no/such/out")).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "--write /no/such/out: it does not exist, nor does its directory /no/such:"
            ),
            "{e}"
        );
        // An empty composition allows nothing.
        let p = Policy::compose(&Sources::new()).unwrap();
        assert!(!p.decide(Path::new("/"), Access::STAT).allowed);
        assert!(p.files().is_empty());
    }

    #[test]
    fn relative_grants_are_resolved_against_the_working_directory() {
        let cwd = std::env::current_dir().unwrap();
        let g = Grant::read(Path::new("Cargo.toml")).unwrap();
        assert_eq!(
            g.path(),
            std::fs::canonicalize(cwd.join("Cargo.toml")).unwrap()
        );
        let g = Grant::write(Path::new("no-such-output-dir")).unwrap();
        assert_eq!(
            g.path(),
            std::fs::canonicalize(&cwd)
                .unwrap()
                .join("no-such-output-dir")
        );
        assert_eq!(g.access(), crate::policy::WRITE_RIGHTS);
    }
}
