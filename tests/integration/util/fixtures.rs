//! Fixtures: their paths, replaying one, its oracle, and decoding one frame by frame.

use std::path::{Path, PathBuf};

use dnsobs::capture::Packet;
use dnsobs::capture::file::Reader;
use dnsobs::decode::{self, Decoder};
use serde_json::Value;

/// The project's `pcaps/` directory.
pub fn pcaps() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("pcaps")
}

/// Replays a fixture with `threads` workers and returns the JSON report.
pub fn report(name: &str, threads: usize) -> Value {
    let r = dnsobs::pipeline::replay_file(&pcaps().join(name), threads).expect("fixture opens");
    dnsobs::export::report::json(&r)
}

/// The oracle JSON of a fixture.
pub fn oracle(name: &str) -> Value {
    let stem = name.split('.').next().unwrap_or(name);
    let text = std::fs::read_to_string(pcaps().join(format!("{stem}.oracle.json")))
        .expect("oracle exists");
    serde_json::from_str(&text).expect("oracle is JSON")
}

/// Drops zero entries of maps (the oracle comparison ignores them, as compare_oracle.py does).
pub fn norm(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, x)| !matches!(x, Value::Number(n) if n.as_u64() == Some(0)))
                .map(|(k, x)| (k.clone(), norm(x)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Compares every oracle key except those describing the file, the oracle itself and
/// `malformed` (tshark's verdict is partial: see malformed.rs). Returns the mismatches.
pub fn mismatches(oracle: &Value, report: &Value) -> Vec<String> {
    let skip = ["file", "oracle", "notes", "malformed", "generator", "seed"];
    let mut bad = Vec::new();
    for (k, want) in oracle.as_object().expect("oracle is an object") {
        if skip.contains(&k.as_str()) {
            continue;
        }
        let got = report.get(k).cloned().unwrap_or(Value::Null);
        if norm(want) != norm(&got) {
            bad.push(format!("{k}: oracle {want} | dnsobs {got}"));
        }
    }
    bad
}

/// Decodes every frame of `fixture` with `workers` decoders (default settings), each frame by
/// the decoder its `shard_hash` picks, as the pipeline shards: `feed(worker, decoder, frame)`
/// decodes it into whatever sink the caller keeps for that worker.
pub fn decode_sharded(
    fixture: &str,
    workers: usize,
    mut feed: impl FnMut(usize, &mut Decoder, &Packet<'_>),
) {
    let mut r = Reader::open(&pcaps().join(fixture)).expect("fixture opens");
    let settings = decode::Settings::default();
    let mut decoders: Vec<Decoder> = (0..workers).map(|_| Decoder::new(&settings)).collect();
    while let Some(p) = r.next().expect("fixture reads") {
        let w = (decode::shard_hash(&p) % workers as u64) as usize;
        feed(w, &mut decoders[w], &p);
    }
}
