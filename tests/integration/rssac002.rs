//! RSSAC002v5 counters and YAML on root-mix-v4v6.pcap, against its tshark oracle where it
//! covers the figures, and against an independent etherparse pass for the IPv6 /64 count.

use std::collections::{BTreeMap, HashSet};
use std::fs;

use dnsobs::aggregate::rssac002::{DEFAULT_SOURCE_CAP, Rssac002, bin_bounds};
use dnsobs::capture::file::Reader;
use dnsobs::decode::{Event, Malformed, Message, MsgCtx, Name, Sink};
use dnsobs::export::rssac002 as yaml;
use etherparse::{NetSlice, SlicedPacket, TransportSlice};

use crate::util::{decode_sharded, oracle, pcaps};

const FIXTURE: &str = "root-mix-v4v6.pcap";

/// Forwards every DNS message to the RSSAC002 counters and nothing else.
struct Feed(Rssac002);

impl Sink for Feed {
    fn message(&mut self, ctx: &MsgCtx, msg: &Message, _name: &Name) {
        self.0.observe(ctx, msg);
    }
    fn malformed(&mut self, _reason: Malformed, _ctx: Option<&MsgCtx>) {}
    fn event(&mut self, _event: Event) {}
}

fn counted() -> Rssac002 {
    let mut feed = Feed(Rssac002::new(DEFAULT_SOURCE_CAP));
    decode_sharded(FIXTURE, 1, |_, decoder, p| decoder.decode(p, &mut feed));
    feed.0
}

/// Distinct IPv6 /64 prefixes of query senders, without dnsobs' decoder: IPv6 frames to port
/// 53 that carry a UDP DNS query (QR clear) or TCP payload. Also returns the IPv6 addresses.
fn v6_sources_by_etherparse() -> (HashSet<[u8; 16]>, HashSet<[u8; 8]>) {
    let mut reader = Reader::open(&pcaps().join(FIXTURE)).expect("fixture opens");
    let (mut addrs, mut prefixes) = (HashSet::new(), HashSet::new());
    while let Some(p) = reader.next().expect("fixture reads") {
        let Ok(s) = SlicedPacket::from_ethernet(p.data) else {
            continue;
        };
        let Some(NetSlice::Ipv6(ip)) = &s.net else {
            continue;
        };
        let query = match &s.transport {
            Some(TransportSlice::Udp(u)) => {
                u.destination_port() == 53 && u.payload().len() >= 12 && u.payload()[2] & 0x80 == 0
            }
            Some(TransportSlice::Tcp(t)) => t.destination_port() == 53 && !t.payload().is_empty(),
            _ => false,
        };
        if query {
            let a = ip.header().source();
            addrs.insert(a);
            let mut p64 = [0u8; 8];
            p64.copy_from_slice(&a[..8]);
            prefixes.insert(p64);
        }
    }
    (addrs, prefixes)
}

fn num(v: &serde_json::Value, path: &[&str]) -> u64 {
    let mut x = v;
    for k in path {
        x = &x[*k];
    }
    x.as_u64()
        .unwrap_or_else(|| panic!("oracle lacks {path:?}"))
}

