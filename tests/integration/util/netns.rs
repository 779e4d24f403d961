//! Test hosts: a pair of network namespaces joined by a veth pair, cleaned up on drop.
//!
//! Addresses never leave the namespaces: the fixtures' own documentation-prefix addresses
//! (192.0.2.0/24, 2001:db8::/32) travel from `gen0` to `cap0`, and nothing routes out.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether this test run may (and must) use root, netns and tcpreplay.
/// Without them: skip, unless `CI=1`, where missing tools are a failure.
pub fn available(tools: &[&str]) -> bool {
    let root = unsafe { libc::geteuid() } == 0;
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !on_path(t)).collect();
    let ok = root && missing.is_empty();
    if !ok {
        let why = format!("root: {root}, missing tools: {missing:?}");
        assert!(
            std::env::var("CI").is_err(),
            "CI=1 but live tests cannot run ({why})"
        );
        eprintln!("skipping live test ({why})");
    }
    ok
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status().expect("ip runs");
    assert!(st.success(), "ip {args:?} failed");
}

/// Two namespaces: `<name>c` (capture side, `cap0`, loopback up) and `<name>g` (`gen0`).
pub struct Netns {
    /// Capture namespace.
    pub cap: String,
    /// Generator namespace.
    pub gen_ns: String,
    children: Vec<Child>,
}

impl Netns {
    /// Creates the pair with a 65535 MTU (the fixtures hold offloaded frames over 1500 bytes).
    pub fn new(tag: &str) -> Self {
        let base = format!("dnsobs-{tag}-{}", std::process::id());
        let n = Self {
            cap: format!("{base}c"),
            gen_ns: format!("{base}g"),
            children: Vec::new(),
        };
        ip(&["netns", "add", &n.cap]);
        ip(&["netns", "add", &n.gen_ns]);
        ip(&[
            "link", "add", "cap0", "netns", &n.cap, "type", "veth", "peer", "name", "gen0",
            "netns", &n.gen_ns,
        ]);
        ip(&["-n", &n.cap, "link", "set", "cap0", "mtu", "65535", "up"]);
        ip(&["-n", &n.gen_ns, "link", "set", "gen0", "mtu", "65535", "up"]);
        ip(&["-n", &n.cap, "link", "set", "lo", "up"]);
        n
    }

    /// Starts a long-running process in the capture namespace; it is killed on drop.
    pub fn spawn(&mut self, args: &[&str], log: &std::path::Path) -> u32 {
        let out = File::create(log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.cap])
            .args(args)
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("spawn in netns");
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// Waits for the process with `pid` (started by `spawn`) to exit; its status.
    pub fn wait(&mut self, pid: u32, timeout: Duration) -> Option<std::process::ExitStatus> {
        let i = self.children.iter().position(|c| c.id() == pid)?;
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(st)) = self.children[i].try_wait() {
                // Already reaped by try_wait; forget it so Drop does not kill a reused pid.
                let _ = self.children.remove(i).wait();
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Replays a capture into the generator end at a bounded rate; returns when done.
    pub fn replay(&self, pcap: &std::path::Path, pps: u32) {
        let st = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.gen_ns,
                "tcpreplay",
                "-q",
                "-i",
                "gen0",
                "--pps",
                &pps.to_string(),
            ])
            .arg(pcap)
            .stdout(Stdio::null())
            .status()
            .expect("tcpreplay runs");
        assert!(st.success(), "tcpreplay failed");
    }

    /// Runs `f` on a thread moved into the capture namespace with setns (sockets it opens
    /// live there).
    pub fn in_ns<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let ns = format!("/run/netns/{}", self.cap);
        std::thread::spawn(move || {
            let file = File::open(&ns).expect("netns file");
            // SAFETY: setns on this thread only, with a namespace fd we hold open.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns");
            f()
        })
        .join()
        .expect("netns thread")
    }

    /// HTTP GET inside the capture namespace: (status, body).
    pub fn get(&self, port: u16, path: &str) -> Option<(u16, String)> {
        let path = path.to_owned();
        self.in_ns(move || get(port, &path))
    }

    /// Adds the veth pair again after a test deleted it.
    pub fn recreate_link(&self) {
        ip(&[
            "link",
            "add",
            "cap0",
            "netns",
            &self.cap,
            "type",
            "veth",
            "peer",
            "name",
            "gen0",
            "netns",
            &self.gen_ns,
        ]);
        ip(&["-n", &self.cap, "link", "set", "cap0", "mtu", "65535", "up"]);
        ip(&[
            "-n",
            &self.gen_ns,
            "link",
            "set",
            "gen0",
            "mtu",
            "65535",
            "up",
        ]);
    }
}

/// HTTP GET of `path` from 127.0.0.1:`port` (in the caller's namespace): (status, body).
pub fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    http(port, req.as_bytes())
}

/// Sends raw request bytes to 127.0.0.1:`port` (in the caller's namespace) and reads the
/// answer: (status, body).
pub fn http(port: u16, request: &[u8]) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(request).ok()?;
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let buf = String::from_utf8_lossy(&buf).into_owned();
    let status = buf.split_whitespace().nth(1)?.parse().ok()?;
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

impl Drop for Netns {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for n in [&self.cap, &self.gen_ns] {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

/// Sends a signal to a process in the namespace. `ip netns exec` replaces itself with the
/// command (exec), so the child's pid is the daemon's.
pub fn signal(pid: u32, sig: i32) {
    // SAFETY: kill on a pid we started.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}
