//! The single writer of a log: group commit of appends, ingests and redactions.
//!
//! Every write goes through one thread. It takes all commands that are queued (up to a limit),
//! stages them into one atomic batch, signs one checkpoint over the new own head, applies the
//! batch and flushes once; only then does it publish the new heads and answer. So many appends
//! share one flush, none is acknowledged before it is durable, and sequence numbers are
//! contiguous because nothing else assigns them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};

use crate::codec::{decode_payload, encode_checkpoint, encode_parts, encode_payload};
use crate::error::{Error, Result};
use crate::event::{Appended, ExpectedVersion, Head, IngestOutcome, NewEvent, Payload};
use crate::header::{EventHeader, EventRef, header_hash, payload_hash};
use crate::identity::NodeKey;
use crate::ids::{Hash, NodeId};
use crate::ingest::CheckedBatch;
use crate::local::Shared;
use crate::store::{Key, WriteBatch};

/// Streams whose version the writer remembers; past this it forgets them all and reloads.
const STREAM_CACHE_LIMIT: usize = 100_000;

pub(crate) enum Command {
    Append { events: Vec<NewEvent>, reply: oneshot::Sender<Result<Vec<Appended>>> },
    Ingest { batch: CheckedBatch, reply: oneshot::Sender<Result<IngestOutcome>> },
    Redact { origin: NodeId, seq: u64, reply: oneshot::Sender<Result<bool>> },
}

impl Command {
    fn weight(&self) -> usize {
        match self {
            Command::Append { events, .. } => events.len(),
            Command::Ingest { batch, .. } => batch.events.len(),
            Command::Redact { .. } => 1,
        }
    }
}

/// An answer that waits for the flush.
enum Reply {
    Append(oneshot::Sender<Result<Vec<Appended>>>, Vec<Appended>),
    Ingest(oneshot::Sender<Result<IngestOutcome>>, Result<IngestOutcome>),
    Redact(oneshot::Sender<Result<bool>>, bool),
}

