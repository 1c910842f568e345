//! The FollowUp service's error type and its one mapping to `tonic::Status`.

use samenspel_eventlog::{Error as LogError, FieldViolation};
use samenspel_status::{bad_request, log_status, not_found, precondition};
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request: {}", samenspel_eventlog::describe_violations(.0))]
    Invalid(Vec<FieldViolation>),
    #[error("no {what} {id:?}")]
    NotFound { what: &'static str, id: String },
    #[error("no check-in {id:?} to record an answer for")]
    UnknownCheckIn { id: String },
    #[error("check-in {id:?} is {state}: it takes no answer")]
    CheckInClosed { id: String, state: &'static str },
    #[error("referral {id:?} is {state}: {action}")]
    NotActive { id: String, state: &'static str, action: &'static str },
    #[error("referral {match_id:?} is observed on the node hosting its offer ({node}), not here")]
    ObserveElsewhere { match_id: String, node: String },
    #[error("follow-up settings: {}", .0.join("; "))]
    Config(Vec<String>),
    #[error(transparent)]
    Log(#[from] LogError),
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        match e {
            Error::Invalid(v) => bad_request(message, &v),
            Error::NotFound { what, id } => not_found(what, id, message),
            Error::UnknownCheckIn { id } => precondition("UNKNOWN_CHECK_IN", format!("check_in/{id}"), message),
            Error::CheckInClosed { id, .. } => precondition("CHECK_IN_CLOSED", format!("check_in/{id}"), message),
            Error::NotActive { id, .. } => precondition("REFERRAL_NOT_ACTIVE", format!("referral/{id}"), message),
            Error::ObserveElsewhere { match_id, .. } => {
                precondition("OBSERVE_ELSEWHERE", format!("referral/{match_id}"), message)
            }
            Error::Config(_) => {
                tracing::error!(error = %message, "follow-up failure");
                Status::internal(message)
            }
            Error::Log(e) => log_status(e, message),
        }
    }
}
