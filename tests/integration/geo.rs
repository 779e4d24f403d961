//! Geography: queries by country, AS and region of their source from MaxMind DB files, against
//! an independent path. The databases are written by `scripts/make-test-mmdb.py` with the
//! `mmdb-writer` package; the expected figures come from `geo_expected.py`: tshark decodes
//! the capture and MaxMind's Python reader looks the addresses up — no dnsobs code in between.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::util::{BIN, Scratch, cannot_run, pcaps};

/// The venv's Python if it has the MaxMind writer and reader, and tshark is installed.
pub(crate) fn tools() -> Option<String> {
    let py = crate::parquet::python()?;
    let ok = Command::new(&py)
        .args(["-c", "import mmdb_writer, maxminddb, netaddr"])
        .output()
        .is_ok_and(|o| o.status.success())
        && Command::new("tshark").arg("-v").output().is_ok();
    if !ok {
        cannot_run(
            &format!("{py} cannot import mmdb_writer, maxminddb, netaddr, or no tshark"),
            "no MaxMind writer/reader or tshark: skipping the geography tests",
        );
        return None;
    }
    Some(py)
}

fn run_py(py: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(py).args(args).output().expect("python runs");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The test databases in `dir`: `(country, asn)`.
pub(crate) fn databases(py: &str, dir: &Path) -> (String, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make-test-mmdb.py");
    run_py(
        py,
        &[
            script.to_str().expect("utf-8"),
            dir.to_str().expect("utf-8"),
        ],
    );
    let p = |n: &str| dir.join(n).to_str().expect("utf-8").to_owned();
    (p("test-country.mmdb"), p("test-asn.mmdb"))
}

/// The geography flags: both databases and the `regions` given (`NAME=CC,…`).
pub(crate) fn flags<'a>(country: &'a str, asn: &'a str, regions: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["--geoip-country", country, "--geoip-asn", asn];
    for r in regions {
        v.extend(["--geo-region", r]);
    }
    v
}

fn dnsobs(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().expect("dnsobs runs")
}

/// Every capture with an oracle but those the independent count cannot read as dnsobs does:
/// `tcp-pipelined` (several DNS messages in one frame: the script takes one per frame),
/// `tun-malformed` (encapsulations nested past dnsobs' documented depth, which tshark follows:
/// see tests/integration/oracle.rs) and `truncated` (tshark stops at the cut).
fn fixtures() -> Vec<String> {
    let skip = ["tcp-pipelined", "tun-malformed", "truncated"];
    let mut v: Vec<String> = std::fs::read_dir(pcaps())
        .expect("pcaps")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.contains(".pcap"))
        .filter(|n| {
            let stem = n.split('.').next().unwrap_or_default();
            pcaps().join(format!("{stem}.oracle.json")).exists() && !skip.contains(&stem)
        })
        .collect();
    v.sort();
    assert!(v.len() >= 30, "{v:?}");
    v
}