#[test]
fn root_mix_against_oracle() {
    let r = counted();
    let o = oracle(FIXTURE);
    assert_eq!(r.late(), 0);
    assert_eq!(r.evicted_days(), 0);
    let days: Vec<_> = r.days().collect();
    // The capture lies within 2026-11-24 UTC.
    assert_eq!(days.len(), 1);
    let d = days[0];
    assert_eq!(yaml::start_period(d.day()), "2026-11-24T00:00:00Z");

    // traffic-volume: by transport and by IP version.
    let q = |t: usize, v: usize| d.queries(t, v);
    assert_eq!(q(0, 0) + q(0, 1), num(&o, &["queries_by_transport", "udp"]));
    assert_eq!(q(1, 0) + q(1, 1), num(&o, &["queries_by_transport", "tcp"]));
    assert_eq!(q(0, 0) + q(1, 0), num(&o, &["queries_by_ip_version", "4"]));
    assert_eq!(q(0, 1) + q(1, 1), num(&o, &["queries_by_ip_version", "6"]));
    assert_eq!(d.total_queries(), num(&o, &["queries"]));
    assert_eq!(d.total_responses(), num(&o, &["responses"]));

    // rcode-volume, by the oracle's mnemonics (IANA DNS RCODE registry, by hand).
    let codes: BTreeMap<&str, u16> = [
        ("NOERROR", 0),
        ("FORMERR", 1),
        ("SERVFAIL", 2),
        ("NXDOMAIN", 3),
        ("NOTIMP", 4),
        ("REFUSED", 5),
        ("YXDOMAIN", 6),
        ("YXRRSET", 7),
        ("NXRRSET", 8),
        ("NOTAUTH", 9),
        ("NOTZONE", 10),
        ("BADVERS", 16),
        ("BADCOOKIE", 23),
    ]
    .into_iter()
    .collect();
    let want: BTreeMap<u16, u64> = o["responses_by_rcode"]
        .as_object()
        .expect("rcodes in the oracle")
        .iter()
        .map(|(k, v)| (codes[k.as_str()], v.as_u64().unwrap_or(0)))
        .collect();
    let got: BTreeMap<u16, u64> = d.rcodes().collect();
    assert_eq!(got, want);

    // unique-sources.
    let s = d.sources();
    assert_eq!(s.exact, [true; 3]);
    assert_eq!(s.counts[0], num(&o, &["unique_query_sources", "4"]));
    assert_eq!(s.counts[1], num(&o, &["unique_query_sources", "6"]));
    let (addrs6, prefixes) = v6_sources_by_etherparse();
    assert_eq!(addrs6.len() as u64, s.counts[1]);
    assert_eq!(prefixes.len() as u64, s.counts[2]);
    assert!(s.counts[2] >= 1 && s.counts[2] <= s.counts[1]);

    // traffic-sizes: every message in exactly one bin; the byte sums lie within the bins.
    for (hists, total, sum_key) in [
        (
            [d.request_sizes(0), d.request_sizes(1)],
            d.total_queries(),
            "query_size_bytes_sum",
        ),
        (
            [d.response_sizes(0), d.response_sizes(1)],
            d.total_responses(),
            "response_size_bytes_sum",
        ),
    ] {
        let (mut n, mut lo, mut hi) = (0u64, 0u64, 0u64);
        for bins in hists {
            for (i, &c) in bins.iter().enumerate() {
                let (l, h) = bin_bounds(i, bins.len());
                n += c;
                lo += c * u64::from(l);
                hi += c * u64::from(h);
            }
        }
        let sum = num(&o, &[sum_key]);
        assert_eq!(n, total, "{sum_key}: messages in bins");
        assert!(lo <= sum && sum <= hi, "{sum_key}: {lo} <= {sum} <= {hi}");
    }
    let udp_q: u64 = d.request_sizes(0).iter().sum();
    assert_eq!(udp_q, q(0, 0) + q(0, 1));
}

/// The subset of YAML the documents use: `key: value` at the top, `key:` followed by
/// two-space-indented `k: v` lines, or `key: {}`; comments after ` # `.
#[derive(Debug, Default)]
struct Doc {
    scalars: Vec<(String, String)>,
    maps: Vec<(String, Vec<(String, u64)>)>,
}

fn parse(text: &str) -> Doc {
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("---"));
    let mut doc = Doc::default();
    for line in lines {
        let line = line.split(" # ").next().unwrap_or(line);
        if let Some(inner) = line.strip_prefix("  ") {
            let (k, v) = inner.split_once(": ").expect("k: v");
            let n = v.parse().expect("a count");
            doc.maps
                .last_mut()
                .expect("inside a mapping")
                .1
                .push((k.into(), n));
        } else if let Some(k) = line.strip_suffix(':') {
            doc.maps.push((k.into(), Vec::new()));
        } else if let Some(k) = line.strip_suffix(": {}") {
            doc.maps.push((k.into(), Vec::new()));
        } else {
            let (k, v) = line.split_once(": ").expect("key: value");
            assert!(!k.starts_with(' '), "{line:?}");
            doc.scalars.push((k.into(), v.into()));
        }
    }
    doc
}

