//! Bounded heavy hitters: Space-Saving (Metwally, Agrawal, El Abbadi, "Efficient computation of
//! frequent and top-k elements in data streams", ICDT 2005) over byte-string keys.
//!
//! HOT PATH: no allocation and no lock per observation. Every table is allocated once, in
//! [`SpaceSaving::new`], as boxed slices of fixed length:
//!
//! * `m` counters, each with its key stored inline in a fixed arena of `m × width` bytes (no
//!   per-key heap allocation; keys longer than `width` are cut);
//! * the counters grouped in buckets of equal count, the buckets in a list sorted by count
//!   (Metwally et al.'s "stream-summary"): the replacement victim is the first counter of the
//!   first bucket, and an increment by one moves a counter to the next bucket or a new one, O(1)
//!   whatever the traffic. (A binary min-heap, used before, re-sorted a new counter past every
//!   counter at the minimum count: ~10 dependent levels per replacement under churn, a fifth of
//!   a replay's time with a million sources; docs/performance.md.) Counters and buckets are
//!   records of half a cache line each, not parallel arrays of fields: an observation touches
//!   its counter's line and one or two buckets' (a quarter fewer L1 misses in a replay).
//! * **Lazy order**: the buckets only serve to find the smallest counter, which is needed once
//!   every counter is in use. Until then an observation of a monitored key is one addition to
//!   its count, and the buckets are built from the counts (one sort) when the last free counter
//!   is taken, then kept as above. A table that never fills (the TLDs of a ccTLD's traffic, the
//!   source prefixes of a few thousand clients) never pays for the order. Counters of equal
//!   count may then be ordered differently in their bucket than an always-kept order would
//!   have, which only decides which of several smallest keys a later one replaces: every
//!   guarantee below holds either way.
//! * an open-addressing [`Index`] (linear probing, backward-shift deletion, no tombstones) with a
//!   power-of-two number of slots ≥ 2·m (load ≤ ½), hashed with foldhash keyed by a per-process
//!   random seed: the keys come from the network, so an attacker cannot aim at a probe chain.
//!
//! **Keys** are told apart by their 64-bit keyed hash (the one the index probes with), not by
//! their bytes: two keys collide only if their hashes are equal, probability 2⁻⁶⁴ per pair
//! under a seed the traffic cannot know; a lookup among m = 1024 monitored keys mistakes a new
//! key for another with probability m/2⁶⁴ ≈ 5.6·10⁻¹⁷, once in ~10¹⁶ queries (a root letter
//! answers ~10¹³ a year). The bytes are kept for the report. (The per-source IPv6 keys make
//! the same trade: [`crate::aggregate::sources`].)
//!
//! **Filter** (Homem and Carvalho's "Filtered Space-Saving", 2010): 2^⌈log2 2m⌉ counting
//! cells indexed by a hash of the key of fixed seed (so a report does not depend on the
//! process's seed). Once the table is full, a key not monitored is first counted in its
//! cell; only when the cell would pass the smallest count does the key take over the smallest
//! counter, with count `cell + w` and error `cell` (not the smallest count), and the evicted
//! key's count goes into its own cell. Each cell bounds the true count of
//! every unmonitored key of its hash and never exceeds the smallest count, so the guarantees
//! below are Space-Saving's; the errors are smaller (the smallest count of a replay's qname
//! table fell from 622 to 336), and a spread of sources no longer replaces a counter at
//! nearly every query (with a root-like spread, the source-prefix table did, at ~250
//! instructions each). A merge or a restore sets every cell to the smallest count (0 while
//! not full): what classic Space-Saving assumes of every key, so the next key replaces as it
//! would there.
//!
//! **Memory bound** of one table: `m·(width + 32 + 8 + 32 + 4 + 1) + 16·2^⌈log2 2m⌉` bytes
//! (key bytes, a 32-byte counter record, its error, a 32-byte bucket, merge scratch; index
//! slots and filter cells), whatever the traffic ([`SpaceSaving::memory_bytes`]; the figures of dnsobs' tables are in
//! [`crate::aggregate::topk`]).
//!
//! **Guarantees** (for N observations): every monitored key `x` has
//! `count(x) − error(x) ≤ true(x) ≤ count(x)`, and every key not monitored has
//! `true ≤ min count ≤ N/m`. While no more than `m` distinct keys were seen the counts are
//! exact (`error = 0`). So any key with `true > N/m` is reported, and the top k by count is the
//! exact top k whenever the k-th true count exceeds the m-th largest count's error.
//!
//! **Merge** (mergeable summaries, Agarwal et al., PODS 2012; Cafaro et al. for Space-Saving):
//! keys in both summaries add counts and errors; a key in only one summary adds the other
//! summary's minimum count (0 unless that summary is full) to its count *and* its error, so
//! `count ≥ true` survives the merge; the m largest are kept.

