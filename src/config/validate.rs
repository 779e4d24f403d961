//! Validation: every value checked, section by section in the order of the file (the first
//! error is reported, naming the key and the reason), then the stage settings derived.

use std::fmt::Display;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use super::{
    AggregateSection, CaptureSection, Config, ConfigError, DaemonSection, DecodeSection,
    ExportSection, GeoipSection, ParquetSection, PrivacySection, RawConfig, Rssac002Section,
    StateSection, default_filter,
};
use crate::aggregate::asn::AsnTable;
use crate::decode::tunnel::{self, EncapSet};
use crate::export::web::Web;
use crate::{aggregate, decode};

impl RawConfig {
    /// Checks every value and derives the stage settings.
    pub fn validate(self, path: &Path) -> Result<Config, ConfigError> {
        self.validate_keys(path, true)
    }

    /// [`validate`](Self::validate) for a reload: the privacy key file is not read (the daemon
    /// has dropped the privileges that read it at start, and `[privacy]` changes only with a
    /// restart), only its settings checked; the result's privacy is a truncation placeholder.
    pub fn validate_for_reload(self, path: &Path) -> Result<Config, ConfigError> {
        self.validate_keys(path, false)
    }

    fn validate_keys(self, path: &Path, read_keys: bool) -> Result<Config, ConfigError> {
        self.capture.validate(path)?;
        let decode = self.decode.settings(self.decode.validate(path)?);
        let asn_table = self.aggregate.validate(path)?;
        let geo = self.geoip.load(path)?;
        let privacy = self.privacy.load(path, &self.aggregate, read_keys)?;
        let (listen, web) = self.export.validate(path)?;
        self.rssac002.validate(path)?;
        self.state.validate(path)?;
        let log_level = self.daemon.validate(path)?;
        let bpf_filter = if self.capture.bpf_filter.trim().is_empty() {
            default_filter(&decode)
        } else {
            self.capture.bpf_filter.clone()
        };
        let mut aggregate = aggregate::Settings {
            geo,
            ..self.aggregate_settings(asn_table)
        };
        // The top-k source prefixes are counted at the privacy lengths.
        aggregate.topk.v4_prefix = privacy.v4_prefix();
        aggregate.topk.v6_prefix = privacy.v6_prefix();
        Ok(Config {
            source: path.to_owned(),
            decode,
            aggregate,
            listen,
            web,
            bpf_filter,
            workers: crate::pipeline::effective_threads(self.capture.workers),
            log_level,
            privacy,
            raw: self,
        })
    }

    /// The aggregation settings of checked values, with the ASN table validation loaded.
    fn aggregate_settings(&self, asn_table: Option<Arc<AsnTable>>) -> aggregate::Settings {
        let a = &self.aggregate;
        let parquet = &self.export.parquet;
        aggregate::Settings {
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
                interval_seconds: parquet.interval_seconds,
                max_intervals: if parquet.directory.is_empty() {
                    0
                } else {
                    parquet.max_intervals()
                },
            },
            ..aggregate::Settings::default()
        }
    }
}

