//! The single writer of a log: group commit of appends, ingests and redactions.
//!
//! Every write goes through one thread. It takes all commands that are queued (up to a limit),
//! stages them into one batch, signs one checkpoint over the new own head, applies the
//! batch and flushes once; only then does it publish the new heads and answer. So many appends
//! share one flush, none is acknowledged before it is durable, and sequence numbers are
//! contiguous because nothing else assigns them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};

use crate::codec::{decode_payloads, encode_checkpoint, encode_headers, encode_parts, encode_payloads};
use crate::error::{Error, Result};
use crate::event::{Appended, Checkpoint, ExpectedVersion, Head, IngestOutcome, NewEvent, Payload, StoredEvent};
use crate::header::{EventHeader, EventRef, header_hash, payload_hash};
use crate::identity::NodeKey;
use crate::ids::{Hash, NodeId};
use crate::ingest::{CheckedBatch, refused};
use crate::shared::Shared;
use crate::store::{Key, WriteBatch};
use crate::stream_index::{self, StagedIndex};
use crate::tree::Frontier;

/// Streams whose version the writer remembers; past this it forgets them all and reloads.
const STREAM_CACHE_LIMIT: usize = 100_000;

/// Longest wait for the callers of the previous group before committing a smaller one.
const COMMIT_DELAY: Duration = Duration::from_micros(100);

/// Most events in one stored segment. Headers and payloads of a group commit are stored as a
/// few segments rather than one entry per event: sled's cost is per entry, not per byte.
pub(crate) const SEGMENT_EVENTS: usize = 64;

pub(crate) enum Command {
    Append {
        events: Vec<NewEvent>,
        reply: oneshot::Sender<Result<Vec<Appended>>>,
    },
    Ingest {
        batch: CheckedBatch,
        reply: oneshot::Sender<Result<IngestOutcome>>,
    },
    /// This node's own events, back from a peer.
    Restore {
        batch: CheckedBatch,
        reply: oneshot::Sender<Result<IngestOutcome>>,
    },
    Redact {
        origin: NodeId,
        seq: u64,
        reply: oneshot::Sender<Result<bool>>,
    },
    /// Replaces a stored snapshot (already validated and encoded).
    Snapshot {
        key: Vec<u8>,
        value: Vec<u8>,
        reply: oneshot::Sender<Result<()>>,
    },
}

impl Command {
    fn weight(&self) -> usize {
        match self {
            Command::Append { events, .. } => events.len(),
            Command::Ingest { batch, .. } | Command::Restore { batch, .. } => batch.events.len(),
            Command::Redact { .. } | Command::Snapshot { .. } => 1,
        }
    }
}

/// An answer that waits for the flush.
enum Reply {
    Append(oneshot::Sender<Result<Vec<Appended>>>, Vec<Appended>),
    Ingest(oneshot::Sender<Result<IngestOutcome>>, Result<IngestOutcome>),
    Redact(oneshot::Sender<Result<bool>>, bool),
    Done(oneshot::Sender<Result<()>>),
}

impl Reply {
    fn send(self, failure: Option<&str>) {
        let fail = |why: &str| Error::Storage(why.to_string());
        // A caller that went away does not need its answer; the write stands.
        match (self, failure) {
            (Reply::Append(tx, v), None) => drop(tx.send(Ok(v))),
            (Reply::Ingest(tx, v), None) => drop(tx.send(v)),
            (Reply::Redact(tx, v), None) => drop(tx.send(Ok(v))),
            (Reply::Done(tx), None) => drop(tx.send(Ok(()))),
            (Reply::Append(tx, _), Some(w)) => drop(tx.send(Err(fail(w)))),
            (Reply::Ingest(tx, _), Some(w)) => drop(tx.send(Err(fail(w)))),
            (Reply::Redact(tx, _), Some(w)) => drop(tx.send(Err(fail(w)))),
            (Reply::Done(tx), Some(w)) => drop(tx.send(Err(fail(w)))),
        }
    }
}

