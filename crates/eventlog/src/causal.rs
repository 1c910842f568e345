//! Causal delivery over every origin a node holds: one feed of all origins' events, each origin in
//! its own order, and an event only after every event it names as a cause. A read model fed this
//! way sees another node's answer only after the event it answers, whatever order replication
//! brought them in. Origins that appear later (a peer's first events) join the feed.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures::future::select_all;
use tokio::sync::{mpsc, watch};

use crate::api::{SubscribeFrom, Subscription};
use crate::error::Result;
use crate::event::StoredEvent;
use crate::ids::NodeId;

/// One origin in the feed: its subscription and the event that waits for its causes.
struct Source {
    events: Subscription,
    held: Option<Arc<StoredEvent>>,
    closed: bool,
}

/// Runs the feed until its receiver goes away or every source ends. `subscribe` opens one
/// origin's subscription; `known` lists the origins held now; `origins` changes when one is added.
pub(crate) async fn merge(
    subscribe: impl Fn(SubscribeFrom) -> Result<Subscription> + Send,
    known: impl Fn() -> Vec<NodeId> + Send,
    mut origins: watch::Receiver<u64>,
    from: Vec<(NodeId, u64)>,
    tx: mpsc::Sender<Result<Arc<StoredEvent>>>,
) {
    // The last seq delivered per origin; an origin not named starts at its beginning.
    let mut delivered: HashMap<NodeId, u64> = from.iter().map(|(o, p)| (*o, p.saturating_sub(1))).collect();
    let mut sources: BTreeMap<NodeId, Source> = BTreeMap::new();
    loop {
        origins.borrow_and_update();
        for origin in known() {
            if let std::collections::btree_map::Entry::Vacant(slot) = sources.entry(origin) {
                let next = delivered.get(&origin).copied().unwrap_or(0) + 1;
                match subscribe(SubscribeFrom::origin(origin, next)) {
                    Ok(events) => {
                        slot.insert(Source { events, held: None, closed: false });
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                }
            }
        }
        // Deliver whatever is ready and whose causes are delivered, until nothing moves.
        let mut moved = true;
        while moved {
            moved = false;
            for (origin, source) in sources.iter_mut() {
                loop {
                    if source.held.is_none() && !source.closed {
                        match source.events.try_next() {
                            Some(Ok(e)) => source.held = Some(e),
                            Some(Err(e)) => {
                                let _ = tx.send(Err(e)).await;
                                return;
                            }
                            None => {}
                        }
                    }
                    let Some(e) = &source.held else { break };
                    let ready = e.header.causes.iter().all(|c| delivered.get(&c.origin).is_some_and(|d| *d >= c.seq));
                    if !ready {
                        break;
                    }
                    let e = source.held.take().expect("checked above");
                    delivered.insert(*origin, e.header.seq);
                    if tx.send(Ok(e)).await.is_err() {
                        return;
                    }
                    moved = true;
                }
            }
        }
        // Wait for a new event of an origin with nothing held, a new origin, or the reader leaving.
        let woke = {
            let waiting: Vec<_> = sources
                .iter_mut()
                .filter(|(_, s)| s.held.is_none() && !s.closed)
                .map(|(o, s)| {
                    let o = *o;
                    Box::pin(async move { Some((o, s.events.next().await)) })
                })
                .collect();
            let next = async move {
                if waiting.is_empty() { futures::future::pending().await } else { select_all(waiting).await.0 }
            };
            tokio::select! {
                next = next => Woke::Event(next),
                changed = origins.changed() => Woke::Origins(changed.is_ok()),
                () = tx.closed() => Woke::Gone,
            }
        };
        match woke {
            Woke::Event(Some((origin, Some(Ok(e))))) => {
                if let Some(s) = sources.get_mut(&origin) {
                    s.held = Some(e);
                }
            }
            Woke::Event(Some((_, Some(Err(e))))) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
            // The log closed under this origin's subscription.
            Woke::Event(Some((origin, None))) => {
                if let Some(s) = sources.get_mut(&origin) {
                    s.closed = true;
                }
                if sources.values().all(|s| s.closed) {
                    return;
                }
            }
            Woke::Event(None) | Woke::Origins(true) => {}
            Woke::Origins(false) | Woke::Gone => return,
        }
    }
}

enum Woke {
    Event(Option<(NodeId, Option<Result<Arc<StoredEvent>>>)>),
    Origins(bool),
    Gone,
}
