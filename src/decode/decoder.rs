//! The per-worker decoder: frame → link → IP (→ fragment reassembly) → UDP / TCP (→ stream
//! reassembly) → DNS, handing what it finds to a [`Sink`]. HOT PATH.
//!
//! Tunnels loop back: an IP packet, or an Ethernet frame, found inside GRE, ERSPAN, VXLAN,
//! GENEVE or IP-in-IP is walked like an outer one (fragments of either reassembled), at most
//! [`tunnel::MAX_DEPTH`] tunnels deep. DNS found inside is counted with the inner addresses and
//! IP version.

use crate::capture::{LinkType, Packet};

use super::ip::{self, PROTO_TCP, PROTO_UDP};
use super::malformed::Malformed;
use super::tunnel::{self, Encap, EncapSet, Inner, PROTO_GRE, PROTO_IPIP, PROTO_IPV6};
use super::{Event, MsgCtx, Name, Settings, Sink, Transport, defrag, dns, fastpath, link, tcp};

/// Port classes (bits of [`Decoder::ports`]).
const PORT_DNS: u8 = 1;
const PORT_VXLAN: u8 = 2;
const PORT_GENEVE: u8 = 4;

/// Per-worker decoder: the reassembly tables and a name buffer. Owned by one thread.
pub struct Decoder {
    /// Per UDP/TCP port: `PORT_*` bits.
    ports: Box<[u8; 65536]>,
    /// Encapsulations looked inside.
    encaps: EncapSet,
    defrag: defrag::Defrag,
    tcp: tcp::TcpTable,
    name: Name,
    /// Take [`fastpath`] for plain UDP frames (off only to test it against the layers).
    fast: bool,
}

/// Where a packet is being walked: its frame's time, whether the capture cut it, and how many
/// tunnels it is inside.
#[derive(Clone, Copy)]
struct Hop {
    ts_ns: u64,
    cut: bool,
    depth: u8,
}

impl Decoder {
    /// A decoder with empty tables.
    pub fn new(settings: &Settings) -> Self {
        let mut ports = Box::new([0u8; 65536]);
        let t = &settings.tunnels;
        let classes = [
            (&settings.ports, PORT_DNS, true),
            (&t.vxlan_ports, PORT_VXLAN, t.decoded.contains(Encap::Vxlan)),
            (
                &t.geneve_ports,
                PORT_GENEVE,
                t.decoded.contains(Encap::Geneve),
            ),
        ];
        for (list, class, on) in classes {
            for &p in list.iter().filter(|_| on) {
                ports[usize::from(p)] |= class;
            }
        }
        Self {
            ports,
            encaps: t.decoded,
            defrag: defrag::Defrag::new(settings.defrag),
            tcp: tcp::TcpTable::new(settings.tcp),
            name: Name::default(),
            fast: true,
        }
    }

    /// Datagrams and TCP directions currently held (for gauges).
    pub fn table_sizes(&self) -> (usize, usize) {
        (self.defrag.len(), self.tcp.len())
    }

    fn is_dns(&self, sport: u16, dport: u16) -> bool {
        (self.ports[usize::from(sport)] | self.ports[usize::from(dport)]) & PORT_DNS != 0
    }

    /// Whether packets of an IP protocol lead anywhere (UDP, TCP, or a tunnel decoded).
    fn wanted(&self, proto: u8) -> bool {
        match proto {
            PROTO_UDP | PROTO_TCP => true,
            PROTO_IPIP | PROTO_IPV6 => self.encaps.contains(Encap::IpInIp),
            PROTO_GRE => self.encaps.contains(Encap::Gre) || self.encaps.contains(Encap::Erspan),
            _ => false,
        }
    }

    /// Decodes one DNS message whose context is already known (dnstap input: the server
    /// reports addresses, ports and transport; only the DNS bytes need parsing).
    #[inline]
    pub fn decode_dns(&mut self, ctx: &MsgCtx, payload: &[u8], sink: &mut impl Sink) {
        dns_message(&mut self.name, payload, ctx, false, sink);
    }