/// What an own event staged in this group looks like to later events of the same group.
#[derive(Clone)]
struct StagedId {
    appended: Appended,
    kind: String,
    stream: String,
    salt: Option<[u8; 32]>,
    payload_hash: Hash,
}

/// Writes of the group being built, not yet applied.
#[derive(Default)]
struct Stage {
    head: Head,
    last_time: i64,
    streams: HashMap<String, u64>,
    ids: HashMap<String, StagedId>,
    /// Hashes of own events staged in this group, by seq.
    own: HashMap<u64, Hash>,
    /// Own events of this group, from `head_before.seq + 1` on.
    own_events: Vec<StoredEvent>,
    foreign: HashMap<NodeId, ForeignStage>,
    /// Payload segments rewritten by redactions, by key.
    rewrites: HashMap<Vec<u8>, Vec<Option<Payload>>>,
    /// Durable events whose payload a redaction in this group drops.
    redacted: Vec<(NodeId, u64)>,
    /// Stream index runs of every event staged (`stream_index.rs`).
    index: StagedIndex,
    /// Event id entries, fork evidence: written after the segments, before the checkpoints.
    batch: WriteBatch,
    replies: Vec<Reply>,
}

/// Another origin's events ingested in this group.
struct ForeignStage {
    first: u64,
    head: Head,
    events: Vec<StoredEvent>,
    checkpoints: Vec<Checkpoint>,
}

/// Puts `events` (starting at `first`) as segments of at most [`SEGMENT_EVENTS`].
fn put_segments(batch: &mut WriteBatch, origin: NodeId, first: u64, events: &[StoredEvent]) {
    for (i, chunk) in events.chunks(SEGMENT_EVENTS).enumerate() {
        let start = first + (i * SEGMENT_EVENTS) as u64;
        batch.put(Key::at(Key::HEADER, origin, start), encode_headers(chunk.iter().map(|e| e.header_bytes.as_slice())));
        batch.put(Key::at(Key::PAYLOAD, origin, start), encode_payloads(chunk.iter().map(|e| e.payload.as_ref())));
    }
}

pub(crate) struct Writer {
    pub(crate) shared: Arc<Shared>,
    pub(crate) key: NodeKey,
    pub(crate) head: Head,
    pub(crate) last_time: i64,
    pub(crate) max_group_events: usize,
    pub(crate) streams: HashMap<String, u64>,
    pub(crate) forked: HashMap<NodeId, u64>,
    pub(crate) salt_key: [u8; 32],
    pub(crate) salt_counter: u64,
    /// Each origin's Merkle tree frontier; `None` when the log keeps no tree.
    pub(crate) trees: Option<HashMap<NodeId, Frontier>>,
}

