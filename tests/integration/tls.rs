//! Remote scraping secured as exporters do it (`export.web_config`): TLS and basic
//! authentication, with certificates made by the test. A real Prometheus server scrapes over
//! TLS with basic auth while hand-made bad clients (wrong and missing credentials, plain HTTP,
//! stalled handshakes, a flood of bad logins) hit the endpoint, and capture counts stay exact;
//! mutual TLS; the web configuration re-read on SIGHUP; invalid files refused by file, key and
//! reason.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ClientConfig;
use serde_json::Value;

use crate::util::daemon::{Config, PORT, samples, spawn_here, sum, value};
use crate::util::netns::{Netns, signal};
use crate::util::tls::{Answer, Pki, Session, basic, get, hash};
use crate::util::{BIN, oracle, pcaps, scratch, wait_for};

const USER: &str = "prometheus";
const PASSWORD: &str = "correct horse battery staple";

/// The web configuration: TLS with the test PKI's server certificate (relative paths: they
/// are resolved against the file's directory), `tls_extra` lines in `tls_server_config`, and
/// one user with `password`.
fn web_yml(dir: &Path, tls_extra: &str, password: &str) -> PathBuf {
    let p = dir.join("web.yml");
    let text = format!(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n{tls_extra}\
         http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n\
         basic_auth_users:\n  {USER}: '{}'\n",
        hash(password)
    );
    std::fs::write(&p, text).expect("web.yml");
    p
}

fn free_port() -> u16 {
    let t = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    t.local_addr().expect("addr").port()
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

/// `/metrics` with the right credentials (status 200 asserted), as samples.
fn scrape(client: &Arc<ClientConfig>, port: u16) -> Vec<(String, f64)> {
    let a = get(client, port, "/metrics", &basic(USER, PASSWORD)).expect("scrape");
    assert_eq!(a.status, 200, "{a:?}");
    samples(&a.body)
}

/// Waits (10 s at most) until the series `series` is `want` in the scrapes; panics with the
/// last value otherwise.
fn wait_value(client: &Arc<ClientConfig>, port: u16, series: &str, want: f64) {
    let start = Instant::now();
    let mut last = f64::NAN;
    while start.elapsed() < Duration::from_secs(10) {
        last = value(&scrape(client, port), series);
        if last == want {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{series} is {last}, want {want}");
}

/// Opens a TCP connection and sends `bytes` (maybe none) and nothing more: a stalled TLS
/// handshake.
fn stall(port: u16, bytes: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.write_all(bytes).expect("write");
    s
}

/// Whether the daemon closed a stalled connection within `within`.
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).expect("timeout");
    let mut b = [0u8; 64];
    // EOF, or a reset: either way the daemon dropped it; a timeout means it is still open.
    !matches!(s.read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
        || e.kind() == std::io::ErrorKind::TimedOut)
}

/// Plain HTTP to the TLS port: (status, body) of whatever came back.
fn plain_http(port: u16) -> Option<(u16, String)> {
    crate::util::netns::get(port, "/metrics")
}

#[test]
fn tls_invalid_web_configs_are_refused_with_file_key_and_reason() {
    let dir = scratch::Scratch::tmp("dnsobs-tls-invalid");
    let pki = Pki::new(&dir);
    let web = dir.join("web.yml");
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "-i", "lo", "--listen", "127.0.0.1:0", "--web-config"];
        args.push(web.to_str().expect("utf-8"));
        args.extend_from_slice(extra);
        let o = Command::new(BIN).args(&args).output().expect("run");
        assert_eq!(o.status.code(), Some(1), "{o:?}");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let w = web.display().to_string();
    let cases = [
        (
            "tls_server_config:\n  cert_fil: server.crt\n".to_owned(),
            "unknown field `cert_fil`",
        ),
        (
            "tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\n".to_owned(),
            "key `tls_server_config.cert_file`: cannot read",
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: rogue.key\n".to_owned(),
            "key `tls_server_config.key_file`: does not go with the certificate",
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
             client_auth_type: RequireAndVerifyClientCert\n"
                .to_owned(),
            "key `tls_server_config.client_auth_type`: RequireAndVerifyClientCert needs \
             client_ca_file",
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
             client_auth_type: Sometimes\n"
                .to_owned(),
            "key `tls_server_config.client_auth_type`: `Sometimes` is not one of",
        ),
        (
            "basic_auth_users:\n  alice: secret\n".to_owned(),
            "key `basic_auth_users.alice`: not a bcrypt hash",
        ),
        (
            "basic_auth_users:\n  alice: '$2y$10$short'\n".to_owned(),
            "key `basic_auth_users.alice`: not a bcrypt hash",
        ),
        (
            format!(
                "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
                 client_ca_file: {}\n",
                pki.ca.display()
            ),
            "key `tls_server_config.client_ca_file`: client CAs without a client_auth_type",
        ),
    ];
    for (text, want) in &cases {
        std::fs::write(&web, text).expect("web.yml");
        let err = run(&[]);
        assert!(
            err.contains(&format!("key `export.web_config`: {w}: ")) && err.contains(want),
            "{text}\n→ {err}"
        );
        // check-config says the same.
        let toml = dir.join("dnsobs.toml");
        std::fs::write(&toml, format!("[export]\nweb_config = \"{w}\"\n")).expect("toml");
        let o = Command::new(BIN)
            .args(["check-config", toml.to_str().expect("utf-8")])
            .output()
            .expect("check-config");
        assert_eq!(o.status.code(), Some(1));
        let out = String::from_utf8_lossy(&o.stderr);
        assert!(out.contains(want), "{text}\n→ {out}");
    }
    std::fs::remove_file(&web).expect("rm");
    let err = run(&[]);
    assert!(err.contains(&format!("{w}: cannot read")), "{err}");
    // A valid one: check-config says what it configures.
    web_yml(&dir, "", PASSWORD);
    let toml = dir.join("dnsobs.toml");
    std::fs::write(&toml, format!("[export]\nweb_config = \"{w}\"\n")).expect("toml");
    let o = Command::new(BIN)
        .args(["check-config", toml.to_str().expect("utf-8")])
        .output()
        .expect("check-config");
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("metrics on 127.0.0.1:10053 over https, 1 user(s))"),
        "{out}"
    );
    // A web configuration does not lift the loopback rule: the allow stays explicit.
    let o = Command::new(BIN)
        .args([
            "run",
            "-i",
            "lo",
            "--listen",
            "0.0.0.0:10053",
            "--web-config",
            &w,
        ])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("export.allow_non_loopback"));
}

