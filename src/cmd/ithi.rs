//! `dnsobs ithi`: the ICANN ITHI M3/M8 metrics of capture files as ithitools' CSV.

use anyhow::Context;

use crate::export::ithi as csv;

use super::ExitStatus;
use super::cli::IthiArgs;

/// Runs `dnsobs ithi`: the CSV on stdout or into `--out`.
pub fn run(args: IthiArgs) -> anyhow::Result<ExitStatus> {
    let aggregate = crate::aggregate::Settings {
        ithi: crate::aggregate::ithi::Settings {
            zone_labels: args.zone_labels,
            repeat_ttl_s: args.repeat_ttl,
            ..Default::default()
        },
        ..Default::default()
    };
    let settings = args.input.pipeline_settings(aggregate)?;
    let r = args.input.replay(settings)?;
    // The input's warnings (files cut short, skipped, overlapping); ithi's status stays 0.
    let _ = args.input.partial_status(&r, "the metrics cover");
    let a = &r.agg;
    if a.dns_messages == 0 {
        eprintln!("dnsobs: warning: no DNS message found");
    }
    match &args.out {
        Some(p) => {
            let tmp = p.with_extension("csv.tmp");
            let f = std::fs::File::create(&tmp)
                .with_context(|| format!("creating {}", tmp.display()))?;
            csv::write_snapshot(std::io::BufWriter::new(f), &r)
                .with_context(|| format!("writing {}", tmp.display()))?;
            std::fs::rename(&tmp, p).with_context(|| format!("renaming to {}", p.display()))?;
        }
        None => csv::write_snapshot(std::io::stdout().lock(), &r)?,
    }
    Ok(ExitStatus::Ok)
}
