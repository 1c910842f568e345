//! Tunables of the event log, with the defaults a node runs with.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// Largest payload accepted, in bytes.
    pub max_payload_bytes: usize,
    /// Most events one group commit writes before it flushes.
    pub max_group_events: usize,
    /// Events buffered per subscriber; a slower subscriber waits, writers never do.
    pub subscriber_buffer: usize,
    /// Events read from storage at a time by reads and subscriptions.
    pub read_chunk: usize,
    /// sled page cache, in bytes.
    pub cache_bytes: u64,
    /// Latest events kept decoded per origin for the node's readers (read models, reactions,
    /// subscribers), so that they do not each read them back from the store.
    pub recent_events: usize,
    /// The same window's bound in bytes, per origin: payloads may be large.
    pub recent_bytes: usize,
    /// Keep each origin's Merkle tree (`tree.rs`). Off only to measure what it costs: a log
    /// without it answers no tree head or proof, and builds the tree when it next opens with it.
    /// Not a setting of the node (no config file turns it off).
    #[serde(skip)]
    pub merkle_tree: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            max_payload_bytes: 1024 * 1024,
            max_group_events: 8192,
            subscriber_buffer: 256,
            read_chunk: 256,
            cache_bytes: 256 * 1024 * 1024,
            recent_events: 8192,
            recent_bytes: 16 * 1024 * 1024,
            merkle_tree: true,
        }
    }
}
