//! The replay report as one self-contained HTML page (`replay --format html`, `--html FILE`).
//!
//! Everything is inline: styles in one `<style>`, charts as inline SVG drawn by the small
//! functions below (horizontal bars, columns, lines), no script at all, and a
//! Content-Security-Policy that forbids every fetch, so the page opens offline and cannot
//! reach the network even if a string slipped through. The page is built from the JSON report
//! ([`report::json`]), so every figure is the JSON's; keys this module does not know (sections
//! added to the JSON later, such as top-k tables or latency) are still shown, generically.
//!
//! Every string that comes from traffic, paths or JSON keys goes through [`escape`].

use std::fmt::Write;

use serde_json::{Map, Value};

use super::report;
use super::rssac002::civil;
use crate::decode::iana;
use crate::pipeline::Replay;

/// The HTML report of a replay.
pub fn html(r: &Replay) -> String {
    render(&report::json(r))
}

/// Escapes text for HTML element content and quoted attribute values. C0 control characters
/// (other than tab, newline, carriage return) and DEL become U+FFFD, which HTML cannot hold.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            '\t' | '\n' | '\r' => o.push(c),
            c if (c as u32) < 0x20 || c == '\u{7f}' => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}

//------------ Reading the JSON ------------------------------------------------

fn at<'a>(j: &'a Value, path: &[&str]) -> &'a Value {
    path.iter()
        .fold(j, |v, k| v.get(*k).unwrap_or(&Value::Null))
}

fn num(j: &Value, path: &[&str]) -> u64 {
    at(j, path).as_u64().unwrap_or(0)
}

fn obj(j: &Value, path: &[&str]) -> Map<String, Value> {
    at(j, path).as_object().cloned().unwrap_or_default()
}

fn ratio(n: u64, d: u64) -> f64 {
    if d == 0 { 0.0 } else { n as f64 / d as f64 }
}

/// `1234567` → `1,234,567`.
fn int(n: u64) -> String {
    let s = n.to_string();
    let mut o = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            o.push(',');
        }
        o.push(c);
    }
    o
}

/// A JSON number as text: integers with separators, others with up to 6 significant digits.
fn number(v: &Value) -> String {
    match v {
        Value::Number(n) if n.is_u64() => int(n.as_u64().unwrap_or(0)),
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or(0.0);
            if f.abs() >= 100.0 {
                format!("{f:.1}")
            } else {
                format!("{f:.6}")
                    .trim_end_matches('0')
                    .trim_end_matches('.')
                    .to_owned()
            }
        }
        Value::String(s) => escape(s),
        Value::Null => "–".to_owned(),
        Value::Bool(b) => b.to_string(),
        other => escape(&other.to_string()),
    }
}

fn pct(n: u64, d: u64) -> String {
    format!("{:.2} %", 100.0 * ratio(n, d))
}

/// Nanoseconds since the epoch as `YYYY-MM-DD hh:mm:ss.mmm UTC`.
fn utc(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let day = u32::try_from(secs / 86_400).unwrap_or(u32::MAX);
    let (y, m, d) = civil(day);
    let s = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03} UTC",
        s / 3600,
        s / 60 % 60,
        s % 60,
        ns % 1_000_000_000 / 1_000_000
    )
}

/// At most `n` characters of `s`, with an ellipsis if cut (not escaped).
fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut o: String = s.chars().take(n.saturating_sub(1)).collect();
        o.push('…');
        o
    }
}

//------------ Charts ------------------------------------------------------------

/// One bar: label (raw text), value, and the text shown after the bar (raw text).
struct Item {
    label: String,
    value: f64,
    text: String,
}

impl Item {
    fn new(label: impl Into<String>, value: f64, text: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            value,
            text: text.into(),
        }
    }
}

const BLUE: &str = "#3b6fb6";
const ORANGE: &str = "#d9822b";
const GREEN: &str = "#3f8f5a";
const RED: &str = "#c0453a";
const PURPLE: &str = "#7a5aa6";
const PALETTE: [&str; 6] = [BLUE, ORANGE, GREEN, RED, PURPLE, "#6b7a8f"];
/// Rows shown by a mix chart; the rest are summed into one row.
const MAX_ROWS: usize = 16;

/// Horizontal bars, longest = `max` (or the largest value). `None` when nothing is non-zero:
/// callers then say so in words instead of drawing an empty chart.
fn hbar(items: &[Item], max: Option<f64>, color: &str) -> Option<String> {
    if !items.iter().any(|i| i.value > 0.0) {
        return None;
    }
    let (w, label_w, bar_w, row) = (720.0, 200.0, 280.0, 22.0);
    let max = max.unwrap_or_else(|| items.iter().map(|i| i.value).fold(0.0, f64::max));
    let h = row * items.len() as f64 + 6.0;
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<svg class="chart" viewBox="0 0 {w} {h}" role="img" preserveAspectRatio="xMinYMin meet">"#
    );
    for (n, it) in items.iter().enumerate() {
        let y = 3.0 + row * n as f64;
        let bw = if it.value > 0.0 && max > 0.0 {
            (it.value / max * bar_w).clamp(1.0, bar_w)
        } else {
            0.0
        };
        let label = escape(&it.label);
        let _ = write!(
            o,
            r#"<text x="{lx}" y="{ty}" text-anchor="end">{short}<title>{label}</title></text><rect class="track" x="{label_w}" y="{y}" width="{bar_w}" height="{bh}"/>"#,
            lx = label_w - 6.0,
            ty = y + 14.0,
            short = escape(&clip(&it.label, 30)),
            bh = row - 6.0,
        );
        if bw > 0.0 {
            let _ = write!(
                o,
                r#"<rect class="bar" x="{label_w}" y="{y}" width="{bw:.2}" height="{bh}" fill="{color}"><title>{label}: {text}</title></rect>"#,
                bh = row - 6.0,
                text = escape(&it.text),
            );
        }
        let _ = write!(
            o,
            r#"<text x="{tx}" y="{ty}">{text}</text>"#,
            tx = label_w + bar_w + 6.0,
            ty = y + 14.0,
            text = escape(&it.text),
        );
    }
    o.push_str("</svg>");
    Some(o)
}

