//! Time in one place: the wall clock in nanoseconds since the epoch, and UTC calendar dates
//! of those nanoseconds (proleptic Gregorian, no time-zone database: every figure of dnsobs is
//! in UTC). Used by the capture layer (dnstap frames without a time), the aggregates (UTC days)
//! and the exporters (RSSAC002 periods, ITHI dates, Parquet partitions).

/// Nanoseconds in a UTC day.
pub const NS_PER_DAY: u64 = 86_400 * 1_000_000_000;

/// The current time in ns since the epoch (0 if the clock is before 1970).
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The UTC day number (days since 1970-01-01) of a time in ns since the epoch.
pub fn day_of(ts_ns: u64) -> u32 {
    (ts_ns / NS_PER_DAY) as u32
}

/// `(year, month, day)` of a day number (days since 1970-01-01), proleptic Gregorian.
/// (H. Hinnant's `civil_from_days`.)
pub fn civil(day: u32) -> (i64, u32, u32) {
    let z = i64::from(day) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `YYYY-MM-DD` of a day number.
pub fn date(day: u32) -> String {
    let (y, m, d) = civil(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DD` of a time in ns since the epoch (UTC).
pub fn utc_date(ts_ns: u64) -> String {
    date(day_of(ts_ns))
}

/// `YYYYMMDD` of a day number.
pub fn yyyymmdd(day: u32) -> String {
    let (y, m, d) = civil(day);
    format!("{y:04}{m:02}{d:02}")
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a time in ns since the epoch (whole seconds, UTC).
pub fn iso8601(ts_ns: u64) -> String {
    let secs = ts_ns / 1_000_000_000;
    let s = secs % 86_400;
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        date((secs / 86_400) as u32),
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(19_782), (2024, 2, 29));
        assert_eq!(civil(20_089), (2025, 1, 1));
        assert_eq!(civil(11_016), (2000, 2, 29));
        assert_eq!(yyyymmdd(20_089), "20250101");
        assert_eq!(utc_date(1_764_000_000 * 1_000_000_000), "2025-11-24");
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            iso8601(1_700_000_000 * 1_000_000_000 + 5),
            "2023-11-14T22:13:20Z"
        );
    }

    #[test]
    fn day_boundaries() {
        assert_eq!(day_of(NS_PER_DAY - 1), 0);
        assert_eq!(day_of(NS_PER_DAY), 1);
    }
}
