//! Where the traffic comes from: queries by the country and the network (AS) of their source,
//! from MaxMind DB files (GeoIP2/GeoLite2 Country and ASN, or the same format from DB-IP or
//! IPinfo) read through the `maxminddb` crate, and by named regions (groups of countries).
//!
//! The databases are walked once per **network**, not per query nor per source: the answer
//! (country, AS) is kept in a per-worker table of networks ([`cache`], `nets`), by the IPv4
//! /24 or the IPv6 /48 of the address when neither database holds a narrower network there
//! (the walk says how wide the networks it found are), else by the address itself. A root's
//! sources are far more numerous than their networks, so this table stays small and in the
//! CPU's caches where a table of sources would not; it is capped ([`NETS_CAP`]) and emptied
//! when full (counted in `network_cache_resets`: walks again, no figure changes).
//!
//! Distinct sources (`sources_estimate`) are kept in a second table, of sources (`cache`,
//! keyed by the [`SourceKey`]'s hash, with the country and AS a source had when first seen),
//! told only of the sources no day of the per-source sets ([`super::sources`]) knew already:
//! [`Geo::source_seen`], called by the RSSAC002 table as it records a source, once per new
//! source instead of once per query. While those sets say a source is new to them since both
//! started (no day lost, no merge, no hand-over: a replay's worker), it is new here too: it is
//! counted and appended to a log, without a probe; the log joins the table when something needs
//! to look a source up (a merge of two logs is a sort and a join). That table is capped
//! ([`Settings::max_sources`]); when full it is emptied and counted (`cache_resets`): a source
//! seen again on a later day may then be counted again, so `sources_estimate` becomes an
//! overestimate, flagged by a non-zero reset count.
//!
//! HOT PATH: one probe of the table of networks per query (NXDOMAIN responses: by their
//! destination); a walk per new network; per new source a probe of the table of sources, or
//! in a replay's worker an append to the log. While the table of networks is cache-resident
//! ([`Settings::direct_networks`]) a message is looked up when it arrives ([`Geo::prepare`],
//! which starts loading its country's and AS's counters) and counted later in the same message
//! ([`Geo::finish`]); past that, the probes are made in batches ([`super::ring`]): a message's
//! slot is prefetched when it enters the worker's ring and read when it falls out. The counters
//! are sums, so the figures do not depend on the batch size or the path. No allocation but the
//! tables' growth (bounded), the AS table's (as new ASes appear, up to its cap) and one per
//! interval stored.
//!
//! Per interval of the time series, the counters by country are kept too ([`interval`]): a
//! message's ring item carries its interval number, and the per-country counters it increments
//! are the current interval's, rolled into the cumulative [`Geo::countries`] and the interval's
//! rows when an interval ends (and settled by [`Geo::flush`] and [`Geo::merge`]). The AS
//! counters are cumulative only.

pub mod asns;
mod cache;
pub mod db;
pub mod interval;
pub mod state;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

pub use db::{COUNTRIES, GeoDb, GeoError, Live, Region, UNKNOWN, country_code, country_index};

use super::ring::Ring;
use super::sources::SourceKey;
use crate::decode::{Message, MsgCtx, Transport};
use asns::AsnTable;
use cache::Cache;
use interval::Intervals;

//------------ Geo: the per-worker counters ------------------------------------

/// Settings of the per-worker geography counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Sources whose country and AS a worker keeps (then the cache is emptied and counted).
    pub max_sources: usize,
    /// ASes counted one by one (the others are summed into `other_asns`).
    pub max_asns: usize,
    /// Entries of the table of networks up to which a message is counted at once rather than
    /// queued in the ring with its line prefetched (no figure depends on it).
    pub direct_networks: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_sources: 1 << 21,
            max_asns: 1 << 16,
            direct_networks: DIRECT_NETS,
        }
    }
}

