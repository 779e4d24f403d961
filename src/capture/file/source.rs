//! The bytes a [`super::Reader`] parses: a memory map, or a buffered stream (a decompressor,
//! standard input, a pipe).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;

use memmap2::Mmap;

use super::ReadError;
use super::codec::codec_error;

/// Read size for streamed (compressed) input.
const STREAM_CHUNK: usize = 1 << 20;

/// Bytes to parse: a memory map, or a buffered stream (decompressor, stdin).
pub(super) enum Source {
    Mapped {
        /// Shared by the readers of one file that [`super::Reader::share`] made (one worker
        /// each).
        map: Arc<Mmap>,
        pos: usize,
    },
    Stream {
        r: Box<dyn Read + Send>,
        buf: Vec<u8>,
        /// Stream offset of `buf[0]`.
        base: u64,
        start: usize,
        end: usize,
        eof: bool,
    },
}

/// Opens `path` (`-` for standard input): regular files are memory-mapped, anything else is
/// streamed. Also the input's size when it is a regular file.
pub(super) fn open(path: &Path) -> Result<(Source, Option<u64>), ReadError> {
    if path.as_os_str() == "-" {
        return Ok((stream(Box::new(io::stdin())), None));
    }
    let file = File::open(path)?;
    let meta = file.metadata()?;
    if meta.is_dir() {
        return Err(ReadError::Directory);
    }
    if meta.len() == 0 && meta.is_file() {
        return Err(ReadError::Empty);
    }
    if !meta.is_file() {
        return Ok((stream(Box::new(file)), None));
    }
    // SAFETY: the map is read-only and private. A capture file truncated by another process
    // while mapped would raise SIGBUS; dnsobs reads finished captures.
    let map = unsafe { Mmap::map(&file)? };
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::Sequential);
    let src = Source::Mapped {
        map: Arc::new(map),
        pos: 0,
    };
    Ok((src, Some(meta.len())))
}

impl Source {
    /// Makes at least `n` bytes available; `Ok(false)` if the input ends first.
    pub(super) fn ensure(&mut self, n: usize) -> Result<bool, ReadError> {
        match self {
            Self::Mapped { map, pos } => Ok(map.len() - *pos >= n),
            Self::Stream {
                r,
                buf,
                base,
                start,
                end,
                eof,
            } => {
                while *end - *start < n {
                    if *eof {
                        return Ok(false);
                    }
                    if *start > 0 {
                        *base += *start as u64;
                        buf.copy_within(*start..*end, 0);
                        *end -= *start;
                        *start = 0;
                    }
                    let want = (*end + STREAM_CHUNK).max(n);
                    if buf.len() < want {
                        buf.resize(want, 0);
                    }
                    match r.read(&mut buf[*end..]) {
                        Ok(0) => *eof = true,
                        Ok(k) => *end += k,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(stream_error(e)),
                    }
                }
                Ok(true)
            }
        }
    }

    pub(super) fn avail(&self) -> &[u8] {
        match self {
            Self::Mapped { map, pos } => &map[*pos..],
            Self::Stream {
                buf, start, end, ..
            } => &buf[*start..*end],
        }
    }

    pub(super) fn consume(&mut self, n: usize) {
        match self {
            Self::Mapped { pos, .. } => *pos += n,
            Self::Stream { start, .. } => *start += n,
        }
    }

    /// True if nothing is left (and nothing more will come).
    pub(super) fn at_end(&mut self) -> Result<bool, ReadError> {
        Ok(!self.ensure(1)?)
    }

    /// The `len` bytes that end where the next unread byte starts (the record just consumed).
    pub(super) fn behind(&self, len: usize) -> &[u8] {
        match self {
            Self::Mapped { map, pos } => &map[*pos - len..*pos],
            Self::Stream { buf, start, .. } => &buf[*start - len..*start],
        }
    }

    /// Offset of the next unread byte in the underlying buffer or map (for [`Self::behind`]
    /// arithmetic).
    pub(super) fn offset(&self) -> usize {
        match self {
            Self::Mapped { pos, .. } => *pos,
            Self::Stream { start, .. } => *start,
        }
    }

    /// Offset of the next unread byte from the start of the input (of the decompressed data
    /// for a decompressor).
    pub(super) fn position(&self) -> u64 {
        match self {
            Self::Mapped { pos, .. } => *pos as u64,
            Self::Stream { base, start, .. } => base + *start as u64,
        }
    }

    /// The whole underlying buffer or map.
    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            Self::Mapped { map, .. } => map,
            Self::Stream { buf, .. } => buf,
        }
    }
}

/// A decompressor's error as a [`ReadError::Decompress`] (its record count set by the reader),
/// any other as [`ReadError::Io`].
fn stream_error(e: io::Error) -> ReadError {
    match codec_error(&e) {
        Some(c) => ReadError::Decompress {
            records: 0,
            error: c.clone(),
        },
        None => ReadError::Io(e),
    }
}

pub(super) fn stream(r: Box<dyn Read + Send>) -> Source {
    Source::Stream {
        r,
        buf: Vec::new(),
        base: 0,
        start: 0,
        end: 0,
        eof: false,
    }
}

/// Turns a source back into a reader from its current position (to put a decompressor on it).
pub(super) fn into_reader(src: Source) -> Box<dyn Read + Send> {
    match src {
        Source::Mapped { map, pos } => {
            let mut c = io::Cursor::new(MapBytes(map));
            c.set_position(pos as u64);
            Box::new(c)
        }
        Source::Stream {
            r, buf, start, end, ..
        } => Box::new(io::Cursor::new(buf[start..end].to_vec()).chain(r)),
    }
}

/// A memory map usable as `AsRef<[u8]>` for `io::Cursor`.
struct MapBytes(Arc<Mmap>);

impl AsRef<[u8]> for MapBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}