/// A "nice" axis step (1, 2 or 5 × 10^k) for about `ticks` intervals up to `max`.
fn nice_step(max: f64, ticks: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let raw = max / ticks;
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let m = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

fn axis_label(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{}k", v / 1e3)
    } else if v.fract() == 0.0 {
        format!("{v}")
    } else {
        format!("{v:.2}")
    }
}

/// Columns over consecutive categories (a histogram): `values[i]` is category `cat(i)`.
/// `None` when all are zero.
fn columns(
    cat: &dyn Fn(usize) -> String,
    values: &[u64],
    x_title: &str,
    color: &str,
) -> Option<String> {
    let max = values.iter().copied().max().unwrap_or(0);
    if max == 0 {
        return None;
    }
    let (w, h, l, r, t, b) = (640.0, 220.0, 56.0, 10.0, 10.0, 42.0);
    let (pw, ph) = (w - l - r, h - t - b);
    let step = nice_step(max as f64, 4.0);
    let top = (max as f64 / step).ceil() * step;
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<svg class="chart" viewBox="0 0 {w} {h}" role="img" preserveAspectRatio="xMinYMin meet">"#
    );
    let mut v = 0.0;
    while v <= top + step / 2.0 {
        let y = t + ph - v / top * ph;
        let _ = write!(
            o,
            r#"<line class="grid" x1="{l}" x2="{x2}" y1="{y:.1}" y2="{y:.1}"/><text x="{tx}" y="{ty:.1}" text-anchor="end">{lab}</text>"#,
            x2 = l + pw,
            tx = l - 6.0,
            ty = y + 4.0,
            lab = axis_label(v),
        );
        v += step;
    }
    let n = values.len() as f64;
    let cw = pw / n;
    let every = ((values.len() as f64 / 12.0).ceil() as usize).max(1);
    for (i, &c) in values.iter().enumerate() {
        let x = l + cw * i as f64;
        let cat = escape(&cat(i));
        if c > 0 {
            let ch = (c as f64 / top * ph).max(1.0);
            let _ = write!(
                o,
                r#"<rect class="bar" x="{x:.2}" y="{y:.2}" width="{bw:.2}" height="{ch:.2}" fill="{color}"><title>{cat}: {cnt}</title></rect>"#,
                y = t + ph - ch,
                bw = (cw * 0.85).max(0.5),
                cnt = int(c),
            );
        }
        if i.is_multiple_of(every) {
            let _ = write!(
                o,
                r#"<text x="{tx:.1}" y="{ty}" text-anchor="middle">{cat}</text>"#,
                tx = x + cw / 2.0,
                ty = t + ph + 16.0,
            );
        }
    }
    let _ = write!(
        o,
        r#"<line class="axis" x1="{l}" x2="{x2}" y1="{y}" y2="{y}"/><text x="{tx}" y="{ty}" text-anchor="middle">{xt}</text></svg>"#,
        x2 = l + pw,
        y = t + ph,
        tx = l + pw / 2.0,
        ty = h - 6.0,
        xt = escape(x_title),
    );
    Some(o)
}

/// One line of a line chart.
struct Series {
    label: String,
    color: &'static str,
    values: Vec<f64>,
}

/// Lines over time: point `i` of every series is at `step_s * i` seconds after the start.
/// `None` when there is no point.
fn lines(series: &[Series], step_s: f64, y_title: &str) -> Option<String> {
    let n = series.iter().map(|s| s.values.len()).max().unwrap_or(0);
    if n == 0 {
        return None;
    }
    let (w, h, l, r, t, b) = (1200.0, 340.0, 60.0, 16.0, 30.0, 40.0);
    let (pw, ph) = (w - l - r, h - t - b);
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0, f64::max);
    let step = nice_step(max, 4.0);
    let top = if max > 0.0 {
        (max / step).ceil() * step
    } else {
        1.0
    };
    let span = step_s * (n.max(2) - 1) as f64;
    let x_of = |i: usize| {
        if n == 1 {
            l + pw / 2.0
        } else {
            l + pw * i as f64 / (n - 1) as f64
        }
    };
    let y_of = |v: f64| t + ph - v / top * ph;
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<svg class="chart lines" viewBox="0 0 {w} {h}" role="img" preserveAspectRatio="xMinYMin meet">"#
    );
    let mut v = 0.0;
    while v <= top + step / 2.0 {
        let y = y_of(v);
        let _ = write!(
            o,
            r#"<line class="grid" x1="{l}" x2="{x2}" y1="{y:.1}" y2="{y:.1}"/><text x="{tx}" y="{ty:.1}" text-anchor="end">{lab}</text>"#,
            x2 = l + pw,
            tx = l - 6.0,
            ty = y + 4.0,
            lab = axis_label(v),
        );
        v += step;
    }
    let xstep = nice_step(span, 6.0);
    let mut s = 0.0;
    while s <= span + xstep / 2.0 && n > 1 {
        let x = l + pw * s / span;
        let _ = write!(
            o,
            r#"<text x="{x:.1}" y="{ty}" text-anchor="middle">{lab}</text>"#,
            ty = t + ph + 16.0,
            lab = axis_label(s),
        );
        s += xstep;
    }
    let _ = write!(
        o,
        r#"<line class="axis" x1="{l}" x2="{x2}" y1="{y}" y2="{y}"/><text x="{tx}" y="{ty}" text-anchor="middle">seconds since the first packet</text><text x="{l}" y="14">{yt}</text>"#,
        x2 = l + pw,
        y = t + ph,
        tx = l + pw / 2.0,
        ty = h - 6.0,
        yt = escape(y_title),
    );
    let mut lx = w - r;
    for sr in series.iter().rev() {
        let label = escape(&clip(&sr.label, 16));
        lx -= 16.0 + 7.5 * sr.label.chars().count().min(16) as f64 + 14.0;
        let _ = write!(
            o,
            r#"<rect class="key" x="{lx:.1}" y="6" width="12" height="12" fill="{c}"/><text x="{tx:.1}" y="16">{label}</text>"#,
            c = sr.color,
            tx = lx + 16.0,
        );
    }
    for sr in series {
        if sr.values.is_empty() {
            continue;
        }
        let mut d = String::new();
        for (i, v) in sr.values.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.2} {:.2}",
                if i == 0 { "M" } else { " L" },
                x_of(i),
                y_of(*v)
            );
        }
        if sr.values.len() == 1 {
            // A single point: a short flat stroke, so it shows.
            let _ = write!(d, " L{:.2} {:.2}", x_of(0) + 4.0, y_of(sr.values[0]));
        }
        let _ = write!(
            o,
            r#"<path class="line" d="{d}" stroke="{c}"><title>{label}</title></path>"#,
            c = sr.color,
            label = escape(&sr.label),
        );
    }
    o.push_str("</svg>");
    Some(o)
}

