//! Per-interval counters over capture time: the source of the JSON report's `time_series`, the
//! Parquet interval table and (later) the HTML rate chart.
//!
//! HOT PATH. Buckets are keyed by interval number (`ts_ns / interval`, capture time, UTC epoch)
//! × transport × IP version. The table is a direct-mapped ring of `max_intervals` slots
//! allocated once (zeroed, so untouched pages cost no memory): interval `k` lives in slot
//! `k % max_intervals`, so a lookup is one division (skipped while packets stay in the same
//! interval) and nothing is allocated per packet, ever. A slot that still holds an interval at
//! least `max_intervals` older than the new one is evicted (counted); a message older than
//! what its slot holds now is counted as late and not bucketed. Either only happens when a
//! capture spans more intervals than the ring holds.

/// Settings of the time series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Bucket width in seconds (divides 86,400, so buckets align with UTC days).
    pub interval_seconds: u32,
    /// Intervals held at once; 0 turns the series off.
    pub max_intervals: usize,
}

/// Default bucket width: one minute.
pub const DEFAULT_INTERVAL_SECONDS: u32 = 60;
/// Default ring size: one week of one-minute buckets (2.6 MB of address space, touched only as
/// intervals are used).
pub const DEFAULT_MAX_INTERVALS: usize = 7 * 24 * 60;

impl Default for Settings {
    fn default() -> Self {
        Self {
            interval_seconds: DEFAULT_INTERVAL_SECONDS,
            max_intervals: DEFAULT_MAX_INTERVALS,
        }
    }
}

/// The counters of one interval × transport × IP version (serialised as they are in the
/// report's `time_series` rows).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    /// Queries (QR = 0).
    pub queries: u64,
    /// Responses (QR = 1).
    pub responses: u64,
    /// Queries with an OPT record.
    pub queries_edns: u64,
    /// Queries with the DO bit.
    pub queries_do: u64,
    /// Responses with RCODE NXDOMAIN.
    pub responses_nxdomain: u64,
    /// Responses with TC set.
    pub responses_tc: u64,
    /// Sum of query sizes (DNS message bytes).
    pub query_bytes: u64,
    /// Sum of response sizes.
    pub response_bytes: u64,
}

impl Counts {
    fn add(&mut self, o: &Self) {
        self.queries += o.queries;
        self.responses += o.responses;
        self.queries_edns += o.queries_edns;
        self.queries_do += o.queries_do;
        self.responses_nxdomain += o.responses_nxdomain;
        self.responses_tc += o.responses_tc;
        self.query_bytes += o.query_bytes;
        self.response_bytes += o.response_bytes;
    }
    /// Messages counted (queries + responses).
    pub fn messages(&self) -> u64 {
        self.queries + self.responses
    }
}

/// One interval's counters, `[transport][ip version index]`.
pub type Cells = [[Counts; 2]; 2];

/// One row of the series (one non-empty interval × transport × IP version).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Row {
    /// Interval start, ns since the epoch.
    pub start_ns: u64,
    /// `Transport as usize` (0 UDP, 1 TCP).
    pub transport: usize,
    /// 4 or 6.
    pub ip_version: u8,
    /// The counters.
    pub counts: Counts,
}

/// A slot holds no interval.
const EMPTY: u64 = u64::MAX;

/// The ring of interval buckets.
#[derive(Clone, Debug)]
pub struct Series {
    interval_ns: u64,
    /// Interval number held by each slot, `EMPTY` when unused.
    keys: Box<[u64]>,
    cells: Box<[Cells]>,
    /// Interval number and slot of the last lookup (packets arrive in time order).
    last: (u64, usize),
    /// Intervals dropped from the ring to make room for newer ones.
    pub evicted_intervals: u64,
    /// Messages older than the interval their slot holds: not in any bucket.
    pub late_messages: u64,
}

impl Series {
    /// An empty series.
    pub fn new(s: &Settings) -> Self {
        Self {
            interval_ns: u64::from(s.interval_seconds.max(1)) * 1_000_000_000,
            keys: vec![EMPTY; s.max_intervals].into_boxed_slice(),
            cells: vec![Cells::default(); s.max_intervals].into_boxed_slice(),
            last: (EMPTY, 0),
            evicted_intervals: 0,
            late_messages: 0,
        }
    }

    /// Bucket width in seconds.
    pub fn interval_seconds(&self) -> u64 {
        self.interval_ns / 1_000_000_000
    }

    /// Intervals held at most (0: off).
    pub fn max_intervals(&self) -> usize {
        self.keys.len()
    }

