//! The service's error type and its one mapping to `tonic::Status`.

use samenspel_eventlog::{Error as LogError, FieldViolation};
use samenspel_status::{bad_request, log_status};
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request: {}", samenspel_eventlog::describe_violations(.0))]
    Invalid(Vec<FieldViolation>),
    #[error(transparent)]
    Log(LogError),
}

/// The log refuses a size or position the request named: that is the request's fault, and says
/// so as every other bad request does (not as a bad event).
impl From<LogError> for Error {
    fn from(e: LogError) -> Self {
        match e {
            LogError::Invalid(v) => Error::Invalid(v),
            other => Error::Log(other),
        }
    }
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        match e {
            Error::Invalid(v) => bad_request(message, &v),
            Error::Log(e) => log_status(e, message),
        }
    }
}