impl CaptureSection {
    /// Checks `[capture]`.
    fn validate(&self, file: &Path) -> Result<(), ConfigError> {
        for i in &self.interfaces {
            let ok = !(i.is_empty() || i.len() > 15 || i.contains(['/', ' ']));
            ensure(file, ok, "capture.interfaces", || {
                format!("`{i}` is not a valid interface name")
            })?;
        }
        let snaplen = self.snaplen;
        ensure(
            file,
            (64..=262_144).contains(&snaplen),
            "capture.snaplen",
            || format!("{snaplen} is outside 64..=262144"),
        )?;
        let buffer = self.buffer_size_bytes;
        let ok = (1 << 20..=1 << 31).contains(&buffer);
        ensure(file, ok, "capture.buffer_size_bytes", || {
            format!("{buffer} is outside 1 MiB..=2 GiB")
        })?;
        let workers = self.workers;
        ensure(file, workers <= 256, "capture.workers", || {
            format!("{workers} is more than 256")
        })?;
        if !self.dnstap_socket.is_empty() {
            let p = Path::new(&self.dnstap_socket);
            // sun_path holds 108 bytes including the terminating NUL.
            let ok = p.is_absolute() && self.dnstap_socket.len() <= 107 && p.file_name().is_some();
            ensure(file, ok, "capture.dnstap_socket", || {
                format!(
                    "`{}` is not an absolute socket path of at most 107 bytes",
                    self.dnstap_socket
                )
            })?;
        }
        let mode = self.dnstap_socket_mode;
        ensure(
            file,
            mode <= 0o777 && mode & 0o200 != 0,
            "capture.dnstap_socket_mode",
            || format!("{mode:#o} is not a file mode (0o000..=0o777) with owner write permission"),
        )?;
        let (conns, frame) = (self.dnstap_max_connections, self.dnstap_max_frame_bytes);
        in_range(file, "capture.dnstap_max_connections", conns, 1, 1024)?;
        in_range(file, "capture.dnstap_max_frame_bytes", frame, 4096, 1 << 24)
    }
}

impl DecodeSection {
    /// Checks `[decode]`; the encapsulations decoded.
    fn validate(&self, file: &Path) -> Result<EncapSet, ConfigError> {
        let ports = &self.dns_ports;
        ensure(
            file,
            !ports.is_empty() && !ports.contains(&0),
            "decode.dns_ports",
            || "needs at least one port, none of them 0".into(),
        )?;
        let datagrams = self.max_fragment_datagrams;
        in_range(file, "decode.max_fragment_datagrams", datagrams, 1, 1 << 20)?;
        in_range(file, "decode.max_tcp_flows", self.max_tcp_flows, 1, 1 << 24)?;
        let bytes = |key, value: usize| {
            ensure(file, (1 << 16..=1 << 34).contains(&value), key, || {
                "must be between 64 KiB and 16 GiB".into()
            })
        };
        bytes(
            "decode.max_fragment_buffer_bytes",
            self.max_fragment_buffer_bytes,
        )?;
        bytes("decode.max_tcp_buffer_bytes", self.max_tcp_buffer_bytes)?;
        let (fragment, tcp) = (self.fragment_timeout_seconds, self.tcp_timeout_seconds);
        in_range(file, "decode.fragment_timeout_seconds", fragment, 1, 3600)?;
        in_range(file, "decode.tcp_timeout_seconds", tcp, 1, 86400)?;
        self.validate_tunnels(file)
    }

    /// Checks the encapsulation keys of `[decode]`; the encapsulations decoded.
    fn validate_tunnels(&self, file: &Path) -> Result<EncapSet, ConfigError> {
        let decoded = EncapSet::from_names(&self.encapsulations)
            .map_err(|reason| invalid(file, "decode.encapsulations", reason))?;
        let (dns, vxlan, geneve) = (&self.dns_ports, &self.vxlan_ports, &self.geneve_ports);
        tunnel::check_ports(vxlan, dns, ("GENEVE", geneve))
            .map_err(|reason| invalid(file, "decode.vxlan_ports", reason))?;
        tunnel::check_ports(geneve, dns, ("VXLAN", vxlan))
            .map_err(|reason| invalid(file, "decode.geneve_ports", reason))?;
        Ok(decoded)
    }

