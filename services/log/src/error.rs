//! The service's error type and its one mapping to `tonic::Status`.

use samenspel_eventlog::{Error as LogError, FieldViolation};
use samenspel_status::{bad_request, error_info as info, precondition};
use tonic::{Code, Status};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field failed conversion before it reached the log.
    #[error("invalid request: {}", samenspel_eventlog::describe_violations(.0))]
    Invalid(Vec<FieldViolation>),
    #[error(transparent)]
    Log(#[from] LogError),
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
                precondition("UNKNOWN_CAUSE", format!("{origin}:{seq}"), message)
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
