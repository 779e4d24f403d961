//! The fleet tables: one node's UTC day as two Parquet tables that an engine combines across
//! nodes and days without dnsobs (`scripts/fleet_rssac002.py` does it with Spark):
//!
//! - `ROOT/day_counts/date=YYYY-MM-DD/node=NAME/part-0.parquet`: every counter of the day in
//!   long form, one row per `(metric, transport, ip_version, key)`: sums across nodes are the
//!   fleet's counters;
//! - `ROOT/day_sources/date=…/node=…/part-0.parquet`: the day's distinct sources per kind as
//!   the fleet key's pseudonyms: `COUNT(DISTINCT fingerprint)` per kind across nodes is the
//!   fleet's exact number of sources (RSSAC002 unique-sources).
//!
//! A node's day is rewritten whole (same file name, atomic rename), so refreshing a running day
//! never leaves two copies for an engine to add up.

use std::path::{Path, PathBuf};

use super::{Column, ExportError, Open, Values, count, partition, str_col};
use crate::aggregate::classify::Class;
use crate::aggregate::rssac002::bin_bounds;
use crate::aggregate::state::AggregateState;
use crate::aggregate::{UDP_SIZE_BUCKETS, transport_label};
use crate::decode::Malformed;

/// Schema of the day counters.
pub const COUNTS_SCHEMA: &str = "message dnsobs_day_counts {
    REQUIRED BYTE_ARRAY node (STRING);
    REQUIRED BYTE_ARRAY day (STRING);
    REQUIRED BYTE_ARRAY metric (STRING);
    REQUIRED BYTE_ARRAY transport (STRING);
    REQUIRED INT32 ip_version;
    REQUIRED BYTE_ARRAY key (STRING);
    REQUIRED INT64 value;
}";

/// Schema of the day's sources.
pub const SOURCES_SCHEMA: &str = "message dnsobs_day_sources {
    REQUIRED BYTE_ARRAY node (STRING);
    REQUIRED BYTE_ARRAY day (STRING);
    REQUIRED BYTE_ARRAY kind (STRING);
    REQUIRED INT64 fingerprint;
}";

/// One counter row.
struct Row {
    day: String,
    metric: &'static str,
    transport: &'static str,
    ip_version: i32,
    key: String,
    value: u64,
}

/// The rows being made, with the date they count.
struct Rows {
    day: String,
    rows: Vec<Row>,
}

impl Rows {
    /// A row of `metric`, unless `n` is zero.
    fn add(&mut self, metric: &'static str, t: &'static str, v: i32, key: String, n: u64) {
        if n > 0 {
            self.rows.push(Row {
                day: self.day.clone(),
                metric,
                transport: t,
                ip_version: v,
                key,
                value: n,
            });
        }
    }
}

fn size_key(i: usize, bins: usize) -> String {
    let (lo, hi) = bin_bounds(i, bins);
    if i + 1 == bins {
        format!("{lo}-")
    } else {
        format!("{lo}-{hi}")
    }
}

fn tv(t: usize, v: usize) -> (&'static str, i32) {
    (transport_label(t), if v == 1 { 6 } else { 4 })
}

/// Every counter of the state of UTC day `day`. RSSAC002's inputs carry their own days: a
/// daemon flush across midnight counts for the day it began in, except there.
fn rows(s: &AggregateState, day: u32) -> Vec<Row> {
    let mut r = Rows {
        day: String::new(),
        rows: Vec::new(),
    };
    for d in &s.rssac002.days {
        r.day = crate::time::date(d.day);
        for t in 0..2 {
            for v in 0..2 {
                let (tl, vl) = tv(t, v);
                r.add("rssac002_queries", tl, vl, String::new(), d.queries[t][v]);
                r.add(
                    "rssac002_responses",
                    tl,
                    vl,
                    String::new(),
                    d.responses[t][v],
                );
            }
            let tl = transport_label(t);
            for (i, n) in d.request_sizes[t].iter().enumerate() {
                let k = size_key(i, d.request_sizes[t].len());
                r.add("rssac002_request_size", tl, 0, k, *n);
            }
            for (i, n) in d.response_sizes[t].iter().enumerate() {
                let k = size_key(i, d.response_sizes[t].len());
                r.add("rssac002_response_size", tl, 0, k, *n);
            }
        }
        for (code, n) in &d.rcodes {
            r.add("rssac002_rcode", "", 0, code.to_string(), *n);
        }
    }
    r.day = crate::time::date(day);
    for t in 0..2 {
        for v in 0..2 {
            let (tl, vl) = tv(t, v);
            r.add("queries", tl, vl, String::new(), s.queries[t][v]);
            r.add("responses", tl, vl, String::new(), s.responses[t][v]);
        }
    }
    for v in 0..2 {
        let vl = if v == 1 { 6 } else { 4 };
        r.add("queries_edns", "", vl, String::new(), s.queries_edns[v]);
        r.add("queries_do", "", vl, String::new(), s.queries_do[v]);
    }
    let scalars = [
        ("frames", s.frames),
        ("dns_messages", s.dns_messages),
        ("queries_rd", s.queries_rd),
        ("queries_cd", s.queries_cd),
        ("responses_tc", s.responses_tc),
        ("responses_aa", s.responses_aa),
        ("query_bytes", s.query_bytes),
        ("response_bytes", s.response_bytes),
        ("queries_named", s.named_queries),
        ("queries_idn", s.idn),
        ("queries_mixed_case", s.mixed_case),
    ];
    for (m, n) in scalars {
        r.add(m, "", 0, String::new(), n);
    }
    for (m, list) in [
        ("qtype", &s.qtypes),
        ("qclass", &s.qclasses),
        ("rcode", &s.rcodes),
        ("edns_version", &s.edns_versions),
    ] {
        for (k, n) in list {
            r.add(m, "", 0, k.to_string(), *n);
        }
    }
    for (i, n) in s.opcodes.iter().enumerate() {
        r.add("opcode", "", 0, i.to_string(), *n);
    }
    for (i, n) in s.udp_sizes.iter().enumerate() {
        let k = UDP_SIZE_BUCKETS
            .get(i)
            .map_or_else(|| "above".to_owned(), |b| b.to_string());
        r.add("query_edns_udp_size_le", "", 0, k, *n);
    }
    for (c, (n, nx)) in Class::ALL
        .iter()
        .zip(s.classes.iter().zip(&s.nxdomain_classes))
    {
        r.add("query_class", "", 0, c.label().to_owned(), *n);
        r.add("nxdomain_class", "", 0, c.label().to_owned(), *nx);
    }
    for (m, n) in Malformed::ALL.iter().zip(&s.malformed) {
        r.add("malformed", "", 0, m.label().to_owned(), *n);
    }
    if let Some(g) = &s.geo {
        geo_rows(&mut r, g);
    }
    r.rows
}

