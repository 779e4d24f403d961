//! Fleet figures: captures split as anycast instances see them, each replayed alone into day
//! state files, merged, must give what the whole capture gives — every counter of the JSON
//! report, every oracle key, the distinct sources (a union), every RSSAC002 line, the
//! HyperLogLog estimates; top-k within its error bounds. Also across UTC midnight, and the
//! refusals (another fleet key, a damaged file, an exposed key; a node's day given twice).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::util::{BIN, Scratch, anycast, mismatches, oracle, pcaps};

/// Report keys that describe the run (files, timing), not the traffic.
const RUN_KEYS: [&str; 2] = ["dnsobs", "file"];
/// Figures of a per-source table that each instance keeps alone (as each worker does: see
/// docs/fleet.md): a source split between instances is classified by each from what it sees
/// (its ports and flags for hygiene; its repeated queries for ITHI M3.2's useful share).
const PER_INSTANCE: [&str; 2] = ["resolver_hygiene", "ithi.M3.2"];

/// Runs dnsobs with `args`, which must succeed.
pub(crate) fn run(args: &[&str]) -> Output {
    let out = Command::new(BIN).args(args).output().expect("dnsobs runs");
    assert!(
        out.status.success(),
        "dnsobs {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

/// A fleet key file (owner-only) in `dir`.
fn key(dir: &Path, material: &[u8]) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(format!("key-{}", material.len()));
    std::fs::write(&p, material).expect("key");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    p
}

/// Replays `capture` as node `node`, writing its day states into `states`; the JSON report.
fn replay(capture: &Path, node: &str, states: &Path, key: &Path, threads: &str) -> Value {
    replay_with(capture, node, states, key, threads, &[])
}

/// [`replay`] with more flags.
fn replay_with(
    capture: &Path,
    node: &str,
    states: &Path,
    key: &Path,
    threads: &str,
    more: &[&str],
) -> Value {
    let args = [
        "replay",
        "-q",
        "--format",
        "json",
        "--threads",
        threads,
        "--node",
        node,
        "--state-dir",
        states.to_str().expect("utf-8"),
        "--state-key",
        key.to_str().expect("utf-8"),
        capture.to_str().expect("utf-8"),
    ];
    json(&run(&[&args[..], more].concat()))
}

/// Every leaf of a JSON value by path.
fn leaves(v: &Value, path: String, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) => m
            .iter()
            .for_each(|(k, x)| leaves(x, format!("{path}.{k}"), out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| leaves(x, format!("{path}[{i}]"), out)),
        x => {
            out.insert(path, x.clone());
        }
    }
}

/// The keys on which two reports differ, but for the run's description, the per-instance
/// figures and top-k (checked by [`top_k_within_bounds`]).
fn differences(whole: &Value, merged: &Value) -> Vec<String> {
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            for k in RUN_KEYS.iter().chain(&PER_INSTANCE).chain(&["top_k"]) {
                match k.split_once('.') {
                    Some((a, b)) => m
                        .get_mut(a)
                        .and_then(|x| x.as_object_mut())
                        .and_then(|x| x.remove(b)),
                    None => m.remove(*k),
                };
            }
        }
        v
    };
    leaves(&strip(whole), String::new(), &mut a);
    leaves(&strip(merged), String::new(), &mut b);
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("{k}: whole {:?} | merged {:?}", a.get(k), b.get(k)))
        .collect()
}

/// Every name both top-k lists report has overlapping `[count − error, count]` ranges (both
/// hold the true count), and most of the whole's names are in the merged list.
fn top_k_within_bounds(whole: &Value, merged: &Value) {
    for table in ["qnames", "tlds", "slds", "sources"] {
        let list = |v: &Value| -> BTreeMap<String, (u64, u64)> {
            v["top_k"][table]
                .as_array()
                .unwrap_or(&Vec::new())
                .iter()
                .map(|e| {
                    let name = e.get("name").or_else(|| e.get("prefix")).expect("name");
                    let (c, err) = (
                        e["count"].as_u64().expect("count"),
                        e["error"].as_u64().expect("error"),
                    );
                    (name.to_string(), (c - err, c))
                })
                .collect()
        };
        let (w, m) = (list(whole), list(merged));
        let common = w.keys().filter(|k| m.contains_key(*k)).count();
        assert!(
            2 * common >= w.len(),
            "{table}: only {common} of {} names in common",
            w.len()
        );
        for (name, (lo, hi)) in &w {
            if let Some((mlo, mhi)) = m.get(name) {
                assert!(
                    lo <= mhi && mlo <= hi,
                    "{table} {name}: whole {lo}..{hi}, merged {mlo}..{mhi}"
                );
            }
        }
    }
}

