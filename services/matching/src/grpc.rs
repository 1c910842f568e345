//! The tonic implementation of `samenspel.v1.Matching`, and the protobuf ↔ domain conversions.

use std::sync::Arc;

use samenspel_domain::Complexity;
use samenspel_proto::v1 as pb;
use tonic::{Request, Response, Status};

use samenspel_kit::{Check, MAX_NAME, MAX_TEXT, MAX_TOKEN, Session, WatchStream, accessed, watch_stream};

use crate::error::Error;
use crate::model::{Availability, Factor, Match, MatchStatus, Slot, Summary};
use crate::service::{MatchChange, MatchingService, Proposal};

/// The gRPC face of [`MatchingService`].
#[derive(Debug, Clone)]
pub struct MatchingGrpc {
    service: Arc<MatchingService>,
}

impl MatchingGrpc {
    pub fn new(service: Arc<MatchingService>) -> Self {
        Self { service }
    }

    pub fn into_server(self) -> pb::matching_server::MatchingServer<Self> {
        pb::matching_server::MatchingServer::new(self)
    }
}

fn complexity_pb(c: Complexity) -> pb::Complexity {
    match c {
        Complexity::Low => pb::Complexity::Low,
        Complexity::Medium => pb::Complexity::Medium,
        Complexity::High => pb::Complexity::High,
    }
}

fn factors_pb(factors: &[Factor]) -> Vec<pb::Factor> {
    factors
        .iter()
        .map(|f| pb::Factor {
            name: f.name.clone(),
            value: f.value,
            weight: f.weight,
            explanation: f.explanation.clone(),
        })
        .collect()
}

fn proposal_pb(p: Proposal) -> pb::Proposal {
    pb::Proposal {
        offer_id: p.offer_id,
        organisation_id: p.organisation_id,
        support_offer_id: p.support_offer_id.unwrap_or_default(),
        support_organisation_id: p.support_organisation_id.unwrap_or_default(),
        score: p.score,
        factors: factors_pb(&p.factors),
        token: p.token,
        formal: p.formal,
        availability: match p.availability {
            Availability::Available => pb::Availability::Available,
            Availability::Waitlist => pb::Availability::Waitlist,
            Availability::NoCapacity => pb::Availability::NoCapacity,
            Availability::AssessmentRequired => pb::Availability::AssessmentRequired,
        } as i32,
        expected_wait_days: p.expected_wait_days,
    }
}

fn slots_pb(slots: &[Slot]) -> Vec<pb::TimeSlot> {
    let hhmm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
    slots
        .iter()
        .map(|s| pb::TimeSlot { day: i32::from(s.day) + 1, start: hhmm(s.start_minutes), end: hhmm(s.end_minutes) })
        .collect()
}

/// What the receiving organisation may know of the request: no names, no contact details.
fn summary_pb(request_id: &str, r: &Summary) -> pb::HelpRequestSummary {
    let urgency = match r.urgency.as_str() {
        "low" => pb::Urgency::Low,
        "high" => pb::Urgency::High,
        _ => pb::Urgency::Normal,
    };
    pb::HelpRequestSummary {
        id: request_id.to_string(),
        support_functions: r.functions.clone(),
        support_kinds: r.kinds.clone(),
        postcode_area: format!("{:04}", r.area),
        urgency: urgency.into(),
        wanted_schedule: slots_pb(&r.wanted),
        languages: r.languages.clone(),
        complexity: complexity_pb(r.complexity).into(),
    }
}

fn status_pb(s: MatchStatus) -> pb::MatchStatus {
    match s {
        MatchStatus::Offered => pb::MatchStatus::Offered,
        MatchStatus::Accepted => pb::MatchStatus::Accepted,
        MatchStatus::Declined => pb::MatchStatus::Declined,
        MatchStatus::Expired => pb::MatchStatus::Expired,
        MatchStatus::Failed => pb::MatchStatus::Failed,
        MatchStatus::Ended => pb::MatchStatus::Ended,
    }
}

