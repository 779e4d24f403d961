//! Capture files: classic pcap (µs and ns, both byte orders) and pcapng (several sections and
//! interfaces, each with its own link type and timestamp resolution), plain or compressed with
//! gzip, zstd, xz / lzma, bzip2 or lz4 (detected by magic number, decompressed as a stream, no
//! temporary file: [`codec`]).
//!
//! A pure-Rust reader rather than libpcap's offline reader, for three measured reasons:
//! libpcap refuses pcapng files whose interfaces have different link types (mergecap output,
//! `sf-pcapng.c`), it cannot read from a decompressing stream without a temporary file or pipe,
//! and it costs 63–74 ns per record against a few ns for this reader over a memory map (see
//! `benches/decode.rs` and `docs/performance.md`). Plain files are memory-mapped and records are
//! handed out as borrowed slices: no copy, no allocation per record.

pub mod codec;
mod error;
mod lz4;
mod source;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use codec::{Codec, CodecError};
pub use error::ReadError;
use source::Source;

use super::{LinkType, Packet};

/// Largest record accepted; anything bigger is a corrupt length field (libpcap's own limit for
/// snaplen is 262144; pcapng blocks add options).
const MAX_RECORD: usize = 1 << 24;

//------------ Format --------------------------------------------------------

#[derive(Clone, Copy)]
struct Endian(bool); // true = big endian

impl Endian {
    fn u16(self, b: &[u8], at: usize) -> u16 {
        let a = [b[at], b[at + 1]];
        if self.0 {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        }
    }
    fn u32(self, b: &[u8], at: usize) -> u32 {
        let a = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if self.0 {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    }
}

/// One pcapng interface.
#[derive(Clone, Copy)]
struct Iface {
    link: LinkType,
    snaplen: u32,
    /// Timestamp units: `Ok(k)` = 10^-k s, `Err(k)` = 2^-k s.
    resol: Result<u8, u8>,
}

/// Whether `a` starts with a pcap (either byte order) or pcapng file magic number.
#[inline]
fn is_file_magic(a: &[u8]) -> bool {
    let Some(b) = a.first_chunk::<4>() else {
        return false;
    };
    let w = u32::from_le_bytes(*b);
    matches!(w, PCAP_US | PCAP_NS | PCAPNG_SHB) || matches!(w.swap_bytes(), PCAP_US | PCAP_NS)
}

#[derive(Clone)]
enum Format {
    Pcap {
        endian: Endian,
        nanos: bool,
        link: LinkType,
    },
    PcapNg {
        endian: Endian,
        ifaces: Vec<Iface>,
    },
}

/// Capture file formats, for reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// Classic pcap, microsecond timestamps.
    PcapMicro,
    /// Classic pcap, nanosecond timestamps.
    PcapNano,
    /// pcapng.
    PcapNg,
    /// dnstap Frame Streams (`replay --dnstap`).
    Dnstap,
    /// A dnsobs day state file (`dnsobs merge`).
    State,
}

//------------ SharedMap -----------------------------------------------------

/// A read-only memory map of a capture file, shared between threads (see
/// [`Reader::shared_map`]).
#[derive(Clone)]
pub struct SharedMap(Arc<memmap2::Mmap>);

impl SharedMap {
    /// Where `data` starts in the map, if it is a slice of it.
    pub fn offset_of(&self, data: &[u8]) -> Option<usize> {
        let base = self.0.as_ptr() as usize;
        let start = data.as_ptr() as usize;
        let off = start.checked_sub(base)?;
        (off.checked_add(data.len())? <= self.0.len()).then_some(off)
    }

    /// The bytes at `off..off + len`, if inside the map.
    pub fn get(&self, off: usize, len: usize) -> Option<&[u8]> {
        self.0.get(off..off.checked_add(len)?)
    }
}

//------------ Reader --------------------------------------------------------

