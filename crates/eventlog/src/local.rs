//! `LocalLog`: the event log on a local store (in memory or sled), with its group-commit writer.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot, watch};

use crate::api::{EventLog, SubscribeFrom, Subscription};
use crate::codec::{
    decode_checkpoint, decode_headers, decode_parts, decode_payloads, decode_snapshot, encode_snapshot,
};
use crate::config::LogConfig;
use crate::error::{Error, FieldViolation, Result};
use crate::event::{Appended, ForkEvidence, Head, IngestOutcome, NewEvent, RemoteEvent, Snapshot, StoredEvent};
use crate::header::{EventHeader, header_hash};
use crate::identity::NodeKey;
use crate::ids::NodeId;
use crate::ingest::{Whose, check_batch};
use crate::recent::Recent;
use crate::store::{Key, MemoryStore, SledStore, Store};
use crate::stream_index;
use crate::verify::{VerifyReport, verify_store};
use crate::writer::{Command, Writer};

/// Longest read model name a snapshot may have.
const MAX_SNAPSHOT_NAME: usize = 128;

/// Counts of group commits, for the benchmark and for metrics.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    commits: AtomicU64,
    events: AtomicU64,
}

impl Stats {
    pub(crate) fn record(&self, own_events: u64) {
        if own_events > 0 {
            self.commits.fetch_add(1, Ordering::Relaxed);
            self.events.fetch_add(own_events, Ordering::Relaxed);
        }
    }
}

/// Own events appended and the flushes they shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogStats {
    pub commits: u64,
    pub events: u64,
}

/// What the writer and the readers share.
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) origin: NodeId,
    pub(crate) stats: Stats,
    heads: Mutex<HashMap<NodeId, watch::Sender<Head>>>,
    /// Changes each time an origin gets its first durable event here.
    origins_added: watch::Sender<u64>,
    /// The latest durable events of each origin, decoded.
    pub(crate) recent: Recent,
}

impl Shared {
    /// The durable head of `origin`.
    pub(crate) fn head(&self, origin: NodeId) -> Head {
        self.heads.lock().expect("heads lock").get(&origin).map(|tx| *tx.borrow()).unwrap_or_default()
    }

    /// Called by the writer after a flush: the new head is durable and may be read.
    pub(crate) fn publish(&self, origin: NodeId, head: Head) {
        let mut heads = self.heads.lock().expect("heads lock");
        let first = match heads.get(&origin) {
            Some(tx) => tx.send_replace(head).seq == 0,
            None => {
                heads.insert(origin, watch::channel(head).0);
                true
            }
        };
        if first && head.seq > 0 {
            self.origins_added.send_modify(|n| *n += 1);
        }
    }

    /// Origins with at least one durable event.
    fn known_origins(&self) -> Vec<NodeId> {
        let heads = self.heads.lock().expect("heads lock");
        heads.iter().filter(|(_, tx)| tx.borrow().seq > 0).map(|(o, _)| *o).collect()
    }

    fn watch(&self, origin: NodeId) -> watch::Receiver<Head> {
        let mut heads = self.heads.lock().expect("heads lock");
        heads.entry(origin).or_insert_with(|| watch::channel(Head::default()).0).subscribe()
    }

    fn decode(origin: NodeId, seq: u64, bytes: Vec<u8>) -> Result<(EventHeader, Vec<u8>)> {
        let header = EventHeader::decode(&bytes).map_err(|e| Error::Corrupt(format!("header {origin}:{seq}: {e}")))?;
        if header.origin != origin || header.seq != seq {
            return Err(Error::Corrupt(format!("header stored at {origin}:{seq} names another position")));
        }
        Ok((header, bytes))
    }

    /// Events `from..=to` of `origin`; the caller keeps `to` at or below the durable head. The
    /// latest ones come from the window of recent events, the rest from the store.
    pub(crate) fn read_range(&self, origin: NodeId, from: u64, to: u64) -> Result<Vec<Arc<StoredEvent>>> {
        if from > to || from == 0 {
            return Ok(vec![]);
        }
        let cached = self.recent.suffix(origin, from, to);
        let stored_to = to - cached.len() as u64;
        if stored_to < from {
            return Ok(cached);
        }
        let mut out = self.read_stored(origin, from, stored_to)?;
        out.extend(cached);
        Ok(out)
    }

