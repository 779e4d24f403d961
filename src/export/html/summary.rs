//! The page header (file, capture time, warnings) and the summary: figure cards, shares, and
//! messages by transport and IP version.

use std::fmt::Write;

use super::page::{Page, escape, int, pct, ratio, utc};
use super::svg::{BLUE, GREEN, Item, hbar};
use crate::export::report::Report;

/// The header: file and capture times, then a note per file read only in part.
pub fn header(p: &mut Page, r: &Report) {
    let (first, last) = (r.dnsobs.first_packet_ns, r.dnsobs.last_packet_ns);
    let _ = write!(
        p.body,
        r#"<header><h1>dnsobs replay report</h1><p class="sub">{}{}</p></header>"#,
        escape(&r.file),
        match (first, last) {
            (Some(f), Some(l)) => format!(" · {} → {}", utc(f), utc(l)),
            _ => " · no packets".to_owned(),
        }
    );
    for f in &r.dnsobs.files {
        if let Some(w) = &f.warning {
            let _ = write!(
                p.body,
                r#"<p class="note warn">Warning: {}; the report covers the records read before it.</p>"#,
                escape(&format!("{}: {w}", f.path))
            );
        }
    }
}

/// Figure cards, the shares panel and the split by transport and IP version.
pub fn section(p: &mut Page, r: &Report, span_s: Option<f64>) {
    p.h2("summary", "Summary");
    cards(p, r, span_s);
    let (q, resp) = (r.queries, r.responses);
    let share = |label: &str, n: u64, d: u64, of: &str| {
        Item::new(
            label,
            ratio(n, d),
            format!("{} ({} of {} {of})", pct(n, d), int(n), int(d)),
        )
    };
    let nx = r.responses_by_rcode.get("NXDOMAIN");
    let msgs = r.dns_messages;
    let shares = vec![
        share("DNSSEC OK (DO)", r.queries_do, q, "queries"),
        share("EDNS", r.queries_edns, q, "queries"),
        share("IPv6", r.queries_by_ip_version.v6, q, "queries"),
        share("TCP", r.queries_by_transport.tcp, q, "queries"),
        share("RD set", r.queries_rd, q, "queries"),
        share("NXDOMAIN", nx, resp, "responses"),
        share("TC set", r.responses_tc, resp, "responses"),
        share("malformed", r.malformed, msgs + r.malformed, "messages"),
    ];
    p.open_grid();
    p.panel(
        "Shares",
        hbar(&shares, Some(1.0), BLUE),
        "No queries or responses.",
    );
    let by = |n: u64, label: &str, total: u64| {
        Item::new(label, n as f64, format!("{} ({})", int(n), pct(n, total)))
    };
    let split = vec![
        by(r.queries_by_transport.udp, "queries UDP", q),
        by(r.queries_by_transport.tcp, "queries TCP", q),
        by(r.queries_by_ip_version.v4, "queries IPv4", q),
        by(r.queries_by_ip_version.v6, "queries IPv6", q),
        by(r.responses_by_transport.udp, "responses UDP", resp),
        by(r.responses_by_transport.tcp, "responses TCP", resp),
        by(r.responses_by_ip_version.v4, "responses IPv4", resp),
        by(r.responses_by_ip_version.v6, "responses IPv6", resp),
    ];
    p.panel(
        "Messages by transport and IP version",
        hbar(&split, None, GREEN),
        "No DNS messages.",
    );
    p.close();
}

fn cards(p: &mut Page, r: &Report, span_s: Option<f64>) {
    let (s4, s6) = (r.unique_query_sources.v4, r.unique_query_sources.v6);
    let exact = r.unique_query_sources_exact;
    let q = r.queries;
    let cards: Vec<(String, String)> = vec![
        (int(q), "queries".into()),
        (int(r.responses), "responses".into()),
        (int(r.dns_messages), "DNS messages".into()),
        (int(r.frames), "frames".into()),
        (int(r.malformed), "malformed".into()),
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
}
