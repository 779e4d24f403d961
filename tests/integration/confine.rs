//! Where the daemon writes: under strace, every path it writes, creates, renames, removes or
//! chmods lies in its configured directories; and a full RSSAC002 directory (ENOSPC on a tiny
//! tmpfs) is logged and counted, leaves no temporary file, and does not disturb capture.
//!
//! The daemon writes a UTC day's RSSAC002 files once the day is over. Traffic replayed now is
//! stamped by the kernel with today's date, so the daemon runs under libfaketime with its
//! offset in a file: `+0` while traffic is counted, then `+2d`, and to the daemon today is a
//! finished day, written at its next check. (Two days ahead from the start would seal today
//! at the first check, one second in, and count later traffic as late: a race.)

use std::collections::BTreeSet;
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::util::daemon::{
    Config, PORT, samples, scrape, scrape_value, settled_queries, sum, value, wait_healthy,
};
use crate::util::netns::{Netns, signal};
use crate::util::{BIN, oracle, pcaps, scratch, wait_for};

const SERVICE: &str = "x.example";

fn tmpdir(tag: &str) -> PathBuf {
    scratch::tmp(&format!("dnsobs-confine-{tag}"))
}

/// libfaketime's preload library (its directory is named by the Debian multiarch triplet).
fn libfaketime() -> PathBuf {
    let lib = std::fs::read_dir("/usr/lib")
        .expect("/usr/lib")
        .filter_map(Result::ok)
        .map(|e| e.path().join("faketime/libfaketime.so.1"))
        .find(|p| p.is_file());
    lib.expect("libfaketime.so.1 (Debian package libfaketime) is installed")
}

/// The environment for a daemon whose clock offset is read from `dir/faketime` (at most a
/// second old), starting at the real time. Monotonic clocks stay real: timeouts computed from
/// them go to the kernel, which knows no offset.
fn faketime_env(dir: &Path) -> (PathBuf, Vec<String>) {
    let file = dir.join("faketime");
    std::fs::write(&file, "+0\n").expect("faketime file");
    let env = vec![
        format!("LD_PRELOAD={}", libfaketime().display()),
        format!("FAKETIME_TIMESTAMP_FILE={}", file.display()),
        "FAKETIME_CACHE_DURATION=1".to_owned(),
        "DONT_FAKE_MONOTONIC=1".to_owned(),
    ];
    (file, env)
}

/// Moves the daemon's clock two days ahead: today is over.
fn end_today(file: &Path) {
    std::fs::write(file, "+2d\n").expect("faketime file");
}

/// Two workers, RSSAC002 files for [`SERVICE`] into `rssac`; written into `dir`.
fn config(dir: &Path, rssac: &Path) -> PathBuf {
    let rssac002 = format!(
        "[rssac002]\ndirectory = \"{}\"\nservice = \"{SERVICE}\"\ngrace_seconds = 1\n",
        rssac.display()
    );
    Config::cap0(2, PORT).sections(&rssac002).write(dir)
}

/// The daemon's pid: the only child of the tracer (`ip netns exec` became strace).
fn tracee(strace_pid: u32) -> u32 {
    let mut pid = None;
    wait_for("the daemon under strace", Duration::from_secs(10), || {
        pid = std::fs::read_to_string(format!("/proc/{strace_pid}/task/{strace_pid}/children"))
            .ok()
            .and_then(|c| c.split_whitespace().next().and_then(|p| p.parse().ok()));
        pid.is_some()
    });
    pid.expect("tracee pid")
}

/// The names in a directory.
fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

/// The four documents of the day the traffic was captured (UTC, per the file names).
fn day_files(dir: &Path) -> BTreeSet<String> {
    let files = names(dir);
    let day = files
        .iter()
        .find_map(|f| {
            f.strip_prefix(&format!("{SERVICE}-"))?
                .get(..8)
                .map(str::to_owned)
        })
        .expect("a document was written");
    [
        "traffic-volume",
        "traffic-sizes",
        "rcode-volume",
        "unique-sources",
    ]
    .iter()
    .map(|m| format!("{SERVICE}-{day}-{m}.yaml"))
    .collect()
}

