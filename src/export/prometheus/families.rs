//! The family table: every metric family dnsobs exports, with its help text, type, unit and
//! labels. The encoders write families only through these rows; the metrics reference
//! (`docs/metrics.md`), `dnsobs top` and the Prometheus rules test are checked against [`ALL`].

use super::encode::{Family, Kind};

const fn family(
    name: &'static str,
    help: &'static str,
    kind: Kind,
    bytes: bool,
    labels: &'static [&'static str],
) -> Family {
    Family {
        name,
        help,
        kind,
        bytes,
        labels,
    }
}

/// `dnsobs_frames`.
pub const FRAMES: Family = family(
    "dnsobs_frames",
    "Frames captured or read from capture files.",
    Kind::Counter,
    false,
    &[],
);

/// `dnsobs_queries`.
pub const QUERIES: Family = family(
    "dnsobs_queries",
    "DNS queries (QR=0) by transport and IP version.",
    Kind::Counter,
    false,
    &["transport", "ip_version"],
);

/// `dnsobs_responses`.
pub const RESPONSES: Family = family(
    "dnsobs_responses",
    "DNS responses (QR=1) by transport and IP version.",
    Kind::Counter,
    false,
    &["transport", "ip_version"],
);

/// `dnsobs_queries_edns`.
pub const QUERIES_EDNS: Family = family(
    "dnsobs_queries_edns",
    "Queries with an OPT record (EDNS).",
    Kind::Counter,
    false,
    &["ip_version"],
);

/// `dnsobs_queries_do`.
pub const QUERIES_DO: Family = family(
    "dnsobs_queries_do",
    "Queries with the DNSSEC OK bit set.",
    Kind::Counter,
    false,
    &["ip_version"],
);

/// `dnsobs_query_flags`.
pub const QUERY_FLAGS: Family = family(
    "dnsobs_query_flags",
    "Queries with a header flag set (flags overlap: do not sum over flag).",
    Kind::Counter,
    false,
    &["flag"],
);

/// `dnsobs_response_flags`.
pub const RESPONSE_FLAGS: Family = family(
    "dnsobs_response_flags",
    "Responses with a header flag set (flags overlap: do not sum over flag).",
    Kind::Counter,
    false,
    &["flag"],
);

/// `dnsobs_query_qtypes`.
pub const QUERY_QTYPES: Family = family(
    "dnsobs_query_qtypes",
    "Queries by QTYPE of the first question (unassigned types as other).",
    Kind::Counter,
    false,
    &["qtype"],
);

/// `dnsobs_query_qclasses`.
pub const QUERY_QCLASSES: Family = family(
    "dnsobs_query_qclasses",
    "Queries by QCLASS of the first question.",
    Kind::Counter,
    false,
    &["qclass"],
);

/// `dnsobs_query_opcodes`.
pub const QUERY_OPCODES: Family = family(
    "dnsobs_query_opcodes",
    "Queries by OPCODE.",
    Kind::Counter,
    false,
    &["opcode"],
);

/// `dnsobs_response_rcodes`.
pub const RESPONSE_RCODES: Family = family(
    "dnsobs_response_rcodes",
    "Responses by RCODE (extended with the OPT record's upper bits).",
    Kind::Counter,
    false,
    &["rcode"],
);

/// `dnsobs_message_size`.
pub const MESSAGE_SIZE: Family = family(
    "dnsobs_message_size",
    "Sum of DNS message sizes (UDP payload, or TCP length prefix) by direction.",
    Kind::Counter,
    true,
    &["direction"],
);

/// `dnsobs_query_edns_options`.
pub const QUERY_EDNS_OPTIONS: Family = family(
    "dnsobs_query_edns_options",
    "Queries carrying each EDNS option.",
    Kind::Counter,
    false,
    &["option"],
);

/// `dnsobs_query_edns_versions`.
pub const QUERY_EDNS_VERSIONS: Family = family(
    "dnsobs_query_edns_versions",
    "Queries with EDNS by EDNS version.",
    Kind::Counter,
    false,
    &["version"],
);

/// `dnsobs_query_edns_udp_payload_size`.
pub const QUERY_EDNS_UDP_PAYLOAD_SIZE: Family = family(
    "dnsobs_query_edns_udp_payload_size",
    "EDNS UDP payload size advertised by queries (1232 is the DNS Flag Day 2020 value).",
    Kind::Histogram,
    true,
    &[],
);

