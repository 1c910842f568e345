//! Convergence: three nodes work at random — publishing offers, taking requests in, confirming
//! proposals of each other's offers, answering — while the links between them are delayed, made
//! flaky and cut by fault-injecting proxies, and one node is killed and started again. Once the
//! links heal, every node holds identical logs of every origin and the same read models, no
//! request was ever matched twice at once, and no offer ever held more matches than places.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use samenspel_domain::SystemClock;
use samenspel_e2e::TestNode;
use samenspel_e2e::proxy::{Fault, Proxy};
use samenspel_e2e::world::*;
use samenspel_eventlog::{EventHeader, NodeId};
use samenspel_proto::v1 as pb;

/// The proxies of every link, by (from, to): a node reaches its peers only through them.
type Links = HashMap<(usize, usize), Proxy>;

/// What one node works with: its organisation and offers, and the matches addressed to it.
struct Site {
    organisation: String,
    offers: Vec<String>,
    addressed: Arc<Mutex<Vec<String>>>,
}

async fn start(links: &Arc<Mutex<Links>>) -> Vec<TestNode> {
    let links = links.clone();
    TestNode::cluster(3, Arc::new(SystemClock), move |i, c| {
        c.matching.sweep_interval_millis = 50;
        for (j, peer) in c.federation.peers.iter_mut().enumerate() {
            let j = if j >= i { j + 1 } else { j };
            let proxy = Proxy::start(peer.address.parse::<SocketAddr>().unwrap());
            peer.address = proxy.addr.to_string();
            links.lock().unwrap().insert((i, j), proxy);
        }
    })
    .await
}

async fn site(node: &TestNode, i: usize) -> Site {
    let organisation =
        organisation(node, &format!("Vrijwilligers {i}"), pb::OrganisationKind::Vrijwilligersorganisatie, "6411 AB")
            .await;
    let mut offers = Vec::new();
    for k in 0..2 {
        offers.push(
            offer(node, &organisation, &format!("Boodschappen {i}.{k}"), "6400-6419", 2, pb::Complexity::Low).await,
        );
    }
    Site { organisation, offers, addressed: Arc::new(Mutex::new(Vec::new())) }
}

/// Collects the ids of matches addressed to the site's organisation, as they are noticed.
async fn listen(node: &TestNode, site: &Site) -> tokio::task::JoinHandle<()> {
    let request = pb::WatchMatchesRequest { organisation_id: site.organisation.clone(), from_position: 1 };
    let stream = node.matching_client().await.watch_matches(request).await;
    let addressed = site.addressed.clone();
    tokio::spawn(async move {
        let Ok(stream) = stream else { return };
        let mut stream = stream.into_inner();
        while let Some(Ok(n)) = stream.next().await {
            if n.kind == "matching.match.confirmed"
                && let Some(m) = n.r#match
            {
                addressed.lock().unwrap().push(m.id);
            }
        }
    })
}

/// One random step on `node`; refusals (stale proposals, no room, conflicts) are part of the game.
async fn step(node: &TestNode, site: &Site, requests: &mut Vec<String>, rng: &mut StdRng) {
    match rng.random_range(0..10) {
        0..=2 => requests.push(referred_request(node, &site.organisation, "6411 AB").await),
        3..=5 if !requests.is_empty() => {
            let request = requests[rng.random_range(0..requests.len())].clone();
            let found = node
                .matching_client()
                .await
                .get_proposals(pb::GetProposalsRequest { request_id: request.clone(), limit: 5 })
                .await;
            if let Ok(found) = found
                && let Some(p) = found.into_inner().proposals.first()
            {
                let _ = confirm(node, &request, &p.token).await;
            }
        }
        6..=8 => {
            let pending = site.addressed.lock().unwrap().clone();
            if !pending.is_empty() {
                let id = pending[rng.random_range(0..pending.len())].clone();
                let request = answer(&id, &site.organisation);
                let mut client = node.matching_client().await;
                let _ = if rng.random_bool(0.7) {
                    client.accept_match(request).await
                } else {
                    client.decline_match(request).await
                };
            }
        }
        _ => {
            let offer = &site.offers[rng.random_range(0..site.offers.len())];
            let current = node.directory_client().await.get_offer(pb::GetOfferRequest { id: offer.clone() }).await;
            if let Ok(current) = current {
                let current = current.into_inner();
                let mut fields = current.fields.unwrap();
                fields.title = format!("Boodschappen, versie {}", current.version + 1);
                let update = pb::UpdateOfferRequest {
                    id: offer.clone(),
                    fields: Some(fields),
                    expected_version: current.version,
                };
                let _ = node.directory_client().await.update_offer(update).await;
            }
        }
    }
}

