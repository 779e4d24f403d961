//! Why a capture file could not be read, or not to its end.

use std::io;

use super::codec::CodecError;

/// Why a capture file could not be read (or could not be read to its end).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be opened or read.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The path names a directory.
    #[error("is a directory, not a capture file")]
    Directory,
    /// A directory given to read holds no capture file.
    #[error("no capture file in this directory (or below it)")]
    NoCapture,
    /// The file has no bytes at all.
    #[error("empty file (0 bytes): not a capture file")]
    Empty,
    /// The first bytes are no pcap, pcapng or compression magic number.
    #[error(
        "not a capture file (unknown magic number {0:#010x}; expected pcap, pcapng, gzip, zstd, xz, lzma, bzip2 or lz4)"
    )]
    NotCapture(u32),
    /// A link type dnsobs cannot decode.
    #[error(
        "unsupported link type {0} (supported: 0 NULL, 1 ETHERNET, 12/14/101 RAW, 108 LOOP, 113 LINUX_SLL, 228 IPV4, 229 IPV6, 276 LINUX_SLL2)"
    )]
    UnknownLinkType(u32),
    /// The file ends inside a header or record.
    #[error("file is truncated: it ends in the middle of a record after {0} complete records")]
    Truncated(u64),
    /// A length or field is impossible.
    #[error(
        "corrupt capture after {records} records: {what} (at byte {offset}{})",
        if *decompressed { " of the decompressed data" } else { "" }
    )]
    Corrupt {
        /// Records read before the problem.
        records: u64,
        /// What is wrong.
        what: &'static str,
        /// Where the record or block that is wrong starts.
        offset: u64,
        /// Whether `offset` counts decompressed bytes (of a compressed file).
        decompressed: bool,
    },
    /// The compressed stream is cut short or corrupt.
    #[error("{error}, after {records} complete records")]
    Decompress {
        /// Records read before the problem.
        records: u64,
        /// What the decompressor said, and where.
        error: CodecError,
    },
}

impl ReadError {
    /// True when records before the error were readable (the report is partial, not empty).
    pub fn is_partial(&self) -> bool {
        matches!(
            self,
            Self::Truncated(_) | Self::Corrupt { .. } | Self::Decompress { .. }
        )
    }

    /// True when the file is no capture at all (empty, or an unknown magic number): in a
    /// directory, such a file is skipped with a note rather than counted as a problem.
    pub fn is_not_capture(&self) -> bool {
        matches!(self, Self::Empty | Self::NotCapture(_))
    }

    /// The records read before the error, when it says.
    pub fn records(&self) -> Option<u64> {
        match self {
            Self::Truncated(n) | Self::Corrupt { records: n, .. } => Some(*n),
            Self::Decompress { records, .. } => Some(*records),
            _ => None,
        }
    }

    /// The error with its record count set to `records` (the stream layer does not count).
    pub(super) fn after(self, records: u64) -> Self {
        match self {
            Self::Decompress { error, .. } => Self::Decompress { records, error },
            other => other,
        }
    }
}
