//! Micro-benchmarks of the hot path (issue 8), on stable Rust with criterion.
//!
//! Run: `cargo bench --bench decode` (add `-- --quick` for a fast pass, or a name filter such
//! as `-- dns/`). Every item is built from the fixtures in `pcaps/`, so the inputs are real
//! traffic. After criterion's own report, a table prints the median **ns per item** of each
//! benchmark (item = frame, message, segment or datagram, as named), computed from criterion's
//! measured samples.
//!
//! Not part of `cargo test`: `harness = false` benches run only under `cargo bench`.

use std::cell::RefCell;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use dnsobs::capture::file::Reader;
use dnsobs::capture::{LinkType, Packet};
use dnsobs::decode::defrag::{Defrag, Outcome};
use dnsobs::decode::dns::{self, Name, opt};
use dnsobs::decode::ip::{self, PROTO_TCP, PROTO_UDP};
use dnsobs::decode::tcp::{FlowKey, Out, TcpTable};
use dnsobs::decode::{self, Event, link};
use dnsobs::pipeline::Worker;

//------------ Fixtures ------------------------------------------------------

/// A frame copied out of a fixture.
struct Frame {
    ts_ns: u64,
    link: LinkType,
    data: Vec<u8>,
    orig_len: u32,
}

impl Frame {
    fn packet(&self) -> Packet<'_> {
        Packet {
            ts_ns: self.ts_ns,
            link: self.link,
            data: &self.data,
            orig_len: self.orig_len,
        }
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("pcaps")
        .join(name)
}

fn frames(name: &str) -> Vec<Frame> {
    let mut r = Reader::open(&fixture(name)).expect("fixture opens");
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

/// UDP payloads on port 53 of a fixture's unfragmented frames.
fn udp_dns_payloads(fs: &[Frame]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for f in fs {
        let Ok(link::Link::Ip(l3)) = link::strip(f.link, &f.data) else {
            continue;
        };
        let Ok(ip) = ip::parse(l3) else { continue };
        if ip.proto != PROTO_UDP || ip.frag.is_some() {
            continue;
        }
        let Ok((sp, dp, _, payload)) = ip::udp(ip.payload) else {
            continue;
        };
        if sp == 53 || dp == 53 {
            out.push(payload.to_vec());
        }
    }
    out
}

/// The first message of `msgs` that satisfies `want`.
fn pick(msgs: &[Vec<u8>], what: &str, want: impl Fn(&dns::Message) -> bool) -> Vec<u8> {
    let mut name = Name::default();
    msgs.iter()
        .find(|m| dns::parse(m, &mut name).is_ok_and(|msg| msg.malformed.is_none() && want(&msg)))
        .unwrap_or_else(|| panic!("root-mix-v4v6.pcap has no {what}"))
        .clone()
}

//------------ Measurement ---------------------------------------------------

/// Samples per benchmark (criterion's default is 100).
const SAMPLES: usize = 50;

/// Median ns per item of every benchmark run, for the final table.
struct Table(RefCell<Vec<(String, u64, f64)>>);

impl Table {
    /// Benchmarks `pass`, one call of which processes `items` items; records ns per item.
    fn bench(
        &self,
        c: &mut Criterion,
        group: &str,
        name: &str,
        items: u64,
        mut pass: impl FnMut(),
    ) {
        let samples = RefCell::new(Vec::new());
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Elements(items))
            .sample_size(SAMPLES)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                for _ in 0..iters {
                    pass();
                }
                let d = t.elapsed();
                samples
                    .borrow_mut()
                    .push(d.as_nanos() as f64 / iters as f64 / items as f64);
                d
            });
        });
        g.finish();
        // Criterion calls the routine during warm-up first: keep the measured samples only.
        let mut s = samples.into_inner();
        let keep = s.len().min(SAMPLES);
        let mut s = s.split_off(s.len() - keep);
        if s.is_empty() {
            return; // filtered out on the command line
        }
        s.sort_by(f64::total_cmp);
        self.0
            .borrow_mut()
            .push((format!("{group}/{name}"), items, s[s.len() / 2]));
    }

    fn print(&self) {
        println!("\n{:<40} {:>10} {:>12}", "benchmark", "items", "ns/item");
        for (name, items, ns) in self.0.borrow().iter() {
            println!("{name:<40} {items:>10} {ns:>12.1}");
        }
    }
}

