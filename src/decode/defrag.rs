//! Bounded IPv4/IPv6 fragment reassembly (per worker).
//!
//! etherparse's `IpDefragPool` documents itself as not safe against memory exhaustion, so this
//! table is written for a flood: at most `max_datagrams` in flight (the oldest is evicted when a
//! new one arrives at a full table), at most `MAX_PIECES` pieces per datagram, a timeout in
//! capture time, and reassembly buffers recycled through a pool, so steady state allocates
//! nothing. Every datagram dropped is counted.

use std::collections::{HashMap, VecDeque};

use super::Event;
use super::bufpool::{BufPool, class_of};
use super::ip::{Addr, Frag};
use super::malformed::Malformed;

/// Pieces one datagram may arrive in (a 65535-byte datagram over a 1280 MTU needs 52).
const MAX_PIECES: usize = 64;
/// Largest reassembled payload (the IP length fields allow no more).
const MAX_DATAGRAM: usize = 65535;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    src: Addr,
    dst: Addr,
    id: u32,
    proto: u8,
    version: u8,
}

struct Entry {
    buf: Vec<u8>,
    pieces: Vec<(u32, u32)>,
    total: Option<usize>,
    first_ns: u64,
}

/// Piece lists kept for reuse.
const PIECES_POOL: usize = 64;

/// Limits of the reassembly table.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Datagrams being reassembled at once.
    pub max_datagrams: usize,
    /// Bytes of reassembly buffers held at once, by capacity (a datagram that would exceed it
    /// is dropped).
    pub max_bytes: usize,
    /// Drop a datagram this long (capture time) after its first fragment.
    pub timeout_ns: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_datagrams: 4096,
            max_bytes: 16 << 20,
            timeout_ns: 30_000_000_000,
        }
    }
}

/// The reassembly table.
pub struct Defrag {
    limits: Limits,
    table: HashMap<Key, Entry, foldhash::fast::RandomState>,
    /// Datagrams in arrival order (with their first time, to skip entries since replaced), so
    /// evicting the oldest costs O(1) amortised, not a scan of the table per fragment.
    order: VecDeque<(Key, u64)>,
    /// Datagram buffers by size class, and piece lists, for reuse.
    bufs: BufPool,
    pieces_pool: Vec<Vec<(u32, u32)>>,
    /// The most recently completed datagram's payload (valid until the next call).
    done: Vec<u8>,
    /// Sum of the buffer capacities of the datagrams in the table (the memory they hold).
    bytes: usize,
    last_sweep_ns: u64,
}

/// What happened to a fragment.
pub enum Outcome {
    /// Stored; the datagram is not complete yet.
    Pending,
    /// The datagram is complete: its payload is in [`Defrag::payload`].
    Complete,
    /// The fragment was invalid and dropped.
    Invalid(Malformed),
}

