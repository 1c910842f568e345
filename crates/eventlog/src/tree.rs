//! Each origin's log as an RFC 9162 Merkle tree: leaf `i` is the hash of event `i + 1`, so a proof
//! names no payload and still holds after an erasure or a redaction.
//!
//! The writer keeps, per origin, the frontier of the tree (the complete subtrees of its current
//! size, at most one per level) and adds each event of a group commit to it; every complete
//! subtree of [`STORED_LEVEL`] or more levels is written in the same group, so the store holds
//! about one 32-byte node per 32 events. A proof needs the hash of a few ranges of leaves: a
//! complete, aligned one of that size or more comes from the store, a smaller one is hashed from
//! the events' own hashes (one read of at most 64 events). Nodes are keyed by the leaf they end
//! at, so the last one says how far the stored tree reaches. When a log opens, nodes past the
//! head (a torn group) are removed and the tree is built up to the head (also for a log written
//! before the tree existed).

use std::cell::RefCell;
use std::collections::HashMap;

use samenspel_merkle::{Digest, Subtrees, leaf_hash, node_hash};

use crate::error::{Error, Result};
use crate::ids::{Hash, NodeId};
use crate::shared::Shared;
use crate::store::{Key, Store, WriteBatch};

/// Complete subtrees of `2^STORED_LEVEL` leaves and larger are stored; smaller ones are hashed
/// from the events when a proof needs them.
pub(crate) const STORED_LEVEL: u32 = 6;

const BLOCK: u64 = 1 << STORED_LEVEL;

/// The leaf of an event.
pub(crate) fn leaf(hash: &Hash) -> Digest {
    leaf_hash(&hash.0)
}

/// The complete subtrees of a tree of `size` leaves, left to right (largest first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Frontier {
    pub(crate) size: u64,
    nodes: Vec<(u32, Digest)>,
}

impl Frontier {
    /// Adds the next event; writes every stored-size subtree it completes to `batch`.
    pub(crate) fn push(&mut self, origin: NodeId, hash: &Hash, batch: &mut WriteBatch) {
        let index = self.size;
        let (mut level, mut node) = (0u32, leaf(hash));
        while let Some(&(l, left)) = self.nodes.last()
            && l == level
        {
            self.nodes.pop();
            node = node_hash(&left, &node);
            level += 1;
            if level >= STORED_LEVEL {
                batch.put(Key::tree_node(origin, level, index >> level), node.to_vec());
            }
        }
        self.nodes.push((level, node));
        self.size += 1;
    }

    #[cfg(test)]
    pub(crate) fn root(&self) -> Digest {
        let mut nodes = self.nodes.iter().rev();
        let Some(&(_, mut root)) = nodes.next() else { return samenspel_merkle::EMPTY_ROOT };
        for (_, left) in nodes {
            root = node_hash(left, &root);
        }
        root
    }
}

/// The tree of one origin at a size no greater than its durable head, read from the store.
pub(crate) struct StoredTree<'a> {
    shared: &'a Shared,
    origin: NodeId,
    size: u64,
    /// Leaf blocks read for this proof, by block number.
    blocks: RefCell<HashMap<u64, Vec<Digest>>>,
}

impl<'a> StoredTree<'a> {
    pub(crate) fn new(shared: &'a Shared, origin: NodeId, size: u64) -> Self {
        Self { shared, origin, size, blocks: RefCell::new(HashMap::new()) }
    }

    pub(crate) fn root(&self) -> Result<Digest> {
        if self.size == 0 { Ok(samenspel_merkle::EMPTY_ROOT) } else { self.subtree(0, self.size) }
    }

