//! The report's geography section (`geo`): queries by country, AS and region of their source,
//! present only when MaxMind DB files were given.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::aggregate::geo::{Counts, Geo as GeoCounts};

/// One AS: its organisation (from the AS database) and its counters.
#[derive(Clone, Debug, Serialize)]
pub struct AsnEntry {
    /// The organisation holding the AS, if the database names one.
    pub organization: Option<String>,
    /// The counters.
    #[serde(flatten)]
    pub counts: Counts,
}

/// The geography section.
#[derive(Clone, Debug, Serialize)]
pub struct Geo {
    /// The databases read.
    pub databases: Vec<String>,
    /// Every country seen (ISO 3166 codes; `ZZ`: unknown), by code.
    pub countries: BTreeMap<String, Counts>,
    /// Every AS seen (`"0"`: unknown) up to the cap, by number.
    pub asns: BTreeMap<String, AsnEntry>,
    /// The ASes past the cap, summed.
    pub other_asns: Counts,
    /// How many ASes were summed there.
    pub other_asn_count: u64,
    /// The configured regions, by name.
    pub regions: BTreeMap<String, Counts>,
    /// Times a worker's source cache was full and emptied (non-zero: `sources_estimate` may
    /// count a source more than once).
    pub source_cache_resets: u64,
    /// Database walks (one per network, /24 or /48, or per address in a narrower network;
    /// again after a reload).
    pub lookups: u64,
    /// Times a worker's table of networks was full and emptied (walks again; no figure
    /// changes).
    pub network_cache_resets: u64,
    /// Intervals of the per-interval geography (Parquet) dropped past the series' cap
    /// (non-zero: some intervals are missing from that table; the figures above have them).
    pub evicted_intervals: u64,
}

impl Geo {
    /// The section of `g`, if the geography is on.
    pub fn new(g: Option<&GeoCounts>) -> Option<Self> {
        let g = g?;
        let db = g.db();
        let countries = g.countries_seen().collect();
        let asns = g
            .asns
            .iter()
            .map(|(asn, a)| {
                let organization = g.organization(*asn, &a);
                (
                    asn.to_string(),
                    AsnEntry {
                        organization,
                        counts: a.counts,
                    },
                )
            })
            .collect();
        let regions = db
            .regions
            .iter()
            .map(|r| (r.name.clone(), g.region(r)))
            .collect();
        Some(Self {
            databases: db.files.iter().map(|p| p.display().to_string()).collect(),
            countries,
            asns,
            other_asns: g.other_asns,
            other_asn_count: g.other_asn_count,
            regions,
            source_cache_resets: g.cache_resets,
            lookups: g.lookups,
            network_cache_resets: g.network_cache_resets,
            evicted_intervals: g.intervals.evicted,
        })
    }
}
