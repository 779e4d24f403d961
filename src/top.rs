//! `dnsobs top`: a live terminal view of a running daemon, like dnstop.
//!
//! A fetcher thread GETs the daemon's `/metrics` every interval (plain HTTP/1.1 over a
//! `TcpStream` with timeouts); the text format is parsed into samples; rates come from the
//! difference of two successive scrapes. The same tables feed the terminal view (ratatui +
//! crossterm) and the one-shot text snapshot of `--once`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};

use crate::cli::TopArgs;

/// Exit status of `--once` when the daemon could not be reached.
const EXIT_UNREACHABLE: u8 = 1;

// ---------------------------------------------------------------------------------------------
// Prometheus text format

/// One `name{labels} value` line.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses the Prometheus text exposition format (and the sample lines of OpenMetrics);
/// comments, blank lines and lines that do not parse are skipped.
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() {
        return None;
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        let mut chars = r.char_indices().peekable();
        loop {
            // Skip separators, find `key="`.
            while chars
                .next_if(|(_, c)| *c == ',' || c.is_whitespace())
                .is_some()
            {}
            let &(start, c) = chars.peek()?;
            if c == '}' {
                chars.next();
                rest = &r[start + 1..];
                break;
            }
            let eq = r[start..].find('=')? + start;
            let key = r[start..eq].trim().to_owned();
            while chars.next_if(|(i, _)| *i <= eq).is_some() {}
            if chars.next()?.1 != '"' {
                return None;
            }
            let mut value = String::new();
            loop {
                match chars.next()?.1 {
                    '"' => break,
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    other => value.push(other),
                }
            }
            labels.push((key, value));
        }
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// One scrape: its samples and when it arrived.
#[derive(Clone, Debug)]
pub struct Scrape {
    pub at: Instant,
    pub samples: Vec<Sample>,
}

impl Scrape {
    /// Sum of every series of the family `name`.
    pub fn sum(&self, name: &str) -> f64 {
        self.sum_where(name, |_| true)
    }

    fn sum_where(&self, name: &str, f: impl Fn(&Sample) -> bool) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name && f(s))
            .map(|s| s.value)
            .sum()
    }

    /// The family `name` summed by the values of `labels` (joined with '/').
    pub fn by(&self, name: &str, labels: &[&str]) -> BTreeMap<String, f64> {
        let mut m = BTreeMap::new();
        for s in self.samples.iter().filter(|s| s.name == name) {
            let key: Vec<&str> = labels.iter().map(|l| s.label(l).unwrap_or("")).collect();
            *m.entry(key.join("/")).or_insert(0.0) += s.value;
        }
        m
    }
}

/// Per-second rate between two readings of a counter; 0 when time did not move, and the new
/// value over the interval after a counter reset (daemon restarted).
pub fn rate(prev: f64, cur: f64, dt: Duration) -> f64 {
    let secs = dt.as_secs_f64();
    if secs <= 0.0 {
        return 0.0;
    }
    let d = if cur >= prev { cur - prev } else { cur };
    d / secs
}

// ---------------------------------------------------------------------------------------------
// What is shown

/// The current and previous scrapes and the last error.
#[derive(Default)]
pub struct State {
    pub prev: Option<Scrape>,
    pub cur: Option<Scrape>,
    pub error: Option<String>,
    pub last_ok: Option<SystemTime>,
}

impl State {
    pub fn update(&mut self, r: Result<Scrape, String>) {
        match r {
            Ok(s) => {
                self.prev = self.cur.take();
                self.cur = Some(s);
                self.error = None;
                self.last_ok = Some(SystemTime::now());
            }
            Err(e) => self.error = Some(e),
        }
    }

    /// Total and per-second rate of a value computed from a scrape.
    fn total_rate(&self, f: impl Fn(&Scrape) -> f64) -> (f64, Option<f64>) {
        let Some(cur) = &self.cur else {
            return (0.0, None);
        };
        let total = f(cur);
        let r = self
            .prev
            .as_ref()
            .map(|p| rate(f(p), total, cur.at.duration_since(p.at)));
        (total, r)
    }

