//! Command-line definition (clap). The exit statuses' wording comes from `exit_status_help!`
//! (src/cmd/mod.rs), next to [`ExitStatus`](super::ExitStatus).

use std::path::PathBuf;

use clap::{Arg, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = concat!(
    exit_status_help!(files " "),
    " (nothing reported); ",
    exit_status_help!(partial),
    " (report covers the records read, with a warning)."
);

/// Passive DNS traffic measurement: replay captures or capture live, report and export metrics.
#[derive(Debug, Parser)]
#[command(name = "dnsobs", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read capture files and report what the DNS traffic in them looks like.
    #[command(after_help = concat!(
        "Examples:\n",
        "  dnsobs replay pcaps/root-mix-v4v6.pcap\n",
        "  dnsobs replay --format json --threads 2 day1.pcap.zst day2.pcap.gz\n",
        "  dnsobs replay --since 2026-11-24T18:00:00Z --until 2026-11-24T19:00:00Z /data/ditl/\n",
        "  dnsobs replay --format prometheus capture.pcapng | promtool check metrics\n",
        "  dnsobs replay --parquet /data/dns --node ns1 --interval 60 day1.pcap.zst\n\n",
        exit_status_help!(files " "),
        "; ",
        exit_status_help!(partial),
        " (the report covers the records read)."
    ))]
    Replay(ReplayArgs),
    /// Capture live with libpcap on every core and serve Prometheus metrics.
    #[command(after_help = concat!(
        "Examples:\n",
        "  dnsobs run --config /etc/dnsobs/dnsobs.toml\n",
        "  dnsobs run --interface eth0 --interface eth1 --listen 127.0.0.1:10053\n",
        "  dnsobs run --config /etc/dnsobs/dnsobs.toml --web-config /etc/dnsobs/web.yml\n\n",
        "Signals: SIGTERM/SIGINT stop capture, log the final counts and exit 0; SIGHUP reloads the\n",
        "configuration (bpf_filter, log_level and the web configuration apply live; an invalid file\n",
        "keeps the running one).\n",
        "Endpoints: GET /metrics (Prometheus text, or OpenMetrics if asked), GET /healthz.\n",
        "Exit status: 0 after SIGTERM/SIGINT; 1 start-up failure (bad config, interface, port in use)."
    ))]
    Run(RunArgs),
    /// Write the RSSAC002v5 daily YAML documents for every UTC day found in capture files.
    #[command(after_help = concat!(
        "Example:\n  dnsobs rssac002 --service a.root-servers.net --out rssac002/ day1.pcap.zst day2.pcap.zst\n\n",
        "Writes <SERVICE>-<YYYYMMDD>-{traffic-volume,traffic-sizes,rcode-volume,unique-sources}.yaml per day\n",
        "(temporary file, fsync, rename) and prints their paths. ",
        exit_status_help!(files "\n"),
        "; ",
        exit_status_help!(partial),
        "."
    ))]
    Rssac002(Rssac002Args),
    /// Merge day state files of many instances (or days) into one report.
    #[command(after_help = concat!(
        "Examples:\n",
        "  dnsobs merge --format json /srv/dnsobs/state/\n",
        "  dnsobs merge lax1.2026-12-06.dnsobs-state ams1.2026-12-06.dnsobs-state\n",
        "  dnsobs merge --parquet /data/dns/fleet-intervals --node l-root /srv/dnsobs/state/\n\n",
        "Counters add up; distinct sources are the union of the instances' (exact: a source seen\n",
        "by several instances counts once); sketches merge. A node's day given twice counts once.\n",
        "Files written under another fleet key, or by another state format, are refused.\n",
        "Exit status: 0 success; 1 a state file could not be read or does not fit; ",
        exit_status_help!(usage),
        "."
    ))]
    Merge(MergeArgs),
    /// Live terminal view of a running daemon's metrics, refreshed every interval (like dnstop).
    #[command(after_help = concat!(
        "Examples:\n",
        "  dnsobs top\n",
        "  dnsobs top --url http://192.0.2.10:10053 --interval 2\n",
        "  dnsobs top --once | grep 'Queries total'\n\n",
        "Reads GET /metrics of `dnsobs run` and shows query and response rates by transport and IP\n",
        "version, DO / IPv6 / TCP / NXDOMAIN shares, qtype and rcode mixes, top-k names, TLDs and source\n",
        "prefixes, and capture drops. Keys: 1-4 or tab switch views, q (or Esc, Ctrl-C) quits. When the\n",
        "daemon is unreachable the view says so and keeps retrying.\n",
        "Exit status: 0 quit by key, or --once reached the daemon; 1 --once could not reach it, or the\n",
        "terminal could not be set up; ",
        exit_status_help!(usage),
        "."
    ))]
    Top(TopArgs),
    /// Write ICANN ITHI M3/M8 metrics of capture files as ithitools' CSV (one metric a row).
    #[command(after_help = concat!(
        "Examples:\n  dnsobs ithi day.pcap.zst\n  dnsobs ithi --zone-labels 1 --out M8.csv cctld.pcap\n\n",
        exit_status_help!(files " "),
        "."
    ))]
    Ithi(IthiArgs),
    /// Validate a configuration file and exit (0 valid, 1 invalid with file, key and reason).
    #[command(after_help = concat!(
        "Example:\n  dnsobs check-config /etc/dnsobs/dnsobs.toml\n\n",
        "Exit status: 0 valid; 1 invalid (the message names the file, the key and the reason); ",
        exit_status_help!(usage),
        "."
    ))]
    CheckConfig {
        /// The configuration file.
        file: PathBuf,
    },
    /// Write the man pages or shell completions (for packaging: scripts/build-deb.sh).
    #[command(hide = true)]
    Generate {
        /// What to write.
        #[command(subcommand)]
        what: Generate,
    },
}

