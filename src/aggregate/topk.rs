//! Bounded heavy hitters: Space-Saving (Metwally, Agrawal, El Abbadi, "Efficient computation of
//! frequent and top-k elements in data streams", ICDT 2005) over byte-string keys.
//!
//! HOT PATH: no allocation and no lock per observation. Every table is allocated once, in
//! [`SpaceSaving::new`], as boxed slices of fixed length:
//!
//! * `m` counters (`m = max(8·k, 1024)`, `k` from the config, default 10, at most 1000; or set
//!   explicitly), each with its key
//!   stored inline in a fixed arena of `m × width` bytes (no per-key heap allocation; keys
//!   longer than `width` are cut, which cannot happen for DNS names: `width` is 255 for qnames,
//!   127 for second-level names, 63 for TLDs, 18 for source prefixes);
//! * a min-heap of the counters by count (the replacement victim is its root: O(1) to find,
//!   O(log m) to restore; a heavy key sits near the leaves, so its increment is O(1) in practice);
//! * an open-addressing index (linear probing, backward-shift deletion, no tombstones) with a
//!   power-of-two number of slots ≥ 2·m (load ≤ ½), hashed with foldhash keyed by a per-process
//!   random seed: the names come from the network, so an attacker cannot aim at a probe chain.
//!
//! **Memory bound** of one table: `m·(width + 1 + 8 + 8 + 8 + 4 + 4 + 1) + 8·2^⌈log2 2m⌉` bytes,
//! whatever the traffic. With the default k = 10 (m = 1024, 2048 index slots): qnames
//! 312,320 B, second-level names 181,248 B, TLDs 115,712 B, prefixes 69,632 B, so [`TopK`] holds
//! 678,912 B (≈ 663 KiB) per worker; with k = 1000 (m = 8000) 5,316,288 B (≈ 5.1 MiB).
//! [`SpaceSaving::memory_bytes`] computes it.
//!
//! **Why at least 1024 counters**: a key is only guaranteed to be monitored once its true count
//! exceeds N/m, so m sets the frequency resolution (N/1024 ≈ 0.1 % of queries), not k. With
//! m = 8·k = 80 the floor is 1.25 % of the traffic: on root-mix-v4v6.pcap (4,279 queries,
//! 1,504 distinct qnames, the 7th–10th most frequent at 48–43 queries, ≈ 1 %) the qname and
//! second-level top 10 then mix true entries with noise; with 1024 counters they are exact
//! (tests/integration/indicators.rs).
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
use std::net::{Ipv4Addr, Ipv6Addr};

use foldhash::quality::FixedState;

use crate::decode::{Message, MsgCtx, Name};

/// An empty index slot.
const EMPTY: u64 = u64::MAX;

/// An index slot: the low 32 bits of the key's hash above the counter's slot, so that a probe
/// compares hash bits in the index itself and reads a key only when they match, and deletion
/// finds each slot's home without reading `hashes`.
fn index_slot(hash: u64, s: usize) -> u64 {
    ((hash & 0xFFFF_FFFF) << 32) | s as u64
}

/// Space-Saving summary of byte-string keys with `m` counters.
#[derive(Clone, Debug)]
pub struct SpaceSaving {
    m: usize,
    width: usize,
    /// Key bytes: slot `s` owns `keys[s·width .. s·width + lens[s]]`.
    keys: Box<[u8]>,
    lens: Box<[u8]>,
    counts: Box<[u64]>,
    errors: Box<[u64]>,
    hashes: Box<[u64]>,
    /// Heap position of each slot.
    pos: Box<[u32]>,
    /// Min-heap of slots by count; the first `len` entries are live.
    heap: Box<[u32]>,
    /// Open-addressing index: [`index_slot`] or `EMPTY`.
    index: Box<[u64]>,
    /// Merge scratch: slots that matched a key of the other summary.
    touched: Box<[bool]>,
    mask: usize,
    len: usize,
    /// Sum of every weight observed (N).
    total: u64,
    /// Keys that took over another key's counter (the table was full): the eviction counter.
    evictions: u64,
    hasher: FixedState,
}