/// The geography's counters by country (`key`: ISO 3166 code) and AS (`key`: its number), one
/// metric per counter: `geo_country_queries`, `geo_asn_queries_do`, … (`sources_estimate` is
/// the node's: distinct sources across nodes come from `dnsobs merge`).
fn geo_rows(r: &mut Rows, g: &crate::aggregate::geo::state::GeoState) {
    use crate::aggregate::geo::{Counts, country_code};
    type Field = (&'static str, &'static str, fn(&Counts) -> u64);
    const FIELDS: [Field; 7] = [
        ("geo_country_queries", "geo_asn_queries", |c| c.queries),
        ("geo_country_queries_do", "geo_asn_queries_do", |c| {
            c.queries_do
        }),
        ("geo_country_queries_edns", "geo_asn_queries_edns", |c| {
            c.queries_edns
        }),
        ("geo_country_queries_tcp", "geo_asn_queries_tcp", |c| {
            c.queries_tcp
        }),
        ("geo_country_queries_ipv6", "geo_asn_queries_ipv6", |c| {
            c.queries_ipv6
        }),
        (
            "geo_country_responses_nxdomain",
            "geo_asn_responses_nxdomain",
            |c| c.responses_nxdomain,
        ),
        (
            "geo_country_sources_estimate",
            "geo_asn_sources_estimate",
            |c| c.sources_estimate,
        ),
    ];
    for (country, asn, f) in FIELDS {
        for (i, c) in &g.countries {
            r.add(country, "", 0, country_code(*i), f(c));
        }
        for a in &g.asns {
            r.add(asn, "", 0, a.asn.to_string(), f(&a.counts));
        }
        r.add(asn, "", 0, "other".to_owned(), f(&g.other_asns));
    }
}

/// Writes the two tables of `node`'s `day` under `root`; returns the files written.
pub fn write_day(
    root: &Path,
    node: &str,
    day: u32,
    s: &AggregateState,
) -> Result<Vec<PathBuf>, ExportError> {
    let date = crate::time::date(day);
    let kv = Vec::new;
    let rows = rows(s, day);
    let f = Open::create(
        &partition(&root.join("day_counts"), &date, node),
        "part-0.parquet",
        COUNTS_SCHEMA,
        kv(),
    )?;
    let cols = [
        Column::new(str_col(rows.iter().map(|_| node))),
        Column::new(str_col(rows.iter().map(|r| r.day.as_str()))),
        Column::new(str_col(rows.iter().map(|r| r.metric))),
        Column::new(str_col(rows.iter().map(|r| r.transport))),
        Column::new(Values::I32(rows.iter().map(|r| r.ip_version).collect())),
        Column::new(str_col(rows.iter().map(|r| r.key.as_str()))),
        Column::new(Values::I64(rows.iter().map(|r| count(r.value)).collect())),
    ];
    let counts = f.write_whole(&cols, rows.len())?;
    let (mut days, mut kinds, mut fps) = (Vec::new(), Vec::new(), Vec::new());
    for d in &s.rssac002.days {
        let src = &d.sources;
        let date = crate::time::date(d.day);
        let n = src.v4.len() + src.v6.len() + src.v6_64.len();
        days.extend(std::iter::repeat_n(date, n));
        // Pseudonyms as the 64 bits of an INT64 (Spark has no unsigned type): equal values
        // stay equal, which is all COUNT(DISTINCT) needs.
        for a in &src.v4 {
            kinds.push("ipv4");
            fps.push(i64::from(*a));
        }
        for (kind, list) in [("ipv6", &src.v6), ("ipv6_64", &src.v6_64)] {
            for f in list {
                kinds.push(kind);
                fps.push(*f as i64);
            }
        }
    }
    let f = Open::create(
        &partition(&root.join("day_sources"), &date, node),
        "part-0.parquet",
        SOURCES_SCHEMA,
        kv(),
    )?;
    let cols = [
        Column::new(str_col(kinds.iter().map(|_| node))),
        Column::new(str_col(days.iter().map(String::as_str))),
        Column::new(str_col(kinds.iter().copied())),
        Column::new(Values::I64(fps)),
    ];
    let sources = f.write_whole(&cols, kinds.len())?;
    Ok(vec![counts, sources])
}
