//! What is shown: totals and rates from two successive scrapes, grouped into the titled tables
//! of each view, and their plain-text form for `--once`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::scrape::Scrape;

/// Per-second rate between two readings of a counter; 0 when time did not move, and the new
/// value over the interval after a counter reset (daemon restarted).
pub fn rate(prev: f64, cur: f64, dt: Duration) -> f64 {
    let secs = dt.as_secs_f64();
    if secs <= 0.0 {
        return 0.0;
    }
    let d = if cur >= prev { cur - prev } else { cur };
    d / secs
}

/// The current and previous scrapes and the last error.
#[derive(Default)]
pub struct State {
    pub prev: Option<Scrape>,
    pub cur: Option<Scrape>,
    pub error: Option<String>,
    pub last_ok: Option<SystemTime>,
}

impl State {
    pub fn update(&mut self, r: Result<Scrape, String>) {
        match r {
            Ok(s) => {
                self.prev = self.cur.take();
                self.cur = Some(s);
                self.error = None;
                self.last_ok = Some(SystemTime::now());
            }
            Err(e) => self.error = Some(e),
        }
    }

    /// Total and per-second rate of a value computed from a scrape.
    fn total_rate(&self, f: impl Fn(&Scrape) -> f64) -> (f64, Option<f64>) {
        let Some(cur) = &self.cur else {
            return (0.0, None);
        };
        let total = f(cur);
        let r = self
            .prev
            .as_ref()
            .map(|p| rate(f(p), total, cur.at.duration_since(p.at)));
        (total, r)
    }

    /// Rows (key, rate, total) of a family grouped by labels, highest total first.
    fn grouped(&self, name: &str, labels: &[&str]) -> Vec<(String, Option<f64>, f64)> {
        let Some(cur) = &self.cur else {
            return Vec::new();
        };
        let now = cur.by(name, labels);
        let before = self.prev.as_ref().map(|p| (p.by(name, labels), p.at));
        let mut rows: Vec<_> = now
            .into_iter()
            .map(|(k, v)| {
                let r = before.as_ref().map(|(b, at)| {
                    rate(
                        b.get(&k).copied().unwrap_or(0.0),
                        v,
                        cur.at.duration_since(*at),
                    )
                });
                (k, r, v)
            })
            .collect();
        rows.sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
        rows
    }
}

/// The views, switched with 1–4 or tab.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    Overview,
    Mix,
    TopK,
    Capture,
}

impl View {
    pub const ALL: [View; 4] = [View::Overview, View::Mix, View::TopK, View::Capture];

    /// The tab label.
    pub fn title(self) -> &'static str {
        match self {
            View::Overview => "1 overview",
            View::Mix => "2 qtype/rcode",
            View::TopK => "3 top-k",
            View::Capture => "4 capture",
        }
    }

    /// The view after this one (cyclically).
    pub fn next(self) -> View {
        let i = View::ALL.iter().position(|v| *v == self).unwrap_or(0);
        View::ALL[(i + 1) % View::ALL.len()]
    }
}

/// A titled table.
pub struct Section {
    pub title: String,
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn per_sec(r: Option<f64>) -> String {
    r.map_or_else(|| "-".to_owned(), |r| format!("{r:.1}"))
}

fn pct(part: f64, whole: f64) -> String {
    if whole > 0.0 {
        format!("{:.1}%", 100.0 * part / whole)
    } else {
        "-".to_owned()
    }
}

const QUERIES: &str = "dnsobs_queries_total";
const RESPONSES: &str = "dnsobs_responses_total";
const DROPS: &str = "dnsobs_capture_dropped_packets_total";
const PACKETS: &str = "dnsobs_capture_packets_total";

/// The header lines: totals and rates (the test reads `Queries total: N`).
pub fn header(state: &State, url: &str, interval: f64) -> Vec<String> {
    let mut lines = vec![format!(
        "dnsobs top: {url}, every {interval}s{}",
        state
            .last_ok
            .map(|t| format!(", last scrape {}", clock(t)))
            .unwrap_or_default()
    )];
    if let Some(e) = &state.error {
        lines.push(format!(
            "daemon unreachable: {e} (retrying every {interval}s)"
        ));
    }
    if state.cur.is_some() {
        let (q, qr) = state.total_rate(|s| s.sum(QUERIES));
        let (r, rr) = state.total_rate(|s| s.sum(RESPONSES));
        let (d, dr) = state.total_rate(|s| s.sum(DROPS));
        lines.push(format!(
            "Queries total: {}  ({}/s)   Responses total: {}  ({}/s)   Capture drops: {}  ({}/s)",
            num(q),
            per_sec(qr),
            num(r),
            per_sec(rr),
            num(d),
            per_sec(dr)
        ));
    } else if state.error.is_none() {
        lines.push("waiting for the first scrape...".to_owned());
    }
    lines
}

fn clock(t: SystemTime) -> String {
    let s = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "{:02}:{:02}:{:02} UTC",
        (s / 3600) % 24,
        (s / 60) % 60,
        s % 60
    )
}

