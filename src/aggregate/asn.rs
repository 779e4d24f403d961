//! ASN diversity: distinct source ASNs and the top-k ASNs by queries, from an IP→ASN table.
//!
//! The table is a plain text file, one `PREFIX ASN` a line (IPv4 or IPv6 CIDR; the ASN as a
//! number or `AS64500`; `#` starts a comment; blank lines ignored). It is loaded once into
//! [`AsnTable`]: the prefixes are flattened into disjoint address ranges, each carrying the ASN
//! of the longest prefix covering it, sorted, and looked up by binary search (longest-prefix
//! match in O(log n), no allocation). Shared read-only between workers (`Arc`).
//!
//! Without a table the feature is off: `Aggregate` holds `Option<Asn>` = `None` and the
//! exports say so (`dnsobs_asn_table_loaded 0`, `"asn": {"enabled": false}`).
//!
//! MaxMind `.mmdb` is not read: the maintained crate (`maxminddb`) is not among the
//! dependencies vendored for the offline build, and adding it means editing Cargo.toml and
//! Cargo.lock. Any mmdb can be turned into this format (e.g. `mmdbinspect`, or the free
//! RouteViews `prefix2as` files: `awk '{print $1"/"$2, $3}'`).
//!
//! Memory: the table, 40 bytes per range (≈ 1.1 M ranges for a full IPv4+IPv6 routing table:
//! ~45 MiB, once per process); per worker the exact ASN set (at most `max_distinct` × ~8 bytes,
//! preallocated) and a Space-Saving summary of `counters` 4-byte keys.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

use super::sketch::SpaceSaving;
use crate::decode::{Message, MsgCtx};

/// A longest-prefix-match table of IPv4 and IPv6 prefixes to ASNs.
#[derive(Clone, Debug, Default)]
pub struct AsnTable {
    /// Disjoint `(first, last, asn)` ranges, sorted, per IP version (IPv4 in the low 32 bits).
    ranges: [Vec<(u128, u128, u32)>; 2],
    /// Prefix lines read.
    pub prefixes: usize,
}

fn parse_asn(s: &str) -> Option<u32> {
    let s = s
        .strip_prefix("AS")
        .or_else(|| s.strip_prefix("as"))
        .unwrap_or(s);
    s.parse().ok()
}

/// Flattens prefixes `(first, last, asn, length)` into disjoint ranges where the longest
/// prefix wins. Prefixes are nested or disjoint, so a stack of open prefixes suffices.
fn flatten(mut p: Vec<(u128, u128, u32, u8)>) -> Vec<(u128, u128, u32)> {
    p.sort_by_key(|&(s, _, _, len)| (s, len));
    let mut out: Vec<(u128, u128, u32)> = Vec::with_capacity(p.len());
    let mut push = |s: u128, e: u128, a: u32| match out.last_mut() {
        Some(last) if last.2 == a && last.1.checked_add(1) == Some(s) => last.1 = e,
        _ => out.push((s, e, a)),
    };
    let mut stack: Vec<(u128, u32)> = Vec::new();
    // Next address not yet emitted (None: past the end of the space).
    let mut cur: Option<u128> = Some(0);
    for (s, e, a, _) in p {
        while let Some(&(te, ta)) = stack.last() {
            if te >= s {
                break;
            }
            if let Some(c) = cur
                && c <= te
            {
                push(c, te, ta);
            }
            cur = Some(te + 1); // te < s, no overflow
            stack.pop();
        }
        if let (Some(&(_, ta)), Some(c)) = (stack.last(), cur)
            && c < s
        {
            push(c, s - 1, ta);
        }
        cur = Some(s);
        stack.push((e, a));
    }
    while let Some((te, ta)) = stack.pop() {
        if let Some(c) = cur
            && c <= te
        {
            push(c, te, ta);
        }
        cur = te.checked_add(1);
    }
    out
}

