//! `fdbroker man [COMMAND] [--out DIR]`: the manual pages in roff, generated
//! from the command-line definitions by `clap_mangen`: `fdbroker(1)` and one
//! `fdbroker-COMMAND(1)` per subcommand (`fdbroker-COMMAND-SUB(1)` for a
//! subcommand's own, as `profiles show`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap_mangen::Man;

/// Print a manual page in roff, or write every page into a directory.
#[derive(clap::Args)]
#[command(after_help = "\
Without COMMAND prints fdbroker(1), the overview; with it, that subcommand's
page, fdbroker-COMMAND(1), with every option. View one with
`fdbroker man run | man -l -`.

--out DIR writes all of them (fdbroker.1, fdbroker-run.1, ...) into DIR,
creating it if needed, and prints each file's path; for example
`fdbroker man --out ~/.local/share/man/man1`.

Exit status: 0; 2 for an unknown COMMAND or when a page cannot be written.")]
pub struct Args {
    /// The subcommand whose page to print [default: the fdbroker(1) overview].
    #[arg(value_name = "COMMAND", conflicts_with = "out")]
    pub command: Option<String>,
    /// Write every page into DIR, one file each.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Prints or writes the pages of `command` (the whole `fdbroker` command line).
pub fn run(args: &Args, command: clap::Command) -> anyhow::Result<ExitCode> {
    let pages = pages(command);
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
        for (_, man) in &pages {
            let path = dir.join(man.get_filename());
            std::fs::write(&path, render(man)?).with_context(|| format!("{}", path.display()))?;
            println!("{}", path.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let wanted = args.command.as_deref();
    let Some((_, man)) = pages.iter().find(|(name, _)| name.as_deref() == wanted) else {
        let names: Vec<_> = pages.iter().filter_map(|(n, _)| n.as_deref()).collect();
        bail!(
            "no subcommand `{}`; one of: {}",
            wanted.unwrap_or_default(),
            names.join(", ")
        );
    };
    std::io::stdout()
        .lock()
        .write_all(&render(man)?)
        .context("writing the manual page")?;
    Ok(ExitCode::SUCCESS)
}

/// The overview page (no name) and one page per visible subcommand.
fn pages(command: clap::Command) -> Vec<(Option<String>, Man)> {
    let mut top = command.disable_help_subcommand(true);
    // Building gives each subcommand its full name (`fdbroker-run`) and
    // usage line (`fdbroker run`).
    top.build();
    let source = format!("fdbroker {}", top.get_version().unwrap_or_default());
    let man = |c: &clap::Command| {
        Man::new(c.clone())
            .source(source.clone())
            .manual("fdbroker manual")
    };
    let mut pages = vec![(None, man(&top))];
    for sub in top.get_subcommands().filter(|s| !s.is_hide_set()) {
        pages.push((Some(sub.get_name().to_string()), man(sub)));
        // A subcommand's own subcommands (`profiles show`): `profiles-show`.
        for nested in sub.get_subcommands().filter(|s| !s.is_hide_set()) {
            let name = format!("{}-{}", sub.get_name(), nested.get_name());
            pages.push((Some(name), man(nested)));
        }
    }
    pages
}

fn render(man: &Man) -> anyhow::Result<Vec<u8>> {
    let mut page = Vec::new();
    man.render(&mut page).context("rendering a manual page")?;
    Ok(page)
}