/// What `dnsobs generate` writes.
#[derive(Debug, Subcommand)]
pub enum Generate {
    /// dnsobs.1 and one dnsobs-SUBCOMMAND.1 per subcommand, into DIR.
    Man {
        /// Output directory (created if missing).
        dir: PathBuf,
    },
    /// Completions for bash (dnsobs.bash), zsh (_dnsobs) and fish (dnsobs.fish), into DIR.
    Completions {
        /// Output directory (created if missing).
        dir: PathBuf,
    },
}

/// Arguments of `run`; flags override the file.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Configuration file (TOML); without it, built-in defaults.
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Interface to capture on (repeatable); replaces capture.interfaces.
    #[arg(long, short, value_name = "IF")]
    pub interface: Vec<String>,
    /// Metrics address; replaces export.listen.
    #[arg(long, short, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// Capture workers per interface; replaces capture.workers.
    #[arg(long, short, value_name = "N")]
    pub workers: Option<usize>,
    /// Unix socket to read dnstap Frame Streams on; replaces capture.dnstap_socket.
    #[arg(long, value_name = "PATH")]
    pub dnstap_socket: Option<String>,
    /// Web configuration of Prometheus exporters (TLS, basic authentication, YAML); replaces
    /// export.web_config. Re-read on SIGHUP.
    #[arg(long, value_name = "FILE")]
    pub web_config: Option<PathBuf>,
}

/// Output formats of `replay`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable tables.
    Table,
    /// One JSON object (the oracle schema's keys and more).
    Json,
    /// Prometheus text exposition format 0.0.4.
    Prometheus,
    /// One self-contained HTML page with charts (no script, no external resource).
    Html,
}

