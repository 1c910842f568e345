//! When the receiving organisation accepts a match, the follow-up schedules its check-ins from
//! the plan as it is then: each due on a Dutch calendar day counted from the acceptance, owned by
//! the referring organisation and the person who confirmed the match. The schedule is an event,
//! so it survives restarts and a later change of the plan does not move it; its event id is made
//! from the match id, so a replay schedules nothing twice.
//!
//! The same reaction takes in the observations the node hosting the receiving organisation sends
//! about this node's referrals — only from that node, and each once (its event id names the
//! origin and position it came from). Both are decided in `decide.rs`.
//!
//! A third (`ForgetNotes`) destroys the keys of the notes about a client the owner erased that
//! are not under the client's own key.

use std::sync::Arc;

use samenspel_eventlog::{Error as LogError, EventLog, NodeId, StoredEvent};
use samenspel_keys::{KeyStore, SubjectRef};
use samenspel_kit::{Decided, ProjectionReader, Reaction, ServiceEvent, decide_and_append};

use crate::config::FollowUpConfig;
use crate::decide;
use crate::events::{self, FollowUpEvent};
use crate::state::FollowUpState;

/// The name the position of the reaction is saved under.
pub(crate) const CURSOR: &str = "followup.reactions";

/// The name the position of the erasure reaction is saved under.
pub(crate) const ERASURE_CURSOR: &str = "followup.erasures";

/// When the owner erases a client, the keys of the notes about that client that are not under the
/// client's own key go too: on a receiving node, the key it sealed its observations of the
/// owner's referrals under; on the owner, its copies of those keys. (The owner's own notes are
/// under the client's key, which the privacy service destroys.)
pub(crate) struct ForgetNotes {
    pub log: Arc<dyn EventLog>,
    pub state: ProjectionReader<FollowUpState>,
    pub keys: Arc<KeyStore>,
}

#[async_trait::async_trait]
impl Reaction for ForgetNotes {
    async fn react(&self, event: &StoredEvent) -> Result<(), LogError> {
        let h = &event.header;
        if h.kind != crate::inputs::ERASED {
            return Ok(());
        }
        let Some(erased) =
            event.payload.as_ref().and_then(|p| samenspel_kit::from_payload::<crate::inputs::ErasedIn>(&p.data).ok())
        else {
            return Ok(());
        };
        if erased.owner != h.origin.to_hex() {
            return Ok(());
        }
        self.state.wait_for_origin(h.origin, h.seq).await?;
        let own = self.log.node_id().to_hex();
        let subjects: Vec<SubjectRef> = self
            .state
            .read()
            .notes_keys_of(&erased.subject_id, &erased.owner, &own)
            .into_iter()
            .filter_map(|(origin, subject)| Some(SubjectRef::new(NodeId::from_hex(&origin)?, subject)))
            .collect();
        if subjects.is_empty() {
            return Ok(());
        }
        let (keys, at, position) = (self.keys.clone(), h.time_micros, Some((h.origin, h.seq)));
        let count = subjects.len();
        tokio::task::spawn_blocking(move || keys.forget_all(&subjects, &[], at, position))
            .await
            .map_err(|e| LogError::Io(std::io::Error::other(e.to_string())))?
            .map_err(|e| LogError::Io(std::io::Error::other(e.to_string())))?;
        tracing::info!(origin = %h.origin.short(), seq = h.seq, keys = count, "destroyed the keys of the notes about an erased client");
        Ok(())
    }
}

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
        let appended = match decide_and_append(self.log.as_ref(), &self.state, decided).await {
            Ok((_, appended)) => appended,
            // Stored before at another position of the stream (its seal differs): taken in.
            Err(LogError::EventIdReused { .. }) => Vec::new(),
            Err(e) => return Err(e),
        };
        if !appended.is_empty() {
            tracing::info!(match_id = %match_id, origin = %from, "observation received");
        }
        Ok(())
    }
}
