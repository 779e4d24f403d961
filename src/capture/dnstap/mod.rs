//! dnstap input: Frame Streams of `dnstap.Dnstap` protobufs, from a Unix socket (Knot, Unbound,
//! BIND, NSD, PowerDNS dnsdist connect to it) or a file, turned into the same [`MsgCtx`] plus DNS
//! wire bytes the packet decoder produces, so every counter works unchanged.
//!
//! [`fstrm`] frames, [`proto`] decodes the protobuf by hand (zero-copy), [`server`] accepts
//! writers on a Unix socket. HOT PATH from [`Stream::process`] on: no allocation, no lock.

pub mod fstrm;
pub mod proto;
pub mod server;

use std::io::Read;

use crate::decode::{MsgCtx, Transport};

use fstrm::{Frame, Mode, Reply, Session};

//------------ Problems and counters -----------------------------------------

/// What can be wrong with dnstap input, by the metric label it counts under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[repr(u8)]
pub enum Problem {
    /// A data frame over the size limit (skipped; the connection stays).
    #[error("data frame over the size limit")]
    FrameOversize,
    /// A control frame of bad length, type or fields (connection closed).
    #[error("invalid control frame")]
    ControlInvalid,
    /// Control frames out of order, or data before START (connection closed).
    #[error("unexpected frame in the Frame Streams handshake")]
    Handshake,
    /// The writer offers no `protobuf:dnstap.Dnstap` (connection closed).
    #[error("content type is not protobuf:dnstap.Dnstap")]
    ContentType,
    /// The stream ended inside a frame or before STOP (connection closed).
    #[error("stream ended inside a frame or before STOP")]
    Truncated,
    /// Reading or writing the socket failed (connection closed).
    #[error("socket error")]
    Io,
    /// The frame is not valid protobuf (frame skipped).
    #[error("invalid protobuf")]
    ProtobufInvalid,
    /// A `Dnstap` that is not of type MESSAGE or has no message (frame skipped).
    #[error("not a dnstap MESSAGE")]
    NotMessage,
    /// A `Message.type` outside AUTH_QUERY..=UPDATE_RESPONSE (frame skipped).
    #[error("unknown dnstap message type")]
    MessageType,
    /// The query or response wire bytes the type calls for are absent (frame skipped).
    #[error("no DNS message in the dnstap message")]
    NoDnsMessage,
    /// Address of the wrong length for the family, unknown family or port > 65535 (skipped).
    #[error("invalid socket family, address or port")]
    AddressInvalid,
}

impl Problem {
    /// Every problem, in index order.
    pub const ALL: [Self; 11] = [
        Self::FrameOversize,
        Self::ControlInvalid,
        Self::Handshake,
        Self::ContentType,
        Self::Truncated,
        Self::Io,
        Self::ProtobufInvalid,
        Self::NotMessage,
        Self::MessageType,
        Self::NoDnsMessage,
        Self::AddressInvalid,
    ];
    /// Number of problems.
    pub const COUNT: usize = Self::ALL.len();

    /// Stable metric label.
    pub const fn label(self) -> &'static str {
        match self {
            Self::FrameOversize => "frame_oversize",
            Self::ControlInvalid => "control_invalid",
            Self::Handshake => "handshake",
            Self::ContentType => "content_type",
            Self::Truncated => "truncated",
            Self::Io => "io",
            Self::ProtobufInvalid => "protobuf_invalid",
            Self::NotMessage => "not_message",
            Self::MessageType => "message_type_unknown",
            Self::NoDnsMessage => "no_dns_message",
            Self::AddressInvalid => "address_invalid",
        }
    }
}

/// dnstap `Message.type` names, index = value (0 = none of them).
pub const MESSAGE_TYPES: [&str; 15] = [
    "other",
    "auth_query",
    "auth_response",
    "resolver_query",
    "resolver_response",
    "client_query",
    "client_response",
    "forwarder_query",
    "forwarder_response",
    "stub_query",
    "stub_response",
    "tool_query",
    "tool_response",
    "update_query",
    "update_response",
];

