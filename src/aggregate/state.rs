//! An [`Aggregate`] as plain data: every figure that merges (counters, size and latency
//! histograms, per-day source sets, HyperLogLog registers, top-k summaries, ITHI and hygiene
//! counts), and nothing that is a worker's own state (pending queries, reassembly, the hygiene
//! and repeat tables). `crate::state` writes it to day state files; [`Aggregate::merge_state`]
//! adds one back, exactly as [`Aggregate::merge`] adds another worker's aggregate.
//!
//! Source sets hold what the aggregate holds (IPv4 addresses, keyed IPv6 fingerprints, /64
//! prefixes): the writer pseudonymises them before anything leaves the process.

use serde::{Deserialize, Serialize};

use super::asn::{Asn, AsnState};
use super::ithi::IthiState;
use super::latency::LatencyState;
use super::rssac002::Rssac002State;
use super::series::Row;
use super::topk::TopKState;
use super::{Aggregate, Settings, series};

/// The per-interval counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesState {
    /// Interval length.
    pub interval_seconds: u64,
    /// Non-empty rows.
    pub rows: Vec<Row>,
    /// Intervals evicted.
    pub evicted_intervals: u64,
    /// Messages not bucketed.
    pub late_messages: u64,
}

/// Every mergeable figure of an [`Aggregate`]. Long, mostly empty tables are sparse
/// `(index, count)` lists.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AggregateState {
    pub frames: u64,
    pub bytes: u64,
    pub first_ns: u64,
    pub last_ns: u64,
    pub dns_messages: u64,
    pub queries: [[u64; 2]; 2],
    pub responses: [[u64; 2]; 2],
    pub queries_edns: [u64; 2],
    pub queries_do: [u64; 2],
    pub queries_rd: u64,
    pub queries_cd: u64,
    pub qtypes: Vec<(u32, u64)>,
    pub qclasses: Vec<(u32, u64)>,
    pub opcodes: [u64; 16],
    pub rcodes: Vec<(u32, u64)>,
    pub responses_tc: u64,
    pub responses_aa: u64,
    pub query_bytes: u64,
    pub response_bytes: u64,
    pub edns_versions: Vec<(u32, u64)>,
    pub query_options: Vec<u64>,
    pub udp_sizes: Vec<u64>,
    pub udp_size_sum: u64,
    pub malformed: Vec<u64>,
    pub events: Vec<u64>,
    pub response_udp_sizes: Vec<u64>,
    pub response_udp_size_sum: u64,
    /// Indicators: classes, idn, named, mixed case, name lengths, label counts, NXDOMAIN
    /// classes, EDE codes.
    pub classes: Vec<u64>,
    pub idn: u64,
    pub named_queries: u64,
    pub mixed_case: u64,
    pub name_lengths: Vec<(u32, u64)>,
    pub label_counts: Vec<(u32, u64)>,
    pub nxdomain_classes: Vec<u64>,
    pub ede: Vec<u64>,
    pub rssac002: Rssac002State,
    pub topk: TopKState,
    /// The five source HyperLogLogs' registers (IPv4, IPv6, /64, DO IPv4, DO IPv6).
    pub distinct: Vec<Vec<u8>>,
    pub latency: LatencyState,
    /// Hygiene class deltas, evictions and queries.
    pub hygiene: (Vec<i64>, u64, u64),
    pub ithi: IthiState,
    pub series: SeriesState,
    /// ASN diversity, with an ASN table.
    pub asn: Option<AsnState>,
    /// Geography, with MaxMind DB files.
    pub geo: Option<super::geo::state::GeoState>,
}

fn sparse(v: &[u64]) -> Vec<(u32, u64)> {
    v.iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(i, n)| (i as u32, *n))
        .collect()
}

/// Adds a dense list into `dst`; refused unless the lengths agree.
fn add(dst: &mut [u64], src: &[u64], what: &str) -> Result<(), String> {
    if dst.len() != src.len() {
        return Err(format!(
            "{what}: {} entries where {} are expected",
            src.len(),
            dst.len()
        ));
    }
    for (a, b) in dst.iter_mut().zip(src) {
        *a += b;
    }
    Ok(())
}

