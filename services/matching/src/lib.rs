//! The `samenspel.v1.Matching` gRPC service: explained proposals of offers for requests for help,
//! the safety rule for complex requests, a coordinator's confirmation, the receiving organisation's
//! answer, and a resumable stream of matches per organisation. It reads the directory's and the
//! intake's events from the node's log and appends its own.

mod assign;
mod config;
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