    /// Decodes one frame.
    pub fn decode(&mut self, pkt: &Packet<'_>, sink: &mut impl Sink) {
        if self.fast
            && pkt.link == LinkType::Ethernet
            && let Some(u) = fastpath::ethernet_udp(pkt.data)
            && self.is_dns(u.sport, u.dport)
        {
            return self.plain_udp(pkt, &u, sink);
        }
        let pppoe = self.encaps.contains(Encap::Pppoe);
        match link::strip_with(pkt.link, pkt.data, pppoe) {
            Ok(link::Link::Ip(l3)) => {
                let hop = Hop {
                    ts_ns: pkt.ts_ns,
                    cut: (pkt.orig_len as usize) > pkt.data.len(),
                    depth: 0,
                };
                self.ip_packet(l3, hop, sink);
            }
            Ok(link::Link::Other) => sink.event(Event::NonIp),
            Err(m) => sink.malformed(m, None),
        }
    }

    /// A DNS message in a frame [`fastpath`] read: what [`Decoder::udp`] does with it.
    fn plain_udp(&mut self, pkt: &Packet<'_>, u: &fastpath::PlainUdp<'_>, sink: &mut impl Sink) {
        let ctx = MsgCtx {
            ts_ns: pkt.ts_ns,
            ip_version: u.version,
            transport: Transport::Udp,
            src: u.src,
            dst: u.dst,
            sport: u.sport,
            dport: u.dport,
            size: 0,
        };
        let cut = (pkt.orig_len as usize) > pkt.data.len() || u.ip_cut;
        udp_message(&mut self.name, ctx, u.len, u.payload, cut, sink);
    }

    /// One IP packet, outer or inside `hop.depth` tunnels.
    fn ip_packet(&mut self, l3: &[u8], hop: Hop, sink: &mut impl Sink) {
        let ip = match ip::parse(l3) {
            Ok(ip) => ip,
            Err(m) => return sink.malformed(m, None),
        };
        if !self.wanted(ip.proto) {
            return;
        }
        let hop = Hop {
            cut: hop.cut || ip.cut,
            ..hop
        };
        let Some(frag) = ip.frag else {
            return self.upper(&ip, ip.proto, ip.payload, hop, sink);
        };
        sink.event(Event::Fragment);
        let outcome = self.defrag.push(
            ip.version,
            &ip.src,
            &ip.dst,
            ip.proto,
            frag,
            ip.payload,
            hop.ts_ns,
            &mut |e| sink.event(e),
        );
        match outcome {
            defrag::Outcome::Pending => {}
            defrag::Outcome::Invalid(m) => sink.malformed(m, None),
            defrag::Outcome::Complete => {
                sink.event(Event::Reassembled);
                self.reassembled(&ip, hop, sink);
            }
        }
    }

    /// The datagram the fragment `ip` completed.
    fn reassembled(&mut self, ip: &ip::Ip<'_>, hop: Hop, sink: &mut impl Sink) {
        // Move the buffer out so the upper layers can borrow `self` mutably (a tunnel inside
        // may complete a datagram of its own meanwhile).
        let payload = std::mem::take(self.defrag.done_mut());
        let upper = match ip.version {
            6 => match ip::walk_ext(ip.proto, &payload) {
                Ok((p, b, None)) => Ok((p, b)),
                Ok((_, _, Some(_))) => Err(Malformed::FragmentInvalid),
                Err(m) => Err(m),
            },
            _ => Ok((ip.proto, &payload[..])),
        };
        match upper {
            Ok((proto, body)) => self.upper(ip, proto, body, hop, sink),
            Err(m) => sink.malformed(m, None),
        }
        self.defrag.restore_done(payload);
    }

    /// The upper layer of an IP packet: UDP, TCP, or a tunnel.
    fn upper(&mut self, ip: &ip::Ip<'_>, proto: u8, l4: &[u8], hop: Hop, sink: &mut impl Sink) {
        match proto {
            PROTO_UDP => self.udp(ip, l4, hop, sink),
            PROTO_TCP => self.tcp(ip, l4, hop, sink),
            PROTO_IPIP | PROTO_IPV6 if self.encaps.contains(Encap::IpInIp) => {
                // The protocol names the inner version; tshark reads a mismatch as a bad header.
                let version = if proto == PROTO_IPIP { 4 } else { 6 };
                if l4.first().map(|b| b >> 4) != Some(version) {
                    return sink.malformed(Malformed::IpInvalid, None);
                }
                self.inner(Inner::Ip(l4), hop, sink);
            }
            PROTO_GRE if self.wanted(PROTO_GRE) => match tunnel::gre(l4, self.encaps) {
                Ok(inner) => self.inner(inner, hop, sink),
                Err(m) => sink.malformed(m, None),
            },
            _ => {}
        }
    }

