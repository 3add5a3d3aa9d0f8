//! The program's environment: not fdbroker's, which may hold credentials,
//! tokens and agent sockets, but a minimal one ([`DEFAULT_KEEP`] from
//! fdbroker's environment, `HOME` and `TMPDIR`: the run's private temporary
//! directory), plus what the policy's
//! `[env]` table and the command line (`--keep-env`, `--setenv`) ask for.
//! `FDBROKER_FD` is added by the child ([`crate::launch::FD_ENV`]).
//!
//! Later layers win: the defaults, then the policy's `keep`, the policy's
//! `set`, `--keep-env`, and `--setenv` last (the command line is trusted
//! more than a policy file it names). A kept name that fdbroker's
//! environment lacks changes nothing.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::launch::FD_ENV;
use crate::policy::{EnvError, EnvTable, NamePattern, check_env_name};

/// The variables passed on from fdbroker's environment by default, when
/// set: the command search path, the locale, the time zone, the terminal type.
pub const DEFAULT_KEEP: &[&str] = &["PATH", "LANG", "LANGUAGE", "LC_*", "TZ", "TERM"];

/// `HOME` without a private temporary directory (`fdbroker run` always
/// makes one): where nothing is, the convention for accounts without a
/// home directory (Debian's `nobody`). The caller's home is not the
/// program's, and its name alone says who ran it.
pub const DEFAULT_HOME: &str = "/nonexistent";

/// `TMPDIR` without a private temporary directory (`fdbroker run` always
/// makes one): the directory programs use when it is unset anyway; the
/// program can create files there only when the policy grants it.
pub const DEFAULT_TMPDIR: &str = "/tmp";

/// What the command line adds to the environment (`--keep-env`, `--setenv`).
#[derive(Debug, Clone, Default)]
pub(super) struct EnvOptions {
    pub(super) keep: Vec<NamePattern>,
    pub(super) set: Vec<(String, OsString)>,
}

/// The program's environment, sorted by name, without `FDBROKER_FD` (which
/// cannot be set, and is never kept). `tmp`, the run's private temporary
/// directory, is the default `HOME` and `TMPDIR` when there is one.
pub(super) fn program_env(
    policy: &EnvTable,
    opts: &EnvOptions,
    tmp: Option<&Path>,
    outer: impl IntoIterator<Item = (OsString, OsString)>,
) -> Result<Vec<(OsString, OsString)>, EnvError> {
    let outer: Vec<(OsString, OsString)> = outer
        .into_iter()
        .filter(|(k, _)| k.as_bytes() != FD_ENV.as_bytes())
        .collect();
    let mut env: BTreeMap<OsString, OsString> = BTreeMap::new();
    let keep = |env: &mut BTreeMap<OsString, OsString>, pattern: &NamePattern| {
        for (k, v) in outer.iter().filter(|(k, _)| pattern.matches(k.as_bytes())) {
            env.insert(k.clone(), v.clone());
        }
    };
    for name in DEFAULT_KEEP {
        keep(&mut env, &NamePattern::parse(name)?);
    }
    let home = tmp.map_or_else(|| OsString::from(DEFAULT_HOME), |t| t.as_os_str().into());
    let tmpdir = tmp.map_or_else(|| OsString::from(DEFAULT_TMPDIR), |t| t.as_os_str().into());
    env.insert("HOME".into(), home);
    env.insert("TMPDIR".into(), tmpdir);
    for (pattern, _) in policy.keep() {
        keep(&mut env, pattern);
    }
    for (name, value, _) in policy.set() {
        env.insert(name.into(), value.into());
    }
    for pattern in &opts.keep {
        keep(&mut env, pattern);
    }
    for (name, value) in &opts.set {
        check_env_name(name)?;
        if value.as_bytes().contains(&0) {
            return Err(EnvError::NulInValue(name.clone()));
        }
        env.insert(name.into(), value.clone());
    }
    Ok(env.into_iter().collect())
}

