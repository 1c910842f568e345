//! The stream index: where each stream's events are in its origin's log, one entry per run.
//!
//! A run is the events of one stream that one group commit wrote, with consecutive stream
//! positions. Its entry is keyed by the stream and the run's first stream position, and holds
//! the log positions as spans `(seq, count)`. A catch-up writes thousands of events per group
//! commit, and the store's cost is per entry, not per byte: one entry per event made the index
//! most of a replica's write cost (`BENCHMARKS.md`). An 8-byte value is the older form, one
//! event per entry; it is still read.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::event::StoredEvent;
use crate::ids::NodeId;
use crate::store::{Key, Store, WriteBatch};

/// Log positions of consecutive stream positions: `(first seq, count)`, in order.
pub(crate) type Spans = Vec<(u64, u32)>;

const SPAN_BYTES: usize = 12;

pub(crate) fn encode_run(spans: &[(u64, u32)]) -> Vec<u8> {
    let mut v = Vec::with_capacity(spans.len() * SPAN_BYTES);
    for (seq, count) in spans {
        v.extend_from_slice(&seq.to_be_bytes());
        v.extend_from_slice(&count.to_be_bytes());
    }
    v
}

pub(crate) fn decode_run(v: &[u8]) -> Result<Spans> {
    if v.len() == 8 {
        return Ok(vec![(u64::from_be_bytes(v.try_into().expect("8 bytes")), 1)]);
    }
    if v.is_empty() || !v.len().is_multiple_of(SPAN_BYTES) {
        return Err(Error::Corrupt(format!("stream index entry of {} bytes", v.len())));
    }
    Ok(v.chunks_exact(SPAN_BYTES)
        .map(|c| {
            let seq = u64::from_be_bytes(c[..8].try_into().expect("8 bytes"));
            (seq, u32::from_be_bytes(c[8..].try_into().expect("4 bytes")))
        })
        .collect())
}

/// How many stream positions a run covers.
pub(crate) fn run_len(spans: &[(u64, u32)]) -> u64 {
    spans.iter().map(|(_, n)| u64::from(*n)).sum()
}

/// The log positions of a run, in stream order.
pub(crate) fn seqs(spans: &[(u64, u32)]) -> impl Iterator<Item = u64> + '_ {
    spans.iter().flat_map(|(seq, n)| *seq..*seq + u64::from(*n))
}

/// A run being built by a group commit.
struct Run {
    origin: NodeId,
    stream: String,
    first_stream_seq: u64,
    next_stream_seq: u64,
    spans: Spans,
}

/// The index entries of one group commit, gathered into runs.
#[derive(Default)]
pub(crate) struct StagedIndex {
    runs: Vec<Run>,
    /// The run each stream extends next, by origin and stream.
    open: HashMap<NodeId, HashMap<String, usize>>,
}

impl StagedIndex {
    /// Records that `stream`'s event at `stream_seq` is `origin`'s event at `seq`. Events come in
    /// log order; one that does not continue its stream's run starts another.
    pub(crate) fn add(&mut self, origin: NodeId, stream: &str, stream_seq: u64, seq: u64) {
        let streams = self.open.entry(origin).or_default();
        if let Some(&i) = streams.get(stream) {
            let run = &mut self.runs[i];
            if run.next_stream_seq == stream_seq {
                run.next_stream_seq += 1;
                match run.spans.last_mut() {
                    Some((first, n)) if *first + u64::from(*n) == seq && *n < u32::MAX => *n += 1,
                    _ => run.spans.push((seq, 1)),
                }
                return;
            }
        }
        streams.insert(stream.to_string(), self.runs.len());
        self.runs.push(Run {
            origin,
            stream: stream.to_string(),
            first_stream_seq: stream_seq,
            next_stream_seq: stream_seq + 1,
            spans: vec![(seq, 1)],
        });
    }

    /// Records staged events, in log order.
    pub(crate) fn add_events(&mut self, events: &[StoredEvent]) {
        // An outline names no stream: this node was not in the event's audience.
        for e in events.iter().filter(|e| !e.header.is_withheld()) {
            self.add(e.header.origin, &e.header.stream, e.header.stream_seq, e.header.seq);
        }
    }

