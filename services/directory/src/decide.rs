//! The directory's decisions: given the read model and a change a caller asks for, the event to
//! append — guarded by the entry's version the caller read — or why not: an entry is changed only
//! on the node hosting it, an archived organisation takes no new entries. Pure: the commands in
//! `service.rs` decide here, and decide again when a racing writer got there first.

use samenspel_eventlog::{ExpectedVersion, NodeId};
use samenspel_kit::{Decided, ServiceEvent};

use crate::error::Error;
use crate::events::DirectoryEvent;
use crate::state::DirectoryState;

/// What a change is to: an organisation, a contact person or an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entity {
    Organisation,
    Contact,
    Offer,
}

impl Entity {
    fn name(self) -> &'static str {
        match self {
            Entity::Organisation => "organisation",
            Entity::Contact => "contact person",
            Entity::Offer => "offer",
        }
    }

    /// The entry's version and whether it is archived; `None` when there is no such entry.
    fn current(self, state: &DirectoryState, id: &str) -> Option<(u64, bool)> {
        match self {
            Entity::Organisation => state.organisation(id).map(|o| (o.version, o.archived)),
            Entity::Contact => state.contact(id).map(|c| (c.version, c.archived)),
            Entity::Offer => state.offer(id).map(|o| (o.version, o.archived)),
        }
    }
}

/// Each node changes only the entries it hosts; another node's are changed there.
fn hosted_here(state: &DirectoryState, own: NodeId, id: &str) -> Result<(), Error> {
    match state.host_of(id) {
        Some(host) if host != own => Err(Error::HostedElsewhere { id: id.to_string(), host: host.to_hex() }),
        _ => Ok(()),
    }
}

/// A change of entry `id` that its caller decided on at `expected`: refused when there is no
/// such entry, another node hosts it, or it moved on since. Archiving an archived entry is
/// nothing to do.
pub(crate) fn change(
    state: &DirectoryState,
    own: NodeId,
    entity: Entity,
    id: &str,
    event: DirectoryEvent,
    expected: u64,
) -> Result<Decided<()>, Error> {
    let (version, archived) =
        entity.current(state, id).ok_or_else(|| Error::NotFound { what: entity.name(), id: id.to_string() })?;
    hosted_here(state, own, id)?;
    let archiving = matches!(
        event,
        DirectoryEvent::OrganisationArchived { .. }
            | DirectoryEvent::ContactArchived { .. }
            | DirectoryEvent::OfferArchived { .. }
    );
    if archiving && archived {
        return Ok(Decided::nothing(()));
    }
    if version != expected {
        return Err(Error::VersionConflict { id: id.to_string(), expected, actual: version });
    }
    Ok(Decided::new(vec![event.to_new(ExpectedVersion::Exact(expected))], ()))
}

/// A new contact person or offer of `organisation_id`: only on the node hosting it, and not for
/// an archived one. With a `request_id`, the event carries an id made from it, so a retry
/// appends nothing twice.
pub(crate) fn new_entry(
    state: &DirectoryState,
    own: NodeId,
    organisation_id: &str,
    event: DirectoryEvent,
    request_id: &str,
) -> Result<Decided<()>, Error> {
    let organisation = state
        .organisation(organisation_id)
        .ok_or_else(|| Error::NotFound { what: "organisation", id: organisation_id.to_string() })?;
    if organisation.archived {
        return Err(Error::Archived { what: "organisation", id: organisation_id.to_string() });
    }
    hosted_here(state, own, organisation_id)?;
    Ok(Decided::new(vec![created(event, request_id)], ()))
}

/// A new stream's first event; with a `request_id`, it carries an id made from it.
pub(crate) fn created(event: DirectoryEvent, request_id: &str) -> samenspel_eventlog::NewEvent {
    let new = event.to_new(ExpectedVersion::Exact(0));
    if request_id.is_empty() { new } else { new.with_id(format!("{}/{request_id}", event.kind())) }
}

/// Someone checked an organisation or a contact person (on its host).
pub(crate) fn verify(state: &DirectoryState, own: NodeId, id: &str, now: i64) -> Result<Decided<()>, Error> {
    if state.organisation(id).is_none() && state.contact(id).is_none() {
        return Err(Error::NotFound { what: "entry", id: id.to_string() });
    }
    hosted_here(state, own, id)?;
    let event = DirectoryEvent::EntryVerified { id: id.to_string(), at_micros: now };
    Ok(Decided::new(vec![event.to_new(ExpectedVersion::Any)], ()))
}
