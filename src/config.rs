//! Daemon configuration: a strict TOML file (unknown keys are errors) validated into settings
//! for each stage. Errors name the file, the key and the reason.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{aggregate, decode};

/// Default metrics address. The Prometheus exporter port range 9100–9999 is fully allocated, so
/// dnsobs sits just outside it, on a port no well-known exporter uses ("10053": DNS is 53).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:10053";

//------------ Errors --------------------------------------------------------

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key or a value of the wrong type.
    #[error("{file}: {message}")]
    Parse {
        /// The file.
        file: PathBuf,
        /// The TOML parser's message (it names the key and the line).
        message: String,
    },
    /// A value of the right type but not allowed.
    #[error("{file}: key `{key}`: {reason}")]
    Invalid {
        /// The file (or "command line").
        file: PathBuf,
        /// Dotted key.
        key: &'static str,
        /// Why.
        reason: String,
    },
}

//------------ Raw file ------------------------------------------------------

/// `[capture]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CaptureSection {
    /// Interfaces to capture on.
    pub interfaces: Vec<String>,
    /// BPF filter; empty = derived from the DNS ports (plus IP fragments).
    pub bpf_filter: String,
    /// Snapshot length in bytes.
    pub snaplen: u32,
    /// Kernel ring buffer per capture handle, in bytes.
    pub buffer_size_bytes: u64,
    /// Capture handles (workers) per interface; 0 = one per available core.
    pub workers: usize,
    /// Put the interface into promiscuous mode.
    pub promiscuous: bool,
    /// Unix socket DNS servers send dnstap Frame Streams to ("" = no dnstap input).
    pub dnstap_socket: String,
    /// File mode of the dnstap socket (writers need write permission).
    pub dnstap_socket_mode: u32,
    /// dnstap writers connected at once.
    pub dnstap_max_connections: usize,
    /// Largest dnstap data frame; longer ones are skipped and counted.
    pub dnstap_max_frame_bytes: usize,
}

impl Default for CaptureSection {
    fn default() -> Self {
        Self {
            interfaces: Vec::new(),
            bpf_filter: String::new(),
            snaplen: 65535,
            buffer_size_bytes: 64 << 20,
            workers: 0,
            promiscuous: false,
            dnstap_socket: String::new(),
            dnstap_socket_mode: 0o660,
            dnstap_max_connections: 16,
            // Room for a DNS message of 64 KiB twice over (a response logged with its query)
            // plus the protobuf around them.
            dnstap_max_frame_bytes: 262_144,
        }
    }
}

/// `[decode]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DecodeSection {
    /// DNS ports (UDP and TCP, either direction).
    pub dns_ports: Vec<u16>,
    /// IP datagrams reassembled at once, per worker.
    pub max_fragment_datagrams: usize,
    /// Bytes of fragment reassembly buffers, per worker.
    pub max_fragment_buffer_bytes: usize,
    /// Seconds a fragmented datagram may take to complete.
    pub fragment_timeout_seconds: u64,
    /// TCP directions tracked at once, per worker.
    pub max_tcp_flows: usize,
    /// Bytes buffered for TCP reassembly, per worker.
    pub max_tcp_buffer_bytes: usize,
    /// Seconds of idleness after which a TCP direction is forgotten.
    pub tcp_timeout_seconds: u64,
}

impl Default for DecodeSection {
    fn default() -> Self {
        let d = decode::Settings::default();
        Self {
            dns_ports: d.ports,
            max_fragment_datagrams: d.defrag.max_datagrams,
            max_fragment_buffer_bytes: d.defrag.max_bytes,
            fragment_timeout_seconds: d.defrag.timeout_ns / 1_000_000_000,
            max_tcp_flows: d.tcp.max_flows,
            max_tcp_buffer_bytes: d.tcp.max_buffered,
            tcp_timeout_seconds: d.tcp.timeout_ns / 1_000_000_000,
        }
    }
}

/// `[aggregate]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AggregateSection {
    /// Distinct query sources remembered exactly, per IP version.
    pub max_unique_sources: usize,
    /// Seconds between a worker's publications of its counters.
    pub flush_interval_seconds: f64,
    /// Entries reported per top-k table (qnames, TLDs, second-level names, source prefixes).
    pub topk: usize,
    /// Prefix length IPv4 sources are anonymised to in the top-k table.
    pub topk_ipv4_prefix: u8,
    /// Prefix length IPv6 sources are anonymised to in the top-k table.
    pub topk_ipv6_prefix: u8,
    /// Queries waiting for their response, per worker (latency matching).
    pub max_pending_queries: usize,
    /// Seconds a query may wait for its response before it counts as unanswered.
    pub query_timeout_seconds: f64,
    /// A `prefix ASN` text file for ASN diversity ("" = off).
    pub asn_table: String,
}

