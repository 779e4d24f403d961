//! RSSAC002 version 5 counters: one set per UTC day, for the daily YAML documents
//! (`export::rssac002`). RSSAC002 is ICANN RSSAC's "Advisory on Measurements of the Root Server
//! System"; v5 is dated 22 June 2023. Of its six metrics, the four that passive capture can
//! measure live here: traffic-volume, traffic-sizes, rcode-volume and unique-sources (load-time
//! and zone-size are about zone publication, not traffic).
//!
//! What counts, where the spec leaves room (dnsobs' reading, stated once here):
//!
//! * **Messages.** Every DNS message with a complete 12-byte header that the decoder hands over
//!   (also one malformed further on) counts: QR clear is a query *received*, QR set is a
//!   response *sent* (dnsobs watches the server's traffic). All opcodes count. Transport and IP
//!   version are those the message travelled over (`dns-udp-queries-received-ipv4`, ...).
//! * **Sizes.** The spec says "DNS query sizes are determined by the length of the entire DNS
//!   message": the UDP payload (UDP length − 8) or, over TCP, the message without its two-octet
//!   length prefix ([`MsgCtx::size`]). Bins are 16 bytes wide (`0-15`, `16-31`, ...); requests
//!   of 288 bytes or more share the open bin `288-` and responses of 4096 or more `4096-`, as the
//!   published v4/v5 files have them. Only those bins are stored: 19 request and 257 response
//!   counters per transport (4.4 KiB a day) instead of 4096 bins of the 64 KiB message range.
//! * **Rcodes.** Responses by their 12-bit extended RCODE ([`Message::rcode`]: the header's 4
//!   bits extended by the OPT record's upper 8, RFC 6891), so BADVERS is 16, not 0.
//! * **Unique sources.** Distinct source addresses of *queries* received in the day: IPv4
//!   addresses, IPv6 addresses, and IPv6 addresses aggregated to their /64 prefix.
//!
//! # Memory bound
//!
//! At most [`MAX_DAYS`] (400) days are kept; a message of a day older than all kept days when
//! the table is full, or of a day already sealed by [`Rssac002::take_days_before`], is counted
//! in [`Rssac002::late`] and otherwise dropped, and a new day evicts the oldest one (counted in
//! [`Rssac002::evicted_days`]). Each day's distinct sources live in its per-source structure
//! ([`super::sources::DaySources`], whose module gives the memory per million sources): at most
//! `day_cap` keys per kind in one day (`aggregate.max_unique_sources`, default
//! [`super::sources::DEFAULT_DAY_CAP`], 16,777,216) and at most `cap` keys per kind in all the
//! days held **together** (`rssac002.max_unique_sources`, default [`DEFAULT_SOURCE_CAP`],
//! 33,554,432: two root-letter days), so a replay spanning many days with millions of sources a
//! day stays bounded (the later days' counts become lower bounds, flagged). Days written by the
//! daemon are taken out of the merged table, which frees them and their share of the budget; a
//! dropped or cleared day's large sets are freed, not kept for reuse.
//!
//! # Past the cap
//!
//! A key not already in a full set is not stored; the query is counted in that kind's
//! overflow. The count then stops growing and is a lower bound: [`SourceCounts::exact`] says so,
//! and the YAML and JSON writers mark the value as a lower bound.

use super::sources::{
    self, DaySources, Insert, Pending, Room, RunSources, SourceKey, union_counts,
};
use crate::decode::{Message, MsgCtx};

mod state;
pub use state::{DayState, Rssac002State};

/// Nanoseconds in a UTC day (POSIX time has no leap seconds).
pub use crate::time::{NS_PER_DAY, day_of};
/// Days kept at most (a little over a year of daily files).
pub const MAX_DAYS: usize = 400;
/// Default cap on distinct sources remembered per kind, over all days held (two days at the
/// default day cap).
pub const DEFAULT_SOURCE_CAP: usize = 1 << 25;
/// Width of a size bin.
pub const BIN_WIDTH: usize = 16;
/// Request size bins: `0-15` ... `272-287`, then `288-`.
pub const REQUEST_BINS: usize = 288 / BIN_WIDTH + 1;
/// Response size bins: `0-15` ... `4080-4095`, then `4096-`.
pub const RESPONSE_BINS: usize = 4096 / BIN_WIDTH + 1;
/// Largest DNS message size (the TCP length prefix is 16 bits): upper bound of the open bins.
pub const MAX_SIZE: u32 = 65_535;
/// Rcodes counted in a fixed array; rarer extended codes go to a small sorted list.
const RCODES_FIXED: usize = 32;

/// Kinds of distinct sources, as indices of [`SourceCounts`] arrays.
pub const SOURCE_KINDS: [&str; 3] = [
    "num-sources-ipv4",
    "num-sources-ipv6",
    "num-sources-ipv6-aggregate",
];

