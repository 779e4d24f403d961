//! Stage 3, aggregate: per-worker counters. HOT PATH: plain integers in fixed arrays, no
//! atomics, no locks; tables keyed by traffic content are capped.
//!
//! Each worker owns one [`Aggregate`] (the borrow checker proves nobody else writes it);
//! [`Aggregate::merge`] adds another worker's into it when a report or a scrape needs totals.

pub mod asn;
pub mod classify;
pub mod distinct;
pub mod geo;
pub mod hygiene;
pub mod ithi;
pub mod latency;
pub mod ring;
pub mod rssac002;
pub mod series;
pub mod sketch;
pub mod sources;
pub mod state;
pub mod table;
pub mod topk;

/// The former home of the HyperLogLog and of [`distinct::Distinct`], now in [`sketch::hll`]
/// and [`distinct`]: the old paths (`aggregate::hll::Distinct`, `aggregate::hll::process_seed`)
/// still resolve.
pub mod hll {
    pub use super::distinct::{Distinct, DistinctEstimates};
    pub use super::sketch::hll::*;
}

use std::hash::BuildHasher;

use crate::decode::dns::opt;
use crate::decode::{Event, Malformed, Message, MsgCtx, Name, Sink, Transport};

/// Asks the CPU to start loading the cache line holding `p` into every cache level. Only a
/// hint: it never faults and changes no result. `Aggregate::message` issues one per table a
/// message will touch before updating any, so their cache misses overlap instead of queueing.
#[inline(always)]
pub(crate) fn prefetch<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 takes any address (a reference here), never faults and writes nothing;
    // SSE is part of the x86_64 baseline.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
            (p as *const T).cast(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

pub use sources::{RunSources, SourceKey};

/// Index of an IP version in `[v4, v6]` arrays.
pub fn ipv(version: u8) -> usize {
    usize::from(version == 6)
}

/// Queries in the per-source batch by default: enough to overlap the cache misses of the
/// batch (measured in docs/performance.md), few enough to stay in L1.
pub const DEFAULT_SOURCE_BATCH: usize = 16;

/// Settings of the aggregation.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Distinct sources (IPv4, IPv6, IPv6 /64) remembered exactly per kind and UTC day.
    pub max_sources: usize,
    /// Distinct sources remembered exactly per kind by all the UTC days held together.
    pub rssac002_max_sources: usize,
    /// Queries whose source update waits, prefetched, in the per-source batch (0 or 1: none).
    /// Figures do not depend on it.
    pub source_batch: usize,
    /// Heavy-hitter tables.
    pub topk: topk::Settings,
    /// Query/response matching.
    pub latency: latency::Settings,
    /// Resolver hygiene table.
    pub hygiene: hygiene::Settings,
    /// ITHI M3/M8 computation.
    pub ithi: ithi::Settings,
    /// ASN diversity counters.
    pub asn: asn::Settings,
    /// Prefix → ASN table; `None` turns ASN diversity off.
    pub asn_table: Option<std::sync::Arc<asn::AsnTable>>,
    /// MaxMind DB files (country, AS) and regions, replaceable while running; `None` turns
    /// the geography off.
    pub geo: Option<std::sync::Arc<geo::Live>>,
    /// Geography caps.
    pub geo_settings: geo::Settings,
    /// Per-interval counters over capture time.
    pub series: series::Settings,
    /// Keep every UTC day's figures apart as well (for day state files): a worker's
    /// aggregate then carries its [`Aggregate::days`].
    pub per_day: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_sources: sources::DEFAULT_DAY_CAP,
            rssac002_max_sources: rssac002::DEFAULT_SOURCE_CAP,
            source_batch: DEFAULT_SOURCE_BATCH,
            topk: topk::Settings::default(),
            // Beside an authoritative server a response follows its query within milliseconds:
            // 16,384 pending queries (0.8 MB, cache-resident) cover that window even at 1 M
            // queries/s, where the module's 100,000 (9 MB) made every probe a cache miss and
            // cost a quarter of the replay time under traffic that is mostly unanswered.
            latency: latency::Settings {
                capacity: 16_384,
                ..latency::Settings::default()
            },
            hygiene: hygiene::Settings::default(),
            ithi: ithi::Settings::default(),
            asn: asn::Settings::default(),
            asn_table: None,
            geo: None,
            geo_settings: geo::Settings::default(),
            series: series::Settings::default(),
            per_day: false,
        }
    }
}

