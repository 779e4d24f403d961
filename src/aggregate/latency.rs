//! Response latency where both directions are captured: each query waits in a bounded pending
//! table until its response arrives; the delay goes into an HDR histogram per transport.
//!
//! **Key**: (client address, client port, server address, server port, transport, DNS id,
//! QTYPE, 64-bit hash of the lower-cased QNAME). A query inserts `(src, sport, dst, dport, …)`;
//! a response looks up the reversed tuple `(dst, dport, src, sport, …)`. Messages without a
//! first question (QTYPE unknown) cannot be keyed and are only counted (`unkeyed`). The
//! qname hash is foldhash keyed by the per-process seed ([`super::sketch::process_seed`]), so a
//! table handed between aggregates keeps hashing the same way, and an attacker cannot aim at
//! probe chains. The table keeps each key's 64-bit keyed hash, not the key (a 24-byte entry
//! instead of a 64-byte one: the table fits the caches four times better): a response matches
//! a query whose key has the same hash. Two of n pending keys share a hash with probability
//! below n²/2⁶⁵ (≈ 10⁻¹¹ for the aggregate's 16,384), and a response without its query finds
//! another's with probability n/2⁶⁴ (≈ 10⁻¹⁵): never in the life of a server. (The top-k
//! summaries and the IPv6 per-source keys make the same trade.)
//!
//! **Bounds**: at most `capacity` pending queries (module default 100,000 per worker; the
//! aggregate's default is 16,384) in a slab of 24-byte entries and 8-byte list links plus an
//! open-addressing index of 8-byte slots (a power of two ≥ 2·capacity): 100,000 → 3,200,000 +
//! 2,097,152 bytes ≈ **5.3 MB per worker**, reserved on the first query (never grown, so nothing
//! is allocated per packet; an aggregate that never sees a query, such as the merger's total,
//! holds none). Two histograms (1 µs … 60 s, 3 significant digits: 17,408 `u64` counters,
//! 136 KiB each): **272 KiB**. In all 5,575,680 bytes per worker at a capacity of 100,000
//! ([`Latency::memory_bytes`]). Every counter is a fixed array.
//!
//! **Timeout** (default 5 s) is in *capture time*. Entries sit in a list in arrival order, so
//! the oldest is at its head: each observation first expires the head while it is older than
//! the timeout (amortised O(1): a periodic sweep that costs nothing when nothing expires); a
//! response that still finds an entry older than the timeout (timestamps out of order across
//! interfaces) is treated as a timeout, not a match (lazy expiry on access). [`Latency::expire`]
//! lets an idle worker sweep with the wall clock.
//!
//! **Table full**: the *oldest* pending query is evicted (counted in `evicted`), not the new one
//! refused. Most answered queries are answered within milliseconds, so the chance that a
//! pending query still gets a response falls with its age: the oldest entries are the ones
//! most likely lost (dropped upstream, sent to a dead address, or part of a flood). Refusing
//! new queries instead would stop measuring altogether during an overload (every new query
//! refused, its response then unmatched) until old entries time out.
//!
//! **Duplicate key** (a retransmission with the same id and port, or an id collision): counted
//! in `duplicates`; the entry restarts its clock from the newer query (it is re-queued at the
//! tail). The response most often answers the latest copy, and measuring from the first copy
//! would add the client's retry interval (a second or more) to the server's latency.
//!
//! **Merge**: histograms and counters add; pending tables are not merged. Workers are sharded by
//! a symmetric hash of the two IP addresses ([`crate::decode::shard_hash`]), so a query and its
//! response always reach the same worker and are matched there; another worker's pending
//! queries can never be answered in this one, and the merged total never observes packets.
//!
//! **Clear** resets histograms and counters but *keeps* the pending queries: a flush of the
//! counters must not turn in-flight queries into unmatched responses. When a flush swaps the
//! worker's aggregate for a recycled one (the daemon), [`Latency::take_pending`] moves the
//! in-flight table to the aggregate that stays with the worker (an O(1) swap).
//!
//! **Invariant** (per transport): keyed queries = matched + timed_out + evicted + duplicates +
//! closed + pending; keyed responses = matched + unmatched (late responses count in both
//! `timed_out` and `unmatched`).

use std::hash::BuildHasher;

use foldhash::quality::FixedState;
use hdrhistogram::Histogram;

use super::sketch::Index;
use crate::decode::ip::Addr;
use crate::decode::{Message, MsgCtx, Name, Transport};

