//! Resolver hygiene: per source, bounded, how a resolver sends its queries: source-port spread
//! (fixed or sequential ports are exposed to cache poisoning, RFC 5452), RD set on queries to an
//! authoritative server, 0x20 mixed-case names, the DO bit. Exported as counts of sources in each
//! class, never per address.
//!
//! HOT PATH: a fixed-capacity, 8-way set-associative table allocated once. A query reads one
//! 64-byte line of tags for its set (a 32-bit address tag and a coarse last-seen time per way)
//! and then the one entry it updates: two cache lines, where scanning the set's 8 entries
//! (512 bytes) cost 8 and made this table the largest single cost of a replay. When a set is full the least recently seen source of that set is
//! evicted (approximate LRU over the whole table) and counted in [`Hygiene::evictions`].
//!
//! **Counting that survives flushes and merges.** A source's classes can change with every
//! query, and the daemon hands each worker's counters to the merger as deltas (then clears
//! them). So the table does not export a snapshot: each query that changes a source's class set
//! adds −1 to the classes it leaves and +1 to those it joins ([`Hygiene::classes`] sums these
//! deltas); an eviction subtracts the evicted source's classes. Summing the deltas of every
//! worker and every flush gives exactly the number of sources *currently in the tables* in each
//! class. The table itself stays with its worker: `clear` keeps it, and [`Hygiene::take_table`]
//! moves it into the fresh aggregate the worker continues with (as `Latency::take_pending`).
//!
//! **Sharding.** A source is counted once only if all its queries reach one worker. Workers are
//! sharded by a symmetric hash of the (source, destination) address pair, so a resolver that
//! queries two captured server addresses (say an anycast instance's IPv4 and IPv6, or two
//! servers on one tap) may live in two tables and be counted twice. On a single-address server
//! each resolver stays on one worker and the counts are exact (up to evictions).
//!
//! **Dual stack is not reported.** Passively, nothing ties a resolver's IPv4 address to its IPv6
//! address: they share no prefix relation (a /24 and a /64 of the same operator are unrelated
//! numbers), and a heuristic pairing (the same random-looking qname from both families within a
//! second) would need per-name state far beyond this table and would still mistake two
//! resolvers behind one forwarder for one. Instead the table reports eligible sources by IP
//! version ([`Hygiene::eligible`]).
//!
//! Memory: `capacity` × 64 bytes per worker (65,536 sources: 4 MiB).

use super::ring::Ring;
use super::sources::SourceKey;
use crate::decode::{Message, MsgCtx, Name};

/// Hygiene classes of a source with at least `min_queries` queries. The three port classes are
/// exclusive; the others are independent flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Class {
    /// Every query from one source port (distinct ports = 1).
    FixedPort,
    /// More than half of the steps between consecutive queries move the port up by
    /// 1..=[`SEQ_MAX_STEP`] (mod 65536): a counter, shared with other destinations.
    SequentialPorts,
    /// Neither fixed nor sequential.
    RandomPorts,
    /// RD set on more than half of the queries (a stub or forwarder, or a misconfigured
    /// resolver, talking to an authoritative server).
    RdSet,
    /// Mixed-case names (0x20 randomisation) on at least a quarter of the queries (names with
    /// few letters come out single-case by chance: "com" 1 time in 4).
    Uses0x20,
    /// DO set on more than half of the queries.
    SetsDo,
}

impl Class {
    /// Every class.
    pub const ALL: [Self; 6] = [
        Self::FixedPort,
        Self::SequentialPorts,
        Self::RandomPorts,
        Self::RdSet,
        Self::Uses0x20,
        Self::SetsDo,
    ];

    /// Label value.
    pub const fn label(self) -> &'static str {
        match self {
            Self::FixedPort => "fixed_port",
            Self::SequentialPorts => "sequential_ports",
            Self::RandomPorts => "random_ports",
            Self::RdSet => "rd_set",
            Self::Uses0x20 => "uses_0x20",
            Self::SetsDo => "sets_do",
        }
    }
}

/// Largest port increment still counted as a sequential step: a counter-driven resolver sends
/// queries to other servers in between, so the step seen at one server is rarely exactly 1.
/// A random port lands in 1..=64 above the previous one with probability 64/65536 ≈ 0.1 %.
pub const SEQ_MAX_STEP: u16 = 64;

