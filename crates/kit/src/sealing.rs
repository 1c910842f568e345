//! The log as the services see it: the personal values their events set apart are sealed under
//! each data subject's key on the way in (bound to origin, stream, stream position and place in
//! the payload; `envelope`), and opened on the way out where this node holds the key; read-model
//! snapshots are sealed under the key store's snapshot key. Below it the log, replication and the
//! raw log service see only ciphertext, so destroying a key erases every stored copy at once.

use std::sync::Arc;

use async_trait::async_trait;
use samenspel_eventlog::{
    Appended, Error as LogError, EventLog, EventMap, ExpectedVersion, FieldViolation, ForkEvidence, Head,
    IngestOutcome, NewEvent, NodeId, Payload, RemoteEvent, Result, Snapshot, StoredEvent, SubscribeFrom, Subscription,
    VerifyReport,
};
use samenspel_keys::{KeyStore, SEALED_SUBJECT_KEY, Sealed, SubjectRef};
use serde_json::{Map, Value};

use crate::envelope;
use crate::personal::{PERSONAL_FOR, has_marker};
use crate::split::split_marked;

/// The sealing view of a log.
#[derive(Debug, Clone)]
pub struct SealingLog {
    inner: Arc<dyn EventLog>,
    keys: Arc<KeyStore>,
}

impl SealingLog {
    pub fn new(inner: Arc<dyn EventLog>, keys: Arc<KeyStore>) -> Self {
        Self { inner, keys }
    }

    pub fn keys(&self) -> &Arc<KeyStore> {
        &self.keys
    }

    fn opener(&self) -> EventMap {
        let keys = self.keys.clone();
        Arc::new(move |e: Arc<StoredEvent>| open_event(&keys, e))
    }
}

/// The member of a payload written by earlier versions that held its sealed parts, one per
/// subject, as JSON (read still; written no more).
const SEALED_PARTS: &str = "sealed_parts";

/// What bound a subject's sealed values to their place in that earlier layout: the stream, the
/// stream position and the JSON pointers they belong at.
fn legacy_aad(stream: &str, stream_seq: u64, pointers: &[String]) -> Vec<u8> {
    let mut aad = b"payload\0".to_vec();
    aad.extend_from_slice(stream.as_bytes());
    aad.push(0);
    aad.extend_from_slice(&stream_seq.to_be_bytes());
    for p in pointers {
        aad.extend_from_slice(&(p.len() as u32).to_be_bytes());
        aad.extend_from_slice(p.as_bytes());
    }
    aad
}

/// Puts the sealed values of `value` (the earlier layout) back where this node holds their
/// subject's key, and drops the sealed parts; where it does not (erased, or never given) the
/// empty values stay.
fn open_legacy(keys: &KeyStore, origin: NodeId, stream: &str, stream_seq: u64, value: &mut Value) {
    let Some(Value::Array(parts)) = value.as_object_mut().and_then(|m| m.remove(SEALED_PARTS)) else { return };
    for part in parts {
        let Ok(sealed) = serde_json::from_value::<Sealed>(part) else { continue };
        let Some(plain) = keys.unseal(origin, &legacy_aad(stream, stream_seq, &sealed.at), &sealed) else { continue };
        let Ok(values) = serde_json::from_slice::<Map<String, Value>>(&plain) else { continue };
        for (pointer, v) in values {
            if let Some(slot) = value.pointer_mut(&pointer) {
                *slot = v;
            }
        }
    }
}

/// The subjects whose sealed values `payload` holds (pseudonymous ids; for sharing their keys).
pub fn sealed_subjects(payload: &[u8]) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => match map.get(SEALED_SUBJECT_KEY) {
                Some(Value::String(s)) => out.push(s.clone()),
                _ => map.values().for_each(|v| walk(v, out)),
            },
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Some((_, blob)) = envelope::split_stored(payload) {
        out = envelope::parts(blob).unwrap_or_default().iter().map(|p| p.subject.to_string()).collect();
    } else if has_marker(payload, SEALED_SUBJECT_KEY)
        && let Ok(v) = serde_json::from_slice::<Value>(payload)
    {
        walk(&v, &mut out);
    }
    out.sort();
    out.dedup();
    out
}