/// The UTC day number (days since 1970-01-01) of a capture timestamp.
#[inline]
/// `(lower, upper)` byte bounds of size bin `i` of a histogram with `bins` bins (the last bin
/// is open and ends at [`MAX_SIZE`]).
pub fn bin_bounds(i: usize, bins: usize) -> (u32, u32) {
    let lo = (i * BIN_WIDTH) as u32;
    if i + 1 == bins {
        (lo, MAX_SIZE)
    } else {
        (lo, lo + BIN_WIDTH as u32 - 1)
    }
}

#[inline]
fn bin(size: u32, bins: usize) -> usize {
    (size as usize / BIN_WIDTH).min(bins - 1)
}

/// Distinct sources of a day, as the unique-sources document reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceCounts {
    /// Distinct IPv4 addresses, IPv6 addresses and IPv6 /64 prefixes ([`SOURCE_KINDS`] order).
    pub counts: [u64; 3],
    /// Per kind: true if every source was remembered; false if the cap was reached, so the
    /// count is a lower bound.
    pub exact: [bool; 3],
}

//------------ Lifetime ------------------------------------------------------

/// Size histograms over the whole run, not per day (monotonic, for Prometheus).
#[derive(Clone, Debug)]
pub struct Lifetime {
    /// Request sizes per transport, in the RSSAC002 bins.
    pub request_sizes: [[u64; REQUEST_BINS]; 2],
    /// Response sizes per transport.
    pub response_sizes: [[u64; RESPONSE_BINS]; 2],
    /// Sum of request sizes per transport.
    pub request_bytes: [u64; 2],
    /// Sum of response sizes per transport.
    pub response_bytes: [u64; 2],
}

impl Default for Lifetime {
    fn default() -> Self {
        Self {
            request_sizes: [[0; REQUEST_BINS]; 2],
            response_sizes: [[0; RESPONSE_BINS]; 2],
            request_bytes: [0; 2],
            response_bytes: [0; 2],
        }
    }
}

impl Lifetime {
    fn merge(&mut self, o: &Self) {
        for t in 0..2 {
            for (a, b) in self.request_sizes[t].iter_mut().zip(&o.request_sizes[t]) {
                *a += b;
            }
            for (a, b) in self.response_sizes[t].iter_mut().zip(&o.response_sizes[t]) {
                *a += b;
            }
            self.request_bytes[t] += o.request_bytes[t];
            self.response_bytes[t] += o.response_bytes[t];
        }
    }
}

//------------ DayCounts -----------------------------------------------------

/// Every RSSAC002 counter of one UTC day.
#[derive(Clone, Debug)]
pub struct DayCounts {
    day: u32,
    /// `[transport][ip version]`, transport 0 UDP 1 TCP, version 0 IPv4 1 IPv6.
    queries: [[u64; 2]; 2],
    responses: [[u64; 2]; 2],
    /// Per transport.
    request_sizes: [[u64; REQUEST_BINS]; 2],
    response_sizes: [[u64; RESPONSE_BINS]; 2],
    rcodes: [u64; RCODES_FIXED],
    /// Rcodes ≥ `RCODES_FIXED`, sorted by code (at most 4064 entries).
    rcodes_rare: Vec<(u16, u64)>,
    /// The day's per-source structure (distinct sources per kind).
    sources: DaySources,
}

impl DayCounts {
    fn empty(day: u32, seed: u64) -> Self {
        Self {
            day,
            queries: [[0; 2]; 2],
            responses: [[0; 2]; 2],
            request_sizes: [[0; REQUEST_BINS]; 2],
            response_sizes: [[0; RESPONSE_BINS]; 2],
            rcodes: [0; RCODES_FIXED],
            rcodes_rare: Vec::new(),
            sources: DaySources::new(seed),
        }
    }

    /// Zeroes everything, keeping the sets' memory.
    fn reset(&mut self, day: u32) {
        self.day = day;
        self.queries = [[0; 2]; 2];
        self.responses = [[0; 2]; 2];
        self.request_sizes = [[0; REQUEST_BINS]; 2];
        self.response_sizes = [[0; RESPONSE_BINS]; 2];
        self.rcodes = [0; RCODES_FIXED];
        self.rcodes_rare.clear();
        self.sources.clear();
    }

