//! Privacy of the exports naming sources (issue 22 part 4): the per-query Parquet rows and the
//! JSON report's top-k source prefixes under truncation at other lengths, ipcrypt and
//! ipcrypt-pfx, against the query sources tshark reads from the captures; key files refused.
//!
//! The Parquet files are read back with the `parquet` crate's row reader (no Python needed);
//! the expected prefixes are computed here with std's address types, independently of
//! `dnsobs::privacy`, which is used only to encrypt the known sources for comparison.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use serde_json::Value;

use dnsobs::privacy::{Mode, Privacy};

use crate::util::daemon::{Config, PORT, samples, settled_packets, start_in};
use crate::util::netns::{Netns, signal};
use crate::util::scratch::Scratch;
use crate::util::{BIN, cannot_run, pcaps};

/// Captures with IPv4 and IPv6 sources: root-mix (14 sources in one /24 and one /64, 4,279
/// queries) and ithi (5 sources in three IPv4 /16s and an IPv6 /48, 44 queries).
const FIXTURES: [&str; 2] = ["root-mix-v4v6.pcap", "ithi.pcap"];
/// The ipcrypt specification's first deterministic test key.
const KEY16: &str = "0123456789abcdeffedcba9876543210";
/// The ipcrypt specification's ipcrypt-pfx test key.
const KEY32: &str = "0123456789abcdeffedcba98765432101032547698badcfeefcdab8967452301";

/// Each query source of `fixture` with its number of queries, as tshark reads them.
fn tshark_sources(fixture: &str) -> Option<BTreeMap<IpAddr, u64>> {
    let o = Command::new("tshark")
        .arg("-r")
        .arg(pcaps().join(fixture))
        .args(["-Y", "dns.flags.response == 0 && !icmp && !icmpv6"])
        .args(["-T", "fields", "-e", "ip.src", "-e", "ipv6.src"])
        .output();
    let Ok(o) = o.map_err(|e| e.to_string()) else {
        cannot_run("tshark", "tshark missing: skipping the privacy tests");
        return None;
    };
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut m = BTreeMap::new();
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let field = line.split('\t').find(|f| !f.is_empty()).expect("a source");
        // The innermost address when tunnelled.
        let a: IpAddr = field
            .rsplit(',')
            .next()
            .expect("a field")
            .parse()
            .expect("an address");
        *m.entry(a).or_insert(0) += 1;
    }
    Some(m)
}

/// `a` masked to `len` bits, rendered as a prefix: std's integer forms, not dnsobs's code.
fn prefix(a: IpAddr, len: u32) -> String {
    match a {
        IpAddr::V4(a) => {
            let m = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            format!("{}/{len}", std::net::Ipv4Addr::from(u32::from(a) & m))
        }
        IpAddr::V6(a) => {
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            format!("{}/{len}", std::net::Ipv6Addr::from(u128::from(a) & m))
        }
    }
}

fn bytes(a: IpAddr) -> (u8, [u8; 16]) {
    let mut b = [0u8; 16];
    match a {
        IpAddr::V4(a) => {
            b[..4].copy_from_slice(&a.octets());
            (4, b)
        }
        IpAddr::V6(a) => (6, a.octets()),
    }
}

fn replay(fixture: &str, out: &Path, flags: &[&str]) -> Output {
    Command::new(BIN)
        .args(["replay", "--format", "json", "--threads", "2", "--quiet"])
        .arg("--parquet-queries")
        .arg(out)
        .args(flags)
        .arg(pcaps().join(fixture))
        .output()
        .expect("dnsobs runs")
}

/// What one replay exported: the Parquet `source_prefix` values with their row counts, the
/// files' `dnsobs.source_prefix` metadata, and the JSON report's top-k source prefixes.
struct Run {
    rows: BTreeMap<String, u64>,
    meta: BTreeSet<String>,
    top: BTreeMap<String, (u64, u64)>,
    queries: u64,
}

