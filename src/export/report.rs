//! The replay report: JSON (a superset of the oracle schema) and a human table.

use std::borrow::Cow;
use std::fmt::Write;

use serde_json::{Map, Value, json};

use crate::aggregate::{UDP_SIZE_BUCKETS, ipv};
use crate::decode::dns::opt;
use crate::decode::iana;
use crate::decode::{Event, Malformed};
use crate::pipeline::Replay;

/// `{mnemonic: count}` of the non-zero entries of a code-indexed array, largest first.
fn by_code(values: &[u64], name: fn(u16) -> Cow<'static, str>) -> Map<String, Value> {
    let mut v: Vec<(u64, String)> = values
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(c, n)| (*n, name(c as u16).into_owned()))
        .collect();
    v.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    v.into_iter().map(|(n, k)| (k, json!(n))).collect()
}

fn ratio(n: u64, d: u64) -> f64 {
    if d == 0 { 0.0 } else { n as f64 / d as f64 }
}

/// The JSON report. Top-level keys include every key of the oracle schema with the same meaning;
/// `malformed` is dnsobs' strict count (see `malformed_by_reason`), and `dnsobs` holds the rest.
pub fn json(r: &Replay) -> Value {
    let a = &r.agg;
    let file = match r.files.as_slice() {
        [one] => one
            .path
            .file_name()
            .map_or_else(String::new, |f| f.to_string_lossy().into_owned()),
        many => many
            .iter()
            .map(|f| f.path.display().to_string())
            .collect::<Vec<_>>()
            .join(","),
    };
    let q = a.total_queries();
    let (s4, s6) = a.sources.counts();
    let tq = |t: usize| a.queries[t][0] + a.queries[t][1];
    let vq = |v: usize| a.queries[0][v] + a.queries[1][v];
    let malformed: Map<String, Value> = Malformed::ALL
        .iter()
        .filter(|m| a.malformed[m.index()] > 0)
        .map(|m| (m.label().to_owned(), json!(a.malformed[m.index()])))
        .collect();
    let events: Map<String, Value> = Event::ALL
        .iter()
        .map(|e| (e.label().to_owned(), json!(a.events[e.index()])))
        .collect();
    let options: Map<String, Value> = opt::LABELS
        .iter()
        .zip(a.query_options)
        .map(|((_, l), n)| ((*l).to_owned(), json!(n)))
        .collect();
    let mut sizes = Map::new();
    for (i, ub) in UDP_SIZE_BUCKETS.iter().enumerate() {
        sizes.insert(format!("le_{ub}"), json!(a.udp_sizes[i]));
    }
    sizes.insert("above".into(), json!(a.udp_sizes[UDP_SIZE_BUCKETS.len()]));
    let files: Vec<Value> = r
        .files
        .iter()
        .map(|f| {
            json!({
                "path": f.path.display().to_string(),
                "format": format!("{:?}", f.kind),
                "compression": f.compression,
                "link_types": f.link_types.iter().map(|l| l.name()).collect::<Vec<_>>(),
                "records": f.records,
                "warning": f.warning,
            })
        })
        .collect();
    let secs = r.elapsed.as_secs_f64();
    let mut v = json!({
        "file": file,
        "oracle": format!("dnsobs {}", env!("CARGO_PKG_VERSION")),
        "frames": a.frames,
        "dns_messages": a.dns_messages,
        "queries": q,
        "responses": a.total_responses(),
        "queries_by_transport": {"udp": tq(0), "tcp": tq(1)},
        "queries_by_ip_version": {"4": vq(0), "6": vq(1)},
        "queries_edns": a.queries_edns.iter().sum::<u64>(),
        "queries_do": a.queries_do.iter().sum::<u64>(),
        "queries_rd": a.queries_rd,
        "queries_cd": a.queries_cd,
        "queries_by_qtype": by_code(&a.qtypes, iana::qtype_name),
        "queries_by_opcode": by_code(&a.opcodes, iana::opcode_name),
        "queries_by_qclass": by_code(&a.qclasses, iana::qclass_name),
        "responses_by_rcode": by_code(&a.rcodes, iana::rcode_name),
        "responses_tc": a.responses_tc,
        "responses_aa": a.responses_aa,
        "unique_query_sources": {"4": s4, "6": s6},
        "query_size_bytes_sum": a.query_bytes,
        "response_size_bytes_sum": a.response_bytes,
        "malformed": a.total_malformed(),
        "malformed_by_reason": malformed,
        "responses_by_transport": {"udp": a.responses[0][0] + a.responses[0][1], "tcp": a.responses[1][0] + a.responses[1][1]},
        "responses_by_ip_version": {"4": a.responses[0][0] + a.responses[1][0], "6": a.responses[0][1] + a.responses[1][1]},
        "shares": {
            "queries_do": ratio(a.queries_do.iter().sum(), q),
            "queries_edns": ratio(a.queries_edns.iter().sum(), q),
            "queries_ipv6": ratio(vq(ipv(6)), q),
            "queries_tcp": ratio(tq(1), q),
        },
        "query_edns_options": options,
        "query_edns_versions": {"0": a.edns_versions[0], "1": a.edns_versions[1], "other": a.edns_versions[2..].iter().sum::<u64>()},
        "query_edns_udp_payload_size": sizes,
        "unique_query_sources_exact": a.sources.is_exact(),
        "decode_events": events,
        "indicators": indicators(a),
        "dnsobs": {
            "version": env!("CARGO_PKG_VERSION"),
            "files": files,
            "threads": r.threads,
            "first_packet_ns": if a.frames > 0 { Some(a.first_ns) } else { None },
            "last_packet_ns": if a.frames > 0 { Some(a.last_ns) } else { None },
            "bytes_read": a.bytes,
            "elapsed_seconds": secs,
            "packets_per_second": if secs > 0.0 { a.frames as f64 / secs } else { 0.0 },
        },
    });
    // Added after the literal: one json! literal this large hits the macro recursion limit.
    v["unique_query_sources_overflow"] =
        json!({"4": a.sources.overflow[0], "6": a.sources.overflow[1]});
    v["rssac002"] = crate::export::rssac002::json(&a.rssac002);
    v["top_k"] = top_k(a);
    v["unique_sources_estimate"] = estimates(a);
    v["latency"] = latency(a);
    v["ithi"] = crate::export::ithi::ithi_json(&a.ithi);
    v["resolver_hygiene"] = crate::export::ithi::hygiene_json(&a.hygiene);
    v["asn"] = crate::export::ithi::asn_json(a.asn.as_ref(), a.topk.k);
    v["time_series"] = time_series(&a.series);
    v
}

