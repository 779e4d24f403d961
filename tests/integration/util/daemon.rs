//! The daemon under test: its configuration file, starting it (in a test host's capture
//! namespace or here) and waiting until it is healthy, and reading `/metrics`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::netns::{Netns, get};
use super::{BIN, wait_for};

/// The port the daemons of the namespace tests listen on (each test host has its own loopback).
pub const PORT: u16 = 10053;

/// The prefix of the per-label query counters.
pub const QUERIES: &str = "dnsobs_queries_total{";

/// A daemon configuration, built section by section.
pub struct Config {
    capture: String,
    flush: &'static str,
    aggregate: String,
    port: u16,
    export: String,
    tail: String,
}

impl Config {
    /// Captures on `cap0` (a test host's capture end) with `workers` workers, flushes every
    /// 0.2 s and serves on 127.0.0.1:`port`.
    pub fn cap0(workers: usize, port: u16) -> Self {
        Self::new(
            format!("interfaces = [\"cap0\"]\nworkers = {workers}\n"),
            port,
        )
    }

    /// Reads dnstap from the socket `socket`, flushes every 0.2 s and serves on
    /// 127.0.0.1:`port`.
    pub fn dnstap(socket: &Path, port: u16) -> Self {
        Self::new(format!("dnstap_socket = \"{}\"\n", socket.display()), port)
    }

    fn new(capture: String, port: u16) -> Self {
        Self {
            capture,
            flush: "0.2",
            aggregate: String::new(),
            port,
            export: String::new(),
            tail: String::new(),
        }
    }

    /// More lines (each ending in a newline) in `[capture]`.
    pub fn capture(mut self, lines: &str) -> Self {
        self.capture += lines;
        self
    }

    /// `aggregate.flush_interval_seconds`.
    pub fn flush(mut self, seconds: &'static str) -> Self {
        self.flush = seconds;
        self
    }

    /// More lines in `[aggregate]`.
    pub fn aggregate(mut self, lines: &str) -> Self {
        self.aggregate += lines;
        self
    }

    /// More lines in `[export]`.
    pub fn export(mut self, lines: &str) -> Self {
        self.export += lines;
        self
    }

    /// More sections after `[export]`.
    pub fn sections(mut self, text: &str) -> Self {
        self.tail += text;
        self
    }

    /// The file's text.
    pub fn text(&self) -> String {
        format!(
            "[capture]\n{}\n[aggregate]\nflush_interval_seconds = {}\n{}\n\
             [export]\nlisten = \"127.0.0.1:{}\"\n{}\n{}",
            self.capture, self.flush, self.aggregate, self.port, self.export, self.tail
        )
    }

    /// Writes `dir/dnsobs.toml`; its path.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let p = dir.join("dnsobs.toml");
        std::fs::write(&p, self.text()).expect("config");
        p
    }
}

/// Writes `config` into `dir`, starts `dnsobs run` on it in the capture namespace of `ns`
/// (output in `dir/dnsobs.log`) and waits (15 s at most) until it is healthy; its pid.
pub fn start_in(ns: &mut Netns, dir: &Path, config: &Config) -> u32 {
    let cfg = config.write(dir);
    let pid = ns.spawn(
        &[BIN, "run", "--config", cfg.to_str().expect("utf-8")],
        &dir.join("dnsobs.log"),
    );
    wait_healthy(ns, config.port, Duration::from_secs(15));
    pid
}

/// Waits until `/healthz` on `port` in the capture namespace of `ns` answers 200.
pub fn wait_healthy(ns: &Netns, port: u16, timeout: Duration) {
    wait_for("healthy daemon", timeout, || {
        ns.get(port, "/healthz").is_some_and(|(s, _)| s == 200)
    });
}

/// Writes `config` into `dir` and starts `dnsobs run` on it in this namespace (stderr in
/// `dir/dnsobs.log`); see [`wait_healthy_here`].
pub fn spawn_here(dir: &Path, config: &Config) -> Child {
    let cfg = config.write(dir);
    Command::new(BIN)
        .args(["run", "--config", cfg.to_str().expect("utf-8")])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("dnsobs.log")).expect("log"))
        .spawn()
        .expect("dnsobs starts")
}

/// Waits until `/healthz` on 127.0.0.1:`port` in this namespace answers 200.
pub fn wait_healthy_here(port: u16, timeout: Duration) {
    wait_for("dnsobs healthy", timeout, || {
        get(port, "/healthz").is_some_and(|(s, _)| s == 200)
    });
}

/// `/metrics` from `port` in the capture namespace of `ns` (answered with status 200).
pub fn scrape(ns: &Netns, port: u16) -> String {
    let (status, body) = ns.get(port, "/metrics").expect("scrape");
    assert_eq!(status, 200);
    body
}

/// `/metrics` from 127.0.0.1:`port` in this namespace (answered with status 200).
pub fn scrape_here(port: u16) -> String {
    let (status, body) = get(port, "/metrics").expect("scrape");
    assert_eq!(status, 200);
    body
}

/// The value of one series (exact name with labels) in a scrape of `ns`, or 0.
pub fn scrape_value(ns: &Netns, port: u16, series: &str) -> f64 {
    value(&samples(&scrape(ns, port)), series)
}

/// The sum of the series starting with `prefix` in a scrape of `ns`.
pub fn scrape_sum(ns: &Netns, port: u16, prefix: &str) -> f64 {
    sum(&samples(&scrape(ns, port)), prefix)
}

/// Queries counted, once the count stops moving (every worker flushed): scraped every 0.6 s.
pub fn settled_queries(ns: &Netns, port: u16) -> f64 {
    settle(
        ns,
        port,
        QUERIES,
        Duration::from_millis(600),
        usize::MAX,
        |_| true,
    )
    .expect("the query count settles")
    .0
}

/// The scrape once the delivered-packet count is above 0 and stops moving (every worker
/// flushed), scraped every 0.5 s; after `tries` scrapes without that, `Err` with the last.
pub fn settled_packets(ns: &Netns, port: u16, tries: usize) -> Result<String, String> {
    let prefix = "dnsobs_capture_packets_total{";
    settle(ns, port, prefix, Duration::from_millis(500), tries, |n| {
        n > 0.0
    })
    .map(|s| s.1)
}

/// Scrapes every `every` until the sum of the series starting with `prefix` is the same twice
/// in a row and `accept`ed: that sum and scrape. After `tries` scrapes, `Err` with the last.
fn settle(
    ns: &Netns,
    port: u16,
    prefix: &str,
    every: Duration,
    tries: usize,
    accept: impl Fn(f64) -> bool,
) -> Result<(f64, String), String> {
    let mut last = -1.0;
    let mut body = String::new();
    for _ in 0..tries {
        std::thread::sleep(every);
        body = scrape(ns, port);
        let n = sum(&samples(&body), prefix);
        if n == last && accept(n) {
            return Ok((n, body));
        }
        last = n;
    }
    Err(body)
}

/// Parses Prometheus text into (series with labels, value) pairs.
pub fn samples(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

/// The value of one series (exact name with labels), or 0.
pub fn value(samples: &[(String, f64)], series: &str) -> f64 {
    samples
        .iter()
        .find(|(k, _)| k == series)
        .map_or(0.0, |(_, v)| *v)
}

/// The sum of the series starting with `prefix` (a family with `{`, or any prefix).
pub fn sum(samples: &[(String, f64)], prefix: &str) -> f64 {
    samples
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(_, v)| v)
        .sum()
}
