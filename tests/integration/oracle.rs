//! Each fixture's report equals its oracle on every key, with 1 and with 2 workers.

use crate::util::{mismatches, oracle, report};

fn check(name: &str) {
    let want = oracle(name);
    let keys = want.as_object().map_or(0, |m| m.len());
    assert!(keys >= 20, "{name}: oracle has only {keys} keys");
    for threads in [1, 2] {
        let got = report(name, threads);
        let bad = mismatches(&want, &got);
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
