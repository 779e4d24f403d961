//! The AS counters of one worker, by **slot**: every AS a worker meets gets a small number (its
//! slot, in order of first sight) and the source cache keeps a source's slot, not its AS number,
//! so a query reaches its AS's counters by an index into a dense array: no hash lookup per
//! query. (With a realistic spread of networks, 4,680 ASes in the root-like benchmark, the hash
//! map probe per query was 6.5 % of the replay's samples: docs/geo.md.)
//!
//! The first [`Settings::max_asns`](super::Settings::max_asns) slots have counters; the ASes of
//! later slots are summed by the caller into its `other_asns`. The daemon's workers, which run
//! for the daemon's life and keep their slots with their cache, count every AS (cap
//! [`MAX_SLOTS`]); the cap applies where their counters meet by AS number, in the merger. The table of slots itself holds
//! at most [`MAX_SLOTS`] ASes (more than the AS numbers in use; a database naming more gets
//! [`NO_SLOT`] for the rest, whose number a day state then records as 0).
//!
//! A query is counted in its AS's [`Tally`]: 32-bit counters, 32 bytes an AS, two to a cache
//! line, settled into the 64-bit [`Counts`] before one could wrap (and when the worker is
//! flushed). The readers ([`AsnTable::iter`], [`AsnTable::get`]) add both, so they need no
//! settling. (With 128-byte counters, the 4,680 ASes of the root-like benchmark, 600 kB, were
//! evicted from the second-level cache between two queries of an AS by the per-source tables:
//! one miss per query, a third of the geography's misses; docs/geo.md.)
//!
//! HOT PATH: [`AsnTable::tally_mut`] (an index); [`AsnTable::slot`] once per new source.

use std::collections::HashMap;

use super::{AsnCounts, Counts};

/// One AS's counts since its counters were last settled (see the module): what a query or a new
/// source adds, in 32 bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C, align(32))]
pub struct Tally {
    pub(super) queries: u32,
    queries_do: u32,
    queries_edns: u32,
    queries_tcp: u32,
    queries_ipv6: u32,
    responses_nxdomain: u32,
    sources: u32,
}

impl Tally {
    /// Counts a query (`flags` as the geography's ring items carry them).
    #[inline(always)]
    pub fn query(&mut self, flags: u8, version: u8) {
        let [edns, dnssec_ok, tcp, ipv6] = super::increments(flags, version).map(u32::from);
        self.queries += 1;
        self.queries_edns += edns;
        self.queries_do += dnssec_ok;
        self.queries_tcp += tcp;
        self.queries_ipv6 += ipv6;
    }

    /// Counts an NXDOMAIN response to the AS.
    #[inline(always)]
    pub fn nxdomain(&mut self) {
        self.responses_nxdomain += 1;
    }

    /// Counts a new distinct source of the AS.
    #[inline]
    pub fn source(&mut self) {
        self.sources += 1;
    }

    /// `c` with these counts added.
    fn added_to(&self, c: &Counts) -> Counts {
        let w = u64::from;
        Counts {
            queries: c.queries + w(self.queries),
            queries_do: c.queries_do + w(self.queries_do),
            queries_edns: c.queries_edns + w(self.queries_edns),
            queries_tcp: c.queries_tcp + w(self.queries_tcp),
            queries_ipv6: c.queries_ipv6 + w(self.queries_ipv6),
            responses_nxdomain: c.responses_nxdomain + w(self.responses_nxdomain),
            sources_estimate: c.sources_estimate + w(self.sources),
        }
    }
}

/// Slots a table gives at most.
pub const MAX_SLOTS: usize = 1 << 20;

/// The slot of an AS met once the table has [`MAX_SLOTS`].
pub const NO_SLOT: u32 = u32::MAX;

/// See the module.
#[derive(Clone, Debug)]
pub struct AsnTable {
    /// AS number of each slot.
    asn_of: Vec<u32>,
    /// AS number → slot.
    slot_of: HashMap<u32, u32, foldhash::fast::FixedState>,
    /// Counters of the first `cap` slots (settled).
    counted: Vec<AsnCounts>,
    /// Their counts since last settled, by slot (beside `counted`: the hot path's array).
    tallies: Vec<Tally>,
    cap: usize,
}

impl AsnTable {
    /// An empty table counting at most `cap` ASes one by one.
    pub fn new(cap: usize, seed: u64) -> Self {
        Self {
            asn_of: Vec::new(),
            // Grown as ASes appear, not reserved to the cap.
            slot_of: HashMap::with_capacity_and_hasher(
                cap.min(256),
                foldhash::fast::FixedState::with_seed(seed),
            ),
            counted: Vec::with_capacity(cap.min(256)),
            tallies: Vec::with_capacity(cap.min(256)),
            cap,
        }
    }