impl AsnTable {
    /// Parses the text format. Errors name the line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut p: [Vec<(u128, u128, u32, u8)>; 2] = [Vec::new(), Vec::new()];
        let mut prefixes = 0;
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let bad = |what: &str| format!("line {}: {what}: {line:?}", n + 1);
            let mut f = line.split_whitespace();
            let (Some(prefix), Some(asn), None) = (f.next(), f.next(), f.next()) else {
                return Err(bad("expected `PREFIX ASN`"));
            };
            let asn = parse_asn(asn).ok_or_else(|| bad("bad ASN"))?;
            let (addr, len) = prefix.split_once('/').ok_or_else(|| bad("no /length"))?;
            let addr: IpAddr = addr.parse().map_err(|_| bad("bad address"))?;
            let len: u8 = len.parse().map_err(|_| bad("bad prefix length"))?;
            let (v, bits, x) = match addr {
                IpAddr::V4(a) => (0, 32u8, u128::from(u32::from(a))),
                IpAddr::V6(a) => (1, 128u8, u128::from(a)),
            };
            if len > bits {
                return Err(bad("prefix length too long"));
            }
            let host = u32::from(bits - len);
            let host_mask = if host == 128 {
                u128::MAX
            } else {
                (1u128 << host) - 1
            };
            let first = x & !host_mask;
            p[v].push((first, first | host_mask, asn, len));
            prefixes += 1;
        }
        let [p4, p6] = p;
        Ok(Self {
            ranges: [flatten(p4), flatten(p6)],
            prefixes,
        })
    }

    /// Reads and parses a table file.
    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Disjoint ranges held, `[IPv4, IPv6]`.
    pub fn ranges(&self) -> [usize; 2] {
        [self.ranges[0].len(), self.ranges[1].len()]
    }

    /// The ASN of the longest prefix covering an address (`ctx`-style: IPv4 in the first four
    /// bytes).
    #[inline]
    pub fn lookup(&self, version: u8, addr: &[u8; 16]) -> Option<u32> {
        let (v, x) = if version == 6 {
            (1, u128::from_be_bytes(*addr))
        } else {
            (
                0,
                u128::from(u32::from_be_bytes([addr[0], addr[1], addr[2], addr[3]])),
            )
        };
        let r = &self.ranges[v];
        let i = r.partition_point(|&(s, _, _)| s <= x).checked_sub(1)?;
        let (_, e, a) = r[i];
        (x <= e).then_some(a)
    }
}

/// Settings.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Distinct ASNs remembered exactly per worker; past it the count is a lower bound.
    pub max_distinct: usize,
    /// Space-Saving counters for the top-k ASNs.
    pub counters: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_distinct: 1 << 17,
            counters: 1024,
        }
    }
}

/// An [`Asn`]'s counters as plain data (the table is not in it: only its size).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AsnState {
    /// Prefix lines of the table used.
    pub prefixes: usize,
    /// The cap on distinct ASNs.
    pub max_distinct: usize,
    /// Distinct source ASNs.
    pub distinct: Vec<u32>,
    /// Whether the cap was reached.
    pub saturated: bool,
    /// Queries per source ASN.
    pub top: super::sketch::spacesaving::SpaceSavingState,
    /// Queries matched.
    pub matched: u64,
    /// Queries unmatched.
    pub unmatched: u64,
}

/// ASN diversity counters of one worker.
#[derive(Clone, Debug)]
pub struct Asn {
    table: Arc<AsnTable>,
    distinct: HashSet<u32>,
    max_distinct: usize,
    /// Whether distinct ASNs exceeded `max_distinct` (then [`Asn::distinct`] is a lower bound).
    pub saturated: bool,
    /// Queries per source ASN (4-byte big-endian keys).
    pub top: SpaceSaving,
    /// Queries whose source matched a prefix.
    pub matched: u64,
    /// Queries whose source matched none.
    pub unmatched: u64,
}

impl Asn {
    /// Empty counters over a shared table. The set is preallocated: no allocation per query.
    pub fn new(table: Arc<AsnTable>, settings: &Settings) -> Self {
        let max = settings.max_distinct.max(1);
        Self {
            table,
            distinct: HashSet::with_capacity(max),
            max_distinct: max,
            saturated: false,
            top: SpaceSaving::new(settings.counters, 4),
            matched: 0,
            unmatched: 0,
        }
    }

    /// The table.
    pub fn table(&self) -> &AsnTable {
        &self.table
    }

    /// Records a query's source (responses are ignored).
    #[inline]
    pub fn observe(&mut self, ctx: &MsgCtx, msg: &Message) {
        if msg.header.qr() {
            return;
        }
        match self.table.lookup(ctx.ip_version, &ctx.src) {
            Some(a) => {
                self.matched += 1;
                self.insert(a);
                self.top.insert(&a.to_be_bytes());
            }
            None => self.unmatched += 1,
        }
    }

    fn insert(&mut self, a: u32) {
        if self.distinct.len() < self.max_distinct {
            self.distinct.insert(a);
        } else if !self.distinct.contains(&a) {
            self.saturated = true;
        }
    }

    /// Distinct source ASNs (exact unless [`Asn::saturated`]).
    pub fn distinct(&self) -> usize {
        self.distinct.len()
    }

    /// The top `k` ASNs: `(asn, estimated queries, maximum overestimate)`.
    pub fn top(&self, k: usize) -> Vec<(u32, u64, u64)> {
        self.top
            .top(k)
            .into_iter()
            .map(|(key, n, e)| {
                let mut b = [0u8; 4];
                b.copy_from_slice(&key[..4.min(key.len())]);
                (u32::from_be_bytes(b), n, e)
            })
            .collect()
    }