use std::hash::BuildHasher;

use foldhash::quality::FixedState;

use super::Index;

/// A [`SpaceSaving`] summary as plain data.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SpaceSavingState {
    /// Counters.
    pub m: usize,
    /// Key width in bytes.
    pub width: usize,
    /// `(key, count, error)` of every monitored key.
    pub entries: Vec<(Vec<u8>, u64, u64)>,
    /// Occurrences counted.
    pub total: u64,
    /// Keys evicted.
    pub evictions: u64,
}

/// No slot or bucket.
const NIL: u32 = u32::MAX;

/// The hash of the filter cells (see [`SpaceSaving::cell`]).
const CELL_HASHER: foldhash::fast::FixedState = foldhash::fast::FixedState::with_seed(0x5ca1_ab1e);

/// Filter cells of a summary of `m` counters: the power of two ≥ 2·m.
fn filter_cells(m: usize) -> usize {
    (2 * m).next_power_of_two()
}

/// A counter: what an observation of its key reads and writes, in one half cache line (the
/// error, read only on replacement and at export, lives apart).
#[derive(Clone, Copy, Debug)]
#[repr(C, align(32))]
struct Slot {
    /// The key's 64-bit keyed hash (its identity: see "Keys").
    hash: u64,
    count: u64,
    /// Its bucket, and its neighbours in the bucket's list (`NIL`: none).
    bucket: u32,
    next: u32,
    prev: u32,
    /// Bytes of its key.
    len: u8,
}

const FREE_SLOT: Slot = Slot {
    hash: 0,
    count: 0,
    bucket: NIL,
    next: NIL,
    prev: NIL,
    len: 0,
};

/// A bucket of the stream-summary: the count its slots share, its first slot, its neighbours
/// in the list sorted by count (or the next free bucket).
#[derive(Clone, Copy, Debug)]
#[repr(C, align(32))]
struct Bucket {
    count: u64,
    head: u32,
    next: u32,
    prev: u32,
}

const _: () = assert!(size_of::<Slot>() == 32 && size_of::<Bucket>() == 32);

/// Space-Saving summary of byte-string keys with `m` counters.
#[derive(Clone, Debug)]
pub struct SpaceSaving {
    m: usize,
    width: usize,
    /// Key bytes: slot `s` owns `keys[s·width .. s·width + slots[s].len]`.
    keys: Box<[u8]>,
    /// The m counters (one array of records: an observation touches one line of it, where
    /// parallel arrays cost a line per field).
    slots: Box<[Slot]>,
    errors: Box<[u64]>,
    /// Buckets (a pool of m).
    buckets: Box<[Bucket]>,
    /// The bucket of the smallest count (`NIL` while empty), and the first free bucket.
    bmin: u32,
    bfree: u32,
    /// Merge scratch: the slots in order of count.
    order: Box<[u32]>,
    /// Key hash → slot.
    index: Index,
    /// The filter (see "Filter" in the module documentation): cell `cell(h)` bounds the true
    /// count of every key of hash `h` not monitored. All zero until the table first fills.
    filter: Box<[u64]>,
    /// Merge scratch: slots that matched a key of the other summary.
    touched: Box<[bool]>,
    /// Whether the buckets are kept (see "Lazy order" in the module documentation): from the
    /// moment every counter is in use, or after a merge; before, only counts are.
    ordered: bool,
    len: usize,
    /// Sum of every weight observed (N).
    total: u64,
    /// Observations of a key not monitored while the table was full (it took over the
    /// smallest counter, or was counted in its filter cell): the eviction counter.
    evictions: u64,
    hasher: FixedState,
}

impl SpaceSaving {
    /// A summary with `m` counters (at least 1) for keys of up to `width` bytes (at most 255).
    pub fn new(m: usize, width: usize) -> Self {
        let m = m.clamp(1, 1 << 24);
        let width = width.clamp(1, 255);
        Self {
            m,
            width,
            keys: crate::aggregate::table::filled(m * width, 0).into_boxed_slice(),
            slots: vec![FREE_SLOT; m].into_boxed_slice(),
            errors: vec![0; m].into_boxed_slice(),
            buckets: (1..=m as u32)
                .map(|b| Bucket {
                    count: 0,
                    head: NIL,
                    next: if b as usize == m { NIL } else { b },
                    prev: NIL,
                })
                .collect(),
            bmin: NIL,
            bfree: 0,
            order: vec![0; m].into_boxed_slice(),
            index: Index::with_capacity(m),
            filter: vec![0; filter_cells(m)].into_boxed_slice(),
            touched: vec![false; m].into_boxed_slice(),
            ordered: false,
            len: 0,
            total: 0,
            evictions: 0,
            hasher: super::bytes_hasher(),
        }
    }