/// Mutual TLS (RequireAndVerifyClientCert with client_ca_file), the refusals counted, plain
/// HTTP and a stalled handshake, then SIGHUP: a new password (the old one now 401), then an
/// invalid file (refused, the running configuration kept). A dnstap-only daemon: no root.
#[test]
fn tls_mutual_auth_refusals_and_sighup_reload() {
    let dir = scratch::Scratch::tmp("dnsobs-tls-mtls");
    let pki = Pki::new(&dir);
    let mtls = "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n";
    let web = web_yml(&dir, mtls, PASSWORD);
    let port = free_port();
    let config = Config::dnstap(&dir.join("tap.sock"), port).export(&format!(
        "web_config = \"{}\"\nheader_read_timeout_seconds = 1\n",
        web.display()
    ));
    let mut procs = Procs(vec![spawn_here(&dir, &config)]);
    let pid = procs.0[0].id();
    let client = pki.client(Some(&pki.client));
    let auth = basic(USER, PASSWORD);
    wait_for(
        "daemon healthy over mutual TLS",
        Duration::from_secs(15),
        || get(&client, port, "/healthz", &auth).is_ok_and(|a| a.status == 200),
    );
    let a = get(&client, port, "/metrics", &auth).expect("scrape");
    assert_eq!(a.status, 200);
    assert_eq!(a.header("X-Content-Type-Options"), Some("nosniff"));
    assert!(
        a.body
            .contains("dnsobs_http_auth_failures_total{reason=\"wrong\"} 0")
    );

    // No client certificate, or one of another CA: the handshake fails, nothing is served.
    for who in [pki.client(None), pki.client(Some(&pki.rogue))] {
        let r = get(&who, port, "/metrics", &auth);
        assert!(
            r.is_err(),
            "served without a trusted client certificate: {r:?}"
        );
    }
    // Missing and wrong credentials: 401 with the challenge.
    let unauthorized = |a: Answer| {
        assert_eq!(a.status, 401, "{a:?}");
        assert!(
            a.header("WWW-Authenticate")
                .is_some_and(|v| v.starts_with("Basic "))
        );
        assert!(!a.body.contains("dnsobs_"));
    };
    unauthorized(get(&client, port, "/metrics", "").expect("answer"));
    unauthorized(get(&client, port, "/metrics", &basic(USER, "wrong")).expect("answer"));
    unauthorized(get(&client, port, "/healthz", &basic("nobody", PASSWORD)).expect("answer"));
    // Plain HTTP on the TLS port: a 400, no metrics.
    let (status, body) = plain_http(port).expect("an answer");
    assert_eq!(status, 400);
    assert!(
        !body.contains("dnsobs_") && body.contains("HTTPS"),
        "{body}"
    );
    // A stalled handshake: others are served meanwhile, it is dropped after the timeout (1 s).
    let mut stalled = stall(port, b"");
    let t = Instant::now();
    assert_eq!(
        get(&client, port, "/healthz", &auth)
            .expect("served")
            .status,
        200
    );
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    assert!(closed_within(&mut stalled, Duration::from_secs(3)));

    let f = |r: &str| format!("dnsobs_http_auth_failures_total{{reason=\"{r}\"}}");
    let t = |r: &str| format!("dnsobs_http_tls_handshake_failures_total{{reason=\"{r}\"}}");
    wait_value(&client, port, &t("timeout"), 1.0);
    let s = scrape(&client, port);
    assert_eq!(value(&s, &f("missing")), 1.0);
    assert_eq!(value(&s, &f("wrong")), 2.0);
    assert_eq!(value(&s, &f("malformed")), 0.0);
    assert_eq!(value(&s, &f("busy")), 0.0);
    assert_eq!(value(&s, &t("not_tls")), 1.0);
    assert_eq!(
        value(&s, &t("error")),
        2.0,
        "no client certificate, another CA's"
    );

    // SIGHUP with a new password: the old one is refused, the new one served, also on a
    // connection kept alive from before the reload.
    let mut kept = Session::open(&client, port);
    assert_eq!(kept.get("/healthz", &auth).status, 200);
    let new = "a new password";
    web_yml(&dir, mtls, new);
    signal(pid, libc::SIGHUP);
    wait_for("old password refused", Duration::from_secs(10), || {
        get(&client, port, "/metrics", &auth).is_ok_and(|a| a.status == 401)
    });
    let new_auth = basic(USER, new);
    let a = get(&client, port, "/metrics", &new_auth).expect("scrape");
    assert_eq!(a.status, 200);
    unauthorized(kept.get("/metrics", &auth));
    assert_eq!(kept.get("/healthz", &new_auth).status, 200);
    assert_eq!(
        value(&samples(&a.body), "dnsobs_config_last_reload_successful"),
        1.0
    );

    // SIGHUP with an invalid web configuration: refused, the running one kept.
    std::fs::write(&web, format!("basic_auth_users:\n  {USER}: plaintext\n")).expect("web");
    signal(pid, libc::SIGHUP);
    let start = Instant::now();
    loop {
        let a = get(&client, port, "/metrics", &new_auth).expect("still served over TLS");
        assert_eq!(a.status, 200);
        if value(&samples(&a.body), "dnsobs_config_last_reload_successful") == 0.0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "reload never failed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = std::fs::read_to_string(dir.join("dnsobs.log")).expect("log");
    assert!(
        log.contains(&format!(
            "{}: key `basic_auth_users.{USER}`: not a bcrypt hash",
            web.display()
        )),
        "{log}"
    );
    signal(pid, libc::SIGTERM);
    let st = procs.0[0].wait().expect("exit");
    assert!(st.success(), "{st:?}");
}

/// A real Prometheus server scrapes over TLS with basic auth while the fixtures are captured
/// and hand-made bad clients hit the endpoint: stalled handshakes, plain HTTP, missing and
/// wrong credentials, then a flood of distinct bad logins (bcrypt on each). A scrape with the
/// right credentials is answered at once throughout, every refusal is counted, Prometheus's
/// `up` is 1 and its sum of the queries equals the fixtures' oracle, as do the daemon's counts.
#[test]
fn tls_prometheus_scrapes_with_basic_auth_while_attacked() {
    if !crate::util::netns::available(&["ip", "tcpreplay", "prometheus"]) {
        return;
    }
    const FIXTURES: [&str; 3] = ["root-mix-v4v6.pcap", "tcp-pipelined.pcap", "fragments.pcap"];
    let dir = scratch::tmp("dnsobs-tls-prom");
    let pki = Pki::new(&dir);
    let web = web_yml(&dir, "", PASSWORD);
    let config = Config::cap0(1, PORT).export(&format!(
        "web_config = \"{}\"\nheader_read_timeout_seconds = 1\nmax_connections = 64\n",
        web.display()
    ));
    let mut ns = Netns::new("tls");
    ns.spawn(
        &[
            BIN,
            "run",
            "--config",
            config.write(&dir).to_str().expect("utf-8"),
        ],
        &dir.join("dnsobs.log"),
    );
    let client = pki.client(None);
    let auth = basic(USER, PASSWORD);
    {
        let (client, auth) = (Arc::clone(&client), auth.clone());
        ns.in_ns(move || {
            wait_for("daemon healthy over TLS", Duration::from_secs(15), || {
                get(&client, PORT, "/healthz", &auth).is_ok_and(|a| a.status == 200)
            })
        });
    }

    // Prometheus scrapes over TLS (trusting the test CA, checking the name) with basic auth.
    let prom_cfg = dir.join("prometheus.yml");
    std::fs::write(
        &prom_cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: dnsobs\n    \
             scheme: https\n    tls_config:\n      ca_file: {}\n      server_name: localhost\n    \
             basic_auth:\n      username: {USER}\n      password: '{PASSWORD}'\n    \
             static_configs:\n      - targets: ['127.0.0.1:{PORT}']\n",
            pki.ca.display()
        ),
    )
    .expect("prometheus.yml");
    ns.spawn(
        &[
            "prometheus",
            &format!("--config.file={}", prom_cfg.display()),
            &format!("--storage.tsdb.path={}", dir.join("prom-data").display()),
            "--web.listen-address=127.0.0.1:19090",
        ],
        &dir.join("prometheus.log"),
    );

    // The attack, inside the capture namespace, while the fixtures are replayed.
    const STALLED: usize = 3;
    const FLOOD: usize = 24;
    let attack = {
        let (client, auth) = (Arc::clone(&client), auth.clone());
        let ns_name = ns.cap.clone();
        std::thread::spawn(move || {
            in_netns(&ns_name, move || attack(&client, &auth, STALLED, FLOOD))
        })
    };
    for f in FIXTURES {
        ns.replay(&pcaps().join(f), 5000);
    }
    let slowest = attack.join().expect("attack thread");
    assert!(
        slowest < Duration::from_millis(500),
        "a scrape with the right credentials took {slowest:?} during the flood"
    );

    // Counts exact, refusals counted exactly.
    let want: f64 = FIXTURES
        .iter()
        .map(|f| oracle(f)["queries"].as_f64().unwrap_or(0.0))
        .sum();
    let (c, a) = (Arc::clone(&client), auth.clone());
    let s = ns.in_ns(move || {
        let mut last = -1.0;
        for _ in 0..100 {
            std::thread::sleep(Duration::from_millis(500));
            let r = get(&c, PORT, "/metrics", &a).expect("scrape");
            assert_eq!(r.status, 200);
            let s = samples(&r.body);
            let n = sum(&s, "dnsobs_capture_packets_total{");
            if n > 0.0 && n == last {
                return s;
            }
            last = n;
        }
        panic!("packet count never settled");
    });
    assert_eq!(sum(&s, "dnsobs_capture_dropped_packets_total{"), 0.0);
    assert_eq!(
        sum(&s, "dnsobs_queries_total{"),
        want,
        "queries vs the oracle"
    );

    // Prometheus: up, and the same sum of queries.
    let q = |query: &str| {
        let path = format!("/api/v1/query?query={query}");
        ns.get(19090, &path).and_then(|(st, b)| {
            let v: Value = serde_json::from_str(&b).ok()?;
            (st == 200).then(|| {
                v["data"]["result"][0]["value"][1]
                    .as_str()?
                    .parse::<f64>()
                    .ok()
            })?
        })
    };
    let up = "up%7Bjob%3D%22dnsobs%22%7D";
    let queries = "sum%28dnsobs_queries_total%29";
    let start = Instant::now();
    let mut last = (None, None);
    while last != (Some(1.0), Some(want)) {
        if start.elapsed() > Duration::from_secs(40) {
            let log = std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default();
            panic!(
                "Prometheus: (up, sum of queries) = {last:?}, want (1, {want}); its log:\n{log}"
            );
        }
        std::thread::sleep(Duration::from_millis(500));
        last = (q(up), q(queries));
    }

    // Every refusal counted exactly once, none of them Prometheus's (it has been scraping).
    let c = Arc::clone(&client);
    let s = ns.in_ns(move || scrape(&c, PORT));
    let f = |r: &str| {
        value(
            &s,
            &format!("dnsobs_http_auth_failures_total{{reason=\"{r}\"}}"),
        )
    };
    let t = |r: &str| {
        value(
            &s,
            &format!("dnsobs_http_tls_handshake_failures_total{{reason=\"{r}\"}}"),
        )
    };
    assert_eq!(f("missing"), 1.0);
    assert_eq!(f("malformed"), 1.0);
    assert_eq!(
        f("wrong") + f("busy"),
        1.0 + FLOOD as f64,
        "every bad login counted once"
    );
    assert!(
        f("wrong") >= 2.0,
        "bcrypt checked some of the flood: {}",
        f("wrong")
    );
    assert_eq!(
        t("timeout"),
        (STALLED + 1) as f64,
        "stalled, and one partial ClientHello"
    );
    assert_eq!(t("not_tls"), 1.0);
    assert_eq!(t("error"), 0.0);
    // Prometheus scraped the same refusals.
    let refusals = 3.0 + FLOOD as f64;
    let start = Instant::now();
    let promql = "sum%28dnsobs_http_auth_failures_total%29";
    while q(promql) != Some(refusals) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "Prometheus: sum(dnsobs_http_auth_failures_total) = {:?}, want {refusals}",
            q(promql)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Runs `f` on a thread in the network namespace `ns`.
fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(format!("/run/netns/{ns}")).expect("netns file");
    // SAFETY: setns on this thread only, with a namespace fd we hold open.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns");
    f()
}

