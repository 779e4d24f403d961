//! Reading the files of a run into workers: one worker in line ([`sequential`]), every worker
//! walking shared memory maps ([`mapped`]), or one reader sharding frames into batches for the
//! workers while the next files decompress ahead ([`sharded`]).

use std::thread;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, bounded};

use crate::aggregate::Aggregate;
use crate::capture::file::{ReadError, Reader, SharedMap};
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
    let mut seen = |p: &Packet<'_>| {
        first.get_or_insert(p.ts_ns);
        last = Some(p.ts_ns);
        if window.contains(p.ts_ns) {
            f(p);
        }
    };
    let warning = loop {
        // A run of plain records (up to the next progress update), else one record the
        // general way: the end, an error, or whatever stopped the run.
        if r.next_run(next_update.saturating_sub(r.records()), &mut seen) == 0 {
            match r.next() {
                Ok(Some(p)) => seen(&p),
                Ok(None) => break None,
                Err(e) => break Some(e.to_string()),
            }
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

/// Memory-mapped input with N workers. This thread walks every file once and is worker 0:
/// it computes each frame's [`decode::shard_hash`], processes its own share in line and hands
/// the other workers, in recycled batches, only where their frames lie in the shared read-only
/// map (offset, length, time, link type): nothing is copied and no record is parsed twice.
/// Worker 0 also pays for the walk, so it takes a smaller share of the flows ([`pick`]).
///
/// History (docs/performance.md): a reader thread copying frames into batches made 2 threads
/// slower than 1 on a 2-core machine; every worker walking the whole map itself (skipping the
/// frames of the others) parsed every record header and address pair once per worker.
pub(super) fn mapped(inputs: Vec<Input>, threads: usize, settings: &Settings) -> Outcome {
    let mut readers = Vec::with_capacity(inputs.len());
    let mut gone_files = Vec::new();
    for input in inputs {
        match open(input) {
            (_, Ok(r)) => readers.push(r),
            (input, Err(e)) => gone_files.push(gone(&input.path, &e)),
        }
    }
    let new_worker = || {
        Worker::with_log(
            &settings.decode,
            &settings.aggregate,
            settings.queries.as_ref(),
        )
    };
    thread::scope(|s| {
        let (back_tx, back_rx) = bounded::<Batch>(threads * BATCHES_PER_WORKER);
        let mut to_workers = Vec::new();
        let mut handles = Vec::new();
        for _ in 1..threads {
            let (tx, rx) = bounded::<Batch>(BATCHES_PER_WORKER);
            to_workers.push(tx);
            let back = back_tx.clone();
            let w = new_worker();
            handles.push(s.spawn(move || work(rx, back, w)));
        }
        drop(back_tx);
        let mut w0 = new_worker();
        let mut pending: Vec<Batch> = (1..threads).map(|_| Batch::default()).collect();
        let prog = settings.progress.as_deref();
        let mut files = Vec::with_capacity(readers.len());
        for (k, r) in readers.into_iter().enumerate() {
            let map = r.shared_map();
            for b in &mut pending {
                b.map.clone_from(&map);
            }
            files.push(read_file(r, prog.map(|p| (p, k)), &settings.window, |p| {
                let w = pick(decode::shard_hash(p), threads);
                if w == 0 {
                    w0.process(p);
                    return;
                }
                let b = &mut pending[w - 1];
                b.push(p);
                if b.frames.len() >= BATCH_FRAMES {
                    let mut full = fresh(&back_rx);
                    full.map.clone_from(&b.map);
                    let full = std::mem::replace(b, full);
                    // A worker only goes away when it panicked; the scope re-raises that.
                    let _ = to_workers[w - 1].send(full);
                }
            }));
            // A batch names one file's map: hand over what is left of this file.
            for (b, tx) in pending.iter_mut().zip(&to_workers) {
                if !b.frames.is_empty() {
                    let _ = tx.send(std::mem::replace(b, fresh(&back_rx)));
                }
            }
        }
        drop(to_workers);
        let mut aggs = vec![w0.finish()];
        // A worker panic is a bug; propagate it rather than report partial totals.
        aggs.extend(
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))),
        );
        (merge(aggs, settings), files, gone_files)
    })
}