fn match_pb(m: Match, summary: Option<&Summary>) -> pb::Match {
    pb::Match {
        request: summary.map(|s| summary_pb(&m.request_id, s)),
        owner_node: m.owner,
        answer_pending: m.answer_sent.is_some() && m.status == MatchStatus::Offered,
        client_contact: m.contact.map(|c| pb::ClientContact { name: c.name, phone: c.phone, email: c.email }),
        id: m.id,
        request_id: m.request_id,
        offer_id: m.offer_id,
        organisation_id: m.organisation_id,
        support_offer_id: m.support_offer_id.unwrap_or_default(),
        support_organisation_id: m.support_organisation_id.unwrap_or_default(),
        status: status_pb(m.status).into(),
        how: m.how,
        reason: m.reason,
        confirmed_by: m.confirmed_by,
        score: m.score,
        factors: factors_pb(&m.factors),
        confirmed_micros: m.confirmed_micros,
        answered_micros: m.answered_micros,
        ended_micros: m.ended_micros,
        received_micros: m.received_micros,
    }
}

fn notice_pb(c: MatchChange) -> pb::MatchNotice {
    pb::MatchNotice { position: c.position, kind: c.kind, r#match: Some(match_pb(c.matched, c.summary.as_ref())) }
}

/// The access-log subjects of a match as answered: its request, when the answer carries the
/// client's contact details; none otherwise (a summary names nobody).
fn subjects_of(m: &Match) -> Vec<String> {
    if m.contact.is_some() { vec![format!("request/{}", m.request_id)] } else { Vec::new() }
}

/// The organisations a match is addressed to: its offer's, and its support offer's.
fn addressed_to(m: &Match) -> impl Iterator<Item = &str> {
    std::iter::once(m.organisation_id.as_str()).chain(m.support_organisation_id.as_deref())
}

impl MatchingGrpc {
    fn reply(&self, m: Result<Match, Error>) -> Result<Response<pb::Match>, Status> {
        let m = m?;
        let summary = self.service.summary_of(&m);
        let subjects = subjects_of(&m);
        Ok(accessed(Response::new(match_pb(m, summary.as_ref())), subjects))
    }
}

/// The problems of a request, every field checked before anything is looked up.
fn checked(check: Check) -> Result<(), Status> {
    check.finish().map_err(|v| Status::from(Error::Invalid(v)))
}

/// A proposal's token: `hash:lead:support`, as `GetProposals` gives it.
fn token(check: &mut Check, token: &str) {
    if token.is_empty() {
        check.bad("token", "must be set");
    } else if !check.ascii("token", token, MAX_TOKEN) || token.split(':').count() != 3 {
        check.bad("token", "is not a token from GetProposals");
    }
}

#[tonic::async_trait]
impl pb::matching_server::Matching for MatchingGrpc {
    async fn get_proposals(
        &self,
        request: Request<pb::GetProposalsRequest>,
    ) -> Result<Response<pb::GetProposalsResponse>, Status> {
        let r = request.get_ref();
        let mut check = Check::new();
        check.id("request_id", &r.request_id);
        checked(check)?;
        let p = self.service.proposals(&r.request_id, r.limit).await?;
        Ok(Response::new(pb::GetProposalsResponse {
            proposals: p.proposals.into_iter().map(proposal_pb).collect(),
            complexity: complexity_pb(p.complexity).into(),
            notes: p.notes,
        }))
    }

    async fn confirm_proposal(
        &self,
        request: Request<pb::ConfirmProposalRequest>,
    ) -> Result<Response<pb::Match>, Status> {
        let r = request.get_ref();
        let mut check = Check::new();
        check.id("request_id", &r.request_id);
        token(&mut check, &r.token);
        let by = check.text("confirmed_by", &r.confirmed_by, MAX_NAME);
        checked(check)?;
        self.reply(self.service.confirm(&r.request_id, &r.token, &by).await)
    }

    async fn pick_offer(&self, request: Request<pb::PickOfferRequest>) -> Result<Response<pb::Match>, Status> {
        let r = request.get_ref();
        let mut check = Check::new();
        check.id("request_id", &r.request_id);
        check.id("offer_id", &r.offer_id);
        check.optional_id("lead_offer_id", &r.lead_offer_id);
        let reason = check.required_text("reason", &r.reason, MAX_TEXT);
        let by = check.text("confirmed_by", &r.confirmed_by, MAX_NAME);
        checked(check)?;
        let picked = self.service.pick(&r.request_id, &r.offer_id, &r.lead_offer_id, &reason, &by).await;
        self.reply(picked)
    }

    async fn accept_match(&self, request: Request<pb::AnswerMatchRequest>) -> Result<Response<pb::Match>, Status> {
        self.answer(&request, true).await
    }

    async fn decline_match(&self, request: Request<pb::AnswerMatchRequest>) -> Result<Response<pb::Match>, Status> {
        self.answer(&request, false).await
    }

    async fn get_match(&self, request: Request<pb::GetMatchRequest>) -> Result<Response<pb::Match>, Status> {
        let r = request.get_ref();
        let mut check = Check::new();
        check.id("match_id", &r.match_id);
        checked(check)?;
        let found = self.service.get_match(&r.match_id)?;
        // A volunteer platform sees only the matches addressed to its own organisation.
        let session = Session::of(&request)?;
        session.for_any_organisation(addressed_to(&found))?;
        // Shown to a caller of the receiving organisation: that is the receipt.
        let found = match session.caller.organisation.as_deref() {
            Some(org) => self.service.mark_received(&found, org).await,
            None => found,
        };
        self.reply(Ok(found))
    }

    async fn assign_backlog(
        &self,
        request: Request<pb::AssignBacklogRequest>,
    ) -> Result<Response<pb::AssignBacklogResponse>, Status> {
        let region = request.get_ref().region.trim();
        let mut check = Check::new();
        let range = match region.parse::<samenspel_domain::PostcodeRange>() {
            Ok(range) => Some(range),
            Err(e) => {
                check.bad("region", e.to_string());
                None
            }
        };
        checked(check)?;
        let Some(range) = range else { return Err(Status::internal("a checked region parses")) };
        let backlog = self.service.assign_backlog(range.from.get(), range.to.get()).await?;
        Ok(Response::new(pb::AssignBacklogResponse {
            assignments: backlog
                .assignments
                .into_iter()
                .map(|(request_id, p)| pb::Assignment { request_id, proposal: Some(proposal_pb(p)) })
                .collect(),
            total_score: backlog.total_score,
            greedy_score: backlog.greedy_score,
            open_requests: u32::try_from(backlog.open_requests).unwrap_or(u32::MAX),
        }))
    }

    type WatchMatchesStream = WatchStream<pb::MatchNotice>;

    async fn watch_matches(
        &self,
        request: Request<pb::WatchMatchesRequest>,
    ) -> Result<Response<Self::WatchMatchesStream>, Status> {
        let mut check = Check::new();
        check.id("organisation_id", &request.get_ref().organisation_id);
        checked(check)?;
        let session = Session::of(&request)?;
        session.for_organisation(&request.get_ref().organisation_id)?;
        let r = request.into_inner();
        // A stream for an organisation the directory does not have would wait forever.
        if !self.service.knows_organisation(&r.organisation_id).await? {
            return Err(Error::NotFound { what: "organisation", id: r.organisation_id }.into());
        }
        let events = self.service.watch(r.from_position)?;
        let service = self.service.clone();
        let organisation = Arc::new(r.organisation_id);
        // A caller of the organisation itself is shown what the stream carries: the receipt.
        let shown = session.caller.organisation.as_deref() == Some(organisation.as_str());
        Ok(Response::new(watch_stream(events, Some(session), move |event| {
            let (service, organisation) = (service.clone(), organisation.clone());
            async move {
                let Some(mut change) = service.change_at(&event, &organisation).await? else { return Ok(Vec::new()) };
                if shown {
                    change.matched = service.mark_received(&change.matched, &organisation).await;
                }
                let subjects = subjects_of(&change.matched);
                Ok(vec![(notice_pb(change), subjects)])
            }
        })))
    }
}

impl MatchingGrpc {
    async fn answer(
        &self,
        request: &Request<pb::AnswerMatchRequest>,
        accept: bool,
    ) -> Result<Response<pb::Match>, Status> {
        let r = request.get_ref();
        let mut check = Check::new();
        check.id("match_id", &r.match_id);
        check.id("organisation_id", &r.organisation_id);
        let reason = check.text("reason", &r.reason, MAX_TEXT);
        checked(check)?;
        // A volunteer platform answers for its own organisation only.
        Session::of(request)?.for_organisation(&r.organisation_id)?;
        self.reply(self.service.answer(&r.match_id, &r.organisation_id, accept, &reason).await)
    }
}