#[test]
fn countries_asns_and_regions_equal_an_independent_count() {
    let Some(py) = tools() else { return };
    let tmp = Scratch::target("geo");
    let (country, asn) = databases(&py, &tmp);
    let expect = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/geo_expected.py");
    for fixture in fixtures() {
        let fixture = fixture.as_str();
        let cap = pcaps().join(fixture);
        let cap = cap.to_str().expect("utf-8");
        let want: Value = serde_json::from_slice(&run_py(
            &py,
            &[expect.to_str().expect("utf-8"), cap, &country, &asn],
        ))
        .expect("expected JSON");
        for threads in ["1", "2"] {
            let with = flags(&country, &asn, &["LACNIC=AR,BR,CL,MX,UY", "EU=DE,NL"]);
            let head = ["replay", "-q", "--format", "json", "--threads", threads];
            let out = dnsobs(&[&head[..], &with, &[cap]].concat());
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let got: Value = serde_json::from_slice(&out.stdout).expect("report");
            let geo = &got["geo"];
            let mut asns = geo["asns"].clone();
            for (_, a) in asns.as_object_mut().expect("asns").iter_mut() {
                a.as_object_mut().expect("asn").remove("organization");
            }
            assert_eq!(
                geo["countries"], want["countries"],
                "{fixture} --threads {threads}"
            );
            assert_eq!(asns, want["asns"], "{fixture} --threads {threads}");
            // Every query is somewhere: the countries add up to the report's queries.
            let sum: u64 = geo["countries"]
                .as_object()
                .expect("countries")
                .values()
                .map(|c| c["queries"].as_u64().expect("queries"))
                .sum();
            assert_eq!(Some(sum), got["queries"].as_u64(), "{fixture}");
            // A region is the sum of its countries.
            let lacnic: u64 = ["AR", "BR", "CL", "MX", "UY"]
                .iter()
                .filter_map(|c| want["countries"][c]["queries"].as_u64())
                .sum();
            assert_eq!(geo["regions"]["LACNIC"]["queries"].as_u64(), Some(lacnic));
            if fixture == "root-mix-v4v6.pcap" {
                assert!(lacnic > 4000, "{lacnic}");
                // The HTML page draws the shares from the same figures.
                let with = flags(&country, &asn, &["LACNIC=AR,BR,CL,MX,UY"]);
                let head = ["replay", "-q", "--format", "html"];
                let html = dnsobs(&[&head[..], &with, &[cap]].concat());
                let html = String::from_utf8(html.stdout).expect("utf-8");
                let br = &want["countries"]["BR"];
                let (q, d) = (
                    br["queries"].as_u64().expect("q"),
                    br["queries_do"].as_u64().expect("do"),
                );
                let do_share = format!("{:.1} % of {q}", 100.0 * d as f64 / q as f64);
                assert!(
                    html.contains("Where the queries come from"),
                    "no geography section"
                );
                assert!(html.contains(&do_share), "no {do_share} in the page");
                assert_eq!(geo["asns"]["64500"]["organization"], "Example BR Telecom");
                assert_eq!(geo["asns"]["64503"]["organization"], Value::Null);
                assert_eq!(geo["source_cache_resets"], 0);
            }
        }
    }
}

