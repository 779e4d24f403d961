//! `dnsobs merge`: one report of many day state files (instances of a fleet, days of a month).

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;

use crate::export::{parquet, report};
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
    if let Some(dir) = &args.parquet {
        write_parquet(dir, &args.node, &r)?;
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

/// Writes the merged per-interval table, and the per-interval geography if the states have one
/// (`--parquet DIR --node NAME`); says what it wrote on stderr.
fn write_parquet(dir: &std::path::Path, node: &str, r: &Snapshot) -> anyhow::Result<()> {
    parquet::check_node(node).context("--node")?;
    let (paths, rows) =
        parquet::write_snapshot(dir, node, r).context("writing the per-interval Parquet files")?;
    eprintln!(
        "dnsobs: wrote {rows} interval rows into {} Parquet file(s) under {}",
        paths.len(),
        dir.display()
    );
    if let Some((paths, rows)) = parquet::geo::write_snapshot_geo(dir, node, r)
        .context("writing the per-interval geography Parquet files")?
    {
        eprintln!(
            "dnsobs: wrote {rows} interval geography rows into {} Parquet file(s) under {}",
            paths.len(),
            parquet::geo::geo_root(dir).display()
        );
    }
    Ok(())
}
