//! The geography per interval of capture time: queries by the country of their source (and
//! NXDOMAIN responses by the country of their destination) in each interval of the time series
//! ([`crate::aggregate::series`]: the same width, the same cap on intervals held), for the
//! Parquet table `intervals_geo` ([`crate::export::parquet::geo`]).
//!
//! HOT PATH, at the cost of the cumulative counters alone: a message's interval number rides
//! in its ring item, found in `Geo::observe` without a division while capture times stay in
//! one interval ([`Clock`]), and `Geo::apply` increments the **current interval's**
//! per-country array instead of the cumulative one. When an applied message belongs to another
//! interval (the next one, or an earlier one: late messages), the current array *rolls*: each
//! country touched since the last roll is added into the cumulative counters and into the
//! stored rows of the interval it counted, then zeroed. A roll costs O(countries touched): the
//! touched indices are listed as they are first incremented, so capture times alternating
//! between two intervals cost one small roll per message, never a pass over every country.
//!
//! The cumulative counters (`Geo::countries`) are exact once the current array is *settled*
//! (rolled into them without changing interval): `Geo::flush` settles, and `Geo::merge` takes
//! the other side's unsettled array too, then settles.
//!
//! Not per interval:
//! - the ASes: cumulative only (up to 65,536 of them: per interval they would be a table of
//!   their own, and the per-query cost of a second keyed table);
//! - `sources_estimate`: a worker counts a source once, in the interval it first sees it, so
//!   per interval it would be "sources new to this worker", not the interval's distinct
//!   sources, and it would not add up across workers or nodes;
//! - regions: sums of their countries, derived when the rows are written.
//!
//! Bounded: at most `max_intervals` intervals are held (the series' cap; 0: none, only the
//! cumulative counters are kept). Past it the oldest is dropped and counted
//! ([`Intervals::evicted`]); its counts stay in the cumulative counters. An interval's rows are
//! allocated when it is first stored (once per interval and worker, never per message).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{COUNTRIES, Counts};
use crate::aggregate::series;

// A message waiting in the worker's ring stays within half a cache line.
const _: () = assert!(std::mem::size_of::<super::Item>() <= 32);

const NS: u64 = 1_000_000_000;

/// The counters of one country in one interval (as [`Counts`], without `sources_estimate`:
/// see the module).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntervalCounts {
    /// Queries from it.
    pub queries: u64,
    /// Queries with the DO bit.
    pub queries_do: u64,
    /// Queries with an OPT record.
    pub queries_edns: u64,
    /// Queries over TCP.
    pub queries_tcp: u64,
    /// Queries over IPv6.
    pub queries_ipv6: u64,
    /// NXDOMAIN responses sent to it.
    pub responses_nxdomain: u64,
}

impl IntervalCounts {
    /// Adds `o`.
    pub fn add(&mut self, o: &Self) {
        self.queries += o.queries;
        self.queries_do += o.queries_do;
        self.queries_edns += o.queries_edns;
        self.queries_tcp += o.queries_tcp;
        self.queries_ipv6 += o.queries_ipv6;
        self.responses_nxdomain += o.responses_nxdomain;
    }

    fn of(c: &Counts) -> Self {
        Self {
            queries: c.queries,
            queries_do: c.queries_do,
            queries_edns: c.queries_edns,
            queries_tcp: c.queries_tcp,
            queries_ipv6: c.queries_ipv6,
            responses_nxdomain: c.responses_nxdomain,
        }
    }
}

/// One interval × country.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntervalRow {
    /// Interval start, ns since the epoch.
    pub start_ns: u64,
    /// Country index ([`super::country_index`]).
    pub country: u16,
    /// Its counters.
    pub counts: IntervalCounts,
}

/// The per-interval geography as plain data, for day state files.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntervalsState {
    /// Interval width (0: not kept).
    pub interval_seconds: u64,
    /// The rows, by interval start, then country.
    pub rows: Vec<IntervalRow>,
    /// Intervals dropped past the cap.
    pub evicted_intervals: u64,
}

