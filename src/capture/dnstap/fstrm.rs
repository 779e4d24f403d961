//! Frame Streams (fstrm), the framing dnstap travels in. HOT PATH for data frames.
//!
//! Every frame starts with a 32-bit big-endian length. A data frame is that many bytes of
//! payload; a length of 0 escapes a control frame: a second 32-bit length, then a 32-bit
//! control type and fields (`CONTENT_TYPE` = 1, a 32-bit length, the bytes). On a socket the
//! exchange is bidirectional: the writer sends READY, the reader answers ACCEPT, the writer sends
//! START, data, STOP and the reader answers FINISH. A file is unidirectional: START, data, STOP.
//! (Checked against knotd 3.2 of Debian 12: it sends READY and START with
//! `protobuf:dnstap.Dnstap` and waits for ACCEPT before any data.)

/// The content type of dnstap payloads.
pub const CONTENT_TYPE: &[u8] = b"protobuf:dnstap.Dnstap";
/// Control frames are small; libfstrm itself refuses more than 512 bytes.
pub const MAX_CONTROL: usize = 512;

/// Control frame types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlType {
    /// Reader → writer: the offered content type is accepted.
    Accept = 1,
    /// Writer: the data frames begin.
    Start = 2,
    /// Writer: no more data frames.
    Stop = 3,
    /// Writer → reader: a content type is offered.
    Ready = 4,
    /// Reader → writer: STOP was received.
    Finish = 5,
}

impl ControlType {
    fn from_code(c: u32) -> Option<Self> {
        Some(match c {
            1 => Self::Accept,
            2 => Self::Start,
            3 => Self::Stop,
            4 => Self::Ready,
            5 => Self::Finish,
            _ => return None,
        })
    }
}

/// A decoded control frame: its type and whether it names the dnstap content type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Control {
    /// The control type.
    pub kind: ControlType,
    /// Content-type fields present.
    pub content_types: u32,
    /// One of them is `protobuf:dnstap.Dnstap`.
    pub dnstap: bool,
}

/// One frame, borrowed from the reader's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A data frame's payload.
    Data(&'a [u8]),
    /// A control frame.
    Control(Control),
    /// A data frame longer than the limit: its `len` bytes follow and are to be skipped.
    Oversize(usize),
}

/// Framing that cannot be followed: the stream must be closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A control frame longer than [`MAX_CONTROL`] or shorter than its type.
    #[error("control frame length out of range")]
    ControlLength,
    /// An unknown control type, an unknown field or a field running past the frame.
    #[error("invalid control frame")]
    ControlInvalid,
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Reads the frame at the start of `buf`: `Ok(None)` when more bytes are needed, else the frame
/// and the bytes it used. An oversize data frame uses only its 4-byte header: the caller skips
/// the payload as it arrives, without buffering it.
pub fn next_frame(buf: &[u8], max_data: usize) -> Result<Option<(Frame<'_>, usize)>, FrameError> {
    let Some(len) = be32(buf, 0) else {
        return Ok(None);
    };
    let len = len as usize;
    if len > 0 {
        if len > max_data {
            return Ok(Some((Frame::Oversize(len), 4)));
        }
        return Ok(buf.get(4..4 + len).map(|d| (Frame::Data(d), 4 + len)));
    }
    let Some(clen) = be32(buf, 4) else {
        return Ok(None);
    };
    let clen = clen as usize;
    if !(4..=MAX_CONTROL).contains(&clen) {
        return Err(FrameError::ControlLength);
    }
    let Some(body) = buf.get(8..8 + clen) else {
        return Ok(None);
    };
    Ok(Some((Frame::Control(parse_control(body)?), 8 + clen)))
}