/// Every counter dnsobs keeps, for one worker or merged.
#[derive(Clone, Debug)]
pub struct Aggregate {
    /// Frames (records) read.
    pub frames: u64,
    /// Captured bytes read.
    pub bytes: u64,
    /// Earliest and latest frame time (ns since the epoch); `first > last` while empty.
    pub first_ns: u64,
    /// Latest frame time.
    pub last_ns: u64,
    /// DNS messages with a complete header.
    pub dns_messages: u64,
    /// Queries by `[transport][ip version]`.
    pub queries: [[u64; 2]; 2],
    /// Responses by `[transport][ip version]`.
    pub responses: [[u64; 2]; 2],
    /// Queries with an OPT record, by IP version.
    pub queries_edns: [u64; 2],
    /// Queries with the DO bit, by IP version.
    pub queries_do: [u64; 2],
    /// Queries with RD set.
    pub queries_rd: u64,
    /// Queries with CD set.
    pub queries_cd: u64,
    /// Queries by QTYPE of the first question (65536 entries).
    pub qtypes: Box<[u64]>,
    /// Queries by QCLASS (65536 entries).
    pub qclasses: Box<[u64]>,
    /// Queries by OPCODE.
    pub opcodes: [u64; 16],
    /// Responses by extended RCODE (4096 entries).
    pub rcodes: Box<[u64]>,
    /// Responses with TC.
    pub responses_tc: u64,
    /// Responses with AA.
    pub responses_aa: u64,
    /// Sum of query sizes.
    pub query_bytes: u64,
    /// Sum of response sizes.
    pub response_bytes: u64,
    /// Queries by EDNS version.
    pub edns_versions: [u64; 256],
    /// Queries carrying each EDNS option (`opt::LABELS` order).
    pub query_options: [u64; opt::LABELS.len()],
    /// Queries by advertised EDNS UDP payload size bucket (`UDP_SIZE_BUCKETS`).
    pub udp_sizes: [u64; UDP_SIZE_BUCKETS.len() + 1],
    /// Sum of advertised EDNS UDP payload sizes (for the histogram's `_sum`).
    pub udp_size_sum: u64,
    /// Malformed input by reason.
    pub malformed: [u64; Malformed::COUNT],
    /// Decode events by kind.
    pub events: [u64; Event::COUNT],
    /// Junk, abuse and penetration indicators.
    pub ind: classify::Indicators,
    /// Responses by EDNS UDP payload size bucket (`UDP_SIZE_BUCKETS`): what servers advertise.
    pub response_udp_sizes: [u64; UDP_SIZE_BUCKETS.len() + 1],
    /// Sum of advertised EDNS UDP payload sizes of responses.
    pub response_udp_size_sum: u64,
    /// RSSAC002v5 counters per UTC day (daily YAML) and size histograms over the whole run.
    pub rssac002: rssac002::Rssac002,
    /// Heavy hitters: qnames, TLDs, second-level names, source prefixes.
    pub topk: topk::TopK,
    /// Estimated distinct sources (HyperLogLog) for live gauges.
    pub distinct: distinct::Distinct,
    /// Response latency and matching counters.
    pub latency: latency::Latency,
    /// Resolver hygiene class counts (the per-source table stays with its worker).
    pub hygiene: hygiene::Hygiene,
    /// ICANN ITHI M3/M8 metrics.
    pub ithi: ithi::Ithi,
    /// ASN diversity; `None` without a configured table (feature off).
    pub asn: Option<asn::Asn>,
    /// Queries by country, AS and region of their source; `None` without MaxMind DB files.
    pub geo: Option<geo::Geo>,
    /// Per-interval counters by transport and IP version.
    pub series: series::Series,
    /// With [`Settings::per_day`]: the same figures for each UTC day alone, by day (the
    /// fields above are their sum). Empty otherwise.
    pub days: Vec<(u32, Aggregate)>,
    /// Hash seed of the per-source keys (the per-process seed, as the sketches').
    seed: u64,
    /// Hasher of the question's name (shared by the latency table and the top-k).
    name_hasher: foldhash::quality::FixedState,
}