/// Interval numbers of capture times: one division when a time leaves the current interval,
/// none while times stay in it (the times in `[start_ns, start_ns + span_ns)` are `number`).
#[derive(Clone, Copy, Debug)]
struct Clock {
    /// Interval width; 0: off (every time is interval 0).
    width_ns: u64,
    start_ns: u64,
    span_ns: u64,
    number: u32,
}

impl Clock {
    fn new(width_ns: u64) -> Self {
        // An empty span: the first time locates its interval.
        Self {
            width_ns,
            start_ns: 0,
            span_ns: 0,
            number: 0,
        }
    }

    #[inline]
    fn number(&mut self, ts_ns: u64) -> u32 {
        // One comparison: a time before `start_ns` wraps to more than any span.
        if ts_ns.wrapping_sub(self.start_ns) >= self.span_ns {
            self.locate(ts_ns);
        }
        self.number
    }

    #[cold]
    fn locate(&mut self, ts_ns: u64) {
        if self.width_ns == 0 {
            (self.start_ns, self.span_ns, self.number) = (0, u64::MAX, 0);
            return;
        }
        let k = ts_ns / self.width_ns;
        match u32::try_from(k) {
            Ok(n) => {
                (self.start_ns, self.span_ns, self.number) = (k * self.width_ns, self.width_ns, n)
            }
            // Past 2106 at one-second intervals: everything later counts in the last number.
            Err(_) => {
                let start = u64::from(u32::MAX) * self.width_ns;
                (self.start_ns, self.span_ns, self.number) = (start, u64::MAX - start, u32::MAX);
            }
        }
    }
}

/// One interval's rows: `(country index, counters)` by country index.
type Rows = Vec<(u16, IntervalCounts)>;

/// The per-interval geography of one worker, or merged.
#[derive(Clone, Debug)]
pub struct Intervals {
    clock: Clock,
    /// Intervals held at most; 0: none (only the cumulative counters are kept).
    max: usize,
    /// The current interval's counters, by country index, and its number.
    cur: Box<[Counts]>,
    cur_k: u32,
    /// The country indices non-zero in `cur`, each once.
    touched: Vec<u16>,
    /// The intervals held, by number.
    held: BTreeMap<u32, Rows>,
    /// Intervals dropped past the cap (each time an interval's counts were dropped).
    pub evicted: u64,
}

impl Intervals {
    /// Per-interval counters as the series `s` keeps them (none when it is off).
    pub fn new(s: &series::Settings) -> Self {
        let width_ns = if s.max_intervals > 0 {
            u64::from(s.interval_seconds.max(1)) * NS
        } else {
            0
        };
        Self {
            clock: Clock::new(width_ns),
            max: s.max_intervals,
            cur: vec![Counts::default(); COUNTRIES].into_boxed_slice(),
            cur_k: 0,
            touched: Vec::with_capacity(COUNTRIES),
            held: BTreeMap::new(),
            evicted: 0,
        }
    }

    /// Only the cumulative counters.
    pub fn off() -> Self {
        Self::new(&series::Settings {
            max_intervals: 0,
            ..Default::default()
        })
    }

    /// Whether intervals are kept.
    pub fn enabled(&self) -> bool {
        self.max > 0
    }

    /// Interval width in seconds (0 when off).
    pub fn interval_seconds(&self) -> u64 {
        self.clock.width_ns / NS
    }

    /// The interval number of capture time `ts_ns` (0 when off).
    #[inline]
    pub(super) fn number(&mut self, ts_ns: u64) -> u32 {
        self.clock.number(ts_ns)
    }

    /// Starts loading the current counters of country `cc` (a hint only).
    #[inline(always)]
    pub(super) fn prefetch(&self, cc: u16) {
        if let Some(c) = self.cur.get(usize::from(cc)) {
            crate::aggregate::prefetch(c);
        }
    }

