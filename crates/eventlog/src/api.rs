//! The `EventLog` trait: what every backend (in-memory, sled, later a distributed engine or a
//! remote client) offers, and what the conformance suite checks.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::error::{FieldViolation, Result};
use crate::event::{Appended, ForkEvidence, Head, IngestOutcome, NewEvent, RemoteEvent, Snapshot, StoredEvent};
use crate::ids::NodeId;
use crate::verify::{VerifyProgress, VerifyReport};
use samenspel_merkle::{Digest, SignedTreeHead};

/// Where a subscription starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeFrom {
    pub origin: NodeId,
    /// `None`: every event of the origin, from `position` as seq. `Some(stream)`: only that
    /// stream, from `position` as stream_seq.
    pub stream: Option<String>,
    /// The first position to deliver (1 for the beginning).
    pub position: u64,
}

impl SubscribeFrom {
    pub fn origin(origin: NodeId, from_seq: u64) -> Self {
        Self { origin, stream: None, position: from_seq }
    }

    pub fn stream(origin: NodeId, stream: impl Into<String>, from_stream_seq: u64) -> Self {
        Self { origin, stream: Some(stream.into()), position: from_stream_seq }
    }
}

/// What a view of the log makes of each event it hands out (e.g. opening sealed payloads).
pub type EventMap = Arc<dyn Fn(Arc<StoredEvent>) -> Arc<StoredEvent> + Send + Sync>;

/// A live feed of events: first what is stored, then each new event as it becomes durable.
/// Bounded: a consumer that does not keep up only delays itself. Events are shared with the
/// node's other readers, not copied for each.
pub struct Subscription {
    pub(crate) rx: mpsc::Receiver<Result<Arc<StoredEvent>>>,
    pub(crate) map: Option<EventMap>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").field("mapped", &self.map.is_some()).finish_non_exhaustive()
    }
}

impl Subscription {
    pub(crate) fn new(rx: mpsc::Receiver<Result<Arc<StoredEvent>>>) -> Self {
        Self { rx, map: None }
    }

    /// The same feed with each event passed through `map` as it is taken (in the reader's task:
    /// no extra hop).
    pub fn map(mut self, map: EventMap) -> Self {
        self.map = Some(match self.map.take() {
            None => map,
            Some(first) => Arc::new(move |e| map(first(e))),
        });
        self
    }

    fn mapped(&self, item: Result<Arc<StoredEvent>>) -> Result<Arc<StoredEvent>> {
        match &self.map {
            Some(map) => item.map(|e| map(e)),
            None => item,
        }
    }

    /// The next event; `None` when the log closed. An `Err` ends the subscription. Cancel-safe.
    pub async fn next(&mut self) -> Option<Result<Arc<StoredEvent>>> {
        let item = self.rx.recv().await?;
        Some(self.mapped(item))
    }

    /// The next event if one is ready now.
    pub fn try_next(&mut self) -> Option<Result<Arc<StoredEvent>>> {
        let item = self.rx.try_recv().ok()?;
        Some(self.mapped(item))
    }
}

impl futures::Stream for Subscription {
    type Item = Result<Arc<StoredEvent>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(item)) => Poll::Ready(Some(self.mapped(item))),
            other => other,
        }
    }
}

#[async_trait]
pub trait EventLog: Send + Sync + std::fmt::Debug + 'static {
    /// This node's id, the origin of every event it appends.
    fn node_id(&self) -> NodeId;

    /// Appends to the own log, atomically: all events are stored or none. Returns once durable.
    async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<Appended>>;

    /// What [`EventLog::append`] would refuse in `events` on their own (field by field, before
    /// any stream is looked at), without appending: a caller that found problems of its own
    /// names these too.
    fn check(&self, events: &[NewEvent]) -> Vec<FieldViolation>;

    /// Events of `origin` from `from_seq` on, at most `limit`, up to the durable head.
    async fn read(&self, origin: NodeId, from_seq: u64, limit: usize) -> Result<Vec<StoredEvent>>;

    /// Events of one stream of `origin` from `from_stream_seq` on, at most `limit`.
    async fn read_stream(
        &self,
        origin: NodeId,
        stream: &str,
        from_stream_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>>;

    /// Catch up from a position, then follow live. Must be called inside a tokio runtime.
    fn subscribe(&self, from: SubscribeFrom) -> Result<Subscription>;

    /// Every origin's events, catch-up then live: each origin in its order from the position
    /// given for it (from its first event when not named), and an event only after every event it
    /// names as a cause. Origins that appear later join. Must be called inside a tokio runtime.
    fn subscribe_all(&self, from: Vec<(NodeId, u64)>) -> Result<Subscription>;

    /// The durable head of an origin's log (seq 0 when nothing is stored).
    async fn head(&self, origin: NodeId) -> Result<Head>;

    /// Every origin with stored events, and its head.
    async fn origins(&self) -> Result<Vec<(NodeId, Head)>>;

    /// Stores another origin's events after checking chain, payload hashes and signatures.
    async fn ingest(&self, events: Vec<RemoteEvent>) -> Result<IngestOutcome>;

    /// Stores this node's own events that a peer holds and this node lost (it was restored from
    /// an old backup), verified like an ingest: they must chain onto the own head and be signed by
    /// this node's key. An event that differs from what this node holds at its position is refused:
    /// the node appended past the restored head, and its log has forked. Run it before appending.
    async fn restore_own(&self, events: Vec<RemoteEvent>) -> Result<IngestOutcome>;

    /// Stored proof of every fork seen, one per forked origin.
    async fn forks(&self) -> Result<Vec<ForkEvidence>>;

    /// Drops an event's payload; its header, and so the chain, stays. `false` if it had none.
    async fn redact(&self, origin: NodeId, seq: u64) -> Result<bool>;

    /// Durably replaces the snapshot of the read model `name`, so the model can resume from its
    /// positions after a restart instead of replaying the log. Positions beyond a durable head
    /// are refused.
    async fn save_snapshot(&self, name: &str, snapshot: Snapshot) -> Result<()>;

    /// The last snapshot saved under `name`.
    async fn load_snapshot(&self, name: &str) -> Result<Option<Snapshot>>;

    /// The root of `origin`'s Merkle tree (RFC 9162; leaf `i` is the hash of event `i + 1`) over
    /// its first `size` events, for `size` from 1 to the durable head.
    async fn tree_root(&self, origin: NodeId, size: u64) -> Result<Digest>;

    /// The audit path that proves event `seq` of `origin` is in its tree of `size` events.
    async fn inclusion_proof(&self, origin: NodeId, seq: u64, size: u64) -> Result<Vec<Digest>>;

    /// The proof that `origin`'s tree of `new_size` events extends its tree of `old_size`.
    async fn consistency_proof(&self, origin: NodeId, old_size: u64, new_size: u64) -> Result<Vec<Digest>>;

    /// The own log's tree head at its durable head, signed now by the node key.
    async fn signed_tree_head(&self) -> Result<SignedTreeHead>;

    /// Checks every stored chain and signature.
    async fn verify(&self) -> Result<VerifyReport>;

    /// [`EventLog::verify`], sending how far it has come to `progress` as it goes (a backend
    /// that cannot tell sends nothing).
    async fn verify_with_progress(&self, progress: mpsc::UnboundedSender<VerifyProgress>) -> Result<VerifyReport> {
        drop(progress);
        self.verify().await
    }

    /// Finishes queued writes, flushes, and ends subscriptions.
    async fn close(&self) -> Result<()>;

    /// What the log has written since it was opened (all zero for a log that does not count).
    fn stats(&self) -> crate::LogStats {
        crate::LogStats::default()
    }
}