    /// What a tunnel carries, one level deeper.
    fn inner(&mut self, inner: Inner<'_>, hop: Hop, sink: &mut impl Sink) {
        if inner == Inner::Other {
            return;
        }
        if hop.depth >= tunnel::MAX_DEPTH {
            return sink.malformed(Malformed::TunnelTooDeep, None);
        }
        let hop = Hop {
            depth: hop.depth + 1,
            ..hop
        };
        let l3 = match inner {
            Inner::Ip(p) => p,
            Inner::Ethernet(f) => match link::ethernet(f, self.encaps.contains(Encap::Pppoe)) {
                Ok(link::Link::Ip(p)) => p,
                Ok(link::Link::Other) => return sink.event(Event::NonIp),
                Err(m) => return sink.malformed(m, None),
            },
            Inner::Other => return,
        };
        self.ip_packet(l3, hop, sink);
    }

    /// The context of a message carried by `ip`.
    fn ctx(ip: &ip::Ip<'_>, transport: Transport, sport: u16, dport: u16, hop: Hop) -> MsgCtx {
        MsgCtx {
            ts_ns: hop.ts_ns,
            ip_version: ip.version,
            transport,
            src: ip.src,
            dst: ip.dst,
            sport,
            dport,
            size: 0,
        }
    }

    /// A UDP datagram: DNS on a DNS port, VXLAN or GENEVE on theirs.
    fn udp(&mut self, ip: &ip::Ip<'_>, l4: &[u8], hop: Hop, sink: &mut impl Sink) {
        let (sport, dport, len, payload) = match ip::udp(l4) {
            Ok(u) => u,
            Err(m) => return sink.malformed(m, None),
        };
        if !self.is_dns(sport, dport) {
            let inner = match self.ports[usize::from(dport)] {
                c if c & PORT_VXLAN != 0 => tunnel::vxlan(payload),
                c if c & PORT_GENEVE != 0 => tunnel::geneve(payload),
                _ => return,
            };
            return match inner {
                Ok(inner) => self.inner(inner, hop, sink),
                Err(m) => sink.malformed(m, None),
            };
        }
        let ctx = Self::ctx(ip, Transport::Udp, sport, dport, hop);
        udp_message(&mut self.name, ctx, len, payload, hop.cut, sink);
    }

    /// A TCP segment: reassembled into DNS messages on a DNS port.
    fn tcp(&mut self, ip: &ip::Ip<'_>, l4: &[u8], hop: Hop, sink: &mut impl Sink) {
        let seg = match ip::tcp(l4) {
            Ok(t) => t,
            Err(m) => return sink.malformed(m, None),
        };
        if !self.is_dns(seg.sport, seg.dport) {
            return;
        }
        let mut ctx = Self::ctx(ip, Transport::Tcp, seg.sport, seg.dport, hop);
        if !seg.payload.is_empty() {
            sink.event(Event::TcpSegment);
        }
        // A segment cut by the snapshot length would corrupt the byte stream: count it and keep
        // only its flags (the stream resynchronises at the next segment, counted as a gap).
        let seg = if hop.cut && !seg.payload.is_empty() {
            sink.malformed(Malformed::CaptureTruncated, Some(&ctx));
            ip::Tcp {
                payload: &[],
                ..seg
            }
        } else {
            seg
        };
        let key = tcp::FlowKey {
            src: ip.src,
            dst: ip.dst,
            sport: seg.sport,
            dport: seg.dport,
        };
        let name = &mut self.name;
        self.tcp.segment(key, &seg, hop.ts_ns, &mut |o| match o {
            tcp::Out::Message(m) => {
                ctx.size = m.len() as u32;
                dns_message(name, m, &ctx, false, sink);
            }
            tcp::Out::Incomplete => sink.malformed(Malformed::TcpIncomplete, Some(&ctx)),
            tcp::Out::Event(e) => sink.event(e),
        });
    }
}

/// The DNS message of a UDP datagram of length field `len` (≥ 8) whose captured payload is
/// `payload`; `cut`: the capture cut an outer layer. Shared by [`Decoder::udp`] and the fast
/// path.
fn udp_message(
    name: &mut Name,
    mut ctx: MsgCtx,
    len: usize,
    payload: &[u8],
    cut: bool,
    sink: &mut impl Sink,
) {
    ctx.size = (len - 8) as u32;
    let cut = cut || payload.len() < len - 8;
    dns_message(name, payload, &ctx, cut, sink);
}

