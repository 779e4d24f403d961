//! Query and response mixes (qtypes, rcodes, opcodes, classes), EDNS, and malformed input with
//! the decoder's events.

use super::page::{Page, int};
use super::svg::{BLUE, GREEN, ORANGE, PURPLE, RED, hbar, mix_items, ordered_items, size_label};
use crate::export::report::{Counts, Report};

/// Qtypes, rcodes, opcodes and classes.
pub fn section(p: &mut Page, r: &Report) {
    let (q, resp) = (r.queries, r.responses);
    p.h2("mix", "Query and response mixes");
    p.open_grid();
    for (title, counts, total, color, none) in [
        ("Query types", &r.queries_by_qtype, q, BLUE, "No queries."),
        (
            "Response codes",
            &r.responses_by_rcode,
            resp,
            ORANGE,
            "No responses.",
        ),
        ("Opcodes", &r.queries_by_opcode, q, GREEN, "No queries."),
        (
            "Query classes",
            &r.queries_by_qclass,
            q,
            PURPLE,
            "No queries.",
        ),
    ] {
        p.panel(title, hbar(&mix_items(counts, total), None, color), none);
    }
    p.close();
}

/// Advertised payload sizes, options and versions.
pub fn edns(p: &mut Page, r: &Report) {
    p.h2("edns", "EDNS");
    let edns = r.queries_edns;
    p.open_grid();
    let sizes = &r.query_edns_udp_payload_size;
    p.panel(
        "UDP payload size advertised by queries",
        hbar(&ordered_items(sizes, edns, size_label(sizes)), None, BLUE),
        "No query with EDNS.",
    );
    let rsizes = &r.indicators.response_edns_udp_payload_size;
    p.panel(
        "UDP payload size advertised by responses",
        hbar(
            &ordered_items(rsizes, rsizes.total(), size_label(rsizes)),
            None,
            ORANGE,
        ),
        "No response with EDNS.",
    );
    p.panel(
        "Options in queries",
        hbar(&mix_items(&r.query_edns_options, edns), None, GREEN),
        "No query carries an EDNS option.",
    );
    let v = &r.query_edns_versions;
    let versions = Counts(vec![
        ("0".into(), v.v0),
        ("1".into(), v.v1),
        ("other".into(), v.other),
    ]);
    p.panel(
        "EDNS versions",
        hbar(&mix_items(&versions, edns), None, PURPLE),
        "No query with EDNS.",
    );
    p.close();
}

/// Malformed input by reason and the decoder's events.
pub fn malformed(p: &mut Page, r: &Report) {
    p.h2("malformed", "Malformed input and decoding");
    p.open_grid();
    p.panel(
        "Malformed by reason",
        hbar(&mix_items(&r.malformed_by_reason, r.malformed), None, RED),
        "No malformed input.",
    );
    let events: Vec<(&str, String)> = r
        .decode_events
        .0
        .iter()
        .map(|(k, n)| (k.as_str(), int(*n)))
        .collect();
    p.kv_panel("Decoding events", &events);
    p.close();
}
