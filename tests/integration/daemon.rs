//! The daemon under faults: start-up errors, an interface that vanishes and returns, privilege
//! drop, and an abused HTTP endpoint while traffic is being counted.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::daemon::{
    Config, PORT, samples, scrape, scrape_sum, settled_queries, start_in, value,
};
use crate::util::netns::{Netns, http};
use crate::util::{BIN, oracle, pcaps, scratch, wait_for_every};

/// Polling interval of this module's waits.
const POLL: Duration = Duration::from_millis(200);

/// A test host with the daemon (one worker) on it, `extra` sections in its configuration.
fn start(tag: &str, extra: &str) -> (Netns, u32, PathBuf) {
    let dir = scratch::tmp(&format!("dnsobs-daemon-{tag}"));
    let config = Config::cap0(1, PORT)
        .export("header_read_timeout_seconds = 1\nmax_connections = 8\n")
        .sections(extra);
    let mut ns = Netns::new(tag);
    let pid = start_in(&mut ns, &dir, &config);
    (ns, pid, dir)
}

#[test]
fn start_up_errors_are_one_clear_line() {
    // Port in use: checked before capture is opened, so no root is needed.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = busy.local_addr().expect("addr").port();
    let out = Command::new(BIN)
        .args(["run", "-i", "lo", "--listen", &format!("127.0.0.1:{port}")])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port}")) && err.contains("in use"),
        "{err}"
    );
    // A non-loopback address needs an explicit setting.
    let out = Command::new(BIN)
        .args(["run", "-i", "lo", "--listen", "0.0.0.0:10053"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("export.allow_non_loopback"));
    // No interface at all.
    let out = Command::new(BIN)
        .args(["run", "--listen", "127.0.0.1:0"])
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no interface to capture on"));
    // An interface that does not exist (as root the message is libpcap's "No such device").
    if unsafe { libc::geteuid() } == 0 {
        let out = Command::new(BIN)
            .args(["run", "-i", "nope0", "--listen", "127.0.0.1:0"])
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("interface nope0") && err.contains("No such device"),
            "{err}"
        );
    }
}

#[test]
fn interface_flaps_vanishes_and_comes_back() {
    if !crate::util::netns::available(&["ip", "tcpreplay"]) {
        return;
    }
    let (ns, _pid, dir) = start("vanish", "");
    let ip = |args: &[&str]| {
        assert!(
            Command::new("ip")
                .args(args)
                .status()
                .expect("ip")
                .success()
        )
    };
    let want = oracle("lt-ethernet.pcap")["queries"]
        .as_f64()
        .expect("queries");
    // Down and up: the capture survives (or reopens) and nothing offered while up is lost.
    ns.replay(&pcaps().join("lt-ethernet.pcap"), 3000);
    assert_eq!(settled_queries(&ns, PORT), want, "before the link flaps");
    for _ in 0..3 {
        ip(&["-n", &ns.cap, "link", "set", "cap0", "down"]);
        std::thread::sleep(Duration::from_millis(700));
        ip(&["-n", &ns.cap, "link", "set", "cap0", "up"]);
    }
    wait_for_every(
        "capture up after flapping",
        Duration::from_secs(40),
        POLL,
        || {
            ns.get(PORT, "/healthz").is_some_and(|(s, _)| s == 200)
                && scrape_sum(&ns, PORT, "dnsobs_capture_up{") == 1.0
        },
    );
    // The veth peer needs a moment to regain carrier before tcpreplay can send.
    std::thread::sleep(Duration::from_secs(2));
    ns.replay(&pcaps().join("lt-ethernet.pcap"), 3000);
    assert_eq!(
        settled_queries(&ns, PORT),
        2.0 * want,
        "traffic after the link came back up is counted"
    );
    ip(&["-n", &ns.cap, "link", "del", "cap0"]);
    wait_for_every("capture down", Duration::from_secs(10), POLL, || {
        ns.get(PORT, "/healthz").is_some_and(|(s, _)| s == 503)
    });
    assert!(scrape_sum(&ns, PORT, "dnsobs_capture_errors_total{") >= 1.0);
    assert_eq!(scrape_sum(&ns, PORT, "dnsobs_capture_up{"), 0.0);
    ns.recreate_link();
    wait_for_every("capture reopened", Duration::from_secs(40), POLL, || {
        ns.get(PORT, "/healthz").is_some_and(|(s, _)| s == 200)
    });
    ns.replay(&pcaps().join("lt-ethernet.pcap"), 3000);
    assert_eq!(
        settled_queries(&ns, PORT),
        3.0 * want,
        "traffic after the interface returned is counted"
    );
    let log = std::fs::read_to_string(dir.join("dnsobs.log")).expect("log");
    assert!(
        log.contains("capture failed") && log.contains("capture reopened"),
        "{log}"
    );
}

