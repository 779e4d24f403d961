//! Captures as operators keep them (issue 23): every codec (gzip, zstd, xz, lzma, bzip2, lz4),
//! concatenated streams, cut and corrupt archives, whole directories read in time order
//! whatever the files are called, overlapping files, `--since`/`--until`, and decompression
//! ahead of the reader giving the same figures as one thread.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use dnsobs::capture::plan::Window;
use dnsobs::pipeline::{self, Settings};
use serde_json::Value;

use crate::util::codecs::Codec;
use crate::util::rng::Rng;
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

/// The JSON report of a library replay of `paths`.
fn library(paths: &[PathBuf], threads: usize, window: Window, read_ahead: usize) -> Value {
    let settings = Settings {
        threads,
        window,
        read_ahead,
        ..Settings::default()
    };
    let r = pipeline::replay(paths, &settings).expect("replays");
    dnsobs::export::report::json(&r)
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

//------------ Directories ---------------------------------------------------

/// `raw` (a little-endian µs pcap) cut at `cuts` (record indices) into pcap files.
fn cut_pcap(raw: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let ends = record_ends(raw);
    let mut parts = Vec::new();
    let mut from = 24;
    for &c in cuts.iter().chain(std::iter::once(&ends.len())) {
        let to = if c == 0 { 24 } else { ends[c - 1] };
        let mut p = raw[..24].to_vec();
        p.extend_from_slice(&raw[from..to]);
        parts.push(p);
        from = to;
    }
    parts
}

/// Cuts `fixture` at random record boundaries into `n` parts, each in another codec, under
/// `dir` with names whose order is the reverse of time (the part holding the last frames is
/// `z-first.pcap`, ...), some in a subdirectory, with extensions that lie. Returns the codecs
/// in time order.
fn split_into(dir: &Path, fixture: &str, n: usize, rng: &mut Rng) -> Vec<Codec> {
    let raw = std::fs::read(pcaps().join(fixture)).expect("fixture");
    let records = record_ends(&raw).len();
    let mut cuts: Vec<usize> = (0..n - 1).map(|_| 1 + rng.below(records - 1)).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let parts = cut_pcap(&raw, &cuts);
    let mut used = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let codec = Codec::ALL[(i + rng.below(7)) % 7];
        used.push(codec);
        let rank = parts.len() - i;
        let name = match i % 3 {
            0 => format!("z{rank:02}-first.pcap"),
            1 => format!("sub/{rank:02}-a.pcap.gz"),
            _ => format!("{rank:02}-b.pcap.xz"),
        };
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, codec.compress(part)).expect("write");
    }
    used
}

/// A capture cut at arbitrary frame boundaries into files of different codecs with misleading
/// names, in a directory (with a file that is no capture): the report of the directory is the
/// whole capture's, on every oracle key, with 1 and 2 threads, for TCP and fragment cases too.
#[test]
fn split_directories_give_the_whole_capture() {
    let mut rng = Rng(0x2323_D1D1);
    for (k, fixture) in ["root-mix-v4v6.pcap", "tcp-pipelined.pcap", "fragments.pcap"]
        .into_iter()
        .enumerate()
    {
        let want = oracle(fixture);
        for round in 0..2 {
            let d = scratch(&format!("split-{k}-{round}"));
            let used = split_into(&d, fixture, 5 + 2 * round, &mut rng);
            std::fs::write(d.join("README.txt"), "notes about these captures\n").expect("write");
            for threads in [1, 2] {
                let got = library(&[d.to_path_buf()], threads, Window::default(), 0);
                let bad = mismatches(&want, &got);
                assert!(
                    bad.is_empty(),
                    "{fixture} round {round} ({used:?}), {threads} threads:\n  {}",
                    bad.join("\n  ")
                );
                assert_eq!(got["frames"], want["frames"]);
                let files = got["dnsobs"]["files"].as_array().expect("files");
                let codecs: Vec<&str> = files
                    .iter()
                    .map(|f| f["compression"].as_str().expect("str"))
                    .collect();
                let want_codecs: Vec<&str> = used.iter().map(|c| c.name()).collect();
                assert_eq!(codecs, want_codecs, "{fixture}: read in time order");
            }
        }
    }
}