    /// The decoder settings of checked values.
    fn settings(&self, decoded: EncapSet) -> decode::Settings {
        decode::Settings {
            ports: self.dns_ports.clone(),
            defrag: decode::defrag::Limits {
                max_datagrams: self.max_fragment_datagrams,
                max_bytes: self.max_fragment_buffer_bytes,
                timeout_ns: self.fragment_timeout_seconds * 1_000_000_000,
            },
            tcp: decode::tcp::Limits {
                max_flows: self.max_tcp_flows,
                max_buffered: self.max_tcp_buffer_bytes,
                timeout_ns: self.tcp_timeout_seconds * 1_000_000_000,
            },
            tunnels: tunnel::Settings {
                decoded,
                vxlan_ports: self.vxlan_ports.clone(),
                geneve_ports: self.geneve_ports.clone(),
            },
        }
    }
}

impl AggregateSection {
    /// Checks `[aggregate]`; its ASN table, loaded, if one is named.
    fn validate(&self, file: &Path) -> Result<Option<Arc<AsnTable>>, ConfigError> {
        let sources = self.max_unique_sources;
        in_range(file, "aggregate.max_unique_sources", sources, 1, 1 << 26)?;
        let flush = self.flush_interval_seconds;
        in_range(file, "aggregate.flush_interval_seconds", flush, 0.05, 60.0)?;
        in_range(file, "aggregate.topk", self.topk, 1, 1000)?;
        let pending = self.max_pending_queries;
        in_range(file, "aggregate.max_pending_queries", pending, 1, 1 << 24)?;
        let timeout = self.query_timeout_seconds;
        in_range(
            file,
            "aggregate.query_timeout_seconds",
            timeout,
            0.001,
            300.0,
        )?;
        if self.asn_table.is_empty() {
            return Ok(None);
        }
        let t = AsnTable::load(Path::new(&self.asn_table))
            .map_err(|e| invalid(file, "aggregate.asn_table", e.to_string()))?;
        Ok(Some(Arc::new(t)))
    }
}

impl ExportSection {
    /// Checks `[export]` and `[export.parquet]`; the listen address and the web
    /// configuration, loaded.
    fn validate(&self, file: &Path) -> Result<(SocketAddr, Option<Arc<Web>>), ConfigError> {
        let listen: SocketAddr = self.listen.parse().map_err(|_| {
            invalid(
                file,
                "export.listen",
                format!("`{}` is not an ADDRESS:PORT", self.listen),
            )
        })?;
        let ok = listen.ip().is_loopback() || self.allow_non_loopback;
        ensure(file, ok, "export.listen", || {
            format!(
                "{listen} is not a loopback address; set export.allow_non_loopback = true to \
                 expose it (with export.web_config for TLS and basic authentication)"
            )
        })?;
        in_range(
            file,
            "export.max_connections",
            self.max_connections,
            1,
            10_000,
        )?;
        let header = self.header_read_timeout_seconds;
        in_range(file, "export.header_read_timeout_seconds", header, 1, 300)?;
        self.parquet.validate(file)?;
        let web = if self.web_config.is_empty() {
            None
        } else {
            let web =
                Web::load(Path::new(&self.web_config)).map_err(|source| ConfigError::Web {
                    file: file.to_owned(),
                    source,
                })?;
            Some(Arc::new(web))
        };
        Ok((listen, web))
    }
}

impl ParquetSection {
    /// Checks `[export.parquet]`.
    fn validate(&self, file: &Path) -> Result<(), ConfigError> {
        if !self.node.is_empty() {
            crate::export::parquet::check_node(&self.node)
                .map_err(|e| invalid(file, "export.parquet.node", e.to_string()))?;
        }
        let interval = self.interval_seconds;
        let ok = interval != 0 && 86_400 % interval == 0;
        ensure(file, ok, "export.parquet.interval_seconds", || {
            "must divide 86400 (a UTC day), e.g. 1, 10, 60, 300, 3600".into()
        })?;
        let write = self.write_interval_seconds;
        in_range(
            file,
            "export.parquet.write_interval_seconds",
            write,
            10,
            86_400,
        )?;
        in_range(
            file,
            "export.parquet.grace_seconds",
            self.grace_seconds,
            1,
            3600,
        )?;
        in_range(
            file,
            "export.parquet.query_batches",
            self.query_batches,
            2,
            1024,
        )?;
        let geo = crate::export::parquet::geo::geo_root(Path::new(&self.directory));
        let ok = self.directory.is_empty()
            || (self.directory != self.queries_directory
                && geo != Path::new(&self.queries_directory));
        ensure(file, ok, "export.parquet.queries_directory", || {
            format!(
                "must differ from export.parquet.directory and from {} (its geography table's root): one table, one root",
                geo.display()
            )
        })
    }
}

