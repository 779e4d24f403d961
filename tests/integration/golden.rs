//! Golden outputs of `pcaps/root-mix-v4v6.pcap`, beside its oracle, compared byte for byte: the
//! Prometheus text (`/metrics` as `replay --format prometheus` prints it), the JSON report, the
//! table and the HTML report, as node_exporter keeps its `/metrics` fixture. Only what measures
//! the run itself (elapsed time, packets/s, thread count, the fixture's absolute path) is
//! normalised. `DNSOBS_UPDATE_GOLDEN=1 cargo test --release --test integration golden` rewrites
//! the files after an intended change; the diff then shows what changed.

use std::path::PathBuf;
use std::process::Command;

const FIXTURE: &str = "root-mix-v4v6.pcap";

fn golden_path(ext: &str) -> PathBuf {
    crate::util::pcaps().join(format!("root-mix-v4v6.golden.{ext}"))
}

/// `dnsobs replay -q -t THREADS -f FORMAT` on the fixture, run from the project directory.
/// One thread: the sketches (top-k evictions and errors) depend on how traffic is split
/// between workers; the exact figures do not (the oracle tests check that).
fn replay(format: &str, threads: usize) -> String {
    let out = Command::new(crate::util::BIN)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        // Hash-seeded sketches (HyperLogLog) are then the same in every run.
        .env("DNSOBS_HASH_SEED", "20261207")
        .args(["replay", "-q", "-t", &threads.to_string(), "-f", format])
        .arg(format!("pcaps/{FIXTURE}"))
        .output()
        .expect("dnsobs runs");
    assert!(out.status.success(), "replay -f {format} failed: {out:?}");
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Replaces the run-dependent parts of a report by fixed text.
fn normalise(format: &str, text: &str) -> String {
    match format {
        "json" => {
            let mut v: serde_json::Value = serde_json::from_str(text).expect("JSON report");
            let d = &mut v["dnsobs"];
            d["elapsed_seconds"] = 0.into();
            d["packets_per_second"] = 0.into();
            d["threads"] = 0.into();
            let mut s = serde_json::to_string_pretty(&v).expect("re-encode");
            s.push('\n');
            s
        }
        _ => text
            .lines()
            .map(|l| {
                if let Some(i) = l.find(" frames in ") {
                    // "read N frames in S s (P packets/s, T threads)"
                    format!("{} frames in (elapsed)", &l[..i])
                } else {
                    l.to_owned()
                }
            })
            .map(|l| elapsed_html(&l))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// The HTML report's provenance cells that hold the run time and rate.
fn elapsed_html(line: &str) -> String {
    let mut l = line.to_owned();
    for key in [
        "<th>worker threads</th><td>",
        "<th>replay wall-clock time (s)</th><td>",
        "<th>replay packets/s</th><td>",
    ] {
        if let Some(i) = l.find(key) {
            let start = i + key.len();
            if let Some(end) = l[start..].find("</td>") {
                l.replace_range(start..start + end, "(run)");
            }
        }
    }
    l
}

fn check(format: &str, ext: &str) {
    let path = golden_path(ext);
    let got = normalise(format, &replay(format, 1));
    if std::env::var_os("DNSOBS_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).expect("write golden file");
    }
    let want = std::fs::read_to_string(&path).expect("golden file exists");
    if got != want {
        let first = got
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(got.lines().count().min(want.lines().count()));
        panic!(
            "{} differs from {} at line {}:\n  got:  {:?}\n  want: {:?}",
            format,
            path.display(),
            first + 1,
            got.lines().nth(first),
            want.lines().nth(first)
        );
    }
}

#[test]
fn metrics_text_is_golden() {
    check("prometheus", "metrics");
}

#[test]
fn json_report_is_golden() {
    check("json", "json");
}

#[test]
fn table_report_is_golden() {
    check("table", "txt");
}

#[test]
fn html_report_is_golden() {
    check("html", "html");
}
