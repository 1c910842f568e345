//! Read models fed by the log: a [`Projection`] applies events in order — this node's own, or
//! every origin's with causal delivery ([`Feed`]) — saves a snapshot with its position per origin
//! every so often, and after a restart resumes from the snapshot instead of replaying the log.
//!
//! A read model is kept twice (left-right): readers take the published copy, the projection
//! applies the next events to the other one and then publishes it, and brings the first copy up to
//! date when its readers have let go. So a reader never waits for the projection, and the
//! projection never waits on a thread for a reader: while an old reader still holds the copy it
//! needs, it waits asynchronously. Each event is applied to both copies; the second time in
//! silence (its log lines were written the first time).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, TryLockError};
use std::time::{Duration, Instant};

use samenspel_eventlog::{Error, EventLog, NodeId, Result, Snapshot, StoredEvent};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::feed::{Applied, Feed};

/// Most events applied in one step, so a reader sees progress in a large catch-up.
const APPLY_BATCH: usize = 64;

/// After a snapshot that took t, the next one waits at least this many times t.
const SNAPSHOT_PACING: u32 = 20;

/// How long the projection waits, at most, before it looks again whether the readers of the copy
/// it needs have let go.
const MAX_WAIT_FOR_READERS: Duration = Duration::from_millis(5);

/// A read model built from events.
pub trait Projection: Send + Sync + 'static {
    /// Applies the next event of the log. Called once per event and copy, in log order, also
    /// across restarts (events included in the restored snapshot are not applied again).
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

/// The two copies of a read model and which one is published.
#[derive(Debug)]
struct Copies<P> {
    copies: [RwLock<P>; 2],
    published: AtomicUsize,
}

impl<P> Copies<P> {
    /// The published copy. A reader that meets the projection writing (it took the copy just
    /// after publishing the other) takes the other, which is now the published one.
    fn read(&self) -> RwLockReadGuard<'_, P> {
        loop {
            let i = self.published.load(Ordering::Acquire);
            match self.copies[i].try_read() {
                Ok(guard) => return guard,
                Err(TryLockError::WouldBlock) => std::hint::spin_loop(),
                Err(TryLockError::Poisoned(_)) => panic!("a read model's lock is poisoned"),
            }
        }
    }
}

/// A running projection: its state, and how far into the log it is. Dropping the handle stops
/// the projection as [`ProjectionHandle::stop`] does, without waiting for it.
#[derive(Debug)]
pub struct ProjectionHandle<P> {
    reader: ProjectionReader<P>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<()>>,
}

/// Read access to a running projection, for as many readers as need it.
#[derive(Debug)]
pub struct ProjectionReader<P> {
    state: Arc<Copies<P>>,
    origin: NodeId,
    applied: watch::Receiver<Applied>,
}

impl<P> Clone for ProjectionReader<P> {
    fn clone(&self) -> Self {
        Self { state: self.state.clone(), origin: self.origin, applied: self.applied.clone() }
    }
}

impl<P> ProjectionReader<P> {
    /// The current state. A reader never waits for the projection; hold the guard briefly all
    /// the same (copy out what a long computation needs): the projection waits for the copy a
    /// reader holds before it can publish the one after.
    pub fn read(&self) -> RwLockReadGuard<'_, P> {
        self.state.read()
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.origin
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

    /// Waits until the read model has every event of this node's log that was durable when
    /// called, and — for at most `others_wait`, since another node's event may wait for its
    /// causes — every event of other origins held then: a caller reads what was written before
    /// it asked, here or (once it arrived) on another node.
    pub async fn catch_up(&self, log: &dyn EventLog, others_wait: Duration) -> Result<()> {
        let own = self.origin;
        self.wait_for(log.head(own).await?.seq).await?;
        if others_wait.is_zero() {
            return Ok(());
        }
        let others: Vec<(NodeId, u64)> =
            log.origins().await?.into_iter().filter(|(o, _)| *o != own).map(|(o, h)| (o, h.seq)).collect();
        let _ = tokio::time::timeout(others_wait, self.wait_for_all(&others)).await;
        Ok(())
    }
}

