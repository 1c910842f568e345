//! The `samenspel.v1.Directory` gRPC service: the sociale kaart. Its state is a projection of
//! the node's event log; commands append events and wait until the projection has applied them.
//! Organisations, contact persons (the smoelenboek), offers with indexed search, freshness and a
//! Watch stream of changes; import and export in Open Referral HSDS 3 JSON.

mod config;
mod decide;
mod dropped;
mod error;
mod events;
mod grpc;
mod hsds;
mod import;
mod model;
mod offer;
mod search;
mod service;
mod state;

pub use config::DirectoryConfig;
pub use error::Error;
pub use grpc::DirectoryGrpc;
pub use import::{ImportCounts, ImportOptions, ImportProgress, ImportReport, Rejection};
pub use model::{
    Address, ContactFields, ContactPerson, Organisation, OrganisationFields, OrganisationKind, RawContact, RawFields,
    Slot,
};
pub use offer::{MaxComplexity, Offer, OfferFields, RawOffer, ServiceArea, TargetGroup};
pub use samenspel_proto::v1::directory_server::DirectoryServer;
pub use search::Hit;
pub use service::{Change, DirectoryService, Entry, SearchCriteria};

/// The read model built from `events` in the order given, as JSON with sorted maps: for tests
/// that replay one store in several causal orders and check that each gives the same state.
#[doc(hidden)]
pub fn replay_read_model(
    own: samenspel_eventlog::NodeId,
    events: &[std::sync::Arc<samenspel_eventlog::StoredEvent>],
) -> serde_json::Value {
    samenspel_kit::replay_json::<state::DirectoryState>(own, events)
}
