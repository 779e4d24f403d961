//! Stage 2, decode: frame bytes → DNS messages. HOT PATH: no allocation per packet in steady
//! state, no locks, no logging, no panics.
//!
//! `link` (→ `ppp`) → `ip` (→ `defrag`) → UDP / TCP (→ `tcp` reassembly) → `dns`, the
//! [`Decoder`] walking back to `ip` through `tunnel` for encapsulated packets. What is found is
//! handed to a [`Sink`] (the aggregate): DNS messages with their context, malformed input with
//! its reason, and counter events of the reassembly tables. Only traffic on a DNS port (source or
//! destination) reaches the DNS parser; DNS quoted inside ICMP errors is never decoded.

pub mod bufpool;
mod decoder;
pub mod defrag;
pub mod dns;
mod ethertype;
mod fastpath;
pub mod iana;
pub mod ip;
pub mod link;
pub mod malformed;
pub mod ppp;
pub mod tcp;
pub mod tunnel;

use crate::capture::Packet;

pub use decoder::Decoder;
pub use dns::{Message, Name};
pub use malformed::Malformed;

use ip::Addr;

//------------ Events --------------------------------------------------------

/// Counter events of decoding that are neither messages nor malformed input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Event {
    /// A frame that carries no IP (ARP, LLDP, ...).
    NonIp,
    /// An IP fragment was received.
    Fragment,
    /// A fragmented datagram was completed.
    Reassembled,
    /// A partly received datagram timed out.
    FragmentExpired,
    /// A partly received datagram was evicted because the table was full.
    FragmentEvicted,
    /// A TCP segment with payload on a DNS port.
    TcpSegment,
    /// A TCP segment whose bytes had all been seen.
    TcpRetransmit,
    /// A TCP sequence gap that could not be filled (stream resynchronised).
    TcpGap,
    /// A TCP direction forgotten after idling.
    TcpFlowExpired,
    /// A new TCP direction found the table full and was decoded without state.
    TcpFlowUntracked,
    /// A TCP direction dropped because reassembly buffers hit their byte limit.
    TcpBufferOverflow,
}

impl Event {
    /// Every event, in index order.
    pub const ALL: [Self; 11] = [
        Self::NonIp,
        Self::Fragment,
        Self::Reassembled,
        Self::FragmentExpired,
        Self::FragmentEvicted,
        Self::TcpSegment,
        Self::TcpRetransmit,
        Self::TcpGap,
        Self::TcpFlowExpired,
        Self::TcpFlowUntracked,
        Self::TcpBufferOverflow,
    ];
    /// Number of events.
    pub const COUNT: usize = Self::ALL.len();

    /// Stable label for reports.
    pub const fn label(self) -> &'static str {
        match self {
            Self::NonIp => "non_ip_frames",
            Self::Fragment => "ip_fragments",
            Self::Reassembled => "ip_datagrams_reassembled",
            Self::FragmentExpired => "ip_datagrams_expired",
            Self::FragmentEvicted => "ip_datagrams_evicted",
            Self::TcpSegment => "tcp_segments",
            Self::TcpRetransmit => "tcp_retransmissions",
            Self::TcpGap => "tcp_gaps",
            Self::TcpFlowExpired => "tcp_flows_expired",
            Self::TcpFlowUntracked => "tcp_flows_untracked",
            Self::TcpBufferOverflow => "tcp_buffer_overflows",
        }
    }

    /// Index into counter arrays.
    pub const fn index(self) -> usize {
        self as usize
    }
}

//------------ Context and sink ----------------------------------------------

/// Transport that carried a DNS message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// UDP.
    Udp = 0,
    /// TCP.
    Tcp = 1,
}

/// Where and how a DNS message travelled.
#[derive(Clone, Copy, Debug)]
pub struct MsgCtx {
    /// Capture time of the frame that completed the message.
    pub ts_ns: u64,
    /// 4 or 6.
    pub ip_version: u8,
    /// UDP or TCP.
    pub transport: Transport,
    /// Source address (IPv4 in the first four bytes).
    pub src: Addr,
    /// Destination address.
    pub dst: Addr,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Message length: UDP length − 8, or the TCP length prefix.
    pub size: u32,
}

