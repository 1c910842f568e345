//! The service's error type and its one mapping to `tonic::Status`.

use samenspel_eventlog::{Error as LogError, FieldViolation};
use samenspel_status::{bad_request, log_status};
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request: {}", samenspel_eventlog::describe_violations(.0))]
    Invalid(Vec<FieldViolation>),
    #[error("this node holds no data of subject {subject_id:?}")]
    UnknownSubject { subject_id: String },
    #[error("subject {subject_id:?} was erased before")]
    AlreadyErased { subject_id: String },
    #[error("no erasure of subject {subject_id:?} on this node")]
    NotErased { subject_id: String },
    #[error("key store: {0}")]
    Keys(String),
    #[error(transparent)]
    Log(#[from] LogError),
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        match e {
            Error::Invalid(v) => bad_request(message, &v),
            Error::UnknownSubject { .. } | Error::NotErased { .. } => Status::not_found(message),
            Error::AlreadyErased { .. } => Status::failed_precondition(message),
            Error::Keys(_) => {
                tracing::error!(error = %message, "key store failure");
                Status::internal(message)
            }
            Error::Log(e) => log_status(e, message),
        }
    }
}
