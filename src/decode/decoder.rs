//! The per-worker decoder: frame → link → IP (→ fragment reassembly) → UDP / TCP (→ stream
//! reassembly) → DNS, handing what it finds to a [`Sink`]. HOT PATH.

use crate::capture::Packet;

use super::ip::{self, PROTO_TCP, PROTO_UDP};
use super::malformed::Malformed;
use super::{Event, MsgCtx, Name, Settings, Sink, Transport, defrag, dns, link, tcp};

/// Per-worker decoder: the reassembly tables and a name buffer. Owned by one thread.
pub struct Decoder {
    ports: Box<[bool; 65536]>,
    defrag: defrag::Defrag,
    tcp: tcp::TcpTable,
    name: Name,
}

impl Decoder {
    /// A decoder with empty tables.
    pub fn new(settings: &Settings) -> Self {
        let mut ports = Box::new([false; 65536]);
        for &p in &settings.ports {
            ports[usize::from(p)] = true;
        }
        Self {
            ports,
            defrag: defrag::Defrag::new(settings.defrag),
            tcp: tcp::TcpTable::new(settings.tcp),
            name: Name::default(),
        }
    }

    /// Datagrams and TCP directions currently held (for gauges).
    pub fn table_sizes(&self) -> (usize, usize) {
        (self.defrag.len(), self.tcp.len())
    }

    fn is_dns(&self, sport: u16, dport: u16) -> bool {
        self.ports[usize::from(sport)] || self.ports[usize::from(dport)]
    }

    /// Decodes one DNS message whose context is already known (dnstap input: the server
    /// reports addresses, ports and transport; only the DNS bytes need parsing).
    #[inline]
    pub fn decode_dns(&mut self, ctx: &MsgCtx, payload: &[u8], sink: &mut impl Sink) {
        dns_message(&mut self.name, payload, ctx, false, sink);
    }

    /// Decodes one frame.
    pub fn decode(&mut self, pkt: &Packet<'_>, sink: &mut impl Sink) {
        let l3 = match link::strip(pkt.link, pkt.data) {
            Ok(link::Link::Ip(p)) => p,
            Ok(link::Link::Other) => return sink.event(Event::NonIp),
            Err(m) => return sink.malformed(m, None),
        };
        let ip = match ip::parse(l3) {
            Ok(ip) => ip,
            Err(m) => return sink.malformed(m, None),
        };
        if !matches!(ip.proto, PROTO_UDP | PROTO_TCP) {
            return;
        }
        let cut = ip.cut || (pkt.orig_len as usize) > pkt.data.len();
        let Some(frag) = ip.frag else {
            return self.transport(&ip, ip.proto, ip.payload, cut, pkt.ts_ns, sink);
        };
        sink.event(Event::Fragment);
        let outcome = self.defrag.push(
            ip.version,
            &ip.src,
            &ip.dst,
            ip.proto,
            frag,
            ip.payload,
            pkt.ts_ns,
            &mut |e| sink.event(e),
        );
        match outcome {
            defrag::Outcome::Pending => {}
            defrag::Outcome::Invalid(m) => sink.malformed(m, None),
            defrag::Outcome::Complete => {
                sink.event(Event::Reassembled);
                // Move the buffer out so `transport` can borrow `self` mutably.
                let payload = std::mem::take(self.defrag.done_mut());
                let (proto, body) = match ip.version {
                    6 => match ip::walk_ext(ip.proto, &payload) {
                        Ok((p, b, None)) => (p, b),
                        Ok((_, _, Some(_))) => {
                            sink.malformed(Malformed::FragmentInvalid, None);
                            *self.defrag.done_mut() = payload;
                            return;
                        }
                        Err(m) => {
                            sink.malformed(m, None);
                            *self.defrag.done_mut() = payload;
                            return;
                        }
                    },
                    _ => (ip.proto, &payload[..]),
                };
                if matches!(proto, PROTO_UDP | PROTO_TCP) {
                    self.transport(&ip, proto, body, cut, pkt.ts_ns, sink);
                }
                *self.defrag.done_mut() = payload;
            }
        }
    }

    fn transport(
        &mut self,
        ip: &ip::Ip<'_>,
        proto: u8,
        l4: &[u8],
        cut: bool,
        ts_ns: u64,
        sink: &mut impl Sink,
    ) {
        let mut ctx = MsgCtx {
            ts_ns,
            ip_version: ip.version,
            transport: Transport::Udp,
            src: ip.src,
            dst: ip.dst,
            sport: 0,
            dport: 0,
            size: 0,
        };
        if proto == PROTO_UDP {
            let (sport, dport, len, payload) = match ip::udp(l4) {
                Ok(u) => u,
                Err(m) => return sink.malformed(m, None),
            };
            if !self.is_dns(sport, dport) {
                return;
            }
            ctx.sport = sport;
            ctx.dport = dport;
            ctx.size = (len - 8) as u32;
            let cut = cut || payload.len() < len - 8;
            dns_message(&mut self.name, payload, &ctx, cut, sink);
            return;
        }
        let seg = match ip::tcp(l4) {
            Ok(t) => t,
            Err(m) => return sink.malformed(m, None),
        };
        if !self.is_dns(seg.sport, seg.dport) {
            return;
        }
        ctx.transport = Transport::Tcp;
        ctx.sport = seg.sport;
        ctx.dport = seg.dport;
        if !seg.payload.is_empty() {
            sink.event(Event::TcpSegment);
        }
        // A segment cut by the snapshot length would corrupt the byte stream: count it and keep
        // only its flags (the stream resynchronises at the next segment, counted as a gap).
        let seg = if cut && !seg.payload.is_empty() {
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
        self.tcp.segment(key, &seg, ts_ns, &mut |o| match o {
            tcp::Out::Message(m) => {
                ctx.size = m.len() as u32;
                dns_message(name, m, &ctx, false, sink);
            }
            tcp::Out::Incomplete => sink.malformed(Malformed::TcpIncomplete, Some(&ctx)),
            tcp::Out::Event(e) => sink.event(e),
        });
    }
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
