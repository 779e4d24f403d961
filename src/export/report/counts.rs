//! The report's value types: named counts in a fixed order, figures by transport and by IP
//! version, and the share helper.

use std::borrow::Cow;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::aggregate::UDP_SIZE_BUCKETS;

/// Named counts in a fixed order, serialised as a JSON object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Counts(pub Vec<(String, u64)>);

impl Serialize for Counts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl Counts {
    /// `{mnemonic: count}` of the non-zero entries of a code-indexed array, largest first.
    pub fn by_code(values: &[u64], name: fn(u16) -> Cow<'static, str>) -> Self {
        let mut v: Vec<(u64, String)> = values
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(c, n)| (*n, name(c as u16).into_owned()))
            .collect();
        v.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        Self(v.into_iter().map(|(n, k)| (k, n)).collect())
    }

    /// `le_<bound>` buckets and `above` of a UDP payload size histogram.
    pub fn udp_sizes(counts: &[u64]) -> Self {
        let mut v: Vec<(String, u64)> = UDP_SIZE_BUCKETS
            .iter()
            .zip(counts)
            .map(|(ub, n)| (format!("le_{ub}"), *n))
            .collect();
        v.push(("above".into(), counts[UDP_SIZE_BUCKETS.len()]));
        Self(v)
    }

    /// The non-zero entries of a value-indexed distribution, keyed by the value.
    pub fn distribution(v: &[u64]) -> Self {
        Self(
            v.iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(k, n)| (k.to_string(), *n))
                .collect(),
        )
    }

    /// The count of `key` (0 if absent).
    pub fn get(&self, key: &str) -> u64 {
        self.0.iter().find(|(k, _)| k == key).map_or(0, |(_, n)| *n)
    }

    /// Sum of every count.
    pub fn total(&self) -> u64 {
        self.0.iter().map(|(_, n)| n).sum()
    }
}

/// `n / d`, 0 when `d` is 0.
pub fn ratio(n: u64, d: u64) -> f64 {
    if d == 0 { 0.0 } else { n as f64 / d as f64 }
}

/// A figure by transport.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct ByTransport {
    /// Over UDP.
    pub udp: u64,
    /// Over TCP.
    pub tcp: u64,
}

/// A figure by IP version.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct ByVersion {
    /// IPv4.
    #[serde(rename = "4")]
    pub v4: u64,
    /// IPv6.
    #[serde(rename = "6")]
    pub v6: u64,
}
