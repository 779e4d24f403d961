//! The `dnsobs` binary: parse the command line, run the subcommand (`dnsobs::cmd`), map errors
//! to exit statuses.

mod top;

/// What src/top.rs uses of the command line.
mod cli {
    pub use dnsobs::cmd::cli::TopArgs;

    /// Exit status: success.
    pub const EXIT_OK: u8 = dnsobs::cmd::ExitStatus::Ok.code();
}

use std::process::ExitCode;

use clap::Parser;

use dnsobs::cmd::cli::{Cli, Command};
use dnsobs::cmd::{self, ExitStatus};

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Replay(args) => cmd::replay::run(args),
        Command::Run(args) => cmd::run::run(args),
        Command::Rssac002(args) => cmd::rssac002::run(args),
        Command::Ithi(args) => cmd::ithi::run(args),
        Command::CheckConfig { file } => cmd::check_config::run(&file),
        Command::Generate { what } => cmd::generate::run(what),
        // src/top.rs returns a bare code: 0, or 1 when `--once` cannot reach the daemon.
        Command::Top(args) => {
            top::run(args).map(|c| ExitStatus::try_from(c).unwrap_or(ExitStatus::Error))
        }
    };
    match result {
        Ok(status) => status.into(),
        Err(e) => {
            eprintln!("dnsobs: error: {e:#}");
            ExitStatus::of_error(&e).into()
        }
    }
}
