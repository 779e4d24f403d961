//! The real `dnsobs` binary: exit statuses, messages, output formats, compressed and piped input.
//!
//! Exit statuses (src/cmd/mod.rs, `ExitStatus`): 0 ok, 2 usage, 3 an input could not be read at all (nothing on
//! stdout), 4 an input is truncated or corrupt after some records (the report is still printed,
//! a warning on stderr names the file).

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::util::{BIN, Scratch, mismatches, oracle, pcaps, promtool};

fn dnsobs() -> Command {
    Command::new(BIN)
}

/// Runs `dnsobs replay ARGS...` with stdin from `stdin` (or nothing).
fn replay(args: &[&str], stdin: Option<&Path>) -> Output {
    let mut c = dnsobs();
    // One hash seed for every run: the sketches of two runs are compared (with random seeds,
    // two of a handful of sources share a HyperLogLog register in a few runs per thousand).
    c.arg("replay")
        .args(args)
        .env("DNSOBS_HASH_SEED", "20261207");
    c.stdin(match stdin {
        Some(p) => Stdio::from(File::open(p).expect("stdin file")),
        None => Stdio::null(),
    });
    c.output().expect("dnsobs runs")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited, not killed")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_out(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}); stderr: {}",
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

/// A fresh scratch directory for one test, removed when dropped.
fn scratch(test: &str) -> Scratch {
    Scratch::target(&format!("cli-{test}"))
}

fn fixture(name: &str) -> String {
    pcaps().join(name).display().to_string()
}

/// An input that cannot be read: exit 3, nothing on stdout, one error naming the file.
fn assert_unreadable(path: &str, reason: &str) {
    let o = replay(&["--format", "json", path], None);
    let err = stderr(&o);
    assert_eq!(code(&o), 3, "{path}: stderr {err}");
    assert!(o.stdout.is_empty(), "{path}: something was reported");
    assert!(
        err.starts_with(&format!("dnsobs: error: {path}: ")),
        "{path}: {err}"
    );
    assert!(err.contains(reason), "{path}: {err:?} lacks {reason:?}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn unreadable_inputs_exit_3() {
    let d = scratch("unreadable");
    let missing = d.join("no-such.pcap");
    assert_unreadable(&missing.display().to_string(), "No such file or directory");
    // A directory is read (recursively): one without any capture file cannot be.
    assert_unreadable(
        &d.display().to_string(),
        "no capture file in this directory",
    );
    let text = d.join("notes.txt");
    std::fs::write(&text, "hello, this is not a capture file\n").expect("write");
    assert_unreadable(
        &text.display().to_string(),
        "not a capture file (unknown magic number 0x68656c6c",
    );
    // Shorter than any magic number: not a capture (it was once misreported as truncated).
    let tiny = d.join("tiny.txt");
    std::fs::write(&tiny, "vm\n").expect("write");
    assert_unreadable(
        &tiny.display().to_string(),
        "not a capture file (unknown magic number 0x766d0a00",
    );
    let empty = d.join("zero.pcap");
    File::create(&empty).expect("create");
    assert_unreadable(&empty.display().to_string(), "empty file (0 bytes)");
    // A pcap header cut short: nothing readable either.
    let head = std::fs::read(fixture("lt-ethernet.pcap")).expect("read");
    let short = d.join("short-header.pcap");
    std::fs::write(&short, &head[..10]).expect("write");
    assert_unreadable(&short.display().to_string(), "truncated");
    // A valid file before an unreadable one: still nothing is reported.
    let o = replay(
        &[&fixture("lt-ethernet.pcap"), &empty.display().to_string()],
        None,
    );
    assert_eq!((code(&o), o.stdout.len()), (3, 0));
}

/// Every subcommand's `--help` shows examples and its exit statuses (issue 10), and the exit
/// statuses are the ones the README documents.
#[test]
fn every_subcommand_help_has_examples_and_exit_statuses() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    assert!(
        readme.contains("## Exit status"),
        "README documents exit statuses"
    );
    for sub in ["replay", "run", "rssac002", "top", "ithi", "check-config"] {
        let o = dnsobs()
            .args([sub, "--help"])
            .output()
            .expect("dnsobs runs");
        assert_eq!(code(&o), 0, "{sub} --help");
        let help = String::from_utf8_lossy(&o.stdout);
        assert!(
            help.contains("Example"),
            "{sub} --help has no example:\n{help}"
        );
        assert!(
            help.contains(&format!("dnsobs {sub} ")),
            "{sub}: example runs {sub}"
        );
        assert!(
            help.contains("Exit status: 0"),
            "{sub} --help: no exit statuses:\n{help}"
        );
    }
    let o = dnsobs().arg("--help").output().expect("dnsobs runs");
    let help = String::from_utf8_lossy(&o.stdout);
    for status in [
        "0 success",
        "1 other error",
        "2 bad usage",
        "3 an input file",
        "4 an input file",
    ] {
        assert!(help.contains(status), "dnsobs --help lacks '{status}'");
    }
}

#[test]
fn usage_errors() {
    let o = replay(&[], None);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("<FILE|DIR>"), "{}", stderr(&o));
    let o = replay(&["--format", "xml", &fixture("empty.pcap")], None);
    assert_eq!(code(&o), 2);
    let o = replay(&["--threads", "0", &fixture("empty.pcap")], None);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("--threads must be at least 1"));
}