/// The event with its sealed values opened (a copy; the stored event is unchanged).
fn open_event(keys: &KeyStore, event: Arc<StoredEvent>) -> Arc<StoredEvent> {
    let Some(payload) = &event.payload else { return event };
    let h = &event.header;
    let data = match envelope::open(keys, h.origin, &h.stream, h.stream_seq, &payload.data) {
        Some(data) => data,
        None if has_marker(&payload.data, SEALED_SUBJECT_KEY) => {
            let Ok(mut value) = serde_json::from_slice::<Value>(&payload.data) else { return event };
            open_legacy(keys, h.origin, &h.stream, h.stream_seq, &mut value);
            serde_json::to_vec(&value).expect("a json value serialises")
        }
        None => return event,
    };
    let mut opened = (*event).clone();
    opened.payload = Some(Payload { salt: payload.salt, data });
    Arc::new(opened)
}

impl SealingLog {
    /// Seals the personal values `events` set apart (or mark); each such event must name its
    /// stream's version, for the seal is bound to its place.
    async fn seal(&self, mut events: Vec<NewEvent>) -> Result<Vec<NewEvent>> {
        let origin = self.inner.node_id();
        let mut subjects = Vec::new();
        let mut bad = Vec::new();
        for (i, e) in events.iter_mut().enumerate() {
            if e.personal.is_empty()
                && has_marker(&e.payload, PERSONAL_FOR)
                && let Some((payload, personal)) = split_marked(&e.payload)
            {
                (e.payload, e.personal) = (payload, personal);
            }
            if e.personal.is_empty() {
                continue;
            }
            if e.expected_version == ExpectedVersion::Any {
                bad.push(FieldViolation::new(
                    format!("events[{i}].expected_version"),
                    "an event with personal data names its stream's version",
                ));
            }
            if !e.payload.starts_with(b"{") || e.personal.iter().any(|p| p.subject.is_empty()) {
                bad.push(FieldViolation::new(
                    format!("events[{i}].personal"),
                    "personal values belong to a named subject, in a payload that is a JSON object",
                ));
            }
            subjects.extend(e.personal.iter().map(|p| p.subject.clone()));
        }
        if !bad.is_empty() {
            return Err(LogError::Invalid(bad));
        }
        if subjects.is_empty() {
            return Ok(events);
        }
        subjects.sort();
        subjects.dedup();
        let refs: Vec<SubjectRef> = subjects.into_iter().map(|s| SubjectRef::new(origin, s)).collect();
        if refs.iter().any(|s| !self.keys.has_key(s)) {
            let keys = self.keys.clone();
            tokio::task::spawn_blocking(move || keys.ensure(&refs))
                .await
                .map_err(|e| LogError::Io(std::io::Error::other(e.to_string())))?
                .map_err(key_error)?;
        }
        for e in events.iter_mut() {
            let ExpectedVersion::Exact(version) = e.expected_version else { continue };
            if e.personal.is_empty() {
                continue;
            }
            let personal = std::mem::take(&mut e.personal);
            e.payload =
                envelope::seal(&self.keys, origin, &e.stream, version + 1, &e.payload, &personal).map_err(key_error)?;
        }
        Ok(events)
    }
}

fn key_error(e: samenspel_keys::Error) -> LogError {
    match e {
        samenspel_keys::Error::Erased { subject } => {
            LogError::Invalid(vec![FieldViolation::new("subject_id", format!("subject {subject} was erased"))])
        }
        other => LogError::Io(std::io::Error::other(other.to_string())),
    }
}

#[async_trait]
impl EventLog for SealingLog {
    fn node_id(&self) -> NodeId {
        self.inner.node_id()
    }

