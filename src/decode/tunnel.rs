//! Tunnels: the encapsulations mirrored and tunnelled traffic arrives in. HOT PATH.
//!
//! GRE (RFC 2784, with the key and sequence number of RFC 2890, the checksum, and RFC 1701's
//! routing entries and version 1), carrying IP or Ethernet (transparent Ethernet bridging,
//! 0x6558); ERSPAN over GRE: type I (no header), type II (0x88BE) and type III (0x22EB, with its
//! optional platform-specific subheader), carrying Ethernet; VXLAN (RFC 7348) and GENEVE (RFC
//! 8926) over UDP on configured destination ports. IP-in-IP (protocols 4 and 41) needs no
//! header of its own. Each function reads one header and says what follows it; the decoder
//! walks the inner packet as it walks an outer one, at most [`MAX_DEPTH`] tunnels deep. A header
//! cut short, or of a version that says nothing follows, is [`Malformed::TunnelInvalid`]; a
//! valid header carrying something else (MPLS, PPP) is [`Inner::Other`].
//!
//! Where tshark 4.0 decodes more loosely, so do these (the oracle is tshark): a GENEVE version
//! other than 0 or a VXLAN header without its I flag is still followed.

use super::ethertype::{IPV4 as ET_IPV4, IPV6 as ET_IPV6};
use super::malformed::Malformed;

/// Most tunnels inside each other that are followed; a packet in more is
/// [`Malformed::TunnelTooDeep`].
pub const MAX_DEPTH: u8 = 4;

/// IP protocol numbers of the tunnels.
pub const PROTO_IPIP: u8 = 4;
/// IPv6 encapsulation (6in4, IPv6-in-IPv6).
pub const PROTO_IPV6: u8 = 41;
/// GRE.
pub const PROTO_GRE: u8 = 47;

/// Protocol types of GRE and GENEVE (Ethernet types; IPv4 and IPv6 in `ethertype`).
const ET_TEB: u16 = 0x6558;
const ET_ERSPAN_II: u16 = 0x88BE;
const ET_ERSPAN_III: u16 = 0x22EB;
/// GRE routing entries walked at most (RFC 1701 sets no limit; real ones have a few).
const MAX_SRES: usize = 16;

//------------ Settings ------------------------------------------------------

/// An encapsulation that can be decoded or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Encap {
    /// GRE carrying IP or Ethernet.
    Gre,
    /// ERSPAN types I, II and III (over GRE).
    Erspan,
    /// VXLAN on the VXLAN ports.
    Vxlan,
    /// GENEVE on the GENEVE ports.
    Geneve,
    /// IPv4 and IPv6 in IPv4 and IPv6 (6in4, 4in6, ...).
    IpInIp,
    /// PPPoE sessions (and the PPP in them).
    Pppoe,
}

impl Encap {
    /// Every encapsulation.
    pub const ALL: [Self; 6] = [
        Self::Gre,
        Self::Erspan,
        Self::Vxlan,
        Self::Geneve,
        Self::IpInIp,
        Self::Pppoe,
    ];

    /// The name in the configuration and on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Gre => "gre",
            Self::Erspan => "erspan",
            Self::Vxlan => "vxlan",
            Self::Geneve => "geneve",
            Self::IpInIp => "ipip",
            Self::Pppoe => "pppoe",
        }
    }

    /// The encapsulation of a name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.name() == name)
    }
}

/// A set of encapsulations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncapSet(u8);

impl EncapSet {
    /// No encapsulation.
    pub const NONE: Self = Self(0);
    /// Every encapsulation.
    pub const ALL: Self = Self((1 << Encap::ALL.len()) - 1);

    /// Whether `e` is in the set.
    pub const fn contains(self, e: Encap) -> bool {
        self.0 & (1 << e as u8) != 0
    }

    /// The set with `e` added.
    pub const fn with(self, e: Encap) -> Self {
        Self(self.0 | (1 << e as u8))
    }

    /// The set of names (each known and given once), or why not.
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<Self, String> {
        let mut set = Self::NONE;
        for n in names {
            let n = n.as_ref();
            let e = Encap::from_name(n).ok_or_else(|| {
                let known: Vec<_> = Encap::ALL.iter().map(|e| e.name()).collect();
                format!("unknown encapsulation `{n}` (known: {})", known.join(", "))
            })?;
            if set.contains(e) {
                return Err(format!("`{n}` is listed twice"));
            }
            set = set.with(e);
        }
        Ok(set)
    }
}

