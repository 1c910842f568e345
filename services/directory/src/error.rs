//! The Directory service's error type and its one mapping to `tonic::Status`.

use samenspel_eventlog::{Error as LogError, FieldViolation};
use samenspel_status::{bad_request, log_status, not_found, precondition, version_conflict};
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request: {}", samenspel_eventlog::describe_violations(.0))]
    Invalid(Vec<FieldViolation>),
    #[error("no {what} {id:?}")]
    NotFound { what: &'static str, id: String },
    #[error("{what} {id:?} is archived")]
    Archived { what: &'static str, id: String },
    #[error("{id:?} is at version {actual}, not {expected}")]
    VersionConflict { id: String, expected: u64, actual: u64 },
    #[error("request id {request_id:?} was used before for another request")]
    RequestIdReused { request_id: String },
    #[error("{id:?} is hosted by node {host}: it is changed there")]
    HostedElsewhere { id: String, host: String },
    #[error(transparent)]
    Log(#[from] LogError),
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        match e {
            Error::Invalid(v) => bad_request(message, &v),
            Error::NotFound { what, id } => not_found(what, id, message),
            Error::Archived { what, id } => precondition("ARCHIVED", format!("{what}/{id}"), message),
            Error::VersionConflict { id, expected, actual } => version_conflict(message, id, expected, actual),
            Error::RequestIdReused { .. } => Status::already_exists(message),
            Error::HostedElsewhere { id, .. } => precondition("HOSTED_ELSEWHERE", format!("entry/{id}"), message),
            Error::Log(e) => log_status(e, message),
        }
    }
}
