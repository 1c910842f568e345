//! The latest events of each origin, decoded once by the writer and shared by every reader.
//!
//! A node's read models and reactions each follow every origin: without this window each of
//! them would read every new event back from the store and decode it again (five times per event
//! on a full node). The writer already holds each event it stores, decoded and hashed; after the
//! flush it puts them here, and readers near the head take shared references instead.
//! Only durable events enter the window, so a reader never sees more than the store holds.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, RwLock};

use crate::event::StoredEvent;
use crate::ids::NodeId;

#[derive(Debug)]
pub(crate) struct Recent {
    /// Events kept per origin; 0 keeps none.
    capacity: usize,
    /// Bytes kept per origin (payloads may be large: the count alone does not bound memory).
    max_bytes: usize,
    windows: RwLock<HashMap<NodeId, Window>>,
}

#[derive(Debug, Default)]
struct Window {
    events: VecDeque<Arc<StoredEvent>>,
    bytes: usize,
}

/// Roughly the memory an event holds.
fn weight(e: &StoredEvent) -> usize {
    let h = &e.header;
    size_of::<StoredEvent>()
        + e.header_bytes.len()
        + h.kind.len()
        + h.stream.len()
        + h.event_id.len()
        + h.trace.len()
        + h.causes.len() * size_of::<crate::header::EventRef>()
        + e.payload.as_ref().map_or(0, |p| p.data.len())
}

impl Window {
    fn pop_front(&mut self) {
        if let Some(e) = self.events.pop_front() {
            self.bytes -= weight(&e);
        }
    }
}

impl Recent {
    pub(crate) fn new(capacity: usize, max_bytes: usize) -> Self {
        Self { capacity, max_bytes, windows: RwLock::default() }
    }

    /// Adds events of `origin` just made durable, in seq order. Events that do not follow the
    /// window start a new one: the window is always one contiguous run ending at the last write.
    pub(crate) fn push(&self, origin: NodeId, events: Vec<Arc<StoredEvent>>) {
        let Some(first) = events.first().map(|e| e.header.seq) else { return };
        if self.capacity == 0 {
            return;
        }
        let mut windows = self.windows.write().expect("recent lock");
        let window = windows.entry(origin).or_default();
        if window.events.back().is_some_and(|last| last.header.seq + 1 != first) {
            *window = Window::default();
        }
        let skip = events.len().saturating_sub(self.capacity);
        for e in events.into_iter().skip(skip) {
            window.bytes += weight(&e);
            window.events.push_back(e);
        }
        while window.events.len() > self.capacity || window.bytes > self.max_bytes {
            window.pop_front();
        }
    }

    /// The events of `from..=to` that the window holds, if it holds `to`: a suffix of the range
    /// (empty when the window does not reach `to`); the caller reads the rest from the store.
    pub(crate) fn suffix(&self, origin: NodeId, from: u64, to: u64) -> Vec<Arc<StoredEvent>> {
        let windows = self.windows.read().expect("recent lock");
        let Some(Window { events: window, .. }) = windows.get(&origin) else { return vec![] };
        let (Some(first), Some(last)) = (window.front(), window.back()) else { return vec![] };
        let (first, last) = (first.header.seq, last.header.seq);
        if to < first || to > last {
            return vec![];
        }
        let start = (from.max(first) - first) as usize;
        window.range(start..=(to - first) as usize).cloned().collect()
    }

