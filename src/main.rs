//! The `dnsobs` binary: parse the command line, run, map errors to exit statuses.

mod top;

/// What src/top.rs uses of the command line.
mod cli {
    pub use dnsobs::cmd::cli::TopArgs;

    /// Exit status: success.
    pub const EXIT_OK: u8 = dnsobs::cmd::ExitStatus::Ok.code();
}

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use dnsobs::cmd::ExitStatus;
use dnsobs::cmd::cli::{Cli, Command, Format, IthiArgs, ReplayArgs, Rssac002Args, RunArgs};
use dnsobs::config::{Config, ConfigError, RawConfig};
use dnsobs::export::{html, prometheus, report};
use dnsobs::pipeline;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Replay(args) => replay(args),
        Command::Run(args) => run(args),
        Command::Rssac002(args) => rssac002(args),
        Command::Ithi(args) => ithi(args),
        Command::CheckConfig { file } => match Config::load(&file) {
            Ok(c) => {
                let tap = if c.raw.capture.dnstap_socket.is_empty() {
                    String::new()
                } else {
                    format!(", dnstap on {}", c.raw.capture.dnstap_socket)
                };
                println!(
                    "{}: valid ({} interface(s), {} worker(s) each{tap}, metrics on {})",
                    file.display(),
                    c.raw.capture.interfaces.len(),
                    c.workers,
                    c.listen
                );
                Ok(ExitStatus::Ok.code())
            }
            Err(e) => Err(e.into()),
        },
        Command::Generate { what } => dnsobs::cmd::generate::run(what).map(ExitStatus::code),
        Command::Top(args) => top::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("dnsobs: error: {e:#}");
            ExitStatus::of_error(&e).into()
        }
    }
}

fn replay(args: ReplayArgs) -> anyhow::Result<u8> {
    use dnsobs::aggregate::series;
    use dnsobs::export::parquet;
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
    let aggregate = dnsobs::aggregate::Settings {
        series: series::Settings {
            interval_seconds: interval,
            max_intervals,
        },
        ..Default::default()
    };
    let mut settings = args.input.pipeline_settings(aggregate)?;
    let node = args.node.clone().unwrap_or_else(parquet::default_node);
    if args.parquet.is_some() || args.parquet_queries.is_some() {
        parquet::check_node(&node).context("--node")?;
    }
    let mut writer = None;
    if let Some(dir) = &args.parquet_queries {
        // Four batches in flight per worker; replay waits for the writer rather than drop.
        let pool = 4 * pipeline::effective_threads(settings.threads);
        let (export, w) = parquet::QueryExport::start(dir.clone(), node.clone(), pool, true)
            .context("starting the per-query Parquet writer")?;
        settings.queries = Some(export);
        writer = Some(w);
    }
    // The writer ends when the last sender (the settings' copy, consumed here) is gone.
    let r = if args.dnstap {
        let max_frame = dnsobs::config::CaptureSection::default().dnstap_max_frame_bytes;
        let r = pipeline::replay_dnstap(&args.input.files, &settings, max_frame);
        drop(settings);
        let (r, stats) = r?;
        report_dnstap_skips(&stats, args.input.quiet);
        r
    } else {
        args.input.replay(settings)?
    };
    if let Some(w) = writer {
        let stats = w.join();
        if let Some(e) = stats.last_error {
            anyhow::bail!(
                "writing per-query Parquet files ({} failure(s)): {e}",
                stats.errors
            );
        }
        if !args.input.quiet {
            eprintln!(
                "dnsobs: wrote {} query rows into {} Parquet file(s)",
                stats.rows,
                stats.files.len()
            );
        }
    }
    if let Some(dir) = &args.parquet {
        let rows = r.agg.series.rows();
        let paths = parquet::write_intervals(dir, &node, r.agg.series.interval_seconds(), &rows)
            .context("writing the per-interval Parquet files")?;
        if !args.input.quiet {
            eprintln!(
                "dnsobs: wrote {} interval rows into {} Parquet file(s) under {}",
                rows.len(),
                paths.len(),
                dir.display()
            );
            if r.agg.series.evicted_intervals > 0 || r.agg.series.late_messages > 0 {
                eprintln!(
                    "dnsobs: warning: the captures span more than --max-intervals {}: {} interval(s) evicted, {} message(s) not bucketed",
                    max_intervals, r.agg.series.evicted_intervals, r.agg.series.late_messages
                );
            }
        }
    }
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
        Format::Html => html::html(&r),
    };
    if let Some(path) = &args.html {
        std::fs::write(path, html::html(&r))
            .with_context(|| format!("writing the HTML report to {}", path.display()))?;
    }
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Ok(ExitStatus::Ok.code());
        }
        return Err(e).context("writing the report");
    }
    Ok(args.input.partial_status(&r, "the report covers").code())
}

