//! A compact set of fixed-width keys: open addressing with linear probing over one flat array
//! of keys (4 bytes per IPv4 slot, 8 per fingerprint or /64 slot), the position taken from the
//! key's 64-bit hash, which the caller computes once per query and reuses for the prefetch, the
//! lookup and the HyperLogLogs. No per-entry overhead: at the growth threshold (3/4 full) a set
//! of `n` keys takes between `4/3 · n` and `8/3 · n` slots.
//!
//! The zero key marks an empty slot, so a real zero key (`0.0.0.0`, the `::/64` prefix) is
//! remembered in a flag beside the array.
//!
//! HOT PATH: one hashed position, one cache line in the common case (the set is at most 3/4
//! full, so the expected probe length of a hit is below 2.5 slots of 4–8 bytes); allocation only
//! when the set grows (amortised: a doubling re-inserts every key once).

use super::super::prefetch;

/// A key the set can hold: a plain integer whose zero value marks an empty slot.
pub trait Key: Copy + Eq + Default + std::fmt::Debug {
    /// The key's 64-bit hash under `seed` (every set of a process uses the same seed).
    fn hash(self, seed: u64) -> u64;
    /// The key as a 64-bit integer (for serialisation and tests).
    fn to_u64(self) -> u64;
    /// The key from a 64-bit integer.
    fn from_u64(v: u64) -> Self;
}

/// The 64-bit finaliser of SplitMix64: a bijection on `u64` that spreads every input bit over
/// every output bit.
#[inline]
pub fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// An IPv4 address, as its 4 bytes (exact: no fingerprint).
impl Key for u32 {
    #[inline]
    fn hash(self, seed: u64) -> u64 {
        mix(seed ^ u64::from(self))
    }
    fn to_u64(self) -> u64 {
        u64::from(self)
    }
    fn from_u64(v: u64) -> Self {
        v as u32
    }
}

/// A 64-bit value that is already a keyed hash (an IPv6 address's fingerprint): its own hash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub u64);

impl Key for Fingerprint {
    #[inline]
    fn hash(self, _seed: u64) -> u64 {
        self.0
    }
    fn to_u64(self) -> u64 {
        self.0
    }
    fn from_u64(v: u64) -> Self {
        Self(v)
    }
}

/// An IPv6 /64 prefix, as its 8 bytes (exact: no fingerprint).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Prefix64(pub u64);

impl Key for Prefix64 {
    #[inline]
    fn hash(self, seed: u64) -> u64 {
        mix(seed ^ 0x2f36_3400_0000_0000 ^ self.0)
    }
    fn to_u64(self) -> u64 {
        self.0
    }
    fn from_u64(v: u64) -> Self {
        Self(v)
    }
}

/// What [`KeySet::insert`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Insert {
    /// The key was there already.
    Known,
    /// The key is new and was added.
    Added,
    /// The key is new and the budget was spent: not added.
    Refused,
}

/// Slots of a set's first allocation.
const MIN_SLOTS: usize = 256;

/// Sets with more slots than this are freed, not kept, by [`KeySet::release`]: a spare set
/// must not hold on to the memory of a day at the cap.
pub const KEEP_SLOTS: usize = 1 << 14;

/// A set of keys (see the module), each with a value slot `V` beside it: what a per-source
/// lookup found (the geography issue's country and network) is cached there, so it is done once
/// per source, not once per query. With `V = ()` (the default) the slots take no memory.
#[derive(Clone, Debug)]
pub struct KeySet<K, V = ()> {
    slots: Vec<K>,
    /// Value of the key in the same position of `slots`.
    vals: Vec<V>,
    /// Value of the zero key.
    zero_val: V,
    /// `64 - log2(slots.len())`: a hash's top bits are its position.
    shift: u32,
    len: usize,
    zero: bool,
    seed: u64,
    /// Times the array was reallocated (tests check that a merge reserves once).
    #[cfg(test)]
    resizes: usize,
}

impl<K: Key, V: Copy + Default> KeySet<K, V> {
    /// An empty set hashing with `seed` (it allocates on the first insert).
    pub fn new(seed: u64) -> Self {
        Self {
            slots: Vec::new(),
            vals: Vec::new(),
            zero_val: V::default(),
            shift: 64,
            len: 0,
            zero: false,
            seed,
            #[cfg(test)]
            resizes: 0,
        }
    }

