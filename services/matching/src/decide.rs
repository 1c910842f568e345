//! Matching's decisions: given the read model and what was asked (a confirmation, a pick, an
//! answer) or what happened (the follow-up ended a match, another node answered, the owner
//! changed a match hosted here), the events to append — each with the version of its stream it
//! was decided on — or why not. Pure: commands (`service.rs`), reactions (`reactions.rs`) and the
//! sweeper decide here, and the runtime decides again when a racing writer got there first.

use samenspel_domain::Complexity;
use samenspel_eventlog::{Audience, EventRef, ExpectedVersion, Hash, NewEvent, NodeId, StoredEvent};
use samenspel_kit::{Decided, ServiceEvent, derived_id};

use crate::error::Error;
use crate::events::MatchingEvent;
use crate::inputs::Ended;
use crate::model::{Match, MatchStatus, Offer, Request, Summary};
use crate::scoring::{self, Candidate, Scored};
use crate::state::MatchingState;

/// A proposal's token: which offers, and a hash over the versions of the request and the offers it
/// was made for. Load is not in it: capacity is checked again when the proposal is confirmed.
pub(crate) fn token(request: &Request, lead: &Candidate<'_>, support: Option<&Candidate<'_>>) -> String {
    let ids = format!("{}:{}", lead.offer.id, support.map_or("", |c| c.offer.id.as_str()));
    format!("{}:{ids}", version_hash(request, lead.offer, support.map(|c| c.offer)))
}

fn version_hash(request: &Request, lead: &Offer, support: Option<&Offer>) -> String {
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

/// A lead (with support, for a joint match) scored as a proposal is.
pub(crate) fn scored<'a>(request: &Request, lead: Candidate<'a>, support: Option<Candidate<'a>>) -> Scored<'a> {
    let (score, factors) = scoring::explain(request, &lead, support.as_ref());
    Scored { lead, support, score, factors }
}

/// The request, if it is open for a match; otherwise why not.
pub(crate) fn open_request(state: &MatchingState, request_id: &str) -> Result<Request, Error> {
    let request = state
        .request_for_scoring(request_id)
        .ok_or_else(|| Error::NotFound { what: "request", id: request_id.into() })?;
    if !request.intake_open() {
        return Err(Error::NotOpen { id: request_id.into(), why: format!("the request is {}", request.intake_status) });
    }
    if let Some(m) = state.active_match(request_id) {
        return Err(Error::NotOpen { id: request_id.into(), why: format!("it is already matched (match {})", m.id) });
    }
    Ok(request)
}

/// Confirms the proposal with `token`: stale when the request or an offer changed since; refused
/// with the reason when an offer can no longer take it (no room, archived, declined before).
/// The decision's value is the new match's id.
pub(crate) fn confirm(
    state: &MatchingState,
    own: NodeId,
    request_id: &str,
    token: &str,
    by: &str,
    now: i64,
) -> Result<Decided<String>, Error> {
    let bad_token =
        || Error::Invalid(vec![samenspel_eventlog::FieldViolation::new("token", "is not a token from GetProposals")]);
    let mut parts = token.split(':');
    let (Some(hash), Some(lead_id), Some(support_id), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad_token());
    };
    let request = open_request(state, request_id)?;
    let stale = || Error::StaleProposal { request_id: request_id.into() };
    let lead = state.candidate(lead_id).ok_or_else(stale)?;
    let support = match support_id {
        "" => None,
        id => Some(state.candidate(id).ok_or_else(stale)?),
    };
    if version_hash(&request, lead.offer, support.map(|c| c.offer)) != hash {
        return Err(stale());
    }
    for (field, c) in std::iter::once(("offer_id", &lead)).chain(support.as_ref().map(|c| ("support_offer_id", c))) {
        if let Some(why) = scoring::refusal(&request, c, now) {
            return Err(Error::Unsuitable { field, offer_id: c.offer.id.clone(), why: why.into() });
        }
    }
    let scored = scored(&request, lead, support);
    Ok(match_events(state, own, &request, &scored, "proposal", String::new(), by.to_string(), now))
}

