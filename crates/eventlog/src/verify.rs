//! Verification of a whole store: every chain walked back from its signed checkpoints.
//!
//! A valid checkpoint signature makes its head hash trusted; each header that hashes to the
//! trusted value passes trust on to its `prev_hash`. Walking down from the checkpoints, the first
//! header that does not hash to what the event above it (or a checkpoint) committed to is the
//! damaged one, so a problem is reported at the position that was changed, not after it.

use std::collections::BTreeMap;

use crate::codec::{decode_checkpoint, decode_headers, decode_payloads};
use crate::error::Result;
use crate::event::{ForkEvidence, Head};
use crate::header::{EventHeader, header_hash, payload_hash};
use crate::identity::verify_checkpoint;
use crate::ids::{Hash, NodeId};
use crate::store::{Key, Store, WriteBatch};

const CHUNK: usize = 4096;

/// What is wrong at one position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemKind {
    /// A header is missing inside the log.
    Missing,
    /// The header bytes do not decode, or name another position.
    Malformed(String),
    /// The header does not hash to what the next event or a checkpoint commits to.
    HashMismatch,
    /// A checkpoint whose signature does not verify.
    BadSignature,
    /// A payload that does not match the header's salted hash.
    PayloadMismatch,
    /// The first event does not start from the zero hash.
    BadGenesis,
    /// A stored node of the origin's Merkle tree, ending at this position, is not the hash of the
    /// events below it (or is missing): proofs made from it would not verify.
    TreeMismatch,
}

impl ProblemKind {
    /// A name for machines: missing, malformed, hash_mismatch, bad_signature, payload_mismatch,
    /// bad_genesis.
    pub fn code(&self) -> &'static str {
        match self {
            ProblemKind::Missing => "missing",
            ProblemKind::Malformed(_) => "malformed",
            ProblemKind::HashMismatch => "hash_mismatch",
            ProblemKind::BadSignature => "bad_signature",
            ProblemKind::PayloadMismatch => "payload_mismatch",
            ProblemKind::BadGenesis => "bad_genesis",
            ProblemKind::TreeMismatch => "tree_mismatch",
        }
    }
}

impl std::fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProblemKind::Missing => f.write_str("header missing"),
            ProblemKind::Malformed(why) => write!(f, "header malformed: {why}"),
            ProblemKind::HashMismatch => f.write_str("header does not match the chain"),
            ProblemKind::BadSignature => f.write_str("checkpoint signature does not verify"),
            ProblemKind::PayloadMismatch => f.write_str("payload does not match its hash"),
            ProblemKind::BadGenesis => f.write_str("first event does not start from the zero hash"),
            ProblemKind::TreeMismatch => f.write_str("merkle tree node does not match the events below it"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub origin: NodeId,
    pub seq: u64,
    pub kind: ProblemKind,
}

/// Counts per origin.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OriginSummary {
    pub origin: Option<NodeId>,
    pub head: Head,
    pub events: u64,
    pub payloads: u64,
    pub checkpoints: u64,
    /// Events held as their outline only: this node was outside their audience (invariant 28).
    pub outlines: u64,
    /// Events that could not be checked because a problem above them broke the chain.
    pub unverified: u64,
}

/// Events of an origin after its last checkpoint. No one was answered for them: they are the
/// tail of a write a crash interrupted, and the log removes them when it opens. They are not
/// damage, and not verified either (nothing signed covers them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnsignedTail {
    pub origin: NodeId,
    pub first: u64,
    pub last: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VerifyReport {
    pub origins: Vec<OriginSummary>,
    pub problems: Vec<Problem>,
    /// Unacknowledged tails a crash left, which the next open removes.
    pub unsigned_tails: Vec<UnsignedTail>,
    /// Origins with stored fork evidence, and the position of the fork.
    pub forks: Vec<(NodeId, u64)>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The lowest damaged position of the first origin with a problem.
    pub fn first_problem(&self) -> Option<&Problem> {
        self.problems.iter().min_by_key(|p| (p.origin, p.seq))
    }
}

