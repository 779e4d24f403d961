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
//! HOT PATH: [`AsnTable::counts_mut`] (an index); [`AsnTable::slot`] once per new source.

use std::collections::HashMap;

use super::{AsnCounts, Counts};

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
    /// Counters of the first `cap` slots.
    counted: Vec<AsnCounts>,
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
        }
        (s, true)
    }

    /// The counters of slot `s`; `None` for an AS past the cap (counted in the others).
    #[inline]
    pub fn counts_mut(&mut self, s: u32) -> Option<&mut Counts> {
        self.counted.get_mut(s as usize).map(|a| &mut a.counts)
    }

    /// True if slot `s` has counters of its own.
    pub fn is_counted(&self, s: u32) -> bool {
        (s as usize) < self.counted.len()
    }

    /// The AS number of slot `s` (0 for [`NO_SLOT`]).
    pub fn asn_of(&self, s: u32) -> u32 {
        self.asn_of.get(s as usize).copied().unwrap_or(0)
    }

    /// The ASes counted one by one that have counts, as `(AS number, counters)`.
    pub fn iter(&self) -> impl Iterator<Item = (&u32, &AsnCounts)> + '_ {
        self.asn_of
            .iter()
            .zip(&self.counted)
            .filter(|(_, a)| a.counts != Counts::default())
    }

    /// The counters of AS `asn`, if it is counted one by one and has counts.
    pub fn get(&self, asn: u32) -> Option<&AsnCounts> {
        let s = *self.slot_of.get(&asn)?;
        self.counted
            .get(s as usize)
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
    }

    /// Adds `from`'s counters to this table by AS number and zeroes them in `from` (whose
    /// slots stay: a source cache refers to them). Counters this table holds stay (the daemon
    /// hands tables back and forth: `Geo::take_cache`); its slots are reused, so once warm
    /// nothing is allocated. Returns the counters of ASes past this table's cap.
    pub fn take_counts(&mut self, from: &mut Self) -> Counts {
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
}