impl Defrag {
    /// An empty table.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            table: HashMap::with_capacity_and_hasher(limits.max_datagrams, Default::default()),
            order: VecDeque::with_capacity(256),
            bufs: BufPool::default(),
            pieces_pool: Vec::new(),
            done: Vec::new(),
            bytes: 0,
            last_sweep_ns: 0,
        }
    }

    /// Datagrams in flight.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True if nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The payload completed by the last call that returned [`Outcome::Complete`].
    pub fn payload(&self) -> &[u8] {
        &self.done
    }

    /// The completed payload's buffer, to take it out while it is processed and put it back
    /// (so its allocation is reused).
    pub fn done_mut(&mut self) -> &mut Vec<u8> {
        &mut self.done
    }

    /// Puts back a payload taken out through [`Self::done_mut`]. A payload completed meanwhile
    /// (a datagram reassembled inside a reassembled tunnel packet) goes back to the pool, so
    /// nested reassembly allocates nothing once warm either.
    pub fn restore_done(&mut self, payload: Vec<u8>) {
        let meanwhile = std::mem::replace(&mut self.done, payload);
        if meanwhile.capacity() > 0 {
            self.bufs.give(meanwhile);
        }
    }

    /// Adds one fragment. `events` receives eviction/expiry counts.
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &mut self,
        version: u8,
        src: &Addr,
        dst: &Addr,
        proto: u8,
        frag: Frag,
        data: &[u8],
        ts_ns: u64,
        events: &mut impl FnMut(Event),
    ) -> Outcome {
        let end = frag.offset + data.len();
        if end > MAX_DATAGRAM || (frag.more && !data.len().is_multiple_of(8)) {
            return Outcome::Invalid(Malformed::FragmentInvalid);
        }
        self.sweep(ts_ns, events);
        let key = Key {
            src: *src,
            dst: *dst,
            id: frag.id,
            proto,
            version,
        };
        if let Some(e) = self.table.get(&key)
            && ts_ns.saturating_sub(e.first_ns) > self.limits.timeout_ns
        {
            self.remove(&key);
            events(Event::FragmentExpired);
        }
        if !self.table.contains_key(&key) {
            if self.table.len() >= self.limits.max_datagrams {
                self.evict_oldest();
                events(Event::FragmentEvicted);
            }
            // The byte buffer is taken when the first bytes are stored, sized for them.
            let pieces = self.pieces_pool.pop().unwrap_or_default();
            self.order.push_back((key, ts_ns));
            if self.order.len() > 2 * self.table.len() + 64 {
                // Drop order entries of datagrams already completed or removed (amortised O(1):
                // at least half the entries go each time, so the deque never outgrows its use).
                let table = &self.table;
                self.order
                    .retain(|(k, t)| table.get(k).is_some_and(|e| e.first_ns == *t));
            }
            self.table.insert(
                key,
                Entry {
                    buf: Vec::new(),
                    pieces,
                    total: None,
                    first_ns: ts_ns,
                },
            );
        }
        let Some(e) = self.table.get_mut(&key) else {
            return Outcome::Pending; // unreachable: inserted above
        };
        if e.pieces.len() >= MAX_PIECES {
            self.remove(&key);
            return Outcome::Invalid(Malformed::FragmentInvalid);
        }
        if !frag.more {
            if e.total.is_some_and(|t| t != end) {
                self.remove(&key);
                return Outcome::Invalid(Malformed::FragmentInvalid);
            }
            e.total = Some(end);
        }
        // Growth to the size class of the new end (what the allocation will really hold).
        let old_cap = e.buf.capacity();
        let grow = if end > old_cap {
            class_of(end) - old_cap
        } else {
            0
        };
        if self.bytes + grow > self.limits.max_bytes {
            // Over the memory budget (a fragment flood): drop this datagram, count it.
            self.remove(&key);
            events(Event::FragmentEvicted);
            return Outcome::Pending;
        }
        let Some(e) = self.table.get_mut(&key) else {
            return Outcome::Pending; // unreachable: present above
        };
        if end > e.buf.len() {
            let extra = end - e.buf.len();
            self.bufs.reserve(&mut e.buf, extra);
            e.buf.resize(end, 0);
        }
        self.bytes = self.bytes + e.buf.capacity() - old_cap;
        e.buf[frag.offset..end].copy_from_slice(data);
        e.pieces.push((frag.offset as u32, end as u32));
        let Some(total) = e.total else {
            return Outcome::Pending;
        };
        if !covers(&mut e.pieces, total) {
            return Outcome::Pending;
        }
        if let Some(mut e) = self.table.remove(&key) {
            self.bytes -= e.buf.capacity();
            e.buf.truncate(total);
            std::mem::swap(&mut self.done, &mut e.buf);
            self.recycle(e);
        }
        Outcome::Complete
    }

    fn remove(&mut self, key: &Key) {
        if let Some(e) = self.table.remove(key) {
            self.bytes -= e.buf.capacity();
            self.recycle(e);
        }
    }

    fn recycle(&mut self, e: Entry) {
        recycle(&mut self.bufs, &mut self.pieces_pool, e);
    }

    fn evict_oldest(&mut self) {
        while let Some((k, t)) = self.order.pop_front() {
            if self.table.get(&k).is_some_and(|e| e.first_ns == t) {
                self.remove(&k);
                return;
            }
        }
    }

    /// Drops timed-out datagrams, at most once per second of capture time.
    fn sweep(&mut self, now: u64, events: &mut impl FnMut(Event)) {
        if now.saturating_sub(self.last_sweep_ns) < 1_000_000_000 {
            return;
        }
        self.last_sweep_ns = now;
        let timeout = self.limits.timeout_ns;
        let (bufs, pieces_pool) = (&mut self.bufs, &mut self.pieces_pool);
        let mut expired = 0;
        for (_, e) in self
            .table
            .extract_if(|_, e| now.saturating_sub(e.first_ns) > timeout)
        {
            expired += 1;
            self.bytes -= e.buf.capacity();
            recycle(bufs, pieces_pool, e);
        }
        for _ in 0..expired {
            events(Event::FragmentExpired);
        }
    }
}

/// Keeps a removed datagram's buffers for reuse (bounded).
fn recycle(bufs: &mut BufPool, pieces_pool: &mut Vec<Vec<(u32, u32)>>, mut e: Entry) {
    if e.buf.capacity() > 0 {
        bufs.give(e.buf);
    }
    if pieces_pool.len() < PIECES_POOL && e.pieces.capacity() > 0 {
        e.pieces.clear();
        pieces_pool.push(e.pieces);
    }
}

/// Whether the pieces cover `0..total` (sorts them in place).
fn covers(pieces: &mut [(u32, u32)], total: usize) -> bool {
    pieces.sort_unstable();
    let mut reach = 0u32;
    for &(s, e) in pieces.iter() {
        if s > reach {
            return false;
        }
        reach = reach.max(e);
    }
    reach as usize >= total
}

//============ Testing =======================================================

#[cfg(test)]
mod test {
    use super::*;

    fn frag(offset: usize, more: bool) -> Frag {
        Frag {
            id: 1,
            offset,
            more,
        }
    }

