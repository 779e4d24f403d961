//! The per-source batch and the split between workers change when work is done, never the
//! figures: every fixture's whole JSON report is the same for every batch size (per thread
//! count, top-k sketches included), and every figure is the same for 1, 2 and 3 threads but
//! those documented as per worker: the top-k sketches (their evictions depend on how traffic is
//! split), the hygiene table (a resolver that queries two server addresses may be split) and,
//! in a flood, the latency table's evictions (its cap is per worker). Also with the
//! distinct-source cap reached, where the order of insertions decides which sources are kept
//! (the counts and the overflow must not depend on it).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::flood::{Scenario, generate};
use crate::util::Scratch;

/// The MaxMind DB files of the geography, if any.
type Geo = Option<Arc<dnsobs::aggregate::geo::Live>>;

fn report(path: &Path, threads: usize, batch: usize, cap: usize, geo: &Geo) -> Value {
    let settings = dnsobs::pipeline::Settings {
        threads,
        aggregate: dnsobs::aggregate::Settings {
            source_batch: batch,
            max_sources: cap,
            geo: geo.clone(),
            ..Default::default()
        },
        ..Default::default()
    };
    let r = dnsobs::pipeline::replay(&[path.to_owned()], &settings).expect("replay");
    let mut j = dnsobs::export::report::json(&r);
    j["dnsobs"] = Value::Null;
    // Each worker looks up the sources it sees: work done, not a figure of the traffic.
    if geo.is_some() {
        assert!(j["geo"]["lookups"].as_u64() > Some(0), "{}", path.display());
        j["geo"]["lookups"] = Value::Null;
    }
    j
}