/// Parses one DNS message and hands it to the sink.
fn dns_message(name: &mut Name, payload: &[u8], ctx: &MsgCtx, cut: bool, sink: &mut impl Sink) {
    match dns::parse(payload, name) {
        Ok(mut msg) => {
            if cut && msg.malformed.is_some() {
                // The snapshot length, not the sender, cut this message short.
                msg.malformed = Some(Malformed::CaptureTruncated);
            }
            sink.message(ctx, &msg, name);
        }
        Err(m) => sink.malformed(if cut { Malformed::CaptureTruncated } else { m }, Some(ctx)),
    }
}

//============ Testing =======================================================

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::file::Reader;
    use crate::decode::{Malformed, Message};

    /// Everything a decoder hands its sink, in order, as text.
    #[derive(Default)]
    struct Log(Vec<String>);

    impl Sink for Log {
        fn message(&mut self, ctx: &MsgCtx, msg: &Message, name: &Name) {
            let n = String::from_utf8_lossy(name.as_bytes());
            self.0
                .push(format!("{ctx:?} {msg:?} {n} {}", name.is_valid()));
        }
        fn malformed(&mut self, reason: Malformed, ctx: Option<&MsgCtx>) {
            self.0.push(format!("malformed {reason:?} {ctx:?}"));
        }
        fn event(&mut self, event: Event) {
            self.0.push(format!("event {event:?}"));
        }
    }

    /// The fast path and the layers, each with its own decoder, on the same frames.
    struct Pair {
        fast: Decoder,
        layers: Decoder,
        taken: usize,
    }

    impl Pair {
        fn new() -> Self {
            let mut layers = Decoder::new(&Settings::default());
            layers.fast = false;
            Self {
                fast: Decoder::new(&Settings::default()),
                layers,
                taken: 0,
            }
        }

        fn check(&mut self, pkt: &Packet<'_>, what: &str) {
            let (mut a, mut b) = (Log::default(), Log::default());
            self.fast.decode(pkt, &mut a);
            self.layers.decode(pkt, &mut b);
            assert_eq!(a.0, b.0, "{what}");
            self.taken += usize::from(
                pkt.link == LinkType::Ethernet && fastpath::ethernet_udp(pkt.data).is_some(),
            );
        }
    }

    /// Every frame of every fixture, and each plain UDP frame with one header byte changed
    /// (IP version, lengths, protocol, fragment bits, ports, UDP length, ...) or cut short:
    /// the fast path hands the sink exactly what the layered walk does.
    #[test]
    fn fast_path_agrees_with_the_layers() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pcaps");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("pcaps/")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let n = p.to_string_lossy();
                n.ends_with(".pcap") || n.ends_with(".pcapng") || n.ends_with(".pcap.gz")
            })
            .collect();
        files.sort();
        let mut pair = Pair::new();
        let (mut frames, mut variants) = (0, 0);
        let mut r = 29u64;
        for path in &files {
            let Ok(mut reader) = Reader::open(path) else {
                continue;
            };
            while let Ok(Some(p)) = reader.next() {
                frames += 1;
                let what = format!("{} frame {frames}", path.display());
                pair.check(&p, &what);
                if p.link != LinkType::Ethernet || fastpath::ethernet_udp(p.data).is_none() {
                    continue;
                }
                let v6 = p.data[12] == 0x86;
                let header = if v6 { 62 } else { 42 };
                for k in 0..12 {
                    let mut f = p.data.to_vec();
                    let at = if k < 8 {
                        12 + (crate::aggregate::sketch::splitmix64(&mut r) as usize % (header - 12))
                    } else {
                        // The fields the fast path tests: version, lengths, protocol, fragment.
                        let fields: &[usize] = if v6 {
                            &[14, 18, 19, 20, 58, 59]
                        } else {
                            &[14, 16, 17, 20, 21, 23, 38, 39]
                        };
                        fields[crate::aggregate::sketch::splitmix64(&mut r) as usize % fields.len()]
                    };
                    f[at] = crate::aggregate::sketch::splitmix64(&mut r) as u8;
                    let cut = crate::aggregate::sketch::splitmix64(&mut r) as usize % (f.len() + 1);
                    for data in [&f[..], &f[..cut.max(12)]] {
                        variants += 1;
                        let q = Packet { data, ..p };
                        pair.check(&q, &format!("{what}, byte {at} = {:#x}", f[at]));
                    }
                }
            }
        }
        assert!(
            frames > 5_000 && pair.taken > 1_000 && variants > 10_000,
            "{frames} frames, {} taken, {variants} variants",
            pair.taken
        );
    }
}