    /// A summary that allocates nothing and ignores everything: a stand-in while the real one
    /// is moved out (`std::mem::replace` in `Aggregate::clear`), never to be observed into.
    pub fn placeholder() -> Self {
        Self {
            m: 0,
            width: 0,
            keys: Box::default(),
            slots: Box::default(),
            errors: Box::default(),
            buckets: Box::default(),
            bmin: NIL,
            bfree: NIL,
            order: Box::default(),
            index: Index::default(),
            filter: Box::default(),
            touched: Box::default(),
            ordered: false,
            len: 0,
            total: 0,
            evictions: 0,
            hasher: FixedState::with_seed(0),
        }
    }

    /// Counters (m).
    pub fn capacity(&self) -> usize {
        self.m
    }
    /// Keys monitored now (≤ m).
    pub fn len(&self) -> usize {
        self.len
    }
    /// True before the first observation.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Sum of all weights observed (N).
    pub fn total(&self) -> u64 {
        self.total
    }
    /// Keys evicted so far: each time a key not monitored arrived at a full table (here or in
    /// a merged summary), taking over the smallest counter or counted in its filter cell. Zero
    /// means every key ever seen is still monitored.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }
    /// Upper bound of the true count of any key not monitored, and of every monitored key's
    /// overestimate: the smallest count once all m counters are in use, else 0.
    pub fn max_error(&self) -> u64 {
        if self.len < self.m || self.len == 0 {
            0
        } else {
            self.min_count()
        }
    }
    /// Bytes held by the tables (fixed at construction).
    pub fn memory_bytes(&self) -> usize {
        self.keys.len()
            + size_of::<Slot>() * self.slots.len()
            + 8 * self.errors.len()
            + size_of::<Bucket>() * self.buckets.len()
            + 4 * self.order.len()
            + self.index.memory_bytes()
            + 8 * self.filter.len()
            + self.touched.len()
    }

    fn key(&self, s: usize) -> &[u8] {
        let at = s * self.width;
        &self.keys[at..at + usize::from(self.slots[s].len)]
    }

    fn set_key(&mut self, s: usize, key: &[u8]) {
        let at = s * self.width;
        self.keys[at..at + key.len()].copy_from_slice(key);
        self.slots[s].len = key.len() as u8;
    }

