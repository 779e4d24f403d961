//! The metrics reference (`docs/metrics.md`) names exactly the families of the family table
//! (`export::prometheus::families::ALL`), which is what `/metrics` writes (a unit test there
//! checks that): a family added, renamed or dropped without its documentation fails here.

use std::collections::BTreeSet;

use dnsobs::export::prometheus::encode::Kind;
use dnsobs::export::prometheus::families::ALL;

/// Every metric name in backticks on a table row of the reference.
fn documented() -> BTreeSet<String> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md"))
        .expect("docs/metrics.md");
    let mut names = BTreeSet::new();
    for row in text.lines().filter(|l| l.starts_with("| `")) {
        for (i, part) in row.split('`').enumerate() {
            let is_name = i % 2 == 1
                && (part.starts_with("dnsobs_") || part.starts_with("process_"))
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if is_name {
                names.insert(part.to_owned());
            }
        }
    }
    names
}

#[test]
fn metrics_reference_is_the_family_table() {
    let table: BTreeSet<String> = ALL.iter().map(|f| f.exposed()).collect();
    let docs = documented();
    let missing: Vec<_> = table.difference(&docs).collect();
    let unknown: Vec<_> = docs.difference(&table).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "docs/metrics.md lacks {missing:?} and names {unknown:?}, which /metrics does not write"
    );
}

#[test]
fn the_table_has_every_kind_and_bounded_labels() {
    for kind in [Kind::Counter, Kind::Gauge, Kind::Histogram] {
        assert!(ALL.iter().any(|f| f.kind == kind));
    }
    // Series are told apart by few labels (at most interface, worker and where).
    for f in ALL {
        assert!(f.labels.len() <= 3, "{}: {:?}", f.name, f.labels);
    }
}

/// Every reason of the malformed taxonomy is documented: a row of the table in docs/replay.md
/// and a name in the `reason` label list of docs/metrics.md.
#[test]
fn every_malformed_reason_is_documented() {
    let read = |p: &str| {
        std::fs::read_to_string(format!("{}/docs/{p}", env!("CARGO_MANIFEST_DIR"))).expect(p)
    };
    let (replay, metrics) = (read("replay.md"), read("metrics.md"));
    let row = metrics
        .lines()
        .find(|l| l.starts_with("| `dnsobs_malformed_packets_total`"))
        .expect("the malformed family's row");
    for m in dnsobs::decode::Malformed::ALL {
        let label = m.label();
        assert!(
            replay.contains(&format!("| `{label}` |")),
            "replay.md lacks {label}"
        );
        assert!(
            row.split([' ', ',', ':', '(', ')']).any(|w| w == label),
            "metrics.md lacks {label}"
        );
    }
}
