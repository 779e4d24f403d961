//! The wiring: readers feed workers, workers decode and aggregate, totals are merged once.
//!
//! With one thread the reader's frames go straight through [`Worker::process`]. With N threads
//! the reader shards frames by a symmetric hash of the IP addresses, so that both directions
//! of a conversation, every fragment of a datagram and every segment of a TCP flow reach the
//! same worker: reassembly and per-flow state never cross threads, and the merged result does
//! not depend on N (tested). Frames travel in recycled batches over bounded crossbeam channels
//! (back-pressure, not loss: replay never drops).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded};

use crate::aggregate::{self, Aggregate};
use crate::capture::file::{FileKind, ReadError, Reader};
use crate::capture::{LinkType, Packet};
use crate::decode::{self, Decoder, Event, Malformed, Message, MsgCtx, Name, Sink};
use crate::export::parquet::{QueryExport, QueryLog};
use crate::snapshot::{ReplayInput, Snapshot};

/// Frames per batch handed to a worker.
const BATCH_FRAMES: usize = 512;
/// Batches in flight per worker.
const BATCHES_PER_WORKER: usize = 8;
/// Records between two progress updates: one relaxed store per 16,384 records.
const PROGRESS_EVERY: u64 = 1 << 14;

//------------ Progress ------------------------------------------------------

/// Where a replay is, for a progress display on another thread. Written by the thread that
/// reads the files (with several mapped workers, worker 0) every [`PROGRESS_EVERY`] records and
/// at the end of each file; read whenever the display likes.
#[derive(Debug)]
pub struct Progress {
    /// Reference for `started_ns`.
    epoch: Instant,
    /// When reading of the current file began, in ns since `epoch`.
    started_ns: AtomicU64,
    /// Index of the file being read (in the order given), `usize::MAX` before the first.
    file: AtomicUsize,
    /// Input bytes of that file consumed (compressed bytes for compressed files).
    position: AtomicU64,
    /// Size of that file, 0 when unknown (standard input).
    length: AtomicU64,
    /// Records read from that file.
    records: AtomicU64,
    /// Files finished.
    finished: AtomicUsize,
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
    /// Time since the file was opened.
    pub elapsed: Duration,
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
        }
    }

    /// The current state.
    pub fn snapshot(&self) -> ProgressSnapshot {
        let file = self.file.load(Ordering::Acquire);
        ProgressSnapshot {
            file: (file != usize::MAX).then_some(file),
            position: self.position.load(Ordering::Relaxed),
            length: Some(self.length.load(Ordering::Relaxed)).filter(|&l| l > 0),
            records: self.records.load(Ordering::Relaxed),
            finished: self.finished.load(Ordering::Acquire),
            elapsed: self.epoch.elapsed().saturating_sub(Duration::from_nanos(
                self.started_ns.load(Ordering::Relaxed),
            )),
        }
    }

    fn update(&self, r: &Reader) {
        let (pos, len) = r.input_progress();
        self.position.store(pos.unwrap_or(0), Ordering::Relaxed);
        self.length.store(len.unwrap_or(0), Ordering::Relaxed);
        self.records.store(r.records(), Ordering::Relaxed);
    }
}

//------------ Worker --------------------------------------------------------

/// One decode+aggregate unit: owns its decoder tables and its aggregate.
///
/// No lock, atomic or shared write per packet, by construction: a `Worker` owns its
/// [`Decoder`] (reassembly tables, name buffer) and its [`Aggregate`] outright (no `Arc`,
/// `Mutex`, `RefCell` or atomic inside either), [`Worker::process`] takes `&mut self`, and each
/// worker thread moves its own `Worker` in (see `mapped` and `work` below), so the borrow
/// checker proves no other thread can reach this state. Totals cross threads once, by value,
/// when a thread is joined and its aggregate merged.
pub struct Worker {
    decoder: Decoder,
    /// This worker's counters.
    pub agg: Aggregate,
    /// Per-query Parquet rows (opt-in).
    pub log: Option<QueryLog>,
}

/// The aggregate and the per-query log, as one sink.
struct Both<'a>(&'a mut Aggregate, &'a mut QueryLog);

impl Sink for Both<'_> {
    #[inline]
    fn message(&mut self, ctx: &MsgCtx, msg: &Message, name: &Name) {
        self.0.message(ctx, msg, name);
        self.1.observe(ctx, msg, name);
    }
    #[inline]
    fn malformed(&mut self, reason: Malformed, ctx: Option<&MsgCtx>) {
        self.0.malformed(reason, ctx);
    }
    #[inline]
    fn event(&mut self, event: Event) {
        self.0.event(event);
    }
}