/// Latency settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Most pending queries per worker (default 100,000).
    pub capacity: usize,
    /// A query without a response for this long (capture time) is dropped (default 5 s).
    pub timeout_ns: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            capacity: 100_000,
            timeout_ns: 5_000_000_000,
        }
    }
}

/// Lowest and highest latency tracked (µs); values above are recorded as the highest.
pub const HIST_LOW_US: u64 = 1;
/// 60 s.
pub const HIST_HIGH_US: u64 = 60_000_000;
/// Significant digits.
pub const HIST_SIGFIG: u8 = 3;

/// Upper bounds (µs) of the Prometheus histogram buckets (`+Inf` is implied).
pub const BUCKETS_US: [u64; 15] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000,
];

const NIL: u32 = u32::MAX;

/// What a response and its query share (addresses, ports, ID, question), for matching.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    client: Addr,
    server: Addr,
    qname: u64,
    cport: u16,
    sport: u16,
    id: u16,
    qtype: u16,
    transport: u8,
}

/// A pending query: its key's hash (see "Key" in the module documentation), its time and
/// transport; 24 bytes.
#[derive(Clone, Copy, Debug)]
struct Entry {
    hash: u64,
    ts_ns: u64,
    transport: u8,
}

const _: () = assert!(std::mem::size_of::<Entry>() == 24, "an entry is 24 bytes");

/// Arrival-order neighbours of a slot (the free list runs through `next`). Kept apart from the
/// entries so that unlinking a matched query touches this small array (8 bytes a slot, mostly
/// cache-resident) rather than the entries of its two neighbours.
#[derive(Clone, Copy, Debug)]
struct Link {
    prev: u32,
    next: u32,
}

/// The pending queries: a slab of entries chained in arrival order (head = oldest), free slots
/// chained through `next`, and an open-addressing [`Index`] (linear probing, backward-shift
/// deletion; each index slot holds hash bits, so a probe walks the index alone and reads only
/// the entry that matches).
#[derive(Debug)]
struct Pending {
    cap: usize,
    slab: Vec<Entry>,
    links: Vec<Link>,
    index: Index,
    head: u32,
    tail: u32,
    free: u32,
    len: usize,
    hasher: FixedState,
}

impl Clone for Pending {
    /// A clone keeps the reserved capacity, so it never grows either.
    fn clone(&self) -> Self {
        let reserve = if self.index.is_allocated() {
            self.cap
        } else {
            0
        };
        let mut slab = super::table::reserved(reserve);
        slab.extend_from_slice(&self.slab);
        let mut links = super::table::reserved(reserve);
        links.extend_from_slice(&self.links);
        Self {
            cap: self.cap,
            slab,
            links,
            index: self.index.clone(),
            head: self.head,
            tail: self.tail,
            free: self.free,
            len: self.len,
            hasher: self.hasher.clone(),
        }
    }
}

impl Pending {
    fn new(cap: usize) -> Self {
        Self {
            cap: cap.clamp(1, 1 << 30),
            slab: Vec::new(),
            links: Vec::new(),
            index: Index::default(),
            head: NIL,
            tail: NIL,
            free: NIL,
            len: 0,
            hasher: super::sketch::bytes_hasher(),
        }
    }

    /// Reserves the tables (once, on the first query).
    #[inline]
    fn reserve(&mut self) {
        if !self.index.is_allocated() {
            self.allocate();
        }
    }

    #[cold]
    fn allocate(&mut self) {
        self.slab = super::table::reserved(self.cap);
        self.links = super::table::reserved(self.cap);
        self.index = Index::with_capacity(self.cap);
    }

    /// Evicts the oldest pending query (returned) and puts a new one (key hash `hash`) in its
    /// slot, last in arrival order: [`Pending::remove`] then [`Pending::insert`] in one step,
    /// without the free list (the same slot, index and order). The table must not be empty.
    #[inline]
    fn replace_oldest(&mut self, hash: u64, transport: u8, ts_ns: u64) -> Entry {
        let s = self.head;
        let old = std::mem::replace(
            &mut self.slab[s as usize],
            Entry {
                hash,
                ts_ns,
                transport,
            },
        );
        self.index.remove(old.hash, s);
        self.index.insert(hash, s);
        self.unlink(s);
        self.push_tail(s);
        old
    }

    fn hash(&self, k: &Key) -> u64 {
        self.hasher.hash_one(k)
    }

