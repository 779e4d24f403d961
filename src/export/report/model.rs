//! The report model: every figure of the replay report as typed fields. The JSON report is its
//! serialisation (field order is key order), and the table and HTML reports read the same
//! fields, so a figure that disappears is a compile error, not a silent 0.
//!
//! Top-level keys include every key of the oracle schema with the same meaning; `malformed` is
//! dnsobs' strict count (see `malformed_by_reason`), and `dnsobs` holds the run's facts.

use serde::Serialize;

use super::counts::{ByTransport, ByVersion, Counts, ratio};
use super::sections::{
    Asn, Estimates, Hygiene, Indicators, Ithi, Latency, Rssac002, TimeSeries, TopK,
};
use crate::aggregate::{Aggregate, ipv};
use crate::decode::dns::opt;
use crate::decode::iana;
use crate::decode::{Event, Malformed};
use crate::snapshot::Snapshot;

/// Shares of queries (0–1).
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Shares {
    /// With the DO bit.
    pub queries_do: f64,
    /// With EDNS.
    pub queries_edns: f64,
    /// Over IPv6.
    pub queries_ipv6: f64,
    /// Over TCP.
    pub queries_tcp: f64,
}

/// Queries by EDNS version.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct EdnsVersions {
    /// Version 0.
    #[serde(rename = "0")]
    pub v0: u64,
    /// Version 1.
    #[serde(rename = "1")]
    pub v1: u64,
    /// Any other version.
    pub other: u64,
}

/// One input file.
#[derive(Clone, Debug, Serialize)]
pub struct FileFacts {
    /// Path as given.
    pub path: String,
    /// Container format.
    pub format: String,
    /// Compression.
    pub compression: &'static str,
    /// Link types declared.
    pub link_types: Vec<&'static str>,
    /// Records read.
    pub records: u64,
    /// What stopped reading early.
    pub warning: Option<String>,
}

/// Facts of the run (the `dnsobs` key).
#[derive(Clone, Debug, Serialize)]
pub struct RunFacts {
    /// dnsobs' version.
    pub version: &'static str,
    /// Files read.
    pub files: Vec<FileFacts>,
    /// Worker threads.
    pub threads: usize,
    /// First frame's time (ns since the epoch).
    pub first_packet_ns: Option<u64>,
    /// Last frame's time.
    pub last_packet_ns: Option<u64>,
    /// Captured bytes read.
    pub bytes_read: u64,
    /// Wall-clock time of the run.
    pub elapsed_seconds: f64,
    /// Frames per second of wall-clock time.
    pub packets_per_second: f64,
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The file name (one file) or the comma-separated paths.
    pub file: String,
    /// Who computed this (`dnsobs <version>`).
    pub oracle: String,
    /// Frames read.
    pub frames: u64,
    /// DNS messages with a complete header.
    pub dns_messages: u64,
    /// Queries.
    pub queries: u64,
    /// Responses.
    pub responses: u64,
    /// Queries by transport.
    pub queries_by_transport: ByTransport,
    /// Queries by IP version.
    pub queries_by_ip_version: ByVersion,
    /// Queries with EDNS.
    pub queries_edns: u64,
    /// Queries with DO.
    pub queries_do: u64,
    /// Queries with RD.
    pub queries_rd: u64,
    /// Queries with CD.
    pub queries_cd: u64,
    /// Queries by QTYPE mnemonic, largest first.
    pub queries_by_qtype: Counts,
    /// Queries by OPCODE.
    pub queries_by_opcode: Counts,
    /// Queries by QCLASS.
    pub queries_by_qclass: Counts,
    /// Responses by RCODE.
    pub responses_by_rcode: Counts,
    /// Responses with TC.
    pub responses_tc: u64,
    /// Responses with AA.
    pub responses_aa: u64,
    /// Distinct query sources (exact up to the cap).
    pub unique_query_sources: ByVersion,
    /// Sum of query sizes.
    pub query_size_bytes_sum: u64,
    /// Sum of response sizes.
    pub response_size_bytes_sum: u64,
    /// Malformed frames, datagrams or messages (strict).
    pub malformed: u64,
    /// Malformed by reason (non-zero only).
    pub malformed_by_reason: Counts,
    /// Responses by transport.
    pub responses_by_transport: ByTransport,
    /// Responses by IP version.
    pub responses_by_ip_version: ByVersion,
    /// Shares of queries.
    pub shares: Shares,
    /// Queries carrying each EDNS option.
    pub query_edns_options: Counts,
    /// Queries by EDNS version.
    pub query_edns_versions: EdnsVersions,
    /// Advertised EDNS UDP payload sizes of queries.
    pub query_edns_udp_payload_size: Counts,
    /// False when a distinct-source set reached its cap.
    pub unique_query_sources_exact: bool,
    /// Decoder events.
    pub decode_events: Counts,
    /// Junk, abuse and penetration indicators.
    pub indicators: Indicators,
    /// Facts of the run.
    pub dnsobs: RunFacts,
    /// Sources not remembered because a set was full.
    pub unique_query_sources_overflow: ByVersion,
    /// RSSAC002 days.
    pub rssac002: Rssac002,
    /// Heavy hitters.
    pub top_k: TopK,
    /// HyperLogLog estimates.
    pub unique_sources_estimate: Estimates,
    /// Query/response latency.
    pub latency: Latency,
    /// ITHI M3/M8.
    pub ithi: Ithi,
    /// Resolver hygiene.
    pub resolver_hygiene: Hygiene,
    /// ASN diversity.
    pub asn: Asn,
    /// Queries by country, AS and region (only with MaxMind DB files).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geo: Option<super::geo::Geo>,
    /// Per-interval counters.
    pub time_series: TimeSeries,
}

