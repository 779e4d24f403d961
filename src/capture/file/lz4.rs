//! The LZ4 frame format (lz4's `lz4_Frame_format.md`: what the `lz4` tool writes) over
//! lz4_flex's block decoder: independent and linked blocks, block and content checksums
//! (xxHash32), content size, skippable frames, frames one after another.
//!
//! Written here rather than taken from lz4_flex's own `FrameDecoder` because that one takes an
//! input that ends at a block boundary (or inside a block header) for a clean end: a cut
//! archive must be an error. Not supported: the legacy format (`lz4 -l`) and frames that need
//! an external dictionary; both are errors.

use std::hash::Hasher;
use std::io::{self, Read};

use twox_hash::XxHash32;

const MAGIC: u32 = 0x184D_2204;
const LEGACY_MAGIC: u32 = 0x184C_2102;
/// Linked blocks may refer this far back into the previous blocks.
const WINDOW: usize = 64 << 10;

/// The frame being read.
struct Frame {
    linked: bool,
    block_checksums: bool,
    content_checksum: bool,
    max_block: usize,
    content_size: Option<u64>,
    content_len: u64,
    hasher: XxHash32,
}

/// Decompresses LZ4 frames read from `r`.
pub struct FrameDecoder<R> {
    r: R,
    frame: Option<Frame>,
    src: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
    /// The last [`WINDOW`] bytes decoded in this frame (linked blocks).
    dict: Vec<u8>,
}

fn corrupt(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

fn cut(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("the input ends inside {what}"),
    )
}

impl<R: Read> FrameDecoder<R> {
    /// A decoder over `r`.
    pub fn new(r: R) -> Self {
        Self {
            r,
            frame: None,
            src: Vec::new(),
            out: Vec::new(),
            pos: 0,
            dict: Vec::new(),
        }
    }