//------------ Benchmarks ----------------------------------------------------

/// Link + IP + UDP/TCP header dissection, per frame.
fn dissect(t: &Table, c: &mut Criterion) {
    for fx in ["root-mix-v4v6.pcap", "lt-linux-sll2.pcap"] {
        let fs = frames(fx);
        t.bench(c, "dissect", fx, fs.len() as u64, || {
            for f in &fs {
                let Ok(link::Link::Ip(l3)) = link::strip(f.link, black_box(&f.data)) else {
                    continue;
                };
                let Ok(ip) = ip::parse(l3) else { continue };
                match ip.proto {
                    PROTO_UDP => {
                        let _ = black_box(ip::udp(ip.payload));
                    }
                    PROTO_TCP => {
                        let _ = black_box(ip::tcp(ip.payload));
                    }
                    _ => {}
                }
            }
        });
    }
}

/// DNS header, first question and OPT, per message.
fn dns_decode(t: &Table, c: &mut Criterion) {
    let msgs = udp_dns_payloads(&frames("root-mix-v4v6.pcap"));
    let cases = [
        (
            "plain_query",
            pick(&msgs, "plain query", |m| {
                !m.header.qr() && m.edns.is_none() && m.header.arcount == 0
            }),
        ),
        (
            "query_opt_cookie",
            pick(&msgs, "query with a cookie", |m| {
                !m.header.qr() && m.edns.is_some_and(|e| e.options & opt::COOKIE != 0)
            }),
        ),
        (
            "referral_response",
            pick(&msgs, "referral", |m| {
                let h = &m.header;
                h.qr() && h.rcode() == 0 && !h.aa() && h.ancount == 0 && h.nscount > 0
            }),
        ),
        (
            "nxdomain_soa",
            pick(&msgs, "NXDOMAIN with SOA", |m| {
                m.header.qr() && m.header.rcode() == 3 && m.header.nscount > 0
            }),
        ),
    ];
    let mut name = Name::default();
    for (label, msg) in &cases {
        let label = format!("{label}_{}B", msg.len());
        t.bench(c, "dns", &label, 1, || {
            let _ = black_box(dns::parse(black_box(msg), &mut name));
        });
    }
    // Every UDP DNS message of the fixture, as a mix.
    t.bench(c, "dns", "root_mix_all_udp", msgs.len() as u64, || {
        for m in &msgs {
            let _ = black_box(dns::parse(black_box(m), &mut name));
        }
    });
}

/// TCP stream reassembly and framing, per segment (tcp-pipelined: split and pipelined
/// messages, handshakes and FINs; SYN and FIN reset the state, so every pass is alike).
fn tcp_reassembly(t: &Table, c: &mut Criterion) {
    let fs = frames("tcp-pipelined.pcap");
    let mut segs = Vec::new();
    for f in &fs {
        let Ok(link::Link::Ip(l3)) = link::strip(f.link, &f.data) else {
            continue;
        };
        let Ok(ip) = ip::parse(l3) else { continue };
        if ip.proto != PROTO_TCP {
            continue;
        }
        if let Ok(s) = ip::tcp(ip.payload) {
            let key = FlowKey {
                src: ip.src,
                dst: ip.dst,
                sport: s.sport,
                dport: s.dport,
            };
            segs.push((key, s, f.ts_ns));
        }
    }
    let mut table = TcpTable::new(decode::tcp::Limits::default());
    let mut msgs = 0u64;
    t.bench(
        c,
        "tcp",
        "reassembly_per_segment",
        segs.len() as u64,
        || {
            for (key, s, ts) in &segs {
                table.segment(*key, s, *ts, &mut |o| {
                    if let Out::Message(m) = o {
                        msgs += m.len() as u64;
                    }
                });
            }
        },
    );
    black_box(msgs);
}