/// Bits of the class set kept per entry: the six classes, then eligible IPv4 and IPv6.
const ELIGIBLE_V4: u8 = 6;
const BITS: usize = 8;
const WAYS: usize = 8;

/// Settings.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Sources remembered per worker (rounded up to a power of two, at least 8).
    pub capacity: usize,
    /// Queries a source needs before it is classified.
    pub min_queries: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            capacity: 1 << 16,
            min_queries: 10,
        }
    }
}

/// One source's counters (64 bytes).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
struct Entry {
    addr: [u8; 16],
    /// Capture time of the latest query (ns); 0 = free slot.
    last_seen: u64,
    /// Bit per port hash (port × odd constant, top 6 bits): distinct-port sketch.
    port_bits: u64,
    queries: u32,
    rd: u32,
    mixed: u32,
    dnssec_ok: u32,
    /// Consecutive-query steps of +1..=SEQ_MAX_STEP.
    seq_steps: u32,
    min_port: u16,
    max_port: u16,
    last_port: u16,
    version: u8,
    /// Class bits currently counted for this entry.
    bits: u8,
}

impl Entry {
    fn class_bits(&self, min_queries: u32) -> u8 {
        if self.queries < min_queries.max(1) {
            return 0;
        }
        let q = self.queries;
        let mut b = 1u8 << (ELIGIBLE_V4 + u8::from(self.version == 6));
        b |= if self.min_port == self.max_port {
            1 << Class::FixedPort as u8
        } else if 2 * self.seq_steps > q - 1 {
            1 << Class::SequentialPorts as u8
        } else {
            1 << Class::RandomPorts as u8
        };
        if 2 * self.rd > q {
            b |= 1 << Class::RdSet as u8;
        }
        if 4 * self.mixed >= q {
            b |= 1 << Class::Uses0x20 as u8;
        }
        if 2 * self.dnssec_ok > q {
            b |= 1 << Class::SetsDo as u8;
        }
        b
    }
}

/// The tags of one set: which way holds which address (0 = free) and when each way was last
/// seen (capture time in units of 2^20 ns ≈ 1 ms, wrapping: only for choosing a victim).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
struct Tags {
    tag: [u32; WAYS],
    seen: [u32; WAYS],
}

/// The tag of an address hash: its high half, never 0 (0 marks a free way).
fn tag_of(hash: u64) -> u32 {
    ((hash >> 32) as u32) | 1
}

/// A query as the table records it, while it waits in the batch.
#[derive(Clone, Copy, Debug, Default)]
struct Query {
    addr: [u8; 16],
    hash: u64,
    ts_ns: u64,
    sport: u16,
    version: u8,
    rd: bool,
    mixed: bool,
    dnssec_ok: bool,
}

/// Resolver hygiene of one worker.
#[derive(Clone, Debug)]
pub struct Hygiene {
    table: Box<[Entry]>,
    tags: Box<[Tags]>,
    /// Queries not yet applied, oldest first (capacity 0: none wait). Each query's tag line is
    /// prefetched when it arrives and, half-way through the ring, the line of the way it will
    /// use, so that both cache misses of a batch overlap.
    queue: Ring<Query>,
    set_mask: usize,
    min_queries: u32,
    seed: u64,
    /// Changes of the number of sources in each class bit since the last `clear`.
    delta: [i64; BITS],
    /// Sources evicted to make room since the last `clear`.
    pub evictions: u64,
    /// Queries observed since the last `clear`.
    pub queries: u64,
}

impl Hygiene {
    /// An empty table of `settings.capacity` sources, recording each query at once.
    pub fn new(settings: &Settings) -> Self {
        Self::with_batch(settings, 0)
    }