    /// Seals, and adds the records of who writes them when a call writes them (`written.rs`);
    /// the answer is the caller's events' (the records' positions are left out).
    async fn append(&self, mut events: Vec<NewEvent>) -> Result<Vec<Appended>> {
        let asked = events.len();
        // Every service write comes this way: each event carries the trace of the call (or the
        // handled event) that wrote it, unless it names one itself.
        if let Some(trace) = crate::trace::traceparent() {
            for e in events.iter_mut().filter(|e| e.trace.is_none()) {
                e.trace = Some(trace.clone());
            }
        }
        let events = crate::written::stamp(self.seal(events).await?)?;
        let mut appended = self.inner.append(events).await?;
        appended.truncate(asked);
        Ok(appended)
    }

    fn check(&self, events: &[NewEvent]) -> Vec<FieldViolation> {
        self.inner.check(events)
    }

    async fn read(&self, origin: NodeId, from_seq: u64, limit: usize) -> Result<Vec<StoredEvent>> {
        let events = self.inner.read(origin, from_seq, limit).await?;
        Ok(events.into_iter().map(|e| Arc::unwrap_or_clone(open_event(&self.keys, Arc::new(e)))).collect())
    }

    async fn read_stream(
        &self,
        origin: NodeId,
        stream: &str,
        from_stream_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>> {
        let events = self.inner.read_stream(origin, stream, from_stream_seq, limit).await?;
        Ok(events.into_iter().map(|e| Arc::unwrap_or_clone(open_event(&self.keys, Arc::new(e)))).collect())
    }

    fn subscribe(&self, from: SubscribeFrom) -> Result<Subscription> {
        Ok(self.inner.subscribe(from)?.map(self.opener()))
    }

    fn subscribe_all(&self, from: Vec<(NodeId, u64)>) -> Result<Subscription> {
        Ok(self.inner.subscribe_all(from)?.map(self.opener()))
    }

    async fn head(&self, origin: NodeId) -> Result<Head> {
        self.inner.head(origin).await
    }

    async fn origins(&self) -> Result<Vec<(NodeId, Head)>> {
        self.inner.origins().await
    }

    async fn ingest(&self, events: Vec<RemoteEvent>) -> Result<IngestOutcome> {
        self.inner.ingest(events).await
    }

    async fn restore_own(&self, events: Vec<RemoteEvent>) -> Result<IngestOutcome> {
        self.inner.restore_own(events).await
    }

    async fn forks(&self) -> Result<Vec<ForkEvidence>> {
        self.inner.forks().await
    }

    async fn redact(&self, origin: NodeId, seq: u64) -> Result<bool> {
        self.inner.redact(origin, seq).await
    }

    async fn save_snapshot(&self, name: &str, snapshot: Snapshot) -> Result<()> {
        // A reaction's cursor is positions only: nothing to seal, and it survives an erasure.
        if snapshot.data.is_empty() {
            return self.inner.save_snapshot(name, snapshot).await;
        }
        // Not written before the read model applied the latest erasure: it may still hold the
        // subject, under a key that is not destroyed yet.
        match self.keys.seal_snapshot(name, &snapshot.positions, &snapshot.data).map_err(key_error)? {
            Some(data) => self.inner.save_snapshot(name, Snapshot { positions: snapshot.positions, data }).await,
            None => Ok(()),
        }
    }

    /// A snapshot sealed before the last erasure no longer opens: the read model is rebuilt.
    async fn load_snapshot(&self, name: &str) -> Result<Option<Snapshot>> {
        let Some(snapshot) = self.inner.load_snapshot(name).await? else { return Ok(None) };
        if snapshot.data.is_empty() {
            return Ok(Some(snapshot));
        }
        let opened = self.keys.open_snapshot(name, &snapshot.positions, &snapshot.data);
        Ok(opened.map(|data| Snapshot { positions: snapshot.positions, data }))
    }

    async fn tree_root(&self, origin: NodeId, size: u64) -> Result<samenspel_eventlog::Digest> {
        self.inner.tree_root(origin, size).await
    }

    async fn inclusion_proof(&self, origin: NodeId, seq: u64, size: u64) -> Result<Vec<samenspel_eventlog::Digest>> {
        self.inner.inclusion_proof(origin, seq, size).await
    }

    async fn consistency_proof(&self, origin: NodeId, old: u64, new: u64) -> Result<Vec<samenspel_eventlog::Digest>> {
        self.inner.consistency_proof(origin, old, new).await
    }

    async fn signed_tree_head(&self) -> Result<samenspel_eventlog::SignedTreeHead> {
        self.inner.signed_tree_head().await
    }

    async fn verify(&self) -> Result<VerifyReport> {
        self.inner.verify().await
    }

    async fn verify_with_progress(
        &self,
        progress: tokio::sync::mpsc::UnboundedSender<samenspel_eventlog::VerifyProgress>,
    ) -> Result<VerifyReport> {
        self.inner.verify_with_progress(progress).await
    }

    async fn close(&self) -> Result<()> {
        self.inner.close().await
    }
}

#[cfg(test)]
mod tests {
    use samenspel_eventlog::{LocalLog, LogConfig, NodeKey};
    use serde_json::json;

