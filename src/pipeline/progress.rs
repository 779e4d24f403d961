//! Where a replay is, for a progress display on another thread: the whole run (files, bytes and
//! records done) and the file being read.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::capture::file::Reader;

/// Where a replay is. Written by the thread that reads the files (with several mapped workers,
/// worker 0) every [`super::PROGRESS_EVERY`] records and at the end of each file; read whenever
/// the display likes.
#[derive(Debug)]
pub struct Progress {
    /// Reference for `started_ns`, and the start of the run.
    epoch: Instant,
    /// When reading of the current file began, in ns since `epoch`.
    started_ns: AtomicU64,
    /// Index of the file being read (in the order read), `usize::MAX` before the first.
    file: AtomicUsize,
    /// Input bytes of that file consumed (compressed bytes for compressed files).
    position: AtomicU64,
    /// Size of that file, 0 when unknown (standard input).
    length: AtomicU64,
    /// Records read from that file.
    records: AtomicU64,
    /// Files finished (read to their end, or stopped by an error, or not opened).
    finished: AtomicUsize,
    /// Input bytes of the finished files.
    bytes_done: AtomicU64,
    /// Records of the finished files.
    records_done: AtomicU64,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

/// A snapshot of [`Progress`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgressSnapshot {
    /// Index of the file being read, `None` before the first.
    pub file: Option<usize>,
    /// Bytes of it consumed.
    pub position: u64,
    /// Its size, when known.
    pub length: Option<u64>,
    /// Records read from it.
    pub records: u64,
    /// Files finished.
    pub finished: usize,
    /// Input bytes of the finished files.
    pub bytes_done: u64,
    /// Records of the finished files.
    pub records_done: u64,
    /// Time since the file was opened.
    pub elapsed: Duration,
    /// Time since the run began.
    pub run_elapsed: Duration,
}

impl Progress {
    /// Nothing read yet.
    pub fn new() -> Self {
        Self {
            epoch: Instant::now(),
            started_ns: AtomicU64::new(0),
            file: AtomicUsize::new(usize::MAX),
            position: AtomicU64::new(0),
            length: AtomicU64::new(0),
            records: AtomicU64::new(0),
            finished: AtomicUsize::new(0),
            bytes_done: AtomicU64::new(0),
            records_done: AtomicU64::new(0),
        }
    }

    /// The current state.
    pub fn snapshot(&self) -> ProgressSnapshot {
        // The finished totals first: a file that ends between the loads is then counted in
        // neither, rather than in both.
        let finished = self.finished.load(Ordering::Acquire);
        let bytes_done = self.bytes_done.load(Ordering::Acquire);
        let records_done = self.records_done.load(Ordering::Acquire);
        let file = self.file.load(Ordering::Acquire);
        let run_elapsed = self.epoch.elapsed();
        ProgressSnapshot {
            file: (file != usize::MAX).then_some(file),
            position: self.position.load(Ordering::Relaxed),
            length: Some(self.length.load(Ordering::Relaxed)).filter(|&l| l > 0),
            records: self.records.load(Ordering::Relaxed),
            finished,
            bytes_done,
            records_done,
            elapsed: run_elapsed.saturating_sub(Duration::from_nanos(
                self.started_ns.load(Ordering::Relaxed),
            )),
            run_elapsed,
        }
    }

    /// Reading of file `index` begins.
    pub(super) fn begin(&self, index: usize, r: &Reader) {
        self.update(r);
        let since_epoch = self.epoch.elapsed().as_nanos();
        self.started_ns.store(
            u64::try_from(since_epoch).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.file.store(index, Ordering::Release);
    }

    pub(super) fn update(&self, r: &Reader) {
        let (pos, len) = r.input_progress();
        self.position.store(pos.unwrap_or(0), Ordering::Relaxed);
        self.length.store(len.unwrap_or(0), Ordering::Relaxed);
        self.records.store(r.records(), Ordering::Relaxed);
    }

    /// A file of `size` bytes is done, after `records` records.
    pub(super) fn end(&self, size: Option<u64>, records: u64) {
        self.position.store(0, Ordering::Relaxed);
        self.records.store(0, Ordering::Relaxed);
        self.bytes_done
            .fetch_add(size.unwrap_or(0), Ordering::Release);
        self.records_done.fetch_add(records, Ordering::Release);
        self.finished.fetch_add(1, Ordering::Release);
    }
}
