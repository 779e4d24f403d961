//! `dnsobs top` driven in tmux against a live daemon in a network namespace fed by tcpreplay:
//! the numbers on screen move with the traffic and end equal to the daemon's counter, views
//! switch, `q` quits; an unreachable URL says so; `--once` prints a snapshot or exits 1.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::util::daemon::{Config, PORT, QUERIES, scrape_sum, start_in};
use crate::util::netns::Netns;
use crate::util::{BIN, pcaps, scratch};

const FIXTURE: &str = "root-mix-v4v6.pcap";

/// A private tmux server (its own socket), killed on drop even when the test fails.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new() -> Self {
        Self {
            socket: format!("dnsobs-top-{}", std::process::id()),
        }
    }

    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs")
    }

    /// Starts `command` in a detached 160x50 session whose server runs inside namespace `ns`.
    fn start(&self, ns: &str, session: &str, command: &str) {
        let st = Command::new("ip")
            .args(["netns", "exec", ns, "tmux", "-L", &self.socket])
            .args(["new-session", "-d", "-s", session, "-x", "160", "-y", "50"])
            .arg(command)
            .status()
            .expect("tmux runs");
        assert!(st.success(), "tmux new-session failed");
    }

    fn pane(&self, session: &str) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", session]).stdout)
            .into_owned()
    }

    fn keys(&self, session: &str, keys: &str) {
        self.cmd(&["send-keys", "-t", session, keys]);
    }

    fn alive(&self, session: &str) -> bool {
        self.cmd(&["has-session", "-t", session]).status.success()
    }

    /// Waits until the pane satisfies `f`; the last pane either way.
    fn wait_for(&self, session: &str, secs: u64, f: impl Fn(&str) -> bool) -> (bool, String) {
        let start = Instant::now();
        let mut last = String::new();
        while start.elapsed() < Duration::from_secs(secs) {
            last = self.pane(session);
            if f(&last) {
                return (true, last);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        (false, last)
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
        // The server leaves its socket behind when it exits with its last session.
        let dir = std::env::var_os("TMUX_TMPDIR").map_or_else(|| "/tmp".into(), PathBuf::from);
        let uid = unsafe { libc::geteuid() };
        let _ = std::fs::remove_file(dir.join(format!("tmux-{uid}")).join(&self.socket));
    }
}

/// The number after `Queries total: ` on screen.
fn shown_queries(pane: &str) -> Option<u64> {
    let rest = pane.split("Queries total: ").nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[test]
fn top_follows_live_traffic_in_tmux() {
    if !crate::util::netns::available(&["ip", "tcpreplay", "tmux"]) {
        return;
    }
    let dir = scratch::tmp("dnsobs-top");
    let mut ns = Netns::new("top");
    let tmux = Tmux::new();
    let bin = BIN;
    start_in(&mut ns, &dir, &Config::cap0(1, PORT));

    // `--once` against the idle daemon: exit 0, a snapshot with every view's tables.
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.cap, bin, "top", "--once"])
        .output()
        .expect("top --once");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    for want in [
        "Queries total: 0",
        "Shares",
        "Query types",
        "Top names",
        "Capture workers",
    ] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }

    tmux.start(
        &ns.cap,
        "top",
        &format!("{bin} top --url http://127.0.0.1:{PORT} --interval 0.5"),
    );
    let (ok, before) = tmux.wait_for("top", 10, |p| shown_queries(p) == Some(0));
    assert!(ok, "no 'Queries total: 0' before traffic:\n{before}");

    // Traffic at a bounded rate (~9 s); watch the screen meanwhile.
    let mut seen = Vec::new();
    let mut under_traffic = String::new();
    std::thread::scope(|s| {
        let replay = s.spawn(|| ns.replay(&pcaps().join(FIXTURE), 1000));
        while !replay.is_finished() {
            std::thread::sleep(Duration::from_millis(700));
            let p = tmux.pane("top");
            if let Some(n) = shown_queries(&p) {
                if n > 0 && seen.last() != Some(&n) {
                    under_traffic = p;
                }
                seen.push(n);
            }
        }
        replay.join().expect("replay thread");
    });
    eprintln!("dnsobs top under traffic:\n{under_traffic}");
    let mut moving: Vec<u64> = seen.iter().copied().filter(|n| *n > 0).collect();
    moving.dedup();
    assert!(
        moving.len() >= 3,
        "the count on screen did not move with traffic: {seen:?}"
    );
    assert!(
        moving.windows(2).all(|w| w[0] < w[1]),
        "the count went backwards: {seen:?}"
    );
    assert!(
        under_traffic.contains("udp / IPv4") && under_traffic.contains("tcp / IPv6"),
        "{under_traffic}"
    );

    // Settled: the screen shows the daemon's own counter.
    let mut want = -1.0;
    let mut last = String::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(700));
        let now = scrape_sum(&ns, PORT, QUERIES);
        last = tmux.pane("top");
        if now == want && now > 0.0 && shown_queries(&last) == Some(now as u64) {
            break;
        }
        want = now;
    }
    assert_eq!(
        shown_queries(&last),
        Some(want as u64),
        "screen vs daemon:\n{last}"
    );
    assert!(want > 0.0);

    // Views switch by key.
    tmux.keys("top", "3");
    let (ok, p) = tmux.wait_for("top", 5, |p| {
        p.contains("Top names") && p.contains("Top TLDs")
    });
    assert!(ok, "view 3 not shown:\n{p}");
    eprintln!("dnsobs top, view 3 after traffic:\n{p}");
    tmux.keys("top", "2");
    let (ok, p) = tmux.wait_for("top", 5, |p| p.contains("NXDOMAIN") && p.contains("AAAA"));
    assert!(ok, "view 2 not shown:\n{p}");
    tmux.keys("top", "Tab");
    let (ok, p) = tmux.wait_for("top", 5, |p| p.contains("Top source prefixes"));
    assert!(ok, "tab did not move to view 3:\n{p}");

    // q quits: the session (whose only pane ran top) ends.
    tmux.keys("top", "q");
    let start = Instant::now();
    while tmux.alive("top") {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "top still running after q:\n{}",
            tmux.pane("top")
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // An unreachable daemon: a clear message, still running (retrying) until q.
    tmux.start(
        &ns.cap,
        "gone",
        &format!("{bin} top --url http://127.0.0.1:1"),
    );
    let (ok, p) = tmux.wait_for("gone", 10, |p| p.contains("daemon unreachable"));
    assert!(ok, "no unreachable message:\n{p}");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(tmux.alive("gone"), "top gave up on an unreachable daemon");
    tmux.keys("gone", "q");
    let start = Instant::now();
    while tmux.alive("gone") {
        assert!(start.elapsed() < Duration::from_secs(5), "q ignored");
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.cap, bin, "top", "--once", "--url"])
        .arg("http://127.0.0.1:1")
        .output()
        .expect("top --once");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unreachable"));
    let _ = std::fs::remove_dir_all(&dir);
}
