//! The file as written: one struct per section, every key with its default, unknown keys
//! refused by the parser.

use std::path::Path;

use serde::Deserialize;

use super::{ConfigError, DEFAULT_LISTEN};
use crate::{aggregate, decode};

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
    /// Encapsulations looked inside (names of [`decode::tunnel::Encap`]).
    pub encapsulations: Vec<String>,
    /// UDP destination ports of VXLAN.
    pub vxlan_ports: Vec<u16>,
    /// UDP destination ports of GENEVE.
    pub geneve_ports: Vec<u16>,
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
            encapsulations: decode::tunnel::Encap::ALL
                .iter()
                .filter(|e| d.tunnels.decoded.contains(**e))
                .map(|e| e.name().to_owned())
                .collect(),
            vxlan_ports: d.tunnels.vxlan_ports,
            geneve_ports: d.tunnels.geneve_ports,
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
    /// Prefix length IPv4 sources are anonymised to in the top-k table (the older name of
    /// `privacy.ipv4_prefix`, which wins when set).
    pub topk_ipv4_prefix: u8,
    /// Prefix length IPv6 sources are anonymised to in the top-k table (the older name of
    /// `privacy.ipv6_prefix`).
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
    /// Allow a non-loopback listen address.
    pub allow_non_loopback: bool,
    /// Web configuration file of Prometheus exporters: TLS and basic authentication
    /// ("" = plain HTTP, no authentication).
    pub web_config: String,
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
            web_config: String::new(),
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

/// `[state]`: day state files for fleet-wide figures (`dnsobs merge`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StateSection {
    /// Directory of the day state files ("" = do not write them).
    pub directory: String,
    /// The fleet key file (required with a directory; not accessible to others).
    pub key_file: String,
    /// Node name in the files ("" = `export.parquet.node`, else the host name).
    pub node: String,
    /// Root of the fleet Parquet tables written with each state ("" = none).
    pub parquet_directory: String,
    /// Seconds between two writes of the current day's state.
    pub refresh_seconds: u64,
    /// Seconds after UTC midnight before a day's state is written complete and let go.
    pub grace_seconds: u64,
}

impl Default for StateSection {
    fn default() -> Self {
        Self {
            directory: String::new(),
            key_file: String::new(),
            node: String::new(),
            parquet_directory: String::new(),
            refresh_seconds: 300,
            grace_seconds: 60,
        }
    }
}

/// `[geoip]`: queries by country, AS and region of their source (docs/geo.md).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GeoipSection {
    /// MaxMind DB country (or city) database ("" = none).
    pub country_db: String,
    /// MaxMind DB AS database ("" = none).
    pub asn_db: String,
    /// Seconds between two checks of the files on disk (a replaced file is reloaded); 0: only
    /// on SIGHUP.
    pub check_seconds: u64,
    /// Named regions: name → ISO 3166 country codes.
    pub regions: std::collections::BTreeMap<String, Vec<String>>,
}

impl Default for GeoipSection {
    fn default() -> Self {
        Self {
            country_db: String::new(),
            asn_db: String::new(),
            check_seconds: 60,
            regions: Default::default(),
        }
    }
}

/// `[privacy]`: how the exports that name a source render its address (docs/privacy.md).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PrivacySection {
    /// `truncate` (the default), `ipcrypt` or `ipcrypt-pfx`.
    pub mode: crate::privacy::Mode,
    /// IPv4 prefix length kept, 8..=32 (unset: `aggregate.topk_ipv4_prefix`, default 24).
    pub ipv4_prefix: Option<u8>,
    /// IPv6 prefix length kept, 16..=128 (unset: `aggregate.topk_ipv6_prefix`, default 48).
    pub ipv6_prefix: Option<u8>,
    /// The ipcrypt key file ("" = none): 16 bytes for `ipcrypt`, 32 for `ipcrypt-pfx`, raw or
    /// as hex digits; group and others must have no access to it.
    pub key_file: String,
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
    /// `[state]`.
    pub state: StateSection,
    /// `[geoip]`.
    pub geoip: GeoipSection,
    /// `[privacy]`.
    pub privacy: PrivacySection,
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
}
