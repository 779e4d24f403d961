//! The report's other sections, drawn generically (top-k tables, estimates, latency, ITHI,
//! hygiene, ASN), and the provenance of the run.

use std::fmt::Write;

use serde_json::Value;

use super::page::{Page, clip, escape, float, int, number, utc};
use super::svg::{BLUE, Item, MAX_ROWS, hbar};
use crate::export::report::Report;

/// A section as a JSON value (serialising the report's own types cannot fail).
fn v(x: &impl serde::Serialize) -> Value {
    serde_json::to_value(x).unwrap_or_default()
}

/// The sections without a dedicated drawing, by report key, in report order.
pub fn sections(r: &Report) -> Vec<(&'static str, Value)> {
    vec![
        (
            "unique_query_sources_overflow",
            v(&r.unique_query_sources_overflow),
        ),
        ("top_k", v(&r.top_k)),
        ("unique_sources_estimate", v(&r.unique_sources_estimate)),
        ("latency", v(&r.latency)),
        ("ithi", v(&r.ithi)),
        ("resolver_hygiene", v(&r.resolver_hygiene)),
        ("asn", v(&r.asn)),
    ]
}

/// "More figures": every section of [`sections`].
pub fn section(p: &mut Page, r: &Report) {
    p.h2("more", "More figures");
    p.open_grid();
    for (k, v) in sections(r) {
        generic(p, k, &v, 0);
    }
    p.close();
}

/// Files read and the run's facts.
pub fn provenance(p: &mut Page, r: &Report, span: Option<f64>) {
    let d = &r.dnsobs;
    p.h2("provenance", "Provenance");
    p.body.push_str(
        r#"<table><tr><th>file</th><th>format</th><th>compression</th><th>link types</th><th class="n">records</th><th>warning</th></tr>"#,
    );
    for f in &d.files {
        let links: Vec<String> = f.link_types.iter().map(|l| escape(l)).collect();
        let _ = write!(
            p.body,
            r#"<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="n">{}</td><td class="warn">{}</td></tr>"#,
            escape(&f.path),
            escape(&f.format),
            escape(f.compression),
            links.join(", "),
            int(f.records),
            escape(f.warning.as_deref().unwrap_or("")),
        );
    }
    p.body.push_str("</table>");
    let rows = vec![
        (
            "first packet",
            d.first_packet_ns.map_or_else(|| "–".into(), utc),
        ),
        (
            "last packet",
            d.last_packet_ns.map_or_else(|| "–".into(), utc),
        ),
        (
            "time span",
            span.map_or_else(|| "–".into(), |s| format!("{s:.3} s")),
        ),
        ("bytes read", int(d.bytes_read)),
        ("worker threads", int(d.threads as u64)),
        ("replay wall-clock time (s)", float(d.elapsed_seconds)),
        ("replay packets/s", float(d.packets_per_second)),
        ("dnsobs version", escape(d.version)),
    ];
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

/// Shows a section: a map of numbers as bars, an array of objects as a table (top-k lists),
/// scalars in a key/value table, nested maps recursively.
pub fn generic(p: &mut Page, key: &str, v: &Value, depth: usize) {
    let title = key.replace('_', " ");
    match v {
        Value::Object(m) if !m.is_empty() && m.values().all(Value::is_number) => {
            numbers(p, &title, m);
        }
        Value::Object(m) if depth < 3 => {
            let scalars: Vec<(&str, String)> = m
                .iter()
                .filter(|(_, x)| !x.is_object() && !is_table(x))
                .map(|(k, x)| (k.as_str(), flat(x)))
                .collect();
            if !scalars.is_empty() {
                p.kv_panel(&title, &scalars);
            }
            for (k, x) in m {
                if x.is_object() || is_table(x) {
                    generic(p, &format!("{key} › {k}"), x, depth + 1);
                }
            }
        }
        Value::Array(a) if is_table(v) => table(p, &title, a),
        other => p.kv_panel(&title, &[(key, flat(other))]),
    }
}

/// A map of numbers as bars (shares of the total for counts).
fn numbers(p: &mut Page, title: &str, m: &serde_json::Map<String, Value>) {
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
    p.panel(title, hbar(&items, None, BLUE), "All zero.");
}

/// An array of objects as a table of at most 100 rows and 8 columns.
fn table(p: &mut Page, title: &str, a: &[Value]) {
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
        escape(title)
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

/// An array of objects (a top-k list, say).
fn is_table(v: &Value) -> bool {
    matches!(v, Value::Array(a) if !a.is_empty() && a.iter().all(Value::is_object))
}
