//! Which events a read model or a reaction follows: this node's own log, or every origin's with
//! causal delivery, from the positions it saved.

use std::collections::HashMap;

use samenspel_eventlog::{EventLog, NodeId, Result, SubscribeFrom, Subscription};

/// Which events a projection or a reaction follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// This node's own log.
    Own,
    /// Every origin the node holds, an event after its causes (`EventLog::subscribe_all`).
    All,
}

/// The last seq applied, per origin.
pub(crate) type Applied = HashMap<NodeId, u64>;

impl Feed {
    /// Of the positions a snapshot saved, the ones this feed resumes from.
    pub(crate) fn resume_from(self, saved: Vec<(NodeId, u64)>, own: NodeId) -> Applied {
        saved.into_iter().filter(|(o, _)| self == Feed::All || *o == own).collect()
    }

    /// The events after `applied`: this node's own log, or every origin's in causal order.
    pub(crate) fn subscribe(self, log: &dyn EventLog, applied: &Applied) -> Result<Subscription> {
        match self {
            Feed::Own => {
                let own = log.node_id();
                log.subscribe(SubscribeFrom::origin(own, applied.get(&own).copied().unwrap_or(0) + 1))
            }
            Feed::All => log.subscribe_all(applied.iter().map(|(o, p)| (*o, p + 1)).collect()),
        }
    }
}