/// The counters of one country, AS or region.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    /// Queries from it.
    pub queries: u64,
    /// Queries with the DO bit.
    pub queries_do: u64,
    /// Queries with an OPT record.
    pub queries_edns: u64,
    /// Queries over TCP.
    pub queries_tcp: u64,
    /// Queries over IPv6.
    pub queries_ipv6: u64,
    /// NXDOMAIN responses sent to it.
    pub responses_nxdomain: u64,
    /// Distinct sources (each source counted by the first worker seeing it; see the module).
    pub sources_estimate: u64,
}

impl Counts {
    /// Adds `o`.
    pub fn add(&mut self, o: &Self) {
        self.queries += o.queries;
        self.queries_do += o.queries_do;
        self.queries_edns += o.queries_edns;
        self.queries_tcp += o.queries_tcp;
        self.queries_ipv6 += o.queries_ipv6;
        self.responses_nxdomain += o.responses_nxdomain;
        self.sources_estimate += o.sources_estimate;
    }

    #[inline(always)]
    fn query(&mut self, flags: u8, version: u8) {
        let [edns, dnssec_ok, tcp, ipv6] = increments(flags, version).map(u64::from);
        self.queries += 1;
        self.queries_edns += edns;
        self.queries_do += dnssec_ok;
        self.queries_tcp += tcp;
        self.queries_ipv6 += ipv6;
    }
}

/// What a query adds to the EDNS, DO, TCP and IPv6 counters (`flags`: [`Item::flags`]).
#[inline(always)]
fn increments(flags: u8, version: u8) -> [u8; 4] {
    [
        u8::from(flags & EDNS != 0),
        u8::from(flags & DO != 0),
        u8::from(flags & TCP != 0),
        u8::from(version == 6),
    ]
}

/// The leading bits of an address, which place its /24 or /48 ([`Geo::net_key`]): an IPv4
/// address as a number (in the first 4 bytes of `a`), an IPv6 address's first 64 bits.
#[inline(always)]
fn lead(version: u8, a: &[u8; 16]) -> u64 {
    if version == 6 {
        u64::from_be_bytes([a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]])
    } else {
        u64::from(u32::from_be_bytes([a[0], a[1], a[2], a[3]]))
    }
}

/// [`Item::flags`]: the query had an OPT record.
const EDNS: u8 = 1;
/// The query had the DO bit.
const DO: u8 = 2;
/// The query came over TCP.
const TCP: u8 = 4;
/// The message is an NXDOMAIN response (counted by its destination).
const NXDOMAIN: u8 = 8;

/// A message looked up by [`Geo::prepare`], to be counted by [`Geo::finish`].
#[derive(Clone, Copy, Debug)]
pub struct Prepared {
    /// Its country and AS slot.
    at: (u16, u32),
    interval: u32,
    version: u8,
    flags: u8,
}

/// A message waiting in the ring: what its counters need.
#[derive(Clone, Copy, Debug, Default)]
struct Item {
    /// The key of the source's (query) or destination's (response) network in the table of
    /// networks ([`Geo::net_key`]).
    net: u64,
    /// That address (IPv4 in the first 4 bytes).
    addr: [u8; 16],
    /// The message's interval number ([`interval`]).
    interval: u32,
    version: u8,
    flags: u8,
}

/// One AS's counters and an address of it (to name its organisation in reports). Settled
/// counters: a query counts in the AS's [`asns::Tally`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AsnCounts {
    /// The counters.
    pub counts: Counts,
    /// An address seen in it, and its IP version (version 0: none, for ASes merged from day
    /// states, whose organisation is in [`Geo::organizations`]).
    pub example: ([u8; 16], u8),
}

/// A network's or source's country and AS (its slot in the worker's [`AsnTable`]) as cached
/// (country [`NARROW`] in the table of networks: look the address up by itself). The table of
/// networks holds only answers of the databases in force: [`Geo::refresh`] empties it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Cached {
    country: u16,
    slot: u32,
}

/// Networks (and addresses in narrower networks) a worker's table of answers holds at most: at
/// 16 bytes an entry, at most 32 MB (a /24 and /48 per entry; a root's day has a few million).
pub const NETS_CAP: usize = 1 << 20;

/// [`Settings::direct_networks`] by default: 16 bytes an entry, 512 kB, within a core's
/// second-level cache, where a prefetch has nothing to hide.
const DIRECT_NETS: usize = 1 << 15;

