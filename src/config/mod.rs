//! Daemon configuration: a strict TOML file (unknown keys are errors) validated into settings
//! for each stage. Errors name the file, the key and the reason.

mod raw;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use raw::{
    AggregateSection, CaptureSection, DaemonSection, DecodeSection, ExportSection, GeoipSection,
    ParquetSection, PrivacySection, RawConfig, Rssac002Section, StateSection,
};

use crate::export::web::{Web, WebConfigError};
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
    /// The web configuration file (`export.web_config`) cannot be used.
    #[error("{file}: key `export.web_config`: {source}")]
    Web {
        /// The configuration file naming it.
        file: PathBuf,
        /// What is wrong in the web configuration (its file, key and reason).
        source: WebConfigError,
    },
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
    /// The web configuration (TLS, basic authentication), loaded and checked.
    pub web: Option<Arc<Web>>,
    /// Effective BPF filter.
    pub bpf_filter: String,
    /// Effective workers per interface.
    pub workers: usize,
    /// Log level.
    pub log_level: log::LevelFilter,
    /// How exports render source addresses (`[privacy]`, its key read).
    pub privacy: crate::privacy::Privacy,
}

/// The default BPF filter of the decoder settings: UDP and TCP on the DNS ports, plus every IP
/// fragment (non-first fragments carry no ports and are needed for reassembly), plus the
/// tunnels decoded (GRE, IP-in-IP, VXLAN and GENEVE by destination port, and all of that again
/// inside PPPoE sessions: libpcap's `pppoes` moves the offsets of what follows, so it comes last).
pub fn default_filter(decode: &decode::Settings) -> String {
    use decode::tunnel::Encap;
    let ports: Vec<String> = decode.ports.iter().map(|p| format!("port {p}")).collect();
    let mut terms = vec![
        format!("((udp or tcp) and ({}))", ports.join(" or ")),
        "(ip and ip[6:2] & 0x3fff != 0)".to_owned(),
        "(ip6 and ip6[6] == 44)".to_owned(),
    ];
    let t = &decode.tunnels;
    let on = |e| t.decoded.contains(e);
    if on(Encap::Gre) || on(Encap::Erspan) {
        terms.push("(ip proto 47 or ip6 proto 47)".into());
    }
    if on(Encap::IpInIp) {
        terms.push("(ip proto 4 or ip proto 41 or ip6 proto 4 or ip6 proto 41)".into());
    }
    for (e, list) in [
        (Encap::Vxlan, &t.vxlan_ports),
        (Encap::Geneve, &t.geneve_ports),
    ] {
        if on(e) {
            let ports: Vec<String> = list.iter().map(|p| format!("dst port {p}")).collect();
            terms.push(format!("(udp and ({}))", ports.join(" or ")));
        }
    }
    let base = terms.join(" or ");
    if on(Encap::Pppoe) {
        format!("{base} or (pppoes and ({base}))")
    } else {
        base
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
        // The web configuration applies live (re-read on every reload).
        let export = crate::config::ExportSection {
            web_config: o.export.web_config.clone(),
            ..n.export.clone()
        };
        if export != o.export {
            v.push("export");
        }
        if n.rssac002 != o.rssac002 {
            v.push("rssac002");
        }
        if n.state != o.state {
            v.push("state");
        }
        if n.geoip != o.geoip {
            v.push("geoip");
        }
        if n.privacy != o.privacy {
            v.push("privacy");
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
        let text = include_str!("../../config/dnsobs.toml");
        let c = check(text).unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        // The example spells out every key with its default value (dnstap_socket commented out).
        assert_eq!(c.raw.capture, CaptureSection::default());
        assert_eq!(c.raw.decode, DecodeSection::default());
        assert_eq!(c.raw.aggregate, AggregateSection::default());
        assert_eq!(c.raw.export, ExportSection::default());
        assert_eq!(c.raw.rssac002, Rssac002Section::default());
        assert_eq!(c.raw.privacy, PrivacySection::default());
        assert_eq!(c.privacy.describe(), "IPv4 /24, IPv6 /48");
    }

    /// A reload checks `[privacy]` without reading its key (the daemon may no longer be able
    /// to): a key file that cannot be read fails a start, not a reload; bad settings fail both.
    #[test]
    fn a_reload_does_not_read_the_privacy_key() {
        let text = "[privacy]\nmode = \"ipcrypt\"\nkey_file = \"/nonexistent/dnsobs.key\"\n";
        let p = Path::new("t.toml");
        let start = RawConfig::parse(text, p).and_then(|r| r.validate(p));
        assert!(
            start
                .unwrap_err()
                .to_string()
                .contains("/nonexistent/dnsobs.key")
        );
        let reload = RawConfig::parse(text, p).and_then(|r| r.validate_for_reload(p));
        assert_eq!(
            reload.expect("reload").raw.privacy.key_file,
            "/nonexistent/dnsobs.key"
        );
        let bad = "[privacy]\nmode = \"ipcrypt\"\n";
        let reload = RawConfig::parse(bad, p).and_then(|r| r.validate_for_reload(p));
        assert!(reload.unwrap_err().to_string().contains("needs a key file"));
    }

    #[test]
    fn privacy_is_checked_and_sets_the_topk_lengths() {
        let c = check("[privacy]\nipv4_prefix = 16\nipv6_prefix = 56\n").unwrap();
        assert_eq!((c.privacy.v4_prefix(), c.privacy.v6_prefix()), (16, 56));
        assert_eq!(
            (c.aggregate.topk.v4_prefix, c.aggregate.topk.v6_prefix),
            (16, 56)
        );
        // The older keys still set the lengths when [privacy] leaves them unset.
        let c = check("[aggregate]\ntopk_ipv4_prefix = 20\n").unwrap();
        assert_eq!(
            (c.privacy.v4_prefix(), c.aggregate.topk.v4_prefix),
            (20, 20)
        );
        let bad = |t: &str| check(t).unwrap_err().to_string();
        for (text, msg) in [
            (
                "[privacy]\nipv4_prefix = 7\n",
                "key `privacy.ipv4_prefix`: 7 is outside 8..=32",
            ),
            (
                "[privacy]\nipv4_prefix = 33\n",
                "key `privacy.ipv4_prefix`: 33 is outside 8..=32",
            ),
            (
                "[privacy]\nipv6_prefix = 15\n",
                "key `privacy.ipv6_prefix`: 15 is outside 16..=128",
            ),
            (
                "[privacy]\nipv6_prefix = 129\n",
                "key `privacy.ipv6_prefix`: 129 is outside 16..=128",
            ),
            (
                "[aggregate]\ntopk_ipv4_prefix = 0\n",
                "key `aggregate.topk_ipv4_prefix`: 0 is outside 8..=32",
            ),
            (
                "[privacy]\nmode = \"ipcrypt\"\n",
                "key `privacy.key_file`: mode ipcrypt needs a key file (privacy.key_file)",
            ),
            (
                "[privacy]\nkey_file = \"k\"\n",
                "key `privacy.key_file`: privacy.key_file is set but mode truncate",
            ),
            (
                "[privacy]\nipv4_prefix = 16\n[aggregate]\ntopk_ipv4_prefix = 20\n",
                "key `privacy.ipv4_prefix`: 16 differs from aggregate.topk_ipv4_prefix = 20",
            ),
        ] {
            let e = bad(text);
            assert!(e.starts_with(&format!("t.toml: {msg}")), "{text}: {e}");
        }
        let e = bad("[privacy]\nmode = \"secret\"\n");
        assert!(e.contains("ipcrypt-pfx") && e.contains("secret"), "{e}");
        let e = bad("[privacy]\nmode = \"ipcrypt-pfx\"\nkey_file = \"/nonexistent/k\"\n");
        assert!(
            e.contains("privacy.key_file") && e.contains("/nonexistent/k"),
            "{e}"
        );
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
    fn web_config_is_loaded_and_its_errors_name_both_files() {
        let dir = std::env::temp_dir().join(format!("dnsobs-webcfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let web = dir.join("web.yml");
        let toml = |p: &Path| format!("[export]\nweb_config = \"{}\"\n", p.display());
        // Missing file.
        let e = check(&toml(&dir.join("none.yml"))).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "t.toml: key `export.web_config`: {}: cannot read",
                dir.join("none.yml").display()
            )),
            "{e}"
        );
        // A bad hash, then a relative cert_file missing beside the web configuration.
        std::fs::write(&web, "basic_auth_users:\n  alice: secret\n").unwrap();
        let e = check(&toml(&web)).unwrap_err().to_string();
        assert!(
            e.contains(&format!(
                "{}: key `basic_auth_users.alice`: not a bcrypt hash",
                web.display()
            )),
            "{e}"
        );
        std::fs::write(
            &web,
            "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n",
        )
        .unwrap();
        let e = check(&toml(&web)).unwrap_err().to_string();
        assert!(
            e.contains(&format!(
                "key `tls_server_config.cert_file`: cannot read {}",
                dir.join("a.crt").display()
            )),
            "{e}"
        );
        // Users only: plain HTTP with authentication.
        let hash = bcrypt::hash("pw", 4).unwrap();
        std::fs::write(&web, format!("basic_auth_users:\n  alice: '{hash}'\n")).unwrap();
        let c = check(&toml(&web)).unwrap();
        let w = c.web.as_ref().unwrap();
        assert!(w.tls.is_none());
        assert_eq!(w.auth.as_ref().map(|a| a.users()), Some(1));
        // A changed web configuration does not need a restart.
        let old = check("").unwrap();
        assert!(c.restart_needed(&old).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
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
            (
                "directory = \"/d\"\nqueries_directory = \"/d_geo\"",
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
        let base = include_str!("../../config/dnsobs.toml").as_bytes();
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
    fn default_filter_covers_ports_fragments_and_tunnels() {
        let mut d = decode::Settings {
            ports: vec![53, 5353],
            ..Default::default()
        };
        d.tunnels.decoded = decode::tunnel::EncapSet::NONE;
        assert_eq!(
            default_filter(&d),
            "((udp or tcp) and (port 53 or port 5353)) or (ip and ip[6:2] & 0x3fff != 0) \
             or (ip6 and ip6[6] == 44)"
        );
        d.tunnels = Default::default();
        let f = default_filter(&d);
        for part in [
            "port 53 or port 5353",
            "ip6[6] == 44",
            "ip proto 47",
            "ip6 proto 41",
            "(udp and (dst port 4789))",
            "(udp and (dst port 6081))",
        ] {
            assert_eq!(
                f.matches(part).count(),
                2,
                "{part} outside and inside PPPoE: {f}"
            );
        }
        assert!(f.contains(" or (pppoes and (((udp or tcp)"), "{f}");
        // The tunnel keys are checked.
        let c = check("[decode]\nencapsulations = [\"gre\"]\nvxlan_ports = [8472]\n").unwrap();
        let only_gre = decode::tunnel::EncapSet::NONE.with(decode::tunnel::Encap::Gre);
        assert_eq!(c.decode.tunnels.decoded, only_gre);
        assert_eq!(c.decode.tunnels.vxlan_ports, [8472]);
        assert!(c.bpf_filter.contains("proto 47") && !c.bpf_filter.contains("pppoes"));
        for (text, key) in [
            ("encapsulations = [\"mpls\"]", "decode.encapsulations"),
            (
                "encapsulations = [\"gre\", \"gre\"]",
                "decode.encapsulations",
            ),
            ("vxlan_ports = [53]", "decode.vxlan_ports"),
            ("vxlan_ports = []", "decode.vxlan_ports"),
            ("geneve_ports = [4789]", "decode.vxlan_ports"),
            ("geneve_ports = [53]", "decode.geneve_ports"),
            ("geneve_ports = [0]", "decode.geneve_ports"),
        ] {
            let e = check(&format!("[decode]\n{text}\n"))
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with(&format!("t.toml: key `{key}`")),
                "{text}: {e}"
            );
        }
    }
}