    /// Rows (key, rate, total) of a family grouped by labels, highest total first.
    fn grouped(&self, name: &str, labels: &[&str]) -> Vec<(String, Option<f64>, f64)> {
        let Some(cur) = &self.cur else {
            return Vec::new();
        };
        let now = cur.by(name, labels);
        let before = self.prev.as_ref().map(|p| (p.by(name, labels), p.at));
        let mut rows: Vec<_> = now
            .into_iter()
            .map(|(k, v)| {
                let r = before.as_ref().map(|(b, at)| {
                    rate(
                        b.get(&k).copied().unwrap_or(0.0),
                        v,
                        cur.at.duration_since(*at),
                    )
                });
                (k, r, v)
            })
            .collect();
        rows.sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
        rows
    }
}

/// The views, switched with 1–4 or tab.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    Overview,
    Mix,
    TopK,
    Capture,
}

impl View {
    pub const ALL: [View; 4] = [View::Overview, View::Mix, View::TopK, View::Capture];

    fn title(self) -> &'static str {
        match self {
            View::Overview => "1 overview",
            View::Mix => "2 qtype/rcode",
            View::TopK => "3 top-k",
            View::Capture => "4 capture",
        }
    }

    fn next(self) -> View {
        let i = View::ALL.iter().position(|v| *v == self).unwrap_or(0);
        View::ALL[(i + 1) % View::ALL.len()]
    }
}

/// A titled table.
pub struct Section {
    pub title: String,
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn per_sec(r: Option<f64>) -> String {
    r.map_or_else(|| "-".to_owned(), |r| format!("{r:.1}"))
}

fn pct(part: f64, whole: f64) -> String {
    if whole > 0.0 {
        format!("{:.1}%", 100.0 * part / whole)
    } else {
        "-".to_owned()
    }
}

const QUERIES: &str = "dnsobs_queries_total";
const RESPONSES: &str = "dnsobs_responses_total";
const DROPS: &str = "dnsobs_capture_dropped_packets_total";
const PACKETS: &str = "dnsobs_capture_packets_total";

/// The header lines: totals and rates (the test reads `Queries total: N`).
pub fn header(state: &State, url: &str, interval: f64) -> Vec<String> {
    let mut lines = vec![format!(
        "dnsobs top: {url}, every {interval}s{}",
        state
            .last_ok
            .map(|t| format!(", last scrape {}", clock(t)))
            .unwrap_or_default()
    )];
    if let Some(e) = &state.error {
        lines.push(format!(
            "daemon unreachable: {e} (retrying every {interval}s)"
        ));
    }
    if state.cur.is_some() {
        let (q, qr) = state.total_rate(|s| s.sum(QUERIES));
        let (r, rr) = state.total_rate(|s| s.sum(RESPONSES));
        let (d, dr) = state.total_rate(|s| s.sum(DROPS));
        lines.push(format!(
            "Queries total: {}  ({}/s)   Responses total: {}  ({}/s)   Capture drops: {}  ({}/s)",
            num(q),
            per_sec(qr),
            num(r),
            per_sec(rr),
            num(d),
            per_sec(dr)
        ));
    } else if state.error.is_none() {
        lines.push("waiting for the first scrape...".to_owned());
    }
    lines
}

fn clock(t: SystemTime) -> String {
    let s = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "{:02}:{:02}:{:02} UTC",
        (s / 3600) % 24,
        (s / 60) % 60,
        s % 60
    )
}

/// The tables of one view.
pub fn sections(state: &State, view: View, top_rows: usize) -> Vec<Section> {
    match view {
        View::Overview => overview(state),
        View::Mix => vec![
            mix(state, "Query types", "qtype", "dnsobs_query_qtypes_total"),
            mix(
                state,
                "Response codes",
                "rcode",
                "dnsobs_response_rcodes_total",
            ),
        ],
        View::TopK => vec![
            topk(
                state,
                "Top names",
                "qname",
                "dnsobs_top_qname_queries",
                top_rows,
            ),
            topk(state, "Top TLDs", "tld", "dnsobs_top_tld_queries", top_rows),
            topk(
                state,
                "Top source prefixes",
                "prefix",
                "dnsobs_top_source_prefix_queries",
                top_rows,
            ),
        ],
        View::Capture => vec![capture(state)],
    }
}

