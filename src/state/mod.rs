//! Day state: everything mergeable of one node's UTC day, written to a file that a central
//! site merges with other nodes' (`dnsobs merge`, `dnsobs rssac002 --from-state`).
//!
//! Data flow: the aggregate's days ([`crate::aggregate::state`]) → pseudonymised sources
//! ([`key`]) → a versioned, checksummed file ([`file`]); and back: files → one merged
//! [`Aggregate`] that every report exporter reads as it reads a replay's.

pub mod file;
pub mod key;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::aggregate::Aggregate;
use crate::aggregate::sources::DEFAULT_DAY_CAP;
use crate::aggregate::state::AggregateState;
use crate::capture::file::FileKind;
use crate::snapshot::{FileSummary, ReplayInput, Snapshot};

pub use file::{DayFile, Meta, StateError};
pub use key::{FleetKey, KeyError};

/// File name suffix of state files.
pub const SUFFIX: &str = ".dnsobs-state";

/// The file name of `node`'s state of `day`: `NODE.YYYY-MM-DD.dnsobs-state`.
pub fn file_name(node: &str, day: u32) -> String {
    format!("{node}.{}{SUFFIX}", crate::time::date(day))
}

/// Replaces every source in `s` by its pseudonym under `key`.
pub fn pseudonymise(s: &mut AggregateState, key: &FleetKey) {
    for d in &mut s.rssac002.days {
        let src = &mut d.sources;
        src.v4.iter_mut().for_each(|a| *a = key.ipv4(*a));
        src.v6.iter_mut().for_each(|f| *f = key.ipv6(*f));
        src.v6_64.iter_mut().for_each(|p| *p = key.ipv6_64(*p));
        // The file sorts the lists: they do not tell the order the sets held them in.
    }
    // The geography's cached sources are keyed by their hash: pseudonymised the same way (a
    // bijection of 64-bit values, so sources stay distinct and match across instances).
    if let Some(g) = &mut s.geo {
        g.sources.iter_mut().for_each(|e| e.0 = key.ipv6(e.0));
    }
}

/// Writes day state files for one node.
#[derive(Debug)]
pub struct Writer {
    dir: PathBuf,
    node: String,
    key: FleetKey,
    /// Root of the fleet Parquet tables, if they are written too.
    parquet: Option<PathBuf>,
}

impl Writer {
    /// A writer into `dir` (created if missing) for `node` with the fleet `key`.
    pub fn new(dir: &Path, node: &str, key: FleetKey) -> Result<Self, StateError> {
        std::fs::create_dir_all(dir).map_err(|error| StateError::Io {
            path: dir.to_owned(),
            error,
        })?;
        Ok(Self {
            dir: dir.to_owned(),
            node: node.to_owned(),
            key,
            parquet: None,
        })
    }

    /// Also writes each day as the fleet Parquet tables under `root`
    /// ([`crate::export::parquet::day`]).
    pub fn with_parquet(mut self, root: Option<PathBuf>) -> Self {
        self.parquet = root;
        self
    }

    /// Writes `agg`, the figures of `day` alone, atomically; `complete` once the day is over.
    pub fn write(
        &self,
        day: u32,
        agg: &mut Aggregate,
        complete: bool,
    ) -> Result<PathBuf, StateError> {
        let path = self.dir.join(file_name(&self.node, day));
        let mut state = agg.state();
        pseudonymise(&mut state, &self.key);
        if let Some(root) = &self.parquet {
            crate::export::parquet::day::write_day(root, &self.node, day, &state)?;
        }
        let f = DayFile {
            meta: Meta {
                node: self.node.clone(),
                day,
                key_id: self.key.id,
                writer: format!("dnsobs {}", env!("CARGO_PKG_VERSION")),
                written_unix: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
                complete,
            },
            agg: state,
        };
        let bytes = file::encode(f).map_err(|reason| StateError::Bad {
            path: path.clone(),
            offset: 0,
            reason,
        })?;
        file::write_atomic(&path, &bytes)?;
        Ok(path)
    }
}

/// Why states could not be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A file could not be read.
    #[error(transparent)]
    State(#[from] StateError),
    /// A directory could not be listed.
    #[error("{}: {error}", path.display())]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The error (in the message, not chained, so that it is printed once).
        error: std::io::Error,
    },
    /// Nothing to merge.
    #[error("no state files (*{SUFFIX}) in {0}")]
    Empty(String),
    /// Sources pseudonymised under another key.
    #[error(
        "{}: written with another fleet key (id {found:016x}) than {} (id {expected:016x}): their sources cannot be compared",
        path.display(),
        first.display()
    )]
    Key {
        /// The file.
        path: PathBuf,
        /// Its key id.
        found: u64,
        /// The first file read.
        first: PathBuf,
        /// Its key id.
        expected: u64,
    },
    /// The figures do not fit together.
    #[error("{}: {reason}", path.display())]
    Figures {
        /// The file.
        path: PathBuf,
        /// What does not fit.
        reason: String,
    },
}