    use super::*;

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    fn varint_len(bytes: &[u8]) -> usize {
        bytes.iter().position(|b| b & 0x80 == 0).unwrap() + 1
    }

    fn name_in(data: &[u8]) -> Value {
        serde_json::from_slice::<Value>(data).unwrap()["client"]["name"].clone()
    }

    #[tokio::test]
    async fn personal_values_are_stored_sealed_read_opened_and_read_erased_once_the_key_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let node = NodeKey::from_seed([4; 32]);
        let raw: Arc<dyn EventLog> = Arc::new(LocalLog::memory(node.clone(), LogConfig::default()).unwrap());
        let keys = Arc::new(KeyStore::open(&dir.path().join("keys"), &node).unwrap());
        let log = SealingLog::new(raw.clone(), keys.clone());
        let payload = json!({"id": "r1", "client": {"subject_id": "c1", "name": "Marker Jansen"}, "area": 6411});
        let (clear, personal) =
            crate::split(&serde_json::to_vec(&payload).unwrap(), &[("c1".into(), "/client/name".into())]).unwrap();
        let event = NewEvent::new("intake/request/r1", "test.noted", clear).with_personal(personal);
        let refused = log.append(vec![event.clone()]).await.unwrap_err();
        assert!(refused.to_string().contains("expected_version"), "{refused}");
        log.append(vec![event.expect(ExpectedVersion::Exact(0))]).await.unwrap();
        // A payload that marks its values instead is sealed the same.
        let marked = json!({"id": "r1", "client": {"name": {"personal_for": "c1", "value": "Marker Pieters"}}});
        let marked = NewEvent::new("intake/request/r1", "test.noted", serde_json::to_vec(&marked).unwrap());
        log.append(vec![marked.expect(ExpectedVersion::Exact(1))]).await.unwrap();

        let stored = raw.read(node.node_id(), 1, 10).await.unwrap();
        let data = &stored[0].payload.as_ref().unwrap().data;
        assert!(!contains(data, b"Marker Jansen") && contains(data, b"6411"), "sealed, the rest readable");
        assert!(!contains(&stored[1].payload.as_ref().unwrap().data, b"Marker"));
        assert_eq!(name_in(crate::clear_of(data)), json!(""), "stored: an empty value in its place, in clear JSON");
        let opened = log.read(node.node_id(), 1, 10).await.unwrap();
        let first: Value = serde_json::from_slice(&opened[0].payload.as_ref().unwrap().data).unwrap();
        assert_eq!(first, payload, "opened for the services: the plain payload");
        assert_eq!(name_in(&opened[1].payload.as_ref().unwrap().data), json!("Marker Pieters"));