#[test]
fn privileges_are_dropped_after_opening_capture() {
    if !crate::util::netns::available(&["ip", "tcpreplay"]) {
        return;
    }
    let (ns, pid, _dir) = start("privs", "[daemon]\nuser = \"nobody\"\n");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let field = |k: &str| {
        status
            .lines()
            .find(|l| l.starts_with(k))
            .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>())
            .expect(k)
    };
    assert!(field("Uid:").iter().all(|u| *u == "65534"), "{status}");
    assert!(field("Gid:").iter().all(|g| *g == "65534"), "{status}");
    // Only CAP_NET_ADMIN (12) and CAP_NET_RAW (13): 0x3000.
    assert_eq!(field("CapEff:"), vec!["0000000000003000"]);
    assert_eq!(field("CapPrm:"), vec!["0000000000003000"]);
    // Still capturing.
    ns.replay(&pcaps().join("lt-ethernet.pcap"), 3000);
    let want = oracle("lt-ethernet.pcap")["queries"]
        .as_f64()
        .expect("queries");
    assert_eq!(settled_queries(&ns, PORT), want);
}

#[test]
fn http_abuse_does_not_disturb_capture() {
    if !crate::util::netns::available(&["ip", "tcpreplay"]) {
        return;
    }
    let (ns, _pid, _dir) = start("http", "");
    // OpenMetrics when the scraper asks for it; process metrics and build info are there.
    let om = ns.in_ns(|| {
        http(
            PORT,
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: application/openmetrics-text; version=1.0.0\r\nConnection: close\r\n\r\n",
        )
    });
    let (status, body) = om.expect("OpenMetrics scrape");
    assert_eq!(status, 200);
    assert!(
        body.trim_end().ends_with("# EOF"),
        "OpenMetrics ends with # EOF"
    );
    let s = samples(&scrape(&ns, PORT));
    assert!(value(&s, "process_resident_memory_bytes") > 1e6);
    assert!(value(&s, "process_open_fds") >= 3.0);
    assert!(value(&s, "process_start_time_seconds") > 1.7e9);
    assert_eq!(
        value(
            &s,
            &format!(
                "dnsobs_build_info{{version=\"{}\"}}",
                env!("CARGO_PKG_VERSION")
            )
        ),
        1.0
    );
    // Unknown path, wrong method, oversized header.
    assert_eq!(ns.get(PORT, "/nope").map(|r| r.0), Some(404));
    let post = ns.in_ns(|| {
        http(
            PORT,
            b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
    });
    assert_eq!(post.map(|r| r.0), Some(405));
    let huge = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 << 10)
    );
    let big = ns.in_ns(move || http(PORT, huge.as_bytes()));
    assert!(
        big.as_ref().is_none_or(|r| r.0 == 431),
        "oversized header answered {big:?}"
    );
    // Slowloris: connections that never finish their headers are cut after the timeout, and
    // the ones over the connection limit are refused at once. Traffic is replayed meanwhile.
    let slow = ns.in_ns(|| {
        let mut conns: Vec<TcpStream> = (0..40)
            .filter_map(|_| TcpStream::connect(("127.0.0.1", PORT)).ok())
            .inspect(|s| {
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            })
            .collect();
        for c in &mut conns {
            let _ = c.write_all(b"GET /metrics HTTP/1.1\r\nHost");
        }
        let start = Instant::now();
        let mut closed = 0;
        for c in &mut conns {
            let mut b = [0u8; 256];
            // Closed: end of stream, a 408 answer, or a reset. Still open: the read times out.
            match c.read(&mut b) {
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                _ => closed += 1,
            }
        }
        (conns.len(), closed, start.elapsed())
    });
    assert_eq!(slow.0, slow.1, "every slow connection was closed");
    assert!(
        slow.2 < Duration::from_secs(4),
        "slow clients held for {:?}",
        slow.2
    );
    ns.replay(&pcaps().join("lt-ethernet.pcap"), 3000);
    let want = oracle("lt-ethernet.pcap")["queries"]
        .as_f64()
        .expect("queries");
    assert_eq!(
        settled_queries(&ns, PORT),
        want,
        "capture counted exactly during the abuse"
    );
    let s = samples(&scrape(&ns, PORT));
    assert_eq!(
        value(&s, "dnsobs_capture_up{interface=\"cap0\",worker=\"0\"}"),
        1.0
    );
}