    /// The counters of country `cc` in interval `k`, rolling the current array first if it
    /// counts another interval.
    #[inline]
    pub(super) fn counts<'a>(
        &'a mut self,
        countries: &mut [Counts],
        k: u32,
        cc: u16,
    ) -> &'a mut Counts {
        if k != self.cur_k {
            self.roll(countries, k);
        }
        // `cc` < COUNTRIES: a country index (as for the cumulative counters).
        let c = &mut self.cur[usize::from(cc)];
        // Every caller increments `queries` or `responses_nxdomain`.
        if c.queries == 0 && c.responses_nxdomain == 0 {
            self.touched.push(cc);
        }
        c
    }

    #[cold]
    #[inline(never)]
    fn roll(&mut self, countries: &mut [Counts], k: u32) {
        self.settle(countries);
        self.cur_k = k;
    }

    /// Adds the current array into `countries` (the cumulative counters) and into the rows of
    /// its interval, and zeroes it: O(countries touched).
    pub(super) fn settle(&mut self, countries: &mut [Counts]) {
        if self.touched.is_empty() {
            return;
        }
        let Self {
            cur,
            cur_k,
            touched,
            held,
            max,
            evicted,
            ..
        } = self;
        let mut rows = slot(held, *max, evicted, *cur_k);
        for &cc in touched.iter() {
            let Some(c) = cur.get_mut(usize::from(cc)) else {
                continue;
            };
            let c = std::mem::take(c);
            if let Some(total) = countries.get_mut(usize::from(cc)) {
                total.add(&c);
            }
            if let Some(r) = &mut rows {
                add_row(r, cc, &IntervalCounts::of(&c));
            }
        }
        touched.clear();
    }

    /// Adds another worker's intervals, and its unsettled current array into `countries`
    /// (`self` is settled first). `rows`: false to add its counters only (a summary).
    pub(super) fn merge(&mut self, countries: &mut [Counts], o: &Self, rows: bool) {
        debug_assert!(!rows || !o.enabled() || o.clock.width_ns == self.clock.width_ns);
        self.settle(countries);
        let rows = rows && self.enabled();
        if !o.touched.is_empty() {
            let mut mine = if rows {
                slot(&mut self.held, self.max, &mut self.evicted, o.cur_k)
            } else {
                None
            };
            for &cc in &o.touched {
                let i = usize::from(cc);
                let (Some(c), Some(total)) = (o.cur.get(i), countries.get_mut(i)) else {
                    continue;
                };
                total.add(c);
                if let Some(r) = &mut mine {
                    add_row(r, cc, &IntervalCounts::of(c));
                }
            }
        }
        if rows {
            for (&k, theirs) in &o.held {
                if let Some(mine) = slot(&mut self.held, self.max, &mut self.evicted, k) {
                    for (cc, c) in theirs {
                        add_row(mine, *cc, c);
                    }
                }
            }
        }
        self.evicted += o.evicted;
    }

    /// Forgets every interval and counter (keeps the allocations of the current array).
    pub(super) fn clear(&mut self) {
        for &cc in &self.touched {
            if let Some(c) = self.cur.get_mut(usize::from(cc)) {
                *c = Counts::default();
            }
        }
        self.touched.clear();
        self.held.clear();
        self.evicted = 0;
    }

    /// The rows held, by interval start then country index (of settled counters: after
    /// `Geo::flush` or a merge).
    pub fn rows(&self) -> Vec<IntervalRow> {
        let w = self.clock.width_ns;
        self.held
            .iter()
            .flat_map(|(&k, rows)| {
                rows.iter().map(move |&(country, counts)| IntervalRow {
                    start_ns: u64::from(k) * w,
                    country,
                    counts,
                })
            })
            .collect()
    }

    /// Removes the intervals that end at or before `before_ns` and returns their rows (the
    /// daemon's periodic export); [`Intervals::restore`] puts them back.
    pub fn take_before(&mut self, before_ns: u64) -> Vec<IntervalRow> {
        let Some(first_kept) = before_ns.checked_div(self.clock.width_ns) else {
            return Vec::new();
        };
        let taken = match u32::try_from(first_kept) {
            Ok(k) => {
                let kept = self.held.split_off(&k);
                std::mem::replace(&mut self.held, kept)
            }
            Err(_) => std::mem::take(&mut self.held),
        };
        let w = self.clock.width_ns;
        taken
            .into_iter()
            .flat_map(|(k, rows)| {
                rows.into_iter().map(move |(country, counts)| IntervalRow {
                    start_ns: u64::from(k) * w,
                    country,
                    counts,
                })
            })
            .collect()
    }

    /// Adds rows (taken by [`Intervals::take_before`], or from a state) into the intervals held.
    pub fn restore(&mut self, rows: &[IntervalRow]) {
        let w = self.clock.width_ns;
        if w == 0 {
            return;
        }
        for r in rows {
            let k = u32::try_from(r.start_ns / w).unwrap_or(u32::MAX);
            if let Some(mine) = slot(&mut self.held, self.max, &mut self.evicted, k) {
                add_row(mine, r.country, &r.counts);
            }
        }
    }

    /// As plain data (settled counters).
    pub fn state(&self) -> IntervalsState {
        IntervalsState {
            interval_seconds: self.interval_seconds(),
            rows: self.rows(),
            evicted_intervals: self.evicted,
        }
    }

    /// Adds a state's rows; refused if they are of another width.
    pub fn merge_state(&mut self, s: &IntervalsState) -> Result<(), String> {
        self.evicted += s.evicted_intervals;
        if !self.enabled() || s.rows.is_empty() {
            return Ok(());
        }
        if s.interval_seconds != self.interval_seconds() {
            return Err(format!(
                "geography intervals of {} s, where {} s are merged",
                s.interval_seconds,
                self.interval_seconds()
            ));
        }
        if let Some(r) = s.rows.iter().find(|r| usize::from(r.country) >= COUNTRIES) {
            return Err(format!(
                "geography interval country index {} out of range",
                r.country
            ));
        }
        self.restore(&s.rows);
        Ok(())
    }
}

