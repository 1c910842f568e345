//! The `samenspel.v1.EventLog` gRPC service: append to the node's own log, read any stored log,
//! subscribe to one. A thin edge over [`samenspel_eventlog::EventLog`]: it converts protobuf to
//! domain types, clamps pages, and maps errors to gRPC statuses in one place.

mod config;
mod error;
mod grpc;
mod service;

pub use config::LogServiceConfig;
pub use error::Error;
pub use grpc::EventLogGrpc;
pub use samenspel_proto::v1::event_log_server::EventLogServer;
pub use service::LogService;
