//! The geography as plain data, for the fleet's day state files ([`crate::state`]): the
//! counters per country and AS, and the cached sources (their hashes, with their country and
//! AS) so that merging the states of several instances counts a source that reached more than
//! one once in `sources_estimate`, as the merge of a replay's workers does. No address is kept:
//! an AS is named by its organisation (looked up when the state is made), a source by its hash,
//! which the state writer pseudonymises with the fleet key. The per-interval counters by country
//! ([`super::interval`]) come along, outside the postcard layout of the rest (see
//! [`GeoState::intervals`]).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::interval::IntervalsState;
use super::{Counts, Geo, GeoDb, Live, Settings, country_code};

/// One AS in a state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AsnState {
    /// Its number (0: unknown).
    pub asn: u32,
    /// Its counters.
    pub counts: Counts,
    /// Its organisation, if the database named one.
    pub organization: Option<String>,
}

/// A [`Geo`] as plain data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeoState {
    /// The databases read (for the report).
    pub files: Vec<String>,
    /// The regions: name and country codes.
    pub regions: Vec<(String, Vec<String>)>,
    /// The caps on cached sources and on ASes counted one by one.
    pub max_sources: u64,
    pub max_asns: u64,
    /// Countries seen, by index (see [`super::country_index`]).
    pub countries: Vec<(u16, Counts)>,
    pub asns: Vec<AsnState>,
    pub other_asns: Counts,
    pub other_asn_count: u64,
    pub cache_resets: u64,
    pub lookups: u64,
    /// Cached sources: hash, country index, AS number.
    pub sources: Vec<(u64, u16, u32)>,
    /// The counters per interval and country. Not in this struct's serde layout, which is state
    /// format 2's as first written (postcard has no optional fields): the state file carries
    /// them in a section after the day's figures ([`crate::state::file`]), absent from older
    /// files (then empty) and ignored by older readers.
    #[serde(skip)]
    pub intervals: IntervalsState,
}

impl Geo {
    /// The counters and cached sources as plain data (messages still queued counted first).
    pub fn state(&mut self) -> GeoState {
        self.refresh();
        self.flush();
        let db = Arc::clone(&self.db);
        let mut asns: Vec<AsnState> = self
            .asns
            .iter()
            .map(|(&asn, a)| AsnState {
                asn,
                counts: a.counts,
                organization: self.organization(asn, &a),
            })
            .collect();
        asns.sort_unstable_by_key(|a| a.asn);
        let mut sources: Vec<(u64, u16, u32)> = self
            .cache
            .iter()
            .chain(self.log.iter().copied())
            .map(|(k, v)| (k, v.country, self.asns.asn_of(v.slot)))
            .collect();
        sources.sort_unstable();
        GeoState {
            files: db.files.iter().map(|p| p.display().to_string()).collect(),
            regions: db
                .regions
                .iter()
                .map(|r| {
                    let codes = r.countries.iter().map(|&c| country_code(c)).collect();
                    (r.name.clone(), codes)
                })
                .collect(),
            max_sources: self.settings.max_sources as u64,
            max_asns: self.settings.max_asns as u64,
            countries: self
                .countries
                .iter()
                .enumerate()
                .filter(|(_, c)| **c != Counts::default())
                .map(|(i, c)| (i as u16, *c))
                .collect(),
            asns,
            other_asns: self.other_asns,
            other_asn_count: self.other_asn_count,
            cache_resets: self.cache_resets,
            lookups: self.lookups,
            sources,
            intervals: self.intervals.state(),
        }
    }

    /// The organisation of AS `asn`: from the database by an address seen in it, else as a
    /// merged state named it.
    pub fn organization(&self, asn: u32, a: &super::AsnCounts) -> Option<String> {
        if asn == 0 {
            return None;
        }
        let (addr, version) = a.example;
        let from_db = (version != 0)
            .then(|| self.db.organization(Self::ip(version, &addr)))
            .flatten();
        from_db.or_else(|| self.organizations.get(&asn).cloned())
    }

    /// Empty counters able to take `s` (no database files: for merges only).
    pub fn for_state(s: &GeoState, seed: u64) -> Result<Self, String> {
        let mut db = GeoDb::open(None, None, &s.regions).map_err(|e| e.to_string())?;
        db.files = s.files.iter().map(Into::into).collect();
        let settings = Settings {
            max_sources: usize::try_from(s.max_sources).unwrap_or(usize::MAX),
            max_asns: usize::try_from(s.max_asns).unwrap_or(usize::MAX),
            ..Settings::default()
        };
        Ok(Self::new(Arc::new(Live::new(db)), &settings, seed, 0))
    }

