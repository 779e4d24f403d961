//! Queries per second over capture time, from the report's time series.

use std::fmt::Write;

use super::page::Page;
use super::svg::{BLUE, Item, PALETTE, Series, hbar, lines};
use crate::export::report::{Report, TimeSeries};

/// A series' label and its values.
type Labelled = (String, Vec<f64>);

/// Most points drawn per line: longer series are summed into coarser steps (a day of
/// one-second buckets becomes 600 steps of 144 s).
const MAX_POINTS: usize = 600;

/// Queries per bucket by transport and IP version from the time series rows, as dense series
/// from the first to the last bucket (empty buckets are 0), summed into at most
/// [`MAX_POINTS`] steps. Returns the step in seconds and the series.
pub fn series_from_rows(ts: &TimeSeries) -> Option<(f64, Vec<Labelled>)> {
    let interval = Some(ts.interval_seconds).filter(|i| *i > 0)?;
    let rows = &ts.rows;
    let first = rows.iter().map(|r| r.interval_start).min()?;
    let last = rows.iter().map(|r| r.interval_start).max()?;
    let buckets = usize::try_from((last - first) / interval + 1).ok()?;
    let group = buckets.div_ceil(MAX_POINTS).max(1);
    let points = buckets.div_ceil(group);
    let labels = ["udp_v4", "udp_v6", "tcp_v4", "tcp_v6"];
    let mut out: Vec<Labelled> = labels
        .iter()
        .map(|l| (l.to_string(), vec![0.0; points]))
        .collect();
    for r in rows {
        let label = format!("{}_v{}", r.transport, r.ip_version);
        let Some(k) = labels.iter().position(|l| *l == label) else {
            continue;
        };
        let i = usize::try_from((r.interval_start - first) / interval).unwrap_or(0) / group;
        if let Some(v) = out[k].1.get_mut(i) {
            *v += r.counts.queries as f64;
        }
    }
    // The last step may cover fewer buckets than `group`: its rate uses its own width.
    let last_width = buckets - (points - 1) * group;
    let step = (interval as usize * group) as f64;
    for (_, v) in &mut out {
        let n = v.len();
        for (i, x) in v.iter_mut().enumerate() {
            let width = if i + 1 == n { last_width } else { group };
            *x /= (interval as usize * width) as f64;
        }
    }
    out.retain(|(_, v)| v.iter().any(|x| *x > 0.0));
    (!out.is_empty()).then_some((step, out))
}

/// Queries/s over capture time; without a time series, a clear note and the mean rates over
/// the capture span.
pub fn section(p: &mut Page, r: &Report, span_s: Option<f64>) {
    p.h2("time", "Queries per second over capture time");
    if let Some((step, rows)) = series_from_rows(&r.time_series) {
        let series: Vec<Series> = rows
            .into_iter()
            .enumerate()
            .map(|(i, (label, values))| Series {
                label,
                color: PALETTE[i % PALETTE.len()],
                values,
            })
            .collect();
        if let Some(chart) = lines(&series, step, "queries/s") {
            let _ = write!(
                p.body,
                r#"<div class="panel wide"><h3>By transport and IP version, {} s steps</h3>"#,
                step
            );
            p.body.push_str(&chart);
            p.body.push_str("</div>");
            let evicted = r.time_series.evicted_intervals;
            if evicted > 0 {
                let _ = write!(
                    p.body,
                    r#"<p class="note">The capture spans more intervals than were held: the {evicted} earliest were dropped (replay --max-intervals).</p>"#
                );
            }
            return;
        }
    }
    mean_rates(p, r, span_s);
}

/// The note that no series is drawn, and the mean rates over the span.
fn mean_rates(p: &mut Page, r: &Report, span_s: Option<f64>) {
    p.body.push_str(
        r#"<p class="note">Not available: this report holds no per-second series, so queries/s over capture time cannot be drawn. Below: mean rates over the whole capture span.</p>"#,
    );
    let Some(span) = span_s.filter(|s| *s > 0.0) else {
        p.body
            .push_str(r#"<p class="none">The capture spans no time.</p>"#);
        return;
    };
    let rate = |n: u64, label: &str| {
        Item::new(
            label,
            n as f64 / span,
            format!("{:.1} q/s", n as f64 / span),
        )
    };
    let items = vec![
        rate(r.queries, "all"),
        rate(r.queries_by_transport.udp, "UDP"),
        rate(r.queries_by_transport.tcp, "TCP"),
        rate(r.queries_by_ip_version.v4, "IPv4"),
        rate(r.queries_by_ip_version.v6, "IPv6"),
    ];
    p.open_grid();
    p.panel(
        &format!("Mean queries/s over {span:.3} s"),
        hbar(&items, None, BLUE),
        "No queries.",
    );
    p.close();
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::export::report::IntervalRow;

    /// An interval row with only queries counted.
    pub(in crate::export::html) fn row(
        start: u64,
        transport: &'static str,
        ip_version: u8,
        queries: u64,
    ) -> IntervalRow {
        IntervalRow {
            interval_start: start,
            interval_start_iso: String::new(),
            transport,
            ip_version,
            counts: crate::aggregate::series::Counts {
                queries,
                ..Default::default()
            },
        }
    }

    fn series(rows: Vec<IntervalRow>) -> TimeSeries {
        TimeSeries {
            interval_seconds: 1,
            evicted_intervals: 0,
            late_messages: 0,
            rows,
        }
    }

    #[test]
    fn time_series_rows_become_dense_rates() {
        // Buckets 100, 101, (102 empty), 103 of 1 s; udp/v4 and tcp/v6 only.
        let ts = series(vec![
            row(100, "udp", 4, 3),
            row(101, "udp", 4, 5),
            row(103, "udp", 4, 2),
            row(101, "tcp", 6, 7),
        ]);
        let (step, s) = series_from_rows(&ts).expect("series");
        assert_eq!(step, 1.0);
        assert_eq!(
            s,
            vec![
                ("udp_v4".to_string(), vec![3.0, 5.0, 0.0, 2.0]),
                ("tcp_v6".to_string(), vec![0.0, 7.0, 0.0, 0.0]),
            ]
        );
        // 1,201 one-second buckets are summed in steps of 3 s (401 points); the last step
        // holds one bucket, so its rate is over 1 s.
        let rows = (0..1201).map(|i| row(1000 + i, "udp", 6, 6)).collect();
        let (step, s) = series_from_rows(&series(rows)).expect("series");
        assert_eq!(step, 3.0);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].1.len(), 401);
        assert!(s[0].1.iter().all(|r| *r == 6.0), "{:?}", &s[0].1);
    }
}
