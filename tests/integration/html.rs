//! The HTML replay report (`replay --format html`, `--html FILE`): strings from traffic and
//! paths are escaped (a crafted capture whose names and path hold `<script>` and quotes), the
//! figures are the JSON report's, and the page renders in headless Chromium with no console
//! error, no network request and every chart drawn. The browser is driven over the DevTools
//! protocol on a pipe (`--remote-debugging-pipe`: fd 3 in, fd 4 out, NUL-separated JSON), so
//! nothing beyond Chromium itself is needed.
//!
//! Without Chromium the browser test is skipped, unless `CI=1` (then it fails). It saves a
//! full-page screenshot to `target/tmp/report-screenshot.png`; with
//! `DNSOBS_UPDATE_SCREENSHOT=1` also to `docs/report-screenshot.png` (the README's).

use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::util::{BIN, Scratch, pcaps};

/// A fresh scratch directory for one test, removed when dropped.
fn scratch(test: &str) -> Scratch {
    Scratch::target(&format!("html-{test}"))
}

fn dnsobs(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().expect("dnsobs runs")
}

//------------ A crafted capture -------------------------------------------------

/// Hostile query names: markup, quotes and an ampersand in labels (all legal in DNS).
const HOSTILE: [&[&str]; 3] = [
    &["<script>alert(1)</script>", "example"],
    &["\"onmouseover='alert(2)'", "test"],
    &["a&b<i>c", "invalid"],
];

fn checksum(b: &[u8]) -> u16 {
    let mut s: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// Ethernet + IPv4 + UDP around a DNS message.
fn frame(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, dns: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00];
    let total = (20 + 8 + dns.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 1, 0x40, 0, 64, 17, 0, 0]);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&((8 + dns.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(dns);
    f
}

/// A DNS message with one question (type A, class IN).
fn dns(id: u16, flags: u16, labels: &[&str]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    for l in labels {
        m.push(l.len() as u8);
        m.extend_from_slice(l.as_bytes());
    }
    m.extend_from_slice(&[0, 0, 1, 0, 1]);
    m
}

/// A classic pcap (microseconds, Ethernet) with a query and an NXDOMAIN response per name.
fn hostile_pcap() -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&0xa1b2_c3d4_u32.to_le_bytes());
    p.extend_from_slice(&2u16.to_le_bytes());
    p.extend_from_slice(&4u16.to_le_bytes());
    p.extend_from_slice(&[0; 8]);
    p.extend_from_slice(&65535u32.to_le_bytes());
    p.extend_from_slice(&1u32.to_le_bytes());
    let (client, server) = ([192, 0, 2, 10], [192, 0, 2, 53]);
    let mut t = 1_700_000_000u32;
    for (i, name) in HOSTILE.iter().enumerate() {
        let id = 0x1000 + i as u16;
        for f in [
            frame(client, server, 40000 + i as u16, 53, &dns(id, 0x0100, name)),
            frame(server, client, 53, 40000 + i as u16, &dns(id, 0x8183, name)),
        ] {
            p.extend_from_slice(&t.to_le_bytes());
            p.extend_from_slice(&0u32.to_le_bytes());
            p.extend_from_slice(&(f.len() as u32).to_le_bytes());
            p.extend_from_slice(&(f.len() as u32).to_le_bytes());
            p.extend_from_slice(&f);
            t += 1;
        }
    }
    p
}

/// Markup the page itself never uses, so any occurrence came from the data unescaped.
fn assert_no_raw_markup(h: &str) {
    for bad in [
        "<script",
        "</script",
        "<i>",
        "onmouseover='",
        "\"onmouseover",
    ] {
        assert!(!h.contains(bad), "raw {bad:?} in the page");
    }
}

