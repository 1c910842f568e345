//! Read models fed by the log: a [`Projection`] applies events in order — this node's own, or
//! every origin's with causal delivery ([`Feed`]) — saves a snapshot with its position per origin
//! every so often, and after a restart resumes from the snapshot instead of replaying the log.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::api::{EventLog, SubscribeFrom, Subscription};
use crate::error::{Error, Result};
use crate::event::{Snapshot, StoredEvent};
use crate::ids::NodeId;

/// Which events a projection applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// This node's own log.
    Own,
    /// Every origin the node holds, an event after its causes (`EventLog::subscribe_all`).
    All,
}

/// The last seq applied, per origin.
pub(crate) type Applied = HashMap<NodeId, u64>;

impl Feed {
    /// Of the positions a snapshot saved, the ones this feed resumes from.
    pub(crate) fn resume_from(self, saved: Vec<(NodeId, u64)>, own: NodeId) -> Applied {
        saved.into_iter().filter(|(o, _)| self == Feed::All || *o == own).collect()
    }

    /// The events after `applied`: this node's own log, or every origin's in causal order.
    pub(crate) fn subscribe(self, log: &dyn EventLog, applied: &Applied) -> Result<Subscription> {
        match self {
            Feed::Own => {
                let own = log.node_id();
                log.subscribe(SubscribeFrom::origin(own, applied.get(&own).copied().unwrap_or(0) + 1))
            }
            Feed::All => log.subscribe_all(applied.iter().map(|(o, p)| (*o, p + 1)).collect()),
        }
    }
}

/// Most events applied under one hold of the state's lock, so readers are not kept waiting.
const APPLY_BATCH: usize = 64;

/// After a snapshot that took t, the next one waits at least this many times t.
const SNAPSHOT_PACING: u32 = 20;

/// A read model built from events.
pub trait Projection: Send + Sync + 'static {
    /// Applies the next event of the log. Called once per event, in log order, also across
    /// restarts (events included in the restored snapshot are not applied again).
    fn apply(&mut self, event: &StoredEvent);

    /// The state to keep in a snapshot.
    fn save(&self) -> Vec<u8>;

    /// The state saved by [`Projection::save`].
    fn restore(data: &[u8]) -> std::result::Result<Self, String>
    where
        Self: Sized;

    /// Called once before the first event is applied, with this node's id: a read model that
    /// applies only some origins' events learns which origin is its own.
    fn started(&mut self, _own: NodeId) {}
}

/// A running projection: its state, and how far into the log it is. Dropping the handle stops
/// the projection as [`ProjectionHandle::stop`] does, without waiting for it.
#[derive(Debug)]
pub struct ProjectionHandle<P> {
    state: Arc<RwLock<P>>,
    origin: NodeId,
    applied: watch::Receiver<Applied>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<()>>,
}

/// Read access to a running projection, for as many readers as need it.
#[derive(Debug)]
pub struct ProjectionReader<P> {
    state: Arc<RwLock<P>>,
    origin: NodeId,
    applied: watch::Receiver<Applied>,
}

impl<P> Clone for ProjectionReader<P> {
    fn clone(&self) -> Self {
        Self { state: self.state.clone(), origin: self.origin, applied: self.applied.clone() }
    }
}

impl<P> ProjectionReader<P> {
    /// The current state. Hold the guard briefly: the projection waits for it to apply events.
    pub fn read(&self) -> RwLockReadGuard<'_, P> {
        self.state.read().expect("projection lock")
    }

    /// The last seq of this node's own log applied.
    pub fn applied(&self) -> u64 {
        self.applied.borrow().get(&self.origin).copied().unwrap_or(0)
    }

    /// Waits until this node's event at `seq` is applied, so a caller reads what it just wrote.
    pub async fn wait_for(&self, seq: u64) -> Result<()> {
        self.wait_for_origin(self.origin, seq).await
    }

    /// Waits until `origin`'s event at `seq` is applied.
    pub async fn wait_for_origin(&self, origin: NodeId, seq: u64) -> Result<()> {
        if seq == 0 {
            return Ok(());
        }
        let mut applied = self.applied.clone();
        let reached = |a: &Applied| a.get(&origin).is_some_and(|s| *s >= seq);
        applied.wait_for(reached).await.map(|_| ()).map_err(|_| Error::Closed)
    }

    /// Waits until every `(origin, seq)` is applied: what the log held when a caller asked.
    pub async fn wait_for_all(&self, heads: &[(NodeId, u64)]) -> Result<()> {
        for (origin, seq) in heads {
            self.wait_for_origin(*origin, *seq).await?;
        }
        Ok(())
    }
}

