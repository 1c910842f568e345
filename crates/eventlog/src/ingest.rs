//! Checks on another origin's events that need no log state: decoding, chain links inside the
//! batch, payload commitments and checkpoint signatures. The writer then checks the link to the
//! stored head. Only the prefix covered by a valid checkpoint is ever stored.

use crate::error::{Error, Result};
use crate::event::{RemoteEvent, StoredEvent};
use crate::header::{EventHeader, header_hash, payload_hash};
use crate::identity::verify_checkpoint;
use crate::ids::{Hash, NodeId};

/// A batch from one origin, contiguous, chained, and signed up to its last event: each event's
/// own bytes check out, and it is decoded as it will be stored.
#[derive(Debug)]
pub(crate) struct CheckedBatch {
    pub(crate) origin: NodeId,
    pub(crate) events: Vec<StoredEvent>,
    /// Events after the last checkpoint, dropped.
    pub(crate) uncovered: u64,
}

/// Logs and returns the refusal of a peer's event: it is reported, never stored.
pub(crate) fn refused(origin: NodeId, seq: u64, reason: impl Into<String>) -> Error {
    let reason = reason.into();
    tracing::warn!(origin = %origin.short(), seq, reason = %reason, "refused event from a peer");
    Error::Refused { origin, seq, reason }
}

/// Whose events a batch may hold: another origin's (ingest), or this node's own (restore).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Whose {
    Other,
    Own,
}

pub(crate) fn check_batch(own: NodeId, events: Vec<RemoteEvent>, whose: Whose) -> Result<CheckedBatch> {
    let mut checked: Vec<StoredEvent> = Vec::with_capacity(events.len());
    let mut origin = None;
    for e in events {
        let header = EventHeader::decode(&e.header_bytes).map_err(|d| {
            // Undecodable bytes name no position: report the one expected next.
            let next = checked.last().map_or(0, |c| c.header.seq + 1);
            refused(origin.unwrap_or(NodeId([0; 32])), next, d.to_string())
        })?;
        let (o, seq) = (header.origin, header.seq);
        match whose {
            Whose::Other if o == own => {
                return Err(refused(o, seq, "events of this node's own origin are not ingested"));
            }
            Whose::Own if o != own => return Err(refused(o, seq, "only this node's own events are restored")),
            _ => {}
        }
        if origin.is_some_and(|first| first != o) {
            return Err(refused(o, seq, "a batch holds events of one origin only"));
        }
        origin = Some(o);
        let hash = header_hash(&e.header_bytes);
        if let Some(prev) = checked.last() {
            if seq != prev.header.seq + 1 {
                return Err(refused(o, seq, format!("not contiguous: expected seq {}", prev.header.seq + 1)));
            }
            if header.prev_hash != prev.hash {
                return Err(refused(o, seq, "prev_hash does not match the previous event"));
            }
        }
        if seq == 1 && header.prev_hash != Hash::ZERO {
            return Err(refused(o, seq, "the first event must have a zero prev_hash"));
        }
        if header.is_withheld() {
            if e.payload.is_some() {
                return Err(refused(o, seq, "a payload came with an outline: its commitment is not known here"));
            }
            if whose == Whose::Own {
                return Err(refused(o, seq, "this node's own event came back as an outline, without its body"));
            }
        }
        if let Some(p) = &e.payload
            && payload_hash(&p.salt, &p.data) != header.payload_hash
        {
            return Err(refused(o, seq, "payload does not match its hash"));
        }
        if let Some(cp) = &e.checkpoint {
            if cp.origin != o || cp.seq != seq || cp.head_hash != hash {
                return Err(refused(o, seq, "checkpoint does not cover this event"));
            }
            if !verify_checkpoint(cp) {
                return Err(refused(o, seq, "checkpoint signature does not verify"));
            }
        }
        checked.push(StoredEvent {
            header_bytes: e.header_bytes,
            header,
            hash,
            payload: e.payload,
            checkpoint: e.checkpoint,
        });
    }
    let covered = checked.iter().rposition(|e| e.checkpoint.is_some()).map_or(0, |i| i + 1);
    let uncovered = (checked.len() - covered) as u64;
    checked.truncate(covered);
    Ok(CheckedBatch { origin: origin.unwrap_or(NodeId([0; 32])), events: checked, uncovered })
}
