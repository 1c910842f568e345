//! The privacy service's decisions, pure: what the key store and the read model say about a
//! subject, and what was asked → the event to append, or why not.

use samenspel_eventlog::{EventHeader, ExpectedVersion, NewEvent};
use samenspel_kit::ServiceEvent;

use crate::error::Error;
use crate::events::{PrivacyEvent, Reason};

/// What this node holds of a subject.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Held {
    pub erased: bool,
    pub has_key: bool,
}

/// The erasure of a subject this node took in, told to the `nodes` (hex) its key went to; one per
/// subject (the stream must be new). Refused for a subject erased before or never held.
pub(crate) fn erasure(
    held: Held,
    subject_id: &str,
    owner: String,
    nodes: Vec<String>,
    reason: Reason,
    reference: &str,
    by: &str,
) -> Result<NewEvent, Error> {
    if held.erased {
        return Err(Error::AlreadyErased { subject_id: subject_id.into() });
    }
    if !held.has_key {
        return Err(Error::UnknownSubject { subject_id: subject_id.into() });
    }
    let erased = PrivacyEvent::SubjectErased {
        subject_id: subject_id.into(),
        owner,
        reason,
        reference: reference.into(),
        nodes,
        by: by.into(),
    };
    Ok(erased.to_event().expect(ExpectedVersion::Exact(0)))
}

/// The confirmation another node's erasure calls for (none for this node's own, or for an
/// erasure of a subject that is not its origin's), with an event id made from the erasure so a
/// replay appends nothing twice.
pub(crate) fn confirmation(header: &EventHeader, erased: &PrivacyEvent, own: &str) -> Option<NewEvent> {
    let PrivacyEvent::SubjectErased { subject_id, owner, .. } = erased else { return None };
    if *owner != header.origin.to_hex() || owner == own {
        return None;
    }
    let confirmed = PrivacyEvent::ErasureConfirmed { subject_id: subject_id.clone(), owner: owner.clone() };
    Some(confirmed.to_event().with_id(format!("{}/{}", confirmed.kind(), header.stream)))
}
