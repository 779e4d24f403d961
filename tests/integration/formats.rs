//! Capture containers: the fixtures derived from lt-ethernet.pcap by scripts/make_fixtures.py
//! (big-endian pcap, pcapng with two link types, pcapng with two sections of opposite byte
//! order, gzip'd big-endian nanosecond pcap), pcapng Simple Packet Blocks, and file-level errors.
//!
//! The derived fixtures' oracles were computed by /work/shared/tools/oracle.py (tshark 4.0.17
//! reads all four) and are identical to lt-ethernet's except `file`; oracle.rs compares dnsobs
//! with them key by key, this module checks the files themselves.

use std::path::{Path, PathBuf};
use std::process::Command;

use dnsobs::capture::LinkType;
use dnsobs::capture::file::{FileKind, ReadError, Reader};
use dnsobs::decode::link;

use crate::util::{Scratch, mismatches, oracle, pcaps, report};

/// (fixture, format, compression, link types as declared).
const DERIVED: [(&str, FileKind, &str, &[LinkType]); 4] = [
    (
        "lt-bigendian.pcap",
        FileKind::PcapMicro,
        "none",
        &[LinkType::Ethernet],
    ),
    (
        "lt-multi-if.pcapng",
        FileKind::PcapNg,
        "none",
        &[LinkType::Ethernet, LinkType::LinuxSll2],
    ),
    (
        "lt-sections.pcapng",
        FileKind::PcapNg,
        "none",
        &[
            LinkType::Ethernet,
            LinkType::Ethernet,
            LinkType::Ipv4,
            LinkType::Ipv6,
        ],
    ),
    (
        "lt-nsec-be.pcap.gz",
        FileKind::PcapNano,
        "gzip",
        &[LinkType::Ethernet],
    ),
];

/// A fresh scratch directory for one test, removed when dropped.
fn scratch(test: &str) -> Scratch {
    Scratch::target(&format!("formats-{test}"))
}

#[test]
fn derived_oracles_equal_lt_ethernet() {
    let mut want = oracle("lt-ethernet.pcap");
    want.as_object_mut().expect("object").remove("file");
    for (name, ..) in DERIVED {
        let mut got = oracle(name);
        assert_eq!(got["file"], name);
        got.as_object_mut().expect("object").remove("file");
        assert_eq!(got, want, "{name}");
    }
}

/// One frame: IP bytes (link layer stripped), time, bytes missing from the capture.
fn frames(name: &str) -> (Vec<(Vec<u8>, u64, u32)>, Reader) {
    let mut r = Reader::open(&pcaps().join(name)).expect("fixture opens");
    let mut v = Vec::new();
    while let Some(p) = r.next().expect("reads to the end") {
        let ip = match link::strip(p.link, p.data) {
            Ok(link::Link::Ip(ip)) => ip.to_vec(),
            other => panic!("{name} frame {}: {other:?}", v.len() + 1),
        };
        v.push((ip, p.ts_ns, p.orig_len - p.data.len() as u32));
    }
    (v, r)
}

#[test]
fn derived_fixtures_carry_the_same_frames() {
    let (base, _) = frames("lt-ethernet.pcap");
    assert_eq!(base.len(), 276);
    for (name, kind, compression, links) in DERIVED {
        let (got, r) = frames(name);
        assert_eq!(r.kind(), kind, "{name}");
        assert_eq!(r.compression(), compression, "{name}");
        assert_eq!(r.link_types(), links, "{name}");
        assert_eq!(r.records(), 276, "{name}");
        assert_eq!(got.len(), base.len(), "{name}");
        for (i, (g, b)) in got.iter().zip(&base).enumerate() {
            let n = i + 1;
            assert_eq!(g.0, b.0, "{name} frame {n}: IP bytes differ");
            assert_eq!(g.2, b.2, "{name} frame {n}: orig_len - caplen differs");
            // Section 2 of lt-sections (frames 139-276): frames 9k are Simple Packet Blocks,
            // which carry no time; frames 9k+1 are on interface 0, whose 2^-20 s units are
            // within 1 µs; the 100 ns and ns interfaces are exact, as is everything else.
            let section2 = name == "lt-sections.pcapng" && n > 138;
            match n % 9 {
                0 if section2 => {}
                1 if section2 => {
                    assert!(
                        g.1.abs_diff(b.1) < 1000,
                        "{name} frame {n}: {} vs {}",
                        g.1,
                        b.1
                    );
                }
                _ => assert_eq!(g.1, b.1, "{name} frame {n}: time"),
            }
        }
    }
}

