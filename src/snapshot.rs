//! The published snapshot: merged counters and the facts about their input, the one thing
//! every exporter reads.
//!
//! A replay produces one [`Snapshot`] at its end; the daemon's merger publishes a new one at
//! each flush into [`Published`] (a pointer swap: a scrape takes the current `Arc` and renders
//! it while the merger goes on, so neither waits for the other and no worker ever waits for
//! either). Exporters (`export::*`) are functions of a `&Snapshot` and nothing else.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::aggregate::Aggregate;
use crate::capture::LinkType;
use crate::capture::dnstap;
use crate::capture::file::FileKind;

/// Merged counters and where they come from.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// Every counter, merged over the workers.
    pub agg: Aggregate,
    /// What was read, or the daemon's state.
    pub input: Input,
    /// How exports render source addresses (the top-k source prefixes; default: /24 and /48
    /// truncation).
    pub privacy: crate::privacy::Privacy,
}

/// Where a snapshot's counters come from.
#[derive(Clone, Debug)]
pub enum Input {
    /// Capture files (`replay`, `rssac002`, `ithi`).
    Replay(ReplayInput),
    /// The live daemon (`run`).
    Daemon(Box<DaemonStatus>),
}

/// The facts of a replay.
#[derive(Clone, Debug, Default)]
pub struct ReplayInput {
    /// Per-file facts, in the order read.
    pub files: Vec<FileSummary>,
    /// Wall-clock time of reading and decoding.
    pub elapsed: Duration,
    /// Worker threads used.
    pub threads: usize,
    /// Files left out: found in a directory but no capture or unreadable, outside
    /// `--since`/`--until`, or gone when their turn came.
    pub skipped: Vec<SkippedFile>,
}

/// A file left out of a replay.
#[derive(Clone, Debug)]
pub struct SkippedFile {
    /// The file.
    pub path: PathBuf,
    /// Why, in words.
    pub reason: String,
    /// Whether it is a problem with the input (the replay is then partial) rather than a file
    /// left out on purpose (no capture, outside the window).
    pub problem: bool,
}

/// Two files of a replay whose time ranges overlap (captures of two instances given together,
/// rather than one capture rotated into files).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overlap {
    /// Index (in [`ReplayInput::files`]) of the earlier file.
    pub earlier: usize,
    /// Index of the later file, which starts before the earlier one ends.
    pub later: usize,
    /// By how much, in ns.
    pub by_ns: u64,
}

/// Overlaps shorter than this are ignored: packets of one capture can be a little out of
/// order around a rotation.
pub const OVERLAP_TOLERANCE_NS: u64 = 1_000_000_000;

impl ReplayInput {
    /// The files (in the order read, which is by first packet) that start more than
    /// [`OVERLAP_TOLERANCE_NS`] before an earlier file's last packet.
    pub fn overlaps(&self) -> Vec<Overlap> {
        let mut v = Vec::new();
        // The earlier file that ends last so far: (index, last packet).
        let mut reach: Option<(usize, u64)> = None;
        for (i, f) in self.files.iter().enumerate() {
            let (Some(first), Some(last)) = (f.first_ns, f.last_ns) else {
                continue;
            };
            if let Some((e, end)) = reach
                && end > first.saturating_add(OVERLAP_TOLERANCE_NS)
            {
                v.push(Overlap {
                    earlier: e,
                    later: i,
                    by_ns: end - first,
                });
            }
            if reach.is_none_or(|(_, end)| last > end) {
                reach = Some((i, last));
            }
        }
        v
    }
}

