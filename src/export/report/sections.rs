//! The report's sections beyond the oracle schema: indicators, RSSAC002 days, top-k tables,
//! HyperLogLog estimates, latency, ITHI, resolver hygiene, ASN diversity and the time series.

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use super::counts::{ByVersion, Counts, ratio};
use crate::aggregate::Aggregate;
use crate::aggregate::classify::{Class, EDE_CODES};
use crate::aggregate::rssac002::{DayCounts, bin_bounds};
use crate::aggregate::topk::{SpaceSaving, render_name};
use crate::decode::Transport;
use crate::privacy::Privacy;

//------------ Indicators ------------------------------------------------------

/// Shares of named queries (0–1).
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct IndicatorShares {
    /// IDNA A-labels.
    pub idn: f64,
    /// 0x20 mixed case.
    pub mixed_case: f64,
    /// Every class but `other` and `reverse`.
    pub junk: f64,
}

/// The junk / penetration section.
#[derive(Clone, Debug, Serialize)]
pub struct Indicators {
    /// Queries whose name could be classified.
    pub queries_with_valid_name: u64,
    /// Queries by class of their name.
    pub query_classes: Counts,
    /// NXDOMAIN responses by class of their question.
    pub nxdomain_responses_by_class: Counts,
    /// Queries with an A-label.
    pub queries_idn: u64,
    /// Queries in mixed case.
    pub queries_mixed_case: u64,
    /// Shares.
    pub shares: IndicatorShares,
    /// Extended DNS Error codes of responses.
    pub response_ede_codes: Counts,
    /// Query name lengths.
    pub query_name_lengths: Counts,
    /// Query label counts.
    pub query_label_counts: Counts,
    /// Responses' advertised UDP payload size.
    pub response_edns_udp_payload_size: Counts,
}

impl Indicators {
    /// The section of `a`.
    pub fn new(a: &Aggregate) -> Self {
        let ind = &a.ind;
        let per_class = |v: &[u64]| {
            Counts(
                Class::ALL
                    .iter()
                    .map(|c| (c.label().to_owned(), v[*c as usize]))
                    .collect(),
            )
        };
        let ede = ind
            .ede
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(c, n)| {
                let code = if c == EDE_CODES {
                    "other".to_owned()
                } else {
                    c.to_string()
                };
                (code, *n)
            })
            .collect();
        let q = ind.named_queries;
        let junk = q - ind.classes[Class::Other as usize] - ind.classes[Class::Reverse as usize];
        Self {
            queries_with_valid_name: q,
            query_classes: per_class(&ind.classes),
            nxdomain_responses_by_class: per_class(&ind.nxdomain_classes),
            queries_idn: ind.idn,
            queries_mixed_case: ind.mixed_case,
            shares: IndicatorShares {
                idn: ratio(ind.idn, q),
                mixed_case: ratio(ind.mixed_case, q),
                junk: ratio(junk, q),
            },
            response_ede_codes: Counts(ede),
            query_name_lengths: Counts::distribution(&ind.name_lengths),
            query_label_counts: Counts::distribution(&ind.label_counts),
            response_edns_udp_payload_size: Counts::udp_sizes(&a.response_udp_sizes),
        }
    }
}

//------------ RSSAC002 --------------------------------------------------------

/// The traffic-volume document's figures.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct TrafficVolume {
    /// UDP queries over IPv4.
    pub dns_udp_queries_received_ipv4: u64,
    /// UDP queries over IPv6.
    pub dns_udp_queries_received_ipv6: u64,
    /// TCP queries over IPv4.
    pub dns_tcp_queries_received_ipv4: u64,
    /// TCP queries over IPv6.
    pub dns_tcp_queries_received_ipv6: u64,
    /// UDP responses over IPv4.
    pub dns_udp_responses_sent_ipv4: u64,
    /// UDP responses over IPv6.
    pub dns_udp_responses_sent_ipv6: u64,
    /// TCP responses over IPv4.
    pub dns_tcp_responses_sent_ipv4: u64,
    /// TCP responses over IPv6.
    pub dns_tcp_responses_sent_ipv6: u64,
}