/// Works on `nodes[i]` for each `i` in `active` until `until`.
async fn work(nodes: &[Option<TestNode>], sites: &[Site], active: &[usize], until: Instant, seed: u64) {
    let mut tasks = Vec::new();
    for &i in active {
        let node = nodes[i].as_ref().unwrap();
        let site = &sites[i];
        tasks.push(async move {
            let mut rng = StdRng::seed_from_u64(seed + i as u64);
            let mut requests = Vec::new();
            while Instant::now() < until {
                step(node, site, &mut requests, &mut rng).await;
                tokio::time::sleep(Duration::from_millis(rng.random_range(5..40))).await;
            }
        });
    }
    futures::future::join_all(tasks).await;
}

/// Sets random faults on the links until `until`.
async fn weather(links: &Arc<Mutex<Links>>, until: Instant, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    while Instant::now() < until {
        {
            let links = links.lock().unwrap();
            for proxy in links.values() {
                proxy.set(match rng.random_range(0..6) {
                    0 | 1 => Fault::Open,
                    2 => Fault::Delay(Duration::from_millis(rng.random_range(10..150))),
                    3 => Fault::Flaky(Duration::from_millis(300)),
                    _ => Fault::Cut,
                });
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(200..600))).await;
    }
}

/// Every origin's events as a node holds them, by origin: event hash (an outline where the node is
/// outside the audience hashes as the whole header), its header bytes, and the payload where it
/// has it.
type Copy = BTreeMap<Vec<u8>, Vec<(Vec<u8>, Vec<u8>, Option<Vec<u8>>)>>;

async fn logs(node: &TestNode) -> Copy {
    let mut client = node.log_client().await.max_decoding_message_size(256 * 1024 * 1024);
    let mut out = BTreeMap::new();
    for o in client.list_origins(pb::ListOriginsRequest::default()).await.unwrap().into_inner().origins {
        let mut events = Vec::new();
        let mut from = 1;
        loop {
            let page = pb::ReadRequest { origin: o.origin.clone(), from_seq: from, page_size: 1000 };
            let page = client.read(page).await.unwrap().into_inner();
            events.extend(page.events.into_iter().map(|e| (e.hash, e.header_bytes, e.payload.map(|p| p.data))));
            if page.next_position == 0 {
                break;
            }
            from = page.next_position;
        }
        out.insert(o.origin, events);
    }
    out
}

async fn heads(node: &TestNode) -> BTreeMap<Vec<u8>, u64> {
    let origins =
        node.log_client().await.list_origins(pb::ListOriginsRequest::default()).await.unwrap().into_inner().origins;
    origins.into_iter().map(|o| (o.origin, o.seq)).collect()
}

async fn offers(node: &TestNode) -> Vec<(String, u64, String)> {
    let request = pb::ListOffersRequest { page_size: 500, ..Default::default() };
    let list = node.directory_client().await.list_offers(request).await.unwrap().into_inner();
    let mut out: Vec<_> = list.offers.into_iter().map(|o| (o.id, o.version, o.fields.unwrap().title)).collect();
    out.sort();
    out
}

/// A referral from `owner` to an offer of one place that `host` publishes for it (for
/// vervoer, which the random work never asks for), confirmed and seen on the host.
struct Pending {
    organisation: String,
    offer: String,
    match_id: String,
}

async fn vervoer_request(owner: &TestNode, asking: &Site) -> String {
    let consent = pb::Consent {
        scopes: vec![pb::ConsentScope {
            scope: Some(pb::consent_scope::Scope::OrganisationKind(
                pb::OrganisationKind::Vrijwilligersorganisatie.into(),
            )),
        }],
        purposes: vec![pb::Purpose::Matching.into(), pb::Purpose::FollowUp.into()],
        until: "2099-12-31".into(),
    };
    let fields = pb::HelpRequestFields {
        asked_by: pb::Asker::Professional.into(),
        asking_organisation_id: asking.organisation.clone(),
        client: Some(pb::Person { name: "Mevrouw Bakker".into(), ..Default::default() }),
        support_kinds: vec!["vervoer".into()],
        postcode: "6411 AB".into(),
        ..Default::default()
    };
    let request = pb::SubmitHelpRequestRequest { fields: Some(fields), consent: Some(consent), ..Default::default() };
    owner.intake_client().await.submit_help_request(request).await.unwrap().into_inner().id
}