/// Per-interval counters by transport and IP version (capture time, UTC).
pub fn time_series(s: &crate::aggregate::series::Series) -> Value {
    let rows: Vec<Value> = s
        .rows()
        .iter()
        .map(|r| {
            let c = &r.counts;
            json!({
                "interval_start": r.start_ns / 1_000_000_000,
                "interval_start_iso": crate::export::parquet::iso8601(r.start_ns),
                "transport": crate::aggregate::transport_label(r.transport),
                "ip_version": r.ip_version,
                "queries": c.queries,
                "responses": c.responses,
                "queries_edns": c.queries_edns,
                "queries_do": c.queries_do,
                "responses_nxdomain": c.responses_nxdomain,
                "responses_tc": c.responses_tc,
                "query_bytes": c.query_bytes,
                "response_bytes": c.response_bytes,
            })
        })
        .collect();
    json!({
        "interval_seconds": s.interval_seconds(),
        "evicted_intervals": s.evicted_intervals,
        "late_messages": s.late_messages,
        "rows": rows,
    })
}

/// The heavy-hitter tables, with each count's possible overestimate.
fn top_k(a: &crate::aggregate::Aggregate) -> Value {
    use crate::aggregate::topk::{SpaceSaving, render_name, render_prefix};
    let t = &a.topk;
    let table = |s: &SpaceSaving, key: &str, render: fn(&[u8]) -> String| -> Value {
        s.top(t.k)
            .into_iter()
            .map(|(k, n, e)| json!({key: render(k), "count": n, "error": e}))
            .collect()
    };
    json!({
        "k": t.k,
        "qnames": table(&t.qnames, "name", render_name),
        "tlds": table(&t.tlds, "name", render_name),
        "second_level": table(&t.slds, "name", render_name),
        "source_prefixes": table(&t.sources, "prefix", render_prefix),
        "max_error": {
            "qnames": t.qnames.max_error(),
            "tlds": t.tlds.max_error(),
            "second_level": t.slds.max_error(),
            "source_prefixes": t.sources.max_error(),
        },
        "evictions": {
            "qnames": t.qnames.evictions(),
            "tlds": t.tlds.evictions(),
            "second_level": t.slds.evictions(),
            "source_prefixes": t.sources.evictions(),
        },
    })
}

