//! The Prometheus metric families, rendered from a merged [`Aggregate`].
//!
//! Encoding goes through the official `prometheus-client` crate (the tikv `prometheus` crate the
//! project first preferred has had no release since March 2025 and started the RustSec
//! "unmaintained" process): a [`Collector`] reads a snapshot at scrape time, so the packet path
//! never touches a metrics library. Every label value comes from a fixed table (`iana`,
//! `Malformed`, `Event`), unassigned codes fold into `other`: cardinality is bounded by design.

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

use crate::aggregate::{Aggregate, UDP_SIZE_BUCKETS, transport_label};
use crate::decode::dns::opt;
use crate::decode::iana;
use crate::decode::{Event, Malformed};

const IPV: [&str; 2] = ["4", "6"];

/// Something that lends the current merged counters (a replay result, or the daemon's
/// merged total, locked only for the duration of a scrape).
pub trait Snapshot: Send + Sync + 'static {
    /// Calls `f` with the merged counters.
    fn with(&self, f: &mut dyn FnMut(&Aggregate) -> fmt::Result) -> fmt::Result;
}

impl Snapshot for Arc<Aggregate> {
    fn with(&self, f: &mut dyn FnMut(&Aggregate) -> fmt::Result) -> fmt::Result {
        f(self)
    }
}

/// A `prometheus-client` collector over a [`Snapshot`].
pub struct AggregateCollector<S>(pub S);

impl<S> fmt::Debug for AggregateCollector<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AggregateCollector")
    }
}

impl<S: Snapshot> Collector for AggregateCollector<S> {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
        self.0.with(&mut |a| encode(a, &mut enc))
    }
}

/// A registry holding the DNS families of `source` and `dnsobs_build_info`.
pub fn registry(source: impl Snapshot) -> Registry {
    let mut r = Registry::default();
    r.register_collector(Box::new(AggregateCollector(source)));
    r.register_collector(Box::new(BuildInfo));
    r
}

/// Writes a gauge family with one series per label set.
pub fn gauges<'a>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    series: impl IntoIterator<Item = (Vec<(&'a str, &'a str)>, f64)>,
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, unit, MetricType::Gauge)?;
    for (labels, v) in series {
        ConstGauge::new(v).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

/// Renders the families in the Prometheus text format 0.0.4 (what `promtool check metrics`
/// and every Prometheus version read).
pub fn render_text(r: &Registry) -> Result<String, fmt::Error> {
    let mut s = String::with_capacity(16 << 10);
    prometheus_client::encoding::prometheus_text::encode(&mut s, r)?;
    Ok(s)
}

/// Renders the families in the OpenMetrics text format.
pub fn render_openmetrics(r: &Registry) -> Result<String, fmt::Error> {
    let mut s = String::with_capacity(16 << 10);
    prometheus_client::encoding::text::encode(&mut s, r)?;
    Ok(s)
}

#[derive(Debug)]
struct BuildInfo;

impl Collector for BuildInfo {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
        let mut m = enc.encode_descriptor(
            "dnsobs_build_info",
            "dnsobs build information; the value is always 1.",
            None,
            MetricType::Gauge,
        )?;
        let labels = [("version", env!("CARGO_PKG_VERSION"))];
        ConstGauge::new(1i64).encode(m.encode_family(&labels)?)
    }
}

fn counter(enc: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: u64) -> fmt::Result {
    let m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(v).encode(m)
}