/// [`Cached::country`] of a /24 or /48 where a database holds narrower networks.
const NARROW: u16 = u16::MAX;

/// Tags of the keys of the table of networks (mixed: [`super::sources::set::mix`]).
const TAG_V4_NET: u64 = 1 << 60;
const TAG_V4_HOST: u64 = 2 << 60;
const TAG_V6_NET: u64 = 3 << 60;

/// Queries by country and AS of their source, for one worker or merged.
#[derive(Clone, Debug)]
pub struct Geo {
    live: Arc<Live>,
    /// The databases in force when last checked, and their generation.
    db: Arc<GeoDb>,
    generation: u32,
    settings: Settings,
    /// Source hash → its country and AS when first seen (the distinct sources), with `log`.
    cache: Cache,
    /// Sources counted without a probe of `cache` (see [`Geo::source_seen`]), not in it yet:
    /// appended in order, moved into it when a probe or a merge needs it.
    log: Vec<(u64, Cached)>,
    /// True while every source counted came through [`Geo::source_seen`] as new to the
    /// per-source sets beside it since both were empty: such a source is new here too, and is
    /// only logged. False after a merge, a hand-over, a clear or any other report.
    trusted: bool,
    /// Network (or address) key → its country and AS under the databases in force.
    nets: Cache,
    /// The databases' records decoded so far.
    memo: db::Memo,
    /// Messages waiting for their probe of the table of networks, oldest first (capacity 0:
    /// none wait).
    queue: Ring<Item>,
    /// Sources new to their day waiting for their probe of the table of sources.
    fresh: Ring<SourceKey>,
    /// Per country index (cumulative; exact once settled: see [`interval`]).
    pub countries: Box<[Counts]>,
    /// Per interval and country index (of the series' intervals; off by default).
    pub intervals: Intervals,
    /// Per AS number (0: unknown), at most `max_asns`, by slot ([`asns`]: an index per query).
    pub asns: AsnTable,
    /// Events counted in the ASes' tallies since they were settled (see [`asns`]).
    tallied: u32,
    /// The ASes past the cap, summed.
    pub other_asns: Counts,
    /// Distinct ASes not counted one by one (each counted once per worker).
    pub other_asn_count: u64,
    /// Times the source cache was emptied because it was full.
    pub cache_resets: u64,
    /// Times the table of networks was emptied because it was full (no figure changes).
    pub network_cache_resets: u64,
    /// Database walks (per network, or per address in a narrower one; again after a reload).
    pub lookups: u64,
    /// Organisations of ASes merged from day states (which keep no address).
    pub organizations: HashMap<u32, String>,
}

impl Geo {
    /// Empty counters over the shared databases, probing the cache in batches of `batch`
    /// messages (0 or 1: at once).
    pub fn new(live: Arc<Live>, settings: &Settings, seed: u64, batch: usize) -> Self {
        let (db, generation) = live.current();
        Self {
            live,
            db,
            generation,
            settings: *settings,
            cache: Cache::new(seed),
            log: Vec::new(),
            trusted: true,
            nets: Cache::new(seed),
            memo: db::Memo::default(),
            queue: Ring::new(if batch > 1 { batch } else { 0 }),
            fresh: Ring::new(if batch > 1 { batch } else { 0 }),
            countries: vec![Counts::default(); COUNTRIES].into_boxed_slice(),
            intervals: Intervals::off(),
            asns: AsnTable::new(settings.max_asns, seed),
            tallied: 0,
            other_asns: Counts::default(),
            other_asn_count: 0,
            cache_resets: 0,
            network_cache_resets: 0,
            lookups: 0,
            organizations: HashMap::new(),
        }
    }

    /// Also counts per interval of the series `s` (nothing more when it is off).
    pub fn with_intervals(mut self, s: &super::series::Settings) -> Self {
        self.intervals = Intervals::new(s);
        self
    }

    /// The databases (as of the last message counted).
    pub fn db(&self) -> &GeoDb {
        &self.db
    }

