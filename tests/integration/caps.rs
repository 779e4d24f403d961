//! The exact unique-source set at its cap: the overflow is counted per IP version, in the JSON
//! report and on `/metrics`, exactly, for a random-source flood (every query a new source, so
//! the overflow is the distinct sources past the cap, however the traffic is split between
//! workers and flushes).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::flood::{Scenario, generate};
use crate::netns::{Netns, samples, value};

const CAP: u64 = 1000;
const PACKETS: u64 = 5000;
const PORT: u16 = 10053;

struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let d = std::env::temp_dir().join(format!("dnsobs-caps-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        Self(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scrape_value(text: &str, series: &str) -> u64 {
    value(&samples(text), series) as u64
}

#[test]
fn source_overflow_counted_in_replay() {
    let dir = TempDir::new("replay");
    let path = dir.0.join("flood.pcap");
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

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

fn config(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("dnsobs.toml");
    let text = format!(
        "[capture]\ninterfaces = [\"cap0\"]\nworkers = 2\n\n[aggregate]\nflush_interval_seconds = 0.2\n\
         max_unique_sources = {CAP}\n\n[export]\nlisten = \"127.0.0.1:{PORT}\"\n"
    );
    std::fs::write(&p, text).expect("config");
    p
}

#[test]
fn source_overflow_counted_by_the_daemon() {
    if !crate::netns::available(&["ip", "tcpreplay"]) {
        return;
    }
    let dir = TempDir::new("daemon");
    let path = dir.0.join("flood.pcap");
    let c = generate(&path, Scenario::Subdomain, PACKETS, 11);
    let cfg = config(&dir.0);
    let mut ns = Netns::new("caps");
    let _pid = ns.spawn(
        &[
            env!("CARGO_BIN_EXE_dnsobs"),
            "run",
            "--config",
            cfg.to_str().expect("utf-8"),
        ],
        &dir.0.join("dnsobs.log"),
    );
    wait_for("healthy daemon", Duration::from_secs(15), || {
        ns.get(PORT, "/healthz").is_some_and(|(s, _)| s == 200)
    });
    ns.replay(&path, 5000);
    let scrape = || ns.get(PORT, "/metrics").expect("scrape").1;
    let queries = |t: &str| -> u64 {
        samples(t)
            .iter()
            .filter(|(k, _)| k.starts_with("dnsobs_queries_total{"))
            .map(|(_, v)| *v as u64)
            .sum()
    };
    wait_for("every query counted", Duration::from_secs(10), || {
        queries(&scrape()) == c.udp[0] + c.udp[1]
    });
    let text = scrape();
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
