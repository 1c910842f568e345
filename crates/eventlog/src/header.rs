//! The event header and its canonical byte encoding: the exact bytes that are hashed and signed.
//!
//! A header carries no personal data; the payload is committed by a salted hash. Headers are
//! encoded once, when the origin appends, and stored as they were hashed: a replica or a
//! verifier hashes the stored bytes and never re-encodes them. Decoding is strict (one version,
//! no trailing bytes, every length in bounds), so a decoded header maps to exactly one encoding.

use crate::ids::{Hash, NodeId};

/// Version byte at the start of every encoded header.
const VERSION: u8 = 1;

pub const MAX_KIND_LEN: usize = 128;
pub const MAX_STREAM_LEN: usize = 512;
pub const MAX_EVENT_ID_LEN: usize = 128;
pub const MAX_TRACE_LEN: usize = 255;
pub const MAX_AUDIENCE_NODES: usize = 1024;
pub const MAX_CAUSES: usize = 256;

/// Who may see an event's payload. Headers go to every node; payloads only to the audience.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Audience {
    /// Only the origin node.
    #[default]
    Local,
    /// The origin and the named nodes.
    Nodes(Vec<NodeId>),
    /// Every node of the federation.
    Federation,
}

/// A reference to an event this one depends on (causal delivery waits for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRef {
    pub origin: NodeId,
    pub seq: u64,
    pub hash: Hash,
}

/// The envelope of one event (BRIEF rule 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventHeader {
    pub origin: NodeId,
    /// Position in the origin's log, contiguous from 1.
    pub seq: u64,
    /// Hash of the previous header of the same origin; zero for seq 1.
    pub prev_hash: Hash,
    /// Microseconds since the Unix epoch, taken by the origin when it appended.
    pub time_micros: i64,
    pub kind: String,
    pub stream: String,
    /// Position within `stream` in the origin's log, contiguous from 1.
    pub stream_seq: u64,
    pub audience: Audience,
    /// `blake3::keyed_hash(salt, payload)`; the salt travels with the payload, never in the header.
    pub payload_hash: Hash,
    pub causes: Vec<EventRef>,
    /// W3C `traceparent` of the operation that caused the event; empty when there was none.
    pub trace: String,
    /// The client's idempotency id; empty when none was given.
    pub event_id: String,
}