    /// The slot of the key whose 64-bit hash is `h`. Keys are told apart by their keyed hash
    /// alone, not by their bytes (see "Keys" in the module documentation): a byte comparison
    /// per lookup cost a twentieth of a replay.
    #[inline]
    fn find(&self, h: u64) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let s = self.index.find(h, |s| self.slots[s as usize].hash == h)?;
        Some(s as usize)
    }

    /// The smallest count monitored (0 while empty).
    #[inline]
    fn min_count(&self) -> u64 {
        self.buckets.get(self.bmin as usize).map_or(0, |b| b.count)
    }

    /// Takes slot `s` out of its bucket, freeing the bucket if it empties. Returns a bucket
    /// whose count is at most the slot's (to search from), `NIL` for the head of the list.
    #[inline]
    fn detach(&mut self, s: usize) -> u32 {
        let b = self.slots[s].bucket as usize;
        self.unlink_slot(s, b);
        if self.buckets[b].head != NIL {
            return b as u32;
        }
        self.free_bucket(b)
    }

    /// Takes slot `s` out of bucket `b`'s list of slots.
    #[inline(always)]
    fn unlink_slot(&mut self, s: usize, b: usize) {
        let (p, n) = (self.slots[s].prev, self.slots[s].next);
        if p == NIL {
            self.buckets[b].head = n;
        } else {
            self.slots[p as usize].next = n;
        }
        if n != NIL {
            self.slots[n as usize].prev = p;
        }
    }

    /// Takes the emptied bucket `b` out of the list of buckets onto the free list; returns the
    /// bucket before it (`NIL`: it was the first).
    #[inline(always)]
    fn free_bucket(&mut self, b: usize) -> u32 {
        let (bp, bn) = (self.buckets[b].prev, self.buckets[b].next);
        if bp == NIL {
            self.bmin = bn;
        } else {
            self.buckets[bp as usize].next = bn;
        }
        if bn != NIL {
            self.buckets[bn as usize].prev = bp;
        }
        self.buckets[b].next = self.bfree;
        self.bfree = b as u32;
        bp
    }

    /// Puts slot `s` (count already set) into the bucket of its count, searching forward from
    /// `from` (a bucket of a count at most the slot's; `NIL`: from the smallest).
    #[inline]
    fn attach(&mut self, s: usize, from: u32) {
        let c = self.slots[s].count;
        // `at`: the last bucket with a count ≤ c (NIL: none).
        let mut at = from;
        let mut next = if at == NIL {
            self.bmin
        } else {
            self.buckets[at as usize].next
        };
        while next != NIL && self.buckets[next as usize].count <= c {
            at = next;
            next = self.buckets[at as usize].next;
        }
        let b = if at != NIL && self.buckets[at as usize].count == c {
            at as usize
        } else {
            // There are never more buckets than slots.
            self.new_bucket(c, at, next)
        };
        self.push_slot(s, b);
    }

    /// Takes a free bucket (one must be free) for count `c` and links it between `after`
    /// (`NIL`: at the head of the list) and `before` (`NIL`: at its end).
    #[inline(always)]
    fn new_bucket(&mut self, c: u64, after: u32, before: u32) -> usize {
        let b = self.bfree as usize;
        self.bfree = self.buckets[b].next;
        self.buckets[b] = Bucket {
            count: c,
            head: NIL,
            next: before,
            prev: after,
        };
        if after == NIL {
            self.bmin = b as u32;
        } else {
            self.buckets[after as usize].next = b as u32;
        }
        if before != NIL {
            self.buckets[before as usize].prev = b as u32;
        }
        b
    }

    /// Puts slot `s` (count already set) first in bucket `b`'s list.
    #[inline(always)]
    fn push_slot(&mut self, s: usize, b: usize) {
        let head = self.buckets[b].head;
        self.slots[s].next = head;
        self.slots[s].prev = NIL;
        if head != NIL {
            self.slots[head as usize].prev = s as u32;
        }
        self.buckets[b].head = s as u32;
        self.slots[s].bucket = b as u32;
    }

    /// Adds `w` to slot `s`'s count (and `e` to its error), moving it to its new bucket.
    #[inline]
    fn increase(&mut self, s: usize, w: u64, e: u64) {
        if e != 0 {
            self.errors[s] += e;
        }
        match w {
            0 => return,
            1 => return self.bump(s),
            _ => {}
        }
        let from = self.detach(s);
        self.slots[s].count += w;
        self.attach(s, from);
    }

    /// Adds one to slot `s`'s count: [`SpaceSaving::increase`] by one, the case of every
    /// observation, in O(1) without a search. The slot lands in the bucket right after its
    /// own if that one holds the new count; else a slot alone in its bucket takes the bucket
    /// along (the list stays sorted: the next bucket counts more), and a slot with company gets
    /// a new bucket right after its own. (Half the observations of a replay move a slot; the
    /// general detach-and-search cost twice as much.)
    #[inline(always)]
    fn bump(&mut self, s: usize) {
        let b = self.slots[s].bucket as usize;
        let c = self.buckets[b].count + 1;
        self.slots[s].count = c;
        let n = self.buckets[b].next;
        let next_has_c = n != NIL && self.buckets[n as usize].count == c;
        let alone = self.buckets[b].head == s as u32 && self.slots[s].next == NIL;
        if alone && !next_has_c {
            self.buckets[b].count = c;
            return;
        }
        self.unlink_slot(s, b);
        let to = if next_has_c {
            if alone {
                self.free_bucket(b); // it emptied
            }
            n as usize
        } else {
            // A new bucket after `b`; one is free, as `b` keeps other slots.
            self.new_bucket(c, b as u32, n)
        };
        self.push_slot(s, to);
    }

    /// Rebuilds the buckets from the counts (after a merge changed many of them at once).
    fn rebuild(&mut self) {
        let m = self.buckets.len();
        for (b, n) in self.buckets.iter_mut().map(|b| &mut b.next).enumerate() {
            *n = if b + 1 == m { NIL } else { b as u32 + 1 };
        }
        self.bfree = if m == 0 { NIL } else { 0 };
        self.bmin = NIL;
        let order = &mut self.order[..self.len];
        for (i, o) in order.iter_mut().enumerate() {
            *o = i as u32;
        }
        let slots = &self.slots;
        order.sort_unstable_by_key(|&s| slots[s as usize].count);
        // Appending in count order: each search starts at the last bucket made.
        let mut last = NIL;
        for i in 0..self.len {
            let s = self.order[i] as usize;
            self.attach(s, last);
            last = self.slots[s].bucket;
        }
        self.ordered = true;
    }

    /// The hash `add` uses for `key` (after truncation to the key width).
    #[inline]
    pub fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(&key[..key.len().min(self.width)])
    }

    /// Starts loading the index slot `add` will probe first for a key of hash `h` (from
    /// [`SpaceSaving::hash`]; a hint only).
    #[inline]
    pub fn prefetch(&self, h: u64) {
        self.index.prefetch(h);
    }

    /// Counts one occurrence of `key`.
    #[inline]
    pub fn insert(&mut self, key: &[u8]) {
        self.add(key, 1, 0);
    }

    /// Counts `w` occurrences of `key`, `e` of which may be an overestimate from elsewhere
    /// (0 for direct observations).
    pub fn add(&mut self, key: &[u8], w: u64, e: u64) {
        if self.m == 0 {
            return; // placeholder
        }
        let h = self.hash(key);
        self.add_hashed(key, h, w, e);
    }

    /// [`SpaceSaving::add`] with `h == self.hash(key)` computed by the caller (hash once when
    /// the slot was prefetched first). The common case, a key already monitored, is in line
    /// at the caller (four tables a query: the calls cost ~1.5 % of a replay); a new key
    /// takes the call.
    #[inline(always)]
    pub fn add_hashed(&mut self, key: &[u8], h: u64, w: u64, e: u64) {
        if self.m == 0 {
            return; // placeholder
        }
        debug_assert_eq!(h, self.hash(key));
        self.total += w;
        if let Some(s) = self.find(h) {
            if !self.ordered {
                // Not full: no order to keep, the count is all there is.
                self.slots[s].count += w;
                if e != 0 {
                    self.errors[s] += e;
                }
                return;
            }
            if (w, e) == (1, 0) {
                self.bump(s); // an observation: no call, no weight to test
            } else {
                self.increase(s, w, e);
            }
            return;
        }
        self.add_new(key, h, w, e);
    }

    /// [`SpaceSaving::add_hashed`] of a key not monitored: a free counter, else the smallest.
    #[inline(never)]
    fn add_new(&mut self, key: &[u8], h: u64, w: u64, e: u64) {
        let key = &key[..key.len().min(self.width)];
        if self.len < self.m {
            self.push(key, h, w, e);
            return;
        }
        // Full: counted in the key's filter cell while that stays within the smallest count;
        // past it, the key takes over the smallest counter with the cell as its error, and
        // the evicted key's count goes into its own cell.
        self.evictions += 1;
        let min = self.min_count();
        let cell = self.cell(key);
        let f = self.filter[cell];
        if f + w <= min {
            self.filter[cell] = f + w;
            return;
        }
        let victim = self.buckets[self.bmin as usize].head as usize;
        let vc = self.cell(self.key(victim));
        self.filter[vc] = self.filter[vc].max(min);
        self.replace_min(key, h, f + w, f + e);
    }

    /// The filter cell of `key`, by a hash of fixed seed: unlike the index's keyed hash, so
    /// that a report does not depend on the process's seed (a cell shared by an attacker's
    /// keys only admits keys sooner, as classic Space-Saving would).
    #[inline]
    fn cell(&self, key: &[u8]) -> usize {
        CELL_HASHER.hash_one(key) as usize & (self.filter.len() - 1)
    }

    /// Sets every filter cell to the bound a merge or a restore guarantees for keys not
    /// monitored: the smallest count when full, else 0.
    fn reset_filter(&mut self) {
        let bound = self.max_error();
        self.filter.fill(bound);
    }

    /// Monitors `key` (hash `h`, absent, already cut to `width`) in the next unused counter,
    /// with count `c` and error `e`; the table must not be full.
    #[inline]
    fn push(&mut self, key: &[u8], h: u64, c: u64, e: u64) {
        let s = self.len;
        self.len += 1;
        self.set_key(s, key);
        self.slots[s].count = c;
        self.errors[s] = e;
        self.slots[s].hash = h;
        self.index.insert(h, s as u32);
        if self.ordered {
            self.attach(s, NIL);
        } else if self.len == self.m {
            // Every counter in use: from now on the smallest is needed, so the order is kept.
            self.rebuild();
        }
    }

    /// Gives the smallest counter (the first of the first bucket) to `key` (hash `h`, absent, already cut to
    /// `width`) with count `c ≥` the old count and error `e`.
    #[inline]
    fn replace_min(&mut self, key: &[u8], h: u64, c: u64, e: u64) {
        let s = self.buckets[self.bmin as usize].head as usize;
        self.index.remove(self.slots[s].hash, s as u32);
        self.set_key(s, key);
        self.slots[s].hash = h;
        self.errors[s] = e;
        self.index.insert(h, s as u32);
        let w = c - self.slots[s].count;
        self.increase(s, w, 0);
    }

    /// The estimated count and error of `key`, if monitored.
    pub fn get(&self, key: &[u8]) -> Option<(u64, u64)> {
        let key = &key[..key.len().min(self.width)];
        let s = self.find(self.hasher.hash_one(key))?;
        Some((self.slots[s].count, self.errors[s]))
    }

    /// The `k` largest counts, largest first (ties by key): `(key, count, error)`.
    /// `count − error ≤ true ≤ count`. Allocates: call at export time only.
    pub fn top(&self, k: usize) -> Vec<(&[u8], u64, u64)> {
        let mut v: Vec<(&[u8], u64, u64)> = (0..self.len)
            .map(|s| (self.key(s), self.slots[s].count, self.errors[s]))
            .collect();
        v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        v.truncate(k);
        v
    }

    /// Forgets every key, keeping the memory.
    pub fn clear(&mut self) {
        self.index.clear();
        self.len = 0;
        self.rebuild();
        self.ordered = false;
        self.filter.fill(0);
        self.total = 0;
        self.evictions = 0;
    }

    /// The summary as plain data: its size, every monitored key with its count and error, the
    /// total and the evictions (for day state files).
    pub fn state(&self) -> SpaceSavingState {
        SpaceSavingState {
            m: self.m,
            width: self.width,
            entries: (0..self.len)
                .map(|s| (self.key(s).to_vec(), self.slots[s].count, self.errors[s]))
                .collect(),
            total: self.total,
            evictions: self.evictions,
        }
    }

    /// The summary a [`SpaceSaving::state`] describes.
    pub fn from_state(s: &SpaceSavingState) -> Result<Self, String> {
        if s.m == 0 || s.entries.len() > s.m || s.width == 0 || s.width > 255 || s.m > 1 << 24 {
            return Err(format!(
                "a top-k summary of {} entries in {} counters of width {}",
                s.entries.len(),
                s.m,
                s.width
            ));
        }
        let mut t = Self::new(s.m, s.width);
        for (key, c, e) in &s.entries {
            let key = &key[..key.len().min(t.width)];
            let h = t.hash(key);
            if t.find(h).is_some() || e > c {
                return Err("a top-k summary with a key twice or an error above its count".into());
            }
            t.push(key, h, *c, *e);
        }
        t.total = s.total;
        t.evictions = s.evictions;
        t.reset_filter();
        Ok(t)
    }

    /// Merges `other` into `self` (see the module doc); allocation-free.
    pub fn merge(&mut self, other: &Self) {
        if self.m == 0 {
            return; // placeholder
        }
        let self_min = self.max_error();
        self.merge_shared(other);
        for j in 0..other.len {
            let key = other.key(j);
            let key = &key[..key.len().min(self.width)];
            let h = self.hasher.hash_one(key);
            if self.find(h).is_some() {
                continue;
            }
            let (c, e) = (other.slots[j].count + self_min, other.errors[j] + self_min);
            if self.len < self.m {
                self.push(key, h, c, e);
                continue;
            }
            // Either this key or the smallest monitored one is forgotten.
            self.evictions += 1;
            if c > self.min_count() {
                self.replace_min(key, h, c, e);
            }
        }
        self.total += other.total;
        self.evictions += other.evictions;
        self.reset_filter();
    }

    /// The first half of [`SpaceSaving::merge`]: every monitored key adds its count and error
    /// in `other`, or `other`'s minimum count when `other` does not monitor it; then the
    /// buckets are rebuilt.
    fn merge_shared(&mut self, other: &Self) {
        let other_min = other.max_error();
        self.touched.fill(false);
        for j in 0..other.len {
            let key = other.key(j);
            let key = &key[..key.len().min(self.width)];
            if let Some(s) = self.find(self.hasher.hash_one(key)) {
                self.slots[s].count += other.slots[j].count;
                self.errors[s] += other.errors[j];
                self.touched[s] = true;
            }
        }
        for s in 0..self.len {
            if !self.touched[s] {
                self.slots[s].count += other_min;
                self.errors[s] += other_min;
            }
        }
        self.rebuild();
    }

    /// Fingerprint of every table's memory: buffer addresses and lengths (tests: nothing is
    /// reallocated).
    #[cfg(test)]
    pub(crate) fn layout(&self) -> Vec<(usize, usize)> {
        fn f<T>(b: &[T]) -> (usize, usize) {
            (b.as_ptr() as usize, b.len())
        }
        vec![
            f(&self.keys),
            f(&self.slots),
            f(&self.errors),
            f(&self.buckets),
            f(&self.order),
            f(self.index.slots()),
            f(&self.touched),
        ]
    }
}

