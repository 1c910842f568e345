//! Reactions: a service that follows another service's events and appends its own in answer (the
//! intake moving a request along when matching confirms a match, say) runs a [`Reaction`] over
//! the node's own log (or every origin's). The position reached is saved under a name, so after a
//! restart the reaction resumes there; an event may be handed to it again after a crash, so a
//! reaction must be idempotent — by event ids derived from what it answers, or by checking state
//! first. Sweepers, the periodic tasks beside them, share the handle.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::EventLog;
use crate::error::Result;
use crate::event::{Snapshot, StoredEvent};
use crate::projection::{Applied, Feed};

/// Events between two saves of a reaction's position.
const SAVE_EVERY: u64 = 256;

#[async_trait]
pub trait Reaction: Send + Sync + 'static {
    /// Answers one event of the log, in log order. An error is logged and the reaction goes on
    /// with the next event: one event that cannot be answered must not stop all later ones.
    async fn react(&self, event: &StoredEvent) -> Result<()>;
}

/// A running reaction or sweeper; [`TaskHandle::stop`] ends it (a reaction saves its position).
#[derive(Debug)]
pub struct TaskHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl TaskHandle {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Runs `sweep` on `service` every `every` until stopped or the service is dropped: the
/// announcements a read model owes as the clock passes (due check-ins, unanswered matches). A
/// failed sweep is logged with `what`, and the next one tries again.
pub fn start_sweeper<S, F, Fut, E>(service: &Arc<S>, every: Duration, what: &'static str, sweep: F) -> TaskHandle
where
    S: Send + Sync + 'static,
    F: Fn(Arc<S>) -> Fut + Send + 'static,
    Fut: Future<Output = std::result::Result<usize, E>> + Send,
    E: std::fmt::Display,
{
    let (stop, mut stopped) = watch::channel(false);
    let weak = Arc::downgrade(service);
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = stopped.changed() => return,
            }
            let Some(service) = weak.upgrade() else { return };
            if let Err(e) = sweep(service).await {
                tracing::warn!(error = %e, "{what} failed");
            }
        }
    });
    TaskHandle { stop, task }
}

/// Starts `reaction` on the node's own log after the position saved under `name`.
pub async fn start_reactor(log: Arc<dyn EventLog>, name: &str, reaction: Arc<dyn Reaction>) -> Result<TaskHandle> {
    start_reactor_of(log, name, reaction, Feed::Own).await
}

/// [`start_reactor`] over the events `feed` names: with [`Feed::All`], other nodes' events too,
/// each after its causes.
pub async fn start_reactor_of(
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
        loop {
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
            if let Err(e) = reaction.react(&event).await {
                tracing::warn!(reaction = %name, seq = event.header.seq, kind = %event.header.kind, error = %e, "event not answered");
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
    Ok(TaskHandle { stop, task })
}
