//! The follow-up's decisions: given the read model and what was asked (an answer to a check-in,
//! an observation, a closure) or what happened (a match was accepted; another node observed one
//! of this node's referrals; the clock passed a due day), the events to append — with the
//! referral stream's version they were decided on — or why not. Pure: commands (`service.rs`),
//! the reaction (`reactions.rs`) and the sweeper decide here.

use samenspel_domain::LocalDate;
use samenspel_eventlog::{Audience, EventRef, ExpectedVersion, FieldViolation, Hash, NewEvent, NodeId, StoredEvent};
use samenspel_kit::{Decided, ServiceEvent};

use crate::config::FollowUpConfig;
use crate::error::Error;
use crate::events::{FollowUpEvent, OBSERVATION_RECEIVED, Scheduled};
use crate::model::{
    Answer, CheckIn, CheckInState, ClosureCategory, Observation, Outcome, Referral, ReferralState, Respondent,
};
use crate::state::FollowUpState;

/// The referring organisation of a referral: its request's asking organisation, or this node's
/// own (`home`).
pub(crate) fn referring(home: &str, r: &Referral) -> String {
    if r.referring_organisation_id.is_empty() { home.to_string() } else { r.referring_organisation_id.clone() }
}

/// A check-in's state at `now`, by the configured thresholds.
pub(crate) fn state_of(config: &FollowUpConfig, c: &CheckIn, now: i64) -> CheckInState {
    c.state(now, config.overdue_after_hours, config.escalate_after_hours)
}

fn state_name(s: CheckInState) -> &'static str {
    match s {
        CheckInState::Upcoming => "upcoming",
        CheckInState::Due => "due",
        CheckInState::Overdue => "overdue",
        CheckInState::Escalated => "escalated",
        CheckInState::Answered => "answered already",
        CheckInState::Cancelled => "cancelled",
    }
}

pub(crate) fn referral_state_name(s: ReferralState) -> &'static str {
    match s {
        ReferralState::Offered => "offered, not accepted yet",
        ReferralState::Active => "active",
        ReferralState::Declined => "declined",
        ReferralState::Expired => "expired unanswered",
        ReferralState::Failed => "failed",
        ReferralState::Closed => "closed",
        ReferralState::Ended => "ended with its request",
    }
}

/// `events` on a referral's stream from `version` on, this node's only.
fn on_stream(events: &[FollowUpEvent], version: u64) -> Vec<NewEvent> {
    events.iter().enumerate().map(|(i, e)| e.to_new(ExpectedVersion::Exact(version + i as u64))).collect()
}

/// A day of first contact lies between the referral and today.
fn check_contact_day(day: Option<LocalDate>, now: i64, confirmed_micros: i64) -> Result<(), Error> {
    let Some(day) = day else { return Ok(()) };
    let why = if day > LocalDate::of_micros(now) {
        "lies in the future"
    } else if day < LocalDate::of_micros(confirmed_micros) {
        "lies before the referral was made"
    } else {
        return Ok(());
    };
    Err(Error::Invalid(vec![FieldViolation::new("contact_on", why)]))
}

/// The check-ins of an accepted match, from the plan as it is now: each due on a Dutch calendar
/// day counted from the acceptance, owned by the referring organisation and the person who
/// confirmed. Its event id is made from the match, so a replay schedules nothing twice.
pub(crate) fn schedule(state: &FollowUpState, config: &FollowUpConfig, match_id: &str) -> Decided<()> {
    let Some(r) = state.referral(match_id) else { return Decided::nothing(()) };
    if r.state != ReferralState::Active || !r.check_ins.is_empty() {
        return Decided::nothing(());
    }
    let day = LocalDate::of_micros(r.accepted_micros);
    let check_ins = config
        .plan
        .iter()
        .enumerate()
        .map(|(i, step)| Scheduled {
            id: format!("{}-{}", r.id, i + 1),
            step: step.step.clone(),
            question: step.question.clone(),
            due_micros: day.plus_days(i64::from(step.after_days)).start_micros(),
        })
        .collect();
    let event = FollowUpEvent::CheckinsScheduled {
        match_id: r.id.clone(),
        request_id: r.request_id.clone(),
        owner_organisation_id: referring(&config.home_organisation_id, r),
        owner_person: r.confirmed_by.clone(),
        check_ins,
    };
    let new = event.to_new(ExpectedVersion::Exact(state.stream_version(&r.id))).with_id(format!(
        "{}/{}",
        event.kind(),
        event.match_id()
    ));
    Decided::new(vec![new], ())
}