    /// Whether the series is kept at all.
    pub fn enabled(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The slot for interval `k`, claiming (and if need be evicting) it; `None` when the slot
    /// holds a newer interval.
    #[inline]
    fn slot(&mut self, k: u64) -> Option<usize> {
        if self.last.0 == k {
            return Some(self.last.1);
        }
        let s = (k % self.keys.len() as u64) as usize;
        let held = self.keys[s];
        if held != k {
            if held != EMPTY && held > k {
                return None;
            }
            if held != EMPTY {
                self.evicted_intervals += 1;
                self.cells[s] = Cells::default();
            }
            self.keys[s] = k;
        }
        self.last = (k, s);
        Some(s)
    }

    /// Counts a message at capture time `ts_ns`.
    #[inline]
    pub fn observe(
        &mut self,
        ts_ns: u64,
        transport: usize,
        ipv: usize,
        msg: &crate::decode::Message,
        size: u32,
    ) {
        if self.keys.is_empty() {
            return;
        }
        let Some(s) = self.slot(ts_ns / self.interval_ns) else {
            self.late_messages += 1;
            return;
        };
        let c = &mut self.cells[s][transport & 1][ipv & 1];
        if msg.header.qr() {
            c.responses += 1;
            c.responses_nxdomain += u64::from(msg.rcode() == 3);
            c.responses_tc += u64::from(msg.header.tc());
            c.response_bytes += u64::from(size);
        } else {
            c.queries += 1;
            if let Some(e) = msg.edns {
                c.queries_edns += 1;
                c.queries_do += u64::from(e.dnssec_ok);
            }
            c.query_bytes += u64::from(size);
        }
    }

    /// Adds one interval's counters (merge and restore); late if its slot holds a newer one.
    fn add_interval(&mut self, k: u64, cells: &Cells) {
        if self.keys.is_empty() {
            return;
        }
        match self.slot(k) {
            Some(s) => {
                for (a, b) in self.cells[s].iter_mut().zip(cells) {
                    for (x, y) in a.iter_mut().zip(b) {
                        x.add(y);
                    }
                }
            }
            None => {
                self.late_messages += cells.iter().flatten().map(Counts::messages).sum::<u64>();
            }
        }
    }

    /// Adds `other` (same interval width) into `self`.
    pub fn merge(&mut self, other: &Self) {
        debug_assert_eq!(self.interval_ns, other.interval_ns);
        for (k, cells) in other.intervals() {
            self.add_interval(k, cells);
        }
        self.evicted_intervals += other.evicted_intervals;
        self.late_messages += other.late_messages;
    }

    /// Empties every slot (keeps the allocation); touches only slots in use.
    pub fn clear(&mut self) {
        for (k, c) in self.keys.iter_mut().zip(self.cells.iter_mut()) {
            if *k != EMPTY {
                *k = EMPTY;
                *c = Cells::default();
            }
        }
        self.last = (EMPTY, 0);
        self.evicted_intervals = 0;
        self.late_messages = 0;
    }

    /// The intervals held, unordered: (interval number, counters).
    fn intervals(&self) -> impl Iterator<Item = (u64, &Cells)> {
        self.keys
            .iter()
            .zip(self.cells.iter())
            .filter(|(k, _)| **k != EMPTY)
            .map(|(k, c)| (*k, c))
    }

    /// The non-empty rows, by interval start, then transport (UDP first), then IP version.
    pub fn rows(&self) -> Vec<Row> {
        let mut ks: Vec<(u64, &Cells)> = self.intervals().collect();
        ks.sort_unstable_by_key(|(k, _)| *k);
        let mut rows = Vec::new();
        for (k, cells) in ks {
            push_rows(&mut rows, k * self.interval_ns, cells);
        }
        rows
    }

    /// Removes the intervals that end at or before `before_ns` and returns their rows
    /// (for the daemon's periodic export); [`Series::restore`] puts them back.
    pub fn take_before(&mut self, before_ns: u64) -> Vec<Row> {
        let mut taken: Vec<(u64, Cells)> = Vec::new();
        for (k, c) in self.keys.iter_mut().zip(self.cells.iter_mut()) {
            if *k != EMPTY && (*k + 1).saturating_mul(self.interval_ns) <= before_ns {
                taken.push((*k, std::mem::take(c)));
                *k = EMPTY;
            }
        }
        self.last = (EMPTY, 0);
        taken.sort_unstable_by_key(|(k, _)| *k);
        let mut rows = Vec::new();
        for (k, cells) in &taken {
            push_rows(&mut rows, k * self.interval_ns, cells);
        }
        rows
    }

    /// Puts rows taken by [`Series::take_before`] back (a failed write is retried later).
    pub fn restore(&mut self, rows: &[Row]) {
        for r in rows {
            let mut cells = Cells::default();
            cells[r.transport & 1][usize::from(r.ip_version == 6)] = r.counts;
            self.add_interval(r.start_ns / self.interval_ns, &cells);
        }
    }
}

fn push_rows(rows: &mut Vec<Row>, start_ns: u64, cells: &Cells) {
    for (t, per_v) in cells.iter().enumerate() {
        for (v, c) in per_v.iter().enumerate() {
            if c.messages() > 0 {
                rows.push(Row {
                    start_ns,
                    transport: t,
                    ip_version: if v == 1 { 6 } else { 4 },
                    counts: *c,
                });
            }
        }
    }
}

//============ Testing =======================================================

#[cfg(test)]
mod test {
    use super::*;
    use crate::decode::dns::{Edns, Header, Message};