fn run(fixture: &str, dir: &Path, name: &str, flags: &[&str]) -> Run {
    let out = dir.join(name);
    let o = replay(fixture, &out, flags);
    assert!(
        o.status.success(),
        "{fixture} {flags:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report: Value = serde_json::from_slice(&o.stdout).expect("JSON report");
    let (rows, meta) = read_queries(&out);
    let top = report["top_k"]["source_prefixes"]
        .as_array()
        .expect("source prefixes")
        .iter()
        .map(|r| {
            let k = r["prefix"].as_str().expect("prefix").to_owned();
            (
                k,
                (
                    r["count"].as_u64().expect("count"),
                    r["error"].as_u64().expect("error"),
                ),
            )
        })
        .collect();
    Run {
        rows,
        meta,
        top,
        queries: report["queries"].as_u64().expect("queries"),
    }
}

/// The per-query Parquet files under `out`: `source_prefix` values with their row counts, and
/// the files' `dnsobs.source_prefix` metadata.
fn read_queries(out: &Path) -> (BTreeMap<String, u64>, BTreeSet<String>) {
    let (mut rows, mut meta) = (BTreeMap::new(), BTreeSet::new());
    for f in parquet_files(out) {
        let r = SerializedFileReader::try_from(f.as_path()).expect("Parquet file");
        for kv in r
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .expect("metadata")
        {
            if kv.key == "dnsobs.source_prefix" {
                meta.insert(kv.value.clone().unwrap_or_default());
            }
        }
        for row in r.get_row_iter(None).expect("rows") {
            let row = row.expect("row");
            let (_, v) = row
                .get_column_iter()
                .find(|(n, _)| n.as_str() == "source_prefix")
                .expect("source_prefix column");
            let Field::Str(s) = v else {
                panic!("source_prefix is {v:?}")
            };
            *rows.entry(s.clone()).or_insert(0) += 1;
        }
    }
    (rows, meta)
}

fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).expect("directory").flatten() {
        let p = e.path();
        if p.is_dir() {
            v.extend(parquet_files(&p));
        } else if p.extension().is_some_and(|x| x == "parquet") {
            v.push(p);
        }
    }
    v
}

fn key_file(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, text).expect("key file written");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    p
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The report's top-k source prefixes are the 10 (the default k) most frequent of `want`, each
/// with its exact count (a small capture: no error).
fn assert_top(r: &Run, want: &BTreeMap<String, u64>, what: &str) {
    assert_eq!(r.top.len(), want.len().min(10), "{what}: top-k rows");
    for (k, (n, e)) in &r.top {
        assert_eq!((Some(n), *e), (want.get(k), 0), "{what}: top-k {k}");
    }
    let least = r.top.values().map(|(n, _)| *n).min().unwrap_or(0);
    let left_out = want.iter().filter(|(k, _)| !r.top.contains_key(*k));
    assert!(left_out.map(|(_, n)| *n).all(|n| n <= least), "{what}");
}

/// Sums `counts` by the key `f` gives each.
fn by<K: Ord>(counts: &BTreeMap<IpAddr, u64>, f: impl Fn(IpAddr) -> K) -> BTreeMap<K, u64> {
    let mut m = BTreeMap::new();
    for (a, n) in counts {
        *m.entry(f(*a)).or_insert(0) += n;
    }
    m
}

#[test]
fn truncation_lengths_follow_the_flags_in_parquet_and_topk() {
    let dir = Scratch::target("dnsobs-privacy-truncate");
    for fixture in FIXTURES {
        let Some(sources) = tshark_sources(fixture) else {
            return;
        };
        let total: u64 = sources.values().sum();
        // Defaults: /24 and /48, as before.
        let d = run(fixture, &dir, &format!("{fixture}-default"), &[]);
        let want = by(&sources, |a| prefix(a, if a.is_ipv4() { 24 } else { 48 }));
        assert_eq!(d.rows, want, "{fixture} default");
        assert_eq!(d.meta, BTreeSet::from(["IPv4 /24, IPv6 /48".to_owned()]));
        assert_eq!(d.queries, total, "{fixture}");
        for (v4, v6) in [(16, 32), (32, 128), (8, 64)] {
            let flags = [
                "--anon-v4-prefix",
                &v4.to_string(),
                "--anon-v6-prefix",
                &v6.to_string(),
            ];
            let r = run(fixture, &dir, &format!("{fixture}-{v4}-{v6}"), &flags);
            let want = by(&sources, |a| prefix(a, if a.is_ipv4() { v4 } else { v6 }));
            assert_eq!(r.rows, want, "{fixture} /{v4} /{v6}");
            assert_eq!(r.meta, BTreeSet::from([format!("IPv4 /{v4}, IPv6 /{v6}")]));
            assert_eq!(r.rows.values().sum::<u64>(), total);
            assert_top(&r, &want, &format!("{fixture} /{v4} /{v6}"));
        }
    }
}

