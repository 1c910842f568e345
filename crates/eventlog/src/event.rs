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
