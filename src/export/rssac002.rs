//! RSSAC002v5 YAML documents: one file per metric and UTC day, named
//! `<service>-<YYYYMMDD>-<metric>.yaml` like the operators' published files, written
//! atomically (temporary file in the same directory, fsync, rename, fsync of the directory).
//!
//! Layout, as in the spec's examples and the v5 files operators publish: a `---` line, then
//! `version: rssac002v5`, `service`, `start-period` (ISO 8601, UTC midnight of the day) and
//! `metric`, then the metric's keys in the spec's order. Two details the spec leaves to the
//! writer, settled here:
//!
//! * `start-period` is single-quoted, so that YAML 1.1 parsers read a string, not a timestamp
//!   (the quoted form is what the RSSAC002-data repository's README calls the correct example,
//!   and what several v5 publishers write); the rcode keys of rcode-volume are plain integers
//!   at the top level, one per rcode seen, ascending (same example).
//! * Empty size bins are left out (every published file does so); a histogram with no message
//!   at all is written as an empty mapping `{}` so that the key is always present.
//!
//! A unique-sources count that hit the distinct-source cap is a lower bound: a YAML comment on
//! its line says so (comments leave the document's data exactly as the spec has it).

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::aggregate::rssac002::{
    DayCounts, NS_PER_DAY, REQUEST_BINS, RESPONSE_BINS, Rssac002, SOURCE_KINDS, bin_bounds, day_of,
};

/// The `version` value of every document.
pub const VERSION: &str = "rssac002v5";
/// The metrics written, in file order.
pub const METRICS: [&str; 4] = [
    "traffic-volume",
    "traffic-sizes",
    "rcode-volume",
    "unique-sources",
];

pub use crate::time::{civil, yyyymmdd};

/// `YYYY-MM-DDT00:00:00Z` of a day number.
pub fn start_period(day: u32) -> String {
    format!("{}T00:00:00Z", crate::time::date(day))
}

/// The file name of one metric of one day.
pub fn file_name(service: &str, day: u32, metric: &str) -> String {
    format!("{service}-{}-{metric}.yaml", yyyymmdd(day))
}

/// Checks that `service` is usable both as a plain YAML scalar and in a file name: letters,
/// digits, `.`, `-`, `_`, starting with a letter or digit (e.g. `a.root-servers.net`).
pub fn check_service(service: &str) -> io::Result<()> {
    let ok = service
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric())
        && service.len() <= 253
        && service
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "RSSAC002 service name {service:?}: use letters, digits, '.', '-' and '_' only"
            ),
        ))
    }
}

fn header(out: &mut String, service: &str, day: u32, metric: &str) {
    let _ = writeln!(out, "---");
    let _ = writeln!(out, "version: {VERSION}");
    let _ = writeln!(out, "service: {service}");
    let _ = writeln!(out, "start-period: '{}'", start_period(day));
    let _ = writeln!(out, "metric: {metric}");
}

/// The traffic-volume document.
pub fn traffic_volume(service: &str, c: &DayCounts) -> String {
    let mut o = String::with_capacity(512);
    header(&mut o, service, c.day(), "traffic-volume");
    // Spec key order: UDP then TCP queries, each IPv4 then IPv6; then the responses likewise.
    for (t, tl) in [(0, "udp"), (1, "tcp")] {
        for (v, vl) in [(0, "ipv4"), (1, "ipv6")] {
            let _ = writeln!(o, "dns-{tl}-queries-received-{vl}: {}", c.queries(t, v));
        }
    }
    for (t, tl) in [(0, "udp"), (1, "tcp")] {
        for (v, vl) in [(0, "ipv4"), (1, "ipv6")] {
            let _ = writeln!(o, "dns-{tl}-responses-sent-{vl}: {}", c.responses(t, v));
        }
    }
    o
}

fn histogram(out: &mut String, key: &str, bins: &[u64]) {
    if bins.iter().all(|&n| n == 0) {
        let _ = writeln!(out, "{key}: {{}}");
        return;
    }
    let _ = writeln!(out, "{key}:");
    for (i, &n) in bins.iter().enumerate().filter(|(_, n)| **n > 0) {
        let (lo, hi) = bin_bounds(i, bins.len());
        if i + 1 == bins.len() {
            let _ = writeln!(out, "  {lo}-: {n}");
        } else {
            let _ = writeln!(out, "  {lo}-{hi}: {n}");
        }
    }
}

/// The traffic-sizes document.
pub fn traffic_sizes(service: &str, c: &DayCounts) -> String {
    let mut o = String::with_capacity(4096);
    header(&mut o, service, c.day(), "traffic-sizes");
    debug_assert_eq!(c.request_sizes(0).len(), REQUEST_BINS);
    debug_assert_eq!(c.response_sizes(0).len(), RESPONSE_BINS);
    histogram(&mut o, "udp-request-sizes", c.request_sizes(0));
    histogram(&mut o, "udp-response-sizes", c.response_sizes(0));
    histogram(&mut o, "tcp-request-sizes", c.request_sizes(1));
    histogram(&mut o, "tcp-response-sizes", c.response_sizes(1));
    o
}