#[test]
fn derived_fixtures_report_like_lt_ethernet() {
    let want = oracle("lt-ethernet.pcap");
    for (name, ..) in DERIVED {
        for threads in [1, 2] {
            let got = report(name, threads);
            let bad = mismatches(&want, &got);
            assert!(bad.is_empty(), "{name}/{threads}: {}", bad.join("\n"));
            assert_eq!(got["malformed"], 0, "{name}");
            assert_eq!(got["decode_events"]["non_ip_frames"], 0, "{name}");
        }
    }
}

#[test]
fn make_fixtures_is_deterministic() {
    let d = scratch("regen");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make_fixtures.py");
    let status = Command::new("python3")
        .arg(&script)
        .arg(pcaps().join("lt-ethernet.pcap"))
        .arg(&*d)
        .status();
    let status = match status {
        Ok(s) => s,
        Err(e) if std::env::var("CI").as_deref() != Ok("1") => {
            eprintln!("python3 not runnable ({e}): skipping");
            return;
        }
        Err(e) => panic!("CI=1 and python3 is not runnable: {e}"),
    };
    assert!(status.success(), "{script:?} failed");
    for (name, ..) in DERIVED {
        let fresh = std::fs::read(d.join(name)).expect("generated");
        let committed = std::fs::read(pcaps().join(name)).expect("committed");
        assert!(fresh == committed, "{name}: regenerated bytes differ");
    }
}

//------------ pcapng Simple Packet Blocks -----------------------------------

/// Little-endian pcapng block.
fn block(btype: u32, body: &[u8]) -> Vec<u8> {
    let padded = body.len().div_ceil(4) * 4;
    let n = (12 + padded) as u32;
    let mut b = Vec::with_capacity(n as usize);
    b.extend_from_slice(&btype.to_le_bytes());
    b.extend_from_slice(&n.to_le_bytes());
    b.extend_from_slice(body);
    b.resize(8 + padded, 0);
    b.extend_from_slice(&n.to_le_bytes());
    b
}

fn shb() -> Vec<u8> {
    let mut body = 0x1A2B_3C4Du32.to_le_bytes().to_vec();
    body.extend_from_slice(&[1, 0, 0, 0]);
    body.extend_from_slice(&(-1i64).to_le_bytes());
    block(0x0A0D_0D0A, &body)
}

fn idb(link: u16) -> Vec<u8> {
    let mut body = link.to_le_bytes().to_vec();
    body.extend_from_slice(&[0, 0]);
    body.extend_from_slice(&262_144u32.to_le_bytes());
    block(1, &body)
}

fn epb(iface: u32, ts_us: u64, orig: u32, data: &[u8]) -> Vec<u8> {
    let mut body = iface.to_le_bytes().to_vec();
    body.extend_from_slice(&((ts_us >> 32) as u32).to_le_bytes());
    body.extend_from_slice(&(ts_us as u32).to_le_bytes());
    body.extend_from_slice(&(data.len() as u32).to_le_bytes());
    body.extend_from_slice(&orig.to_le_bytes());
    body.extend_from_slice(data);
    block(6, &body)
}

fn spb(orig: u32, data: &[u8]) -> Vec<u8> {
    let mut body = orig.to_le_bytes().to_vec();
    body.extend_from_slice(data);
    block(3, &body)
}