/// Counters of the dnstap input (cumulative; one owner, copied out at flush time).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Writer connections accepted.
    pub connections_accepted: u64,
    /// Connections refused because `dnstap_max_connections` were open.
    pub connections_rejected: u64,
    /// Connections open now.
    pub connections_open: u64,
    /// Data frames received (oversize ones included).
    pub data_frames: u64,
    /// Control frames received.
    pub control_frames: u64,
    /// Bytes received.
    pub bytes: u64,
    /// Problems by [`Problem`] index.
    pub problems: [u64; Problem::COUNT],
    /// Decoded messages by `Message.type` ([`MESSAGE_TYPES`]).
    pub message_types: [u64; MESSAGE_TYPES.len()],
}

impl Stats {
    /// Counts a problem.
    #[inline]
    pub fn problem(&mut self, p: Problem) {
        self.problems[p as usize] += 1;
    }

    /// Total problems.
    pub fn total_problems(&self) -> u64 {
        self.problems.iter().sum()
    }
}

//------------ Message → context ---------------------------------------------

fn addr(bytes: Option<&[u8]>, version: u8) -> Result<[u8; 16], Problem> {
    let mut a = [0u8; 16];
    match bytes {
        // Writers omit an address they do not know (e.g. no local address on a wildcard socket).
        None => {}
        Some(b) if b.len() == 4 && version == 4 => a[..4].copy_from_slice(b),
        Some(b) if b.len() == 16 && version == 6 => a.copy_from_slice(b),
        Some(_) => return Err(Problem::AddressInvalid),
    }
    Ok(a)
}

fn port(p: Option<u64>) -> Result<u16, Problem> {
    u16::try_from(p.unwrap_or(0)).map_err(|_| Problem::AddressInvalid)
}

fn time_ns(sec: Option<u64>, nsec: Option<u32>) -> Option<u64> {
    let s = sec?;
    Some(
        s.saturating_mul(1_000_000_000)
            .saturating_add(u64::from(nsec.unwrap_or(0).min(999_999_999))),
    )
}

/// A decoded dnstap message: where and how it travelled, its DNS wire bytes and its type.
#[derive(Clone, Copy, Debug)]
pub struct DnsFrame<'a> {
    /// The context the packet decoder would have produced.
    pub ctx: MsgCtx,
    /// The DNS message, wire format.
    pub wire: &'a [u8],
    /// `Message.type` (1..=14).
    pub kind: u8,
}

/// Decodes a data frame's payload into a DNS message and its context. `now_ns` stands in for a
/// message that carries no time. Odd types are queries: the query's sender (`query_address`) is
/// the source; even types are responses, sent from `response_address`. Transports: UDP and TCP
/// as such; DoT, DoH and DNSCrypt-over-TCP count as TCP, DoQ and DNSCrypt-over-UDP as UDP (the
/// packet on the wire); an absent or unknown protocol as UDP.
pub fn decode_frame(payload: &[u8], now_ns: u64) -> Result<DnsFrame<'_>, Problem> {
    let d = proto::Dnstap::decode(payload).map_err(|_| Problem::ProtobufInvalid)?;
    let (Some(proto::DNSTAP_MESSAGE), Some(m)) = (d.kind, d.message) else {
        return Err(Problem::NotMessage);
    };
    let m = proto::Message::decode(m).map_err(|_| Problem::ProtobufInvalid)?;
    let kind = match m.kind {
        Some(k @ 1..=14) => k as u8,
        _ => return Err(Problem::MessageType),
    };
    let is_query = kind % 2 == 1;
    let version = match m.family {
        Some(1) => 4,
        Some(2) => 6,
        None => match m.query_address.or(m.response_address).map(<[u8]>::len) {
            Some(16) => 6,
            _ => 4,
        },
        Some(_) => return Err(Problem::AddressInvalid),
    };
    let transport = match m.protocol {
        Some(2 | 3 | 4 | 6) => Transport::Tcp,
        _ => Transport::Udp,
    };
    let qa = addr(m.query_address, version)?;
    let ra = addr(m.response_address, version)?;
    let (qp, rp) = (port(m.query_port)?, port(m.response_port)?);
    let qt = time_ns(m.query_time_sec, m.query_time_nsec);
    let rt = time_ns(m.response_time_sec, m.response_time_nsec);
    let (wire, src, dst, sport, dport, ts) = if is_query {
        (m.query_message, qa, ra, qp, rp, qt.or(rt))
    } else {
        (m.response_message, ra, qa, rp, qp, rt.or(qt))
    };
    let wire = wire.ok_or(Problem::NoDnsMessage)?;
    Ok(DnsFrame {
        ctx: MsgCtx {
            ts_ns: ts.unwrap_or(now_ns),
            ip_version: version,
            transport,
            src,
            dst,
            sport,
            dport,
            size: wire.len() as u32,
        },
        wire,
        kind,
    })
}

