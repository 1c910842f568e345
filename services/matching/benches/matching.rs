//! Proposal latency with 1,000, 10,000 and 100,000 offers, and AssignBacklog for 1,000 requests ×
//! 1,000 offers.
//!
//! `cargo bench -p samenspel-matching --bench matching`. The directory's and the intake's events
//! are appended to an in-memory log in the JSON those services write, and applied by matching's
//! projection; then the work behind GetProposals for 2,000 random open requests is timed call by
//! call (p50, p99, max); then GetProposals over gRPC on loopback, beside a bare call of the same
//! server (GetMatch of an unknown id) as the ratio of their p50s; and
//! AssignBacklog for one region holding 1,000 requests and 1,000 offers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use samenspel_domain::SystemClock;
use samenspel_eventlog::{EventLog, LocalLog, LogConfig, NewEvent, NodeKey};
use samenspel_matching::{MatchingConfig, MatchingGrpc, MatchingService};
use samenspel_proto::v1 as pb;
use samenspel_proto::v1::matching_client::MatchingClient;
use serde_json::json;

const KINDS: [&str; 8] = [
    "boodschappen",
    "vervoer",
    "maatje",
    "respijt-aan-huis",
    "klusjes",
    "administratie",
    "lotgenotencontact",
    "cursus",
];
const ORG_KINDS: [&str; 4] = ["vrijwilligersorganisatie", "buurtvereniging", "thuiszorg", "sociaal_wijkteam"];
const LANGUAGES: [&str; 4] = ["nl", "en", "tr", "ar"];
const ORGANISATIONS: usize = 1000;

fn organisation(i: usize, rng: &mut StdRng) -> NewEvent {
    let payload = json!({
        "type": "organisation_created", "id": format!("org{i}"),
        "fields": {"name": format!("Organisatie {i}"), "kind": ORG_KINDS[i % 4],
                   "address": {"street": "", "house_number": "", "postcode": format!("{} AB", rng.random_range(1000..9999)), "city": ""},
                   "website": "", "description": ""}
    });
    NewEvent::new(format!("directory/organisation/org{i}"), "directory.organisation.created", payload.to_string())
}

fn offer(i: usize, area: (u16, u16), rng: &mut StdRng) -> NewEvent {
    let kinds: Vec<&str> = (0..rng.random_range(1..3)).map(|_| KINDS[rng.random_range(0..8)]).collect();
    let payload = json!({
        "type": "offer_created", "id": format!("offer{i}"), "organisation_id": format!("org{}", rng.random_range(0..ORGANISATIONS)),
        "fields": {"title": format!("Aanbod {i}"), "description": "", "functions": ["praktische-hulp", "emotionele-steun"],
                   "kinds": kinds, "for_whom": [], "area": {"ranges": [[area.0, area.1]], "municipality": "", "wijk": ""},
                   "schedule": [{"day": rng.random_range(0..5), "start_minutes": 540, "end_minutes": 1020}],
                   "languages": [LANGUAGES[rng.random_range(0..4)]], "capacity": rng.random_range(1..6),
                   "max_complexity": "high", "cost": ""}
    });
    NewEvent::new(format!("directory/offer/offer{i}"), "directory.offer.created", payload.to_string())
}

/// Most offers serve a neighbourhood or a town; a few a whole region.
fn spread_area(rng: &mut StdRng) -> (u16, u16) {
    let start: u16 = rng.random_range(1000..9900);
    let width: u16 = match rng.random_range(0..100) {
        0..70 => rng.random_range(0..10),
        70..97 => rng.random_range(10..100),
        _ => rng.random_range(100..2000),
    };
    (start, (start + width).min(9999))
}

fn request(i: usize, area: u16, rng: &mut StdRng) -> NewEvent {
    let payload = json!({
        "type": "submitted", "id": format!("{i:032x}"),
        "fields": {"asked_by": "client", "asking_organisation_id": "", "client": {"subject_id": format!("s{i}"), "name": "", "phone": "", "email": ""},
                   "functions": ["praktische-hulp"], "kinds": [KINDS[rng.random_range(0..8)]], "description": "",
                   "postcode": format!("{area} AB"), "urgency": "normal",
                   "wanted_schedule": [{"day": rng.random_range(0..5), "start_minutes": 600, "end_minutes": 720}],
                   "languages": if rng.random_bool(0.8) { vec!["nl"] } else { vec![LANGUAGES[rng.random_range(0..4)]] },
                   "involved": [], "assessed_complexity": null},
        "consent": {"scopes": ORG_KINDS.iter().map(|k| json!({"organisation_kind": k})).collect::<Vec<_>>(),
                    "purposes": ["matching"], "until": "2099-12-31", "expires_micros": i64::MAX},
        "strain": [], "linked_from": null
    });
    NewEvent::new(format!("intake/request/{i:032x}"), "intake.request.submitted", payload.to_string())
}

async fn append_all(log: &Arc<dyn EventLog>, events: Vec<NewEvent>) {
    for chunk in events.chunks(5000) {
        log.append(chunk.to_vec()).await.expect("append");
    }
}

