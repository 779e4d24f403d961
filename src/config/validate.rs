//! Validation: every value checked, then the stage settings derived.

use std::net::SocketAddr;
use std::path::Path;

use super::{Config, ConfigError, RawConfig, default_filter};
use crate::{aggregate, decode};

impl RawConfig {
    /// Checks every value and derives the stage settings.
    pub fn validate(self, path: &Path) -> Result<Config, ConfigError> {
        let bad = |key: &'static str, reason: String| ConfigError::Invalid {
            file: path.to_owned(),
            key,
            reason,
        };
        let c = &self.capture;
        for i in &c.interfaces {
            if i.is_empty() || i.len() > 15 || i.contains(['/', ' ']) {
                return Err(bad(
                    "capture.interfaces",
                    format!("`{i}` is not a valid interface name"),
                ));
            }
        }
        if !(64..=262_144).contains(&c.snaplen) {
            return Err(bad(
                "capture.snaplen",
                format!("{} is outside 64..=262144", c.snaplen),
            ));
        }
        if !(1 << 20..=1 << 31).contains(&c.buffer_size_bytes) {
            return Err(bad(
                "capture.buffer_size_bytes",
                format!("{} is outside 1 MiB..=2 GiB", c.buffer_size_bytes),
            ));
        }
        if c.workers > 256 {
            return Err(bad(
                "capture.workers",
                format!("{} is more than 256", c.workers),
            ));
        }
        if !c.dnstap_socket.is_empty() {
            let p = Path::new(&c.dnstap_socket);
            // sun_path holds 108 bytes including the terminating NUL.
            if !p.is_absolute() || c.dnstap_socket.len() > 107 || p.file_name().is_none() {
                return Err(bad(
                    "capture.dnstap_socket",
                    format!(
                        "`{}` is not an absolute socket path of at most 107 bytes",
                        c.dnstap_socket
                    ),
                ));
            }
        }
        if c.dnstap_socket_mode > 0o777 || c.dnstap_socket_mode & 0o200 == 0 {
            return Err(bad(
                "capture.dnstap_socket_mode",
                format!(
                    "{:#o} is not a file mode (0o000..=0o777) with owner write permission",
                    c.dnstap_socket_mode
                ),
            ));
        }
        if !(1..=1024).contains(&c.dnstap_max_connections) {
            return Err(bad(
                "capture.dnstap_max_connections",
                "must be between 1 and 1024".into(),
            ));
        }
        if !(4096..=1 << 24).contains(&c.dnstap_max_frame_bytes) {
            return Err(bad(
                "capture.dnstap_max_frame_bytes",
                "must be between 4096 and 16777216".into(),
            ));
        }
        let d = &self.decode;
        if d.dns_ports.is_empty() || d.dns_ports.contains(&0) {
            return Err(bad(
                "decode.dns_ports",
                "needs at least one port, none of them 0".into(),
            ));
        }
        if !(1..=1 << 20).contains(&d.max_fragment_datagrams) {
            return Err(bad(
                "decode.max_fragment_datagrams",
                "must be between 1 and 1048576".into(),
            ));
        }
        if !(1..=1 << 24).contains(&d.max_tcp_flows) {
            return Err(bad(
                "decode.max_tcp_flows",
                "must be between 1 and 16777216".into(),
            ));
        }
        if !(1 << 16..=1 << 34).contains(&d.max_fragment_buffer_bytes) {
            return Err(bad(
                "decode.max_fragment_buffer_bytes",
                "must be between 64 KiB and 16 GiB".into(),
            ));
        }
        if !(1 << 16..=1 << 34).contains(&d.max_tcp_buffer_bytes) {
            return Err(bad(
                "decode.max_tcp_buffer_bytes",
                "must be between 64 KiB and 16 GiB".into(),
            ));
        }
        if !(1..=3600).contains(&d.fragment_timeout_seconds) {
            return Err(bad(
                "decode.fragment_timeout_seconds",
                "must be between 1 and 3600".into(),
            ));
        }
        if !(1..=86400).contains(&d.tcp_timeout_seconds) {
            return Err(bad(
                "decode.tcp_timeout_seconds",
                "must be between 1 and 86400".into(),
            ));
        }
        let a = &self.aggregate;
        if !(1..=1 << 26).contains(&a.max_unique_sources) {
            return Err(bad(
                "aggregate.max_unique_sources",
                "must be between 1 and 67108864".into(),
            ));
        }
        if !(0.05..=60.0).contains(&a.flush_interval_seconds) {
            return Err(bad(
                "aggregate.flush_interval_seconds",
                "must be between 0.05 and 60".into(),
            ));
        }
        if !(1..=1000).contains(&a.topk) {
            return Err(bad("aggregate.topk", "must be between 1 and 1000".into()));
        }
        if a.topk_ipv4_prefix > 32 {
            return Err(bad(
                "aggregate.topk_ipv4_prefix",
                "must be at most 32".into(),
            ));
        }
        if a.topk_ipv6_prefix > 128 {
            return Err(bad(
                "aggregate.topk_ipv6_prefix",
                "must be at most 128".into(),
            ));
        }
        if !(1..=1 << 24).contains(&a.max_pending_queries) {
            return Err(bad(
                "aggregate.max_pending_queries",
                "must be between 1 and 16777216".into(),
            ));
        }
        if !(0.001..=300.0).contains(&a.query_timeout_seconds) {
            return Err(bad(
                "aggregate.query_timeout_seconds",
                "must be between 0.001 and 300".into(),
            ));
        }
        let asn_table = if a.asn_table.is_empty() {
            None
        } else {
            let t = aggregate::asn::AsnTable::load(Path::new(&a.asn_table))
                .map_err(|e| bad("aggregate.asn_table", e.to_string()))?;
            Some(std::sync::Arc::new(t))
        };
        let e = &self.export;
        let listen: SocketAddr = e.listen.parse().map_err(|_| {
            bad(
                "export.listen",
                format!("`{}` is not an ADDRESS:PORT", e.listen),
            )
        })?;
        if !listen.ip().is_loopback() && !e.allow_non_loopback {
            return Err(bad(
                "export.listen",
                format!(
                    "{listen} is not a loopback address; the endpoint has no authentication, \
                     set export.allow_non_loopback = true to expose it"
                ),
            ));
        }
        if !(1..=10_000).contains(&e.max_connections) {
            return Err(bad(
                "export.max_connections",
                "must be between 1 and 10000".into(),
            ));
        }
        if !(1..=300).contains(&e.header_read_timeout_seconds) {
            return Err(bad(
                "export.header_read_timeout_seconds",
                "must be between 1 and 300".into(),
            ));
        }
        let p = &e.parquet;
        if !p.node.is_empty() {
            crate::export::parquet::check_node(&p.node)
                .map_err(|e| bad("export.parquet.node", e.to_string()))?;
        }
        if p.interval_seconds == 0 || 86_400 % p.interval_seconds != 0 {
            return Err(bad(
                "export.parquet.interval_seconds",
                "must divide 86400 (a UTC day), e.g. 1, 10, 60, 300, 3600".into(),
            ));
        }
        if !(10..=86_400).contains(&p.write_interval_seconds) {
            return Err(bad(
                "export.parquet.write_interval_seconds",
                "must be between 10 and 86400".into(),
            ));
        }
        if !(1..=3600).contains(&p.grace_seconds) {
            return Err(bad(
                "export.parquet.grace_seconds",
                "must be between 1 and 3600".into(),
            ));
        }
        if !(2..=1024).contains(&p.query_batches) {
            return Err(bad(
                "export.parquet.query_batches",
                "must be between 2 and 1024".into(),
            ));
        }
        if !p.directory.is_empty() && p.directory == p.queries_directory {
            return Err(bad(
                "export.parquet.queries_directory",
                "must differ from export.parquet.directory (two tables, two roots)".into(),
            ));
        }
        let r = &self.rssac002;
        if !r.directory.is_empty() {
            crate::export::rssac002::check_service(&r.service)
                .map_err(|e| bad("rssac002.service", e.to_string()))?;
        }
        if !(1..=1 << 28).contains(&r.max_unique_sources) {
            return Err(bad(
                "rssac002.max_unique_sources",
                "must be between 1 and 268435456".into(),
            ));
        }
        if !(1..=3600).contains(&r.grace_seconds) {
            return Err(bad(
                "rssac002.grace_seconds",
                "must be between 1 and 3600".into(),
            ));
        }
        let log_level: log::LevelFilter = self.daemon.log_level.parse().map_err(|_| {
            bad(
                "daemon.log_level",
                format!(
                    "`{}` is not one of error, warn, info, debug, trace",
                    self.daemon.log_level
                ),
            )
        })?;
        if self.daemon.user.contains(['/', ':', ' ']) {
            return Err(bad(
                "daemon.user",
                format!("`{}` is not a user name", self.daemon.user),
            ));
        }
        let bpf_filter = if c.bpf_filter.trim().is_empty() {
            default_filter(&d.dns_ports)
        } else {
            c.bpf_filter.clone()
        };
        let decode = decode::Settings {
            ports: d.dns_ports.clone(),
            defrag: decode::defrag::Limits {
                max_datagrams: d.max_fragment_datagrams,
                max_bytes: d.max_fragment_buffer_bytes,
                timeout_ns: d.fragment_timeout_seconds * 1_000_000_000,
            },
            tcp: decode::tcp::Limits {
                max_flows: d.max_tcp_flows,
                max_buffered: d.max_tcp_buffer_bytes,
                timeout_ns: d.tcp_timeout_seconds * 1_000_000_000,
            },
        };
        Ok(Config {
            source: path.to_owned(),
            decode,
            aggregate: aggregate::Settings {
                max_sources: a.max_unique_sources,
                rssac002_max_sources: self.rssac002.max_unique_sources,
                topk: aggregate::topk::Settings {
                    k: a.topk,
                    v4_prefix: a.topk_ipv4_prefix,
                    v6_prefix: a.topk_ipv6_prefix,
                    counters: 0,
                },
                latency: aggregate::latency::Settings {
                    capacity: a.max_pending_queries,
                    timeout_ns: (a.query_timeout_seconds * 1e9) as u64,
                },
                asn_table,
                // Only kept when exported: the daemon's series is drained at every write.
                series: aggregate::series::Settings {
                    interval_seconds: self.export.parquet.interval_seconds,
                    max_intervals: if self.export.parquet.directory.is_empty() {
                        0
                    } else {
                        self.export.parquet.max_intervals()
                    },
                },
                ..aggregate::Settings::default()
            },
            listen,
            bpf_filter,
            workers: crate::pipeline::effective_threads(c.workers),
            log_level,
            raw: self,
        })
    }
}
