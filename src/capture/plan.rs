//! The files of a run: directories expanded (recursively), every file probed for its first
//! packet's time and ordered by it (not by name), and the files that lie outside a
//! `--since`/`--until` window left out.
//!
//! Ordering: a rotated capture is one capture cut into files, and its state (TCP flows,
//! fragments, queries waiting for their response) must carry over from one file to the next in
//! time order, whatever the files are called. A file whose first time is unknown (no record,
//! a first record that cannot be read, standard input or a pipe, which cannot be read twice)
//! comes first; ties keep the order given (a directory's files by name).
//!
//! Windows: a file whose first packet is at or after `--until` is skipped; so is a file whose
//! successor (in time order) starts at or before `--since`, since a rotated capture's file ends
//! where the next begins. Only the first packet of each file is read for this (for a compressed
//! file, the first block decompressed): the last packet of a compressed file is known only by
//! decompressing it all. Packets are still filtered one by one, so the skipping can only leave
//! out a packet of the window when files overlap in time (two instances' captures given
//! together), which the replay detects and warns about.

use std::path::{Path, PathBuf};

use super::file::{Codec, ReadError, Reader};

/// A time window on capture timestamps: `since <= t < until` (ns since the epoch).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Window {
    /// First instant inside (`--since`).
    pub since_ns: Option<u64>,
    /// First instant after (`--until`).
    pub until_ns: Option<u64>,
}

impl Window {
    /// Whether a packet of time `ts_ns` is inside.
    #[inline]
    pub fn contains(&self, ts_ns: u64) -> bool {
        self.since_ns.is_none_or(|s| ts_ns >= s) && self.until_ns.is_none_or(|u| ts_ns < u)
    }

    /// No bound at all.
    pub fn is_all(&self) -> bool {
        self.since_ns.is_none() && self.until_ns.is_none()
    }
}

/// A file that could not be read at all (or a directory holding no capture file).
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct FileError {
    /// The file.
    pub path: PathBuf,
    /// Why (part of the message, deliberately not a `source`, so it is printed once).
    pub reason: ReadError,
}

/// One file to read.
pub struct Input {
    /// Its path (`-` for standard input).
    pub path: PathBuf,
    /// Time of its first packet, when known.
    pub first_ns: Option<u64>,
    /// Its size in bytes (compressed), when it is a regular file.
    pub size: Option<u64>,
    /// Its compression, `None` for a plain file.
    pub codec: Option<Codec>,
    /// The reader opened to probe it, kept when the input cannot be opened twice (standard
    /// input, a pipe).
    pub kept: Option<Reader>,
}

/// Why a file was left out of a run.
#[derive(Debug)]
pub enum Skip {
    /// A file found in a directory that is no capture (empty, unknown magic number).
    NotCapture(ReadError),
    /// A file found in a directory that could not be opened or read at all.
    Unreadable(ReadError),
    /// Every packet of the file lies outside `--since`/`--until`.
    OutsideWindow,
}

/// A file left out, and why.
#[derive(Debug)]
pub struct Skipped {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub why: Skip,
}

/// The files of a run in the order to read them, and those left out.
#[derive(Default)]
pub struct Plan {
    /// To read, in this order.
    pub inputs: Vec<Input>,
    /// Left out (directories' non-captures and unreadable files, files outside the window).
    pub skipped: Vec<Skipped>,
}

impl Plan {
    /// Expands directories, probes every file, orders them by their first packet's time and
    /// leaves out the files outside `window`. A file given by name that cannot be read is an
    /// error; a file found in a directory is skipped instead (see [`Skip`]).
    pub fn new(args: &[PathBuf], window: &Window) -> Result<Self, FileError> {
        let mut plan = Self::default();
        for arg in args {
            if arg.as_os_str() != "-" && arg.is_dir() {
                plan.add_dir(arg)?;
            } else {
                let input = probe(arg).map_err(|reason| FileError {
                    path: arg.clone(),
                    reason,
                })?;
                plan.inputs.push(input);
            }
        }
        // Stable: ties (and unknown times, first) keep the order given.
        plan.inputs.sort_by_key(|i| i.first_ns);
        plan.apply(window);
        Ok(plan)
    }

    /// Adds every capture file under `dir`; an error if there is none.
    fn add_dir(&mut self, dir: &Path) -> Result<(), FileError> {
        let mut files = Vec::new();
        walk(dir, &mut files).map_err(|e| FileError {
            path: dir.to_owned(),
            reason: ReadError::Io(e),
        })?;
        let before = self.inputs.len();
        for (path, listed) in files {
            let probed = listed.map_err(ReadError::Io).and_then(|()| probe(&path));
            match probed {
                Ok(input) => self.inputs.push(input),
                Err(e) if e.is_not_capture() => self.skip(path, Skip::NotCapture(e)),
                Err(e) => self.skip(path, Skip::Unreadable(e)),
            }
        }
        if self.inputs.len() == before {
            return Err(FileError {
                path: dir.to_owned(),
                reason: ReadError::NoCapture,
            });
        }
        Ok(())
    }

    fn skip(&mut self, path: PathBuf, why: Skip) {
        self.skipped.push(Skipped { path, why });
    }

    /// Leaves out the inputs entirely outside `window` (see the module's documentation).
    fn apply(&mut self, window: &Window) {
        if window.is_all() {
            return;
        }
        let next_first: Vec<Option<u64>> = (0..self.inputs.len())
            .map(|i| self.inputs.get(i + 1).and_then(|n| n.first_ns))
            .collect();
        let inputs = std::mem::take(&mut self.inputs);
        for (input, next) in inputs.into_iter().zip(next_first) {
            let after = matches!((input.first_ns, window.until_ns), (Some(f), Some(u)) if f >= u);
            let before = matches!((next, window.since_ns), (Some(n), Some(s)) if n <= s);
            if (after || before) && input.kept.is_none() {
                self.skip(input.path, Skip::OutsideWindow);
            } else {
                self.inputs.push(input);
            }
        }
    }

    /// Bytes of the inputs to read, when every size is known.
    pub fn total_size(&self) -> Option<u64> {
        self.inputs.iter().map(|i| i.size).sum()
    }
}

/// Every file under `dir`, sorted by name at each level, with the error met when listing or
/// looking at an entry. Symbolic links to files are followed; links to directories are not (no
/// loop is possible).
fn walk(dir: &Path, out: &mut Vec<(PathBuf, std::io::Result<()>)>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    entries.sort();
    for path in entries {
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => {
                if let Err(e) = walk(&path, out) {
                    out.push((path, Err(e)));
                }
            }
            Ok(m) if m.file_type().is_symlink() && path.is_dir() => {}
            Ok(_) => out.push((path, Ok(()))),
            Err(e) => out.push((path, Err(e))),
        }
    }
    Ok(())
}

/// Opens `path`, reads its first packet's time, and notes its size and compression.
fn probe(path: &Path) -> Result<Input, ReadError> {
    let mut r = Reader::open(path)?;
    let codec = r.codec();
    let size = r.input_progress().1;
    let mut input = Input {
        path: path.to_owned(),
        first_ns: None,
        size,
        codec,
        kept: None,
    };
    // A regular file is opened again when its turn comes; anything else cannot be.
    if size.is_none() {
        input.kept = Some(r);
        return Ok(input);
    }
    // A first record that cannot be read: the error will come again, in its place, when
    // the file is read.
    input.first_ns = r.next().ok().flatten().map(|p| p.ts_ns);
    Ok(input)
}
