//! The MaxMind DB files replaced while the daemon counts live traffic: replaced on disk (by
//! rename, as geoipupdate does) in the middle of a replay, then a corrupt replacement (kept
//! out, the old databases stay), then SIGHUP. Every query is counted once, under the old or
//! the new databases: per network, the old country's count plus the new one's equals the
//! replay's count times the passes — nothing lost or doubled across the swap.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::geo::{databases, tools};
use crate::util::daemon::{Config, PORT, samples, scrape, sum, value};
use crate::util::netns::{Netns, signal};
use crate::util::{BIN, pcaps};

/// Countries of the test networks before and after the move (`make-test-mmdb.py --moved`).
const MOVED: [(&str, &str); 8] = [
    ("BR", "PT"),
    ("AR", "IT"),
    ("CL", "FR"),
    ("US", "CA"),
    ("DE", "AT"),
    ("JP", "KR"),
    ("MX", "ES"),
    ("NL", "BE"),
];

/// The scrape once `want` queries are counted, by the geography too (every worker flushed
/// them; at most 30 s).
fn settled_at(ns: &Netns, want: u64) -> Vec<(String, f64)> {
    let (mut queries, mut geo) = (0.0, 0.0);
    for _ in 0..60 {
        std::thread::sleep(Duration::from_millis(500));
        let s = samples(&scrape(ns, PORT));
        queries = sum(&s, "dnsobs_queries_total{");
        geo = sum(&s, "dnsobs_geo_queries_total{");
        if queries as u64 == want && geo as u64 == want {
            return s;
        }
    }
    panic!("the daemon did not settle at {want} queries: {queries} counted, {geo} by country");
}

fn country(s: &[(String, f64)], cc: &str) -> u64 {
    let k = format!("dnsobs_geo_queries_total{{country=\"{cc}\"}}");
    if s.iter().any(|(n, _)| *n == k) {
        value(s, &k) as u64
    } else {
        0
    }
}

fn replace(from: &Path, to: &Path) {
    for f in ["test-country.mmdb", "test-asn.mmdb"] {
        let tmp = to.join(format!(".{f}.new"));
        std::fs::copy(from.join(f), &tmp).expect("copy");
        std::fs::rename(&tmp, to.join(f)).expect("rename");
    }
}

