//! dnstap input end to end: a real `knotd` with its dnstap module writes Frame Streams to the
//! daemon's socket while `kdig` sends a known set of queries; /metrics must count exactly them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::daemon::{
    Config, samples, scrape_here, spawn_here, sum, value, wait_healthy_here,
};
use crate::util::{BIN, cannot_run, promtool, scratch};

/// How long this module waits for anything.
const TIMEOUT: Duration = Duration::from_secs(20);

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p)
            .chain(["/usr/sbin".into(), "/sbin".into()])
            .any(|d| d.join(tool).is_file())
    })
}

/// knotd (with its dnstap module) and kdig; without them skip, unless CI=1 where it fails.
fn have_knot() -> bool {
    // Debian ships mod-dnstap as a loadable module (package knot-module-dnstap):
    // /usr/lib/<triplet>/knot/modules-<version>/dnstap.so.
    let module = std::fs::read_dir("/usr/lib").is_ok_and(|triplets| {
        triplets.flatten().any(|t| {
            std::fs::read_dir(t.path().join("knot"))
                .is_ok_and(|mods| mods.flatten().any(|m| m.path().join("dnstap.so").is_file()))
        })
    });
    let ok = on_path("knotd") && on_path("kdig") && module;
    if !ok {
        cannot_run(
            "knotd, its dnstap module or kdig is missing (scripts/install-deps.sh)",
            "knotd/kdig not available: skipping the dnstap test",
        );
    }
    ok
}

fn knotd() -> PathBuf {
    ["/usr/sbin/knotd", "/sbin/knotd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| "knotd".into())
}

fn free_port() -> u16 {
    // Free on TCP and UDP for both loopback addresses (knotd binds all four).
    loop {
        let t = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = t.local_addr().expect("addr").port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok()
            && std::net::UdpSocket::bind(("::1", port)).is_ok()
            && std::net::TcpListener::bind(("::1", port)).is_ok()
        {
            return port;
        }
    }
}

/// Children killed (by their own pid) and reaped on drop, whatever the test's outcome.
struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn term(c: &mut Child) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if c.try_wait().expect("wait").is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("process {} did not stop on SIGTERM", c.id());
}

fn wait_for(what: &str, ok: impl FnMut() -> bool) {
    crate::util::wait_for(what, TIMEOUT, ok);
}

fn scrape(port: u16) -> Vec<(String, f64)> {
    samples(&scrape_here(port))
}

const ZONE: &str = "$ORIGIN example.test.
$TTL 3600
@    SOA  ns1 hostmaster 1 3600 900 604800 300
@    NS   ns1
ns1  A    192.0.2.53
www  A    192.0.2.80
www  AAAA 2001:db8::80
@    MX   10 mail
mail A    192.0.2.25
@    TXT  \"dnsobs test\"
";

fn knot_conf(dir: &Path, port: u16, sink: &str) -> PathBuf {
    let d = dir.display();
    let text = format!(
        "server:\n    rundir: \"{d}\"\n    listen: [ 127.0.0.1@{port}, ::1@{port} ]\n\
         \x20   udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n\
         control:\n    listen: \"{d}/knot.sock\"\n\
         database:\n    storage: \"{d}\"\n\
         log:\n  - target: stderr\n    any: info\n\
         mod-dnstap:\n  - id: tap\n    sink: \"{sink}\"\n    log-queries: on\n    log-responses: on\n\
         template:\n  - id: default\n    storage: \"{d}\"\n    global-module: mod-dnstap/tap\n\
         zone:\n  - domain: example.test\n    file: \"example.test.zone\"\n"
    );
    std::fs::write(dir.join("example.test.zone"), ZONE).expect("zone");
    let p = dir.join("knot.conf");
    std::fs::write(&p, text).expect("knot.conf");
    p
}

fn start_knot(dir: &Path, conf: &Path) -> Child {
    let log = std::fs::File::create(dir.join("knotd.log")).expect("log");
    let c = Command::new(knotd())
        .arg("-c")
        .arg(conf)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("knotd starts");
    wait_for("knotd to load the zone", || {
        let l = std::fs::read_to_string(dir.join("knotd.log")).unwrap_or_default();
        l.contains("[example.test.] loaded") && l.contains("server started")
    });
    c
}

