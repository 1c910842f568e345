//! The service's error type and its one mapping to `tonic::Status`.

use samenspel_eventlog::{Error as LogError, FieldViolation};
use samenspel_status::{bad_request, log_status};
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request: {}", samenspel_eventlog::describe_violations(.0))]
    Invalid(Vec<FieldViolation>),
    #[error("no request {id} was taken in on this node")]
    RequestNotFound { id: String },
    #[error("request {request_id} has no match {match_id} on this node")]
    MatchNotFound { request_id: String, match_id: String },
    #[error(transparent)]
    Log(#[from] LogError),
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        match e {
            Error::Invalid(v) => bad_request(message, &v),
            Error::RequestNotFound { .. } | Error::MatchNotFound { .. } => Status::not_found(message),
            Error::Log(e) => log_status(e, message),
        }
    }
}