struct Info {
    hash: Hash,
    /// `None` when the header did not decode.
    decoded: Option<(Hash, Hash)>,
}

pub(crate) fn verify_store(store: &dyn Store) -> Result<VerifyReport> {
    verify_store_with(store, &mut |_| {})
}

/// How far a check of the store has come: origins checked of all, and the events checked of
/// about how many there are (the last header segment of each origin says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyProgress {
    pub origin: NodeId,
    pub origins_done: usize,
    pub origins: usize,
    pub events_done: u64,
    pub events_total: u64,
}

/// About how many events `origin` has stored: the start of its last header segment and what it
/// holds.
fn events_of(store: &dyn Store, origin: NodeId) -> Result<u64> {
    let prefix = Key::origin_prefix(Key::HEADER, origin);
    Ok(match store.last(&prefix, &Key::prefix_end(&prefix))? {
        Some((key, segment)) => Key::seq_of(&key) + decode_headers(&segment).0.len().saturating_sub(1) as u64,
        None => 0,
    })
}

/// [`verify_store`], telling `progress` as each origin's headers are read and after each origin.
pub(crate) fn verify_store_with(store: &dyn Store, progress: &mut dyn FnMut(VerifyProgress)) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    let origins = crate::recover::stored_origins(store)?;
    let mut events_total = 0;
    for origin in &origins {
        events_total += events_of(store, *origin)?;
    }
    for (i, origin) in origins.iter().enumerate() {
        let before: u64 = report.origins.iter().map(|o| o.events).sum();
        let told = |events_done, origins_done| VerifyProgress {
            origin: *origin,
            origins_done,
            origins: origins.len(),
            events_done,
            events_total: events_total.max(events_done),
        };
        verify_origin(store, *origin, &mut report, &mut |here| progress(told(before + here, i)))?;
        let events_done = report.origins.iter().map(|o| o.events).sum();
        progress(told(events_done, i + 1));
    }
    for (k, _) in store.scan(&[Key::FORK], &[Key::FORK + 1], usize::MAX)? {
        if let Some(o) = Key::origin_of(&k) {
            report.forks.push((o, Key::seq_of(&k)));
        }
    }
    report.problems.sort_by_key(|p| (p.origin, p.seq));
    Ok(report)
}

/// Visits every entry of one origin in one table, in seq order, a chunk at a time.
fn each(store: &dyn Store, table: u8, origin: NodeId, mut f: impl FnMut(u64, Vec<u8>)) -> Result<()> {
    let prefix = Key::origin_prefix(table, origin);
    let end = Key::prefix_end(&prefix);
    let mut from = prefix;
    loop {
        let chunk = store.scan(&from, &end, CHUNK)?;
        let Some((last, _)) = chunk.last() else { return Ok(()) };
        from = last.clone();
        from.push(0);
        let n = chunk.len();
        for (k, v) in chunk {
            f(Key::seq_of(&k), v);
        }
        if n < CHUNK {
            return Ok(());
        }
    }
}

/// The stored Merkle tree nodes of `origin` against the tree of its headers' hashes: each stored
/// node that ends within the headers must be the one they give, and none of those may be missing
/// below the last one stored (above it, the log builds them when it opens). Stops at the first
/// missing header: the chain's problems are reported anyway.
fn check_tree(
    store: &dyn Store,
    origin: NodeId,
    infos: &[Option<Info>],
    problem: &mut impl FnMut(u64, ProblemKind),
) -> Result<()> {
    let mut frontier = crate::tree::Frontier::default();
    let mut expected = WriteBatch::default();
    for info in infos {
        let Some(info) = info else { break };
        frontier.push(origin, &info.hash, &mut expected);
    }
    let covered = frontier.size;
    let prefix = Key::origin_prefix(Key::TREE, origin);
    let stored: BTreeMap<Vec<u8>, Vec<u8>> =
        store.scan(&prefix, &Key::prefix_end(&prefix), usize::MAX)?.into_iter().collect();
    let end_of = |k: &[u8]| Key::seq_of(&k[..k.len() - 1]);
    let last_stored = stored.keys().map(|k| end_of(k)).filter(|e| *e <= covered).max().unwrap_or(0);
    for (key, value) in expected.ops {
        let end = end_of(&key);
        match stored.get(&key) {
            Some(v) if Some(v) == value.as_ref() => {}
            None if end > last_stored => {}
            _ => problem(end, ProblemKind::TreeMismatch),
        }
    }
    Ok(())
}

