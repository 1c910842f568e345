//! The `samenspel.v1.Directory` gRPC service: the sociale kaart. Its state is a projection of
//! the node's event log; commands append events and wait until the projection has applied them.
//! Organisations and contact persons (the smoelenboek) for now; offers, search, freshness and
//! HSDS import/export follow.

mod config;
mod error;
mod events;
mod grpc;
mod model;
mod service;
mod state;

pub use config::DirectoryConfig;
pub use error::Error;
pub use grpc::DirectoryGrpc;
pub use model::{Address, ContactFields, ContactPerson, Organisation, OrganisationFields, OrganisationKind, Slot};
pub use samenspel_proto::v1::directory_server::DirectoryServer;
pub use service::DirectoryService;