/// What was read from one file.
#[derive(Clone, Debug)]
pub struct FileSummary {
    /// Path as given.
    pub path: PathBuf,
    /// Format.
    pub kind: FileKind,
    /// Compression ("none", "gzip", "zstd", "xz", "lzma", "bzip2", "lz4").
    pub compression: &'static str,
    /// Link types declared.
    pub link_types: Vec<LinkType>,
    /// Records read.
    pub records: u64,
    /// Time of the first record read (inside the `--since`/`--until` window or not).
    pub first_ns: Option<u64>,
    /// Time of the last record read.
    pub last_ns: Option<u64>,
    /// A problem that stopped reading early (figures before it are kept).
    pub warning: Option<String>,
    /// Time spent reading (and, with one thread, decoding) this file.
    pub elapsed: Duration,
}

/// Capture health of one worker, as last reported.
#[derive(Clone, Debug, Default)]
pub struct CaptureHealth {
    /// Interface.
    pub iface: String,
    /// Worker index on that interface.
    pub worker: usize,
    /// Packets delivered to the worker.
    pub packets: u64,
    /// Dropped by the kernel (ring full), from `pcap_stats` `ps_drop`.
    pub kernel_drops: u64,
    /// Dropped by the interface or driver, `ps_ifdrop`.
    pub interface_drops: u64,
    /// Capture errors (interface down or gone, read failures).
    pub errors: u64,
    /// Whether the handle is open now.
    pub up: bool,
}

/// Counters of the daemon's file writers.
#[derive(Clone, Copy, Debug, Default)]
pub struct WriterCounts {
    /// RSSAC002 YAML files written.
    pub rssac002_files: u64,
    /// Failed attempts to write RSSAC002 files (directory missing, full or read-only).
    pub rssac002_errors: u64,
    /// Day state files written.
    pub state_files: u64,
    /// Failed day state writes.
    pub state_errors: u64,
    /// Per-interval Parquet files written.
    pub parquet_files: u64,
    /// Failed Parquet writes (either table).
    pub parquet_errors: u64,
    /// Per-query Parquet files completed.
    pub parquet_query_files: u64,
    /// Failed per-query Parquet writes.
    pub parquet_query_errors: u64,
    /// Per-query rows written to Parquet.
    pub parquet_query_rows: u64,
    /// Per-query rows dropped because the writer was behind.
    pub parquet_query_rows_dropped: u64,
}

/// Counters of the metrics endpoint's security (`[export] web_config`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpCounts {
    /// Requests refused for want of credentials, by [`AuthFailure`] (index).
    pub auth_failures: [u64; AuthFailure::ALL.len()],
    /// TLS connections that never completed their handshake, by [`TlsFailure`] (index).
    pub tls_failures: [u64; TlsFailure::ALL.len()],
}

/// Why a request was refused by basic authentication (the label `reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization` header: 401.
    Missing = 0,
    /// Not `Basic` with base64 of `user:password` in UTF-8: 401.
    Malformed,
    /// Unknown user or wrong password: 401.
    Wrong,
    /// Every password check slot stayed busy (a flood of logins): 503.
    Busy,
}

impl AuthFailure {
    /// Every reason, in label order.
    pub const ALL: [Self; 4] = [Self::Missing, Self::Malformed, Self::Wrong, Self::Busy];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::Wrong => "wrong",
            Self::Busy => "busy",
        }
    }
}

/// Why a TLS handshake failed (the label `reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsFailure {
    /// Not completed within `export.header_read_timeout_seconds` (a stalled client).
    Timeout = 0,
    /// The client spoke something other than TLS (plain HTTP gets a 400 and is closed).
    NotTls,
    /// Refused by TLS: no shared version or cipher, a client certificate missing or not
    /// trusted, a broken message, or the client closed.
    Error,
}

impl TlsFailure {
    /// Every reason, in label order.
    pub const ALL: [Self; 3] = [Self::Timeout, Self::NotTls, Self::Error];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::NotTls => "not_tls",
            Self::Error => "error",
        }
    }
}