//============ Testing =======================================================

#[cfg(test)]
mod test {
    use std::collections::HashMap;

    use super::*;
    use crate::aggregate::sketch::splitmix64 as rng;

    #[test]
    fn exact_while_keys_fit() {
        let mut s = SpaceSaving::new(50, 32);
        let mut exact = HashMap::new();
        let mut r = 1;
        for _ in 0..10_000 {
            let k = format!("k{}", rng(&mut r) % 50);
            s.insert(k.as_bytes());
            *exact.entry(k).or_insert(0u64) += 1;
        }
        assert_eq!(s.len(), 50);
        assert_eq!(s.max_error(), exact.values().copied().min().unwrap_or(0));
        for (k, &n) in &exact {
            assert_eq!(s.get(k.as_bytes()), Some((n, 0)), "{k}");
        }
        let top = s.top(5);
        let mut want: Vec<_> = exact.iter().map(|(k, &n)| (k.as_bytes(), n)).collect();
        want.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        assert_eq!(
            top.iter().map(|t| (t.0, t.1)).collect::<Vec<_>>(),
            want[..5].to_vec()
        );
    }

    #[test]
    fn evictions_count_every_takeover() {
        let mut s = SpaceSaving::new(4, 8);
        for k in [b"a", b"b", b"c", b"d", b"a"] {
            s.insert(k);
        }
        assert_eq!(s.evictions(), 0, "four keys fit in four counters");
        s.insert(b"e");
        s.insert(b"f");
        assert_eq!(s.evictions(), 2);
        // Merging: another full summary's evictions add, and each of its keys that does not
        // fit forgets one key (its own or a monitored one).
        let mut o = SpaceSaving::new(4, 8);
        for k in [b"w", b"x", b"y", b"z", b"v"] {
            o.insert(k);
        }
        assert_eq!(o.evictions(), 1);
        s.merge(&o);
        assert_eq!(s.evictions(), 2 + 1 + 4);
        s.clear();
        assert_eq!(s.evictions(), 0);
    }

