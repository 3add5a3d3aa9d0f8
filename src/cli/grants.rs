//! The options that add to a policy beyond its files, shared by `run` and
//! `explain`: `--profile NAME`, `--read PATH` and `--write PATH`.

use std::path::PathBuf;

use fdbroker::policy::{Grant, Sources};

/// `--profile`, `--read` and `--write`.
#[derive(clap::Args)]
pub struct GrantArgs {
    /// Also apply the built-in profile NAME (`fdbroker profiles` lists
    /// them). Repeat for several.
    #[arg(long, value_name = "NAME")]
    pub profile: Vec<String>,
    /// Let the program read PATH: a file, or a directory and everything
    /// beneath it. Repeat for several.
    #[arg(long, value_name = "PATH")]
    pub read: Vec<PathBuf>,
    /// Let the program read, write, create and remove PATH and everything
    /// beneath it (PATH may be a new name in an existing directory).
    /// Repeat for several.
    #[arg(long, value_name = "PATH")]
    pub write: Vec<PathBuf>,
}

impl GrantArgs {
    /// `sources` with the profiles and grants added, each PATH resolved
    /// now. An error is the message to print.
    pub fn add_to(&self, mut sources: Sources) -> Result<Sources, String> {
        for name in &self.profile {
            sources = sources.profile(name);
        }
        for path in &self.read {
            sources = sources.grant(Grant::read(path).map_err(|e| e.to_string())?);
        }
        for path in &self.write {
            sources = sources.grant(Grant::write(path).map_err(|e| e.to_string())?);
        }
        Ok(sources)
    }
}