//------------ Stream --------------------------------------------------------

/// What [`Stream::process`] asks of its caller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Send ACCEPT.
    pub accept: bool,
    /// Send FINISH.
    pub finish: bool,
    /// The stream ended cleanly (STOP): close it.
    pub done: bool,
}

/// One Frame Streams reader: a buffer of one maximal frame, the handshake state and the bytes
/// of an oversize frame still to skip. The buffer is allocated once, when the stream opens.
pub struct Stream {
    buf: Box<[u8]>,
    len: usize,
    skip: usize,
    max_frame: usize,
    session: Session,
}

impl Stream {
    /// A stream for frames of at most `max_frame` bytes.
    pub fn new(mode: Mode, max_frame: usize) -> Self {
        Self {
            buf: vec![0u8; max_frame.max(fstrm::MAX_CONTROL) + 8].into_boxed_slice(),
            len: 0,
            skip: 0,
            max_frame,
            session: Session::new(mode),
        }
    }

    /// Free space to read into.
    pub fn space(&mut self) -> &mut [u8] {
        &mut self.buf[self.len..]
    }

    /// True when the stream is between frames (an end here is no truncation) and past STOP or
    /// still before any frame.
    pub fn is_idle(&self) -> bool {
        self.len == 0 && self.skip == 0
    }

    /// Consumes `n` bytes just read into [`Stream::space`]: hands each complete data frame to
    /// `on_data`, follows the control frames. An error means the stream cannot continue.
    pub fn process(
        &mut self,
        n: usize,
        stats: &mut Stats,
        on_data: &mut impl FnMut(&[u8], &mut Stats),
    ) -> Result<Outcome, Problem> {
        self.len = (self.len + n).min(self.buf.len());
        stats.bytes += n as u64;
        let mut out = Outcome::default();
        let mut pos = 0;
        let result = loop {
            if self.skip > 0 {
                let k = self.skip.min(self.len - pos);
                pos += k;
                self.skip -= k;
                if self.skip > 0 {
                    break Ok(out);
                }
            }
            if out.done {
                // Nothing may follow STOP.
                if pos < self.len {
                    break Err(Problem::Handshake);
                }
                break Ok(out);
            }
            let frame = match fstrm::next_frame(&self.buf[pos..self.len], self.max_frame) {
                Ok(Some(f)) => f,
                Ok(None) => break Ok(out),
                Err(_) => break Err(Problem::ControlInvalid),
            };
            let (frame, used) = frame;
            pos += used;
            match frame {
                Frame::Data(d) => {
                    if !self.session.in_data() {
                        break Err(Problem::Handshake);
                    }
                    stats.data_frames += 1;
                    on_data(d, stats);
                }
                Frame::Oversize(len) => {
                    if !self.session.in_data() {
                        break Err(Problem::Handshake);
                    }
                    stats.data_frames += 1;
                    stats.problem(Problem::FrameOversize);
                    self.skip = len;
                }
                Frame::Control(c) => {
                    stats.control_frames += 1;
                    match self.session.control(&c) {
                        Ok(Reply::None) => {}
                        Ok(Reply::Accept) => out.accept = true,
                        Ok(Reply::Finish) => {
                            out.finish = true;
                            out.done = true;
                        }
                        Ok(Reply::Done) => out.done = true,
                        Err(fstrm::SessionError::Handshake) => break Err(Problem::Handshake),
                        Err(fstrm::SessionError::ContentType) => {
                            break Err(Problem::ContentType);
                        }
                    }
                }
            }
        };
        // Keep the partial frame at the front; it is at most one frame, which always fits.
        self.buf.copy_within(pos..self.len, 0);
        self.len -= pos;
        result
    }
}