    /// The seed the keys are hashed with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Distinct keys held.
    pub fn len(&self) -> usize {
        self.len + usize::from(self.zero)
    }

    /// True if no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of the slot arrays (keys and values).
    pub fn memory_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<K>()
            + self.vals.capacity() * std::mem::size_of::<V>()
    }

    #[inline]
    fn pos(&self, hash: u64) -> usize {
        // `shift` < 64 whenever there are slots; `checked_shr` keeps an empty set safe.
        hash.checked_shr(self.shift).unwrap_or(0) as usize
    }

    /// Starts loading the cache line where `hash`'s key lives (a hint only).
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        if let Some(s) = self.slots.get(self.pos(hash)) {
            prefetch(s);
        }
    }

    /// True if `key` (whose hash is `hash`) is in the set.
    #[inline]
    pub fn contains(&self, key: K, hash: u64) -> bool {
        if key == K::default() {
            return self.zero;
        }
        self.index_of(key, hash).is_some()
    }

    /// Where a non-zero `key` is in `slots`.
    #[inline]
    fn index_of(&self, key: K, hash: u64) -> Option<usize> {
        let mask = self.slots.len().wrapping_sub(1);
        let mut i = self.pos(hash);
        while let Some(&s) = self.slots.get(i) {
            if s == key {
                return Some(i);
            }
            if s == K::default() {
                return None;
            }
            i = (i + 1) & mask;
        }
        None
    }

    /// The value slot of `key`, if the set holds it.
    pub fn value_mut(&mut self, key: K, hash: u64) -> Option<&mut V> {
        if key == K::default() {
            return self.zero.then_some(&mut self.zero_val);
        }
        let i = self.index_of(key, hash)?;
        self.vals.get_mut(i)
    }

    /// Adds `key` (whose hash is `hash`) if it is new and `left` (new keys still allowed) is
    /// not zero; a new key added takes one from `left`.
    #[inline]
    pub fn insert(&mut self, key: K, hash: u64, left: &mut usize) -> Insert {
        if key == K::default() {
            return if self.zero {
                Insert::Known
            } else if *left > 0 {
                *left -= 1;
                self.zero = true;
                self.zero_val = V::default();
                Insert::Added
            } else {
                Insert::Refused
            };
        }
        let n = self.slots.len();
        let mask = n.wrapping_sub(1);
        let mut i = self.pos(hash);
        while let Some(s) = self.slots.get_mut(i) {
            if *s == key {
                return Insert::Known;
            }
            if *s == K::default() {
                if *left == 0 {
                    return Insert::Refused;
                }
                if (self.len + 1) * 4 > n * 3 {
                    break; // grow first, then place the key in the larger array
                }
                *s = key;
                if let Some(v) = self.vals.get_mut(i) {
                    *v = V::default();
                }
                self.len += 1;
                *left -= 1;
                return Insert::Added;
            }
            i = (i + 1) & mask;
        }
        // Empty, or full to the threshold: double and place the key there.
        if *left == 0 {
            return Insert::Refused;
        }
        self.grow();
        self.place(key, hash, V::default());
        self.len += 1;
        *left -= 1;
        Insert::Added
    }

    /// Puts a key known to be absent, with its value, into the first free slot of its probe
    /// sequence.
    fn place(&mut self, key: K, hash: u64, val: V) {
        let mask = self.slots.len() - 1;
        let mut i = self.pos(hash);
        while self.slots[i] != K::default() {
            i = (i + 1) & mask;
        }
        self.slots[i] = key;
        self.vals[i] = val;
    }

    /// Doubles the slot array (or makes the first one) and re-inserts every key.
    #[cold]
    fn grow(&mut self) {
        self.resize((self.slots.len() * 2).max(MIN_SLOTS));
    }

    /// Makes room for `additional` more keys without growing again.
    pub fn reserve(&mut self, additional: usize) {
        let need = self.len.saturating_add(additional);
        let mut n = self.slots.len().max(MIN_SLOTS);
        while need.saturating_mul(4) > n.saturating_mul(3) {
            n *= 2;
        }
        if n > self.slots.len() {
            self.resize(n);
        }
    }

    /// Moves every key into an array of `n` slots (a power of two).
    fn resize(&mut self, n: usize) {
        #[cfg(test)]
        {
            self.resizes += 1;
        }
        let old = std::mem::replace(
            &mut self.slots,
            super::super::table::filled(n, K::default()),
        );
        let old_vals =
            std::mem::replace(&mut self.vals, super::super::table::filled(n, V::default()));
        self.shift = 64 - n.trailing_zeros();
        for (k, v) in old.into_iter().zip(old_vals) {
            if k != K::default() {
                self.place(k, k.hash(self.seed), v);
            }
        }
    }

    /// Every key held with its value (in no particular order).
    pub fn iter_values(&self) -> impl Iterator<Item = (K, V)> + '_ {
        let zero = self.zero.then_some((K::default(), self.zero_val));
        self.slots
            .iter()
            .copied()
            .zip(self.vals.iter().copied())
            .filter(|&(k, _)| k != K::default())
            .chain(zero)
    }

    /// Every key held (in no particular order).
    pub fn iter(&self) -> impl Iterator<Item = K> + '_ {
        let zero = self.zero.then(K::default);
        self.slots
            .iter()
            .copied()
            .filter(|&k| k != K::default())
            .chain(zero)
    }

    /// Adds every key of `other` (same seed), each new one taking one from `left` and its value
    /// (a key held by both keeps this set's value); returns the keys refused because `left`
    /// ran out.
    ///
    /// `other`'s keys come in the order of their positions there, that is of their hashes: in
    /// a smaller array they would pile up into long runs (linear probing's known trap when one
    /// table is copied into another). So the array is first made large enough for both.
    pub fn merge(&mut self, other: &Self, left: &mut usize) -> u64 {
        self.merge_with(other, left, |_, _| {})
    }

    /// [`merge`](Self::merge), calling `added(key, hash)` for every key it adds.
    pub fn merge_with(
        &mut self,
        other: &Self,
        left: &mut usize,
        mut added: impl FnMut(K, u64),
    ) -> u64 {
        debug_assert_eq!(self.seed, other.seed, "sets of one process share the seed");
        self.reserve(other.len().min(*left));
        let mut refused = 0;
        for (k, v) in other.iter_values() {
            let h = k.hash(self.seed);
            match self.insert(k, h, left) {
                Insert::Refused => refused += 1,
                Insert::Added => {
                    if let Some(slot) = self.value_mut(k, h) {
                        *slot = v;
                    }
                    added(k, h);
                }
                Insert::Known => {}
            }
        }
        refused
    }

    /// Forgets every key, keeping the memory.
    pub fn clear(&mut self) {
        self.slots.fill(K::default());
        self.len = 0;
        self.zero = false;
    }

    /// Forgets every key; keeps the memory of a small set, frees a large one.
    pub fn release(&mut self) {
        if self.slots.len() > KEEP_SLOTS {
            self.slots = Vec::new();
            self.vals = Vec::new();
            self.shift = 64;
        } else {
            self.slots.fill(K::default());
        }
        self.len = 0;
        self.zero = false;
    }
}

