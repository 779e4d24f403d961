//! Estimated distinct query sources for live gauges: five HyperLogLogs
//! ([`super::sketch::Hll`], 16 KiB each, **80 KiB per worker**) keyed by the query's source
//! address: IPv4, IPv6, IPv6 /64, and the IPv4 and IPv6 sources of queries with the DO bit.
//!
//! HOT PATH: one or two HLL inserts per query, no allocation, no lock.

use super::sketch::Hll;
use super::sources::SourceKey;
use crate::decode::{Message, MsgCtx};

/// Estimated distinct query sources, for live gauges (the exact counts are in
/// [`super::Sources`], up to its cap).
#[derive(Clone, Debug, Default)]
pub struct Distinct {
    /// IPv4 source addresses.
    pub v4: Hll,
    /// IPv6 source addresses.
    pub v6: Hll,
    /// IPv6 sources aggregated to /64 (RSSAC002 `num-sources-ipv6-aggregate`).
    pub v6_64: Hll,
    /// IPv4 sources of queries with the DO bit.
    pub do_v4: Hll,
    /// IPv6 sources of queries with the DO bit.
    pub do_v6: Hll,
}

/// The estimates of a [`Distinct`], rounded to whole sources.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DistinctEstimates {
    /// IPv4 sources.
    pub v4: f64,
    /// IPv6 sources.
    pub v6: f64,
    /// IPv6 /64 prefixes.
    pub v6_64: f64,
    /// IPv4 sources setting DO.
    pub do_v4: f64,
    /// IPv6 sources setting DO.
    pub do_v6: f64,
}

impl Distinct {
    /// Empty sketches (80 KiB) hashing with the per-process seed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Empty sketches with a fixed seed (reproducible estimates, for tests).
    pub fn with_seed(seed: u64) -> Self {
        Self {
            v4: Hll::with_seed(seed),
            v6: Hll::with_seed(seed),
            v6_64: Hll::with_seed(seed),
            do_v4: Hll::with_seed(seed),
            do_v6: Hll::with_seed(seed),
        }
    }

    /// Counts the source of a query (responses are ignored), hashing it once.
    #[inline]
    pub fn observe(&mut self, ctx: &MsgCtx, msg: &Message) {
        if msg.header.qr() {
            return;
        }
        let k = SourceKey::new(ctx.ip_version, &ctx.src, self.v4.seed());
        self.observe_key(&k, msg.edns.is_some_and(|e| e.dnssec_ok));
    }

    /// Counts a query's source by the hashes of its [`SourceKey`] (computed once per query by
    /// the aggregate, with the same per-process seed).
    #[inline]
    pub fn observe_key(&mut self, k: &SourceKey, dnssec_ok: bool) {
        if k.v6 {
            self.v6.insert_hash(k.addr_hash);
            self.v6_64.insert_hash(k.prefix_hash);
            if dnssec_ok {
                self.do_v6.insert_hash(k.addr_hash);
            }
        } else {
            self.v4.insert_hash(k.addr_hash);
            if dnssec_ok {
                self.do_v4.insert_hash(k.addr_hash);
            }
        }
    }

    /// Sketches that allocate nothing (see [`Hll::placeholder`]).
    pub fn placeholder() -> Self {
        Self {
            v4: Hll::placeholder(),
            v6: Hll::placeholder(),
            v6_64: Hll::placeholder(),
            do_v4: Hll::placeholder(),
            do_v6: Hll::placeholder(),
        }
    }

    /// Union with another worker's sketches.
    pub fn merge(&mut self, other: &Self) {
        self.v4.merge_real(&other.v4);
        self.v6.merge_real(&other.v6);
        self.v6_64.merge_real(&other.v6_64);
        self.do_v4.merge_real(&other.do_v4);
        self.do_v6.merge_real(&other.do_v6);
    }

    /// Empties every sketch, keeping the memory.
    pub fn clear(&mut self) {
        self.v4.clear();
        self.v6.clear();
        self.v6_64.clear();
        self.do_v4.clear();
        self.do_v6.clear();
    }

    /// Current estimates, rounded to whole sources.
    pub fn estimates(&self) -> DistinctEstimates {
        DistinctEstimates {
            v4: self.v4.estimate().round(),
            v6: self.v6.estimate().round(),
            v6_64: self.v6_64.estimate().round(),
            do_v4: self.do_v4.estimate().round(),
            do_v6: self.do_v6.estimate().round(),
        }
    }

    /// Bytes held: 80 KiB.
    pub fn memory_bytes(&self) -> usize {
        [&self.v4, &self.v6, &self.v6_64, &self.do_v4, &self.do_v6]
            .iter()
            .map(|h| h.memory_bytes())
            .sum()
    }
}

//============ Testing =======================================================

#[cfg(test)]
mod test {
    use super::*;
    use crate::decode::dns::{Edns, Header};

    /// 100 IPv4 and 100 IPv6 sources (in 10 /64s) of queries with DO, one more IPv6 source
    /// without, one response; returns the last context and message (the response).
    fn observe_sample(d: &mut Distinct) -> (MsgCtx, Message) {
        let mut msg = Message {
            header: Header::default(),
            edns: Some(Edns {
                dnssec_ok: true,
                ..Edns::default()
            }),
            ..Message::default()
        };
        let mut ctx = MsgCtx::for_test(4, [0; 16]);
        for i in 0..100u8 {
            ctx.ip_version = 4;
            ctx.src = [10, 0, 0, i, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            d.observe(&ctx, &msg);
            ctx.ip_version = 6;
            // 100 addresses in 10 /64s.
            ctx.src = [0x20, 1, 0xd, 0xb8, 0, 0, 0, i / 10, 0, 0, 0, 0, 0, 0, 0, i];
            d.observe(&ctx, &msg);
        }
        msg.edns = None;
        ctx.src[15] = 200;
        d.observe(&ctx, &msg);
        msg.header.flags = 0x8000; // a response: ignored
        ctx.src[15] = 201;
        d.observe(&ctx, &msg);
        (ctx, msg)
    }

    #[test]
    fn distinct_by_version_and_do() {
        // 100 items share a register with probability ≈ 26 % for a random seed (then the
        // estimate is 99): fixed seeds keep the exact figures reproducible.
        let mut d = Distinct::with_seed(1);
        let (ctx, msg) = observe_sample(&mut d);
        let e = d.estimates();
        assert_eq!(
            e,
            DistinctEstimates {
                v4: 100.0,
                v6: 101.0,
                v6_64: 10.0,
                do_v4: 100.0,
                do_v6: 100.0
            }
        );
        let mut t = Distinct::with_seed(1);
        t.merge(&d);
        assert_eq!(t.estimates(), e);
        t.clear();
        assert_eq!(t.estimates(), DistinctEstimates::default());
        assert_eq!(t.memory_bytes(), 80 * 1024);
        // A placeholder ignores inserts and merges, both ways.
        let mut p = Distinct::placeholder();
        p.observe(&ctx, &msg);
        p.merge(&d);
        assert_eq!(p.estimates(), DistinctEstimates::default());
        let mut q = d.clone();
        q.merge(&p);
        assert_eq!(q.estimates(), e);
    }
}
