//! ICANN's ITHI root (M3) and authoritative (M8) metrics, computed continuously instead of from
//! daily samples. The definitions are those `ithitools` (github.com/private-octopus/ithitools,
//! `lib/ComputeM34.cpp`, `lib/DnsStats.cpp`, `lib/AddressFilter.cpp`) implements; each is quoted
//! or paraphrased next to the field that computes it, with where dnsobs must differ.
//!
//! "Resolver" is what ithitools' `StatsByIP` table keys on: a distinct address. dnsobs counts
//! resolvers per property with HyperLogLog sketches (one [`HllBank`], each sketch with the
//! registers of an [`Hll`], standard error
//! 0.81 %, exact-in-practice below a few hundred by linear counting); shares of resolvers are
//! ratios of two estimates. ithitools keys its per-resolver table on the *destination* of
//! responses (`RegisterStatsByIp(dest_addr)` when a response is seen) and reads DO/EDNS from the
//! packet being parsed; dnsobs reads the resolver's behaviour from its *queries* (source
//! address), so it also works on captures holding one direction only.
//!
//! HOT PATH: fixed arrays, the HLLs and one fixed-size repeat cache; no allocation. The 13
//! sketches of a query's source share one bank, their registers interleaved, so a query's
//! inserts touch one cache line, not one per sketch (a tenth of a replay's L1 misses before).
//! Memory per worker: the bank, 256 KiB (16 sketches' room), plus the repeat cache (`repeat_slots` × 16
//! bytes: 65,536 slots = 1 MiB).

use crate::aggregate::classify::{Class, classify};
use crate::aggregate::sketch::{HllBank, process_seed};
use crate::decode::dns::opt;
use crate::decode::{Message, MsgCtx, Name};

use super::sources::SourceKey;
use super::sources::set::mix;

/// The resolver sketches' places in [`Ithi::resolvers`] (and [`IthiState::resolvers`]).
pub const ALL: usize = 0;
/// Resolvers with an EDNS query.
pub const EDNS: usize = 1;
/// Resolvers with a DO query.
pub const DO: usize = 2;
/// Resolvers with a query that is not minimised.
pub const NOT_MINIMISED: usize = 3;
/// The first of the per-option sketches (`opt::LABELS` order).
pub const OPTIONS: usize = 4;
/// Resolver sketches in all.
pub const SKETCHES: usize = OPTIONS + opt::LABELS.len();
const _: () = assert!(SKETCHES <= crate::aggregate::sketch::hll::BANK);

/// Settings.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Slots of the M3.2 repeat cache (rounded up to a power of two, at least 4).
    pub repeat_slots: usize,
    /// How long a (resolver, TLD) answer is assumed cached, seconds: the TTL of the root
    /// zone's TLD delegations (NS 172800 s, two days).
    pub repeat_ttl_s: u32,
    /// Labels of the zone the server is authoritative for (0 for the root): the QNAME
    /// minimisation heuristic asks for names at most one label below it.
    pub zone_labels: u8,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            repeat_slots: 1 << 16,
            repeat_ttl_s: 172_800,
            zone_labels: 0,
        }
    }
}

/// Most distinct TLDs kept by name for M3.3.1 and M3.3.2: `classify` only gives the special-use
/// and leaked classes to its fixed lists (7 + 11 names), so 32 never fills.
const KEYED: usize = 32;

/// Per-key counts for a bounded, fixed set of short keys (TLDs of at most 15 bytes).
#[derive(Clone, Copy, Debug)]
struct Keyed {
    keys: [[u8; 15]; KEYED],
    lens: [u8; KEYED],
    counts: [u64; KEYED],
    n: usize,
}

impl Default for Keyed {
    fn default() -> Self {
        Self {
            keys: [[0; 15]; KEYED],
            lens: [0; KEYED],
            counts: [0; KEYED],
            n: 0,
        }
    }
}

