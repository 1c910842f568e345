//! What the writer and the readers of a `LocalLog` share: the store, the durable heads per
//! origin (published by the writer after each flush), the window of recent events, and counts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::codec::{decode_checkpoint, decode_headers, decode_payloads};
use crate::error::{Error, Result};
use crate::event::{Head, StoredEvent};
use crate::header::{EventHeader, header_hash};
use crate::ids::NodeId;
use crate::recent::Recent;
use crate::store::{Key, Store};
use crate::stream_index;

/// Counts of group commits, for the benchmark and for metrics.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) commits: AtomicU64,
    pub(crate) events: AtomicU64,
    pub(crate) flush_micros: AtomicU64,
}

impl Stats {
    /// A group commit of `own_events` own events that took `took` to write and flush.
    pub(crate) fn record(&self, own_events: u64, took: std::time::Duration) {
        if own_events > 0 {
            self.commits.fetch_add(1, Ordering::Relaxed);
            self.events.fetch_add(own_events, Ordering::Relaxed);
        }
        self.flush_micros.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }
}

/// Own events appended, the flushes they shared, and the time writing and flushing took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogStats {
    pub commits: u64,
    pub events: u64,
    /// Every group commit's write and flush, own events or others', in microseconds.
    pub flush_micros: u64,
}

/// What the writer and the readers share.
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) origin: NodeId,
    pub(crate) stats: Stats,
    pub(crate) heads: Mutex<HashMap<NodeId, watch::Sender<Head>>>,
    /// Changes each time an origin gets its first durable event here.
    pub(crate) origins_added: watch::Sender<u64>,
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
    pub(crate) fn known_origins(&self) -> Vec<NodeId> {
        let heads = self.heads.lock().expect("heads lock");
        heads.iter().filter(|(_, tx)| tx.borrow().seq > 0).map(|(o, _)| *o).collect()
    }

    pub(crate) fn watch(&self, origin: NodeId) -> watch::Receiver<Head> {
        let mut heads = self.heads.lock().expect("heads lock");
        heads.entry(origin).or_insert_with(|| watch::channel(Head::default()).0).subscribe()
    }

    pub(crate) fn decode(origin: NodeId, seq: u64, bytes: Vec<u8>) -> Result<(EventHeader, Vec<u8>)> {
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

    pub(crate) fn read_stored(&self, origin: NodeId, from: u64, to: u64) -> Result<Vec<Arc<StoredEvent>>> {
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
    pub(crate) fn read_stream(
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

    pub(crate) fn stored_head(&self, origin: NodeId) -> Result<Head> {
        let prefix = Key::origin_prefix(Key::HEADER, origin);
        let Some((key, segment)) = self.store.last(&prefix, &Key::prefix_end(&prefix))? else {
            return Ok(Head::default());
        };
        let (parts, _) = decode_headers(&segment);
        let last = parts.last().ok_or_else(|| Error::Corrupt(format!("empty header segment of {origin}")))?;
        Ok(Head { seq: Key::seq_of(&key) + parts.len() as u64 - 1, hash: header_hash(last) })
    }
}
