//! Distinct counts in fixed memory: a dense HyperLogLog (Flajolet, Fusy, Gandouet, Meunier,
//! "HyperLogLog: the analysis of a near-optimal cardinality estimation algorithm", 2007).
//!
//! HOT PATH: one hash and one byte compare per insert, no allocation, no lock.
//!
//! * 2^14 = 16384 one-byte registers: **16 KiB per HLL**, allocated once.
//!   [`crate::aggregate::distinct::Distinct`] holds five (IPv4, IPv6, IPv6 /64, DO-setting IPv4
//!   and IPv6 sources): **80 KiB per worker**.
//! * Standard error 1.04/√m = 1.04/128 ≈ **0.81 %** (so ±2.4 % at three standard errors).
//! * Hash: 64-bit foldhash (quality variant) keyed by a **per-process random seed**
//!   ([`super::process_seed`]). Source addresses are chosen by whoever sends the packets; with a known
//!   hash an attacker could pick addresses that land in few registers and skew the estimate. All
//!   HLLs of one process share the seed, so the workers' sketches merge with each other and
//!   with the daemon's running total. Sketches from *different* processes (or runs) do not
//!   merge: that would need a fixed seed shared by all parties ([`Hll::with_seed`]), at the cost
//!   of predictability, and is not done by dnsobs.
//! * Estimator: the raw harmonic-mean estimate `α·m²/Σ2^−M[j]`, with linear counting
//!   `m·ln(m/V)` (V = empty registers) while the raw estimate is ≤ 2.5·m. With a 64-bit hash
//!   the large-range correction of the 32-bit original is not needed.
//! * Merge: register-wise maximum, exactly the sketch of the union.

use std::hash::BuildHasher;

use foldhash::quality::FixedState;

pub use super::process_seed;

/// Index bits.
pub const P: u32 = 14;
/// Registers.
pub const M: usize = 1 << P;

/// A dense HyperLogLog with 2^14 registers.
#[derive(Clone)]
pub struct Hll {
    regs: Box<[u8]>,
    seed: u64,
    hasher: FixedState,
}

impl std::fmt::Debug for Hll {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hll")
            .field("estimate", &self.estimate())
            .finish_non_exhaustive()
    }
}

impl Default for Hll {
    fn default() -> Self {
        Self::new()
    }
}

impl Hll {
    /// An empty sketch hashing with the per-process seed.
    pub fn new() -> Self {
        Self::with_seed(process_seed())
    }

    /// A sketch that allocates nothing and ignores inserts: a stand-in while the real one is
    /// moved out (`std::mem::replace` in `Aggregate::clear`).
    pub fn placeholder() -> Self {
        Self {
            regs: Box::default(),
            seed: process_seed(),
            hasher: FixedState::with_seed(process_seed()),
        }
    }

    /// An empty sketch with a given seed (sketches merge only with equal seeds).
    pub fn with_seed(seed: u64) -> Self {
        Self {
            regs: vec![0; M].into_boxed_slice(),
            seed,
            hasher: FixedState::with_seed(seed),
        }
    }

    /// The seed items are hashed with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Adds an item.
    #[inline]
    pub fn insert(&mut self, item: &[u8]) {
        self.insert_hash(self.hasher.hash_one(item));
    }

    /// Adds an item by its 64-bit hash: the top 14 bits choose the register, the rank of the
    /// first 1 bit among the other 50 (1..=51) is the value kept.
    #[inline]
    pub fn insert_hash(&mut self, h: u64) {
        let (idx, rank) = place(h);
        if let Some(r) = self.regs.get_mut(idx)
            && rank > *r
        {
            *r = rank;
        }
    }

    /// Union with registers saved from a sketch of the same seed (a day state file); refused
    /// unless there are [`M`] of them, each a possible rank.
    pub fn merge_registers(&mut self, regs: &[u8]) -> Result<(), String> {
        check_registers(regs)?;
        for (a, &b) in self.regs.iter_mut().zip(regs) {
            if b > *a {
                *a = b;
            }
        }
        Ok(())
    }

    /// Union with `other` (register-wise max). Both must use the same seed.
    pub fn merge(&mut self, other: &Self) {
        debug_assert_eq!(
            self.seed, other.seed,
            "HLLs with different seeds do not merge"
        );
        for (a, &b) in self.regs.iter_mut().zip(other.regs.iter()) {
            if b > *a {
                *a = b;
            }
        }
    }

    /// Empties the sketch, keeping its memory.
    pub fn clear(&mut self) {
        self.regs.fill(0);
    }

    /// True if nothing was inserted.
    pub fn is_empty(&self) -> bool {
        self.regs.iter().all(|&r| r == 0)
    }

    /// Estimated number of distinct items inserted.
    pub fn estimate(&self) -> f64 {
        if self.regs.is_empty() {
            return 0.0; // placeholder
        }
        estimate_of(self.regs.iter().copied())
    }