/// The daemon's state beside its counters.
#[derive(Clone, Debug, Default)]
pub struct DaemonStatus {
    /// One entry per capture (or dnstap) worker.
    pub health: Vec<CaptureHealth>,
    /// Counters of the dnstap input (`None`: no dnstap socket configured).
    pub dnstap: Option<dnstap::Stats>,
    /// File writers.
    pub writers: WriterCounts,
    /// The metrics endpoint's authentication and TLS failures.
    pub http: HttpCounts,
    /// Whether the last configuration (re)load succeeded.
    pub reload_ok: bool,
    /// The MaxMind DB files in force and their reloads (`None`: no `[geoip]`).
    pub geo: Option<crate::aggregate::geo::db::Status>,
    /// Time of the last successful (re)load, seconds since the epoch.
    pub reload_time: u64,
    /// Process start, seconds since the epoch.
    pub start_time: f64,
}

impl Snapshot {
    /// A replay's snapshot.
    pub fn replay(agg: Aggregate, input: ReplayInput) -> Self {
        Self {
            agg,
            input: Input::Replay(input),
            privacy: crate::privacy::Privacy::default(),
        }
    }

    /// The files read (none for the daemon).
    pub fn files(&self) -> &[FileSummary] {
        match &self.input {
            Input::Replay(r) => &r.files,
            Input::Daemon(_) => &[],
        }
    }

    /// The replay's facts, if this is a replay.
    pub fn replay_input(&self) -> Option<&ReplayInput> {
        match &self.input {
            Input::Replay(r) => Some(r),
            Input::Daemon(_) => None,
        }
    }

    /// The daemon's state, if this is the daemon's.
    pub fn daemon(&self) -> Option<&DaemonStatus> {
        match &self.input {
            Input::Daemon(d) => Some(d.as_ref()),
            Input::Replay(_) => None,
        }
    }

    /// True when every capture handle is open (a replay is never capturing).
    pub fn capturing(&self) -> bool {
        self.daemon()
            .is_some_and(|d| !d.health.is_empty() && d.health.iter().all(|w| w.up))
    }
}

/// The latest snapshot, swapped in by its one producer and read by any number of readers.
/// The lock is held only to copy or replace the pointer, never while rendering.
#[derive(Debug)]
pub struct Published(Mutex<Arc<Snapshot>>);

impl Published {
    /// Publishes `first`.
    pub fn new(first: Snapshot) -> Self {
        Self(Mutex::new(Arc::new(first)))
    }

    /// Publishes a snapshot already shared.
    pub fn from_arc(first: Arc<Snapshot>) -> Self {
        Self(Mutex::new(first))
    }

    /// The current snapshot.
    pub fn load(&self) -> Arc<Snapshot> {
        Arc::clone(&self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the current snapshot and returns the previous one (readers holding it keep it
    /// until they drop it; the producer may reuse it once no reader does).
    pub fn swap(&self, next: Arc<Snapshot>) -> Arc<Snapshot> {
        std::mem::replace(
            &mut *self.0.lock().unwrap_or_else(PoisonError::into_inner),
            next,
        )
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn readers_keep_the_snapshot_they_took() {
        let empty =
            || Snapshot::replay(Aggregate::new(&Default::default()), ReplayInput::default());
        let p = Published::new(empty());
        let old = p.load();
        let mut next = empty();
        next.agg.frames = 7;
        let before = p.swap(Arc::new(next));
        assert!(Arc::ptr_eq(&before, &old));
        assert_eq!(old.agg.frames, 0);
        assert_eq!(p.load().agg.frames, 7);
        assert!(!p.load().capturing());
    }

    #[test]
    fn capturing_needs_every_worker_up() {
        let mut d = DaemonStatus::default();
        let s = |d: &DaemonStatus| Snapshot {
            agg: Aggregate::new(&Default::default()),
            input: Input::Daemon(Box::new(d.clone())),
            privacy: Default::default(),
        };
        assert!(!s(&d).capturing());
        d.health = vec![
            CaptureHealth {
                up: true,
                ..Default::default()
            };
            2
        ];
        assert!(s(&d).capturing());
        d.health[1].up = false;
        assert!(!s(&d).capturing());
    }
}