fn overview(state: &State) -> Vec<Section> {
    let q = state.grouped(QUERIES, &["transport", "ip_version"]);
    let r = state.grouped(RESPONSES, &["transport", "ip_version"]);
    let mut keys: Vec<&String> = q.iter().map(|x| &x.0).collect();
    for (k, _, _) in &r {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let find = |rows: &[(String, Option<f64>, f64)], k: &str| {
        rows.iter()
            .find(|x| x.0 == k)
            .map_or((None, 0.0), |x| (x.1, x.2))
    };
    let mut rates = Vec::new();
    for k in keys {
        let (qr, qt) = find(&q, k);
        let (rr, rt) = find(&r, k);
        let (t, v) = k.split_once('/').unwrap_or((k, ""));
        rates.push(vec![
            format!("{t} / IPv{v}"),
            per_sec(qr),
            per_sec(rr),
            num(qt),
            num(rt),
        ]);
    }
    let by = |s: &Scrape, name: &str, label: &str, value: &str| {
        s.sum_where(name, |x| x.label(label) == Some(value))
    };
    // (indicator, part, whole)
    type Part = Box<dyn Fn(&Scrape) -> f64>;
    let shares: Vec<(&str, Part, Part)> = vec![
        (
            "DO bit (of queries)",
            Box::new(|s: &Scrape| s.sum("dnsobs_queries_do_total")),
            Box::new(|s: &Scrape| s.sum(QUERIES)),
        ),
        (
            "IPv6 (of queries)",
            Box::new(move |s: &Scrape| by(s, QUERIES, "ip_version", "6")),
            Box::new(|s: &Scrape| s.sum(QUERIES)),
        ),
        (
            "TCP (of queries)",
            Box::new(move |s: &Scrape| by(s, QUERIES, "transport", "tcp")),
            Box::new(|s: &Scrape| s.sum(QUERIES)),
        ),
        (
            "NXDOMAIN (of responses)",
            Box::new(move |s: &Scrape| by(s, "dnsobs_response_rcodes_total", "rcode", "NXDOMAIN")),
            Box::new(|s: &Scrape| s.sum("dnsobs_response_rcodes_total")),
        ),
    ];
    let mut share_rows = Vec::new();
    for (label, part, whole) in &shares {
        let (pt, pr) = state.total_rate(part);
        let (wt, wr) = state.total_rate(whole);
        let interval = match (pr, wr) {
            (Some(p), Some(w)) => pct(p, w),
            _ => "-".to_owned(),
        };
        share_rows.push(vec![(*label).to_owned(), interval, pct(pt, wt)]);
    }
    let (dt, dr) = state.total_rate(|s| s.sum(DROPS));
    let (pt, pr) = state.total_rate(|s| s.sum(PACKETS));
    let up = state
        .cur
        .as_ref()
        .map_or(0.0, |s| s.sum("dnsobs_capture_up"));
    let workers = state.cur.as_ref().map_or(0, |s| {
        s.by("dnsobs_capture_up", &["interface", "worker"]).len()
    });
    vec![
        Section {
            title: "Rates by transport and IP version".to_owned(),
            header: vec![
                "transport",
                "queries/s",
                "responses/s",
                "queries",
                "responses",
            ],
            rows: rates,
        },
        Section {
            title: "Shares".to_owned(),
            header: vec!["indicator", "last interval", "since start"],
            rows: share_rows,
        },
        Section {
            title: "Capture".to_owned(),
            header: vec!["packets/s", "packets", "drops/s", "drops", "workers up"],
            rows: vec![vec![
                per_sec(pr),
                num(pt),
                per_sec(dr),
                num(dt),
                format!("{} of {workers}", num(up)),
            ]],
        },
    ]
}

fn mix(state: &State, title: &str, label: &'static str, name: &str) -> Section {
    let rows = state.grouped(name, &[label]);
    let total: f64 = rows.iter().map(|r| r.2).sum();
    let rate_total: Option<f64> = rows.iter().map(|r| r.1).sum();
    Section {
        title: title.to_owned(),
        header: vec![label, "/s", "total", "share", "share now"],
        rows: rows
            .into_iter()
            .filter(|r| r.2 > 0.0)
            .map(|(k, r, t)| {
                vec![
                    k,
                    per_sec(r),
                    num(t),
                    pct(t, total),
                    match (r, rate_total) {
                        (Some(r), Some(w)) => pct(r, w),
                        _ => "-".to_owned(),
                    },
                ]
            })
            .collect(),
    }
}

fn topk(state: &State, title: &str, label: &'static str, name: &str, n: usize) -> Section {
    Section {
        title: title.to_owned(),
        header: vec![label, "queries", "/s"],
        rows: state
            .grouped(name, &[label])
            .into_iter()
            .take(n)
            .map(|(k, r, t)| vec![k, num(t), per_sec(r)])
            .collect(),
    }
}

fn capture(state: &State) -> Section {
    let packets = state.grouped(PACKETS, &["interface", "worker"]);
    let drops = state.grouped(DROPS, &["interface", "worker", "where"]);
    let get = |m: Option<BTreeMap<String, f64>>, k: &str| m.and_then(|m| m.get(k).copied());
    let cur = state.cur.as_ref();
    let mut rows = Vec::new();
    for (k, r, t) in packets {
        let drop = |w: &str| {
            drops
                .iter()
                .find(|d| d.0 == format!("{k}/{w}"))
                .map_or(0.0, |d| d.2)
        };
        let errors = get(
            cur.map(|s| s.by("dnsobs_capture_errors_total", &["interface", "worker"])),
            &k,
        );
        let up = get(
            cur.map(|s| s.by("dnsobs_capture_up", &["interface", "worker"])),
            &k,
        );
        let (i, w) = k.split_once('/').unwrap_or((&k, ""));
        rows.push(vec![
            i.to_owned(),
            w.to_owned(),
            per_sec(r),
            num(t),
            num(drop("kernel")),
            num(drop("interface")),
            num(errors.unwrap_or(0.0)),
            if up == Some(1.0) { "up" } else { "DOWN" }.to_owned(),
        ]);
    }
    Section {
        title: "Capture workers".to_owned(),
        header: vec![
            "interface",
            "worker",
            "packets/s",
            "packets",
            "kernel drops",
            "if drops",
            "errors",
            "state",
        ],
        rows,
    }
}

/// Plain-text tables with aligned columns.
pub fn text(lines: &[String], sections: &[Section]) -> String {
    let mut out = String::new();
    for l in lines {
        out.push_str(l);
        out.push('\n');
    }
    for s in sections {
        out.push('\n');
        out.push_str(&s.title);
        out.push('\n');
        let mut widths: Vec<usize> = s.header.iter().map(|h| h.len()).collect();
        for r in &s.rows {
            for (i, c) in r.iter().enumerate() {
                if i < widths.len() {
                    widths[i] = widths[i].max(c.chars().count());
                }
            }
        }
        let header: Vec<String> = s.header.iter().map(|h| (*h).to_owned()).collect();
        for r in std::iter::once(&header).chain(&s.rows) {
            let cells: Vec<String> = r
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (c, w))| {
                    if i == 0 {
                        format!("{c:<w$}")
                    } else {
                        format!("{c:>w$}")
                    }
                })
                .collect();
            out.push_str("  ");
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        if s.rows.is_empty() {
            out.push_str("  (none)\n");
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// HTTP

/// Where to connect and what to ask for.
#[derive(Debug, PartialEq)]
pub struct Target {
    pub authority: String,
    pub path: String,
}

/// `http://host[:port][/path]` (scheme optional; port 80; path `/metrics` when empty or `/`).
pub fn target(url: &str) -> anyhow::Result<Target> {
    if url.starts_with("https://") {
        bail!("https is not supported; point --url at the daemon's plain HTTP endpoint");
    }
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let (auth, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if auth.is_empty() {
        bail!("no host in URL {url:?}");
    }
    let has_port = if auth.starts_with('[') {
        auth.contains("]:")
    } else {
        auth.contains(':')
    };
    let authority = if has_port {
        auth.to_owned()
    } else {
        format!("{auth}:80")
    };
    let path = if path.is_empty() || path == "/" {
        "/metrics".to_owned()
    } else {
        path.to_owned()
    };
    Ok(Target { authority, path })
}

/// GETs the target: the body of a 200 answer.
pub fn fetch(t: &Target, timeout: Duration) -> anyhow::Result<String> {
    let addr = t
        .authority
        .to_socket_addrs()
        .with_context(|| format!("resolving {}", t.authority))?
        .next()
        .with_context(|| format!("no address for {}", t.authority))?;
    let mut s = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("connecting to {addr}"))?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(
        s,
        "GET {} HTTP/1.1\r\nHost: {}\r\nAccept: text/plain\r\nConnection: close\r\nUser-Agent: dnsobs-top/{}\r\n\r\n",
        t.path,
        t.authority,
        env!("CARGO_PKG_VERSION")
    )
    .context("sending the request")?;
    let mut buf = Vec::new();
    s.take(256 << 20)
        .read_to_end(&mut buf)
        .context("reading the answer")?;
    parse_response(&buf)
}

fn parse_response(buf: &[u8]) -> anyhow::Result<String> {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("incomplete HTTP answer")?;
    let head = String::from_utf8_lossy(&buf[..end]);
    let body = &buf[end + 4..];
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("malformed HTTP status line")?;
    if status != 200 {
        bail!("HTTP status {status}");
    }
    let chunked = head.lines().any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("transfer-encoding")
                && v.to_ascii_lowercase().contains("chunked")
        })
    });
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn dechunk(mut b: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("truncated chunk")?;
        let size = std::str::from_utf8(&b[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok())
            .context("bad chunk size")?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if b.len() < size {
            bail!("truncated chunk");
        }
        out.extend_from_slice(&b[..size]);
        b = b.get(size + 2..).unwrap_or_default();
    }
}

