//! IPv4 (with options) and IPv6 (with extension headers). HOT PATH.

use super::malformed::Malformed;

/// An IP address as 16 bytes (IPv4 in the first four), so both versions share one key type.
pub type Addr = [u8; 16];

/// A fragment's place in its datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frag {
    /// Identification (16 bits for IPv4, 32 for IPv6).
    pub id: u32,
    /// Offset of this piece in the reassembled payload, in bytes.
    pub offset: usize,
    /// More fragments follow.
    pub more: bool,
}

/// A decoded IP header and its payload.
#[derive(Clone, Copy, Debug)]
pub struct Ip<'a> {
    /// 4 or 6.
    pub version: u8,
    /// Source address.
    pub src: Addr,
    /// Destination address.
    pub dst: Addr,
    /// Upper-layer protocol (for a fragment: of the reassembled payload).
    pub proto: u8,
    /// Upper-layer bytes as captured, bounded by the IP length fields.
    pub payload: &'a [u8],
    /// True when the capture holds fewer payload bytes than the header announces.
    pub cut: bool,
    /// Set for fragments.
    pub frag: Option<Frag>,
}

/// Upper-layer protocol numbers.
pub const PROTO_TCP: u8 = 6;
/// UDP.
pub const PROTO_UDP: u8 = 17;

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Decodes an IPv4 or IPv6 header. In line: the decoder then builds the header where it
/// uses it instead of moving it out of a `Result` (~27 instructions a frame).
#[inline(always)]
pub fn parse(p: &[u8]) -> Result<Ip<'_>, Malformed> {
    match p.first().map(|b| b >> 4) {
        Some(4) => v4(p),
        Some(6) => v6(p),
        _ => Err(Malformed::IpInvalid),
    }
}

#[inline(always)]
fn v4(p: &[u8]) -> Result<Ip<'_>, Malformed> {
    let h = p.get(..20).ok_or(Malformed::IpInvalid)?;
    let ihl = usize::from(h[0] & 0x0F) * 4;
    let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
    if ihl < 20 || p.len() < ihl {
        return Err(Malformed::IpInvalid);
    }
    // A total length of 0 appears in captures taken with segmentation offload: trust the capture.
    let total = if total == 0 { p.len() } else { total };
    if total < ihl {
        return Err(Malformed::IpInvalid);
    }
    let end = total.min(p.len());
    let fo = u16::from_be_bytes([h[6], h[7]]);
    let more = fo & 0x2000 != 0;
    let offset = usize::from(fo & 0x1FFF) * 8;
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src[..4].copy_from_slice(&h[12..16]);
    dst[..4].copy_from_slice(&h[16..20]);
    Ok(Ip {
        version: 4,
        src,
        dst,
        proto: h[9],
        payload: &p[ihl..end],
        cut: total > p.len(),
        frag: (more || offset != 0).then_some(Frag {
            id: u32::from(u16::from_be_bytes([h[4], h[5]])),
            offset,
            more,
        }),
    })
}

#[inline(always)]
fn v6(p: &[u8]) -> Result<Ip<'_>, Malformed> {
    let h = p.get(..40).ok_or(Malformed::IpInvalid)?;
    let plen = usize::from(u16::from_be_bytes([h[4], h[5]]));
    // Payload length 0: a jumbogram or an offloaded capture; trust the capture.
    let wire = if plen == 0 { p.len() - 40 } else { plen };
    let avail = &p[40..];
    let body = &avail[..wire.min(avail.len())];
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src.copy_from_slice(&h[8..24]);
    dst.copy_from_slice(&h[24..40]);
    let mut ip = Ip {
        version: 6,
        src,
        dst,
        proto: h[6],
        payload: body,
        cut: wire > avail.len(),
        frag: None,
    };
    let (proto, payload, frag) = walk_ext(h[6], body)?;
    ip.proto = proto;
    ip.payload = payload;
    ip.frag = frag;
    Ok(ip)
}

/// Skips IPv6 extension headers up to the upper layer or a Fragment header.
/// Also used on a reassembled payload (whose first header follows the Fragment header).
pub fn walk_ext(mut next: u8, mut p: &[u8]) -> Result<(u8, &[u8], Option<Frag>), Malformed> {
    for _ in 0..16 {
        match next {
            // Hop-by-hop, routing, destination options, mobility, HIP, shim6: (len + 1) * 8.
            0 | 43 | 60 | 135 | 139 | 140 => {
                let len = (usize::from(*p.get(1).ok_or(Malformed::Ipv6ExtInvalid)?) + 1) * 8;
                next = p[0];
                p = p.get(len..).ok_or(Malformed::Ipv6ExtInvalid)?;
            }
            // Authentication header: (len + 2) * 4.
            51 => {
                let len = (usize::from(*p.get(1).ok_or(Malformed::Ipv6ExtInvalid)?) + 2) * 4;
                next = p[0];
                p = p.get(len..).ok_or(Malformed::Ipv6ExtInvalid)?;
            }
            44 => {
                let h = p.get(..8).ok_or(Malformed::Ipv6ExtInvalid)?;
                let fo = u16::from_be_bytes([h[2], h[3]]);
                let frag = Frag {
                    id: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
                    offset: usize::from(fo >> 3) * 8,
                    more: fo & 1 != 0,
                };
                // An atomic fragment (offset 0, no more) is a whole datagram (RFC 6946).
                let frag = (frag.more || frag.offset != 0).then_some(frag);
                if frag.is_some() {
                    return Ok((h[0], &p[8..], frag));
                }
                next = h[0];
                p = &p[8..];
            }
            _ => return Ok((next, p, None)),
        }
    }
    Err(Malformed::Ipv6ExtInvalid)
}

