//! The follow-up's commands and queries. Commands check input and state, append with the
//! referral stream's version (so of two racing answers one wins) and wait until the projection
//! has applied them; queries read the projection with the clock's time. Alongside run the
//! reaction that schedules check-ins for accepted matches (`reactions.rs`) and the sweeper that
//! announces what became due, overdue or escalated.

use std::sync::Arc;
use std::time::Duration;

use samenspel_domain::{Clock, LocalDate, PostcodeRange, SupportFunction, SupportKind};
use samenspel_eventlog::{EventLog, FieldViolation, StoredEvent, SubscribeFrom, Subscription};
use samenspel_kit::{Check, Feed, Runtime, ServiceEvent, page_size};

use crate::config::FollowUpConfig;
use crate::coverage::{self, Row};
use crate::decide;
use crate::error::Error;
use crate::evaluation::{self, Evaluation};
use crate::events::FollowUpEvent;
use crate::model::{
    CheckIn, CheckInState, ClosureCategory, Observation, OpenCheckIns, Outcome, Referral, ReferralState, Respondent,
};
use crate::reactions::{CURSOR, ERASURE_CURSOR, ForgetNotes, Schedule};
use crate::state::FollowUpState;

const PROJECTION: &str = "followup";
const MAX_NOTES: usize = 2000;
const MAX_NAME: usize = 200;

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
    runtime: Runtime<FollowUpState>,
    config: FollowUpConfig,
    clock: Arc<dyn Clock>,
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

