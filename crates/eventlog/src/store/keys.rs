//! The key layout of the one keyspace. Integers are big-endian so that keys sort by position.

use crate::ids::NodeId;

/// Builders of keys; the first byte names the table.
pub(crate) struct Key;

impl Key {
    pub(crate) const HEADER: u8 = b'h';
    pub(crate) const PAYLOAD: u8 = b'p';
    pub(crate) const CHECKPOINT: u8 = b'c';
    pub(crate) const STREAM: u8 = b's';
    pub(crate) const EVENT_ID: u8 = b'i';
    pub(crate) const FORK: u8 = b'f';
    pub(crate) const SNAPSHOT: u8 = b'n';
    pub(crate) const TREE: u8 = b'm';

    /// `table | origin | seq`: headers, payloads, checkpoints, fork evidence.
    pub(crate) fn at(table: u8, origin: NodeId, seq: u64) -> Vec<u8> {
        let mut k = Vec::with_capacity(41);
        k.push(table);
        k.extend_from_slice(&origin.0);
        k.extend_from_slice(&seq.to_be_bytes());
        k
    }

    /// `table | origin`: the prefix of one origin's entries in a table.
    pub(crate) fn origin_prefix(table: u8, origin: NodeId) -> Vec<u8> {
        let mut k = Vec::with_capacity(33);
        k.push(table);
        k.extend_from_slice(&origin.0);
        k
    }

    /// `s | origin | len(stream) | stream`: the prefix of one stream's index; the length keeps
    /// stream "a" from sharing a prefix with stream "ab".
    pub(crate) fn stream_prefix(origin: NodeId, stream: &str) -> Vec<u8> {
        let mut k = Vec::with_capacity(43 + stream.len());
        k.push(Self::STREAM);
        k.extend_from_slice(&origin.0);
        k.extend_from_slice(&(stream.len() as u16).to_be_bytes());
        k.extend_from_slice(stream.as_bytes());
        k
    }

    pub(crate) fn stream_entry(origin: NodeId, stream: &str, stream_seq: u64) -> Vec<u8> {
        let mut k = Self::stream_prefix(origin, stream);
        k.extend_from_slice(&stream_seq.to_be_bytes());
        k
    }

    /// `m | origin | end | level`: the Merkle tree node over leaves `index << level` to
    /// `end = (index + 1) << level` of one origin (`tree.rs`). Keyed by where it ends, so each
    /// group commit adds its nodes at the end of one run of keys, as it does its segments.
    pub(crate) fn tree_node(origin: NodeId, level: u32, index: u64) -> Vec<u8> {
        Self::tree_end(origin, (index + 1) << level, level as u8)
    }

    /// The key of the node of `level` ending at leaf `end` (also a bound for scans).
    pub(crate) fn tree_end(origin: NodeId, end: u64, level: u8) -> Vec<u8> {
        let mut k = Self::at(Self::TREE, origin, end);
        k.push(level);
        k
    }

    pub(crate) fn event_id(id: &str) -> Vec<u8> {
        let mut k = Vec::with_capacity(1 + id.len());
        k.push(Self::EVENT_ID);
        k.extend_from_slice(id.as_bytes());
        k
    }

    pub(crate) fn snapshot(name: &str) -> Vec<u8> {
        let mut k = Vec::with_capacity(1 + name.len());
        k.push(Self::SNAPSHOT);
        k.extend_from_slice(name.as_bytes());
        k
    }

    /// The smallest key greater than every key that starts with `prefix`.
    pub(crate) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
        let mut end = prefix.to_vec();
        while let Some(last) = end.pop() {
            if last < 0xff {
                end.push(last + 1);
                return end;
            }
        }
        vec![0xff; prefix.len() + 1]
    }

    /// The seq at the end of a `table | origin | seq` key.
    pub(crate) fn seq_of(key: &[u8]) -> u64 {
        u64::from_be_bytes(key[key.len() - 8..].try_into().expect("keys end in a u64"))
    }

    /// The origin of a `table | origin | ...` key.
    pub(crate) fn origin_of(key: &[u8]) -> Option<NodeId> {
        NodeId::from_slice(key.get(1..33)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_sort_numerically() {
        let o = NodeId([1; 32]);
        assert!(Key::at(Key::HEADER, o, 255) < Key::at(Key::HEADER, o, 256));
        assert!(Key::stream_entry(o, "a", 9) < Key::stream_entry(o, "a", 10));
        let a = Key::stream_prefix(o, "a");
        assert!(!Key::stream_entry(o, "ab", 1).starts_with(&a));
        assert_eq!(Key::prefix_end(&[1, 0xff]), vec![2]);
    }
}