    /// The UTC day number (days since 1970-01-01).
    pub fn day(&self) -> u32 {
        self.day
    }
    /// Start of the day, in seconds since the epoch.
    pub fn start_secs(&self) -> u64 {
        u64::from(self.day) * 86_400
    }
    /// Queries received over `transport` (0 UDP, 1 TCP) and IP version index (0 v4, 1 v6).
    pub fn queries(&self, transport: usize, ipv: usize) -> u64 {
        self.queries[transport][ipv]
    }
    /// Responses sent over `transport` and IP version index.
    pub fn responses(&self, transport: usize, ipv: usize) -> u64 {
        self.responses[transport][ipv]
    }
    /// All queries of the day.
    pub fn total_queries(&self) -> u64 {
        self.queries.iter().flatten().sum()
    }
    /// All responses of the day.
    pub fn total_responses(&self) -> u64 {
        self.responses.iter().flatten().sum()
    }
    /// Request size histogram of `transport` ([`REQUEST_BINS`] bins, see [`bin_bounds`]).
    pub fn request_sizes(&self, transport: usize) -> &[u64] {
        &self.request_sizes[transport]
    }
    /// Response size histogram of `transport` ([`RESPONSE_BINS`] bins).
    pub fn response_sizes(&self, transport: usize) -> &[u64] {
        &self.response_sizes[transport]
    }
    /// `(extended rcode, responses)` of every rcode seen, ascending.
    pub fn rcodes(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.rcodes
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(c, n)| (c as u16, *n))
            .chain(self.rcodes_rare.iter().copied())
    }
    /// Distinct sources.
    pub fn sources(&self) -> SourceCounts {
        let s = &self.sources;
        SourceCounts {
            counts: s.lens().map(|n| n as u64),
            exact: s.exact(),
        }
    }

    #[inline]
    fn add_rcode(&mut self, code: u16, n: u64) {
        if let Some(c) = self.rcodes.get_mut(usize::from(code)) {
            *c += n;
            return;
        }
        match self.rcodes_rare.binary_search_by_key(&code, |e| e.0) {
            Ok(i) => self.rcodes_rare[i].1 += n,
            Err(i) => self.rcodes_rare.insert(i, (code, n)),
        }
    }

    #[inline]
    /// Counts a message (a query's source is recorded separately, see [`Rssac002::observe`]).
    fn observe(&mut self, ctx: &MsgCtx, msg: &Message) {
        let t = ctx.transport as usize;
        let v = usize::from(ctx.ip_version == 6);
        if msg.header.qr() {
            self.responses[t][v] += 1;
            self.response_sizes[t][bin(ctx.size, RESPONSE_BINS)] += 1;
            self.add_rcode(msg.rcode() & 0xFFF, 1);
        } else {
            self.queries[t][v] += 1;
            self.request_sizes[t][bin(ctx.size, REQUEST_BINS)] += 1;
        }
    }

    /// Adds `o`'s counters and takes its sources' counts (see [`Rssac002::merge_summary`]).
    fn merge_summary(&mut self, o: &Self) {
        self.merge_counters(o);
        self.sources.absorb_summary(&o.sources);
    }

    /// Adds `o`'s counters (not its sources: see [`Rssac002::merge_day`]).
    fn merge_counters(&mut self, o: &Self) {
        fn add(a: &mut [u64], b: &[u64]) {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        for t in 0..2 {
            add(&mut self.queries[t], &o.queries[t]);
            add(&mut self.responses[t], &o.responses[t]);
            add(&mut self.request_sizes[t], &o.request_sizes[t]);
            add(&mut self.response_sizes[t], &o.response_sizes[t]);
        }
        add(&mut self.rcodes, &o.rcodes);
        for &(c, n) in &o.rcodes_rare {
            self.add_rcode(c, n);
        }
    }

    fn messages(&self) -> u64 {
        self.total_queries() + self.total_responses()
    }
}

//------------ Rssac002 ------------------------------------------------------

/// RSSAC002 counters per UTC day, for one worker or merged.
#[derive(Clone, Debug)]
pub struct Rssac002 {
    cap: usize,
    /// Distinct keys per kind that the days held may still add (`cap` minus what they hold),
    /// and the cap of one day.
    room: Room,
    /// Queries whose source is still to be recorded (see [`super::sources`]).
    pending: Pending,
    /// Hash seed of the source sets.
    seed: u64,
    /// Distinct IPv4 and IPv6 addresses in the union of the days held, kept as sources are
    /// added (a new address counts unless another day holds it), recounted when a day goes.
    run: [u64; 2],
    /// Sorted by day, at most [`MAX_DAYS`].
    days: Vec<DayCounts>,
    /// Cleared days whose memory is reused for new days.
    spare: Vec<DayCounts>,
    /// The day of the last message and its index in `days` (`u32::MAX`: none).
    cur_day: u32,
    cur_idx: usize,
    /// Days before this one were taken out (written): their messages are late.
    sealed_before: u32,
    late: u64,
    evicted_days: u64,
    lifetime: Lifetime,
}

impl Rssac002 {
    /// Empty counters remembering up to `cap` distinct sources per kind, over all days held,
    /// recording sources at once (no batch).
    pub fn new(cap: usize) -> Self {
        Self::with_settings(cap, cap, 0)
    }

    /// Empty counters remembering up to `cap` distinct sources per kind over all days held and
    /// `day_cap` per kind in one day, recording sources in batches of `batch` queries.
    pub fn with_settings(cap: usize, day_cap: usize, batch: usize) -> Self {
        Self {
            cap,
            room: Room {
                budget: [cap; 3],
                day_cap,
            },
            pending: sources::pending(batch),
            seed: super::sketch::process_seed(),
            run: [0; 2],
            days: Vec::new(),
            spare: Vec::new(),
            cur_day: u32::MAX,
            cur_idx: 0,
            sealed_before: 0,
            late: 0,
            evicted_days: 0,
            lifetime: Lifetime::default(),
        }
    }