#[test]
fn ipcrypt_maps_each_source_to_its_own_pseudonym() {
    let dir = Scratch::target("dnsobs-privacy-ipcrypt");
    let key = key_file(&dir, "key16", &format!("{KEY16}\n"), 0o600);
    let key = key.to_str().unwrap();
    let whole = Privacy::with_key(Mode::Ipcrypt, 32, 128, &hex(KEY16), Path::new("k")).unwrap();
    let site = Privacy::with_key(Mode::Ipcrypt, 24, 48, &hex(KEY16), Path::new("k")).unwrap();
    for fixture in FIXTURES {
        let Some(sources) = tshark_sources(fixture) else {
            return;
        };
        let flags = ["--anon-mode", "ipcrypt", "--anon-key", key];
        let all = [
            &flags[..],
            &["--anon-v4-prefix", "32", "--anon-v6-prefix", "128"],
        ]
        .concat();
        let r = run(fixture, &dir, &format!("{fixture}-det32"), &all);
        // One pseudonym per source, with that source's count: the truncate /32 run's map,
        // each source encrypted by the wrapper.
        let plain = run(fixture, &dir, &format!("{fixture}-plain32"), &all[4..]);
        assert_eq!(
            plain.rows,
            by(&sources, |a| prefix(a, if a.is_ipv4() { 32 } else { 128 }))
        );
        let want = by(&sources, |a| {
            let (v, b) = bytes(a);
            whole.render(v, &b)
        });
        assert_eq!(r.rows, want, "{fixture}");
        assert_eq!(
            r.rows.len(),
            sources.len(),
            "{fixture}: distinct pseudonyms"
        );
        let mut counts: Vec<u64> = r.rows.values().copied().collect();
        let mut plain_counts: Vec<u64> = plain.rows.values().copied().collect();
        counts.sort_unstable();
        plain_counts.sort_unstable();
        assert_eq!(counts, plain_counts);
        // No row names a source in clear.
        for a in sources.keys() {
            assert!(!r.rows.keys().any(|k| k.contains(&a.to_string())), "{a}");
        }
        assert_eq!(
            r.meta,
            BTreeSet::from(["IPv4 /32, IPv6 /128, ipcrypt".to_owned()])
        );
        // At the default lengths: one pseudonym per /24 or /48, in Parquet and in the top-k.
        let r = run(fixture, &dir, &format!("{fixture}-det24"), &flags);
        let want = by(&sources, |a| {
            let (v, b) = bytes(a);
            site.render(v, &b)
        });
        assert_eq!(r.rows, want, "{fixture} /24 /48");
        assert_top(&r, &want, fixture);
    }
}

/// Length of the common prefix of two addresses of one version, in bits.
fn common_bits(a: IpAddr, b: IpAddr) -> u32 {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a) ^ u32::from(b)).leading_zeros(),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a) ^ u128::from(b)).leading_zeros(),
        _ => 0,
    }
}

#[test]
fn ipcrypt_pfx_preserves_shared_prefixes() {
    let dir = Scratch::target("dnsobs-privacy-pfx");
    let key = key_file(&dir, "key32", &format!("{KEY32}\n"), 0o600);
    let key = key.to_str().unwrap();
    let whole = Privacy::with_key(Mode::IpcryptPfx, 32, 128, &hex(KEY32), Path::new("k")).unwrap();
    for fixture in FIXTURES {
        let Some(sources) = tshark_sources(fixture) else {
            return;
        };
        let flags = ["--anon-mode", "ipcrypt-pfx", "--anon-key", key];
        let all = [
            &flags[..],
            &["--anon-v4-prefix", "32", "--anon-v6-prefix", "128"],
        ]
        .concat();
        let r = run(fixture, &dir, &format!("{fixture}-pfx32"), &all);
        let enc = |a: IpAddr| {
            let (v, b) = bytes(a);
            whole.render(v, &b)
        };
        assert_eq!(r.rows, by(&sources, enc), "{fixture}");
        assert_eq!(r.rows.len(), sources.len());
        // Every pair of sources shares exactly as many leading bits as their encryptions.
        let out = |a: IpAddr| -> IpAddr {
            let s = enc(a);
            s.split('/').next().unwrap().parse().unwrap()
        };
        let mut pairs = 0;
        for a in sources.keys() {
            for b in sources
                .keys()
                .filter(|b| *b > a && b.is_ipv4() == a.is_ipv4())
            {
                assert_eq!(
                    common_bits(out(*a), out(*b)),
                    common_bits(*a, *b),
                    "{a} {b}"
                );
                pairs += 1;
            }
        }
        assert!(pairs >= 6, "{fixture}: {pairs} pairs");
        // /16 and /56: the encrypted addresses truncated, one row per encrypted prefix.
        let l = ["--anon-v4-prefix", "16", "--anon-v6-prefix", "56"];
        let r = run(
            fixture,
            &dir,
            &format!("{fixture}-pfx16"),
            &[&flags[..], &l].concat(),
        );
        let want = by(&sources, |a| {
            prefix(out(a), if a.is_ipv4() { 16 } else { 56 })
        });
        assert_eq!(r.rows, want, "{fixture} /16 /56");
        assert_eq!(
            by(&sources, |a| prefix(a, if a.is_ipv4() { 16 } else { 56 })).len(),
            want.len()
        );
        assert_top(&r, &want, fixture);
        assert_eq!(
            r.meta,
            BTreeSet::from(["IPv4 /16, IPv6 /56, ipcrypt-pfx".to_owned()])
        );
    }
}

