//! Subcommands: one file each, with a clap `Args` struct and a `run`
//! function returning the exit status (errors become status [`EXIT_ERROR`]).

pub mod check;
pub mod completions;
pub mod cpus;
pub mod ending;
pub mod explain;
pub mod grants;
pub mod limits;
pub mod man;
pub mod profiles;
pub mod run;

/// The exit status for an error (bad usage, unreadable or invalid input):
/// the same as clap's for usage errors.
pub const EXIT_ERROR: u8 = 2;
