//! The owner's lifecycle follows matching and the follow-up: when matching (on this node) confirms
//! a match for a request, the request moves to matching; when the receiving organisation accepts,
//! to matched; when the follow-up finds the help not going well or stopped, back to matching; when
//! it closes the referral, to closed. Only the intake appends its lifecycle; it reads the others'
//! events from the log like any other reader. Each reaction carries an event id made from the match id, so replaying after a
//! restart appends nothing twice; the position reached is saved as a snapshot.

use std::sync::Arc;

use samenspel_eventlog::{
    Audience, Error as LogError, EventLog, ExpectedVersion, NodeId, ProjectionReader, Reaction, StoredEvent,
    TaskHandle, start_reactor,
};
use serde::Deserialize;

use crate::events::{IntakeEvent, SharedContact};
use crate::service::IntakeService;
use crate::state::{IntakeState, RequestStatus};

/// The name the position of the reactions is saved under.
const CURSOR: &str = "intake.reactions";

/// The fields of matching's and the follow-up's events the intake needs.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Answered {
    Confirmed {
        match_id: String,
        request_id: String,
    },
    Accepted {
        match_id: String,
        request_id: String,
        offer_id: String,
        /// Other nodes hosting an offer of the match: they get the client's contact details.
        #[serde(default)]
        nodes: Vec<String>,
    },
    /// The follow-up found the help not going well, or stopped.
    ReferralFailed {
        match_id: String,
        request_id: String,
        outcome: String,
    },
    /// The follow-up closed the referral: the help is done.
    ReferralClosed {
        match_id: String,
        request_id: String,
        category: String,
    },
    #[serde(other)]
    Other,
}

const KINDS: [&str; 4] =
    ["matching.match.confirmed", "matching.match.accepted", "followup.referral.failed", "followup.referral.closed"];

/// Starts following matching's and the follow-up's events.
pub(crate) async fn start(
    log: Arc<dyn EventLog>,
    state: ProjectionReader<IntakeState>,
) -> Result<TaskHandle, LogError> {
    start_reactor(log.clone(), CURSOR, Arc::new(Follow { log, state })).await
}

struct Follow {
    log: Arc<dyn EventLog>,
    state: ProjectionReader<IntakeState>,
}

#[async_trait::async_trait]
impl Reaction for Follow {
    async fn react(&self, event: &StoredEvent) -> Result<(), LogError> {
        react(self.log.as_ref(), &self.state, event).await
    }
}

/// The lifecycle steps one event of matching or the follow-up calls for, appended with the
/// request's version.
async fn react(log: &dyn EventLog, state: &ProjectionReader<IntakeState>, event: &StoredEvent) -> Result<(), LogError> {
    let h = &event.header;
    if !KINDS.contains(&h.kind.as_str()) {
        return Ok(());
    }
    let Some(payload) = &event.payload else { return Ok(()) };
    let decoded: Answered = match serde_json::from_slice(&payload.data) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(seq = h.seq, kind = %h.kind, error = %e, "event does not decode");
            return Ok(());
        }
    };
    let (match_id, request_id) = match &decoded {
        Answered::Confirmed { match_id, request_id }
        | Answered::Accepted { match_id, request_id, .. }
        | Answered::ReferralFailed { match_id, request_id, .. }
        | Answered::ReferralClosed { match_id, request_id, .. } => (match_id.clone(), request_id.clone()),
        Answered::Other => return Ok(()),
    };
    // Decide on the state as it was when the event was written, and later.
    state.wait_for(h.seq).await?;
    // A lifecycle RPC may race us; then decide again on what it left.
    for _ in 0..3 {
        let Some(current) = state.read().get(&request_id).cloned() else { return Ok(()) };
        let id = request_id.clone();
        let status = current.status;
        let mut steps = Vec::new();
        match &decoded {
            Answered::Confirmed { .. } | Answered::Accepted { .. } if status == RequestStatus::Submitted => {
                steps.push(IntakeEvent::MatchingStarted { id: id.clone() });
            }
            _ => {}
        }
        match &decoded {
            Answered::Accepted { offer_id, .. }
                if matches!(status, RequestStatus::Submitted | RequestStatus::Matching) =>
            {
                steps.push(IntakeEvent::Matched { id, offer_id: offer_id.clone() });
            }
            Answered::ReferralFailed { outcome, .. } if status == RequestStatus::Matched => {
                steps.push(IntakeEvent::Reopened { id, reason: format!("follow-up: {}", outcome.replace('_', " ")) });
            }
            Answered::ReferralClosed { category, .. } if status == RequestStatus::Matched => {
                steps.push(IntakeEvent::Closed { id, reason: format!("follow-up: {}", category.replace('_', " ")) });
            }
            _ => {}
        }
        // The receiving organisation on another node needs to reach the client, once.
        let mut shared_with = Vec::new();
        if let Answered::Accepted { nodes, .. } = &decoded
            && !nodes.is_empty()
            && !current.contact_shared_for(&match_id)
        {
            let client = &current.fields.client;
            let client =
                SharedContact { name: client.name.clone(), phone: client.phone.clone(), email: client.email.clone() };
            let (id, match_id, nodes) = (request_id.clone(), match_id.clone(), nodes.clone());
            shared_with = nodes.iter().filter_map(|n| NodeId::from_hex(n)).collect();
            steps.push(IntakeEvent::ContactShared { id, match_id, client, nodes });
        }
        if steps.is_empty() {
            return Ok(());
        }
        let batch = steps
            .iter()
            .enumerate()
            .map(|(i, step)| {
                let event = IntakeService::new_event(step, ExpectedVersion::Exact(current.version + i as u64))
                    .with_id(format!("{}/{match_id}", step.kind()));
                match step {
                    IntakeEvent::ContactShared { .. } => event.with_audience(Audience::Nodes(shared_with.clone())),
                    _ => event,
                }
            })
            .collect();
        match log.append(batch).await {
            Ok(appended) => {
                tracing::info!(request_id = %request_id, match_id = %match_id, kind = %h.kind, "request follows its match");
                return state.wait_for(appended.last().map_or(0, |a| a.seq)).await;
            }
            Err(LogError::WrongExpectedVersion { .. }) => {
                let head = log.head(log.node_id()).await?.seq;
                state.wait_for(head).await?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