/// Adds a sparse list into `dst`; refused if an index is out of range.
fn add_sparse(dst: &mut [u64], src: &[(u32, u64)], what: &str) -> Result<(), String> {
    for &(i, n) in src {
        *dst.get_mut(i as usize)
            .ok_or_else(|| format!("{what}: index {i} out of range"))? += n;
    }
    Ok(())
}

impl AggregateState {
    /// Aggregation settings under which merging this state loses nothing: its top-k tables'
    /// size and prefixes, its interval, and room for `max_sources` distinct sources per kind
    /// and day.
    pub fn settings(&self, max_sources: usize) -> Settings {
        Settings {
            max_sources,
            rssac002_max_sources: max_sources.saturating_mul(2),
            topk: self.topk.settings(),
            series: series::Settings {
                interval_seconds: u32::try_from(self.series.interval_seconds)
                    .unwrap_or(series::DEFAULT_INTERVAL_SECONDS),
                max_intervals: series::DEFAULT_MAX_INTERVALS.max(self.series.rows.len()),
            },
            ..Settings::default()
        }
    }
}

impl Aggregate {
    /// Every mergeable figure as plain data (queries waiting in a batch are applied first).
    pub fn state(&mut self) -> AggregateState {
        let i = &self.ind;
        let d = &self.distinct;
        AggregateState {
            frames: self.frames,
            bytes: self.bytes,
            first_ns: self.first_ns,
            last_ns: self.last_ns,
            dns_messages: self.dns_messages,
            queries: self.queries,
            responses: self.responses,
            queries_edns: self.queries_edns,
            queries_do: self.queries_do,
            queries_rd: self.queries_rd,
            queries_cd: self.queries_cd,
            qtypes: sparse(&self.qtypes),
            qclasses: sparse(&self.qclasses),
            opcodes: self.opcodes,
            rcodes: sparse(&self.rcodes),
            responses_tc: self.responses_tc,
            responses_aa: self.responses_aa,
            query_bytes: self.query_bytes,
            response_bytes: self.response_bytes,
            edns_versions: sparse(&self.edns_versions),
            query_options: self.query_options.to_vec(),
            udp_sizes: self.udp_sizes.to_vec(),
            udp_size_sum: self.udp_size_sum,
            malformed: self.malformed.to_vec(),
            events: self.events.to_vec(),
            response_udp_sizes: self.response_udp_sizes.to_vec(),
            response_udp_size_sum: self.response_udp_size_sum,
            classes: i.classes.to_vec(),
            idn: i.idn,
            named_queries: i.named_queries,
            mixed_case: i.mixed_case,
            name_lengths: sparse(&i.name_lengths),
            label_counts: sparse(&i.label_counts),
            nxdomain_classes: i.nxdomain_classes.to_vec(),
            ede: i.ede.to_vec(),
            distinct: [&d.v4, &d.v6, &d.v6_64, &d.do_v4, &d.do_v6]
                .map(|h| h.registers().to_vec())
                .to_vec(),
            rssac002: self.rssac002.state(),
            topk: self.topk.state(),
            latency: self.latency.state(),
            hygiene: self.hygiene.state(),
            ithi: self.ithi.state(),
            series: SeriesState {
                interval_seconds: self.series.interval_seconds(),
                rows: self.series.rows(),
                evicted_intervals: self.series.evicted_intervals,
                late_messages: self.series.late_messages,
            },
            asn: self.asn.as_ref().map(Asn::state),
            geo: self.geo.as_mut().map(super::geo::Geo::state),
        }
    }