#[test]
fn truncated_file_exits_4_with_the_report() {
    let path = fixture("truncated.pcap");
    let o = replay(&["--format", "json", &path], None);
    assert_eq!(code(&o), 4, "stderr: {}", stderr(&o));
    let got = json_out(&o);
    let want = oracle("truncated.pcap");
    assert_eq!(got["frames"], 47);
    assert_eq!(want["frames"], 47);
    let bad = mismatches(&want, &got);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    assert_eq!(got["dnsobs"]["files"][0]["records"], 47);
    assert!(
        got["dnsobs"]["files"][0]["warning"]
            .as_str()
            .is_some_and(|w| w.contains("truncated")),
        "{}",
        got["dnsobs"]["files"][0]
    );
    let err = stderr(&o);
    assert_eq!(
        err.trim_end(),
        format!(
            "dnsobs: warning: {path}: file is truncated: it ends in the middle of a record \
             after 47 complete records; the report covers the records read before it"
        )
    );
    // --quiet silences the warning, not the status.
    let o = replay(&["--quiet", "--format", "json", &path], None);
    assert_eq!((code(&o), stderr(&o).as_str()), (4, ""));
    assert_eq!(json_out(&o)["frames"], 47);
}

/// The first `records` records of a classic pcap (header included).
fn pcap_prefix(data: &[u8], records: usize) -> Vec<u8> {
    let mut at = 24;
    for _ in 0..records {
        let caplen = u32::from_le_bytes(data[at + 8..at + 12].try_into().expect("4 bytes"));
        at += 16 + caplen as usize;
    }
    data[..at].to_vec()
}

