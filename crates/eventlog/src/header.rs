//! The event header and its canonical byte encoding: the exact bytes that are hashed and signed.
//!
//! A header carries no personal data; the payload is committed by a salted hash. Headers are
//! encoded once, when the origin appends, and stored as they were hashed: a replica or a
//! verifier hashes the stored bytes and never re-encodes them. Decoding is strict (one version,
//! no trailing bytes, every length in bounds), so a decoded header maps to exactly one encoding.

use crate::ids::{Hash, NodeId};

/// Version byte of headers written before the outline (hash over all bytes); still read.
const VERSION_1: u8 = 1;
/// Version byte of every header written now: an outline, then the body or its sealed form.
const VERSION: u8 = 2;
/// Version, origin, seq, prev_hash and body hash: the bytes the event hash covers.
pub const OUTLINE_LEN: usize = 1 + 32 + 8 + 32 + 32;
/// After the outline: the body follows in the clear.
const FORM_BODY: u8 = 0;
/// After the outline: the body is withheld; what follows is opaque (the origin's sealed copy).
const FORM_WITHHELD: u8 = 1;
/// Bound on the opaque bytes a withheld header may carry.
pub const MAX_SEALED_BODY: usize = 64 * 1024;
/// Domain of the body hash, so it is never confused with another blake3 hash of the same bytes.
const BODY_CONTEXT: &str = "samenspel 2026-12 event header body v2";

pub const MAX_KIND_LEN: usize = 128;
pub const MAX_STREAM_LEN: usize = 512;
pub const MAX_EVENT_ID_LEN: usize = 128;
pub const MAX_TRACE_LEN: usize = 255;
pub const MAX_AUDIENCE_NODES: usize = 1024;
pub const MAX_CAUSES: usize = 256;

/// Who may see an event's payload and its header's body. Outlines go to every node; the rest only to
/// the audience.
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
///
/// It has two parts. The outline — origin, seq, prev_hash and the hash of the body — is what the
/// event hash covers, so it is all a node needs to check the chain and the checkpoints and to
/// detect a fork. The body — time, stream, kind, audience, causes, the payload's commitment — goes
/// only to the nodes that may see the payload (invariant 28); a node outside the audience holds
/// the outline alone, with `withheld_body` set and every body field empty.
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
    /// The body's hash when this node holds only the outline: the body was withheld from it, and
    /// the fields above after `prev_hash` are empty. `None` for a whole header.
    pub withheld_body: Option<Hash>,
}

/// Why header bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed header: {0}")]
pub struct DecodeError(pub &'static str);

impl EventHeader {
    /// The canonical encoding: the outline, then the body in the clear. Called once per event,
    /// by the origin. A withheld header encodes as its outline with no sealed body.
    pub fn encode(&self) -> Vec<u8> {
        let body = match self.withheld_body {
            Some(_) => None,
            None => Some(self.encode_body()),
        };
        let body_hash = match (&body, self.withheld_body) {
            (Some(b), _) => body_hash(b),
            (None, h) => h.unwrap_or(Hash::ZERO),
        };
        let mut out = Vec::with_capacity(OUTLINE_LEN + 1 + body.as_ref().map_or(0, Vec::len));
        out.push(VERSION);
        out.extend_from_slice(&self.origin.0);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.prev_hash.0);
        out.extend_from_slice(&body_hash.0);
        match body {
            Some(b) => {
                out.push(FORM_BODY);
                out.extend_from_slice(&b);
            }
            None => out.push(FORM_WITHHELD),
        }
        out
    }

    /// What a version 1 header held after prev_hash, and a version 2 body holds: everything but
    /// the outline.
    fn encode_body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + self.kind.len() + self.stream.len());
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

    /// Strict decoding of [`EventHeader::encode`]'s output, of a withheld header (the outline and
    /// opaque sealed bytes), and of a version 1 header.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader(bytes);
        let version = r.u8()?;
        if version != VERSION && version != VERSION_1 {
            return Err(DecodeError("unknown version"));
        }
        let origin = NodeId(r.array()?);
        let seq = r.u64()?;
        let prev_hash = Hash(r.array()?);
        if seq == 0 {
            return Err(DecodeError("zero position or empty name"));
        }
        if version == VERSION {
            let claimed = Hash(r.array()?);
            match r.u8()? {
                FORM_BODY => {
                    if body_hash(r.0) != claimed {
                        return Err(DecodeError("body does not match its hash"));
                    }
                }
                FORM_WITHHELD => {
                    if r.0.len() > MAX_SEALED_BODY {
                        return Err(DecodeError("sealed body too long"));
                    }
                    return Ok(EventHeader::withheld(origin, seq, prev_hash, claimed));
                }
                _ => return Err(DecodeError("unknown form")),
            }
        }
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
        if stream_seq == 0 || kind.is_empty() || stream.is_empty() {
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
            withheld_body: None,
        })
    }

    /// The header of an event whose body this node does not hold.
    fn withheld(origin: NodeId, seq: u64, prev_hash: Hash, body: Hash) -> Self {
        EventHeader {
            origin,
            seq,
            prev_hash,
            time_micros: 0,
            kind: String::new(),
            stream: String::new(),
            stream_seq: 0,
            audience: Audience::Local,
            payload_hash: Hash::ZERO,
            causes: Vec::new(),
            trace: String::new(),
            event_id: String::new(),
            withheld_body: Some(body),
        }
    }

    /// True when this node holds only the outline.
    pub fn is_withheld(&self) -> bool {
        self.withheld_body.is_some()
    }
}