    /// Zipf-like stream over far more keys than counters: the bounds hold for every key.
    fn check_bounds(s: &SpaceSaving, exact: &HashMap<Vec<u8>, u64>) {
        let min = s.max_error();
        for (k, &n) in exact {
            match s.get(k) {
                Some((c, e)) => assert!(c - e <= n && n <= c, "{k:?}: {c} {e} {n}"),
                None => assert!(n <= min, "{k:?}: {n} > {min}"),
            }
        }
        assert!(min <= s.total() / s.capacity() as u64);
    }

    fn zipf_stream(seed: u64, n: usize, keys: u64) -> Vec<Vec<u8>> {
        let mut r = seed;
        (0..n)
            .map(|_| {
                // P(rank) ∝ 1/rank, by inverse transform on a log scale.
                let u = (rng(&mut r) >> 11) as f64 / (1u64 << 53) as f64;
                let rank = ((keys as f64).powf(u)) as u64;
                format!("name{rank}.example").into_bytes()
            })
            .collect()
    }

    #[test]
    fn bounds_hold_and_merge_keeps_them() {
        let a_stream = zipf_stream(7, 50_000, 5_000);
        let b_stream = zipf_stream(8, 30_000, 5_000);
        let (mut a, mut b) = (SpaceSaving::new(80, 64), SpaceSaving::new(80, 64));
        let mut ea: HashMap<Vec<u8>, u64> = HashMap::new();
        let mut eb: HashMap<Vec<u8>, u64> = HashMap::new();
        for k in &a_stream {
            a.insert(k);
            *ea.entry(k.clone()).or_default() += 1;
        }
        for k in &b_stream {
            b.insert(k);
            *eb.entry(k.clone()).or_default() += 1;
        }
        check_bounds(&a, &ea);
        check_bounds(&b, &eb);
        a.merge(&b);
        for (k, n) in eb {
            *ea.entry(k).or_default() += n;
        }
        assert_eq!(a.total(), 80_000);
        assert_eq!(a.len(), 80);
        check_bounds(&a, &ea);
        // The heaviest key is found, first.
        assert_eq!(a.top(1)[0].0, b"name1.example");
        // Merging into an empty summary is a copy.
        let mut c = SpaceSaving::new(80, 64);
        c.merge(&a);
        assert_eq!(c.top(80), a.top(80));
    }

