//! Reactions: a service that follows another service's events and appends its own in answer (the
//! intake moving a request along when matching confirms a match, say) runs a [`Reaction`] over
//! the node's own log (or every origin's). Every event is answered before the reaction moves past
//! it: a failure that may pass — a racing writer, a storage error, a cause not stored yet — is
//! tried again on the same event, with backoff; only one that cannot pass (a malformed answer) is
//! logged as an error and skipped. The position reached is saved under a name, so after a restart
//! the reaction resumes there; an event may be handed to it again after a crash, so a reaction
//! must be idempotent — by event ids derived from what it answers, or by deciding on the state.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use samenspel_eventlog::{Error, EventLog, Result, Snapshot, StoredEvent};
use tokio::sync::watch;
use tracing::Instrument;

use crate::feed::{Applied, Feed};
use crate::tasks::TaskHandle;

/// Events between two saves of a reaction's position.
const SAVE_EVERY: u64 = 256;
/// The first and the longest pause before an event is tried again.
const FIRST_RETRY: Duration = Duration::from_millis(10);
const LONGEST_RETRY: Duration = Duration::from_secs(2);

#[async_trait]
pub trait Reaction: Send + Sync + 'static {
    /// Answers one event of the log, in log order. `Ok` when it is answered (or needs no
    /// answer); an error that may pass ([`may_pass`]) has it handed over again.
    async fn react(&self, event: &StoredEvent) -> Result<()>;
}

/// Whether trying again may succeed: a conflict with a racing writer (decide again), a storage
/// error, or a cause that is not stored yet.
pub fn may_pass(e: &Error) -> bool {
    matches!(e, Error::WrongExpectedVersion { .. } | Error::Storage(_) | Error::Io(_) | Error::UnknownCause { .. })
}

/// Starts `reaction` on the events `feed` names, after the positions saved under `name`; with
/// [`Feed::All`], other nodes' events too, each after its causes.
pub async fn start_reactor(
    log: Arc<dyn EventLog>,
    name: &str,
    reaction: Arc<dyn Reaction>,
    feed: Feed,
) -> Result<TaskHandle> {
    let saved = log.load_snapshot(name).await?.map(|s| s.positions).unwrap_or_default();
    let mut positions = feed.resume_from(saved, log.node_id());
    let mut events = feed.subscribe(log.as_ref(), &positions)?;
    let (stop, mut stopped) = watch::channel(false);
    let name = name.to_string();
    let task = tokio::spawn(async move {
        let save = |positions: &Applied| {
            let (log, name) = (log.clone(), name.clone());
            let positions = positions.iter().map(|(o, p)| (*o, *p)).collect();
            async move { log.save_snapshot(&name, Snapshot { positions, data: Vec::new() }).await }
        };
        let mut unsaved = 0u64;
        'events: loop {
            let event = tokio::select! {
                next = events.next() => match next {
                    Some(Ok(event)) => event,
                    Some(Err(e)) => {
                        tracing::warn!(reaction = %name, error = %e, "reaction stopped reading the log");
                        break;
                    }
                    None => break,
                },
                _ = stopped.changed() => break,
            };
            let mut wait = FIRST_RETRY;
            let span = crate::trace::event_span(&name, &event);
            loop {
                match reaction.react(&event).instrument(span.clone()).await {
                    Ok(()) => break,
                    Err(Error::Closed) => break 'events,
                    Err(e) if may_pass(&e) => {
                        tracing::warn!(reaction = %name, seq = event.header.seq, kind = %event.header.kind, error = %e, retry_in_ms = wait.as_millis() as u64, "event not answered yet; trying again");
                        tokio::select! {
                            () = tokio::time::sleep(wait) => {}
                            // Unanswered: the position stays before it, so it comes again.
                            _ = stopped.changed() => break 'events,
                        }
                        wait = (wait * 2).min(LONGEST_RETRY);
                    }
                    Err(e) => {
                        tracing::error!(reaction = %name, seq = event.header.seq, kind = %event.header.kind, error = %e, "event cannot be answered; skipped");
                        break;
                    }
                }
            }
            positions.insert(event.header.origin, event.header.seq);
            unsaved += 1;
            if unsaved >= SAVE_EVERY && save(&positions).await.is_ok() {
                unsaved = 0;
            }
        }
        if unsaved > 0 {
            let _ = save(&positions).await;
        }
    });
    Ok(TaskHandle::new(stop, task))
}
