//! Junk, abuse and penetration indicators: query name classes, NXDOMAIN by class, IDN and 0x20
//! shares, Extended DNS Errors, name lengths and labels, responses' advertised payload size.

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{counter, counters, from_exact, histograms};
use super::families as f;
use crate::aggregate::classify::{Class, EDE_CODES};
use crate::aggregate::{Aggregate, UDP_SIZE_BUCKETS};

/// Upper bounds of the query name length histogram.
const NAME_LENGTHS: [f64; 12] = [
    4.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0, 64.0, 96.0, 128.0, 192.0, 255.0,
];
/// Upper bounds of the label count histogram.
const LABEL_COUNTS: [f64; 11] = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 16.0, 32.0];

/// Writes the indicator families.
pub fn encode(a: &Aggregate, enc: &mut DescriptorEncoder<'_>) -> fmt::Result {
    let ind = &a.ind;
    let per_class = |v: &[u64]| {
        Class::ALL
            .iter()
            .map(|c| (vec![("class", c.label())], v[*c as usize]))
            .collect::<Vec<_>>()
    };
    counters(enc, &f::QUERY_CLASSES, per_class(&ind.classes))?;
    counters(
        enc,
        &f::NXDOMAIN_RESPONSES,
        per_class(&ind.nxdomain_classes),
    )?;
    counter(enc, &f::QUERIES_IDN, ind.idn)?;
    counter(enc, &f::QUERIES_MIXED_CASE, ind.mixed_case)?;
    let codes: Vec<String> = (0..EDE_CODES).map(|c| c.to_string()).collect();
    counters(
        enc,
        &f::RESPONSE_EDE,
        codes
            .iter()
            .map(String::as_str)
            .chain(["other"])
            .zip(ind.ede)
            .filter(|(_, n)| *n > 0)
            .map(|(c, n)| (vec![("code", c)], n)),
    )?;
    histograms(
        enc,
        &f::QUERY_NAME_LENGTH,
        [from_exact(&ind.name_lengths, &NAME_LENGTHS)],
    )?;
    histograms(
        enc,
        &f::QUERY_NAME_LABELS,
        [from_exact(&ind.label_counts, &LABEL_COUNTS)],
    )?;
    let n = UDP_SIZE_BUCKETS.len();
    let mut buckets: Vec<(f64, u64)> = UDP_SIZE_BUCKETS
        .iter()
        .zip(a.response_udp_sizes)
        .map(|(b, n)| (f64::from(*b), n))
        .collect();
    buckets.push((f64::INFINITY, a.response_udp_sizes[n]));
    let count = a.response_udp_sizes.iter().sum();
    histograms(
        enc,
        &f::RESPONSE_EDNS_UDP_PAYLOAD_SIZE,
        [(Vec::new(), a.response_udp_size_sum as f64, count, buckets)],
    )
}