    /// Drops the payload of a held event: a redaction must not be undone by the window.
    pub(crate) fn redact(&self, origin: NodeId, seq: u64) {
        let mut windows = self.windows.write().expect("recent lock");
        let Some(window) = windows.get_mut(&origin) else { return };
        let Some(first) = window.events.front().map(|e| e.header.seq) else { return };
        if let Some(slot) = seq.checked_sub(first).and_then(|i| window.events.get_mut(i as usize))
            && slot.payload.is_some()
        {
            let redacted = Arc::new(StoredEvent { payload: None, ..StoredEvent::clone(slot) });
            window.bytes = window.bytes - weight(slot) + weight(&redacted);
            *slot = redacted;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::{Audience, EventHeader};
    use crate::ids::Hash;

    fn event(seq: u64) -> Arc<StoredEvent> {
        let header = EventHeader {
            origin: NodeId([1; 32]),
            seq,
            prev_hash: Hash::ZERO,
            time_micros: 0,
            kind: "k".into(),
            stream: "s".into(),
            stream_seq: seq,
            audience: Audience::Local,
            payload_hash: Hash::ZERO,
            causes: vec![],
            trace: String::new(),
            event_id: String::new(),
            withheld_body: None,
        };
        let payload = Some(crate::event::Payload { salt: [0; 32], data: vec![1] });
        Arc::new(StoredEvent { header_bytes: vec![], header, hash: Hash::ZERO, payload, checkpoint: None })
    }

    fn seqs(events: &[Arc<StoredEvent>]) -> Vec<u64> {
        events.iter().map(|e| e.header.seq).collect()
    }

    #[test]
    fn holds_the_latest_run_and_answers_only_suffixes() {
        let o = NodeId([1; 32]);
        let recent = Recent::new(4, usize::MAX);
        recent.push(o, (1..=3).map(event).collect());
        recent.push(o, (4..=6).map(event).collect());
        assert_eq!(seqs(&recent.suffix(o, 1, 6)), vec![3, 4, 5, 6], "the window keeps the last four");
        assert_eq!(seqs(&recent.suffix(o, 4, 5)), vec![4, 5]);
        assert!(recent.suffix(o, 1, 2).is_empty(), "a range ending before the window is read from the store");
        assert!(recent.suffix(o, 5, 7).is_empty(), "nothing past the window's end");
        assert!(recent.suffix(NodeId([2; 32]), 1, 1).is_empty());
        // A gap (never happens from the writer) starts a new window rather than lying.
        recent.push(o, vec![event(9)]);
        assert_eq!(seqs(&recent.suffix(o, 1, 9)), vec![9]);
        assert!(recent.suffix(o, 6, 6).is_empty());
    }

    #[test]
    fn a_redacted_event_loses_its_payload_in_the_window() {
        let o = NodeId([1; 32]);
        let recent = Recent::new(8, usize::MAX);
        recent.push(o, (1..=3).map(event).collect());
        recent.redact(o, 2);
        recent.redact(o, 7);
        let held = recent.suffix(o, 1, 3);
        assert_eq!(held.iter().map(|e| e.payload.is_some()).collect::<Vec<_>>(), vec![true, false, true]);
    }

    #[test]
    fn large_events_are_bounded_by_bytes_not_only_by_count() {
        let o = NodeId([1; 32]);
        let big = |seq| {
            let mut e = StoredEvent::clone(&event(seq));
            e.payload = Some(crate::event::Payload { salt: [0; 32], data: vec![0; 1000] });
            Arc::new(e)
        };
        let one = weight(&big(1));
        let recent = Recent::new(100, 3 * one);
        recent.push(o, (1..=10).map(big).collect());
        assert_eq!(seqs(&recent.suffix(o, 1, 10)), vec![8, 9, 10], "three fit in the budget");
        // Redacting frees the payload's share, so the next event leaves more in place.
        recent.redact(o, 9);
        recent.push(o, vec![big(11)]);
        assert_eq!(seqs(&recent.suffix(o, 1, 11)), vec![9, 10, 11]);
        // One event over the budget is not kept at all.
        let tiny = Recent::new(100, 10);
        tiny.push(o, vec![big(1)]);
        assert!(tiny.suffix(o, 1, 1).is_empty());
    }

    #[test]
    fn capacity_zero_keeps_nothing() {
        let o = NodeId([1; 32]);
        let recent = Recent::new(0, usize::MAX);
        recent.push(o, vec![event(1)]);
        assert!(recent.suffix(o, 1, 1).is_empty());
    }
}