/// `dnsobs_unique_query_sources`.
pub const UNIQUE_QUERY_SOURCES: Family = family(
    "dnsobs_unique_query_sources",
    "Distinct source addresses of queries (exact up to the configured cap).",
    Kind::Gauge,
    false,
    &["ip_version"],
);

/// `dnsobs_unique_query_sources_overflow`.
pub const UNIQUE_QUERY_SOURCES_OVERFLOW: Family = family(
    "dnsobs_unique_query_sources_overflow",
    "Query sources not remembered because the exact set was full (aggregate.max_unique_sources); non-zero: dnsobs_unique_query_sources is a lower bound.",
    Kind::Counter,
    false,
    &["ip_version"],
);

/// `dnsobs_query_classes`.
pub const QUERY_CLASSES: Family = family(
    "dnsobs_query_classes",
    "Queries by junk/abuse class of their name (exclusive, first match: priming, any, special_use, leaked, chromium_probe, reverse, other).",
    Kind::Counter,
    false,
    &["class"],
);

/// `dnsobs_nxdomain_responses`.
pub const NXDOMAIN_RESPONSES: Family = family(
    "dnsobs_nxdomain_responses",
    "NXDOMAIN responses by class of their question (at a root server: non-existent TLDs).",
    Kind::Counter,
    false,
    &["class"],
);

/// `dnsobs_queries_idn`.
pub const QUERIES_IDN: Family = family(
    "dnsobs_queries_idn",
    "Queries with an IDNA A-label (xn--) in the name.",
    Kind::Counter,
    false,
    &[],
);

/// `dnsobs_queries_mixed_case`.
pub const QUERIES_MIXED_CASE: Family = family(
    "dnsobs_queries_mixed_case",
    "Queries whose name mixes upper and lower case (0x20 randomisation by the resolver).",
    Kind::Counter,
    false,
    &[],
);

/// `dnsobs_response_ede`.
pub const RESPONSE_EDE: Family = family(
    "dnsobs_response_ede",
    "Responses carrying an Extended DNS Error (RFC 8914), by INFO-CODE (above 30: other).",
    Kind::Counter,
    false,
    &["code"],
);

/// `dnsobs_query_name_length`.
pub const QUERY_NAME_LENGTH: Family = family(
    "dnsobs_query_name_length",
    "Length of query names in presentation form without the final dot.",
    Kind::Histogram,
    true,
    &[],
);

/// `dnsobs_query_name_labels`.
pub const QUERY_NAME_LABELS: Family = family(
    "dnsobs_query_name_labels",
    "Number of labels in query names.",
    Kind::Histogram,
    false,
    &[],
);

/// `dnsobs_response_edns_udp_payload_size`.
pub const RESPONSE_EDNS_UDP_PAYLOAD_SIZE: Family = family(
    "dnsobs_response_edns_udp_payload_size",
    "EDNS UDP payload size advertised by responses.",
    Kind::Histogram,
    true,
    &[],
);

/// `dnsobs_rssac002_request_size`.
pub const RSSAC002_REQUEST_SIZE: Family = family(
    "dnsobs_rssac002_request_size",
    "DNS query sizes in RSSAC002 request bins (16 bytes; the last, 288-, is +Inf).",
    Kind::Histogram,
    true,
    &["transport"],
);

/// `dnsobs_rssac002_response_size`.
pub const RSSAC002_RESPONSE_SIZE: Family = family(
    "dnsobs_rssac002_response_size",
    "DNS response sizes, 128-byte buckets of the RSSAC002 bins (the last, 4096-, is +Inf).",
    Kind::Histogram,
    true,
    &["transport"],
);

/// `dnsobs_rssac002_late_messages`.
pub const RSSAC002_LATE_MESSAGES: Family = family(
    "dnsobs_rssac002_late_messages",
    "DNS messages of a UTC day already written (or older than the days kept): in no file.",
    Kind::Counter,
    false,
    &[],
);

/// `dnsobs_rssac002_pending_periods`.
pub const RSSAC002_PENDING_PERIODS: Family = family(
    "dnsobs_rssac002_pending_periods",
    "UTC days (periods) counted and not yet written.",
    Kind::Gauge,
    false,
    &[],
);