    /// The registers (for tests and exact comparisons).
    pub fn registers(&self) -> &[u8] {
        &self.regs
    }

    /// Bytes held: 16 KiB.
    pub fn memory_bytes(&self) -> usize {
        self.regs.len()
    }

    /// Merges `other` into `self` unless either is a placeholder.
    pub(crate) fn merge_real(&mut self, other: &Self) {
        // A placeholder on either side holds nothing to merge (and may carry another seed).
        if !self.regs.is_empty() && !other.regs.is_empty() {
            self.merge(other);
        }
    }
}

/// The register of hash `h` (its top 14 bits) and the value it offers there (the rank of the
/// first 1 bit among the other 50, 1..=51).
#[inline(always)]
fn place(h: u64) -> (usize, u8) {
    let idx = (h >> (64 - P)) as usize;
    let rank = ((h << P) | (1 << (P - 1))).leading_zeros() as u8 + 1;
    (idx, rank)
}

/// The estimate of a sketch whose [`M`] registers `regs` yields.
fn estimate_of(regs: impl Iterator<Item = u8>) -> f64 {
    let m = M as f64;
    let mut sum = 0.0;
    let mut zeros = 0u32;
    for r in regs {
        // 2^−r, exactly, for r ≤ 64.
        sum += f64::from_bits((1023 - u64::from(r)) << 52);
        zeros += u32::from(r == 0);
    }
    let alpha = 0.7213 / (1.0 + 1.079 / m);
    let raw = alpha * m * m / sum;
    if raw <= 2.5 * m && zeros > 0 {
        m * (m / f64::from(zeros)).ln()
    } else {
        raw
    }
}

/// Registers saved from a sketch (a day state file) are [`M`] possible ranks.
fn check_registers(regs: &[u8]) -> Result<(), String> {
    if regs.len() != M || regs.iter().any(|&r| r > 64 - P as u8 + 1) {
        return Err(format!(
            "a HyperLogLog of {} registers where {M} are expected, or a rank out of range",
            regs.len()
        ));
    }
    Ok(())
}

/// Sketches an [`HllBank`] holds at most.
pub const BANK: usize = 16;

/// Up to [`BANK`] HyperLogLogs always fed the same hashes (properties of one key: every
/// resolver, the resolvers that used EDNS, DO, …), with their registers interleaved: register
/// `i` of every sketch in one 16-byte group, so a hash inserted into several of them touches
/// one cache line instead of one per sketch. Each sketch estimates, merges and saves its
/// registers exactly as an [`Hll`] (same index bits, ranks and estimator); the bank holds
/// 16 × 16 KiB = 256 KiB whatever the number of sketches used.
#[derive(Clone, Debug, Default)]
pub struct HllBank {
    regs: Box<[[u8; BANK]]>,
}

impl HllBank {
    /// An empty bank.
    pub fn new() -> Self {
        Self {
            regs: vec![[0; BANK]; M].into_boxed_slice(),
        }
    }

    /// A bank that allocates nothing and ignores inserts (see [`Hll::placeholder`]).
    pub fn placeholder() -> Self {
        Self::default()
    }

    /// Adds an item, by its 64-bit hash, to each sketch `j` whose bit `1 << j` is set in
    /// `sketches` (register and rank as [`Hll::insert_hash`]).
    #[inline]
    pub fn insert_hash(&mut self, sketches: u16, h: u64) {
        let (idx, rank) = place(h);
        let Some(group) = self.regs.get_mut(idx) else {
            return; // placeholder
        };
        let mut left = sketches;
        while left != 0 {
            let r = &mut group[left.trailing_zeros() as usize];
            if rank > *r {
                *r = rank;
            }
            left &= left - 1;
        }
    }

    /// Estimated number of distinct items inserted into sketch `j`.
    pub fn estimate(&self, j: usize) -> f64 {
        if self.regs.is_empty() {
            return 0.0;
        }
        estimate_of(self.regs.iter().map(|g| g[j]))
    }

    /// True if nothing was inserted into sketch `j`.
    pub fn is_empty(&self, j: usize) -> bool {
        self.regs.iter().all(|g| g[j] == 0)
    }

    /// Sketch `j`'s registers, as [`Hll::registers`] (allocates: state files only; empty for a
    /// placeholder).
    pub fn registers(&self, j: usize) -> Vec<u8> {
        self.regs.iter().map(|g| g[j]).collect()
    }

    /// Union of sketch `j` with registers saved from a sketch of the same seed (refused as
    /// [`Hll::merge_registers`] refuses them).
    pub fn merge_registers(&mut self, j: usize, regs: &[u8]) -> Result<(), String> {
        check_registers(regs)?;
        for (g, &b) in self.regs.iter_mut().zip(regs) {
            g[j] = g[j].max(b);
        }
        Ok(())
    }