/// The one place unit tests build a message context: set what a test varies with struct
/// update syntax, `MsgCtx { ts_ns, size, ..MsgCtx::for_test(4, src) }`.
#[cfg(test)]
impl MsgCtx {
    /// A UDP message from `src` (IPv4 in the first four bytes) port 1 to the all-zero address
    /// port 53, at capture time 0, of size 0.
    pub(crate) fn for_test(ip_version: u8, src: Addr) -> Self {
        Self {
            ts_ns: 0,
            ip_version,
            transport: Transport::Udp,
            src,
            dst: [0; 16],
            sport: 1,
            dport: 53,
            size: 0,
        }
    }
}

/// Receives what decoding finds.
pub trait Sink {
    /// A DNS message with a complete header (possibly malformed further on).
    fn message(&mut self, ctx: &MsgCtx, msg: &Message, name: &Name);
    /// Input that is not a DNS message: `ctx` is known once a DNS port was seen.
    fn malformed(&mut self, reason: Malformed, ctx: Option<&MsgCtx>);
    /// A counter event.
    fn event(&mut self, event: Event);
}

//------------ Settings ------------------------------------------------------

/// Decoding settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// DNS ports (UDP and TCP, either direction).
    pub ports: Vec<u16>,
    /// Fragment reassembly limits.
    pub defrag: defrag::Limits,
    /// TCP reassembly limits.
    pub tcp: tcp::Limits,
    /// Encapsulations looked inside, and the UDP ports of VXLAN and GENEVE.
    pub tunnels: tunnel::Settings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            ports: vec![53],
            defrag: defrag::Limits::default(),
            tcp: tcp::Limits::default(),
            tunnels: tunnel::Settings::default(),
        }
    }
}

/// A symmetric hash of a frame's IP addresses, to choose its worker: both directions of a
/// conversation, all fragments of a datagram and all segments of a flow get the same value.
/// Frames without IP hash to 0.
pub fn shard_hash(pkt: &Packet<'_>) -> u64 {
    let Ok(link::Link::Ip(p)) = link::strip(pkt.link, pkt.data) else {
        return 0;
    };
    // Word-wise (a byte-wise FNV loop cost up to ~40 ns for IPv6, paid by every worker for
    // every frame when workers walk a mapped file): each address folds to 64 bits, the pair is
    // ordered so both directions agree, then mixed (splitmix64 finaliser).
    let word = |s: &[u8], at: usize| -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[at..at + 8]);
        u64::from_le_bytes(w)
    };
    let (x, y) = match p.first().map(|b| b >> 4) {
        Some(4) => match p.get(12..20) {
            Some(a) => {
                let v = word(a, 0);
                (v & 0xFFFF_FFFF, v >> 32)
            }
            None => return 0,
        },
        Some(6) => match p.get(8..40) {
            Some(a) => (
                word(a, 0) ^ word(a, 8).rotate_left(29),
                word(a, 16) ^ word(a, 24).rotate_left(29),
            ),
            None => return 0,
        },
        _ => return 0,
    };
    let (lo, hi) = if x <= y { (x, y) } else { (y, x) };
    let mut h = lo.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ hi;
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

//============ Testing =======================================================

#[cfg(test)]
mod test {
    use super::*;
    use crate::capture::LinkType;

    fn hash(frame: &[u8]) -> u64 {
        shard_hash(&Packet {
            ts_ns: 0,
            link: LinkType::Raw,
            data: frame,
            orig_len: frame.len() as u32,
        })
    }

    #[test]
    fn shard_hash_is_symmetric_and_spreads() {
        let mut seen = [0u32; 2];
        for i in 0..=255u8 {
            let mut v4 = vec![0x45; 20];
            v4[12..16].copy_from_slice(&[192, 0, 2, i]);
            v4[16..20].copy_from_slice(&[198, 51, 100, 7]);
            let mut back = v4.clone();
            back.copy_within(12..16, 16);
            back[12..16].copy_from_slice(&[198, 51, 100, 7]);
            assert_eq!(hash(&v4), hash(&back));
            seen[(hash(&v4) % 2) as usize] += 1;

            let mut v6 = vec![0x60; 40];
            v6[8..24].copy_from_slice(&[0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, i]);
            v6[24..40].copy_from_slice(&[0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
            let mut back = v6.clone();
            back[8..24].copy_from_slice(&v6[24..40]);
            back[24..40].copy_from_slice(&v6[8..24]);
            assert_eq!(hash(&v6), hash(&back));
        }
        // Both workers of two get a fair share of 256 clients.
        assert!(seen.iter().all(|&n| n > 96), "{seen:?}");
        assert_eq!(hash(&[0x45, 0, 0]), 0);
    }
}
