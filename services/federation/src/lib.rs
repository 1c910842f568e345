//! The `samenspel.v1.Federation` gRPC service and replication: nodes pull each other's signed
//! logs over mutual TLS whose certificates are bound to their node keys, store only what verifies,
//! send each payload only to the nodes in its audience, and a node restored from an old backup
//! takes its own lost events back from its peers before it appends; and peers witness each
//! other's tree heads (`witness.rs`); how it goes with each peer is kept for operators (`progress.rs`).

mod config;
mod error;
mod grpc;
mod peer;
mod progress;
mod replicator;
mod service;
mod tls;
mod witness;

pub use config::{FederationConfig, PeerConfig};
pub use error::Error;
pub use grpc::{FederationGrpc, PeerClient};
pub use peer::Peer;
pub use progress::{PeerProgress, Progress};
pub use replicator::{Replicator, restore_own_head};
pub use samenspel_proto::v1::federation_server::FederationServer;
pub use service::{FederationService, Pulled, for_caller, may_see};
pub use tls::{NodeTls, node_id_of};
pub use witness::{EQUIVOCATION_KIND, EQUIVOCATION_STREAM, Taken, WITNESS_SNAPSHOT, Witness};