/// Feeds one decoded dnstap data frame into `f`, counting problems and message types.
#[inline]
pub fn on_payload(
    payload: &[u8],
    now_ns: u64,
    stats: &mut Stats,
    f: &mut impl FnMut(&DnsFrame<'_>),
) {
    match decode_frame(payload, now_ns) {
        Ok(d) => {
            stats.message_types[usize::from(d.kind)] += 1;
            f(&d);
        }
        Err(p) => stats.problem(p),
    }
}

/// Reads a unidirectional Frame Streams file (as `knotd` or `dnstap -w` write it) to its end.
/// Problems are counted in `stats`; the first that stops reading is returned (what was read
/// before it counts).
pub fn read_file(
    mut r: impl Read,
    max_frame: usize,
    stats: &mut Stats,
    f: &mut impl FnMut(&DnsFrame<'_>),
) -> Result<(), Problem> {
    let mut s = Stream::new(Mode::Unidirectional, max_frame);
    let now = crate::time::now_ns();
    let mut done = false;
    loop {
        let n = match r.read(s.space()) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => {
                stats.problem(Problem::Io);
                return Err(Problem::Io);
            }
        };
        match s.process(n, stats, &mut |p, st| on_payload(p, now, st, f)) {
            Ok(o) => done |= o.done,
            Err(p) => {
                stats.problem(p);
                return Err(p);
            }
        }
    }
    if !s.is_idle() || !done {
        stats.problem(Problem::Truncated);
        return Err(Problem::Truncated);
    }
    Ok(())
}

//============ Testing =======================================================

#[cfg(test)]
mod test {
    use super::fstrm::{ControlType, encode_control};
    use super::*;

    /// A dnstap frame exactly as knotd 3.2.6 sent it (a UDP/IPv4 AUTH_QUERY for
    /// www.example.test A from 127.0.0.1:41070 to 127.0.0.1:15353, identity "vm").
    const KNOT_QUERY: &[u8] = b"\n\x02vm\x12\x0eKnot DNS 3.2.6rH\x08\x01\x10\x01\x18\x01\"\x04\x7f\x00\x00\x01*\x04\x7f\x00\x00\x010\xee\xc0\x028\xf9w@\x9a\xb5\x9b\xd8\x06M\x8d\xcb\xbc\x10R\">\xba\x01 \x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x04test\x00\x00\x01\x00\x01x\x01";

    fn control(kind: ControlType, with_type: bool) -> Vec<u8> {
        let mut b = [0u8; 42];
        let n = encode_control(kind, with_type, &mut b);
        b[..n].to_vec()
    }

    fn data(payload: &[u8]) -> Vec<u8> {
        let mut v = (payload.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(payload);
        v
    }

    fn dns_query(id: u16) -> Vec<u8> {
        let mut q = id.to_be_bytes().to_vec();
        q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        q.extend_from_slice(b"\x01a\x04test\x00\x00\x01\x00\x01");
        q
    }

    /// Feeds `bytes` in chunks of `chunk`; returns the outcomes merged, the payloads seen and
    /// the first error.
    fn feed(
        s: &mut Stream,
        bytes: &[u8],
        chunk: usize,
        stats: &mut Stats,
    ) -> (Outcome, Vec<Vec<u8>>, Option<Problem>) {
        let mut out = Outcome::default();
        let mut seen = Vec::new();
        for piece in bytes.chunks(chunk) {
            let mut at = 0;
            while at < piece.len() {
                let space = s.space();
                let n = space.len().min(piece.len() - at);
                space[..n].copy_from_slice(&piece[at..at + n]);
                at += n;
                match s.process(n, stats, &mut |d, _| seen.push(d.to_vec())) {
                    Ok(o) => {
                        out.accept |= o.accept;
                        out.finish |= o.finish;
                        out.done |= o.done;
                    }
                    Err(p) => return (out, seen, Some(p)),
                }
            }
        }
        (out, seen, None)
    }

    #[test]
    fn knot_frame_decodes_to_its_context() {
        let d = proto::Dnstap::decode(KNOT_QUERY).unwrap();
        assert_eq!(d.identity, Some(&b"vm"[..]));
        assert_eq!(d.version, Some(&b"Knot DNS 3.2.6"[..]));
        assert_eq!(d.kind, Some(1));
        let f = decode_frame(KNOT_QUERY, 7).unwrap();
        assert_eq!(f.kind, 1);
        assert_eq!(f.ctx.ip_version, 4);
        assert_eq!(f.ctx.transport, Transport::Udp);
        assert_eq!(&f.ctx.src[..4], &[127, 0, 0, 1]);
        assert_eq!(&f.ctx.dst[..4], &[127, 0, 0, 1]);
        assert_eq!((f.ctx.sport, f.ctx.dport), (41070, 15353));
        // 34 bytes: header 12, www.example.test. 18, type and class 4.
        assert_eq!((f.wire.len(), f.ctx.size), (34, 34));
        assert_eq!(&f.wire[12..16], b"\x03www");
        // query_time_sec varint 9a b5 9b d8 06 = 26 + 53·2^7 + 27·2^14 + 88·2^21 + 6·2^28
        // = 1795611290 (2026-11-25 12:54:50 UTC, when the frame was recorded), not the fallback.
        assert_eq!(f.ctx.ts_ns / 1_000_000_000, 1_795_611_290);
    }

    #[test]
    fn responses_come_from_the_response_address() {
        let q = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let r = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53];
        let wire = dns_query(9);
        let m = proto::Message {
            kind: Some(6), // CLIENT_RESPONSE
            family: Some(2),
            protocol: Some(3), // DoT
            query_address: Some(&q),
            response_address: Some(&r),
            query_port: Some(5000),
            response_port: Some(853),
            query_time_sec: Some(10),
            response_time_sec: Some(11),
            response_time_nsec: Some(5),
            response_message: Some(&wire),
            ..Default::default()
        };
        let enc = m.encode_dnstap();
        let f = decode_frame(&enc, 0).unwrap();
        assert_eq!((f.ctx.src, f.ctx.dst), (r, q));
        assert_eq!((f.ctx.sport, f.ctx.dport), (853, 5000));
        assert_eq!(f.ctx.ip_version, 6);
        assert_eq!(f.ctx.transport, Transport::Tcp);
        assert_eq!(f.ctx.ts_ns, 11_000_000_005);
        assert_eq!(f.wire, &wire[..]);
        // No time at all: the fallback. DoQ counts as UDP.
        let m2 = proto::Message {
            kind: Some(5),
            protocol: Some(7),
            query_time_sec: None,
            response_time_sec: None,
            response_time_nsec: None,
            query_message: Some(&wire),
            ..m
        };
        let enc = m2.encode_dnstap();
        let f = decode_frame(&enc, 42).unwrap();
        assert_eq!((f.ctx.ts_ns, f.ctx.src, f.ctx.sport), (42, q, 5000));
        assert_eq!(f.ctx.transport, Transport::Udp);
    }

    #[test]
    fn bad_messages_count_under_their_reason() {
        let wire = dns_query(1);
        let good = proto::Message {
            kind: Some(1),
            family: Some(1),
            protocol: Some(1),
            query_address: Some(&[192, 0, 2, 1]),
            query_message: Some(&wire),
            ..Default::default()
        };
        assert!(decode_frame(&good.encode_dnstap(), 0).is_ok());
        let cases = [
            (
                proto::Message {
                    kind: Some(0),
                    ..good
                },
                Problem::MessageType,
            ),
            (
                proto::Message {
                    kind: Some(15),
                    ..good
                },
                Problem::MessageType,
            ),
            (
                proto::Message {
                    kind: Some(2),
                    ..good
                },
                Problem::NoDnsMessage,
            ),
            (
                proto::Message {
                    query_message: None,
                    ..good
                },
                Problem::NoDnsMessage,
            ),
            (
                proto::Message {
                    family: Some(3),
                    ..good
                },
                Problem::AddressInvalid,
            ),
            (
                proto::Message {
                    family: Some(2),
                    ..good
                },
                Problem::AddressInvalid,
            ),
            (
                proto::Message {
                    query_port: Some(70000),
                    ..good
                },
                Problem::AddressInvalid,
            ),
        ];
        for (m, want) in cases {
            assert_eq!(
                decode_frame(&m.encode_dnstap(), 0).unwrap_err(),
                want,
                "{m:?}"
            );
        }
        // A Dnstap of another type, or without a message.
        let mut d = Vec::new();
        proto::put_uint(&mut d, 15, 2);
        assert_eq!(decode_frame(&d, 0).unwrap_err(), Problem::NotMessage);
        assert_eq!(decode_frame(&[], 0).unwrap_err(), Problem::NotMessage);
        // Every strict prefix of a valid frame is invalid protobuf or lacks what it needs,
        // never a panic; the full frame decodes.
        let enc = good.encode_dnstap();
        for cut in 0..enc.len() {
            assert!(decode_frame(&enc[..cut], 0).is_err(), "prefix {cut}");
        }
        // Wire type 3 (group), an 11-byte varint, a length past the end.
        for bad in [
            &[0x0b, 0][..],
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
            ][..],
            &[0x0a, 0x05, 1],
        ] {
            assert_eq!(decode_frame(bad, 0).unwrap_err(), Problem::ProtobufInvalid);
        }
    }

    #[test]
    fn bidirectional_handshake_in_any_chunking() {
        let mut bytes = control(ControlType::Ready, true);
        bytes.extend(control(ControlType::Start, true));
        bytes.extend(data(KNOT_QUERY));
        bytes.extend(data(b"second"));
        bytes.extend(control(ControlType::Stop, false));
        for chunk in [1, 2, 3, 7, 64, bytes.len()] {
            let mut s = Stream::new(Mode::Bidirectional, 4096);
            let mut st = Stats::default();
            let (o, seen, err) = feed(&mut s, &bytes, chunk, &mut st);
            assert_eq!(err, None, "chunk {chunk}");
            assert!(o.accept && o.finish && o.done, "chunk {chunk}");
            assert_eq!(seen, vec![KNOT_QUERY.to_vec(), b"second".to_vec()]);
            assert_eq!((st.data_frames, st.control_frames), (2, 3));
            assert_eq!(st.bytes, bytes.len() as u64);
            assert!(s.is_idle());
        }
    }

    #[test]
    fn handshake_violations_close_the_stream() {
        let ready = control(ControlType::Ready, true);
        let start = control(ControlType::Start, true);
        let cases: [(Vec<u8>, Problem); 5] = [
            // Data before START.
            ([ready.clone(), data(b"x")].concat(), Problem::Handshake),
            // START without READY on a socket.
            (start.clone(), Problem::Handshake),
            // READY offering no dnstap.
            (control(ControlType::Ready, false), Problem::ContentType),
            // A control frame of 600 bytes.
            (
                [0, 0, 0, 0, 0, 0, 2, 0x58].to_vec(),
                Problem::ControlInvalid,
            ),
            // An unknown control type 9.
            (
                [0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 9].to_vec(),
                Problem::ControlInvalid,
            ),
        ];
        for (bytes, want) in cases {
            let mut s = Stream::new(Mode::Bidirectional, 4096);
            let (_, seen, err) = feed(&mut s, &bytes, 5, &mut Stats::default());
            assert_eq!(err, Some(want), "{bytes:?}");
            assert!(seen.is_empty());
        }
        // Anything after STOP.
        let mut bytes = control(ControlType::Start, false);
        bytes.extend(control(ControlType::Stop, false));
        bytes.extend(data(b"late"));
        let mut s = Stream::new(Mode::Unidirectional, 4096);
        let (_, _, err) = feed(&mut s, &bytes, 100, &mut Stats::default());
        assert_eq!(err, Some(Problem::Handshake));
    }

    #[test]
    fn oversize_frames_are_skipped_and_counted() {
        let mut bytes = control(ControlType::Start, true);
        bytes.extend(data(&[7u8; 5000]));
        bytes.extend(data(b"fits"));
        bytes.extend(data(&[8u8; 4097]));
        bytes.extend(data(&[9u8; 4096]));
        bytes.extend(control(ControlType::Stop, false));
        for chunk in [1, 100, 4096, 9000] {
            let mut s = Stream::new(Mode::Unidirectional, 4096);
            let mut st = Stats::default();
            let (o, seen, err) = feed(&mut s, &bytes, chunk, &mut st);
            assert_eq!(err, None);
            assert!(o.done && !o.finish);
            assert_eq!(
                seen,
                vec![b"fits".to_vec(), vec![9u8; 4096]],
                "chunk {chunk}"
            );
            assert_eq!(st.problems[Problem::FrameOversize as usize], 2);
            assert_eq!(st.data_frames, 4);
        }
    }

    #[test]
    fn files_read_to_stop() {
        let wire = dns_query(3);
        let m = proto::Message {
            kind: Some(1),
            family: Some(1),
            protocol: Some(2),
            query_message: Some(&wire),
            ..Default::default()
        };
        let mut file = control(ControlType::Start, true);
        for _ in 0..3 {
            file.extend(data(&m.encode_dnstap()));
        }
        file.extend(data(b"\x0b")); // one bad protobuf: skipped, counted
        file.extend(control(ControlType::Stop, false));
        let mut st = Stats::default();
        let mut n = 0;
        read_file(&file[..], 4096, &mut st, &mut |f| {
            assert_eq!(f.ctx.transport, Transport::Tcp);
            n += 1;
        })
        .unwrap();
        assert_eq!(n, 3);
        assert_eq!(st.message_types[1], 3);
        assert_eq!(st.problems[Problem::ProtobufInvalid as usize], 1);
        // Cut before STOP, then inside a frame.
        for cut in [file.len() - 8, file.len() - 20] {
            let mut st = Stats::default();
            let r = read_file(&file[..cut], 4096, &mut st, &mut |_| {});
            assert_eq!(r, Err(Problem::Truncated));
            assert_eq!(st.problems[Problem::Truncated as usize], 1);
        }
    }

    /// Random bytes and mutated valid streams: the reader and the decoder never panic, and
    /// what they count stays within what they were given.
    #[test]
    fn random_input_never_panics() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut valid = control(ControlType::Ready, true);
        valid.extend(control(ControlType::Start, true));
        for _ in 0..4 {
            valid.extend(data(KNOT_QUERY));
        }
        valid.extend(control(ControlType::Stop, false));
        let (mut decoded, mut rejected) = (0u64, 0u64);
        for round in 0..20_000 {
            let bytes: Vec<u8> = if round % 2 == 0 {
                (0..next() % 300).map(|_| next() as u8).collect()
            } else {
                let mut v = valid.clone();
                for _ in 0..1 + next() % 4 {
                    let i = (next() as usize) % v.len();
                    v[i] = next() as u8;
                }
                v
            };
            let mut s = Stream::new(Mode::Bidirectional, 1024);
            let mut st = Stats::default();
            let chunk = 1 + (next() as usize) % 64;
            let (_, seen, _) = feed(&mut s, &bytes, chunk, &mut st);
            assert!(st.data_frames * 4 <= bytes.len() as u64);
            for p in &seen {
                on_payload(p, 0, &mut st, &mut |f| {
                    assert!(f.wire.len() <= p.len());
                    decoded += 1;
                });
            }
            rejected += st.total_problems();
            let _ = decode_frame(&bytes, 0);
        }
        assert!(decoded > 1000 && rejected > 1000, "{decoded} {rejected}");
    }
}