/// `dnsobs_rssac002_day_evictions`.
pub const RSSAC002_DAY_EVICTIONS: Family = family(
    "dnsobs_rssac002_day_evictions",
    "UTC days dropped unwritten to make room for a newer one (more days pending than kept).",
    Kind::Counter,
    false,
    &[],
);

/// `dnsobs_rssac002_unique_sources_overflow`.
pub const RSSAC002_UNIQUE_SOURCES_OVERFLOW: Family = family(
    "dnsobs_rssac002_unique_sources_overflow",
    "Queries of the pending UTC days whose source was not remembered because that day's set was at rssac002.max_unique_sources; non-zero: the day's unique-sources figure is a lower bound.",
    Kind::Gauge,
    false,
    &["kind"],
);

/// `dnsobs_top_qname_queries`.
pub const TOP_QNAME_QUERIES: Family = family(
    "dnsobs_top_qname_queries",
    "Queries for the top-k query names (Space-Saving estimate).",
    Kind::Gauge,
    false,
    &["qname"],
);

/// `dnsobs_top_tld_queries`.
pub const TOP_TLD_QUERIES: Family = family(
    "dnsobs_top_tld_queries",
    "Queries for the top-k TLDs (Space-Saving estimate).",
    Kind::Gauge,
    false,
    &["tld"],
);

/// `dnsobs_top_sld_queries`.
pub const TOP_SLD_QUERIES: Family = family(
    "dnsobs_top_sld_queries",
    "Queries for the top-k second-level names (Space-Saving estimate).",
    Kind::Gauge,
    false,
    &["domain"],
);

/// `dnsobs_top_source_prefix_queries`.
pub const TOP_SOURCE_PREFIX_QUERIES: Family = family(
    "dnsobs_top_source_prefix_queries",
    "Queries from the top-k source prefixes (anonymised; Space-Saving estimate).",
    Kind::Gauge,
    false,
    &["prefix"],
);

/// `dnsobs_top_max_error`.
pub const TOP_MAX_ERROR: Family = family(
    "dnsobs_top_max_error",
    "Largest overestimate any top-k count may carry, per table (0 = exact).",
    Kind::Gauge,
    false,
    &["table"],
);

/// `dnsobs_top_evictions`.
pub const TOP_EVICTIONS: Family = family(
    "dnsobs_top_evictions",
    "Keys evicted from a full top-k table (a new key took over the smallest counter), per table.",
    Kind::Counter,
    false,
    &["table"],
);

/// `dnsobs_unique_sources_estimate`.
pub const UNIQUE_SOURCES_ESTIMATE: Family = family(
    "dnsobs_unique_sources_estimate",
    "Distinct query sources since start (HyperLogLog, standard error 0.81 %).",
    Kind::Gauge,
    false,
    &["ip_version"],
);

/// `dnsobs_unique_sources_ipv6_64_estimate`.
pub const UNIQUE_SOURCES_IPV6_64_ESTIMATE: Family = family(
    "dnsobs_unique_sources_ipv6_64_estimate",
    "Distinct IPv6 /64 prefixes of query sources (HyperLogLog).",
    Kind::Gauge,
    false,
    &[],
);

/// `dnsobs_unique_do_sources_estimate`.
pub const UNIQUE_DO_SOURCES_ESTIMATE: Family = family(
    "dnsobs_unique_do_sources_estimate",
    "Distinct sources of queries with the DO bit (HyperLogLog).",
    Kind::Gauge,
    false,
    &["ip_version"],
);

/// `dnsobs_response_latency_seconds`.
pub const RESPONSE_LATENCY_SECONDS: Family = family(
    "dnsobs_response_latency_seconds",
    "Delay from a query to its response, where both directions are captured.",
    Kind::Histogram,
    false,
    &["transport"],
);

/// `dnsobs_latency_responses_unmatched`.
pub const LATENCY_RESPONSES_UNMATCHED: Family = family(
    "dnsobs_latency_responses_unmatched",
    "Responses without a pending query.",
    Kind::Counter,
    false,
    &["transport"],
);

/// `dnsobs_latency_queries_timed_out`.
pub const LATENCY_QUERIES_TIMED_OUT: Family = family(
    "dnsobs_latency_queries_timed_out",
    "Queries without a response within the timeout.",
    Kind::Counter,
    false,
    &["transport"],
);