/// Worker 0's share of the shard space is `W0` parts in `W0 + OTHERS·(threads − 1)`, each other
/// worker's `OTHERS`: in [`mapped`] worker 0 also walks the files and hashes every frame
/// (measured with two threads, docs/performance.md: 7 parts in 16 balances them). Any fixed
/// function of the symmetric hash keeps a flow, both its directions and its fragments on one
/// worker; [`sharded`] uses the same one, so a capture gives the same figures, sketches included,
/// whether it is mapped or streamed.
const W0: u64 = 7;
const OTHERS: u64 = 9;

/// The worker of a frame whose shard hash is `h`.
#[inline]
fn pick(h: u64, threads: usize) -> usize {
    let total = W0 + OTHERS * (threads as u64 - 1);
    let at = ((h >> 32) * total) >> 32;
    if at < W0 {
        0
    } else {
        1 + ((at - W0) / OTHERS) as usize
    }
}

/// Frames for one worker: where they lie in a mapped file's map, or copied into `data` when a
/// frame is not a slice of a map (streamed input, a record rebuilt by the reader).
#[derive(Default)]
struct Batch {
    map: Option<SharedMap>,
    data: Vec<u8>,
    frames: Vec<Frame>,
}

#[derive(Clone, Copy)]
struct Frame {
    ts_ns: u64,
    off: usize,
    len: u32,
    orig_len: u32,
    link: LinkType,
    in_map: bool,
}

impl Batch {
    /// The bytes of frame `f` of this batch (`None` only if the batch does not hold them).
    #[inline]
    fn bytes(&self, f: &Frame) -> Option<&[u8]> {
        if f.in_map {
            self.map.as_ref().and_then(|m| m.get(f.off, f.len as usize))
        } else {
            self.data.get(f.off..f.off + f.len as usize)
        }
    }

    #[inline]
    fn push(&mut self, p: &Packet<'_>) {
        let (off, in_map) = match self.map.as_ref().and_then(|m| m.offset_of(p.data)) {
            Some(off) => (off, true),
            None => {
                let off = self.data.len();
                self.data.extend_from_slice(p.data);
                (off, false)
            }
        };
        self.frames.push(Frame {
            ts_ns: p.ts_ns,
            off,
            len: p.data.len() as u32,
            orig_len: p.orig_len,
            link: p.link,
            in_map,
        });
    }
}

/// A recycled batch if one came back, else a new one (only while the pipeline fills up).
fn fresh(back: &Receiver<Batch>) -> Batch {
    back.try_recv().unwrap_or_default()
}

fn work(rx: Receiver<Batch>, back: Sender<Batch>, mut w: Worker) -> Aggregate {
    for mut b in rx {
        for (i, f) in b.frames.iter().enumerate() {
            // The frames were last read by the thread that walked the file: their lines sit
            // in its core's cache. Start moving a frame a few ahead (its headers and first
            // payload line) while this one is decoded.
            if let Some(ahead) = b.frames.get(i + PREFETCH_AHEAD).and_then(|a| b.bytes(a)) {
                for line in ahead.iter().step_by(64).take(2) {
                    crate::aggregate::prefetch(line);
                }
            }
            if let Some(data) = b.bytes(f) {
                w.process(&Packet {
                    ts_ns: f.ts_ns,
                    link: f.link,
                    data,
                    orig_len: f.orig_len,
                });
            }
        }
        b.data.clear();
        b.frames.clear();
        b.map = None;
        let _ = back.try_send(b);
    }
    w.finish()
}

/// Frames between the one a worker decodes and the one whose bytes it prefetches.
const PREFETCH_AHEAD: usize = 4;

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
                // The same split as `mapped` (a capture read either way gives the same sketches).
                let w = pick(decode::shard_hash(p), threads);
                let b = &mut pending[w];
                b.push(p); // a streamed frame is copied: there is no map
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