fn verify_origin(
    store: &dyn Store,
    origin: NodeId,
    report: &mut VerifyReport,
    read: &mut dyn FnMut(u64),
) -> Result<()> {
    let mut problems = Vec::new();
    let mut problem = |seq, kind| problems.push(Problem { origin, seq, kind });
    let mut summary = OriginSummary { origin: Some(origin), ..Default::default() };

    // Forward: hash every header and note what it commits to.
    let mut infos: Vec<Option<Info>> = Vec::new();
    let mut payload_hashes: Vec<Option<Hash>> = Vec::new();
    each(store, Key::HEADER, origin, |start, segment| {
        let (parts, intact) = decode_headers(&segment);
        if !intact {
            problem(start + parts.len() as u64, ProblemKind::Malformed("segment framing broken".into()));
        }
        for (i, bytes) in parts.into_iter().enumerate() {
            let seq = start + i as u64;
            let at = (seq - 1) as usize;
            if infos.len() <= at {
                infos.resize_with(at + 1, || None);
                payload_hashes.resize(at + 1, None);
            }
            let hash = header_hash(bytes);
            let decoded = match EventHeader::decode(bytes) {
                Ok(h) if h.origin == origin && h.seq == seq => {
                    summary.outlines += u64::from(h.is_withheld());
                    payload_hashes[at] = Some(h.payload_hash);
                    Some((h.prev_hash, h.payload_hash))
                }
                Ok(_) => {
                    problem(seq, ProblemKind::Malformed("names another position".into()));
                    None
                }
                Err(e) => {
                    problem(seq, ProblemKind::Malformed(e.0.into()));
                    None
                }
            };
            infos[at] = Some(Info { hash, decoded });
            summary.events += 1;
        }
        read(summary.events);
    })?;
    check_tree(store, origin, &infos, &mut problem)?;
    let top = infos.len() as u64;
    summary.head = Head { seq: top, hash: infos.last().and_then(|i| i.as_ref()).map_or(Hash::ZERO, |i| i.hash) };

    each(store, Key::PAYLOAD, origin, |start, segment| {
        let (payloads, intact) = decode_payloads(&segment);
        if !intact {
            problem(start + payloads.len() as u64, ProblemKind::PayloadMismatch);
        }
        for (i, payload) in payloads.into_iter().enumerate() {
            let seq = start + i as u64;
            let Some(p) = payload else { continue };
            summary.payloads += 1;
            let committed = payload_hashes.get((seq - 1) as usize).copied().flatten();
            if committed.is_some() && Some(payload_hash(&p.salt, &p.data)) != committed {
                problem(seq, ProblemKind::PayloadMismatch);
            }
        }
    })?;

    // Checkpoints: `Some(head_hash)` when the signature verifies.
    let mut checkpoints: BTreeMap<u64, Option<Hash>> = BTreeMap::new();
    each(store, Key::CHECKPOINT, origin, |seq, bytes| {
        summary.checkpoints += 1;
        let good = decode_checkpoint(origin, seq, &bytes).ok().filter(verify_checkpoint).map(|cp| cp.head_hash);
        if good.is_none() {
            problem(seq, ProblemKind::BadSignature);
        }
        checkpoints.insert(seq, good);
    })?;

    // Backward: trust flows down from good checkpoints through matching headers.
    let last_cp = checkpoints.keys().next_back().copied().unwrap_or(0);
    if last_cp < top {
        report.unsigned_tails.push(UnsignedTail { origin, first: last_cp + 1, last: top });
    }
    let mut expected: Option<Hash> = None;
    for seq in (1..=top.min(last_cp)).rev() {
        if let Some(Some(signed)) = checkpoints.get(&seq) {
            expected = Some(*signed);
        }
        let info = &infos[(seq - 1) as usize];
        match (info, expected) {
            (None, _) => {
                problem(seq, ProblemKind::Missing);
                expected = None;
            }
            (Some(Info { decoded: None, .. }), _) => expected = None,
            (Some(_), None) => summary.unverified += 1,
            (Some(info), Some(want)) if info.hash != want => {
                problem(seq, ProblemKind::HashMismatch);
                expected = None;
            }
            (Some(Info { decoded: Some((prev, _)), .. }), Some(_)) => {
                expected = Some(*prev);
                if seq == 1 && *prev != Hash::ZERO {
                    problem(1, ProblemKind::BadGenesis);
                }
            }
        }
    }
    report.problems.extend(problems);
    report.origins.push(summary);
    Ok(())
}

