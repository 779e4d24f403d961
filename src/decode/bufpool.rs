//! Reassembly buffers in size classes (powers of two and 1.5 times them), recycled through
//! bounded per-class pools.
//!
//! Why classes: a flood of partial messages of every size from 20 to 1460 bytes, replaced
//! every timeout, made the allocator's heap grow by ~9 MiB per turnover of the TCP table
//! (freed chunks of one size rarely fitted the next request of another). With a handful of
//! sizes every freed buffer fits a later request of its class, so the heap stays flat. Half
//! steps between powers of two keep the rounding waste under a third (about 17 % on sizes
//! spread evenly), where powers of two alone held 50 % more than the data.
//! Capacity is what a buffer holds, so the byte budgets count [`Vec::capacity`].

/// Smallest class (bytes).
const MIN_CLASS: usize = 64;
/// Classes 64 B, 96 B, 128 B, ... 128 KiB (a 65535-byte message, its length prefix and a
/// segment fit).
const CLASSES: usize = 23;
/// Bytes kept per class (at most 256 buffers of a class): about 13 MiB over all classes.
const CLASS_BYTES: usize = 1 << 20;
const CLASS_COUNT: usize = 256;

/// The class capacity for `n` bytes.
#[inline]
pub fn class_of(n: usize) -> usize {
    let p = n.max(MIN_CLASS).next_power_of_two();
    let three_quarters = p / 4 * 3;
    if p > MIN_CLASS && n <= three_quarters {
        three_quarters
    } else {
        p
    }
}

/// The pool of a class capacity (none for other capacities).
#[inline]
fn index(cap: usize) -> Option<usize> {
    let base = MIN_CLASS.trailing_zeros();
    let i = if cap.is_power_of_two() {
        2 * cap.trailing_zeros().checked_sub(base)?
    } else if cap.is_multiple_of(3) && (cap / 3).is_power_of_two() {
        // 3 * 2^j is three quarters of 2^(j + 2): the class just below it.
        (2 * ((cap / 3).trailing_zeros() + 2).checked_sub(base)?).checked_sub(1)?
    } else {
        return None;
    };
    let i = i as usize;
    (i < CLASSES && class_of(cap) == cap).then_some(i)
}

/// Bounded pools of empty buffers, one per size class.
#[derive(Default)]
pub struct BufPool {
    classes: [Vec<Vec<u8>>; CLASSES],
}

impl BufPool {
    /// An empty buffer whose capacity is the class of `n` (from the pool if it has one).
    #[inline]
    pub fn take(&mut self, n: usize) -> Vec<u8> {
        let cap = class_of(n);
        if let Some(b) = index(cap).and_then(|i| self.classes[i].pop()) {
            return b;
        }
        Vec::with_capacity(cap)
    }

    /// Keeps an emptied buffer for reuse (bounded), or frees it.
    #[inline]
    pub fn give(&mut self, mut b: Vec<u8>) {
        if let Some(i) = index(b.capacity()) {
            let pool = &mut self.classes[i];
            if pool.len() < CLASS_COUNT.min(CLASS_BYTES / b.capacity()).max(1) {
                b.clear();
                pool.push(b);
            }
        }
    }

    /// Makes room for `extra` more bytes in `b`: if it lacks it, moves its bytes into a
    /// buffer of the class that fits them all and recycles the old one.
    #[inline]
    pub fn reserve(&mut self, b: &mut Vec<u8>, extra: usize) {
        let need = b.len() + extra;
        if need <= b.capacity() {
            return;
        }
        let mut bigger = self.take(need);
        bigger.extend_from_slice(b);
        let old = std::mem::replace(b, bigger);
        if old.capacity() > 0 {
            self.give(old);
        }
    }

    /// Bytes held by the pooled buffers.
    pub fn held(&self) -> usize {
        self.classes
            .iter()
            .map(|c| c.iter().map(Vec::capacity).sum::<usize>())
            .sum()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn classes_and_bounds() {
        assert_eq!(class_of(0), 64);
        assert_eq!(class_of(65), 96);
        assert_eq!(class_of(97), 128);
        assert_eq!(class_of(1460), 1536);
        assert_eq!(class_of(1537), 2048);
        // Every class has its own pool, in order.
        let mut cap = 64;
        for i in 0..CLASSES {
            assert_eq!(index(cap), Some(i), "{cap}");
            cap = class_of(cap + 1);
        }
        assert_eq!(cap, 192 << 10);
        assert_eq!(index(cap), None);
        assert_eq!(index(48), None);
        let mut p = BufPool::default();
        let mut b = p.take(20);
        assert_eq!(b.capacity(), 64);
        b.extend_from_slice(&[1; 60]);
        p.reserve(&mut b, 10);
        assert_eq!((b.len(), b.capacity(), &b[..2]), (60, 96, &[1u8, 1][..]));
        // The 64-byte buffer went back to its pool and is handed out again.
        assert_eq!(p.held(), 64);
        assert_eq!(p.take(1).capacity(), 64);
        assert_eq!(p.held(), 0);
        // Bounded: at most 256 buffers of a small class, 1 MiB of a large one.
        for _ in 0..300 {
            p.give(Vec::with_capacity(64));
            p.give(Vec::with_capacity(64 << 10));
        }
        assert_eq!(p.held(), 256 * 64 + 16 * (64 << 10));
        // Odd capacities (not from the pool) are freed, not kept.
        p.give(Vec::with_capacity(100));
        assert_eq!(p.held(), 256 * 64 + 16 * (64 << 10));
    }
}
