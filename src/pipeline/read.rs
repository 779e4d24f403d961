//! Reading the files of a run into workers: one worker in line ([`sequential`]), every worker
//! walking shared memory maps ([`mapped`]), or one reader sharding frames into batches for the
//! workers while the next files decompress ahead ([`sharded`]).

use std::thread;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, bounded};

use crate::aggregate::Aggregate;
use crate::capture::file::{ReadError, Reader};
use crate::capture::plan::{Input, Window};
use crate::capture::{LinkType, Packet};
use crate::decode;
use crate::snapshot::{FileSummary, SkippedFile};

use super::{BATCH_FRAMES, BATCHES_PER_WORKER, PROGRESS_EVERY, Progress, Settings, Worker};

/// What the readers produced: the merged counters, a summary per file read, the files that
/// could not be opened when their turn came.
pub(super) type Outcome = (Aggregate, Vec<FileSummary>, Vec<SkippedFile>);

/// A file that was probed but cannot be opened now.
fn gone(path: &std::path::Path, e: &ReadError) -> SkippedFile {
    SkippedFile {
        path: path.to_owned(),
        reason: e.to_string(),
        problem: true,
    }
}

/// Opens an input when its turn comes (reusing the probe's reader for a stream).
fn open(mut input: Input) -> (Input, Result<Reader, ReadError>) {
    let r = match input.kept.take() {
        Some(r) => Ok(r),
        None => Reader::open(&input.path),
    };
    (input, r)
}