/// The rows of interval `k`, stored if need be: `None` when intervals are off, or when all
/// `max` held are newer than `k` (then `k`'s counts are dropped and counted). Storing a new
/// interval past the cap drops the oldest (counted).
fn slot<'a>(
    held: &'a mut BTreeMap<u32, Rows>,
    max: usize,
    evicted: &mut u64,
    k: u32,
) -> Option<&'a mut Rows> {
    if max == 0 {
        return None;
    }
    if !held.contains_key(&k) && held.len() >= max {
        *evicted += 1;
        match held.first_key_value() {
            Some((&oldest, _)) if oldest < k => {
                held.pop_first();
            }
            _ => return None,
        }
    }
    Some(held.entry(k).or_default())
}

/// Adds `c` into the row of country `cc` (kept in country order).
fn add_row(rows: &mut Rows, cc: u16, c: &IntervalCounts) {
    match rows.binary_search_by_key(&cc, |r| r.0) {
        Ok(i) => rows[i].1.add(c),
        Err(i) => rows.insert(i, (cc, *c)),
    }
}

//============ Testing =======================================================

#[cfg(test)]
mod test {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::super::{Geo, GeoDb, Live, Settings, UNKNOWN, country_index};
    use super::*;
    use crate::decode::dns::{Edns, Header, Message};
    use crate::decode::{MsgCtx, Transport};

    const MIN: u64 = 60 * NS;

    fn settings(max_intervals: usize) -> series::Settings {
        series::Settings {
            interval_seconds: 60,
            max_intervals,
        }
    }

    /// A message: (interval number, country index, DO bit, NXDOMAIN response).
    type Event = (u32, u16, bool, bool);

