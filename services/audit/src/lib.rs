//! The `samenspel.v1.Audit` gRPC service: the access log (NEN 7513) as an auditor reads it —
//! records paged by subject, organisation, credential and time range — and its retention, which
//! redacts records older than the configured period. The records themselves are written by the
//! node's edge (`samenspel_kit::AccessLog`); this service only reads and expires them.

mod config;
mod error;
mod fhir;
mod grpc;
mod proofs;
mod service;
mod timeline;

pub use config::AccessConfig;
pub use error::Error;
pub use grpc::AuditGrpc;
pub use proofs::{Consistency, Evidence, Inclusion, Proofs, ReplicaComparison, ReplicaOutcome};
pub use samenspel_proto::v1::audit_server::AuditServer;
pub use service::{AccessFilter, AuditService, Entry};
pub use timeline::{PersonalData, Step, Timeline};
