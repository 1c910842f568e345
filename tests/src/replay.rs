//! Replays of one node's store in the orders causal delivery allows: each origin in its own order,
//! an event only after the events it names as causes, and otherwise any interleaving. A read model
//! must come out the same whichever order it is fed (ARCHITECTURE invariant 18).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use samenspel_eventlog::{EventLog, LocalLog, LogConfig, NodeId, StoredEvent};

/// Which origin goes next when several have an event ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Other origins' events as early as their causes let them: the order a restart meets when
    /// the peers' logs sort before the node's own.
    OthersFirst,
    /// The node's own events as early as possible.
    OwnFirst,
    /// A random ready origin each time.
    Random(u64),
}

/// Every event a stopped node's store holds, per origin in log order.
pub async fn read_store(data_dir: &Path) -> (NodeId, BTreeMap<NodeId, Vec<Arc<StoredEvent>>>) {
    let log = LocalLog::open(data_dir, LogConfig::default()).expect("open the stopped node's store");
    let own = log.node_id();
    let mut all = BTreeMap::new();
    for (origin, head) in log.origins().await.expect("origins") {
        let mut events = Vec::new();
        while (events.len() as u64) < head.seq {
            let page = log.read(origin, events.len() as u64 + 1, 1000).await.expect("read");
            assert!(!page.is_empty(), "the store holds {origin} up to {}", head.seq);
            events.extend(page.into_iter().map(Arc::new));
        }
        all.insert(origin, events);
    }
    log.close().await.expect("close");
    (own, all)
}

/// The events of `logs` in one order causal delivery allows. Events whose causes are not in the
/// store are left out, as a live feed would hold them back.
pub fn causal_order(
    own: NodeId,
    logs: &BTreeMap<NodeId, Vec<Arc<StoredEvent>>>,
    order: Order,
) -> Vec<Arc<StoredEvent>> {
    let mut rng = StdRng::seed_from_u64(match order {
        Order::Random(seed) => seed,
        _ => 0,
    });
    let mut next: HashMap<NodeId, usize> = logs.keys().map(|o| (*o, 0)).collect();
    let delivered =
        |next: &HashMap<NodeId, usize>, origin: &NodeId, seq: u64| next.get(origin).is_some_and(|n| *n as u64 >= seq);
    let mut out = Vec::new();
    loop {
        let ready: Vec<NodeId> = logs
            .iter()
            .filter(|(origin, events)| {
                events
                    .get(next[*origin])
                    .is_some_and(|e| e.header.causes.iter().all(|c| delivered(&next, &c.origin, c.seq)))
            })
            .map(|(origin, _)| *origin)
            .collect();
        if ready.is_empty() {
            return out;
        }
        let others: Vec<NodeId> = ready.iter().copied().filter(|o| *o != own).collect();
        let pick = match order {
            Order::OthersFirst => others.first().copied().unwrap_or(own),
            Order::OwnFirst => {
                if ready.contains(&own) {
                    own
                } else {
                    ready[0]
                }
            }
            Order::Random(_) => ready[rng.random_range(0..ready.len())],
        };
        let at = next.get_mut(&pick).expect("a known origin");
        out.push(logs[&pick][*at].clone());
        *at += 1;
    }
}

/// The orders a test replays a store in.
pub fn orders() -> Vec<Order> {
    let mut orders = vec![Order::OthersFirst, Order::OwnFirst];
    orders.extend((1..=8).map(Order::Random));
    orders
}