    /// The cap on distinct sources per kind and day: the day cap, or the budget shared by the
    /// days held if it is smaller.
    pub fn cap(&self) -> usize {
        self.cap.min(self.room.day_cap)
    }

    /// Recomputes the budget from the days held (after days were added, dropped or taken).
    fn recount(&mut self) {
        let mut held = [0usize; 3];
        for d in &self.days {
            for (h, n) in held.iter_mut().zip(d.sources.lens()) {
                *h += n;
            }
        }
        self.room.budget = held.map(|h| self.cap.saturating_sub(h));
        self.run = union_counts(self.days.iter().map(|d| &d.sources));
    }

    /// Distinct query sources of the days held (the whole run for a replay): their union,
    /// kept as it grows, and the queries whose source a full set could not take.
    pub fn run_sources(&self) -> RunSources {
        let mut overflow = [0; 2];
        for d in &self.days {
            overflow[0] += d.sources.overflow[0];
            overflow[1] += d.sources.overflow[1];
        }
        RunSources {
            counts: self.run,
            overflow,
        }
    }

    /// True if one of the other days (`before` and `after` a day) holds `k`'s address.
    fn elsewhere(before: &[DayCounts], after: &[DayCounts], k: &SourceKey) -> bool {
        before
            .iter()
            .chain(after)
            .any(|d| d.sources.contains_addr(k))
    }

    /// Adds `d`'s counters and sources into day `i`, counting the addresses new to every day
    /// held in the run-wide union.
    fn merge_day(&mut self, i: usize, d: &DayCounts) {
        let (before, rest) = self.days.split_at_mut(i);
        let Some((day, after)) = rest.split_first_mut() else {
            return;
        };
        day.merge_counters(d);
        let run = &mut self.run;
        day.sources.merge_with(&d.sources, &mut self.room, |k| {
            if !Self::elsewhere(before, after, k) {
                run[usize::from(k.v6)] += 1;
            }
        });
    }

    /// Counts one DNS message, recording a query's source at once (for tests and tools; the
    /// aggregate uses [`observe_keyed`](Self::observe_keyed)).
    pub fn observe(&mut self, ctx: &MsgCtx, msg: &Message) {
        let key = (!msg.header.qr()).then(|| SourceKey::new(ctx.ip_version, &ctx.src, self.seed));
        self.observe_keyed(ctx, msg, key.as_ref(), |_, _| {});
        self.flush();
    }

    /// Counts one DNS message; `key` is a query's source, recorded in its day's per-source
    /// structure when it leaves the pending batch. HOT PATH: one comparison to find the day in
    /// the common case, one prefetch; no allocation in steady state except the growth of the
    /// source sets (and a new day's counters when no cleared day can be reused).
    ///
    /// `unknown` is called with every recorded source no day held knew already (added, refused
    /// for want of room, or of a day no longer held): the only sources that can be new to a
    /// table kept beside the days (the geography's), which so sees a source once, not per
    /// query. Its second argument is true when the source was added and is new to every day
    /// **since the table was created or cleared** (no day evicted or sealed since): new to a
    /// table kept beside it over the same span without probing that table.
    #[inline]
    pub fn observe_keyed(
        &mut self,
        ctx: &MsgCtx,
        msg: &Message,
        key: Option<&SourceKey>,
        unknown: impl FnMut(&SourceKey, bool),
    ) {
        let t = ctx.transport as usize;
        let lt = &mut self.lifetime;
        if msg.header.qr() {
            lt.response_sizes[t][bin(ctx.size, RESPONSE_BINS)] += 1;
            lt.response_bytes[t] += u64::from(ctx.size);
        } else {
            lt.request_sizes[t][bin(ctx.size, REQUEST_BINS)] += 1;
            lt.request_bytes[t] += u64::from(ctx.size);
        }
        let day = day_of(ctx.ts_ns);
        let idx = if day == self.cur_day {
            self.cur_idx
        } else {
            match self.slot(day) {
                Some(i) => i,
                None => {
                    self.late += 1;
                    if let Some(k) = key {
                        let mut unknown = unknown;
                        unknown(k, false);
                    }
                    return;
                }
            }
        };
        let d = &mut self.days[idx];
        d.observe(ctx, msg);
        if let Some(k) = key {
            d.sources.prefetch(k);
            if let Some((day, k)) = self.pending.push((day, *k)) {
                self.record(day, &k, unknown);
            }
        }
    }

