//! The RSSAC002v5 day counters: per UTC day, traffic volume, the 16-byte size histograms,
//! rcode volume and unique sources.

use std::fmt::Write;

use super::page::{Page, escape, int};
use super::svg::{BLUE, GREEN, ORANGE, PURPLE, columns, hbar, mix_items, ordered_items};
use crate::decode::iana;
use crate::export::report::{Counts, Report, Rssac002Day};

/// Days shown at most (a month).
const MAX_DAYS: usize = 31;

/// The section (one block per day, then the table's state).
pub fn section(p: &mut Page, r: &Report) {
    let s = &r.rssac002;
    p.h2("rssac002", "RSSAC002v5 per UTC day");
    if s.days.is_empty() {
        p.body
            .push_str(r#"<p class="none">No day with DNS messages.</p>"#);
    }
    for day in s.days.iter().take(MAX_DAYS) {
        day_block(p, day);
    }
    let rows: Vec<(&str, String)> = vec![
        ("version", escape(s.version)),
        ("late_messages", int(s.late_messages)),
        ("evicted_days", int(s.evicted_days)),
        ("max_sources_per_day", int(s.max_sources_per_day as u64)),
    ];
    p.body.push_str(r#"<div style="margin-top:10px">"#);
    p.kv(&rows);
    p.body.push_str("</div>");
}

/// The named figures of a struct that serialises to a flat map of numbers.
fn counts_of(v: &impl serde::Serialize) -> Counts {
    let value = serde_json::to_value(v).unwrap_or_default();
    Counts(
        value
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0)))
            .collect(),
    )
}

fn day_block(p: &mut Page, day: &Rssac002Day) {
    let _ = write!(
        p.body,
        "<h3>Day starting {}</h3>",
        escape(&day.start_period)
    );
    p.open_grid();
    let vol = counts_of(&day.traffic_volume);
    p.panel(
        "Traffic volume",
        hbar(
            &ordered_items(&vol, vol.total(), |k| {
                k.trim_start_matches("dns-").to_owned()
            }),
            None,
            BLUE,
        ),
        "No traffic.",
    );
    let rc = &day.rcode_volume;
    let named = Counts(
        rc.0.iter()
            .map(|(k, n)| {
                let name = k
                    .parse::<u16>()
                    .map_or_else(|_| k.clone(), |c| format!("{k} {}", iana::rcode_name(c)));
                (name, *n)
            })
            .collect(),
    );
    p.panel(
        "Rcode volume",
        hbar(&mix_items(&named, rc.total()), None, ORANGE),
        "No responses.",
    );
    let sizes = &day.traffic_sizes;
    for (bins, title, color) in [
        (&sizes.udp_request_sizes, "UDP query sizes (bytes)", GREEN),
        (
            &sizes.udp_response_sizes,
            "UDP response sizes (bytes)",
            PURPLE,
        ),
        (&sizes.tcp_request_sizes, "TCP query sizes (bytes)", GREEN),
        (
            &sizes.tcp_response_sizes,
            "TCP response sizes (bytes)",
            PURPLE,
        ),
    ] {
        p.panel(title, size_bins(bins, color), "None.");
    }
    let us = counts_of(&day.unique_sources);
    let mut src: Vec<(&str, String)> = us.0.iter().map(|(k, n)| (k.as_str(), int(*n))).collect();
    src.push((
        "exact (under the cap)",
        day.unique_sources_exact.to_string(),
    ));
    p.kv_panel("Unique sources", &src);
    p.close();
}

/// RSSAC002 size bins (`{"16-31": n, ...}`, equal widths) as columns from 0 to the largest bin.
fn size_bins(m: &Counts, color: &str) -> Option<String> {
    let bins: Vec<(u64, u64, u64)> =
        m.0.iter()
            .filter_map(|(k, v)| {
                let (lo, hi) = k.split_once('-')?;
                Some((lo.parse().ok()?, hi.parse().ok()?, *v))
            })
            .collect();
    let width = bins.iter().map(|b| b.1 + 1 - b.0.min(b.1)).max()?.max(1);
    let last = bins.iter().map(|b| b.0 / width).max()?.min(4096);
    let mut values = vec![0; last as usize + 1];
    for (lo, _, n) in bins {
        if let Some(v) = values.get_mut((lo / width) as usize) {
            *v += n;
        }
    }
    columns(
        &|i| (i as u64 * width).to_string(),
        &values,
        "bytes (bin start)",
        color,
    )
}
