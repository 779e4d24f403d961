//! Encoding helpers: a [`Family`] (the row of the family table that names, describes and types
//! a metric) and functions that write one family's series through `prometheus-client`. This file
//! imports nothing else of `export::prometheus`: the family table and the collectors build on it.

use std::fmt;

use prometheus_client::encoding::{DescriptorEncoder, EncodeGaugeValue, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

/// The type of a family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic count; exposed with the `_total` suffix.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Cumulative buckets, `_sum` and `_count`.
    Histogram,
}

/// One metric family: what the metrics reference, `dnsobs top` and the rules test check
/// against. `name` is the base name; the exposed name adds the unit and `_total` suffixes.
#[derive(Clone, Copy, Debug)]
pub struct Family {
    /// Base name (`dnsobs_queries`).
    pub name: &'static str,
    /// `# HELP` text.
    pub help: &'static str,
    /// `# TYPE`.
    pub kind: Kind,
    /// Unit suffix (`bytes`), if any.
    pub bytes: bool,
    /// Label names of every series (a histogram's `le` not included).
    pub labels: &'static [&'static str],
}

impl Family {
    /// The name as it appears in the text exposition (`dnsobs_queries_total`,
    /// `dnsobs_message_size_bytes_total`).
    pub fn exposed(&self) -> String {
        let unit = if self.bytes { "_bytes" } else { "" };
        let total = if self.kind == Kind::Counter {
            "_total"
        } else {
            ""
        };
        format!("{}{unit}{total}", self.name)
    }

    fn descriptor<'e>(
        &self,
        enc: &'e mut DescriptorEncoder<'_>,
    ) -> Result<prometheus_client::encoding::MetricEncoder<'e>, fmt::Error> {
        let kind = match self.kind {
            Kind::Counter => MetricType::Counter,
            Kind::Gauge => MetricType::Gauge,
            Kind::Histogram => MetricType::Histogram,
        };
        let unit = self.bytes.then_some(&Unit::Bytes);
        enc.encode_descriptor(self.name, self.help, unit, kind)
    }
}

/// A series' labels: `(name, value)` pairs in the family's label order.
pub type Labels<'a> = Vec<(&'a str, &'a str)>;

/// Writes a counter family with one series per label set.
pub fn counters<'a>(
    enc: &mut DescriptorEncoder<'_>,
    f: &Family,
    series: impl IntoIterator<Item = (Labels<'a>, u64)>,
) -> fmt::Result {
    let mut m = f.descriptor(enc)?;
    for (labels, v) in series {
        ConstCounter::new(v).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

/// Writes a counter family without labels.
pub fn counter(enc: &mut DescriptorEncoder<'_>, f: &Family, v: u64) -> fmt::Result {
    ConstCounter::new(v).encode(f.descriptor(enc)?)
}

/// Writes a gauge family with one series per label set. Integer values render without a
/// decimal point (`3`), floats with one (`3.0`), as `ConstGauge` does.
pub fn gauges<'a, N>(
    enc: &mut DescriptorEncoder<'_>,
    f: &Family,
    series: impl IntoIterator<Item = (Labels<'a>, N)>,
) -> fmt::Result
where
    N: EncodeGaugeValue + fmt::Debug,
{
    let mut m = f.descriptor(enc)?;
    for (labels, v) in series {
        ConstGauge::new(v).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

/// Writes an integer gauge family without labels.
pub fn int_gauge(enc: &mut DescriptorEncoder<'_>, f: &Family, v: i64) -> fmt::Result {
    ConstGauge::new(v).encode(f.descriptor(enc)?)
}

/// One histogram series: labels, sum, count, and per-bucket (not cumulative) counts by upper
/// bound, the last bound `+Inf`.
pub type Histogram<'a> = (Labels<'a>, f64, u64, Vec<(f64, u64)>);

/// Writes a histogram family.
pub fn histograms<'a>(
    enc: &mut DescriptorEncoder<'_>,
    f: &Family,
    series: impl IntoIterator<Item = Histogram<'a>>,
) -> fmt::Result {
    let mut m = f.descriptor(enc)?;
    for (labels, sum, count, buckets) in series {
        if labels.is_empty() {
            m.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
        } else {
            m.encode_family(&labels)?
                .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
        }
    }
    Ok(())
}

/// A histogram series from exact value-indexed counts (`counts[v]` = observations of value
/// `v`), bucketed at `bounds`.
pub fn from_exact<'a>(counts: &[u64], bounds: &[f64]) -> Histogram<'a> {
    let mut buckets: Vec<(f64, u64)> = bounds.iter().map(|b| (*b, 0)).collect();
    buckets.push((f64::INFINITY, 0));
    let (mut sum, mut count) = (0.0, 0);
    for (v, &n) in counts.iter().enumerate() {
        if n == 0 {
            continue;
        }
        let i = bounds
            .iter()
            .position(|b| v as f64 <= *b)
            .unwrap_or(bounds.len());
        buckets[i].1 += n;
        sum += v as f64 * n as f64;
        count += n;
    }
    (Vec::new(), sum, count, buckets)
}

/// Sums a code-indexed array into bounded labels (unassigned codes into `other`).
pub fn folded(values: &[u64], label: fn(u16) -> &'static str) -> Vec<(&'static str, u64)> {
    let mut out: Vec<(&'static str, u64)> = Vec::new();
    for (code, &v) in values.iter().enumerate() {
        if v == 0 {
            continue;
        }
        let l = label(code as u16);
        match out.iter_mut().find(|(k, _)| *k == l) {
            Some((_, n)) => *n += v,
            None => out.push((l, v)),
        }
    }
    out
}

/// One label per series: `[(value, n)]` → `[([(name, value)], n)]`.
pub fn by<'a, V>(
    name: &'a str,
    values: impl IntoIterator<Item = (&'a str, V)>,
) -> Vec<(Labels<'a>, V)> {
    values
        .into_iter()
        .map(|(l, n)| (vec![(name, l)], n))
        .collect()
}