    /// The databases' slot (for their reload counters).
    pub fn live(&self) -> &Live {
        &self.live
    }

    fn ip(version: u8, a: &[u8; 16]) -> IpAddr {
        if version == 6 {
            IpAddr::from(*a)
        } else {
            IpAddr::from([a[0], a[1], a[2], a[3]])
        }
    }

    /// The key of the table of networks for the /24 or /48 of an address, from its leading
    /// bits ([`lead`]).
    #[inline(always)]
    fn net_key(&self, version: u8, lead: u64) -> u64 {
        let k = if version == 6 {
            TAG_V6_NET | lead >> 16
        } else {
            TAG_V4_NET | lead >> 8
        };
        super::sources::set::mix(self.cache.seed() ^ k)
    }

    /// The key of the table of networks for an address by itself (an IPv6 address's is its
    /// keyed fingerprint, as the source sets': see [`super::sources`] on collisions).
    fn host_key(&self, version: u8, a: &[u8; 16]) -> u64 {
        if version == 6 {
            SourceKey::new(6, a, self.cache.seed()).addr_hash
        } else {
            let k = TAG_V4_HOST | u64::from(u32::from_be_bytes([a[0], a[1], a[2], a[3]]));
            super::sources::set::mix(self.cache.seed() ^ k)
        }
    }

    /// `(country, AS slot)` of an address (`net`: its [`Geo::net_key`]; `addr`: its version
    /// and bytes, needed only off the fast path): from the table of networks, else from the
    /// databases (then kept there, by network if it is wide enough).
    #[inline(always)]
    fn locate(&mut self, net: u64, addr: impl Fn() -> (u8, [u8; 16])) -> (u16, u32) {
        if let Some(v) = self.nets.get(net)
            && v.country != NARROW
        {
            return (v.country, v.slot);
        }
        let (version, a) = addr();
        self.locate_slow(version, &a, net)
    }

    /// [`Geo::locate`] off its fast path: the address by itself in a network narrower than a
    /// /24 or /48, or a walk of the databases.
    #[cold]
    #[inline(never)]
    fn locate_slow(&mut self, version: u8, addr: &[u8; 16], net: u64) -> (u16, u32) {
        if self.nets.get(net).is_some()
            && let Some(v) = self.nets.get(self.host_key(version, addr))
        {
            return (v.country, v.slot);
        }
        self.walk(version, addr, net)
    }

    /// Walks the databases for an address and keeps the answer (see [`Geo::locate`]).
    fn walk(&mut self, version: u8, addr: &[u8; 16], net: u64) -> (u16, u32) {
        self.lookups += 1;
        let (country, asn, prefix) = self.db.lookup_memo(Self::ip(version, addr), &mut self.memo);
        let slot = self.asn_slot(asn, (*addr, version));
        let wide = prefix <= if version == 6 { 48 } else { 24 };
        if self.nets.len() + 2 > NETS_CAP {
            self.nets.clear();
            self.network_cache_resets += 1;
        }
        let answer = Cached { country, slot };
        if wide {
            self.nets.insert(net, answer);
        } else {
            let narrow = Cached {
                country: NARROW,
                ..answer
            };
            self.nets.insert(net, narrow);
            self.nets.insert(self.host_key(version, addr), answer);
        }
        (country, slot)
    }

    /// Counts a source the per-source sets beside this table did not know (see the module):
    /// if this worker has not seen it either, it is a new distinct source of its country and
    /// AS. `new`: the sets say it is new to them since they were empty and lost no day
    /// ([`crate::aggregate::rssac002::Rssac002::observe_keyed`]); while that holds for every
    /// source reported (`trusted`), the source is new here too: it is counted and logged
    /// without a probe of the table of sources (none at all in a replay's worker). Else at
    /// once, or when it leaves its batch (its line of the table of sources prefetched).
    #[inline]
    pub fn source_seen(&mut self, k: &SourceKey, new: bool) {
        if new && self.trusted {
            return self.log_source(k);
        }
        self.trusted = false;
        if self.fresh.capacity() > 0 {
            self.cache.prefetch(k.addr_hash);
        }
        if let Some(old) = self.fresh.push(*k) {
            self.count_source(&old);
        }
    }