/// Upper bounds of the EDNS UDP payload size buckets (the last bucket is everything above).
/// 1232 is the DNS Flag Day 2020 recommendation; 512 the pre-EDNS limit.
pub const UDP_SIZE_BUCKETS: [u16; 6] = [511, 1231, 1232, 1399, 1500, 4095];

impl Aggregate {
    /// An empty aggregate.
    pub fn new(settings: &Settings) -> Self {
        Self {
            qtypes: vec![0; 65536].into_boxed_slice(),
            qclasses: vec![0; 65536].into_boxed_slice(),
            rcodes: vec![0; 4096].into_boxed_slice(),
            rssac002: rssac002::Rssac002::with_settings(
                settings.rssac002_max_sources,
                settings.max_sources,
                settings.source_batch,
            ),
            topk: topk::TopK::new(&settings.topk),
            distinct: distinct::Distinct::new(),
            latency: latency::Latency::new(&settings.latency),
            hygiene: hygiene::Hygiene::with_batch(&settings.hygiene, settings.source_batch),
            ithi: ithi::Ithi::new(&settings.ithi),
            asn: settings
                .asn_table
                .clone()
                .map(|t| asn::Asn::new(t, &settings.asn)),
            geo: settings.geo.clone().map(|db| {
                geo::Geo::new(
                    db,
                    &settings.geo_settings,
                    sketch::process_seed(),
                    settings.source_batch,
                )
                .with_intervals(&settings.series)
            }),
            series: series::Series::new(&settings.series),
            ..Self::empty_scalars()
        }
    }

    /// Counts a frame read from the capture.
    #[inline]
    pub fn frame(&mut self, ts_ns: u64, captured: usize) {
        self.frames += 1;
        self.bytes += captured as u64;
        self.first_ns = self.first_ns.min(ts_ns);
        self.last_ns = self.last_ns.max(ts_ns);
    }

    /// Total queries.
    pub fn total_queries(&self) -> u64 {
        self.queries.iter().flatten().sum()
    }
    /// Total responses.
    pub fn total_responses(&self) -> u64 {
        self.responses.iter().flatten().sum()
    }
    /// Total malformed.
    pub fn total_malformed(&self) -> u64 {
        self.malformed.iter().sum()
    }

