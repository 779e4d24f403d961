//! The per-interval geography table (`intervals_geo`): queries by country and region of their
//! source per interval, from [`Intervals`](crate::aggregate::geo::interval::Intervals),
//! written wherever the per-interval table is, when the geography is on.
//!
//! Its root is the interval table's root with `_geo` appended (`/data/dns/intervals` →
//! `/data/dns/intervals_geo`), partitioned the same way (`date=YYYY-MM-DD/node=NAME/`): a
//! sibling, not a subdirectory, because readers take the interval root as one table
//! (`read_parquet('ROOT/**/*.parquet')` in DuckDB would add these rows' `queries` to the
//! interval table's; Spark's partition discovery would find two layouts).
//!
//! One row per interval × country (`scope` `country`, `key` the ISO 3166 code, `ZZ` unknown)
//! and per interval × configured region (`scope` `region`, `key` its name: the sum of its
//! countries in that interval). No AS, and no distinct sources (see the module of
//! [`Intervals`](crate::aggregate::geo::interval::Intervals)).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use parquet::file::metadata::KeyValue;

use super::{
    Column, ExportError, Open, Values, check_node, count, date, micros, part_name, partition,
    str_col,
};
use crate::aggregate::geo::interval::{IntervalCounts, IntervalRow};
use crate::aggregate::geo::{Region, country_code};

/// Schema of the per-interval geography.
pub const GEO_INTERVAL_SCHEMA: &str = "message dnsobs_intervals_geo {
    REQUIRED BYTE_ARRAY node (STRING);
    REQUIRED INT64 interval_start (TIMESTAMP(MICROS,true));
    REQUIRED INT32 interval_seconds;
    REQUIRED BYTE_ARRAY scope (STRING);
    REQUIRED BYTE_ARRAY key (STRING);
    REQUIRED INT64 queries;
    REQUIRED INT64 queries_do;
    REQUIRED INT64 queries_edns;
    REQUIRED INT64 queries_tcp;
    REQUIRED INT64 queries_ipv6;
    REQUIRED INT64 responses_nxdomain;
}";

/// The table's root beside the interval table's root `dir`: `dir` with `_geo` appended to its
/// last component (made absolute first when it has none, as `.` or `..`).
pub fn geo_root(dir: &Path) -> PathBuf {
    fn named(p: &Path) -> Option<PathBuf> {
        let mut n = p.file_name()?.to_os_string();
        n.push("_geo");
        Some(p.with_file_name(n))
    }
    if let Some(p) = named(dir) {
        return p;
    }
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    let mut p = PathBuf::new();
    for c in abs.components() {
        match c {
            std::path::Component::ParentDir => {
                p.pop();
            }
            std::path::Component::CurDir => {}
            c => p.push(c),
        }
    }
    named(&p).unwrap_or_else(|| p.join("intervals_geo"))
}

/// One output row.
struct Row<'a> {
    start_ns: u64,
    scope: &'static str,
    key: std::borrow::Cow<'a, str>,
    counts: IntervalCounts,
}

/// The rows of `rows` (by interval start, then country) with, after each interval's countries,
/// its non-empty regions.
fn with_regions<'a>(rows: &[IntervalRow], regions: &'a [Region]) -> Vec<Row<'a>> {
    let mut out = Vec::with_capacity(rows.len());
    let mut i = 0;
    while i < rows.len() {
        let start_ns = rows[i].start_ns;
        let mut end = i;
        while end < rows.len() && rows[end].start_ns == start_ns {
            end += 1;
        }
        let interval = &rows[i..end];
        for r in interval {
            out.push(Row {
                start_ns,
                scope: "country",
                key: country_code(r.country).into(),
                counts: r.counts,
            });
        }
        for g in regions {
            let mut c = IntervalCounts::default();
            for r in interval.iter().filter(|r| g.countries.contains(&r.country)) {
                c.add(&r.counts);
            }
            if c != IntervalCounts::default() {
                out.push(Row {
                    start_ns,
                    scope: "region",
                    key: g.name.as_str().into(),
                    counts: c,
                });
            }
        }
        i = end;
    }
    out
}

