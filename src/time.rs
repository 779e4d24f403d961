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

/// Day number (days since 1970-01-01) of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`); `None` before 1970.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> Option<u32> {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    u32::try_from(era * 146_097 + doe - 719_468).ok()
}

/// Why a time given on the command line is not an RFC 3339 time.
#[derive(Debug, thiserror::Error)]
#[error(
    "{0:?} is not an RFC 3339 time after 1970 (e.g. 2026-11-24T18:59:30Z, 2026-11-24T19:59:30.5+01:00)"
)]
pub struct TimeError(String);

/// Nanoseconds since the epoch of an RFC 3339 time: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`
/// (`T` may be `t` or a space, `Z` may be `z`).
pub fn parse_rfc3339(s: &str) -> Result<u64, TimeError> {
    rfc3339(s.trim()).ok_or_else(|| TimeError(s.to_owned()))
}

fn rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let sep = |i: usize, c: &[u8]| b.get(i).is_some_and(|x| c.contains(x));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let month_days = [
        31,
        28 + u32::from(leap(y)),
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&mo) || d == 0 || d > month_days[mo as usize - 1] {
        return None;
    }
    // 60: a leap second, as RFC 3339 allows; it counts as the next second's start.
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let (frac_ns, i) = fraction(b, 19)?;
    let offset_s = utc_offset(s.get(i..)?)?;
    let day = i64::from(days_from_civil(i64::from(y), mo, d)?);
    let secs = day * 86_400 + i64::from(h * 3600 + mi * 60 + sec) - offset_s;
    let secs = u64::try_from(secs).ok()?;
    secs.checked_mul(1_000_000_000)?.checked_add(frac_ns)
}

/// The nanoseconds of an optional `.digits` at `b[i..]` (digits past the ninth ignored), and
/// where it ends.
fn fraction(b: &[u8], i: usize) -> Option<(u64, usize)> {
    if b.get(i) != Some(&b'.') {
        return Some((0, i));
    }
    let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let mut ns = 0u64;
    for k in 0..9 {
        let digit = if k < digits {
            u64::from(b[i + 1 + k] - b'0')
        } else {
            0
        };
        ns = ns * 10 + digit;
    }
    Some((ns, i + 1 + digits))
}

/// Seconds east of UTC of `Z` or `±HH:MM`.
fn utc_offset(o: &str) -> Option<i64> {
    if o == "Z" || o == "z" {
        return Some(0);
    }
    let b = o.as_bytes();
    if b.len() != 6 || !matches!(b[0], b'+' | b'-') || b[3] != b':' {
        return None;
    }
    let two = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = o.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (h, m) = (two(1..3)?, two(4..6)?);
    if h > 23 || m > 59 {
        return None;
    }
    Some(if b[0] == b'-' {
        -(h * 3600 + m * 60)
    } else {
        h * 3600 + m * 60
    })
}

fn leap(y: u32) -> bool {
    y.is_multiple_of(4) && (!y.is_multiple_of(100) || y.is_multiple_of(400))
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

    #[test]
    fn rfc3339_times() {
        let ok = [
            ("1970-01-01T00:00:00Z", 0),
            ("2026-11-24T18:59:30Z", 1_795_546_770_000_000_000),
            ("2026-11-24t18:59:30z", 1_795_546_770_000_000_000),
            ("2026-11-24 19:59:30+01:00", 1_795_546_770_000_000_000),
            ("2026-11-24T18:29:30-00:30", 1_795_546_770_000_000_000),
            ("2026-11-24T18:59:30.5Z", 1_795_546_770_500_000_000),
            ("2026-11-24T18:59:30.000000001Z", 1_795_546_770_000_000_001),
            ("2026-11-24T18:59:30.1234567891Z", 1_795_546_770_123_456_789),
            ("2024-02-29T00:00:00Z", 1_709_164_800_000_000_000),
        ];
        for (s, want) in ok {
            assert_eq!(parse_rfc3339(s).ok(), Some(want), "{s}");
        }
        for bad in [
            "",
            "2026-11-24",
            "2026-11-24T18:59:30",
            "2026-11-24T18:59Z",
            "2026-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2026-11-24T24:00:00Z",
            "2026-11-24T18:59:30.Z",
            "2026-11-24T18:59:30+0100",
            "1969-12-31T23:59:59Z",
            "+026-11-24T18:59:30Z",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(days_from_civil(2025, 1, 1), Some(20_089));
        for day in [0, 11_016, 19_782, 20_089, 40_000] {
            let (y, m, d) = civil(day);
            assert_eq!(days_from_civil(y, m, d), Some(day));
        }
    }
}
