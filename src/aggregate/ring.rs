//! A fixed ring of queued items, oldest first: the batches of the per-source updates
//! ([`super::sources`], [`super::hygiene`]). A query's table slot is prefetched when the query
//! enters the ring and written when it falls out, so the cache misses of a batch overlap; the
//! order of updates is the arrival order, so results do not depend on the ring's size.
//!
//! HOT PATH: allocated once; `push` and `pop` are index arithmetic (a compare, no division).

/// A ring of at most `capacity` items (see the module).
#[derive(Clone, Debug)]
pub struct Ring<T> {
    buf: Box<[T]>,
    head: usize,
    len: usize,
}

impl<T: Copy + Default> Ring<T> {
    /// A ring of `capacity` items (0: every item falls out as it is pushed).
    pub fn new(capacity: usize) -> Self {
        Self {
            buf: vec![T::default(); capacity].into_boxed_slice(),
            head: 0,
            len: 0,
        }
    }

    /// Items the ring holds at most.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Items queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queues `item`; returns the oldest item if the ring was full (or `item` itself if the
    /// ring has no room at all).
    #[inline]
    pub fn push(&mut self, item: T) -> Option<T> {
        let cap = self.buf.len();
        if cap == 0 {
            return Some(item);
        }
        if self.len == cap {
            let out = std::mem::replace(&mut self.buf[self.head], item);
            self.head = wrap(self.head + 1, cap);
            return Some(out);
        }
        self.buf[wrap(self.head + self.len, cap)] = item;
        self.len += 1;
        None
    }

    /// Takes the oldest item.
    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let out = self.buf[self.head];
        self.head = wrap(self.head + 1, self.buf.len());
        self.len -= 1;
        Some(out)
    }

    /// The `i`-th queued item, from the oldest (0).
    #[inline]
    pub fn get(&self, i: usize) -> Option<&T> {
        (i < self.len).then(|| &self.buf[wrap(self.head + i, self.buf.len())])
    }

    /// The queued items, oldest first (without taking them).
    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        (0..self.len).filter_map(move |i| self.get(i))
    }

    /// Forgets every queued item.
    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }
}

/// `i mod cap` for `i < 2 · cap` (an index one lap past the end at most): a compare instead
/// of the division of `%`, which cost several divisions per query in the batching rings.
#[inline(always)]
fn wrap(i: usize, cap: usize) -> usize {
    if i >= cap { i - cap } else { i }
}

//============ Testing =======================================================

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn keeps_order_for_every_capacity() {
        for cap in [0, 1, 2, 5, 16] {
            let mut r = Ring::new(cap);
            let mut out = Vec::new();
            for i in 0..40u32 {
                if i == 20 && cap > 2 {
                    assert_eq!(r.get(0), Some(&(20 - cap as u32)));
                    assert_eq!(r.iter().count(), cap);
                }
                out.extend(r.push(i));
            }
            while let Some(i) = r.pop() {
                out.push(i);
            }
            assert_eq!(out, (0..40).collect::<Vec<_>>(), "capacity {cap}");
            assert!(r.is_empty());
        }
    }
}