    /// The pending query whose key hashes to `h`.
    fn find(&self, h: u64) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        self.index.find(h, |s| self.slab[s as usize].hash == h)
    }

    fn unlink(&mut self, s: u32) {
        let Link { prev, next } = self.links[s as usize];
        if prev == NIL {
            self.head = next;
        } else {
            self.links[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.links[next as usize].prev = prev;
        }
    }

    fn push_tail(&mut self, s: u32) {
        let tail = self.tail;
        self.links[s as usize] = Link {
            prev: tail,
            next: NIL,
        };
        if tail == NIL {
            self.head = s;
        } else {
            self.links[tail as usize].next = s;
        }
        self.tail = s;
    }

    /// Takes slot `s` out of the arrival list and the index (found by the entry's own hash).
    fn remove(&mut self, s: u32) -> Entry {
        let e = self.slab[s as usize];
        self.unlink(s);
        self.index.remove(e.hash, s);
        self.links[s as usize].next = self.free;
        self.free = s;
        self.len -= 1;
        e
    }

    /// Inserts a key known to be absent; the table must not be full.
    fn insert(&mut self, hash: u64, transport: u8, ts_ns: u64) {
        let entry = Entry {
            hash,
            ts_ns,
            transport,
        };
        let s = if self.free != NIL {
            let s = self.free;
            self.free = self.links[s as usize].next;
            self.slab[s as usize] = entry;
            s
        } else {
            // Within the capacity reserved up front: never reallocates.
            self.slab.push(entry);
            self.links.push(Link {
                prev: NIL,
                next: NIL,
            });
            (self.slab.len() - 1) as u32
        };
        self.index.insert(hash, s);
        self.push_tail(s);
        self.len += 1;
    }

    fn clear(&mut self) {
        if self.len > 0 || !self.slab.is_empty() {
            self.index.clear();
            self.slab.clear();
            self.links.clear();
        }
        self.head = NIL;
        self.tail = NIL;
        self.free = NIL;
        self.len = 0;
    }

    fn memory_bytes(&self) -> usize {
        self.slab.capacity() * std::mem::size_of::<Entry>()
            + self.links.capacity() * std::mem::size_of::<Link>()
            + self.index.memory_bytes()
    }
}

/// A [`Latency`]'s histograms and counters as plain data: `(value µs, count)` per recorded
/// histogram bin, per transport.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LatencyState {
    /// Histogram bins per transport.
    pub hist: [Vec<(u64, u64)>; 2],
    /// See [`Latency::sum_us`].
    pub sum_us: [u64; 2],
    /// See [`Latency::matched`].
    pub matched: [u64; 2],
    /// See [`Latency::unmatched`].
    pub unmatched: [u64; 2],
    /// See [`Latency::timed_out`].
    pub timed_out: [u64; 2],
    /// See [`Latency::evicted`].
    pub evicted: [u64; 2],
    /// See [`Latency::duplicates`].
    pub duplicates: [u64; 2],
    /// See [`Latency::closed`].
    pub closed: [u64; 2],
    /// See [`Latency::unkeyed`].
    pub unkeyed: [u64; 2],
}

/// Latency histograms and matching counters, per transport (`[udp, tcp]`).
#[derive(Clone, Debug)]
pub struct Latency {
    pending: Pending,
    timeout_ns: u64,
    /// Matched delays in µs.
    pub hist: [Histogram<u64>; 2],
    /// Exact sum of matched delays in µs.
    pub sum_us: [u64; 2],
    /// Responses matched to a pending query (= each histogram's count).
    pub matched: [u64; 2],
    /// Responses without a pending query (never seen, already answered, expired or evicted).
    pub unmatched: [u64; 2],
    /// Queries dropped unanswered after the timeout (including late answers).
    pub timed_out: [u64; 2],
    /// Queries evicted, oldest first, because the table was full.
    pub evicted: [u64; 2],
    /// Queries whose key was already pending (the older copy is superseded).
    pub duplicates: [u64; 2],
    /// Queries still pending when [`Latency::close`] ended the input.
    pub closed: [u64; 2],
    /// Messages without a first question, which cannot be matched.
    pub unkeyed: [u64; 2],
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(HIST_LOW_US, HIST_HIGH_US, HIST_SIGFIG)
        .expect("constant histogram bounds are valid")
}

impl Latency {
    /// Empty histograms; the pending table is reserved on the first query.
    pub fn new(s: &Settings) -> Self {
        Self::build(s, histogram)
    }