/// Checks `path`; `per_worker` are the report's keys that may depend on the split.
fn check(path: &Path, cap: usize, per_worker: &[&str], geo: &Geo) {
    let name = path.display();
    let mut by_threads = Vec::new();
    for threads in [1, 2, 3] {
        let want = report(
            path,
            threads,
            dnsobs::aggregate::DEFAULT_SOURCE_BATCH,
            cap,
            geo,
        );
        for batch in [0, 1, 2, 7, 64] {
            let got = report(path, threads, batch, cap, geo);
            assert!(
                got == want,
                "{name}: batch {batch}, {threads} thread(s) differs from the default batch"
            );
        }
        by_threads.push(want);
    }
    let mut one = by_threads[0].clone();
    for k in per_worker {
        one[*k] = Value::Null;
    }
    for (t, mut j) in by_threads.into_iter().enumerate().skip(1) {
        for k in per_worker {
            j[*k] = Value::Null;
        }
        for (k, v) in one.as_object().expect("object") {
            assert_eq!(&j[k], v, "{name}: {k} with {} threads", t + 1);
        }
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("pcaps")
        .join(name)
}

#[test]
fn fixtures_do_not_depend_on_batch_or_threads() {
    for f in [
        "root-mix-v4v6.pcap",
        "fragments.pcap",
        "tcp-pipelined.pcap",
        "indicators.pcap",
    ] {
        check(
            &fixture(f),
            dnsobs::aggregate::sources::DEFAULT_DAY_CAP,
            &["top_k", "resolver_hygiene"],
            &None,
        );
    }
}

#[test]
fn a_flood_at_the_source_cap_does_not_depend_on_batch_or_threads() {
    let dir = Scratch::tmp("dnsobs-batches");
    let path = dir.join("flood.pcap");
    let c = generate(&path, Scenario::Subdomain, 20_000, 3);
    assert!(c.distinct.iter().all(|&d| d > 3000), "{c:?}");
    check(
        &path,
        3000,
        &["top_k", "resolver_hygiene", "latency"],
        &None,
    );
    let j = report(&path, 2, 5, 3000, &None);
    for (v, key) in ["4", "6"].iter().enumerate() {
        assert_eq!(j["unique_query_sources"][key].as_u64(), Some(3000));
        assert_eq!(
            j["unique_query_sources_overflow"][key].as_u64(),
            Some(c.distinct[v] - 3000)
        );
    }
}

/// The geography's counters (by country, AS and region, with their distinct sources) are sums
/// over the batched cache probes: the same for every batch size and thread count.
#[test]
fn geography_does_not_depend_on_batch_or_threads() {
    let Some(py) = crate::geo::tools() else {
        return;
    };
    let dir = Scratch::tmp("dnsobs-batches-geo");
    let (country, asn) = crate::geo::databases(&py, &dir);
    let regions = [("LACNIC".to_owned(), vec!["BR".to_owned(), "AR".to_owned()])];
    let db = dnsobs::aggregate::geo::GeoDb::open(
        Some(Path::new(&country)),
        Some(Path::new(&asn)),
        &regions,
    )
    .expect("databases");
    let geo = Some(Arc::new(dnsobs::aggregate::geo::Live::new(db)));
    let path = fixture("root-mix-v4v6.pcap");
    check(
        &path,
        dnsobs::aggregate::sources::DEFAULT_DAY_CAP,
        &["top_k", "resolver_hygiene"],
        &geo,
    );
    let j = report(
        &path,
        2,
        5,
        dnsobs::aggregate::sources::DEFAULT_DAY_CAP,
        &geo,
    );
    let br = &j["geo"]["countries"]["BR"];
    assert!(
        br["queries"].as_u64() > Some(0) && br["sources_estimate"].as_u64() > Some(0),
        "{br}"
    );
}

/// The geography per interval (one-second intervals of root-mix: late and early messages
/// cross worker batches and interval boundaries) is the same for every batch size and thread
/// count, and adds up to the cumulative countries.
#[test]
fn geography_intervals_do_not_depend_on_batch_or_threads() {
    let Some(py) = crate::geo::tools() else {
        return;
    };
    let dir = Scratch::tmp("dnsobs-batches-geo-intervals");
    let (country, asn) = crate::geo::databases(&py, &dir);
    let db =
        dnsobs::aggregate::geo::GeoDb::open(Some(Path::new(&country)), Some(Path::new(&asn)), &[])
            .expect("databases");
    let geo = Arc::new(dnsobs::aggregate::geo::Live::new(db));
    let path = fixture("root-mix-v4v6.pcap");
    let rows = |threads: usize, batch: usize| {
        let settings = dnsobs::pipeline::Settings {
            threads,
            aggregate: dnsobs::aggregate::Settings {
                source_batch: batch,
                geo: Some(Arc::clone(&geo)),
                series: dnsobs::aggregate::series::Settings {
                    interval_seconds: 1,
                    max_intervals: 64,
                },
                ..Default::default()
            },
            ..Default::default()
        };
        let r = dnsobs::pipeline::replay(std::slice::from_ref(&path), &settings).expect("replay");
        let g = r.agg.geo.as_ref().expect("geography");
        (
            g.intervals.rows(),
            g.countries.to_vec(),
            g.intervals.evicted,
        )
    };
    let (want, countries, evicted) = rows(1, 0);
    let intervals: std::collections::BTreeSet<u64> = want.iter().map(|r| r.start_ns).collect();
    assert!(
        intervals.len() >= 4 && want.len() > intervals.len(),
        "{want:?}"
    );
    assert_eq!(evicted, 0);
    // Summed over the intervals: the cumulative counters.
    for (cc, c) in countries.iter().enumerate() {
        let mut q = [0u64; 3];
        for r in want.iter().filter(|r| usize::from(r.country) == cc) {
            q[0] += r.counts.queries;
            q[1] += r.counts.queries_do;
            q[2] += r.counts.responses_nxdomain;
        }
        assert_eq!(q, [c.queries, c.queries_do, c.responses_nxdomain], "{cc}");
    }
    for threads in [1, 2] {
        for batch in [0, 1, 64] {
            let got = rows(threads, batch);
            assert!(
                got.0 == want && got.1 == countries,
                "{threads} thread(s), batch {batch}"
            );
        }
    }
}