/// Picks an offer by hand; it must pass the filter, and a complex request needs a formal lead.
#[allow(clippy::too_many_arguments)]
pub(crate) fn pick(
    state: &MatchingState,
    own: NodeId,
    request_id: &str,
    offer_id: &str,
    lead_offer_id: &str,
    reason: &str,
    by: &str,
    now: i64,
) -> Result<Decided<String>, Error> {
    let request = open_request(state, request_id)?;
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
    let scored = scored(&request, lead, support);
    Ok(match_events(state, own, &request, &scored, "manual", reason.to_string(), by.to_string(), now))
}

/// The events of a new match: the confirmation on the request's stream and a claim on each
/// offer's hosted here, each with the version it was decided on. A confirmation of an offer
/// another node hosts names that offer's directory event as its cause and says where its offers
/// are hosted, so every node applies it after the offer, whatever order it replays its log in.
#[allow(clippy::too_many_arguments)]
fn match_events(
    state: &MatchingState,
    own: NodeId,
    request: &Request,
    s: &Scored<'_>,
    how: &str,
    reason: String,
    by: String,
    now: i64,
) -> Decided<String> {
    let version = state.request_stream_version(&request.id);
    let match_id =
        derived_id("samenspel match id v1", &[own.as_bytes(), request.id.as_bytes(), &version.to_be_bytes()]);
    let offers: Vec<&Candidate<'_>> = std::iter::once(&s.lead).chain(s.support.as_ref()).collect();
    let remote = remote_hosts(state, offers.iter().map(|c| c.offer.id.as_str()));
    let mut hosts: Vec<String> = offers.iter().filter_map(|c| state.host_of_offer(&c.offer.id)).collect();
    hosts.sort();
    hosts.dedup();
    let causes: Vec<EventRef> = offers
        .iter()
        .filter(|c| !hosted_here(state, &c.offer.id))
        .filter_map(|c| c.offer.source.as_ref())
        .filter_map(|(origin, seq, hash)| {
            Some(EventRef { origin: NodeId::from_hex(origin)?, seq: *seq, hash: Hash::from_hex(hash)? })
        })
        .collect();
    let (reason, reason_subject) = state.reason_about_request(&request.id, &reason);
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
        at_micros: now,
        // A node hosting an offer sees the consented summary, never names or contact details.
        summary: (!remote.is_empty()).then(|| Box::new(Summary::of(request))),
        hosts,
        reason_subject,
    };
    let mut events = vec![event_for(&confirmed, version, audience(&remote)).with_causes(causes)];
    // An offer's places are claimed on the node hosting it: here for this node's own offers,
    // by the other node when it accepts.
    for c in offers.into_iter().filter(|c| hosted_here(state, &c.offer.id)) {
        let claim = MatchingEvent::Claimed { offer_id: c.offer.id.clone(), match_id: match_id.clone() };
        events.push(claim.to_new(ExpectedVersion::Exact(state.offer_stream_version(&c.offer.id))));
    }
    Decided::new(events, match_id)
}

