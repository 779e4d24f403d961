//! The daemon with real parts: libpcap on a veth pair in network namespaces, fixtures replayed
//! with tcpreplay, `/metrics` scraped (and scraped again by a real Prometheus server), compared
//! with the fixtures' oracle figures; SIGHUP with a bad config, SIGTERM with final counts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::netns::{Netns, samples, signal, value};
use crate::util::{oracle, pcaps};

const PORT: u16 = 10053;
const FIXTURES: [&str; 3] = ["root-mix-v4v6.pcap", "tcp-pipelined.pcap", "fragments.pcap"];

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dnsobs-live-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// The oracle figures of the replayed fixtures, summed, keyed like the Prometheus series.
fn expected() -> BTreeMap<String, f64> {
    let mut e = BTreeMap::new();
    let mut add = |k: String, v: f64| *e.entry(k).or_insert(0.0) += v;
    for f in FIXTURES {
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
    let sum = |prefix: &str| {
        s.iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v)
            .sum::<f64>()
    };
    o.insert("queries".into(), sum("dnsobs_queries_total{"));
    o.insert("responses".into(), sum("dnsobs_responses_total{"));
    o.insert("queries_do".into(), sum("dnsobs_queries_do_total{"));
    o.insert("queries_edns".into(), sum("dnsobs_queries_edns_total{"));
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

fn write_config(dir: &Path, workers: usize) -> PathBuf {
    let p = dir.join("dnsobs.toml");
    let text = format!(
        "[capture]\ninterfaces = [\"cap0\"]\nworkers = {workers}\n\n[aggregate]\nflush_interval_seconds = 0.2\n\n\
         [export]\nlisten = \"127.0.0.1:{PORT}\"\n"
    );
    std::fs::write(&p, text).expect("config");
    p
}

fn wait_healthy(ns: &Netns) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        if ns.get(PORT, "/healthz").is_some_and(|(s, _)| s == 200) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("daemon did not become healthy");
}

/// Scrapes until the delivered-packet count stops moving (every worker flushed).
fn settled(ns: &Netns) -> String {
    let mut last = -1.0;
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(500));
        let (status, body) = ns.get(PORT, "/metrics").expect("scrape");
        assert_eq!(status, 200);
        let s = samples(&body);
        let n: f64 = s
            .iter()
            .filter(|(k, _)| k.starts_with("dnsobs_capture_packets_total{"))
            .map(|(_, v)| v)
            .sum();
        if n == last && n > 0.0 {
            return body;
        }
        last = n;
    }
    panic!("packet count never settled");
}

fn run_live(workers: usize, pps: u32) -> (Netns, u32, PathBuf, String) {
    let dir = tmpdir(&format!("w{workers}"));
    let cfg = write_config(&dir, workers);
    let mut ns = Netns::new(&format!("w{workers}"));
    let bin = env!("CARGO_BIN_EXE_dnsobs");
    let log = dir.join("dnsobs.log");
    let pid = ns.spawn(
        &[bin, "run", "--config", cfg.to_str().expect("utf-8")],
        &log,
    );
    wait_healthy(&ns);
    for f in FIXTURES {
        ns.replay(&pcaps().join(f), pps);
    }
    let body = settled(&ns);
    (ns, pid, dir, body)
}

fn assert_counts(body: &str, workers: usize) {
    let s = samples(body);
    let drops: f64 = s
        .iter()
        .filter(|(k, _)| k.starts_with("dnsobs_capture_dropped_packets_total{"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(drops, 0.0, "kernel or interface drops at this rate");
    let want = expected();
    let got = observed(body);
    assert_eq!(
        got, want,
        "live counters with {workers} worker(s) differ from the oracle"
    );
    let up: f64 = s
        .iter()
        .filter(|(k, _)| k.starts_with("dnsobs_capture_up{"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(up, workers as f64);
}

#[test]
fn live_one_worker_counts_reload_and_stop() {
    if !crate::netns::available(&["ip", "tcpreplay"]) {
        return;
    }
    let (mut ns, pid, dir, body) = run_live(1, 5000);
    assert_counts(&body, 1);
    assert_eq!(
        value(&samples(&body), "dnsobs_config_last_reload_successful"),
        1.0
    );

    // A bad configuration on SIGHUP: logged, the running one kept, the endpoint still serves.
    std::fs::write(dir.join("dnsobs.toml"), "[capture]\nsnaplen = 1\n").expect("config");
    signal(pid, libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(700));
    let (status, after) = ns.get(PORT, "/metrics").expect("scrape after SIGHUP");
    assert_eq!(status, 200);
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
    let want = expected();
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
    if !crate::netns::available(&["ip", "tcpreplay", "prometheus"]) {
        return;
    }
    let (mut ns, _pid, dir, body) = run_live(2, 5000);
    assert_counts(&body, 2);
    // promtool lints what /metrics serves, when it is installed (CI installs it).
    if std::process::Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok()
    {
        let mut child = std::process::Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("promtool");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(body.as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("promtool output");
        assert!(
            out.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
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
    let want = expected()["queries"];
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