/// IPv4 and IPv6 fragment reassembly, per completed datagram.
fn defrag(t: &Table, c: &mut Criterion) {
    let fs = frames("fragments.pcap");
    let mut pieces = Vec::new();
    for f in &fs {
        let Ok(link::Link::Ip(l3)) = link::strip(f.link, &f.data) else {
            continue;
        };
        let Ok(ip) = ip::parse(l3) else { continue };
        if let Some(fr) = ip.frag {
            pieces.push((
                ip.version,
                ip.src,
                ip.dst,
                ip.proto,
                fr,
                ip.payload.to_vec(),
                f.ts_ns,
            ));
        }
    }
    let mut d = Defrag::new(decode::defrag::Limits::default());
    let mut ev = |_: Event| {};
    let mut done = 0u64;
    for (v, s, dst, p, fr, data, ts) in &pieces {
        if let Outcome::Complete = d.push(*v, s, dst, *p, *fr, data, *ts, &mut ev) {
            done += 1;
        }
    }
    assert!(done > 0, "fragments.pcap completes no datagram");
    t.bench(c, "defrag", "reassembly_per_datagram", done, || {
        for (v, s, dst, p, fr, data, ts) in &pieces {
            let _ = black_box(d.push(*v, s, dst, *p, *fr, data, *ts, &mut ev));
        }
    });
}

/// The whole per-frame path a replay worker runs: decode and every aggregate update.
fn worker(t: &Table, c: &mut Criterion) {
    for fx in ["root-mix-v4v6.pcap", "tcp-pipelined.pcap", "fragments.pcap"] {
        let fs = frames(fx);
        let mut w = Worker::new(&Default::default(), &Default::default());
        for f in &fs {
            w.process(&f.packet());
        }
        let per_pass = w.agg.dns_messages;
        t.bench(c, "worker_per_frame", fx, fs.len() as u64, || {
            for f in &fs {
                w.process(&f.packet());
            }
        });
        // The same run, counted per DNS message.
        println!(
            "worker_per_frame/{fx}: {} frames and {per_pass} DNS messages per pass",
            fs.len()
        );
    }
}

/// The per-message aggregate update alone, every indicator on (default settings): the DNS
/// messages of root-mix, decoded once up front, fed to `Aggregate::message`. The difference
/// from `worker_per_frame` is the decode.
fn aggregate_update(t: &Table, c: &mut Criterion) {
    struct Collect(Vec<(decode::MsgCtx, dns::Message, Name)>);
    impl decode::Sink for Collect {
        fn message(&mut self, ctx: &decode::MsgCtx, msg: &dns::Message, name: &Name) {
            self.0.push((*ctx, *msg, name.clone()));
        }
        fn malformed(&mut self, _: decode::Malformed, _: Option<&decode::MsgCtx>) {}
        fn event(&mut self, _: Event) {}
    }
    let fs = frames("root-mix-v4v6.pcap");
    let mut d = decode::Decoder::new(&Default::default());
    let mut msgs = Collect(Vec::new());
    for f in &fs {
        d.decode(&f.packet(), &mut msgs);
    }
    let mut agg = dnsobs::aggregate::Aggregate::new(&Default::default());
    let n = msgs.0.len() as u64;
    t.bench(c, "aggregate", "message_all_indicators", n, || {
        for (ctx, m, name) in &msgs.0 {
            decode::Sink::message(&mut agg, ctx, m, name);
        }
    });
}

/// The capture reader, per record: dnsobs' memory-mapped reader against libpcap's offline
/// reader (through the `pcap` crate), both touching each record's last byte and timestamp.
fn readers(t: &Table, c: &mut Criterion) {
    let path = fixture("root-mix-v4v6.pcap");
    let n = frames("root-mix-v4v6.pcap").len() as u64;
    t.bench(c, "reader", "dnsobs_mmap", n, || {
        let mut r = Reader::open(&path).expect("opens");
        let mut acc = 0u64;
        while let Ok(Some(p)) = r.next() {
            acc = acc.wrapping_add(p.ts_ns ^ u64::from(*p.data.last().unwrap_or(&0)));
        }
        black_box(acc);
    });
    t.bench(c, "reader", "libpcap_offline", n, || {
        let mut cap = pcap::Capture::from_file(&path).expect("opens");
        let mut acc = 0u64;
        while let Ok(p) = cap.next_packet() {
            let ts = p.header.ts.tv_sec as u64 * 1_000_000 + p.header.ts.tv_usec as u64;
            acc = acc.wrapping_add(ts ^ u64::from(*p.data.last().unwrap_or(&0)));
        }
        black_box(acc);
    });
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let t = Table(RefCell::new(Vec::new()));
    dissect(&t, &mut c);
    dns_decode(&t, &mut c);
    tcp_reassembly(&t, &mut c);
    defrag(&t, &mut c);
    aggregate_update(&t, &mut c);
    worker(&t, &mut c);
    readers(&t, &mut c);
    c.final_summary();
    t.print();
}
