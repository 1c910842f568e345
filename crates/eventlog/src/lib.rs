//! The append-only, signed, hash-chained event log of a samenspel node.
//!
//! Each node appends only to its own origin log; events of other origins are stored beside it
//! after their chain and signatures verify. Services talk to each other only through this log.
//! This is the only crate that touches sled. See `ARCHITECTURE.md` for the invariants.

mod api;
mod causal;
mod codec;
mod config;
mod error;
mod event;
mod header;
mod identity;
mod ids;
mod ingest;
mod local;
mod outline;
mod recent;
mod recover;
mod shared;
mod store;
mod stream_index;
mod tree;
mod validate;
mod verify;
mod writer;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use api::{EventLog, EventMap, SubscribeFrom, Subscription};
pub use config::LogConfig;
pub use error::{Error, FieldViolation, Result, describe_violations};
pub use event::{
    Appended, Checkpoint, ExpectedVersion, ForkEvidence, Head, IngestOutcome, NewEvent, Payload, PersonalPart,
    RemoteEvent, Snapshot, StoredEvent, splice,
};
pub use header::{
    Audience, DecodeError, EventHeader, EventRef, MAX_EVENT_ID_LEN, MAX_KIND_LEN, MAX_STREAM_LEN, OUTLINE_LEN,
    header_body, header_hash, payload_hash, sealed_body, withhold_body,
};
pub use identity::{NodeKey, verify_checkpoint, write_private_file};
pub use ids::{Hash, NodeId};
pub use local::{LocalLog, LogStats};
pub use outline::{outline_for_outsider, whole_header};
pub use samenspel_merkle::{Cosignature, Digest, SignedTreeHead, TreeHead};
pub use verify::{OriginSummary, Problem, ProblemKind, UnsignedTail, VerifyProgress, VerifyReport};
