//! The event log's error type.

use crate::ids::NodeId;

/// One invalid field of an event, named by its path (`events[2].kind`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self { field: field.into(), description: description.into() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid event: {}", describe_violations(.0))]
    Invalid(Vec<FieldViolation>),
    #[error("wrong expected version for stream {stream:?}: expected {expected}, stream is at {actual}")]
    WrongExpectedVersion { stream: String, expected: u64, actual: u64 },
    #[error("event id {event_id:?} was already used for a different event at seq {seq}")]
    EventIdReused { event_id: String, seq: u64 },
    #[error("cause {origin}:{seq} is not in this log{}", if *.hash_mismatch { " with that hash" } else { "" })]
    UnknownCause { origin: NodeId, seq: u64, hash_mismatch: bool },
    #[error("refused event {origin}:{seq} from a peer: {reason}")]
    Refused { origin: NodeId, seq: u64, reason: String },
    #[error("fork of origin {origin} at seq {seq}: two different signed events; evidence stored")]
    Fork { origin: NodeId, seq: u64 },
    #[error("origin {origin} forked at seq {seq}; its events are no longer accepted")]
    OriginForked { origin: NodeId, seq: u64 },
    #[error("no event {origin}:{seq}")]
    NotFound { origin: NodeId, seq: u64 },
    #[error("node key: {0}")]
    Key(String),
    #[error("storage: {0}")]
    Storage(String),
    #[error("the store is damaged: {0}")]
    Corrupt(String),
    #[error("the log is closed")]
    Closed,
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// The longest a one-line description of violations grows before the rest are only counted:
/// every violation is in a status's details, and a status must stay small enough to read.
const MAX_DESCRIPTION: usize = 2048;

/// Violations in one line, for error messages: "field: why; field: why"; past a couple of
/// kilobytes, "…; and 12 more (each in the details)".
pub fn describe_violations(violations: &[FieldViolation]) -> String {
    let mut out = String::new();
    for (i, v) in violations.iter().enumerate() {
        let part = format!("{}: {}", v.field, v.description);
        if !out.is_empty() && out.len() + part.len() > MAX_DESCRIPTION {
            out += &format!("; and {} more (each in the details)", violations.len() - i);
            return out;
        }
        if !out.is_empty() {
            out += "; ";
        }
        out += &part;
    }
    out
}

impl From<sled::Error> for Error {
    fn from(e: sled::Error) -> Self {
        Error::Storage(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