// ---------------------------------------------------------------------------------------------
// The command

pub fn run(args: TopArgs) -> anyhow::Result<u8> {
    if !(args.interval.is_finite() && args.interval >= 0.1) {
        bail!("--interval must be at least 0.1 second");
    }
    let t = target(&args.url)?;
    let interval = Duration::from_secs_f64(args.interval);
    let timeout = interval.clamp(Duration::from_secs(1), Duration::from_secs(5));
    if args.once {
        return Ok(once(&args, &t, timeout));
    }
    tui(&args, t, interval, timeout)
}

fn once(args: &TopArgs, t: &Target, timeout: Duration) -> u8 {
    let mut state = State::default();
    match fetch(t, timeout) {
        Ok(body) => state.update(Ok(Scrape {
            at: Instant::now(),
            samples: parse(&body),
        })),
        Err(e) => {
            eprintln!("dnsobs top: daemon unreachable at {}: {e:#}", args.url);
            return EXIT_UNREACHABLE;
        }
    }
    let mut all = Vec::new();
    for v in View::ALL {
        all.extend(sections(&state, v, args.rows));
    }
    let lines = header(&state, &args.url, args.interval);
    print!("{}", text(&lines, &all));
    crate::cli::EXIT_OK
}

/// Restores the terminal when dropped (normal exit and errors); the panic hook covers panics
/// (the release profile aborts, so no destructor runs there).
struct TerminalGuard;

