//! The daemon with real parts: libpcap on a veth pair in network namespaces, fixtures replayed
//! with tcpreplay, `/metrics` scraped (and scraped again by a real Prometheus server), compared
//! with the fixtures' oracle figures; SIGHUP with a bad config, SIGTERM with final counts; the
//! tunnelled fixtures through the default BPF filter.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::daemon::{Config, PORT, samples, scrape, settled_packets, start_in, sum, value};
use crate::util::netns::{Netns, signal};
use crate::util::{oracle, pcaps, promtool, scratch};

const FIXTURES: [&str; 3] = ["root-mix-v4v6.pcap", "tcp-pipelined.pcap", "fragments.pcap"];

/// The tunnelled fixtures with an Ethernet link (the PPP ones cannot go onto a veth, and
/// tun-pppoe-qinq's outer tag would be taken off by the kernel before the capture filter).
const TUNNELLED: [&str; 8] = [
    "tun-gre.pcap",
    "tun-erspan2.pcap",
    "tun-erspan3.pcap",
    "tun-vxlan.pcap",
    "tun-geneve.pcap",
    "tun-6in4.pcap",
    "tun-ipip.pcap",
    "tun-pppoe.pcap",
];

/// The oracle figures of the replayed fixtures, summed, keyed like the Prometheus series.
fn expected(fixtures: &[&str]) -> BTreeMap<String, f64> {
    let mut e = BTreeMap::new();
    let mut add = |k: String, v: f64| *e.entry(k).or_insert(0.0) += v;
    for &f in fixtures {
        let o = oracle(f);
        let n = |k: &str| o[k].as_f64().unwrap_or(0.0);
        add("queries".into(), n("queries"));
        add("responses".into(), n("responses"));
        add("queries_do".into(), n("queries_do"));
        add("queries_edns".into(), n("queries_edns"));
        for (map, prefix) in [
            ("queries_by_transport", "transport"),
            ("queries_by_ip_version", "ip_version"),
            ("queries_by_qtype", "qtype"),
            ("responses_by_rcode", "rcode"),
        ] {
            for (k, v) in o[map].as_object().expect("map") {
                // Unassigned types fold into the bounded label `other`.
                let k = if k.starts_with("TYPE") {
                    "other"
                } else {
                    k.as_str()
                };
                add(format!("{prefix}:{k}"), v.as_f64().unwrap_or(0.0));
            }
        }
    }
    e
}

/// The same figures read from a scrape.
fn observed(text: &str) -> BTreeMap<String, f64> {
    let s = samples(text);
    let mut o = BTreeMap::new();
    o.insert("queries".into(), sum(&s, "dnsobs_queries_total{"));
    o.insert("responses".into(), sum(&s, "dnsobs_responses_total{"));
    o.insert("queries_do".into(), sum(&s, "dnsobs_queries_do_total{"));
    o.insert("queries_edns".into(), sum(&s, "dnsobs_queries_edns_total{"));
    for (k, v) in &s {
        let label = |name: &str| {
            k.split(&format!("{name}=\""))
                .nth(1)
                .and_then(|r| r.split('"').next())
        };
        if k.starts_with("dnsobs_queries_total{") {
            for l in ["transport", "ip_version"] {
                if let Some(x) = label(l) {
                    *o.entry(format!("{l}:{x}")).or_insert(0.0) += v;
                }
            }
        } else if k.starts_with("dnsobs_query_qtypes_total{") {
            o.insert(format!("qtype:{}", label("qtype").unwrap_or("?")), *v);
        } else if k.starts_with("dnsobs_response_rcodes_total{") {
            o.insert(format!("rcode:{}", label("rcode").unwrap_or("?")), *v);
        }
    }
    o.retain(|_, v| *v != 0.0);
    o
}

fn run_live(workers: usize, pps: u32, fixtures: &[&str]) -> (Netns, u32, PathBuf, String) {
    let tag = format!("w{workers}{}", if fixtures == FIXTURES { "" } else { "t" });
    let dir = scratch::tmp(&format!("dnsobs-live-{tag}"));
    let mut ns = Netns::new(&tag);
    let pid = start_in(&mut ns, &dir, &Config::cap0(workers, PORT));
    for &f in fixtures {
        ns.replay(&pcaps().join(f), pps);
    }
    let body = settled_packets(&ns, PORT, 100).expect("packet count never settled");
    (ns, pid, dir, body)
}

fn assert_counts(body: &str, workers: usize, fixtures: &[&str]) {
    let s = samples(body);
    assert_eq!(
        sum(&s, "dnsobs_capture_dropped_packets_total{"),
        0.0,
        "kernel or interface drops at this rate"
    );
    let want = expected(fixtures);
    let got = observed(body);
    assert_eq!(
        got, want,
        "live counters with {workers} worker(s) differ from the oracle"
    );
    assert_eq!(sum(&s, "dnsobs_capture_up{"), workers as f64);
}

