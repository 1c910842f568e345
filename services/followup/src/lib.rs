//! The `samenspel.v1.FollowUp` gRPC service: the closed loop of a warm referral. When a match is
//! accepted it schedules check-ins from a plan, owned by the referring organisation; it announces
//! what is due, overdue and escalated; an answer that says the help is not going well or stopped
//! sends the request back to matching; a referral is closed with an outcome category. The
//! cooperation monitor evaluates referrals per organisation and pair, and shows where demand
//! outruns the offers. State is a projection of the node's event log; time comes from a clock.

mod config;
mod coverage;
mod decide;
mod error;
mod evaluation;
mod events;
mod grpc;
mod inputs;
mod model;
mod reactions;
mod service;
mod state;

pub use config::{FollowUpConfig, PlanStep};
pub use error::Error;
pub use grpc::FollowUpGrpc;
pub use model::{
    Answer, CheckIn, CheckInState, ClosureCategory, OpenCheckIns, Outcome, Referral, ReferralState, Respondent,
};
pub use samenspel_proto::v1::follow_up_server::FollowUpServer;
pub use service::FollowUpService;

/// The read model built from `events` in the order given, as JSON with sorted maps: for tests
/// that replay one store in several causal orders and check that each gives the same state.
#[doc(hidden)]
pub fn replay_read_model(
    own: samenspel_eventlog::NodeId,
    events: &[std::sync::Arc<samenspel_eventlog::StoredEvent>],
) -> serde_json::Value {
    samenspel_kit::replay_json::<state::FollowUpState>(own, events)
}
