//! DNS over TCP: per-direction stream reassembly and 2-byte length framing (RFC 1035 4.2.2).
//!
//! Several messages in one segment, one message over several segments, retransmissions and
//! out-of-order segments within a window are handled. State exists only for directions that
//! carried data, so a SYN flood costs nothing; the table is capped (flows and buffered bytes),
//! idle flows time out in capture time, and a flow that finds the table full is decoded
//! statelessly (complete messages in the segment still count) and counted as untracked.

use std::collections::HashMap;

use super::Event;
use super::bufpool::{BufPool, class_of};
use super::ip::{Addr, Tcp};

/// Out-of-order segments kept per direction.
const MAX_OOO: usize = 8;
/// Initial capacity of the flow table.
const INITIAL_FLOWS: usize = 64;
/// How far ahead of the expected sequence number a segment may be and still be kept.
const WINDOW: u32 = 1 << 20;

/// One direction of a TCP connection.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct FlowKey {
    /// Source address.
    pub src: Addr,
    /// Destination address.
    pub dst: Addr,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
}

struct Stream {
    next_seq: u32,
    buf: Vec<u8>,
    ooo: Vec<(u32, Vec<u8>)>,
    last_ns: u64,
}

/// Limits of the flow table.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Directions tracked at once.
    pub max_flows: usize,
    /// Bytes of buffers held across all flows (partial messages and out-of-order segments),
    /// counted by capacity: the memory they really hold.
    pub max_buffered: usize,
    /// Forget a direction idle this long (capture time).
    pub timeout_ns: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_flows: 16384,
            max_buffered: 32 << 20,
            timeout_ns: 60_000_000_000,
        }
    }
}

/// What reassembly hands back.
pub enum Out<'a> {
    /// A complete DNS message (without its length prefix).
    Message(&'a [u8]),
    /// A direction closed with a partial message buffered.
    Incomplete,
    /// A counter event.
    Event(Event),
}

/// The per-worker flow table.
pub struct TcpTable {
    limits: Limits,
    table: HashMap<FlowKey, Stream, foldhash::fast::RandomState>,
    /// Byte buffers kept for reuse: stream buffers and out-of-order segment copies.
    pool: BufPool,
    /// Out-of-order lists kept for reuse.
    ooo_pool: Vec<Vec<(u32, Vec<u8>)>>,
    /// Capacity of every buffer the streams hold (see [`held`]).
    buffered: usize,
    last_sweep_ns: u64,
}

