//! The human-readable report, rendered from the [`Report`] model.

use std::fmt::Write;

use super::counts::{Counts, ratio};
use super::model::Report;

fn pct(n: u64, d: u64) -> String {
    format!("{:6.2} %", 100.0 * ratio(n, d))
}

fn mix(out: &mut String, title: &str, m: &Counts, total: u64) {
    let _ = writeln!(out, "\n{title}");
    if m.0.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for (k, n) in &m.0 {
        let _ = writeln!(out, "  {k:<22} {n:>12}  {}", pct(*n, total));
    }
}

/// The human-readable report.
pub fn table(r: &Report) -> String {
    let mut o = String::new();
    header(&mut o, r);
    totals(&mut o, r);
    let (q, resp) = (r.queries, r.responses);
    mix(&mut o, "Query types", &r.queries_by_qtype, q);
    mix(&mut o, "Query classes", &r.queries_by_qclass, q);
    mix(&mut o, "Opcodes", &r.queries_by_opcode, q);
    mix(&mut o, "Response codes", &r.responses_by_rcode, resp);
    let ind = &r.indicators;
    let named = ind.queries_with_valid_name;
    mix(
        &mut o,
        "Query name classes (junk and abuse)",
        &ind.query_classes,
        named,
    );
    mix(
        &mut o,
        "NXDOMAIN responses by class",
        &ind.nxdomain_responses_by_class,
        resp,
    );
    let _ = writeln!(
        o,
        "  IDN (xn--) queries     {:>12}  {}",
        ind.queries_idn,
        pct(ind.queries_idn, named)
    );
    let _ = writeln!(
        o,
        "  0x20 mixed-case        {:>12}  {}",
        ind.queries_mixed_case,
        pct(ind.queries_mixed_case, named)
    );
    mix(
        &mut o,
        "Malformed by reason",
        &r.malformed_by_reason,
        r.malformed,
    );
    if let Some(g) = &r.geo {
        geo(&mut o, g);
    }
    o
}

/// Queries by country, region and AS (the first 20 of each by queries), with the DNSSEC-OK,
/// IPv6 and TCP shares.
fn geo(o: &mut String, g: &super::geo::Geo) {
    use crate::aggregate::geo::Counts as C;
    fn rows<'a>(o: &mut String, title: &str, it: impl Iterator<Item = (String, &'a C)>) {
        let mut v: Vec<(String, &C)> = it.collect();
        v.sort_by(|a, b| b.1.queries.cmp(&a.1.queries).then_with(|| a.0.cmp(&b.0)));
        let _ = writeln!(
            o,
            "\n{title:<32} {:>12} {:>9} {:>9} {:>9} {:>9} {:>10}",
            "queries", "DO", "IPv6", "TCP", "NXDOMAIN", "sources"
        );
        for (k, c) in v.iter().take(20) {
            let _ = writeln!(
                o,
                "  {k:<30} {:>12} {} {} {} {:>9} {:>10}",
                c.queries,
                pct(c.queries_do, c.queries),
                pct(c.queries_ipv6, c.queries),
                pct(c.queries_tcp, c.queries),
                c.responses_nxdomain,
                c.sources_estimate
            );
        }
        if v.len() > 20 {
            let _ = writeln!(o, "  ({} more in the JSON report)", v.len() - 20);
        }
    }
    rows(
        o,
        "Countries",
        g.countries.iter().map(|(k, c)| (k.clone(), c)),
    );
    rows(o, "Regions", g.regions.iter().map(|(k, c)| (k.clone(), c)));
    rows(
        o,
        "Networks (AS)",
        g.asns.iter().map(|(k, a)| {
            let name = match &a.organization {
                Some(org) => format!("AS{k} {org}"),
                None => format!("AS{k}"),
            };
            (name.chars().take(30).collect(), &a.counts)
        }),
    );
}

/// Title, files, run time and capture span.
fn header(o: &mut String, r: &Report) {
    let d = &r.dnsobs;
    let _ = writeln!(o, "dnsobs {} replay report", d.version);
    for f in &d.files {
        let _ = writeln!(
            o,
            "  file {} ({}, compression {}, link {}): {} frames",
            f.path,
            f.format,
            f.compression,
            f.link_types.join("/"),
            f.records
        );
        if let Some(w) = &f.warning {
            let _ = writeln!(o, "  WARNING: {w}");
        }
    }
    let _ = writeln!(
        o,
        "  read {} frames in {:.3} s ({:.0} packets/s, {} threads)",
        r.frames, d.elapsed_seconds, d.packets_per_second, d.threads
    );
    if let (Some(first), Some(last)) = (d.first_packet_ns, d.last_packet_ns)
        && last >= first
    {
        let _ = writeln!(o, "  capture spans {:.3} s", (last - first) as f64 / 1e9);
    }
}

/// Totals and the shares of queries.
fn totals(o: &mut String, r: &Report) {
    let (q, resp) = (r.queries, r.responses);
    let _ = writeln!(o, "\nTotals");
    let _ = writeln!(o, "  DNS messages   {:>12}", r.dns_messages);
    let _ = writeln!(o, "  queries        {q:>12}");
    let _ = writeln!(o, "  responses      {resp:>12}");
    let _ = writeln!(o, "  malformed      {:>12}", r.malformed);
    let s = &r.unique_query_sources;
    let exact = if r.unique_query_sources_exact {
        ""
    } else {
        " (lower bound: cap reached)"
    };
    let _ = writeln!(
        o,
        "  query sources  {:>12} IPv4, {} IPv6{exact}",
        s.v4, s.v6
    );
    let _ = writeln!(o, "\nShares of queries");
    let _ = writeln!(o, "  EDNS           {}", pct(r.queries_edns, q));
    let _ = writeln!(o, "  DNSSEC OK (DO) {}", pct(r.queries_do, q));
    let _ = writeln!(o, "  IPv6           {}", pct(r.queries_by_ip_version.v6, q));
    let _ = writeln!(o, "  TCP            {}", pct(r.queries_by_transport.tcp, q));
    let _ = writeln!(o, "  RD set         {}", pct(r.queries_rd, q));
    let _ = writeln!(
        o,
        "  TC responses   {} of responses",
        pct(r.responses_tc, resp)
    );
}
