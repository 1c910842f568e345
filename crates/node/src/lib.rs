//! The samenspel node: opens the event log and serves every service on one gRPC port. The
//! `samenspel` binary (its CLI) wraps this library; tests start nodes in-process through [`run`].

pub mod authn;
pub mod backup;
pub mod config;
pub mod credentials;
mod edge;
mod error;
pub mod metrics;
mod server;
pub mod status;
pub mod telemetry;
mod tls;
pub mod tokens;
mod verify;

pub use config::{ApiClientConfig, ApiConfig, NodeConfig, StoreKind};
pub use error::{Error, Result};
pub use server::{Listeners, open_log, run, run_with_clock, serve};
pub use tokens::IdentityProviderConfig;
pub use verify::{verify_data_dir, verify_data_dir_with};