impl<P> ProjectionHandle<P> {
    /// A reader of the state, to hand to request handlers.
    pub fn reader(&self) -> ProjectionReader<P> {
        self.reader.clone()
    }

    /// Stops applying events and saves a last snapshot; call it before the log closes.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.map_err(|e| Error::Storage(format!("projection task: {e}")))?
    }
}

impl<P> Drop for ProjectionHandle<P> {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts projection `name` over the events `feed` names. It restores the last snapshot saved
/// under `name` (or starts from `P::default()`), applies every later event, and saves a snapshot
/// after every `snapshot_every` events (paced by how long the last one took) and when it stops.
pub async fn start_projection<P: Projection + Default>(
    log: Arc<dyn EventLog>,
    name: &str,
    snapshot_every: u64,
    feed: Feed,
) -> Result<ProjectionHandle<P>> {
    let origin = log.node_id();
    let snapshot = log.load_snapshot(name).await?;
    let (mut left, mut right, positions) = match &snapshot {
        Some(snapshot) => {
            let restore = || {
                P::restore(&snapshot.data).map_err(|e| Error::Corrupt(format!("snapshot of projection {name:?}: {e}")))
            };
            (restore()?, restore()?, feed.resume_from(snapshot.positions.clone(), origin))
        }
        None => (P::default(), P::default(), Applied::new()),
    };
    left.started(origin);
    right.started(origin);
    let own_position = positions.get(&origin).copied().unwrap_or(0);
    tracing::info!(projection = name, position = own_position, origins = positions.len(), "projection starting");
    let mut subscription = feed.subscribe(log.as_ref(), &positions)?;
    let state = Arc::new(Copies { copies: [RwLock::new(left), RwLock::new(right)], published: AtomicUsize::new(0) });
    let (applied_tx, applied) = watch::channel(positions);
    crate::read_models::register(origin, name, feed, applied.clone());
    let (name, shared) = (name.to_string(), state.clone());
    let (stop, mut stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let (mut since_save, mut unsaved) = (0u64, false);
        let (mut last_save, mut save_took) = (Instant::now(), Duration::ZERO);
        // Events the published copy has and the other does not yet.
        let mut behind: Vec<Arc<StoredEvent>> = Vec::new();
        let save = |applied: &watch::Sender<Applied>| {
            let data = shared.read().save();
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
            // Whatever else is ready is applied in the same step, and readers waiting for a
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
            apply_to_the_other_copy(&name, &shared, &behind, &batch).await;
            applied_tx.send_modify(|a| {
                for event in &batch {
                    a.insert(event.header.origin, event.header.seq);
                }
            });
            since_save += batch.len() as u64;
            unsaved = true;
            behind = batch;
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
    let reader = ProjectionReader { state, origin, applied };
    Ok(ProjectionHandle { reader, stop: Some(stop), task })
}

/// Brings the unpublished copy up to date (`behind`, which only the published one has, then
/// `batch`) and publishes it. Waits, without holding a thread, for readers still on it.
async fn apply_to_the_other_copy<P: Projection>(
    name: &str,
    copies: &Copies<P>,
    behind: &[Arc<StoredEvent>],
    batch: &[Arc<StoredEvent>],
) {
    let other = 1 - copies.published.load(Ordering::Acquire);
    let mut wait = Duration::from_micros(50);
    loop {
        let applied = match copies.copies[other].try_write() {
            Ok(mut state) => {
                // The first copy's log lines were written when it applied these.
                tracing::dispatcher::with_default(&tracing::Dispatch::none(), || {
                    for event in behind {
                        state.apply(event);
                    }
                });
                for event in batch {
                    let _span = crate::trace::event_span(name, event).entered();
                    state.apply(event);
                }
                true
            }
            Err(TryLockError::WouldBlock) => false,
            Err(TryLockError::Poisoned(_)) => panic!("a read model's lock is poisoned"),
        };
        if applied {
            break;
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(MAX_WAIT_FOR_READERS);
    }
    copies.published.store(other, Ordering::Release);
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
    use samenspel_eventlog::{LocalLog, LogConfig, NewEvent, NodeKey};

    use super::*;

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
        let counts = start_projection::<Counts>(log.clone(), "counts", 4, Feed::Own).await.unwrap();
        let reader = counts.reader();
        let last = append(log.as_ref(), "b", 5).await;
        reader.wait_for(last).await.unwrap();
        assert_eq!(reader.read().per_stream.values().sum::<u64>(), 11);
        assert_eq!(reader.applied(), 11);
        counts.stop().await.unwrap();
        log.close().await.unwrap();
        drop(log);

        let log: Arc<dyn EventLog> = Arc::new(LocalLog::open(dir.path(), config).unwrap());
        let counts = start_projection::<Counts>(log.clone(), "counts", 4, Feed::Own).await.unwrap();
        let reader = counts.reader();
        assert_eq!(reader.applied(), 11, "restored from the final snapshot, nothing replayed");
        let last = append(log.as_ref(), "a", 2).await;
        reader.wait_for(last).await.unwrap();
        let state = reader.read();
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
        assert!(matches!(start_projection::<Counts>(log, "counts", 4, Feed::Own).await, Err(Error::Corrupt(_))));
    }

    /// A reader holding the state for a long time (a heavy query) keeps neither other readers
    /// nor the projection waiting on a thread: a reader still sees every event applied once the
    /// long one lets go, and on the runtime's two workers nothing stalls meanwhile.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_long_reader_blocks_neither_readers_nor_the_projection() {
        let log: Arc<dyn EventLog> =
            Arc::new(LocalLog::memory(NodeKey::from_seed([5; 32]), LogConfig::default()).unwrap());
        let counts = start_projection::<Counts>(log.clone(), "counts", 1000, Feed::Own).await.unwrap();
        let reader = counts.reader();
        let first = append(log.as_ref(), "a", 1).await;
        reader.wait_for(first).await.unwrap();
        // The heavy reader, off the async workers, holds the published copy for 500 ms.
        let heavy = reader.clone();
        let (held, released) = (Arc::new(tokio::sync::Notify::new()), Instant::now());
        let holding = {
            let held = held.clone();
            tokio::task::spawn_blocking(move || {
                let state = heavy.read();
                held.notify_one();
                std::thread::sleep(Duration::from_millis(500));
                state.per_stream.values().sum::<u64>()
            })
        };
        held.notified().await;
        // One batch goes to the other copy at once, and readers see it at once.
        let second = append(log.as_ref(), "b", 1).await;
        tokio::time::timeout(Duration::from_millis(200), reader.wait_for(second)).await.unwrap().unwrap();
        assert_eq!(reader.read().per_stream.values().sum::<u64>(), 2, "readers are not held up");
        // More events wait (asynchronously) for the heavy reader's copy; the runtime goes on.
        let third = append(log.as_ref(), "c", 1).await;
        let ticks = tokio::spawn(async {
            let started = Instant::now();
            tokio::time::sleep(Duration::from_millis(50)).await;
            started.elapsed()
        });
        assert!(ticks.await.unwrap() < Duration::from_millis(150), "no worker is blocked");
        assert_eq!(holding.await.unwrap(), 1, "the heavy reader saw one consistent copy");
        reader.wait_for(third).await.unwrap();
        assert!(released.elapsed() >= Duration::from_millis(500));
        assert_eq!(reader.read().per_stream.values().sum::<u64>(), 3);
        assert_eq!(reader.read().applied_here, 3, "each copy applied every event once");
    }
}
