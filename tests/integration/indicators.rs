//! The bounded sketches (top-k, HyperLogLog, latency matching) on root-mix-v4v6.pcap, against
//! figures computed here without them: exact hash maps over the same decoded names and
//! sources, the oracle's `unique_query_sources` (tshark), and an unbounded query→response
//! matcher. Run with one worker and with three sharded by `shard_hash` and merged, as the
//! pipeline does: the merged sketches must give the same answers.

use std::collections::{HashMap, HashSet};

use dnsobs::aggregate::hll::Distinct;
use dnsobs::aggregate::latency::{self, Latency};
use dnsobs::aggregate::topk::{self, TopK};
use dnsobs::decode::{Event, Malformed, Message, MsgCtx, Name, Sink, Transport};

use crate::util::{decode_sharded, oracle};

const FIXTURE: &str = "root-mix-v4v6.pcap";

/// The three sketches of one worker.
struct Sketches {
    topk: TopK,
    distinct: Distinct,
    latency: Latency,
}

impl Sketches {
    fn new(t: &topk::Settings) -> Self {
        Self {
            topk: TopK::new(t),
            // A fixed seed: with a random one, two of the 8 IPv4 (or 6 IPv6) sources share one
            // of the 16384 registers with probability ≈ 0.26 %, and the estimate is one short.
            distinct: Distinct::with_seed(0x646e_736f_6273),
            latency: Latency::new(&latency::Settings::default()),
        }
    }
    fn merge(&mut self, o: &Self) {
        self.topk.merge(&o.topk);
        self.distinct.merge(&o.distinct);
        self.latency.merge(&o.latency);
    }
}

/// Exact figures over the same messages.
#[derive(Default)]
struct Exact {
    qnames: HashMap<Vec<u8>, u64>,
    tlds: HashMap<Vec<u8>, u64>,
    slds: HashMap<Vec<u8>, u64>,
    prefixes: HashMap<String, u64>,
    sources: [HashSet<Vec<u8>>; 2],
    /// Unbounded matcher: full key (with the qname's bytes) → query time.
    pending: HashMap<(Vec<u8>, u8, u16, u16), u64>,
    keyed_queries: u64,
    keyed_responses: u64,
    responses_without_query: u64,
    delays_us: Vec<u64>,
}

struct TestSink<'a> {
    sk: &'a mut Sketches,
    exact: &'a mut Exact,
}

fn prefix_text(ctx: &MsgCtx) -> String {
    // Written independently of topk::prefix_key: std's address types, masked by hand.
    if ctx.ip_version == 6 {
        let mut a = ctx.src;
        a[6..].fill(0);
        format!("{}/48", std::net::Ipv6Addr::from(a))
    } else {
        let a = ctx.src;
        format!("{}/24", std::net::Ipv4Addr::new(a[0], a[1], a[2], 0))
    }
}

impl Sink for TestSink<'_> {
    fn message(&mut self, ctx: &MsgCtx, msg: &Message, name: &Name) {
        self.sk.topk.observe(ctx, msg, name);
        self.sk.distinct.observe(ctx, msg);
        self.sk.latency.observe(ctx, msg, name);

        let e = &mut *self.exact;
        let response = msg.header.qr();
        if !response {
            *e.prefixes.entry(prefix_text(ctx)).or_default() += 1;
            let v = usize::from(ctx.ip_version == 6);
            let len = if v == 1 { 16 } else { 4 };
            e.sources[v].insert(ctx.src[..len].to_vec());
            if name.is_valid() {
                let n = name.as_bytes();
                *e.qnames.entry(n.to_vec()).or_default() += 1;
                if !n.is_empty() {
                    let tld = n.rsplit(|&b| b == b'.').next().unwrap_or(n);
                    *e.tlds.entry(tld.to_vec()).or_default() += 1;
                    let mut dots = n.iter().enumerate().filter(|(_, b)| **b == b'.');
                    let sld = match dots.clone().count() {
                        0 => n,
                        // One dot: the whole name is the second-level name.
                        c => {
                            &n[c.checked_sub(2)
                                .and_then(|k| dots.nth(k))
                                .map_or(0, |(i, _)| i + 1)..]
                        }
                    };
                    *e.slds.entry(sld.to_vec()).or_default() += 1;
                }
            }
        }
        let Some((qtype, _)) = msg.question else {
            return;
        };
        let (client, cport, server, sport) = if response {
            (ctx.dst, ctx.dport, ctx.src, ctx.sport)
        } else {
            (ctx.src, ctx.sport, ctx.dst, ctx.dport)
        };
        let mut k = Vec::with_capacity(40 + name.as_bytes().len());
        k.extend_from_slice(&client);
        k.extend_from_slice(&cport.to_be_bytes());
        k.extend_from_slice(&server);
        k.extend_from_slice(&sport.to_be_bytes());
        k.extend_from_slice(name.as_bytes());
        let key = (k, ctx.transport as u8, msg.header.id, qtype);
        if response {
            e.keyed_responses += 1;
            match e.pending.remove(&key) {
                Some(t0) => e.delays_us.push((ctx.ts_ns - t0) / 1000),
                None => e.responses_without_query += 1,
            }
        } else {
            e.keyed_queries += 1;
            e.pending.insert(key, ctx.ts_ns);
        }
    }
    fn malformed(&mut self, _: Malformed, _: Option<&MsgCtx>) {}
    fn event(&mut self, _: Event) {}
}