    /// Under uniform churn (far more keys than counters, none heavy) every filter cell bounds
    /// the true count of each unmonitored key of its hash and stays within the smallest
    /// count, before and after a merge; the bounds of Space-Saving hold throughout.
    #[test]
    fn filter_cells_bound_unmonitored_keys() {
        let check = |s: &SpaceSaving, exact: &HashMap<Vec<u8>, u64>| {
            let min = s.max_error();
            for (k, &n) in exact {
                if s.get(k).is_none() {
                    let f = s.filter[s.cell(k)];
                    assert!(n <= f && f <= min, "{k:?}: true {n}, cell {f}, min {min}");
                }
            }
            check_bounds(s, exact);
        };
        let (mut a, mut b) = (SpaceSaving::new(64, 8), SpaceSaving::new(64, 8));
        let mut ea: HashMap<Vec<u8>, u64> = HashMap::new();
        let mut eb: HashMap<Vec<u8>, u64> = HashMap::new();
        let mut r = 3;
        for i in 0..40_000u64 {
            let k = (rng(&mut r) % 1_000).to_le_bytes().to_vec();
            let (s, e) = if i % 3 == 0 {
                (&mut b, &mut eb)
            } else {
                (&mut a, &mut ea)
            };
            s.insert(&k);
            *e.entry(k).or_default() += 1;
            if i % 5_000 == 4_999 {
                check(&a, &ea);
                check(&b, &eb);
            }
        }
        assert!(a.evictions() > 0 && a.max_error() > 0);
        a.merge(&b);
        for (k, n) in eb {
            *ea.entry(k).or_default() += n;
        }
        check(&a, &ea);
        for _ in 0..10_000 {
            let k = (rng(&mut r) % 1_000).to_le_bytes().to_vec();
            a.insert(&k);
            *ea.entry(k).or_default() += 1;
        }
        check(&a, &ea);
    }