    /// The slot of `asn`, given one if it has none (`example`: an address in it, version 0 for
    /// none); true if the slot is new.
    pub fn slot(&mut self, asn: u32, example: ([u8; 16], u8)) -> (u32, bool) {
        if let Some(&s) = self.slot_of.get(&asn) {
            if let Some(a) = self.counted.get_mut(s as usize)
                && a.example.1 == 0
            {
                a.example = example;
            }
            return (s, false);
        }
        if self.asn_of.len() >= MAX_SLOTS {
            return (NO_SLOT, false);
        }
        let s = self.asn_of.len() as u32;
        self.asn_of.push(asn);
        self.slot_of.insert(asn, s);
        if self.counted.len() < self.cap {
            self.counted.push(AsnCounts {
                counts: Counts::default(),
                example,
            });
            self.tallies.push(Tally::default());
        }
        (s, true)
    }

    /// The counts of slot `s` since last settled; `None` for an AS past the cap (counted in
    /// the others).
    #[inline(always)]
    pub fn tally_mut(&mut self, s: u32) -> Option<&mut Tally> {
        self.tallies.get_mut(s as usize)
    }

    /// Starts loading the tally of slot `s` (a hint only).
    #[inline(always)]
    pub fn prefetch(&self, s: u32) {
        if let Some(t) = self.tallies.get(s as usize) {
            crate::aggregate::prefetch(t);
        }
    }

    /// The settled counters of slot `s` (the tally settled first); `None` for an AS past the
    /// cap.
    pub fn counts_mut(&mut self, s: u32) -> Option<&mut Counts> {
        let a = self.counted.get_mut(s as usize)?;
        if let Some(t) = self.tallies.get_mut(s as usize) {
            a.counts = t.added_to(&a.counts);
            *t = Tally::default();
        }
        Some(&mut a.counts)
    }

    /// Adds every tally into its counters and zeroes it.
    pub fn settle(&mut self) {
        for (a, t) in self.counted.iter_mut().zip(self.tallies.iter_mut()) {
            if *t != Tally::default() {
                a.counts = t.added_to(&a.counts);
                *t = Tally::default();
            }
        }
    }

    /// True if slot `s` has counters of its own.
    pub fn is_counted(&self, s: u32) -> bool {
        (s as usize) < self.counted.len()
    }

    /// The AS number of slot `s` (0 for [`NO_SLOT`]).
    pub fn asn_of(&self, s: u32) -> u32 {
        self.asn_of.get(s as usize).copied().unwrap_or(0)
    }

    /// Slot `s`'s counters with its tally.
    fn current(&self, s: usize) -> Option<AsnCounts> {
        let a = self.counted.get(s)?;
        let t = self.tallies.get(s).copied().unwrap_or_default();
        Some(AsnCounts {
            counts: t.added_to(&a.counts),
            example: a.example,
        })
    }

    /// The ASes counted one by one that have counts, as `(AS number, counters)`.
    pub fn iter(&self) -> impl Iterator<Item = (&u32, AsnCounts)> + '_ {
        self.asn_of
            .iter()
            .enumerate()
            .take(self.counted.len())
            .filter_map(|(s, asn)| Some((asn, self.current(s)?)))
            .filter(|(_, a)| a.counts != Counts::default())
    }

    /// The counters of AS `asn`, if it is counted one by one and has counts.
    pub fn get(&self, asn: u32) -> Option<AsnCounts> {
        let s = *self.slot_of.get(&asn)?;
        self.current(s as usize)
            .filter(|a| a.counts != Counts::default())
    }

    /// ASes counted one by one that have counts.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// True if no AS has counts.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// Zeroes every counter, keeping the slots (which the source cache refers to).
    pub fn clear_counts(&mut self) {
        for a in &mut self.counted {
            a.counts = Counts::default();
        }
        self.tallies.fill(Tally::default());
    }

    /// Adds `from`'s counters to this table by AS number and zeroes them in `from` (whose
    /// slots stay: a source cache refers to them). Counters this table holds stay (the daemon
    /// hands tables back and forth: `Geo::take_cache`); its slots are reused, so once warm
    /// nothing is allocated. Returns the counters of ASes past this table's cap.
    pub fn take_counts(&mut self, from: &mut Self) -> Counts {
        from.settle();
        let mut others = Counts::default();
        for (asn, a) in from.asn_of.iter().zip(from.counted.iter_mut()) {
            if a.counts == Counts::default() {
                continue;
            }
            let (s, _) = self.slot(*asn, a.example);
            match self.counts_mut(s) {
                Some(c) => c.add(&a.counts),
                None => others.add(&a.counts),
            }
            a.counts = Counts::default();
        }
        others
    }
}

#[cfg(test)]
mod tests {
    use super::super::{DO, EDNS, TCP};
    use super::*;

    fn one(n: u64) -> Counts {
        Counts {
            queries: n,
            ..Counts::default()
        }
    }