/// The proposal of `offer` for `request` on `owner`, once it is proposed.
async fn proposal_of(owner: &TestNode, request: &str, offer: &str) -> Option<pb::Proposal> {
    let request = pb::GetProposalsRequest { request_id: request.into(), limit: 10 };
    let found = owner.matching_client().await.get_proposals(request).await.ok()?;
    found.into_inner().proposals.into_iter().find(|p| p.offer_id == offer)
}

async fn refer_across(owner: &TestNode, host: &TestNode, asking: &Site) -> Pending {
    let organisation =
        organisation(host, "Vervoersdienst", pb::OrganisationKind::Vrijwilligersorganisatie, "6411 AB").await;
    let fields = pb::OfferFields {
        title: "Ritjes naar het ziekenhuis".into(),
        support_kinds: vec!["vervoer".into()],
        area: Some(pb::ServiceArea { postcode_ranges: vec!["6400-6419".into()], ..Default::default() }),
        capacity: 1,
        max_complexity: pb::Complexity::Low.into(),
        ..Default::default()
    };
    let request =
        pb::CreateOfferRequest { organisation_id: organisation.clone(), fields: Some(fields), ..Default::default() };
    let offer = host.directory_client().await.create_offer(request).await.unwrap().into_inner().id;
    let request = vervoer_request(owner, asking).await;
    let proposal = eventually("the host's offer proposed", || proposal_of(owner, &request, &offer)).await;
    let m = confirm(owner, &request, &proposal.token).await.unwrap();
    eventually("the referral on the host", || async {
        get_match(host, &m.id).await.ok().filter(|m| m.status() == pb::MatchStatus::Offered)
    })
    .await;
    Pending { organisation, offer, match_id: m.id }
}