/// Which encapsulations are decoded, and the UDP ports of those carried in UDP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Encapsulations decoded; the others are not looked inside.
    pub decoded: EncapSet,
    /// UDP destination ports of VXLAN.
    pub vxlan_ports: Vec<u16>,
    /// UDP destination ports of GENEVE.
    pub geneve_ports: Vec<u16>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            decoded: EncapSet::ALL,
            vxlan_ports: vec![4789],
            geneve_ports: vec![6081],
        }
    }
}

/// Checks the ports of a UDP tunnel: at least one, none 0, none also a DNS port or a port of
/// the other tunnel, named `other` (the DNS port would win, and one port cannot mean two
/// tunnels).
pub fn check_ports(ports: &[u16], dns: &[u16], other: (&str, &[u16])) -> Result<(), String> {
    if ports.is_empty() || ports.contains(&0) {
        return Err("needs at least one port, none of them 0".into());
    }
    match ports
        .iter()
        .find(|p| dns.contains(p) || other.1.contains(p))
    {
        Some(p) if dns.contains(p) => Err(format!("port {p} is also a DNS port")),
        Some(p) => Err(format!("port {p} is also a {} port", other.0)),
        None => Ok(()),
    }
}

//------------ Headers -------------------------------------------------------

/// What an encapsulation carries.
#[derive(Debug, PartialEq, Eq)]
pub enum Inner<'a> {
    /// An IP packet (its version from its first nibble).
    Ip(&'a [u8]),
    /// An Ethernet frame, without FCS.
    Ethernet(&'a [u8]),
    /// Something dnsobs does not decode (another protocol type): not malformed.
    Other,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// A GRE packet's payload: IP and Ethernet when GRE is in `decoded`, ERSPAN's Ethernet when
/// ERSPAN is.
pub fn gre(p: &[u8], decoded: EncapSet) -> Result<Inner<'_>, Malformed> {
    let h = p.get(..4).ok_or(Malformed::TunnelInvalid)?;
    let (flags, version, proto) = (h[0], h[1] & 0x07, be16(h, 2));
    if version > 1 {
        return Err(Malformed::TunnelInvalid);
    }
    // Checksum and offset (present when either C or R is set), key, sequence number, and the
    // acknowledgement of version 1.
    let words = usize::from(flags & 0xC0 != 0)
        + usize::from(flags & 0x20 != 0)
        + usize::from(flags & 0x10 != 0)
        + usize::from(version == 1 && h[1] & 0x80 != 0);
    let mut body = p.get(4 + 4 * words..).ok_or(Malformed::TunnelInvalid)?;
    if flags & 0x40 != 0 {
        body = skip_routing(body)?;
    }
    let gre = decoded.contains(Encap::Gre);
    Ok(match proto {
        ET_IPV4 | ET_IPV6 if gre => Inner::Ip(body),
        ET_TEB if gre => Inner::Ethernet(body),
        ET_ERSPAN_II | ET_ERSPAN_III if decoded.contains(Encap::Erspan) => {
            // Type I has no header, and no GRE flags at all (as tshark tells them apart).
            let type_one = flags == 0 && h[1] == 0;
            Inner::Ethernet(if type_one { body } else { erspan(body)? })
        }
        _ => Inner::Other,
    })
}

/// Skips GRE source route entries up to and including the terminating one.
fn skip_routing(mut p: &[u8]) -> Result<&[u8], Malformed> {
    for _ in 0..MAX_SRES {
        let h = p.get(..4).ok_or(Malformed::TunnelInvalid)?;
        let (family, len) = (be16(h, 0), usize::from(h[3]));
        p = p.get(4 + len..).ok_or(Malformed::TunnelInvalid)?;
        if family == 0 && len == 0 {
            return Ok(p);
        }
    }
    Err(Malformed::TunnelInvalid)
}

/// The Ethernet frame after an ERSPAN type II (version 1) or type III (version 2) header.
fn erspan(p: &[u8]) -> Result<&[u8], Malformed> {
    let len = match p.first().map(|b| b >> 4) {
        Some(1) => 8,
        // The O flag, last bit of the 12-byte header: an 8-byte platform-specific subheader.
        Some(2) => match p.get(11) {
            Some(b) if b & 1 != 0 => 20,
            Some(_) => 12,
            None => return Err(Malformed::TunnelInvalid),
        },
        _ => return Err(Malformed::TunnelInvalid),
    };
    p.get(len..).ok_or(Malformed::TunnelInvalid)
}

/// The Ethernet frame of a VXLAN packet (the UDP payload).
pub fn vxlan(p: &[u8]) -> Result<Inner<'_>, Malformed> {
    p.get(8..)
        .map(Inner::Ethernet)
        .ok_or(Malformed::TunnelInvalid)
}