impl Reply {
    fn send(self, failure: Option<&str>) {
        let fail = |why: &str| Error::Storage(why.to_string());
        // A caller that went away does not need its answer; the write stands.
        match (self, failure) {
            (Reply::Append(tx, v), None) => drop(tx.send(Ok(v))),
            (Reply::Ingest(tx, v), None) => drop(tx.send(v)),
            (Reply::Redact(tx, v), None) => drop(tx.send(Ok(v))),
            (Reply::Append(tx, _), Some(w)) => drop(tx.send(Err(fail(w)))),
            (Reply::Ingest(tx, _), Some(w)) => drop(tx.send(Err(fail(w)))),
            (Reply::Redact(tx, _), Some(w)) => drop(tx.send(Err(fail(w)))),
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
    foreign: HashMap<NodeId, Head>,
    batch: WriteBatch,
    replies: Vec<Reply>,
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
}

impl Writer {
    pub(crate) fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        while let Some(first) = rx.blocking_recv() {
            let mut weight = first.weight();
            let mut group = vec![first];
            while weight < self.max_group_events {
                match rx.try_recv() {
                    Ok(cmd) => {
                        weight += cmd.weight();
                        group.push(cmd);
                    }
                    Err(_) => break,
                }
            }
            if let Err(e) = self.commit(group) {
                // The store's state after a failed flush is unknown: stop taking writes.
                tracing::error!(error = %e, "group commit failed; the log takes no more writes");
                rx.close();
                while let Ok(cmd) = rx.try_recv() {
                    let r = match cmd {
                        Command::Append { reply, .. } => Reply::Append(reply, vec![]),
                        Command::Ingest { reply, .. } => Reply::Ingest(reply, Ok(IngestOutcome::default())),
                        Command::Redact { reply, .. } => Reply::Redact(reply, false),
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
                Command::Redact { origin, seq, reply } => match self.stage_redact(&mut stage, origin, seq) {
                    Ok(found) => stage.replies.push(Reply::Redact(reply, found)),
                    Err(e) => drop(reply.send(Err(e))),
                },
            }
        }
        let own_events = stage.head.seq - self.head.seq;
        if own_events > 0 {
            let cp = self.key.sign_checkpoint(stage.head.seq, stage.head.hash);
            stage.batch.put(Key::at(Key::CHECKPOINT, cp.origin, cp.seq), encode_checkpoint(&cp));
        }
        if !stage.batch.is_empty() {
            let batch = std::mem::take(&mut stage.batch);
            if let Err(e) = self.shared.store.apply(batch).and_then(|()| self.shared.store.flush()) {
                let why = e.to_string();
                for r in stage.replies {
                    r.send(Some(&why));
                }
                return Err(e);
            }
        }
        self.head = stage.head;
        self.last_time = stage.last_time;
        if self.streams.len() + stage.streams.len() > STREAM_CACHE_LIMIT {
            self.streams.clear();
        }
        self.streams.extend(stage.streams);
        self.shared.stats.record(own_events);
        if own_events > 0 {
            self.shared.publish(self.shared.origin, self.head);
        }
        for (origin, head) in stage.foreign {
            self.shared.publish(origin, head);
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
        let prefix = Key::stream_prefix(self.shared.origin, stream);
        let v = self.shared.store.last(&prefix, &Key::prefix_end(&prefix))?.map_or(0, |(k, _)| Key::seq_of(&k));
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
        let bytes =
            self.shared.store.get(&Key::at(Key::HEADER, origin, seq))?.ok_or(Error::NotFound { origin, seq })?;
        let header = EventHeader::decode(&bytes).map_err(|e| Error::Corrupt(format!("header {seq}: {e}")))?;
        let salt = self
            .shared
            .store
            .get(&Key::at(Key::PAYLOAD, origin, seq))?
            .map(|p| decode_payload(&p))
            .transpose()?
            .map(|p| p.salt);
        Ok(Some(StagedId {
            appended: Appended { seq, stream_seq: header.stream_seq, hash: header_hash(&bytes), duplicate: true },
            kind: header.kind,
            stream: header.stream,
            salt,
            payload_hash: header.payload_hash,
        }))
    }

    fn check_cause(&self, stage: &Stage, local: &HashMap<u64, Hash>, c: &EventRef) -> Result<()> {
        let staged =
            (c.origin == self.shared.origin).then(|| local.get(&c.seq).or_else(|| stage.own.get(&c.seq))).flatten();
        let hash = match staged {
            Some(h) => Some(*h),
            None => self.shared.store.get(&Key::at(Key::HEADER, c.origin, c.seq))?.map(|b| header_hash(&b)),
        };
        match hash {
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
        let mut writes = WriteBatch::default();
        let mut out = Vec::with_capacity(events.len());
        for e in events {
            if let Some(id) = &e.event_id {
                if let Some(prev) = self.find_event_id(stage, &ids, id)? {
                    let same_payload =
                        prev.salt.is_none_or(|salt| payload_hash(&salt, &e.payload) == prev.payload_hash);
                    if prev.kind != e.kind || prev.stream != e.stream || !same_payload {
                        return Err(Error::EventIdReused { event_id: id.clone(), seq: prev.appended.seq });
                    }
                    out.push(Appended { duplicate: true, ..prev.appended });
                    continue;
                }
            }
            let version = self.stream_version(stage, &streams, &e.stream)?;
            if let ExpectedVersion::Exact(expected) = e.expected_version {
                if expected != version {
                    return Err(Error::WrongExpectedVersion { stream: e.stream, expected, actual: version });
                }
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
            };
            let bytes = header.encode();
            let hash = header_hash(&bytes);
            let appended = Appended { seq: header.seq, stream_seq: header.stream_seq, hash, duplicate: false };
            writes.put(Key::at(Key::HEADER, origin, header.seq), bytes);
            writes.put(Key::at(Key::PAYLOAD, origin, header.seq), encode_payload(&Payload { salt, data: e.payload }));
            writes.put(Key::stream_entry(origin, &header.stream, header.stream_seq), header.seq.to_be_bytes().to_vec());
            if let Some(id) = e.event_id {
                writes.put(Key::event_id(&id), header.seq.to_be_bytes().to_vec());
                let staged = StagedId {
                    appended,
                    kind: header.kind,
                    stream: header.stream.clone(),
                    salt: Some(salt),
                    payload_hash: header.payload_hash,
                };
                ids.insert(id, staged);
            }
            streams.insert(header.stream, header.stream_seq);
            own.insert(header.seq, hash);
            head = Head { seq: appended.seq, hash };
            out.push(appended);
        }
        stage.head = head;
        stage.last_time = time;
        stage.streams.extend(streams);
        stage.ids.extend(ids);
        stage.own.extend(own);
        stage.batch.ops.extend(writes.ops);
        Ok(out)
    }

    fn foreign_head(&self, stage: &Stage, origin: NodeId) -> Head {
        stage.foreign.get(&origin).copied().unwrap_or_else(|| self.shared.head(origin))
    }

    fn stage_ingest(&mut self, stage: &mut Stage, batch: CheckedBatch) -> Result<IngestOutcome> {
        let origin = batch.origin;
        if let Some(&seq) = self.forked.get(&origin) {
            return Err(Error::OriginForked { origin, seq });
        }
        let mut head = self.foreign_head(stage, origin);
        let mut outcome = IngestOutcome { uncovered: batch.uncovered, ..Default::default() };
        let mut writes = WriteBatch::default();
        for (i, e) in batch.events.iter().enumerate() {
            let seq = e.header.seq;
            if seq <= head.seq {
                let staged_same = stage
                    .batch
                    .ops
                    .iter()
                    .rev()
                    .find(|(k, _)| *k == Key::at(Key::HEADER, origin, seq))
                    .map(|(_, v)| v.clone());
                let stored = match staged_same {
                    Some(v) => v,
                    None => self.shared.store.get(&Key::at(Key::HEADER, origin, seq))?,
                };
                if stored.as_deref() == Some(e.header_bytes.as_slice()) {
                    outcome.duplicates += 1;
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
                return Err(Error::Refused {
                    origin,
                    seq,
                    reason: format!("gap: the next event of this origin is seq {}", head.seq + 1),
                });
            }
            if e.header.prev_hash != head.hash {
                return Err(Error::Refused { origin, seq, reason: "does not chain onto the stored head".into() });
            }
            writes.put(Key::at(Key::HEADER, origin, seq), e.header_bytes.clone());
            if let Some(p) = &e.payload {
                writes.put(Key::at(Key::PAYLOAD, origin, seq), encode_payload(p));
            }
            if let Some(cp) = &e.checkpoint {
                writes.put(Key::at(Key::CHECKPOINT, origin, seq), encode_checkpoint(cp));
            }
            writes.put(Key::stream_entry(origin, &e.header.stream, e.header.stream_seq), seq.to_be_bytes().to_vec());
            head = Head { seq, hash: e.hash };
            outcome.stored += 1;
        }
        stage.batch.ops.extend(writes.ops);
        if outcome.stored > 0 {
            stage.foreign.insert(origin, head);
        }
        outcome.head = head;
        Ok(outcome)
    }

    fn stage_redact(&mut self, stage: &mut Stage, origin: NodeId, seq: u64) -> Result<bool> {
        let head = if origin == self.shared.origin { stage.head } else { self.foreign_head(stage, origin) };
        if seq == 0 || seq > head.seq {
            return Err(Error::NotFound { origin, seq });
        }
        let key = Key::at(Key::PAYLOAD, origin, seq);
        let staged = stage.batch.ops.iter().any(|(k, v)| *k == key && v.is_some());
        let found = staged || self.shared.store.get(&key)?.is_some();
        stage.batch.remove(key);
        Ok(found)
    }
}
