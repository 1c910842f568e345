//! The Intake service's error type and its one mapping to `tonic::Status`.

use std::collections::HashMap;

use samenspel_eventlog::{Error as LogError, FieldViolation};
use samenspel_status::{DOMAIN, bad_request, log_status, not_found, precondition, version_conflict};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::state::RequestStatus;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request: {}", samenspel_eventlog::describe_violations(.0))]
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
    #[error("intake settings: {0}")]
    Config(String),
    #[error(transparent)]
    Log(#[from] LogError),
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        match e {
            Error::Invalid(v) => bad_request(message, &v),
            Error::Config(_) => Status::failed_precondition(message),
            Error::NotFound { id } => not_found("help request", id, message),
            Error::WrongState { id, state, action } => {
                // Both details: the precondition for any client, the state as metadata for ours.
                let mut details = ErrorDetails::new();
                details.add_precondition_failure_violation("STATE", format!("help_request/{id}"), message.clone());
                let metadata: HashMap<String, String> =
                    [("state".to_string(), state.to_string()), ("action".to_string(), action.to_string())].into();
                details.set_error_info("WRONG_STATE", DOMAIN, metadata);
                Status::with_error_details(Code::FailedPrecondition, message, details)
            }
            Error::NotShareable { id, .. } => precondition("CONSENT", format!("help_request/{id}"), message),
            Error::VersionConflict { id, expected, actual } => version_conflict(message, id, expected, actual),
            Error::RequestIdReused { .. } => Status::already_exists(message),
            Error::Log(e) => log_status(e, message),
        }
    }
}
