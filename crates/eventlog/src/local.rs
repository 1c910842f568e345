//! `LocalLog`: the event log on a local store (in memory or sled), with its group-commit writer.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot, watch};

use crate::api::{EventLog, SubscribeFrom, Subscription};
use crate::codec::{decode_checkpoint, decode_parts, decode_snapshot, encode_snapshot};
use crate::config::LogConfig;
use crate::error::{Error, FieldViolation, Result};
use crate::event::{Appended, ForkEvidence, Head, IngestOutcome, NewEvent, RemoteEvent, Snapshot, StoredEvent};
use crate::identity::NodeKey;
use crate::ids::NodeId;
use crate::ingest::{Whose, check_batch};
use crate::recent::Recent;
use crate::shared::{Shared, Stats};
use crate::store::{Key, MemoryStore, SledStore, Store};
use crate::tree::StoredTree;
use crate::verify::{VerifyProgress, VerifyReport, verify_store, verify_store_with};
use crate::writer::{Command, Writer};
use samenspel_merkle::{Digest, SignedTreeHead, TreeHead};
use std::time::{SystemTime, UNIX_EPOCH};

pub use crate::shared::LogStats;

/// Longest read model name a snapshot may have.
const MAX_SNAPSHOT_NAME: usize = 128;

/// A subscription to one origin (or one stream of it): reads from the store in chunks into a
/// bounded channel, then follows the origin's durable head.
fn subscribe(shared: Arc<Shared>, config: &LogConfig, from: SubscribeFrom) -> Subscription {
    let (tx, rx) = mpsc::channel(config.subscriber_buffer.max(1));
    let mut heads = shared.watch(from.origin);
    let chunk = config.read_chunk.max(1);
    tokio::spawn(async move {
        let mut next = from.position.max(1);
        loop {
            let head = heads.borrow_and_update().seq;
            loop {
                let batch = match &from.stream {
                    None if next > head => break,
                    None => shared.read_range(from.origin, next, head.min(next + chunk as u64 - 1)),
                    Some(stream) => shared.read_stream(from.origin, stream, next, chunk, head),
                };
                let events = match batch {
                    Ok(events) => events,
                    Err(e) => {
                        drop(tx.send(Err(e)).await);
                        return;
                    }
                };
                let full = events.len() == chunk;
                for e in events {
                    next = if from.stream.is_some() { e.header.stream_seq } else { e.header.seq } + 1;
                    if tx.send(Ok(e)).await.is_err() {
                        return;
                    }
                }
                if from.stream.is_some() && !full {
                    break;
                }
            }
            tokio::select! {
                changed = heads.changed() => if changed.is_err() { return },
                () = tx.closed() => return,
            }
        }
    });
    Subscription::new(rx)
}

/// The event log of one node on a local store.
pub struct LocalLog {
    pub(crate) shared: Arc<Shared>,
    /// Signs the own tree heads (the writer holds its own copy for checkpoints).
    key: NodeKey,
    config: LogConfig,
    tx: Mutex<Option<mpsc::Sender<Command>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for LocalLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalLog").field("origin", &self.shared.origin).finish_non_exhaustive()
    }
}

impl LocalLog {
    /// A log that lives in memory only, for tests and ephemeral nodes.
    pub fn memory(key: NodeKey, config: LogConfig) -> Result<Self> {
        Self::start(Arc::new(MemoryStore::default()), key, config)
    }

