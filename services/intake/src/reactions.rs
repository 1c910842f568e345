//! The owner's lifecycle follows matching and the follow-up: when matching (on this node) confirms
//! a match for a request, the request moves to matching; when the receiving organisation accepts,
//! to matched; when the follow-up finds the help not going well or stopped, back to matching; when
//! it closes the referral, to closed. Only the intake appends its lifecycle; it reads the others'
//! events from the log like any other reader, and decides in `decide.rs`.

use std::sync::Arc;

use samenspel_eventlog::{Error as LogError, EventLog, ExpectedVersion, StoredEvent};
use samenspel_kit::{ProjectionReader, Reaction, ServiceEvent, decide_and_append};

use crate::decide;
use crate::duplicates::Duplicates;
use crate::events::IntakeEvent;
use crate::inputs::{Answered, KINDS};
use crate::state::IntakeState;

/// The name the position of the reactions is saved under.
pub(crate) const CURSOR: &str = "intake.reactions";

/// Follows matching's and the follow-up's events on this node's log.
pub(crate) struct Follow {
    pub log: Arc<dyn EventLog>,
    pub state: ProjectionReader<IntakeState>,
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
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(seq = h.seq, kind = %h.kind, error = %e, "event does not decode");
                return Ok(());
            }
        };
        // Decide on the state as it was when the event was written, and later.
        self.state.wait_for(h.seq).await?;
        let decided = |state: &IntakeState| Ok::<_, LogError>(decide::follow(state, &answered));
        let (_, appended) = decide_and_append(self.log.as_ref(), &self.state, decided).await?;
        if !appended.is_empty() {
            tracing::info!(kind = %h.kind, seq = h.seq, "request follows its match");
        }
        Ok(())
    }
}

/// The name the position of the fingerprint reaction is saved under.
pub(crate) const ENDED_CURSOR: &str = "intake.fingerprints";

/// A request of this node closed or withdrawn, or its client erased: its fingerprints no longer
/// count anywhere.
pub(crate) struct EndFingerprints {
    pub log: Arc<dyn EventLog>,
    pub duplicates: ProjectionReader<Duplicates>,
    pub state: ProjectionReader<IntakeState>,
}

impl EndFingerprints {
    async fn end(&self, id: &str) -> Result<(), LogError> {
        if !self.duplicates.read().has(&self.log.node_id().to_hex(), id) {
            return Ok(());
        }
        // One end per request, however often this reaction runs again.
        let ended = IntakeEvent::FingerprintEnded { id: id.to_string() };
        let new = ended.to_new(ExpectedVersion::Any).with_id(format!("{}/{id}", crate::events::FINGERPRINT_ENDED));
        match self.log.append(vec![new]).await {
            Ok(_) | Err(LogError::EventIdReused { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[async_trait::async_trait]
impl Reaction for EndFingerprints {
    async fn react(&self, event: &StoredEvent) -> Result<(), LogError> {
        let h = &event.header;
        if h.kind == crate::state::ERASED {
            let Some(Ok(erased)) =
                event.payload.as_ref().map(|p| samenspel_kit::from_payload::<crate::state::Erased>(&p.data))
            else {
                return Ok(());
            };
            self.state.wait_for(h.seq).await?;
            let requests = self.state.read().of_client(&erased.subject_id);
            for id in requests {
                self.end(&id).await?;
            }
            return Ok(());
        }
        if h.kind != crate::events::CLOSED && h.kind != crate::events::WITHDRAWN {
            return Ok(());
        }
        let Some(id) = h.stream.strip_prefix("intake/request/") else { return Ok(()) };
        self.end(id).await
    }
}
