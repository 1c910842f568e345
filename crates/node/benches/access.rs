//! What authentication and the access log cost a read: GetHelpRequest (personal data: one
//! durable access record per call) and GetProposals (no personal data: authentication and the
//! role matrix only), each through the node's edge and through a bare server of the same services
//! over the same log, alternating call by call; beside them one durable append on the same disk
//! (a group commit), the bare call with one access record appended beside it (both orders, pooled:
//! what the logged read is held against, since percentiles do not subtract), and logged reads per
//! second from 64 concurrent clients.
//!
//! `cargo bench -p samenspel-node --bench access`. `SAMENSPEL_BENCH_CALLS` (2,000) calls per
//! series, `SAMENSPEL_BENCH_SECS` (5) seconds of the concurrent run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use samenspel_domain::{Clock, SystemClock};
use samenspel_eventlog::NewEvent;
use samenspel_intake::{IntakeGrpc, IntakeService};
use samenspel_kit::Role;
use samenspel_matching::{MatchingGrpc, MatchingService};
use samenspel_node::credentials::CredentialFile;
use samenspel_node::{Listeners, NodeConfig};
use samenspel_proto::v1 as pb;
use tokio::net::TcpListener;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

#[derive(Clone)]
struct Bearer(Option<MetadataValue<Ascii>>);

impl Interceptor for Bearer {
    fn call(&mut self, mut r: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(b) = &self.0 {
            r.metadata_mut().insert("authorization", b.clone());
        }
        r.metadata_mut().insert("purpose", MetadataValue::from_static("care"));
        Ok(r)
    }
}

type Client = InterceptedService<Channel, Bearer>;

async fn connect(addr: std::net::SocketAddr, secret: Option<&str>) -> Client {
    let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.expect("connect");
    InterceptedService::new(channel, Bearer(secret.map(|s| format!("Bearer {s}").parse().unwrap())))
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// p50 and p99 of `times`.
fn spread(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.99))
}

