//! What goes into the log (`NewEvent`) and what comes out of it (`StoredEvent`).

use crate::header::{Audience, EventHeader, EventRef};
use crate::ids::{Hash, NodeId};

/// What a stream's version must be for an append to go through (optimistic concurrency).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExpectedVersion {
    /// No check.
    #[default]
    Any,
    /// The stream must have exactly this many events; 0 means it must not exist yet.
    Exact(u64),
}

/// An event as a client hands it to its own node's log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewEvent {
    pub stream: String,
    pub kind: String,
    pub payload: Vec<u8>,
    pub expected_version: ExpectedVersion,
    /// Client-chosen idempotency id; a retry with the same id returns the original position.
    pub event_id: Option<String>,
    pub audience: Audience,
    pub causes: Vec<EventRef>,
    pub trace: Option<String>,
    /// The payload's personal values, kept beside it for a sealing layer above the log to seal
    /// (each in `payload` as an empty value of its shape); a log with none above it writes them
    /// back in place ([`NewEvent::in_place`]).
    pub personal: Vec<PersonalPart>,
}

/// One data subject's values in a payload: where each belongs (a byte range of the payload,
/// holding an empty value of its shape) and its JSON text.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct PersonalPart {
    pub subject: String,
    /// Ranges of `payload`, ascending, one per value.
    pub at: Vec<(u32, u32)>,
    pub values: Vec<Vec<u8>>,
}

impl std::fmt::Debug for PersonalPart {
    // Personal data: never printed; the pseudonymous subject id and the places are not.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonalPart").field("subject", &self.subject).field("at", &self.at).finish_non_exhaustive()
    }
}

/// `payload` with `values` put in their ranges (`(start, end, value)`, in any order; ranges that
/// do not fit the payload are left as they are).
pub fn splice(payload: &[u8], values: &mut [((u32, u32), &[u8])]) -> Vec<u8> {
    values.sort_by_key(|((start, _), _)| *start);
    let extra: usize = values.iter().map(|(_, v)| v.len()).sum();
    let mut out = Vec::with_capacity(payload.len() + extra);
    let mut from = 0usize;
    for ((start, end), value) in values.iter() {
        let (start, end) = (*start as usize, *end as usize);
        if start < from || end < start || end > payload.len() {
            continue;
        }
        out.extend_from_slice(&payload[from..start]);
        out.extend_from_slice(value);
        from = end;
    }
    out.extend_from_slice(&payload[from..]);
    out
}

impl NewEvent {
    pub fn new(stream: impl Into<String>, kind: impl Into<String>, payload: impl Into<Vec<u8>>) -> Self {
        Self { stream: stream.into(), kind: kind.into(), payload: payload.into(), ..Default::default() }
    }

    pub fn expect(mut self, version: ExpectedVersion) -> Self {
        self.expected_version = version;
        self
    }

    pub fn with_id(mut self, event_id: impl Into<String>) -> Self {
        self.event_id = Some(event_id.into());
        self
    }

    pub fn with_audience(mut self, audience: Audience) -> Self {
        self.audience = audience;
        self
    }

    pub fn with_causes(mut self, causes: Vec<EventRef>) -> Self {
        self.causes = causes;
        self
    }

    pub fn with_personal(mut self, personal: Vec<PersonalPart>) -> Self {
        self.personal = personal;
        self
    }

    /// The event with its personal values back in its payload, as a log with no sealing layer
    /// above it stores them (a service's own tests; a node always seals).
    pub fn in_place(mut self) -> Self {
        if self.personal.is_empty() {
            return self;
        }
        let personal = std::mem::take(&mut self.personal);
        let mut values: Vec<((u32, u32), &[u8])> =
            personal.iter().flat_map(|p| p.at.iter().copied().zip(p.values.iter().map(Vec::as_slice))).collect();
        self.payload = splice(&self.payload, &mut values);
        self
    }
}

/// Where an appended event landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub seq: u64,
    pub stream_seq: u64,
    pub hash: Hash,
    /// True when this was a retry of an event id that was already appended.
    pub duplicate: bool,
}

/// A payload with the salt that its header's `payload_hash` commits to.
#[derive(Clone, PartialEq, Eq)]
pub struct Payload {
    pub salt: [u8; 32],
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Payload {
    // Payloads may hold personal data: never print them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Payload({} bytes)", self.data.len())
    }
}

/// The origin's signature over its log head at `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: NodeId,
    pub seq: u64,
    pub head_hash: Hash,
    pub signature: [u8; 64],
}

/// An event as stored: the exact header bytes, its decoded view, the payload unless it was
/// redacted or withheld, and the checkpoint when one was signed at this position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub header_bytes: Vec<u8>,
    pub header: EventHeader,
    pub hash: Hash,
    pub payload: Option<Payload>,
    pub checkpoint: Option<Checkpoint>,
}

/// An event received from another node, as it travels: nothing in it is trusted until verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEvent {
    pub header_bytes: Vec<u8>,
    pub payload: Option<Payload>,
    pub checkpoint: Option<Checkpoint>,
}

impl From<StoredEvent> for RemoteEvent {
    fn from(e: StoredEvent) -> Self {
        RemoteEvent { header_bytes: e.header_bytes, payload: e.payload, checkpoint: e.checkpoint }
    }
}

/// The durable head of one origin's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Head {
    pub seq: u64,
    pub hash: Hash,
}

/// What an ingest stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IngestOutcome {
    /// Events stored by this call.
    pub stored: u64,
    /// Events that were already present with identical bytes.
    pub duplicates: u64,
    /// Trailing events not covered by a checkpoint in the batch; send them again with one.
    pub uncovered: u64,
    /// The origin's durable head after the call.
    pub head: Head,
}

/// Proof that an origin signed two different events at one position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForkEvidence {
    pub origin: NodeId,
    pub seq: u64,
    /// The header this node had stored at `seq`.
    pub ours: Vec<u8>,
    /// The other header at `seq` and the headers after it up to `checkpoint`.
    pub theirs: Vec<Vec<u8>>,
    /// The origin's signature over the head of `theirs`.
    pub checkpoint: Checkpoint,
}

/// A read model's saved state and the log position, per origin, that it includes.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// For each origin, the last seq the state includes.
    pub positions: Vec<(NodeId, u64)>,
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Snapshot {
    // Read models may hold personal data: never print the state.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").field("positions", &self.positions).field("bytes", &self.data.len()).finish()
    }
}