/// The rcode-volume document.
pub fn rcode_volume(service: &str, c: &DayCounts) -> String {
    let mut o = String::with_capacity(512);
    header(&mut o, service, c.day(), "rcode-volume");
    for (code, n) in c.rcodes() {
        let _ = writeln!(o, "{code}: {n}");
    }
    o
}

/// The unique-sources document.
pub fn unique_sources(service: &str, c: &DayCounts, cap: usize) -> String {
    let mut o = String::with_capacity(512);
    header(&mut o, service, c.day(), "unique-sources");
    let s = c.sources();
    for (k, key) in SOURCE_KINDS.iter().enumerate() {
        let _ = write!(o, "{key}: {}", s.counts[k]);
        if !s.exact[k] {
            let _ = write!(
                o,
                " # lower bound: dnsobs stopped at its cap of {cap} distinct values per day"
            );
        }
        o.push('\n');
    }
    o
}

/// The four documents of a day, as `(metric, text)` in [`METRICS`] order.
pub fn documents(service: &str, c: &DayCounts, cap: usize) -> [(&'static str, String); 4] {
    [
        (METRICS[0], traffic_volume(service, c)),
        (METRICS[1], traffic_sizes(service, c)),
        (METRICS[2], rcode_volume(service, c)),
        (METRICS[3], unique_sources(service, c, cap)),
    ]
}

/// Writes `text` to `path` atomically: a temporary file in the same directory, flushed to
/// disk, renamed over `path`, then the directory synced so the rename survives a crash.
pub fn write_atomic(path: &Path, text: &str) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
        return result;
    }
    // Persist the directory entry; not every platform can open a directory for this.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Writes the four documents of one day into `dir` (which must exist), returning their paths
/// in [`METRICS`] order. `cap` is the distinct-source cap the counts were taken with (see
/// [`Rssac002::cap`]), named in the lower-bound comment if it was reached.
pub fn write_day(dir: &Path, service: &str, c: &DayCounts, cap: usize) -> io::Result<Vec<PathBuf>> {
    check_service(service)?;
    let mut paths = Vec::with_capacity(METRICS.len());
    for (metric, text) in documents(service, c, cap) {
        let p = dir.join(file_name(service, c.day(), metric));
        write_atomic(&p, &text)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
        paths.push(p);
    }
    Ok(paths)
}

/// Writes every day counted (for `dnsobs rssac002`): four files per day, oldest day first.
pub fn write_all(dir: &Path, service: &str, r: &Rssac002) -> io::Result<Vec<PathBuf>> {
    check_service(service)?;
    let mut paths = Vec::new();
    for d in r.days() {
        paths.extend(write_day(dir, service, d, r.cap())?);
    }
    Ok(paths)
}

/// Writes days taken out with [`Rssac002::take_days_before`] (four files each, in order);
/// stops at the first error. Needs no lock on the counters, so the daemon can take the days
/// under its lock, release it, write, and [`Rssac002::restore`] them if this fails.
pub fn write_days(
    dir: &Path,
    service: &str,
    days: &[DayCounts],
    cap: usize,
) -> io::Result<Vec<PathBuf>> {
    check_service(service)?;
    let mut paths = Vec::with_capacity(days.len() * METRICS.len());
    for d in days {
        paths.extend(write_day(dir, service, d, cap)?);
    }
    Ok(paths)
}

/// Writes every day of a snapshot (see [`write_all`]).
pub fn write_snapshot(
    dir: &Path,
    service: &str,
    s: &crate::snapshot::Snapshot,
) -> io::Result<Vec<PathBuf>> {
    write_all(dir, service, &s.agg.rssac002)
}

/// The first day not yet complete at `now_ns`, allowing `grace` for the last counts of the
/// previous day to reach the merged total (the workers' flush interval, or more): days before
/// it can be written.
pub fn cutoff_day(now_ns: u64, grace: Duration) -> u32 {
    day_of(now_ns.saturating_sub(u64::try_from(grace.as_nanos()).unwrap_or(u64::MAX)))
}

/// For the daemon, in one call: writes every day that ended at least `grace` before `now_ns`
/// and takes it out of `r` (freeing its memory and sealing it: later messages of it count as
/// late, so a day is never written twice with partial figures). If a write fails, every day
/// taken is put back (retried at the next call, files rewritten atomically) and the error is
/// returned.
pub fn write_completed(
    dir: &Path,
    service: &str,
    r: &mut Rssac002,
    now_ns: u64,
    grace: Duration,
) -> io::Result<Vec<PathBuf>> {
    check_service(service)?;
    let done = r.take_days_before(cutoff_day(now_ns, grace));
    match write_days(dir, service, &done, r.cap()) {
        Ok(paths) => Ok(paths),
        Err(e) => {
            r.restore(done);
            Err(e)
        }
    }
}

