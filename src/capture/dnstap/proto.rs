//! The dnstap protobuf schema, decoded by hand. HOT PATH: no allocation, no panic.
//!
//! Why not `prost`: its derived structs own their `bytes` fields (`Vec<u8>` or `Bytes`), so
//! every message would allocate twice or three times (addresses, wire message), and the hot
//! path must not allocate. dnstap needs two messages of about fifteen scalar or bytes fields;
//! the wire format for that is four cases (varint, 64-bit, length-delimited, 32-bit), about
//! seventy lines here, and every `bytes` field stays a slice of the frame.
//!
//! Field numbers from dnstap.proto: `Dnstap { identity 1, version 2, extra 3, message 14,
//! type 15 }`, `Message { type 1, socket_family 2, socket_protocol 3, query_address 4,
//! response_address 5, query_port 6, response_port 7, query_time_sec 8, query_time_nsec 9
//! (fixed32), query_message 10, query_zone 11, response_time_sec 12, response_time_nsec 13
//! (fixed32), response_message 14 }`. Unknown fields are skipped, as protobuf requires.

/// A protobuf encoding error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid protobuf encoding")]
pub struct ProtoError;

/// `Dnstap.type` MESSAGE, the only type defined.
pub const DNSTAP_MESSAGE: u64 = 1;

/// The outer `Dnstap` message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dnstap<'a> {
    /// `type` (1 = MESSAGE).
    pub kind: Option<u64>,
    /// `identity`.
    pub identity: Option<&'a [u8]>,
    /// `version`.
    pub version: Option<&'a [u8]>,
    /// `message`, still encoded: see [`Message::decode`].
    pub message: Option<&'a [u8]>,
}

/// `dnstap.Message`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Message<'a> {
    /// `type`: AUTH_QUERY 1 … UPDATE_RESPONSE 14; odd values are queries.
    pub kind: Option<u64>,
    /// `socket_family`: INET 1, INET6 2.
    pub family: Option<u64>,
    /// `socket_protocol`: UDP 1, TCP 2, DOT 3, DOH 4, DNSCryptUDP 5, DNSCryptTCP 6, DOQ 7.
    pub protocol: Option<u64>,
    /// `query_address`: the address of the side that sent the query.
    pub query_address: Option<&'a [u8]>,
    /// `response_address`: the side that answers.
    pub response_address: Option<&'a [u8]>,
    /// `query_port`.
    pub query_port: Option<u64>,
    /// `response_port`.
    pub response_port: Option<u64>,
    /// `query_time_sec`.
    pub query_time_sec: Option<u64>,
    /// `query_time_nsec`.
    pub query_time_nsec: Option<u32>,
    /// `query_message` (DNS wire format).
    pub query_message: Option<&'a [u8]>,
    /// `response_time_sec`.
    pub response_time_sec: Option<u64>,
    /// `response_time_nsec`.
    pub response_time_nsec: Option<u32>,
    /// `response_message`.
    pub response_message: Option<&'a [u8]>,
}

/// One field's value.
#[derive(Clone, Copy, Debug)]
enum Value<'a> {
    Varint(u64),
    Fixed64,
    Bytes(&'a [u8]),
    Fixed32(u32),
}

/// Walks the fields of one encoded message.
struct Fields<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Fields<'a> {
    fn varint(&mut self) -> Result<u64, ProtoError> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = *self.buf.get(self.at).ok_or(ProtoError)?;
            self.at += 1;
            // The tenth byte may only carry the top bit of a 64-bit value.
            if i == 9 && b > 1 {
                return Err(ProtoError);
            }
            v |= u64::from(b & 0x7F) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ProtoError)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtoError> {
        let end = self.at.checked_add(n).ok_or(ProtoError)?;
        let s = self.buf.get(self.at..end).ok_or(ProtoError)?;
        self.at = end;
        Ok(s)
    }

    /// The next field number and value; `None` at the end.
    fn next_field(&mut self) -> Result<Option<(u64, Value<'a>)>, ProtoError> {
        if self.at >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = key >> 3;
        if field == 0 {
            return Err(ProtoError);
        }
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Value::Fixed64
            }
            2 => {
                let n = usize::try_from(self.varint()?).map_err(|_| ProtoError)?;
                Value::Bytes(self.take(n)?)
            }
            5 => {
                let b = self.take(4)?;
                Value::Fixed32(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            // Groups (3, 4) are deprecated and absent from dnstap; 6 and 7 do not exist.
            _ => return Err(ProtoError),
        };
        Ok(Some((field, value)))
    }
}