/// The RSSAC002 files of a directory, by name.
fn yaml_files(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .expect("yaml dir")
        .map(|e| {
            let p = e.expect("entry").path();
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).expect("yaml"))
        })
        .collect()
}

/// Splits `capture` into three instances, replays each alone and the whole, merges, and
/// compares. Returns `(whole, merged)` reports.
fn three_instances(capture: &Path, tmp: &Path, threads: &str) -> (Value, Value) {
    let k = key(tmp, b"fleet key for the three-instance test");
    let parts = anycast::split(capture, 3, tmp);
    let states = tmp.join("states");
    let per: Vec<Value> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| replay(p, &format!("inst{i}"), &states, &k, threads))
        .collect();
    let whole = replay(capture, "whole", &tmp.join("whole"), &k, threads);
    let merged = json(&run(&[
        "merge",
        "--format",
        "json",
        states.to_str().expect("utf-8"),
    ]));
    // Sums of the instances' counters are the whole's; their distinct sources are more.
    let sum = |key: &str| {
        per.iter()
            .map(|r| r[key].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    assert_eq!(sum("queries"), whole["queries"].as_u64().expect("queries"));
    assert_eq!(merged["queries"], whole["queries"]);
    let diff = differences(&whole, &merged);
    assert!(
        diff.is_empty(),
        "{}: merged ≠ whole:\n{}",
        capture.display(),
        diff.join("\n")
    );
    top_k_within_bounds(&whole, &merged);
    // The letter-wide RSSAC002 files equal the whole capture's, line by line.
    let (from_state, direct) = (tmp.join("yaml-state"), tmp.join("yaml-whole"));
    let s = |p: &Path| p.to_str().expect("utf-8").to_owned();
    run(&[
        "rssac002",
        "-q",
        "--service",
        "x.example",
        "--out",
        &s(&from_state),
        "--from-state",
        &s(&states),
    ]);
    run(&[
        "rssac002",
        "-q",
        "--service",
        "x.example",
        "--out",
        &s(&direct),
        &s(capture),
    ]);
    let (a, b) = (yaml_files(&from_state), yaml_files(&direct));
    assert!(!a.is_empty());
    assert_eq!(
        a,
        b,
        "{}: RSSAC002 from state ≠ from the capture",
        capture.display()
    );
    (whole, merged)
}

#[test]
fn three_instances_merge_into_the_whole() {
    for (fixture, threads) in [
        ("root-mix-v4v6.pcap", "2"),
        ("tcp-pipelined.pcap", "1"),
        ("fragments.pcap", "2"),
        ("lt-vlan.pcap", "1"),
    ] {
        let tmp = Scratch::target(&format!("fleet-{fixture}"));
        let (_, merged) = three_instances(&pcaps().join(fixture), &tmp, threads);
        let bad = mismatches(&oracle(fixture), &merged);
        assert!(
            bad.is_empty(),
            "{fixture}: merged vs oracle:\n{}",
            bad.join("\n")
        );
    }
}

#[test]
fn three_instances_across_midnight() {
    let tmp = Scratch::target("fleet-midnight");
    let two_days = anycast::across_midnight(
        &pcaps().join("root-mix-v4v6.pcap"),
        &tmp.join("two-days.pcap"),
    );
    let (whole, merged) = three_instances(&two_days, &tmp, "2");
    let days = merged["rssac002"]["days"].as_array().expect("days");
    assert_eq!(days.len(), 2, "two UTC days");
    assert_eq!(whole["rssac002"], merged["rssac002"]);
    // One state file per instance and day.
    let n = std::fs::read_dir(tmp.join("states"))
        .expect("states")
        .count();
    assert_eq!(n, 6);
    // The oracle's figures do not depend on time.
    let mut bad = mismatches(&oracle("root-mix-v4v6.pcap"), &merged);
    bad.retain(|m| !m.starts_with("rssac002") && !m.starts_with("time_series"));
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn duplicates_count_once_and_foreign_states_are_refused() {
    let tmp = Scratch::target("fleet-refusals");
    let fixture = pcaps().join("root-mix-v4v6.pcap");
    let k = key(&tmp, b"the fleet's own key, 32 bytes..");
    let states = tmp.join("s");
    let alone = replay(&fixture, "a", &states, &k, "1");
    let file = states.join("a.2026-11-24.dnsobs-state");
    assert!(file.is_file(), "{}", file.display());
    // The same node and day again (a copy elsewhere): counted once, with a note.
    std::fs::create_dir_all(tmp.join("copy")).expect("dir");
    std::fs::copy(&file, tmp.join("copy/a.2026-11-24.dnsobs-state")).expect("copy");
    let out = run(&[
        "merge",
        "--format",
        "json",
        states.to_str().unwrap(),
        tmp.join("copy").to_str().unwrap(),
    ]);
    let merged = json(&out);
    assert_eq!(merged["queries"], alone["queries"]);
    assert_eq!(
        merged["unique_query_sources"],
        alone["unique_query_sources"]
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("node a day 2026-11-24 again") && err.contains("counted once"),
        "{err}"
    );
    // Another fleet key: refused, naming the file.
    let other = key(&tmp, b"another fleet's key, 33 bytes...");
    let foreign = tmp.join("foreign");
    replay(&fixture, "b", &foreign, &other, "1");
    let out = Command::new(BIN)
        .args(["merge", states.to_str().unwrap(), foreign.to_str().unwrap()])
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("b.2026-11-24.dnsobs-state") && err.contains("another fleet key"),
        "{err}"
    );
    // A damaged file: refused with file and offset.
    let mut bytes = std::fs::read(&file).expect("state");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let bad = tmp.join("bad.dnsobs-state");
    std::fs::write(&bad, &bytes).expect("write");
    let out = Command::new(BIN)
        .args(["merge", bad.to_str().unwrap()])
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("bad.dnsobs-state: at offset 24: checksum mismatch"),
        "{err}"
    );
    // A key others can read: refused before anything is read.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o604)).expect("chmod");
    let out = Command::new(BIN)
        .args([
            "replay",
            "--state-dir",
            states.to_str().unwrap(),
            "--state-key",
            k.to_str().unwrap(),
        ])
        .arg(&fixture)
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("accessible to others"), "{err}");
    // No address in a state file: the sources are pseudonyms, as many as the addresses.
    let st = dnsobs::state::file::read(&file).expect("state reads");
    let day = &st.agg.rssac002.days[0].sources;
    let real = ipv4_sources(&fixture);
    assert_eq!(day.v4.len(), real.len());
    assert!(
        day.v4.iter().all(|a| !real.contains(a)),
        "an address in the state file"
    );
}

