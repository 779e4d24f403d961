//! The per-source structure: every figure keyed by a query's source address is served by one
//! compact structure per worker and per UTC day, looked up once per query.
//!
//! * [`SourceKey`] is computed once per query from its source address: the IPv4 address as its
//!   4 bytes, or the IPv6 address's 64-bit keyed **fingerprint** and its /64 prefix (8 bytes),
//!   each with the 64-bit hash that places it. The same hashes feed the HyperLogLogs
//!   ([`super::distinct`], ITHI's resolver sketches): no second hash of the address.
//! * [`DaySources`] holds the distinct sources of one UTC day, per kind (IPv4, IPv6, IPv6 /64:
//!   the RSSAC002 kinds) in three [`KeySet`]s. The day table ([`super::rssac002`]) keeps one
//!   per day; the run-wide distinct counts are the union of the days held ([`RunSources`]), so
//!   no second set is kept for them.
//! * Each key has a value slot beside it ([`KeySet`]'s `V`, `()` today: no memory): a lookup
//!   made per source (the country and network of the geography issue) is cached there when
//!   the source is first recorded, and merged with the key.
//! * Queries are applied to the sets in small batches ([`Pending`], a [`super::ring::Ring`]): each query's slot is
//!   prefetched when it arrives and updated a few queries later, so that the cache misses of
//!   a batch overlap (the sets of a root instance's day are far larger than the caches).
//!   The order of updates is the arrival order, so the figures do not depend on the batch size.
//!
//! # Memory
//!
//! Per kind, at the growth threshold, between 4/3 and 8/3 slots per key: IPv4 4 bytes a slot,
//! IPv6 fingerprints and /64 prefixes 8 bytes: **5.3–10.7 MB per million IPv4 sources and
//! 21–43 MB per million IPv6 sources** (address and /64 together), per worker holding them
//! and in the merged total. The days held together remember at most a budget of keys per kind
//! (`rssac002.max_unique_sources`) and each day at most `aggregate.max_unique_sources` per kind
//! (default 16,777,216, a root letter's day); past either, a new key is not stored and its
//! query is counted in the day's overflow for that kind, the count is a lower bound and every
//! output says so.
//!
//! # Fingerprint collisions
//!
//! IPv4 addresses and /64 prefixes are stored exactly. An IPv6 address is stored as
//! `mix(mix(seed ^ prefix) ^ interface_id)` ([`set::mix`] is a bijection), keyed by the
//! per-process seed ([`super::sketch::process_seed`]), which no sender knows. Two addresses of
//! one /64 never collide (the outer mix is a bijection of the interface identifier); addresses
//! of different prefixes collide like random 64-bit values: among `n` distinct addresses the
//! expected number of colliding pairs is `n(n−1)/2 / 2^64`: **7.6 × 10⁻⁶ at 16 M** (and
//! 2.7 × 10⁻⁸ at 1 M). Each collision would undercount by one. `collision_bound` tests the
//! formula on truncated fingerprints, where collisions are frequent enough to count.

pub mod set;

use serde::{Deserialize, Serialize};

use crate::decode::ip::Addr;
pub use set::{Fingerprint, Insert, Key, KeySet, Prefix64};

/// Index of each kind in the `[_; 3]` arrays: IPv4, IPv6, IPv6 /64.
pub const KINDS: [&str; 3] = ["ipv4", "ipv6", "ipv6_64"];

/// Default cap on distinct sources remembered per kind and UTC day (a root letter's day: L-root
/// saw 6.88 M IPv4 and 1.18 M IPv6 sources on 2026-01-15).
pub const DEFAULT_DAY_CAP: usize = 1 << 24;

