//! The follow-up's commands and queries. Commands check input and state, append with the
//! referral stream's version (so of two racing answers one wins) and wait until the projection
//! has applied them; queries read the projection with the clock's time. Alongside run the
//! reaction that schedules check-ins for accepted matches (`reactions.rs`) and the sweeper that
//! announces what became due, overdue or escalated.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use samenspel_domain::{Clock, LocalDate, PostcodeRange, SupportFunction, SupportKind};
use samenspel_eventlog::{
    Audience, Error as LogError, EventLog, EventRef, ExpectedVersion, Feed, FieldViolation, Hash, NewEvent, NodeId,
    ProjectionHandle, ProjectionReader, StoredEvent, SubscribeFrom, Subscription, TaskHandle, start_projection_of,
    start_sweeper,
};

use samenspel_kit::Check;

use crate::config::FollowUpConfig;
use crate::coverage::{self, Row};
use crate::error::Error;
use crate::evaluation::{self, Evaluation};
use crate::events::FollowUpEvent;
use crate::model::{
    Answer, CheckIn, CheckInState, ClosureCategory, Observation, Outcome, Referral, ReferralState, Respondent,
};
use crate::state::FollowUpState;

const PROJECTION: &str = "followup";
const MAX_NOTES: usize = 2000;
const MAX_NAME: usize = 200;
/// Tries of a command whose append lost a race with the sweeper's announcements.
const TRIES: usize = 3;
/// Longest wait for other nodes' stored events to be applied (they may wait for their causes).
const OTHERS_WAIT: Duration = Duration::from_millis(200);
/// Tries of an observation whose number was taken by a concurrent one.
const OBSERVATION_TRIES: usize = 16;

/// An answer to a check-in as received: `None` for an enum left unspecified.
#[derive(Debug, Clone, Default)]
pub struct RawOutcome {
    pub check_in_id: String,
    pub outcome: Option<Outcome>,
    pub answered_by: Option<Respondent>,
    pub notes: String,
    pub recorded_by: String,
    pub contact_on: String,
}

/// An observation of the receiving organisation as received: `None` for an outcome left
/// unspecified.
#[derive(Debug, Clone, Default)]
pub struct RawObservation {
    pub match_id: String,
    pub outcome: Option<Outcome>,
    pub notes: String,
    pub recorded_by: String,
    pub contact_on: String,
}

/// A check-in change for an organisation's stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub position: u64,
    pub kind: String,
    pub check_in: CheckIn,
    pub state: CheckInState,
    /// For an observation of the receiving organisation: the observation.
    pub observation: Option<Observation>,
}

#[derive(Debug)]
pub struct FollowUpService {
    log: Arc<dyn EventLog>,
    config: FollowUpConfig,
    clock: Arc<dyn Clock>,
    state: ProjectionReader<FollowUpState>,
    projection: Mutex<Option<ProjectionHandle<FollowUpState>>>,
    reactions: Mutex<Option<TaskHandle>>,
    sweeper: Mutex<Option<TaskHandle>>,
}

fn text(field: &str, value: &str, max: usize, v: &mut Vec<FieldViolation>) -> String {
    let value = value.trim();
    if value.chars().count() > max {
        v.push(FieldViolation::new(field, format!("at most {max} characters")));
    }
    value.to_string()
}