/// The binary on a directory: the non-capture is skipped with a warning (exit 0); the same
/// report from `rssac002`'s and `ithi`'s shared input flags is checked through replay here.
#[test]
fn a_directory_on_the_command_line() {
    let d = scratch("cli-dir");
    let mut rng = Rng(7);
    split_into(&d, "root-mix-v4v6.pcap", 4, &mut rng);
    std::fs::write(d.join("notes.txt"), "hello\n").expect("write");
    std::fs::write(d.join("empty.pcap"), "").expect("write");
    let o = replay(&[&d], &["--threads", "2"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 2, "{err}");
    assert!(
        err.contains("notes.txt: skipped: not a capture file"),
        "{err}"
    );
    assert!(err.contains("empty.pcap: skipped: empty file"), "{err}");
    let bad = mismatches(&oracle("root-mix-v4v6.pcap"), &json(&o));
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    // A directory with no capture at all cannot be read: exit 3.
    let e = scratch("cli-empty-dir");
    std::fs::write(e.join("notes.txt"), "hello\n").expect("write");
    let o = replay(&[&e], &[], None);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no capture file in this directory"),
        "{}",
        stderr(&o)
    );
    // rssac002 reads directories too.
    let out = scratch("cli-dir-rssac");
    let o = Command::new(BIN)
        .args(["rssac002", "--quiet", "--service", "x.example", "--out"])
        .arg(&*out)
        .arg(&*d)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read_dir(&*out).expect("out").count(), 4);
}

/// Two copies of one capture (two instances' captures, in effect) overlap in time: warned,
/// both read.
#[test]
fn overlapping_files_are_warned_about() {
    let d = scratch("overlap");
    let a = d.join("instance-a.pcap");
    let b = d.join("instance-b.pcap.zst");
    let raw = std::fs::read(pcaps().join("root-mix-v4v6.pcap")).expect("fixture");
    std::fs::write(&a, &raw).expect("write");
    std::fs::write(&b, Codec::Zstd.compress(&raw)).expect("write");
    let o = replay(&[&d], &[], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("overlap in time"), "{err}");
    assert!(err.contains("starts 6.598 s before the end of"), "{err}");
    let got = json(&o);
    assert_eq!(got["frames"], 2 * 8922);
    // A capture rotated into files does not overlap: no warning.
    let d2 = scratch("no-overlap");
    split_into(&d2, "root-mix-v4v6.pcap", 3, &mut Rng(3));
    let o = replay(&[&d2], &[], None);
    assert_eq!((o.status.code(), stderr(&o)), (Some(0), String::new()));
}

//------------ Time windows --------------------------------------------------

/// The oracle of root-mix-v4v6.pcap's frames from 2026-11-24T18:59:30Z (inclusive) to
/// 18:59:33Z (exclusive): `editcap -A 1795546770 -B 1795546773` then
/// `../shared/tools/oracle.py` (tshark 4.0.17) on the result (pcaps/SOURCES.md).
fn window_oracle() -> Value {
    let p = pcaps().join("windows/root-mix-v4v6.18-59-30.18-59-33.oracle.json");
    serde_json::from_str(&std::fs::read_to_string(p).expect("window oracle")).expect("JSON")
}

fn window(since: &str, until: &str) -> Window {
    Window {
        since_ns: Some(dnsobs::time::parse_rfc3339(since).expect("time")),
        until_ns: Some(dnsobs::time::parse_rfc3339(until).expect("time")),
    }
}

