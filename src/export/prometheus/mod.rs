//! The Prometheus metric families, rendered from a [`Snapshot`]: one collector per family
//! group, as node_exporter keeps one collector per file.
//!
//! Encoding goes through the official `prometheus-client` crate (the tikv `prometheus` crate the
//! project first preferred has had no release since March 2025 and started the RustSec
//! "unmaintained" process): the collector reads the published snapshot at scrape time, so the
//! packet path never touches a metrics library. Every family is a row of [`families::ALL`];
//! every label value comes from a fixed table (`iana`, `Malformed`, `Event`) or a bounded
//! top-k, unassigned codes fold into `other`: cardinality is bounded by design.
//!
//! * [`encode`]: the [`Family`](encode::Family) type and the encoding helpers;
//! * [`families`]: the family table (name, help, type, labels);
//! * [`dns`], [`indicators`], [`sketches`], [`rssac002`], [`ithi`]: the counters of every run;
//! * [`capture`], [`process`]: the daemon's own state and the standard `process_*` figures.

pub mod capture;
pub mod dns;
pub mod encode;
pub mod families;
pub mod geo;
pub mod indicators;
pub mod ithi;
pub mod process;
pub mod rssac002;
pub mod sketches;

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Registry;

use crate::snapshot::{Published, Snapshot};

/// A `prometheus-client` collector over the published snapshot.
struct SnapshotCollector(Arc<Published>);

impl fmt::Debug for SnapshotCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SnapshotCollector")
    }
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
        let snap = self.0.load();
        encode_all(&snap, &mut enc)
    }
}

/// Writes every family of `s`, in the order `/metrics` has always had: the DNS counters, the
/// indicators, RSSAC002, sketches, ITHI, malformed traffic, the build; then, for the daemon,
/// capture health, writers, dnstap, reloads and the process.
pub fn encode_all(s: &Snapshot, enc: &mut DescriptorEncoder<'_>) -> fmt::Result {
    let a = &s.agg;
    dns::encode(a, enc)?;
    indicators::encode(a, enc)?;
    rssac002::encode(&a.rssac002, enc)?;
    sketches::encode(a, &s.privacy, enc)?;
    ithi::encode_ithi(&a.ithi, enc)?;
    ithi::encode_hygiene(&a.hygiene, enc)?;
    ithi::encode_asn(a.asn.as_ref(), a.topk.k, enc)?;
    geo::encode(a.geo.as_ref(), a.topk.k, enc)?;
    dns::encode_malformed(a, enc)?;
    encode::gauges(
        enc,
        &families::BUILD_INFO,
        [(vec![("version", env!("CARGO_PKG_VERSION"))], 1)],
    )?;
    if let Some(d) = s.daemon() {
        capture::encode(d, enc)?;
        process::encode(d.start_time, enc)?;
    }
    Ok(())
}

/// A registry whose one collector renders the current snapshot of `published`.
pub fn registry(published: Arc<Published>) -> Registry {
    let mut r = Registry::default();
    r.register_collector(Box::new(SnapshotCollector(published)));
    r
}

/// Renders the families in the Prometheus text format 0.0.4 (what `promtool check metrics`
/// and every Prometheus version read).
pub fn render_text(r: &Registry) -> Result<String, fmt::Error> {
    let mut s = String::with_capacity(16 << 10);
    prometheus_client::encoding::prometheus_text::encode(&mut s, r)?;
    Ok(s)
}

/// Renders the families in the OpenMetrics text format.
pub fn render_openmetrics(r: &Registry) -> Result<String, fmt::Error> {
    let mut s = String::with_capacity(16 << 10);
    prometheus_client::encoding::text::encode(&mut s, r)?;
    Ok(s)
}

/// The Prometheus text of one snapshot (`replay --format prometheus`).
pub fn text(s: &Arc<Snapshot>) -> Result<String, fmt::Error> {
    render_text(&registry(Arc::new(Published::from_arc(Arc::clone(s)))))
}

#[cfg(test)]
mod test {
    use std::collections::BTreeSet;

    use super::encode::Kind;
    use super::*;
    use crate::aggregate::{Aggregate, Settings, asn::AsnTable};
    use crate::snapshot::{CaptureHealth, DaemonStatus, Input, ReplayInput};