#[cfg(test)]
impl<K: Key, V: Copy + Default> KeySet<K, V> {
    /// The longest run of consecutive occupied slots (what a lookup may have to walk).
    fn longest_run(&self) -> usize {
        let (mut best, mut run) = (0, 0);
        for &k in &self.slots {
            run = if k == K::default() { 0 } else { run + 1 };
            best = best.max(run);
        }
        best
    }
}

//============ Testing =======================================================

#[cfg(test)]
mod test {
    use super::*;
    use crate::aggregate::sketch::splitmix64;

    #[test]
    fn insert_contains_grow_and_zero() {
        let mut s = KeySet::<u32>::new(7);
        let mut left = usize::MAX;
        for k in 0..10_000u32 {
            assert_eq!(s.insert(k, k.hash(7), &mut left), Insert::Added, "{k}");
        }
        for k in 0..10_000u32 {
            assert_eq!(s.insert(k, k.hash(7), &mut left), Insert::Known, "{k}");
            assert!(s.contains(k, k.hash(7)));
        }
        assert!(!s.contains(10_000, 10_000u32.hash(7)));
        assert_eq!(s.len(), 10_000);
        assert_eq!(left, usize::MAX - 10_000);
        // At most 3/4 full: 10,000 keys in 16,384 slots.
        assert_eq!(s.memory_bytes(), 16_384 * 4);
        let mut keys: Vec<u32> = s.iter().collect();
        keys.sort_unstable();
        assert_eq!(keys, (0..10_000).collect::<Vec<_>>());
        s.release();
        assert_eq!((s.len(), s.iter().count()), (0, 0));
        assert!(!s.contains(0, 0u32.hash(7)));
    }

