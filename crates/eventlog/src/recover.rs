//! Repair of a group commit torn by a crash, run when a log opens.
//!
//! A group commit is written as plain inserts in a fixed order — header and payload segments,
//! then index entries, then checkpoints — and flushed once. sled recovers a prefix of its log
//! after a crash (its recovery stops at the first torn message), so what a crash can leave is a
//! tail of events that no checkpoint covers, and the index entries written for them. Those events
//! were never acknowledged (an append is answered only after the flush), so the repair removes
//! them: the log is then exactly what it was after the last complete group commit of each origin.
//! sled's own atomic batch would avoid the repair, but it writes and syncs a batch manifest of its
//! own before the batch, which doubled the cost of a small group commit (`BENCHMARKS.md`).

use std::collections::HashMap;

use crate::codec::{decode_headers, decode_payloads, encode_headers, encode_payloads};
use crate::error::{Error, Result};
use crate::header::EventHeader;
use crate::ids::NodeId;
use crate::store::{Key, Store, WriteBatch};
use crate::stream_index;

/// Events removed from one origin's tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TornTail {
    pub(crate) origin: NodeId,
    /// The first removed seq; everything from here on was removed.
    pub(crate) from: u64,
    pub(crate) to: u64,
}

/// Every origin with stored header segments.
pub(crate) fn stored_origins(store: &dyn Store) -> Result<Vec<NodeId>> {
    let mut out = Vec::new();
    let mut from = vec![Key::HEADER];
    let end = vec![Key::HEADER + 1];
    while let Some((key, _)) = store.scan(&from, &end, 1)?.pop() {
        let origin = Key::origin_of(&key).ok_or_else(|| Error::Corrupt("short header key".into()))?;
        out.push(origin);
        from = Key::prefix_end(&Key::origin_prefix(Key::HEADER, origin));
    }
    Ok(out)
}

/// Removes, for every origin, the events after its last checkpoint and their index entries, then
/// flushes. Idempotent: a crash during the repair leaves something the next open repairs again
/// (index entries go first, header segments — by which a tail is found — last).
pub(crate) fn repair_torn_tails(store: &dyn Store, own: NodeId) -> Result<Vec<TornTail>> {
    let mut repaired = Vec::new();
    for origin in stored_origins(store)? {
        if let Some(tail) = repair_origin(store, own, origin)? {
            tracing::warn!(
                origin = %origin.short(),
                from = tail.from,
                to = tail.to,
                "removed events a crash left without a checkpoint (never acknowledged)"
            );
            repaired.push(tail);
        }
    }
    if !repaired.is_empty() {
        store.flush()?;
    }
    Ok(repaired)
}

fn repair_origin(store: &dyn Store, own: NodeId, origin: NodeId) -> Result<Option<TornTail>> {
    let cp_prefix = Key::origin_prefix(Key::CHECKPOINT, origin);
    let covered = store.last(&cp_prefix, &Key::prefix_end(&cp_prefix))?.map_or(0, |(k, _)| Key::seq_of(&k));
    // The segment holding `covered + 1`, if any, starts at or before it; later ones after it.
    let first = store
        .last(&Key::at(Key::HEADER, origin, 0), &Key::at(Key::HEADER, origin, covered.saturating_add(2)))?
        .map_or(covered + 1, |(k, _)| Key::seq_of(&k));
    let header_end = Key::prefix_end(&Key::origin_prefix(Key::HEADER, origin));
    let segments = store.scan(&Key::at(Key::HEADER, origin, first), &header_end, usize::MAX)?;
    let mut index = WriteBatch::default();
    // The first stream position of each stream with a torn event.
    let mut torn_streams: HashMap<String, u64> = HashMap::new();
    let mut segment_ops = WriteBatch::default();
    let mut header_ops = WriteBatch::default();
    let mut torn: Option<(u64, u64)> = None;
    for (key, segment) in segments {
        let start = Key::seq_of(&key);
        let (headers, intact) = decode_headers(&segment);
        if !intact {
            return Err(Error::Corrupt(format!("header segment {origin}:{start} is malformed")));
        }
        let keep = if start > covered { 0 } else { ((covered - start + 1) as usize).min(headers.len()) };
        if keep == headers.len() {
            continue;
        }
        for (i, bytes) in headers.iter().enumerate().skip(keep) {
            let seq = start + i as u64;
            let header = EventHeader::decode(bytes)
                .map_err(|e| Error::Corrupt(format!("header {origin}:{seq} in a torn tail: {e}")))?;
            if !header.is_withheld() {
                let first = torn_streams.entry(header.stream).or_insert(header.stream_seq);
                *first = (*first).min(header.stream_seq);
            }
            if origin == own && !header.event_id.is_empty() {
                let id_key = Key::event_id(&header.event_id);
                if store.get(&id_key)?.as_deref() == Some(&seq.to_be_bytes()[..]) {
                    index.remove(id_key);
                }
            }
            let (from, _) = torn.unwrap_or((seq, seq));
            torn = Some((from.min(seq), seq));
        }
        let payload_key = Key::at(Key::PAYLOAD, origin, start);
        if keep == 0 {
            segment_ops.remove(payload_key);
            header_ops.remove(key);
        } else {
            if let Some(stored) = store.get(&payload_key)? {
                let (payloads, _) = decode_payloads(&stored);
                let kept = payloads.iter().take(keep).map(Option::as_ref);
                segment_ops.put(payload_key, encode_payloads(kept));
            }
            header_ops.put(key, encode_headers(headers[..keep].iter().copied()));
        }
    }
    let Some((from, to)) = torn else { return Ok(None) };
    for (stream, first) in &torn_streams {
        stream_index::truncate(store, origin, stream, *first, covered, &mut index)?;
    }
    let mut batch = index;
    batch.ops.append(&mut segment_ops.ops);
    batch.ops.append(&mut header_ops.ops);
    store.apply(batch)?;
    Ok(Some(TornTail { origin, from, to }))
}

