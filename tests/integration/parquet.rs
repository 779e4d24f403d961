//! Parquet export read back by DuckDB and Spark (issue 9 item 4).
//!
//! Two fixtures are replayed into one table root as two nodes (root-mix-v4v6.pcap: one day,
//! UDP and TCP, IPv4 and IPv6; tcp-pipelined.pcap: two UTC dates six days apart), with the
//! per-query table beside it. One Python process reads both roots with DuckDB
//! (`read_parquet(..., hive_partitioning = true)`) and with Spark in local mode
//! (`spark.read.parquet(ROOT)`), and prints sums and column types as JSON. The sums must equal
//! the oracle files' (tshark) and the JSON report's; the types must be those Spark reads (no
//! unsigned 64-bit, microsecond timestamps).
//!
//! Python: `DNSOBS_PYTHON`, else `/opt/dnsobs-venv/bin/python3`, which
//! `scripts/install-deps.sh` creates with pinned duckdb and pyspark. Without them the test is
//! skipped with a message, unless CI=1 (or CI=true), where that is a failure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::daemon::{Config, PORT, samples, settled_packets, start_in, value};
use crate::util::netns::{Netns, signal};
use crate::util::{BIN, cannot_run, oracle, pcaps};

const VENV_PYTHON: &str = "/opt/dnsobs-venv/bin/python3";

