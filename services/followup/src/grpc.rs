//! The tonic implementation of `samenspel.v1.FollowUp`, and the protobuf ↔ domain conversions.

use std::sync::Arc;

use samenspel_kit::{Check, MAX_NAME, MAX_TOKEN, Session, WatchStream, accessed, watch_stream};
use samenspel_proto::v1 as pb;
use tonic::{Request, Response, Status};

use crate::coverage::Row;
use crate::error::Error;
use crate::evaluation::Figures;
use crate::model::{
    Answer, CheckIn, CheckInState, ClosureCategory, Observation, Outcome, Referral, ReferralState, Respondent,
};
use crate::service::{FollowUpService, Notice, RawObservation, RawOutcome};

/// The gRPC face of [`FollowUpService`].
#[derive(Debug, Clone)]
pub struct FollowUpGrpc {
    service: Arc<FollowUpService>,
}

impl FollowUpGrpc {
    pub fn new(service: Arc<FollowUpService>) -> Self {
        Self { service }
    }

    pub fn into_server(self) -> pb::follow_up_server::FollowUpServer<Self> {
        pb::follow_up_server::FollowUpServer::new(self)
    }
}

const OUTCOMES: [(pb::Outcome, Outcome); 5] = [
    (pb::Outcome::ContactMade, Outcome::ContactMade),
    (pb::Outcome::NoContactYet, Outcome::NoContactYet),
    (pb::Outcome::GoingWell, Outcome::GoingWell),
    (pb::Outcome::NotGoingWell, Outcome::NotGoingWell),
    (pb::Outcome::Stopped, Outcome::Stopped),
];

const RESPONDENTS: [(pb::Respondent, Respondent); 4] = [
    (pb::Respondent::Client, Respondent::Client),
    (pb::Respondent::Mantelzorger, Respondent::Mantelzorger),
    (pb::Respondent::Volunteer, Respondent::Volunteer),
    (pb::Respondent::Professional, Respondent::Professional),
];

const CATEGORIES: [(pb::ClosureCategory, ClosureCategory); 5] = [
    (pb::ClosureCategory::GoalReached, ClosureCategory::GoalReached),
    (pb::ClosureCategory::PartlyReached, ClosureCategory::PartlyReached),
    (pb::ClosureCategory::NotReached, ClosureCategory::NotReached),
    (pb::ClosureCategory::NoLongerNeeded, ClosureCategory::NoLongerNeeded),
    (pb::ClosureCategory::Other, ClosureCategory::Other),
];

/// The problems of a request, or `Ok`.
fn checked(check: Check) -> Result<(), Status> {
    check.finish().map_err(|v| Status::from(Error::Invalid(v)))
}

/// A check-in's id: its match id, a dash and its step number ("…-2").
fn check_in_id(check: &mut Check, field: &str, id: &str) {
    let well_formed = id.rsplit_once('-').is_some_and(|(m, n)| {
        samenspel_kit::is_id(m) && !n.is_empty() && n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit())
    });
    if id.is_empty() {
        check.bad(field, "must be set");
    } else if !well_formed {
        check.bad(field, "is not a check-in id (a match id, '-' and a number)");
    }
}

/// Whose check-ins a call is about: an organisation, and perhaps one person there.
fn owner(check: &mut Check, organisation_id: &str, person: &str) {
    check.id("organisation_id", organisation_id);
    check.text("person", person, MAX_NAME);
}

/// The domain value of a protobuf enum number; `None` for unspecified or unknown numbers.
fn from_pb<P: TryFrom<i32> + PartialEq + Copy, D: Copy>(table: &[(P, D)], v: i32) -> Option<D> {
    let p = P::try_from(v).ok()?;
    table.iter().find(|(x, _)| *x == p).map(|(_, d)| *d)
}

fn to_pb<P: Copy + Into<i32>, D: PartialEq>(table: &[(P, D)], d: &D) -> i32 {
    table.iter().find(|(_, x)| x == d).map_or(0, |(p, _)| (*p).into())
}