    #[test]
    fn slots_in_order_and_cap() {
        let mut t = AsnTable::new(2, 1);
        assert_eq!(t.slot(64500, ([1; 16], 4)), (0, true));
        assert_eq!(t.slot(64501, ([2; 16], 4)), (1, true));
        assert_eq!(t.slot(64502, ([3; 16], 4)), (2, true));
        assert_eq!(t.slot(64500, ([9; 16], 4)), (0, false));
        assert!(t.is_counted(1) && !t.is_counted(2));
        assert_eq!(t.asn_of(2), 64502);
        assert_eq!(t.asn_of(NO_SLOT), 0);
        t.counts_mut(0).unwrap().add(&one(3));
        assert!(t.counts_mut(2).is_none());
        // Only ASes with counts are listed.
        assert_eq!(
            t.iter()
                .map(|(a, c)| (*a, c.counts.queries))
                .collect::<Vec<_>>(),
            [(64500, 3)]
        );
        assert_eq!(t.get(64500).map(|a| a.example.0[0]), Some(1));
        assert!(t.get(64501).is_none());
        t.clear_counts();
        assert!(t.is_empty());
        assert_eq!(t.slot(64501, ([2; 16], 4)), (1, false));
    }

    #[test]
    fn an_example_is_kept_once_known() {
        let mut t = AsnTable::new(4, 1);
        t.slot(7, ([0; 16], 0));
        t.slot(7, ([5; 16], 4));
        t.counts_mut(0).unwrap().add(&one(1));
        assert_eq!(t.get(7).unwrap().example, ([5; 16], 4));
    }

    #[test]
    fn take_counts_moves_counts_by_number() {
        // The worker's table: slots 10, 20, 30; counts for 30 and 20.
        let mut worker = AsnTable::new(usize::MAX, 1);
        for asn in [10, 20, 30] {
            worker.slot(asn, ([0; 16], 4));
        }
        worker.counts_mut(2).unwrap().add(&one(7));
        worker.counts_mut(1).unwrap().add(&one(2));
        // The delta's table, cap 1, already holding AS 40's counts (kept).
        let mut delta = AsnTable::new(1, 1);
        let (s, _) = delta.slot(40, ([0; 16], 4));
        delta.counts_mut(s).unwrap().add(&one(5));
        let others = delta.take_counts(&mut worker);
        assert_eq!(delta.get(40).map(|a| a.counts.queries), Some(5));
        // 20 and 30 come past the delta's cap of one counted AS.
        assert_eq!(others.queries, 9);
        // The worker keeps its slots, zeroed.
        assert!(worker.is_empty());
        assert_eq!(worker.slot(30, ([0; 16], 4)), (2, false));
        // And again, uncapped: counts land under their numbers.
        let mut total = AsnTable::new(usize::MAX, 1);
        worker.counts_mut(0).unwrap().add(&one(3));
        assert_eq!(total.take_counts(&mut worker).queries, 0);
        assert_eq!(total.get(10).map(|a| a.counts.queries), Some(3));
    }

    #[test]
    fn tallies_read_as_counts_before_and_after_settling() {
        let mut t = AsnTable::new(4, 1);
        t.slot(64500, ([1; 16], 4));
        t.slot(64501, ([2; 16], 6));
        let q =
            |t: &mut AsnTable, s: u32, flags: u8, v: u8| t.tally_mut(s).unwrap().query(flags, v);
        q(&mut t, 0, EDNS | DO, 4);
        q(&mut t, 0, TCP, 6);
        t.tally_mut(0).unwrap().nxdomain();
        t.tally_mut(1).unwrap().source();
        t.counts_mut(1).unwrap().add(&one(10));
        let want = Counts {
            queries: 2,
            queries_do: 1,
            queries_edns: 1,
            queries_tcp: 1,
            queries_ipv6: 1,
            responses_nxdomain: 1,
            sources_estimate: 0,
        };
        let before: Vec<(u32, Counts)> = t.iter().map(|(a, c)| (*a, c.counts)).collect();
        assert_eq!(before[0], (64500, want));
        assert_eq!(before[1].1.queries, 10);
        assert_eq!(before[1].1.sources_estimate, 1);
        assert_eq!(t.get(64500).map(|a| a.counts), Some(want));
        t.settle();
        assert_eq!(
            t.iter().map(|(a, c)| (*a, c.counts)).collect::<Vec<_>>(),
            before
        );
        assert!(t.tallies.iter().all(|x| *x == Tally::default()));
        // Unsettled tallies move with their counts.
        q(&mut t, 0, 0, 4);
        let mut total = AsnTable::new(4, 1);
        assert_eq!(total.take_counts(&mut t).queries, 0);
        assert_eq!(total.get(64500).map(|a| a.counts.queries), Some(3));
        assert!(t.is_empty());
    }
}