#[test]
fn bad_keys_and_lengths_are_refused() {
    let dir = Scratch::target("dnsobs-privacy-refused");
    let fixture = "ithi.pcap";
    let refused = |flags: &[&str], want: &[&str]| {
        let out = dir.join("refused");
        let o = replay(fixture, &out, flags);
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{flags:?} accepted");
        for w in want {
            assert!(e.contains(w), "{flags:?}: {e}");
        }
        assert!(!out.exists(), "{flags:?} wrote {}", out.display());
    };
    let open = key_file(&dir, "open", &format!("{KEY16}\n"), 0o644);
    let open = open.to_str().unwrap();
    refused(
        &["--anon-mode", "ipcrypt", "--anon-key", open],
        &[open, "mode 644"],
    );
    let group = key_file(&dir, "group", &format!("{KEY16}\n"), 0o640);
    let group = group.to_str().unwrap();
    refused(
        &["--anon-mode", "ipcrypt", "--anon-key", group],
        &[group, "mode 640"],
    );
    let short = key_file(&dir, "short", "0123456789abcde", 0o600);
    let short = short.to_str().unwrap();
    refused(
        &["--anon-mode", "ipcrypt", "--anon-key", short],
        &[short, "exactly 16 bytes", "has 15 bytes"],
    );
    let k16 = key_file(&dir, "k16", &format!("{KEY16}\n"), 0o600);
    let k16 = k16.to_str().unwrap();
    refused(
        &["--anon-mode", "ipcrypt-pfx", "--anon-key", k16],
        &[k16, "exactly 32 bytes, or 64 hex digits"],
    );
    refused(
        &["--anon-mode", "ipcrypt"],
        &["mode ipcrypt needs a key file (--anon-key)"],
    );
    refused(
        &["--anon-key", k16],
        &["--anon-key is set but mode truncate"],
    );
    refused(&["--anon-v4-prefix", "7"], &["--anon-v4-prefix", "7"]);
    refused(&["--anon-v6-prefix", "129"], &["--anon-v6-prefix", "129"]);
    refused(&["--anon-mode", "secret"], &["--anon-mode", "ipcrypt-pfx"]);
    // The same key file with owner-only access is accepted.
    let r = run(
        fixture,
        &dir,
        "ok",
        &["--anon-mode", "ipcrypt", "--anon-key", k16],
    );
    assert_eq!(r.rows.values().sum::<u64>(), 44);
}