impl Default for AggregateSection {
    fn default() -> Self {
        Self {
            max_unique_sources: aggregate::Settings::default().max_sources,
            flush_interval_seconds: 1.0,
            topk: 10,
            topk_ipv4_prefix: 24,
            topk_ipv6_prefix: 48,
            max_pending_queries: 16_384,
            query_timeout_seconds: 5.0,
            asn_table: String::new(),
        }
    }
}

/// `[export]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ExportSection {
    /// Address of the HTTP endpoint (`/metrics`, `/healthz`).
    pub listen: String,
    /// Allow a non-loopback listen address (the endpoint has no authentication).
    pub allow_non_loopback: bool,
    /// Concurrent HTTP connections; more are closed at once.
    pub max_connections: usize,
    /// Seconds a client may take to send its request headers.
    pub header_read_timeout_seconds: u64,
    /// `[export.parquet]`.
    pub parquet: ParquetSection,
}

/// `[export.parquet]`: periodic Parquet files of the per-interval counters (and, opt-in, one
/// row per query).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ParquetSection {
    /// Root of the per-interval table ("" = off).
    pub directory: String,
    /// Root of the per-query table ("" = off).
    pub queries_directory: String,
    /// Node name in the files and partitions ("" = host name).
    pub node: String,
    /// Bucket width in seconds (divides 86400).
    pub interval_seconds: u32,
    /// Seconds between writes (finished intervals are written then).
    pub write_interval_seconds: u64,
    /// Seconds after an interval ends before it is written (the workers' last flushes).
    pub grace_seconds: u64,
    /// Per-query batches (8192 rows, about 0.5 MB each) in flight; when all are busy, rows
    /// are dropped and counted.
    pub query_batches: usize,
}

impl Default for ParquetSection {
    fn default() -> Self {
        Self {
            directory: String::new(),
            queries_directory: String::new(),
            node: String::new(),
            interval_seconds: 60,
            write_interval_seconds: 300,
            grace_seconds: 10,
            query_batches: 16,
        }
    }
}

impl ParquetSection {
    /// Intervals the daemon's series must hold: everything between two writes plus the grace,
    /// twice over (a failed write is retried at the next one).
    pub fn max_intervals(&self) -> usize {
        let span = self.write_interval_seconds + self.grace_seconds;
        let n = span.div_ceil(u64::from(self.interval_seconds.max(1))) as usize + 2;
        (2 * n).max(16)
    }
}

impl Default for ExportSection {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.into(),
            allow_non_loopback: false,
            max_connections: 32,
            header_read_timeout_seconds: 5,
            parquet: ParquetSection::default(),
        }
    }
}

/// `[daemon]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonSection {
    /// User to switch to once capture is open, when started as root ("" = stay).
    pub user: String,
    /// Log level: error, warn, info, debug, trace.
    pub log_level: String,
}

impl Default for DaemonSection {
    fn default() -> Self {
        Self {
            user: String::new(),
            log_level: "info".into(),
        }
    }
}

/// `[rssac002]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Rssac002Section {
    /// Directory for the daily YAML documents ("" = do not write them).
    pub directory: String,
    /// The documents' `service` and the files' prefix.
    pub service: String,
    /// Distinct sources remembered exactly per kind and UTC day.
    pub max_unique_sources: usize,
    /// Seconds after UTC midnight before a day is written (the last flushes must be in).
    pub grace_seconds: u64,
}

impl Default for Rssac002Section {
    fn default() -> Self {
        Self {
            directory: String::new(),
            service: String::new(),
            max_unique_sources: aggregate::rssac002::DEFAULT_SOURCE_CAP,
            grace_seconds: 60,
        }
    }
}

/// The whole file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    /// `[capture]`.
    pub capture: CaptureSection,
    /// `[decode]`.
    pub decode: DecodeSection,
    /// `[aggregate]`.
    pub aggregate: AggregateSection,
    /// `[export]`.
    pub export: ExportSection,
    /// `[daemon]`.
    pub daemon: DaemonSection,
    /// `[rssac002]`.
    pub rssac002: Rssac002Section,
}