/// `dnsobs_latency_queries_evicted`.
pub const LATENCY_QUERIES_EVICTED: Family = family(
    "dnsobs_latency_queries_evicted",
    "Pending queries evicted because the table was full.",
    Kind::Counter,
    false,
    &["transport"],
);

/// `dnsobs_latency_queries_duplicate`.
pub const LATENCY_QUERIES_DUPLICATE: Family = family(
    "dnsobs_latency_queries_duplicate",
    "Queries whose key was already pending.",
    Kind::Counter,
    false,
    &["transport"],
);

/// `dnsobs_ithi`.
pub const ITHI: Family = family(
    "dnsobs_ithi",
    "ICANN ITHI root (M3) and authoritative (M8) metrics, as ithitools names them (shares, 0-1).",
    Kind::Gauge,
    false,
    &["metric", "key"],
);

/// `dnsobs_ithi_repeat_cache_evictions`.
pub const ITHI_REPEAT_CACHE_EVICTIONS: Family = family(
    "dnsobs_ithi_repeat_cache_evictions",
    "M3.2 repeat-cache entries overwritten within their TTL (M3.2 may be underestimated by this many).",
    Kind::Counter,
    false,
    &[],
);

/// `dnsobs_resolver_hygiene_sources`.
pub const RESOLVER_HYGIENE_SOURCES: Family = family(
    "dnsobs_resolver_hygiene_sources",
    "Sources (with enough queries, in the bounded per-worker tables) in each hygiene class.",
    Kind::Gauge,
    false,
    &["class"],
);

/// `dnsobs_resolver_hygiene_eligible_sources`.
pub const RESOLVER_HYGIENE_ELIGIBLE_SOURCES: Family = family(
    "dnsobs_resolver_hygiene_eligible_sources",
    "Sources classified for hygiene (enough queries), by IP version.",
    Kind::Gauge,
    false,
    &["ip_version"],
);

/// `dnsobs_resolver_hygiene_evictions`.
pub const RESOLVER_HYGIENE_EVICTIONS: Family = family(
    "dnsobs_resolver_hygiene_evictions",
    "Sources evicted from the hygiene tables to make room (least recently seen).",
    Kind::Counter,
    false,
    &[],
);

/// `dnsobs_asn_table_loaded`.
pub const ASN_TABLE_LOADED: Family = family(
    "dnsobs_asn_table_loaded",
    "1 when an IP-to-ASN table is configured (aggregate.asn_table), else 0 and no ASN families.",
    Kind::Gauge,
    false,
    &[],
);

/// `dnsobs_unique_source_asns`.
pub const UNIQUE_SOURCE_ASNS: Family = family(
    "dnsobs_unique_source_asns",
    "Distinct ASNs of query sources (exact up to the configured cap).",
    Kind::Gauge,
    false,
    &[],
);

/// `dnsobs_top_asn_queries`.
pub const TOP_ASN_QUERIES: Family = family(
    "dnsobs_top_asn_queries",
    "Queries from the top-k source ASNs (Space-Saving estimate).",
    Kind::Gauge,
    false,
    &["asn"],
);

/// `dnsobs_asn_queries`.
pub const ASN_QUERIES: Family = family(
    "dnsobs_asn_queries",
    "Queries whose source address matched a prefix of the ASN table, or none.",
    Kind::Counter,
    false,
    &["match"],
);

/// `dnsobs_geo_queries`.
pub const GEO_QUERIES: Family = family(
    "dnsobs_geo_queries",
    "Queries by the country of their source (MaxMind DB; ZZ: unknown).",
    Kind::Counter,
    false,
    &["country"],
);

/// `dnsobs_geo_queries_do`.
pub const GEO_QUERIES_DO: Family = family(
    "dnsobs_geo_queries_do",
    "Queries with the DO bit by the country of their source.",
    Kind::Counter,
    false,
    &["country"],
);

/// `dnsobs_geo_queries_edns`.
pub const GEO_QUERIES_EDNS: Family = family(
    "dnsobs_geo_queries_edns",
    "Queries with an OPT record by the country of their source.",
    Kind::Counter,
    false,
    &["country"],
);

/// `dnsobs_geo_queries_tcp`.
pub const GEO_QUERIES_TCP: Family = family(
    "dnsobs_geo_queries_tcp",
    "Queries over TCP by the country of their source.",
    Kind::Counter,
    false,
    &["country"],
);

