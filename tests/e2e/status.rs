//! The node's status (`/status` on the admin port, what `samenspel status` prints): on a
//! federation of two, each peer's replication is told (connected, its head there and here, how
//! far behind), every read model and how far it is behind, and the open check-ins move from due to
//! overdue to escalated with the clock — in ids, names an operator gave, and counts only.

use std::sync::Arc;
use std::time::Duration;

use samenspel_domain::ManualClock;
use samenspel_e2e::TestNode;
use samenspel_e2e::world::*;
use samenspel_node::status::{CheckInCounts, NodeStatus};
use samenspel_proto::v1 as pb;

use crate::metrics::get;

/// 2026-12-01 09:00 in the Netherlands.
const START: i64 = 1_796_112_000_000_000;
const DAY: Duration = Duration::from_secs(86_400);

async fn status(node: &TestNode) -> NodeStatus {
    let (line, body) = get(node.admin_addr.expect("an admin port"), "/status").await;
    assert!(line.contains(" 200 "), "{line}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_tells_each_peer_each_read_model_and_the_late_check_ins() {
    let clock = Arc::new(ManualClock::at(START));
    let nodes = TestNode::cluster(2, clock.clone(), |_, c| {
        c.admin.listen = "127.0.0.1:0".into();
        c.federation.witness_every_millis = 50;
        c.followup.sweep_interval_millis = 20;
    })
    .await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let wijkteam = organisation(a, "Wijkteam Status", pb::OrganisationKind::SociaalWijkteam, "6411 AA").await;
    let helpers =
        organisation(a, "Vrijwilligers Status", pb::OrganisationKind::Vrijwilligersorganisatie, "6411 AB").await;
    let offer_id = offer(a, &helpers, "Boodschappen Status", "6400-6419", 5, pb::Complexity::Low).await;
    let request = referred_request(a, &wijkteam, "6411 AB").await;
    let matched = confirm_offer(a, &request, &offer_id, "anna").await;
    answer_match(a, &matched.id, &helpers, true).await;

    // b has all of a's log, and says so: connected, a's head as a told it, nothing behind.
    let a_head = a.log_head().await;
    let seen = eventually("b caught up with a, and knows a's head", || async {
        let s = status(b).await;
        let peer = s.peers.first()?.clone();
        (peer.connected && peer.head_there >= Some(a_head) && peer.behind == Some(0) && peer.held_here >= a_head)
            .then_some(s)
    })
    .await;
    assert_eq!(seen.node, b.node_id().to_hex());
    assert_eq!(seen.peers.len(), 1);
    assert_eq!(seen.peers[0].node, a.node_id().to_hex());
    assert_eq!((seen.peers[0].refused, seen.peers[0].forked), (0, false));
    let names: Vec<&str> = seen.logs.iter().map(|l| l.name.as_str()).collect();
    assert!(names.contains(&"this node") && names.contains(&seen.peers[0].name.as_str()), "{names:?}");
    let models: Vec<&str> = seen.read_models.iter().map(|r| r.name.as_str()).collect();
    for model in ["directory", "followup", "intake", "intake.duplicates", "matching", "privacy"] {
        assert!(models.contains(&model), "{model} in {models:?}");
    }
    eventually("every read model on b has applied what b holds", || async {
        let s = status(b).await;
        s.read_models.iter().all(|r| r.behind == 0).then_some(())
    })
    .await;

    // a's first check-in (contact, due on day 3) becomes due, overdue, escalated.
    let counts = |due, overdue, escalated| CheckInCounts { due, overdue, escalated };
    assert_eq!(status(a).await.check_ins, counts(0, 0, 0), "nothing is due on the day of the referral");
    for (days, expected) in [(3, counts(1, 0, 0)), (2, counts(0, 1, 0)), (5, counts(0, 0, 1))] {
        clock.advance(days * DAY);
        eventually("the check-ins' lateness follows the clock", || async {
            (status(a).await.check_ins == expected).then_some(())
        })
        .await;
    }
    assert_eq!(status(b).await.check_ins, counts(0, 0, 0), "b owns no check-in");

    // The same in the metrics, and no label holds a value of a request.
    let (_, metrics) = get(a.admin_addr.unwrap(), "/metrics").await;
    assert!(metrics.contains("samenspel_check_ins_open{state=\"escalated\"} 1"), "{metrics}");
    assert!(metrics.contains("samenspel_read_model_lag_events{read_model=\"matching\"}"), "{metrics}");
    assert!(metrics.contains("samenspel_replication_connected{peer="), "{metrics}");
    let (_, body) = get(b.admin_addr.unwrap(), "/status").await;
    for marker in ["Wijkteam Status", "Vrijwilligers Status", "Boodschappen", &request, &matched.id] {
        assert!(!body.contains(marker) && !metrics.contains(marker), "{marker} in the status or metrics");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_restarts_is_witnessed_again_and_its_new_head_told() {
    let clock: Arc<dyn samenspel_domain::Clock> = Arc::new(samenspel_domain::SystemClock);
    let mut nodes = TestNode::cluster(2, clock.clone(), |_, c| {
        c.admin.listen = "127.0.0.1:0".into();
        c.federation.witness_every_millis = 50;
    })
    .await;
    let b = nodes.pop().unwrap();
    let a = nodes.pop().unwrap();
    let told = |a: &TestNode, at_least: u64| {
        let a = a.admin_addr;
        async move {
            let (_, body) = get(a.unwrap(), "/status").await;
            let s: NodeStatus = serde_json::from_str(&body).unwrap();
            (s.peers[0].head_there >= Some(at_least)).then_some(())
        }
    };
    organisation(&b, "Vrijwilligers Herstart", pb::OrganisationKind::Vrijwilligersorganisatie, "6411 AB").await;
    let head = b.log_head().await;
    eventually("a knows b's head from a witness round", || told(&a, head)).await;

    // b goes away and comes back on the same federation address with more in its log: a's
    // witness rounds, which keep one connection, make a new one and hear of the new head.
    let (config, dir) = b.stop().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let b = TestNode::start_again(config, dir, clock).await;
    organisation(&b, "Buurthulp Herstart", pb::OrganisationKind::Vrijwilligersorganisatie, "6411 AB").await;
    let later = b.log_head().await;
    assert!(later > head);
    eventually("a hears b's new head after b restarted", || told(&a, later)).await;
}