/// Matching over a log holding `events`, once its projection has applied them all (`last` is
/// the last request's id).
async fn service(
    events: Vec<NewEvent>,
    config: MatchingConfig,
    last: &str,
) -> (Arc<MatchingService>, Arc<dyn EventLog>) {
    let key = NodeKey::generate().expect("key");
    let log: Arc<dyn EventLog> = Arc::new(LocalLog::memory(key, LogConfig::default()).expect("log"));
    append_all(&log, events).await;
    let config = MatchingConfig { snapshot_every: u64::MAX, ..config };
    let service = MatchingService::start(log.clone(), config, Arc::new(SystemClock)).await.expect("matching");
    let deadline = Instant::now() + Duration::from_secs(600);
    while service.proposals(last, 1).await.is_err() {
        assert!(Instant::now() < deadline, "projection did not catch up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (service, log)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn proposals_at(offers: usize) {
    let mut rng = StdRng::seed_from_u64(offers as u64);
    let requests = 2000;
    let mut events: Vec<NewEvent> = (0..ORGANISATIONS).map(|i| organisation(i, &mut rng)).collect();
    events.extend((0..offers).map(|i| offer(i, spread_area(&mut rng), &mut rng)));
    events.extend((0..requests).map(|i| request(i, rng.random_range(1000..9999), &mut rng)));
    let (service, log) = service(events, MatchingConfig::default(), &format!("{:032x}", requests - 1)).await;
    let mut times = Vec::with_capacity(requests);
    let mut found = 0usize;
    for i in 0..requests {
        let started = Instant::now();
        let p = service.proposals(&format!("{i:032x}"), 10).await.expect("proposals");
        times.push(started.elapsed());
        found += p.proposals.len();
    }
    times.sort();
    println!(
        "proposals  offers {offers:>7}  p50 {:>9.1?}  p99 {:>9.1?}  max {:>9.1?}  proposals per request {:.1}",
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times[times.len() - 1],
        found as f64 / requests as f64
    );
    over_grpc(&service, offers, requests).await;
    service.stop().await.expect("stop");
    log.close().await.expect("close");
}

/// GetProposals through a tonic server on loopback, and a bare call of the same server.
async fn over_grpc(service: &Arc<MatchingService>, offers: usize, requests: usize) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    // As the node serves: TCP_NODELAY on every accepted connection.
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let server = tonic::transport::Server::builder()
        .add_service(MatchingGrpc::new(service.clone()).into_server())
        .serve_with_incoming(incoming);
    let server = tokio::spawn(server);
    let mut client = MatchingClient::connect(format!("http://{addr}")).await.expect("connect");
    let (mut ours, mut bare) = (Vec::with_capacity(requests), Vec::with_capacity(requests));
    for i in 0..requests {
        let started = Instant::now();
        let request = pb::GetProposalsRequest { request_id: format!("{i:032x}"), limit: 10 };
        client.get_proposals(request).await.expect("proposals");
        ours.push(started.elapsed());
        let started = Instant::now();
        let _ = client.get_match(pb::GetMatchRequest { match_id: format!("{:032x}", u128::MAX - i as u128) }).await;
        bare.push(started.elapsed());
    }
    ours.sort();
    bare.sort();
    println!(
        "over gRPC  offers {offers:>7}  p50 {:>9.1?}  p99 {:>9.1?}  bare call p50 {:>9.1?} p99 {:>9.1?}  ratio p50 {:.1}x",
        percentile(&ours, 0.5),
        percentile(&ours, 0.99),
        percentile(&bare, 0.5),
        percentile(&bare, 0.99),
        percentile(&ours, 0.5).as_secs_f64() / percentile(&bare, 0.5).as_secs_f64()
    );
    server.abort();
}

async fn backlog(options_per_request: u32) {
    let mut rng = StdRng::seed_from_u64(7);
    let (requests, offers) = (1000, 1000);
    let mut events: Vec<NewEvent> = (0..ORGANISATIONS).map(|i| organisation(i, &mut rng)).collect();
    // One region: every offer serves part of 6400-6499, every request is in it.
    events.extend((0..offers).map(|i| {
        let start = rng.random_range(6400..6499);
        offer(i, (start, (start + rng.random_range(0..60)).min(6499)), &mut rng)
    }));
    events.extend((0..requests).map(|i| request(i, rng.random_range(6400..6500), &mut rng)));
    let config = MatchingConfig { backlog_options_per_request: options_per_request, ..MatchingConfig::default() };
    let (service, log) = service(events, config, &format!("{:032x}", requests - 1)).await;
    let started = Instant::now();
    let backlog = service.assign_backlog(6400, 6499).await.expect("backlog");
    let took = started.elapsed();
    println!(
        "backlog    {requests} requests x {offers} offers, best {options_per_request:>4} options each: {took:>9.1?}  assigned {}  total {:.1}  greedy {:.1} ({:+.2} %)",
        backlog.assignments.len(),
        backlog.total_score,
        backlog.greedy_score,
        (backlog.total_score / backlog.greedy_score - 1.0) * 100.0
    );
    service.stop().await.expect("stop");
    log.close().await.expect("close");
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        for offers in [1_000, 10_000, 100_000] {
            proposals_at(offers).await;
        }
        for k in [50, 200] {
            backlog(k).await;
        }
    });
}
