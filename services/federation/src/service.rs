//! What a node serves its peers: any origin's events it holds, from a position, catch-up then
//! live, with each payload only where the caller may see it; and the heads it holds.

use std::sync::Arc;

use futures::{Stream, StreamExt};
use samenspel_eventlog::{
    Audience, EventHeader, EventLog, FieldViolation, Head, NodeId, NodeKey, RemoteEvent, StoredEvent, SubscribeFrom,
    outline_for_outsider, withhold_body,
};
use samenspel_keys::{KeyStore, SharedKey, SubjectRef};
use samenspel_kit::sealed_subjects;
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

/// The event as `caller` receives it: the whole header and the payload when it may see them;
/// otherwise the outline alone (invariant 28), with the body sealed under a key only the origin
/// holds when this node is the origin, so that it can take its own log back from `caller`.
pub fn for_caller(own: &NodeKey, caller: NodeId, event: &StoredEvent) -> RemoteEvent {
    if may_see(caller, &event.header) {
        return RemoteEvent {
            header_bytes: event.header_bytes.clone(),
            payload: event.payload.clone(),
            checkpoint: event.checkpoint,
        };
    }
    let header_bytes = if event.header.origin == own.node_id() {
        outline_for_outsider(own, &event.header_bytes)
    } else {
        // Another origin's event this node may hold whole: the outline, and nothing of the body.
        withhold_body(&event.header_bytes, &[])
    };
    RemoteEvent { header_bytes, payload: None, checkpoint: event.checkpoint }
}

/// A batch of events as a peer receives it, with the subject keys its sealed payloads need.
#[derive(Debug, Default)]
pub struct Pulled {
    pub events: Vec<RemoteEvent>,
    pub keys: Vec<SharedKey>,
}

#[derive(Debug)]
pub struct FederationService {
    log: Arc<dyn EventLog>,
    /// Seals the bodies of this node's headers that a peer outside their audience receives.
    key: NodeKey,
    keys: Option<Arc<KeyStore>>,
    config: FederationConfig,
    stopping: watch::Receiver<bool>,
}

/// The keys `caller` needs for the sealed personal data in `events` (those it may see), sealed
/// for it; each is recorded as given to it, so an erasure reaches it.
fn keys_for(keys: &KeyStore, caller: NodeId, events: &[Arc<StoredEvent>]) -> Result<Vec<SharedKey>, Error> {
    let mut subjects = Vec::new();
    for e in events.iter().filter(|e| e.header.origin != caller && may_see(caller, &e.header)) {
        let Some(payload) = &e.payload else { continue };
        subjects.extend(sealed_subjects(&payload.data).into_iter().map(|s| SubjectRef::new(e.header.origin, s)));
    }
    subjects.sort();
    subjects.dedup();
    keys.share(&subjects, caller).map_err(|e| Error::Keys(e.to_string()))
}

impl FederationService {
    /// Serves `log`, whose origin `key` is; when `stopping` turns true every pull stream ends, so
    /// peers let go and the node can stop without waiting out its grace period.
    pub fn new(
        log: Arc<dyn EventLog>,
        key: NodeKey,
        config: FederationConfig,
        stopping: watch::Receiver<bool>,
    ) -> Self {
        Self { log, key, keys: None, config, stopping }
    }

    /// With the node's key store: subject keys go along with the sealed data a peer may see.
    pub fn with_keys(mut self, keys: Arc<KeyStore>) -> Self {
        self.keys = Some(keys);
        self
    }

    /// Batches of `origin`'s events from `from_seq` on, as `caller` may see them: what is stored,
    /// then live. A batch holds what is ready, at most `pull_batch` events.
    pub fn pull(
        &self,
        caller: NodeId,
        origin: &[u8],
        from_seq: u64,
    ) -> Result<impl Stream<Item = Result<Pulled, Error>> + Send + 'static, Error> {
        let Some(origin) = NodeId::from_slice(origin) else {
            return Err(Error::Invalid(vec![FieldViolation::new("origin", "must be a 32-byte node id")]));
        };
        let events = self.log.subscribe(SubscribeFrom::origin(origin, from_seq.max(1)))?;
        tracing::debug!(peer = %caller.short(), origin = %origin.short(), from_seq, "peer pulls");
        let mut stopping = self.stopping.clone();
        let stopped = async move {
            let _ = stopping.wait_for(|s| *s).await;
        };
        let keys = self.keys.clone();
        let own = self.key.clone();
        Ok(events.take_until(stopped).ready_chunks(self.config.pull_batch.max(1)).then(move |chunk| {
            let keys = keys.clone();
            let own = own.clone();
            async move {
                let chunk = chunk.into_iter().collect::<Result<Vec<_>, _>>()?;
                // Sealing the bodies a caller outside the audience gets is an AEAD per event, a few
                // milliseconds for a full batch: off the runtime then.
                let events = if chunk.iter().all(|e| may_see(caller, &e.header)) {
                    chunk.iter().map(|e| for_caller(&own, caller, e)).collect()
                } else {
                    let chunk = chunk.clone();
                    tokio::task::spawn_blocking(move || chunk.iter().map(|e| for_caller(&own, caller, e)).collect())
                        .await
                        .map_err(|e| Error::Keys(format!("sealing header bodies: {e}")))?
                };
                let keys = match keys {
                    Some(keys) if chunk.iter().any(|e| e.payload.is_some()) => {
                        // Giving a key out the first time appends to the key store and syncs: off the runtime.
                        tokio::task::spawn_blocking(move || keys_for(&keys, caller, &chunk))
                            .await
                            .map_err(|e| Error::Keys(e.to_string()))??
                    }
                    _ => Vec::new(),
                };
                Ok(Pulled { events, keys })
            }
        }))
    }

    pub async fn heads(&self) -> Result<Vec<(NodeId, Head)>, Error> {
        Ok(self.log.origins().await?)
    }

    pub fn node_id(&self) -> NodeId {
        self.log.node_id()
    }
}
