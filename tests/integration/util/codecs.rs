//! Compressing test data in every codec dnsobs reads, with the codecs' own crates (the same
//! formats as the command-line tools: gzip, zstd, xz, lzma, bzip2, lz4 frames).

use std::io::Write;

/// A compression of test data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    Plain,
    Gzip,
    Zstd,
    Xz,
    Lzma,
    Bzip2,
    Lz4,
}

impl Codec {
    /// Every codec, plain first.
    pub const ALL: [Codec; 7] = [
        Codec::Plain,
        Codec::Gzip,
        Codec::Zstd,
        Codec::Xz,
        Codec::Lzma,
        Codec::Bzip2,
        Codec::Lz4,
    ];

    /// The name dnsobs reports ("none" for plain).
    pub fn name(self) -> &'static str {
        match self {
            Codec::Plain => "none",
            Codec::Gzip => "gzip",
            Codec::Zstd => "zstd",
            Codec::Xz => "xz",
            Codec::Lzma => "lzma",
            Codec::Bzip2 => "bzip2",
            Codec::Lz4 => "lz4",
        }
    }

    /// `data` compressed (one stream; fast levels).
    pub fn compress(self, data: &[u8]) -> Vec<u8> {
        match self {
            Codec::Plain => data.to_vec(),
            Codec::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(data).expect("gzip");
                e.finish().expect("gzip")
            }
            Codec::Zstd => zstd::encode_all(data, 1).expect("zstd"),
            Codec::Xz => {
                let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
                e.write_all(data).expect("xz");
                e.finish().expect("xz")
            }
            Codec::Lzma => {
                let opts = liblzma::stream::LzmaOptions::new_preset(1).expect("preset");
                let s = liblzma::stream::Stream::new_lzma_encoder(&opts).expect("lzma");
                let mut e = liblzma::write::XzEncoder::new_stream(Vec::new(), s);
                e.write_all(data).expect("lzma");
                e.finish().expect("lzma")
            }
            Codec::Bzip2 => {
                let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
                e.write_all(data).expect("bzip2");
                e.finish().expect("bzip2")
            }
            Codec::Lz4 => {
                // As the lz4 tool writes by default: a content checksum, linked blocks.
                let info = lz4_flex::frame::FrameInfo::new()
                    .content_checksum(true)
                    .block_mode(lz4_flex::frame::BlockMode::Linked)
                    .block_size(lz4_flex::frame::BlockSize::Max64KB);
                let mut e = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
                e.write_all(data).expect("lz4");
                e.finish().expect("lz4")
            }
        }
    }

    /// `data` as two streams one after the other (split at `at`), as `cat a.xz b.xz` gives.
    /// (For lzma, which has no multi-stream form, one stream.)
    pub fn compress_twice(self, data: &[u8], at: usize) -> Vec<u8> {
        if matches!(self, Codec::Plain | Codec::Lzma) {
            return self.compress(data);
        }
        let mut v = self.compress(&data[..at]);
        v.extend(self.compress(&data[at..]));
        v
    }
}