/// `--since`/`--until` on the whole capture, and on the capture split into a directory (where
/// the files outside the window are not read at all): the window's oracle, key by key.
#[test]
fn since_until_select_the_window_exactly() {
    let want = window_oracle();
    assert_eq!(want["frames"], 2123);
    let w = window("2026-11-24T18:59:30Z", "2026-11-24T18:59:33Z");
    let whole = [pcaps().join("root-mix-v4v6.pcap")];
    for threads in [1, 2] {
        let got = library(&whole, threads, w, 0);
        let bad = mismatches(&want, &got);
        assert!(bad.is_empty(), "{threads} threads:\n  {}", bad.join("\n  "));
    }
    // Split into 8 files: those wholly outside are skipped, the result is the same.
    let d = scratch("window-dir");
    split_into(&d, "root-mix-v4v6.pcap", 8, &mut Rng(0x51CE));
    let settings = Settings {
        threads: 2,
        window: w,
        ..Settings::default()
    };
    let r = pipeline::replay(&[d.to_path_buf()], &settings).expect("replays");
    let input = r.replay_input().expect("replay");
    let outside = input
        .skipped
        .iter()
        .filter(|s| s.reason.contains("outside"))
        .count();
    assert!(outside >= 2, "{outside} files skipped");
    assert_eq!(input.files.len() + outside, 8);
    let got = dnsobs::export::report::json(&r);
    let bad = mismatches(&want, &got);
    assert!(bad.is_empty(), "directory:\n  {}", bad.join("\n  "));
    // The bounds: since is inclusive, until exclusive. The window's first frame is at
    // 18:59:30.000066 and its last at 18:59:32.654780 (tshark): from the first to the last
    // is every frame of the window but the last.
    let o = replay(
        &[&whole[0]],
        &[
            "--since",
            "2026-11-24T18:59:30.000066Z",
            "--until",
            "2026-11-24T19:59:32.65478+01:00",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(json(&o)["frames"], 2122);
    // Bad times and an empty window are usage errors.
    for args in [["--since", "yesterday"], ["--until", "2026-11-24T18:59:30"]] {
        let o = replay(&[&whole[0]], &args, None);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("RFC 3339"), "{}", stderr(&o));
    }
    let o = replay(
        &[&whole[0]],
        &[
            "--since",
            "2026-11-24T18:59:33Z",
            "--until",
            "2026-11-24T18:59:30Z",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
}

//------------ Decompression ahead -------------------------------------------

/// Files decompressed ahead on their own threads, with a read-ahead budget small enough that
/// every decompressor waits for the reader again and again: the same report as the whole plain
/// capture with as many threads (workers see the same frames in the same order), and the same
/// as one thread but for the top-k tables' eviction counts (space-saving summaries kept per
/// worker and merged).
#[test]
fn decompression_ahead_gives_the_one_thread_figures() {
    let d = scratch("ahead");
    let mut rng = Rng(0xA4EAD);
    let used = split_into(&d, "root-mix-v4v6.pcap", 9, &mut rng);
    assert!(
        used.iter().filter(|&&c| c != Codec::Plain).count() >= 6,
        "{used:?}"
    );
    let whole = [pcaps().join("root-mix-v4v6.pcap")];
    let no_top = |mut v: Value| {
        v.as_object_mut().expect("object").remove("top_k");
        v
    };
    let one = counters(library(&[d.to_path_buf()], 1, Window::default(), 0));
    assert!(mismatches(&oracle("root-mix-v4v6.pcap"), &one).is_empty());
    assert_eq!(one, counters(library(&whole, 1, Window::default(), 0)));
    for (threads, budget) in [(2, 0), (2, 1), (3, 1 << 20), (4, 0)] {
        let got = counters(library(
            &[d.to_path_buf()],
            threads,
            Window::default(),
            budget,
        ));
        let plain = counters(library(&whole, threads, Window::default(), 0));
        assert_eq!(got, plain, "{threads} threads, read-ahead {budget}");
        assert_eq!(no_top(got), no_top(one.clone()), "{threads} threads vs 1");
    }
}