/// Writes `rows` (sorted by interval start, as
/// [`Intervals::rows`](crate::aggregate::geo::interval::Intervals::rows) returns them) and
/// the `regions` they add up to as one file per UTC date under `root` (the table's own root:
/// [`geo_root`]). Returns the files written and the number of rows.
pub fn write_geo_intervals(
    root: &Path,
    node: &str,
    interval_seconds: u64,
    rows: &[IntervalRow],
    regions: &[Region],
) -> Result<(Vec<PathBuf>, usize), ExportError> {
    check_node(node)?;
    let all = with_regions(rows, regions);
    let mut by_date: BTreeMap<String, Vec<&Row<'_>>> = BTreeMap::new();
    for r in &all {
        by_date.entry(date(r.start_ns)).or_default().push(r);
    }
    let mut paths = Vec::new();
    for (d, rows) in by_date {
        let first = rows.first().map_or(0, |r| r.start_ns);
        let kv = vec![
            KeyValue::new("dnsobs.table".into(), "intervals_geo".to_owned()),
            KeyValue::new(
                "dnsobs.interval_seconds".into(),
                interval_seconds.to_string(),
            ),
        ];
        let f = Open::create(
            &partition(root, &d, node),
            &part_name(first),
            GEO_INTERVAL_SCHEMA,
            kv,
        )?;
        let c = |get: fn(&IntervalCounts) -> u64| {
            Column::new(Values::I64(
                rows.iter().map(|r| count(get(&r.counts))).collect(),
            ))
        };
        let cols = [
            Column::new(str_col(rows.iter().map(|_| node))),
            Column::new(Values::I64(
                rows.iter().map(|r| micros(r.start_ns)).collect(),
            )),
            Column::new(Values::I32(vec![
                i32::try_from(interval_seconds)
                    .unwrap_or(i32::MAX);
                rows.len()
            ])),
            Column::new(str_col(rows.iter().map(|r| r.scope))),
            Column::new(str_col(rows.iter().map(|r| r.key.as_ref()))),
            c(|c| c.queries),
            c(|c| c.queries_do),
            c(|c| c.queries_edns),
            c(|c| c.queries_tcp),
            c(|c| c.queries_ipv6),
            c(|c| c.responses_nxdomain),
        ];
        paths.push(f.write_whole(&cols, rows.len())?);
    }
    Ok((paths, all.len()))
}

/// Writes the per-interval geography of a snapshot beside the interval table under `dir`
/// (every interval it holds); `None` when the geography is off or keeps no intervals.
pub fn write_snapshot_geo(
    dir: &Path,
    node: &str,
    s: &crate::snapshot::Snapshot,
) -> Result<Option<(Vec<PathBuf>, usize)>, ExportError> {
    let Some(g) = &s.agg.geo else {
        return Ok(None);
    };
    if !g.intervals.enabled() {
        return Ok(None);
    }
    let rows = g.intervals.rows();
    let w = write_geo_intervals(
        &geo_root(dir),
        node,
        g.intervals.interval_seconds(),
        &rows,
        &g.db().regions,
    )?;
    Ok(Some(w))
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn roots_beside_the_interval_table() {
        assert_eq!(
            geo_root(Path::new("/data/dns/intervals")),
            Path::new("/data/dns/intervals_geo")
        );
        assert_eq!(
            geo_root(Path::new("/data/dns/intervals/")),
            Path::new("/data/dns/intervals_geo")
        );
        assert_eq!(geo_root(Path::new("out")), Path::new("out_geo"));
        let cwd = std::env::current_dir().expect("cwd");
        let mut want = cwd.file_name().expect("named").to_os_string();
        want.push("_geo");
        assert_eq!(geo_root(Path::new(".")), cwd.with_file_name(want));
        assert_eq!(geo_root(Path::new("/")), Path::new("/intervals_geo"));
    }

    #[test]
    fn regions_are_sums_of_their_countries_per_interval() {
        let c = |q: u64, d: u64| IntervalCounts {
            queries: q,
            queries_do: d,
            ..Default::default()
        };
        let (br, ar, de) = (
            crate::aggregate::geo::country_index("BR"),
            crate::aggregate::geo::country_index("AR"),
            crate::aggregate::geo::country_index("DE"),
        );
        let row = |start_ns, country, counts| IntervalRow {
            start_ns,
            country,
            counts,
        };
        let rows = [
            row(0, ar, c(1, 1)),
            row(0, br, c(2, 0)),
            row(0, de, c(4, 4)),
            row(60, de, c(8, 0)),
        ];
        let regions = [Region {
            name: "LACNIC".into(),
            countries: vec![ar, br],
        }];
        let got: Vec<(u64, &str, String, u64, u64)> = with_regions(&rows, &regions)
            .iter()
            .map(|r| {
                (
                    r.start_ns,
                    r.scope,
                    r.key.to_string(),
                    r.counts.queries,
                    r.counts.queries_do,
                )
            })
            .collect();
        let want = [
            (0, "country", "AR".to_owned(), 1, 1),
            (0, "country", "BR".to_owned(), 2, 0),
            (0, "country", "DE".to_owned(), 4, 4),
            (0, "region", "LACNIC".to_owned(), 3, 1),
            (60, "country", "DE".to_owned(), 8, 0),
        ];
        assert_eq!(got, want);
    }
}