fn request_fields(i: usize) -> pb::HelpRequestFields {
    pb::HelpRequestFields {
        asked_by: pb::Asker::Client.into(),
        client: Some(pb::Person { name: format!("Cliënt {i}"), phone: "0455712345".into(), ..Default::default() }),
        support_kinds: vec!["boodschappen".into()],
        postcode: format!("64{:02} AB", i % 20),
        ..Default::default()
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let calls = env("SAMENSPEL_BENCH_CALLS", 2000) as usize;
    let secs = env("SAMENSPEL_BENCH_SECS", 5);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = NodeConfig { data_dir: dir.path().join("node"), ..NodeConfig::default() };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    std::fs::create_dir_all(&config.data_dir).unwrap();
    let (_, secret) = CredentialFile::in_dir(&config.data_dir)
        .issue(None, Role::Admin, "bench", None, clock.now_micros())
        .expect("credential");
    let (log, key) = samenspel_node::open_log(&config).expect("log");

    // The node, with its edge.
    let api = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let node_addr = api.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let node = {
        let (config, log, clock) = (config.clone(), log.clone(), clock.clone());
        tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            let listeners = Listeners { api, federation: None, admin: None };
            samenspel_node::serve(&config, log, &key, listeners, shutdown, clock).await.expect("serve");
        })
    };
    // The same services over the same log, without it.
    let intake = Arc::new(IntakeService::start(log.clone(), config.intake.clone(), clock.clone()).await.unwrap());
    let matching = MatchingService::start(log.clone(), config.matching.clone(), clock.clone()).await.unwrap();
    let bare = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bare_addr = bare.local_addr().unwrap();
    let incoming = tonic::transport::server::TcpIncoming::from(bare).with_nodelay(Some(true));
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(IntakeGrpc::new(intake.clone()).into_server())
            .add_service(MatchingGrpc::new(matching.clone()).into_server())
            .serve_with_incoming(incoming),
    );

    let on = connect(node_addr, Some(&secret)).await;
    let off = connect(bare_addr, None).await;
    let health = tonic_health::pb::health_client::HealthClient::new(on.clone());
    let mut tries = 0;
    while health.clone().check(tonic_health::pb::HealthCheckRequest::default()).await.is_err() {
        tries += 1;
        assert!(tries < 500, "the node did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A volunteer organisation with an offer in the region, and 200 requests.
    let mut directory = pb::directory_client::DirectoryClient::new(on.clone());
    let fields = pb::OrganisationFields {
        name: "Vrijwilligers".into(),
        kind: pb::OrganisationKind::Vrijwilligersorganisatie.into(),
        ..Default::default()
    };
    let org = directory
        .create_organisation(pb::CreateOrganisationRequest { fields: Some(fields), request_id: String::new() })
        .await
        .unwrap()
        .into_inner()
        .id;
    for i in 0..20 {
        let offer = pb::OfferFields {
            title: format!("Boodschappen {i}"),
            support_kinds: vec!["boodschappen".into()],
            area: Some(pb::ServiceArea { postcode_ranges: vec![format!("64{:02}", i)], ..Default::default() }),
            capacity: 5,
            max_complexity: pb::Complexity::High.into(),
            ..Default::default()
        };
        let request =
            pb::CreateOfferRequest { organisation_id: org.clone(), fields: Some(offer), request_id: String::new() };
        directory.create_offer(request).await.unwrap();
    }
    let mut ids = Vec::new();
    let mut submit = pb::intake_client::IntakeClient::new(on.clone());
    for i in 0..200 {
        let consent = pb::Consent {
            scopes: vec![pb::ConsentScope {
                scope: Some(pb::consent_scope::Scope::OrganisationKind(
                    pb::OrganisationKind::Vrijwilligersorganisatie.into(),
                )),
            }],
            purposes: vec![pb::Purpose::Matching.into()],
            until: "2099-12-31".into(),
        };
        let request = pb::SubmitHelpRequestRequest {
            fields: Some(request_fields(i)),
            consent: Some(consent),
            ..Default::default()
        };
        ids.push(submit.submit_help_request(request).await.unwrap().into_inner().id);
    }
    // Both servers' read models have everything.
    let last = ids.last().unwrap().clone();
    for client in [on.clone(), off.clone()] {
        let mut m = pb::matching_client::MatchingClient::new(client);
        let mut tries = 0;
        loop {
            let ask = pb::GetProposalsRequest { request_id: last.clone(), limit: 10 };
            if m.get_proposals(ask).await.is_ok_and(|r| !r.into_inner().proposals.is_empty()) {
                break;
            }
            tries += 1;
            assert!(tries < 500, "the read models did not catch up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    println!(
        "machine: {} cores; {calls} calls per series, alternating edge / bare",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<28} {:>10} {:>10} {:>10} {:>10} {:>12}",
        "call", "edge p50", "edge p99", "bare p50", "bare p99", "added p99"
    );
    let mut on_intake = pb::intake_client::IntakeClient::new(on.clone());
    let mut off_intake = pb::intake_client::IntakeClient::new(off.clone());
    let (mut edge, mut plain) = (Vec::with_capacity(calls), Vec::with_capacity(calls));
    for i in 0..calls {
        let id = ids[i % ids.len()].clone();
        let started = Instant::now();
        on_intake.get_help_request(pb::GetHelpRequestRequest { id: id.clone() }).await.unwrap();
        edge.push(started.elapsed());
        let started = Instant::now();
        off_intake.get_help_request(pb::GetHelpRequestRequest { id }).await.unwrap();
        plain.push(started.elapsed());
    }
    let (read_edge, read_bare) = (spread(edge), spread(plain));
    let mut on_matching = pb::matching_client::MatchingClient::new(on.clone());
    let mut off_matching = pb::matching_client::MatchingClient::new(off.clone());
    let (mut edge, mut plain) = (Vec::with_capacity(calls), Vec::with_capacity(calls));
    for i in 0..calls {
        let ask = pb::GetProposalsRequest { request_id: ids[i % ids.len()].clone(), limit: 10 };
        let started = Instant::now();
        on_matching.get_proposals(ask.clone()).await.unwrap();
        edge.push(started.elapsed());
        let started = Instant::now();
        off_matching.get_proposals(ask).await.unwrap();
        plain.push(started.elapsed());
    }
    let (proposals_edge, proposals_bare) = (spread(edge), spread(plain));
    // One durable append of an access record's size, on the same disk.
    let mut appends = Vec::with_capacity(calls);
    for i in 0..calls {
        let event = NewEvent::new(format!("bench/{}", i % 16), "bench.noted", vec![b'x'; 400]);
        let started = Instant::now();
        log.append(vec![event]).await.unwrap();
        appends.push(started.elapsed());
    }
    let append = spread(appends);
    // The bare call followed by one durable append: what the edge's path costs at the least.
    let mut sequenced = Vec::with_capacity(calls);
    for i in 0..calls {
        let event = NewEvent::new(format!("bench/{}", i % 16), "bench.noted", vec![b'x'; 400]);
        let started = Instant::now();
        off_intake.get_help_request(pb::GetHelpRequestRequest { id: ids[i % ids.len()].clone() }).await.unwrap();
        log.append(vec![event]).await.unwrap();
        sequenced.push(started.elapsed());
    }
    let sequenced = spread(sequenced);
    // The bare call followed by an access record appended as the edge appends it: the same
    // append, and the same work it makes for the node's readers of access records.
    let access = samenspel_kit::AccessLog::new(log.clone(), clock.clone());
    let caller = samenspel_kit::Caller {
        credential: "c0123456789abcdef".into(),
        organisation: None,
        role: Role::Admin,
        user: String::new(),
        purpose: Some("care".into()),
        peer: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 40000))),
        scope: samenspel_kit::Scope::Any,
    };
    // After the call, and before it — where the call shares the cores with the work the record
    // makes for the node's readers, as the edge's answer does.
    let (mut recorded, mut record_first) = (Vec::with_capacity(calls), Vec::with_capacity(calls));
    for first in [false, true] {
        for i in 0..calls {
            let id = ids[i % ids.len()].clone();
            let subjects = vec![format!("request/{id}")];
            let (data, allowed) = (samenspel_kit::DataKind::HelpRequest, samenspel_kit::Outcome::Allowed);
            let record = access.record(&caller, "/samenspel.v1.Intake/GetHelpRequest", data, subjects, allowed);
            let call = pb::GetHelpRequestRequest { id };
            let started = Instant::now();
            if first {
                record.await.unwrap();
                off_intake.get_help_request(call).await.unwrap();
            } else {
                off_intake.get_help_request(call).await.unwrap();
                record.await.unwrap();
            }
            (if first { &mut record_first } else { &mut recorded }).push(started.elapsed());
        }
    }
    // Both orders in one distribution: the bare call with one access record beside it.
    let with_record = spread(recorded.iter().chain(&record_first).copied().collect());
    let (recorded, record_first) = (spread(recorded), spread(record_first));
    for (name, e, b) in [
        ("GetHelpRequest (logged)", read_edge, read_bare),
        ("GetProposals (auth only)", proposals_edge, proposals_bare),
    ] {
        let added = e.1.saturating_sub(b.1);
        println!(
            "{name:<28} {:>8.0}µs {:>8.0}µs {:>8.0}µs {:>8.0}µs {:>10.0}µs",
            us(e.0),
            us(e.1),
            us(b.0),
            us(b.1),
            us(added)
        );
    }
    println!("{:<28} {:>8.0}µs {:>8.0}µs", "durable append (1 event)", us(append.0), us(append.1));
    println!("{:<28} {:>8.0}µs {:>8.0}µs", "bare call, then an append", us(sequenced.0), us(sequenced.1));
    println!("{:<28} {:>8.0}µs {:>8.0}µs", "bare call, then a record", us(recorded.0), us(recorded.1));
    println!("{:<28} {:>8.0}µs {:>8.0}µs", "a record, then the bare call", us(record_first.0), us(record_first.1));
    let added = read_edge.1.saturating_sub(read_bare.1);
    println!(
        "p99 less p99: {:.0} µs = {:.2}× one durable append's p99 ({:.0} µs)",
        us(added),
        added.as_secs_f64() / append.1.as_secs_f64(),
        us(append.1)
    );
    // Percentiles do not subtract: the logged read is held against the same call with one access
    // record appended beside it (before or after it, the two orders in one distribution).
    println!(
        "logged read p99 {:.0} µs = {:.2}× the p99 of the bare call with one access record ({:.0} µs); target ≤ 1×",
        us(read_edge.1),
        read_edge.1.as_secs_f64() / with_record.1.as_secs_f64(),
        us(with_record.1)
    );

    // 64 concurrent clients (over 8 connections), each reading requests as fast as it can.
    for (name, addr, secret) in [("edge", node_addr, Some(secret.as_str())), ("bare", bare_addr, None)] {
        let mut channels = Vec::new();
        for _ in 0..8 {
            channels.push(connect(addr, secret).await);
        }
        let done = Arc::new(AtomicU64::new(0));
        let until = Instant::now() + Duration::from_secs(secs);
        let mut clients = Vec::new();
        for c in 0..64 {
            let mut intake = pb::intake_client::IntakeClient::new(channels[c % 8].clone());
            let (ids, done) = (ids.clone(), done.clone());
            clients.push(tokio::spawn(async move {
                let mut i = c;
                while Instant::now() < until {
                    intake
                        .get_help_request(pb::GetHelpRequestRequest { id: ids[i % ids.len()].clone() })
                        .await
                        .unwrap();
                    done.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            }));
        }
        for c in clients {
            c.await.unwrap();
        }
        let per_sec = done.load(Ordering::Relaxed) as f64 / secs as f64;
        println!(
            "64 concurrent clients, {name}: {per_sec:.0} GetHelpRequest/s{}",
            if name == "edge" { " (each with a durable access record; target ≥ 5,000)" } else { "" }
        );
    }
    let _ = stop.send(());
    let _ = node.await;
    intake.stop().await.unwrap();
    matching.stop().await.unwrap();
    log.close().await.unwrap();
}
