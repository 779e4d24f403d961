//! The `dnsobs` binary: parse the command line, run the subcommand (`dnsobs::cmd`), map errors
//! to exit statuses.

mod top;

use std::process::ExitCode;

use clap::Parser;

use dnsobs::cmd::cli::{Cli, Command};
use dnsobs::cmd::{self, ExitStatus};

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Replay(args) => cmd::replay::run(args),
        Command::Run(args) => cmd::run::run(args),
        Command::Rssac002(args) => cmd::rssac002::run(args),
        Command::Merge(args) => cmd::merge::run(args),
        Command::Ithi(args) => cmd::ithi::run(args),
        Command::CheckConfig { file } => cmd::check_config::run(&file),
        Command::Generate { what } => cmd::generate::run(what),
        Command::Top(args) => top::run(args),
    };
    match result {
        Ok(status) => status.into(),
        Err(e) => {
            eprintln!("dnsobs: error: {e:#}");
            ExitStatus::of_error(&e).into()
        }
    }
}
