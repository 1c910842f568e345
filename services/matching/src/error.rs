//! The Matching service's error type and its one mapping to `tonic::Status`.

use samenspel_eventlog::{Error as LogError, FieldViolation};
use samenspel_status::{bad_request, error_info, log_status, not_found, precondition};
use tonic::{Code, Status};

use crate::model::MatchStatus;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request: {}", samenspel_eventlog::describe_violations(.0))]
    Invalid(Vec<FieldViolation>),
    #[error("no {what} {id:?}")]
    NotFound { what: &'static str, id: String },
    #[error("request {id:?} is not open for a match: {why}")]
    NotOpen { id: String, why: String },
    #[error(
        "the proposal for request {request_id:?} is stale: the request, the offer or its load changed; get proposals again"
    )]
    StaleProposal { request_id: String },
    #[error("offer {offer_id:?} cannot take this request: {why}")]
    Unsuitable { field: &'static str, offer_id: String, why: String },
    #[error("match {match_id:?} is not addressed to organisation {organisation_id:?}")]
    NotAddressed { match_id: String, organisation_id: String },
    #[error("match {match_id:?} was answered already: {status:?}")]
    Answered { match_id: String, status: MatchStatus },
    #[error("match {match_id:?} is answered on the node that hosts the organisation ({node})")]
    AnswerElsewhere { match_id: String, node: String },
    #[error(transparent)]
    Log(#[from] LogError),
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        match e {
            Error::Invalid(v) => bad_request(message, &v),
            Error::NotFound { what, id } => not_found(what, id, message),
            Error::NotOpen { id, .. } => precondition("NOT_OPEN", format!("request/{id}"), message),
            Error::StaleProposal { request_id } => {
                precondition("STALE_PROPOSAL", format!("request/{request_id}"), message)
            }
            Error::Unsuitable { field, offer_id, .. } => {
                precondition("UNSUITABLE", format!("{field}/{offer_id}"), message)
            }
            Error::Answered { match_id, .. } => precondition("ANSWERED", format!("match/{match_id}"), message),
            Error::AnswerElsewhere { match_id, .. } => {
                precondition("ANSWER_ELSEWHERE", format!("match/{match_id}"), message)
            }
            Error::NotAddressed { match_id, organisation_id } => error_info(
                Code::PermissionDenied,
                message,
                "NOT_ADDRESSED",
                vec![("match_id", match_id), ("organisation_id", organisation_id)],
            ),
            Error::Log(e) => log_status(e, message),
        }
    }
}
