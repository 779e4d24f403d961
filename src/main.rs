//! The `dnsobs` binary: parse the command line, run, map errors to exit statuses.

mod cli;

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use cli::{Cli, Command, Format, ReplayArgs};
use dnsobs::export::{prometheus, report};
use dnsobs::pipeline;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Replay(args) => replay(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("dnsobs: error: {e:#}");
            let code = if e.downcast_ref::<pipeline::FileError>().is_some() {
                cli::EXIT_INPUT
            } else {
                cli::EXIT_ERROR
            };
            ExitCode::from(code)
        }
    }
}

fn replay(args: ReplayArgs) -> anyhow::Result<u8> {
    if args.threads == Some(0) {
        anyhow::bail!("--threads must be at least 1");
    }
    let settings = pipeline::Settings {
        threads: args.threads.unwrap_or(0),
        decode: dnsobs::decode::Settings {
            ports: args.ports.clone(),
            ..Default::default()
        },
        ..Default::default()
    };
    let r = pipeline::replay(&args.files, &settings)?;
    let out = match args.format {
        Format::Table => report::table(&r),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&report::json(&r))
                .context("encoding the JSON report")?;
            s.push('\n');
            s
        }
        Format::Prometheus => {
            let reg = prometheus::registry(std::sync::Arc::new(r.agg.clone()));
            prometheus::render_text(&reg)
                .map_err(|_| anyhow::anyhow!("encoding the metrics failed"))?
        }
    };
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Ok(cli::EXIT_OK);
        }
        return Err(e).context("writing the report");
    }
    let mut code = cli::EXIT_OK;
    for f in &r.files {
        if let Some(w) = &f.warning {
            if !args.quiet {
                eprintln!(
                    "dnsobs: warning: {}: {w}; the report covers the records read before it",
                    f.path.display()
                );
            }
            code = cli::EXIT_PARTIAL;
        }
    }
    Ok(code)
}
