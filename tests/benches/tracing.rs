//! What tracing costs: one node (sled store) serves GetProposals and SubmitHelpRequest over gRPC
//! with its spans exported over OTLP to a receiver in this process, and with the exporting layer
//! switched off, in alternating rounds of the same run (the machines are shared and noisy).
//! Off is the layer filtered out: no span is recorded or exported, and no event carries a trace
//! context — as a node without `[telemetry] otlp_endpoint`.
//!
//! `cargo bench -p samenspel-e2e --bench tracing` (SAMENSPEL_BENCH_ROUNDS rounds of each,
//! default 6; SAMENSPEL_BENCH_CALLS GetProposals calls per round, default 400;
//! SAMENSPEL_BENCH_SUBMITS requests submitted per round by 16 clients, default 800).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use samenspel_e2e::TestNode;
use samenspel_e2e::world::*;
use samenspel_node::telemetry::{Telemetry, TelemetryConfig};
use samenspel_proto::v1 as pb;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;

// The allocator of the `samenspel` binary, so the node here runs as it does there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Numbers the clients the submissions name.
static NEXT_CLIENT: AtomicU64 = AtomicU64::new(0);

/// Counts the spans it is sent.
#[derive(Default, Clone)]
struct Receiver(Arc<AtomicU64>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let spans: usize =
            request.into_inner().resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum();
        self.0.fetch_add(spans as u64, Ordering::Relaxed);
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// p50 of `calls` GetProposals, in microseconds.
async fn proposals_p50(node: &TestNode, request: &str, calls: usize) -> f64 {
    let mut client = node.matching_client().await;
    let mut took = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        let ask = pb::GetProposalsRequest { request_id: request.into(), limit: 5 };
        client.get_proposals(ask).await.expect("proposals");
        took.push(started.elapsed().as_secs_f64() * 1e6);
    }
    median(took)
}

/// Requests submitted per second by 16 clients, `total` in all.
async fn submits_per_sec(node: &TestNode, organisation: &str, total: usize) -> f64 {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (each, organisation) = (total / 16, organisation.to_string());
        let client = node.intake_client().await;
        tasks.push(tokio::spawn(async move {
            let mut client = client;
            for _ in 0..each {
                let kinds = [pb::OrganisationKind::Vrijwilligersorganisatie];
                let mut submission = referral_submission(&organisation, "6411 AB", &kinds);
                // A different person each time: the same one thousands of times over makes
                // one ever larger group of possible duplicates, which is not what is measured.
                let n = NEXT_CLIENT.fetch_add(1, Ordering::Relaxed);
                if let Some(client) = submission.fields.as_mut().and_then(|f| f.client.as_mut()) {
                    client.name = format!("Cliënt {n}");
                }
                client.submit_help_request(submission).await.expect("submit");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    (total / 16 * 16) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let rounds: usize = env("SAMENSPEL_BENCH_ROUNDS", 6);
    let calls: usize = env("SAMENSPEL_BENCH_CALLS", 400);
    let submits: usize = env("SAMENSPEL_BENCH_SUBMITS", 800);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let received = Receiver::default();
    let port = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let service = TraceServiceServer::new(received.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        port
    });
    let config = TelemetryConfig { otlp_endpoint: format!("http://127.0.0.1:{port}"), ..Default::default() };
    let telemetry = {
        let _inside = rt.enter();
        Telemetry::start(&config, "bench").expect("telemetry")
    };
    // The exporting layer, switched per round; info and up, as a node logs by default.
    let on = Arc::new(AtomicBool::new(false));
    let switch = on.clone();
    let layer = tracing_opentelemetry::layer()
        .with_tracer(telemetry.tracer().expect("an exporting tracer"))
        .with_filter(tracing_subscriber::filter::filter_fn(move |_| switch.load(Ordering::Relaxed)));
    let subscriber = tracing_subscriber::registry().with(layer).with(tracing_subscriber::filter::LevelFilter::INFO);
    tracing::subscriber::set_global_default(subscriber).unwrap();

    rt.block_on(async {
        let node = TestNode::start().await;
        let wijkteam = organisation(&node, "Wijkteam", pb::OrganisationKind::SociaalWijkteam, "6411 AB").await;
        let volunteers =
            organisation(&node, "Vrijwilligers", pb::OrganisationKind::Vrijwilligersorganisatie, "6411 AB").await;
        for i in 0..20 {
            offer(&node, &volunteers, &format!("Boodschappen {i}"), "6400-6419", 1000, pb::Complexity::Medium).await;
        }
        let request = referred_request(&node, &wijkteam, "6411 AB").await;
        // Warm up both ways.
        for state in [true, false] {
            on.store(state, Ordering::Relaxed);
            proposals_p50(&node, &request, calls / 4).await;
            submits_per_sec(&node, &wijkteam, submits / 4).await;
        }
        let (mut p50_ratios, mut submit_ratios) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            // Alternate which goes first, so a drift of the machine favours neither.
            let order = if round % 2 == 0 { [false, true] } else { [true, false] };
            let (mut p50, mut rate) = ([0.0; 2], [0.0; 2]);
            for state in order {
                on.store(state, Ordering::Relaxed);
                p50[state as usize] = proposals_p50(&node, &request, calls).await;
                rate[state as usize] = submits_per_sec(&node, &wijkteam, submits).await;
            }
            println!(
                "round {round}: GetProposals p50 off {:.0} µs, on {:.0} µs ({:.3}×); SubmitHelpRequest off {:.0}/s, on {:.0}/s ({:.3}×)",
                p50[0],
                p50[1],
                p50[1] / p50[0],
                rate[0],
                rate[1],
                rate[0] / rate[1]
            );
            p50_ratios.push(p50[1] / p50[0]);
            submit_ratios.push(rate[0] / rate[1]);
        }
        on.store(false, Ordering::Relaxed);
        drop(node);
        tokio::time::sleep(Duration::from_millis(200)).await;
        telemetry.shutdown().await;
        println!(
            "median of {rounds} rounds, tracing on / off: GetProposals p50 {:.3}×, SubmitHelpRequest time {:.3}× ({} spans exported)",
            median(p50_ratios),
            median(submit_ratios),
            received.0.load(Ordering::Relaxed)
        );
    });
}
