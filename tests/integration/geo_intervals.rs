//! The geography per interval: the Parquet table `intervals_geo` (beside the interval table,
//! under `DIR_geo`) read back with DuckDB equals, per interval × country and region, the count
//! of `geo_expected.py` bucketed by frame time (tshark + MaxMind's Python reader: no dnsobs code
//! in between); its intervals add up to the report's cumulative countries; the same with one
//! and two threads; past `--max-intervals` the oldest intervals are dropped and counted.
//! (Batch sizes: `batches.rs`; across a fleet: `fleet.rs`.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::fleet::run;
use crate::util::{Scratch, duckdb, pcaps};

/// The counters of a row, in the table's column order.
pub(crate) const COUNTERS: [&str; 6] = [
    "queries",
    "queries_do",
    "queries_edns",
    "queries_tcp",
    "queries_ipv6",
    "responses_nxdomain",
];

/// `(interval start in seconds, scope, key)` → the counters.
pub(crate) type Table = BTreeMap<(i64, String, String), [u64; 6]>;

/// The LACNIC region of these tests.
const LACNIC: [&str; 4] = ["AR", "BR", "CL", "MX"];

/// The interval geography's root beside the interval table's root `dir`.
pub(crate) fn geo_root(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().expect("named").to_os_string();
    name.push("_geo");
    dir.with_file_name(name)
}

/// Every row under the table root `root`, summed over nodes by DuckDB.
pub(crate) fn read(py: &str, root: &Path) -> Table {
    let counters: Vec<String> = COUNTERS
        .iter()
        .map(|c| format!("sum({c})::BIGINT"))
        .collect();
    let sql = format!(
        "select epoch(interval_start)::BIGINT, scope, key, {} from read_parquet('{}/*/*/*.parquet', \
         hive_partitioning = true) group by all",
        counters.join(", "),
        root.display()
    );
    duckdb::rows(py, &sql)
        .into_iter()
        .map(|r| {
            let n = |i: usize| r[i].as_u64().expect("count");
            let s = |i: usize| r[i].as_str().expect("text").to_owned();
            let key = (r[0].as_i64().expect("start"), s(1), s(2));
            (key, [n(3), n(4), n(5), n(6), n(7), n(8)])
        })
        .collect()
}

/// The expected table of `geo_expected.py`'s `intervals`, with the region's rows.
fn expected(want: &Value) -> Table {
    let mut t = Table::new();
    for (start, countries) in want["intervals"].as_object().expect("intervals") {
        let start: i64 = start.parse().expect("start");
        let mut region = [0u64; 6];
        for (cc, c) in countries.as_object().expect("countries") {
            let v = COUNTERS.map(|k| c[k].as_u64().expect("count"));
            if LACNIC.contains(&cc.as_str()) {
                for (r, x) in region.iter_mut().zip(v) {
                    *r += x;
                }
            }
            t.insert((start, "country".into(), cc.clone()), v);
        }
        if region != [0; 6] {
            t.insert((start, "region".into(), "LACNIC".into()), region);
        }
    }
    t
}

/// The report's cumulative countries (the counters of the table).
fn cumulative(report: &Value) -> BTreeMap<String, [u64; 6]> {
    report["geo"]["countries"]
        .as_object()
        .expect("countries")
        .iter()
        .map(|(cc, c)| (cc.clone(), COUNTERS.map(|k| c[k].as_u64().expect("count"))))
        .collect()
}

/// What both tests start from: the Python interpreter, the scratch directory with the test
/// databases, root-mix's path, the databases' paths, and the independent expectation per
/// one-second interval.
type Setup = (String, Scratch, String, String, String, Value);

/// [`Setup`] in the scratch directory `name` (None without the Python tools).
fn setup(name: &str) -> Option<Setup> {
    let py = crate::geo::tools()?;
    let tmp = Scratch::target(name);
    let (country, asn) = crate::geo::databases(&py, &tmp);
    let cap = pcaps().join("root-mix-v4v6.pcap");
    let cap = cap.to_str().expect("utf-8").to_owned();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/geo_expected.py");
    let out = Command::new(&py)
        .args([script.to_str().expect("utf-8"), &cap, &country, &asn, "1"])
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want: Value = serde_json::from_slice(&out.stdout).expect("expected JSON");
    Some((py, tmp, cap, country, asn, want))
}