impl Keyed {
    fn add(&mut self, key: &[u8], c: u64) {
        let key = &key[..key.len().min(15)];
        for i in 0..self.n {
            if &self.keys[i][..usize::from(self.lens[i])] == key {
                self.counts[i] += c;
                return;
            }
        }
        if self.n < KEYED {
            self.keys[self.n][..key.len()].copy_from_slice(key);
            self.lens[self.n] = key.len() as u8;
            self.counts[self.n] = c;
            self.n += 1;
        }
    }
    fn iter(&self) -> impl Iterator<Item = (&[u8], u64)> {
        (0..self.n).map(|i| (&self.keys[i][..usize::from(self.lens[i])], self.counts[i]))
    }
    fn merge(&mut self, o: &Self) {
        for (k, c) in o.iter() {
            self.add(k, c);
        }
    }
}

/// Option codes of the `opt::LABELS` bits, in that order (`None`: any other code).
pub const OPTION_CODES: [Option<u16>; 9] = [
    Some(3),
    Some(8),
    Some(9),
    Some(10),
    Some(11),
    Some(12),
    Some(14),
    Some(15),
    None,
];

const WAYS: usize = 4;

/// A 64-bit hash of an address (the first 4 bytes for IPv4), for the repeat cache's key.
fn addr_hash(seed: u64, version: u8, addr: &[u8; 16]) -> u64 {
    let lo = u64::from_le_bytes(addr[..8].try_into().unwrap_or([0; 8]));
    let hi = u64::from_le_bytes(addr[8..].try_into().unwrap_or([0; 8]));
    let (lo, hi) = if version == 6 {
        (lo, hi)
    } else {
        (lo & 0xFFFF_FFFF, 0)
    };
    mix(mix(seed ^ lo ^ u64::from(version)) ^ hi)
}

/// The ITHI counters and sketches as plain data.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IthiState {
    /// Responses.
    pub responses: u64,
    /// NOERROR responses.
    pub noerror: u64,
    /// NXDOMAIN responses.
    pub nxdomain: u64,
    /// Special-use names by TLD.
    pub special: Vec<(Vec<u8>, u64)>,
    /// Leaked names by TLD.
    pub leaked: Vec<(Vec<u8>, u64)>,
    /// Probe lengths.
    pub probe_lengths: [u64; 16],
    /// Useful queries.
    pub useful: u64,
    /// Useless queries.
    pub useless: u64,
    /// Repeat cache evictions.
    pub repeat_evictions: u64,
    /// The resolver sketches' registers: all, EDNS, DO, not minimised, then one per option.
    pub resolvers: Vec<Vec<u8>>,
}

/// One ITHI metric value, as ithitools writes it: metric name, key (a TLD, a pattern, an option
/// code, or empty) and value.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// "M3.1", "M3.3.2", "M8.2.2", …
    pub metric: &'static str,
    /// Sub-key ("" when the metric is a scalar).
    pub key: String,
    /// The value (a share, 0–1).
    pub value: f64,
}

/// ITHI counters of one worker.
#[derive(Clone, Debug)]
pub struct Ithi {
    /// Responses seen.
    pub responses: u64,
    /// NOERROR responses.
    pub noerror: u64,
    /// NXDOMAIN responses.
    pub nxdomain: u64,
    /// NXDOMAIN responses whose name is under a special-use TLD, by TLD (M3.3.1).
    special: Keyed,
    /// NXDOMAIN responses under frequently leaked TLDs, by TLD (M3.3.2).
    leaked: Keyed,
    /// NXDOMAIN responses for single labels of 7–15 letters, by length (M3.3.3).
    pub probe_lengths: [u64; 16],
    /// NOERROR responses whose (resolver, TLD) was not answered within the TTL before (M3.2).
    pub useful: u64,
    /// NOERROR responses repeating a (resolver, TLD) answered within the TTL (M3.2).
    pub useless: u64,
    /// Repeat-cache entries overwritten while still within their TTL.
    pub repeat_evictions: u64,
    /// The resolver sketches, in the order of [`IthiState::resolvers`]: every resolver that
    /// sent a query ([`ALL`]); those with at least one EDNS query ([`EDNS`], M3.4.1 / M8.2.1),
    /// one DO query ([`DO`], M3.5 / M8.3), one query that is not minimised
    /// ([`NOT_MINIMISED`], complement of M3.6 / M8.4); then with each option at least once
    /// (from [`OPTIONS`], `opt::LABELS` order; M3.4.2 / M8.2.2).
    pub resolvers: HllBank,
    repeat: Box<[(u64, u64)]>,
    repeat_mask: usize,
    ttl_ns: u64,
    zone_labels: u8,
    seed: u64,
}

