//! Encapsulations (src/decode/tunnel.rs, ppp.rs): tun-malformed.pcap frame by frame, each
//! encapsulation turned off and on alone, the VXLAN / GENEVE ports, and the replay flags.
//!
//! The `tun-*.pcap` fixtures (scripts/make_tunnel_fixtures.py) wrap the same traffic, so their
//! oracles agree on every DNS figure; oracle.rs compares each with its report.

use std::process::Command;

use dnsobs::capture::file::Reader;
use dnsobs::decode::tunnel::{Encap, EncapSet};
use dnsobs::decode::{self, Event};
use dnsobs::pipeline::Worker;

use crate::malformed::verdicts;
use crate::util::{BIN, oracle, pcaps};

/// What each frame of tun-malformed.pcap is counted as (frames not listed: nothing malformed).
const EXPECTED: [(u64, &str); 11] = [
    (1, "tunnel_invalid"),   // GRE with the K flag, cut after 6 bytes
    (2, "tunnel_invalid"),   // GRE version 2
    (3, "tunnel_invalid"),   // ERSPAN II header cut after 4 bytes
    (4, "tunnel_invalid"),   // ERSPAN version 3 (tshark: "unknown version", nothing inside)
    (5, "tunnel_invalid"),   // ERSPAN III with the O bit, subheader cut
    (6, "tunnel_invalid"),   // VXLAN header of 5 bytes
    (7, "tunnel_invalid"),   // GENEVE options past the end
    (8, "tunnel_invalid"),   // PPPoE session header of 3 bytes
    (9, "ip_invalid"),       // protocol 41 carrying IPv4
    (10, "ip_invalid"),      // protocol 4 carrying 10 bytes of a header
    (11, "tunnel_too_deep"), // a query inside 5 tunnels
];

#[test]
fn tun_malformed_frame_by_frame() {
    let (got, w) = verdicts("tun-malformed.pcap");
    let want = EXPECTED.iter().map(|&(f, l)| (f, vec![l])).collect();
    assert_eq!(got, want, "frame → reason (left: dnsobs, right: expected)");
    assert_eq!(w.agg.frames, 17);
    // Frame 12 (a response inside 4 tunnels), 16 (GRE with a routing entry) and 17 (GRE
    // version 1) are DNS; 13 (MPLS in GRE) is nothing; 14 (ARP in ERSPAN) and 15 (LCP in PPPoE)
    // are frames without IP.
    assert_eq!((w.agg.total_queries(), w.agg.total_responses()), (2, 1));
    assert_eq!(w.agg.events[Event::NonIp.index()], 2);
    assert_eq!(w.agg.total_malformed(), 11);
}

/// A worker with these encapsulations, fed a whole fixture.
fn run(fixture: &str, settings: &decode::Settings) -> Worker {
    let mut r = Reader::open(&pcaps().join(fixture)).expect("fixture opens");
    let mut w = Worker::new(settings, &Default::default());
    while let Some(p) = r.next().expect("fixture reads") {
        w.process(&p);
    }
    w
}

fn with(decoded: EncapSet) -> decode::Settings {
    let mut s = decode::Settings::default();
    s.tunnels.decoded = decoded;
    s
}