/// Why header bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed header: {0}")]
pub struct DecodeError(pub &'static str);

impl EventHeader {
    /// The canonical encoding. Called once per event, by the origin.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(160 + self.kind.len() + self.stream.len());
        out.push(VERSION);
        out.extend_from_slice(&self.origin.0);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.prev_hash.0);
        out.extend_from_slice(&self.time_micros.to_be_bytes());
        out.extend_from_slice(&self.stream_seq.to_be_bytes());
        out.extend_from_slice(&self.payload_hash.0);
        put_str(&mut out, &self.kind);
        put_str(&mut out, &self.stream);
        put_str(&mut out, &self.event_id);
        put_str(&mut out, &self.trace);
        match &self.audience {
            Audience::Local => out.push(1),
            Audience::Nodes(nodes) => {
                out.push(2);
                out.extend_from_slice(&(nodes.len() as u16).to_be_bytes());
                for n in nodes {
                    out.extend_from_slice(&n.0);
                }
            }
            Audience::Federation => out.push(3),
        }
        out.extend_from_slice(&(self.causes.len() as u16).to_be_bytes());
        for c in &self.causes {
            out.extend_from_slice(&c.origin.0);
            out.extend_from_slice(&c.seq.to_be_bytes());
            out.extend_from_slice(&c.hash.0);
        }
        out
    }

    /// Strict decoding of [`EventHeader::encode`]'s output.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader(bytes);
        if r.u8()? != VERSION {
            return Err(DecodeError("unknown version"));
        }
        let origin = NodeId(r.array()?);
        let seq = r.u64()?;
        let prev_hash = Hash(r.array()?);
        let time_micros = r.u64()? as i64;
        let stream_seq = r.u64()?;
        let payload_hash = Hash(r.array()?);
        let kind = r.str(MAX_KIND_LEN)?;
        let stream = r.str(MAX_STREAM_LEN)?;
        let event_id = r.str(MAX_EVENT_ID_LEN)?;
        let trace = r.str(MAX_TRACE_LEN)?;
        let audience = match r.u8()? {
            1 => Audience::Local,
            2 => {
                let n = r.u16()? as usize;
                if n == 0 || n > MAX_AUDIENCE_NODES {
                    return Err(DecodeError("audience size out of bounds"));
                }
                let nodes = (0..n).map(|_| r.array().map(NodeId)).collect::<Result<Vec<_>, _>>()?;
                if !nodes.windows(2).all(|w| w[0] < w[1]) {
                    return Err(DecodeError("audience not sorted and unique"));
                }
                Audience::Nodes(nodes)
            }
            3 => Audience::Federation,
            _ => return Err(DecodeError("unknown audience")),
        };
        let n = r.u16()? as usize;
        if n > MAX_CAUSES {
            return Err(DecodeError("too many causes"));
        }
        let causes = (0..n)
            .map(|_| Ok(EventRef { origin: NodeId(r.array()?), seq: r.u64()?, hash: Hash(r.array()?) }))
            .collect::<Result<Vec<_>, DecodeError>>()?;
        if !r.0.is_empty() {
            return Err(DecodeError("trailing bytes"));
        }
        if seq == 0 || stream_seq == 0 || kind.is_empty() || stream.is_empty() {
            return Err(DecodeError("zero position or empty name"));
        }
        Ok(EventHeader {
            origin,
            seq,
            prev_hash,
            time_micros,
            kind,
            stream,
            stream_seq,
            audience,
            payload_hash,
            causes,
            trace,
            event_id,
        })
    }
}

/// The event hash: what `prev_hash` and checkpoints refer to.
pub fn header_hash(header_bytes: &[u8]) -> Hash {
    Hash(*blake3::hash(header_bytes).as_bytes())
}

/// The salted payload commitment stored in the header.
pub fn payload_hash(salt: &[u8; 32], payload: &[u8]) -> Hash {
    Hash(*blake3::keyed_hash(salt, payload).as_bytes())
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError("truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        Ok(self.take(N)?.try_into().expect("take returns N bytes"))
    }
    fn str(&mut self, max: usize) -> Result<String, DecodeError> {
        let n = self.u16()? as usize;
        if n > max {
            return Err(DecodeError("string too long"));
        }
        let bytes = self.take(n)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError("string not utf-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> EventHeader {
        EventHeader {
            origin: NodeId([7; 32]),
            seq: 3,
            prev_hash: Hash([1; 32]),
            time_micros: 1_700_000_000_000_000,
            kind: "intake.request.submitted".into(),
            stream: "request/42".into(),
            stream_seq: 1,
            audience: Audience::Nodes(vec![NodeId([2; 32]), NodeId([3; 32])]),
            payload_hash: Hash([9; 32]),
            causes: vec![EventRef { origin: NodeId([2; 32]), seq: 5, hash: Hash([4; 32]) }],
            trace: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
            event_id: "req-1".into(),
        }
    }

    #[test]
    fn round_trips_exactly() {
        let h = sample();
        let bytes = h.encode();
        assert_eq!(EventHeader::decode(&bytes).unwrap(), h);
        assert_eq!(EventHeader::decode(&bytes).unwrap().encode(), bytes);
    }

    #[test]
    fn refuses_trailing_and_truncated_bytes() {
        let mut bytes = sample().encode();
        bytes.push(0);
        assert_eq!(EventHeader::decode(&bytes), Err(DecodeError("trailing bytes")));
        bytes.truncate(bytes.len() - 2);
        assert_eq!(EventHeader::decode(&bytes), Err(DecodeError("truncated")));
        assert_eq!(EventHeader::decode(&[]), Err(DecodeError("truncated")));
    }
}
