//! Matching answers other services' and other nodes' events through the log:
//!
//! - the follow-up found an accepted match not going well (or stopped): the match fails, its
//!   places are freed, and the request can be matched again without that offer;
//! - the follow-up closed the referral, or the request was closed or withdrawn: the match ends;
//! - (on the owner) the node hosting a matched offer answered: the owner decides, accepted or
//!   declined, in an event of its own;
//! - (on a node hosting a matched offer) the owner changed the match: the change gets a position
//!   in this node's log for WatchMatches, and when the match ended, the places claimed here are
//!   freed.
//!
//! Each answer carries an event id made from what it answers, and is decided on the state after
//! the event, so a replay writes nothing twice.

use std::sync::Arc;

use samenspel_domain::Clock;
use samenspel_eventlog::{
    Error as LogError, EventLog, EventRef, Feed, NewEvent, ProjectionReader, Reaction, StoredEvent, TaskHandle,
    start_reactor_of,
};
use serde::Deserialize;

use crate::events::MatchingEvent;
use crate::model::{Match, MatchStatus};
use crate::service::MatchingService;
use crate::state::MatchingState;

/// The name the position of the reactions is saved under.
const CURSOR: &str = "matching.reactions";

/// The fields of the follow-up's and the intake's events matching needs.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Answered {
    ReferralFailed {
        match_id: String,
        outcome: String,
    },
    ReferralClosed {
        match_id: String,
        category: String,
    },
    Closed {
        id: String,
    },
    Withdrawn {
        id: String,
    },
    #[serde(other)]
    Other,
}

const KINDS: [&str; 4] =
    ["followup.referral.failed", "followup.referral.closed", "intake.request.closed", "intake.request.withdrawn"];

pub(crate) async fn start(
    log: Arc<dyn EventLog>,
    state: ProjectionReader<MatchingState>,
    clock: Arc<dyn Clock>,
) -> Result<TaskHandle, LogError> {
    start_reactor_of(log.clone(), CURSOR, Arc::new(Follow { log, state, clock }), Feed::All).await
}

struct Follow {
    log: Arc<dyn EventLog>,
    state: ProjectionReader<MatchingState>,
    clock: Arc<dyn Clock>,
}