/// Fork evidence checks itself here, beside the checks of stored logs.
impl ForkEvidence {
    /// True when the evidence proves the fork by itself: both headers are at `(origin, seq)`,
    /// they differ, and the other one is chained to a valid signature of the origin.
    pub fn proves_fork(&self) -> bool {
        let at = |b: &[u8]| EventHeader::decode(b).is_ok_and(|h| h.origin == self.origin && h.seq == self.seq);
        let Some(first) = self.theirs.first() else { return false };
        let chained =
            self.theirs.windows(2).all(|w| EventHeader::decode(&w[1]).is_ok_and(|h| h.prev_hash == header_hash(&w[0])));
        let last = self.theirs.last().map(|b| header_hash(b));
        at(&self.ours)
            && at(first)
            && self.ours != *first
            && chained
            && last == Some(self.checkpoint.head_hash)
            && self.checkpoint.origin == self.origin
            && self.checkpoint.seq == self.seq + self.theirs.len() as u64 - 1
            && verify_checkpoint(&self.checkpoint)
    }
}

#[cfg(test)]
mod tests {
    //! Any single-byte change to what is stored is found, at the position that was changed.

    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;
    use crate::store::{SledStore, WriteBatch};
    use crate::{EventLog, LocalLog, LogConfig, NewEvent, NodeKey};

    #[derive(Debug, Clone)]
    enum Target {
        /// A byte of a header (which holds the payload hash too).
        Header,
        /// A byte of the payload hash inside a header.
        PayloadHash,
        /// A byte of a checkpoint: its head hash (0..32) or its signature (32..96).
        Checkpoint,
        /// A byte of a payload or its salt.
        Payload,
    }

    fn target() -> impl Strategy<Value = Target> {
        prop_oneof![Just(Target::Header), Just(Target::PayloadHash), Just(Target::Checkpoint), Just(Target::Payload)]
    }