/// When the next UTC midnight is, in ns since the epoch (for the daemon's timer).
pub fn next_midnight_ns(now_ns: u64) -> u64 {
    (now_ns / NS_PER_DAY + 1) * NS_PER_DAY
}

//============ Testing =======================================================

#[cfg(test)]
pub(crate) mod test {
    use super::*;
    use crate::decode::dns::{Edns, Header};
    use crate::decode::{Message, MsgCtx, Transport};

    /// 2024-02-29 (a leap day): 19782 days after 1970-01-01.
    const DAY: u32 = 19_782;

    fn feed(r: &mut Rssac002, v: u8, t: Transport, src: [u8; 16], size: u32, msg: Message) {
        let ctx = MsgCtx {
            ts_ns: u64::from(DAY) * NS_PER_DAY + 12 * 3_600_000_000_000,
            transport: t,
            sport: 53,
            size,
            ..MsgCtx::for_test(v, src)
        };
        r.observe(&ctx, &msg);
    }

    fn resp(rcode: u8, ext: u8) -> Message {
        Message {
            header: Header {
                flags: 0x8000 | u16::from(rcode),
                ..Header::default()
            },
            edns: Some(Edns {
                ext_rcode: ext,
                ..Edns::default()
            }),
            ..Message::default()
        }
    }

