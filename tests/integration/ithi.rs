//! ITHI M3/M8 metrics, resolver hygiene classes and ASN diversity against figures known
//! without dnsobs: pcaps/ithi.pcap with pcaps/ithi.expected.json (both written by
//! scripts/make_ithi_fixture.py, the figures counted from the packets as they are built, ASNs
//! matched against pcaps/asn-test.txt with Python's `ipaddress`), and root-mix-v4v6.pcap's
//! oracle (tshark): M3.1 = NXDOMAIN / (NOERROR + NXDOMAIN), M8.1 = NXDOMAIN / responses,
//! resolvers = unique query sources. Run with one worker, with three sharded as the pipeline
//! shards, and with a daemon-style flush (table handed over, deltas merged) halfway through.

use std::collections::HashSet;
use std::sync::Arc;

use dnsobs::aggregate::asn::{self, Asn, AsnTable};
use dnsobs::aggregate::hygiene::{self, Hygiene};
use dnsobs::aggregate::ithi::{self, Ithi, Row};
use dnsobs::decode::{Event, Malformed, Message, MsgCtx, Name, Sink};
use serde_json::Value;

use crate::util::{decode_sharded, oracle, pcaps};

const SEED: u64 = 0x646e_736f_6273 + 1;

struct Set {
    ithi: Ithi,
    hygiene: Hygiene,
    asn: Asn,
    /// Exact distinct sources of QUERY-opcode queries (what ITHI calls resolvers).
    exact: HashSet<(u8, [u8; 16])>,
}

impl Set {
    fn new(table: &Arc<AsnTable>) -> Self {
        Self {
            ithi: Ithi::with_seed(&ithi::Settings::default(), SEED),
            hygiene: Hygiene::new(&hygiene::Settings::default()),
            asn: Asn::new(table.clone(), &asn::Settings::default()),
            exact: HashSet::new(),
        }
    }
    fn merge(&mut self, o: &Self) {
        self.ithi.merge(&o.ithi);
        self.hygiene.merge(&o.hygiene);
        self.asn.merge(&o.asn);
        self.exact.extend(o.exact.iter().copied());
    }
    /// What the daemon does at a flush: the worker continues with a fresh set holding the
    /// per-source state; the old one's counters go to the merger, then are cleared.
    fn flush(&mut self, table: &Arc<AsnTable>, total: &mut Self) {
        let mut fresh = Self::new(table);
        fresh.ithi.take_cache(&mut self.ithi);
        fresh.hygiene.take_table(&mut self.hygiene);
        let mut old = std::mem::replace(self, fresh);
        total.merge(&old);
        old.ithi.clear();
        old.hygiene.clear();
        old.asn.clear();
    }
}

impl Sink for Set {
    fn message(&mut self, ctx: &MsgCtx, msg: &Message, name: &Name) {
        self.ithi.observe(ctx, msg, name);
        self.hygiene.observe(ctx, msg, name);
        self.asn.observe(ctx, msg);
        if !msg.header.qr() && msg.header.opcode() == 0 {
            let mut a = ctx.src;
            if ctx.ip_version != 6 {
                a[4..].fill(0);
            }
            self.exact.insert((ctx.ip_version, a));
        }
    }
    fn malformed(&mut self, _: Malformed, _: Option<&MsgCtx>) {}
    fn event(&mut self, _: Event) {}
}

fn table() -> Arc<AsnTable> {
    Arc::new(AsnTable::load(&pcaps().join("asn-test.txt")).expect("test table loads"))
}