impl SpaceSaving {
    /// A summary with `m` counters (at least 1) for keys of up to `width` bytes (at most 255).
    pub fn new(m: usize, width: usize) -> Self {
        let m = m.clamp(1, 1 << 24);
        let width = width.clamp(1, 255);
        let slots = (2 * m).next_power_of_two().max(16);
        Self {
            m,
            width,
            keys: vec![0; m * width].into_boxed_slice(),
            lens: vec![0; m].into_boxed_slice(),
            counts: vec![0; m].into_boxed_slice(),
            errors: vec![0; m].into_boxed_slice(),
            hashes: vec![0; m].into_boxed_slice(),
            pos: vec![0; m].into_boxed_slice(),
            heap: vec![0; m].into_boxed_slice(),
            index: vec![EMPTY; slots].into_boxed_slice(),
            touched: vec![false; m].into_boxed_slice(),
            mask: slots - 1,
            len: 0,
            total: 0,
            evictions: 0,
            hasher: FixedState::with_seed(super::hll::process_seed()),
        }
    }

    /// A summary that allocates nothing and ignores everything: a stand-in while the real one
    /// is moved out (`std::mem::replace` in `Aggregate::clear`), never to be observed into.
    pub fn placeholder() -> Self {
        Self {
            m: 0,
            width: 0,
            keys: Box::default(),
            lens: Box::default(),
            counts: Box::default(),
            errors: Box::default(),
            hashes: Box::default(),
            pos: Box::default(),
            heap: Box::default(),
            index: Box::default(),
            touched: Box::default(),
            mask: 0,
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
    /// Keys evicted so far: each time a new key took over the smallest counter of a full table
    /// (here or in a merged summary). Zero means every key ever seen is still monitored.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }
    /// Upper bound of the true count of any key not monitored, and of every monitored key's
    /// overestimate: the smallest count once all m counters are in use, else 0.
    pub fn max_error(&self) -> u64 {
        if self.len < self.m || self.len == 0 {
            0
        } else {
            self.counts[self.heap[0] as usize]
        }
    }
    /// Bytes held by the tables (fixed at construction).
    pub fn memory_bytes(&self) -> usize {
        self.keys.len()
            + self.lens.len()
            + 8 * (self.counts.len() + self.errors.len() + self.hashes.len())
            + 4 * (self.pos.len() + self.heap.len())
            + 8 * self.index.len()
            + self.touched.len()
    }

    fn key(&self, s: usize) -> &[u8] {
        let at = s * self.width;
        &self.keys[at..at + usize::from(self.lens[s])]
    }

    fn set_key(&mut self, s: usize, key: &[u8]) {
        let at = s * self.width;
        self.keys[at..at + key.len()].copy_from_slice(key);
        self.lens[s] = key.len() as u8;
    }

    fn find(&self, key: &[u8], h: u64) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let want = h & 0xFFFF_FFFF;
        let mut i = h as usize & self.mask;
        loop {
            let v = self.index[i];
            if v == EMPTY {
                return None;
            }
            if v >> 32 == want {
                let s = (v & 0xFFFF_FFFF) as usize;
                if self.key(s) == key {
                    return Some(s);
                }
            }
            i = (i + 1) & self.mask;
        }
    }

    fn index_insert(&mut self, s: usize) {
        let h = self.hashes[s];
        let mut i = h as usize & self.mask;
        while self.index[i] != EMPTY {
            i = (i + 1) & self.mask;
        }
        self.index[i] = index_slot(h, s);
    }

    /// Removes slot `s` from the index (backward-shift deletion keeps probe chains intact).
    fn index_remove(&mut self, s: usize) {
        let mask = self.mask;
        let mut hole = self.hashes[s] as usize & mask;
        while self.index[hole] & 0xFFFF_FFFF != s as u64 {
            hole = (hole + 1) & mask;
        }
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let t = self.index[j];
            if t == EMPTY {
                break;
            }
            let ideal = (t >> 32) as usize & mask;
            // Move `t` into the hole unless its ideal slot lies cyclically in (hole, j].
            if j.wrapping_sub(ideal) & mask >= j.wrapping_sub(hole) & mask {
                self.index[hole] = t;
                hole = j;
            }
        }
        self.index[hole] = EMPTY;
    }