    const S: u64 = 1_000_000_000;

    fn msg(qr: bool, rcode: u8, dnssec_ok: Option<bool>) -> Message {
        Message {
            header: Header {
                id: 1,
                flags: (u16::from(qr) << 15) | u16::from(rcode),
                qdcount: 1,
                ancount: 0,
                nscount: 0,
                arcount: 0,
            },
            question: Some((1, 1)),
            edns: dnssec_ok.map(|d| Edns {
                udp_size: 1232,
                ext_rcode: 0,
                version: 0,
                dnssec_ok: d,
                options: 0,
                ede_code: None,
            }),
            malformed: None,
        }
    }

    fn series(interval_seconds: u32, max_intervals: usize) -> Series {
        Series::new(&Settings {
            interval_seconds,
            max_intervals,
        })
    }

    #[test]
    fn buckets_by_floored_interval_transport_and_version() {
        let mut s = series(60, 16);
        let q_do = msg(false, 0, Some(true));
        let q = msg(false, 0, None);
        let nx = msg(true, 3, None);
        // 59.999 s and 0 s share the first minute; 60 s starts the next one.
        s.observe(0, 0, 0, &q_do, 40);
        s.observe(59 * S + 999_999_999, 0, 0, &q, 30);
        s.observe(60 * S, 1, 1, &nx, 100);
        s.observe(125 * S, 0, 1, &q, 10);
        let rows = s.rows();
        assert_eq!(rows.len(), 3);
        assert_eq!(
            (rows[0].start_ns, rows[0].transport, rows[0].ip_version),
            (0, 0, 4)
        );
        assert_eq!(
            rows[0].counts,
            Counts {
                queries: 2,
                queries_edns: 1,
                queries_do: 1,
                query_bytes: 70,
                ..Counts::default()
            }
        );
        assert_eq!(
            (rows[1].start_ns, rows[1].transport, rows[1].ip_version),
            (60 * S, 1, 6)
        );
        assert_eq!(
            rows[1].counts,
            Counts {
                responses: 1,
                responses_nxdomain: 1,
                response_bytes: 100,
                ..Counts::default()
            }
        );
        assert_eq!(rows[2].start_ns, 120 * S);
        assert_eq!(rows[2].counts.queries, 1);
        assert_eq!((s.evicted_intervals, s.late_messages), (0, 0));
    }

    #[test]
    fn evicts_intervals_outside_the_ring_and_counts_late_messages() {
        let mut s = series(1, 4);
        let q = msg(false, 0, None);
        for sec in 0..4 {
            s.observe(sec * S, 0, 0, &q, 1);
        }
        // Interval 5 takes interval 1's slot; interval 4 takes interval 0's.
        s.observe(5 * S, 0, 0, &q, 1);
        s.observe(4 * S, 0, 0, &q, 1);
        assert_eq!(s.evicted_intervals, 2);
        // Interval 1 is gone: its slot holds 5, so a message at 1 s is late.
        s.observe(S + 5, 0, 0, &q, 1);
        assert_eq!(s.late_messages, 1);
        let starts: Vec<u64> = s.rows().iter().map(|r| r.start_ns / S).collect();
        assert_eq!(starts, [2, 3, 4, 5]);
    }

    #[test]
    fn merge_adds_matching_intervals_and_take_restore_round_trips() {
        let q = msg(false, 0, Some(false));
        let r = msg(true, 0, None);
        let mut a = series(10, 8);
        let mut b = series(10, 8);
        a.observe(5 * S, 0, 0, &q, 1);
        b.observe(7 * S, 0, 0, &q, 1);
        b.observe(15 * S, 1, 0, &r, 1);
        a.merge(&b);
        let rows = a.rows();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].counts.queries, 2);
        assert_eq!(rows[0].counts.queries_edns, 2);
        assert_eq!(rows[0].counts.queries_do, 0);
        assert_eq!(rows[1].counts.responses, 1);
        // Only the interval [0, 10 s) has ended at 12 s.
        let taken = a.take_before(12 * S);
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].counts.queries, 2);
        assert_eq!(a.rows().len(), 1);
        a.restore(&taken);
        assert_eq!(a.rows(), rows);
        a.clear();
        assert!(a.rows().is_empty());
    }

    #[test]
    fn off_when_no_intervals() {
        let mut s = series(60, 0);
        s.observe(S, 0, 0, &msg(false, 0, None), 1);
        assert!(!s.enabled());
        assert!(s.rows().is_empty());
        assert_eq!(s.late_messages, 0);
    }
}