    /// Adds a state saved by [`Geo::state`] (made with the same hash seed, or pseudonymised
    /// with the same fleet key).
    pub fn merge_state(&mut self, s: &GeoState) -> Result<(), String> {
        if let Some(&(_, cc, _)) = s
            .sources
            .iter()
            .find(|e| usize::from(e.1) >= super::COUNTRIES)
        {
            return Err(format!("source country index {cc} out of range"));
        }
        self.absorb();
        self.trusted = false;
        for &(i, c) in &s.countries {
            self.countries
                .get_mut(usize::from(i))
                .ok_or_else(|| format!("country index {i} out of range"))?
                .add(&c);
        }
        for a in &s.asns {
            self.add_asn(a.asn, &a.counts, ([0; 16], 0));
            if let Some(org) = &a.organization {
                self.organizations
                    .entry(a.asn)
                    .or_insert_with(|| org.clone());
            }
        }
        self.other_asns.add(&s.other_asns);
        self.other_asn_count += s.other_asn_count;
        self.cache_resets += s.cache_resets;
        self.lookups += s.lookups;
        self.intervals.merge_state(&s.intervals)?;
        self.add_sources(s.sources.len(), s.sources.iter().copied());
        Ok(())
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::aggregate::sources::SourceKey;

    /// Counts an IPv4 query as the aggregate does: its source reported to the distinct
    /// sources (as if new to its day), the query counted by its network.
    fn query(g: &mut Geo, addr: [u8; 16], seed: u64, interval: u32, flags: u8) {
        g.source_seen(&SourceKey::new(4, &addr, seed), false);
        let net = g.net_key(4, super::super::lead(4, &addr));
        g.apply(&super::super::Item {
            net,
            addr,
            interval,
            version: 4,
            flags,
        });
    }

    /// Counters over databases of no file (every source unknown), keys hashed with `seed`.
    fn empty(seed: u64) -> (Arc<Live>, Geo) {
        let db = GeoDb::open(None, None, &[]).expect("db");
        let live = Arc::new(Live::new(db));
        let g = Geo::new(Arc::clone(&live), &Settings::default(), seed, 0);
        (live, g)
    }

    /// After a reload a network is looked up again, its source not counting as new; also
    /// after a generation equal to the last in its low 16 bits (once kept per entry).
    #[test]
    fn reloads_look_sources_up_again() {
        let (live, mut g) = empty(3);
        let addr = [198, 51, 100, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let see = |g: &mut Geo| {
            g.refresh();
            query(g, addr, 3, 0, 0);
            g.flush();
            (g.lookups, g.countries[usize::from(super::super::UNKNOWN)])
        };
        assert_eq!(see(&mut g).0, 1);
        assert_eq!(see(&mut g).0, 1);
        live.set_generation(1);
        assert_eq!(see(&mut g).0, 2);
        assert_eq!(see(&mut g).0, 2);
        live.set_generation(1 + 65_536); // the same low 16 bits
        assert_eq!(see(&mut g).0, 3);
        let (_, c) = see(&mut g);
        assert_eq!((c.queries, c.sources_estimate), (6, 1));
    }

    /// The ASes' 32-bit tallies are settled before one could wrap: counts past 2³² events in
    /// a worker are whole.
    #[test]
    fn tallies_settle_before_they_wrap() {
        let (_live, mut g) = empty(3);
        let addr = [198, 51, 100, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        query(&mut g, addr, 3, 0, 0);
        // As if 2³² − 3 events had been counted since the last settlement.
        g.tallied = u32::MAX - 3;
        let t = g.asns.tally_mut(0).expect("slot 0");
        t.queries = u32::MAX - 3;
        for _ in 0..5 {
            query(&mut g, addr, 3, 0, 0);
        }
        assert_eq!(g.tallied, 2);
        let counts = g.asns.get(0).expect("AS 0").counts;
        assert_eq!(counts.queries, u64::from(u32::MAX) + 2);
        g.flush();
        assert_eq!(g.tallied, 0);
        assert_eq!(
            g.asns.get(0).expect("AS 0").counts.queries,
            u64::from(u32::MAX) + 2
        );
    }

    /// The daemon's hand-over (`take_cache`, and back when the merger is behind) loses and
    /// doubles no count, and the worker keeps its cache and AS slots (no second lookup).
    #[test]
    fn hand_over_and_back_keeps_every_count() {
        let db = GeoDb::open(None, None, &[]).expect("db");
        let live = Arc::new(Live::new(db));
        let s = Settings::default();
        let feed = |g: &mut Geo, from: u8, to: u8| {
            for i in from..to {
                query(
                    g,
                    [192, 0, 2, i, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                    5,
                    0,
                    0,
                );
            }
        };
        let mut worker = Geo::new(Arc::clone(&live), &s, 5, 0);
        let mut spare = Geo::new(Arc::clone(&live), &s, 5, 0);
        feed(&mut worker, 0, 10);
        // Hand-over: the worker continues with the spare, the delta keeps the counts.
        std::mem::swap(&mut worker, &mut spare);
        let mut delta = spare;
        worker.take_cache(&mut delta);
        // 5..10 known: not new; the network is known too (no database holds any: one /24).
        feed(&mut worker, 5, 15);
        assert_eq!(worker.lookups, 0);
        // The merger is behind: the delta's counts come back to the worker.
        let mut back = std::mem::replace(&mut worker, delta);
        worker.take_cache(&mut back);
        worker.merge(&back);
        feed(&mut worker, 0, 3);
        worker.flush();
        let zz = usize::from(super::super::UNKNOWN);
        assert_eq!(worker.countries[zz].queries, 23);
        assert_eq!(worker.countries[zz].sources_estimate, 15);
        let asn0 = worker
            .asns
            .get(0)
            .map(|a| (a.counts.queries, a.counts.sources_estimate));
        assert_eq!(asn0, Some((23, 15)));
        assert_eq!(worker.lookups, 1);
    }

    /// Sources reported as new to the per-source sets are logged without a probe; joined (two
    /// logs), merged into a table (a log and a table) or exported, they count as probed ones;
    /// and once a source came otherwise, the log is moved into the table and probed.
    #[test]
    fn logged_sources_count_like_probed_ones() {
        let db = GeoDb::open(None, None, &[]).expect("db");
        let live = Arc::new(Live::new(db));
        let s = Settings::default();
        let mk = || Geo::new(Arc::clone(&live), &s, 11, 16);
        let key =
            |i: u8| SourceKey::new(4, &[192, 0, 2, i, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 11);
        let (mut a, mut b, mut c) = (mk(), mk(), mk());
        for i in 0..10 {
            a.source_seen(&key(i), true);
        }
        for i in 5..20 {
            b.source_seen(&key(i), true);
            c.source_seen(&key(i), false);
        }
        for g in [&mut a, &mut b, &mut c] {
            g.flush();
        }
        assert_eq!((b.cache.len(), b.log.len()), (0, 15));
        assert_eq!((c.cache.len(), c.log.len()), (15, 0));
        let zz = usize::from(super::super::UNKNOWN);
        let sources = |g: &Geo| {
            let asn0 = g.asns.get(0).map_or(0, |a| a.counts.sources_estimate);
            (g.countries[zz].sources_estimate, asn0)
        };
        let mut ab = a.clone();
        ab.merge(&b);
        let mut ac = a.clone();
        ac.merge(&c);
        assert_eq!((ab.cache.len(), ab.log.len()), (0, 20));
        assert_eq!(sources(&ab), (20, 20));
        assert_eq!(sources(&ac), (20, 20));
        assert_eq!(ab.state().sources.len(), 20);
        assert_eq!(ab.state().sources, ac.state().sources);
        // After a merge nothing is taken as new unprobed.
        ab.source_seen(&key(3), true);
        ab.flush();
        assert_eq!(sources(&ab), (20, 20));
        let mut d = mk();
        d.source_seen(&key(1), true);
        d.source_seen(&key(1), false);
        d.source_seen(&key(2), true);
        d.flush();
        assert_eq!(sources(&d), (2, 2));
        assert_eq!((d.cache.len(), d.log.len()), (2, 0));
    }

    /// Two instances' geography through states equals their direct merge, a source both saw
    /// counting once; their intervals too.
    #[test]
    fn states_merge_like_workers() {
        let db = GeoDb::open(None, None, &[("R".into(), vec!["ZZ".into()])]).expect("db");
        let live = Arc::new(Live::new(db));
        let series = crate::aggregate::series::Settings {
            interval_seconds: 60,
            max_intervals: 16,
        };
        let mut a = Geo::new(Arc::clone(&live), &Settings::default(), 7, 0).with_intervals(&series);
        let mut b = Geo::new(live, &Settings::default(), 7, 0).with_intervals(&series);
        for (g, range) in [(&mut a, 0u8..10), (&mut b, 5..20)] {
            for i in range {
                let addr = [192, 0, 2, i, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
                query(g, addr, 7, 1000 + u32::from(i % 3), super::super::DO);
            }
        }
        let mut direct = a.clone();
        direct.merge(&b);
        let (sa, sb) = (a.state(), b.state());
        let mut merged = Geo::for_state(&sa, 7)
            .expect("for state")
            .with_intervals(&series);
        merged.merge_state(&sa).expect("a");
        merged.merge_state(&sb).expect("b");
        let zz = usize::from(super::super::UNKNOWN);
        assert_eq!(merged.countries[zz], direct.countries[zz]);
        assert_eq!(merged.countries[zz].queries, 25);
        assert_eq!(merged.countries[zz].queries_do, 25);
        assert_eq!(merged.countries[zz].sources_estimate, 20);
        assert_eq!(
            merged.asns.get(0).map_or(0, |a| a.counts.sources_estimate),
            20
        );
        assert_eq!(merged.state().countries, direct.state().countries);
        // Per interval: i % 3 of 0..10 and 5..20 (0, 1, 2: 9, 8 and 8 queries), 60 s wide.
        let per: Vec<(u64, u64)> = merged
            .state()
            .intervals
            .rows
            .iter()
            .map(|r| (r.start_ns / 60_000_000_000, r.counts.queries_do))
            .collect();
        assert_eq!(per, [(1000, 9), (1001, 8), (1002, 8)]);
        assert_eq!(merged.state().intervals, direct.state().intervals);
        // Serialised and back: the intervals are not in this layout (the file's trailer).
        let bytes = postcard::to_allocvec(&sa).expect("encode");
        let back: GeoState = postcard::from_bytes(&bytes).expect("decode");
        assert_eq!(back.intervals, Default::default());
        assert_eq!(
            back,
            GeoState {
                intervals: Default::default(),
                ..sa
            }
        );
    }
}