/// Sequential reader over one capture file.
pub struct Reader {
    path: PathBuf,
    /// Time of the last packet returned (for pcapng blocks without a timestamp).
    last_ts_ns: u64,
    src: Source,
    format: Format,
    records: u64,
    codec: Option<Codec>,
    links: Vec<LinkType>,
    /// Input bytes consumed, for progress: shared with the counting reader under a
    /// decompressor (`None` when the map position says it).
    compressed_read: Option<Arc<AtomicU64>>,
    /// Size of the input file (`None` for standard input or a pipe).
    input_len: Option<u64>,
}

const PCAP_US: u32 = 0xA1B2_C3D4;
const PCAP_NS: u32 = 0xA1B2_3C4D;
const PCAPNG_SHB: u32 = 0x0A0D_0D0A;
const PCAPNG_BOM: u32 = 0x1A2B_3C4D;

impl Reader {
    /// Opens a capture file (`-` for standard input), detecting compression and format.
    pub fn open(path: &Path) -> Result<Self, ReadError> {
        let (mut src, input_len) = source::open(path)?;
        if !src.ensure(4)? {
            // Too short for any magic number: not a capture file at all.
            let a = src.avail();
            return Err(if a.is_empty() {
                ReadError::Empty
            } else {
                let mut m = [0u8; 4];
                m[..a.len()].copy_from_slice(a);
                ReadError::NotCapture(u32::from_be_bytes(m))
            });
        }
        src.ensure(Codec::MAGIC_LEN)?;
        let Some(codec) = Codec::detect(src.avail()) else {
            return Self::with_source(path, src, None, None, input_len);
        };
        let (raw, n) = codec::counted(source::into_reader(src));
        let r = codec.decoder(raw, Arc::clone(&n))?;
        Self::with_source(
            path,
            source::stream(Box::new(r)),
            Some(codec),
            Some(n),
            input_len,
        )
    }

    /// The raw bytes of `path` (memory-mapped when it is a regular file), for a decoder run
    /// elsewhere; also the file's size.
    pub fn raw(path: &Path) -> Result<(Box<dyn Read + Send>, Option<u64>), ReadError> {
        let (src, len) = source::open(path)?;
        Ok((source::into_reader(src), len))
    }

    /// A reader over `r`, the output of `codec`'s decoder of `path` run elsewhere (read-ahead
    /// on another thread); `compressed_read` says how far into the file it is, for progress.
    pub fn decompressed(
        path: &Path,
        r: Box<dyn Read + Send>,
        codec: Codec,
        compressed_read: Arc<AtomicU64>,
        input_len: Option<u64>,
    ) -> Result<Self, ReadError> {
        let src = source::stream(r);
        Self::with_source(path, src, Some(codec), Some(compressed_read), input_len)
    }

    fn with_source(
        path: &Path,
        src: Source,
        codec: Option<Codec>,
        compressed_read: Option<Arc<AtomicU64>>,
        input_len: Option<u64>,
    ) -> Result<Self, ReadError> {
        let mut r = Self {
            path: path.to_owned(),
            last_ts_ns: 0,
            src,
            format: Format::PcapNg {
                endian: Endian(false),
                ifaces: Vec::new(),
            },
            records: 0,
            codec,
            links: Vec::new(),
            compressed_read,
            input_len,
        };
        r.read_file_header()?;
        Ok(r)
    }

    fn read_file_header(&mut self) -> Result<(), ReadError> {
        if !self.src.ensure(4)? {
            return Err(if self.src.avail().is_empty() {
                ReadError::Empty
            } else {
                ReadError::Truncated(0)
            });
        }
        let a = self.src.avail();
        let le = u32::from_le_bytes([a[0], a[1], a[2], a[3]]);
        let be = u32::from_be_bytes([a[0], a[1], a[2], a[3]]);
        if le == PCAPNG_SHB {
            return self.read_shb();
        }
        let (endian, nanos) = match (le, be) {
            (PCAP_US, _) => (Endian(false), false),
            (PCAP_NS, _) => (Endian(false), true),
            (_, PCAP_US) => (Endian(true), false),
            (_, PCAP_NS) => (Endian(true), true),
            _ => return Err(ReadError::NotCapture(be)),
        };
        if !self.src.ensure(24)? {
            return Err(ReadError::Truncated(0));
        }
        let code = endian.u32(self.src.avail(), 20) & 0xFFFF;
        let link = LinkType::from_code(code).ok_or(ReadError::UnknownLinkType(code))?;
        self.links.push(link);
        self.src.consume(24);
        self.format = Format::Pcap {
            endian,
            nanos,
            link,
        };
        Ok(())
    }

