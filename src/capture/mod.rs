//! Stage 1, capture: frames in, with their link type and timestamp. No DNS knowledge here.
//!
//! [`file`] reads capture files (pcap, pcapng; gzip, zstd, xz, bzip2, lz4 compressed) for `replay`,
//! [`plan`] orders the files of a run (directories expanded) by time;
//! [`live`] opens libpcap handles joined into a PACKET_FANOUT group for the daemon.

pub mod dnstap;
pub mod file;
pub mod live;
pub mod plan;
pub mod readahead;

/// Link-layer header types dnsobs decodes (LINKTYPE_* / DLT_* values in [`LinkType::from_code`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// BSD loopback, 4-byte address family in host byte order (0).
    Null,
    /// Ethernet (1), with 802.1Q / 802.1ad tags.
    Ethernet,
    /// Raw IP, version from the first nibble (101; DLT_RAW 12 and 14 on some systems).
    Raw,
    /// OpenBSD loopback, address family in network byte order (108).
    Loop,
    /// Linux cooked capture v1 (113).
    LinuxSll,
    /// Raw IPv4 (228).
    Ipv4,
    /// Raw IPv6 (229).
    Ipv6,
    /// Linux cooked capture v2 (276).
    LinuxSll2,
    /// PPP, with or without HDLC-like address and control bytes (9).
    Ppp,
    /// PPP in HDLC-like framing, or Cisco HDLC (50).
    PppHdlc,
}

impl LinkType {
    /// Maps a LINKTYPE_/DLT_ value; `None` for types dnsobs does not decode.
    pub fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            0 => Self::Null,
            1 => Self::Ethernet,
            12 | 14 | 101 => Self::Raw,
            108 => Self::Loop,
            113 => Self::LinuxSll,
            228 => Self::Ipv4,
            229 => Self::Ipv6,
            276 => Self::LinuxSll2,
            9 => Self::Ppp,
            50 => Self::PppHdlc,
            _ => return None,
        })
    }

    /// The LINKTYPE name, for reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Null => "NULL",
            Self::Ethernet => "ETHERNET",
            Self::Raw => "RAW",
            Self::Loop => "LOOP",
            Self::LinuxSll => "LINUX_SLL",
            Self::Ipv4 => "IPV4",
            Self::Ipv6 => "IPV6",
            Self::LinuxSll2 => "LINUX_SLL2",
            Self::Ppp => "PPP",
            Self::PppHdlc => "PPP_HDLC",
        }
    }
}

/// One captured frame, borrowed from the reader's buffer.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    /// Capture time, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Link type of this frame (pcapng: of its interface).
    pub link: LinkType,
    /// The captured bytes (possibly cut by the snapshot length).
    pub data: &'a [u8],
    /// The frame's length on the wire.
    pub orig_len: u32,
}