/// The bad clients; the slowest answer to a right scrape meanwhile.
fn attack(client: &Arc<ClientConfig>, auth: &str, stalled: usize, flood: usize) -> Duration {
    // Stalled handshakes (nothing sent, and one partial ClientHello), held during the rest.
    let mut held: Vec<TcpStream> = (0..stalled).map(|_| stall(PORT, b"")).collect();
    held.push(stall(PORT, &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    let (status, body) = plain_http(PORT).expect("an answer to plain HTTP");
    assert_eq!(status, 400);
    assert!(!body.contains("dnsobs_"));
    let a = get(client, PORT, "/metrics", "").expect("answer");
    assert_eq!(a.status, 401);
    let a = get(client, PORT, "/metrics", "Authorization: Basic ***\r\n").expect("answer");
    assert_eq!(a.status, 401);
    let a = get(client, PORT, "/metrics", &basic(USER, "nope")).expect("answer");
    assert_eq!(a.status, 401);
    assert!(a.header("WWW-Authenticate").is_some());
    // The flood: distinct wrong passwords at once (each one a bcrypt check, one at a time).
    let threads: Vec<_> = (0..flood)
        .map(|i| {
            let client = Arc::clone(client);
            std::thread::spawn(move || {
                let a = get(
                    &client,
                    PORT,
                    "/metrics",
                    &basic(USER, &format!("guess{i}")),
                )
                .expect("answer");
                assert!(a.status == 401 || a.status == 503, "{a:?}");
            })
        })
        .collect();
    // Meanwhile the right credentials are answered at once (their check is cached).
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let t = Instant::now();
        let a = get(client, PORT, "/metrics", auth).expect("scrape");
        assert_eq!(a.status, 200);
        slowest = slowest.max(t.elapsed());
        std::thread::sleep(Duration::from_millis(50));
    }
    for t in threads {
        t.join().expect("flood thread");
    }
    for s in &mut held {
        assert!(
            closed_within(s, Duration::from_secs(3)),
            "a stalled handshake kept open"
        );
    }
    slowest
}