    /// Fills `buf`; `Ok(false)` if the input ends before the first byte.
    fn fill(&mut self, buf: &mut [u8], what: &str) -> io::Result<bool> {
        let mut got = 0;
        while got < buf.len() {
            match self.r.read(&mut buf[got..]) {
                Ok(0) if got == 0 => return Ok(false),
                Ok(0) => return Err(cut(what)),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    fn exact(&mut self, buf: &mut [u8], what: &str) -> io::Result<()> {
        if self.fill(buf, what)? || buf.is_empty() {
            Ok(())
        } else {
            Err(cut(what))
        }
    }

    fn u32(&mut self, what: &str) -> io::Result<u32> {
        let mut b = [0; 4];
        self.exact(&mut b, what)?;
        Ok(u32::from_le_bytes(b))
    }

    /// Reads frame headers (skipping skippable frames); `Ok(false)` at a clean end of input.
    fn start_frame(&mut self) -> io::Result<bool> {
        loop {
            let mut m = [0; 4];
            if !self.fill(&mut m, "a frame's magic number")? {
                return Ok(false);
            }
            match u32::from_le_bytes(m) {
                MAGIC => break,
                x if x & 0xFFFF_FFF0 == 0x184D_2A50 => {
                    let n = u64::from(self.u32("a skippable frame's size")?);
                    let skipped = io::copy(&mut (&mut self.r).take(n), &mut io::sink())?;
                    if skipped < n {
                        return Err(cut("a skippable frame"));
                    }
                }
                LEGACY_MAGIC => return Err(corrupt("legacy lz4 format (lz4 -l): not supported")),
                x => return Err(corrupt(format!("not an lz4 frame (magic {x:#010x})"))),
            }
        }
        self.frame = Some(self.descriptor()?);
        self.dict.clear();
        Ok(true)
    }

    /// The frame descriptor after the magic number.
    fn descriptor(&mut self) -> io::Result<Frame> {
        let mut d = [0u8; 2 + 8 + 1];
        self.exact(&mut d[..2], "a frame descriptor")?;
        let (flg, bd) = (d[0], d[1]);
        if flg >> 6 != 1 || flg & 0b10 != 0 || bd & 0x8F != 0 {
            return Err(corrupt(format!(
                "bad frame descriptor {flg:#04x} {bd:#04x}"
            )));
        }
        if flg & 1 != 0 {
            return Err(corrupt("frame needs a dictionary: not supported"));
        }
        let max_block = match (bd >> 4) & 7 {
            4 => 64 << 10,
            5 => 256 << 10,
            6 => 1 << 20,
            7 => 4 << 20,
            x => return Err(corrupt(format!("reserved block size code {x}"))),
        };
        let len = if flg & 0b1000 != 0 { 10 } else { 2 };
        self.exact(&mut d[2..len + 1], "a frame descriptor")?;
        if (XxHash32::oneshot(0, &d[..len]) >> 8) as u8 != d[len] {
            return Err(corrupt("frame descriptor checksum mismatch"));
        }
        let content_size = (len == 10).then(|| {
            let mut b = [0; 8];
            b.copy_from_slice(&d[2..10]);
            u64::from_le_bytes(b)
        });
        Ok(Frame {
            linked: flg & 0b10_0000 == 0,
            block_checksums: flg & 0b1_0000 != 0,
            content_checksum: flg & 0b100 != 0,
            max_block,
            content_size,
            content_len: 0,
            hasher: XxHash32::with_seed(0),
        })
    }

    /// Decodes the next block into `out`; `Ok(false)` at the end of input.
    fn next_block(&mut self) -> io::Result<bool> {
        self.out.clear();
        self.pos = 0;
        if self.frame.is_none() && !self.start_frame()? {
            return Ok(false);
        }
        let Some(f) = self.frame.as_ref() else {
            return Ok(false);
        };
        let (max, block_ck, linked) = (f.max_block, f.block_checksums, f.linked);
        let size = self.u32("a block header")?;
        if size == 0 {
            return self.end_frame().map(|()| true);
        }
        let (len, stored) = ((size & 0x7FFF_FFFF) as usize, size & 0x8000_0000 != 0);
        if len > max {
            return Err(corrupt(format!("block of {len} bytes, maximum {max}")));
        }
        let mut src = std::mem::take(&mut self.src);
        src.resize(len, 0);
        self.exact(&mut src, "a block")?;
        if block_ck && self.u32("a block checksum")? != XxHash32::oneshot(0, &src) {
            return Err(corrupt("block checksum mismatch"));
        }
        if stored {
            self.out.extend_from_slice(&src);
        } else {
            self.out.resize(max, 0);
            let n = if linked {
                lz4_flex::block::decompress_into_with_dict(&src, &mut self.out, &self.dict)
            } else {
                lz4_flex::block::decompress_into(&src, &mut self.out)
            }
            .map_err(|e| corrupt(format!("bad block: {e}")))?;
            self.out.truncate(n);
        }
        self.src = src;
        self.after_block(linked);
        Ok(true)
    }

    /// Hashes the block just decoded and keeps the window of linked blocks.
    fn after_block(&mut self, linked: bool) {
        if let Some(f) = &mut self.frame {
            f.content_len += self.out.len() as u64;
            if f.content_checksum {
                f.hasher.write(&self.out);
            }
        }
        if linked {
            self.dict.extend_from_slice(&self.out);
            if self.dict.len() > WINDOW {
                self.dict.drain(..self.dict.len() - WINDOW);
            }
        }
    }

    /// The end mark was read: checks the content size and checksum.
    fn end_frame(&mut self) -> io::Result<()> {
        let Some(f) = self.frame.take() else {
            return Ok(());
        };
        if let Some(want) = f.content_size.filter(|&n| n != f.content_len) {
            return Err(corrupt(format!(
                "frame holds {} bytes, its header says {want}",
                f.content_len
            )));
        }
        if f.content_checksum && self.u32("a content checksum")? != f.hasher.finish_32() {
            return Err(corrupt("content checksum mismatch"));
        }
        Ok(())
    }
}

impl<R: Read> Read for FrameDecoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.out.len() {
            if !self.next_block()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(b: &[u8]) -> io::Result<Vec<u8>> {
        let mut v = Vec::new();
        FrameDecoder::new(b).read_to_end(&mut v)?;
        Ok(v)
    }

    /// A frame of lz4_flex's encoder (independent or linked blocks, checksums on).
    fn encode(data: &[u8], linked: bool) -> Vec<u8> {
        use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
        let info = FrameInfo::new()
            .block_size(BlockSize::Max64KB)
            .block_mode(if linked {
                BlockMode::Linked
            } else {
                BlockMode::Independent
            })
            .block_checksums(true)
            .content_checksum(true)
            .content_size(Some(data.len() as u64));
        let mut e = FrameEncoder::with_frame_info(info, Vec::new());
        io::Write::write_all(&mut e, data).expect("encode");
        e.finish().expect("finish")
    }

    fn sample() -> Vec<u8> {
        // Compressible but not trivial: a counter's decimal digits, 300 kB.
        (0..60_000u32)
            .flat_map(|i| format!("{i:05}").into_bytes())
            .collect()
    }

    #[test]
    fn frames_and_concatenation() {
        let data = sample();
        for linked in [false, true] {
            let one = encode(&data, linked);
            assert_eq!(decode(&one).expect("decodes"), data, "linked {linked}");
            let mut two = one.clone();
            // A skippable frame between two frames.
            two.extend_from_slice(&[0x5A, 0x2A, 0x4D, 0x18, 3, 0, 0, 0, 1, 2, 3]);
            two.extend_from_slice(&one);
            assert_eq!(decode(&two).expect("decodes").len(), 2 * data.len());
        }
    }

    #[test]
    fn cut_and_corrupt_frames_are_errors() {
        let data = sample();
        let f = encode(&data, true);
        // Cut anywhere after the magic number: an error, never a clean end.
        for cut in [5, 7, f.len() / 3, f.len() / 2, f.len() - 5, f.len() - 1] {
            let e = decode(&f[..cut]).expect_err("a cut frame is an error");
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "cut at {cut}: {e}");
        }
        let mut bad = f.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x40;
        let e = decode(&bad).expect_err("a flipped bit is an error");
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
        let mut junk = f;
        junk.extend_from_slice(b"junk");
        assert!(decode(&junk).is_err());
    }
}
