//! The intake's decisions: given the read model and what was asked (or what happened elsewhere),
//! the events to append — each with the request's version it was decided on — or why not. Pure:
//! commands (`service.rs`) and reactions (`reactions.rs`) both decide here.

use samenspel_eventlog::{Audience, ExpectedVersion, NewEvent, NodeId};
use samenspel_kit::{Decided, ServiceEvent};

use crate::error::Error;
use crate::events::{IntakeEvent, SharedContact};
use crate::inputs::Answered;
use crate::state::{IntakeState, RequestStatus};

/// The event to append for `event`, guarded by the request's version (`expected` events on its
/// stream). Intake payloads stay on this node.
pub(crate) fn new_event(event: &IntakeEvent, expected: ExpectedVersion) -> NewEvent {
    event.to_new(expected)
}

/// A change to request `id` that the caller decided on at `expected_version`: refused when the
/// request moved on since.
pub(crate) fn change(state: &IntakeState, id: &str, event: IntakeEvent, expected: u64) -> Result<Decided<()>, Error> {
    let current = state.get(id).ok_or_else(|| Error::NotFound { id: id.into() })?;
    if current.version != expected {
        return Err(Error::VersionConflict { id: id.into(), expected, actual: current.version });
    }
    Ok(Decided::new(vec![new_event(&event, ExpectedVersion::Exact(expected))], ()))
}

/// A step of the lifecycle, allowed only from `from`.
pub(crate) fn step(
    state: &IntakeState,
    id: &str,
    from: &[RequestStatus],
    action: &'static str,
    event: IntakeEvent,
) -> Result<Decided<()>, Error> {
    let current = state.get(id).ok_or_else(|| Error::NotFound { id: id.into() })?;
    if !from.contains(&current.status) {
        return Err(Error::WrongState { id: id.into(), state: current.status, action });
    }
    let client = &current.fields.client.subject_id;
    let erased = current.erased_subjects.contains(client);
    change(state, id, event.reason_about(client, erased), current.version)
}

/// A change that any open request takes (amended, assessed, new consent), decided on the version
/// the caller read (`expected`, or the current one when `None`).
pub(crate) fn open_change(
    state: &IntakeState,
    id: &str,
    action: &'static str,
    event: IntakeEvent,
    expected: Option<u64>,
) -> Result<Decided<()>, Error> {
    let current = state.get(id).ok_or_else(|| Error::NotFound { id: id.into() })?;
    if !current.status.is_open() {
        return Err(Error::WrongState { id: id.into(), state: current.status, action });
    }
    change(state, id, event, expected.unwrap_or(current.version))
}

/// The lifecycle steps matching's or the follow-up's event calls for: a confirmed or accepted
/// match moves the request to matching and matched, a failed referral back to matching, a closed
/// one to closed; after an acceptance the client's contact details go to the partner's nodes,
/// once. Each carries an event id made from the match, so a replay appends nothing twice.
pub(crate) fn follow(state: &IntakeState, answered: &Answered) -> Decided<()> {
    let Some((match_id, request_id)) = answered.ids() else { return Decided::nothing(()) };
    let Some(current) = state.get(request_id) else { return Decided::nothing(()) };
    let id = request_id.to_string();
    let status = current.status;
    let mut steps = Vec::new();
    if matches!(answered, Answered::Confirmed { .. } | Answered::Accepted { .. }) && status == RequestStatus::Submitted
    {
        steps.push(IntakeEvent::MatchingStarted { id: id.clone() });
    }
    match answered {
        Answered::Accepted { offer_id, .. } if matches!(status, RequestStatus::Submitted | RequestStatus::Matching) => {
            steps.push(IntakeEvent::Matched { id: id.clone(), offer_id: offer_id.clone() });
        }
        Answered::ReferralFailed { outcome, .. } if status == RequestStatus::Matched => {
            let reason = format!("follow-up: {}", outcome.replace('_', " "));
            steps.push(IntakeEvent::Reopened { id: id.clone(), reason, reason_subject: String::new() });
        }
        Answered::ReferralClosed { category, at_micros, .. } if status == RequestStatus::Matched => {
            let reason = format!("follow-up: {}", category.replace('_', " "));
            steps.push(IntakeEvent::Closed {
                id: id.clone(),
                reason,
                at_micros: *at_micros,
                reason_subject: String::new(),
            });
        }
        _ => {}
    }
    // The receiving organisation on another node needs to reach the client, once.
    let mut shared_with = Vec::new();
    if let Answered::Accepted { nodes, .. } = answered
        && !nodes.is_empty()
        && !current.contact_shared_for(match_id)
    {
        let client = &current.fields.client;
        let client = SharedContact {
            subject_id: client.subject_id.clone(),
            name: client.name.clone(),
            phone: client.phone.clone(),
            email: client.email.clone(),
        };
        shared_with = nodes.iter().filter_map(|n| NodeId::from_hex(n)).collect();
        let (match_id, nodes) = (match_id.to_string(), nodes.clone());
        steps.push(IntakeEvent::ContactShared { id, match_id, client, nodes });
    }
    let client = current.fields.client.subject_id.clone();
    let erased = current.erased_subjects.contains(&client);
    let steps: Vec<IntakeEvent> = steps.into_iter().map(|s| s.reason_about(&client, erased)).collect();
    let events = steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let event = new_event(step, ExpectedVersion::Exact(current.version + i as u64))
                .with_id(format!("{}/{match_id}", step.kind()));
            match step {
                IntakeEvent::ContactShared { .. } => event.with_audience(Audience::Nodes(shared_with.clone())),
                _ => event,
            }
        })
        .collect();
    Decided::new(events, ())
}