    /// The `# TYPE` names of a rendering.
    fn typed_names(text: &str) -> BTreeSet<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|t| t.split(' ').next())
            .map(str::to_owned)
            .collect()
    }

    /// A daemon snapshot with every optional part on: an ASN table, the geography (a region,
    /// no database: every lookup unknown), dnstap, one worker.
    fn everything() -> Snapshot {
        let table = AsnTable::parse("192.0.2.0/24 64496\n").expect("table");
        let region = [("R".to_owned(), vec!["BR".to_owned()])];
        let geo = crate::aggregate::geo::GeoDb::open(None, None, &region).expect("no files");
        let settings = Settings {
            asn_table: Some(Arc::new(table)),
            geo: Some(Arc::new(crate::aggregate::geo::Live::new(geo))),
            ..Settings::default()
        };
        let status = DaemonStatus {
            health: vec![CaptureHealth::default()],
            dnstap: Some(Default::default()),
            geo: Some(crate::aggregate::geo::db::Status {
                reloads: 1,
                reload_errors: 0,
                build_epochs: [Some(1_700_000_000), None],
            }),
            ..DaemonStatus::default()
        };
        Snapshot {
            agg: Aggregate::new(&settings),
            input: Input::Daemon(Box::new(status)),
            privacy: Default::default(),
        }
    }

    #[test]
    fn the_family_table_is_what_is_written() {
        let text = text(&Arc::new(everything())).expect("renders");
        let written = typed_names(&text);
        let table: BTreeSet<String> = families::ALL.iter().map(|f| f.exposed()).collect();
        assert_eq!(written, table, "families written vs the table");
        // In the order of the table, too.
        let order: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|t| t.split(' ').next())
            .collect();
        let want: Vec<String> = families::ALL.iter().map(|f| f.exposed()).collect();
        assert_eq!(order, want);
    }

    #[test]
    fn a_replay_writes_no_daemon_family() {
        let s = Snapshot::replay(Aggregate::new(&Settings::default()), ReplayInput::default());
        let written = typed_names(&text(&Arc::new(s)).expect("renders"));
        for name in [
            "dnsobs_capture_up",
            "process_open_fds",
            "dnsobs_dnstap_frames_total",
        ] {
            assert!(!written.contains(name), "{name} in a replay");
        }
        assert!(written.contains("dnsobs_queries_total"));
    }

    #[test]
    fn every_series_uses_the_labels_of_its_family() {
        let text = text(&Arc::new(everything())).expect("renders");
        for f in families::ALL {
            let name = f.exposed();
            for line in text.lines().filter(|l| !l.starts_with('#')) {
                let Some(rest) = line.strip_prefix(name.as_str()) else {
                    continue;
                };
                // A histogram's series carry the family's labels too.
                let rest = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| rest.strip_prefix(s).filter(|_| f.kind == Kind::Histogram))
                    .unwrap_or(rest);
                let Some(labels) = rest.strip_prefix('{') else {
                    continue;
                };
                let labels = &labels[..labels.find('}').unwrap_or(labels.len())];
                for pair in labels.split(',').filter(|p| !p.is_empty()) {
                    let key = pair.split('=').next().unwrap_or("");
                    assert!(
                        key == "le" || f.labels.contains(&key),
                        "{name}: label {key} not in the table"
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod merge_copy {
    use std::path::Path;

    use super::*;
    use crate::aggregate::Aggregate;

    /// The daemon publishes its total by merging it into a cleared aggregate (reusing the
    /// previous snapshot's memory): that copy must render exactly like the original.
    #[test]
    fn a_total_merged_into_a_cleared_aggregate_renders_the_same() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("pcaps/root-mix-v4v6.pcap");
        let r = crate::pipeline::replay_file(&path, 2).expect("fixture");
        let settings = crate::aggregate::Settings::default();
        let mut copy = Aggregate::new(&settings);
        copy.merge(&r.agg);
        copy.clear();
        copy.merge(&r.agg);
        let copy = Snapshot {
            agg: copy,
            input: r.input.clone(),
            privacy: r.privacy.clone(),
        };
        let json = crate::export::report::json;
        assert_eq!(json(&copy), json(&r));
        let want = text(&Arc::new(r)).expect("renders");
        let got = text(&Arc::new(copy)).expect("renders");
        assert_eq!(got, want);
    }
}