    /// Leaf hashes `start..end`, all in one block.
    fn leaves(&self, start: u64, end: u64) -> Result<Vec<Digest>> {
        let block = start / BLOCK;
        let mut blocks = self.blocks.borrow_mut();
        let leaves = match blocks.entry(block) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let (first, last) = (block * BLOCK, ((block + 1) * BLOCK).min(self.size));
                let events = self.shared.read_range(self.origin, first + 1, last)?;
                e.insert(events.iter().map(|e| leaf(&e.hash)).collect())
            }
        };
        let offset = (start - block * BLOCK) as usize;
        leaves
            .get(offset..offset + (end - start) as usize)
            .map(<[Digest]>::to_vec)
            .ok_or_else(|| Error::Corrupt(format!("events of {} below {end} are missing", self.origin)))
    }

    fn stored_node(&self, level: u32, index: u64) -> Result<Digest> {
        let v = self.shared.store.get(&Key::tree_node(self.origin, level, index))?;
        v.and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok()).ok_or_else(|| {
            Error::Corrupt(format!("tree node {level}/{index} of {} is missing or malformed", self.origin))
        })
    }
}

impl Subtrees for StoredTree<'_> {
    type Error = Error;

    fn subtree(&self, start: u64, end: u64) -> Result<Digest> {
        debug_assert!(start < end && end <= self.size);
        let n = end - start;
        if n.is_power_of_two() && start.is_multiple_of(n) && n >= BLOCK {
            return self.stored_node(n.trailing_zeros(), start / n);
        }
        if start / BLOCK == (end - 1) / BLOCK {
            return Ok(samenspel_merkle::root_of(&self.leaves(start, end)?));
        }
        let k = samenspel_merkle::split(n);
        Ok(node_hash(&self.subtree(start, start + k)?, &self.subtree(start + k, end)?))
    }
}

/// The frontier of a stored tree of `size` leaves.
fn load(shared: &Shared, origin: NodeId, size: u64) -> Result<Frontier> {
    let tree = StoredTree::new(shared, origin, size);
    let mut frontier = Frontier { size, nodes: Vec::new() };
    let mut start = 0;
    for level in (0..64u32).rev() {
        if size & (1 << level) != 0 {
            frontier.nodes.push((level, tree.subtree(start, start + (1 << level))?));
            start += 1 << level;
        }
    }
    Ok(frontier)
}