/// Writes a counter family with one series per label set.
pub fn counters<'a>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    series: impl IntoIterator<Item = (Vec<(&'a str, &'a str)>, u64)>,
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, unit, MetricType::Counter)?;
    for (labels, v) in series {
        ConstCounter::new(v).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

/// Sums a code-indexed array into bounded labels (unassigned codes into `other`).
fn folded(values: &[u64], label: fn(u16) -> &'static str) -> Vec<(&'static str, u64)> {
    let mut out: Vec<(&'static str, u64)> = Vec::new();
    for (code, &v) in values.iter().enumerate() {
        if v == 0 {
            continue;
        }
        let l = label(code as u16);
        match out.iter_mut().find(|(k, _)| *k == l) {
            Some((_, n)) => *n += v,
            None => out.push((l, v)),
        }
    }
    out
}

/// Writes every DNS family of `a`.
pub fn encode(a: &Aggregate, enc: &mut DescriptorEncoder<'_>) -> fmt::Result {
    counter(
        enc,
        "dnsobs_frames",
        "Frames captured or read from capture files.",
        a.frames,
    )?;
    let tv = |arr: &[[u64; 2]; 2]| {
        let mut v = Vec::new();
        for (t, row) in arr.iter().enumerate() {
            for (i, &n) in row.iter().enumerate() {
                v.push((
                    vec![("transport", transport_label(t)), ("ip_version", IPV[i])],
                    n,
                ));
            }
        }
        v
    };
    counters(
        enc,
        "dnsobs_queries",
        "DNS queries (QR=0) by transport and IP version.",
        None,
        tv(&a.queries),
    )?;
    counters(
        enc,
        "dnsobs_responses",
        "DNS responses (QR=1) by transport and IP version.",
        None,
        tv(&a.responses),
    )?;
    let by_ipv = |arr: &[u64; 2]| {
        (0..2)
            .map(|i| (vec![("ip_version", IPV[i])], arr[i]))
            .collect::<Vec<_>>()
    };
    counters(
        enc,
        "dnsobs_queries_edns",
        "Queries with an OPT record (EDNS).",
        None,
        by_ipv(&a.queries_edns),
    )?;
    counters(
        enc,
        "dnsobs_queries_do",
        "Queries with the DNSSEC OK bit set.",
        None,
        by_ipv(&a.queries_do),
    )?;
    counters(
        enc,
        "dnsobs_query_flags",
        "Queries with a header flag set (flags overlap: do not sum over flag).",
        None,
        [
            (vec![("flag", "rd")], a.queries_rd),
            (vec![("flag", "cd")], a.queries_cd),
        ],
    )?;
    counters(
        enc,
        "dnsobs_response_flags",
        "Responses with a header flag set (flags overlap: do not sum over flag).",
        None,
        [
            (vec![("flag", "aa")], a.responses_aa),
            (vec![("flag", "tc")], a.responses_tc),
        ],
    )?;
    let series = |name: &'static str, v: Vec<(&'static str, u64)>| {
        v.into_iter()
            .map(move |(l, n)| (vec![(name, l)], n))
            .collect::<Vec<_>>()
    };
    counters(
        enc,
        "dnsobs_query_qtypes",
        "Queries by QTYPE of the first question (unassigned types as other).",
        None,
        series("qtype", folded(&a.qtypes, iana::qtype_label)),
    )?;
    counters(
        enc,
        "dnsobs_query_qclasses",
        "Queries by QCLASS of the first question.",
        None,
        series("qclass", folded(&a.qclasses, iana::qclass_label)),
    )?;
    counters(
        enc,
        "dnsobs_query_opcodes",
        "Queries by OPCODE.",
        None,
        series("opcode", folded(&a.opcodes, iana::opcode_label)),
    )?;
    counters(
        enc,
        "dnsobs_response_rcodes",
        "Responses by RCODE (extended with the OPT record's upper bits).",
        None,
        series("rcode", folded(&a.rcodes, iana::rcode_label)),
    )?;
    let bytes = Unit::Bytes;
    counters(
        enc,
        "dnsobs_message_size",
        "Sum of DNS message sizes (UDP payload, or TCP length prefix) by direction.",
        Some(&bytes),
        [
            (vec![("direction", "query")], a.query_bytes),
            (vec![("direction", "response")], a.response_bytes),
        ],
    )?;
    counters(
        enc,
        "dnsobs_query_edns_options",
        "Queries carrying each EDNS option.",
        None,
        opt::LABELS
            .iter()
            .zip(a.query_options)
            .map(|((_, l), n)| (vec![("option", *l)], n)),
    )?;
    let other_versions: u64 = a.edns_versions[2..].iter().sum();
    counters(
        enc,
        "dnsobs_query_edns_versions",
        "Queries with EDNS by EDNS version.",
        None,
        [
            (vec![("version", "0")], a.edns_versions[0]),
            (vec![("version", "1")], a.edns_versions[1]),
            (vec![("version", "other")], other_versions),
        ],
    )?;
    let mut m = enc.encode_descriptor(
        "dnsobs_query_edns_udp_payload_size",
        "EDNS UDP payload size advertised by queries (1232 is the DNS Flag Day 2020 value).",
        Some(&bytes),
        MetricType::Histogram,
    )?;
    let mut acc = 0;
    let mut buckets: Vec<(f64, u64)> = Vec::new();
    for (i, &ub) in UDP_SIZE_BUCKETS.iter().enumerate() {
        acc += a.udp_sizes[i];
        buckets.push((f64::from(ub), a.udp_sizes[i]));
    }
    let count = acc + a.udp_sizes[UDP_SIZE_BUCKETS.len()];
    buckets.push((f64::INFINITY, a.udp_sizes[UDP_SIZE_BUCKETS.len()]));
    m.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
        a.udp_size_sum as f64,
        count,
        &buckets,
        None,
    )?;
    let (v4, v6) = a.sources.counts();
    let mut m = enc.encode_descriptor(
        "dnsobs_unique_query_sources",
        "Distinct source addresses of queries (exact up to the configured cap).",
        None,
        MetricType::Gauge,
    )?;
    ConstGauge::new(v4 as i64).encode(m.encode_family(&[("ip_version", "4")])?)?;
    ConstGauge::new(v6 as i64).encode(m.encode_family(&[("ip_version", "6")])?)?;
    counters(
        enc,
        "dnsobs_unique_query_sources_overflow",
        "Query sources not remembered because the exact set was full (aggregate.max_unique_sources); non-zero: dnsobs_unique_query_sources is a lower bound.",
        None,
        [
            (vec![("ip_version", "4")], a.sources.overflow[0]),
            (vec![("ip_version", "6")], a.sources.overflow[1]),
        ],
    )?;
    encode_indicators(a, enc)?;
    crate::export::rssac002::encode_prometheus(&a.rssac002, enc)?;
    encode_sketches(a, enc)?;
    crate::export::ithi::encode_ithi(&a.ithi, enc)?;
    crate::export::ithi::encode_hygiene(&a.hygiene, enc)?;
    crate::export::ithi::encode_asn(a.asn.as_ref(), a.topk.k, enc)?;
    counters(
        enc,
        "dnsobs_malformed_packets",
        "Malformed frames, datagrams or DNS messages by reason (first problem found).",
        None,
        Malformed::ALL
            .iter()
            .map(|m| (vec![("reason", m.label())], a.malformed[m.index()])),
    )?;
    counters(
        enc,
        "dnsobs_decode_events",
        "Decoder events: non-IP frames, IP fragments and reassembly, TCP stream handling.",
        None,
        Event::ALL
            .iter()
            .map(|e| (vec![("event", e.label())], a.events[e.index()])),
    )
}