/// UDP header: (source port, destination port, length field, payload as captured).
pub fn udp(p: &[u8]) -> Result<(u16, u16, usize, &[u8]), Malformed> {
    let (Some(sp), Some(dp), Some(len)) = (be16(p, 0), be16(p, 2), be16(p, 4)) else {
        return Err(Malformed::UdpInvalid);
    };
    let len = usize::from(len);
    // Length 0 is legal for IPv6 jumbograms and shows up with offload: use what was captured.
    let len = if len == 0 { p.len() } else { len };
    if len < 8 || p.len() < 8 {
        return Err(Malformed::UdpInvalid);
    }
    Ok((sp, dp, len, &p[8..len.min(p.len())]))
}

/// A TCP header's fields that reassembly needs.
#[derive(Clone, Copy, Debug)]
pub struct Tcp<'a> {
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Sequence number.
    pub seq: u32,
    /// SYN flag.
    pub syn: bool,
    /// FIN flag.
    pub fin: bool,
    /// RST flag.
    pub rst: bool,
    /// Segment payload.
    pub payload: &'a [u8],
}

/// Decodes a TCP header.
pub fn tcp(p: &[u8]) -> Result<Tcp<'_>, Malformed> {
    let h = p.get(..20).ok_or(Malformed::TcpInvalid)?;
    let off = usize::from(h[12] >> 4) * 4;
    if off < 20 || off > p.len() {
        return Err(Malformed::TcpInvalid);
    }
    let flags = h[13];
    Ok(Tcp {
        sport: u16::from_be_bytes([h[0], h[1]]),
        dport: u16::from_be_bytes([h[2], h[3]]),
        seq: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
        syn: flags & 0x02 != 0,
        fin: flags & 0x01 != 0,
        rst: flags & 0x04 != 0,
        payload: &p[off..],
    })
}

//============ Testing =======================================================

#[cfg(test)]
mod test {
    use super::*;

    fn v4_udp(payload: &[u8], frag: u16) -> Vec<u8> {
        let total = 20 + 8 + payload.len();
        let mut p = vec![0x45, 0, (total >> 8) as u8, total as u8, 0xab, 0xcd];
        p.extend_from_slice(&frag.to_be_bytes());
        p.extend_from_slice(&[64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
        p.extend_from_slice(&[0x30, 0x39, 0, 53]);
        p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn ipv4_udp_matches_etherparse() {
        let mut p = v4_udp(b"hello", 0);
        p.extend_from_slice(&[0; 6]); // Ethernet padding past the total length
        let ip = parse(&p).unwrap();
        assert_eq!(
            (ip.version, ip.proto, ip.cut, ip.frag),
            (4, PROTO_UDP, false, None)
        );
        let (sp, dp, len, data) = udp(ip.payload).unwrap();
        assert_eq!((sp, dp, len, data), (12345, 53, 13, &b"hello"[..]));
        let e = etherparse::SlicedPacket::from_ip(&p).unwrap();
        match e.transport {
            Some(etherparse::TransportSlice::Udp(u)) => {
                assert_eq!(
                    (u.source_port(), u.destination_port(), u.payload()),
                    (sp, dp, data)
                );
            }
            _ => panic!("etherparse found no UDP"),
        }
    }

    #[test]
    fn ipv4_fragment_and_cut() {
        let p = v4_udp(b"hello", 0x2000);
        let f = parse(&p).unwrap().frag.unwrap();
        assert_eq!((f.id, f.offset, f.more), (0xabcd, 0, true));
        let p = v4_udp(b"hello", 0x0003);
        assert_eq!(parse(&p).unwrap().frag.unwrap().offset, 24);
        let p = v4_udp(b"hello", 0);
        assert!(parse(&p[..30]).unwrap().cut);
        assert_eq!(parse(&p[..19]).unwrap_err(), Malformed::IpInvalid);
    }

    #[test]
    fn ipv6_extension_headers_and_fragment() {
        let mut p = vec![0x60, 0, 0, 0, 0, 24, 0, 64];
        p.extend_from_slice(&[0x20, 1, 0x0d, 0xb8]);
        p.extend_from_slice(&[0; 12]);
        p.extend_from_slice(&[0x20, 1, 0x0d, 0xb8]);
        p.extend_from_slice(&[0; 12]);
        p.extend_from_slice(&[44, 0, 0, 0, 0, 0, 0, 0]); // hop-by-hop, 8 bytes
        p.extend_from_slice(&[17, 0, 0, 1, 0, 0, 0, 7]); // fragment: offset 0, M=1, id 7
        p.extend_from_slice(&[0; 8]);
        let ip = parse(&p).unwrap();
        assert_eq!(ip.proto, 17);
        assert_eq!(
            ip.frag,
            Some(Frag {
                id: 7,
                offset: 0,
                more: true
            })
        );
        assert_eq!(ip.payload.len(), 8);
        p[40 + 1] = 9; // hop-by-hop claims 80 bytes
        assert_eq!(parse(&p).unwrap_err(), Malformed::Ipv6ExtInvalid);
    }

    #[test]
    fn tcp_header() {
        let mut h = vec![
            0, 53, 0x30, 0x39, 0, 0, 0, 9, 0, 0, 0, 0, 0x50, 0x11, 0, 0, 0, 0, 0, 0,
        ];
        h.extend_from_slice(b"xy");
        let t = tcp(&h).unwrap();
        assert_eq!(
            (t.sport, t.seq, t.fin, t.syn, t.payload),
            (53, 9, true, false, &b"xy"[..])
        );
        h[12] = 0x40;
        assert_eq!(tcp(&h).unwrap_err(), Malformed::TcpInvalid);
    }
}