/// A query's source, as the per-source structure keys it (computed once per query).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SourceKey {
    /// True for an IPv6 source.
    pub v6: bool,
    /// The IPv4 address (in the low 32 bits), or the IPv6 address's interface identifier
    /// (its last 64 bits: with `prefix`, the address itself, for a lookup made when the
    /// source is first recorded).
    pub addr: u64,
    /// The hash placing the IPv4 address, or the IPv6 address's fingerprint (the key of the
    /// IPv6 set, and its own hash).
    pub addr_hash: u64,
    /// The IPv6 /64 prefix (IPv6 only).
    pub prefix: u64,
    /// The hash placing `prefix`.
    pub prefix_hash: u64,
}

impl SourceKey {
    /// The key of a source address (`version` 4: the first 4 bytes of `a`).
    #[inline]
    pub fn new(version: u8, a: &Addr, seed: u64) -> Self {
        if version == 6 {
            let prefix = u64::from_be_bytes([a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]]);
            let iid = u64::from_be_bytes([a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15]]);
            let fp = fingerprint(prefix, iid, seed);
            Self {
                v6: true,
                addr: iid,
                addr_hash: fp,
                prefix,
                prefix_hash: Prefix64(prefix).hash(seed),
            }
        } else {
            let k = u32::from_be_bytes([a[0], a[1], a[2], a[3]]);
            Self {
                v6: false,
                addr: u64::from(k),
                addr_hash: k.hash(seed),
                prefix: 0,
                prefix_hash: 0,
            }
        }
    }

    /// The source address and its IP version (IPv4 in the first 4 bytes), as `new` took it.
    #[inline]
    pub fn address(&self) -> (u8, Addr) {
        let mut a = [0u8; 16];
        if self.v6 {
            a[..8].copy_from_slice(&self.prefix.to_be_bytes());
            a[8..].copy_from_slice(&self.addr.to_be_bytes());
            (6, a)
        } else {
            a[..4].copy_from_slice(&(self.addr as u32).to_be_bytes());
            (4, a)
        }
    }
}

/// The 64-bit keyed fingerprint of an IPv6 address (see the module on collisions).
#[inline]
pub fn fingerprint(prefix: u64, iid: u64, seed: u64) -> u64 {
    set::mix(set::mix(seed ^ prefix) ^ iid)
}

/// Distinct query sources of one UTC day, per kind.
#[derive(Clone, Debug)]
pub struct DaySources {
    v4: KeySet<u32>,
    v6: KeySet<Fingerprint>,
    v6_64: KeySet<Prefix64>,
    /// Queries whose key could not be stored, per kind (the cap or the budget was reached).
    pub overflow: [u64; 3],
    /// The counts of a summary ([`absorb_summary`](Self::absorb_summary)): the sets stay empty.
    fixed: Option<[usize; 3]>,
}

/// Keys each kind may still add: the smaller of the day's room and the shared budget.
#[derive(Clone, Copy, Debug)]
pub struct Room {
    /// Keys per kind the days held may still add together.
    pub budget: [usize; 3],
    /// Keys per kind one day may hold.
    pub day_cap: usize,
}