impl Ithi {
    /// Empty counters hashing resolvers with the per-process seed.
    pub fn new(settings: &Settings) -> Self {
        Self::with_seed(settings, process_seed())
    }

    /// Empty counters with a given HLL seed (sketches merge only with equal seeds).
    pub fn with_seed(settings: &Settings, seed: u64) -> Self {
        let slots = settings.repeat_slots.max(WAYS).next_power_of_two();
        Self {
            repeat: super::table::filled(slots, (0, 0)).into_boxed_slice(),
            repeat_mask: slots / WAYS - 1,
            ttl_ns: u64::from(settings.repeat_ttl_s) * 1_000_000_000,
            zone_labels: settings.zone_labels,
            resolvers: HllBank::new(),
            seed,
            ..Self::placeholder()
        }
    }

    /// Counters that allocate nothing and ignore everything (stand-in in `Aggregate::clear`).
    pub fn placeholder() -> Self {
        Self {
            responses: 0,
            noerror: 0,
            nxdomain: 0,
            special: Keyed::default(),
            leaked: Keyed::default(),
            probe_lengths: [0; 16],
            useful: 0,
            useless: 0,
            repeat_evictions: 0,
            resolvers: HllBank::placeholder(),
            repeat: Box::default(),
            repeat_mask: 0,
            ttl_ns: 0,
            zone_labels: 0,
            seed: 0,
        }
    }

    /// Heap bytes (HLL registers and the repeat cache).
    pub fn memory_bytes(&self) -> usize {
        self.resolvers.memory_bytes() + std::mem::size_of_val(&*self.repeat)
    }

    /// Whether a query counts as QNAME-minimised. ithitools (`DnsStats::IsQNameMinimized`):
    /// "A query is considered minimized if the queried record type is [N]S or A, and if the
    /// name in the first response or NS record is identical to the name in the query" (class
    /// IN, one question). dnsobs does not decode answer or authority records, so it uses the
    /// name shape that makes this true at a zone cut: at the root (`zone_labels` 0) the
    /// referral's NS owner is the TLD, so the query must name the root or a TLD; in general the
    /// name may be at most one label below the zone. As in ithitools, a non-minimising resolver
    /// asking an authoritative server for a name exactly one label below its zone
    /// (`www.example.com` to `example.com`'s servers) looks minimised.
    #[inline]
    pub fn minimised(&self, msg: &Message, name: &Name) -> bool {
        matches!(msg.question, Some((1 | 2, 1)))
            && name.is_valid()
            && name.labels() <= self.zone_labels.saturating_add(1)
    }

    /// The repeat cache's key of a NOERROR response: (destination address, TLD).
    #[inline]
    fn repeat_key(&self, ctx: &MsgCtx, name: &Name) -> u64 {
        let mut a = ctx.dst;
        if ctx.ip_version != 6 {
            a[4..].fill(0);
        }
        let tld = name.tld();
        let mut t = [0u8; 8];
        for (i, b) in tld.iter().enumerate() {
            t[i % 8] = t[i % 8].rotate_left(3) ^ b;
        }
        addr_hash(
            self.seed ^ 0x6974_6869 ^ u64::from_le_bytes(t) ^ (tld.len() as u64) << 56,
            ctx.ip_version,
            &a,
        ) | 1
    }

    /// Starts loading the repeat-cache set `observe` will read for this message (a hint only),
    /// and returns the message's repeat-cache key for [`Ithi::observe_keyed`] (0: none).
    #[inline]
    pub fn prefetch(&self, ctx: &MsgCtx, msg: &Message, name: &Name) -> u64 {
        if self.repeat.is_empty() || !msg.header.qr() || msg.rcode() != 0 {
            return 0;
        }
        let key = self.repeat_key(ctx, name);
        super::prefetch(&self.repeat[(key as usize & self.repeat_mask) * WAYS]);
        key
    }

    /// Records a message (hashing a query's source itself; see
    /// [`observe_keyed`](Self::observe_keyed)).
    pub fn observe(&mut self, ctx: &MsgCtx, msg: &Message, name: &Name) {
        let id = SourceKey::new(ctx.ip_version, &ctx.src, self.seed).addr_hash;
        let repeat = self.prefetch(ctx, msg, name);
        self.observe_keyed(ctx, msg, name, id, repeat);
    }

