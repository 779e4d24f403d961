//! Generic fixed-memory sketches and tables, independent of DNS: byte-string keys in, counts
//! and estimates out. The DNS-specific modules around them choose the keys ([`super::topk`],
//! [`super::distinct`], [`super::asn`], [`super::ithi`]).
//!
//! * [`hll`]: HyperLogLog distinct counts.
//! * [`spacesaving`]: Space-Saving heavy hitters.
//! * [`index`]: the open-addressing hash index of the bounded tables (Space-Saving, the
//!   latency module's pending queries).
//!
//! HOT PATH: no allocation and no lock per observation; every table is allocated once.

pub mod hll;
pub mod index;
pub mod spacesaving;

use std::hash::BuildHasher;
use std::sync::OnceLock;

pub use hll::{Hll, HllBank};
pub use index::Index;
pub use spacesaving::SpaceSaving;

/// A random seed drawn once per process, shared by every sketch and table that must agree on
/// hashes (HLL merges; pending tables handed between aggregates). Random so that nobody can
/// choose sources that collide; `DNSOBS_HASH_SEED` (a decimal number) fixes it, for outputs that
/// must be reproducible byte for byte (the golden tests: a HyperLogLog estimate of a handful of
/// sources is exact unless two of them share a register, which a random seed makes happen in a
/// few runs per thousand).
pub fn process_seed() -> u64 {
    *SEED.get_or_init(|| {
        std::env::var("DNSOBS_HASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                foldhash::quality::RandomState::default().hash_one(0x646e_736f_6273u64)
            })
    })
}

static SEED: OnceLock<u64> = OnceLock::new();

/// The keyed hasher of byte strings every hot-path table shares (foldhash, seeded with
/// [`process_seed`]): the top-k summaries and the latency table hash a query's name with it,
/// so the name is hashed once per message for all of them.
pub fn bytes_hasher() -> foldhash::quality::FixedState {
    foldhash::quality::FixedState::with_seed(process_seed())
}

/// Fixes the per-process seed (a fleet key's, so that every instance of a fleet hashes alike:
/// see `crate::state::key`). Call before any sketch or aggregate exists; fails, returning
/// the seed in use, if another was already chosen.
pub fn set_process_seed(seed: u64) -> Result<(), u64> {
    let s = *SEED.get_or_init(|| seed);
    if s == seed { Ok(()) } else { Err(s) }
}

/// Deterministic pseudo-random numbers for tests (splitmix64).
#[cfg(test)]
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