//------------ strace: every write lies in the configured directories ------------------

/// Syscalls that write, create, rename, remove or change the metadata of a path (the path is
/// an argument) or of an open file (the fd is an argument; `-y` prints its path).
const PATH_CALLS: &[&str] = &[
    "open",
    "openat",
    "openat2",
    "creat",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "rmdir",
    "rename",
    "renameat",
    "renameat2",
    "unlink",
    "unlinkat",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "truncate",
    "chmod",
    "fchmodat",
    "chown",
    "lchown",
    "fchownat",
    "utime",
    "utimes",
    "utimensat",
    "setxattr",
    "lsetxattr",
    "removexattr",
    "lremovexattr",
];
const FD_CALLS: &[&str] = &[
    "write",
    "writev",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "ftruncate",
    "fallocate",
    "fchmod",
    "fchown",
    "fsetxattr",
    "fremovexattr",
    "sendfile",
    "copy_file_range",
];

/// The quoted strings and `<...>` fd paths among one strace line's arguments, in order, with
/// `openat`-style directory fds joined to the relative path that follows them.
fn paths_of(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut dirfd: Option<String> = None;
    let b = args.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let end = args[i + 1..].find('"').map_or(b.len(), |e| i + 1 + e);
                let s = &args[i + 1..end];
                let full = match (&dirfd, s.starts_with('/')) {
                    (Some(d), false) => format!("{d}/{s}"),
                    _ => s.to_owned(),
                };
                out.push(full);
                dirfd = None;
                i = end + 1;
            }
            b'<' => {
                let end = args[i + 1..].find('>').map_or(b.len(), |e| i + 1 + e);
                let s = args[i + 1..end].to_owned();
                // A path fd: a directory for the next relative path, or the file written.
                if s.starts_with('/') {
                    dirfd = Some(s.clone());
                }
                out.push(s);
                i = end + 1;
            }
            _ => i += 1,
        }
    }
    out
}

fn opens_for_writing(args: &str) -> bool {
    [
        "O_WRONLY",
        "O_RDWR",
        "O_CREAT",
        "O_TRUNC",
        "O_APPEND",
        "O_TMPFILE",
    ]
    .iter()
    .any(|f| args.contains(f))
}

/// Every write, creation, rename, removal or chmod of a path outside `allowed` (or of a
/// non-path file other than the exceptions), as "pid: line".
fn violations(trace_dir: &Path, allowed: &[&Path], log: &Path) -> (Vec<String>, usize) {
    let under = |p: &str| {
        // Exception: libfaketime (preloaded by this test only, see the module comment) creates
        // and removes its shared clock in /dev/shm, through glibc's sem_open (which names
        // a temporary `sem.XXXXXX` first). dnsobs itself has no shared memory.
        let faketime = ["/dev/shm/faketime_shm_", "/dev/shm/sem."]
            .iter()
            .any(|f| p.starts_with(f));
        let p = Path::new(p);
        faketime || allowed.iter().any(|a| p.starts_with(a))
    };
    let mut bad = Vec::new();
    let mut checked = 0;
    for e in std::fs::read_dir(trace_dir).expect("trace dir") {
        let path = e.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("trace file");
        for line in text.lines() {
            let Some((name, rest)) = line.split_once('(') else {
                continue;
            };
            let args = rest.rsplit_once(") = ").map_or(rest, |(a, _)| a);
            if PATH_CALLS.contains(&name) {
                if name.starts_with("open") || name == "creat" {
                    if name != "creat" && !opens_for_writing(args) {
                        continue;
                    }
                    // The path opened is the last path printed (after a directory fd).
                    let p = paths_of(args).pop().unwrap_or_default();
                    checked += 1;
                    if !under(&p) {
                        bad.push(format!("{}: {line}", path.display()));
                    }
                    continue;
                }
                checked += 1;
                if paths_of(args).iter().any(|p| !under(p)) {
                    bad.push(format!("{}: {line}", path.display()));
                }
            } else if FD_CALLS.contains(&name) {
                // The written fd is the first argument; only files with a path matter.
                let Some(target) = paths_of(args).into_iter().next() else {
                    continue;
                };
                if !target.starts_with('/') {
                    // Sockets, pipes, eventfds, epoll: not files.
                    continue;
                }
                checked += 1;
                // Exception: stdout and stderr, opened by whoever started the daemon (here
                // the test's log file; under systemd the journal's socket).
                let inherited =
                    (args.starts_with("1<") || args.starts_with("2<")) && Path::new(&target) == log;
                // Exception: /dev/null, a sink that stores nothing.
                if !(inherited || target == "/dev/null" || under(&target)) {
                    bad.push(format!("{}: {line}", path.display()));
                }
            }
        }
    }
    (bad, checked)
}