    /// Records a message; `src_hash` is a query's source hash from its [`SourceKey`] (one hash
    /// per query, seeded like the HLLs, fed to every sketch the query concerns), `repeat` the
    /// key [`Ithi::prefetch`] returned for it.
    #[inline]
    pub fn observe_keyed(
        &mut self,
        ctx: &MsgCtx,
        msg: &Message,
        name: &Name,
        src_hash: u64,
        repeat: u64,
    ) {
        if self.repeat.is_empty() {
            return;
        }
        let h = &msg.header;
        if !h.qr() {
            if h.opcode() != 0 {
                return;
            }
            let mut sketches = 1 << ALL;
            if let Some(e) = msg.edns {
                sketches |= 1 << EDNS;
                if e.dnssec_ok {
                    sketches |= 1 << DO;
                }
                for (i, (bit, _)) in opt::LABELS.iter().enumerate() {
                    if e.options & bit != 0 {
                        sketches |= 1 << (OPTIONS + i);
                    }
                }
            }
            if !self.minimised(msg, name) {
                sketches |= 1 << NOT_MINIMISED;
            }
            self.resolvers.insert_hash(sketches, src_hash);
            return;
        }
        self.responses += 1;
        match msg.rcode() {
            0 => {
                self.noerror += 1;
                debug_assert_eq!(repeat, self.repeat_key(ctx, name));
                self.repeat(ctx, repeat);
            }
            3 => {
                self.nxdomain += 1;
                let qtype = msg.question.map_or(0, |(t, _)| t);
                match classify(qtype, name) {
                    Class::SpecialUse => self.special.add(name.tld(), 1),
                    Class::Leaked => self.leaked.add(name.tld(), 1),
                    Class::ChromiumProbe => self.probe_lengths[name.tld().len().min(15)] += 1,
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// M3.2. ithitools (`DnsStats.cpp`, "Analysis of useless traffic to the root"): for each
    /// NOERROR response, the key (destination address, TLD of the query) is inserted in a
    /// table; a response whose key is already there is "useless" (`UsefulQueries` 0), a new
    /// key "useful" (1); M3.2 = useless / (useful + useless) (`ComputeM3::GetM3_2`). The
    /// ithitools table lives for one 2-minute sample, so "already there" means "within the
    /// sample". Continuously there is no sample: dnsobs calls a repeat useless when the
    /// previous useful answer to the same (resolver, TLD) is younger than `repeat_ttl_s`
    /// (default the TLD delegation TTL, 2 days: a resolver honouring it would not ask again).
    ///
    /// Error: the cache is set-associative (4 ways) and bounded; when a set is full the
    /// oldest entry is overwritten, and a later repeat of the overwritten key counts as useful:
    /// M3.2 can only be *under*estimated, by at most `repeat_evictions` / (useful + useless).
    /// Keys are 64-bit hashes: a collision (probability ≈ n² / 2⁶⁵) makes a useful answer
    /// count as useless. The address is the destination of the response (the resolver).
    fn repeat(&mut self, ctx: &MsgCtx, key: u64) {
        let now = ctx.ts_ns.max(1);
        let set = (key as usize & self.repeat_mask) * WAYS;
        let ways = &mut self.repeat[set..set + WAYS];
        for (k, ts) in ways.iter_mut() {
            if *k == key {
                if now.saturating_sub(*ts) <= self.ttl_ns {
                    self.useless += 1;
                } else {
                    self.useful += 1;
                    *ts = now;
                }
                return;
            }
        }
        // The oldest (or a free) way.
        let victim = ways
            .iter()
            .enumerate()
            .min_by_key(|(_, (_, ts))| *ts)
            .map_or(0, |(i, _)| i);
        let (k, ts) = ways[victim];
        if k != 0 && now.saturating_sub(ts) <= self.ttl_ns {
            self.repeat_evictions += 1;
        }
        ways[victim] = (key, now);
        self.useful += 1;
    }

    /// Adds another worker's counters. The HLLs merge by union (a resolver seen by two workers
    /// counts once); the repeat cache stays with its worker (see [`Ithi::take_cache`]).
    pub fn merge(&mut self, o: &Self) {
        self.responses += o.responses;
        self.noerror += o.noerror;
        self.nxdomain += o.nxdomain;
        self.special.merge(&o.special);
        self.leaked.merge(&o.leaked);
        for (a, b) in self.probe_lengths.iter_mut().zip(&o.probe_lengths) {
            *a += b;
        }
        self.useful += o.useful;
        self.useless += o.useless;
        self.repeat_evictions += o.repeat_evictions;
        self.resolvers.merge(&o.resolvers);
    }

    /// The counters and sketches as plain data (for day state files; the repeat cache is the
    /// worker's state and stays).
    pub fn state(&self) -> IthiState {
        IthiState {
            responses: self.responses,
            noerror: self.noerror,
            nxdomain: self.nxdomain,
            special: self.special.iter().map(|(k, c)| (k.to_vec(), c)).collect(),
            leaked: self.leaked.iter().map(|(k, c)| (k.to_vec(), c)).collect(),
            probe_lengths: self.probe_lengths,
            useful: self.useful,
            useless: self.useless,
            repeat_evictions: self.repeat_evictions,
            resolvers: (0..SKETCHES).map(|j| self.resolvers.registers(j)).collect(),
        }
    }

    /// Adds the counters of `s` (made with the same hash seed).
    pub fn merge_state(&mut self, s: &IthiState) -> Result<(), String> {
        if s.resolvers.len() != SKETCHES {
            return Err(format!("{} ITHI resolver sketches", s.resolvers.len()));
        }
        self.responses += s.responses;
        self.noerror += s.noerror;
        self.nxdomain += s.nxdomain;
        for (k, c) in &s.special {
            self.special.add(k, *c);
        }
        for (k, c) in &s.leaked {
            self.leaked.add(k, *c);
        }
        for (a, b) in self.probe_lengths.iter_mut().zip(&s.probe_lengths) {
            *a += b;
        }
        self.useful += s.useful;
        self.useless += s.useless;
        self.repeat_evictions += s.repeat_evictions;
        for (j, regs) in s.resolvers.iter().enumerate() {
            self.resolvers.merge_registers(j, regs)?;
        }
        Ok(())
    }

    /// Zeroes the counters and sketches; the repeat cache stays (it is the worker's state).
    pub fn clear(&mut self) {
        self.responses = 0;
        self.noerror = 0;
        self.nxdomain = 0;
        self.special = Keyed::default();
        self.leaked = Keyed::default();
        self.probe_lengths = [0; 16];
        self.useful = 0;
        self.useless = 0;
        self.repeat_evictions = 0;
        self.resolvers.clear();
    }

    /// Moves `from`'s repeat cache into `self` (swapping), for a worker that continues with a
    /// fresh aggregate while `from` goes to the merger.
    pub fn take_cache(&mut self, from: &mut Self) {
        std::mem::swap(&mut self.repeat, &mut from.repeat);
        std::mem::swap(&mut self.repeat_mask, &mut from.repeat_mask);
        self.ttl_ns = from.ttl_ns;
        self.zone_labels = from.zone_labels;
        self.seed = from.seed;
    }

    /// The metrics, in ithitools' order: M3.1, M3.2, M3.3.1–M3.3.4, M3.4.1, M3.4.2, M3.5, M3.6,
    /// then M8.1, M8.2.1, M8.2.2, M8.3, M8.4. Shares of zero denominators are 0 (ithitools
    /// prints 0 too). Keys of M3.3.x rows are sorted by decreasing share, then name.
    pub fn rows(&self) -> Vec<Row> {
        fn share(n: f64, d: f64) -> f64 {
            if d > 0.0 {
                (n / d).clamp(0.0, 1.0)
            } else {
                0.0
            }
        }
        let row = |metric, key: &str, value| Row {
            metric,
            key: key.to_owned(),
            value,
        };
        // M3.1, ithitools `GetM3_1`: "nb_nxdomain / (nb_noerror + nb_nxdomain)" over the root's
        // responses (REGISTRY_DNS_root_QR): NXDOMAIN share of the NOERROR+NXDOMAIN responses.
        let root_queries = (self.noerror + self.nxdomain) as f64;
        let m3_1 = share(self.nxdomain as f64, root_queries);
        let mut out = vec![
            row("M3.1", "", m3_1),
            row(
                "M3.2",
                "",
                share(self.useless as f64, (self.useful + self.useless) as f64),
            ),
        ];
        // M3.3, ithitools `GetM33_1..3`: per-TLD (RFC 6761 names; frequently leaked strings)
        // and per-pattern (`length_N`) counts of NXDOMAIN answers divided by nb_rootqueries;
        // M3.3.4 = M3.1 minus all of those, floored at 0 ("the rest").
        let mut rest = m3_1;
        let sorted = |k: &Keyed| {
            let mut v: Vec<(String, u64)> = k
                .iter()
                .map(|(k, c)| (String::from_utf8_lossy(k).into_owned(), c))
                .collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v
        };
        for (metric, keyed) in [("M3.3.1", &self.special), ("M3.3.2", &self.leaked)] {
            for (k, c) in sorted(keyed) {
                let s = share(c as f64, root_queries);
                rest -= s;
                out.push(row(metric, &k, s));
            }
        }
        let mut lengths: Vec<(String, u64)> = (7..16)
            .filter(|&l| self.probe_lengths[l] > 0)
            .map(|l| (format!("length_{l}"), self.probe_lengths[l]))
            .collect();
        lengths.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        for (k, c) in lengths {
            let s = share(c as f64, root_queries);
            rest -= s;
            out.push(row("M3.3.3", &k, s));
        }
        out.push(row("M3.3.4", "", rest.max(0.0)));
        // Resolver shares, ithitools `scalar_metric_from_extract`: resolvers with the property
        // (key 1) / all resolvers (keys 0 + 1), from `StatsByIP`: IsEdnsSupported "nb_edns > 0",
        // IsDoUsed "nb_do > 0", IsQnameMinimized "nb_mini_qname == ref_count" (every
        // query minimised). Options (`ComputeEdnsMetrics`): resolvers that used the option at
        // least once / all resolvers (REGISTRY_EDNS_OPT_USAGE_REF).
        // Estimates are rounded: below a few hundred, linear counting overshoots n by about
        // n² / 2¹⁵ (0.3 for n = 100), so small populations give exact ratios.
        let r = &self.resolvers;
        let all = r.estimate(ALL).round();
        let est = |j: usize| r.estimate(j).round().min(all);
        let edns = share(est(EDNS), all);
        let dnssec = share(est(DO), all);
        let minimised = share(all - est(NOT_MINIMISED), all);
        let options: Vec<(String, f64)> = OPTION_CODES
            .iter()
            .enumerate()
            .filter(|&(i, _)| !r.is_empty(OPTIONS + i))
            .map(|(i, c)| {
                (
                    c.map_or_else(|| "other".to_owned(), |c| c.to_string()),
                    share(est(OPTIONS + i), all),
                )
            })
            .collect();
        out.push(row("M3.4.1", "", edns));
        for (k, v) in &options {
            out.push(row("M3.4.2", k, *v));
        }
        out.push(row("M3.5", "", dnssec));
        out.push(row("M3.6", "", minimised));
        // M8.1, ithitools `GetM8_1`: nb_nxdomain / ((nb_noerror + nb_nxdomain) / 2) over
        // REGISTRY_DNS_RCODES, which counts queries as rcode 0 too: with one response per
        // query that is NXDOMAIN responses / all responses, what dnsobs computes.
        out.push(row(
            "M8.1",
            "",
            share(self.nxdomain as f64, self.responses as f64),
        ));
        out.push(row("M8.2.1", "", edns));
        for (k, v) in &options {
            out.push(row("M8.2.2", k, *v));
        }
        out.push(row("M8.3", "", dnssec));
        out.push(row("M8.4", "", minimised));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_is_bounded() {
        let mut k = Keyed::default();
        for i in 0..100u8 {
            k.add(&[b'a' + i % 40], 1);
        }
        assert_eq!(k.iter().count(), KEYED);
        // Keys 0..20 come 3 times, 20..32 twice; keys 32..40 find the table full.
        assert_eq!(k.iter().map(|(_, c)| c).sum::<u64>(), 20 * 3 + 12 * 2);
    }
}