    /// Counts a source known to be new to this table, and logs it.
    fn log_source(&mut self, k: &SourceKey) {
        if self.cache.len() + self.log.len() >= self.settings.max_sources {
            self.cache.clear();
            self.log.clear();
            self.cache_resets += 1;
        }
        let cached = self.answer_for(k);
        self.log.push((k.addr_hash, cached));
        self.count_new(cached);
    }

    /// The country and AS of a source, as the table of sources keeps them.
    fn answer_for(&mut self, k: &SourceKey) -> Cached {
        let net = if k.v6 {
            self.net_key(6, k.prefix)
        } else {
            self.net_key(4, k.addr)
        };
        let (country, slot) = self.locate(net, || k.address());
        Cached { country, slot }
    }

    /// Counts a new distinct source in its country and AS (the cumulative counters: the
    /// per-interval rows carry no distinct sources).
    fn count_new(&mut self, c: Cached) {
        if let Some(x) = self.countries.get_mut(usize::from(c.country)) {
            x.sources_estimate += 1;
        }
        self.tally(c.slot, |t| t.source(), |o| o.sources_estimate += 1);
    }

    /// Moves the logged sources into the table of sources (they are not in it: see
    /// [`Geo::source_seen`]).
    fn absorb(&mut self) {
        if self.log.is_empty() {
            return;
        }
        self.cache.reserve(self.log.len());
        for (k, v) in self.log.drain(..) {
            self.cache.insert(k, v);
        }
    }

    /// [`Geo::source_seen`], at once.
    fn count_source(&mut self, k: &SourceKey) {
        self.absorb();
        if self.cache.get(k.addr_hash).is_some() {
            return;
        }
        let cached = self.answer_for(k);
        if self.cache.len() >= self.settings.max_sources {
            self.cache.clear();
            self.cache_resets += 1;
        }
        self.cache.insert(k.addr_hash, cached);
        self.count_new(cached);
    }

    /// The slot of AS `asn` (`example`: an address in it); an AS new past the cap is counted
    /// in `other_asn_count`.
    fn asn_slot(&mut self, asn: u32, example: ([u8; 16], u8)) -> u32 {
        let (slot, new) = self.asns.slot(asn, example);
        if new && !self.asns.is_counted(slot) {
            self.other_asn_count += 1;
        }
        slot
    }

    /// The settled counters of AS slot `slot`, or the summed others past the cap.
    fn asn_counts(&mut self, slot: u32) -> &mut Counts {
        match self.asns.counts_mut(slot) {
            Some(c) => c,
            None => &mut self.other_asns,
        }
    }

    /// Counts an event in AS slot `slot`'s tally (`f`), or in the summed others past the cap
    /// (`g`); the tallies are settled before any could wrap (see [`asns`]).
    #[inline(always)]
    fn tally(&mut self, slot: u32, f: impl FnOnce(&mut asns::Tally), g: impl FnOnce(&mut Counts)) {
        match self.asns.tally_mut(slot) {
            Some(t) => f(t),
            None => g(&mut self.other_asns),
        }
        self.tallied += 1;
        if self.tallied == u32::MAX {
            self.settle_tallies();
        }
    }

    /// Adds the ASes' tallies into their counters.
    #[cold]
    #[inline(never)]
    fn settle_tallies(&mut self) {
        self.asns.settle();
        self.tallied = 0;
    }

    /// Counts a message: a query by its source (`key`, computed once per query), an NXDOMAIN
    /// response by its destination; at once, or when it leaves the batch.
    #[inline]
    pub fn observe(&mut self, ctx: &MsgCtx, msg: &Message, key: Option<&SourceKey>) {
        if let Some(p) = self.prepare(ctx, msg, key.is_some()) {
            self.finish(p);
        }
    }

