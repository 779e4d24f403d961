//! Distinct query sources, exact up to a cap per IP version.
//!
//! Memory bound: at most `cap` addresses per version (IPv4 4 bytes, IPv6 16 bytes, plus the
//! hash table's overhead: about 2.3× at worst). Past the cap new addresses are not stored and
//! are counted in `overflow`; the distinct counts are then lower bounds and reports say so.

use std::collections::HashSet;

use crate::decode::ip::Addr;

/// Distinct source addresses of queries.
#[derive(Clone, Debug)]
pub struct Sources {
    cap: usize,
    v4: HashSet<u32, foldhash::fast::RandomState>,
    v6: HashSet<u128, foldhash::fast::RandomState>,
    /// Queries from addresses that could not be remembered because the set was full.
    pub overflow: u64,
}

impl Sources {
    /// Empty sets remembering up to `cap` addresses per version.
    pub fn new(cap: usize) -> Self {
        Self {
            cap,
            v4: HashSet::default(),
            v6: HashSet::default(),
            overflow: 0,
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
                self.overflow += 1;
            }
        } else {
            let k = u128::from_be_bytes(*a);
            if self.v6.len() < self.cap || self.v6.contains(&k) {
                self.v6.insert(k);
            } else {
                self.overflow += 1;
            }
        }
    }

    /// Forgets every address, keeping the tables' memory.
    pub fn clear(&mut self) {
        self.v4.clear();
        self.v6.clear();
        self.overflow = 0;
    }

    /// Distinct IPv4 and IPv6 sources.
    pub fn counts(&self) -> (usize, usize) {
        (self.v4.len(), self.v6.len())
    }

    /// True if every source was remembered (the counts are exact).
    pub fn is_exact(&self) -> bool {
        self.overflow == 0
    }

    /// Union with another worker's sets (still capped).
    pub fn merge(&mut self, other: &Self) {
        for &k in &other.v4 {
            if self.v4.len() < self.cap || self.v4.contains(&k) {
                self.v4.insert(k);
            } else {
                self.overflow += 1;
            }
        }
        for &k in &other.v6 {
            if self.v6.len() < self.cap || self.v6.contains(&k) {
                self.v6.insert(k);
            } else {
                self.overflow += 1;
            }
        }
        self.overflow += other.overflow;
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
}