/// Replays the fixture through `workers` decoders sharded as the pipeline shards them.
fn run(workers: usize, t: &topk::Settings) -> (Sketches, Exact) {
    let mut sketches: Vec<Sketches> = (0..workers).map(|_| Sketches::new(t)).collect();
    let mut exact = Exact::default();
    decode_sharded(FIXTURE, workers, |w, decoder, p| {
        let mut sink = TestSink {
            sk: &mut sketches[w],
            exact: &mut exact,
        };
        decoder.decode(p, &mut sink);
    });
    let mut total = Sketches::new(t);
    for s in &mut sketches {
        s.latency.close();
        total.merge(s);
    }
    (total, exact)
}

fn exact_top(m: &HashMap<Vec<u8>, u64>, k: usize) -> Vec<(Vec<u8>, u64)> {
    let mut v: Vec<_> = m.iter().map(|(a, &n)| (a.clone(), n)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(k);
    v
}

fn sketch_top(s: &topk::SpaceSaving, k: usize) -> Vec<(Vec<u8>, u64)> {
    s.top(k)
        .into_iter()
        .map(|(a, n, _)| (a.to_vec(), n))
        .collect()
}

fn check(workers: usize) {
    let (sk, ex) = run(workers, &topk::Settings::default());
    let k = sk.topk.k;
    assert_eq!(k, 10);

    // Top-k: the exact top 10 (same keys, same order) for every table; each count within its
    // error of the truth. Merged from three workers (each below 1024 distinct keys) the counts
    // are exact too; one worker sees 1,504 distinct qnames and may overcount by the error.
    for (what, s, m) in [
        ("qnames", &sk.topk.qnames, &ex.qnames),
        ("tlds", &sk.topk.tlds, &ex.tlds),
        ("slds", &sk.topk.slds, &ex.slds),
    ] {
        let want = exact_top(m, k);
        let got = s.top(k);
        assert_eq!(
            got.iter().map(|g| g.0).collect::<Vec<_>>(),
            want.iter().map(|w| &w.0[..]).collect::<Vec<_>>(),
            "{what}, {workers} worker(s)"
        );
        let mut over = 0;
        for ((_, c, e), (_, truth)) in got.iter().zip(&want) {
            assert!(c - e <= *truth && truth <= c, "{what}: {c} {e} {truth}");
            over = over.max(c - truth);
        }
        if workers > 1 {
            assert_eq!(sketch_top(s, k), want, "{what}, {workers} workers");
        }
        eprintln!(
            "m = {}, {workers} worker(s), {what}: {} distinct, exact top-{k} keys and order, \
             largest overestimate {over}, max error {}",
            s.capacity(),
            m.len(),
            s.max_error()
        );
    }
    let mut want: Vec<(String, u64)> = ex.prefixes.iter().map(|(a, &n)| (a.clone(), n)).collect();
    want.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    want.truncate(k);
    let mut got: Vec<(String, u64)> = sk
        .topk
        .sources
        .top(k)
        .into_iter()
        .map(|(a, n, _)| (dnsobs::privacy::Privacy::default().render_key(a), n))
        .collect();
    got.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    assert_eq!(got, want, "source prefixes, {workers} worker(s)");

    // HLL against the oracle (tshark) and the exact sets.
    let o = oracle(FIXTURE);
    let u = &o["unique_query_sources"];
    let (o4, o6) = (
        u["4"].as_u64().expect("v4 count"),
        u["6"].as_u64().expect("v6 count"),
    );
    assert_eq!(
        (ex.sources[0].len() as u64, ex.sources[1].len() as u64),
        (o4, o6)
    );
    let e = sk.distinct.estimates();
    for (est, want) in [(e.v4, o4), (e.v6, o6)] {
        let err = (est - want as f64).abs() / want as f64;
        eprintln!("HLL: {est} for {want} ({:.2} %)", 100.0 * err);
        assert!(err <= 0.03, "HLL {est} vs {want}");
    }

    // Latency: every response with a query in the capture is matched, nothing else.
    let l = &sk.latency;
    let matched: u64 = l.matched.iter().sum();
    assert_eq!(matched, ex.delays_us.len() as u64);
    assert_eq!(l.unmatched.iter().sum::<u64>(), ex.responses_without_query);
    assert_eq!(matched + ex.responses_without_query, ex.keyed_responses);
    assert_eq!(l.timed_out, [0, 0]);
    assert_eq!(l.evicted, [0, 0]);
    // Every keyed query ends exactly once: matched, superseded by a duplicate, or still
    // pending at the end of the capture (closed).
    let sum = |a: [u64; 2]| a[0] + a[1];
    assert_eq!(
        matched + sum(l.duplicates) + sum(l.closed) + sum(l.timed_out) + sum(l.evicted),
        ex.keyed_queries
    );
    assert_eq!(sum(l.closed), ex.pending.len() as u64);
    assert_eq!(
        l.count(Transport::Udp) + l.count(Transport::Tcp),
        matched,
        "latency count == matched count"
    );
    let sum_us: u64 = ex.delays_us.iter().sum();
    assert_eq!(l.sum_us.iter().sum::<u64>(), sum_us);
    let le_10ms = ex.delays_us.iter().filter(|&&d| d <= 10_000).count() as u64;
    let b = |t| l.buckets_seconds(t)[6].1;
    assert_eq!(b(Transport::Udp) + b(Transport::Tcp), le_10ms);
    eprintln!(
        "latency: {matched} matched (udp {}, tcp {}), {} responses without a query, \
         {} queries unanswered at the end, p50 udp {:?} s",
        l.matched[0],
        l.matched[1],
        ex.responses_without_query,
        l.closed.iter().sum::<u64>(),
        l.quantile_seconds(Transport::Udp, 0.5)
    );
}

#[test]
fn sketches_match_exact_figures_one_worker() {
    check(1);
}

#[test]
fn sketches_match_exact_figures_merged_from_three_workers() {
    check(3);
}

/// Accuracy with m = 8·k = 80 counters (below the default floor of 1024): the Space-Saving
/// guarantees hold, every key above N/m is reported, and the overlap with the exact top 10 is
/// printed (the figures in the report).
#[test]
fn accuracy_with_eighty_counters() {
    let t = topk::Settings {
        counters: 80,
        ..topk::Settings::default()
    };
    for workers in [1, 3] {
        let (sk, ex) = run(workers, &t);
        for (what, s, m) in [
            ("qnames", &sk.topk.qnames, &ex.qnames),
            ("tlds", &sk.topk.tlds, &ex.tlds),
            ("slds", &sk.topk.slds, &ex.slds),
        ] {
            let n = s.total();
            assert_eq!(n, m.values().sum::<u64>());
            for (key, c, e) in s.top(80) {
                let truth = m.get(key).copied().unwrap_or(0);
                assert!(
                    c - e <= truth && truth <= c,
                    "{what} {key:?}: {c} {e} {truth}"
                );
            }
            for (key, &truth) in m {
                if truth * 80 > n {
                    assert!(s.get(key).is_some(), "{what}: {key:?} ({truth}) missing");
                }
            }
            let want = exact_top(m, 10);
            let got = sketch_top(s, 10);
            let overlap = got
                .iter()
                .filter(|(k, _)| want.iter().any(|(w, _)| w == k))
                .count();
            let worst = got
                .iter()
                .map(|(k, c)| c - m.get(k).copied().unwrap_or(0))
                .max()
                .unwrap_or(0);
            eprintln!(
                "m = 80, {workers} worker(s), {what}: {} distinct, N = {n}, top-10 overlap \
                 {overlap}/10, largest overestimate in the top 10: {worst}, max error {}",
                m.len(),
                s.max_error()
            );
        }
    }
}