impl DaySources {
    /// Empty sets hashing with `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            v4: KeySet::new(seed),
            v6: KeySet::new(seed),
            v6_64: KeySet::new(seed),
            overflow: [0; 3],
            fixed: None,
        }
    }

    /// Takes `o`'s counts and overflow, not its sets, into this cleared day: what a published
    /// snapshot needs, without a copy of millions of keys every second.
    pub fn absorb_summary(&mut self, o: &Self) {
        self.fixed = Some(o.lens());
        self.overflow = o.overflow;
    }

    /// Distinct keys per kind.
    pub fn lens(&self) -> [usize; 3] {
        self.fixed
            .unwrap_or([self.v4.len(), self.v6.len(), self.v6_64.len()])
    }

    /// Per kind: true if no key was left out.
    pub fn exact(&self) -> [bool; 3] {
        self.overflow.map(|o| o == 0)
    }

    /// Bytes of the three sets.
    pub fn memory_bytes(&self) -> usize {
        self.v4.memory_bytes() + self.v6.memory_bytes() + self.v6_64.memory_bytes()
    }

    /// Starts loading the slots `insert` will touch for `k` (a hint only).
    #[inline]
    pub fn prefetch(&self, k: &SourceKey) {
        if k.v6 {
            self.v6.prefetch(k.addr_hash);
            self.v6_64.prefetch(k.prefix_hash);
        } else {
            self.v4.prefetch(k.addr_hash);
        }
    }

    /// True if the day holds the address of `k` (IPv4 address or IPv6 fingerprint).
    #[inline]
    pub fn contains_addr(&self, k: &SourceKey) -> bool {
        if k.v6 {
            self.v6.contains(Fingerprint(k.addr_hash), k.addr_hash)
        } else {
            self.v4.contains(k.addr as u32, k.addr_hash)
        }
    }

    /// Records a query's source; what became of its address (IPv4 or IPv6: added to the day,
    /// known to it, or refused for want of room).
    #[inline]
    pub fn insert(&mut self, k: &SourceKey, room: &mut Room) -> Insert {
        let lens = self.lens();
        if k.v6 {
            let mut l = room.left(lens, 1);
            let r = self
                .v6
                .insert(Fingerprint(k.addr_hash), k.addr_hash, &mut l);
            room.took(r, 1, &mut self.overflow);
            let mut l = room.left(lens, 2);
            let r64 = self.v6_64.insert(Prefix64(k.prefix), k.prefix_hash, &mut l);
            room.took(r64, 2, &mut self.overflow);
            r
        } else {
            let mut l = room.left(lens, 0);
            let r = self.v4.insert(k.addr as u32, k.addr_hash, &mut l);
            room.took(r, 0, &mut self.overflow);
            r
        }
    }

    /// Adds another worker's day into this one (a union, still within `room`).
    pub fn merge(&mut self, o: &Self, room: &mut Room) {
        self.merge_with(o, room, |_| {});
    }

    /// [`merge`](Self::merge), calling `added` with the key of every address (IPv4 or IPv6,
    /// not /64) it adds (only `v6`, `addr_hash` and, for IPv4, `addr` are set).
    pub fn merge_with(&mut self, o: &Self, room: &mut Room, mut added: impl FnMut(&SourceKey)) {
        let lens = self.lens();
        for kind in 0..3 {
            let mut l = room.left(lens, kind);
            let before = l;
            let refused = match kind {
                0 => self.v4.merge_with(&o.v4, &mut l, |k, h| {
                    added(&SourceKey {
                        v6: false,
                        addr: u64::from(k),
                        addr_hash: h,
                        ..SourceKey::default()
                    });
                }),
                1 => self.v6.merge_with(&o.v6, &mut l, |_, h| {
                    added(&SourceKey {
                        v6: true,
                        addr: 0,
                        addr_hash: h,
                        ..SourceKey::default()
                    });
                }),
                _ => self.v6_64.merge(&o.v6_64, &mut l),
            };
            room.budget[kind] -= before - l;
            self.overflow[kind] += refused + o.overflow[kind];
        }
    }

    /// Forgets every source (small sets keep their memory, large ones free it).
    pub fn clear(&mut self) {
        self.v4.release();
        self.v6.release();
        self.v6_64.release();
        self.overflow = [0; 3];
        self.fixed = None;
    }

    /// The day's sets as plain lists, for serialisation (see [`DaySourcesState`]).
    pub fn state(&self) -> DaySourcesState {
        DaySourcesState {
            v4: self.v4.iter().collect(),
            v6: self.v6.iter().map(|k| k.0).collect(),
            v6_64: self.v6_64.iter().map(|k| k.0).collect(),
            overflow: self.overflow,
        }
    }

    /// Sets rebuilt from a [`DaySourcesState`] (fingerprints made with the same seed).
    pub fn from_state(s: &DaySourcesState, seed: u64) -> Self {
        let mut d = Self::new(seed);
        let mut l = usize::MAX;
        // The lists come in hash order: size the sets first (see `KeySet::merge`).
        d.v4.reserve(s.v4.len());
        d.v6.reserve(s.v6.len());
        d.v6_64.reserve(s.v6_64.len());
        for &k in &s.v4 {
            d.v4.insert(k, k.hash(seed), &mut l);
        }
        for &k in &s.v6 {
            d.v6.insert(Fingerprint(k), k, &mut l);
        }
        for &k in &s.v6_64 {
            let k = Prefix64(k);
            d.v6_64.insert(k, k.hash(seed), &mut l);
        }
        d.overflow = s.overflow;
        d
    }
}