impl Report {
    /// The report of a snapshot.
    pub fn new(s: &Snapshot) -> Self {
        let a = &s.agg;
        let sources = a.sources();
        let (s4, s6) = sources.counts();
        let q = a.total_queries();
        let queries_by_transport = by_transport(&a.queries);
        let queries_by_ip_version = by_version(&a.queries);
        Self {
            file: file_label(s),
            oracle: format!("dnsobs {}", env!("CARGO_PKG_VERSION")),
            frames: a.frames,
            dns_messages: a.dns_messages,
            queries: q,
            responses: a.total_responses(),
            queries_by_transport,
            queries_by_ip_version,
            queries_edns: a.queries_edns.iter().sum(),
            queries_do: a.queries_do.iter().sum(),
            queries_rd: a.queries_rd,
            queries_cd: a.queries_cd,
            queries_by_qtype: Counts::by_code(&a.qtypes, iana::qtype_name),
            queries_by_opcode: Counts::by_code(&a.opcodes, iana::opcode_name),
            queries_by_qclass: Counts::by_code(&a.qclasses, iana::qclass_name),
            responses_by_rcode: Counts::by_code(&a.rcodes, iana::rcode_name),
            responses_tc: a.responses_tc,
            responses_aa: a.responses_aa,
            unique_query_sources: ByVersion {
                v4: s4 as u64,
                v6: s6 as u64,
            },
            query_size_bytes_sum: a.query_bytes,
            response_size_bytes_sum: a.response_bytes,
            malformed: a.total_malformed(),
            malformed_by_reason: malformed(a),
            responses_by_transport: by_transport(&a.responses),
            responses_by_ip_version: by_version(&a.responses),
            shares: Shares::new(a),
            query_edns_options: Counts(
                opt::LABELS
                    .iter()
                    .zip(a.query_options)
                    .map(|((_, l), n)| ((*l).to_owned(), n))
                    .collect(),
            ),
            query_edns_versions: EdnsVersions::new(&a.edns_versions),
            query_edns_udp_payload_size: Counts::udp_sizes(&a.udp_sizes),
            unique_query_sources_exact: sources.is_exact(),
            decode_events: Counts(
                Event::ALL
                    .iter()
                    .map(|e| (e.label().to_owned(), a.events[e.index()]))
                    .collect(),
            ),
            indicators: Indicators::new(a),
            dnsobs: run_facts(s),
            unique_query_sources_overflow: ByVersion {
                v4: sources.overflow[0],
                v6: sources.overflow[1],
            },
            rssac002: Rssac002::new(&a.rssac002),
            top_k: TopK::new(a, &s.privacy),
            unique_sources_estimate: Estimates::new(a),
            latency: Latency::new(a),
            ithi: Ithi::new(&a.ithi),
            resolver_hygiene: Hygiene::new(&a.hygiene),
            asn: Asn::new(a.asn.as_ref(), a.topk.k),
            geo: super::geo::Geo::new(a.geo.as_ref()),
            time_series: TimeSeries::new(&a.series),
        }
    }

