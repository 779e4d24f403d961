//! ITHI metrics as ithitools' CSV, and the Prometheus families and JSON sections of the
//! resolver-side indicators (ITHI, resolver hygiene, ASN diversity).
//!
//! CSV layout, as ithitools' `ComputeM3::Write` / `ComputeM8::Write` print it
//! (`"M3.1,%s,%s, , %6f,\n"` — metric, date, version, key, value, trailing comma; the key
//! column carries a leading space and is a single space when empty; values with six decimals):
//!
//! ```text
//! M3.1,2026-11-25,dnsobs-0.1.0, , 0.304867,
//! M3.3.2,2026-11-25,dnsobs-0.1.0, home, 0.000468,
//! ```
//!
//! ithitools prints M8.1 without the key column (`"M8.1,%s,%s, %6f,\n"`); dnsobs keeps the
//! five columns on every row so one parser reads them all.

use std::fmt;
use std::io::{self, Write};

use prometheus_client::encoding::DescriptorEncoder;
use serde_json::{Map, Value, json};

use crate::aggregate::asn::Asn;
use crate::aggregate::hygiene::{self, Hygiene};
use crate::aggregate::ithi::{Ithi, Row};
use crate::export::prometheus::{counters, gauges};

/// Writes ITHI rows as ithitools' CSV. `date` is the UTC day (`YYYY-MM-DD`) of the data,
/// `version` the producer's (`dnsobs-<version>`).
pub fn write_csv(mut w: impl Write, date: &str, version: &str, rows: &[Row]) -> io::Result<()> {
    for r in rows {
        writeln!(
            w,
            "{},{date},{version}, {}, {:.6},",
            r.metric, r.key, r.value
        )?;
    }
    w.flush()
}

