//! `dnsobs merge`: one report of many day state files (instances of a fleet, days of a month).

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;

use crate::export::report;
use crate::snapshot::Snapshot;
use crate::state;

use super::ExitStatus;
use super::cli::MergeArgs;

/// Reads and merges the state files of `paths`, noting on stderr the files counted once.
pub(super) fn load(paths: &[std::path::PathBuf], quiet: bool) -> anyhow::Result<Snapshot> {
    let loaded = state::load(paths)?;
    if !quiet {
        for (p, why) in &loaded.skipped {
            eprintln!("dnsobs: note: {}: {why}", p.display());
        }
    }
    Ok(loaded.snapshot()?)
}

/// Runs `dnsobs merge`.
pub fn run(args: MergeArgs) -> anyhow::Result<ExitStatus> {
    let mut r = load(&args.states, false)?;
    // The states' top-k prefixes were truncated when written; only the mode applies here.
    let names = crate::privacy::Names {
        ipv4_prefix: "the states' top-k IPv4 prefix length",
        ipv6_prefix: "the states' top-k IPv6 prefix length",
        key_file: "--anon-key",
    };
    if args.cipher.anon_mode != super::cli::AnonMode::Truncate || args.cipher.anon_key.is_some() {
        r.privacy = args.cipher.privacy(r.agg.topk.prefix_lengths(), &names)?;
    }
    let r = Arc::new(r);
    let model = report::Report::new(&r);
    let out = super::replay::render(args.format, &r, &model)?;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(e).context("writing the report");
    }
    Ok(ExitStatus::Ok)
}