/// tcp-pipelined.pcap rewritten as pcapng, frames whose number satisfies `as_spb` as Simple
/// Packet Blocks (no timestamp), the others as Enhanced Packet Blocks.
fn tcp_pipelined_with_spb(dir: &Path, as_spb: fn(usize) -> bool) -> PathBuf {
    let mut r = Reader::open(&pcaps().join("tcp-pipelined.pcap")).expect("opens");
    let mut out = shb();
    out.extend(idb(1));
    let mut n = 0;
    while let Some(p) = r.next().expect("reads") {
        n += 1;
        assert_eq!(p.orig_len as usize, p.data.len(), "frame {n} is not cut");
        out.extend(if as_spb(n) {
            spb(p.orig_len, p.data)
        } else {
            epb(0, p.ts_ns / 1000, p.orig_len, p.data)
        });
    }
    let path = dir.join("tcp-pipelined-spb.pcapng");
    std::fs::write(&path, out).expect("write");
    path
}

fn replay_json(path: &Path) -> serde_json::Value {
    let r = dnsobs::pipeline::replay_file(path, 1).expect("opens");
    dnsobs::export::report::json(&r)
}

#[test]
fn simple_packet_blocks_only() {
    let d = scratch("spb-all");
    let path = tcp_pipelined_with_spb(&d, |_| true);
    let got = replay_json(&path);
    let bad = mismatches(&oracle("tcp-pipelined.pcap"), &got);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    assert_eq!(got["dnsobs"]["first_packet_ns"], 0);
    assert_eq!(got["dnsobs"]["last_packet_ns"], 0);
}

/// BUG in src/capture/file.rs (`packet_block`: `ts.map_or(0, …)`): a Simple Packet Block gets
/// the time 0. Between Enhanced Packet Blocks of real time, TCP reassembly then sees a flow idle
/// since 1970 and expires it (`tcp_flows_expired` = 68 here), dropping partial messages and
/// resynchronising mid-message: 629 DNS messages instead of 676, 341 queries instead of 338,
/// 288 responses instead of 338, a FORMERR and a TC response that do not exist, and 4 + 3 query
/// sources instead of 3 + 2 (garbage read as messages).
/// tshark 4.0.17 reads this exact file (every even frame an SPB) with counters identical to
/// tcp-pipelined's oracle (checked by hand with oracle.py). An SPB should take the time of the
/// previous packet in the section (or leave the clock alone).
#[test]
fn simple_packet_blocks_between_timed_blocks() {
    let d = scratch("spb-mixed");
    let path = tcp_pipelined_with_spb(&d, |n| n % 2 == 0);
    let got = replay_json(&path);
    let bad = mismatches(&oracle("tcp-pipelined.pcap"), &got);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    assert_eq!(got["decode_events"]["tcp_flows_expired"], 0);
}

//------------ File-level errors ---------------------------------------------

fn open_bytes(dir: &Path, name: &str, bytes: &[u8]) -> Result<Reader, ReadError> {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    Reader::open(&p)
}

/// Reads to the end; (records read, the error that stopped it).
fn drain(mut r: Reader) -> (u64, Option<ReadError>) {
    loop {
        match r.next() {
            Ok(Some(_)) => {}
            Ok(None) => return (r.records(), None),
            Err(e) => return (r.records(), Some(e)),
        }
    }
}