    /// Counts `events` at the level of the counters (what `Geo::apply` does), settling at the
    /// end; returns the cumulative counters.
    fn apply(iv: &mut Intervals, events: &[Event]) -> Vec<Counts> {
        let mut countries = vec![Counts::default(); COUNTRIES];
        for &(k, cc, dnssec, nx) in events {
            let c = iv.counts(&mut countries, k, cc);
            if nx {
                c.responses_nxdomain += 1;
            } else {
                c.queries += 1;
                c.queries_do += u64::from(dnssec);
            }
        }
        iv.settle(&mut countries);
        countries
    }

    /// The expected rows, counted independently: `(interval, country) → (queries, DO, NX)`.
    fn expected(events: &[Event]) -> BTreeMap<(u64, u16), (u64, u64, u64)> {
        let mut m = BTreeMap::new();
        for &(k, cc, dnssec, nx) in events {
            let e: &mut (u64, u64, u64) = m.entry((u64::from(k) * MIN, cc)).or_default();
            if nx {
                e.2 += 1;
            } else {
                e.0 += 1;
                e.1 += u64::from(dnssec);
            }
        }
        m
    }

    fn got(rows: &[IntervalRow]) -> BTreeMap<(u64, u16), (u64, u64, u64)> {
        rows.iter()
            .map(|r| {
                let c = &r.counts;
                (
                    (r.start_ns, r.country),
                    (c.queries, c.queries_do, c.responses_nxdomain),
                )
            })
            .collect()
    }

    /// Events over a few intervals and countries: forward, back (late messages), alternating.
    fn events() -> Vec<Event> {
        let (br, de) = (country_index("BR"), country_index("DE"));
        let mut v = vec![
            (10, br, true, false),
            (10, br, false, false),
            (10, de, false, true),
            (11, br, true, false),
            (11, UNKNOWN, false, false),
            (10, de, true, false), // late: back to 10
            (12, de, false, false),
            (11, br, false, true), // late again
        ];
        // Alternating capture times: one roll per message.
        for i in 0..200u32 {
            v.push((
                20 + i % 2,
                if i % 3 == 0 { br } else { de },
                i % 5 == 0,
                false,
            ));
        }
        v
    }

    #[test]
    fn rolls_forward_and_back_into_each_interval() {
        let ev = events();
        let mut iv = Intervals::new(&settings(64));
        let countries = apply(&mut iv, &ev);
        assert_eq!(got(&iv.rows()), expected(&ev));
        assert_eq!(iv.evicted, 0);
        // The cumulative counters are the sums over the intervals.
        for (cc, c) in countries.iter().enumerate() {
            let per = expected(&ev)
                .iter()
                .filter(|((_, k), _)| usize::from(*k) == cc)
                .fold((0, 0, 0), |a, (_, e)| (a.0 + e.0, a.1 + e.1, a.2 + e.2));
            assert_eq!((c.queries, c.queries_do, c.responses_nxdomain), per, "{cc}");
        }
        // A roll touched only the countries of its interval.
        assert!(iv.touched.is_empty());
        assert!(iv.cur.iter().all(|c| *c == Counts::default()));
    }

    #[test]
    fn maps_capture_times_to_intervals() {
        let mut iv = Intervals::new(&settings(4));
        assert_eq!(iv.number(0), 0);
        assert_eq!(iv.number(MIN - 1), 0);
        assert_eq!(iv.number(MIN), 1);
        assert_eq!(iv.number(5 * MIN + 7), 5);
        assert_eq!(iv.number(MIN - 1), 0); // back
        assert_eq!(iv.number(u64::MAX), (u64::MAX / MIN) as u32);
        assert_eq!(iv.number(2 * MIN), 2);
        // One-second intervals past 2106: saturated, not wrapped.
        let mut s = Intervals::new(&series::Settings {
            interval_seconds: 1,
            max_intervals: 4,
        });
        let last = u64::from(u32::MAX) * NS;
        assert_eq!(s.number(last - 1), u32::MAX - 1);
        assert_eq!(s.number(last), u32::MAX);
        assert_eq!(s.number(u64::MAX), u32::MAX);
        assert_eq!(s.number(NS), 1);
        let mut off = Intervals::off();
        assert_eq!((off.number(5 * MIN), off.number(u64::MAX)), (0, 0));
    }