/// Brings the stored tree of `origin` to its head `head` and returns its frontier: removes nodes
/// that end past the head (written by a group commit a crash tore), then adds the events the
/// stored tree does not cover yet — those after its last node (fewer than 64, or the whole log of
/// a store written before the tree existed).
pub(crate) fn open(shared: &Shared, origin: NodeId, head: u64) -> Result<Frontier> {
    let store: &dyn Store = shared.store.as_ref();
    let mut batch = WriteBatch::default();
    let past = Key::tree_end(origin, head.saturating_add(1), 0);
    let end = Key::prefix_end(&Key::origin_prefix(Key::TREE, origin));
    for (k, _) in store.scan(&past, &end, usize::MAX)? {
        batch.remove(k);
    }
    // A group commit writes its nodes in the order they end, after its segments: what a crash
    // keeps of them is a prefix, so every node that ends at or before the last one kept is there.
    let last = store.last(&Key::origin_prefix(Key::TREE, origin), &past)?;
    let covered = last.map_or(0, |(k, _)| Key::seq_of(&k[..k.len() - 1]));
    let mut frontier = load(shared, origin, covered)?;
    let mut next = covered + 1;
    while next <= head {
        let to = (next + 4095).min(head);
        for e in shared.read_range(origin, next, to)? {
            frontier.push(origin, &e.hash, &mut batch);
        }
        next = to + 1;
    }
    if head - covered >= BLOCK {
        tracing::info!(origin = %origin.short(), from = covered + 1, to = head, "merkle tree built up to the head");
    }
    if !batch.is_empty() {
        store.apply(batch)?;
        store.flush()?;
    }
    Ok(frontier)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::MemoryStore;
    use crate::{EventLog, LocalLog, LogConfig, NewEvent, NodeKey};

    fn everything(store: &dyn Store, table: u8) -> Vec<(Vec<u8>, Vec<u8>)> {
        store.scan(&[table], &[table + 1], usize::MAX).unwrap()
    }

    async fn fill(log: &LocalLog, groups: &[usize]) {
        for (g, n) in groups.iter().enumerate() {
            log.append((0..*n).map(|i| NewEvent::new("s", "test.noted", format!("{g}/{i}"))).collect()).await.unwrap();
        }
    }

    /// The writer's frontier and the tree read back from the store agree at every size, and the
    /// store holds only the nodes of 64 leaves and more (one per 32 events, not one per event).
    #[tokio::test]
    async fn the_frontier_and_the_stored_tree_agree_at_every_size() {
        let store = Arc::new(MemoryStore::default());
        let key = NodeKey::from_seed([1; 32]);
        let log = LocalLog::start(store.clone(), key.clone(), LogConfig::default()).unwrap();
        fill(&log, &[3, 64, 1, 200, 5, 127]).await;
        let origin = log.node_id();
        let events = log.read(origin, 1, usize::MAX).await.unwrap();
        let mut frontier = Frontier::default();
        let mut batch = WriteBatch::default();
        for e in &events {
            frontier.push(origin, &e.hash, &mut batch);
            let tree = StoredTree::new(&log.shared, origin, frontier.size);
            assert_eq!(tree.root().unwrap(), frontier.root(), "size {}", frontier.size);
        }
        let nodes = everything(store.as_ref(), Key::TREE).len();
        assert_eq!(nodes, 400 / 64 + 400 / 128 + 400 / 256, "nodes of 64, 128 and 256 leaves");
        log.close().await.unwrap();
    }

    /// A log written before the tree existed (no tree entries), or torn after some of a group's
    /// tree nodes were written, opens with the tree every other copy of the log computes.
    #[tokio::test]
    async fn a_log_without_its_tree_or_with_nodes_past_its_head_opens_with_the_right_tree() {
        let store = Arc::new(MemoryStore::default());
        let key = NodeKey::from_seed([1; 32]);
        let log = LocalLog::start(store.clone(), key.clone(), LogConfig::default()).unwrap();
        fill(&log, &[100, 200]).await;
        let origin = log.node_id();
        let root = log.tree_root(origin, 300).await.unwrap();
        log.close().await.unwrap();
        let tree_entries = everything(store.as_ref(), Key::TREE);

        let mut gone = WriteBatch::default();
        for (k, _) in &tree_entries {
            gone.remove(k.clone());
        }
        store.apply(gone).unwrap();
        let log = LocalLog::start(store.clone(), key.clone(), LogConfig::default()).unwrap();
        assert_eq!(log.tree_root(origin, 300).await.unwrap(), root, "built when the log opened");
        assert_eq!(everything(store.as_ref(), Key::TREE), tree_entries);
        log.close().await.unwrap();

        // Nodes past the head, as a torn group leaves them, with wrong hashes; and the last
        // nodes below it gone, as after a store written by a version without the tree.
        let mut torn = WriteBatch::default();
        torn.put(Key::tree_node(origin, 6, 4), vec![7; 32]);
        torn.put(Key::tree_node(origin, 8, 1), vec![7; 32]);
        torn.remove(Key::tree_node(origin, 6, 3));
        torn.remove(Key::tree_node(origin, 7, 1));
        torn.remove(Key::tree_node(origin, 8, 0));
        store.apply(torn).unwrap();
        let log = LocalLog::start(store.clone(), key, LogConfig::default()).unwrap();
        assert_eq!(log.tree_root(origin, 300).await.unwrap(), root);
        assert_eq!(everything(store.as_ref(), Key::TREE), tree_entries);
        // And it goes on from there.
        fill(&log, &[300]).await;
        let leaves: Vec<Digest> =
            log.read(origin, 1, usize::MAX).await.unwrap().iter().map(|e| leaf(&e.hash)).collect();
        assert_eq!(log.tree_root(origin, 600).await.unwrap(), samenspel_merkle::root_of(&leaves));
        log.close().await.unwrap();
    }
}