/// The receiving organisation's answer, given on the node that hosts it. For a match this node
/// owns, the answer is decided here: a decline frees the offers (the request goes back to matching
/// with the lead offer excluded). For a match another node owns, the answer goes to that node (an
/// acceptance claims the places of the offers hosted here, so none is given out twice), and the
/// owner decides. The decision's value says whether this node owns the match.
pub(crate) fn answer(
    state: &MatchingState,
    match_id: &str,
    organisation_id: &str,
    accept: bool,
    reason: &str,
    now: i64,
) -> Result<Decided<bool>, Error> {
    let m = state.get_match(match_id).ok_or_else(|| Error::NotFound { what: "match", id: match_id.into() })?;
    if m.organisation_id != organisation_id.trim() {
        return Err(Error::NotAddressed { match_id: match_id.into(), organisation_id: organisation_id.into() });
    }
    if m.status != MatchStatus::Offered || m.answer_sent.is_some() {
        return Err(Error::Answered { match_id: match_id.into(), status: m.status });
    }
    if !hosted_here(state, &m.offer_id) {
        let node = state.host_of_offer(&m.offer_id).unwrap_or_default();
        return Err(Error::AnswerElsewhere { match_id: match_id.into(), node });
    }
    let owned = m.owner.is_empty() || m.owner == state.own_hex();
    let version = state.request_stream_version(&m.request_id);
    let (match_id, request_id, offer_id) = (m.id.clone(), m.request_id.clone(), m.offer_id.clone());
    if owned {
        let (reason, reason_subject) = state.reason_about_request(&request_id, reason);
        let remote = remote_hosts(state, m.offers());
        let audience = audience(&remote);
        let events = if accept {
            let nodes = remote.iter().map(|n| n.to_hex()).collect();
            let accepted = MatchingEvent::Accepted {
                match_id,
                request_id,
                offer_id,
                reason,
                at_micros: now,
                nodes,
                reason_subject,
            };
            vec![event_for(&accepted, version, audience)]
        } else {
            let declined = MatchingEvent::Declined { match_id, request_id, reason, at_micros: now, reason_subject };
            let mut events = vec![event_for(&declined, version, audience)];
            events.extend(releases(state, m));
            events
        };
        return Ok(Decided::new(events, true));
    }
    // The owner decides; the answer names the confirmation it answers.
    let owner = NodeId::from_hex(&m.owner).into_iter().collect();
    let (reason, reason_subject) = state.reason_about_match(m, reason);
    let given = MatchingEvent::AnswerGiven { match_id, request_id, accept, reason, at_micros: now, reason_subject };
    let mut answer = event_for(&given, version, Audience::Nodes(owner));
    if let Some((origin, seq, hash)) = &m.confirmed_at
        && let (Some(origin), Some(hash)) = (NodeId::from_hex(origin), Hash::from_hex(hash))
    {
        answer = answer.with_causes(vec![EventRef { origin, seq: *seq, hash }]);
    }
    let mut events = vec![answer];
    if accept {
        for offer_id in m.offers().filter(|o| hosted_here(state, o)) {
            if let Some(c) = state.candidate(offer_id)
                && c.offer.availability.needs_room()
                && c.used >= c.offer.capacity
            {
                let why = format!("has no room ({} of {} places taken)", c.used, c.offer.capacity);
                return Err(Error::Unsuitable { field: "match_id", offer_id: offer_id.into(), why });
            }
            let claim = MatchingEvent::Claimed { offer_id: offer_id.into(), match_id: m.id.clone() };
            events.push(claim.to_new(ExpectedVersion::Exact(state.offer_stream_version(offer_id))));
        }
    }
    Ok(Decided::new(events, false))
}

/// A match of this node's that nobody answered in time: it expires, its places are freed, and the
/// nodes hosting its offers hear of it. Nothing when it was answered meanwhile.
pub(crate) fn expire(state: &MatchingState, match_id: &str, now: i64) -> Decided<bool> {
    let Some(m) = state.get_match(match_id).filter(|m| m.status == MatchStatus::Offered) else {
        return Decided::nothing(false);
    };
    let expired = MatchingEvent::Expired { match_id: m.id.clone(), request_id: m.request_id.clone(), at_micros: now };
    let version = state.request_stream_version(&m.request_id);
    let mut events = vec![event_for(&expired, version, audience(&remote_hosts(state, m.offers())))];
    events.extend(releases(state, m));
    Decided::new(events, true)
}