    fn build(s: &Settings, histogram: fn() -> Histogram<u64>) -> Self {
        Self {
            pending: Pending::new(s.capacity),
            timeout_ns: s.timeout_ns,
            hist: [histogram(), histogram()],
            sum_us: [0; 2],
            matched: [0; 2],
            unmatched: [0; 2],
            timed_out: [0; 2],
            evicted: [0; 2],
            duplicates: [0; 2],
            closed: [0; 2],
            unkeyed: [0; 2],
        }
    }

    /// A stand-in while the real one is moved out (`std::mem::replace` in `Aggregate::clear`):
    /// no pending table and two tiny histograms (a few dozen bytes). Merging into it is
    /// ignored; observing into it counts nothing useful.
    pub fn placeholder() -> Self {
        fn tiny() -> Histogram<u64> {
            Histogram::new_with_bounds(1, 2, 0).expect("constant histogram bounds are valid")
        }
        Self::build(&Settings::default(), tiny)
    }

    fn is_placeholder(&self) -> bool {
        self.hist[0].high() < HIST_HIGH_US
    }

    /// Queries waiting for a response.
    pub fn pending(&self) -> usize {
        self.pending.len
    }

    /// Most pending queries.
    pub fn capacity(&self) -> usize {
        self.pending.cap
    }

    /// Drops the pending queries older than the timeout at `now_ns` (oldest first).
    #[inline]
    pub fn expire(&mut self, now_ns: u64) {
        while self.pending.head != NIL {
            let h = self.pending.head;
            let e = &self.pending.slab[h as usize];
            if e.ts_ns.saturating_add(self.timeout_ns) >= now_ns {
                return;
            }
            let t = usize::from(e.transport);
            self.pending.remove(h);
            self.timed_out[t] += 1;
        }
    }

    /// Matches a message: a query waits, a response ends the wait of its query.
    #[inline]
    pub fn observe(&mut self, ctx: &MsgCtx, msg: &Message, name: &Name) {
        let key = self.key(ctx, msg, self.pending.hasher.hash_one(name.as_bytes()));
        self.observe_key(ctx, msg, key);
    }

    /// The hash of a message's matching key (what the table keeps); `None` without a first
    /// question. `qname` is the hash of the question's name by
    /// [`crate::aggregate::sketch::bytes_hasher`] (the message's, shared with the top-k).
    #[inline]
    pub fn key(&self, ctx: &MsgCtx, msg: &Message, qname: u64) -> Option<u64> {
        let (qtype, _) = msg.question?;
        let (client, cport, server, sport) = if msg.header.qr() {
            (ctx.dst, ctx.dport, ctx.src, ctx.sport)
        } else {
            (ctx.src, ctx.sport, ctx.dst, ctx.dport)
        };
        let key = Key {
            client,
            server,
            qname,
            cport,
            sport,
            id: msg.header.id,
            qtype,
            transport: ctx.transport as u8,
        };
        Some(self.pending.hash(&key))
    }

    /// Starts loading the index slot the key will probe first (a hint only).
    #[inline]
    pub fn prefetch(&self, key: &Option<u64>) {
        if let Some(h) = key {
            self.pending.index.prefetch(*h);
        }
    }

    /// [`Latency::observe`] with the key from [`Latency::key`] for this same message.
    #[inline]
    pub fn observe_key(&mut self, ctx: &MsgCtx, msg: &Message, key: Option<u64>) {
        let t = ctx.transport as usize;
        let now = ctx.ts_ns;
        self.expire(now);
        let Some(h) = key else {
            self.unkeyed[t] += 1;
            return;
        };
        let response = msg.header.qr();
        let found = self.pending.find(h);
        if response {
            let Some(s) = found else {
                self.unmatched[t] += 1;
                return;
            };
            let q = self.pending.remove(s);
            if q.ts_ns.saturating_add(self.timeout_ns) < now {
                self.timed_out[t] += 1;
                self.unmatched[t] += 1;
                return;
            }
            let us = now.saturating_sub(q.ts_ns) / 1000;
            self.hist[t].saturating_record(us);
            self.sum_us[t] += us;
            self.matched[t] += 1;
            return;
        }
        if let Some(s) = found {
            if self.pending.slab[s as usize]
                .ts_ns
                .saturating_add(self.timeout_ns)
                < now
            {
                self.timed_out[t] += 1; // the older copy expired unnoticed (lazy expiry)
            } else {
                self.duplicates[t] += 1;
            }
            self.pending.slab[s as usize].ts_ns = now;
            self.pending.unlink(s);
            self.pending.push_tail(s);
            return;
        }
        self.pending.reserve();
        if self.pending.len >= self.pending.cap && self.pending.head != NIL {
            let e = self.pending.replace_oldest(h, ctx.transport as u8, now);
            self.evicted[usize::from(e.transport)] += 1;
            return;
        }
        self.pending.insert(h, ctx.transport as u8, now);
    }