impl<P> ProjectionHandle<P> {
    /// A reader of the state, to hand to request handlers.
    pub fn reader(&self) -> ProjectionReader<P> {
        ProjectionReader { state: self.state.clone(), origin: self.origin, applied: self.applied.clone() }
    }

    /// The current state. Hold the guard briefly: the projection waits for it to apply events.
    pub fn read(&self) -> RwLockReadGuard<'_, P> {
        self.state.read().expect("projection lock")
    }

    /// The last seq of this node's own log applied.
    pub fn applied(&self) -> u64 {
        self.reader().applied()
    }

    /// Waits until this node's event at `seq` is applied, so a caller reads what it just wrote.
    pub async fn wait_for(&self, seq: u64) -> Result<()> {
        self.reader().wait_for(seq).await
    }

    /// Stops applying events and saves a last snapshot; call it before the log closes.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.map_err(|e| Error::Storage(format!("projection task: {e}")))?
    }
}

/// Starts projection `name` over this node's own log. It restores the last snapshot saved under
/// `name` (or starts from `P::default()`), applies every later event, and saves a snapshot after
/// every `snapshot_every` events (paced by how long the last one took) and when it stops.
pub async fn start_projection<P: Projection + Default>(
    log: Arc<dyn EventLog>,
    name: &str,
    snapshot_every: u64,
) -> Result<ProjectionHandle<P>> {
    start_projection_of::<P>(log, name, snapshot_every, Feed::Own).await
}

