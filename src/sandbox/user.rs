//! Who the program runs as: `--user` (a name or a number) resolved to the
//! ids the child switches to when fdbroker is root, and whether fdbroker
//! holds the capabilities that switch needs.

use nix::unistd::{Gid, Uid};

/// The user the program runs as when fdbroker is root and none is given.
pub const DEFAULT_USER: &str = "nobody";

/// Why `--user` names no usable account.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UserError {
    /// Neither a known name nor a number.
    #[error("{0}: no such user")]
    NoSuchUser(String),
    /// Another user than ours, and we are not root.
    #[error("{0}: only root can run the program as another user")]
    NotRoot(String),
    /// The user (or its group) is root.
    #[error(
        "{0}: refusing to run the program as root (uid or gid 0): owner permission bits would apply"
    )]
    Root(String),
}

/// Who the program runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ids {
    pub(super) uid: Uid,
    pub(super) gid: Gid,
}

/// The ids to switch to, or `None` to stay who we are: as root, `spec`
/// (default [`DEFAULT_USER`]), never root itself; otherwise nobody else.
pub(super) fn resolve_user(spec: Option<&str>) -> Result<Option<Ids>, UserError> {
    let me = nix::unistd::geteuid();
    if !me.is_root() {
        return match spec {
            None => Ok(None),
            Some(s) if lookup(s)?.uid == me => Ok(None),
            Some(s) => Err(UserError::NotRoot(s.to_string())),
        };
    }
    let name = spec.unwrap_or(DEFAULT_USER);
    let ids = lookup(name)?;
    if ids.uid.is_root() || ids.gid.as_raw() == 0 {
        return Err(UserError::Root(name.to_string()));
    }
    Ok(Some(ids))
}

/// The capabilities of `CAP_SETUID` and `CAP_SETGID` missing from the
/// effective set: the child needs both to become the program's user, and
/// the broker to open the program's `/proc` files as that user.
pub(super) fn missing_switch_capabilities() -> Vec<&'static str> {
    [
        (caps::Capability::CAP_SETUID, "CAP_SETUID"),
        (caps::Capability::CAP_SETGID, "CAP_SETGID"),
    ]
    .into_iter()
    .filter(|&(cap, _)| !caps::has_cap(None, caps::CapSet::Effective, cap).unwrap_or(false))
    .map(|(_, name)| name)
    .collect()
}

/// A user name or number; a number without an account gets the group of
/// the same number, and `nobody` is 65534 even without an entry.
fn lookup(spec: &str) -> Result<Ids, UserError> {
    if let Ok(n) = spec.parse::<u32>() {
        let uid = Uid::from_raw(n);
        return Ok(match nix::unistd::User::from_uid(uid).ok().flatten() {
            Some(u) => Ids { uid, gid: u.gid },
            None => Ids {
                uid,
                gid: Gid::from_raw(n),
            },
        });
    }
    match nix::unistd::User::from_name(spec) {
        Ok(Some(u)) => Ok(Ids {
            uid: u.uid,
            gid: u.gid,
        }),
        _ if spec == DEFAULT_USER => Ok(Ids {
            uid: Uid::from_raw(65534),
            gid: Gid::from_raw(65534),
        }),
        _ => Err(UserError::NoSuchUser(spec.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_resolved_or_refused_by_name() {
        let unknown = "no-such-user-of-fdbroker";
        assert_eq!(
            resolve_user(Some(unknown)),
            Err(UserError::NoSuchUser(unknown.into()))
        );
        let me = nix::unistd::geteuid();
        if me.is_root() {
            assert_eq!(resolve_user(Some("0")), Err(UserError::Root("0".into())));
            let nobody = resolve_user(None).unwrap().unwrap();
            assert!(!nobody.uid.is_root() && nobody.gid.as_raw() != 0);
            // A number without an account: the group of the same number.
            let n = Uid::from_raw(4242);
            if nix::unistd::User::from_uid(n).ok().flatten().is_none() {
                assert_eq!(
                    resolve_user(Some("4242")),
                    Ok(Some(Ids {
                        uid: n,
                        gid: Gid::from_raw(4242)
                    }))
                );
            }
        } else {
            let own = me.as_raw().to_string();
            assert_eq!(resolve_user(None), Ok(None));
            assert_eq!(resolve_user(Some(&own)), Ok(None));
            assert_eq!(resolve_user(Some("0")), Err(UserError::NotRoot("0".into())));
        }
        let text = UserError::Root("x".into()).to_string();
        assert!(text.contains("uid or gid 0"), "{text}");
    }
}
