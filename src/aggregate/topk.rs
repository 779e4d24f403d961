//! Heavy hitters of the queries: the most frequent qnames, TLDs, second-level names and source
//! prefixes, each in a bounded Space-Saving summary ([`SpaceSaving`], in
//! [`crate::aggregate::sketch`], which documents the algorithm, its guarantees and its merge).
//! This module chooses the keys and renders them.
//!
//! HOT PATH: no allocation and no lock per query; each of a query's four keys is hashed once
//! ([`TopK::hashes`]), the hash reused by the prefetch and the update.
//!
//! * `m` counters per table (`m = max(8·k, 1024)`, `k` from the config, default 10, at most
//!   1000; or set explicitly). Keys longer than a table's width would be cut, which cannot
//!   happen for DNS names: the width is 255 for qnames, 127 for second-level names, 63 for
//!   TLDs, 18 for source prefixes ([`prefix_key`]).
//!
//! **Memory bound** of one table: `m·(width + 77) + 16·2^⌈log2 2m⌉` bytes (see
//! [`SpaceSaving`]), whatever the traffic. With the default k = 10 (m = 1024, 2048 index slots
//! and filter cells): qnames 372,736 B, second-level names 241,664 B, TLDs 176,128 B, prefixes
//! 130,048 B, so [`TopK`] holds 920,576 B (≈ 899 KiB) per worker; with k = 1000 (m = 8000)
//! 7,216,576 B (≈ 6.9 MiB).
//! [`SpaceSaving::memory_bytes`] computes it.
//!
//! **Why at least 1024 counters**: a key is only guaranteed to be monitored once its true count
//! exceeds N/m, so m sets the frequency resolution (N/1024 ≈ 0.1 % of queries), not k. With
//! m = 8·k = 80 the floor is 1.25 % of the traffic: on root-mix-v4v6.pcap (4,279 queries,
//! 1,504 distinct qnames, the 7th–10th most frequent at 48–43 queries, ≈ 1 %) the qname and
//! second-level top 10 then mix true entries with noise; with 1024 counters they are exact
//! (tests/integration/indicators.rs).

pub use super::sketch::SpaceSaving;
use super::sketch::spacesaving::SpaceSavingState;
use crate::decode::{Message, MsgCtx, Name};

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
    /// Anonymised source prefixes (keys from [`prefix_key`], rendered by
    /// [`crate::privacy::Privacy::render_key`] at export).
    pub sources: SpaceSaving,
}

/// The four tables of a [`TopK`] as plain data.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TopKState {
    /// Entries reported.
    pub k: usize,
    /// IPv4 source prefix length.
    pub v4_prefix: u8,
    /// IPv6 source prefix length.
    pub v6_prefix: u8,
    /// Query names.
    pub qnames: SpaceSavingState,
    /// TLDs.
    pub tlds: SpaceSavingState,
    /// Second-level names.
    pub slds: SpaceSavingState,
    /// Source prefixes.
    pub sources: SpaceSavingState,
}

impl TopKState {
    /// The settings that make tables like these.
    pub fn settings(&self) -> Settings {
        Settings {
            k: self.k,
            v4_prefix: self.v4_prefix,
            v6_prefix: self.v6_prefix,
            counters: self.qnames.m,
        }
    }
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

    /// The tables as plain data.
    pub fn state(&self) -> TopKState {
        TopKState {
            k: self.k,
            v4_prefix: self.v4_prefix,
            v6_prefix: self.v6_prefix,
            qnames: self.qnames.state(),
            tlds: self.tlds.state(),
            slds: self.slds.state(),
            sources: self.sources.state(),
        }
    }

    /// Merges tables saved by [`TopK::state`] (as [`TopK::merge`] merges another worker's).
    pub fn merge_state(&mut self, s: &TopKState) -> Result<(), String> {
        if (s.v4_prefix, s.v6_prefix) != (self.v4_prefix, self.v6_prefix) {
            return Err(format!(
                "top-k source prefixes /{} and /{}, where /{} and /{} are merged",
                s.v4_prefix, s.v6_prefix, self.v4_prefix, self.v6_prefix
            ));
        }
        self.qnames.merge(&SpaceSaving::from_state(&s.qnames)?);
        self.tlds.merge(&SpaceSaving::from_state(&s.tlds)?);
        self.slds.merge(&SpaceSaving::from_state(&s.slds)?);
        self.sources.merge(&SpaceSaving::from_state(&s.sources)?);
        Ok(())
    }

    /// Counts a query (responses are ignored). Names that did not decode are not counted; the
    /// source prefix is counted for every query. The root counts as a qname, not as a TLD.
    #[inline]
    pub fn observe(&mut self, ctx: &MsgCtx, msg: &Message, name: &Name) {
        let h = self.hashes(ctx, msg, name, self.qnames.hash(name.as_bytes()));
        self.observe_hashed(ctx, msg, name, &h);
    }

