//! Matching answers other services' and other nodes' events through the log:
//!
//! - the follow-up found an accepted match not going well (or stopped): the match fails, its
//!   places are freed, and the request can be matched again without that offer;
//! - the follow-up closed the referral, or the request was closed or withdrawn: the match ends;
//! - (on the owner) the node hosting a matched offer answered: the owner decides, accepted or
//!   declined, in an event of its own;
//! - (on a node hosting a matched offer) the owner changed the match: the change gets a position
//!   in this node's log for WatchMatches, and when the match ended, the places claimed here are
//!   freed;
//! - (on the owner) the node hosting a matched offer recorded its receipt: the receipt gets a
//!   position in this node's log for the referrer's Task notifications.
//!
//! What to append is decided in `decide.rs` on the state after the event; each answer carries an
//! event id made from what it answers, so a replay writes nothing twice.

use std::sync::Arc;

use samenspel_domain::Clock;
use samenspel_eventlog::{Error as LogError, EventLog, EventRef, StoredEvent};
use samenspel_kit::{Decided, ProjectionReader, Reaction, ServiceEvent, decide_and_append};

use crate::decide;
use crate::events::MatchingEvent;
use crate::inputs::{ENDING, Ended};
use crate::state::MatchingState;

/// The name the position of the reactions is saved under.
pub(crate) const CURSOR: &str = "matching.reactions";

/// Follows every origin's events that concern this node's matches or the offers it hosts.
pub(crate) struct Follow {
    pub log: Arc<dyn EventLog>,
    pub state: ProjectionReader<MatchingState>,
    pub clock: Arc<dyn Clock>,
}

impl Follow {
    async fn write(&self, decide: impl FnMut(&MatchingState) -> Decided<()>) -> Result<(), LogError> {
        let mut decide = decide;
        decide_and_append(self.log.as_ref(), &self.state, |s| Ok::<_, LogError>(decide(s))).await.map(|_| ())
    }
}

#[async_trait::async_trait]
impl Reaction for Follow {
    async fn react(&self, event: &StoredEvent) -> Result<(), LogError> {
        let h = &event.header;
        let own = h.origin == self.log.node_id();
        let Some(payload) = &event.payload else { return Ok(()) };
        let now = self.clock.now_micros();
        if own && ENDING.contains(&h.kind.as_str()) {
            let ended: Ended = match serde_json::from_slice(&payload.data) {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(seq = h.seq, kind = %h.kind, error = %e, "event does not decode");
                    return Ok(());
                }
            };
            self.state.wait_for(h.seq).await?;
            return self.write(|s| decide::end(s, &ended, now)).await;
        }
        if own {
            return Ok(());
        }
        let Some(Ok(decoded)) = MatchingEvent::decode(&h.kind, &payload.data) else { return Ok(()) };
        self.state.wait_for_origin(h.origin, h.seq).await?;
        match &decoded {
            MatchingEvent::AnswerGiven { match_id, accept, reason, .. } => {
                let cause = EventRef { origin: h.origin, seq: h.seq, hash: event.hash };
                self.write(|s| decide::decide_answer(s, h.origin, cause, match_id, *accept, reason, now)).await
            }
            MatchingEvent::Confirmed { .. }
            | MatchingEvent::Accepted { .. }
            | MatchingEvent::Declined { .. }
            | MatchingEvent::Expired { .. }
            | MatchingEvent::Failed { .. }
            | MatchingEvent::Ended { .. } => self.write(|s| decide::notice(s, event, decoded.match_id())).await,
            MatchingEvent::Received { match_id, .. } => {
                self.write(|s| decide::notice_receipt(s, event, match_id)).await
            }
            _ => Ok(()),
        }
    }
}
