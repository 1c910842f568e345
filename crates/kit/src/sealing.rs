//! The log as the services see it: personal values their payloads mark are sealed under each
//! data subject's key on the way in (bound to origin, stream, stream position and place in the
//! payload), and opened on the way out where this node holds the key; read-model snapshots are
//! sealed under the key store's snapshot key. Below it the log, replication and the raw log
//! service see only ciphertext, so destroying a key erases every stored copy at once.

use std::sync::Arc;

use async_trait::async_trait;
use samenspel_eventlog::{
    Appended, Error as LogError, EventLog, EventMap, ExpectedVersion, FieldViolation, ForkEvidence, Head,
    IngestOutcome, NewEvent, NodeId, Payload, RemoteEvent, Result, Snapshot, StoredEvent, SubscribeFrom, Subscription,
    VerifyReport,
};
use samenspel_keys::{KeyStore, SEALED_SUBJECT_KEY, Sealed, SubjectRef};
use serde_json::{Map, Value};

use crate::personal::{PERSONAL_FOR, emptied, has_marker};

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

/// The member of a sealed payload that holds its sealed parts, one per subject.
const SEALED_PARTS: &str = "sealed_parts";

/// What binds a subject's sealed values to their place: the stream, the stream position and the
/// JSON pointers they belong at (the origin and subject are added by the key store).
fn aad(stream: &str, stream_seq: u64, pointers: &[String]) -> Vec<u8> {
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

fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Takes each marked value out of `value`, leaving an empty value of its shape in its place
/// (so a reader without the key still decodes the payload): (subject, pointer, value).
fn take_marked(pointer: &str, value: &mut Value, out: &mut Vec<(String, String, Value)>) {
    match value {
        Value::Object(map) => {
            if let (Some(Value::String(subject)), Some(inner)) = (map.get(PERSONAL_FOR), map.get("value")) {
                let (subject, inner) = (subject.clone(), inner.clone());
                *value = emptied(&inner);
                out.push((subject, pointer.to_string(), inner));
                return;
            }
            for (k, v) in map.iter_mut() {
                take_marked(&format!("{pointer}/{}", escape(k)), v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                take_marked(&format!("{pointer}/{i}"), v, out);
            }
        }
        _ => {}
    }
}

/// Seals the values `taken` out of `value` (a payload object): one part per subject, all of its
/// values under one seal, in `sealed_parts`.
fn seal_payload(
    keys: &KeyStore,
    origin: NodeId,
    stream: &str,
    stream_seq: u64,
    value: &mut Value,
    taken: Vec<(String, String, Value)>,
) -> Result<(), samenspel_keys::Error> {
    let mut by_subject: std::collections::BTreeMap<String, Map<String, Value>> = Default::default();
    for (subject, pointer, inner) in taken {
        by_subject.entry(subject).or_default().insert(pointer, inner);
    }
    let mut parts = Vec::with_capacity(by_subject.len());
    for (subject, values) in by_subject {
        let at: Vec<String> = values.keys().cloned().collect();
        let plain = serde_json::to_vec(&values).expect("json values serialise");
        let subject = SubjectRef::new(origin, subject);
        let mut sealed = keys.seal(&subject, &aad(stream, stream_seq, &at), &plain)?;
        sealed.at = at;
        parts.push(serde_json::to_value(sealed).expect("a sealed part serialises"));
    }
    if let Value::Object(map) = value {
        map.insert(SEALED_PARTS.into(), Value::Array(parts));
    }
    Ok(())
}

/// Puts the sealed values of `value` back where this node holds their subject's key, and drops
/// the sealed parts; where it does not (erased, or never given) the empty values stay.
fn open_payload(keys: &KeyStore, origin: NodeId, stream: &str, stream_seq: u64, value: &mut Value) {
    let Some(Value::Array(parts)) = value.as_object_mut().and_then(|m| m.remove(SEALED_PARTS)) else { return };
    for part in parts {
        let Ok(sealed) = serde_json::from_value::<Sealed>(part) else { continue };
        let Some(plain) = keys.unseal(origin, &aad(stream, stream_seq, &sealed.at), &sealed) else { continue };
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
    if !has_marker(payload, SEALED_SUBJECT_KEY) {
        return Vec::new();
    }
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
    if let Ok(v) = serde_json::from_slice::<Value>(payload) {
        walk(&v, &mut out);
    }
    out.sort();
    out.dedup();
    out
}

/// The event with its sealed values opened (a copy; the stored event is unchanged).
fn open_event(keys: &KeyStore, event: Arc<StoredEvent>) -> Arc<StoredEvent> {
    let Some(payload) = &event.payload else { return event };
    if !has_marker(&payload.data, SEALED_SUBJECT_KEY) {
        return event;
    }
    let Ok(mut value) = serde_json::from_slice::<Value>(&payload.data) else { return event };
    let h = &event.header;
    open_payload(keys, h.origin, &h.stream, h.stream_seq, &mut value);
    let data = serde_json::to_vec(&value).expect("a json value serialises");
    let mut opened = (*event).clone();
    opened.payload = Some(Payload { salt: payload.salt, data });
    Arc::new(opened)
}

impl SealingLog {
    /// Seals the marked values of `events`; each such event must name its stream's version.
    async fn seal(&self, mut events: Vec<NewEvent>) -> Result<Vec<NewEvent>> {
        let origin = self.inner.node_id();
        let mut subjects = Vec::new();
        // Each payload with marks is parsed once and its marked values taken out once.
        let mut taken = Vec::with_capacity(events.len());
        let mut bad = Vec::new();
        for (i, e) in events.iter().enumerate() {
            let mut value = match has_marker(&e.payload, PERSONAL_FOR) {
                true => serde_json::from_slice::<Value>(&e.payload).ok(),
                false => None,
            };
            let mut parts = Vec::new();
            if let Some(v) = value.as_mut() {
                take_marked("", v, &mut parts);
            }
            if parts.is_empty() {
                taken.push(None);
                continue;
            }
            if e.expected_version == ExpectedVersion::Any {
                bad.push(FieldViolation::new(
                    format!("events[{i}].expected_version"),
                    "an event with personal data names its stream's version",
                ));
            }
            subjects.extend(parts.iter().map(|(subject, _, _)| subject.clone()));
            taken.push(value.map(|v| (v, parts)));
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
        for (e, taken) in events.iter_mut().zip(taken) {
            let (Some((mut value, parts)), ExpectedVersion::Exact(version)) = (taken, e.expected_version) else {
                continue;
            };
            seal_payload(&self.keys, origin, &e.stream, version + 1, &mut value, parts).map_err(key_error)?;
            e.payload = serde_json::to_vec(&value).expect("a json value serialises");
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

    async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<Appended>> {
        let events = self.seal(events).await?;
        self.inner.append(events).await
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
    use crate::personal::mark;

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[tokio::test]
    async fn personal_values_are_stored_sealed_read_opened_and_read_erased_once_the_key_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let node = NodeKey::from_seed([4; 32]);
        let raw: Arc<dyn EventLog> = Arc::new(LocalLog::memory(node.clone(), LogConfig::default()).unwrap());
        let keys = Arc::new(KeyStore::open(&dir.path().join("keys"), &node).unwrap());
        let log = SealingLog::new(raw.clone(), keys.clone());
        let mut payload = json!({"id": "r1", "client": {"subject_id": "c1", "name": "Marker Jansen"}, "area": 6411});
        mark(&mut payload, &[("c1".into(), "/client/name".into())]);
        let event = NewEvent::new("intake/request/r1", "test.noted", serde_json::to_vec(&payload).unwrap());
        let refused = log.append(vec![event.clone()]).await.unwrap_err();
        assert!(refused.to_string().contains("expected_version"), "{refused}");
        log.append(vec![event.expect(ExpectedVersion::Exact(0))]).await.unwrap();

        let stored = raw.read(node.node_id(), 1, 10).await.unwrap();
        let data = &stored[0].payload.as_ref().unwrap().data;
        assert!(!contains(data, b"Marker Jansen") && contains(data, b"6411"), "sealed, the rest readable");
        let opened = log.read(node.node_id(), 1, 10).await.unwrap();
        let opened: Value = serde_json::from_slice(&opened[0].payload.as_ref().unwrap().data).unwrap();
        assert_eq!(opened["client"]["name"], json!("Marker Jansen"));
        assert!(opened.get(SEALED_PARTS).is_none(), "opened for the services: the plain payload");

        // Taken to another place, the sealed part does not open.
        let mut moved: Value = serde_json::from_slice(data).unwrap();
        open_payload(&keys, node.node_id(), "intake/request/r2", 1, &mut moved);
        assert_eq!(moved["client"]["name"], json!(""), "another stream");
        let mut moved: Value = serde_json::from_slice(data).unwrap();
        moved[SEALED_PARTS][0]["at"] = json!(["/area"]);
        open_payload(&keys, node.node_id(), "intake/request/r1", 1, &mut moved);
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
        let again = NewEvent::new("intake/request/r1", "test.noted", serde_json::to_vec(&payload).unwrap());
        let refused = log.append(vec![again.expect(ExpectedVersion::Exact(1))]).await.unwrap_err();
        assert!(refused.to_string().contains("erased"), "{refused}");
        assert_eq!(sealed_subjects(data), vec!["c1".to_string()]);
    }
}