/// Arguments of `replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// The capture files, --threads, --ports, --quiet.
    #[command(flatten)]
    pub input: InputArgs,
    /// Also write the HTML report to FILE (beside the --format output on stdout).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Width of the time-series buckets (JSON `time_series`, Parquet, the HTML rate chart), in
    /// seconds; must divide 86400. Default 60, or 1 when an HTML report is asked for without
    /// --parquet (a per-second chart).
    #[arg(long, value_name = "SECS")]
    pub interval: Option<u32>,
    /// Intervals held at once; older ones are evicted (counted) when a capture spans more.
    /// Default 10080 (a week of minutes), or 172800 (two days of seconds) with 1-second buckets.
    #[arg(long, value_name = "N")]
    pub max_intervals: Option<usize>,
    /// Write the per-interval table as Parquet under DIR/date=YYYY-MM-DD/node=NAME/ (and, with
    /// MaxMind DB files, the per-interval geography by country and region under DIR_geo/).
    #[arg(long, value_name = "DIR")]
    pub parquet: Option<PathBuf>,
    /// Write one Parquet row per query (source rendered as the --anon-* flags say: by default
    /// truncated to /24 or /48) under DIR/date=YYYY-MM-DD/node=NAME/.
    #[arg(long, value_name = "DIR")]
    pub parquet_queries: Option<PathBuf>,
    /// Node name stored in the Parquet files, their partition path and the day state files
    /// (default: host name).
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,
    /// Write one day state file per UTC day (NODE.YYYY-MM-DD.dnsobs-state) into DIR, for
    /// `dnsobs merge` and `dnsobs rssac002 --from-state`; needs --state-key.
    #[arg(long, value_name = "DIR", requires = "state_key")]
    pub state_dir: Option<PathBuf>,
    /// The fleet key (at least 16 bytes, not accessible to others): sources in state files are
    /// pseudonymised with it, and every instance of a fleet must use the same.
    #[arg(long, value_name = "FILE", requires = "state_dir")]
    pub state_key: Option<PathBuf>,
    /// Also write each day state as the fleet Parquet tables (day_counts, day_sources) under
    /// DIR/{day_counts,day_sources}/date=YYYY-MM-DD/node=NAME/, for Spark and other engines.
    #[arg(long, value_name = "DIR", requires = "state_dir")]
    pub state_parquet: Option<PathBuf>,
    /// The files are dnstap Frame Streams files (e.g. written by knotd's mod-dnstap), not
    /// captures; read in order by one worker (--threads and --ports do not apply).
    #[arg(long)]
    pub dnstap: bool,
    /// How source addresses are rendered (--anon-*).
    #[command(flatten)]
    pub privacy: PrivacyArgs,
}

/// How sources are rendered in the exports that name them: the top-k source prefixes of every
/// format and the per-query Parquet rows (docs/privacy.md).
#[derive(Debug, clap::Args)]
pub struct PrivacyArgs {
    /// Keep this many leading bits of IPv4 sources (8..=32).
    #[arg(long, value_name = "N", default_value_t = crate::privacy::DEFAULT_V4_PREFIX,
        value_parser = clap::value_parser!(u8).range(8..=32))]
    pub anon_v4_prefix: u8,
    /// Keep this many leading bits of IPv6 sources (16..=128).
    #[arg(long, value_name = "N", default_value_t = crate::privacy::DEFAULT_V6_PREFIX,
        value_parser = clap::value_parser!(u8).range(16..=128))]
    pub anon_v6_prefix: u8,
    /// --anon-mode and --anon-key.
    #[command(flatten)]
    pub cipher: CipherArgs,
}

/// Whether and how sources are encrypted (`replay`, `merge`).
#[derive(Debug, clap::Args)]
pub struct CipherArgs {
    /// truncate: the prefix in clear; ipcrypt: the prefix encrypted with ipcrypt-deterministic
    /// (16-byte key); ipcrypt-pfx: the address encrypted with prefix-preserving ipcrypt-pfx
    /// (32-byte key), then truncated.
    #[arg(long, value_enum, value_name = "MODE", default_value_t = AnonMode::Truncate)]
    pub anon_mode: AnonMode,
    /// The ipcrypt key: exactly 16 (ipcrypt) or 32 (ipcrypt-pfx) bytes, or twice as many hex
    /// digits; no access for group or others.
    #[arg(long, value_name = "FILE")]
    pub anon_key: Option<PathBuf>,
}

/// `--anon-mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AnonMode {
    /// The prefix in clear.
    Truncate,
    /// The prefix encrypted with ipcrypt-deterministic.
    Ipcrypt,
    /// The address encrypted with ipcrypt-pfx, then truncated.
    IpcryptPfx,
}

impl PrivacyArgs {
    /// The flags' privacy, key read.
    pub fn privacy(&self) -> Result<crate::privacy::Privacy, crate::privacy::PrivacyError> {
        let names = crate::privacy::Names {
            ipv4_prefix: "--anon-v4-prefix",
            ipv6_prefix: "--anon-v6-prefix",
            key_file: "--anon-key",
        };
        self.cipher
            .privacy((self.anon_v4_prefix, self.anon_v6_prefix), &names)
    }
}

impl CipherArgs {
    /// The privacy of these flags at the prefix lengths `(v4, v6)`, named by `names`.
    pub fn privacy(
        &self,
        (v4, v6): (u8, u8),
        names: &crate::privacy::Names,
    ) -> Result<crate::privacy::Privacy, crate::privacy::PrivacyError> {
        use crate::privacy::{Mode, Privacy, Settings};
        let s = Settings {
            mode: match self.anon_mode {
                AnonMode::Truncate => Mode::Truncate,
                AnonMode::Ipcrypt => Mode::Ipcrypt,
                AnonMode::IpcryptPfx => Mode::IpcryptPfx,
            },
            ipv4_prefix: v4,
            ipv6_prefix: v6,
            key_file: self.anon_key.clone(),
        };
        Privacy::load(&s, names)
    }
}

