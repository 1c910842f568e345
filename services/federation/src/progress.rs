//! How replication with each peer is going, for an operator (`samenspel status`, the metrics):
//! whether the pull is connected, the peer's own head as it last told it (in a witness round),
//! and how many of its batches were refused — events that did not verify, or a fork.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use samenspel_eventlog::NodeId;

/// One peer's replication, as this node sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerProgress {
    pub name: String,
    pub id: NodeId,
    /// Whether a pull from it is open now.
    pub connected: bool,
    /// Its own log's head as it last said (a witness round); `None` before the first answer.
    pub head_there: Option<u64>,
    /// Batches of its events refused since this node started: they did not verify.
    pub refused: u64,
    /// It signed two histories: its events are refused from now on.
    pub forked: bool,
}

/// Every peer's progress, shared by the replication tasks that update it.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    peers: Arc<Mutex<BTreeMap<String, PeerProgress>>>,
}

impl Progress {
    pub(crate) fn add(&self, name: &str, id: NodeId) {
        let peer =
            PeerProgress { name: name.into(), id, connected: false, head_there: None, refused: 0, forked: false };
        self.peers.lock().expect("progress lock").insert(name.into(), peer);
    }

    pub(crate) fn update(&self, name: &str, change: impl FnOnce(&mut PeerProgress)) {
        if let Some(peer) = self.peers.lock().expect("progress lock").get_mut(name) {
            change(peer);
        }
    }

    /// The peer's head as it last said.
    pub(crate) fn head_there(&self, name: &str) -> Option<u64> {
        self.peers.lock().expect("progress lock").get(name).and_then(|p| p.head_there)
    }

    /// Every peer, by name.
    pub fn peers(&self) -> Vec<PeerProgress> {
        self.peers.lock().expect("progress lock").values().cloned().collect()
    }
}