/// `dnsobs_geo_queries_ipv6`.
pub const GEO_QUERIES_IPV6: Family = family(
    "dnsobs_geo_queries_ipv6",
    "Queries over IPv6 by the country of their source.",
    Kind::Counter,
    false,
    &["country"],
);

/// `dnsobs_geo_nxdomain_responses`.
pub const GEO_NXDOMAIN: Family = family(
    "dnsobs_geo_nxdomain_responses",
    "NXDOMAIN responses by the country of their destination.",
    Kind::Counter,
    false,
    &["country"],
);

/// `dnsobs_geo_sources`.
pub const GEO_SOURCES: Family = family(
    "dnsobs_geo_sources",
    "Distinct query sources by country (each worker's since start).",
    Kind::Gauge,
    false,
    &["country"],
);

/// `dnsobs_geo_region_queries`.
pub const GEO_REGION_QUERIES: Family = family(
    "dnsobs_geo_region_queries",
    "Queries by configured region of their source.",
    Kind::Counter,
    false,
    &["region"],
);

/// `dnsobs_geo_region_queries_do`.
pub const GEO_REGION_QUERIES_DO: Family = family(
    "dnsobs_geo_region_queries_do",
    "Queries with the DO bit by configured region of their source.",
    Kind::Counter,
    false,
    &["region"],
);

/// `dnsobs_geo_region_queries_ipv6`.
pub const GEO_REGION_QUERIES_IPV6: Family = family(
    "dnsobs_geo_region_queries_ipv6",
    "Queries over IPv6 by configured region of their source.",
    Kind::Counter,
    false,
    &["region"],
);

/// `dnsobs_geo_top_asn_queries`.
pub const GEO_TOP_ASN_QUERIES: Family = family(
    "dnsobs_geo_top_asn_queries",
    "Queries from the top-k source ASes (MaxMind ASN database).",
    Kind::Gauge,
    false,
    &["asn"],
);

/// `dnsobs_malformed_packets`.
pub const MALFORMED_PACKETS: Family = family(
    "dnsobs_malformed_packets",
    "Malformed frames, datagrams or DNS messages by reason (first problem found).",
    Kind::Counter,
    false,
    &["reason"],
);

/// `dnsobs_decode_events`.
pub const DECODE_EVENTS: Family = family(
    "dnsobs_decode_events",
    "Decoder events: non-IP frames, IP fragments and reassembly, TCP stream handling.",
    Kind::Counter,
    false,
    &["event"],
);

/// `dnsobs_build_info`.
pub const BUILD_INFO: Family = family(
    "dnsobs_build_info",
    "dnsobs build information; the value is always 1.",
    Kind::Gauge,
    false,
    &["version"],
);

/// `dnsobs_capture_packets`.
pub const CAPTURE_PACKETS: Family = family(
    "dnsobs_capture_packets",
    "Packets delivered by libpcap to each capture worker.",
    Kind::Counter,
    false,
    &["interface", "worker"],
);

/// `dnsobs_capture_dropped_packets`.
pub const CAPTURE_DROPPED_PACKETS: Family = family(
    "dnsobs_capture_dropped_packets",
    "Packets lost before dnsobs saw them: kernel ring full (pcap ps_drop) or interface/driver (ps_ifdrop). dnsobs has no internal queue on the capture path, so there are no other drops.",
    Kind::Counter,
    false,
    &["interface", "worker", "where"],
);

/// `dnsobs_capture_errors`.
pub const CAPTURE_ERRORS: Family = family(
    "dnsobs_capture_errors",
    "Capture failures (interface down or gone, failed reopen attempts).",
    Kind::Counter,
    false,
    &["interface", "worker"],
);

/// `dnsobs_capture_up`.
pub const CAPTURE_UP: Family = family(
    "dnsobs_capture_up",
    "1 while the worker's capture handle is open.",
    Kind::Gauge,
    false,
    &["interface", "worker"],
);

/// `dnsobs_rssac002_files_written`.
pub const RSSAC002_FILES_WRITTEN: Family = family(
    "dnsobs_rssac002_files_written",
    "RSSAC002 YAML documents written.",
    Kind::Counter,
    false,
    &[],
);

/// `dnsobs_rssac002_write_errors`.
pub const RSSAC002_WRITE_ERRORS: Family = family(
    "dnsobs_rssac002_write_errors",
    "Failed attempts to write RSSAC002 documents (directory missing, full or read-only).",
    Kind::Counter,
    false,
    &[],
);

