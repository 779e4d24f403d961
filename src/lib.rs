//! dnsobs: passive DNS traffic measurement.
//!
//! Data flows one way, and the modules follow it:
//!
//! 1. [`capture`]: frames in, from capture files (pcap, pcapng, compressed) or live.
//! 2. [`decode`]: frames → DNS messages: link layers, IP and fragment reassembly, UDP, TCP
//!    stream reassembly, the DNS header, first question and OPT record; malformed input is
//!    classified by a fixed taxonomy. Hot path: no allocation, lock or log per packet.
//! 3. [`aggregate`]: per-worker counters with a `merge`.
//! 4. [`snapshot`]: the merged counters and the facts about their input, published once per
//!    replay or per daemon flush.
//! 5. [`export`]: every output format as a function of a [`snapshot::Snapshot`]: the report
//!    (JSON, table, HTML), Prometheus families, RSSAC002 YAML, ITHI CSV, Parquet.
//!
//! [`pipeline`] wires them for replay: readers, workers sharded by flow, the final merge.
//! [`daemon`] wires them for live capture (`dnsobs run`), configured by [`config`].
//! [`cmd`] holds the `dnsobs` subcommands; the binary parses the command line and runs one.
//! [`state`] writes one node's UTC day as a state file and merges many nodes' into one
//! snapshot (fleets: `dnsobs merge`).
//! [`privacy`] renders source addresses for the exports that name them (truncation, ipcrypt).
//! [`time`] holds the clock and UTC calendar dates every stage uses.

pub mod aggregate;
pub mod capture;
pub mod cmd;
pub mod config;
pub mod daemon;
pub mod decode;
pub mod export;
pub mod pipeline;
pub mod privacy;
pub mod snapshot;
pub mod state;
pub mod time;