    #[test]
    fn keeps_at_most_max_intervals_and_counts_evictions() {
        let br = country_index("BR");
        let ev: Vec<Event> = (0..6).map(|k| (k, br, false, false)).collect();
        let mut iv = Intervals::new(&settings(3));
        let countries = apply(&mut iv, &ev);
        let starts: Vec<u64> = iv.rows().iter().map(|r| r.start_ns / MIN).collect();
        assert_eq!(starts, [3, 4, 5]);
        assert_eq!(iv.evicted, 3);
        // A late message older than every interval held: dropped from the intervals (counted),
        // kept in the cumulative counters.
        let more = apply(&mut iv, &[(1, br, false, false), (5, br, false, false)]);
        assert_eq!(iv.evicted, 4);
        assert_eq!(countries[usize::from(br)].queries, 6);
        assert_eq!(more[usize::from(br)].queries, 2);
        let q: Vec<u64> = iv.rows().iter().map(|r| r.counts.queries).collect();
        assert_eq!(q, [1, 1, 2]);
    }

    #[test]
    fn off_keeps_the_cumulative_counters_only() {
        let ev = events();
        let mut iv = Intervals::off();
        let countries = apply(&mut iv, &ev);
        assert!(iv.rows().is_empty());
        assert_eq!(iv.evicted, 0);
        let n = ev.iter().filter(|e| !e.3).count() as u64;
        assert_eq!(countries.iter().map(|c| c.queries).sum::<u64>(), n);
    }

    #[test]
    fn take_before_and_restore_round_trip() {
        let ev = events();
        let mut iv = Intervals::new(&settings(64));
        apply(&mut iv, &ev);
        let all = iv.rows();
        // Intervals 10 and 11 end at or before 12 minutes; 12 does not end before 12:59.
        let taken = iv.take_before(12 * MIN + 59 * NS);
        assert!(taken.iter().all(|r| r.start_ns < 12 * MIN));
        assert_eq!(taken.len() + iv.rows().len(), all.len());
        iv.restore(&taken);
        assert_eq!(iv.rows(), all);
        assert_eq!(iv.take_before(u64::MAX), all);
        assert!(iv.rows().is_empty());
    }

    #[test]
    fn merges_unsettled_workers_and_refuses_other_widths() {
        let ev = events();
        let (first, second) = ev.split_at(5);
        let mut countries = [vec![Counts::default(); COUNTRIES], Vec::new()];
        let mut a = Intervals::new(&settings(64));
        let mut b = Intervals::new(&settings(64));
        // Neither settled: each has a current array the merge must count.
        for (iv, part, c) in [(&mut a, first, 0), (&mut b, second, 1)] {
            let mut cum = vec![Counts::default(); COUNTRIES];
            for &(k, cc, dnssec, nx) in part {
                let x = iv.counts(&mut cum, k, cc);
                x.queries += u64::from(!nx);
                x.queries_do += u64::from(dnssec && !nx);
                x.responses_nxdomain += u64::from(nx);
            }
            countries[c] = cum;
        }
        assert!(!a.touched.is_empty() && !b.touched.is_empty());
        let [mut ca, cb] = countries;
        for (x, y) in ca.iter_mut().zip(&cb) {
            x.add(y);
        }
        a.merge(&mut ca, &b, true);
        assert_eq!(got(&a.rows()), expected(&ev));
        let q = ev.iter().filter(|e| !e.3).count() as u64;
        assert_eq!(ca.iter().map(|c| c.queries).sum::<u64>(), q);
        // A summary merge adds the counters, not the rows.
        let mut s = Intervals::new(&settings(64));
        let mut cs = vec![Counts::default(); COUNTRIES];
        s.merge(&mut cs, &b, false);
        assert!(s.rows().is_empty());
        assert!(cs.iter().map(|c| c.queries).sum::<u64>() > 0);
        // States of another width are refused.
        let mut state = a.state();
        assert!(Intervals::new(&settings(64)).merge_state(&state).is_ok());
        state.interval_seconds = 10;
        let e = Intervals::new(&settings(64)).merge_state(&state);
        assert!(e.is_err_and(|e| e.contains("10 s")));
    }