    /// Resets every counter, keeping allocations (so a recycled aggregate costs nothing).
    pub fn clear(&mut self) {
        let rssac002 = std::mem::replace(&mut self.rssac002, rssac002::Rssac002::new(0));
        let topk = std::mem::replace(&mut self.topk, topk::TopK::placeholder());
        let distinct = std::mem::replace(&mut self.distinct, distinct::Distinct::placeholder());
        let latency = std::mem::replace(&mut self.latency, latency::Latency::placeholder());
        let hygiene = std::mem::replace(&mut self.hygiene, hygiene::Hygiene::placeholder());
        let ithi = std::mem::replace(&mut self.ithi, ithi::Ithi::placeholder());
        let asn = self.asn.take();
        let geo = self.geo.take();
        let series = std::mem::replace(
            &mut self.series,
            series::Series::new(&series::Settings {
                max_intervals: 0,
                ..Default::default()
            }),
        );
        let (qtypes, qclasses, rcodes) = (
            std::mem::take(&mut self.qtypes),
            std::mem::take(&mut self.qclasses),
            std::mem::take(&mut self.rcodes),
        );
        *self = Self {
            qtypes,
            qclasses,
            rcodes,
            rssac002,
            topk,
            distinct,
            latency,
            hygiene,
            ithi,
            asn,
            geo,
            series,
            ..Self::empty_scalars()
        };
        self.series.clear();
        self.days.clear();
        self.rssac002.clear();
        self.topk.clear();
        self.distinct.clear();
        // Keeps queries still waiting for their response, the per-source table, the repeat cache.
        self.latency.clear();
        self.hygiene.clear();
        self.ithi.clear();
        if let Some(a) = &mut self.asn {
            a.clear();
        }
        if let Some(g) = &mut self.geo {
            g.clear();
        }
        self.qtypes.fill(0);
        self.qclasses.fill(0);
        self.rcodes.fill(0);
    }

    /// Records the queries still waiting in the per-source batch: call before reading the
    /// distinct-source figures of a worker's own aggregate (a merge applies the other side's).
    pub fn flush(&mut self) {
        self.rssac002.flush_with(geo_sources(&mut self.geo));
        self.hygiene.flush();
        if let Some(g) = &mut self.geo {
            g.flush();
        }
    }

    /// Distinct query sources over the days held (the whole run, for a replay), from the
    /// per-source structure of each day.
    pub fn sources(&self) -> RunSources {
        self.rssac002.run_sources()
    }

    /// Every scalar and fixed array zero; the boxed tables empty (filled in by the caller).
    fn empty_scalars() -> Self {
        Self {
            frames: 0,
            bytes: 0,
            first_ns: u64::MAX,
            last_ns: 0,
            dns_messages: 0,
            queries: [[0; 2]; 2],
            responses: [[0; 2]; 2],
            queries_edns: [0; 2],
            queries_do: [0; 2],
            queries_rd: 0,
            queries_cd: 0,
            qtypes: Box::default(),
            qclasses: Box::default(),
            opcodes: [0; 16],
            rcodes: Box::default(),
            responses_tc: 0,
            responses_aa: 0,
            query_bytes: 0,
            response_bytes: 0,
            edns_versions: [0; 256],
            query_options: [0; opt::LABELS.len()],
            udp_sizes: [0; UDP_SIZE_BUCKETS.len() + 1],
            udp_size_sum: 0,
            malformed: [0; Malformed::COUNT],
            events: [0; Event::COUNT],
            ind: classify::Indicators::default(),
            response_udp_sizes: [0; UDP_SIZE_BUCKETS.len() + 1],
            response_udp_size_sum: 0,
            rssac002: rssac002::Rssac002::new(0),
            topk: topk::TopK::placeholder(),
            distinct: distinct::Distinct::placeholder(),
            latency: latency::Latency::placeholder(),
            hygiene: hygiene::Hygiene::placeholder(),
            ithi: ithi::Ithi::placeholder(),
            asn: None,
            geo: None,
            series: series::Series::new(&series::Settings {
                max_intervals: 0,
                ..Default::default()
            }),
            days: Vec::new(),
            seed: sketch::process_seed(),
            name_hasher: sketch::bytes_hasher(),
        }
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Self) {
        self.merge_parts(other, false);
    }

    /// Takes `other`'s figures into this cleared aggregate without copying its per-source sets
    /// (their counts only): the daemon's published snapshot, which is read, never merged on.
    pub fn merge_summary(&mut self, other: &Self) {
        self.merge_parts(other, true);
    }

