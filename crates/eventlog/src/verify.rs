//! Verification of a whole store: every chain walked back from its signed checkpoints.
//!
//! A valid checkpoint signature makes its head hash trusted; each header that hashes to the
//! trusted value passes trust on to its `prev_hash`. Walking down from the checkpoints, the first
//! header that does not hash to what the event above it (or a checkpoint) committed to is the
//! damaged one, so a problem is reported at the position that was changed, not after it.

use std::collections::BTreeMap;

use crate::codec::{decode_checkpoint, decode_payload};
use crate::error::Result;
use crate::event::Head;
use crate::header::{EventHeader, header_hash, payload_hash};
use crate::identity::verify_checkpoint;
use crate::ids::{Hash, NodeId};
use crate::store::{Key, Store};

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
    /// Events after the last checkpoint: nothing signed covers them.
    Unsigned,
    /// The first event does not start from the zero hash.
    BadGenesis,
}

impl std::fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProblemKind::Missing => f.write_str("header missing"),
            ProblemKind::Malformed(why) => write!(f, "header malformed: {why}"),
            ProblemKind::HashMismatch => f.write_str("header does not match the chain"),
            ProblemKind::BadSignature => f.write_str("checkpoint signature does not verify"),
            ProblemKind::PayloadMismatch => f.write_str("payload does not match its hash"),
            ProblemKind::Unsigned => f.write_str("events not covered by a signed checkpoint"),
            ProblemKind::BadGenesis => f.write_str("first event does not start from the zero hash"),
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
    /// Events that could not be checked because a problem above them broke the chain.
    pub unverified: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VerifyReport {
    pub origins: Vec<OriginSummary>,
    pub problems: Vec<Problem>,
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
    let mut report = VerifyReport::default();
    let mut from = vec![Key::HEADER];
    let end = vec![Key::HEADER + 1];
    while let Some((key, _)) = store.scan(&from, &end, 1)?.pop() {
        let Some(origin) = Key::origin_of(&key) else { break };
        verify_origin(store, origin, &mut report)?;
        from = Key::prefix_end(&Key::origin_prefix(Key::HEADER, origin));
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

fn verify_origin(store: &dyn Store, origin: NodeId, report: &mut VerifyReport) -> Result<()> {
    let mut problems = Vec::new();
    let mut problem = |seq, kind| problems.push(Problem { origin, seq, kind });
    let mut summary = OriginSummary { origin: Some(origin), ..Default::default() };

    // Forward: hash every header and note what it commits to.
    let mut infos: Vec<Option<Info>> = Vec::new();
    let mut payload_hashes: Vec<Option<Hash>> = Vec::new();
    each(store, Key::HEADER, origin, |seq, bytes| {
        let i = (seq - 1) as usize;
        if infos.len() <= i {
            infos.resize_with(i + 1, || None);
            payload_hashes.resize(i + 1, None);
        }
        let hash = header_hash(&bytes);
        let decoded = match EventHeader::decode(&bytes) {
            Ok(h) if h.origin == origin && h.seq == seq => {
                payload_hashes[i] = Some(h.payload_hash);
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
        infos[i] = Some(Info { hash, decoded });
        summary.events += 1;
    })?;
    let top = infos.len() as u64;
    summary.head = Head { seq: top, hash: infos.last().and_then(|i| i.as_ref()).map_or(Hash::ZERO, |i| i.hash) };

    each(store, Key::PAYLOAD, origin, |seq, bytes| {
        summary.payloads += 1;
        let committed = payload_hashes.get((seq - 1) as usize).copied().flatten();
        let matches = decode_payload(&bytes).is_ok_and(|p| Some(payload_hash(&p.salt, &p.data)) == committed);
        if committed.is_some() && !matches {
            problem(seq, ProblemKind::PayloadMismatch);
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
        problem(last_cp + 1, ProblemKind::Unsigned);
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