/// One query: (name, type, transport, address, kdig options, expected rcode).
type Query = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

/// The queries.
const QUERIES: [Query; 8] = [
    (
        "www.example.test",
        "A",
        "udp",
        "127.0.0.1",
        "+noedns",
        "NOERROR",
    ),
    (
        "www.example.test",
        "AAAA",
        "udp",
        "::1",
        "+dnssec",
        "NOERROR",
    ),
    ("example.test", "MX", "tcp", "127.0.0.1", "+edns", "NOERROR"),
    (
        "nx.example.test",
        "A",
        "udp",
        "127.0.0.1",
        "+edns",
        "NXDOMAIN",
    ),
    (
        "nx.example.test",
        "TXT",
        "tcp",
        "::1",
        "+dnssec",
        "NXDOMAIN",
    ),
    (
        "example.test",
        "TXT",
        "udp",
        "127.0.0.1",
        "+dnssec",
        "NOERROR",
    ),
    (
        "example.test",
        "SOA",
        "tcp",
        "127.0.0.1",
        "+noedns",
        "NOERROR",
    ),
    (
        "www.other.test",
        "A",
        "udp",
        "127.0.0.1",
        "+noedns",
        "REFUSED",
    ),
];

fn send_queries(port: u16) {
    for (name, qtype, transport, addr, opt, rcode) in QUERIES {
        let mut cmd = Command::new("kdig");
        cmd.arg(format!("@{addr}"))
            .args(["-p", &port.to_string(), name, qtype, opt, "+retry=0"]);
        if transport == "tcp" {
            cmd.arg("+tcp");
        }
        let out = cmd.output().expect("kdig runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&format!("status: {rcode}")),
            "{name} {qtype}: expected {rcode}: {text}"
        );
    }
}