    /// [`Geo::observe`] in two steps, for a caller with other work between them: looks the
    /// message's network up and starts loading its country's and AS's counters (or queues
    /// the message: then `None`); [`Geo::finish`] counts it. `query`: the message is a query
    /// (counted by its source; a response by its destination if NXDOMAIN).
    #[inline]
    pub fn prepare(&mut self, ctx: &MsgCtx, msg: &Message, query: bool) -> Option<Prepared> {
        if self.live.generation() != self.generation {
            self.refresh();
        }
        let (addr, flags) = if query {
            let e = msg.edns;
            let flags = if e.is_some() { EDNS } else { 0 }
                | if e.is_some_and(|e| e.dnssec_ok) {
                    DO
                } else {
                    0
                }
                | if ctx.transport == Transport::Tcp {
                    TCP
                } else {
                    0
                };
            (ctx.src, flags)
        } else if msg.header.qr() && msg.rcode() == 3 {
            (ctx.dst, NXDOMAIN)
        } else {
            return None;
        };
        let version = ctx.ip_version;
        let net = self.net_key(version, lead(version, &addr));
        let interval = self.intervals.number(ctx.ts_ns);
        if self.nets.len() > self.settings.direct_networks || !self.queue.is_empty() {
            self.enqueue(Item {
                net,
                addr,
                interval,
                version,
                flags,
            });
            return None;
        }
        // The table is cache-resident: a prefetch has nothing to hide, and the ring only costs
        // (its copies and compares were a third of the geography's instructions). The
        // counters are another matter: the per-source tables beside them evict them between
        // two queries of a country or AS, so their lines load while the caller works on.
        let at = self.locate(net, || (version, addr));
        self.intervals.prefetch(at.0);
        self.asns.prefetch(at.1);
        Some(Prepared {
            at,
            interval,
            version,
            flags,
        })
    }

    /// Counts a message [`Geo::prepare`] looked up.
    #[inline]
    pub fn finish(&mut self, p: Prepared) {
        self.count(p.at, p.interval, p.version, p.flags);
    }

    /// Queues a message in the ring, its network's line prefetched, and counts the one leaving
    /// it; or, if the table of networks is small again (emptied), counts every queued message
    /// and this one (the order stays the arrival order).
    #[inline(never)]
    fn enqueue(&mut self, item: Item) {
        if self.nets.len() <= self.settings.direct_networks {
            while let Some(old) = self.queue.pop() {
                self.apply(&old);
            }
            return self.apply(&item);
        }
        if self.queue.capacity() > 0 {
            // Only the network's line: a second stage prefetching the AS's counters half a
            // batch ahead cost its own probe and measured no faster (docs/geo.md).
            self.nets.prefetch(item.net);
        }
        if let Some(old) = self.queue.push(item) {
            self.apply(&old);
        }
    }

    /// Takes the databases in force if a reload replaced them (the old ones are unmapped once
    /// no counter holds them). The table of networks is emptied: every network is looked up
    /// again when next seen; the distinct sources stay (a source keeps counting once, in the
    /// country it had when first seen).
    #[cold]
    #[inline(never)]
    pub fn refresh(&mut self) {
        let (db, generation) = self.live.current();
        if generation == self.generation {
            return;
        }
        // The answers of the old databases go (the distinct sources stay).
        self.nets.clear();
        (self.db, self.generation) = (db, generation);
        self.memo.clear();
    }

    /// Counts a message taken from the ring.
    #[inline(always)]
    fn apply(&mut self, item: &Item) {
        let at = self.locate(item.net, || (item.version, item.addr));
        self.count(at, item.interval, item.version, item.flags);
    }

    /// Counts a message of interval `interval` in its country and AS slot `(cc, slot)`.
    #[inline(always)]
    fn count(&mut self, (cc, slot): (u16, u32), interval: u32, version: u8, flags: u8) {
        if flags & NXDOMAIN == 0 {
            self.intervals
                .counts(&mut self.countries, interval, cc)
                .query(flags, version);
            self.tally(
                slot,
                |t| t.query(flags, version),
                |o| o.query(flags, version),
            );
        } else {
            self.intervals
                .counts(&mut self.countries, interval, cc)
                .responses_nxdomain += 1;
            self.tally(slot, |t| t.nxdomain(), |o| o.responses_nxdomain += 1);
        }
    }