    pub(crate) fn write(&self, batch: &mut WriteBatch) {
        for run in &self.runs {
            batch.put(Key::stream_entry(run.origin, &run.stream, run.first_stream_seq), encode_run(&run.spans));
        }
    }
}

/// The key of the run of `stream` that holds stream position `from`: the greatest at or before it
/// (or `from`'s own key when there is none).
fn run_holding(store: &dyn Store, origin: NodeId, stream: &str, from: u64) -> Result<Vec<u8>> {
    let before = Key::stream_entry(origin, stream, from.saturating_add(1));
    Ok(store
        .last(&Key::stream_entry(origin, stream, 0), &before)?
        .map_or_else(|| Key::stream_entry(origin, stream, from), |(k, _)| k))
}

/// The first `n` positions of a run.
fn keep_first(spans: &[(u64, u32)], mut n: u64) -> Spans {
    let mut kept = Vec::new();
    for &(seq, count) in spans {
        if n == 0 {
            break;
        }
        let take = u64::from(count).min(n);
        kept.push((seq, take as u32));
        n -= take;
    }
    kept
}

/// The log positions of `origin`'s `stream` from stream position `from` on, at most `limit`, none
/// past `head`.
pub(crate) fn lookup(
    store: &dyn Store,
    origin: NodeId,
    stream: &str,
    from: u64,
    limit: usize,
    head: u64,
) -> Result<Vec<u64>> {
    let end = Key::prefix_end(&Key::stream_prefix(origin, stream));
    let mut start = run_holding(store, origin, stream, from)?;
    let mut out = Vec::new();
    // The next stream position to return: runs never overlap when the origin numbers its
    // streams as it must, and an overlapping one adds nothing.
    let mut next = from;
    const PAGE: usize = 64;
    loop {
        let entries = store.scan(&start, &end, PAGE)?;
        for (key, value) in &entries {
            let spans = decode_run(value)?;
            for (stream_seq, seq) in (Key::seq_of(key)..).zip(seqs(&spans)) {
                if stream_seq < next {
                    continue;
                }
                if seq > head || out.len() >= limit {
                    return Ok(out);
                }
                out.push(seq);
                next = stream_seq + 1;
            }
        }
        match entries.last() {
            Some((key, _)) if entries.len() == PAGE => {
                start = key.clone();
                start.push(0);
            }
            _ => return Ok(out),
        }
    }
}

/// The number of events of one of this node's streams: the end of its last run.
pub(crate) fn stream_version(store: &dyn Store, origin: NodeId, stream: &str) -> Result<u64> {
    let prefix = Key::stream_prefix(origin, stream);
    match store.last(&prefix, &Key::prefix_end(&prefix))? {
        Some((key, value)) => Ok(Key::seq_of(&key) + run_len(&decode_run(&value)?) - 1),
        None => Ok(0),
    }
}