    /// The hashes of this message's four keys, `None` for a response (nothing to count).
    /// `qname` is the name's hash by [`crate::aggregate::sketch::bytes_hasher`] (the
    /// message's, shared with the latency table).
    #[inline]
    pub fn hashes(&self, ctx: &MsgCtx, msg: &Message, name: &Name, qname: u64) -> Option<Hashes> {
        if msg.header.qr() {
            return None;
        }
        let (key, n) = prefix_key(ctx.ip_version, &ctx.src, self.v4_prefix, self.v6_prefix);
        let mut h = Hashes {
            source: self.sources.hash(&key[..n]),
            ..Hashes::default()
        };
        if name.is_valid() {
            debug_assert_eq!(qname, self.qnames.hash(name.as_bytes()));
            h.qname = qname;
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

    /// The IPv4 and IPv6 lengths the source prefixes are counted at.
    pub fn prefix_lengths(&self) -> (u8, u8) {
        (self.v4_prefix, self.v6_prefix)
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
    /// A prefix key in clear (the default privacy: truncation).
    fn render_key(key: &[u8]) -> String {
        crate::privacy::Privacy::default().render_key(key)
    }

    use super::*;
    use crate::aggregate::sketch::splitmix64 as rng;
    use crate::decode::dns::{self, test::query};

    fn v4(a: [u8; 4]) -> [u8; 16] {
        let mut x = [0; 16];
        x[..4].copy_from_slice(&a);
        x
    }

    #[test]
    fn prefixes_render() {
        let (k, n) = prefix_key(4, &v4([192, 0, 2, 77]), 24, 48);
        assert_eq!(render_key(&k[..n]), "192.0.2.0/24");
        let (k, n) = prefix_key(4, &v4([192, 0, 2, 255]), 25, 48);
        assert_eq!(render_key(&k[..n]), "192.0.2.128/25");
        let a6 = [
            0x20, 1, 0x0d, 0xb8, 0xaa, 0xbb, 0xcc, 0xdd, 0, 0, 0, 0, 0, 0, 0, 1,
        ];
        let (k, n) = prefix_key(6, &a6, 24, 48);
        assert_eq!(n, 8);
        assert_eq!(render_key(&k[..n]), "2001:db8:aabb::/48");
        let (k, n) = prefix_key(6, &a6, 24, 128);
        assert_eq!(render_key(&k[..n]), "2001:db8:aabb:ccdd::1/128");
        assert_eq!(render_name(b""), ".");
        assert_eq!(render_name(b"a\"b\\c d\x01"), "a\\034b\\092c\\032d\\001");
    }

    #[test]
    fn topk_observes_queries_only() {
        let mut t = TopK::new(&Settings::default());
        let mut name = Name::default();
        let q = query(b"\x03www\x07example\x03com\x00", 1, 0, &[]);
        let msg = dns::parse(&q, &mut name).expect("query parses");
        let c = MsgCtx::for_test(4, v4([198, 51, 100, 9]));
        t.observe(&c, &msg, &name);
        t.observe(&c, &msg, &name);
        let mut resp = msg;
        resp.header.flags |= 0x8000;
        t.observe(&c, &resp, &name);
        assert_eq!(t.qnames.top(1), vec![(&b"www.example.com"[..], 2, 0)]);
        assert_eq!(t.tlds.top(1), vec![(&b"com"[..], 2, 0)]);
        assert_eq!(t.slds.top(1), vec![(&b"example.com"[..], 2, 0)]);
        let top = t.sources.top(1);
        assert_eq!(render_key(top[0].0), "198.51.100.0/24");
        assert_eq!(top[0].1, 2);
        // The root counts as a qname only.
        let root = dns::parse(&query(b"\x00", 2, 0, &[]), &mut name).expect("root parses");
        t.observe(&c, &root, &name);
        assert_eq!(t.qnames.get(b""), Some((1, 0)));
        assert_eq!(t.tlds.total(), 2);
    }

    fn all_layouts(t: &TopK) -> Vec<(usize, usize)> {
        [&t.qnames, &t.tlds, &t.slds, &t.sources]
            .iter()
            .flat_map(|s| s.layout())
            .collect()
    }

    /// One million queries: 1 in 20 (5 %) is the heavy hitter (heavy.example.net from
    /// 203.0.113.0/24); the rest are distinct random names under distinct TLDs from distinct
    /// sources (v4 and v6 alternately). Returns the heavy hitter's true count.
    fn flood(t: &mut TopK) -> u64 {
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
            if i % 20 == 0 {
                t.observe(&MsgCtx::for_test(4, heavy_src), &heavy, &heavy_name);
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
            t.observe(&MsgCtx::for_test(v, src), &msg, &name);
        }
        heavy_n
    }

    #[test]
    fn flood_keeps_memory_fixed_and_finds_the_heavy_hitter() {
        let mut t = TopK::new(&Settings::default());
        let mem = t.memory_bytes();
        let before = all_layouts(&t);
        let heavy_n = flood(&mut t);
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
        assert_eq!(render_key(t.sources.top(1)[0].0), "203.0.113.0/24");
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
        // m = 1024, 2048 index slots and filter cells: m·(width + 77) + 16·2048.
        assert_eq!(t.qnames.capacity(), 1024);
        assert_eq!(t.qnames.memory_bytes(), 1024 * (255 + 77) + 32_768);
        assert_eq!(t.tlds.memory_bytes(), 1024 * (63 + 77) + 32_768);
        assert_eq!(t.slds.memory_bytes(), 1024 * (127 + 77) + 32_768);
        assert_eq!(t.sources.memory_bytes(), 1024 * (18 + 77) + 32_768);
        assert_eq!(t.memory_bytes(), 920_576);
        // m = 8·k = 80, 256 index slots and filter cells.
        let small = TopK::new(&Settings {
            counters: 80,
            ..Settings::default()
        });
        assert_eq!(
            small.memory_bytes(),
            80 * (255 + 63 + 127 + 18 + 4 * 77) + 4 * 16 * 256
        );
        assert_eq!(small.memory_bytes(), 78_064);
        let big = TopK::new(&Settings {
            k: 5000,
            ..Settings::default()
        });
        assert_eq!(big.k, MAX_K);
        assert_eq!(big.memory_bytes(), 7_216_576);
    }
}