fn fields(buf: &[u8]) -> Fields<'_> {
    Fields { buf, at: 0 }
}

/// A field present with the wrong wire type is an encoding error, as in protobuf's parsers.
fn varint(v: Value<'_>) -> Result<u64, ProtoError> {
    match v {
        Value::Varint(n) => Ok(n),
        _ => Err(ProtoError),
    }
}

fn bytes(v: Value<'_>) -> Result<&[u8], ProtoError> {
    match v {
        Value::Bytes(b) => Ok(b),
        _ => Err(ProtoError),
    }
}

fn fixed32(v: Value<'_>) -> Result<u32, ProtoError> {
    match v {
        Value::Fixed32(n) => Ok(n),
        _ => Err(ProtoError),
    }
}

impl<'a> Dnstap<'a> {
    /// Decodes a data frame's payload.
    pub fn decode(buf: &'a [u8]) -> Result<Self, ProtoError> {
        let mut d = Self::default();
        let mut f = fields(buf);
        while let Some((n, v)) = f.next_field()? {
            match n {
                1 => d.identity = Some(bytes(v)?),
                2 => d.version = Some(bytes(v)?),
                14 => d.message = Some(bytes(v)?),
                15 => d.kind = Some(varint(v)?),
                _ => {}
            }
        }
        Ok(d)
    }
}

impl<'a> Message<'a> {
    /// Decodes an encoded `dnstap.Message`.
    pub fn decode(buf: &'a [u8]) -> Result<Self, ProtoError> {
        let mut m = Self::default();
        let mut f = fields(buf);
        while let Some((n, v)) = f.next_field()? {
            match n {
                1 => m.kind = Some(varint(v)?),
                2 => m.family = Some(varint(v)?),
                3 => m.protocol = Some(varint(v)?),
                4 => m.query_address = Some(bytes(v)?),
                5 => m.response_address = Some(bytes(v)?),
                6 => m.query_port = Some(varint(v)?),
                7 => m.response_port = Some(varint(v)?),
                8 => m.query_time_sec = Some(varint(v)?),
                9 => m.query_time_nsec = Some(fixed32(v)?),
                10 => m.query_message = Some(bytes(v)?),
                12 => m.response_time_sec = Some(varint(v)?),
                13 => m.response_time_nsec = Some(fixed32(v)?),
                14 => m.response_message = Some(bytes(v)?),
                _ => {}
            }
        }
        Ok(m)
    }
}

//------------ Encoding (tests and the generator of test files) ---------------

/// Appends a varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a varint field.
pub fn put_uint(out: &mut Vec<u8>, field: u64, v: u64) {
    put_varint(out, field << 3);
    put_varint(out, v);
}

/// Appends a length-delimited field.
pub fn put_bytes(out: &mut Vec<u8>, field: u64, b: &[u8]) {
    put_varint(out, (field << 3) | 2);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Appends a fixed32 field.
pub fn put_fixed32(out: &mut Vec<u8>, field: u64, v: u32) {
    put_varint(out, (field << 3) | 5);
    out.extend_from_slice(&v.to_le_bytes());
}

impl Message<'_> {
    /// Encodes this message wrapped in a `Dnstap { type: MESSAGE }` (for tests and fixtures).
    pub fn encode_dnstap(&self) -> Vec<u8> {
        let mut m = Vec::new();
        let u = |m: &mut Vec<u8>, f, v: Option<u64>| {
            if let Some(v) = v {
                put_uint(m, f, v);
            }
        };
        let b = |m: &mut Vec<u8>, f, v: Option<&[u8]>| {
            if let Some(v) = v {
                put_bytes(m, f, v);
            }
        };
        u(&mut m, 1, self.kind);
        u(&mut m, 2, self.family);
        u(&mut m, 3, self.protocol);
        b(&mut m, 4, self.query_address);
        b(&mut m, 5, self.response_address);
        u(&mut m, 6, self.query_port);
        u(&mut m, 7, self.response_port);
        u(&mut m, 8, self.query_time_sec);
        if let Some(n) = self.query_time_nsec {
            put_fixed32(&mut m, 9, n);
        }
        b(&mut m, 10, self.query_message);
        u(&mut m, 12, self.response_time_sec);
        if let Some(n) = self.response_time_nsec {
            put_fixed32(&mut m, 13, n);
        }
        b(&mut m, 14, self.response_message);
        let mut d = Vec::with_capacity(m.len() + 16);
        put_bytes(&mut d, 14, &m);
        put_uint(&mut d, 15, DNSTAP_MESSAGE);
        d
    }
}