/// The state files named by `paths` (files, or directories searched recursively for
/// `*.dnsobs-state`), sorted by path.
pub fn find(paths: &[PathBuf]) -> Result<Vec<PathBuf>, MergeError> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), MergeError> {
        let err = |error| MergeError::Dir {
            path: dir.to_owned(),
            error,
        };
        for e in std::fs::read_dir(dir).map_err(err)? {
            let p = e.map_err(err)?.path();
            if p.is_dir() {
                walk(&p, out)?;
            } else if p.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                n.ends_with(SUFFIX) && !n.starts_with('.')
            }) {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    out.sort();
    out.dedup();
    if out.is_empty() {
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(MergeError::Empty(names.join(", ")));
    }
    Ok(out)
}

/// The states of a merge, one per node and day.
#[derive(Debug, Default)]
pub struct Loaded {
    /// `(path, state)`, by day then node.
    pub files: Vec<(PathBuf, DayFile)>,
    /// Files left out, each with why (a node's day given twice).
    pub skipped: Vec<(PathBuf, String)>,
    /// Time spent reading.
    pub elapsed: Duration,
}

/// Reads the state files of `paths`: every file must carry the first file's key id; a node's day given twice counts once (the copy written last, the other
/// skipped with a note).
pub fn load(paths: &[PathBuf]) -> Result<Loaded, MergeError> {
    let start = Instant::now();
    let mut by_day: BTreeMap<(u32, String), (PathBuf, DayFile)> = BTreeMap::new();
    let mut skipped = Vec::new();
    let mut expected: Option<(u64, PathBuf)> = None;
    for path in find(paths)? {
        let f = file::read(&path)?;
        let (want, first) = expected.get_or_insert_with(|| (f.meta.key_id, path.clone()));
        if f.meta.key_id != *want {
            return Err(MergeError::Key {
                found: f.meta.key_id,
                first: first.clone(),
                expected: *want,
                path,
            });
        }
        let k = (f.meta.day, f.meta.node.clone());
        match by_day.remove(&k) {
            None => {
                by_day.insert(k, (path, f));
            }
            Some((old_path, old)) => {
                let (keep, drop) = if f.meta.written_unix >= old.meta.written_unix {
                    ((path, f), old_path)
                } else {
                    ((old_path, old), path)
                };
                let why = format!(
                    "node {} day {} again (also in {}): counted once",
                    k.1,
                    crate::time::date(k.0),
                    keep.0.display()
                );
                skipped.push((drop, why));
                by_day.insert(k, keep);
            }
        }
    }
    Ok(Loaded {
        files: by_day.into_values().collect(),
        skipped,
        elapsed: start.elapsed(),
    })
}

impl Loaded {
    /// One aggregate of every state: counters added, source sets united (exactly: the cap is
    /// raised to hold every source given), sketches merged.
    pub fn merge(&self) -> Result<Aggregate, MergeError> {
        let Some((_, first)) = self.files.first() else {
            return Err(MergeError::Empty(String::new()));
        };
        // Room for the sum of every file's sources of a kind: the union is never capped.
        let total: usize = self
            .files
            .iter()
            .flat_map(|(_, f)| &f.agg.rssac002.days)
            .map(|d| {
                d.sources
                    .v4
                    .len()
                    .max(d.sources.v6.len())
                    .max(d.sources.v6_64.len())
            })
            .sum();
        let settings = first.agg.settings(total.max(DEFAULT_DAY_CAP));
        let mut agg = Aggregate::new(&settings);
        for (path, f) in &self.files {
            agg.merge_state(&f.agg)
                .map_err(|reason| MergeError::Figures {
                    path: path.clone(),
                    reason,
                })?;
        }
        Ok(agg)
    }

    /// The merged snapshot, for the report exporters: each state file is one "file" read.
    pub fn snapshot(&self) -> Result<Snapshot, MergeError> {
        let agg = self.merge()?;
        let files = self
            .files
            .iter()
            .map(|(path, f)| FileSummary {
                path: path.clone(),
                kind: FileKind::State,
                compression: "zstd",
                link_types: Vec::new(),
                records: f.agg.frames,
                first_ns: (f.agg.frames > 0).then_some(f.agg.first_ns),
                last_ns: (f.agg.frames > 0).then_some(f.agg.last_ns),
                warning: None,
                elapsed: Duration::ZERO,
            })
            .collect();
        let skipped = self
            .skipped
            .iter()
            .map(|(path, reason)| crate::snapshot::SkippedFile {
                path: path.clone(),
                reason: reason.clone(),
                problem: false,
            })
            .collect();
        Ok(Snapshot::replay(
            agg,
            ReplayInput {
                files,
                elapsed: self.elapsed,
                threads: 1,
                skipped,
            },
        ))
    }
}