impl Writer {
    pub(crate) fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        // Commands in the previous group: when several callers were waiting then, the ones just
        // answered are about to send again, so a short wait for them fills this group too.
        let mut last_commands = 0;
        while let Some(first) = rx.blocking_recv() {
            let mut weight = first.weight();
            let mut group = vec![first];
            let deadline = Instant::now() + COMMIT_DELAY;
            while weight < self.max_group_events {
                match rx.try_recv() {
                    Ok(cmd) => {
                        weight += cmd.weight();
                        group.push(cmd);
                    }
                    Err(_) if group.len() < last_commands && Instant::now() < deadline => std::thread::yield_now(),
                    Err(_) => break,
                }
            }
            last_commands = group.len();
            if let Err(e) = self.commit(group) {
                // The store's state after a failed flush is unknown: stop taking writes.
                tracing::error!(error = %e, "group commit failed; the log takes no more writes");
                rx.close();
                while let Ok(cmd) = rx.try_recv() {
                    let r = match cmd {
                        Command::Append { reply, .. } => Reply::Append(reply, vec![]),
                        Command::Ingest { reply, .. } | Command::Restore { reply, .. } => {
                            Reply::Ingest(reply, Ok(IngestOutcome::default()))
                        }
                        Command::Redact { reply, .. } => Reply::Redact(reply, false),
                        Command::Snapshot { reply, .. } => Reply::Done(reply),
                    };
                    r.send(Some("the log stopped after a failed write"));
                }
                return;
            }
        }
    }

    fn commit(&mut self, group: Vec<Command>) -> Result<()> {
        let mut stage = Stage { head: self.head, last_time: self.last_time, ..Default::default() };
        for cmd in group {
            match cmd {
                Command::Append { events, reply } => match self.stage_append(&mut stage, events) {
                    Ok(appended) => stage.replies.push(Reply::Append(reply, appended)),
                    Err(e) => drop(reply.send(Err(e))),
                },
                Command::Ingest { batch, reply } => {
                    let outcome = self.stage_ingest(&mut stage, batch);
                    stage.replies.push(Reply::Ingest(reply, outcome));
                }
                Command::Restore { batch, reply } => match self.stage_restore(&mut stage, batch) {
                    Ok(outcome) => stage.replies.push(Reply::Ingest(reply, Ok(outcome))),
                    Err(e) => drop(reply.send(Err(e))),
                },
                Command::Snapshot { key, value, reply } => {
                    stage.batch.put(key, value);
                    stage.replies.push(Reply::Done(reply));
                }
                Command::Redact { origin, seq, reply } => match self.stage_redact(&mut stage, origin, seq) {
                    Ok(found) => stage.replies.push(Reply::Redact(reply, found)),
                    Err(e) => drop(reply.send(Err(e))),
                },
            }
        }
        let own_events = stage.head.seq - self.head.seq;
        // Segments, then indexes, then checkpoints, in this order: a crash keeps a prefix, and a
        // tail without its checkpoint is removed when the log opens (`recover.rs`).
        let mut batch = WriteBatch::default();
        let origin = self.shared.origin;
        put_segments(&mut batch, origin, self.head.seq + 1, &stage.own_events);
        for (o, f) in &stage.foreign {
            put_segments(&mut batch, *o, f.first, &f.events);
        }
        for (key, payloads) in &stage.rewrites {
            batch.put(key.clone(), encode_payloads(payloads.iter().map(Option::as_ref)));
        }
        stage.index.write(&mut batch);
        batch.ops.append(&mut stage.batch.ops);
        if let Some(trees) = &mut self.trees {
            let own = (own_events > 0).then_some((origin, self.head.seq + 1, &stage.own_events));
            let foreign = stage.foreign.iter().map(|(o, f)| (*o, f.first, &f.events));
            for (o, first, events) in own.into_iter().chain(foreign) {
                let tree = trees.entry(o).or_default();
                if tree.size + 1 != first {
                    return Err(Error::Corrupt(format!(
                        "the merkle tree of {o} holds {} events, not {}",
                        tree.size,
                        first - 1
                    )));
                }
                for e in events {
                    tree.push(o, &e.hash, &mut batch);
                }
            }
        }
        for cp in stage.foreign.values().flat_map(|f| &f.checkpoints) {
            batch.put(Key::at(Key::CHECKPOINT, cp.origin, cp.seq), encode_checkpoint(cp));
        }
        if own_events > 0 {
            let cp = self.key.sign_checkpoint(stage.head.seq, stage.head.hash);
            batch.put(Key::at(Key::CHECKPOINT, cp.origin, cp.seq), encode_checkpoint(&cp));
            if let Some(last) = stage.own_events.last_mut() {
                last.checkpoint = Some(cp);
            }
        }
        let writing = Instant::now();
        if !batch.is_empty()
            && let Err(e) = self.shared.store.apply(batch).and_then(|()| self.shared.store.flush())
        {
            let why = e.to_string();
            for r in stage.replies {
                r.send(Some(&why));
            }
            return Err(e);
        }
        self.head = stage.head;
        self.last_time = stage.last_time;
        if self.streams.len() + stage.streams.len() > STREAM_CACHE_LIMIT {
            self.streams.clear();
        }
        self.streams.extend(stage.streams);
        self.shared.stats.record(own_events, writing.elapsed());
        tracing::debug!(
            events = own_events,
            ingested = stage.foreign.values().map(|f| f.events.len()).sum::<usize>(),
            head = self.head.seq,
            "group commit durable"
        );
        // Durable now: into the window of recent events before readers learn of the new heads.
        for (origin, seq) in stage.redacted {
            self.shared.recent.redact(origin, seq);
        }
        if own_events > 0 {
            let own = stage.own_events.into_iter().map(Arc::new).collect();
            self.shared.recent.push(self.shared.origin, own);
            self.shared.publish(self.shared.origin, self.head);
        }
        for (origin, f) in stage.foreign {
            self.shared.recent.push(origin, f.events.into_iter().map(Arc::new).collect());
            self.shared.publish(origin, f.head);
        }
        for r in stage.replies {
            r.send(None);
        }
        Ok(())
    }

    fn next_salt(&mut self) -> [u8; 32] {
        self.salt_counter += 1;
        *blake3::keyed_hash(&self.salt_key, &self.salt_counter.to_be_bytes()).as_bytes()
    }

    fn stream_version(&mut self, stage: &Stage, local: &HashMap<String, u64>, stream: &str) -> Result<u64> {
        if let Some(v) = local.get(stream).or_else(|| stage.streams.get(stream)).or_else(|| self.streams.get(stream)) {
            return Ok(*v);
        }
        let v = stream_index::stream_version(self.shared.store.as_ref(), self.shared.origin, stream)?;
        self.streams.insert(stream.to_string(), v);
        Ok(v)
    }

    /// The earlier event with this id, from this group or from the store.
    fn find_event_id(&self, stage: &Stage, local: &HashMap<String, StagedId>, id: &str) -> Result<Option<StagedId>> {
        if let Some(s) = local.get(id).or_else(|| stage.ids.get(id)) {
            return Ok(Some(s.clone()));
        }
        let Some(v) = self.shared.store.get(&Key::event_id(id))? else {
            return Ok(None);
        };
        let seq = u64::from_be_bytes(v.try_into().map_err(|_| Error::Corrupt(format!("event id index of {id:?}")))?);
        let origin = self.shared.origin;
        let event = self.shared.read_range(origin, seq, seq)?.pop().ok_or(Error::NotFound { origin, seq })?;
        Ok(Some(StagedId {
            appended: Appended { seq, stream_seq: event.header.stream_seq, hash: event.hash, duplicate: true },
            kind: event.header.kind.clone(),
            stream: event.header.stream.clone(),
            salt: event.payload.as_ref().map(|p| p.salt),
            payload_hash: event.header.payload_hash,
        }))
    }

    /// The hash of a known event: staged in this group or durable.
    fn known_hash(&self, stage: &Stage, local: &HashMap<u64, Hash>, origin: NodeId, seq: u64) -> Result<Option<Hash>> {
        if origin == self.shared.origin {
            if let Some(h) = local.get(&seq).or_else(|| stage.own.get(&seq)) {
                return Ok(Some(*h));
            }
            if seq > self.head.seq {
                return Ok(None);
            }
        } else if let Some(f) = stage.foreign.get(&origin)
            && seq >= f.first
            && seq <= f.head.seq
        {
            return Ok(Some(f.events[(seq - f.first) as usize].hash));
        }
        if seq == 0 || seq > self.durable_head(origin).seq {
            return Ok(None);
        }
        Ok(self.shared.read_range(origin, seq, seq)?.pop().map(|e| e.hash))
    }

    fn durable_head(&self, origin: NodeId) -> Head {
        if origin == self.shared.origin { self.head } else { self.shared.head(origin) }
    }

    fn check_cause(&self, stage: &Stage, local: &HashMap<u64, Hash>, c: &EventRef) -> Result<()> {
        match self.known_hash(stage, local, c.origin, c.seq)? {
            Some(h) if h == c.hash => Ok(()),
            found => Err(Error::UnknownCause { origin: c.origin, seq: c.seq, hash_mismatch: found.is_some() }),
        }
    }

    /// Stages one append request: all of its events or none.
    fn stage_append(&mut self, stage: &mut Stage, events: Vec<NewEvent>) -> Result<Vec<Appended>> {
        let origin = self.shared.origin;
        let mut head = stage.head;
        let mut time = stage.last_time;
        let mut streams: HashMap<String, u64> = HashMap::new();
        let mut ids: HashMap<String, StagedId> = HashMap::new();
        let mut own: HashMap<u64, Hash> = HashMap::new();
        let mut staged: Vec<StoredEvent> = Vec::with_capacity(events.len());
        let mut index = WriteBatch::default();
        let mut out = Vec::with_capacity(events.len());
        for e in events {
            if let Some(id) = &e.event_id
                && let Some(prev) = self.find_event_id(stage, &ids, id)?
            {
                let same_payload = prev.salt.is_none_or(|salt| payload_hash(&salt, &e.payload) == prev.payload_hash);
                if prev.kind != e.kind || prev.stream != e.stream || !same_payload {
                    return Err(Error::EventIdReused { event_id: id.clone(), seq: prev.appended.seq });
                }
                out.push(Appended { duplicate: true, ..prev.appended });
                continue;
            }
            let version = self.stream_version(stage, &streams, &e.stream)?;
            if let ExpectedVersion::Exact(expected) = e.expected_version
                && expected != version
            {
                return Err(Error::WrongExpectedVersion { stream: e.stream, expected, actual: version });
            }
            for c in &e.causes {
                self.check_cause(stage, &own, c)?;
            }
            let salt = self.next_salt();
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64);
            time = time.max(now);
            let mut audience = e.audience;
            if let crate::header::Audience::Nodes(nodes) = &mut audience {
                nodes.sort();
                nodes.dedup();
            }
            let header = EventHeader {
                origin,
                seq: head.seq + 1,
                prev_hash: head.hash,
                time_micros: time,
                kind: e.kind,
                stream: e.stream,
                stream_seq: version + 1,
                audience,
                payload_hash: payload_hash(&salt, &e.payload),
                causes: e.causes,
                trace: e.trace.unwrap_or_default(),
                event_id: e.event_id.clone().unwrap_or_default(),
                withheld_body: None,
            };
            let bytes = header.encode();
            let hash = header_hash(&bytes);
            let appended = Appended { seq: header.seq, stream_seq: header.stream_seq, hash, duplicate: false };
            if let Some(id) = e.event_id {
                index.put(Key::event_id(&id), header.seq.to_be_bytes().to_vec());
                let staged_id = StagedId {
                    appended,
                    kind: header.kind.clone(),
                    stream: header.stream.clone(),
                    salt: Some(salt),
                    payload_hash: header.payload_hash,
                };
                ids.insert(id, staged_id);
            }
            streams.insert(header.stream.clone(), header.stream_seq);
            own.insert(appended.seq, hash);
            let payload = Some(Payload { salt, data: e.payload });
            staged.push(StoredEvent { header_bytes: bytes, header, hash, payload, checkpoint: None });
            head = Head { seq: appended.seq, hash };
            out.push(appended);
        }
        stage.head = head;
        stage.last_time = time;
        stage.streams.extend(streams);
        stage.ids.extend(ids);
        stage.own.extend(own);
        stage.index.add_events(&staged);
        stage.own_events.append(&mut staged);
        stage.batch.ops.append(&mut index.ops);
        Ok(out)
    }

    /// Stages own events a peer sent back: all of them or none. They are written as if appended
    /// now, with their index entries and a fresh checkpoint; their bytes are the ones signed then.
    fn stage_restore(&mut self, stage: &mut Stage, batch: CheckedBatch) -> Result<IngestOutcome> {
        let origin = self.shared.origin;
        let mut head = stage.head;
        let mut time = stage.last_time;
        let mut streams: HashMap<String, u64> = HashMap::new();
        let mut own: HashMap<u64, Hash> = HashMap::new();
        let mut staged: Vec<StoredEvent> = Vec::new();
        let mut index = WriteBatch::default();
        let mut outcome = IngestOutcome { uncovered: batch.uncovered, ..Default::default() };
        for e in batch.events {
            let seq = e.header.seq;
            if seq <= head.seq {
                let stored = match seq.checked_sub(self.head.seq + 1) {
                    Some(i) => stage.own_events.get(i as usize).map(|e| e.header_bytes.clone()),
                    None => self.shared.read_range(origin, seq, seq)?.pop().map(|e| e.header_bytes.clone()),
                };
                // Compared by hash: an outline and the whole header of one event are one event.
                if stored.as_deref().map(header_hash) == Some(e.hash) {
                    outcome.duplicates += 1;
                    continue;
                }
                tracing::error!(seq, "this node's log differs from a peer's copy of it: it appended after a restore");
                return Err(refused(origin, seq, "differs from this node's own event at this position"));
            }
            if seq != head.seq + 1 {
                return Err(refused(origin, seq, format!("gap: this node's next event is seq {}", head.seq + 1)));
            }
            if e.header.prev_hash != head.hash {
                return Err(refused(origin, seq, "does not chain onto this node's head"));
            }
            if !e.header.event_id.is_empty() {
                index.put(Key::event_id(&e.header.event_id), seq.to_be_bytes().to_vec());
            }
            streams.insert(e.header.stream.clone(), e.header.stream_seq);
            own.insert(seq, e.hash);
            time = time.max(e.header.time_micros);
            head = Head { seq, hash: e.hash };
            // The checkpoint stored with them is the one signed now, at the new head.
            staged.push(StoredEvent { checkpoint: None, ..e });
            outcome.stored += 1;
        }
        outcome.head = head;
        stage.head = head;
        stage.last_time = time;
        stage.streams.extend(streams);
        stage.own.extend(own);
        stage.index.add_events(&staged);
        stage.own_events.append(&mut staged);
        stage.batch.ops.append(&mut index.ops);
        Ok(outcome)
    }

    /// The stored (or staged) header bytes of another origin's event.
    fn foreign_header(&self, stage: &Stage, origin: NodeId, seq: u64) -> Result<Option<Vec<u8>>> {
        if let Some(f) = stage.foreign.get(&origin)
            && seq >= f.first
        {
            return Ok(f.events.get((seq - f.first) as usize).map(|e| e.header_bytes.clone()));
        }
        Ok(self.shared.read_range(origin, seq, seq)?.pop().map(|e| e.header_bytes.clone()))
    }

    fn stage_ingest(&mut self, stage: &mut Stage, batch: CheckedBatch) -> Result<IngestOutcome> {
        let origin = batch.origin;
        if let Some(&seq) = self.forked.get(&origin) {
            return Err(Error::OriginForked { origin, seq });
        }
        let mut head = stage.foreign.get(&origin).map_or_else(|| self.shared.head(origin), |f| f.head);
        let mut outcome = IngestOutcome { uncovered: batch.uncovered, ..Default::default() };
        let mut checkpoints = Vec::new();
        let mut first = None;
        let mut duplicates = 0;
        for (i, e) in batch.events.iter().enumerate() {
            let seq = e.header.seq;
            if seq <= head.seq {
                let stored = self.foreign_header(stage, origin, seq)?;
                // Compared by hash: an outline and the whole header of one event are one event.
                if stored.as_deref().map(header_hash) == Some(e.hash) {
                    duplicates += 1;
                    continue;
                }
                // Two different events signed at one position: keep the proof, refuse the origin.
                let covering = batch.events[i..].iter().find(|x| x.checkpoint.is_some()).expect("the batch is covered");
                let cp = encode_checkpoint(covering.checkpoint.as_ref().expect("found above"));
                let mut parts: Vec<&[u8]> = vec![stored.as_deref().unwrap_or_default(), &cp[..]];
                parts.extend(
                    batch.events[i..]
                        .iter()
                        .take_while(|x| x.header.seq <= covering.header.seq)
                        .map(|x| x.header_bytes.as_slice()),
                );
                stage.batch.put(Key::at(Key::FORK, origin, seq), encode_parts(&parts));
                self.forked.insert(origin, seq);
                tracing::error!(origin = %origin.short(), seq, "fork detected: origin signed two different events at one position");
                return Err(Error::Fork { origin, seq });
            }
            if seq != head.seq + 1 {
                return Err(refused(
                    origin,
                    seq,
                    format!("gap: the next event of this origin is seq {}", head.seq + 1),
                ));
            }
            if e.header.prev_hash != head.hash {
                return Err(refused(origin, seq, "does not chain onto the stored head"));
            }
            first.get_or_insert(seq);
            checkpoints.extend(e.checkpoint);
            head = Head { seq, hash: e.hash };
            outcome.stored += 1;
        }
        outcome.head = head;
        outcome.duplicates = duplicates as u64;
        if let Some(first) = first {
            // Stored events follow the duplicates, which are all at or below the stored head.
            let mut events: Vec<StoredEvent> = batch.events.into_iter().skip(duplicates).collect();
            stage.index.add_events(&events);
            let f = stage.foreign.entry(origin).or_insert_with(|| ForeignStage {
                first,
                head,
                events: vec![],
                checkpoints: vec![],
            });
            f.head = head;
            f.events.append(&mut events);
            f.checkpoints.append(&mut checkpoints);
        }
        Ok(outcome)
    }

    fn stage_redact(&mut self, stage: &mut Stage, origin: NodeId, seq: u64) -> Result<bool> {
        let own = origin == self.shared.origin;
        let head = if own {
            stage.head
        } else {
            stage.foreign.get(&origin).map_or_else(|| self.shared.head(origin), |f| f.head)
        };
        if seq == 0 || seq > head.seq {
            return Err(Error::NotFound { origin, seq });
        }
        // Staged in this group: drop it before it is written.
        let staged = match stage.foreign.get_mut(&origin) {
            _ if own && seq > self.head.seq => stage.own_events.get_mut((seq - self.head.seq - 1) as usize),
            Some(f) if !own && seq >= f.first => f.events.get_mut((seq - f.first) as usize),
            _ => None,
        };
        if let Some(event) = staged {
            return Ok(event.payload.take().is_some());
        }
        let start = self.shared.segment_start(Key::PAYLOAD, origin, seq)?.ok_or(Error::NotFound { origin, seq })?;
        let key = Key::at(Key::PAYLOAD, origin, start);
        let payloads = match stage.rewrites.get_mut(&key) {
            Some(p) => p,
            None => {
                let stored = self.shared.store.get(&key)?.ok_or(Error::NotFound { origin, seq })?;
                let (payloads, intact) = decode_payloads(&stored);
                if !intact {
                    return Err(Error::Corrupt(format!("payload segment {origin}:{start} is malformed")));
                }
                stage.rewrites.entry(key).or_insert(payloads)
            }
        };
        let found = payloads.get_mut((seq - start) as usize).and_then(Option::take).is_some();
        if found {
            stage.redacted.push((origin, seq));
        }
        Ok(found)
    }
}