/// [`start_projection`] over the events `feed` names.
pub async fn start_projection_of<P: Projection + Default>(
    log: Arc<dyn EventLog>,
    name: &str,
    snapshot_every: u64,
    feed: Feed,
) -> Result<ProjectionHandle<P>> {
    let origin = log.node_id();
    let (state, positions) = match log.load_snapshot(name).await? {
        Some(snapshot) => {
            let state = P::restore(&snapshot.data)
                .map_err(|e| Error::Corrupt(format!("snapshot of projection {name:?}: {e}")))?;
            (state, feed.resume_from(snapshot.positions, origin))
        }
        None => (P::default(), Applied::new()),
    };
    let mut state = state;
    state.started(origin);
    let own_position = positions.get(&origin).copied().unwrap_or(0);
    tracing::info!(projection = name, position = own_position, origins = positions.len(), "projection starting");
    let mut subscription = feed.subscribe(log.as_ref(), &positions)?;
    let state = Arc::new(RwLock::new(state));
    let (applied_tx, applied) = watch::channel(positions);
    let (name, shared) = (name.to_string(), state.clone());
    let (stop, mut stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let (mut since_save, mut unsaved) = (0u64, false);
        let (mut last_save, mut save_took) = (Instant::now(), Duration::ZERO);
        let save = |applied: &watch::Sender<Applied>| {
            let data = shared.read().expect("projection lock").save();
            let positions = applied.borrow().iter().map(|(o, s)| (*o, *s)).collect();
            Snapshot { positions, data }
        };
        loop {
            let first = tokio::select! {
                next = subscription.next() => match next {
                    Some(event) => event?,
                    None => break,
                },
                _ = &mut stopped => break,
            };
            // Whatever else is ready is applied under the same lock, and readers waiting for a
            // position are woken once for all of it.
            let (mut batch, mut failed) = (vec![first], None);
            while batch.len() < APPLY_BATCH {
                match subscription.try_next() {
                    Some(Ok(event)) => batch.push(event),
                    Some(Err(e)) => {
                        failed = Some(e);
                        break;
                    }
                    None => break,
                }
            }
            {
                let mut state = shared.write().expect("projection lock");
                for event in &batch {
                    state.apply(event);
                }
            }
            applied_tx.send_modify(|a| {
                for event in &batch {
                    a.insert(event.header.origin, event.header.seq);
                }
            });
            since_save += batch.len() as u64;
            unsaved = true;
            if let Some(e) = failed {
                return Err(e);
            }
            // A snapshot of a large state is costly: after one that took t, the next waits at
            // least SNAPSHOT_PACING × t, so saving never takes more than a small share of the
            // time, however many events arrive at once.
            if since_save >= snapshot_every.max(1) && last_save.elapsed() >= save_took * SNAPSHOT_PACING {
                let started = Instant::now();
                log.save_snapshot(&name, save(&applied_tx)).await?;
                save_took = started.elapsed();
                last_save = Instant::now();
                (since_save, unsaved) = (0, false);
            }
        }
        // Stopped, or the log closed under us (then there is nowhere left to save to).
        if unsaved {
            match log.save_snapshot(&name, save(&applied_tx)).await {
                Ok(()) | Err(Error::Closed) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    });
    Ok(ProjectionHandle { state, origin, applied, stop: Some(stop), task })
}

/// A read model built from `events` in the order given, as a fresh projection on node `own`
/// builds it: for tests that apply one store in several causal orders and compare the results.
pub fn replay<'a, P: Projection + Default>(own: NodeId, events: impl IntoIterator<Item = &'a StoredEvent>) -> P {
    let mut state = P::default();
    state.started(own);
    for event in events {
        state.apply(event);
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LocalLog, LogConfig, NewEvent, NodeKey};

    /// Counts events per stream, and how many it applied itself (not restored).
    #[derive(Default)]
    struct Counts {
        per_stream: std::collections::BTreeMap<String, u64>,
        applied_here: u64,
    }

    impl Projection for Counts {
        fn apply(&mut self, event: &StoredEvent) {
            *self.per_stream.entry(event.header.stream.clone()).or_default() += 1;
            self.applied_here += 1;
        }
        fn save(&self) -> Vec<u8> {
            self.per_stream.iter().map(|(s, n)| format!("{s}={n}\n")).collect::<String>().into_bytes()
        }
        fn restore(data: &[u8]) -> std::result::Result<Self, String> {
            let text = std::str::from_utf8(data).map_err(|e| e.to_string())?;
            let per_stream = text
                .lines()
                .map(|l| {
                    let (s, n) = l.split_once('=').ok_or("no '='")?;
                    Ok((s.to_string(), n.parse::<u64>().map_err(|e| e.to_string())?))
                })
                .collect::<std::result::Result<_, String>>()?;
            Ok(Counts { per_stream, applied_here: 0 })
        }
    }

    async fn append(log: &dyn EventLog, stream: &str, n: usize) -> u64 {
        let events = (0..n).map(|i| NewEvent::new(stream, "test.noted", format!("{i}"))).collect();
        log.append(events).await.unwrap().last().unwrap().seq
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn resumes_from_its_snapshot_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig { cache_bytes: 1 << 24, ..LogConfig::default() };
        let log: Arc<dyn EventLog> = Arc::new(LocalLog::open(dir.path(), config.clone()).unwrap());
        append(log.as_ref(), "a", 6).await;
        let counts = start_projection::<Counts>(log.clone(), "counts", 4).await.unwrap();
        let last = append(log.as_ref(), "b", 5).await;
        counts.wait_for(last).await.unwrap();
        assert_eq!(counts.read().per_stream.values().sum::<u64>(), 11);
        assert_eq!(counts.applied(), 11);
        counts.stop().await.unwrap();
        log.close().await.unwrap();
        drop(log);

        let log: Arc<dyn EventLog> = Arc::new(LocalLog::open(dir.path(), config).unwrap());
        let counts = start_projection::<Counts>(log.clone(), "counts", 4).await.unwrap();
        assert_eq!(counts.applied(), 11, "restored from the final snapshot, nothing replayed");
        let last = append(log.as_ref(), "a", 2).await;
        counts.wait_for(last).await.unwrap();
        let state = counts.read();
        assert_eq!(state.applied_here, 2, "only events after the snapshot were applied");
        assert_eq!((state.per_stream["a"], state.per_stream["b"]), (8, 5));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_snapshot_that_does_not_restore_is_an_error_not_a_silent_reset() {
        let log: Arc<dyn EventLog> =
            Arc::new(LocalLog::memory(NodeKey::from_seed([4; 32]), LogConfig::default()).unwrap());
        append(log.as_ref(), "a", 1).await;
        let garbage = Snapshot { positions: vec![(log.node_id(), 1)], data: vec![0xff] };
        log.save_snapshot("counts", garbage).await.unwrap();
        assert!(matches!(start_projection::<Counts>(log, "counts", 4).await, Err(Error::Corrupt(_))));
    }
}