#[test]
fn impossible_record_length_is_corrupt_exit_4() {
    let d = scratch("corrupt");
    let src = std::fs::read(fixture("lt-ethernet.pcap")).expect("read");
    assert_eq!(
        &src[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian µs pcap"
    );
    let mut bad = pcap_prefix(&src, 5);
    // A record header claiming 0xFFFFFFF0 captured bytes, then some bytes.
    bad.extend_from_slice(&[0; 8]);
    bad.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    bad.extend_from_slice(&60u32.to_le_bytes());
    bad.extend_from_slice(&[0xAB; 64]);
    let path = d.join("huge-caplen.pcap");
    std::fs::write(&path, &bad).expect("write");
    let p = path.display().to_string();
    let o = replay(&["--format", "json", &p], None);
    assert_eq!(code(&o), 4, "stderr: {}", stderr(&o));
    let got = json_out(&o);
    assert_eq!(got["frames"], 5);
    assert_eq!(got["dnsobs"]["files"][0]["records"], 5);
    let err = stderr(&o);
    assert!(
        err.starts_with(&format!(
            "dnsobs: warning: {p}: corrupt capture after 5 records"
        )),
        "{err}"
    );
}

/// The report's counters: everything but what names the file or measures the run.
fn counters(mut v: Value) -> Value {
    let m = v.as_object_mut().expect("object");
    m.remove("file");
    m.remove("dnsobs");
    v
}

#[test]
fn compressed_and_piped_input_give_the_same_counters() {
    let d = scratch("compressed");
    let name = "tcp-pipelined.pcap";
    let plain = fixture(name);
    let raw = std::fs::read(&plain).expect("read");
    let gz = d.join(format!("{name}.gz"));
    let mut enc = flate2::write::GzEncoder::new(
        File::create(&gz).expect("create"),
        flate2::Compression::default(),
    );
    enc.write_all(&raw).expect("gzip");
    enc.finish().expect("gzip");
    let zst = d.join(format!("{name}.zst"));
    std::fs::write(&zst, zstd::encode_all(&raw[..], 3).expect("zstd")).expect("write");

    let base = replay(&["--format", "json", &plain], None);
    assert_eq!(code(&base), 0, "{}", stderr(&base));
    let base = json_out(&base);
    assert!(mismatches(&oracle(name), &base).is_empty());
    assert_eq!(base["queries"], 338);
    let want = counters(base);
    let cases: [(&str, Option<&Path>, &str); 5] = [
        (gz.to_str().expect("utf-8"), None, "gzip"),
        (zst.to_str().expect("utf-8"), None, "zstd"),
        ("-", Some(Path::new(&plain)), "none"),
        ("-", Some(&gz), "gzip"),
        ("-", Some(&zst), "zstd"),
    ];
    for (arg, stdin, compression) in cases {
        let o = replay(&["--format", "json", arg], stdin);
        assert_eq!(code(&o), 0, "{arg} {stdin:?}: {}", stderr(&o));
        let got = json_out(&o);
        assert_eq!(
            got["dnsobs"]["files"][0]["compression"], compression,
            "{arg} {stdin:?}"
        );
        assert_eq!(got["dnsobs"]["files"][0]["records"], 701);
        assert_eq!(counters(got), want, "{arg} {stdin:?}");
    }
}

#[test]
fn table_format_shows_the_totals() {
    let o = replay(&[&fixture("lt-ethernet.pcap")], None);
    assert_eq!(code(&o), 0);
    let out = String::from_utf8(o.stdout).expect("utf-8");
    let want = oracle("lt-ethernet.pcap");
    let total = |label: &str| -> u64 {
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap_or_else(|| panic!("no {label:?} line in:\n{out}"));
        line.split_whitespace()
            .last()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{line:?}"))
    };
    assert_eq!(total("queries "), want["queries"].as_u64().expect("n"));
    assert_eq!(total("responses "), want["responses"].as_u64().expect("n"));
    assert_eq!(
        total("DNS messages "),
        want["dns_messages"].as_u64().expect("n")
    );
    assert!(out.contains(": 276 frames"), "{out}");
}

/// The value of one sample line `series value` in a Prometheus text exposition.
fn sample(text: &str, series: &str) -> u64 {
    let line = text
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .unwrap_or_else(|| panic!("no sample {series}"));
    line[series.len() + 1..]
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{line:?}"))
}

fn prometheus(name: &str, status: i32) -> String {
    let o = replay(&["--format", "prometheus", &fixture(name)], None);
    assert_eq!(code(&o), status, "{name}: {}", stderr(&o));
    String::from_utf8(o.stdout).expect("utf-8")
}

fn series(transport: &str, v: &str) -> String {
    format!("dnsobs_queries_total{{transport=\"{transport}\",ip_version=\"{v}\"}}")
}

#[test]
fn prometheus_format_has_the_oracle_counts() {
    // truncated.pcap: every query is UDP over IPv4, so the oracle fixes that series exactly
    // (the report still comes out with status 4).
    let t = prometheus("truncated.pcap", 4);
    let o = oracle("truncated.pcap");
    assert_eq!(
        (
            &o["queries_by_transport"]["tcp"],
            &o["queries_by_ip_version"]["6"]
        ),
        (&0.into(), &0.into())
    );
    let q = o["queries"].as_u64().expect("n");
    assert_eq!(q, 24);
    assert!(t.contains(&format!("{} {q}\n", series("udp", "4"))), "{t}");
    // tcp-pipelined.pcap: TCP only, so both TCP series are the oracle's per-version counts.
    let t = prometheus("tcp-pipelined.pcap", 0);
    let o = oracle("tcp-pipelined.pcap");
    for v in ["4", "6"] {
        assert_eq!(
            sample(&t, &series("tcp", v)),
            o["queries_by_ip_version"][v].as_u64().expect("n")
        );
        assert_eq!(sample(&t, &series("udp", v)), 0);
    }
    // lt-ethernet.pcap: the four series add up to the oracle's marginals.
    let t = prometheus("lt-ethernet.pcap", 0);
    let o = oracle("lt-ethernet.pcap");
    let n = |tr: &str, v: &str| sample(&t, &series(tr, v));
    let want = |k: &str, x: &str| o[k][x].as_u64().expect("n");
    for tr in ["udp", "tcp"] {
        assert_eq!(n(tr, "4") + n(tr, "6"), want("queries_by_transport", tr));
    }
    for v in ["4", "6"] {
        assert_eq!(n("udp", v) + n("tcp", v), want("queries_by_ip_version", v));
    }
    assert!(t.contains("# TYPE dnsobs_queries_total counter\n"));
}

#[test]
fn prometheus_output_passes_promtool() {
    if !promtool::required("`promtool check metrics`") {
        return;
    }
    for (name, status) in [
        ("root-mix-v4v6.pcap", 0),
        ("malformed.pcap", 0),
        ("empty.pcap", 0),
        ("truncated.pcap", 4),
    ] {
        let text = prometheus(name, status);
        if let Err(e) = promtool::check_metrics(&text) {
            panic!("{name}: promtool check metrics failed:\n{e}");
        }
    }
}

/// Adds two oracle values (numbers, or maps of numbers key by key).
fn add(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut m = x.clone();
            for (k, v) in y {
                let sum = add(m.get(k).unwrap_or(&Value::from(0)), v);
                m.insert(k.clone(), sum);
            }
            Value::Object(m)
        }
        _ => Value::from(a.as_u64().expect("number") + b.as_u64().expect("number")),
    }
}

