//! The exact unique-source set at its cap: the overflow is counted per IP version, in the JSON
//! report and on `/metrics`, exactly, for a random-source flood (every query a new source, so
//! the overflow is the distinct sources past the cap, however the traffic is split between
//! workers and flushes).

use std::time::Duration;

use crate::flood::{Scenario, generate};
use crate::util::daemon::{Config, PORT, QUERIES, samples, scrape, scrape_sum, start_in, value};
use crate::util::netns::Netns;
use crate::util::{Scratch, wait_for};

const CAP: u64 = 1000;
const PACKETS: u64 = 5000;

fn scrape_value(text: &str, series: &str) -> u64 {
    value(&samples(text), series) as u64
}

#[test]
fn source_overflow_counted_in_replay() {
    let dir = Scratch::tmp("dnsobs-caps-replay");
    let path = dir.join("flood.pcap");
    let c = generate(&path, Scenario::Subdomain, PACKETS, 7);
    assert!(c.distinct.iter().all(|&d| d > CAP), "{c:?}");
    for threads in [1, 2] {
        let settings = dnsobs::pipeline::Settings {
            threads,
            aggregate: dnsobs::aggregate::Settings {
                max_sources: CAP as usize,
                ..Default::default()
            },
            ..Default::default()
        };
        let r = dnsobs::pipeline::replay(std::slice::from_ref(&path), &settings).expect("replay");
        let j = dnsobs::export::report::json(&r);
        for (v, key) in ["4", "6"].iter().enumerate() {
            assert_eq!(j["unique_query_sources"][key].as_u64(), Some(CAP));
            assert_eq!(
                j["unique_query_sources_overflow"][key].as_u64(),
                Some(c.distinct[v] - CAP),
                "IPv{key}, {threads} thread(s)"
            );
        }
        assert_eq!(j["unique_query_sources_exact"].as_bool(), Some(false));
        let text = dnsobs::export::prometheus::text(&std::sync::Arc::new(r)).expect("text");
        assert!(text.contains("# TYPE dnsobs_unique_query_sources_overflow_total counter\n"));
        for (v, key) in ["4", "6"].iter().enumerate() {
            assert_eq!(
                scrape_value(
                    &text,
                    &format!("dnsobs_unique_query_sources_overflow_total{{ip_version=\"{key}\"}}")
                ),
                c.distinct[v] - CAP
            );
        }
    }
}

#[test]
fn source_overflow_counted_by_the_daemon() {
    if !crate::util::netns::available(&["ip", "tcpreplay"]) {
        return;
    }
    let dir = Scratch::tmp("dnsobs-caps-daemon");
    let path = dir.join("flood.pcap");
    let c = generate(&path, Scenario::Subdomain, PACKETS, 11);
    let config = Config::cap0(2, PORT).aggregate(&format!("max_unique_sources = {CAP}\n"));
    let mut ns = Netns::new("caps");
    start_in(&mut ns, &dir, &config);
    ns.replay(&path, 5000);
    wait_for("every query counted", Duration::from_secs(10), || {
        scrape_sum(&ns, PORT, QUERIES) as u64 == c.udp[0] + c.udp[1]
    });
    let text = scrape(&ns, PORT);
    for (v, key) in ["4", "6"].iter().enumerate() {
        assert_eq!(
            scrape_value(
                &text,
                &format!("dnsobs_unique_query_sources{{ip_version=\"{key}\"}}")
            ),
            CAP
        );
        assert_eq!(
            scrape_value(
                &text,
                &format!("dnsobs_unique_query_sources_overflow_total{{ip_version=\"{key}\"}}")
            ),
            c.distinct[v] - CAP,
            "IPv{key}"
        );
    }
}
