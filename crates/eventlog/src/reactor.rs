//! Reactions: a service that follows another service's events and appends its own in answer (the
//! intake moving a request along when matching confirms a match, say) runs a [`Reaction`] over
//! the node's own log. The position reached is saved under a name, so after a restart the
//! reaction resumes there; an event may be handed to it again after a crash, so a reaction must
//! be idempotent — by event ids derived from what it answers, or by checking state first.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::{EventLog, SubscribeFrom};
use crate::error::Result;
use crate::event::{Snapshot, StoredEvent};

/// Events between two saves of a reaction's position.
const SAVE_EVERY: u64 = 256;

#[async_trait]
pub trait Reaction: Send + Sync + 'static {
    /// Answers one event of the log, in log order. An error is logged and the reaction goes on
    /// with the next event: one event that cannot be answered must not stop all later ones.
    async fn react(&self, event: &StoredEvent) -> Result<()>;
}

/// A running reaction; [`ReactorHandle::stop`] ends it and saves its position.
#[derive(Debug)]
pub struct ReactorHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl ReactorHandle {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Starts `reaction` on the node's own log after the position saved under `name`.
pub async fn start_reactor(log: Arc<dyn EventLog>, name: &str, reaction: Arc<dyn Reaction>) -> Result<ReactorHandle> {
    let origin = log.node_id();
    let mut position = match log.load_snapshot(name).await? {
        Some(s) => s.positions.iter().find(|(o, _)| *o == origin).map_or(0, |(_, p)| *p),
        None => 0,
    };
    let mut events = log.subscribe(SubscribeFrom::origin(origin, position + 1))?;
    let (stop, mut stopped) = watch::channel(false);
    let name = name.to_string();
    let task = tokio::spawn(async move {
        let save = |position: u64| {
            let (log, name) = (log.clone(), name.clone());
            async move {
                let snapshot = Snapshot { positions: vec![(log.node_id(), position)], data: Vec::new() };
                log.save_snapshot(&name, snapshot).await
            }
        };
        let mut saved = position;
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
            position = event.header.seq;
            if position - saved >= SAVE_EVERY && save(position).await.is_ok() {
                saved = position;
            }
        }
        if position > saved {
            let _ = save(position).await;
        }
    });
    Ok(ReactorHandle { stop, task })
}
