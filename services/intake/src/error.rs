//! The Intake service's error type and its one mapping to `tonic::Status`.

use std::collections::HashMap;

use samenspel_eventlog::{Error as LogError, FieldViolation};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::state::RequestStatus;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request: {}", .0.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldViolation>),
    #[error("no help request {id:?}")]
    NotFound { id: String },
    #[error("help request {id:?} is {state}; it cannot be {action}")]
    WrongState { id: String, state: RequestStatus, action: &'static str },
    #[error("help request {id:?} may not be shared with {who} for {purpose}: {why}")]
    NotShareable { id: String, who: String, purpose: String, why: &'static str },
    #[error("help request {id:?} is at version {actual}, not {expected}")]
    VersionConflict { id: String, expected: u64, actual: u64 },
    #[error("request id {request_id:?} was used before for another request")]
    RequestIdReused { request_id: String },
    #[error(transparent)]
    Log(#[from] LogError),
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        match e {
            Error::Invalid(v) | Error::Log(LogError::Invalid(v)) => {
                let violations: Vec<tonic_types::FieldViolation> = v
                    .iter()
                    .map(|v| tonic_types::FieldViolation::new(v.field.clone(), v.description.clone()))
                    .collect();
                Status::with_error_details(Code::InvalidArgument, message, ErrorDetails::with_bad_request(violations))
            }
            Error::NotFound { id } => {
                let details = ErrorDetails::with_resource_info("help request", id, "", message.clone());
                Status::with_error_details(Code::NotFound, message, details)
            }
            Error::WrongState { id, state, action } => {
                let mut details = ErrorDetails::new();
                details.add_precondition_failure_violation("STATE", format!("help_request/{id}"), message.clone());
                let metadata: HashMap<String, String> =
                    [("state".to_string(), state.to_string()), ("action".to_string(), action.to_string())].into();
                details.set_error_info("WRONG_STATE", "samenspel.v1", metadata);
                Status::with_error_details(Code::FailedPrecondition, message, details)
            }
            Error::NotShareable { id, .. } => {
                let mut details = ErrorDetails::new();
                details.add_precondition_failure_violation("CONSENT", format!("help_request/{id}"), message.clone());
                Status::with_error_details(Code::FailedPrecondition, message, details)
            }
            Error::VersionConflict { id, expected, actual } => {
                let metadata: HashMap<String, String> = [
                    ("id".to_string(), id),
                    ("expected".to_string(), expected.to_string()),
                    ("actual".to_string(), actual.to_string()),
                ]
                .into();
                let details = ErrorDetails::with_error_info("WRONG_EXPECTED_VERSION", "samenspel.v1", metadata);
                Status::with_error_details(Code::Aborted, message, details)
            }
            Error::RequestIdReused { .. } => Status::already_exists(message),
            Error::Log(LogError::Closed) => Status::unavailable(message),
            Error::Log(_) => {
                tracing::error!(error = %message, "intake failure");
                Status::internal(message)
            }
        }
    }
}