/// `dnsobs_state_files_written`.
pub const STATE_FILES_WRITTEN: Family = family(
    "dnsobs_state_files_written",
    "Day state files written (each refresh of the current day counts).",
    Kind::Counter,
    false,
    &[],
);

/// `dnsobs_state_write_errors`.
pub const STATE_WRITE_ERRORS: Family = family(
    "dnsobs_state_write_errors",
    "Failed attempts to write day state files (directory missing, full or read-only).",
    Kind::Counter,
    false,
    &[],
);

/// `dnsobs_parquet_files_written`.
pub const PARQUET_FILES_WRITTEN: Family = family(
    "dnsobs_parquet_files_written",
    "Parquet files completed by [export.parquet], by table.",
    Kind::Counter,
    false,
    &["table"],
);

/// `dnsobs_parquet_write_errors`.
pub const PARQUET_WRITE_ERRORS: Family = family(
    "dnsobs_parquet_write_errors",
    "Failed Parquet writes by table (directory missing, full or read-only); interval rows are retried.",
    Kind::Counter,
    false,
    &["table"],
);

/// `dnsobs_parquet_query_rows_written`.
pub const PARQUET_QUERY_ROWS_WRITTEN: Family = family(
    "dnsobs_parquet_query_rows_written",
    "Per-query rows written to Parquet files.",
    Kind::Counter,
    false,
    &[],
);

/// `dnsobs_parquet_query_rows_dropped`.
pub const PARQUET_QUERY_ROWS_DROPPED: Family = family(
    "dnsobs_parquet_query_rows_dropped",
    "Per-query rows not exported because the writer thread was behind (capture never waits for it).",
    Kind::Counter,
    false,
    &[],
);

/// `dnsobs_dnstap_connections`.
pub const DNSTAP_CONNECTIONS: Family = family(
    "dnsobs_dnstap_connections",
    "dnstap writer connections accepted on the socket.",
    Kind::Counter,
    false,
    &[],
);

/// `dnsobs_dnstap_connections_rejected`.
pub const DNSTAP_CONNECTIONS_REJECTED: Family = family(
    "dnsobs_dnstap_connections_rejected",
    "dnstap connections refused because capture.dnstap_max_connections were open.",
    Kind::Counter,
    false,
    &[],
);

/// `dnsobs_dnstap_connections_open`.
pub const DNSTAP_CONNECTIONS_OPEN: Family = family(
    "dnsobs_dnstap_connections_open",
    "dnstap writer connections open now.",
    Kind::Gauge,
    false,
    &[],
);

/// `dnsobs_dnstap_frames`.
pub const DNSTAP_FRAMES: Family = family(
    "dnsobs_dnstap_frames",
    "Frame Streams frames received on the dnstap socket, by kind.",
    Kind::Counter,
    false,
    &["kind"],
);

/// `dnsobs_dnstap_received`.
pub const DNSTAP_RECEIVED: Family = family(
    "dnsobs_dnstap_received",
    "Bytes received on the dnstap socket.",
    Kind::Counter,
    true,
    &[],
);

/// `dnsobs_dnstap_messages`.
pub const DNSTAP_MESSAGES: Family = family(
    "dnsobs_dnstap_messages",
    "dnstap messages decoded and counted, by dnstap message type.",
    Kind::Counter,
    false,
    &["type"],
);

/// `dnsobs_dnstap_errors`.
pub const DNSTAP_ERRORS: Family = family(
    "dnsobs_dnstap_errors",
    "dnstap input problems by reason: frame_oversize, protobuf_invalid, not_message, message_type_unknown, no_dns_message and address_invalid skip one frame; the others close the connection.",
    Kind::Counter,
    false,
    &["reason"],
);

/// `dnsobs_config_last_reload_successful`.
pub const CONFIG_LAST_RELOAD_SUCCESSFUL: Family = family(
    "dnsobs_config_last_reload_successful",
    "1 if the last configuration (re)load succeeded.",
    Kind::Gauge,
    false,
    &[],
);

/// `dnsobs_config_last_reload_success_timestamp_seconds`.
pub const CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS: Family = family(
    "dnsobs_config_last_reload_success_timestamp_seconds",
    "Time of the last successful configuration (re)load.",
    Kind::Gauge,
    false,
    &[],
);

