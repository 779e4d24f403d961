//! Distinct query sources, exact up to a cap per IP version.
//!
//! Memory bound: at most `cap` addresses per version (IPv4 4 bytes, IPv6 16 bytes, plus the
//! hash table's overhead: about 2.3× at worst). Past the cap new addresses are not stored and
//! are counted in `overflow` (per version): each query whose unknown source finds the set full,
//! and each source of another set (a worker's) that a full set cannot take in a merge. Sources
//! seen once each (a random-source flood) are thus counted exactly once: distinct minus cap.
//! Non-zero means the distinct counts are lower bounds, and reports say so.

use std::collections::HashSet;

use crate::decode::ip::Addr;

/// Distinct source addresses of queries.
#[derive(Clone, Debug)]
pub struct Sources {
    cap: usize,
    v4: HashSet<u32, foldhash::fast::RandomState>,
    v6: HashSet<u128, foldhash::fast::RandomState>,
    /// Sources not remembered because the set was full, `[IPv4, IPv6]` (see the module).
    pub overflow: [u64; 2],
}

impl Sources {
    /// Empty sets remembering up to `cap` addresses per version.
    pub fn new(cap: usize) -> Self {
        Self {
            cap,
            v4: HashSet::default(),
            v6: HashSet::default(),
            overflow: [0; 2],
        }
    }

    /// Records a source.
    #[inline]
    pub fn insert(&mut self, version: u8, a: &Addr) {
        if version == 4 {
            let k = u32::from_be_bytes([a[0], a[1], a[2], a[3]]);
            if self.v4.len() < self.cap || self.v4.contains(&k) {
                self.v4.insert(k);
            } else {
                self.overflow[0] += 1;
            }
        } else {
            let k = u128::from_be_bytes(*a);
            if self.v6.len() < self.cap || self.v6.contains(&k) {
                self.v6.insert(k);
            } else {
                self.overflow[1] += 1;
            }
        }
    }

    /// Forgets every address, keeping the tables' memory.
    pub fn clear(&mut self) {
        self.v4.clear();
        self.v6.clear();
        self.overflow = [0; 2];
    }

    /// Distinct IPv4 and IPv6 sources.
    pub fn counts(&self) -> (usize, usize) {
        (self.v4.len(), self.v6.len())
    }

    /// True if every source was remembered (the counts are exact).
    pub fn is_exact(&self) -> bool {
        self.overflow == [0; 2]
    }

    /// Union with another worker's sets (still capped).
    pub fn merge(&mut self, other: &Self) {
        for &k in &other.v4 {
            if self.v4.len() < self.cap || self.v4.contains(&k) {
                self.v4.insert(k);
            } else {
                self.overflow[0] += 1;
            }
        }
        for &k in &other.v6 {
            if self.v6.len() < self.cap || self.v6.contains(&k) {
                self.v6.insert(k);
            } else {
                self.overflow[1] += 1;
            }
        }
        self.overflow[0] += other.overflow[0];
        self.overflow[1] += other.overflow[1];
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn distinct_and_capped() {
        let mut s = Sources::new(3);
        for i in 0..10u8 {
            s.insert(4, &[10, 0, 0, i % 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        }
        assert_eq!(s.counts(), (3, 0));
        assert!(!s.is_exact());
        let mut t = Sources::new(3);
        t.insert(6, &[0x20; 16]);
        t.insert(6, &[0x20; 16]);
        t.merge(&s);
        assert_eq!(t.counts(), (3, 1));
    }

    fn v4(i: u32) -> Addr {
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&i.to_be_bytes());
        a
    }

    fn v6(i: u32) -> Addr {
        let mut a = [0x20u8; 16];
        a[12..].copy_from_slice(&i.to_be_bytes());
        a
    }

    #[test]
    fn overflow_counted_per_version() {
        // 10 distinct IPv4 sources twice each, cap 4: the 6 unknown ones are refused twice.
        let mut s = Sources::new(4);
        for _ in 0..2 {
            for i in 0..10 {
                s.insert(4, &v4(i));
            }
        }
        // 7 distinct IPv6 sources once each: 3 past the cap.
        for i in 0..7 {
            s.insert(6, &v6(i));
        }
        assert_eq!(s.counts(), (4, 4));
        assert_eq!(s.overflow, [12, 3]);
        assert!(!s.is_exact());
        // A worker's set merged into a full one: its 2 new IPv4 sources are refused (its
        // known one is not), and its own overflow is carried over.
        let mut w = Sources::new(4);
        for i in [0, 100, 101] {
            w.insert(4, &v4(i));
        }
        w.insert(6, &v6(0));
        w.overflow = [5, 1];
        s.merge(&w);
        assert_eq!(s.counts(), (4, 4));
        assert_eq!(s.overflow, [12 + 2 + 5, 3 + 1]);
        s.clear();
        assert_eq!(
            (s.counts(), s.overflow, s.is_exact()),
            ((0, 0), [0, 0], true)
        );
    }
}
