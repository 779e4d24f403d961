//! Each fixture's report equals its oracle on every key, with 1 and with 2 workers.

use crate::util::{mismatches, oracle, report};

fn check(name: &str) {
    check_against(name, &oracle(name));
}

/// `name`'s report equals `want` on every key (1 and 2 workers).
fn check_against(name: &str, want: &serde_json::Value) {
    let keys = want.as_object().map_or(0, |m| m.len());
    assert!(keys >= 20, "{name}: oracle has only {keys} keys");
    for threads in [1, 2] {
        let got = report(name, threads);
        let bad = mismatches(want, &got);
        assert!(
            bad.is_empty(),
            "{name} with {threads} thread(s):\n  {}",
            bad.join("\n  ")
        );
    }
}

macro_rules! fixtures {
    ($($test:ident => $file:literal,)*) => {
        $(#[test] fn $test() { check($file); })*
    };
}

fixtures! {
    empty => "empty.pcap",
    fragments => "fragments.pcap",
    lt_bsd_null => "lt-bsd-null.pcap",
    lt_bigendian => "lt-bigendian.pcap",
    lt_ethernet => "lt-ethernet.pcap",
    lt_linux_sll => "lt-linux-sll.pcap",
    lt_linux_sll2 => "lt-linux-sll2.pcap",
    lt_multi_if => "lt-multi-if.pcapng",
    lt_nsec => "lt-nsec.pcap",
    lt_nsec_be_gz => "lt-nsec-be.pcap.gz",
    lt_pcapng => "lt-pcapng.pcapng",
    lt_qinq => "lt-qinq.pcap",
    lt_raw_ip => "lt-raw-ip.pcap",
    lt_sections => "lt-sections.pcapng",
    lt_vlan => "lt-vlan.pcap",
    malformed => "malformed.pcap",
    root_mix_v4v6 => "root-mix-v4v6.pcap",
    tcp_pipelined => "tcp-pipelined.pcap",
    truncated => "truncated.pcap",
    indicators => "indicators.pcap",
    // Crafted by scripts/make_ithi_fixture.py; tshark flags its short COOKIE options as
    // malformed (12 frames), dnsobs checks option lists as TLVs only: `malformed` is not compared.
    ithi => "ithi.pcap",
    // Encapsulations (scripts/make_tunnel_fixtures.py): lt-ethernet's traffic and a slice of
    // fragments.pcap in each; the inner addresses and IP version count, as tshark reports them.
    tun_gre => "tun-gre.pcap",
    tun_erspan2 => "tun-erspan2.pcap",
    tun_erspan3 => "tun-erspan3.pcap",
    tun_vxlan => "tun-vxlan.pcap",
    tun_geneve => "tun-geneve.pcap",
    tun_6in4 => "tun-6in4.pcap",
    tun_ipip => "tun-ipip.pcap",
    tun_pppoe => "tun-pppoe.pcap",
    tun_pppoe_qinq => "tun-pppoe-qinq.pcap",
    tun_ppp => "tun-ppp.pcap",
    tun_ppp_hdlc => "tun-ppp-hdlc.pcap",
}

/// tun-malformed.pcap (one encapsulation case per frame; tunnels.rs checks them frame by frame):
/// tshark follows tunnels to any depth, dnsobs follows four and counts frame 11's query, inside
/// five, as `tunnel_too_deep`. Every key equals the oracle's less that one query: IPv6 over UDP
/// from 2001:db8::14 (the fixture's only IPv6 source), DS IN, RD, no EDNS, 33 bytes.
#[test]
fn tun_malformed() {
    let mut want = oracle("tun-malformed.pcap");
    assert_eq!(want["queries"], 3);
    assert_eq!(want["queries_by_ip_version"]["6"], 1);
    for path in [
        "dns_messages",
        "queries",
        "queries_by_transport/udp",
        "queries_by_ip_version/6",
        "queries_rd",
        "queries_by_qtype/DS",
        "queries_by_opcode/QUERY",
        "queries_by_qclass/IN",
        "unique_query_sources/6",
    ] {
        let v = want.pointer_mut(&format!("/{path}")).expect(path);
        *v = (v.as_u64().expect("a count") - 1).into();
    }
    let size = want["query_size_bytes_sum"].as_u64().expect("a count");
    want["query_size_bytes_sum"] = (size - 33).into();
    check_against("tun-malformed.pcap", &want);
}

/// Every fixture in pcaps/ is covered above: a new one cannot be forgotten.
#[test]
fn every_fixture_has_a_test() {
    let src = include_str!("oracle.rs");
    for e in std::fs::read_dir(crate::util::pcaps()).expect("pcaps/") {
        let name = e.expect("entry").file_name().to_string_lossy().into_owned();
        if name.ends_with(".pcap") || name.ends_with(".pcapng") {
            assert!(
                src.contains(&format!("\"{name}\"")),
                "{name} has no oracle test"
            );
        }
    }
}