impl Worker {
    /// A fresh worker.
    pub fn new(decode: &decode::Settings, aggregate: &aggregate::Settings) -> Self {
        Self {
            decoder: Decoder::new(decode),
            agg: Aggregate::new(aggregate),
            log: None,
        }
    }

    /// A fresh worker that also writes per-query rows when `queries` is set.
    pub fn with_log(
        decode: &decode::Settings,
        aggregate: &aggregate::Settings,
        queries: Option<&QueryExport>,
    ) -> Self {
        Self {
            log: queries.map(QueryExport::log),
            ..Self::new(decode, aggregate)
        }
    }

    /// Ends the input: queries still waiting for a response are counted as such; the counters.
    pub fn finish(mut self) -> Aggregate {
        self.agg.latency.close();
        if let Some(l) = &mut self.log {
            l.ship();
        }
        self.agg
    }

    /// Processes one frame.
    #[inline]
    pub fn process(&mut self, pkt: &Packet<'_>) {
        self.agg.frame(pkt.ts_ns, pkt.data.len());
        match &mut self.log {
            None => self.decoder.decode(pkt, &mut self.agg),
            Some(l) => self.decoder.decode(pkt, &mut Both(&mut self.agg, l)),
        }
    }

    /// Processes one DNS message from dnstap (counted as one frame of its wire size).
    #[inline]
    pub fn process_dns(&mut self, ctx: &decode::MsgCtx, wire: &[u8]) {
        self.agg.frame(ctx.ts_ns, wire.len());
        match &mut self.log {
            None => self.decoder.decode_dns(ctx, wire, &mut self.agg),
            Some(l) => self
                .decoder
                .decode_dns(ctx, wire, &mut Both(&mut self.agg, l)),
        }
    }
}

//------------ Replay --------------------------------------------------------

/// Replay settings.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// Worker threads (0 = one per available core).
    pub threads: usize,
    /// Decoder settings.
    pub decode: decode::Settings,
    /// Aggregation settings.
    pub aggregate: aggregate::Settings,
    /// Where to publish progress, if anyone watches.
    pub progress: Option<Arc<Progress>>,
    /// Per-query Parquet export (opt-in): every worker writes through it.
    pub queries: Option<QueryExport>,
}

pub use crate::snapshot::FileSummary;

/// The outcome of a replay: the snapshot every exporter reads (merged counters, files read,
/// threads and wall-clock time).
pub type Replay = Snapshot;

/// A file that could not be read at all.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct FileError {
    /// The file.
    pub path: PathBuf,
    /// Why (part of the message, deliberately not a `source`, so it is printed once).
    pub reason: ReadError,
}

/// Resolves `threads = 0` to the number of available cores.
pub fn effective_threads(threads: usize) -> usize {
    if threads > 0 {
        threads
    } else {
        thread::available_parallelism().map_or(1, |n| n.get())
    }
}

/// Reads every file in order through one pipeline (state such as TCP flows carries over from
/// one file to the next, as in a capture rotated into several files).
pub fn replay(paths: &[PathBuf], settings: &Settings) -> Result<Replay, FileError> {
    // Open everything first: a missing or foreign file is an error before any work.
    let mut readers = Vec::with_capacity(paths.len());
    for p in paths {
        readers.push(Reader::open(p).map_err(|reason| FileError {
            path: p.clone(),
            reason,
        })?);
    }
    let threads = effective_threads(settings.threads);
    let start = Instant::now();
    let (agg, files) = if threads == 1 {
        let mut w = Worker::with_log(
            &settings.decode,
            &settings.aggregate,
            settings.queries.as_ref(),
        );
        let prog = settings.progress.as_deref();
        let files = readers
            .into_iter()
            .enumerate()
            .map(|(k, r)| read_file(r, prog.map(|p| (p, k)), |p| w.process(p)))
            .collect();
        (w.finish(), files)
    } else if readers.iter().all(|r| r.position_hint().is_some()) {
        mapped(readers, threads, settings)
    } else {
        sharded(readers, threads, settings)
    };
    Ok(Snapshot::replay(
        agg,
        ReplayInput {
            files,
            elapsed: start.elapsed(),
            threads,
        },
    ))
}