/// Removes from `stream`'s index every event of `origin` after `covered`, from stream position
/// `from` on (the first removed event's): runs end early or go.
pub(crate) fn truncate(
    store: &dyn Store,
    origin: NodeId,
    stream: &str,
    from: u64,
    covered: u64,
    batch: &mut WriteBatch,
) -> Result<()> {
    let end = Key::prefix_end(&Key::stream_prefix(origin, stream));
    let start = run_holding(store, origin, stream, from)?;
    for (key, value) in store.scan(&start, &end, usize::MAX)? {
        let spans = decode_run(&value)?;
        let kept = seqs(&spans).take_while(|seq| *seq <= covered).count() as u64;
        if kept == run_len(&spans) {
            continue;
        }
        if kept == 0 {
            batch.remove(key);
        } else {
            batch.put(key, encode_run(&keep_first(&spans, kept)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    const O: NodeId = NodeId([1; 32]);

    fn store_with(index: &StagedIndex) -> MemoryStore {
        let store = MemoryStore::default();
        let mut batch = WriteBatch::default();
        index.write(&mut batch);
        store.apply(batch).unwrap();
        store
    }

    #[test]
    fn one_entry_per_run_and_lookups_from_any_position() {
        let mut index = StagedIndex::default();
        // Two streams interleaved in one group commit; "a" has a gap in its log positions.
        for (stream, stream_seq, seq) in [("a", 1, 1), ("a", 2, 2), ("b", 1, 3), ("a", 3, 4), ("b", 2, 5), ("a", 4, 5)]
        {
            index.add(O, stream, stream_seq, seq);
        }
        assert_eq!(index.runs.len(), 2);
        assert_eq!(index.runs[0].spans, vec![(1, 2), (4, 2)]);
        let store = store_with(&index);
        assert_eq!(lookup(&store, O, "a", 1, 10, 100).unwrap(), vec![1, 2, 4, 5]);
        assert_eq!(lookup(&store, O, "a", 3, 10, 100).unwrap(), vec![4, 5], "from inside a run");
        assert_eq!(lookup(&store, O, "a", 1, 2, 100).unwrap(), vec![1, 2], "limit");
        assert_eq!(lookup(&store, O, "a", 1, 10, 4).unwrap(), vec![1, 2, 4], "not past the head");
        assert_eq!(lookup(&store, O, "b", 2, 10, 100).unwrap(), vec![5]);
        assert!(lookup(&store, O, "a", 5, 10, 100).unwrap().is_empty());
        assert!(lookup(&store, O, "c", 1, 10, 100).unwrap().is_empty());
        assert_eq!(stream_version(&store, O, "a").unwrap(), 4);
        assert_eq!(stream_version(&store, O, "c").unwrap(), 0);
    }

    #[test]
    fn later_group_commits_add_runs_and_old_single_entries_still_read() {
        let store = MemoryStore::default();
        let mut batch = WriteBatch::default();
        // The older form: one 8-byte entry per event.
        batch.put(Key::stream_entry(O, "a", 1), 7u64.to_be_bytes().to_vec());
        store.apply(batch).unwrap();
        for round in 0..100u64 {
            let mut index = StagedIndex::default();
            index.add(O, "a", 2 + 2 * round, 10 + 2 * round);
            index.add(O, "a", 3 + 2 * round, 11 + 2 * round);
            let mut batch = WriteBatch::default();
            index.write(&mut batch);
            store.apply(batch).unwrap();
        }
        let all = lookup(&store, O, "a", 1, usize::MAX, u64::MAX).unwrap();
        assert_eq!(all.len(), 201, "lookups page through many entries");
        assert_eq!(all[..3], [7, 10, 11]);
        assert_eq!(lookup(&store, O, "a", 150, 3, u64::MAX).unwrap(), vec![158, 159, 160]);
        assert_eq!(stream_version(&store, O, "a").unwrap(), 201);
    }

    #[test]
    fn truncation_keeps_exactly_the_covered_events() {
        let mut index = StagedIndex::default();
        for i in 1..=10 {
            index.add(O, "a", i, i * 2);
        }
        let store = store_with(&index);
        let mut next = StagedIndex::default();
        next.add(O, "a", 11, 30);
        let mut batch = WriteBatch::default();
        next.write(&mut batch);
        store.apply(batch).unwrap();
        // Everything after seq 9 is torn: stream positions 5.. go.
        let mut batch = WriteBatch::default();
        truncate(&store, O, "a", 5, 9, &mut batch).unwrap();
        store.apply(batch).unwrap();
        assert_eq!(lookup(&store, O, "a", 1, usize::MAX, u64::MAX).unwrap(), vec![2, 4, 6, 8]);
        assert_eq!(stream_version(&store, O, "a").unwrap(), 4);
    }

    #[test]
    fn malformed_entries_are_reported() {
        assert!(decode_run(&[1, 2, 3]).is_err());
        assert!(decode_run(&[]).is_err());
        assert_eq!(decode_run(&encode_run(&[(5, 3), (9, 1)])).unwrap(), vec![(5, 3), (9, 1)]);
    }
}
