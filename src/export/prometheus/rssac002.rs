//! The RSSAC002 families, from the run-long histograms and the day table's state:
//!
//! * `dnsobs_rssac002_request_size_bytes{transport}`: histogram of query sizes in the
//!   RSSAC002 request bins (`le` 15, 31, ..., 287, `+Inf` for `288-`);
//! * `dnsobs_rssac002_response_size_bytes{transport}`: histogram of response sizes, 128-byte
//!   buckets up to 4095 and `+Inf` (`4096-`);
//! * `dnsobs_rssac002_late_messages_total`: messages of a day already written (or beyond
//!   the 400-day window), not in any file;
//! * `dnsobs_rssac002_pending_periods`: days held, not yet written; day evictions and the
//!   pending days' unique-source overflow.
//!
//! Traffic volume and rcodes are already `dnsobs_queries_total`, `dnsobs_responses_total` and
//! `dnsobs_response_rcodes_total`; live distinct sources are the HyperLogLog gauges.

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{Histogram, counter, gauges, histograms, int_gauge};
use super::families as f;
use crate::aggregate::rssac002::Rssac002;

/// Response histogram buckets for Prometheus are 8 RSSAC002 bins wide (128 bytes): 33
/// buckets instead of 257 keep a scrape small; the daily YAML keeps the 16-byte bins.
pub const PROM_RESPONSE_BINS_PER_BUCKET: usize = 8;

/// `(upper bound, count)` buckets of an RSSAC002 histogram, `group` bins per bucket; the open
/// last bin is the `+Inf` bucket. Counts are per bucket (the encoder accumulates them).
fn prom_buckets(bins: &[u64], group: usize) -> Vec<(f64, u64)> {
    let closed = &bins[..bins.len() - 1];
    let mut out: Vec<(f64, u64)> = closed
        .chunks(group)
        .enumerate()
        .map(|(i, c)| {
            let ub = ((i * group + c.len()) * 16 - 1) as f64;
            (ub, c.iter().sum())
        })
        .collect();
    out.push((f64::INFINITY, bins[bins.len() - 1]));
    out
}

/// One series per transport of a pair of RSSAC002 histograms.
fn per_transport<'a>(hists: [&[u64]; 2], sums: [u64; 2], group: usize) -> [Histogram<'a>; 2] {
    [0, 1].map(|t| {
        (
            vec![("transport", ["udp", "tcp"][t])],
            sums[t] as f64,
            hists[t].iter().sum(),
            prom_buckets(hists[t], group),
        )
    })
}

/// Writes the RSSAC002 families.
pub fn encode(r: &Rssac002, enc: &mut DescriptorEncoder<'_>) -> fmt::Result {
    let lt = r.lifetime();
    let req = [&lt.request_sizes[0][..], &lt.request_sizes[1][..]];
    histograms(
        enc,
        &f::RSSAC002_REQUEST_SIZE,
        per_transport(req, lt.request_bytes, 1),
    )?;
    let resp = [&lt.response_sizes[0][..], &lt.response_sizes[1][..]];
    histograms(
        enc,
        &f::RSSAC002_RESPONSE_SIZE,
        per_transport(resp, lt.response_bytes, PROM_RESPONSE_BINS_PER_BUCKET),
    )?;
    counter(enc, &f::RSSAC002_LATE_MESSAGES, r.late())?;
    int_gauge(enc, &f::RSSAC002_PENDING_PERIODS, r.days_held() as i64)?;
    counter(enc, &f::RSSAC002_DAY_EVICTIONS, r.evicted_days())?;
    gauges(
        enc,
        &f::RSSAC002_UNIQUE_SOURCES_OVERFLOW,
        ["ipv4", "ipv6", "ipv6_64"]
            .into_iter()
            .zip(r.source_overflow())
            .map(|(kind, n)| (vec![("kind", kind)], n as i64)),
    )
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn prometheus_families() {
        use prometheus_client::collector::Collector;
        use prometheus_client::registry::Registry;

        use crate::export::rssac002::test::tiny;
        use prometheus_client::encoding::DescriptorEncoder;

        #[derive(Debug)]
        struct C(Rssac002);
        impl Collector for C {
            fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
                encode(&self.0, &mut enc)
            }
        }
        let mut reg = Registry::default();
        reg.register_collector(Box::new(C(tiny())));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &reg).expect("encodes");
        // Requests: UDP 40 (le 47) and 300 (+Inf), TCP 17 (le 31); cumulative buckets.
        for line in [
            "# TYPE dnsobs_rssac002_request_size_bytes histogram",
            "dnsobs_rssac002_request_size_bytes_sum{transport=\"udp\"} 340.0",
            "dnsobs_rssac002_request_size_bytes_count{transport=\"udp\"} 2",
            "dnsobs_rssac002_request_size_bytes_bucket{le=\"31.0\",transport=\"udp\"} 0",
            "dnsobs_rssac002_request_size_bytes_bucket{le=\"47.0\",transport=\"udp\"} 1",
            "dnsobs_rssac002_request_size_bytes_bucket{le=\"287.0\",transport=\"udp\"} 1",
            "dnsobs_rssac002_request_size_bytes_bucket{le=\"+Inf\",transport=\"udp\"} 2",
            "dnsobs_rssac002_request_size_bytes_bucket{le=\"31.0\",transport=\"tcp\"} 1",
            // Responses: UDP 500 (le 511) and 5000 (+Inf); TCP 4095 (le 4095).
            "dnsobs_rssac002_response_size_bytes_bucket{le=\"383.0\",transport=\"udp\"} 0",
            "dnsobs_rssac002_response_size_bytes_bucket{le=\"511.0\",transport=\"udp\"} 1",
            "dnsobs_rssac002_response_size_bytes_bucket{le=\"4095.0\",transport=\"udp\"} 1",
            "dnsobs_rssac002_response_size_bytes_bucket{le=\"+Inf\",transport=\"udp\"} 2",
            "dnsobs_rssac002_response_size_bytes_bucket{le=\"3967.0\",transport=\"tcp\"} 0",
            "dnsobs_rssac002_response_size_bytes_bucket{le=\"4095.0\",transport=\"tcp\"} 1",
            "dnsobs_rssac002_late_messages_total 0",
            "dnsobs_rssac002_pending_periods 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert_eq!(
            text.lines()
                .filter(
                    |l| l.starts_with("dnsobs_rssac002_response_size_bytes_bucket{")
                        && l.contains("transport=\"udp\"")
                )
                .count(),
            33
        );
    }

    #[test]
    fn response_buckets_group_eight_bins() {
        let mut bins = vec![0u64; 257];
        bins[0] = 1; // 0-15
        bins[7] = 2; // 112-127
        bins[8] = 3; // 128-143
        bins[256] = 4; // 4096-
        let b = prom_buckets(&bins, PROM_RESPONSE_BINS_PER_BUCKET);
        assert_eq!(b.len(), 33);
        assert_eq!(b[0], (127.0, 3));
        assert_eq!(b[1], (255.0, 3));
        assert_eq!(b[32], (f64::INFINITY, 4));
    }
}
