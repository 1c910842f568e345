//! Settings of federation: the peer port, the peers, and how replication behaves.

use serde::{Deserialize, Serialize};

/// A node this one replicates with: its id (the hex ed25519 public key, as `samenspel keys`
/// prints it) and the address of its federation port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    pub id: String,
    pub address: String,
    /// A name for log lines ("wijkteam-centrum").
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FederationConfig {
    /// Address of the federation port: mutual TLS, peers only. Empty: this node serves no peers
    /// (it still pulls from the peers it names).
    pub listen: String,
    pub peers: Vec<PeerConfig>,
    /// Most events in one message of a pull stream.
    pub pull_batch: usize,
    /// Reconnecting to a peer waits this long at first, doubling up to the maximum.
    pub reconnect_min_millis: u64,
    pub reconnect_max_millis: u64,
    /// At start, how long to ask peers for this node's own head before appending anyway (a node
    /// restored from an old backup takes its lost events back first, so it does not fork).
    pub startup_wait_secs: u64,
    /// How often this node asks each peer for its tree heads, to check and co-sign them.
    pub witness_every_millis: u64,
}

impl Default for FederationConfig {
    fn default() -> Self {
        Self {
            listen: String::new(),
            peers: Vec::new(),
            pull_batch: 512,
            reconnect_min_millis: 100,
            reconnect_max_millis: 10_000,
            startup_wait_secs: 10,
            witness_every_millis: 10_000,
        }
    }
}
