//! A read model rebuilt from events in an order a test chooses, as JSON: one store replayed in
//! every order causal delivery allows must give the same read model (ARCHITECTURE invariant 18).

use std::sync::Arc;

use samenspel_eventlog::{NodeId, StoredEvent};

use crate::projection::Projection;

/// The read model `P` of node `own` after `events` in the order given, as the JSON it saves
/// (maps sorted, so two equal states compare equal).
pub fn replay_json<P: Projection + Default>(own: NodeId, events: &[Arc<StoredEvent>]) -> serde_json::Value {
    let state: P = crate::projection::replay(own, events.iter().map(|e| e.as_ref()));
    serde_json::from_slice(&state.save()).expect("a read model saves as json")
}
