//! The only module allowed to use `unsafe`. Every block carries a `// SAFETY:`
//! comment; raw descriptor numbers are wrapped into `OwnedFd` before they leave.
pub(crate) mod child;
pub(crate) mod creds;
pub(crate) mod landlock;
pub(crate) mod msg;
pub(crate) mod notify;
pub(crate) mod pidfd;
pub(crate) mod prctl;
pub(crate) mod readlink;
pub(crate) mod seccomp;
pub(crate) mod spawn;
pub(crate) mod times;