/// HyperLogLog estimates of distinct sources.
fn estimates(a: &crate::aggregate::Aggregate) -> Value {
    let e = a.distinct.estimates();
    json!({
        "4": e.v4, "6": e.v6, "6_64": e.v6_64, "do_4": e.do_v4, "do_6": e.do_v6,
        "method": "HyperLogLog, 2^14 registers, standard error 0.81 %",
    })
}

/// Query/response latency where both directions were captured.
fn latency(a: &crate::aggregate::Aggregate) -> Value {
    use crate::decode::Transport;
    let l = &a.latency;
    let per = |tr: Transport| {
        let i = tr as usize;
        json!({
            "matched": l.matched[i],
            "sum_seconds": l.sum_seconds(tr),
            "p50_seconds": l.quantile_seconds(tr, 0.5),
            "p90_seconds": l.quantile_seconds(tr, 0.9),
            "p99_seconds": l.quantile_seconds(tr, 0.99),
            "unmatched_responses": l.unmatched[i],
            "timed_out": l.timed_out[i],
            "evicted": l.evicted[i],
            "duplicates": l.duplicates[i],
            "unanswered_at_end": l.closed[i],
            "unkeyed": l.unkeyed[i],
        })
    };
    json!({"udp": per(Transport::Udp), "tcp": per(Transport::Tcp)})
}

/// The junk / penetration section of the JSON report.
fn indicators(a: &crate::aggregate::Aggregate) -> Value {
    use crate::aggregate::classify::{Class, EDE_CODES};
    let ind = &a.ind;
    let classes: Map<String, Value> = Class::ALL
        .iter()
        .map(|c| (c.label().to_owned(), json!(ind.classes[*c as usize])))
        .collect();
    let nx: Map<String, Value> = Class::ALL
        .iter()
        .map(|c| {
            (
                c.label().to_owned(),
                json!(ind.nxdomain_classes[*c as usize]),
            )
        })
        .collect();
    let ede: Map<String, Value> = ind
        .ede
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(c, n)| {
            (
                if c == EDE_CODES {
                    "other".to_owned()
                } else {
                    c.to_string()
                },
                json!(n),
            )
        })
        .collect();
    let dist = |v: &[u64]| -> Map<String, Value> {
        v.iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| (k.to_string(), json!(n)))
            .collect()
    };
    let mut rsizes = Map::new();
    for (i, ub) in UDP_SIZE_BUCKETS.iter().enumerate() {
        rsizes.insert(format!("le_{ub}"), json!(a.response_udp_sizes[i]));
    }
    rsizes.insert(
        "above".into(),
        json!(a.response_udp_sizes[UDP_SIZE_BUCKETS.len()]),
    );
    let q = ind.named_queries;
    json!({
        "queries_with_valid_name": q,
        "query_classes": classes,
        "nxdomain_responses_by_class": nx,
        "queries_idn": ind.idn,
        "queries_mixed_case": ind.mixed_case,
        "shares": {
            "idn": ratio(ind.idn, q),
            "mixed_case": ratio(ind.mixed_case, q),
            "junk": ratio(q - ind.classes[Class::Other as usize] - ind.classes[Class::Reverse as usize], q),
        },
        "response_ede_codes": ede,
        "query_name_lengths": dist(&ind.name_lengths),
        "query_label_counts": dist(&ind.label_counts),
        "response_edns_udp_payload_size": rsizes,
    })
}

fn pct(n: u64, d: u64) -> String {
    format!("{:6.2} %", 100.0 * ratio(n, d))
}

fn mix(out: &mut String, title: &str, m: &Map<String, Value>, total: u64) {
    let _ = writeln!(out, "\n{title}");
    if m.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for (k, v) in m {
        let n = v.as_u64().unwrap_or(0);
        let _ = writeln!(out, "  {k:<22} {n:>12}  {}", pct(n, total));
    }
}

