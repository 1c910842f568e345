//! The service's error type and its one mapping to `tonic::Status`.

use std::collections::HashMap;

use samenspel_eventlog::{Error as LogError, FieldViolation};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// `google.rpc.ErrorInfo` domain of samenspel errors.
const DOMAIN: &str = "samenspel.v1";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field failed conversion before it reached the log.
    #[error("invalid request: {}", .0.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldViolation>),
    #[error(transparent)]
    Log(#[from] LogError),
}

fn bad_request(message: String, violations: &[FieldViolation]) -> Status {
    let violations: Vec<tonic_types::FieldViolation> =
        violations.iter().map(|v| tonic_types::FieldViolation::new(v.field.clone(), v.description.clone())).collect();
    Status::with_error_details(Code::InvalidArgument, message, ErrorDetails::with_bad_request(violations))
}

fn info(code: Code, message: String, reason: &str, metadata: Vec<(&str, String)>) -> Status {
    let metadata: HashMap<String, String> = metadata.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    Status::with_error_details(code, message, ErrorDetails::with_error_info(reason, DOMAIN, metadata))
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        match e {
            Error::Invalid(v) | Error::Log(LogError::Invalid(v)) => bad_request(message, &v),
            Error::Log(LogError::WrongExpectedVersion { stream, expected, actual }) => info(
                Code::Aborted,
                message,
                "WRONG_EXPECTED_VERSION",
                vec![("stream", stream), ("expected", expected.to_string()), ("actual", actual.to_string())],
            ),
            Error::Log(LogError::EventIdReused { event_id, seq }) => info(
                Code::AlreadyExists,
                message,
                "EVENT_ID_REUSED",
                vec![("event_id", event_id), ("seq", seq.to_string())],
            ),
            Error::Log(LogError::UnknownCause { origin, seq, .. }) => {
                let mut details = ErrorDetails::new();
                details.add_precondition_failure_violation("UNKNOWN_CAUSE", format!("{origin}:{seq}"), message.clone());
                Status::with_error_details(Code::FailedPrecondition, message, details)
            }
            Error::Log(LogError::Refused { .. }) => Status::invalid_argument(message),
            Error::Log(LogError::Fork { .. } | LogError::OriginForked { .. }) => Status::failed_precondition(message),
            Error::Log(LogError::NotFound { .. }) => Status::not_found(message),
            Error::Log(LogError::Closed) => Status::unavailable(message),
            Error::Log(LogError::Key(_) | LogError::Storage(_) | LogError::Corrupt(_) | LogError::Io(_)) => {
                tracing::error!(error = %message, "event log failure");
                Status::internal(message)
            }
        }
    }
}