/// The host, killed before it answered and started again, accepts; both sides see the owner's
/// decision, the host's match stream shows it, and when the help ends the place is free again.
async fn answered_after_the_crash(owner: &TestNode, host: &TestNode, asking: &Site, p: &Pending) {
    let accepted = answer_match(host, &p.match_id, &p.organisation, true).await;
    assert_eq!(accepted.status(), pb::MatchStatus::Accepted, "the owner decided on the answer");
    let watch = pb::WatchMatchesRequest { organisation_id: p.organisation.clone(), from_position: 1 };
    let mut notices = host.matching_client().await.watch_matches(watch).await.unwrap().into_inner();
    let mut kinds = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(n) = notices.next().await {
            let n = n.unwrap();
            if n.r#match.is_some_and(|m| m.id == p.match_id) {
                kinds.push(n.kind);
                if kinds.last().is_some_and(|k| k == "matching.match.accepted") {
                    return;
                }
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the host's match stream shows {kinds:?} of the match"));
    let close = pb::CloseReferralRequest {
        match_id: p.match_id.clone(),
        category: pb::ClosureCategory::GoalReached.into(),
        ..Default::default()
    };
    eventually("the referral closed", || async {
        owner.followup_client().await.close_referral(close.clone()).await.ok()
    })
    .await;
    eventually("the match ended on the host", || async {
        get_match(host, &p.match_id).await.ok().filter(|m| m.status() == pb::MatchStatus::Ended)
    })
    .await;
    // The one place is free again: the offer is proposed for the next request.
    let next = vervoer_request(owner, asking).await;
    eventually("the freed place proposed", || proposal_of(owner, &next, &p.offer)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_converge_after_random_work_partitions_and_a_crash() {
    let links: Arc<Mutex<Links>> = Arc::new(Mutex::new(HashMap::new()));
    let mut nodes: Vec<Option<TestNode>> = start(&links).await.into_iter().map(Some).collect();
    let ids: Vec<NodeId> = nodes.iter().map(|n| n.as_ref().unwrap().node_id()).collect();
    let mut sites = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        sites.push(site(node.as_ref().unwrap(), i).await);
    }
    for node in nodes.iter().flatten() {
        eventually("every offer everywhere", || async { (offers(node).await.len() == 6).then_some(()) }).await;
    }
    let mut listeners = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        listeners.push(listen(node.as_ref().unwrap(), &sites[i]).await);
    }

    // Work with bad weather; then node 2 crashes while the others go on — after node 0 referred
    // to it and before it answered —; then it comes back and answers.
    let phase = Duration::from_secs(3);
    let until = Instant::now() + phase;
    tokio::join!(work(&nodes, &sites, &[0, 1, 2], until, 1), weather(&links, until, 2));
    for proxy in links.lock().unwrap().values() {
        proxy.set(Fault::Open);
    }
    let pending = refer_across(nodes[0].as_ref().unwrap(), nodes[2].as_ref().unwrap(), &sites[0]).await;
    listeners.pop().unwrap().abort();
    let (config, dir) = nodes[2].take().unwrap().kill().await;
    let until = Instant::now() + phase;
    tokio::join!(work(&nodes, &sites, &[0, 1], until, 3), weather(&links, until, 4));
    nodes[2] = Some(TestNode::start_again(config, dir, Arc::new(SystemClock)).await);
    listeners.push(listen(nodes[2].as_ref().unwrap(), &sites[2]).await);
    for proxy in links.lock().unwrap().values() {
        proxy.set(Fault::Open);
    }
    answered_after_the_crash(nodes[0].as_ref().unwrap(), nodes[2].as_ref().unwrap(), &sites[0], &pending).await;
    let until = Instant::now() + phase;
    tokio::join!(work(&nodes, &sites, &[0, 1, 2], until, 5), weather(&links, until, 6));

    // Fair weather: everything reaches everyone.
    for proxy in links.lock().unwrap().values() {
        proxy.set(Fault::Open);
    }
    let nodes: Vec<TestNode> = nodes.into_iter().flatten().collect();
    let target = eventually("the same heads everywhere", || async {
        let all = futures::future::join_all(nodes.iter().map(heads)).await;
        (all.windows(2).all(|w| w[0] == w[1]) && all[0].len() == 3).then(|| all[0].clone())
    })
    .await;
    assert!(target.values().all(|seq| *seq > 10), "every node did work: {target:?}");

    // Identical logs: the same event hashes per origin, up to the heads all nodes reached (a
    // reaction may still be answering the last events while the copies are read); payloads only
    // where the audience allows.
    let copies = futures::future::join_all(nodes.iter().map(logs)).await;
    for (origin, head) in &target {
        let headers = |c: &Copy| c[origin].iter().take(*head as usize).map(|(h, _, _)| h.clone()).collect::<Vec<_>>();
        assert!(copies.iter().all(|c| headers(c) == headers(&copies[0])), "logs of {origin:?} differ");
        assert_eq!(headers(&copies[0]).len() as u64, *head);
    }
    // The same sociale kaart everywhere, after every update.
    let kaart = offers(&nodes[0]).await;
    for node in &nodes[1..] {
        assert_eq!(offers(node).await, kaart);
    }
    // Every match looks the same on its owner and on the nodes hosting its offers.
    let mut checked = 0;
    for (i, site) in sites.iter().enumerate() {
        let addressed = site.addressed.lock().unwrap().clone();
        for id in addressed {
            let here = get_match(&nodes[i], &id).await.unwrap();
            let owner = ids.iter().position(|n| n.to_hex() == here.owner_node).unwrap();
            let there = get_match(&nodes[owner], &id).await.unwrap();
            assert_eq!(
                (here.status(), here.answered_micros, here.ended_micros),
                (there.status(), there.answered_micros, there.ended_micros),
                "match {id}"
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "matches were made across nodes");

    // On each owner's log: a request is confirmed again only after its match ended; and on each
    // host's log, an offer never holds more claims than its 2 places.
    for (i, copy) in copies.iter().enumerate() {
        // Each node's own log, with every payload: its confirmations and its claims.
        let (origin, events) = (&ids[i], &copy[&ids[i].0.to_vec()]);
        let mut active: HashMap<String, bool> = HashMap::new();
        let mut claims: HashMap<String, i64> = HashMap::new();
        for (_, header, payload) in events {
            let h = EventHeader::decode(header).unwrap();
            let Some(payload) = payload else { continue };
            let v: serde_json::Value = serde_json::from_slice(payload).unwrap_or_default();
            let field = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            match h.kind.as_str() {
                "matching.match.confirmed" => {
                    let was = active.insert(field("request_id"), true);
                    assert_ne!(
                        was,
                        Some(true),
                        "request {} confirmed twice at once on {origin:?}",
                        field("request_id")
                    );
                }
                "matching.match.declined"
                | "matching.match.expired"
                | "matching.match.failed"
                | "matching.match.ended" => {
                    active.insert(field("request_id"), false);
                }
                "matching.offer.claimed" => {
                    let n = claims.entry(field("offer_id")).or_default();
                    *n += 1;
                    assert!(*n <= 2, "offer {} overbooked", field("offer_id"));
                }
                "matching.offer.released" => *claims.entry(field("offer_id")).or_default() -= 1,
                _ => {}
            }
        }
    }
    for node in nodes {
        let report = node.log_client().await.list_forks(pb::ListForksRequest::default()).await.unwrap().into_inner();
        assert!(report.forks.is_empty());
    }
}