/// Figures derived from `QUERIES` by counting, not from dnsobs.
struct Expected {
    by_transport_ip: [(&'static str, &'static str, f64); 4],
    do_by_ip: [(&'static str, f64); 2],
    edns_by_ip: [(&'static str, f64); 2],
    qtypes: Vec<(&'static str, f64)>,
    rcodes: Vec<(&'static str, f64)>,
}

fn expected() -> Expected {
    let count = |f: &dyn Fn(&Query) -> bool| QUERIES.iter().filter(|q| f(q)).count() as f64;
    let v6 = |a: &str| a.contains(':');
    let ip = |q: &Query, want6: bool| v6(q.3) == want6;
    let mut qtypes: Vec<&str> = QUERIES.iter().map(|q| q.1).collect();
    qtypes.dedup();
    qtypes.sort_unstable();
    qtypes.dedup();
    let mut rcodes: Vec<&str> = QUERIES.iter().map(|q| q.5).collect();
    rcodes.sort_unstable();
    rcodes.dedup();
    Expected {
        by_transport_ip: [
            ("udp", "4", count(&|q| q.2 == "udp" && ip(q, false))),
            ("udp", "6", count(&|q| q.2 == "udp" && ip(q, true))),
            ("tcp", "4", count(&|q| q.2 == "tcp" && ip(q, false))),
            ("tcp", "6", count(&|q| q.2 == "tcp" && ip(q, true))),
        ],
        do_by_ip: [
            ("4", count(&|q| q.4 == "+dnssec" && ip(q, false))),
            ("6", count(&|q| q.4 == "+dnssec" && ip(q, true))),
        ],
        // +dnssec implies EDNS.
        edns_by_ip: [
            ("4", count(&|q| q.4 != "+noedns" && ip(q, false))),
            ("6", count(&|q| q.4 != "+noedns" && ip(q, true))),
        ],
        qtypes: qtypes
            .into_iter()
            .map(|t| (t, count(&|q| q.1 == t)))
            .collect(),
        rcodes: rcodes
            .into_iter()
            .map(|r| (r, count(&|q| q.5 == r)))
            .collect(),
    }
}

#[test]
fn knotd_dnstap_socket_counts_every_query() {
    if !have_knot() {
        return;
    }
    let dir = scratch::tmp("dnsobs-dnstap");
    let sock = dir.join("dnstap.sock");
    // A stale socket from a "previous run" must be replaced.
    drop(std::os::unix::net::UnixListener::bind(&sock).expect("stale socket"));
    let (dns_port, metrics_port) = (free_port(), free_port());
    let config = Config::dnstap(&sock, metrics_port);
    let mut procs = Procs(vec![spawn_here(&dir, &config)]);
    wait_healthy_here(metrics_port, TIMEOUT);
    let conf = knot_conf(&dir, dns_port, &format!("unix:{}", sock.display()));
    procs.0.push(start_knot(&dir, &conf));
    wait_for("knotd's dnstap connection", || {
        value(&scrape(metrics_port), "dnsobs_dnstap_connections_open") == 1.0
    });

    send_queries(dns_port);
    let n = QUERIES.len() as f64;
    // knotd's fstrm thread and dnsobs's flush both batch: wait until every message is in.
    wait_for("all messages counted", || {
        let s = scrape(metrics_port);
        value(&s, "dnsobs_dnstap_messages_total{type=\"auth_response\"}") == n
            && sum(&s, "dnsobs_responses_total{") == n
    });
    // The writer says STOP when knotd stops; the reader answers FINISH and closes.
    term(&mut procs.0[1]);
    wait_for("the dnstap connection to close", || {
        value(&scrape(metrics_port), "dnsobs_dnstap_connections_open") == 0.0
    });
    let s = scrape(metrics_port);
    let e = expected();
    for (t, ipv, want) in e.by_transport_ip {
        let labels = format!("{{transport=\"{t}\",ip_version=\"{ipv}\"}}");
        assert_eq!(
            value(&s, &format!("dnsobs_queries_total{labels}")),
            want,
            "queries {labels}"
        );
        assert_eq!(
            value(&s, &format!("dnsobs_responses_total{labels}")),
            want,
            "responses {labels}"
        );
    }
    for (ipv, want) in e.do_by_ip {
        let series = format!("dnsobs_queries_do_total{{ip_version=\"{ipv}\"}}");
        assert_eq!(value(&s, &series), want, "{series}");
    }
    for (ipv, want) in e.edns_by_ip {
        let series = format!("dnsobs_queries_edns_total{{ip_version=\"{ipv}\"}}");
        assert_eq!(value(&s, &series), want, "{series}");
    }
    for (t, want) in &e.qtypes {
        let series = format!("dnsobs_query_qtypes_total{{qtype=\"{t}\"}}");
        assert_eq!(value(&s, &series), *want, "{series}");
    }
    for (r, want) in &e.rcodes {
        let series = format!("dnsobs_response_rcodes_total{{rcode=\"{r}\"}}");
        assert_eq!(value(&s, &series), *want, "{series}");
    }
    // Each query met its response: latency for all of them.
    assert_eq!(sum(&s, "dnsobs_response_latency_seconds_count"), n);
    // The Frame Streams side: one writer (knotd's fstrm thread), READY + START + STOP, one data
    // frame per message, nothing wrong.
    assert_eq!(value(&s, "dnsobs_dnstap_connections_total"), 1.0);
    assert_eq!(
        value(&s, "dnsobs_dnstap_frames_total{kind=\"control\"}"),
        3.0
    );
    assert_eq!(
        value(&s, "dnsobs_dnstap_frames_total{kind=\"data\"}"),
        2.0 * n
    );
    assert_eq!(
        value(&s, "dnsobs_dnstap_messages_total{type=\"auth_query\"}"),
        n
    );
    assert_eq!(value(&s, "dnsobs_frames_total"), 2.0 * n);
    assert_eq!(sum(&s, "dnsobs_dnstap_errors_total"), 0.0);
    assert_eq!(sum(&s, "dnsobs_malformed"), 0.0);

    // dnsobs removes its socket when it stops.
    term(&mut procs.0[0]);
    assert!(!sock.exists(), "socket left behind");
    drop(procs);
    let _ = std::fs::remove_dir_all(&dir);
}

//------------ Abusive writers (no knotd needed) ------------------------------

fn control_frame(kind: u32, content_type: bool) -> Vec<u8> {
    let ct = b"protobuf:dnstap.Dnstap";
    let body_len = if content_type { 12 + ct.len() } else { 4 };
    let mut v = vec![0, 0, 0, 0];
    v.extend((body_len as u32).to_be_bytes());
    v.extend(kind.to_be_bytes());
    if content_type {
        v.extend(1u32.to_be_bytes());
        v.extend((ct.len() as u32).to_be_bytes());
        v.extend(ct);
    }
    v
}

fn data_frame(payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(payload);
    v
}

/// A CLIENT_QUERY (kind 5) or CLIENT_RESPONSE (6) over UDP/IPv4 for a.test A.
fn tap_message(kind: u64, id: u16) -> Vec<u8> {
    use dnsobs::capture::dnstap::proto::Message;
    let mut wire = id.to_be_bytes().to_vec();
    let flags: [u8; 2] = if kind == 6 {
        [0x81, 0x80]
    } else {
        [0x01, 0x00]
    };
    wire.extend(flags);
    wire.extend([0, 1, 0, 0, 0, 0, 0, 0]);
    wire.extend(b"\x01a\x04test\x00\x00\x01\x00\x01");
    Message {
        kind: Some(kind),
        family: Some(1),
        protocol: Some(1),
        query_address: Some(&[192, 0, 2, 7]),
        response_address: Some(&[198, 51, 100, 53]),
        query_port: Some(40000 + u64::from(id)),
        response_port: Some(53),
        query_time_sec: Some(1_700_000_000),
        response_time_sec: Some(1_700_000_000),
        query_message: (kind == 5).then_some(&wire[..]),
        response_message: (kind == 6).then_some(&wire[..]),
        ..Default::default()
    }
    .encode_dnstap()
}

fn read_exact_timeout(s: &mut std::os::unix::net::UnixStream, n: usize) -> Vec<u8> {
    use std::io::Read;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut b = vec![0u8; n];
    s.read_exact(&mut b).expect("reply from dnsobs");
    b
}

fn closed_by_peer(s: &mut std::os::unix::net::UnixStream) -> bool {
    use std::io::Read;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut b = [0u8; 16];
    matches!(s.read(&mut b), Ok(0) | Err(_))
}

#[test]
fn dnstap_socket_survives_abusive_writers() {
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    let dir = scratch::tmp("dnsobs-dnstap-abuse");
    let sock = dir.join("tap.sock");
    let port = free_port();
    let config = Config::dnstap(&sock, port)
        .capture(
            "dnstap_socket_mode = 0o600\ndnstap_max_connections = 2\n\
             dnstap_max_frame_bytes = 4096\n",
        )
        .flush("0.1");
    let mut procs = Procs(vec![spawn_here(&dir, &config)]);
    wait_healthy_here(port, TIMEOUT);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&sock)
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // A: a well-behaved writer. The ACCEPT it gets is checked byte for byte.
    let mut a = UnixStream::connect(&sock).expect("connect A");
    a.write_all(&control_frame(4, true)).expect("READY");
    assert_eq!(read_exact_timeout(&mut a, 42), control_frame(1, true));
    a.write_all(&control_frame(2, true)).expect("START");
    for id in 1..=3 {
        a.write_all(&data_frame(&tap_message(5, id)))
            .expect("query");
    }
    // B: garbage (control type 9) is closed; A is not affected.
    let mut b = UnixStream::connect(&sock).expect("connect B");
    b.write_all(&[0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 9])
        .expect("garbage");
    assert!(closed_by_peer(&mut b));
    wait_for("B counted", || {
        value(
            &scrape(port),
            "dnsobs_dnstap_errors_total{reason=\"control_invalid\"}",
        ) == 1.0
    });
    // C takes the second place; D finds both taken and is refused.
    let _c = UnixStream::connect(&sock).expect("connect C");
    wait_for("C open", || {
        value(&scrape(port), "dnsobs_dnstap_connections_open") == 2.0
    });
    let mut d = UnixStream::connect(&sock).expect("connect D");
    assert!(closed_by_peer(&mut d));
    // A: an oversize frame is skipped, the stream goes on; STOP is answered with FINISH.
    a.write_all(&data_frame(&[0x55; 5000])).expect("oversize");
    a.write_all(&data_frame(&tap_message(6, 1)))
        .expect("response");
    a.write_all(&control_frame(3, false)).expect("STOP");
    assert_eq!(read_exact_timeout(&mut a, 12), control_frame(5, false));
    assert!(closed_by_peer(&mut a));

    wait_for("every frame counted", || {
        value(
            &scrape(port),
            "dnsobs_responses_total{transport=\"udp\",ip_version=\"4\"}",
        ) == 1.0
    });
    let s = scrape(port);
    assert_eq!(
        value(
            &s,
            "dnsobs_queries_total{transport=\"udp\",ip_version=\"4\"}"
        ),
        3.0
    );
    assert_eq!(
        value(&s, "dnsobs_dnstap_messages_total{type=\"client_query\"}"),
        3.0
    );
    assert_eq!(
        value(&s, "dnsobs_dnstap_messages_total{type=\"client_response\"}"),
        1.0
    );
    assert_eq!(
        value(&s, "dnsobs_dnstap_errors_total{reason=\"frame_oversize\"}"),
        1.0
    );
    assert_eq!(
        value(&s, "dnsobs_dnstap_errors_total{reason=\"control_invalid\"}"),
        1.0
    );
    assert_eq!(sum(&s, "dnsobs_dnstap_errors_total"), 2.0);
    assert_eq!(value(&s, "dnsobs_dnstap_connections_total"), 3.0);
    assert_eq!(value(&s, "dnsobs_dnstap_connections_rejected_total"), 1.0);
    assert_eq!(value(&s, "dnsobs_dnstap_connections_open"), 1.0);
    // READY, START, STOP of A; B's garbage is not a control frame.
    assert_eq!(
        value(&s, "dnsobs_dnstap_frames_total{kind=\"control\"}"),
        3.0
    );
    assert_eq!(value(&s, "dnsobs_dnstap_frames_total{kind=\"data\"}"), 5.0);
    // Query 1 met its response (latency), queries 2 and 3 still wait.
    assert_eq!(sum(&s, "dnsobs_response_latency_seconds_count"), 1.0);

    // The exposition with the dnstap families passes promtool.
    if promtool::required("`promtool check metrics` of the dnstap families") {
        promtool::check_metrics(&scrape_here(port)).unwrap_or_else(|e| panic!("{e}"));
    }
    term(&mut procs.0[0]);
    assert!(!sock.exists(), "socket left behind");
    drop(procs);
    let _ = std::fs::remove_dir_all(&dir);
}

//------------ dnstap files ----------------------------------------------------

#[test]
fn knotd_dnstap_file_replays_to_the_same_counts() {
    if !have_knot() {
        return;
    }
    let dir = scratch::tmp("dnsobs-dnstap-file");
    let tap = dir.join("queries.tap");
    let port = free_port();
    let conf = knot_conf(&dir, port, &tap.display().to_string());
    let mut procs = Procs(vec![start_knot(&dir, &conf)]);
    send_queries(port);
    // knotd writes STOP and closes the file when it stops.
    term(&mut procs.0[0]);
    let out = Command::new(BIN)
        .args(["replay", "--dnstap", "--format", "json"])
        .arg(&tap)
        .output()
        .expect("replay runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let e = expected();
    let n = QUERIES.len() as u64;
    assert_eq!(j["queries"], n);
    assert_eq!(j["responses"], n);
    assert_eq!(j["frames"], 2 * n);
    assert_eq!(j["malformed"], 0);
    let sum = |t: &str, ipv: &str| -> f64 {
        e.by_transport_ip
            .iter()
            .filter(|(tt, ii, _)| (t.is_empty() || *tt == t) && (ipv.is_empty() || *ii == ipv))
            .map(|x| x.2)
            .sum()
    };
    for t in ["udp", "tcp"] {
        assert_eq!(
            j["queries_by_transport"][t].as_f64(),
            Some(sum(t, "")),
            "{t}"
        );
        assert_eq!(
            j["responses_by_transport"][t].as_f64(),
            Some(sum(t, "")),
            "{t}"
        );
    }
    for v in ["4", "6"] {
        assert_eq!(
            j["queries_by_ip_version"][v].as_f64(),
            Some(sum("", v)),
            "{v}"
        );
    }
    let total = |x: &[(&str, f64)]| x.iter().map(|y| y.1).sum::<f64>();
    assert_eq!(j["queries_do"].as_f64(), Some(total(&e.do_by_ip)));
    assert_eq!(j["queries_edns"].as_f64(), Some(total(&e.edns_by_ip)));
    for (t, want) in &e.qtypes {
        assert_eq!(j["queries_by_qtype"][t].as_f64(), Some(*want), "{t}");
    }
    for (r, want) in &e.rcodes {
        assert_eq!(j["responses_by_rcode"][r].as_f64(), Some(*want), "{r}");
    }
    assert_eq!(j["dnsobs"]["files"][0]["format"], "Dnstap");
    assert_eq!(j["dnsobs"]["files"][0]["records"], 2 * n);
    assert!(j["dnsobs"]["files"][0]["warning"].is_null());

    // The same file cut short: a warning, exit status 4 (partial), the frames before it.
    let bytes = std::fs::read(&tap).expect("tap");
    let cut = dir.join("cut.tap");
    std::fs::write(&cut, &bytes[..bytes.len() - 20]).expect("cut");
    let out = Command::new(BIN)
        .args(["replay", "--dnstap", "--format", "json"])
        .arg(&cut)
        .output()
        .expect("replay runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("stream ended inside a frame or before STOP"),
        "{err}"
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(j["dnsobs"]["files"][0]["records"], 2 * n - 1);
    assert_eq!(out.status.code(), Some(4), "{err}");
    drop(procs);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Started as root with `daemon.user`, the daemon makes the socket first, hands it to that user,
/// serves it after the switch and can still remove it at exit.
#[test]
fn dnstap_socket_survives_the_privilege_drop() {
    use std::io::Write;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        cannot_run(
            "not root",
            "not root: skipping the dnstap privilege-drop test",
        );
        return;
    }
    let dir = scratch::tmp("dnsobs-dnstap-privs");
    // Like /run/dnsobs owned by the daemon user: here sticky and world-writable, so `nobody`
    // may remove its own socket.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    let sock = dir.join("tap.sock");
    let port = free_port();
    let config = Config::dnstap(&sock, port)
        .flush("0.1")
        .sections("[daemon]\nuser = \"nobody\"\n");
    let mut procs = Procs(vec![spawn_here(&dir, &config)]);
    wait_healthy_here(port, TIMEOUT);
    let pid = procs.0[0].id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().skip(1).all(|u| u == "65534")),
        "{status}"
    );
    let meta = std::fs::metadata(&sock).expect("socket");
    assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
    let mut w = std::os::unix::net::UnixStream::connect(&sock).expect("connect");
    w.write_all(&control_frame(4, true)).expect("READY");
    assert_eq!(read_exact_timeout(&mut w, 42), control_frame(1, true));
    w.write_all(&control_frame(2, true)).expect("START");
    w.write_all(&data_frame(&tap_message(5, 1))).expect("query");
    wait_for("the query counted", || {
        value(
            &scrape(port),
            "dnsobs_queries_total{transport=\"udp\",ip_version=\"4\"}",
        ) == 1.0
    });
    term(&mut procs.0[0]);
    assert!(!sock.exists(), "socket left behind");
    drop(procs);
    let _ = std::fs::remove_dir_all(&dir);
}