/// The IPv4 addresses sending UDP or TCP to port 53, read with etherparse.
fn ipv4_sources(capture: &Path) -> std::collections::HashSet<u32> {
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    let mut r = dnsobs::capture::file::Reader::open(capture).expect("opens");
    let mut out = std::collections::HashSet::new();
    while let Some(p) = r.next().expect("reads") {
        let Ok(s) = SlicedPacket::from_ethernet(p.data) else {
            continue;
        };
        let (Some(NetSlice::Ipv4(ip)), Some(t)) = (&s.net, &s.transport) else {
            continue;
        };
        let to_53 = match t {
            TransportSlice::Udp(u) => {
                u.destination_port() == 53 && u.payload().get(2).is_some_and(|b| b & 0x80 == 0)
            }
            TransportSlice::Tcp(t) => t.destination_port() == 53 && !t.payload().is_empty(),
            _ => false,
        };
        if to_53 {
            out.insert(u32::from_be_bytes(ip.header().source()));
        }
    }
    out
}

/// The daemon's `[state]`: fed one instance's traffic live, it refreshes its day's state while
/// running and writes it at SIGTERM; merged, that state gives the replay's figures of the same
/// capture (the timing figures aside: live replay has its own clock).
#[test]
fn daemon_state_equals_the_replay() {
    use crate::util::daemon::{Config, PORT, scrape_value, settled_packets, start_in};
    use crate::util::netns::Netns;
    if !crate::util::netns::available(&["ip", "tcpreplay"]) {
        return;
    }
    let tmp = crate::util::scratch::tmp("dnsobs-fleet-daemon");
    let k = key(&tmp, b"fleet key for the daemon state test");
    let inst = anycast::split(&pcaps().join("root-mix-v4v6.pcap"), 3, &tmp);
    let states = tmp.join("states");
    let config = Config::cap0(2, PORT).sections(&format!(
        "[state]\ndirectory = \"{}\"\nkey_file = \"{}\"\nnode = \"live1\"\nrefresh_seconds = 10\n",
        states.display(),
        k.display()
    ));
    let mut ns = Netns::new("fleet");
    let pid = start_in(&mut ns, &tmp, &config);
    ns.replay(&inst[1], 5000);
    settled_packets(&ns, PORT, 100).expect("packet count settles");
    // A refresh of the running day within refresh_seconds.
    crate::util::wait_for(
        "a state refresh",
        std::time::Duration::from_secs(15),
        || scrape_value(&ns, PORT, "dnsobs_state_files_written_total") >= 1.0,
    );
    let running: Vec<PathBuf> = std::fs::read_dir(&states)
        .expect("states")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(running.len(), 1, "{running:?}");
    let st = dnsobs::state::file::read(&running[0]).expect("state reads");
    assert!(!st.meta.complete && st.meta.node == "live1");
    // SIGTERM: the last write, then the merge.
    crate::util::netns::signal(pid, libc::SIGTERM);
    ns.wait(pid, std::time::Duration::from_secs(10))
        .expect("daemon exits");
    let live = json(&run(&[
        "merge",
        "--format",
        "json",
        states.to_str().expect("utf-8"),
    ]));
    let replayed = replay(&inst[1], "replay1", &tmp.join("replay-states"), &k, "2");
    for key in [
        "queries",
        "responses",
        "queries_by_qtype",
        "responses_by_rcode",
        "queries_do",
        "queries_edns",
        "unique_query_sources",
        "unique_sources_estimate",
        "query_size_bytes_sum",
        "response_size_bytes_sum",
        "queries_by_transport",
        "queries_by_ip_version",
    ] {
        assert_eq!(live[key], replayed[key], "{key}");
    }
    let day = |v: &Value| {
        let mut d = v["rssac002"]["days"][0].clone();
        d.as_object_mut().map(|m| m.remove("start-period"));
        d
    };
    assert_eq!(day(&live), day(&replayed), "RSSAC002 day");
    let q = live["queries"].as_u64().unwrap_or(0);
    assert!(q > 500, "{q} queries");
}

