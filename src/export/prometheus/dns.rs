//! DNS counters: volumes by transport and IP version, EDNS and DO, header flags, qtypes,
//! classes, opcodes, rcodes, sizes, distinct sources, malformed traffic and decoder events.

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{Labels, by, counter, counters, folded, gauges, histograms};
use super::families as f;
use crate::aggregate::{Aggregate, UDP_SIZE_BUCKETS, transport_label};
use crate::decode::dns::opt;
use crate::decode::iana;
use crate::decode::{Event, Malformed};

const IPV: [&str; 2] = ["4", "6"];

/// `[transport][ip version]` counts as series.
fn by_transport_and_version(arr: &[[u64; 2]; 2]) -> Vec<(Labels<'static>, u64)> {
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
}

fn by_version(arr: &[u64; 2]) -> Vec<(Labels<'static>, u64)> {
    (0..2)
        .map(|i| (vec![("ip_version", IPV[i])], arr[i]))
        .collect()
}

/// Writes the DNS families that come before the indicators.
pub fn encode(a: &Aggregate, enc: &mut DescriptorEncoder<'_>) -> fmt::Result {
    counter(enc, &f::FRAMES, a.frames)?;
    counters(enc, &f::QUERIES, by_transport_and_version(&a.queries))?;
    counters(enc, &f::RESPONSES, by_transport_and_version(&a.responses))?;
    counters(enc, &f::QUERIES_EDNS, by_version(&a.queries_edns))?;
    counters(enc, &f::QUERIES_DO, by_version(&a.queries_do))?;
    counters(
        enc,
        &f::QUERY_FLAGS,
        by("flag", [("rd", a.queries_rd), ("cd", a.queries_cd)]),
    )?;
    counters(
        enc,
        &f::RESPONSE_FLAGS,
        by("flag", [("aa", a.responses_aa), ("tc", a.responses_tc)]),
    )?;
    codes(a, enc)?;
    sizes(a, enc)?;
    sources(a, enc)
}

/// Qtypes, classes, opcodes and rcodes, unassigned codes folded into `other`.
fn codes(a: &Aggregate, enc: &mut DescriptorEncoder<'_>) -> fmt::Result {
    counters(
        enc,
        &f::QUERY_QTYPES,
        by("qtype", folded(&a.qtypes, iana::qtype_label)),
    )?;
    counters(
        enc,
        &f::QUERY_QCLASSES,
        by("qclass", folded(&a.qclasses, iana::qclass_label)),
    )?;
    counters(
        enc,
        &f::QUERY_OPCODES,
        by("opcode", folded(&a.opcodes, iana::opcode_label)),
    )?;
    counters(
        enc,
        &f::RESPONSE_RCODES,
        by("rcode", folded(&a.rcodes, iana::rcode_label)),
    )
}

/// Message sizes, EDNS options and versions, and the advertised UDP payload size.
fn sizes(a: &Aggregate, enc: &mut DescriptorEncoder<'_>) -> fmt::Result {
    counters(
        enc,
        &f::MESSAGE_SIZE,
        by(
            "direction",
            [("query", a.query_bytes), ("response", a.response_bytes)],
        ),
    )?;
    counters(
        enc,
        &f::QUERY_EDNS_OPTIONS,
        opt::LABELS
            .iter()
            .zip(a.query_options)
            .map(|((_, l), n)| (vec![("option", *l)], n)),
    )?;
    let other_versions: u64 = a.edns_versions[2..].iter().sum();
    counters(
        enc,
        &f::QUERY_EDNS_VERSIONS,
        by(
            "version",
            [
                ("0", a.edns_versions[0]),
                ("1", a.edns_versions[1]),
                ("other", other_versions),
            ],
        ),
    )?;
    let n = UDP_SIZE_BUCKETS.len();
    let mut buckets: Vec<(f64, u64)> = UDP_SIZE_BUCKETS
        .iter()
        .zip(&a.udp_sizes[..n])
        .map(|(ub, c)| (f64::from(*ub), *c))
        .collect();
    buckets.push((f64::INFINITY, a.udp_sizes[n]));
    let count = a.udp_sizes[..=n].iter().sum();
    histograms(
        enc,
        &f::QUERY_EDNS_UDP_PAYLOAD_SIZE,
        [(Vec::new(), a.udp_size_sum as f64, count, buckets)],
    )
}

/// Exact distinct sources and their overflow.
fn sources(a: &Aggregate, enc: &mut DescriptorEncoder<'_>) -> fmt::Result {
    let s = a.sources();
    let (v4, v6) = s.counts();
    gauges(
        enc,
        &f::UNIQUE_QUERY_SOURCES,
        [
            (vec![("ip_version", "4")], v4 as i64),
            (vec![("ip_version", "6")], v6 as i64),
        ],
    )?;
    counters(
        enc,
        &f::UNIQUE_QUERY_SOURCES_OVERFLOW,
        by_version(&s.overflow),
    )
}

/// Malformed traffic by reason and decoder events (written after every other DNS family).
pub fn encode_malformed(a: &Aggregate, enc: &mut DescriptorEncoder<'_>) -> fmt::Result {
    counters(
        enc,
        &f::MALFORMED_PACKETS,
        Malformed::ALL
            .iter()
            .map(|m| (vec![("reason", m.label())], a.malformed[m.index()])),
    )?;
    counters(
        enc,
        &f::DECODE_EVENTS,
        Event::ALL
            .iter()
            .map(|e| (vec![("event", e.label())], a.events[e.index()])),
    )
}