#[test]
fn sighup_storm_then_sigterm_under_full_load() {
    if !crate::util::netns::available(&["ip", "tcpreplay"]) {
        return;
    }
    let (mut ns, pid, dir) = start("storm", "");
    // 100 reloads of a valid file within a second: the daemon keeps running and counting.
    for _ in 0..100 {
        crate::util::netns::signal(pid, libc::SIGHUP);
        std::thread::sleep(Duration::from_millis(10));
    }
    ns.replay(&pcaps().join("lt-ethernet.pcap"), 3000);
    let want = oracle("lt-ethernet.pcap")["queries"]
        .as_f64()
        .expect("queries");
    assert_eq!(
        settled_queries(&ns, PORT),
        want,
        "counting survives a SIGHUP storm"
    );
    let s = samples(&scrape(&ns, PORT));
    assert_eq!(value(&s, "dnsobs_config_last_reload_successful"), 1.0);
    // SIGTERM while tcpreplay sends as fast as it can (bounded: 20 loops of a small capture).
    let gen_ns = ns.gen_ns.clone();
    let pcap = pcaps().join("root-mix-v4v6.pcap");
    let load = std::thread::spawn(move || {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &gen_ns,
                "tcpreplay",
                "-q",
                "-i",
                "gen0",
                "--topspeed",
                "--loop",
                "20",
            ])
            .arg(pcap)
            .output()
    });
    std::thread::sleep(Duration::from_millis(500));
    let t0 = Instant::now();
    crate::util::netns::signal(pid, libc::SIGTERM);
    let st = ns
        .wait(pid, Duration::from_secs(10))
        .expect("exits under load");
    assert!(st.success(), "exit status {st:?}");
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "stopping took {:?}",
        t0.elapsed()
    );
    let _ = load.join();
    let log = std::fs::read_to_string(dir.join("dnsobs.log")).expect("log");
    let line = log
        .lines()
        .find(|l| l.contains("final counts:"))
        .expect("final counts logged");
    let frames: u64 = line
        .split("frames=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("frames figure");
    assert!(frames > 276, "final counts include the load: {line}");
    // Signals of one kind that arrive while one is pending merge in the kernel: allow a few.
    let reloads = log.matches("configuration reloaded").count();
    assert!(
        (90..=100).contains(&reloads),
        "{reloads} reloads for 100 SIGHUPs"
    );
}

#[test]
fn unwritable_rssac002_directory_is_counted_not_fatal() {
    if !crate::util::netns::available(&["ip", "tcpreplay"]) {
        return;
    }
    // /proc refuses new directories: the daemon must log, count, and keep capturing.
    let extra = "[rssac002]\ndirectory = \"/proc/dnsobs-rssac002\"\nservice = \"x.example\"\n";
    let (ns, _pid, dir) = start("rssac", extra);
    assert_eq!(
        scrape_sum(&ns, PORT, "dnsobs_rssac002_write_errors_total"),
        1.0
    );
    ns.replay(&pcaps().join("lt-ethernet.pcap"), 3000);
    let want = oracle("lt-ethernet.pcap")["queries"]
        .as_f64()
        .expect("queries");
    assert_eq!(settled_queries(&ns, PORT), want);
    let log = std::fs::read_to_string(dir.join("dnsobs.log")).expect("log");
    assert!(
        log.contains("rssac002: directory /proc/dnsobs-rssac002 is not writable"),
        "{log}"
    );
}