/// The notes about the client of `match_id` as they are kept: none once the client was erased.
fn kept(state: &FollowUpState, match_id: &str, notes: &str) -> String {
    if state.client_erased(match_id) { String::new() } else { notes.to_string() }
}

/// Another node's observation (`observed`, event `from` at its position) of one of this node's
/// referrals: taken in when it is for this node, of a referral it owns and accepted, from the node
/// hosting the referral's offer, naming that node and the receiving organisation. Otherwise the
/// reason it is refused.
pub(crate) fn take_in(
    state: &FollowUpState,
    own: &str,
    from: &StoredEvent,
    observed: FollowUpEvent,
) -> Result<Decided<()>, &'static str> {
    let FollowUpEvent::ObservationRecorded { match_id, owner_node, observation, .. } = observed else {
        return Err("it is no observation");
    };
    let origin = from.header.origin.to_hex();
    match state.referral(&match_id) {
        _ if owner_node != own => return Err("it is for another node"),
        None => return Err("no such referral here"),
        Some(r) if r.accepted_micros == 0 => return Err("the referral was never accepted"),
        Some(r) if state.host_of(&r.offer_id).as_deref() != Some(origin.as_str()) => {
            return Err("its node does not host the referral's offer");
        }
        Some(r) if observation.node != origin || observation.organisation_id != r.receiving_organisation_id => {
            return Err("it names another node or organisation than the receiving one");
        }
        // Taken in before (a replay after a restart): nothing to add.
        Some(r) if r.observations.iter().any(|o| o.id == observation.id && o.node == observation.node) => {
            return Ok(Decided::nothing(()));
        }
        Some(_) => {}
    }
    // Kept here under the client's own key, as the owner's other notes are.
    let notes_subject = state.notes_subject(&match_id);
    let mut observation = observation;
    observation.notes = kept(state, &match_id, &observation.notes);
    let received = FollowUpEvent::ObservationReceived { match_id, observation, notes_subject };
    let id = format!("{OBSERVATION_RECEIVED}/{origin}/{}", from.header.seq);
    // At the stream's version: an event with sealed notes names it (the seal is bound to it).
    let version = state.stream_version(received.match_id());
    Ok(Decided::new(vec![received.to_new(ExpectedVersion::Exact(version)).with_id(id)], ()))
}

/// What the receiving organisation saw, recorded on the node hosting the referral's offer. On
/// another node's referral it names the owner's acceptance as its cause and goes to the owner
/// only; on this node's own it stays here.
#[allow(clippy::too_many_arguments)]
pub(crate) fn observe(
    state: &FollowUpState,
    own: &str,
    match_id: &str,
    outcome: Outcome,
    notes: &str,
    recorded_by: &str,
    contact_on: Option<LocalDate>,
    now: i64,
) -> Result<Decided<()>, Error> {
    let r = state.any_referral(match_id).ok_or_else(|| Error::NotFound { what: "referral", id: match_id.into() })?;
    let host = state.host_of(&r.offer_id).unwrap_or_else(|| own.to_string());
    if host != own {
        return Err(Error::ObserveElsewhere { match_id: match_id.into(), node: host });
    }
    if r.state != ReferralState::Active {
        return Err(Error::NotActive {
            id: match_id.into(),
            state: referral_state_name(r.state),
            action: "only an accepted referral is observed",
        });
    }
    check_contact_day(contact_on, now, r.confirmed_micros)?;
    let version = state.observed_version(match_id);
    let observation = Observation {
        id: format!("{match_id}/observation/{}", version + 1),
        organisation_id: r.receiving_organisation_id.clone(),
        node: own.to_string(),
        outcome,
        notes: kept(state, match_id, notes),
        recorded_by: recorded_by.to_string(),
        contact_on: contact_on.map(|d| d.to_string()),
        recorded_micros: now,
    };
    let cause = state.accepted_at(match_id).and_then(|(origin, seq, hash)| {
        Some(EventRef { origin: NodeId::from_hex(origin)?, seq: *seq, hash: Hash::from_hex(hash)? })
    });
    // Only the owner gets it; this node's own referral keeps it here.
    let audience = match NodeId::from_hex(&r.owner_node) {
        Some(owner) => Audience::Nodes(vec![owner]),
        None => Audience::Local,
    };
    let event = FollowUpEvent::ObservationRecorded {
        match_id: match_id.into(),
        owner_node: r.owner_node.clone(),
        observation,
        notes_subject: state.notes_subject(match_id),
    };
    let new =
        event.to_new(ExpectedVersion::Exact(version)).with_audience(audience).with_causes(cause.into_iter().collect());
    Ok(Decided::new(vec![new], ()))
}

