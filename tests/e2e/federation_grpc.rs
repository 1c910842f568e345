//! Federation between nodes on 127.0.0.1, each with its own data dir: logs replicate over mutual
//! TLS bound to node keys; payloads reach only the nodes in their audience (checked on what a peer
//! receives and on disk); strangers cannot connect; forged and forked events from a peer are refused
//! and reported; a node restored from an old backup takes its own events back before it appends.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{Stream, StreamExt};
use samenspel_domain::SystemClock;
use samenspel_e2e::TestNode;
use samenspel_e2e::world::eventually;
use samenspel_eventlog::{
    Audience, EventHeader, EventLog, LocalLog, LogConfig, NewEvent, NodeId, NodeKey, RemoteEvent, header_hash,
};
use samenspel_federation::{NodeTls, Peer, PeerClient};
use samenspel_proto::v1 as pb;
use tonic::{Request, Response, Status};

fn event(stream: &str, payload: &str, audience: pb::Audience) -> pb::NewEvent {
    of_kind(stream, "test.noted", payload, audience)
}

fn of_kind(stream: &str, kind: &str, payload: &str, audience: pb::Audience) -> pb::NewEvent {
    pb::NewEvent {
        stream: stream.into(),
        kind: kind.into(),
        payload: payload.as_bytes().to_vec(),
        audience: Some(audience),
        ..Default::default()
    }
}

fn federation() -> pb::Audience {
    pb::Audience { scope: pb::AudienceScope::Federation.into(), nodes: vec![] }
}

fn only(nodes: &[NodeId]) -> pb::Audience {
    pb::Audience { scope: pb::AudienceScope::Nodes.into(), nodes: nodes.iter().map(|n| n.0.to_vec()).collect() }
}

fn local() -> pb::Audience {
    pb::Audience { scope: pb::AudienceScope::Local.into(), nodes: vec![] }
}

async fn append(node: &TestNode, events: Vec<pb::NewEvent>) -> u64 {
    let response = node.log_client().await.append(pb::AppendRequest { events }).await.unwrap().into_inner();
    response.positions.last().unwrap().seq
}

/// The events of `origin` up to `up_to` (a node's reads of its log leave access records after
/// them).
async fn read_up_to(node: &TestNode, origin: NodeId, up_to: u64) -> Vec<pb::Event> {
    let request = pb::ReadRequest { origin: origin.0.to_vec(), from_seq: 1, page_size: up_to as u32 };
    node.log_client().await.read(request).await.unwrap().into_inner().events
}

/// Waits until `node` holds `origin` up to `seq`.
async fn replicated(node: &TestNode, origin: NodeId, seq: u64) {
    eventually(&format!("{} of {} replicated", seq, origin.short()), || async {
        (node.head_of(origin).await >= seq).then_some(())
    })
    .await;
}

