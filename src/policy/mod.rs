//! The policy file: what a child may reach, and why.

mod access;
mod decision;

pub use access::Access;
pub use decision::{Decision, Judge, RuleKind, RuleRef};
