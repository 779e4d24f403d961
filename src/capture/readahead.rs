//! Decompression ahead of the reader: while the pipeline reads one file, the next files of the
//! run are already being decompressed, each on its own thread, into a bounded channel of
//! chunks. With two cores, two xz or bzip2 files decompress at once (they are
//! decompression-bound: one core decodes a file's packets several times faster than another
//! decompresses them); for the fast codecs the decompression of the current file moves off the
//! thread that parses it.
//!
//! Memory is bounded: each file holds at most [`ReadAhead::new`]'s `budget` divided among the
//! files in flight, in [`CHUNK`]-byte chunks (a decompressor that gets that far ahead waits;
//! the buffers are recycled), plus its decoder's state (see [`super::file::codec`]). The decoded stream, its errors
//! included, is the same as decompressing in place: [`Reader::decompressed`] reads it.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_channel::{Receiver, Sender, bounded};

use super::file::{Codec, ReadError, Reader, codec};
use super::plan::Input;

/// Size of a chunk of decompressed data.
pub const CHUNK: usize = 1 << 20;

/// What a decompressing thread sends.
enum Msg {
    /// Decompressed bytes, and the compressed bytes read when they came out.
    Data(Vec<u8>, u64),
    /// The decoder failed (after the data sent before).
    Fail(io::Error),
    /// The stream ended cleanly.
    End,
}

/// A file whose turn has not come yet.
enum Slot {
    /// Opened when its turn comes (plain files are mapped, not streamed).
    Later(Input),
    /// Decompressing on its own thread.
    Running(Input, Codec, Chunks),
}

/// The files of a run, handed out in order as readers, the compressed ones decompressed ahead.
pub struct ReadAhead {
    rest: std::vec::IntoIter<Input>,
    pending: VecDeque<Slot>,
    /// Files decompressing ahead of the one being read.
    ahead: usize,
    /// Chunks each file may hold.
    chunks: usize,
}

impl ReadAhead {
    /// Reads `inputs` in order, decompressing up to `ahead` files beyond the one being read
    /// (so `ahead + 1` at once), within `budget` bytes of decompressed data in all.
    pub fn new(inputs: Vec<Input>, ahead: usize, budget: usize) -> Self {
        let ahead = ahead.max(1);
        Self {
            rest: inputs.into_iter(),
            pending: VecDeque::new(),
            ahead,
            chunks: (budget / CHUNK / (ahead + 1)).max(2),
        }
    }

    /// Starts decompressing until `ahead` files wait, decompressing, in line.
    fn refill(&mut self) {
        let running =
            |p: &VecDeque<Slot>| p.iter().filter(|s| matches!(s, Slot::Running(..))).count();
        while running(&self.pending) < self.ahead {
            let Some(input) = self.rest.next() else {
                return;
            };
            let slot = match (input.codec, &input.kept) {
                (Some(c), None) => match spawn(&input.path, c, self.chunks) {
                    Some(chunks) => Slot::Running(input, c, chunks),
                    None => Slot::Later(input),
                },
                _ => Slot::Later(input),
            };
            self.pending.push_back(slot);
        }
    }
}

impl Iterator for ReadAhead {
    type Item = (PathBuf, Result<Reader, ReadError>);

    fn next(&mut self) -> Option<Self::Item> {
        self.refill();
        let slot = self.pending.pop_front()?;
        self.refill();
        Some(match slot {
            Slot::Later(mut input) => {
                let r = match input.kept.take() {
                    Some(r) => Ok(r),
                    None => Reader::open(&input.path),
                };
                (input.path, r)
            }
            Slot::Running(input, codec, chunks) => {
                let progress = Arc::clone(&chunks.progress);
                let r = Reader::decompressed(
                    &input.path,
                    Box::new(chunks),
                    codec,
                    progress,
                    input.size,
                );
                (input.path, r)
            }
        })
    }
}

/// The consuming end of a decompressing thread, as a reader.
struct Chunks {
    rx: Receiver<Msg>,
    spare: Sender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
    /// Compressed bytes behind the chunks read so far.
    progress: Arc<AtomicU64>,
    ended: bool,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            if self.ended {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Msg::Data(data, raw)) => {
                    let used = std::mem::replace(&mut self.cur, data);
                    let _ = self.spare.try_send(used);
                    self.pos = 0;
                    self.progress.store(raw, Ordering::Relaxed);
                }
                Ok(Msg::Fail(e)) => {
                    self.ended = true;
                    return Err(e);
                }
                Ok(Msg::End) => self.ended = true,
                Err(_) => {
                    self.ended = true;
                    return Err(io::Error::other("the decompressing thread ended early"));
                }
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Starts a thread decompressing `path` into at most `chunks` chunks ahead; `None` if no thread
/// could be started (the file is then decompressed in place).
fn spawn(path: &std::path::Path, codec: Codec, chunks: usize) -> Option<Chunks> {
    let (tx, rx) = bounded(chunks);
    // Read chunks go back to the decompressor for reuse (no allocation, no page faults per
    // chunk). A buffer is allocated only when none is free, that is when all the others are
    // queued: at most `chunks` + 2 buffers per file, whatever the capacity here.
    let (spare_tx, spare_rx) = bounded(chunks);
    let path = path.to_owned();
    std::thread::Builder::new()
        .name("decompress".into())
        .spawn(move || produce(&path, codec, &tx, &spare_rx))
        .ok()?;
    Some(Chunks {
        rx,
        spare: spare_tx,
        cur: Vec::new(),
        pos: 0,
        progress: Arc::new(AtomicU64::new(0)),
        ended: false,
    })
}

/// The decompressing thread: chunks until the end, an error, or the reader goes away.
fn produce(path: &std::path::Path, codec: Codec, tx: &Sender<Msg>, spare: &Receiver<Vec<u8>>) {
    let decoder = Reader::raw(path)
        .map_err(|e| match e {
            ReadError::Io(e) => e,
            other => io::Error::other(other.to_string()),
        })
        .and_then(|(f, _)| {
            let (raw, n) = codec::counted(f);
            Ok((codec.decoder(raw, Arc::clone(&n))?, n))
        });
    let (mut d, raw) = match decoder {
        Ok(d) => d,
        Err(e) => {
            let _ = tx.send(Msg::Fail(e));
            return;
        }
    };
    loop {
        let mut buf = spare.try_recv().unwrap_or_default();
        buf.resize(CHUNK, 0);
        let (len, outcome) = fill(&mut d, &mut buf);
        buf.truncate(len);
        if len > 0
            && tx
                .send(Msg::Data(buf, raw.load(Ordering::Relaxed)))
                .is_err()
        {
            return;
        }
        let last = match outcome {
            Ok(true) => continue,
            Ok(false) => Msg::End,
            Err(e) => Msg::Fail(e),
        };
        let _ = tx.send(last);
        return;
    }
}

/// Fills `buf` from `r`: the bytes read, and `Ok(true)` if more may follow, `Ok(false)` at the
/// end, or the error that stopped it.
fn fill(r: &mut impl Read, buf: &mut [u8]) -> (usize, io::Result<bool>) {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => return (n, Ok(false)),
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (n, Err(e)),
        }
    }
    (n, Ok(true))
}