/// Writes a histogram from exact value-indexed counts (`counts[v]` = observations of value `v`).
fn histogram_from_exact(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    counts: &[u64],
    bounds: &[f64],
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, unit, MetricType::Histogram)?;
    let mut buckets: Vec<(f64, u64)> = bounds.iter().map(|b| (*b, 0)).collect();
    buckets.push((f64::INFINITY, 0));
    let (mut sum, mut count) = (0.0, 0);
    for (v, &n) in counts.iter().enumerate() {
        if n == 0 {
            continue;
        }
        let i = bounds
            .iter()
            .position(|b| v as f64 <= *b)
            .unwrap_or(bounds.len());
        buckets[i].1 += n;
        sum += v as f64 * n as f64;
        count += n;
    }
    m.encode_histogram::<prometheus_client::encoding::NoLabelSet>(sum, count, &buckets, None)
}

/// Junk, abuse and penetration families.
fn encode_indicators(a: &Aggregate, enc: &mut DescriptorEncoder<'_>) -> fmt::Result {
    use crate::aggregate::classify::{Class, EDE_CODES};
    let ind = &a.ind;
    counters(
        enc,
        "dnsobs_query_classes",
        "Queries by junk/abuse class of their name (exclusive, first match: priming, any, \
         special_use, leaked, chromium_probe, reverse, other).",
        None,
        Class::ALL
            .iter()
            .map(|c| (vec![("class", c.label())], ind.classes[*c as usize])),
    )?;
    counters(
        enc,
        "dnsobs_nxdomain_responses",
        "NXDOMAIN responses by class of their question (at a root server: non-existent TLDs).",
        None,
        Class::ALL.iter().map(|c| {
            (
                vec![("class", c.label())],
                ind.nxdomain_classes[*c as usize],
            )
        }),
    )?;
    counter(
        enc,
        "dnsobs_queries_idn",
        "Queries with an IDNA A-label (xn--) in the name.",
        ind.idn,
    )?;
    counter(
        enc,
        "dnsobs_queries_mixed_case",
        "Queries whose name mixes upper and lower case (0x20 randomisation by the resolver).",
        ind.mixed_case,
    )?;
    let codes: Vec<String> = (0..EDE_CODES).map(|c| c.to_string()).collect();
    counters(
        enc,
        "dnsobs_response_ede",
        "Responses carrying an Extended DNS Error (RFC 8914), by INFO-CODE (above 30: other).",
        None,
        codes
            .iter()
            .map(String::as_str)
            .chain(["other"])
            .zip(ind.ede)
            .filter(|(_, n)| *n > 0)
            .map(|(c, n)| (vec![("code", c)], n)),
    )?;
    let bytes = Unit::Bytes;
    histogram_from_exact(
        enc,
        "dnsobs_query_name_length",
        "Length of query names in presentation form without the final dot.",
        Some(&bytes),
        &ind.name_lengths,
        &[
            4.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0, 64.0, 96.0, 128.0, 192.0, 255.0,
        ],
    )?;
    histogram_from_exact(
        enc,
        "dnsobs_query_name_labels",
        "Number of labels in query names.",
        None,
        &ind.label_counts,
        &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 16.0, 32.0],
    )?;
    let mut m = enc.encode_descriptor(
        "dnsobs_response_edns_udp_payload_size",
        "EDNS UDP payload size advertised by responses.",
        Some(&bytes),
        MetricType::Histogram,
    )?;
    let mut buckets: Vec<(f64, u64)> = UDP_SIZE_BUCKETS
        .iter()
        .zip(a.response_udp_sizes)
        .map(|(b, n)| (f64::from(*b), n))
        .collect();
    buckets.push((f64::INFINITY, a.response_udp_sizes[UDP_SIZE_BUCKETS.len()]));
    let count = a.response_udp_sizes.iter().sum();
    let sum = a.response_udp_size_sum as f64;
    m.encode_histogram::<prometheus_client::encoding::NoLabelSet>(sum, count, &buckets, None)
}

