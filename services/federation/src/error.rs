//! The Federation service's error type and its one mapping to `tonic::Status`.

use samenspel_eventlog::{Error as LogError, FieldViolation};
use samenspel_status::{bad_request, log_status};
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request: {}", samenspel_eventlog::describe_violations(.0))]
    Invalid(Vec<FieldViolation>),
    #[error("the caller presented no certificate of a known peer")]
    UnknownPeer,
    #[error("federation settings: {0}")]
    Config(String),
    #[error("tls: {0}")]
    Tls(String),
    #[error("peer {peer}: {why}")]
    Peer { peer: String, why: String },
    #[error("key store: {0}")]
    Keys(String),
    #[error("witness: {0}")]
    Witness(String),
    #[error(transparent)]
    Log(#[from] LogError),
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        match e {
            Error::Invalid(v) => bad_request(message, &v),
            Error::UnknownPeer => Status::unauthenticated(message),
            Error::Config(_) | Error::Tls(_) | Error::Peer { .. } | Error::Keys(_) | Error::Witness(_) => {
                tracing::error!(error = %message, "federation failure");
                Status::internal(message)
            }
            Error::Log(e) => log_status(e, message),
        }
    }
}