    #[test]
    fn budget_refuses_new_keys_only() {
        let mut s = KeySet::<Prefix64>::new(1);
        let mut left = 3;
        for k in [0u64, 5, 9] {
            let k = Prefix64(k);
            assert_eq!(s.insert(k, k.hash(1), &mut left), Insert::Added);
        }
        for k in [0u64, 5, 9] {
            let k = Prefix64(k);
            assert_eq!(s.insert(k, k.hash(1), &mut left), Insert::Known);
        }
        let k = Prefix64(77);
        assert_eq!(s.insert(k, k.hash(1), &mut left), Insert::Refused);
        assert_eq!((s.len(), left), (3, 0));
        // A merge into a set with budget 1 takes one new key and refuses the rest.
        let mut t = KeySet::<Prefix64>::new(1);
        let mut l = 1;
        assert_eq!(t.merge(&s, &mut l), 2);
        assert_eq!(t.len(), 1);
    }

    /// Merging a large set into an empty one stays linear (the keys arrive in hash order).
    #[test]
    fn merge_of_a_large_set_is_fast() {
        let mut a = KeySet::<u32>::new(5);
        let mut left = usize::MAX;
        for k in 0..2_000_000u32 {
            a.insert(k, k.hash(5), &mut left);
        }
        let mut b = KeySet::<u32>::new(5);
        assert_eq!(b.merge(&a, &mut left), 0);
        assert_eq!(b.len(), 2_000_000);
        // One allocation, of the final size: growing step by step while the keys arrive in hash
        // order piles them into long runs at every size (a 10 M-packet flood took 117 s
        // instead of 5, this test 146 s instead of 0.1).
        assert_eq!(b.resizes, 1);
        assert_eq!(b.memory_bytes(), a.memory_bytes());
        assert!(b.longest_run() < 200, "longest run {}", b.longest_run());
    }

    /// The value slot: set once per key, kept through growth and merges, empty for new keys.
    #[test]
    fn values_follow_their_keys() {
        let mut a = KeySet::<u32, u32>::new(3);
        let mut left = usize::MAX;
        for k in 0..5000u32 {
            a.insert(k, k.hash(3), &mut left);
            *a.value_mut(k, k.hash(3)).expect("held") = k * 7 + 1;
        }
        assert!((0..5000u32).all(|k| a.value_mut(k, k.hash(3)).copied() == Some(k * 7 + 1)));
        assert_eq!(a.value_mut(5000, 5000u32.hash(3)), None);
        let mut b = KeySet::<u32, u32>::new(3);
        b.insert(4999, 4999u32.hash(3), &mut left);
        *b.value_mut(4999, 4999u32.hash(3)).expect("held") = 5;
        b.insert(9000, 9000u32.hash(3), &mut left);
        assert_eq!(b.value_mut(9000, 9000u32.hash(3)).copied(), Some(0));
        b.merge(&a, &mut left);
        assert_eq!(b.value_mut(4999, 4999u32.hash(3)).copied(), Some(5), "kept");
        assert_eq!(
            b.value_mut(0, 0u32.hash(3)).copied(),
            Some(1),
            "zero key's value"
        );
        assert_eq!(b.value_mut(17, 17u32.hash(3)).copied(), Some(120));
        // Without values the slots take no memory beyond the keys.
        let c = KeySet::<u32>::new(3);
        assert_eq!(c.memory_bytes(), 0);
        assert_eq!(
            b.memory_bytes(),
            b.slots.capacity() * 4 + b.vals.capacity() * 4
        );
    }

    #[test]
    fn merge_is_a_union() {
        let mut a = KeySet::<Fingerprint>::new(0);
        let mut b = KeySet::<Fingerprint>::new(0);
        let (mut left, mut st) = (usize::MAX, 3u64);
        let keys: Vec<u64> = (0..5000).map(|_| splitmix64(&mut st)).collect();
        for &k in &keys[..3000] {
            a.insert(Fingerprint(k), k, &mut left);
        }
        for &k in &keys[2000..] {
            b.insert(Fingerprint(k), k, &mut left);
        }
        assert_eq!(a.merge(&b, &mut left), 0);
        assert_eq!(a.len(), 5000);
        assert!(keys.iter().all(|&k| a.contains(Fingerprint(k), k)));
    }
}