#[test]
fn hostile_names_and_paths_are_escaped() {
    let d = scratch("hostile");
    // The path itself holds `<script>alert(1)</script>"'`: a directory `<script>alert(1)<`
    // holding the file `script>"'.pcap`.
    let dir = d.join("<script>alert(1)<");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let pcap = dir.join("script>\"'.pcap");
    std::fs::write(&pcap, hostile_pcap()).expect("write pcap");
    let path = pcap.to_str().expect("utf-8 path");

    let json_out = dnsobs(&["replay", "--format", "json", path]);
    assert!(json_out.status.success(), "{json_out:?}");
    let j: Value = serde_json::from_slice(&json_out.stdout).expect("JSON");
    assert_eq!(j["queries"], 3, "the crafted queries decode: {j}");
    assert_eq!(j["responses_by_rcode"]["NXDOMAIN"], 3);

    let out = dnsobs(&["replay", "--format", "html", path]);
    assert!(out.status.success(), "{out:?}");
    let h = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(h.starts_with("<!DOCTYPE html>"));
    assert_no_raw_markup(&h);
    assert!(
        h.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;.pcap"),
        "the path is shown, escaped"
    );
    // Should the JSON carry names (top-k lists), they are escaped too.
    let name = b"alert(1)</script>.example";
    if json_out.stdout.windows(name.len()).any(|w| w == name) {
        assert!(h.contains("&lt;script&gt;alert(1)&lt;/script&gt;.example"));
    }

    // `--html FILE` beside JSON on stdout: the same page, the JSON unchanged.
    let file = d.join("report.html");
    let both = dnsobs(&[
        "replay",
        "--format",
        "json",
        "--threads",
        "1",
        "--html",
        file.to_str().expect("utf-8"),
        path,
    ]);
    assert!(both.status.success(), "{both:?}");
    let j2: Value = serde_json::from_slice(&both.stdout).expect("JSON");
    assert_eq!(j2["queries"], j["queries"]);
    let h2 = std::fs::read_to_string(&file).expect("HTML written");
    assert_no_raw_markup(&h2);
    assert!(h2.contains("<h2 id=\"summary\">"));
}

#[test]
fn html_figures_are_the_json_figures() {
    let fixture = pcaps().join("root-mix-v4v6.pcap");
    let r = dnsobs::pipeline::replay_file(&fixture, 1).expect("fixture opens");
    let j = dnsobs::export::report::json(&r);
    let h = dnsobs::export::html::html(&dnsobs::export::report::Report::new(&r));
    let sep = |n: u64| {
        let s = n.to_string();
        let mut o = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                o.push(',');
            }
            o.push(c);
        }
        o
    };
    for k in ["queries", "responses", "dns_messages", "frames"] {
        let n = j[k].as_u64().expect("count");
        assert!(
            h.contains(&format!(r#"<div class="v">{}</div>"#, sep(n))),
            "{k} = {n} not on the page"
        );
    }
    for (qtype, n) in j["queries_by_qtype"]
        .as_object()
        .expect("mix")
        .iter()
        .take(5)
    {
        let n = n.as_u64().expect("count");
        assert!(
            h.contains(&format!("<title>{qtype}: {} (", sep(n))),
            "qtype {qtype} = {n} not on the page"
        );
    }
    // The fixture's provenance.
    assert!(h.contains("root-mix-v4v6.pcap"));
    assert!(h.contains("ETHERNET"));
    assert!(
        h.contains("2026-11-24 18:59:28.607 UTC"),
        "first packet time"
    );
}

//------------ Headless Chromium ---------------------------------------------------

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("DNSOBS_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|n| std::env::split_paths(&path).map(move |d| d.join(n)))
    .find(|p| p.is_file())
}

/// A DevTools-protocol session over `--remote-debugging-pipe`.
struct Cdp {
    child: Child,
    to: std::io::PipeWriter,
    from: mpsc::Receiver<Value>,
    next_id: u64,
    /// Every event received so far.
    events: Vec<Value>,
    deadline: Instant,
}

impl Cdp {
    fn launch(bin: &Path, profile: &Path, log: &Path) -> Cdp {
        let (child_in, to) = std::io::pipe().expect("pipe");
        let (from, child_out) = std::io::pipe().expect("pipe");
        // Copies at fd >= 10 (close-on-exec), so that placing them at 3 and 4 in the child
        // cannot overwrite one with the other.
        // SAFETY: fcntl on descriptors this process owns.
        let hi_in = unsafe { libc::fcntl(child_in.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 10) };
        // SAFETY: as above.
        let hi_out = unsafe { libc::fcntl(child_out.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 10) };
        assert!(hi_in >= 10 && hi_out >= 10, "fcntl F_DUPFD_CLOEXEC failed");
        let mut cmd = Command::new(bin);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-default-apps",
            "--no-first-run",
            "--no-default-browser-check",
            "--hide-scrollbars",
            "--mute-audio",
            "--remote-debugging-pipe",
            "--window-size=1280,2400",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"));
        // SAFETY: only dup2 (async-signal-safe) between fork and exec; dup2 clears
        // close-on-exec on the new descriptors 3 and 4.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(hi_in, 3) < 0 || libc::dup2(hi_out, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("chromium starts");
        // SAFETY: closing the copies made above, which nothing else uses.
        unsafe {
            libc::close(hi_in);
            libc::close(hi_out);
        }
        drop((child_in, child_out));
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(from);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match r.read_until(0, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if buf.last() == Some(&0) {
                            buf.pop();
                        }
                        let Ok(v) = serde_json::from_slice::<Value>(&buf) else {
                            continue;
                        };
                        if tx.send(v).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        Cdp {
            child,
            to,
            from: rx,
            next_id: 0,
            events: Vec::new(),
            deadline: Instant::now() + Duration::from_secs(90),
        }
    }

    fn recv(&mut self) -> Value {
        let left = self.deadline.saturating_duration_since(Instant::now());
        match self.from.recv_timeout(left) {
            Ok(v) => v,
            Err(e) => panic!(
                "no answer from Chromium ({e}); events so far: {:?}",
                self.events
            ),
        }
    }

    /// Sends a command (to a page session if given) and returns its result.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).expect("encode");
        bytes.push(0);
        self.to.write_all(&bytes).expect("write to Chromium");
        loop {
            let v = self.recv();
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
            self.events.push(v);
        }
    }

    /// Waits for an event of a session.
    fn wait_event(&mut self, session: &str, method: &str) -> Value {
        if let Some(e) = self
            .events
            .iter()
            .find(|e| e["method"] == method && e["sessionId"] == session)
        {
            return e.clone();
        }
        loop {
            let v = self.recv();
            self.events.push(v.clone());
            if v["method"] == method && v["sessionId"] == session {
                return v;
            }
        }
    }
}

impl Drop for Cdp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for v in s.bytes().filter_map(val) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// Console errors and warnings, exceptions, error log entries, failed loads and requests for
/// anything but `page` among DevTools events.
fn problems(events: &[Value], page: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in events {
        let pr = &e["params"];
        match e["method"].as_str().unwrap_or("") {
            "Runtime.consoleAPICalled"
                if ["error", "warning", "assert"].contains(&pr["type"].as_str().unwrap_or("")) =>
            {
                found.push(format!("console {}: {}", pr["type"], pr["args"]));
            }
            "Runtime.exceptionThrown" => found.push(format!("exception: {pr}")),
            "Log.entryAdded" if pr["entry"]["level"] == "error" => {
                found.push(format!("log error: {}", pr["entry"]));
            }
            "Network.requestWillBeSent" if pr["request"]["url"] != page => {
                found.push(format!("network request: {}", pr["request"]["url"]));
            }
            "Network.loadingFailed" => found.push(format!("loading failed: {pr}")),
            _ => {}
        }
    }
    found
}

/// Counts, per `<svg>`, the data marks (`.bar` rectangles, `.line` paths) that the browser laid
/// out with a non-zero size.
const PROBE: &str = r#"JSON.stringify({
  svgs: [...document.querySelectorAll('svg')].map(s => {
    const r = s.getBoundingClientRect();
    const marks = [...s.querySelectorAll('.bar, .line')];
    const drawn = marks.filter(e => {
      const b = e.getBBox();
      return (b.width > 0 && b.height > 0) || (e.tagName === 'path' && e.getTotalLength() > 0);
    }).length;
    const h = s.closest('section, div');
    const t = h && h.querySelector('h3');
    return {title: t ? t.textContent : '', width: r.width, height: r.height, marks: marks.length, drawn};
  }),
  scripts: document.scripts.length,
  fetching: document.querySelectorAll('[src], [href], link, iframe, object, embed').length,
  sections: document.querySelectorAll('h2').length,
  height: document.documentElement.scrollHeight,
})"#;