/// Every file under `dir`, as one byte string, to look for what must not be on disk.
fn disk(dir: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(disk(&path));
        } else {
            out.extend(std::fs::read(&path).unwrap());
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_hold_identical_verified_copies_of_each_others_logs() {
    let nodes = TestNode::cluster(3, Arc::new(SystemClock), |_, _| {}).await;
    let ids: Vec<NodeId> = nodes.iter().map(TestNode::node_id).collect();
    let mut heads = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let mut last = 0;
        for round in 0..5 {
            let events =
                (0..20).map(|j| event(&format!("s{j}"), &format!("node {i} round {round} event {j}"), federation()));
            last = append(node, events.collect()).await;
        }
        heads.push(last);
    }
    for node in &nodes {
        for (origin, head) in ids.iter().zip(&heads) {
            replicated(node, *origin, *head).await;
        }
    }
    for (origin, head) in ids.iter().zip(&heads) {
        let copies: Vec<Vec<(Vec<u8>, Option<pb::Payload>)>> = futures::future::join_all(nodes.iter().map(|n| async {
            read_up_to(n, *origin, *head).await.into_iter().map(|e| (e.header_bytes, e.payload)).collect()
        }))
        .await;
        assert_eq!(copies[0].len() as u64, *head);
        assert!(copies.windows(2).all(|w| w[0] == w[1]), "every node holds the same bytes of {}", origin.short());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_reaches_only_the_nodes_in_its_audience() {
    // A fourth key plays a peer of node 0 that pulls as the test, to see what crosses the wire.
    let watcher = NodeKey::from_seed([9; 32]);
    let watcher_id = watcher.node_id();
    let nodes = TestNode::cluster(3, Arc::new(SystemClock), |i, c| {
        if i == 0 {
            c.federation.peers.push(samenspel_federation::PeerConfig {
                id: watcher_id.to_hex(),
                address: "127.0.0.1:9".into(),
                name: "watcher".into(),
            });
        }
    })
    .await;
    let ids: Vec<NodeId> = nodes.iter().map(TestNode::node_id).collect();
    let head = append(
        &nodes[0],
        vec![
            event("shared", "MARKER-FOR-EVERYONE", federation()),
            of_kind("stream-partner-marker", "test.kind-partner-marker", "MARKER-FOR-NODE-1-ONLY", only(&[ids[1]])),
            of_kind("stream-private-marker", "test.kind-private-marker", "MARKER-FOR-NODE-0-ONLY", local()),
        ],
    )
    .await;
    for node in &nodes[1..] {
        replicated(node, ids[0], head).await;
    }
    let seen = |events: Vec<pb::Event>| -> Vec<Option<Vec<u8>>> {
        events.into_iter().map(|e| e.payload.map(|p| p.data)).collect()
    };
    let on = |i: usize| {
        let ids = ids.clone();
        let nodes = &nodes;
        async move { seen(read_up_to(&nodes[i], ids[0], head).await) }
    };
    let payload = |s: &str| Some(s.as_bytes().to_vec());
    assert_eq!(on(1).await, [payload("MARKER-FOR-EVERYONE"), payload("MARKER-FOR-NODE-1-ONLY"), None]);
    assert_eq!(on(2).await, [payload("MARKER-FOR-EVERYONE"), None, None]);
    let headers = |events: Vec<pb::Event>| -> Vec<(String, String, bool)> {
        events
            .into_iter()
            .map(|e| e.header.unwrap())
            .map(|h| (h.kind, h.stream, !h.withheld_body_hash.is_empty() && h.time_micros == 0 && h.audience.is_none()))
            .collect()
    };
    let named = |kind: &str, stream: &str| (kind.to_string(), stream.to_string(), false);
    let outline = (String::new(), String::new(), true);
    assert_eq!(
        headers(read_up_to(&nodes[1], ids[0], head).await),
        [named("test.noted", "shared"), named("test.kind-partner-marker", "stream-partner-marker"), outline.clone()],
        "node 1 holds the whole header of what is for it, the outline of the rest"
    );
    assert_eq!(
        headers(read_up_to(&nodes[2], ids[0], head).await),
        [named("test.noted", "shared"), outline.clone(), outline]
    );
    for node in &nodes[1..] {
        let report = node
            .log_client()
            .await
            .read(pb::ReadRequest { origin: ids[0].0.to_vec(), from_seq: 1, page_size: 10 })
            .await;
        assert_eq!(report.unwrap().into_inner().events.len(), 3, "the outlines arrive, so the chain is whole");
    }

    // What a peer outside the audience receives over the wire: the outline (origin, seq,
    // prev_hash, a hash of the body, and the origin's own sealed copy of the body), and only public
    // payloads. No stream, kind, time, audience or cause, in any form it can read.
    let tls = NodeTls::new(&watcher).unwrap();
    let peer = Peer { id: ids[0], address: nodes[0].config.federation.listen.clone(), name: "node0".into() };
    let mut client = PeerClient::connect(&tls, &peer).await.unwrap();
    let mut stream = Box::pin(client.pull(ids[0], 1).await.unwrap());
    let mut wire: Vec<RemoteEvent> = Vec::new();
    while wire.len() < 3 {
        wire.extend(stream.next().await.unwrap().unwrap().events);
    }
    let decoded: Vec<EventHeader> = wire.iter().map(|e| EventHeader::decode(&e.header_bytes).unwrap()).collect();
    assert!(!decoded[0].is_withheld() && decoded[0].stream == "shared");
    let whole_on_node_1 = read_up_to(&nodes[1], ids[0], head).await;
    for (e, h) in wire[1..].iter().zip(&decoded[1..]) {
        assert!(h.is_withheld() && h.kind.is_empty() && h.stream.is_empty() && h.time_micros == 0);
        assert!(h.causes.is_empty() && h.trace.is_empty() && h.event_id.is_empty());
        for secret in ["marker", "test.kind", "stream-"] {
            assert!(!contains(&e.header_bytes, secret), "{secret} on the wire");
        }
        let time = whole_on_node_1[h.seq as usize - 1].header.as_ref().map_or(0, |w| w.time_micros);
        if time != 0 {
            assert!(!e.header_bytes.windows(8).any(|w| w == time.to_be_bytes()), "the append time is on the wire");
        }
        assert_eq!(header_hash(&e.header_bytes).0.to_vec(), whole_on_node_1[h.seq as usize - 1].hash, "same event");
    }
    assert_eq!(wire[1].header_bytes.len(), wire[2].header_bytes.len(), "the sealed bodies do not tell them apart");
    let wire: Vec<Option<Vec<u8>>> = wire.into_iter().map(|e| e.payload.map(|p| p.data)).collect();
    assert_eq!(wire, [payload("MARKER-FOR-EVERYONE"), None, None]);

    // And on disk: node 2 never stored the other payloads; node 1 stored its own.
    let stopped: Vec<_> = futures::future::join_all(nodes.into_iter().map(TestNode::stop)).await;
    let bytes: Vec<Vec<u8>> = stopped.iter().map(|(c, _)| disk(&c.data_dir)).collect();
    assert!(contains(&bytes[2], "MARKER-FOR-EVERYONE"), "the disk scan finds what is there");
    assert!(!contains(&bytes[2], "MARKER-FOR-NODE-1-ONLY") && !contains(&bytes[2], "MARKER-FOR-NODE-0-ONLY"));
    assert!(contains(&bytes[1], "MARKER-FOR-NODE-1-ONLY") && !contains(&bytes[1], "MARKER-FOR-NODE-0-ONLY"));
    // Nor the headers' bodies: node 2 never learnt those streams or kinds; node 1 only its own.
    assert!(contains(&bytes[1], "stream-partner-marker") && contains(&bytes[1], "test.kind-partner-marker"));
    for marker in
        ["stream-partner-marker", "test.kind-partner-marker", "stream-private-marker", "test.kind-private-marker"]
    {
        assert!(!contains(&bytes[2], marker), "{marker} on node 2's disk");
    }
    assert!(!contains(&bytes[1], "stream-private-marker") && !contains(&bytes[1], "test.kind-private-marker"));
    for (config, _) in &stopped {
        let report = samenspel_node::verify_data_dir(&config.data_dir).unwrap();
        assert!(report.is_ok(), "{:?}", report.problems);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_configured_peers_connect_and_a_node_is_known_by_its_key() {
    let nodes = TestNode::cluster(2, Arc::new(SystemClock), |_, _| {}).await;
    let ids: Vec<NodeId> = nodes.iter().map(TestNode::node_id).collect();
    let address = nodes[0].config.federation.listen.clone();
    // A stranger's certificate is refused by the node.
    let stranger = NodeTls::new(&NodeKey::from_seed([42; 32])).unwrap();
    let peer = Peer { id: ids[0], address: address.clone(), name: "node0".into() };
    let refused = match PeerClient::connect(&stranger, &peer).await {
        Ok(mut client) => client.heads().await.is_err(),
        Err(_) => true,
    };
    assert!(refused, "a stranger is refused");
    // A client that expects another node at that address refuses to talk to it.
    let key1 = NodeKey::load_or_create(&nodes[1].config.data_dir.join("node.key")).unwrap();
    let node1 = NodeTls::new(&key1).unwrap();
    let impostor = Peer { id: NodeKey::from_seed([43; 32]).node_id(), address: address.clone(), name: "who".into() };
    assert!(PeerClient::connect(&node1, &impostor).await.is_err(), "the server's key is not the expected one");
    // The real peer gets the heads.
    let said = PeerClient::connect(&node1, &peer).await.unwrap().node_id().await.unwrap();
    assert_eq!(said, Some(ids[0]));
}

/// A peer that serves whatever log it is given, from the start, whatever is asked, and ends the
/// stream: for feeding a node forged and forked events.
#[derive(Clone)]
struct FakePeer {
    serves: Arc<Mutex<Vec<RemoteEvent>>>,
    /// The tree heads it hands out when asked (`Federation/TreeHeads`).
    heads: Arc<Mutex<Vec<pb::SignedTreeHead>>>,
}

#[tonic::async_trait]
impl pb::federation_server::Federation for FakePeer {
    type PullStream = Pin<Box<dyn Stream<Item = Result<pb::PulledEvents, Status>> + Send>>;

    async fn pull(&self, _request: Request<pb::PullRequest>) -> Result<Response<Self::PullStream>, Status> {
        let events: Vec<pb::Event> = self
            .serves
            .lock()
            .unwrap()
            .iter()
            .map(|e| pb::Event {
                header_bytes: e.header_bytes.clone(),
                payload: e.payload.as_ref().map(|p| pb::Payload { salt: p.salt.to_vec(), data: p.data.clone() }),
                checkpoint: e.checkpoint.map(|c| pb::Checkpoint {
                    seq: c.seq,
                    head_hash: c.head_hash.0.to_vec(),
                    signature: c.signature.to_vec(),
                }),
                ..Default::default()
            })
            .collect();
        // Then the stream ends: the node pulls again, and sees what is served then.
        Ok(Response::new(Box::pin(futures::stream::iter([Ok(pb::PulledEvents { events, keys: vec![] })]))))
    }

    async fn heads(&self, _request: Request<pb::HeadsRequest>) -> Result<Response<pb::HeadsResponse>, Status> {
        Ok(Response::new(pb::HeadsResponse::default()))
    }

    async fn tree_heads(
        &self,
        _request: Request<pb::TreeHeadsRequest>,
    ) -> Result<Response<pb::TreeHeadsResponse>, Status> {
        Ok(Response::new(pb::TreeHeadsResponse { heads: self.heads.lock().unwrap().clone() }))
    }
}

impl FakePeer {
    /// A fake peer with node key `key` on `listener`, answering `caller` only, serving nothing yet.
    fn serve(key: &NodeKey, listener: tokio::net::TcpListener, caller: NodeId) -> Self {
        let fake = FakePeer { serves: Arc::default(), heads: Arc::default() };
        let server_config = NodeTls::new(key).unwrap().server_config(vec![caller]).unwrap();
        let incoming =
            tonic_tls::rustls::TlsIncoming::new(tonic::transport::server::TcpIncoming::from(listener), server_config);
        let server = tonic::transport::Server::builder()
            .add_service(pb::federation_server::FederationServer::new(fake.clone()))
            .serve_with_incoming(incoming);
        tokio::spawn(server);
        fake
    }
}

/// The events a log of `key` holds after appending `payloads` (each its own group commit).
async fn signed_log(key: NodeKey, payloads: &[&str]) -> Vec<RemoteEvent> {
    let log = LocalLog::memory(key, LogConfig::default()).unwrap();
    for p in payloads {
        log.append(vec![NewEvent::new("s", "test.noted", p.as_bytes().to_vec()).with_audience(Audience::Federation)])
            .await
            .unwrap();
    }
    log.read(log.node_id(), 1, 100).await.unwrap().into_iter().map(RemoteEvent::from).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_forked_events_from_a_peer_are_refused_and_reported() {
    let fake_key = NodeKey::from_seed([77; 32]);
    let fake_id = fake_key.node_id();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fake_address = listener.local_addr().unwrap().to_string();
    let nodes = TestNode::cluster(1, Arc::new(SystemClock), |_, c| {
        c.federation.peers.push(samenspel_federation::PeerConfig {
            id: fake_id.to_hex(),
            address: fake_address.clone(),
            name: "fake".into(),
        });
    })
    .await;
    let node = &nodes[0];
    let fake = FakePeer::serve(&fake_key, listener, node.node_id());

    // Forged: a payload changed after signing, then a header changed after signing.
    let honest = signed_log(fake_key.clone(), &["one", "two", "three"]).await;
    let mut forged = honest.clone();
    forged[1].payload.as_mut().unwrap().data = b"TWO".to_vec();
    *fake.serves.lock().unwrap() = forged;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(node.head_of(fake_id).await, 0, "nothing of a batch with a forged payload is stored");
    let mut forged = honest.clone();
    let last = forged[2].header_bytes.len() - 1;
    forged[2].header_bytes[last] ^= 1;
    *fake.serves.lock().unwrap() = forged;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(node.head_of(fake_id).await, 0, "nothing of a batch with a broken header is stored");

    // Honest: all of it.
    *fake.serves.lock().unwrap() = honest.clone();
    replicated(node, fake_id, 3).await;
    let forks = node.log_client().await.list_forks(pb::ListForksRequest::default()).await.unwrap().into_inner().forks;
    assert!(forks.is_empty());

    // Forked: the same key signs other events at the same positions, and more.
    *fake.serves.lock().unwrap() = signed_log(fake_key.clone(), &["uno", "dos", "tres", "cuatro"]).await;
    let forks = eventually("the fork is reported", || async {
        let forks =
            node.log_client().await.list_forks(pb::ListForksRequest::default()).await.unwrap().into_inner().forks;
        (!forks.is_empty()).then_some(forks)
    })
    .await;
    assert_eq!((forks[0].origin.as_slice(), forks[0].seq, forks[0].proven), (fake_id.0.as_slice(), 1, true));
    assert_eq!(node.head_of(fake_id).await, 3, "the forked origin's other events were refused");
    let honest_headers: Vec<Vec<u8>> = honest.iter().map(|e| e.header_bytes.clone()).collect();
    let stored: Vec<Vec<u8>> = read_up_to(node, fake_id, 3).await.into_iter().map(|e| e.header_bytes).collect();
    assert_eq!(stored, honest_headers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restored_from_an_old_backup_takes_its_events_back_before_it_appends() {
    let mut nodes = TestNode::cluster(2, Arc::new(SystemClock), |_, _| {}).await;
    let ids: Vec<NodeId> = nodes.iter().map(TestNode::node_id).collect();
    let events =
        |n: usize, tag: &str| (0..n).map(|i| event("s", &format!("{tag} {i}"), federation())).collect::<Vec<_>>();
    append(&nodes[0], events(4, "before the backup")).await;
    // The backup: node 0's data dir, copied while it is stopped.
    let node0 = nodes.remove(0);
    let (config, dir) = node0.stop().await;
    let backup = tempfile::tempdir().unwrap();
    copy_dir(&config.data_dir, backup.path());
    let node0 = TestNode::start_again(config.clone(), dir.clone(), Arc::new(SystemClock)).await;
    let mut after = events(6, "after the backup");
    // One event its peer is not in the audience of: the peer holds its outline and the body
    // sealed for node 0 alone.
    after.insert(2, of_kind("kept-private", "test.kept-private", "only here", local()));
    let head = append(&node0, after).await;
    replicated(&nodes[0], ids[0], head).await;
    let on_peer = read_up_to(&nodes[0], ids[0], head).await;
    assert!(on_peer.iter().any(|e| !e.header.as_ref().unwrap().withheld_body_hash.is_empty()));
    let (config, dir) = node0.stop().await;
    // Disaster: node 0 comes back from the old backup.
    std::fs::remove_dir_all(&config.data_dir).unwrap();
    copy_dir(backup.path(), &config.data_dir);
    let node0 = TestNode::start_again(config, dir, Arc::new(SystemClock)).await;
    assert_eq!(node0.head_of(ids[0]).await, head, "it took its events back from its peer before serving");
    let back = read_up_to(&node0, ids[0], head).await;
    let kept = back.iter().map(|e| e.header.as_ref().unwrap()).find(|h| h.stream == "kept-private");
    let kept = kept.expect("the header its peer held as an outline came back whole");
    assert_eq!((kept.kind.as_str(), kept.withheld_body_hash.is_empty()), ("test.kept-private", true));
    // (The read above left an access record after them.)
    let before = node0.head_of(ids[0]).await;
    let next = append(&node0, events(1, "after the restore")).await;
    assert_eq!(next, before + 1);
    replicated(&nodes[0], ids[0], next).await;
    let forks =
        nodes[0].log_client().await.list_forks(pb::ListForksRequest::default()).await.unwrap().into_inner().forks;
    assert!(forks.is_empty(), "the restored node did not fork itself");
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Peers witness each other: each checks the others' tree heads against its copy of their logs
/// and co-signs them, and an origin's own head comes back to it co-signed by both others, each
/// cosignature checking with the witness's key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_gets_its_tree_head_co_signed_by_the_peers_that_hold_its_log() {
    let nodes = TestNode::cluster(3, Arc::new(SystemClock), |_, c| c.federation.witness_every_millis = 100).await;
    for (i, n) in nodes.iter().enumerate() {
        n.rogue_append(vec![NewEvent::new("s", "test.noted", format!("from {i}")).with_audience(Audience::Federation)])
            .await;
    }
    for n in &nodes {
        let mut audit = n.audit_client().await;
        let head = eventually("the own head is co-signed by both peers", || {
            let mut audit = audit.clone();
            async move {
                let h = audit.get_tree_head(pb::GetTreeHeadRequest { witnessed: true }).await.ok()?.into_inner();
                (h.cosignatures.len() == 2 && h.tree_size >= 1).then_some(h)
            }
        })
        .await;
        let head = samenspel_eventlog::SignedTreeHead::try_from(&head).unwrap();
        head.verify().unwrap();
        let witnesses: std::collections::BTreeSet<_> = head.cosignatures.iter().map(|c| c.witness).collect();
        let others: std::collections::BTreeSet<_> =
            nodes.iter().filter(|o| o.node_id() != n.node_id()).map(|o| o.node_id().0).collect();
        assert_eq!(witnesses, others);
        // A fresh head is the whole log's, signed now, and no equivocation was seen.
        let fresh = audit.get_tree_head(pb::GetTreeHeadRequest { witnessed: false }).await.unwrap().into_inner();
        assert!(fresh.tree_size >= head.head.size);
        let found = audit.list_equivocations(pb::ListEquivocationsRequest {}).await.unwrap().into_inner().evidence;
        assert!(found.is_empty());
        // Its check of every log compares its copies with the heads peers co-signed: they match.
        let report = integrity_report(&mut audit).await;
        assert!(report.ok, "{:?}", report.problems);
        assert!(report.replicas.iter().any(|r| r.outcome == "matches"), "{:?}", report.replicas);
        assert!(report.replicas.iter().all(|r| r.outcome != "differs" && !r.witnesses.is_empty()));
    }
}

async fn integrity_report(audit: &mut pb::audit_client::AuditClient<samenspel_e2e::Authed>) -> pb::IntegrityReport {
    let mut stream = audit.verify_integrity(pb::VerifyIntegrityRequest {}).await.unwrap().into_inner();
    let mut report = None;
    while let Some(item) = stream.message().await.unwrap() {
        if let Some(pb::integrity_progress::Item::Report(r)) = item.item {
            report = Some(r);
        }
    }
    report.expect("a report at the end")
}

/// A peer whose node key signs a tree head of another history than the one it replicated — its
/// log rewritten under the same key — is caught by the node that witnessed it: the two heads and
/// the proof are written to the witness's log, shown verified by `Audit/ListEquivocations`, and
/// reach the other nodes of the federation, which check them again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_rewrites_a_witnessed_part_of_its_log_is_caught_and_every_node_holds_the_evidence() {
    let fake_key = NodeKey::from_seed([78; 32]);
    let fake_id = fake_key.node_id();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fake_address = listener.local_addr().unwrap().to_string();
    let nodes = TestNode::cluster(2, Arc::new(SystemClock), |i, c| {
        c.federation.witness_every_millis = 100;
        if i == 0 {
            c.federation.peers.push(samenspel_federation::PeerConfig {
                id: fake_id.to_hex(),
                address: fake_address.clone(),
                name: "fake".into(),
            });
        }
    })
    .await;
    let (witness, other) = (&nodes[0], &nodes[1]);
    let fake = FakePeer::serve(&fake_key, listener, witness.node_id());

    // The honest log, replicated, and its head witnessed.
    let honest = LocalLog::memory(fake_key.clone(), LogConfig::default()).unwrap();
    for p in ["one", "two", "three", "four", "five"] {
        honest.append(vec![NewEvent::new("s", "test.noted", p).with_audience(Audience::Federation)]).await.unwrap();
    }
    *fake.serves.lock().unwrap() =
        honest.read(fake_id, 1, 100).await.unwrap().into_iter().map(RemoteEvent::from).collect();
    *fake.heads.lock().unwrap() = vec![(&honest.signed_tree_head().await.unwrap()).into()];
    replicated(witness, fake_id, 5).await;

    // The same key signs the head of a rewritten log of three events.
    let rewritten = LocalLog::memory(fake_key.clone(), LogConfig::default()).unwrap();
    for p in ["uno", "dos", "tres"] {
        rewritten.append(vec![NewEvent::new("s", "test.noted", p)]).await.unwrap();
    }
    let forged = rewritten.signed_tree_head().await.unwrap();
    fake.heads.lock().unwrap().push((&forged).into());
    for (who, node) in [("the witness", witness), ("the other node", other)] {
        let evidence = eventually("the equivocation is listed", || async move {
            let mut audit = node.audit_client().await;
            let found = audit.list_equivocations(pb::ListEquivocationsRequest {}).await.ok()?.into_inner().evidence;
            (!found.is_empty()).then_some(found)
        })
        .await;
        assert_eq!(evidence.len(), 1, "{who}: one piece of evidence, written once");
        let e = &evidence[0];
        assert!(e.verified, "{who}: {}", e.problem);
        assert_eq!((e.origin.as_slice(), e.witness.as_slice()), (fake_id.0.as_slice(), witness.node_id().0.as_slice()));
        let claimed = e.claimed.as_ref().unwrap();
        assert_eq!((claimed.tree_size, claimed.root_hash.as_slice()), (3, forged.head.root.as_slice()));
        assert!(e.witnessed.as_ref().unwrap().tree_size >= 5);
    }
}