impl Room {
    /// Keys of `kind` the day (holding `lens`) may still add.
    #[inline]
    fn left(&self, lens: [usize; 3], kind: usize) -> usize {
        self.budget[kind].min(self.day_cap.saturating_sub(lens[kind]))
    }

    /// Accounts for an insert of `kind`.
    #[inline]
    fn took(&mut self, r: Insert, kind: usize, overflow: &mut [u64; 3]) {
        match r {
            Insert::Known => {}
            Insert::Added => self.budget[kind] -= 1,
            Insert::Refused => overflow[kind] += 1,
        }
    }
}

/// A day's distinct sources as plain lists (IPv4 addresses, IPv6 fingerprints, /64 prefixes),
/// serialisable; fingerprints are only comparable between states made with the same seed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaySourcesState {
    /// IPv4 addresses.
    pub v4: Vec<u32>,
    /// IPv6 address fingerprints.
    pub v6: Vec<u64>,
    /// IPv6 /64 prefixes.
    pub v6_64: Vec<u64>,
    /// Queries whose source was left out, per kind.
    pub overflow: [u64; 3],
}

/// Distinct IPv4 and IPv6 addresses in the union of `days`: their own counts for one day, else
/// a union built once (memory and time in proportion to the days' sizes).
pub fn union_counts<'a>(days: impl Iterator<Item = &'a DaySources> + Clone) -> [u64; 2] {
    let mut it = days.clone();
    let (Some(first), second) = (it.next(), it.next()) else {
        return [0; 2];
    };
    if second.is_none() {
        return [first.v4.len() as u64, first.v6.len() as u64];
    }
    let seed = first.v4.seed();
    let (mut v4, mut v6) = (KeySet::<u32>::new(seed), KeySet::<Fingerprint>::new(seed));
    let mut l = usize::MAX;
    for d in days {
        v4.merge(&d.v4, &mut l);
        v6.merge(&d.v6, &mut l);
    }
    [v4.len() as u64, v6.len() as u64]
}

/// Distinct query sources over the whole run (the union of the days held), per IP version.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunSources {
    /// Distinct IPv4 and IPv6 sources.
    pub counts: [u64; 2],
    /// Queries whose source was left out (a day's set was full), per IP version: non-zero
    /// means the counts are lower bounds.
    pub overflow: [u64; 2],
}

impl RunSources {
    /// Distinct IPv4 and IPv6 sources.
    pub fn counts(&self) -> (usize, usize) {
        (self.counts[0] as usize, self.counts[1] as usize)
    }

    /// True if every source was remembered (the counts are exact).
    pub fn is_exact(&self) -> bool {
        self.overflow == [0; 2]
    }
}

//------------ Pending -------------------------------------------------------

/// Queries waiting to be applied to the source sets, with their UTC day, oldest first.
pub type Pending = crate::aggregate::ring::Ring<(u32, SourceKey)>;

/// The pending ring of a batch of `batch` queries (0 or 1: every query applied at once).
pub fn pending(batch: usize) -> Pending {
    Pending::new(batch.saturating_sub(1))
}

//============ Testing =======================================================

#[cfg(test)]
mod test {
    use super::*;
    use crate::aggregate::sketch::splitmix64;