    fn merge_parts(&mut self, other: &Self, summary: bool) {
        fn add(a: &mut [u64], b: &[u64]) {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        self.frames += other.frames;
        self.bytes += other.bytes;
        self.first_ns = self.first_ns.min(other.first_ns);
        self.last_ns = self.last_ns.max(other.last_ns);
        self.dns_messages += other.dns_messages;
        for t in 0..2 {
            add(&mut self.queries[t], &other.queries[t]);
            add(&mut self.responses[t], &other.responses[t]);
        }
        add(&mut self.queries_edns, &other.queries_edns);
        add(&mut self.queries_do, &other.queries_do);
        self.queries_rd += other.queries_rd;
        self.queries_cd += other.queries_cd;
        add(&mut self.qtypes, &other.qtypes);
        add(&mut self.qclasses, &other.qclasses);
        add(&mut self.opcodes, &other.opcodes);
        add(&mut self.rcodes, &other.rcodes);
        self.responses_tc += other.responses_tc;
        self.responses_aa += other.responses_aa;
        self.query_bytes += other.query_bytes;
        self.response_bytes += other.response_bytes;
        add(&mut self.edns_versions, &other.edns_versions);
        add(&mut self.query_options, &other.query_options);
        add(&mut self.udp_sizes, &other.udp_sizes);
        self.udp_size_sum += other.udp_size_sum;
        add(&mut self.malformed, &other.malformed);
        add(&mut self.events, &other.events);
        self.ind.merge(&other.ind);
        if summary {
            self.rssac002.merge_summary(&other.rssac002);
        } else {
            self.rssac002.merge(&other.rssac002);
        }
        self.topk.merge(&other.topk);
        self.distinct.merge(&other.distinct);
        self.latency.merge(&other.latency);
        self.hygiene.merge(&other.hygiene);
        self.ithi.merge(&other.ithi);
        if let (Some(a), Some(b)) = (&mut self.asn, &other.asn) {
            a.merge(b);
        }
        if let (Some(a), Some(b)) = (&mut self.geo, &other.geo) {
            if summary {
                a.merge_summary(b);
            } else {
                a.merge(b);
            }
        }
        add(&mut self.response_udp_sizes, &other.response_udp_sizes);
        self.response_udp_size_sum += other.response_udp_size_sum;
        self.series.merge(&other.series);
        for (day, a) in &other.days {
            match self.days.binary_search_by_key(day, |d| d.0) {
                Ok(i) => self.days[i].1.merge_parts(a, summary),
                Err(i) => self.days.insert(i, (*day, a.clone())),
            }
        }
    }

    /// Ends a per-day split: `days`, each flushed, become [`Aggregate::days`] of their sum.
    pub fn from_days(mut days: Vec<(u32, Aggregate)>, settings: &Settings) -> Self {
        days.sort_unstable_by_key(|d| d.0);
        let mut total = Self::new(settings);
        for (_, a) in &mut days {
            a.flush();
            total.merge(a);
        }
        total.days = days;
        total
    }
}

/// Reports the sources the RSSAC002 days did not know to the geography, if on
/// ([`geo::Geo::source_seen`]).
fn geo_sources(geo: &mut Option<geo::Geo>) -> impl FnMut(&SourceKey, bool) + '_ {
    move |k, new| {
        if let Some(g) = geo.as_mut() {
            g.source_seen(k, new);
        }
    }
}

