//! fdbroker: a privileged broker opens files on behalf of a sandboxed child.
//!
//! (Crate documentation is completed as the modules land.)
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod audit;
pub mod broker;
pub mod client;
pub mod confine;
pub mod launch;
pub mod metadata;
pub mod notify;
pub mod ops;
pub mod policy;
pub mod protocol;
pub mod resolve;
pub mod sandbox;

#[allow(unsafe_code)]
mod sys;
