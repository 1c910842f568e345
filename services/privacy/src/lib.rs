//! The `samenspel.v1.Privacy` gRPC service (BRIEF rule 7): a subject this node took in is erased
//! by destroying its key in the key store, so every stored copy of its sealed personal data — in
//! the log, snapshots, replicas and backups — is unreadable at once; a signed, PII-free
//! `privacy.subject.erased` tells every node the key went to, and each destroys its copy and
//! confirms. A retention sweeper erases the subjects of requests ended longer ago than configured.

mod config;
mod decide;
mod error;
mod events;
mod grpc;
mod reactions;
mod service;
mod state;

pub use config::PrivacyConfig;
pub use error::Error;
pub use events::{ERASED, Reason};
pub use grpc::PrivacyGrpc;
pub use samenspel_proto::v1::privacy_server::PrivacyServer;
pub use service::{PrivacyService, erase_again};
pub use state::ErasureView;
