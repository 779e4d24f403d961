//! Zero allocation on the hot path, proven (issue 8).
//!
//! A counting global allocator counts heap allocations (alloc, alloc_zeroed and realloc) of the
//! *current thread* in a thread-local, so tests running in parallel do not disturb each other.
//! A [`Worker`] is warmed up on a fixture's frames (tables and buffers grow there: the TCP flow
//! table's buffer pool, the defragmenter's datagram pool and the completed-payload buffer, the
//! distinct-source sets), then the same frames are replayed several times with timestamps moved
//! forward, so flows, datagrams and idle sweeps behave as in a live capture. In steady state the
//! count must stay at zero: not one allocation per packet, and not one per pass.
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
}

fn bump() {
    // `try_with` fails only while the thread is being torn down; nothing to count then.
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call forwards to the system allocator unchanged; counting has no side effect on
// the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
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
    // Each pass starts one second after the previous one ended: time only moves forward.
    let span = last - first + 1_000_000_000;
    let mut w = Worker::new(&Default::default(), &Default::default());
    // Warm-up: two passes, so pooled buffers reach the sizes this traffic needs.
    let before_warm = allocations();
    pass(&mut w, &fs, 0);
    pass(&mut w, &fs, span);
    let warm = allocations() - before_warm;
    let messages_per_pass = w.agg.dns_messages / 2;
    assert!(messages_per_pass > 0, "{name}: no DNS message decoded");

    let before = allocations();
    let passes = 5;
    for k in 2..2 + passes {
        pass(&mut w, &fs, span * k);
    }
    let steady = allocations() - before;
    let packets = fs.len() as u64 * passes;
    assert_eq!(
        steady, 0,
        "{name}: {steady} heap allocations in steady state over {packets} packets \
         (warm-up allocated {warm})"
    );
    assert_eq!(w.agg.dns_messages, messages_per_pass * (2 + passes));
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

/// The counter works (a test that cannot fail proves nothing).
#[test]
fn counter_sees_allocations() {
    let before = allocations();
    let v: Vec<u8> = std::hint::black_box(Vec::with_capacity(64));
    drop(v);
    assert!(allocations() > before);
}