/// Splits `NAME=VALUE` (the first `=` ends the name) and checks the name.
///
/// ```
/// use fdbroker::sandbox::parse_setenv;
/// assert_eq!(parse_setenv("A=b=c".as_ref()).unwrap(), ("A".to_string(), "b=c".into()));
/// assert!(parse_setenv("A".as_ref()).is_err());
/// assert!(parse_setenv("FDBROKER_FD=3".as_ref()).is_err());
/// ```
pub fn parse_setenv(arg: &OsStr) -> Result<(String, OsString), String> {
    let bytes = arg.as_bytes();
    let Some(eq) = bytes.iter().position(|&b| b == b'=') else {
        return Err(format!("`{}`: expected NAME=VALUE", arg.to_string_lossy()));
    };
    let name = String::from_utf8_lossy(&bytes[..eq]).into_owned();
    check_env_name(&name).map_err(|e| e.to_string())?;
    Ok((name, OsStr::from_bytes(&bytes[eq + 1..]).to_os_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    fn vars(list: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        list.iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    fn names(env: &[(OsString, OsString)]) -> Vec<String> {
        env.iter()
            .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
            .collect()
    }

    const OUTER: &[(&str, &str)] = &[
        ("PATH", "/usr/bin:/bin"),
        ("HOME", "/home/me"),
        ("LC_ALL", "C.UTF-8"),
        ("AWS_SECRET_ACCESS_KEY", "s3cr3t"),
        ("SSH_AUTH_SOCK", "/run/user/1000/ssh"),
        ("PYTHONPATH", "/opt/py"),
        ("FDBROKER_FD", "9"),
        ("TERM", "xterm"),
    ];

    #[test]
    fn the_default_is_minimal() {
        let env = program_env(
            &EnvTable::default(),
            &EnvOptions::default(),
            None,
            vars(OUTER),
        );
        assert_eq!(
            names(&env.unwrap()),
            [
                "HOME=/nonexistent",
                "LC_ALL=C.UTF-8",
                "PATH=/usr/bin:/bin",
                "TERM=xterm",
                "TMPDIR=/tmp"
            ]
        );
    }

    #[test]
    fn the_private_tmp_is_home_and_tmpdir_unless_set() {
        let tmp = Path::new("/tmp/fdbroker-run.AbC123");
        let env = program_env(
            &EnvTable::default(),
            &EnvOptions::default(),
            Some(tmp),
            vars(OUTER),
        );
        assert_eq!(
            names(&env.unwrap()),
            [
                "HOME=/tmp/fdbroker-run.AbC123",
                "LC_ALL=C.UTF-8",
                "PATH=/usr/bin:/bin",
                "TERM=xterm",
                "TMPDIR=/tmp/fdbroker-run.AbC123"
            ]
        );
        let policy = Policy::parse(
            "version = 1\n[env]\nset = { TMPDIR = \"/srv/tmp\" }\n",
            Path::new("p.toml"),
        )
        .unwrap();
        let opts = EnvOptions {
            keep: vec![],
            set: vec![("HOME".into(), "/srv/home".into())],
        };
        let env = program_env(policy.env(), &opts, Some(tmp), vars(OUTER)).unwrap();
        let names = names(&env);
        assert!(names.contains(&"HOME=/srv/home".to_string()), "{names:?}");
        assert!(names.contains(&"TMPDIR=/srv/tmp".to_string()), "{names:?}");
    }

    #[test]
    fn layers_policy_then_command_line() {
        let policy = Policy::parse(
            "version = 1\n[env]\nkeep = [\"PYTHON*\", \"HOME\", \"FDBROKER_*\"]\nset = { TMPDIR = \"/srv/tmp\", X = \"policy\" }\n",
            Path::new("p.toml"),
        )
        .unwrap();
        let opts = EnvOptions {
            keep: vec![NamePattern::parse("SSH_*").unwrap()],
            set: vec![("X".into(), "cli".into()), ("Y".into(), "".into())],
        };
        let env = program_env(policy.env(), &opts, None, vars(OUTER)).unwrap();
        assert_eq!(
            names(&env),
            [
                "HOME=/home/me",
                "LC_ALL=C.UTF-8",
                "PATH=/usr/bin:/bin",
                "PYTHONPATH=/opt/py",
                "SSH_AUTH_SOCK=/run/user/1000/ssh",
                "TERM=xterm",
                "TMPDIR=/srv/tmp",
                "X=cli",
                "Y="
            ]
        );
        // Everything, as before: `--keep-env '*'`, still without FDBROKER_FD.
        let all = EnvOptions {
            keep: vec![NamePattern::parse("*").unwrap()],
            set: vec![],
        };
        let env = program_env(&EnvTable::default(), &all, None, vars(OUTER)).unwrap();
        // All but FDBROKER_FD, and TMPDIR.
        assert_eq!(env.len(), OUTER.len(), "{:?}", names(&env));
        assert!(!names(&env).iter().any(|v| v.starts_with("FDBROKER_FD")));
    }

    #[test]
    fn bad_settings_are_errors() {
        let set = |name: &str, value: &[u8]| EnvOptions {
            keep: vec![],
            set: vec![(name.into(), OsStr::from_bytes(value).into())],
        };
        let run = |o: &EnvOptions| program_env(&EnvTable::default(), o, None, vars(OUTER));
        assert_eq!(
            run(&set("FDBROKER_FD", b"3")).unwrap_err(),
            EnvError::Reserved("FDBROKER_FD".into())
        );
        assert_eq!(
            run(&set("A", b"x\0y")).unwrap_err(),
            EnvError::NulInValue("A".into())
        );
        assert!(matches!(
            run(&set("A=B", b"")).unwrap_err(),
            EnvError::BadName { .. }
        ));
        assert_eq!(
            parse_setenv(OsStr::from_bytes(b"V=\xff")).unwrap().1,
            OsStr::from_bytes(b"\xff")
        );
    }
}