/// Reads one file to its end through `f` (the packets inside `window`), publishing progress
/// (as file `index`) if asked.
fn read_file(
    mut r: Reader,
    progress: Option<(&Progress, usize)>,
    window: &Window,
    mut f: impl FnMut(&Packet<'_>),
) -> FileSummary {
    let start = Instant::now();
    let (mut first, mut last) = (None, None);
    if let Some((prog, index)) = progress {
        prog.begin(index, &r);
    }
    let mut next_update = if progress.is_some() {
        PROGRESS_EVERY
    } else {
        u64::MAX
    };
    let warning = loop {
        match r.next() {
            Ok(Some(p)) => {
                first.get_or_insert(p.ts_ns);
                last = Some(p.ts_ns);
                if window.contains(p.ts_ns) {
                    f(&p);
                }
            }
            Ok(None) => break None,
            Err(e) => break Some(e.to_string()),
        }
        if r.records() >= next_update {
            next_update += PROGRESS_EVERY;
            if let Some((prog, _)) = progress {
                prog.update(&r);
            }
        }
    };
    if let Some((prog, _)) = progress {
        prog.end(r.input_progress().1, r.records());
    }
    FileSummary {
        path: r.path().to_owned(),
        kind: r.kind(),
        compression: r.compression(),
        link_types: r.link_types().to_vec(),
        records: r.records(),
        first_ns: first,
        last_ns: last,
        warning,
        elapsed: start.elapsed(),
    }
}

/// One worker reading every file in turn.
pub(super) fn sequential(inputs: Vec<Input>, settings: &Settings) -> Outcome {
    let mut w = Worker::with_log(
        &settings.decode,
        &settings.aggregate,
        settings.queries.as_ref(),
    );
    let prog = settings.progress.as_deref();
    let (mut files, mut gone_files) = (Vec::new(), Vec::new());
    for (k, input) in inputs.into_iter().enumerate() {
        match open(input) {
            (_, Ok(r)) => files.push(read_file(r, prog.map(|p| (p, k)), &settings.window, |p| {
                w.process(p);
            })),
            (input, Err(e)) => {
                gone_files.push(gone(&input.path, &e));
                if let Some(p) = prog {
                    p.end(input.size, 0);
                }
            }
        }
    }
    (w.finish(), files, gone_files)
}

/// Memory-mapped input with N workers: every worker walks the shared, read-only map of every
/// file itself (its own [`Reader::share`] cursor) and processes only the frames whose
/// [`decode::shard_hash`] maps to it. Nothing is copied and nothing crosses threads until the
/// final merge; the split is the same as [`sharded`]'s, so the result is identical. Measured on
/// a 2-core machine (docs/performance.md): the reader thread that copied frames into batches
/// made 2 threads *slower* than 1, while skipping a foreign frame costs a record header and a
/// hash, so walking the file twice is cheaper.
pub(super) fn mapped(inputs: Vec<Input>, threads: usize, settings: &Settings) -> Outcome {
    let mut readers = Vec::with_capacity(inputs.len());
    let mut gone_files = Vec::new();
    for input in inputs {
        match open(input) {
            (_, Ok(r)) => readers.push(r),
            (input, Err(e)) => gone_files.push(gone(&input.path, &e)),
        }
    }
    // Worker 0 takes the readers opened here; the others share their maps.
    let mut per_worker: Vec<Vec<Reader>> = (1..threads)
        .map(|_| readers.iter().filter_map(Reader::share).collect())
        .collect();
    per_worker.insert(0, readers);
    let (agg, files) = thread::scope(|s| {
        let handles: Vec<_> = per_worker
            .into_iter()
            .enumerate()
            .map(|(i, readers)| {
                // Worker 0 reports progress for all: they walk the same files in step.
                let prog = settings.progress.as_deref().filter(|_| i == 0);
                s.spawn(move || {
                    let mut w = Worker::with_log(
                        &settings.decode,
                        &settings.aggregate,
                        settings.queries.as_ref(),
                    );
                    let files: Vec<FileSummary> = readers
                        .into_iter()
                        .enumerate()
                        .map(|(k, r)| {
                            read_file(r, prog.map(|p| (p, k)), &settings.window, |p| {
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
        let mut files = Vec::new();
        let mut aggs = Vec::new();
        for (i, h) in handles.into_iter().enumerate() {
            // A worker panic is a bug; propagate it rather than report partial totals.
            let (agg, f) = h.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            if i == 0 {
                files = f;
            }
            aggs.push(agg);
        }
        (merge(aggs, settings), files)
    });
    (agg, files, gone_files)
}

/// The workers' counters merged into one.
fn merge(aggs: Vec<Aggregate>, settings: &Settings) -> Aggregate {
    let mut total: Option<Aggregate> = None;
    for agg in aggs {
        match &mut total {
            Some(t) => t.merge(&agg),
            None => total = Some(agg),
        }
    }
    total.unwrap_or_else(|| Aggregate::new(&settings.aggregate))
}

/// Frames copied out of the reader's buffer, for one worker.
#[derive(Default)]
struct Batch {
    data: Vec<u8>,
    frames: Vec<(u64, u32, u32, u32, LinkType)>,
}

/// One reader (this thread) sharding the frames of `files` (readers handed out in order, the
/// compressed ones decompressing ahead) into batches for N worker threads.
pub(super) fn sharded(
    files: impl Iterator<Item = (std::path::PathBuf, Result<Reader, ReadError>)>,
    sizes: &[Option<u64>],
    threads: usize,
    settings: &Settings,
) -> Outcome {
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
        let (mut summaries, mut gone_files) = (Vec::new(), Vec::new());
        let prog = settings.progress.as_deref();
        for (k, (path, r)) in files.enumerate() {
            let r = match r {
                Ok(r) => r,
                Err(e) => {
                    gone_files.push(gone(&path, &e));
                    if let Some(p) = prog {
                        p.end(sizes.get(k).copied().flatten(), 0);
                    }
                    continue;
                }
            };
            summaries.push(read_file(r, prog.map(|p| (p, k)), &settings.window, |p| {
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
        // A worker panic is a bug; propagate it rather than report partial totals.
        let aggs = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect();
        (merge(aggs, settings), summaries, gone_files)
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
