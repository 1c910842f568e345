//! Matching's commands and queries: proposals computed from the read model when asked (so they
//! follow every change), confirmations and answers appended with the versions they were decided
//! on, and a sweeper that sends unanswered matches back after the timeout.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use samenspel_domain::{Clock, Complexity};
use samenspel_eventlog::{
    Audience, Error as LogError, EventLog, EventRef, ExpectedVersion, Feed, FieldViolation, Hash, NewEvent, NodeId,
    ProjectionHandle, ProjectionReader, StoredEvent, SubscribeFrom, Subscription, TaskHandle, start_projection_of,
    start_sweeper,
};

use crate::assign;
use crate::config::MatchingConfig;
use crate::error::Error;
use crate::events::MatchingEvent;
use crate::model::{Factor, Match, MatchStatus, Request, Summary};
use crate::scoring::{self, Candidate, Scored};
use crate::state::MatchingState;

const PROJECTION: &str = "matching";

/// A proposal as a coordinator sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
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
    log: Arc<dyn EventLog>,
    config: MatchingConfig,
    clock: Arc<dyn Clock>,
    state: ProjectionReader<MatchingState>,
    projection: Mutex<Option<ProjectionHandle<MatchingState>>>,
    sweeper: Mutex<Option<TaskHandle>>,
    reactions: Mutex<Option<TaskHandle>>,
}

/// A proposal's token: which offers, and a hash over the versions of the request and the offers it
/// was made for. Load is not in it: capacity is checked again when the proposal is confirmed.
fn token(request: &Request, lead: &Candidate<'_>, support: Option<&Candidate<'_>>) -> String {
    let ids = format!("{}:{}", lead.offer.id, support.map_or("", |c| c.offer.id.as_str()));
    format!("{}:{ids}", version_hash(request, lead.offer, support.map(|c| c.offer)))
}

fn version_hash(request: &Request, lead: &crate::model::Offer, support: Option<&crate::model::Offer>) -> String {
    let mut h = blake3::Hasher::new_derive_key("samenspel proposal token v1");
    h.update(request.id.as_bytes());
    h.update(&request.version.to_be_bytes());
    for offer in std::iter::once(lead).chain(support) {
        h.update(&[0]);
        h.update(offer.id.as_bytes());
        h.update(&offer.version.to_be_bytes());
    }
    hex::encode(&h.finalize().as_bytes()[..16])
}

