//! What a node serves its peers: any origin's events it holds, from a position, catch-up then
//! live, with each payload only where the caller may see it; and the heads it holds.

use std::sync::Arc;

use futures::{Stream, StreamExt};
use samenspel_eventlog::{
    Audience, EventHeader, EventLog, FieldViolation, Head, NodeId, RemoteEvent, StoredEvent, SubscribeFrom,
};
use tokio::sync::watch;

use crate::config::FederationConfig;
use crate::error::Error;

/// Whether `caller` may receive the payload of an event: it is in the event's audience, or it is
/// the event's origin (a node taking its own events back).
pub fn may_see(caller: NodeId, header: &EventHeader) -> bool {
    caller == header.origin
        || match &header.audience {
            Audience::Federation => true,
            Audience::Nodes(nodes) => nodes.contains(&caller),
            Audience::Local => false,
        }
}

/// The event as `caller` receives it: the header always, the payload only when it may see it.
pub fn for_caller(caller: NodeId, event: &StoredEvent) -> RemoteEvent {
    let payload = if may_see(caller, &event.header) { event.payload.clone() } else { None };
    RemoteEvent { header_bytes: event.header_bytes.clone(), payload, checkpoint: event.checkpoint }
}

#[derive(Debug)]
pub struct FederationService {
    log: Arc<dyn EventLog>,
    config: FederationConfig,
    stopping: watch::Receiver<bool>,
}

impl FederationService {
    /// Serves `log`; when `stopping` turns true every pull stream ends, so peers let go and the
    /// node can stop without waiting out its grace period.
    pub fn new(log: Arc<dyn EventLog>, config: FederationConfig, stopping: watch::Receiver<bool>) -> Self {
        Self { log, config, stopping }
    }

    /// Batches of `origin`'s events from `from_seq` on, as `caller` may see them: what is stored,
    /// then live. A batch holds what is ready, at most `pull_batch` events.
    pub fn pull(
        &self,
        caller: NodeId,
        origin: &[u8],
        from_seq: u64,
    ) -> Result<impl Stream<Item = Result<Vec<RemoteEvent>, Error>> + Send + 'static, Error> {
        let Some(origin) = NodeId::from_slice(origin) else {
            return Err(Error::Invalid(vec![FieldViolation::new("origin", "must be a 32-byte node id")]));
        };
        let events = self.log.subscribe(SubscribeFrom::origin(origin, from_seq.max(1)))?;
        tracing::debug!(peer = %caller.short(), origin = %origin.short(), from_seq, "peer pulls");
        let mut stopping = self.stopping.clone();
        let stopped = async move {
            let _ = stopping.wait_for(|s| *s).await;
        };
        Ok(events.take_until(stopped).ready_chunks(self.config.pull_batch.max(1)).map(move |chunk| {
            chunk
                .into_iter()
                .map(|e| e.map(|e| for_caller(caller, &e)).map_err(Error::from))
                .collect::<Result<Vec<_>, _>>()
        }))
    }

    pub async fn heads(&self) -> Result<Vec<(NodeId, Head)>, Error> {
        Ok(self.log.origins().await?)
    }

    pub fn node_id(&self) -> NodeId {
        self.log.node_id()
    }
}