    #[test]
    fn merge_of_small_summaries_is_exact() {
        let (mut a, mut b) = (SpaceSaving::new(10, 8), SpaceSaving::new(10, 8));
        for (k, n) in [(b"x", 5), (b"y", 3)] {
            for _ in 0..n {
                a.insert(k);
            }
        }
        for (k, n) in [(b"y", 4), (b"z", 1)] {
            for _ in 0..n {
                b.insert(k);
            }
        }
        a.merge(&b);
        assert_eq!(
            a.top(10),
            vec![(&b"y"[..], 7, 0), (&b"x"[..], 5, 0), (&b"z"[..], 1, 0)]
        );
        a.clear();
        assert!(a.is_empty() && a.top(3).is_empty() && a.get(b"x").is_none());
    }

    /// The stream-summary is well formed: buckets in strictly increasing count, every slot
    /// in the bucket of its count with its neighbours linked both ways, the free buckets and
    /// the used ones all m.
    fn check_structure(s: &SpaceSaving) {
        if !s.ordered {
            // Lazy order: only a table with a free counter goes without.
            assert!(s.len() < s.capacity(), "a full table keeps its order");
            return;
        }
        let (mut seen, mut buckets, mut last) = (0, 0, None);
        let (mut b, mut prev) = (s.bmin, NIL);
        while b != NIL {
            let bu = b as usize;
            assert_eq!(s.buckets[bu].prev, prev);
            assert!(last < Some(s.buckets[bu].count), "bucket counts increase");
            last = Some(s.buckets[bu].count);
            let (mut x, mut xp) = (s.buckets[bu].head, NIL);
            assert_ne!(x, NIL, "no empty bucket in the list");
            while x != NIL {
                let xu = x as usize;
                assert_eq!((s.slots[xu].bucket, s.slots[xu].prev), (b, xp));
                assert_eq!(s.slots[xu].count, s.buckets[bu].count);
                seen += 1;
                (xp, x) = (x, s.slots[xu].next);
            }
            buckets += 1;
            (prev, b) = (b, s.buckets[bu].next);
        }
        assert_eq!(seen, s.len());
        let mut free = 0;
        let mut f = s.bfree;
        while f != NIL {
            free += 1;
            f = s.buckets[f as usize].next;
        }
        assert_eq!(buckets + free, s.capacity());
    }

    #[test]
    fn buckets_stay_well_formed() {
        // Few keys (many equal counts, slots moving between shared buckets), then churn past
        // the counters, weighted additions and a merge: after each step the structure holds.
        let mut s = SpaceSaving::new(32, 8);
        let mut r = 11;
        for i in 0..20_000u64 {
            let keys = if i < 5_000 { 24 } else { 200 };
            let k = (rng(&mut r) % keys).to_le_bytes();
            if i % 101 == 0 {
                s.add(&k, 1 + rng(&mut r) % 5, 0);
            } else {
                s.insert(&k);
            }
            if i % 251 == 0 {
                check_structure(&s);
            }
        }
        check_structure(&s);
        let mut o = SpaceSaving::new(32, 8);
        for i in 0..500u64 {
            o.insert(&(i % 40).to_le_bytes());
        }
        s.merge(&o);
        check_structure(&s);
        for i in 0..1000u64 {
            s.insert(&(i % 7).to_le_bytes());
        }
        check_structure(&s);
    }

    #[test]
    fn index_survives_churn() {
        // Constant replacement exercises backward-shift deletion; every monitored key must stay
        // findable and the index must hold exactly `len` entries.
        let mut s = SpaceSaving::new(16, 16);
        let mut r = 3;
        for i in 0..100_000u64 {
            let k = (rng(&mut r) % 1000).to_le_bytes();
            s.insert(&k);
            if i % 997 == 0 {
                for slot in 0..s.len() {
                    let key = s.key(slot).to_vec();
                    assert!(s.get(&key).is_some());
                }
                assert_eq!(s.index.occupied(), s.len());
            }
        }
    }
}