    /// The report as a JSON value.
    pub fn to_value(&self) -> serde_json::Value {
        // Serialising plain structs, string-keyed maps and finite numbers cannot fail; a
        // non-finite float would become null.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// `[transport][ip version]` counts summed by transport.
fn by_transport(arr: &[[u64; 2]; 2]) -> ByTransport {
    ByTransport {
        udp: arr[0][0] + arr[0][1],
        tcp: arr[1][0] + arr[1][1],
    }
}

/// `[transport][ip version]` counts summed by IP version.
fn by_version(arr: &[[u64; 2]; 2]) -> ByVersion {
    ByVersion {
        v4: arr[0][0] + arr[1][0],
        v6: arr[0][1] + arr[1][1],
    }
}

impl Shares {
    fn new(a: &Aggregate) -> Self {
        let q = a.total_queries();
        let v = by_version(&a.queries);
        Self {
            queries_do: ratio(a.queries_do.iter().sum(), q),
            queries_edns: ratio(a.queries_edns.iter().sum(), q),
            queries_ipv6: ratio([v.v4, v.v6][ipv(6)], q),
            queries_tcp: ratio(by_transport(&a.queries).tcp, q),
        }
    }
}

impl EdnsVersions {
    fn new(v: &[u64]) -> Self {
        Self {
            v0: v[0],
            v1: v[1],
            other: v[2..].iter().sum(),
        }
    }
}

fn malformed(a: &Aggregate) -> Counts {
    Counts(
        Malformed::ALL
            .iter()
            .filter(|m| a.malformed[m.index()] > 0)
            .map(|m| (m.label().to_owned(), a.malformed[m.index()]))
            .collect(),
    )
}

/// One file: its name; several: their paths, comma-separated.
fn file_label(s: &Snapshot) -> String {
    match s.files() {
        [one] => one
            .path
            .file_name()
            .map_or_else(String::new, |f| f.to_string_lossy().into_owned()),
        many => many
            .iter()
            .map(|f| f.path.display().to_string())
            .collect::<Vec<_>>()
            .join(","),
    }
}

fn run_facts(s: &Snapshot) -> RunFacts {
    let a = &s.agg;
    let (threads, secs) = s
        .replay_input()
        .map_or((0, 0.0), |r| (r.threads, r.elapsed.as_secs_f64()));
    let files = s
        .files()
        .iter()
        .map(|f| FileFacts {
            path: f.path.display().to_string(),
            format: format!("{:?}", f.kind),
            compression: f.compression,
            link_types: f.link_types.iter().map(|l| l.name()).collect(),
            records: f.records,
            warning: f.warning.clone(),
        })
        .collect();
    RunFacts {
        version: env!("CARGO_PKG_VERSION"),
        files,
        threads,
        first_packet_ns: (a.frames > 0).then_some(a.first_ns),
        last_packet_ns: (a.frames > 0).then_some(a.last_ns),
        bytes_read: a.bytes,
        elapsed_seconds: secs,
        packets_per_second: if secs > 0.0 {
            a.frames as f64 / secs
        } else {
            0.0
        },
    }
}