/// Each fixture with its encapsulation not decoded counts nothing inside it (tun-6in4: its
/// native IPv4 traffic still counts), with no malformed input; with only that encapsulation
/// decoded it counts everything the oracle does.
#[test]
fn each_encapsulation_turns_off_and_on_alone() {
    for (fixture, e) in [
        ("tun-gre.pcap", Encap::Gre),
        ("tun-erspan2.pcap", Encap::Erspan),
        ("tun-erspan3.pcap", Encap::Erspan),
        ("tun-vxlan.pcap", Encap::Vxlan),
        ("tun-geneve.pcap", Encap::Geneve),
        ("tun-6in4.pcap", Encap::IpInIp),
        ("tun-ipip.pcap", Encap::IpInIp),
        ("tun-pppoe.pcap", Encap::Pppoe),
        ("tun-pppoe-qinq.pcap", Encap::Pppoe),
    ] {
        let o = oracle(fixture);
        let native = if fixture == "tun-6in4.pcap" {
            o["queries_by_ip_version"]["4"].as_u64()
        } else {
            Some(0)
        };
        let others = Encap::ALL
            .into_iter()
            .filter(|&x| x != e)
            .fold(EncapSet::NONE, EncapSet::with);
        let off = run(fixture, &with(others));
        assert_eq!(
            Some(off.agg.total_queries()),
            native,
            "{fixture} without {e:?}"
        );
        assert_eq!(off.agg.total_malformed(), 0, "{fixture} without {e:?}");
        let only = run(fixture, &with(EncapSet::NONE.with(e)));
        assert_eq!(
            Some(only.agg.total_queries()),
            o["queries"].as_u64(),
            "{fixture}"
        );
        assert_eq!(Some(only.agg.total_responses()), o["responses"].as_u64());
        if e == Encap::Pppoe {
            // Not decoded, PPPoE session frames are frames without IP, like its discovery.
            assert_eq!(off.agg.events[Event::NonIp.index()], 294);
            assert_eq!(only.agg.events[Event::NonIp.index()], 8);
        }
    }
    assert_eq!(oracle("tun-6in4.pcap")["queries_by_ip_version"]["4"], 66);
    assert_eq!(oracle("tun-gre.pcap")["queries"], 129);
}

/// VXLAN and GENEVE are recognised by their configured destination ports only: on another
/// port the datagrams are UDP not on a DNS port, ignored.
#[test]
fn udp_tunnels_follow_their_ports() {
    for (fixture, vxlan, geneve, queries) in [
        ("tun-vxlan.pcap", vec![4790], vec![6081], 0),
        ("tun-vxlan.pcap", vec![8472, 4789], vec![6081], 129),
        ("tun-geneve.pcap", vec![4789], vec![6082], 0),
        ("tun-geneve.pcap", vec![4789], vec![6082, 6081], 129),
    ] {
        let mut s = decode::Settings::default();
        s.tunnels.vxlan_ports = vxlan;
        s.tunnels.geneve_ports = geneve;
        let w = run(fixture, &s);
        assert_eq!(w.agg.total_queries(), queries, "{fixture} {:?}", s.tunnels);
        assert_eq!(w.agg.total_malformed(), 0);
    }
}

/// `dnsobs replay --encapsulations/--vxlan-ports/--geneve-ports`.
#[test]
fn replay_flags() {
    let run = |args: &[&str], fixture: &str| {
        let o = Command::new(BIN)
            .args(["replay", "-q", "-f", "json"])
            .args(args)
            .arg(pcaps().join(fixture))
            .output()
            .expect("dnsobs runs");
        let queries = serde_json::from_slice::<serde_json::Value>(&o.stdout)
            .ok()
            .and_then(|v| v["queries"].as_u64());
        (
            o.status.code(),
            queries,
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    assert_eq!(run(&[], "tun-erspan3.pcap").1, Some(129));
    let none = run(&["--encapsulations", "none"], "tun-erspan3.pcap");
    assert_eq!((none.0, none.1), (Some(0), Some(0)));
    assert_eq!(
        run(&["--encapsulations", "gre"], "tun-erspan3.pcap").1,
        Some(0)
    );
    let both = run(&["--encapsulations", "gre,erspan"], "tun-erspan3.pcap");
    assert_eq!(both.1, Some(129));
    assert_eq!(run(&["--vxlan-ports", "4790"], "tun-vxlan.pcap").1, Some(0));
    // An unknown name is a usage error (2); a port clash is refused (1) with its reason.
    let bad = run(&["--encapsulations", "mpls"], "tun-gre.pcap");
    assert_eq!(bad.0, Some(2), "{}", bad.2);
    assert!(bad.2.contains("possible values: gre, erspan"), "{}", bad.2);
    let clash = run(&["--geneve-ports", "53"], "tun-gre.pcap");
    assert_eq!(clash.0, Some(1));
    assert!(
        clash
            .2
            .contains("--geneve-ports: port 53 is also a DNS port"),
        "{}",
        clash.2
    );
}