/// Decodes a control frame's body (type and fields).
pub fn parse_control(body: &[u8]) -> Result<Control, FrameError> {
    let kind = be32(body, 0)
        .and_then(ControlType::from_code)
        .ok_or(FrameError::ControlInvalid)?;
    let mut c = Control {
        kind,
        content_types: 0,
        dnstap: false,
    };
    let mut at = 4;
    while at < body.len() {
        let (Some(field), Some(flen)) = (be32(body, at), be32(body, at + 4)) else {
            return Err(FrameError::ControlInvalid);
        };
        // CONTENT_TYPE is the only field type the protocol defines.
        if field != 1 {
            return Err(FrameError::ControlInvalid);
        }
        let start = at + 8;
        let value = body
            .get(start..start + flen as usize)
            .ok_or(FrameError::ControlInvalid)?;
        c.content_types += 1;
        c.dnstap |= value == CONTENT_TYPE;
        at = start + flen as usize;
    }
    Ok(c)
}

/// Writes a control frame (escape, length, type, optional dnstap content type) into `out`;
/// returns its length. `out` must hold 12 + 8 + [`CONTENT_TYPE`] bytes.
pub fn encode_control(kind: ControlType, with_type: bool, out: &mut [u8; 42]) -> usize {
    let body = if with_type {
        4 + 8 + CONTENT_TYPE.len()
    } else {
        4
    };
    out[0..4].copy_from_slice(&0u32.to_be_bytes());
    out[4..8].copy_from_slice(&(body as u32).to_be_bytes());
    out[8..12].copy_from_slice(&(kind as u32).to_be_bytes());
    if with_type {
        out[12..16].copy_from_slice(&1u32.to_be_bytes());
        out[16..20].copy_from_slice(&(CONTENT_TYPE.len() as u32).to_be_bytes());
        out[20..20 + CONTENT_TYPE.len()].copy_from_slice(CONTENT_TYPE);
    }
    8 + body
}

//------------ Session -------------------------------------------------------

/// Whether the peer expects answers (socket) or not (file).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// READY/ACCEPT/START … STOP/FINISH.
    Bidirectional,
    /// START … STOP.
    Unidirectional,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    AwaitReady,
    AwaitStart,
    Data,
    Stopped,
}

/// A protocol violation of the control sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// A control frame out of order, or data before START.
    #[error("unexpected frame in the Frame Streams handshake")]
    Handshake,
    /// READY or START names content types, none of them dnstap.
    #[error("content type is not protobuf:dnstap.Dnstap")]
    ContentType,
}

/// What the reader does after a control frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Nothing to send.
    None,
    /// Send ACCEPT with the dnstap content type.
    Accept,
    /// Send FINISH; the stream is over.
    Finish,
    /// Unidirectional STOP: the stream is over.
    Done,
}

/// The reader's side of the control sequence.
#[derive(Clone, Copy, Debug)]
pub struct Session {
    mode: Mode,
    state: State,
}

impl Session {
    /// A session waiting for READY (bidirectional) or START (unidirectional).
    pub fn new(mode: Mode) -> Self {
        let state = match mode {
            Mode::Bidirectional => State::AwaitReady,
            Mode::Unidirectional => State::AwaitStart,
        };
        Self { mode, state }
    }

    /// True once START was received and before STOP: data frames are allowed.
    pub fn in_data(&self) -> bool {
        self.state == State::Data
    }

    /// Advances on a control frame.
    pub fn control(&mut self, c: &Control) -> Result<Reply, SessionError> {
        // A writer may offer several content types; with none it means "whatever you take".
        let type_ok = c.content_types == 0 || c.dnstap;
        match (self.state, c.kind) {
            (State::AwaitReady, ControlType::Ready) => {
                if !c.dnstap {
                    // ACCEPT must name a type the writer offered: without dnstap there is none.
                    return Err(SessionError::ContentType);
                }
                self.state = State::AwaitStart;
                Ok(Reply::Accept)
            }
            (State::AwaitStart, ControlType::Start) => {
                if !type_ok || c.content_types > 1 {
                    return Err(SessionError::ContentType);
                }
                self.state = State::Data;
                Ok(Reply::None)
            }
            (State::Data, ControlType::Stop) => {
                self.state = State::Stopped;
                Ok(match self.mode {
                    Mode::Bidirectional => Reply::Finish,
                    Mode::Unidirectional => Reply::Done,
                })
            }
            _ => Err(SessionError::Handshake),
        }
    }
}
