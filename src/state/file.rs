//! The day state file format: a fixed header, then a zstd-compressed postcard encoding of
//! [`DayFile`], checksummed.
//!
//! ```text
//! 0   8  magic "DNSOBSst"
//! 8   4  format version, little endian (FORMAT)
//! 12  4  flags (0)
//! 16  8  payload length in bytes
//! 24  8  XXH64 (seed 0) of the payload
//! 32  …  payload: zstd frame of postcard(DayFile), then postcard(Trailer)
//! ```
//!
//! postcard is compact and needs no schema beside the Rust types, which is why the format
//! version must change whenever [`DayFile`] does: a reader refuses any other version instead of
//! misreading it. Files are written to a temporary name, synced, then renamed (atomic).
//!
//! The [`Trailer`] after the day file was added within format 2 (postcard has no optional
//! fields, and a field added to [`DayFile`] would make every earlier file unreadable): it holds
//! what the day's figures gained since, the geography's per-interval counters. A file written
//! before has no trailer (read as empty); a reader from before stops after the day file and
//! ignores it.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::aggregate::state::AggregateState;

/// First bytes of every state file.
pub const MAGIC: &[u8; 8] = b"DNSOBSst";
/// The format version written and the only one read.
pub const FORMAT: u32 = 2;
/// Header bytes.
const HEADER: usize = 32;
/// zstd level: the payload is mostly sorted-free integers; 3 is fast and within a few percent
/// of 19 on them.
const LEVEL: i32 = 3;
/// Largest payload read (a day of 3 × 2^24 sources is under 400 MiB).
const MAX_PAYLOAD: u64 = 4 << 30;

/// What a state file says about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// The instance that wrote it.
    pub node: String,
    /// The UTC day (days since 1970-01-01).
    pub day: u32,
    /// Id of the fleet key the sources were pseudonymised with.
    pub key_id: u64,
    /// dnsobs version that wrote it.
    pub writer: String,
    /// When it was written (seconds since the epoch).
    pub written_unix: u64,
    /// False while the day may still grow (the daemon's refreshes of the current day).
    pub complete: bool,
}

/// One node's day: what it says about itself and its figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DayFile {
    /// Identity.
    pub meta: Meta,
    /// The day's figures, sources pseudonymised.
    pub agg: AggregateState,
}

/// Why a state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading or writing failed.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error (in the message, not chained, so that it is printed once).
        error: std::io::Error,
    },
    /// Not a state file, or damaged.
    #[error("{}: at offset {offset}: {reason}", path.display())]
    Bad {
        /// The file.
        path: PathBuf,
        /// Where in the file.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The fleet Parquet tables could not be written.
    #[error(transparent)]
    Parquet(#[from] crate::export::parquet::ExportError),
    /// Written by another format version.
    #[error(
        "{}: state format version {found}, this dnsobs reads version {FORMAT} only",
        path.display()
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: u32,
    },
}

/// What follows the [`DayFile`] in the payload (see the module).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Trailer {
    /// [`crate::aggregate::geo::state::GeoState::intervals`], when the day has a geography.
    geo_intervals: Option<crate::aggregate::geo::interval::IntervalsState>,
}

/// Sorts every source list and replaces each value by its difference from the one before
/// (`forward`), or undoes that. Sorted, 10^6 random 32-bit pseudonyms are 2-byte gaps instead
/// of 5-byte varints: the files shrink by about a third (docs/fleet.md).
fn gaps(s: &mut AggregateState, forward: bool) {
    macro_rules! gaps {
        ($v:expr) => {{
            let v = $v;
            if forward {
                v.sort_unstable();
                for i in (1..v.len()).rev() {
                    v[i] -= v[i - 1];
                }
            } else {
                for i in 1..v.len() {
                    v[i] = v[i].wrapping_add(v[i - 1]);
                }
            }
        }};
    }
    for d in &mut s.rssac002.days {
        gaps!(&mut d.sources.v4);
        gaps!(&mut d.sources.v6);
        gaps!(&mut d.sources.v6_64);
    }
    if let Some(g) = &mut s.geo {
        let v = &mut g.sources;
        if forward {
            v.sort_unstable();
            for i in (1..v.len()).rev() {
                v[i].0 -= v[i - 1].0;
            }
        } else {
            for i in 1..v.len() {
                v[i].0 = v[i].0.wrapping_add(v[i - 1].0);
            }
        }
    }
}

