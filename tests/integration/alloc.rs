//! Zero allocation on the hot path, proven (issue 8).
//!
//! A counting global allocator counts heap allocations (alloc, alloc_zeroed and realloc) of the
//! *current thread* in a thread-local, so tests running in parallel do not disturb each other.
//! A [`Worker`] is warmed up on a fixture's frames (tables and buffers grow there, and only
//! there: the TCP flow table, which starts at 64 flows and grows to the working set, and its
//! pools of stream, out-of-order segment and list buffers (`decode/tcp.rs`); the
//! defragmenter's datagram pool and completed-payload buffer (`decode/defrag.rs`); the
//! distinct-source sets (`aggregate/sources.rs`)), then the same frames are replayed several
//! times with timestamps moved forward, so flows, datagrams and idle sweeps behave as in a live
//! capture. In steady state the count must stay at zero: not one allocation per packet, and not
//! one per pass.
//!
//! The `#[global_allocator]` lives here, in the integration test crate, so it only counts in
//! this test binary.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use dnsobs::capture::file::Reader;
use dnsobs::capture::{LinkType, Packet};
use dnsobs::pipeline::Worker;

struct Counting;

thread_local! {
    // `const` initialisation: no lazy setup and no destructor, so it is usable inside the
    // allocator itself.
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    /// Bytes allocated minus bytes freed by this thread (negative when it frees what another
    /// allocated), and the highest value since [`reset_heap_peak`].
    static LIVE: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

fn bump() {
    // `try_with` fails only while the thread is being torn down; nothing to count then.
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

fn live(delta: i64) {
    let _ = LIVE.try_with(|l| {
        let v = l.get() + delta;
        l.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

/// Starts measuring this thread's heap peak from now.
pub fn reset_heap_peak() {
    PEAK.with(|p| p.set(LIVE.with(Cell::get)));
}

/// The most this thread's heap grew (Rust allocations) since [`reset_heap_peak`], in bytes.
pub fn heap_peak() -> u64 {
    let base = LIVE.with(Cell::get);
    u64::try_from(PEAK.with(Cell::get) - base).unwrap_or(0)
}

// SAFETY: every call forwards to the system allocator unchanged; counting has no side effect on
// the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        live(layout.size() as i64);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        live(layout.size() as i64);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        live(new_size as i64 - layout.size() as i64);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        live(-(layout.size() as i64));
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCS.with(Cell::get)
}

struct Frame {
    ts_ns: u64,
    link: LinkType,
    data: Vec<u8>,
    orig_len: u32,
}

fn frames(name: &str) -> Vec<Frame> {
    let path = crate::util::pcaps().join(name);
    let mut r = Reader::open(&path).expect("fixture opens");
    let mut v = Vec::new();
    while let Some(p) = r.next().expect("fixture reads") {
        v.push(Frame {
            ts_ns: p.ts_ns,
            link: p.link,
            data: p.data.to_vec(),
            orig_len: p.orig_len,
        });
    }
    v
}

/// Runs every frame once, `shift` ns later than captured.
fn pass(w: &mut Worker, fs: &[Frame], shift: u64) {
    for f in fs {
        w.process(&Packet {
            ts_ns: f.ts_ns + shift,
            link: f.link,
            data: &f.data,
            orig_len: f.orig_len,
        });
    }
}

/// Warms a worker on the fixture, then asserts that further passes allocate nothing.
fn steady_state_allocates_nothing(name: &str) {
    let fs = frames(name);
    assert!(!fs.is_empty(), "{name} has frames");
    let first = fs.iter().map(|f| f.ts_ns).min().unwrap_or(0);
    let last = fs.iter().map(|f| f.ts_ns).max().unwrap_or(0);
    // Each pass starts one second after the previous one ended: time only moves forward. A
    // fixture spanning more than an hour (tcp-pipelined: six days between its crafted and its
    // real part) is replayed at its own times instead: moving it forward would enter new UTC
    // days, and each new day allocates its RSSAC002 day counters once (per day, not per packet).
    let span = if last - first < 3_600_000_000_000 {
        last - first + 1_000_000_000
    } else {
        0
    };
    let mut w = Worker::new(&Default::default(), &Default::default());
    // Warm-up: two passes, so pooled buffers reach the sizes this traffic needs, and as many
    // more as the fragment timeout lasts: a datagram that never completes (lt-ethernet's lone
    // first fragment, in the tun-* fixtures) is held that long, so the reassembly table only
    // reaches its steady size then.
    let timeout = dnsobs::decode::defrag::Limits::default().timeout_ns;
    let warm_passes = 2 + if span > 0 { timeout.div_ceil(span) } else { 0 };
    let before_warm = allocations();
    for k in 0..warm_passes {
        pass(&mut w, &fs, span * k);
    }
    let warm = allocations() - before_warm;
    let messages_per_pass = w.agg.dns_messages / warm_passes;
    assert!(messages_per_pass > 0, "{name}: no DNS message decoded");

    let before = allocations();
    let passes = 5;
    for k in warm_passes..warm_passes + passes {
        pass(&mut w, &fs, span * k);
    }
    let steady = allocations() - before;
    let packets = fs.len() as u64 * passes;
    assert_eq!(
        steady, 0,
        "{name}: {steady} heap allocations in steady state over {packets} packets \
         (warm-up allocated {warm})"
    );
    assert_eq!(
        w.agg.dns_messages,
        messages_per_pass * (warm_passes + passes)
    );
    eprintln!(
        "{name}: warm-up {warm} allocations; steady state 0 over {packets} packets \
         ({} DNS messages)",
        messages_per_pass * passes
    );
}

#[test]
fn root_mix_steady_state_allocates_nothing() {
    steady_state_allocates_nothing("root-mix-v4v6.pcap");
}

#[test]
fn tcp_pipelined_steady_state_allocates_nothing() {
    steady_state_allocates_nothing("tcp-pipelined.pcap");
}

#[test]
fn fragments_steady_state_allocates_nothing() {
    steady_state_allocates_nothing("fragments.pcap");
}

/// Encapsulated traffic: GRE (outer fragments, and inner fragments inside them: the defragmenter
/// hands nested payloads back to its pool), ERSPAN III, VXLAN and PPPoE in QinQ allocate nothing
/// either once warm.
#[test]
fn tunnels_steady_state_allocate_nothing() {
    for name in [
        "tun-gre.pcap",
        "tun-erspan3.pcap",
        "tun-vxlan.pcap",
        "tun-pppoe-qinq.pcap",
    ] {
        steady_state_allocates_nothing(name);
    }
}

/// A raw-IP (LINKTYPE_RAW) IPv4 TCP frame from 192.0.2.10:`sport` to 192.0.2.53:53.
fn tcp_frame(sport: u16, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let total = (40 + payload.len()) as u16;
    let mut f = vec![0x45, 0];
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0, 192, 0, 2, 10, 192, 0, 2, 53]);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&53u16.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 0, 0x50, flags, 0xFF, 0xFF, 0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// TCP connections whose middle segment arrives last: out-of-order segments are buffered and
/// drained through pooled buffers, so reordering allocates nothing either once warm.
#[test]
fn tcp_reordering_steady_state_allocates_nothing() {
    // A 25-byte query for "example. A", with its 2-byte length prefix.
    let mut msg = vec![0, 25, 0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    msg.extend_from_slice(b"\x07example\x00\x00\x01\x00\x01");
    assert_eq!(msg.len(), 27);
    let (syn, psh, fin) = (0x02, 0x18, 0x11);
    let mut fs = Vec::new();
    let mut ts = 1_700_000_000_000_000_000u64;
    for conn in 0..20u16 {
        let sport = 40000 + conn;
        let isn = 1000 * u32::from(conn);
        let segs = [
            tcp_frame(sport, isn, syn, &[]),
            tcp_frame(sport, isn + 1, psh, &msg[..9]),
            tcp_frame(sport, isn + 19, psh, &msg[18..]), // early
            tcp_frame(sport, isn + 10, psh, &msg[9..18]),
            tcp_frame(sport, isn + 28, fin, &[]),
        ];
        for data in segs {
            ts += 1_000_000;
            fs.push(Frame {
                ts_ns: ts,
                link: LinkType::Raw,
                orig_len: data.len() as u32,
                data,
            });
        }
    }
    let span = ts - fs[0].ts_ns + 1_000_000_000;
    let mut w = Worker::new(&Default::default(), &Default::default());
    pass(&mut w, &fs, 0);
    pass(&mut w, &fs, span);
    assert_eq!(
        w.agg.total_queries(),
        40,
        "every reordered query is decoded"
    );
    let before = allocations();
    for k in 2..7 {
        pass(&mut w, &fs, span * k);
    }
    assert_eq!(
        allocations() - before,
        0,
        "reordered TCP allocated in steady state"
    );
    assert_eq!(w.agg.total_queries(), 140);
}

/// The counter works (a test that cannot fail proves nothing).
#[test]
fn counter_sees_allocations() {
    let before = allocations();
    let v: Vec<u8> = std::hint::black_box(Vec::with_capacity(64));
    drop(v);
    assert!(allocations() > before);
}

/// The dnstap path: Frame Streams reading, protobuf decoding and the worker, after warm-up,
/// allocate nothing per message either.
#[test]
fn dnstap_steady_state_allocates_nothing() {
    use dnsobs::capture::dnstap::{self, Stats, Stream, fstrm, proto};
    let frame = |payload: &[u8]| {
        let mut v = (payload.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(payload);
        v
    };
    // One pass: 256 clients, a query and its response each, timestamps `t` seconds.
    let pass = |t: u64| {
        let mut bytes = Vec::new();
        for i in 0..256u32 {
            for kind in [5u64, 6] {
                let mut wire = (i as u16).to_be_bytes().to_vec();
                wire.extend(if kind == 6 {
                    [0x81, 0x80]
                } else {
                    [0x01, 0x00]
                });
                wire.extend([0, 1, 0, 0, 0, 0, 0, 0]);
                wire.extend(format!("\x05n{i:04}\x04test\x00").as_bytes());
                wire.extend([0, 1, 0, 1]);
                let m = proto::Message {
                    kind: Some(kind),
                    family: Some(1),
                    protocol: Some(1),
                    query_address: Some(&[192, 0, 2, (i % 250) as u8]),
                    response_address: Some(&[198, 51, 100, 53]),
                    query_port: Some(1024 + u64::from(i)),
                    response_port: Some(53),
                    query_time_sec: Some(t),
                    response_time_sec: Some(t),
                    query_message: (kind == 5).then_some(&wire[..]),
                    response_message: (kind == 6).then_some(&wire[..]),
                    ..Default::default()
                };
                bytes.extend(frame(&m.encode_dnstap()));
            }
        }
        bytes
    };
    let mut handshake = Vec::new();
    for kind in [fstrm::ControlType::Ready, fstrm::ControlType::Start] {
        let mut b = [0u8; 42];
        let n = fstrm::encode_control(kind, true, &mut b);
        handshake.extend_from_slice(&b[..n]);
    }
    let passes: Vec<Vec<u8>> = (0..5).map(|p| pass(1_700_000_000 + p)).collect();
    let mut w = Worker::new(&Default::default(), &Default::default());
    let mut s = Stream::new(fstrm::Mode::Bidirectional, 65536);
    let mut stats = Stats::default();
    let mut feed = |bytes: &[u8], w: &mut Worker, stats: &mut Stats| {
        for chunk in bytes.chunks(4000) {
            let space = s.space();
            space[..chunk.len()].copy_from_slice(chunk);
            s.process(chunk.len(), stats, &mut |p, st| {
                dnstap::on_payload(p, 0, st, &mut |d| w.process_dns(&d.ctx, d.wire));
            })
            .expect("valid stream");
        }
    };
    feed(&handshake, &mut w, &mut stats);
    feed(&passes[0], &mut w, &mut stats);
    let before = allocations();
    for p in &passes[1..] {
        feed(p, &mut w, &mut stats);
    }
    let n = allocations() - before;
    assert_eq!(stats.message_types[5], 5 * 256);
    assert_eq!(stats.message_types[6], 5 * 256);
    assert_eq!(stats.total_problems(), 0);
    let agg = w.finish();
    assert_eq!(agg.total_queries(), 5 * 256);
    assert_eq!(agg.total_responses(), 5 * 256);
    assert_eq!(
        n, 0,
        "{n} allocations in 4 warmed-up passes of 512 dnstap messages"
    );
}