    /// Opens (or creates) the sled log in `dir/log`, with the node key in `dir/node.key`.
    pub fn open(dir: &Path, config: LogConfig) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let key = NodeKey::load_or_create(&dir.join("node.key"))?;
        Self::open_with_key(dir, key, config)
    }

    /// Opens the sled log in `dir/log`, signing with `key` (the caller keeps the key).
    pub fn open_with_key(dir: &Path, key: NodeKey, config: LogConfig) -> Result<Self> {
        let store = SledStore::open(&dir.join("log"), config.cache_bytes)?;
        Self::start(Arc::new(store), key, config)
    }

    pub(crate) fn start(store: Arc<dyn Store>, key: NodeKey, config: LogConfig) -> Result<Self> {
        let origin = key.node_id();
        crate::recover::repair_torn_tails(store.as_ref(), origin)?;
        let shared = Arc::new(Shared {
            store,
            origin,
            stats: Stats::default(),
            heads: Mutex::new(HashMap::new()),
            origins_added: watch::channel(0).0,
            recent: Recent::new(config.recent_events, config.recent_bytes),
        });
        for o in crate::recover::stored_origins(shared.store.as_ref())? {
            shared.publish(o, shared.stored_head(o)?);
        }
        let head = shared.head(origin);
        let mut last_time = 0;
        if head.seq > 0 {
            // Every group commit ends with a checkpoint; a tail without one was repaired above.
            let prefix = Key::origin_prefix(Key::CHECKPOINT, origin);
            let last_cp = shared.store.last(&prefix, &Key::prefix_end(&prefix))?.map(|(k, _)| Key::seq_of(&k));
            if last_cp != Some(head.seq) {
                return Err(Error::Corrupt(format!("own head {} is not covered by a checkpoint", head.seq)));
            }
            last_time = shared.read_range(origin, head.seq, head.seq)?[0].header.time_micros;
        }
        let mut forked = HashMap::new();
        for (k, _) in shared.store.scan(&[Key::FORK], &[Key::FORK + 1], usize::MAX)? {
            if let Some(o) = Key::origin_of(&k) {
                forked.entry(o).or_insert(Key::seq_of(&k));
            }
        }
        let trees = if config.merkle_tree {
            let mut trees = HashMap::new();
            for (o, head) in shared.heads.lock().expect("heads lock").iter().map(|(o, tx)| (*o, tx.borrow().seq)) {
                trees.insert(o, crate::tree::open(&shared, o, head)?);
            }
            Some(trees)
        } else {
            None
        };
        let mut salt_key = [0u8; 32];
        getrandom::fill(&mut salt_key).map_err(|e| Error::Key(format!("no randomness: {e}")))?;
        let writer = Writer {
            shared: shared.clone(),
            key: key.clone(),
            head,
            last_time,
            max_group_events: config.max_group_events.max(1),
            streams: HashMap::new(),
            forked,
            salt_key,
            salt_counter: 0,
            trees,
        };
        let (tx, rx) = mpsc::channel(1024);
        let thread = std::thread::Builder::new().name("eventlog-writer".into()).spawn(move || writer.run(rx))?;
        tracing::info!(origin = %origin.short(), head = head.seq, "event log open");
        Ok(Self { shared, key, config, tx: Mutex::new(Some(tx)), thread: Mutex::new(Some(thread)) })
    }

    /// Checks a batch of events from a peer (another origin's, or this node's own taken back) and
    /// hands what verifies to the writer; a batch with nothing new answers with the head.
    async fn take_in(&self, events: Vec<RemoteEvent>, whose: Whose) -> Result<IngestOutcome> {
        let batch = check_batch(self.shared.origin, events, whose)?;
        if batch.events.is_empty() {
            // An empty batch names no origin: a restore answers with this node's own head.
            let origin = if whose == Whose::Own { self.shared.origin } else { batch.origin };
            return Ok(IngestOutcome {
                uncovered: batch.uncovered,
                head: self.shared.head(origin),
                ..Default::default()
            });
        }
        match whose {
            Whose::Other => self.send(|reply| Command::Ingest { batch, reply }).await,
            Whose::Own => self.send(|reply| Command::Restore { batch, reply }).await,
        }
    }

    /// The tree of `origin` at the largest of `sizes` (the first named is the one a proof is
    /// about); every size must be between 1 and the origin's durable head.
    fn tree_at(&self, origin: NodeId, sizes: &[(&str, u64)]) -> Result<StoredTree<'_>> {
        if !self.config.merkle_tree {
            return Err(Error::Storage("this log keeps no merkle tree (merkle_tree = false)".into()));
        }
        let head = self.shared.head(origin).seq;
        let violations: Vec<FieldViolation> = sizes
            .iter()
            .filter(|(_, size)| *size == 0 || *size > head)
            .map(|(field, _)| {
                FieldViolation::new(*field, format!("must be 1 to {head}, the events of this origin held here"))
            })
            .collect();
        if !violations.is_empty() {
            return Err(Error::Invalid(violations));
        }
        let size = sizes.iter().map(|(_, s)| *s).max().unwrap_or(head);
        Ok(StoredTree::new(&self.shared, origin, size))
    }

    /// Verifies the sled store in `dir/log` without starting a writer (and without a node key).
    pub fn verify_dir(dir: &Path) -> Result<VerifyReport> {
        Self::verify_dir_with(dir, &mut |_| {})
    }

    /// [`LocalLog::verify_dir`], telling `progress` how far it has come as it goes.
    pub fn verify_dir_with(dir: &Path, progress: &mut dyn FnMut(VerifyProgress)) -> Result<VerifyReport> {
        let path = dir.join("log");
        if !path.is_dir() {
            return Err(Error::Storage(format!("no event log in {}", dir.display())));
        }
        verify_store_with(&SledStore::open(&path, 64 * 1024 * 1024)?, progress)
    }

    #[cfg(test)]
    pub(crate) fn store(&self) -> Arc<dyn Store> {
        self.shared.store.clone()
    }

    pub fn stats(&self) -> LogStats {
        LogStats {
            commits: self.shared.stats.commits.load(Ordering::Relaxed),
            events: self.shared.stats.events.load(Ordering::Relaxed),
            flush_micros: self.shared.stats.flush_micros.load(Ordering::Relaxed),
        }
    }

    async fn send<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T>>) -> Command) -> Result<T> {
        let tx = self.tx.lock().expect("writer lock").clone().ok_or(Error::Closed)?;
        let (reply, rx) = oneshot::channel();
        tx.send(make(reply)).await.map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?
    }
}