    /// Three queries and three responses, by hand:
    /// - UDP/IPv4 query of 40 bytes from 198.51.100.7 → udp-request 32-47.
    /// - UDP/IPv6 query of 300 bytes from 2001:db8::1 → udp-request 288-.
    /// - TCP/IPv6 query of 17 bytes from 2001:db8::2 (same /64) → tcp-request 16-31.
    /// - UDP/IPv4 response of 500 bytes, NOERROR → udp-response 496-511, rcode 0.
    /// - UDP/IPv4 response of 5000 bytes, NXDOMAIN → udp-response 4096-, rcode 3.
    /// - TCP/IPv6 response of 4095 bytes, BADVERS (ext 1, low 0) → tcp-response 4080-4095, 16.
    pub(crate) fn tiny() -> Rssac002 {
        let mut r = Rssac002::new(100);
        let mut a4 = [0u8; 16];
        a4[..4].copy_from_slice(&[198, 51, 100, 7]);
        let mut a6 = [0u8; 16];
        a6[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        a6[15] = 1;
        let mut b6 = a6;
        b6[15] = 2;
        let (u, t) = (Transport::Udp, Transport::Tcp);
        feed(&mut r, 4, u, a4, 40, Message::default());
        feed(&mut r, 6, u, a6, 300, Message::default());
        feed(&mut r, 6, t, b6, 17, Message::default());
        feed(&mut r, 4, u, [0; 16], 500, resp(0, 0));
        feed(&mut r, 4, u, [0; 16], 5000, resp(3, 0));
        feed(&mut r, 6, t, [0; 16], 4095, resp(0, 1));
        r
    }

    fn lines(s: &str) -> Vec<&str> {
        s.lines().collect()
    }

    const HEAD: [&str; 4] = [
        "---",
        "version: rssac002v5",
        "service: x.example.net",
        "start-period: '2024-02-29T00:00:00Z'",
    ];

    #[test]
    fn dates() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(DAY), (2024, 2, 29));
        assert_eq!(civil(20_089), (2025, 1, 1));
        assert_eq!(civil(11_016), (2000, 2, 29));
        assert_eq!(yyyymmdd(20_089), "20250101");
        assert_eq!(start_period(DAY), "2024-02-29T00:00:00Z");
        assert_eq!(
            file_name("a-root", 20_089, "traffic-volume"),
            "a-root-20250101-traffic-volume.yaml"
        );
        assert_eq!(
            next_midnight_ns(u64::from(DAY) * NS_PER_DAY + 5),
            u64::from(DAY + 1) * NS_PER_DAY
        );
    }

    #[test]
    fn documents_field_by_field() {
        let r = tiny();
        let d = r.day(DAY).expect("the day");
        let tv = traffic_volume("x.example.net", d);
        let mut want: Vec<&str> = HEAD.to_vec();
        want.extend([
            "metric: traffic-volume",
            "dns-udp-queries-received-ipv4: 1",
            "dns-udp-queries-received-ipv6: 1",
            "dns-tcp-queries-received-ipv4: 0",
            "dns-tcp-queries-received-ipv6: 1",
            "dns-udp-responses-sent-ipv4: 2",
            "dns-udp-responses-sent-ipv6: 0",
            "dns-tcp-responses-sent-ipv4: 0",
            "dns-tcp-responses-sent-ipv6: 1",
        ]);
        assert_eq!(lines(&tv), want);

        let ts = traffic_sizes("x.example.net", d);
        let mut want: Vec<&str> = HEAD.to_vec();
        want.extend([
            "metric: traffic-sizes",
            "udp-request-sizes:",
            "  32-47: 1",
            "  288-: 1",
            "udp-response-sizes:",
            "  496-511: 1",
            "  4096-: 1",
            "tcp-request-sizes:",
            "  16-31: 1",
            "tcp-response-sizes:",
            "  4080-4095: 1",
        ]);
        assert_eq!(lines(&ts), want);

        let rv = rcode_volume("x.example.net", d);
        let mut want: Vec<&str> = HEAD.to_vec();
        want.extend(["metric: rcode-volume", "0: 1", "3: 1", "16: 1"]);
        assert_eq!(lines(&rv), want);

        let us = unique_sources("x.example.net", d, r.cap());
        let mut want: Vec<&str> = HEAD.to_vec();
        want.extend([
            "metric: unique-sources",
            "num-sources-ipv4: 1",
            "num-sources-ipv6: 2",
            "num-sources-ipv6-aggregate: 1",
        ]);
        assert_eq!(lines(&us), want);
    }

    #[test]
    fn empty_histograms_and_lower_bounds() {
        let mut r = Rssac002::new(1);
        let mut a = [0u8; 16];
        feed(&mut r, 4, Transport::Udp, a, 20, Message::default());
        a[3] = 1;
        feed(&mut r, 4, Transport::Udp, a, 20, Message::default());
        let d = r.day(DAY).expect("the day");
        let ts = traffic_sizes("x", d);
        assert!(ts.contains("\nudp-request-sizes:\n  16-31: 2\nudp-response-sizes: {}\n"));
        assert!(ts.ends_with("tcp-request-sizes: {}\ntcp-response-sizes: {}\n"));
        let us = unique_sources("x", d, 1);
        assert!(us.contains(
            "\nnum-sources-ipv4: 1 # lower bound: dnsobs stopped at its cap of 1 distinct values per day\n"
        ));
        assert!(us.ends_with("num-sources-ipv6: 0\nnum-sources-ipv6-aggregate: 0\n"));
        let report = crate::export::report::Rssac002::new(&r);
        assert!(!report.days[0].unique_sources_exact);
    }

    fn scratch(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("dnsobs-rssac002-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).expect("scratch dir");
        p
    }

    #[test]
    fn writes_four_files_atomically() {
        let dir = scratch("unit");
        let r = tiny();
        let paths = write_all(&dir, "x.example.net", &r).expect("written");
        let names: Vec<String> = paths
            .iter()
            .map(|p| {
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(
            names,
            [
                "x.example.net-20240229-traffic-volume.yaml",
                "x.example.net-20240229-traffic-sizes.yaml",
                "x.example.net-20240229-rcode-volume.yaml",
                "x.example.net-20240229-unique-sources.yaml",
            ]
        );
        let d = r.day(DAY).expect("the day");
        for (p, (_, text)) in paths.iter().zip(documents("x.example.net", d, r.cap())) {
            assert_eq!(fs::read_to_string(p).ok(), Some(text));
        }
        // No temporary file left behind.
        assert_eq!(fs::read_dir(&dir).map(|d| d.count()).ok(), Some(4));
        assert!(write_all(&dir, "../evil", &r).is_err());
        assert!(write_all(&dir, "a b", &r).is_err());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn daemon_writes_completed_days_once() {
        let dir = scratch("daemon");
        let mut r = tiny();
        let grace = Duration::from_secs(60);
        let midnight = u64::from(DAY + 1) * NS_PER_DAY;
        // Still within the grace period: nothing is written.
        let none = write_completed(&dir, "x", &mut r, midnight + 1_000, grace).expect("ok");
        assert!(none.is_empty());
        assert_eq!(r.days().count(), 1);
        // A failing directory keeps the day for the next attempt.
        let missing = dir.join("missing");
        let later = midnight + 61_000_000_000;
        assert!(write_completed(&missing, "x", &mut r, later, grace).is_err());
        assert_eq!(r.day(DAY).map(DayCounts::total_queries), Some(3));
        let written = write_completed(&dir, "x", &mut r, later, grace).expect("written");
        assert_eq!(written.len(), 4);
        assert!(written.iter().all(|p| p.exists()));
        assert_eq!(r.days().count(), 0);
        // A straggler of the written day is late, not a second (partial) file.
        feed(&mut r, 4, Transport::Udp, [0; 16], 20, Message::default());
        assert_eq!(r.late(), 1);
        assert_eq!(r.days().count(), 0);
        let _ = fs::remove_dir_all(&dir);
    }
}
