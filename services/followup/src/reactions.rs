//! When the receiving organisation accepts a match, the follow-up schedules its check-ins from
//! the plan as it is then: each due on a Dutch calendar day counted from the acceptance, owned by
//! the referring organisation and the person who confirmed the match. The schedule is an event,
//! so it survives restarts and a later change of the plan does not move it; its event id is made
//! from the match id, so a replay schedules nothing twice.
//!
//! The same reaction takes in the observations the node hosting the receiving organisation sends
//! about this node's referrals — only from that node, and each once (its event id names the
//! origin and position it came from). Both are decided in `decide.rs`.

use std::sync::Arc;

use samenspel_eventlog::{Error as LogError, EventLog, StoredEvent};
use samenspel_kit::{Decided, ProjectionReader, Reaction, ServiceEvent, decide_and_append};

use crate::config::FollowUpConfig;
use crate::decide;
use crate::events::{self, FollowUpEvent};
use crate::state::FollowUpState;

/// The name the position of the reaction is saved under.
pub(crate) const CURSOR: &str = "followup.reactions";

/// Follows every origin's events: this node's accepted matches, other nodes' observations.
pub(crate) struct Schedule {
    pub log: Arc<dyn EventLog>,
    pub state: ProjectionReader<FollowUpState>,
    pub config: FollowUpConfig,
}

#[derive(serde::Deserialize)]
struct AcceptedIn {
    match_id: String,
}

#[async_trait::async_trait]
impl Reaction for Schedule {
    async fn react(&self, event: &StoredEvent) -> Result<(), LogError> {
        let h = &event.header;
        let own = h.origin == self.log.node_id();
        if !own && h.kind == events::OBSERVED {
            return self.take_in(event).await;
        }
        if !own || h.kind != "matching.match.accepted" {
            return Ok(());
        }
        let Some(accepted) = event.payload.as_ref().and_then(|p| serde_json::from_slice::<AcceptedIn>(&p.data).ok())
        else {
            return Ok(());
        };
        self.state.wait_for(h.seq).await?;
        let decided = |s: &FollowUpState| Ok::<_, LogError>(decide::schedule(s, &self.config, &accepted.match_id));
        let (_, appended) = decide_and_append(self.log.as_ref(), &self.state, decided).await?;
        if !appended.is_empty() {
            tracing::info!(match_id = %accepted.match_id, "check-ins scheduled");
        }
        Ok(())
    }
}

impl Schedule {
    /// Takes in another node's observation of one of this node's referrals, when that node hosts
    /// the referral's offer and the observation says so; anything else is refused with a warning.
    async fn take_in(&self, event: &StoredEvent) -> Result<(), LogError> {
        let h = &event.header;
        let from = h.origin.to_hex();
        let Some(Ok(observed)) = FollowUpEvent::decode_stored(event) else {
            tracing::warn!(origin = %from, seq = h.seq, "observation refused: it does not decode");
            return Ok(());
        };
        self.state.wait_for_origin(h.origin, h.seq).await?;
        let own = self.log.node_id().to_hex();
        let match_id = observed.match_id().to_string();
        let decided = |s: &FollowUpState| match decide::take_in(s, &own, event, observed.clone()) {
            Ok(decided) => Ok::<_, LogError>(decided),
            Err(why) => {
                tracing::warn!(origin = %from, seq = h.seq, match_id = %match_id, why, "observation refused");
                Ok(Decided::nothing(()))
            }
        };
        let (_, appended) = decide_and_append(self.log.as_ref(), &self.state, decided).await?;
        if !appended.is_empty() {
            tracing::info!(match_id = %match_id, origin = %from, "observation received");
        }
        Ok(())
    }
}
