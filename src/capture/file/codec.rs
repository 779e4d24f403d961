//! Compression of capture files, recognised by magic number (never by name) and decompressed
//! as a stream: gzip (flate2), zstd, xz and legacy .lzma (liblzma), bzip2 (the pure-Rust
//! libbz2-rs port) and lz4 frames ([`super::lz4`] over lz4_flex's block decoder). Concatenated
//! streams (`cat a.xz b.xz`, pbzip2 and pigz output, `lz4` frames one after another) are read
//! as one.
//!
//! Every decoder's memory is bounded whatever its input says: gzip's window is 32 KiB, bzip2's
//! blocks 900 kB, lz4's blocks 4 MiB, zstd's window is capped at 2^27 bytes (zstd's own default
//! limit), xz and lzma at [`XZ_MEMLIMIT`] (an archive asking for more is refused as corrupt).
//!
//! A decoder's error is wrapped in a [`CodecError`] that says where the stream broke: the
//! decompressed byte reached, and how far the compressed input had been read (decoders read
//! their input in blocks, so that is where reading stopped, not the exact byte).

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Memory the xz / lzma decoder may use: xz -9 needs 65 MiB; a header asking for more than this
/// is an error, not an allocation.
pub const XZ_MEMLIMIT: u64 = 256 << 20;

/// A compression format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// gzip (RFC 1952), members concatenated.
    Gzip,
    /// Zstandard frames.
    Zstd,
    /// xz streams.
    Xz,
    /// The legacy .lzma ("LZMA alone") format.
    Lzma,
    /// bzip2 streams.
    Bzip2,
    /// LZ4 frames (the `lz4` tool's format), with skippable frames.
    Lz4,
}

impl Codec {
    /// Bytes needed by [`Codec::detect`].
    pub const MAGIC_LEN: usize = 6;

    /// The codec whose magic number starts `head` (at least [`Codec::MAGIC_LEN`] bytes, or
    /// the whole input when shorter), `None` for uncompressed (or unknown) data.
    pub fn detect(head: &[u8]) -> Option<Self> {
        Some(match head {
            [0x1F, 0x8B, ..] => Self::Gzip,
            [0x28, 0xB5, 0x2F, 0xFD, ..] => Self::Zstd,
            [0xFD, b'7', b'z', b'X', b'Z', 0x00, ..] => Self::Xz,
            // "BZh" and a block size digit 1-9.
            [b'B', b'Z', b'h', b'1'..=b'9', ..] => Self::Bzip2,
            [0x04, 0x22, 0x4D, 0x18, ..] => Self::Lz4,
            // LZMA alone: the properties byte lc/lp/pb (0x5D for the defaults every tool
            // writes), then a dictionary size whose low 16 bits are zero (powers of two from
            // 64 KiB, as xz and lzma write them).
            [0x5D, 0x00, 0x00, ..] => Self::Lzma,
            _ => return None,
        })
    }

    /// The name in reports ("gzip", "zstd", "xz", "lzma", "bzip2", "lz4").
    pub fn name(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
            Self::Xz => "xz",
            Self::Lzma => "lzma",
            Self::Bzip2 => "bzip2",
            Self::Lz4 => "lz4",
        }
    }

    /// A decoder reading compressed bytes from `raw`; its errors are [`CodecError`]s (as the
    /// inner error of an `io::Error`), located with `raw_read`, the compressed bytes read.
    pub fn decoder(
        self,
        raw: Box<dyn Read + Send>,
        raw_read: Arc<AtomicU64>,
    ) -> io::Result<Decoded> {
        let inner: Box<dyn Read + Send> = match self {
            Self::Gzip => Box::new(flate2::read::MultiGzDecoder::new(raw)),
            Self::Zstd => {
                let mut d = zstd::stream::read::Decoder::new(raw)?;
                d.window_log_max(27)?;
                Box::new(d)
            }
            Self::Xz | Self::Lzma => {
                let flags = liblzma::stream::CONCATENATED;
                let stream = liblzma::stream::Stream::new_auto_decoder(XZ_MEMLIMIT, flags)
                    .map_err(io::Error::other)?;
                Box::new(liblzma::read::XzDecoder::new_stream(raw, stream))
            }
            Self::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(raw)),
            // The frame decoder reads headers a few bytes at a time.
            Self::Lz4 => Box::new(super::lz4::FrameDecoder::new(io::BufReader::new(raw))),
        };
        Ok(Decoded {
            codec: self,
            inner,
            out: 0,
            raw_read,
        })
    }
}

/// Where and why a compressed stream broke.
#[derive(Clone, Debug, thiserror::Error)]
#[error(
    "{} data {} (decompressed byte {out}; compressed input read to byte {raw}): {detail}",
    codec.name(),
    if *truncated { "cut short" } else { "corrupt" }
)]
pub struct CodecError {
    /// The codec.
    pub codec: Codec,
    /// The compressed input ended inside a stream (rather than holding bad data).
    pub truncated: bool,
    /// Decompressed bytes delivered before the error.
    pub out: u64,
    /// Compressed bytes the decoder had read when it failed.
    pub raw: u64,
    /// The decoder's own words.
    pub detail: String,
}

/// A decoder that counts what it delivers and turns its errors into [`CodecError`]s.
pub struct Decoded {
    codec: Codec,
    inner: Box<dyn Read + Send>,
    out: u64,
    raw_read: Arc<AtomicU64>,
}

impl Read for Decoded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.out += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => Err(io::Error::other(CodecError {
                codec: self.codec,
                truncated: e.kind() == io::ErrorKind::UnexpectedEof,
                out: self.out,
                raw: self.raw_read.load(Ordering::Relaxed),
                detail: e.to_string(),
            })),
        }
    }
}

/// The [`CodecError`] inside an `io::Error`, if it carries one.
pub fn codec_error(e: &io::Error) -> Option<&CodecError> {
    e.get_ref().and_then(|i| i.downcast_ref::<CodecError>())
}

/// Wraps `r` so that the bytes read through it are counted (by the decompressor's reads, a
/// chunk at a time: one atomic add per chunk, nothing per record).
pub fn counted(r: Box<dyn Read + Send>) -> (Box<dyn Read + Send>, Arc<AtomicU64>) {
    struct Counted {
        r: Box<dyn Read + Send>,
        n: Arc<AtomicU64>,
    }
    impl Read for Counted {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let k = self.r.read(buf)?;
            self.n.fetch_add(k as u64, Ordering::Relaxed);
            Ok(k)
        }
    }
    let n = Arc::new(AtomicU64::new(0));
    (
        Box::new(Counted {
            r,
            n: Arc::clone(&n),
        }),
        n,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_numbers() {
        let cases: [(&[u8], Option<Codec>); 9] = [
            (&[0x1F, 0x8B, 8, 0, 0, 0], Some(Codec::Gzip)),
            (&[0x28, 0xB5, 0x2F, 0xFD, 0, 0], Some(Codec::Zstd)),
            (&[0xFD, b'7', b'z', b'X', b'Z', 0], Some(Codec::Xz)),
            (b"BZh91A", Some(Codec::Bzip2)),
            (b"BZh0xx", None),
            (&[0x04, 0x22, 0x4D, 0x18, 0x64, 0x40], Some(Codec::Lz4)),
            (&[0x5D, 0, 0, 0x80, 0, 0xFF], Some(Codec::Lzma)),
            (&[0xD4, 0xC3, 0xB2, 0xA1, 2, 0], None),
            (&[0x1F], None),
        ];
        for (head, want) in cases {
            assert_eq!(Codec::detect(head), want, "{head:02x?}");
        }
    }
}