#[cfg(test)]
mod tests {
    //! A crash can stop a group commit after any of its writes. These tests take the writes of a
    //! real group commit, apply every prefix of them to a copy of the store as it was before, and
    //! open the log on each: it must come up at the last complete group, verify, and go on.

    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::event::{Head, NewEvent, RemoteEvent};
    use crate::store::{Entry, MemoryStore};
    use crate::{EventLog, LocalLog, LogConfig, NodeKey};

    type Ops = Vec<(Vec<u8>, Option<Vec<u8>>)>;

    /// A memory store that keeps a copy of every batch applied to it.
    #[derive(Default)]
    struct Recording {
        inner: MemoryStore,
        batches: Mutex<Vec<Ops>>,
    }

    impl Store for Recording {
        fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
            self.inner.get(key)
        }
        fn scan(&self, from: &[u8], to: &[u8], limit: usize) -> Result<Vec<Entry>> {
            self.inner.scan(from, to, limit)
        }
        fn last(&self, from: &[u8], to: &[u8]) -> Result<Option<Entry>> {
            self.inner.last(from, to)
        }
        fn apply(&self, batch: WriteBatch) -> Result<()> {
            self.batches.lock().unwrap().push(batch.ops.clone());
            self.inner.apply(batch)
        }
        fn flush(&self) -> Result<()> {
            Ok(())
        }
    }

    fn everything(store: &dyn Store) -> Vec<Entry> {
        store.scan(&[], &[0xff; 64], usize::MAX).unwrap()
    }

    /// A store holding `base`, then the first `k` writes of `ops`, as a crash would leave it.
    fn crashed(base: &[Entry], ops: &Ops, k: usize) -> Arc<MemoryStore> {
        let store = MemoryStore::default();
        let mut batch = WriteBatch::default();
        batch.ops.extend(base.iter().map(|(k, v)| (k.clone(), Some(v.clone()))));
        batch.ops.extend(ops[..k].iter().cloned());
        store.apply(batch).unwrap();
        Arc::new(store)
    }

    /// The stored Merkle tree is the tree of the events that survived, also when the crash kept
    /// tree nodes of the torn group.
    async fn assert_tree_matches(log: &LocalLog, origin: NodeId, head: u64) {
        let events = log.read(origin, 1, usize::MAX).await.unwrap();
        let leaves: Vec<_> = events.iter().map(|e| samenspel_merkle::leaf_hash(&e.hash.0)).collect();
        assert_eq!(log.tree_root(origin, head).await.unwrap(), samenspel_merkle::root_of(&leaves), "head {head}");
    }

    fn key(seed: u8) -> NodeKey {
        NodeKey::from_seed([seed; 32])
    }

    /// 70 events on three streams, all with event ids: two segments in one group commit.
    fn group(tag: &str) -> Vec<NewEvent> {
        (0..70)
            .map(|i| {
                NewEvent::new(format!("s{}", i % 3), "test.noted", format!("{tag}{i}")).with_id(format!("{tag}{i}"))
            })
            .collect()
    }

    #[tokio::test]
    async fn every_crash_point_of_an_append_opens_at_the_last_complete_group() {
        let store = Arc::new(Recording::default());
        let log = LocalLog::start(store.clone(), key(1), LogConfig::default()).unwrap();
        let before = log.append(group("a")).await.unwrap().last().unwrap().seq;
        let base = everything(store.as_ref());
        let after = log.append(group("b")).await.unwrap().last().unwrap().seq;
        log.close().await.unwrap();
        let ops = store.batches.lock().unwrap().last().unwrap().clone();
        assert!(ops.len() > 70, "segments, index entries and a checkpoint: {} writes", ops.len());

        for k in 0..=ops.len() {
            let log = LocalLog::start(crashed(&base, &ops, k), key(1), LogConfig::default()).unwrap();
            let head = log.head(log.node_id()).await.unwrap().seq;
            let complete = k == ops.len();
            assert_eq!(head, if complete { after } else { before }, "crash after {k} of {} writes", ops.len());
            assert!(log.verify().await.unwrap().is_ok(), "crash after {k} writes");
            assert_tree_matches(&log, log.node_id(), head).await;
            // The index holds exactly the events that are there.
            for s in 0..3 {
                let stream = log.read_stream(log.node_id(), &format!("s{s}"), 1, usize::MAX).await.unwrap();
                assert!(stream.iter().all(|e| e.header.seq <= head));
                assert_eq!(stream.len(), (1..=head).filter(|q| (q - 1) % 70 % 3 == s).count());
            }
            // An event id of the torn group is free again; one of the complete group is a retry.
            let retry = log.append(group("b")[..1].to_vec()).await.unwrap()[0];
            assert_eq!(retry.duplicate, complete, "crash after {k} writes");
            assert_eq!(retry.seq, before + 1);
            let next = log.append(vec![NewEvent::new("s0", "test.noted", "next")]).await.unwrap()[0];
            assert_eq!(next.seq, head + 1 + u64::from(!complete));
            // The stream goes on where its last kept event left it, not where the torn run did.
            let kept_in_s0 = (1..=head).filter(|q| (q - 1) % 70 % 3 == 0).count() as u64;
            assert_eq!(next.stream_seq, kept_in_s0 + u64::from(!complete) + 1, "crash after {k} writes");
            assert!(log.verify().await.unwrap().is_ok());
            log.close().await.unwrap();
        }
    }

    #[tokio::test]
    async fn every_crash_point_of_an_ingest_opens_at_a_checkpoint_it_stored() {
        let origin = LocalLog::memory(key(2), LogConfig::default()).unwrap();
        let mut checkpoints = vec![0];
        for g in 0..3 {
            checkpoints.push(origin.append(group(&format!("g{g}"))).await.unwrap().last().unwrap().seq);
        }
        let first = origin.read(origin.node_id(), 1, 70).await.unwrap();
        let rest = origin.read(origin.node_id(), 71, usize::MAX).await.unwrap();

        let store = Arc::new(Recording::default());
        let log = LocalLog::start(store.clone(), key(3), LogConfig::default()).unwrap();
        log.ingest(first.into_iter().map(RemoteEvent::from).collect()).await.unwrap();
        let base = everything(store.as_ref());
        let rest: Vec<RemoteEvent> = rest.into_iter().map(RemoteEvent::from).collect();
        assert_eq!(log.ingest(rest.clone()).await.unwrap().head.seq, 210);
        log.close().await.unwrap();
        let ops = store.batches.lock().unwrap().last().unwrap().clone();

        let mut seen = std::collections::BTreeSet::new();
        for k in 0..=ops.len() {
            let log = LocalLog::start(crashed(&base, &ops, k), key(3), LogConfig::default()).unwrap();
            let head: Head = log.head(origin.node_id()).await.unwrap();
            assert!(checkpoints.contains(&head.seq) && head.seq >= 70, "crash after {k} writes: head {}", head.seq);
            assert!(log.verify().await.unwrap().is_ok(), "crash after {k} writes");
            assert_tree_matches(&log, origin.node_id(), head.seq).await;
            seen.insert(head.seq);
            // The index holds exactly the events that are there, also when a run of the torn
            // group commit reached past the checkpoint that survived.
            let in_s1 = |to: u64| (1..=to).filter(|q| (q - 1) % 70 % 3 == 1).collect::<Vec<_>>();
            let stream = log.read_stream(origin.node_id(), "s1", 1, usize::MAX).await.unwrap();
            assert_eq!(stream.iter().map(|e| e.header.seq).collect::<Vec<_>>(), in_s1(head.seq), "crash after {k}");
            // Sending the same events again completes the log.
            assert_eq!(log.ingest(rest.clone()).await.unwrap().head.seq, 210);
            assert!(log.verify().await.unwrap().is_ok());
            let stream = log.read_stream(origin.node_id(), "s1", 1, usize::MAX).await.unwrap();
            assert_eq!(stream.iter().map(|e| e.header.seq).collect::<Vec<_>>(), in_s1(210));
            log.close().await.unwrap();
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![70, 140, 210], "torn between checkpoints too");
    }
}