    /// Union with another bank of the same seed, sketch by sketch (nothing with a placeholder
    /// on either side).
    pub fn merge(&mut self, other: &Self) {
        for (a, b) in self.regs.iter_mut().zip(other.regs.iter()) {
            for (x, &y) in a.iter_mut().zip(b) {
                *x = (*x).max(y);
            }
        }
    }

    /// Empties every sketch, keeping the memory.
    pub fn clear(&mut self) {
        self.regs.fill([0; BANK]);
    }

    /// Bytes held: 256 KiB (none for a placeholder).
    pub fn memory_bytes(&self) -> usize {
        self.regs.len() * BANK
    }
}

//============ Testing =======================================================

#[cfg(test)]
mod test {
    use super::*;

    fn rel_err(h: &Hll, n: usize) -> f64 {
        (h.estimate() - n as f64).abs() / n as f64
    }

    #[test]
    fn small_counts_are_near_exact() {
        // Exact unless two items share a register (probability ≈ C(14,2)/2^14 ≈ 0.6 % for a
        // random seed): a fixed seed keeps the test reproducible.
        let mut h = Hll::with_seed(1);
        assert!(h.is_empty());
        assert_eq!(h.estimate(), 0.0);
        for i in 0..14u32 {
            h.insert(&i.to_be_bytes());
            h.insert(&i.to_be_bytes());
        }
        assert_eq!(h.estimate().round(), 14.0);
    }

    #[test]
    fn error_within_three_percent() {
        for (n, seed) in [(100_000usize, 1u64), (1_000_000, 2), (30_000, 3)] {
            let mut h = Hll::with_seed(seed);
            for i in 0..n as u64 {
                // IPv6-like 16-byte items.
                let mut a = [0u8; 16];
                a[..8].copy_from_slice(&0x2001_0db8_0000_0000u64.to_be_bytes());
                a[8..].copy_from_slice(&i.to_be_bytes());
                h.insert(&a);
            }
            let e = rel_err(&h, n);
            assert!(
                e < 0.03,
                "n = {n}: estimate {} ({:.2} %)",
                h.estimate(),
                100.0 * e
            );
        }
    }

    #[test]
    fn merge_of_halves_is_the_union_exactly() {
        let (mut a, mut b, mut all) = (Hll::new(), Hll::new(), Hll::new());
        for i in 0..200_000u32 {
            let k = i.to_le_bytes();
            all.insert(&k);
            if i % 2 == 0 { &mut a } else { &mut b }.insert(&k);
        }
        let mut m = a.clone();
        m.merge(&b);
        assert_eq!(m.registers(), all.registers());
        assert_eq!(m.estimate(), all.estimate());
        // Idempotent: merging again changes nothing.
        m.merge(&b);
        assert_eq!(m.registers(), all.registers());
        m.clear();
        assert!(m.is_empty());
        assert_eq!(m.memory_bytes(), 16 * 1024);
    }

    #[test]
    fn bank_sketches_equal_separate_hlls() {
        // Three properties of a stream of keys, fed to a bank and to three sketches: every
        // register, estimate, saved registers and merge agree.
        let (mut bank, mut other) = (HllBank::new(), HllBank::new());
        let mut hs: [Hll; 3] = std::array::from_fn(|_| Hll::with_seed(9));
        let mut os: [Hll; 3] = std::array::from_fn(|_| Hll::with_seed(9));
        let mut r = 4;
        for i in 0..60_000u32 {
            let h = crate::aggregate::sketch::splitmix64(&mut r);
            let mask = 1 | (u16::from(i % 3 == 0) << 1) | (u16::from(i % 7 == 0) << 2);
            let (b, s) = if i % 2 == 0 {
                (&mut bank, &mut hs)
            } else {
                (&mut other, &mut os)
            };
            b.insert_hash(mask, h);
            for (j, x) in s.iter_mut().enumerate() {
                if mask & (1 << j) != 0 {
                    x.insert_hash(h);
                }
            }
        }
        for (j, h) in hs.iter().enumerate() {
            assert_eq!(bank.registers(j), h.registers());
            assert_eq!(bank.estimate(j), h.estimate());
            assert!(!bank.is_empty(j));
        }
        assert!(bank.is_empty(3) && bank.estimate(3) < 1.0);
        let mut saved = HllBank::new();
        for (j, (h, o)) in hs.iter_mut().zip(&os).enumerate() {
            saved.merge_registers(j, &other.registers(j)).unwrap();
            h.merge(o);
        }
        bank.merge(&saved);
        for (j, h) in hs.iter().enumerate() {
            assert_eq!(bank.registers(j), h.registers());
        }
        assert!(saved.merge_registers(0, &[0; 3]).is_err());
        assert_eq!(bank.memory_bytes(), 16 * M);
        bank.clear();
        assert!(bank.is_empty(0));
        let mut p = HllBank::placeholder();
        p.insert_hash(1, 5);
        assert!(p.is_empty(0) && p.estimate(0) == 0.0 && p.memory_bytes() == 0);
    }
}