    fn v6(st: &mut u64) -> Addr {
        let mut a = [0u8; 16];
        a[..8].copy_from_slice(&splitmix64(st).to_be_bytes());
        a[8..].copy_from_slice(&splitmix64(st).to_be_bytes());
        a
    }

    fn room() -> Room {
        Room {
            budget: [usize::MAX; 3],
            day_cap: usize::MAX,
        }
    }

    #[test]
    fn counts_kinds_and_caps() {
        let mut d = DaySources::new(9);
        let mut r = Room {
            budget: [usize::MAX; 3],
            day_cap: 3,
        };
        let mut st = 1;
        for i in 0..5u8 {
            let a = [10, 0, 0, i, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            d.insert(&SourceKey::new(4, &a, 9), &mut r);
            d.insert(&SourceKey::new(4, &a, 9), &mut r);
        }
        let a = v6(&mut st);
        d.insert(&SourceKey::new(6, &a, 9), &mut r);
        let mut b = a;
        b[15] ^= 1; // same /64
        d.insert(&SourceKey::new(6, &b, 9), &mut r);
        assert_eq!(d.lens(), [3, 2, 1]);
        assert_eq!(d.overflow, [4, 0, 0]);
        assert_eq!(d.exact(), [false, true, true]);
        // Serialised and rebuilt: the same sets.
        let s = d.state();
        let json = serde_json::to_string(&s).expect("json");
        let back: DaySourcesState = serde_json::from_str(&json).expect("parse");
        let e = DaySources::from_state(&back, 9);
        assert_eq!((e.lens(), e.overflow), (d.lens(), d.overflow));
        let mut m = DaySources::new(9);
        let mut r = room();
        m.merge(&e, &mut r);
        m.merge(&d, &mut r);
        assert_eq!(m.lens(), [3, 2, 1]);
        assert_eq!(m.overflow, [8, 0, 0]);
    }

    #[test]
    fn run_sources_are_a_union_of_days() {
        let mut days = [DaySources::new(3), DaySources::new(3)];
        let mut r = room();
        for i in 0..100u8 {
            let a = [192, 0, 2, i, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            days[usize::from(i % 3 == 0)].insert(&SourceKey::new(4, &a, 3), &mut r);
            if i < 10 {
                days[1].insert(&SourceKey::new(4, &a, 3), &mut r);
            }
        }
        assert_eq!(union_counts(days.iter()), [100, 0]);
        assert!(days.iter().all(|d| d.overflow == [0; 3]));
        assert_eq!(union_counts(days[..1].iter())[0], days[0].lens()[0] as u64);
    }

    /// The expected colliding pairs among `n` random `b`-bit values is `n(n−1)/2 / 2^b`; the
    /// fingerprints truncated to 24 bits show it (16,384 addresses: 8 expected), and the full
    /// 64 bits give none among a million addresses (2.7 × 10⁻⁸ expected).
    #[test]
    fn collision_bound() {
        let mut st = 42;
        let mut total = 0usize;
        let trials = 20;
        for t in 0..trials {
            let mut seen = std::collections::HashMap::<u64, u32>::new();
            for _ in 0..16_384 {
                let a = v6(&mut st);
                let k = SourceKey::new(6, &a, t);
                *seen.entry(k.addr_hash >> 40).or_default() += 1;
            }
            total += seen
                .values()
                .map(|&c| (c as usize) * (c as usize - 1) / 2)
                .sum::<usize>();
        }
        let expected = 16_384.0 * 16_383.0 / 2.0 / f64::from(1u32 << 24);
        let mean = total as f64 / f64::from(trials as u32);
        assert!(
            (mean - expected).abs() < 2.0,
            "mean {mean} colliding pairs, expected {expected}"
        );
        let mut d = DaySources::new(11);
        let mut r = room();
        for _ in 0..1_000_000 {
            d.insert(&SourceKey::new(6, &v6(&mut st), 11), &mut r);
        }
        assert_eq!(d.lens()[1], 1_000_000);
    }
}