#[test]
fn paths_in_strace_lines() {
    assert_eq!(
        paths_of(r#"AT_FDCWD</tmp/a>, "/tmp/r/x.yaml", O_WRONLY|O_CREAT"#).pop(),
        Some("/tmp/r/x.yaml".to_owned())
    );
    assert_eq!(
        paths_of(r#"7</tmp/r>, "x", O_RDWR"#).pop(),
        Some("/tmp/r/x".to_owned())
    );
    assert_eq!(
        paths_of(r#"AT_FDCWD, "/tmp/r/.x.tmp", AT_FDCWD, "/etc/x", 0"#),
        vec!["/tmp/r/.x.tmp", "/etc/x"]
    );
    assert!(opens_for_writing(
        "AT_FDCWD, \"/a\", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0666"
    ));
    assert!(!opens_for_writing("AT_FDCWD, \"/a\", O_RDONLY|O_CLOEXEC"));
}

#[test]
fn daemon_writes_only_into_its_directories() {
    if !crate::util::netns::available(&["ip", "tcpreplay", "strace", "faketime"]) {
        return;
    }
    let dir = tmpdir("strace");
    let rssac = dir.join("rssac002");
    let traces = dir.join("trace");
    std::fs::create_dir_all(&traces).expect("trace dir");
    let cfg = config(&dir, &rssac);
    let log = dir.join("dnsobs.log");
    let calls = format!("trace={}", [PATH_CALLS, FD_CALLS].concat().join(","));
    let (clock, env) = faketime_env(&dir);
    let prefix = traces.join("t");
    let mut ns = Netns::new("strace");
    // -ff: one file per thread, so no call is split across lines by another thread's.
    let mut args = vec![
        "strace",
        "-ff",
        "-qq",
        "-y",
        "-s",
        "4096",
        "-o",
        prefix.to_str().expect("utf-8"),
        "-e",
        &calls,
    ];
    for e in &env {
        args.extend(["-E", e.as_str()]);
    }
    args.extend([BIN, "run", "--config", cfg.to_str().expect("utf-8")]);
    let strace = ns.spawn(&args, &log);
    let pid = tracee(strace);
    wait_healthy(&ns, PORT, Duration::from_secs(30));
    ns.replay(&pcaps().join("lt-ethernet.pcap"), 3000);
    let want = oracle("lt-ethernet.pcap")["queries"]
        .as_f64()
        .expect("queries");
    assert_eq!(settled_queries(&ns, PORT), want);
    // A reload (reads the config again) and every page of the endpoint.
    signal(pid, libc::SIGHUP);
    for p in ["/", "/healthz", "/metrics", "/nope"] {
        let _ = ns.get(PORT, p);
    }
    end_today(&clock);
    wait_for("the day's four files", Duration::from_secs(15), || {
        scrape_value(&ns, PORT, "dnsobs_rssac002_files_written_total") == 4.0
    });
    assert_eq!(
        scrape_value(&ns, PORT, "dnsobs_rssac002_write_errors_total"),
        0.0
    );
    signal(pid, libc::SIGTERM);
    let st = ns
        .wait(strace, Duration::from_secs(20))
        .expect("daemon and strace exit");
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(st.success(), "exit status {st:?}: {text}");
    assert_eq!(
        names(&rssac),
        day_files(&rssac),
        "exactly the day's documents"
    );
    let (bad, checked) = violations(&traces, &[&rssac], &log);
    assert!(
        bad.is_empty(),
        "writes outside {}:\n{}",
        rssac.display(),
        bad.join("\n")
    );
    eprintln!(
        "strace: {checked} writes checked, all under {}",
        rssac.display()
    );
    // The files written (four temporary files created, written, renamed), the start-up probe,
    // and the log lines: the trace did see the writes it vouches for.
    assert!(checked >= 4 * 3 + 3, "only {checked} writes checked");
    let renames: usize = std::fs::read_dir(&traces)
        .expect("traces")
        .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("trace"))
        .map(|t| t.lines().filter(|l| l.starts_with("rename")).count())
        .sum();
    assert_eq!(renames, 4, "one rename per document");
    drop(ns);
    let _ = std::fs::remove_dir_all(&dir);
}

//------------ A full RSSAC002 directory -------------------------------------------

/// A tmpfs of `size` mounted on `dir`, unmounted (lazily, so a failed test cannot leave it
/// busy) when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).expect("mount point");
        let c = |s: &str| CString::new(s).expect("no NUL");
        let target = c(dir.to_str().expect("utf-8"));
        let opts = c(&format!("size={size},mode=0755"));
        // SAFETY: valid C strings for the duration of the call.
        let rc = unsafe {
            libc::mount(
                c("tmpfs").as_ptr(),
                target.as_ptr(),
                c("tmpfs").as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                opts.as_ptr().cast(),
            )
        };
        assert_eq!(rc, 0, "mount tmpfs: {}", std::io::Error::last_os_error());
        Self(dir.to_owned())
    }

    /// Fills it up: one file written until the file system refuses more bytes.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let p = self.0.join("filler");
        let mut f = std::fs::File::create(&p).expect("filler");
        let chunk = [0x5au8; 512];
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("filling: {e}"),
            }
        }
        // The last partial page is taken too: a 1-byte file cannot be written any more.
        let probe = std::fs::write(self.0.join("probe"), b"x");
        assert_eq!(
            probe.map_err(|e| e.raw_os_error()),
            Err(Some(libc::ENOSPC)),
            "the tmpfs is full"
        );
        let _ = std::fs::remove_file(self.0.join("probe"));
        p
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        if let Ok(t) = CString::new(self.0.to_string_lossy().as_bytes()) {
            // SAFETY: a valid C string; MNT_DETACH unmounts even if something still uses it.
            unsafe {
                libc::umount2(t.as_ptr(), libc::MNT_DETACH);
            }
        }
    }
}