    /// Adds a state (made with this process's hash seed) into `self`, as
    /// [`Aggregate::merge`] adds an aggregate. On error `self` may hold part of it.
    pub fn merge_state(&mut self, s: &AggregateState) -> Result<(), String> {
        self.frames += s.frames;
        self.bytes += s.bytes;
        self.first_ns = self.first_ns.min(s.first_ns);
        self.last_ns = self.last_ns.max(s.last_ns);
        self.dns_messages += s.dns_messages;
        for t in 0..2 {
            add(&mut self.queries[t], &s.queries[t], "queries")?;
            add(&mut self.responses[t], &s.responses[t], "responses")?;
        }
        add(&mut self.queries_edns, &s.queries_edns, "queries_edns")?;
        add(&mut self.queries_do, &s.queries_do, "queries_do")?;
        self.queries_rd += s.queries_rd;
        self.queries_cd += s.queries_cd;
        add_sparse(&mut self.qtypes, &s.qtypes, "qtypes")?;
        add_sparse(&mut self.qclasses, &s.qclasses, "qclasses")?;
        add(&mut self.opcodes, &s.opcodes, "opcodes")?;
        add_sparse(&mut self.rcodes, &s.rcodes, "rcodes")?;
        self.responses_tc += s.responses_tc;
        self.responses_aa += s.responses_aa;
        self.query_bytes += s.query_bytes;
        self.response_bytes += s.response_bytes;
        add_sparse(&mut self.edns_versions, &s.edns_versions, "edns_versions")?;
        add(&mut self.query_options, &s.query_options, "query_options")?;
        add(&mut self.udp_sizes, &s.udp_sizes, "udp_sizes")?;
        self.udp_size_sum += s.udp_size_sum;
        add(&mut self.malformed, &s.malformed, "malformed")?;
        add(&mut self.events, &s.events, "events")?;
        add(
            &mut self.response_udp_sizes,
            &s.response_udp_sizes,
            "response_udp_sizes",
        )?;
        self.response_udp_size_sum += s.response_udp_size_sum;
        let i = &mut self.ind;
        add(&mut i.classes, &s.classes, "classes")?;
        i.idn += s.idn;
        i.named_queries += s.named_queries;
        i.mixed_case += s.mixed_case;
        add_sparse(&mut i.name_lengths, &s.name_lengths, "name_lengths")?;
        add_sparse(&mut i.label_counts, &s.label_counts, "label_counts")?;
        add(
            &mut i.nxdomain_classes,
            &s.nxdomain_classes,
            "nxdomain_classes",
        )?;
        add(&mut i.ede, &s.ede, "ede")?;
        let d = &mut self.distinct;
        if s.distinct.len() != 5 {
            return Err(format!(
                "{} source sketches where 5 are expected",
                s.distinct.len()
            ));
        }
        for (h, regs) in [
            &mut d.v4,
            &mut d.v6,
            &mut d.v6_64,
            &mut d.do_v4,
            &mut d.do_v6,
        ]
        .into_iter()
        .zip(&s.distinct)
        {
            h.merge_registers(regs)?;
        }
        self.rssac002.merge_state(&s.rssac002)?;
        self.topk.merge_state(&s.topk)?;
        self.latency.merge_state(&s.latency);
        self.hygiene
            .merge_state(&s.hygiene.0, s.hygiene.1, s.hygiene.2)?;
        self.ithi.merge_state(&s.ithi)?;
        if self.series.enabled() {
            if s.series.interval_seconds != self.series.interval_seconds()
                && !s.series.rows.is_empty()
            {
                return Err(format!(
                    "intervals of {} s, where {} s are merged",
                    s.series.interval_seconds,
                    self.series.interval_seconds()
                ));
            }
            self.series.restore(&s.series.rows);
        }
        self.series.evicted_intervals += s.series.evicted_intervals;
        self.series.late_messages += s.series.late_messages;
        if let Some(a) = &s.asn {
            self.asn
                .get_or_insert_with(|| Asn::for_state(a))
                .merge_state(a)?;
        }
        if let Some(g) = &s.geo {
            if self.geo.is_none() {
                // Intervals held as the series holds them.
                let series = series::Settings {
                    interval_seconds: u32::try_from(self.series.interval_seconds())
                        .unwrap_or(series::DEFAULT_INTERVAL_SECONDS),
                    max_intervals: self.series.max_intervals(),
                };
                let geo = super::geo::Geo::for_state(g, self.seed)?.with_intervals(&series);
                self.geo = Some(geo);
            }
            if let Some(mine) = &mut self.geo {
                mine.merge_state(g)?;
            }
        }
        Ok(())
    }
}