fn restore_terminal() {
    use crossterm::{cursor, execute, terminal};
    let _ = terminal::disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        terminal::LeaveAlternateScreen,
        cursor::Show
    );
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

fn tui(args: &TopArgs, t: Target, interval: Duration, timeout: Duration) -> anyhow::Result<u8> {
    use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
    use crossterm::{execute, terminal};

    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        hook(info);
    }));
    terminal::enable_raw_mode().context("switching the terminal to raw mode")?;
    let _guard = TerminalGuard;
    execute!(std::io::stdout(), terminal::EnterAlternateScreen)?;
    let backend = ratatui::backend::CrosstermBackend::new(std::io::stdout());
    let mut term = ratatui::Terminal::new(backend)?;
    term.clear()?;

    // The fetcher thread: one result per interval; it ends when the receiver is gone.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        loop {
            let start = Instant::now();
            let r = fetch(&t, timeout)
                .map(|body| Scrape {
                    at: Instant::now(),
                    samples: parse(&body),
                })
                .map_err(|e| format!("{e:#}"));
            if tx.send(r).is_err() {
                return;
            }
            std::thread::sleep(interval.saturating_sub(start.elapsed()));
        }
    });

    let mut state = State::default();
    let mut view = View::Overview;
    let mut dirty = true;
    loop {
        while let Ok(r) = rx.try_recv() {
            state.update(r);
            dirty = true;
        }
        if dirty {
            term.draw(|f| draw(f, &state, view, args))?;
            dirty = false;
        }
        if event::poll(Duration::from_millis(100))? {
            match event::read()? {
                Event::Key(k) if k.kind != KeyEventKind::Release => match k.code {
                    KeyCode::Char('q') | KeyCode::Esc => break,
                    KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => break,
                    KeyCode::Tab | KeyCode::Right => {
                        view = view.next();
                        dirty = true;
                    }
                    KeyCode::BackTab | KeyCode::Left => {
                        view = view.next().next().next();
                        dirty = true;
                    }
                    KeyCode::Char(c @ '1'..='4') => {
                        view = View::ALL[(c as usize) - ('1' as usize)];
                        dirty = true;
                    }
                    _ => {}
                },
                Event::Resize(..) => dirty = true,
                _ => {}
            }
        }
    }
    drop(term);
    Ok(crate::cli::EXIT_OK)
}