    fn heap_swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.pos[self.heap[a] as usize] = a as u32;
        self.pos[self.heap[b] as usize] = b as u32;
    }

    fn sift_up(&mut self, mut p: usize) {
        while p > 0 {
            let parent = (p - 1) / 2;
            if self.counts[self.heap[parent] as usize] <= self.counts[self.heap[p] as usize] {
                break;
            }
            self.heap_swap(p, parent);
            p = parent;
        }
    }

    fn sift_down(&mut self, mut p: usize) {
        loop {
            let l = 2 * p + 1;
            if l >= self.len {
                return;
            }
            let r = l + 1;
            let c = if r < self.len
                && self.counts[self.heap[r] as usize] < self.counts[self.heap[l] as usize]
            {
                r
            } else {
                l
            };
            if self.counts[self.heap[p] as usize] <= self.counts[self.heap[c] as usize] {
                return;
            }
            self.heap_swap(p, c);
            p = c;
        }
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
        if self.m == 0 {
            return;
        }
        super::prefetch(&self.index[h as usize & self.mask]);
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
    /// the slot was prefetched first).
    #[inline]
    pub fn add_hashed(&mut self, key: &[u8], h: u64, w: u64, e: u64) {
        if self.m == 0 {
            return; // placeholder
        }
        debug_assert_eq!(h, self.hash(key));
        let key = &key[..key.len().min(self.width)];
        self.total += w;
        if let Some(s) = self.find(key, h) {
            self.counts[s] += w;
            self.errors[s] += e;
            self.sift_down(self.pos[s] as usize);
            return;
        }
        if self.len < self.m {
            let s = self.len;
            self.len += 1;
            self.set_key(s, key);
            self.counts[s] = w;
            self.errors[s] = e;
            self.hashes[s] = h;
            self.index_insert(s);
            self.heap[s] = s as u32;
            self.pos[s] = s as u32;
            self.sift_up(s);
            return;
        }
        // Full: the key takes over the smallest counter, inheriting its count as error.
        self.evictions += 1;
        let s = self.heap[0] as usize;
        let min = self.counts[s];
        self.index_remove(s);
        self.set_key(s, key);
        self.hashes[s] = h;
        self.counts[s] = min + w;
        self.errors[s] = min + e;
        self.index_insert(s);
        self.sift_down(0);
    }

    /// The estimated count and error of `key`, if monitored.
    pub fn get(&self, key: &[u8]) -> Option<(u64, u64)> {
        let key = &key[..key.len().min(self.width)];
        let s = self.find(key, self.hasher.hash_one(key))?;
        Some((self.counts[s], self.errors[s]))
    }

    /// The `k` largest counts, largest first (ties by key): `(key, count, error)`.
    /// `count − error ≤ true ≤ count`. Allocates: call at export time only.
    pub fn top(&self, k: usize) -> Vec<(&[u8], u64, u64)> {
        let mut v: Vec<(&[u8], u64, u64)> = (0..self.len)
            .map(|s| (self.key(s), self.counts[s], self.errors[s]))
            .collect();
        v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        v.truncate(k);
        v
    }

    /// Forgets every key, keeping the memory.
    pub fn clear(&mut self) {
        self.index.fill(EMPTY);
        self.len = 0;
        self.total = 0;
        self.evictions = 0;
    }

    /// Merges `other` into `self` (see the module doc); allocation-free.
    pub fn merge(&mut self, other: &Self) {
        if self.m == 0 {
            return; // placeholder
        }
        let self_min = self.max_error();
        let other_min = other.max_error();
        self.touched.fill(false);
        for j in 0..other.len {
            let key = other.key(j);
            let key = &key[..key.len().min(self.width)];
            if let Some(s) = self.find(key, self.hasher.hash_one(key)) {
                self.counts[s] += other.counts[j];
                self.errors[s] += other.errors[j];
                self.touched[s] = true;
            }
        }
        for s in 0..self.len {
            if !self.touched[s] {
                self.counts[s] += other_min;
                self.errors[s] += other_min;
            }
        }
        for p in (0..self.len / 2).rev() {
            self.sift_down(p);
        }
        for j in 0..other.len {
            let key = other.key(j);
            let key = &key[..key.len().min(self.width)];
            let h = self.hasher.hash_one(key);
            if self.find(key, h).is_some() {
                continue;
            }
            let (c, e) = (other.counts[j] + self_min, other.errors[j] + self_min);
            if self.len < self.m {
                let s = self.len;
                self.len += 1;
                self.set_key(s, key);
                self.hashes[s] = h;
                self.counts[s] = c;
                self.errors[s] = e;
                self.index_insert(s);
                self.heap[s] = s as u32;
                self.pos[s] = s as u32;
                self.sift_up(s);
            } else {
                let s = self.heap[0] as usize;
                // Either this key or the smallest monitored one is forgotten.
                self.evictions += 1;
                if c <= self.counts[s] {
                    continue;
                }
                self.index_remove(s);
                self.set_key(s, key);
                self.hashes[s] = h;
                self.counts[s] = c;
                self.errors[s] = e;
                self.index_insert(s);
                self.sift_down(0);
            }
        }
        self.total += other.total;
        self.evictions += other.evictions;
    }
}

