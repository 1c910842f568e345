//! The samenspel node: opens the event log and serves every service on one gRPC port.
//! The `samenspel` binary wraps this; tests start nodes in-process through [`run`].

pub mod config;
mod error;
mod report;
mod server;

pub use config::{NodeConfig, StoreKind};
pub use error::{Error, Result};
pub use report::{render as render_report, verify_data_dir};
pub use server::{Listeners, open_log, run, run_with_clock, serve};