/// The tables of one view.
pub fn sections(state: &State, view: View, top_rows: usize) -> Vec<Section> {
    match view {
        View::Overview => overview(state),
        View::Mix => vec![
            mix(state, "Query types", "qtype", "dnsobs_query_qtypes_total"),
            mix(
                state,
                "Response codes",
                "rcode",
                "dnsobs_response_rcodes_total",
            ),
        ],
        View::TopK => vec![
            topk(
                state,
                "Top names",
                "qname",
                "dnsobs_top_qname_queries",
                top_rows,
            ),
            topk(state, "Top TLDs", "tld", "dnsobs_top_tld_queries", top_rows),
            topk(
                state,
                "Top source prefixes",
                "prefix",
                "dnsobs_top_source_prefix_queries",
                top_rows,
            ),
        ],
        View::Capture => vec![capture(state)],
    }
}

fn overview(state: &State) -> Vec<Section> {
    vec![rates(state), shares(state), capture_totals(state)]
}

/// Queries and responses by transport and IP version.
fn rates(state: &State) -> Section {
    let q = state.grouped(QUERIES, &["transport", "ip_version"]);
    let r = state.grouped(RESPONSES, &["transport", "ip_version"]);
    let mut keys: Vec<&String> = q.iter().map(|x| &x.0).collect();
    for (k, _, _) in &r {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let find = |rows: &[(String, Option<f64>, f64)], k: &str| {
        rows.iter()
            .find(|x| x.0 == k)
            .map_or((None, 0.0), |x| (x.1, x.2))
    };
    let mut rates = Vec::new();
    for k in keys {
        let (qr, qt) = find(&q, k);
        let (rr, rt) = find(&r, k);
        let (t, v) = k.split_once('/').unwrap_or((k, ""));
        rates.push(vec![
            format!("{t} / IPv{v}"),
            per_sec(qr),
            per_sec(rr),
            num(qt),
            num(rt),
        ]);
    }
    Section {
        title: "Rates by transport and IP version".to_owned(),
        header: vec![
            "transport",
            "queries/s",
            "responses/s",
            "queries",
            "responses",
        ],
        rows: rates,
    }
}

/// Shares of DO, IPv6, TCP and NXDOMAIN, over the last interval and since start.
fn shares(state: &State) -> Section {
    let by = |s: &Scrape, name: &str, label: &str, value: &str| {
        s.sum_where(name, |x| x.label(label) == Some(value))
    };
    // (indicator, part, whole)
    type Part = Box<dyn Fn(&Scrape) -> f64>;
    let shares: Vec<(&str, Part, Part)> = vec![
        (
            "DO bit (of queries)",
            Box::new(|s: &Scrape| s.sum("dnsobs_queries_do_total")),
            Box::new(|s: &Scrape| s.sum(QUERIES)),
        ),
        (
            "IPv6 (of queries)",
            Box::new(move |s: &Scrape| by(s, QUERIES, "ip_version", "6")),
            Box::new(|s: &Scrape| s.sum(QUERIES)),
        ),
        (
            "TCP (of queries)",
            Box::new(move |s: &Scrape| by(s, QUERIES, "transport", "tcp")),
            Box::new(|s: &Scrape| s.sum(QUERIES)),
        ),
        (
            "NXDOMAIN (of responses)",
            Box::new(move |s: &Scrape| by(s, "dnsobs_response_rcodes_total", "rcode", "NXDOMAIN")),
            Box::new(|s: &Scrape| s.sum("dnsobs_response_rcodes_total")),
        ),
    ];
    let mut share_rows = Vec::new();
    for (label, part, whole) in &shares {
        let (pt, pr) = state.total_rate(part);
        let (wt, wr) = state.total_rate(whole);
        let interval = match (pr, wr) {
            (Some(p), Some(w)) => pct(p, w),
            _ => "-".to_owned(),
        };
        share_rows.push(vec![(*label).to_owned(), interval, pct(pt, wt)]);
    }
    Section {
        title: "Shares".to_owned(),
        header: vec!["indicator", "last interval", "since start"],
        rows: share_rows,
    }
}

/// Packets, drops and workers up, over all capture workers.
fn capture_totals(state: &State) -> Section {
    let (dt, dr) = state.total_rate(|s| s.sum(DROPS));
    let (pt, pr) = state.total_rate(|s| s.sum(PACKETS));
    let up = state
        .cur
        .as_ref()
        .map_or(0.0, |s| s.sum("dnsobs_capture_up"));
    let workers = state.cur.as_ref().map_or(0, |s| {
        s.by("dnsobs_capture_up", &["interface", "worker"]).len()
    });
    Section {
        title: "Capture".to_owned(),
        header: vec!["packets/s", "packets", "drops/s", "drops", "workers up"],
        rows: vec![vec![
            per_sec(pr),
            num(pt),
            per_sec(dr),
            num(dt),
            format!("{} of {workers}", num(up)),
        ]],
    }
}

fn mix(state: &State, title: &str, label: &'static str, name: &str) -> Section {
    let rows = state.grouped(name, &[label]);
    let total: f64 = rows.iter().map(|r| r.2).sum();
    let rate_total: Option<f64> = rows.iter().map(|r| r.1).sum();
    Section {
        title: title.to_owned(),
        header: vec![label, "/s", "total", "share", "share now"],
        rows: rows
            .into_iter()
            .filter(|r| r.2 > 0.0)
            .map(|(k, r, t)| {
                vec![
                    k,
                    per_sec(r),
                    num(t),
                    pct(t, total),
                    match (r, rate_total) {
                        (Some(r), Some(w)) => pct(r, w),
                        _ => "-".to_owned(),
                    },
                ]
            })
            .collect(),
    }
}

fn topk(state: &State, title: &str, label: &'static str, name: &str, n: usize) -> Section {
    Section {
        title: title.to_owned(),
        header: vec![label, "queries", "/s"],
        rows: state
            .grouped(name, &[label])
            .into_iter()
            .take(n)
            .map(|(k, r, t)| vec![k, num(t), per_sec(r)])
            .collect(),
    }
}

fn capture(state: &State) -> Section {
    let packets = state.grouped(PACKETS, &["interface", "worker"]);
    let drops = state.grouped(DROPS, &["interface", "worker", "where"]);
    let get = |m: Option<BTreeMap<String, f64>>, k: &str| m.and_then(|m| m.get(k).copied());
    let cur = state.cur.as_ref();
    let mut rows = Vec::new();
    for (k, r, t) in packets {
        let drop = |w: &str| {
            drops
                .iter()
                .find(|d| d.0 == format!("{k}/{w}"))
                .map_or(0.0, |d| d.2)
        };
        let errors = get(
            cur.map(|s| s.by("dnsobs_capture_errors_total", &["interface", "worker"])),
            &k,
        );
        let up = get(
            cur.map(|s| s.by("dnsobs_capture_up", &["interface", "worker"])),
            &k,
        );
        let (i, w) = k.split_once('/').unwrap_or((&k, ""));
        rows.push(vec![
            i.to_owned(),
            w.to_owned(),
            per_sec(r),
            num(t),
            num(drop("kernel")),
            num(drop("interface")),
            num(errors.unwrap_or(0.0)),
            if up == Some(1.0) { "up" } else { "DOWN" }.to_owned(),
        ]);
    }
    Section {
        title: "Capture workers".to_owned(),
        header: vec![
            "interface",
            "worker",
            "packets/s",
            "packets",
            "kernel drops",
            "if drops",
            "errors",
            "state",
        ],
        rows,
    }
}

/// Plain-text tables with aligned columns.
pub fn text(lines: &[String], sections: &[Section]) -> String {
    let mut out = String::new();
    for l in lines {
        out.push_str(l);
        out.push('\n');
    }
    for s in sections {
        out.push('\n');
        out.push_str(&s.title);
        out.push('\n');
        let mut widths: Vec<usize> = s.header.iter().map(|h| h.len()).collect();
        for r in &s.rows {
            for (i, c) in r.iter().enumerate() {
                if i < widths.len() {
                    widths[i] = widths[i].max(c.chars().count());
                }
            }
        }
        let header: Vec<String> = s.header.iter().map(|h| (*h).to_owned()).collect();
        for r in std::iter::once(&header).chain(&s.rows) {
            let cells: Vec<String> = r
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (c, w))| {
                    if i == 0 {
                        format!("{c:<w$}")
                    } else {
                        format!("{c:>w$}")
                    }
                })
                .collect();
            out.push_str("  ");
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        if s.rows.is_empty() {
            out.push_str("  (none)\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::top::scrape::parse;

    #[test]
    fn rates_and_resets() {
        assert_eq!(rate(10.0, 30.0, Duration::from_secs(2)), 10.0);
        assert_eq!(rate(30.0, 6.0, Duration::from_secs(2)), 3.0);
        assert_eq!(rate(1.0, 5.0, Duration::ZERO), 0.0);
    }

    fn scrape(at: Instant, text: &str) -> Scrape {
        Scrape {
            at,
            samples: parse(text),
        }
    }

    #[test]
    fn state_rates_by_label_and_shares() {
        let t0 = Instant::now();
        let mut st = State::default();
        st.update(Ok(scrape(
            t0,
            "dnsobs_queries_total{transport=\"udp\",ip_version=\"4\"} 100\n\
             dnsobs_queries_total{transport=\"tcp\",ip_version=\"6\"} 0\n\
             dnsobs_queries_do_total{ip_version=\"4\"} 10\n",
        )));
        assert_eq!(st.total_rate(|s| s.sum(QUERIES)), (100.0, None));
        st.update(Ok(scrape(
            t0 + Duration::from_secs(2),
            "dnsobs_queries_total{transport=\"udp\",ip_version=\"4\"} 150\n\
             dnsobs_queries_total{transport=\"tcp\",ip_version=\"6\"} 50\n\
             dnsobs_queries_do_total{ip_version=\"4\"} 60\n",
        )));
        assert_eq!(st.total_rate(|s| s.sum(QUERIES)), (200.0, Some(50.0)));
        let g = st.grouped(QUERIES, &["transport", "ip_version"]);
        assert_eq!(
            g,
            vec![
                ("udp/4".to_owned(), Some(25.0), 150.0),
                ("tcp/6".to_owned(), Some(25.0), 50.0)
            ]
        );
        let secs = overview(&st);
        let shares = &secs[1].rows;
        // DO: 50 of 100 in the interval, 60 of 200 since start.
        assert_eq!(shares[0], vec!["DO bit (of queries)", "50.0%", "30.0%"]);
        assert_eq!(shares[1], vec!["IPv6 (of queries)", "50.0%", "25.0%"]);
        // An error keeps the data and shows the message.
        st.update(Err("connection refused".into()));
        let h = header(&st, "http://x", 1.0);
        assert!(h[1].starts_with("daemon unreachable"), "{h:?}");
        assert!(h[2].starts_with("Queries total: 200  (50.0/s)"), "{h:?}");
    }

    #[test]
    fn text_snapshot() {
        let mut st = State::default();
        st.update(Ok(scrape(
            Instant::now(),
            "dnsobs_top_qname_queries{qname=\"example\"} 5\n",
        )));
        let t = text(&["h".into()], &sections(&st, View::TopK, 10));
        assert!(
            t.contains("Top names\n  qname    queries  /s\n  example        5   -\n"),
            "{t}"
        );
        assert!(
            t.contains("Top TLDs\n  tld  queries  /s\n  (none)\n"),
            "{t}"
        );
    }
}

#[cfg(test)]
mod families {
    /// Every metric name the view reads (a `"dnsobs_…"` or `"process_…"` literal in the source
    /// of `top`) is a family `/metrics` writes, from the family table.
    #[test]
    fn every_metric_read_is_in_the_family_table() {
        use dnsobs::export::prometheus::families::ALL;
        let exposed: Vec<String> = ALL.iter().map(|f| f.exposed()).collect();
        let source = [include_str!("view.rs"), include_str!("scrape.rs")].concat();
        let mut seen = 0;
        for (i, _) in source.match_indices("\"dnsobs_") {
            let name: String = source[i + 1..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if name == "dnsobs_" {
                continue; // the prefix itself, in this test
            }
            assert!(
                exposed.contains(&name),
                "top reads {name}, not in the family table"
            );
            seen += 1;
        }
        assert!(seen >= 10, "only {seen} names found");
    }
}