#[async_trait]
impl EventLog for LocalLog {
    fn node_id(&self) -> NodeId {
        self.shared.origin
    }

    fn check(&self, events: &[NewEvent]) -> Vec<FieldViolation> {
        crate::validate::check_batch(events, self.config.max_payload_bytes)
    }

    async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<Appended>> {
        let events: Vec<NewEvent> = events.into_iter().map(NewEvent::in_place).collect();
        let violations = self.check(&events);
        if !violations.is_empty() {
            return Err(Error::Invalid(violations));
        }
        self.send(|reply| Command::Append { events, reply }).await
    }

    async fn read(&self, origin: NodeId, from_seq: u64, limit: usize) -> Result<Vec<StoredEvent>> {
        let from = from_seq.max(1);
        let head = self.shared.head(origin).seq;
        let to = head.min(from.saturating_add(limit as u64).saturating_sub(1));
        Ok(self.shared.read_range(origin, from, to)?.into_iter().map(Arc::unwrap_or_clone).collect())
    }

    async fn read_stream(
        &self,
        origin: NodeId,
        stream: &str,
        from_stream_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>> {
        let head = self.shared.head(origin).seq;
        let events = self.shared.read_stream(origin, stream, from_stream_seq.max(1), limit, head)?;
        Ok(events.into_iter().map(Arc::unwrap_or_clone).collect())
    }

    fn subscribe(&self, from: SubscribeFrom) -> Result<Subscription> {
        if self.tx.lock().expect("writer lock").is_none() {
            return Err(Error::Closed);
        }
        Ok(subscribe(self.shared.clone(), &self.config, from))
    }

    fn subscribe_all(&self, from: Vec<(NodeId, u64)>) -> Result<Subscription> {
        if self.tx.lock().expect("writer lock").is_none() {
            return Err(Error::Closed);
        }
        let (tx, rx) = mpsc::channel(self.config.subscriber_buffer.max(1));
        let (shared, config) = (self.shared.clone(), self.config.clone());
        let origins = self.shared.origins_added.subscribe();
        let known = {
            let shared = shared.clone();
            move || shared.known_origins()
        };
        let open = move |f| Ok(subscribe(shared.clone(), &config, f));
        tokio::spawn(crate::causal::merge(open, known, origins, from, tx));
        Ok(Subscription::new(rx))
    }

    async fn head(&self, origin: NodeId) -> Result<Head> {
        Ok(self.shared.head(origin))
    }

    async fn origins(&self) -> Result<Vec<(NodeId, Head)>> {
        let heads = self.shared.heads.lock().expect("heads lock");
        let mut out: Vec<(NodeId, Head)> =
            heads.iter().map(|(o, tx)| (*o, *tx.borrow())).filter(|(_, h)| h.seq > 0).collect();
        out.sort_by_key(|(o, _)| *o);
        Ok(out)
    }

    async fn ingest(&self, events: Vec<RemoteEvent>) -> Result<IngestOutcome> {
        self.take_in(events, Whose::Other).await
    }

    async fn restore_own(&self, events: Vec<RemoteEvent>) -> Result<IngestOutcome> {
        self.take_in(events, Whose::Own).await
    }

    async fn forks(&self) -> Result<Vec<ForkEvidence>> {
        let mut out = Vec::new();
        for (k, v) in self.shared.store.scan(&[Key::FORK], &[Key::FORK + 1], usize::MAX)? {
            let origin = Key::origin_of(&k).ok_or_else(|| Error::Corrupt("short fork key".into()))?;
            let seq = Key::seq_of(&k);
            let mut parts = decode_parts(&v)?.into_iter();
            let (Some(ours), Some(cp)) = (parts.next(), parts.next()) else {
                return Err(Error::Corrupt(format!("fork evidence {origin}:{seq}")));
            };
            let theirs: Vec<Vec<u8>> = parts.collect();
            let checkpoint = decode_checkpoint(origin, seq + theirs.len().max(1) as u64 - 1, &cp)?;
            out.push(ForkEvidence { origin, seq, ours, theirs, checkpoint });
        }
        Ok(out)
    }

    async fn redact(&self, origin: NodeId, seq: u64) -> Result<bool> {
        self.send(|reply| Command::Redact { origin, seq, reply }).await
    }

    async fn save_snapshot(&self, name: &str, snapshot: Snapshot) -> Result<()> {
        if self.tx.lock().expect("writer lock").is_none() {
            return Err(Error::Closed);
        }
        let mut violations = Vec::new();
        if name.is_empty() || name.len() > MAX_SNAPSHOT_NAME {
            violations.push(FieldViolation::new("name", format!("must be 1 to {MAX_SNAPSHOT_NAME} bytes")));
        }
        if snapshot.positions.len() > usize::from(u16::MAX) {
            violations.push(FieldViolation::new("positions", "too many origins"));
        }
        for (i, (origin, seq)) in snapshot.positions.iter().enumerate() {
            let head = self.shared.head(*origin).seq;
            if *seq > head {
                let why = format!("seq {seq} of {} is beyond its durable head {head}", origin.short());
                violations.push(FieldViolation::new(format!("positions[{i}]"), why));
            }
        }
        if !violations.is_empty() {
            return Err(Error::Invalid(violations));
        }
        let (key, value) = (Key::snapshot(name), encode_snapshot(&snapshot));
        self.send(|reply| Command::Snapshot { key, value, reply }).await
    }

    async fn load_snapshot(&self, name: &str) -> Result<Option<Snapshot>> {
        self.shared.store.get(&Key::snapshot(name))?.map(|v| decode_snapshot(&v)).transpose()
    }

    async fn tree_root(&self, origin: NodeId, size: u64) -> Result<Digest> {
        self.tree_at(origin, &[("tree_size", size)])?.root()
    }

    async fn inclusion_proof(&self, origin: NodeId, seq: u64, size: u64) -> Result<Vec<Digest>> {
        let tree = self.tree_at(origin, &[("tree_size", size)])?;
        if seq == 0 || seq > size {
            let why = format!("must be an event in the tree: 1 to {size}");
            return Err(Error::Invalid(vec![FieldViolation::new("seq", why)]));
        }
        samenspel_merkle::inclusion_path(&tree, seq - 1, size)
    }

    async fn consistency_proof(&self, origin: NodeId, old_size: u64, new_size: u64) -> Result<Vec<Digest>> {
        let tree = self.tree_at(origin, &[("old_tree_size", old_size), ("tree_size", new_size)])?;
        if old_size > new_size {
            let why = format!("must not be larger than tree_size {new_size}");
            return Err(Error::Invalid(vec![FieldViolation::new("old_tree_size", why)]));
        }
        samenspel_merkle::consistency_path(&tree, old_size, new_size)
    }

    async fn signed_tree_head(&self) -> Result<SignedTreeHead> {
        let origin = self.shared.origin;
        let size = self.shared.head(origin).seq;
        // At size 0 the empty tree's head: signed too, so that even a new node's log has one.
        let root = if size == 0 {
            samenspel_merkle::EMPTY_ROOT
        } else {
            self.tree_at(origin, &[("tree_size", size)])?.root()?
        };
        let time_micros = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64);
        Ok(self.key.sign_tree_head(TreeHead { origin: self.shared.origin.0, size, root, time_micros }))
    }

