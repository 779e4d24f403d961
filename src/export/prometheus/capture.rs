//! The daemon's own state: capture health per interface and worker, file writers, the dnstap
//! input, configuration reloads and the metrics endpoint's refusals. Only a daemon snapshot
//! has these families.

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{Labels, by, counters, gauges};
use super::families as f;
use crate::capture::dnstap::{MESSAGE_TYPES, Problem, Stats};
use crate::snapshot::{
    AuthFailure, CaptureHealth, DaemonStatus, HttpCounts, TlsFailure, WriterCounts,
};

/// Writes the daemon families.
pub fn encode(d: &DaemonStatus, enc: &mut DescriptorEncoder<'_>) -> fmt::Result {
    health(&d.health, enc)?;
    writers(&d.writers, enc)?;
    if let Some(t) = &d.dnstap {
        dnstap(t, enc)?;
    }
    gauges(
        enc,
        &f::CONFIG_LAST_RELOAD_SUCCESSFUL,
        [(vec![], if d.reload_ok { 1.0 } else { 0.0 })],
    )?;
    gauges(
        enc,
        &f::CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS,
        [(vec![], d.reload_time as f64)],
    )?;
    if let Some(g) = &d.geo {
        counters(
            enc,
            &f::GEO_DATABASE_RELOADS,
            [
                (vec![("result", "ok")], g.reloads),
                (vec![("result", "error")], g.reload_errors),
            ],
        )?;
        let built = ["country", "asn"]
            .into_iter()
            .zip(g.build_epochs)
            .filter_map(|(db, t)| Some((vec![("database", db)], t? as f64)));
        gauges(enc, &f::GEO_DATABASE_BUILD_TIMESTAMP_SECONDS, built)?;
    }
    http(&d.http, enc)
}

/// The endpoint's refusals; the reasons come from fixed tables.
fn http(h: &HttpCounts, enc: &mut DescriptorEncoder<'_>) -> fmt::Result {
    counters(
        enc,
        &f::HTTP_AUTH_FAILURES,
        AuthFailure::ALL
            .iter()
            .map(|r| (vec![("reason", r.label())], h.auth_failures[*r as usize])),
    )?;
    counters(
        enc,
        &f::HTTP_TLS_HANDSHAKE_FAILURES,
        TlsFailure::ALL
            .iter()
            .map(|r| (vec![("reason", r.label())], h.tls_failures[*r as usize])),
    )
}

fn health(health: &[CaptureHealth], enc: &mut DescriptorEncoder<'_>) -> fmt::Result {
    let workers: Vec<String> = health.iter().map(|h| h.worker.to_string()).collect();
    let series = |v: &dyn Fn(&CaptureHealth) -> u64| -> Vec<(Labels<'_>, u64)> {
        health
            .iter()
            .zip(&workers)
            .map(|(h, w)| {
                (
                    vec![("interface", h.iface.as_str()), ("worker", w.as_str())],
                    v(h),
                )
            })
            .collect()
    };
    counters(enc, &f::CAPTURE_PACKETS, series(&|h| h.packets))?;
    let mut drops = series(&|h| h.kernel_drops);
    for d in &mut drops {
        d.0.push(("where", "kernel"));
    }
    for (mut labels, v) in series(&|h| h.interface_drops) {
        labels.push(("where", "interface"));
        drops.push((labels, v));
    }
    counters(enc, &f::CAPTURE_DROPPED_PACKETS, drops)?;
    counters(enc, &f::CAPTURE_ERRORS, series(&|h| h.errors))?;
    gauges(
        enc,
        &f::CAPTURE_UP,
        series(&|h| u64::from(h.up))
            .into_iter()
            .map(|(l, v)| (l, v as f64)),
    )
}

fn writers(w: &WriterCounts, enc: &mut DescriptorEncoder<'_>) -> fmt::Result {
    counters(
        enc,
        &f::RSSAC002_FILES_WRITTEN,
        [(vec![], w.rssac002_files)],
    )?;
    counters(
        enc,
        &f::RSSAC002_WRITE_ERRORS,
        [(vec![], w.rssac002_errors)],
    )?;
    counters(enc, &f::STATE_FILES_WRITTEN, [(vec![], w.state_files)])?;
    counters(enc, &f::STATE_WRITE_ERRORS, [(vec![], w.state_errors)])?;
    counters(
        enc,
        &f::PARQUET_FILES_WRITTEN,
        by(
            "table",
            [
                ("intervals", w.parquet_files),
                ("queries", w.parquet_query_files),
            ],
        ),
    )?;
    counters(
        enc,
        &f::PARQUET_WRITE_ERRORS,
        by(
            "table",
            [
                ("intervals", w.parquet_errors),
                ("queries", w.parquet_query_errors),
            ],
        ),
    )?;
    counters(
        enc,
        &f::PARQUET_QUERY_ROWS_WRITTEN,
        [(vec![], w.parquet_query_rows)],
    )?;
    counters(
        enc,
        &f::PARQUET_QUERY_ROWS_DROPPED,
        [(vec![], w.parquet_query_rows_dropped)],
    )
}

/// The dnstap input's families (only when a dnstap socket is configured). Labels come from
/// fixed tables: bounded cardinality.
fn dnstap(t: &Stats, enc: &mut DescriptorEncoder<'_>) -> fmt::Result {
    counters(
        enc,
        &f::DNSTAP_CONNECTIONS,
        [(vec![], t.connections_accepted)],
    )?;
    counters(
        enc,
        &f::DNSTAP_CONNECTIONS_REJECTED,
        [(vec![], t.connections_rejected)],
    )?;
    gauges(
        enc,
        &f::DNSTAP_CONNECTIONS_OPEN,
        [(vec![], t.connections_open as f64)],
    )?;
    counters(
        enc,
        &f::DNSTAP_FRAMES,
        by(
            "kind",
            [("data", t.data_frames), ("control", t.control_frames)],
        ),
    )?;
    counters(enc, &f::DNSTAP_RECEIVED, [(vec![], t.bytes)])?;
    counters(
        enc,
        &f::DNSTAP_MESSAGES,
        MESSAGE_TYPES
            .iter()
            .zip(&t.message_types)
            .skip(1)
            .map(|(l, &v)| (vec![("type", *l)], v)),
    )?;
    counters(
        enc,
        &f::DNSTAP_ERRORS,
        Problem::ALL
            .iter()
            .map(|p| (vec![("reason", p.label())], t.problems[*p as usize])),
    )
}
