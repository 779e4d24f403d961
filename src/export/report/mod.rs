//! The replay report: a typed model ([`Report`]) built from a [`Snapshot`], serialised as the
//! JSON report (a superset of the oracle schema) and rendered as a human table; the HTML
//! report (`export::html`) draws the same model.

mod counts;
mod geo;
mod model;
mod sections;
mod table;

pub use counts::{ByTransport, ByVersion, Counts, ratio};
pub use model::{EdnsVersions, FileFacts, Report, RunFacts, Shares};
pub use sections::{
    Asn, AsnFigures, AsnOff, AsnRow, Estimates, Hygiene, IndicatorShares, Indicators, IntervalRow,
    Ithi, IthiValue, Latency, PerTable, Rssac002, Rssac002Day, TimeSeries, TopK, TopRow,
    TrafficSizes, TrafficVolume, TransportLatency, UniqueSources,
};
pub use table::table as render_table;

use crate::snapshot::Snapshot;

/// The JSON report of a snapshot, as a value.
pub fn json(s: &Snapshot) -> serde_json::Value {
    Report::new(s).to_value()
}

/// The human-readable report of a snapshot.
pub fn table(s: &Snapshot) -> String {
    render_table(&Report::new(s))
}
