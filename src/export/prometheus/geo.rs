//! Queries by country, region and AS of their source (only with MaxMind DB files). Label
//! cardinality is bounded: `country` by the ISO 3166 codes (at most 676 two-letter codes, ~250
//! in use, `ZZ` unknown), `region` by the configuration, `asn` by the top-k.

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{counters, gauges};
use super::families as f;
use crate::aggregate::geo::{Counts, Geo};

/// Every geography family of `g`; nothing when the geography is off.
pub fn encode(g: Option<&Geo>, k: usize, enc: &mut DescriptorEncoder<'_>) -> fmt::Result {
    let Some(g) = g else { return Ok(()) };
    let countries: Vec<(String, Counts)> = g.countries_seen().collect();
    let per = |field: fn(&Counts) -> u64| {
        countries
            .iter()
            .map(move |(cc, c)| (vec![("country", cc.as_str())], field(c)))
    };
    counters(enc, &f::GEO_QUERIES, per(|c| c.queries))?;
    counters(enc, &f::GEO_QUERIES_DO, per(|c| c.queries_do))?;
    counters(enc, &f::GEO_QUERIES_EDNS, per(|c| c.queries_edns))?;
    counters(enc, &f::GEO_QUERIES_TCP, per(|c| c.queries_tcp))?;
    counters(enc, &f::GEO_QUERIES_IPV6, per(|c| c.queries_ipv6))?;
    counters(enc, &f::GEO_NXDOMAIN, per(|c| c.responses_nxdomain))?;
    gauges(
        enc,
        &f::GEO_SOURCES,
        per(|c| c.sources_estimate).map(|(l, n)| (l, n as f64)),
    )?;
    let regions: Vec<(String, Counts)> = g
        .db()
        .regions
        .iter()
        .map(|r| (r.name.clone(), g.region(r)))
        .collect();
    let reg = |field: fn(&Counts) -> u64| {
        regions
            .iter()
            .map(move |(name, c)| (vec![("region", name.as_str())], field(c)))
    };
    counters(enc, &f::GEO_REGION_QUERIES, reg(|c| c.queries))?;
    counters(enc, &f::GEO_REGION_QUERIES_DO, reg(|c| c.queries_do))?;
    counters(enc, &f::GEO_REGION_QUERIES_IPV6, reg(|c| c.queries_ipv6))?;
    let mut top: Vec<(String, u64)> = g
        .asns
        .iter()
        .map(|(asn, a)| (asn.to_string(), a.counts.queries))
        .collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    top.truncate(k);
    gauges(
        enc,
        &f::GEO_TOP_ASN_QUERIES,
        top.iter()
            .map(|(asn, n)| (vec![("asn", asn.as_str())], *n as f64)),
    )
}