/// The traffic-sizes document's histograms (non-empty bins, `lo-hi` keys).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct TrafficSizes {
    /// UDP queries.
    pub udp_request_sizes: Counts,
    /// UDP responses.
    pub udp_response_sizes: Counts,
    /// TCP queries.
    pub tcp_request_sizes: Counts,
    /// TCP responses.
    pub tcp_response_sizes: Counts,
}

/// The unique-sources document's figures.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct UniqueSources {
    /// Distinct IPv4 sources.
    pub num_sources_ipv4: u64,
    /// Distinct IPv6 sources.
    pub num_sources_ipv6: u64,
    /// Distinct IPv6 /64 prefixes.
    pub num_sources_ipv6_aggregate: u64,
}

/// One UTC day.
#[derive(Clone, Debug, Serialize)]
pub struct Rssac002Day {
    /// `YYYY-MM-DDT00:00:00Z`.
    #[serde(rename = "start-period")]
    pub start_period: String,
    /// Volumes.
    #[serde(rename = "traffic-volume")]
    pub traffic_volume: TrafficVolume,
    /// Sizes.
    #[serde(rename = "traffic-sizes")]
    pub traffic_sizes: TrafficSizes,
    /// Responses by rcode.
    #[serde(rename = "rcode-volume")]
    pub rcode_volume: Counts,
    /// Distinct sources.
    #[serde(rename = "unique-sources")]
    pub unique_sources: UniqueSources,
    /// False when a count is a lower bound.
    pub unique_sources_exact: bool,
}

/// The RSSAC002 section.
#[derive(Clone, Debug, Serialize)]
pub struct Rssac002 {
    /// `rssac002v5`.
    pub version: &'static str,
    /// The days held, oldest first.
    pub days: Vec<Rssac002Day>,
    /// Messages of a day already written or out of the window.
    pub late_messages: u64,
    /// Days dropped unwritten.
    pub evicted_days: u64,
    /// The exact-source budget.
    pub max_sources_per_day: usize,
}

/// Non-empty bins of an RSSAC002 histogram, keyed `lo-hi` (the last `lo-`).
fn bins(b: &[u64]) -> Counts {
    Counts(
        b.iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| {
                let (lo, hi) = bin_bounds(i, b.len());
                let k = if i + 1 == b.len() {
                    format!("{lo}-")
                } else {
                    format!("{lo}-{hi}")
                };
                (k, *n)
            })
            .collect(),
    )
}

impl Rssac002Day {
    fn new(d: &DayCounts) -> Self {
        let s = d.sources();
        Self {
            start_period: format!("{}T00:00:00Z", crate::time::date(d.day())),
            traffic_volume: TrafficVolume {
                dns_udp_queries_received_ipv4: d.queries(0, 0),
                dns_udp_queries_received_ipv6: d.queries(0, 1),
                dns_tcp_queries_received_ipv4: d.queries(1, 0),
                dns_tcp_queries_received_ipv6: d.queries(1, 1),
                dns_udp_responses_sent_ipv4: d.responses(0, 0),
                dns_udp_responses_sent_ipv6: d.responses(0, 1),
                dns_tcp_responses_sent_ipv4: d.responses(1, 0),
                dns_tcp_responses_sent_ipv6: d.responses(1, 1),
            },
            traffic_sizes: TrafficSizes {
                udp_request_sizes: bins(d.request_sizes(0)),
                udp_response_sizes: bins(d.response_sizes(0)),
                tcp_request_sizes: bins(d.request_sizes(1)),
                tcp_response_sizes: bins(d.response_sizes(1)),
            },
            rcode_volume: Counts(d.rcodes().map(|(c, n)| (c.to_string(), n)).collect()),
            unique_sources: UniqueSources {
                num_sources_ipv4: s.counts[0],
                num_sources_ipv6: s.counts[1],
                num_sources_ipv6_aggregate: s.counts[2],
            },
            unique_sources_exact: s.exact.iter().all(|&e| e),
        }
    }
}