/// Encodes `f` into the bytes of a state file.
pub fn encode(mut f: DayFile) -> Result<Vec<u8>, String> {
    gaps(&mut f.agg, true);
    let trailer = Trailer {
        geo_intervals: f.agg.geo.as_mut().map(|g| std::mem::take(&mut g.intervals)),
    };
    let mut raw = postcard::to_stdvec(&f).map_err(|e| format!("encoding the state: {e}"))?;
    raw = postcard::to_extend(&trailer, raw).map_err(|e| format!("encoding the state: {e}"))?;
    let payload = zstd::encode_all(&raw[..], LEVEL).map_err(|e| format!("compressing: {e}"))?;
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&twox_hash::XxHash64::oneshot(0, &payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Decodes the bytes of the state file `path`.
pub fn decode(path: &Path, bytes: &[u8]) -> Result<DayFile, StateError> {
    let bad = |offset: u64, reason: String| StateError::Bad {
        path: path.to_owned(),
        offset,
        reason,
    };
    let word = |at: usize| -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(b)
    };
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return Err(bad(
            0,
            "not a dnsobs state file (no DNSOBSst header)".into(),
        ));
    }
    let version = (word(8) & 0xFFFF_FFFF) as u32;
    if version != FORMAT {
        return Err(StateError::Version {
            path: path.to_owned(),
            found: version,
        });
    }
    let len = word(16);
    let have = (bytes.len() - HEADER) as u64;
    if len > MAX_PAYLOAD || len != have {
        return Err(bad(
            16,
            format!("the header announces {len} payload bytes, the file holds {have}"),
        ));
    }
    let payload = &bytes[HEADER..];
    if twox_hash::XxHash64::oneshot(0, payload) != word(24) {
        return Err(bad(24, "checksum mismatch: the file is damaged".into()));
    }
    let raw = zstd::decode_all(payload).map_err(|e| bad(HEADER as u64, format!("zstd: {e}")))?;
    let decoding = |e| bad(HEADER as u64, format!("decoding: {e}"));
    let (mut f, rest): (DayFile, _) = postcard::take_from_bytes(&raw).map_err(decoding)?;
    if !rest.is_empty() {
        let t: Trailer = postcard::from_bytes(rest).map_err(decoding)?;
        if let (Some(g), Some(i)) = (&mut f.agg.geo, t.geo_intervals) {
            g.intervals = i;
        }
    }
    gaps(&mut f.agg, false);
    Ok(f)
}

