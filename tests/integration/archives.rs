//! Captures as operators keep them (issue 23): every codec (gzip, zstd, xz, lzma, bzip2, lz4),
//! concatenated streams, cut and corrupt archives.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::util::codecs::Codec;
use crate::util::{BIN, Scratch, mismatches, oracle, pcaps};

fn scratch(test: &str) -> Scratch {
    Scratch::target(&format!("archives-{test}"))
}

/// `dnsobs replay --format json ARGS...`, stdin from `stdin` (or nothing).
fn replay(args: &[&Path], extra: &[&str], stdin: Option<&Path>) -> Output {
    let mut c = Command::new(BIN);
    c.args(["replay", "--format", "json"])
        .args(extra)
        .args(args);
    c.stdin(match stdin {
        Some(p) => Stdio::from(std::fs::File::open(p).expect("stdin file")),
        None => Stdio::null(),
    });
    c.output().expect("dnsobs runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stderr(o)))
}

/// The report's counters: everything but what names the files or measures the run.
fn counters(mut v: Value) -> Value {
    let m = v.as_object_mut().expect("object");
    m.remove("file");
    m.remove("dnsobs");
    v
}

//------------ Codecs --------------------------------------------------------

/// Every codec, as a file and on standard input, one stream or two concatenated: the counters
/// of the plain capture, and the codec's name in the report.
#[test]
fn every_codec_reads_like_the_plain_capture() {
    let d = scratch("codecs");
    let name = "tcp-pipelined.pcap";
    let raw = std::fs::read(pcaps().join(name)).expect("fixture");
    let base = replay(&[&pcaps().join(name)], &[], None);
    assert_eq!(base.status.code(), Some(0), "{}", stderr(&base));
    let want = counters(json(&base));
    assert!(mismatches(&oracle(name), &want).is_empty());
    assert_eq!(want["queries"], 338);
    for codec in Codec::ALL {
        for (how, bytes) in [
            ("one", codec.compress(&raw)),
            ("two", codec.compress_twice(&raw, raw.len() / 3)),
        ] {
            let path = d.join(format!("{}-{how}.bin", codec.name()));
            std::fs::write(&path, &bytes).expect("write");
            for stdin in [false, true] {
                let o = if stdin {
                    replay(&[Path::new("-")], &[], Some(&path))
                } else {
                    replay(&[&path], &[], None)
                };
                let what = format!("{codec:?} {how} stdin={stdin}");
                assert_eq!(o.status.code(), Some(0), "{what}: {}", stderr(&o));
                assert_eq!(stderr(&o), "", "{what}");
                let got = json(&o);
                let f = &got["dnsobs"]["files"][0];
                assert_eq!(f["compression"], codec.name(), "{what}");
                assert_eq!(f["records"], 701, "{what}");
                assert_eq!(counters(got), want, "{what}");
            }
        }
    }
}

/// Where the first complete records of `raw` end, in bytes (pcap: header + records).
fn record_ends(raw: &[u8]) -> Vec<usize> {
    let mut v = Vec::new();
    let mut at = 24;
    while at + 16 <= raw.len() {
        let cap = u32::from_le_bytes([raw[at + 8], raw[at + 9], raw[at + 10], raw[at + 11]]);
        at += 16 + cap as usize;
        if at <= raw.len() {
            v.push(at);
        }
    }
    v
}

/// A cut or corrupt archive ends its file with one warning naming the file and where the
/// stream broke; the records before are counted, the next file is read, exit status 4.
#[test]
fn cut_and_corrupt_archives_are_partial() {
    let d = scratch("broken");
    let name = "root-mix-v4v6.pcap";
    let raw = std::fs::read(pcaps().join(name)).expect("fixture");
    let later = pcaps().join("fragments.pcap");
    let frames_later = oracle("fragments.pcap")["frames"].as_u64().expect("n");
    for codec in Codec::ALL.into_iter().filter(|&c| c != Codec::Plain) {
        let full = codec.compress(&raw);
        let mut corrupt = full.clone();
        let mid = corrupt.len() / 2;
        for b in &mut corrupt[mid..mid + 64] {
            *b ^= 0x5A;
        }
        for (what, bytes) in [
            ("cut", full[..full.len() * 2 / 3].to_vec()),
            ("corrupt", corrupt),
        ] {
            let path = d.join(format!("{}-{what}.pcap", codec.name()));
            std::fs::write(&path, &bytes).expect("write");
            let o = replay(&[&path, &later], &[], None);
            let err = stderr(&o);
            let case = format!("{codec:?} {what}");
            assert_eq!(o.status.code(), Some(4), "{case}: {err}");
            assert_eq!(err.lines().count(), 1, "{case}: {err}");
            let p = path.display().to_string();
            // A cut archive is the decompressor's finding; corrupt data may be too, or may
            // come out of it as garbage that the capture parser rejects first (gzip and zstd
            // check their checksums only at the end of a member or frame). Either way the
            // message says where.
            let codec_error =
                err.starts_with(&format!("dnsobs: warning: {p}: {} data ", codec.name()));
            let parse_error = err
                .starts_with(&format!("dnsobs: warning: {p}: corrupt capture after "))
                && err.contains(" of the decompressed data)");
            assert!(
                codec_error || (what == "corrupt" && parse_error),
                "{case}: {err}"
            );
            if codec_error {
                assert!(
                    err.contains("compressed input read to byte "),
                    "{case}: {err}"
                );
            }
            if what == "cut" {
                assert!(err.contains(" data cut short "), "{case}: {err}");
            }
            let got = json(&o);
            let files = got["dnsobs"]["files"].as_array().expect("files");
            assert_eq!(files.len(), 2, "{case}");
            let n = files[0]["records"].as_u64().expect("records");
            // Every record before the break is counted: at least those wholly inside the
            // first third of the data, none past the end.
            let ends = record_ends(&raw);
            assert!(
                n >= ends.iter().filter(|&&e| e < raw.len() / 3).count() as u64,
                "{case}: {n}"
            );
            assert!(n < ends.len() as u64, "{case}: {n}");
            assert!(
                err.contains(&format!("after {n} complete records"))
                    || err.contains(&format!("corrupt capture after {n} records")),
                "{case}: {err}"
            );
            assert_eq!(files[1]["records"].as_u64(), Some(frames_later), "{case}");
            assert_eq!(got["frames"].as_u64(), Some(n + frames_later), "{case}");
        }
    }
}
