//! The peers a node replicates with, as configured: each known by its node id.

use samenspel_eventlog::NodeId;

use crate::config::PeerConfig;
use crate::error::Error;

/// A configured peer, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub id: NodeId,
    pub address: String,
    pub name: String,
}

impl Peer {
    /// The peers of a configuration; an id that is no node id, a missing address or this node
    /// itself is a configuration error.
    pub fn from_config(peers: &[PeerConfig], own: NodeId) -> Result<Vec<Peer>, Error> {
        peers
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let id = NodeId::from_hex(p.id.trim())
                    .ok_or_else(|| Error::Config(format!("federation.peers[{i}].id is no 64-digit hex node id")))?;
                if id == own {
                    return Err(Error::Config(format!("federation.peers[{i}] is this node itself")));
                }
                if p.address.trim().is_empty() {
                    return Err(Error::Config(format!("federation.peers[{i}].address is empty")));
                }
                let name = if p.name.is_empty() { id.short() } else { p.name.clone() };
                Ok(Peer { id, address: p.address.trim().to_string(), name })
            })
            .collect()
    }
}