/// `dnsobs_geo_database_reloads`.
pub const GEO_DATABASE_RELOADS: Family = family(
    "dnsobs_geo_database_reloads",
    "MaxMind DB reloads (SIGHUP, or a file replaced on disk), by result: ok, or error (the databases in force kept).",
    Kind::Counter,
    false,
    &["result"],
);

/// `dnsobs_geo_database_build_timestamp_seconds`.
pub const GEO_DATABASE_BUILD_TIMESTAMP_SECONDS: Family = family(
    "dnsobs_geo_database_build_timestamp_seconds",
    "When the MaxMind DB in force was built (its metadata), by database: country or asn.",
    Kind::Gauge,
    false,
    &["database"],
);

/// `dnsobs_http_auth_failures`.
pub const HTTP_AUTH_FAILURES: Family = family(
    "dnsobs_http_auth_failures",
    "Requests to the metrics endpoint refused by basic authentication, by reason: missing, malformed and wrong credentials get 401; busy (every password check slot taken) gets 503.",
    Kind::Counter,
    false,
    &["reason"],
);

/// `dnsobs_http_tls_handshake_failures`.
pub const HTTP_TLS_HANDSHAKE_FAILURES: Family = family(
    "dnsobs_http_tls_handshake_failures",
    "TLS connections to the metrics endpoint closed before their handshake completed, by reason: timeout, not_tls (plain HTTP), error.",
    Kind::Counter,
    false,
    &["reason"],
);

/// `process_cpu_seconds`.
pub const PROCESS_CPU_SECONDS: Family = family(
    "process_cpu_seconds",
    "Total user and system CPU time spent in seconds.",
    Kind::Counter,
    false,
    &[],
);

/// `process_resident_memory_bytes`.
pub const PROCESS_RESIDENT_MEMORY_BYTES: Family = family(
    "process_resident_memory_bytes",
    "Resident memory size in bytes.",
    Kind::Gauge,
    false,
    &[],
);

/// `process_virtual_memory_bytes`.
pub const PROCESS_VIRTUAL_MEMORY_BYTES: Family = family(
    "process_virtual_memory_bytes",
    "Virtual memory size in bytes.",
    Kind::Gauge,
    false,
    &[],
);

/// `process_open_fds`.
pub const PROCESS_OPEN_FDS: Family = family(
    "process_open_fds",
    "Number of open file descriptors.",
    Kind::Gauge,
    false,
    &[],
);

/// `process_max_fds`.
pub const PROCESS_MAX_FDS: Family = family(
    "process_max_fds",
    "Maximum number of open file descriptors.",
    Kind::Gauge,
    false,
    &[],
);

/// `process_start_time_seconds`.
pub const PROCESS_START_TIME_SECONDS: Family = family(
    "process_start_time_seconds",
    "Start time of the process since unix epoch in seconds.",
    Kind::Gauge,
    false,
    &[],
);