#[test]
fn interval_geography_equals_an_independent_count() {
    let Some((py, tmp, cap, country, asn, want)) = setup("geo-intervals") else {
        return;
    };
    let table = expected(&want);
    let starts: std::collections::BTreeSet<i64> = table.keys().map(|k| k.0).collect();
    assert!(starts.len() >= 4, "{starts:?}");
    let region = format!("LACNIC={}", LACNIC.join(","));
    let geo = crate::geo::flags(&country, &asn, &[&region]);
    for threads in ["1", "2"] {
        let dir = tmp.join(format!("intervals-{threads}"));
        let head = [
            "replay",
            "-q",
            "--format",
            "json",
            "--threads",
            threads,
            "--interval",
            "1",
            "--node",
            "n1",
            "--parquet",
        ];
        let d = dir.to_str().expect("utf-8");
        let report: Value =
            serde_json::from_slice(&run(&[&head[..], &[d], &geo, &[cap.as_str()]].concat()).stdout)
                .expect("report");
        let got = read(&py, &geo_root(&dir));
        assert_eq!(
            got, table,
            "--threads {threads}: per interval × country and region"
        );
        // The intervals add up to the cumulative figures of the report.
        let mut sums: BTreeMap<String, [u64; 6]> = BTreeMap::new();
        for ((_, scope, key), v) in &got {
            if scope == "country" {
                let s = sums.entry(key.clone()).or_default();
                for (a, b) in s.iter_mut().zip(v) {
                    *a += b;
                }
            }
        }
        assert_eq!(sums, cumulative(&report), "--threads {threads}");
        assert_eq!(report["geo"]["evicted_intervals"], 0);
        // One row per interval × key and node, of the declared width, in its date's partition,
        // marked as the table; and nothing of it in the interval table beside.
        let root = geo_root(&dir);
        let layout = duckdb::rows(
            &py,
            &format!(
                "select count(*), count(distinct (interval_start, scope, key)), \
                 min(interval_seconds), max(interval_seconds), min(node), max(node), \
                 bool_and(date = (interval_start at time zone 'UTC')::DATE) \
                 from read_parquet('{}/*/*/*.parquet', hive_partitioning = true)",
                root.display()
            ),
        );
        let n = table.len() as u64;
        let want_layout: [Value; 7] = [
            n.into(),
            n.into(),
            1.into(),
            1.into(),
            "n1".into(),
            "n1".into(),
            true.into(),
        ];
        assert_eq!(layout[0], want_layout, "layout");
        let meta = duckdb::rows(
            &py,
            &format!(
                "select distinct decode(value) from parquet_kv_metadata('{}/*/*/*.parquet') \
                 where decode(key) = 'dnsobs.table'",
                root.display()
            ),
        );
        assert_eq!(meta, [[Value::from("intervals_geo")]]);
        let queries = duckdb::rows(
            &py,
            &format!(
                "select sum(queries)::BIGINT from read_parquet('{}/**/*.parquet', hive_partitioning = true)",
                dir.display()
            ),
        );
        assert_eq!(queries[0][0], report["queries"], "the interval table alone");
    }
}

/// Past `--max-intervals` the oldest intervals are dropped (counted, warned about): the table
/// holds the last ones, equal to the independent count; the report's totals keep everything.
#[test]
fn interval_geography_keeps_the_last_max_intervals() {
    let Some((py, tmp, cap, country, asn, want)) = setup("geo-intervals-max") else {
        return;
    };
    let mut table = expected(&want);
    let starts: Vec<i64> = table
        .keys()
        .map(|k| k.0)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let kept = &starts[starts.len() - 2..];
    table.retain(|k, _| kept.contains(&k.0));
    let region = format!("LACNIC={}", LACNIC.join(","));
    let geo = crate::geo::flags(&country, &asn, &[&region]);
    let dir = tmp.join("intervals");
    let d = dir.to_str().expect("utf-8");
    let head = [
        "replay",
        "--format",
        "json",
        "--threads",
        "1",
        "--interval",
        "1",
        "--max-intervals",
        "2",
        "--node",
        "n1",
        "--parquet",
        d,
    ];
    let out = run(&[&head[..], &geo, &[cap.as_str()]].concat());
    let report: Value = serde_json::from_slice(&out.stdout).expect("report");
    assert_eq!(read(&py, &geo_root(&dir)), table);
    // In capture order, each interval past the second evicts the oldest once.
    assert_eq!(
        report["geo"]["evicted_intervals"].as_u64(),
        Some(starts.len() as u64 - 2)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("interval(s) of the geography evicted"),
        "{err}"
    );
    let all: u64 = want["countries"]
        .as_object()
        .expect("countries")
        .values()
        .map(|c| c["queries"].as_u64().expect("queries"))
        .sum();
    assert_eq!(report["queries"].as_u64(), Some(all));
    assert_eq!(
        cumulative(&report),
        want["countries"]
            .as_object()
            .expect("countries")
            .iter()
            .map(|(cc, c)| (cc.clone(), COUNTERS.map(|k| c[k].as_u64().expect("count"))))
            .collect()
    );
}