    /// Records a query's source in its day (if the day is still held); `unknown` as in
    /// [`observe_keyed`](Self::observe_keyed).
    #[inline]
    fn record(&mut self, day: u32, k: &SourceKey, mut unknown: impl FnMut(&SourceKey, bool)) {
        let idx = if day == self.cur_day {
            self.cur_idx
        } else {
            match self.slot(day) {
                Some(i) => i,
                // The day was sealed or dropped since: its counts are gone too.
                None => return unknown(k, false),
            }
        };
        let (before, rest) = self.days.split_at_mut(idx);
        let Some((day, after)) = rest.split_first_mut() else {
            return;
        };
        match day.sources.insert(k, &mut self.room) {
            Insert::Known => {}
            Insert::Added => {
                // Known to another day: reported when that day added it.
                if !Self::elsewhere(before, after, k) {
                    self.run[usize::from(k.v6)] += 1;
                    unknown(k, self.evicted_days == 0 && self.sealed_before == 0);
                }
            }
            Insert::Refused => unknown(k, false),
        }
    }

    /// Records every pending query's source. Every reader of the counters sees a flushed table:
    /// workers flush when they finish, and a merge applies the other side's pending queries.
    pub fn flush(&mut self) {
        self.flush_with(|_, _| {});
    }

    /// [`flush`](Self::flush), calling `unknown` as [`observe_keyed`](Self::observe_keyed) does.
    pub fn flush_with(&mut self, mut unknown: impl FnMut(&SourceKey, bool)) {
        while let Some((day, k)) = self.pending.pop() {
            self.record(day, &k, &mut unknown);
        }
    }

    /// The index of `day`, created if needed; `None` if the day is sealed or older than every
    /// kept day while the table is full. Updates the cache.
    #[cold]
    fn slot(&mut self, day: u32) -> Option<usize> {
        if day < self.sealed_before {
            return None;
        }
        let i = match self.days.binary_search_by_key(&day, DayCounts::day) {
            Ok(i) => i,
            Err(mut i) => {
                if self.days.len() >= MAX_DAYS {
                    if i == 0 {
                        return None;
                    }
                    let mut old = self.days.remove(0);
                    old.reset(0);
                    self.spare.push(old);
                    self.evicted_days += 1;
                    i -= 1;
                    self.recount();
                }
                let d = match self.spare.pop() {
                    Some(mut d) => {
                        d.reset(day);
                        d
                    }
                    None => DayCounts::empty(day, self.seed),
                };
                self.days.insert(i, d);
                i
            }
        };
        self.cur_day = day;
        self.cur_idx = i;
        Some(i)
    }

    /// Adds `other` into `self` (day by day; the source sets are united, still capped).
    pub fn merge(&mut self, other: &Self) {
        self.flush();
        for d in &other.days {
            match self.slot(d.day) {
                Some(i) => self.merge_day(i, d),
                None => self.late += d.messages(),
            }
        }
        for (day, k) in other.pending.iter() {
            self.record(*day, k, |_, _| {});
        }
        self.late += other.late;
        self.evicted_days += other.evicted_days;
        self.lifetime.merge(&other.lifetime);
    }

    /// Takes `other`'s counters and the counts of its source sets, not the sets, into this
    /// cleared table (the daemon's published snapshot: figures only, no copy of the keys).
    pub fn merge_summary(&mut self, other: &Self) {
        for d in &other.days {
            match self.slot(d.day) {
                Some(i) => self.days[i].merge_summary(d),
                None => self.late += d.messages(),
            }
        }
        self.run = other.run;
        self.late += other.late;
        self.evicted_days += other.evicted_days;
        self.lifetime.merge(&other.lifetime);
    }

    /// Resets every counter, keeping the days' memory for reuse.
    pub fn clear(&mut self) {
        self.pending.clear();
        for mut d in self.days.drain(..) {
            d.reset(0);
            self.spare.push(d);
        }
        self.spare.truncate(MAX_DAYS);
        self.recount();
        self.cur_day = u32::MAX;
        self.cur_idx = 0;
        self.sealed_before = 0;
        self.late = 0;
        self.evicted_days = 0;
        self.lifetime = Lifetime::default();
    }

