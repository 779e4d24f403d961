//! The open-addressing hash index of the bounded tables ([`super::SpaceSaving`] and the
//! latency module's pending queries): linear probing, backward-shift deletion (no tombstones),
//! a power-of-two number of slots ≥ 2·capacity (load ≤ ½).
//!
//! HOT PATH: no allocation after [`Index::with_capacity`]. Each slot is 8 bytes and packs the
//! low 32 bits of the key's hash above the owner's entry number, so a probe compares hash bits
//! in the index itself and the owner reads a key only when they match (one random cache miss
//! for the entry that matches, not one per probe), and deletion finds each slot's home from
//! the index alone. The owner keeps the keys, their hashes and its count of entries; the hash
//! must be keyed (foldhash with [`super::process_seed`]): keys come from the network, so an
//! attacker must not be able to aim at a probe chain.

/// An empty slot.
const EMPTY: u64 = u64::MAX;

/// A slot: the low 32 bits of the key's hash above the owner's entry number.
#[inline]
fn slot(hash: u64, entry: u32) -> u64 {
    ((hash & 0xFFFF_FFFF) << 32) | u64::from(entry)
}

/// A linear-probing index from a 64-bit hash to a `u32` entry number of its owner.
#[derive(Clone, Debug, Default)]
pub struct Index {
    slots: Box<[u64]>,
    mask: usize,
}

impl Index {
    /// An empty index for up to `entries` entries: `(2·entries).next_power_of_two()` slots, at
    /// least 16. [`Index::default`] allocates nothing (a placeholder, or not reserved yet).
    pub fn with_capacity(entries: usize) -> Self {
        let n = (2 * entries).next_power_of_two().max(16);
        Self {
            slots: crate::aggregate::table::filled(n, EMPTY).into_boxed_slice(),
            mask: n - 1,
        }
    }

    /// True once slots are allocated (not a [`Index::default`]).
    #[inline]
    pub fn is_allocated(&self) -> bool {
        !self.slots.is_empty()
    }

    /// Bytes held: 8 per slot.
    pub fn memory_bytes(&self) -> usize {
        8 * self.slots.len()
    }

    /// Starts loading the slot a key of hash `h` probes first (a hint only; nothing without
    /// slots).
    #[inline]
    pub fn prefetch(&self, h: u64) {
        if let Some(s) = self.slots.get(h as usize & self.mask) {
            crate::aggregate::prefetch(s);
        }
    }

    /// The entry of hash `h` for which `is_key` holds (called only for entries whose stored
    /// hash bits match). The index must be allocated.
    #[inline]
    pub fn find(&self, h: u64, mut is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        let want = h & 0xFFFF_FFFF;
        let mut i = h as usize & self.mask;
        loop {
            let v = self.slots[i];
            if v == EMPTY {
                return None;
            }
            if v >> 32 == want && is_key(v as u32) {
                return Some(v as u32);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Adds `entry` of hash `h` (absent so far); the index must be allocated and not full.
    #[inline]
    pub fn insert(&mut self, h: u64, entry: u32) {
        let mut i = h as usize & self.mask;
        while self.slots[i] != EMPTY {
            i = (i + 1) & self.mask;
        }
        self.slots[i] = slot(h, entry);
    }

    /// Removes `entry` of hash `h` (present); backward-shift deletion keeps every probe chain
    /// intact. Always inlined, as the two copies it replaces were: the latency table removes
    /// on every matched response, a full Space-Saving table on every new key.
    #[inline(always)]
    pub fn remove(&mut self, h: u64, entry: u32) {
        let mask = self.mask;
        let mut hole = h as usize & mask;
        while self.slots[hole] as u32 != entry {
            hole = (hole + 1) & mask;
        }
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let t = self.slots[j];
            if t == EMPTY {
                break;
            }
            let ideal = (t >> 32) as usize & mask;
            // Move `t` into the hole unless its ideal slot lies cyclically in (hole, j].
            if j.wrapping_sub(ideal) & mask >= j.wrapping_sub(hole) & mask {
                self.slots[hole] = t;
                hole = j;
            }
        }
        self.slots[hole] = EMPTY;
    }

    /// Empties every slot, keeping the memory.
    pub fn clear(&mut self) {
        self.slots.fill(EMPTY);
    }

    /// The slots (tests: memory layout and occupancy).
    #[cfg(test)]
    pub(crate) fn slots(&self) -> &[u64] {
        &self.slots
    }

    /// Occupied slots (tests).
    #[cfg(test)]
    pub(crate) fn occupied(&self) -> usize {
        self.slots.iter().filter(|&&s| s != EMPTY).count()
    }
}

//============ Testing =======================================================

#[cfg(test)]
mod test {
    use std::collections::HashMap;

    use super::*;
    use crate::aggregate::sketch::splitmix64;

    #[test]
    fn churn_keeps_every_entry_findable() {
        // Few hash values (24 homes at the end of the 256 slots, so chains wrap around; equal
        // stored bits) and constant insert/remove exercise backward-shift deletion.
        let mut ix = Index::with_capacity(100);
        let mut live: HashMap<u32, u64> = HashMap::new();
        let mut r = 5;
        for _ in 0..50_000 {
            let x = splitmix64(&mut r);
            let e = (x % 100) as u32;
            if let Some(h) = live.remove(&e) {
                ix.remove(h, e);
            } else {
                let h = ((x >> 8) % 24 + 240) | (x >> 40 << 63);
                ix.insert(h, e);
                live.insert(e, h);
            }
            assert_eq!(ix.occupied(), live.len());
        }
        for (&e, &h) in &live {
            assert_eq!(ix.find(h, |s| s == e), Some(e));
        }
        ix.clear();
        assert_eq!(ix.occupied(), 0);
        assert_eq!(ix.memory_bytes(), 8 * 256);
        assert!(!Index::default().is_allocated());
        Index::default().prefetch(7);
    }
}