/// The fleet Parquet tables of three instances, combined by the documented PySpark job
/// (`scripts/fleet_rssac002.py`, Spark in local mode) without dnsobs, give exactly what
/// `dnsobs merge` gives: every RSSAC002 figure of each day, the distinct sources (a union), the
/// totals.
#[test]
fn spark_job_equals_merge() {
    let Some(py) = crate::parquet::python() else {
        return;
    };
    let tmp = Scratch::target("fleet-spark");
    let k = key(&tmp, b"fleet key for the Spark job test");
    let two_days = anycast::across_midnight(
        &pcaps().join("root-mix-v4v6.pcap"),
        &tmp.join("two-days.pcap"),
    );
    let (states, pq) = (tmp.join("states"), tmp.join("parquet"));
    for (i, p) in anycast::split(&two_days, 3, &tmp).iter().enumerate() {
        run(&[
            "replay",
            "-q",
            "--format",
            "json",
            "--node",
            &format!("inst{i}"),
            "--state-dir",
            states.to_str().expect("utf-8"),
            "--state-key",
            k.to_str().expect("utf-8"),
            "--state-parquet",
            pq.to_str().expect("utf-8"),
            p.to_str().expect("utf-8"),
        ]);
    }
    let merged = json(&run(&[
        "merge",
        "--format",
        "json",
        states.to_str().expect("utf-8"),
    ]));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fleet_rssac002.py");
    let out = Command::new(&py)
        .arg(&script)
        .args([pq.to_str().expect("utf-8"), "--master", "local[1]"])
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let spark: Value = serde_json::from_slice(&out.stdout).expect("job JSON");
    eprintln!("fleet Spark job: {} s", spark["seconds"]);
    let days = merged["rssac002"]["days"].as_array().expect("days");
    assert_eq!(days.len(), 2);
    let mut queries = 0;
    for d in days {
        let date = &d["start-period"].as_str().expect("start")[..10];
        let mut want = d.clone();
        let m = want.as_object_mut().expect("object");
        m.remove("start-period");
        m.remove("unique_sources_exact");
        assert_eq!(spark["days"][date], want, "{date}");
        assert_eq!(
            spark["nodes"][date],
            serde_json::json!(["inst0", "inst1", "inst2"])
        );
        let totals = spark["totals"][date].as_object().expect("totals");
        queries += totals
            .iter()
            .filter(|(k, _)| k.starts_with("queries/"))
            .map(|(_, v)| v.as_u64().expect("count"))
            .sum::<u64>();
    }
    assert_eq!(Some(queries), merged["queries"].as_u64());
}