//------------ Page ---------------------------------------------------------------

/// `{mnemonic: count}` → bars with shares of `total`, at most [`MAX_ROWS`] (the rest summed).
fn mix_items(m: &Map<String, Value>, total: u64) -> Vec<Item> {
    let mut v: Vec<(String, u64)> = m
        .iter()
        .filter_map(|(k, v)| v.as_u64().map(|n| (k.clone(), n)))
        .filter(|(_, n)| *n > 0)
        .collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    if v.len() > MAX_ROWS {
        let rest: u64 = v[MAX_ROWS - 1..].iter().map(|x| x.1).sum();
        let others = v.len() - (MAX_ROWS - 1);
        v.truncate(MAX_ROWS - 1);
        v.push((format!("({others} others)"), rest));
    }
    v.into_iter()
        .map(|(k, n)| Item::new(k, n as f64, format!("{} ({})", int(n), pct(n, total))))
        .collect()
}

/// Bars in the JSON's key order, zeros kept (bucketed histograms).
fn ordered_items(m: &Map<String, Value>, total: u64, label: impl Fn(&str) -> String) -> Vec<Item> {
    m.iter()
        .map(|(k, v)| {
            let n = v.as_u64().unwrap_or(0);
            Item::new(
                label(k),
                n as f64,
                format!("{} ({})", int(n), pct(n, total)),
            )
        })
        .collect()
}

/// `le_1232` → `≤ 1232`; `above` → `> 4095` (the last bound before it).
fn size_label(m: &Map<String, Value>) -> impl Fn(&str) -> String + '_ {
    move |k: &str| {
        if let Some(b) = k.strip_prefix("le_") {
            format!("≤ {b}")
        } else if k == "above" {
            let last = m
                .keys()
                .filter_map(|k| k.strip_prefix("le_"))
                .next_back()
                .unwrap_or("?");
            format!("> {last}")
        } else {
            k.to_owned()
        }
    }
}

/// A sparse `{"n": count}` distribution as columns over `0..=max n`.
fn distribution(m: &Map<String, Value>, x_title: &str, color: &str) -> Option<String> {
    let pts: Vec<(u64, u64)> = m
        .iter()
        .filter_map(|(k, v)| Some((k.parse().ok()?, v.as_u64()?)))
        .collect();
    let hi = pts.iter().map(|p| p.0).max()?;
    let hi = hi.min(1024);
    let mut values = vec![0; hi as usize + 1];
    for (k, n) in pts {
        if k <= hi {
            values[k as usize] += n;
        }
    }
    columns(&|i| i.to_string(), &values, x_title, color)
}

struct Page {
    body: String,
}

