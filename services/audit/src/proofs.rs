//! Tree heads and Merkle proofs (RFC 9162) of the logs this node holds, as an auditor asks for
//! them: the own signed tree head, an event's audit path and the consistency of two sizes of an
//! origin's tree. The tree itself is the event log's (`samenspel_eventlog`, `tree.rs`); this only
//! chooses sizes and adds the event hash a proof is about.

use std::sync::Arc;

use samenspel_eventlog::{Digest, EventLog, Hash, NodeId, SignedTreeHead};
use samenspel_merkle::Equivocation;
use samenspel_merkle::json::{EquivocationJson, HeadJson};

use crate::error::Error;

/// An event's audit path in its origin's tree of `tree_size` events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inclusion {
    pub origin: NodeId,
    pub seq: u64,
    pub tree_size: u64,
    pub event_hash: Hash,
    pub path: Vec<Digest>,
}

/// The proof that an origin's tree of `tree_size` events extends its tree of `old_tree_size`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consistency {
    pub origin: NodeId,
    pub old_tree_size: u64,
    pub tree_size: u64,
    pub path: Vec<Digest>,
}

/// Where the federation's witness keeps the latest checked head of every origin, and the kind
/// and stream of the evidence it writes (`samenspel-federation`, `witness.rs`): read here as a
/// tolerant reader, as matching reads the directory's events.
const WITNESS_SNAPSHOT: &str = "federation.witness";
const EQUIVOCATION_KIND: &str = "federation.equivocation.detected";
const EQUIVOCATION_STREAM: &str = "federation/equivocations";

/// Evidence of an equivocation as a witness wrote it, checked again here.
#[derive(Debug, Clone)]
pub struct Evidence {
    pub witness: NodeId,
    pub seq: u64,
    pub evidence: Equivocation,
    /// `None` when it checks; else why not.
    pub problem: Option<String>,
}

/// This node's copy of an origin's log against a head of it that peers co-signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaComparison {
    pub origin: NodeId,
    pub tree_size: u64,
    /// The peers that co-signed the head (this node left out).
    pub witnesses: Vec<NodeId>,
    pub outcome: ReplicaOutcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaOutcome {
    /// The copy's tree at that size has the head's root.
    Matches,
    /// The copy holds fewer events than the head (it is catching up).
    Behind { held: u64 },
    /// The copy's tree at that size has another root: it is not what the peers hold.
    Differs,
}

/// The proofs of the logs held by one node.
#[derive(Debug, Clone)]
pub struct Proofs {
    log: Arc<dyn EventLog>,
}

impl Proofs {
    pub fn new(log: Arc<dyn EventLog>) -> Self {
        Self { log }
    }

    /// The log the proofs are of.
    pub fn log(&self) -> Arc<dyn EventLog> {
        self.log.clone()
    }

    pub fn node_id(&self) -> NodeId {
        self.log.node_id()
    }

    /// The own log's tree head, signed now.
    pub async fn tree_head(&self) -> Result<SignedTreeHead, Error> {
        Ok(self.log.signed_tree_head().await?)
    }

    /// The latest own head that peers co-signed, as the witness last saved it.
    pub async fn witnessed_head(&self) -> Result<Option<SignedTreeHead>, Error> {
        let Some(snapshot) = self.log.load_snapshot(WITNESS_SNAPSHOT).await? else { return Ok(None) };
        let heads: Vec<HeadJson> = serde_json::from_slice(&snapshot.data).unwrap_or_default();
        let own = self.log.node_id();
        Ok(heads
            .iter()
            .filter_map(|j| SignedTreeHead::try_from(j).ok())
            .find(|h| h.head.origin == own.0 && !h.cosignatures.is_empty()))
    }

    /// Every origin's copy here against the latest head of it that peers co-signed (as the
    /// witness last saved them, each head's signatures checked again): a copy that differs is
    /// not the log the rest of the federation holds.
    pub async fn compare_replicas(&self) -> Result<Vec<ReplicaComparison>, Error> {
        let Some(snapshot) = self.log.load_snapshot(WITNESS_SNAPSHOT).await? else { return Ok(Vec::new()) };
        let heads: Vec<HeadJson> = serde_json::from_slice(&snapshot.data).unwrap_or_default();
        let own = self.log.node_id();
        let mut out = Vec::new();
        for head in heads.iter().filter_map(|j| SignedTreeHead::try_from(j).ok()) {
            let witnesses: Vec<NodeId> =
                head.cosignatures.iter().map(|c| NodeId(c.witness)).filter(|w| *w != own).collect();
            if witnesses.is_empty() || head.head.size == 0 || head.verify().is_err() {
                continue;
            }
            let origin = NodeId(head.head.origin);
            let held = self.log.head(origin).await?.seq;
            let outcome = if held < head.head.size {
                ReplicaOutcome::Behind { held }
            } else if self.log.tree_root(origin, head.head.size).await? == head.head.root {
                ReplicaOutcome::Matches
            } else {
                ReplicaOutcome::Differs
            };
            out.push(ReplicaComparison { origin, tree_size: head.head.size, witnesses, outcome });
        }
        out.sort_by_key(|c| c.origin);
        Ok(out)
    }

    /// Every piece of equivocation evidence any witness wrote, as held here.
    pub async fn equivocations(&self) -> Result<Vec<Evidence>, Error> {
        let mut out = Vec::new();
        for (witness, _) in self.log.origins().await? {
            let mut from = 1;
            loop {
                let events = self.log.read_stream(witness, EQUIVOCATION_STREAM, from, 256).await?;
                for e in &events {
                    from = e.header.stream_seq + 1;
                    let parsed = (e.header.kind == EQUIVOCATION_KIND)
                        .then_some(e.payload.as_ref())
                        .flatten()
                        .and_then(|p| serde_json::from_slice::<EquivocationJson>(&p.data).ok())
                        .and_then(|j| Equivocation::try_from(&j).ok());
                    if let Some(evidence) = parsed {
                        let problem = evidence.verify().err().map(|e| e.to_string());
                        out.push(Evidence { witness, seq: e.header.seq, evidence, problem });
                    }
                }
                if events.len() < 256 {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// `tree_size` 0 means the whole log of `origin` held here.
    async fn size(&self, origin: NodeId, tree_size: u64) -> Result<u64, Error> {
        Ok(if tree_size == 0 { self.log.head(origin).await?.seq } else { tree_size })
    }

    pub async fn inclusion(&self, origin: NodeId, seq: u64, tree_size: u64) -> Result<Inclusion, Error> {
        let tree_size = self.size(origin, tree_size).await?;
        let path = self.log.inclusion_proof(origin, seq, tree_size).await?;
        let event =
            self.log.read(origin, seq, 1).await?.pop().ok_or(samenspel_eventlog::Error::NotFound { origin, seq })?;
        Ok(Inclusion { origin, seq, tree_size, event_hash: event.hash, path })
    }

    pub async fn consistency(&self, origin: NodeId, old_tree_size: u64, tree_size: u64) -> Result<Consistency, Error> {
        let tree_size = self.size(origin, tree_size).await?;
        let path = self.log.consistency_proof(origin, old_tree_size, tree_size).await?;
        Ok(Consistency { origin, old_tree_size, tree_size, path })
    }
}