//------------ Validated -----------------------------------------------------

/// A validated configuration, with the settings each stage needs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where it came from (for messages).
    pub source: PathBuf,
    /// The file as read (for reload comparisons).
    pub raw: RawConfig,
    /// Decoder settings.
    pub decode: decode::Settings,
    /// Aggregation settings.
    pub aggregate: aggregate::Settings,
    /// Parsed listen address.
    pub listen: SocketAddr,
    /// Effective BPF filter.
    pub bpf_filter: String,
    /// Effective workers per interface.
    pub workers: usize,
    /// Log level.
    pub log_level: log::LevelFilter,
}

/// The default BPF filter for a set of DNS ports: UDP and TCP on those ports, plus every IP
/// fragment (non-first fragments carry no ports and are needed for reassembly).
pub fn default_filter(ports: &[u16]) -> String {
    let ports: Vec<String> = ports.iter().map(|p| format!("port {p}")).collect();
    format!(
        "((udp or tcp) and ({})) or (ip and ip[6:2] & 0x3fff != 0) or (ip6 and ip6[6] == 44)",
        ports.join(" or ")
    )
}

impl RawConfig {
    /// Reads and parses a file (no validation).
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses TOML text.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            file: path.to_owned(),
            message: e.to_string(),
        })
    }

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

impl Config {
    /// Reads and validates a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        RawConfig::read(path)?.validate(path)
    }

    /// Keys whose change needs a restart, given the running configuration `old`.
    pub fn restart_needed(&self, old: &Self) -> Vec<&'static str> {
        let (n, o) = (&self.raw, &old.raw);
        let mut v = Vec::new();
        if n.capture.interfaces != o.capture.interfaces {
            v.push("capture.interfaces");
        }
        if n.capture.snaplen != o.capture.snaplen {
            v.push("capture.snaplen");
        }
        if n.capture.buffer_size_bytes != o.capture.buffer_size_bytes {
            v.push("capture.buffer_size_bytes");
        }
        if n.capture.workers != o.capture.workers {
            v.push("capture.workers");
        }
        if n.capture.promiscuous != o.capture.promiscuous {
            v.push("capture.promiscuous");
        }
        if n.capture.dnstap_socket != o.capture.dnstap_socket
            || n.capture.dnstap_socket_mode != o.capture.dnstap_socket_mode
            || n.capture.dnstap_max_connections != o.capture.dnstap_max_connections
            || n.capture.dnstap_max_frame_bytes != o.capture.dnstap_max_frame_bytes
        {
            v.push("capture.dnstap_*");
        }
        if n.decode != o.decode {
            v.push("decode");
        }
        if n.aggregate != o.aggregate {
            v.push("aggregate");
        }
        if n.export != o.export {
            v.push("export");
        }
        if n.rssac002 != o.rssac002 {
            v.push("rssac002");
        }
        if n.daemon.user != o.daemon.user {
            v.push("daemon.user");
        }
        v
    }
}

//============ Testing =======================================================

#[cfg(test)]
mod test {
    use super::*;

    fn check(text: &str) -> Result<Config, ConfigError> {
        RawConfig::parse(text, Path::new("t.toml"))?.validate(Path::new("t.toml"))
    }