    async fn verify(&self) -> Result<VerifyReport> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || verify_store(shared.store.as_ref()))
            .await
            .map_err(|e| Error::Storage(format!("verify task: {e}")))?
    }

    async fn verify_with_progress(&self, progress: mpsc::UnboundedSender<VerifyProgress>) -> Result<VerifyReport> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            // At most ten steps a second within an origin, and every origin's end.
            let mut last: Option<(usize, std::time::Instant)> = None;
            verify_store_with(shared.store.as_ref(), &mut |p| {
                let due = last.is_none_or(|(done, at)| done != p.origins_done || at.elapsed().as_millis() >= 100);
                if due {
                    last = Some((p.origins_done, std::time::Instant::now()));
                    // A caller that stopped listening still gets the report.
                    let _ = progress.send(p);
                }
            })
        })
        .await
        .map_err(|e| Error::Storage(format!("verify task: {e}")))?
    }

    fn stats(&self) -> LogStats {
        LocalLog::stats(self)
    }

    async fn close(&self) -> Result<()> {
        drop(self.tx.lock().expect("writer lock").take());
        let thread = self.thread.lock().expect("writer lock").take();
        if let Some(thread) = thread {
            tokio::task::spawn_blocking(move || thread.join())
                .await
                .map_err(|e| Error::Storage(format!("writer join: {e}")))?
                .map_err(|_| Error::Storage("the writer thread panicked".into()))?;
        }
        self.shared.store.flush()?;
        // Dropping the head senders ends every subscription.
        self.shared.heads.lock().expect("heads lock").clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(stream: &str, i: usize) -> NewEvent {
        NewEvent::new(stream, "test.happened", format!("payload {i}").into_bytes()).with_id(format!("id-{i}"))
    }

    /// What readers get from the window of recent events is exactly what the store holds: same
    /// bytes, decoded header, hash, payload (or its absence) and checkpoint, for own events
    /// (appended, in several group commits) and for another origin's (ingested).
    #[tokio::test]
    async fn the_window_of_recent_events_answers_what_the_store_holds() {
        let a = LocalLog::memory(NodeKey::from_seed([1; 32]), LogConfig::default()).unwrap();
        for round in 0..3 {
            a.append((0..5).map(|i| ev(&format!("s{}", i % 2), round * 5 + i)).collect()).await.unwrap();
        }
        assert!(a.redact(a.node_id(), 4).await.unwrap());
        let b = LocalLog::memory(NodeKey::from_seed([2; 32]), LogConfig::default()).unwrap();
        let events = a.read(a.node_id(), 1, 100).await.unwrap();
        b.ingest(events.into_iter().map(RemoteEvent::from).collect()).await.unwrap();
        assert!(b.redact(a.node_id(), 7).await.unwrap());
        for (log, origin) in [(&a, a.node_id()), (&b, a.node_id())] {
            let windowed = log.shared.read_range(origin, 1, 15).unwrap();
            let stored = log.shared.read_stored(origin, 1, 15).unwrap();
            assert_eq!(windowed.len(), 15, "the window holds every event here");
            assert_eq!(windowed, stored);
            // A range that starts before the window: the store, then the window.
            assert_eq!(log.shared.read_range(origin, 3, 9).unwrap(), stored[2..9]);
        }
        assert!(a.shared.read_range(a.node_id(), 4, 4).unwrap()[0].payload.is_none());
        assert!(b.shared.read_range(a.node_id(), 7, 7).unwrap()[0].payload.is_none());
        let checkpoints: Vec<u64> = a
            .shared
            .read_range(a.node_id(), 1, 15)
            .unwrap()
            .iter()
            .filter_map(|e| e.checkpoint.map(|c| c.seq))
            .collect();
        assert_eq!(checkpoints, vec![5, 10, 15], "one checkpoint per group commit, at its head");
    }

    /// A window smaller than the range: the head from the window, the rest from the store.
    #[tokio::test]
    async fn a_short_window_serves_the_latest_events_and_the_store_the_rest() {
        let config = LogConfig { recent_events: 4, ..LogConfig::default() };
        let log = LocalLog::memory(NodeKey::from_seed([1; 32]), config).unwrap();
        log.append((0..10).map(|i| ev("s", i)).collect()).await.unwrap();
        let origin = log.node_id();
        assert_eq!(log.shared.recent.suffix(origin, 1, 10).len(), 4);
        assert_eq!(log.shared.read_range(origin, 1, 10).unwrap(), log.shared.read_stored(origin, 1, 10).unwrap());
    }
}
