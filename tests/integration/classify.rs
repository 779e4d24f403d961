//! Junk, abuse and penetration indicators against a crafted capture whose figures were counted
//! by its generator (scripts/make_indicators_fixture.py), independently of dnsobs.

use serde_json::Value;

use crate::util::{norm, pcaps, report};

#[test]
fn indicators_equal_the_generator_figures() {
    let text =
        std::fs::read_to_string(pcaps().join("indicators.expected.json")).expect("expected file");
    let want: Value = serde_json::from_str(&text).expect("JSON");
    for threads in [1, 2] {
        let r = report("indicators.pcap", threads);
        let ind = &r["indicators"];
        for k in [
            "query_classes",
            "nxdomain_responses_by_class",
            "queries_idn",
            "queries_mixed_case",
            "response_ede_codes",
        ] {
            assert_eq!(
                norm(&ind[k]),
                norm(&want[k]),
                "{k} with {threads} thread(s)"
            );
        }
        assert_eq!(r["queries"], want["queries"]);
        assert_eq!(r["responses"], want["responses"]);
        // Every query with a name is in exactly one class.
        let sum: u64 = ind["query_classes"]
            .as_object()
            .expect("map")
            .values()
            .filter_map(Value::as_u64)
            .sum();
        assert_eq!(sum, ind["queries_with_valid_name"].as_u64().expect("count"));
    }
}

#[test]
fn name_length_and_label_distributions_match_the_names() {
    // Recompute from the fixture's own names: lengths and label counts of every query name.
    let r = report("indicators.pcap", 1);
    let lengths = r["indicators"]["query_name_lengths"]
        .as_object()
        .expect("map");
    let labels = r["indicators"]["query_label_counts"]
        .as_object()
        .expect("map");
    // 7 priming queries for "." have length 0 and no label.
    assert_eq!(lengths["0"], 7);
    assert_eq!(labels["0"], 7);
    // Two names are 22 bytes long: "www.xn--80ak6aa92e.com" and "1.2.0.192.in-addr.arpa".
    assert_eq!(lengths["22"], 2);
    // One name has 6 labels: "1.2.0.192.in-addr.arpa"; "b.a.9.8.ip6.arpa" has 6 too.
    assert_eq!(labels["6"], 2);
    let total: u64 = lengths.values().filter_map(Value::as_u64).sum();
    assert_eq!(total, r["queries"].as_u64().expect("queries"));
    let total: u64 = labels.values().filter_map(Value::as_u64).sum();
    assert_eq!(total, r["queries"].as_u64().expect("queries"));
}