/// Reads a state file.
pub fn read(path: &Path) -> Result<DayFile, StateError> {
    let bytes = std::fs::read(path).map_err(|error| StateError::Io {
        path: path.to_owned(),
        error,
    })?;
    decode(path, &bytes)
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, synced, renamed over it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let io = |error| StateError::Io {
        path: path.to_owned(),
        error,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let r = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // The rename itself survives a crash once the directory is synced.
        std::fs::File::open(dir)?.sync_all()
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r.map_err(io)
}

#[cfg(test)]
mod test {
    use super::*;

    fn sample() -> DayFile {
        DayFile {
            meta: Meta {
                node: "lax1".into(),
                day: 20_000,
                key_id: 7,
                writer: "test".into(),
                written_unix: 1,
                complete: true,
            },
            agg: AggregateState {
                frames: 12,
                qtypes: vec![(1, 5), (28, 7)],
                rssac002: crate::aggregate::rssac002::Rssac002State {
                    days: vec![crate::aggregate::rssac002::DayState {
                        sources: crate::aggregate::sources::DaySourcesState {
                            v4: vec![3, 9, u32::MAX, 0, 7],
                            v6: vec![u64::MAX, 1, 5],
                            v6_64: vec![2],
                            overflow: [0; 3],
                        },
                        ..Default::default()
                    }],
                    ..Default::default()
                },
                ..AggregateState::default()
            },
        }
    }

    #[test]
    fn round_trip_and_damage() {
        let p = Path::new("x.dnsobs-state");
        let bytes = encode(sample()).unwrap();
        let mut want = sample();
        want.agg.rssac002.days[0].sources.v4.sort_unstable();
        want.agg.rssac002.days[0].sources.v6.sort_unstable();
        assert_eq!(decode(p, &bytes).unwrap(), want);
        // Any flipped payload byte is caught by the checksum.
        for i in [HEADER, bytes.len() / 2, bytes.len() - 1] {
            let mut b = bytes.clone();
            b[i] ^= 0x40;
            let e = decode(p, &b).unwrap_err().to_string();
            assert!(e.contains("x.dnsobs-state: at offset 24: checksum"), "{e}");
        }
        let e = decode(p, &bytes[..bytes.len() - 3])
            .unwrap_err()
            .to_string();
        assert!(e.contains("offset 16") && e.contains("announces"), "{e}");
        let mut b = bytes.clone();
        b[8] = 9;
        let e = decode(p, &b).unwrap_err().to_string();
        assert!(e.contains("version 9"), "{e}");
        let e = decode(p, b"PK\x03\x04 not a state file at all, no").unwrap_err();
        assert!(e.to_string().contains("not a dnsobs state file"), "{e}");
    }

    /// The geography's intervals travel in the trailer; a file without one (written before it
    /// existed) reads with none, and a reader that stops after the day file reads a new file.
    #[test]
    fn geography_intervals_in_the_trailer() {
        use crate::aggregate::geo::interval::{IntervalCounts, IntervalRow, IntervalsState};
        use crate::aggregate::geo::state::GeoState;
        let p = Path::new("x.dnsobs-state");
        let intervals = IntervalsState {
            interval_seconds: 60,
            rows: vec![IntervalRow {
                start_ns: 120_000_000_000,
                country: 27,
                counts: IntervalCounts {
                    queries: 5,
                    queries_do: 2,
                    ..Default::default()
                },
            }],
            evicted_intervals: 1,
        };
        let mut f = sample();
        f.agg.geo = Some(GeoState {
            max_asns: 9,
            intervals: intervals.clone(),
            ..Default::default()
        });
        let bytes = encode(f.clone()).unwrap();
        let back = decode(p, &bytes).unwrap();
        assert_eq!(
            back.agg.geo.as_ref().map(|g| &g.intervals),
            Some(&intervals)
        );
        // The payload as a reader from before the trailer sees it: the day file, then bytes it
        // never reads.
        let raw = zstd::decode_all(&bytes[HEADER..]).unwrap();
        let old: DayFile = postcard::from_bytes(&raw).unwrap();
        assert_eq!(old.agg.geo.as_ref().map(|g| g.max_asns), Some(9));
        assert_eq!(old.agg.geo.map(|g| g.intervals), Some(Default::default()));
        // A file as written before: no trailer.
        let mut g = f.clone();
        gaps(&mut g.agg, true);
        let payload = zstd::encode_all(&postcard::to_stdvec(&g).unwrap()[..], LEVEL).unwrap();
        let mut before = bytes[..HEADER].to_vec();
        before[16..24].copy_from_slice(&(payload.len() as u64).to_le_bytes());
        before[24..32].copy_from_slice(&twox_hash::XxHash64::oneshot(0, &payload).to_le_bytes());
        before.extend_from_slice(&payload);
        let back = decode(p, &before).unwrap();
        let geo = back.agg.geo.expect("geo");
        assert_eq!((geo.max_asns, geo.intervals), (9, Default::default()));
    }
}
