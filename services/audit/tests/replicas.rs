//! `VerifyIntegrity`'s comparison of this node's copies with what peers report: a copy whose
//! tree at the size of a head peers co-signed has that head's root matches; one with another root
//! differs (a problem); one with fewer events is behind; a head without a peer's cosignature, or
//! with a signature that does not check, is not compared.

use std::sync::Arc;

use samenspel_audit::{Proofs, ReplicaOutcome};
use samenspel_eventlog::{EventLog, LocalLog, LogConfig, NewEvent, NodeKey, Snapshot, TreeHead};
use samenspel_merkle::json::HeadJson;

async fn witnessed(log: &LocalLog, heads: &[samenspel_eventlog::SignedTreeHead]) {
    let heads: Vec<HeadJson> = heads.iter().map(HeadJson::from).collect();
    let data = serde_json::to_vec(&heads).unwrap();
    log.save_snapshot("federation.witness", Snapshot { positions: vec![], data }).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_is_compared_with_the_heads_peers_co_signed() {
    let (own, peer) = (NodeKey::from_seed([1; 32]), NodeKey::from_seed([2; 32]));
    let log = Arc::new(LocalLog::memory(own.clone(), LogConfig::default()).unwrap());
    let events = (0..5).map(|i| NewEvent::new("s", "test.noted", format!("event {i}").into_bytes())).collect();
    log.append(events).await.unwrap();
    let proofs = Proofs::new(log.clone());
    assert!(proofs.compare_replicas().await.unwrap().is_empty(), "nothing witnessed yet");

    let root = log.tree_root(own.node_id(), 3).await.unwrap();
    let head = |size: u64, root: [u8; 32]| TreeHead { origin: own.node_id().0, size, root, time_micros: 7 };
    let cosigned = |h: TreeHead| {
        let mut signed = own.sign_tree_head(h);
        signed.cosignatures.push(peer.cosign(&signed.head, 8));
        signed
    };
    let mut forged = cosigned(head(3, root));
    forged.head.root[0] ^= 1; // the signatures no longer check: not compared
    let unwitnessed = own.sign_tree_head(head(4, [9; 32]));
    for (heads, expected) in [
        (vec![cosigned(head(3, root))], Some(ReplicaOutcome::Matches)),
        (vec![cosigned(head(3, [9; 32]))], Some(ReplicaOutcome::Differs)),
        (vec![cosigned(head(9, [9; 32]))], Some(ReplicaOutcome::Behind { held: 5 })),
        (vec![forged], None),
        (vec![unwitnessed], None),
    ] {
        witnessed(&log, &heads).await;
        let found = proofs.compare_replicas().await.unwrap();
        assert_eq!(found.first().map(|c| c.outcome), expected, "{found:?}");
        if let Some(c) = found.first() {
            assert_eq!((c.origin, c.witnesses.clone()), (own.node_id(), vec![peer.node_id()]));
        }
    }
}