/// (family, label, help, table, how to render its keys).
type TopTable<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a crate::aggregate::topk::SpaceSaving,
    fn(&[u8]) -> String,
);

/// Top-k gauges, HyperLogLog estimates and the latency histogram.
fn encode_sketches(a: &Aggregate, enc: &mut DescriptorEncoder<'_>) -> fmt::Result {
    use crate::aggregate::topk::{render_name, render_prefix};
    use crate::decode::Transport;
    let t = &a.topk;
    let tables: [TopTable<'_>; 4] = [
        (
            "dnsobs_top_qname_queries",
            "qname",
            "Queries for the top-k query names (Space-Saving estimate).",
            &t.qnames,
            render_name,
        ),
        (
            "dnsobs_top_tld_queries",
            "tld",
            "Queries for the top-k TLDs (Space-Saving estimate).",
            &t.tlds,
            render_name,
        ),
        (
            "dnsobs_top_sld_queries",
            "domain",
            "Queries for the top-k second-level names (Space-Saving estimate).",
            &t.slds,
            render_name,
        ),
        (
            "dnsobs_top_source_prefix_queries",
            "prefix",
            "Queries from the top-k source prefixes (anonymised; Space-Saving estimate).",
            &t.sources,
            render_prefix,
        ),
    ];
    for (name, label, help, table, render) in tables {
        let rows: Vec<(String, u64)> = table
            .top(t.k)
            .into_iter()
            .map(|(k, n, _)| (render(k), n))
            .collect();
        gauges(
            enc,
            name,
            help,
            None,
            rows.iter()
                .map(|(k, n)| (vec![(label, k.as_str())], *n as f64)),
        )?;
    }
    gauges(
        enc,
        "dnsobs_top_max_error",
        "Largest overestimate any top-k count may carry, per table (0 = exact).",
        None,
        [
            (vec![("table", "qname")], t.qnames.max_error() as f64),
            (vec![("table", "tld")], t.tlds.max_error() as f64),
            (vec![("table", "sld")], t.slds.max_error() as f64),
            (
                vec![("table", "source_prefix")],
                t.sources.max_error() as f64,
            ),
        ],
    )?;
    counters(
        enc,
        "dnsobs_top_evictions",
        "Keys evicted from a full top-k table (a new key took over the smallest counter), per table.",
        None,
        [
            (vec![("table", "qname")], t.qnames.evictions()),
            (vec![("table", "tld")], t.tlds.evictions()),
            (vec![("table", "sld")], t.slds.evictions()),
            (vec![("table", "source_prefix")], t.sources.evictions()),
        ],
    )?;
    let e = a.distinct.estimates();
    gauges(
        enc,
        "dnsobs_unique_sources_estimate",
        "Distinct query sources since start (HyperLogLog, standard error 0.81 %).",
        None,
        [
            (vec![("ip_version", "4")], e.v4),
            (vec![("ip_version", "6")], e.v6),
        ],
    )?;
    gauges(
        enc,
        "dnsobs_unique_sources_ipv6_64_estimate",
        "Distinct IPv6 /64 prefixes of query sources (HyperLogLog).",
        None,
        [(vec![], e.v6_64)],
    )?;
    gauges(
        enc,
        "dnsobs_unique_do_sources_estimate",
        "Distinct sources of queries with the DO bit (HyperLogLog).",
        None,
        [
            (vec![("ip_version", "4")], e.do_v4),
            (vec![("ip_version", "6")], e.do_v6),
        ],
    )?;
    let l = &a.latency;
    let transports = [(Transport::Udp, "udp"), (Transport::Tcp, "tcp")];
    let mut m = enc.encode_descriptor(
        "dnsobs_response_latency_seconds",
        "Delay from a query to its response, where both directions are captured.",
        None,
        MetricType::Histogram,
    )?;
    for (tr, label) in transports {
        let cumulative = l.buckets_seconds(tr);
        // The encoder wants per-bucket counts; the latency module gives cumulative ones.
        let mut prev = 0;
        let mut buckets: Vec<(f64, u64)> = cumulative
            .iter()
            .map(|&(ub, c)| {
                let n = c.saturating_sub(prev);
                prev = c;
                (ub, n)
            })
            .collect();
        buckets.push((f64::INFINITY, l.count(tr).saturating_sub(prev)));
        let labels = [("transport", label)];
        let mut fam = m.encode_family(&labels)?;
        fam.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            l.sum_seconds(tr),
            l.count(tr),
            &buckets,
            None,
        )?;
    }
    let per_transport = |v: &[u64; 2]| {
        transports
            .iter()
            .map(|(tr, lb)| (vec![("transport", *lb)], v[*tr as usize]))
            .collect::<Vec<_>>()
    };
    counters(
        enc,
        "dnsobs_latency_responses_unmatched",
        "Responses without a pending query.",
        None,
        per_transport(&l.unmatched),
    )?;
    counters(
        enc,
        "dnsobs_latency_queries_timed_out",
        "Queries without a response within the timeout.",
        None,
        per_transport(&l.timed_out),
    )?;
    counters(
        enc,
        "dnsobs_latency_queries_evicted",
        "Pending queries evicted because the table was full.",
        None,
        per_transport(&l.evicted),
    )?;
    counters(
        enc,
        "dnsobs_latency_queries_duplicate",
        "Queries whose key was already pending.",
        None,
        per_transport(&l.duplicates),
    )
}