/// The follow-up or the intake ended a match this node owns: it fails (not going well, stopped)
/// or ends (closed, or the request closed or withdrawn), and its places here are freed.
pub(crate) fn end(state: &MatchingState, ended: &Ended, now: i64) -> Decided<()> {
    let m = match ended {
        Ended::ReferralFailed { match_id, .. } | Ended::ReferralClosed { match_id, .. } => state.get_match(match_id),
        Ended::RequestClosed { id } | Ended::RequestWithdrawn { id } => state.active_match(id),
    };
    let Some(m) = m.filter(|m| m.status.is_active() && (m.owner.is_empty() || m.owner == state.own_hex())) else {
        return Decided::nothing(());
    };
    let (match_id, request_id) = (m.id.clone(), m.request_id.clone());
    let ending = match ended {
        Ended::ReferralFailed { outcome, .. } => MatchingEvent::Failed {
            match_id,
            request_id,
            offer_id: m.offer_id.clone(),
            reason: format!("follow-up: {}", outcome.replace('_', " ")),
            at_micros: now,
        },
        Ended::ReferralClosed { category, .. } => MatchingEvent::Ended {
            match_id,
            request_id,
            reason: format!("follow-up closed the referral: {}", category.replace('_', " ")),
            at_micros: now,
        },
        Ended::RequestClosed { .. } => {
            MatchingEvent::Ended { match_id, request_id, reason: "the request was closed".into(), at_micros: now }
        }
        Ended::RequestWithdrawn { .. } => {
            MatchingEvent::Ended { match_id, request_id, reason: "the request was withdrawn".into(), at_micros: now }
        }
    };
    Decided::new(owner_decides(state, m, &ending, None), ())
}

/// The node hosting a matched offer answered (`answer` at `cause`); this node owns the match and
/// decides: accepted, or declined with its places here freed. Nothing when the answer is not the
/// lead offer's host's, or the match was decided meanwhile (expired).
pub(crate) fn decide_answer(
    state: &MatchingState,
    from: NodeId,
    cause: EventRef,
    match_id: &str,
    accept: bool,
    reason: &str,
    now: i64,
) -> Decided<()> {
    let Some(m) = state.get_match(match_id) else { return Decided::nothing(()) };
    let owned = m.owner.is_empty() || m.owner == state.own_hex();
    if !owned || m.status != MatchStatus::Offered || state.host_of_offer(&m.offer_id) != Some(from.to_hex()) {
        return Decided::nothing(());
    }
    let (match_id, request_id) = (m.id.clone(), m.request_id.clone());
    // The partner's reason, taken over here under the client's own key.
    let (reason, reason_subject) = state.reason_about_request(&request_id, reason);
    let decision = if accept {
        let nodes = remote_hosts(state, m.offers()).iter().map(|n| n.to_hex()).collect();
        let offer_id = m.offer_id.clone();
        MatchingEvent::Accepted { match_id, request_id, offer_id, reason, at_micros: now, nodes, reason_subject }
    } else {
        MatchingEvent::Declined { match_id, request_id, reason, at_micros: now, reason_subject }
    };
    Decided::new(owner_decides(state, m, &decision, Some(cause)), ())
}

/// The owner changed a match concerning an offer hosted here (`changed`, its event): the change
/// gets a position in this node's log for `WatchMatches` (naming what it notices as its cause),
/// and once the match is over the places this node claimed when it accepted are free.
/// The receipt of match `match_id` by `organisation_id`, when a caller of that organisation is
/// shown it here: once, while it waits for an answer. For another node's match the owner is the
/// only other node that gets it.
pub(crate) fn receive(state: &MatchingState, match_id: &str, organisation_id: &str, now: i64) -> Decided<()> {
    let Some(m) = state.get_match(match_id) else { return Decided::nothing(()) };
    if m.received_micros != 0 || m.status != MatchStatus::Offered || !m.addressed_to(organisation_id) {
        return Decided::nothing(());
    }
    let audience = match NodeId::from_hex(&m.owner) {
        Some(owner) if m.owner != state.own_hex() => Audience::Nodes(vec![owner]),
        _ => Audience::Local,
    };
    let received = MatchingEvent::Received {
        match_id: m.id.clone(),
        request_id: m.request_id.clone(),
        organisation_id: organisation_id.to_string(),
        at_micros: now,
    };
    Decided::new(vec![event_for(&received, 0, audience)], ())
}