/// Through the library: the three instances' aggregates, with an ASN table, saved as states and
/// merged, give the whole capture's ASN diversity figures (distinct ASNs a union, top ASNs).
#[test]
fn asn_diversity_merges_through_states() {
    use dnsobs::aggregate::asn::AsnTable;
    use std::sync::Arc;
    let table = Arc::new(AsnTable::load(&pcaps().join("asn-test.txt")).expect("ASN table"));
    let settings = |threads| dnsobs::pipeline::Settings {
        threads,
        aggregate: dnsobs::aggregate::Settings {
            asn_table: Some(Arc::clone(&table)),
            ..Default::default()
        },
        ..Default::default()
    };
    let tmp = Scratch::target("fleet-asn");
    let fixture = pcaps().join("root-mix-v4v6.pcap");
    let whole =
        dnsobs::pipeline::replay(std::slice::from_ref(&fixture), &settings(2)).expect("replays");
    let mut merged: Option<dnsobs::aggregate::Aggregate> = None;
    for p in anycast::split(&fixture, 3, &tmp) {
        let mut r = dnsobs::pipeline::replay(&[p], &settings(1)).expect("replays");
        let state = r.agg.state();
        let m = merged
            .get_or_insert_with(|| dnsobs::aggregate::Aggregate::new(&state.settings(1 << 20)));
        m.merge_state(&state).expect("merges");
    }
    let merged = merged.expect("three states");
    let (w, m) = (
        whole.agg.asn.as_ref().expect("asn"),
        merged.asn.as_ref().expect("asn"),
    );
    assert!(w.distinct() > 1, "{} ASNs", w.distinct());
    assert_eq!(
        (m.distinct(), m.matched, m.unmatched),
        (w.distinct(), w.matched, w.unmatched)
    );
    assert_eq!(m.top(10), w.top(10));
}

