//! DNS over TCP: per-direction stream reassembly and 2-byte length framing (RFC 1035 4.2.2).
//!
//! Several messages in one segment, one message over several segments, retransmissions and
//! out-of-order segments within a window are handled. State exists only for directions that
//! carried data, so a SYN flood costs nothing; the table is capped (flows and buffered bytes),
//! idle flows time out in capture time, and a flow that finds the table full is decoded
//! statelessly (complete messages in the segment still count) and counted as untracked.

use std::collections::HashMap;

use super::Event;
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
    /// Bytes buffered across all flows (partial messages and out-of-order segments).
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
    pool: Vec<Vec<u8>>,
    /// Out-of-order lists kept for reuse.
    ooo_pool: Vec<Vec<(u32, Vec<u8>)>>,
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
            pool: Vec::new(),
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
            let buf = self.pool.pop().unwrap_or_default();
            let ooo = self.ooo_pool.pop().unwrap_or_default();
            self.table.insert(
                key,
                Stream {
                    next_seq: seq,
                    buf,
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
                && self.buffered + data.len() <= self.limits.max_buffered
            {
                self.buffered += data.len();
                // A pooled buffer: reordering allocates only until the pool has warmed up.
                let mut copy = self.pool.pop().unwrap_or_default();
                copy.extend_from_slice(data);
                s.ooo.push((seq, copy));
                return;
            }
            // A hole we will not see filled: resynchronise at this segment.
            out(Out::Event(Event::TcpGap));
            self.buffered -= s.buf.len() + s.ooo.iter().map(|(_, d)| d.len()).sum::<usize>();
            s.buf.clear();
            for (_, d) in s.ooo.drain(..) {
                keep(&mut self.pool, d);
            }
            s.next_seq = seq;
        }
        feed(s, data, &mut self.buffered, out);
        // Drain out-of-order segments that now fit.
        while let Some(i) = s
            .ooo
            .iter()
            .position(|(q, _)| (q.wrapping_sub(s.next_seq) as i32) <= 0)
        {
            let (q, d) = s.ooo.swap_remove(i);
            self.buffered -= d.len();
            let skip = s.next_seq.wrapping_sub(q) as usize;
            if skip < d.len() {
                feed(s, &d[skip..], &mut self.buffered, out);
            }
            keep(&mut self.pool, d);
        }
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

/// Buffers kept per pool, and the largest buffer kept.
const POOL: usize = 256;
const POOL_BUF_MAX: usize = 1 << 16;

/// Keeps an emptied buffer for reuse (bounded in count and size).
fn keep(pool: &mut Vec<Vec<u8>>, mut b: Vec<u8>) {
    if pool.len() < POOL && b.capacity() > 0 && b.capacity() <= POOL_BUF_MAX {
        b.clear();
        pool.push(b);
    }
}

/// Returns a removed direction's buffers to the pools; the bytes it held.
fn release(
    pool: &mut Vec<Vec<u8>>,
    ooo_pool: &mut Vec<Vec<(u32, Vec<u8>)>>,
    mut s: Stream,
) -> usize {
    let bytes = s.buf.len() + s.ooo.iter().map(|(_, d)| d.len()).sum::<usize>();
    keep(pool, s.buf);
    for (_, d) in s.ooo.drain(..) {
        keep(pool, d);
    }
    if ooo_pool.len() < POOL && s.ooo.capacity() > 0 {
        ooo_pool.push(s.ooo);
    }
    bytes
}

/// Appends in-order bytes and cuts every complete message.
fn feed(s: &mut Stream, data: &[u8], buffered: &mut usize, out: &mut impl FnMut(Out<'_>)) {
    s.next_seq = s.next_seq.wrapping_add(data.len() as u32);
    if s.buf.is_empty() {
        // Fast path: messages straight from the segment, only a tail is copied.
        let used = cut(data, out);
        s.buf.extend_from_slice(&data[used..]);
        *buffered += data.len() - used;
    } else {
        s.buf.extend_from_slice(data);
        let before = s.buf.len();
        let used = cut(&s.buf, out);
        s.buf.drain(..used);
        *buffered = *buffered + data.len() + s.buf.len() - before;
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