    /// End of input: every pending query counts as `closed` and the table is emptied.
    pub fn close(&mut self) {
        while self.pending.head != NIL {
            let h = self.pending.head;
            let e = self.pending.remove(h);
            self.closed[usize::from(e.transport)] += 1;
        }
    }

    /// Moves `from`'s pending queries into `self` (an O(1) swap); `from` is left with an empty
    /// table. For a flush that hands the worker's aggregate away and keeps a recycled one.
    pub fn take_pending(&mut self, from: &mut Self) {
        std::mem::swap(&mut self.pending, &mut from.pending);
        from.pending.clear();
    }

    /// Adds another worker's histograms and counters (not its pending queries: see the module
    /// doc).
    pub fn merge(&mut self, other: &Self) {
        if self.is_placeholder() {
            return;
        }
        for t in 0..2 {
            if self.hist[t].add(&other.hist[t]).is_err() {
                // Only with unequal bounds (a placeholder as `other`): value by value, clamped.
                for v in other.hist[t].iter_recorded() {
                    self.hist[t].saturating_record_n(v.value_iterated_to(), v.count_at_value());
                }
            }
            self.sum_us[t] += other.sum_us[t];
            self.matched[t] += other.matched[t];
            self.unmatched[t] += other.unmatched[t];
            self.timed_out[t] += other.timed_out[t];
            self.evicted[t] += other.evicted[t];
            self.duplicates[t] += other.duplicates[t];
            self.closed[t] += other.closed[t];
            self.unkeyed[t] += other.unkeyed[t];
        }
    }

    /// Histograms and counters as plain data (pending queries are the worker's state).
    pub fn state(&self) -> LatencyState {
        LatencyState {
            hist: std::array::from_fn(|t| {
                self.hist[t]
                    .iter_recorded()
                    .map(|v| (v.value_iterated_to(), v.count_at_value()))
                    .collect()
            }),
            sum_us: self.sum_us,
            matched: self.matched,
            unmatched: self.unmatched,
            timed_out: self.timed_out,
            evicted: self.evicted,
            duplicates: self.duplicates,
            closed: self.closed,
            unkeyed: self.unkeyed,
        }
    }

    /// Adds the histograms and counters of `s`.
    pub fn merge_state(&mut self, s: &LatencyState) {
        if self.is_placeholder() {
            return;
        }
        for t in 0..2 {
            for &(v, n) in &s.hist[t] {
                self.hist[t].saturating_record_n(v, n);
            }
            self.sum_us[t] += s.sum_us[t];
            self.matched[t] += s.matched[t];
            self.unmatched[t] += s.unmatched[t];
            self.timed_out[t] += s.timed_out[t];
            self.evicted[t] += s.evicted[t];
            self.duplicates[t] += s.duplicates[t];
            self.closed[t] += s.closed[t];
            self.unkeyed[t] += s.unkeyed[t];
        }
    }

    /// Resets histograms and counters; pending queries stay (see the module doc).
    pub fn clear(&mut self) {
        for h in &mut self.hist {
            h.reset();
        }
        self.sum_us = [0; 2];
        self.matched = [0; 2];
        self.unmatched = [0; 2];
        self.timed_out = [0; 2];
        self.evicted = [0; 2];
        self.duplicates = [0; 2];
        self.closed = [0; 2];
        self.unkeyed = [0; 2];
    }

    /// Prometheus buckets of one transport: `(upper bound in seconds, cumulative count)` for
    /// each of [`BUCKETS_US`]; `+Inf` is [`Latency::count`]. A bound falls inside one HDR bin;
    /// that whole bin counts as below it, so a bound is resolved to within 0.1 % (exact below
    /// 2.048 ms, where bins are 1 µs wide).
    pub fn buckets_seconds(&self, transport: Transport) -> Vec<(f64, u64)> {
        let h = &self.hist[transport as usize];
        BUCKETS_US
            .iter()
            .map(|&ub| (ub as f64 / 1e6, h.count_between(0, ub)))
            .collect()
    }