impl FollowUpService {
    /// Restores the follow-up from its snapshot, follows the log, and starts the reaction that
    /// schedules check-ins and the sweeper.
    pub async fn start(
        log: Arc<dyn EventLog>,
        config: FollowUpConfig,
        clock: Arc<dyn Clock>,
        keys: Option<Arc<samenspel_keys::KeyStore>>,
    ) -> Result<Arc<Self>, Error> {
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(Error::Config(problems));
        }
        let runtime =
            Runtime::<FollowUpState>::start(log.clone(), PROJECTION, config.snapshot_every, Feed::All).await?;
        if let Some(keys) = keys {
            let forget = ForgetNotes { log: log.clone(), state: runtime.reader(), keys };
            runtime.react(ERASURE_CURSOR, Arc::new(forget), Feed::All).await?;
        }
        let schedule = Schedule { log, state: runtime.reader(), config: config.clone() };
        runtime.react(CURSOR, Arc::new(schedule), Feed::All).await?;
        let service = Arc::new(Self { runtime, config, clock });
        let every = Duration::from_millis(service.config.sweep_interval_millis.max(10));
        service.runtime.sweep(&service, every, "announcing due check-ins", |s| async move { s.sweep().await });
        Ok(service)
    }

    /// Stops the sweeper, the reaction and the projection (saving a snapshot); call it before the
    /// log closes.
    pub async fn stop(&self) -> Result<(), Error> {
        Ok(self.runtime.stop().await?)
    }

    /// Waits until the read model has every event the log held when called, so a referral
    /// accepted a moment ago is found — here, or on the node hosting the receiving organisation
    /// once the owner's acceptance has arrived.
    async fn catch_up(&self) -> Result<(), Error> {
        Ok(self.runtime.catch_up().await?)
    }

    fn state_of(&self, c: &CheckIn, now: i64) -> CheckInState {
        decide::state_of(&self.config, c, now)
    }

    pub fn now_micros(&self) -> i64 {
        self.clock.now_micros()
    }

    /// The check-ins of `organisation` (and `person`, if given) that are due, overdue or
    /// escalated — and upcoming ones too when asked — earliest first, a page at a time.
    /// `check` holds what the edge found wrong with the ids already.
    /// The referrals of `organisation` (and `person`, when named) that their receiving
    /// organisation has not been shown `not_received_after_hours` after they were made and has not
    /// answered, oldest first. Call after `list_due` (which catches up).
    pub fn not_received(&self, organisation: &str, person: &str) -> Vec<Referral> {
        let after =
            i64::try_from(self.config.not_received_after_hours).unwrap_or(i64::MAX).saturating_mul(3_600_000_000);
        let cutoff = self.clock.now_micros().saturating_sub(after);
        let (organisation, person) = (organisation.trim(), person.trim());
        let state = self.runtime.read();
        let mut late: Vec<Referral> = state
            .referrals()
            .filter(|r| r.referring_organisation_id == organisation && (person.is_empty() || r.confirmed_by == person))
            .filter(|r| r.state == ReferralState::Offered && r.received_micros == 0 && r.confirmed_micros <= cutoff)
            .cloned()
            .collect();
        late.sort_by(|a, b| (a.confirmed_micros, &a.id).cmp(&(b.confirmed_micros, &b.id)));
        late
    }

    pub async fn list_due(
        &self,
        mut check: Check,
        organisation: &str,
        person: &str,
        include_upcoming: bool,
        page_size_asked: u32,
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
        let size = page_size(page_size_asked, self.config.default_page_size, self.config.max_page_size);
        let now = self.clock.now_micros();
        let (organisation, person) = (organisation.trim(), person.trim());
        let state = self.runtime.read();
        let mut due: Vec<(CheckIn, CheckInState)> = state
            .open_check_ins()
            .filter(|c| c.owner_organisation_id == organisation && (person.is_empty() || c.owner_person == person))
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

    /// How many check-ins of active referrals on this node are due, overdue and escalated now (as
    /// far as the read model has come), for an operator: counts, nothing of whom they are about.
    pub fn open_check_ins(&self) -> OpenCheckIns {
        let now = self.clock.now_micros();
        let state = self.runtime.read();
        let mut open = OpenCheckIns::default();
        for c in state.open_check_ins() {
            match self.state_of(c, now) {
                CheckInState::Due => open.due += 1,
                CheckInState::Overdue => open.overdue += 1,
                CheckInState::Escalated => open.escalated += 1,
                _ => {}
            }
        }
        open
    }

    pub async fn check_in(&self, id: &str) -> Result<(CheckIn, CheckInState), Error> {
        self.catch_up().await?;
        let found = self.runtime.read().check_in(id).cloned();
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
        let state = self.runtime.read();
        let mut r =
            state.any_referral(id).cloned().ok_or_else(|| Error::NotFound { what: "referral", id: id.into() })?;
        let check_ins = state.check_ins_of(&r).map(|c| (c.clone(), self.state_of(c, now))).collect();
        if r.owner_node.is_empty() {
            r.referring_organisation_id = decide::referring(&self.config.home_organisation_id, &r);
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
        let own = self.runtime.log().node_id().to_hex();
        let now = self.clock.now_micros();
        // A racing observation of the same referral took the number: decided again, numbered after it.
        let decided =
            |s: &FollowUpState| decide::observe(s, &own, &match_id, outcome, &notes, &recorded_by, contact_on, now);
        self.runtime.decide(decided).await?;
        tracing::info!(match_id = %match_id, ?outcome, "observation recorded");
        self.referral(&match_id).await
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
        let now = self.clock.now_micros();
        let config = &self.config;
        let decided = |s: &FollowUpState| {
            decide::answer(s, config, &id, outcome, answered_by, &notes, &recorded_by, contact_on, now)
        };
        if self.runtime.decide(decided).await?.0 {
            tracing::info!(check_in = %id, ?outcome, "referral failed: the request goes back to matching");
        }
        self.check_in(&id).await
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
        let now = self.clock.now_micros();
        self.runtime.decide(|s| decide::close(s, match_id, category, &notes, &closed_by, now)).await?;
        self.referral(match_id).await
    }

    /// Appends the announcements of check-ins that became due, overdue or escalated since the
    /// last sweep; returns how many were made.
    pub async fn sweep(&self) -> Result<usize, Error> {
        let now = self.clock.now_micros();
        let pending: Vec<String> = {
            let state = self.runtime.read();
            state
                .check_ins()
                .filter(|c| c.is_open() && self.state_of(c, now) != CheckInState::Upcoming)
                .map(|c| c.id.clone())
                .collect()
        };
        let mut made = 0;
        for id in pending {
            // Decided on the check-in as it is by then: an answer or another sweep may have come first.
            let decided = |s: &FollowUpState| Ok::<_, Error>(decide::announce(s, &self.config, &id, now));
            let (level, appended) = self.runtime.decide(decided).await?;
            if level == 3 {
                tracing::warn!(check_in = %id, "check-in escalated: overdue past the grace period");
            }
            made += appended.len();
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
        Ok(evaluation::evaluate(&self.runtime.read(), from, to, &self.config.home_organisation_id))
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
        Ok(coverage::coverage(&self.runtime.read(), range.from.get(), range.to.get(), need))
    }

    /// The node's log from `from_position` on; turn each event into notices with `notices_at`.
    pub fn watch(&self, from_position: u64) -> Result<Subscription, Error> {
        let log = self.runtime.log();
        Ok(log.subscribe(SubscribeFrom::origin(log.node_id(), from_position.max(1)))?)
    }

    /// The check-ins of `organisation` (and `person`) an event changed, as they are now.
    pub async fn notices_at(
        &self,
        event: &StoredEvent,
        organisation: &str,
        person: &str,
    ) -> Result<Vec<Notice>, Error> {
        let h = &event.header;
        let Some(Ok(decoded)) = FollowUpEvent::decode_stored(event) else {
            return Ok(Vec::new());
        };
        self.runtime.reader().wait_for(h.seq).await?;
        let now = self.clock.now_micros();
        let state = self.runtime.read();
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
}