impl Follow {
    /// Appends `events` (decided on the state now) and waits until they are applied; retries when
    /// a racing write moved a stream.
    async fn write(&self, decide: impl Fn(&MatchingState) -> Option<Vec<NewEvent>>) -> Result<(), LogError> {
        for _ in 0..3 {
            let Some(events) = decide(&self.state.read()) else { return Ok(()) };
            if events.is_empty() {
                return Ok(());
            }
            match self.log.append(events).await {
                Ok(appended) => return self.state.wait_for(appended.last().map_or(0, |a| a.seq)).await,
                Err(LogError::WrongExpectedVersion { .. }) => {
                    let head = self.log.head(self.log.node_id()).await?.seq;
                    self.state.wait_for(head).await?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The follow-up or the intake ended a match this node owns.
    async fn end(&self, event: &StoredEvent, answered: Answered) -> Result<(), LogError> {
        let kind = event.header.kind.clone();
        let at_micros = self.clock.now_micros();
        self.write(|state| {
            let m = match &answered {
                Answered::ReferralFailed { match_id, .. } | Answered::ReferralClosed { match_id, .. } => {
                    state.get_match(match_id)
                }
                Answered::Closed { id } | Answered::Withdrawn { id } => state.active_match(id),
                Answered::Other => None,
            };
            let m = m.filter(|m| m.status.is_active() && (m.owner.is_empty() || m.owner == state.own_hex()))?;
            let (match_id, request_id) = (m.id.clone(), m.request_id.clone());
            let ending = match &answered {
                Answered::ReferralFailed { outcome, .. } => MatchingEvent::Failed {
                    match_id,
                    request_id,
                    offer_id: m.offer_id.clone(),
                    reason: format!("follow-up: {}", outcome.replace('_', " ")),
                    at_micros,
                },
                Answered::ReferralClosed { category, .. } => MatchingEvent::Ended {
                    match_id,
                    request_id,
                    reason: format!("follow-up closed the referral: {}", category.replace('_', " ")),
                    at_micros,
                },
                _ => MatchingEvent::Ended {
                    match_id,
                    request_id,
                    reason: format!(
                        "the request was {}",
                        if kind.ends_with("closed") { "closed" } else { "withdrawn" }
                    ),
                    at_micros,
                },
            };
            Some(owner_decides(state, m, &ending, None))
        })
        .await
    }

    /// The node hosting a matched offer answered; this node owns the match and decides.
    async fn decide(&self, event: &StoredEvent, match_id: &str, accept: bool, reason: &str) -> Result<(), LogError> {
        let from = event.header.origin.to_hex();
        let cause = EventRef { origin: event.header.origin, seq: event.header.seq, hash: event.hash };
        let at_micros = self.clock.now_micros();
        self.write(|state| {
            let m = state.get_match(match_id)?;
            let owned = m.owner.is_empty() || m.owner == state.own_hex();
            // Only the node hosting the lead offer answers for it; an answer after the match was
            // decided (expired meanwhile) changes nothing.
            if !owned || m.status != MatchStatus::Offered || state.host_of_offer(&m.offer_id).as_deref() != Some(&from)
            {
                return None;
            }
            let (match_id, request_id) = (m.id.clone(), m.request_id.clone());
            let decision = if accept {
                let nodes = MatchingService::remote_hosts(state, m.offers()).iter().map(|n| n.to_hex()).collect();
                let (offer_id, reason) = (m.offer_id.clone(), reason.to_string());
                MatchingEvent::Accepted { match_id, request_id, offer_id, reason, at_micros, nodes }
            } else {
                MatchingEvent::Declined { match_id, request_id, reason: reason.to_string(), at_micros }
            };
            Some(owner_decides(state, m, &decision, Some(cause)))
        })
        .await
    }

    /// The owner changed a match concerning an offer hosted here.
    async fn notice(&self, event: &StoredEvent, decoded: &MatchingEvent) -> Result<(), LogError> {
        let h = &event.header;
        let id = format!("{}/{}/{}", crate::events::NOTICED, h.origin.to_hex(), h.seq);
        self.write(|state| {
            let m = state.get_match(decoded.match_id())?;
            if m.owner != h.origin.to_hex() || !m.hosts.contains(&state.own_hex()) {
                return None;
            }
            let noticed = MatchingEvent::Noticed { match_id: m.id.clone(), kind: h.kind.clone() };
            // It names what it notices, so a replay of this node's log in any causal order
            // applies the owner's change first.
            let cause = EventRef { origin: h.origin, seq: h.seq, hash: event.hash };
            let mut events = vec![
                MatchingService::event_for(&noticed, 0, samenspel_eventlog::Audience::Local)
                    .expect(samenspel_eventlog::ExpectedVersion::Any)
                    .with_id(id.clone())
                    .with_causes(vec![cause]),
            ];
            // The places this node claimed when it accepted are free once the match is over.
            if !m.status.is_active() && m.answer_sent == Some(true) {
                events.extend(
                    MatchingService::releases(state, m)
                        .into_iter()
                        .enumerate()
                        .map(|(i, e)| e.with_id(format!("{id}/release/{i}"))),
                );
            }
            Some(events)
        })
        .await
    }
}

/// An owner's decision on one of its matches, with the releases of the places held here when it
/// ends the match; seen by the nodes hosting its offers.
fn owner_decides(state: &MatchingState, m: &Match, event: &MatchingEvent, cause: Option<EventRef>) -> Vec<NewEvent> {
    let remote = MatchingService::remote_hosts(state, m.offers());
    let version = state.request_stream_version(&m.request_id);
    let id = format!("{}/{}", event.kind(), m.id);
    let mut decided =
        MatchingService::event_for(event, version, MatchingService::audience(&remote)).with_id(id.clone());
    if let Some(cause) = cause {
        decided = decided.with_causes(vec![cause]);
    }
    let mut events = vec![decided];
    if !matches!(event, MatchingEvent::Accepted { .. }) {
        events.extend(MatchingService::releases(state, m));
    }
    events.into_iter().enumerate().map(|(i, e)| if i == 0 { e } else { e.with_id(format!("{id}/{i}")) }).collect()
}

#[async_trait::async_trait]
impl Reaction for Follow {
    async fn react(&self, event: &StoredEvent) -> Result<(), LogError> {
        let h = &event.header;
        let own = h.origin == self.log.node_id();
        let Some(payload) = &event.payload else { return Ok(()) };
        if own && KINDS.contains(&h.kind.as_str()) {
            let answered: Answered = match serde_json::from_slice(&payload.data) {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(seq = h.seq, kind = %h.kind, error = %e, "event does not decode");
                    return Ok(());
                }
            };
            self.state.wait_for(h.seq).await?;
            return self.end(event, answered).await;
        }
        if own {
            return Ok(());
        }
        let Some(Ok(decoded)) = MatchingEvent::decode(&h.kind, &payload.data) else { return Ok(()) };
        self.state.wait_for_origin(h.origin, h.seq).await?;
        match &decoded {
            MatchingEvent::AnswerGiven { match_id, accept, reason, .. } => {
                self.decide(event, match_id, *accept, reason).await
            }
            MatchingEvent::Confirmed { .. }
            | MatchingEvent::Accepted { .. }
            | MatchingEvent::Declined { .. }
            | MatchingEvent::Expired { .. }
            | MatchingEvent::Failed { .. }
            | MatchingEvent::Ended { .. } => self.notice(event, &decoded).await,
            _ => Ok(()),
        }
    }
}
