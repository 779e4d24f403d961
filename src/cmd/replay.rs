//! `dnsobs replay`: read capture (or dnstap) files, print a report in one format, optionally
//! also write an HTML report and Parquet files.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

use crate::aggregate::{self, series};
use crate::export::{html, parquet, prometheus, report};
use crate::pipeline::{self, Replay};
use crate::state;

use super::ExitStatus;
use super::cli::{Format, ReplayArgs};

/// Runs `dnsobs replay`.
pub fn run(args: ReplayArgs) -> anyhow::Result<ExitStatus> {
    let quiet = args.input.quiet;
    // First of all: the fleet key fixes the hash seed every sketch is made with.
    let key = args.state_key.as_deref().map(fleet_key).transpose()?;
    let privacy = args.privacy.privacy()?;
    let series = series_settings(&args)?;
    let max_intervals = series.max_intervals;
    let aggregate = aggregate::Settings {
        series,
        per_day: args.state_dir.is_some(),
        topk: aggregate::topk::Settings {
            v4_prefix: privacy.v4_prefix(),
            v6_prefix: privacy.v6_prefix(),
            ..Default::default()
        },
        ..Default::default()
    };
    let mut settings = args.input.pipeline_settings(aggregate)?;
    let node = args.node.clone().unwrap_or_else(parquet::default_node);
    if args.parquet.is_some() || args.parquet_queries.is_some() || args.state_dir.is_some() {
        parquet::check_node(&node).context("--node")?;
    }
    let states = match (&args.state_dir, key) {
        (Some(dir), Some(key)) => {
            Some(state::Writer::new(dir, &node, key)?.with_parquet(args.state_parquet.clone()))
        }
        _ => None,
    };
    let writer = match &args.parquet_queries {
        Some(dir) => Some(start_query_writer(dir, &node, &mut settings, &privacy)?),
        None => None,
    };
    // The writer ends when the last sender (the settings' copy, consumed here) is gone.
    let mut r = read(&args, settings)?;
    r.privacy = privacy;
    if let Some(states) = &states {
        write_states(states, &mut r, quiet)?;
    }
    if let Some(w) = writer {
        finish_query_writer(w, quiet)?;
    }
    if let Some(dir) = &args.parquet {
        write_intervals(dir, &node, &r, max_intervals, quiet)?;
    }
    let r = Arc::new(r);
    // One report model for every format that reads it (table, JSON, HTML).
    let model = report::Report::new(&r);
    let out = render(args.format, &r, &model)?;
    if let Some(path) = &args.html {
        std::fs::write(path, render(Format::Html, &r, &model)?)
            .with_context(|| format!("writing the HTML report to {}", path.display()))?;
    }
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Ok(ExitStatus::Ok);
        }
        return Err(e).context("writing the report");
    }
    Ok(args.input.partial_status(&r, "the report covers"))
}

/// The report in `format`: every call of the report exporters is here. The Prometheus text
/// reads the snapshot itself (shared, not copied), the others its report model.
pub(super) fn render(
    format: Format,
    r: &Arc<Replay>,
    model: &report::Report,
) -> anyhow::Result<String> {
    Ok(match format {
        Format::Table => report::render_table(model),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(model).context("encoding the JSON report")?;
            s.push('\n');
            s
        }
        Format::Prometheus => {
            prometheus::text(r).map_err(|_| anyhow::anyhow!("encoding the metrics failed"))?
        }
        Format::Html => html::html(model),
    })
}

/// Reads the fleet key and makes its seed the process's hash seed.
pub(super) fn fleet_key(path: &Path) -> anyhow::Result<state::FleetKey> {
    let key = state::FleetKey::load(path).context("--state-key")?;
    crate::aggregate::sketch::set_process_seed(key.seed).map_err(|_| {
        anyhow::anyhow!("--state-key: the hash seed was chosen before the key was read")
    })?;
    Ok(key)
}

/// Writes one state file per UTC day of the replay, then lets the days' figures go.
fn write_states(w: &state::Writer, r: &mut Replay, quiet: bool) -> anyhow::Result<()> {
    let days = std::mem::take(&mut r.agg.days);
    for (day, mut agg) in days {
        let p = w.write(day, &mut agg, true)?;
        if !quiet {
            eprintln!("dnsobs: wrote {}", p.display());
        }
    }
    Ok(())
}

