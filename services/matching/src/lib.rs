//! The `samenspel.v1.Matching` gRPC service: explained proposals of offers for requests for help,
//! the safety rule for complex requests, a coordinator's confirmation, the receiving organisation's
//! answer, and a resumable stream of matches per organisation. It reads the directory's and the
//! intake's events from the node's log and appends its own.

mod assign;
mod config;
mod decide;
mod error;
mod events;
mod grpc;
mod inputs;
mod model;
mod reactions;
mod scoring;
mod screen;
mod service;
mod state;
mod table;

pub use config::MatchingConfig;
pub use error::Error;
pub use grpc::MatchingGrpc;
pub use model::{Factor, Match, MatchStatus};
pub use samenspel_proto::v1::matching_server::MatchingServer;
pub use service::{Backlog, MatchChange, MatchingService, Proposal, Proposals};

/// The read model built from `events` in the order given, as JSON with sorted maps: for tests
/// that replay one store in several causal orders and check that each gives the same state.
#[doc(hidden)]
pub fn replay_read_model(
    own: samenspel_eventlog::NodeId,
    events: &[std::sync::Arc<samenspel_eventlog::StoredEvent>],
) -> serde_json::Value {
    samenspel_kit::replay_json::<state::MatchingState>(own, events)
}