#[test]
fn several_files_add_up_and_a_truncated_one_exits_4() {
    // truncated.pcap given first, read second (its first packet is later than
    // tcp-pipelined's): reading goes on after its warning. tcp-pipelined's crafted frames
    // span its time range, so the two overlap in time, which is warned about too.
    let (a, b) = ("truncated.pcap", "tcp-pipelined.pcap");
    let o = replay(&["--format", "json", &fixture(a), &fixture(b)], None);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 2, "{err}");
    assert!(
        err.contains(&format!("{}: file is truncated", fixture(a))),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{} (from 2026-11-24T18:59:39Z) starts ",
            fixture(a)
        )) && err.contains("overlap in time"),
        "{err}"
    );
    let got = json_out(&o);
    let (oa, ob) = (oracle(a), oracle(b));
    let mut compared = 0;
    for (k, va) in oa.as_object().expect("object") {
        if [
            "file",
            "oracle",
            "notes",
            "malformed",
            "unique_query_sources",
        ]
        .contains(&k.as_str())
        {
            continue;
        }
        let want = crate::util::norm(&add(va, &ob[k]));
        assert_eq!(crate::util::norm(&got[k]), want, "{k}");
        compared += 1;
    }
    assert!(compared >= 18, "{compared} keys");
    assert_eq!(got["frames"], 47 + 701);
    // The two captures' query sources are disjoint.
    for v in ["4", "6"] {
        let n = |x: &Value| x["unique_query_sources"][v].as_u64().expect("n");
        assert_eq!(n(&got), n(&oa) + n(&ob), "IPv{v} sources");
    }
    let files = got["dnsobs"]["files"].as_array().expect("files");
    assert_eq!(files.len(), 2);
    assert_eq!(
        (&files[0]["records"], &files[1]["records"]),
        (&701.into(), &47.into())
    );
    assert!(files[0]["warning"].is_null());
    assert!(!files[1]["warning"].is_null());
}

