//! PPP and PPPoE: the framing of access links. HOT PATH.
//!
//! A PPPoE session packet (RFC 2516, Ethernet type 0x8864) carries one PPP frame (RFC 1661);
//! PPP captures (LINKTYPE_PPP 9, LINKTYPE_PPP_HDLC 50) carry it with or without the HDLC-like
//! address and control bytes 0xFF 0x03 (RFC 1662), or in Cisco HDLC framing (0x0F / 0x8F, then an
//! Ethernet type), as tshark reads both. The protocol field may be compressed to one byte (RFC
//! 1661 6.5). Only PPP's IPv4 (0x0021) and IPv6 (0x0057) protocols lead further: LCP, IPCP,
//! authentication and the PPPoE discovery stage carry no IP.

// Cisco HDLC framing carries Ethernet types.
use super::ethertype::{IPV4 as ETH_IPV4, IPV6 as ETH_IPV6};

/// What a PPP frame carries.
#[derive(Debug, PartialEq, Eq)]
pub enum Ppp<'a> {
    /// An IPv4 or IPv6 packet.
    Ip(&'a [u8]),
    /// Another PPP protocol (LCP, IPCP, ...): not ours, not malformed.
    Other,
    /// The PPP or PPPoE header is cut short.
    Truncated,
}

/// PPP protocol numbers of IPv4 and IPv6.
const PPP_IPV4: u16 = 0x0021;
const PPP_IPV6: u16 = 0x0057;

/// The PPP frame of a PPPoE session packet (the bytes after its Ethernet type), bounded by the
/// PPPoE length field (Ethernet padding is not PPP).
pub fn pppoe_session(p: &[u8]) -> Ppp<'_> {
    let Some(h) = p.get(..6) else {
        return Ppp::Truncated;
    };
    let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    let body = &p[6..];
    protocol(&body[..len.min(body.len())])
}

/// A frame of LINKTYPE_PPP or LINKTYPE_PPP_HDLC.
pub fn hdlc(p: &[u8]) -> Ppp<'_> {
    match p {
        [0xFF, 0x03, rest @ ..] => protocol(rest),
        [0x0F | 0x8F, _, hi, lo, rest @ ..] => match u16::from_be_bytes([*hi, *lo]) {
            ETH_IPV4 | ETH_IPV6 => Ppp::Ip(rest),
            _ => Ppp::Other,
        },
        [0x0F | 0x8F, ..] => Ppp::Truncated,
        _ => protocol(p),
    }
}

/// The PPP protocol field (two bytes, or one when compressed: an odd first byte) and what follows.
fn protocol(p: &[u8]) -> Ppp<'_> {
    let (proto, rest) = match p {
        [b, rest @ ..] if b & 1 == 1 => (u16::from(*b), rest),
        [hi, lo, rest @ ..] => (u16::from_be_bytes([*hi, *lo]), rest),
        _ => return Ppp::Truncated,
    };
    match proto {
        PPP_IPV4 | PPP_IPV6 => Ppp::Ip(rest),
        _ => Ppp::Other,
    }
}

//============ Testing =======================================================

#[cfg(test)]
mod test {
    use super::*;

    const IP4: [u8; 4] = [0x45, 0, 0, 20];

    #[test]
    fn pppoe_session_is_bounded_by_its_length() {
        // Version/type 0x11, code 0, session 0x1234, length 6: protocol 0x0021 and 4 bytes.
        let mut f = vec![0x11, 0, 0x12, 0x34, 0, 6, 0, 0x21];
        f.extend_from_slice(&IP4);
        f.extend_from_slice(&[0; 10]); // Ethernet padding
        assert_eq!(pppoe_session(&f), Ppp::Ip(&IP4[..]));
        // LCP (0xC021) is not IP; a 5-byte header is truncated.
        f[6..8].copy_from_slice(&[0xC0, 0x21]);
        assert_eq!(pppoe_session(&f), Ppp::Other);
        assert_eq!(pppoe_session(&f[..5]), Ppp::Truncated);
        // A length of 1 leaves only half a protocol field: truncated, not read past.
        f[5] = 1;
        assert_eq!(pppoe_session(&f), Ppp::Truncated);
    }

    #[test]
    fn hdlc_framings_and_compressed_protocol() {
        let with = |head: &[u8]| {
            let mut f = head.to_vec();
            f.extend_from_slice(&IP4);
            f
        };
        for head in [
            &[0xFF, 0x03, 0x00, 0x21][..],
            &[0xFF, 0x03, 0x21],
            &[0x00, 0x57],
            &[0x21],
            &[0x0F, 0x00, 0x08, 0x00],
            &[0x8F, 0x00, 0x86, 0xDD],
        ] {
            assert_eq!(hdlc(&with(head)), Ppp::Ip(&IP4[..]), "{head:02x?}");
        }
        assert_eq!(hdlc(&with(&[0xFF, 0x03, 0xC0, 0x21])), Ppp::Other);
        assert_eq!(hdlc(&with(&[0x0F, 0x00, 0x08, 0x06])), Ppp::Other);
        assert_eq!(hdlc(&[0x0F, 0x00, 0x08]), Ppp::Truncated);
        assert_eq!(hdlc(&[0xFF, 0x03, 0x00]), Ppp::Truncated);
        assert_eq!(hdlc(&[]), Ppp::Truncated);
    }
}
