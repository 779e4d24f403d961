//! Stage 4, export: functions of a published [`Snapshot`](crate::snapshot::Snapshot), organised
//! by output format.
//!
//! * [`report`]: the typed report model, its JSON serialisation and the human table;
//! * [`html`]: the same model as one self-contained HTML page;
//! * [`prometheus`]: the metric families (one table of families, one file per group) that
//!   `replay --format prometheus` prints and the daemon serves;
//! * [`http`]: the daemon's `/metrics` and `/healthz` endpoint;
//! * [`web`]: its web configuration (TLS and basic authentication, the exporters' format);
//! * [`rssac002`]: the RSSAC002v5 daily YAML documents;
//! * [`ithi`]: ithitools' CSV;
//! * [`parquet`]: the per-interval and per-query Parquet tables.
//!
//! Nothing here imports `daemon`, `config` or `pipeline`: limits and settings come in as
//! plain values.

pub mod html;
pub mod http;
pub mod ithi;
pub mod parquet;
pub mod prometheus;
pub mod report;
pub mod rssac002;
pub mod web;
