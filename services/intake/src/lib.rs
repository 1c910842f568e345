//! The `samenspel.v1.Intake` gRPC service: requests for help (hulpvragen), need-first, with the
//! people involved, caregiver strain and consent. Its state is a projection of the node's event
//! log; the lifecycle of a request belongs to this node, and personal data is only in payloads.

mod config;
mod decide;
mod duplicates;
mod error;
mod events;
mod fhir;
mod fingerprint;
mod grpc;
mod inputs;
mod model;
mod reactions;
mod service;
mod state;

pub use config::{DuplicateKeyConfig, IntakeConfig};
pub use error::Error;
pub use fhir::SourceIdentifier;
pub use fingerprint::{Fingerprint, FingerprintKey, Strength, fingerprints};
pub use grpc::IntakeGrpc;
pub use model::{
    Asker, Consent, ConsentScope, InvolvedRole, MantelzorgerRole, Person, Purpose, RawComplexity, RawConsent,
    RawInvolved, RawPerson, RawRequest, RawStrain, RequestFields, Urgency,
};
pub use samenspel_proto::v1::intake_server::IntakeServer;
pub use service::{Change, IntakeService, Submission, Summary};
pub use state::{HelpRequest, ListFilter, RequestStatus};

/// The read model built from `events` in the order given, as JSON with sorted maps: for tests
/// that replay one store in several causal orders and check that each gives the same state.
#[doc(hidden)]
pub fn replay_read_model(
    own: samenspel_eventlog::NodeId,
    events: &[std::sync::Arc<samenspel_eventlog::StoredEvent>],
) -> serde_json::Value {
    samenspel_kit::replay_json::<state::IntakeState>(own, events)
}