impl Rssac002 {
    /// The section of the day table.
    pub fn new(r: &crate::aggregate::rssac002::Rssac002) -> Self {
        Self {
            version: crate::export::rssac002::VERSION,
            days: r.days().map(Rssac002Day::new).collect(),
            late_messages: r.late(),
            evicted_days: r.evicted_days(),
            max_sources_per_day: r.cap(),
        }
    }
}

//------------ Sketches ---------------------------------------------------------

/// One row of a top-k table.
#[derive(Clone, Debug)]
pub struct TopRow {
    /// `name` or `prefix`.
    pub key_name: &'static str,
    /// The rendered key.
    pub key: String,
    /// Estimated count.
    pub count: u64,
    /// Largest possible overestimate.
    pub error: u64,
}

impl Serialize for TopRow {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry(self.key_name, &self.key)?;
        m.serialize_entry("count", &self.count)?;
        m.serialize_entry("error", &self.error)?;
        m.end()
    }
}

/// A figure per top-k table.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct PerTable {
    /// Query names.
    pub qnames: u64,
    /// TLDs.
    pub tlds: u64,
    /// Second-level names.
    pub second_level: u64,
    /// Source prefixes.
    pub source_prefixes: u64,
}

/// The heavy-hitter tables, with each count's possible overestimate.
#[derive(Clone, Debug, Serialize)]
pub struct TopK {
    /// Rows per table.
    pub k: usize,
    /// Query names.
    pub qnames: Vec<TopRow>,
    /// TLDs.
    pub tlds: Vec<TopRow>,
    /// Second-level names.
    pub second_level: Vec<TopRow>,
    /// Source prefixes.
    pub source_prefixes: Vec<TopRow>,
    /// Largest overestimate per table.
    pub max_error: PerTable,
    /// Evictions per table.
    pub evictions: PerTable,
}

impl TopK {
    /// The tables of `a`, source prefixes rendered under `privacy`.
    pub fn new(a: &Aggregate, privacy: &Privacy) -> Self {
        let t = &a.topk;
        let table = |s: &SpaceSaving, key_name: &'static str, render: &dyn Fn(&[u8]) -> String| {
            s.top(t.k)
                .into_iter()
                .map(|(k, count, error)| TopRow {
                    key_name,
                    key: render(k),
                    count,
                    error,
                })
                .collect()
        };
        let per = |f: fn(&SpaceSaving) -> u64| PerTable {
            qnames: f(&t.qnames),
            tlds: f(&t.tlds),
            second_level: f(&t.slds),
            source_prefixes: f(&t.sources),
        };
        Self {
            k: t.k,
            qnames: table(&t.qnames, "name", &render_name),
            tlds: table(&t.tlds, "name", &render_name),
            second_level: table(&t.slds, "name", &render_name),
            source_prefixes: table(&t.sources, "prefix", &|k| privacy.render_key(k)),
            max_error: per(SpaceSaving::max_error),
            evictions: per(SpaceSaving::evictions),
        }
    }
}

/// HyperLogLog estimates of distinct sources.
#[derive(Clone, Debug, Serialize)]
pub struct Estimates {
    /// IPv4 sources.
    #[serde(rename = "4")]
    pub v4: f64,
    /// IPv6 sources.
    #[serde(rename = "6")]
    pub v6: f64,
    /// IPv6 /64 prefixes.
    #[serde(rename = "6_64")]
    pub v6_64: f64,
    /// IPv4 sources of DO queries.
    pub do_4: f64,
    /// IPv6 sources of DO queries.
    pub do_6: f64,
    /// How.
    pub method: &'static str,
}

impl Estimates {
    /// The estimates of `a`.
    pub fn new(a: &Aggregate) -> Self {
        let e = a.distinct.estimates();
        Self {
            v4: e.v4,
            v6: e.v6,
            v6_64: e.v6_64,
            do_4: e.do_v4,
            do_6: e.do_v6,
            method: "HyperLogLog, 2^14 registers, standard error 0.81 %",
        }
    }
}