    /// Section header block: byte order, and a fresh interface list.
    fn read_shb(&mut self) -> Result<(), ReadError> {
        if !self.src.ensure(12)? {
            return Err(ReadError::Truncated(self.records));
        }
        let a = self.src.avail();
        let endian = match u32::from_le_bytes([a[8], a[9], a[10], a[11]]) {
            PCAPNG_BOM => Endian(false),
            x if x.swap_bytes() == PCAPNG_BOM => Endian(true),
            _ => return Err(self.corrupt("pcapng section header has no byte-order magic")),
        };
        let len = endian.u32(a, 4) as usize;
        self.skip_block(len)?;
        self.format = Format::PcapNg {
            endian,
            ifaces: Vec::new(),
        };
        Ok(())
    }

    /// A corrupt-capture error at the next unread byte.
    fn corrupt(&self, what: &'static str) -> ReadError {
        ReadError::Corrupt {
            records: self.records,
            what,
            offset: self.src.position(),
            decompressed: self.codec.is_some(),
        }
    }

    fn skip_block(&mut self, len: usize) -> Result<(), ReadError> {
        if len < 12 || !len.is_multiple_of(4) || len > MAX_RECORD {
            return Err(self.corrupt("impossible pcapng block length"));
        }
        if !self.src.ensure(len)? {
            return Err(ReadError::Truncated(self.records));
        }
        self.src.consume(len);
        Ok(())
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Compression found ("none", "gzip", "zstd", "xz", "lzma", "bzip2", "lz4").
    pub fn compression(&self) -> &'static str {
        self.codec.map_or("none", Codec::name)
    }
    /// The compression found, `None` for a plain file.
    pub fn codec(&self) -> Option<Codec> {
        self.codec
    }
    /// Link types seen so far (the file's, or every pcapng interface's).
    pub fn link_types(&self) -> &[LinkType] {
        &self.links
    }
    /// Records (frames) read so far.
    pub fn records(&self) -> u64 {
        self.records
    }
    /// The format.
    pub fn kind(&self) -> FileKind {
        match self.format {
            Format::Pcap { nanos: false, .. } => FileKind::PcapMicro,
            Format::Pcap { nanos: true, .. } => FileKind::PcapNano,
            Format::PcapNg { .. } => FileKind::PcapNg,
        }
    }
    /// Bytes of the input consumed so far (of the decompressed stream when compressed).
    pub fn position_hint(&self) -> Option<usize> {
        match &self.src {
            Source::Mapped { pos, .. } => Some(*pos),
            Source::Stream { .. } => None,
        }
    }

    /// Another reader over the same memory-mapped file, at the same position, sharing the map
    /// (so the pages are mapped, and counted in RSS, once). `None` for streamed input.
    pub fn share(&self) -> Option<Self> {
        let Source::Mapped { map, pos } = &self.src else {
            return None;
        };
        Some(Self {
            path: self.path.clone(),
            last_ts_ns: self.last_ts_ns,
            src: Source::Mapped {
                map: Arc::clone(map),
                pos: *pos,
            },
            format: self.format.clone(),
            records: self.records,
            codec: self.codec,
            links: self.links.clone(),
            compressed_read: None,
            input_len: self.input_len,
        })
    }

    /// The memory map this reader walks (`None` for streamed input): the packets it returns
    /// are slices of it, so another thread holding the map can read a packet by its offset
    /// ([`SharedMap::offset_of`]) instead of a copy.
    pub fn shared_map(&self) -> Option<SharedMap> {
        match &self.src {
            Source::Mapped { map, .. } => Some(SharedMap(Arc::clone(map))),
            Source::Stream { .. } => None,
        }
    }

