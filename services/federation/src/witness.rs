//! Witnessing (RFC 9162's gossip, between peers): each node asks its peers for their tree heads,
//! checks every head of an origin it holds against its own copy of that origin's log, co-signs
//! the ones that match and hands them on with every cosignature it knows. An origin's own heads
//! come back to it co-signed, so an auditor can be given a head others vouch for. A head that
//! does not match, of an origin whose matching head this node already holds at that size or
//! later, makes two signed heads that no single log has: evidence of equivocation, checkable by
//! anyone, which this node writes to its log for the whole federation and raises as an alarm.
//! A head beyond what this node holds waits until its copy catches up.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use samenspel_eventlog::{Audience, EventLog, NewEvent, NodeId, NodeKey, SignedTreeHead, Snapshot};
use samenspel_merkle::Equivocation;
use samenspel_merkle::json::{EquivocationJson, HeadJson};
use tokio::sync::Mutex;

use crate::error::Error;

/// The kind of the event a witness writes when it found an equivocation.
pub const EQUIVOCATION_KIND: &str = "federation.equivocation.detected";
/// The stream of those events in the witness's log.
pub const EQUIVOCATION_STREAM: &str = "federation/equivocations";
/// The snapshot holding the latest checked head of every origin (a list of [`HeadJson`]).
pub const WITNESS_SNAPSHOT: &str = "federation.witness";
/// Heads per origin kept until this node's copy reaches them.
const MAX_WAITING: usize = 16;

/// What one round of taking a peer's heads did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Taken {
    /// Heads that matched this node's copy (and that it co-signed).
    pub matched: usize,
    /// Heads beyond this node's copy, kept to check later.
    pub waiting: usize,
    /// Heads refused: a signature that does not verify.
    pub refused: usize,
    /// Equivocations found (and written to the log).
    pub equivocations: Vec<Equivocation>,
}

#[derive(Debug, Default)]
struct State {
    /// The latest head of each origin that matched this node's copy (for itself: its own log),
    /// with every cosignature known.
    latest: HashMap<NodeId, SignedTreeHead>,
    /// Heads not checked yet: beyond the copy, or not matching and waiting for a matching head at
    /// least as large to make the evidence.
    waiting: HashMap<NodeId, Vec<SignedTreeHead>>,
    /// Evidence already written, by origin and claimed size and root.
    written: std::collections::HashSet<(NodeId, u64, [u8; 32])>,
}

/// A node's witness.
#[derive(Debug)]
pub struct Witness {
    log: Arc<dyn EventLog>,
    key: NodeKey,
    state: Mutex<State>,
}

fn now_micros() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64)
}

/// Merges `from`'s cosignatures into `into` (one per witness), keeping only those that verify.
fn merge(into: &mut SignedTreeHead, from: &SignedTreeHead) {
    for c in &from.cosignatures {
        if !into.cosignatures.iter().any(|k| k.witness == c.witness) && c.verify(&into.head).is_ok() {
            into.cosignatures.push(*c);
        }
    }
}

fn same_head(a: &SignedTreeHead, b: &SignedTreeHead) -> bool {
    a.head == b.head && a.signature == b.signature
}

