//! "Where the queries come from": queries by country, and the DNSSEC-OK, IPv6 and TCP shares
//! (penetration) by country and by region, drawn from the report's `geo` section.

use super::page::Page;
use super::svg::{BLUE, GREEN, Item, MAX_ROWS, ORANGE, PURPLE, hbar};
use crate::aggregate::geo::Counts;
use crate::export::report::Report;

/// Bars of `(name, counts)` by `value` (a count or a share in 0..=1), the largest first.
fn bars(rows: &[(String, Counts)], value: fn(&Counts) -> f64, share: bool) -> Vec<Item> {
    let mut v: Vec<(&String, &Counts, f64)> = rows.iter().map(|(k, c)| (k, c, value(c))).collect();
    v.sort_by(|a, b| b.1.queries.cmp(&a.1.queries).then_with(|| a.0.cmp(b.0)));
    v.truncate(MAX_ROWS);
    v.into_iter()
        .map(|(k, c, x)| {
            let text = if share {
                format!("{:.1} % of {}", 100.0 * x, c.queries)
            } else {
                format!("{}", c.queries)
            };
            Item::new(k.clone(), x, text)
        })
        .collect()
}

fn share(n: u64, d: u64) -> f64 {
    if d == 0 { 0.0 } else { n as f64 / d as f64 }
}

/// The section, when the report has a geography.
pub fn section(p: &mut Page, r: &Report) {
    let Some(g) = &r.geo else { return };
    p.h2("geo", "Where the queries come from");
    p.open_grid();
    let countries: Vec<(String, Counts)> =
        g.countries.iter().map(|(k, c)| (k.clone(), *c)).collect();
    let regions: Vec<(String, Counts)> = g.regions.iter().map(|(k, c)| (k.clone(), *c)).collect();
    let none = "No query.";
    p.panel(
        "Queries by country of the source",
        hbar(&bars(&countries, |c| c.queries as f64, false), None, BLUE),
        none,
    );
    for (title, rows) in [("country", &countries), ("region", &regions)] {
        p.panel(
            &format!("DNSSEC OK (DO) share by {title}"),
            hbar(
                &bars(rows, |c| share(c.queries_do, c.queries), true),
                Some(1.0),
                GREEN,
            ),
            none,
        );
        p.panel(
            &format!("IPv6 share by {title}"),
            hbar(
                &bars(rows, |c| share(c.queries_ipv6, c.queries), true),
                Some(1.0),
                PURPLE,
            ),
            none,
        );
        p.panel(
            &format!("TCP share by {title}"),
            hbar(
                &bars(rows, |c| share(c.queries_tcp, c.queries), true),
                Some(1.0),
                ORANGE,
            ),
            none,
        );
    }
    p.close();
}