    fn read_stored(&self, origin: NodeId, from: u64, to: u64) -> Result<Vec<Arc<StoredEvent>>> {
        let missing = || Error::Corrupt(format!("events of {origin} from {from} to {to} are missing"));
        // The segment holding `from` starts at or before it.
        let first = self.segment_start(Key::HEADER, origin, from)?.ok_or_else(missing)?;
        let end = Key::at(Key::HEADER, origin, to.saturating_add(1));
        let headers = self.store.scan(&Key::at(Key::HEADER, origin, first), &end, usize::MAX)?;
        let payload_end = Key::at(Key::PAYLOAD, origin, to.saturating_add(1));
        let mut payloads =
            self.store.scan(&Key::at(Key::PAYLOAD, origin, first), &payload_end, usize::MAX)?.into_iter().peekable();
        let cp_end = Key::at(Key::CHECKPOINT, origin, to.saturating_add(1));
        let mut checkpoints =
            self.store.scan(&Key::at(Key::CHECKPOINT, origin, from), &cp_end, usize::MAX)?.into_iter().peekable();
        let mut out = Vec::with_capacity((to - from + 1).min(4096) as usize);
        let mut expected = from;
        for (key, segment) in headers {
            let start = Key::seq_of(&key);
            let (parts, intact) = decode_headers(&segment);
            if !intact {
                return Err(Error::Corrupt(format!("header segment {origin}:{start} is malformed")));
            }
            let segment_payloads = match payloads.next_if(|(k, _)| Key::seq_of(k) == start) {
                Some((_, v)) => decode_payloads(&v).0,
                None => vec![],
            };
            for (i, bytes) in parts.into_iter().enumerate() {
                let seq = start + i as u64;
                if seq < from || seq > to {
                    continue;
                }
                if seq != expected {
                    return Err(missing());
                }
                expected += 1;
                let checkpoint = match checkpoints.next_if(|(k, _)| Key::seq_of(k) == seq) {
                    Some((_, v)) => Some(decode_checkpoint(origin, seq, &v)?),
                    None => None,
                };
                let (header, header_bytes) = Self::decode(origin, seq, bytes.to_vec())?;
                let payload = segment_payloads.get(i).cloned().flatten();
                out.push(Arc::new(StoredEvent {
                    hash: header_hash(&header_bytes),
                    header_bytes,
                    header,
                    payload,
                    checkpoint,
                }));
            }
        }
        if expected != to + 1 {
            return Err(missing());
        }
        Ok(out)
    }

    /// The first seq of the segment of `table` that holds `seq` (the greatest start at or below it).
    pub(crate) fn segment_start(&self, table: u8, origin: NodeId, seq: u64) -> Result<Option<u64>> {
        let found = self.store.last(&Key::at(table, origin, 0), &Key::at(table, origin, seq.saturating_add(1)))?;
        Ok(found.map(|(k, _)| Key::seq_of(&k)))
    }

    /// Events of one stream from `from_stream_seq`, at most `limit`, none past `head`.
    fn read_stream(
        &self,
        origin: NodeId,
        stream: &str,
        from_stream_seq: u64,
        limit: usize,
        head: u64,
    ) -> Result<Vec<Arc<StoredEvent>>> {
        let seqs = stream_index::lookup(self.store.as_ref(), origin, stream, from_stream_seq, limit, head)?;
        let mut out = Vec::with_capacity(seqs.len());
        // Neighbouring positions are read as one range.
        let mut rest = &seqs[..];
        while let Some(&first) = rest.first() {
            let n = rest.iter().enumerate().take_while(|(i, seq)| **seq == first + *i as u64).count();
            out.extend(self.read_range(origin, first, first + n as u64 - 1)?);
            rest = &rest[n..];
        }
        Ok(out)
    }

    fn stored_head(&self, origin: NodeId) -> Result<Head> {
        let prefix = Key::origin_prefix(Key::HEADER, origin);
        let Some((key, segment)) = self.store.last(&prefix, &Key::prefix_end(&prefix))? else {
            return Ok(Head::default());
        };
        let (parts, _) = decode_headers(&segment);
        let last = parts.last().ok_or_else(|| Error::Corrupt(format!("empty header segment of {origin}")))?;
        Ok(Head { seq: Key::seq_of(&key) + parts.len() as u64 - 1, hash: header_hash(last) })
    }
}

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
    Subscription { rx }
}

/// The event log of one node on a local store.
pub struct LocalLog {
    shared: Arc<Shared>,
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
        let mut salt_key = [0u8; 32];
        getrandom::fill(&mut salt_key).map_err(|e| Error::Key(format!("no randomness: {e}")))?;
        let writer = Writer {
            shared: shared.clone(),
            key,
            head,
            last_time,
            max_group_events: config.max_group_events.max(1),
            streams: HashMap::new(),
            forked,
            salt_key,
            salt_counter: 0,
        };
        let (tx, rx) = mpsc::channel(1024);
        let thread = std::thread::Builder::new().name("eventlog-writer".into()).spawn(move || writer.run(rx))?;
        tracing::info!(origin = %origin.short(), head = head.seq, "event log open");
        Ok(Self { shared, config, tx: Mutex::new(Some(tx)), thread: Mutex::new(Some(thread)) })
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

    /// Verifies the sled store in `dir/log` without starting a writer (and without a node key).
    pub fn verify_dir(dir: &Path) -> Result<VerifyReport> {
        let path = dir.join("log");
        if !path.is_dir() {
            return Err(Error::Storage(format!("no event log in {}", dir.display())));
        }
        verify_store(&SledStore::open(&path, 64 * 1024 * 1024)?)
    }

    #[cfg(test)]
    pub(crate) fn store(&self) -> Arc<dyn Store> {
        self.shared.store.clone()
    }

    pub fn stats(&self) -> LogStats {
        LogStats {
            commits: self.shared.stats.commits.load(Ordering::Relaxed),
            events: self.shared.stats.events.load(Ordering::Relaxed),
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
        Ok(Subscription { rx })
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

    async fn verify(&self) -> Result<VerifyReport> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || verify_store(shared.store.as_ref()))
            .await
            .map_err(|e| Error::Storage(format!("verify task: {e}")))?
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
