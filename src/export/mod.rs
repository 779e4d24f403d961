//! Stage 4, export: read-only consumers of merged counters.
//!
//! [`report`] renders the replay report (table, JSON); [`prometheus`] the metric families that
//! both `replay --format prometheus` and the daemon's `/metrics` serve.

pub mod html;
pub mod http;
pub mod ithi;
pub mod parquet;
pub mod process;
pub mod prometheus;
pub mod report;
pub mod rssac002;
