//! The standard `process_*` figures, read from /proc/self (Linux) at scrape time.

use std::fmt;

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;

use super::encode::gauges;
use super::families as f;

/// What /proc says about this process; zeros where it cannot be read.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessStats {
    /// User + system CPU seconds.
    pub cpu_seconds: f64,
    /// Resident set size in bytes.
    pub rss_bytes: f64,
    /// Virtual memory size in bytes.
    pub vsize_bytes: f64,
    /// Open file descriptors.
    pub open_fds: f64,
    /// Limit on open file descriptors.
    pub max_fds: f64,
}

/// Reads the current figures.
pub fn read() -> ProcessStats {
    let mut p = ProcessStats::default();
    // SAFETY: sysconf has no preconditions.
    let (tick, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the command name (which may hold spaces) start at field 3.
        if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
            let f: Vec<&str> = rest.split_whitespace().collect();
            let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            // rest[0] is field 3 (state): utime is field 14, stime 15, vsize 23, rss 24.
            p.cpu_seconds = (num(11) + num(12)) / tick.max(1) as f64;
            p.vsize_bytes = num(20);
            p.rss_bytes = num(21) * page.max(1) as f64;
        }
    }
    p.open_fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count()) as f64;
    if let Ok(limits) = std::fs::read_to_string("/proc/self/limits") {
        p.max_fds = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
    }
    p
}

/// Writes the standard `process_*` families (read from /proc at scrape time; `start_time` is the
/// daemon's).
pub fn encode(start_time: f64, enc: &mut DescriptorEncoder<'_>) -> fmt::Result {
    let p = read();
    let m = enc.encode_descriptor(
        f::PROCESS_CPU_SECONDS.name,
        f::PROCESS_CPU_SECONDS.help,
        None,
        MetricType::Counter,
    )?;
    ConstCounter::new(p.cpu_seconds).encode(m)?;
    for (family, v) in [
        (&f::PROCESS_RESIDENT_MEMORY_BYTES, p.rss_bytes),
        (&f::PROCESS_VIRTUAL_MEMORY_BYTES, p.vsize_bytes),
        (&f::PROCESS_OPEN_FDS, p.open_fds),
        (&f::PROCESS_MAX_FDS, p.max_fds),
        (&f::PROCESS_START_TIME_SECONDS, start_time),
    ] {
        gauges(enc, family, [(vec![], v)])?;
    }
    Ok(())
}

#[cfg(test)]
mod test {
    #[test]
    fn reads_own_process() {
        let p = super::read();
        assert!(p.rss_bytes > 0.0 && p.open_fds >= 3.0 && p.max_fds >= p.open_fds);
    }
}
