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
    let now = crate::export::rssac002::now_ns();
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