#[test]
fn live_one_worker_counts_reload_and_stop() {
    if !crate::util::netns::available(&["ip", "tcpreplay"]) {
        return;
    }
    let (mut ns, pid, dir, body) = run_live(1, 5000, &FIXTURES);
    assert_counts(&body, 1, &FIXTURES);
    assert_eq!(
        value(&samples(&body), "dnsobs_config_last_reload_successful"),
        1.0
    );

    // A bad configuration on SIGHUP: logged, the running one kept, the endpoint still serves.
    std::fs::write(dir.join("dnsobs.toml"), "[capture]\nsnaplen = 1\n").expect("config");
    signal(pid, libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(700));
    let after = scrape(&ns, PORT);
    assert_eq!(
        value(&samples(&after), "dnsobs_config_last_reload_successful"),
        0.0
    );
    assert_eq!(
        observed(&after),
        observed(&body),
        "counters survive a failed reload"
    );

    // SIGTERM: clean exit 0 with the final counts in the log.
    signal(pid, libc::SIGTERM);
    let st = ns
        .wait(pid, Duration::from_secs(10))
        .expect("daemon exits after SIGTERM");
    assert!(st.success(), "exit status {st:?}");
    let log = std::fs::read_to_string(dir.join("dnsobs.log")).expect("log");
    assert!(
        log.contains("reload failed, keeping the running configuration"),
        "{log}"
    );
    assert!(log.contains("capture.snaplen"), "{log}");
    let want = expected(&FIXTURES);
    let line = log
        .lines()
        .find(|l| l.contains("final counts:"))
        .expect("final counts logged");
    assert!(
        line.contains(&format!("queries={} ", want["queries"])),
        "{line}"
    );
    assert!(
        line.contains(&format!("responses={} ", want["responses"])),
        "{line}"
    );
}

#[test]
fn live_two_workers_and_real_prometheus() {
    if !crate::util::netns::available(&["ip", "tcpreplay", "prometheus"]) {
        return;
    }
    let (mut ns, _pid, dir, body) = run_live(2, 5000, &FIXTURES);
    assert_counts(&body, 2, &FIXTURES);
    // promtool lints what /metrics serves, when it is installed (CI installs it).
    if promtool::installed() {
        promtool::check_metrics(&body).unwrap_or_else(|e| panic!("promtool: {e}"));
    }
    // A real Prometheus server scrapes the daemon; read the value back through its API.
    let prom_cfg = dir.join("prometheus.yml");
    std::fs::write(
        &prom_cfg,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: dnsobs\n    static_configs:\n      - targets: ['127.0.0.1:{PORT}']\n"
        ),
    )
    .expect("prometheus.yml");
    let data = dir.join("prom-data");
    let log = dir.join("prometheus.log");
    ns.spawn(
        &[
            "prometheus",
            &format!("--config.file={}", prom_cfg.display()),
            &format!("--storage.tsdb.path={}", data.display()),
            "--web.listen-address=127.0.0.1:19090",
        ],
        &log,
    );
    let want = expected(&FIXTURES)["queries"];
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < Duration::from_secs(40) {
        std::thread::sleep(Duration::from_secs(1));
        if let Some((200, b)) = ns.get(19090, "/api/v1/query?query=sum%28dnsobs_queries_total%29") {
            let v: Value = serde_json::from_str(&b).unwrap_or(Value::Null);
            let got = v["data"]["result"][0]["value"][1]
                .as_str()
                .and_then(|s| s.parse::<f64>().ok());
            if got == Some(want) {
                return;
            }
            last = b;
        }
    }
    panic!("Prometheus never reported sum(dnsobs_queries_total) = {want}; last answer: {last}");
}

/// Mirrored and tunnelled traffic live: GRE (with outer fragments), ERSPAN II and III, VXLAN,
/// GENEVE, 6in4, IP-in-IP and PPPoE frames pass the default BPF filter and count as their
/// oracles say (inner addresses and IP version), with two workers; nothing is malformed.
#[test]
fn live_tunnelled_fixtures() {
    if !crate::util::netns::available(&["ip", "tcpreplay"]) {
        return;
    }
    let (_ns, _pid, _dir, body) = run_live(2, 5000, &TUNNELLED);
    assert_counts(&body, 2, &TUNNELLED);
    let s = samples(&body);
    assert_eq!(sum(&s, "dnsobs_malformed_packets_total{"), 0.0);
    // 8 × 129 queries, as each oracle says.
    assert_eq!(sum(&s, "dnsobs_queries_total{"), 8.0 * 129.0);
}