//------------ TopK ----------------------------------------------------------

/// Top-k settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Entries reported per table (1..=1000; default 10). Each table keeps `8·k` counters.
    pub k: usize,
    /// IPv4 source prefix length (0..=32; default 24).
    pub v4_prefix: u8,
    /// IPv6 source prefix length (0..=128; default 48).
    pub v6_prefix: u8,
    /// Counters per table; 0 (the default) means `max(8·k, 1024)`.
    pub counters: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            k: 10,
            v4_prefix: 24,
            v6_prefix: 48,
            counters: 0,
        }
    }
}

/// Largest `k` accepted.
pub const MAX_K: usize = 1000;
/// Counters per reported entry.
pub const COUNTERS_PER_K: usize = 8;
/// Fewest counters per table (frequency resolution N/1024).
pub const MIN_COUNTERS: usize = 1024;
/// Bytes of a source prefix key: IP version, prefix length, up to 16 address bytes.
pub const PREFIX_KEY: usize = 18;

/// Hashes of a query's top-k keys, computed once per message (see [`TopK::hashes`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct Hashes {
    source: u64,
    qname: u64,
    tld: u64,
    sld: u64,
}

/// The heavy-hitter tables dnsobs reports, for queries.
#[derive(Clone, Debug)]
pub struct TopK {
    /// Entries to report.
    pub k: usize,
    v4_prefix: u8,
    v6_prefix: u8,
    /// Whole query names (lower case, no final dot; the root is the empty key).
    pub qnames: SpaceSaving,
    /// Rightmost labels.
    pub tlds: SpaceSaving,
    /// Two rightmost labels ("example.com").
    pub slds: SpaceSaving,
    /// Anonymised source prefixes (keys from [`prefix_key`], rendered by [`render_prefix`]).
    pub sources: SpaceSaving,
}

impl TopK {
    /// Empty tables sized from `s.k` (clamped to 1..=1000) and `s.counters`.
    pub fn new(s: &Settings) -> Self {
        let k = s.k.clamp(1, MAX_K);
        let m = match s.counters {
            0 => (k * COUNTERS_PER_K).max(MIN_COUNTERS),
            m => m.clamp(k, MAX_K * COUNTERS_PER_K * 8),
        };
        Self {
            k,
            v4_prefix: s.v4_prefix.min(32),
            v6_prefix: s.v6_prefix.min(128),
            qnames: SpaceSaving::new(m, crate::decode::dns::MAX_NAME),
            tlds: SpaceSaving::new(m, 63),
            slds: SpaceSaving::new(m, 127),
            sources: SpaceSaving::new(m, PREFIX_KEY),
        }
    }

    /// Counts a query (responses are ignored). Names that did not decode are not counted; the
    /// source prefix is counted for every query. The root counts as a qname, not as a TLD.
    #[inline]
    pub fn observe(&mut self, ctx: &MsgCtx, msg: &Message, name: &Name) {
        let h = self.hashes(ctx, msg, name);
        self.observe_hashed(ctx, msg, name, &h);
    }

    /// The hashes of this message's four keys, `None` for a response (nothing to count).
    #[inline]
    pub fn hashes(&self, ctx: &MsgCtx, msg: &Message, name: &Name) -> Option<Hashes> {
        if msg.header.qr() {
            return None;
        }
        let (key, n) = prefix_key(ctx.ip_version, &ctx.src, self.v4_prefix, self.v6_prefix);
        let mut h = Hashes {
            source: self.sources.hash(&key[..n]),
            ..Hashes::default()
        };
        if name.is_valid() {
            h.qname = self.qnames.hash(name.as_bytes());
            if name.labels() > 0 {
                h.tld = self.tlds.hash(name.tld());
                h.sld = self.slds.hash(name.second_level());
            }
        }
        Some(h)
    }

    /// Starts loading the index slots `observe_hashed` will probe first (a hint only).
    #[inline]
    pub fn prefetch(&self, name: &Name, h: &Option<Hashes>) {
        let Some(h) = h else { return };
        self.sources.prefetch(h.source);
        if name.is_valid() {
            self.qnames.prefetch(h.qname);
            if name.labels() > 0 {
                self.tlds.prefetch(h.tld);
                self.slds.prefetch(h.sld);
            }
        }
    }

