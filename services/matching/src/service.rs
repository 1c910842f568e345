//! Matching's commands and queries: proposals computed from the read model when asked (so they
//! follow every change); confirmations, picks and answers decided on the read model
//! (`decide.rs`) and appended with the versions they were decided on; a sweeper that sends
//! unanswered matches back after the timeout; and the match stream of an organisation.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use samenspel_domain::{Clock, Complexity};
use samenspel_eventlog::{EventLog, StoredEvent, SubscribeFrom, Subscription};
use samenspel_kit::{Decided, Feed, Runtime, ServiceEvent};

use crate::assign;
use crate::config::MatchingConfig;
use crate::decide;
use crate::error::Error;
use crate::events::MatchingEvent;
use crate::model::{Factor, Match, MatchStatus, Request, Summary};
use crate::reactions::{CURSOR, Follow};
use crate::scoring::{self, Candidate, Scored};
use crate::state::MatchingState;

const PROJECTION: &str = "matching";
/// How long the node hosting an offer waits for the owner's decision on its answer.
const OWNER_DECIDES_WITHIN: Duration = Duration::from_secs(5);

/// A proposal as a coordinator sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    /// Whether the lead takes referrals now, and its expected wait for a waiting list.
    pub availability: crate::model::Availability,
    pub expected_wait_days: u32,
    pub offer_id: String,
    pub organisation_id: String,
    pub support_offer_id: Option<String>,
    pub support_organisation_id: Option<String>,
    pub score: f64,
    pub factors: Vec<Factor>,
    pub token: String,
    pub formal: bool,
}

/// Proposals for a request, its complexity, and notes on what was left out and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposals {
    pub proposals: Vec<Proposal>,
    pub complexity: Complexity,
    pub notes: Vec<String>,
}

/// A backlog assigned: a proposal per assigned request, the total score, and the greedy total.
#[derive(Debug, Clone, PartialEq)]
pub struct Backlog {
    pub assignments: Vec<(String, Proposal)>,
    pub total_score: f64,
    pub greedy_score: f64,
    pub open_requests: usize,
}

/// A change to a match: the log position and kind of its event, and the match now.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchChange {
    pub position: u64,
    pub kind: String,
    pub matched: Match,
    pub summary: Option<Summary>,
}

#[derive(Debug)]
pub struct MatchingService {
    runtime: Runtime<MatchingState>,
    config: MatchingConfig,
    clock: Arc<dyn Clock>,
}

/// The proposal a coordinator sees of a scored lead (and support).
fn proposal(request: &Request, s: Scored<'_>) -> Proposal {
    Proposal {
        availability: s.lead.offer.availability,
        expected_wait_days: s.lead.offer.expected_wait_days,
        offer_id: s.lead.offer.id.clone(),
        organisation_id: s.lead.organisation.id.clone(),
        support_offer_id: s.support.map(|c| c.offer.id.clone()),
        support_organisation_id: s.support.map(|c| c.organisation.id.clone()),
        score: s.score,
        token: decide::token(request, &s.lead, s.support.as_ref()),
        formal: s.lead.organisation.formal,
        factors: s.factors,
    }
}