/// What a GENEVE packet (the UDP payload) carries, after its options.
pub fn geneve(p: &[u8]) -> Result<Inner<'_>, Malformed> {
    let h = p.get(..8).ok_or(Malformed::TunnelInvalid)?;
    let options = usize::from(h[0] & 0x3F) * 4;
    let body = p.get(8 + options..).ok_or(Malformed::TunnelInvalid)?;
    Ok(match be16(h, 2) {
        ET_IPV4 | ET_IPV6 => Inner::Ip(body),
        ET_TEB => Inner::Ethernet(body),
        _ => Inner::Other,
    })
}

//============ Testing =======================================================

#[cfg(test)]
mod test {
    use super::*;

    const BODY: [u8; 4] = [0x45, 0, 0, 20];

    fn gre_packet(flags: u8, ver: u8, proto: u16, words: usize) -> Vec<u8> {
        let mut p = vec![flags, ver];
        p.extend_from_slice(&proto.to_be_bytes());
        p.extend(std::iter::repeat_n(0xAA, 4 * words));
        p.extend_from_slice(&BODY);
        p
    }

    #[test]
    fn gre_options_are_skipped() {
        let all = EncapSet::ALL;
        // Plain, keyed, keyed and sequenced, checksummed + key + sequence, version 1 with ack.
        for (flags, ver, words) in [
            (0x00, 0, 0),
            (0x20, 0, 1),
            (0x30, 0, 2),
            (0xB0, 0, 3),
            (0x30, 0x81, 3),
        ] {
            let p = gre_packet(flags, ver, ET_IPV4, words);
            assert_eq!(
                gre(&p, all),
                Ok(Inner::Ip(&BODY[..])),
                "{flags:#x} {ver:#x}"
            );
            assert_eq!(
                gre(&p[..4], all),
                if words == 0 {
                    Ok(Inner::Ip(&[][..]))
                } else {
                    Err(Malformed::TunnelInvalid)
                }
            );
        }
        let teb = gre_packet(0x20, 0, ET_TEB, 1);
        assert_eq!(gre(&teb, all), Ok(Inner::Ethernet(&BODY[..])));
        // Version 2 does not exist; MPLS is valid but not ours.
        assert_eq!(
            gre(&gre_packet(0, 2, ET_IPV4, 0), all),
            Err(Malformed::TunnelInvalid)
        );
        assert_eq!(gre(&gre_packet(0, 0, 0x8847, 0), all), Ok(Inner::Other));
        assert_eq!(gre(&[0, 0, 8], all), Err(Malformed::TunnelInvalid));
    }

    #[test]
    fn gre_routing_entries() {
        // R set: checksum and offset, then one 4-byte IPv4 entry and the terminating entry.
        let mut p = vec![0x40, 0, 0x08, 0x00, 0, 0, 0, 0];
        p.extend_from_slice(&[0x08, 0x00, 0, 4, 192, 0, 2, 1, 0, 0, 0, 0]);
        p.extend_from_slice(&BODY);
        assert_eq!(gre(&p, EncapSet::ALL), Ok(Inner::Ip(&BODY[..])));
        // Without the terminating entry the header runs past the end.
        assert_eq!(gre(&p[..16], EncapSet::ALL), Err(Malformed::TunnelInvalid));
        // Endless non-empty entries: bounded.
        let mut long = vec![0x40, 0, 0x08, 0x00, 0, 0, 0, 0];
        for _ in 0..MAX_SRES + 1 {
            long.extend_from_slice(&[0x08, 0x00, 0, 0]);
        }
        assert_eq!(gre(&long, EncapSet::ALL), Err(Malformed::TunnelInvalid));
    }