/// The day of `contact_on` ("" for none), with a violation when it is no date.
fn contact_day(value: &str, v: &mut Vec<FieldViolation>) -> Option<LocalDate> {
    match value.trim() {
        "" => None,
        d => match d.parse::<LocalDate>() {
            Ok(day) => Some(day),
            Err(e) => {
                v.push(FieldViolation::new("contact_on", e.to_string()));
                None
            }
        },
    }
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

impl FollowUpService {
    /// Restores the follow-up from its snapshot, follows the log, and starts the reaction that
    /// schedules check-ins and the sweeper.
    pub async fn start(
        log: Arc<dyn EventLog>,
        config: FollowUpConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>, Error> {
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(Error::Config(problems));
        }
        let projection =
            start_projection_of::<FollowUpState>(log.clone(), PROJECTION, config.snapshot_every, Feed::All).await?;
        let reactions = crate::reactions::start(log.clone(), projection.reader(), config.clone()).await?;
        let service = Arc::new(Self {
            log,
            config,
            clock,
            state: projection.reader(),
            projection: Mutex::new(Some(projection)),
            reactions: Mutex::new(Some(reactions)),
            sweeper: Mutex::new(None),
        });
        let every = Duration::from_millis(service.config.sweep_interval_millis.max(10));
        let sweeper = start_sweeper(&service, every, "announcing due check-ins", |s| async move { s.sweep().await });
        *service.sweeper.lock().expect("sweeper lock") = Some(sweeper);
        Ok(service)
    }

    /// Stops the sweeper, the reaction and the projection (saving a snapshot); call it before the
    /// log closes.
    pub async fn stop(&self) -> Result<(), Error> {
        let sweeper = self.sweeper.lock().expect("sweeper lock").take();
        if let Some(sweeper) = sweeper {
            sweeper.stop().await;
        }
        let reactions = self.reactions.lock().expect("reactions lock").take();
        if let Some(reactions) = reactions {
            reactions.stop().await;
        }
        let projection = self.projection.lock().expect("projection lock").take();
        if let Some(p) = projection {
            p.stop().await?;
        }
        Ok(())
    }

    /// Waits until the read model has every event the log held when called, so a referral
    /// accepted a moment ago is found — here, or on the node hosting the receiving organisation
    /// once the owner's acceptance has arrived.
    async fn catch_up(&self) -> Result<(), Error> {
        let own = self.log.node_id();
        self.state.wait_for(self.log.head(own).await?.seq).await?;
        // Other nodes' events may wait for their causes: waiting for them is best effort.
        let others: Vec<(NodeId, u64)> =
            self.log.origins().await?.into_iter().filter(|(o, _)| *o != own).map(|(o, h)| (o, h.seq)).collect();
        let _ = tokio::time::timeout(OTHERS_WAIT, self.state.wait_for_all(&others)).await;
        Ok(())
    }

    fn state_of(&self, c: &CheckIn, now: i64) -> CheckInState {
        c.state(now, self.config.overdue_after_hours, self.config.escalate_after_hours)
    }

    pub fn now_micros(&self) -> i64 {
        self.clock.now_micros()
    }

    /// The check-ins of `organisation` (and `person`, if given) that are due, overdue or
    /// escalated — and upcoming ones too when asked — earliest first, a page at a time.
    /// `check` holds what the edge found wrong with the ids already.
    pub async fn list_due(
        &self,
        mut check: Check,
        organisation: &str,
        person: &str,
        include_upcoming: bool,
        page_size: u32,
        page_token: &str,
    ) -> Result<(Vec<(CheckIn, CheckInState)>, String), Error> {
        let after = match page_token {
            "" => None,
            t => match t.split_once('/').and_then(|(due, id)| Some((due.parse::<i64>().ok()?, id.to_string()))) {
                Some(after) => Some(after),
                None => {
                    check.bad("page_token", "is not a token from a previous page");
                    None
                }
            },
        };
        check.finish().map_err(Error::Invalid)?;
        self.catch_up().await?;
        let size = match page_size {
            0 => self.config.default_page_size,
            n => n.min(self.config.max_page_size),
        }
        .max(1) as usize;
        let now = self.clock.now_micros();
        let (organisation, person) = (organisation.trim(), person.trim());
        let state = self.state.read();
        let mut due: Vec<(CheckIn, CheckInState)> = state
            .check_ins()
            .filter(|c| c.owner_organisation_id == organisation && (person.is_empty() || c.owner_person == person))
            .filter(|c| c.is_open() && state.referral(&c.match_id).is_some_and(|r| r.state == ReferralState::Active))
            .map(|c| (c.clone(), self.state_of(c, now)))
            .filter(|(_, s)| include_upcoming || *s != CheckInState::Upcoming)
            .filter(|(c, _)| after.as_ref().is_none_or(|(due, id)| (c.due_micros, &c.id) > (*due, id)))
            .collect();
        due.sort_by(|a, b| (a.0.due_micros, &a.0.id).cmp(&(b.0.due_micros, &b.0.id)));
        let more = due.len() > size;
        due.truncate(size);
        let next = match due.last() {
            Some((c, _)) if more => format!("{}/{}", c.due_micros, c.id),
            _ => String::new(),
        };
        Ok((due, next))
    }

    pub async fn check_in(&self, id: &str) -> Result<(CheckIn, CheckInState), Error> {
        self.catch_up().await?;
        let found = self.state.read().check_in(id).cloned();
        let c = found.ok_or_else(|| Error::NotFound { what: "check-in", id: id.into() })?;
        let state = self.state_of(&c, self.clock.now_micros());
        Ok((c, state))
    }

    /// A referral with its check-ins and their states; the referring organisation is filled in
    /// with this node's own when the request named none. Also another node's referral to an
    /// organisation hosted here, as far as this node knows it.
    pub async fn referral(&self, id: &str) -> Result<(Referral, Vec<(CheckIn, CheckInState)>), Error> {
        self.catch_up().await?;
        let now = self.clock.now_micros();
        let state = self.state.read();
        let mut r =
            state.any_referral(id).cloned().ok_or_else(|| Error::NotFound { what: "referral", id: id.into() })?;
        let check_ins = state.check_ins_of(&r).map(|c| (c.clone(), self.state_of(c, now))).collect();
        if r.owner_node.is_empty() {
            r.referring_organisation_id = Self::referring(&self.config, &r);
        }
        Ok((r, check_ins))
    }

    /// Records what the receiving organisation saw, on the node hosting the referral's offer. On
    /// another node's referral the observation names the owner's acceptance as its cause and
    /// goes to the owner, which takes it in (`reactions.rs`); the owner's check-ins are not
    /// answered by it.
    pub async fn record_observation(
        &self,
        mut check: Check,
        raw: RawObservation,
    ) -> Result<(Referral, Vec<(CheckIn, CheckInState)>), Error> {
        let mut v = Vec::new();
        let match_id = raw.match_id.trim().to_string();
        if raw.outcome.is_none() {
            v.push(FieldViolation::new("outcome", "name the outcome: contact made, no contact yet, going well, …"));
        }
        let notes = text("notes", &raw.notes, MAX_NOTES, &mut v);
        let recorded_by = text("recorded_by", &raw.recorded_by, MAX_NAME, &mut v);
        let contact_on = contact_day(&raw.contact_on, &mut v);
        check.push_all(&mut v);
        check.finish().map_err(Error::Invalid)?;
        let Some(outcome) = raw.outcome else { return Err(Error::Invalid(Vec::new())) };
        self.catch_up().await?;
        let own = self.log.node_id().to_hex();
        // Every lost race is another observation recorded, so this ends; the bound only caps a
        // burst of many at once.
        for _ in 0..OBSERVATION_TRIES {
            let now = self.clock.now_micros();
            let (event, version, audience, cause) = {
                let state = self.state.read();
                let r = state
                    .any_referral(&match_id)
                    .ok_or_else(|| Error::NotFound { what: "referral", id: match_id.clone() })?;
                let host = state.host_of(&r.offer_id).unwrap_or(&own);
                if host != own {
                    return Err(Error::ObserveElsewhere { match_id: match_id.clone(), node: host.to_string() });
                }
                if r.state != ReferralState::Active {
                    return Err(Error::NotActive {
                        id: match_id.clone(),
                        state: referral_state_name(r.state),
                        action: "only an accepted referral is observed",
                    });
                }
                check_contact_day(contact_on, now, r.confirmed_micros)?;
                let version = state.observed_version(&match_id);
                let observation = Observation {
                    id: format!("{match_id}/observation/{}", version + 1),
                    organisation_id: r.receiving_organisation_id.clone(),
                    node: own.clone(),
                    outcome,
                    notes: notes.clone(),
                    recorded_by: recorded_by.clone(),
                    contact_on: contact_on.map(|d| d.to_string()),
                    recorded_micros: now,
                };
                let cause = state.accepted_at(&match_id).and_then(|(origin, seq, hash)| {
                    Some(EventRef { origin: NodeId::from_hex(origin)?, seq: *seq, hash: Hash::from_hex(hash)? })
                });
                // Only the owner gets it; this node's own referral keeps it here.
                let audience = match NodeId::from_hex(&r.owner_node) {
                    Some(owner) => Audience::Nodes(vec![owner]),
                    None => Audience::Local,
                };
                let event = FollowUpEvent::ObservationRecorded {
                    match_id: match_id.clone(),
                    owner_node: r.owner_node.clone(),
                    observation,
                };
                (event, version, audience, cause)
            };
            let new = Self::new_event(&event, ExpectedVersion::Exact(version))
                .with_audience(audience)
                .with_causes(cause.into_iter().collect());
            match self.log.append(vec![new]).await {
                Ok(appended) => {
                    self.state.wait_for(appended.last().map_or(0, |a| a.seq)).await?;
                    tracing::info!(match_id = %match_id, ?outcome, "observation recorded");
                    return self.referral(&match_id).await;
                }
                // Another observation of the same referral won the race: number it after that one.
                Err(LogError::WrongExpectedVersion { .. }) => self.catch_up().await?,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Log(LogError::Storage("observations kept arriving while recording this one; try again".into())))
    }

    /// Records the answer to a check-in. An answer that fails the referral also fails it, in the
    /// same append: matching and the intake follow from that event.
    pub async fn record_outcome(&self, mut check: Check, raw: RawOutcome) -> Result<(CheckIn, CheckInState), Error> {
        let mut v = Vec::new();
        let id = raw.check_in_id.trim().to_string();
        if raw.outcome.is_none() {
            v.push(FieldViolation::new("outcome", "name the outcome: contact made, no contact yet, going well, …"));
        }
        if raw.answered_by.is_none() {
            v.push(FieldViolation::new(
                "answered_by",
                "name who answered: client, mantelzorger, volunteer, professional",
            ));
        }
        let notes = text("notes", &raw.notes, MAX_NOTES, &mut v);
        let recorded_by = text("recorded_by", &raw.recorded_by, MAX_NAME, &mut v);
        let contact_on = contact_day(&raw.contact_on, &mut v);
        check.push_all(&mut v);
        check.finish().map_err(Error::Invalid)?;
        let (Some(outcome), Some(answered_by)) = (raw.outcome, raw.answered_by) else {
            return Err(Error::Invalid(Vec::new()));
        };
        self.catch_up().await?;
        for _ in 0..TRIES {
            let now = self.clock.now_micros();
            let (events, version) = {
                let state = self.state.read();
                let c = state.check_in(&id).ok_or_else(|| Error::UnknownCheckIn { id: id.clone() })?;
                let referral = state.referral(&c.match_id).ok_or_else(|| Error::UnknownCheckIn { id: id.clone() })?;
                if !c.is_open() || referral.state != ReferralState::Active {
                    let why = if c.is_open() {
                        "closed: its referral is no longer active"
                    } else {
                        state_name(self.state_of(c, now))
                    };
                    return Err(Error::CheckInClosed { id, state: why });
                }
                check_contact_day(contact_on, now, referral.confirmed_micros)?;
                let answer = Answer {
                    outcome,
                    answered_by,
                    notes: notes.clone(),
                    recorded_by: recorded_by.clone(),
                    contact_on: contact_on.map(|d| d.to_string()),
                    recorded_micros: now,
                };
                let mut events = vec![FollowUpEvent::CheckinAnswered {
                    match_id: c.match_id.clone(),
                    check_in_id: id.clone(),
                    answer,
                }];
                if outcome.fails() {
                    events.push(FollowUpEvent::ReferralFailed {
                        match_id: c.match_id.clone(),
                        request_id: referral.request_id.clone(),
                        offer_id: referral.offer_id.clone(),
                        check_in_id: id.clone(),
                        outcome,
                        at_micros: now,
                    });
                }
                (events, state.stream_version(&c.match_id))
            };
            if self.append(&events, version).await? {
                if outcome.fails() {
                    tracing::info!(check_in = %id, ?outcome, "referral failed: the request goes back to matching");
                }
                return self.check_in(&id).await;
            }
        }
        Err(Error::Log(LogError::Storage("the check-in kept changing while answering it; try again".into())))
    }

    /// Closes an active referral with an outcome category; the intake closes the request.
    pub async fn close_referral(
        &self,
        mut check: Check,
        match_id: &str,
        category: Option<ClosureCategory>,
        notes: &str,
        closed_by: &str,
    ) -> Result<(Referral, Vec<(CheckIn, CheckInState)>), Error> {
        let mut v = Vec::new();
        if category.is_none() {
            v.push(FieldViolation::new("category", "name how it ended: goal reached, partly reached, …"));
        }
        let notes = text("notes", notes, MAX_NOTES, &mut v);
        let closed_by = text("closed_by", closed_by, MAX_NAME, &mut v);
        check.push_all(&mut v);
        check.finish().map_err(Error::Invalid)?;
        let Some(category) = category else { return Err(Error::Invalid(Vec::new())) };
        self.catch_up().await?;
        for _ in 0..TRIES {
            let (event, version) = {
                let state = self.state.read();
                let r = state
                    .referral(match_id)
                    .ok_or_else(|| Error::NotFound { what: "referral", id: match_id.into() })?;
                if r.state != ReferralState::Active {
                    let state = referral_state_name(r.state);
                    return Err(Error::NotActive {
                        id: match_id.into(),
                        state,
                        action: "only an active referral is closed",
                    });
                }
                let event = FollowUpEvent::ReferralClosed {
                    match_id: r.id.clone(),
                    request_id: r.request_id.clone(),
                    category,
                    notes: notes.clone(),
                    closed_by: closed_by.clone(),
                    at_micros: self.clock.now_micros(),
                };
                (event, state.stream_version(match_id))
            };
            if self.append(&[event], version).await? {
                return self.referral(match_id).await;
            }
        }
        Err(Error::Log(LogError::Storage("the referral kept changing while closing it; try again".into())))
    }

    /// Appends `events` on a referral's stream at `version` and waits until they are applied;
    /// `false` when the stream moved meanwhile (decide again).
    async fn append(&self, events: &[FollowUpEvent], version: u64) -> Result<bool, Error> {
        let batch = events
            .iter()
            .enumerate()
            .map(|(i, e)| Self::new_event(e, ExpectedVersion::Exact(version + i as u64)))
            .collect();
        match self.log.append(batch).await {
            Ok(appended) => {
                self.state.wait_for(appended.last().map_or(0, |a| a.seq)).await?;
                Ok(true)
            }
            Err(LogError::WrongExpectedVersion { .. }) => {
                self.catch_up().await?;
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) fn new_event(event: &FollowUpEvent, expected: ExpectedVersion) -> NewEvent {
        NewEvent::new(event.stream(), event.kind(), event.encode()).expect(expected).with_audience(Audience::Local)
    }

    /// Appends the announcements of check-ins that became due, overdue or escalated since the
    /// last sweep; returns how many were made.
    pub async fn sweep(&self) -> Result<usize, Error> {
        let now = self.clock.now_micros();
        let pending: Vec<(CheckIn, u8, u64)> = {
            let state = self.state.read();
            state
                .check_ins()
                .filter(|c| {
                    c.is_open() && state.referral(&c.match_id).is_some_and(|r| r.state == ReferralState::Active)
                })
                .filter_map(|c| {
                    let level = match self.state_of(c, now) {
                        CheckInState::Due => 1,
                        CheckInState::Overdue => 2,
                        CheckInState::Escalated => 3,
                        _ => 0,
                    };
                    (level > c.announced).then(|| (c.clone(), level, state.stream_version(&c.match_id)))
                })
                .collect()
        };
        let mut made = 0;
        for (c, level, version) in pending {
            let (m, id) = (c.match_id.clone(), c.id.clone());
            let events: Vec<FollowUpEvent> = (c.announced + 1..=level)
                .map(|l| match l {
                    1 => FollowUpEvent::CheckinDue { match_id: m.clone(), check_in_id: id.clone() },
                    2 => FollowUpEvent::CheckinOverdue { match_id: m.clone(), check_in_id: id.clone() },
                    _ => FollowUpEvent::CheckinEscalated { match_id: m.clone(), check_in_id: id.clone() },
                })
                .collect();
            // Lost to an answer or another announcement: the next sweep decides again.
            if self.append(&events, version).await? {
                if level == 3 {
                    tracing::warn!(check_in = %id, organisation = %c.owner_organisation_id, "check-in escalated: overdue past the grace period");
                }
                made += events.len();
            }
        }
        Ok(made)
    }

    /// Figures over the referrals confirmed from the day `from` up to the day `to` (exclusive);
    /// an empty bound is open.
    pub async fn evaluation(&self, from: &str, to: &str) -> Result<Evaluation, Error> {
        let mut v = Vec::new();
        let mut day = |field: &str, s: &str, open: i64| match s.trim() {
            "" => Some(open),
            d => match d.parse::<LocalDate>() {
                Ok(day) => Some(day.start_micros()),
                Err(e) => {
                    v.push(FieldViolation::new(field, e.to_string()));
                    None
                }
            },
        };
        let (from, to) = (day("from", from, i64::MIN), day("to", to, i64::MAX));
        if let (Some(f), Some(t)) = (from, to)
            && f >= t
        {
            v.push(FieldViolation::new("to", "must be a later day than from"));
        }
        let (Some(from), Some(to)) = (from, to) else { return Err(Error::Invalid(v)) };
        if !v.is_empty() {
            return Err(Error::Invalid(v));
        }
        self.catch_up().await?;
        Ok(evaluation::evaluate(&self.state.read(), from, to, &self.config.home_organisation_id))
    }

    /// Open demand against offers per area and need in `region`, and totals per need.
    pub async fn coverage(&self, region: &str, need: &str) -> Result<(Vec<Row>, Vec<Row>), Error> {
        let mut v = Vec::new();
        let range = match region.trim().parse::<PostcodeRange>() {
            Ok(r) if r.to.get() - r.from.get() >= coverage::MAX_AREAS => {
                v.push(FieldViolation::new("region", format!("at most {} postcode areas", coverage::MAX_AREAS)));
                None
            }
            Ok(r) => Some(r),
            Err(e) => {
                v.push(FieldViolation::new("region", e.to_string()));
                None
            }
        };
        let need = need.trim();
        if !need.is_empty() && need.parse::<SupportFunction>().is_err() && need.parse::<SupportKind>().is_err() {
            v.push(FieldViolation::new(
                "need",
                format!("{} is no support function or kind", samenspel_kit::shown(need)),
            ));
        }
        let Some(range) = range.filter(|_| v.is_empty()) else { return Err(Error::Invalid(v)) };
        self.catch_up().await?;
        let need = Some(need).filter(|n| !n.is_empty());
        Ok(coverage::coverage(&self.state.read(), range.from.get(), range.to.get(), need))
    }

    /// The node's log from `from_position` on; turn each event into notices with `notices_at`.
    pub fn watch(&self, from_position: u64) -> Result<Subscription, Error> {
        Ok(self.log.subscribe(SubscribeFrom::origin(self.log.node_id(), from_position.max(1)))?)
    }

    /// The check-ins of `organisation` (and `person`) an event changed, as they are now.
    pub async fn notices_at(
        &self,
        event: &StoredEvent,
        organisation: &str,
        person: &str,
    ) -> Result<Vec<Notice>, Error> {
        let h = &event.header;
        let Some(Ok(decoded)) = event.payload.as_ref().and_then(|p| FollowUpEvent::decode(&h.kind, &p.data)) else {
            return Ok(Vec::new());
        };
        self.state.wait_for(h.seq).await?;
        let now = self.clock.now_micros();
        let state = self.state.read();
        let mine = |c: &&CheckIn| {
            c.owner_organisation_id == organisation.trim()
                && (person.trim().is_empty() || c.owner_person == person.trim())
        };
        let changed: Vec<&CheckIn> = match &decoded {
            FollowUpEvent::CheckinsScheduled { match_id, .. } => {
                state.referral(match_id).map(|r| state.check_ins_of(r).collect()).unwrap_or_default()
            }
            FollowUpEvent::CheckinDue { check_in_id, .. }
            | FollowUpEvent::CheckinOverdue { check_in_id, .. }
            | FollowUpEvent::CheckinEscalated { check_in_id, .. }
            | FollowUpEvent::CheckinAnswered { check_in_id, .. } => state.check_in(check_in_id).into_iter().collect(),
            FollowUpEvent::ReferralFailed { match_id, .. } | FollowUpEvent::ReferralClosed { match_id, .. } => state
                .referral(match_id)
                .map(|r| state.check_ins_of(r).filter(|c| c.cancelled).collect())
                .unwrap_or_default(),
            // The owner of the check-in that comes next hears of it; of a referral without open
            // check-ins, the owner of its last.
            FollowUpEvent::ObservationRecorded { match_id, .. }
            | FollowUpEvent::ObservationReceived { match_id, .. } => state
                .referral(match_id)
                .and_then(|r| {
                    let all: Vec<&CheckIn> = state.check_ins_of(r).collect();
                    all.iter().find(|c| c.is_open()).or(all.last()).copied()
                })
                .into_iter()
                .collect(),
        };
        let observation = match decoded {
            FollowUpEvent::ObservationRecorded { observation, .. }
            | FollowUpEvent::ObservationReceived { observation, .. } => Some(observation),
            _ => None,
        };
        Ok(changed
            .into_iter()
            .filter(mine)
            .map(|c| Notice {
                position: h.seq,
                kind: h.kind.clone(),
                check_in: c.clone(),
                state: self.state_of(c, now),
                observation: observation.clone(),
            })
            .collect())
    }

    /// The referring organisation of a referral: its request's asking organisation, or this
    /// node's own.
    pub(crate) fn referring(config: &FollowUpConfig, r: &Referral) -> String {
        if r.referring_organisation_id.is_empty() {
            config.home_organisation_id.clone()
        } else {
            r.referring_organisation_id.clone()
        }
    }
}