    /// The days counted, oldest first.
    pub fn days(&self) -> impl Iterator<Item = &DayCounts> + Clone + '_ {
        self.days.iter()
    }

    /// The counters of one day, if any message of it was seen.
    pub fn day(&self, day: u32) -> Option<&DayCounts> {
        self.days
            .binary_search_by_key(&day, DayCounts::day)
            .ok()
            .map(|i| &self.days[i])
    }

    /// Removes and returns the days before `day` (oldest first) and seals them: later messages
    /// or merges of those days are counted as [`late`](Self::late) instead. Their memory is
    /// freed when the caller drops them. For the daemon, once a day's files are written.
    pub fn take_days_before(&mut self, day: u32) -> Vec<DayCounts> {
        self.flush();
        let n = self.days.partition_point(|d| d.day < day);
        let taken: Vec<DayCounts> = self.days.drain(..n).collect();
        self.recount();
        self.sealed_before = self.sealed_before.max(day);
        self.cur_day = u32::MAX;
        self.cur_idx = 0;
        taken
    }

    /// Puts back days taken by [`take_days_before`](Self::take_days_before) (for instance
    /// because writing them failed), merging with any counted since; unseals them.
    pub fn restore(&mut self, days: Vec<DayCounts>) {
        if let Some(first) = days.first() {
            self.sealed_before = self.sealed_before.min(first.day);
        }
        for d in days {
            match self.slot(d.day) {
                Some(i) => self.merge_day(i, &d),
                None => self.late += d.messages(),
            }
        }
    }

    /// Messages not counted: their day was sealed, or older than every kept day when
    /// [`MAX_DAYS`] days were held.
    pub fn late(&self) -> u64 {
        self.late
    }

    /// Size histograms since start (or the last [`clear`](Self::clear)), whatever the day:
    /// not taken out with the days, so they only grow (Prometheus histograms).
    pub fn lifetime(&self) -> &Lifetime {
        &self.lifetime
    }

    /// Queries of the days held whose source could not be remembered (the day's set of that
    /// kind was at the cap), per kind ([`SOURCE_KINDS`] order). Non-zero: that day's
    /// unique-sources figure is a lower bound.
    pub fn source_overflow(&self) -> [u64; 3] {
        let mut n = [0; 3];
        for d in &self.days {
            for (a, b) in n.iter_mut().zip(d.sources.overflow) {
                *a += b;
            }
        }
        n
    }

    /// Days held now.
    pub fn days_held(&self) -> usize {
        self.days.len()
    }

    /// Days dropped (oldest first) to make room for a new one.
    pub fn evicted_days(&self) -> u64 {
        self.evicted_days
    }
}

//============ Testing =======================================================

#[cfg(test)]
mod test {
    use super::*;
    use crate::decode::Transport;
    use crate::decode::dns::{Edns, Header};

    const DAY0: u64 = 20_089 * NS_PER_DAY; // 2025-01-01

    fn ctx(ts_ns: u64, v: u8, t: Transport, src: [u8; 16], size: u32) -> MsgCtx {
        MsgCtx {
            ts_ns,
            transport: t,
            size,
            ..MsgCtx::for_test(v, src)
        }
    }

    fn v4(last: u8) -> [u8; 16] {
        let mut a = [0; 16];
        a[..4].copy_from_slice(&[192, 0, 2, last]);
        a
    }

    fn v6(prefix: u8, iid: u8) -> [u8; 16] {
        let mut a = [0; 16];
        a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        a[7] = prefix;
        a[15] = iid;
        a
    }

    fn query() -> Message {
        Message::default()
    }

    fn response(rcode: u8, ext: Option<u8>) -> Message {
        Message {
            header: Header {
                flags: 0x8000 | u16::from(rcode),
                ..Header::default()
            },
            edns: ext.map(|e| Edns {
                ext_rcode: e,
                ..Edns::default()
            }),
            ..Message::default()
        }
    }

    #[test]
    fn counts_by_transport_version_size_and_rcode() {
        let mut r = Rssac002::new(DEFAULT_SOURCE_CAP);
        let (u, t) = (Transport::Udp, Transport::Tcp);
        r.observe(&ctx(DAY0, 4, u, v4(1), 0), &query()); // bin 0
        r.observe(&ctx(DAY0 + 1, 4, u, v4(1), 15), &query()); // bin 0
        r.observe(&ctx(DAY0 + 2, 4, u, v4(2), 16), &query()); // bin 1
        r.observe(&ctx(DAY0 + 3, 6, u, v6(1, 1), 287), &query()); // bin 17
        r.observe(&ctx(DAY0 + 4, 6, t, v6(1, 2), 288), &query()); // bin 18 (288-)
        r.observe(&ctx(DAY0 + 5, 6, t, v6(2, 1), 65_535), &query()); // bin 18
        r.observe(&ctx(DAY0 + 6, 4, u, [0; 16], 4095), &response(0, None)); // bin 255
        r.observe(&ctx(DAY0 + 7, 4, u, [0; 16], 4096), &response(3, None)); // bin 256
        r.observe(&ctx(DAY0 + 8, 6, t, [0; 16], 100), &response(0, Some(1))); // rcode 16
        r.observe(&ctx(DAY0 + 9, 6, t, [0; 16], 100), &response(5, Some(2))); // rcode 37
        let days: Vec<_> = r.days().collect();
        assert_eq!(days.len(), 1);
        let d = days[0];
        assert_eq!(d.day(), 20_089);
        assert_eq!(d.start_secs(), 1_735_689_600);
        assert_eq!(d.queries, [[3, 1], [0, 2]]);
        assert_eq!(d.responses, [[2, 0], [0, 2]]);
        let mut udp_req = [0u64; REQUEST_BINS];
        udp_req[0] = 2;
        udp_req[1] = 1;
        udp_req[17] = 1;
        assert_eq!(d.request_sizes(0), &udp_req);
        let mut tcp_req = [0u64; REQUEST_BINS];
        tcp_req[18] = 2;
        assert_eq!(d.request_sizes(1), &tcp_req);
        assert_eq!(d.response_sizes(0)[255], 1);
        assert_eq!(d.response_sizes(0)[256], 1);
        assert_eq!(d.response_sizes(1)[6], 2);
        assert_eq!(
            d.rcodes().collect::<Vec<_>>(),
            vec![(0, 1), (3, 1), (16, 1), (37, 1)]
        );
        // 192.0.2.1, 192.0.2.2; 2001:db8:0:1::1, ::2 (same /64), 2001:db8:0:2::1.
        assert_eq!(
            d.sources(),
            SourceCounts {
                counts: [2, 3, 2],
                exact: [true; 3]
            }
        );
        assert_eq!(bin_bounds(0, REQUEST_BINS), (0, 15));
        assert_eq!(bin_bounds(17, REQUEST_BINS), (272, 287));
        assert_eq!(bin_bounds(18, REQUEST_BINS), (288, 65_535));
        assert_eq!(bin_bounds(256, RESPONSE_BINS), (4096, 65_535));
    }