fn draw(f: &mut ratatui::Frame<'_>, state: &State, view: View, args: &TopArgs) {
    use ratatui::layout::{Constraint, Direction, Layout};
    use ratatui::style::{Color, Modifier, Style};
    use ratatui::text::Line;
    use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, Tabs};

    let head = header(state, &args.url, args.interval);
    let area = f.area();
    let [top, tabs, body, foot] = Layout::vertical([
        Constraint::Length(head.len() as u16),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    let lines: Vec<Line<'_>> = head
        .iter()
        .map(|l| {
            if l.starts_with("daemon unreachable") {
                Line::styled(
                    l.clone(),
                    Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
                )
            } else {
                Line::raw(l.clone())
            }
        })
        .collect();
    f.render_widget(Paragraph::new(lines), top);
    let selected = View::ALL.iter().position(|v| *v == view).unwrap_or(0);
    f.render_widget(
        Tabs::new(View::ALL.iter().map(|v| v.title()))
            .select(selected)
            .highlight_style(Style::default().add_modifier(Modifier::REVERSED)),
        tabs,
    );
    let rows_fit = body.height.saturating_sub(3) as usize;
    let secs = sections(state, view, rows_fit.max(1));
    let dir = if view == View::Overview || view == View::Capture {
        Direction::Vertical
    } else {
        Direction::Horizontal
    };
    let constraints: Vec<Constraint> = if dir == Direction::Vertical {
        secs.iter()
            .map(|s| Constraint::Length(s.rows.len().max(1) as u16 + 3))
            .collect()
    } else {
        secs.iter()
            .map(|_| Constraint::Ratio(1, secs.len() as u32))
            .collect()
    };
    let cells = Layout::default()
        .direction(dir)
        .constraints(constraints)
        .split(body);
    for (s, cell) in secs.iter().zip(cells.iter()) {
        let first = s
            .rows
            .iter()
            .map(|r| r[0].chars().count())
            .chain([s.header[0].len()])
            .max()
            .unwrap_or(8)
            .min(48) as u16;
        let mut widths = vec![Constraint::Length(first)];
        widths.extend(
            s.header[1..]
                .iter()
                .map(|h| Constraint::Length(h.len().max(10) as u16)),
        );
        let rows = s.rows.iter().map(|r| {
            Row::new(r.iter().enumerate().map(|(i, c)| {
                if i == 0 {
                    c.clone()
                } else {
                    format!("{c:>w$}", w = s.header[i].len().max(10))
                }
            }))
        });
        let head = Row::new(s.header.iter().enumerate().map(|(i, h)| {
            if i == 0 {
                (*h).to_owned()
            } else {
                format!("{h:>w$}", w = h.len().max(10))
            }
        }))
        .style(Style::default().add_modifier(Modifier::BOLD));
        f.render_widget(
            Table::new(rows, widths)
                .header(head)
                .column_spacing(2)
                .block(
                    Block::default()
                        .borders(Borders::ALL)
                        .title(s.title.clone()),
                ),
            *cell,
        );
    }
    f.render_widget(Paragraph::new("1-4/tab: switch view   q: quit"), foot);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_labels_values() {
        let text = "# HELP x y\n# TYPE dnsobs_queries_total counter\n\
            dnsobs_queries_total{transport=\"udp\",ip_version=\"4\"} 2426\n\
            dnsobs_frames_total 8922\n\
            dnsobs_top_qname_queries{qname=\"a \\\"q\\\" b\\\\c, d}\"} 3.0\n\
            h_bucket{le=\"+Inf\"} 7 1700000000\n\
            \n  garbage{\n";
        let s = parse(text);
        assert_eq!(s.len(), 4);
        assert_eq!(s[0].name, "dnsobs_queries_total");
        assert_eq!(s[0].label("transport"), Some("udp"));
        assert_eq!(s[0].label("ip_version"), Some("4"));
        assert_eq!(s[0].value, 2426.0);
        assert_eq!(s[1].labels, vec![]);
        assert_eq!(s[1].value, 8922.0);
        assert_eq!(s[2].label("qname"), Some("a \"q\" b\\c, d}"));
        assert_eq!(s[3].label("le"), Some("+Inf"));
        assert_eq!(s[3].value, 7.0);
    }

    #[test]
    fn rates_and_resets() {
        assert_eq!(rate(10.0, 30.0, Duration::from_secs(2)), 10.0);
        assert_eq!(rate(30.0, 6.0, Duration::from_secs(2)), 3.0);
        assert_eq!(rate(1.0, 5.0, Duration::ZERO), 0.0);
    }

    fn scrape(at: Instant, text: &str) -> Scrape {
        Scrape {
            at,
            samples: parse(text),
        }
    }

    #[test]
    fn state_rates_by_label_and_shares() {
        let t0 = Instant::now();
        let mut st = State::default();
        st.update(Ok(scrape(
            t0,
            "dnsobs_queries_total{transport=\"udp\",ip_version=\"4\"} 100\n\
             dnsobs_queries_total{transport=\"tcp\",ip_version=\"6\"} 0\n\
             dnsobs_queries_do_total{ip_version=\"4\"} 10\n",
        )));
        assert_eq!(st.total_rate(|s| s.sum(QUERIES)), (100.0, None));
        st.update(Ok(scrape(
            t0 + Duration::from_secs(2),
            "dnsobs_queries_total{transport=\"udp\",ip_version=\"4\"} 150\n\
             dnsobs_queries_total{transport=\"tcp\",ip_version=\"6\"} 50\n\
             dnsobs_queries_do_total{ip_version=\"4\"} 60\n",
        )));
        assert_eq!(st.total_rate(|s| s.sum(QUERIES)), (200.0, Some(50.0)));
        let g = st.grouped(QUERIES, &["transport", "ip_version"]);
        assert_eq!(
            g,
            vec![
                ("udp/4".to_owned(), Some(25.0), 150.0),
                ("tcp/6".to_owned(), Some(25.0), 50.0)
            ]
        );
        let secs = overview(&st);
        let shares = &secs[1].rows;
        // DO: 50 of 100 in the interval, 60 of 200 since start.
        assert_eq!(shares[0], vec!["DO bit (of queries)", "50.0%", "30.0%"]);
        assert_eq!(shares[1], vec!["IPv6 (of queries)", "50.0%", "25.0%"]);
        // An error keeps the data and shows the message.
        st.update(Err("connection refused".into()));
        let h = header(&st, "http://x", 1.0);
        assert!(h[1].starts_with("daemon unreachable"), "{h:?}");
        assert!(h[2].starts_with("Queries total: 200  (50.0/s)"), "{h:?}");
    }

    #[test]
    fn urls() {
        assert_eq!(
            target("http://127.0.0.1:10053").unwrap(),
            Target {
                authority: "127.0.0.1:10053".into(),
                path: "/metrics".into()
            }
        );
        assert_eq!(target("[::1]:9/m").unwrap().path, "/m");
        assert_eq!(target("http://h").unwrap().authority, "h:80");
        assert!(target("https://h").is_err());
        assert!(target("http:///x").is_err());
    }

    #[test]
    fn http_answers() {
        let plain = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\na 1\n";
        assert_eq!(parse_response(plain).unwrap(), "a 1\n");
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\na 1\r\n2\r\n\nb\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap(), "a 1\nb");
        assert!(parse_response(b"HTTP/1.1 503 x\r\n\r\n").is_err());
    }

    #[test]
    fn text_snapshot() {
        let mut st = State::default();
        st.update(Ok(scrape(
            Instant::now(),
            "dnsobs_top_qname_queries{qname=\"example\"} 5\n",
        )));
        let t = text(&["h".into()], &sections(&st, View::TopK, 10));
        assert!(
            t.contains("Top names\n  qname    queries  /s\n  example        5   -\n"),
            "{t}"
        );
        assert!(
            t.contains("Top TLDs\n  tld  queries  /s\n  (none)\n"),
            "{t}"
        );
    }
}