impl Witness {
    /// The witness over `log`, with the heads it checked before a restart.
    pub async fn open(log: Arc<dyn EventLog>, key: NodeKey) -> Result<Arc<Self>, Error> {
        let mut state = State::default();
        if let Some(snapshot) = log.load_snapshot(WITNESS_SNAPSHOT).await? {
            match serde_json::from_slice::<Vec<HeadJson>>(&snapshot.data) {
                Ok(heads) => {
                    for h in heads.iter().filter_map(|j| SignedTreeHead::try_from(j).ok()) {
                        state.latest.insert(NodeId(h.head.origin), h);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "the witness snapshot does not read; starting without it"),
            }
        }
        Ok(Arc::new(Self { log, key, state: Mutex::new(state) }))
    }

    /// The heads this node hands a peer: its own, signed now, and the latest checked head of
    /// every origin with its cosignatures.
    pub async fn heads(&self) -> Result<Vec<SignedTreeHead>, Error> {
        let own = self.log.signed_tree_head().await?;
        let state = self.state.lock().await;
        let mut out = vec![own];
        out.extend(state.latest.values().cloned());
        Ok(out)
    }

    /// The latest own head that peers co-signed.
    pub async fn witnessed_own(&self) -> Option<SignedTreeHead> {
        let state = self.state.lock().await;
        state.latest.get(&self.log.node_id()).filter(|h| !h.cosignatures.is_empty()).cloned()
    }

    /// Checks the heads a peer handed over (and those waiting from before), co-signs what
    /// matches, writes evidence of what cannot be one log.
    pub async fn take(&self, heads: Vec<SignedTreeHead>) -> Result<Taken, Error> {
        let mut taken = Taken::default();
        let mut state = self.state.lock().await;
        let mut queue: Vec<SignedTreeHead> = state.waiting.drain().flat_map(|(_, v)| v).collect();
        for mut h in heads {
            // The origin's signature must hold; cosignatures that do not are dropped, not trusted.
            let claimed = SignedTreeHead { cosignatures: vec![], ..h.clone() };
            if claimed.verify().is_err() {
                taken.refused += 1;
                continue;
            }
            h.cosignatures.retain(|c| c.verify(&h.head).is_ok());
            queue.push(h);
        }
        // Smaller heads first: a matching head makes the evidence against a larger one.
        queue.sort_by_key(|h| h.head.size);
        let mut changed = false;
        let mut conflicts = Vec::new();
        for h in queue {
            let origin = NodeId(h.head.origin);
            let held = self.log.head(origin).await?.seq;
            if h.head.size == 0 {
                continue;
            }
            if h.head.size > held {
                let waiting = state.waiting.entry(origin).or_default();
                if !waiting.iter().any(|w| same_head(w, &h)) && waiting.len() < MAX_WAITING {
                    waiting.push(h);
                    taken.waiting += 1;
                }
                continue;
            }
            let root = self.log.tree_root(origin, h.head.size).await?;
            if root != h.head.root {
                conflicts.push((h, root));
                continue;
            }
            taken.matched += 1;
            changed |= self.accept(&mut state, h);
        }
        for (h, root) in conflicts {
            let origin = NodeId(h.head.origin);
            let witnessed = match state.latest.get(&origin) {
                Some(w) if w.head.size >= h.head.size => w.clone(),
                // This node's own log: a head of it, signed now, is the witness.
                _ if origin == self.log.node_id() => self.log.signed_tree_head().await?,
                _ => {
                    let waiting = state.waiting.entry(origin).or_default();
                    if !waiting.iter().any(|w| same_head(w, &h)) && waiting.len() < MAX_WAITING {
                        waiting.push(h.clone());
                    }
                    tracing::error!(origin = %origin.short(), size = h.head.size, "a tree head signed by the origin does not match its log as held here; evidence once a matching head of that size is known");
                    continue;
                }
            };
            if !state.written.insert((origin, h.head.size, h.head.root)) {
                continue;
            }
            let proof = if witnessed.head.size > h.head.size {
                self.log.consistency_proof(origin, h.head.size, witnessed.head.size).await?
            } else {
                vec![]
            };
            let evidence = Equivocation { claimed: h, witnessed, root_at_claimed_size: root, proof };
            if let Err(e) = evidence.verify() {
                tracing::error!(origin = %origin.short(), error = %e, "evidence of equivocation did not check; not written");
                continue;
            }
            self.record(&evidence).await?;
            taken.equivocations.push(evidence);
        }
        if changed {
            let heads: Vec<HeadJson> = state.latest.values().map(HeadJson::from).collect();
            let data = serde_json::to_vec(&heads).map_err(|e| Error::Witness(e.to_string()))?;
            self.log.save_snapshot(WITNESS_SNAPSHOT, Snapshot { positions: vec![], data }).await?;
        }
        Ok(taken)
    }

    /// Keeps a head that matched: co-signed by this node (another origin's), merged with what is
    /// known of it, as the origin's latest when it is. Whether anything changed.
    fn accept(&self, state: &mut State, mut h: SignedTreeHead) -> bool {
        let origin = NodeId(h.head.origin);
        let me = self.key.node_id();
        if origin != me && !h.cosignatures.iter().any(|c| c.witness == me.0) {
            h.cosignatures.push(self.key.cosign(&h.head, now_micros()));
        }
        match state.latest.get_mut(&origin) {
            Some(latest) if same_head(latest, &h) => {
                let before = latest.cosignatures.len();
                merge(latest, &h);
                latest.cosignatures.len() != before
            }
            Some(latest) if latest.head.size > h.head.size => false,
            // The own log's latest: only a head some peer vouched for.
            _ if origin == me && h.cosignatures.is_empty() => false,
            _ => {
                state.latest.insert(origin, h);
                true
            }
        }
    }

    async fn record(&self, evidence: &Equivocation) -> Result<(), Error> {
        let origin = NodeId(evidence.claimed.head.origin);
        tracing::error!(
            origin = %origin.short(),
            claimed_size = evidence.claimed.head.size,
            witnessed_size = evidence.witnessed.head.size,
            "equivocation: the origin signed two tree heads that no single log has; evidence written for the federation"
        );
        let payload =
            serde_json::to_vec(&EquivocationJson::from(evidence)).map_err(|e| Error::Witness(e.to_string()))?;
        let id = format!(
            "equivocation/{}/{}/{}",
            origin,
            evidence.claimed.head.size,
            hex::encode(&evidence.claimed.head.root[..8])
        );
        let event = NewEvent::new(EQUIVOCATION_STREAM, EQUIVOCATION_KIND, payload)
            .with_id(id)
            .with_audience(Audience::Federation);
        self.log.append(vec![event]).await?;
        Ok(())
    }
}