#[test]
fn container_errors() {
    let d = scratch("errors");
    let eth = std::fs::read(pcaps().join("lt-ethernet.pcap")).expect("read");

    // An undecodable link type (147, USER0) is refused at open.
    let mut user0 = eth[..24].to_vec();
    user0[20..24].copy_from_slice(&147u32.to_le_bytes());
    assert!(matches!(
        open_bytes(&d, "user0.pcap", &user0),
        Err(ReadError::UnknownLinkType(147))
    ));

    // A packet block before any interface block.
    let mut f = shb();
    f.extend(epb(0, 0, 4, &[0x45, 0, 0, 4]));
    let (n, e) = drain(open_bytes(&d, "no-idb.pcapng", &f).expect("opens"));
    assert_eq!(n, 0);
    assert!(
        matches!(e, Some(ReadError::Corrupt { records: 0, .. })),
        "{e:?}"
    );

    // A packet block naming interface 1 when only interface 0 exists, after one good record.
    let frame = &eth[24 + 16..24 + 16 + 66];
    let mut f = shb();
    f.extend(idb(1));
    f.extend(epb(0, 1, frame.len() as u32, frame));
    f.extend(epb(1, 2, frame.len() as u32, frame));
    let (n, e) = drain(open_bytes(&d, "bad-iface.pcapng", &f).expect("opens"));
    assert_eq!(n, 1);
    assert!(
        e.as_ref()
            .is_some_and(|e| e.to_string().contains("undeclared interface")),
        "{e:?}"
    );

    // A block length that is not a multiple of 4.
    let mut f = shb();
    f.extend(idb(1));
    let mut b = epb(0, 1, frame.len() as u32, frame);
    b[4] += 1;
    f.extend(b);
    let (n, e) = drain(open_bytes(&d, "odd-len.pcapng", &f).expect("opens"));
    assert_eq!(n, 0);
    assert!(matches!(e, Some(ReadError::Corrupt { .. })), "{e:?}");

    // A pcapng file cut in the middle of its second packet block.
    let mut f = shb();
    f.extend(idb(1));
    f.extend(epb(0, 1, frame.len() as u32, frame));
    let cut = f.len() + 20;
    f.extend(epb(0, 2, frame.len() as u32, frame));
    let (n, e) = drain(open_bytes(&d, "cut.pcapng", &f[..cut]).expect("opens"));
    assert_eq!(n, 1);
    assert!(matches!(e, Some(ReadError::Truncated(1))), "{e:?}");
    assert!(e.expect("error").is_partial());
}

/// A record read: time, bytes, length on the wire.
type Record = (u64, Vec<u8>, u32);

/// Every record and the error that stopped the reading, read by `next` alone or by runs of
/// `next_run` (of `run` records at most) with `next` between them.
fn records(mut r: Reader, run: u64) -> (Vec<Record>, Option<String>) {
    let mut v = Vec::new();
    loop {
        if run > 0 && r.next_run(run, |p| v.push((p.ts_ns, p.data.to_vec(), p.orig_len))) > 0 {
            continue;
        }
        match r.next() {
            Ok(Some(p)) => v.push((p.ts_ns, p.data.to_vec(), p.orig_len)),
            Ok(None) => return (v, None),
            Err(e) => return (v, Some(e.to_string())),
        }
    }
}

/// The replay's runs of mapped records (`Reader::next_run`) read what `next` reads, across
/// concatenated captures of both byte orders and up to a cut last record.
#[test]
fn record_runs_read_what_single_reads_read() {
    let d = scratch("runs");
    let le = std::fs::read(pcaps().join("lt-ethernet.pcap")).expect("read");
    let be = std::fs::read(pcaps().join("lt-bigendian.pcap")).expect("read");
    let mut cat = le.clone();
    cat.extend_from_slice(&be);
    cat.extend_from_slice(&le[..le.len() - 7]);
    for (name, bytes, want) in [
        ("le.pcap", &le, 276),
        ("be.pcap", &be, 276),
        ("cat.pcap", &cat, 827),
    ] {
        let single = records(open_bytes(&d, name, bytes).expect("opens"), 0);
        assert_eq!(single.0.len(), want, "{name}");
        for run in [1, 3, 1000] {
            let runs = records(open_bytes(&d, name, bytes).expect("opens"), run);
            assert_eq!(runs, single, "{name}, runs of {run}");
        }
    }
}
