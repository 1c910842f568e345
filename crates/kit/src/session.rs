//! A call's session, as the node's edge hands it to a handler in the request's extensions: the
//! authenticated caller, the rule of the RPC called, where access records go, and how to tell
//! that the caller's credential is no longer valid or the node is stopping (a long stream ends
//! then).

use std::sync::Arc;

use tokio::sync::watch;
use tonic::Status;

use crate::access::AccessLog;
use crate::auth::{Accessed, Caller, Rule};

/// Says whether a credential is still valid (not revoked, not expired).
pub type Validity = Arc<dyn Fn() -> bool + Send + Sync>;

/// What a handler knows of the call beyond its message.
#[derive(Clone)]
pub struct Session {
    pub caller: Caller,
    pub rule: &'static Rule,
    pub access: AccessLog,
    /// Whether the caller's credential still holds.
    pub valid: Validity,
    /// Changes whenever credentials change (issued, revoked) at the node.
    pub changes: watch::Receiver<u64>,
    /// True once the node is stopping: a long stream ends then rather than hold the shutdown
    /// for its whole grace period.
    pub stopping: watch::Receiver<bool>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("caller", &self.caller).field("rpc", &self.rule.path).finish()
    }
}

/// `response`, marked with the subjects whose personal data it holds (the edge records them).
pub fn accessed<T>(mut response: tonic::Response<T>, subjects: Vec<String>) -> tonic::Response<T> {
    let mut subjects = subjects;
    subjects.sort();
    subjects.dedup();
    subjects.retain(|s| !s.is_empty());
    response.extensions_mut().insert(Accessed { subjects });
    response
}

impl Session {
    /// `Ok` when the caller may act for `organisation`; otherwise `PERMISSION_DENIED`.
    pub fn for_organisation(&self, organisation: &str) -> Result<(), Status> {
        self.for_any_organisation([organisation])
    }

    /// `Ok` when the caller may act for one of `organisations`; otherwise `PERMISSION_DENIED`.
    pub fn for_any_organisation<'a>(&self, organisations: impl IntoIterator<Item = &'a str>) -> Result<(), Status> {
        if self.caller.may_act_for_any(organisations) {
            return Ok(());
        }
        let message = format!("a {} acts for its own organisation only", self.caller.role);
        let metadata = vec![("organisation", self.caller.organisation.clone().unwrap_or_default())];
        Err(samenspel_status::error_info(tonic::Code::PermissionDenied, message, "NOT_YOUR_ORGANISATION", metadata))
    }

    /// The session of a request; a request without one did not come through the node's edge,
    /// and is refused.
    pub fn of<T>(request: &tonic::Request<T>) -> Result<Session, Status> {
        request
            .extensions()
            .get::<Session>()
            .cloned()
            .ok_or_else(|| Status::unauthenticated("the call carries no authenticated caller"))
    }
}
