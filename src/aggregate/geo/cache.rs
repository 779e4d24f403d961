//! The per-worker source cache of the geography: source hash → country and AS.
//!
//! An open-addressing table (linear probing, placed by the hash's top bits) whose entries hold
//! the key and its value side by side, 16 bytes, four to a cache line: a lookup is one cache
//! miss, which the ring of [`super::Geo`] prefetches a batch ahead. (The source sets'
//! [`KeySet`](crate::aggregate::sources::KeySet) keeps values in a second array, which costs a
//! second miss per lookup: measured 4 % of a root-like replay.) The table grows by doubling at
//! three quarters full; the caller caps it ([`super::Settings::max_sources`]).
//!
//! HOT PATH: `prefetch`, `get_mut`; `insert` allocates only when the table doubles.

use super::Cached;

/// One slot: a source hash (0: empty) and its value.
#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    key: u64,
    val: Cached,
}

/// See the module.
#[derive(Clone, Debug)]
pub(super) struct Cache {
    slots: Box<[Entry]>,
    /// `64 − log2(slots)`: a hash's slot is `hash >> shift`.
    shift: u32,
    len: usize,
    /// The value of hash 0, which marks empty slots.
    zero: Option<Cached>,
    seed: u64,
}

impl Cache {
    /// An empty cache of sources hashed with `seed`.
    pub(super) fn new(seed: u64) -> Self {
        Self {
            slots: Box::default(),
            shift: 64,
            len: 0,
            zero: None,
            seed,
        }
    }

    /// The hash seed of the keys.
    pub(super) fn seed(&self) -> u64 {
        self.seed
    }

    /// Sources held.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn pos(&self, hash: u64) -> usize {
        hash.checked_shr(self.shift).unwrap_or(0) as usize
    }

    /// Starts loading the line where `hash` lives (a hint only).
    #[inline]
    pub(super) fn prefetch(&self, hash: u64) {
        if let Some(e) = self.slots.get(self.pos(hash)) {
            crate::aggregate::prefetch(e);
        }
    }

    /// The slot holding `hash`, or the empty one where it would go.
    #[inline]
    fn find(&self, hash: u64) -> Option<usize> {
        let mask = self.slots.len().wrapping_sub(1);
        let mut i = self.pos(hash);
        while let Some(e) = self.slots.get(i) {
            if e.key == hash || e.key == 0 {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
        None
    }

    /// The value of `hash`, if held.
    #[inline]
    pub(super) fn get_mut(&mut self, hash: u64) -> Option<&mut Cached> {
        if hash == 0 {
            return self.zero.as_mut();
        }
        let i = self.find(hash)?;
        let e = self.slots.get_mut(i)?;
        (e.key == hash).then_some(&mut e.val)
    }

    /// The value of `hash`, if held (read only).
    #[inline]
    pub(super) fn get(&self, hash: u64) -> Option<&Cached> {
        if hash == 0 {
            return self.zero.as_ref();
        }
        let e = self.slots.get(self.find(hash)?)?;
        (e.key == hash).then_some(&e.val)
    }

    /// True if `hash` is held.
    pub(super) fn contains(&mut self, hash: u64) -> bool {
        self.get_mut(hash).is_some()
    }

    /// Sets the value of `hash` (added if new).
    pub(super) fn insert(&mut self, hash: u64, val: Cached) {
        if hash == 0 {
            self.len += usize::from(self.zero.is_none());
            self.zero = Some(val);
            return;
        }
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow(self.len + 1);
        }
        if let Some(i) = self.find(hash)
            && let Some(e) = self.slots.get_mut(i)
        {
            self.len += usize::from(e.key == 0);
            *e = Entry { key: hash, val };
        }
    }

    /// Makes room for `n` more sources without growing on the way.
    pub(super) fn reserve(&mut self, n: usize) {
        if (self.len + n) * 4 > self.slots.len() * 3 {
            self.grow(self.len + n);
        }
    }

    /// Rebuilds the table with room for `n` sources.
    fn grow(&mut self, n: usize) {
        let cap = (n * 4 / 3 + 1).next_power_of_two().max(16);
        let old = std::mem::replace(
            &mut self.slots,
            super::super::table::filled(cap, Entry::default()).into(),
        );
        self.shift = 64 - cap.trailing_zeros();
        let mask = cap - 1;
        for e in old.iter().filter(|e| e.key != 0) {
            let mut i = self.pos(e.key);
            while self.slots[i].key != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = *e;
        }
    }

    /// Forgets every source (keeps the memory).
    pub(super) fn clear(&mut self) {
        self.slots.fill(Entry::default());
        self.len = 0;
        self.zero = None;
    }

    /// Every source held and its value.
    pub(super) fn iter(&self) -> impl Iterator<Item = (u64, Cached)> + '_ {
        self.zero.map(|v| (0, v)).into_iter().chain(
            self.slots
                .iter()
                .filter(|e| e.key != 0)
                .map(|e| (e.key, e.val)),
        )
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::aggregate::sketch::splitmix64;

    #[test]
    fn holds_what_it_is_given() {
        let mut c = Cache::new(1);
        let mut st = 5;
        let keys: Vec<u64> = (0..100_000).map(|_| splitmix64(&mut st)).collect();
        for (i, &k) in keys.iter().enumerate() {
            let v = Cached {
                country: (i % 676) as u16,
                slot: i as u32,
            };
            c.insert(k, v);
        }
        c.insert(0, Cached::default());
        assert_eq!(c.len(), 100_001);
        for (i, &k) in keys.iter().enumerate() {
            assert_eq!(c.get_mut(k).map(|v| v.slot), Some(i as u32));
        }
        assert!(c.contains(0) && !c.contains(12345));
        assert_eq!(c.iter().count(), 100_001);
        c.clear();
        assert_eq!((c.len(), c.iter().count()), (0, 0));
        assert!(c.get_mut(keys[0]).is_none());
    }
}