/// The human-readable report.
pub fn table(r: &Replay) -> String {
    let a = &r.agg;
    let j = json(r);
    let q = a.total_queries();
    let resp = a.total_responses();
    let mut o = String::new();
    let _ = writeln!(o, "dnsobs {} replay report", env!("CARGO_PKG_VERSION"));
    for f in &r.files {
        let links: Vec<_> = f.link_types.iter().map(|l| l.name()).collect();
        let _ = writeln!(
            o,
            "  file {} ({:?}, compression {}, link {}): {} frames",
            f.path.display(),
            f.kind,
            f.compression,
            links.join("/"),
            f.records
        );
        if let Some(w) = &f.warning {
            let _ = writeln!(o, "  WARNING: {w}");
        }
    }
    let secs = r.elapsed.as_secs_f64();
    let pps = if secs > 0.0 {
        a.frames as f64 / secs
    } else {
        0.0
    };
    let _ = writeln!(
        o,
        "  read {} frames in {:.3} s ({:.0} packets/s, {} threads)",
        a.frames, secs, pps, r.threads
    );
    if a.frames > 0 && a.last_ns >= a.first_ns {
        let _ = writeln!(
            o,
            "  capture spans {:.3} s",
            (a.last_ns - a.first_ns) as f64 / 1e9
        );
    }
    let _ = writeln!(o, "\nTotals");
    let _ = writeln!(o, "  DNS messages   {:>12}", a.dns_messages);
    let _ = writeln!(o, "  queries        {q:>12}");
    let _ = writeln!(o, "  responses      {resp:>12}");
    let _ = writeln!(o, "  malformed      {:>12}", a.total_malformed());
    let (s4, s6) = a.sources.counts();
    let exact = if a.sources.is_exact() {
        ""
    } else {
        " (lower bound: cap reached)"
    };
    let _ = writeln!(o, "  query sources  {:>12} IPv4, {} IPv6{exact}", s4, s6);
    let _ = writeln!(o, "\nShares of queries");
    let vq6 = a.queries[0][1] + a.queries[1][1];
    let tq1 = a.queries[1][0] + a.queries[1][1];
    let _ = writeln!(
        o,
        "  EDNS           {}",
        pct(a.queries_edns.iter().sum(), q)
    );
    let _ = writeln!(o, "  DNSSEC OK (DO) {}", pct(a.queries_do.iter().sum(), q));
    let _ = writeln!(o, "  IPv6           {}", pct(vq6, q));
    let _ = writeln!(o, "  TCP            {}", pct(tq1, q));
    let _ = writeln!(o, "  RD set         {}", pct(a.queries_rd, q));
    let _ = writeln!(
        o,
        "  TC responses   {} of responses",
        pct(a.responses_tc, resp)
    );
    let get = |k: &str| {
        j.get(k)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    mix(&mut o, "Query types", &get("queries_by_qtype"), q);
    mix(&mut o, "Query classes", &get("queries_by_qclass"), q);
    mix(&mut o, "Opcodes", &get("queries_by_opcode"), q);
    mix(&mut o, "Response codes", &get("responses_by_rcode"), resp);
    let ind = j.get("indicators").cloned().unwrap_or_default();
    let sub = |k: &str| {
        ind.get(k)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    mix(
        &mut o,
        "Query name classes (junk and abuse)",
        &sub("query_classes"),
        a.ind.named_queries,
    );
    mix(
        &mut o,
        "NXDOMAIN responses by class",
        &sub("nxdomain_responses_by_class"),
        a.total_responses(),
    );
    let _ = writeln!(
        o,
        "  IDN (xn--) queries     {:>12}  {}",
        a.ind.idn,
        pct(a.ind.idn, a.ind.named_queries)
    );
    let _ = writeln!(
        o,
        "  0x20 mixed-case        {:>12}  {}",
        a.ind.mixed_case,
        pct(a.ind.mixed_case, a.ind.named_queries)
    );
    mix(
        &mut o,
        "Malformed by reason",
        &get("malformed_by_reason"),
        a.total_malformed(),
    );
    o
}
