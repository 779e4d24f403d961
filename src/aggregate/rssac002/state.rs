//! The RSSAC002 counters as plain data, for day state files (see `crate::state`).

use serde::{Deserialize, Serialize};

use super::{DayCounts, Lifetime, REQUEST_BINS, RESPONSE_BINS, Rssac002};
use crate::aggregate::sources::{DaySources, DaySourcesState};

/// One UTC day's counters and sources.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayState {
    /// Days since 1970-01-01.
    pub day: u32,
    /// `[transport][ip version]`.
    pub queries: [[u64; 2]; 2],
    /// `[transport][ip version]`.
    pub responses: [[u64; 2]; 2],
    /// Request size bins per transport.
    pub request_sizes: [Vec<u64>; 2],
    /// Response size bins per transport.
    pub response_sizes: [Vec<u64>; 2],
    /// `(extended rcode, responses)`, ascending.
    pub rcodes: Vec<(u16, u64)>,
    /// The day's distinct sources.
    pub sources: DaySourcesState,
}

/// Every RSSAC002 counter of an aggregate.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rssac002State {
    /// The days held, oldest first.
    pub days: Vec<DayState>,
    /// Messages of sealed or evicted days.
    pub late: u64,
    /// Days evicted.
    pub evicted_days: u64,
    /// Run-wide request size bins per transport.
    pub request_sizes: [Vec<u64>; 2],
    /// Run-wide response size bins per transport.
    pub response_sizes: [Vec<u64>; 2],
    /// Run-wide request bytes per transport.
    pub request_bytes: [u64; 2],
    /// Run-wide response bytes per transport.
    pub response_bytes: [u64; 2],
}

fn bins<const N: usize>(v: &[u64], what: &str) -> Result<[u64; N], String> {
    v.try_into()
        .map_err(|_| format!("{what}: {} bins where {N} are expected", v.len()))
}

impl Rssac002 {
    /// The counters as plain data (queries still in the batch included).
    pub fn state(&mut self) -> Rssac002State {
        self.flush();
        let l = &self.lifetime;
        Rssac002State {
            days: self
                .days
                .iter()
                .map(|d| DayState {
                    day: d.day,
                    queries: d.queries,
                    responses: d.responses,
                    request_sizes: d.request_sizes.map(|b| b.to_vec()),
                    response_sizes: d.response_sizes.map(|b| b.to_vec()),
                    rcodes: d.rcodes().collect(),
                    sources: d.sources.state(),
                })
                .collect(),
            late: self.late,
            evicted_days: self.evicted_days,
            request_sizes: l.request_sizes.map(|b| b.to_vec()),
            response_sizes: l.response_sizes.map(|b| b.to_vec()),
            request_bytes: l.request_bytes,
            response_bytes: l.response_bytes,
        }
    }

    /// Adds the counters of `s` (made with the same hash seed) into `self`, the day's sets
    /// united with those held (within the caps).
    pub fn merge_state(&mut self, s: &Rssac002State) -> Result<(), String> {
        self.flush();
        for d in &s.days {
            let mut c = DayCounts {
                queries: d.queries,
                responses: d.responses,
                request_sizes: [
                    bins::<REQUEST_BINS>(&d.request_sizes[0], "request sizes")?,
                    bins::<REQUEST_BINS>(&d.request_sizes[1], "request sizes")?,
                ],
                response_sizes: [
                    bins::<RESPONSE_BINS>(&d.response_sizes[0], "response sizes")?,
                    bins::<RESPONSE_BINS>(&d.response_sizes[1], "response sizes")?,
                ],
                sources: DaySources::from_state(&d.sources, self.seed),
                ..DayCounts::empty(d.day, self.seed)
            };
            for &(code, n) in &d.rcodes {
                c.add_rcode(code, n);
            }
            match self.slot(d.day) {
                Some(i) => self.merge_day(i, &c),
                None => self.late += c.messages(),
            }
        }
        self.late += s.late;
        self.evicted_days += s.evicted_days;
        self.lifetime.merge(&Lifetime {
            request_sizes: [
                bins(&s.request_sizes[0], "request sizes")?,
                bins(&s.request_sizes[1], "request sizes")?,
            ],
            response_sizes: [
                bins(&s.response_sizes[0], "response sizes")?,
                bins(&s.response_sizes[1], "response sizes")?,
            ],
            request_bytes: s.request_bytes,
            response_bytes: s.response_bytes,
        });
        Ok(())
    }
}