    #[test]
    fn days_split_at_utc_midnight_and_merge() {
        let mut a = Rssac002::new(10);
        let mut b = Rssac002::new(10);
        let u = Transport::Udp;
        a.observe(&ctx(DAY0 + NS_PER_DAY - 1, 4, u, v4(1), 40), &query());
        a.observe(&ctx(DAY0 + NS_PER_DAY, 4, u, v4(1), 40), &query());
        a.observe(&ctx(DAY0 + 5, 4, u, v4(2), 40), &query()); // back to day 0: cache miss
        b.observe(&ctx(DAY0 + 2 * NS_PER_DAY, 4, u, v4(3), 40), &query());
        b.observe(&ctx(DAY0, 4, u, v4(1), 40), &query()); // same source as a's: one
        b.observe(&ctx(DAY0, 4, u, [0; 16], 40), &response(3, None));
        a.merge(&b);
        let got: Vec<_> = a
            .days()
            .map(|d| (d.day(), d.total_queries(), d.sources().counts[0]))
            .collect();
        assert_eq!(got, vec![(20_089, 3, 2), (20_090, 1, 1), (20_091, 1, 1)]);
        assert_eq!(a.day(20_089).map(|d| d.total_responses()), Some(1));
        a.clear();
        assert_eq!(a.days().count(), 0);
        assert_eq!(a.spare.len(), 3);
        a.observe(&ctx(DAY0, 4, u, v4(9), 40), &query());
        assert_eq!(a.spare.len(), 2, "a cleared day is reused");
        assert_eq!(a.day(20_089).map(|d| d.sources().counts), Some([1, 0, 0]));
    }

    #[test]
    fn cap_makes_a_lower_bound() {
        let mut r = Rssac002::new(2);
        let u = Transport::Udp;
        for i in 0..5 {
            r.observe(&ctx(DAY0, 4, u, v4(i), 40), &query());
            r.observe(&ctx(DAY0, 6, u, v6(i, 1), 40), &query());
        }
        r.observe(&ctx(DAY0, 4, u, v4(0), 40), &query()); // already known: not an overflow
        let s = r.day(20_089).map(DayCounts::sources);
        assert_eq!(
            s,
            Some(SourceCounts {
                counts: [2, 2, 2],
                exact: [false; 3]
            })
        );
        assert_eq!(r.day(20_089).map(|d| d.sources.overflow), Some([3, 3, 3]));
        assert_eq!(r.day(20_089).map(DayCounts::total_queries), Some(11));
        assert_eq!(r.source_overflow(), [3, 3, 3]);
        assert_eq!(r.take_days_before(20_090).len(), 1);
        assert_eq!(
            r.source_overflow(),
            [0; 3],
            "a written day leaves the gauge"
        );
    }

    #[test]
    fn cap_is_shared_by_the_days_held() {
        let mut r = Rssac002::new(3);
        let u = Transport::Udp;
        for i in 0..2 {
            r.observe(&ctx(DAY0, 4, u, v4(i), 40), &query());
        }
        for i in 10..13 {
            r.observe(&ctx(DAY0 + NS_PER_DAY, 4, u, v4(i), 40), &query());
        }
        let counts = |r: &Rssac002, d| r.day(d).map(DayCounts::sources);
        assert_eq!(
            counts(&r, 20_090),
            Some(SourceCounts {
                counts: [1, 0, 0],
                exact: [false, true, true]
            }),
            "the second day gets what the first left of the budget"
        );
        // A merge into a table that already holds a source keeps the bound too: of r's three
        // keys two fit, the third and r's own two overflows are counted.
        let mut m = Rssac002::new(3);
        m.observe(&ctx(DAY0, 4, u, v4(99), 40), &query());
        m.merge(&r);
        assert_eq!(m.days().map(|d| d.sources().counts[0]).sum::<u64>(), 3);
        assert_eq!(m.source_overflow(), [3, 0, 0]);
        // Taking the first day out returns its share of the budget.
        assert_eq!(r.take_days_before(20_090).len(), 1);
        r.observe(&ctx(DAY0 + NS_PER_DAY, 4, u, v4(13), 40), &query());
        r.observe(&ctx(DAY0 + NS_PER_DAY, 4, u, v4(14), 40), &query());
        assert_eq!(counts(&r, 20_090).map(|s| s.counts), Some([3, 0, 0]));
        r.clear();
        r.observe(&ctx(DAY0, 4, u, v4(1), 40), &query());
        assert_eq!(
            counts(&r, 20_089),
            Some(SourceCounts {
                counts: [1, 0, 0],
                exact: [true; 3]
            }),
            "clear restores the whole budget"
        );
    }