#[test]
fn bad_databases_are_refused_with_the_file() {
    let Some(py) = tools() else { return };
    let tmp = Scratch::target("geo-bad");
    let (country, asn) = databases(&py, &tmp);
    let cap = pcaps().join("root-mix-v4v6.pcap");
    let cap = cap.to_str().expect("utf-8");
    // Refused with status 1 and a message naming `what`: the stderr.
    let refused = |flag: &str, file: &str, what: &[&str]| {
        let out = dnsobs(&["replay", flag, file, cap]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(what.iter().all(|w| err.contains(w)), "{err}");
    };
    refused(
        "--geoip-asn",
        &country,
        &["test-country.mmdb", "asn database is expected"],
    );
    let missing = tmp.join("none.mmdb");
    refused(
        "--geoip-country",
        missing.to_str().expect("utf-8"),
        &["none.mmdb"],
    );
    let junk = tmp.join("junk.mmdb");
    std::fs::write(&junk, b"not a MaxMind database at all").expect("write");
    refused(
        "--geoip-country",
        junk.to_str().expect("utf-8"),
        &["junk.mmdb"],
    );
    let out = dnsobs(&["replay", "--geoip-asn", &asn, "--geo-region", "X=BRA", cap]);
    assert_eq!(out.status.code(), Some(2));
}

/// The daemon with `[geoip]`, fed root-mix live (netns, tcpreplay): the counts per country and
/// region in `/metrics` equal the replay's; so do the per-interval geography's rows it wrote
/// (`[export.parquet]`, intervals of live time), summed over the intervals.
#[test]
fn live_counts_per_country_equal_the_replay() {
    use crate::util::daemon::{Config, PORT, samples, settled_packets, start_in, value};
    use crate::util::netns::{Netns, signal};
    if !crate::util::netns::available(&["ip", "tcpreplay"]) {
        return;
    }
    let Some(py) = tools() else { return };
    let tmp = crate::util::scratch::tmp("dnsobs-geo-live");
    let (country, asn) = databases(&py, &tmp);
    let cap = pcaps().join("root-mix-v4v6.pcap");
    let geo = flags(&country, &asn, &["LACNIC=AR,BR,CL,MX"]);
    let head = ["replay", "-q", "--format", "json"];
    let out = dnsobs(&[&head[..], &geo, &[cap.to_str().expect("utf-8")]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replayed: Value = serde_json::from_slice(&out.stdout).expect("report");
    let intervals = tmp.join("intervals");
    let config = Config::cap0(2, PORT)
        .sections(&format!(
            "[geoip]\ncountry_db = \"{country}\"\nasn_db = \"{asn}\"\n\n[geoip.regions]\nLACNIC = [\"AR\", \"BR\", \"CL\", \"MX\"]\n"
        ))
        .export(&format!(
            "\n[export.parquet]\ndirectory = \"{}\"\nnode = \"live\"\ninterval_seconds = 1\n\
             write_interval_seconds = 10\ngrace_seconds = 1\n",
            intervals.display()
        ));
    let mut ns = Netns::new("geo");
    let pid = start_in(&mut ns, &tmp, &config);
    ns.replay(&cap, 5000);
    let body = settled_packets(&ns, PORT, 100).expect("packet count settles");
    let s = samples(&body);
    let countries = replayed["geo"]["countries"].as_object().expect("countries");
    assert!(countries.len() >= 5);
    for (cc, c) in countries {
        for (family, key) in [
            ("dnsobs_geo_queries_total", "queries"),
            ("dnsobs_geo_queries_do_total", "queries_do"),
            ("dnsobs_geo_queries_edns_total", "queries_edns"),
            ("dnsobs_geo_queries_tcp_total", "queries_tcp"),
            ("dnsobs_geo_queries_ipv6_total", "queries_ipv6"),
            ("dnsobs_geo_nxdomain_responses_total", "responses_nxdomain"),
        ] {
            let got = value(&s, &format!("{family}{{country=\"{cc}\"}}"));
            assert_eq!(Some(got as u64), c[key].as_u64(), "{family} {cc}");
        }
    }
    let lacnic = value(&s, "dnsobs_geo_region_queries_total{region=\"LACNIC\"}");
    assert_eq!(
        Some(lacnic as u64),
        replayed["geo"]["regions"]["LACNIC"]["queries"].as_u64()
    );
    let top = value(&s, "dnsobs_geo_top_asn_queries{asn=\"64500\"}");
    assert_eq!(
        Some(top as u64),
        replayed["geo"]["asns"]["64500"]["queries"].as_u64()
    );
    signal(pid, libc::SIGTERM);
    ns.wait(pid, std::time::Duration::from_secs(10))
        .expect("daemon exits");
    // The intervals written (periodically, and the last ones at exit), summed per key.
    let Some(py) = crate::parquet::python() else {
        return;
    };
    let rows = crate::geo_intervals::read(&py, &crate::geo_intervals::geo_root(&intervals));
    let mut summed: std::collections::BTreeMap<(String, String), [u64; 6]> = Default::default();
    for ((_, scope, key), v) in rows {
        let s = summed.entry((scope, key)).or_default();
        for (a, b) in s.iter_mut().zip(v) {
            *a += b;
        }
    }
    let counters = crate::geo_intervals::COUNTERS;
    let mut want: std::collections::BTreeMap<(String, String), [u64; 6]> = countries
        .iter()
        .map(|(cc, c)| {
            let v = counters.map(|k| c[k].as_u64().expect("count"));
            (("country".to_owned(), cc.clone()), v)
        })
        .collect();
    let lacnic = &replayed["geo"]["regions"]["LACNIC"];
    want.insert(
        ("region".to_owned(), "LACNIC".to_owned()),
        counters.map(|k| lacnic[k].as_u64().expect("count")),
    );
    assert_eq!(summed, want, "the daemon's per-interval geography, summed");
}