/// The geography through day states: three instances, each replayed alone with the MaxMind DB
/// files, merged = the whole capture's `geo` section (every country, AS with its organisation,
/// region; distinct sources per country and AS counted once although the flows of a source
/// reach several instances), but for `lookups` (work done by each instance). Per interval too:
/// the instances' Parquet geography summed over the nodes, and `dnsobs merge --parquet` of
/// their states, equal the whole capture's, per interval × country and region.
#[test]
fn geography_merges_into_the_whole() {
    let Some(py) = crate::geo::tools() else {
        return;
    };
    let tmp = Scratch::target("fleet-geo");
    let (country, asn) = crate::geo::databases(&py, &tmp);
    let geo = crate::geo::flags(&country, &asn, &["LACNIC=AR,BR,CL,MX"]);
    let k = key(&tmp, b"fleet key for the geography test");
    let capture = pcaps().join("root-mix-v4v6.pcap");
    let parts = anycast::split(&capture, 3, &tmp);
    let states = tmp.join("states");
    let tables = tmp.join("tables");
    let (nodes, whole_iv, merged_iv) = (
        tmp.join("intervals"),
        tmp.join("whole-intervals"),
        tmp.join("merged-intervals"),
    );
    let s = |p: &Path| p.to_str().expect("utf-8").to_owned();
    let (tables_s, nodes_s, whole_s, merged_s) =
        (s(&tables), s(&nodes), s(&whole_iv), s(&merged_iv));
    let per_second = ["--interval", "1", "--parquet"];
    let more = [
        &geo[..],
        &["--state-parquet", &tables_s],
        &per_second,
        &[&nodes_s],
    ]
    .concat();
    let per: Vec<Value> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| replay_with(p, &format!("inst{i}"), &states, &k, "2", &more))
        .collect();
    let whole_flags = [&geo[..], &per_second, &[&whole_s]].concat();
    let whole = replay_with(&capture, "whole", &tmp.join("whole"), &k, "2", &whole_flags);
    let merged = json(&run(&[
        "merge",
        "--format",
        "json",
        "--parquet",
        &merged_s,
        states.to_str().expect("utf-8"),
    ]));
    let (mut w, mut m) = (whole["geo"].clone(), merged["geo"].clone());
    for g in [&mut w, &mut m] {
        g["lookups"] = Value::Null;
    }
    assert!(
        w["countries"]["BR"]["sources_estimate"].as_u64() > Some(1),
        "{w}"
    );
    assert_eq!(m, w, "merged geography ≠ the whole capture's");
    // The instances' own distinct sources add up to more: some sources reached two.
    let summed: u64 = per
        .iter()
        .map(|r| {
            r["geo"]["countries"].as_object().map_or(0, |c| {
                c.values()
                    .map(|c| c["sources_estimate"].as_u64().unwrap_or(0))
                    .sum()
            })
        })
        .sum();
    let whole_sources: u64 = w["countries"]
        .as_object()
        .expect("countries")
        .values()
        .map(|c| c["sources_estimate"].as_u64().unwrap_or(0))
        .sum();
    assert!(summed > whole_sources, "{summed} vs {whole_sources}");
    // The fleet table, summed over the nodes by DuckDB: the whole capture's queries per country.
    let Some(py) = crate::parquet::python() else {
        return;
    };
    // Per interval × country and region: the nodes summed, and the merge of their states.
    use crate::geo_intervals::{geo_root, read};
    let want = read(&py, &geo_root(&whole_iv));
    let starts: std::collections::BTreeSet<i64> = want.keys().map(|k| k.0).collect();
    assert!(
        starts.len() >= 4 && want.len() > 2 * starts.len(),
        "{want:?}"
    );
    assert!(want.keys().any(|k| k.1 == "region"), "{want:?}");
    assert_eq!(
        read(&py, &geo_root(&nodes)),
        want,
        "the nodes' intervals, summed"
    );
    assert_eq!(
        read(&py, &geo_root(&merged_iv)),
        want,
        "dnsobs merge --parquet"
    );
    let sql = format!(
        "import duckdb, json; print(json.dumps(dict(duckdb.sql(\"select key, sum(value)::BIGINT \
         from read_parquet('{}/day_counts/*/*/*.parquet', hive_partitioning=true) \
         where metric = 'geo_country_queries_do' group by key\").fetchall())))",
        tables.display()
    );
    let out = Command::new(&py)
        .args(["-c", &sql])
        .output()
        .expect("duckdb");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let by_country: BTreeMap<String, u64> = serde_json::from_slice(&out.stdout).expect("json");
    let want: BTreeMap<String, u64> = w["countries"]
        .as_object()
        .expect("countries")
        .iter()
        .map(|(cc, c)| (cc.clone(), c["queries_do"].as_u64().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect();
    assert!(want.len() >= 3, "{want:?}");
    assert_eq!(
        by_country, want,
        "day_counts geo_country_queries_do summed over the nodes"
    );
}