/// The offers that fit `request`, each with its value, and notes on what was left out.
fn score_all<'a>(
    state: &'a MatchingState,
    request: &Request,
    now: i64,
    notes: &mut Vec<String>,
) -> Vec<(Candidate<'a>, f64)> {
    let mut left_out: BTreeMap<&'static str, usize> = BTreeMap::new();
    let fit: Vec<(Candidate<'a>, f64)> = state
        .fitting(request, now, |why| {
            // Offers far away are the rule, not news.
            if why != "does not serve the postcode" {
                *left_out.entry(why).or_default() += 1;
            }
        })
        .into_iter()
        .map(|c| {
            let score = scoring::value(request, &c);
            (c, score)
        })
        .collect();
    for (why, n) in left_out {
        notes.push(format!("{n} offer{} left out: {why}", if n == 1 { "" } else { "s" }));
    }
    if request.complexity() == Complexity::High {
        notes.push("complex request (high strain): formal offers only, alone or with informal support".into());
    }
    fit
}

/// The open requests in the postcode areas `from..=to` assigned to offers under their capacity
/// so that the total score is as high as possible, with the greedy total beside it; each
/// request's best `k` options are considered. A complex request goes to a formal offer only.
fn backlog(state: &MatchingState, from: u16, to: u16, now: i64, k: usize) -> Backlog {
    let requests = state.open_requests(from, to);
    let mut offers: Vec<Candidate<'_>> = Vec::new();
    let mut offer_index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut problem = assign::Problem { requests: requests.len(), ..Default::default() };
    let mut scored: Vec<(usize, Candidate<'_>, f64)> = Vec::new();
    for (q, request) in requests.iter().enumerate() {
        let complex = request.complexity() == Complexity::High;
        let mut options: Vec<(Candidate<'_>, f64)> = state
            .fitting(request, now, |_| {})
            .into_iter()
            .filter(|c| !complex || c.organisation.formal)
            .map(|c| {
                let score = scoring::value(request, &c);
                (c, score)
            })
            .collect();
        options.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.offer.id.cmp(&b.0.offer.id)));
        options.truncate(k);
        for (c, score) in options {
            let f = *offer_index.entry(c.offer.id.as_str()).or_insert_with(|| {
                offers.push(c);
                offers.len() - 1
            });
            problem.options.push((q, f, (score * 1e6).round() as i64));
            scored.push((q, c, score));
        }
    }
    // The backlog goes to free places only: a waiting list is proposed one by one, with its wait.
    problem.capacity = offers
        .iter()
        .map(|c| if c.offer.availability.needs_room() { c.offer.capacity.saturating_sub(c.used) } else { 0 })
        .collect();
    let best = assign::optimal(&problem);
    let greedy = assign::greedy(&problem);
    let assignments = best
        .chosen
        .iter()
        .enumerate()
        .filter_map(|(q, choice)| {
            let (_, c, _) = &scored[(*choice)?];
            let (score, factors) = scoring::score(&requests[q], c);
            let s = Scored { lead: *c, support: None, score, factors };
            Some((requests[q].id.clone(), proposal(&requests[q], s)))
        })
        .collect();
    Backlog {
        assignments,
        total_score: best.total as f64 / 1e6,
        greedy_score: greedy.total as f64 / 1e6,
        open_requests: requests.len(),
    }
}

fn summary(state: &MatchingState, m: &Match) -> Option<Summary> {
    state.request(&m.request_id).map(Summary::of).or_else(|| m.summary.clone())
}

impl MatchingService {
    /// Restores matching from its snapshot, follows the log, and starts the sweeper.
    pub async fn start(
        log: Arc<dyn EventLog>,
        config: MatchingConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>, Error> {
        let runtime =
            Runtime::<MatchingState>::start(log.clone(), PROJECTION, config.snapshot_every, Feed::All).await?;
        let follow = Follow { log, state: runtime.reader(), clock: clock.clone() };
        runtime.react(CURSOR, Arc::new(follow), Feed::All).await?;
        let service = Arc::new(Self { runtime, config, clock });
        let every = Duration::from_millis(service.config.sweep_interval_millis.max(10));
        service.runtime.sweep(&service, every, "sweeping unanswered matches", |s| async move { s.sweep().await });
        Ok(service)
    }

    /// Stops the sweeper, the reactions and the projection (saving a snapshot); call it before the
    /// log closes.
    pub async fn stop(&self) -> Result<(), Error> {
        Ok(self.runtime.stop().await?)
    }

    /// Ranked proposals for a request, with notes on what was left out.
    pub async fn proposals(&self, request_id: &str, limit: u32) -> Result<Proposals, Error> {
        self.runtime.catch_up().await?;
        let limit = match limit {
            0 => self.config.default_proposals,
            n => n.min(self.config.max_proposals),
        } as usize;
        let state = self.runtime.read();
        let request = state
            .request_for_scoring(request_id)
            .ok_or_else(|| Error::NotFound { what: "request", id: request_id.into() })?;
        let mut notes = Vec::new();
        if !request.intake_open() {
            notes.push(format!("the request is {}: nothing to propose", request.intake_status));
        } else if let Some(m) = state.active_match(request_id) {
            notes.push(format!("the request is matched (match {}): nothing to propose", m.id));
        }
        if !notes.is_empty() {
            return Ok(Proposals { proposals: Vec::new(), complexity: request.complexity(), notes });
        }
        let scored = score_all(&state, &request, self.clock.now_micros(), &mut notes);
        let proposals = scoring::propose(&request, scored, limit).into_iter().map(|s| proposal(&request, s)).collect();
        Ok(Proposals { proposals, complexity: request.complexity(), notes })
    }

    /// Assigns the open requests in the postcode areas `from..=to` to offers under their capacity so
    /// that the total score is as high as possible. A complex request is assigned only to a formal
    /// offer (joint matches are made one by one, with GetProposals). The work (a few hundred
    /// milliseconds for a large backlog) runs off the async workers.
    pub async fn assign_backlog(&self, from: u16, to: u16) -> Result<Backlog, Error> {
        self.runtime.catch_up().await?;
        let (state, now) = (self.runtime.reader(), self.clock.now_micros());
        let k = self.config.backlog_options_per_request.max(1) as usize;
        tokio::task::spawn_blocking(move || backlog(&state.read(), from, to, now, k))
            .await
            .map_err(|e| Error::Log(samenspel_eventlog::Error::Storage(format!("backlog assignment failed: {e}"))))
    }

    /// Confirms the proposal with `token` (see `decide::confirm`).
    pub async fn confirm(&self, request_id: &str, token: &str, by: &str) -> Result<Match, Error> {
        self.runtime.catch_up().await?;
        let (own, now) = (self.runtime.log().node_id(), self.clock.now_micros());
        let (match_id, _) = self.runtime.decide(|s| decide::confirm(s, own, request_id, token, by, now)).await?;
        self.get_match(&match_id)
    }

    /// Picks an offer by hand (see `decide::pick`).
    pub async fn pick(
        &self,
        request_id: &str,
        offer_id: &str,
        lead_offer_id: &str,
        reason: &str,
        by: &str,
    ) -> Result<Match, Error> {
        self.runtime.catch_up().await?;
        let (own, now) = (self.runtime.log().node_id(), self.clock.now_micros());
        let decided =
            self.runtime.decide(|s| decide::pick(s, own, request_id, offer_id, lead_offer_id, reason, by, now));
        let (match_id, _) = decided.await?;
        self.get_match(&match_id)
    }

    pub fn get_match(&self, id: &str) -> Result<Match, Error> {
        let found = self.runtime.read().get_match(id).cloned();
        found.ok_or_else(|| Error::NotFound { what: "match", id: id.into() })
    }

    /// The request behind a match, as the receiving organisation may see it: the summary only,
    /// from the request here or, for another node's match, from its confirmation.
    pub fn summary_of(&self, m: &Match) -> Option<Summary> {
        summary(&self.runtime.read(), m)
    }

    /// The receiving organisation's answer, given on the node that hosts it (see
    /// `decide::answer`). For a match another node owns, this waits briefly for the owner's
    /// decision.
    pub async fn answer(
        &self,
        match_id: &str,
        organisation_id: &str,
        accept: bool,
        reason: &str,
    ) -> Result<Match, Error> {
        self.runtime.catch_up().await?;
        let now = self.clock.now_micros();
        let (owned, _) =
            self.runtime.decide(|s| decide::answer(s, match_id, organisation_id, accept, reason, now)).await?;
        if !owned {
            // The owner decides within a replication round trip when it is reachable.
            let deadline = tokio::time::Instant::now() + OWNER_DECIDES_WITHIN;
            while tokio::time::Instant::now() < deadline && self.get_match(match_id)?.status == MatchStatus::Offered {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        self.get_match(match_id)
    }

    /// Records that the receiving organisation `organisation` was shown match `m` (a caller of it
    /// read the match here), once; the owner sees the receipt. A failure to record it does not
    /// fail the read that showed it: it is logged, and the next read records it.
    pub async fn mark_received(&self, m: &Match, organisation: &str) -> Match {
        if m.received_micros != 0 || m.status != MatchStatus::Offered || !m.addressed_to(organisation) {
            return m.clone();
        }
        let now = self.clock.now_micros();
        if let Err(error) = self.runtime.decide(|s| Ok::<_, Error>(decide::receive(s, &m.id, organisation, now))).await
        {
            tracing::warn!(match_id = %m.id, %error, "could not record the receipt");
        }
        self.get_match(&m.id).unwrap_or_else(|_| m.clone())
    }

    /// Sends every match unanswered for longer than the timeout back to matching.
    pub async fn sweep(&self) -> Result<usize, Error> {
        let timeout = i64::try_from(self.config.answer_timeout_secs).unwrap_or(i64::MAX).saturating_mul(1_000_000);
        let cutoff = self.clock.now_micros().saturating_sub(timeout);
        let due = self.runtime.read().unanswered_before(cutoff);
        let mut expired = 0;
        for m in due {
            let now = self.clock.now_micros();
            let decided = |s: &MatchingState| Ok::<Decided<bool>, Error>(decide::expire(s, &m.id, now));
            if self.runtime.decide(decided).await?.0 {
                tracing::info!(match_id = %m.id, request_id = %m.request_id, "match expired unanswered");
                expired += 1;
            }
        }
        Ok(expired)
    }

    /// Whether the directory (as matching has read it, caught up now) has organisation `id`.
    pub async fn knows_organisation(&self, id: &str) -> Result<bool, Error> {
        self.runtime.catch_up().await?;
        Ok(self.runtime.read().organisation(id).is_some())
    }

    /// The node's log from `from_position` on; turn events into notices with `change_at`.
    pub fn watch(&self, from_position: u64) -> Result<Subscription, Error> {
        let log = self.runtime.log();
        Ok(log.subscribe(SubscribeFrom::origin(log.node_id(), from_position.max(1)))?)
    }

    /// The match change an event made, if it concerns `organisation`.
    pub async fn change_at(&self, event: &StoredEvent, organisation: &str) -> Result<Option<MatchChange>, Error> {
        let h = &event.header;
        if !h.kind.starts_with("matching.match.") {
            return Ok(None);
        }
        let Some(Ok(decoded)) = MatchingEvent::decode_stored(event) else {
            return Ok(None);
        };
        self.runtime.reader().wait_for(h.seq).await?;
        let state = self.runtime.read();
        let Some(m) = state.get_match(decoded.match_id()).filter(|m| m.addressed_to(organisation)) else {
            return Ok(None);
        };
        // A change to another node's match is noticed here under the kind it had there.
        let kind = match &decoded {
            MatchingEvent::Noticed { kind, .. } => kind.clone(),
            _ => h.kind.clone(),
        };
        Ok(Some(MatchChange { position: h.seq, kind, matched: m.clone(), summary: summary(&state, m) }))
    }
}
