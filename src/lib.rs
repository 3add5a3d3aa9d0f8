//! fdbroker: a privileged broker opens files on behalf of a sandboxed child.
//!
//! A sandboxed child cannot open anything itself: it is confined with
//! Landlock and seccomp, and asks the broker instead — explicitly, over a
//! `SOCK_SEQPACKET` socketpair ([`client`], [`protocol`]), or transparently,
//! when `fdbroker run` hands its path system calls to the broker through
//! seccomp user notification ([`sandbox`], [`notify`]). The broker resolves
//! each path race-free ([`resolve`]), judges the object the request would
//! reach against a policy file ([`policy`]), and sends back an open
//! descriptor by `SCM_RIGHTS` — or `EACCES`, or `ENOENT` for what the child
//! may not even see.
//!
//! | module | what it is |
//! |---|---|
//! | [`policy`] | the TOML policy: rights, globs, includes, profiles; [`policy::Policy::decide`] |
//! | [`resolve`] | path to `O_PATH` descriptor + canonical path, with `openat2(2)` or a held-descriptor walk; [`FollowSymlinks`] |
//! | [`procfs`] | the `/proc` vocabulary: `/proc/self` and `/proc/thread-self` and back, pids in paths, ` (deleted)`, `PATH_MAX`, status fields |
//! | [`ops`] | open, stat, access, readlink: validate, resolve, judge, act on exactly the object judged |
//! | [`protocol`] | the wire format, pure encode/decode (`docs/protocol.md`) |
//! | [`broker`] / [`client`] | the two ends of the socketpair protocol |
//! | [`launch`] | spawn a child with its end of the socketpair in `FDBROKER_FD` |
//! | [`confine`] | [`confine::confine_self`]: no_new_privs, no capabilities, Landlock, seccomp |
//! | [`notify`] / [`sandbox`] / [`audit`] | `fdbroker run`: user-notification brokering, the confined launch, the audit log |
//! | [`limits`] | `fdbroker run`'s resource limits (cgroups, rlimits, the timeout) and run report |
//! | [`fdpass`] | careful descriptor passing, for programs that hand descriptors around themselves |
//! | [`binfmt`] | a program's interpreter as the kernel finds it: `#!` lines, ELF `PT_INTERP` |
//! | [`learn`] | learn mode, helpful denials, audit summaries (`docs/learn.md`) |
//! | [`metadata`] | the stat payload |
//!
//! All `unsafe` code lives in one private module; everything public takes
//! `AsFd` and returns `OwnedFd`.
//!
//! # A broker and a confined child
//!
//! The parent owns the policy and serves; the child confines itself first
//! and then reaches files only through the broker (`examples/untrusted_parser.rs`
//! is the complete program):
//!
//! ```no_run
//! use std::process::Command;
//! use std::sync::Arc;
//! use fdbroker::{broker::Broker, launch, policy::Policy};
//!
//! // Parent.
//! let policy = Policy::from_file("policies/untrusted-parser.toml".as_ref())?;
//! let broker = Broker::new(Arc::new(policy))?;
//! let (mut child, conn) = launch::spawn(Command::new("./parser").arg("/srv/fdbroker/in/data.csv"))?;
//! let serving = broker.spawn(conn, Some(child.id()))?;
//! let status = child.wait()?;
//! serving.join().expect("broker thread")?;
//! # let _ = status;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ```no_run
//! // Child (`./parser`).
//! use std::io::Read;
//! use fdbroker::{client::Client, confine};
//!
//! let client = Client::from_env()?;      // FDBROKER_FD
//! confine::confine_self()?;              // from here on, no open(2) of its own
//! let fd = client.open("/srv/fdbroker/in/data.csv", libc::O_RDONLY, 0)?;
//! let mut text = String::new();
//! std::fs::File::from(fd).read_to_string(&mut text)?;
//! assert!(std::fs::File::open("/etc/passwd").is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod audit;
pub mod binfmt;
mod bpf;
pub mod broker;
pub mod client;
pub mod confine;
pub mod event;
pub mod fdpass;
pub mod launch;
pub mod learn;
pub mod limits;
pub mod metadata;
pub mod notify;
pub mod ops;
pub mod policy;
pub mod procfs;
pub mod protocol;
pub mod resolve;
pub mod sandbox;

pub use resolve::FollowSymlinks;

#[allow(unsafe_code)]
mod sys;