/// `YYYY-MM-DD` of a time in ns since the epoch (UTC).
pub fn utc_date(ts_ns: u64) -> String {
    let days = (ts_ns / 1_000_000_000 / 86_400) as i64;
    // Civil from days (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `dnsobs_ithi{metric, key}`: every ITHI row as a gauge. Keys are bounded: at most 7
/// special-use and 11 leaked TLD names (classify's fixed lists), 9 lengths, 9 option codes.
pub fn encode_ithi(i: &Ithi, enc: &mut DescriptorEncoder<'_>) -> fmt::Result {
    let rows = i.rows();
    gauges(
        enc,
        "dnsobs_ithi",
        "ICANN ITHI root (M3) and authoritative (M8) metrics, as ithitools names them (shares, 0-1).",
        None,
        rows.iter()
            .map(|r| (vec![("metric", r.metric), ("key", r.key.as_str())], r.value)),
    )?;
    counters(
        enc,
        "dnsobs_ithi_repeat_cache_evictions",
        "M3.2 repeat-cache entries overwritten within their TTL (M3.2 may be underestimated by this many).",
        None,
        [(vec![], i.repeat_evictions)],
    )
}

/// `dnsobs_resolver_hygiene_sources{class}`, `dnsobs_resolver_hygiene_eligible_sources{ip_version}`,
/// `dnsobs_resolver_hygiene_evictions_total`.
pub fn encode_hygiene(h: &Hygiene, enc: &mut DescriptorEncoder<'_>) -> fmt::Result {
    let c = h.classes();
    gauges(
        enc,
        "dnsobs_resolver_hygiene_sources",
        "Sources (with enough queries, in the bounded per-worker tables) in each hygiene class.",
        None,
        hygiene::Class::ALL
            .iter()
            .map(|k| (vec![("class", k.label())], c[*k as usize] as f64)),
    )?;
    let e = h.eligible();
    gauges(
        enc,
        "dnsobs_resolver_hygiene_eligible_sources",
        "Sources classified for hygiene (enough queries), by IP version.",
        None,
        [
            (vec![("ip_version", "4")], e[0] as f64),
            (vec![("ip_version", "6")], e[1] as f64),
        ],
    )?;
    counters(
        enc,
        "dnsobs_resolver_hygiene_evictions",
        "Sources evicted from the hygiene tables to make room (least recently seen).",
        None,
        [(vec![], h.evictions)],
    )
}

/// `dnsobs_asn_table_loaded`, and with a table `dnsobs_unique_source_asns`,
/// `dnsobs_top_asn_queries{asn}` (k series), `dnsobs_asn_queries{match}`.
pub fn encode_asn(a: Option<&Asn>, k: usize, enc: &mut DescriptorEncoder<'_>) -> fmt::Result {
    gauges(
        enc,
        "dnsobs_asn_table_loaded",
        "1 when an IP-to-ASN table is configured (aggregate.asn_table), else 0 and no ASN families.",
        None,
        [(vec![], f64::from(u8::from(a.is_some())))],
    )?;
    let Some(a) = a else { return Ok(()) };
    gauges(
        enc,
        "dnsobs_unique_source_asns",
        "Distinct ASNs of query sources (exact up to the configured cap).",
        None,
        [(vec![], a.distinct() as f64)],
    )?;
    let top: Vec<(String, u64)> = a
        .top(k)
        .into_iter()
        .map(|(asn, n, _)| (asn.to_string(), n))
        .collect();
    gauges(
        enc,
        "dnsobs_top_asn_queries",
        "Queries from the top-k source ASNs (Space-Saving estimate).",
        None,
        top.iter()
            .map(|(asn, n)| (vec![("asn", asn.as_str())], *n as f64)),
    )?;
    counters(
        enc,
        "dnsobs_asn_queries",
        "Queries whose source address matched a prefix of the ASN table, or none.",
        None,
        [
            (vec![("match", "yes")], a.matched),
            (vec![("match", "no")], a.unmatched),
        ],
    )
}

/// The `"ithi"` JSON section: `{"M3.1": 0.3, "M3.3.2": {"home": 0.01}, …}`.
pub fn ithi_json(i: &Ithi) -> Value {
    let mut m = Map::new();
    for r in i.rows() {
        if r.key.is_empty() {
            m.insert(r.metric.to_owned(), json!(r.value));
        } else if let Value::Object(sub) = m
            .entry(r.metric.to_owned())
            .or_insert_with(|| Value::Object(Map::new()))
        {
            sub.insert(r.key, json!(r.value));
        }
    }
    Value::Object(m)
}

/// The `"resolver_hygiene"` JSON section.
pub fn hygiene_json(h: &Hygiene) -> Value {
    let c = h.classes();
    let classes: Map<String, Value> = hygiene::Class::ALL
        .iter()
        .map(|k| (k.label().to_owned(), json!(c[*k as usize])))
        .collect();
    let e = h.eligible();
    json!({
        "classes": classes,
        "eligible_sources": {"4": e[0], "6": e[1]},
        "evictions": h.evictions,
    })
}

/// The `"asn"` JSON section (`{"enabled": false}` without a table).
pub fn asn_json(a: Option<&Asn>, k: usize) -> Value {
    let Some(a) = a else {
        return json!({"enabled": false, "reason": "no aggregate.asn_table configured"});
    };
    let top: Vec<Value> = a
        .top(k)
        .into_iter()
        .map(|(asn, n, e)| json!({"asn": asn, "queries": n, "max_error": e}))
        .collect();
    json!({
        "enabled": true,
        "prefixes": a.table().prefixes,
        "unique_source_asns": a.distinct(),
        "unique_source_asns_exact": !a.saturated,
        "queries_matched": a.matched,
        "queries_unmatched": a.unmatched,
        "top": top,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_layout_is_ithitools() {
        let rows = [
            Row {
                metric: "M3.1",
                key: String::new(),
                value: 0.3048666,
            },
            Row {
                metric: "M3.3.2",
                key: "home".into(),
                value: 0.01,
            },
        ];
        let mut out = Vec::new();
        write_csv(&mut out, "2026-11-25", "dnsobs-0.1.0", &rows).expect("present");
        assert_eq!(
            String::from_utf8(out).expect("present"),
            "M3.1,2026-11-25,dnsobs-0.1.0, , 0.304867,\nM3.3.2,2026-11-25,dnsobs-0.1.0, home, 0.010000,\n"
        );
        assert_eq!(utc_date(1_764_000_000 * 1_000_000_000), "2025-11-24");
        assert_eq!(utc_date(0), "1970-01-01");
    }
}