    #[test]
    fn out_of_order_pieces_reassemble() {
        let mut d = Defrag::new(Limits::default());
        let a = [0u8; 16];
        let mut ev = |_e: Event| {};
        assert!(matches!(
            d.push(4, &a, &a, 17, frag(16, false), &[3; 4], 1, &mut ev),
            Outcome::Pending
        ));
        assert!(matches!(
            d.push(4, &a, &a, 17, frag(8, true), &[2; 8], 2, &mut ev),
            Outcome::Pending
        ));
        assert!(matches!(
            d.push(4, &a, &a, 17, frag(0, true), &[1; 8], 3, &mut ev),
            Outcome::Complete
        ));
        assert_eq!(d.payload().len(), 20);
        assert_eq!(&d.payload()[6..10], &[1, 1, 2, 2]);
        assert!(d.is_empty());
    }

    #[test]
    fn table_is_bounded_and_counts_evictions_and_expiry() {
        let mut d = Defrag::new(Limits {
            max_datagrams: 4,
            timeout_ns: 10,
            ..Limits::default()
        });
        let mut seen = Vec::new();
        let mut ev = |e: Event| seen.push(e);
        for i in 0..100u32 {
            let f = Frag {
                id: i,
                offset: 0,
                more: true,
            };
            d.push(4, &[0; 16], &[0; 16], 17, f, &[0; 8], 5, &mut ev);
        }
        assert_eq!(d.len(), 4);
        let f = Frag {
            id: 1000,
            offset: 0,
            more: true,
        };
        d.push(
            4,
            &[0; 16],
            &[0; 16],
            17,
            f,
            &[0; 8],
            2_000_000_000,
            &mut ev,
        );
        assert_eq!(d.len(), 1);
        let count = |k: Event| seen.iter().filter(|e| **e == k).count();
        assert_eq!(
            (count(Event::FragmentEvicted), count(Event::FragmentExpired)),
            (96, 4)
        );
    }

    #[test]
    fn buffer_bytes_are_bounded() {
        let limits = Limits {
            max_datagrams: 100,
            max_bytes: 1000,
            timeout_ns: 1 << 40,
        };
        let mut d = Defrag::new(limits);
        let mut evicted = 0;
        for i in 0..50u32 {
            let f = Frag {
                id: i,
                offset: 0,
                more: true,
            };
            d.push(4, &[0; 16], &[0; 16], 17, f, &[0; 512], 5, &mut |e| {
                evicted += usize::from(e == Event::FragmentEvicted);
            });
        }
        assert_eq!((d.len(), evicted), (1, 49));
        assert!(d.bytes <= 1000);
    }

    /// The capacity the datagrams in the table really hold.
    fn real(d: &Defrag) -> usize {
        d.table.values().map(|e| e.buf.capacity()).sum()
    }

    #[test]
    fn budget_counts_capacity_not_length() {
        // A 64 KiB datagram completes; its buffer is recycled. Then small first fragments:
        // counting lengths, one of them got the 64 KiB buffer for its 8 bytes, uncounted.
        let mut d = Defrag::new(Limits {
            max_datagrams: 100,
            max_bytes: 66_000,
            timeout_ns: 1 << 40,
        });
        let (a, evicted) = ([0u8; 16], std::cell::Cell::new(0));
        let mut ev =
            |e: Event| evicted.set(evicted.get() + usize::from(e == Event::FragmentEvicted));
        let f = |id, offset, more| Frag { id, offset, more };
        d.push(4, &a, &a, 17, f(1, 0, true), &[1; 32_768], 1, &mut ev);
        assert_eq!((d.bytes, real(&d)), (32_768, 32_768));
        let r = d.push(4, &a, &a, 17, f(1, 32_768, false), &[2; 32_000], 2, &mut ev);
        assert!(matches!(r, Outcome::Complete));
        assert_eq!((d.payload().len(), d.bytes, real(&d)), (64_768, 0, 0));
        for id in 10..20 {
            d.push(4, &a, &a, 17, f(id, 0, true), &[3; 8], 3, &mut ev);
            assert_eq!(d.bytes, real(&d));
        }
        // Ten 8-byte datagrams hold ten 64-byte buffers.
        assert_eq!((d.len(), d.bytes, evicted.get()), (10, 640, 0));
        // A datagram growing past the budget is dropped and counted; the others stay.
        d.push(4, &a, &a, 17, f(30, 0, true), &[4; 65_000], 4, &mut ev);
        assert_eq!(
            (d.len(), d.bytes, real(&d), evicted.get()),
            (10, 640, 640, 1)
        );
    }

    #[test]
    fn oversized_and_misaligned_fragments_are_invalid() {
        let mut d = Defrag::new(Limits::default());
        let a = [0u8; 16];
        let mut ev = |_e: Event| {};
        let r = d.push(4, &a, &a, 17, frag(65528, false), &[0; 16], 1, &mut ev);
        assert!(matches!(r, Outcome::Invalid(Malformed::FragmentInvalid)));
        let r = d.push(4, &a, &a, 17, frag(0, true), &[0; 7], 1, &mut ev);
        assert!(matches!(r, Outcome::Invalid(Malformed::FragmentInvalid)));
    }
}
