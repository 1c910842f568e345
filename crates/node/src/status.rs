//! What `samenspel status` shows and `/status` on the admin port serves (as JSON): every log this
//! node holds and its head, each peer's replication (connected, how far behind), how far each read
//! model is, and how many check-ins are due, overdue and escalated. Ids, names an operator gave,
//! and counts — never a value of a request. The metrics are read from the same.

use std::sync::Arc;

use samenspel_eventlog::{EventLog, NodeId};
use samenspel_federation::Progress;
use samenspel_followup::FollowUpService;
use serde::{Deserialize, Serialize};

/// A node's status at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// This node's id (hex).
    pub node: String,
    pub logs: Vec<LogStatus>,
    pub peers: Vec<PeerStatus>,
    pub read_models: Vec<ReadModelStatus>,
    pub check_ins: CheckInCounts,
}

/// One origin's log as this node holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogStatus {
    pub origin: String,
    /// "this node", the peer's configured name, or empty for an origin known only through others.
    pub name: String,
    /// The last durable seq held here.
    pub head: u64,
}

/// Replication from one peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerStatus {
    pub name: String,
    pub node: String,
    /// Whether a pull from it is open now.
    pub connected: bool,
    /// Its head as it last said (a witness round); absent before its first answer.
    pub head_there: Option<u64>,
    /// Its head as this node holds it.
    pub held_here: u64,
    /// Events of its log not held here yet; absent while its head is unknown.
    pub behind: Option<u64>,
    /// Batches of its events refused (they did not verify) since this node started.
    pub refused: u64,
    /// It signed two histories; its events are refused from now on.
    pub forked: bool,
}

/// One read model: how many events of the logs it follows it has not applied yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadModelStatus {
    pub name: String,
    pub behind: u64,
}

/// Open check-ins of active referrals, by how late they are (the follow-up's count).
pub use samenspel_followup::OpenCheckIns as CheckInCounts;

/// Where a node's status is read from.
#[derive(Clone)]
pub struct StatusSources {
    log: Arc<dyn EventLog>,
    replication: Option<Progress>,
    followup: Option<Arc<FollowUpService>>,
}

impl std::fmt::Debug for StatusSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusSources").finish_non_exhaustive()
    }
}

impl StatusSources {
    pub fn new(log: Arc<dyn EventLog>) -> Self {
        Self { log, replication: None, followup: None }
    }

    pub fn with_replication(mut self, progress: Progress) -> Self {
        self.replication = Some(progress);
        self
    }

    pub fn with_followup(mut self, followup: Arc<FollowUpService>) -> Self {
        self.followup = Some(followup);
        self
    }

    pub fn log(&self) -> &Arc<dyn EventLog> {
        &self.log
    }

    /// The status now. The heads are read first, so a read model or a peer counted behind them
    /// is behind at least that much.
    pub async fn gather(&self) -> NodeStatus {
        let own = self.log.node_id();
        let mut heads: Vec<(NodeId, u64)> = match self.log.origins().await {
            Ok(origins) => origins.into_iter().map(|(origin, head)| (origin, head.seq)).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "status: the log's heads could not be read");
                Vec::new()
            }
        };
        // Its own log first, even before its first event.
        if !heads.iter().any(|(o, _)| *o == own) {
            heads.push((own, 0));
        }
        heads.sort_by_key(|(o, _)| *o != own);
        let held = |id: NodeId| heads.iter().find(|(o, _)| *o == id).map_or(0, |(_, seq)| *seq);
        let peers: Vec<PeerStatus> = self
            .replication
            .iter()
            .flat_map(Progress::peers)
            .map(|p| {
                let held_here = held(p.id);
                PeerStatus {
                    name: p.name,
                    node: p.id.to_hex(),
                    connected: p.connected,
                    head_there: p.head_there,
                    held_here,
                    behind: p.head_there.map(|there| there.saturating_sub(held_here)),
                    refused: p.refused,
                    forked: p.forked,
                }
            })
            .collect();
        let name_of = |origin: NodeId| match peers.iter().find(|p| p.node == origin.to_hex()) {
            _ if origin == own => "this node".to_string(),
            Some(peer) => peer.name.clone(),
            None => String::new(),
        };
        let logs =
            heads.iter().map(|(o, seq)| LogStatus { origin: o.to_hex(), name: name_of(*o), head: *seq }).collect();
        let read_models = samenspel_kit::read_models(own)
            .into_iter()
            .map(|r| ReadModelStatus { behind: r.behind(own, &heads), name: r.name })
            .collect();
        let check_ins = self.followup.as_ref().map_or_else(CheckInCounts::default, |f| f.open_check_ins());
        NodeStatus { node: own.to_hex(), logs, peers, read_models, check_ins }
    }
}