/// Replays `fixture` through `workers` sharded decoders; with `flush_at`, the worker(s) flush
/// after that many frames.
fn run(fixture: &str, workers: usize, flush_at: Option<usize>) -> Set {
    let table = table();
    let mut sets: Vec<Set> = (0..workers).map(|_| Set::new(&table)).collect();
    let mut total = Set::new(&table);
    let mut n = 0;
    decode_sharded(fixture, workers, |w, decoder, p| {
        decoder.decode(p, &mut sets[w]);
        n += 1;
        if flush_at == Some(n) {
            for s in &mut sets {
                s.flush(&table, &mut total);
            }
        }
    });
    for s in &sets {
        total.merge(s);
    }
    total
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// Compares rows with the expected `ithi` object (scalars, or key → share maps).
fn check_rows(rows: &[Row], want: &Value) {
    let want = want.as_object().expect("ithi object");
    for (metric, w) in want {
        let got: Vec<&Row> = rows.iter().filter(|r| r.metric == metric).collect();
        match w {
            Value::Object(keys) => {
                assert_eq!(got.len(), keys.len(), "{metric}: {got:?} vs {w}");
                for (k, v) in keys {
                    let r = got
                        .iter()
                        .find(|r| &r.key == k)
                        .unwrap_or_else(|| panic!("{metric} {k} missing: {got:?}"));
                    assert!(
                        close(r.value, v.as_f64().expect("present")),
                        "{metric} {k}: {r:?} vs {v}"
                    );
                }
            }
            v => {
                assert_eq!(got.len(), 1, "{metric}: {got:?}");
                assert!(
                    close(got[0].value, v.as_f64().expect("present")),
                    "{metric}: {:?} vs {v}",
                    got[0]
                );
            }
        }
    }
    // No metric the fixture does not expect (M3.3.x keys with a zero count are not printed).
    for r in rows {
        assert!(want.contains_key(r.metric), "unexpected row {r:?}");
    }
}

fn check_ithi_fixture(workers: usize, flush_at: Option<usize>) {
    let text = std::fs::read_to_string(pcaps().join("ithi.expected.json")).expect("expected");
    let want: Value = serde_json::from_str(&text).expect("JSON");
    let s = run("ithi.pcap", workers, flush_at);
    let i = &s.ithi;
    assert_eq!(i.responses, want["responses"].as_u64().expect("present"));
    assert_eq!(i.noerror, want["noerror"].as_u64().expect("present"));
    assert_eq!(i.nxdomain, want["nxdomain"].as_u64().expect("present"));
    assert_eq!(i.useful, want["useful"].as_u64().expect("present"));
    assert_eq!(i.useless, want["useless"].as_u64().expect("present"));
    assert_eq!(i.repeat_evictions, 0);
    assert!(close(
        i.resolvers.estimate(ithi::ALL).round(),
        want["resolvers"].as_f64().expect("present")
    ));
    check_rows(&i.rows(), &want["ithi"]);

    let h = &want["hygiene"];
    let classes = s.hygiene.classes();
    for c in hygiene::Class::ALL {
        assert_eq!(
            classes[c as usize],
            h["classes"][c.label()].as_u64().expect("present"),
            "hygiene class {} ({workers} workers, flush {flush_at:?})",
            c.label()
        );
    }
    let e = s.hygiene.eligible();
    assert_eq!(e[0], h["eligible_sources"]["4"].as_u64().expect("present"));
    assert_eq!(e[1], h["eligible_sources"]["6"].as_u64().expect("present"));
    assert_eq!(s.hygiene.evictions, 0);

    let a = &want["asn"];
    assert_eq!(
        s.asn.distinct() as u64,
        a["unique_source_asns"].as_u64().expect("present")
    );
    assert_eq!(
        s.asn.unmatched,
        a["unmatched_queries"].as_u64().expect("present")
    );
    let by = a["queries_by_asn"].as_object().expect("present");
    let top = s.asn.top(10);
    assert_eq!(top.len(), by.len());
    for (asn, n, err) in top {
        assert_eq!(err, 0);
        assert_eq!(Some(n), by[&asn.to_string()].as_u64(), "AS{asn}");
    }
}

#[test]
fn ithi_fixture_one_worker() {
    check_ithi_fixture(1, None);
}

#[test]
fn ithi_fixture_three_workers() {
    check_ithi_fixture(3, None);
}

#[test]
fn ithi_fixture_survives_flushes() {
    // Frame 20: R1 and R2 have sent 12 and 8 queries (R2 not yet classified).
    check_ithi_fixture(1, Some(20));
    check_ithi_fixture(3, Some(45));
}

#[test]
fn root_mix_nxdomain_shares_and_resolvers_match_the_oracle() {
    let o = oracle("root-mix-v4v6.pcap");
    let rc = &o["responses_by_rcode"];
    let nx = rc["NXDOMAIN"].as_u64().expect("present");
    let noerror = rc["NOERROR"].as_u64().expect("present");
    let responses = o["responses"].as_u64().expect("present");
    let sources = o["unique_query_sources"]["4"].as_u64().expect("present")
        + o["unique_query_sources"]["6"].as_u64().expect("present");
    for workers in [1, 3] {
        let s = run("root-mix-v4v6.pcap", workers, None);
        let rows = s.ithi.rows();
        let get = |m: &str| rows.iter().find(|r| r.metric == m).map(|r| r.value);
        assert!(close(
            get("M3.1").expect("present"),
            nx as f64 / (nx + noerror) as f64
        ));
        assert!(close(
            get("M8.1").expect("present"),
            nx as f64 / responses as f64
        ));
        assert_eq!(s.ithi.responses, responses);
        // The oracle counts sources of every query; ITHI's resolvers send QUERY (opcode 0).
        assert!(s.exact.len() as u64 <= sources);
        assert_eq!(
            s.ithi.resolvers.estimate(ithi::ALL).round() as usize,
            s.exact.len()
        );
        // Every query is looked up: matched + unmatched = the oracle's queries.
        assert_eq!(
            s.asn.matched + s.asn.unmatched,
            o["queries"].as_u64().expect("present")
        );
        let e = s.hygiene.eligible();
        assert!(e[0] + e[1] <= sources);
        let others = o["queries"].as_u64().expect("present")
            - o["queries_by_opcode"]["QUERY"].as_u64().expect("present");
        eprintln!(
            "root-mix ({workers} workers): {} resolvers (oracle {sources} sources, {others} non-QUERY queries), M3.1 {:.6} M3.2 {:.6} M8.1 {:.6}, hygiene {:?} eligible {:?}, ASNs {} matched {} unmatched {}",
            s.exact.len(),
            get("M3.1").expect("present"),
            get("M3.2").expect("present"),
            get("M8.1").expect("present"),
            s.hygiene.classes(),
            e,
            s.asn.distinct(),
            s.asn.matched,
            s.asn.unmatched
        );
    }
}

#[test]
fn ithi_csv_of_the_fixture_parses_back() {
    let s = run("ithi.pcap", 1, None);
    let rows = s.ithi.rows();
    let mut out = Vec::new();
    dnsobs::export::ithi::write_csv(&mut out, "2025-11-24", "dnsobs-test", &rows).expect("present");
    let text = String::from_utf8(out).expect("present");
    assert_eq!(text.lines().count(), rows.len());
    for (line, r) in text.lines().zip(&rows) {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 6, "{line}");
        assert_eq!(f[0], r.metric);
        assert_eq!(f[3].trim(), r.key);
        assert!((f[4].trim().parse::<f64>().expect("present") - r.value).abs() < 5e-7);
        assert_eq!(f[5], "");
    }
    assert!(
        text.starts_with("M3.1,2025-11-24,dnsobs-test, , 0.526316,\n"),
        "{text}"
    );
}