/// `cat a.pcap b.pcap` is read as both captures, one after the other (exit 0).
#[test]
fn concatenated_captures_are_read_whole() {
    let d = scratch("concat");
    let one = std::fs::read(fixture("lt-ethernet.pcap")).expect("read");
    let both = d.join("twice.pcap");
    std::fs::write(&both, [one.as_slice(), one.as_slice()].concat()).expect("write");
    let o = replay(&["--format", "json", &both.display().to_string()], None);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let want = crate::util::oracle("lt-ethernet.pcap");
    for k in [
        "frames",
        "dns_messages",
        "queries",
        "responses",
        "queries_do",
        "query_size_bytes_sum",
    ] {
        assert_eq!(r[k].as_u64(), want[k].as_u64().map(|n| 2 * n), "{k}");
    }
}

/// Runs `dnsobs ARGS... > OUT` under `script(1)`, so that stderr is a terminal, and returns what
/// the terminal showed.
fn on_a_terminal(args: &[String], out: &Path) -> String {
    let mut line = String::from(BIN);
    for a in args {
        line.push_str(&format!(" '{a}'"));
    }
    line.push_str(&format!(" > '{}'", out.display()));
    let o = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("script(1) runs (bsdutils)");
    assert!(o.status.success(), "{line}: {o:?}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn progress_bar_on_a_terminal_only() {
    let dir = scratch("progress");
    let files = ["root-mix-v4v6.pcap", "fragments.pcap"];
    let mut args: Vec<String> = ["replay", "--format", "json", "--threads", "2"]
        .map(String::from)
        .to_vec();
    args.extend(files.iter().map(|f| fixture(f)));
    let piped = replay(
        &args[1..].iter().map(String::as_str).collect::<Vec<_>>(),
        None,
    );
    assert_eq!(code(&piped), 0);
    assert_eq!(stderr(&piped), "", "no bar when stderr is not a terminal");

    let out = dir.join("report.json");
    let screen = on_a_terminal(&args, &out);
    // The last state of the run's line: files, their total size and exact packet count.
    let frames: u64 = files
        .iter()
        .map(|f| oracle(f)["frames"].as_u64().expect("frames"))
        .sum();
    let size: u64 = files
        .iter()
        .map(|f| std::fs::metadata(pcaps().join(f)).expect("fixture").len())
        .sum();
    let last = screen
        .split(['\r', '\n'])
        .rfind(|l| l.contains("2 files") && l.contains(" in "))
        .unwrap_or_else(|| panic!("no final progress line in {screen:?}"));
    assert!(last.contains(&format!(" {frames} packets, ")), "{last}");
    let shown = if size >= 1 << 20 {
        format!("{:.2} MiB", size as f64 / f64::from(1 << 20))
    } else {
        format!("{:.2} KiB", size as f64 / 1024.0)
    };
    assert!(last.contains(&shown), "{last} lacks {shown}");
    // The bar goes to stderr: the report on stdout is the same as without a terminal.
    let report: Value = serde_json::from_slice(&std::fs::read(&out).expect("report written"))
        .expect("report is JSON");
    assert_eq!(counters(report), counters(json_out(&piped)));

    args.insert(1, "--quiet".into());
    let screen = on_a_terminal(&args, &out);
    assert!(
        !screen.contains("packets"),
        "--quiet shows no bar: {screen:?}"
    );
}