    /// Counts every message still in the ring and settles the current interval's counters
    /// (before the counters are read or handed over).
    pub fn flush(&mut self) {
        while let Some(k) = self.fresh.pop() {
            self.count_source(&k);
        }
        while let Some(item) = self.queue.pop() {
            self.apply(&item);
        }
        self.intervals.settle(&mut self.countries);
        self.settle_tallies();
    }

    /// Moves `from`'s source cache into `self` (an O(1) swap): the daemon's worker keeps its
    /// cache when it hands its counters over, so a source is looked up once, not once per flush.
    pub fn take_cache(&mut self, from: &mut Self) {
        // `from`'s queued messages belong to its counters, and to the cache it gives up.
        from.flush();
        self.flush();
        // Both on the databases in force, so that the table of networks that changes hands
        // holds their answers only (see `Cached`).
        self.refresh();
        from.refresh();
        from.absorb();
        self.absorb();
        (self.trusted, from.trusted) = (false, false);
        std::mem::swap(&mut self.cache, &mut from.cache);
        from.cache.clear();
        // The cache holds AS slots of `from`'s table: the table goes with it, and `from` keeps
        // its counters by AS number in this side's old table (its memory reused: no allocation
        // once warm).
        std::mem::swap(&mut self.asns, &mut from.asns);
        let past_cap = from.asns.take_counts(&mut self.asns);
        from.other_asns.add(&past_cap);
        // So does the table of networks (which holds slots too).
        std::mem::swap(&mut self.nets, &mut from.nets);
        from.nets.clear();
    }

    /// Adds another worker's counters. Its cached sources join this cache, and a source both
    /// caches hold counts once in `sources_estimate` (exact for a replay's workers; the daemon's
    /// workers keep their caches, so a source two workers see counts twice there).
    pub fn merge(&mut self, o: &Self) {
        self.merge_parts(o, true);
    }

    /// [`Geo::merge`] without the per-interval rows (the daemon's published snapshot, which
    /// exports none: the merger writes them from its total).
    pub fn merge_summary(&mut self, o: &Self) {
        self.merge_parts(o, false);
    }

    fn merge_parts(&mut self, o: &Self, interval_rows: bool) {
        self.refresh();
        self.trusted = false;
        for (a, b) in self.countries.iter_mut().zip(o.countries.iter()) {
            a.add(b);
        }
        // `o`'s current interval (not settled: `o` is borrowed) and its intervals.
        self.intervals
            .merge(&mut self.countries, &o.intervals, interval_rows);
        // `o`'s tallies are in what its table reads.
        for (asn, c) in o.asns.iter() {
            self.add_asn(*asn, &c.counts, c.example);
        }
        self.other_asns.add(&o.other_asns);
        self.other_asn_count += o.other_asn_count;
        self.cache_resets += o.cache_resets;
        self.network_cache_resets += o.network_cache_resets;
        self.lookups += o.lookups;
        for (asn, org) in &o.organizations {
            self.organizations
                .entry(*asn)
                .or_insert_with(|| org.clone());
        }
        if self.cache.len() == 0 && o.cache.len() == 0 {
            self.unite_logs(o);
        } else {
            self.absorb();
            self.add_sources(
                o.cache.len() + o.log.len(),
                o.cache
                    .iter()
                    .chain(o.log.iter().copied())
                    .map(|(k, v)| (k, v.country, o.asns.asn_of(v.slot))),
            );
        }
        // Sources and messages `o` had not counted yet: counted here, after its cache joined
        // this one.
        for k in o.fresh.iter() {
            self.count_source(k);
        }
        for item in o.queue.iter() {
            self.apply(item);
        }
        self.intervals.settle(&mut self.countries);
    }

    /// Adds an AS's counters (into the summed others past the cap).
    fn add_asn(&mut self, asn: u32, c: &Counts, example: ([u8; 16], u8)) {
        let slot = self.asn_slot(asn, example);
        self.asn_counts(slot).add(c);
    }