    /// [`TopK::observe`] with the hashes from [`TopK::hashes`] for this same message.
    #[inline]
    pub fn observe_hashed(
        &mut self,
        ctx: &MsgCtx,
        _msg: &Message,
        name: &Name,
        h: &Option<Hashes>,
    ) {
        let Some(h) = h else { return };
        let (key, n) = prefix_key(ctx.ip_version, &ctx.src, self.v4_prefix, self.v6_prefix);
        self.sources.add_hashed(&key[..n], h.source, 1, 0);
        if !name.is_valid() {
            return;
        }
        self.qnames.add_hashed(name.as_bytes(), h.qname, 1, 0);
        if name.labels() > 0 {
            self.tlds.add_hashed(name.tld(), h.tld, 1, 0);
            self.slds.add_hashed(name.second_level(), h.sld, 1, 0);
        }
    }

    /// Tables that allocate nothing (see [`SpaceSaving::placeholder`]).
    pub fn placeholder() -> Self {
        Self {
            k: 0,
            v4_prefix: 0,
            v6_prefix: 0,
            qnames: SpaceSaving::placeholder(),
            tlds: SpaceSaving::placeholder(),
            slds: SpaceSaving::placeholder(),
            sources: SpaceSaving::placeholder(),
        }
    }

    /// Adds another worker's tables.
    pub fn merge(&mut self, other: &Self) {
        self.qnames.merge(&other.qnames);
        self.tlds.merge(&other.tlds);
        self.slds.merge(&other.slds);
        self.sources.merge(&other.sources);
    }

    /// Forgets everything, keeping the memory.
    pub fn clear(&mut self) {
        self.qnames.clear();
        self.tlds.clear();
        self.slds.clear();
        self.sources.clear();
    }

    /// Bytes held (fixed at construction).
    pub fn memory_bytes(&self) -> usize {
        self.qnames.memory_bytes()
            + self.tlds.memory_bytes()
            + self.slds.memory_bytes()
            + self.sources.memory_bytes()
    }
}

/// The key of a source prefix: `[version, prefix length, masked address bytes…]` (only the
/// `⌈len/8⌉` bytes the prefix covers). Returns the buffer and the key's length.
#[inline]
pub fn prefix_key(
    version: u8,
    addr: &[u8; 16],
    v4_prefix: u8,
    v6_prefix: u8,
) -> ([u8; PREFIX_KEY], usize) {
    let (v, plen, alen) = if version == 6 {
        (6, v6_prefix.min(128), 16)
    } else {
        (4, v4_prefix.min(32), 4)
    };
    let mut key = [0u8; PREFIX_KEY];
    key[0] = v;
    key[1] = plen;
    let bytes = usize::from(plen).div_ceil(8).min(alen);
    key[2..2 + bytes].copy_from_slice(&addr[..bytes]);
    let rem = plen % 8;
    if rem != 0 {
        key[1 + bytes] &= 0xFFu8 << (8 - rem);
    }
    (key, 2 + bytes)
}

/// Renders a [`prefix_key`] as text: "192.0.2.0/24", "2001:db8::/48".
pub fn render_prefix(key: &[u8]) -> String {
    let (Some(&v), Some(&plen)) = (key.first(), key.get(1)) else {
        return String::from("?");
    };
    let mut a = [0u8; 16];
    let bytes = &key[2.min(key.len())..];
    let n = bytes.len().min(16);
    a[..n].copy_from_slice(&bytes[..n]);
    if v == 6 {
        format!("{}/{plen}", Ipv6Addr::from(a))
    } else {
        format!("{}/{plen}", Ipv4Addr::new(a[0], a[1], a[2], a[3]))
    }
}

/// Renders a name key in presentation form: "." for the root, bytes outside printable ASCII,
/// `"` and `\` as `\DDD` (so a label value never needs further quoting).
pub fn render_name(key: &[u8]) -> String {
    if key.is_empty() {
        return String::from(".");
    }
    let mut s = String::with_capacity(key.len());
    for &b in key {
        if b.is_ascii_graphic() && b != b'"' && b != b'\\' {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("\\{b:03}"));
        }
    }
    s
}

//============ Testing =======================================================