    /// Bytes of the input file consumed so far and the file's size, for progress displays:
    /// compressed bytes for compressed files (approximate: the decompressor reads ahead), `None`
    /// when unknown (an uncompressed stream such as standard input).
    pub fn input_progress(&self) -> (Option<u64>, Option<u64>) {
        let done = match (&self.src, &self.compressed_read) {
            (_, Some(n)) => Some(n.load(Ordering::Relaxed)),
            (Source::Mapped { pos, .. }, None) => Some(*pos as u64),
            (Source::Stream { .. }, None) => None,
        };
        (done, self.input_len)
    }

    /// The next frame, `Ok(None)` at the end of the file.
    // The returned packet borrows the reader, so it cannot be an `Iterator`.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Packet<'_>>, ReadError> {
        let records = self.records;
        self.next_record().map_err(|e| e.after(records))
    }

    fn next_record(&mut self) -> Result<Option<Packet<'_>>, ReadError> {
        loop {
            let Some((endian, nanos, link)) = self.pcap_format() else {
                return self.next_pcapng();
            };
            // A mapped pcap's record, the replay's common case, checked here without the
            // generic buffer calls (they cost more than the record itself).
            if let Source::Mapped { map, pos } = &self.src
                && !map.get(*pos..*pos + 4).is_some_and(is_file_magic)
            {
                return self.next_pcap_mapped(endian, nanos, link);
            }
            if self.at_file_header()? {
                // `cat a.pcap b.pcap`: the next capture's own header where a record would
                // start. (A record whose seconds field spells a magic number would be from
                // 1975, 2055 or 2083: not a real capture.)
                self.read_file_header()?;
                continue;
            }
            return if matches!(self.src, Source::Mapped { .. }) {
                self.next_pcap_mapped(endian, nanos, link)
            } else {
                self.next_pcap(endian, nanos, link)
            };
        }
    }

    /// Hands `f` the next records of a memory-mapped classic pcap, at most `limit`, in a
    /// loop with the file's byte order, resolution and link type fixed: the replay's common
    /// case without a `Result` per record. Stops (returning the records handed over) at
    /// anything else — another file's header, a bad or cut record, the end, another format —
    /// which [`Reader::next`] then reads, so the two interleave freely and see the same
    /// records in the same order (the per-record path measured ~110 instructions a record).
    pub fn next_run(&mut self, limit: u64, mut f: impl FnMut(&Packet<'_>)) -> u64 {
        let Some((endian, nanos, link)) = self.pcap_format() else {
            return 0;
        };
        let Source::Mapped { map, pos } = &mut self.src else {
            return 0;
        };
        let m: &[u8] = map;
        let unit = if nanos { 1 } else { 1000 };
        let mut n = 0;
        while n < limit {
            let start = *pos;
            let Some(h) = m.get(start..start + 16) else {
                break;
            };
            if is_file_magic(h) {
                break;
            }
            let (sec, frac) = (endian.u32(h, 0), endian.u32(h, 4));
            let (caplen, orig) = (endian.u32(h, 8) as usize, endian.u32(h, 12));
            if caplen > MAX_RECORD {
                break;
            }
            let end = start + 16 + caplen;
            let Some(data) = m.get(start + 16..end) else {
                break;
            };
            *pos = end;
            n += 1;
            f(&Packet {
                ts_ns: u64::from(sec) * 1_000_000_000 + u64::from(frac) * unit,
                link,
                data,
                orig_len: orig,
            });
        }
        self.records += n;
        n
    }

    /// A classic pcap's byte order, resolution (nanoseconds?) and link type; `None` for pcapng.
    fn pcap_format(&self) -> Option<(Endian, bool, LinkType)> {
        match self.format {
            Format::Pcap {
                endian,
                nanos,
                link,
            } => Some((endian, nanos, link)),
            Format::PcapNg { .. } => None,
        }
    }

    /// Whether the next bytes are a pcap or pcapng file header rather than a record.
    fn at_file_header(&mut self) -> Result<bool, ReadError> {
        Ok(self.src.ensure(4)? && is_file_magic(self.src.avail()))
    }

    /// [`Self::next_pcap`] for a memory-mapped file: the same checks and results, without the
    /// buffer management a stream needs (the generic path cost ~20 ns per record).
    #[inline]
    fn next_pcap_mapped(
        &mut self,
        e: Endian,
        nanos: bool,
        link: LinkType,
    ) -> Result<Option<Packet<'_>>, ReadError> {
        let Source::Mapped { map, pos } = &mut self.src else {
            return Ok(None);
        };
        let m: &[u8] = map;
        let start = *pos;
        let Some(h) = m.get(start..start + 16) else {
            return if start >= m.len() {
                Ok(None)
            } else {
                Err(ReadError::Truncated(self.records))
            };
        };
        let (sec, frac, caplen, orig) =
            (e.u32(h, 0), e.u32(h, 4), e.u32(h, 8) as usize, e.u32(h, 12));
        if caplen > MAX_RECORD {
            return Err(ReadError::Corrupt {
                records: self.records,
                what: "record length larger than any snapshot length",
                offset: start as u64,
                decompressed: false,
            });
        }
        let end = start + 16 + caplen;
        let Some(data) = m.get(start + 16..end) else {
            return Err(ReadError::Truncated(self.records));
        };
        *pos = end;
        self.records += 1;
        let ts_ns = u64::from(sec) * 1_000_000_000 + u64::from(frac) * if nanos { 1 } else { 1000 };
        Ok(Some(Packet {
            ts_ns,
            link,
            data,
            orig_len: orig,
        }))
    }

    fn next_pcap(
        &mut self,
        e: Endian,
        nanos: bool,
        link: LinkType,
    ) -> Result<Option<Packet<'_>>, ReadError> {
        if !self.src.ensure(16)? {
            return if self.src.avail().is_empty() {
                Ok(None)
            } else {
                Err(ReadError::Truncated(self.records))
            };
        }
        let h = self.src.avail();
        let (sec, frac, caplen, orig) =
            (e.u32(h, 0), e.u32(h, 4), e.u32(h, 8) as usize, e.u32(h, 12));
        if caplen > MAX_RECORD {
            return Err(self.corrupt("record length larger than any snapshot length"));
        }
        if !self.src.ensure(16 + caplen)? {
            return Err(ReadError::Truncated(self.records));
        }
        let ts_ns = u64::from(sec) * 1_000_000_000 + u64::from(frac) * if nanos { 1 } else { 1000 };
        self.src.consume(16 + caplen);
        self.records += 1;
        let data = self.src.behind(caplen);
        Ok(Some(Packet {
            ts_ns,
            link,
            data,
            orig_len: orig,
        }))
    }

    fn next_pcapng(&mut self) -> Result<Option<Packet<'_>>, ReadError> {
        loop {
            if self.src.at_end()? {
                return Ok(None);
            }
            if !self.src.ensure(12)? {
                return Err(ReadError::Truncated(self.records));
            }
            let Format::PcapNg { endian: e, .. } = self.format else {
                return Ok(None);
            };
            let a = self.src.avail();
            let btype = e.u32(a, 0);
            if u32::from_le_bytes([a[0], a[1], a[2], a[3]]) == PCAPNG_SHB {
                self.read_shb()?;
                continue;
            }
            let len = e.u32(a, 4) as usize;
            if len < 12 || !len.is_multiple_of(4) || len > MAX_RECORD {
                return Err(self.corrupt("impossible pcapng block length"));
            }
            if !self.src.ensure(len)? {
                return Err(ReadError::Truncated(self.records));
            }
            match btype {
                1 => self.read_idb(e, len)?,
                2 | 3 | 6 => {
                    if let Some((off, caplen, orig, ts_ns, link)) =
                        self.packet_block(e, btype, len)?
                    {
                        self.src.consume(len);
                        self.records += 1;
                        self.last_ts_ns = ts_ns;
                        let start = self.src.offset() - len;
                        let data = &self.src.bytes()[start + off..start + off + caplen];
                        return Ok(Some(Packet {
                            ts_ns,
                            link,
                            data,
                            orig_len: orig,
                        }));
                    }
                }
                _ => {}
            }
            self.src.consume(len);
        }
    }

    fn read_idb(&mut self, e: Endian, len: usize) -> Result<(), ReadError> {
        let b = &self.src.avail()[..len];
        if len < 20 {
            return Err(self.corrupt("pcapng interface block too short"));
        }
        let code = u32::from(e.u16(b, 8));
        let snaplen = e.u32(b, 12);
        let mut resol = Ok(6);
        let mut o = 16;
        while o + 4 <= len - 4 {
            let (oc, ol) = (e.u16(b, o), usize::from(e.u16(b, o + 2)));
            if oc == 0 {
                break;
            }
            if oc == 9 && ol >= 1 && o + 4 < len - 4 {
                let v = b[o + 4];
                resol = if v & 0x80 == 0 { Ok(v) } else { Err(v & 0x7F) };
            }
            o += 4 + ol.div_ceil(4) * 4;
        }
        let link = LinkType::from_code(code).ok_or(ReadError::UnknownLinkType(code))?;
        self.links.push(link);
        if let Format::PcapNg { ifaces, .. } = &mut self.format {
            if ifaces.len() >= 1 << 16 {
                return Err(self.corrupt("too many pcapng interfaces"));
            }
            ifaces.push(Iface {
                link,
                snaplen,
                resol,
            });
        }
        Ok(())
    }

    /// Parses an EPB/SPB/OPB: (data offset in block, caplen, orig len, ts, link).
    fn packet_block(
        &self,
        e: Endian,
        btype: u32,
        len: usize,
    ) -> Result<Option<BlockPacket>, ReadError> {
        let Format::PcapNg { ifaces, .. } = &self.format else {
            return Ok(None);
        };
        let b = &self.src.avail()[..len];
        let (iface, ts, caplen, orig, off) = match btype {
            6 if len >= 32 => {
                let ts = (u64::from(e.u32(b, 12)) << 32) | u64::from(e.u32(b, 16));
                (
                    e.u32(b, 8) as usize,
                    Some(ts),
                    e.u32(b, 20) as usize,
                    e.u32(b, 24),
                    28,
                )
            }
            2 if len >= 32 => {
                let ts = (u64::from(e.u32(b, 12)) << 32) | u64::from(e.u32(b, 16));
                (
                    usize::from(e.u16(b, 8)),
                    Some(ts),
                    e.u32(b, 20) as usize,
                    e.u32(b, 24),
                    28,
                )
            }
            3 if len >= 16 => {
                let orig = e.u32(b, 8);
                let snap = ifaces.first().map_or(u32::MAX, |i| {
                    if i.snaplen == 0 { u32::MAX } else { i.snaplen }
                });
                let cap = (orig.min(snap) as usize).min(len - 16);
                (0, None, cap, orig, 12)
            }
            _ => return Err(self.corrupt("pcapng packet block too short")),
        };
        let Some(&i) = ifaces.get(iface) else {
            return Err(self.corrupt("pcapng packet refers to an undeclared interface"));
        };
        if off + caplen > len - 4 {
            return Err(self.corrupt("pcapng packet data longer than its block"));
        }
        // A Simple Packet Block has no time: give it the previous packet's, so that time-based
        // state (flow and fragment timeouts) does not see a jump back to 1970.
        let ts_ns = ts.map_or(self.last_ts_ns, |t| to_nanos(t, i.resol));
        Ok(Some((off, caplen, orig, ts_ns, i.link)))
    }
}

/// A packet block's (data offset in the block, captured length, original length, time, link).
type BlockPacket = (usize, usize, u32, u64, LinkType);

fn to_nanos(t: u64, resol: Result<u8, u8>) -> u64 {
    let t = u128::from(t);
    let ns = match resol {
        Ok(k) if k <= 9 => t * 10u128.pow(u32::from(9 - k)),
        Ok(k) => t / 10u128.pow(u32::from(k.min(38) - 9)),
        Err(k) => (t * 1_000_000_000) >> k.min(127),
    };
    u64::try_from(ns).unwrap_or(u64::MAX)
}