impl MatchingService {
    /// Restores matching from its snapshot, follows the log, and starts the sweeper.
    pub async fn start(
        log: Arc<dyn EventLog>,
        config: MatchingConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>, Error> {
        let projection =
            start_projection_of::<MatchingState>(log.clone(), PROJECTION, config.snapshot_every, Feed::All).await?;
        let reactions = crate::reactions::start(log.clone(), projection.reader(), clock.clone()).await?;
        let service = Arc::new(Self {
            log,
            config,
            clock,
            state: projection.reader(),
            projection: Mutex::new(Some(projection)),
            sweeper: Mutex::new(None),
            reactions: Mutex::new(Some(reactions)),
        });
        let every = Duration::from_millis(service.config.sweep_interval_millis.max(10));
        let sweeper = start_sweeper(&service, every, "sweeping unanswered matches", |s| async move { s.sweep().await });
        *service.sweeper.lock().expect("sweeper lock") = Some(sweeper);
        Ok(service)
    }

    /// Stops the sweeper, the reactions and the projection (saving a snapshot); call it before the
    /// log closes.
    pub async fn stop(&self) -> Result<(), Error> {
        let reactions = self.reactions.lock().expect("reactions lock").take();
        if let Some(reactions) = reactions {
            reactions.stop().await;
        }
        let sweeper = self.sweeper.lock().expect("sweeper lock").take();
        if let Some(sweeper) = sweeper {
            sweeper.stop().await;
        }
        let projection = self.projection.lock().expect("projection lock").take();
        if let Some(p) = projection {
            p.stop().await?;
        }
        Ok(())
    }

    /// Waits until the read model has every event the log held when called: a request submitted
    /// or an offer changed just before is seen (other services' writes are applied here later
    /// than there).
    async fn catch_up(&self) -> Result<(), Error> {
        let own = self.log.node_id();
        self.state.wait_for(self.log.head(own).await?.seq).await?;
        // Other nodes' events may wait for their causes: waiting for them is best effort.
        let others: Vec<(NodeId, u64)> =
            self.log.origins().await?.into_iter().filter(|(o, _)| *o != own).map(|(o, h)| (o, h.seq)).collect();
        let _ = tokio::time::timeout(Duration::from_millis(200), self.state.wait_for_all(&others)).await;
        Ok(())
    }

    /// Ranked proposals for a request, with notes on what was left out.
    pub async fn proposals(&self, request_id: &str, limit: u32) -> Result<Proposals, Error> {
        self.catch_up().await?;
        let limit = match limit {
            0 => self.config.default_proposals,
            n => n.min(self.config.max_proposals),
        } as usize;
        let state = self.state.read();
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
        let scored = self.score_all(&state, &request, &mut notes);
        let proposals =
            scoring::propose(&request, scored, limit).into_iter().map(|s| self.proposal(&request, s)).collect();
        Ok(Proposals { proposals, complexity: request.complexity(), notes })
    }

    fn score_all<'a>(
        &self,
        state: &'a MatchingState,
        request: &Request,
        notes: &mut Vec<String>,
    ) -> Vec<(Candidate<'a>, f64)> {
        let now = self.clock.now_micros();
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

    fn proposal(&self, request: &Request, s: Scored<'_>) -> Proposal {
        Proposal {
            offer_id: s.lead.offer.id.clone(),
            organisation_id: s.lead.organisation.id.clone(),
            support_offer_id: s.support.map(|c| c.offer.id.clone()),
            support_organisation_id: s.support.map(|c| c.organisation.id.clone()),
            score: s.score,
            token: token(request, &s.lead, s.support.as_ref()),
            formal: s.lead.organisation.formal,
            factors: s.factors,
        }
    }

    /// Assigns the open requests in the postcode areas `from..=to` to offers under their capacity so
    /// that the total score is as high as possible. A complex request is assigned only to a formal
    /// offer (joint matches are made one by one, with GetProposals).
    pub async fn assign_backlog(&self, from: u16, to: u16) -> Result<Backlog, Error> {
        self.catch_up().await?;
        let state = self.state.read();
        let requests = state.open_requests(from, to);
        let now = self.clock.now_micros();
        let k = self.config.backlog_options_per_request.max(1) as usize;
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
        problem.capacity = offers.iter().map(|c| c.offer.capacity.saturating_sub(c.used)).collect();
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
                Some((requests[q].id.clone(), self.proposal(&requests[q], s)))
            })
            .collect();
        Ok(Backlog {
            assignments,
            total_score: best.total as f64 / 1e6,
            greedy_score: greedy.total as f64 / 1e6,
            open_requests: requests.len(),
        })
    }

    /// Checks the request is open for a match, naming its state when not.
    fn open_request(state: &MatchingState, request_id: &str) -> Result<Request, Error> {
        let request = state
            .request_for_scoring(request_id)
            .ok_or_else(|| Error::NotFound { what: "request", id: request_id.into() })?;
        if !request.intake_open() {
            return Err(Error::NotOpen {
                id: request_id.into(),
                why: format!("the request is {}", request.intake_status),
            });
        }
        if let Some(m) = state.active_match(request_id) {
            return Err(Error::NotOpen {
                id: request_id.into(),
                why: format!("it is already matched (match {})", m.id),
            });
        }
        Ok(request)
    }

    /// Confirms the proposal with `token`: stale when the request or an offer changed since; refused
    /// with the reason when an offer can no longer take it (no room, archived, declined before).
    pub async fn confirm(&self, request_id: &str, token: &str, by: &str) -> Result<Match, Error> {
        let by = by.to_string();
        self.catch_up().await?;
        let bad_token = || Error::Invalid(vec![FieldViolation::new("token", "is not a token from GetProposals")]);
        let mut parts = token.split(':');
        let (Some(hash), Some(lead_id), Some(support_id), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad_token());
        };
        let (events, match_id) = {
            let state = self.state.read();
            let request = Self::open_request(&state, request_id)?;
            let stale = || Error::StaleProposal { request_id: request_id.into() };
            let lead = state.candidate(lead_id).ok_or_else(stale)?;
            let support = match support_id {
                "" => None,
                id => Some(state.candidate(id).ok_or_else(stale)?),
            };
            if version_hash(&request, lead.offer, support.map(|c| c.offer)) != hash {
                return Err(stale());
            }
            let now = self.clock.now_micros();
            for (field, c) in
                std::iter::once(("offer_id", &lead)).chain(support.as_ref().map(|c| ("support_offer_id", c)))
            {
                if let Some(why) = scoring::refusal(&request, c, now) {
                    return Err(Error::Unsuitable { field, offer_id: c.offer.id.clone(), why: why.into() });
                }
            }
            let scored = Self::scored(&request, lead, support);
            self.match_events(&state, &request, &scored, "proposal", String::new(), by)
        };
        self.append_match(events, request_id).await?;
        self.get_match(&match_id)
    }

    /// A lead (with support, for a joint match) scored as a proposal is.
    fn scored<'a>(request: &Request, lead: Candidate<'a>, support: Option<Candidate<'a>>) -> Scored<'a> {
        let (score, factors) = scoring::explain(request, &lead, support.as_ref());
        Scored { lead, support, score, factors }
    }

    /// Picks an offer by hand; it must pass the filter, and a complex request needs a formal lead.
    pub async fn pick(
        &self,
        request_id: &str,
        offer_id: &str,
        lead_offer_id: &str,
        reason: &str,
        by: &str,
    ) -> Result<Match, Error> {
        let (reason, by) = (reason.to_string(), by.to_string());
        self.catch_up().await?;
        let (events, match_id) = {
            let state = self.state.read();
            let request = Self::open_request(&state, request_id)?;
            let now = self.clock.now_micros();
            let check = |id: &str, field: &'static str| -> Result<Candidate<'_>, Error> {
                let c = state.candidate(id).ok_or_else(|| Error::NotFound { what: "offer", id: id.into() })?;
                match scoring::refusal(&request, &c, now) {
                    None => Ok(c),
                    Some(why) => Err(Error::Unsuitable { field, offer_id: id.into(), why: why.into() }),
                }
            };
            let picked = check(offer_id, "offer_id")?;
            let lead_id = lead_offer_id.trim();
            let (lead, support) = match (lead_id.is_empty(), picked.organisation.formal) {
                (true, true) => (picked, None),
                (true, false) if request.complexity() != Complexity::High => (picked, None),
                (true, false) => {
                    let why = "the request is complex: informal help needs a formal lead (lead_offer_id)".to_string();
                    return Err(Error::Unsuitable { field: "offer_id", offer_id: offer_id.into(), why });
                }
                (false, _) => {
                    let lead = check(lead_id, "lead_offer_id")?;
                    if !lead.organisation.formal || picked.organisation.formal {
                        let why = "a joint match has a formal lead and informal support".to_string();
                        return Err(Error::Unsuitable { field: "lead_offer_id", offer_id: lead_id.into(), why });
                    }
                    (lead, Some(picked))
                }
            };
            let scored = Self::scored(&request, lead, support);
            self.match_events(&state, &request, &scored, "manual", reason, by)
        };
        self.append_match(events, request_id).await?;
        self.get_match(&match_id)
    }

    /// The events of a new match: the confirmation on the request's stream and a claim on each
    /// offer's, each with the version it was decided on.
    fn match_events(
        &self,
        state: &MatchingState,
        request: &Request,
        s: &Scored<'_>,
        how: &str,
        reason: String,
        by: String,
    ) -> (Vec<NewEvent>, String) {
        let version = state.request_stream_version(&request.id);
        let mut h = blake3::Hasher::new_derive_key("samenspel match id v1");
        h.update(self.log.node_id().as_bytes());
        h.update(request.id.as_bytes());
        h.update(&version.to_be_bytes());
        let match_id = hex::encode(&h.finalize().as_bytes()[..16]);
        let offers: Vec<&Candidate<'_>> = std::iter::once(&s.lead).chain(s.support.as_ref()).collect();
        let remote = Self::remote_hosts(state, offers.iter().map(|c| c.offer.id.as_str()));
        let mut hosts: Vec<String> = offers.iter().filter_map(|c| state.host_of_offer(&c.offer.id)).collect();
        hosts.sort();
        hosts.dedup();
        // A node hosting an offer applies the confirmation only after the offer as it was
        // confirmed, whatever order its log is replayed in.
        let causes: Vec<EventRef> = offers
            .iter()
            .filter(|c| !Self::hosted_here(state, &c.offer.id))
            .filter_map(|c| c.offer.source.as_ref())
            .filter_map(|(origin, seq, hash)| {
                Some(EventRef { origin: NodeId::from_hex(origin)?, seq: *seq, hash: Hash::from_hex(hash)? })
            })
            .collect();
        let confirmed = MatchingEvent::Confirmed {
            match_id: match_id.clone(),
            request_id: request.id.clone(),
            offer_id: s.lead.offer.id.clone(),
            organisation_id: s.lead.organisation.id.clone(),
            support_offer_id: s.support.map(|c| c.offer.id.clone()),
            support_organisation_id: s.support.map(|c| c.organisation.id.clone()),
            how: how.into(),
            reason,
            confirmed_by: by,
            score: s.score,
            factors: s.factors.clone(),
            at_micros: self.clock.now_micros(),
            // A node hosting an offer sees the consented summary, never names or contact details.
            summary: (!remote.is_empty()).then(|| Box::new(Summary::of(request))),
            hosts,
        };
        let mut events = vec![Self::event_for(&confirmed, version, Self::audience(&remote)).with_causes(causes)];
        // An offer's places are claimed on the node hosting it: here for this node's own offers,
        // by the other node when it accepts.
        for c in offers.into_iter().filter(|c| Self::hosted_here(state, &c.offer.id)) {
            let claim = MatchingEvent::Claimed { offer_id: c.offer.id.clone(), match_id: match_id.clone() };
            events.push(Self::new_event(&claim, state.offer_stream_version(&c.offer.id)));
        }
        (events, match_id)
    }

    async fn append_match(&self, events: Vec<NewEvent>, request_id: &str) -> Result<(), Error> {
        match self.log.append(events).await {
            Ok(appended) => Ok(self.state.wait_for(appended.last().map_or(0, |a| a.seq)).await?),
            // Someone confirmed this request or took the offer's last place meanwhile.
            Err(LogError::WrongExpectedVersion { .. }) => Err(Error::StaleProposal { request_id: request_id.into() }),
            Err(e) => Err(e.into()),
        }
    }

    pub fn get_match(&self, id: &str) -> Result<Match, Error> {
        let found = self.state.read().get_match(id).cloned();
        found.ok_or_else(|| Error::NotFound { what: "match", id: id.into() })
    }

    /// The request behind a match, as the receiving organisation may see it: the summary only,
    /// from the request here or, for another node's match, from its confirmation.
    pub fn summary_of(&self, m: &Match) -> Option<Summary> {
        Self::summary(&self.state.read(), m)
    }

    fn summary(state: &MatchingState, m: &Match) -> Option<Summary> {
        state.request(&m.request_id).map(Summary::of).or_else(|| m.summary.clone())
    }

    /// The receiving organisation's answer, given on the node that hosts it. For a match this
    /// node owns, the answer is decided here: a decline frees the offers and sends the request back
    /// to matching with the lead offer excluded. For a match another node owns, the answer goes to
    /// that node (an acceptance claims the places of the offers hosted here, so none is given out
    /// twice), and the owner decides; this waits briefly for that decision.
    pub async fn answer(
        &self,
        match_id: &str,
        organisation_id: &str,
        accept: bool,
        reason: &str,
    ) -> Result<Match, Error> {
        let reason = reason.to_string();
        self.catch_up().await?;
        let (events, owned) = {
            let state = self.state.read();
            let m = state.get_match(match_id).ok_or_else(|| Error::NotFound { what: "match", id: match_id.into() })?;
            if m.organisation_id != organisation_id.trim() {
                return Err(Error::NotAddressed { match_id: match_id.into(), organisation_id: organisation_id.into() });
            }
            if m.status != MatchStatus::Offered || m.answer_sent.is_some() {
                return Err(Error::Answered { match_id: match_id.into(), status: m.status });
            }
            if !Self::hosted_here(&state, &m.offer_id) {
                let node = state.host_of_offer(&m.offer_id).unwrap_or_default();
                return Err(Error::AnswerElsewhere { match_id: match_id.into(), node });
            }
            let owned = m.owner.is_empty() || m.owner == state.own_hex();
            let version = state.request_stream_version(&m.request_id);
            let at_micros = self.clock.now_micros();
            let (match_id, request_id, offer_id) = (m.id.clone(), m.request_id.clone(), m.offer_id.clone());
            let events = if owned {
                let remote = Self::remote_hosts(&state, m.offers());
                let audience = Self::audience(&remote);
                if accept {
                    let nodes = remote.iter().map(|n| n.to_hex()).collect();
                    let accepted = MatchingEvent::Accepted { match_id, request_id, offer_id, reason, at_micros, nodes };
                    vec![Self::event_for(&accepted, version, audience)]
                } else {
                    let declined = MatchingEvent::Declined { match_id, request_id, reason, at_micros };
                    let mut events = vec![Self::event_for(&declined, version, audience)];
                    events.extend(Self::releases(&state, m));
                    events
                }
            } else {
                // The owner decides; the answer names the confirmation it answers.
                let owner = NodeId::from_hex(&m.owner).into_iter().collect();
                let answer = MatchingEvent::AnswerGiven { match_id, request_id, accept, reason, at_micros };
                let mut answer = Self::event_for(&answer, version, Audience::Nodes(owner));
                if let Some((origin, seq, hash)) = &m.confirmed_at
                    && let (Some(origin), Some(hash)) = (NodeId::from_hex(origin), Hash::from_hex(hash))
                {
                    answer = answer.with_causes(vec![EventRef { origin, seq: *seq, hash }]);
                }
                let mut events = vec![answer];
                if accept {
                    for offer_id in m.offers().filter(|o| Self::hosted_here(&state, o)) {
                        if let Some(c) = state.candidate(offer_id)
                            && c.used >= c.offer.capacity
                        {
                            let why = format!("has no room ({} of {} places taken)", c.used, c.offer.capacity);
                            return Err(Error::Unsuitable { field: "match_id", offer_id: offer_id.into(), why });
                        }
                        let claim = MatchingEvent::Claimed { offer_id: offer_id.into(), match_id: m.id.clone() };
                        events.push(Self::new_event(&claim, state.offer_stream_version(offer_id)));
                    }
                }
                events
            };
            (events, owned)
        };
        match self.log.append(events).await {
            Ok(appended) => self.state.wait_for(appended.last().map_or(0, |a| a.seq)).await?,
            Err(LogError::WrongExpectedVersion { .. }) => {
                let status = self.get_match(match_id)?.status;
                return Err(Error::Answered { match_id: match_id.into(), status });
            }
            Err(e) => return Err(e.into()),
        }
        if !owned {
            // The owner decides within a replication round trip when it is reachable.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while tokio::time::Instant::now() < deadline && self.get_match(match_id)?.status == MatchStatus::Offered {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        self.get_match(match_id)
    }

    /// Whether this node hosts the offer (an offer of unknown host counts as this node's).
    pub(crate) fn hosted_here(state: &MatchingState, offer_id: &str) -> bool {
        state.host_of_offer(offer_id).is_none_or(|h| h == state.own_hex())
    }

    /// The other nodes hosting one of `offers`.
    pub(crate) fn remote_hosts<'a>(state: &MatchingState, offers: impl Iterator<Item = &'a str>) -> Vec<NodeId> {
        let own = state.own_hex();
        let mut nodes: Vec<NodeId> = offers
            .filter_map(|o| state.host_of_offer(o))
            .filter(|h| *h != own)
            .filter_map(|h| NodeId::from_hex(&h))
            .collect();
        nodes.sort();
        nodes.dedup();
        nodes
    }

    /// Who may see a match event: this node only, or also the nodes hosting its offers.
    pub(crate) fn audience(remote: &[NodeId]) -> Audience {
        if remote.is_empty() { Audience::Local } else { Audience::Nodes(remote.to_vec()) }
    }

    /// The releases of the places a match holds on offers hosted here.
    pub(crate) fn releases(state: &MatchingState, m: &Match) -> Vec<NewEvent> {
        m.offers()
            .filter(|offer_id| Self::hosted_here(state, offer_id))
            .map(|offer_id| {
                let release = MatchingEvent::Released { offer_id: offer_id.into(), match_id: m.id.clone() };
                Self::new_event(&release, state.offer_stream_version(offer_id))
            })
            .collect()
    }

    /// Sends every match unanswered for longer than the timeout back to matching.
    pub async fn sweep(&self) -> Result<usize, Error> {
        let timeout = i64::try_from(self.config.answer_timeout_secs).unwrap_or(i64::MAX).saturating_mul(1_000_000);
        let cutoff = self.clock.now_micros().saturating_sub(timeout);
        let due = self.state.read().unanswered_before(cutoff);
        let mut expired = 0;
        for m in due {
            let events = {
                let state = self.state.read();
                let version = state.request_stream_version(&m.request_id);
                let expired = MatchingEvent::Expired {
                    match_id: m.id.clone(),
                    request_id: m.request_id.clone(),
                    at_micros: self.clock.now_micros(),
                };
                // The nodes hosting its offers hear of it, as of every other end of a match.
                let audience = Self::audience(&Self::remote_hosts(&state, m.offers()));
                let mut events = vec![Self::event_for(&expired, version, audience)];
                events.extend(Self::releases(&state, &m));
                events
            };
            match self.log.append(events).await {
                Ok(appended) => {
                    self.state.wait_for(appended.last().map_or(0, |a| a.seq)).await?;
                    tracing::info!(match_id = %m.id, request_id = %m.request_id, "match expired unanswered");
                    expired += 1;
                }
                // Answered meanwhile.
                Err(LogError::WrongExpectedVersion { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(expired)
    }

    /// The node's log from `from_position` on; turn events into notices with `change_at`.
    pub fn watch(&self, from_position: u64) -> Result<Subscription, Error> {
        Ok(self.log.subscribe(SubscribeFrom::origin(self.log.node_id(), from_position.max(1)))?)
    }

    /// The match change an event made, if it concerns `organisation`.
    pub async fn change_at(&self, event: &StoredEvent, organisation: &str) -> Result<Option<MatchChange>, Error> {
        let h = &event.header;
        if !h.kind.starts_with("matching.match.") {
            return Ok(None);
        }
        let Some(Ok(decoded)) = event.payload.as_ref().and_then(|p| MatchingEvent::decode(&h.kind, &p.data)) else {
            return Ok(None);
        };
        self.state.wait_for(h.seq).await?;
        let state = self.state.read();
        let Some(m) = state.get_match(decoded.match_id()).filter(|m| m.addressed_to(organisation)) else {
            return Ok(None);
        };
        // A change to another node's match is noticed here under the kind it had there.
        let kind = match &decoded {
            MatchingEvent::Noticed { kind, .. } => kind.clone(),
            _ => h.kind.clone(),
        };
        Ok(Some(MatchChange { position: h.seq, kind, matched: m.clone(), summary: Self::summary(&state, m) }))
    }

    /// A matching event for this node alone; claims and releases for every node, since they say
    /// only how full an offer is and every node proposes it.
    pub(crate) fn new_event(event: &MatchingEvent, expected: u64) -> NewEvent {
        let audience = match event {
            MatchingEvent::Claimed { .. } | MatchingEvent::Released { .. } => Audience::Federation,
            _ => Audience::Local,
        };
        Self::event_for(event, expected, audience)
    }

    pub(crate) fn event_for(event: &MatchingEvent, expected: u64, audience: Audience) -> NewEvent {
        NewEvent::new(event.stream(), event.kind(), event.encode())
            .expect(ExpectedVersion::Exact(expected))
            .with_audience(audience)
    }
}