    fn query(dnssec: bool) -> Message {
        Message {
            header: Header {
                id: 1,
                flags: 0,
                qdcount: 1,
                ancount: 0,
                nscount: 0,
                arcount: 1,
            },
            question: Some((1, 1)),
            edns: Some(Edns {
                udp_size: 1232,
                ext_rcode: 0,
                version: 0,
                dnssec_ok: dnssec,
                options: 0,
                ede_code: None,
            }),
            malformed: None,
        }
    }

    /// Through `Geo::observe`: the rows and totals are the same for every batch size (the
    /// ring delays messages across interval boundaries) and for two workers merged, and are
    /// the counts of an independent bucketing by capture time.
    #[test]
    fn geo_rows_do_not_depend_on_batch_or_split() {
        let db = GeoDb::open(None, None, &[]).expect("db");
        let live = Arc::new(Live::new(db));
        // (capture time, source byte, DO): forward, back (late) and alternating times.
        let mut msgs: Vec<(u64, u8, bool)> = Vec::new();
        for i in 0..500u64 {
            let t = match i % 7 {
                0 => 3 * MIN + i,             // a later interval
                1 => MIN + 5,                 // back to an earlier one
                _ => 2 * MIN + i * 1_000_000, // mostly in order
            };
            msgs.push((t, (i % 13) as u8, i % 4 == 0));
        }
        let mut want: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
        for &(t, _, d) in &msgs {
            let e = want.entry(t / MIN * MIN).or_default();
            e.0 += 1;
            e.1 += u64::from(d);
        }
        // The ring is used only past `direct_networks` networks: here from the first message
        // (0) and never (the default). A reload halfway empties the table of networks, so with
        // 0 the messages still queued are counted first and the next ones at once again.
        let run = |batch: usize, workers: usize, direct_networks: usize| {
            let s = Settings {
                direct_networks,
                ..Settings::default()
            };
            let mut gs: Vec<Geo> = (0..workers)
                .map(|_| Geo::new(Arc::clone(&live), &s, 9, batch).with_intervals(&settings(64)))
                .collect();
            for (i, &(t, src, d)) in msgs.iter().enumerate() {
                let addr = [198, 51, 100, src, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
                let ctx = MsgCtx {
                    ts_ns: t,
                    transport: Transport::Udp,
                    ..MsgCtx::for_test(4, addr)
                };
                let key = crate::aggregate::sources::SourceKey::new(4, &addr, 9);
                if i == msgs.len() / 2 {
                    live.set_generation(live.generation() + 1);
                }
                // As the aggregate does: the source reported to the distinct sources (as if
                // new to its day), the message counted.
                gs[i % workers].source_seen(&key, false);
                gs[i % workers].observe(&ctx, &query(d), Some(&key));
            }
            // Merged as they are: queued messages and current arrays not settled.
            let mut total = Geo::new(Arc::clone(&live), &Settings::default(), 9, 0)
                .with_intervals(&settings(64));
            for g in &gs {
                total.merge(g);
            }
            (
                total.intervals.rows(),
                total.countries[usize::from(UNKNOWN)],
            )
        };
        let (rows, zz) = run(0, 1, 0);
        let per: BTreeMap<u64, (u64, u64)> = rows
            .iter()
            .map(|r| (r.start_ns, (r.counts.queries, r.counts.queries_do)))
            .collect();
        assert_eq!(per, want);
        assert_eq!(zz.queries, msgs.len() as u64);
        assert_eq!(zz.sources_estimate, 13);
        for batch in [1, 2, 16, 64] {
            for workers in [1, 2, 3] {
                for direct in [0, usize::MAX] {
                    let got = run(batch, workers, direct);
                    assert_eq!(got, (rows.clone(), zz), "{batch} {workers} {direct}");
                }
            }
        }
    }
}