    /// Appends batches of the given sizes, one group commit each.
    fn fill(log: &LocalLog, batches: &[usize]) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            for (b, &n) in batches.iter().enumerate() {
                let events = (0..n).map(|i| NewEvent::new(format!("s{}", i % 2), "k", format!("{b}/{i}").into_bytes()));
                log.append(events.collect()).await.unwrap();
            }
            log.close().await.unwrap();
        });
    }

    /// The byte ranges of each event's record in a segment (length prefix included).
    fn records(table: u8, segment: &[u8]) -> Vec<std::ops::Range<usize>> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < segment.len() {
            let n = u32::from_be_bytes(segment[at..at + 4].try_into().unwrap());
            let len = match (table, n) {
                (Key::PAYLOAD, u32::MAX) => 4,
                (Key::PAYLOAD, n) => 4 + 32 + n as usize,
                (_, n) => 4 + n as usize,
            };
            out.push(at..at + len);
            at += len;
        }
        out
    }

    /// Flips `mask` in one byte of the chosen kind of entry; returns the position it belongs to.
    fn corrupt(store: &dyn Store, origin: NodeId, target: &Target, pick: usize, byte: usize, mask: u8) -> u64 {
        let table = match target {
            Target::Header | Target::PayloadHash => Key::HEADER,
            Target::Checkpoint => Key::CHECKPOINT,
            Target::Payload => Key::PAYLOAD,
        };
        let prefix = Key::origin_prefix(table, origin);
        let entries = store.scan(&prefix, &Key::prefix_end(&prefix), usize::MAX).unwrap();
        let (key, mut value) = entries[pick % entries.len()].clone();
        let start = Key::seq_of(&key);
        let (i, seq) = match target {
            Target::Checkpoint => (byte % value.len(), start),
            Target::PayloadHash => {
                // Offset of payload_hash in a header: version, origin, seq, prev_hash, body hash,
                // form, then in the body time and stream_seq.
                let records = records(table, &value);
                let r = (byte / 32) % records.len();
                (records[r].start + 4 + 1 + 32 + 8 + 32 + 32 + 1 + 8 + 8 + byte % 32, start + r as u64)
            }
            Target::Header | Target::Payload => {
                let i = byte % value.len();
                let r = records(table, &value).iter().position(|r| r.contains(&i)).unwrap();
                (i, start + r as u64)
            }
        };
        value[i] ^= mask;
        let mut batch = WriteBatch::default();
        batch.put(key.clone(), value);
        store.apply(batch).unwrap();
        store.flush().unwrap();
        seq
    }

    fn check(report: &VerifyReport, target: &Target, seq: u64) -> Result<(), TestCaseError> {
        let first = report.first_problem();
        prop_assert!(first.is_some(), "change at {seq} not detected");
        let first = first.unwrap();
        prop_assert_eq!(first.seq, seq, "{:?}", report.problems);
        match target {
            Target::Checkpoint => prop_assert_eq!(&first.kind, &ProblemKind::BadSignature),
            Target::Payload => prop_assert_eq!(&first.kind, &ProblemKind::PayloadMismatch),
            // A header change is a chain break at that position (and, in the payload hash, a
            // payload mismatch at the same position too).
            Target::Header | Target::PayloadHash => prop_assert!(
                report
                    .problems
                    .iter()
                    .any(|p| p.seq == seq && matches!(p.kind, ProblemKind::HashMismatch | ProblemKind::Malformed(_))),
                "{:?}",
                report.problems
            ),
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn memory_store_detects_any_single_byte_change(
            batches in prop::collection::vec(1usize..6, 1..8),
            target in target(), pick in any::<usize>(), byte in any::<usize>(), mask in 1u8..=255,
        ) {
            let log = LocalLog::memory(NodeKey::from_seed([3; 32]), LogConfig::default()).unwrap();
            let store = log.store();
            fill(&log, &batches);
            prop_assert!(verify_store(store.as_ref()).unwrap().is_ok());
            let seq = corrupt(store.as_ref(), log.node_id(), &target, pick, byte, mask);
            check(&verify_store(store.as_ref()).unwrap(), &target, seq)?;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn sled_store_detects_any_single_byte_change_after_reopen(
            batches in prop::collection::vec(1usize..6, 1..6),
            target in target(), pick in any::<usize>(), byte in any::<usize>(), mask in 1u8..=255,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let log = LocalLog::open(dir.path(), LogConfig { cache_bytes: 1 << 20, ..LogConfig::default() }).unwrap();
            let origin = log.node_id();
            fill(&log, &batches);
            drop(log);
            let seq = {
                let store = SledStore::open(&dir.path().join("log"), 1 << 20).unwrap();
                corrupt(&store, origin, &target, pick, byte, mask)
            };
            let store: Arc<dyn Store> = Arc::new(SledStore::open(&dir.path().join("log"), 1 << 20).unwrap());
            check(&verify_store(store.as_ref()).unwrap(), &target, seq)?;
        }
    }

    #[test]
    fn progress_counts_up_to_every_event_it_said_there_would_be() {
        let dir = tempfile::tempdir().unwrap();
        let log = LocalLog::open(dir.path(), LogConfig { cache_bytes: 1 << 20, ..LogConfig::default() }).unwrap();
        // Many group commits: many header segments, so the count moves within the origin.
        fill(&log, &vec![50; 200]);
        drop(log);
        let mut steps = Vec::new();
        let report = LocalLog::verify_dir_with(dir.path(), &mut |p| steps.push(p)).unwrap();
        assert!(report.is_ok());
        let last = steps.last().copied().unwrap();
        assert_eq!((last.events_done, last.events_total, last.origins_done, last.origins), (10_000, 10_000, 1, 1));
        assert!(steps.len() > 10, "the count moves as the headers are read: {} steps", steps.len());
        assert!(steps.windows(2).all(|w| w[0].events_done <= w[1].events_done), "never backwards");
        assert!(steps.iter().all(|p| p.events_total == 10_000), "the total is known from the start");
    }

    /// A stored node of the Merkle tree that is not the hash of the events below it, or is
    /// missing below the last one stored, is damage at the position it ends at.
    #[test]
    fn a_changed_or_missing_tree_node_is_damage_at_its_end() {
        let log = LocalLog::memory(NodeKey::from_seed([3; 32]), LogConfig::default()).unwrap();
        let store = log.store();
        let origin = log.node_id();
        fill(&log, &[50, 50, 100, 30]);
        assert!(verify_store(store.as_ref()).unwrap().is_ok());
        let mut batch = WriteBatch::default();
        let key = Key::tree_node(origin, 6, 0);
        let mut node = store.get(&key).unwrap().unwrap();
        node[5] ^= 0x10;
        batch.put(key, node);
        batch.remove(Key::tree_node(origin, 6, 1));
        store.apply(batch).unwrap();
        let report = verify_store(store.as_ref()).unwrap();
        let found: Vec<(u64, ProblemKind)> = report.problems.iter().map(|p| (p.seq, p.kind.clone())).collect();
        assert_eq!(found, [(64, ProblemKind::TreeMismatch), (128, ProblemKind::TreeMismatch)]);
    }

    #[test]
    fn a_missing_header_is_damage_and_an_unsigned_tail_is_not() {
        let log = LocalLog::memory(NodeKey::from_seed([3; 32]), LogConfig::default()).unwrap();
        let store = log.store();
        let origin = log.node_id();
        fill(&log, &[3, 3]);
        let mut batch = WriteBatch::default();
        batch.remove(Key::at(Key::HEADER, origin, 1));
        batch.remove(Key::at(Key::CHECKPOINT, origin, 6));
        store.apply(batch).unwrap();
        let report = verify_store(store.as_ref()).unwrap();
        let found: Vec<(u64, ProblemKind)> = report.problems.iter().map(|p| (p.seq, p.kind.clone())).collect();
        let missing = ProblemKind::Missing;
        assert_eq!(found, [(1, missing.clone()), (2, missing.clone()), (3, missing)]);
        assert_eq!(report.unsigned_tails, [UnsignedTail { origin, first: 4, last: 6 }]);

        // A tail alone, as a crash during a group commit leaves it, is no damage.
        let log = LocalLog::memory(NodeKey::from_seed([4; 32]), LogConfig::default()).unwrap();
        fill(&log, &[3, 3]);
        let mut batch = WriteBatch::default();
        batch.remove(Key::at(Key::CHECKPOINT, log.node_id(), 6));
        log.store().apply(batch).unwrap();
        let report = verify_store(log.store().as_ref()).unwrap();
        assert!(report.is_ok(), "{:?}", report.problems);
        assert_eq!(report.unsigned_tails.len(), 1);
    }
}
