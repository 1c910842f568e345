//! Matching follows the follow-up and the intake through the log: when the follow-up finds an
//! accepted match not going well (or stopped), the match fails — its places are freed and the
//! request can be matched again without that offer; when the follow-up closes the referral, or the
//! request is closed or withdrawn, the match ends and its places are freed. Each answer carries
//! an event id made from the match id, so a replay appends nothing twice.

use std::sync::Arc;

use samenspel_domain::Clock;
use samenspel_eventlog::{
    Error as LogError, EventLog, ProjectionReader, Reaction, ReactorHandle, StoredEvent, start_reactor,
};
use serde::Deserialize;

use crate::events::MatchingEvent;
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
) -> Result<ReactorHandle, LogError> {
    start_reactor(log.clone(), CURSOR, Arc::new(Follow { log, state, clock })).await
}

struct Follow {
    log: Arc<dyn EventLog>,
    state: ProjectionReader<MatchingState>,
    clock: Arc<dyn Clock>,
}

#[async_trait::async_trait]
impl Reaction for Follow {
    async fn react(&self, event: &StoredEvent) -> Result<(), LogError> {
        let h = &event.header;
        if !KINDS.contains(&h.kind.as_str()) {
            return Ok(());
        }
        let Some(payload) = &event.payload else { return Ok(()) };
        let answered: Answered = match serde_json::from_slice(&payload.data) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(seq = h.seq, kind = %h.kind, error = %e, "event does not decode");
                return Ok(());
            }
        };
        self.state.wait_for(h.seq).await?;
        // A confirmation or answer may race us; then decide again on what it left.
        for _ in 0..3 {
            let events = {
                let state = self.state.read();
                let m = match &answered {
                    Answered::ReferralFailed { match_id, .. } | Answered::ReferralClosed { match_id, .. } => {
                        state.get_match(match_id)
                    }
                    Answered::Closed { id } | Answered::Withdrawn { id } => state.active_match(id),
                    Answered::Other => None,
                };
                let Some(m) = m.filter(|m| m.status.is_active()) else { return Ok(()) };
                let (match_id, request_id, at_micros) = (m.id.clone(), m.request_id.clone(), self.clock.now_micros());
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
                            if h.kind.ends_with("closed") { "closed" } else { "withdrawn" }
                        ),
                        at_micros,
                    },
                };
                let version = state.request_stream_version(&m.request_id);
                let mut events = vec![MatchingService::new_event(&ending, version)];
                events.extend(MatchingService::releases(&state, m));
                let id = format!("{}/{}", ending.kind(), m.id);
                events.into_iter().enumerate().map(|(i, e)| e.with_id(format!("{id}/{i}"))).collect::<Vec<_>>()
            };
            match self.log.append(events).await {
                Ok(appended) => {
                    tracing::info!(kind = %h.kind, "match ends as the follow-up or the intake says");
                    return self.state.wait_for(appended.last().map_or(0, |a| a.seq)).await;
                }
                Err(LogError::WrongExpectedVersion { .. }) => {
                    let head = self.log.head(self.log.node_id()).await?.seq;
                    self.state.wait_for(head).await?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