    #[test]
    fn example_config_is_valid_and_complete() {
        let text = include_str!("../config/dnsobs.toml");
        let c = check(text).unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        // The example spells out every key with its default value (dnstap_socket commented out).
        assert_eq!(c.raw.capture, CaptureSection::default());
        assert_eq!(c.raw.decode, DecodeSection::default());
        assert_eq!(c.raw.aggregate, AggregateSection::default());
        assert_eq!(c.raw.export, ExportSection::default());
        assert_eq!(c.raw.rssac002, Rssac002Section::default());
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let e = check("[capture]\nsnaplenn = 5\n").unwrap_err().to_string();
        assert!(e.contains("t.toml") && e.contains("snaplenn"), "{e}");
        let e = check("[capture]\nsnaplen = 5\n").unwrap_err().to_string();
        assert_eq!(e, "t.toml: key `capture.snaplen`: 5 is outside 64..=262144");
        let e = check("[export]\nlisten = \"0.0.0.0:1\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("export.listen") && e.contains("allow_non_loopback"),
            "{e}"
        );
        let e = check("[daemon]\nlog_level = \"loud\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("daemon.log_level"), "{e}");
        let e = check("[decode]\ndns_ports = []\n").unwrap_err().to_string();
        assert!(e.contains("decode.dns_ports"), "{e}");
        let e = check("[capture]\nsnaplen = \"big\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("snaplen"), "{e}");
    }

    #[test]
    fn parquet_section_is_checked() {
        let c = check("[export.parquet]\ndirectory = \"/tmp/x\"\ninterval_seconds = 10\n").unwrap();
        assert_eq!(c.aggregate.series.interval_seconds, 10);
        // (300 + 10) s / 10 s = 31, + 2, twice over.
        assert_eq!(c.aggregate.series.max_intervals, 66);
        // Off: no series kept.
        assert_eq!(check("").unwrap().aggregate.series.max_intervals, 0);
        for (text, key) in [
            ("interval_seconds = 7", "export.parquet.interval_seconds"),
            ("interval_seconds = 0", "export.parquet.interval_seconds"),
            (
                "write_interval_seconds = 5",
                "export.parquet.write_interval_seconds",
            ),
            ("grace_seconds = 0", "export.parquet.grace_seconds"),
            ("query_batches = 1", "export.parquet.query_batches"),
            ("node = \"a/b\"", "export.parquet.node"),
            (
                "directory = \"/d\"\nqueries_directory = \"/d\"",
                "export.parquet.queries_directory",
            ),
        ] {
            let e = check(&format!("[export.parquet]\n{text}\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
        let e = check("[export.parquet]\nqueries = true\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("queries"), "{e}");
    }

    /// Seeded mutations of the example file: parsing and validation never panic, and every
    /// rejection names the file.
    #[test]
    fn mutated_configs_never_panic() {
        let base = include_str!("../config/dnsobs.toml").as_bytes();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let alphabet = b"=[]\"'#.,-0123456789abcdefxyz_ \n\t{}";
        let (mut ok, mut rejected) = (0, 0);
        for _ in 0..20_000 {
            let mut t = base.to_vec();
            for _ in 0..1 + next() % 4 {
                let i = (next() as usize) % t.len();
                match next() % 3 {
                    0 => t[i] = alphabet[(next() as usize) % alphabet.len()],
                    1 => {
                        t.remove(i);
                    }
                    _ => t.insert(i, alphabet[(next() as usize) % alphabet.len()]),
                }
            }
            let text = String::from_utf8_lossy(&t);
            match check(&text) {
                Ok(_) => ok += 1,
                Err(e) => {
                    assert!(e.to_string().starts_with("t.toml"), "{e}");
                    rejected += 1;
                }
            }
        }
        assert!(ok > 0 && rejected > 0, "ok {ok}, rejected {rejected}");
    }

    #[test]
    fn dnstap_keys_are_checked() {
        let c = check(
            "[capture]\ndnstap_socket = \"/run/dnsobs/dnstap.sock\"\ndnstap_socket_mode = 0o666\n",
        )
        .unwrap();
        assert_eq!(c.raw.capture.dnstap_socket, "/run/dnsobs/dnstap.sock");
        assert_eq!(c.raw.capture.dnstap_socket_mode, 0o666);
        for (text, key) in [
            ("dnstap_socket = \"relative.sock\"", "capture.dnstap_socket"),
            ("dnstap_socket = \"/\"", "capture.dnstap_socket"),
            ("dnstap_socket_mode = 0o1777", "capture.dnstap_socket_mode"),
            ("dnstap_socket_mode = 0o444", "capture.dnstap_socket_mode"),
            (
                "dnstap_max_connections = 0",
                "capture.dnstap_max_connections",
            ),
            (
                "dnstap_max_frame_bytes = 100",
                "capture.dnstap_max_frame_bytes",
            ),
        ] {
            let e = check(&format!("[capture]\n{text}\n"))
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with(&format!("t.toml: key `{key}`")),
                "{text}: {e}"
            );
        }
        let long = format!("[capture]\ndnstap_socket = \"/{}\"\n", "x".repeat(107));
        assert!(check(&long).unwrap_err().to_string().contains("107 bytes"));
    }

    #[test]
    fn default_filter_covers_ports_and_fragments() {
        let f = default_filter(&[53, 5353]);
        assert!(f.contains("port 53 or port 5353") && f.contains("ip6[6] == 44"));
    }
}
