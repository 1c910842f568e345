//! Which read models a node runs and how far each has applied every origin's log, so an operator
//! can see a read model falling behind (`samenspel status`, the metrics). A projection registers
//! itself when it starts; one whose task ended drops out. Kept per node id, since tests run several
//! nodes in one process.

use std::collections::HashMap;
use std::sync::Mutex;

use samenspel_eventlog::NodeId;
use tokio::sync::watch;

use crate::feed::{Applied, Feed};

struct Registered {
    node: NodeId,
    name: String,
    feed: Feed,
    applied: watch::Receiver<Applied>,
}

static RUNNING: Mutex<Vec<Registered>> = Mutex::new(Vec::new());

/// A read model and the last seq it applied of each origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadModelPosition {
    pub name: String,
    /// Whether it follows every origin or only this node's own log.
    pub feed: Feed,
    pub applied: HashMap<NodeId, u64>,
}

impl ReadModelPosition {
    /// How many events of the logs held (`heads`: each origin's last seq) it has not applied yet.
    pub fn behind(&self, own: NodeId, heads: &[(NodeId, u64)]) -> u64 {
        heads
            .iter()
            .filter(|(origin, _)| self.feed == Feed::All || *origin == own)
            .map(|(origin, head)| head.saturating_sub(self.applied.get(origin).copied().unwrap_or(0)))
            .sum()
    }
}

pub(crate) fn register(node: NodeId, name: &str, feed: Feed, applied: watch::Receiver<Applied>) {
    let mut running = RUNNING.lock().expect("read model registry lock");
    running.retain(|r| r.applied.has_changed().is_ok() && !(r.node == node && r.name == name));
    running.push(Registered { node, name: name.to_string(), feed, applied });
}

/// The read models running on `node`, by name.
pub fn read_models(node: NodeId) -> Vec<ReadModelPosition> {
    let mut running = RUNNING.lock().expect("read model registry lock");
    // A projection whose task ended has dropped its sender.
    running.retain(|r| r.applied.has_changed().is_ok());
    let mut out: Vec<ReadModelPosition> = running
        .iter()
        .filter(|r| r.node == node)
        .map(|r| ReadModelPosition { name: r.name.clone(), feed: r.feed, applied: r.applied.borrow().clone() })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}