/// Every family, in the order `/metrics` writes them.
pub const ALL: &[&Family] = &[
    &FRAMES,
    &QUERIES,
    &RESPONSES,
    &QUERIES_EDNS,
    &QUERIES_DO,
    &QUERY_FLAGS,
    &RESPONSE_FLAGS,
    &QUERY_QTYPES,
    &QUERY_QCLASSES,
    &QUERY_OPCODES,
    &RESPONSE_RCODES,
    &MESSAGE_SIZE,
    &QUERY_EDNS_OPTIONS,
    &QUERY_EDNS_VERSIONS,
    &QUERY_EDNS_UDP_PAYLOAD_SIZE,
    &UNIQUE_QUERY_SOURCES,
    &UNIQUE_QUERY_SOURCES_OVERFLOW,
    &QUERY_CLASSES,
    &NXDOMAIN_RESPONSES,
    &QUERIES_IDN,
    &QUERIES_MIXED_CASE,
    &RESPONSE_EDE,
    &QUERY_NAME_LENGTH,
    &QUERY_NAME_LABELS,
    &RESPONSE_EDNS_UDP_PAYLOAD_SIZE,
    &RSSAC002_REQUEST_SIZE,
    &RSSAC002_RESPONSE_SIZE,
    &RSSAC002_LATE_MESSAGES,
    &RSSAC002_PENDING_PERIODS,
    &RSSAC002_DAY_EVICTIONS,
    &RSSAC002_UNIQUE_SOURCES_OVERFLOW,
    &TOP_QNAME_QUERIES,
    &TOP_TLD_QUERIES,
    &TOP_SLD_QUERIES,
    &TOP_SOURCE_PREFIX_QUERIES,
    &TOP_MAX_ERROR,
    &TOP_EVICTIONS,
    &UNIQUE_SOURCES_ESTIMATE,
    &UNIQUE_SOURCES_IPV6_64_ESTIMATE,
    &UNIQUE_DO_SOURCES_ESTIMATE,
    &RESPONSE_LATENCY_SECONDS,
    &LATENCY_RESPONSES_UNMATCHED,
    &LATENCY_QUERIES_TIMED_OUT,
    &LATENCY_QUERIES_EVICTED,
    &LATENCY_QUERIES_DUPLICATE,
    &ITHI,
    &ITHI_REPEAT_CACHE_EVICTIONS,
    &RESOLVER_HYGIENE_SOURCES,
    &RESOLVER_HYGIENE_ELIGIBLE_SOURCES,
    &RESOLVER_HYGIENE_EVICTIONS,
    &ASN_TABLE_LOADED,
    &UNIQUE_SOURCE_ASNS,
    &TOP_ASN_QUERIES,
    &ASN_QUERIES,
    &GEO_QUERIES,
    &GEO_QUERIES_DO,
    &GEO_QUERIES_EDNS,
    &GEO_QUERIES_TCP,
    &GEO_QUERIES_IPV6,
    &GEO_NXDOMAIN,
    &GEO_SOURCES,
    &GEO_REGION_QUERIES,
    &GEO_REGION_QUERIES_DO,
    &GEO_REGION_QUERIES_IPV6,
    &GEO_TOP_ASN_QUERIES,
    &MALFORMED_PACKETS,
    &DECODE_EVENTS,
    &BUILD_INFO,
    &CAPTURE_PACKETS,
    &CAPTURE_DROPPED_PACKETS,
    &CAPTURE_ERRORS,
    &CAPTURE_UP,
    &RSSAC002_FILES_WRITTEN,
    &RSSAC002_WRITE_ERRORS,
    &STATE_FILES_WRITTEN,
    &STATE_WRITE_ERRORS,
    &PARQUET_FILES_WRITTEN,
    &PARQUET_WRITE_ERRORS,
    &PARQUET_QUERY_ROWS_WRITTEN,
    &PARQUET_QUERY_ROWS_DROPPED,
    &DNSTAP_CONNECTIONS,
    &DNSTAP_CONNECTIONS_REJECTED,
    &DNSTAP_CONNECTIONS_OPEN,
    &DNSTAP_FRAMES,
    &DNSTAP_RECEIVED,
    &DNSTAP_MESSAGES,
    &DNSTAP_ERRORS,
    &CONFIG_LAST_RELOAD_SUCCESSFUL,
    &CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS,
    &GEO_DATABASE_RELOADS,
    &GEO_DATABASE_BUILD_TIMESTAMP_SECONDS,
    &HTTP_AUTH_FAILURES,
    &HTTP_TLS_HANDSHAKE_FAILURES,
    &PROCESS_CPU_SECONDS,
    &PROCESS_RESIDENT_MEMORY_BYTES,
    &PROCESS_VIRTUAL_MEMORY_BYTES,
    &PROCESS_OPEN_FDS,
    &PROCESS_MAX_FDS,
    &PROCESS_START_TIME_SECONDS,
];

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn names_are_unique_and_prefixed() {
        let mut names: Vec<String> = ALL.iter().map(|f| f.exposed()).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "a family appears twice");
        for f in ALL {
            assert!(f.name.starts_with("dnsobs_") || f.name.starts_with("process_"));
            assert!(!f.help.is_empty(), "{} has no help", f.name);
        }
    }

    #[test]
    fn exposed_names_carry_unit_and_total() {
        assert_eq!(QUERIES.exposed(), "dnsobs_queries_total");
        assert_eq!(MESSAGE_SIZE.exposed(), "dnsobs_message_size_bytes_total");
        assert_eq!(
            QUERY_NAME_LENGTH.exposed(),
            "dnsobs_query_name_length_bytes"
        );
        assert_eq!(CAPTURE_UP.exposed(), "dnsobs_capture_up");
    }
}