pub(crate) fn notice(state: &MatchingState, changed: &StoredEvent, match_id: &str) -> Decided<()> {
    let h = &changed.header;
    let Some(m) = state.get_match(match_id) else { return Decided::nothing(()) };
    if m.owner != h.origin.to_hex() || !m.hosts.contains(&state.own_hex()) {
        return Decided::nothing(());
    }
    let id = format!("{}/{}/{}", crate::events::NOTICED, h.origin.to_hex(), h.seq);
    let noticed =
        MatchingEvent::Noticed { match_id: m.id.clone(), kind: h.kind.clone(), request_id: m.request_id.clone() };
    let cause = EventRef { origin: h.origin, seq: h.seq, hash: changed.hash };
    let mut events = vec![noticed.to_new(ExpectedVersion::Any).with_id(id.clone()).with_causes(vec![cause])];
    if !m.status.is_active() && m.answer_sent == Some(true) {
        events.extend(releases(state, m).into_iter().enumerate().map(|(i, e)| e.with_id(format!("{id}/release/{i}"))));
    }
    Decided::new(events, ())
}

/// A node hosting the offer of one of this node's matches recorded its receipt (`received`): the
/// receipt gets a position in this node's log (naming it as its cause), so that the referrer's
/// system following its Tasks (FHIR `WatchTasks`, which follows this node's log) hears of it.
pub(crate) fn notice_receipt(state: &MatchingState, received: &StoredEvent, match_id: &str) -> Decided<()> {
    let h = &received.header;
    let Some(m) = state.get_match(match_id) else { return Decided::nothing(()) };
    if m.owner != state.own_hex() || !m.hosts.contains(&h.origin.to_hex()) {
        return Decided::nothing(());
    }
    let id = format!("{}/{}/{}", crate::events::NOTICED, h.origin.to_hex(), h.seq);
    let noticed =
        MatchingEvent::Noticed { match_id: m.id.clone(), kind: h.kind.clone(), request_id: m.request_id.clone() };
    let cause = EventRef { origin: h.origin, seq: h.seq, hash: received.hash };
    Decided::new(vec![noticed.to_new(ExpectedVersion::Any).with_id(id).with_causes(vec![cause])], ())
}

/// An owner's decision on one of its matches, with the releases of the places held here when it
/// ends the match; seen by the nodes hosting its offers. Event ids made from the match make a
/// replay write nothing twice.
fn owner_decides(state: &MatchingState, m: &Match, event: &MatchingEvent, cause: Option<EventRef>) -> Vec<NewEvent> {
    let remote = remote_hosts(state, m.offers());
    let version = state.request_stream_version(&m.request_id);
    let id = format!("{}/{}", event.kind(), m.id);
    let mut decided = event_for(event, version, audience(&remote)).with_id(id.clone());
    if let Some(cause) = cause {
        decided = decided.with_causes(vec![cause]);
    }
    let mut events = vec![decided];
    if !matches!(event, MatchingEvent::Accepted { .. }) {
        events.extend(releases(state, m));
    }
    events.into_iter().enumerate().map(|(i, e)| if i == 0 { e } else { e.with_id(format!("{id}/{i}")) }).collect()
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
fn releases(state: &MatchingState, m: &Match) -> Vec<NewEvent> {
    m.offers()
        .filter(|offer_id| hosted_here(state, offer_id))
        .map(|offer_id| {
            let release = MatchingEvent::Released { offer_id: offer_id.into(), match_id: m.id.clone() };
            release.to_new(ExpectedVersion::Exact(state.offer_stream_version(offer_id)))
        })
        .collect()
}

/// `event` on its stream at `expected`, for `audience`.
fn event_for(event: &MatchingEvent, expected: u64, audience: Audience) -> NewEvent {
    event.to_new(ExpectedVersion::Exact(expected)).with_audience(audience)
}