/// Replays dnstap Frame Streams files (unidirectional, as `knotd` or `dnstap -w` write them)
/// with one worker, in order: a dnstap file is an already decoded stream, far cheaper per
/// message than packets, and one worker keeps every query with its response. Returns the
/// replay and the dnstap counters (frames skipped by reason). A problem that stops a file
/// (framing, truncation) becomes that file's warning.
pub fn replay_dnstap(
    paths: &[PathBuf],
    settings: &Settings,
    max_frame: usize,
) -> Result<(Replay, crate::capture::dnstap::Stats), FileError> {
    use crate::capture::dnstap;
    let mut files = Vec::with_capacity(paths.len());
    for p in paths {
        let err = |reason| FileError {
            path: p.clone(),
            reason,
        };
        if p.is_dir() {
            return Err(err(ReadError::Directory));
        }
        files.push((
            p,
            std::fs::File::open(p).map_err(|e| err(ReadError::Io(e)))?,
        ));
    }
    let start = Instant::now();
    let mut w = Worker::with_log(
        &settings.decode,
        &settings.aggregate,
        settings.queries.as_ref(),
    );
    let mut stats = dnstap::Stats::default();
    let mut summaries = Vec::with_capacity(files.len());
    for (path, f) in files {
        let file_start = Instant::now();
        let before = stats.data_frames;
        let r = dnstap::read_file(f, max_frame, &mut stats, &mut |d| {
            w.process_dns(&d.ctx, d.wire);
        });
        summaries.push(FileSummary {
            path: path.clone(),
            kind: FileKind::Dnstap,
            compression: "none",
            link_types: Vec::new(),
            records: stats.data_frames - before,
            warning: r.err().map(|p| format!("dnstap: {p}")),
            elapsed: file_start.elapsed(),
        });
    }
    Ok((
        Snapshot::replay(
            w.finish(),
            ReplayInput {
                files: summaries,
                elapsed: start.elapsed(),
                threads: 1,
            },
        ),
        stats,
    ))
}