    #[test]
    fn bounded_days_and_sealing() {
        let mut r = Rssac002::new(4);
        let u = Transport::Udp;
        for d in 0..MAX_DAYS as u64 + 2 {
            r.observe(&ctx(DAY0 + d * NS_PER_DAY, 4, u, v4(1), 40), &query());
        }
        assert_eq!(r.days().count(), MAX_DAYS);
        assert_eq!(r.evicted_days(), 2);
        assert_eq!(r.days().next().map(DayCounts::day), Some(20_091));
        r.observe(&ctx(DAY0, 4, u, v4(1), 40), &query()); // older than all kept
        assert_eq!(r.late(), 1);
        let taken = r.take_days_before(20_100);
        assert_eq!(taken.len(), 9);
        // Lifetime histograms keep everything observed, taken days included (402 + 1 late).
        assert_eq!(r.lifetime().request_sizes[0][2], 403);
        assert_eq!(r.lifetime().request_bytes[0], 403 * 40);
        r.observe(&ctx(DAY0 + 5 * NS_PER_DAY, 4, u, v4(1), 40), &query());
        assert_eq!(r.late(), 2);
        r.restore(taken);
        assert_eq!(r.days().count(), MAX_DAYS);
        r.observe(&ctx(DAY0 + 5 * NS_PER_DAY, 4, u, v4(1), 40), &query());
        assert_eq!(r.day(20_094).map(DayCounts::total_queries), Some(2));
    }

    /// The run-wide distinct sources are the union of the days held, kept as sources arrive
    /// (directly or by merges, in any day order) and recounted when a day is taken out.
    #[test]
    fn run_sources_are_the_union_of_the_days_held() {
        use std::collections::HashSet;
        let mut workers = [
            Rssac002::with_settings(1 << 20, 1 << 20, 4),
            Rssac002::with_settings(1 << 20, 1 << 20, 0),
        ];
        let mut want: [HashSet<(u8, u8, u8)>; 3] = Default::default();
        let mut st = 11u64;
        for i in 0..3000u64 {
            let r = crate::aggregate::sketch::splitmix64(&mut st);
            let day = (r % 3) as usize;
            let (v, a) = if r & 8 == 0 {
                (4, v4((r >> 8) as u8))
            } else {
                (6, v6((r >> 16) as u8 % 4, (r >> 24) as u8))
            };
            let ts = DAY0 + day as u64 * NS_PER_DAY + i;
            workers[(r >> 40) as usize % 2].observe_keyed(
                &ctx(ts, v, Transport::Udp, a, 40),
                &query(),
                Some(&SourceKey::new(v, &a, super::super::sketch::process_seed())),
                |_, _| {},
            );
            want[day].insert((v, a[3] | a[7], a[15]));
        }
        let union = |days: &[HashSet<(u8, u8, u8)>]| {
            let all: HashSet<_> = days.iter().flatten().collect();
            [
                all.iter().filter(|k| k.0 == 4).count() as u64,
                all.iter().filter(|k| k.0 == 6).count() as u64,
            ]
        };
        let [mut a, mut b] = workers;
        b.flush();
        let a0 = {
            let mut x = a.clone();
            x.flush();
            x
        };
        a.merge(&b);
        assert_eq!(a.run_sources().counts, union(&want));
        // Most sources come back on other days: the union is far below the days' sum.
        let sum: u64 = a.days().map(|d| d.sources().counts[0]).sum();
        assert!(a.run_sources().counts[0] * 2 < sum, "{sum}");
        // Merged in the other order: the same union.
        let mut c = Rssac002::new(1 << 20);
        c.merge(&b);
        c.merge(&a0);
        assert_eq!(c.run_sources().counts, union(&want));
        // A summary (the daemon's published snapshot): the same figures, no keys copied.
        let mut p = Rssac002::new(1 << 20);
        p.merge_summary(&a);
        assert_eq!(p.run_sources(), a.run_sources());
        assert_eq!(
            p.days().map(DayCounts::sources).collect::<Vec<_>>(),
            a.days().map(DayCounts::sources).collect::<Vec<_>>()
        );
        assert_eq!(p.days().map(|d| d.sources.memory_bytes()).sum::<usize>(), 0);
        p.clear();
        assert_eq!(p.run_sources().counts, [0, 0]);
        let first = a.take_days_before(20_090);
        assert_eq!(first.len(), 1);
        assert_eq!(a.run_sources().counts, union(&want[1..]));
    }
}