/// Reads the file (if any), applies the command-line overrides, validates.
fn load_config(args: &RunArgs) -> Result<Config, ConfigError> {
    let path = args.config.clone().unwrap_or_else(|| "(defaults)".into());
    let mut raw = match &args.config {
        Some(p) => RawConfig::read(p)?,
        None => RawConfig::default(),
    };
    if !args.interface.is_empty() {
        raw.capture.interfaces = args.interface.clone();
    }
    if let Some(l) = &args.listen {
        raw.export.listen = l.clone();
    }
    if let Some(w) = args.workers {
        raw.capture.workers = w;
    }
    if let Some(p) = &args.dnstap_socket {
        raw.capture.dnstap_socket = p.clone();
    }
    raw.validate(&path)
}

fn run(args: RunArgs) -> anyhow::Result<u8> {
    let config = load_config(&args)?;
    env_logger::Builder::new()
        .filter_level(log::LevelFilter::Trace)
        .format_target(false)
        .parse_env(env_logger::Env::new().filter("DNSOBS_LOG"))
        .init();
    log::set_max_level(config.log_level);
    log::info!("dnsobs {} starting", env!("CARGO_PKG_VERSION"));
    dnsobs::daemon::run(config, || load_config(&args).map_err(|e| e.to_string()))?;
    Ok(ExitStatus::Ok.code())
}

fn rssac002(args: Rssac002Args) -> anyhow::Result<u8> {
    use dnsobs::aggregate::rssac002::MAX_DAYS;
    use dnsobs::export::rssac002 as yaml;
    let aggregate = dnsobs::aggregate::Settings {
        rssac002_max_sources: args.max_sources,
        ..Default::default()
    };
    let settings = args.input.pipeline_settings(aggregate)?;
    if args.max_sources == 0 {
        anyhow::bail!("--max-sources must be at least 1");
    }
    yaml::check_service(&args.service)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let r = args.input.replay(settings)?;
    let counts = &r.agg.rssac002;
    let paths = yaml::write_all(&args.out, &args.service, counts)
        .with_context(|| format!("writing RSSAC002 files into {}", args.out.display()))?;
    if !args.input.quiet {
        for p in &paths {
            println!("{}", p.display());
        }
        if paths.is_empty() {
            eprintln!("dnsobs: warning: no DNS message found: no file written");
        }
        for d in counts.days().filter(|d| d.sources().exact.contains(&false)) {
            eprintln!(
                "dnsobs: warning: {}: more than {} distinct sources of one kind; unique-sources is a lower bound",
                yaml::start_period(d.day()),
                counts.cap()
            );
        }
        if counts.late() > 0 || counts.evicted_days() > 0 {
            eprintln!(
                "dnsobs: warning: captures span more than {MAX_DAYS} days: {} oldest day(s) dropped, {} messages not counted",
                counts.evicted_days(),
                counts.late()
            );
        }
    }
    Ok(args.input.partial_status(&r, "the files cover").code())
}

fn ithi(args: IthiArgs) -> anyhow::Result<u8> {
    use dnsobs::export::ithi as csv;
    let aggregate = dnsobs::aggregate::Settings {
        ithi: dnsobs::aggregate::ithi::Settings {
            zone_labels: args.zone_labels,
            repeat_ttl_s: args.repeat_ttl,
            ..Default::default()
        },
        ..Default::default()
    };
    let settings = args.input.pipeline_settings(aggregate)?;
    let r = args.input.replay(settings)?;
    let a = &r.agg;
    if a.dns_messages == 0 {
        eprintln!("dnsobs: warning: no DNS message found");
    }
    let date = csv::utc_date(if a.frames > 0 { a.first_ns } else { 0 });
    let version = concat!("dnsobs-", env!("CARGO_PKG_VERSION"));
    let rows = a.ithi.rows();
    match &args.out {
        Some(p) => {
            let tmp = p.with_extension("csv.tmp");
            let f = std::fs::File::create(&tmp)
                .with_context(|| format!("creating {}", tmp.display()))?;
            csv::write_csv(std::io::BufWriter::new(f), &date, version, &rows)
                .with_context(|| format!("writing {}", tmp.display()))?;
            std::fs::rename(&tmp, p).with_context(|| format!("renaming to {}", p.display()))?;
        }
        None => csv::write_csv(std::io::stdout().lock(), &date, version, &rows)?,
    }
    Ok(ExitStatus::Ok.code())
}

/// Warns about files read only in part (unless quiet); `ExitStatus::Partial` if there was one.
/// Frames skipped one by one (bad protobuf, oversize...) are no partial read: a note.
fn report_dnstap_skips(stats: &dnsobs::capture::dnstap::Stats, quiet: bool) {
    use dnsobs::capture::dnstap::Problem;
    let skipped: Vec<String> = Problem::ALL
        .iter()
        .filter(|p| stats.problems[**p as usize] > 0 && !matches!(p, Problem::Truncated))
        .map(|p| format!("{} {}", p.label(), stats.problems[*p as usize]))
        .collect();
    if !quiet && !skipped.is_empty() {
        eprintln!("dnsobs: note: dnstap problems: {}", skipped.join(", "));
    }
}