/// The input flags of the commands reading capture files (`replay`, `rssac002`, `ithi`),
/// validated by [`InputArgs::pipeline_settings`]. The help texts are `replay`'s; the other
/// commands reword some with `mut_arg`.
#[derive(Debug, clap::Args)]
pub struct InputArgs {
    /// Capture files or directories (read recursively): pcap or pcapng, plain or compressed
    /// (gzip, zstd, xz, lzma, bzip2, lz4); `-` reads stdin. Read in the order of their first
    /// packets, as one capture.
    #[arg(required = true, value_name = "FILE|DIR")]
    pub files: Vec<PathBuf>,
    /// Worker threads (default: the number of available cores).
    #[arg(long, short = 't', value_name = "N")]
    pub threads: Option<usize>,
    /// DNS ports, comma-separated (UDP and TCP, source or destination).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "53",
        value_name = "PORT,..."
    )]
    pub ports: Vec<u16>,
    /// Encapsulations looked inside, comma-separated (`none`: none); DNS inside counts with
    /// the inner addresses.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "gre,erspan,vxlan,geneve,ipip,pppoe",
        value_name = "NAME,...",
        value_parser = encapsulation_names()
    )]
    pub encapsulations: Vec<String>,
    /// UDP destination ports of VXLAN, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "4789",
        value_name = "PORT,..."
    )]
    pub vxlan_ports: Vec<u16>,
    /// UDP destination ports of GENEVE, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "6081",
        value_name = "PORT,..."
    )]
    pub geneve_ports: Vec<u16>,
    /// Print neither warnings nor the progress bar to stderr (the bar is shown only when
    /// stderr is a terminal).
    #[arg(long, short)]
    pub quiet: bool,
    /// Only packets captured at or after this time (RFC 3339, e.g. 2026-11-24T18:59:30Z);
    /// files that end before it are not read.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub since: Option<u64>,
    /// Only packets captured before this time (RFC 3339); files that begin at or after it are
    /// not read.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub until: Option<u64>,
    /// A MaxMind DB country database (GeoIP2/GeoLite2 Country or City, DB-IP, IPinfo): queries
    /// by the country of their source.
    #[arg(long, value_name = "FILE")]
    pub geoip_country: Option<PathBuf>,
    /// A MaxMind DB AS database (GeoLite2 ASN or the like): queries by the network (AS) of
    /// their source.
    #[arg(long, value_name = "FILE")]
    pub geoip_asn: Option<PathBuf>,
    /// A named region: NAME=CC,CC,... (ISO 3166 codes; repeatable), counted with the countries.
    #[arg(long, value_name = "NAME=CC,...", value_parser = parse_region)]
    pub geo_region: Vec<(String, Vec<String>)>,
}

/// `--geo-region NAME=CC,CC,...`.
fn parse_region(s: &str) -> Result<(String, Vec<String>), String> {
    let (name, codes) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: expected NAME=CC,CC,..."))?;
    let codes: Vec<String> = codes
        .split(',')
        .map(|c| c.trim().to_ascii_uppercase())
        .collect();
    if name.is_empty()
        || codes
            .iter()
            .any(|c| c.len() != 2 || !c.bytes().all(|b| b.is_ascii_alphabetic()))
    {
        return Err(format!(
            "`{s}`: expected NAME=CC,CC,... with two-letter country codes"
        ));
    }
    Ok((name.to_owned(), codes))
}

/// `--since` / `--until`: ns since the epoch.
fn parse_time(s: &str) -> Result<u64, crate::time::TimeError> {
    crate::time::parse_rfc3339(s)
}

/// The values of `--encapsulations`: the decoder's names and `none`.
fn encapsulation_names() -> clap::builder::PossibleValuesParser {
    use crate::decode::tunnel::Encap;
    let names = Encap::ALL.iter().map(|e| e.name()).chain(["none"]);
    clap::builder::PossibleValuesParser::new(names)
}

/// `--ports` in `rssac002` and `ithi`.
const PORTS: &str = "DNS ports, comma-separated";

