//! Sketches: top-k tables (Space-Saving), HyperLogLog distinct-source estimates and the
//! query/response latency histogram.

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{Family, Histogram, Labels, by, counters, gauges, histograms};
use super::families as f;
use crate::aggregate::Aggregate;
use crate::aggregate::topk::{SpaceSaving, render_name};
use crate::decode::Transport;
use crate::privacy::Privacy;

/// Writes the sketch families, source prefixes rendered under `privacy`.
pub fn encode(a: &Aggregate, privacy: &Privacy, enc: &mut DescriptorEncoder<'_>) -> fmt::Result {
    top_k(a, privacy, enc)?;
    distinct(a, enc)?;
    latency(a, enc)
}

/// (family, label, table, how to render its keys).
type TopTable<'a> = (
    &'a Family,
    &'a str,
    &'a SpaceSaving,
    &'a dyn Fn(&[u8]) -> String,
);

fn top_k(a: &Aggregate, privacy: &Privacy, enc: &mut DescriptorEncoder<'_>) -> fmt::Result {
    let t = &a.topk;
    let prefix = |k: &[u8]| privacy.render_key(k);
    let tables: [TopTable<'_>; 4] = [
        (&f::TOP_QNAME_QUERIES, "qname", &t.qnames, &render_name),
        (&f::TOP_TLD_QUERIES, "tld", &t.tlds, &render_name),
        (&f::TOP_SLD_QUERIES, "domain", &t.slds, &render_name),
        (&f::TOP_SOURCE_PREFIX_QUERIES, "prefix", &t.sources, &prefix),
    ];
    for (family, label, table, render) in tables {
        let rows: Vec<(String, u64)> = table
            .top(t.k)
            .into_iter()
            .map(|(k, n, _)| (render(k), n))
            .collect();
        gauges(
            enc,
            family,
            rows.iter()
                .map(|(k, n)| (vec![(label, k.as_str())], *n as f64)),
        )?;
    }
    let per_table = |v: fn(&SpaceSaving) -> u64| {
        [
            ("qname", v(&t.qnames)),
            ("tld", v(&t.tlds)),
            ("sld", v(&t.slds)),
            ("source_prefix", v(&t.sources)),
        ]
    };
    gauges(
        enc,
        &f::TOP_MAX_ERROR,
        by("table", per_table(SpaceSaving::max_error))
            .into_iter()
            .map(|(l, n)| (l, n as f64)),
    )?;
    counters(
        enc,
        &f::TOP_EVICTIONS,
        by("table", per_table(SpaceSaving::evictions)),
    )
}

fn distinct(a: &Aggregate, enc: &mut DescriptorEncoder<'_>) -> fmt::Result {
    let e = a.distinct.estimates();
    gauges(
        enc,
        &f::UNIQUE_SOURCES_ESTIMATE,
        by("ip_version", [("4", e.v4), ("6", e.v6)]),
    )?;
    gauges(
        enc,
        &f::UNIQUE_SOURCES_IPV6_64_ESTIMATE,
        [(vec![], e.v6_64)],
    )?;
    gauges(
        enc,
        &f::UNIQUE_DO_SOURCES_ESTIMATE,
        by("ip_version", [("4", e.do_v4), ("6", e.do_v6)]),
    )
}

const TRANSPORTS: [(Transport, &str); 2] = [(Transport::Udp, "udp"), (Transport::Tcp, "tcp")];

fn latency(a: &Aggregate, enc: &mut DescriptorEncoder<'_>) -> fmt::Result {
    let l = &a.latency;
    let series = TRANSPORTS.map(|(tr, label)| -> Histogram<'_> {
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
        (
            vec![("transport", label)],
            l.sum_seconds(tr),
            l.count(tr),
            buckets,
        )
    });
    histograms(enc, &f::RESPONSE_LATENCY_SECONDS, series)?;
    let per_transport = |v: &[u64; 2]| -> Vec<(Labels<'_>, u64)> {
        TRANSPORTS
            .iter()
            .map(|(tr, lb)| (vec![("transport", *lb)], v[*tr as usize]))
            .collect()
    };
    counters(
        enc,
        &f::LATENCY_RESPONSES_UNMATCHED,
        per_transport(&l.unmatched),
    )?;
    counters(
        enc,
        &f::LATENCY_QUERIES_TIMED_OUT,
        per_transport(&l.timed_out),
    )?;
    counters(enc, &f::LATENCY_QUERIES_EVICTED, per_transport(&l.evicted))?;
    counters(
        enc,
        &f::LATENCY_QUERIES_DUPLICATE,
        per_transport(&l.duplicates),
    )
}
