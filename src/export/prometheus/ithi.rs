//! Resolver-side indicators: ICANN ITHI M3/M8 rows, resolver hygiene classes and ASN diversity.

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{by, counters, gauges};
use super::families as f;
use crate::aggregate::asn::Asn;
use crate::aggregate::hygiene::{self, Hygiene};
use crate::aggregate::ithi::Ithi;

/// `dnsobs_ithi{metric, key}`: every ITHI row as a gauge. Keys are bounded: at most 7
/// special-use and 11 leaked TLD names (classify's fixed lists), 9 lengths, 9 option codes.
pub fn encode_ithi(i: &Ithi, enc: &mut DescriptorEncoder<'_>) -> fmt::Result {
    let rows = i.rows();
    gauges(
        enc,
        &f::ITHI,
        rows.iter()
            .map(|r| (vec![("metric", r.metric), ("key", r.key.as_str())], r.value)),
    )?;
    counters(
        enc,
        &f::ITHI_REPEAT_CACHE_EVICTIONS,
        [(vec![], i.repeat_evictions)],
    )
}

/// Hygiene classes, eligible sources by IP version, evictions.
pub fn encode_hygiene(h: &Hygiene, enc: &mut DescriptorEncoder<'_>) -> fmt::Result {
    let c = h.classes();
    gauges(
        enc,
        &f::RESOLVER_HYGIENE_SOURCES,
        hygiene::Class::ALL
            .iter()
            .map(|k| (vec![("class", k.label())], c[*k as usize] as f64)),
    )?;
    let e = h.eligible();
    gauges(
        enc,
        &f::RESOLVER_HYGIENE_ELIGIBLE_SOURCES,
        by("ip_version", [("4", e[0] as f64), ("6", e[1] as f64)]),
    )?;
    counters(enc, &f::RESOLVER_HYGIENE_EVICTIONS, [(vec![], h.evictions)])
}

/// `dnsobs_asn_table_loaded`, and with a table the distinct ASNs, the top-k ASNs (k series)
/// and the matched / unmatched queries.
pub fn encode_asn(a: Option<&Asn>, k: usize, enc: &mut DescriptorEncoder<'_>) -> fmt::Result {
    gauges(
        enc,
        &f::ASN_TABLE_LOADED,
        [(vec![], f64::from(u8::from(a.is_some())))],
    )?;
    let Some(a) = a else { return Ok(()) };
    gauges(enc, &f::UNIQUE_SOURCE_ASNS, [(vec![], a.distinct() as f64)])?;
    let top: Vec<(String, u64)> = a
        .top(k)
        .into_iter()
        .map(|(asn, n, _)| (asn.to_string(), n))
        .collect();
    gauges(
        enc,
        &f::TOP_ASN_QUERIES,
        top.iter()
            .map(|(asn, n)| (vec![("asn", asn.as_str())], *n as f64)),
    )?;
    counters(
        enc,
        &f::ASN_QUERIES,
        by("match", [("yes", a.matched), ("no", a.unmatched)]),
    )
}