    /// Sum of matched delays in seconds (exact to the microsecond).
    pub fn sum_seconds(&self, transport: Transport) -> f64 {
        self.sum_us[transport as usize] as f64 / 1e6
    }

    /// Matched responses.
    pub fn count(&self, transport: Transport) -> u64 {
        self.hist[transport as usize].len()
    }

    /// The delay at quantile `q` (0..=1) in seconds, if anything was matched.
    pub fn quantile_seconds(&self, transport: Transport, q: f64) -> Option<f64> {
        let h = &self.hist[transport as usize];
        (!h.is_empty()).then(|| h.value_at_quantile(q) as f64 / 1e6)
    }

    /// Bytes held: histograms plus the pending table once reserved.
    pub fn memory_bytes(&self) -> usize {
        self.hist
            .iter()
            .map(|h| h.distinct_values() * 8)
            .sum::<usize>()
            + self.pending.memory_bytes()
    }
}

//============ Testing =======================================================

#[cfg(test)]
mod test {
    use super::*;
    use crate::decode::dns::{self, test::query};

    const CLIENT: Addr = [192, 0, 2, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    const SERVER: Addr = [192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

    struct Pair {
        q: Vec<u8>,
        r: Vec<u8>,
    }

    fn pair(id: u16, qname: &[u8], qtype: u16) -> Pair {
        let mut q = query(qname, qtype, 0, &[]);
        q[..2].copy_from_slice(&id.to_be_bytes());
        let mut r = q.clone();
        r[2] |= 0x80;
        Pair { q, r }
    }

    fn ctx(ts_ns: u64, response: bool, cport: u16, t: Transport) -> MsgCtx {
        let (src, dst, sport, dport) = if response {
            (SERVER, CLIENT, 53, cport)
        } else {
            (CLIENT, SERVER, cport, 53)
        };
        MsgCtx {
            ts_ns,
            transport: t,
            dst,
            sport,
            dport,
            ..MsgCtx::for_test(4, src)
        }
    }

    fn feed(l: &mut Latency, bytes: &[u8], c: &MsgCtx) {
        let mut name = Name::default();
        let msg = dns::parse(bytes, &mut name).expect("test message parses");
        l.observe(c, &msg, &name);
    }

    const MS: u64 = 1_000_000;
    const US: u64 = 1_000;

    #[test]
    fn known_delays_land_in_their_buckets() {
        let mut l = Latency::new(&Settings::default());
        // (delay, transport): 50 µs, 300 µs, 3 ms, 40 ms, 700 ms, 4 s on UDP; 7 ms on TCP.
        let delays = [
            (50 * US, Transport::Udp),
            (300 * US, Transport::Udp),
            (3 * MS, Transport::Udp),
            (40 * MS, Transport::Udp),
            (700 * MS, Transport::Udp),
            (4_000 * MS, Transport::Udp),
            (7 * MS, Transport::Tcp),
        ];
        let start = 1_700_000_000_000_000_000u64;
        for (i, &(d, t)) in delays.iter().enumerate() {
            let p = pair(i as u16, b"\x07example\x00", 1);
            let port = 10_000 + i as u16;
            feed(&mut l, &p.q, &ctx(start, false, port, t));
            feed(&mut l, &p.r, &ctx(start + d, true, port, t));
        }
        let b = l.buckets_seconds(Transport::Udp);
        let want = [1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 4, 5, 5, 6];
        assert_eq!(b.iter().map(|x| x.1).collect::<Vec<_>>(), want);
        assert_eq!(b[0].0, 0.0001);
        assert_eq!(b[14].0, 5.0);
        assert_eq!(l.count(Transport::Udp), 6);
        assert_eq!(l.matched, [6, 1]);
        let sum = 0.00005 + 0.0003 + 0.003 + 0.04 + 0.7 + 4.0;
        assert!((l.sum_seconds(Transport::Udp) - sum).abs() < 1e-9);
        let tcp = l.buckets_seconds(Transport::Tcp);
        assert_eq!(tcp[5].1, 0); // ≤ 5 ms
        assert_eq!(tcp[6].1, 1); // ≤ 10 ms
        assert_eq!(l.sum_seconds(Transport::Tcp), 0.007);
        assert_eq!(l.pending(), 0);
        let q = l.quantile_seconds(Transport::Tcp, 0.5).expect("a value");
        assert!((q - 0.007).abs() < 0.00001, "{q}");
        // Merge adds; clear resets.
        let mut m = Latency::new(&Settings::default());
        m.merge(&l);
        m.merge(&l);
        assert_eq!(m.buckets_seconds(Transport::Udp)[14].1, 12);
        assert_eq!(m.matched, [12, 2]);
        m.clear();
        assert_eq!(m.count(Transport::Udp), 0);
        assert_eq!(m.matched, [0, 0]);
    }

    #[test]
    fn matching_needs_the_whole_key() {
        let mut l = Latency::new(&Settings::default());
        let p = pair(7, b"\x03WwW\x07example\x00", 28);
        feed(&mut l, &p.q, &ctx(0, false, 4000, Transport::Udp));
        // Wrong port, wrong transport, wrong id, wrong qtype, wrong name: all unmatched.
        feed(&mut l, &p.r, &ctx(MS, true, 4001, Transport::Udp));
        feed(&mut l, &p.r, &ctx(MS, true, 4000, Transport::Tcp));
        feed(
            &mut l,
            &pair(8, b"\x03www\x07example\x00", 28).r,
            &ctx(MS, true, 4000, Transport::Udp),
        );
        feed(
            &mut l,
            &pair(7, b"\x03www\x07example\x00", 1).r,
            &ctx(MS, true, 4000, Transport::Udp),
        );
        feed(
            &mut l,
            &pair(7, b"\x03wwx\x07example\x00", 28).r,
            &ctx(MS, true, 4000, Transport::Udp),
        );
        assert_eq!(l.unmatched, [4, 1]);
        assert_eq!(l.pending(), 1);
        // Case differs (0x20): still the same name.
        feed(
            &mut l,
            &pair(7, b"\x03WWW\x07EXAMPLE\x00", 28).r,
            &ctx(2 * MS, true, 4000, Transport::Udp),
        );
        assert_eq!(l.matched, [1, 0]);
        // The response again: its query is gone.
        feed(&mut l, &p.r, &ctx(3 * MS, true, 4000, Transport::Udp));
        assert_eq!(l.unmatched, [5, 1]);
        // No question: unkeyed.
        let mut bare = p.r.clone();
        bare[5] = 0;
        feed(
            &mut l,
            &bare[..12],
            &ctx(3 * MS, true, 4000, Transport::Udp),
        );
        assert_eq!(l.unkeyed, [1, 0]);
    }

    #[test]
    fn timeouts_duplicates_and_close() {
        let mut l = Latency::new(&Settings::default());
        let s = 1_000 * MS;
        let a = pair(1, b"\x01a\x00", 1);
        let b = pair(2, b"\x01b\x00", 1);
        let c = pair(3, b"\x01c\x00", 1);
        feed(&mut l, &a.q, &ctx(s, false, 1, Transport::Udp));
        feed(&mut l, &b.q, &ctx(s, false, 1, Transport::Udp));
        // A retransmission of b restarts its clock.
        feed(&mut l, &b.q, &ctx(s + 3_000 * MS, false, 1, Transport::Udp));
        assert_eq!(l.duplicates, [1, 0]);
        // 6 s later: a has timed out (swept by the next message), b has not.
        feed(&mut l, &c.q, &ctx(s + 6_000 * MS, false, 1, Transport::Tcp));
        assert_eq!(l.timed_out, [1, 0]);
        assert_eq!(l.pending(), 2);
        feed(&mut l, &a.r, &ctx(s + 6_001 * MS, true, 1, Transport::Udp));
        assert_eq!(l.unmatched, [1, 0]);
        // b is answered 3.5 s after its retransmission.
        feed(&mut l, &b.r, &ctx(s + 6_500 * MS, true, 1, Transport::Udp));
        assert_eq!(l.matched, [1, 0]);
        assert_eq!(l.sum_us, [3_500_000, 0]);
        // A late answer found before the sweep (timestamps out of order) is a timeout.
        let d = pair(4, b"\x01d\x00", 1);
        feed(&mut l, &d.q, &ctx(s + 1_000 * MS, false, 1, Transport::Udp));
        // The list head (c, newer) is not expired, so d stays until looked up.
        feed(&mut l, &d.r, &ctx(s + 6_700 * MS, true, 1, Transport::Udp));
        assert_eq!(l.timed_out, [2, 0]);
        assert_eq!(l.unmatched, [2, 0]);
        // Clear keeps the pending query c.
        l.clear();
        assert_eq!(l.pending(), 1);
        feed(&mut l, &c.r, &ctx(s + 6_010 * MS, true, 1, Transport::Tcp));
        assert_eq!(l.matched, [0, 1]);
        feed(&mut l, &a.q, &ctx(s + 7_000 * MS, false, 1, Transport::Udp));
        l.close();
        assert_eq!(l.closed, [1, 0]);
        assert_eq!(l.pending(), 0);
    }

    #[test]
    fn placeholder_is_inert() {
        let mut p = Latency::placeholder();
        assert!(p.memory_bytes() < 1024, "{}", p.memory_bytes());
        let mut l = Latency::new(&Settings::default());
        let x = pair(1, b"\x01x\x00", 1);
        feed(&mut l, &x.q, &ctx(0, false, 1, Transport::Udp));
        feed(&mut l, &x.r, &ctx(MS, true, 1, Transport::Udp));
        p.merge(&l);
        assert_eq!(p.matched, [0, 0]);
        l.merge(&p);
        assert_eq!((l.matched, l.count(Transport::Udp)), ([1, 0], 1));
    }

    #[test]
    fn take_pending_moves_in_flight_queries() {
        let mut worker = Latency::new(&Settings::default());
        let p = pair(9, b"\x01x\x00", 1);
        feed(&mut worker, &p.q, &ctx(0, false, 9, Transport::Udp));
        // The daemon's flush: the worker's aggregate leaves, a recycled one takes its place.
        let mut spare = Latency::new(&Settings::default());
        let mut outgoing = std::mem::replace(&mut worker, spare.clone());
        worker.take_pending(&mut outgoing);
        assert_eq!((worker.pending(), outgoing.pending()), (1, 0));
        feed(&mut worker, &p.r, &ctx(MS, true, 9, Transport::Udp));
        assert_eq!(worker.matched, [1, 0]);
        spare.take_pending(&mut worker);
        assert_eq!(spare.pending(), 0);
    }

    #[test]
    fn flood_of_unanswered_queries_stays_bounded() {
        let cap = 100_000;
        let mut l = Latency::new(&Settings {
            capacity: cap,
            ..Settings::default()
        });
        let mut name = Name::default();
        let msg = dns::parse(&query(b"\x05flood\x00", 1, 0, &[]), &mut name).expect("parses");
        let mut msg = msg;
        let mut c = ctx(0, false, 0, Transport::Udp);
        let mut layout = None;
        for i in 0..1_000_000u32 {
            // 10 µs apart: 10 s in all, so both eviction (100,000 in 1 s) and expiry apply.
            c.ts_ns = u64::from(i) * 10 * US;
            c.sport = i as u16;
            c.src[4..8].copy_from_slice(&i.to_be_bytes());
            msg.header.id = (i >> 16) as u16;
            l.observe(&c, &msg, &name);
            assert!(l.pending() <= cap);
            if i == 0 {
                layout = Some((
                    l.pending.slab.as_ptr(),
                    l.pending.slab.capacity(),
                    l.memory_bytes(),
                ));
            }
        }
        assert_eq!(l.pending(), cap);
        assert_eq!(
            Some((
                l.pending.slab.as_ptr(),
                l.pending.slab.capacity(),
                l.memory_bytes()
            )),
            layout,
            "the pending table grew"
        );
        // With 10 µs spacing the table (100,000 = 1 s) fills long before the 5 s timeout: every
        // query past the first 100,000 evicts the oldest.
        assert_eq!(l.evicted, [900_000, 0]);
        assert_eq!(l.timed_out, [0, 0]);
        assert_eq!(
            l.memory_bytes(),
            100_000 * (24 + 8) + 8 * 262_144 + 2 * 8 * 17_408
        );
        // Slower flood: 100 µs apart, 100 s in all: the timeout (50,000 queries) wins.
        let mut l = Latency::new(&Settings::default());
        for i in 0..1_000_000u32 {
            c.ts_ns = u64::from(i) * 100 * US;
            c.sport = i as u16;
            c.src[4..8].copy_from_slice(&i.to_be_bytes());
            msg.header.id = (i >> 16) as u16;
            l.observe(&c, &msg, &name);
        }
        assert_eq!(l.evicted, [0, 0]);
        assert_eq!(l.pending(), 50_001);
        assert_eq!(l.timed_out[0] + l.pending() as u64, 1_000_000);
    }
}