impl Sink for Aggregate {
    #[inline]
    fn message(&mut self, ctx: &MsgCtx, msg: &Message, name: &Name) {
        self.dns_messages += 1;
        if let Some(m) = msg.malformed {
            self.malformed[m.index()] += 1;
        }
        let t = ctx.transport as usize;
        let v = ipv(ctx.ip_version);
        let h = &msg.header;
        // Start every random table access of this message first (memory-level parallelism).
        // The question's name, hashed once for the latency table and the top-k.
        let nh = self.name_hasher.hash_one(name.as_bytes());
        let lkey = self.latency.key(ctx, msg, nh);
        self.latency.prefetch(&lkey);
        let repeat = self.ithi.prefetch(ctx, msg, name);
        let tk = self.topk.hashes(ctx, msg, name, nh);
        self.topk.prefetch(name, &tk);
        // A query's source, keyed and hashed once for every figure keyed by it.
        let skey = (!h.qr()).then(|| SourceKey::new(ctx.ip_version, &ctx.src, self.seed));
        // The geography's lookup, its counters loading while the rest is counted (placed
        // first, before the other tables' prefetches, it measured slower: docs/geo.md).
        let geo = self.geo.as_mut().and_then(|g| g.prepare(ctx, msg, !h.qr()));
        self.ind.observe(ctx, msg, name);
        // Sources no day held knew may be new to the geography's (once per new source, not
        // per query; and while the days say so, without a probe of its table).
        self.rssac002
            .observe_keyed(ctx, msg, skey.as_ref(), geo_sources(&mut self.geo));
        self.latency.observe_key(ctx, msg, lkey);
        self.ithi
            .observe_keyed(ctx, msg, name, skey.map_or(0, |k| k.addr_hash), repeat);
        if let Some(k) = &skey {
            self.hygiene.observe_keyed(ctx, msg, name, k.addr_hash);
        }
        if let Some(a) = &mut self.asn {
            a.observe(ctx, msg);
        }
        self.topk.observe_hashed(ctx, msg, name, &tk);
        if let Some(k) = &skey {
            self.distinct
                .observe_key(k, msg.edns.is_some_and(|e| e.dnssec_ok));
        }
        self.series.observe(ctx.ts_ns, t, v, msg, ctx.size);
        if let (Some(g), Some(p)) = (&mut self.geo, geo) {
            g.finish(p);
        }
        if h.qr() {
            if let Some(e) = msg.edns {
                self.response_udp_sizes[udp_size_bucket(e.udp_size)] += 1;
                self.response_udp_size_sum += u64::from(e.udp_size);
            }
            self.responses[t][v] += 1;
            self.rcodes[usize::from(msg.rcode() & 0xFFF)] += 1;
            self.responses_tc += u64::from(h.tc());
            self.responses_aa += u64::from(h.aa());
            self.response_bytes += u64::from(ctx.size);
            return;
        }
        self.queries[t][v] += 1;
        self.queries_rd += u64::from(h.rd());
        self.queries_cd += u64::from(h.cd());
        self.opcodes[usize::from(h.opcode())] += 1;
        self.query_bytes += u64::from(ctx.size);
        if let Some((qt, qc)) = msg.question {
            self.qtypes[usize::from(qt)] += 1;
            self.qclasses[usize::from(qc)] += 1;
        }
        if let Some(e) = msg.edns {
            self.queries_edns[v] += 1;
            self.queries_do[v] += u64::from(e.dnssec_ok);
            self.edns_versions[usize::from(e.version)] += 1;
            for (i, (bit, _)) in opt::LABELS.iter().enumerate() {
                self.query_options[i] += u64::from(e.options & bit != 0);
            }
            self.udp_sizes[udp_size_bucket(e.udp_size)] += 1;
            self.udp_size_sum += u64::from(e.udp_size);
        }
    }

    #[inline]
    fn malformed(&mut self, reason: Malformed, _ctx: Option<&MsgCtx>) {
        self.malformed[reason.index()] += 1;
    }

    #[inline]
    fn event(&mut self, event: Event) {
        self.events[event.index()] += 1;
    }
}

/// Index of an EDNS UDP payload size in `UDP_SIZE_BUCKETS` (+1 slot for larger values).
#[inline]
pub fn udp_size_bucket(size: u16) -> usize {
    UDP_SIZE_BUCKETS
        .iter()
        .position(|&ub| size <= ub)
        .unwrap_or(UDP_SIZE_BUCKETS.len())
}

/// Transport label.
pub fn transport_label(t: usize) -> &'static str {
    if t == Transport::Tcp as usize {
        "tcp"
    } else {
        "udp"
    }
}