#[cfg(test)]
mod test {
    use std::collections::HashMap;

    use super::*;
    use crate::decode::Transport;
    use crate::decode::dns::{self, test::query};

    /// Deterministic pseudo-random numbers (splitmix64).
    fn rng(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

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
                assert_eq!(s.index.iter().filter(|&&x| x != EMPTY).count(), s.len());
            }
        }
    }

    fn ctx(src: [u8; 16], v: u8) -> MsgCtx {
        MsgCtx {
            ts_ns: 0,
            ip_version: v,
            transport: Transport::Udp,
            src,
            dst: [0; 16],
            sport: 5353,
            dport: 53,
            size: 40,
        }
    }

    fn v4(a: [u8; 4]) -> [u8; 16] {
        let mut x = [0; 16];
        x[..4].copy_from_slice(&a);
        x
    }

    #[test]
    fn prefixes_render() {
        let (k, n) = prefix_key(4, &v4([192, 0, 2, 77]), 24, 48);
        assert_eq!(render_prefix(&k[..n]), "192.0.2.0/24");
        let (k, n) = prefix_key(4, &v4([192, 0, 2, 255]), 25, 48);
        assert_eq!(render_prefix(&k[..n]), "192.0.2.128/25");
        let a6 = [
            0x20, 1, 0x0d, 0xb8, 0xaa, 0xbb, 0xcc, 0xdd, 0, 0, 0, 0, 0, 0, 0, 1,
        ];
        let (k, n) = prefix_key(6, &a6, 24, 48);
        assert_eq!(n, 8);
        assert_eq!(render_prefix(&k[..n]), "2001:db8:aabb::/48");
        let (k, n) = prefix_key(6, &a6, 24, 128);
        assert_eq!(render_prefix(&k[..n]), "2001:db8:aabb:ccdd::1/128");
        assert_eq!(render_name(b""), ".");
        assert_eq!(render_name(b"a\"b\\c d\x01"), "a\\034b\\092c\\032d\\001");
    }

    #[test]
    fn topk_observes_queries_only() {
        let mut t = TopK::new(&Settings::default());
        let mut name = Name::default();
        let q = query(b"\x03www\x07example\x03com\x00", 1, 0, &[]);
        let msg = dns::parse(&q, &mut name).expect("query parses");
        let c = ctx(v4([198, 51, 100, 9]), 4);
        t.observe(&c, &msg, &name);
        t.observe(&c, &msg, &name);
        let mut resp = msg;
        resp.header.flags |= 0x8000;
        t.observe(&c, &resp, &name);
        assert_eq!(t.qnames.top(1), vec![(&b"www.example.com"[..], 2, 0)]);
        assert_eq!(t.tlds.top(1), vec![(&b"com"[..], 2, 0)]);
        assert_eq!(t.slds.top(1), vec![(&b"example.com"[..], 2, 0)]);
        let top = t.sources.top(1);
        assert_eq!(render_prefix(top[0].0), "198.51.100.0/24");
        assert_eq!(top[0].1, 2);
        // The root counts as a qname only.
        let root = dns::parse(&query(b"\x00", 2, 0, &[]), &mut name).expect("root parses");
        t.observe(&c, &root, &name);
        assert_eq!(t.qnames.get(b""), Some((1, 0)));
        assert_eq!(t.tlds.total(), 2);
    }

    /// Fingerprint of every table's memory: lengths and buffer addresses.
    fn layout(s: &SpaceSaving) -> Vec<(usize, usize)> {
        fn f<T>(b: &[T]) -> (usize, usize) {
            (b.as_ptr() as usize, b.len())
        }
        vec![
            f(&s.keys),
            f(&s.lens),
            f(&s.counts),
            f(&s.errors),
            f(&s.hashes),
            f(&s.pos),
            f(&s.heap),
            f(&s.index),
            f(&s.touched),
        ]
    }

    fn all_layouts(t: &TopK) -> Vec<(usize, usize)> {
        [&t.qnames, &t.tlds, &t.slds, &t.sources]
            .iter()
            .flat_map(|s| layout(s))
            .collect()
    }

    #[test]
    fn flood_keeps_memory_fixed_and_finds_the_heavy_hitter() {
        let mut t = TopK::new(&Settings::default());
        let mem = t.memory_bytes();
        let before = all_layouts(&t);
        let mut name = Name::default();
        let heavy = dns::parse(
            &query(b"\x05heavy\x07example\x03net\x00", 1, 0, &[]),
            &mut name,
        )
        .expect("parses");
        let heavy_name = name.clone();
        let heavy_src = v4([203, 0, 113, 7]);
        let mut buf = Vec::with_capacity(64);
        let mut r = 11;
        let mut heavy_n = 0u64;
        for i in 0..1_000_000u32 {
            // 1 in 20 queries (5 %) is the heavy hitter from one /24; the rest are distinct
            // random names under distinct TLDs from distinct sources (v4 and v6 alternately).
            if i % 20 == 0 {
                t.observe(&ctx(heavy_src, 4), &heavy, &heavy_name);
                heavy_n += 1;
                continue;
            }
            let x = rng(&mut r);
            buf.clear();
            buf.extend_from_slice(&[0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
            buf.push(16);
            buf.extend_from_slice(format!("{x:016x}").as_bytes());
            buf.push(6);
            buf.extend_from_slice(format!("t{:05x}", (x >> 40) & 0xFFFFF).as_bytes());
            buf.extend_from_slice(&[0, 0, 1, 0, 1]);
            let msg = dns::parse(&buf, &mut name).expect("flood query parses");
            let mut src = [0u8; 16];
            src[..8].copy_from_slice(&x.to_be_bytes());
            src[8..12].copy_from_slice(&i.to_be_bytes());
            let v = if i % 2 == 0 { 4 } else { 6 };
            t.observe(&ctx(src, v), &msg, &name);
        }
        assert_eq!(t.memory_bytes(), mem);
        assert_eq!(all_layouts(&t), before, "a table was reallocated");
        assert_eq!(t.qnames.len(), t.qnames.capacity());
        for s in [&t.qnames, &t.tlds, &t.slds, &t.sources] {
            let (key, c, e) = s.top(1)[0];
            assert!(
                c - e <= heavy_n && heavy_n <= c,
                "{key:?} {c} {e} {heavy_n}"
            );
        }
        assert_eq!(t.qnames.top(1)[0].0, b"heavy.example.net");
        assert_eq!(t.tlds.top(1)[0].0, b"net");
        assert_eq!(t.slds.top(1)[0].0, b"example.net");
        assert_eq!(render_prefix(t.sources.top(1)[0].0), "203.0.113.0/24");
        // Merging two flooded workers keeps the bound too.
        let mut u = t.clone();
        u.merge(&t);
        assert_eq!(u.memory_bytes(), mem);
        assert_eq!(u.qnames.top(1)[0].0, b"heavy.example.net");
        t.clear();
        assert_eq!(all_layouts(&t), before);
        assert!(t.qnames.is_empty());
    }

    #[test]
    fn placeholder_is_inert() {
        let mut p = TopK::placeholder();
        assert_eq!(p.memory_bytes(), 0);
        let real = TopK::new(&Settings::default());
        p.merge(&real);
        p.qnames.insert(b"x");
        assert!(p.qnames.is_empty() && p.qnames.max_error() == 0 && p.qnames.top(3).is_empty());
        let mut r = real.clone();
        r.merge(&p);
        assert!(r.qnames.is_empty());
    }

    #[test]
    fn memory_bound_matches_the_doc() {
        let t = TopK::new(&Settings::default());
        // m = 1024, index 2048 slots: m·(width + 34) + 8·2048.
        assert_eq!(t.qnames.capacity(), 1024);
        assert_eq!(t.qnames.memory_bytes(), 1024 * (255 + 34) + 16_384);
        assert_eq!(t.tlds.memory_bytes(), 1024 * (63 + 34) + 16_384);
        assert_eq!(t.slds.memory_bytes(), 1024 * (127 + 34) + 16_384);
        assert_eq!(t.sources.memory_bytes(), 1024 * (18 + 34) + 16_384);
        assert_eq!(t.memory_bytes(), 678_912);
        // m = 8·k = 80, index 256 slots.
        let small = TopK::new(&Settings {
            counters: 80,
            ..Settings::default()
        });
        assert_eq!(
            small.memory_bytes(),
            80 * (255 + 63 + 127 + 18 + 4 * 34) + 4 * 8 * 256
        );
        assert_eq!(small.memory_bytes(), 56_112);
        let big = TopK::new(&Settings {
            k: 5000,
            ..Settings::default()
        });
        assert_eq!(big.k, MAX_K);
        assert_eq!(big.memory_bytes(), 5_316_288);
    }
}