/// The time series' settings from `--interval` and `--max-intervals`.
fn series_settings(args: &ReplayArgs) -> anyhow::Result<series::Settings> {
    // An HTML report alone draws queries/s per second; Parquet and JSON users get minutes
    // unless they ask. The ring is zeroed memory, touched only as intervals are used.
    let html_only = (args.format == Format::Html || args.html.is_some())
        && args.parquet.is_none()
        && args.parquet_queries.is_none();
    let interval = args.interval.unwrap_or(if html_only {
        1
    } else {
        series::DEFAULT_INTERVAL_SECONDS
    });
    if interval == 0 || 86_400 % interval != 0 {
        anyhow::bail!("--interval must divide 86400 (a UTC day) evenly, e.g. 1, 10, 60, 300, 3600");
    }
    let max_intervals = args.max_intervals.unwrap_or(if interval == 1 {
        2 * 86_400
    } else {
        series::DEFAULT_MAX_INTERVALS
    });
    Ok(series::Settings {
        interval_seconds: interval,
        max_intervals,
    })
}

/// Reads the files: captures with a progress bar, or dnstap files (`--dnstap`).
fn read(args: &ReplayArgs, settings: pipeline::Settings) -> anyhow::Result<Replay> {
    if !args.dnstap {
        return Ok(args.input.replay(settings)?);
    }
    let max_frame = crate::config::CaptureSection::default().dnstap_max_frame_bytes;
    let r = pipeline::replay_dnstap(&args.input.files, &settings, max_frame);
    drop(settings);
    let (r, stats) = r?;
    report_dnstap_skips(&stats, args.input.quiet);
    Ok(r)
}

/// Notes the dnstap frames skipped one by one (bad protobuf, oversize...), unless quiet: no
/// partial read, so no warning.
fn report_dnstap_skips(stats: &crate::capture::dnstap::Stats, quiet: bool) {
    use crate::capture::dnstap::Problem;
    let skipped: Vec<String> = Problem::ALL
        .iter()
        .filter(|p| stats.problems[**p as usize] > 0 && !matches!(p, Problem::Truncated))
        .map(|p| format!("{} {}", p.label(), stats.problems[*p as usize]))
        .collect();
    if !quiet && !skipped.is_empty() {
        eprintln!("dnsobs: note: dnstap problems: {}", skipped.join(", "));
    }
}

/// Starts the per-query Parquet writer (`--parquet-queries DIR`); the workers get its sender
/// through `settings`.
fn start_query_writer(
    dir: &Path,
    node: &str,
    settings: &mut pipeline::Settings,
    privacy: &crate::privacy::Privacy,
) -> anyhow::Result<parquet::QueryWriter> {
    // Four batches in flight per worker; replay waits for the writer rather than drop.
    let pool = 4 * pipeline::effective_threads(settings.threads);
    let (export, w) = parquet::QueryExport::start(
        dir.to_path_buf(),
        node.to_owned(),
        pool,
        true,
        privacy.clone(),
    )
    .context("starting the per-query Parquet writer")?;
    settings.queries = Some(export);
    Ok(w)
}

/// Waits for the per-query Parquet writer to end; says what it wrote unless quiet.
fn finish_query_writer(w: parquet::QueryWriter, quiet: bool) -> anyhow::Result<()> {
    let stats = w.join();
    if let Some(e) = stats.last_error {
        anyhow::bail!(
            "writing per-query Parquet files ({} failure(s)): {e}",
            stats.errors
        );
    }
    if !quiet {
        eprintln!(
            "dnsobs: wrote {} query rows into {} Parquet file(s)",
            stats.rows,
            stats.files.len()
        );
    }
    Ok(())
}

/// Writes the per-interval Parquet files (`--parquet DIR`); says what it wrote unless quiet.
fn write_intervals(
    dir: &Path,
    node: &str,
    r: &Replay,
    max_intervals: usize,
    quiet: bool,
) -> anyhow::Result<()> {
    let (paths, rows) =
        parquet::write_snapshot(dir, node, r).context("writing the per-interval Parquet files")?;
    let geo = parquet::geo::write_snapshot_geo(dir, node, r)
        .context("writing the per-interval geography Parquet files")?;
    if quiet {
        return Ok(());
    }
    eprintln!(
        "dnsobs: wrote {} interval rows into {} Parquet file(s) under {}",
        rows,
        paths.len(),
        dir.display()
    );
    if let Some((paths, rows)) = &geo {
        eprintln!(
            "dnsobs: wrote {} interval geography rows into {} Parquet file(s) under {}",
            rows,
            paths.len(),
            parquet::geo::geo_root(dir).display()
        );
    }
    if r.agg.series.evicted_intervals > 0 || r.agg.series.late_messages > 0 {
        eprintln!(
            "dnsobs: warning: the captures span more than --max-intervals {}: {} interval(s) evicted, {} message(s) not bucketed",
            max_intervals, r.agg.series.evicted_intervals, r.agg.series.late_messages
        );
    }
    if let Some(g) = r.agg.geo.as_ref().filter(|g| g.intervals.evicted > 0) {
        eprintln!(
            "dnsobs: warning: the captures span more than --max-intervals {}: {} interval(s) of the geography evicted (counted in the totals only)",
            max_intervals, g.intervals.evicted
        );
    }
    Ok(())
}