impl Rssac002Section {
    /// Checks `[rssac002]`.
    fn validate(&self, file: &Path) -> Result<(), ConfigError> {
        if !self.directory.is_empty() {
            crate::export::rssac002::check_service(&self.service)
                .map_err(|e| invalid(file, "rssac002.service", e.to_string()))?;
        }
        let sources = self.max_unique_sources;
        in_range(file, "rssac002.max_unique_sources", sources, 1, 1 << 28)?;
        in_range(file, "rssac002.grace_seconds", self.grace_seconds, 1, 3600)
    }
}

impl PrivacySection {
    /// Checks `[privacy]` (with the older `aggregate.topk_ipv4_prefix` and
    /// `topk_ipv6_prefix`, used when `privacy.ipv4_prefix` or `ipv6_prefix` is unset) and
    /// reads its key file.
    fn load(
        &self,
        file: &Path,
        a: &AggregateSection,
        read_key: bool,
    ) -> Result<crate::privacy::Privacy, ConfigError> {
        use crate::privacy::{CONFIG_NAMES, Names, Privacy, PrivacyError, Settings};
        let default = AggregateSection::default();
        let mut names = CONFIG_NAMES;
        let length =
            |own: Option<u8>,
             key: &'static str,
             old: u8,
             old_default: u8,
             old_key: &str|
             -> Result<u8, ConfigError> {
                match own {
                    Some(v) => {
                        let ok = old == old_default || old == v;
                        ensure(file, ok, key, || {
                    format!("{v} differs from {old_key} = {old} (its older name): set only {key}")
                })
                .map(|()| v)
                    }
                    None => Ok(old),
                }
            };
        let v4 = length(
            self.ipv4_prefix,
            "privacy.ipv4_prefix",
            a.topk_ipv4_prefix,
            default.topk_ipv4_prefix,
            "aggregate.topk_ipv4_prefix",
        )?;
        let v6 = length(
            self.ipv6_prefix,
            "privacy.ipv6_prefix",
            a.topk_ipv6_prefix,
            default.topk_ipv6_prefix,
            "aggregate.topk_ipv6_prefix",
        )?;
        if self.ipv4_prefix.is_none() {
            names.ipv4_prefix = "aggregate.topk_ipv4_prefix";
        }
        if self.ipv6_prefix.is_none() {
            names.ipv6_prefix = "aggregate.topk_ipv6_prefix";
        }
        let s = Settings {
            mode: self.mode,
            ipv4_prefix: v4,
            ipv6_prefix: v6,
            key_file: (!self.key_file.is_empty()).then(|| self.key_file.clone().into()),
        };
        let invalid = |e: PrivacyError, n: &Names| {
            let (key, reason) = match e {
                PrivacyError::Length {
                    key,
                    value,
                    min,
                    max,
                } => (key, format!("{value} is outside {min}..={max}")),
                e => (n.key_file, e.to_string()),
            };
            ConfigError::Invalid {
                file: file.to_owned(),
                key,
                reason,
            }
        };
        if read_key {
            Privacy::load(&s, &names).map_err(|e| invalid(e, &names))
        } else {
            s.check(&names).map_err(|e| invalid(e, &names))?;
            let (mode, path) = (crate::privacy::Mode::Truncate, Path::new(""));
            Privacy::with_key(mode, v4, v6, &[], path).map_err(|e| invalid(e, &names))
        }
    }
}

