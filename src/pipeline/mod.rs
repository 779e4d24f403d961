//! The wiring: readers feed workers, workers decode and aggregate, totals are merged once.
//!
//! With one thread the reader's frames go straight through [`Worker::process`]. With N threads
//! the reader shards frames by a symmetric hash of the IP addresses, so that both directions
//! of a conversation, every fragment of a datagram and every segment of a TCP flow reach the
//! same worker: reassembly and per-flow state never cross threads, and the merged result does
//! not depend on N (tested). Frames travel in recycled batches over bounded crossbeam channels
//! (back-pressure, not loss: replay never drops).
//!
//! The files of a run are read in the order of [`Plan`] (by first packet's time, directories
//! expanded) through the same workers, so state carries over from one file to the next. With
//! N threads and compressed files, the next files decompress ahead on their own threads
//! ([`ReadAhead`]).

mod progress;
mod read;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use crate::aggregate::{self, Aggregate};
use crate::capture::Packet;
use crate::capture::file::{FileKind, ReadError};
use crate::capture::plan::{Plan, Skip, Skipped, Window};
use crate::capture::readahead::ReadAhead;
use crate::decode::{self, Decoder, Event, Malformed, Message, MsgCtx, Name, Sink};
use crate::export::parquet::{QueryExport, QueryLog};
use crate::snapshot::{ReplayInput, SkippedFile, Snapshot};

pub use crate::capture::plan::FileError;
pub use progress::{Progress, ProgressSnapshot};

/// Frames per batch handed to a worker.
const BATCH_FRAMES: usize = 512;
/// Batches in flight per worker.
const BATCHES_PER_WORKER: usize = 8;
/// Records between two progress updates: one relaxed store per 16,384 records.
const PROGRESS_EVERY: u64 = 1 << 14;
/// Decompressed data held ahead of the reader, in all (`Settings::read_ahead` default).
pub const READ_AHEAD_BYTES: usize = 256 << 20;

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
    /// With `aggregate.per_day`: the day `agg` counts and the other days' aggregates.
    split: Option<Split>,
}

/// A worker's aggregates of the other UTC days than the current one (day state files).
struct Split {
    /// The day `Worker::agg` counts (`u32::MAX` before the first frame).
    day: u32,
    others: Vec<(u32, Aggregate)>,
    settings: aggregate::Settings,
}

impl Split {
    /// Makes `agg` count `day`: the current day's aggregate is put aside and `day`'s taken
    /// (made if new). The worker's own state (pending queries, hygiene and repeat tables)
    /// moves along, so a response after midnight still meets its query.
    #[cold]
    fn enter(&mut self, day: u32, agg: &mut Aggregate) {
        if self.day == u32::MAX {
            self.day = day;
            return;
        }
        let mut next = match self.others.iter().position(|d| d.0 == day) {
            Some(i) => self.others.swap_remove(i).1,
            None => Aggregate::new(&self.settings),
        };
        next.latency.take_pending(&mut agg.latency);
        next.hygiene.take_table(&mut agg.hygiene);
        next.ithi.take_cache(&mut agg.ithi);
        std::mem::swap(agg, &mut next);
        self.others.push((self.day, next));
        self.day = day;
    }
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
            split: aggregate.per_day.then(|| Split {
                day: u32::MAX,
                others: Vec::new(),
                settings: aggregate.clone(),
            }),
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
        self.agg.flush();
        if let Some(l) = &mut self.log {
            l.ship();
        }
        match self.split {
            Some(s) if s.day != u32::MAX => {
                let mut days = s.others;
                days.push((s.day, self.agg));
                Aggregate::from_days(days, &s.settings)
            }
            _ => self.agg,
        }
    }

    /// Makes the aggregate count the UTC day of `ts_ns` when days are kept apart.
    #[inline]
    fn day(&mut self, ts_ns: u64) {
        if let Some(s) = &mut self.split {
            let day = crate::time::day_of(ts_ns);
            if day != s.day {
                s.enter(day, &mut self.agg);
            }
        }
    }

    /// Processes one frame.
    #[inline]
    pub fn process(&mut self, pkt: &Packet<'_>) {
        self.day(pkt.ts_ns);
        self.agg.frame(pkt.ts_ns, pkt.data.len());
        match &mut self.log {
            None => self.decoder.decode(pkt, &mut self.agg),
            Some(l) => self.decoder.decode(pkt, &mut Both(&mut self.agg, l)),
        }
    }

    /// Processes one DNS message from dnstap (counted as one frame of its wire size).
    #[inline]
    pub fn process_dns(&mut self, ctx: &decode::MsgCtx, wire: &[u8]) {
        self.day(ctx.ts_ns);
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
    /// Only the packets inside this window are processed (`--since`, `--until`).
    pub window: Window,
    /// Decompressed data held ahead of the reader, in bytes (0: [`READ_AHEAD_BYTES`]).
    pub read_ahead: usize,
}

pub use crate::snapshot::FileSummary;

/// The outcome of a replay: the snapshot every exporter reads (merged counters, files read,
/// threads and wall-clock time).
pub type Replay = Snapshot;

/// Resolves `threads = 0` to the number of available cores.
pub fn effective_threads(threads: usize) -> usize {
    if threads > 0 {
        threads
    } else {
        thread::available_parallelism().map_or(1, |n| n.get())
    }
}

/// Reads every file (directories expanded), in the order of their first packets, through one
/// pipeline (state such as TCP flows carries over from one file to the next, as in a capture
/// rotated into several files).
pub fn replay(paths: &[PathBuf], settings: &Settings) -> Result<Replay, FileError> {
    // Probe everything first: a missing or foreign file is an error before any work.
    Ok(replay_plan(Plan::new(paths, &settings.window)?, settings))
}

/// Reads the files of `plan`, in its order, through one pipeline.
pub fn replay_plan(plan: Plan, settings: &Settings) -> Replay {
    let threads = effective_threads(settings.threads);
    let start = Instant::now();
    let mut skipped: Vec<SkippedFile> = plan.skipped.iter().map(skipped_file).collect();
    let inputs = plan.inputs;
    let (agg, files, gone) = if threads == 1 {
        read::sequential(inputs, settings)
    } else if inputs.iter().all(|i| i.codec.is_none() && i.kept.is_none()) {
        read::mapped(inputs, threads, settings)
    } else {
        let sizes: Vec<Option<u64>> = inputs.iter().map(|i| i.size).collect();
        let budget = if settings.read_ahead == 0 {
            READ_AHEAD_BYTES
        } else {
            settings.read_ahead
        };
        let files = ReadAhead::new(inputs, threads - 1, budget);
        read::sharded(files, &sizes, threads, settings)
    };
    skipped.extend(gone);
    Snapshot::replay(
        agg,
        ReplayInput {
            files,
            elapsed: start.elapsed(),
            threads,
            skipped,
        },
    )
}

/// A file left out by the plan, for the snapshot.
fn skipped_file(s: &Skipped) -> SkippedFile {
    let (reason, problem) = match &s.why {
        Skip::NotCapture(e) => (e.to_string(), false),
        Skip::Unreadable(e) => (e.to_string(), true),
        Skip::OutsideWindow => ("outside --since/--until".to_owned(), false),
    };
    SkippedFile {
        path: s.path.clone(),
        reason,
        problem,
    }
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
            first_ns: None,
            last_ns: None,
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
                skipped: Vec::new(),
            },
        ),
        stats,
    ))
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
