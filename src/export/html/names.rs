//! Query names: junk and abuse indicators (classes, NXDOMAIN by class, lengths, labels, EDE).

use std::fmt::Write;

use super::page::{Page, int, pct};
use super::svg::{BLUE, GREEN, ORANGE, PURPLE, RED, distribution, hbar, mix_items};
use crate::export::report::Report;

/// The indicators section.
pub fn section(p: &mut Page, r: &Report) {
    let ind = &r.indicators;
    p.h2("names", "Query names: junk and abuse indicators");
    let named = ind.queries_with_valid_name;
    let _ = write!(
        p.body,
        r#"<p class="sub">{} queries with a valid name; junk (neither ordinary nor reverse) {:.2} %; IDN (xn--) {} ({}); 0x20 mixed case {} ({}).</p>"#,
        int(named),
        ind.shares.junk * 100.0,
        int(ind.queries_idn),
        pct(ind.queries_idn, named),
        int(ind.queries_mixed_case),
        pct(ind.queries_mixed_case, named),
    );
    p.open_grid();
    p.panel(
        "Query name classes",
        hbar(&mix_items(&ind.query_classes, named), None, BLUE),
        "No query with a valid name.",
    );
    let nx = &ind.nxdomain_responses_by_class;
    p.panel(
        "NXDOMAIN responses by class",
        hbar(&mix_items(nx, nx.total()), None, ORANGE),
        "No NXDOMAIN response.",
    );
    p.panel(
        "Query name lengths",
        distribution(&ind.query_name_lengths, "name length (octets)", GREEN),
        "No query with a valid name.",
    );
    p.panel(
        "Labels per query name",
        distribution(&ind.query_label_counts, "labels", PURPLE),
        "No query with a valid name.",
    );
    p.panel(
        "Extended DNS errors in responses",
        hbar(&mix_items(&ind.response_ede_codes, r.responses), None, RED),
        "No response carries an Extended DNS Error.",
    );
    p.close();
}