#[test]
fn root_mix_yaml_round_trip() {
    let r = counted();
    let d = r.days().next().expect("a day");
    let dir = crate::util::scratch::tmp("dnsobs-it-rssac002");
    let paths = yaml::write_all(&dir, "test-root", &r).expect("written");
    assert_eq!(paths.len(), 4);
    let read = |metric: &str| {
        let p = dir.join(format!("test-root-20261124-{metric}.yaml"));
        parse(&fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
    };
    let head = |doc: &Doc, metric: &str| {
        let h: Vec<(&str, &str)> = doc.scalars[..4]
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            h,
            [
                ("version", "rssac002v5"),
                ("service", "test-root"),
                ("start-period", "'2026-11-24T00:00:00Z'"),
                ("metric", metric),
            ]
        );
    };
    let rest = |doc: &Doc| -> Vec<(String, u64)> {
        doc.scalars[4..]
            .iter()
            .map(|(k, v)| (k.clone(), v.parse().expect("a count")))
            .collect()
    };

    let tv = read("traffic-volume");
    head(&tv, "traffic-volume");
    let mut want = Vec::new();
    for kind in ["queries-received", "responses-sent"] {
        for (t, tl) in [(0, "udp"), (1, "tcp")] {
            for (v, vl) in [(0, "ipv4"), (1, "ipv6")] {
                let n = if kind == "queries-received" {
                    d.queries(t, v)
                } else {
                    d.responses(t, v)
                };
                want.push((format!("dns-{tl}-{kind}-{vl}"), n));
            }
        }
    }
    assert_eq!(rest(&tv), want);
    assert!(tv.maps.is_empty());

    let ts = read("traffic-sizes");
    head(&ts, "traffic-sizes");
    assert_eq!(ts.scalars.len(), 4);
    let names: Vec<&str> = ts.maps.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "udp-request-sizes",
            "udp-response-sizes",
            "tcp-request-sizes",
            "tcp-response-sizes"
        ]
    );
    for ((_, entries), bins) in ts.maps.iter().zip([
        d.request_sizes(0),
        d.response_sizes(0),
        d.request_sizes(1),
        d.response_sizes(1),
    ]) {
        let want: Vec<(String, u64)> = bins
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, &n)| {
                let (lo, hi) = bin_bounds(i, bins.len());
                let key = if i + 1 == bins.len() {
                    format!("{lo}-")
                } else {
                    format!("{lo}-{hi}")
                };
                (key, n)
            })
            .collect();
        assert_eq!(entries, &want);
        assert!(entries.iter().all(|(k, _)| {
            let lo: usize = k
                .split('-')
                .next()
                .and_then(|x| x.parse().ok())
                .unwrap_or(1);
            lo.is_multiple_of(16)
        }));
    }

    let rv = read("rcode-volume");
    head(&rv, "rcode-volume");
    let want: Vec<(String, u64)> = d.rcodes().map(|(c, n)| (c.to_string(), n)).collect();
    assert_eq!(rest(&rv), want);
    assert_eq!(
        rest(&rv).iter().map(|(_, n)| n).sum::<u64>(),
        d.total_responses()
    );

    let us = read("unique-sources");
    head(&us, "unique-sources");
    let s = d.sources();
    assert_eq!(
        rest(&us),
        vec![
            ("num-sources-ipv4".to_string(), s.counts[0]),
            ("num-sources-ipv6".to_string(), s.counts[1]),
            ("num-sources-ipv6-aggregate".to_string(), s.counts[2]),
        ]
    );
    let _ = fs::remove_dir_all(&dir);
}
