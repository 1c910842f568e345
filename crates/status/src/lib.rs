//! The statuses samenspel's services answer with, each carrying `google.rpc` details a client can
//! act on. Every service keeps its own `impl From<Error> for Status` with one `match`; these build
//! the statuses its arms return, so the same failure looks the same from every service — the
//! event log's errors above all, which every service maps with [`log_status`].

use std::collections::HashMap;

use samenspel_eventlog::{Error as LogError, FieldViolation};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// `google.rpc.ErrorInfo` domain of samenspel errors.
pub const DOMAIN: &str = "samenspel.v1";

/// `INVALID_ARGUMENT` with a `BadRequest` naming every bad field.
pub fn bad_request(message: String, violations: &[FieldViolation]) -> Status {
    let violations: Vec<tonic_types::FieldViolation> =
        violations.iter().map(|v| tonic_types::FieldViolation::new(v.field.clone(), v.description.clone())).collect();
    Status::with_error_details(Code::InvalidArgument, message, ErrorDetails::with_bad_request(violations))
}

/// `code` with an `ErrorInfo` of `reason` and `metadata`.
pub fn error_info(code: Code, message: String, reason: &str, metadata: Vec<(&str, String)>) -> Status {
    let metadata: HashMap<String, String> = metadata.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    Status::with_error_details(code, message, ErrorDetails::with_error_info(reason, DOMAIN, metadata))
}

/// `ABORTED`: the entity `id` is at another version than the caller expected.
pub fn version_conflict(message: String, id: String, expected: u64, actual: u64) -> Status {
    let metadata = vec![("id", id), ("expected", expected.to_string()), ("actual", actual.to_string())];
    error_info(Code::Aborted, message, "WRONG_EXPECTED_VERSION", metadata)
}

/// `FAILED_PRECONDITION` with a `PreconditionFailure` of `kind` about `subject`.
pub fn precondition(kind: &str, subject: String, message: String) -> Status {
    let mut details = ErrorDetails::new();
    details.add_precondition_failure_violation(kind, subject, message.clone());
    Status::with_error_details(Code::FailedPrecondition, message, details)
}

/// `NOT_FOUND` with a `ResourceInfo` naming what was looked for.
pub fn not_found(what: &str, id: String, message: String) -> Status {
    let details = ErrorDetails::with_resource_info(what, id, "", message.clone());
    Status::with_error_details(Code::NotFound, message, details)
}

/// The status of an event-log error, as every service answers it (`message` is what the caller
/// reads: the service's own wording of the error). A failure of the store itself is logged here.
pub fn log_status(e: LogError, message: String) -> Status {
    match e {
        LogError::Invalid(v) => bad_request(message, &v),
        LogError::WrongExpectedVersion { stream, expected, actual } => error_info(
            Code::Aborted,
            message,
            "WRONG_EXPECTED_VERSION",
            vec![("stream", stream), ("expected", expected.to_string()), ("actual", actual.to_string())],
        ),
        LogError::EventIdReused { event_id, seq } => error_info(
            Code::AlreadyExists,
            message,
            "EVENT_ID_REUSED",
            vec![("event_id", event_id), ("seq", seq.to_string())],
        ),
        LogError::UnknownCause { origin, seq, .. } => precondition("UNKNOWN_CAUSE", format!("{origin}:{seq}"), message),
        LogError::Refused { .. } => Status::invalid_argument(message),
        LogError::Fork { .. } | LogError::OriginForked { .. } => Status::failed_precondition(message),
        LogError::NotFound { .. } => Status::not_found(message),
        LogError::Closed => Status::unavailable(message),
        LogError::Key(_) | LogError::Storage(_) | LogError::Corrupt(_) | LogError::Io(_) => {
            tracing::error!(error = %message, "event log failure");
            Status::internal(message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_survive_the_round_trip() {
        let s = bad_request("bad".into(), &[FieldViolation::new("fields.name", "must not be empty")]);
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(s.get_details_bad_request().unwrap().field_violations[0].field, "fields.name");
        let s = version_conflict("old".into(), "x".into(), 1, 2);
        assert_eq!((s.code(), s.get_details_error_info().unwrap().metadata["actual"].as_str()), (Code::Aborted, "2"));
        let s = precondition("STATE", "request/x".into(), "closed".into());
        assert_eq!(s.get_details_precondition_failure().unwrap().violations[0].r#type, "STATE");
        assert_eq!(
            not_found("offer", "x".into(), "no offer".into()).get_details_resource_info().unwrap().resource_name,
            "x"
        );
        let conflict = LogError::WrongExpectedVersion { stream: "s".into(), expected: 1, actual: 2 };
        let s = log_status(conflict, "conflict".into());
        assert_eq!(
            (s.code(), s.get_details_error_info().unwrap().reason.as_str()),
            (Code::Aborted, "WRONG_EXPECTED_VERSION")
        );
        let reused = log_status(LogError::EventIdReused { event_id: "e".into(), seq: 3 }, "reused".into());
        assert_eq!(reused.code(), Code::AlreadyExists);
        assert_eq!(log_status(LogError::Closed, "closed".into()).code(), Code::Unavailable);
        assert_eq!(log_status(LogError::Storage("disk".into()), "disk".into()).code(), Code::Internal);
    }
}