impl GeoipSection {
    /// Checks `[geoip]` and opens its databases (`None`: none configured).
    fn load(&self, file: &Path) -> Result<Option<Arc<aggregate::geo::Live>>, ConfigError> {
        for (name, codes) in &self.regions {
            let ok = !name.is_empty()
                && codes
                    .iter()
                    .all(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()));
            ensure(file, ok, "geoip.regions", || {
                format!("region `{name}`: give two-letter ISO 3166 country codes")
            })?;
        }
        in_range(file, "geoip.check_seconds", self.check_seconds, 0, 86_400)?;
        let (c, a) = (&self.country_db, &self.asn_db);
        if c.is_empty() && a.is_empty() {
            ensure(file, self.regions.is_empty(), "geoip.regions", || {
                "needs geoip.country_db".into()
            })?;
            return Ok(None);
        }
        let regions: Vec<(String, Vec<String>)> = self
            .regions
            .iter()
            .map(|(n, cs)| (n.clone(), cs.clone()))
            .collect();
        fn path(s: &str) -> Option<&Path> {
            (!s.is_empty()).then(|| Path::new(s))
        }
        let db = aggregate::geo::GeoDb::open(path(c), path(a), &regions).map_err(|e| {
            let key = if e.path.as_os_str() == c.as_str() {
                "geoip.country_db"
            } else {
                "geoip.asn_db"
            };
            invalid(file, key, e.to_string())
        })?;
        Ok(Some(Arc::new(aggregate::geo::Live::new(db))))
    }
}

impl StateSection {
    /// Checks `[state]`: a directory needs a key file; the key itself is read at start-up.
    fn validate(&self, file: &Path) -> Result<(), ConfigError> {
        ensure(
            file,
            self.directory.is_empty() || !self.key_file.is_empty(),
            "state.key_file",
            || "is required with state.directory (the fleet key pseudonymising sources)".into(),
        )?;
        if !self.node.is_empty() {
            crate::export::parquet::check_node(&self.node)
                .map_err(|e| invalid(file, "state.node", e.to_string()))?;
        }
        in_range(
            file,
            "state.refresh_seconds",
            self.refresh_seconds,
            10,
            86_400,
        )?;
        in_range(file, "state.grace_seconds", self.grace_seconds, 1, 3600)
    }
}

impl DaemonSection {
    /// Checks `[daemon]`; the log level.
    fn validate(&self, file: &Path) -> Result<log::LevelFilter, ConfigError> {
        let level = self.log_level.parse().map_err(|_| {
            invalid(
                file,
                "daemon.log_level",
                format!(
                    "`{}` is not one of error, warn, info, debug, trace",
                    self.log_level
                ),
            )
        })?;
        ensure(
            file,
            !self.user.contains(['/', ':', ' ']),
            "daemon.user",
            || format!("`{}` is not a user name", self.user),
        )?;
        Ok(level)
    }
}

//------------ Helpers -------------------------------------------------------

/// The error for `key` in `file`.
fn invalid(file: &Path, key: &'static str, reason: String) -> ConfigError {
    ConfigError::Invalid {
        file: file.to_owned(),
        key,
        reason,
    }
}

/// Nothing if `ok`, else the error for `key` with `reason()`.
fn ensure(
    file: &Path,
    ok: bool,
    key: &'static str,
    reason: impl FnOnce() -> String,
) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(invalid(file, key, reason()))
    }
}

/// Nothing if `value` lies in `lo..=hi`, else the error for `key`: "must be between `lo` and
/// `hi`" (a NaN lies nowhere).
fn in_range<T: PartialOrd + Display + Copy>(
    file: &Path,
    key: &'static str,
    value: T,
    lo: T,
    hi: T,
) -> Result<(), ConfigError> {
    ensure(file, (lo..=hi).contains(&value), key, || {
        format!("must be between {lo} and {hi}")
    })
}