impl Page {
    fn h2(&mut self, id: &str, title: &str) {
        let _ = write!(self.body, r#"<h2 id="{id}">{}</h2>"#, escape(title));
    }

    /// A chart in a panel, or the sentence `none` in its place.
    fn panel(&mut self, title: &str, chart: Option<String>, none: &str) {
        let _ = write!(
            self.body,
            r#"<section class="panel"><h3>{}</h3>{}</section>"#,
            escape(title),
            chart.unwrap_or_else(|| format!(r#"<p class="none">{}</p>"#, escape(none)))
        );
    }

    fn open_grid(&mut self) {
        self.body.push_str(r#"<div class="grid">"#);
    }

    fn close(&mut self) {
        self.body.push_str("</div>");
    }

    /// A two-column table of (label, value) with pre-escaped values.
    fn kv(&mut self, rows: &[(&str, String)]) {
        self.body.push_str(r#"<table class="kv">"#);
        for (k, v) in rows {
            let _ = write!(self.body, "<tr><th>{}</th><td>{v}</td></tr>", escape(k));
        }
        self.body.push_str("</table>");
    }
}

/// Top-level keys drawn by a dedicated section; any other key goes to "More figures".
const KNOWN: [&str; 36] = [
    "file",
    "oracle",
    "frames",
    "dns_messages",
    "queries",
    "responses",
    "queries_by_transport",
    "queries_by_ip_version",
    "queries_edns",
    "queries_do",
    "queries_rd",
    "queries_cd",
    "queries_by_qtype",
    "queries_by_opcode",
    "queries_by_qclass",
    "responses_by_rcode",
    "responses_tc",
    "responses_aa",
    "unique_query_sources",
    "query_size_bytes_sum",
    "response_size_bytes_sum",
    "malformed",
    "malformed_by_reason",
    "responses_by_transport",
    "responses_by_ip_version",
    "shares",
    "query_edns_options",
    "query_edns_versions",
    "query_edns_udp_payload_size",
    "unique_query_sources_exact",
    "decode_events",
    "indicators",
    "dnsobs",
    "queries_per_second",
    "time_series",
    "rssac002",
];

const INDICATORS_KNOWN: [&str; 10] = [
    "queries_with_valid_name",
    "query_classes",
    "nxdomain_responses_by_class",
    "queries_idn",
    "queries_mixed_case",
    "shares",
    "response_ede_codes",
    "query_name_lengths",
    "query_label_counts",
    "response_edns_udp_payload_size",
];

const DNSOBS_KNOWN: [&str; 8] = [
    "version",
    "files",
    "threads",
    "first_packet_ns",
    "last_packet_ns",
    "bytes_read",
    "elapsed_seconds",
    "packets_per_second",
];

const STYLE: &str = "\
:root{--fg:#1d2733;--mut:#5d6b7a;--line:#d8dee6;--bg:#f6f8fa}\
*{box-sizing:border-box}\
body{margin:0;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;color:var(--fg);background:var(--bg)}\
main{max-width:1280px;margin:0 auto;padding:20px 24px 40px}\
header{border-bottom:1px solid var(--line);margin-bottom:12px}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 10px;border-bottom:1px solid var(--line);padding-bottom:4px}\
h3{font-size:14px;margin:0 0 8px;color:var(--mut);font-weight:600}\
.sub{color:var(--mut);margin:0 0 10px;overflow-wrap:anywhere}\
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:10px}\
.card{background:#fff;border:1px solid var(--line);border-radius:6px;padding:10px 12px}\
.card .v{font-size:22px;font-weight:600}.card .k{color:var(--mut);font-size:12px}\
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:14px}\
.panel{background:#fff;border:1px solid var(--line);border-radius:6px;padding:12px 14px;min-width:0}\
.wide{grid-column:1/-1}\
svg.chart{width:100%;max-width:740px;height:auto;display:block;font-size:12px;fill:var(--fg)}\
svg.chart.lines{max-width:none}\
svg .track{fill:#eef1f5}svg .grid{stroke:#e4e8ee}svg .axis{stroke:#8894a3}svg .line{fill:none;stroke-width:2}\
.none{color:var(--mut);font-style:italic;margin:6px 0}\
.note{background:#fff8e6;border:1px solid #f0d9a0;border-radius:6px;padding:8px 12px;margin:0 0 12px}\
table{border-collapse:collapse;width:100%;background:#fff}\
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top;overflow-wrap:anywhere}\
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\
table.kv th{width:40%;color:var(--mut);font-weight:500}\
.warn{color:#a33}\
footer{margin-top:30px;color:var(--mut);font-size:12px}\
";

/// The page for a JSON report (as [`report::json`] makes it).
pub fn render(j: &Value) -> String {
    let mut p = Page {
        body: String::new(),
    };
    let q = num(j, &["queries"]);
    let resp = num(j, &["responses"]);
    let frames = num(j, &["frames"]);
    let version = at(j, &["dnsobs", "version"])
        .as_str()
        .unwrap_or(env!("CARGO_PKG_VERSION"))
        .to_owned();
    let file = at(j, &["file"]).as_str().unwrap_or("").to_owned();
    let first = at(j, &["dnsobs", "first_packet_ns"]).as_u64();
    let last = at(j, &["dnsobs", "last_packet_ns"]).as_u64();
    let span_s = match (first, last) {
        (Some(f), Some(l)) if l >= f => Some((l - f) as f64 / 1e9),
        _ => None,
    };

    // Header.
    let _ = write!(
        p.body,
        r#"<header><h1>dnsobs replay report</h1><p class="sub">{}{}</p></header>"#,
        escape(&file),
        match (first, last) {
            (Some(f), Some(l)) => format!(" · {} → {}", utc(f), utc(l)),
            _ => " · no packets".to_owned(),
        }
    );
    let warnings: Vec<String> = at(j, &["dnsobs", "files"])
        .as_array()
        .map(|fs| {
            fs.iter()
                .filter_map(|f| {
                    let w = f.get("warning")?.as_str()?;
                    let path = f.get("path").and_then(Value::as_str).unwrap_or("");
                    Some(format!("{path}: {w}"))
                })
                .collect()
        })
        .unwrap_or_default();
    for w in &warnings {
        let _ = write!(
            p.body,
            r#"<p class="note warn">Warning: {}; the report covers the records read before it.</p>"#,
            escape(w)
        );
    }

    // Summary figures.
    p.h2("summary", "Summary");
    let (s4, s6) = (
        num(j, &["unique_query_sources", "4"]),
        num(j, &["unique_query_sources", "6"]),
    );
    let exact = at(j, &["unique_query_sources_exact"])
        .as_bool()
        .unwrap_or(true);
    let malformed = num(j, &["malformed"]);
    let cards: Vec<(String, String)> = vec![
        (int(q), "queries".into()),
        (int(resp), "responses".into()),
        (int(num(j, &["dns_messages"])), "DNS messages".into()),
        (int(frames), "frames".into()),
        (int(malformed), "malformed".into()),
        (
            format!("{}{}", if exact { "" } else { "≥ " }, int(s4 + s6)),
            format!("query sources ({} IPv4, {} IPv6)", int(s4), int(s6)),
        ),
        (
            span_s.map_or_else(|| "–".into(), |s| format!("{s:.3} s")),
            "capture time span".into(),
        ),
        (
            span_s
                .filter(|s| *s > 0.0)
                .map_or_else(|| "–".into(), |s| format!("{:.1}", q as f64 / s)),
            "queries/s (mean over the span)".into(),
        ),
    ];
    p.body.push_str(r#"<div class="cards">"#);
    for (v, k) in &cards {
        let _ = write!(
            p.body,
            r#"<div class="card"><div class="v">{}</div><div class="k">{}</div></div>"#,
            escape(v),
            escape(k)
        );
    }
    p.body.push_str("</div>");

    let share = |label: &str, n: u64, d: u64, of: &str| {
        Item::new(
            label,
            ratio(n, d),
            format!("{} ({} of {} {of})", pct(n, d), int(n), int(d)),
        )
    };
    let nx = num(j, &["responses_by_rcode", "NXDOMAIN"]);
    let msgs = num(j, &["dns_messages"]);
    let shares = vec![
        share("DNSSEC OK (DO)", num(j, &["queries_do"]), q, "queries"),
        share("EDNS", num(j, &["queries_edns"]), q, "queries"),
        share(
            "IPv6",
            num(j, &["queries_by_ip_version", "6"]),
            q,
            "queries",
        ),
        share(
            "TCP",
            num(j, &["queries_by_transport", "tcp"]),
            q,
            "queries",
        ),
        share("RD set", num(j, &["queries_rd"]), q, "queries"),
        share("NXDOMAIN", nx, resp, "responses"),
        share("TC set", num(j, &["responses_tc"]), resp, "responses"),
        share("malformed", malformed, msgs + malformed, "messages"),
    ];
    p.open_grid();
    p.panel(
        "Shares",
        hbar(&shares, Some(1.0), BLUE),
        "No queries or responses.",
    );
    let by = |path: &str, k: &str, label: &str, total: u64| {
        let n = num(j, &[path, k]);
        Item::new(label, n as f64, format!("{} ({})", int(n), pct(n, total)))
    };
    let split = vec![
        by("queries_by_transport", "udp", "queries UDP", q),
        by("queries_by_transport", "tcp", "queries TCP", q),
        by("queries_by_ip_version", "4", "queries IPv4", q),
        by("queries_by_ip_version", "6", "queries IPv6", q),
        by("responses_by_transport", "udp", "responses UDP", resp),
        by("responses_by_transport", "tcp", "responses TCP", resp),
        by("responses_by_ip_version", "4", "responses IPv4", resp),
        by("responses_by_ip_version", "6", "responses IPv6", resp),
    ];
    p.panel(
        "Messages by transport and IP version",
        hbar(&split, None, GREEN),
        "No DNS messages.",
    );
    p.close();

    // Over time.
    p.h2("time", "Queries per second over capture time");
    time_section(&mut p, j, q, span_s);

    // Mixes.
    p.h2("mix", "Query and response mixes");
    p.open_grid();
    p.panel(
        "Query types",
        hbar(&mix_items(&obj(j, &["queries_by_qtype"]), q), None, BLUE),
        "No queries.",
    );
    p.panel(
        "Response codes",
        hbar(
            &mix_items(&obj(j, &["responses_by_rcode"]), resp),
            None,
            ORANGE,
        ),
        "No responses.",
    );
    p.panel(
        "Opcodes",
        hbar(&mix_items(&obj(j, &["queries_by_opcode"]), q), None, GREEN),
        "No queries.",
    );
    p.panel(
        "Query classes",
        hbar(&mix_items(&obj(j, &["queries_by_qclass"]), q), None, PURPLE),
        "No queries.",
    );
    p.close();

    // EDNS.
    p.h2("edns", "EDNS");
    let edns = num(j, &["queries_edns"]);
    p.open_grid();
    let sizes = obj(j, &["query_edns_udp_payload_size"]);
    p.panel(
        "UDP payload size advertised by queries",
        hbar(&ordered_items(&sizes, edns, size_label(&sizes)), None, BLUE),
        "No query with EDNS.",
    );
    let rsizes = obj(j, &["indicators", "response_edns_udp_payload_size"]);
    let redns: u64 = rsizes.values().filter_map(Value::as_u64).sum();
    p.panel(
        "UDP payload size advertised by responses",
        hbar(
            &ordered_items(&rsizes, redns, size_label(&rsizes)),
            None,
            ORANGE,
        ),
        "No response with EDNS.",
    );
    p.panel(
        "Options in queries",
        hbar(
            &mix_items(&obj(j, &["query_edns_options"]), edns),
            None,
            GREEN,
        ),
        "No query carries an EDNS option.",
    );
    p.panel(
        "EDNS versions",
        hbar(
            &mix_items(&obj(j, &["query_edns_versions"]), edns),
            None,
            PURPLE,
        ),
        "No query with EDNS.",
    );
    p.close();

    // Names: junk and abuse indicators.
    indicators_section(&mut p, j, resp);

    // Malformed and decoding.
    p.h2("malformed", "Malformed input and decoding");
    p.open_grid();
    p.panel(
        "Malformed by reason",
        hbar(
            &mix_items(&obj(j, &["malformed_by_reason"]), malformed),
            None,
            RED,
        ),
        "No malformed input.",
    );
    let events = obj(j, &["decode_events"]);
    let events: Vec<(&str, String)> = events
        .iter()
        .map(|(k, v)| (k.as_str(), number(v)))
        .collect();
    p.body
        .push_str(r#"<section class="panel"><h3>Decoding events</h3>"#);
    p.kv(&events);
    p.body.push_str("</section>");
    p.close();

    rssac002_section(&mut p, j);

    // Anything else the JSON holds.
    let extra: Vec<(&String, &Value)> = j
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !KNOWN.contains(&k.as_str()))
                .collect()
        })
        .unwrap_or_default();
    if !extra.is_empty() {
        p.h2("more", "More figures");
        p.open_grid();
        for (k, v) in extra {
            generic(&mut p, k, v, 0);
        }
        p.close();
    }

    provenance(&mut p, j, first, last, span_s);

    let _ = write!(
        p.body,
        "<footer>Generated by dnsobs {}. Every figure comes from the replay's JSON report \
         (<code>--format json</code>); this page needs no network and runs no script.</footer>",
        escape(&version)
    );

    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>dnsobs replay report: {}</title><style>{STYLE}</style></head>\n<body><main>{}</main></body></html>\n",
        escape(&file),
        p.body
    )
}

/// A series' label and its values.
type Labelled = (String, Vec<f64>);

/// Most points drawn per line: longer series are summed into coarser steps (a day of
/// one-second buckets becomes 600 steps of 144 s).
const MAX_POINTS: usize = 600;

/// Queries per bucket by transport and IP version from the report's `time_series` rows
/// (`{"interval_seconds": N, "rows": [{"interval_start": epoch s, "transport", "ip_version",
/// "queries"}, ...]}`), as dense series from the first to the last bucket (empty buckets are 0),
/// summed into at most [`MAX_POINTS`] steps. Returns the step in seconds and the series.
fn series_from_rows(ts: &Value) -> Option<(f64, Vec<Labelled>)> {
    let interval = at(ts, &["interval_seconds"]).as_u64().filter(|i| *i > 0)?;
    let rows = at(ts, &["rows"]).as_array()?;
    let key = |r: &Value| at(r, &["interval_start"]).as_u64();
    let first = rows.iter().filter_map(key).min()?;
    let last = rows.iter().filter_map(key).max()?;
    let buckets = usize::try_from((last - first) / interval + 1).ok()?;
    let group = buckets.div_ceil(MAX_POINTS).max(1);
    let points = buckets.div_ceil(group);
    let labels = ["udp_v4", "udp_v6", "tcp_v4", "tcp_v6"];
    let mut out: Vec<Labelled> = labels
        .iter()
        .map(|l| (l.to_string(), vec![0.0; points]))
        .collect();
    for r in rows {
        let Some(start) = key(r) else { continue };
        let label = format!(
            "{}_v{}",
            at(r, &["transport"]).as_str().unwrap_or("?"),
            at(r, &["ip_version"]).as_u64().unwrap_or(0)
        );
        let Some(k) = labels.iter().position(|l| *l == label) else {
            continue;
        };
        let i = usize::try_from((start - first) / interval).unwrap_or(0) / group;
        if let Some(v) = out[k].1.get_mut(i) {
            *v += at(r, &["queries"]).as_f64().unwrap_or(0.0);
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

/// Queries/s over capture time from the report's `time_series` (or an older
/// `queries_per_second`: `{"interval_seconds": 1, "series": {"udp_v4": [count per interval,
/// ...], ...}}`); otherwise a clear note and the mean rates over the capture span.
fn time_section(p: &mut Page, j: &Value, q: u64, span_s: Option<f64>) {
    if let Some((step, rows)) = series_from_rows(at(j, &["time_series"])) {
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
            let evicted = num(j, &["time_series", "evicted_intervals"]);
            if evicted > 0 {
                let _ = write!(
                    p.body,
                    r#"<p class="note">The capture spans more intervals than were held: the {evicted} earliest were dropped (replay --max-intervals).</p>"#
                );
            }
            return;
        }
    }
    let ts = match at(j, &["queries_per_second"]) {
        Value::Null => at(j, &["dnsobs", "queries_per_second"]),
        v => v,
    };
    let interval = at(ts, &["interval_seconds"])
        .as_f64()
        .filter(|i| *i > 0.0)
        .unwrap_or(1.0);
    let series: Vec<Series> = at(ts, &["series"])
        .as_object()
        .map(|m| {
            m.iter()
                .enumerate()
                .map(|(i, (k, v))| Series {
                    label: k.clone(),
                    color: PALETTE[i % PALETTE.len()],
                    values: v
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .map(|x| x.as_f64().unwrap_or(0.0) / interval)
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(chart) = lines(&series, interval, "queries/s") {
        p.body
            .push_str(r#"<div class="panel wide"><h3>By transport and IP version</h3>"#);
        p.body.push_str(&chart);
        p.body.push_str("</div>");
        return;
    }
    p.body.push_str(
        r#"<p class="note">Not available: this report holds no per-second series, so queries/s over capture time cannot be drawn. Below: mean rates over the whole capture span.</p>"#,
    );
    let Some(span) = span_s.filter(|s| *s > 0.0) else {
        p.body
            .push_str(r#"<p class="none">The capture spans no time.</p>"#);
        return;
    };
    let rate = |path: &str, k: &str, label: &str| {
        let n = num(j, &[path, k]);
        Item::new(
            label,
            n as f64 / span,
            format!("{:.1} q/s", n as f64 / span),
        )
    };
    let items = vec![
        Item::new(
            "all",
            q as f64 / span,
            format!("{:.1} q/s", q as f64 / span),
        ),
        rate("queries_by_transport", "udp", "UDP"),
        rate("queries_by_transport", "tcp", "TCP"),
        rate("queries_by_ip_version", "4", "IPv4"),
        rate("queries_by_ip_version", "6", "IPv6"),
    ];
    p.open_grid();
    p.panel(
        &format!("Mean queries/s over {span:.3} s"),
        hbar(&items, None, BLUE),
        "No queries.",
    );
    p.close();
}

/// The RSSAC002v5 day counters (`rssac002` of the JSON): per UTC day, traffic volume, the
/// 16-byte size histograms, rcode volume and unique sources.
fn rssac002_section(p: &mut Page, j: &Value) {
    let r = at(j, &["rssac002"]);
    let Some(days) = r.get("days").and_then(Value::as_array) else {
        return;
    };
    p.h2("rssac002", "RSSAC002v5 per UTC day");
    if days.is_empty() {
        p.body
            .push_str(r#"<p class="none">No day with DNS messages.</p>"#);
    }
    for day in days.iter().take(31) {
        let start = day
            .get("start-period")
            .and_then(Value::as_str)
            .unwrap_or("?");
        let _ = write!(p.body, "<h3>Day starting {}</h3>", escape(start));
        p.open_grid();
        let vol = obj(day, &["traffic-volume"]);
        let vol_total: u64 = vol.values().filter_map(Value::as_u64).sum();
        p.panel(
            "Traffic volume",
            hbar(
                &ordered_items(&vol, vol_total, |k| k.trim_start_matches("dns-").to_owned()),
                None,
                BLUE,
            ),
            "No traffic.",
        );
        let rc = obj(day, &["rcode-volume"]);
        let rc_total: u64 = rc.values().filter_map(Value::as_u64).sum();
        let rc: Map<String, Value> = rc
            .into_iter()
            .map(|(k, v)| {
                let name = k
                    .parse::<u16>()
                    .map_or_else(|_| k.clone(), |c| format!("{k} {}", iana::rcode_name(c)));
                (name, v)
            })
            .collect();
        p.panel(
            "Rcode volume",
            hbar(&mix_items(&rc, rc_total), None, ORANGE),
            "No responses.",
        );
        for (k, title, color) in [
            ("udp-request-sizes", "UDP query sizes (bytes)", GREEN),
            ("udp-response-sizes", "UDP response sizes (bytes)", PURPLE),
            ("tcp-request-sizes", "TCP query sizes (bytes)", GREEN),
            ("tcp-response-sizes", "TCP response sizes (bytes)", PURPLE),
        ] {
            p.panel(
                title,
                size_bins(&obj(day, &["traffic-sizes", k]), color),
                "None.",
            );
        }
        let mut src: Vec<(&str, String)> = Vec::new();
        let us = obj(day, &["unique-sources"]);
        for (k, v) in &us {
            src.push((k.as_str(), number(v)));
        }
        let exact = day
            .get("unique_sources_exact")
            .map_or_else(|| "–".into(), number);
        src.push(("exact (under the cap)", exact));
        let _ = write!(p.body, r#"<section class="panel"><h3>Unique sources</h3>"#);
        p.kv(&src);
        p.body.push_str("</section>");
        p.close();
    }
    let rows: Vec<(&str, String)> = [
        "version",
        "late_messages",
        "evicted_days",
        "max_sources_per_day",
    ]
    .into_iter()
    .map(|k| (k, number(r.get(k).unwrap_or(&Value::Null))))
    .collect();
    p.body.push_str(r#"<div style="margin-top:10px">"#);
    p.kv(&rows);
    p.body.push_str("</div>");
}

/// RSSAC002 size bins (`{"16-31": n, ...}`, equal widths) as columns from 0 to the largest bin.
fn size_bins(m: &Map<String, Value>, color: &str) -> Option<String> {
    let bins: Vec<(u64, u64, u64)> = m
        .iter()
        .filter_map(|(k, v)| {
            let (lo, hi) = k.split_once('-')?;
            Some((lo.parse().ok()?, hi.parse().ok()?, v.as_u64()?))
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

fn indicators_section(p: &mut Page, j: &Value, resp: u64) {
    p.h2("names", "Query names: junk and abuse indicators");
    let named = num(j, &["indicators", "queries_with_valid_name"]);
    let _ = write!(
        p.body,
        r#"<p class="sub">{} queries with a valid name; junk (neither ordinary nor reverse) {}; IDN (xn--) {} ({}); 0x20 mixed case {} ({}).</p>"#,
        int(named),
        at(j, &["indicators", "shares", "junk"])
            .as_f64()
            .map_or_else(|| "–".to_owned(), |f| format!("{:.2} %", f * 100.0)),
        int(num(j, &["indicators", "queries_idn"])),
        pct(num(j, &["indicators", "queries_idn"]), named),
        int(num(j, &["indicators", "queries_mixed_case"])),
        pct(num(j, &["indicators", "queries_mixed_case"]), named),
    );
    p.open_grid();
    p.panel(
        "Query name classes",
        hbar(
            &mix_items(&obj(j, &["indicators", "query_classes"]), named),
            None,
            BLUE,
        ),
        "No query with a valid name.",
    );
    let nx = obj(j, &["indicators", "nxdomain_responses_by_class"]);
    let nx_total: u64 = nx.values().filter_map(Value::as_u64).sum();
    p.panel(
        "NXDOMAIN responses by class",
        hbar(&mix_items(&nx, nx_total), None, ORANGE),
        "No NXDOMAIN response.",
    );
    p.panel(
        "Query name lengths",
        distribution(
            &obj(j, &["indicators", "query_name_lengths"]),
            "name length (octets)",
            GREEN,
        ),
        "No query with a valid name.",
    );
    p.panel(
        "Labels per query name",
        distribution(
            &obj(j, &["indicators", "query_label_counts"]),
            "labels",
            PURPLE,
        ),
        "No query with a valid name.",
    );
    p.panel(
        "Extended DNS errors in responses",
        hbar(
            &mix_items(&obj(j, &["indicators", "response_ede_codes"]), resp),
            None,
            RED,
        ),
        "No response carries an Extended DNS Error.",
    );
    for (k, v) in obj(j, &["indicators"]) {
        if !INDICATORS_KNOWN.contains(&k.as_str()) {
            generic(p, &k, &v, 1);
        }
    }
    p.close();
}

fn provenance(p: &mut Page, j: &Value, first: Option<u64>, last: Option<u64>, span: Option<f64>) {
    p.h2("provenance", "Provenance");
    p.body.push_str(
        r#"<table><tr><th>file</th><th>format</th><th>compression</th><th>link types</th><th class="n">records</th><th>warning</th></tr>"#,
    );
    for f in at(j, &["dnsobs", "files"]).as_array().into_iter().flatten() {
        let s = |k: &str| escape(f.get(k).and_then(Value::as_str).unwrap_or(""));
        let links: Vec<String> = f
            .get("link_types")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(escape)
            .collect();
        let _ = write!(
            p.body,
            r#"<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="n">{}</td><td class="warn">{}</td></tr>"#,
            s("path"),
            s("format"),
            s("compression"),
            links.join(", "),
            number(f.get("records").unwrap_or(&Value::Null)),
            s("warning"),
        );
    }
    p.body.push_str("</table>");
    let d = |k: &str| number(at(j, &["dnsobs", k]));
    let mut rows = vec![
        ("first packet", first.map_or_else(|| "–".into(), utc)),
        ("last packet", last.map_or_else(|| "–".into(), utc)),
        (
            "time span",
            span.map_or_else(|| "–".into(), |s| format!("{s:.3} s")),
        ),
        ("bytes read", d("bytes_read")),
        ("worker threads", d("threads")),
        ("replay wall-clock time (s)", d("elapsed_seconds")),
        ("replay packets/s", d("packets_per_second")),
        ("dnsobs version", d("version")),
    ];
    let extra: Vec<(String, String)> = obj(j, &["dnsobs"])
        .iter()
        .filter(|(k, _)| !DNSOBS_KNOWN.contains(&k.as_str()) && k.as_str() != "queries_per_second")
        .map(|(k, v)| (k.clone(), flat(v)))
        .collect();
    rows.extend(extra.iter().map(|(k, v)| (k.as_str(), v.clone())));
    p.body.push_str(r#"<div style="margin-top:10px">"#);
    p.kv(&rows);
    p.body.push_str("</div>");
}

/// A value as escaped text on one line (compact JSON for arrays and objects).
fn flat(v: &Value) -> String {
    match v {
        Value::Array(_) | Value::Object(_) => escape(&clip(&v.to_string(), 300)),
        other => number(other),
    }
}

/// Shows a JSON value this module has no dedicated section for: a map of numbers as bars,
/// an array of objects as a table (top-k lists), scalars in a key/value table, nested maps
/// recursively.
fn generic(p: &mut Page, key: &str, v: &Value, depth: usize) {
    let title = key.replace('_', " ");
    match v {
        Value::Object(m) if !m.is_empty() && m.values().all(Value::is_number) => {
            let total: f64 = m.values().filter_map(Value::as_f64).sum();
            let items: Vec<Item> = m
                .iter()
                .take(MAX_ROWS * 2)
                .map(|(k, x)| {
                    let f = x.as_f64().unwrap_or(0.0);
                    let text = if x.is_u64() && total > 0.0 {
                        format!("{} ({:.2} %)", number(x), 100.0 * f / total)
                    } else {
                        number(x)
                    };
                    // A number's text holds no markup; the chart escapes it anyway.
                    Item::new(k.clone(), f, text)
                })
                .collect();
            p.panel(&title, hbar(&items, None, BLUE), "All zero.");
        }
        Value::Object(m) if depth < 3 => {
            let scalars: Vec<(&str, String)> = m
                .iter()
                .filter(|(_, x)| !x.is_object() && !is_table(x))
                .map(|(k, x)| (k.as_str(), flat(x)))
                .collect();
            if !scalars.is_empty() {
                let _ = write!(
                    p.body,
                    r#"<section class="panel"><h3>{}</h3>"#,
                    escape(&title)
                );
                p.kv(&scalars);
                p.body.push_str("</section>");
            }
            for (k, x) in m {
                if x.is_object() || is_table(x) {
                    generic(p, &format!("{key} › {k}"), x, depth + 1);
                }
            }
        }
        Value::Array(a) if is_table(v) => {
            let mut cols: Vec<&str> = Vec::new();
            for row in a {
                for k in row.as_object().into_iter().flat_map(|o| o.keys()) {
                    if !cols.contains(&k.as_str()) && cols.len() < 8 {
                        cols.push(k);
                    }
                }
            }
            let _ = write!(
                p.body,
                r#"<section class="panel"><h3>{}</h3><table><tr><th class="n">#</th>"#,
                escape(&title)
            );
            for c in &cols {
                let _ = write!(p.body, "<th>{}</th>", escape(c));
            }
            p.body.push_str("</tr>");
            for (i, row) in a.iter().take(100).enumerate() {
                let _ = write!(p.body, r#"<tr><td class="n">{}</td>"#, i + 1);
                for c in &cols {
                    let x = row.get(*c).unwrap_or(&Value::Null);
                    let class = if x.is_number() { r#" class="n""# } else { "" };
                    let _ = write!(p.body, "<td{class}>{}</td>", flat(x));
                }
                p.body.push_str("</tr>");
            }
            p.body.push_str("</table></section>");
        }
        other => {
            let _ = write!(
                p.body,
                r#"<section class="panel"><h3>{}</h3>"#,
                escape(&title)
            );
            p.kv(&[(key, flat(other))]);
            p.body.push_str("</section>");
        }
    }
}

/// An array of objects (a top-k list, say).
fn is_table(v: &Value) -> bool {
    matches!(v, Value::Array(a) if !a.is_empty() && a.iter().all(Value::is_object))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escapes_markup_quotes_and_controls() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(escape("a\u{0}b\u{7f}c\td"), "a\u{fffd}b\u{fffd}c\td");
        assert_eq!(escape("ok.example."), "ok.example.");
    }

    #[test]
    fn integers_have_separators() {
        assert_eq!(int(0), "0");
        assert_eq!(int(999), "999");
        assert_eq!(int(1000), "1,000");
        assert_eq!(int(1_234_567), "1,234,567");
    }

    #[test]
    fn utc_formats_epoch_times() {
        assert_eq!(utc(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(
            utc(1_700_000_000_123_000_000),
            "2023-11-14 22:13:20.123 UTC"
        );
    }

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(100.0, 4.0), 50.0);
        assert_eq!(nice_step(7.0, 4.0), 2.0);
        assert_eq!(nice_step(0.0, 4.0), 1.0);
    }

    #[test]
    fn empty_charts_are_words_not_svg() {
        assert!(hbar(&[Item::new("a", 0.0, "0")], None, BLUE).is_none());
        assert!(columns(&|i| i.to_string(), &[0, 0], "x", BLUE).is_none());
        assert!(lines(&[], 1.0, "q/s").is_none());
        let s = hbar(
            &[Item::new("a", 2.0, "2"), Item::new("b", 0.0, "0")],
            None,
            BLUE,
        )
        .expect("a chart");
        assert_eq!(s.matches(r#"class="bar""#).count(), 1);
    }

    fn hostile() -> Value {
        let x = "<script>alert(1)</script>\"'";
        json!({
            "file": x,
            "queries": 10,
            "responses": 5,
            "queries_by_qtype": {x: 10},
            "indicators": {"query_classes": {x: 3}, x: {"name": x}},
            "top_qnames": [{"name": x, "count": 7}, {"name": "a.example.", "count": 3}],
            x: {x: 1},
            "dnsobs": {"files": [{"path": x, "format": x, "link_types": [x], "warning": x}],
                       "first_packet_ns": 1, "last_packet_ns": 2_000_000_001u64, x: x},
        })
    }

    #[test]
    fn strings_from_the_json_are_escaped_everywhere() {
        let h = render(&hostile());
        assert!(!h.contains("<script"), "raw <script> in:\n{h}");
        assert!(!h.contains("alert(1)</"), "raw end tag");
        assert!(!h.contains("\"'"), "raw quotes from the data");
        assert!(h.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;"));
        // The top-k list of the future JSON shows as a table.
        assert!(h.contains("<h3>top qnames</h3>"));
        assert!(h.contains("a.example."));
    }

    #[test]
    fn time_series_draws_lines_else_says_not_available() {
        let mut j = hostile();
        let h = render(&j);
        assert!(h.contains("Not available"));
        assert!(!h.contains(r#"class="line""#));
        j["queries_per_second"] = json!({
            "interval_seconds": 1,
            "series": {"udp_v4": [3, 5, 4], "udp_v6": [1, 2, 2], "tcp_v4": [0, 1, 0], "tcp_v6": [0, 0, 1]}
        });
        let h = render(&j);
        assert!(!h.contains("Not available"));
        assert_eq!(h.matches(r#"class="line""#).count(), 4);
    }

    #[test]
    fn time_series_rows_become_dense_rates() {
        // Buckets 100, 101, (102 empty), 103 of 1 s; udp/v4 and tcp/v6 only.
        let ts = json!({"interval_seconds": 1, "rows": [
            {"interval_start": 100, "transport": "udp", "ip_version": 4, "queries": 3},
            {"interval_start": 101, "transport": "udp", "ip_version": 4, "queries": 5},
            {"interval_start": 103, "transport": "udp", "ip_version": 4, "queries": 2},
            {"interval_start": 101, "transport": "tcp", "ip_version": 6, "queries": 7},
        ]});
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
        let rows: Vec<Value> = (0..1201)
            .map(|i| json!({"interval_start": 1000 + i, "transport": "udp", "ip_version": 6, "queries": 6}))
            .collect();
        let (step, s) =
            series_from_rows(&json!({"interval_seconds": 1, "rows": rows})).expect("series");
        assert_eq!(step, 3.0);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].1.len(), 401);
        assert!(s[0].1.iter().all(|r| *r == 6.0), "{:?}", &s[0].1);
        let mut j = hostile();
        j["time_series"] = ts;
        let h = render(&j);
        assert!(!h.contains("Not available"));
        assert_eq!(h.matches(r#"class="line""#).count(), 2);
        // Drawn, not also listed row by row under "More figures".
        assert!(!h.contains("interval_start"), "time_series rows listed");
    }

    #[test]
    fn page_is_self_contained() {
        let h = render(&hostile());
        for bad in [
            "http://", "https://", "src=", "href=", "url(", "@import", "<link", "<img",
        ] {
            assert!(!h.contains(bad), "{bad} in the page");
        }
        assert!(h.contains("default-src 'none'"));
    }
}
