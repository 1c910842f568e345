//! The owner's lifecycle follows matching: when matching (on this node) confirms a match for a
//! request, the request moves to matching; when the receiving organisation accepts, it moves to
//! matched. Only the intake appends its lifecycle; it reads matching's events from the log like
//! any other reader. Each reaction carries an event id made from the match id, so replaying after a
//! restart appends nothing twice; the position reached is saved as a snapshot.

use std::sync::Arc;

use samenspel_eventlog::{
    Error as LogError, EventLog, ExpectedVersion, ProjectionReader, Snapshot, StoredEvent, SubscribeFrom,
};
use serde::Deserialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::events::IntakeEvent;
use crate::service::IntakeService;
use crate::state::{IntakeState, RequestStatus};

/// The snapshot name the position of the reactions is saved under.
const CURSOR: &str = "intake.reactions";
/// Events between two saves of the position.
const SAVE_EVERY: u64 = 256;

/// The fields of matching's events the intake needs.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum MatchingIn {
    Confirmed {
        match_id: String,
        request_id: String,
    },
    Accepted {
        match_id: String,
        request_id: String,
        offer_id: String,
    },
    #[serde(other)]
    Other,
}

/// Starts following matching's events; stop it by sending `true` and awaiting the handle.
pub(crate) async fn start(
    log: Arc<dyn EventLog>,
    state: ProjectionReader<IntakeState>,
) -> Result<(watch::Sender<bool>, JoinHandle<()>), LogError> {
    let origin = log.node_id();
    let mut position = match log.load_snapshot(CURSOR).await? {
        Some(s) => s.positions.iter().find(|(o, _)| *o == origin).map_or(0, |(_, p)| *p),
        None => 0,
    };
    let mut events = log.subscribe(SubscribeFrom::origin(origin, position + 1))?;
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(async move {
        let mut saved = position;
        loop {
            let event = tokio::select! {
                next = events.next() => match next {
                    Some(Ok(event)) => event,
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "intake reactions stopped reading the log");
                        break;
                    }
                    None => break,
                },
                _ = stopped.changed() => break,
            };
            if let Err(e) = react(log.as_ref(), &state, &event).await {
                tracing::warn!(seq = event.header.seq, error = %e, "intake could not follow a matching event");
            }
            position = event.header.seq;
            if position - saved >= SAVE_EVERY {
                saved = save(log.as_ref(), position).await.unwrap_or(saved);
            }
        }
        if position > saved {
            let _ = save(log.as_ref(), position).await;
        }
    });
    Ok((stop, task))
}

async fn save(log: &dyn EventLog, position: u64) -> Result<u64, LogError> {
    let snapshot = Snapshot { positions: vec![(log.node_id(), position)], data: Vec::new() };
    log.save_snapshot(CURSOR, snapshot).await?;
    Ok(position)
}

/// The lifecycle steps one matching event calls for, appended with the request's version.
async fn react(log: &dyn EventLog, state: &ProjectionReader<IntakeState>, event: &StoredEvent) -> Result<(), LogError> {
    let h = &event.header;
    if !matches!(h.kind.as_str(), "matching.match.confirmed" | "matching.match.accepted") {
        return Ok(());
    }
    let Some(payload) = &event.payload else { return Ok(()) };
    let decoded: MatchingIn = match serde_json::from_slice(&payload.data) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(seq = h.seq, error = %e, "matching event does not decode");
            return Ok(());
        }
    };
    let (match_id, request_id, offer_id) = match decoded {
        MatchingIn::Confirmed { match_id, request_id } => (match_id, request_id, None),
        MatchingIn::Accepted { match_id, request_id, offer_id } => (match_id, request_id, Some(offer_id)),
        MatchingIn::Other => return Ok(()),
    };
    // Decide on the state as it was when matching wrote the event, and later.
    state.wait_for(h.seq).await?;
    // A lifecycle RPC may race us; then decide again on what it left.
    for _ in 0..3 {
        let Some(current) = state.read().get(&request_id).cloned() else { return Ok(()) };
        let mut steps = Vec::new();
        if current.status == RequestStatus::Submitted {
            steps.push(IntakeEvent::MatchingStarted { id: request_id.clone() });
        }
        if let Some(offer_id) = &offer_id
            && matches!(current.status, RequestStatus::Submitted | RequestStatus::Matching)
        {
            steps.push(IntakeEvent::Matched { id: request_id.clone(), offer_id: offer_id.clone() });
        }
        if steps.is_empty() {
            return Ok(());
        }
        let batch = steps
            .iter()
            .enumerate()
            .map(|(i, step)| {
                IntakeService::new_event(step, ExpectedVersion::Exact(current.version + i as u64))
                    .with_id(format!("{}/{match_id}", step.kind()))
            })
            .collect();
        match log.append(batch).await {
            Ok(appended) => {
                tracing::info!(request_id = %request_id, match_id = %match_id, "request follows its match");
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