    #[test]
    fn erspan_types() {
        let all = EncapSet::ALL;
        let with = |gre_head: &[u8], erspan_head: &[u8]| {
            let mut p = gre_head.to_vec();
            p.extend_from_slice(erspan_head);
            p.extend_from_slice(&BODY);
            p
        };
        let type1 = with(&[0, 0, 0x88, 0xBE], &[]);
        let type2 = with(
            &[0x10, 0, 0x88, 0xBE, 0, 0, 0, 1],
            &[0x10, 0, 0, 7, 0, 0, 0, 0],
        );
        let mut h3 = [0u8; 12];
        h3[0] = 0x20;
        let type3 = with(&[0x10, 0, 0x22, 0xEB, 0, 0, 0, 1], &h3);
        h3[11] = 1;
        let mut type3o = with(&[0x10, 0, 0x22, 0xEB, 0, 0, 0, 1], &h3);
        type3o.splice(20..20, [0x0C; 8]);
        for p in [&type1, &type2, &type3, &type3o] {
            assert_eq!(gre(p, all), Ok(Inner::Ethernet(&BODY[..])), "{p:02x?}");
            let gre_only = EncapSet::NONE.with(Encap::Gre);
            assert_eq!(gre(p, gre_only), Ok(Inner::Other));
        }
        // An unknown ERSPAN version, and headers cut short.
        let mut bad = type2.clone();
        bad[8] = 0x30;
        assert_eq!(gre(&bad, all), Err(Malformed::TunnelInvalid));
        assert_eq!(gre(&type2[..14], all), Err(Malformed::TunnelInvalid));
        assert_eq!(gre(&type3o[..25], all), Err(Malformed::TunnelInvalid));
        // ERSPAN only: GRE's own IP payloads are not followed.
        let erspan_only = EncapSet::NONE.with(Encap::Erspan);
        let ip = gre_packet(0, 0, ET_IPV6, 0);
        assert_eq!(gre(&ip, erspan_only), Ok(Inner::Other));
        assert_eq!(gre(&type2, erspan_only), Ok(Inner::Ethernet(&BODY[..])));
    }

    #[test]
    fn vxlan_and_geneve() {
        let mut v = vec![0x08, 0, 0, 0, 0, 0x10, 0x92, 0];
        v.extend_from_slice(&BODY);
        assert_eq!(vxlan(&v), Ok(Inner::Ethernet(&BODY[..])));
        assert_eq!(vxlan(&v[..7]), Err(Malformed::TunnelInvalid));
        // GENEVE with 8 bytes of options, Ethernet; then IPv6 directly; then unknown.
        let mut g = vec![0x02, 0, 0x65, 0x58, 0, 0, 1, 0];
        g.extend_from_slice(&[0x01, 0x02, 0x80, 0x01, 0, 0, 0, 9]);
        g.extend_from_slice(&BODY);
        assert_eq!(geneve(&g), Ok(Inner::Ethernet(&BODY[..])));
        g[2..4].copy_from_slice(&ET_IPV6.to_be_bytes());
        assert_eq!(geneve(&g), Ok(Inner::Ip(&BODY[..])));
        g[2..4].copy_from_slice(&0x8847u16.to_be_bytes());
        assert_eq!(geneve(&g), Ok(Inner::Other));
        // Options longer than the packet.
        g[0] = 0x3F;
        assert_eq!(geneve(&g), Err(Malformed::TunnelInvalid));
        assert_eq!(geneve(&g[..7]), Err(Malformed::TunnelInvalid));
    }

    #[test]
    fn names_and_ports() {
        assert_eq!(
            EncapSet::from_names(&["gre", "pppoe"]),
            Ok(EncapSet::NONE.with(Encap::Gre).with(Encap::Pppoe))
        );
        let all: Vec<_> = Encap::ALL.iter().map(|e| e.name()).collect();
        assert_eq!(EncapSet::from_names(&all), Ok(EncapSet::ALL));
        assert_eq!(EncapSet::from_names::<&str>(&[]), Ok(EncapSet::NONE));
        let e = EncapSet::from_names(&["gre", "mpls"]).unwrap_err();
        assert!(e.contains("`mpls`") && e.contains("gre, erspan"), "{e}");
        assert!(EncapSet::from_names(&["gre", "gre"]).is_err());
        let geneve = ("GENEVE", &[6081][..]);
        assert_eq!(check_ports(&[4789], &[53], geneve), Ok(()));
        assert!(check_ports(&[], &[53], geneve).is_err());
        assert!(check_ports(&[0], &[53], geneve).is_err());
        let e = check_ports(&[53], &[53], geneve).unwrap_err();
        assert_eq!(e, "port 53 is also a DNS port");
        let e = check_ports(&[4789, 6081], &[53], geneve).unwrap_err();
        assert_eq!(e, "port 6081 is also a GENEVE port");
    }
}
