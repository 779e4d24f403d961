//! `dnsobs rssac002`: the RSSAC002v5 daily YAML documents of every UTC day in capture files.

use anyhow::Context;

use crate::aggregate::rssac002::{MAX_DAYS, Rssac002};
use crate::export::rssac002 as yaml;

use super::ExitStatus;
use super::cli::Rssac002Args;

/// Runs `dnsobs rssac002`: writes the files and prints their paths.
pub fn run(args: Rssac002Args) -> anyhow::Result<ExitStatus> {
    let aggregate = crate::aggregate::Settings {
        rssac002_max_sources: args.max_sources,
        max_sources: args.max_sources,
        ..Default::default()
    };
    if args.max_sources == 0 {
        anyhow::bail!("--max-sources must be at least 1");
    }
    yaml::check_service(&args.service)?;
    let r = if args.from_state {
        // Sized from the states themselves: the union is exact whatever --max-sources says.
        super::merge::load(&args.input.files, args.input.quiet)?
    } else {
        let settings = args.input.pipeline_settings(aggregate)?;
        std::fs::create_dir_all(&args.out)
            .with_context(|| format!("creating {}", args.out.display()))?;
        args.input.replay(settings)?
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let counts = &r.agg.rssac002;
    let paths = yaml::write_snapshot(&args.out, &args.service, &r)
        .with_context(|| format!("writing RSSAC002 files into {}", args.out.display()))?;
    if !args.input.quiet {
        for p in &paths {
            println!("{}", p.display());
        }
        if paths.is_empty() {
            eprintln!("dnsobs: warning: no DNS message found: no file written");
        }
        warn_bounds(counts);
    }
    Ok(args.input.partial_status(&r, "the files cover"))
}

/// Warns about the days whose unique-sources is a lower bound, and about days dropped.
fn warn_bounds(counts: &Rssac002) {
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