    /// Unites `n` cached sources `(hash, country, AS number)` with this cache,
    /// after their counters were added: a source both hold is taken off once from the
    /// `sources_estimate` it was counted in.
    fn add_sources(&mut self, n: usize, sources: impl Iterator<Item = (u64, u16, u32)>) {
        // Room first: keys arrive in hash order, which clusters a table that grows as it fills.
        self.cache.reserve(n);
        for (k, country, asn) in sources {
            // Not `asn_slot`: an AS past the cap was counted in `other_asn_count` by the side
            // whose counters were added.
            let (slot, _) = self.asns.slot(asn, ([0; 16], 0));
            let v = Cached { country, slot };
            if self.cache.contains(k) {
                self.uncount(v);
                continue;
            }
            self.cache.insert(k, v);
        }
    }

    /// Takes a source counted twice (by both sides of a merge) off once.
    fn uncount(&mut self, v: Cached) {
        if let Some(c) = self.countries.get_mut(usize::from(v.country)) {
            c.sources_estimate = c.sources_estimate.saturating_sub(1);
        }
        // Where the source was counted: its AS's own counters if they have any, else the
        // others (an AS past the cap on the other side).
        let a = match self.asns.counts_mut(v.slot) {
            Some(a) if *a != Counts::default() => a,
            _ => &mut self.other_asns,
        };
        a.sources_estimate = a.sources_estimate.saturating_sub(1);
    }

    /// [`Geo::add_sources`] when neither side has a table of sources, only logs (a replay's
    /// workers): both logs sorted by hash and joined, the union kept as this side's log. A
    /// sort and a sequential pass instead of a random probe and insertion per source.
    fn unite_logs(&mut self, o: &Self) {
        let mut theirs: Vec<(u64, Cached)> = Vec::with_capacity(o.log.len());
        for &(k, v) in &o.log {
            // Not `asn_slot`: see `add_sources`.
            let (slot, _) = self.asns.slot(o.asns.asn_of(v.slot), ([0; 16], 0));
            theirs.push((k, Cached { slot, ..v }));
        }
        theirs.sort_unstable_by_key(|e| e.0);
        let mut mine = std::mem::take(&mut self.log);
        mine.sort_unstable_by_key(|e| e.0);
        let mut out = Vec::with_capacity(mine.len() + theirs.len());
        let (mut a, mut b) = (mine.into_iter().peekable(), theirs.into_iter().peekable());
        loop {
            match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x.0 == y.0 => {
                    let dup = y.1;
                    out.extend(a.next());
                    b.next();
                    self.uncount(dup);
                }
                (Some(x), Some(y)) if x.0 < y.0 => out.extend(a.next()),
                (_, Some(_)) => out.extend(b.next()),
                (Some(_), None) => out.extend(a.next()),
                (None, None) => break,
            }
        }
        self.log = out;
    }

    /// Zeroes the counters, keeping the cache (the worker's state); messages still queued are
    /// dropped with the counters they belong to.
    pub fn clear(&mut self) {
        while self.queue.pop().is_some() {}
        while self.fresh.pop().is_some() {}
        // The per-source sets beside it are emptied, this table is not.
        self.trusted = false;
        self.countries.fill(Counts::default());
        self.intervals.clear();
        // The slots stay: the cache (the worker's state) refers to them.
        self.asns.clear_counts();
        self.tallied = 0;
        self.organizations.clear();
        self.other_asns = Counts::default();
        self.other_asn_count = 0;
        self.cache_resets = 0;
        self.network_cache_resets = 0;
        self.lookups = 0;
    }

    /// The countries seen (queries from, or NXDOMAIN responses to), by code.
    pub fn countries_seen(&self) -> impl Iterator<Item = (String, Counts)> + '_ {
        self.countries
            .iter()
            .enumerate()
            .filter(|(_, c)| c.queries + c.responses_nxdomain > 0)
            .map(|(i, c)| (country_code(i as u16), *c))
    }

    /// A region's counters: the sum of its countries'.
    pub fn region(&self, r: &Region) -> Counts {
        let mut c = Counts::default();
        for &i in &r.countries {
            if let Some(x) = self.countries.get(usize::from(i)) {
                c.add(x);
            }
        }
        c
    }
}