    /// Heap bytes (the table is shared and not counted).
    pub fn memory_bytes(&self) -> usize {
        self.distinct.capacity() * 8 + self.top.memory_bytes()
    }

    /// Adds another worker's counters (set union, capped; Space-Saving merge).
    pub fn merge(&mut self, o: &Self) {
        for &a in &o.distinct {
            self.insert(a);
        }
        self.saturated |= o.saturated;
        self.top.merge(&o.top);
        self.matched += o.matched;
        self.unmatched += o.unmatched;
    }

    /// The counters as plain data.
    pub fn state(&self) -> AsnState {
        let mut distinct: Vec<u32> = self.distinct.iter().copied().collect();
        distinct.sort_unstable();
        AsnState {
            prefixes: self.table.prefixes,
            max_distinct: self.max_distinct,
            distinct,
            saturated: self.saturated,
            top: self.top.state(),
            matched: self.matched,
            unmatched: self.unmatched,
        }
    }

    /// Empty counters able to take `s` (a table of its size, no prefixes: for merges only).
    pub fn for_state(s: &AsnState) -> Self {
        let table = AsnTable {
            prefixes: s.prefixes,
            ..AsnTable::default()
        };
        let settings = Settings {
            max_distinct: s.max_distinct,
            counters: s.top.m,
        };
        Self::new(Arc::new(table), &settings)
    }

    /// Adds counters saved by [`Asn::state`].
    pub fn merge_state(&mut self, s: &AsnState) -> Result<(), String> {
        for &a in &s.distinct {
            self.insert(a);
        }
        self.saturated |= s.saturated;
        self.top.merge(&SpaceSaving::from_state(&s.top)?);
        self.matched += s.matched;
        self.unmatched += s.unmatched;
        Ok(())
    }

    /// Zeroes everything, keeping allocations and the table.
    pub fn clear(&mut self) {
        self.distinct.clear();
        self.saturated = false;
        self.top.clear();
        self.matched = 0;
        self.unmatched = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: [u8; 4]) -> [u8; 16] {
        let mut x = [0; 16];
        x[..4].copy_from_slice(&a);
        x
    }

    #[test]
    fn longest_prefix_wins() {
        let t = AsnTable::parse(
            "# comment\n10.0.0.0/8 1\n10.1.0.0/16 AS2 # inner\n10.1.2.0/24 3\n\n11.0.0.0/8 1\n\
             0.0.0.0/0 9\n::/0 7\n2001:db8::/32 64502\n2001:db8:1::/48 64503\n",
        )
        .expect("parses");
        assert_eq!(t.prefixes, 8);
        assert_eq!(t.lookup(4, &v4([10, 0, 0, 1])), Some(1));
        assert_eq!(t.lookup(4, &v4([10, 1, 0, 1])), Some(2));
        assert_eq!(t.lookup(4, &v4([10, 1, 2, 255])), Some(3));
        assert_eq!(t.lookup(4, &v4([10, 1, 3, 0])), Some(2));
        assert_eq!(t.lookup(4, &v4([10, 2, 0, 0])), Some(1));
        assert_eq!(t.lookup(4, &v4([11, 9, 9, 9])), Some(1));
        assert_eq!(t.lookup(4, &v4([12, 0, 0, 0])), Some(9));
        assert_eq!(t.lookup(4, &v4([255, 255, 255, 255])), Some(9));
        let a: std::net::Ipv6Addr = "2001:db8:1::5".parse().expect("present");
        assert_eq!(t.lookup(6, &a.octets()), Some(64503));
        let a: std::net::Ipv6Addr = "2001:db8:2::5".parse().expect("present");
        assert_eq!(t.lookup(6, &a.octets()), Some(64502));
        assert_eq!(t.lookup(6, &[0xff; 16]), Some(7));
        // 0/0 → 9 | 10.0/16 → 1 | 10.1.0-1 → 2 | 10.1.2 → 3 | 10.1.3-255 → 2 |
        // 10.2-11.255 → 1 (11/8 joins the rest of 10/8) | 12/8 onwards → 9.
        assert_eq!(t.ranges()[0], 7);
    }

    #[test]
    fn rejects_bad_lines() {
        assert!(AsnTable::parse("10.0.0.0/33 1").is_err());
        assert!(AsnTable::parse("10.0.0.0 1").is_err());
        assert!(AsnTable::parse("10.0.0.0/8 x").is_err());
        let e = AsnTable::parse("\n\n10.0.0.0/8").unwrap_err();
        assert!(e.starts_with("line 3"), "{e}");
    }
}
