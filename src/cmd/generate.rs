//! `dnsobs generate`: the man pages and shell completions, written from the clap definition
//! (hidden; scripts/build-deb.sh runs it to build the Debian package's assets).

use std::path::Path;

use anyhow::Context;
use clap::CommandFactory;
use clap_complete::Shell;

use super::ExitStatus;
use super::cli::{Cli, Generate};

/// Runs `dnsobs generate man|completions DIR`; prints the paths written.
pub fn run(what: Generate) -> anyhow::Result<ExitStatus> {
    let paths = match what {
        Generate::Man { dir } => man(&dir)?,
        Generate::Completions { dir } => completions(&dir)?,
    };
    for p in paths {
        println!("{p}");
    }
    Ok(ExitStatus::Ok)
}

fn create(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

/// Writes dnsobs.1 and one dnsobs-SUBCOMMAND.1 per visible subcommand.
fn man(dir: &Path) -> anyhow::Result<Vec<String>> {
    create(dir)?;
    clap_mangen::generate_to(Cli::command(), dir)
        .with_context(|| format!("writing man pages into {}", dir.display()))?;
    let mut paths = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "1") {
            paths.push(p.display().to_string());
        }
    }
    paths.sort();
    Ok(paths)
}

/// Writes dnsobs.bash, _dnsobs (zsh) and dnsobs.fish.
fn completions(dir: &Path) -> anyhow::Result<Vec<String>> {
    create(dir)?;
    let mut cmd = Cli::command();
    let mut paths = Vec::new();
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let p = clap_complete::generate_to(shell, &mut cmd, "dnsobs", dir)
            .with_context(|| format!("writing {shell} completions into {}", dir.display()))?;
        if shell == Shell::Bash {
            // clap_complete's bash script offers hidden subcommands too (zsh and fish omit
            // them): drop `generate` from the word lists.
            let text = std::fs::read_to_string(&p)?;
            let text: String = text
                .lines()
                .map(|l| {
                    let l = if l.trim_start().starts_with("opts=\"") {
                        l.replace(" generate ", " ")
                    } else {
                        l.to_owned()
                    };
                    l + "\n"
                })
                .collect();
            std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
        }
        paths.push(p.display().to_string());
    }
    Ok(paths)
}
