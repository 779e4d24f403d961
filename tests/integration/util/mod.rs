//! Scaffolding shared by the test modules: fixtures and their oracles, scratch directories, the
//! seeded generator, promtool, test hosts in network namespaces and the daemon run on them,
//! TLS (a test PKI and an HTTPS client), and Parquet read back with DuckDB.

pub mod anycast;
pub mod codecs;
pub mod daemon;
pub mod duckdb;
pub mod fixtures;
pub mod netns;
pub mod promtool;
pub mod rng;
pub mod scratch;
pub mod tls;

use std::time::{Duration, Instant};

pub use fixtures::{decode_sharded, mismatches, norm, oracle, pcaps, report};
pub use scratch::Scratch;

/// The dnsobs binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_dnsobs");

/// A test that cannot run here for want of something: under CI (`CI=1` or `CI=true`) that is a
/// failure, "CI=… but `missing`"; elsewhere a skip, with `skipping` on stderr.
pub fn cannot_run(missing: &str, skipping: &str) {
    let ci = std::env::var("CI").unwrap_or_default();
    assert!(ci != "1" && ci != "true", "CI={ci} but {missing}");
    eprintln!("{skipping}");
}

/// Polls `ok` every 0.1 s until it holds; panics with `what` after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, ok: impl FnMut() -> bool) {
    wait_for_every(what, timeout, Duration::from_millis(100), ok);
}

/// Polls `ok` every `every` until it holds; panics with `what` after `timeout`.
pub fn wait_for_every(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut ok: impl FnMut() -> bool,
) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if ok() {
            return;
        }
        std::thread::sleep(every);
    }
    panic!("timed out waiting for {what}");
}