fn check_in_state_pb(s: CheckInState) -> pb::CheckInState {
    match s {
        CheckInState::Upcoming => pb::CheckInState::Upcoming,
        CheckInState::Due => pb::CheckInState::Due,
        CheckInState::Overdue => pb::CheckInState::Overdue,
        CheckInState::Escalated => pb::CheckInState::Escalated,
        CheckInState::Answered => pb::CheckInState::Answered,
        CheckInState::Cancelled => pb::CheckInState::Cancelled,
    }
}

fn referral_state_pb(s: ReferralState) -> pb::ReferralState {
    match s {
        ReferralState::Offered => pb::ReferralState::Offered,
        ReferralState::Active => pb::ReferralState::Active,
        ReferralState::Declined => pb::ReferralState::Declined,
        ReferralState::Expired => pb::ReferralState::Expired,
        ReferralState::Failed => pb::ReferralState::Failed,
        ReferralState::Closed => pb::ReferralState::Closed,
        ReferralState::Ended => pb::ReferralState::Ended,
    }
}

fn answer_pb(a: Answer) -> pb::CheckInAnswer {
    pb::CheckInAnswer {
        outcome: to_pb(&OUTCOMES, &a.outcome),
        answered_by: to_pb(&RESPONDENTS, &a.answered_by),
        notes: a.notes,
        recorded_by: a.recorded_by,
        contact_on: a.contact_on.unwrap_or_default(),
        recorded_micros: a.recorded_micros,
    }
}

fn observation_pb(o: Observation) -> pb::Observation {
    pb::Observation {
        id: o.id,
        organisation_id: o.organisation_id,
        node_id: o.node,
        outcome: to_pb(&OUTCOMES, &o.outcome),
        notes: o.notes,
        recorded_by: o.recorded_by,
        contact_on: o.contact_on.unwrap_or_default(),
        recorded_micros: o.recorded_micros,
    }
}

fn check_in_pb((c, state): (CheckIn, CheckInState)) -> pb::CheckIn {
    pb::CheckIn {
        id: c.id,
        match_id: c.match_id,
        request_id: c.request_id,
        step: c.step,
        question: c.question,
        due_micros: c.due_micros,
        state: check_in_state_pb(state).into(),
        owner_organisation_id: c.owner_organisation_id,
        owner_person: c.owner_person,
        receiving_organisation_id: c.receiving_organisation_id,
        answer: c.answer.map(answer_pb),
    }
}

fn referral_pb((r, check_ins): (Referral, Vec<(CheckIn, CheckInState)>)) -> pb::Referral {
    pb::Referral {
        referring_organisation_id: r.referring_organisation_id,
        id: r.id,
        request_id: r.request_id,
        offer_id: r.offer_id,
        receiving_organisation_id: r.receiving_organisation_id,
        confirmed_by: r.confirmed_by,
        state: referral_state_pb(r.state).into(),
        confirmed_micros: r.confirmed_micros,
        accepted_micros: r.accepted_micros,
        check_ins: check_ins.into_iter().map(check_in_pb).collect(),
        closure: r.closure.map(|c| pb::Closure {
            category: to_pb(&CATEGORIES, &c.category),
            notes: c.notes,
            closed_by: c.closed_by,
            closed_micros: c.closed_micros,
        }),
        failed_with: r.failed_with.map_or(0, |o| to_pb(&OUTCOMES, &o)),
        observations: r.observations.into_iter().map(observation_pb).collect(),
        owner_node_id: r.owner_node,
        received_micros: r.received_micros,
    }
}

fn figures_pb(f: Figures) -> pb::Figures {
    pb::Figures {
        referrals: f.referrals,
        accepted: f.accepted,
        declined: f.declined,
        expired: f.expired,
        pending: f.pending,
        acceptance_rate: f.acceptance_rate,
        with_contact: f.with_contact,
        median_days_to_first_contact: f.median_days_to_first_contact,
        with_progress_answer: f.with_progress_answer,
        going_well_share: f.going_well_share,
        failed: f.failed,
        closures: f
            .closures
            .into_iter()
            .map(|(c, count)| pb::ClosureCount { category: to_pb(&CATEGORIES, &c), count })
            .collect(),
    }
}