#[test]
fn full_rssac002_directory_is_counted_not_fatal() {
    if !crate::util::netns::available(&["ip", "tcpreplay", "faketime"]) {
        return;
    }
    let dir = tmpdir("enospc");
    let full = dir.join("full");
    let fs = Tmpfs::mount(&full, "64k");
    let filler = fs.fill();
    let before = names(&full);
    assert_eq!(before, BTreeSet::from(["filler".to_owned()]));

    // The replay subcommand: a non-zero exit, the file and the error named, nothing left.
    let out = Command::new(BIN)
        .args(["rssac002", "--quiet", "--service", SERVICE, "--out"])
        .arg(&full)
        .arg(pcaps().join("lt-ethernet.pcap"))
        .output()
        .expect("dnsobs rssac002");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("writing RSSAC002 files into {}", full.display()))
            && err.contains(&format!("{}/{SERVICE}-", full.display()))
            && err.contains("No space left on device"),
        "{err}"
    );
    assert_eq!(names(&full), before, "no temporary or partial file left");

    // The daemon: the start-up probe and the day's write fail, are counted and logged.
    let cfg = config(&dir, &full);
    let log = dir.join("dnsobs.log");
    let mut ns = Netns::new("enospc");
    let (clock, env) = faketime_env(&dir);
    let mut args = vec!["env"];
    args.extend(env.iter().map(String::as_str));
    args.extend([BIN, "run", "--config", cfg.to_str().expect("utf-8")]);
    let pid = ns.spawn(&args, &log);
    wait_healthy(&ns, PORT, Duration::from_secs(15));
    assert_eq!(
        scrape_value(&ns, PORT, "dnsobs_rssac002_write_errors_total"),
        1.0
    );
    ns.replay(&pcaps().join("lt-ethernet.pcap"), 3000);
    let o = oracle("lt-ethernet.pcap");
    assert_eq!(
        settled_queries(&ns, PORT),
        o["queries"].as_f64().expect("queries")
    );
    end_today(&clock);
    wait_for("the failed write", Duration::from_secs(10), || {
        scrape_value(&ns, PORT, "dnsobs_rssac002_write_errors_total") == 2.0
    });
    let s = samples(&scrape(&ns, PORT));
    assert_eq!(value(&s, "dnsobs_rssac002_files_written_total"), 0.0);
    assert_eq!(value(&s, "dnsobs_rssac002_pending_periods"), 1.0);
    assert_eq!(
        sum(&s, "dnsobs_responses_total{"),
        o["responses"].as_f64().expect("responses")
    );
    assert_eq!(names(&full), before, "no temporary or partial file left");
    let text = std::fs::read_to_string(&log).expect("log");
    let line = text
        .lines()
        .find(|l| l.contains("rssac002: cannot write into"))
        .unwrap_or_else(|| panic!("no error line: {text}"));
    assert!(
        line.contains(&format!("{}/{SERVICE}-", full.display()))
            && line.contains("-traffic-volume.yaml")
            && line.contains("No space left on device")
            && line.contains("will retry"),
        "{line}"
    );
    assert!(
        text.contains(&format!(
            "rssac002: directory {} is not writable: No space left on device",
            full.display()
        )),
        "{text}"
    );

    // Space again: stopping writes the day kept in memory, whole.
    std::fs::remove_file(&filler).expect("free the space");
    signal(pid, libc::SIGTERM);
    let st = ns.wait(pid, Duration::from_secs(10)).expect("exits");
    assert!(st.success(), "exit status {st:?}");
    assert_eq!(names(&full), day_files(&full));
    let volume = names(&full)
        .into_iter()
        .find(|f| f.ends_with("traffic-volume.yaml"))
        .expect("traffic-volume");
    let yaml = std::fs::read_to_string(full.join(volume)).expect("yaml");
    let n = |k: &str| -> u64 {
        yaml.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}: ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{k} in {yaml}"))
    };
    let q = |t: &str, v: &str| n(&format!("dns-{t}-queries-received-{v}"));
    let by = |m: &str, k: &str| o[m][k].as_u64().expect("oracle figure");
    assert_eq!(
        q("udp", "ipv4") + q("udp", "ipv6"),
        by("queries_by_transport", "udp")
    );
    assert_eq!(
        q("tcp", "ipv4") + q("tcp", "ipv6"),
        by("queries_by_transport", "tcp")
    );
    assert_eq!(
        q("udp", "ipv4") + q("tcp", "ipv4"),
        by("queries_by_ip_version", "4")
    );
    assert_eq!(
        q("udp", "ipv6") + q("tcp", "ipv6"),
        by("queries_by_ip_version", "6")
    );
    drop(ns);
    drop(fs);
    let _ = std::fs::remove_dir_all(&dir);
}
