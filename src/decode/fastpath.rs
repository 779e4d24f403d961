//! The common frame in one step: Ethernet II (no VLAN tag), IPv4 without options and not a
//! fragment or IPv6 without extension headers, then UDP. HOT PATH.
//!
//! The layered walk ([`super::link`] → [`super::ip`] → UDP in [`super::decoder`]) returns a
//! `Result` of a header struct at each layer and cost ~250 instructions a frame before the DNS
//! message; this reads the same fields at fixed offsets. It only says yes to frames the layered
//! walk decodes without any remark (no malformed reason, no event), with the same addresses,
//! ports, lengths, payload and cut flag; anything else (`None`) takes the layered walk, which
//! stays the definition (`decoder::tests::fast_path_agrees_with_the_layers` compares both on
//! every fixture frame and on mutated ones).

use super::ip::Addr;

/// Offsets in an Ethernet II frame.
const ETH: usize = 14;
/// IPv4 header without options, IPv6 fixed header.
const IP4: usize = 20;
const IP6: usize = 40;
/// UDP header.
const UDP: usize = 8;
/// UDP's protocol number.
const PROTO_UDP: u8 = 17;

/// What the layered walk would find in a plain UDP frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlainUdp<'a> {
    /// 4 or 6.
    pub version: u8,
    /// Source address (IPv4 in the first four bytes).
    pub src: Addr,
    /// Destination address.
    pub dst: Addr,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// The UDP length field (≥ 8).
    pub len: usize,
    /// The UDP payload as captured, bounded by the IP and UDP lengths.
    pub payload: &'a [u8],
    /// The capture holds fewer IP payload bytes than the IP header announces.
    pub ip_cut: bool,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// The plain UDP datagram in an Ethernet frame, if it is one (see the module documentation).
#[inline(always)]
pub fn ethernet_udp(f: &[u8]) -> Option<PlainUdp<'_>> {
    let et = f.get(12..14)?;
    let (version, ip_len, src, dst, l4) = if et == [0x08, 0x00] {
        let h = f.get(ETH..ETH + IP4 + UDP)?;
        // Version 4, IHL 5; UDP; neither more fragments nor an offset.
        if h[0] != 0x45 || h[9] != PROTO_UDP || h[6] & 0x3F != 0 || h[7] != 0 {
            return None;
        }
        let total = usize::from(be16(h, 2));
        if total < IP4 + UDP {
            return None; // 0 (offload) and short lengths: the layers decide
        }
        let mut src = [0u8; 16];
        let mut dst = [0u8; 16];
        src[..4].copy_from_slice(&h[12..16]);
        dst[..4].copy_from_slice(&h[16..20]);
        (4, total - IP4, src, dst, ETH + IP4)
    } else if et == [0x86, 0xDD] {
        let h = f.get(ETH..ETH + IP6 + UDP)?;
        let plen = usize::from(be16(h, 4));
        if h[0] >> 4 != 6 || h[6] != PROTO_UDP || plen < UDP {
            return None;
        }
        let mut src = [0u8; 16];
        let mut dst = [0u8; 16];
        src.copy_from_slice(&h[8..24]);
        dst.copy_from_slice(&h[24..40]);
        (6, plen, src, dst, ETH + IP6)
    } else {
        return None;
    };
    // The IP payload as captured (the layers bound it by the IP length the same way).
    let avail = f.len() - l4;
    let ip_payload = &f[l4..l4 + ip_len.min(avail)];
    let u = ip_payload.get(..UDP)?;
    let len = usize::from(be16(u, 4));
    if len < UDP {
        return None; // 0 (jumbogram, offload) and invalid lengths: the layers decide
    }
    Some(PlainUdp {
        version,
        src,
        dst,
        sport: be16(u, 0),
        dport: be16(u, 2),
        len,
        payload: &ip_payload[UDP..len.min(ip_payload.len())],
        ip_cut: ip_len > avail,
    })
}