fn row_pb(r: Row) -> pb::CoverageRow {
    pb::CoverageRow {
        gap: r.gap(),
        postcode_area: r.area.map(|a| format!("{a:04}")).unwrap_or_default(),
        need: r.need,
        open_requests: r.open_requests,
        offers: r.offers,
        free_places: r.free_places,
    }
}

fn notice_pb(n: Notice) -> pb::CheckInNotice {
    pb::CheckInNotice {
        position: n.position,
        kind: n.kind,
        check_in: Some(check_in_pb((n.check_in, n.state))),
        observation: n.observation.map(observation_pb),
    }
}

/// The access-log subject of a referral or check-in: its request (`request/{id}`), whose client's
/// situation its answers and notes describe.
fn subject(request_id: &str) -> String {
    format!("request/{request_id}")
}

/// A referral as answered, marked for the access log.
fn referral_reply(referral: (Referral, Vec<(CheckIn, CheckInState)>)) -> Response<pb::Referral> {
    let subjects = vec![subject(&referral.0.request_id)];
    accessed(Response::new(referral_pb(referral)), subjects)
}

/// A check-in as answered, marked for the access log.
fn check_in_reply(check_in: (CheckIn, CheckInState)) -> Response<pb::CheckIn> {
    let subjects = vec![subject(&check_in.0.request_id)];
    accessed(Response::new(check_in_pb(check_in)), subjects)
}

#[tonic::async_trait]
impl pb::follow_up_server::FollowUp for FollowUpGrpc {
    async fn list_due(&self, request: Request<pb::ListDueRequest>) -> Result<Response<pb::ListDueResponse>, Status> {
        let r = request.get_ref();
        let mut check = Check::new();
        owner(&mut check, &r.organisation_id, &r.person);
        check.ascii("page_token", &r.page_token, MAX_TOKEN);
        let (due, next) = self
            .service
            .list_due(check, &r.organisation_id, &r.person, r.include_upcoming, r.page_size, &r.page_token)
            .await?;
        let not_received =
            if r.page_token.is_empty() { self.service.not_received(&r.organisation_id, &r.person) } else { Vec::new() };
        let subjects = due
            .iter()
            .map(|(c, _)| subject(&c.request_id))
            .chain(not_received.iter().map(|r| subject(&r.request_id)))
            .collect();
        let answer = pb::ListDueResponse {
            check_ins: due.into_iter().map(check_in_pb).collect(),
            next_page_token: next,
            not_received: not_received.into_iter().map(|r| referral_pb((r, Vec::new()))).collect(),
        };
        Ok(accessed(Response::new(answer), subjects))
    }

    type WatchDueStream = WatchStream<pb::CheckInNotice>;

    async fn watch_due(&self, request: Request<pb::WatchDueRequest>) -> Result<Response<Self::WatchDueStream>, Status> {
        let session = Session::of(&request)?;
        let r = request.into_inner();
        let mut check = Check::new();
        owner(&mut check, &r.organisation_id, &r.person);
        checked(check)?;
        let events = self.service.watch(r.from_position)?;
        let service = self.service.clone();
        let who = Arc::new((r.organisation_id, r.person));
        Ok(Response::new(watch_stream(events, Some(session), move |event| {
            let (service, who) = (service.clone(), who.clone());
            async move {
                let notices = service.notices_at(&event, &who.0, &who.1).await?;
                Ok(notices
                    .into_iter()
                    .map(|n| (vec![subject(&n.check_in.request_id)], n))
                    .map(|(s, n)| (notice_pb(n), s))
                    .collect())
            }
        })))
    }

    async fn get_check_in(&self, request: Request<pb::GetCheckInRequest>) -> Result<Response<pb::CheckIn>, Status> {
        let mut check = Check::new();
        check_in_id(&mut check, "id", &request.get_ref().id);
        checked(check)?;
        Ok(check_in_reply(self.service.check_in(&request.get_ref().id).await?))
    }