/// A `mut_args` callback numbering the options in the order they are declared, for the help
/// and the man page (`mut_arg` moves an argument to the end of that order, not of the help).
fn in_declared_order() -> impl FnMut(Arg) -> Arg {
    let mut next = 0;
    move |a| {
        if a.is_positional() {
            return a;
        }
        next += 1;
        a.display_order(next)
    }
}

/// Arguments of `rssac002`.
#[derive(Debug, clap::Args)]
#[command(
    mut_arg("files", |a| a.help(
        "Capture files or directories, read in time order as one capture (pcap/pcapng, optionally compressed; `-` is stdin)"
    )),
    mut_arg("ports", |a| a.help(PORTS)),
    // The order before the flags were shared, --threads --ports --max-sources --quiet: each
    // `mut_arg` moves its argument last (the completions' order), then the help's order is
    // renumbered to match.
    mut_arg("max_sources", |a| a),
    mut_arg("quiet", |a| a.help("Print neither the paths, warnings nor the progress bar")),
    mut_args(in_declared_order()),
)]
pub struct Rssac002Args {
    /// The documents' `service` and the files' prefix (letters, digits, '.', '-', '_').
    #[arg(long, short, value_name = "NAME")]
    pub service: String,
    /// Output directory (created if missing); files of the same day are replaced.
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,
    /// The capture files, --threads, --ports, --quiet.
    #[command(flatten)]
    pub input: InputArgs,
    /// Distinct sources counted exactly per kind, shared by all days of the capture (past it:
    /// lower bounds, flagged).
    #[arg(long, value_name = "N", default_value_t = crate::aggregate::rssac002::DEFAULT_SOURCE_CAP)]
    pub max_sources: usize,
    /// The FILE|DIR arguments are day state files (`replay --state-dir`, `[state]`) of one or
    /// many instances: write the service-wide documents of their days.
    #[arg(long)]
    pub from_state: bool,
}

/// Arguments of `merge`.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Day state files, or directories holding them (searched recursively).
    #[arg(required = true, value_name = "STATE|DIR")]
    pub states: Vec<PathBuf>,
    /// Encrypt the top-k source prefixes (at the lengths the states were written with).
    #[command(flatten)]
    pub cipher: CipherArgs,
    /// Also write the merged per-interval table as Parquet under DIR/date=YYYY-MM-DD/node=NAME/
    /// (and the per-interval geography under DIR_geo/, when the states have one).
    #[arg(long, value_name = "DIR")]
    pub parquet: Option<PathBuf>,
    /// Node name of the merged Parquet rows and their partition path.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "fleet",
        requires = "parquet"
    )]
    pub node: String,
}

/// Arguments of `top`.
#[derive(Debug, clap::Args)]
pub struct TopArgs {
    /// The daemon's metrics endpoint (plain HTTP; the path defaults to /metrics).
    #[arg(
        long,
        short,
        value_name = "URL",
        default_value = "http://127.0.0.1:10053"
    )]
    pub url: String,
    /// Seconds between scrapes (at least 0.1).
    #[arg(long, short, value_name = "SECONDS", default_value_t = 1.0)]
    pub interval: f64,
    /// Print one text snapshot of every view to stdout and exit (no terminal needed).
    #[arg(long)]
    pub once: bool,
    /// Rows of each top-k table in --once output.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub rows: usize,
}

/// Arguments of `ithi`.
#[derive(Debug, clap::Args)]
#[command(
    mut_arg("files", |a| a.help("Capture files or directories, read in time order as one capture (`-` is stdin)")),
    mut_arg("ports", |a| a.help(PORTS)),
    mut_arg("quiet", |a| a.help(
        "No progress bar on stderr (it is shown only when stderr is a terminal)"
    )),
)]
pub struct IthiArgs {
    /// Output CSV (default: standard output); written to a temporary file, then renamed.
    #[arg(long, short, value_name = "FILE.csv")]
    pub out: Option<PathBuf>,
    /// Labels of the served zone (0 = root) for the QNAME-minimisation heuristic.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub zone_labels: u8,
    /// Seconds a repeated (resolver, TLD) answer counts as useless (M3.2).
    #[arg(long, default_value_t = 172_800, value_name = "SECS")]
    pub repeat_ttl: u32,
    /// The capture files, --threads, --ports, --quiet.
    #[command(flatten)]
    pub input: InputArgs,
}