#[test]
fn check_config_refuses_bad_privacy() {
    let dir = Scratch::target("dnsobs-privacy-config");
    let open = key_file(&dir, "open", &format!("{KEY32}\n"), 0o604);
    let ok = key_file(&dir, "ok", &format!("{KEY32}\n"), 0o600);
    let check = |text: &str| {
        let f = dir.join("dnsobs.toml");
        std::fs::write(&f, text).unwrap();
        let o = Command::new(BIN)
            .arg("check-config")
            .arg(&f)
            .output()
            .unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let section = |mode: &str, key: &Path| {
        format!(
            "[privacy]\nmode = \"{mode}\"\nkey_file = \"{}\"\nipv4_prefix = 20\n",
            key.display()
        )
    };
    let (good, e) = check(&section("ipcrypt-pfx", &ok));
    assert!(good, "{e}");
    let (good, e) = check(&section("ipcrypt-pfx", &open));
    assert!(
        !good && e.contains("privacy.key_file") && e.contains("mode 604"),
        "{e}"
    );
    let (good, e) = check(&section("ipcrypt", &ok));
    assert!(!good && e.contains("exactly 16 bytes"), "{e}");
    let (good, e) = check("[privacy]\nipv6_prefix = 8\n");
    assert!(
        !good && e.contains("key `privacy.ipv6_prefix`: 8 is outside 16..=128"),
        "{e}"
    );
}

#[test]
fn merge_encrypts_the_top_k_of_day_states() {
    let dir = Scratch::target("dnsobs-privacy-merge");
    let fleet = key_file(&dir, "fleet.key", "0123456789abcdef0123456789abcdef", 0o600);
    let key = key_file(&dir, "key32", &format!("{KEY32}\n"), 0o600);
    let states = dir.join("states");
    let fixture = "root-mix-v4v6.pcap";
    let Some(sources) = tshark_sources(fixture) else {
        return;
    };
    let flags = ["--anon-v4-prefix", "28", "--anon-v6-prefix", "120"];
    let state_flags = [
        "--state-dir",
        states.to_str().unwrap(),
        "--state-key",
        fleet.to_str().unwrap(),
    ];
    run(
        fixture,
        &dir,
        "replay",
        &[&flags[..], &state_flags].concat(),
    );
    let merge = |extra: &[&str]| -> BTreeMap<String, u64> {
        let o = Command::new(BIN)
            .args(["merge", "--format", "json"])
            .args(extra)
            .arg(&states)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        v["top_k"]["source_prefixes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["prefix"].as_str().unwrap().to_owned(),
                    r["count"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    // In clear: the /28 and /120 prefixes of the sources, as the states were written.
    let plain = merge(&[]);
    let want = by(&sources, |a| prefix(a, if a.is_ipv4() { 28 } else { 120 }));
    assert_eq!(plain.len(), want.len().min(10));
    for (k, n) in &plain {
        assert_eq!(want.get(k), Some(n), "{k}");
    }
    // Encrypted at those lengths with ipcrypt-pfx: the wrapper's encryption of each prefix.
    let pfx = Privacy::with_key(Mode::IpcryptPfx, 28, 120, &hex(KEY32), Path::new("k")).unwrap();
    let enc = merge(&[
        "--anon-mode",
        "ipcrypt-pfx",
        "--anon-key",
        key.to_str().unwrap(),
    ]);
    let want_enc: BTreeMap<String, u64> = plain
        .iter()
        .map(|(k, n)| {
            let a: IpAddr = k.split('/').next().unwrap().parse().unwrap();
            let (v, b) = bytes(a);
            (pfx.render(v, &b), *n)
        })
        .collect();
    assert_eq!(enc, want_enc);
    assert!(enc.keys().all(|k| !plain.contains_key(k)));
}

/// The daemon with `[privacy]` ipcrypt-pfx at /16 and /56: its per-query Parquet rows and its
/// `/metrics` top-k source prefixes are the wrapper's encryptions of the capture's sources.
#[test]
fn daemon_applies_its_privacy_section() {
    if !crate::util::netns::available(&["ip", "tcpreplay"]) {
        return;
    }
    let fixture = "root-mix-v4v6.pcap";
    let Some(sources) = tshark_sources(fixture) else {
        return;
    };
    let dir = Scratch::tmp("dnsobs-privacy-daemon");
    let key = key_file(&dir, "privacy.key", &format!("{KEY32}\n"), 0o600);
    let sections = format!(
        "[export.parquet]\nqueries_directory = \"{}/queries\"\nnode = \"live\"\n\
         [privacy]\nmode = \"ipcrypt-pfx\"\nipv4_prefix = 16\nipv6_prefix = 56\n\
         key_file = \"{}\"\n",
        dir.display(),
        key.display()
    );
    let mut ns = Netns::new("pv");
    let pid = start_in(&mut ns, &dir, &Config::cap0(2, PORT).sections(&sections));
    ns.replay(&pcaps().join(fixture), 5000);
    let body = settled_packets(&ns, PORT, 60).unwrap_or_else(|last| last);
    signal(pid, libc::SIGTERM);
    let st = ns.wait(pid, std::time::Duration::from_secs(15));
    let log = std::fs::read_to_string(dir.join("dnsobs.log")).unwrap_or_default();
    assert!(st.is_some_and(|s| s.success()), "{log}");
    let pfx = Privacy::with_key(Mode::IpcryptPfx, 16, 56, &hex(KEY32), Path::new("k")).unwrap();
    let want = by(&sources, |a| {
        let (v, b) = bytes(a);
        pfx.render(v, &b)
    });
    let (rows, meta) = read_queries(&dir.join("queries"));
    assert_eq!(rows, want);
    assert_eq!(
        meta,
        BTreeSet::from(["IPv4 /16, IPv6 /56, ipcrypt-pfx".to_owned()])
    );
    let top: BTreeMap<String, u64> = samples(&body)
        .into_iter()
        .filter_map(|(series, v)| {
            let p = series.strip_prefix("dnsobs_top_source_prefix_queries{prefix=\"")?;
            Some((p.strip_suffix("\"}")?.to_owned(), v as u64))
        })
        .collect();
    assert_eq!(top, want);
    drop(ns);
}
