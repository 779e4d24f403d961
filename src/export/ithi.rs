//! ITHI metrics as ithitools' CSV (the Prometheus families and report sections of ITHI,
//! resolver hygiene and ASN diversity live with their output formats).
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

use std::io::{self, Write};

use crate::aggregate::ithi::Row;

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

pub use crate::time::utc_date;

/// The CSV of a snapshot: its ITHI rows, dated by the first packet's UTC day.
pub fn write_snapshot(w: impl Write, s: &crate::snapshot::Snapshot) -> io::Result<()> {
    let a = &s.agg;
    let date = utc_date(if a.frames > 0 { a.first_ns } else { 0 });
    let version = concat!("dnsobs-", env!("CARGO_PKG_VERSION"));
    write_csv(w, &date, version, &a.ithi.rows())
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