/// An answer to a check-in. One that fails the referral (not going well, stopped) fails it in the
/// same append: matching and the intake follow from that event.
#[allow(clippy::too_many_arguments)]
pub(crate) fn answer(
    state: &FollowUpState,
    config: &FollowUpConfig,
    id: &str,
    outcome: Outcome,
    answered_by: Respondent,
    notes: &str,
    recorded_by: &str,
    contact_on: Option<LocalDate>,
    now: i64,
) -> Result<Decided<bool>, Error> {
    let c = state.check_in(id).ok_or_else(|| Error::UnknownCheckIn { id: id.into() })?;
    let referral = state.referral(&c.match_id).ok_or_else(|| Error::UnknownCheckIn { id: id.into() })?;
    if !c.is_open() || referral.state != ReferralState::Active {
        let why =
            if c.is_open() { "closed: its referral is no longer active" } else { state_name(state_of(config, c, now)) };
        return Err(Error::CheckInClosed { id: id.into(), state: why });
    }
    check_contact_day(contact_on, now, referral.confirmed_micros)?;
    let answer = Answer {
        outcome,
        answered_by,
        notes: kept(state, &c.match_id, notes),
        recorded_by: recorded_by.to_string(),
        contact_on: contact_on.map(|d| d.to_string()),
        recorded_micros: now,
    };
    let notes_subject = state.notes_subject(&c.match_id);
    let mut events = vec![FollowUpEvent::CheckinAnswered {
        match_id: c.match_id.clone(),
        check_in_id: id.into(),
        answer,
        notes_subject,
    }];
    if outcome.fails() {
        events.push(FollowUpEvent::ReferralFailed {
            match_id: c.match_id.clone(),
            request_id: referral.request_id.clone(),
            offer_id: referral.offer_id.clone(),
            check_in_id: id.into(),
            outcome,
            at_micros: now,
        });
    }
    Ok(Decided::new(on_stream(&events, state.stream_version(&c.match_id)), outcome.fails()))
}

/// Closes an active referral with an outcome category; the intake closes the request.
pub(crate) fn close(
    state: &FollowUpState,
    match_id: &str,
    category: ClosureCategory,
    notes: &str,
    closed_by: &str,
    now: i64,
) -> Result<Decided<()>, Error> {
    let r = state.referral(match_id).ok_or_else(|| Error::NotFound { what: "referral", id: match_id.into() })?;
    if r.state != ReferralState::Active {
        let state = referral_state_name(r.state);
        return Err(Error::NotActive { id: match_id.into(), state, action: "only an active referral is closed" });
    }
    let event = FollowUpEvent::ReferralClosed {
        match_id: r.id.clone(),
        request_id: r.request_id.clone(),
        category,
        notes: kept(state, match_id, notes),
        closed_by: closed_by.to_string(),
        at_micros: now,
        notes_subject: state.notes_subject(match_id),
    };
    Ok(Decided::new(on_stream(&[event], state.stream_version(match_id)), ()))
}

/// The announcements a check-in is owed at `now` (due, overdue, escalated, each once); the
/// decision's value is the level reached, 0 when nothing is owed.
pub(crate) fn announce(state: &FollowUpState, config: &FollowUpConfig, check_in_id: &str, now: i64) -> Decided<u8> {
    let Some(c) = state.check_in(check_in_id) else { return Decided::nothing(0) };
    let active = state.referral(&c.match_id).is_some_and(|r| r.state == ReferralState::Active);
    let level = match state_of(config, c, now) {
        CheckInState::Due => 1,
        CheckInState::Overdue => 2,
        CheckInState::Escalated => 3,
        _ => 0,
    };
    if !c.is_open() || !active || level <= c.announced {
        return Decided::nothing(0);
    }
    let (m, id) = (c.match_id.clone(), c.id.clone());
    let events: Vec<FollowUpEvent> = (c.announced + 1..=level)
        .map(|l| match l {
            1 => FollowUpEvent::CheckinDue { match_id: m.clone(), check_in_id: id.clone() },
            2 => FollowUpEvent::CheckinOverdue { match_id: m.clone(), check_in_id: id.clone() },
            _ => FollowUpEvent::CheckinEscalated { match_id: m.clone(), check_in_id: id.clone() },
        })
        .collect();
    Decided::new(on_stream(&events, state.stream_version(&c.match_id)), level)
}