    async fn record_outcome(
        &self,
        request: Request<pb::RecordOutcomeRequest>,
    ) -> Result<Response<pb::CheckIn>, Status> {
        let r = request.into_inner();
        let mut check = Check::new();
        check_in_id(&mut check, "check_in_id", &r.check_in_id);
        let raw = RawOutcome {
            outcome: check.known("outcome", r.outcome, from_pb(&OUTCOMES, r.outcome)),
            answered_by: check.known("answered_by", r.answered_by, from_pb(&RESPONDENTS, r.answered_by)),
            check_in_id: r.check_in_id,
            notes: r.notes,
            recorded_by: r.recorded_by,
            contact_on: r.contact_on,
        };
        Ok(check_in_reply(self.service.record_outcome(check, raw).await?))
    }

    async fn get_referral(&self, request: Request<pb::GetReferralRequest>) -> Result<Response<pb::Referral>, Status> {
        let mut check = Check::new();
        check.id("match_id", &request.get_ref().match_id);
        checked(check)?;
        let referral = self.service.referral(&request.get_ref().match_id).await?;
        // A volunteer platform reads only the referrals it receives.
        Session::of(&request)?.for_organisation(&referral.0.receiving_organisation_id)?;
        Ok(referral_reply(referral))
    }

    async fn record_observation(
        &self,
        request: Request<pb::RecordObservationRequest>,
    ) -> Result<Response<pb::Referral>, Status> {
        let mut check = Check::new();
        check.id("match_id", &request.get_ref().match_id);
        // A volunteer platform observes only the referrals it receives; an unknown referral is
        // the service's NOT_FOUND, after every field is checked.
        if check.is_ok()
            && let Ok((referral, _)) = self.service.referral(&request.get_ref().match_id).await
        {
            Session::of(&request)?.for_organisation(&referral.receiving_organisation_id)?;
        }
        let r = request.into_inner();
        let raw = RawObservation {
            outcome: check.known("outcome", r.outcome, from_pb(&OUTCOMES, r.outcome)),
            match_id: r.match_id,
            notes: r.notes,
            recorded_by: r.recorded_by,
            contact_on: r.contact_on,
        };
        Ok(referral_reply(self.service.record_observation(check, raw).await?))
    }

    async fn close_referral(
        &self,
        request: Request<pb::CloseReferralRequest>,
    ) -> Result<Response<pb::Referral>, Status> {
        let r = request.get_ref();
        let mut check = Check::new();
        check.id("match_id", &r.match_id);
        let category = check.known("category", r.category, from_pb(&CATEGORIES, r.category));
        let referral = self.service.close_referral(check, &r.match_id, category, &r.notes, &r.closed_by).await?;
        Ok(referral_reply(referral))
    }

    async fn get_evaluation(
        &self,
        request: Request<pb::GetEvaluationRequest>,
    ) -> Result<Response<pb::Evaluation>, Status> {
        let r = request.get_ref();
        let e = self.service.evaluation(&r.from, &r.to).await?;
        let organisations = |rows: Vec<(String, Figures)>| {
            rows.into_iter()
                .map(|(organisation_id, f)| pb::OrganisationFigures { organisation_id, figures: Some(figures_pb(f)) })
                .collect()
        };
        Ok(Response::new(pb::Evaluation {
            total: Some(figures_pb(e.total)),
            receiving: organisations(e.receiving),
            referring: organisations(e.referring),
            pairs: e
                .pairs
                .into_iter()
                .map(|((referring, receiving), f)| pb::PairFigures {
                    referring_organisation_id: referring,
                    receiving_organisation_id: receiving,
                    figures: Some(figures_pb(f)),
                })
                .collect(),
        }))
    }

    async fn get_coverage(&self, request: Request<pb::GetCoverageRequest>) -> Result<Response<pb::Coverage>, Status> {
        let r = request.get_ref();
        let (rows, totals) = self.service.coverage(&r.region, &r.need).await?;
        Ok(Response::new(pb::Coverage {
            rows: rows.into_iter().map(row_pb).collect(),
            totals: totals.into_iter().map(row_pb).collect(),
        }))
    }
}