#[test]
fn report_renders_in_headless_chromium() {
    let Some(bin) = chromium() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("1"),
            "CI=1 but Chromium is not installed (Debian package `chromium`)"
        );
        eprintln!("html: skipped: no chromium on PATH (apt-get install chromium)");
        return;
    };
    let d = scratch("chromium");
    let report = d.join("report.html");
    let fixture = pcaps().join("root-mix-v4v6.pcap");
    let out = dnsobs(&[
        "replay",
        "--format",
        "html",
        fixture.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{out:?}");
    let page = String::from_utf8(out.stdout).expect("UTF-8");
    for bad in [
        "http://", "https://", "src=", "href=", "url(", "@import", "<script",
    ] {
        assert!(
            !page.contains(bad),
            "{bad} in the page: it would not be self-contained"
        );
    }
    std::fs::write(&report, &page).expect("write report");
    let url = format!("file://{}", report.display());

    let log = d.join("chromium.log");
    let mut cdp = Cdp::launch(&bin, &d.join("profile"), &log);
    let target = cdp.call(None, "Target.createTarget", json!({"url": "about:blank"}));
    let target_id = target["targetId"].as_str().expect("targetId").to_owned();
    let attached = cdp.call(
        None,
        "Target.attachToTarget",
        json!({"targetId": target_id, "flatten": true}),
    );
    let sid = attached["sessionId"]
        .as_str()
        .expect("sessionId")
        .to_owned();
    let s = Some(sid.as_str());
    for m in [
        "Page.enable",
        "Runtime.enable",
        "Log.enable",
        "Network.enable",
    ] {
        cdp.call(s, m, json!({}));
    }
    cdp.call(
        s,
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 1280, "height": 2400, "deviceScaleFactor": 1, "mobile": false}),
    );
    let nav = cdp.call(s, "Page.navigate", json!({"url": url}));
    assert!(nav.get("errorText").is_none(), "navigation failed: {nav}");
    cdp.wait_event(&sid, "Page.loadEventFired");

    let probe = cdp.call(
        s,
        "Runtime.evaluate",
        json!({"expression": PROBE, "returnByValue": true}),
    );
    assert!(
        probe.get("exceptionDetails").is_none(),
        "probe failed: {probe}"
    );
    let p: Value = serde_json::from_str(probe["result"]["value"].as_str().expect("probe result"))
        .expect("JSON");

    // Full-page screenshot.
    let height = p["height"].as_u64().unwrap_or(2400).clamp(600, 16_000);
    cdp.call(
        s,
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 1280, "height": height, "deviceScaleFactor": 1, "mobile": false}),
    );
    let shot = cdp.call(s, "Page.captureScreenshot", json!({"format": "png"}));
    let png = base64_decode(shot["data"].as_str().expect("screenshot data"));
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "a PNG"
    );
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-screenshot.png");
    std::fs::write(&tmp, &png).expect("write screenshot");
    eprintln!("html: screenshot {}", tmp.display());
    if std::env::var("DNSOBS_UPDATE_SCREENSHOT").as_deref() == Ok("1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
        std::fs::create_dir_all(&docs).expect("docs/");
        std::fs::write(docs.join("report-screenshot.png"), &png).expect("write screenshot");
    }

    // No console error, no exception, no network request but the page itself.
    let report_events = std::mem::take(&mut cdp.events);
    let found = problems(&report_events, &url);
    let requested = report_events
        .iter()
        .filter(|e| e["method"] == "Network.requestWillBeSent")
        .count();
    assert!(requested <= 1, "requests: {requested}");
    assert!(
        found.is_empty(),
        "{found:#?}\nChromium log: {}",
        log.display()
    );

    // Control: the same checks do catch a console error and a request on a page that makes
    // them (a missing local image: no real network involved).
    let control = d.join("control.html");
    std::fs::write(
        &control,
        "<!DOCTYPE html><p>control</p><img src=\"missing.png\"><script>console.error('control')</script>",
    )
    .expect("write control");
    let control_url = format!("file://{}", control.display());
    cdp.call(s, "Page.navigate", json!({"url": control_url}));
    cdp.wait_event(&sid, "Page.loadEventFired");
    let caught = problems(&cdp.events, &control_url);
    for want in ["console \"error\"", "network request: \"file://"] {
        assert!(
            caught.iter().any(|c| c.starts_with(want)),
            "the control page's {want} went unnoticed: {caught:#?}"
        );
    }
    eprintln!(
        "html: {} charts, {} request (the page), no console error; the control page raised {}",
        p["svgs"].as_array().map_or(0, Vec::len),
        requested,
        caught.len()
    );

    // Every chart drew: each SVG laid out with a size and every data mark in it drawn.
    assert_eq!(p["scripts"], 0, "{p}");
    assert_eq!(p["fetching"], 0, "{p}");
    let svgs = p["svgs"].as_array().expect("svgs");
    assert!(svgs.len() >= 15, "only {} charts: {p}", svgs.len());
    for svg in svgs {
        let (marks, drawn) = (svg["marks"].as_u64(), svg["drawn"].as_u64());
        assert!(
            svg["width"].as_f64() > Some(100.0) && svg["height"].as_f64() > Some(20.0),
            "chart not laid out: {svg}"
        );
        assert!(marks > Some(0) && drawn == marks, "chart not drawn: {svg}");
    }
    // The queries/s chart over capture time: one line per transport × IP version the fixture
    // has (root-mix: all four), from the one-second series an HTML replay keeps.
    let time = svgs
        .iter()
        .find(|s| {
            s["title"]
                .as_str()
                .is_some_and(|t| t.starts_with("By transport and IP version"))
        })
        .unwrap_or_else(|| panic!("no queries/s chart: {p}"));
    assert_eq!(time["marks"], 4, "{time}");
    assert!(
        time["title"]
            .as_str()
            .is_some_and(|t| t.ends_with("1 s steps")),
        "{time}"
    );
}