/// Latency of one transport.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct TransportLatency {
    /// Responses matched to their query.
    pub matched: u64,
    /// Sum of delays.
    pub sum_seconds: f64,
    /// Median.
    pub p50_seconds: Option<f64>,
    /// 90th percentile.
    pub p90_seconds: Option<f64>,
    /// 99th percentile.
    pub p99_seconds: Option<f64>,
    /// Responses without a pending query.
    pub unmatched_responses: u64,
    /// Queries unanswered within the timeout.
    pub timed_out: u64,
    /// Pending queries evicted (table full).
    pub evicted: u64,
    /// Queries whose key was already pending.
    pub duplicates: u64,
    /// Queries still pending at the end.
    pub unanswered_at_end: u64,
    /// Messages without a usable key.
    pub unkeyed: u64,
}

/// Query/response latency where both directions were captured.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Latency {
    /// Over UDP.
    pub udp: TransportLatency,
    /// Over TCP.
    pub tcp: TransportLatency,
}

impl Latency {
    /// The latency figures of `a`.
    pub fn new(a: &Aggregate) -> Self {
        let l = &a.latency;
        let per = |tr: Transport| {
            let i = tr as usize;
            TransportLatency {
                matched: l.matched[i],
                sum_seconds: l.sum_seconds(tr),
                p50_seconds: l.quantile_seconds(tr, 0.5),
                p90_seconds: l.quantile_seconds(tr, 0.9),
                p99_seconds: l.quantile_seconds(tr, 0.99),
                unmatched_responses: l.unmatched[i],
                timed_out: l.timed_out[i],
                evicted: l.evicted[i],
                duplicates: l.duplicates[i],
                unanswered_at_end: l.closed[i],
                unkeyed: l.unkeyed[i],
            }
        };
        Self {
            udp: per(Transport::Udp),
            tcp: per(Transport::Tcp),
        }
    }
}

//------------ ITHI, hygiene, ASN -----------------------------------------------

/// One ITHI metric: a share, or shares by key.
#[derive(Clone, Debug)]
pub enum IthiValue {
    /// A scalar metric.
    Share(f64),
    /// A metric with sub-keys.
    Keyed(Vec<(String, f64)>),
}

/// The ITHI section: `{"M3.1": 0.3, "M3.3.2": {"home": 0.01}, …}`.
#[derive(Clone, Debug, Default)]
pub struct Ithi(pub Vec<(&'static str, IthiValue)>);

impl Ithi {
    /// The rows of `i`, grouped by metric.
    pub fn new(i: &crate::aggregate::ithi::Ithi) -> Self {
        let mut out: Vec<(&'static str, IthiValue)> = Vec::new();
        for r in i.rows() {
            let pos = out.iter().position(|(m, _)| *m == r.metric);
            match (pos, r.key.is_empty()) {
                (None, true) => out.push((r.metric, IthiValue::Share(r.value))),
                (None, false) => out.push((r.metric, IthiValue::Keyed(vec![(r.key, r.value)]))),
                (Some(p), true) => out[p].1 = IthiValue::Share(r.value),
                (Some(p), false) => match &mut out[p].1 {
                    IthiValue::Keyed(v) => v.push((r.key, r.value)),
                    IthiValue::Share(_) => {}
                },
            }
        }
        Self(out)
    }
}

impl Serialize for Ithi {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Keyed<'a>(&'a [(String, f64)]);
        impl Serialize for Keyed<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(self.0.len()))?;
                for (k, v) in self.0 {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
        }
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (metric, v) in &self.0 {
            match v {
                IthiValue::Share(x) => m.serialize_entry(metric, x)?,
                IthiValue::Keyed(kv) => m.serialize_entry(metric, &Keyed(kv))?,
            }
        }
        m.end()
    }
}

/// The resolver hygiene section.
#[derive(Clone, Debug, Serialize)]
pub struct Hygiene {
    /// Sources per class.
    pub classes: Counts,
    /// Sources classified, by IP version.
    pub eligible_sources: ByVersion,
    /// Sources evicted from the tables.
    pub evictions: u64,
}