/// Reads one file to its end through `f`, publishing progress (as file `index`) if asked.
fn read_file(
    mut r: Reader,
    progress: Option<(&Progress, usize)>,
    mut f: impl FnMut(&Packet<'_>),
) -> FileSummary {
    let start = Instant::now();
    let Some((prog, index)) = progress else {
        let warning = loop {
            match r.next() {
                Ok(Some(p)) => f(&p),
                Ok(None) => break None,
                Err(e) => break Some(e.to_string()),
            }
        };
        return summary(&r, warning, start);
    };
    prog.update(&r);
    let since_epoch = prog.epoch.elapsed().as_nanos();
    prog.started_ns.store(
        u64::try_from(since_epoch).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
    prog.file.store(index, Ordering::Release);
    let mut next_update = PROGRESS_EVERY;
    let warning = loop {
        match r.next() {
            Ok(Some(p)) => f(&p),
            Ok(None) => break None,
            Err(e) => break Some(e.to_string()),
        }
        if r.records() >= next_update {
            next_update += PROGRESS_EVERY;
            prog.update(&r);
        }
    };
    prog.update(&r);
    prog.finished.fetch_add(1, Ordering::Release);
    summary(&r, warning, start)
}

fn summary(r: &Reader, warning: Option<String>, start: Instant) -> FileSummary {
    FileSummary {
        path: r.path().to_owned(),
        kind: r.kind(),
        compression: r.compression(),
        link_types: r.link_types().to_vec(),
        records: r.records(),
        warning,
        elapsed: start.elapsed(),
    }
}

/// Memory-mapped input with N workers: every worker walks the shared, read-only map of every
/// file itself (its own [`Reader::share`] cursor) and processes only the frames whose
/// [`decode::shard_hash`] maps to it. Nothing is copied and nothing crosses threads until the
/// final merge; the split is the same as [`sharded`]'s, so the result is identical. Measured on
/// a 2-core machine (docs/performance.md): the reader thread that copied frames into batches
/// made 2 threads *slower* than 1, while skipping a foreign frame costs a record header and a
/// hash, so walking the file twice is cheaper.
fn mapped(
    readers: Vec<Reader>,
    threads: usize,
    settings: &Settings,
) -> (Aggregate, Vec<FileSummary>) {
    // Worker 0 takes the readers opened by `replay`; the others share their maps.
    let mut per_worker: Vec<Vec<Reader>> = (1..threads)
        .map(|_| readers.iter().filter_map(Reader::share).collect())
        .collect();
    per_worker.insert(0, readers);
    thread::scope(|s| {
        let handles: Vec<_> = per_worker
            .into_iter()
            .enumerate()
            .map(|(i, readers)| {
                let (ds, ags, qs) = (&settings.decode, &settings.aggregate, &settings.queries);
                // Worker 0 reports progress for all: they walk the same files in step.
                let prog = settings.progress.as_deref().filter(|_| i == 0);
                s.spawn(move || {
                    let mut w = Worker::with_log(ds, ags, qs.as_ref());
                    let files: Vec<FileSummary> = readers
                        .into_iter()
                        .enumerate()
                        .map(|(k, r)| {
                            read_file(r, prog.map(|p| (p, k)), |p| {
                                if (decode::shard_hash(p) % threads as u64) as usize == i {
                                    w.process(p);
                                }
                            })
                        })
                        .collect();
                    (w.finish(), files)
                })
            })
            .collect();
        let mut total: Option<Aggregate> = None;
        let mut files = Vec::new();
        for (i, h) in handles.into_iter().enumerate() {
            // A worker panic is a bug; propagate it rather than report partial totals.
            let (agg, f) = match h.join() {
                Ok(a) => a,
                Err(p) => std::panic::resume_unwind(p),
            };
            if i == 0 {
                files = f;
            }
            match &mut total {
                Some(t) => t.merge(&agg),
                None => total = Some(agg),
            }
        }
        let agg = total.unwrap_or_else(|| Aggregate::new(&settings.aggregate));
        (agg, files)
    })
}

/// Frames copied out of the reader's buffer, for one worker.
#[derive(Default)]
struct Batch {
    data: Vec<u8>,
    frames: Vec<(u64, u32, u32, u32, LinkType)>,
}

fn sharded(
    readers: Vec<Reader>,
    threads: usize,
    settings: &Settings,
) -> (Aggregate, Vec<FileSummary>) {
    thread::scope(|s| {
        let mut to_workers: Vec<Sender<Batch>> = Vec::new();
        let mut handles = Vec::new();
        let (back_tx, back_rx) = bounded::<Batch>(threads * BATCHES_PER_WORKER);
        for _ in 0..threads {
            let (tx, rx) = bounded::<Batch>(BATCHES_PER_WORKER);
            to_workers.push(tx);
            let back = back_tx.clone();
            let (ds, ags, qs) = (&settings.decode, &settings.aggregate, &settings.queries);
            handles.push(s.spawn(move || work(rx, back, Worker::with_log(ds, ags, qs.as_ref()))));
        }
        drop(back_tx);
        let mut pending: Vec<Batch> = (0..threads).map(|_| fresh(&back_rx)).collect();
        let mut files = Vec::new();
        let prog = settings.progress.as_deref();
        for (k, r) in readers.into_iter().enumerate() {
            files.push(read_file(r, prog.map(|p| (p, k)), |p| {
                let w = (decode::shard_hash(p) % threads as u64) as usize;
                let b = &mut pending[w];
                let off = b.data.len() as u32;
                b.data.extend_from_slice(p.data);
                b.frames
                    .push((p.ts_ns, off, p.data.len() as u32, p.orig_len, p.link));
                if b.frames.len() >= BATCH_FRAMES {
                    let full = std::mem::replace(b, fresh(&back_rx));
                    // A worker only goes away when it panicked; the scope re-raises that.
                    let _ = to_workers[w].send(full);
                }
            }));
        }
        for (w, b) in pending.into_iter().enumerate() {
            let _ = to_workers[w].send(b);
        }
        drop(to_workers);
        let mut total: Option<Aggregate> = None;
        for h in handles {
            // A worker panic is a bug; propagate it rather than report partial totals.
            let agg = match h.join() {
                Ok(a) => a,
                Err(p) => std::panic::resume_unwind(p),
            };
            match &mut total {
                Some(t) => t.merge(&agg),
                None => total = Some(agg),
            }
        }
        let agg = total.unwrap_or_else(|| Aggregate::new(&settings.aggregate));
        (agg, files)
    })
}

/// A recycled batch if one came back, else a new one (only while the pipeline fills up).
fn fresh(back: &Receiver<Batch>) -> Batch {
    back.try_recv().unwrap_or_default()
}

fn work(rx: Receiver<Batch>, back: Sender<Batch>, mut w: Worker) -> Aggregate {
    for mut b in rx {
        for &(ts_ns, off, len, orig_len, link) in &b.frames {
            let data = &b.data[off as usize..(off + len) as usize];
            w.process(&Packet {
                ts_ns,
                link,
                data,
                orig_len,
            });
        }
        b.data.clear();
        b.frames.clear();
        let _ = back.try_send(b);
    }
    w.finish()
}

/// Convenience for tests and benches: replay one file with `threads` workers.
pub fn replay_file(path: &Path, threads: usize) -> Result<Replay, FileError> {
    replay(
        &[path.to_owned()],
        &Settings {
            threads,
            ..Settings::default()
        },
    )
}