/// The event hash: what `prev_hash` and checkpoints refer to. For a version 2 header, the hash of
/// its outline (so a withheld header hashes as the whole one); for version 1, of all its bytes.
pub fn header_hash(header_bytes: &[u8]) -> Hash {
    let covered = match header_bytes.first() {
        Some(&VERSION) if header_bytes.len() >= OUTLINE_LEN => &header_bytes[..OUTLINE_LEN],
        _ => header_bytes,
    };
    Hash(*blake3::hash(covered).as_bytes())
}

fn body_hash(body: &[u8]) -> Hash {
    Hash(*blake3::Hasher::new_derive_key(BODY_CONTEXT).update(body).finalize().as_bytes())
}

/// The body of a whole version 2 header: the bytes a node outside the audience does not get.
/// `None` for a withheld header and for version 1 (whose hash covers every byte).
pub fn header_body(header_bytes: &[u8]) -> Option<&[u8]> {
    match (header_bytes.first(), header_bytes.get(OUTLINE_LEN)) {
        (Some(&VERSION), Some(&FORM_BODY)) => Some(&header_bytes[OUTLINE_LEN + 1..]),
        _ => None,
    }
}

/// The opaque bytes a withheld header carries (the origin's sealed copy of the body, or none).
pub fn sealed_body(header_bytes: &[u8]) -> Option<&[u8]> {
    match (header_bytes.first(), header_bytes.get(OUTLINE_LEN)) {
        (Some(&VERSION), Some(&FORM_WITHHELD)) => Some(&header_bytes[OUTLINE_LEN + 1..]),
        _ => None,
    }
}

/// The header as a node outside the audience receives it: the outline, then `sealed` (opaque to
/// it). A version 1 header cannot be withheld (its hash covers the body) and comes back whole.
pub fn withhold_body(header_bytes: &[u8], sealed: &[u8]) -> Vec<u8> {
    match header_bytes.first() {
        Some(&VERSION) if header_bytes.len() > OUTLINE_LEN => {
            let mut out = Vec::with_capacity(OUTLINE_LEN + 1 + sealed.len());
            out.extend_from_slice(&header_bytes[..OUTLINE_LEN]);
            out.push(FORM_WITHHELD);
            out.extend_from_slice(sealed);
            out
        }
        _ => header_bytes.to_vec(),
    }
}

/// The whole header again, from a withheld one and its body; `None` when the body is not the one
/// the outline commits to.
pub fn restore_body(withheld: &[u8], body: &[u8]) -> Option<Vec<u8>> {
    sealed_body(withheld)?;
    let mut out = Vec::with_capacity(OUTLINE_LEN + 1 + body.len());
    out.extend_from_slice(&withheld[..OUTLINE_LEN]);
    out.push(FORM_BODY);
    out.extend_from_slice(body);
    EventHeader::decode(&out).ok().map(|_| out)
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
            withheld_body: None,
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
    fn refuses_trailing_changed_and_truncated_bytes() {
        let mut bytes = sample().encode();
        bytes.push(0);
        assert_eq!(EventHeader::decode(&bytes), Err(DecodeError("body does not match its hash")));
        bytes.truncate(bytes.len() - 2);
        assert_eq!(EventHeader::decode(&bytes), Err(DecodeError("body does not match its hash")));
        let mut changed = sample().encode();
        *changed.last_mut().unwrap() ^= 1;
        assert_eq!(EventHeader::decode(&changed), Err(DecodeError("body does not match its hash")));
        assert_eq!(EventHeader::decode(&bytes[..OUTLINE_LEN - 1]), Err(DecodeError("truncated")));
        assert_eq!(EventHeader::decode(&[]), Err(DecodeError("truncated")));
    }

    #[test]
    fn the_hash_covers_the_outline_which_commits_to_the_body() {
        let whole = sample().encode();
        let outline = withhold_body(&whole, b"opaque");
        assert_eq!(header_hash(&outline), header_hash(&whole));
        let seen = EventHeader::decode(&outline).unwrap();
        assert!(seen.is_withheld());
        assert_eq!((seen.origin, seen.seq, seen.prev_hash), (sample().origin, sample().seq, sample().prev_hash));
        assert_eq!((seen.kind.as_str(), seen.stream.as_str(), seen.time_micros), ("", "", 0));
        assert_eq!(seen.audience, Audience::Local, "no audience is known: no payload goes anywhere from here");
        assert_eq!(restore_body(&outline, header_body(&whole).unwrap()).as_deref(), Some(&whole[..]));
        let mut other = sample();
        other.stream = "request/43".into();
        assert_eq!(restore_body(&outline, header_body(&other.encode()).unwrap()), None, "another body");
    }

    #[test]
    fn a_version_1_header_still_reads_and_hashes_over_all_its_bytes() {
        let h = sample();
        let mut v1 = vec![VERSION_1];
        v1.extend_from_slice(&h.origin.0);
        v1.extend_from_slice(&h.seq.to_be_bytes());
        v1.extend_from_slice(&h.prev_hash.0);
        v1.extend_from_slice(&h.encode_body());
        assert_eq!(EventHeader::decode(&v1).unwrap(), h);
        assert_eq!(header_hash(&v1), Hash(*blake3::hash(&v1).as_bytes()));
        assert_eq!(withhold_body(&v1, b"x"), v1, "its hash covers the body: it cannot be withheld");
        assert_eq!(header_body(&v1), None);
    }
}