pub fn python() -> Option<String> {
    let py = std::env::var("DNSOBS_PYTHON").unwrap_or_else(|_| VENV_PYTHON.to_owned());
    let ok = Command::new(&py)
        .args(["-c", "import duckdb, pyspark"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(py);
    }
    cannot_run(
        &format!("{py} cannot import duckdb and pyspark (run scripts/install-deps.sh)"),
        &format!("{py} cannot import duckdb and pyspark: skipping the Parquet read-back"),
    );
    None
}

/// A fresh scratch directory for one test (removed by the test when it passes).
fn scratch(name: &str) -> PathBuf {
    crate::util::scratch::tmp(&format!("dnsobs-parquet-{name}"))
}

/// Replays `fixture` with Parquet output for `node`; returns the JSON report.
fn replay(fixture: &str, root: &Path, node: &str, extra: &[&str]) -> Value {
    let o = Command::new(BIN)
        .args([
            "replay",
            "--format",
            "json",
            "--threads",
            "2",
            "--node",
            node,
        ])
        .arg("--parquet")
        .arg(root.join("intervals"))
        .arg("--parquet-queries")
        .arg(root.join("queries"))
        .args(extra)
        .arg(pcaps().join(fixture))
        .output()
        .expect("dnsobs runs");
    assert!(
        o.status.success(),
        "replay {fixture}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("JSON report")
}

/// Reads both tables with DuckDB and Spark; prints one JSON object.
const READER: &str = r#"
import json, sys, time
import duckdb
root = sys.argv[1]
iv, qs = root + "/intervals", root + "/queries"
out = {}
con = duckdb.connect()
def rows(sql):
    cur = con.execute(sql)
    return [list(r) for r in cur.fetchall()]
src = f"read_parquet('{iv}/**/*.parquet', hive_partitioning = true)"
qsrc = f"read_parquet('{qs}/**/*.parquet', hive_partitioning = true)"
out["duckdb_sums"] = rows(f"""select node, transport, ip_version, sum(queries)::bigint,
    sum(responses)::bigint, sum(queries_do)::bigint, sum(queries_edns)::bigint
    from {src} group by all order by all""")
out["duckdb_dates"] = rows(f"""select node, strftime(date, '%Y-%m-%d'), count(*),
    count(*) filter (where cast(timezone('UTC', interval_start) as date) <> date)
    from {src} group by all order by all""")
out["duckdb_types"] = rows(f"select column_name, column_type from (describe select * from {src})")
out["parquet_schema"] = rows(f"""select distinct name, type, converted_type, logical_type
    from parquet_schema('{iv}/**/*.parquet') where type is not null order by name""")
out["duckdb_queries"] = rows(f"""select node, transport, ip_version, count(*), count(*) filter (where "do"),
    count(*) filter (where not (source_prefix like '%.0/24' or source_prefix like '%::/48'))
    from {qsrc} group by all order by all""")
t = time.time()
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
spark = (SparkSession.builder.master("local[1]").appName("dnsobs-parquet-test")
    .config("spark.driver.memory", "512m").config("spark.ui.enabled", "false")
    .config("spark.sql.session.timeZone", "UTC").config("spark.driver.host", "127.0.0.1")
    .config("spark.driver.bindAddress", "127.0.0.1").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
df = spark.read.parquet(iv)
out["spark_types"] = [[f.name, f.dataType.simpleString()] for f in df.schema.fields]
agg = (df.groupBy("node", "transport", "ip_version")
    .agg(F.sum("queries"), F.sum("responses"), F.sum("queries_do"), F.sum("queries_edns"))
    .orderBy("node", "transport", "ip_version").collect())
out["spark_sums"] = [list(r) for r in agg]
out["spark_dates"] = sorted({(r[0], str(r[1])) for r in df.select("node", "date").distinct().collect()})
q = spark.read.parquet(qs)
out["spark_queries"] = [list(r) for r in q.groupBy("node").agg(F.count("*"),
    F.sum(F.col("do").cast("int"))).orderBy("node").collect()]
out["spark_query_types"] = [[f.name, f.dataType.simpleString()] for f in q.schema.fields]
spark.stop()
out["spark_seconds"] = time.time() - t
print(json.dumps(out))
"#;

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// `{(node, transport, ip version): [queries, responses, do, edns]}` of the readers' rows.
fn sums(rows: &Value) -> BTreeMap<(String, String, u64), [u64; 4]> {
    rows.as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            let key = (
                r[0].as_str().expect("node").to_owned(),
                r[1].as_str().expect("transport").to_owned(),
                u(&r[2]),
            );
            (key, [u(&r[3]), u(&r[4]), u(&r[5]), u(&r[6])])
        })
        .collect()
}

fn types(rows: &Value) -> BTreeMap<String, String> {
    rows.as_array()
        .expect("types")
        .iter()
        .map(|r| {
            (
                r[0].as_str().expect("name").to_owned(),
                r[1].as_str().expect("type").to_owned(),
            )
        })
        .collect()
}

/// Sum of `f` over a node's rows matching `pred`.
fn total(
    s: &BTreeMap<(String, String, u64), [u64; 4]>,
    node: &str,
    pred: impl Fn(&str, u64) -> bool,
    f: usize,
) -> u64 {
    s.iter()
        .filter(|((n, t, v), _)| n == node && pred(t, *v))
        .map(|(_, x)| x[f])
        .sum()
}

#[test]
fn parquet_read_back_by_duckdb_and_spark_equals_oracle_and_report() {
    let Some(py) = python() else { return };
    let root = scratch("readback");
    let fixtures = [
        ("root-mix-v4v6.pcap", "rootmix"),
        ("tcp-pipelined.pcap", "pipelined"),
    ];
    let reports: Vec<Value> = fixtures
        .iter()
        .map(|(f, n)| replay(f, &root, n, &[]))
        .collect();
    let start = std::time::Instant::now();
    let o = Command::new(&py)
        .arg("-c")
        .arg(READER)
        .arg(&root)
        .env("SPARK_LOCAL_IP", "127.0.0.1")
        .output()
        .expect("python runs");
    assert!(
        o.status.success(),
        "reader failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out: Value = serde_json::from_slice(&o.stdout).expect("reader prints JSON");
    eprintln!(
        "read back in {:.1} s (Spark {:.1} s)",
        start.elapsed().as_secs_f64(),
        out["spark_seconds"].as_f64().unwrap_or(0.0)
    );

    let duck = sums(&out["duckdb_sums"]);
    let spark = sums(&out["spark_sums"]);
    assert_eq!(duck, spark, "DuckDB and Spark disagree");

    for ((fixture, node), report) in fixtures.iter().zip(&reports) {
        let want = oracle(fixture);
        let udp = |t: &str, _| t == "udp";
        let tcp = |t: &str, _| t == "tcp";
        let v4 = |_: &str, v| v == 4;
        let v6 = |_: &str, v| v == 6;
        let all = |_: &str, _| true;
        // Against tshark's counts (the oracle) ...
        assert_eq!(total(&duck, node, all, 0), u(&want["queries"]), "{fixture}");
        assert_eq!(
            total(&duck, node, all, 1),
            u(&want["responses"]),
            "{fixture}"
        );
        assert_eq!(
            total(&duck, node, all, 2),
            u(&want["queries_do"]),
            "{fixture}"
        );
        assert_eq!(
            total(&duck, node, all, 3),
            u(&want["queries_edns"]),
            "{fixture}"
        );
        let qt = &want["queries_by_transport"];
        assert_eq!(total(&duck, node, udp, 0), u(&qt["udp"]), "{fixture}");
        assert_eq!(total(&duck, node, tcp, 0), u(&qt["tcp"]), "{fixture}");
        let qv = &want["queries_by_ip_version"];
        assert_eq!(total(&duck, node, v4, 0), u(&qv["4"]), "{fixture}");
        assert_eq!(total(&duck, node, v6, 0), u(&qv["6"]), "{fixture}");
        // ... and the JSON report's totals of the same run.
        let rt = &report["responses_by_transport"];
        assert_eq!(total(&duck, node, udp, 1), u(&rt["udp"]), "{fixture}");
        assert_eq!(total(&duck, node, tcp, 1), u(&rt["tcp"]), "{fixture}");
        let rv = &report["responses_by_ip_version"];
        assert_eq!(total(&duck, node, v4, 1), u(&rv["4"]), "{fixture}");
        assert_eq!(total(&duck, node, v6, 1), u(&rv["6"]), "{fixture}");
        assert_eq!(total(&duck, node, all, 2), u(&report["queries_do"]));
        // The report's own time series sums to its totals, row by row.
        let ts = &report["time_series"];
        assert_eq!(ts["interval_seconds"], 60);
        assert_eq!(
            (u(&ts["evicted_intervals"]), u(&ts["late_messages"])),
            (0, 0)
        );
        let rows = ts["rows"].as_array().expect("rows");
        let sum = |k: &str| rows.iter().map(|r| u(&r[k])).sum::<u64>();
        assert_eq!(sum("queries"), u(&report["queries"]));
        assert_eq!(sum("responses"), u(&report["responses"]));
        assert_eq!(sum("queries_do"), u(&report["queries_do"]));
        assert_eq!(rows.len() as u64, {
            let dn: u64 = out["duckdb_dates"]
                .as_array()
                .expect("dates")
                .iter()
                .filter(|r| r[0] == *node)
                .map(|r| u(&r[2]))
                .sum();
            dn
        });
    }

    // Partitions: the date in the path is interval_start's UTC date; tcp-pipelined's two parts
    // are six days apart, root-mix is one day.
    for r in out["duckdb_dates"].as_array().expect("dates") {
        assert_eq!(
            u(&r[3]),
            0,
            "rows whose date partition is not their UTC date: {r}"
        );
    }
    let dates = |node: &str| -> Vec<String> {
        out["duckdb_dates"]
            .as_array()
            .expect("dates")
            .iter()
            .filter(|r| r[0] == node)
            .map(|r| r[1].as_str().expect("date").to_owned())
            .collect()
    };
    assert_eq!(dates("rootmix").len(), 1);
    assert_eq!(dates("pipelined").len(), 2);
    let spark_dates: Vec<(String, String)> = out["spark_dates"]
        .as_array()
        .expect("spark dates")
        .iter()
        .map(|r| {
            (
                r[0].as_str().expect("n").into(),
                r[1].as_str().expect("d").into(),
            )
        })
        .collect();
    let mut duck_dates: Vec<(String, String)> = ["pipelined", "rootmix"]
        .iter()
        .flat_map(|n| dates(n).into_iter().map(move |d| (n.to_string(), d)))
        .collect();
    duck_dates.sort();
    assert_eq!(spark_dates, duck_dates);

    // Types: what the files declare and what both engines see.
    let phys = out["parquet_schema"].as_array().expect("schema");
    for c in phys {
        let name = c[0].as_str().unwrap_or_default();
        let text = c.to_string();
        assert!(!text.contains("UINT"), "unsigned column: {text}");
        if name == "interval_start" {
            assert_eq!(c[1], "INT64", "{text}");
            assert!(
                text.contains("TIMESTAMP_MICROS") || text.contains("MICROS"),
                "{text}"
            );
        }
        if ["queries", "responses", "queries_do", "query_bytes"].contains(&name) {
            assert_eq!(c[1], "INT64", "{text}");
        }
    }
    let dt = types(&out["duckdb_types"]);
    assert_eq!(dt["interval_start"], "TIMESTAMP WITH TIME ZONE");
    assert_eq!(dt["queries"], "BIGINT");
    assert_eq!(dt["node"], "VARCHAR");
    assert_eq!(dt["transport"], "VARCHAR");
    assert_eq!(dt["ip_version"], "INTEGER");
    assert_eq!(dt["date"], "DATE");
    let st = types(&out["spark_types"]);
    assert_eq!(st["interval_start"], "timestamp");
    for c in [
        "queries",
        "responses",
        "queries_do",
        "queries_edns",
        "response_bytes",
    ] {
        assert_eq!(st[c], "bigint", "{c}");
    }
    assert_eq!(st["node"], "string");
    let sq = types(&out["spark_query_types"]);
    assert_eq!(sq["time"], "timestamp");
    assert_eq!(sq["source_prefix"], "string");
    assert_eq!(sq["do"], "boolean");

    // The per-query table: one row per query, DO flags, anonymised sources.
    for (fixture, node) in fixtures {
        let want = oracle(fixture);
        let q: Vec<&Value> = out["duckdb_queries"]
            .as_array()
            .expect("queries")
            .iter()
            .filter(|r| r[0] == node)
            .collect();
        let n: u64 = q.iter().map(|r| u(&r[3])).sum();
        let dos: u64 = q.iter().map(|r| u(&r[4])).sum();
        let raw: u64 = q.iter().map(|r| u(&r[5])).sum();
        assert_eq!(n, u(&want["queries"]), "{fixture}");
        assert_eq!(dos, u(&want["queries_do"]), "{fixture}");
        assert_eq!(raw, 0, "{fixture}: sources not truncated to /24 or /48");
        let tcp: u64 = q.iter().filter(|r| r[1] == "tcp").map(|r| u(&r[3])).sum();
        assert_eq!(tcp, u(&want["queries_by_transport"]["tcp"]), "{fixture}");
        let spark_row = out["spark_queries"]
            .as_array()
            .expect("spark queries")
            .iter()
            .find(|r| r[0] == node)
            .expect("node in Spark");
        assert_eq!((u(&spark_row[1]), u(&spark_row[2])), (n, dos));
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// One-second buckets (the HTML chart's resolution): every query lands in one, per transport
/// and IP version, and each bucket's start is its queries' capture second.
#[test]
fn one_second_series_sums_to_the_oracle() {
    let fixture = "root-mix-v4v6.pcap";
    let o = Command::new(BIN)
        .args(["replay", "--format", "json", "--interval", "1"])
        .arg(pcaps().join(fixture))
        .output()
        .expect("dnsobs runs");
    assert!(o.status.success());
    let report: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let want = oracle(fixture);
    let ts = &report["time_series"];
    assert_eq!(ts["interval_seconds"], 1);
    let rows = ts["rows"].as_array().expect("rows");
    let sum = |k: &str, f: &dyn Fn(&Value) -> bool| -> u64 {
        rows.iter().filter(|r| f(r)).map(|r| u(&r[k])).sum()
    };
    assert_eq!(sum("queries", &|_| true), u(&want["queries"]));
    assert_eq!(sum("responses", &|_| true), u(&want["responses"]));
    assert_eq!(sum("queries_do", &|_| true), u(&want["queries_do"]));
    assert_eq!(
        sum("queries", &|r| r["transport"] == "tcp"),
        u(&want["queries_by_transport"]["tcp"])
    );
    assert_eq!(
        sum("queries", &|r| r["ip_version"] == 6),
        u(&want["queries_by_ip_version"]["6"])
    );
    // Independent bucketing: the capture's first and last frame seconds bound the buckets.
    let first = u(&report["dnsobs"]["first_packet_ns"]) / 1_000_000_000;
    let last = u(&report["dnsobs"]["last_packet_ns"]) / 1_000_000_000;
    let starts: Vec<u64> = rows.iter().map(|r| u(&r["interval_start"])).collect();
    assert!(
        starts.windows(2).all(|w| w[0] <= w[1]),
        "rows in time order"
    );
    assert!(starts.iter().all(|s| (first..=last).contains(s)));
    assert!(starts.len() > 1);
}

#[test]
fn bad_interval_and_node_are_refused() {
    let dir = scratch("refused");
    for args in [
        vec!["--interval", "7"],
        vec!["--interval", "0"],
        vec!["--parquet", dir.to_str().unwrap_or("."), "--node", "a/b"],
    ] {
        let o = Command::new(BIN)
            .arg("replay")
            .args(&args)
            .arg(pcaps().join("lt-ethernet.pcap"))
            .output()
            .expect("dnsobs runs");
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(std::fs::read_dir(&dir).expect("dir").next().is_none());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The daemon's `[export.parquet]` end to end: root-mix replayed with tcpreplay onto a veth
/// pair, SIGTERM (the last intervals and the open per-query file are written on the way out),
/// then both tables read back with DuckDB and compared with the oracle.
#[test]
fn daemon_writes_parquet_equal_to_the_oracle() {
    if !crate::util::netns::available(&["ip", "tcpreplay"]) {
        return;
    }
    let Some(py) = python() else { return };
    let fixture = "root-mix-v4v6.pcap";
    let dir = scratch("daemon");
    let parquet = format!(
        "[export.parquet]\ndirectory = \"{0}/intervals\"\n\
         queries_directory = \"{0}/queries\"\nnode = \"live\"\ninterval_seconds = 1\n\
         write_interval_seconds = 10\ngrace_seconds = 1\n",
        dir.display()
    );
    let mut ns = Netns::new("pq");
    let log = dir.join("dnsobs.log");
    let pid = start_in(&mut ns, &dir, &Config::cap0(2, PORT).sections(&parquet));
    ns.replay(&pcaps().join(fixture), 5000);
    // Every worker flushes within 0.2 s; wait (30 s at most) for the packet count to settle.
    let body = settled_packets(&ns, PORT, 60).unwrap_or_else(|last| last);
    let s = samples(&body);
    assert_eq!(value(&s, "dnsobs_parquet_query_rows_dropped_total"), 0.0);
    signal(pid, libc::SIGTERM);
    let st = ns
        .wait(pid, std::time::Duration::from_secs(15))
        .expect("daemon exits after SIGTERM");
    assert!(
        st.success(),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    let script = r#"
import duckdb, json, sys
root = sys.argv[1]
c = duckdb.connect()
iv = f"read_parquet('{root}/intervals/**/*.parquet', hive_partitioning = true)"
q = f"read_parquet('{root}/queries/**/*.parquet', hive_partitioning = true)"
print(json.dumps({
  "iv": c.execute(f"""select transport, ip_version, sum(queries)::bigint, sum(responses)::bigint,
      sum(queries_do)::bigint, count(distinct node), min(interval_seconds), max(interval_seconds)
      from {iv} group by all order by all""").fetchall(),
  "q": c.execute(f"select count(*), count(*) filter (where \"do\"), count(distinct node) from {q}").fetchall(),
}))
"#;
    let o = Command::new(&py)
        .arg("-c")
        .arg(script)
        .arg(&dir)
        .output()
        .expect("python runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let want = oracle(fixture);
    let rows = out["iv"].as_array().expect("rows");
    let sum = |i: usize, f: &dyn Fn(&Value) -> bool| -> u64 {
        rows.iter().filter(|r| f(r)).map(|r| u(&r[i])).sum()
    };
    assert_eq!(sum(2, &|_| true), u(&want["queries"]));
    assert_eq!(sum(3, &|_| true), u(&want["responses"]));
    assert_eq!(sum(4, &|_| true), u(&want["queries_do"]));
    assert_eq!(
        sum(2, &|r| r[0] == "tcp"),
        u(&want["queries_by_transport"]["tcp"])
    );
    assert_eq!(
        sum(2, &|r| r[1] == 6),
        u(&want["queries_by_ip_version"]["6"])
    );
    for r in rows {
        assert_eq!((u(&r[5]), u(&r[6]), u(&r[7])), (1, 1, 1), "{r}");
    }
    let q = &out["q"][0];
    assert_eq!(u(&q[0]), u(&want["queries"]));
    assert_eq!(u(&q[1]), u(&want["queries_do"]));
    assert_eq!(u(&q[2]), 1);
    drop(ns);
    let _ = std::fs::remove_dir_all(&dir);
}