        // Taken to another place, the sealed part does not open.
        let other_stream = envelope::open(&keys, node.node_id(), "intake/request/r2", 1, data).unwrap();
        assert_eq!(name_in(&other_stream), json!(""), "another stream");
        let (clear, blob) = envelope::split_stored(data).unwrap();
        let area = memchr::memmem::find(clear, b"6411").unwrap() as u64;
        // The first range of the first part, after its count, subject "c1" and range count; one
        // range, of a short value, two one-byte varints.
        assert_eq!(&blob[..5], b"\x01\x02c1\x01");
        let mut moved_blob = blob[..5].to_vec();
        envelope::put_varint(&mut moved_blob, area);
        envelope::put_varint(&mut moved_blob, 4);
        moved_blob
            .extend_from_slice(&blob[5 + varint_len(&blob[5..]) + varint_len(&blob[5 + varint_len(&blob[5..])..])..]);
        let moved = [clear, &moved_blob, &(moved_blob.len() as u32).to_be_bytes(), envelope::SEALED_MARK].concat();
        let moved: Value =
            serde_json::from_slice(&envelope::open(&keys, node.node_id(), "intake/request/r1", 1, &moved).unwrap())
                .unwrap();
        assert_eq!((moved["client"]["name"].clone(), moved["area"].clone()), (json!(""), json!(6411)), "another field");

        log.save_snapshot("m", Snapshot { positions: vec![(node.node_id(), 1)], data: b"Marker state".to_vec() })
            .await
            .unwrap();
        let saved = raw.load_snapshot("m").await.unwrap().unwrap();
        assert!(!contains(&saved.data, b"Marker state"));
        assert_eq!(log.load_snapshot("m").await.unwrap().unwrap().data, b"Marker state");

        keys.erase(&SubjectRef::new(node.node_id(), "c1"), 1, Some((node.node_id(), 1))).unwrap();
        let mut sub = log.subscribe(SubscribeFrom::origin(node.node_id(), 1)).unwrap();
        let erased = sub.next().await.unwrap().unwrap();
        let erased: Value = serde_json::from_slice(&erased.payload.as_ref().unwrap().data).unwrap();
        assert_eq!(erased["client"]["name"], json!(""), "an empty value of its shape");
        assert_eq!(erased["area"], json!(6411));
        assert!(log.load_snapshot("m").await.unwrap().is_none(), "a snapshot from before the erasure is rebuilt");
        let (clear, personal) =
            crate::split(&serde_json::to_vec(&payload).unwrap(), &[("c1".into(), "/client/name".into())]).unwrap();
        let again = NewEvent::new("intake/request/r1", "test.noted", clear).with_personal(personal);
        let refused = log.append(vec![again.expect(ExpectedVersion::Exact(2))]).await.unwrap_err();
        assert!(refused.to_string().contains("erased"), "{refused}");
        assert_eq!(sealed_subjects(data), vec!["c1".to_string()]);
    }

    /// Events sealed by an earlier version (the sealed parts as JSON) still open.
    #[test]
    fn the_earlier_layout_still_opens() {
        let dir = tempfile::tempdir().unwrap();
        let node = NodeKey::from_seed([5; 32]);
        let keys = KeyStore::open(&dir.path().join("keys"), &node).unwrap();
        let client = SubjectRef::new(node.node_id(), "c1");
        keys.ensure(std::slice::from_ref(&client)).unwrap();
        let at = vec!["/client/name".to_string()];
        let plain = serde_json::to_vec(&json!({"/client/name": "Jansen"})).unwrap();
        let mut sealed = keys.seal(&client, &legacy_aad("s", 1, &at), &plain).unwrap();
        sealed.at = at;
        let stored = json!({"client": {"name": ""}, SEALED_PARTS: [sealed]});
        let data = serde_json::to_vec(&stored).unwrap();
        assert_eq!(sealed_subjects(&data), ["c1"]);
        let mut value = stored.clone();
        open_legacy(&keys, node.node_id(), "s", 1, &mut value);
        assert_eq!(value, json!({"client": {"name": "Jansen"}}));
        let mut elsewhere = stored;
        open_legacy(&keys, node.node_id(), "s", 2, &mut elsewhere);
        assert_eq!(elsewhere, json!({"client": {"name": ""}}));
    }
}