impl TcpTable {
    /// An empty table.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            // Small at first: the table grows to the working set during warm-up (the only
            // allocations; hashbrown never shrinks, so steady state allocates nothing, see
            // tests/integration/alloc.rs) and stays capped by `max_flows`. Preallocating 16384
            // flows spread a few live flows over 3.4 MB, and every lookup missed the cache
            // (the largest item in a replay profile).
            table: HashMap::with_capacity_and_hasher(
                limits.max_flows.min(INITIAL_FLOWS),
                Default::default(),
            ),
            pool: BufPool::default(),
            ooo_pool: Vec::new(),
            buffered: 0,
            last_sweep_ns: 0,
        }
    }

    /// Directions tracked now.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True if no direction is tracked.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Feeds one segment.
    pub fn segment(
        &mut self,
        key: FlowKey,
        seg: &Tcp<'_>,
        ts_ns: u64,
        out: &mut impl FnMut(Out<'_>),
    ) {
        if seg.rst {
            self.close(&key, out);
            return;
        }
        let mut seq = seg.seq;
        if seg.syn {
            self.close(&key, out);
            seq = seq.wrapping_add(1);
        }
        if seg.payload.is_empty() {
            if seg.fin {
                self.close(&key, out);
            }
            return;
        }
        let live = match self.table.get(&key) {
            Some(s) if ts_ns.saturating_sub(s.last_ns) > self.limits.timeout_ns => {
                self.drop_flow(&key);
                out(Out::Event(Event::TcpFlowExpired));
                false
            }
            Some(_) => true,
            None => false,
        };
        if !live {
            if self.table.len() >= self.limits.max_flows {
                // At most once per second of capture time: a flood of new flows against a full
                // table must not cost a scan of the table per segment.
                self.sweep(ts_ns, false, out);
            }
            if self.table.len() >= self.limits.max_flows {
                out(Out::Event(Event::TcpFlowUntracked));
                cut(seg.payload, out);
                return;
            }
            // No byte buffer yet: one is taken only while a partial message waits.
            let ooo = self.ooo_pool.pop().unwrap_or_default();
            self.table.insert(
                key,
                Stream {
                    next_seq: seq,
                    buf: Vec::new(),
                    ooo,
                    last_ns: ts_ns,
                },
            );
        }
        self.sweep(ts_ns, false, out);
        self.data(&key, seq, seg.payload, ts_ns, out);
        if seg.fin {
            self.close(&key, out);
        }
    }

    fn data(
        &mut self,
        key: &FlowKey,
        seq: u32,
        mut data: &[u8],
        ts_ns: u64,
        out: &mut impl FnMut(Out<'_>),
    ) {
        let Some(s) = self.table.get_mut(key) else {
            return;
        };
        s.last_ns = ts_ns;
        let before = held(s);
        let rel = seq.wrapping_sub(s.next_seq) as i32;
        if rel < 0 {
            let old = rel.unsigned_abs() as usize;
            if old >= data.len() {
                out(Out::Event(Event::TcpRetransmit));
                return;
            }
            data = &data[old..];
        } else if rel > 0 {
            if rel as u32 <= WINDOW
                && s.ooo.len() < MAX_OOO
                && self.buffered + class_of(data.len()) <= self.limits.max_buffered
            {
                // A pooled buffer: reordering allocates only until the pool has warmed up.
                let mut copy = self.pool.take(data.len());
                copy.extend_from_slice(data);
                self.buffered += copy.capacity();
                s.ooo.push((seq, copy));
                return;
            }
            // A hole we will not see filled: resynchronise at this segment.
            out(Out::Event(Event::TcpGap));
            s.buf.clear();
            for (_, d) in s.ooo.drain(..) {
                self.pool.give(d);
            }
            s.next_seq = seq;
        }
        feed(s, data, &mut self.pool, out);
        // Drain out-of-order segments that now fit.
        while let Some(i) = s
            .ooo
            .iter()
            .position(|(q, _)| (q.wrapping_sub(s.next_seq) as i32) <= 0)
        {
            let (q, d) = s.ooo.swap_remove(i);
            let skip = s.next_seq.wrapping_sub(q) as usize;
            if skip < d.len() {
                feed(s, &d[skip..], &mut self.pool, out);
            }
            self.pool.give(d);
        }
        // An idle direction holds no byte buffer (most of them, between messages).
        if s.buf.is_empty() && s.buf.capacity() > 0 {
            self.pool.give(std::mem::take(&mut s.buf));
        }
        self.buffered = self.buffered - before + held(s);
        if self.buffered > self.limits.max_buffered {
            out(Out::Event(Event::TcpBufferOverflow));
            self.drop_flow(key);
        }
    }

    /// Ends a direction: a partial message left behind is reported.
    fn close(&mut self, key: &FlowKey, out: &mut impl FnMut(Out<'_>)) {
        // One lookup: every SYN and FIN comes here, mostly for directions not in the table.
        if let Some(s) = self.table.remove(key) {
            if !s.buf.is_empty() {
                out(Out::Incomplete);
            }
            self.recycle(s);
        }
    }

    fn drop_flow(&mut self, key: &FlowKey) {
        if let Some(s) = self.table.remove(key) {
            self.recycle(s);
        }
    }

    /// Releases a removed direction's bytes and keeps its buffer for the next flow.
    fn recycle(&mut self, s: Stream) {
        self.buffered -= release(&mut self.pool, &mut self.ooo_pool, s);
    }

    /// Forgets idle directions: once per second of capture time, or now if `force`.
    fn sweep(&mut self, now: u64, force: bool, out: &mut impl FnMut(Out<'_>)) {
        if !force && now.saturating_sub(self.last_sweep_ns) < 1_000_000_000 {
            return;
        }
        self.last_sweep_ns = now;
        let timeout = self.limits.timeout_ns;
        let (pool, ooo_pool) = (&mut self.pool, &mut self.ooo_pool);
        let mut freed = 0;
        for (_, s) in self
            .table
            .extract_if(|_, s| now.saturating_sub(s.last_ns) > timeout)
        {
            freed += release(pool, ooo_pool, s);
            out(Out::Event(Event::TcpFlowExpired));
        }
        self.buffered -= freed;
    }
}

/// Out-of-order lists kept for reuse.
const POOL: usize = 256;

/// The bytes of buffers a direction holds (what the byte budget counts).
fn held(s: &Stream) -> usize {
    s.buf.capacity() + s.ooo.iter().map(|(_, d)| d.capacity()).sum::<usize>()
}

/// Returns a removed direction's buffers to the pools; the bytes it held.
fn release(pool: &mut BufPool, ooo_pool: &mut Vec<Vec<(u32, Vec<u8>)>>, mut s: Stream) -> usize {
    let bytes = held(&s);
    pool.give(s.buf);
    for (_, d) in s.ooo.drain(..) {
        pool.give(d);
    }
    if ooo_pool.len() < POOL && s.ooo.capacity() > 0 {
        ooo_pool.push(s.ooo);
    }
    bytes
}

/// Appends in-order bytes and cuts every complete message. Buffers grow by size class
/// (through the pool), never by `Vec`'s own doubling, so their capacities stay few.
fn feed(s: &mut Stream, data: &[u8], pool: &mut BufPool, out: &mut impl FnMut(Out<'_>)) {
    s.next_seq = s.next_seq.wrapping_add(data.len() as u32);
    if s.buf.is_empty() {
        // Fast path: messages straight from the segment, only a tail is copied.
        let used = cut(data, out);
        let tail = &data[used..];
        if !tail.is_empty() {
            pool.reserve(&mut s.buf, tail.len());
            s.buf.extend_from_slice(tail);
        }
    } else {
        pool.reserve(&mut s.buf, data.len());
        s.buf.extend_from_slice(data);
        let used = cut(&s.buf, out);
        s.buf.drain(..used);
    }
}

/// Hands out every complete length-prefixed message; returns the bytes consumed.
fn cut(data: &[u8], out: &mut impl FnMut(Out<'_>)) -> usize {
    let mut pos = 0;
    while let Some(&[h, l]) = data.get(pos..pos + 2) {
        let n = usize::from(u16::from_be_bytes([h, l]));
        let Some(msg) = data.get(pos + 2..pos + 2 + n) else {
            break;
        };
        out(Out::Message(msg));
        pos += 2 + n;
    }
    pos
}

//============ Testing =======================================================

#[cfg(test)]
mod test {
    use super::*;

    fn key() -> FlowKey {
        FlowKey {
            src: [1; 16],
            dst: [2; 16],
            sport: 1000,
            dport: 53,
        }
    }

    fn seg(seq: u32, payload: &[u8], fin: bool) -> Tcp<'_> {
        Tcp {
            sport: 1000,
            dport: 53,
            seq,
            syn: false,
            fin,
            rst: false,
            payload,
        }
    }

    /// Runs segments, returns (messages as lengths, incomplete count, events).
    fn run(t: &mut TcpTable, segs: &[Tcp<'_>]) -> (Vec<usize>, usize, Vec<Event>) {
        let (mut msgs, mut inc, mut ev) = (Vec::new(), 0, Vec::new());
        for s in segs {
            t.segment(key(), s, 1, &mut |o| match o {
                Out::Message(m) => msgs.push(m.len()),
                Out::Incomplete => inc += 1,
                Out::Event(e) => ev.push(e),
            });
        }
        (msgs, inc, ev)
    }

    fn framed(lens: &[usize]) -> Vec<u8> {
        let mut v = Vec::new();
        for &n in lens {
            v.extend_from_slice(&(n as u16).to_be_bytes());
            v.extend(std::iter::repeat_n(0xAB, n));
        }
        v
    }

    #[test]
    fn pipelined_and_split_messages() {
        let mut t = TcpTable::new(Limits::default());
        let bytes = framed(&[20, 30, 40]);
        // All three in one segment.
        assert_eq!(run(&mut t, &[seg(100, &bytes, false)]).0, vec![20, 30, 40]);
        // Split inside the length prefix, then in the middle of a message.
        let mut t = TcpTable::new(Limits::default());
        let parts = [
            seg(0, &bytes[..1], false),
            seg(1, &bytes[1..30], false),
            seg(30, &bytes[30..], true),
        ];
        let (m, inc, _) = run(&mut t, &parts);
        assert_eq!((m, inc), (vec![20, 30, 40], 0));
        assert!(t.is_empty());
    }

    #[test]
    fn retransmission_and_reordering() {
        let bytes = framed(&[10, 10, 10]);
        let mut t = TcpTable::new(Limits::default());
        let parts = [
            seg(0, &bytes[..12], false),
            seg(24, &bytes[24..], false), // early
            seg(0, &bytes[..12], false),  // retransmitted
            seg(12, &bytes[12..24], false),
        ];
        let (m, _, ev) = run(&mut t, &parts);
        assert_eq!(m, vec![10, 10, 10]);
        assert_eq!(ev, vec![Event::TcpRetransmit]);
        assert_eq!(t.buffered, 0);
    }

    #[test]
    fn fin_with_partial_message_is_incomplete() {
        let mut t = TcpTable::new(Limits::default());
        let mut bytes = vec![0, 200];
        bytes.extend_from_slice(&[0; 29]);
        let (m, inc, _) = run(&mut t, &[seg(0, &bytes, true)]);
        assert_eq!((m.len(), inc), (0, 1));
        assert_eq!(t.buffered, 0);
    }

    /// The capacity the streams really hold.
    fn real(t: &TcpTable) -> usize {
        t.table.values().map(held).sum()
    }

    #[test]
    fn budget_counts_capacity_not_length() {
        let mut t = TcpTable::new(Limits {
            max_buffered: 2048,
            ..Limits::default()
        });
        let msg = framed(&[1000, 10]);
        let feed = |t: &mut TcpTable, sport: u16, seq: u32, p: &[u8]| {
            let mut events = Vec::new();
            let k = FlowKey { sport, ..key() };
            t.segment(k, &seg(seq, p, false), 1, &mut |o| {
                if let Out::Event(e) = o {
                    events.push(e);
                }
            });
            events
        };
        // 900 bytes of a 1002-byte message: a 1024-byte buffer is held, and counted.
        feed(&mut t, 1, 0, &msg[..900]);
        assert_eq!((t.buffered, real(&t)), (1024, 1024));
        // The message completes and the next one is whole: the buffer goes back to the pool.
        feed(&mut t, 1, 900, &msg[900..]);
        assert_eq!((t.buffered, real(&t)), (0, 0));
        // Two directions with 900-byte partials fill the 2048-byte budget; a third one's
        // 10 bytes (a 64-byte buffer) is over it. Counting lengths (1810 bytes) let it in
        // while 2112 bytes were held.
        assert!(feed(&mut t, 2, 0, &msg[..900]).is_empty());
        assert!(feed(&mut t, 3, 0, &msg[..900]).is_empty());
        assert_eq!((t.buffered, real(&t)), (2048, 2048));
        assert_eq!(
            feed(&mut t, 4, 0, &msg[..10]),
            vec![Event::TcpBufferOverflow]
        );
        assert_eq!((t.buffered, real(&t), t.len()), (2048, 2048, 3));
        // Out-of-order copies count by capacity too.
        let mut t = TcpTable::new(Limits::default());
        feed(&mut t, 5, 0, &msg[..100]);
        feed(&mut t, 5, 200, &msg[200..300]);
        assert_eq!((t.buffered, real(&t)), (128 + 128, 256));
        feed(&mut t, 5, 100, &msg[100..200]);
        assert_eq!((t.buffered, real(&t)), (384, 384));
    }

    #[test]
    fn full_table_degrades_to_stateless() {
        let mut t = TcpTable::new(Limits {
            max_flows: 1,
            ..Limits::default()
        });
        let bytes = framed(&[10]);
        let mut seen = 0;
        for i in 0..10u16 {
            let k = FlowKey { sport: i, ..key() };
            t.segment(k, &seg(0, &bytes[..5], false), 1, &mut |_| {});
            t.segment(k, &seg(0, &bytes, false), 1, &mut |o| {
                if let Out::Message(_) = o {
                    seen += 1;
                }
            });
        }
        assert_eq!(t.len(), 1);
        assert_eq!(seen, 10);
    }
}