#[test]
fn databases_replaced_under_traffic_lose_and_double_nothing() {
    if !crate::util::netns::available(&["ip", "tcpreplay"]) {
        return;
    }
    let Some(py) = tools() else { return };
    let tmp = crate::util::scratch::tmp("dnsobs-geo-reload");
    let (old, new, live) = (tmp.join("old"), tmp.join("new"), tmp.join("live"));
    for d in [&old, &new, &live] {
        std::fs::create_dir_all(d).expect("dir");
    }
    databases(&py, &old);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make-test-mmdb.py");
    let st = std::process::Command::new(&py)
        .args([
            script.to_str().expect("utf-8"),
            new.to_str().expect("utf-8"),
            "--moved",
        ])
        .status()
        .expect("python");
    assert!(st.success());
    replace(&old, &live);
    let (country_db, asn_db) = (live.join("test-country.mmdb"), live.join("test-asn.mmdb"));

    // One pass of the capture, replayed: its queries per country.
    let cap = pcaps().join("root-mix-v4v6.pcap");
    let out = std::process::Command::new(BIN)
        .args(["replay", "-q", "--format", "json", "--geoip-country"])
        .arg(&country_db)
        .arg("--geoip-asn")
        .arg(&asn_db)
        .arg(&cap)
        .output()
        .expect("replay");
    assert!(out.status.success());
    let replayed: Value = serde_json::from_slice(&out.stdout).expect("report");
    let per_pass = |cc: &str| {
        replayed["geo"]["countries"][cc]["queries"]
            .as_u64()
            .unwrap_or(0)
    };
    let queries = replayed["queries"].as_u64().expect("queries");
    assert!(
        per_pass("BR") > 0 && per_pass("AR") > 0,
        "{}",
        replayed["geo"]
    );

    let config = Config::cap0(2, PORT).sections(&format!(
        "[geoip]\ncountry_db = \"{}\"\nasn_db = \"{}\"\ncheck_seconds = 1\n",
        country_db.display(),
        asn_db.display()
    ));
    let mut ns = Netns::new("georeload");
    let pid = crate::util::daemon::start_in(&mut ns, &tmp, &config);

    // Pass 1 under the old databases; pass 2 with the files replaced a second into it.
    ns.replay(&cap, 3000);
    let s1 = settled_at(&ns, queries);
    for (a, b) in MOVED {
        assert_eq!(
            (country(&s1, a), country(&s1, b)),
            (per_pass(a), 0),
            "{a} pass 1"
        );
    }
    let swap = {
        let (new, live) = (new.clone(), live.clone());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1000));
            replace(&new, &live);
        })
    };
    ns.replay(&cap, 3000);
    swap.join().expect("swap");
    let s2 = settled_at(&ns, 2 * queries);
    assert_eq!(
        value(&s2, "dnsobs_geo_database_reloads_total{result=\"ok\"}"),
        1.0
    );
    assert_eq!(
        value(&s2, "dnsobs_geo_database_reloads_total{result=\"error\"}"),
        0.0
    );
    let mut split = 0;
    for (a, b) in MOVED {
        let (x, y) = (country(&s2, a), country(&s2, b));
        assert_eq!(x + y, 2 * per_pass(a), "{a}+{b} after pass 2 ({x} + {y})");
        assert!(
            x >= per_pass(a),
            "{a}: pass 1 was counted under the old database"
        );
        split += u64::from(y > 0);
    }
    assert!(split > 0, "the new databases were never used");
    let asn_moved = value(&s2, "dnsobs_geo_top_asn_queries{asn=\"65500\"}");
    assert!(asn_moved > 0.0, "the new AS database is in use");

    // A corrupt replacement is refused: the databases in force stay, counted as an error.
    std::fs::write(live.join(".bad"), b"not a MaxMind DB").expect("write");
    std::fs::rename(live.join(".bad"), &country_db).expect("rename");
    std::thread::sleep(Duration::from_millis(2500));
    ns.replay(&cap, 3000);
    let s3 = settled_at(&ns, 3 * queries);
    assert_eq!(
        value(&s3, "dnsobs_geo_database_reloads_total{result=\"error\"}"),
        1.0
    );
    for (a, b) in MOVED {
        assert_eq!(
            country(&s3, a) + country(&s3, b),
            3 * per_pass(a),
            "{a}+{b} pass 3"
        );
        assert_eq!(
            country(&s3, b) - country(&s2, b),
            per_pass(a),
            "{b}: new kept"
        );
    }

    // The old files back: noticed by the check.
    replace(&old, &live);
    std::thread::sleep(Duration::from_millis(2500));
    ns.replay(&cap, 3000);
    let s4 = settled_at(&ns, 4 * queries);
    assert!(value(&s4, "dnsobs_geo_database_reloads_total{result=\"ok\"}") >= 2.0);
    for (a, b) in MOVED {
        assert_eq!(
            country(&s4, a) + country(&s4, b),
            4 * per_pass(a),
            "{a}+{b} pass 4"
        );
        assert_eq!(
            country(&s4, a) - country(&s3, a),
            per_pass(a),
            "{a}: old back"
        );
    }
    assert!(
        value(
            &s4,
            "dnsobs_geo_database_build_timestamp_seconds{database=\"country\"}"
        ) > 1e9
    );
    // SIGHUP with nothing changed on disk: one more reload, only the signal's.
    let ok = value(&s4, "dnsobs_geo_database_reloads_total{result=\"ok\"}");
    signal(pid, libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(2500));
    let s5 = samples(&scrape(&ns, PORT));
    assert_eq!(
        value(&s5, "dnsobs_geo_database_reloads_total{result=\"ok\"}"),
        ok + 1.0
    );
    signal(pid, libc::SIGTERM);
    ns.wait(pid, Duration::from_secs(10)).expect("daemon exits");
}