    /// An empty table recording queries in batches of `batch` (0 or 1: at once); the figures
    /// do not depend on it.
    pub fn with_batch(settings: &Settings, batch: usize) -> Self {
        let cap = settings.capacity.max(WAYS).next_power_of_two();
        Self {
            table: super::table::filled(cap, Entry::default()).into_boxed_slice(),
            tags: super::table::filled(cap / WAYS, Tags::default()).into_boxed_slice(),
            queue: Ring::new(if batch > 1 { batch } else { 0 }),
            set_mask: cap / WAYS - 1,
            min_queries: settings.min_queries.max(1),
            seed: super::sketch::process_seed(),
            delta: [0; BITS],
            evictions: 0,
            queries: 0,
        }
    }

    /// A table that allocates nothing and ignores everything (a stand-in while the real one is
    /// moved out in `Aggregate::clear`).
    pub fn placeholder() -> Self {
        Self {
            table: Box::default(),
            tags: Box::default(),
            queue: Ring::new(0),
            set_mask: 0,
            min_queries: 1,
            seed: 0,
            delta: [0; BITS],
            evictions: 0,
            queries: 0,
        }
    }

    /// Sources the table holds at most.
    pub fn capacity(&self) -> usize {
        self.table.len()
    }

    /// Heap bytes of the table.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.table) + std::mem::size_of_val(&*self.tags)
    }

    /// Records a query (responses and non-QUERY opcodes are ignored), hashing its source itself
    /// (see [`observe_keyed`](Self::observe_keyed)).
    pub fn observe(&mut self, ctx: &MsgCtx, msg: &Message, name: &Name) {
        let src_hash = SourceKey::new(ctx.ip_version, &ctx.src, self.seed).addr_hash;
        self.observe_keyed(ctx, msg, name, src_hash);
    }

    /// Records a query, at once or when it leaves the batch; `src_hash` is the source's hash
    /// from its [`SourceKey`] (computed once per query by the aggregate).
    #[inline]
    pub fn observe_keyed(&mut self, ctx: &MsgCtx, msg: &Message, name: &Name, src_hash: u64) {
        let h = &msg.header;
        if h.qr() || h.opcode() != 0 || self.table.is_empty() {
            return;
        }
        let version = ctx.ip_version;
        let mut addr = ctx.src;
        if version != 6 {
            addr[4..].fill(0);
        }
        let q = Query {
            addr,
            hash: src_hash,
            ts_ns: ctx.ts_ns,
            sport: ctx.sport,
            version,
            rd: h.rd(),
            mixed: name.mixed_case(),
            dnssec_ok: msg.edns.is_some_and(|o| o.dnssec_ok),
        };
        let cap = self.queue.capacity();
        if cap > 0 {
            super::prefetch(&self.tags[q.hash as usize & self.set_mask]);
            // Half-way: the tag line of that query has arrived; start loading its entry.
            let mid = self.queue.len().checked_sub(cap / 2);
            if let Some(&mid) = mid.and_then(|i| self.queue.get(i)) {
                self.prefetch_entry(&mid);
            }
        }
        if let Some(old) = self.queue.push(q) {
            self.apply(&old);
        }
    }

    /// Applies every queued query (before the table moves or its counts are read).
    pub fn flush(&mut self) {
        while let Some(q) = self.queue.pop() {
            self.apply(&q);
        }
    }

    /// The way `apply` will use for `q` now (its match, else the victim).
    #[inline]
    fn way_of(&self, q: &Query) -> usize {
        let tags = &self.tags[q.hash as usize & self.set_mask];
        let tag = tag_of(q.hash);
        let now = (q.ts_ns >> 20) as u32;
        let age = |j: usize| {
            if tags.tag[j] == 0 {
                u32::MAX
            } else {
                now.wrapping_sub(tags.seen[j])
            }
        };
        let mut victim = 0;
        for i in 0..WAYS {
            if tags.tag[i] == tag {
                return i;
            }
            if age(i) > age(victim) {
                victim = i;
            }
        }
        victim
    }

    #[inline]
    fn prefetch_entry(&self, q: &Query) {
        let set = (q.hash as usize & self.set_mask) * WAYS;
        super::prefetch(&self.table[set + self.way_of(q)]);
    }

    /// Records one query in the table.
    #[inline]
    fn apply(&mut self, q: &Query) {
        self.queries += 1;
        let (version, addr, hash) = (q.version, q.addr, q.hash);
        let set_index = hash as usize & self.set_mask;
        let set = set_index * WAYS;
        let tag = tag_of(hash);
        let tags = &mut self.tags[set_index];
        let ways = &mut self.table[set..set + WAYS];
        let mut slot = None;
        let mut victim = 0;
        let now = (q.ts_ns >> 20) as u32;
        // Indexes two parallel arrays (tags, then the matching entry only).
        #[allow(clippy::needless_range_loop)]
        for i in 0..WAYS {
            if tags.tag[i] == tag && ways[i].version == version && ways[i].addr == addr {
                slot = Some(i);
                break;
            }
            // Free ways first, then the least recently seen (age by wrapping distance).
            let age = |j: usize| {
                if tags.tag[j] == 0 {
                    u32::MAX
                } else {
                    now.wrapping_sub(tags.seen[j])
                }
            };
            if age(i) > age(victim) {
                victim = i;
            }
        }
        let ts = q.ts_ns.max(1);
        let port = q.sport;
        let i = match slot {
            Some(i) => i,
            None => {
                let old = ways[victim];
                if old.last_seen != 0 {
                    self.evictions += 1;
                    Self::account(&mut self.delta, old.bits, 0);
                }
                tags.tag[victim] = tag;
                ways[victim] = Entry {
                    addr,
                    last_seen: ts,
                    version,
                    min_port: port,
                    max_port: port,
                    last_port: port,
                    ..Entry::default()
                };
                victim
            }
        };
        tags.seen[i] = now;
        let e = &mut ways[i];
        if e.queries > 0 {
            let step = port.wrapping_sub(e.last_port);
            e.seq_steps += u32::from((1..=SEQ_MAX_STEP).contains(&step));
        }
        e.last_seen = e.last_seen.max(ts);
        e.queries = e.queries.saturating_add(1);
        e.min_port = e.min_port.min(port);
        e.max_port = e.max_port.max(port);
        e.last_port = port;
        e.port_bits |= 1 << (u64::from(port).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58);
        e.rd += u32::from(q.rd);
        e.mixed += u32::from(q.mixed);
        e.dnssec_ok += u32::from(q.dnssec_ok);
        let new = e.class_bits(self.min_queries);
        let old = e.bits;
        if new != old {
            e.bits = new;
            Self::account(&mut self.delta, old, new);
        }
    }

    fn account(delta: &mut [i64; BITS], old: u8, new: u8) {
        for (b, d) in delta.iter_mut().enumerate() {
            *d += i64::from((new >> b) & 1) - i64::from((old >> b) & 1);
        }
    }

    fn count(&self, bit: usize) -> u64 {
        u64::try_from(self.delta[bit].max(0)).unwrap_or(0)
    }

    /// Sources in each class ([`Class::ALL`] order), summed over every merged worker.
    pub fn classes(&self) -> [u64; Class::ALL.len()] {
        std::array::from_fn(|i| self.count(i))
    }

    /// Classified sources (at least `min_queries` queries) by IP version `[v4, v6]`.
    pub fn eligible(&self) -> [u64; 2] {
        [
            self.count(usize::from(ELIGIBLE_V4)),
            self.count(usize::from(ELIGIBLE_V4) + 1),
        ]
    }

    /// Distinct-port estimate of the sketch of a bitmap with `set` of 64 bits set (linear
    /// counting); exposed for tests and reports.
    pub fn distinct_ports_estimate(set: u32) -> f64 {
        if set >= 64 {
            return f64::INFINITY;
        }
        -64.0 * (1.0 - f64::from(set) / 64.0).ln()
    }

    /// Adds another worker's deltas (its table stays where it is: see the module doc). Both
    /// must be flushed: a worker's queries are applied to its own table only.
    pub fn merge(&mut self, other: &Self) {
        debug_assert!(
            other.queue.is_empty(),
            "merge of an unflushed hygiene table"
        );
        for (a, b) in self.delta.iter_mut().zip(&other.delta) {
            *a += b;
        }
        self.evictions += other.evictions;
        self.queries += other.queries;
    }

    /// The class counts as plain data `(deltas, evictions, queries)` (the table stays).
    pub fn state(&mut self) -> (Vec<i64>, u64, u64) {
        self.flush();
        (self.delta.to_vec(), self.evictions, self.queries)
    }

    /// Adds class counts saved by [`Hygiene::state`].
    pub fn merge_state(
        &mut self,
        delta: &[i64],
        evictions: u64,
        queries: u64,
    ) -> Result<(), String> {
        if delta.len() != BITS {
            return Err(format!(
                "{} hygiene classes where {BITS} are expected",
                delta.len()
            ));
        }
        for (a, b) in self.delta.iter_mut().zip(delta) {
            *a += b;
        }
        self.evictions += evictions;
        self.queries += queries;
        Ok(())
    }

    /// Zeroes the deltas and counters; the table stays (it is the worker's state), with every
    /// queued query applied to it.
    pub fn clear(&mut self) {
        self.flush();
        self.delta = [0; BITS];
        self.evictions = 0;
        self.queries = 0;
    }

    /// Moves `from`'s table into `self` (swapping tables), for a worker that continues with a
    /// fresh aggregate while `from` goes to the merger with its deltas.
    pub fn take_table(&mut self, from: &mut Self) {
        // `from`'s queued queries belong to its deltas, and to the table it gives up.
        from.flush();
        self.flush();
        std::mem::swap(&mut self.table, &mut from.table);
        std::mem::swap(&mut self.tags, &mut from.tags);
        std::mem::swap(&mut self.set_mask, &mut from.set_mask);
        self.min_queries = from.min_queries;
        self.seed = from.seed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::dns::{Edns, Header};

    fn ctx(src: u8, sport: u16, ts: u64) -> MsgCtx {
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&[192, 0, 2, src]);
        MsgCtx {
            ts_ns: ts,
            sport,
            ..MsgCtx::for_test(4, a)
        }
    }

    fn q(rd: bool, dnssec_ok: bool) -> Message {
        Message {
            header: Header {
                flags: if rd { 0x0100 } else { 0 },
                qdcount: 1,
                ..Header::default()
            },
            question: Some((1, 1)),
            edns: Some(Edns {
                udp_size: 1232,
                dnssec_ok,
                ..Edns::default()
            }),
            malformed: None,
        }
    }

    #[test]
    fn classes_by_port_pattern_and_flags() {
        let mut h = Hygiene::new(&Settings::default());
        let n = Name::default();
        for i in 0..12u16 {
            h.observe(&ctx(1, 5353, 1 + u64::from(i)), &q(true, false), &n);
            h.observe(
                &ctx(2, 40000 + 3 * i, 1 + u64::from(i)),
                &q(false, true),
                &n,
            );
            h.observe(
                &ctx(3, 1024u16.wrapping_add(i.wrapping_mul(40503)), 1),
                &q(false, false),
                &n,
            );
        }
        // Source 4: below min_queries, not classified.
        h.observe(&ctx(4, 1, 1), &q(true, true), &n);
        assert_eq!(h.classes(), [1, 1, 1, 1, 0, 1]);
        assert_eq!(h.eligible(), [3, 0]);
        // Deltas survive a flush: a worker's delta plus the next one's equal the state.
        let mut total = Hygiene::placeholder();
        total.merge(&h);
        let mut fresh = Hygiene::new(&Settings::default());
        fresh.take_table(&mut h);
        h.clear();
        for i in 0..20u16 {
            // Source 1 now has 32 queries, 12 with RD: leaves rd_set.
            fresh.observe(&ctx(1, 5353, 100 + u64::from(i)), &q(false, false), &n);
        }
        total.merge(&fresh);
        assert_eq!(total.classes(), [1, 1, 1, 0, 0, 1]);
    }

    #[test]
    fn evicts_least_recently_seen_within_bounds() {
        let mut h = Hygiene::new(&Settings {
            capacity: 8,
            min_queries: 1,
        });
        for s in 0..20u8 {
            h.observe(
                &ctx(s, 1000, 1 + u64::from(s)),
                &q(false, false),
                &Name::default(),
            );
        }
        assert_eq!(h.capacity(), 8);
        assert_eq!(h.evictions, 12);
        assert_eq!(h.eligible(), [8, 0]);
        assert_eq!(
            h.memory_bytes(),
            8 * 64 + 64,
            "entries and one line of tags"
        );
    }
}
