//! Integration tests: one binary, one module per area.

// Shared scaffolding: fixtures, scratch directories, the seeded RNG, promtool, test hosts in
// network namespaces and the daemon on them.
mod util;
// Every fixture in pcaps/ against its oracle, key by key.
mod oracle;
// Golden /metrics, JSON, table and HTML outputs of root-mix, byte for byte.
mod golden;
// The metrics reference in docs/ names exactly the families of the family table, and every
// malformed reason is documented.
mod reference;
// malformed.pcap frame by frame against the strict taxonomy.
mod malformed;
// Encapsulations: tun-malformed.pcap frame by frame, each one turned off and on, ports, flags.
mod tunnels;
// Seeded mutation fuzzer over every fixture frame: decoding never panics.
mod fuzz;
// Zero heap allocations per packet in a warmed-up worker (counting global allocator).
mod alloc;
// The dnsobs binary: exit statuses, messages, formats, compressed and piped input.
mod cli;
// Codecs, concatenated and broken archives, directories in time order, overlaps, --since/--until,
// decompression ahead.
mod archives;
// Capture containers: derived fixtures (byte order, interfaces, sections, gzip), SPBs, errors.
mod formats;
// The daemon end to end: live capture, /metrics, Prometheus, signals.
mod live;
// The daemon under faults: start-up errors, vanishing interface, privilege drop, HTTP abuse.
mod daemon;
// RSSAC002v5 day counters and YAML on root-mix-v4v6.pcap against its oracle, parsed back.
mod rssac002;
// Junk/abuse/penetration indicators against a crafted capture with known figures.
mod classify;
// Top-k, HyperLogLog and latency matching on root-mix against exact counts and the oracle.
mod indicators;
// The HTML report: escaping of hostile names and paths, figures, headless Chromium render.
mod html;
// Prometheus rules, scrape config and Grafana dashboard: promtool, PromQL names vs exports.
mod rules;
// Memory bound under attack: generated floods (random subdomains, TCP, fragments) and peak RSS.
mod flood;
// ITHI M3/M8, resolver hygiene and ASN diversity against a crafted capture and root-mix's oracle.
mod ithi;
// dnsobs top in tmux against a live daemon fed by tcpreplay: numbers move, keys, unreachable.
mod top;
// Parquet export (interval and per-query tables) read back by DuckDB and Spark vs the oracle.
mod parquet;
// dnstap input: a real knotd with mod-dnstap writing to the daemon's socket, queried by kdig.
mod dnstap;
// Writes confined to the configured directories (strace); a full RSSAC002 directory (tmpfs).
mod confine;
// The exact unique-source sets at a small cap: the overflow counted exactly (replay, daemon).
mod caps;
// Batch sizes and thread counts change when work is done, not the figures.
mod batches;
// Day state files: anycast instances merged equal the whole capture; refusals.
mod fleet;
// Geography: countries, ASes and regions from MaxMind DB files vs tshark + MaxMind's reader.
mod geo;
mod geo_intervals;
mod geo_reload;
// Remote scraping over TLS with basic auth (a real Prometheus), mutual TLS, bad clients, reload.
mod tls;
// Privacy: truncation lengths, ipcrypt and ipcrypt-pfx in per-query Parquet and the top-k vs
// tshark's sources; key files and bad settings refused.
mod privacy;