impl Hygiene {
    /// The section of `h`.
    pub fn new(h: &crate::aggregate::hygiene::Hygiene) -> Self {
        use crate::aggregate::hygiene::Class as H;
        let c = h.classes();
        let e = h.eligible();
        Self {
            classes: Counts(
                H::ALL
                    .iter()
                    .map(|k| (k.label().to_owned(), c[*k as usize]))
                    .collect(),
            ),
            eligible_sources: ByVersion { v4: e[0], v6: e[1] },
            evictions: h.evictions,
        }
    }
}

/// One of the top source ASNs.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct AsnRow {
    /// AS number.
    pub asn: u32,
    /// Estimated queries.
    pub queries: u64,
    /// Largest overestimate.
    pub max_error: u64,
}

/// ASN diversity, with a table.
#[derive(Clone, Debug, Serialize)]
pub struct AsnFigures {
    /// Always true.
    pub enabled: bool,
    /// Prefixes in the table.
    pub prefixes: usize,
    /// Distinct source ASNs.
    pub unique_source_asns: usize,
    /// False when the ASN set reached its cap.
    pub unique_source_asns_exact: bool,
    /// Queries whose source matched a prefix.
    pub queries_matched: u64,
    /// Queries whose source matched none.
    pub queries_unmatched: u64,
    /// The top ASNs.
    pub top: Vec<AsnRow>,
}

/// Why there are no ASN figures.
#[derive(Clone, Debug, Serialize)]
pub struct AsnOff {
    /// Always false.
    pub enabled: bool,
    /// Why.
    pub reason: &'static str,
}

/// The ASN section (`{"enabled": false, …}` without a table).
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Asn {
    /// A table was configured.
    On(AsnFigures),
    /// None was.
    Off(AsnOff),
}

impl Asn {
    /// The section of `a` (`None`: no table).
    pub fn new(a: Option<&crate::aggregate::asn::Asn>, k: usize) -> Self {
        let Some(a) = a else {
            return Self::Off(AsnOff {
                enabled: false,
                reason: "no aggregate.asn_table configured",
            });
        };
        Self::On(AsnFigures {
            enabled: true,
            prefixes: a.table().prefixes,
            unique_source_asns: a.distinct(),
            unique_source_asns_exact: !a.saturated,
            queries_matched: a.matched,
            queries_unmatched: a.unmatched,
            top: a
                .top(k)
                .into_iter()
                .map(|(asn, queries, max_error)| AsnRow {
                    asn,
                    queries,
                    max_error,
                })
                .collect(),
        })
    }
}

//------------ Time series -------------------------------------------------------

/// One interval of one transport and IP version.
#[derive(Clone, Debug, Serialize)]
pub struct IntervalRow {
    /// Interval start, seconds since the epoch.
    pub interval_start: u64,
    /// The same, ISO 8601.
    pub interval_start_iso: String,
    /// `udp` or `tcp`.
    pub transport: &'static str,
    /// 4 or 6.
    pub ip_version: u8,
    /// The interval's counters.
    #[serde(flatten)]
    pub counts: crate::aggregate::series::Counts,
}

/// Per-interval counters by transport and IP version (capture time, UTC).
#[derive(Clone, Debug, Serialize)]
pub struct TimeSeries {
    /// Interval width.
    pub interval_seconds: u64,
    /// Intervals dropped (more than held).
    pub evicted_intervals: u64,
    /// Messages older than every interval held.
    pub late_messages: u64,
    /// Rows, oldest first.
    pub rows: Vec<IntervalRow>,
}

impl TimeSeries {
    /// The rows of `s`.
    pub fn new(s: &crate::aggregate::series::Series) -> Self {
        let rows = s
            .rows()
            .iter()
            .map(|r| IntervalRow {
                interval_start: r.start_ns / 1_000_000_000,
                interval_start_iso: crate::time::iso8601(r.start_ns),
                transport: crate::aggregate::transport_label(r.transport),
                ip_version: r.ip_version,
                counts: r.counts,
            })
            .collect();
        Self {
            interval_seconds: s.interval_seconds(),
            evicted_intervals: s.evicted_intervals,
            late_messages: s.late_messages,
            rows,
        }
    }
}
